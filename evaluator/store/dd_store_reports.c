#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"

/* ------------------------------------------------------------------ reports */

dd_store_status_t dd_store_report_insert(dd_store_t *s, const char *thing, uint64_t report_id,
                                         int64_t received_ms, int format, const uint8_t *payload,
                                         size_t len, int64_t *row)
{
    sqlite3_stmt *st;
    dd_store_status_t status;

    if (s == NULL || thing == NULL || (payload == NULL && len > 0) || row == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = s->st[ST_INS_REPORT];
    (void)sqlite3_bind_text(st, 1, thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 2, (int64_t)report_id);
    (void)sqlite3_bind_int64(st, 3, received_ms);
    (void)sqlite3_bind_int(st, 4, format);
    (void)sqlite3_bind_blob(st, 5, payload != NULL ? (const void *)payload : (const void *)"",
                            (int)len, SQLITE_STATIC);
    status = store_run_cached(s, st, "insert report");
    *row = status == DD_STORE_OK ? sqlite3_last_insert_rowid(s->db) : 0;
    return status;
}

dd_store_status_t dd_store_report_mark_evaluated(dd_store_t *s, int64_t row)
{
    sqlite3_stmt *st;

    if (s == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = s->st[ST_MARK_REPORT];
    (void)sqlite3_bind_int64(st, 1, row);
    return store_run_cached(s, st, "mark report evaluated");
}

typedef int (*report_row_fn)(void *ctx, int64_t row, const char *thing, uint64_t report_id,
                             int64_t received_ms, int format, const uint8_t *payload, size_t len);

/* Calls @p fn for each row of @p st (id, thing, report_id, received_ms, format, payload). */
static dd_store_status_t report_rows(dd_store_t *s, sqlite3_stmt *st, report_row_fn fn, void *ctx)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               (uint64_t)sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
               sqlite3_column_int(st, 4), sqlite3_column_blob(st, 5),
               (size_t)sqlite3_column_bytes(st, 5)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_STORE_OK : store_sql_fail(s, "reading reports");
}

dd_store_status_t dd_store_reports_pending(dd_store_t *s, report_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT id, thing, report_id, received_ms, format, payload FROM ev_reports"
                      " WHERE evaluated = 0 ORDER BY id",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return report_rows(s, st, fn, ctx);
}

dd_store_status_t dd_store_reports_recent(dd_store_t *s, int limit, report_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL || limit < 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT id, thing, report_id, received_ms, format, payload FROM ev_reports"
                      " ORDER BY id DESC LIMIT ?",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int(st, 1, limit);
    return report_rows(s, st, fn, ctx);
}

dd_store_status_t dd_store_reports_range(dd_store_t *s, int64_t from_ms, int64_t to_ms,
                                         int64_t after_row, report_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT id, thing, report_id, received_ms, format, payload FROM ev_reports"
                      " WHERE received_ms >= ?1 AND received_ms < ?2 AND id > ?3 ORDER BY id",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, from_ms);
    (void)sqlite3_bind_int64(st, 2, to_ms);
    (void)sqlite3_bind_int64(st, 3, after_row);
    return report_rows(s, st, fn, ctx);
}
