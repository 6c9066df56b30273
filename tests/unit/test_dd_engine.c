#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_engine.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"
#define MIN5 300000LL

/* ------------------------------------------------------------------ recording sink */

typedef struct rec {
    char log[16384];
    size_t len;
    int active; /* active violations (upserts - removals, by id set) */
    char ids[64][DD_VIOLATION_ID_LEN];
    int nids;
    int datums;
    char blob_thing[64];
    uint8_t blob[8192];
    size_t blob_len;
    int blobs;
    bool verbose_lists;
    /* The last active-violation upsert, as ListActiveViolations would show it. */
    char av_id[DD_VIOLATION_ID_LEN];
    long long av_value;
    int64_t av_last_ms;
    int64_t av_start_ms;
    int av_upserts;
    char removed_id[DD_VIOLATION_ID_LEN];
    char dplog[4096]; /* one line per evaluated datapoint (sink.datapoint) */
    size_t dplen;
} rec_t;

static void append(rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->len += (size_t)vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
    va_end(ap);
}

static void on_event(void *ctx, const dd_violation_event_t *ev)
{
    rec_t *r = ctx;
    append(r, "%s %s %s %s", dd_alarm_event_name(ev->type), ev->thing, ev->profile,
           ev->behavior->name);
    if (ev->has_value && ev->value.kind == DD_VALUE_COUNT) {
        append(r, " %lld", (long long)ev->value.count);
    } else if (ev->has_value && ev->value.kind == DD_VALUE_NUMBER) {
        append(r, " %.15g", ev->value.number);
    } else if (ev->has_value && r->verbose_lists) {
        size_t i;
        append(r, " [");
        for (i = 0; i < ev->value.n; i++) {
            char buf[DD_IP_TEXT_MAX];
            if (ev->value.kind == DD_VALUE_PORTS) {
                append(r, "%s%u", i ? "," : "", dd_datapoint_port(&ev->value, i));
            } else if (ev->value.kind == DD_VALUE_CIDRS) {
                (void)dd_ip_format(dd_datapoint_ip(&ev->value, i), buf, sizeof(buf));
                append(r, "%s%s", i ? "," : "", buf);
            } else if (ev->value.kind == DD_VALUE_NUMBERS) {
                append(r, "%s%.15g", i ? "," : "", dd_datapoint_number(&ev->value, i));
            } else {
                append(r, "%s%s", i ? "," : "", dd_datapoint_string(&ev->value, i));
            }
        }
        append(r, "]");
    } else if (ev->has_value) {
        append(r, " list%zu", ev->value.n);
    }
    append(r, " @%lld%s%s\n", (long long)ev->time_ms, ev->suppressed ? " suppressed" : "",
           ev->verification != DD_VERIFICATION_UNKNOWN ? " verified" : "");
}

static int find_id(rec_t *r, const char *id)
{
    int i;
    for (i = 0; i < r->nids; i++) {
        if (strcmp(r->ids[i], id) == 0) {
            return i;
        }
    }
    return -1;
}

static void on_active(void *ctx, const dd_active_violation_t *av)
{
    rec_t *r = ctx;
    snprintf(r->av_id, sizeof(r->av_id), "%s", av->violation_id);
    r->av_value = av->has_value && av->last_value.kind == DD_VALUE_COUNT
                      ? (long long)av->last_value.count
                      : -1;
    r->av_last_ms = av->last_violation_ms;
    r->av_start_ms = av->start_ms;
    r->av_upserts++;
    if (find_id(r, av->violation_id) < 0 && r->nids < 64) {
        strcpy(r->ids[r->nids++], av->violation_id);
        r->active++;
    }
}

static void on_removed(void *ctx, const char *id)
{
    rec_t *r = ctx;
    int i = find_id(r, id);
    snprintf(r->removed_id, sizeof(r->removed_id), "%s", id);
    if (i >= 0) {
        r->ids[i][0] = '\0';
        r->active--;
    }
}

static void on_datum(void *ctx, const dd_metric_datum_t *d)
{
    rec_t *r = ctx;
    (void)d;
    r->datums++;
}

static void on_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    rec_t *r = ctx;
    r->blobs++;
    if (len <= sizeof(r->blob)) {
        snprintf(r->blob_thing, sizeof(r->blob_thing), "%s", thing);
        memcpy(r->blob, blob, len);
        r->blob_len = len;
    }
}

/* "thing behavior (start,end] value verdict state [threshold/devices]" per datapoint. */
static void on_datapoint(void *ctx, const dd_datapoint_record_t *d)
{
    rec_t *r = ctx;
    int n;

    if (r->dplen + 128 >= sizeof(r->dplog)) {
        return; /* long runs (ML training) keep only their first datapoints */
    }
    n = snprintf(r->dplog + r->dplen, sizeof(r->dplog) - r->dplen, "%s %s (%lld,%lld] %lld %s %s",
                 d->thing, d->behavior->name, (long long)d->window_start_ms,
                 (long long)d->window_end_ms, (long long)d->value.count,
                 d->violating ? "violating" : "conforming",
                 d->alarm_state == DD_ALARM_IN_ALARM ? "IN_ALARM" : "NORMAL");
    if (n > 0) {
        r->dplen += (size_t)n;
    }
    n = d->statistical ? snprintf(r->dplog + r->dplen, sizeof(r->dplog) - r->dplen, " %.15g/%zu\n",
                                  d->threshold, d->fleet_size)
                       : snprintf(r->dplog + r->dplen, sizeof(r->dplog) - r->dplen, "\n");
    if (n > 0) {
        r->dplen += (size_t)n;
    }
    if (r->dplen >= sizeof(r->dplog)) {
        r->dplen = sizeof(r->dplog) - 1; /* truncated: the next call returns at once */
    }
}

static dd_engine_sink_t sink_for(rec_t *r)
{
    dd_engine_sink_t s = {r, on_event, on_active, on_removed, on_datum, on_state, on_datapoint};
    memset(r, 0, sizeof(*r));
    return s;
}

/* ------------------------------------------------------------------ helpers */

static void put_profile(dd_engine_t *e, const char *json, int64_t now)
{
    dd_profile_t p;
    dd_profile_error_t err;

    assert_int_equal(dd_profile_parse(json, strlen(json), NULL, &p, &err), DD_PROFILE_OK);
    if (p.target_count == 0) {
        p.targets = calloc(1, sizeof(char *));
        p.targets[0] = strdup(ARN "all/things");
        p.target_count = 1;
    }
    assert_int_equal(dd_engine_put_profile(e, &p, now), DD_ENGINE_OK);
    dd_profile_free(&p);
}

static void report_bytes_out(dd_engine_t *e, const char *thing, int64_t now, uint64_t bytes)
{
    dd_report_t r;

    memset(&r, 0, sizeof(r));
    r.has_metrics = true;
    r.net.present = true;
    r.net.has_bytes_out = true;
    r.net.bytes_out = bytes;
    assert_int_equal(dd_engine_on_report(e, thing, now, &r), DD_ENGINE_OK);
}

static const char *M4 =
    "{\"securityProfileName\":\"DetectSendingMoreThanAverageBytes\",\"behaviors\":[{\"name\":"
    "\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
    "\"%s\",\"value\":{\"count\":200},\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":1,"
    "\"consecutiveDatapointsToClear\":1}}]}";

/* ------------------------------------------------------------------ tests */

static void run_module4(const char *op, char *out, size_t len)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    char json[1024];
    int64_t t0 = 1795836600000LL;
    int i;

    snprintf(json, sizeof(json), M4, op);
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e, json, t0);
    for (i = 1; i <= 3; i++) {
        report_bytes_out(e, "Thing03", t0 + i * MIN5 + 7000, 150);
    }
    for (i = 4; i <= 6; i++) {
        report_bytes_out(e, "Thing03", t0 + i * MIN5 + 7000, 3000);
    }
    assert_true(strlen(r.log) < len);
    memcpy(out, r.log, strlen(r.log) + 1);
    dd_engine_destroy(e);
}

static void test_dd_engine_module4_intended_and_literal(void **state)
{
    char log[4096];

    (void)state;
    run_module4("less-than-equals", log, sizeof(log));
    assert_string_equal(log, "in-alarm Thing03 DetectSendingMoreThanAverageBytes MoreBytesSent "
                             "3000 @1795837807000\n");
    run_module4("greater-than", log, sizeof(log));
    assert_string_equal(log,
                        "in-alarm Thing03 DetectSendingMoreThanAverageBytes MoreBytesSent 150 "
                        "@1795836907000\n"
                        "alarm-cleared Thing03 DetectSendingMoreThanAverageBytes MoreBytesSent "
                        "3000 @1795837807000\n");
}

static void test_dd_engine_trailing_window_sums_deltas(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    /* Normal: at most 500 bytes out per 10 minutes. */
    put_profile(e,
                "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
                "\"less-than-equals\",\"value\":{\"count\":500},\"durationSeconds\":600}}]}",
                0);
    report_bytes_out(e, "t", 1000000, 300); /* window (400000, 1000000]: 300 */
    report_bytes_out(e, "t", 1300000, 300); /* 600 -> violates */
    report_bytes_out(e, "t", 1600000,
                     100); /* (1000000, 1600000]: 300 + 100 = 400, report at 1000000 is out */
    assert_string_equal(r.log, "in-alarm t p b 600 @1300000\nalarm-cleared t p b 400 @1600000\n");
    /* Every datapoint, with its window and the verdict that moved the alarm. */
    assert_string_equal(r.dplog, "t b (400000,1000000] 300 conforming NORMAL\n"
                                 "t b (700000,1300000] 600 violating IN_ALARM\n"
                                 "t b (1000000,1600000] 400 conforming NORMAL\n");
    assert_true(r.datums == 3);
    assert_int_equal(r.active, 0);
    assert_int_equal(dd_engine_on_report(e, "t", 1599999, &(dd_report_t){0}), DD_ENGINE_BACKWARDS);
    dd_engine_destroy(e);
}

static void test_dd_engine_state_machine_3_3_and_invalidation(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    int i;
    int64_t t = 0;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-packets-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                "\"value\":{\"count\":100},\"consecutiveDatapointsToAlarm\":3,"
                "\"consecutiveDatapointsToClear\":3},\"suppressAlerts\":true}]}",
                0);
    for (i = 0; i < 4; i++) {
        dd_report_t rep;
        memset(&rep, 0, sizeof(rep));
        rep.has_metrics = true;
        rep.net.present = rep.net.has_packets_out = true;
        rep.net.packets_out = 500;
        t += MIN5;
        assert_int_equal(dd_engine_on_report(e, "t", t, &rep), DD_ENGINE_OK);
    }
    assert_string_equal(r.log, "in-alarm t p b 500 @900000 suppressed\n");
    assert_int_equal(r.active, 1);
    /* Two days without metrics: not yet at exactly two days, then invalidated. */
    assert_int_equal(dd_engine_tick(e, t + 2 * 86400000LL), DD_ENGINE_OK);
    assert_int_equal(r.active, 1);
    assert_int_equal(dd_engine_tick(e, t + 2 * 86400000LL + MIN5), DD_ENGINE_OK);
    assert_int_equal(r.active, 0);
    assert_non_null(strstr(r.log, "alarm-invalidated t p b @"));
    dd_engine_destroy(e);
}

static int reg_lookup(void *ctx, const char *thing, bool *registered, dd_engine_group_fn add,
                      void *add_ctx)
{
    const char *group = *(const char **)ctx;
    *registered = strcmp(thing, "ghost") != 0;
    if (*registered && group != NULL && strcmp(thing, "t1") == 0) {
        (void)add(add_ctx, "Child");
        (void)add(add_ctx, group);
    }
    return 0;
}

static void test_dd_engine_targets_and_coverage_changes(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    const char *group = "Parent";
    dd_engine_registry_t reg = {&group, reg_lookup};
    const char *b = "\"behaviors\":[{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
                    "{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":10}}}]";
    char json[1024];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, &reg, &s, &e), DD_ENGINE_OK);
    snprintf(json, sizeof(json),
             "{\"securityProfileName\":\"g\",%s,\"targets\":[\"" ARN "thinggroup/Parent\"]}", b);
    put_profile(e, json, 0);
    snprintf(json, sizeof(json),
             "{\"securityProfileName\":\"u\",%s,\"targets\":[\"" ARN "all/unregistered-things\"]}",
             b);
    put_profile(e, json, 0);
    report_bytes_out(e, "t1", 1000, 50);    /* in Parent via Child: profile g */
    report_bytes_out(e, "t2", 2000, 50);    /* registered, no group: nothing */
    report_bytes_out(e, "ghost", 3000, 50); /* unregistered: profile u */
    assert_string_equal(r.log, "in-alarm t1 g b 50 @1000\nin-alarm ghost u b 50 @3000\n");
    /* t1 leaves the group: its alarm ends. */
    group = NULL;
    assert_int_equal(dd_engine_thing_changed(e, "t1", 4000), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "alarm-invalidated t1 g b @4000\n"));
    /* Profile u deleted: ghost's alarm ends. */
    assert_int_equal(dd_engine_remove_profile(e, "u", 5000), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "alarm-invalidated ghost u b @5000\n"));
    assert_int_equal(r.active, 0);
    assert_int_equal(dd_engine_remove_profile(e, "u", 5000), DD_ENGINE_NOT_FOUND);
    dd_engine_destroy(e);
}

static void test_dd_engine_profile_update_keeps_unchanged_behaviors(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    const char *keep = "{\"name\":\"keep\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
                       "{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":10}}}";
    const char *chg = "{\"name\":\"chg\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
                      "{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":%d}}}";
    char c1[512];
    char json[2048];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    snprintf(c1, sizeof(c1), chg, 10);
    snprintf(json, sizeof(json), "{\"securityProfileName\":\"p\",\"behaviors\":[%s,%s]}", keep, c1);
    put_profile(e, json, 0);
    report_bytes_out(e, "t", 1000, 50);
    assert_int_equal(r.active, 2);
    snprintf(c1, sizeof(c1), chg, 20);
    snprintf(json, sizeof(json), "{\"securityProfileName\":\"p\",\"behaviors\":[%s,%s]}", keep, c1);
    put_profile(e, json, 2000);
    assert_int_equal(r.active, 1);
    assert_non_null(strstr(r.log, "alarm-invalidated t p chg @2000\n"));
    assert_null(strstr(r.log, "alarm-invalidated t p keep"));
    report_bytes_out(e, "t", 3000, 5);
    assert_non_null(strstr(r.log, "alarm-cleared t p keep 5 @3000\n"));
    dd_engine_destroy(e);
}

static dd_cloud_event_t ev(dd_cloud_kind_t kind, const char *thing, int64_t t, const char *topic,
                           uint32_t size)
{
    dd_cloud_event_t x;
    memset(&x, 0, sizeof(x));
    x.kind = kind;
    x.thing = thing;
    x.registered = true;
    x.time_ms = t;
    x.topic = topic;
    x.payload_size = size;
    x.success = true;
    return x;
}

static void test_dd_engine_cloud_tumbling_windows_and_dimensions(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_dimension_def_t *dim = calloc(1, sizeof(*dim));
    dd_cloud_event_t evs[6];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    snprintf(dim->name, sizeof(dim->name), "telemetry");
    dim->value_count = 1;
    snprintf(dim->values[0], sizeof(dim->values[0]), "temperature-device-+/#");
    snprintf(dim->values[0], sizeof(dim->values[0]), "temperature/+");
    assert_int_equal(dd_engine_put_dimension(e, dim), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"c\",\"behaviors\":["
                "{\"name\":\"sent\",\"metric\":\"aws:num-messages-sent\",\"metricDimension\":"
                "{\"dimensionName\":\"telemetry\"},\"criteria\":{\"comparisonOperator\":"
                "\"less-than-equals\",\"value\":{\"count\":2},\"durationSeconds\":300}},"
                "{\"name\":\"auth\",\"metric\":\"aws:num-authorization-failures\",\"criteria\":"
                "{\"comparisonOperator\":\"greater-than\",\"value\":{\"count\":10},"
                "\"durationSeconds\":300}},"
                "{\"name\":\"size\",\"metric\":\"aws:message-byte-size\",\"criteria\":"
                "{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1000}}}]}",
                0);
    evs[0] = ev(DD_CLOUD_CONNECT, "d1", 10000, NULL, 0);
    evs[1] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 20000, "temperature/a", 10);
    evs[2] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 30000, "temperature/b", 3000);
    evs[3] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 40000, "other", 10);
    evs[4] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 300000, "temperature/c", 10); /* (0, 300000] */
    evs[5] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 300001, "temperature/c", 10); /* next window */
    assert_int_equal(dd_engine_on_cloud_events(e, evs, 6), DD_ENGINE_OK);
    /* The 3000-byte message violates at once; the counts wait for their window,
     * (0, 300000], which the event at 300001 closes: 3 matching messages (> 2)
     * and 0 auth failures (a quiet connected device: greater-than 10 not met). */
    assert_string_equal(r.log, "in-alarm d1 c size 3000 @30000\n"
                               "alarm-cleared d1 c size 10 @40000\n"
                               "in-alarm d1 c sent 3 @300000\n"
                               "in-alarm d1 c auth 0 @300000\n");
    assert_int_equal(dd_engine_tick(e, 300002), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 600000), DD_ENGINE_OK);
    assert_null(strstr(r.log, "@600000"));
    assert_int_equal(dd_engine_tick(e, 600001), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "alarm-cleared d1 c sent 1 @600000\n"));
    free(dim);
    dd_engine_destroy(e);
}

static void test_dd_engine_statistical_threshold(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_cloud_event_t evs[8];
    size_t n = 0;
    const char *m3 = "{\"securityProfileName\":\"DetectLargeMessageSize\",\"behaviors\":[{\"name\":"
                     "\"LargeMessageSize\",\"metric\":\"aws:message-byte-size\",\"criteria\":{"
                     "\"comparisonOperator\":\"%s\",\"statisticalThreshold\":{\"statistic\":"
                     "\"p50\"},\"durationSeconds\":300}}]}";
    char json[1024];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    snprintf(json, sizeof(json), m3, "less-than-equals");
    put_profile(e, json, 0);
    /* Sums per device: d1 = 10, d2 = 12, d3 = 3000. p50 = 12. */
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 1000, "t", 5);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 1000, "t", 6);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d3", 1000, "t", 3000);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 2000, "t", 5);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 2000, "t", 6);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_string_equal(r.log,
                        "in-alarm d3 DetectLargeMessageSize LargeMessageSize 3000 @300000\n");
    /* The window's p50 over the three devices is the threshold each datapoint met or missed. */
    assert_string_equal(r.dplog, "d1 LargeMessageSize (0,300000] 10 conforming NORMAL 12/3\n"
                                 "d2 LargeMessageSize (0,300000] 12 conforming NORMAL 12/3\n"
                                 "d3 LargeMessageSize (0,300000] 3000 violating IN_ALARM 12/3\n");
    dd_engine_destroy(e);

    s = sink_for(&r);
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    snprintf(json, sizeof(json), m3, "greater-than");
    put_profile(e, json, 0);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm d1 DetectLargeMessageSize LargeMessageSize 10 @300000\n"
                               "in-alarm d2 DetectLargeMessageSize LargeMessageSize 12 @300000\n");
    dd_engine_destroy(e);
}

static void test_dd_engine_resume_from_state_blob(void **state)
{
    dd_engine_t *e = NULL;
    dd_engine_t *e2 = NULL;
    rec_t r;
    rec_t r2;
    dd_engine_sink_t s = sink_for(&r);
    dd_engine_sink_t s2 = sink_for(&r2);
    size_t cut;
    const char *p =
        "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
        "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than-equals\","
        "\"value\":{\"count\":200},\"durationSeconds\":600,"
        "\"consecutiveDatapointsToAlarm\":2,\"consecutiveDatapointsToClear\":2}}]}";

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e, p, 0);
    report_bytes_out(e, "t", MIN5, 150);
    report_bytes_out(e, "t", 2 * MIN5, 150); /* window 300: one violating datapoint */
    /* Restart: a new engine imports the last blob. */
    assert_int_equal(dd_engine_create(NULL, NULL, &s2, &e2), DD_ENGINE_OK);
    put_profile(e2, p, 0);
    assert_string_equal(r.blob_thing, "t");
    assert_int_equal(dd_engine_import_thing(e2, "t", r.blob, r.blob_len), DD_ENGINE_OK);
    assert_int_equal(dd_engine_set_time(e2, 2 * MIN5), DD_ENGINE_OK);
    report_bytes_out(e, "t", 3 * MIN5, 10); /* window: 150 + 10 = 160: conforming */
    report_bytes_out(e2, "t", 3 * MIN5, 10);
    report_bytes_out(e, "t", 4 * MIN5, 300);
    report_bytes_out(e2, "t", 4 * MIN5, 300);
    report_bytes_out(e, "t", 5 * MIN5, 300);
    report_bytes_out(e2, "t", 5 * MIN5, 300);
    assert_string_equal(r.log, "in-alarm t p b 600 @1500000\n");
    assert_string_equal(r2.log, r.log);
    assert_int_equal(dd_engine_import_thing(e2, "t", (const uint8_t *)"junk", 4),
                     DD_ENGINE_INVALID);
    /* A blob cut short anywhere (a torn write) is refused. */
    for (cut = 0; cut < r.blob_len; cut++) {
        assert_int_equal(dd_engine_import_thing(e2, "t", r.blob, cut), DD_ENGINE_INVALID);
    }
    dd_engine_destroy(e);
    dd_engine_destroy(e2);
}

/* Alarms raised and refreshed at different times are each invalidated at the first pass more
 * than two days after their own last datapoint, whichever passes are skipped in between; an
 * imported alarm too. */
static void test_dd_engine_invalidation_times(void **state)
{
    dd_engine_t *e = NULL;
    dd_engine_t *e2 = NULL;
    rec_t r;
    rec_t r2;
    dd_engine_sink_t s = sink_for(&r);
    dd_engine_sink_t s2 = sink_for(&r2);
    const char *p = "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                    "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                    "\"value\":{\"count\":200}}}]}";
    const int64_t day = 86400000LL;
    int64_t t;
    char want[512];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    assert_int_equal(dd_engine_create(NULL, NULL, &s2, &e2), DD_ENGINE_OK);
    put_profile(e, p, 0);
    put_profile(e2, p, 0);
    report_bytes_out(e, "a", MIN5, 300);
    report_bytes_out(e, "b", 2 * MIN5, 300);
    report_bytes_out(e, "c", 2 * MIN5, 300);
    assert_string_equal(r.blob_thing, "c");
    assert_int_equal(dd_engine_import_thing(e2, "c", r.blob, r.blob_len), DD_ENGINE_OK);
    report_bytes_out(e, "c", 2 * MIN5 + 1, 100); /* cleared: never invalidated */
    report_bytes_out(e, "b", day, 300);          /* still in alarm: b's time moves */
    report_bytes_out(e, "a", day + MIN5, 250);   /* a report without a datapoint for b */
    for (t = day + MIN5; t <= 4 * day; t += MIN5 / 2) {
        assert_int_equal(dd_engine_tick(e, t), DD_ENGINE_OK);
        assert_int_equal(dd_engine_tick(e2, t), DD_ENGINE_OK);
    }
    (void)snprintf(want, sizeof(want),
                   "in-alarm a p b 300 @300000\n"
                   "in-alarm b p b 300 @600000\n"
                   "in-alarm c p b 300 @600000\n"
                   "alarm-cleared c p b 100 @600001\n"
                   "alarm-invalidated b p b @%lld\n"
                   "alarm-invalidated a p b @%lld\n",
                   (long long)(3 * day + MIN5 / 2), (long long)(3 * day + MIN5 + MIN5 / 2));
    assert_string_equal(r.log, want);
    (void)snprintf(want, sizeof(want), "alarm-invalidated c p b @%lld\n",
                   (long long)(2 * MIN5 + 2 * day + MIN5 / 2));
    assert_string_equal(r2.log, want);
    dd_engine_destroy(e);
    dd_engine_destroy(e2);
}

static void test_dd_engine_custom_metrics_lists_and_ml(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_custom_metric_def_t cpu = {.name = "cpu_usage", .type = DD_CUSTOM_TYPE_NUMBER};
    dd_custom_metric_def_t ifs = {.name = "ifaces", .type = DD_CUSTOM_TYPE_STRING_LIST};
    dd_report_t rep;
    dd_report_custom_t cm[2];
    char *strs[2] = {"eth0", "tun0"};
    dd_report_port_t ports[2] = {{.port = 22}, {.port = 8883}};

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    assert_int_equal(dd_engine_put_custom_metric(e, &cpu), DD_ENGINE_OK);
    assert_int_equal(dd_engine_put_custom_metric(e, &ifs), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"p\",\"behaviors\":["
                "{\"name\":\"cpu\",\"metric\":\"cpu_usage\",\"criteria\":{\"comparisonOperator\":"
                "\"less-than\",\"value\":{\"number\":75}}},"
                "{\"name\":\"ifs\",\"metric\":\"ifaces\",\"criteria\":{\"comparisonOperator\":"
                "\"in-set\",\"value\":{\"strings\":[\"eth0\",\"wlan0\"]}}},"
                "{\"name\":\"ports\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{"
                "\"comparisonOperator\":\"in-port-set\",\"value\":{\"ports\":[8883]}}},"
                "{\"name\":\"ml\",\"metric\":\"aws:num-listening-tcp-ports\",\"criteria\":{"
                "\"mlDetectionConfig\":{\"confidenceLevel\":\"HIGH\"}}}]}",
                0);
    memset(&rep, 0, sizeof(rep));
    memset(cm, 0, sizeof(cm));
    rep.has_metrics = rep.has_custom_metrics = true;
    rep.tcp_ports.present = true;
    rep.tcp_ports.count = 2;
    rep.tcp_ports.items = ports;
    rep.custom_count = 2;
    rep.custom = cm;
    snprintf(cm[0].name, sizeof(cm[0].name), "cpu_usage");
    cm[0].kind = DD_CUSTOM_NUMBER;
    cm[0].number = 80.5;
    snprintf(cm[1].name, sizeof(cm[1].name), "ifaces");
    cm[1].kind = DD_CUSTOM_STRING_LIST;
    cm[1].count = 2;
    cm[1].strings = strs;
    assert_int_equal(dd_engine_on_report(e, "t", 1000, &rep), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm t p cpu 80.5 @1000\nin-alarm t p ifs list2 @1000\n"
                               "in-alarm t p ports list2 @1000\n");
    /* Empty lists conform and clear. */
    rep.tcp_ports.count = 0;
    cm[1].count = 0;
    cm[0].number = 1;
    assert_int_equal(dd_engine_on_report(e, "t", 2000, &rep), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "alarm-cleared t p ports list0 @2000\n"));
    assert_non_null(strstr(r.log, "alarm-cleared t p ifs list0 @2000\n"));
    /* Custom metric deleted: its behavior goes inert. */
    assert_int_equal(dd_engine_remove_custom_metric(e, "cpu_usage"), DD_ENGINE_OK);
    cm[0].number = 99;
    assert_int_equal(dd_engine_on_report(e, "t", 3000, &rep), DD_ENGINE_OK);
    assert_null(strstr(r.log, "99"));
    dd_engine_destroy(e);
}

static int summary_cb(void *ctx, const dd_training_summary_t *sm)
{
    dd_training_summary_t *out = ctx;
    *out = *sm;
    return 0;
}

/*
 * ML Detect in virtual time: 20 devices report every 5 minutes for 15 days. The model stays
 * PENDING_BUILD until it has 25,000 datapoints AND 14 days (40,000 datapoints come after 7),
 * then is ACTIVE; a labelled anomaly (one device sending 5000 bytes for half an hour on day
 * 14.5) raises one alarm at HIGH confidence, which clears; the healthy devices never alarm.
 */
static void test_dd_engine_ml_detects_a_labelled_anomaly(void **state)
{
    const int64_t day = 86400000LL;
    const int64_t step = 300000LL;
    const int64_t bad_from = 14 * day + day / 2;
    const int64_t bad_to = bad_from + 6 * step;
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_training_summary_t sm;
    char thing[16];
    char expect[256];
    int64_t t;
    int d;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(
        e,
        "{\"securityProfileName\":\"ml\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
        "\"aws:all-bytes-out\",\"criteria\":{\"mlDetectionConfig\":{\"confidenceLevel\":"
        "\"HIGH\"},\"consecutiveDatapointsToAlarm\":1,\"consecutiveDatapointsToClear\":1}}]}",
        0);
    for (t = step; t <= 15 * day; t += step) {
        for (d = 0; d < 20; d++) {
            /* Healthy: 130..170 bytes, spread over devices and time. */
            uint64_t bytes = 130 + (uint64_t)((t / step * 7919 + d * 104729) % 41);
            if (d == 7 && t >= bad_from && t < bad_to) {
                bytes = 5000;
            }
            (void)snprintf(thing, sizeof(thing), "d%02d", d);
            report_bytes_out(e, thing, t + d, bytes);
        }
        if (t == 7 * day || t == 14 * day - step) {
            memset(&sm, 0, sizeof(sm));
            assert_int_equal(dd_engine_training_summaries(e, "ml", summary_cb, &sm), DD_ENGINE_OK);
            assert_string_equal(sm.model_status, "PENDING_BUILD");
            assert_true(sm.datapoints >= 25000);
            assert_true(sm.datapoints_collection_percentage == 100.0);
            assert_int_equal(sm.last_model_refresh_ms, 0);
        }
    }
    memset(&sm, 0, sizeof(sm));
    assert_int_equal(dd_engine_training_summaries(e, "ml", summary_cb, &sm), DD_ENGINE_OK);
    assert_string_equal(sm.model_status, "ACTIVE");
    assert_int_equal(sm.datapoints, 20 * 4320);
    assert_true(sm.last_model_refresh_ms >= 14 * day);
    /* Exactly one alarm, for the labelled device, raised at its first anomalous report and
     * cleared at its first normal one: nothing for the healthy devices. */
    (void)snprintf(expect, sizeof(expect), "in-alarm d07 ml b 5000 @%lld\nalarm-cleared d07 ml b ",
                   (long long)(bad_from + 7));
    assert_int_equal(strncmp(r.log, expect, strlen(expect)), 0);
    (void)snprintf(expect, sizeof(expect), " @%lld\n", (long long)(bad_to + 7));
    assert_non_null(strstr(r.log, expect));
    assert_int_equal(strlen(strstr(r.log, expect)), strlen(expect));
    dd_engine_destroy(e);
}

static void test_dd_engine_ml_training_summary(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_training_summary_t sm;
    int i;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"ml\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"mlDetectionConfig\":{\"confidenceLevel\":"
                "\"LOW\"}}}]}",
                0);
    for (i = 1; i <= 250; i++) {
        report_bytes_out(e, "t", i * 1000, 1000000);
    }
    memset(&sm, 0, sizeof(sm));
    assert_int_equal(dd_engine_training_summaries(e, "ml", summary_cb, &sm), DD_ENGINE_OK);
    assert_string_equal(sm.model_status, "PENDING_BUILD");
    assert_int_equal(sm.datapoints, 250);
    assert_true(sm.datapoints_collection_percentage == 1.0);
    assert_int_equal(sm.training_start_ms, 1000);
    assert_string_equal(r.log, "");
    assert_int_equal(dd_engine_training_summaries(e, "nope", summary_cb, &sm), DD_ENGINE_NOT_FOUND);
    dd_engine_destroy(e);
}

static void test_dd_engine_verification_and_bad_input(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_profile_t bad;
    dd_engine_stats_t st;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                "\"value\":{\"count\":10}}}]}",
                0);
    report_bytes_out(e, "t", 1000, 50);
    assert_int_equal(dd_engine_set_verification(e, r.ids[0], DD_VERIFICATION_TRUE_POSITIVE, "yes"),
                     DD_ENGINE_OK);
    report_bytes_out(e, "t", 2000, 5);
    assert_non_null(strstr(r.log, "alarm-cleared t p b 5 @2000 verified\n"));
    assert_int_equal(dd_engine_set_verification(e, r.ids[0], DD_VERIFICATION_TRUE_POSITIVE, NULL),
                     DD_ENGINE_NOT_FOUND);
    memset(&bad, 0, sizeof(bad));
    snprintf(bad.name, sizeof(bad.name), "bad name");
    assert_int_equal(dd_engine_put_profile(e, &bad, 3000), DD_ENGINE_INVALID);
    assert_null(dd_engine_get_profile(e, "bad name"));
    assert_non_null(dd_engine_get_profile(e, "p"));
    dd_engine_get_stats(e, &st);
    assert_int_equal(st.things, 1);
    assert_int_equal(st.slots, 1);
    assert_true(st.state_bytes > 0);
    assert_int_equal(dd_engine_on_report(NULL, "t", 1, NULL), DD_ENGINE_BAD_PARAMETER);
    assert_true(strlen(dd_engine_strerror(DD_ENGINE_BACKWARDS)) > 0);
    dd_engine_destroy(e);
}

/* ------------------------------------------------------------------ issue 3 gaps */

static dd_cloud_event_t connect_from(const char *thing, int64_t t, const char *ip, bool success)
{
    dd_cloud_event_t x = ev(DD_CLOUD_CONNECT, thing, t, NULL, 0);
    x.success = success;
    if (ip != NULL) {
        x.has_source_ip = true;
        assert_int_equal(dd_ip_parse(ip, strlen(ip), &x.source_ip), DD_IP_OK);
    }
    return x;
}

static void test_dd_engine_cloud_counts_received_attempts_disconnects(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_cloud_event_t evs[16];
    size_t n = 0;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"c\",\"behaviors\":["
                "{\"name\":\"recv\",\"metric\":\"aws:num-messages-received\",\"criteria\":"
                "{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":2},"
                "\"durationSeconds\":300}},"
                "{\"name\":\"conn\",\"metric\":\"aws:num-connection-attempts\",\"criteria\":"
                "{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":1},"
                "\"durationSeconds\":300}},"
                "{\"name\":\"disc\",\"metric\":\"aws:num-disconnects\",\"criteria\":"
                "{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":1},"
                "\"durationSeconds\":300}}]}",
                0);
    /* Window (0, 300000], events in time order. d1 conforms on all three: 2 received,
     * 1 attempt, 0 disconnects. d2 violates all three: 3 received, 4 attempts (a refused
     * one counts too), 2 disconnects. */
    evs[n++] = connect_from("d1", 1000, NULL, true);
    evs[n++] = connect_from("d2", 1000, NULL, false);
    evs[n++] = ev(DD_CLOUD_MESSAGE_RECEIVED, "d1", 2000, "cmd/d1", 0);
    evs[n++] = connect_from("d2", 2000, NULL, true);
    evs[n++] = ev(DD_CLOUD_MESSAGE_RECEIVED, "d1", 3000, "cmd/d1", 0);
    evs[n] = ev(DD_CLOUD_MESSAGE_RECEIVED, "d2", 4000, "cmd/d2", 0);
    evs[n++].repeat = 3;
    evs[n++] = ev(DD_CLOUD_DISCONNECT, "d2", 5000, NULL, 0);
    evs[n++] = connect_from("d2", 6000, NULL, true);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 6500, "x", 1); /* not a received message */
    evs[n++] = ev(DD_CLOUD_DISCONNECT, "d2", 7000, NULL, 0);
    evs[n++] = connect_from("d2", 299000, NULL, true);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_string_equal(r.log, "");
    assert_int_equal(dd_engine_tick(e, 300000), DD_ENGINE_OK); /* not after the end yet */
    assert_string_equal(r.log, "");
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "in-alarm d2 c recv 3 @300000\n"));
    assert_non_null(strstr(r.log, "in-alarm d2 c conn 4 @300000\n"));
    assert_non_null(strstr(r.log, "in-alarm d2 c disc 2 @300000\n"));
    assert_null(strstr(r.log, " d1 "));
    assert_int_equal(r.active, 3);
    /* Window (300000, 600000]: d2 stays connected and receives one message: all conform. */
    n = 0;
    evs[n++] = ev(DD_CLOUD_MESSAGE_RECEIVED, "d2", 400000, "cmd/d2", 0);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 600001), DD_ENGINE_OK);
    assert_non_null(strstr(r.log, "alarm-cleared d2 c recv 1 @600000\n"));
    assert_non_null(strstr(r.log, "alarm-cleared d2 c conn 0 @600000\n"));
    assert_non_null(strstr(r.log, "alarm-cleared d2 c disc 0 @600000\n"));
    assert_null(strstr(r.log, " d1 "));
    assert_int_equal(r.active, 0);
    dd_engine_destroy(e);
}

static void test_dd_engine_source_ip_cidr_sets(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_cloud_event_t evs[8];
    size_t n = 0;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    r.verbose_lists = true;
    put_profile(e,
                "{\"securityProfileName\":\"ip\",\"behaviors\":["
                "{\"name\":\"in\",\"metric\":\"aws:source-ip-address\",\"criteria\":"
                "{\"comparisonOperator\":\"in-cidr-set\",\"value\":{\"cidrs\":"
                "[\"10.0.0.0/8\",\"2001:db8::/32\"]}}},"
                "{\"name\":\"out\",\"metric\":\"aws:source-ip-address\",\"criteria\":"
                "{\"comparisonOperator\":\"not-in-cidr-set\",\"value\":{\"cidrs\":"
                "[\"192.0.2.0/24\"]}}}]}",
                0);
    evs[n++] = connect_from("d1", 1000, "10.1.2.3", true);       /* conforms to both */
    evs[n++] = connect_from("d2", 2000, "192.0.2.7", false);     /* refused: no datapoint */
    evs[n++] = connect_from("d2", 3000, "198.51.100.9", true);   /* outside 10/8: in violates */
    evs[n++] = connect_from("d3", 4000, "192.0.2.7", true);      /* violates both */
    evs[n++] = connect_from("d2", 5000, "2001:db8::1", true);    /* v6 inside: clears */
    evs[n++] = connect_from("d3", 6000, "10.255.255.255", true); /* edge of 10/8: clears both */
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm d2 ip in [198.51.100.9] @3000\n"
                               "in-alarm d3 ip in [192.0.2.7] @4000\n"
                               "in-alarm d3 ip out [192.0.2.7] @4000\n"
                               "alarm-cleared d2 ip in [2001:db8::1] @5000\n"
                               "alarm-cleared d3 ip in [10.255.255.255] @6000\n"
                               "alarm-cleared d3 ip out [10.255.255.255] @6000\n");
    assert_int_equal(r.active, 0);
    dd_engine_destroy(e);
}

static void test_dd_engine_disconnect_duration(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_cloud_event_t evs[4];
    size_t n = 0;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    /* Normal: disconnected for at most 10 minutes. */
    put_profile(e,
                "{\"securityProfileName\":\"dd\",\"behaviors\":[{\"name\":\"off\",\"metric\":"
                "\"aws:disconnect-duration\",\"criteria\":{\"comparisonOperator\":"
                "\"less-than-equals\",\"value\":{\"count\":10}}}]}",
                0);
    evs[n++] = connect_from("d1", 1000, NULL, true);
    evs[n++] = connect_from("d2", 1000, NULL, true);
    evs[n++] = ev(DD_CLOUD_DISCONNECT, "d1", 60000, NULL, 0);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    /* 300000: 4 whole minutes; 600000: 9; 900000: 14 > 10 violates. d2 stays connected. */
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 600001), DD_ENGINE_OK);
    assert_string_equal(r.log, "");
    assert_int_equal(r.datums, 0);
    assert_int_equal(dd_engine_tick(e, 900001), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm d1 dd off 14 @900000\n");
    assert_int_equal(dd_engine_tick(e, 1200001), DD_ENGINE_OK);
    assert_int_equal(r.av_value, 19);
    assert_int_equal(r.av_last_ms, 1200000);
    /* Reconnecting gives a datapoint of 0, which clears. */
    evs[0] = connect_from("d1", 1300000, NULL, true);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, 1), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm d1 dd off 14 @900000\n"
                               "alarm-cleared d1 dd off 0 @1300000\n");
    assert_int_equal(r.active, 0);
    assert_int_equal(dd_engine_tick(e, 1800001), DD_ENGINE_OK);
    assert_null(strstr(r.log, " d2 "));
    dd_engine_destroy(e);
}

static void test_dd_engine_registered_things_target(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    const char *group = NULL;
    dd_engine_registry_t reg = {&group, reg_lookup};

    (void)state;
    assert_int_equal(dd_engine_create(NULL, &reg, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"reg\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                "\"value\":{\"count\":10}}}],\"targets\":[\"" ARN "all/registered-things\"]}",
                0);
    report_bytes_out(e, "t2", 1000, 50);    /* registered: violates */
    report_bytes_out(e, "ghost", 2000, 50); /* unregistered: not covered */
    report_bytes_out(e, "t2", 3000, 5);     /* registered: conforms, clears */
    report_bytes_out(e, "ghost", 4000, 5);
    assert_string_equal(r.log, "in-alarm t2 reg b 50 @1000\nalarm-cleared t2 reg b 5 @3000\n");
    dd_engine_destroy(e);
}

static void test_dd_engine_dimension_not_in(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_dimension_def_t *dim = calloc(1, sizeof(*dim));
    dd_cloud_event_t evs[12];
    size_t n = 0;

    (void)state;
    assert_non_null(dim);
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    snprintf(dim->name, sizeof(dim->name), "telemetry");
    dim->value_count = 2;
    snprintf(dim->values[0], sizeof(dim->values[0]), "temperature/+");
    snprintf(dim->values[1], sizeof(dim->values[1]), "status/${iot:ClientId}");
    assert_int_equal(dd_engine_put_dimension(e, dim), DD_ENGINE_OK);
    /* Normal: at most 1 message per 5 minutes outside the telemetry topics. */
    put_profile(e,
                "{\"securityProfileName\":\"n\",\"behaviors\":["
                "{\"name\":\"other\",\"metric\":\"aws:num-messages-sent\",\"metricDimension\":"
                "{\"dimensionName\":\"telemetry\",\"operator\":\"NOT_IN\"},\"criteria\":"
                "{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":1},"
                "\"durationSeconds\":300}}]}",
                0);
    /* d1: 3 telemetry messages (not counted) and 1 other: 1 conforms.
     * d2: status/d1 is not its own status topic, temperature/a/b is one level too deep:
     * with cmd/y that is 3 messages outside the dimension: violates. */
    evs[n++] = connect_from("d1", 1000, NULL, true);
    evs[n++] = connect_from("d2", 1000, NULL, true);
    evs[n] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 2000, "temperature/a", 10);
    evs[n++].repeat = 2;
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 2000, "status/d1", 10);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 3000, "status/d1", 10);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 3000, "temperature/a/b", 10);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d1", 4000, "cmd/x", 10);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 4000, "cmd/y", 10);
    evs[n++] = ev(DD_CLOUD_MESSAGE_SENT, "d2", 5000, "status/d2", 10);
    assert_int_equal(dd_engine_on_cloud_events(e, evs, n), DD_ENGINE_OK);
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm d2 n other 3 @300000\n");
    free(dim);
    dd_engine_destroy(e);
}

static void test_dd_engine_last_violation_value_moves_same_id(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    char id[DD_VIOLATION_ID_LEN];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
                "\"less-than-equals\",\"value\":{\"count\":200}}}]}",
                0);
    report_bytes_out(e, "t", 1000, 300);
    assert_int_equal(r.av_upserts, 1);
    assert_int_equal(r.av_value, 300);
    assert_int_equal(r.av_last_ms, 1000);
    assert_int_equal(r.av_start_ms, 1000);
    snprintf(id, sizeof(id), "%s", r.av_id);
    report_bytes_out(e, "t", 2000, 900);
    assert_int_equal(r.av_upserts, 2);
    assert_string_equal(r.av_id, id);
    assert_int_equal(r.av_value, 900);
    assert_int_equal(r.av_last_ms, 2000);
    assert_int_equal(r.av_start_ms, 1000);
    /* Still one in-alarm event: staying in alarm is not a new event. */
    assert_string_equal(r.log, "in-alarm t p b 300 @1000\n");
    assert_int_equal(r.active, 1);
    /* A conforming datapoint ends it with the same id. */
    report_bytes_out(e, "t", 3000, 100);
    assert_int_equal(r.active, 0);
    assert_string_equal(r.removed_id, id);
    dd_engine_destroy(e);
}

static void test_dd_engine_detach_invalidates(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    const char *group = NULL;
    dd_engine_registry_t reg = {&group, reg_lookup};
    const char *p = "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                    "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                    "\"value\":{\"count\":10}}}],\"targets\":[%s]}";
    char json[1024];

    (void)state;
    assert_int_equal(dd_engine_create(NULL, &reg, &s, &e), DD_ENGINE_OK);
    snprintf(json, sizeof(json), p, "\"" ARN "all/things\",\"" ARN "thinggroup/Parent\"");
    put_profile(e, json, 0);
    report_bytes_out(e, "t2", 1000, 50);
    assert_string_equal(r.log, "in-alarm t2 p b 50 @1000\n");
    /* Detach all/things: t2 is in no group, so nothing covers it any more. */
    snprintf(json, sizeof(json), p, "\"" ARN "thinggroup/Parent\"");
    put_profile(e, json, 2000);
    assert_string_equal(r.log, "in-alarm t2 p b 50 @1000\nalarm-invalidated t2 p b @2000\n");
    assert_int_equal(r.active, 0);
    /* Detached: its reports are no longer evaluated by p. */
    report_bytes_out(e, "t2", 3000, 50);
    assert_string_equal(r.log, "in-alarm t2 p b 50 @1000\nalarm-invalidated t2 p b @2000\n");
    dd_engine_destroy(e);
}

static void test_dd_engine_device_statistical_p90_across_things(void **state)
{
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    char thing[16];
    int i;

    (void)state;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    put_profile(e,
                "{\"securityProfileName\":\"s\",\"behaviors\":[{\"name\":\"p90\",\"metric\":"
                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
                "\"less-than-equals\",\"statisticalThreshold\":{\"statistic\":\"p90\"},"
                "\"durationSeconds\":300}}]}",
                0);
    /* Window (0, 300000]: t0..t9 send 100, 200, ..., 1000 bytes, t9 in two reports.
     * p90 of the ten sums: h = 9 x 0.9 = 8.1 -> 900 + 0.1 x 100 = 910. Only t9 (1000) is above. */
    for (i = 0; i < 10; i++) {
        snprintf(thing, sizeof(thing), "t%d", i);
        report_bytes_out(e, thing, 1000 + i, (uint64_t)(i == 9 ? 500 : (i + 1) * 100));
    }
    report_bytes_out(e, "t9", 200000, 500);
    /* Nothing is evaluated before the window closes. */
    assert_string_equal(r.log, "");
    assert_int_equal(dd_engine_tick(e, 300001), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm t9 s p90 1000 @300000\n");
    /* Window (300000, 600000]: t9 quiet (100), t0 sends 5000: the fleet's p90 is now below
     * t0 only, so t9 clears and t0 alarms. */
    for (i = 0; i < 10; i++) {
        snprintf(thing, sizeof(thing), "t%d", i);
        report_bytes_out(e, thing, 301000 + i, (uint64_t)(i == 0 ? 5000 : 100));
    }
    assert_int_equal(dd_engine_tick(e, 600001), DD_ENGINE_OK);
    assert_string_equal(r.log, "in-alarm t9 s p90 1000 @300000\n"
                               "in-alarm t0 s p90 5000 @600000\n"
                               "alarm-cleared t9 s p90 100 @600000\n");
    dd_engine_destroy(e);
}

static uint8_t *load_fixture(const char *name, size_t *len, bool hex)
{
    char path[512];
    FILE *f;
    long n;
    uint8_t *buf;

    snprintf(path, sizeof(path), "%s/fixtures/reports/%s", DD_SOURCE_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    if (hex) {
        size_t i;
        size_t m = 0;
        for (i = 0; i + 1 < (size_t)n; i += 2) {
            unsigned v;
            if (sscanf((const char *)buf + i, "%2x", &v) != 1) {
                break;
            }
            buf[m++] = (uint8_t)v;
        }
        *len = m;
    }
    return buf;
}

/* Every behavior below is built to violate on any datapoint, so the events
 * show each metric's value exactly as the engine extracted it. */
static const char *EXTRACT =
    "{\"securityProfileName\":\"x\",\"behaviors\":["
    "{\"name\":\"bi\",\"metric\":\"aws:all-bytes-in\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"bo\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"pi\",\"metric\":\"aws:all-packets-in\",\"criteria\":{\"comparisonOperator\":"
    "\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"po\",\"metric\":\"aws:all-packets-out\",\"criteria\":{\"comparisonOperator\":"
    "\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"ntcp\",\"metric\":\"aws:num-listening-tcp-ports\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"nudp\",\"metric\":\"aws:num-listening-udp-ports\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"nconn\",\"metric\":\"aws:num-established-tcp-connections\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"tcp\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":"
    "\"not-in-port-set\",\"value\":{\"ports\":[2024,8883,443,11883,11884,22]}}},"
    "{\"name\":\"udp\",\"metric\":\"aws:listening-udp-ports\",\"criteria\":{\"comparisonOperator\":"
    "\"in-port-set\",\"value\":{\"ports\":[]}}},"
    "{\"name\":\"dst\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":{"
    "\"comparisonOperator\":\"in-cidr-set\",\"value\":{\"cidrs\":[\"10.0.0.0/8\"]}}},"
    "{\"name\":\"cpu\",\"metric\":\"cpu_usage\",\"criteria\":{\"comparisonOperator\":\"less-than\","
    "\"value\":{\"number\":0}}},"
    "{\"name\":\"my\",\"metric\":\"my_custom_metric\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than\",\"value\":{\"number\":0}}},"
    "{\"name\":\"up\",\"metric\":\"uptime\",\"criteria\":{\"comparisonOperator\":\"less-than\","
    "\"value\":{\"number\":0}}},"
    "{\"name\":\"mem\",\"metric\":\"free_mem\",\"criteria\":{\"comparisonOperator\":\"less-than\","
    "\"value\":{\"number\":0}}},"
    "{\"name\":\"cuu\",\"metric\":\"cpu_user_usage\",\"criteria\":{\"comparisonOperator\":\"in-"
    "set\",\"value\":{\"numbers\":[1]}}},"
    "{\"name\":\"nif\",\"metric\":\"network_interface_names\",\"criteria\":{\"comparisonOperator\":"
    "\"not-in-set\",\"value\":{\"strings\":[\"eth0\"]}}},"
    "{\"name\":\"nia\",\"metric\":\"network_interface_addresses\",\"criteria\":{"
    "\"comparisonOperator\":\"not-in-cidr-set\",\"value\":{\"cidrs\":[\"192.0.2.0/24\"]}}}]}";

static void extract(const char *file, dd_report_format_t fmt, bool hex, char *out, size_t len)
{
    static const dd_custom_metric_def_t DEFS[] = {
        {.name = "cpu_usage", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "my_custom_metric", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "uptime", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "free_mem", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "cpu_user_usage", .type = DD_CUSTOM_TYPE_NUMBER_LIST},
        {.name = "network_interface_names", .type = DD_CUSTOM_TYPE_STRING_LIST},
        {.name = "network_interface_addresses", .type = DD_CUSTOM_TYPE_IP_ADDRESS_LIST},
    };
    dd_engine_t *e = NULL;
    rec_t r;
    dd_engine_sink_t s = sink_for(&r);
    dd_report_t rep;
    size_t n = 0;
    size_t i;
    uint8_t *payload = load_fixture(file, &n, hex);

    r.verbose_lists = true;
    assert_int_equal(dd_engine_create(NULL, NULL, &s, &e), DD_ENGINE_OK);
    for (i = 0; i < sizeof(DEFS) / sizeof(DEFS[0]); i++) {
        assert_int_equal(dd_engine_put_custom_metric(e, &DEFS[i]), DD_ENGINE_OK);
    }
    put_profile(e, EXTRACT, 0);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(dd_report_decode(fmt, payload, n, &rep, NULL), DD_REPORT_OK);
    assert_int_equal(dd_engine_on_report(e, "t", 1000, &rep), DD_ENGINE_OK);
    dd_report_free(&rep);
    free(payload);
    assert_true(strlen(r.log) < len);
    memcpy(out, r.log, strlen(r.log) + 1);
    dd_engine_destroy(e);
}

static void test_dd_engine_metric_extraction_from_wire_samples(void **state)
{
    char *log = malloc(16384);

    (void)state;
    /* wire-samples.md 1: Python agent, long keys (connection list shortened, total 10). */
    extract("python-agent-long.json", DD_REPORT_FORMAT_JSON, false, log, 16384);
    assert_string_equal(log, "in-alarm t x bi 7226 @1000\n"
                             "in-alarm t x bo 7226 @1000\n"
                             "in-alarm t x pi 28 @1000\n"
                             "in-alarm t x po 28 @1000\n"
                             "in-alarm t x ntcp 4 @1000\n"
                             "in-alarm t x nudp 0 @1000\n"
                             "in-alarm t x nconn 10 @1000\n"
                             "in-alarm t x tcp [8883,2024,443,11883] @1000\n"
                             "in-alarm t x dst [127.0.0.1,127.0.0.1,127.0.0.1] @1000\n"
                             "in-alarm t x cpu 1.1 @1000\n");
    /* 2: the same agent in CBOR (decoded by hand from the hex: 256/256 bytes, 4/4 packets,
     * 10 connections, 4 TCP ports, no UDP block - an empty list conforms - and no custom
     * metrics). */
    extract("python-agent.cbor.hex", DD_REPORT_FORMAT_CBOR, true, log, 16384);
    assert_string_equal(log, "in-alarm t x bi 256 @1000\n"
                             "in-alarm t x bo 256 @1000\n"
                             "in-alarm t x pi 4 @1000\n"
                             "in-alarm t x po 4 @1000\n"
                             "in-alarm t x ntcp 4 @1000\n"
                             "in-alarm t x nudp 0 @1000\n"
                             "in-alarm t x nconn 10 @1000\n"
                             "in-alarm t x tcp [443,2024,8883,11883] @1000\n"
                             "in-alarm t x dst [127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,"
                             "127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1] @1000\n");
    /* 3: embedded C SDK, short keys, all custom metric kinds. */
    extract("c-sdk-short.json", DD_REPORT_FORMAT_JSON, false, log, 16384);
    assert_string_equal(
        log,
        "in-alarm t x bi 27810443 @1000\n"
        "in-alarm t x bo 391021 @1000\n"
        "in-alarm t x pi 2850 @1000\n"
        "in-alarm t x po 2699 @1000\n"
        "in-alarm t x ntcp 3 @1000\n"
        "in-alarm t x nudp 0 @1000\n"
        "in-alarm t x nconn 6 @1000\n"
        "in-alarm t x tcp [2024,8883,11884] @1000\n"
        "in-alarm t x dst [127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1] @1000\n"
        "in-alarm t x up 1293 @1000\n"
        "in-alarm t x mem 24260296 @1000\n"
        "in-alarm t x cuu [11755,4697,7058] @1000\n"
        "in-alarm t x nif [eth0] @1000\n"
        "in-alarm t x nia [192.0.2.1] @1000\n");
    /* None of the three samples lists a UDP port; the spec's minimal long-key report does. */
    extract("spec-minimal-long.json", DD_REPORT_FORMAT_JSON, false, log, 16384);
    assert_string_equal(log, "in-alarm t x bi 30680 @1000\n"
                             "in-alarm t x bo 10652 @1000\n"
                             "in-alarm t x pi 113 @1000\n"
                             "in-alarm t x po 118 @1000\n"
                             "in-alarm t x ntcp 1 @1000\n"
                             "in-alarm t x nudp 1 @1000\n"
                             "in-alarm t x nconn 1 @1000\n"
                             "in-alarm t x tcp [22] @1000\n"
                             "in-alarm t x udp [5353] @1000\n"
                             "in-alarm t x dst [192.168.0.1] @1000\n"
                             "in-alarm t x my 0 @1000\n");
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_engine_module4_intended_and_literal),
        cmocka_unit_test(test_dd_engine_trailing_window_sums_deltas),
        cmocka_unit_test(test_dd_engine_state_machine_3_3_and_invalidation),
        cmocka_unit_test(test_dd_engine_invalidation_times),
        cmocka_unit_test(test_dd_engine_targets_and_coverage_changes),
        cmocka_unit_test(test_dd_engine_profile_update_keeps_unchanged_behaviors),
        cmocka_unit_test(test_dd_engine_cloud_tumbling_windows_and_dimensions),
        cmocka_unit_test(test_dd_engine_statistical_threshold),
        cmocka_unit_test(test_dd_engine_resume_from_state_blob),
        cmocka_unit_test(test_dd_engine_custom_metrics_lists_and_ml),
        cmocka_unit_test(test_dd_engine_ml_training_summary),
        cmocka_unit_test(test_dd_engine_ml_detects_a_labelled_anomaly),
        cmocka_unit_test(test_dd_engine_verification_and_bad_input),
        cmocka_unit_test(test_dd_engine_metric_extraction_from_wire_samples),
        cmocka_unit_test(test_dd_engine_cloud_counts_received_attempts_disconnects),
        cmocka_unit_test(test_dd_engine_source_ip_cidr_sets),
        cmocka_unit_test(test_dd_engine_disconnect_duration),
        cmocka_unit_test(test_dd_engine_registered_things_target),
        cmocka_unit_test(test_dd_engine_dimension_not_in),
        cmocka_unit_test(test_dd_engine_last_violation_value_moves_same_id),
        cmocka_unit_test(test_dd_engine_detach_invalidates),
        cmocka_unit_test(test_dd_engine_device_statistical_p90_across_things),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
