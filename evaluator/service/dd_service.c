#include "dd_service.h"
#include "dd_clock.h"

#include "dd_alerts.h"
#include "dd_control.h"
#include "dd_api.h"
#include "dd_auditor.h"
#include "dd_ctlapi.h"
#include "dd_db.h"
#include "dd_endpoints.h"
#include "dd_engine.h"
#include "dd_events.h"
#include "dd_faults.h"
#include "dd_fs.h"
#include "dd_json.h"
#include "dd_lambda.h"
#include "dd_lambdarun.h"
#include "dd_log.h"
#include "dd_logopts.h"
#include "dd_map.h"
#include "dd_mitigate.h"
#include "dd_outbox.h"
#include "dd_pki.h"
#include "dd_provision.h"
#include "dd_regsync.h"
#include "dd_report.h"
#include "dd_seed.h"
#include "dd_reset.h"
#include "dd_shapes.h"
#include "dd_store.h"
#include "dd_store_service.h"
#include "dd_store_wal.h"
#include "dd_svcmqtt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Registry setting: how many times ddlocald started on this data dir with a seed. */
#define SETTING_SEED_STARTS "seed_starts"

/* A batch the store could not take is tried again after these waits (doubled each time). */
#define HOLD_FIRST_RETRY_MS 250
#define HOLD_MAX_RETRY_MS 2000
#define HOLD_LOG_EVERY_MS 30000

/* Longest registry line of the status feed. */
#define FEED_TEXT DD_CTLAPI_FEED_TEXT
/* How long after the first broker connection a report identical to one stored
 * before the start is taken for a redelivery (dd_ingest.h). */
#define REDELIVERY_GRACE_MS 30000
/* How long a clock advance waits for the shim's flush response (the barrier). */
#define BARRIER_TIMEOUT_MS 10000
/* Correlation ids of the barrier's flush requests: this prefix and a number. */
#define BARRIER_ID_PREFIX "barrier-"

struct dd_service {
    dd_service_config_t cfg;
    dd_pipeline_t p;
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
    dd_ctlapi_t ctl;     /* /ddlocal/v1/: clock, status panel and its feed */
    dd_store_wal_t *wal; /* the WAL checkpointer (dd_store_wal.h) */
    dd_events_t *events; /* GET /ddlocal/v1/events: `ddlocal wait` and `events` */
    dd_map_t groups;     /* thing -> its groups, "\n"-separated (malloc'd): group moves */
    dd_pki_ca_t *ca;     /* signs the certificates of fleet provisioning */
    dd_provision_t prov; /* the device provisioning MQTT API (dd_provision.h) */
    bool prov_ok;
    /* Clock barrier (under p.lock): flush requests sent, and the highest one whose response
     * the worker processed - with every message the broker queued for us before it. */
    uint64_t barrier_sent;
    uint64_t barrier_done;
    pthread_cond_t barrier_cond;
    dd_faults_t faults;      /* /ddlocal/v1/faults: injected faults (in memory only) */
    struct held_entry *late; /* outbox entries a fault holds back (under p.lock) */
};

/* An outbox entry a delay fault holds until @c due_mono_ms (wall). */
typedef struct held_entry {
    struct held_entry *next;
    int64_t due_mono_ms;
    dd_outbox_entry_t *entry;
} held_entry_t;

/* Appends a line to the status feed (lock held). */
static void feed(dd_service_t *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed(dd_service_t *svc, const char *fmt, ...)
{
    char text[DD_CTLAPI_FEED_TEXT];
    char when[DD_LOG_STAMP_MAX];
    size_t n;
    va_list ap;

    /* The same real [pipeline] stamp as the log lines, so the feed and the logs make one timeline. */
    if (dd_log_format_stamp(dd_clock_wall_ms(), &svc->p.clock, when, sizeof(when)) != DD_LOG_OK) {
        when[0] = '\0';
    }
    n = (size_t)snprintf(text, sizeof(text), "%s  ", when);
    va_start(ap, fmt);
    (void)vsnprintf(text + n, sizeof(text) - n, fmt, ap);
    va_end(ap);
    /* The log holds the feed too: with `up --no-status` it is where the events are read. */
    DD_LOG_INFO("event: %s", n < sizeof(text) ? text + n : "");
    (void)dd_ctlapi_feed(&svc->ctl, text);
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

/* ---- the engine's outputs (after the store took them): alert ------------------------------ */

/* One alert's payloads, built at its first target (the topic), queued for every target. */
typedef struct alert_ctx {
    dd_service_t *svc;
    char *message;
    char *event;
    char *notification;
    bool failed;
    char topic[DD_NAME_MAX + 32];
} alert_ctx_t;

/* Queues one target of an alert that app/dd_detect's fan-out chose (lock held). */
static void deliver_alert(void *ctx, const dd_violation_event_t *ev,
                          const dd_detect_alert_target_t *t)
{
    alert_ctx_t *a = ctx;
    dd_service_t *svc = a->svc;
    dd_outbox_status_t st;

    if (t->kind == DD_DETECT_ALERT_TOPIC) {
        int64_t now = dd_clock_now_ms(&svc->p.clock);
        if (dd_alerts_message(ev, &a->message) != DD_ALERTS_OK ||
            dd_alerts_lambda_event(t->topic_arn, a->message, now, &a->event) != DD_ALERTS_OK ||
            dd_alerts_sns_notification(t->topic_arn, a->message, now, &a->notification) !=
                DD_ALERTS_OK) {
            DD_LOG_ERROR("out of memory building an alert");
            a->failed = true;
            return;
        }
        (void)snprintf(a->topic, sizeof(a->topic), "%s%s", DD_ALERTS_TOPIC_PREFIX, t->topic_name);
        if (dd_outbox_publish(&svc->outbox, a->topic, a->event, strlen(a->event), 1) ==
            DD_OUTBOX_OK) {
            svc->alerts_published++;
        }
        return;
    }
    if (a->failed) {
        return;
    }
    if (t->kind == DD_DETECT_ALERT_LAMBDA) {
        char *event = NULL;
        st = DD_OUTBOX_NO_MEMORY;
        if (dd_alerts_lambda_event_for(a->event, t->subscription_id, &event) == DD_ALERTS_OK) {
            st = dd_outbox_lambda(&svc->outbox, t->topic_name, t->endpoint, event);
        }
        free(event);
    } else {
        st = dd_outbox_webhook(&svc->outbox, t->topic_name, t->endpoint, a->notification);
    }
    if (st != DD_OUTBOX_OK) {
        DD_LOG_ERROR("out of memory queueing a delivery to %s", t->endpoint);
    }
}

/* ---- the SNS stand-in for PUBLISH_FINDING_TO_SNS ------------------------------------------- */

typedef struct sns_ctx {
    dd_service_t *svc;
    const char *topic;
    const char *event;
    const char *notification;
    bool failed;
} sns_ctx_t;

/* A Lambda subscription gets its own Lambda event, an HTTP one the notification (as alerts). */
static int sns_subscription(void *ctx, const dd_registry_subscription_t *sub)
{
    sns_ctx_t *c = ctx;
    dd_outbox_status_t st = DD_OUTBOX_NO_MEMORY;
    char *event = NULL;

    if (strcmp(sub->protocol, "lambda") == 0) {
        if (dd_alerts_lambda_event_for(c->event, sub->id, &event) == DD_ALERTS_OK) {
            st = dd_outbox_lambda(&c->svc->outbox, c->topic, sub->endpoint, event);
        }
        free(event);
    } else {
        st = dd_outbox_webhook(&c->svc->outbox, c->topic, sub->endpoint, c->notification);
    }
    c->failed = c->failed || st != DD_OUTBOX_OK;
    return 0;
}

/* The pipeline's publish_sns hook (lock held): the message goes where an alert would. */
static int hook_publish_sns(void *ctx, const char *topic_arn, const char *message, char *msg,
                            size_t msg_len)
{
    dd_service_t *svc = ctx;
    char name[DD_NAME_MAX + 1];
    char topic[DD_NAME_MAX + 32];
    char *event = NULL;
    char *notification = NULL;
    int64_t now = dd_clock_now_ms(&svc->p.clock);
    sns_ctx_t c;
    int rc = DD_MITIGATE_SNS_FAILED;

    if (dd_arn_parse(&svc->p.arn, DD_NAME_SNS_TOPIC, topic_arn, name, sizeof(name)) !=
        DD_NAMES_OK) {
        (void)snprintf(msg, msg_len,
                       "topicArn '%.200s' is not an SNS topic ARN of this account and region "
                       "(arn:aws:sns:%s:%s:NAME)",
                       topic_arn, svc->p.arn.region, svc->p.arn.account);
        return DD_MITIGATE_SNS_INVALID;
    }
    (void)snprintf(topic, sizeof(topic), "%s%s", DD_ALERTS_TOPIC_PREFIX, name);
    if (dd_alerts_lambda_event(topic_arn, message, now, &event) == DD_ALERTS_OK &&
        dd_alerts_sns_notification(topic_arn, message, now, &notification) == DD_ALERTS_OK &&
        dd_outbox_publish(&svc->outbox, topic, event, strlen(event), 1) == DD_OUTBOX_OK) {
        memset(&c, 0, sizeof(c));
        c.svc = svc;
        c.topic = name;
        c.event = event;
        c.notification = notification;
        if (dd_registry_subscription_list(&svc->p.registry, name, sns_subscription, &c) ==
                DD_REGISTRY_OK &&
            !c.failed) {
            rc = 0;
        }
    }
    if (rc != 0) {
        (void)snprintf(msg, msg_len, "The finding could not be queued for %s", topic);
    } else {
        feed(svc, "finding published to %s", topic);
        if (svc->mqtt != NULL) {
            dd_svcmqtt_wake(svc->mqtt); /* the worker sends the outbox now, not at its tick */
        }
    }
    free(event);
    free(notification);
    return rc;
}

/*
 * Delivery faults (lock held): the alert's outbox entries since @p mark (its SNS message,
 * webhooks and Lambdas) are dropped or held back. Returns true when they were dropped.
 */
static bool alert_fault(dd_service_t *svc, const dd_violation_event_t *ev, size_t mark,
                        const char *topic)
{
    int64_t now = dd_clock_now_ms(&svc->p.clock);
    dd_faults_fault_t f;

    if (dd_faults_match(&svc->faults, DD_FAULTS_DROP_DELIVERY, ev->thing, NULL, NULL, now, &f) ==
        DD_FAULTS_OK) {
        dd_outbox_truncate(&svc->outbox, mark);
        dd_events_fault(svc->events, now, f.id, "drop-delivery", ev->thing, "dropped", 0,
                        topic[0] != '\0' ? topic : NULL);
        feed(svc, "fault %" PRIu64 ": dropped the deliveries of an alert of %s", f.id, ev->thing);
        return true;
    }
    if (dd_faults_match(&svc->faults, DD_FAULTS_DELAY_DELIVERY, ev->thing, NULL, NULL, now, &f) ==
        DD_FAULTS_OK) {
        dd_outbox_delay(&svc->outbox, mark, f.delay_ms);
        dd_events_fault(svc->events, now, f.id, "delay-delivery", ev->thing, "delayed", f.delay_ms,
                        topic[0] != '\0' ? topic : NULL);
        feed(svc, "fault %" PRIu64 ": delayed the deliveries of an alert of %s by %" PRId64 " ms",
             f.id, ev->thing, f.delay_ms);
    }
    return false;
}

/* One audit notification's payloads, queued for each subscription of its topic. */
typedef struct audit_note {
    dd_service_t *svc;
    const char *event;        /* the Lambda event */
    const char *notification; /* the SNS HTTP notification */
} audit_note_t;

static int audit_subscription(void *ctx, const dd_registry_subscription_t *sub)
{
    audit_note_t *a = ctx;
    char *event = NULL;
    dd_outbox_status_t st = DD_OUTBOX_NO_MEMORY;

    if (strcmp(sub->protocol, "lambda") == 0) {
        if (dd_alerts_lambda_event_for(a->event, sub->id, &event) == DD_ALERTS_OK) {
            st = dd_outbox_lambda(&a->svc->outbox, sub->topic, sub->endpoint, event);
        }
        free(event);
    } else {
        st = dd_outbox_webhook(&a->svc->outbox, sub->topic, sub->endpoint, a->notification);
    }
    if (st != DD_OUTBOX_OK) {
        DD_LOG_ERROR("out of memory queueing an audit notification to %s", sub->endpoint);
    }
    return 0;
}

/*
 * An audit task finished (lock held; from the API's thread or the tick): AWS's audit
 * notification goes to the SNS stand-in's topic of the enabled SNS target as Detect's alerts
 * do (ddlocal/sns/NAME, and the topic's webhook and Lambda subscriptions, after the worker's
 * next drain), and an "audit" event to the stream.
 */
static void audit_done(void *ctx, const dd_auditor_notice_t *n)
{
    dd_service_t *svc = ctx;
    const char *name = n->topic_arn != NULL ? strrchr(n->topic_arn, ':') : NULL;
    char topic[DD_NAME_MAX + 32];
    char *event = NULL;
    char *notification = NULL;
    cJSON *fields = cJSON_Duplicate(n->summary, true);
    bool published = false;

    if (name != NULL && dd_name_valid(DD_NAME_SNS_TOPIC, name + 1)) {
        audit_note_t note = {svc, NULL, NULL};
        (void)snprintf(topic, sizeof(topic), "%s%s", DD_ALERTS_TOPIC_PREFIX, name + 1);
        if (dd_alerts_lambda_event(n->topic_arn, n->message, n->time_ms, &event) != DD_ALERTS_OK ||
            dd_alerts_sns_notification(n->topic_arn, n->message, n->time_ms, &notification) !=
                DD_ALERTS_OK ||
            dd_outbox_publish(&svc->outbox, topic, event, strlen(event), 1) != DD_OUTBOX_OK) {
            DD_LOG_ERROR("audit %s: the notification to %s could not be queued", n->task_id, topic);
        } else {
            published = true;
            note.event = event;
            note.notification = notification;
            (void)dd_registry_subscription_list(&svc->p.registry, name + 1, audit_subscription,
                                                &note);
        }
        free(event);
        free(notification);
    } else if (n->topic_arn != NULL) {
        DD_LOG_WARN("audit %s: %s is not an SNS topic ARN ddlocal can publish to", n->task_id,
                    n->topic_arn);
    }
    /* The body the topic's subscribers got, for readers of the log (the console's Alerts). */
    if (published && fields != NULL && n->message != NULL) {
        (void)cJSON_AddStringToObject(fields, "message", n->message);
    }
    (void)dd_events_add(svc->events, n->time_ms, "audit", fields);
    feed(svc, "audit: task %s finished", n->task_id);
}

static void alert(dd_service_t *svc, const dd_violation_event_t *ev)
{
    alert_ctx_t a;
    dd_detect_t d;
    size_t mark = dd_outbox_mark(&svc->outbox);
    uint64_t published = svc->alerts_published;

    memset(&a, 0, sizeof(a));
    a.svc = svc;
    dd_pipeline_detect(&svc->p, &d);
    (void)dd_detect_alert_fanout(&d, ev, deliver_alert, &a);
    if (!a.failed && dd_outbox_mark(&svc->outbox) > mark && alert_fault(svc, ev, mark, a.topic)) {
        svc->alerts_published = published; /* nothing left */
        a.topic[0] = '\0';
    }
    if (!a.failed && a.topic[0] != '\0') {
        dd_events_alert(svc->events, dd_clock_now_ms(&svc->p.clock), dd_alarm_event_name(ev->type),
                        ev->thing, ev->profile, ev->behavior->name, a.topic, a.message);
        DD_LOG_INFO("alert: %s %s %s/%s -> %s", dd_alarm_event_name(ev->type), ev->thing,
                    ev->profile, ev->behavior->name, a.topic);
    }
    free(a.message);
    free(a.event);
    free(a.notification);
}

static void sink_violation_event(void *ctx, const dd_violation_event_t *ev)
{
    dd_service_t *svc = ctx;

    svc->violation_events++;
    dd_events_violation(svc->events, ev->time_ms, dd_alarm_event_name(ev->type), ev->thing,
                        ev->profile, ev->behavior->name,
                        ev->has_value ? dd_shapes_metric_value(&ev->value) : NULL, ev->suppressed);
    if (ev->has_value && ev->type != DD_ALARM_INVALIDATED) {
        cJSON *value = dd_shapes_metric_value(&ev->value);
        char *text = value != NULL ? cJSON_PrintUnformatted(value) : NULL;
        feed(svc, "%s %s: %s/%s value %s%s", dd_alarm_event_name(ev->type), ev->thing, ev->profile,
             ev->behavior->name, text != NULL ? text : "?", ev->suppressed ? " (suppressed)" : "");
        cJSON_free(text);
        cJSON_Delete(value);
    } else {
        feed(svc, "%s %s: %s/%s%s", dd_alarm_event_name(ev->type), ev->thing, ev->profile,
             ev->behavior->name, ev->suppressed ? " (suppressed)" : "");
    }
    alert(svc, ev); /* dd_detect_alert_fanout() decides: nothing for suppressAlerts */
}

static void sink_metric_value(void *ctx, const dd_metric_datum_t *datum)
{
    dd_service_t *svc = ctx;

    dd_events_datapoint(svc->events, datum->time_ms, datum->thing, datum->metric,
                        dd_shapes_metric_value(&datum->value));
}

/* "a\nb\n" has the line @p name. */
static bool has_line(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && p[n] == '\n') {
            return true;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

/* Emits a group event for each line of @p a missing from @p b. */
static void group_diff(dd_service_t *svc, const char *thing, const char *a, const char *b,
                       bool added)
{
    const char *p = a;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '\n');
        char name[DD_EVENTS_NAME_MAX + 1];
        if (end == NULL) {
            break;
        }
        (void)snprintf(name, sizeof(name), "%.*s", (int)(end - p), p);
        if (!has_line(b, name)) {
            dd_events_group(svc->events, dd_clock_now_ms(&svc->p.clock), thing, name, added);
        }
        p = end + 1;
    }
}

static int list_group(void *ctx, const char *name)
{
    char *list = ctx;
    size_t n = strlen(list);

    (void)snprintf(list + n, FEED_TEXT - n, "%s\n", name);
    return 0;
}

/*
 * Group moves for the event log: the registry tells which thing changed, not
 * how, so the groups seen last time are compared with the groups now. A
 * thing not seen since the start counts as in no group: its first change
 * after a restart reports its groups as added (a wait for a quarantine is
 * then satisfied by one that already holds, never missed).
 */
static void track_groups(dd_service_t *svc, const char *thing, bool exists)
{
    char now[FEED_TEXT] = "";
    char *before = dd_map_get(&svc->groups, thing);
    char *copy;

    if (exists) {
        (void)dd_registry_thing_groups(&svc->p.registry, thing, NULL, list_group, now, NULL, 0,
                                       NULL);
    }
    group_diff(svc, thing, before != NULL ? before : "", now, false);
    group_diff(svc, thing, now, before != NULL ? before : "", true);
    copy = exists ? strdup(now) : NULL;
    if (copy != NULL && dd_map_put(&svc->groups, thing, copy, (void **)&before) == DD_MAP_OK) {
        free(before);
    } else {
        free(copy);
        if (dd_map_remove(&svc->groups, thing, (void **)&before) == DD_MAP_OK) {
            free(before);
        }
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
    bool exists = dd_registry_thing_exists(&svc->p.registry, thing);

    track_groups(svc, thing, exists);
    if (!exists) {
        feed(svc, "registry: thing %s deleted", thing);
        return;
    }
    (void)dd_registry_thing_groups(&svc->p.registry, thing, NULL, join_group, groups, NULL, 0,
                                   NULL);
    feed(svc, "registry: %s is in thing groups [%s]", thing, groups);
}

/* ---- ddlocal's own HTTP operations (/ddlocal/v1/...: dd_ctlapi) ---------------------------- */

static void tick(dd_service_t *svc);

/*
 * The barrier of POST /ddlocal/v1/clock (lock not held): asks the shim to
 * publish its metering batch and answer. The broker queues the batch, then
 * the response, for this session behind every report it routed to us before;
 * the worker processes messages in order and signals once it committed the
 * batch holding the response (barrier_seen()), so by then everything the
 * broker accepted before this call is counted.
 */
static int ctl_barrier(void *ctx, char *why, size_t why_len)
{
    dd_service_t *svc = ctx;
    struct timespec deadline;
    char id[40];
    char *payload = NULL;
    size_t len = 0;
    uint64_t want;
    int rc = 0;

    if (!dd_svcmqtt_connected(svc->mqtt)) {
        (void)snprintf(why, why_len, "ddlocald is not connected to the broker");
        return -1;
    }
    pthread_mutex_lock(&svc->p.lock);
    want = ++svc->barrier_sent;
    pthread_mutex_unlock(&svc->p.lock);
    (void)snprintf(id, sizeof(id), BARRIER_ID_PREFIX "%" PRIu64, want);
    if (dd_control_encode_flush(id, &payload, &len) != DD_CONTROL_OK ||
        dd_svcmqtt_publish(svc->mqtt, DD_CONTROL_TOPIC_FLUSH, payload, len, 1, false) !=
            DD_SVCMQTT_OK) {
        free(payload);
        (void)snprintf(why, why_len, "the flush request could not be sent to the broker");
        return -1;
    }
    free(payload);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += BARRIER_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&svc->p.lock);
    while (svc->barrier_done < want && rc == 0) {
        rc = pthread_cond_timedwait(&svc->barrier_cond, &svc->p.lock, &deadline);
    }
    rc = svc->barrier_done >= want ? 0 : -1;
    pthread_mutex_unlock(&svc->p.lock);
    if (rc != 0) {
        (void)snprintf(why, why_len,
                       "the broker shim did not answer the flush request within %d ms, or the "
                       "store cannot write",
                       BARRIER_TIMEOUT_MS);
    }
    return rc;
}

/* The worker committed @p msgs (lock held): wake the advances whose flush response is in them. */
static void barrier_seen(dd_service_t *svc, const dd_svcmqtt_msg_t *msgs)
{
    const dd_svcmqtt_msg_t *m;
    uint64_t done = svc->barrier_done;

    for (m = msgs; m != NULL; m = m->next) {
        char id[DD_CONTROL_ID_MAX + 1];
        bool ok = false;
        char *end = NULL;
        uint64_t n;

        if (strcmp(m->topic, DD_CONTROL_TOPIC_RESPONSE) != 0 ||
            dd_control_decode_response(m->payload, m->len, id, &ok, NULL, 0) != DD_CONTROL_OK ||
            strncmp(id, BARRIER_ID_PREFIX, strlen(BARRIER_ID_PREFIX)) != 0) {
            continue;
        }
        /* A refused flush still ends the barrier: the shim published what it could. */
        n = strtoull(id + strlen(BARRIER_ID_PREFIX), &end, 10);
        if (end != NULL && *end == '\0' && n > done && n <= svc->barrier_sent) {
            done = n;
        }
    }
    if (done != svc->barrier_done) {
        svc->barrier_done = done;
        pthread_cond_broadcast(&svc->barrier_cond);
    }
}

/* POST /ddlocal/v1/clock moved the manual clock (lock held): evaluate before the answer. */
static void ctl_advanced(void *ctx)
{
    dd_service_t *svc = ctx;

    /* The shim stamps metering with the same clock. */
    if (svc->mqtt != NULL && dd_svcmqtt_connected(svc->mqtt)) {
        (void)dd_regsync_clock(&svc->regsync, &svc->p, svc->mqtt);
    }
    tick(svc);
    svc->last_tick_mono_ms = dd_clock_mono_ms();
}

/*
 * POST /ddlocal/v1/clock {"scale":X} changed the clock's rate (lock held). The new anchor
 * starts at the pipeline time of the change, so nothing already evaluated moves; what must
 * follow is everyone else who computes pipeline time: the shim (it stamps metering), the
 * device programs and `ddlocal up` (endpoints.json: `up` restarts ddlocald on that spec, so a
 * restart keeps the new anchor and time stays monotonic), and the readers of the event log.
 */
static void ctl_rescaled(void *ctx, double old_scale, int64_t at_ms)
{
    dd_service_t *svc = ctx;
    char spec[DD_CLOCK_SPEC_MAX];
    dd_endpoints_status_t es;
    double scale = dd_clock_scale(&svc->p.clock);
    cJSON *fields;

    if (dd_clock_format(&svc->p.clock, spec, sizeof(spec)) != DD_CLOCK_OK) {
        spec[0] = '\0';
    }
    /* Not connected: the next full sync after the reconnect sends the clock too. */
    if (svc->mqtt != NULL && dd_svcmqtt_connected(svc->mqtt) &&
        dd_regsync_clock(&svc->regsync, &svc->p, svc->mqtt) != DD_REGSYNC_OK) {
        DD_LOG_WARN("the broker shim did not acknowledge the new clock %s; it gets it at the "
                    "next registry sync",
                    spec);
    }
    es = dd_endpoints_set_clock(svc->cfg.data_dir, spec);
    if (es != DD_ENDPOINTS_OK && es != DD_ENDPOINTS_NOT_RUNNING) {
        DD_LOG_WARN("endpoints.json keeps the old clock: %s", dd_endpoints_strerror(es));
    }
    fields = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(fields, "mode",
                                  dd_clock_mode(&svc->p.clock) == DD_CLOCK_SCALED ? "scaled"
                                                                                  : "real");
    (void)cJSON_AddNumberToObject(fields, "scale", scale);
    (void)cJSON_AddNumberToObject(fields, "previousScale", old_scale);
    (void)cJSON_AddStringToObject(fields, "spec", spec);
    (void)dd_events_add(svc->events, at_ms, "clock", fields);
    feed(svc, "clock: scale x%g (was x%g)", scale, old_scale);
}

static void ctl_wake(void *ctx)
{
    dd_service_t *svc = ctx;

    dd_svcmqtt_wake(svc->mqtt); /* send what the tick produced now */
}

static void reload_engine(dd_service_t *svc);
static void hook_registry_changed(void *ctx);
static void drop_late(dd_service_t *svc);

/* POST /ddlocal/v1/reset (lock held): the store and registry in one transaction, then the
 * engine from the store and the shim from the change log. */
static int ctl_reset(void *ctx, unsigned kinds, char *why, size_t why_len)
{
    dd_service_t *svc = ctx;
    dd_reset_status_t st = dd_reset_run(&svc->p.registry, svc->p.store, kinds);

    if (st != DD_RESET_OK) {
        (void)snprintf(why, why_len, "%s", dd_reset_strerror(st));
        return -1;
    }
    reload_engine(svc);
    if ((kinds & (DD_RESET_REGISTRY | DD_RESET_METRICS)) != 0) {
        dd_ingest_forget_things(&svc->ingest); /* a thing starts again: no throttle, any id */
    }
    if ((kinds & DD_RESET_REGISTRY) != 0) {
        if (svc->prov_ok) {
            dd_provision_forget_tokens(&svc->prov); /* their certificates are gone */
        }
        hook_registry_changed(svc);
    }
    if (kinds == DD_RESET_ALL) {
        /* Everything: a test never inherits the faults, nor the late replies, of the one before. */
        dd_faults_init(&svc->faults);
        drop_late(svc);
    }
    feed(svc, "reset: %s%s%s%s%s%s", (kinds & DD_RESET_REGISTRY) != 0 ? "registry " : "",
         (kinds & DD_RESET_PROFILES) != 0 ? "profiles " : "",
         (kinds & DD_RESET_VIOLATIONS) != 0 ? "violations " : "",
         (kinds & DD_RESET_METRICS) != 0 ? "metrics " : "",
         (kinds & DD_RESET_MITIGATION) != 0 ? "mitigation " : "",
         (kinds & DD_RESET_AUDIT) != 0 ? "audit" : "");
    /* `ddlocal wait` counts events from the last reset on: a test never sees the one before. */
    (void)dd_events_add(svc->events, dd_clock_now_ms(&svc->p.clock), "reset", NULL);
    return 0;
}

/* POST /ddlocal/v1/snapshot and /restore (lock held): DATA_DIR/snapshots/NAME.db. On success
 * @p why receives the file's path. */
static int ctl_snapshot(void *ctx, const char *name, bool restore, char *why, size_t why_len)
{
    dd_service_t *svc = ctx;
    char dir[700];
    char path[900];
    const char *err = "";
    dd_store_status_t st;

    (void)snprintf(dir, sizeof(dir), "%s/snapshots", svc->cfg.data_dir);
    (void)snprintf(path, sizeof(path), "%s/%s.db", dir, name);
    if (!restore) {
        if (dd_fs_mkdirs(dir, 0700) != DD_FS_OK) {
            (void)snprintf(why, why_len, "cannot create %s", dir);
            return 500;
        }
        st = dd_store_backup_save(svc->p.store, path);
    } else {
        if (!dd_fs_exists(path)) {
            (void)snprintf(why, why_len, "No snapshot named %s (%s)", name, path);
            return 404;
        }
        st = dd_store_backup_load(svc->p.store, path);
    }
    if (st != DD_STORE_OK) {
        (void)dd_store_last_error(svc->p.store, &err);
        (void)snprintf(why, why_len, "%s %s failed: %s", restore ? "restoring" : "saving", path,
                       err);
        if (restore) {
            reload_engine(svc); /* whatever the database holds now */
        }
        return 500;
    }
    if (restore) {
        /* Everything in memory follows the restored database: engine, ingest, the shim. */
        reload_engine(svc);
        dd_ingest_forget_things(&svc->ingest);
        svc->broker_synced = svc->mqtt != NULL && dd_svcmqtt_connected(svc->mqtt) &&
                             dd_regsync_full(&svc->regsync, &svc->p, svc->mqtt) == DD_REGSYNC_OK;
        svc->regsync.data_version = 0;
    }
    feed(svc, "%s %s", restore ? "restored snapshot" : "saved snapshot", name);
    (void)snprintf(why, why_len, "%s", path);
    return 200;
}

/* GET /ddlocal/v1/status (lock held). */
static void ctl_counters(void *ctx, dd_ctlapi_counters_t *out)
{
    dd_service_t *svc = ctx;
    int64_t active = 0;

    (void)dd_store_active_violation_count(svc->p.store, &active);
    out->broker_connected = dd_svcmqtt_connected(svc->mqtt);
    out->connected_clients = (uint64_t)svc->ingest.stats.connected_things;
    out->reports_accepted = svc->ingest.stats.reports_accepted;
    out->reports_rejected = svc->ingest.stats.reports_rejected;
    out->metering_batches = svc->ingest.stats.metering_batches;
    out->active_violations = active;
    out->violation_events = svc->violation_events;
    out->alerts_published = svc->alerts_published;
    out->webhooks_given_up = svc->webhooks_given_up;
    out->store_writable = svc->held_since_mono_ms == 0;
    out->messages_held = svc->held_count;
    out->store_stalls = svc->store_stalls;
    out->store_error = svc->store_error;
}

static int add_connection(void *ctx, const dd_store_connection_t *conn)
{
    cJSON *o = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(o, "thing", conn->thing);
    (void)cJSON_AddStringToObject(o, "clientId", conn->client_id);
    (void)cJSON_AddNumberToObject(o, "connectedAt", (double)conn->connect_ms);
    (void)cJSON_AddStringToObject(o, "sourceIp", conn->source_ip);
    (void)cJSON_AddItemToArray(ctx, o);
    return 0;
}

/* GET /ddlocal/v1/connections (lock held): the connection history's open connections, the
 * state the shim metered (the console's Things list). */
static int ctl_connections(void *ctx, cJSON *out)
{
    dd_service_t *svc = ctx;
    int64_t now = dd_clock_now_ms(&svc->p.clock);

    return dd_store_connections_list(svc->p.store, now, now, DD_STORE_CONN_BY_CLIENT,
                                     add_connection, out) == DD_STORE_OK
               ? 0
               : 1;
}

static int hook_extension(void *ctx, const char *method, const char *path, const char *body,
                          size_t body_len, char **response)
{
    dd_service_t *svc = ctx;
    int status = 500;

    if (dd_ctlapi_handle(&svc->ctl, method, path, body, body_len, &status, response) !=
        DD_CTLAPI_OK) {
        *response = NULL; /* out of memory: the API answers with its own error */
    }
    return status;
}

/* The event stream and long-poll: the API serves a dd_events reader, suspended while it is idle. */
static int hook_stream_open(void *ctx, const char *method, const char *target, void **stream,
                            const char **content_type, char **response)
{
    dd_service_t *svc = ctx;
    dd_events_reader_t *reader = NULL;
    int status = dd_ctlapi_stream_open(&svc->ctl, method, target, &reader, content_type, response);

    *stream = reader;
    return status;
}

static long hook_stream_read(void *stream, char *buf, size_t max)
{
    return dd_events_reader_read(stream, buf, max);
}

static void hook_stream_notify(void *stream, void (*ready)(void *arg), void *arg)
{
    dd_events_reader_notify(stream, ready, arg);
}

static void hook_stream_close(void *stream)
{
    dd_events_reader_close(stream);
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

/* POST /ddlocal/v1/sync (lock held): a CLI command's registry writes reach the shim now. */
static int ctl_registry_sync(void *ctx, char *why, size_t why_len)
{
    dd_service_t *svc = ctx;

    if (svc->mqtt == NULL || !svc->broker_synced || !dd_svcmqtt_connected(svc->mqtt)) {
        (void)snprintf(why, why_len, "ddlocald is not connected to the broker");
        return -1;
    }
    (void)dd_regsync_external_change(&svc->regsync, &svc->p);
    svc->regsync_pending =
        dd_regsync_push(&svc->regsync, &svc->p, svc->mqtt, NULL) != DD_REGSYNC_OK;
    if (svc->regsync_pending) {
        (void)snprintf(why, why_len, "the broker shim did not acknowledge the registry changes");
        return -1;
    }
    return 0;
}

/*
 * GET /ddlocal/v1/datapoints (lock NOT held): the replay of the stored history may take seconds,
 * so it runs on a database connection of its own (WAL: a consistent snapshot while the pipeline
 * writes) instead of the pipeline's, without the pipeline lock.
 */
static int ctl_datapoints(void *ctx, const dd_datapoints_query_t *q, char **rows, char **stats,
                          char *why, size_t why_len)
{
    dd_service_t *svc = ctx;
    dd_datapoints_status_t st = DD_DATAPOINTS_STORE_ERROR;
    dd_registry_t reg;
    dd_clock_t wall;
    dd_store_t *store = NULL;
    sqlite3 *db = NULL;
    size_t rows_len = 0;
    size_t stats_len = 0;
    FILE *rf = open_memstream(rows, &rows_len);
    FILE *sf = open_memstream(stats, &stats_len);
    char path[700];

    (void)snprintf(path, sizeof(path), "%s/%s", svc->cfg.data_dir, DD_DB_FILE_NAME);
    (void)dd_clock_init_real(&wall);
    if (rf != NULL && sf != NULL && dd_db_open(path, false, &db) == DD_DB_OK &&
        dd_registry_open(&reg, db, &svc->p.arn, &wall) == DD_REGISTRY_OK &&
        dd_store_open(db, &svc->p.arn, &store) == DD_STORE_OK) {
        st = dd_datapoints_run(store, &reg, q, rf, sf, why, why_len);
    } else if (why[0] == '\0') {
        (void)snprintf(why, why_len, "cannot open %s", path);
    }
    dd_store_close(store);
    dd_db_close(db);
    if (rf != NULL) {
        (void)fclose(rf);
    }
    if (sf != NULL) {
        (void)fclose(sf);
    }
    if (st != DD_DATAPOINTS_OK && why[0] == '\0') {
        (void)snprintf(why, why_len, "%s", dd_datapoints_strerror(st));
    }
    return st == DD_DATAPOINTS_OK ? 200 : st == DD_DATAPOINTS_NOT_FOUND ? 404 : 500;
}

static void hook_defender_changed(void *ctx)
{
    (void)ctx; /* the engine was updated by the caller; nothing is cached here */
}

/* A mitigation task is about to run an action (lock held): a fail-mitigation fault fails it. */
static bool hook_mitigation_fault(void *ctx, const char *thing, const char *action_name,
                                  const char *action_type, char *code, size_t code_len,
                                  char *message, size_t message_len)
{
    dd_service_t *svc = ctx;
    int64_t now = dd_clock_now_ms(&svc->p.clock);
    dd_faults_fault_t f;

    if (dd_faults_match(&svc->faults, DD_FAULTS_FAIL_MITIGATION, thing, action_name, action_type,
                        now, &f) != DD_FAULTS_OK) {
        return false;
    }
    (void)snprintf(code, code_len, "%s", f.error_code);
    (void)snprintf(message, message_len, "%s", f.message);
    dd_events_fault(svc->events, now, f.id, "fail-mitigation", thing, "failed", 0, action_name);
    feed(svc, "fault %" PRIu64 ": mitigation action %s on %s FAILED (%s)", f.id, action_name,
         thing != NULL ? thing : "-", f.error_code);
    return true;
}

/* ---- webhook dead letters -------------------------------------------------------------------- */

static void dead_letter(void *ctx, const char *topic, const char *endpoint, const char *body,
                        int attempts, const char *last_error)
{
    dd_service_t *svc = ctx;
    dd_store_dead_letter_t letter = {topic, endpoint, body, attempts, last_error, 0};

    pthread_mutex_lock(&svc->p.lock);
    letter.time_ms = dd_clock_now_ms(&svc->p.clock);
    (void)dd_store_service_dead_letter_add(svc->p.db, &letter); /* a failure is logged */
    /* The deliverer logged the give-up; `ddlocal up` shows the feed and the count. */
    svc->webhooks_given_up++;
    dd_events_delivery(svc->events, letter.time_ms,
                       strncmp(endpoint, "arn:", 4) == 0 ? "lambda" : "webhook", topic, endpoint,
                       false, attempts, last_error);
    feed(svc, "webhook %s: GAVE UP after %d attempt(s): %s", endpoint, attempts, last_error);
    pthread_mutex_unlock(&svc->p.lock);
}

/* On a deliverer's thread: a webhook POST or a Lambda invocation succeeded. */
static void delivered(void *ctx, const char *label, const char *topic, const char *endpoint,
                      int attempts)
{
    dd_service_t *svc = ctx;
    int64_t now;

    pthread_mutex_lock(&svc->p.lock); /* the manual clock moves under it */
    now = dd_clock_now_ms(&svc->p.clock);
    pthread_mutex_unlock(&svc->p.lock);
    dd_events_delivery(svc->events, now, label != NULL ? label : "webhook", topic, endpoint, true,
                       attempts, NULL);
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
    if (dd_clock_mode(&svc->p.clock) != DD_CLOCK_REAL) {
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

/*
 * After a rolled-back transaction the engine remembers what was never
 * committed (windows, alarms of the lost batch): start again from the store.
 * If even that fails the old engine stays, and the log says so.
 */
static void reload_engine(dd_service_t *svc)
{
    size_t mark = dd_outbox_mark(&svc->outbox);

    if (dd_pipeline_reload_engine(&svc->p) != DD_PIPELINE_OK) {
        DD_LOG_ERROR(
            "cannot reload the evaluator state; it may hold uncommitted changes until a restart");
        return;
    }
    dd_outbox_truncate(&svc->outbox, mark); /* loading announces nothing new */
    DD_LOG_INFO("evaluator state reloaded from the store");
}

/*
 * With a seed, every id, key and certificate this process makes comes from dd_seed (the
 * process-wide stand-in for the CSPRNG), set here before any thread that draws exists. The
 * scope counts the seeded starts of this data dir: a fresh data dir always starts at
 * "ddlocald.0" (two runs, the same ids), and a resumed one does not draw the ids of its first
 * start again (they are in its registry already).
 */
static dd_service_status_t seed_ids(dd_service_t *svc)
{
    char *text = NULL;
    char scope[32];
    char next[24];
    char seed[24];
    unsigned long long starts = 0;

    if (dd_registry_setting_get(&svc->p.registry, SETTING_SEED_STARTS, &text) != DD_REGISTRY_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    if (text != NULL) {
        starts = strtoull(text, NULL, 10);
        free(text);
    }
    (void)snprintf(scope, sizeof(scope), "ddlocald.%llu", starts);
    (void)snprintf(next, sizeof(next), "%llu", starts + 1);
    (void)snprintf(seed, sizeof(seed), "%llu", (unsigned long long)svc->cfg.id_seed);
    if (dd_registry_setting_set(&svc->p.registry, SETTING_SEED_STARTS, next) != DD_REGISTRY_OK ||
        dd_registry_setting_set(&svc->p.registry, DD_SEED_SETTING, seed) != DD_REGISTRY_OK ||
        dd_seed_set(svc->cfg.id_seed, scope) != DD_SEED_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    DD_LOG_INFO("ids, keys and certificates from seed %llu (%s)",
                (unsigned long long)svc->cfg.id_seed, scope);
    return DD_SERVICE_OK;
}

/* A start without a seed: the CLI stops following the last seeded start's seed. Nothing is
 * written when there was none, so a data dir never run with a seed stays as it was. */
static dd_service_status_t unseed_cli(dd_service_t *svc)
{
    char *text = NULL;
    bool had;

    if (dd_registry_setting_get(&svc->p.registry, DD_SEED_SETTING, &text) != DD_REGISTRY_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    had = text != NULL && text[0] != '\0';
    free(text);
    if (had && dd_registry_setting_set(&svc->p.registry, DD_SEED_SETTING, "") != DD_REGISTRY_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    return DD_SERVICE_OK;
}

static dd_service_status_t open_pipeline(dd_service_t *svc)
{
    dd_pipeline_config_t pcfg;
    dd_pipeline_status_t pst;

    dd_pipeline_config_default(&pcfg);
    (void)snprintf(pcfg.data_dir, sizeof(pcfg.data_dir), "%s", svc->cfg.data_dir);
    (void)snprintf(pcfg.clock_spec, sizeof(pcfg.clock_spec), "%s", svc->cfg.clock_spec);
    (void)snprintf(pcfg.mqtt_endpoint, sizeof(pcfg.mqtt_endpoint), "%s:%u", svc->cfg.broker_host,
                   (unsigned)svc->cfg.broker_port);
    pcfg.arn = svc->cfg.arn;
    pcfg.arn_explicit = svc->cfg.arn_explicit;
    /* A seed given: two runs with the same inputs get the same violation ids. */
    pcfg.id_seed = svc->cfg.id_seed_set ? svc->cfg.id_seed
                                        : (uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    pcfg.events.ctx = svc;
    pcfg.events.violation_event = sink_violation_event;
    pcfg.events.metric_value = sink_metric_value;
    pst = dd_pipeline_open(&pcfg, &svc->p);
    if (pst != DD_PIPELINE_OK) {
        return pst == DD_PIPELINE_BAD_CLOCK   ? DD_SERVICE_BAD_PARAMETER
               : pst == DD_PIPELINE_NO_MEMORY ? DD_SERVICE_NO_MEMORY
                                              : DD_SERVICE_DB_ERROR;
    }
    svc->cfg.arn = svc->p.arn;
    if (svc->cfg.id_seed_set ? seed_ids(svc) != DD_SERVICE_OK : unseed_cli(svc) != DD_SERVICE_OK) {
        return DD_SERVICE_DB_ERROR;
    }
    /* Stored AWS IoT logging options outrank --log-level (dd_logopts.h). */
    if (dd_logopts_apply(&svc->p.registry) != DD_LOGOPTS_OK) {
        DD_LOG_WARN("cannot read the stored logging options: keeping the --log-level level");
    }
    (void)snprintf(svc->p.console_dir, sizeof(svc->p.console_dir), "%s", svc->cfg.console_dir);
    if (dd_store_service_open(svc->p.db) != DD_STORE_OK ||
        dd_lambda_open(svc->p.db) != DD_LAMBDA_OK) {
        DD_LOG_ERROR("cannot open the database %s/%s", svc->cfg.data_dir, DD_DB_FILE_NAME);
        return DD_SERVICE_DB_ERROR;
    }
    if (dd_ingest_expect_redeliveries(&svc->ingest, svc->p.store) != DD_INGEST_OK) {
        DD_LOG_WARN(
            "cannot read the last stored reports: a redelivery after a crash may count twice");
    }
    dd_outbox_entries_free(dd_outbox_take(&svc->outbox)); /* alerts of the past are not re-sent */
    svc->p.hook_ctx = svc;
    dd_auditor_set_notify(svc->p.auditor, audit_done, svc);
    svc->p.registry_changed = hook_registry_changed;
    svc->p.defender_changed = hook_defender_changed;
    svc->p.publish_sns = hook_publish_sns;
    svc->p.mitigation_fault = hook_mitigation_fault;
    svc->p.extension = hook_extension;
    svc->p.stream_open = hook_stream_open;
    svc->p.stream_read = hook_stream_read;
    svc->p.stream_notify = hook_stream_notify;
    svc->p.stream_close = hook_stream_close;
    svc->ctl.lock = &svc->p.lock;
    svc->ctl.clock = &svc->p.clock;
    svc->ctl.ctx = svc;
    svc->ctl.barrier = ctl_barrier;
    svc->ctl.reset = ctl_reset;
    svc->ctl.registry_sync = ctl_registry_sync;
    svc->ctl.datapoints = ctl_datapoints;
    svc->ctl.snapshot = ctl_snapshot;
    svc->ctl.advanced = ctl_advanced;
    svc->ctl.rescaled = ctl_rescaled;
    svc->ctl.counters = ctl_counters;
    svc->ctl.connections = ctl_connections;
    svc->ctl.wake = ctl_wake;
    svc->ctl.events = svc->events;
    svc->ctl.faults = &svc->faults;
    svc->regsync.thing_pushed = thing_pushed;
    svc->regsync.thing_pushed_ctx = svc;
    return DD_SERVICE_OK;
}

/* ---- fleet provisioning ------------------------------------------------------------------ */

static dd_service_status_t start_provisioning(dd_service_t *svc)
{
    dd_provision_config_t pc;

    if (dd_pki_ca_ensure(svc->cfg.data_dir, &svc->ca) != DD_PKI_OK) {
        DD_LOG_ERROR("cannot load the CA of %s (run `ddlocal init`)", svc->cfg.data_dir);
        return DD_SERVICE_PKI_ERROR;
    }
    memset(&pc, 0, sizeof(pc));
    pc.registry = &svc->p.registry;
    pc.store = svc->p.store;
    pc.ca = svc->ca;
    pc.clock = &svc->p.clock;
    pc.key_type = DD_PKI_KEY_RSA2048;
    if (dd_provision_init(&svc->prov, &pc) != DD_PROVISION_OK) {
        return DD_SERVICE_BAD_PARAMETER;
    }
    svc->prov_ok = true;
    return DD_SERVICE_OK;
}

/* The request a renamed provisioning message carries, or NULL. */
static const char *provisioning_request(const dd_svcmqtt_msg_t *m, char *client_id, size_t len)
{
    const char *request;

    return dd_control_prov_unwrap(DD_CONTROL_PROV_REQUEST_PREFIX, m->topic, client_id, len,
                                  &request) == DD_CONTROL_OK
               ? request
               : NULL;
}

/*
 * CreateKeysAndCertificate's RSA keys of a batch, made before the pipeline lock is taken
 * (each takes tens to hundreds of ms; meanwhile reports and the API go on): one slot per
 * message, empty for the others. NULL when the batch has none (or no memory: then
 * dd_provision makes them under the lock).
 */
static dd_pki_credentials_t *premake_keys(dd_service_t *svc, const dd_svcmqtt_msg_t *msgs, size_t n)
{
    dd_pki_credentials_t *keys = NULL;
    const dd_svcmqtt_msg_t *m;
    size_t i;

    for (m = msgs, i = 0; m != NULL && i < n; m = m->next, i++) {
        char client_id[DD_CONTROL_PROV_CLIENT_ID_MAX + 1];

        if (!dd_provision_wants_key(provisioning_request(m, client_id, sizeof(client_id)))) {
            continue;
        }
        if (keys == NULL && (keys = calloc(n, sizeof(*keys))) == NULL) {
            return NULL;
        }
        (void)dd_pki_issue_device(svc->ca, DD_PKI_KEY_RSA2048, &keys[i]);
    }
    return keys;
}

static void free_keys(dd_pki_credentials_t *keys, size_t n)
{
    size_t i;

    for (i = 0; keys != NULL && i < n; i++) {
        dd_pki_credentials_free(&keys[i]);
    }
    free(keys);
}

/*
 * Answers the device provisioning requests of a batch (lock held, after the batch's
 * own transaction). Each came renamed by the shim with the asking client's id; the
 * reply goes back renamed too, and the shim delivers it to that client alone. A
 * request that changed the registry is pushed to the shim before its reply leaves, so
 * the device's next CONNECT with the new certificate is known.
 */
static void provision_batch(dd_service_t *svc, const dd_svcmqtt_msg_t *msgs,
                            dd_pki_credentials_t *keys)
{
    const dd_svcmqtt_msg_t *m;
    size_t i;

    for (m = msgs, i = 0; m != NULL; m = m->next, i++) {
        char client_id[DD_CONTROL_PROV_CLIENT_ID_MAX + 1];
        char topic[DD_PROVISION_TOPIC_MAX + 2 * DD_CONTROL_PROV_CLIENT_ID_MAX + 64];
        const char *request = provisioning_request(m, client_id, sizeof(client_id));
        dd_provision_reply_t reply;

        if (request == NULL ||
            dd_provision_handle_keyed(&svc->prov, request, m->payload, m->len,
                                      keys != NULL ? &keys[i] : NULL, &reply) != DD_PROVISION_OK) {
            continue;
        }
        if (reply.registry_changed) {
            hook_registry_changed(svc);
        }
        if (dd_control_prov_wrap(DD_CONTROL_PROV_REPLY_PREFIX, client_id, reply.topic, topic,
                                 sizeof(topic)) == DD_CONTROL_OK) {
            (void)dd_outbox_publish(&svc->outbox, topic, reply.payload, reply.len,
                                    svc->cfg.ingest.reply_qos);
        }
        dd_provision_reply_free(&reply);
    }
}

/* ---- WAL checkpoints -------------------------------------------------------------------------- */

/* The checkpointer (dd_store_wal.h) watches the pipeline's connection; commits run under p.lock. */
static dd_service_status_t start_checkpointer(dd_service_t *svc)
{
    char path[700];
    dd_store_status_t ss;

    (void)snprintf(path, sizeof(path), "%s/%s", svc->cfg.data_dir, DD_DB_FILE_NAME);
    ss = dd_store_wal_start(path, svc->p.db, &svc->p.lock, &svc->wal);
    if (ss == DD_STORE_OK) {
        return DD_SERVICE_OK;
    }
    return ss == DD_STORE_NO_MEMORY ? DD_SERVICE_NO_MEMORY : DD_SERVICE_DB_ERROR;
}

static void stop_checkpointer(dd_service_t *svc)
{
    dd_store_wal_stop(svc->wal);
    svc->wal = NULL;
}

static dd_service_status_t connect_broker(dd_service_t *svc)
{
    char ca[700];
    char cert[700];
    char key[700];
    const char *subs[4];
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
    /* The device provisioning MQTT API (dd_provision.h): the shim renames each request to
     * this prefix with the asking client's id, so that only ddlocald sees it. */
    subs[3] = DD_CONTROL_PROV_REQUEST_PREFIX "#";
    memset(&params, 0, sizeof(params));
    params.host = svc->cfg.broker_host;
    params.port = svc->cfg.broker_port;
    params.client_id = "ddlocald";
    params.clean_session = false;
    params.ca_file = ca;
    params.cert_file = cert;
    params.key_file = key;
    params.subscriptions = subs;
    params.subscription_count = 4;
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
    pthread_cond_init(&svc->barrier_cond, NULL);
    if (svc->cfg.tick_ms <= 0) {
        svc->cfg.tick_ms = 1000;
    }
    dd_outbox_init(&svc->outbox);
    (void)dd_ingest_init(&svc->ingest, &svc->cfg.ingest);
    dd_map_init(&svc->groups);
    status =
        dd_events_create(DD_EVENTS_CAPACITY, DD_EVENTS_MAX_WAITERS, &svc->events) == DD_EVENTS_OK
            ? DD_SERVICE_OK
            : DD_SERVICE_NO_MEMORY;
    svc->ingest.events = svc->events;
    dd_faults_init(&svc->faults);
    svc->ingest.faults = &svc->faults;
    if (status == DD_SERVICE_OK) {
        status = open_pipeline(svc);
    }
    if (status == DD_SERVICE_OK) {
        status = start_provisioning(svc);
    }
    if (status == DD_SERVICE_OK) {
        status = start_checkpointer(svc);
    }
    if (status == DD_SERVICE_OK) {
        memset(&wcfg, 0, sizeof(wcfg));
        wcfg.max_attempts = svc->cfg.webhook_attempts;
        wcfg.first_retry_ms = svc->cfg.webhook_backoff_ms;
        wcfg.dead_letter = dead_letter;
        wcfg.dead_letter_ctx = svc;
        wcfg.delivered = delivered;
        wcfg.delivered_ctx = svc;
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
        wcfg.delivered = delivered;
        wcfg.delivered_ctx = svc;
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

static void send_entry(dd_service_t *svc, const dd_outbox_entry_t *e)
{
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

/* Holds @p e (taken) until @p due (lock held); false when out of memory (send it now). */
static bool hold_late(dd_service_t *svc, dd_outbox_entry_t *e, int64_t due)
{
    held_entry_t *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return false;
    }
    h->entry = e;
    h->due_mono_ms = due;
    h->next = svc->late;
    svc->late = h;
    return true;
}

/* Sends the held entries that are due (lock held), in the order they were held. */
static void send_late(dd_service_t *svc, int64_t mono)
{
    held_entry_t **link = &svc->late;
    held_entry_t *due = NULL;

    while (*link != NULL) {
        held_entry_t *h = *link;
        if (h->due_mono_ms <= mono) {
            *link = h->next;
            h->next = due; /* the list is newest first: reversing it sends the oldest first */
            due = h;
        } else {
            link = &h->next;
        }
    }
    while (due != NULL) {
        held_entry_t *h = due;
        due = h->next;
        send_entry(svc, h->entry);
        dd_outbox_entries_free(h->entry);
        free(h);
    }
}

/* A full reset or the stop: what a fault still holds is never sent (lock held). */
static void drop_late(dd_service_t *svc)
{
    while (svc->late != NULL) {
        held_entry_t *h = svc->late;
        svc->late = h->next;
        dd_outbox_entries_free(h->entry);
        free(h);
    }
}

static void drain_outbox(dd_service_t *svc)
{
    dd_outbox_entry_t *e = dd_outbox_take(&svc->outbox);
    int64_t mono = dd_clock_mono_ms();

    while (e != NULL) {
        dd_outbox_entry_t *next = e->next;
        e->next = NULL;
        /* A delay fault's entry waits in wall time, so a manual clock never holds it. */
        if (e->delay_ms <= 0 || !hold_late(svc, e, mono + e->delay_ms)) {
            send_entry(svc, e);
            dd_outbox_entries_free(e);
        }
        e = next;
    }
    send_late(svc, mono);
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
    switch (dd_clock_mode(clock)) {
    case DD_CLOCK_REAL: return now - METERING_LAG_REAL_MS;
    case DD_CLOCK_SCALED:
        return now - (int64_t)((double)METERING_LAG_REAL_MS * dd_clock_scale(clock));
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
        rst = dd_registry_setting_set(&svc->p.registry, DD_PIPELINE_SETTING_CLOCK_LAST, text);
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
        return;
    } else if (svc->tick_failing) {
        DD_LOG_INFO("engine ticks are stored again");
        svc->tick_failing = false;
    }
    /* Scheduled audits run on the pipeline clock, so `ddlocal clock advance` (whose barrier
     * ends with this tick) has run the audits that fell due before it answers. */
    if (dd_auditor_scheduled_run_due(svc->p.auditor, now, NULL) != DD_AUDITOR_OK) {
        DD_LOG_ERROR("the scheduled audits due could not be run or rescheduled");
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
        dd_pki_credentials_t *keys = NULL; /* CreateKeysAndCertificate's, made unlocked */
        size_t n;
        int64_t mono = dd_clock_mono_ms();
        bool retrying = false;

        pthread_mutex_lock(&svc->p.lock);
        if (svc->held != NULL && mono < svc->held_retry_mono_ms) {
            /* Holding: no new messages; replies of API changes and the registry still go out. */
            sync_registry(svc);
            drain_outbox(svc);
            pthread_mutex_unlock(&svc->p.lock);
            dd_clock_sleep_ms(svc->held_retry_mono_ms - mono < 50 ? svc->held_retry_mono_ms - mono
                                                                  : 50);
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
            keys = premake_keys(svc, msgs, n);
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
            if (msgs != NULL) {
                provision_batch(svc, msgs, keys);
            }
            barrier_seen(svc, msgs); /* NULL when held: not counted yet */
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
        free_keys(keys, n);
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
    dd_events_close(svc->events); /* long-polls answer now, so the API can stop */
    dd_api_stop(svc->api);        /* no API thread may take the lock after this */
    dd_svcmqtt_destroy(svc->mqtt);
    dd_alerts_webhooks_stop(svc->webhooks); /* may dead-letter into the database */
    stop_checkpointer(svc); /* before the last connection closes (it checkpoints itself) */
    dd_pipeline_close(&svc->p);
    dd_ingest_destroy(&svc->ingest);
    drop_late(svc);
    dd_outbox_destroy(&svc->outbox);
    dd_events_destroy(svc->events);
    {
        size_t cursor = 0;
        const char *key;
        void *value;
        while (dd_map_next(&svc->groups, &cursor, &key, &value)) {
            free(value);
        }
    }
    dd_map_destroy(&svc->groups);
    if (svc->prov_ok) {
        dd_provision_destroy(&svc->prov);
    }
    dd_pki_ca_free(svc->ca);
    pthread_cond_destroy(&svc->barrier_cond);
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
