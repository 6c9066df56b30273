/**
 * @file dd_pki.h
 * @brief The local PKI: one root CA per data dir, the broker's server
 *        certificate, ddlocal's service certificate, per-device credentials,
 *        and certificate ids.
 *
 * Everything is done with OpenSSL's library (never the openssl command).
 * Files live in `DIR/pki/` (created with mode 0755):
 *
 * | file | contents |
 * |---|---|
 * | trust/ | OpenSSL hashed directory of registered CAs (dd_pki_trust_add()) |
 * | rootca.pem / rootca.key | the root CA (RSA 2048, `CN=ddlocal Root CA,O=ddlocal`) |
 * | server.pem / server.key | the broker (SAN DNS:localhost, IP:127.0.0.1; serverAuth) |
 * | service.pem / service.key | ddlocal's own processes (`CN=ddlocal-service`; clientAuth) |
 *
 * Private keys are written with mode 0600, certificates and public keys with
 * 0644, always atomically (dd_fs_write_atomic). Whoever runs the broker must
 * make server.key readable by the broker's user (mosquitto drops to user
 * `mosquitto` when started as root). Device credentials are an
 * RSA 2048 key (as AWS's CreateKeysAndCertificate) or an EC P-256 key (fleets)
 * and a certificate with subject `CN=AWS IoT Certificate`, clientAuth, a
 * random (or seeded) positive 16-byte serial and validity until
 * 2049-12-31T23:59:59Z.
 *
 * A certificate id is the lowercase hex SHA-256 of the certificate's DER, the
 * form of AWS's certificateId (64 characters).
 *
 * Certificate validity uses wall-clock time (dd_clock_wall_ms()), not the
 * pipeline clock: TLS peers check it against their own wall clock.
 *
 * Keys, serials and validity come from dd_seed: with a seed set
 * (dd_seed_set(), `ddlocal up --seed`), keys are made from the seed's streams
 * (RSA: primes searched over a generator of its own; P-256: a seeded scalar),
 * serials too, and notBefore is fixed at 2000-01-01T00:00:00Z, so the same
 * calls in the same order give the same PEM and certificate ids byte for
 * byte (the CA signs with RSA PKCS#1 v1.5, which is deterministic).
 *
 * Ownership and threads: dd_pki_ca_ensure() returns a dd_pki_ca_t that the
 * caller frees with dd_pki_ca_free(); once returned it is never modified, so
 * several threads may issue certificates with the same CA at once.
 * dd_pki_issue_device() fills a dd_pki_credentials_t with malloc'd strings
 * that the caller releases with dd_pki_credentials_free(). Functions taking an
 * X509 only borrow it.
 */
#ifndef DD_PKI_H_
#define DD_PKI_H_

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

/** Status codes of this module. */
typedef enum dd_pki_status {
    DD_PKI_OK = 0,
    DD_PKI_BAD_PARAMETER,   /**< NULL pointer, empty string or unknown enum value. */
    DD_PKI_NOT_FOUND,       /**< A file that must exist does not. */
    DD_PKI_IO_ERROR,        /**< Reading, writing or locking a file failed (see errno). */
    DD_PKI_PARSE_ERROR,     /**< Text is not a PEM certificate / key. */
    DD_PKI_INCONSISTENT,    /**< CA certificate without its key, or they do not match. */
    DD_PKI_CRYPTO_ERROR,    /**< An OpenSSL operation failed. */
    DD_PKI_NO_MEMORY,       /**< Allocation failed. */
    DD_PKI_BUFFER_TOO_SMALL /**< Output buffer too small. */
} dd_pki_status_t;

/** Key algorithms for issued credentials. */
typedef enum dd_pki_key_type {
    DD_PKI_KEY_RSA2048 = 0, /**< RSA 2048, e=65537 (AWS's CreateKeysAndCertificate). */
    DD_PKI_KEY_EC_P256      /**< ECDSA on prime256v1; about 100x faster to generate. */
} dd_pki_key_type_t;

/** The files of DIR/pki/. */
typedef enum dd_pki_file {
    DD_PKI_FILE_DIR = 0,      /**< DIR/pki itself */
    DD_PKI_FILE_ROOTCA_CERT,  /**< rootca.pem */
    DD_PKI_FILE_ROOTCA_KEY,   /**< rootca.key */
    DD_PKI_FILE_SERVER_CERT,  /**< server.pem */
    DD_PKI_FILE_SERVER_KEY,   /**< server.key */
    DD_PKI_FILE_SERVICE_CERT, /**< service.pem */
    DD_PKI_FILE_SERVICE_KEY,  /**< service.key */
    DD_PKI_FILE_TRUST_DIR     /**< trust/: the broker's capath (registered CA certificates) */
} dd_pki_file_t;

/** Length of a certificate id (hex SHA-256), without the NUL. */
#define DD_PKI_CERT_ID_LEN 64

/** File names dd_pki_credentials_write() uses inside its directory. */
#define DD_PKI_DEVICE_CERT_FILE "cert.pem"
#define DD_PKI_DEVICE_PRIVATE_KEY_FILE "private.key"
#define DD_PKI_DEVICE_PUBLIC_KEY_FILE "public.key"

/** Subject common names. */
#define DD_PKI_CA_CN "ddlocal Root CA"
#define DD_PKI_SERVICE_CN "ddlocal-service"
#define DD_PKI_DEVICE_CN "AWS IoT Certificate"

/** A loaded root CA (opaque). */
typedef struct dd_pki_ca dd_pki_ca_t;

/**
 * Device credentials in PEM, as CreateKeysAndCertificate returns them.
 * The strings are malloc'd by dd_pki_issue_device() and released (the
 * private key wiped first) by dd_pki_credentials_free().
 */
typedef struct dd_pki_credentials {
    char *certificate_pem; /**< "-----BEGIN CERTIFICATE-----..." */
    char *public_key_pem;  /**< "-----BEGIN PUBLIC KEY-----..." (SubjectPublicKeyInfo) */
    char *private_key_pem; /**< "-----BEGIN RSA PRIVATE KEY-----" or "...EC PRIVATE KEY..." */
    char certificate_id[DD_PKI_CERT_ID_LEN + 1]; /**< hex SHA-256 of the DER */
} dd_pki_credentials_t;

/**
 * @brief Builds the path of one of the PKI files of a data dir.
 * @param[in] data_dir The data dir (DIR).
 * @param[in] file Which file.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER or DD_PKI_BUFFER_TOO_SMALL.
 */
dd_pki_status_t dd_pki_path(const char *data_dir, dd_pki_file_t file, char *buf, size_t len);

/**
 * @brief Loads the data dir's root CA, creating it (and DIR/pki) the first
 *        time. Idempotent: a second call loads the same CA.
 *
 * Runs under an exclusive lock on DIR/pki/.lock, so concurrent processes
 * agree on one CA. The key is written before the certificate; a key without
 * a certificate (creation interrupted) is replaced, but a certificate whose
 * key is missing or does not match is refused (DD_PKI_INCONSISTENT): making
 * a new CA would silently orphan every certificate issued so far.
 *
 * @param[in] data_dir The data dir (DIR); created if missing.
 * @param[out] ca Receives the CA; free with dd_pki_ca_free().
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_IO_ERROR,
 *         DD_PKI_PARSE_ERROR, DD_PKI_INCONSISTENT, DD_PKI_CRYPTO_ERROR,
 *         DD_PKI_NO_MEMORY or DD_PKI_BUFFER_TOO_SMALL (path too long).
 */
dd_pki_status_t dd_pki_ca_ensure(const char *data_dir, dd_pki_ca_t **ca);

/**
 * @brief Frees a CA returned by dd_pki_ca_ensure().
 * @param[in] ca CA to free; NULL is ignored.
 */
void dd_pki_ca_free(dd_pki_ca_t *ca);

/**
 * @brief The CA's certificate, e.g. for an X509_STORE.
 * @param[in] ca A loaded CA.
 * @return The certificate, borrowed (valid until dd_pki_ca_free()), or NULL.
 */
X509 *dd_pki_ca_cert(const dd_pki_ca_t *ca);

/**
 * @brief Makes sure DIR/pki/server.pem and server.key exist, are signed by
 *        @p ca, match each other and are not expired; issues new ones
 *        otherwise (RSA 2048, SAN DNS:localhost and IP:127.0.0.1, serverAuth).
 * @param[in] ca The data dir's CA (from dd_pki_ca_ensure()).
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_IO_ERROR,
 *         DD_PKI_CRYPTO_ERROR, DD_PKI_NO_MEMORY or DD_PKI_BUFFER_TOO_SMALL.
 */
dd_pki_status_t dd_pki_ensure_server(const dd_pki_ca_t *ca);

/**
 * @brief Same as dd_pki_ensure_server() for DIR/pki/service.pem and
 *        service.key (RSA 2048, CN=ddlocal-service, clientAuth).
 *
 * A valid service certificate is kept, so its id stays stable across starts.
 *
 * @param[in] ca The data dir's CA.
 * @param[out] cert_id Optional: receives the service certificate's id
 *                     (DD_PKI_CERT_ID_LEN + 1 bytes).
 * @return As dd_pki_ensure_server().
 */
dd_pki_status_t dd_pki_ensure_service(const dd_pki_ca_t *ca, char cert_id[DD_PKI_CERT_ID_LEN + 1]);

/**
 * @brief Issues a device key pair and certificate signed by @p ca, in memory.
 * @param[in] ca The CA.
 * @param[in] type Key algorithm.
 * @param[out] out Receives malloc'd PEM strings and the certificate id;
 *                 release with dd_pki_credentials_free(). Zeroed on failure.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_CRYPTO_ERROR or
 *         DD_PKI_NO_MEMORY.
 */
dd_pki_status_t dd_pki_issue_device(const dd_pki_ca_t *ca, dd_pki_key_type_t type,
                                    dd_pki_credentials_t *out);

/**
 * @brief CreateCertificateFromCsr: a device certificate for the key of a PEM
 *        certificate signing request, with the CSR's subject, signed by @p ca.
 * @param[in] csr_pem PEM "CERTIFICATE REQUEST" of @p len bytes.
 * @param[out] certificate_pem Receives the malloc'd PEM certificate (caller frees).
 * @param[out] certificate_id Receives its id (hex SHA-256 of the DER).
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_PARSE_ERROR (not a CSR, or its
 *         signature does not verify), DD_PKI_CRYPTO_ERROR or DD_PKI_NO_MEMORY.
 */
dd_pki_status_t dd_pki_issue_from_csr(const dd_pki_ca_t *ca, const char *csr_pem, size_t len,
                                      char **certificate_pem,
                                      char certificate_id[DD_PKI_CERT_ID_LEN + 1]);

/**
 * @brief Writes credentials as DIR/cert.pem (0644), DIR/private.key (0600)
 *        and DIR/public.key (0644), creating @p dir (0700) if needed.
 * @param[in] cred Credentials from dd_pki_issue_device().
 * @param[in] dir Destination directory.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_IO_ERROR or
 *         DD_PKI_BUFFER_TOO_SMALL (path too long).
 */
dd_pki_status_t dd_pki_credentials_write(const dd_pki_credentials_t *cred, const char *dir);

/**
 * @brief Wipes the private key and frees the strings of @p cred (not @p cred
 *        itself); leaves it zeroed. NULL and zeroed structs are fine.
 * @param[in,out] cred Credentials to release.
 */
void dd_pki_credentials_free(dd_pki_credentials_t *cred);

/**
 * @brief Certificate id (lowercase hex SHA-256 of the DER) of an X509, e.g.
 *        the one mosquitto_client_certificate() returns.
 * @param[in] cert Certificate (borrowed).
 * @param[out] id Receives 64 hex characters and a NUL.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER or DD_PKI_CRYPTO_ERROR.
 */
dd_pki_status_t dd_pki_cert_id_from_x509(const X509 *cert, char id[DD_PKI_CERT_ID_LEN + 1]);

/**
 * @brief Certificate id of the first certificate in PEM text.
 * @param[in] pem PEM text (need not be NUL-terminated).
 * @param[in] len Length of @p pem in bytes.
 * @param[out] id Receives 64 hex characters and a NUL.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_PARSE_ERROR or
 *         DD_PKI_CRYPTO_ERROR.
 */
dd_pki_status_t dd_pki_cert_id_from_pem(const char *pem, size_t len,
                                        char id[DD_PKI_CERT_ID_LEN + 1]);

/**
 * @brief Certificate id of the first certificate in a PEM file.
 * @param[in] path PEM file.
 * @param[out] id Receives 64 hex characters and a NUL.
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_NOT_FOUND,
 *         DD_PKI_IO_ERROR, DD_PKI_PARSE_ERROR or DD_PKI_CRYPTO_ERROR.
 */
dd_pki_status_t dd_pki_cert_id_from_file(const char *path, char id[DD_PKI_CERT_ID_LEN + 1]);

/**
 * @brief Parses the first certificate in PEM text.
 * @param[in] pem PEM text (need not be NUL-terminated).
 * @param[in] len Length of @p pem in bytes.
 * @param[out] cert Receives a new X509; the caller frees it with X509_free().
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_PARSE_ERROR or DD_PKI_NO_MEMORY.
 */
dd_pki_status_t dd_pki_cert_from_pem(const char *pem, size_t len, X509 **cert);

/**
 * @brief Adds a certificate to the broker's extra trust, DIR/pki/trust/, an
 *        OpenSSL hashed directory (`<subject hash>.<n>`, as c_rehash names them)
 *        that the listeners name as `capath`. OpenSSL looks a directory up at
 *        each handshake, so mosquitto trusts a certificate added here from the
 *        next connection on, without a restart or SIGHUP. Idempotent.
 * @param[in] data_dir The data dir.
 * @param[in] pem The certificate (a registered CA, or a self-signed device
 *                certificate registered without a CA).
 * @return DD_PKI_OK, DD_PKI_BAD_PARAMETER, DD_PKI_PARSE_ERROR, DD_PKI_IO_ERROR or
 *         DD_PKI_BUFFER_TOO_SMALL.
 */
dd_pki_status_t dd_pki_trust_add(const char *data_dir, const char *pem);

/**
 * @brief Removes a certificate from DIR/pki/trust/ (no error when absent). A
 *        running broker keeps what it has already loaded until it restarts: the
 *        shim's status checks are what refuse a removed CA's devices at once.
 * @return As dd_pki_trust_add().
 */
dd_pki_status_t dd_pki_trust_remove(const char *data_dir, const char *pem);

/** @return Static text for @p status. */
const char *dd_pki_strerror(dd_pki_status_t status);

#endif /* DD_PKI_H_ */
