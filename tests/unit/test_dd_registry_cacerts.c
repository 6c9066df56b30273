/* CA certificates in the registry: register, describe, update, delete rules, certificates by
 * CA, the registration code, the shim's view of a certificate whose CA is INACTIVE, CRLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "dd_certfacts.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_pki.h"
#include "dd_registry.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_pki_ca_t *ca;
    char ca_pem[8192];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];
    BIO *bio;
    long n;
    char *data;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_regca_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    if (dd_db_open(path, false, &f->db) != DD_DB_OK) {
        return -1;
    }
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    if (dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK ||
        dd_pki_ca_ensure(f->dir, &f->ca) != DD_PKI_OK) {
        return -1;
    }
    /* ddlocal's own root stands for "a customer CA": the registry checks no signature. */
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, dd_pki_ca_cert(f->ca)) != 1) {
        return -1;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || (size_t)n >= sizeof(f->ca_pem)) {
        return -1;
    }
    memcpy(f->ca_pem, data, (size_t)n);
    BIO_free(bio);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_pki_ca_free(f->ca);
    dd_db_close(f->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

typedef struct seen {
    int count;
    bool active;
    bool auto_registration;
    char mode[16];
    char config[256];
    char ca_cert_id[65];
} seen_t;

static int ca_cb(void *ctx, const dd_registry_ca_t *ca)
{
    seen_t *s = ctx;

    s->count++;
    s->active = ca->active;
    s->auto_registration = ca->auto_registration;
    snprintf(s->mode, sizeof(s->mode), "%s", ca->mode);
    snprintf(s->config, sizeof(s->config), "%s", ca->registration_config);
    return 0;
}

static int cert_cb(void *ctx, const dd_registry_cert_t *c)
{
    seen_t *s = ctx;

    s->count++;
    snprintf(s->mode, sizeof(s->mode), "%s", c->mode);
    snprintf(s->ca_cert_id, sizeof(s->ca_cert_id), "%s", c->ca_cert_id);
    return 0;
}

static char *shim_status(fixture_t *f, const char *id)
{
    cJSON *obj = NULL;
    char *out;

    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_CERT, id, &obj),
                     DD_REGISTRY_OK);
    out = strdup(cJSON_GetObjectItem(obj, "status")->valuestring);
    cJSON_Delete(obj);
    return out;
}

static void test_dd_registry_cacerts_lifecycle(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char ca_id[65];
    char dev_id[65];
    char next[128];
    seen_t s;
    dd_pki_credentials_t cred;
    char *st;

    assert_int_equal(dd_registry_ca_add(&f->reg, f->ca_pem, true, false, "DEFAULT",
                                        "{\"templateName\":\"T\"}", ca_id, sizeof(ca_id), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_add(&f->reg, f->ca_pem, true, false, "DEFAULT", NULL, NULL, 0,
                                        &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_string_equal(err.resource_id, ca_id);
    assert_non_null(strstr(err.resource_arn, ":cacert/"));
    assert_int_equal(dd_registry_ca_add(&f->reg, f->ca_pem, true, false, "OTHER", NULL, NULL, 0,
                                        &err),
                     DD_REGISTRY_INVALID);

    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_get(&f->reg, ca_id, ca_cb, &s, &err), DD_REGISTRY_OK);
    assert_int_equal(s.count, 1);
    assert_true(s.active);
    assert_string_equal(s.config, "{\"templateName\":\"T\"}");

    /* A device certificate registered with the CA takes its mode; without a CA: SNI_ONLY. */
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_register(&f->reg, cred.certificate_pem, DD_CERT_ACTIVE, ca_id,
                                               dev_id, sizeof(dev_id), &err),
                     DD_REGISTRY_OK);
    dd_pki_credentials_free(&cred);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_cert_list(&f->reg, ca_id, NULL, true, cert_cb, &s, next,
                                              sizeof(next)),
                     DD_REGISTRY_OK);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.mode, "DEFAULT");
    assert_string_equal(s.ca_cert_id, ca_id);
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_cert_register(&f->reg, cred.certificate_pem, DD_CERT_ACTIVE, NULL,
                                               next, sizeof(next), &err),
                     DD_REGISTRY_OK);
    dd_pki_credentials_free(&cred);
    assert_int_equal(dd_registry_cert_get(&f->reg, next, cert_cb, &s, &err), DD_REGISTRY_OK);
    assert_string_equal(s.mode, "SNI_ONLY");
    assert_string_equal(s.ca_cert_id, "");

    /* The shim sees the device certificate INACTIVE while its CA is. */
    st = shim_status(f, dev_id);
    assert_string_equal(st, "ACTIVE");
    free(st);
    assert_int_equal(dd_registry_ca_update(&f->reg, ca_id, 0, 1, "", &err), DD_REGISTRY_OK);
    st = shim_status(f, dev_id);
    assert_string_equal(st, "INACTIVE");
    free(st);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_get(&f->reg, ca_id, ca_cb, &s, &err), DD_REGISTRY_OK);
    assert_false(s.active);
    assert_true(s.auto_registration);
    assert_string_equal(s.config, "{}");

    /* Delete: refused while certificates of the CA exist, and while ACTIVE. */
    assert_int_equal(dd_registry_ca_delete(&f->reg, ca_id, &err), DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_cert_set_status(&f->reg, dev_id, DD_CERT_INACTIVE, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_cert_delete(&f->reg, dev_id, false, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_update(&f->reg, ca_id, 1, -1, NULL, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_delete(&f->reg, ca_id, &err), DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_ca_update(&f->reg, ca_id, 0, -1, NULL, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_delete(&f->reg, ca_id, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_get(&f->reg, ca_id, ca_cb, &s, &err), DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_ca_delete(&f->reg, "xyz", &err), DD_REGISTRY_INVALID);
}

static int count_cb(void *ctx, const dd_registry_ca_t *ca)
{
    (void)ca;
    (*(int *)ctx)++;
    return 0;
}

static void test_dd_registry_cacerts_list_pages_and_code(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char code[65];
    char code2[65];
    char next[128];
    dd_registry_page_t page = {NULL, 1};
    int n = 0;

    assert_int_equal(dd_registry_registration_code(&f->reg, code, &err), DD_REGISTRY_OK);
    assert_int_equal(strlen(code), 64);
    assert_int_equal(dd_registry_registration_code(&f->reg, code2, &err), DD_REGISTRY_OK);
    assert_string_equal(code, code2);

    assert_int_equal(dd_registry_ca_add(&f->reg, f->ca_pem, false, false, "SNI_ONLY", NULL, NULL, 0,
                                        &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_ca_list(&f->reg, &page, true, count_cb, &n, next, sizeof(next)),
                     DD_REGISTRY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(next, "");
}

static void test_dd_registry_cacerts_crl_put_rejects_garbage(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;

    assert_int_equal(dd_registry_crl_put(&f->reg, "not a crl", &err), DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_crl_put(NULL, "x", &err), DD_REGISTRY_BAD_PARAMETER);
}

/* What a listing or a get hands out about one certificate: its facts. */
typedef struct facts_seen {
    int count;
    bool known;
    dd_certfacts_t facts;
    char verdict[32]; /* the stored key_verdict; "NULL" when not assessed */
} facts_seen_t;

static int cert_facts_cb(void *ctx, const dd_registry_cert_t *c)
{
    facts_seen_t *s = ctx;

    s->count++;
    s->known = c->facts_known;
    s->facts = c->facts;
    (void)snprintf(s->verdict, sizeof(s->verdict), "%s",
                   c->key_verdict != NULL ? c->key_verdict : "NULL");
    return 0;
}

static int ca_facts_cb(void *ctx, const dd_registry_ca_t *c)
{
    facts_seen_t *s = ctx;

    s->count++;
    s->known = c->facts_known;
    s->facts = c->facts;
    (void)snprintf(s->verdict, sizeof(s->verdict), "%s",
                   c->key_verdict != NULL ? c->key_verdict : "NULL");
    return 0;
}

static void assert_cert_facts(fixture_t *f, const char *id, const char *pem)
{
    facts_seen_t s;
    dd_certfacts_t want;
    dd_registry_error_t err;

    assert_int_equal(dd_certfacts_from_pem(pem, strlen(pem), &want), DD_CERTFACTS_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_cert_get(&f->reg, id, cert_facts_cb, &s, &err), DD_REGISTRY_OK);
    assert_int_equal(s.count, 1);
    assert_true(s.known);
    /* The key verdict is assessed at registration: ddlocal's keys are clean. */
    assert_string_equal(s.verdict, "");
    assert_true(s.facts.key_assessed);
    assert_false(s.facts.roca);
    assert_memory_equal(&s.facts, &want, sizeof(want));
}

/* Every way a certificate enters the registry stores its facts, equal to the X509's. */
static void test_dd_registry_cacerts_facts_of_every_path(void **state)
{
    fixture_t *f = *state;
    dd_pki_credentials_t a;
    dd_pki_credentials_t b;
    dd_pki_credentials_t c;
    dd_registry_error_t err;
    dd_certfacts_t want;
    facts_seen_t s;
    char ca_id[65];
    char id[65];

    /* RegisterCACertificate */
    assert_int_equal(dd_registry_ca_add(&f->reg, f->ca_pem, true, false, "DEFAULT", NULL, ca_id,
                                        sizeof(ca_id), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_certfacts_from_pem(f->ca_pem, strlen(f->ca_pem), &want), DD_CERTFACTS_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_get(&f->reg, ca_id, ca_facts_cb, &s, &err), DD_REGISTRY_OK);
    assert_true(s.known);
    assert_string_equal(s.verdict, "");
    assert_memory_equal(&s.facts, &want, sizeof(want));
    assert_int_equal(want.subject_hash, want.issuer_hash); /* ddlocal's root: self-issued */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_list(&f->reg, NULL, true, ca_facts_cb, &s, NULL, 0),
                     DD_REGISTRY_OK);
    assert_int_equal(s.count, 1);
    assert_memory_equal(&s.facts, &want, sizeof(want));

    /* CreateKeysAndCertificate, CreateCertificateFromCsr, provisioning, `ddlocal cert`: cert_add */
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &a), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_add(&f->reg, a.certificate_pem, DD_CERT_ACTIVE, false, id,
                                          sizeof(id), &err),
                     DD_REGISTRY_OK);
    assert_cert_facts(f, id, a.certificate_pem);
    /* RegisterCertificate (with the CA) */
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_RSA2048, &b), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_register(&f->reg, b.certificate_pem, DD_CERT_ACTIVE, ca_id,
                                               id, sizeof(id), &err),
                     DD_REGISTRY_OK);
    assert_cert_facts(f, id, b.certificate_pem);
    /* RegisterCertificateWithoutCA */
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &c), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_register(&f->reg, c.certificate_pem, DD_CERT_ACTIVE, NULL, id,
                                               sizeof(id), &err),
                     DD_REGISTRY_OK);
    assert_cert_facts(f, id, c.certificate_pem);
    /* ListCertificatesByCA hands the facts out too. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_registry_ca_cert_list(&f->reg, ca_id, NULL, true, cert_facts_cb, &s, NULL,
                                              0),
                     DD_REGISTRY_OK);
    assert_int_equal(s.count, 1);
    assert_true(s.known);
    assert_string_equal(s.facts.key_type, "RSA");
    assert_int_equal(s.facts.key_bits, 2048);
    assert_int_equal(s.facts.issuer_hash, want.subject_hash);

    dd_pki_credentials_free(&a);
    dd_pki_credentials_free(&b);
    dd_pki_credentials_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_registry_cacerts_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_cacerts_list_pages_and_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_cacerts_facts_of_every_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_cacerts_crl_put_rejects_garbage, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
