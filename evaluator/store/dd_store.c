#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_store_audit.h"
#include "dd_store_mitigation.h"

static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE ev_profiles(name TEXT PRIMARY KEY, definition TEXT NOT NULL,"
        " version INTEGER NOT NULL, creation_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);"
        "CREATE TABLE ev_profile_versions(name TEXT NOT NULL, version INTEGER NOT NULL,"
        " definition TEXT NOT NULL, modified_ms INTEGER NOT NULL, PRIMARY KEY(name, version));"
        "CREATE TABLE ev_profile_targets(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " profile TEXT NOT NULL, target TEXT NOT NULL, UNIQUE(profile, target));"
        "CREATE INDEX ev_profile_targets_target ON ev_profile_targets(target);"
        "CREATE TABLE ev_profile_metrics(profile TEXT NOT NULL, metric TEXT NOT NULL,"
        " dimension TEXT);"
        "CREATE INDEX ev_profile_metrics_profile ON ev_profile_metrics(profile);"
        "CREATE TABLE ev_custom_metrics(name TEXT PRIMARY KEY, type TEXT NOT NULL,"
        " display_name TEXT NOT NULL, creation_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);"
        "CREATE TABLE ev_dimensions(name TEXT PRIMARY KEY, type TEXT NOT NULL,"
        " string_values TEXT NOT NULL, creation_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);"
        "CREATE TABLE ev_thing_state(thing TEXT PRIMARY KEY, state BLOB NOT NULL);"
        "CREATE TABLE ev_active_violations(violation_id TEXT PRIMARY KEY, thing TEXT NOT NULL,"
        " profile TEXT NOT NULL, behavior TEXT NOT NULL, behavior_json TEXT NOT NULL,"
        " criteria_type INTEGER NOT NULL, suppressed INTEGER NOT NULL, last_value TEXT,"
        " last_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL, verification INTEGER NOT NULL,"
        " verification_desc TEXT);"
        "CREATE TABLE ev_violation_events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " violation_id TEXT NOT NULL, thing TEXT NOT NULL, profile TEXT NOT NULL,"
        " behavior TEXT NOT NULL, behavior_json TEXT NOT NULL, criteria_type INTEGER NOT NULL,"
        " suppressed INTEGER NOT NULL, event_type TEXT NOT NULL, value TEXT,"
        " time_ms INTEGER NOT NULL, verification INTEGER NOT NULL, verification_desc TEXT);"
        "CREATE INDEX ev_violation_events_time ON ev_violation_events(time_ms);"
        "CREATE INDEX ev_violation_events_id ON ev_violation_events(violation_id);"
        "CREATE TABLE ev_metric_values(seq INTEGER PRIMARY KEY AUTOINCREMENT, thing TEXT NOT NULL,"
        " metric TEXT NOT NULL, dimension TEXT NOT NULL, time_ms INTEGER NOT NULL,"
        " value TEXT NOT NULL);"
        "CREATE INDEX ev_metric_values_key ON ev_metric_values(thing, metric, dimension, time_ms);"
        "CREATE TABLE ev_ml_training(profile TEXT NOT NULL, behavior TEXT NOT NULL,"
        " datapoints INTEGER NOT NULL, start_ms INTEGER NOT NULL, PRIMARY KEY(profile, behavior));"
        "CREATE TABLE ev_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE ev_reports(id INTEGER PRIMARY KEY AUTOINCREMENT, thing TEXT NOT NULL,"
        " report_id INTEGER NOT NULL, received_ms INTEGER NOT NULL, format INTEGER NOT NULL,"
        " payload BLOB NOT NULL, evaluated INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX ev_reports_pending ON ev_reports(evaluated) WHERE evaluated = 0;"},
    /* Retained values of one thing at one time share a row: one index entry per
     * report instead of one per metric (the store's write cost is index pages). */
    {2, "DROP TABLE ev_metric_values;"
        "CREATE TABLE ev_metric_values(seq INTEGER PRIMARY KEY AUTOINCREMENT, thing TEXT NOT NULL,"
        " time_ms INTEGER NOT NULL, datums TEXT NOT NULL);"
        "CREATE INDEX ev_metric_values_thing_time ON ev_metric_values(thing, time_ms);"},
    /* ListActiveViolations pages newest first: without this every page sorts all rows
     * (17 ms per page at 10,000 active violations, 0.3 ms with it). */
    {3, "CREATE INDEX ev_active_violations_start ON ev_active_violations(start_ms);"},
    /* clientRequestToken of the Create calls that have one: which request (its digest) the
     * token was first used for and the resource it created, so a retry gets the same answer. */
    {4, "CREATE TABLE ev_request_tokens(operation TEXT NOT NULL, token TEXT NOT NULL,"
        " digest TEXT NOT NULL, resource TEXT NOT NULL, time_ms INTEGER NOT NULL,"
        " PRIMARY KEY(operation, token));"},
    /* The broker's connection history, for the audit checks that look back 31 days
     * (DEVICE_CERTIFICATE_SHARED_CHECK, CONFLICTING_CLIENT_IDS_CHECK): one row per connection,
     * disconnect_ms NULL while it is open. Looked up by client id and by instance among the
     * open ones (to close: without them every CONNECT scanned the table, 1.6 ms per CONNECT
     * at 30,000 rows), by certificate and by client id (the checks), by end (pruning). */
    {5, "CREATE TABLE ev_connections(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " client_id TEXT NOT NULL, cert_id TEXT NOT NULL, thing TEXT NOT NULL,"
        " source_ip TEXT NOT NULL, instance TEXT NOT NULL, connect_ms INTEGER NOT NULL,"
        " disconnect_ms INTEGER, taken_over INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX ev_connections_open ON ev_connections(client_id) WHERE disconnect_ms IS NULL;"
        "CREATE INDEX ev_connections_open_instance ON ev_connections(instance)"
        " WHERE disconnect_ms IS NULL;"
        "CREATE INDEX ev_connections_cert ON ev_connections(cert_id, connect_ms);"
        "CREATE INDEX ev_connections_client ON ev_connections(client_id, connect_ms);"
        "CREATE INDEX ev_connections_end ON ev_connections(disconnect_ms);"},
    /* The broker's cloud-side metering as the engine used it, for `ddlocal export`/`record`:
     * one row per thing, bucket, kind, subject (topic or source IP), size and flags with a
     * count (dd_store_metering_add). One index, unique on that key with the bucket first: it
     * finds the row of an upsert and serves the time ranges of export and pruning (a second
     * index on time cost ddlocald about 5 us per record in bench_ingest). */
    {6, "CREATE TABLE ev_metering(seq INTEGER PRIMARY KEY AUTOINCREMENT, thing TEXT NOT NULL,"
        " bucket_ms INTEGER NOT NULL, time_ms INTEGER NOT NULL, kind INTEGER NOT NULL,"
        " subject TEXT NOT NULL, size INTEGER NOT NULL, flags INTEGER NOT NULL,"
        " count INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX ev_metering_key"
        " ON ev_metering(bucket_ms, thing, kind, subject, size, flags);"},
    /* `ddlocal export`, `record` and `datapoints` read reports in time order as they write
     * (dd_store_history_open): without an index on time every export sorted the whole table
     * (docs/reference/record.md, "Memory"). */
    {7, "CREATE INDEX ev_reports_time ON ev_reports(received_ms);"},
};

static const char *const SQL[ST_COUNT_] = {
    [ST_INS_EVENT] =
        "INSERT INTO ev_violation_events(violation_id, thing, profile, behavior,"
        " behavior_json, criteria_type, suppressed, event_type, value, time_ms,"
        " verification, verification_desc) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [ST_INS_ACTIVE] = "INSERT OR REPLACE INTO ev_active_violations(violation_id, thing, profile,"
                      " behavior, behavior_json, criteria_type, suppressed, last_value, last_ms,"
                      " start_ms, verification, verification_desc)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [ST_UPD_ACTIVE] = "UPDATE ev_active_violations SET last_value = ?2, last_ms = ?3"
                      " WHERE violation_id = ?1",
    [ST_DEL_ACTIVE] = "DELETE FROM ev_active_violations WHERE violation_id = ?1",
    [ST_INS_VALUE] = "INSERT INTO ev_metric_values(thing, time_ms, datums) VALUES(?1,?2,?3)",
    [ST_PUT_STATE] = "INSERT INTO ev_thing_state(thing, state) VALUES(?1, ?2)"
                     " ON CONFLICT(thing) DO UPDATE SET state = excluded.state",
    /* Per report: preparing these on every call cost ~13 us, a seventh of ddlocald's time. */
    [ST_INS_REPORT] = "INSERT INTO ev_reports(thing, report_id, received_ms, format, payload)"
                      " VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_MARK_REPORT] = "UPDATE ev_reports SET evaluated = 1 WHERE id = ?1",
    /* Per metering record: one upsert into its bucket's row. */
    [ST_ADD_METERING] = "INSERT INTO ev_metering(thing, bucket_ms, time_ms, kind, subject, size,"
                        " flags, count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                        " ON CONFLICT(bucket_ms, thing, kind, subject, size, flags)"
                        " DO UPDATE SET count = count + excluded.count,"
                        " time_ms = MIN(time_ms, excluded.time_ms)",
};

/* ------------------------------------------------------------------ basics */

void store_keep_error(dd_store_t *s)
{
    (void)snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(s->db));
}

dd_store_status_t store_sql_fail(dd_store_t *s, const char *what)
{
    store_keep_error(s);
    (void)dd_db_fail(s->db, "evaluator store", what);
    return DD_STORE_SQL_ERROR;
}

dd_store_status_t store_prepare(dd_store_t *s, const char *sql, sqlite3_stmt **st)
{
    return dd_db_prepare(s->db, sql, st) == DD_DB_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}

dd_store_status_t store_run(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    dd_store_status_t status = DD_STORE_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        status = rc == SQLITE_CONSTRAINT ? DD_STORE_EXISTS : store_sql_fail(s, what);
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t store_run_cached(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    dd_store_status_t status = rc == SQLITE_DONE ? DD_STORE_OK : store_sql_fail(s, what);

    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return status;
}

dd_store_status_t dd_store_open(sqlite3 *db, const dd_arn_ctx_t *arn, dd_store_t **out)
{
    dd_store_t *s;
    int i;

    if (db == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *out = NULL;
    if (dd_db_migrate(db, DD_STORE_COMPONENT, MIGRATIONS,
                      sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) != DD_DB_OK ||
        dd_store_mitigation_migrate(db) != DD_STORE_OK ||
        dd_store_audit_migrate(db) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    /* The evaluator writes a state row and several metric values per report:
     * a larger page cache avoids re-reading B-tree pages. The WAL is kept
     * small (an 8 MiB data dir filled with an 8,192-page threshold): a
     * checkpoint every DD_STORE_WAL_CHECKPOINT_PAGES, and a WAL file that
     * grew past DD_STORE_WAL_LIMIT_BYTES is cut back to it when it restarts.
     * All three are per connection. */
    (void)dd_db_exec(db, "PRAGMA cache_size = -65536;");
    (void)dd_db_exec(db, "PRAGMA wal_autocheckpoint = " DD_STORE_STR(
                             DD_STORE_WAL_CHECKPOINT_PAGES) "; PRAGMA journal_size_limit "
                                                            "= " DD_STORE_STR(
                                                                DD_STORE_WAL_LIMIT_BYTES) ";");
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    s->db = db;
    if (arn != NULL) {
        s->arn = *arn;
    } else {
        dd_arn_ctx_default(&s->arn);
    }
    for (i = 0; i < ST_COUNT_; i++) {
        if (store_prepare(s, SQL[i], &s->st[i]) != DD_STORE_OK) {
            dd_store_close(s);
            return DD_STORE_SQL_ERROR;
        }
    }
    *out = s;
    return DD_STORE_OK;
}

void dd_store_close(dd_store_t *s)
{
    int i;

    if (s == NULL) {
        return;
    }
    (void)store_flush_values(s);
    for (i = 0; i < ST_COUNT_; i++) {
        sqlite3_finalize(s->st[i]);
    }
    free(s->pend);
    free(s);
}

dd_store_status_t dd_store_begin(dd_store_t *s)
{
    if (s == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (s->depth++ > 0) {
        return DD_STORE_OK;
    }
    if (dd_db_exec(s->db, "BEGIN IMMEDIATE") != DD_DB_OK) {
        store_keep_error(s);
        s->depth = 0;
        return DD_STORE_SQL_ERROR;
    }
    return DD_STORE_OK;
}

dd_store_status_t dd_store_commit(dd_store_t *s)
{
    if (s == NULL || s->depth == 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (--s->depth > 0) {
        return DD_STORE_OK;
    }
    if (store_flush_values(s) != DD_STORE_OK) {
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return DD_STORE_SQL_ERROR;
    }
    if (dd_db_exec(s->db, "COMMIT") != DD_DB_OK) {
        store_keep_error(s);
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return DD_STORE_SQL_ERROR;
    }
    return DD_STORE_OK;
}

dd_store_status_t dd_store_rollback(dd_store_t *s)
{
    if (s == NULL || s->depth == 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    s->depth = 0;
    s->pend_len = 0;
    return dd_db_exec(s->db, "ROLLBACK") == DD_DB_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}

void store_sink_fail(dd_store_t *s, dd_store_status_t st)
{
    if (s->sink_status == DD_STORE_OK) {
        s->sink_status = st;
    }
}

void store_step_reset(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    dd_store_status_t status = store_run_cached(s, st, what);

    if (status != DD_STORE_OK) {
        store_sink_fail(s, status);
    }
}

void dd_store_sink(dd_store_t *s, dd_engine_sink_t *sink)
{
    if (sink == NULL) {
        return;
    }
    memset(sink, 0, sizeof(*sink));
    if (s == NULL) {
        return;
    }
    sink->ctx = s;
    sink->violation_event = store_sink_event;
    sink->active_violation = store_sink_active;
    sink->active_violation_removed = store_sink_removed;
    sink->metric_value = store_sink_value;
    sink->thing_state = store_sink_state;
}

dd_store_status_t dd_store_last_error(const dd_store_t *s, const char **message)
{
    if (s == NULL || message == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *message = s->last_error;
    return DD_STORE_OK;
}

dd_store_status_t dd_store_sink_status(dd_store_t *s)
{
    dd_store_status_t st;

    if (s == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = s->sink_status;
    s->sink_status = DD_STORE_OK;
    return st;
}

void store_abort_tx(dd_store_t *s)
{
    if (s->depth == 1) {
        (void)dd_store_rollback(s);
    } else if (s->depth > 1) {
        s->depth--;
    }
}

dd_store_status_t store_page_bounds(const dd_store_page_t *page, int64_t *offset, int *max)
{
    const char *token = page != NULL && page->token != NULL ? page->token : "";
    char *end = NULL;

    *max = page != NULL && page->max > 0 ? page->max : 250;
    *offset = 0;
    if (token[0] != '\0') {
        long long v = strtoll(token, &end, 10);
        if (end == token || *end != '\0' || v < 0) {
            return DD_STORE_BAD_TOKEN;
        }
        *offset = v;
    }
    return DD_STORE_OK;
}

dd_store_status_t store_list_names(dd_store_t *s, sqlite3_stmt *st, int first_param,
                                   const dd_store_page_t *page,
                                   int (*fn)(void *ctx, const char *name), void *ctx,
                                   char next_token[DD_STORE_TOKEN_MAX])
{
    int max;
    int64_t offset;
    int n = 0;
    int rc = SQLITE_DONE;
    bool more = false;

    if (next_token != NULL) {
        next_token[0] = '\0';
    }
    if (store_page_bounds(page, &offset, &max) != DD_STORE_OK) {
        sqlite3_finalize(st);
        return DD_STORE_BAD_TOKEN;
    }
    (void)sqlite3_bind_int(st, first_param, max + 1);
    (void)sqlite3_bind_int64(st, first_param + 1, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = dd_db_column_text(st, 0);
        if (n == max) {
            more = true;
            break;
        }
        n++;
        if (fn(ctx, name) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sql_fail(s, "list");
    }
    if (more && next_token != NULL) {
        (void)snprintf(next_token, DD_STORE_TOKEN_MAX, "%lld", (long long)(offset + n));
    }
    return DD_STORE_OK;
}

const char *dd_store_strerror(dd_store_status_t status)
{
    switch (status) {
    case DD_STORE_OK: return "ok";
    case DD_STORE_BAD_PARAMETER: return "bad parameter";
    case DD_STORE_NO_MEMORY: return "out of memory";
    case DD_STORE_SQL_ERROR: return "database statement failed";
    case DD_STORE_NOT_FOUND: return "not found";
    case DD_STORE_EXISTS: return "already exists";
    case DD_STORE_VERSION_CONFLICT: return "version conflict";
    case DD_STORE_LIMIT: return "limit exceeded";
    case DD_STORE_IN_USE: return "still used by a security profile";
    case DD_STORE_CORRUPT: return "stored data unreadable";
    case DD_STORE_BAD_TOKEN: return "invalid nextToken";
    }
    return "unknown store status";
}
