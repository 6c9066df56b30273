/*
 * The broker's connection history (ev_connections): one row per device connection, opened by
 * the shim's CONNECT record and closed by its DISCONNECT, read by the audit checks over a time
 * window and pruned after DD_STORE_CONNECTION_RETENTION_MS. Runs inside the caller's
 * transaction (the ingest of a metering batch) or autocommits.
 */
#include "dd_store.h"
#include "dd_store_internal.h"

#include <string.h>

#include "dd_db.h"

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

dd_store_status_t dd_store_connection_open(dd_store_t *s, const dd_store_connection_t *c)
{
    static const char *const OTHER_INSTANCES[] = {
        "UPDATE ev_connections INDEXED BY ev_connections_open_instance"
        " SET disconnect_ms = MAX(connect_ms, ?1) WHERE disconnect_ms IS NULL AND instance < ?2",
        "UPDATE ev_connections INDEXED BY ev_connections_open_instance"
        " SET disconnect_ms = MAX(connect_ms, ?1) WHERE disconnect_ms IS NULL AND instance > ?2",
    };
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    size_t i;

    if (s == NULL || c == NULL || c->client_id == NULL || c->client_id[0] == '\0') {
        return DD_STORE_BAD_PARAMETER;
    }
    /* A connection left open would look concurrent with every later one of its certificate
     * (a false DEVICE_CERTIFICATE_SHARED_CHECK finding): close what cannot still be open. */
    if (store_prepare(s,
                      "UPDATE ev_connections SET disconnect_ms = MAX(connect_ms, ?1)"
                      " WHERE disconnect_ms IS NULL AND client_id = ?2",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, c->connect_ms);
    (void)sqlite3_bind_text(st, 2, c->client_id, -1, SQLITE_STATIC);
    status = store_run(s, st, "close a connection left open");
    if (status != DD_STORE_OK) {
        return status;
    }
    /* "<>" as two ranges, each a search of the index of open rows by instance (one lookup
     * when there is nothing to close); "<>" or an OR made SQLite scan every open row. */
    for (i = 0; i < sizeof(OTHER_INSTANCES) / sizeof(OTHER_INSTANCES[0]); i++) {
        if (store_prepare(s, OTHER_INSTANCES[i], &st) != DD_STORE_OK) {
            return DD_STORE_SQL_ERROR;
        }
        (void)sqlite3_bind_int64(st, 1, c->connect_ms);
        (void)sqlite3_bind_text(st, 2, or_empty(c->instance), -1, SQLITE_STATIC);
        status = store_run(s, st, "close the connections of an earlier broker");
        if (status != DD_STORE_OK) {
            return status;
        }
    }
    if (store_prepare(s,
                      "INSERT INTO ev_connections(client_id, cert_id, thing, source_ip, instance,"
                      " connect_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, c->client_id, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, or_empty(c->cert_id), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, or_empty(c->thing), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 4, or_empty(c->source_ip), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 5, or_empty(c->instance), -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 6, c->connect_ms);
    return store_run(s, st, "record connection");
}

dd_store_status_t dd_store_connection_close(dd_store_t *s, const char *client_id, int64_t time_ms,
                                            bool taken_over)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || client_id == NULL || client_id[0] == '\0') {
        return DD_STORE_BAD_PARAMETER;
    }
    /* Shim records are stamped before ddlocald floors them: never end before the start. */
    if (store_prepare(s,
                      "UPDATE ev_connections SET disconnect_ms = MAX(connect_ms, ?2),"
                      " taken_over = ?3 WHERE client_id = ?1 AND disconnect_ms IS NULL",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 2, time_ms);
    (void)sqlite3_bind_int(st, 3, taken_over ? 1 : 0);
    return store_run(s, st, "close connection");
}

dd_store_status_t dd_store_connections_prune(dd_store_t *s, int64_t before_ms, int64_t *deleted)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (deleted != NULL) {
        *deleted = 0;
    }
    if (s == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s, "DELETE FROM ev_connections WHERE disconnect_ms < ?1", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, before_ms);
    status = store_run(s, st, "prune connections");
    if (status == DD_STORE_OK && deleted != NULL) {
        *deleted = sqlite3_changes(s->db);
    }
    return status;
}

dd_store_status_t dd_store_connections_list(dd_store_t *s, int64_t since_ms, int64_t until_ms,
                                            dd_store_connection_order_t order,
                                            dd_store_connection_fn fn, void *ctx)
{
    static const char *const SQL_BY[] = {
        "SELECT client_id, cert_id, thing, source_ip, instance, connect_ms, disconnect_ms,"
        " taken_over FROM ev_connections WHERE connect_ms <= ?2"
        " AND (disconnect_ms IS NULL OR disconnect_ms >= ?1)"
        " ORDER BY cert_id, connect_ms DESC, seq DESC",
        "SELECT client_id, cert_id, thing, source_ip, instance, connect_ms, disconnect_ms,"
        " taken_over FROM ev_connections WHERE connect_ms <= ?2"
        " AND (disconnect_ms IS NULL OR disconnect_ms >= ?1)"
        " ORDER BY client_id, connect_ms DESC, seq DESC",
    };
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || fn == NULL || since_ms > until_ms ||
        (order != DD_STORE_CONN_BY_CERT && order != DD_STORE_CONN_BY_CLIENT)) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s, SQL_BY[order], &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, since_ms);
    (void)sqlite3_bind_int64(st, 2, until_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_store_connection_t c;

        memset(&c, 0, sizeof(c));
        c.client_id = dd_db_column_text(st, 0);
        c.cert_id = dd_db_column_text(st, 1);
        c.thing = dd_db_column_text(st, 2);
        c.source_ip = dd_db_column_text(st, 3);
        c.instance = dd_db_column_text(st, 4);
        c.connect_ms = sqlite3_column_int64(st, 5);
        c.disconnect_ms =
            sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 6);
        c.taken_over = sqlite3_column_int(st, 7) != 0;
        if (fn(ctx, &c) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        dd_store_status_t status = store_sql_fail(s, "list connections");

        sqlite3_finalize(st);
        return status;
    }
    sqlite3_finalize(st);
    return DD_STORE_OK;
}
