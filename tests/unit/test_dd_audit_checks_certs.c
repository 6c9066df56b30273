/* The certificate audit checks over certificates made here with OpenSSL: compliant ones and
 * short keys, ones expiring soon or expired, old ones, and CAs and devices revoked by their
 * issuer's list. Time is the world's now_ms (the pipeline clock), never the wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dd_audit_certcache.h"
#include "dd_audit_check.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_registry.h"
#include "dd_testkeys.h"

#define NOW 1700000000000LL
#define DAY (24LL * 3600 * 1000)

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_auditcerts_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    if (dd_db_open(path, false, &f->db) != DD_DB_OK) {
        return -1;
    }
    (void)dd_clock_init_manual(&f->clock, NOW);
    if (dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_db_close(f->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- certificates made for the test ---------------------------------------------------- */

typedef struct made {
    EVP_PKEY *key;
    X509 *cert;
    char *pem;
} made_t;

static EVP_PKEY *new_key(int rsa_bits)
{
    EVP_PKEY *k = rsa_bits > 0 ? EVP_RSA_gen((unsigned)rsa_bits) : EVP_EC_gen("prime256v1");
    assert_non_null(k);
    return k;
}

static char *pem_of(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    char *out;
    long n;

    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    n = BIO_get_mem_data(bio, &data);
    out = calloc(1, (size_t)n + 1);
    memcpy(out, data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* A certificate for @p key (taken over), valid [from, to] (epoch ms), signed by @p issuer (NULL:
 * self, which needs the private key). */
static made_t make_key(const char *cn, EVP_PKEY *key, const made_t *issuer, int64_t from,
                       int64_t to, bool ca, long serial)
{
    made_t m;
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    m.key = key;
    m.cert = X509_new();
    assert_non_null(m.cert);
    assert_int_equal(X509_set_version(m.cert, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(m.cert), serial), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                                -1, -1, 0),
                     1);
    assert_int_equal(X509_set_subject_name(m.cert, name), 1);
    assert_int_equal(X509_set_issuer_name(m.cert, issuer != NULL
                                                      ? X509_get_subject_name(issuer->cert)
                                                      : name),
                     1);
    X509_NAME_free(name);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(m.cert), (time_t)(from / 1000)));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(m.cert), (time_t)(to / 1000)));
    assert_int_equal(X509_set_pubkey(m.cert, m.key), 1);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer->cert : m.cert, m.cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(m.cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(m.cert, issuer != NULL ? issuer->key : m.key, EVP_sha256()) > 0);
    m.pem = pem_of(m.cert);
    return m;
}

/* A certificate for a new key (RSA of @p rsa_bits bits, 0: EC P-256). */
static made_t make(const char *cn, int rsa_bits, const made_t *issuer, int64_t from, int64_t to,
                   bool ca, long serial)
{
    return make_key(cn, new_key(rsa_bits), issuer, from, to, ca, serial);
}

/* A certificate whose public key has the ROCA fingerprint (dd_testkeys.h), signed by @p issuer. */
static made_t make_roca(const char *cn, int bits, uint32_t seed, const made_t *issuer, bool ca,
                        long serial)
{
    BIGNUM *n = dd_testkeys_roca_modulus(bits, seed);
    EVP_PKEY *key = dd_testkeys_rsa_public(n);

    BN_free(n);
    return make_key(cn, key, issuer, NOW - DAY, NOW + 365 * DAY, ca, serial);
}

static void made_free(made_t *m)
{
    EVP_PKEY_free(m->key);
    X509_free(m->cert);
    free(m->pem);
}

/* A revocation list of @p issuer revoking the certificate @p victim. */
static char *crl_revoking(const made_t *issuer, const made_t *victim)
{
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)(NOW / 1000 - 3600));
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    char *out;
    long n;

    assert_int_equal(X509_CRL_set_version(crl, 1), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->cert)), 1);
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
    assert_int_equal(X509_REVOKED_set_serialNumber(rev, (ASN1_INTEGER *)X509_get0_serialNumber(
                                                            victim->cert)),
                     1);
    assert_int_equal(X509_REVOKED_set_revocationDate(rev, t), 1);
    assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
    assert_true(X509_CRL_sign(crl, issuer->key, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
    n = BIO_get_mem_data(bio, &data);
    out = calloc(1, (size_t)n + 1);
    memcpy(out, data, (size_t)n);
    BIO_free(bio);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return out;
}

/* ---- the sink ------------------------------------------------------------------------------ */

typedef struct findings {
    int count;
    int stop_after; /* 0 = never */
    char ids[8][65];
    char codes[8][64];
    char reasons[8][160];
    char types[8][32];
    char related_issuer[8][65];
} findings_t;

static int sink(void *ctx, const dd_audit_finding_t *f)
{
    findings_t *s = ctx;
    const cJSON *id = cJSON_GetObjectItem(f->resource_identifier, "deviceCertificateId");

    if (id == NULL) {
        id = cJSON_GetObjectItem(f->resource_identifier, "caCertificateId");
    }
    assert_non_null(id);
    assert_non_null(f->reason);
    if (s->count < 8) {
        snprintf(s->ids[s->count], 65, "%s", id->valuestring);
        snprintf(s->codes[s->count], 64, "%s", f->reason_code);
        snprintf(s->reasons[s->count], 160, "%s", f->reason);
        snprintf(s->types[s->count], 32, "%s", f->resource_type);
        if (f->related_resources != NULL) {
            const cJSON *iss =
                cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(f->related_resources, 0),
                                                        "resourceIdentifier"),
                                    "issuerCertificateIdentifier");
            snprintf(s->related_issuer[s->count], 65, "%s",
                     cJSON_GetObjectItem(iss, "issuerId")->valuestring);
        }
    }
    s->count++;
    return s->stop_after > 0 && s->count >= s->stop_after;
}

/* Runs the check as a task does (with a certificate cache), without the cache, over rows
 * without their stored facts (as before registry migration 7: every PEM parsed) and over rows
 * with facts but no key verdict (as migration 7 stored them before the ROCA verdict was: RSA
 * keys parsed): all four give the same answer. */
static dd_audit_status_t run_check(fixture_t *f, const char *name, int64_t now, const cJSON *config,
                                   findings_t *out, int64_t *checked)
{
    dd_audit_world_t world = {&f->reg, NULL, now, config, NULL};
    const dd_audit_check_def_t *check = dd_audit_check_find(name);
    dd_audit_certcache_t *cache = NULL;
    findings_t plain;
    findings_t parsed;
    findings_t unjudged;
    int64_t plain_checked = -1;
    int64_t parsed_checked = -1;
    int64_t unjudged_checked = -1;
    dd_audit_status_t plain_st;
    dd_audit_status_t parsed_st;
    dd_audit_status_t unjudged_st;
    dd_audit_status_t st;

    assert_non_null(check);
    assert_non_null(check->run);
    memcpy(&plain, out, sizeof(plain));
    memcpy(&parsed, out, sizeof(parsed));
    memcpy(&unjudged, out, sizeof(unjudged));
    plain_st = dd_audit_check_run(check, &world, sink, &plain, &plain_checked);
    assert_int_equal(dd_db_exec(f->db, "SAVEPOINT nofacts;"
                                       "UPDATE certificates SET not_after_ms = NULL;"
                                       "UPDATE ca_certificates SET not_after_ms = NULL;"),
                     DD_DB_OK);
    parsed_st = dd_audit_check_run(check, &world, sink, &parsed, &parsed_checked);
    assert_int_equal(dd_db_exec(f->db, "ROLLBACK TO nofacts; RELEASE nofacts;"), DD_DB_OK);
    assert_int_equal(dd_db_exec(f->db, "SAVEPOINT noverdict;"
                                       "UPDATE certificates SET key_verdict = NULL;"
                                       "UPDATE ca_certificates SET key_verdict = NULL;"),
                     DD_DB_OK);
    unjudged_st = dd_audit_check_run(check, &world, sink, &unjudged, &unjudged_checked);
    assert_int_equal(dd_db_exec(f->db, "ROLLBACK TO noverdict; RELEASE noverdict;"), DD_DB_OK);
    assert_int_equal(dd_audit_certcache_open(&cache), DD_AUDIT_CERTCACHE_OK);
    world.certs = cache;
    st = dd_audit_check_run(check, &world, sink, out, checked);
    assert_int_equal(st, plain_st);
    assert_int_equal(st, parsed_st);
    assert_int_equal(st, unjudged_st);
    assert_int_equal(*checked, plain_checked);
    assert_int_equal(*checked, parsed_checked);
    assert_int_equal(*checked, unjudged_checked);
    assert_int_equal(out->count, plain.count);
    assert_memory_equal(out, &plain, sizeof(plain));
    assert_memory_equal(out, &parsed, sizeof(parsed));
    assert_memory_equal(out, &unjudged, sizeof(unjudged));
    dd_audit_certcache_close(cache);
    return st;
}

static void add_device(fixture_t *f, const made_t *m, dd_cert_status_t st, const char *ca_id,
                       char id[65])
{
    dd_registry_error_t err;

    assert_int_equal(dd_registry_cert_register(&f->reg, m->pem, st, ca_id, id, 65, &err),
                     DD_REGISTRY_OK);
}

static void add_ca(fixture_t *f, const made_t *m, bool active, char id[65])
{
    dd_registry_error_t err;

    assert_int_equal(dd_registry_ca_add(&f->reg, m->pem, active, false, "DEFAULT", NULL, id, 65,
                                        &err),
                     DD_REGISTRY_OK);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_dd_audit_checks_certs_expiring(void **state)
{
    fixture_t *f = *state;
    made_t soon = make("soon", 0, NULL, NOW - DAY, NOW + 10 * DAY, false, 1);
    made_t gone = make("gone", 0, NULL, NOW - 90 * DAY, NOW - DAY, false, 2);
    made_t fine = make("fine", 0, NULL, NOW - DAY, NOW + 100 * DAY, false, 3);
    made_t off = make("off", 0, NULL, NOW - DAY, NOW + 2 * DAY, false, 4);
    made_t ca = make("ca", 0, NULL, NOW - DAY, NOW + 5 * DAY, true, 5);
    made_t ca_off = make("ca-off", 0, NULL, NOW - DAY, NOW + 5 * DAY, true, 6);
    char id_soon[65], id_gone[65], id_fine[65], id_off[65], id_ca[65], id_ca_off[65];
    findings_t fs;
    int64_t checked = -1;

    add_device(f, &soon, DD_CERT_ACTIVE, NULL, id_soon);
    add_device(f, &gone, DD_CERT_ACTIVE, NULL, id_gone);
    add_device(f, &fine, DD_CERT_ACTIVE, NULL, id_fine);
    add_device(f, &off, DD_CERT_INACTIVE, NULL, id_off);
    add_ca(f, &ca, true, id_ca);
    add_ca(f, &ca_off, false, id_ca_off);

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_EXPIRING_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 3); /* the INACTIVE one is not checked */
    assert_int_equal(fs.count, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(fs.types[i], "DEVICE_CERTIFICATE");
        if (strcmp(fs.ids[i], id_soon) == 0) {
            assert_string_equal(fs.codes[i], "CERTIFICATE_APPROACHING_EXPIRATION");
        } else {
            assert_string_equal(fs.ids[i], id_gone);
            assert_string_equal(fs.codes[i], "CERTIFICATE_EXPIRED");
        }
    }
    /* 80 days earlier nothing is within 30 days but the one that had expired already. */
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_EXPIRING_CHECK", NOW - 80 * DAY, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "CA_CERTIFICATE_EXPIRING_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 1);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_ca);
    assert_string_equal(fs.types[0], "CA_CERTIFICATE");
    assert_string_equal(fs.codes[0], "CERTIFICATE_APPROACHING_EXPIRATION");

    made_free(&soon);
    made_free(&gone);
    made_free(&fine);
    made_free(&off);
    made_free(&ca);
    made_free(&ca_off);
}

static void test_dd_audit_checks_certs_key_quality(void **state)
{
    fixture_t *f = *state;
    made_t weak = make("weak", 1024, NULL, NOW - DAY, NOW + 365 * DAY, false, 1);
    made_t strong = make("strong", 0, NULL, NOW - DAY, NOW + 365 * DAY, false, 2);
    made_t weak_ca = make("weak-ca", 1024, NULL, NOW - DAY, NOW + 365 * DAY, true, 3);
    made_t rsa = make("rsa-2048", 2048, NULL, NOW - DAY, NOW + 365 * DAY, false, 4);
    char id_weak[65], id_strong[65], id_ca[65], id_rsa[65];
    findings_t fs;
    int64_t checked = -1;

    add_device(f, &weak, DD_CERT_ACTIVE, NULL, id_weak);
    add_device(f, &strong, DD_CERT_ACTIVE, NULL, id_strong);
    add_device(f, &rsa, DD_CERT_ACTIVE, NULL, id_rsa);
    add_ca(f, &weak_ca, true, id_ca);

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 3);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_weak);
    assert_string_equal(fs.codes[0], "CERTIFICATE_KEY_LENGTH_BELOW_MINIMUM");
    assert_string_equal(fs.reasons[0], "RSA key of 1024 bits is shorter than 2048 bits");

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "CA_CERTIFICATE_KEY_QUALITY_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_ca);

    made_free(&weak);
    made_free(&strong);
    made_free(&weak_ca);
    made_free(&rsa);
}

/* A device certificate and an intermediate CA whose RSA keys have the ROCA fingerprint, both
 * issued by an ordinary root: each check finds its one, with AWS's CVE reason code. */
static void test_dd_audit_checks_certs_key_quality_roca(void **state)
{
    fixture_t *f = *state;
    made_t root = make("root", 0, NULL, NOW - DAY, NOW + 365 * DAY, true, 1);
    made_t inter = make_roca("infineon-ca", 2048, 11, &root, true, 2);
    made_t dev = make_roca("infineon-device", 2048, 12, &root, false, 3);
    made_t fine = make("fine", 0, &root, NOW - DAY, NOW + 365 * DAY, false, 4);
    char id_root[65], id_inter[65], id_dev[65], id_fine[65];
    dd_registry_error_t err;
    findings_t fs;
    int64_t checked = -1;

    add_ca(f, &root, true, id_root);
    add_ca(f, &inter, true, id_inter);
    add_device(f, &dev, DD_CERT_ACTIVE, id_root, id_dev);
    add_device(f, &fine, DD_CERT_ACTIVE, id_root, id_fine);

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_dev);
    assert_string_equal(fs.types[0], "DEVICE_CERTIFICATE");
    assert_string_equal(fs.codes[0], "CERTIFICATE_KEY_VULNERABILITY_CVE-2017-15361");
    assert_non_null(strstr(fs.reasons[0], "ROCA"));

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "CA_CERTIFICATE_KEY_QUALITY_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_inter);
    assert_string_equal(fs.types[0], "CA_CERTIFICATE");
    assert_string_equal(fs.codes[0], "CERTIFICATE_KEY_VULNERABILITY_CVE-2017-15361");

    /* INACTIVE, the certificate is not checked (AWS: ACTIVE or PENDING_TRANSFER only). */
    assert_int_equal(dd_registry_cert_set_status(&f->reg, id_dev, DD_CERT_INACTIVE, &err),
                     DD_REGISTRY_OK);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 1);
    assert_int_equal(fs.count, 0);

    made_free(&root);
    made_free(&inter);
    made_free(&dev);
    made_free(&fine);
}

static void test_dd_audit_checks_certs_age_threshold_from_config(void **state)
{
    fixture_t *f = *state;
    made_t old = make("old", 0, NULL, NOW - DAY, NOW + 3000 * DAY, false, 1);
    char id[65];
    findings_t fs;
    int64_t checked = -1;
    cJSON *cfg = cJSON_CreateObject();

    add_device(f, &old, DD_CERT_ACTIVE, NULL, id); /* registered at NOW (registry clock) */

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_AGE_CHECK", NOW + 364 * DAY, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_AGE_CHECK", NOW + 365 * DAY, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 1);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id);
    assert_string_equal(fs.codes[0], "CERTIFICATE_PAST_AGE_THRESHOLD");

    cJSON_AddStringToObject(cfg, "certAgeThresholdInDays", "500");
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_AGE_CHECK", NOW + 400 * DAY, cfg, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);
    cJSON_DeleteItemFromObject(cfg, "certAgeThresholdInDays");
    cJSON_AddStringToObject(cfg, "CERT_AGE_THRESHOLD_IN_DAYS", "30");
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_AGE_CHECK", NOW + 30 * DAY, cfg, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 1);
    /* Out of AWS's 30..3652 range: the default of 365 applies. */
    cJSON_DeleteItemFromObject(cfg, "CERT_AGE_THRESHOLD_IN_DAYS");
    cJSON_AddStringToObject(cfg, "CERT_AGE_THRESHOLD_IN_DAYS", "5");
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_AGE_CHECK", NOW + 30 * DAY, cfg, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);

    cJSON_Delete(cfg);
    made_free(&old);
}

static void test_dd_audit_checks_certs_revoked_by_issuer(void **state)
{
    fixture_t *f = *state;
    made_t root = make("Root", 0, NULL, NOW - DAY, NOW + 3000 * DAY, true, 10);
    made_t inter = make("Intermediate", 0, &root, NOW - DAY, NOW + 1000 * DAY, true, 11);
    made_t dev = make("Device", 0, &inter, NOW - DAY, NOW + 365 * DAY, false, 12);
    made_t other = make("Other", 0, &inter, NOW - DAY, NOW + 365 * DAY, false, 13);
    char id_root[65], id_inter[65], id_dev[65], id_other[65];
    dd_registry_error_t err;
    findings_t fs;
    int64_t checked = -1;
    char *crl;

    add_ca(f, &root, true, id_root);
    add_ca(f, &inter, true, id_inter);
    add_device(f, &dev, DD_CERT_ACTIVE, id_inter, id_dev);
    add_device(f, &other, DD_CERT_INACTIVE, id_inter, id_other);

    /* No revocation list yet: everything compliant. */
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", NOW, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(fs.count, 0);

    /* The root revokes the intermediate. */
    crl = crl_revoking(&root, &inter);
    assert_int_equal(dd_registry_crl_put(&f->reg, crl, &err), DD_REGISTRY_OK);
    free(crl);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", NOW, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_inter);
    assert_string_equal(fs.codes[0], "CERTIFICATE_REVOKED_BY_ISSUER");
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
                               NOW, NULL, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 1); /* the INACTIVE device certificate is not checked */
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_dev);
    assert_string_equal(fs.codes[0], "INTERMEDIATE_CA_REVOKED_BY_ISSUER");
    assert_string_equal(fs.related_issuer[0], id_inter);

    /* The intermediate revokes the device certificate. */
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", NOW, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);
    crl = crl_revoking(&inter, &dev);
    assert_int_equal(dd_registry_crl_put(&f->reg, crl, &err), DD_REGISTRY_OK);
    free(crl);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", NOW, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], id_dev);
    assert_string_equal(fs.codes[0], "CERTIFICATE_REVOKED_BY_ISSUER");

    /* Marked REVOKED in ddlocal too: compliant. */
    assert_int_equal(dd_registry_cert_set_status(&f->reg, id_dev, DD_CERT_REVOKED, &err),
                     DD_REGISTRY_OK);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(run_check(f, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", NOW, NULL, &fs,
                               &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 0);

    made_free(&root);
    made_free(&inter);
    made_free(&dev);
    made_free(&other);
}

static void test_dd_audit_checks_certs_sink_stops(void **state)
{
    fixture_t *f = *state;
    made_t a = make("a", 0, NULL, NOW - 90 * DAY, NOW - DAY, false, 1);
    made_t b = make("b", 0, NULL, NOW - 90 * DAY, NOW - DAY, false, 2);
    char id[65];
    findings_t fs;
    int64_t checked = -1;

    add_device(f, &a, DD_CERT_ACTIVE, NULL, id);
    add_device(f, &b, DD_CERT_ACTIVE, NULL, id);
    memset(&fs, 0, sizeof(fs));
    fs.stop_after = 1;
    assert_int_equal(run_check(f, "DEVICE_CERTIFICATE_EXPIRING_CHECK", NOW, NULL, &fs, &checked),
                     DD_AUDIT_STOPPED);
    assert_int_equal(fs.count, 1);
    made_free(&a);
    made_free(&b);
}

/* Certificates with stored facts are judged without parsing their PEMs: a task's certificate
 * cache stays empty but for an RSA key (ROCA) and a revocation list's hit; one intermediate's chain serves all of the
 * device certificates it signed. */
static void test_dd_audit_checks_certs_facts_spare_the_parsing(void **state)
{
    fixture_t *f = *state;
    made_t root = make("Root", 0, NULL, NOW - DAY, NOW + 3000 * DAY, true, 20);
    made_t inter = make("Intermediate", 0, &root, NOW - DAY, NOW + 1000 * DAY, true, 21);
    made_t devs[3];
    char id_root[65], id_inter[65], ids[3][65];
    dd_audit_world_t world = {&f->reg, NULL, NOW, NULL, NULL};
    dd_audit_certcache_t *cache = NULL;
    dd_registry_error_t err;
    findings_t fs;
    int64_t checked = -1;
    char *crl;
    int i;

    add_ca(f, &root, true, id_root);
    add_ca(f, &inter, true, id_inter);
    for (i = 0; i < 3; i++) {
        devs[i] =
            make("Device", i == 2 ? 1024 : 0, &inter, NOW - DAY, NOW + 10 * DAY, false, 30 + i);
        add_device(f, &devs[i], DD_CERT_ACTIVE, id_inter, ids[i]);
    }
    crl = crl_revoking(&inter, &devs[1]);
    assert_int_equal(dd_registry_crl_put(&f->reg, crl, &err), DD_REGISTRY_OK);
    free(crl);
    assert_int_equal(dd_audit_certcache_open(&cache), DD_AUDIT_CERTCACHE_OK);
    world.certs = cache;

    memset(&fs, 0, sizeof(fs));
    assert_int_equal(dd_audit_check_run(dd_audit_check_find("DEVICE_CERTIFICATE_EXPIRING_CHECK"),
                                        &world, sink, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 3); /* all expire in 10 days */
    assert_string_equal(fs.codes[0], "CERTIFICATE_APPROACHING_EXPIRATION");
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(dd_audit_check_run(dd_audit_check_find("DEVICE_CERTIFICATE_KEY_QUALITY_CHECK"),
                                        &world, sink, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], ids[2]);
    /* Nothing is parsed: the facts hold the key's type and size and, for the RSA key, the
     * ROCA verdict computed at registration. */
    assert_int_equal(dd_audit_certcache_count(cache), 0);

    /* The issuer's list names devs[1] only: the others share its issuer, not its serial. */
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(dd_audit_check_run(dd_audit_check_find(
                                            "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"),
                                        &world, sink, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(checked, 3);
    assert_int_equal(fs.count, 1);
    assert_string_equal(fs.ids[0], ids[1]);
    assert_int_equal(dd_audit_certcache_count(cache), 1); /* the hit, confirmed on its X509 */

    /* The root revokes the intermediate: every device certificate under it is reported. */
    crl = crl_revoking(&root, &inter);
    assert_int_equal(dd_registry_crl_put(&f->reg, crl, &err), DD_REGISTRY_OK);
    free(crl);
    memset(&fs, 0, sizeof(fs));
    assert_int_equal(dd_audit_check_run(dd_audit_check_find(
                                            "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_"
                                            "CERTIFICATES_CHECK"),
                                        &world, sink, &fs, &checked),
                     DD_AUDIT_OK);
    assert_int_equal(fs.count, 3);
    for (i = 0; i < 3; i++) { /* listed by (creation time, id): any order here */
        assert_true(strcmp(fs.ids[i], ids[0]) == 0 || strcmp(fs.ids[i], ids[1]) == 0 ||
                    strcmp(fs.ids[i], ids[2]) == 0);
        assert_string_equal(fs.related_issuer[i], id_inter);
    }
    assert_true(strcmp(fs.ids[0], fs.ids[1]) != 0 && strcmp(fs.ids[1], fs.ids[2]) != 0 &&
                strcmp(fs.ids[0], fs.ids[2]) != 0);
    assert_int_equal(dd_audit_certcache_count(cache), 1);

    dd_audit_certcache_close(cache);
    for (i = 0; i < 3; i++) {
        made_free(&devs[i]);
    }
    made_free(&root);
    made_free(&inter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_expiring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_key_quality, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_key_quality_roca, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_age_threshold_from_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_revoked_by_issuer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_sink_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_certs_facts_spare_the_parsing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
