/*
 * ddlocal workshop: provision the workshop's world into a running pipeline
 * (what `ddlocal up --workshop` does at start) and print each step's commands.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_workshop.h"

#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char WORKSHOP_HELP[] =
    "usage: ddlocal workshop [--with-profiles] [-D DIR]\n"
    "\n"
    "Loads the workshop's fixtures into the running pipeline through its AWS IoT\n"
    "API, once per data dir: Thing01-03 (SensorType=DHT22) with a certificate each\n"
    "(files in DIR/workshop/), the DevicePolicy, the IsolatedDevices group with\n"
    "its DenyAll policy; and the world of Modules 1-2: one more certificate shared\n"
    "by the three things (files in DIR/workshop/shared/), logging off, every audit\n"
    "check enabled and one on-demand audit run (its non-compliant checks printed).\n"
    "You create the security profiles. Then prints the commands of each step.\n"
    "(`ddlocal up --workshop` does the same at start and also runs the isolator.)\n"
    "\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n"
    "      --with-profiles also create the Module 3 and Module 4 security profiles\n"
    "                      (DetectLargeMessageSize, DetectSendingMoreThanAverageBytes),\n"
    "                      attached to all things, alerts to the BadIoTDevices topic\n";

int dd_cmd_workshop(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"with-profiles", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    bool with_profiles = false;
    cJSON *clock_doc = NULL;
    dd_clock_t clock;
    bool have_clock = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'P': with_profiles = true; break;
        case 'h': fputs(WORKSHOP_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("workshop", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("workshop", "unexpected argument '%s'", argv[optind]);
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal workshop: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    if (dd_workshop_provision(abs_dir, ep.api, with_profiles) != 0) {
        return 1;
    }
    /* The banner's note on device timing depends on the clock ddlocald runs. */
    if (dd_apiclient_json(ep.api, "GET", "/ddlocal/v1/clock", NULL, &clock_doc) ==
        DD_APICLIENT_OK) {
        const char *spec = cJSON_GetStringValue(cJSON_GetObjectItem(clock_doc, "spec"));
        have_clock = spec != NULL && dd_clock_parse(&clock, spec) == DD_CLOCK_OK;
    }
    cJSON_Delete(clock_doc);
    dd_workshop_print_steps(abs_dir, ep.mqtt_port, ep.api, have_clock ? &clock : NULL);
    printf("The isolator is not started by this command: run\n"
           "  ddlocal isolator --sns-topic %s --group %s -D %s\n"
           "or start the pipeline with `ddlocal up --workshop`.\n",
           DD_WORKSHOP_SNS_TOPIC, DD_WORKSHOP_GROUP, abs_dir);
    return 0;
}
