/*
 * Snapshot and restore of the whole database (POST /ddlocal/v1/snapshot and /restore) with
 * SQLite's online backup API: every table of every subject - registry, evaluator, service -
 * copied page by page, consistent, in one step. The caller holds the pipeline lock and has no
 * transaction open.
 */
#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <string.h>

/* Copies the "main" database of @p from into @p to, in one step. */
static int copy_db(sqlite3 *to, sqlite3 *from)
{
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    int rc;

    if (b == NULL) {
        return sqlite3_errcode(to);
    }
    rc = sqlite3_backup_step(b, -1);
    (void)sqlite3_backup_finish(b);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

dd_store_status_t dd_store_backup_save(dd_store_t *s, const char *path)
{
    char tmp[1100];
    sqlite3 *file = NULL;
    int rc;

    if (s == NULL || path == NULL ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return DD_STORE_BAD_PARAMETER;
    }
    (void)remove(tmp);
    rc = sqlite3_open_v2(tmp, &file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        rc = copy_db(file, s->db);
    }
    if (rc != SQLITE_OK) {
        (void)snprintf(s->last_error, sizeof(s->last_error), "%s",
                       file != NULL ? sqlite3_errmsg(file) : sqlite3_errstr(rc));
    }
    (void)sqlite3_close(file);
    /* Renamed only once complete: a snapshot file is never half written. */
    if (rc != SQLITE_OK || rename(tmp, path) != 0) {
        if (rc == SQLITE_OK) {
            (void)snprintf(s->last_error, sizeof(s->last_error), "cannot rename the .tmp file");
        }
        (void)remove(tmp);
        return DD_STORE_SQL_ERROR;
    }
    return DD_STORE_OK;
}

dd_store_status_t dd_store_backup_load(dd_store_t *s, const char *path)
{
    sqlite3 *file = NULL;
    int rc;

    if (s == NULL || path == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    rc = sqlite3_open_v2(path, &file, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        (void)sqlite3_close(file);
        return DD_STORE_NOT_FOUND;
    }
    rc = copy_db(s->db, file);
    if (rc != SQLITE_OK) {
        (void)snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(s->db));
    }
    (void)sqlite3_close(file);
    return rc == SQLITE_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}
