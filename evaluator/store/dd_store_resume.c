#include "dd_store.h"
#include "dd_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"

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
    if (store_prepare(s,
                      "INSERT INTO ev_meta(key, value) VALUES('engine_now_ms', ?1)"
                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, dd_engine_now(engine));
    status = store_run(s, st, "save engine time");
    if (status != DD_STORE_OK ||
        store_prepare(
            s,
            "INSERT OR REPLACE INTO ev_ml_training(profile, behavior, datapoints, start_ms)"
            " VALUES(?1, ?2, ?3, ?4)",
            &c.st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)dd_engine_training_summaries(engine, NULL, save_training, &c);
    if (c.failed) {
        status = store_sql_fail(s, "save ML training");
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
    if (store_prepare(s,
                      "SELECT name, type, display_name, creation_ms, modified_ms"
                      " FROM ev_custom_metrics ORDER BY name",
                      &st) != DD_STORE_OK) {
        return DD_STORE_SQL_ERROR;
    }
    while (status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_custom_metric_def_t d;
        status = store_read_custom(st, &d);
        if (status == DD_STORE_OK && dd_engine_put_custom_metric(engine, &d) != DD_ENGINE_OK) {
            status = DD_STORE_CORRUPT;
        }
    }
    sqlite3_finalize(st);
    /* 2. dimensions */
    if (status == DD_STORE_OK &&
        store_prepare(s, "SELECT name FROM ev_dimensions ORDER BY name", &st) == DD_STORE_OK) {
        dd_dimension_def_t *d = malloc(sizeof(*d));
        while (d != NULL && status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            char name[DD_PROFILE_NAME_MAX + 1];
            (void)snprintf(name, sizeof(name), "%s", dd_db_column_text(st, 0));
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
        store_prepare(s, "SELECT name FROM ev_profiles ORDER BY rowid", &st) == DD_STORE_OK) {
        while (status == DD_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            dd_profile_t p;
            char name[DD_PROFILE_NAME_MAX + 1];
            (void)snprintf(name, sizeof(name), "%s", dd_db_column_text(st, 0));
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
        store_prepare(s, "SELECT profile, behavior, datapoints, start_ms FROM ev_ml_training",
                      &st) == DD_STORE_OK) {
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
        store_prepare(s, "SELECT thing, state FROM ev_thing_state ORDER BY rowid", &st) ==
            DD_STORE_OK) {
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
        store_prepare(s, "SELECT value FROM ev_meta WHERE key = 'engine_now_ms'", &st) ==
            DD_STORE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            (void)dd_engine_set_time(engine, sqlite3_column_int64(st, 0));
        }
        sqlite3_finalize(st);
    }
    return status;
}
