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
 *   CERTIFICATE_KEY_LENGTH_BELOW_MINIMUM). The verdict is dd_keyq's.
 * - DEVICE_CERTIFICATE_AGE_CHECK: an ACTIVE device certificate registered for at least
 *   certAgeThresholdInDays (default 365) days (CERTIFICATE_PAST_AGE_THRESHOLD).
 * - REVOKED_CA_ / REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK: an ACTIVE certificate
 *   that its issuer's revocation list (dd_registry_crl_put) lists
 *   (CERTIFICATE_REVOKED_BY_ISSUER).
 * - INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK: an ACTIVE device
 *   certificate whose chain of registered CAs holds an intermediate (not self-signed)
 *   CA that its issuer's list revokes (INTERMEDIATE_CA_REVOKED_BY_ISSUER).
 *
 * The criteria read the facts the registry stored when the certificate was registered
 * (dd_certfacts.h: validity, key, its ROCA verdict, name hashes, serial), not the PEM:
 * parsing 10,000 PEMs was most of an audit's time. The X509 is parsed (through the task's
 * cache) only for a row without facts, for an RSA key without a stored verdict, to confirm a
 * revocation list's hit, and for the chain of registered
 * CAs, which is walked once per CA per check, not once per device certificate.
 *
 * "ACTIVE" stands for AWS's "ACTIVE or PENDING_TRANSFER": ddlocal has no transfers.
 * resources_checked counts the certificates a check applies to (the ACTIVE ones).
 * ddlocal's own service certificates are not device certificates and are skipped.
 */
#include "dd_audit_check_internal.h"

#include "dd_audit_certcache.h"
#include "dd_keyq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dd_certfacts.h"
#include "dd_log.h"
#include "dd_pki.h"

#define DAY_MS (24LL * 3600 * 1000)
#define EXPIRING_DAYS 30
#define AGE_DEFAULT_DAYS 365
#define AGE_MIN_DAYS 30
#define AGE_MAX_DAYS 3652

/* What INTERMEDIATE_CA_REVOKED_... found up the chain of one registered CA. */
typedef struct chain_verdict {
    char ca_id[DD_PKI_CERT_ID_LEN + 1];
    bool revoked;                            /* an intermediate CA of the chain is revoked */
    char revoked_id[DD_PKI_CERT_ID_LEN + 1]; /* that CA */
    cJSON *related;                          /* its ISSUER_CERTIFICATE related resource */
} chain_verdict_t;

/* What one run carries through the registry callbacks. */
typedef struct run {
    const dd_audit_world_t *world;
    dd_audit_sink_fn sink;
    void *ctx;
    int64_t checked;
    dd_audit_status_t status; /* first failure or STOPPED */
    STACK_OF(X509_CRL) * crls;
    uint32_t *crl_issuer_hash; /* X509_NAME_hash_ex of each CRL's issuer, as crls */
    int64_t age_days;
    chain_verdict_t *chains; /* one per CA id met, so the chain is walked once */
    size_t nchains;
} run_t;

typedef enum subject { SUBJECT_DEVICE = 0, SUBJECT_CA } subject_t;

/* One certificate as a criterion sees it: the stored facts, the X509 only on demand. */
typedef struct cert_view {
    subject_t subject;
    const char *id;
    const char *pem;
    int64_t created_ms;
    const char *ca_id;           /* device: registered CA or ""; CA: NULL */
    const dd_certfacts_t *facts; /* the row's, or &read when the row has none */
    dd_certfacts_t read;         /* facts read from x for a row stored without them */
    bool not_after_ok;           /* facts->not_after_ms is the certificate's notAfter */
    X509 *x;                     /* parsed by x509_of() (or for a row without facts); freed
                                    by the walk */
} cert_view_t;

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

/* The certificate's X509, parsed on the first request (NULL: its PEM does not parse). */
static X509 *x509_of(const run_t *r, cert_view_t *v)
{
    if (v->x == NULL) {
        v->x = parse_cached(r, v->id, v->pem);
    }
    return v->x;
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

/*
 * Could a revocation list of its issuer list the certificate of @p f? Equal names have
 * equal hashes and X509_CRL_get0_by_serial() finds every entry X509_CRL_get0_by_cert()
 * finds when the issuers are equal, so "no" is exact and "yes" is confirmed on the X509.
 */
static bool maybe_revoked(const run_t *r, const dd_certfacts_t *f)
{
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    bool maybe = false;
    int i;

    for (i = 0; !maybe && r->crls != NULL && i < sk_X509_CRL_num(r->crls); i++) {
        X509_REVOKED *entry = NULL;
        if (r->crl_issuer_hash[i] != f->issuer_hash) {
            continue;
        }
        if (serial == NULL && f->serial[0] != '\0' && BN_hex2bn(&bn, f->serial) > 0) {
            serial = BN_to_ASN1_INTEGER(bn, NULL);
        }
        /* A serial that did not fit or convert: let the X509 decide. */
        maybe = serial == NULL ||
                X509_CRL_get0_by_serial(sk_X509_CRL_value(r->crls, i), &entry, serial) != 0;
    }
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return maybe;
}

static int add_crl(void *ctx, const char *pem)
{
    run_t *r = ctx;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
    uint32_t *hashes;
    int n;
    int ok = 0;
    unsigned long h;

    BIO_free(bio);
    if (crl == NULL) {
        return 0;
    }
    h = X509_NAME_hash_ex(X509_CRL_get_issuer(crl), NULL, NULL, &ok);
    n = sk_X509_CRL_num(r->crls);
    hashes = realloc(r->crl_issuer_hash, ((size_t)n + 1) * sizeof(*hashes));
    if (hashes != NULL) {
        r->crl_issuer_hash = hashes;
    }
    if (ok != 1 || hashes == NULL || sk_X509_CRL_push(r->crls, crl) <= 0) {
        X509_CRL_free(crl);
        r->status = DD_AUDIT_NO_MEMORY;
        return 1;
    }
    hashes[n] = (uint32_t)h;
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

typedef bool (*criterion_fn)(run_t *r, cert_view_t *v);

static bool expiring(run_t *r, cert_view_t *v)
{
    char reason[160];
    int64_t left;

    if (!v->not_after_ok) {
        return true;
    }
    left = v->facts->not_after_ms - r->world->now_ms;
    if (left <= 0) {
        (void)snprintf(reason, sizeof(reason), "Certificate has expired");
        return report(r, v->subject, v->id, "CERTIFICATE_EXPIRED", reason, NULL);
    }
    if (left <= EXPIRING_DAYS * DAY_MS) {
        (void)snprintf(reason, sizeof(reason), "Certificate is expiring in %lld days",
                       (long long)((left + DAY_MS - 1) / DAY_MS));
        return report(r, v->subject, v->id, "CERTIFICATE_APPROACHING_EXPIRATION", reason, NULL);
    }
    return true;
}

/* An RSA key without a stored verdict (registered before the registry stored it, or with a
 * modulus that could not be read then): the ROCA test (dd_keyq) reads the modulus, so the
 * certificate is parsed (once per task, cached). */
static bool rsa_key_quality(run_t *r, cert_view_t *v)
{
    X509 *x = x509_of(r, v);
    EVP_PKEY *key = x != NULL ? X509_get0_pubkey(x) : NULL;
    dd_keyq_result_t q;
    dd_keyq_status_t st;
    char reason[160];

    if (key == NULL) {
        return true;
    }
    st = dd_keyq_assess(key, &q);
    if (st == DD_KEYQ_NO_MEMORY) {
        r->status = DD_AUDIT_NO_MEMORY;
        return false;
    }
    if (st != DD_KEYQ_OK) {
        DD_LOG_WARN("audit: key quality of certificate %s: %s", v->id, dd_keyq_strerror(st));
        return true;
    }
    if (q.verdict == DD_KEYQ_COMPLIANT ||
        dd_keyq_reason(&q, reason, sizeof(reason)) != DD_KEYQ_OK) {
        return true;
    }
    return report(r, v->subject, v->id, dd_keyq_reason_code(q.verdict), reason, NULL);
}

static bool key_quality(run_t *r, cert_view_t *v)
{
    const char *type = v->facts->key_type;
    int bits = v->facts->key_bits;
    int min = 0;
    char reason[160];

    if (strcmp(type, "RSA") == 0 || strcmp(type, "RSA-PSS") == 0) {
        dd_keyq_result_t q;
        if (!v->facts->key_assessed) {
            return rsa_key_quality(r, v);
        }
        /* The verdict stored at registration: the same result dd_keyq_assess() gives, so
         * the same reason text and code, without the PEM. */
        if (dd_keyq_judge(DD_KEYQ_TYPE_RSA, bits, v->facts->roca, &q) != DD_KEYQ_OK ||
            q.verdict == DD_KEYQ_COMPLIANT ||
            dd_keyq_reason(&q, reason, sizeof(reason)) != DD_KEYQ_OK) {
            return true;
        }
        return report(r, v->subject, v->id, dd_keyq_reason_code(q.verdict), reason, NULL);
    }
    if (strcmp(type, "DSA") == 0) {
        min = 2048;
    } else if (strcmp(type, "EC") == 0) {
        min = 256;
    }
    if (min == 0 || bits >= min) {
        return true;
    }
    (void)snprintf(reason, sizeof(reason), "%s key of %d bits is shorter than %d bits",
                   strcmp(type, "EC") == 0 ? "EC" : "DSA", bits, min);
    return report(r, v->subject, v->id, "CERTIFICATE_KEY_LENGTH_BELOW_MINIMUM", reason, NULL);
}

static bool age(run_t *r, cert_view_t *v)
{
    char reason[160];
    int64_t days = (r->world->now_ms - v->created_ms) / DAY_MS;

    if (days < r->age_days) {
        return true;
    }
    (void)snprintf(reason, sizeof(reason),
                   "Certificate has been active for %lld days, at or past the threshold of %lld",
                   (long long)days, (long long)r->age_days);
    return report(r, v->subject, v->id, "CERTIFICATE_PAST_AGE_THRESHOLD", reason, NULL);
}

static bool revoked_by_issuer(run_t *r, cert_view_t *v)
{
    X509 *x;

    if (v->x == NULL && !maybe_revoked(r, v->facts)) {
        return true;
    }
    x = x509_of(r, v);
    if (x == NULL || !revoked(r, x)) {
        return true;
    }
    return report(r, v->subject, v->id, "CERTIFICATE_REVOKED_BY_ISSUER",
                  v->subject == SUBJECT_CA
                      ? "CA certificate is revoked by its issuer but still ACTIVE"
                      : "Device certificate is revoked by its issuer but still ACTIVE",
                  NULL);
}

/* ---- intermediate CAs ------------------------------------------------------------------- */

typedef struct ca_lookup {
    const char *want_id;      /* by id, or */
    const X509_NAME *subject; /* by subject (the issuer of a CA) */
    uint32_t subject_hash;    /* its hash: the stored facts rule most CAs out unparsed */
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
    if (l->subject != NULL && c->facts_known && c->facts.subject_hash != l->subject_hash) {
        return 0; /* different hashes: different names */
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
    int ok = 1;

    memset(&l, 0, sizeof(l));
    l.want_id = id;
    l.subject = subject;
    if (subject != NULL) {
        l.subject_hash = (uint32_t)X509_NAME_hash_ex(subject, NULL, NULL, &ok);
    }
    if (ok != 1 || dd_registry_ca_list(r->world->registry, NULL, true, lookup_cb, &l, NULL, 0) !=
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

/* Walks up the chain of registered CAs from @p ca_id into @p v; false: a failure (r->status). */
static bool walk_chain(run_t *r, const char *ca_id, chain_verdict_t *v)
{
    char cur_id[DD_PKI_CERT_ID_LEN + 1];
    X509 *ca;
    int depth;

    ca = registered_ca(r, ca_id, NULL, cur_id);
    /* Up the chain of registered CAs; DD_REGISTRY_MAX_GROUP_DEPTH-like bound against loops. */
    for (depth = 0; ca != NULL && depth < 8; depth++) {
        X509 *next;
        char next_id[DD_PKI_CERT_ID_LEN + 1];
        bool self_signed = X509_check_issued(ca, ca) == X509_V_OK;

        if (!self_signed && revoked(r, ca)) {
            v->revoked = true;
            (void)snprintf(v->revoked_id, sizeof(v->revoked_id), "%s", cur_id);
            v->related = issuer_related(ca, cur_id);
            if (v->related == NULL) {
                r->status = DD_AUDIT_NO_MEMORY;
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
    return r->status == DD_AUDIT_OK;
}

/* The verdict of the chain above @p ca_id, walked on its first request in this run. */
static const chain_verdict_t *chain_of(run_t *r, const char *ca_id)
{
    chain_verdict_t *grown;
    chain_verdict_t *v;
    size_t i;

    /* Linear: a registry has a handful of CAs, and the device certificates' thousands. */
    for (i = 0; i < r->nchains; i++) {
        if (strcmp(r->chains[i].ca_id, ca_id) == 0) {
            return &r->chains[i];
        }
    }
    grown = realloc(r->chains, (r->nchains + 1) * sizeof(*grown));
    if (grown == NULL) {
        r->status = DD_AUDIT_NO_MEMORY;
        return NULL;
    }
    r->chains = grown;
    v = &r->chains[r->nchains++];
    memset(v, 0, sizeof(*v));
    (void)snprintf(v->ca_id, sizeof(v->ca_id), "%s", ca_id);
    return walk_chain(r, ca_id, v) ? v : NULL;
}

static bool intermediate_revoked(run_t *r, cert_view_t *v)
{
    const chain_verdict_t *chain;
    char reason[200];

    if (v->ca_id == NULL || v->ca_id[0] == '\0') {
        return true; /* issued by ddlocal's own root or registered without a CA */
    }
    chain = chain_of(r, v->ca_id);
    if (chain == NULL) {
        return false;
    }
    if (!chain->revoked) {
        return true;
    }
    (void)snprintf(reason, sizeof(reason),
                   "Intermediate CA certificate %.64s is revoked by its issuer", chain->revoked_id);
    return report(r, v->subject, v->id, "INTERMEDIATE_CA_REVOKED_BY_ISSUER", reason,
                  chain->related);
}

/* ---- the walks --------------------------------------------------------------------------- */

typedef struct walk {
    run_t *r;
    criterion_fn fn;
} walk_t;

/* Runs the criterion over one certificate: its stored facts, else its X509's. */
static int judge(walk_t *w, cert_view_t *v, bool facts_known, const dd_certfacts_t *stored)
{
    bool go_on;

    w->r->checked++;
    if (facts_known) {
        v->facts = stored;
        v->not_after_ok = true;
    } else {
        /* Stored without facts: the X509 decides, as before the facts existed. */
        if (x509_of(w->r, v) == NULL) {
            return 0;
        }
        (void)dd_certfacts_from_x509(v->x, &v->read);
        v->facts = &v->read;
        v->not_after_ok = dd_certfacts_time_ms(X509_get0_notAfter(v->x), &v->read.not_after_ms) ==
                          DD_CERTFACTS_OK;
    }
    go_on = w->fn(w->r, v);
    X509_free(v->x);
    v->x = NULL;
    return go_on ? 0 : 1;
}

static int device_cb(void *arg, const dd_registry_cert_t *c)
{
    cert_view_t v;

    if (c->is_service || c->status != DD_CERT_ACTIVE) {
        return 0;
    }
    memset(&v, 0, sizeof(v));
    v.subject = SUBJECT_DEVICE;
    v.id = c->id;
    v.pem = c->pem;
    v.created_ms = c->created_ms;
    v.ca_id = c->ca_cert_id;
    return judge(arg, &v, c->facts_known, &c->facts);
}

static int ca_cb(void *arg, const dd_registry_ca_t *c)
{
    cert_view_t v;

    if (!c->active) {
        return 0;
    }
    memset(&v, 0, sizeof(v));
    v.subject = SUBJECT_CA;
    v.id = c->id;
    v.pem = c->pem;
    v.created_ms = c->created_ms;
    return judge(arg, &v, c->facts_known, &c->facts);
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

static void run_free(run_t *r)
{
    size_t i;

    sk_X509_CRL_pop_free(r->crls, X509_CRL_free);
    r->crls = NULL;
    free(r->crl_issuer_hash);
    r->crl_issuer_hash = NULL;
    for (i = 0; i < r->nchains; i++) {
        cJSON_Delete(r->chains[i].related);
    }
    free(r->chains);
    r->chains = NULL;
    r->nchains = 0;
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
        run_free(&r);
        return r.status;
    }
    w.r = &r;
    w.fn = fn;
    rs = subject == SUBJECT_CA
             ? dd_registry_ca_list(world->registry, NULL, true, ca_cb, &w, NULL, 0)
             : dd_registry_cert_list(world->registry, NULL, true, device_cb, &w, NULL, 0);
    run_free(&r);
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
