/*
 * dd_audit_certcache: one parse per certificate id, references handed out,
 * invalid PEMs remembered, growth past the initial table, sweeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "dd_audit_certcache.h"
#include "dd_log.h"
#include "dd_pki.h"

typedef struct fixture {
    char dir[64];
    char *pem;
    char id[DD_PKI_CERT_ID_LEN + 1];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_certcache_XXXXXX");
    if (mkdtemp(f->dir) == NULL || dd_pki_ca_ensure(f->dir, &ca) != DD_PKI_OK ||
        dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred) != DD_PKI_OK) {
        dd_pki_ca_free(ca);
        free(f);
        return -1;
    }
    f->pem = strdup(cred.certificate_pem);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    if (f->pem == NULL || dd_pki_cert_id_from_pem(f->pem, strlen(f->pem), f->id) != DD_PKI_OK) {
        free(f->pem);
        free(f);
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

    free(f->pem);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void test_dd_audit_certcache_parses_once(void **state)
{
    fixture_t *f = *state;
    dd_audit_certcache_t *c = NULL;
    X509 *a = NULL;
    X509 *b = NULL;

    assert_int_equal(dd_audit_certcache_open(&c), DD_AUDIT_CERTCACHE_OK);
    assert_int_equal(dd_audit_certcache_count(c), 0);
    assert_int_equal(dd_audit_certcache_get(c, f->id, f->pem, &a), DD_AUDIT_CERTCACHE_OK);
    assert_non_null(a);
    /* Cached: the second request is not parsed (its PEM is not even a certificate). */
    assert_int_equal(dd_audit_certcache_get(c, f->id, "not a certificate", &b),
                     DD_AUDIT_CERTCACHE_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(dd_audit_certcache_count(c), 1);
    /* Each reference outlives the cache until freed. */
    dd_audit_certcache_close(c);
    assert_non_null(X509_get_subject_name(a));
    X509_free(a);
    X509_free(b);
}

static void test_dd_audit_certcache_invalid_remembered(void **state)
{
    fixture_t *f = *state;
    dd_audit_certcache_t *c = NULL;
    X509 *x = (X509 *)1;

    assert_int_equal(dd_audit_certcache_open(&c), DD_AUDIT_CERTCACHE_OK);
    assert_int_equal(dd_audit_certcache_get(c, "bad", "-----BEGIN CERTIFICATE-----\nx\n", &x),
                     DD_AUDIT_CERTCACHE_INVALID);
    assert_null(x);
    /* The id stays invalid, even with a good PEM: ids name one certificate. */
    assert_int_equal(dd_audit_certcache_get(c, "bad", f->pem, &x), DD_AUDIT_CERTCACHE_INVALID);
    assert_int_equal(dd_audit_certcache_count(c), 1);
    dd_audit_certcache_close(c);
}

static void test_dd_audit_certcache_grows(void **state)
{
    fixture_t *f = *state;
    dd_audit_certcache_t *c = NULL;
    char id[32];
    X509 *first = NULL;
    X509 *x = NULL;
    int i;

    /* 3,000 ids (the same certificate under made-up ids) outgrow the initial 1,024 slots. */
    assert_int_equal(dd_audit_certcache_open(&c), DD_AUDIT_CERTCACHE_OK);
    for (i = 0; i < 3000; i++) {
        (void)snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(dd_audit_certcache_get(c, id, f->pem, &x), DD_AUDIT_CERTCACHE_OK);
        if (i == 0) {
            first = x;
        } else {
            X509_free(x);
        }
    }
    assert_int_equal(dd_audit_certcache_count(c), 3000);
    assert_int_equal(dd_audit_certcache_get(c, "id-0", "", &x), DD_AUDIT_CERTCACHE_OK);
    assert_ptr_equal(x, first);
    X509_free(x);
    X509_free(first);
    dd_audit_certcache_close(c);
}

static void test_dd_audit_certcache_sweep_drops_unused(void **state)
{
    fixture_t *f = *state;
    dd_audit_certcache_t *c = NULL;
    char id[32];
    X509 *x = NULL;
    int i;

    assert_int_equal(dd_audit_certcache_open(&c), DD_AUDIT_CERTCACHE_OK);
    for (i = 0; i < 2000; i++) {
        (void)snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(dd_audit_certcache_get(c, id, f->pem, &x), DD_AUDIT_CERTCACHE_OK);
        X509_free(x);
    }
    /* Everything was asked for since the open: nothing goes. */
    assert_int_equal(dd_audit_certcache_sweep(c), 0);
    assert_int_equal(dd_audit_certcache_count(c), 2000);
    /* The next "task" asks for the even ids only: the odd ones go, the even ones stay cached
     * (found without parsing: their PEM is not a certificate now). */
    for (i = 0; i < 2000; i += 2) {
        (void)snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(dd_audit_certcache_get(c, id, "", &x), DD_AUDIT_CERTCACHE_OK);
        X509_free(x);
    }
    assert_int_equal(dd_audit_certcache_sweep(c), 1000);
    assert_int_equal(dd_audit_certcache_count(c), 1000);
    for (i = 0; i < 2000; i++) {
        (void)snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(dd_audit_certcache_get(c, id, "", &x),
                         i % 2 == 0 ? DD_AUDIT_CERTCACHE_OK : DD_AUDIT_CERTCACHE_INVALID);
        X509_free(x);
    }
    assert_int_equal(dd_audit_certcache_sweep(NULL), 0);
    dd_audit_certcache_close(c);
}

static void test_dd_audit_certcache_parameters(void **state)
{
    fixture_t *f = *state;
    dd_audit_certcache_t *c = NULL;
    X509 *x = NULL;

    assert_int_equal(dd_audit_certcache_open(NULL), DD_AUDIT_CERTCACHE_BAD_PARAMETER);
    assert_int_equal(dd_audit_certcache_open(&c), DD_AUDIT_CERTCACHE_OK);
    assert_int_equal(dd_audit_certcache_get(NULL, f->id, f->pem, &x),
                     DD_AUDIT_CERTCACHE_BAD_PARAMETER);
    assert_int_equal(dd_audit_certcache_get(c, NULL, f->pem, &x), DD_AUDIT_CERTCACHE_BAD_PARAMETER);
    assert_int_equal(dd_audit_certcache_get(c, f->id, NULL, &x), DD_AUDIT_CERTCACHE_BAD_PARAMETER);
    assert_int_equal(dd_audit_certcache_get(c, f->id, f->pem, NULL),
                     DD_AUDIT_CERTCACHE_BAD_PARAMETER);
    assert_int_equal(dd_audit_certcache_count(NULL), 0);
    dd_audit_certcache_close(NULL);
    dd_audit_certcache_close(c);
    assert_string_equal(dd_audit_certcache_strerror(DD_AUDIT_CERTCACHE_INVALID),
                        "not a PEM certificate");
    assert_string_equal(dd_audit_certcache_strerror((dd_audit_certcache_status_t)99),
                        "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_audit_certcache_parses_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_certcache_invalid_remembered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_certcache_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_certcache_sweep_drops_unused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_certcache_parameters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
