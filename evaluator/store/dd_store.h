/**
 * @file dd_store.h
 * @brief The evaluator's SQLite store: security profiles (versions,
 *        targets), custom metrics, dimensions, per-thing evaluation state
 *        (alarms and windows), active violations, violation events, retained
 *        metric values, ML training summaries, received reports and the
 *        broker's connection history (audits).
 *
 * The store lives in the data dir's one database (`DIR/ddlocal.db`, next to
 * the registry's tables); its tables are migrated as component "evaluator"
 * with dd_db_migrate(). The sqlite3 handle belongs to the caller; the store
 * keeps prepared statements on it and must be closed before the handle.
 *
 * Transactions are the caller's: dd_store_begin() / dd_store_commit() /
 * dd_store_rollback() wrap any number of writes (the service puts the report
 * row, the engine's outputs through dd_store_sink() and the evaluated marker
 * in ONE transaction, then publishes after commit). Writes outside a
 * transaction autocommit one statement at a time.
 *
 * Resume: dd_store_load() feeds custom metrics, dimensions, profiles with
 * their targets, ML counters, every thing's state and the engine time into
 * a fresh engine, so that evaluation continues exactly where it stopped.
 * Reports stored but not marked evaluated are replayed with
 * dd_store_reports_pending().
 *
 * Not thread-safe: one store per thread (like the sqlite3 handle).
 * Callbacks get pointers valid only during the call.
 *
 * Layout: this one header is the store's whole interface (callers keep one
 * include and one status enum; the subjects share the transaction, the
 * cached statements and the paging rules). The implementation is split by
 * subject behind it: dd_store.c (open, migrations, transactions, pragmas),
 * dd_store_profiles.c (profiles, targets, custom metrics, dimensions),
 * dd_store_violations.c (active violations, violation events, verification
 * state), dd_store_metrics.c (retained metric values, thing state blobs),
 * dd_store_reports.c (received reports), dd_store_resume.c (loading an
 * engine), dd_store_connections.c (the connection history); their shared statics are in dd_store_internal.h. Two subjects
 * that are not about a dd_store_t have headers of their own, on the same
 * database: dd_store_wal.h (the WAL checkpointer thread) and
 * dd_store_service.h (ddlocald's own table, the dead letters).
 */
#ifndef DD_STORE_H_
#define DD_STORE_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_engine.h"
#include "dd_metric.h"
#include "dd_names.h"
#include "dd_profile.h"

/**
 * WAL pages (of 4 KiB) after which ddlocald checkpoints (the connection's
 * wal_autocheckpoint; the checkpointer of dd_store_wal.h reads it from there).
 */
#define DD_STORE_WAL_CHECKPOINT_PAGES 1000
/** Size a WAL file that grew larger is truncated to when it restarts (journal_size_limit). */
#define DD_STORE_WAL_LIMIT_BYTES 8388608
#define DD_STORE_STR_(x) #x
/** A macro's value as a string literal. */
#define DD_STORE_STR(x) DD_STORE_STR_(x)

/** Status codes of this module. */
typedef enum dd_store_status {
    DD_STORE_OK = 0,
    DD_STORE_BAD_PARAMETER, /**< NULL pointer or invalid name. */
    DD_STORE_NO_MEMORY,
    DD_STORE_SQL_ERROR,        /**< A statement failed (logged). */
    DD_STORE_NOT_FOUND,        /**< ResourceNotFoundException. */
    DD_STORE_EXISTS,           /**< ResourceAlreadyExistsException. */
    DD_STORE_VERSION_CONFLICT, /**< expectedVersion does not match (VersionConflictException). */
    DD_STORE_LIMIT,            /**< 5 profiles per target (LimitExceededException). */
    DD_STORE_IN_USE,           /**< Custom metric / dimension still used by a profile. */
    DD_STORE_CORRUPT,          /**< Stored data could not be read back. */
    DD_STORE_BAD_TOKEN         /**< nextToken not understood. */
} dd_store_status_t;

/** Opaque store. */
typedef struct dd_store dd_store_t;

/** Component name used with dd_db_migrate(). */
#define DD_STORE_COMPONENT "evaluator"
/** Longest nextToken, including the NUL. */
#define DD_STORE_TOKEN_MAX 32

/** Paging: start after @ref token ("" = first page); at most @ref max (1..250) rows. */
typedef struct dd_store_page {
    const char *token;
    int max;
} dd_store_page_t;

/**
 * @brief Binds a store to an open database and migrates its tables.
 * @param[in] db Database from dd_db_open().
 * @param[in] arn Region/account for ARNs in outputs (copied; NULL = defaults).
 * @param[out] out New store.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_open(sqlite3 *db, const dd_arn_ctx_t *arn, dd_store_t **out);

/** @brief Finalizes the statements and frees the store (not the database). */
void dd_store_close(dd_store_t *store);

/** @brief BEGIN IMMEDIATE (nested calls only count). */
dd_store_status_t dd_store_begin(dd_store_t *store);
/** @brief COMMIT when the outermost begin ends. */
dd_store_status_t dd_store_commit(dd_store_t *store);
/** @brief ROLLBACK the whole transaction. */
dd_store_status_t dd_store_rollback(dd_store_t *store);

/**
 * @brief SQLite's message for the last statement of the store that failed
 *        (e.g. "database or disk is full"), kept across the ROLLBACK.
 * @param[out] message Owned by the store, valid until its next failure; ""
 *             when nothing failed yet.
 * @return DD_STORE_OK or DD_STORE_BAD_PARAMETER.
 */
dd_store_status_t dd_store_last_error(const dd_store_t *store, const char **message);

/**
 * @brief A sink that writes the engine's outputs into the store: violation
 *        events, active violations, retained metric values, thing state.
 *        Write errors are remembered; read them with dd_store_sink_status().
 * @param[in] store Store.
 * @param[out] sink Filled with callbacks bound to @p store.
 */
void dd_store_sink(dd_store_t *store, dd_engine_sink_t *sink);

/** @return The first write error of the sink since the last call (and resets it). */
dd_store_status_t dd_store_sink_status(dd_store_t *store);

/**
 * @brief Loads everything into a fresh engine: custom metrics, dimensions,
 *        profiles (with targets), ML counters, thing states, engine time.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_SQL_ERROR,
 *         DD_STORE_NO_MEMORY or DD_STORE_CORRUPT.
 */
dd_store_status_t dd_store_load(dd_store_t *store, dd_engine_t *engine);

/** @brief Records the engine time and ML counters (call inside the tick's transaction). */
dd_store_status_t dd_store_save_engine(dd_store_t *store, const dd_engine_t *engine);

/* ------------------------------------------------------------------ profiles */

/**
 * @brief Stores a new profile with version 1 and both dates = now. Validate it
 *        first with dd_profile_validate() and the engine's definitions (that
 *        gives the AWS-style message); the store re-checks the rules that need
 *        no definitions and refuses an invalid profile with
 *        DD_STORE_BAD_PARAMETER, writing nothing.
 * @return DD_STORE_OK, DD_STORE_EXISTS, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_profile_create(dd_store_t *store, const dd_profile_t *profile,
                                          int64_t now_ms);

/**
 * @brief Reads a profile with its version, dates and targets.
 * @param[out] out Profile (caller frees with dd_profile_free()).
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_CORRUPT or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_profile_get(dd_store_t *store, const char *name, dd_profile_t *out);

/**
 * @brief Replaces a profile's definition (already merged and validated):
 *        version + 1, lastModifiedDate = now, creationDate and targets kept;
 *        the previous definition is kept in the version history.
 * @param[in] expected_version -1 for none, else must equal the stored version.
 * @param[out] out Optional: the stored result.
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_VERSION_CONFLICT or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_profile_update(dd_store_t *store, const dd_profile_t *profile,
                                          int64_t expected_version, int64_t now_ms,
                                          dd_profile_t *out);

/**
 * @brief Deletes a profile with its targets (history rows of violations stay).
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_VERSION_CONFLICT or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_profile_delete(dd_store_t *store, const char *name,
                                          int64_t expected_version);

/**
 * @brief Lists profile names in name order, optionally only those with a
 *        behavior or metric-to-retain on @p metric, or using @p dimension.
 * @param[in] fn Called per name; return non-zero to stop.
 * @param[out] next_token "" when there is no further page.
 */
dd_store_status_t dd_store_profile_list(dd_store_t *store, const char *metric,
                                        const char *dimension, const dd_store_page_t *page,
                                        int (*fn)(void *ctx, const char *name), void *ctx,
                                        char next_token[DD_STORE_TOKEN_MAX]);

/**
 * @brief Attaches a profile to a target ARN (idempotent). Refused with
 *        DD_STORE_LIMIT when the target already has 5 profiles.
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_LIMIT, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_target_attach(dd_store_t *store, const char *profile,
                                         const char *target_arn);

/** @brief Detaches (DD_STORE_NOT_FOUND when the profile does not exist; idempotent otherwise). */
dd_store_status_t dd_store_target_detach(dd_store_t *store, const char *profile,
                                         const char *target_arn);

/** @brief Targets of a profile, in attach order. */
dd_store_status_t dd_store_targets_for_profile(dd_store_t *store, const char *profile,
                                               const dd_store_page_t *page,
                                               int (*fn)(void *ctx, const char *arn), void *ctx,
                                               char next_token[DD_STORE_TOKEN_MAX]);

/** @brief Profiles attached to exactly @p target_arn, in name order. */
dd_store_status_t dd_store_profiles_for_target(dd_store_t *store, const char *target_arn,
                                               int (*fn)(void *ctx, const char *profile),
                                               void *ctx);

/* ------------------------------------------------------------------ request tokens */

/** Longest request digest kept with a token (hex SHA-256 plus NUL). */
#define DD_STORE_DIGEST_MAX 65
/** Longest resource name kept with a token (plus NUL). */
#define DD_STORE_RESOURCE_MAX 129

/** What a clientRequestToken was first used for. */
typedef struct dd_store_request_token {
    char digest[DD_STORE_DIGEST_MAX];     /**< Digest of the whole request. */
    char resource[DD_STORE_RESOURCE_MAX]; /**< Name of the resource it created. */
    int64_t time_ms;                      /**< When. */
} dd_store_request_token_t;

/** @brief Reads what @p token of @p operation was used for (DD_STORE_NOT_FOUND: never). */
dd_store_status_t dd_store_request_token_get(dd_store_t *store, const char *operation,
                                             const char *token, dd_store_request_token_t *out);
/** @brief Records (or replaces) what @p token of @p operation was used for. */
dd_store_status_t dd_store_request_token_put(dd_store_t *store, const char *operation,
                                             const char *token,
                                             const dd_store_request_token_t *used);

/* ------------------------------------------------------------------ connection history */

/**
 * How long a closed connection is kept (31 days: the look-back of AWS's
 * DEVICE_CERTIFICATE_SHARED_CHECK and CONFLICTING_CLIENT_IDS_CHECK on-demand
 * audits). Connections still open are kept however old.
 */
#define DD_STORE_CONNECTION_RETENTION_MS (31LL * 24 * 3600 * 1000)

/**
 * One connection of a device to the broker (the shim's metering: a
 * successful CONNECT opens it, a DISCONNECT closes it). Strings are "" when
 * unknown; in a callback they belong to the store and are valid during the
 * call only.
 */
typedef struct dd_store_connection {
    const char *client_id; /**< MQTT client id (required). */
    const char *cert_id;   /**< Certificate id (hex SHA-256); "" when none. */
    const char *thing;     /**< Thing name the shim resolved; "" when none. */
    const char *source_ip; /**< Source IP; "" when unknown. */
    const char *instance;  /**< Broker shim instance (metering instance id, hex). */
    int64_t connect_ms;    /**< Pipeline time of the CONNECT. */
    int64_t disconnect_ms; /**< Pipeline time of the end; -1 while connected. */
    bool taken_over;       /**< Closed because a new connection took its client id. */
} dd_store_connection_t;

/**
 * @brief Records a successful connection. An open connection with the same
 *        client id is closed at its time (a DISCONNECT that never came), and
 *        so is every open connection of another broker instance (the broker
 *        restarted: its connections ended without DISCONNECT events).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_connection_open(dd_store_t *store, const dd_store_connection_t *conn);

/**
 * @brief Closes the open connection of @p client_id at @p time_ms (nothing
 *        to close is OK: it opened before a reset, or was already closed).
 * @param[in] taken_over The broker closed it for a new connection with the same client id.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_connection_close(dd_store_t *store, const char *client_id,
                                            int64_t time_ms, bool taken_over);

/**
 * @brief Deletes the connections closed before @p before_ms.
 * @param[out] deleted Optional: how many were deleted.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_connections_prune(dd_store_t *store, int64_t before_ms,
                                             int64_t *deleted);

/** Order of dd_store_connections_list(). */
typedef enum dd_store_connection_order {
    DD_STORE_CONN_BY_CERT = 0, /**< Certificate id, then newest connect first. */
    DD_STORE_CONN_BY_CLIENT    /**< Client id, then newest connect first. */
} dd_store_connection_order_t;

/** Called per listed connection; return non-zero to stop. */
typedef int (*dd_store_connection_fn)(void *ctx, const dd_store_connection_t *conn);

/**
 * @brief The connections that were open at some time in [@p since_ms, @p until_ms]:
 *        connected at or before @p until_ms and not closed before @p since_ms.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_connections_list(dd_store_t *store, int64_t since_ms, int64_t until_ms,
                                            dd_store_connection_order_t order,
                                            dd_store_connection_fn fn, void *ctx);

/* ------------------------------------------------------------------ custom metrics, dimensions */

/** @brief Creates a custom metric (DD_STORE_EXISTS when it exists). */
dd_store_status_t dd_store_custom_metric_create(dd_store_t *store,
                                                const dd_custom_metric_def_t *def);
/** @brief Reads a custom metric. */
dd_store_status_t dd_store_custom_metric_get(dd_store_t *store, const char *name,
                                             dd_custom_metric_def_t *out);
/** @brief Changes displayName and lastModifiedDate. */
dd_store_status_t dd_store_custom_metric_update(dd_store_t *store, const char *name,
                                                const char *display_name, int64_t now_ms,
                                                dd_custom_metric_def_t *out);
/** @brief Deletes (DD_STORE_IN_USE while a profile uses it; idempotent when absent). */
dd_store_status_t dd_store_custom_metric_delete(dd_store_t *store, const char *name);
/** @brief Lists names in name order. */
dd_store_status_t dd_store_custom_metric_list(dd_store_t *store, const dd_store_page_t *page,
                                              int (*fn)(void *ctx, const char *name), void *ctx,
                                              char next_token[DD_STORE_TOKEN_MAX]);

/** @brief Creates a TOPIC_FILTER dimension (DD_STORE_EXISTS when it exists). */
dd_store_status_t dd_store_dimension_create(dd_store_t *store, const dd_dimension_def_t *def);
/** @brief Reads a dimension. */
dd_store_status_t dd_store_dimension_get(dd_store_t *store, const char *name,
                                         dd_dimension_def_t *out);
/** @brief Replaces stringValues and lastModifiedDate. */
dd_store_status_t dd_store_dimension_update(dd_store_t *store, const dd_dimension_def_t *def,
                                            int64_t now_ms);
/** @brief Deletes (DD_STORE_IN_USE while a profile uses it; idempotent when absent). */
dd_store_status_t dd_store_dimension_delete(dd_store_t *store, const char *name);
/** @brief Lists names in name order. */
dd_store_status_t dd_store_dimension_list(dd_store_t *store, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX]);

/* ------------------------------------------------------------------ violations */

/** Filters of ListActiveViolations / ListViolationEvents. */
typedef struct dd_store_violation_filter {
    int64_t start_ms;    /**< Events: violationEventTime >= start (inclusive). */
    int64_t end_ms;      /**< Events: violationEventTime <= end; 0 = no bound. */
    const char *thing;   /**< NULL = any. */
    const char *profile; /**< NULL = any. */
    int criteria_type;   /**< dd_criteria_type_t, or -1 for any. */
    int suppressed;      /**< listSuppressedAlerts: -1 any, 1 only suppressed, 0 only not. */
    int verification;    /**< dd_verification_t, or -1 for any. */
} dd_store_violation_filter_t;

/** @brief Resets a filter to "everything". */
void dd_store_violation_filter_init(dd_store_violation_filter_t *filter);

/**
 * One stored violation (a row of ListViolationEvents or
 * ListActiveViolations), as the store keeps it; the API builds AWS's shape
 * from it. Every pointer belongs to the store and is valid only during the
 * callback.
 */
typedef struct dd_store_violation {
    bool event;               /**< A violation event (else an active violation). */
    const char *violation_id; /**< 32 hex digits. */
    const char *thing;
    const char *profile;
    const char *behavior_json; /**< The behavior as stored (JSON text); NULL if missing. */
    /** Events: metricValue; active: lastViolationValue (JSON text); NULL when none. */
    const char *value_json;
    const char *event_type;         /**< Events: "in-alarm", "alarm-cleared", ...; else NULL. */
    dd_verification_t verification; /**< DD_VERIFICATION_UNKNOWN when never set. */
    const char *verification_description; /**< NULL when none. */
    int64_t time_ms;  /**< Events: violationEventTime; active: lastViolationTime. */
    int64_t start_ms; /**< Active: violationStartTime; events: 0. */
} dd_store_violation_t;

/** Called per listed violation; return non-zero to stop. */
typedef int (*dd_store_violation_fn)(void *ctx, const dd_store_violation_t *violation);

/**
 * @brief ListViolationEvents: stored events newest first.
 * @param[in] fn Called per event.
 */
dd_store_status_t dd_store_violation_events(dd_store_t *store,
                                            const dd_store_violation_filter_t *filter,
                                            const dd_store_page_t *page, dd_store_violation_fn fn,
                                            void *ctx, char next_token[DD_STORE_TOKEN_MAX]);

/** Subjects of dd_store_reset(), or-ed. */
#define DD_STORE_RESET_PROFILES 0x1u   /**< Profiles, custom metrics, dimensions, ML training. */
#define DD_STORE_RESET_VIOLATIONS 0x2u /**< Active violations, events, the engine's thing state. */
#define DD_STORE_RESET_METRICS \
    0x4u                               /**< Retained metric values, stored reports, the broker's
                                            connection history and stored metering. */
#define DD_STORE_RESET_MITIGATION 0x8u /**< Mitigation actions, tasks and executions. */
#define DD_STORE_RESET_AUDIT 0x10u     /**< Audit configuration, tasks, findings, suppressions... */
#define DD_STORE_RESET_ALL 0x1fu

/**
 * @brief Empties the tables of @p subjects (DD_STORE_RESET_*), inside the caller's transaction.
 *        Reload the engine after the commit.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_reset(dd_store_t *store, unsigned subjects);

/**
 * @brief Copies the whole database (every subject) to the file @p path (written as
 *        PATH.tmp, then renamed). No transaction may be open.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR (dd_store_last_error()).
 */
dd_store_status_t dd_store_backup_save(dd_store_t *store, const char *path);

/**
 * @brief Replaces the whole database with the file @p path (a dd_store_backup_save() file).
 *        No transaction may be open; reload the engine and resync the registry after it.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NOT_FOUND (no such file) or
 *         DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_backup_load(dd_store_t *store, const char *path);

/** @brief Number of active violations (for status displays). */
dd_store_status_t dd_store_active_violation_count(dd_store_t *store, int64_t *count);

/** @brief ListActiveViolations (newest first; time filters ignored). */
dd_store_status_t dd_store_active_violations(dd_store_t *store,
                                             const dd_store_violation_filter_t *filter,
                                             const dd_store_page_t *page, dd_store_violation_fn fn,
                                             void *ctx, char next_token[DD_STORE_TOKEN_MAX]);

/**
 * @brief PutVerificationStateOnViolation for the stored rows (active and
 *        history). Also call dd_engine_set_verification() for active ones.
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_set_verification(dd_store_t *store, const char *violation_id,
                                            dd_verification_t state, const char *description);

/* ------------------------------------------------------------------ metric values */

/**
 * @brief ListMetricValues: retained datums of one thing and metric in
 *        [start, end], oldest first. (A thing's datums of one time are stored
 *        together in one row, keyed "metric" or "metric|dimension".)
 * @param[in] dimension NULL = values without a dimension.
 * @param[in] fn Called with the time and the MetricValue JSON text.
 */
dd_store_status_t dd_store_metric_values(dd_store_t *store, const char *thing, const char *metric,
                                         const char *dimension, int64_t start_ms, int64_t end_ms,
                                         const dd_store_page_t *page,
                                         int (*fn)(void *ctx, int64_t time_ms, const char *value),
                                         void *ctx, char next_token[DD_STORE_TOKEN_MAX]);

/* ------------------------------------------------------------------ reports */

/**
 * @brief Stores a received report (before it is evaluated).
 * @param[out] row Its row id.
 */
dd_store_status_t dd_store_report_insert(dd_store_t *store, const char *thing, uint64_t report_id,
                                         int64_t received_ms, int format, const uint8_t *payload,
                                         size_t len, int64_t *row);

/** @brief Marks a stored report as evaluated (same transaction as its outputs). */
dd_store_status_t dd_store_report_mark_evaluated(dd_store_t *store, int64_t row);

/** @brief Reports not yet evaluated, oldest first (to evaluate after a restart). */
dd_store_status_t dd_store_reports_pending(dd_store_t *store,
                                           int (*fn)(void *ctx, int64_t row, const char *thing,
                                                     uint64_t report_id, int64_t received_ms,
                                                     int format, const uint8_t *payload,
                                                     size_t len),
                                           void *ctx);

/**
 * @brief The @p limit most recently stored reports, newest first, evaluated or
 *        not (ddlocald recognises broker redeliveries of them after a crash).
 */
dd_store_status_t dd_store_reports_recent(dd_store_t *store, int limit,
                                          int (*fn)(void *ctx, int64_t row, const char *thing,
                                                    uint64_t report_id, int64_t received_ms,
                                                    int format, const uint8_t *payload, size_t len),
                                          void *ctx);

/**
 * @brief Received reports with @p from_ms <= received_ms < @p to_ms, in the
 *        order they were stored (`ddlocal export`, `ddlocal record`), only
 *        those with a row id above @p after_row.
 */
dd_store_status_t dd_store_reports_range(dd_store_t *store, int64_t from_ms, int64_t to_ms,
                                         int64_t after_row,
                                         int (*fn)(void *ctx, int64_t row, const char *thing,
                                                   uint64_t report_id, int64_t received_ms,
                                                   int format, const uint8_t *payload, size_t len),
                                         void *ctx);

/* ------------------------------------------------------------------ cloud-side metering */

/** Longest bucket of stored metering (its start to its records' times). */
#define DD_STORE_METERING_BUCKET_MAX_MS 300000LL

/** Default retention of the stored metering (ddlocald --metering-retention-days). */
#define DD_STORE_METERING_RETENTION_MS (14LL * 24 * 3600 * 1000)

/**
 * One stored group of the broker's cloud-side metering records, as the engine
 * used them: @c count records of one thing, kind, subject, size and flags in
 * one bucket, the first at @c time_ms (pipeline time, already floored to the
 * engine's time as dd_ingest does).
 */
typedef struct dd_store_metering {
    int64_t row;       /**< Row id (listing only). */
    const char *thing; /**< Thing name or client id. */
    int64_t bucket_ms; /**< Start of the bucket the records share. */
    int64_t time_ms;   /**< Pipeline time of the first record of the group. */
    dd_cloud_kind_t kind;
    const char *subject; /**< Topic, source IP of a connect, or "" (none). */
    int64_t size;        /**< Payload bytes (messages), else 0. */
    bool registered;     /**< The client was a registered thing. */
    bool success;        /**< A connect's outcome (true for other kinds). */
    int64_t count;       /**< Records in the group (>= 1). */
} dd_store_metering_t;

/**
 * @brief Adds @p m->count records to the group of @p m's key (thing,
 *        bucket, kind, subject, size, flags); creates it when new. Runs in
 *        the caller's transaction (the ingest of a metering batch). The
 *        bucket is at most DD_STORE_METERING_BUCKET_MAX_MS long: @p m->time_ms
 *        - @p m->bucket_ms must be below it (else the row is not listed).
 */
dd_store_status_t dd_store_metering_add(dd_store_t *store, const dd_store_metering_t *m);

/**
 * @brief Groups whose time is in [@p from_ms, @p to_ms) with a row id above
 *        @p after_row, by time then row id. @p fn returns non-zero to stop.
 */
dd_store_status_t dd_store_metering_list(dd_store_t *store, int64_t from_ms, int64_t to_ms,
                                         int64_t after_row,
                                         int (*fn)(void *ctx, const dd_store_metering_t *m),
                                         void *ctx);

/** @brief Deletes the groups whose bucket started before @p before_ms. */
dd_store_status_t dd_store_metering_prune(dd_store_t *store, int64_t before_ms, int64_t *deleted);

/* ------------------------------------------------------------------ time-ordered history */

/** What a history cursor reads (dd_store_history_open()). */
typedef enum dd_store_history_kind {
    DD_STORE_HISTORY_REPORTS,   /**< Received reports, by received_ms then row id. */
    DD_STORE_HISTORY_METERING,  /**< Metering groups, by time then row id. */
    DD_STORE_HISTORY_VIOLATIONS /**< The times of violation events, by time. */
} dd_store_history_kind_t;

/** One row of a history cursor; its pointers are valid until the next call on the cursor. */
typedef struct dd_store_history_row {
    int64_t time_ms;              /**< received_ms, the group's time or the event's time. */
    int64_t row;                  /**< Row id in its table. */
    const char *thing;            /**< Reports and metering. */
    uint64_t report_id;           /**< Reports. */
    int format;                   /**< Reports: a dd_report_format_t. */
    const uint8_t *payload;       /**< Reports: the bytes as received. */
    size_t len;                   /**< Reports: length of @c payload. */
    dd_store_metering_t metering; /**< Metering. */
} dd_store_history_row_t;

/** An open time-ordered read of one table (opaque). */
typedef struct dd_store_history dd_store_history_t;

/**
 * @brief Opens a cursor over the rows of @p kind whose time is in [@p from_ms,
 *        @p to_ms), in time order (ties by row id; violation times in any
 *        order among themselves). Rows are read as they are asked for: the
 *        memory used does not grow with the range (`ddlocal export`,
 *        `record`, `datapoints`). Reports use their time index (migration 7);
 *        metering is read per 300 s block of its key index.
 *        Wrap several cursors in dd_store_snapshot_begin() to read one state.
 * @param[out] cursor Closed with dd_store_history_close().
 */
dd_store_status_t dd_store_history_open(dd_store_t *store, dd_store_history_kind_t kind,
                                        int64_t from_ms, int64_t to_ms,
                                        dd_store_history_t **cursor);

/**
 * @brief The cursor's next row into @p row; @p has_row false at the end.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_history_next(dd_store_history_t *cursor, dd_store_history_row_t *row,
                                        bool *has_row);

/** @brief Closes a cursor; safe on NULL. */
void dd_store_history_close(dd_store_history_t *cursor);

/**
 * @brief Starts a read transaction (no write lock: ddlocald keeps writing) so that
 *        what follows reads one consistent state; nothing is begun inside a
 *        transaction of the caller's (@p began false then).
 */
dd_store_status_t dd_store_snapshot_begin(dd_store_t *store, bool *began);

/** @brief Ends what dd_store_snapshot_begin() began (nothing when @p began is false). */
void dd_store_snapshot_end(dd_store_t *store, bool began);

/** @return Static text for @p status. */
const char *dd_store_strerror(dd_store_status_t status);

#endif /* DD_STORE_H_ */
