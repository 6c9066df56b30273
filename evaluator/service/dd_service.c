#include "dd_service.h"
#include "dd_clock.h"

#include "dd_alerts.h"
#include "dd_api.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_fs.h"
#include "dd_json.h"
#include "dd_lambda.h"
#include "dd_lambdarun.h"
#include "dd_log.h"
#include "dd_outbox.h"
#include "dd_pki.h"
#include "dd_regsync.h"
#include "dd_report.h"
#include "dd_store.h"
#include "dd_svcmqtt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Settings key holding the last pipeline time, so a restart never goes back. */
#define SETTING_CLOCK_LAST "clock_last_ms"

static const dd_db_migration_t SERVICE_MIGRATIONS[] = {
    {1, "CREATE TABLE sns_dead_letters("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  topic TEXT NOT NULL,"
        "  endpoint TEXT NOT NULL,"
        "  body TEXT NOT NULL,"
        "  attempts INTEGER NOT NULL,"
        "  last_error TEXT NOT NULL,"
        "  time_ms INTEGER NOT NULL);"},
};

/*
 * WAL checkpoints run on a thread of their own, on a connection of their own
 * (see start_checkpointer()), when a commit leaves the WAL at the
 * connection's wal_autocheckpoint size or more. A WAL grown to
 * CHECKPOINT_TRUNCATE_FACTOR times that anyway (a reader in another process
 * kept it from restarting) is truncated by the commit that got it there
 * (truncate_wal()), waiting at most CHECKPOINT_TRUNCATE_WAIT_MS for readers;
 * so the WAL file stays under CHECKPOINT_TRUNCATE_FACTOR x the threshold
 * plus one batch, unless a reader holds one snapshot for longer than that.
 */
#define CHECKPOINT_DEFAULT_FRAMES DD_STORE_WAL_CHECKPOINT_PAGES
/* A WAL this many times the threshold is made to restart (see checkpointer()). */
#define CHECKPOINT_RESTART_FACTOR 2
#define CHECKPOINT_TRUNCATE_FACTOR 4
#define CHECKPOINT_TRUNCATE_WAIT_MS 2000
/* dd_db_open()'s busy timeout, restored after a truncation. */
#define WRITER_BUSY_TIMEOUT_MS 10000

/* A batch the store could not take is tried again after these waits (doubled each time). */
#define HOLD_FIRST_RETRY_MS 250
#define HOLD_MAX_RETRY_MS 2000
#define HOLD_LOG_EVERY_MS 30000

/* Recent events for the status panel of `ddlocal up`. */
#define FEED_SIZE 32
#define FEED_TEXT 300
/* How long after the first broker connection a report identical to one stored
 * before the start is taken for a redelivery (dd_ingest.h). */
#define REDELIVERY_GRACE_MS 30000

typedef struct feed_item {
    uint64_t seq;
    char text[FEED_TEXT];
} feed_item_t;

struct dd_service {
    dd_service_config_t cfg;
    dd_pipeline_t p;
    dd_engine_sink_t store_sink; /* the store's own sink; ours forwards to it */
    dd_outbox_t outbox;
    dd_ingest_t ingest;
    dd_regsync_t regsync;
    dd_svcmqtt_t *mqtt;
    dd_api_t *api;
    dd_alerts_webhooks_t *webhooks;
    dd_alerts_webhooks_t *lambdas; /* a deliverer of its own: an invocation may take seconds */
    bool broker_synced;            /* full registry sent on this connection */
    bool regsync_pending;          /* a push failed: retry */
    bool tick_failing;             /* the last tick was not stored: log changes only */
    int64_t last_tick_mono_ms;
    int64_t redelivery_until_mono_ms; /* 0 until the first connection to the broker */
    uint64_t alerts_published;
    uint64_t violation_events;
    uint64_t webhooks_given_up;
    dd_svcmqtt_msg_t *held; /* a batch the store could not take, tried again */
    size_t held_count;
    int64_t held_since_mono_ms; /* 0 while the store writes */
    int64_t held_retry_mono_ms;
    int64_t held_delay_ms;
    int64_t held_logged_mono_ms;
    uint64_t store_stalls; /* times the store stopped writing */
    char store_error[160];
    feed_item_t feed[FEED_SIZE];
    uint64_t feed_seq;
    sqlite3 *ckpt_db; /* the checkpointer's own connection */
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    int ckpt_frames;     /* WAL size (pages) that calls for a checkpoint */
    int ckpt_last;       /* WAL size after the last checkpoint */
    int ckpt_next;       /* WAL size that calls for the next one */
    int wal_truncate_at; /* WAL size at which a commit truncates it (lock held) */
    bool ckpt_due;
    bool ckpt_running;
    bool ckpt_stop;
};

static void iso_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    (void)gmtime_r(&secs, &tm);
    (void)strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Appends a line to the status feed (lock held). */
static void feed(dd_service_t *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed(dd_service_t *svc, const char *fmt, ...)
{
    /* Item seq k lives at k % FEED_SIZE, where the status endpoint reads it. */
    uint64_t seq = svc->feed_seq + 1;
    feed_item_t *item = &svc->feed[seq % FEED_SIZE];
    char when[DD_LOG_STAMP_MAX];
    size_t n;
    va_list ap;

    /* The same real [pipeline] stamp as the log lines, so the feed and the logs make one timeline. */
    if (dd_log_format_stamp(dd_clock_wall_ms(), &svc->p.clock, when, sizeof(when)) != DD_LOG_OK) {
        when[0] = '\0';
    }
    n = (size_t)snprintf(item->text, sizeof(item->text), "%s  ", when);
    va_start(ap, fmt);
    (void)vsnprintf(item->text + n, sizeof(item->text) - n, fmt, ap);
    va_end(ap);
    /* The log holds the feed too: with `up --no-status` it is where the events are read. */
    DD_LOG_INFO("event: %s", n < sizeof(item->text) ? item->text + n : "");
    item->seq = seq;
    svc->feed_seq = seq;
}

static void pause_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    (void)nanosleep(&ts, NULL);
}

void dd_service_config_default(dd_service_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    (void)snprintf(cfg->broker_host, sizeof(cfg->broker_host), "127.0.0.1");
    (void)snprintf(cfg->api_bind, sizeof(cfg->api_bind), "127.0.0.1");
    cfg->broker_port = 8883;
    cfg->api_enabled = true;
    (void)snprintf(cfg->clock_spec, sizeof(cfg->clock_spec), "real");
    dd_arn_ctx_default(&cfg->arn);
    dd_ingest_config_default(&cfg->ingest);
    cfg->tick_ms = 1000;
}

/* ---- the engine's view of the registry ---------------------------------------------- */

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
    dd_service_t *svc = ctx;
    group_fwd_t g = {add_group, add_ctx};

    *registered = dd_registry_thing_exists(&svc->p.registry, thing);
    if (!*registered) {
        return 0;
    }
    return dd_registry_thing_groups_closure(&svc->p.registry, thing, forward_group, &g) ==
                   DD_REGISTRY_OK
               ? 0
               : -1;
}

/* ---- the engine's outputs: store them, and alert ---------------------------------------- */

typedef struct webhook_ctx {
    dd_service_t *svc;
    const char *topic;
    const char *notification;
    const char *event;
} webhook_ctx_t;

static int queue_webhook(void *ctx, const dd_registry_subscription_t *sub)
{
    webhook_ctx_t *w = ctx;
    dd_outbox_status_t st;

    /* A Lambda subscription gets the Lambda event, an HTTP one the bare notification (as in SNS). */
    if (strcmp(sub->protocol, "lambda") == 0) {
        char *event = NULL;
        st = DD_OUTBOX_NO_MEMORY;
        if (dd_alerts_lambda_event_for(w->event, sub->id, &event) == DD_ALERTS_OK) {
            st = dd_outbox_lambda(&w->svc->outbox, w->topic, sub->endpoint, event);
        }
        free(event);
    } else {
        st = dd_outbox_webhook(&w->svc->outbox, w->topic, sub->endpoint, w->notification);
    }
    if (st != DD_OUTBOX_OK) {
        DD_LOG_ERROR("out of memory queueing a delivery to %s", sub->endpoint);
    }
    return 0;
}

static void alert(dd_service_t *svc, const dd_violation_event_t *ev)
{
    const dd_profile_t *profile = dd_engine_get_profile(svc->p.engine, ev->profile);
    char *message = NULL;
    char *event = NULL;
    char *notification = NULL;
    char topic[DD_NAME_MAX + 32];
    const char *name = NULL;
    int64_t now = dd_clock_now_ms(&svc->p.clock);

    (void)dd_alerts_sns_topic(ev, profile, &name);
    if (name == NULL) {
        return;
    }
    if (dd_alerts_message(ev, &message) != DD_ALERTS_OK ||
        dd_alerts_lambda_event(profile->sns_target_arn, message, now, &event) != DD_ALERTS_OK ||
        dd_alerts_sns_notification(profile->sns_target_arn, message, now, &notification) !=
            DD_ALERTS_OK) {
        DD_LOG_ERROR("out of memory building an alert");
    } else {
        webhook_ctx_t w = {svc, name, notification, event};
        (void)snprintf(topic, sizeof(topic), "%s%s", DD_ALERTS_TOPIC_PREFIX, name);
        if (dd_outbox_publish(&svc->outbox, topic, event, strlen(event), 1) == DD_OUTBOX_OK) {
            svc->alerts_published++;
        }
        (void)dd_registry_subscription_list(&svc->p.registry, name, queue_webhook, &w);
        DD_LOG_INFO("alert: %s %s %s/%s -> %s", dd_alarm_event_name(ev->type), ev->thing,
                    ev->profile, ev->behavior->name, topic);
    }
    free(message);
    free(event);
    free(notification);
}

static void sink_violation_event(void *ctx, const dd_violation_event_t *ev)
{
    dd_service_t *svc = ctx;

    if (svc->store_sink.violation_event != NULL) {
        svc->store_sink.violation_event(svc->store_sink.ctx, ev);
    }
    svc->violation_events++;
    if (ev->has_value && ev->type != DD_ALARM_INVALIDATED) {
        cJSON *value = dd_datapoint_to_json(&ev->value);
        char *text = value != NULL ? cJSON_PrintUnformatted(value) : NULL;
        feed(svc, "%s %s: %s/%s value %s%s", dd_alarm_event_name(ev->type), ev->thing, ev->profile,
             ev->behavior->name, text != NULL ? text : "?", ev->suppressed ? " (suppressed)" : "");
        cJSON_free(text);
        cJSON_Delete(value);
    } else {
        feed(svc, "%s %s: %s/%s%s", dd_alarm_event_name(ev->type), ev->thing, ev->profile,
             ev->behavior->name, ev->suppressed ? " (suppressed)" : "");
    }
    alert(svc, ev); /* dd_alerts_sns_topic() decides: nothing for suppressAlerts */
}

static void sink_active_violation(void *ctx, const dd_active_violation_t *av)
{
    dd_service_t *svc = ctx;

    if (svc->store_sink.active_violation != NULL) {
        svc->store_sink.active_violation(svc->store_sink.ctx, av);
    }
}

static void sink_active_violation_removed(void *ctx, const char *violation_id)
{
    dd_service_t *svc = ctx;

    if (svc->store_sink.active_violation_removed != NULL) {
        svc->store_sink.active_violation_removed(svc->store_sink.ctx, violation_id);
    }
}

static void sink_metric_value(void *ctx, const dd_metric_datum_t *datum)
{
    dd_service_t *svc = ctx;

    if (svc->store_sink.metric_value != NULL) {
        svc->store_sink.metric_value(svc->store_sink.ctx, datum);
    }
}

static void sink_thing_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    dd_service_t *svc = ctx;

    if (svc->store_sink.thing_state != NULL) {
        svc->store_sink.thing_state(svc->store_sink.ctx, thing, blob, len);
    }
}

static int join_group(void *ctx, const char *name)
{
    char *list = ctx;
    size_t n = strlen(list);

    (void)snprintf(list + n, FEED_TEXT - n, "%s%s", n > 0 ? ", " : "", name);
    return 0;
}

/* A thing's registry state changed: show where it is now (group moves). */
static void thing_pushed(void *ctx, const char *thing)
{
    dd_service_t *svc = ctx;
    char groups[FEED_TEXT] = "";

    if (!dd_registry_thing_exists(&svc->p.registry, thing)) {
        feed(svc, "registry: thing %s deleted", thing);
        return;
    }
    (void)dd_registry_thing_groups(&svc->p.registry, thing, NULL, join_group, groups, NULL, 0,
                                   NULL);
    feed(svc, "registry: %s is in thing groups [%s]", thing, groups);
}

/* ---- ddlocal's own HTTP operations (/ddlocal/v1/...) ----------------------------------------- */

static char *json_text(cJSON *obj)
{
    char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    char *out = text != NULL ? strdup(text) : NULL;

    cJSON_free(text);
    cJSON_Delete(obj);
    return out;
}

static char *error_json(const char *message)
{
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(obj, "message", message);
    return json_text(obj);
}

static cJSON *clock_json(dd_service_t *svc)
{
    cJSON *obj = cJSON_CreateObject();
    char spec[DD_CLOCK_SPEC_MAX];
    char when[32];
    int64_t now = dd_clock_now_ms(&svc->p.clock);

    (void)dd_clock_format(&svc->p.clock, spec, sizeof(spec));
    iso_time(now, when, sizeof(when));
    (void)cJSON_AddStringToObject(obj, "mode",
                                  svc->p.clock.mode == DD_CLOCK_MANUAL   ? "manual"
                                  : svc->p.clock.mode == DD_CLOCK_SCALED ? "scaled"
                                                                         : "real");
    (void)cJSON_AddNumberToObject(obj, "pipelineTimeMs", (double)now);
    (void)cJSON_AddStringToObject(obj, "pipelineTime", when);
    (void)cJSON_AddStringToObject(obj, "spec", spec);
    return obj;
}

static void tick(dd_service_t *svc);

/* POST /ddlocal/v1/clock {"advanceSeconds":N}: moves a manual clock, closes windows, before answering. */
static int advance_clock(dd_service_t *svc, const char *body, size_t body_len, char **response)
{
    cJSON *req = NULL;
    const cJSON *secs;
    int64_t delta;

    /* Strict like every API body: {"advanceSeconds":01} or a second advanceSeconds is refused. */
    if (body != NULL) {
        (void)dd_json_parse(body, body_len, 0, &req, NULL);
    }
    secs = cJSON_GetObjectItemCaseSensitive(req, "advanceSeconds");
    if (!cJSON_IsNumber(secs) || secs->valuedouble < 0 || secs->valuedouble > 1e9) {
        cJSON_Delete(req);
        *response = error_json("Body must be {\"advanceSeconds\": N} with 0 <= N <= 1e9");
        return 400;
    }
    delta = (int64_t)(secs->valuedouble * 1000.0 + 0.5);
    cJSON_Delete(req);
    pthread_mutex_lock(&svc->p.lock);
    if (svc->p.clock.mode != DD_CLOCK_MANUAL) {
        pthread_mutex_unlock(&svc->p.lock);
        *response = error_json(
            "The pipeline clock is not manual; start it with `ddlocal up --manual-clock`");
        return 400;
    }
    (void)dd_clock_advance(&svc->p.clock, delta, NULL);
    /* The shim stamps metering with the same clock. */
    if (svc->mqtt != NULL && dd_svcmqtt_connected(svc->mqtt)) {
        (void)dd_regsync_clock(&svc->regsync, &svc->p, svc->mqtt);
    }
    tick(svc);
    svc->last_tick_mono_ms = dd_clock_mono_ms();
    *response = json_text(clock_json(svc));
    pthread_mutex_unlock(&svc->p.lock);
    dd_svcmqtt_wake(svc->mqtt); /* send what the tick produced now */
    return 200;
}

static char *status_text(dd_service_t *svc)
{
    cJSON *obj = clock_json(svc);
    cJSON *events = cJSON_CreateArray();
    int64_t active = 0;
    uint64_t i;

    (void)dd_store_active_violation_count(svc->p.store, &active);
    (void)cJSON_AddBoolToObject(obj, "brokerConnected", dd_svcmqtt_connected(svc->mqtt));
    (void)cJSON_AddNumberToObject(obj, "connectedClients",
                                  (double)svc->ingest.stats.connected_things);
    (void)cJSON_AddNumberToObject(obj, "reportsAccepted",
                                  (double)svc->ingest.stats.reports_accepted);
    (void)cJSON_AddNumberToObject(obj, "reportsRejected",
                                  (double)svc->ingest.stats.reports_rejected);
    (void)cJSON_AddNumberToObject(obj, "meteringBatches",
                                  (double)svc->ingest.stats.metering_batches);
    (void)cJSON_AddNumberToObject(obj, "activeViolations", (double)active);
    (void)cJSON_AddNumberToObject(obj, "violationEvents", (double)svc->violation_events);
    (void)cJSON_AddNumberToObject(obj, "alertsPublished", (double)svc->alerts_published);
    (void)cJSON_AddNumberToObject(obj, "webhooksGivenUp", (double)svc->webhooks_given_up);
    (void)cJSON_AddBoolToObject(obj, "storeWritable", svc->held_since_mono_ms == 0);
    (void)cJSON_AddNumberToObject(obj, "messagesHeld", (double)svc->held_count);
    (void)cJSON_AddNumberToObject(obj, "storeStalls", (double)svc->store_stalls);
    if (svc->held_since_mono_ms != 0) {
        (void)cJSON_AddStringToObject(obj, "storeError", svc->store_error);
    }
    for (i = svc->feed_seq > FEED_SIZE ? svc->feed_seq - FEED_SIZE + 1 : 1; i <= svc->feed_seq;
         i++) {
        const feed_item_t *item = &svc->feed[i % FEED_SIZE];
        cJSON *e = cJSON_CreateObject();
        (void)cJSON_AddNumberToObject(e, "seq", (double)item->seq);
        (void)cJSON_AddStringToObject(e, "text", item->text);
        (void)cJSON_AddItemToArray(events, e);
    }
    (void)cJSON_AddItemToObject(obj, "latestEvents", events);
    return json_text(obj);
}

static int hook_extension(void *ctx, const char *method, const char *path, const char *body,
                          size_t body_len, char **response)
{
    dd_service_t *svc = ctx;

    if (strcmp(path, "/ddlocal/v1/clock") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&svc->p.lock);
        *response = json_text(clock_json(svc));
        pthread_mutex_unlock(&svc->p.lock);
        return 200;
    }
    if (strcmp(path, "/ddlocal/v1/clock") == 0 && strcmp(method, "POST") == 0) {
        return advance_clock(svc, body, body_len, response);
    }
    if (strcmp(path, "/ddlocal/v1/status") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&svc->p.lock);
        *response = status_text(svc);
        pthread_mutex_unlock(&svc->p.lock);
        return 200;
    }
    *response = error_json(
        "ddlocal's own operations are GET /ddlocal/v1/status, GET and POST /ddlocal/v1/clock");
    return 404;
}

/* ---- hooks the API calls with the lock held ------------------------------------------------ */

static void hook_registry_changed(void *ctx)
{
    dd_service_t *svc = ctx;

    if (svc->mqtt == NULL || !svc->broker_synced) {
        svc->regsync_pending = true; /* the full sync at (re)connection covers it */
        return;
    }
    svc->regsync_pending =
        dd_regsync_push(&svc->regsync, &svc->p, svc->mqtt, NULL) != DD_REGSYNC_OK;
}

static void hook_defender_changed(void *ctx)
{
    (void)ctx; /* the engine was updated by the caller; nothing is cached here */
}

/* ---- webhook dead letters -------------------------------------------------------------------- */

static void dead_letter(void *ctx, const char *topic, const char *endpoint, const char *body,
                        int attempts, const char *last_error)
{
    dd_service_t *svc = ctx;
    sqlite3_stmt *st = NULL;

    pthread_mutex_lock(&svc->p.lock);
    if (dd_db_prepare(
            svc->p.db,
            "INSERT INTO sns_dead_letters(topic, endpoint, body, attempts, last_error, time_ms)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            &st) == DD_DB_OK) {
        (void)sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, endpoint, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 4, attempts);
        (void)sqlite3_bind_text(st, 5, last_error, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 6, dd_clock_now_ms(&svc->p.clock));
        if (sqlite3_step(st) != SQLITE_DONE) {
            DD_LOG_ERROR("cannot record a dead letter: %s", sqlite3_errmsg(svc->p.db));
        }
    }
    sqlite3_finalize(st);
    /* The deliverer logged the give-up; `ddlocal up` shows the feed and the count. */
    svc->webhooks_given_up++;
    feed(svc, "webhook %s: GAVE UP after %d attempt(s): %s", endpoint, attempts, last_error);
    pthread_mutex_unlock(&svc->p.lock);
}

/* ---- Lambda stand-in invocations (on the lambda deliverer's thread) ------------------------------------ */

typedef struct lambda_copy {
    char topic[DD_NAME_MAX + 1];
    char handler_file[1100];
    char handler_function[160];
    char env_json[DD_LAMBDA_ENV_MAX + 1];
    int timeout_s;
} lambda_copy_t;

static int copy_function(void *ctx, const dd_lambda_function_t *fn)
{
    lambda_copy_t *c = ctx;

    (void)snprintf(c->topic, sizeof(c->topic), "%s", fn->topic);
    (void)snprintf(c->handler_file, sizeof(c->handler_file), "%s", fn->handler_file);
    (void)snprintf(c->handler_function, sizeof(c->handler_function), "%s", fn->handler_function);
    (void)snprintf(c->env_json, sizeof(c->env_json), "%s", fn->env_json);
    c->timeout_s = fn->timeout_s;
    return 1;
}

static bool invoke_lambda(void *ctx, const char *topic, const char *endpoint, const char *body,
                          const char *job_id, int attempt, char *error, size_t error_len)
{
    dd_service_t *svc = ctx;
    dd_lambdarun_request_t req;
    dd_lambdarun_status_t st;
    dd_lambda_status_t lst;
    lambda_copy_t fn;
    char name[DD_LAMBDA_NAME_MAX + 1];
    char log_path[700];
    char url[128];
    char spec[DD_CLOCK_SPEC_MAX];
    char region[DD_ARN_PART_MAX];
    const char *host = svc->cfg.api_bind;

    (void)topic;
    if (dd_lambda_name_from_arn(endpoint, name, sizeof(name)) != DD_LAMBDA_OK) {
        (void)snprintf(error, error_len, "%s is not a Lambda function ARN", endpoint);
        return false;
    }
    memset(&fn, 0, sizeof(fn));
    /* The definition is read at each attempt: `lambda remove` + `add` takes effect on the next one. */
    pthread_mutex_lock(&svc->p.lock);
    lst = dd_lambda_list(svc->p.db, name, copy_function, &fn);
    (void)snprintf(region, sizeof(region), "%s", svc->p.registry.arn.region);
    pthread_mutex_unlock(&svc->p.lock);
    if (lst != DD_LAMBDA_OK) {
        (void)snprintf(error, error_len, "ResourceNotFoundException: function %s: %s", name,
                       dd_lambda_strerror(lst));
        return false;
    }
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
        host = "127.0.0.1";
    }
    (void)snprintf(url, sizeof(url), "http://%s:%u", host, (unsigned)dd_service_api_port(svc));
    (void)snprintf(log_path, sizeof(log_path), "%s/logs/lambda-%s.log", svc->cfg.data_dir, name);
    spec[0] = '\0';
    if (svc->p.clock.mode != DD_CLOCK_REAL) {
        (void)dd_clock_format(&svc->p.clock, spec, sizeof(spec));
    }
    memset(&req, 0, sizeof(req));
    req.python = svc->cfg.lambda_python[0] != '\0' ? svc->cfg.lambda_python : "/usr/bin/python3";
    req.runner =
        svc->cfg.lambda_runner[0] != '\0' ? svc->cfg.lambda_runner : DD_LAMBDA_RUNNER_DEFAULT;
    req.function_name = name;
    req.function_arn = endpoint;
    req.handler_file = fn.handler_file;
    req.handler_function = fn.handler_function;
    req.env_json = fn.env_json;
    req.timeout_s = fn.timeout_s;
    req.request_id = job_id;
    req.region = region;
    req.endpoint_url = url;
    req.clock_spec = spec;
    req.log_path = log_path;
    req.event = body;
    req.attempt = attempt;
    st = dd_lambdarun_invoke(&req, error, error_len);
    if (st == DD_LAMBDARUN_OK) {
        DD_LOG_INFO("lambda %s: invocation %s succeeded (attempt %d)", name, job_id, attempt);
        return true;
    }
    if (error[0] == '\0') {
        (void)snprintf(error, error_len, "%s", dd_lambdarun_strerror(st));
    }
    DD_LOG_WARN("lambda %s: invocation %s failed (attempt %d): %s - see %s", name, job_id, attempt,
                error, log_path);
    return false;
}

/* ---- start-up ------------------------------------------------------------------------------------- */

static dd_service_status_t init_clock(dd_service_t *svc)
{
    char *last = NULL;
    int64_t last_ms = 0;

    if (dd_clock_parse(&svc->p.clock, svc->cfg.clock_spec[0] != '\0' ? svc->cfg.clock_spec
                                                                     : "real") != DD_CLOCK_OK) {
        DD_LOG_ERROR("clock spec '%s' not understood", svc->cfg.clock_spec);
        return DD_SERVICE_BAD_PARAMETER;
    }
    if (dd_registry_setting_get(&svc->p.registry, SETTING_CLOCK_LAST, &last) == DD_REGISTRY_OK &&
        last != NULL) {
        last_ms = strtoll(last, NULL, 10);
    }
    free(last);
    /* A manual clock restarted (crash, restart) resumes from the last stored time. */
    if (svc->p.clock.mode == DD_CLOCK_MANUAL && last_ms > dd_clock_now_ms(&svc->p.clock)) {
        (void)dd_clock_set(&svc->p.clock, last_ms);
    }
    return DD_SERVICE_OK;
}

typedef struct pending_ctx {
    dd_service_t *svc;
    int count;
} pending_ctx_t;

static int evaluate_pending(void *ctx, int64_t row, const char *thing, uint64_t report_id,
                            int64_t received_ms, int format, const uint8_t *payload, size_t len)
{
    pending_ctx_t *pc = ctx;
    dd_service_t *svc = pc->svc;
    dd_report_t report;
    int64_t now =
        received_ms > dd_engine_now(svc->p.engine) ? received_ms : dd_engine_now(svc->p.engine);

    (void)report_id;
    memset(&report, 0, sizeof(report));
    if (dd_report_decode((dd_report_format_t)format, payload, len, &report, NULL) == DD_REPORT_OK &&
        dd_engine_on_report(svc->p.engine, thing, now, &report) == DD_ENGINE_OK) {
        (void)dd_store_report_mark_evaluated(svc->p.store, row);
        pc->count++;
    }
    dd_report_free(&report);
    return 0;
}

/* A new engine holding what the store has committed. */
static dd_service_status_t load_engine(dd_service_t *svc, dd_engine_t **out)
{
    dd_engine_config_t ecfg;
    dd_engine_registry_t reg;
    dd_engine_sink_t sink;

    dd_engine_config_default(&ecfg);
    ecfg.arn = svc->cfg.arn;
    ecfg.id_seed = (uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    reg.ctx = svc;
    reg.lookup = registry_lookup;
    memset(&sink, 0, sizeof(sink));
    sink.ctx = svc;
    sink.violation_event = sink_violation_event;
    sink.active_violation = sink_active_violation;
    sink.active_violation_removed = sink_active_violation_removed;
    sink.metric_value = sink_metric_value;
    sink.thing_state = sink_thing_state;
    if (dd_engine_create(&ecfg, &reg, &sink, out) != DD_ENGINE_OK) {
        return DD_SERVICE_NO_MEMORY;
    }
    if (dd_store_load(svc->p.store, *out) != DD_STORE_OK) {
        dd_engine_destroy(*out);
        *out = NULL;
        return DD_SERVICE_DB_ERROR;
    }
    return DD_SERVICE_OK;
}

/*
 * After a rolled-back transaction the engine remembers what was never
 * committed (windows, alarms of the lost batch): start again from the store.
 * If even that fails the old engine stays, and the log says so.
 */
static void reload_engine(dd_service_t *svc)
{
    dd_engine_t *fresh = NULL;
    size_t mark = dd_outbox_mark(&svc->outbox);

    if (load_engine(svc, &fresh) != DD_SERVICE_OK) {
        DD_LOG_ERROR(
            "cannot reload the evaluator state; it may hold uncommitted changes until a restart");
        return;
    }
    dd_engine_destroy(svc->p.engine);
    svc->p.engine = fresh;
    dd_outbox_truncate(&svc->outbox, mark); /* loading announces nothing new */
    DD_LOG_INFO("evaluator state reloaded from the store");
}

static dd_service_status_t open_pipeline(dd_service_t *svc)
{
    dd_service_status_t status;
    char path[700];
    pending_ctx_t pc = {svc, 0};

    pthread_mutex_init(&svc->p.lock, NULL);
    (void)snprintf(svc->p.data_dir, sizeof(svc->p.data_dir), "%s", svc->cfg.data_dir);
    (void)snprintf(svc->p.console_dir, sizeof(svc->p.console_dir), "%s", svc->cfg.console_dir);
    (void)snprintf(svc->p.mqtt_endpoint, sizeof(svc->p.mqtt_endpoint), "%s:%u",
                   svc->cfg.broker_host, (unsigned)svc->cfg.broker_port);
    svc->p.arn = svc->cfg.arn;
    (void)snprintf(path, sizeof(path), "%s/%s", svc->cfg.data_dir, DD_DB_FILE_NAME);
    if (dd_db_open(path, false, &svc->p.db) != DD_DB_OK ||
        dd_registry_open(&svc->p.registry, svc->p.db, &svc->cfg.arn, &svc->p.clock) !=
            DD_REGISTRY_OK ||
        dd_db_migrate(svc->p.db, "service", SERVICE_MIGRATIONS,
                      sizeof(SERVICE_MIGRATIONS) / sizeof(SERVICE_MIGRATIONS[0])) != DD_DB_OK ||
        dd_lambda_open(svc->p.db) != DD_LAMBDA_OK) {
        DD_LOG_ERROR("cannot open the database %s", path);
        return DD_SERVICE_DB_ERROR;
    }
    if (!svc->cfg.arn_explicit) {
        char *region = NULL;
        char *account = NULL;
        (void)dd_registry_setting_get(&svc->p.registry, "region", &region);
        (void)dd_registry_setting_get(&svc->p.registry, "account", &account);
        if (region != NULL && account != NULL &&
            dd_arn_ctx_set(&svc->cfg.arn, region, account) == DD_NAMES_OK) {
            svc->p.arn = svc->cfg.arn;
            svc->p.registry.arn = svc->cfg.arn;
        }
        free(region);
        free(account);
    }
    if (init_clock(svc) != DD_SERVICE_OK) {
        return DD_SERVICE_BAD_PARAMETER;
    }
    if (dd_store_open(svc->p.db, &svc->cfg.arn, &svc->p.store) != DD_STORE_OK) {
        DD_LOG_ERROR("cannot open the evaluator store");
        return DD_SERVICE_DB_ERROR;
    }
    dd_store_sink(svc->p.store, &svc->store_sink);
    status = load_engine(svc, &svc->p.engine);
    if (status != DD_SERVICE_OK) {
        DD_LOG_ERROR("cannot load the evaluator state from %s", path);
        return status;
    }
    /* Stored reports never evaluated (none unless an earlier run failed mid-way). */
    if (dd_store_begin(svc->p.store) == DD_STORE_OK) {
        (void)dd_store_reports_pending(svc->p.store, evaluate_pending, &pc);
        (void)dd_store_commit(svc->p.store);
    }
    if (pc.count > 0) {
        DD_LOG_INFO("evaluated %d stored report(s) left unevaluated by an earlier run", pc.count);
    }
    if (dd_ingest_expect_redeliveries(&svc->ingest, svc->p.store) != DD_INGEST_OK) {
        DD_LOG_WARN(
            "cannot read the last stored reports: a redelivery after a crash may count twice");
    }
    dd_outbox_entries_free(dd_outbox_take(&svc->outbox)); /* alerts of the past are not re-sent */
    svc->p.hook_ctx = svc;
    svc->p.registry_changed = hook_registry_changed;
    svc->p.defender_changed = hook_defender_changed;
    svc->p.extension = hook_extension;
    svc->regsync.thing_pushed = thing_pushed;
    svc->regsync.thing_pushed_ctx = svc;
    return DD_SERVICE_OK;
}

/* ---- WAL checkpoints -------------------------------------------------------------------------- */

static int checkpoint_passive(dd_service_t *svc, int *log_frames, int *done_frames)
{
    return sqlite3_wal_checkpoint_v2(svc->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, log_frames,
                                     done_frames);
}

static void *checkpointer(void *arg)
{
    dd_service_t *svc = arg;
    int log_frames = 0;
    int done_frames = 0;
    int rc;

    pthread_mutex_lock(&svc->ckpt_lock);
    for (;;) {
        while (!svc->ckpt_due && !svc->ckpt_stop) {
            pthread_cond_wait(&svc->ckpt_cond, &svc->ckpt_lock);
        }
        if (svc->ckpt_stop) {
            break;
        }
        pthread_mutex_unlock(&svc->ckpt_lock);
        /*
         * Passive: copies the WAL into the database file, fsyncs included,
         * without waiting for nor blocking the writer. The writer restarts
         * the WAL from its start at its next transaction once every frame
         * was copied, which happens by itself whenever ddlocald is not
         * committing at that moment. A writer busy without a pause (a
         * saturating ingest) never leaves such a moment: then, at the next
         * checkpoint (the WAL at CHECKPOINT_RESTART_FACTOR times the
         * threshold), the frames committed during the unlocked pass are
         * copied under the pipeline lock, so that no commit of ours comes
         * between - one short wait for the writer (the last frames and two
         * fsyncs, ~10-20 ms here) every second or two of such load instead
         * of SQLite's whole checkpoint at every threshold.
         */
        rc = checkpoint_passive(svc, &log_frames, &done_frames);
        if (rc == SQLITE_OK && log_frames >= svc->ckpt_frames * CHECKPOINT_RESTART_FACTOR) {
            pthread_mutex_lock(&svc->p.lock);
            rc = checkpoint_passive(svc, &log_frames, &done_frames);
            pthread_mutex_unlock(&svc->p.lock);
        }
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            /* SQLITE_FULL here: the database file could not grow; ingest says so too. */
            DD_LOG_WARN("WAL checkpoint: %s", sqlite3_errmsg(svc->ckpt_db));
        }
        pthread_mutex_lock(&svc->ckpt_lock);
        /* Next when a threshold's worth of frames more arrived, or the WAL restarted and refilled. */
        svc->ckpt_last = log_frames;
        svc->ckpt_next = log_frames + svc->ckpt_frames;
        svc->ckpt_due = false;
    }
    pthread_mutex_unlock(&svc->ckpt_lock);
    return NULL;
}

/*
 * The WAL at CHECKPOINT_TRUNCATE_FACTOR x the threshold: a reader's snapshot
 * kept it from restarting, or the checkpointer fell behind a fast writer.
 * The committing thread itself (pipeline lock held, so no commit of ours
 * comes between) truncates it, waiting at most CHECKPOINT_TRUNCATE_WAIT_MS
 * for readers; when a reader holds its snapshot longer, the next try comes
 * only after the WAL grew as much again, so a long reader cannot stall
 * ingest at every commit.
 */
static void truncate_wal(dd_service_t *svc, sqlite3 *db, int frames)
{
    int64_t until = dd_clock_mono_ms() + CHECKPOINT_TRUNCATE_WAIT_MS;
    int rc;

    if (frames < svc->wal_truncate_at) {
        return;
    }
    /*
     * SQLITE_BUSY comes at once, busy handler or not, while the checkpointer
     * thread runs its unlocked pass (it holds the checkpoint lock; it then
     * waits for the pipeline lock we hold, without it): try again until the
     * wait is over. The busy handler covers the readers.
     */
    sqlite3_busy_timeout(db, 100);
    do {
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc == SQLITE_BUSY) {
            pause_ms(5);
        }
    } while (rc == SQLITE_BUSY && dd_clock_mono_ms() < until);
    sqlite3_busy_timeout(db, WRITER_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK) {
        DD_LOG_INFO("WAL truncated at %d pages (a reader kept it from restarting, or the "
                    "checkpointer fell behind)",
                    frames);
        svc->wal_truncate_at = svc->ckpt_frames * CHECKPOINT_TRUNCATE_FACTOR;
    } else {
        DD_LOG_WARN("WAL at %d pages cannot be truncated (%s): a reader holds an old snapshot "
                    "for more than %d ms",
                    frames, sqlite3_errmsg(db), CHECKPOINT_TRUNCATE_WAIT_MS);
        svc->wal_truncate_at = frames + svc->ckpt_frames * CHECKPOINT_TRUNCATE_FACTOR;
    }
}

/* After every commit on ddlocald's connection (lock held): wakes the checkpointer. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
    dd_service_t *svc = ctx;

    (void)name;
    if (frames < svc->ckpt_frames) {
        svc->wal_truncate_at = svc->ckpt_frames * CHECKPOINT_TRUNCATE_FACTOR;
    }
    truncate_wal(svc, db, frames);
    pthread_mutex_lock(&svc->ckpt_lock);
    if (frames < svc->ckpt_last) {
        /* The WAL restarted from its start since the last checkpoint. */
        svc->ckpt_last = 0;
        svc->ckpt_next = svc->ckpt_frames;
    }
    if (frames >= svc->ckpt_next && !svc->ckpt_due) {
        svc->ckpt_due = true;
        pthread_cond_signal(&svc->ckpt_cond);
    }
    pthread_mutex_unlock(&svc->ckpt_lock);
    return SQLITE_OK;
}

/*
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, with its fsyncs (10-40 ms here), while that commit's thread
 * holds the pipeline lock: a report's /accepted, or an API call such as the
 * isolator's AddThingToThingGroup, waited for it (bench_detection's outliers
 * every ~8,000 WAL pages). Here a WAL hook (which replaces the automatic
 * checkpoint) keeps the same threshold but only wakes this thread, which
 * copies the WAL into the database file, fsyncs included, on its own
 * connection. The durability of a commit is unchanged (synchronous=NORMAL:
 * the WAL is synced at checkpoints, as before).
 */
static dd_service_status_t start_checkpointer(dd_service_t *svc)
{
    char path[700];
    sqlite3_stmt *st = NULL;

    (void)snprintf(path, sizeof(path), "%s/%s", svc->cfg.data_dir, DD_DB_FILE_NAME);
    if (dd_db_open(path, false, &svc->ckpt_db) != DD_DB_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    /* The threshold the store chose for this connection. */
    svc->ckpt_frames = CHECKPOINT_DEFAULT_FRAMES;
    if (sqlite3_prepare_v2(svc->p.db, "PRAGMA wal_autocheckpoint", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) {
        svc->ckpt_frames = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    svc->ckpt_next = svc->ckpt_frames;
    svc->wal_truncate_at = svc->ckpt_frames * CHECKPOINT_TRUNCATE_FACTOR;
    sqlite3_busy_timeout(svc->ckpt_db, CHECKPOINT_TRUNCATE_WAIT_MS);
    /* A WAL left by a crash may be large (139 MB after the crash tests): start from an empty one. */
    {
        int frames = 0;
        if (sqlite3_wal_checkpoint_v2(svc->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                      NULL) == SQLITE_OK &&
            frames > 0 &&
            sqlite3_wal_checkpoint_v2(svc->ckpt_db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
                SQLITE_OK) {
            DD_LOG_INFO("WAL of %d pages left from the last run: checkpointed and truncated",
                        frames);
        }
    }
    pthread_mutex_init(&svc->ckpt_lock, NULL);
    pthread_cond_init(&svc->ckpt_cond, NULL);
    if (pthread_create(&svc->ckpt_thread, NULL, checkpointer, svc) != 0) {
        pthread_cond_destroy(&svc->ckpt_cond);
        pthread_mutex_destroy(&svc->ckpt_lock);
        dd_db_close(svc->ckpt_db);
        svc->ckpt_db = NULL;
        return DD_SERVICE_NO_MEMORY;
    }
    svc->ckpt_running = true;
    (void)sqlite3_wal_hook(svc->p.db, on_wal_commit, svc);
    return DD_SERVICE_OK;
}

static void stop_checkpointer(dd_service_t *svc)
{
    if (!svc->ckpt_running) {
        return;
    }
    (void)sqlite3_wal_hook(svc->p.db, NULL, NULL);
    pthread_mutex_lock(&svc->ckpt_lock);
    svc->ckpt_stop = true;
    pthread_cond_broadcast(&svc->ckpt_cond);
    pthread_mutex_unlock(&svc->ckpt_lock);
    (void)pthread_join(svc->ckpt_thread, NULL);
    svc->ckpt_running = false;
    pthread_cond_destroy(&svc->ckpt_cond);
    pthread_mutex_destroy(&svc->ckpt_lock);
    dd_db_close(svc->ckpt_db);
    svc->ckpt_db = NULL;
}

static dd_service_status_t connect_broker(dd_service_t *svc)
{
    char ca[700];
    char cert[700];
    char key[700];
    const char *subs[3];
    dd_svcmqtt_params_t params;

    (void)dd_pki_path(svc->cfg.data_dir, DD_PKI_FILE_ROOTCA_CERT, ca, sizeof(ca));
    (void)dd_pki_path(svc->cfg.data_dir, DD_PKI_FILE_SERVICE_CERT, cert, sizeof(cert));
    (void)dd_pki_path(svc->cfg.data_dir, DD_PKI_FILE_SERVICE_KEY, key, sizeof(key));
    if (!dd_fs_exists(cert) || !dd_fs_exists(key)) {
        DD_LOG_ERROR("service credentials %s / %s are missing (run `ddlocal init`)", cert, key);
        return DD_SERVICE_PKI_ERROR;
    }
    subs[0] = "$aws/things/+/defender/metrics/json";
    subs[1] = "$aws/things/+/defender/metrics/cbor";
    subs[2] = svc->cfg.ingest.metering_topic;
    memset(&params, 0, sizeof(params));
    params.host = svc->cfg.broker_host;
    params.port = svc->cfg.broker_port;
    params.client_id = "ddlocald";
    params.clean_session = false;
    params.ca_file = ca;
    params.cert_file = cert;
    params.key_file = key;
    params.subscriptions = subs;
    params.subscription_count = 3;
    if (dd_svcmqtt_create(&params, &svc->mqtt) != DD_SVCMQTT_OK) {
        return DD_SERVICE_MQTT_ERROR;
    }
    return DD_SERVICE_OK;
}

static dd_service_status_t write_ready_file(dd_service_t *svc)
{
    char text[256];
    int n;

    if (svc->cfg.ready_file[0] == '\0') {
        return DD_SERVICE_OK;
    }
    n = snprintf(text, sizeof(text), "{\"api\":\"http://%s:%u\",\"pid\":%d}\n", svc->cfg.api_bind,
                 (unsigned)dd_service_api_port(svc), (int)getpid());
    if (dd_fs_write_atomic(svc->cfg.ready_file, text, (size_t)n, 0644) != DD_FS_OK) {
        DD_LOG_ERROR("cannot write %s", svc->cfg.ready_file);
        return DD_SERVICE_DB_ERROR;
    }
    return DD_SERVICE_OK;
}

dd_service_status_t dd_service_create(const dd_service_config_t *cfg, dd_service_t **out)
{
    dd_service_t *svc;
    dd_service_status_t status;
    dd_alerts_webhook_config_t wcfg;

    if (cfg == NULL || out == NULL || cfg->data_dir[0] == '\0') {
        return DD_SERVICE_BAD_PARAMETER;
    }
    *out = NULL;
    svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        return DD_SERVICE_NO_MEMORY;
    }
    svc->cfg = *cfg;
    if (svc->cfg.tick_ms <= 0) {
        svc->cfg.tick_ms = 1000;
    }
    dd_outbox_init(&svc->outbox);
    (void)dd_ingest_init(&svc->ingest, &svc->cfg.ingest);
    status = open_pipeline(svc);
    if (status == DD_SERVICE_OK) {
        status = start_checkpointer(svc);
    }
    if (status == DD_SERVICE_OK) {
        memset(&wcfg, 0, sizeof(wcfg));
        wcfg.max_attempts = svc->cfg.webhook_attempts;
        wcfg.first_retry_ms = svc->cfg.webhook_backoff_ms;
        wcfg.dead_letter = dead_letter;
        wcfg.dead_letter_ctx = svc;
        if (dd_alerts_webhooks_start(&wcfg, &svc->webhooks) != DD_ALERTS_OK) {
            status = DD_SERVICE_NO_MEMORY;
        }
    }
    if (status == DD_SERVICE_OK) {
        /* Lambda's asynchronous invocation: 3 attempts, 1 then 2 minutes apart (doubling from 60 s). */
        memset(&wcfg, 0, sizeof(wcfg));
        wcfg.max_attempts = 3;
        wcfg.first_retry_ms = svc->cfg.lambda_backoff_ms > 0 ? svc->cfg.lambda_backoff_ms : 60000;
        wcfg.dead_letter = dead_letter;
        wcfg.dead_letter_ctx = svc;
        wcfg.deliver = invoke_lambda;
        wcfg.deliver_ctx = svc;
        wcfg.label = "lambda";
        if (dd_alerts_webhooks_start(&wcfg, &svc->lambdas) != DD_ALERTS_OK) {
            status = DD_SERVICE_NO_MEMORY;
        }
    }
    if (status == DD_SERVICE_OK) {
        status = connect_broker(svc);
    }
    if (status == DD_SERVICE_OK && svc->cfg.api_enabled) {
        if (dd_api_start(&svc->p, svc->cfg.api_bind, svc->cfg.api_port, &svc->api) != DD_API_OK) {
            DD_LOG_ERROR("the HTTP API cannot listen on %s:%u", svc->cfg.api_bind,
                         (unsigned)svc->cfg.api_port);
            status = DD_SERVICE_API_ERROR;
        }
    }
    if (status == DD_SERVICE_OK) {
        status = write_ready_file(svc);
    }
    if (status != DD_SERVICE_OK) {
        dd_service_destroy(svc);
        return status;
    }
    svc->last_tick_mono_ms = dd_clock_mono_ms();
    *out = svc;
    return DD_SERVICE_OK;
}

/* ---- the worker loop ------------------------------------------------------------------------------ */

static void drain_outbox(dd_service_t *svc)
{
    dd_outbox_entry_t *head = dd_outbox_take(&svc->outbox);
    dd_outbox_entry_t *e;

    for (e = head; e != NULL; e = e->next) {
        if (e->kind == DD_OUTBOX_PUBLISH) {
            (void)dd_svcmqtt_publish(svc->mqtt, e->target, e->payload, e->len, e->qos, false);
        } else if (e->kind == DD_OUTBOX_LAMBDA) {
            (void)dd_alerts_webhooks_post(svc->lambdas, e->sns_topic, e->target,
                                          (const char *)e->payload);
        } else {
            (void)dd_alerts_webhooks_post(svc->webhooks, e->sns_topic, e->target,
                                          (const char *)e->payload);
        }
    }
    dd_outbox_entries_free(head);
}

/* Real milliseconds by which a message's metering record may reach the engine after
 * the message: the shim publishes a batch up to its flush time (100 ms) after the
 * batch's first record, from its tick of about 10 Hz, then the broker and this loop
 * deliver it. */
#define METERING_LAG_REAL_MS 400

/* The pipeline time a tick stands for. A tick closes every window that ended before
 * it, so it must not run ahead of the metering still on its way: otherwise the last
 * messages of a window count in the next one (dd_engine: late events), and two
 * devices that sent the same messages in the same window get different sums - a
 * healthy device above a p50 rule. At --time-scale 60 a message 5 pipeline seconds
 * before a window's end is 83 real ms before it, well inside the lag. So a tick
 * stands for the clock METERING_LAG_REAL_MS ago (that many real ms, times the
 * scale); metering records and reports still move the engine to their own times,
 * so a window closes at its first record after its end, or at the latest that lag
 * after it. A manual clock is exact: `ddlocal clock advance` evaluates before it
 * returns, and the shim stamps with the advanced time. */
static int64_t tick_time(const dd_clock_t *clock, int64_t now)
{
    switch (clock->mode) {
    case DD_CLOCK_REAL: return now - METERING_LAG_REAL_MS;
    case DD_CLOCK_SCALED: return now - (int64_t)((double)METERING_LAG_REAL_MS * clock->scale);
    default: return now;
    }
}

static void tick(dd_service_t *svc)
{
    int64_t clock_now = dd_clock_now_ms(&svc->p.clock);
    int64_t now = tick_time(&svc->p.clock, clock_now);
    size_t mark = dd_outbox_mark(&svc->outbox);
    char text[32];
    char why[160] = "";
    dd_store_status_t sst;
    dd_engine_status_t est;
    dd_registry_status_t rst;

    if (now < dd_engine_now(svc->p.engine)) {
        now = dd_engine_now(svc->p.engine);
    }
    sst = dd_store_begin(svc->p.store);
    if (sst != DD_STORE_OK) {
        /* Nothing changed yet: the next tick tries again. Said once, not every tick. */
        if (!svc->tick_failing) {
            DD_LOG_ERROR("engine ticks skipped until the store can start a transaction (%s)",
                         dd_store_strerror(sst));
            svc->tick_failing = true;
        }
        return;
    }
    est = dd_engine_tick(svc->p.engine, now);
    if (est != DD_ENGINE_OK) {
        (void)snprintf(why, sizeof(why), "engine: %s", dd_engine_strerror(est));
    }
    if (why[0] == '\0') {
        sst = dd_store_save_engine(svc->p.store, svc->p.engine);
        if (sst != DD_STORE_OK) {
            (void)snprintf(why, sizeof(why), "engine state: %s", dd_store_strerror(sst));
        }
    }
    if (why[0] == '\0') {
        /* The clock's own time is kept (not the lagged one): a restart resumes from it. */
        if (clock_now > now) {
            now = clock_now;
        }
        (void)snprintf(text, sizeof(text), "%lld", (long long)now); /* 21 chars at most */
        rst = dd_registry_setting_set(&svc->p.registry, SETTING_CLOCK_LAST, text);
        if (rst != DD_REGISTRY_OK) {
            (void)snprintf(why, sizeof(why), "pipeline time: %s", dd_registry_strerror(rst));
        }
    }
    if (why[0] == '\0') {
        sst = dd_store_sink_status(svc->p.store);
        if (sst == DD_STORE_OK) {
            sst = dd_store_commit(svc->p.store);
        }
        if (sst != DD_STORE_OK) {
            (void)snprintf(why, sizeof(why), "store: %s", dd_store_strerror(sst));
        }
    }
    if (why[0] != '\0') {
        (void)dd_store_rollback(svc->p.store); /* "why" is the error to report */
        dd_outbox_truncate(&svc->outbox, mark);
        if (!svc->tick_failing) {
            DD_LOG_ERROR("an engine tick could not be stored and was rolled back (%s); "
                         "said once until ticks are stored again",
                         why);
            svc->tick_failing = true;
        }
        reload_engine(svc);
    } else if (svc->tick_failing) {
        DD_LOG_INFO("engine ticks are stored again");
        svc->tick_failing = false;
    }
}

static void sync_registry(dd_service_t *svc)
{
    bool connected = dd_svcmqtt_connected(svc->mqtt);
    bool external;

    if (!connected) {
        svc->broker_synced = false;
        return;
    }
    external = dd_regsync_external_change(&svc->regsync, &svc->p);
    if (!svc->broker_synced) {
        /* First connection, or the broker (and its shim) may have restarted. */
        if (dd_regsync_full(&svc->regsync, &svc->p, svc->mqtt) == DD_REGSYNC_OK) {
            svc->broker_synced = true;
            svc->regsync_pending = false;
            /* Engine coverage may be stale for changes made while disconnected;
             * a failed push is logged and retried on the next loop. */
            svc->regsync_pending =
                dd_regsync_push(&svc->regsync, &svc->p, svc->mqtt, NULL) != DD_REGSYNC_OK;
        }
        return;
    }
    if (external || svc->regsync_pending) {
        svc->regsync_pending =
            dd_regsync_push(&svc->regsync, &svc->p, svc->mqtt, NULL) != DD_REGSYNC_OK;
    }
}

/*
 * The broker sends a reconnecting session its unacknowledged messages first,
 * so redeliveries come within moments of the first connection; after that a
 * report identical to an old one is a new report.
 */
static void forget_redeliveries(dd_service_t *svc, int64_t mono)
{
    if (svc->redelivery_until_mono_ms == 0) {
        if (svc->broker_synced) {
            svc->redelivery_until_mono_ms = mono + REDELIVERY_GRACE_MS;
        }
    } else if (mono >= svc->redelivery_until_mono_ms) {
        dd_ingest_forget_redeliveries(&svc->ingest);
    }
}

/*
 * A batch the store could not take (disk full, database busy or read-only,
 * I/O error) is held and tried again, rather than dropped: its reports were
 * never answered, so nothing accepted is lost, and meanwhile no new message
 * is taken - the broker keeps them in ddlocald's persistent session. The
 * error is logged once when holding starts (and again every
 * HOLD_LOG_EVERY_MS), ddlocald's status says so, and a line says when the
 * store writes again.
 */
static void hold_batch(dd_service_t *svc, dd_svcmqtt_msg_t *msgs, size_t n, int64_t mono)
{
    const char *why = "";
    bool first = svc->held == NULL && svc->held_since_mono_ms == 0;

    (void)dd_store_last_error(svc->p.store, &why);
    (void)snprintf(svc->store_error, sizeof(svc->store_error), "%s",
                   why[0] != '\0' ? why : "the store cannot write");
    svc->held = msgs;
    svc->held_count = n;
    if (first) {
        svc->held_since_mono_ms = mono;
        svc->held_delay_ms = HOLD_FIRST_RETRY_MS;
        svc->held_logged_mono_ms = mono;
        svc->store_stalls++;
        DD_LOG_ERROR("the store cannot write (%s): %zu message(s) held, reports are NOT "
                     "acknowledged until it can; retrying",
                     svc->store_error, n);
        feed(svc, "store: cannot write (%s); reports not acknowledged", svc->store_error);
    } else {
        svc->held_delay_ms =
            svc->held_delay_ms * 2 > HOLD_MAX_RETRY_MS ? HOLD_MAX_RETRY_MS : svc->held_delay_ms * 2;
        if (mono - svc->held_logged_mono_ms >= HOLD_LOG_EVERY_MS) {
            svc->held_logged_mono_ms = mono;
            DD_LOG_ERROR("the store still cannot write (%s) after %lld s: %zu message(s) held",
                         svc->store_error, (long long)((mono - svc->held_since_mono_ms) / 1000), n);
        }
    }
    svc->held_retry_mono_ms = mono + svc->held_delay_ms;
}

static void store_resumed(dd_service_t *svc, int64_t mono, size_t n)
{
    DD_LOG_WARN("the store writes again after %lld ms: the %zu held message(s) were stored and "
                "answered; ingest resumed",
                (long long)(mono - svc->held_since_mono_ms), n);
    feed(svc, "store: writes again; ingest resumed");
    svc->held_since_mono_ms = 0;
    svc->store_error[0] = '\0';
}

dd_service_status_t dd_service_run(dd_service_t *svc, volatile sig_atomic_t *stop)
{
    if (svc == NULL || stop == NULL) {
        return DD_SERVICE_BAD_PARAMETER;
    }
    DD_LOG_INFO("ddlocald running (data dir %s, broker %s:%u)", svc->cfg.data_dir,
                svc->cfg.broker_host, (unsigned)svc->cfg.broker_port);
    while (!*stop) {
        dd_svcmqtt_msg_t *msgs = NULL;
        size_t n;
        int64_t mono = dd_clock_mono_ms();
        bool retrying = false;

        pthread_mutex_lock(&svc->p.lock);
        if (svc->held != NULL && mono < svc->held_retry_mono_ms) {
            /* Holding: no new messages; replies of API changes and the registry still go out. */
            sync_registry(svc);
            drain_outbox(svc);
            pthread_mutex_unlock(&svc->p.lock);
            pause_ms(svc->held_retry_mono_ms - mono < 50 ? svc->held_retry_mono_ms - mono : 50);
            continue;
        }
        if (svc->held != NULL) {
            msgs = svc->held;
            n = svc->held_count;
            svc->held = NULL;
            svc->held_count = 0;
            retrying = true;
            pthread_mutex_unlock(&svc->p.lock);
        } else {
            pthread_mutex_unlock(&svc->p.lock);
            n = dd_svcmqtt_take(svc->mqtt, 2000, 50, &msgs);
            mono = dd_clock_mono_ms();
        }

        pthread_mutex_lock(&svc->p.lock);
        if (n > 0) {
            dd_ingest_status_t ist = dd_ingest_batch(&svc->ingest, &svc->p, &svc->outbox, msgs);
            if (ist == DD_INGEST_STORE_ERROR) {
                reload_engine(svc);
            }
            if (ist == DD_INGEST_STORE_ERROR || ist == DD_INGEST_STORE_UNAVAILABLE) {
                hold_batch(svc, msgs, n, mono);
                msgs = NULL;
            } else if (retrying) {
                store_resumed(svc, mono, n);
            }
        }
        sync_registry(svc);
        forget_redeliveries(svc, mono);
        /* A tick writes too: while the store fails it would only fail and reload again. */
        if (svc->held == NULL && mono - svc->last_tick_mono_ms >= svc->cfg.tick_ms) {
            tick(svc);
            svc->last_tick_mono_ms = mono;
        }
        drain_outbox(svc);
        pthread_mutex_unlock(&svc->p.lock);
        dd_svcmqtt_msg_free(msgs);
    }
    if (svc->held != NULL) {
        DD_LOG_ERROR("stopping with %zu message(s) the store could not take: their reports were "
                     "never answered",
                     svc->held_count);
        dd_svcmqtt_msg_free(svc->held);
        svc->held = NULL;
    }
    /* Last tick persists the pipeline time. */
    pthread_mutex_lock(&svc->p.lock);
    tick(svc);
    drain_outbox(svc);
    pthread_mutex_unlock(&svc->p.lock);
    DD_LOG_INFO("ddlocald stopping");
    return DD_SERVICE_OK;
}

void dd_service_wake(dd_service_t *svc)
{
    if (svc != NULL) {
        dd_svcmqtt_wake(svc->mqtt);
    }
}

dd_pipeline_t *dd_service_pipeline(dd_service_t *svc)
{
    return svc != NULL ? &svc->p : NULL;
}

uint16_t dd_service_api_port(const dd_service_t *svc)
{
    return (svc != NULL && svc->api != NULL) ? dd_api_port(svc->api) : 0;
}

void dd_service_snapshot(dd_service_t *svc, dd_service_snapshot_t *out)
{
    if (svc == NULL || out == NULL) {
        return;
    }
    pthread_mutex_lock(&svc->p.lock);
    out->ingest = svc->ingest.stats;
    out->alerts_published = svc->alerts_published;
    out->violation_events = svc->violation_events;
    out->pipeline_ms = dd_clock_now_ms(&svc->p.clock);
    out->broker_connected = dd_svcmqtt_connected(svc->mqtt);
    pthread_mutex_unlock(&svc->p.lock);
}

const dd_clock_t *dd_service_clock(const dd_service_t *svc)
{
    return svc != NULL ? &svc->p.clock : NULL;
}

void dd_service_destroy(dd_service_t *svc)
{
    if (svc == NULL) {
        return;
    }
    /* First: a running invocation may still call the API (IsolateDevice does); queued ones are
     * dead-lettered. */
    dd_alerts_webhooks_stop(svc->lambdas);
    dd_api_stop(svc->api); /* no API thread may take the lock after this */
    dd_svcmqtt_destroy(svc->mqtt);
    dd_alerts_webhooks_stop(svc->webhooks); /* may dead-letter into the database */
    stop_checkpointer(svc); /* before the last connection closes (it checkpoints itself) */
    dd_engine_destroy(svc->p.engine);
    dd_store_close(svc->p.store);
    dd_db_close(svc->p.db);
    dd_ingest_destroy(&svc->ingest);
    dd_outbox_destroy(&svc->outbox);
    pthread_mutex_destroy(&svc->p.lock);
    free(svc);
}

const char *dd_service_strerror(dd_service_status_t status)
{
    switch (status) {
    case DD_SERVICE_OK: return "ok";
    case DD_SERVICE_BAD_PARAMETER: return "bad parameter";
    case DD_SERVICE_NO_MEMORY: return "out of memory";
    case DD_SERVICE_DB_ERROR: return "database error";
    case DD_SERVICE_PKI_ERROR: return "service credentials missing";
    case DD_SERVICE_MQTT_ERROR: return "broker session could not be created";
    case DD_SERVICE_API_ERROR: return "HTTP API could not listen";
    }
    return "unknown service status";
}
