#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"

/* ------------------------------------------------------------------ profiles */

static dd_store_status_t write_profile_metrics(dd_store_t *s, const dd_profile_t *p)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status;
    size_t i;

    if (store_prepare(s, "DELETE FROM ev_profile_metrics WHERE profile = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    status = store_run(s, st, "clear profile metrics");
    if (status != DD_STORE_OK ||
        store_prepare(s,
                      "INSERT INTO ev_profile_metrics(profile, metric, dimension) VALUES(?1,?2,?3)",
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
        (void)dd_db_bind_text(st, 3, dim);
        if (sqlite3_step(st) != SQLITE_DONE) {
            status = store_sql_fail(s, "insert profile metric");
        }
        (void)sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return status;
}

static char *definition_text(const dd_profile_t *p)
{
    return store_json_text(dd_profile_to_json(p, NULL, 0));
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
        store_prepare(s,
                      "INSERT INTO ev_profiles(name, definition, version, creation_ms, modified_ms)"
                      " VALUES(?1, ?2, 1, ?3, ?3)",
                      &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, now_ms);
        status = store_run(s, st, "insert profile");
    } else if (status == DD_STORE_OK) {
        status = DD_STORE_SQL_ERROR;
    }
    if (status == DD_STORE_OK &&
        store_prepare(s,
                      "INSERT INTO ev_profile_versions(name, version, definition, modified_ms)"
                      " VALUES(?1, 1, ?2, ?3)",
                      &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, now_ms);
        status = store_run(s, st, "insert profile version");
    }
    if (status == DD_STORE_OK) {
        status = write_profile_metrics(s, p);
    }
    free(def);
    if (status == DD_STORE_OK) {
        return dd_store_commit(s);
    }
    store_abort_tx(s);
    return status;
}

static dd_store_status_t read_targets(dd_store_t *s, dd_profile_t *p)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 4;
    int rc;

    if (store_prepare(s, "SELECT target FROM ev_profile_targets WHERE profile = ?1 ORDER BY seq",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    p->targets = calloc(cap, sizeof(char *));
    while (p->targets != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = dd_db_column_text(st, 0);
        if (p->target_count == cap) {
            char **n = realloc(p->targets, cap * 2 * sizeof(char *));
            if (n == NULL) {
                break;
            }
            p->targets = n;
            cap *= 2;
        }
        p->targets[p->target_count] = strdup(t);
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
    if (store_prepare(s,
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

    if (store_prepare(s, "SELECT version FROM ev_profiles WHERE name = ?1", &st) != DD_STORE_OK) {
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
        store_prepare(s,
                      "UPDATE ev_profiles SET definition = ?2, version = ?3, modified_ms = ?4"
                      " WHERE name = ?1",
                      &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, version + 1);
        (void)sqlite3_bind_int64(st, 4, now_ms);
        status = store_run(s, st, "update profile");
    }
    if (status == DD_STORE_OK &&
        store_prepare(s,
                      "INSERT OR REPLACE INTO ev_profile_versions(name, version, definition,"
                      " modified_ms) VALUES(?1, ?2, ?3, ?4)",
                      &st) == DD_STORE_OK) {
        (void)sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 2, version + 1);
        (void)sqlite3_bind_text(st, 3, def, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 4, now_ms);
        status = store_run(s, st, "insert profile version");
    }
    if (status == DD_STORE_OK) {
        status = write_profile_metrics(s, p);
    }
    free(def);
    if (status != DD_STORE_OK) {
        store_abort_tx(s);
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
        status = store_prepare(s, DELETES[i], &st);
        if (status == DD_STORE_OK) {
            (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            status = store_run(s, st, "delete profile");
        }
    }
    if (status != DD_STORE_OK) {
        store_abort_tx(s);
        return status;
    }
    return dd_store_commit(s);
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
    if (store_prepare(s,
                      "SELECT name FROM ev_profiles p WHERE"
                      " (?1 IS NULL OR EXISTS(SELECT 1 FROM ev_profile_metrics m"
                      "   WHERE m.profile = p.name AND m.metric = ?1)) AND"
                      " (?2 IS NULL OR EXISTS(SELECT 1 FROM ev_profile_metrics m"
                      "   WHERE m.profile = p.name AND m.dimension = ?2))"
                      " ORDER BY name LIMIT ?3 OFFSET ?4",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)dd_db_bind_text(st, 1, metric);
    (void)dd_db_bind_text(st, 2, dimension);
    return store_list_names(s, st, 3, page, fn, ctx, next_token);
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
        store_abort_tx(s);
        return DD_STORE_NOT_FOUND;
    }
    if (store_prepare(
            s, "SELECT count(*), sum(profile = ?2) FROM ev_profile_targets WHERE target = ?1",
            &st) != DD_STORE_OK) {
        store_abort_tx(s);
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
        store_abort_tx(s);
        return DD_STORE_LIMIT;
    }
    if (store_prepare(s, "INSERT INTO ev_profile_targets(profile, target) VALUES(?1, ?2)", &st) !=
        DD_STORE_OK) {
        store_abort_tx(s);
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    status = store_run(s, st, "attach target");
    if (status != DD_STORE_OK) {
        store_abort_tx(s);
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
    if (store_prepare(s, "DELETE FROM ev_profile_targets WHERE profile = ?1 AND target = ?2",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    return store_run(s, st, "detach target");
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
    if (store_prepare(s,
                      "SELECT target FROM ev_profile_targets WHERE profile = ?1 ORDER BY seq"
                      " LIMIT ?2 OFFSET ?3",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, profile, -1, SQLITE_TRANSIENT);
    return store_list_names(s, st, 2, page, fn, ctx, next_token);
}

dd_store_status_t dd_store_profiles_for_target(dd_store_t *s, const char *target,
                                               int (*fn)(void *ctx, const char *profile), void *ctx)
{
    sqlite3_stmt *st = NULL;
    dd_store_page_t all = {NULL, 1000000};

    if (s == NULL || target == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT profile FROM ev_profile_targets WHERE target = ?1 ORDER BY profile"
                      " LIMIT ?2 OFFSET ?3",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
    return store_list_names(s, st, 2, &all, fn, ctx, NULL);
}

/* ------------------------------------------------------------------ custom metrics */

static dd_store_status_t in_use(dd_store_t *s, const char *column, const char *name)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    dd_store_status_t status = DD_STORE_OK;

    (void)snprintf(sql, sizeof(sql), "SELECT 1 FROM ev_profile_metrics WHERE %s = ?1 LIMIT 1",
                   column);
    if (store_prepare(s, sql, &st) != DD_STORE_OK) {
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
    if (store_prepare(s,
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
    return store_run(s, st, "create custom metric");
}

dd_store_status_t store_read_custom(sqlite3_stmt *st, dd_custom_metric_def_t *out)
{
    const char *name = dd_db_column_text(st, 0);
    const char *type = dd_db_column_text_or_null(st, 1);
    const char *disp = dd_db_column_text(st, 2);

    memset(out, 0, sizeof(*out));
    (void)snprintf(out->name, sizeof(out->name), "%s", name);
    (void)snprintf(out->display_name, sizeof(out->display_name), "%s", disp);
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
    if (store_prepare(s,
                      "SELECT name, type, display_name, creation_ms, modified_ms"
                      " FROM ev_custom_metrics WHERE name = ?1",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        status = store_read_custom(st, out);
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
    if (store_prepare(s,
                      "UPDATE ev_custom_metrics SET display_name = ?2, modified_ms = ?3"
                      " WHERE name = ?1",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, display_name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, now_ms);
    status = store_run(s, st, "update custom metric");
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
    if (store_prepare(s, "DELETE FROM ev_custom_metrics WHERE name = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return store_run(s, st, "delete custom metric");
}

dd_store_status_t dd_store_custom_metric_list(dd_store_t *s, const dd_store_page_t *page,
                                              int (*fn)(void *ctx, const char *name), void *ctx,
                                              char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s, "SELECT name FROM ev_custom_metrics ORDER BY name LIMIT ?1 OFFSET ?2",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return store_list_names(s, st, 1, page, fn, ctx, next_token);
}

/* ------------------------------------------------------------------ dimensions */

/* The values as a JSON array text, made by SQLite's json_array() (the store
 * builds no JSON itself); the caller frees it. */
static dd_store_status_t dimension_values_json(dd_store_t *s, const dd_dimension_def_t *d,
                                               char **out)
{
    char sql[32 + 2 * DD_DIMENSION_VALUES_MAX];
    size_t off = (size_t)snprintf(sql, sizeof(sql), "SELECT json_array(");
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_OK;
    size_t i;

    *out = NULL;
    for (i = 0; i < d->value_count; i++) {
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, i > 0 ? ",?" : "?");
    }
    (void)snprintf(sql + off, sizeof(sql) - off, ")");
    if (store_prepare(s, sql, &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    for (i = 0; i < d->value_count; i++) {
        (void)dd_db_bind_text(st, (int)i + 1, d->values[i]);
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        status = store_sql_fail(s, "dimension values");
    } else if ((*out = strdup(dd_db_column_text(st, 0))) == NULL) {
        status = DD_STORE_NO_MEMORY;
    }
    sqlite3_finalize(st);
    return status;
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
    status = dimension_values_json(s, d, &values);
    if (status != DD_STORE_OK) {
        return status;
    }
    if (store_prepare(s, sql, &st) != DD_STORE_OK) {
        free(values);
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, values, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, d->creation_ms);
    (void)sqlite3_bind_int64(st, 4, now_ms);
    status = store_run(s, st, "write dimension");
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

/* Reads the stored array of values with SQLite's json_each(); anything but an
 * array of at most DD_DIMENSION_VALUES_MAX strings is DD_STORE_CORRUPT. */
static dd_store_status_t read_dimension_values(dd_store_t *s, const char *name,
                                               dd_dimension_def_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_OK;
    int rc;

    if (store_prepare(s,
                      "SELECT j.type, j.value FROM ev_dimensions d, json_each(d.string_values) j"
                      " WHERE d.name = ?1 ORDER BY j.key",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (strcmp(dd_db_column_text(st, 0), "text") != 0 ||
            out->value_count >= DD_DIMENSION_VALUES_MAX) {
            status = DD_STORE_CORRUPT;
            break;
        }
        (void)snprintf(out->values[out->value_count++], DD_DIMENSION_VALUE_MAX + 1, "%s",
                       dd_db_column_text(st, 1));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = store_sql_fail(s, "read dimension values");
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_dimension_get(dd_store_t *s, const char *name, dd_dimension_def_t *out)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_NOT_FOUND;

    if (s == NULL || name == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s,
                      "SELECT creation_ms, modified_ms, CASE WHEN json_valid(string_values)"
                      " THEN json_type(string_values) = 'array' ELSE 0 END"
                      " FROM ev_dimensions WHERE name = ?1",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        (void)snprintf(out->name, sizeof(out->name), "%s", name);
        out->creation_ms = sqlite3_column_int64(st, 0);
        out->modified_ms = sqlite3_column_int64(st, 1);
        status = sqlite3_column_int(st, 2) != 0 ? DD_STORE_OK : DD_STORE_CORRUPT;
    }
    sqlite3_finalize(st);
    if (status == DD_STORE_OK) {
        status = read_dimension_values(s, name, out);
    }
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
    if (store_prepare(s, "DELETE FROM ev_dimensions WHERE name = ?1", &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return store_run(s, st, "delete dimension");
}

dd_store_status_t dd_store_dimension_list(dd_store_t *s, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX])
{
    sqlite3_stmt *st = NULL;

    if (s == NULL || fn == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (store_prepare(s, "SELECT name FROM ev_dimensions ORDER BY name LIMIT ?1 OFFSET ?2", &st) !=
        DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return store_list_names(s, st, 1, page, fn, ctx, next_token);
}
