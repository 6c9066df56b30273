/* The facts the audit reads about a certificate equal what its X509 says. */
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
#include <openssl/x509.h>

#include "dd_certfacts.h"
#include "dd_pki.h"
#include "dd_testkeys.h"

#define NOW 1700000000000LL
#define DAY (24LL * 3600 * 1000)

/* A certificate for a new key (RSA of @p rsa_bits, else EC P-256), valid [from, to]. */
static X509 *make(const char *cn, int rsa_bits, X509 *issuer, EVP_PKEY *issuer_key, int64_t from,
                  int64_t to, long serial, EVP_PKEY **key_out)
{
    EVP_PKEY *key = rsa_bits > 0 ? EVP_RSA_gen((unsigned)rsa_bits) : EVP_EC_gen("prime256v1");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();

    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                                -1, -1, 0),
                     1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name),
                     1);
    X509_NAME_free(name);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(from / 1000)));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(to / 1000)));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    *key_out = key;
    return x;
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
    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    BIO_free(bio);
    return out;
}

static uint32_t hash_of(const X509_NAME *name)
{
    int ok = 0;
    uint32_t h = (uint32_t)X509_NAME_hash_ex(name, NULL, NULL, &ok);

    assert_int_equal(ok, 1);
    return h;
}

static void test_dd_certfacts_ec_device_of_a_ca(void **state)
{
    EVP_PKEY *ca_key = NULL;
    EVP_PKEY *key = NULL;
    X509 *ca = make("Root", 0, NULL, NULL, NOW - DAY, NOW + 3000 * DAY, 1, &ca_key);
    X509 *dev = make("Device", 0, ca, ca_key, NOW - 2 * DAY, NOW + 365 * DAY, 0x1234abcd, &key);
    char *pem = pem_of(dev);
    dd_certfacts_t from_x;
    dd_certfacts_t from_pem;

    (void)state;
    assert_int_equal(dd_certfacts_from_x509(dev, &from_x), DD_CERTFACTS_OK);
    assert_int_equal(from_x.not_before_ms, NOW - 2 * DAY);
    assert_int_equal(from_x.not_after_ms, NOW + 365 * DAY);
    assert_string_equal(from_x.key_type, "EC");
    assert_int_equal(from_x.key_bits, 256);
    assert_string_equal(from_x.serial, "1234ABCD");
    assert_int_equal(from_x.subject_hash, hash_of(X509_get_subject_name(dev)));
    assert_int_equal(from_x.issuer_hash, hash_of(X509_get_subject_name(ca)));
    assert_true(from_x.issuer_hash != from_x.subject_hash);
    /* From the PEM: the same facts, byte for byte. */
    assert_int_equal(dd_certfacts_from_pem(pem, strlen(pem), &from_pem), DD_CERTFACTS_OK);
    assert_memory_equal(&from_x, &from_pem, sizeof(from_x));

    free(pem);
    X509_free(dev);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
}

static void test_dd_certfacts_short_rsa_self_signed(void **state)
{
    EVP_PKEY *key = NULL;
    X509 *x = make("Weak", 1024, NULL, NULL, NOW - 400 * DAY, NOW - DAY, 7, &key);
    dd_certfacts_t f;

    (void)state;
    assert_int_equal(dd_certfacts_from_x509(x, &f), DD_CERTFACTS_OK);
    assert_string_equal(f.key_type, "RSA");
    assert_int_equal(f.key_bits, 1024);
    assert_int_equal(f.not_after_ms, NOW - DAY);
    assert_string_equal(f.serial, "07");
    assert_int_equal(f.subject_hash, f.issuer_hash); /* self-issued */
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_dd_certfacts_issued_by_pki(void **state)
{
    char dir[] = "/tmp/dd_certfacts_XXXXXX";
    char cmd[64];
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    dd_certfacts_t f;
    X509 *x = NULL;
    int64_t ms = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(dd_pki_ca_ensure(dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_RSA2048, &cred), DD_PKI_OK);
    assert_int_equal(dd_certfacts_from_pem(cred.certificate_pem, strlen(cred.certificate_pem), &f),
                     DD_CERTFACTS_OK);
    assert_int_equal(dd_pki_cert_from_pem(cred.certificate_pem, strlen(cred.certificate_pem), &x),
                     DD_PKI_OK);
    assert_string_equal(f.key_type, "RSA");
    assert_int_equal(f.key_bits, 2048);
    assert_int_equal(dd_certfacts_time_ms(X509_get0_notAfter(x), &ms), DD_CERTFACTS_OK);
    assert_int_equal(f.not_after_ms, ms);
    assert_true(f.not_after_ms > f.not_before_ms);
    assert_true(f.serial[0] != '\0');
    X509_free(x);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* An RSA key with the ROCA fingerprint gets roca = true; a clean RSA key and an EC key are
 * assessed and clean (the registry stores these as key_verdict). */
static void test_dd_certfacts_roca_verdict(void **state)
{
    EVP_PKEY *ca_key = NULL;
    EVP_PKEY *key = NULL;
    X509 *ca = make("Root", 0, NULL, NULL, NOW - DAY, NOW + 3000 * DAY, 1, &ca_key);
    X509 *clean = make("Clean", 2048, ca, ca_key, NOW - DAY, NOW + 365 * DAY, 2, &key);
    BIGNUM *n = dd_testkeys_roca_modulus(2048, 7);
    EVP_PKEY *roca_key = dd_testkeys_rsa_public(n);
    X509 *infineon = X509_new();
    char *pem;
    dd_certfacts_t f;

    (void)state;
    assert_non_null(roca_key);
    assert_non_null(infineon);
    assert_int_equal(X509_set_version(infineon, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(infineon), 3), 1);
    assert_int_equal(X509_set_subject_name(infineon, X509_get_subject_name(ca)), 1);
    assert_int_equal(X509_set_issuer_name(infineon, X509_get_subject_name(ca)), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(infineon), (time_t)(NOW / 1000)));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(infineon), (time_t)(NOW / 1000 + 86400)));
    assert_int_equal(X509_set_pubkey(infineon, roca_key), 1);
    assert_true(X509_sign(infineon, ca_key, EVP_sha256()) > 0);

    assert_int_equal(dd_certfacts_from_x509(infineon, &f), DD_CERTFACTS_OK);
    assert_string_equal(f.key_type, "RSA");
    assert_int_equal(f.key_bits, 2048);
    assert_true(f.key_assessed);
    assert_true(f.roca);
    pem = pem_of(infineon); /* the PEM path gives the same verdict */
    assert_int_equal(dd_certfacts_from_pem(pem, strlen(pem), &f), DD_CERTFACTS_OK);
    assert_true(f.key_assessed);
    assert_true(f.roca);
    free(pem);

    assert_int_equal(dd_certfacts_from_x509(clean, &f), DD_CERTFACTS_OK);
    assert_true(f.key_assessed);
    assert_false(f.roca);
    assert_int_equal(dd_certfacts_from_x509(ca, &f), DD_CERTFACTS_OK);
    assert_string_equal(f.key_type, "EC");
    assert_true(f.key_assessed);
    assert_false(f.roca);

    X509_free(infineon);
    EVP_PKEY_free(roca_key);
    BN_free(n);
    X509_free(clean);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
}

static void test_dd_certfacts_bad_input(void **state)
{
    static const char NOT_PEM[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    dd_certfacts_t f;
    int64_t ms;

    (void)state;
    memset(&f, 0xff, sizeof(f));
    assert_int_equal(dd_certfacts_from_pem(NOT_PEM, strlen(NOT_PEM), &f), DD_CERTFACTS_INVALID);
    assert_int_equal(f.key_bits, 0); /* zeroed */
    assert_int_equal(dd_certfacts_from_pem("hello", 5, &f), DD_CERTFACTS_INVALID);
    assert_int_equal(dd_certfacts_from_pem(NULL, 0, &f), DD_CERTFACTS_BAD_PARAMETER);
    assert_int_equal(dd_certfacts_from_pem(NOT_PEM, 1, NULL), DD_CERTFACTS_BAD_PARAMETER);
    assert_int_equal(dd_certfacts_from_x509(NULL, &f), DD_CERTFACTS_BAD_PARAMETER);
    assert_int_equal(dd_certfacts_time_ms(NULL, &ms), DD_CERTFACTS_BAD_PARAMETER);
    assert_string_equal(dd_certfacts_strerror(DD_CERTFACTS_OK), "ok");
    assert_string_equal(dd_certfacts_strerror(DD_CERTFACTS_INVALID),
                        "not a certificate with readable validity times");
    assert_string_equal(dd_certfacts_strerror((dd_certfacts_status_t)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_certfacts_ec_device_of_a_ca),
        cmocka_unit_test(test_dd_certfacts_short_rsa_self_signed),
        cmocka_unit_test(test_dd_certfacts_issued_by_pki),
        cmocka_unit_test(test_dd_certfacts_roca_verdict),
        cmocka_unit_test(test_dd_certfacts_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
