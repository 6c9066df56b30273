/* Request tokens (clientRequestToken): what each was first used for. */
#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "dd_db.h"

static bool token_args_ok(const dd_store_t *s, const char *operation, const char *token)
{
    return s != NULL && operation != NULL && operation[0] != '\0' && token != NULL &&
           token[0] != '\0';
}

dd_store_status_t dd_store_request_token_get(dd_store_t *s, const char *operation,
                                             const char *token, dd_store_request_token_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    int rc;

    if (!token_args_ok(s, operation, token) || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT digest, resource, time_ms FROM ev_request_tokens"
                      " WHERE operation = ?1 AND token = ?2",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, operation, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        (void)snprintf(out->digest, sizeof(out->digest), "%s", dd_db_column_text(st, 0));
        (void)snprintf(out->resource, sizeof(out->resource), "%s", dd_db_column_text(st, 1));
        out->time_ms = sqlite3_column_int64(st, 2);
        status = DD_STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = DD_STORE_NOT_FOUND;
    } else {
        status = store_sql_fail(s, "read request token");
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_request_token_put(dd_store_t *s, const char *operation,
                                             const char *token,
                                             const dd_store_request_token_t *used)
{
    sqlite3_stmt *st = NULL;

    if (!token_args_ok(s, operation, token) || used == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "INSERT OR REPLACE INTO ev_request_tokens(operation, token, digest, resource,"
                      " time_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, operation, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, used->digest, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 4, used->resource, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 5, used->time_ms);
    return store_run(s, st, "record request token");
}
