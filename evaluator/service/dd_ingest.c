#include "dd_ingest.h"

#include "dd_engine.h"
#include "dd_control.h"
#include "dd_events.h"
#include "dd_faults.h"
#include "dd_log.h"
#include "dd_metering.h"
#include "dd_report.h"
#include "dd_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct last_report {
    int64_t time_ms;
    uint64_t report_id;
} last_report_t;

/*
 * The last_report and metering_seen entries a batch changed, restored when
 * the batch is rolled back (a batch held and tried again after a store
 * failure must not find its own reports throttled or its metering "seen").
 */
typedef struct undo_item {
    char thing[DD_REPORT_THING_NAME_MAX + 1]; /* or the metering_seen key */
    bool metering;
    bool existed;
    last_report_t prev;
    uint64_t prev_seq;
} undo_item_t;

typedef struct undo_log {
    undo_item_t *items;
    size_t count;
    size_t cap;
} undo_log_t;

void dd_ingest_config_default(dd_ingest_config_t *cfg)
{
    if (cfg != NULL) {
        memset(cfg, 0, sizeof(*cfg));
        cfg->throttle_ms = 300000;
        cfg->reply_qos = 1;
        (void)snprintf(cfg->metering_topic, sizeof(cfg->metering_topic), "$ddlocal/metering/v1");
        cfg->metering_retention_ms = DD_STORE_METERING_RETENTION_MS;
        cfg->metering_bucket_ms = 60000;
    }
}

dd_ingest_status_t dd_ingest_init(dd_ingest_t *ing, const dd_ingest_config_t *cfg)
{
    if (ing == NULL) {
        return DD_INGEST_BAD_PARAMETER;
    }
    memset(ing, 0, sizeof(*ing));
    if (cfg != NULL) {
        ing->cfg = *cfg;
    } else {
        dd_ingest_config_default(&ing->cfg);
    }
    dd_map_init(&ing->last_report);
    dd_map_init(&ing->metering_seen);
    dd_map_init(&ing->redelivery);
    return DD_INGEST_OK;
}

static void free_values(dd_map_t *map)
{
    size_t cursor = 0;
    void *value;

    while (dd_map_next(map, &cursor, NULL, &value)) {
        free(value);
    }
    dd_map_destroy(map);
}

void dd_ingest_destroy(dd_ingest_t *ing)
{
    if (ing != NULL) {
        free_values(&ing->last_report);
        free_values(&ing->metering_seen);
        dd_map_destroy(&ing->redelivery);
    }
}

/* ---- redeliveries after a crash ------------------------------------------------ */

/* Names a report by what the broker would deliver again: thing, format, bytes. */
static void redelivery_key(const char *thing, int format, const uint8_t *payload, size_t len,
                           char *key, size_t size)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a: a digest for matching, not for security */
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ payload[i]) * 1099511628211ULL;
    }
    (void)snprintf(key, size, "%s\n%d\n%zu\n%016" PRIx64, thing, format, len, h);
}

static int remember_stored(void *ctx, int64_t row, const char *thing, uint64_t report_id,
                           int64_t received_ms, int format, const uint8_t *payload, size_t len)
{
    dd_ingest_t *ing = ctx;
    char key[DD_REPORT_THING_NAME_MAX + 64];
    uintptr_t copies;

    (void)row;
    (void)report_id;
    (void)received_ms;
    redelivery_key(thing, format, payload, len, key, sizeof(key));
    copies = (uintptr_t)dd_map_get(&ing->redelivery, key) + 1;
    return dd_map_put(&ing->redelivery, key, (void *)copies, NULL) == DD_MAP_OK ? 0 : 1;
}

dd_ingest_status_t dd_ingest_expect_redeliveries(dd_ingest_t *ing, struct dd_store *store)
{
    if (ing == NULL || store == NULL) {
        return DD_INGEST_BAD_PARAMETER;
    }
    return dd_store_reports_recent(store, DD_INGEST_REDELIVERY_WINDOW, remember_stored, ing) ==
                   DD_STORE_OK
               ? DD_INGEST_OK
               : DD_INGEST_STORE_ERROR;
}

void dd_ingest_forget_redeliveries(dd_ingest_t *ing)
{
    if (ing != NULL && dd_map_count(&ing->redelivery) > 0) {
        dd_map_destroy(&ing->redelivery);
        dd_map_init(&ing->redelivery);
    }
}

void dd_ingest_forget_things(dd_ingest_t *ing)
{
    if (ing != NULL) {
        free_values(&ing->last_report);
        dd_map_init(&ing->last_report);
    }
}

/* True (and the copy used up) when @p m repeats a report stored before the start. */
static bool is_redelivery(dd_ingest_t *ing, const char *thing, dd_report_format_t format,
                          const dd_svcmqtt_msg_t *m)
{
    char key[DD_REPORT_THING_NAME_MAX + 64];
    uintptr_t copies;

    if (dd_map_count(&ing->redelivery) == 0) {
        return false;
    }
    redelivery_key(thing, (int)format, m->payload, m->len, key, sizeof(key));
    copies = (uintptr_t)dd_map_get(&ing->redelivery, key);
    if (copies == 0) {
        return false;
    }
    if (copies > 1) {
        (void)dd_map_put(&ing->redelivery, key, (void *)(copies - 1), NULL);
    } else {
        (void)dd_map_remove(&ing->redelivery, key, NULL);
    }
    return true;
}

/* ---- replies ------------------------------------------------------------------ */

/* An injected fault fired on @p thing's report (fault injection: dd_faults.h). */
static void fault_fired(dd_ingest_t *ing, const dd_faults_fault_t *f, const char *thing,
                        const char *outcome, int64_t delay_ms, const char *detail, int64_t now_ms)
{
    DD_LOG_INFO("fault %" PRIu64 " (%s) fired on a report of %s: %s", f->id,
                dd_faults_kind_name(f->kind), thing, outcome);
    dd_events_fault(ing->events, now_ms, f->id, dd_faults_kind_name(f->kind), thing, outcome,
                    delay_ms, detail);
}

/* Queues a reply, unless a no-reply fault swallows it; a delay-reply fault holds it back. */
static void queue_reply(dd_ingest_t *ing, dd_outbox_t *box, const char *topic, const char *thing,
                        const uint8_t *buf, size_t len, bool accepted, int64_t now_ms)
{
    char reply_topic[DD_REPORT_THING_NAME_MAX + 64];
    dd_faults_fault_t f;
    size_t mark;

    (void)snprintf(reply_topic, sizeof(reply_topic), "%s/%s", topic,
                   accepted ? "accepted" : "rejected");
    if (dd_faults_match(ing->faults, DD_FAULTS_NO_REPLY, thing, NULL, NULL, now_ms, &f) ==
        DD_FAULTS_OK) {
        fault_fired(ing, &f, thing, "no-reply", 0, reply_topic, now_ms);
        return;
    }
    mark = dd_outbox_mark(box);
    if (dd_outbox_publish(box, reply_topic, buf, len, ing->cfg.reply_qos) != DD_OUTBOX_OK) {
        DD_LOG_ERROR("out of memory queueing a reply on %s", reply_topic);
        return;
    }
    /* Wall time, not pipeline time: a manual clock would otherwise hold it until an advance. */
    if (dd_faults_match(ing->faults, DD_FAULTS_DELAY_REPLY, thing, NULL, NULL, now_ms, &f) ==
        DD_FAULTS_OK) {
        dd_outbox_delay(box, mark, f.delay_ms);
        fault_fired(ing, &f, thing, "delayed", f.delay_ms, reply_topic, now_ms);
    }
}

static void reject(dd_ingest_t *ing, dd_outbox_t *box, const char *topic, const char *thing,
                   dd_report_format_t format, const dd_report_error_t *err, const char *code,
                   const char *message, int64_t now_ms)
{
    uint8_t buf[1024];
    size_t len = 0;

    if (code == NULL) {
        dd_report_error_code(err, ing->cfg.fine_error_codes, &code, &message);
    }
    if (dd_report_encode_rejected(format, thing, err != NULL && err->report_id_known,
                                  err != NULL ? err->report_id : 0, code, message, now_ms, buf,
                                  sizeof(buf), &len) == DD_REPORT_OK) {
        queue_reply(ing, box, topic, thing, buf, len, false, now_ms);
    }
    ing->stats.reports_rejected++;
    dd_events_report(ing->events, now_ms, thing, false, code, message);
    DD_LOG_DEBUG("rejected a report for %s: %s (%s)", thing, code, message);
}

/*
 * Faults that stop a report before it is stored: disconnect (the report is dropped, unanswered,
 * and the shim kicks the thing's connections) and throttle (refused as Throttled). Returns true
 * when one fired.
 */
static bool report_fault(dd_ingest_t *ing, dd_outbox_t *box, const char *topic, const char *thing,
                         dd_report_format_t format, uint64_t report_id, int64_t now_ms)
{
    dd_faults_fault_t f;
    dd_report_error_t err;
    char *kick = NULL;
    size_t len = 0;

    if (dd_faults_match(ing->faults, DD_FAULTS_DISCONNECT, thing, NULL, NULL, now_ms, &f) ==
        DD_FAULTS_OK) {
        /* Through the outbox like a reply: the kick leaves after the batch commits. */
        if (dd_control_encode_kick(thing, NULL, &kick, &len) != DD_CONTROL_OK ||
            dd_outbox_publish(box, DD_CONTROL_TOPIC_KICK, kick, len, 1) != DD_OUTBOX_OK) {
            DD_LOG_ERROR("a disconnect fault could not queue the kick of %s", thing);
        }
        free(kick);
        fault_fired(ing, &f, thing, "disconnected", 0, topic, now_ms);
        return true;
    }
    if (dd_faults_match(ing->faults, DD_FAULTS_THROTTLE, thing, NULL, NULL, now_ms, &f) ==
        DD_FAULTS_OK) {
        memset(&err, 0, sizeof(err));
        err.report_id_known = true;
        err.report_id = report_id;
        fault_fired(ing, &f, thing, "throttled", 0, topic, now_ms);
        reject(ing, box, topic, thing, format, &err, "Throttled",
               "Device metric reports are throttled to one per 5 minutes", now_ms);
        return true;
    }
    return false;
}

/* ---- reports ------------------------------------------------------------------- */

/* Remembers @p thing's entry (NULL: none) before the batch changes it. */
static bool undo_record(undo_log_t *u, const char *thing, const last_report_t *prev)
{
    undo_item_t *item;

    if (u->count == u->cap) {
        size_t cap = u->cap == 0 ? 16 : u->cap * 2;
        undo_item_t *bigger = realloc(u->items, cap * sizeof(*bigger));
        if (bigger == NULL) {
            return false;
        }
        u->items = bigger;
        u->cap = cap;
    }
    item = &u->items[u->count++];
    memset(item, 0, sizeof(*item));
    (void)snprintf(item->thing, sizeof(item->thing), "%s", thing);
    item->existed = prev != NULL;
    if (prev != NULL) {
        item->prev = *prev;
    }
    return true;
}

/* A rolled-back report was never accepted: throttling and duplicate checks must not see it. */
static void undo_apply(dd_ingest_t *ing, undo_log_t *u)
{
    while (u->count > 0) {
        undo_item_t *item = &u->items[--u->count];
        void *old = NULL;

        if (item->metering) {
            uint64_t *seq = dd_map_get(&ing->metering_seen, item->thing);
            if (item->existed && seq != NULL) {
                *seq = item->prev_seq;
            } else if (!item->existed &&
                       dd_map_remove(&ing->metering_seen, item->thing, &old) == DD_MAP_OK) {
                free(old);
            }
        } else if (item->existed) {
            last_report_t *last = dd_map_get(&ing->last_report, item->thing);
            if (last != NULL) {
                *last = item->prev;
            }
        } else if (dd_map_remove(&ing->last_report, item->thing, &old) == DD_MAP_OK) {
            free(old);
        }
    }
}

static dd_ingest_status_t ingest_report(dd_ingest_t *ing, dd_pipeline_t *p, dd_outbox_t *box,
                                        const dd_svcmqtt_msg_t *m, int64_t now_ms, undo_log_t *undo,
                                        bool *store_failed)
{
    char thing[DD_REPORT_THING_NAME_MAX + 1];
    dd_report_format_t format = DD_REPORT_FORMAT_JSON;
    dd_report_options_t opts;
    dd_report_error_t err;
    dd_report_t report;
    last_report_t *last;
    uint8_t buf[512];
    size_t len = 0;
    int64_t row = 0;
    dd_engine_status_t est;

    if (dd_report_topic_parse(m->topic, thing, sizeof(thing), &format) != DD_REPORT_OK) {
        DD_LOG_DEBUG("ignored a message on %s", m->topic);
        return DD_INGEST_OK;
    }
    if (is_redelivery(ing, thing, format, m)) {
        ing->stats.reports_redelivered++;
        DD_LOG_INFO("a report of %s was stored before the restart: dropped its redelivery", thing);
        return DD_INGEST_OK;
    }
    memset(&report, 0, sizeof(report));
    memset(&opts, 0, sizeof(opts));
    opts.reject_mixed_keys = ing->cfg.reject_mixed_keys;
    if (dd_report_decode_ex(format, m->payload, m->len, &opts, &report, &err) != DD_REPORT_OK) {
        reject(ing, box, m->topic, thing, format, &err, NULL, NULL, now_ms);
        return DD_INGEST_OK;
    }
    if (report_fault(ing, box, m->topic, thing, format, report.report_id, now_ms)) {
        dd_report_free(&report);
        return DD_INGEST_OK;
    }
    last = dd_map_get(&ing->last_report, thing);
    if (last != NULL && ing->cfg.throttle && now_ms - last->time_ms < ing->cfg.throttle_ms) {
        memset(&err, 0, sizeof(err));
        err.report_id_known = true;
        err.report_id = report.report_id;
        reject(ing, box, m->topic, thing, format, &err, "Throttled",
               "Device metric reports are throttled to one per 5 minutes", now_ms);
        dd_report_free(&report);
        return DD_INGEST_OK;
    }
    if (last != NULL && ing->cfg.reject_duplicate_ids && last->report_id == report.report_id) {
        memset(&err, 0, sizeof(err));
        err.report_id_known = true;
        err.report_id = report.report_id;
        reject(ing, box, m->topic, thing, format, &err, "DuplicateReportId",
               "A report with this report_id was already accepted", now_ms);
        dd_report_free(&report);
        return DD_INGEST_OK;
    }
    if (dd_store_report_insert(p->store, thing, report.report_id, now_ms, (int)format, m->payload,
                               m->len, &row) != DD_STORE_OK) {
        *store_failed = true;
        dd_report_free(&report);
        return DD_INGEST_STORE_ERROR;
    }
    est = dd_engine_on_report(p->engine, thing, now_ms, &report);
    if (est != DD_ENGINE_OK) {
        /* Stored but not evaluable (e.g. out of memory): the report stays pending and is retried at restart. */
        DD_LOG_ERROR("evaluating a report of %s: %s", thing, dd_engine_strerror(est));
    } else if (dd_store_report_mark_evaluated(p->store, row) != DD_STORE_OK) {
        *store_failed = true;
    }
    if (!undo_record(undo, thing, last)) {
        DD_LOG_ERROR("out of memory; a rollback would leave %s's report counted", thing);
    }
    if (last == NULL) {
        last = calloc(1, sizeof(*last));
        if (last == NULL || dd_map_put(&ing->last_report, thing, last, NULL) != DD_MAP_OK) {
            free(last);
            last = NULL;
        }
    }
    if (last != NULL) {
        last->time_ms = now_ms;
        last->report_id = report.report_id;
    }
    if (dd_report_encode_accepted(format, thing, report.report_id, now_ms, buf, sizeof(buf),
                                  &len) == DD_REPORT_OK) {
        queue_reply(ing, box, m->topic, thing, buf, len, true, now_ms);
    }
    ing->stats.reports_accepted++;
    dd_events_report(ing->events, now_ms, thing, true, NULL, NULL);
    dd_report_free(&report);
    return DD_INGEST_OK;
}

/* ---- metering --------------------------------------------------------------------- */

/* Records of one batch, turned into engine events with NUL-terminated strings. */
typedef struct metering_ctx {
    dd_cloud_event_t *events;
    char **strings; /* owned copies, freed after the engine call */
    size_t count;
    size_t cap;
    int64_t floor_ms; /* the engine refuses times older than its own */
    dd_ingest_stats_t *stats;
    bool failed;
    dd_store_t *store;  /* the connection history goes here, in the batch's transaction */
    char instance[24];  /* the shim instance of the batch, hex */
    bool store_failed;  /* a history write failed: the whole batch is rolled back */
    size_t connections; /* CONNECT and DISCONNECT records written to the history */
    /* The broker's refusals, announced as "enforcement" events once the batch is applied. */
    struct {
        size_t event; /* index in events */
        dd_metering_action_t action;
        dd_metering_reason_t reason;
    } * denials;
    size_t ndenials;
    size_t denials_cap;
} metering_ctx_t;

static char *dup_str(const dd_metering_str_t *s)
{
    char *out;

    if (s->ptr == NULL) {
        return NULL;
    }
    out = malloc(s->len + 1);
    if (out != NULL) {
        memcpy(out, s->ptr, s->len);
        out[s->len] = '\0';
    }
    return out;
}

/*
 * The broker's connection history (audits): a successful CONNECT opens a row, a DISCONNECT
 * closes the client id's open row. Times are the shim's stamps, not floored to the engine's
 * (the history has no windows to keep moving forward).
 */
static bool record_connection(metering_ctx_t *mc, const dd_metering_record_t *rec, const char *key,
                              const char *subject)
{
    dd_store_connection_t c;
    char *cert = NULL;
    char *ip = NULL;
    dd_store_status_t st;

    if (subject == NULL || subject[0] == '\0' ||
        (rec->type == DD_METERING_CONNECT && !rec->success)) {
        return true;
    }
    mc->connections++;
    if (rec->type == DD_METERING_DISCONNECT) {
        st = dd_store_connection_close(mc->store, subject, rec->time_ms, rec->takeover);
    } else {
        cert = dup_str(&rec->cert_id);
        ip = dup_str(&rec->ip);
        if ((rec->cert_id.ptr != NULL && cert == NULL) || (rec->ip.ptr != NULL && ip == NULL)) {
            free(cert);
            free(ip);
            mc->failed = true;
            return false;
        }
        memset(&c, 0, sizeof(c));
        c.client_id = subject;
        c.cert_id = cert;
        c.thing = rec->registered ? key : NULL;
        c.source_ip = ip;
        c.instance = mc->instance;
        c.connect_ms = rec->time_ms;
        st = dd_store_connection_open(mc->store, &c);
        free(cert);
        free(ip);
    }
    if (st != DD_STORE_OK) {
        mc->store_failed = true;
        return false;
    }
    return true;
}

static int on_record(void *ctx, const dd_metering_header_t *hdr, const dd_metering_record_t *rec)
{
    metering_ctx_t *mc = ctx;
    dd_cloud_event_t *ev;
    char *key;
    char *subject;

    (void)hdr;
    if (mc->count == mc->cap) {
        size_t cap = mc->cap == 0 ? 64 : mc->cap * 2;
        dd_cloud_event_t *events = realloc(mc->events, cap * sizeof(*events));
        char **strings;
        if (events == NULL) {
            mc->failed = true;
            return 1;
        }
        mc->events = events;
        strings = realloc(mc->strings, cap * 2 * sizeof(char *));
        if (strings == NULL) {
            mc->failed = true;
            return 1;
        }
        mc->strings = strings;
        mc->cap = cap;
    }
    key = dup_str(&rec->key);
    subject = dup_str(&rec->subject);
    if (key == NULL || (rec->subject.ptr != NULL && subject == NULL)) {
        free(key);
        free(subject);
        mc->failed = true;
        return 1;
    }
    mc->strings[2 * mc->count] = key;
    mc->strings[2 * mc->count + 1] = subject;
    if ((rec->type == DD_METERING_CONNECT || rec->type == DD_METERING_DISCONNECT) &&
        mc->store != NULL && !record_connection(mc, rec, key, subject)) {
        free(key);
        free(subject);
        return 1;
    }
    ev = &mc->events[mc->count++];
    memset(ev, 0, sizeof(*ev));
    ev->thing = key;
    ev->registered = rec->registered;
    /*
     * Records are stamped by the shim up to one flush interval before ddlocald
     * sees them; the engine only moves forward, so a late record counts in the
     * window open now.
     */
    ev->time_ms = rec->time_ms > mc->floor_ms ? rec->time_ms : mc->floor_ms;
    mc->floor_ms = ev->time_ms;
    switch (rec->type) {
    case DD_METERING_SENT:
        ev->kind = DD_CLOUD_MESSAGE_SENT;
        ev->topic = subject;
        ev->payload_size = rec->bytes;
        break;
    case DD_METERING_RECEIVED:
        ev->kind = DD_CLOUD_MESSAGE_RECEIVED;
        ev->topic = subject;
        ev->payload_size = rec->bytes;
        break;
    case DD_METERING_AUTH_FAILURE:
        ev->kind = DD_CLOUD_AUTH_FAILURE;
        /* Topic-less failures (connect) carry a client id as subject: not a topic. */
        ev->topic = rec->action == DD_METERING_ACTION_CONNECT ? NULL : subject;
        if (mc->ndenials == mc->denials_cap) {
            size_t cap = mc->denials_cap == 0 ? 16 : mc->denials_cap * 2;
            void *d = realloc(mc->denials, cap * sizeof(*mc->denials));
            if (d == NULL) {
                mc->failed = true;
                return 1;
            }
            mc->denials = d;
            mc->denials_cap = cap;
        }
        mc->denials[mc->ndenials].event = mc->count - 1;
        mc->denials[mc->ndenials].action = rec->action;
        mc->denials[mc->ndenials].reason = rec->reason;
        mc->ndenials++;
        break;
    case DD_METERING_CONNECT:
        ev->kind = DD_CLOUD_CONNECT;
        ev->success = rec->success;
        if (rec->ip.ptr != NULL &&
            dd_ip_parse(rec->ip.ptr, rec->ip.len, &ev->source_ip) == DD_IP_OK) {
            ev->has_source_ip = true;
        }
        if (rec->success) {
            mc->stats->connected_things++;
        }
        break;
    case DD_METERING_DISCONNECT:
        ev->kind = DD_CLOUD_DISCONNECT;
        if (mc->stats->connected_things > 0) {
            mc->stats->connected_things--;
        }
        break;
    }
    return 0;
}

static void metering_ctx_free(metering_ctx_t *mc)
{
    size_t i;

    for (i = 0; i < 2 * mc->count; i++) {
        free(mc->strings[i]);
    }
    free(mc->strings);
    free(mc->events);
    free(mc->denials);
}

/* true when the batch was already processed (QoS 1 redelivery). */
static bool seen_before(dd_ingest_t *ing, const dd_metering_header_t *hdr, undo_log_t *undo)
{
    char key[24];
    uint64_t *last;

    (void)snprintf(key, sizeof(key), "%016" PRIx64, hdr->instance_id);
    last = dd_map_get(&ing->metering_seen, key);
    if (last != NULL && hdr->seq <= *last) {
        return true;
    }
    if (undo_record(undo, key, NULL)) {
        undo->items[undo->count - 1].metering = true;
        undo->items[undo->count - 1].existed = last != NULL;
        undo->items[undo->count - 1].prev_seq = last != NULL ? *last : 0;
    } else {
        DD_LOG_ERROR("out of memory; a rollback would leave a metering batch marked seen");
    }
    if (last == NULL) {
        last = malloc(sizeof(*last));
        if (last == NULL || dd_map_put(&ing->metering_seen, key, last, NULL) != DD_MAP_OK) {
            free(last);
            return false;
        }
    }
    *last = hdr->seq;
    return false;
}

/*
 * Keeps the batch's records as the engine will use them (time floored), for `ddlocal export` and
 * `record`. Messages and authorization failures share a row per thing, bucket, kind, topic and
 * size: every windowed count sees the same records (a bucket divides 300 s, and every Detect
 * window is a multiple of 300 s aligned on the epoch, so a bucket never straddles a window).
 * Connects and disconnects keep their own times: their order decides whether a thing is
 * connected, hence whether a quiet window gives it a 0 datapoint.
 */
static bool store_metering(dd_ingest_t *ing, metering_ctx_t *mc)
{
    dd_store_metering_t row;
    char ip[64];
    size_t i;

    if (ing->cfg.metering_retention_ms <= 0) {
        return true;
    }
    for (i = 0; i < mc->count; i++) {
        const dd_cloud_event_t *ev = &mc->events[i];
        int64_t bucket = ing->cfg.metering_bucket_ms > 0 ? ing->cfg.metering_bucket_ms : 1;

        memset(&row, 0, sizeof(row));
        row.thing = ev->thing;
        row.time_ms = ev->time_ms;
        row.kind = ev->kind;
        row.registered = ev->registered;
        row.success = true;
        row.count = 1;
        row.size = (ev->kind == DD_CLOUD_MESSAGE_SENT || ev->kind == DD_CLOUD_MESSAGE_RECEIVED)
                       ? (int64_t)ev->payload_size
                       : 0;
        row.subject = ev->topic;
        if (ev->kind == DD_CLOUD_CONNECT || ev->kind == DD_CLOUD_DISCONNECT) {
            bucket = 1;
            row.subject = NULL;
            row.success = ev->kind == DD_CLOUD_DISCONNECT || ev->success;
            if (ev->kind == DD_CLOUD_CONNECT && ev->has_source_ip &&
                dd_ip_format(&ev->source_ip, ip, sizeof(ip)) == DD_IP_OK) {
                row.subject = ip;
            }
        }
        row.bucket_ms = ev->time_ms - (((ev->time_ms % bucket) + bucket) % bucket);
        if (dd_store_metering_add(mc->store, &row) != DD_STORE_OK) {
            return false;
        }
    }
    if (ing->metering_pruned_ms == 0 ||
        mc->floor_ms - ing->metering_pruned_ms >= DD_INGEST_CONNECTION_PRUNE_MS) {
        int64_t deleted = 0;
        if (dd_store_metering_prune(mc->store, mc->floor_ms - ing->cfg.metering_retention_ms,
                                    &deleted) != DD_STORE_OK) {
            return false;
        }
        ing->metering_pruned_ms = mc->floor_ms;
        if (deleted > 0) {
            DD_LOG_DEBUG("stored metering: %lld rows past the retention dropped",
                         (long long)deleted);
        }
    }
    return true;
}

/* Drops the connection history past its retention, at most once per DD_INGEST_CONNECTION_PRUNE_MS. */
static bool prune_connections(dd_ingest_t *ing, dd_store_t *store, int64_t now_ms)
{
    int64_t deleted = 0;

    if (ing->connections_pruned_ms != 0 &&
        now_ms - ing->connections_pruned_ms < DD_INGEST_CONNECTION_PRUNE_MS) {
        return true;
    }
    if (dd_store_connections_prune(store, now_ms - DD_STORE_CONNECTION_RETENTION_MS, &deleted) !=
        DD_STORE_OK) {
        return false;
    }
    ing->connections_pruned_ms = now_ms;
    if (deleted > 0) {
        DD_LOG_DEBUG("connection history: %lld connections older than 31 days dropped",
                     (long long)deleted);
    }
    return true;
}

static void ingest_metering(dd_ingest_t *ing, dd_pipeline_t *p, const dd_svcmqtt_msg_t *m,
                            undo_log_t *undo, bool *store_failed)
{
    dd_metering_header_t hdr;
    metering_ctx_t mc;
    char err[160] = "";
    dd_engine_status_t est;

    memset(&hdr, 0, sizeof(hdr));
    if (dd_metering_decode(m->payload, m->len, &hdr, NULL, NULL, err, sizeof(err)) !=
        DD_METERING_OK) {
        DD_LOG_WARN("dropped a malformed metering batch: %s", err);
        return;
    }
    if (seen_before(ing, &hdr, undo)) {
        ing->stats.metering_duplicates++;
        return;
    }
    memset(&mc, 0, sizeof(mc));
    mc.floor_ms = dd_engine_now(p->engine);
    mc.stats = &ing->stats;
    mc.store = p->store;
    (void)snprintf(mc.instance, sizeof(mc.instance), "%016" PRIx64, hdr.instance_id);
    (void)dd_metering_decode(m->payload, m->len, &hdr, on_record, &mc, NULL, 0);
    if (mc.store_failed || (mc.connections > 0 && !prune_connections(ing, p->store, mc.floor_ms)) ||
        (!mc.failed && !store_metering(ing, &mc))) {
        /* The batch is rolled back and tried again whole: nothing reaches the engine now. */
        *store_failed = true;
    } else if (mc.failed) {
        DD_LOG_ERROR("out of memory reading a metering batch");
    } else if (mc.count > 0) {
        size_t i;
        est = dd_engine_on_cloud_events(p->engine, mc.events, mc.count);
        if (est != DD_ENGINE_OK) {
            DD_LOG_ERROR("evaluating cloud-side events: %s", dd_engine_strerror(est));
        }
        for (i = 0; i < mc.ndenials; i++) {
            const dd_cloud_event_t *ev = &mc.events[mc.denials[i].event];
            dd_events_enforcement(ing->events, ev->time_ms, ev->thing, ev->registered,
                                  dd_metering_action_name(mc.denials[i].action),
                                  dd_metering_reason_name(mc.denials[i].reason),
                                  mc.strings[2 * mc.denials[i].event + 1]);
        }
    }
    ing->stats.metering_batches++;
    ing->stats.metering_records += mc.count;
    metering_ctx_free(&mc);
}

/* ---- batches ------------------------------------------------------------------------ */

dd_ingest_status_t dd_ingest_batch(dd_ingest_t *ing, dd_pipeline_t *p, dd_outbox_t *box,
                                   const dd_svcmqtt_msg_t *msgs)
{
    const dd_svcmqtt_msg_t *m;
    dd_ingest_stats_t before;
    undo_log_t undo = {NULL, 0, 0};
    size_t mark;
    bool store_failed = false;
    int64_t now_ms;

    if (ing == NULL || p == NULL || box == NULL) {
        return DD_INGEST_BAD_PARAMETER;
    }
    before = ing->stats;
    mark = dd_outbox_mark(box);
    if (dd_store_begin(p->store) != DD_STORE_OK) {
        return DD_INGEST_STORE_UNAVAILABLE;
    }
    for (m = msgs; m != NULL && !store_failed; m = m->next) {
        /* Each message sees the clock as it is when it is processed; never before the engine's time. */
        now_ms = dd_clock_now_ms(&p->clock);
        if (now_ms < dd_engine_now(p->engine)) {
            now_ms = dd_engine_now(p->engine);
        }
        if (strcmp(m->topic, ing->cfg.metering_topic) == 0) {
            ingest_metering(ing, p, m, &undo, &store_failed);
        } else {
            (void)ingest_report(ing, p, box, m, now_ms, &undo, &store_failed);
        }
    }
    if (!store_failed && dd_store_sink_status(p->store) != DD_STORE_OK) {
        store_failed = true;
    }
    if (store_failed || dd_store_commit(p->store) != DD_STORE_OK) {
        (void)dd_store_rollback(p->store);
        dd_outbox_truncate(box, mark);
        undo_apply(ing, &undo);
        free(undo.items);
        ing->stats = before;
        {
            const char *why = "";
            (void)dd_store_last_error(p->store, &why);
            DD_LOG_ERROR("a batch of messages could not be stored (%s) and was rolled back; no "
                         "reply was sent",
                         why[0] != '\0' ? why : "unknown error");
        }
        return DD_INGEST_STORE_ERROR;
    }
    free(undo.items);
    return DD_INGEST_OK;
}

const char *dd_ingest_strerror(dd_ingest_status_t status)
{
    switch (status) {
    case DD_INGEST_OK: return "ok";
    case DD_INGEST_BAD_PARAMETER: return "bad parameter";
    case DD_INGEST_NO_MEMORY: return "out of memory";
    case DD_INGEST_STORE_ERROR: return "store error; batch rolled back";
    case DD_INGEST_STORE_UNAVAILABLE: return "store unavailable; batch not applied";
    }
    return "unknown ingest status";
}
