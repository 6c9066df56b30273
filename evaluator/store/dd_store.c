#include "dd_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
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
};

enum {
    ST_INS_EVENT,
    ST_INS_ACTIVE,
    ST_UPD_ACTIVE,
    ST_DEL_ACTIVE,
    ST_INS_VALUE,
    ST_PUT_STATE,
    ST_INS_REPORT,
    ST_MARK_REPORT,
    ST_COUNT_
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

static dd_store_status_t flush_values(dd_store_t *s);

/* ------------------------------------------------------------------ basics */

/* Keeps SQLite's message of a failure for dd_store_last_error() (a ROLLBACK would replace it). */
static void keep_error(dd_store_t *s)
{
    (void)snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(s->db));
}

static dd_store_status_t sql_fail(dd_store_t *s, const char *what)
{
    keep_error(s);
    DD_LOG_ERROR("evaluator store: %s: %s", what, sqlite3_errmsg(s->db));
    return DD_STORE_SQL_ERROR;
}

static dd_store_status_t prepare(dd_store_t *s, const char *sql, sqlite3_stmt **st)
{
    return dd_db_prepare(s->db, sql, st) == DD_DB_OK ? DD_STORE_OK : DD_STORE_SQL_ERROR;
}

/* Runs a statement without rows; finalizes it. */
static dd_store_status_t run(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    dd_store_status_t status = DD_STORE_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        status = rc == SQLITE_CONSTRAINT ? DD_STORE_EXISTS : sql_fail(s, what);
    }
    sqlite3_finalize(st);
    return status;
}

/* Runs a cached statement without rows and resets it for the next call. */
static dd_store_status_t run_cached(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    dd_store_status_t status = rc == SQLITE_DONE ? DD_STORE_OK : sql_fail(s, what);

    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return status;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *text)
{
    if (text != NULL) {
        (void)sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
    } else {
        (void)sqlite3_bind_null(st, i);
    }
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
        dd_store_mitigation_migrate(db) != DD_STORE_OK) {
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
        if (prepare(s, SQL[i], &s->st[i]) != DD_STORE_OK) {
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
    (void)flush_values(s);
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
        keep_error(s);
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
    if (flush_values(s) != DD_STORE_OK) {
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return DD_STORE_SQL_ERROR;
    }
    if (dd_db_exec(s->db, "COMMIT") != DD_DB_OK) {
        keep_error(s);
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

/* ------------------------------------------------------------------ sink */

static char *json_text(cJSON *j)
{
    char *t = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return t;
}

/* MetricValue text; counts, ports and addresses without cJSON (the hot path).
 * Returns @p buf, or a malloc()ed text for what does not fit. */
static char *value_text(const dd_datapoint_t *dp, char *buf, size_t len)
{
    size_t off;
    size_t i;

    if (dp->kind == DD_VALUE_COUNT) {
        (void)snprintf(buf, len, "{\"count\":%lld}", (long long)dp->count);
        return buf;
    }
    if (dp->kind == DD_VALUE_PORTS || dp->kind == DD_VALUE_CIDRS) {
        bool ports = dp->kind == DD_VALUE_PORTS;
        off = (size_t)snprintf(buf, len, ports ? "{\"ports\":[" : "{\"cidrs\":[");
        for (i = 0; i < dp->n && off + DD_IP_TEXT_MAX + 8 < len; i++) {
            if (ports) {
                off += (size_t)snprintf(buf + off, len - off, "%s%u", i > 0 ? "," : "",
                                        dd_datapoint_port(dp, i));
            } else {
                char ip[DD_IP_TEXT_MAX];
                if (dd_ip_format(dd_datapoint_ip(dp, i), ip, sizeof(ip)) != DD_IP_OK) {
                    break;
                }
                off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", i > 0 ? "," : "", ip);
            }
        }
        if (i == dp->n && off + 3 < len) {
            (void)snprintf(buf + off, len - off, "]}");
            return buf;
        }
    }
    return json_text(dd_datapoint_to_json(dp));
}

static void sink_fail(dd_store_t *s, dd_store_status_t st)
{
    if (s->sink_status == DD_STORE_OK) {
        s->sink_status = st;
    }
}

static void step_reset(dd_store_t *s, sqlite3_stmt *st, const char *what)
{
    dd_store_status_t status = run_cached(s, st, what);

    if (status != DD_STORE_OK) {
        sink_fail(s, status);
    }
}

static void sink_event(void *ctx, const dd_violation_event_t *ev)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_INS_EVENT];
    char vbuf[512];
    char *value = ev->has_value ? value_text(&ev->value, vbuf, sizeof(vbuf)) : NULL;
    char *beh = json_text(dd_behavior_to_json(ev->behavior));

    if (beh == NULL || (ev->has_value && value == NULL)) {
        sink_fail(s, DD_STORE_NO_MEMORY);
    } else {
        (void)sqlite3_bind_text(st, 1, ev->violation_id, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, ev->thing, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, ev->profile, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 4, ev->behavior->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 5, beh, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 6, (int)dd_behavior_criteria_type(ev->behavior));
        (void)sqlite3_bind_int(st, 7, ev->suppressed ? 1 : 0);
        (void)sqlite3_bind_text(st, 8, dd_alarm_event_name(ev->type), -1, SQLITE_STATIC);
        bind_text_or_null(st, 9, value);
        (void)sqlite3_bind_int64(st, 10, ev->time_ms);
        (void)sqlite3_bind_int(st, 11, (int)ev->verification);
        bind_text_or_null(st, 12, ev->verification_description);
        step_reset(s, st, "insert violation event");
    }
    if (value != vbuf) {
        free(value);
    }
    free(beh);
}

static void sink_active(void *ctx, const dd_active_violation_t *av)
{
    dd_store_t *s = ctx;
    char vbuf[512];
    char *value = av->has_value ? value_text(&av->last_value, vbuf, sizeof(vbuf)) : NULL;

    if (av->has_value && value == NULL) {
        sink_fail(s, DD_STORE_NO_MEMORY);
        return;
    }
    if (av->start_ms != av->last_violation_ms) {
        /* Still violating: only the last value and time move. */
        sqlite3_stmt *st = s->st[ST_UPD_ACTIVE];
        (void)sqlite3_bind_text(st, 1, av->violation_id, -1, SQLITE_STATIC);
        bind_text_or_null(st, 2, value);
        (void)sqlite3_bind_int64(st, 3, av->last_violation_ms);
        step_reset(s, st, "update active violation");
        if (sqlite3_changes(s->db) > 0) {
            if (value != vbuf) {
                free(value);
            }
            return;
        }
    }
    {
        sqlite3_stmt *st = s->st[ST_INS_ACTIVE];
        char *beh = json_text(dd_behavior_to_json(av->behavior));
        if (beh == NULL) {
            sink_fail(s, DD_STORE_NO_MEMORY);
        } else {
            (void)sqlite3_bind_text(st, 1, av->violation_id, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 2, av->thing, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 3, av->profile, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 4, av->behavior->name, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 5, beh, -1, SQLITE_STATIC);
            (void)sqlite3_bind_int(st, 6, (int)dd_behavior_criteria_type(av->behavior));
            (void)sqlite3_bind_int(st, 7, av->suppressed ? 1 : 0);
            bind_text_or_null(st, 8, value);
            (void)sqlite3_bind_int64(st, 9, av->last_violation_ms);
            (void)sqlite3_bind_int64(st, 10, av->start_ms);
            (void)sqlite3_bind_int(st, 11, (int)av->verification);
            bind_text_or_null(st, 12, av->verification_description);
            step_reset(s, st, "insert active violation");
        }
        free(beh);
    }
    if (value != vbuf) {
        free(value);
    }
}

static void sink_removed(void *ctx, const char *violation_id)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_DEL_ACTIVE];

    (void)sqlite3_bind_text(st, 1, violation_id, -1, SQLITE_STATIC);
    step_reset(s, st, "delete active violation");
}

static dd_store_status_t flush_values(dd_store_t *s)
{
    sqlite3_stmt *st = s->st[ST_INS_VALUE];
    dd_store_status_t status = DD_STORE_OK;

    if (s->pend_len == 0) {
        return DD_STORE_OK;
    }
    s->pend[s->pend_len++] = '}';
    (void)sqlite3_bind_text(st, 1, s->pend_thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 2, s->pend_time);
    (void)sqlite3_bind_text(st, 3, s->pend, (int)s->pend_len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        status = sql_fail(s, "insert metric values");
        sink_fail(s, status);
    }
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    s->pend_len = 0;
    return status;
}

/* True when the pending row already holds @p key (a second message of the same millisecond). */
static bool pending_has_key(const dd_store_t *s, const char *key)
{
    char needle[2 * DD_PROFILE_NAME_MAX + 16];
    int n = snprintf(needle, sizeof(needle), "{\"%s\":", key);

    if (n < 0 || (size_t)n >= sizeof(needle) || s->pend_len == 0) {
        return false;
    }
    /* The row (NUL-terminated by the snprintf that appended its last datum)
     * has the key after '{' when it came first, after ',' otherwise; inside a
     * value '"' is escaped, so neither form can occur there. */
    if (strncmp(s->pend, needle, (size_t)n) == 0) {
        return true;
    }
    needle[0] = ',';
    return strstr(s->pend, needle) != NULL;
}

/* Key of a datum inside the row: the metric, or "metric|dimension". One row per
 * thing and time; a key seen again in that row (several messages in the same
 * millisecond) starts a new row, so every value is kept. */
static void sink_value(void *ctx, const dd_metric_datum_t *d)
{
    dd_store_t *s = ctx;
    char key[2 * DD_PROFILE_NAME_MAX + 4];
    char vbuf[512];
    char *value;
    size_t need;

    (void)snprintf(key, sizeof(key), "%s%s%s", d->metric, d->dimension != NULL ? "|" : "",
                   d->dimension != NULL ? d->dimension : "");
    if (s->pend_len > 0 && (s->pend_time != d->time_ms || strcmp(s->pend_thing, d->thing) != 0 ||
                            pending_has_key(s, key))) {
        (void)flush_values(s);
    }
    value = value_text(&d->value, vbuf, sizeof(vbuf));
    if (value == NULL) {
        sink_fail(s, DD_STORE_NO_MEMORY);
        return;
    }
    need = s->pend_len + strlen(d->metric) + (d->dimension != NULL ? strlen(d->dimension) : 0) +
           strlen(value) + 16;
    if (need > s->pend_cap) {
        size_t cap = need * 2;
        char *n = realloc(s->pend, cap);
        if (n == NULL) {
            sink_fail(s, DD_STORE_NO_MEMORY);
            if (value != vbuf) {
                free(value);
            }
            return;
        }
        s->pend = n;
        s->pend_cap = cap;
    }
    if (s->pend_len == 0) {
        (void)snprintf(s->pend_thing, sizeof(s->pend_thing), "%s", d->thing);
        s->pend_time = d->time_ms;
        s->pend[s->pend_len++] = '{';
    } else {
        s->pend[s->pend_len++] = ',';
    }
    s->pend_len +=
        (size_t)snprintf(s->pend + s->pend_len, s->pend_cap - s->pend_len, "\"%s\":%s", key, value);
    if (value != vbuf) {
        free(value);
    }
}

static void sink_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_PUT_STATE];

    (void)sqlite3_bind_text(st, 1, thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    step_reset(s, st, "store thing state");
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
    sink->violation_event = sink_event;
    sink->active_violation = sink_active;
    sink->active_violation_removed = sink_removed;
    sink->metric_value = sink_value;
    sink->thing_state = sink_state;
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

/* ------------------------------------------------------------------ profiles */

static void abort_tx(dd_store_t *s)
{
    if (s->depth == 1) {
        (void)dd_store_rollback(s);
    } else if (s->depth > 1) {
        s->depth--;
    }
}

static dd_store_status_t write_profile_metrics(dd_store_t *s, const dd_profile_t *p)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    size_t i;

    if (prepare(s, "DELETE FROM ev_profile_metrics WHERE profile = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    status = run(s, st, "clear profile metrics");
    if (status != DD_STORE_OK ||
        prepare(s, "INSERT INTO ev_profile_metrics(profile, metric, dimension) VALUES(?1,?2,?3)",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    for (i = 0;
         status == DD_STORE_OK && i < p->behavior_count + p->retain_count + p->retain_v1_count;
         i++) {
        const char *metric;
        const char *dim = NULL;
        if (i < p->behavior_count) {
            metric = p->behaviors[i].metric;
            dim = p->behaviors[i].has_dimension ? p->behaviors[i].dimension : NULL;
        } else if (i < p->behavior_count + p->retain_count) {
            const dd_metric_to_retain_t *r = &p->retain[i - p->behavior_count];
            metric = r->metric;
            dim = r->has_dimension ? r->dimension : NULL;
        } else {
            metric = p->retain_v1[i - p->behavior_count - p->retain_count];
        }
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
        bind_text_or_null(st, 3, dim);
        if (sqlite3_step(st) != SQLITE_DONE) {
            status = sql_fail(s, "insert profile metric");
        }
        (void)sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return status;
}

static char *definition_text(const dd_profile_t *p)
{
    return json_text(dd_profile_to_json(p, NULL, 0));
}

dd_store_status_t dd_store_profile_create(dd_store_t *s, const dd_profile_t *p, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    char *def;

    if (s == NULL || p == NULL || dd_profile_validate(p, NULL, &s->arn, NULL) != DD_PROFILE_OK) {
        /* Defence in depth: the API validates with the account's definitions
         * and reports the message; an invalid profile never reaches a row. */
        return DD_STORE_BAD_PARAMETER;
    }
    def = definition_text(p);
    if (def == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    status = dd_store_begin(s);
    if (status == DD_STORE_OK &&
        prepare(s,
                "INSERT INTO ev_profiles(name, definition, version, creation_ms, modified_ms)"
                " VALUES(?1, ?2, 1, ?3, ?3)",
                &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, now_ms);
        status = run(s, st, "insert profile");
    } else if (status == DD_STORE_OK) {
        status = DD_STORE_SQL_ERROR;
    }
    if (status == DD_STORE_OK &&
        prepare(s,
                "INSERT INTO ev_profile_versions(name, version, definition, modified_ms)"
                " VALUES(?1, 1, ?2, ?3)",
                &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, now_ms);
        status = run(s, st, "insert profile version");
    }
    if (status == DD_STORE_OK) {
        status = write_profile_metrics(s, p);
    }
    free(def);
    if (status == DD_STORE_OK) {
        return dd_store_commit(s);
    }
    abort_tx(s);
    return status;
}

static dd_store_status_t read_targets(dd_store_t *s, dd_profile_t *p)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 4;
    int rc;

    if (prepare(s, "SELECT target FROM ev_profile_targets WHERE profile = ?1 ORDER BY seq", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    p->targets = calloc(cap, sizeof(char *));
    while (p->targets != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (p->target_count == cap) {
            char **n = realloc(p->targets, cap * 2 * sizeof(char *));
            if (n == NULL) {
                break;
            }
            p->targets = n;
            cap *= 2;
        }
        p->targets[p->target_count] = strdup(t != NULL ? t : "");
        if (p->targets[p->target_count] == NULL) {
            break;
        }
        p->target_count++;
    }
    sqlite3_finalize(st);
    return p->targets != NULL ? DD_STORE_OK : DD_STORE_NO_MEMORY;
}

dd_store_status_t dd_store_profile_get(dd_store_t *s, const char *name, dd_profile_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_NOT_FOUND;

    if (s == NULL || name == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (prepare(s,
                "SELECT definition, version, creation_ms, modified_ms FROM ev_profiles"
                " WHERE name = ?1",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *def = (const char *)sqlite3_column_text(st, 0);
        status = dd_profile_parse(def, strlen(def), name, out, NULL) == DD_PROFILE_OK
                     ? DD_STORE_OK
                     : DD_STORE_CORRUPT;
        out->version = sqlite3_column_int64(st, 1);
        out->creation_ms = sqlite3_column_int64(st, 2);
        out->modified_ms = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (status == DD_STORE_OK) {
        status = read_targets(s, out);
    }
    if (status != DD_STORE_OK) {
        dd_profile_free(out);
    }
    return status;
}

static dd_store_status_t check_version(dd_store_t *s, const char *name, int64_t expected,
                                       int64_t *version)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_NOT_FOUND;

    if (prepare(s, "SELECT version FROM ev_profiles WHERE name = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        status = expected >= 0 && expected != *version ? DD_STORE_VERSION_CONFLICT : DD_STORE_OK;
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_profile_update(dd_store_t *s, const dd_profile_t *p,
                                          int64_t expected_version, int64_t now_ms,
                                          dd_profile_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    int64_t version = 0;
    char *def;

    if (s == NULL || p == NULL || dd_profile_validate(p, NULL, &s->arn, NULL) != DD_PROFILE_OK) {
        return DD_STORE_BAD_PARAMETER;
    }
    def = definition_text(p);
    if (def == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    status = dd_store_begin(s);
    if (status == DD_STORE_OK) {
        status = check_version(s, p->name, expected_version, &version);
    }
    if (status == DD_STORE_OK &&
        prepare(s,
                "UPDATE ev_profiles SET definition = ?2, version = ?3, modified_ms = ?4"
                " WHERE name = ?1",
                &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, version + 1);
        (void)sqlite3_bind_int64(st, 4, now_ms);
        status = run(s, st, "update profile");
    }
    if (status == DD_STORE_OK &&
        prepare(s,
                "INSERT OR REPLACE INTO ev_profile_versions(name, version, definition,"
                " modified_ms) VALUES(?1, ?2, ?3, ?4)",
                &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 2, version + 1);
        (void)sqlite3_bind_text(st, 3, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 4, now_ms);
        status = run(s, st, "insert profile version");
    }
    if (status == DD_STORE_OK) {
        status = write_profile_metrics(s, p);
    }
    free(def);
    if (status != DD_STORE_OK) {
        abort_tx(s);
        return status;
    }
    status = dd_store_commit(s);
    if (status == DD_STORE_OK && out != NULL) {
        status = dd_store_profile_get(s, p->name, out);
    }
    return status;
}

dd_store_status_t dd_store_profile_delete(dd_store_t *s, const char *name, int64_t expected)
{
    static const char *const DELETES[] = {
        "DELETE FROM ev_profiles WHERE name = ?1",
        "DELETE FROM ev_profile_targets WHERE profile = ?1",
        "DELETE FROM ev_profile_metrics WHERE profile = ?1",
        "DELETE FROM ev_ml_training WHERE profile = ?1",
    };
    dd_store_status_t status;
    int64_t version = 0;
    size_t i;

    if (s == NULL || name == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    status = dd_store_begin(s);
    if (status == DD_STORE_OK) {
        status = check_version(s, name, expected, &version);
    }
    for (i = 0; status == DD_STORE_OK && i < sizeof(DELETES) / sizeof(DELETES[0]); i++) {
        sqlite3_stmt *st = NULL;
        status = prepare(s, DELETES[i], &st);
        if (status == DD_STORE_OK) {
            (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            status = run(s, st, "delete profile");
        }
    }
    if (status != DD_STORE_OK) {
        abort_tx(s);
        return status;
    }
    return dd_store_commit(s);
}

/* Paging is by offset: the token is the number of rows already returned. */
static dd_store_status_t page_bounds(const dd_store_page_t *page, int64_t *offset, int *max)
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

/* Runs a one-column query whose last two parameters are LIMIT and OFFSET. */
static dd_store_status_t list_names(dd_store_t *s, sqlite3_stmt *st, int first_param,
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
    if (page_bounds(page, &offset, &max) != DD_STORE_OK) {
        sqlite3_finalize(st);
        return DD_STORE_BAD_TOKEN;
    }
    (void)sqlite3_bind_int(st, first_param, max + 1);
    (void)sqlite3_bind_int64(st, first_param + 1, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (n == max) {
            more = true;
            break;
        }
        n++;
        if (fn(ctx, name != NULL ? name : "") != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sql_fail(s, "list");
    }
    if (more && next_token != NULL) {
        (void)snprintf(next_token, DD_STORE_TOKEN_MAX, "%lld", (long long)(offset + n));
    }
    return DD_STORE_OK;
}

dd_store_status_t dd_store_profile_list(dd_store_t *s, const char *metric, const char *dimension,
                                        const dd_store_page_t *page,
                                        int (*fn)(void *ctx, const char *name), void *ctx,
                                        char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "SELECT name FROM ev_profiles p WHERE"
                " (?1 IS NULL OR EXISTS(SELECT 1 FROM ev_profile_metrics m"
                "   WHERE m.profile = p.name AND m.metric = ?1)) AND"
                " (?2 IS NULL OR EXISTS(SELECT 1 FROM ev_profile_metrics m"
                "   WHERE m.profile = p.name AND m.dimension = ?2))"
                " ORDER BY name LIMIT ?3 OFFSET ?4",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    bind_text_or_null(st, 1, metric);
    bind_text_or_null(st, 2, dimension);
    return list_names(s, st, 3, page, fn, ctx, next_token);
}

static bool profile_exists(dd_store_t *s, const char *name)
{
    int64_t v;
    return check_version(s, name, -1, &v) == DD_STORE_OK;
}

dd_store_status_t dd_store_target_attach(dd_store_t *s, const char *profile, const char *target)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    dd_arn_target_t kind;
    char group[DD_NAME_MAX + 1];
    int count = 0;
    bool already = false;

    if (s == NULL || profile == NULL || target == NULL ||
        dd_arn_parse_target(&s->arn, target, &kind, group, sizeof(group)) != DD_NAMES_OK) {
        return DD_STORE_BAD_PARAMETER;
    }
    status = dd_store_begin(s);
    if (status != DD_STORE_OK) {
        return status;
    }
    if (!profile_exists(s, profile)) {
        abort_tx(s);
        return DD_STORE_NOT_FOUND;
    }
    if (prepare(s, "SELECT count(*), sum(profile = ?2) FROM ev_profile_targets WHERE target = ?1",
                &st) != DD_STORE_OK) {
        abort_tx(s);
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, profile, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        count = sqlite3_column_int(st, 0);
        already = sqlite3_column_int(st, 1) > 0;
    }
    sqlite3_finalize(st);
    if (already) {
        return dd_store_commit(s);
    }
    if (count >= DD_PROFILE_MAX_PER_TARGET) {
        abort_tx(s);
        return DD_STORE_LIMIT;
    }
    if (prepare(s, "INSERT INTO ev_profile_targets(profile, target) VALUES(?1, ?2)", &st) !=
        DD_STORE_OK) {
        abort_tx(s);
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    status = run(s, st, "attach target");
    if (status != DD_STORE_OK) {
        abort_tx(s);
        return status;
    }
    return dd_store_commit(s);
}

dd_store_status_t dd_store_target_detach(dd_store_t *s, const char *profile, const char *target)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || profile == NULL || target == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (!profile_exists(s, profile)) {
        return DD_STORE_NOT_FOUND;
    }
    if (prepare(s, "DELETE FROM ev_profile_targets WHERE profile = ?1 AND target = ?2", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    return run(s, st, "detach target");
}

dd_store_status_t dd_store_targets_for_profile(dd_store_t *s, const char *profile,
                                               const dd_store_page_t *page,
                                               int (*fn)(void *ctx, const char *arn), void *ctx,
                                               char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || profile == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (!profile_exists(s, profile)) {
        return DD_STORE_NOT_FOUND;
    }
    if (prepare(s,
                "SELECT target FROM ev_profile_targets WHERE profile = ?1 ORDER BY seq"
                " LIMIT ?2 OFFSET ?3",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_TRANSIENT);
    return list_names(s, st, 2, page, fn, ctx, next_token);
}

dd_store_status_t dd_store_profiles_for_target(dd_store_t *s, const char *target,
                                               int (*fn)(void *ctx, const char *profile), void *ctx)
{
    sqlite3_stmt *st = NULL;
    dd_store_page_t all = {NULL, 1000000};

    if (s == NULL || target == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "SELECT profile FROM ev_profile_targets WHERE target = ?1 ORDER BY profile"
                " LIMIT ?2 OFFSET ?3",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
    return list_names(s, st, 2, &all, fn, ctx, NULL);
}

/* ------------------------------------------------------------------ custom metrics */

static dd_store_status_t in_use(dd_store_t *s, const char *column, const char *name)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    dd_store_status_t status = DD_STORE_OK;

    (void)snprintf(sql, sizeof(sql), "SELECT 1 FROM ev_profile_metrics WHERE %s = ?1 LIMIT 1",
                   column);
    if (prepare(s, sql, &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        status = DD_STORE_IN_USE;
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_custom_metric_create(dd_store_t *s, const dd_custom_metric_def_t *d)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || d == NULL || !dd_name_valid(DD_NAME_CUSTOM_METRIC, d->name)) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "INSERT INTO ev_custom_metrics(name, type, display_name, creation_ms,"
                " modified_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, dd_metric_custom_type_name(d->type), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, d->display_name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 4, d->creation_ms);
    (void)sqlite3_bind_int64(st, 5, d->modified_ms);
    return run(s, st, "create custom metric");
}

static dd_store_status_t read_custom(sqlite3_stmt *st, dd_custom_metric_def_t *out)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *type = (const char *)sqlite3_column_text(st, 1);
    const char *disp = (const char *)sqlite3_column_text(st, 2);

    memset(out, 0, sizeof(*out));
    (void)snprintf(out->name, sizeof(out->name), "%s", name != NULL ? name : "");
    (void)snprintf(out->display_name, sizeof(out->display_name), "%s", disp != NULL ? disp : "");
    out->creation_ms = sqlite3_column_int64(st, 3);
    out->modified_ms = sqlite3_column_int64(st, 4);
    return type != NULL && dd_metric_custom_type_parse(type, &out->type) == DD_METRIC_OK
               ? DD_STORE_OK
               : DD_STORE_CORRUPT;
}

dd_store_status_t dd_store_custom_metric_get(dd_store_t *s, const char *name,
                                             dd_custom_metric_def_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_NOT_FOUND;

    if (s == NULL || name == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "SELECT name, type, display_name, creation_ms, modified_ms"
                " FROM ev_custom_metrics WHERE name = ?1",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        status = read_custom(st, out);
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_custom_metric_update(dd_store_t *s, const char *name,
                                                const char *display_name, int64_t now_ms,
                                                dd_custom_metric_def_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (s == NULL || name == NULL || display_name == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "UPDATE ev_custom_metrics SET display_name = ?2, modified_ms = ?3"
                " WHERE name = ?1",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, display_name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, now_ms);
    status = run(s, st, "update custom metric");
    if (status == DD_STORE_OK && sqlite3_changes(s->db) == 0) {
        return DD_STORE_NOT_FOUND;
    }
    if (status == DD_STORE_OK && out != NULL) {
        status = dd_store_custom_metric_get(s, name, out);
    }
    return status;
}

dd_store_status_t dd_store_custom_metric_delete(dd_store_t *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (s == NULL || name == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    status = in_use(s, "metric", name);
    if (status != DD_STORE_OK) {
        return status;
    }
    if (prepare(s, "DELETE FROM ev_custom_metrics WHERE name = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return run(s, st, "delete custom metric");
}

dd_store_status_t dd_store_custom_metric_list(dd_store_t *s, const dd_store_page_t *page,
                                              int (*fn)(void *ctx, const char *name), void *ctx,
                                              char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s, "SELECT name FROM ev_custom_metrics ORDER BY name LIMIT ?1 OFFSET ?2", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return list_names(s, st, 1, page, fn, ctx, next_token);
}

/* ------------------------------------------------------------------ dimensions */

static char *dimension_values_json(const dd_dimension_def_t *d)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr != NULL && i < d->value_count; i++) {
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(d->values[i]))) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return json_text(arr);
}

static dd_store_status_t write_dimension(dd_store_t *s, const char *sql,
                                         const dd_dimension_def_t *d, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    char *values;
    dd_store_status_t status;

    if (s == NULL || d == NULL || !dd_name_valid(DD_NAME_DIMENSION, d->name) ||
        d->value_count == 0 || d->value_count > DD_DIMENSION_VALUES_MAX) {
        return DD_STORE_BAD_PARAMETER;
    }
    values = dimension_values_json(d);
    if (values == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    if (prepare(s, sql, &st) != DD_STORE_OK) {
        free(values);
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, values, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, d->creation_ms);
    (void)sqlite3_bind_int64(st, 4, now_ms);
    status = run(s, st, "write dimension");
    free(values);
    return status;
}

dd_store_status_t dd_store_dimension_create(dd_store_t *s, const dd_dimension_def_t *d)
{
    return write_dimension(s,
                           "INSERT INTO ev_dimensions(name, type, string_values, creation_ms,"
                           " modified_ms) VALUES(?1, 'TOPIC_FILTER', ?2, ?3, ?4)",
                           d, d != NULL ? d->modified_ms : 0);
}

dd_store_status_t dd_store_dimension_update(dd_store_t *s, const dd_dimension_def_t *d,
                                            int64_t now_ms)
{
    dd_store_status_t status = write_dimension(
        s,
        "UPDATE ev_dimensions SET string_values = ?2, modified_ms = ?4 WHERE name = ?1"
        " AND ?3 = ?3",
        d, now_ms);

    if (status == DD_STORE_OK && sqlite3_changes(s->db) == 0) {
        return DD_STORE_NOT_FOUND;
    }
    return status;
}

dd_store_status_t dd_store_dimension_get(dd_store_t *s, const char *name, dd_dimension_def_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_NOT_FOUND;

    if (s == NULL || name == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "SELECT string_values, creation_ms, modified_ms FROM ev_dimensions"
                " WHERE name = ?1",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        cJSON *arr = cJSON_Parse(text != NULL ? text : "");
        const cJSON *it;
        memset(out, 0, sizeof(*out));
        (void)snprintf(out->name, sizeof(out->name), "%s", name);
        out->creation_ms = sqlite3_column_int64(st, 1);
        out->modified_ms = sqlite3_column_int64(st, 2);
        status = cJSON_IsArray(arr) ? DD_STORE_OK : DD_STORE_CORRUPT;
        cJSON_ArrayForEach (it, arr) {
            if (!cJSON_IsString(it) || out->value_count >= DD_DIMENSION_VALUES_MAX) {
                status = DD_STORE_CORRUPT;
                break;
            }
            (void)snprintf(out->values[out->value_count++], DD_DIMENSION_VALUE_MAX + 1, "%s",
                           it->valuestring);
        }
        cJSON_Delete(arr);
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_dimension_delete(dd_store_t *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (s == NULL || name == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    status = in_use(s, "dimension", name);
    if (status != DD_STORE_OK) {
        return status;
    }
    if (prepare(s, "DELETE FROM ev_dimensions WHERE name = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return run(s, st, "delete dimension");
}

dd_store_status_t dd_store_dimension_list(dd_store_t *s, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s, "SELECT name FROM ev_dimensions ORDER BY name LIMIT ?1 OFFSET ?2", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return list_names(s, st, 1, page, fn, ctx, next_token);
}

/* ------------------------------------------------------------------ violations */

void dd_store_violation_filter_init(dd_store_violation_filter_t *f)
{
    if (f != NULL) {
        memset(f, 0, sizeof(*f));
        f->criteria_type = -1;
        f->suppressed = -1;
        f->verification = -1;
    }
}

/* Adds a JSON text column as a parsed member. */
static bool add_json_member(cJSON *obj, const char *key, const char *text)
{
    cJSON *j;

    if (text == NULL) {
        return true;
    }
    j = cJSON_Parse(text);
    return j != NULL && cJSON_AddItemToObject(obj, key, j);
}

static dd_store_status_t list_violations(dd_store_t *s, const char *sql, bool events,
                                         const dd_store_violation_filter_t *f,
                                         const dd_store_page_t *page,
                                         int (*fn)(void *ctx, const cJSON *item), void *ctx,
                                         char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;
    dd_store_violation_filter_t all;
    int64_t offset;
    int max;
    int n = 0;
    int rc;
    bool more = false;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (f == NULL) {
        dd_store_violation_filter_init(&all);
        f = &all;
    }
    if (next_token != NULL) {
        next_token[0] = '\0';
    }
    if (page_bounds(page, &offset, &max) != DD_STORE_OK) {
        return DD_STORE_BAD_TOKEN;
    }
    if (prepare(s, sql, &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, f->start_ms);
    (void)sqlite3_bind_int64(st, 2, f->end_ms > 0 ? f->end_ms : INT64_MAX);
    bind_text_or_null(st, 3, f->thing);
    bind_text_or_null(st, 4, f->profile);
    (void)sqlite3_bind_int(st, 5, f->criteria_type);
    (void)sqlite3_bind_int(st, 6, f->suppressed);
    (void)sqlite3_bind_int(st, 7, f->verification);
    (void)sqlite3_bind_int(st, 8, max + 1);
    (void)sqlite3_bind_int64(st, 9, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *item;
        bool ok;
        int verification = sqlite3_column_int(st, 6);
        const char *desc = (const char *)sqlite3_column_text(st, 7);
        int stop;

        if (n == max) {
            more = true;
            break;
        }
        n++;
        item = cJSON_CreateObject();
        ok = item != NULL &&
             cJSON_AddStringToObject(item, "violationId",
                                     (const char *)sqlite3_column_text(st, 0)) != NULL &&
             cJSON_AddStringToObject(item, "thingName", (const char *)sqlite3_column_text(st, 1)) !=
                 NULL &&
             cJSON_AddStringToObject(item, "securityProfileName",
                                     (const char *)sqlite3_column_text(st, 2)) != NULL &&
             add_json_member(item, "behavior", (const char *)sqlite3_column_text(st, 3)) &&
             add_json_member(item, events ? "metricValue" : "lastViolationValue",
                             (const char *)sqlite3_column_text(st, 4));
        if (ok && events) {
            ok = cJSON_AddStringToObject(item, "violationEventType",
                                         (const char *)sqlite3_column_text(st, 5)) != NULL;
        }
        if (ok && verification != DD_VERIFICATION_UNKNOWN) {
            ok = cJSON_AddStringToObject(item, "verificationState",
                                         dd_verification_name((dd_verification_t)verification)) !=
                 NULL;
        }
        if (ok && desc != NULL) {
            ok = cJSON_AddStringToObject(item, "verificationStateDescription", desc) != NULL;
        }
        if (ok && events) {
            ok = cJSON_AddItemToObject(item, "violationEventTime",
                                       dd_profile_time_json(sqlite3_column_int64(st, 8)));
        } else if (ok) {
            ok = cJSON_AddItemToObject(item, "lastViolationTime",
                                       dd_profile_time_json(sqlite3_column_int64(st, 8))) &&
                 cJSON_AddItemToObject(item, "violationStartTime",
                                       dd_profile_time_json(sqlite3_column_int64(st, 9)));
        }
        if (!ok) {
            cJSON_Delete(item);
            sqlite3_finalize(st);
            return DD_STORE_NO_MEMORY;
        }
        stop = fn(ctx, item);
        cJSON_Delete(item);
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sql_fail(s, "list violations");
    }
    if (more && next_token != NULL) {
        (void)snprintf(next_token, DD_STORE_TOKEN_MAX, "%lld", (long long)(offset + n));
    }
    return DD_STORE_OK;
}

#define VIOLATION_FILTER                                                  \
    " (?3 IS NULL OR thing = ?3) AND (?4 IS NULL OR profile = ?4) AND"    \
    " (?5 < 0 OR criteria_type = ?5) AND (?6 < 0 OR suppressed = ?6) AND" \
    " (?7 < 0 OR verification = ?7)"

dd_store_status_t dd_store_violation_events(dd_store_t *s, const dd_store_violation_filter_t *f,
                                            const dd_store_page_t *page,
                                            int (*fn)(void *ctx, const cJSON *item), void *ctx,
                                            char next_token[DD_STORE_TOKEN_MAX])
{
    return list_violations(s,
                           "SELECT violation_id, thing, profile, behavior_json, value, event_type,"
                           " verification, verification_desc, time_ms FROM ev_violation_events"
                           " WHERE time_ms >= ?1 AND time_ms <= ?2 AND" VIOLATION_FILTER
                           " ORDER BY time_ms DESC, seq DESC LIMIT ?8 OFFSET ?9",
                           true, f, page, fn, ctx, next_token);
}

dd_store_status_t dd_store_active_violation_count(dd_store_t *s, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;

    if (s == NULL || count == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *count = 0;
    status = prepare(s, "SELECT count(*) FROM ev_active_violations", &st);
    if (status == DD_STORE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *count = sqlite3_column_int64(st, 0);
        } else {
            status = DD_STORE_SQL_ERROR;
        }
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_active_violations(dd_store_t *s, const dd_store_violation_filter_t *f,
                                             const dd_store_page_t *page,
                                             int (*fn)(void *ctx, const cJSON *item), void *ctx,
                                             char next_token[DD_STORE_TOKEN_MAX])
{
    return list_violations(
        s,
        "SELECT violation_id, thing, profile, behavior_json, last_value, NULL,"
        " verification, verification_desc, last_ms, start_ms"
        " FROM ev_active_violations WHERE ?1 = ?1 AND ?2 = ?2 AND" VIOLATION_FILTER
        " ORDER BY start_ms DESC, rowid DESC LIMIT ?8 OFFSET ?9",
        false, f, page, fn, ctx, next_token);
}

dd_store_status_t dd_store_set_verification(dd_store_t *s, const char *violation_id,
                                            dd_verification_t state, const char *description)
{
    static const char *const UPDATES[] = {
        "UPDATE ev_active_violations SET verification = ?2, verification_desc = ?3"
        " WHERE violation_id = ?1",
        "UPDATE ev_violation_events SET verification = ?2, verification_desc = ?3"
        " WHERE violation_id = ?1",
    };
    dd_store_status_t status;
    int changes = 0;
    size_t i;

    if (s == NULL || violation_id == NULL || (unsigned)state > DD_VERIFICATION_TRUE_POSITIVE) {
        return DD_STORE_BAD_PARAMETER;
    }
    status = dd_store_begin(s);
    for (i = 0; status == DD_STORE_OK && i < 2; i++) {
        sqlite3_stmt *st = NULL;
        status = prepare(s, UPDATES[i], &st);
        if (status == DD_STORE_OK) {
            (void)sqlite3_bind_text(st, 1, violation_id, -1, SQLITE_STATIC);
            (void)sqlite3_bind_int(st, 2, (int)state);
            bind_text_or_null(st, 3, description);
            status = run(s, st, "set verification state");
            changes += sqlite3_changes(s->db);
        }
    }
    if (status != DD_STORE_OK) {
        abort_tx(s);
        return status;
    }
    status = dd_store_commit(s);
    return status == DD_STORE_OK && changes == 0 ? DD_STORE_NOT_FOUND : status;
}

/* ------------------------------------------------------------------ metric values */

dd_store_status_t dd_store_metric_values(dd_store_t *s, const char *thing, const char *metric,
                                         const char *dimension, int64_t start_ms, int64_t end_ms,
                                         const dd_store_page_t *page,
                                         int (*fn)(void *ctx, int64_t time_ms, const char *value),
                                         void *ctx, char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;
    int64_t offset;
    int max;
    int n = 0;
    int rc;
    bool more = false;

    if (s == NULL || thing == NULL || metric == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (next_token != NULL) {
        next_token[0] = '\0';
    }
    if (page_bounds(page, &offset, &max) != DD_STORE_OK) {
        return DD_STORE_BAD_TOKEN;
    }
    (void)flush_values(s);
    if (prepare(s,
                "SELECT time_ms, v FROM (SELECT time_ms, seq, json_extract(datums, ?2) AS v"
                " FROM ev_metric_values WHERE thing = ?1 AND time_ms >= ?4 AND time_ms <= ?5)"
                " WHERE v IS NOT NULL AND ?3 = ?3 ORDER BY time_ms, seq LIMIT ?6 OFFSET ?7",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    {
        char path[2 * DD_PROFILE_NAME_MAX + 16];
        (void)snprintf(path, sizeof(path), "$.\"%s%s%s\"", metric, dimension != NULL ? "|" : "",
                       dimension != NULL ? dimension : "");
        (void)sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
    }
    (void)sqlite3_bind_text(st, 1, thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 4, start_ms);
    (void)sqlite3_bind_int64(st, 5, end_ms > 0 ? end_ms : INT64_MAX);
    (void)sqlite3_bind_int(st, 6, max + 1);
    (void)sqlite3_bind_int64(st, 7, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == max) {
            more = true;
            break;
        }
        n++;
        if (fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sql_fail(s, "list metric values");
    }
    if (more && next_token != NULL) {
        (void)snprintf(next_token, DD_STORE_TOKEN_MAX, "%lld", (long long)(offset + n));
    }
    return DD_STORE_OK;
}

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
    status = run_cached(s, st, "insert report");
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
    return run_cached(s, st, "mark report evaluated");
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
    return rc == SQLITE_DONE ? DD_STORE_OK : sql_fail(s, "reading reports");
}

dd_store_status_t dd_store_reports_pending(dd_store_t *s, report_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
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
    if (prepare(s,
                "SELECT id, thing, report_id, received_ms, format, payload FROM ev_reports"
                " ORDER BY id DESC LIMIT ?",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int(st, 1, limit);
    return report_rows(s, st, fn, ctx);
}

/* ------------------------------------------------------------------ load / save */

typedef struct save_ctx {
    sqlite3_stmt *st;
    bool failed;
} save_ctx_t;

static int save_training(void *ctx, const dd_training_summary_t *sm)
{
    save_ctx_t *c = ctx;

    (void)sqlite3_bind_text(c->st, 1, sm->profile, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(c->st, 2, sm->behavior, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(c->st, 3, (int64_t)sm->datapoints);
    (void)sqlite3_bind_int64(c->st, 4, sm->training_start_ms);
    c->failed = sqlite3_step(c->st) != SQLITE_DONE;
    (void)sqlite3_reset(c->st);
    return c->failed ? 1 : 0;
}

dd_store_status_t dd_store_save_engine(dd_store_t *s, const dd_engine_t *engine)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    save_ctx_t c = {NULL, false};

    if (s == NULL || engine == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (prepare(s,
                "INSERT INTO ev_meta(key, value) VALUES('engine_now_ms', ?1)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, dd_engine_now(engine));
    status = run(s, st, "save engine time");
    if (status != DD_STORE_OK ||
        prepare(s,
                "INSERT OR REPLACE INTO ev_ml_training(profile, behavior, datapoints, start_ms)"
                " VALUES(?1, ?2, ?3, ?4)",
                &c.st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)dd_engine_training_summaries(engine, NULL, save_training, &c);
    if (c.failed) {
        status = sql_fail(s, "save ML training");
    }
    sqlite3_finalize(c.st);
    return status;
}

dd_store_status_t dd_store_load(dd_store_t *s, dd_engine_t *engine)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_OK;
    int rc;

    if (s == NULL || engine == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    /* 1. custom metrics */
    if (prepare(s,
                "SELECT name, type, display_name, creation_ms, modified_ms"
                " FROM ev_custom_metrics ORDER BY name",
                &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    while (status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_custom_metric_def_t d;
        status = read_custom(st, &d);
        if (status == DD_STORE_OK && dd_engine_put_custom_metric(engine, &d) != DD_ENGINE_OK) {
            status = DD_STORE_CORRUPT;
        }
    }
    sqlite3_finalize(st);
    /* 2. dimensions */
    if (status == DD_STORE_OK &&
        prepare(s, "SELECT name FROM ev_dimensions ORDER BY name", &st) == DD_STORE_OK) {
        dd_dimension_def_t *d = malloc(sizeof(*d));
        while (d != NULL && status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            char name[DD_PROFILE_NAME_MAX + 1];
            (void)snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
            status = dd_store_dimension_get(s, name, d);
            if (status == DD_STORE_OK && dd_engine_put_dimension(engine, d) != DD_ENGINE_OK) {
                status = DD_STORE_CORRUPT;
            }
        }
        if (d == NULL) {
            status = DD_STORE_NO_MEMORY;
        }
        free(d);
        sqlite3_finalize(st);
    }
    /* 3. profiles, in creation order (the engine's evaluation order) */
    if (status == DD_STORE_OK &&
        prepare(s, "SELECT name FROM ev_profiles ORDER BY rowid", &st) == DD_STORE_OK) {
        while (status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            dd_profile_t p;
            char name[DD_PROFILE_NAME_MAX + 1];
            (void)snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
            status = dd_store_profile_get(s, name, &p);
            if (status == DD_STORE_OK &&
                dd_engine_put_profile(engine, &p, dd_engine_now(engine)) != DD_ENGINE_OK) {
                DD_LOG_WARN("evaluator store: profile %s no longer validates; not evaluated", name);
            }
            dd_profile_free(&p);
        }
        sqlite3_finalize(st);
    }
    /* 4. ML counters */
    if (status == DD_STORE_OK &&
        prepare(s, "SELECT profile, behavior, datapoints, start_ms FROM ev_ml_training", &st) ==
            DD_STORE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            (void)dd_engine_set_training(engine, (const char *)sqlite3_column_text(st, 0),
                                         (const char *)sqlite3_column_text(st, 1),
                                         (uint64_t)sqlite3_column_int64(st, 2),
                                         sqlite3_column_int64(st, 3));
        }
        sqlite3_finalize(st);
    }
    /* 5. thing states (engine sink off: loading must not write anything) */
    if (status == DD_STORE_OK &&
        prepare(s, "SELECT thing, state FROM ev_thing_state ORDER BY rowid", &st) == DD_STORE_OK) {
        while (status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            dd_engine_status_t es =
                dd_engine_import_thing(engine, (const char *)sqlite3_column_text(st, 0),
                                       sqlite3_column_blob(st, 1),
                                       (size_t)sqlite3_column_bytes(st, 1));
            if (es == DD_ENGINE_NO_MEMORY) {
                status = DD_STORE_NO_MEMORY;
            } else if (es != DD_ENGINE_OK) {
                DD_LOG_WARN("evaluator store: state of thing %s unreadable; starting it afresh",
                            (const char *)sqlite3_column_text(st, 0));
            }
        }
        sqlite3_finalize(st);
    }
    /* 6. engine time */
    if (status == DD_STORE_OK &&
        prepare(s, "SELECT value FROM ev_meta WHERE key = 'engine_now_ms'", &st) == DD_STORE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            (void)dd_engine_set_time(engine, sqlite3_column_int64(st, 0));
        }
        sqlite3_finalize(st);
    }
    return status;
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
