/*
 * ddlocal health: is the running pipeline of a data dir able to work - ddlocald connected to the
 * broker, the store writing - for readiness loops in scripts and CI jobs (GET /ddlocal/v1/health).
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_json.h"

#include <cjson/cJSON.h>

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Exit status when no pipeline answers (as `ddlocal status`). */
#define HEALTH_NOT_RUNNING 3

static const char HEALTH_HELP[] =
    "usage: ddlocal health [-D DIR] [-q]\n"
    "\n"
    "Ask the running pipeline of a data dir whether it can work: ddlocald connected to the\n"
    "broker, the store writing (GET /ddlocal/v1/health). Prints the answer as JSON: healthy,\n"
    "brokerConnected, storeWritable, clock, problems.\n"
    "\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n"
    "  -q, --quiet         print nothing; the exit status says it\n"
    "\n"
    "exit status: 0 healthy, 1 not healthy (the problems are printed), 2 usage, 3 not running\n";

int dd_cmd_health(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    char *text = NULL;
    cJSON *out = NULL;
    const cJSON *problems;
    const cJSON *p;
    long status = 0;
    bool quiet = false;
    bool healthy;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:qh", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(HEALTH_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("health", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("health", "unexpected argument '%s'", argv[optind]);
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK ||
        dd_apiclient_request(ep.api, "GET", "/ddlocal/v1/health", NULL, &status, &text) !=
            DD_APICLIENT_OK) {
        free(text);
        if (!quiet) {
            fprintf(stderr, "ddlocal health: %s\n",
                    dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        }
        return HEALTH_NOT_RUNNING;
    }
    if ((status != 200 && status != 503) ||
        dd_json_parse(text, strlen(text), 0, &out, NULL) != DD_JSON_OK) {
        if (!quiet) {
            fprintf(stderr, "ddlocal health: unexpected answer (HTTP %ld): %s\n", status, text);
        }
        free(text);
        cJSON_Delete(out);
        return 1;
    }
    free(text);
    healthy = status == 200 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "healthy"));
    if (quiet) {
        cJSON_Delete(out);
        return healthy ? 0 : 1;
    }
    problems = cJSON_GetObjectItemCaseSensitive(out, "problems");
    cJSON_ArrayForEach (p, problems) {
        if (cJSON_IsString(p)) {
            fprintf(stderr, "ddlocal health: %s\n", p->valuestring);
        }
    }
    (void)dd_clienv_print_json(out);
    return healthy ? 0 : 1;
}
