/*
 * ddlocal sns ...: webhook subscriptions of the SNS stand-in topics.
 */
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_profile.h"
#include "dd_store.h"
#include "dd_workshop.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SNS_HELP[] =
    "usage: ddlocal sns <verb> [options]\n"
    "\n"
    "An SNS topic arn:aws:sns:REGION:ACCOUNT:NAME is the MQTT topic ddlocal/sns/NAME;\n"
    "alerts are also POSTed to every webhook subscribed to NAME (Module 5).\n"
    "\n"
    "  subscribe TOPIC URL [--create]\n"
    "                           Add an http(s) webhook subscription to TOPIC. TOPIC must\n"
    "                           be known: named in a security profile's alertTargets, already\n"
    "                           subscribed to, or the workshop's BadIoTDevices (after\n"
    "                           `up --workshop`); --create subscribes to a new topic anyway.\n"
    "  unsubscribe ID           Remove a subscription.\n"
    "  list [TOPIC]             List subscriptions.\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

static const struct option SNS_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"create", no_argument, NULL, 'C'},
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

/* ---- known topics: a misspelt topic would be accepted and never receive an alert ---- */

static void add_known(cJSON *known, const char *topic)
{
    const cJSON *t;

    cJSON_ArrayForEach (t, known) {
        if (strcmp(cJSON_GetStringValue(t), topic) == 0) {
            return;
        }
    }
    (void)cJSON_AddItemToArray(known, cJSON_CreateString(topic));
}

static int known_from_sub(void *ctx, const dd_registry_subscription_t *sub)
{
    add_known(ctx, sub->topic);
    return 0;
}

typedef struct profiles_ctx {
    dd_store_t *store;
    cJSON *known;
} profiles_ctx_t;

static int known_from_profile(void *ctx, const char *name)
{
    profiles_ctx_t *p = ctx;
    dd_profile_t profile;
    const char *colon;

    if (dd_store_profile_get(p->store, name, &profile) != DD_STORE_OK) {
        return 0;
    }
    /* Alerts go to the topic named by the ARN's last part (ddlocal/sns/NAME). */
    if (profile.has_alert_target && profile.sns_target_arn != NULL &&
        (colon = strrchr(profile.sns_target_arn, ':')) != NULL && colon[1] != '\0') {
        add_known(p->known, colon + 1);
    }
    dd_profile_free(&profile);
    return 0;
}

/* Topics alerts can reach: profiles' alert targets, subscribed topics, the workshop's topic. */
static cJSON *known_topics(dd_clienv_t *env)
{
    cJSON *known = cJSON_CreateArray();
    profiles_ctx_t p = {NULL, known};
    char token[DD_STORE_TOKEN_MAX] = "";
    char *workshop = NULL;

    if (dd_store_open(env->db, &env->reg.arn, &p.store) == DD_STORE_OK) {
        do {
            dd_store_page_t page = {token, 250};
            char next[DD_STORE_TOKEN_MAX] = "";
            if (dd_store_profile_list(p.store, NULL, NULL, &page, known_from_profile, &p, next) !=
                DD_STORE_OK) {
                break;
            }
            (void)snprintf(token, sizeof(token), "%s", next);
        } while (token[0] != '\0');
        dd_store_close(p.store);
    }
    (void)dd_registry_subscription_list(&env->reg, NULL, known_from_sub, known);
    if (dd_registry_setting_get(&env->reg, "workshop_provisioned", &workshop) == DD_REGISTRY_OK &&
        workshop != NULL) {
        add_known(known, DD_WORKSHOP_SNS_TOPIC);
    }
    free(workshop);
    return known;
}

static bool topic_known(const cJSON *known, const char *topic)
{
    const cJSON *t;

    cJSON_ArrayForEach (t, known) {
        if (strcmp(cJSON_GetStringValue(t), topic) == 0) {
            return true;
        }
    }
    return false;
}

static void print_unknown(const cJSON *known, const char *topic)
{
    const cJSON *t;

    fprintf(stderr,
            "ddlocal sns: no alert reaches the topic '%s' in this data dir; known topics:", topic);
    if (cJSON_GetArraySize(known) == 0) {
        fprintf(stderr, " none yet");
    }
    cJSON_ArrayForEach (t, known) {
        fprintf(stderr, " %s", cJSON_GetStringValue(t));
    }
    fprintf(stderr,
            "\n(a topic is known when a security profile's alertTargets name it, it has a"
            " subscription, or it is the workshop's %s)\n"
            "subscribe to it anyway with --create\n",
            DD_WORKSHOP_SNS_TOPIC);
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
    bool create = false;
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
        case 'C': create = true; break;
        case 'h': fputs(SNS_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("sns", "unknown option");
        }
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if (strcmp(verb, "subscribe") == 0     ? npos != 2
        : strcmp(verb, "unsubscribe") == 0 ? npos != 1
        : strcmp(verb, "list") == 0        ? npos > 1
                                           : true) {
        return dd_clienv_usage_error("sns", "unknown verb or wrong arguments: '%s'", verb);
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (strcmp(verb, "subscribe") == 0 && !create && dd_name_valid(DD_NAME_SNS_TOPIC, pos[0])) {
        cJSON *known = known_topics(&env);
        bool ok = topic_known(known, pos[0]);
        if (!ok) {
            print_unknown(known, pos[0]);
        }
        cJSON_Delete(known);
        if (!ok) {
            dd_clienv_close(&env);
            return 1;
        }
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
            return dd_clienv_usage_error("sns", "subscription ID must be a number, not '%s'",
                                         pos[0]);
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
