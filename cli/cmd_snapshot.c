/*
 * ddlocal snapshot save|restore NAME: the whole state of a running pipeline to or from
 * DATA_DIR/snapshots/NAME.db (POST /ddlocal/v1/snapshot, /ddlocal/v1/restore).
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"

#include <cjson/cJSON.h>

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SNAPSHOT_HELP[] =
    "usage: ddlocal snapshot save|restore NAME [-D DIR]\n"
    "\n"
    "  save NAME      copy the whole state of the running pipeline (registry, profiles,\n"
    "                 violations, metric history, mitigation, settings) to\n"
    "                 DIR/snapshots/NAME.db, consistent, while it runs\n"
    "  restore NAME   replace the whole state with that snapshot; the engine and the broker\n"
    "                 follow before this returns (the pipeline clock does not go back)\n"
    "\n"
    "  NAME is 1 to 128 of [A-Za-z0-9_-]. The file is an SQLite database: copy it elsewhere\n"
    "  to keep it, and back into DIR/snapshots/ to restore it.\n"
    "\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n";

int dd_cmd_snapshot(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    const char *verb;
    const char *path;
    cJSON *body;
    cJSON *out = NULL;
    int c;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(SNAPSHOT_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'h': fputs(SNAPSHOT_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("snapshot", "unknown option");
        }
    }
    if (strcmp(verb, "save") == 0) {
        path = "/ddlocal/v1/snapshot";
    } else if (strcmp(verb, "restore") == 0) {
        path = "/ddlocal/v1/restore";
    } else {
        return dd_clienv_usage_error("snapshot", "unknown verb '%s' (save or restore)", verb);
    }
    if (argc - 1 - optind != 1) {
        return dd_clienv_usage_error("snapshot", "%s takes NAME", verb);
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal snapshot: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    body = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(body, "name", argv[1 + optind]);
    /* A bad name (400) or a missing snapshot (404) is printed with the server's message. */
    rc = dd_apiclient_json(ep.api, "POST", path, body, &out) == DD_APICLIENT_OK ? 0 : 1;
    cJSON_Delete(body);
    return rc == 0 ? dd_clienv_print_json(out) : rc;
}
