/**
 * @file dd_registry_internal.h
 * @brief Private to dd_registry*.c: the helpers every subject file of the
 *        registry shares (errors, statements, savepoints, the change log,
 *        name checks, paged name lists) and the cross-subject existence checks.
 *
 * The registry is one module split by subject: dd_registry.c (open, schema,
 * settings, savepoints, change log, names of statuses), dd_registry_things.c,
 * dd_registry_certs.c (certificates and their principals), dd_registry_cacerts.c (CA
 * certificates, the registration code, revocation lists),
 * dd_registry_types.c (thing types), dd_registry_templates.c (provisioning templates),
 * dd_registry_tags.c (tags by ARN), dd_registry_groups.c,
 * dd_registry_policies.c, dd_registry_subs.c (SNS
 * subscriptions) and dd_registry_snapshot.c (the entity state the broker shim
 * copies). Nothing here is part of the public API (dd_registry.h); the same
 * ownership and threading rules apply. Statements returned by
 * dd_registry_prep() are finalized by the caller. Binding, reading columns
 * and logging SQLite's errors use the shared helpers of dd_db.h.
 */
#ifndef DD_REGISTRY_INTERNAL_H_
#define DD_REGISTRY_INTERNAL_H_

#include "dd_db.h"
#include "dd_registry.h"

/** Fills @p err (may be NULL) with a printf-style message and returns @p status. */
dd_registry_status_t dd_registry_fail(dd_registry_error_t *err, dd_registry_status_t status,
                                      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Empties every field of @p err (may be NULL). */
void dd_registry_clear_error(dd_registry_error_t *err);

/** Logs SQLite's last error and returns DD_REGISTRY_STORE_ERROR with it in @p err. */
dd_registry_status_t dd_registry_sql_fail(dd_registry_t *reg, dd_registry_error_t *err);

/** @return The registry's clock, or the wall clock when it has none, in ms. */
int64_t dd_registry_now_ms(const dd_registry_t *reg);

/** @return A prepared statement for @p sql, or NULL (see sqlite3_errmsg()). */
sqlite3_stmt *dd_registry_prep(dd_registry_t *reg, const char *sql);

/** Runs a statement without result rows; binds up to three text parameters (NULL: unbound). */
dd_registry_status_t dd_registry_exec3(dd_registry_t *reg, const char *sql, const char *a,
                                       const char *b, const char *c, dd_registry_error_t *err);

/** @return 1 when the query yields a row, 0 when not, -1 on error. */
int dd_registry_exists2(dd_registry_t *reg, const char *sql, const char *a, const char *b);

/** Opens the SAVEPOINT every mutation runs in. */
dd_registry_status_t dd_registry_savepoint_begin(dd_registry_t *reg, dd_registry_error_t *err);

/** Releases the savepoint when @p status is OK, else rolls it back; @return the final status. */
dd_registry_status_t dd_registry_savepoint_end(dd_registry_t *reg, dd_registry_status_t status);

/** Appends (@p kind, @p name) to the change log ddlocald follows. */
dd_registry_status_t dd_registry_log_change(dd_registry_t *reg, dd_registry_kind_t kind,
                                            const char *name, dd_registry_error_t *err);

/** Writes a version 4 UUID of dd_seed stream @p stream to @p buf (at least 37 bytes). */
dd_registry_status_t dd_registry_new_uuid(const char *stream, char *buf, size_t len);

/** Copies @p src into @p dst, truncating; a NULL @p dst or zero @p len is ignored. */
void dd_registry_copy_out(char *dst, size_t len, const char *src);

/** @return DD_REGISTRY_INVALID with a message when @p name is not a valid @p kind name. */
dd_registry_status_t dd_registry_check_name(dd_name_kind_t kind, const char *name,
                                            dd_registry_error_t *err);

/** @return DD_REGISTRY_NOT_FOUND for an unknown thing type, DD_REGISTRY_INVALID for a deprecated
 *  one (neither can be given to a thing), else DD_REGISTRY_OK. */
dd_registry_status_t dd_registry_type_usable(dd_registry_t *reg, const char *type,
                                             dd_registry_error_t *err);

/** @return DD_REGISTRY_INVALID unless @p json (NULL is fine) is an AWS AttributePayload. */
dd_registry_status_t dd_registry_check_attributes(const char *json, dd_registry_error_t *err);

/** Copies the paging token of @p page ("" when none) to @p buf. */
void dd_registry_page_after(const dd_registry_page_t *page, char *buf, size_t len);

/**
 * Generic paged list of names: @p sql must use ?1 for the filter (may be
 * unused), ?2 for the exclusive lower bound and ?3 for the row limit, and
 * return the name in column 0 ordered ascending.
 */
dd_registry_status_t dd_registry_list_names(dd_registry_t *reg, const char *sql, const char *filter,
                                            const dd_registry_page_t *page, dd_registry_name_fn fn,
                                            void *ctx, char *next, size_t next_len,
                                            dd_registry_error_t *err);

/** @return OK when thing @p thing exists, else INVALID / NOT_FOUND with a message. */
dd_registry_status_t dd_registry_thing_must_exist(dd_registry_t *reg, const char *thing,
                                                  dd_registry_error_t *err);

/** @return OK when certificate @p cert_id exists, else INVALID / NOT_FOUND with a message. */
dd_registry_status_t dd_registry_cert_must_exist(dd_registry_t *reg, const char *cert_id,
                                                 dd_registry_error_t *err);

/* Columns of a device certificate row, in the order dd_registry_cert_from_row() reads them. */
#define DD_REGISTRY_CERT_COLUMNS                                         \
    "id, pem, status, is_service, created_ms, modified_ms, ca_cert_id, " \
    "mode, " DD_REGISTRY_FACTS_COLUMNS

/* The certificate facts columns (registry migration 7) of certificates and ca_certificates;
 * not_after_ms IS NULL when the facts are not stored. */
#define DD_REGISTRY_FACTS_COLUMNS                                                          \
    "not_before_ms, not_after_ms, key_type, key_bits, subject_hash, issuer_hash, serial, " \
    "key_verdict"

/** Number of DD_REGISTRY_FACTS_COLUMNS. */
#define DD_REGISTRY_FACTS_COUNT 8

/** Reads a DD_REGISTRY_CERT_COLUMNS row; the strings point into @p st. */
void dd_registry_cert_from_row(sqlite3_stmt *st, dd_registry_cert_t *c);

/**
 * Reads DD_REGISTRY_FACTS_COLUMNS from column @p col on.
 * @param[out] known false when the row has no facts (then @p facts is zeroed).
 * @param[out] key_verdict The stored verdict (points into @p st) or NULL.
 */
void dd_registry_facts_from_row(sqlite3_stmt *st, int col, bool *known, dd_certfacts_t *facts,
                                const char **key_verdict);

/** Binds @p facts (NULL: the SQL NULLs of "not stored") to parameters @p param ... + 7; the
 *  key verdict (@p param + 7) is DD_CERTFACTS_VERDICT_ROCA or "" when facts->key_assessed,
 *  else left NULL: not assessed. */
void dd_registry_facts_bind(sqlite3_stmt *st, int param, const dd_certfacts_t *facts);

/**
 * Parses a PEM certificate once for its id and its facts.
 * @param[out] facts_ok false when the certificate gives no facts (stored as NULLs).
 * @return DD_REGISTRY_OK, or DD_REGISTRY_INVALID when @p pem is not a certificate.
 */
dd_registry_status_t dd_registry_parse_cert(const char *pem, char id[65], dd_certfacts_t *facts,
                                            bool *facts_ok);

/**
 * Stores the facts of every device and CA certificate that has none (the rows written before
 * registry migration 7), in one transaction. A PEM that gives no facts is left without (the
 * audit then parses it). Run by dd_registry_open() right after migration 7.
 * @return DD_REGISTRY_OK or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_facts_backfill(dd_registry_t *reg);

/**
 * Inserts a certificate (dd_registry_cert_add, dd_registry_cert_register):
 * @p ca_cert_id is the registered CA that signed it ("" for none), @p mode its
 * certificateMode.
 */
dd_registry_status_t dd_registry_cert_insert(dd_registry_t *reg, const char *pem,
                                             dd_cert_status_t status, bool is_service,
                                             const char *ca_cert_id, const char *mode,
                                             char *cert_id, size_t cert_id_len,
                                             dd_registry_error_t *err);

/** @return OK when thing group @p group exists, else INVALID / NOT_FOUND with a message. */
dd_registry_status_t dd_registry_group_must_exist(dd_registry_t *reg, const char *group,
                                                  dd_registry_error_t *err);

/**
 * Optimistic locking: @p sql selects the version of @p name; @p found tells
 * whether the row exists; a version other than @p expected (>= 0) is
 * DD_REGISTRY_VERSION_CONFLICT.
 */
dd_registry_status_t dd_registry_check_version(dd_registry_t *reg, const char *sql,
                                               const char *name, int64_t expected, const char *noun,
                                               dd_registry_error_t *err, bool *found);

#endif /* DD_REGISTRY_INTERNAL_H_ */
