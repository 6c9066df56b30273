/*
 * ddlocal sns ...: webhook subscriptions of the SNS stand-in topics.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SNS_HELP[] =
    "usage: ddlocal sns <verb> [options]\n"
    "\n"
    "An SNS topic arn:aws:sns:REGION:ACCOUNT:NAME is the MQTT topic ddlocal/sns/NAME;\n"
    "alerts are also POSTed to every webhook subscribed to NAME (Module 5).\n"
    "\n"
    "  subscribe TOPIC URL      Add an http(s) webhook subscription to TOPIC.\n"
    "  unsubscribe ID           Remove a subscription.\n"
    "  list [TOPIC]             List subscriptions.\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

static const struct option SNS_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int sub_to_json(void *ctx, const dd_registry_subscription_t *s)
{
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddNumberToObject(obj, "id", (double)s->id);
    (void)cJSON_AddStringToObject(obj, "topic", s->topic);
    (void)cJSON_AddStringToObject(obj, "protocol", s->protocol);
    (void)cJSON_AddStringToObject(obj, "endpoint", s->endpoint);
    (void)cJSON_AddItemToArray(ctx, obj);
    return 0;
}

int dd_cmd_sns(int argc, char **argv)
{
    const char *data_dir = dd_clienv_default_data_dir();
    dd_registry_error_t err;
    dd_registry_status_t st = DD_REGISTRY_OK;
    dd_clienv_t env;
    const char *verb;
    char **pos;
    int npos;
    int c;
    int rc = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(SNS_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", SNS_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'h': fputs(SNS_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("sns", "unknown option");
        }
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if (strcmp(verb, "subscribe") == 0 ? npos != 2
        : strcmp(verb, "unsubscribe") == 0 ? npos != 1
        : strcmp(verb, "list") == 0 ? npos > 1 : true) {
        return dd_clienv_usage_error("sns", "unknown verb or wrong arguments: '%s'", verb);
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (strcmp(verb, "subscribe") == 0) {
        int64_t id = 0;
        const char *colon = strchr(pos[1], ':');
        char protocol[8] = "";
        if (colon != NULL && (size_t)(colon - pos[1]) < sizeof(protocol)) {
            memcpy(protocol, pos[1], (size_t)(colon - pos[1]));
            protocol[colon - pos[1]] = '\0';
        }
        st = dd_registry_subscription_add(&env.reg, pos[0], protocol, pos[1], &id, &err);
        if (st == DD_REGISTRY_OK) {
            printf("%lld\n", (long long)id);
        }
    } else if (strcmp(verb, "unsubscribe") == 0) {
        char *end = NULL;
        long long id = strtoll(pos[0], &end, 10);
        if (end == pos[0] || *end != '\0') {
            dd_clienv_close(&env);
            return dd_clienv_usage_error("sns", "subscription ID must be a number, not '%s'", pos[0]);
        }
        st = dd_registry_subscription_remove(&env.reg, id, &err);
    } else {
        cJSON *out = cJSON_CreateObject();
        st = dd_registry_subscription_list(&env.reg, npos == 1 ? pos[0] : NULL, sub_to_json,
                                           cJSON_AddArrayToObject(out, "subscriptions"));
        rc = st == DD_REGISTRY_OK ? dd_clienv_print_json(out) : (cJSON_Delete(out), 1);
        if (st != DD_REGISTRY_OK) {
            err.message[0] = '\0';
        }
    }
    if (st != DD_REGISTRY_OK) {
        rc = dd_clienv_registry_error(st, &err);
    }
    dd_clienv_close(&env);
    return rc;
}
