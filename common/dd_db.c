#include "dd_db.h"

#include "dd_log.h"

#include <string.h>

dd_db_status_t dd_db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (db == NULL || sql == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        DD_LOG_ERROR("sqlite: %s (in: %.80s)", err != NULL ? err : sqlite3_errmsg(db), sql);
        sqlite3_free(err);
        return DD_DB_SQL_ERROR;
    }
    return DD_DB_OK;
}

dd_db_status_t dd_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out_stmt)
{
    if (db == NULL || sql == NULL || out_stmt == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    if (sqlite3_prepare_v2(db, sql, -1, out_stmt, NULL) != SQLITE_OK) {
        DD_LOG_ERROR("sqlite: cannot prepare: %s (in: %.80s)", sqlite3_errmsg(db), sql);
        *out_stmt = NULL;
        return DD_DB_SQL_ERROR;
    }
    return DD_DB_OK;
}

dd_db_status_t dd_db_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    int rc;

    if (st == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    rc = text != NULL ? sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(st, idx);
    return rc == SQLITE_OK ? DD_DB_OK : DD_DB_SQL_ERROR;
}

const char *dd_db_column_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = st != NULL ? sqlite3_column_text(st, col) : NULL;

    return t != NULL ? (const char *)t : "";
}

const char *dd_db_column_text_or_null(sqlite3_stmt *st, int col)
{
    if (st == NULL || sqlite3_column_type(st, col) == SQLITE_NULL) {
        return NULL;
    }
    return (const char *)sqlite3_column_text(st, col);
}

dd_db_status_t dd_db_fail(sqlite3 *db, const char *who, const char *what)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : "no database";

    if (what != NULL) {
        DD_LOG_ERROR("%s: %s: %s", who != NULL ? who : "sqlite", what, msg);
    } else {
        DD_LOG_ERROR("%s: %s", who != NULL ? who : "sqlite", msg);
    }
    return DD_DB_SQL_ERROR;
}

dd_db_status_t dd_db_step(sqlite3 *db, sqlite3_stmt *st, const char *who, const char *what)
{
    dd_db_status_t status = DD_DB_OK;
    int rc;

    if (st == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        status = DD_DB_CONSTRAINT;
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        status = dd_db_fail(db, who, what);
    }
    sqlite3_finalize(st);
    return status;
}

dd_db_status_t dd_db_open(const char *path, bool read_only, sqlite3 **out_db)
{
    sqlite3 *db = NULL;
    int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

    if (path == NULL || out_db == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    *out_db = NULL;
    flags |= SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        DD_LOG_ERROR("cannot open database %s: %s", path,
                     db != NULL ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return DD_DB_OPEN_FAILED;
    }
    /* Writers (ddlocald, the CLI) may briefly overlap; wait rather than fail. */
    (void)sqlite3_busy_timeout(db, 10000);
    if (!read_only && dd_db_exec(db, "PRAGMA journal_mode=WAL;") != DD_DB_OK) {
        sqlite3_close(db);
        return DD_DB_SQL_ERROR;
    }
    if (dd_db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;") != DD_DB_OK) {
        sqlite3_close(db);
        return DD_DB_SQL_ERROR;
    }
    *out_db = db;
    return DD_DB_OK;
}

void dd_db_close(sqlite3 *db)
{
    if (db != NULL) {
        (void)sqlite3_close_v2(db);
    }
}

static dd_db_status_t ensure_schema_table(sqlite3 *db)
{
    return dd_db_exec(db, "CREATE TABLE IF NOT EXISTS ddlocal_schema("
                          " component TEXT PRIMARY KEY,"
                          " version INTEGER NOT NULL)");
}

dd_db_status_t dd_db_schema_version(sqlite3 *db, const char *component, int *version)
{
    sqlite3_stmt *st = NULL;
    dd_db_status_t status;
    int rc;

    if (db == NULL || component == NULL || version == NULL) {
        return DD_DB_BAD_PARAMETER;
    }
    *version = 0;
    rc = sqlite3_prepare_v2(db, "SELECT version FROM ddlocal_schema WHERE component = ?1", -1, &st,
                            NULL);
    if (rc != SQLITE_OK) {
        /* No schema table yet: nothing was ever migrated. */
        sqlite3_finalize(st);
        return strstr(sqlite3_errmsg(db), "no such table") != NULL ? DD_DB_OK : DD_DB_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        status = DD_DB_OK;
    } else {
        status = rc == SQLITE_DONE ? DD_DB_OK : DD_DB_SQL_ERROR;
    }
    sqlite3_finalize(st);
    return status;
}

dd_db_status_t dd_db_migrate(sqlite3 *db, const char *component,
                             const dd_db_migration_t *migrations, size_t count)
{
    dd_db_status_t status;
    int current = 0;
    size_t i;

    if (db == NULL || component == NULL || migrations == NULL || count == 0) {
        return DD_DB_BAD_PARAMETER;
    }
    status = ensure_schema_table(db);
    if (status == DD_DB_OK) {
        status = dd_db_schema_version(db, component, &current);
    }
    if (status == DD_DB_OK && current > migrations[count - 1].version) {
        DD_LOG_ERROR("database schema of %s is version %d, newer than this ddlocal knows (%d)",
                     component, current, migrations[count - 1].version);
        status = DD_DB_TOO_NEW;
    }
    for (i = 0; status == DD_DB_OK && i < count; i++) {
        sqlite3_stmt *st = NULL;
        if (migrations[i].version <= current) {
            continue;
        }
        status = dd_db_exec(db, "BEGIN IMMEDIATE");
        if (status != DD_DB_OK) {
            break;
        }
        status = dd_db_exec(db, migrations[i].sql);
        if (status == DD_DB_OK) {
            status =
                dd_db_prepare(db,
                              "INSERT INTO ddlocal_schema(component, version) VALUES(?1, ?2)"
                              " ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                              &st);
        }
        if (status == DD_DB_OK) {
            (void)sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
            (void)sqlite3_bind_int(st, 2, migrations[i].version);
            if (sqlite3_step(st) != SQLITE_DONE) {
                DD_LOG_ERROR("sqlite: %s", sqlite3_errmsg(db));
                status = DD_DB_SQL_ERROR;
            }
        }
        sqlite3_finalize(st);
        if (status == DD_DB_OK) {
            status = dd_db_exec(db, "COMMIT");
        }
        if (status != DD_DB_OK) {
            (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    return status;
}

const char *dd_db_strerror(dd_db_status_t status)
{
    switch (status) {
    case DD_DB_OK: return "ok";
    case DD_DB_BAD_PARAMETER: return "bad parameter";
    case DD_DB_OPEN_FAILED: return "database could not be opened";
    case DD_DB_SQL_ERROR: return "database statement failed";
    case DD_DB_TOO_NEW: return "database was written by a newer ddlocal";
    case DD_DB_CONSTRAINT: return "a constraint refused the row";
    }
    return "unknown database status";
}
