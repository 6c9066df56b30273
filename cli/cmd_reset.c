/*
 * ddlocal reset: empty the running pipeline's state between tests, all of it or chosen kinds
 * (POST /ddlocal/v1/reset), keeping the CA, the ports and the processes.
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

static const char RESET_HELP[] =
    "usage: ddlocal reset [--kinds KIND[,KIND...]] [-D DIR]\n"
    "\n"
    "Empty the state of the running pipeline of a data dir, all of it or the chosen kinds, in\n"
    "one transaction; the engine and the broker follow before this returns. The CA, certificate\n"
    "files, ddlocald's own certificate, settings, SNS subscriptions, Lambda functions, the\n"
    "ports and the processes stay.\n"
    "\n"
    "  -k, --kinds LIST    comma-separated, of:\n"
    "                        registry    things, device certificates, thing groups, policies\n"
    "                        profiles    security profiles, custom metrics, dimensions\n"
    "                        violations  active violations, violation events, alarm state\n"
    "                        metrics     retained metric values, stored reports, the\n"
    "                                    broker's connection history (audits) and its\n"
    "                                    stored cloud-side metering (export, record)\n"
    "                        mitigation  mitigation actions, tasks, executions\n"
    "                        audit       audit configuration, tasks, findings, suppressions,\n"
    "                                    scheduled audits, audit mitigation tasks\n"
    "                      (default: all)\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n";

int dd_cmd_reset(int argc, char **argv)
{
    static const struct option options[] = {
        {"kinds", required_argument, NULL, 'k'},
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *kinds = NULL;
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    cJSON *body = cJSON_CreateObject();
    cJSON *out = NULL;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:D:h", options, NULL)) != -1) {
        switch (c) {
        case 'k': kinds = optarg; break;
        case 'D': data_dir = optarg; break;
        case 'h':
            cJSON_Delete(body);
            fputs(RESET_HELP, stdout);
            return 0;
        default: cJSON_Delete(body); return dd_clienv_usage_error("reset", "unknown option");
        }
    }
    if (optind != argc) {
        cJSON_Delete(body);
        return dd_clienv_usage_error("reset", "unexpected argument '%s'", argv[optind]);
    }
    if (kinds != NULL) {
        cJSON *list = cJSON_AddArrayToObject(body, "kinds");
        char *copy = strdup(kinds);
        char *save = NULL;
        char *k;
        for (k = copy != NULL ? strtok_r(copy, ",", &save) : NULL; k != NULL;
             k = strtok_r(NULL, ",", &save)) {
            (void)cJSON_AddItemToArray(list, cJSON_CreateString(k));
        }
        free(copy);
        if (cJSON_GetArraySize(list) == 0) {
            cJSON_Delete(body);
            return dd_clienv_usage_error("reset", "--kinds needs at least one kind");
        }
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        cJSON_Delete(body);
        fprintf(stderr, "ddlocal reset: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    /* The server names a wrong kind (400) with the valid ones. */
    if (dd_apiclient_json(ep.api, "POST", "/ddlocal/v1/reset", body, &out) != DD_APICLIENT_OK) {
        cJSON_Delete(body);
        return 1;
    }
    cJSON_Delete(body);
    return dd_clienv_print_json(out);
}
