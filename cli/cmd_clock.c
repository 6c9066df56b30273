/*
 * ddlocal clock ...: read, advance or change the rate of the pipeline clock of a running
 * pipeline.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CLOCK_HELP[] =
    "usage: ddlocal clock show | advance SECONDS | scale X [-D DIR]\n"
    "\n"
    "  show              print the pipeline time of the running pipeline\n"
    "  advance SECONDS   move a manual clock (`ddlocal up --manual-clock`) forward;\n"
    "                    every message the broker accepted before is counted\n"
    "                    first, then windows that end close and are evaluated,\n"
    "                    two-day invalidations fire, before this returns\n"
    "  scale X           run a real or scaled clock at X pipeline seconds per real\n"
    "                    second from now on (0 < X <= 1000000), without a restart:\n"
    "                    pipeline time neither jumps nor goes back; the broker,\n"
    "                    endpoints.json and the device programs follow (devices\n"
    "                    within about a second). A real clock becomes scaled (x1\n"
    "                    leaves it real); a scaled one stays scaled (x1 = real\n"
    "                    rate). A manual clock has no rate: it is refused\n"
    "\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n";

int dd_cmd_clock(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    cJSON *body = NULL;
    cJSON *out = NULL;
    const char *verb;
    int c;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(CLOCK_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'h': fputs(CLOCK_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("clock", "unknown option");
        }
    }
    if (strcmp(verb, "advance") == 0) {
        char *end = NULL;
        double seconds;
        if (argc - 1 - optind != 1) {
            return dd_clienv_usage_error("clock", "advance takes SECONDS");
        }
        seconds = strtod(argv[1 + optind], &end);
        if (end == argv[1 + optind] || *end != '\0' || !(seconds >= 0) || seconds > 1e9) {
            return dd_clienv_usage_error("clock", "SECONDS must be a number >= 0, not '%s'",
                                         argv[1 + optind]);
        }
        body = cJSON_CreateObject();
        (void)cJSON_AddNumberToObject(body, "advanceSeconds", seconds);
    } else if (strcmp(verb, "scale") == 0) {
        char *end = NULL;
        double scale;
        if (argc - 1 - optind != 1) {
            return dd_clienv_usage_error("clock", "scale takes X (pipeline seconds per second)");
        }
        scale = strtod(argv[1 + optind], &end);
        if (end == argv[1 + optind] || *end != '\0' || !(scale > 0) || scale > 1e6) {
            return dd_clienv_usage_error("clock",
                                         "X must be a number with 0 < X <= 1000000, not '%s'",
                                         argv[1 + optind]);
        }
        body = cJSON_CreateObject();
        (void)cJSON_AddNumberToObject(body, "scale", scale);
    } else if (strcmp(verb, "show") != 0 || argc - 1 - optind != 0) {
        return dd_clienv_usage_error("clock", "unknown verb or arguments: '%s'", verb);
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        cJSON_Delete(body);
        fprintf(stderr, "ddlocal clock: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    rc = dd_apiclient_json(ep.api, body != NULL ? "POST" : "GET", "/ddlocal/v1/clock", body,
                           &out) == DD_APICLIENT_OK
             ? 0
             : 1;
    cJSON_Delete(body);
    if (rc == 0) {
        return dd_clienv_print_json(out);
    }
    return rc;
}
