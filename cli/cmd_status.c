/*
 * ddlocal status: is the data dir's pipeline running - pids, endpoints - with systemctl's exit
 * statuses (0 running, 3 not running), for scripts and CI jobs.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_endpoints.h"

#include <cjson/cJSON.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Exit status when the pipeline is not running (as `systemctl status`). */
#define STATUS_NOT_RUNNING 3

static const char STATUS_HELP[] =
    "usage: ddlocal status [-D DIR] [--json]\n"
    "\n"
    "Say whether the pipeline of a data dir runs: the pids of `ddlocal up` and of what it\n"
    "started (mosquitto, ddlocald, the isolator), the MQTT and API endpoints. Reads\n"
    "DIR/endpoints.json and checks that the `ddlocal up` that wrote it is still alive (same pid\n"
    "and process start time): the file a killed run left behind is reported as stale, never as\n"
    "running.\n"
    "\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n"
    "      --json          one JSON object: state (running | stale | not-running), pids, "
    "endpoints\n"
    "\n"
    "exit status: 0 running, 1 endpoints.json unreadable, 2 usage, 3 not running (or stale)\n";

static cJSON *status_json(const char *state, const char *data_dir, const dd_endpoints_t *ep,
                          bool have)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *procs;
    size_t i;

    if (o == NULL) {
        return NULL;
    }
    (void)cJSON_AddStringToObject(o, "state", state);
    (void)cJSON_AddStringToObject(o, "dataDir", data_dir);
    if (!have) {
        return o;
    }
    (void)cJSON_AddNumberToObject(o, "pid", ep->up.pid);
    procs = cJSON_AddArrayToObject(o, "processes");
    for (i = 0; i < ep->proc_count; i++) {
        cJSON *p = cJSON_CreateObject();
        (void)cJSON_AddStringToObject(p, "name", ep->procs[i].name);
        (void)cJSON_AddNumberToObject(p, "pid", ep->procs[i].pid);
        (void)cJSON_AddBoolToObject(p, "alive", dd_endpoints_proc_alive(&ep->procs[i]));
        (void)cJSON_AddItemToArray(procs, p);
    }
    if (strcmp(state, "running") == 0) {
        char hostport[96];
        (void)snprintf(hostport, sizeof(hostport), "%s:%u", ep->mqtt_host, ep->mqtt_port);
        (void)cJSON_AddStringToObject(o, "mqtt", hostport);
        (void)snprintf(hostport, sizeof(hostport), "%s:%u", ep->mqtt_host, ep->alpn_port);
        (void)cJSON_AddStringToObject(o, "mqttAlpn", hostport);
        (void)cJSON_AddStringToObject(o, "api", ep->api);
        (void)cJSON_AddStringToObject(o, "rootCa", ep->root_ca);
        (void)cJSON_AddStringToObject(o, "clock", ep->clock);
    }
    return o;
}

int dd_cmd_status(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    char abs_dir[512];
    dd_endpoints_t ep;
    dd_endpoints_status_t st;
    bool json = false;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(STATUS_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("status", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("status", "unexpected argument '%s'", argv[optind]);
    }
    if (dd_clienv_absolute(data_dir, abs_dir, sizeof(abs_dir)) != DD_CLIENV_OK) {
        return dd_clienv_usage_error("status", "data dir path too long");
    }
    st = dd_endpoints_read(abs_dir, &ep);
    if (st == DD_ENDPOINTS_BAD_FORMAT || st == DD_ENDPOINTS_BAD_PARAMETER) {
        fprintf(stderr, "ddlocal status: %s/%s: %s\n", abs_dir, DD_ENDPOINTS_FILE,
                dd_endpoints_strerror(st));
        return 1;
    }
    if (json) {
        const char *state = st == DD_ENDPOINTS_OK      ? "running"
                            : st == DD_ENDPOINTS_STALE ? "stale"
                                                       : "not-running";
        (void)dd_clienv_print_json(
            status_json(state, abs_dir, &ep, st != DD_ENDPOINTS_NOT_RUNNING));
        return st == DD_ENDPOINTS_OK ? 0 : STATUS_NOT_RUNNING;
    }
    if (st == DD_ENDPOINTS_NOT_RUNNING) {
        printf("not running (data dir %s)\n", abs_dir);
        return STATUS_NOT_RUNNING;
    }
    if (st == DD_ENDPOINTS_STALE) {
        printf("not running (data dir %s): stale %s from a `ddlocal up` (pid %d) that is gone -"
               " killed?; `ddlocal up` or `ddlocal down` removes it\n",
               abs_dir, DD_ENDPOINTS_FILE, ep.up.pid);
        return STATUS_NOT_RUNNING;
    }
    printf("running (data dir %s)\n", abs_dir);
    printf("  ddlocal up   pid %d\n", ep.up.pid);
    for (i = 0; i < ep.proc_count; i++) {
        printf("  %-12s pid %d%s\n", ep.procs[i].name, ep.procs[i].pid,
               dd_endpoints_proc_alive(&ep.procs[i]) ? "" : " (not running: being restarted?)");
    }
    printf("  MQTT         %s:%u (ALPN x-amzn-mqtt-ca %s:%u)\n", ep.mqtt_host, ep.mqtt_port,
           ep.mqtt_host, ep.alpn_port);
    printf("  API          %s\n", ep.api);
    printf("  root CA      %s\n", ep.root_ca);
    printf("  clock        %s\n", ep.clock);
    return 0;
}
