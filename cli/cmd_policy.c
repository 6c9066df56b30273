/*
 * ddlocal policy ...: AWS IoT policy documents and their attachments.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char POLICY_HELP[] =
    "usage: ddlocal policy <verb> [options]\n"
    "\n"
    "  create NAME FILE|-       Create a policy from a JSON document (- reads stdin).\n"
    "                           A malformed document is refused with the reason.\n"
    "  attach NAME (--cert ID | --group GROUP | --target ARN)\n"
    "  detach NAME (--cert ID | --group GROUP | --target ARN)\n"
    "                           Attach/detach to a certificate or a thing group; a\n"
    "                           running broker applies it to the next packet.\n"
    "  get NAME                 Show a policy and its targets.\n"
    "  list                     List policies.\n"
    "  delete NAME              Delete a policy attached to nothing.\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

enum { OPT_CERT = 1000, OPT_GROUP, OPT_TARGET };

static const struct option POLICY_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"cert", required_argument, NULL, OPT_CERT},
    {"group", required_argument, NULL, OPT_GROUP},
    {"target", required_argument, NULL, OPT_TARGET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int add_string(void *ctx, const char *name)
{
    cJSON *s = cJSON_CreateString(name);

    if (s != NULL) {
        (void)cJSON_AddItemToArray(ctx, s);
    }
    return 0;
}

typedef struct policy_json_ctx {
    cJSON *json;
    const dd_arn_ctx_t *arn;
} policy_json_ctx_t;

static int policy_to_json(void *ctx, const dd_registry_policy_t *p)
{
    policy_json_ctx_t *j = ctx;
    cJSON *obj = cJSON_IsArray(j->json) ? cJSON_CreateObject() : j->json;
    char arn[DD_ARN_MAX];

    (void)cJSON_AddStringToObject(obj, "policyName", p->name);
    if (dd_arn_format(j->arn, DD_NAME_POLICY, p->name, arn, sizeof(arn)) == DD_NAMES_OK) {
        (void)cJSON_AddStringToObject(obj, "policyArn", arn);
    }
    if (!cJSON_IsArray(j->json)) {
        (void)cJSON_AddStringToObject(obj, "policyDocument", p->document);
        (void)cJSON_AddStringToObject(obj, "defaultVersionId", p->version_id);
    } else {
        (void)cJSON_AddItemToArray(j->json, obj);
    }
    return 0;
}

int dd_cmd_policy(int argc, char **argv)
{
    const char *data_dir = dd_clienv_default_data_dir();
    const char *cert = NULL;
    const char *group = NULL;
    const char *target = NULL;
    char target_arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t st = DD_REGISTRY_OK;
    dd_clienv_t env;
    const char *verb;
    char **pos;
    int npos;
    int c;
    int rc = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(POLICY_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", POLICY_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case OPT_CERT: cert = optarg; break;
        case OPT_GROUP: group = optarg; break;
        case OPT_TARGET: target = optarg; break;
        case 'h': fputs(POLICY_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("policy", "unknown option");
        }
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if (strcmp(verb, "create") == 0 ? npos != 2
                                    : (strcmp(verb, "list") == 0 ? npos != 0 : npos != 1)) {
        return dd_clienv_usage_error("policy", "wrong number of arguments for '%s'", verb);
    }
    if (strcmp(verb, "create") != 0 && strcmp(verb, "attach") != 0 && strcmp(verb, "detach") != 0 &&
        strcmp(verb, "get") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "delete") != 0) {
        return dd_clienv_usage_error("policy", "unknown verb '%s'", verb);
    }
    if ((strcmp(verb, "attach") == 0 || strcmp(verb, "detach") == 0) &&
        (cert != NULL) + (group != NULL) + (target != NULL) != 1) {
        return dd_clienv_usage_error("policy",
                                     "'%s' needs exactly one of --cert, --group, --target", verb);
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (strcmp(verb, "create") == 0 && dd_clienv_follow_seed(&env) != DD_CLIENV_OK) {
        fprintf(stderr, "ddlocal policy: cannot read the data dir's seed\n");
        dd_clienv_close(&env);
        return 1;
    }
    if (cert != NULL) {
        (void)dd_arn_format(&env.reg.arn, DD_NAME_CERTIFICATE, cert, target_arn,
                            sizeof(target_arn));
        target = target_arn;
    } else if (group != NULL) {
        (void)dd_arn_format(&env.reg.arn, DD_NAME_THING_GROUP, group, target_arn,
                            sizeof(target_arn));
        target = target_arn;
    }
    if (strcmp(verb, "create") == 0) {
        char *doc = dd_clienv_read_input(pos[1], DD_REGISTRY_MAX_POLICY_DOC + 1);
        if (doc == NULL) {
            rc = 1;
        } else {
            st = dd_registry_policy_create(&env.reg, pos[0], doc, &err);
            free(doc);
            if (st == DD_REGISTRY_OK) {
                cJSON *out = cJSON_CreateObject();
                (void)dd_registry_policy_get(&env.reg, pos[0], policy_to_json,
                                             &(policy_json_ctx_t){out, &env.reg.arn}, NULL);
                rc = dd_clienv_print_json(out);
            }
        }
    } else if (strcmp(verb, "attach") == 0) {
        st = dd_registry_policy_attach(&env.reg, pos[0], target, &err);
    } else if (strcmp(verb, "detach") == 0) {
        st = dd_registry_policy_detach(&env.reg, pos[0], target, &err);
    } else if (strcmp(verb, "get") == 0) {
        cJSON *out = cJSON_CreateObject();
        st = dd_registry_policy_get(&env.reg, pos[0], policy_to_json,
                                    &(policy_json_ctx_t){out, &env.reg.arn}, &err);
        if (st == DD_REGISTRY_OK) {
            st = dd_registry_policy_targets(&env.reg, pos[0], NULL, add_string,
                                            cJSON_AddArrayToObject(out, "targets"), NULL, 0, &err);
        }
        rc = st == DD_REGISTRY_OK ? dd_clienv_print_json(out) : (cJSON_Delete(out), 1);
    } else if (strcmp(verb, "list") == 0) {
        cJSON *out = cJSON_CreateObject();
        policy_json_ctx_t j = {cJSON_AddArrayToObject(out, "policies"), &env.reg.arn};
        st = dd_registry_policy_list(&env.reg, NULL, true, policy_to_json, &j, NULL, 0);
        rc = st == DD_REGISTRY_OK ? dd_clienv_print_json(out) : (cJSON_Delete(out), 1);
    } else {
        st = dd_registry_policy_delete(&env.reg, pos[0], &err);
    }
    if (st != DD_REGISTRY_OK) {
        rc = dd_clienv_registry_error(st, &err);
    }
    dd_clienv_close(&env);
    return rc;
}
