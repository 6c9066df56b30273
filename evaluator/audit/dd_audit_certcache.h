/**
 * @file dd_audit_certcache.h
 * @brief Parsed certificates shared by the checks of one audit task.
 *
 * The certificate checks read the facts the registry stored at registration
 * (dd_certfacts.h) and parse a PEM only when they need the X509 itself: to
 * confirm a revocation list's hit, or for a row stored without facts. Parsing
 * is what costs (OpenSSL 3 decodes the public key through its provider
 * decoders, about 0.1 ms per certificate on the shared machine), so the task
 * runner (app/dd_auditor) opens one cache with the auditor and hands it to
 * every check as dd_audit_world_t.certs: such a certificate is parsed once,
 * not once per check and task. A certificate id is the SHA-256 of its DER, so an id always
 * names the same certificate: an entry never goes stale. After each task the
 * runner calls dd_audit_certcache_sweep(), which drops the entries that task
 * did not ask for (certificates deleted since), so the cache holds at most
 * the certificates of the registry.
 *
 * Ownership: the cache owns its copies of the ids and one reference to each
 * parsed X509; dd_audit_certcache_get() hands out a new reference that the
 * caller frees with X509_free(). Not thread-safe: one task at a time (tasks
 * run under the pipeline lock).
 */
#ifndef DD_AUDIT_CERTCACHE_H_
#define DD_AUDIT_CERTCACHE_H_

#include <stddef.h>

#include <openssl/x509.h>

/** Status of the certificate cache functions. */
typedef enum dd_audit_certcache_status {
    DD_AUDIT_CERTCACHE_OK = 0,        /**< Success. */
    DD_AUDIT_CERTCACHE_BAD_PARAMETER, /**< A required argument was NULL. */
    DD_AUDIT_CERTCACHE_NO_MEMORY,     /**< An allocation failed. */
    DD_AUDIT_CERTCACHE_INVALID        /**< The PEM is not a certificate (remembered as such). */
} dd_audit_certcache_status_t;

/** Opaque cache: certificate id -> parsed certificate. */
typedef struct dd_audit_certcache dd_audit_certcache_t;

/**
 * @brief Opens an empty cache.
 * @param[out] out Receives the cache; free it with dd_audit_certcache_close().
 * @return DD_AUDIT_CERTCACHE_OK, DD_AUDIT_CERTCACHE_BAD_PARAMETER or
 *         DD_AUDIT_CERTCACHE_NO_MEMORY.
 */
dd_audit_certcache_status_t dd_audit_certcache_open(dd_audit_certcache_t **out);

/** @brief Frees the cache and its references; NULL is ignored. */
void dd_audit_certcache_close(dd_audit_certcache_t *cache);

/**
 * @brief The certificate @p id, parsed from @p pem on its first request.
 * @param[in] id Certificate id (hex SHA-256 of the DER).
 * @param[in] pem Its PEM text, parsed only when @p id is not cached yet.
 * @param[out] out Receives a new reference (caller X509_free()s), NULL on failure.
 * @return DD_AUDIT_CERTCACHE_OK, DD_AUDIT_CERTCACHE_BAD_PARAMETER,
 *         DD_AUDIT_CERTCACHE_NO_MEMORY or DD_AUDIT_CERTCACHE_INVALID (a PEM
 *         that does not parse; later requests for the id answer the same
 *         without parsing again).
 */
dd_audit_certcache_status_t dd_audit_certcache_get(dd_audit_certcache_t *cache, const char *id,
                                                   const char *pem, X509 **out);

/**
 * @brief Drops every entry not asked for since the previous sweep (or the open).
 * @return How many entries were dropped (0 for NULL, or when the smaller table
 *         could not be allocated: then nothing is dropped).
 */
size_t dd_audit_certcache_sweep(dd_audit_certcache_t *cache);

/** @brief How many ids the cache holds (parsed or invalid); 0 for NULL. */
size_t dd_audit_certcache_count(const dd_audit_certcache_t *cache);

/** @brief A static description of @p status. */
const char *dd_audit_certcache_strerror(dd_audit_certcache_status_t status);

#endif /* DD_AUDIT_CERTCACHE_H_ */
