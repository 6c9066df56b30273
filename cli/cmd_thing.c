/*
 * ddlocal thing ...: things and, with --with-cert, their device credentials.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char THING_HELP[] =
    "usage: ddlocal thing <verb> [options]\n"
    "\n"
    "  create NAME [--attr KEY=VALUE]... [--type TYPE]\n"
    "              [--with-cert [--key-type rsa|ec] [--out DIR] [--policy POLICY]]\n"
    "      Create a thing. --with-cert also issues a device key and certificate\n"
    "      signed by the data dir's root CA, attaches it to the thing (and POLICY\n"
    "      to the certificate) and writes cert.pem, private.key (mode 0600) and\n"
    "      public.key to DIR (default DATA_DIR/things/NAME). TYPE must be a thing\n"
    "      type that exists and is not deprecated (aws iot create-thing-type).\n"
    "  describe NAME      Show a thing, its groups and certificates.\n"
    "  list               List things.\n"
    "  delete NAME [--force]\n"
    "      Delete a thing; --force first detaches its certificates (and deletes\n"
    "      those attached to no other thing).\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

enum { OPT_ATTR = 1000, OPT_TYPE, OPT_WITH_CERT, OPT_KEY_TYPE, OPT_OUT, OPT_POLICY, OPT_FORCE };

static const struct option THING_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"attr", required_argument, NULL, OPT_ATTR},
    {"type", required_argument, NULL, OPT_TYPE},
    {"with-cert", no_argument, NULL, OPT_WITH_CERT},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"out", required_argument, NULL, OPT_OUT},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct thing_args {
    const char *data_dir;
    const char *type;
    const char *out;
    const char *policy;
    bool with_cert;
    bool force;
    dd_pki_key_type_t key_type;
    cJSON *attrs;
} thing_args_t;

/* Parses options after the verb; returns -1 to go on, or an exit status. */
static int parse(int argc, char **argv, thing_args_t *a)
{
    int c;

    memset(a, 0, sizeof(*a));
    a->data_dir = dd_clienv_default_data_dir();
    a->key_type = DD_PKI_KEY_RSA2048;
    a->attrs = cJSON_CreateObject();
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", THING_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': a->data_dir = optarg; break;
        case OPT_TYPE: a->type = optarg; break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_POLICY: a->policy = optarg; break;
        case OPT_WITH_CERT: a->with_cert = true; break;
        case OPT_FORCE: a->force = true; break;
        case OPT_KEY_TYPE:
            if (strcmp(optarg, "rsa") == 0) {
                a->key_type = DD_PKI_KEY_RSA2048;
            } else if (strcmp(optarg, "ec") == 0) {
                a->key_type = DD_PKI_KEY_EC_P256;
            } else {
                return dd_clienv_usage_error("thing", "--key-type must be rsa or ec, not '%s'",
                                             optarg);
            }
            break;
        case OPT_ATTR: {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg) {
                return dd_clienv_usage_error("thing", "--attr takes KEY=VALUE, not '%s'", optarg);
            }
            *eq = '\0';
            cJSON_DeleteItemFromObject(a->attrs, optarg);
            (void)cJSON_AddStringToObject(a->attrs, optarg, eq + 1);
            break;
        }
        case 'h': fputs(THING_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("thing", "unknown option");
        }
    }
    return -1;
}

/* Where a thing row goes: an object to fill (or an array to append one to). */
typedef struct json_ctx {
    cJSON *json;
    const dd_arn_ctx_t *arn;
} json_ctx_t;

static int thing_to_json(void *ctx, const dd_registry_thing_t *t)
{
    json_ctx_t *j = ctx;
    cJSON *obj = j->json;
    char arn[DD_ARN_MAX];
    cJSON *attrs = cJSON_Parse(t->attributes_json);

    (void)cJSON_AddStringToObject(obj, "thingName", t->name);
    (void)cJSON_AddStringToObject(obj, "thingId", t->thing_id);
    if (dd_arn_format(j->arn, DD_NAME_THING, t->name, arn, sizeof(arn)) == DD_NAMES_OK) {
        (void)cJSON_AddStringToObject(obj, "thingArn", arn);
    }
    if (t->thing_type[0] != '\0') {
        (void)cJSON_AddStringToObject(obj, "thingTypeName", t->thing_type);
    }
    if (attrs != NULL) {
        (void)cJSON_AddItemToObject(obj, "attributes", attrs);
    }
    (void)cJSON_AddNumberToObject(obj, "version", (double)t->version);
    return 0;
}

static int add_string(void *ctx, const char *name)
{
    cJSON *s = cJSON_CreateString(name);

    if (s != NULL) {
        (void)cJSON_AddItemToArray(ctx, s);
    }
    return 0;
}

/* Issues credentials, registers and attaches them; fills @p out with what was done. */
static int create_cert_for(dd_clienv_t *env, const thing_args_t *a, const char *thing, cJSON *out)
{
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    dd_registry_status_t st;
    dd_pki_status_t pst;
    char dir[700];
    char arn[DD_ARN_MAX];

    pst = dd_pki_issue_device(env->ca, a->key_type, &cred);
    if (pst != DD_PKI_OK) {
        fprintf(stderr, "ddlocal: cannot issue a certificate: %s\n", dd_pki_strerror(pst));
        return 1;
    }
    if (a->out != NULL) {
        (void)snprintf(dir, sizeof(dir), "%s", a->out);
    } else {
        (void)snprintf(dir, sizeof(dir), "%s/things/%s", env->data_dir, thing);
    }
    st =
        dd_registry_cert_add(&env->reg, cred.certificate_pem, DD_CERT_ACTIVE, false, NULL, 0, &err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_principal_attach(&env->reg, thing, cred.certificate_id, &err);
    }
    if (st == DD_REGISTRY_OK && a->policy != NULL) {
        (void)dd_arn_format(&env->reg.arn, DD_NAME_CERTIFICATE, cred.certificate_id, arn,
                            sizeof(arn));
        st = dd_registry_policy_attach(&env->reg, a->policy, arn, &err);
    }
    if (st != DD_REGISTRY_OK) {
        dd_pki_credentials_free(&cred);
        return dd_clienv_registry_error(st, &err);
    }
    pst = dd_pki_credentials_write(&cred, dir);
    if (pst != DD_PKI_OK) {
        fprintf(stderr, "ddlocal: cannot write credentials to %s: %s\n", dir, dd_pki_strerror(pst));
        dd_pki_credentials_free(&cred);
        return 1;
    }
    (void)cJSON_AddStringToObject(out, "certificateId", cred.certificate_id);
    (void)dd_arn_format(&env->reg.arn, DD_NAME_CERTIFICATE, cred.certificate_id, arn, sizeof(arn));
    (void)cJSON_AddStringToObject(out, "certificateArn", arn);
    {
        char path[800];
        (void)snprintf(path, sizeof(path), "%s/%s", dir, DD_PKI_DEVICE_CERT_FILE);
        (void)cJSON_AddStringToObject(out, "certificateFile", path);
        (void)snprintf(path, sizeof(path), "%s/%s", dir, DD_PKI_DEVICE_PRIVATE_KEY_FILE);
        (void)cJSON_AddStringToObject(out, "privateKeyFile", path);
        (void)dd_pki_path(env->data_dir, DD_PKI_FILE_ROOTCA_CERT, path, sizeof(path));
        (void)cJSON_AddStringToObject(out, "rootCaFile", path);
    }
    dd_pki_credentials_free(&cred);
    return 0;
}

static int thing_create(dd_clienv_t *env, const thing_args_t *a, const char *name)
{
    dd_registry_error_t err;
    dd_registry_status_t st;
    char *attrs = cJSON_PrintUnformatted(a->attrs);
    char id[40];
    cJSON *out;
    int rc = 0;

    st = dd_registry_thing_create(&env->reg, name, a->type, attrs, id, sizeof(id), &err);
    cJSON_free(attrs);
    if (st != DD_REGISTRY_OK) {
        return dd_clienv_registry_error(st, &err);
    }
    out = cJSON_CreateObject();
    (void)dd_registry_thing_get(&env->reg, name, thing_to_json, &(json_ctx_t){out, &env->reg.arn},
                                NULL);
    if (a->with_cert) {
        rc = create_cert_for(env, a, name, out);
    }
    if (rc != 0) {
        cJSON_Delete(out);
        return rc;
    }
    return dd_clienv_print_json(out);
}

static int thing_describe(dd_clienv_t *env, const char *name)
{
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out = cJSON_CreateObject();

    st = dd_registry_thing_get(&env->reg, name, thing_to_json, &(json_ctx_t){out, &env->reg.arn},
                               &err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_thing_groups(&env->reg, name, NULL, add_string,
                                      cJSON_AddArrayToObject(out, "thingGroups"), NULL, 0, &err);
    }
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_thing_principals(&env->reg, name, NULL, add_string,
                                          cJSON_AddArrayToObject(out, "certificateIds"), NULL, 0,
                                          &err);
    }
    if (st != DD_REGISTRY_OK) {
        cJSON_Delete(out);
        return dd_clienv_registry_error(st, &err);
    }
    return dd_clienv_print_json(out);
}

static int list_one(void *ctx, const dd_registry_thing_t *t)
{
    json_ctx_t *j = ctx;
    cJSON *obj = cJSON_CreateObject();

    (void)thing_to_json(&(json_ctx_t){obj, j->arn}, t);
    (void)cJSON_AddItemToArray(j->json, obj);
    return 0;
}

static int thing_list(dd_clienv_t *env)
{
    cJSON *out = cJSON_CreateObject();

    json_ctx_t j = {cJSON_AddArrayToObject(out, "things"), &env->reg.arn};

    if (dd_registry_thing_list(&env->reg, NULL, list_one, &j, NULL, 0) != DD_REGISTRY_OK) {
        cJSON_Delete(out);
        fprintf(stderr, "ddlocal: cannot list things\n");
        return 1;
    }
    return dd_clienv_print_json(out);
}

static int thing_delete(dd_clienv_t *env, const char *name, bool force)
{
    dd_registry_error_t err;
    dd_registry_status_t st = DD_REGISTRY_OK;

    if (force) {
        cJSON *certs = cJSON_CreateArray();
        cJSON *cert;
        st = dd_registry_thing_principals(&env->reg, name, NULL, add_string, certs, NULL, 0, &err);
        cJSON_ArrayForEach (cert, certs) {
            cJSON *others = cJSON_CreateArray();
            if (st != DD_REGISTRY_OK) {
                cJSON_Delete(others);
                break;
            }
            st = dd_registry_principal_detach(&env->reg, name, cert->valuestring, &err);
            if (st == DD_REGISTRY_OK) {
                st = dd_registry_principal_things(&env->reg, cert->valuestring, NULL, add_string,
                                                  others, NULL, 0, &err);
            }
            if (st == DD_REGISTRY_OK && cJSON_GetArraySize(others) == 0) {
                st = dd_registry_cert_set_status(&env->reg, cert->valuestring, DD_CERT_INACTIVE,
                                                 &err);
                if (st == DD_REGISTRY_OK) {
                    st = dd_registry_cert_delete(&env->reg, cert->valuestring, true, &err);
                }
            }
            cJSON_Delete(others);
        }
        cJSON_Delete(certs);
        if (st == DD_REGISTRY_NOT_FOUND) {
            st = DD_REGISTRY_OK; /* nothing to detach from a missing thing */
        }
    }
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_thing_delete(&env->reg, name, -1, &err);
    }
    return st == DD_REGISTRY_OK ? 0 : dd_clienv_registry_error(st, &err);
}

int dd_cmd_thing(int argc, char **argv)
{
    thing_args_t a;
    dd_clienv_t env;
    const char *verb;
    const char *name;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(THING_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    rc = parse(argc - 1, argv + 1, &a);
    if (rc >= 0) {
        cJSON_Delete(a.attrs);
        return rc;
    }
    name = optind < argc - 1 ? argv[1 + optind] : NULL;
    if (strcmp(verb, "list") != 0 && name == NULL) {
        cJSON_Delete(a.attrs);
        return dd_clienv_usage_error("thing", "'%s' needs a thing NAME", verb);
    }
    if (strcmp(verb, "create") != 0 && strcmp(verb, "describe") != 0 && strcmp(verb, "list") != 0 &&
        strcmp(verb, "delete") != 0) {
        cJSON_Delete(a.attrs);
        return dd_clienv_usage_error("thing", "unknown verb '%s'", verb);
    }
    if (dd_clienv_open(&env, a.data_dir) != DD_CLIENV_OK) {
        cJSON_Delete(a.attrs);
        return 1;
    }
    if (strcmp(verb, "create") == 0 && dd_clienv_follow_seed(&env) != DD_CLIENV_OK) {
        fprintf(stderr, "ddlocal thing: cannot read the data dir's seed\n");
        dd_clienv_close(&env);
        cJSON_Delete(a.attrs);
        return 1;
    }
    if (strcmp(verb, "create") == 0) {
        rc = thing_create(&env, &a, name);
    } else if (strcmp(verb, "describe") == 0) {
        rc = thing_describe(&env, name);
    } else if (strcmp(verb, "list") == 0) {
        rc = thing_list(&env);
    } else {
        rc = thing_delete(&env, name, a.force);
    }
    dd_clienv_close(&env);
    cJSON_Delete(a.attrs);
    return rc;
}
