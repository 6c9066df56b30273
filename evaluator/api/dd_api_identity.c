/* Certificates, thing principals, IoT policies and DescribeEndpoint. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "dd_api_internal.h"

#define NAME_MAX_LEN 128

/* ---- certificates --------------------------------------------------------------------- */

static const char *const CERT_STATUSES[] = {
    "ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE", "PENDING_ACTIVATION",
    NULL};

/* certificateId label: 64 hex characters (AWS's are lowercase; so are ddlocal's). */
static bool cert_id_label(api_ctx_t *ctx, char id[DD_PKI_CERT_ID_LEN + 1])
{
    const char *v = api_label_name(ctx, "certificateId", 64, DD_REST_CERT_ID);
    size_t i;

    if (v == NULL) {
        return false;
    }
    if (strlen(v) != DD_PKI_CERT_ID_LEN) {
        dd_rest_validation_message(ctx->msg, "certificateId", v,
                                   "Member must have length greater than or equal to 64");
        api_invalid(ctx);
        return false;
    }
    for (i = 0; i < DD_PKI_CERT_ID_LEN; i++) {
        id[i] = (char)tolower((unsigned char)v[i]);
    }
    id[DD_PKI_CERT_ID_LEN] = '\0';
    return true;
}

/* A principal given as a certificate ARN (or a bare certificate id). */
static bool principal_cert(api_ctx_t *ctx, const char *principal, char id[DD_PKI_CERT_ID_LEN + 1])
{
    char name[DD_NAME_MAX + 1];

    if (principal == NULL || principal[0] == '\0') {
        dd_rest_validation_message(ctx->msg, "principal", NULL, "Member must not be null");
        api_invalid(ctx);
        return false;
    }
    if (dd_arn_parse(&ctx->p->arn, DD_NAME_CERTIFICATE, principal, name, sizeof(name)) !=
        DD_NAMES_OK) {
        /* A bare certificate id is accepted too. */
        (void)snprintf(name, sizeof(name), "%.64s", principal);
        if (strlen(principal) != DD_PKI_CERT_ID_LEN) {
            name[0] = '\0';
        }
    }
    if (dd_name_valid(DD_NAME_CERTIFICATE, name)) {
        memcpy(id, name, DD_PKI_CERT_ID_LEN);
        id[DD_PKI_CERT_ID_LEN] = '\0';
        return true;
    }
    api_error(ctx, "InvalidRequestException",
              "Principal '%.200s' is not a certificate ARN of %s:%s "
              "(arn:aws:iot:%s:%s:cert/<certificateId>); ddlocal has no other principals",
              principal, ctx->p->arn.region, ctx->p->arn.account, ctx->p->arn.region,
              ctx->p->arn.account);
    return false;
}

static const char *header(const api_ctx_t *ctx, const char *name)
{
    return ctx->req->header != NULL ? ctx->req->header(ctx->req->header_ctx, name) : NULL;
}

void api_create_keys_and_certificate(api_ctx_t *ctx)
{
    dd_pki_credentials_t cred;
    bool active = false;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    cJSON *kp;

    if (dd_rest_query_bool(&ctx->query, "setAsActive", false, &active, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    /* RSA 2048 generation takes tens of ms: done before taking the pipeline lock. */
    memset(&cred, 0, sizeof(cred));
    if (dd_pki_issue_device(ctx->api->ca, DD_PKI_KEY_RSA2048, &cred) != DD_PKI_OK) {
        api_error(ctx, "InternalFailureException", "Could not issue a certificate");
        return;
    }
    api_lock(ctx);
    status = dd_registry_cert_add(&ctx->p->registry, cred.certificate_pem,
                                  active ? DD_CERT_ACTIVE : DD_CERT_INACTIVE, false, id, sizeof(id),
                                  &err);
    if (status != DD_REGISTRY_OK) {
        dd_pki_credentials_free(&cred);
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    api_arn(ctx, DD_NAME_CERTIFICATE, id, arn, sizeof(arn));
    out = cJSON_CreateObject();
    kp = cJSON_CreateObject();
    if (out == NULL || kp == NULL || !api_add_string(out, "certificateArn", arn) ||
        !api_add_string(out, "certificateId", id) ||
        !api_add_string(out, "certificatePem", cred.certificate_pem) ||
        !api_add_string(kp, "PublicKey", cred.public_key_pem) ||
        !api_add_string(kp, "PrivateKey", cred.private_key_pem) ||
        !cJSON_AddItemToObject(out, "keyPair", kp)) {
        cJSON_Delete(kp);
        cJSON_Delete(out);
        out = NULL;
    }
    dd_pki_credentials_free(&cred);
    api_reply(ctx, out);
}

void api_create_certificate_from_csr(api_ctx_t *ctx)
{
    const char *csr;
    bool active = false;
    char *pem = NULL;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    dd_pki_status_t ps;
    cJSON *out;

    if (dd_rest_query_bool(&ctx->query, "setAsActive", false, &active, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "certificateSigningRequest", NULL, true, 1, 4096,
                            DD_REST_ANY, &csr, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    /* Signing needs no generated key: quick enough to do under the dispatcher's lock. */
    ps = dd_pki_issue_from_csr(ctx->api->ca, csr, strlen(csr), &pem, id);
    if (ps == DD_PKI_PARSE_ERROR) {
        api_error(ctx, "InvalidRequestException",
                  "certificateSigningRequest is not a PEM certificate signing request whose "
                  "signature verifies");
        return;
    }
    if (ps != DD_PKI_OK) {
        api_error(ctx, "InternalFailureException", "Could not sign the certificate: %s",
                  dd_pki_strerror(ps));
        return;
    }
    status = dd_registry_cert_add(&ctx->p->registry, pem,
                                  active ? DD_CERT_ACTIVE : DD_CERT_INACTIVE, false, NULL, 0, &err);
    if (status != DD_REGISTRY_OK) {
        free(pem);
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    api_arn(ctx, DD_NAME_CERTIFICATE, id, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "certificateArn", arn) || !api_add_string(out, "certificateId", id) ||
        !api_add_string(out, "certificatePem", pem)) {
        cJSON_Delete(out);
        out = NULL;
    }
    free(pem);
    api_reply(ctx, out);
}

static bool asn1_time_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

typedef struct cert_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool ok;
    bool skip_service;
    bool failed;
    dd_cert_status_t status;
} cert_out_t;

static int describe_cert_cb(void *arg, const dd_registry_cert_t *c)
{
    cert_out_t *co = arg;
    char arn[DD_ARN_MAX];
    cJSON *d = cJSON_CreateObject();
    cJSON *validity = NULL;
    X509 *x = NULL;
    int64_t nb = 0;
    int64_t na = 0;

    api_arn(co->ctx, DD_NAME_CERTIFICATE, c->id, arn, sizeof(arn));
    if (dd_pki_cert_from_pem(c->pem, strlen(c->pem), &x) == DD_PKI_OK &&
        asn1_time_ms(X509_get0_notBefore(x), &nb) && asn1_time_ms(X509_get0_notAfter(x), &na)) {
        validity = cJSON_CreateObject();
        if (validity != NULL && (!dd_rest_add_time(validity, "notBefore", nb) ||
                                 !dd_rest_add_time(validity, "notAfter", na))) {
            cJSON_Delete(validity);
            validity = NULL;
        }
    }
    X509_free(x);
    co->ok = d != NULL && api_add_string(d, "certificateArn", arn) &&
             api_add_string(d, "certificateId", c->id) &&
             api_add_string(d, "status", dd_cert_status_name(c->status)) &&
             api_add_string(d, "certificatePem", c->pem) &&
             api_add_string(d, "ownedBy", co->ctx->p->arn.account) &&
             dd_rest_add_time(d, "creationDate", c->created_ms) &&
             dd_rest_add_time(d, "lastModifiedDate", c->modified_ms) &&
             cJSON_AddNumberToObject(d, "customerVersion", 1) != NULL &&
             (validity == NULL || cJSON_AddItemToObject(d, "validity", validity)) &&
             api_add_string(d, "certificateMode", c->mode) &&
             (c->ca_cert_id[0] == '\0' || api_add_string(d, "caCertificateId", c->ca_cert_id)) &&
             cJSON_AddItemToObject(co->obj, "certificateDescription", d);
    if (!co->ok) {
        cJSON_Delete(d);
    }
    return 0;
}

void api_describe_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    cert_out_t co;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!cert_id_label(ctx, id)) {
        return;
    }
    memset(&co, 0, sizeof(co));
    co.ctx = ctx;
    co.obj = cJSON_CreateObject();
    if (co.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_cert_get(&ctx->p->registry, id, describe_cert_cb, &co, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(co.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!co.ok) {
        cJSON_Delete(co.obj);
        co.obj = NULL;
    }
    api_reply(ctx, co.obj);
}

void api_update_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    int which = 0;
    dd_cert_status_t st;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!cert_id_label(ctx, id)) {
        return;
    }
    if (dd_rest_query_enum(&ctx->query, "newStatus", true, CERT_STATUSES, &which, ctx->msg) !=
        DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!dd_cert_status_parse(CERT_STATUSES[which], &st)) {
        api_error(ctx, "InvalidRequestException",
                  "ddlocal does not support certificate status %s (use ACTIVE, INACTIVE or "
                  "REVOKED)",
                  CERT_STATUSES[which]);
        return;
    }
    status = dd_registry_cert_set_status(&ctx->p->registry, id, st, &err);
    if (status == DD_REGISTRY_INVALID) {
        /* The registry refuses only state changes here: a revoked certificate stays revoked. */
        api_error(ctx, "CertificateStateException", "%s", err.message);
        return;
    }
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

void api_delete_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    bool force = false;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!cert_id_label(ctx, id)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "forceDelete", false, &force, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    status = dd_registry_cert_delete(&ctx->p->registry, id, force, &err);
    if (status == DD_REGISTRY_INVALID) {
        api_error(ctx, "CertificateStateException", "%s", err.message);
        return;
    }
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

static int list_cert_cb(void *arg, const dd_registry_cert_t *c)
{
    cert_out_t *co = arg;
    char arn[DD_ARN_MAX];
    cJSON *item;

    if (c->is_service) {
        return 0; /* ddlocal's own identity is not a device certificate */
    }
    api_arn(co->ctx, DD_NAME_CERTIFICATE, c->id, arn, sizeof(arn));
    item = cJSON_CreateObject();
    if (item == NULL || !api_add_string(item, "certificateArn", arn) ||
        !api_add_string(item, "certificateId", c->id) ||
        !api_add_string(item, "status", dd_cert_status_name(c->status)) ||
        !api_add_string(item, "certificateMode", c->mode) ||
        !dd_rest_add_time(item, "creationDate", c->created_ms) ||
        !cJSON_AddItemToArray(co->obj, item)) {
        cJSON_Delete(item);
        co->failed = true;
        return 1;
    }
    return 0;
}

void api_list_certificates(api_ctx_t *ctx)
{
    cert_out_t co;
    bool ascending = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (!api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "isAscendingOrder", false, &ascending, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    memset(&co, 0, sizeof(co));
    co.ctx = ctx;
    out = cJSON_CreateObject();
    co.obj = cJSON_AddArrayToObject(out, "certificates");
    if (co.obj == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_cert_list(&ctx->p->registry, &page, ascending, list_cert_cb, &co, next,
                                   sizeof(next));
    if (status != DD_REGISTRY_OK || co.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, co.failed ? DD_REGISTRY_STORE_ERROR : status, NULL);
        return;
    }
    if (!api_add_token(out, "nextMarker", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* ---- thing principals --------------------------------------------------------------------- */

static void thing_principal(api_ctx_t *ctx, bool attach)
{
    const char *thing = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    char id[DD_PKI_CERT_ID_LEN + 1];
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (thing == NULL || !principal_cert(ctx, header(ctx, "x-amzn-principal"), id)) {
        return;
    }
    status = attach ? dd_registry_principal_attach(&ctx->p->registry, thing, id, &err)
                    : dd_registry_principal_detach(&ctx->p->registry, thing, id, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

void api_attach_thing_principal(api_ctx_t *ctx)
{
    thing_principal(ctx, true);
}

void api_detach_thing_principal(api_ctx_t *ctx)
{
    thing_principal(ctx, false);
}

/* Names (or ARNs built from them) into an array. */
typedef struct names_out {
    api_ctx_t *ctx;
    cJSON *arr;
    dd_name_kind_t arn_kind; /* DD_NAME_KIND_COUNT: the name itself */
    const char *name_member; /* non-NULL: objects {name_member: name, arn_member: arn} */
    const char *arn_member;
    bool failed;
} names_out_t;

static int names_cb(void *arg, const char *name)
{
    names_out_t *no = arg;
    char arn[DD_ARN_MAX];
    cJSON *item;

    if (no->arn_kind != DD_NAME_KIND_COUNT) {
        api_arn(no->ctx, no->arn_kind, name, arn, sizeof(arn));
    }
    if (no->name_member != NULL) {
        item = cJSON_CreateObject();
        if (item != NULL && (!api_add_string(item, no->name_member, name) ||
                             !api_add_string(item, no->arn_member, arn))) {
            cJSON_Delete(item);
            item = NULL;
        }
    } else {
        item = cJSON_CreateString(no->arn_kind != DD_NAME_KIND_COUNT ? arn : name);
    }
    if (item == NULL || !cJSON_AddItemToArray(no->arr, item)) {
        cJSON_Delete(item);
        no->failed = true;
        return 1;
    }
    return 0;
}

static cJSON *names_start(api_ctx_t *ctx, names_out_t *no, const char *member)
{
    cJSON *out = cJSON_CreateObject();

    no->arr = cJSON_AddArrayToObject(out, member);
    if (no->arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return NULL;
    }
    return out;
}

static void names_finish(api_ctx_t *ctx, cJSON *out, const names_out_t *no,
                         dd_registry_status_t status, const dd_registry_error_t *err,
                         const char *token_member, const char *next)
{
    if (status != DD_REGISTRY_OK || no->failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, no->failed ? DD_REGISTRY_STORE_ERROR : status, err);
        return;
    }
    if (!api_add_token(out, token_member, next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_list_thing_principals(api_ctx_t *ctx)
{
    const char *thing = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    names_out_t no = {ctx, NULL, DD_NAME_CERTIFICATE, NULL, NULL, false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (thing == NULL || !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key) ||
        (out = names_start(ctx, &no, "principals")) == NULL) {
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_thing_principals(&ctx->p->registry, thing, &page, names_cb, &no, next,
                                          sizeof(next), &err);
    names_finish(ctx, out, &no, status, &err, "nextToken", next);
}

void api_list_principal_things(api_ctx_t *ctx)
{
    names_out_t no = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    char id[DD_PKI_CERT_ID_LEN + 1];
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (!principal_cert(ctx, header(ctx, "x-amzn-principal"), id) ||
        !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key) ||
        (out = names_start(ctx, &no, "things")) == NULL) {
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_principal_things(&ctx->p->registry, id, &page, names_cb, &no, next,
                                          sizeof(next), &err);
    names_finish(ctx, out, &no, status, &err, "nextToken", next);
}

/* ---- policies --------------------------------------------------------------------------- */

void api_create_policy(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *doc;
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "policyDocument", NULL, true, 0, 404600, DD_REST_ANY, &doc,
                            ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!api_tags_arg(ctx)) {
        return;
    }
    status = dd_registry_policy_create(&ctx->p->registry, name, doc, &err);
    if (status == DD_REGISTRY_INVALID) {
        /* The name was checked above: the document is what the registry refused. */
        api_error(ctx, "MalformedPolicyException", "%s", err.message);
        return;
    }
    if (status == DD_REGISTRY_ALREADY_EXISTS) {
        api_arn(ctx, DD_NAME_POLICY, name, arn, sizeof(arn));
        api_error_exists(ctx, err.message, name, arn);
        return;
    }
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    if (!api_tags_save(ctx, DD_NAME_POLICY, name)) {
        return;
    }
    api_arn(ctx, DD_NAME_POLICY, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "policyName", name) || !api_add_string(out, "policyArn", arn) ||
        !api_add_string(out, "policyDocument", doc) ||
        !api_add_string(out, "policyVersionId", "1")) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct policy_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool ok;
    bool failed;
} policy_out_t;

static int get_policy_cb(void *arg, const dd_registry_policy_t *pol)
{
    policy_out_t *po = arg;
    char arn[DD_ARN_MAX];

    api_arn(po->ctx, DD_NAME_POLICY, pol->name, arn, sizeof(arn));
    po->ok = api_add_string(po->obj, "policyName", pol->name) &&
             api_add_string(po->obj, "policyArn", arn) &&
             api_add_string(po->obj, "policyDocument", pol->document) &&
             api_add_string(po->obj, "defaultVersionId",
                            pol->version_id[0] != '\0' ? pol->version_id : "1") &&
             dd_rest_add_time(po->obj, "creationDate", pol->created_ms) &&
             dd_rest_add_time(po->obj, "lastModifiedDate", pol->modified_ms);
    return 0;
}

void api_get_policy(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    policy_out_t po = {ctx, NULL, false, false};
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    po.obj = cJSON_CreateObject();
    if (po.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_policy_get(&ctx->p->registry, name, get_policy_cb, &po, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(po.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!po.ok) {
        cJSON_Delete(po.obj);
        po.obj = NULL;
    }
    api_reply(ctx, po.obj);
}

void api_delete_policy(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    status = dd_registry_policy_delete(&ctx->p->registry, name, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

static int list_policy_cb(void *arg, const dd_registry_policy_t *pol)
{
    policy_out_t *po = arg;
    char arn[DD_ARN_MAX];
    cJSON *item = cJSON_CreateObject();

    api_arn(po->ctx, DD_NAME_POLICY, pol->name, arn, sizeof(arn));
    if (item == NULL || !api_add_string(item, "policyName", pol->name) ||
        !api_add_string(item, "policyArn", arn) || !cJSON_AddItemToArray(po->obj, item)) {
        cJSON_Delete(item);
        po->failed = true;
        return 1;
    }
    return 0;
}

void api_list_policies(api_ctx_t *ctx)
{
    policy_out_t po = {ctx, NULL, false, false};
    bool ascending = true;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (!api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "isAscendingOrder", false, &ascending, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    po.obj = cJSON_AddArrayToObject(out, "policies");
    if (po.obj == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_policy_list(&ctx->p->registry, &page, ascending, list_policy_cb, &po, next,
                                     sizeof(next));
    if (status != DD_REGISTRY_OK || po.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, po.failed ? DD_REGISTRY_STORE_ERROR : status, NULL);
        return;
    }
    if (!api_add_token(out, "nextMarker", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* ---- policy versions ------------------------------------------------------------------- */

/* The {policyVersionId} label: [0-9]+ in the model; the registry says why a bad one is refused. */
static const char *version_label(api_ctx_t *ctx)
{
    return api_label_name(ctx, "policyVersionId", 18, DD_REST_ANY);
}

void api_create_policy_version(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *doc;
    bool set_default = false;
    char arn[DD_ARN_MAX];
    char version[DD_REGISTRY_VERSION_ID_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "policyDocument", NULL, true, 0, 404600, DD_REST_ANY, &doc,
                            ctx->msg) != DD_REST_OK ||
        dd_rest_query_bool(&ctx->query, "setAsDefault", false, &set_default, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    status = dd_registry_policy_version_create(&ctx->p->registry, name, doc, set_default, version,
                                               sizeof(version), &err);
    if (status == DD_REGISTRY_INVALID) {
        api_error(ctx, "MalformedPolicyException", "%s", err.message);
        return;
    }
    if (status == DD_REGISTRY_LIMIT_EXCEEDED) {
        api_error(ctx, "VersionsLimitExceededException", "%s", err.message);
        return;
    }
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    if (set_default) {
        ctx->registry_changed = true;
    }
    api_arn(ctx, DD_NAME_POLICY, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "policyArn", arn) || !api_add_string(out, "policyDocument", doc) ||
        !api_add_string(out, "policyVersionId", version) ||
        cJSON_AddBoolToObject(out, "isDefaultVersion", set_default) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

static int get_version_cb(void *arg, const dd_registry_policy_version_t *pv)
{
    policy_out_t *po = arg;
    char arn[DD_ARN_MAX];

    api_arn(po->ctx, DD_NAME_POLICY, pv->policy, arn, sizeof(arn));
    po->ok = api_add_string(po->obj, "policyArn", arn) &&
             api_add_string(po->obj, "policyName", pv->policy) &&
             api_add_string(po->obj, "policyDocument", pv->document) &&
             api_add_string(po->obj, "policyVersionId", pv->version_id) &&
             cJSON_AddBoolToObject(po->obj, "isDefaultVersion", pv->is_default) != NULL &&
             dd_rest_add_time(po->obj, "creationDate", pv->created_ms) &&
             dd_rest_add_time(po->obj, "lastModifiedDate", pv->modified_ms);
    return 0;
}

void api_get_policy_version(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *version = name != NULL ? version_label(ctx) : NULL;
    policy_out_t po = {ctx, NULL, false, false};
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (version == NULL) {
        return;
    }
    po.obj = cJSON_CreateObject();
    if (po.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status =
        dd_registry_policy_version_get(&ctx->p->registry, name, version, get_version_cb, &po, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(po.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!po.ok) {
        cJSON_Delete(po.obj);
        po.obj = NULL;
    }
    api_reply(ctx, po.obj);
}

static int list_version_cb(void *arg, const dd_registry_policy_version_t *pv)
{
    policy_out_t *po = arg;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "versionId", pv->version_id) ||
        cJSON_AddBoolToObject(item, "isDefaultVersion", pv->is_default) == NULL ||
        !dd_rest_add_time(item, "createDate", pv->created_ms) ||
        !cJSON_AddItemToArray(po->obj, item)) {
        cJSON_Delete(item);
        po->failed = true;
        return 1;
    }
    return 0;
}

void api_list_policy_versions(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    policy_out_t po = {ctx, NULL, false, false};
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    out = cJSON_CreateObject();
    po.obj = cJSON_AddArrayToObject(out, "policyVersions");
    if (po.obj == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_policy_version_list(&ctx->p->registry, name, list_version_cb, &po, &err);
    if (status != DD_REGISTRY_OK || po.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, po.failed ? DD_REGISTRY_STORE_ERROR : status, &err);
        return;
    }
    api_reply(ctx, out);
}

void api_delete_policy_version(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *version = name != NULL ? version_label(ctx) : NULL;
    dd_registry_error_t err;

    if (version == NULL) {
        return;
    }
    /* A non-default version is not enforced anywhere: the shim needs no push. */
    api_registry_error(ctx,
                       dd_registry_policy_version_delete(&ctx->p->registry, name, version, &err),
                       &err);
}

void api_set_default_policy_version(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *version = name != NULL ? version_label(ctx) : NULL;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (version == NULL) {
        return;
    }
    status = dd_registry_policy_version_set_default(&ctx->p->registry, name, version, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

static void policy_target(api_ctx_t *ctx, bool attach)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    const char *target;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "target", NULL, true, 1, 2048, DD_REST_ANY, &target,
                            ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    status = attach ? dd_registry_policy_attach(&ctx->p->registry, name, target, &err)
                    : dd_registry_policy_detach(&ctx->p->registry, name, target, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    if (!attach && status == DD_REGISTRY_NOT_FOUND) {
        /* DetachPolicy's model has no ResourceNotFoundException: typed SDKs (Java, Go) would
         * only see an unmodelled error, so a missing policy or target is the modelled 400. */
        status = DD_REGISTRY_INVALID;
    }
    api_registry_error(ctx, status, &err);
}

void api_attach_policy(api_ctx_t *ctx)
{
    policy_target(ctx, true);
}

void api_detach_policy(api_ctx_t *ctx)
{
    policy_target(ctx, false);
}

void api_list_attached_policies(api_ctx_t *ctx)
{
    const char *target = api_label_name(ctx, "target", 2048, DD_REST_ANY);
    names_out_t no = {ctx, NULL, DD_NAME_POLICY, "policyName", "policyArn", false};
    bool recursive = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (target == NULL || !api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "recursive", false, &recursive, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if ((out = names_start(ctx, &no, "policies")) == NULL) {
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_policies_for_target(&ctx->p->registry, target, recursive, &page, names_cb,
                                             &no, next, sizeof(next), &err);
    names_finish(ctx, out, &no, status, &err, "nextMarker", next);
}

void api_list_targets_for_policy(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "policyName", NAME_MAX_LEN, DD_REST_POLICY_NAME);
    names_out_t no = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (name == NULL || !api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &size, key) ||
        (out = names_start(ctx, &no, "targets")) == NULL) {
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_policy_targets(&ctx->p->registry, name, &page, names_cb, &no, next,
                                        sizeof(next), &err);
    names_finish(ctx, out, &no, status, &err, "nextMarker", next);
}

/* ---- endpoint ----------------------------------------------------------------------------- */

void api_describe_endpoint(api_ctx_t *ctx)
{
    static const char *const TYPES[] = {"iot:Data", "iot:Data-ATS", "iot:CredentialProvider",
                                        "iot:Jobs", NULL};
    int which = 1;
    char address[sizeof(ctx->p->mqtt_endpoint)];
    size_t len;
    cJSON *out;

    if (dd_rest_query_enum(&ctx->query, "endpointType", false, TYPES, &which, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (ctx->p->mqtt_endpoint[0] == '\0') {
        api_error(ctx, "InvalidRequestException", "ddlocal's MQTT broker is not running");
        return;
    }
    /* The SDKs take endpointAddress as a host and add port 8883 themselves, so on 8883 the
     * answer is the plain host, as AWS's is. On any other port "host:port" is the only
     * answer that still names the broker; such clients must split it (docs: api.md). */
    (void)snprintf(address, sizeof(address), "%s", ctx->p->mqtt_endpoint);
    len = strlen(address);
    if (len > 5 && strcmp(address + len - 5, ":8883") == 0) {
        address[len - 5] = '\0';
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "endpointAddress", address)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}
