/**
 * @file dd_store_internal.h
 * @brief Shared by the store's source files, one per subject: dd_store.c
 *        (open, migrations, transactions, pragmas, the engine sink's wiring,
 *        paging), dd_store_profiles.c (profiles, targets, custom metrics,
 *        dimensions), dd_store_violations.c (active violations, violation
 *        events, verification state), dd_store_metrics.c (retained metric
 *        values, thing state blobs), dd_store_reports.c (received reports),
 *        dd_store_resume.c (loading an engine, engine time, ML counters) and
 *        dd_store_tokens.c (clientRequestToken records), dd_store_metering.c
 *        (the broker's cloud-side metering, compacted), dd_store_history.c
 *        (time-ordered cursors over reports, metering and violation times).
 *        Not a public header: callers use dd_store.h only.
 *
 * Everything here works on a dd_store_t of the caller's thread (the store is
 * not thread-safe); the helpers follow the store's rules: a failed statement
 * is logged with dd_db_fail() and its message kept for dd_store_last_error().
 */
#ifndef DD_STORE_INTERNAL_H_
#define DD_STORE_INTERNAL_H_

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_engine.h"
#include "dd_profile.h"
#include "dd_store.h"

/** Statements prepared once at open: the per-report hot path. */
enum {
    ST_INS_EVENT,
    ST_INS_ACTIVE,
    ST_UPD_ACTIVE,
    ST_DEL_ACTIVE,
    ST_INS_VALUE,
    ST_PUT_STATE,
    ST_INS_REPORT,
    ST_MARK_REPORT,
    ST_ADD_METERING,
    ST_COUNT_
};

struct dd_store {
    sqlite3 *db;
    dd_arn_ctx_t arn;
    int depth;
    sqlite3_stmt *st[ST_COUNT_];
    dd_store_status_t sink_status;
    char last_error[160]; /* SQLite's message of the last failed statement */
    /* Retained values waiting to be written as one row per (thing, time). */
    char pend_thing[DD_PROFILE_NAME_MAX + 1];
    int64_t pend_time;
    char *pend;
    size_t pend_len;
    size_t pend_cap;
};

/* ---- dd_store.c: statements, transactions, paging */

/** Keeps SQLite's message of a failure for dd_store_last_error() (a ROLLBACK would replace it). */
void store_keep_error(dd_store_t *s);
/** Logs and keeps the last failure; returns DD_STORE_SQL_ERROR. */
dd_store_status_t store_sql_fail(dd_store_t *s, const char *what);
/** dd_db_prepare() with the store's status. */
dd_store_status_t store_prepare(dd_store_t *s, const char *sql, sqlite3_stmt **st);
/** Runs a statement without rows and finalizes it (a constraint is DD_STORE_EXISTS). */
dd_store_status_t store_run(dd_store_t *s, sqlite3_stmt *st, const char *what);
/** Runs a cached statement without rows and resets it for the next call. */
dd_store_status_t store_run_cached(dd_store_t *s, sqlite3_stmt *st, const char *what);
/** Ends a transaction the function began itself after a failure (inner ones only count down). */
void store_abort_tx(dd_store_t *s);
/** Paging is by offset: the token is the number of rows already returned. */
dd_store_status_t store_page_bounds(const dd_store_page_t *page, int64_t *offset, int *max);
/** Runs a one-column query whose last two parameters are LIMIT and OFFSET; finalizes it. */
dd_store_status_t store_list_names(dd_store_t *s, sqlite3_stmt *st, int first_param,
                                   const dd_store_page_t *page,
                                   int (*fn)(void *ctx, const char *name), void *ctx,
                                   char next_token[DD_STORE_TOKEN_MAX]);
/** Remembers the first write error of the sink. */
void store_sink_fail(dd_store_t *s, dd_store_status_t st);
/** store_run_cached() for a sink callback: a failure goes to the sink status. */
void store_step_reset(dd_store_t *s, sqlite3_stmt *st, const char *what);

/* ---- dd_store_metrics.c: retained values, thing state */

/** Text of a stored JSON document (frees @p j); NULL when out of memory. */
char *store_json_text(cJSON *j);
/** MetricValue text: @p buf, or a malloc()ed text for what does not fit (NULL: no memory). */
char *store_value_text(const dd_datapoint_t *dp, char *buf, size_t len);
/** Writes the pending row of retained values (before a commit, a read or the close). */
dd_store_status_t store_flush_values(dd_store_t *s);
/** Engine sink: a retained metric value. */
void store_sink_value(void *ctx, const dd_metric_datum_t *d);
/** Engine sink: a thing's state blob. */
void store_sink_state(void *ctx, const char *thing, const uint8_t *blob, size_t len);

/* ---- dd_store_violations.c */

/** Engine sink: a violation event. */
void store_sink_event(void *ctx, const dd_violation_event_t *ev);
/** Engine sink: an active violation started or moved on. */
void store_sink_active(void *ctx, const dd_active_violation_t *av);
/** Engine sink: an active violation ended. */
void store_sink_removed(void *ctx, const char *violation_id);

/* ---- dd_store_profiles.c */

/** Reads a custom metric row (name, type, display_name, creation_ms, modified_ms). */
dd_store_status_t store_read_custom(sqlite3_stmt *st, dd_custom_metric_def_t *out);

#endif /* DD_STORE_INTERNAL_H_ */
