#include "dd_pipeline.h"

#include "dd_auditor.h"

#include "dd_db.h"
#include "dd_log.h"
#include "dd_report.h"
#include "dd_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dd_pipeline_config_default(dd_pipeline_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    dd_arn_ctx_default(&cfg->arn);
}

/* ---- the engine's view of the registry ------------------------------------------------ */

typedef struct group_fwd {
    dd_engine_group_fn add;
    void *add_ctx;
} group_fwd_t;

static int forward_group(void *ctx, const char *name)
{
    group_fwd_t *g = ctx;

    return g->add(g->add_ctx, name);
}

static int registry_lookup(void *ctx, const char *thing, bool *registered,
                           dd_engine_group_fn add_group, void *add_ctx)
{
    dd_pipeline_t *p = ctx;
    group_fwd_t g = {add_group, add_ctx};

    *registered = dd_registry_thing_exists(&p->registry, thing);
    if (!*registered) {
        return 0;
    }
    return dd_registry_thing_groups_closure(&p->registry, thing, forward_group, &g) ==
                   DD_REGISTRY_OK
               ? 0
               : -1;
}

/* ---- the engine's outputs: the store first, then the observer ---------------------------- */

static void sink_violation_event(void *ctx, const dd_violation_event_t *ev)
{
    dd_pipeline_t *p = ctx;

    if (p->store_sink.violation_event != NULL) {
        p->store_sink.violation_event(p->store_sink.ctx, ev);
    }
    if (p->events.violation_event != NULL) {
        p->events.violation_event(p->events.ctx, ev);
    }
}

static void sink_active_violation(void *ctx, const dd_active_violation_t *av)
{
    dd_pipeline_t *p = ctx;

    if (p->store_sink.active_violation != NULL) {
        p->store_sink.active_violation(p->store_sink.ctx, av);
    }
    if (p->events.active_violation != NULL) {
        p->events.active_violation(p->events.ctx, av);
    }
}

static void sink_active_violation_removed(void *ctx, const char *violation_id)
{
    dd_pipeline_t *p = ctx;

    if (p->store_sink.active_violation_removed != NULL) {
        p->store_sink.active_violation_removed(p->store_sink.ctx, violation_id);
    }
    if (p->events.active_violation_removed != NULL) {
        p->events.active_violation_removed(p->events.ctx, violation_id);
    }
}

static void sink_metric_value(void *ctx, const dd_metric_datum_t *datum)
{
    dd_pipeline_t *p = ctx;

    if (p->store_sink.metric_value != NULL) {
        p->store_sink.metric_value(p->store_sink.ctx, datum);
    }
    if (p->events.metric_value != NULL) {
        p->events.metric_value(p->events.ctx, datum);
    }
}

static void sink_thing_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    dd_pipeline_t *p = ctx;

    if (p->store_sink.thing_state != NULL) {
        p->store_sink.thing_state(p->store_sink.ctx, thing, blob, len);
    }
    if (p->events.thing_state != NULL) {
        p->events.thing_state(p->events.ctx, thing, blob, len);
    }
}

/* ---- start-up --------------------------------------------------------------------------- */

static dd_pipeline_status_t init_clock(dd_pipeline_t *p, const char *spec)
{
    char *last = NULL;
    int64_t last_ms = 0;

    if (dd_clock_parse(&p->clock, spec[0] != '\0' ? spec : "real") != DD_CLOCK_OK) {
        DD_LOG_ERROR("clock spec '%s' not understood", spec);
        return DD_PIPELINE_BAD_CLOCK;
    }
    if (dd_registry_setting_get(&p->registry, DD_PIPELINE_SETTING_CLOCK_LAST, &last) ==
            DD_REGISTRY_OK &&
        last != NULL) {
        last_ms = strtoll(last, NULL, 10);
    }
    free(last);
    /* A manual clock restarted (crash, restart) resumes from the last stored time. */
    if (p->clock.mode == DD_CLOCK_MANUAL && last_ms > dd_clock_now_ms(&p->clock)) {
        (void)dd_clock_set(&p->clock, last_ms);
    }
    return DD_PIPELINE_OK;
}

/* A new engine holding what the store has committed. */
static dd_pipeline_status_t load_engine(dd_pipeline_t *p, dd_engine_t **out)
{
    dd_engine_config_t ecfg;
    dd_engine_registry_t reg;
    dd_engine_sink_t sink;

    dd_engine_config_default(&ecfg);
    ecfg.arn = p->arn;
    ecfg.id_seed = p->id_seed;
    reg.ctx = p;
    reg.lookup = registry_lookup;
    memset(&sink, 0, sizeof(sink));
    sink.ctx = p;
    sink.violation_event = sink_violation_event;
    sink.active_violation = sink_active_violation;
    sink.active_violation_removed = sink_active_violation_removed;
    sink.metric_value = sink_metric_value;
    sink.thing_state = sink_thing_state;
    if (dd_engine_create(&ecfg, &reg, &sink, out) != DD_ENGINE_OK) {
        return DD_PIPELINE_NO_MEMORY;
    }
    if (dd_store_load(p->store, *out) != DD_STORE_OK) {
        dd_engine_destroy(*out);
        *out = NULL;
        return DD_PIPELINE_LOAD_ERROR;
    }
    return DD_PIPELINE_OK;
}

typedef struct pending_ctx {
    dd_pipeline_t *p;
    int count;
} pending_ctx_t;

static int evaluate_pending(void *ctx, int64_t row, const char *thing, uint64_t report_id,
                            int64_t received_ms, int format, const uint8_t *payload, size_t len)
{
    pending_ctx_t *pc = ctx;
    dd_pipeline_t *p = pc->p;
    dd_report_t report;
    int64_t now = received_ms > dd_engine_now(p->engine) ? received_ms : dd_engine_now(p->engine);

    (void)report_id;
    memset(&report, 0, sizeof(report));
    if (dd_report_decode((dd_report_format_t)format, payload, len, &report, NULL) == DD_REPORT_OK &&
        dd_engine_on_report(p->engine, thing, now, &report) == DD_ENGINE_OK) {
        (void)dd_store_report_mark_evaluated(p->store, row);
        pc->count++;
    }
    dd_report_free(&report);
    return 0;
}

/* The pipeline time, never behind the engine's (audit task and finding times). */
static int64_t pipeline_now_ms(void *ctx)
{
    const dd_pipeline_t *p = ctx;
    int64_t now = dd_clock_now_ms(&p->clock);

    if (p->engine != NULL && dd_engine_now(p->engine) > now) {
        now = dd_engine_now(p->engine);
    }
    return now;
}

static dd_pipeline_status_t open_auditor(dd_pipeline_t *p)
{
    dd_auditor_config_t acfg;

    memset(&acfg, 0, sizeof(acfg));
    acfg.db = p->db;
    acfg.store = p->store;
    acfg.registry = &p->registry;
    acfg.arn = p->arn;
    acfg.now_ms = pipeline_now_ms;
    acfg.clock_ctx = p;
    return dd_auditor_open(&acfg, &p->auditor) == DD_AUDITOR_OK ? DD_PIPELINE_OK
                                                                : DD_PIPELINE_NO_MEMORY;
}

/* Region and account of an earlier `ddlocal init --region/--account`, unless given. */
static void settings_arn(dd_pipeline_t *p)
{
    char *region = NULL;
    char *account = NULL;
    dd_arn_ctx_t arn;

    (void)dd_registry_setting_get(&p->registry, "region", &region);
    (void)dd_registry_setting_get(&p->registry, "account", &account);
    if (region != NULL && account != NULL && dd_arn_ctx_set(&arn, region, account) == DD_NAMES_OK) {
        p->arn = arn;
        p->registry.arn = arn;
    }
    free(region);
    free(account);
}

static dd_pipeline_status_t open_parts(const dd_pipeline_config_t *cfg, dd_pipeline_t *p)
{
    dd_pipeline_status_t status;
    char path[700];
    pending_ctx_t pc = {p, 0};

    (void)snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, DD_DB_FILE_NAME);
    if (dd_db_open(path, false, &p->db) != DD_DB_OK ||
        dd_registry_open(&p->registry, p->db, &cfg->arn, &p->clock) != DD_REGISTRY_OK) {
        DD_LOG_ERROR("cannot open the database %s", path);
        return DD_PIPELINE_DB_ERROR;
    }
    if (!cfg->arn_explicit) {
        settings_arn(p);
    }
    status = init_clock(p, cfg->clock_spec);
    if (status != DD_PIPELINE_OK) {
        return status;
    }
    if (dd_store_open(p->db, &p->arn, &p->store) != DD_STORE_OK) {
        DD_LOG_ERROR("cannot open the evaluator store");
        return DD_PIPELINE_DB_ERROR;
    }
    dd_store_sink(p->store, &p->store_sink);
    status = open_auditor(p);
    if (status != DD_PIPELINE_OK) {
        return status;
    }
    status = load_engine(p, &p->engine);
    if (status != DD_PIPELINE_OK) {
        DD_LOG_ERROR("cannot load the evaluator state from %s", path);
        return status;
    }
    /* Stored reports never evaluated (none unless an earlier run failed mid-way). */
    if (dd_store_begin(p->store) == DD_STORE_OK) {
        (void)dd_store_reports_pending(p->store, evaluate_pending, &pc);
        (void)dd_store_commit(p->store);
    }
    if (pc.count > 0) {
        DD_LOG_INFO("evaluated %d stored report(s) left unevaluated by an earlier run", pc.count);
    }
    return DD_PIPELINE_OK;
}

dd_pipeline_status_t dd_pipeline_open(const dd_pipeline_config_t *cfg, dd_pipeline_t *out)
{
    dd_pipeline_status_t status;

    if (cfg == NULL || out == NULL || cfg->data_dir[0] == '\0') {
        return DD_PIPELINE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (pthread_mutex_init(&out->lock, NULL) != 0) {
        return DD_PIPELINE_NO_MEMORY;
    }
    out->lock_ready = true;
    out->arn = cfg->arn;
    out->id_seed = cfg->id_seed;
    out->events = cfg->events;
    (void)snprintf(out->data_dir, sizeof(out->data_dir), "%s", cfg->data_dir);
    (void)snprintf(out->mqtt_endpoint, sizeof(out->mqtt_endpoint), "%s", cfg->mqtt_endpoint);
    status = open_parts(cfg, out);
    if (status != DD_PIPELINE_OK) {
        dd_pipeline_close(out);
    }
    return status;
}

dd_pipeline_status_t dd_pipeline_reload_engine(dd_pipeline_t *p)
{
    dd_engine_t *fresh = NULL;
    dd_pipeline_status_t status;

    if (p == NULL || p->store == NULL) {
        return DD_PIPELINE_BAD_PARAMETER;
    }
    status = load_engine(p, &fresh);
    if (status != DD_PIPELINE_OK) {
        return status;
    }
    dd_engine_destroy(p->engine);
    p->engine = fresh;
    return DD_PIPELINE_OK;
}

void dd_pipeline_detect(dd_pipeline_t *p, dd_detect_t *d)
{
    if (p == NULL || d == NULL) {
        return;
    }
    memset(d, 0, sizeof(*d));
    d->store = p->store;
    d->engine = p->engine;
    d->clock = &p->clock;
    d->registry = &p->registry;
    d->arn = p->arn;
}

void dd_pipeline_close(dd_pipeline_t *p)
{
    if (p == NULL) {
        return;
    }
    dd_engine_destroy(p->engine);
    dd_auditor_close(p->auditor);
    dd_store_close(p->store);
    dd_db_close(p->db);
    if (p->lock_ready) {
        pthread_mutex_destroy(&p->lock);
    }
    memset(p, 0, sizeof(*p));
}

const char *dd_pipeline_strerror(dd_pipeline_status_t status)
{
    switch (status) {
    case DD_PIPELINE_OK: return "ok";
    case DD_PIPELINE_BAD_PARAMETER: return "bad parameter";
    case DD_PIPELINE_NO_MEMORY: return "out of memory";
    case DD_PIPELINE_DB_ERROR: return "database, registry or store could not be opened";
    case DD_PIPELINE_BAD_CLOCK: return "clock spec not understood";
    case DD_PIPELINE_LOAD_ERROR: return "evaluator state could not be loaded from the store";
    }
    return "unknown pipeline status";
}
