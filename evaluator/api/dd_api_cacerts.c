/*
 * CA certificates (GetRegistrationCode, RegisterCACertificate, DescribeCACertificate,
 * UpdateCACertificate, DeleteCACertificate, ListCACertificates, ListCertificatesByCA) and the
 * registration of device certificates made elsewhere (RegisterCertificate,
 * RegisterCertificateWithoutCA).
 *
 * The signature checks are OpenSSL's; the registry stores what was accepted. A registered CA
 * (and a self-signed certificate registered without a CA) also goes into DIR/pki/trust, the
 * broker's capath, so that devices it signed pass the TLS handshake (dd_pki_trust_add()).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dd_api_internal.h"
#include "dd_log.h"

#define PEM_MAX 65536

static const char *const CA_STATUSES[] = {"ACTIVE", "INACTIVE", NULL};
static const char *const AUTO_REG[] = {"ENABLE", "DISABLE", NULL};
static const char *const MODES[] = {"DEFAULT", "SNI_ONLY", NULL};
static const char *const CERT_STATUSES[] = {
    "ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE", "PENDING_ACTIVATION",
    NULL};

static void ca_arn(const api_ctx_t *ctx, const char *id, char *buf, size_t len)
{
    (void)snprintf(buf, len, "arn:aws:iot:%s:%s:cacert/%s", ctx->p->arn.region, ctx->p->arn.account,
                   id);
}

/* caCertificateId label: 64 hex characters (lowercased like certificate ids). */
static bool ca_id_label(api_ctx_t *ctx, char id[DD_PKI_CERT_ID_LEN + 1])
{
    const char *v = api_label_name(ctx, "caCertificateId", 64, DD_REST_ANY);
    size_t i;

    if (v == NULL) {
        return false;
    }
    if (strlen(v) != DD_PKI_CERT_ID_LEN) {
        dd_rest_validation_message(ctx->msg, "caCertificateId", v,
                                   "Member must have length greater than or equal to 64");
        api_invalid(ctx);
        return false;
    }
    for (i = 0; i < DD_PKI_CERT_ID_LEN; i++) {
        if (!isxdigit((unsigned char)v[i])) {
            dd_rest_validation_message(ctx->msg, "caCertificateId", v,
                                       "Member must satisfy regular expression pattern: "
                                       "(0x)?[a-fA-F0-9]+");
            api_invalid(ctx);
            return false;
        }
        id[i] = (char)tolower((unsigned char)v[i]);
    }
    id[DD_PKI_CERT_ID_LEN] = '\0';
    return true;
}

static bool asn1_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

/* Refuses (CertificateValidationException) a certificate outside its validity period. */
static bool check_validity(api_ctx_t *ctx, X509 *x, const char *what)
{
    int64_t nb = 0;
    int64_t na = 0;
    int64_t now = api_now_ms(ctx);

    if (!asn1_ms(X509_get0_notBefore(x), &nb) || !asn1_ms(X509_get0_notAfter(x), &na)) {
        api_error(ctx, "CertificateValidationException", "The %s has no readable validity", what);
        return false;
    }
    if (now < nb || now > na) {
        api_error(ctx, "CertificateValidationException",
                  "The %s is not within its validity period at the pipeline time", what);
        return false;
    }
    return true;
}

/* A PEM member of the body parsed into @p x; false (answered) when absent-but-required or bad. */
static bool pem_member(api_ctx_t *ctx, const char *name, bool required, const char **pem, X509 **x)
{
    dd_rest_status_t rs = dd_rest_json_string(ctx->body, name, NULL, required, 1, PEM_MAX,
                                              DD_REST_ANY, pem, ctx->msg);

    *x = NULL;
    if (rs == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (rs == DD_REST_ABSENT) {
        *pem = NULL;
        return true;
    }
    if (dd_pki_cert_from_pem(*pem, strlen(*pem), x) != DD_PKI_OK) {
        api_error(ctx, "CertificateValidationException", "%s is not a PEM X.509 certificate", name);
        return false;
    }
    return true;
}

/* registrationConfig as compact JSON text in @p out (malloc'd), NULL when absent. */
static bool registration_config(api_ctx_t *ctx, char **out)
{
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(ctx->body, "registrationConfig");
    const char *v;
    cJSON *copy;

    *out = NULL;
    if (rc == NULL || cJSON_IsNull(rc)) {
        return true;
    }
    if (!cJSON_IsObject(rc)) {
        dd_rest_validation_message(ctx->msg, "registrationConfig", NULL,
                                   "Member must be an object");
        api_invalid(ctx);
        return false;
    }
    if (dd_rest_json_string(rc, "templateBody", "registrationConfig.templateBody", false, 0, 10240,
                            DD_REST_ANY, &v, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(rc, "roleArn", "registrationConfig.roleArn", false, 20, 2048,
                            DD_REST_ANY, &v, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(rc, "templateName", "registrationConfig.templateName", false, 1, 36,
                            DD_REST_NAME_NOCOLON, &v, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    copy = cJSON_Duplicate(rc, 1);
    *out = copy != NULL ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    if (*out == NULL) {
        api_no_memory(ctx);
        return false;
    }
    return true;
}

/* ---- GetRegistrationCode ------------------------------------------------------------- */

void api_get_registration_code(api_ctx_t *ctx)
{
    char code[65];
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out;

    st = dd_registry_registration_code(&ctx->p->registry, code, &err);
    if (st != DD_REGISTRY_OK) {
        api_registry_error(ctx, st, &err);
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "registrationCode", code)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* ---- RegisterCACertificate ------------------------------------------------------------ */

/* The verification certificate: signed by the CA's key, CN = the registration code. */
static bool check_verification(api_ctx_t *ctx, X509 *ca, X509 *ver)
{
    char code[65];
    char cn[256];
    dd_registry_error_t err;
    dd_registry_status_t st;
    EVP_PKEY *key = X509_get0_pubkey(ca);

    if (key == NULL || X509_verify(ver, key) != 1) {
        api_error(ctx, "CertificateValidationException",
                  "The verification certificate is not signed by the CA certificate's key");
        return false;
    }
    st = dd_registry_registration_code(&ctx->p->registry, code, &err);
    if (st != DD_REGISTRY_OK) {
        api_registry_error(ctx, st, &err);
        return false;
    }
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(ver), NID_commonName, cn, (int)sizeof(cn)) <
            0 ||
        strcasecmp(cn, code) != 0) {
        api_error(ctx, "RegistrationCodeValidationException",
                  "The verification certificate's common name is not the registration code "
                  "(GetRegistrationCode)");
        return false;
    }
    return true;
}

void api_register_ca_certificate(api_ctx_t *ctx)
{
    const char *ca_pem = NULL;
    const char *ver_pem = NULL;
    X509 *ca = NULL;
    X509 *ver = NULL;
    bool active = false;
    bool auto_reg = false;
    int mode = 0;
    char *config = NULL;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t st;
    dd_pki_status_t ps;
    cJSON *out = NULL;

    if (dd_rest_query_bool(&ctx->query, "setAsActive", false, &active, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_query_bool(&ctx->query, "allowAutoRegistration", false, &auto_reg, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_enum(ctx->body, "certificateMode", false, MODES, &mode, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!pem_member(ctx, "caCertificate", true, &ca_pem, &ca)) {
        return;
    }
    if (!pem_member(ctx, "verificationCertificate", false, &ver_pem, &ver) ||
        !registration_config(ctx, &config)) {
        goto done;
    }
    if (X509_check_ca(ca) < 1) {
        api_error(ctx, "CertificateValidationException",
                  "caCertificate is not a CA certificate (basicConstraints CA:TRUE)");
        goto done;
    }
    if (!check_validity(ctx, ca, "CA certificate")) {
        goto done;
    }
    if (strcmp(MODES[mode], "DEFAULT") == 0) {
        /* AWS: DEFAULT mode proves possession of the CA's key; SNI_ONLY does not. */
        if (ver == NULL) {
            api_error(ctx, "InvalidRequestException",
                      "verificationCertificate is required when certificateMode is DEFAULT");
            goto done;
        }
        if (!check_verification(ctx, ca, ver)) {
            goto done;
        }
    }
    ps = dd_pki_trust_add(ctx->p->data_dir, ca_pem);
    if (ps != DD_PKI_OK) {
        api_error(ctx, "InternalFailureException",
                  "Could not add the CA certificate to the broker's trust: %s",
                  dd_pki_strerror(ps));
        goto done;
    }
    st = dd_registry_ca_add(&ctx->p->registry, ca_pem, active, auto_reg, MODES[mode], config, id,
                            sizeof(id), &err);
    if (st != DD_REGISTRY_OK) {
        api_registry_error(ctx, st, &err);
        goto done;
    }
    ca_arn(ctx, id, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "certificateArn", arn) || !api_add_string(out, "certificateId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
done:
    X509_free(ca);
    X509_free(ver);
    cJSON_free(config);
}

/* ---- DescribeCACertificate -------------------------------------------------------------- */

typedef struct ca_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool ok;
    bool failed;
    const char *template_name; /* ListCACertificates' filter, NULL = none */
} ca_out_t;

static cJSON *validity_json(const char *pem)
{
    X509 *x = NULL;
    int64_t nb = 0;
    int64_t na = 0;
    cJSON *v = NULL;

    if (dd_pki_cert_from_pem(pem, strlen(pem), &x) == DD_PKI_OK &&
        asn1_ms(X509_get0_notBefore(x), &nb) && asn1_ms(X509_get0_notAfter(x), &na)) {
        v = cJSON_CreateObject();
        if (v != NULL &&
            (!dd_rest_add_time(v, "notBefore", nb) || !dd_rest_add_time(v, "notAfter", na))) {
            cJSON_Delete(v);
            v = NULL;
        }
    }
    X509_free(x);
    return v;
}

static int describe_ca_cb(void *arg, const dd_registry_ca_t *c)
{
    ca_out_t *co = arg;
    char arn[DD_ARN_MAX];
    cJSON *d = cJSON_CreateObject();
    cJSON *validity = validity_json(c->pem);
    cJSON *config = NULL;

    ca_arn(co->ctx, c->id, arn, sizeof(arn));
    co->ok =
        d != NULL && api_add_string(d, "certificateArn", arn) &&
        api_add_string(d, "certificateId", c->id) &&
        api_add_string(d, "status", c->active ? "ACTIVE" : "INACTIVE") &&
        api_add_string(d, "certificatePem", c->pem) &&
        api_add_string(d, "ownedBy", co->ctx->p->arn.account) &&
        dd_rest_add_time(d, "creationDate", c->created_ms) &&
        api_add_string(d, "autoRegistrationStatus", c->auto_registration ? "ENABLE" : "DISABLE") &&
        dd_rest_add_time(d, "lastModifiedDate", c->modified_ms) &&
        cJSON_AddNumberToObject(d, "customerVersion", 1) != NULL &&
        (validity == NULL || cJSON_AddItemToObject(d, "validity", validity)) &&
        api_add_string(d, "certificateMode", c->mode) &&
        cJSON_AddItemToObject(co->obj, "certificateDescription", d);
    if (!co->ok) {
        if (d == NULL || cJSON_GetObjectItem(d, "validity") == NULL) {
            cJSON_Delete(validity);
        }
        cJSON_Delete(d);
        return 0;
    }
    if (strcmp(c->registration_config, "{}") != 0) {
        config = cJSON_Parse(c->registration_config);
        co->ok = config != NULL && cJSON_AddItemToObject(co->obj, "registrationConfig", config);
        if (!co->ok) {
            cJSON_Delete(config);
        }
    }
    return 0;
}

void api_describe_ca_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    ca_out_t co;
    dd_registry_error_t err;
    dd_registry_status_t st;

    if (!ca_id_label(ctx, id)) {
        return;
    }
    memset(&co, 0, sizeof(co));
    co.ctx = ctx;
    co.obj = cJSON_CreateObject();
    if (co.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    st = dd_registry_ca_get(&ctx->p->registry, id, describe_ca_cb, &co, &err);
    if (st != DD_REGISTRY_OK) {
        cJSON_Delete(co.obj);
        api_registry_error(ctx, st, &err);
        return;
    }
    if (!co.ok) {
        cJSON_Delete(co.obj);
        co.obj = NULL;
    }
    api_reply(ctx, co.obj);
}

/* ---- UpdateCACertificate / DeleteCACertificate ------------------------------------------- */

void api_update_ca_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    int status = -1;
    int auto_reg = -1;
    bool remove = false;
    char *config = NULL;
    dd_registry_error_t err;
    dd_registry_status_t st;

    if (!ca_id_label(ctx, id)) {
        return;
    }
    if (dd_rest_query_enum(&ctx->query, "newStatus", false, CA_STATUSES, &status, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "newAutoRegistrationStatus", false, AUTO_REG, &auto_reg,
                           ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_bool(ctx->body, "removeAutoRegistration", false, &remove, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!registration_config(ctx, &config)) {
        return;
    }
    if (remove) {
        auto_reg = 1; /* removeAutoRegistration: DISABLE */
    }
    /* The enums list ACTIVE/ENABLE first: index 0 means 1 (on) for the registry. */
    st = dd_registry_ca_update(&ctx->p->registry, id, status < 0 ? -1 : (status == 0 ? 1 : 0),
                               auto_reg < 0 ? -1 : (auto_reg == 0 ? 1 : 0), config, &err);
    cJSON_free(config);
    if (st == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, st, &err);
}

static int copy_pem_cb(void *arg, const dd_registry_ca_t *c)
{
    char **pem = arg;

    *pem = strdup(c->pem);
    return 0;
}

void api_delete_ca_certificate(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    char *pem = NULL;
    dd_registry_error_t err;
    dd_registry_status_t st;

    if (!ca_id_label(ctx, id)) {
        return;
    }
    st = dd_registry_ca_get(&ctx->p->registry, id, copy_pem_cb, &pem, &err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_ca_delete(&ctx->p->registry, id, &err);
    }
    if (st == DD_REGISTRY_INVALID || st == DD_REGISTRY_DELETE_CONFLICT) {
        /* The model's only refusal of this operation. */
        free(pem);
        api_error(ctx, "CertificateStateException", "%s", err.message);
        return;
    }
    if (st == DD_REGISTRY_OK && pem != NULL &&
        dd_pki_trust_remove(ctx->p->data_dir, pem) != DD_PKI_OK) {
        DD_LOG_WARN("api: CA %s deleted but left in the broker's trust directory", id);
    }
    free(pem);
    api_registry_error(ctx, st, &err);
}

/* ---- ListCACertificates / ListCertificatesByCA ---------------------------------------------- */

static int list_ca_cb(void *arg, const dd_registry_ca_t *c)
{
    ca_out_t *co = arg;
    char arn[DD_ARN_MAX];
    cJSON *item;

    if (co->template_name != NULL) {
        cJSON *config = cJSON_Parse(c->registration_config);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(config, "templateName");
        bool match = cJSON_IsString(t) && strcmp(t->valuestring, co->template_name) == 0;
        cJSON_Delete(config);
        if (!match) {
            return 0;
        }
    }
    ca_arn(co->ctx, c->id, arn, sizeof(arn));
    item = cJSON_CreateObject();
    if (item == NULL || !api_add_string(item, "certificateArn", arn) ||
        !api_add_string(item, "certificateId", c->id) ||
        !api_add_string(item, "status", c->active ? "ACTIVE" : "INACTIVE") ||
        !dd_rest_add_time(item, "creationDate", c->created_ms) ||
        !cJSON_AddItemToArray(co->obj, item)) {
        cJSON_Delete(item);
        co->failed = true;
        return 1;
    }
    return 0;
}

void api_list_ca_certificates(api_ctx_t *ctx)
{
    ca_out_t co;
    bool ascending = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t st;
    cJSON *out;

    memset(&co, 0, sizeof(co));
    co.ctx = ctx;
    if (!api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &page.limit, key)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "isAscendingOrder", false, &ascending, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "templateName", false, 1, 36, DD_REST_NAME_NOCOLON,
                             &co.template_name, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    co.obj = cJSON_AddArrayToObject(out, "certificates");
    if (co.obj == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    st = dd_registry_ca_list(&ctx->p->registry, &page, ascending, list_ca_cb, &co, next,
                             sizeof(next));
    if (st != DD_REGISTRY_OK || co.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, co.failed ? DD_REGISTRY_STORE_ERROR : st, NULL);
        return;
    }
    if (!api_add_token(out, "nextMarker", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

static int list_by_ca_cb(void *arg, const dd_registry_cert_t *c)
{
    ca_out_t *co = arg;
    char arn[DD_ARN_MAX];
    cJSON *item;

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

void api_list_certificates_by_ca(api_ctx_t *ctx)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    ca_out_t co;
    bool ascending = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t st;
    cJSON *out;

    if (!ca_id_label(ctx, id) ||
        !api_page_args(ctx, "pageSize", "marker", API_MAX_PAGE, &page.limit, key)) {
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
    st = dd_registry_ca_cert_list(&ctx->p->registry, id, &page, ascending, list_by_ca_cb, &co, next,
                                  sizeof(next));
    if (st != DD_REGISTRY_OK || co.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, co.failed ? DD_REGISTRY_STORE_ERROR : st, NULL);
        return;
    }
    if (!api_add_token(out, "nextMarker", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* ---- RegisterCertificate / RegisterCertificateWithoutCA ------------------------------------ */

/* The status a registered certificate gets: `status`, else setAsActive, else INACTIVE. */
static bool register_status(api_ctx_t *ctx, dd_cert_status_t *out)
{
    bool active = false;
    int which = -1;

    if (dd_rest_query_bool(&ctx->query, "setAsActive", false, &active, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_enum(ctx->body, "status", false, CERT_STATUSES, &which, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (which < 0) {
        *out = active ? DD_CERT_ACTIVE : DD_CERT_INACTIVE;
        return true;
    }
    if (!dd_cert_status_parse(CERT_STATUSES[which], out)) {
        api_error(ctx, "InvalidRequestException",
                  "ddlocal does not support certificate status %s (use ACTIVE, INACTIVE, REVOKED "
                  "or PENDING_ACTIVATION)",
                  CERT_STATUSES[which]);
        return false;
    }
    return true;
}

typedef struct issuer_find {
    X509 *cert;      /* the device certificate */
    const char *pin; /* caCertificatePem's id, NULL = any */
    char id[DD_PKI_CERT_ID_LEN + 1];
    bool active;
    int matches;
} issuer_find_t;

/* A registered CA whose subject is the certificate's issuer and whose key signed it. */
static int issuer_cb(void *arg, const dd_registry_ca_t *c)
{
    issuer_find_t *f = arg;
    X509 *ca = NULL;

    if (f->pin != NULL && strcmp(f->pin, c->id) != 0) {
        return 0;
    }
    if (dd_pki_cert_from_pem(c->pem, strlen(c->pem), &ca) == DD_PKI_OK &&
        X509_check_issued(ca, f->cert) == X509_V_OK &&
        X509_verify(f->cert, X509_get0_pubkey(ca)) == 1) {
        if (f->matches == 0) {
            (void)snprintf(f->id, sizeof(f->id), "%s", c->id);
            f->active = c->active;
        }
        f->matches++;
    }
    X509_free(ca);
    return 0;
}

void api_register_certificate(api_ctx_t *ctx)
{
    const char *pem = NULL;
    const char *ca_pem = NULL;
    X509 *x = NULL;
    X509 *pin = NULL;
    char pin_id[DD_PKI_CERT_ID_LEN + 1];
    issuer_find_t find;
    dd_cert_status_t status;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out;

    if (!register_status(ctx, &status) || !pem_member(ctx, "certificatePem", true, &pem, &x)) {
        return;
    }
    if (!pem_member(ctx, "caCertificatePem", false, &ca_pem, &pin) ||
        !check_validity(ctx, x, "certificate")) {
        goto done;
    }
    memset(&find, 0, sizeof(find));
    find.cert = x;
    if (pin != NULL) {
        if (dd_pki_cert_id_from_x509(pin, pin_id) != DD_PKI_OK) {
            api_error(ctx, "CertificateValidationException", "caCertificatePem is unreadable");
            goto done;
        }
        find.pin = pin_id;
    }
    if (dd_registry_ca_list(&ctx->p->registry, NULL, true, issuer_cb, &find, NULL, 0) !=
        DD_REGISTRY_OK) {
        api_registry_error(ctx, DD_REGISTRY_STORE_ERROR, NULL);
        goto done;
    }
    if (find.matches == 0) {
        api_error(ctx, "CertificateValidationException",
                  "The certificate is not signed by a registered CA certificate "
                  "(RegisterCACertificate)%s",
                  pin != NULL ? " matching caCertificatePem" : "");
        goto done;
    }
    if (find.matches > 1 && pin == NULL) {
        api_error(ctx, "CertificateConflictException",
                  "More than one registered CA certificate could have signed this certificate; "
                  "give caCertificatePem");
        goto done;
    }
    if (!find.active) {
        api_error(ctx, "CertificateStateException", "CA certificate %s is INACTIVE", find.id);
        goto done;
    }
    st = dd_registry_cert_register(&ctx->p->registry, pem, status, find.id, id, sizeof(id), &err);
    if (st != DD_REGISTRY_OK) {
        api_registry_error(ctx, st, &err);
        goto done;
    }
    ctx->registry_changed = true;
    api_arn(ctx, DD_NAME_CERTIFICATE, id, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "certificateArn", arn) || !api_add_string(out, "certificateId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
done:
    X509_free(x);
    X509_free(pin);
}

void api_register_certificate_without_ca(api_ctx_t *ctx)
{
    const char *pem = NULL;
    X509 *x = NULL;
    dd_cert_status_t status;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out;

    if (!register_status(ctx, &status) || !pem_member(ctx, "certificatePem", true, &pem, &x)) {
        return;
    }
    if (!check_validity(ctx, x, "certificate")) {
        X509_free(x);
        return;
    }
    /* Only a self-signed certificate can be its own trust anchor at the broker: one from an
     * issuer the broker does not trust fails the TLS handshake (docs/reference/ca-certificates.md). */
    if (X509_check_issued(x, x) == X509_V_OK &&
        dd_pki_trust_add(ctx->p->data_dir, pem) != DD_PKI_OK) {
        X509_free(x);
        api_error(ctx, "InternalFailureException",
                  "Could not add the certificate to the broker's trust");
        return;
    }
    X509_free(x);
    st = dd_registry_cert_register(&ctx->p->registry, pem, status, NULL, id, sizeof(id), &err);
    if (st != DD_REGISTRY_OK) {
        api_registry_error(ctx, st, &err);
        return;
    }
    ctx->registry_changed = true;
    api_arn(ctx, DD_NAME_CERTIFICATE, id, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "certificateArn", arn) || !api_add_string(out, "certificateId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}
