/*
 * Time-ordered cursors over the stored history (received reports, cloud-side metering, the
 * times of violation events) for `ddlocal export`, `record` and `datapoints`
 * (docs/reference/record.md): each yields its rows one at a time in time order, so a caller
 * merging them holds one row per cursor instead of the whole range. Reports come through their
 * time index (store migration 7); metering block by block of 300 s through its key index (bucket
 * first), each block sorted by SQLite; violation times through their time index.
 */
#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "dd_db.h"

/* Metering is read in blocks of this much time: a row's bucket starts at most
 * DD_STORE_METERING_BUCKET_MAX_MS before its time, so one block's rows are found in a bucket
 * range of two blocks of the key index, and SQLite sorts one block at a time. */
#define METERING_BLOCK_MS 300000LL

enum { FLAG_REGISTERED = 1, FLAG_SUCCESS = 2 };

struct dd_store_history {
    dd_store_t *store;
    dd_store_history_kind_t kind;
    sqlite3_stmt *st;
    int64_t from_ms;
    int64_t to_ms;
    int64_t next_ms; /* metering: where the next block starts */
    bool done;
};

dd_store_status_t dd_store_history_open(dd_store_t *s, dd_store_history_kind_t kind,
                                        int64_t from_ms, int64_t to_ms, dd_store_history_t **cursor)
{
    static const char *const SQL[] = {
        [DD_STORE_HISTORY_REPORTS] =
            "SELECT id, thing, report_id, received_ms, format, payload FROM ev_reports"
            " WHERE received_ms >= ?1 AND received_ms < ?2 ORDER BY received_ms, id",
        [DD_STORE_HISTORY_METERING] = NULL, /* per block, in metering_block() */
        [DD_STORE_HISTORY_VIOLATIONS] = "SELECT seq, time_ms FROM ev_violation_events"
                                        " WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms",
    };
    dd_store_history_t *c;

    if (cursor != NULL) {
        *cursor = NULL;
    }
    if (s == NULL || cursor == NULL || (unsigned)kind > (unsigned)DD_STORE_HISTORY_VIOLATIONS ||
        to_ms < from_ms) {
        return DD_STORE_BAD_PARAMETER;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    c->store = s;
    c->kind = kind;
    c->from_ms = from_ms;
    c->to_ms = to_ms;
    c->next_ms = from_ms;
    c->done = from_ms == to_ms;
    if (SQL[kind] != NULL && !c->done) {
        if (store_prepare(s, SQL[kind], &c->st) != DD_STORE_OK) {
            free(c);
            return DD_STORE_SQL_ERROR;
        }
        (void)sqlite3_bind_int64(c->st, 1, from_ms);
        (void)sqlite3_bind_int64(c->st, 2, to_ms);
    }
    *cursor = c;
    return DD_STORE_OK;
}

/* Prepares the statement of the next metering block that can hold a row; done when none. */
static dd_store_status_t metering_block(dd_store_history_t *c)
{
    sqlite3_stmt *st = NULL;
    int64_t first_bucket;
    int64_t lo;
    int64_t hi;
    int rc;

    /* The smallest bucket that can hold a row at or after next_ms: empty stretches of time
     * are skipped with one index seek instead of a query per block. */
    if (store_prepare(
            c->store,
            "SELECT MIN(bucket_ms) FROM ev_metering WHERE bucket_ms >= ?1 AND bucket_ms < ?2",
            &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, c->next_ms - DD_STORE_METERING_BUCKET_MAX_MS);
    (void)sqlite3_bind_int64(st, 2, c->to_ms);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_sql_fail(c->store, "reading metering");
    }
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        sqlite3_finalize(st);
        c->done = true;
        return DD_STORE_OK;
    }
    first_bucket = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    /* A row's time is at or after its bucket's start. */
    lo = first_bucket > c->next_ms ? first_bucket : c->next_ms;
    hi = lo - (((lo % METERING_BLOCK_MS) + METERING_BLOCK_MS) % METERING_BLOCK_MS);
    hi = hi > c->to_ms - METERING_BLOCK_MS ? c->to_ms : hi + METERING_BLOCK_MS;
    if (store_prepare(c->store,
                      "SELECT seq, thing, bucket_ms, time_ms, kind, subject, size, flags, count"
                      " FROM ev_metering WHERE bucket_ms >= ?1 - ?3 AND bucket_ms < ?2"
                      " AND time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms, seq",
                      &c->st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(c->st, 1, lo);
    (void)sqlite3_bind_int64(c->st, 2, hi);
    (void)sqlite3_bind_int64(c->st, 3, DD_STORE_METERING_BUCKET_MAX_MS);
    c->next_ms = hi;
    return DD_STORE_OK;
}

static void fill_row(const dd_store_history_t *c, dd_store_history_row_t *row)
{
    sqlite3_stmt *st = c->st;
    int flags;

    memset(row, 0, sizeof(*row));
    row->row = sqlite3_column_int64(st, 0);
    switch (c->kind) {
    case DD_STORE_HISTORY_REPORTS:
        row->thing = (const char *)sqlite3_column_text(st, 1);
        row->report_id = (uint64_t)sqlite3_column_int64(st, 2);
        row->time_ms = sqlite3_column_int64(st, 3);
        row->format = sqlite3_column_int(st, 4);
        row->payload = sqlite3_column_blob(st, 5);
        row->len = (size_t)sqlite3_column_bytes(st, 5);
        break;
    case DD_STORE_HISTORY_METERING:
        flags = sqlite3_column_int(st, 7);
        row->metering.row = row->row;
        row->metering.thing = (const char *)sqlite3_column_text(st, 1);
        row->metering.bucket_ms = sqlite3_column_int64(st, 2);
        row->metering.time_ms = sqlite3_column_int64(st, 3);
        row->metering.kind = (dd_cloud_kind_t)sqlite3_column_int(st, 4);
        row->metering.subject = (const char *)sqlite3_column_text(st, 5);
        row->metering.size = sqlite3_column_int64(st, 6);
        row->metering.registered = (flags & FLAG_REGISTERED) != 0;
        row->metering.success = (flags & FLAG_SUCCESS) != 0;
        row->metering.count = sqlite3_column_int64(st, 8);
        row->time_ms = row->metering.time_ms;
        row->thing = row->metering.thing;
        break;
    case DD_STORE_HISTORY_VIOLATIONS: row->time_ms = sqlite3_column_int64(st, 1); break;
    }
}

dd_store_status_t dd_store_history_next(dd_store_history_t *c, dd_store_history_row_t *row,
                                        bool *has_row)
{
    int rc;

    if (has_row != NULL) {
        *has_row = false;
    }
    if (c == NULL || row == NULL || has_row == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    while (!c->done) {
        if (c->st == NULL) {
            /* Only metering gets here: its statement is per block. */
            if (metering_block(c) != DD_STORE_OK) {
                c->done = true;
                return DD_STORE_SQL_ERROR;
            }
            continue;
        }
        rc = sqlite3_step(c->st);
        if (rc == SQLITE_ROW) {
            int kind = c->kind == DD_STORE_HISTORY_METERING ? sqlite3_column_int(c->st, 4) : 0;
            if (kind < 0 || kind > (int)DD_CLOUD_DISCONNECT) {
                continue; /* a kind of a newer ddlocald: nothing this one could replay */
            }
            fill_row(c, row);
            *has_row = true;
            return DD_STORE_OK;
        }
        sqlite3_finalize(c->st);
        c->st = NULL;
        if (rc != SQLITE_DONE) {
            c->done = true;
            return store_sql_fail(c->store, "reading the stored history");
        }
        if (c->kind != DD_STORE_HISTORY_METERING || c->next_ms >= c->to_ms) {
            c->done = true;
        }
    }
    return DD_STORE_OK;
}

void dd_store_history_close(dd_store_history_t *c)
{
    if (c != NULL) {
        sqlite3_finalize(c->st);
        free(c);
    }
}

dd_store_status_t dd_store_snapshot_begin(dd_store_t *s, bool *began)
{
    if (began != NULL) {
        *began = false;
    }
    if (s == NULL || began == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (!sqlite3_get_autocommit(s->db)) {
        return DD_STORE_OK; /* the caller's transaction already reads one snapshot */
    }
    /* A deferred transaction takes no write lock: ddlocald keeps ingesting meanwhile. */
    if (dd_db_exec(s->db, "BEGIN DEFERRED") != DD_DB_OK) {
        store_keep_error(s);
        return DD_STORE_SQL_ERROR;
    }
    *began = true;
    return DD_STORE_OK;
}

void dd_store_snapshot_end(dd_store_t *s, bool began)
{
    if (s != NULL && began) {
        /* Nothing was written: COMMIT only releases the snapshot. */
        (void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
}
