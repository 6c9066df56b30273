/**
 * @file dd_certfacts.h
 * @brief What the audit checks read about a certificate, taken from its X.509
 *        once, when the certificate enters the registry.
 *
 * Parsing a PEM certificate costs about 0.1 ms with OpenSSL 3 (the public key
 * goes through the provider decoders), so an audit of 10,000 certificates that
 * parsed them all would spend a second on it. The registry stores these facts
 * beside each device and CA certificate (registry migration 7, back-filled for
 * the certificates registered before it) and the audit reads the rows; AWS
 * does the same (DescribeCertificate's validity is computed at registration).
 *
 * Every field is a pure function of the certificate's DER, so the facts of an
 * id (the SHA-256 of the DER) never go stale. The name hashes are OpenSSL's
 * X509_NAME_hash_ex() (SHA-1 of the canonical encoding X509_NAME_cmp()
 * compares, first 32 bits): equal names have equal hashes, so a differing hash
 * proves the names differ, and a matching one is confirmed on the X509.
 *
 * Ownership: the caller owns the dd_certfacts_t (no pointers inside); the
 * X509 or PEM is only read. Thread-safe (no state).
 */
#ifndef DD_CERTFACTS_H_
#define DD_CERTFACTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OpenSSL's X509 without its headers (typedef struct x509_st X509). */
struct x509_st;
/* OpenSSL's ASN1_TIME (typedef struct asn1_string_st ASN1_TIME). */
struct asn1_string_st;

/** Room for a serial number in hex (BN_bn2hex: up to 64 octets, a sign, the NUL). */
#define DD_CERTFACTS_SERIAL_MAX 132
/** Room for a key type name ("RSA", "RSA-PSS", "DSA", "EC", "ED25519", ...). */
#define DD_CERTFACTS_KEY_TYPE_MAX 24

/** Status of the certificate facts functions. */
typedef enum dd_certfacts_status {
    DD_CERTFACTS_OK = 0,        /**< Success. */
    DD_CERTFACTS_BAD_PARAMETER, /**< A required argument was NULL. */
    DD_CERTFACTS_INVALID,       /**< Not a PEM certificate, or a validity time unreadable. */
    DD_CERTFACTS_NO_MEMORY      /**< An allocation failed (in OpenSSL). */
} dd_certfacts_status_t;

/** The facts of one certificate. */
typedef struct dd_certfacts {
    int64_t not_before_ms; /**< notBefore, epoch ms. */
    int64_t not_after_ms;  /**< notAfter, epoch ms. */
    /** Public key algorithm: "RSA", "RSA-PSS", "DSA", "EC", else OpenSSL's short name of
     *  the key type (e.g. "ED25519"); "" when the public key cannot be decoded. */
    char key_type[DD_CERTFACTS_KEY_TYPE_MAX];
    int key_bits;          /**< EVP_PKEY_get_bits() of the public key; 0 without a key. */
    uint32_t subject_hash; /**< X509_NAME_hash_ex() of the subject name. */
    uint32_t issuer_hash;  /**< X509_NAME_hash_ex() of the issuer name. */
    /** Serial number in upper-case hex as BN_bn2hex() writes it ("-" first when negative);
     *  "" when it does not fit (a serial of over 64 octets). */
    char serial[DD_CERTFACTS_SERIAL_MAX];
    /** The key vulnerability verdict is known: true for every decodable key that is not RSA
     *  (no vulnerability test applies to them) and for an RSA / RSA-PSS key whose modulus
     *  dd_keyq_roca() could read; false without a key or with an unreadable modulus. */
    bool key_assessed;
    /** The RSA modulus has the ROCA fingerprint (CVE-2017-15361, dd_keyq.h); false unless
     *  @c key_assessed. Stored so that the audit needs no modulus, hence no PEM. */
    bool roca;
} dd_certfacts_t;

/** The registry's key_verdict text of a key with the ROCA fingerprint ("" = assessed, clean). */
#define DD_CERTFACTS_VERDICT_ROCA "CVE-2017-15361"

/**
 * @brief The facts of a parsed certificate.
 * @param[in] x The certificate (read only).
 * @param[out] out Receives the facts. On failure the facts that could be read are
 *                 still filled and the others are 0 / "": store none of them then.
 * @return DD_CERTFACTS_OK, DD_CERTFACTS_BAD_PARAMETER, DD_CERTFACTS_INVALID (a
 *         validity time that does not convert) or DD_CERTFACTS_NO_MEMORY.
 */
dd_certfacts_status_t dd_certfacts_from_x509(const struct x509_st *x, dd_certfacts_t *out);

/**
 * @brief The facts of a PEM certificate (its first certificate).
 * @param[in] pem PEM text.
 * @param[in] len Its length in bytes.
 * @param[out] out Receives the facts (as dd_certfacts_from_x509(); zeroed when @p pem
 *                 is not a certificate).
 * @return As dd_certfacts_from_x509(); DD_CERTFACTS_INVALID when @p pem is not a certificate.
 */
dd_certfacts_status_t dd_certfacts_from_pem(const char *pem, size_t len, dd_certfacts_t *out);

/**
 * @brief An ASN.1 time (X509_get0_notAfter() ...) as epoch ms, as the audit compares it.
 * @param[in] t The time (an ASN1_TIME, read only).
 * @param[out] ms Receives the epoch ms.
 * @return DD_CERTFACTS_OK, DD_CERTFACTS_BAD_PARAMETER or DD_CERTFACTS_INVALID.
 */
dd_certfacts_status_t dd_certfacts_time_ms(const struct asn1_string_st *t, int64_t *ms);

/** @brief A static description of @p status. */
const char *dd_certfacts_strerror(dd_certfacts_status_t status);

#endif /* DD_CERTFACTS_H_ */
