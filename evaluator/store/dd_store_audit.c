#include "dd_store_audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"

/*
 * One table for every audit subject: the documents are the app layer's and
 * the lists filter on at most three text columns, a time and a number, so
 * seven tables of identical columns would only multiply the SQL. Component
 * "audit" has its own migration numbers (as "mitigation" does), so it never
 * collides with the evaluator store's.
 */
static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE audit_rows(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " kind INTEGER NOT NULL, id TEXT NOT NULL, a TEXT, b TEXT, c TEXT,"
        " time_ms INTEGER NOT NULL DEFAULT 0, number INTEGER NOT NULL DEFAULT 0,"
        " doc TEXT NOT NULL, UNIQUE(kind, id));"
        "CREATE INDEX audit_rows_a ON audit_rows(kind, a, seq);"
        "CREATE INDEX audit_rows_bc ON audit_rows(kind, b, c);"},
};

static dd_store_status_t fail(sqlite3 *db, const char *what)
{
    (void)dd_db_fail(db, "audit store", what);
    return DD_STORE_SQL_ERROR;
}

dd_store_status_t dd_store_audit_migrate(sqlite3 *db)
{
    if (db == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    return dd_db_migrate(db, "audit", MIGRATIONS, sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) ==
                   DD_DB_OK
               ? DD_STORE_OK
               : DD_STORE_SQL_ERROR;
}

void dd_store_audit_filter_all(dd_store_audit_filter_t *f)
{
    if (f == NULL) {
        return;
    }
    memset(f, 0, sizeof(*f));
    f->time_min = INT64_MIN;
    f->time_max = INT64_MAX;
    f->number_eq = -1;
}

static bool table_ok(dd_store_audit_table_t table)
{
    return (int)table >= 0 && table < DD_STORE_AUDIT_TABLE_COUNT_;
}

#define PUT_SQL                                                            \
    "INSERT INTO audit_rows(kind, id, a, b, c, time_ms, number, doc)"      \
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(kind, id) DO UPDATE SET" \
    " a = excluded.a, b = excluded.b, c = excluded.c,"                     \
    " time_ms = excluded.time_ms, number = excluded.number, doc = excluded.doc"

struct dd_store_audit_writer {
    sqlite3 *db;
    sqlite3_stmt *st;
    dd_store_audit_table_t table;
};

static void bind_row(sqlite3_stmt *st, dd_store_audit_table_t table,
                     const dd_store_audit_row_t *row)
{
    (void)sqlite3_bind_int(st, 1, (int)table);
    (void)dd_db_bind_text(st, 2, row->id);
    (void)dd_db_bind_text(st, 3, row->a);
    (void)dd_db_bind_text(st, 4, row->b);
    (void)dd_db_bind_text(st, 5, row->c);
    (void)sqlite3_bind_int64(st, 6, row->time_ms);
    (void)sqlite3_bind_int64(st, 7, row->number);
    (void)dd_db_bind_text(st, 8, row->doc);
}

dd_store_status_t dd_store_audit_writer_open(sqlite3 *db, dd_store_audit_table_t table,
                                             dd_store_audit_writer_t **out)
{
    dd_store_audit_writer_t *w;

    if (db == NULL || !table_ok(table) || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    if (dd_db_prepare(db, PUT_SQL, &w->st) != DD_DB_OK) {
        free(w);
        return DD_STORE_SQL_ERROR;
    }
    w->db = db;
    w->table = table;
    *out = w;
    return DD_STORE_OK;
}

dd_store_status_t dd_store_audit_writer_put(dd_store_audit_writer_t *w,
                                            const dd_store_audit_row_t *row)
{
    int rc;

    if (w == NULL || row == NULL || row->id == NULL || row->doc == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    bind_row(w->st, w->table, row);
    rc = sqlite3_step(w->st);
    (void)sqlite3_reset(w->st);
    (void)sqlite3_clear_bindings(w->st);
    return rc == SQLITE_DONE ? DD_STORE_OK : fail(w->db, "put");
}

void dd_store_audit_writer_close(dd_store_audit_writer_t *w)
{
    if (w != NULL) {
        sqlite3_finalize(w->st);
        free(w);
    }
}

dd_store_status_t dd_store_audit_put(sqlite3 *db, dd_store_audit_table_t table,
                                     const dd_store_audit_row_t *row)
{
    sqlite3_stmt *st = NULL;

    if (db == NULL || !table_ok(table) || row == NULL || row->id == NULL || row->doc == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (dd_db_prepare(db, PUT_SQL, &st) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    bind_row(st, table, row);
    return dd_db_step(db, st, "audit store", "put") == DD_DB_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}

dd_store_status_t dd_store_audit_get(sqlite3 *db, dd_store_audit_table_t table, const char *id,
                                     char **doc, int64_t *time_ms)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_OK;
    int rc;

    if (db == NULL || !table_ok(table) || id == NULL || doc == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *doc = NULL;
    if (dd_db_prepare(db, "SELECT doc, time_ms FROM audit_rows WHERE kind = ?1 AND id = ?2", &st) !=
        DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int(st, 1, (int)table);
    (void)dd_db_bind_text(st, 2, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *doc = strdup(dd_db_column_text(st, 0));
        if (*doc == NULL) {
            status = DD_STORE_NO_MEMORY;
        }
        if (time_ms != NULL) {
            *time_ms = sqlite3_column_int64(st, 1);
        }
    } else if (rc == SQLITE_DONE) {
        status = DD_STORE_NOT_FOUND;
    } else {
        status = fail(db, "get");
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_audit_delete(sqlite3 *db, dd_store_audit_table_t table, const char *id,
                                        bool *deleted)
{
    sqlite3_stmt *st = NULL;

    if (db == NULL || !table_ok(table) || id == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (dd_db_prepare(db, "DELETE FROM audit_rows WHERE kind = ?1 AND id = ?2", &st) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int(st, 1, (int)table);
    (void)dd_db_bind_text(st, 2, id);
    if (dd_db_step(db, st, "audit store", "delete") != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    if (deleted != NULL) {
        *deleted = sqlite3_changes(db) > 0;
    }
    return DD_STORE_OK;
}

static bool parse_key(const char *after, int64_t *seq)
{
    char *end = NULL;
    long long v;

    *seq = 0;
    if (after == NULL || after[0] == '\0') {
        return true;
    }
    v = strtoll(after, &end, 10);
    if (end == after || *end != '\0' || v < 0) {
        return false;
    }
    *seq = (int64_t)v;
    return true;
}

dd_store_status_t dd_store_audit_list(sqlite3 *db, dd_store_audit_table_t table,
                                      const dd_store_audit_filter_t *filter, const char *after,
                                      int limit, dd_store_audit_row_fn fn, void *ctx, char *next)
{
    dd_store_audit_filter_t all;
    sqlite3_stmt *st = NULL;
    int64_t seq;
    int64_t last = 0;
    int rows = 0;
    int rc;
    bool stopped = false;
    bool more = false;

    if (db == NULL || !table_ok(table) || fn == NULL || !parse_key(after, &seq)) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (next != NULL) {
        next[0] = '\0';
    }
    if (filter == NULL) {
        dd_store_audit_filter_all(&all);
        filter = &all;
    }
    if (dd_db_prepare(db,
                      "SELECT seq, id, a, b, c, time_ms, number, doc FROM audit_rows"
                      " WHERE kind = ?1 AND seq > ?2 AND (?3 IS NULL OR a = ?3)"
                      " AND (?4 IS NULL OR b = ?4) AND (?5 IS NULL OR c = ?5)"
                      " AND time_ms >= ?6 AND time_ms <= ?7 AND (?8 < 0 OR number = ?8)"
                      " ORDER BY seq",
                      &st) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int(st, 1, (int)table);
    (void)sqlite3_bind_int64(st, 2, seq);
    (void)dd_db_bind_text(st, 3, filter->a);
    (void)dd_db_bind_text(st, 4, filter->b);
    (void)dd_db_bind_text(st, 5, filter->c);
    (void)sqlite3_bind_int64(st, 6, filter->time_min);
    (void)sqlite3_bind_int64(st, 7, filter->time_max);
    (void)sqlite3_bind_int64(st, 8, filter->number_eq);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_store_audit_row_t row;

        if (limit > 0 && rows >= limit) {
            more = true;
            break;
        }
        last = sqlite3_column_int64(st, 0);
        row.id = dd_db_column_text(st, 1);
        row.a = dd_db_column_text_or_null(st, 2);
        row.b = dd_db_column_text_or_null(st, 3);
        row.c = dd_db_column_text_or_null(st, 4);
        row.time_ms = sqlite3_column_int64(st, 5);
        row.number = sqlite3_column_int64(st, 6);
        row.doc = dd_db_column_text(st, 7);
        rows++;
        if (fn(ctx, &row) != 0) {
            stopped = true;
            break;
        }
    }
    if (!stopped && !more && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return fail(db, "list");
    }
    sqlite3_finalize(st);
    if (more && next != NULL) {
        (void)snprintf(next, DD_STORE_AUDIT_KEY_MAX, "%" PRId64, last);
    }
    return DD_STORE_OK;
}

dd_store_status_t dd_store_audit_clear(sqlite3 *db)
{
    if (db == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    return dd_db_exec(db, "DELETE FROM audit_rows") == DD_DB_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}
