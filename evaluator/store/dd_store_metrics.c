#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_shapes.h"

/* The one place the store prints JSON: the engine's own serializers
 * (dd_profile_behavior_to_json(), dd_profile_to_json(), dd_shapes_metric_value()) give
 * the stored form of a behavior, a profile definition or an unusual value.
 * It goes once the engine offers them as text. */
char *store_json_text(cJSON *j)
{
    char *t = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return t;
}

/* MetricValue text; counts, ports and addresses without cJSON (the hot path).
 * Returns @p buf, or a malloc()ed text for what does not fit. */
char *store_value_text(const dd_datapoint_t *dp, char *buf, size_t len)
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
    return store_json_text(dd_shapes_metric_value(dp));
}

dd_store_status_t store_flush_values(dd_store_t *s)
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
        status = store_sql_fail(s, "insert metric values");
        store_sink_fail(s, status);
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
void store_sink_value(void *ctx, const dd_metric_datum_t *d)
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
        (void)store_flush_values(s);
    }
    value = store_value_text(&d->value, vbuf, sizeof(vbuf));
    if (value == NULL) {
        store_sink_fail(s, DD_STORE_NO_MEMORY);
        return;
    }
    need = s->pend_len + strlen(d->metric) + (d->dimension != NULL ? strlen(d->dimension) : 0) +
           strlen(value) + 16;
    if (need > s->pend_cap) {
        size_t cap = need * 2;
        char *n = realloc(s->pend, cap);
        if (n == NULL) {
            store_sink_fail(s, DD_STORE_NO_MEMORY);
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

void store_sink_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    dd_store_t *s = ctx;
    sqlite3_stmt *st = s->st[ST_PUT_STATE];

    (void)sqlite3_bind_text(st, 1, thing, -1, SQLITE_STATIC);
    (void)sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    store_step_reset(s, st, "store thing state");
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
    if (store_page_bounds(page, &offset, &max) != DD_STORE_OK) {
        return DD_STORE_BAD_TOKEN;
    }
    (void)store_flush_values(s);
    if (store_prepare(s,
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
        return store_sql_fail(s, "list metric values");
    }
    if (more && next_token != NULL) {
        (void)snprintf(next_token, DD_STORE_TOKEN_MAX, "%lld", (long long)(offset + n));
    }
    return DD_STORE_OK;
}
