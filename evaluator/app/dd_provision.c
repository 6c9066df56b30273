#include "dd_provision.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cbor.h>
#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "dd_log.h"

#define TOPIC_CREATE "$aws/certificates/create/"
#define TOPIC_CSR "$aws/certificates/create-from-csr/"
#define TOPIC_TEMPLATES "$aws/provisioning-templates/"
#define TOPIC_PROVISION "/provision/"

/* A CBOR request larger than this is refused before decoding (a CSR is about 1 KB). */
#define CBOR_REQUEST_MAX (32 * 1024)
/* Nesting of a CBOR request (parameters is the deepest: 2). */
#define CBOR_DEPTH_MAX 8

#define TYPE_THING "AWS::IoT::Thing"
#define TYPE_CERT "AWS::IoT::Certificate"
#define TYPE_POLICY "AWS::IoT::Policy"

#define TOKEN_BYTES 32

typedef struct token {
    char cert_id[DD_PKI_CERT_ID_LEN + 1];
    int64_t expires_ms;
} token_t;

static void set_why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* ---- the template language ------------------------------------------------------- */

static bool has_key(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* A value: a string, {"Ref": "P"} or {"Fn::Join": ["delim", [values]]}. */
static bool check_value(const cJSON *v, const cJSON *params, const char *where, char *why,
                        size_t why_len)
{
    const cJSON *ref;
    const cJSON *join;

    if (cJSON_IsString(v)) {
        return true;
    }
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != 1) {
        set_why(why, why_len,
                "%s: a value must be a string, {\"Ref\": ...} or {\"Fn::Join\": ...} (ddlocal "
                "supports no other form)",
                where);
        return false;
    }
    ref = cJSON_GetObjectItemCaseSensitive(v, "Ref");
    join = cJSON_GetObjectItemCaseSensitive(v, "Fn::Join");
    if (ref != NULL) {
        if (!cJSON_IsString(ref)) {
            set_why(why, why_len, "%s: Ref takes a parameter name", where);
            return false;
        }
        if (strcmp(ref->valuestring, DD_PROVISION_CERT_ID_PARAM) != 0 &&
            !has_key(params, ref->valuestring)) {
            set_why(why, why_len, "%s: Ref to %.128s, which is not in Parameters", where,
                    ref->valuestring);
            return false;
        }
        return true;
    }
    if (join != NULL) {
        const cJSON *delim = cJSON_GetArrayItem(join, 0);
        const cJSON *parts = cJSON_GetArrayItem(join, 1);
        const cJSON *part;

        if (!cJSON_IsArray(join) || cJSON_GetArraySize(join) != 2 || !cJSON_IsString(delim) ||
            !cJSON_IsArray(parts)) {
            set_why(why, why_len, "%s: Fn::Join takes [\"delimiter\", [values]]", where);
            return false;
        }
        cJSON_ArrayForEach (part, parts) {
            if (!check_value(part, params, where, why, why_len)) {
                return false;
            }
        }
        return true;
    }
    set_why(why, why_len, "%s: %.64s is not supported by ddlocal (only Ref and Fn::Join are)",
            where, v->child->string != NULL ? v->child->string : "?");
    return false;
}

static bool only_keys(const cJSON *obj, const char *const *allowed, const char *where, char *why,
                      size_t why_len)
{
    const cJSON *item;

    cJSON_ArrayForEach (item, obj) {
        size_t i;
        bool ok = false;

        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(item->string, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            set_why(why, why_len, "%s: %.64s is not supported by ddlocal", where, item->string);
            return false;
        }
    }
    return true;
}

static bool check_values_of(const cJSON *obj, const cJSON *params, const char *where, char *why,
                            size_t why_len)
{
    const cJSON *item;

    cJSON_ArrayForEach (item, obj) {
        if (!check_value(item, params, where, why, why_len)) {
            return false;
        }
    }
    return true;
}

static bool check_thing(const cJSON *res, const cJSON *params, char *why, size_t why_len)
{
    static const char *const PROPS[] = {"ThingName", "AttributePayload", "ThingTypeName",
                                        "ThingGroups", NULL};
    static const char *const OVERRIDES[] = {"AttributePayload", "ThingTypeName", "ThingGroups",
                                            NULL};
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
    const cJSON *over = cJSON_GetObjectItemCaseSensitive(res, "OverrideSettings");
    const cJSON *v;

    if (!only_keys(props, PROPS, TYPE_THING " Properties", why, why_len)) {
        return false;
    }
    if (!has_key(props, "ThingName")) {
        set_why(why, why_len, TYPE_THING ": Properties.ThingName is required");
        return false;
    }
    if (over != NULL &&
        (!cJSON_IsObject(over) ||
         !only_keys(over, OVERRIDES, TYPE_THING " OverrideSettings", why, why_len))) {
        if (!cJSON_IsObject(over)) {
            set_why(why, why_len, TYPE_THING ": OverrideSettings must be an object");
        }
        return false;
    }
    cJSON_ArrayForEach (v, props) {
        if (strcmp(v->string, "AttributePayload") == 0 || strcmp(v->string, "ThingGroups") == 0) {
            if ((strcmp(v->string, "AttributePayload") == 0 && !cJSON_IsObject(v)) ||
                (strcmp(v->string, "ThingGroups") == 0 && !cJSON_IsArray(v))) {
                set_why(why, why_len,
                        TYPE_THING ": AttributePayload is an object, ThingGroups a list");
                return false;
            }
            if (!check_values_of(v, params, TYPE_THING, why, why_len)) {
                return false;
            }
        } else if (!check_value(v, params, TYPE_THING, why, why_len)) {
            return false;
        }
    }
    return true;
}

static bool check_cert(const cJSON *res, const cJSON *params, char *why, size_t why_len)
{
    static const char *const PROPS[] = {"CertificateId", "Status", NULL};
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");

    if (!only_keys(props, PROPS,
                   TYPE_CERT " Properties (CertificatePem and CACertificatePem "
                             "belong to JITP and bulk registration)",
                   why, why_len)) {
        return false;
    }
    if (!has_key(props, "CertificateId")) {
        set_why(why, why_len,
                TYPE_CERT ": Properties.CertificateId is required (Ref "
                          "AWS::IoT::Certificate::Id)");
        return false;
    }
    return check_values_of(props, params, TYPE_CERT, why, why_len);
}

static bool check_policy(const cJSON *res, const cJSON *params, char *why, size_t why_len)
{
    static const char *const PROPS[] = {"PolicyName", "PolicyDocument", NULL};
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(props, "PolicyName");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(props, "PolicyDocument");

    if (!only_keys(props, PROPS, TYPE_POLICY " Properties", why, why_len)) {
        return false;
    }
    if ((name == NULL) == (doc == NULL)) {
        set_why(why, why_len, TYPE_POLICY ": give either PolicyName or PolicyDocument");
        return false;
    }
    if (name != NULL) {
        return check_value(name, params, TYPE_POLICY, why, why_len);
    }
    if (!cJSON_IsString(doc) && !cJSON_IsObject(doc)) {
        set_why(why, why_len, TYPE_POLICY ": PolicyDocument is a JSON policy document (text)");
        return false;
    }
    return true;
}

static bool check_parameters(const cJSON *params, char *why, size_t why_len)
{
    const cJSON *p;

    if (params != NULL && !cJSON_IsObject(params)) {
        set_why(why, why_len, "Parameters must be an object");
        return false;
    }
    cJSON_ArrayForEach (p, params) {
        static const char *const KEYS[] = {"Type", "Default", "Description", NULL};
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "Type");
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "Default");

        if (!cJSON_IsObject(p) || !only_keys(p, KEYS, "a parameter", why, why_len)) {
            if (!cJSON_IsObject(p)) {
                set_why(why, why_len, "Parameter %.128s must be an object", p->string);
            }
            return false;
        }
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "String") != 0) {
            set_why(why, why_len,
                    "Parameter %.128s: Type must be \"String\" (ddlocal supports no other type)",
                    p->string);
            return false;
        }
        if (def != NULL && !cJSON_IsString(def)) {
            set_why(why, why_len, "Parameter %.128s: Default must be a string", p->string);
            return false;
        }
    }
    return true;
}

static bool check_template(const cJSON *root, char *why, size_t why_len)
{
    static const char *const TOP[] = {"Parameters",          "Resources",
                                      "DeviceConfiguration", "AWSTemplateFormatVersion",
                                      "Description",         NULL};
    const cJSON *params;
    const cJSON *resources;
    const cJSON *config;
    const cJSON *res;
    int seen[3] = {0, 0, 0};

    if (!cJSON_IsObject(root)) {
        set_why(why, why_len, "templateBody is not a JSON object");
        return false;
    }
    if (!only_keys(root, TOP, "templateBody (Conditions and Mappings are not supported)", why,
                   why_len)) {
        return false;
    }
    params = cJSON_GetObjectItemCaseSensitive(root, "Parameters");
    resources = cJSON_GetObjectItemCaseSensitive(root, "Resources");
    config = cJSON_GetObjectItemCaseSensitive(root, "DeviceConfiguration");
    if (!check_parameters(params, why, why_len)) {
        return false;
    }
    if (!cJSON_IsObject(resources) || cJSON_GetArraySize(resources) == 0) {
        set_why(why, why_len, "templateBody needs a Resources object with at least one resource");
        return false;
    }
    cJSON_ArrayForEach (res, resources) {
        static const char *const KEYS[] = {"Type", "Properties", "OverrideSettings", NULL};
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(res, "Type");
        bool ok;
        int kind;

        if (!cJSON_IsObject(res) || !only_keys(res, KEYS, "a resource", why, why_len)) {
            if (!cJSON_IsObject(res)) {
                set_why(why, why_len, "Resource %.128s must be an object", res->string);
            }
            return false;
        }
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(res, "Properties"))) {
            set_why(why, why_len, "Resource %.128s needs a Properties object", res->string);
            return false;
        }
        if (!cJSON_IsString(type)) {
            set_why(why, why_len, "Resource %.128s needs a Type", res->string);
            return false;
        }
        if (strcmp(type->valuestring, TYPE_THING) == 0) {
            kind = 0;
            ok = check_thing(res, params, why, why_len);
        } else if (strcmp(type->valuestring, TYPE_CERT) == 0) {
            kind = 1;
            ok = check_cert(res, params, why, why_len);
        } else if (strcmp(type->valuestring, TYPE_POLICY) == 0) {
            kind = 2;
            ok = check_policy(res, params, why, why_len);
        } else {
            set_why(why, why_len,
                    "Resource %.128s: type %.64s is not supported (ddlocal supports " TYPE_THING
                    ", " TYPE_CERT " and " TYPE_POLICY ")",
                    res->string, type->valuestring);
            return false;
        }
        if (!ok) {
            return false;
        }
        if (++seen[kind] > 1) {
            set_why(why, why_len, "templateBody has more than one %s resource", type->valuestring);
            return false;
        }
    }
    if (config != NULL && (!cJSON_IsObject(config) ||
                           !check_values_of(config, params, "DeviceConfiguration", why, why_len))) {
        if (!cJSON_IsObject(config)) {
            set_why(why, why_len, "DeviceConfiguration must be an object");
        }
        return false;
    }
    return true;
}

dd_provision_status_t dd_provision_check_template(const char *body, char *why, size_t why_len)
{
    cJSON *root;
    bool ok;

    set_why(why, why_len, "%s", "");
    if (body == NULL) {
        return DD_PROVISION_BAD_PARAMETER;
    }
    root = cJSON_Parse(body);
    if (root == NULL) {
        set_why(why, why_len, "templateBody is not valid JSON");
        return DD_PROVISION_INVALID;
    }
    ok = check_template(root, why, why_len);
    cJSON_Delete(root);
    return ok ? DD_PROVISION_OK : DD_PROVISION_INVALID;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

dd_provision_status_t dd_provision_init(dd_provision_t *prov, const dd_provision_config_t *cfg)
{
    if (prov == NULL || cfg == NULL || cfg->registry == NULL || cfg->store == NULL ||
        cfg->ca == NULL || cfg->clock == NULL) {
        return DD_PROVISION_BAD_PARAMETER;
    }
    memset(prov, 0, sizeof(*prov));
    prov->cfg = *cfg;
    dd_map_init(&prov->tokens);
    return DD_PROVISION_OK;
}

void dd_provision_forget_tokens(dd_provision_t *prov)
{
    size_t cursor = 0;
    const char *key;
    void *value;

    if (prov == NULL) {
        return;
    }
    while (dd_map_next(&prov->tokens, &cursor, &key, &value)) {
        free(value);
    }
    dd_map_destroy(&prov->tokens);
    dd_map_init(&prov->tokens);
}

void dd_provision_destroy(dd_provision_t *prov)
{
    if (prov == NULL) {
        return;
    }
    dd_provision_forget_tokens(prov);
    dd_map_destroy(&prov->tokens);
}

void dd_provision_reply_free(dd_provision_reply_t *reply)
{
    if (reply != NULL) {
        free(reply->payload);
        reply->payload = NULL;
        reply->len = 0;
    }
}

/* ---- replies ----------------------------------------------------------------------------- */

static dd_provision_status_t finish(dd_provision_t *prov, dd_provision_reply_t *reply,
                                    const char *request_topic, cJSON *obj, bool accepted)
{
    char *text;

    (void)snprintf(reply->topic, sizeof(reply->topic), "%s/%s", request_topic,
                   accepted ? "accepted" : "rejected");
    text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL) {
        return DD_PROVISION_NO_MEMORY;
    }
    reply->payload = text;
    reply->len = strlen(text);
    reply->accepted = accepted;
    if (accepted) {
        prov->stats.accepted++;
    } else {
        prov->stats.rejected++;
    }
    return DD_PROVISION_OK;
}

static dd_provision_status_t reject(dd_provision_t *prov, dd_provision_reply_t *reply,
                                    const char *request_topic, int status, const char *code,
                                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* AWS's ErrorResponse: statusCode, errorCode, errorMessage. */
static dd_provision_status_t reject(dd_provision_t *prov, dd_provision_reply_t *reply,
                                    const char *request_topic, int status, const char *code,
                                    const char *fmt, ...)
{
    char message[512];
    va_list ap;
    cJSON *obj = cJSON_CreateObject();

    va_start(ap, fmt);
    (void)vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    DD_LOG_INFO("provisioning: %s rejected: %s (%s)", request_topic, code, message);
    if (obj == NULL || cJSON_AddNumberToObject(obj, "statusCode", status) == NULL ||
        cJSON_AddStringToObject(obj, "errorCode", code) == NULL ||
        cJSON_AddStringToObject(obj, "errorMessage", message) == NULL) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return finish(prov, reply, request_topic, obj, false);
}

/* ---- certificates and tokens ---------------------------------------------------------- */

static void purge_expired(dd_provision_t *prov, int64_t now)
{
    size_t cursor = 0;
    const char *key;
    void *value;
    char *expired[64];
    size_t n = 0;
    size_t i;

    while (n < sizeof(expired) / sizeof(expired[0]) &&
           dd_map_next(&prov->tokens, &cursor, &key, &value)) {
        if (((token_t *)value)->expires_ms <= now) {
            expired[n++] = strdup(key);
        }
    }
    for (i = 0; i < n; i++) {
        void *old = NULL;

        if (expired[i] != NULL && dd_map_remove(&prov->tokens, expired[i], &old) == DD_MAP_OK) {
            free(old);
        }
        free(expired[i]);
    }
}

/* A new ownership token for @p cert_id: 64 random hex characters. */
static bool new_token(dd_provision_t *prov, const char *cert_id, char out[2 * TOKEN_BYTES + 1])
{
    unsigned char r[TOKEN_BYTES];
    token_t *t;
    size_t i;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return false;
    }
    for (i = 0; i < sizeof(r); i++) {
        (void)snprintf(out + 2 * i, 3, "%02x", r[i]);
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return false;
    }
    (void)snprintf(t->cert_id, sizeof(t->cert_id), "%s", cert_id);
    t->expires_ms = dd_clock_now_ms(prov->cfg.clock) + DD_PROVISION_TOKEN_TTL_MS;
    if (dd_map_put(&prov->tokens, out, t, NULL) != DD_MAP_OK) {
        free(t);
        return false;
    }
    return true;
}

/* The request payload as a JSON object; an empty payload is {}. */
static cJSON *parse_request(const void *payload, size_t len)
{
    cJSON *root;

    if (len == 0) {
        return cJSON_CreateObject();
    }
    root = cJSON_ParseWithLength(payload, len);
    if (root != NULL && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static dd_provision_status_t create_keys(dd_provision_t *prov, const char *topic,
                                         const void *payload, size_t len,
                                         dd_pki_credentials_t *premade, dd_provision_reply_t *reply)
{
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    char token[2 * TOKEN_BYTES + 1];
    cJSON *req = parse_request(payload, len);
    cJSON *out;

    if (req == NULL) {
        return reject(prov, reply, topic, 400, "InvalidPayload",
                      "The request payload is not a JSON (or CBOR) object");
    }
    cJSON_Delete(req);
    memset(&cred, 0, sizeof(cred));
    if (premade != NULL && premade->certificate_pem != NULL) {
        cred = *premade; /* ours now */
        memset(premade, 0, sizeof(*premade));
    } else if (dd_pki_issue_device(prov->cfg.ca, prov->cfg.key_type, &cred) != DD_PKI_OK) {
        return reject(prov, reply, topic, 500, "InternalError", "Could not issue a certificate");
    }
    if (dd_registry_cert_add(prov->cfg.registry, cred.certificate_pem, DD_CERT_PENDING_ACTIVATION,
                             false, NULL, 0, &err) != DD_REGISTRY_OK ||
        !new_token(prov, cred.certificate_id, token)) {
        dd_pki_credentials_free(&cred);
        return reject(prov, reply, topic, 500, "InternalError", "Could not store the certificate");
    }
    reply->registry_changed = true;
    out = cJSON_CreateObject();
    if (out == NULL || cJSON_AddStringToObject(out, "certificateId", cred.certificate_id) == NULL ||
        cJSON_AddStringToObject(out, "certificatePem", cred.certificate_pem) == NULL ||
        cJSON_AddStringToObject(out, "privateKey", cred.private_key_pem) == NULL ||
        cJSON_AddStringToObject(out, "certificateOwnershipToken", token) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    dd_pki_credentials_free(&cred);
    return finish(prov, reply, topic, out, true);
}

static dd_provision_status_t create_from_csr(dd_provision_t *prov, const char *topic,
                                             const void *payload, size_t len,
                                             dd_provision_reply_t *reply)
{
    dd_registry_error_t err;
    char token[2 * TOKEN_BYTES + 1];
    char id[DD_PKI_CERT_ID_LEN + 1];
    char *pem = NULL;
    cJSON *req = parse_request(payload, len);
    const cJSON *csr = cJSON_GetObjectItemCaseSensitive(req, "certificateSigningRequest");
    dd_pki_status_t ps;
    cJSON *out;

    if (req == NULL) {
        return reject(prov, reply, topic, 400, "InvalidPayload",
                      "The request payload is not a JSON (or CBOR) object");
    }
    if (!cJSON_IsString(csr) || csr->valuestring[0] == '\0') {
        cJSON_Delete(req);
        return reject(prov, reply, topic, 400, "InvalidPayload",
                      "certificateSigningRequest is required");
    }
    ps = dd_pki_issue_from_csr(prov->cfg.ca, csr->valuestring, strlen(csr->valuestring), &pem, id);
    cJSON_Delete(req);
    if (ps != DD_PKI_OK) {
        return reject(prov, reply, topic, 400, "InvalidCertificateSigningRequest",
                      "certificateSigningRequest is not a PEM certificate signing request whose "
                      "signature verifies");
    }
    if (dd_registry_cert_add(prov->cfg.registry, pem, DD_CERT_PENDING_ACTIVATION, false, NULL, 0,
                             &err) != DD_REGISTRY_OK ||
        !new_token(prov, id, token)) {
        free(pem);
        return reject(prov, reply, topic, 500, "InternalError", "Could not store the certificate");
    }
    reply->registry_changed = true;
    out = cJSON_CreateObject();
    if (out == NULL || cJSON_AddStringToObject(out, "certificateOwnershipToken", token) == NULL ||
        cJSON_AddStringToObject(out, "certificateId", id) == NULL ||
        cJSON_AddStringToObject(out, "certificatePem", pem) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    free(pem);
    return finish(prov, reply, topic, out, true);
}

/* ---- RegisterThing ------------------------------------------------------------------------ */

typedef struct run {
    dd_provision_t *prov;
    const cJSON *declared; /* the template's Parameters */
    const cJSON *given;    /* the request's parameters */
    const char *cert_id;
    int status; /* of the rejection */
    const char *code;
    char message[512];
} run_t;

static bool run_fail(run_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool run_fail(run_t *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    r->code = code;
    va_start(ap, fmt);
    (void)vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    return false;
}

/* Resolves a checked value to malloc'd text; NULL with r's rejection set. */
static char *resolve(run_t *r, const cJSON *v)
{
    const cJSON *ref;
    const cJSON *join;

    if (cJSON_IsString(v)) {
        return strdup(v->valuestring);
    }
    ref = cJSON_GetObjectItemCaseSensitive(v, "Ref");
    if (cJSON_IsString(ref)) {
        const cJSON *given = cJSON_GetObjectItemCaseSensitive(r->given, ref->valuestring);
        const cJSON *decl = cJSON_GetObjectItemCaseSensitive(r->declared, ref->valuestring);
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(decl, "Default");

        if (strcmp(ref->valuestring, DD_PROVISION_CERT_ID_PARAM) == 0) {
            return strdup(r->cert_id);
        }
        if (cJSON_IsString(given)) {
            return strdup(given->valuestring);
        }
        if (cJSON_IsString(def)) {
            return strdup(def->valuestring);
        }
        (void)run_fail(r, 400, "InvalidParameters",
                       "Parameter %.128s is required: it has no Default and the request did not "
                       "give it",
                       ref->valuestring);
        return NULL;
    }
    join = cJSON_GetObjectItemCaseSensitive(v, "Fn::Join");
    if (cJSON_IsArray(join)) {
        const char *delim = cJSON_GetArrayItem(join, 0)->valuestring;
        const cJSON *part;
        char *acc = strdup("");
        bool first = true;

        cJSON_ArrayForEach (part, cJSON_GetArrayItem(join, 1)) {
            char *s = resolve(r, part);
            char *next;
            size_t n;

            if (s == NULL || acc == NULL) {
                free(s);
                free(acc);
                return NULL;
            }
            n = strlen(acc) + strlen(delim) + strlen(s) + 1;
            next = malloc(n);
            if (next != NULL) {
                (void)snprintf(next, n, "%s%s%s", acc, first ? "" : delim, s);
            }
            free(acc);
            free(s);
            acc = next;
            first = false;
        }
        return acc;
    }
    (void)run_fail(r, 500, "InternalError", "unsupported value in the template");
    return NULL;
}

/* An object of values -> a JSON object of strings. */
static cJSON *resolve_object(run_t *r, const cJSON *obj)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *item;

    cJSON_ArrayForEach (item, obj) {
        char *s = resolve(r, item);

        if (s == NULL || out == NULL || cJSON_AddStringToObject(out, item->string, s) == NULL) {
            free(s);
            cJSON_Delete(out);
            return NULL;
        }
        free(s);
    }
    return out;
}

static const cJSON *find_resource(const cJSON *resources, const char *type)
{
    const cJSON *res;

    cJSON_ArrayForEach (res, resources) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "Type");

        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0) {
            return res;
        }
    }
    return NULL;
}

static bool registry_ok(run_t *r, dd_registry_status_t st, const dd_registry_error_t *err,
                        const char *what)
{
    if (st == DD_REGISTRY_OK) {
        return true;
    }
    if (st == DD_REGISTRY_STORE_ERROR || st == DD_REGISTRY_BAD_PARAMETER) {
        return run_fail(r, 500, "InternalError", "%s: %s", what, err->message);
    }
    return run_fail(r, 400, "InvalidRequest", "%s: %s", what, err->message);
}

static bool apply_thing(run_t *r, const cJSON *res, char *thing, size_t thing_len)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
    const cJSON *over = cJSON_GetObjectItemCaseSensitive(res, "OverrideSettings");
    const cJSON *attrs_v = cJSON_GetObjectItemCaseSensitive(props, "AttributePayload");
    const cJSON *type_v = cJSON_GetObjectItemCaseSensitive(props, "ThingTypeName");
    const cJSON *groups_v = cJSON_GetObjectItemCaseSensitive(props, "ThingGroups");
    dd_registry_t *reg = r->prov->cfg.registry;
    dd_registry_error_t err;
    char *name = resolve(r, cJSON_GetObjectItemCaseSensitive(props, "ThingName"));
    const cJSON *g;
    bool ok = true;

    if (name == NULL) {
        return false;
    }
    (void)snprintf(thing, thing_len, "%s", name);
    if (dd_registry_thing_exists(reg, name)) {
        const cJSON *setting;

        /* An existing thing is kept as it is (DO_NOTHING); FAIL refuses. */
        cJSON_ArrayForEach (setting, over) {
            if (cJSON_IsString(setting) && strcmp(setting->valuestring, "FAIL") == 0) {
                ok = run_fail(r, 400, "InvalidRequest",
                              "Thing %.128s already exists and OverrideSettings.%s is FAIL", name,
                              setting->string);
                break;
            }
        }
    } else {
        cJSON *attrs = attrs_v != NULL ? resolve_object(r, attrs_v) : NULL;
        char *type = type_v != NULL ? resolve(r, type_v) : NULL;
        char *attrs_text = attrs != NULL ? cJSON_PrintUnformatted(attrs) : NULL;

        if ((attrs_v != NULL && attrs_text == NULL) || (type_v != NULL && type == NULL)) {
            ok = r->code != NULL ? false : run_fail(r, 500, "InternalError", "out of memory");
        } else {
            ok =
                registry_ok(r, dd_registry_thing_create(reg, name, type, attrs_text, NULL, 0, &err),
                            &err, "Thing");
        }
        free(attrs_text);
        free(type);
        cJSON_Delete(attrs);
    }
    cJSON_ArrayForEach (g, groups_v) {
        char *group;

        if (!ok) {
            break;
        }
        group = resolve(r, g);
        ok = group != NULL && registry_ok(r, dd_registry_group_add_thing(reg, group, name, &err),
                                          &err, "ThingGroups");
        free(group);
    }
    free(name);
    return ok;
}

static bool apply_cert(run_t *r, const cJSON *res)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
    const cJSON *status_v = cJSON_GetObjectItemCaseSensitive(props, "Status");
    char *id = resolve(r, cJSON_GetObjectItemCaseSensitive(props, "CertificateId"));
    char *status = status_v != NULL ? resolve(r, status_v) : strdup("ACTIVE");
    dd_cert_status_t cs = DD_CERT_ACTIVE;
    dd_registry_error_t err;
    bool ok;

    if (id == NULL || status == NULL) {
        ok = false;
    } else if (strcmp(id, r->cert_id) != 0) {
        ok = run_fail(r, 400, "InvalidParameters",
                      "CertificateId must be the certificate of the ownership token (Ref "
                      "AWS::IoT::Certificate::Id)");
    } else if (strcasecmp(status, "ACTIVE") == 0) {
        cs = DD_CERT_ACTIVE;
        ok = true;
    } else if (strcasecmp(status, "INACTIVE") == 0) {
        cs = DD_CERT_INACTIVE;
        ok = true;
    } else {
        ok = run_fail(r, 400, "InvalidParameters",
                      "Certificate Status must be ACTIVE or INACTIVE, not %.32s", status);
    }
    if (ok) {
        ok = registry_ok(r, dd_registry_cert_set_status(r->prov->cfg.registry, id, cs, &err), &err,
                         "Certificate");
    }
    free(id);
    free(status);
    return ok;
}

static bool apply_policy(run_t *r, const cJSON *res)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
    const cJSON *name_v = cJSON_GetObjectItemCaseSensitive(props, "PolicyName");
    const cJSON *doc_v = cJSON_GetObjectItemCaseSensitive(props, "PolicyDocument");
    dd_registry_t *reg = r->prov->cfg.registry;
    dd_registry_error_t err;
    char cert_arn[DD_ARN_MAX];
    char name[2 * SHA256_DIGEST_LENGTH + 1];
    bool ok = true;

    if (name_v != NULL) {
        char *s = resolve(r, name_v);

        if (s == NULL) {
            return false;
        }
        (void)snprintf(name, sizeof(name), "%.64s", s);
        if (strlen(s) >= sizeof(name)) {
            ok = run_fail(r, 400, "InvalidRequest", "PolicyName %.128s is too long", s);
        }
        free(s);
    } else {
        /* An inline document becomes a policy named by the document's SHA-256, so every
         * device provisioned with it shares one policy. */
        char *doc =
            cJSON_IsString(doc_v) ? strdup(doc_v->valuestring) : cJSON_PrintUnformatted(doc_v);
        unsigned char md[SHA256_DIGEST_LENGTH];
        size_t i;

        if (doc == NULL) {
            return run_fail(r, 500, "InternalError", "out of memory");
        }
        (void)SHA256((const unsigned char *)doc, strlen(doc), md);
        for (i = 0; i < sizeof(md); i++) {
            (void)snprintf(name + 2 * i, 3, "%02x", md[i]);
        }
        if (dd_registry_policy_get(reg, name, NULL, NULL, &err) == DD_REGISTRY_NOT_FOUND) {
            ok = registry_ok(r, dd_registry_policy_create(reg, name, doc, &err), &err,
                             "PolicyDocument");
        }
        free(doc);
    }
    if (ok) {
        (void)dd_arn_format(&reg->arn, DD_NAME_CERTIFICATE, r->cert_id, cert_arn, sizeof(cert_arn));
        ok = registry_ok(r, dd_registry_policy_attach(reg, name, cert_arn, &err), &err, "Policy");
    }
    return ok;
}

typedef struct tpl_copy {
    char *body;
    bool enabled;
    bool hook;
    bool fleet;
} tpl_copy_t;

static int copy_template(void *ctx, const dd_registry_template_t *t)
{
    tpl_copy_t *c = ctx;

    c->body = strdup(t->body);
    c->enabled = t->enabled;
    c->hook = t->hook_json[0] != '\0';
    c->fleet = strcmp(t->type, "FLEET_PROVISIONING") == 0;
    return 0;
}

/* Applies the resources in one transaction; thing gets the thing's name ("" when none). */
static bool apply(run_t *r, const cJSON *root, char *thing, size_t thing_len, cJSON **config)
{
    const cJSON *resources = cJSON_GetObjectItemCaseSensitive(root, "Resources");
    const cJSON *thing_res = find_resource(resources, TYPE_THING);
    const cJSON *cert_res = find_resource(resources, TYPE_CERT);
    const cJSON *policy_res = find_resource(resources, TYPE_POLICY);
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "DeviceConfiguration");
    dd_registry_error_t err;
    bool ok;

    thing[0] = '\0';
    if (cert_res == NULL) {
        return run_fail(r, 400, "InvalidRequest",
                        "The template has no " TYPE_CERT " resource: fleet provisioning needs one "
                        "to activate the new certificate");
    }
    if (dd_store_begin(r->prov->cfg.store) != DD_STORE_OK) {
        return run_fail(r, 500, "InternalError", "The store cannot start a transaction");
    }
    ok = thing_res == NULL || apply_thing(r, thing_res, thing, thing_len);
    ok = ok && apply_cert(r, cert_res);
    ok = ok && (policy_res == NULL || apply_policy(r, policy_res));
    if (ok && thing[0] != '\0') {
        ok = registry_ok(r,
                         dd_registry_principal_attach(r->prov->cfg.registry, thing, r->cert_id,
                                                      &err),
                         &err, "Attaching the certificate to the thing");
    }
    if (ok) {
        *config = dc != NULL ? resolve_object(r, dc) : cJSON_CreateObject();
        ok = *config != NULL;
    }
    if (ok && dd_store_commit(r->prov->cfg.store) != DD_STORE_OK) {
        ok = run_fail(r, 500, "InternalError", "The store could not commit");
    }
    if (!ok) {
        (void)dd_store_rollback(r->prov->cfg.store);
        cJSON_Delete(*config);
        *config = NULL;
        if (r->code == NULL) {
            (void)run_fail(r, 500, "InternalError", "out of memory");
        }
    }
    return ok;
}

static dd_provision_status_t register_thing(dd_provision_t *prov, const char *topic,
                                            const char *name, const void *payload, size_t len,
                                            dd_provision_reply_t *reply)
{
    dd_registry_error_t err;
    tpl_copy_t tpl = {NULL, false, false, false};
    cJSON *req = parse_request(payload, len);
    const cJSON *token_v = cJSON_GetObjectItemCaseSensitive(req, "certificateOwnershipToken");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "parameters");
    const cJSON *p;
    token_t *token;
    cJSON *root = NULL;
    cJSON *config = NULL;
    cJSON *out;
    run_t r;
    char thing[DD_NAME_MAX + 1];
    dd_registry_status_t rs;

    memset(&r, 0, sizeof(r));
    if (req == NULL) {
        return reject(prov, reply, topic, 400, "InvalidPayload",
                      "The request payload is not a JSON (or CBOR) object");
    }
    cJSON_ArrayForEach (p, params) {
        if (!cJSON_IsString(p)) {
            cJSON_Delete(req);
            return reject(prov, reply, topic, 400, "InvalidParameters",
                          "parameters maps names to strings (%.128s is not a string)", p->string);
        }
    }
    if (params != NULL && !cJSON_IsObject(params)) {
        cJSON_Delete(req);
        return reject(prov, reply, topic, 400, "InvalidParameters",
                      "parameters must be an object of strings");
    }
    if (!cJSON_IsString(token_v) || token_v->valuestring[0] == '\0') {
        cJSON_Delete(req);
        return reject(prov, reply, topic, 400, "InvalidCertificateOwnershipToken",
                      "Certificate ownership token cannot be empty.");
    }
    purge_expired(prov, dd_clock_now_ms(prov->cfg.clock));
    token = dd_map_get(&prov->tokens, token_v->valuestring);
    if (token == NULL) {
        cJSON_Delete(req);
        return reject(prov, reply, topic, 400, "InvalidCertificateOwnershipToken",
                      "The certificate ownership token is not valid (unknown, used or expired)");
    }
    rs = dd_registry_template_get(prov->cfg.registry, name, copy_template, &tpl, &err);
    if (rs != DD_REGISTRY_OK || tpl.body == NULL) {
        cJSON_Delete(req);
        free(tpl.body);
        if (rs == DD_REGISTRY_NOT_FOUND) {
            return reject(prov, reply, topic, 404, "ResourceNotFound",
                          "The provisioning template %.64s does not exist", name);
        }
        return reject(prov, reply, topic, 500, "InternalError", "Could not read the template");
    }
    if (!tpl.enabled || !tpl.fleet || tpl.hook) {
        cJSON_Delete(req);
        free(tpl.body);
        return reject(prov, reply, topic, 400, "InvalidRequest", "%s",
                      !tpl.enabled ? "The provisioning template is disabled"
                      : !tpl.fleet ? "The provisioning template is not of type FLEET_PROVISIONING"
                                   : "The provisioning template has a pre-provisioning hook: "
                                     "ddlocal does not run pre-provisioning hooks");
    }
    root = cJSON_Parse(tpl.body);
    free(tpl.body);
    r.prov = prov;
    r.declared = cJSON_GetObjectItemCaseSensitive(root, "Parameters");
    r.given = params;
    r.cert_id = token->cert_id;
    if (root == NULL || !apply(&r, root, thing, sizeof(thing), &config)) {
        cJSON_Delete(root);
        cJSON_Delete(req);
        if (r.code == NULL) {
            (void)run_fail(&r, 500, "InternalError", "The template cannot be read");
        }
        return reject(prov, reply, topic, r.status, r.code, "%s", r.message);
    }
    cJSON_Delete(root);
    {
        void *old = NULL;

        /* The token is spent: a second RegisterThing with it is refused. */
        if (dd_map_remove(&prov->tokens, token_v->valuestring, &old) == DD_MAP_OK) {
            free(old);
        }
    }
    cJSON_Delete(req);
    reply->registry_changed = true;
    prov->stats.things_provisioned += thing[0] != '\0' ? 1 : 0;
    out = cJSON_CreateObject();
    if (out == NULL || !cJSON_AddItemToObject(out, "deviceConfiguration", config)) {
        cJSON_Delete(config);
        cJSON_Delete(out);
        return finish(prov, reply, topic, NULL, true);
    }
    if (thing[0] != '\0' && cJSON_AddStringToObject(out, "thingName", thing) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    DD_LOG_INFO("provisioning: template %s provisioned thing %s", name,
                thing[0] != '\0' ? thing : "(none)");
    return finish(prov, reply, topic, out, true);
}

/* ---- CBOR payloads --------------------------------------------------------------------- */

/* A decoded CBOR item as JSON: maps with text keys, text, integers, floats, booleans, null and
 * arrays - what the provisioning API's requests hold. NULL for anything else. */
static cJSON *cbor_to_json(const cbor_item_t *item, int depth)
{
    size_t i;

    if (depth > CBOR_DEPTH_MAX) {
        return NULL;
    }
    if (cbor_isa_string(item)) {
        char *text;
        cJSON *out;

        if (!cbor_string_is_definite(item)) {
            return NULL;
        }
        text = malloc(cbor_string_length(item) + 1);
        if (text == NULL) {
            return NULL;
        }
        memcpy(text, cbor_string_handle(item), cbor_string_length(item));
        text[cbor_string_length(item)] = '\0';
        out = strlen(text) == cbor_string_length(item) ? cJSON_CreateString(text) : NULL;
        free(text);
        return out;
    }
    if (cbor_isa_uint(item)) {
        return cJSON_CreateNumber((double)cbor_get_int(item));
    }
    if (cbor_isa_negint(item)) {
        return cJSON_CreateNumber(-1.0 - (double)cbor_get_int(item));
    }
    if (cbor_isa_float_ctrl(item)) {
        if (cbor_float_ctrl_is_ctrl(item)) {
            return cbor_is_bool(item)   ? cJSON_CreateBool(cbor_get_bool(item))
                   : cbor_is_null(item) ? cJSON_CreateNull()
                                        : NULL;
        }
        return cJSON_CreateNumber(cbor_float_get_float(item));
    }
    if (cbor_isa_array(item)) {
        cJSON *arr = cJSON_CreateArray();

        for (i = 0; arr != NULL && i < cbor_array_size(item); i++) {
            cJSON *v = cbor_to_json(cbor_array_handle(item)[i], depth + 1);

            if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
                cJSON_Delete(v);
                cJSON_Delete(arr);
                arr = NULL;
            }
        }
        return arr;
    }
    if (cbor_isa_map(item)) {
        cJSON *obj = cJSON_CreateObject();
        struct cbor_pair *pairs = cbor_map_handle(item);

        for (i = 0; obj != NULL && i < cbor_map_size(item); i++) {
            cJSON *k = cbor_to_json(pairs[i].key, depth + 1);
            cJSON *v = cJSON_IsString(k) ? cbor_to_json(pairs[i].value, depth + 1) : NULL;

            if (v == NULL || !cJSON_AddItemToObject(obj, k->valuestring, v)) {
                cJSON_Delete(v);
                cJSON_Delete(obj);
                obj = NULL;
            }
            cJSON_Delete(k);
        }
        return obj;
    }
    return NULL;
}

/* The reply as CBOR: objects, strings, numbers (integers when whole), booleans, null. */
static cbor_item_t *json_to_cbor(const cJSON *v)
{
    const cJSON *child;
    cbor_item_t *out = NULL;

    if (cJSON_IsString(v)) {
        return cbor_build_string(v->valuestring);
    }
    if (cJSON_IsBool(v)) {
        return cbor_build_bool(cJSON_IsTrue(v));
    }
    if (cJSON_IsNull(v)) {
        return cbor_new_null();
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;

        if (d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d) {
            return cbor_build_uint64((uint64_t)d);
        }
        if (d < 0 && d >= -9007199254740992.0 && d == (double)(int64_t)d) {
            return cbor_build_negint64((uint64_t)(-1 - (int64_t)d));
        }
        return cbor_build_float8(d);
    }
    if (cJSON_IsArray(v)) {
        out = cbor_new_definite_array((size_t)cJSON_GetArraySize(v));
        cJSON_ArrayForEach (child, v) {
            cbor_item_t *c = json_to_cbor(child);

            if (out == NULL || c == NULL || !cbor_array_push(out, c)) {
                if (c != NULL) {
                    cbor_decref(&c);
                }
                if (out != NULL) {
                    cbor_decref(&out);
                }
                return NULL;
            }
            cbor_decref(&c);
        }
        return out;
    }
    if (cJSON_IsObject(v)) {
        out = cbor_new_definite_map((size_t)cJSON_GetArraySize(v));
        cJSON_ArrayForEach (child, v) {
            cbor_item_t *k = cbor_build_string(child->string);
            cbor_item_t *c = json_to_cbor(child);
            bool ok = out != NULL && k != NULL && c != NULL &&
                      cbor_map_add(out, (struct cbor_pair){.key = k, .value = c});

            if (k != NULL) {
                cbor_decref(&k);
            }
            if (c != NULL) {
                cbor_decref(&c);
            }
            if (!ok) {
                if (out != NULL) {
                    cbor_decref(&out);
                }
                return NULL;
            }
        }
        return out;
    }
    return NULL;
}

/* A CBOR request as JSON text (malloc'd); NULL when it is not one CBOR item of the kinds above
 * - then the JSON handlers answer InvalidPayload for the text "x". */
static char *cbor_request_to_json(const void *payload, size_t len)
{
    struct cbor_load_result res;
    cbor_item_t *item;
    cJSON *json;
    char *text;

    if (len == 0) {
        return strdup("");
    }
    if (len > CBOR_REQUEST_MAX) {
        return strdup("x");
    }
    item = cbor_load(payload, len, &res);
    if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != len) {
        if (item != NULL) {
            cbor_decref(&item);
        }
        return strdup("x");
    }
    json = cbor_to_json(item, 0);
    cbor_decref(&item);
    text = json != NULL ? cJSON_PrintUnformatted(json) : strdup("x");
    cJSON_Delete(json);
    return text;
}

/* Re-encodes a JSON reply as CBOR in place. */
static dd_provision_status_t reply_to_cbor(dd_provision_reply_t *reply)
{
    cJSON *json = cJSON_ParseWithLength(reply->payload, reply->len);
    cbor_item_t *item = json != NULL ? json_to_cbor(json) : NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    size_t n;

    cJSON_Delete(json);
    if (item == NULL) {
        return DD_PROVISION_NO_MEMORY;
    }
    n = cbor_serialize_alloc(item, &buf, &cap);
    cbor_decref(&item);
    if (n == 0) {
        free(buf);
        return DD_PROVISION_NO_MEMORY;
    }
    free(reply->payload);
    reply->payload = (char *)buf;
    reply->len = n;
    return DD_PROVISION_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* FORMAT: "json" or "cbor", the last level of a request topic; NULL otherwise. */
static const char *format_of(const char *rest)
{
    return strcmp(rest, "json") == 0 ? "json" : strcmp(rest, "cbor") == 0 ? "cbor" : NULL;
}

/* $aws/provisioning-templates/NAME/provision/FORMAT -> NAME (one level) and FORMAT. */
static const char *template_of(const char *topic, char *name, size_t name_len)
{
    const char *p;
    const char *slash;
    size_t n;

    if (strncmp(topic, TOPIC_TEMPLATES, strlen(TOPIC_TEMPLATES)) != 0) {
        return NULL;
    }
    p = topic + strlen(TOPIC_TEMPLATES);
    slash = strchr(p, '/');
    if (slash == NULL || slash == p ||
        strncmp(slash, TOPIC_PROVISION, strlen(TOPIC_PROVISION)) != 0) {
        return NULL;
    }
    n = (size_t)(slash - p);
    if (n >= name_len) {
        return NULL;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    return format_of(slash + strlen(TOPIC_PROVISION));
}

/* Which operation @p topic asks for (0 create, 1 from CSR, 2 register) and its format. */
static const char *operation_of(const char *topic, int *op, char *name, size_t name_len)
{
    if (strncmp(topic, TOPIC_CREATE, strlen(TOPIC_CREATE)) == 0) {
        *op = 0;
        return format_of(topic + strlen(TOPIC_CREATE));
    }
    if (strncmp(topic, TOPIC_CSR, strlen(TOPIC_CSR)) == 0) {
        *op = 1;
        return format_of(topic + strlen(TOPIC_CSR));
    }
    *op = 2;
    return template_of(topic, name, name_len);
}

bool dd_provision_is_request(const char *topic)
{
    char name[DD_NAME_MAX + 1];
    int op;

    return topic != NULL && operation_of(topic, &op, name, sizeof(name)) != NULL;
}

bool dd_provision_wants_key(const char *topic)
{
    char name[DD_NAME_MAX + 1];
    int op = -1;

    return topic != NULL && operation_of(topic, &op, name, sizeof(name)) != NULL && op == 0;
}

dd_provision_status_t dd_provision_handle(dd_provision_t *prov, const char *topic,
                                          const void *payload, size_t len,
                                          dd_provision_reply_t *reply)
{
    return dd_provision_handle_keyed(prov, topic, payload, len, NULL, reply);
}

dd_provision_status_t dd_provision_handle_keyed(dd_provision_t *prov, const char *topic,
                                                const void *payload, size_t len,
                                                dd_pki_credentials_t *key,
                                                dd_provision_reply_t *reply)
{
    char name[DD_NAME_MAX + 1];
    const char *format;
    char *json = NULL;
    dd_provision_status_t st;
    int op = 0;

    if (reply != NULL) {
        memset(reply, 0, sizeof(*reply));
    }
    if (prov == NULL || topic == NULL || reply == NULL || (payload == NULL && len > 0)) {
        return DD_PROVISION_BAD_PARAMETER;
    }
    format = operation_of(topic, &op, name, sizeof(name));
    if (format == NULL || strlen(topic) + sizeof("/accepted") > sizeof(reply->topic)) {
        return DD_PROVISION_NOT_REQUEST;
    }
    /* CBOR requests go through the JSON code and their replies are re-encoded: one
     * implementation of the operations, AWS's payload-format rule on the wire. */
    if (strcmp(format, "cbor") == 0) {
        json = cbor_request_to_json(payload, len);
        if (json == NULL) {
            return DD_PROVISION_NO_MEMORY;
        }
        payload = json;
        len = strlen(json);
    }
    st = op == 0   ? create_keys(prov, topic, payload, len, key, reply)
         : op == 1 ? create_from_csr(prov, topic, payload, len, reply)
                   : register_thing(prov, topic, name, payload, len, reply);
    free(json);
    if (st == DD_PROVISION_OK && strcmp(format, "cbor") == 0) {
        st = reply_to_cbor(reply);
        if (st != DD_PROVISION_OK) {
            dd_provision_reply_free(reply);
        }
    }
    return st;
}

const char *dd_provision_strerror(dd_provision_status_t status)
{
    switch (status) {
    case DD_PROVISION_OK: return "success";
    case DD_PROVISION_BAD_PARAMETER: return "bad parameter";
    case DD_PROVISION_INVALID: return "template not supported";
    case DD_PROVISION_NOT_REQUEST: return "not a provisioning request topic";
    case DD_PROVISION_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
