/*
 * The audit checks over certificates and CA certificates, with AWS's criteria
 * (docs/reference/ca-certificates.md lists them and where ddlocal differs):
 *
 * - CA_ / DEVICE_CERTIFICATE_EXPIRING_CHECK: an ACTIVE certificate whose notAfter
 *   is within 30 days of the audit's pipeline time (CERTIFICATE_APPROACHING_EXPIRATION)
 *   or past it (CERTIFICATE_EXPIRED).
 * - CA_ / DEVICE_CERTIFICATE_KEY_QUALITY_CHECK: an ACTIVE certificate whose RSA key has the
 *   ROCA fingerprint (CERTIFICATE_KEY_VULNERABILITY_CVE-2017-15361), or whose key is below AWS's
 *   registration minimum (RSA or DSA under 2048 bits, EC under 256 bits;
 *   CERTIFICATE_KEY_LENGTH_BELOW_MINIMUM). The verdict is dd_audit_keyq's.
 * - DEVICE_CERTIFICATE_AGE_CHECK: an ACTIVE device certificate registered for at least
 *   certAgeThresholdInDays (default 365) days (CERTIFICATE_PAST_AGE_THRESHOLD).
 * - REVOKED_CA_ / REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK: an ACTIVE certificate
 *   that its issuer's revocation list (dd_registry_crl_put) lists
 *   (CERTIFICATE_REVOKED_BY_ISSUER).
 * - INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK: an ACTIVE device
 *   certificate whose chain of registered CAs holds an intermediate (not self-signed)
 *   CA that its issuer's list revokes (INTERMEDIATE_CA_REVOKED_BY_ISSUER).
 *
 * "ACTIVE" stands for AWS's "ACTIVE or PENDING_TRANSFER": ddlocal has no transfers.
 * resources_checked counts the certificates a check applies to (the ACTIVE ones).
 * ddlocal's own service certificates are not device certificates and are skipped.
 */
#include "dd_audit_check_internal.h"

#include "dd_audit_certcache.h"
#include "dd_audit_keyq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dd_log.h"
#include "dd_pki.h"

#define DAY_MS (24LL * 3600 * 1000)
#define EXPIRING_DAYS 30
#define AGE_DEFAULT_DAYS 365
#define AGE_MIN_DAYS 30
#define AGE_MAX_DAYS 3652

/* What one run carries through the registry callbacks. */
typedef struct run {
    const dd_audit_world_t *world;
    dd_audit_sink_fn sink;
    void *ctx;
    int64_t checked;
    dd_audit_status_t status; /* first failure or STOPPED */
    STACK_OF(X509_CRL) * crls;
    int64_t age_days;
} run_t;

typedef enum subject { SUBJECT_DEVICE = 0, SUBJECT_CA } subject_t;

/* ---- helpers ------------------------------------------------------------------------- */

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

/* Builds the finding's identifier and hands it to the sink; false = stop. */
static bool report(run_t *r, subject_t subject, const char *id, const char *reason_code,
                   const char *reason, const cJSON *related)
{
    dd_audit_finding_t f;
    cJSON *ident = cJSON_CreateObject();

    if (ident == NULL ||
        cJSON_AddStringToObject(ident,
                                subject == SUBJECT_CA ? "caCertificateId" : "deviceCertificateId",
                                id) == NULL) {
        cJSON_Delete(ident);
        r->status = DD_AUDIT_NO_MEMORY;
        return false;
    }
    memset(&f, 0, sizeof(f));
    f.resource_type = subject == SUBJECT_CA ? "CA_CERTIFICATE" : "DEVICE_CERTIFICATE";
    f.resource_identifier = ident;
    f.related_resources = related;
    f.reason_code = reason_code;
    f.reason = reason;
    if (r->sink(r->ctx, &f) != 0) {
        r->status = DD_AUDIT_STOPPED;
    }
    cJSON_Delete(ident);
    return r->status == DD_AUDIT_OK;
}

static X509 *parse(const char *pem)
{
    X509 *x = NULL;

    return dd_pki_cert_from_pem(pem, strlen(pem), &x) == DD_PKI_OK ? x : NULL;
}

/* The certificate @p id through the task's cache when there is one (one parse per task). */
static X509 *parse_cached(const run_t *r, const char *id, const char *pem)
{
    X509 *x = NULL;

    if (r->world->certs == NULL) {
        return parse(pem);
    }
    return dd_audit_certcache_get(r->world->certs, id, pem, &x) == DD_AUDIT_CERTCACHE_OK ? x : NULL;
}

/* Is @p x listed by a revocation list of its issuer? */
static bool revoked(const run_t *r, X509 *x)
{
    int i;

    for (i = 0; r->crls != NULL && i < sk_X509_CRL_num(r->crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(r->crls, i);
        X509_REVOKED *entry = NULL;
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(x)) == 0 &&
            X509_CRL_get0_by_cert(crl, &entry, x) == 1) {
            return true;
        }
    }
    return false;
}

static int add_crl(void *ctx, const char *pem)
{
    run_t *r = ctx;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    if (crl != NULL && sk_X509_CRL_push(r->crls, crl) <= 0) {
        X509_CRL_free(crl);
        r->status = DD_AUDIT_NO_MEMORY;
        return 1;
    }
    return 0;
}

static dd_audit_status_t load_crls(run_t *r)
{
    r->crls = sk_X509_CRL_new_null();
    if (r->crls == NULL) {
        return DD_AUDIT_NO_MEMORY;
    }
    if (dd_registry_crl_list(r->world->registry, add_crl, r) != DD_REGISTRY_OK) {
        return DD_AUDIT_STATE_ERROR;
    }
    return r->status;
}

/* ---- the per-certificate criteria ------------------------------------------------------ */

typedef bool (*criterion_fn)(run_t *r, subject_t subject, const char *id, X509 *x,
                             int64_t created_ms, const char *ca_id);

static bool expiring(run_t *r, subject_t subject, const char *id, X509 *x, int64_t created_ms,
                     const char *ca_id)
{
    int64_t not_after = 0;
    char reason[160];
    int64_t left;

    (void)created_ms;
    (void)ca_id;
    if (!asn1_ms(X509_get0_notAfter(x), &not_after)) {
        return true;
    }
    left = not_after - r->world->now_ms;
    if (left <= 0) {
        (void)snprintf(reason, sizeof(reason), "Certificate has expired");
        return report(r, subject, id, "CERTIFICATE_EXPIRED", reason, NULL);
    }
    if (left <= EXPIRING_DAYS * DAY_MS) {
        (void)snprintf(reason, sizeof(reason), "Certificate is expiring in %lld days",
                       (long long)((left + DAY_MS - 1) / DAY_MS));
        return report(r, subject, id, "CERTIFICATE_APPROACHING_EXPIRATION", reason, NULL);
    }
    return true;
}

static bool key_quality(run_t *r, subject_t subject, const char *id, X509 *x, int64_t created_ms,
                        const char *ca_id)
{
    EVP_PKEY *key = X509_get0_pubkey(x);
    dd_audit_keyq_result_t q;
    dd_audit_keyq_status_t st;
    char reason[160];

    (void)created_ms;
    (void)ca_id;
    if (key == NULL) {
        return true;
    }
    st = dd_audit_keyq_assess(key, &q);
    if (st == DD_AUDIT_KEYQ_NO_MEMORY) {
        r->status = DD_AUDIT_NO_MEMORY;
        return false;
    }
    if (st != DD_AUDIT_KEYQ_OK) {
        DD_LOG_WARN("audit: key quality of certificate %s: %s", id, dd_audit_keyq_strerror(st));
        return true;
    }
    if (q.verdict == DD_AUDIT_KEYQ_COMPLIANT ||
        dd_audit_keyq_reason(&q, reason, sizeof(reason)) != DD_AUDIT_KEYQ_OK) {
        return true;
    }
    return report(r, subject, id, dd_audit_keyq_reason_code(q.verdict), reason, NULL);
}

static bool age(run_t *r, subject_t subject, const char *id, X509 *x, int64_t created_ms,
                const char *ca_id)
{
    char reason[160];
    int64_t days = (r->world->now_ms - created_ms) / DAY_MS;

    (void)x;
    (void)ca_id;
    if (days < r->age_days) {
        return true;
    }
    (void)snprintf(reason, sizeof(reason),
                   "Certificate has been active for %lld days, at or past the threshold of %lld",
                   (long long)days, (long long)r->age_days);
    return report(r, subject, id, "CERTIFICATE_PAST_AGE_THRESHOLD", reason, NULL);
}

static bool revoked_by_issuer(run_t *r, subject_t subject, const char *id, X509 *x,
                              int64_t created_ms, const char *ca_id)
{
    (void)created_ms;
    (void)ca_id;
    if (!revoked(r, x)) {
        return true;
    }
    return report(r, subject, id, "CERTIFICATE_REVOKED_BY_ISSUER",
                  subject == SUBJECT_CA
                      ? "CA certificate is revoked by its issuer but still ACTIVE"
                      : "Device certificate is revoked by its issuer but still ACTIVE",
                  NULL);
}

/* ---- intermediate CAs ------------------------------------------------------------------- */

typedef struct ca_lookup {
    const char *want_id;      /* by id, or */
    const X509_NAME *subject; /* by subject (the issuer of a CA) */
    X509 *found;
    char id[DD_PKI_CERT_ID_LEN + 1];
} ca_lookup_t;

static int lookup_cb(void *arg, const dd_registry_ca_t *c)
{
    ca_lookup_t *l = arg;
    X509 *x;

    if (l->want_id != NULL && strcmp(l->want_id, c->id) != 0) {
        return 0;
    }
    x = parse(c->pem);
    if (x == NULL) {
        return 0;
    }
    if (l->subject != NULL && X509_NAME_cmp(X509_get_subject_name(x), l->subject) != 0) {
        X509_free(x);
        return 0;
    }
    l->found = x;
    (void)snprintf(l->id, sizeof(l->id), "%s", c->id);
    return 1;
}

/* The registered CA by id, or the one whose subject is @p subject (NULL: none); caller frees. */
static X509 *registered_ca(run_t *r, const char *id, const X509_NAME *subject, char out_id[65])
{
    ca_lookup_t l;

    memset(&l, 0, sizeof(l));
    l.want_id = id;
    l.subject = subject;
    if (dd_registry_ca_list(r->world->registry, NULL, true, lookup_cb, &l, NULL, 0) !=
        DD_REGISTRY_OK) {
        r->status = DD_AUDIT_STATE_ERROR;
    }
    (void)snprintf(out_id, 65, "%s", l.id);
    return l.found;
}

static cJSON *issuer_related(X509 *ca, const char *ca_id)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *rel = cJSON_CreateObject();
    cJSON *rid = cJSON_AddObjectToObject(rel, "resourceIdentifier");
    cJSON *iss = cJSON_AddObjectToObject(rid, "issuerCertificateIdentifier");
    char *subject = X509_NAME_oneline(X509_get_subject_name(ca), NULL, 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
    char *serial = bn != NULL ? BN_bn2hex(bn) : NULL;
    bool ok = arr != NULL && iss != NULL && subject != NULL && serial != NULL &&
              cJSON_AddStringToObject(rel, "resourceType", "ISSUER_CERTIFICATE") != NULL &&
              cJSON_AddStringToObject(iss, "issuerCertificateSubject", subject) != NULL &&
              cJSON_AddStringToObject(iss, "issuerId", ca_id) != NULL &&
              cJSON_AddStringToObject(iss, "issuerCertificateSerialNumber", serial) != NULL &&
              cJSON_AddItemToArray(arr, rel);

    OPENSSL_free(subject);
    OPENSSL_free(serial);
    BN_free(bn);
    if (!ok) {
        if (arr == NULL || cJSON_GetArraySize(arr) == 0) {
            cJSON_Delete(rel);
        }
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

static bool intermediate_revoked(run_t *r, subject_t subject, const char *id, X509 *x,
                                 int64_t created_ms, const char *ca_id)
{
    char cur_id[DD_PKI_CERT_ID_LEN + 1];
    X509 *ca;
    int depth;
    bool go_on = true;

    (void)x;
    (void)created_ms;
    if (ca_id == NULL || ca_id[0] == '\0') {
        return true; /* issued by ddlocal's own root or registered without a CA */
    }
    ca = registered_ca(r, ca_id, NULL, cur_id);
    /* Up the chain of registered CAs; DD_REGISTRY_MAX_GROUP_DEPTH-like bound against loops. */
    for (depth = 0; ca != NULL && depth < 8; depth++) {
        X509 *next;
        char next_id[DD_PKI_CERT_ID_LEN + 1];
        bool self_signed = X509_check_issued(ca, ca) == X509_V_OK;

        if (!self_signed && revoked(r, ca)) {
            cJSON *rel = issuer_related(ca, cur_id);
            char reason[200];
            (void)snprintf(reason, sizeof(reason),
                           "Intermediate CA certificate %.64s is revoked by its issuer", cur_id);
            if (rel == NULL) {
                r->status = DD_AUDIT_NO_MEMORY;
                go_on = false;
            } else {
                go_on = report(r, subject, id, "INTERMEDIATE_CA_REVOKED_BY_ISSUER", reason, rel);
                cJSON_Delete(rel);
            }
            break;
        }
        if (self_signed) {
            break;
        }
        next = registered_ca(r, NULL, X509_get_issuer_name(ca), next_id);
        X509_free(ca);
        ca = next;
        memcpy(cur_id, next_id, sizeof(cur_id));
    }
    X509_free(ca);
    return go_on && r->status == DD_AUDIT_OK;
}

/* ---- the walks --------------------------------------------------------------------------- */

typedef struct walk {
    run_t *r;
    criterion_fn fn;
} walk_t;

static int device_cb(void *arg, const dd_registry_cert_t *c)
{
    walk_t *w = arg;
    X509 *x;
    bool go_on;

    if (c->is_service || c->status != DD_CERT_ACTIVE) {
        return 0;
    }
    w->r->checked++;
    x = parse_cached(w->r, c->id, c->pem);
    if (x == NULL) {
        return 0;
    }
    go_on = w->fn(w->r, SUBJECT_DEVICE, c->id, x, c->created_ms, c->ca_cert_id);
    X509_free(x);
    return go_on ? 0 : 1;
}

static int ca_cb(void *arg, const dd_registry_ca_t *c)
{
    walk_t *w = arg;
    X509 *x;
    bool go_on;

    if (!c->active) {
        return 0;
    }
    w->r->checked++;
    x = parse_cached(w->r, c->id, c->pem);
    if (x == NULL) {
        return 0;
    }
    go_on = w->fn(w->r, SUBJECT_CA, c->id, x, c->created_ms, NULL);
    X509_free(x);
    return go_on ? 0 : 1;
}

/* The certificate age threshold of the check's configuration, in days. */
static int64_t age_threshold(const cJSON *config)
{
    static const char *const KEYS[] = {"CERT_AGE_THRESHOLD_IN_DAYS", "certAgeThresholdInDays"};
    size_t i;

    for (i = 0; config != NULL && i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, KEYS[i]);
        char *end = NULL;
        long long days;
        if (cJSON_IsNumber(v)) {
            days = (long long)v->valuedouble;
        } else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
            days = strtoll(v->valuestring, &end, 10);
            if (*end != '\0') {
                days = -1;
            }
        } else {
            continue;
        }
        if (days >= AGE_MIN_DAYS && days <= AGE_MAX_DAYS) {
            return days;
        }
        DD_LOG_WARN("audit: %s %lld is outside %d..%d; using %d", KEYS[i], days, AGE_MIN_DAYS,
                    AGE_MAX_DAYS, AGE_DEFAULT_DAYS);
    }
    return AGE_DEFAULT_DAYS;
}

static dd_audit_status_t run(const dd_audit_world_t *world, dd_audit_sink_fn sink, void *ctx,
                             int64_t *resources_checked, subject_t subject, criterion_fn fn,
                             bool needs_crls)
{
    run_t r;
    walk_t w;
    dd_registry_status_t rs;

    if (world == NULL || world->registry == NULL || sink == NULL || resources_checked == NULL) {
        return DD_AUDIT_INVALID_ARGUMENT;
    }
    *resources_checked = 0;
    memset(&r, 0, sizeof(r));
    r.world = world;
    r.sink = sink;
    r.ctx = ctx;
    r.status = DD_AUDIT_OK;
    r.age_days = age_threshold(world->check_config);
    if (needs_crls && (r.status = load_crls(&r)) != DD_AUDIT_OK) {
        sk_X509_CRL_pop_free(r.crls, X509_CRL_free);
        return r.status;
    }
    w.r = &r;
    w.fn = fn;
    rs = subject == SUBJECT_CA
             ? dd_registry_ca_list(world->registry, NULL, true, ca_cb, &w, NULL, 0)
             : dd_registry_cert_list(world->registry, NULL, true, device_cb, &w, NULL, 0);
    sk_X509_CRL_pop_free(r.crls, X509_CRL_free);
    *resources_checked = r.checked;
    if (rs != DD_REGISTRY_OK && r.status == DD_AUDIT_OK) {
        return DD_AUDIT_STATE_ERROR;
    }
    return r.status;
}

/* ---- the checks of the catalogue --------------------------------------------------------- */

dd_audit_status_t dd_audit_check_ca_expiring(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                             void *ctx, int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_CA, expiring, false);
}

dd_audit_status_t dd_audit_check_ca_key_quality(const dd_audit_world_t *world,
                                                dd_audit_sink_fn sink, void *ctx,
                                                int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_CA, key_quality, false);
}

dd_audit_status_t dd_audit_check_device_expiring(const dd_audit_world_t *world,
                                                 dd_audit_sink_fn sink, void *ctx,
                                                 int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_DEVICE, expiring, false);
}

dd_audit_status_t dd_audit_check_device_key_quality(const dd_audit_world_t *world,
                                                    dd_audit_sink_fn sink, void *ctx,
                                                    int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_DEVICE, key_quality, false);
}

dd_audit_status_t dd_audit_check_device_age(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                            void *ctx, int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_DEVICE, age, false);
}

dd_audit_status_t dd_audit_check_revoked_ca(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                            void *ctx, int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_CA, revoked_by_issuer, true);
}

dd_audit_status_t dd_audit_check_revoked_device(const dd_audit_world_t *world,
                                                dd_audit_sink_fn sink, void *ctx,
                                                int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_DEVICE, revoked_by_issuer, true);
}

dd_audit_status_t dd_audit_check_intermediate_ca_revoked(const dd_audit_world_t *world,
                                                         dd_audit_sink_fn sink, void *ctx,
                                                         int64_t *resources_checked)
{
    return run(world, sink, ctx, resources_checked, SUBJECT_DEVICE, intermediate_revoked, true);
}
