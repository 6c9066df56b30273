#include "dd_pki.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_seed.h"

/* 2049-12-31T23:59:59Z, the notAfter AWS IoT gives its device certificates.
 * Every certificate of the local PKI (the CA included) ends then, so the CA
 * never expires before a certificate it signed. */
#define NOT_AFTER_EPOCH ((time_t)2524607999)
/* 2000-01-01T00:00:00Z, the notBefore of every certificate made with a seed. */
#define SEEDED_NOT_BEFORE_EPOCH ((time_t)946684800)
/* Tolerate clocks a little behind ours (containers, VMs). */
#define NOT_BEFORE_SLACK_S 3600
/* Largest PEM file the module reads. */
#define PEM_FILE_MAX (1024 * 1024)

struct dd_pki_ca {
    X509 *cert;
    EVP_PKEY *key;
    char data_dir[DD_FS_PATH_MAX];
};

/* What kind of certificate build_cert() makes. */
typedef enum cert_profile {
    PROFILE_CA = 0,
    PROFILE_SERVER,
    PROFILE_SERVICE,
    PROFILE_DEVICE
} cert_profile_t;

static const char *const FILE_NAMES[] = {
    [DD_PKI_FILE_DIR] = "",
    [DD_PKI_FILE_ROOTCA_CERT] = "rootca.pem",
    [DD_PKI_FILE_ROOTCA_KEY] = "rootca.key",
    [DD_PKI_FILE_SERVER_CERT] = "server.pem",
    [DD_PKI_FILE_SERVER_KEY] = "server.key",
    [DD_PKI_FILE_SERVICE_CERT] = "service.pem",
    [DD_PKI_FILE_SERVICE_KEY] = "service.key",
    [DD_PKI_FILE_TRUST_DIR] = "trust",
};

/* Logs the oldest queued OpenSSL error with some context, then empties the
 * queue: stale errors left on the broker thread confuse its TLS layer. */
static dd_pki_status_t crypto_fail(const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256];

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        DD_LOG_ERROR("pki: %s failed: %s", what, buf);
    } else {
        DD_LOG_ERROR("pki: %s failed", what);
    }
    ERR_clear_error();
    return DD_PKI_CRYPTO_ERROR;
}

static dd_pki_status_t from_fs(dd_fs_status_t st)
{
    switch (st) {
    case DD_FS_OK: return DD_PKI_OK;
    case DD_FS_BAD_PARAMETER: return DD_PKI_BAD_PARAMETER;
    case DD_FS_NOT_FOUND: return DD_PKI_NOT_FOUND;
    case DD_FS_NO_MEMORY: return DD_PKI_NO_MEMORY;
    case DD_FS_TOO_LARGE: return DD_PKI_PARSE_ERROR;
    case DD_FS_IO_ERROR: return DD_PKI_IO_ERROR;
    }
    return DD_PKI_IO_ERROR;
}

dd_pki_status_t dd_pki_path(const char *data_dir, dd_pki_file_t file, char *buf, size_t len)
{
    int n;

    if (data_dir == NULL || data_dir[0] == '\0' || buf == NULL || len == 0 ||
        (unsigned)file > (unsigned)DD_PKI_FILE_TRUST_DIR) {
        return DD_PKI_BAD_PARAMETER;
    }
    if (file == DD_PKI_FILE_DIR) {
        n = snprintf(buf, len, "%s/pki", data_dir);
    } else {
        n = snprintf(buf, len, "%s/pki/%s", data_dir, FILE_NAMES[file]);
    }
    return (n < 0 || (size_t)n >= len) ? DD_PKI_BUFFER_TOO_SMALL : DD_PKI_OK;
}

/* ---- keys and certificates ------------------------------------------------ */

/* dd_seed stream names per certificate profile: keys and serials of a kind
 * follow each other, whatever the other kinds drew (dd_seed.h). */
static const char *const KEY_STREAMS[] = {
    [PROFILE_CA] = "pki.key.ca",
    [PROFILE_SERVER] = "pki.key.server",
    [PROFILE_SERVICE] = "pki.key.service",
    [PROFILE_DEVICE] = "pki.key.device",
};
static const char *const SERIAL_STREAMS[] = {
    [PROFILE_CA] = "pki.serial.ca",
    [PROFILE_SERVER] = "pki.serial.server",
    [PROFILE_SERVICE] = "pki.serial.service",
    [PROFILE_DEVICE] = "pki.serial.device",
};

/* Enough candidates for a 1024-bit prime with overwhelming probability (about
 * one odd number in 355 is prime). */
#define PRIME_ATTEMPTS 20000

/* A 1024-bit prime p with gcd(p - 1, e) = 1 from the generator's bytes: the
 * two top bits set so that p * q has exactly 2048 bits, as OpenSSL does. */
static BIGNUM *seeded_prime(dd_seed_gen_t *gen, const BIGNUM *e, BN_CTX *bn)
{
    unsigned char bytes[128];
    BIGNUM *p = BN_new();
    BIGNUM *pm1 = BN_new();
    BIGNUM *g = BN_new();

    for (int i = 0; p != NULL && pm1 != NULL && g != NULL && i < PRIME_ATTEMPTS; i++) {
        if (dd_seed_gen_bytes(gen, bytes, sizeof(bytes)) != DD_SEED_OK) {
            break;
        }
        bytes[0] |= 0xc0;
        bytes[sizeof(bytes) - 1] |= 0x01;
        if (BN_bin2bn(bytes, sizeof(bytes), p) == NULL) {
            break;
        }
        /* BN_check_prime draws its witnesses from OpenSSL's CSPRNG, but its
         * answer for a given number is the same (error < 2^-128). */
        if (BN_check_prime(p, bn, NULL) == 1 && BN_sub(pm1, p, BN_value_one()) == 1 &&
            BN_gcd(g, pm1, e, bn) == 1 && BN_is_one(g)) {
            BN_free(pm1);
            BN_free(g);
            OPENSSL_cleanse(bytes, sizeof(bytes));
            return p;
        }
    }
    OPENSSL_cleanse(bytes, sizeof(bytes));
    BN_clear_free(p);
    BN_free(pm1);
    BN_free(g);
    return NULL;
}

/* The RSA key of two primes, built as OpenSSL's keygen builds it (d modulo
 * lcm(p - 1, q - 1), CRT values). */
static EVP_PKEY *rsa_from_primes(BIGNUM *p, BIGNUM *q, const BIGNUM *e, BN_CTX *bn)
{
    BIGNUM *n = BN_new();
    BIGNUM *pm1 = BN_new();
    BIGNUM *qm1 = BN_new();
    BIGNUM *g = BN_new();
    BIGNUM *lcm = BN_new();
    BIGNUM *d = BN_new();
    BIGNUM *dp = BN_new();
    BIGNUM *dq = BN_new();
    BIGNUM *qinv = BN_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *key = NULL;
    bool ok;

    if (BN_cmp(p, q) < 0) {
        BIGNUM *t = p; /* p > q, as OpenSSL's keys: qInv is q^-1 mod p */
        p = q;
        q = t;
    }
    ok = n != NULL && pm1 != NULL && qm1 != NULL && g != NULL && lcm != NULL && d != NULL &&
         dp != NULL && dq != NULL && qinv != NULL && bld != NULL && BN_mul(n, p, q, bn) == 1 &&
         BN_sub(pm1, p, BN_value_one()) == 1 && BN_sub(qm1, q, BN_value_one()) == 1 &&
         BN_gcd(g, pm1, qm1, bn) == 1 && BN_mul(lcm, pm1, qm1, bn) == 1 &&
         BN_div(lcm, NULL, lcm, g, bn) == 1 && BN_mod_inverse(d, e, lcm, bn) != NULL &&
         BN_mod(dp, d, pm1, bn) == 1 && BN_mod(dq, d, qm1, bn) == 1 &&
         BN_mod_inverse(qinv, q, p, bn) != NULL &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv) == 1 &&
         (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
         (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
         EVP_PKEY_fromdata_init(pctx) == 1 &&
         EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) == 1;
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_clear_free(pm1);
    BN_clear_free(qm1);
    BN_clear_free(g);
    BN_clear_free(lcm);
    BN_clear_free(d);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_clear_free(qinv);
    return key;
}

static EVP_PKEY *seeded_rsa2048(dd_seed_gen_t *gen)
{
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *e = BN_new();
    BIGNUM *p = NULL;
    BIGNUM *q = NULL;
    EVP_PKEY *key = NULL;

    if (bn != NULL && e != NULL && BN_set_word(e, RSA_F4) == 1 &&
        (p = seeded_prime(gen, e, bn)) != NULL && (q = seeded_prime(gen, e, bn)) != NULL &&
        BN_cmp(p, q) != 0) {
        key = rsa_from_primes(p, q, e, bn);
    }
    BN_clear_free(p);
    BN_clear_free(q);
    BN_free(e);
    BN_CTX_free(bn);
    return key;
}

/* A P-256 key whose private scalar is the generator's next 32 bytes (drawn
 * again in the rare case they are 0 or not below the group order). */
static EVP_PKEY *seeded_p256(dd_seed_gen_t *gen)
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *priv = BN_secure_new();
    EC_POINT *pub = NULL;
    unsigned char bytes[32];
    unsigned char pub_oct[65];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *key = NULL;
    bool ok = group != NULL && bn != NULL && priv != NULL && bld != NULL;

    for (int i = 0; ok && i < 64; i++) {
        ok = dd_seed_gen_bytes(gen, bytes, sizeof(bytes)) == DD_SEED_OK &&
             BN_bin2bn(bytes, sizeof(bytes), priv) != NULL;
        if (ok && !BN_is_zero(priv) && BN_cmp(priv, EC_GROUP_get0_order(group)) < 0) {
            break;
        }
    }
    OPENSSL_cleanse(bytes, sizeof(bytes));
    ok = ok && !BN_is_zero(priv) && BN_cmp(priv, EC_GROUP_get0_order(group)) < 0 &&
         (pub = EC_POINT_new(group)) != NULL &&
         EC_POINT_mul(group, pub, priv, NULL, NULL, bn) == 1 &&
         EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pub_oct, sizeof(pub_oct),
                            bn) == sizeof(pub_oct) &&
         OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_oct, sizeof(pub_oct)) ==
             1 &&
         (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
         (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
         EVP_PKEY_fromdata_init(pctx) == 1 &&
         EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) == 1;
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EC_POINT_free(pub);
    BN_clear_free(priv);
    BN_CTX_free(bn);
    EC_GROUP_free(group);
    return key;
}

/* OpenSSL's keygen without a seed; with one, a key that is a function of the
 * seed and of how many keys of this profile were made before (dd_seed.h). */
static EVP_PKEY *generate_key(dd_pki_key_type_t type, cert_profile_t profile)
{
    dd_seed_gen_t gen;
    EVP_PKEY *key = NULL;

    if (!dd_seed_get(NULL)) {
        return type == DD_PKI_KEY_EC_P256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    }
    if (dd_seed_gen_init(&gen, KEY_STREAMS[profile]) == DD_SEED_OK) {
        key = type == DD_PKI_KEY_EC_P256 ? seeded_p256(&gen) : seeded_rsa2048(&gen);
    }
    dd_seed_gen_wipe(&gen);
    return key;
}

static bool add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    bool ok;

    if (ext == NULL) {
        return false;
    }
    ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A positive, non-zero, 16-byte serial (RFC 5280 allows up to 20 octets). */
static bool set_random_serial(X509 *cert, cert_profile_t profile)
{
    unsigned char bytes[16];
    BIGNUM *bn;
    bool ok;

    if (dd_seed_bytes(SERIAL_STREAMS[profile], bytes, sizeof(bytes)) != DD_SEED_OK) {
        return false;
    }
    bytes[0] = (unsigned char)((bytes[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    if (bn == NULL) {
        return false;
    }
    ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok;
}

static X509_NAME *make_name(const char *cn, const char *org)
{
    X509_NAME *name = X509_NAME_new();

    if (name == NULL) {
        return NULL;
    }
    if ((org != NULL && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                   (const unsigned char *)org, -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

/*
 * Builds and signs a certificate for @key. @issuer/@issuer_key are NULL for
 * the self-signed CA. Extensions per profile are what TLS stacks check:
 * basicConstraints and keyUsage (critical), EKU serverAuth/clientAuth for
 * leaves, SAN for the broker, and key identifiers for chain building.
 */
static dd_pki_status_t build_cert_named(cert_profile_t profile, EVP_PKEY *key, X509 *issuer,
                                        EVP_PKEY *issuer_key, const X509_NAME *name, X509 **out)
{
    X509 *cert = X509_new();
    X509_NAME *subject = NULL;
    X509V3_CTX ctx;
    /* With a seed the DER, hence the certificate id, must not depend on when
     * the run happened: a fixed notBefore (the slack below is then moot). */
    time_t now = dd_seed_get(NULL) ? SEEDED_NOT_BEFORE_EPOCH + NOT_BEFORE_SLACK_S
                                   : (time_t)(dd_clock_wall_ms() / 1000);
    bool ok;

    *out = NULL;
    if (cert == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    switch (profile) {
    case PROFILE_CA: subject = make_name(DD_PKI_CA_CN, "ddlocal"); break;
    case PROFILE_SERVER: subject = make_name("localhost", "ddlocal"); break;
    case PROFILE_SERVICE: subject = make_name(DD_PKI_SERVICE_CN, "ddlocal"); break;
    case PROFILE_DEVICE: subject = make_name(DD_PKI_DEVICE_CN, NULL); break;
    }
    if (name != NULL) {
        /* CreateCertificateFromCsr: the CSR's subject, as AWS keeps it. */
        X509_NAME_free(subject);
        subject = X509_NAME_dup(name);
    }
    ok =
        subject != NULL && X509_set_version(cert, X509_VERSION_3) == 1 &&
        set_random_serial(cert, profile) && X509_set_subject_name(cert, subject) == 1 &&
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : subject) == 1 &&
        X509_time_adj_ex(X509_getm_notBefore(cert), 0, -NOT_BEFORE_SLACK_S, &now) != NULL &&
        ASN1_TIME_set(X509_getm_notAfter(cert), NOT_AFTER_EPOCH) != NULL &&
        X509_set_pubkey(cert, key) == 1;
    X509_NAME_free(subject);
    if (!ok) {
        X509_free(cert);
        return crypto_fail("certificate fields");
    }

    /* The subject key identifier must exist before the authority key
     * identifier of a self-signed certificate can refer to it. */
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : cert, cert, NULL, NULL, 0);
    switch (profile) {
    case PROFILE_CA:
        ok = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        break;
    case PROFILE_SERVER:
        ok = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
             add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") &&
             add_ext(cert, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
        break;
    case PROFILE_SERVICE:
    case PROFILE_DEVICE:
        /* Client keys only ever sign (ECDHE / TLS 1.3), like AWS's own. */
        ok = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature") &&
             add_ext(cert, &ctx, NID_ext_key_usage, "clientAuth");
        break;
    }
    ok = ok && add_ext(cert, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!ok) {
        X509_free(cert);
        return crypto_fail("certificate extensions");
    }
    if (X509_sign(cert, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0) {
        X509_free(cert);
        return crypto_fail("certificate signature");
    }
    *out = cert;
    return DD_PKI_OK;
}

static dd_pki_status_t build_cert(cert_profile_t profile, EVP_PKEY *key, X509 *issuer,
                                  EVP_PKEY *issuer_key, X509 **out)
{
    return build_cert_named(profile, key, issuer, issuer_key, NULL, out);
}

/* ---- PEM in memory ---------------------------------------------------------- */

/* Copies a memory BIO into a malloc'd NUL-terminated string. */
static dd_pki_status_t bio_to_string(BIO *bio, char **out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s;

    if (n <= 0 || data == NULL) {
        return crypto_fail("PEM output");
    }
    s = malloc((size_t)n + 1);
    if (s == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    *out = s;
    return DD_PKI_OK;
}

typedef enum pem_kind {
    PEM_CERT = 0,
    PEM_PUBLIC_KEY,
    PEM_PRIVATE_PKCS8,      /* BEGIN PRIVATE KEY */
    PEM_PRIVATE_TRADITIONAL /* BEGIN RSA PRIVATE KEY / BEGIN EC PRIVATE KEY, as AWS returns */
} pem_kind_t;

static dd_pki_status_t to_pem(pem_kind_t kind, X509 *cert, EVP_PKEY *key, char **out)
{
    /* Private keys go through a secure-memory BIO, which wipes its buffer. */
    BIO *bio = BIO_new(kind >= PEM_PRIVATE_PKCS8 ? BIO_s_secmem() : BIO_s_mem());
    int ok = 0;
    dd_pki_status_t st;

    *out = NULL;
    if (bio == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    switch (kind) {
    case PEM_CERT: ok = PEM_write_bio_X509(bio, cert); break;
    case PEM_PUBLIC_KEY: ok = PEM_write_bio_PUBKEY(bio, key); break;
    case PEM_PRIVATE_PKCS8:
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
        break;
    case PEM_PRIVATE_TRADITIONAL:
        ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL);
        break;
    }
    st = ok == 1 ? bio_to_string(bio, out) : crypto_fail("PEM encoding");
    BIO_free(bio);
    return st;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* ---- files -------------------------------------------------------------------- */

static dd_pki_status_t read_cert_file(const char *path, X509 **cert)
{
    char *text = NULL;
    size_t len = 0;
    dd_pki_status_t st = from_fs(dd_fs_read_file(path, PEM_FILE_MAX, &text, &len));

    *cert = NULL;
    if (st == DD_PKI_OK) {
        st = dd_pki_cert_from_pem(text, len, cert);
    }
    free(text);
    return st;
}

static dd_pki_status_t read_key_file(const char *path, EVP_PKEY **key)
{
    char *text = NULL;
    size_t len = 0;
    dd_pki_status_t st = from_fs(dd_fs_read_file(path, PEM_FILE_MAX, &text, &len));
    BIO *bio;

    *key = NULL;
    if (st != DD_PKI_OK) {
        return st;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL) {
        st = DD_PKI_NO_MEMORY;
    } else {
        *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (*key == NULL) {
            ERR_clear_error();
            st = DD_PKI_PARSE_ERROR;
        }
    }
    OPENSSL_cleanse(text, len);
    free(text);
    return st;
}

/* Writes the key (0600) first, then the certificate (0644): a crash in
 * between leaves a pair that does not match, which the next ensure detects. */
static dd_pki_status_t write_pair(const char *data_dir, dd_pki_file_t cert_file,
                                  dd_pki_file_t key_file, X509 *cert, EVP_PKEY *key)
{
    char path[DD_FS_PATH_MAX];
    char *key_pem = NULL;
    char *cert_pem = NULL;
    dd_pki_status_t st;

    st = to_pem(PEM_PRIVATE_PKCS8, NULL, key, &key_pem);
    if (st == DD_PKI_OK) {
        st = to_pem(PEM_CERT, cert, NULL, &cert_pem);
    }
    if (st == DD_PKI_OK) {
        st = dd_pki_path(data_dir, key_file, path, sizeof(path));
    }
    if (st == DD_PKI_OK) {
        st = from_fs(dd_fs_write_atomic(path, key_pem, strlen(key_pem), 0600));
    }
    if (st == DD_PKI_OK) {
        st = dd_pki_path(data_dir, cert_file, path, sizeof(path));
    }
    if (st == DD_PKI_OK) {
        st = from_fs(dd_fs_write_atomic(path, cert_pem, strlen(cert_pem), 0644));
    }
    free_secret(key_pem);
    free(cert_pem);
    return st;
}

/* Exclusive lock on DIR/pki/.lock (creating DIR/pki); returns the fd or -1. */
static int lock_pki_dir(const char *data_dir, dd_pki_status_t *st)
{
    char path[DD_FS_PATH_MAX];
    int fd;

    *st = dd_pki_path(data_dir, DD_PKI_FILE_DIR, path, sizeof(path));
    if (*st != DD_PKI_OK) {
        return -1;
    }
    /* 0755: the certificates (rootca.pem above all) are public and must be
     * readable by devices and by the broker after it drops privileges; the
     * private keys are protected by their own 0600. */
    *st = from_fs(dd_fs_mkdirs(path, 0755));
    if (*st != DD_PKI_OK) {
        return -1;
    }
    if (strlen(path) + sizeof("/.lock") > sizeof(path)) {
        *st = DD_PKI_BUFFER_TOO_SMALL;
        return -1;
    }
    strcat(path, "/.lock");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *st = DD_PKI_IO_ERROR;
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            (void)close(fd);
            *st = DD_PKI_IO_ERROR;
            return -1;
        }
    }
    return fd;
}

static void unlock_pki_dir(int fd)
{
    if (fd >= 0) {
        (void)close(fd); /* releases the flock */
    }
}

/* ---- the CA ------------------------------------------------------------------- */

static dd_pki_status_t load_ca(dd_pki_ca_t *ca, const char *cert_path, const char *key_path)
{
    dd_pki_status_t st = read_cert_file(cert_path, &ca->cert);

    if (st != DD_PKI_OK) {
        return st;
    }
    st = read_key_file(key_path, &ca->key);
    if (st == DD_PKI_NOT_FOUND) {
        DD_LOG_ERROR("pki: %s exists but its key %s is missing", cert_path, key_path);
        return DD_PKI_INCONSISTENT;
    }
    if (st != DD_PKI_OK) {
        return st;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        DD_LOG_ERROR("pki: %s and %s do not belong together", cert_path, key_path);
        return DD_PKI_INCONSISTENT;
    }
    return DD_PKI_OK;
}

static dd_pki_status_t create_ca(dd_pki_ca_t *ca)
{
    dd_pki_status_t st;

    ca->key = generate_key(DD_PKI_KEY_RSA2048, PROFILE_CA);
    if (ca->key == NULL) {
        return crypto_fail("CA key generation");
    }
    st = build_cert(PROFILE_CA, ca->key, NULL, NULL, &ca->cert);
    if (st == DD_PKI_OK) {
        st = write_pair(ca->data_dir, DD_PKI_FILE_ROOTCA_CERT, DD_PKI_FILE_ROOTCA_KEY, ca->cert,
                        ca->key);
    }
    if (st == DD_PKI_OK) {
        DD_LOG_INFO("pki: created root CA in %s/pki", ca->data_dir);
    }
    return st;
}

dd_pki_status_t dd_pki_ca_ensure(const char *data_dir, dd_pki_ca_t **out)
{
    char cert_path[DD_FS_PATH_MAX];
    char key_path[DD_FS_PATH_MAX];
    dd_pki_ca_t *ca;
    dd_pki_status_t st;
    int lock;

    if (out != NULL) {
        *out = NULL;
    }
    if (data_dir == NULL || data_dir[0] == '\0' || out == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    ca = calloc(1, sizeof(*ca));
    if (ca == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    if (strlen(data_dir) >= sizeof(ca->data_dir)) {
        free(ca);
        return DD_PKI_BUFFER_TOO_SMALL;
    }
    memcpy(ca->data_dir, data_dir, strlen(data_dir) + 1);
    st = dd_pki_path(data_dir, DD_PKI_FILE_ROOTCA_CERT, cert_path, sizeof(cert_path));
    if (st == DD_PKI_OK) {
        st = dd_pki_path(data_dir, DD_PKI_FILE_ROOTCA_KEY, key_path, sizeof(key_path));
    }
    if (st != DD_PKI_OK) {
        free(ca);
        return st;
    }
    lock = lock_pki_dir(data_dir, &st);
    if (lock < 0) {
        free(ca);
        return st;
    }
    /* A key without a certificate means an interrupted creation: nothing
     * can have been signed with it yet, so it is simply replaced. */
    st = dd_fs_exists(cert_path) ? load_ca(ca, cert_path, key_path) : create_ca(ca);
    if (st == DD_PKI_OK) {
        /* The broker's capath must exist before the broker starts. */
        char trust[DD_FS_PATH_MAX];
        st = dd_pki_path(data_dir, DD_PKI_FILE_TRUST_DIR, trust, sizeof(trust));
        if (st == DD_PKI_OK) {
            st = from_fs(dd_fs_mkdirs(trust, 0755));
        }
    }
    unlock_pki_dir(lock);
    if (st != DD_PKI_OK) {
        dd_pki_ca_free(ca);
        return st;
    }
    *out = ca;
    return DD_PKI_OK;
}

void dd_pki_ca_free(dd_pki_ca_t *ca)
{
    if (ca != NULL) {
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        free(ca);
    }
}

X509 *dd_pki_ca_cert(const dd_pki_ca_t *ca)
{
    return ca != NULL ? ca->cert : NULL;
}

/* ---- server and service certificates -------------------------------------- */

/* Is the stored pair usable: signed by this CA, matching, not expired? */
static bool pair_is_valid(const dd_pki_ca_t *ca, X509 *cert, EVP_PKEY *key)
{
    time_t now = (time_t)(dd_clock_wall_ms() / 1000);
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca->cert);
    bool ok = ca_pub != NULL && X509_check_issued(ca->cert, cert) == X509_V_OK &&
              X509_verify(cert, ca_pub) == 1 && X509_check_private_key(cert, key) == 1 &&
              X509_cmp_time(X509_get0_notAfter(cert), &now) > 0;

    ERR_clear_error();
    return ok;
}

static dd_pki_status_t ensure_leaf(const dd_pki_ca_t *ca, cert_profile_t profile,
                                   dd_pki_file_t cert_file, dd_pki_file_t key_file, char *cert_id)
{
    char cert_path[DD_FS_PATH_MAX];
    char key_path[DD_FS_PATH_MAX];
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    dd_pki_status_t st;
    int lock;

    if (ca == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    st = dd_pki_path(ca->data_dir, cert_file, cert_path, sizeof(cert_path));
    if (st == DD_PKI_OK) {
        st = dd_pki_path(ca->data_dir, key_file, key_path, sizeof(key_path));
    }
    if (st != DD_PKI_OK) {
        return st;
    }
    lock = lock_pki_dir(ca->data_dir, &st);
    if (lock < 0) {
        return st;
    }
    if (read_cert_file(cert_path, &cert) != DD_PKI_OK ||
        read_key_file(key_path, &key) != DD_PKI_OK || !pair_is_valid(ca, cert, key)) {
        X509_free(cert);
        EVP_PKEY_free(key);
        cert = NULL;
        key = generate_key(DD_PKI_KEY_RSA2048, profile);
        st = key != NULL ? build_cert(profile, key, ca->cert, ca->key, &cert)
                         : crypto_fail("key generation");
        if (st == DD_PKI_OK) {
            st = write_pair(ca->data_dir, cert_file, key_file, cert, key);
        }
        if (st == DD_PKI_OK) {
            DD_LOG_INFO("pki: issued %s", cert_path);
        }
    }
    unlock_pki_dir(lock);
    if (st == DD_PKI_OK && cert_id != NULL) {
        st = dd_pki_cert_id_from_x509(cert, cert_id);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return st;
}

dd_pki_status_t dd_pki_ensure_server(const dd_pki_ca_t *ca)
{
    return ensure_leaf(ca, PROFILE_SERVER, DD_PKI_FILE_SERVER_CERT, DD_PKI_FILE_SERVER_KEY, NULL);
}

dd_pki_status_t dd_pki_ensure_service(const dd_pki_ca_t *ca, char cert_id[DD_PKI_CERT_ID_LEN + 1])
{
    return ensure_leaf(ca, PROFILE_SERVICE, DD_PKI_FILE_SERVICE_CERT, DD_PKI_FILE_SERVICE_KEY,
                       cert_id);
}

/* ---- device credentials ------------------------------------------------------ */

dd_pki_status_t dd_pki_issue_device(const dd_pki_ca_t *ca, dd_pki_key_type_t type,
                                    dd_pki_credentials_t *out)
{
    EVP_PKEY *key;
    X509 *cert = NULL;
    dd_pki_status_t st;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (ca == NULL || out == NULL || (type != DD_PKI_KEY_RSA2048 && type != DD_PKI_KEY_EC_P256)) {
        return DD_PKI_BAD_PARAMETER;
    }
    key = generate_key(type, PROFILE_DEVICE);
    if (key == NULL) {
        return crypto_fail("device key generation");
    }
    st = build_cert(PROFILE_DEVICE, key, ca->cert, ca->key, &cert);
    if (st == DD_PKI_OK) {
        st = to_pem(PEM_CERT, cert, NULL, &out->certificate_pem);
    }
    if (st == DD_PKI_OK) {
        st = to_pem(PEM_PUBLIC_KEY, NULL, key, &out->public_key_pem);
    }
    if (st == DD_PKI_OK) {
        st = to_pem(PEM_PRIVATE_TRADITIONAL, NULL, key, &out->private_key_pem);
    }
    if (st == DD_PKI_OK) {
        st = dd_pki_cert_id_from_x509(cert, out->certificate_id);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    if (st != DD_PKI_OK) {
        dd_pki_credentials_free(out);
    }
    return st;
}

dd_pki_status_t dd_pki_issue_from_csr(const dd_pki_ca_t *ca, const char *csr_pem, size_t len,
                                      char **certificate_pem,
                                      char certificate_id[DD_PKI_CERT_ID_LEN + 1])
{
    BIO *bio;
    X509_REQ *req;
    EVP_PKEY *key;
    X509 *cert = NULL;
    dd_pki_status_t st;

    if (certificate_pem != NULL) {
        *certificate_pem = NULL;
    }
    if (ca == NULL || csr_pem == NULL || certificate_pem == NULL || certificate_id == NULL ||
        len > INT_MAX) {
        return DD_PKI_BAD_PARAMETER;
    }
    bio = BIO_new_mem_buf(csr_pem, (int)len);
    if (bio == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    key = req != NULL ? X509_REQ_get0_pubkey(req) : NULL;
    /* A CSR whose signature does not verify was not made with the key it names. */
    if (key == NULL || X509_REQ_verify(req, key) != 1) {
        ERR_clear_error();
        X509_REQ_free(req);
        return DD_PKI_PARSE_ERROR;
    }
    st = build_cert_named(PROFILE_DEVICE, key, ca->cert, ca->key, X509_REQ_get_subject_name(req),
                          &cert);
    if (st == DD_PKI_OK) {
        st = to_pem(PEM_CERT, cert, NULL, certificate_pem);
    }
    if (st == DD_PKI_OK) {
        st = dd_pki_cert_id_from_x509(cert, certificate_id);
    }
    if (st != DD_PKI_OK) {
        free(*certificate_pem);
        *certificate_pem = NULL;
    }
    X509_free(cert);
    X509_REQ_free(req);
    return st;
}

dd_pki_status_t dd_pki_credentials_write(const dd_pki_credentials_t *cred, const char *dir)
{
    const struct {
        const char *name;
        const char *text;
        mode_t mode;
    } files[] = {
        /* The private key first: a reader that finds cert.pem finds its key. */
        {DD_PKI_DEVICE_PRIVATE_KEY_FILE, cred != NULL ? cred->private_key_pem : NULL, 0600},
        {DD_PKI_DEVICE_PUBLIC_KEY_FILE, cred != NULL ? cred->public_key_pem : NULL, 0644},
        {DD_PKI_DEVICE_CERT_FILE, cred != NULL ? cred->certificate_pem : NULL, 0644},
    };
    char path[DD_FS_PATH_MAX];
    dd_pki_status_t st;
    size_t i;

    if (cred == NULL || dir == NULL || dir[0] == '\0' || cred->certificate_pem == NULL ||
        cred->public_key_pem == NULL || cred->private_key_pem == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    st = from_fs(dd_fs_mkdirs(dir, 0700));
    for (i = 0; st == DD_PKI_OK && i < sizeof(files) / sizeof(files[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);

        if (n < 0 || (size_t)n >= sizeof(path)) {
            return DD_PKI_BUFFER_TOO_SMALL;
        }
        st = from_fs(dd_fs_write_atomic(path, files[i].text, strlen(files[i].text), files[i].mode));
    }
    return st;
}

void dd_pki_credentials_free(dd_pki_credentials_t *cred)
{
    if (cred != NULL) {
        free(cred->certificate_pem);
        free(cred->public_key_pem);
        free_secret(cred->private_key_pem);
        memset(cred, 0, sizeof(*cred));
    }
}

/* ---- certificate ids ---------------------------------------------------------- */

dd_pki_status_t dd_pki_cert_id_from_x509(const X509 *cert, char id[DD_PKI_CERT_ID_LEN + 1])
{
    static const char HEX[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    unsigned int i;

    if (cert == NULL || id == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    /* X509_digest hashes the DER encoding of the whole certificate. */
    if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1 || md_len * 2 != DD_PKI_CERT_ID_LEN) {
        id[0] = '\0';
        return crypto_fail("certificate digest");
    }
    for (i = 0; i < md_len; i++) {
        id[2 * i] = HEX[md[i] >> 4];
        id[2 * i + 1] = HEX[md[i] & 0x0f];
    }
    id[DD_PKI_CERT_ID_LEN] = '\0';
    return DD_PKI_OK;
}

dd_pki_status_t dd_pki_cert_from_pem(const char *pem, size_t len, X509 **cert)
{
    BIO *bio;

    if (cert != NULL) {
        *cert = NULL;
    }
    if (pem == NULL || cert == NULL || len == 0) {
        return DD_PKI_BAD_PARAMETER;
    }
    if (len > INT_MAX) {
        return DD_PKI_PARSE_ERROR;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return DD_PKI_NO_MEMORY;
    }
    *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (*cert == NULL) {
        ERR_clear_error();
        return DD_PKI_PARSE_ERROR;
    }
    return DD_PKI_OK;
}

dd_pki_status_t dd_pki_cert_id_from_pem(const char *pem, size_t len,
                                        char id[DD_PKI_CERT_ID_LEN + 1])
{
    X509 *cert = NULL;
    dd_pki_status_t st;

    if (id == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    id[0] = '\0';
    st = dd_pki_cert_from_pem(pem, len, &cert);
    if (st == DD_PKI_OK) {
        st = dd_pki_cert_id_from_x509(cert, id);
    }
    X509_free(cert);
    return st;
}

dd_pki_status_t dd_pki_cert_id_from_file(const char *path, char id[DD_PKI_CERT_ID_LEN + 1])
{
    X509 *cert = NULL;
    dd_pki_status_t st;

    if (path == NULL || id == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    id[0] = '\0';
    st = read_cert_file(path, &cert);
    if (st == DD_PKI_OK) {
        st = dd_pki_cert_id_from_x509(cert, id);
    }
    X509_free(cert);
    return st;
}

const char *dd_pki_strerror(dd_pki_status_t status)
{
    switch (status) {
    case DD_PKI_OK: return "ok";
    case DD_PKI_BAD_PARAMETER: return "bad parameter";
    case DD_PKI_NOT_FOUND: return "file not found";
    case DD_PKI_IO_ERROR: return "I/O error";
    case DD_PKI_PARSE_ERROR: return "not a PEM certificate or key";
    case DD_PKI_INCONSISTENT: return "CA certificate and key missing or mismatched";
    case DD_PKI_CRYPTO_ERROR: return "OpenSSL error";
    case DD_PKI_NO_MEMORY: return "out of memory";
    case DD_PKI_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown pki status";
}

/* ---- the broker's extra trust (DIR/pki/trust) ------------------------------------ */

/* Path of slot @p n of @p hash in the trust dir. */
static dd_pki_status_t trust_slot(const char *data_dir, unsigned long hash, int n, char *buf,
                                  size_t len)
{
    char dir[DD_FS_PATH_MAX];
    dd_pki_status_t st = dd_pki_path(data_dir, DD_PKI_FILE_TRUST_DIR, dir, sizeof(dir));
    int w;

    if (st != DD_PKI_OK) {
        return st;
    }
    w = snprintf(buf, len, "%s/%08lx.%d", dir, hash, n);
    return (w < 0 || (size_t)w >= len) ? DD_PKI_BUFFER_TOO_SMALL : DD_PKI_OK;
}

/* Finds @p id among the slots of its hash: *found = its slot or -1, *used = slots in use. */
static dd_pki_status_t trust_find(const char *data_dir, unsigned long hash, const char *id,
                                  int *found, int *used)
{
    char path[DD_FS_PATH_MAX];
    char other[DD_PKI_CERT_ID_LEN + 1];
    dd_pki_status_t st;
    int n;

    *found = -1;
    for (n = 0;; n++) {
        st = trust_slot(data_dir, hash, n, path, sizeof(path));
        if (st != DD_PKI_OK) {
            return st;
        }
        if (!dd_fs_exists(path)) {
            break;
        }
        if (*found < 0 && dd_pki_cert_id_from_file(path, other) == DD_PKI_OK &&
            strcmp(other, id) == 0) {
            *found = n;
        }
    }
    *used = n;
    return DD_PKI_OK;
}

static dd_pki_status_t trust_parse(const char *pem, unsigned long *hash,
                                   char id[DD_PKI_CERT_ID_LEN + 1])
{
    X509 *x = NULL;
    dd_pki_status_t st;

    st = dd_pki_cert_from_pem(pem, strlen(pem), &x);
    if (st != DD_PKI_OK) {
        return st;
    }
    /* The hash OpenSSL's hashed-directory lookup computes (X509_NAME_hash, SHA-1 based). */
    *hash = X509_subject_name_hash(x);
    st = dd_pki_cert_id_from_x509(x, id);
    X509_free(x);
    return st;
}

dd_pki_status_t dd_pki_trust_add(const char *data_dir, const char *pem)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    char path[DD_FS_PATH_MAX];
    unsigned long hash;
    dd_pki_status_t st;
    int found;
    int used;

    if (data_dir == NULL || data_dir[0] == '\0' || pem == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    if ((st = trust_parse(pem, &hash, id)) != DD_PKI_OK ||
        (st = dd_pki_path(data_dir, DD_PKI_FILE_TRUST_DIR, path, sizeof(path))) != DD_PKI_OK ||
        (st = from_fs(dd_fs_mkdirs(path, 0755))) != DD_PKI_OK ||
        (st = trust_find(data_dir, hash, id, &found, &used)) != DD_PKI_OK) {
        return st;
    }
    if (found >= 0) {
        return DD_PKI_OK;
    }
    st = trust_slot(data_dir, hash, used, path, sizeof(path));
    return st == DD_PKI_OK ? from_fs(dd_fs_write_atomic(path, pem, strlen(pem), 0644)) : st;
}

dd_pki_status_t dd_pki_trust_remove(const char *data_dir, const char *pem)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    char path[DD_FS_PATH_MAX];
    char last[DD_FS_PATH_MAX];
    unsigned long hash;
    dd_pki_status_t st;
    int found;
    int used;

    if (data_dir == NULL || data_dir[0] == '\0' || pem == NULL) {
        return DD_PKI_BAD_PARAMETER;
    }
    if ((st = trust_parse(pem, &hash, id)) != DD_PKI_OK ||
        (st = trust_find(data_dir, hash, id, &found, &used)) != DD_PKI_OK || found < 0) {
        return st;
    }
    /* OpenSSL stops at the first missing slot: the last one moves into the gap. */
    if ((st = trust_slot(data_dir, hash, found, path, sizeof(path))) != DD_PKI_OK ||
        (st = trust_slot(data_dir, hash, used - 1, last, sizeof(last))) != DD_PKI_OK) {
        return st;
    }
    if (rename(last, path) != 0 && unlink(path) != 0) {
        return DD_PKI_IO_ERROR;
    }
    return DD_PKI_OK;
}
