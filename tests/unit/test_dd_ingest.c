#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <cjson/cJSON.h>

#include "dd_db.h"
#include "dd_engine.h"
#include "dd_events.h"
#include "dd_faults.h"
#include "dd_ingest.h"
#include "dd_log.h"
#include "dd_metering.h"
#include "dd_pipeline.h"
#include "dd_report.h"
#include "dd_store.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"
/* A multiple of 300 s: tumbling windows of cloud-side metrics start here. */
#define T0 1700000100000LL
#define REPORT_TOPIC(thing) "$aws/things/" thing "/defender/metrics/json"
#define CBOR_TOPIC(thing) "$aws/things/" thing "/defender/metrics/cbor"
#define METERING_TOPIC "$ddlocal/metering/v1"

typedef struct fixture {
    char dir[64];
    dd_pipeline_t p;
    dd_outbox_t box;
    dd_ingest_t ing;
} fixture_t;

/* The pipeline as ddlocald opens it (dd_pipeline_open()), on a manual clock. */
static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipeline_config_t cfg;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_ingest_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    dd_pipeline_config_default(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir);
    snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:%lld", (long long)(T0 + 1000));
    if (dd_pipeline_open(&cfg, &f->p) != DD_PIPELINE_OK) {
        return -1;
    }
    dd_outbox_init(&f->box);
    if (dd_ingest_init(&f->ing, NULL) != DD_INGEST_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_ingest_destroy(&f->ing);
    dd_outbox_destroy(&f->box);
    dd_pipeline_close(&f->p);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void reconfigure(fixture_t *f, const dd_ingest_config_t *cfg)
{
    dd_ingest_destroy(&f->ing);
    assert_int_equal(dd_ingest_init(&f->ing, cfg), DD_INGEST_OK);
}

static int64_t now_ms(fixture_t *f)
{
    return dd_clock_now_ms(&f->p.clock);
}

static void advance(fixture_t *f, int64_t ms)
{
    assert_int_equal(dd_clock_advance(&f->p.clock, ms, NULL), DD_CLOCK_OK);
}

/* One message as the MQTT worker hands it over. */
static void make_msg(dd_svcmqtt_msg_t *m, char *topic, const void *payload, size_t len)
{
    memset(m, 0, sizeof(*m));
    m->topic = topic;
    m->payload = (uint8_t *)(uintptr_t)payload;
    m->len = len;
    m->qos = 1;
}

/* Processes a batch of one message. */
static dd_ingest_status_t feed(fixture_t *f, const char *topic, const void *payload, size_t len)
{
    char t[256];
    dd_svcmqtt_msg_t m;

    snprintf(t, sizeof(t), "%s", topic);
    make_msg(&m, t, payload, len);
    return dd_ingest_batch(&f->ing, &f->p, &f->box, &m);
}

static dd_ingest_status_t feed_text(fixture_t *f, const char *topic, const char *json)
{
    return feed(f, topic, json, strlen(json));
}

/* Takes the outbox, which must hold exactly one publication on @p topic. */
static dd_outbox_entry_t *take_one(fixture_t *f, const char *topic)
{
    dd_outbox_entry_t *e = dd_outbox_take(&f->box);

    assert_non_null(e);
    assert_null(e->next);
    assert_int_equal(e->kind, DD_OUTBOX_PUBLISH);
    assert_string_equal(e->target, topic);
    assert_int_equal(e->qos, 1);
    return e;
}

/* Takes the single reply on @p topic and compares it with @p want. */
static void expect_reply(fixture_t *f, const char *topic, const char *want)
{
    dd_outbox_entry_t *e = take_one(f, topic);

    assert_string_equal((const char *)e->payload, want);
    assert_int_equal(e->len, strlen(want));
    dd_outbox_entries_free(e);
}

static void expect_accepted(fixture_t *f, const char *thing, uint64_t rid)
{
    char topic[256];
    char want[256];

    snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json/accepted", thing);
    snprintf(want, sizeof(want),
             "{\"thingName\":\"%s\",\"reportId\":%" PRIu64 ",\"status\":\"ACCEPTED\","
             "\"timestamp\":%" PRId64 "}",
             thing, rid, now_ms(f));
    expect_reply(f, topic, want);
}

/* A /rejected reply; @p rid < 0: without reportId. */
static void expect_rejected(fixture_t *f, const char *thing, int64_t rid, const char *code,
                            const char *message)
{
    char topic[256];
    char id[48] = "";
    char want[512];

    snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json/rejected", thing);
    if (rid >= 0) {
        snprintf(id, sizeof(id), "\"reportId\":%" PRId64 ",", rid);
    }
    snprintf(want, sizeof(want),
             "{\"thingName\":\"%s\",%s\"status\":\"REJECTED\",\"statusDetails\":{\"ErrorCode\":"
             "\"%s\",\"ErrorMessage\":\"%s\"},\"timestamp\":%" PRId64 "}",
             thing, id, code, message, now_ms(f));
    expect_reply(f, topic, want);
}

static int64_t query_int(fixture_t *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(f->p.db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void query_text(fixture_t *f, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(f->p.db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void exec_sql(fixture_t *f, const char *sql)
{
    assert_int_equal(sqlite3_exec(f->p.db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* Creates a profile in the store, targets all things, and gives it to the engine. */
static void add_profile(fixture_t *f, const char *json, const char *name)
{
    dd_profile_t p;

    assert_int_equal(dd_profile_parse(json, strlen(json), NULL, &p, NULL), DD_PROFILE_OK);
    assert_int_equal(dd_store_profile_create(f->p.store, &p, now_ms(f)), DD_STORE_OK);
    assert_int_equal(dd_store_target_attach(f->p.store, name, ARN "all/things"), DD_STORE_OK);
    dd_profile_free(&p);
    assert_int_equal(dd_store_profile_get(f->p.store, name, &p), DD_STORE_OK);
    assert_int_equal(dd_engine_put_profile(f->p.engine, &p, now_ms(f)), DD_ENGINE_OK);
    dd_profile_free(&p);
}

/* Module 4's rule: more than 200 bytes out in 5 minutes violates. */
static const char *BYTES_PROFILE =
    "{\"securityProfileName\":\"m4\",\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":"
    "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":"
    "{\"count\":200},\"durationSeconds\":300}}]}";

static void report_json(char *buf, size_t len, uint64_t rid, uint64_t bytes_out)
{
    snprintf(buf, len,
             "{\"header\":{\"report_id\":%" PRIu64 ",\"version\":\"1.0\"},\"metrics\":{"
             "\"network_stats\":{\"bytes_in\":1,\"bytes_out\":%" PRIu64 ",\"packets_in\":1,"
             "\"packets_out\":1}}}",
             rid, bytes_out);
}

static dd_ingest_status_t send_report(fixture_t *f, const char *topic, uint64_t rid,
                                      uint64_t bytes_out)
{
    char json[256];

    report_json(json, sizeof(json), rid, bytes_out);
    return feed_text(f, topic, json);
}

/* ---------------------------------------------------------------- accepted reports */

static void test_dd_ingest_json_report_accepted_stored_evaluated(void **state)
{
    fixture_t *f = *state;
    char json[256];
    char text[512];
    int64_t t1;

    add_profile(f, BYTES_PROFILE, "m4");
    report_json(json, sizeof(json), 1001, 150);
    assert_int_equal(feed_text(f, REPORT_TOPIC("Thing03"), json), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1001);
    t1 = now_ms(f);
    /* Stored as received, and marked evaluated in the same transaction. */
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 1);
    query_text(f, "SELECT thing FROM ev_reports", text, sizeof(text));
    assert_string_equal(text, "Thing03");
    assert_int_equal(query_int(f, "SELECT report_id FROM ev_reports"), 1001);
    assert_int_equal(query_int(f, "SELECT received_ms FROM ev_reports"), t1);
    assert_int_equal(query_int(f, "SELECT format FROM ev_reports"), DD_REPORT_FORMAT_JSON);
    query_text(f, "SELECT CAST(payload AS TEXT) FROM ev_reports", text, sizeof(text));
    assert_string_equal(text, json);
    assert_int_equal(query_int(f, "SELECT evaluated FROM ev_reports"), 1);
    /* Evaluated: the behavior's metric is retained, 150 <= 200 raises nothing. */
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_metric_values WHERE thing = 'Thing03'"),
                     1);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_violation_events"), 0);
    assert_int_equal(f->ing.stats.reports_accepted, 1);
    assert_int_equal(f->ing.stats.reports_rejected, 0);

    /* 150 + 3000 bytes within 300 s violates: an in-alarm event in the store. */
    advance(f, 60000);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1002, 3000), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1002);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_violation_events"), 1);
    query_text(
        f,
        "SELECT event_type || ' ' || thing || ' ' || profile || ' ' || behavior || ' ' || value"
        " FROM ev_violation_events",
        text, sizeof(text));
    assert_string_equal(text, "in-alarm Thing03 m4 MoreBytesSent {\"count\":3150}");
    assert_int_equal(query_int(f, "SELECT time_ms FROM ev_violation_events"), now_ms(f));
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_active_violations"), 1);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE evaluated = 1"), 2);
    assert_int_equal(f->ing.stats.reports_accepted, 2);
}

static const cbor_item_t *cbor_member(const cbor_item_t *map, const char *key)
{
    struct cbor_pair *pairs = cbor_map_handle(map);
    size_t i;

    for (i = 0; i < cbor_map_size(map); i++) {
        if (cbor_isa_string(pairs[i].key) && cbor_string_length(pairs[i].key) == strlen(key) &&
            memcmp(cbor_string_handle(pairs[i].key), key, strlen(key)) == 0) {
            return pairs[i].value;
        }
    }
    fail_msg("no member %s", key);
    return NULL;
}

static void assert_cbor_text(const cbor_item_t *it, const char *want)
{
    assert_true(cbor_isa_string(it));
    assert_int_equal(cbor_string_length(it), strlen(want));
    assert_memory_equal(cbor_string_handle(it), want, strlen(want));
}

static void test_dd_ingest_cbor_report_gets_cbor_reply(void **state)
{
    fixture_t *f = *state;
    dd_report_t rep;
    uint8_t buf[512];
    size_t len = 0;
    dd_outbox_entry_t *e;
    struct cbor_load_result res;
    cbor_item_t *root;
    const cbor_item_t *details;

    memset(&rep, 0, sizeof(rep));
    rep.report_id = 77;
    rep.has_metrics = rep.net.present = rep.net.has_bytes_out = true;
    rep.net.bytes_out = 10;
    assert_int_equal(dd_report_encode(&rep, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_SHORT, buf,
                                      sizeof(buf), &len),
                     DD_REPORT_OK);
    assert_int_equal(feed(f, CBOR_TOPIC("Thing03"), buf, len), DD_INGEST_OK);
    e = take_one(f, "$aws/things/Thing03/defender/metrics/cbor/accepted");
    root = cbor_load(e->payload, e->len, &res);
    assert_non_null(root);
    assert_int_equal(res.read, e->len);
    assert_true(cbor_isa_map(root));
    assert_int_equal(cbor_map_size(root), 4);
    assert_cbor_text(cbor_member(root, "thingName"), "Thing03");
    assert_int_equal(cbor_get_int(cbor_member(root, "reportId")), 77);
    assert_cbor_text(cbor_member(root, "status"), "ACCEPTED");
    assert_int_equal(cbor_get_int(cbor_member(root, "timestamp")), now_ms(f));
    cbor_decref(&root);
    dd_outbox_entries_free(e);
    assert_int_equal(query_int(f, "SELECT format FROM ev_reports"), DD_REPORT_FORMAT_CBOR);
    assert_int_equal(query_int(f, "SELECT length(payload) FROM ev_reports"), (int64_t)len);

    /* Not CBOR at all: the rejection is CBOR too, on the cbor reply topic. */
    assert_int_equal(feed(f, CBOR_TOPIC("Thing03"), "\xff\xff", 2), DD_INGEST_OK);
    e = take_one(f, "$aws/things/Thing03/defender/metrics/cbor/rejected");
    root = cbor_load(e->payload, e->len, &res);
    assert_non_null(root);
    assert_true(cbor_isa_map(root));
    assert_cbor_text(cbor_member(root, "status"), "REJECTED");
    details = cbor_member(root, "statusDetails");
    assert_cbor_text(cbor_member(details, "ErrorCode"), "InvalidPayload");
    assert_cbor_text(cbor_member(details, "ErrorMessage"), "Malformed metrics report");
    cbor_decref(&root);
    dd_outbox_entries_free(e);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 1);
}

/* ---------------------------------------------------------------- rejected reports */

typedef struct malformed {
    const char *what;
    const char *payload;   /* NULL: the oversize report */
    int64_t rid;           /* -1: not readable, no reportId in the reply */
    const char *fine_code; /* with fine_error_codes */
} malformed_t;

static const malformed_t MALFORMED[] = {
    {"not JSON", "{\"header\":", -1, "InvalidJson"},
    {"not an object", "[1,2]", -1, "InvalidPayload"},
    {"missing header", "{\"metrics\":{}}", -1, "MissingRequiredField"},
    {"missing metrics", "{\"header\":{\"report_id\":7,\"version\":\"1.0\"}}", 7,
     "MissingRequiredField"},
    {"report_id of the wrong type",
     "{\"header\":{\"report_id\":\"7\",\"version\":\"1.0\"},\"metrics\":{}}", -1, "InvalidPayload"},
    {"counter of the wrong type",
     "{\"header\":{\"report_id\":8,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
     "{\"bytes_out\":\"many\"}}}",
     8, "InvalidPayload"},
    {"custom metric not in an array",
     "{\"header\":{\"report_id\":9,\"version\":\"1.0\"},\"custom_metrics\":{\"cpu\":{\"number\":1}}"
     "}",
     9, "InvalidCustomMetric"},
    {"unsupported version", "{\"header\":{\"report_id\":10,\"version\":\"2.0\"},\"metrics\":{}}",
     10, "UnsupportedVersion"},
    {"oversize", NULL, -1, "PayloadTooLarge"},
};

/* A well-formed report padded with blanks past AWS's 128 KB limit. */
static char *oversize_report(size_t *len)
{
    const char *head = "{\"header\":{\"report_id\":12,\"version\":\"1.0\"},\"metrics\":{}";
    size_t n = DD_REPORT_MAX_PAYLOAD + 1;
    char *buf = malloc(n + 1);

    assert_non_null(buf);
    memset(buf, ' ', n);
    memcpy(buf, head, strlen(head));
    buf[n - 1] = '}';
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void feed_malformed(fixture_t *f, const malformed_t *m)
{
    size_t len;
    char *big;

    if (m->payload != NULL) {
        assert_int_equal(feed_text(f, REPORT_TOPIC("Thing03"), m->payload), DD_INGEST_OK);
        return;
    }
    big = oversize_report(&len);
    assert_int_equal(feed(f, REPORT_TOPIC("Thing03"), big, len), DD_INGEST_OK);
    free(big);
}

static void test_dd_ingest_malformed_reports_rejected_without_state_change(void **state)
{
    fixture_t *f = *state;
    size_t i;

    add_profile(f, BYTES_PROFILE, "m4");
    for (i = 0; i < sizeof(MALFORMED) / sizeof(MALFORMED[0]); i++) {
        print_message("%s\n", MALFORMED[i].what);
        feed_malformed(f, &MALFORMED[i]);
        /* AWS's only documented code; reportId whenever it was readable. */
        expect_rejected(f, "Thing03", MALFORMED[i].rid, "InvalidPayload",
                        "Malformed metrics report");
        advance(f, 1000);
    }
    assert_int_equal(f->ing.stats.reports_rejected, sizeof(MALFORMED) / sizeof(MALFORMED[0]));
    assert_int_equal(f->ing.stats.reports_accepted, 0);
    /* No state change at all: nothing stored, the engine saw nothing. */
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 0);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_metric_values"), 0);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_thing_state"), 0);
    assert_int_equal(dd_engine_now(f->p.engine), T0 + 1000);
}

static void test_dd_ingest_fine_error_codes(void **state)
{
    fixture_t *f = *state;
    dd_ingest_config_t cfg;
    dd_outbox_entry_t *e;
    cJSON *root;
    const cJSON *details;
    const cJSON *rid;
    size_t i;

    dd_ingest_config_default(&cfg);
    cfg.fine_error_codes = true;
    reconfigure(f, &cfg);
    for (i = 0; i < sizeof(MALFORMED) / sizeof(MALFORMED[0]); i++) {
        print_message("%s\n", MALFORMED[i].what);
        feed_malformed(f, &MALFORMED[i]);
        e = take_one(f, "$aws/things/Thing03/defender/metrics/json/rejected");
        root = cJSON_Parse((const char *)e->payload);
        assert_non_null(root);
        details = cJSON_GetObjectItemCaseSensitive(root, "statusDetails");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(details, "ErrorCode")->valuestring,
                            MALFORMED[i].fine_code);
        /* The message says what is wrong rather than the generic text. */
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(details, "ErrorMessage")));
        assert_string_not_equal(
            cJSON_GetObjectItemCaseSensitive(details, "ErrorMessage")->valuestring,
            "Malformed metrics report");
        rid = cJSON_GetObjectItemCaseSensitive(root, "reportId");
        if (MALFORMED[i].rid < 0) {
            assert_null(rid);
        } else {
            assert_true(cJSON_IsNumber(rid));
            assert_int_equal((int64_t)rid->valuedouble, MALFORMED[i].rid);
        }
        cJSON_Delete(root);
        dd_outbox_entries_free(e);
    }
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 0);
}

static void test_dd_ingest_throttle(void **state)
{
    fixture_t *f = *state;
    dd_ingest_config_t cfg;
    static const char *const msg = "Device metric reports are throttled to one per 5 minutes";

    dd_ingest_config_default(&cfg);
    cfg.throttle = true;
    reconfigure(f, &cfg);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1);
    /* 299.999 s of pipeline time later: too soon. */
    advance(f, 299999);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    expect_rejected(f, "Thing03", 2, "Throttled", msg);
    /* Per thing: another device at the same moment is fine. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing04"), 2, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing04", 2);
    /* 300 s after the accepted one (the refused one does not count). */
    advance(f, 1);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 3, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 3);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 4, 10), DD_INGEST_OK);
    expect_rejected(f, "Thing03", 4, "Throttled", msg);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE thing = 'Thing03'"), 2);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE report_id IN (2, 4)"
                                  " AND thing = 'Thing03'"),
                     0);
    assert_int_equal(f->ing.stats.reports_accepted, 3);
    assert_int_equal(f->ing.stats.reports_rejected, 2);
}

static void add_fault(dd_faults_t *t, const char *json)
{
    dd_faults_fault_t fault;
    char msg[200];

    assert_int_equal(dd_faults_parse(json, strlen(json), 0, &fault, msg, sizeof(msg)),
                     DD_FAULTS_OK);
    assert_int_equal(dd_faults_add(t, &fault, NULL), DD_FAULTS_OK);
}

static void test_dd_ingest_injected_faults(void **state)
{
    fixture_t *f = *state;
    dd_faults_t faults;
    dd_events_t *events = NULL;
    dd_outbox_entry_t *e;
    dd_events_query_t q;
    char *json = NULL;

    dd_faults_init(&faults);
    assert_int_equal(dd_events_create(64, 1, &events), DD_EVENTS_OK);
    f->ing.faults = &faults;
    f->ing.events = events;
    add_fault(&faults, "{\"kind\":\"throttle\",\"thing\":\"Thing03\",\"count\":1}");
    add_fault(&faults, "{\"kind\":\"no-reply\",\"thing\":\"Thing04\",\"count\":1}");
    add_fault(&faults, "{\"kind\":\"disconnect\",\"thing\":\"Thing05\",\"count\":1}");

    /* throttle: Throttled, nothing stored. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    expect_rejected(f, "Thing03", 1, "Throttled",
                    "Device metric reports are throttled to one per 5 minutes");
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 0);
    /* no-reply: stored, no reply at all. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing04"), 2, 10), DD_INGEST_OK);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 1);
    assert_int_equal(f->ing.stats.reports_accepted, 1);
    /* delay-reply ("*"): the reply is queued, marked late. */
    add_fault(&faults, "{\"kind\":\"delay-reply\",\"delayMs\":700,\"count\":1}");
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 3, 10), DD_INGEST_OK);
    e = take_one(f, REPORT_TOPIC("Thing03") "/accepted");
    assert_int_equal(e->delay_ms, 700);
    dd_outbox_entries_free(e);
    /* disconnect: not stored, not answered; a kick of the thing for the shim. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing05"), 4, 10), DD_INGEST_OK);
    e = take_one(f, "$CONTROL/ddlocal/v1/kick");
    assert_string_equal((const char *)e->payload, "{\"thing\":\"Thing05\"}");
    dd_outbox_entries_free(e);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 2);
    /* Every count is spent: back to normal. */
    assert_int_equal(faults.count, 0);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing05"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing05", 5);
    /* Each firing is a fault event. */
    memset(&q, 0, sizeof(q));
    q.types = "fault";
    assert_int_equal(dd_events_query(events, &q, &json), DD_EVENTS_OK);
    assert_non_null(strstr(json, "\"kind\":\"throttle\",\"thing\":\"Thing03\","
                                 "\"outcome\":\"throttled\""));
    assert_non_null(strstr(json, "\"outcome\":\"no-reply\""));
    assert_non_null(strstr(json, "\"outcome\":\"delayed\",\"delayMs\":700"));
    assert_non_null(strstr(json, "\"thing\":\"Thing05\",\"outcome\":\"disconnected\""));
    free(json);
    f->ing.faults = NULL;
    f->ing.events = NULL;
    dd_events_close(events);
    dd_events_destroy(events);
}

static void test_dd_ingest_duplicate_report_ids(void **state)
{
    fixture_t *f = *state;
    dd_ingest_config_t cfg;
    static const char *const msg = "A report with this report_id was already accepted";

    /* By default (throttle off, duplicates accepted) the same id twice at once is fine. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 5);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 5);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 2);

    dd_ingest_config_default(&cfg);
    cfg.reject_duplicate_ids = true;
    reconfigure(f, &cfg);
    advance(f, 1000);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 5);
    advance(f, 1000);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 5, 10), DD_INGEST_OK);
    expect_rejected(f, "Thing03", 5, "DuplicateReportId", msg);
    /* Per thing. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing04"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing04", 5);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 6, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 6);
    /* Only the previous id counts. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 5, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 5);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 6);
}

/* After a restart, a report byte-identical to one stored before is the broker
 * redelivering it: dropped without a reply, once per stored copy, and only
 * until the service forgets the stored ones. */
static void test_dd_ingest_redelivery_after_restart(void **state)
{
    fixture_t *f = *state;
    dd_outbox_entry_t *e;

    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 2);
    /* A new process: the stored reports are what a redelivery may repeat. */
    reconfigure(f, NULL);
    assert_int_equal(dd_ingest_expect_redeliveries(&f->ing, f->p.store), DD_INGEST_OK);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    e = dd_outbox_take(&f->box);
    assert_null(e);
    assert_int_equal(f->ing.stats.reports_redelivered, 1);
    assert_int_equal(f->ing.stats.reports_accepted, 0);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE report_id = 2"), 1);
    /* One copy stored, one redelivery: the next identical one is new. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 2);
    /* Same report id, other bytes, other thing or other format: not a redelivery. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 11), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing04"), 1, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing04", 1);
    assert_int_equal(send_report(f, CBOR_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    /* (JSON bytes on the CBOR topic: decoded as CBOR, hence refused - but not dropped.) */
    dd_outbox_entries_free(take_one(f, CBOR_TOPIC("Thing03") "/rejected"));
    assert_int_equal(f->ing.stats.reports_redelivered, 1);
    /* Forgotten: report 1 (stored before the start) is new again. */
    dd_ingest_forget_redeliveries(&f->ing);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1);
    assert_int_equal(f->ing.stats.reports_redelivered, 1);
    assert_int_equal(
        query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE report_id = 1 AND thing = 'Thing03'"),
        3);
}

static void test_dd_ingest_other_topics_ignored(void **state)
{
    fixture_t *f = *state;
    char json[256];
    char t1[] = REPORT_TOPIC("Thing03") "/accepted";
    char t2[] = "some/other/topic";
    char t3[] = "$aws/things/Bad+Name/defender/metrics/json";
    dd_svcmqtt_msg_t m[3];

    report_json(json, sizeof(json), 1, 10);
    make_msg(&m[0], t1, json, strlen(json));
    make_msg(&m[1], t2, json, strlen(json));
    make_msg(&m[2], t3, json, strlen(json));
    m[0].next = &m[1];
    m[1].next = &m[2];
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, m), DD_INGEST_OK);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 0);
    assert_int_equal(f->ing.stats.reports_accepted + f->ing.stats.reports_rejected, 0);
    /* An empty batch is a no-op. */
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, NULL), DD_INGEST_OK);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(dd_ingest_batch(NULL, &f->p, &f->box, m), DD_INGEST_BAD_PARAMETER);
    assert_int_equal(dd_ingest_batch(&f->ing, NULL, &f->box, m), DD_INGEST_BAD_PARAMETER);
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, NULL, m), DD_INGEST_BAD_PARAMETER);
    assert_int_equal(dd_ingest_init(NULL, NULL), DD_INGEST_BAD_PARAMETER);
}

/* ---------------------------------------------------------------- metering */

typedef struct batch {
    uint8_t buf[4096];
    dd_metering_writer_t w;
    size_t len;
} batch_t;

static void batch_begin(batch_t *b, uint64_t instance, uint64_t seq)
{
    assert_int_equal(dd_metering_writer_begin(&b->w, b->buf, sizeof(b->buf), instance, seq),
                     DD_METERING_OK);
}

static void batch_add(batch_t *b, dd_metering_type_t type, const char *thing, int64_t time_ms)
{
    dd_metering_record_t r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.time_ms = time_ms;
    r.registered = true;
    r.key = dd_metering_cstr(thing);
    if (type == DD_METERING_AUTH_FAILURE) {
        r.subject = dd_metering_cstr("cmd/forbidden");
        r.action = DD_METERING_ACTION_PUBLISH;
        r.reason = DD_METERING_REASON_POLICY;
    } else {
        r.subject = dd_metering_cstr(thing);
        r.success = true;
        r.ip = dd_metering_cstr("127.0.0.1");
    }
    assert_int_equal(dd_metering_writer_add(&b->w, &r), DD_METERING_OK);
}

static void batch_feed(fixture_t *f, batch_t *b)
{
    assert_int_equal(dd_metering_writer_finish(&b->w, &b->len), DD_METERING_OK);
    assert_int_equal(feed(f, METERING_TOPIC, b->buf, b->len), DD_INGEST_OK);
    /* Metering is never answered. */
    assert_null(dd_outbox_take(&f->box));
}

/* Closes the cloud-side windows ending before @p now as the service's tick does. */
static void tick(fixture_t *f, int64_t now)
{
    assert_int_equal(dd_store_begin(f->p.store), DD_STORE_OK);
    assert_int_equal(dd_engine_tick(f->p.engine, now), DD_ENGINE_OK);
    assert_int_equal(dd_store_sink_status(f->p.store), DD_STORE_OK);
    assert_int_equal(dd_store_commit(f->p.store), DD_STORE_OK);
}

/* The metering the engine used is stored compactly for `ddlocal export` (record.md). */
static void test_dd_ingest_metering_stored_compactly(void **state)
{
    fixture_t *f = *state;
    batch_t *a = calloc(1, sizeof(*a));
    batch_t *b = calloc(1, sizeof(*b));
    dd_ingest_config_t cfg;
    char text[512];

    batch_begin(a, 0xa, 1);
    batch_add(a, DD_METERING_CONNECT, "Thing05", T0 + 1000);
    batch_add(a, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 2000);
    batch_add(a, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 3000);
    batch_add(a, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 61000); /* the next minute */
    batch_add(a, DD_METERING_DISCONNECT, "Thing05", T0 + 62000);
    batch_feed(f, a);
    /* A redelivered batch adds nothing. */
    assert_int_equal(feed(f, METERING_TOPIC, a->buf, a->len), DD_INGEST_OK);
    query_text(
        f,
        "SELECT group_concat(kind || ' ' || (time_ms - bucket_ms) || ' ' || subject || ' ' ||"
        " flags || ' x' || count, '; ') FROM (SELECT * FROM ev_metering ORDER BY seq)",
        text, sizeof(text));
    assert_string_equal(text, "3 0 127.0.0.1 3 x1; 2 2000 cmd/forbidden 3 x2; "
                              "2 1000 cmd/forbidden 3 x1; 4 0  3 x1");

    /* Retention 0: nothing is stored. */
    dd_ingest_config_default(&cfg);
    cfg.metering_retention_ms = 0;
    reconfigure(f, &cfg);
    exec_sql(f, "DELETE FROM ev_metering");
    batch_begin(b, 0xb, 1);
    batch_add(b, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 63000);
    batch_feed(f, b);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_metering"), 0);
    free(a);
    free(b);
}

static void test_dd_ingest_metering_batches_and_duplicates(void **state)
{
    fixture_t *f = *state;
    batch_t *a1 = calloc(1, sizeof(*a1));
    batch_t *a2 = calloc(1, sizeof(*a2));
    batch_t *b1 = calloc(1, sizeof(*b1));
    char text[256];

    /* More than 2 authorization failures in 5 minutes violates. */
    add_profile(
        f,
        "{\"securityProfileName\":\"auth\",\"behaviors\":[{\"name\":\"AuthFailures\","
        "\"metric\":\"aws:num-authorization-failures\",\"criteria\":{\"comparisonOperator\":"
        "\"less-than-equals\",\"value\":{\"count\":2},\"durationSeconds\":300}}]}",
        "auth");
    /* Window 1: a connection and 2 failures, delivered twice (QoS 1 redelivery). */
    batch_begin(a1, 0xa, 1);
    batch_add(a1, DD_METERING_CONNECT, "Thing05", T0 + 1000);
    batch_add(a1, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 2000);
    batch_add(a1, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 3000);
    batch_feed(f, a1);
    assert_int_equal(f->ing.stats.metering_batches, 1);
    assert_int_equal(f->ing.stats.metering_records, 3);
    assert_int_equal(f->ing.stats.metering_duplicates, 0);
    assert_int_equal(f->ing.stats.connected_things, 1);
    assert_int_equal(feed(f, METERING_TOPIC, a1->buf, a1->len), DD_INGEST_OK);
    assert_int_equal(f->ing.stats.metering_batches, 1);
    assert_int_equal(f->ing.stats.metering_records, 3);
    assert_int_equal(f->ing.stats.metering_duplicates, 1);
    assert_int_equal(f->ing.stats.connected_things, 1);
    /* 2 failures conform; counted twice they would have raised an alarm. */
    tick(f, T0 + 300001);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_violation_events"), 0);

    /* Window 2: the next batch of the same shim, another shim's first batch (its own
     * sequence), and the old batch once more. 2 + 1 = 3 failures violate. */
    dd_clock_set(&f->p.clock, T0 + 300001);
    batch_begin(a2, 0xa, 2);
    batch_add(a2, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 301000);
    batch_add(a2, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 302000);
    batch_feed(f, a2);
    batch_begin(b1, 0xb, 1);
    batch_add(b1, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 303000);
    batch_feed(f, b1);
    assert_int_equal(feed(f, METERING_TOPIC, a1->buf, a1->len), DD_INGEST_OK);
    assert_int_equal(f->ing.stats.metering_batches, 3);
    assert_int_equal(f->ing.stats.metering_records, 6);
    assert_int_equal(f->ing.stats.metering_duplicates, 2);
    tick(f, T0 + 600001);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_violation_events"), 1);
    query_text(f, "SELECT event_type || ' ' || thing || ' ' || value FROM ev_violation_events",
               text, sizeof(text));
    assert_string_equal(text, "in-alarm Thing05 {\"count\":3}");
    /* A malformed batch is dropped without effect. */
    assert_int_equal(feed(f, METERING_TOPIC, "DDMB", 4), DD_INGEST_OK);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(f->ing.stats.metering_batches, 3);
    free(a1);
    free(a2);
    free(b1);
}

/* The broker's refusals become "enforcement" events; a redelivered batch announces none again. */
static void test_dd_ingest_enforcement_events(void **state)
{
    fixture_t *f = *state;
    batch_t *b = calloc(1, sizeof(*b));
    dd_events_t *events = NULL;
    dd_events_query_t q;
    char *json = NULL;

    assert_non_null(b);
    assert_int_equal(dd_events_create(64, 1, &events), DD_EVENTS_OK);
    f->ing.events = events;
    batch_begin(b, 0xe, 1);
    batch_add(b, DD_METERING_CONNECT, "Thing05", T0 + 1000);
    batch_add(b, DD_METERING_AUTH_FAILURE, "Thing05", T0 + 2000);
    batch_feed(f, b);
    assert_int_equal(feed(f, METERING_TOPIC, b->buf, b->len), DD_INGEST_OK); /* redelivery */
    memset(&q, 0, sizeof(q));
    q.types = "enforcement";
    assert_int_equal(dd_events_query(events, &q, &json), DD_EVENTS_OK);
    assert_non_null(strstr(json, "\"timeMs\":1700000102000,\"thing\":\"Thing05\","
                                 "\"registered\":true,\"action\":\"iot:Publish\","
                                 "\"decision\":\"denied\",\"reason\":\"policy\","
                                 "\"subject\":\"cmd/forbidden\""));
    /* Exactly one: the connect is not a refusal, the redelivery is not announced. */
    assert_non_null(strstr(json, "\"enforcement\""));
    assert_null(strstr(strstr(json, "\"enforcement\"") + 1, "\"enforcement\""));
    free(json);
    f->ing.events = NULL;
    dd_events_close(events);
    dd_events_destroy(events);
    free(b);
}

/* The shim's CONNECT and DISCONNECT records become the connection history (audits). */
static void test_dd_ingest_metering_connection_history(void **state)
{
    fixture_t *f = *state;
    batch_t *b = calloc(1, sizeof(*b));
    dd_metering_record_t r;

    assert_non_null(b);
    batch_begin(b, 0xd, 1);
    memset(&r, 0, sizeof(r));
    r.type = DD_METERING_CONNECT;
    r.time_ms = T0 + 100;
    r.registered = true;
    r.key = dd_metering_cstr("Thing01");
    r.subject = dd_metering_cstr("Thing01");
    r.success = true;
    r.ip = dd_metering_cstr("192.0.2.1");
    r.cert_id = dd_metering_cstr("c0ffee");
    assert_int_equal(dd_metering_writer_add(&b->w, &r), DD_METERING_OK);
    /* A refused connection is no connection. */
    r.subject = dd_metering_cstr("refused-client");
    r.success = false;
    assert_int_equal(dd_metering_writer_add(&b->w, &r), DD_METERING_OK);
    /* The takeover: the old connection closed, the new one (another certificate) opened. */
    memset(&r, 0, sizeof(r));
    r.type = DD_METERING_DISCONNECT;
    r.time_ms = T0 + 200;
    r.registered = true;
    r.key = dd_metering_cstr("Thing01");
    r.subject = dd_metering_cstr("Thing01");
    r.takeover = true;
    assert_int_equal(dd_metering_writer_add(&b->w, &r), DD_METERING_OK);
    memset(&r, 0, sizeof(r));
    r.type = DD_METERING_CONNECT;
    r.time_ms = T0 + 200;
    r.key = dd_metering_cstr("Thing01");
    r.subject = dd_metering_cstr("Thing01");
    r.success = true;
    r.ip = dd_metering_cstr("192.0.2.2");
    r.cert_id = dd_metering_cstr("beef");
    assert_int_equal(dd_metering_writer_add(&b->w, &r), DD_METERING_OK);
    batch_feed(f, b);

    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_connections"), 2);
    assert_int_equal(query_int(f, "SELECT taken_over FROM ev_connections WHERE cert_id = 'c0ffee'"),
                     1);
    assert_int_equal(query_int(f,
                               "SELECT disconnect_ms FROM ev_connections WHERE cert_id = 'c0ffee'"),
                     T0 + 200);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_connections WHERE cert_id = 'c0ffee'"
                                  " AND thing = 'Thing01' AND source_ip = '192.0.2.1'"),
                     1);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_connections WHERE cert_id = 'beef'"
                                  " AND thing = '' AND disconnect_ms IS NULL"),
                     1);
    free(b);
}

/* ---------------------------------------------------------------- rollback */

/* ddlocald holds a batch the store refused and tries it again: the retry must process it all. */
static void test_dd_ingest_rolled_back_batch_is_processed_again(void **state)
{
    fixture_t *f = *state;
    batch_t *a1 = calloc(1, sizeof(*a1));
    char j3[256];
    char tm[] = METERING_TOPIC;
    char t3[] = REPORT_TOPIC("Broken");
    const char *why = NULL;
    dd_svcmqtt_msg_t m[2];
    dd_outbox_entry_t *e;

    assert_non_null(a1);
    batch_begin(a1, 0xc, 1);
    batch_add(a1, DD_METERING_CONNECT, "Broken", T0 + 500);
    assert_int_equal(dd_metering_writer_finish(&a1->w, &a1->len), DD_METERING_OK);
    report_json(j3, sizeof(j3), 3, 10);
    make_msg(&m[0], tm, a1->buf, a1->len);
    make_msg(&m[1], t3, j3, strlen(j3));
    m[0].next = &m[1];
    exec_sql(f, "CREATE TEMP TRIGGER refuse_broken BEFORE INSERT ON ev_reports"
                " WHEN NEW.thing = 'Broken' BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, m), DD_INGEST_STORE_ERROR);
    assert_int_equal(dd_store_last_error(f->p.store, &why), DD_STORE_OK);
    assert_non_null(strstr(why, "disk full"));
    assert_null(dd_outbox_take(&f->box));
    /* Space returns: the same batch again. Its metering batch is not a "duplicate". */
    exec_sql(f, "DROP TRIGGER refuse_broken;");
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, m), DD_INGEST_OK);
    assert_int_equal(f->ing.stats.metering_batches, 1);
    assert_int_equal(f->ing.stats.metering_duplicates, 0);
    assert_int_equal(f->ing.stats.connected_things, 1);
    e = dd_outbox_take(&f->box);
    assert_non_null(e);
    assert_non_null(strstr(e->target, "/accepted"));
    dd_outbox_entries_free(e);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports WHERE thing = 'Broken'"), 1);
    free(a1);
}

static void test_dd_ingest_store_failure_rolls_back_batch(void **state)
{
    fixture_t *f = *state;
    dd_ingest_config_t cfg;
    dd_outbox_entry_t *e;
    char j1[256];
    char j3[256];
    char t1[] = REPORT_TOPIC("Thing03");
    char t2[] = REPORT_TOPIC("Thing07");
    char t3[] = REPORT_TOPIC("Broken");
    dd_svcmqtt_msg_t m[3];

    dd_ingest_config_default(&cfg);
    cfg.throttle = true;
    cfg.reject_duplicate_ids = true;
    reconfigure(f, &cfg);
    add_profile(f, BYTES_PROFILE, "m4");
    /* A reply of an earlier, committed batch is waiting to be drained. */
    assert_int_equal(dd_outbox_publish(&f->box, "earlier/reply", "x", 1, 1), DD_OUTBOX_OK);
    /* The database refuses to store Broken's report (as a full disk would). */
    exec_sql(f, "CREATE TEMP TRIGGER refuse_broken BEFORE INSERT ON ev_reports"
                " WHEN NEW.thing = 'Broken' BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    report_json(j1, sizeof(j1), 1, 10);
    report_json(j3, sizeof(j3), 3, 10);
    make_msg(&m[0], t1, j1, strlen(j1));
    make_msg(&m[1], t2, "not json", 8);
    make_msg(&m[2], t3, j3, strlen(j3));
    m[0].next = &m[1];
    m[1].next = &m[2];
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, m), DD_INGEST_STORE_ERROR);
    /* Nothing of the batch was stored or answered; the earlier reply is still there. */
    e = take_one(f, "earlier/reply");
    dd_outbox_entries_free(e);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 0);
    assert_int_equal(f->ing.stats.reports_accepted, 0);
    assert_int_equal(f->ing.stats.reports_rejected, 0);
    /* Thing03's report was never accepted: sent again, it is neither throttled nor a duplicate. */
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 1, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 1);
    /* A thing known before the failed batch gets its previous accepted report back. */
    advance(f, 300000);
    report_json(j1, sizeof(j1), 2, 10);
    make_msg(&m[0], t1, j1, strlen(j1));
    m[0].next = &m[2];
    assert_int_equal(dd_ingest_batch(&f->ing, &f->p, &f->box, m), DD_INGEST_STORE_ERROR);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    expect_accepted(f, "Thing03", 2);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing03"), 2, 10), DD_INGEST_OK);
    expect_rejected(f, "Thing03", 2, "Throttled",
                    "Device metric reports are throttled to one per 5 minutes");

    /* A failing write of the engine's outputs rolls the batch back too. */
    exec_sql(f, "CREATE TEMP TRIGGER refuse_events BEFORE INSERT ON ev_violation_events"
                " BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    advance(f, 300000);
    assert_int_equal(send_report(f, REPORT_TOPIC("Thing04"), 2, 5000), DD_INGEST_STORE_ERROR);
    assert_null(dd_outbox_take(&f->box));
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 2);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_violation_events"), 0);
    assert_int_equal(f->ing.stats.reports_accepted, 2);

    /* Once the database works again, so does the pipeline. */
    exec_sql(f, "DROP TRIGGER refuse_broken; DROP TRIGGER refuse_events;");
    assert_int_equal(send_report(f, REPORT_TOPIC("Broken"), 3, 10), DD_INGEST_OK);
    expect_accepted(f, "Broken", 3);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM ev_reports"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_ingest_json_report_accepted_stored_evaluated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_cbor_report_gets_cbor_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_dd_ingest_malformed_reports_rejected_without_state_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_fine_error_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_injected_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_duplicate_report_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_redelivery_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_other_topics_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_metering_stored_compactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_metering_batches_and_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_enforcement_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_metering_connection_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_rolled_back_batch_is_processed_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ingest_store_failure_rolls_back_batch, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
