#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"

void store_sink_event(void *ctx, const dd_violation_event_t *ev)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_INS_EVENT];
    char vbuf[512];
    char *value = ev->has_value ? store_value_text(&ev->value, vbuf, sizeof(vbuf)) : NULL;
    char *beh = store_json_text(dd_profile_behavior_to_json(ev->behavior));

    if (beh == NULL || (ev->has_value && value == NULL)) {
        store_sink_fail(s, DD_STORE_NO_MEMORY);
    } else {
        (void)sqlite3_bind_text(st, 1, ev->violation_id, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, ev->thing, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, ev->profile, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 4, ev->behavior->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 5, beh, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 6, (int)dd_criteria_type_of(ev->behavior));
        (void)sqlite3_bind_int(st, 7, ev->suppressed ? 1 : 0);
        (void)sqlite3_bind_text(st, 8, dd_alarm_event_name(ev->type), -1, SQLITE_STATIC);
        (void)dd_db_bind_text(st, 9, value);
        (void)sqlite3_bind_int64(st, 10, ev->time_ms);
        (void)sqlite3_bind_int(st, 11, (int)ev->verification);
        (void)dd_db_bind_text(st, 12, ev->verification_description);
        store_step_reset(s, st, "insert violation event");
    }
    if (value != vbuf) {
        free(value);
    }
    free(beh);
}

void store_sink_active(void *ctx, const dd_active_violation_t *av)
{
    dd_store_t *s = ctx;
    char vbuf[512];
    char *value = av->has_value ? store_value_text(&av->last_value, vbuf, sizeof(vbuf)) : NULL;

    if (av->has_value && value == NULL) {
        store_sink_fail(s, DD_STORE_NO_MEMORY);
        return;
    }
    if (av->start_ms != av->last_violation_ms) {
        /* Still violating: only the last value and time move. */
        sqlite3_stmt *st = s->st[ST_UPD_ACTIVE];
        (void)sqlite3_bind_text(st, 1, av->violation_id, -1, SQLITE_STATIC);
        (void)dd_db_bind_text(st, 2, value);
        (void)sqlite3_bind_int64(st, 3, av->last_violation_ms);
        store_step_reset(s, st, "update active violation");
        if (sqlite3_changes(s->db) > 0) {
            if (value != vbuf) {
                free(value);
            }
            return;
        }
    }
    {
        sqlite3_stmt *st = s->st[ST_INS_ACTIVE];
        char *beh = store_json_text(dd_profile_behavior_to_json(av->behavior));
        if (beh == NULL) {
            store_sink_fail(s, DD_STORE_NO_MEMORY);
        } else {
            (void)sqlite3_bind_text(st, 1, av->violation_id, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 2, av->thing, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 3, av->profile, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 4, av->behavior->name, -1, SQLITE_STATIC);
            (void)sqlite3_bind_text(st, 5, beh, -1, SQLITE_STATIC);
            (void)sqlite3_bind_int(st, 6, (int)dd_criteria_type_of(av->behavior));
            (void)sqlite3_bind_int(st, 7, av->suppressed ? 1 : 0);
            (void)dd_db_bind_text(st, 8, value);
            (void)sqlite3_bind_int64(st, 9, av->last_violation_ms);
            (void)sqlite3_bind_int64(st, 10, av->start_ms);
            (void)sqlite3_bind_int(st, 11, (int)av->verification);
            (void)dd_db_bind_text(st, 12, av->verification_description);
            store_step_reset(s, st, "insert active violation");
        }
        free(beh);
    }
    if (value != vbuf) {
        free(value);
    }
}

void store_sink_removed(void *ctx, const char *violation_id)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_DEL_ACTIVE];

    (void)sqlite3_bind_text(st, 1, violation_id, -1, SQLITE_STATIC);
    store_step_reset(s, st, "delete active violation");
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

static dd_store_status_t list_violations(dd_store_t *s, const char *sql, bool events,
                                         const dd_store_violation_filter_t *f,
                                         const dd_store_page_t *page, dd_store_violation_fn fn,
                                         void *ctx, char next_token[DD_STORE_TOKEN_MAX])
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
    if (store_page_bounds(page, &offset, &max) != DD_STORE_OK) {
        return DD_STORE_BAD_TOKEN;
    }
    if (store_prepare(s, sql, &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, f->start_ms);
    (void)sqlite3_bind_int64(st, 2, f->end_ms > 0 ? f->end_ms : INT64_MAX);
    (void)dd_db_bind_text(st, 3, f->thing);
    (void)dd_db_bind_text(st, 4, f->profile);
    (void)sqlite3_bind_int(st, 5, f->criteria_type);
    (void)sqlite3_bind_int(st, 6, f->suppressed);
    (void)sqlite3_bind_int(st, 7, f->verification);
    (void)sqlite3_bind_int(st, 8, max + 1);
    (void)sqlite3_bind_int64(st, 9, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_store_violation_t v;

        if (n == max) {
            more = true;
            break;
        }
        n++;
        v.event = events;
        v.violation_id = dd_db_column_text(st, 0);
        v.thing = dd_db_column_text(st, 1);
        v.profile = dd_db_column_text(st, 2);
        v.behavior_json = dd_db_column_text_or_null(st, 3);
        v.value_json = dd_db_column_text_or_null(st, 4);
        v.event_type = events ? dd_db_column_text(st, 5) : NULL;
        v.verification = (dd_verification_t)sqlite3_column_int(st, 6);
        v.verification_description = dd_db_column_text_or_null(st, 7);
        v.time_ms = sqlite3_column_int64(st, 8);
        v.start_ms = events ? 0 : sqlite3_column_int64(st, 9);
        if (fn(ctx, &v) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sql_fail(s, "list violations");
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
                                            const dd_store_page_t *page, dd_store_violation_fn fn,
                                            void *ctx, char next_token[DD_STORE_TOKEN_MAX])
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
    status = store_prepare(s, "SELECT count(*) FROM ev_active_violations", &st);
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
                                             const dd_store_page_t *page, dd_store_violation_fn fn,
                                             void *ctx, char next_token[DD_STORE_TOKEN_MAX])
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
        status = store_prepare(s, UPDATES[i], &st);
        if (status == DD_STORE_OK) {
            (void)sqlite3_bind_text(st, 1, violation_id, -1, SQLITE_STATIC);
            (void)sqlite3_bind_int(st, 2, (int)state);
            (void)dd_db_bind_text(st, 3, description);
            status = store_run(s, st, "set verification state");
            changes += sqlite3_changes(s->db);
        }
    }
    if (status != DD_STORE_OK) {
        store_abort_tx(s);
        return status;
    }
    status = dd_store_commit(s);
    return status == DD_STORE_OK && changes == 0 ? DD_STORE_NOT_FOUND : status;
}
