/*
 * ddlocal cert ...: device certificates (issue, status, attach, list).
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CERT_HELP[] =
    "usage: ddlocal cert <verb> [options]\n"
    "\n"
    "  create [--thing NAME]... [--key-type rsa|ec] [--out DIR] [--policy POLICY] [--inactive]\n"
    "      Issue a device key and certificate signed by the root CA, register it\n"
    "      (ACTIVE unless --inactive), attach it to each NAME and POLICY to it,\n"
    "      and write cert.pem, private.key (0600), public.key to DIR\n"
    "      (default DATA_DIR/certs/ID).\n"
    "  status ID ACTIVE|INACTIVE|REVOKED   Change a certificate's status; a running\n"
    "      broker refuses or drops its connections at once.\n"
    "  attach ID THING / detach ID THING   Attach/detach a certificate to/from a thing.\n"
    "  describe ID        Show a certificate, its things and policies.\n"
    "  list               List certificates.\n"
    "  delete ID          Delete an INACTIVE or REVOKED certificate attached to nothing.\n"
    "  crl FILE           Store an issuer's certificate revocation list (PEM, - = stdin);\n"
    "      a newer list of the same issuer replaces the older. The audit checks\n"
    "      REVOKED_*_STILL_ACTIVE and INTERMEDIATE_CA_REVOKED_* read these lists.\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

enum { OPT_THING = 1000, OPT_KEY_TYPE, OPT_OUT, OPT_POLICY, OPT_INACTIVE };

static const struct option CERT_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"thing", required_argument, NULL, OPT_THING},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"out", required_argument, NULL, OPT_OUT},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"inactive", no_argument, NULL, OPT_INACTIVE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define MAX_THINGS 16

typedef struct cert_args {
    const char *data_dir;
    const char *things[MAX_THINGS];
    int thing_count;
    const char *out;
    const char *policy;
    bool inactive;
    dd_pki_key_type_t key_type;
} cert_args_t;

static int parse(int argc, char **argv, cert_args_t *a)
{
    int c;

    memset(a, 0, sizeof(*a));
    a->data_dir = dd_clienv_default_data_dir();
    a->key_type = DD_PKI_KEY_RSA2048;
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", CERT_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': a->data_dir = optarg; break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_POLICY: a->policy = optarg; break;
        case OPT_INACTIVE: a->inactive = true; break;
        case OPT_THING:
            if (a->thing_count == MAX_THINGS) {
                return dd_clienv_usage_error("cert", "at most %d --thing options", MAX_THINGS);
            }
            a->things[a->thing_count++] = optarg;
            break;
        case OPT_KEY_TYPE:
            if (strcmp(optarg, "rsa") == 0) {
                a->key_type = DD_PKI_KEY_RSA2048;
            } else if (strcmp(optarg, "ec") == 0) {
                a->key_type = DD_PKI_KEY_EC_P256;
            } else {
                return dd_clienv_usage_error("cert", "--key-type must be rsa or ec, not '%s'",
                                             optarg);
            }
            break;
        case 'h': fputs(CERT_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("cert", "unknown option");
        }
    }
    return -1;
}

static int add_string(void *ctx, const char *name)
{
    cJSON *s = cJSON_CreateString(name);

    if (s != NULL) {
        (void)cJSON_AddItemToArray(ctx, s);
    }
    return 0;
}

typedef struct json_ctx {
    cJSON *json;
    const dd_arn_ctx_t *arn;
    bool with_pem;
} json_ctx_t;

static int cert_to_json(void *ctx, const dd_registry_cert_t *c)
{
    json_ctx_t *j = ctx;
    cJSON *obj = cJSON_CreateObject();
    char arn[DD_ARN_MAX];

    (void)cJSON_AddStringToObject(obj, "certificateId", c->id);
    if (dd_arn_format(j->arn, DD_NAME_CERTIFICATE, c->id, arn, sizeof(arn)) == DD_NAMES_OK) {
        (void)cJSON_AddStringToObject(obj, "certificateArn", arn);
    }
    (void)cJSON_AddStringToObject(obj, "status", dd_cert_status_name(c->status));
    if (c->is_service) {
        (void)cJSON_AddBoolToObject(obj, "ddlocalService", 1);
    }
    (void)cJSON_AddNumberToObject(obj, "creationDate", (double)c->created_ms / 1000.0);
    if (j->with_pem) {
        (void)cJSON_AddStringToObject(obj, "certificatePem", c->pem);
    }
    if (cJSON_IsArray(j->json)) {
        (void)cJSON_AddItemToArray(j->json, obj);
    } else {
        (void)cJSON_AddItemToObject(j->json, "certificateDescription", obj);
    }
    return 0;
}

static int cert_create(dd_clienv_t *env, const cert_args_t *a)
{
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    dd_registry_status_t st;
    dd_pki_status_t pst;
    char dir[700];
    char arn[DD_ARN_MAX];
    char path[800];
    cJSON *out;
    int i;

    pst = dd_pki_issue_device(env->ca, a->key_type, &cred);
    if (pst != DD_PKI_OK) {
        fprintf(stderr, "ddlocal: cannot issue a certificate: %s\n", dd_pki_strerror(pst));
        return 1;
    }
    st =
        dd_registry_cert_add(&env->reg, cred.certificate_pem,
                             a->inactive ? DD_CERT_INACTIVE : DD_CERT_ACTIVE, false, NULL, 0, &err);
    for (i = 0; st == DD_REGISTRY_OK && i < a->thing_count; i++) {
        st = dd_registry_principal_attach(&env->reg, a->things[i], cred.certificate_id, &err);
    }
    (void)dd_arn_format(&env->reg.arn, DD_NAME_CERTIFICATE, cred.certificate_id, arn, sizeof(arn));
    if (st == DD_REGISTRY_OK && a->policy != NULL) {
        st = dd_registry_policy_attach(&env->reg, a->policy, arn, &err);
    }
    if (st != DD_REGISTRY_OK) {
        dd_pki_credentials_free(&cred);
        return dd_clienv_registry_error(st, &err);
    }
    if (a->out != NULL) {
        (void)snprintf(dir, sizeof(dir), "%s", a->out);
    } else {
        (void)snprintf(dir, sizeof(dir), "%s/certs/%s", env->data_dir, cred.certificate_id);
    }
    pst = dd_pki_credentials_write(&cred, dir);
    if (pst != DD_PKI_OK) {
        fprintf(stderr, "ddlocal: cannot write credentials to %s: %s\n", dir, dd_pki_strerror(pst));
        dd_pki_credentials_free(&cred);
        return 1;
    }
    out = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(out, "certificateId", cred.certificate_id);
    (void)cJSON_AddStringToObject(out, "certificateArn", arn);
    (void)snprintf(path, sizeof(path), "%s/%s", dir, DD_PKI_DEVICE_CERT_FILE);
    (void)cJSON_AddStringToObject(out, "certificateFile", path);
    (void)snprintf(path, sizeof(path), "%s/%s", dir, DD_PKI_DEVICE_PRIVATE_KEY_FILE);
    (void)cJSON_AddStringToObject(out, "privateKeyFile", path);
    (void)dd_pki_path(env->data_dir, DD_PKI_FILE_ROOTCA_CERT, path, sizeof(path));
    (void)cJSON_AddStringToObject(out, "rootCaFile", path);
    dd_pki_credentials_free(&cred);
    return dd_clienv_print_json(out);
}

static int cert_describe(dd_clienv_t *env, const char *id)
{
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out = cJSON_CreateObject();
    json_ctx_t j = {out, &env->reg.arn, true};
    char arn[DD_ARN_MAX];

    st = dd_registry_cert_get(&env->reg, id, cert_to_json, &j, &err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_principal_things(&env->reg, id, NULL, add_string,
                                          cJSON_AddArrayToObject(out, "things"), NULL, 0, &err);
    }
    if (st == DD_REGISTRY_OK) {
        (void)dd_arn_format(&env->reg.arn, DD_NAME_CERTIFICATE, id, arn, sizeof(arn));
        st =
            dd_registry_policies_for_target(&env->reg, arn, false, NULL, add_string,
                                            cJSON_AddArrayToObject(out, "policies"), NULL, 0, &err);
    }
    if (st != DD_REGISTRY_OK) {
        cJSON_Delete(out);
        return dd_clienv_registry_error(st, &err);
    }
    return dd_clienv_print_json(out);
}

int dd_cmd_cert(int argc, char **argv)
{
    cert_args_t a;
    dd_clienv_t env;
    dd_registry_error_t err;
    dd_registry_status_t st = DD_REGISTRY_OK;
    const char *verb;
    char **pos;
    int npos;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(CERT_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    rc = parse(argc - 1, argv + 1, &a);
    if (rc >= 0) {
        return rc;
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if ((strcmp(verb, "status") == 0 || strcmp(verb, "attach") == 0 ||
         strcmp(verb, "detach") == 0) &&
        npos != 2) {
        return dd_clienv_usage_error("cert", "'%s' takes two arguments", verb);
    }
    if ((strcmp(verb, "describe") == 0 || strcmp(verb, "delete") == 0) && npos != 1) {
        return dd_clienv_usage_error("cert", "'%s' takes a certificate ID", verb);
    }
    if (strcmp(verb, "crl") == 0 && npos != 1) {
        return dd_clienv_usage_error("cert", "'crl' takes a PEM file (- for stdin)");
    }
    if (strcmp(verb, "create") != 0 && strcmp(verb, "status") != 0 && strcmp(verb, "attach") != 0 &&
        strcmp(verb, "detach") != 0 && strcmp(verb, "describe") != 0 && strcmp(verb, "list") != 0 &&
        strcmp(verb, "delete") != 0 && strcmp(verb, "crl") != 0) {
        return dd_clienv_usage_error("cert", "unknown verb '%s'", verb);
    }
    if (strcmp(verb, "status") == 0) {
        dd_cert_status_t status;
        if (!dd_cert_status_parse(pos[1], &status) || status == DD_CERT_PENDING_ACTIVATION) {
            return dd_clienv_usage_error("cert",
                                         "status must be ACTIVE, INACTIVE or REVOKED, not '%s'",
                                         pos[1]);
        }
    }
    if (dd_clienv_open(&env, a.data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (strcmp(verb, "create") == 0 && dd_clienv_follow_seed(&env) != DD_CLIENV_OK) {
        fprintf(stderr, "ddlocal cert: cannot read the data dir's seed\n");
        dd_clienv_close(&env);
        return 1;
    }
    if (strcmp(verb, "create") == 0) {
        rc = cert_create(&env, &a);
    } else if (strcmp(verb, "describe") == 0) {
        rc = cert_describe(&env, pos[0]);
    } else if (strcmp(verb, "list") == 0) {
        cJSON *out = cJSON_CreateObject();
        json_ctx_t j = {cJSON_AddArrayToObject(out, "certificates"), &env.reg.arn, false};
        st = dd_registry_cert_list(&env.reg, NULL, true, cert_to_json, &j, NULL, 0);
        rc = st == DD_REGISTRY_OK ? dd_clienv_print_json(out) : (cJSON_Delete(out), 1);
    } else {
        if (strcmp(verb, "status") == 0) {
            dd_cert_status_t status = DD_CERT_INACTIVE;
            (void)dd_cert_status_parse(pos[1], &status);
            st = dd_registry_cert_set_status(&env.reg, pos[0], status, &err);
        } else if (strcmp(verb, "attach") == 0) {
            st = dd_registry_principal_attach(&env.reg, pos[1], pos[0], &err);
        } else if (strcmp(verb, "detach") == 0) {
            st = dd_registry_principal_detach(&env.reg, pos[1], pos[0], &err);
        } else if (strcmp(verb, "crl") == 0) {
            char *pem = dd_clienv_read_input(pos[0], 4 * 1024 * 1024);
            if (pem == NULL) {
                dd_clienv_close(&env);
                return 1;
            }
            st = dd_registry_crl_put(&env.reg, pem, &err);
            free(pem);
        } else {
            st = dd_registry_cert_delete(&env.reg, pos[0], false, &err);
        }
        rc = st == DD_REGISTRY_OK ? 0 : dd_clienv_registry_error(st, &err);
    }
    dd_clienv_close(&env);
    return rc;
}
