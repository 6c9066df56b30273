#include "dd_certfacts.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "dd_keyq.h"
#include "dd_pki.h"

dd_certfacts_status_t dd_certfacts_time_ms(const struct asn1_string_st *t, int64_t *ms)
{
    struct tm tm;

    if (t == NULL || ms == NULL) {
        return DD_CERTFACTS_BAD_PARAMETER;
    }
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return DD_CERTFACTS_INVALID;
    }
    *ms = (int64_t)timegm(&tm) * 1000;
    return DD_CERTFACTS_OK;
}

/* The names the audit's key-quality criteria test ("RSA" ... "EC"), else OpenSSL's own. */
static void key_type_name(EVP_PKEY *key, char *out, size_t len)
{
    int id = EVP_PKEY_get_base_id(key);
    const char *name = NULL;

    switch (id) {
    case EVP_PKEY_RSA: name = "RSA"; break;
    case EVP_PKEY_RSA_PSS: name = "RSA-PSS"; break;
    case EVP_PKEY_DSA: name = "DSA"; break;
    case EVP_PKEY_EC: name = "EC"; break;
    default:
        /* A provider-only key has no NID: its type name is all there is. */
        name = id != NID_undef ? OBJ_nid2sn(id) : EVP_PKEY_get0_type_name(key);
        break;
    }
    (void)snprintf(out, len, "%s", name != NULL ? name : "");
}

static dd_certfacts_status_t name_hash(const X509_NAME *name, uint32_t *out)
{
    int ok = 0;
    unsigned long h = X509_NAME_hash_ex(name, NULL, NULL, &ok);

    if (ok != 1) {
        return DD_CERTFACTS_NO_MEMORY;
    }
    *out = (uint32_t)h;
    return DD_CERTFACTS_OK;
}

/* The ROCA test of an RSA key (about 10 us at worst): stored, it spares the audit the PEM. An
 * unreadable modulus leaves the verdict unknown (the audit then parses the PEM and says why). */
static dd_certfacts_status_t key_verdict(EVP_PKEY *key, dd_certfacts_t *out)
{
    dd_keyq_result_t q;
    dd_keyq_status_t st;

    if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "RSA-PSS")) {
        out->key_assessed = true;
        return DD_CERTFACTS_OK;
    }
    st = dd_keyq_assess(key, &q);
    if (st == DD_KEYQ_NO_MEMORY) {
        return DD_CERTFACTS_NO_MEMORY;
    }
    out->key_assessed = st == DD_KEYQ_OK;
    out->roca = out->key_assessed && q.roca;
    return DD_CERTFACTS_OK;
}

dd_certfacts_status_t dd_certfacts_from_x509(const struct x509_st *x, dd_certfacts_t *out)
{
    const X509 *cert = x;
    dd_certfacts_status_t st = DD_CERTFACTS_OK;
    dd_certfacts_status_t one;
    EVP_PKEY *key;
    BIGNUM *bn;
    char *hex;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (cert == NULL || out == NULL) {
        return DD_CERTFACTS_BAD_PARAMETER;
    }
    /* Each fact on its own: a caller that falls back to the X509 on failure still gets the
     * others (the audit judges the key of a certificate whose validity does not convert). */
    key = X509_get0_pubkey(cert);
    if (key != NULL) {
        key_type_name(key, out->key_type, sizeof(out->key_type));
        out->key_bits = EVP_PKEY_get_bits(key);
        if ((one = key_verdict(key, out)) != DD_CERTFACTS_OK) {
            st = one;
        }
    }
    if ((one = dd_certfacts_time_ms(X509_get0_notBefore(cert), &out->not_before_ms)) !=
        DD_CERTFACTS_OK) {
        st = one;
    }
    if ((one = dd_certfacts_time_ms(X509_get0_notAfter(cert), &out->not_after_ms)) !=
        DD_CERTFACTS_OK) {
        st = one;
    }
    if ((one = name_hash(X509_get_subject_name(cert), &out->subject_hash)) != DD_CERTFACTS_OK ||
        (one = name_hash(X509_get_issuer_name(cert), &out->issuer_hash)) != DD_CERTFACTS_OK) {
        st = one;
    }
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (hex == NULL) {
        st = DD_CERTFACTS_NO_MEMORY;
    } else if (strlen(hex) < sizeof(out->serial)) {
        memcpy(out->serial, hex, strlen(hex) + 1);
    }
    OPENSSL_free(hex);
    return st;
}

dd_certfacts_status_t dd_certfacts_from_pem(const char *pem, size_t len, dd_certfacts_t *out)
{
    X509 *x = NULL;
    dd_certfacts_status_t st;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (pem == NULL || out == NULL) {
        return DD_CERTFACTS_BAD_PARAMETER;
    }
    if (dd_pki_cert_from_pem(pem, len, &x) != DD_PKI_OK) {
        return DD_CERTFACTS_INVALID;
    }
    st = dd_certfacts_from_x509(x, out);
    X509_free(x);
    return st;
}

const char *dd_certfacts_strerror(dd_certfacts_status_t status)
{
    switch (status) {
    case DD_CERTFACTS_OK: return "ok";
    case DD_CERTFACTS_BAD_PARAMETER: return "bad parameter";
    case DD_CERTFACTS_INVALID: return "not a certificate with readable validity times";
    case DD_CERTFACTS_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
