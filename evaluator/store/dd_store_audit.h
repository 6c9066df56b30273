/**
 * @file dd_store_audit.h
 * @brief Persistence of Device Defender Audit: the account audit
 *        configuration, audit tasks, their findings, suppressions, scheduled
 *        audits, audit mitigation actions tasks and their executions.
 *
 * Every row keeps its AWS document as JSON text (built by app/dd_audit) next
 * to the columns that lists filter and page on, so the store never learns
 * the documents' shapes. Lists page by the row's insertion sequence: the
 * resume key is the last sequence handed out, as decimal text.
 *
 * Ownership: the database handle is borrowed. Text handed out through a
 * `char **` is malloc'd and belongs to the caller; rows handed to a list
 * callback are borrowed for the call. Not thread-safe: the caller holds the
 * pipeline lock. Transactions are the caller's (dd_store_begin() etc. on the
 * same connection, or none: each statement then commits alone).
 */
#ifndef DD_STORE_AUDIT_H_
#define DD_STORE_AUDIT_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "dd_store.h"

/** The tables of the audit subject. */
typedef enum dd_store_audit_table {
    DD_STORE_AUDIT_CONFIG = 0,   /**< The account audit configuration (id = "account"). */
    DD_STORE_AUDIT_TASKS,        /**< Audit tasks (id = taskId). */
    DD_STORE_AUDIT_FINDINGS,     /**< Findings (id = findingId). */
    DD_STORE_AUDIT_SUPPRESSIONS, /**< Suppressions (id = checkName + "\n" + resource key). */
    DD_STORE_AUDIT_SCHEDULED,    /**< Scheduled audits (id = scheduledAuditName). */
    DD_STORE_AUDIT_MIT_TASKS,    /**< Audit mitigation actions tasks (id = taskId). */
    DD_STORE_AUDIT_MIT_EXECS,    /**< Their executions (id = taskId/findingId/actionName). */
    DD_STORE_AUDIT_TABLE_COUNT_
} dd_store_audit_table_t;

/**
 * The indexed columns of a row. Unused members are NULL / 0; each table
 * gives them its own meaning:
 *
 * | table        | a              | b           | c             | time_ms      | number    |
 * |--------------|----------------|-------------|---------------|--------------|-----------|
 * | tasks        | taskType       | taskStatus  | scheduled name| taskStartTime| -         |
 * | findings     | taskId         | checkName   | resource key  | findingTime  | suppressed|
 * | suppressions | checkName      | resource key| -             | expiration   | indefinite|
 * | scheduled    | frequency      | -           | -             | next run     | -         |
 * | mit. tasks   | taskStatus     | audit taskId| -             | start time   | -         |
 * | mit. execs   | taskId         | findingId   | status        | start time   | -         |
 */
typedef struct dd_store_audit_row {
    const char *id;
    const char *a;
    const char *b;
    const char *c;
    int64_t time_ms;
    int64_t number;
    const char *doc; /**< The JSON document. */
} dd_store_audit_row_t;

/**
 * A list filter: NULL / absent members match all. Matches rows whose a, b, c
 * equal the given text, whose time_ms is in [time_min, time_max] and, when
 * number_eq >= 0, whose number equals it.
 */
typedef struct dd_store_audit_filter {
    const char *a;
    const char *b;
    const char *c;
    int64_t time_min;  /**< INT64_MIN for none. */
    int64_t time_max;  /**< INT64_MAX for none. */
    int64_t number_eq; /**< -1 for any. */
} dd_store_audit_filter_t;

/** Receives one row (borrowed); returns 0 to go on. */
typedef int (*dd_store_audit_row_fn)(void *ctx, const dd_store_audit_row_t *row);

/** Size of a resume key. */
#define DD_STORE_AUDIT_KEY_MAX 24

/**
 * @brief Creates or upgrades the audit tables (component "audit").
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_migrate(sqlite3 *db);

/**
 * @brief A filter matching all rows.
 * @param[out] f The filter.
 */
void dd_store_audit_filter_all(dd_store_audit_filter_t *f);

/**
 * @brief Inserts a row, or replaces the one with the same id (keeping its
 *        place in the listing order).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_put(sqlite3 *db, dd_store_audit_table_t table,
                                     const dd_store_audit_row_t *row);

/** A prepared put for many rows of one table (a task's findings); opaque. */
typedef struct dd_store_audit_writer dd_store_audit_writer_t;

/**
 * @brief Prepares dd_store_audit_put() once for many rows: a task writes a
 *        row per finding, and preparing the statement each time was most of
 *        a finding's cost.
 * @param[out] out The writer (close with dd_store_audit_writer_close()).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_writer_open(sqlite3 *db, dd_store_audit_table_t table,
                                             dd_store_audit_writer_t **out);

/** @brief dd_store_audit_put() through the writer's statement. */
dd_store_status_t dd_store_audit_writer_put(dd_store_audit_writer_t *w,
                                            const dd_store_audit_row_t *row);

/** @brief Frees the writer; NULL is ignored. */
void dd_store_audit_writer_close(dd_store_audit_writer_t *w);

/**
 * @brief Reads the document of one row.
 * @param[out] doc Malloc'd JSON text (caller frees).
 * @param[out] time_ms The row's time_ms (may be NULL).
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_BAD_PARAMETER,
 *         DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_get(sqlite3 *db, dd_store_audit_table_t table, const char *id,
                                     char **doc, int64_t *time_ms);

/**
 * @brief Deletes one row (absent: OK).
 * @param[out] deleted Whether a row was deleted (may be NULL).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_delete(sqlite3 *db, dd_store_audit_table_t table, const char *id,
                                        bool *deleted);

/**
 * @brief Lists rows in insertion order.
 * @param[in] filter NULL matches all.
 * @param[in] after Resume key ("" or NULL = start).
 * @param[in] limit Most rows (<= 0: all).
 * @param[in] fn Called per row; non-zero stops (no resume key then).
 * @param[out] next Resume key, "" at the end (DD_STORE_AUDIT_KEY_MAX; may be NULL).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER (also a resume key that is not
 *         ours) or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_list(sqlite3 *db, dd_store_audit_table_t table,
                                      const dd_store_audit_filter_t *filter, const char *after,
                                      int limit, dd_store_audit_row_fn fn, void *ctx, char *next);

/**
 * @brief Deletes every row of every audit table (`ddlocal reset --kinds audit`).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_audit_clear(sqlite3 *db);

#endif /* DD_STORE_AUDIT_H_ */
