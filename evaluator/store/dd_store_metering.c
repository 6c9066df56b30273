/*
 * The broker's cloud-side metering as the engine used it (ev_metering), kept for `ddlocal
 * export` and `ddlocal record` (docs/reference/record.md): records of one thing, bucket, kind,
 * subject, size and flags share one row with a count. Written inside the caller's transaction
 * (the ingest of a metering batch), pruned by bucket age.
 */
#include "dd_store.h"
#include "dd_store_internal.h"

#include <string.h>

#include "dd_db.h"

enum { FLAG_REGISTERED = 1, FLAG_SUCCESS = 2 };

dd_store_status_t dd_store_metering_add(dd_store_t *s, const dd_store_metering_t *m)
{
    sqlite3_stmt *st;

    if (s == NULL || m == NULL || m->thing == NULL || m->count < 1 ||
        (unsigned)m->kind > (unsigned)DD_CLOUD_DISCONNECT) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = s->st[ST_ADD_METERING];
    (void)sqlite3_bind_text(st, 1, m->thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 2, m->bucket_ms);
    (void)sqlite3_bind_int64(st, 3, m->time_ms);
    (void)sqlite3_bind_int(st, 4, (int)m->kind);
    (void)sqlite3_bind_text(st, 5, m->subject != NULL ? m->subject : "", -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 6, m->size);
    (void)sqlite3_bind_int(st, 7,
                           (m->registered ? FLAG_REGISTERED : 0) | (m->success ? FLAG_SUCCESS : 0));
    (void)sqlite3_bind_int64(st, 8, m->count);
    return store_run_cached(s, st, "store metering");
}

dd_store_status_t dd_store_metering_list(dd_store_t *s, int64_t from_ms, int64_t to_ms,
                                         int64_t after_row,
                                         int (*fn)(void *ctx, const dd_store_metering_t *m),
                                         void *ctx)
{
    sqlite3_stmt *st = NULL;
    dd_store_metering_t m;
    int rc;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT seq, thing, bucket_ms, time_ms, kind, subject, size, flags, count"
                      " FROM ev_metering WHERE bucket_ms >= ?1 - ?4 AND bucket_ms < ?2"
                      " AND time_ms >= ?1 AND time_ms < ?2 AND seq > ?3 ORDER BY time_ms, seq",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, from_ms);
    (void)sqlite3_bind_int64(st, 2, to_ms);
    (void)sqlite3_bind_int64(st, 3, after_row);
    /* A row's time is in its bucket, and no bucket is longer than 300 s (the index's range). */
    (void)sqlite3_bind_int64(st, 4, DD_STORE_METERING_BUCKET_MAX_MS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int flags = sqlite3_column_int(st, 7);
        int kind = sqlite3_column_int(st, 4);

        if (kind < 0 || kind > (int)DD_CLOUD_DISCONNECT) {
            continue; /* a kind of a newer ddlocald: nothing this one could replay */
        }
        memset(&m, 0, sizeof(m));
        m.row = sqlite3_column_int64(st, 0);
        m.thing = (const char *)sqlite3_column_text(st, 1);
        m.bucket_ms = sqlite3_column_int64(st, 2);
        m.time_ms = sqlite3_column_int64(st, 3);
        m.kind = (dd_cloud_kind_t)kind;
        m.subject = (const char *)sqlite3_column_text(st, 5);
        m.size = sqlite3_column_int64(st, 6);
        m.registered = (flags & FLAG_REGISTERED) != 0;
        m.success = (flags & FLAG_SUCCESS) != 0;
        m.count = sqlite3_column_int64(st, 8);
        if (fn(ctx, &m) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_STORE_OK : store_sql_fail(s, "reading metering");
}

dd_store_status_t dd_store_metering_prune(dd_store_t *s, int64_t before_ms, int64_t *deleted)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (deleted != NULL) {
        *deleted = 0;
    }
    if (s == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s, "DELETE FROM ev_metering WHERE bucket_ms < ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, before_ms);
    status = store_run(s, st, "prune metering");
    if (status == DD_STORE_OK && deleted != NULL) {
        *deleted = sqlite3_changes(s->db);
    }
    return status;
}
