/*
 * Issue 4: every class of malformed report gets the right /rejected reply
 * (AWS's only documented one: InvalidPayload / "Malformed metrics report",
 * reportId only when header.report_id was readable, in the request's
 * encoding) and changes no state: reportsAccepted, the stored reports,
 * metric values, thing states, violation events and active violations stay
 * as they were.
 *
 * Issue 10 adds the texts RFC 8259 forbids that cJSON took (0123, 01, 1., 1.e2, \u0000).
 *
 * Classes: not JSON, not CBOR, not an object, missing header (or report_id),
 * missing both metric blocks, wrong types, a custom metric not in an array,
 * oversize. A device cannot get an oversize report to ddlocald at all: the
 * broker refuses payloads over 128 KB (the AWS IoT limit) and disconnects the
 * device; the same payload published by the service identity, which the
 * broker lets through, is refused by ddlocald itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "dd_pipetest.h"

#define THING "Thing01"
#define JSON_TOPIC "$aws/things/" THING "/defender/metrics/json"
#define CBOR_TOPIC "$aws/things/" THING "/defender/metrics/cbor"
#define WAIT_MS 10000
#define OVERSIZE (128u * 1024u + 1u)

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *watch;  /* service identity */
    dd_pipetest_mqtt_t *device; /* Thing01, allow-all policy */
    char cert[600];
    char key[600];
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;

    if (f == NULL) {
        return 0;
    }
    dd_pipetest_mqtt_destroy(f->device);
    dd_pipetest_mqtt_destroy(f->watch);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int connect_device(fixture_t *f)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    /* CLI registry changes reach the shim within ~100 ms: retry until known. */
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            return -1;
        }
    }
    return 0;
}

static int setup_pipeline(fixture_t *f)
{
    char policy[700];
    int granted = -1;

    if (dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "AllowAll", policy, NULL) != 0 ||
        dd_pipetest_thing(&f->pt, THING, "AllowAll", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, "DetectSendingMoreThanAverageBytes",
                            "profiles/module4-intended.json") != DD_PIPETEST_OK) {
        return -1;
    }
    if (dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-watch", NULL, NULL, true, &f->watch) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->watch, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(f->watch, "$aws/things/+/defender/metrics/+/+", 1, WAIT_MS,
                                   &granted) != DD_PIPETEST_OK ||
        granted != 1 ||
        dd_pipetest_mqtt_subscribe(f->watch, "ddlocal/sns/#", 1, WAIT_MS, &granted) !=
            DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
    }
    /* The device connects later: its connection is metered (cloud-side state). */
    return dd_pipetest_mqtt_new(&f->pt, THING, f->cert, f->key, true, &f->device) == DD_PIPETEST_OK
               ? 0
               : -1;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    *state = f;
    if (f == NULL || setup_pipeline(f) != 0) {
        (void)teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

/* ---- what "no state changed" compares ------------------------------------------------------- */

typedef struct snapshot {
    bool with_thing_state;
    double accepted;
    double rejected;
    char store[8192]; /* row counts, last ids, thing states */
    char *events;     /* ListViolationEvents, as text */
    char *actives;    /* ListActiveViolations, as text */
} snapshot_t;

static int store_row(void *ctx, int ncols, const char *const *cols)
{
    snapshot_t *s = ctx;

    (void)snprintf(s->store, sizeof(s->store), "%s", ncols > 0 && cols[0] != NULL ? cols[0] : "?");
    return 0;
}

static int append_row(void *ctx, int ncols, const char *const *cols)
{
    snapshot_t *s = ctx;
    size_t n = strlen(s->store);

    (void)snprintf(s->store + n, sizeof(s->store) - n, "%s",
                   ncols > 0 && cols[0] != NULL ? cols[0] : "?");
    return 0;
}

static void snap(fixture_t *f, snapshot_t *s, bool with_thing_state)
{
    cJSON *list = NULL;

    memset(s, 0, sizeof(*s));
    s->with_thing_state = with_thing_state;
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &s->accepted),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsRejected", &s->rejected),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_db_rows(
                         &f->pt,
                         "SELECT (SELECT count(*) FROM ev_reports) || ' reports, ' ||"
                         " (SELECT count(*) FROM ev_metric_values) || ' metric rows, ' ||"
                         " (SELECT count(*) FROM ev_violation_events) || ' events, ' ||"
                         " (SELECT count(*) FROM ev_active_violations) || ' active, ' ||"
                         " (SELECT count(*) FROM ev_thing_state) || ' thing states, last ids ' ||"
                         " (SELECT coalesce(max(id), 0) FROM ev_reports) || '/' ||"
                         " (SELECT coalesce(max(seq), 0) FROM ev_metric_values) || '/' ||"
                         " (SELECT coalesce(max(seq), 0) FROM ev_violation_events)",
                         store_row, s),
                     DD_PIPETEST_OK);
    assert_int_equal(
        dd_pipetest_db_rows(
            &f->pt,
            with_thing_state
                ? "SELECT ' thing state ' || coalesce(group_concat(thing || ':' || hex(state)), '')"
                  " FROM ev_thing_state"
                : "SELECT ''",
            append_row, s),
        DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_violation_events(&f->pt, NULL, &list), DD_PIPETEST_OK);
    s->events = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, NULL, &list), DD_PIPETEST_OK);
    s->actives = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    assert_non_null(s->events);
    assert_non_null(s->actives);
}

static void snap_free(snapshot_t *s)
{
    cJSON_free(s->events);
    cJSON_free(s->actives);
}

/* Everything as in @p before, with @p more_rejected more rejections counted. */
static void expect_unchanged(fixture_t *f, const snapshot_t *before, int more_rejected,
                             const char *what)
{
    snapshot_t now;

    snap(f, &now, before->with_thing_state);
    if (now.accepted != before->accepted || now.rejected != before->rejected + more_rejected ||
        strcmp(now.store, before->store) != 0 || strcmp(now.events, before->events) != 0 ||
        strcmp(now.actives, before->actives) != 0) {
        fprintf(stderr,
                "%s changed state:\n  accepted %.0f -> %.0f, rejected %.0f -> %.0f (expected +%d)\n"
                "  store: %s\n      -> %s\n  events: %s\n      -> %s\n  active: %s\n      -> %s\n",
                what, before->accepted, now.accepted, before->rejected, now.rejected, more_rejected,
                before->store, now.store, before->events, now.events, before->actives, now.actives);
        snap_free(&now);
        fail();
    }
    snap_free(&now);
}

/* ---- one malformed report ------------------------------------------------------------------- */

typedef struct malformed {
    const char *what;
    bool cbor;
    const uint8_t *payload;
    size_t len;
    long long report_id; /* expected reportId in the reply, -1 for none */
} malformed_t;

static void expect_rejected(fixture_t *f, const malformed_t *c, int64_t now)
{
    const char *topic = c->cbor ? CBOR_TOPIC "/rejected" : JSON_TOPIC "/rejected";
    dd_pipetest_msg_t *m = NULL;
    cJSON *reply;
    const cJSON *details;
    char expected[512];

    if (dd_pipetest_mqtt_wait_message(f->watch, "$aws/things/+/defender/metrics/+/+", WAIT_MS,
                                      &m) != DD_PIPETEST_OK) {
        fail_msg("%s: no reply within %d ms", c->what, WAIT_MS);
    }
    if (strcmp(m->topic, topic) != 0) {
        fail_msg("%s: reply on %s, expected %s (%.*s)", c->what, m->topic, topic, (int)m->len,
                 (const char *)m->payload);
    }
    reply = dd_pipetest_reply_parse(m);
    if (reply == NULL) {
        fail_msg("%s: the reply is not %s", c->what, c->cbor ? "CBOR" : "JSON");
    }
    /* The members of defender-spec §1.6, reportId only when it was readable. */
    assert_int_equal(cJSON_GetArraySize(reply), c->report_id >= 0 ? 5 : 4);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "thingName")),
                        THING);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "status")),
                        "REJECTED");
    details = cJSON_GetObjectItemCaseSensitive(reply, "statusDetails");
    assert_int_equal(cJSON_GetArraySize(details), 2);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(details, "ErrorCode")),
                        "InvalidPayload");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(details, "ErrorMessage")),
                        "Malformed metrics report");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "timestamp")) ==
                (double)now);
    if (c->report_id >= 0) {
        if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "reportId")) !=
            (double)c->report_id) {
            fail_msg("%s: reportId should be %lld: %.*s", c->what, c->report_id, (int)m->len,
                     (const char *)m->payload);
        }
    }
    if (!c->cbor) {
        /* JSON replies byte for byte, members in AWS's order. */
        char rid[48] = "";
        if (c->report_id >= 0) {
            (void)snprintf(rid, sizeof(rid), "\"reportId\":%lld,", c->report_id);
        }
        (void)snprintf(
            expected, sizeof(expected),
            "{\"thingName\":\"" THING
            "\",%s\"status\":\"REJECTED\",\"statusDetails\":{\"ErrorCode\":"
            "\"InvalidPayload\",\"ErrorMessage\":\"Malformed metrics report\"},\"timestamp\":%lld}",
            rid, (long long)now);
        if (m->len != strlen(expected) || memcmp(m->payload, expected, m->len) != 0) {
            fail_msg("%s: reply %.*s\n  expected %s", c->what, (int)m->len,
                     (const char *)m->payload, expected);
        }
    }
    cJSON_Delete(reply);
    dd_pipetest_msg_free(m);
}

#define TXT(s) (const uint8_t *)(s), sizeof(s) - 1

static void test_pipeline_malformed_rejected_without_state_change(void **state)
{
    /* CBOR by hand: {"metrics":{}} and {"hed":{"rid":15,"v":"1.0"},"cmet":{"m":{"number":1}}}. */
    static const uint8_t CBOR_NO_HEADER[] = {0xa1, 0x67, 'm', 'e', 't', 'r', 'i', 'c', 's', 0xa0};
    static const uint8_t CBOR_CUSTOM_NOT_ARRAY[] = {0xa2, 0x63, 'h',  'e',  'd',  0xa2, 0x63,
                                                    'r',  'i',  'd',  0x0f, 0x61, 'v',  0x63,
                                                    '1',  '.',  '0',  0x64, 'c',  'm',  'e',
                                                    't',  0xa1, 0x61, 'm',  0xa1, 0x66, 'n',
                                                    'u',  'm',  'b',  'e',  'r',  0x01};
    static const uint8_t CBOR_GARBAGE[] = {0xff, 0xff, 0x00, 0x13};
    static const uint8_t CBOR_TRUNCATED[] = {0xa2, 0x63, 'h', 'e', 'd', 0xa2, 0x63, 'r', 'i'};
    const malformed_t cases[] = {
        {"not JSON (truncated)", false,
         TXT("{\"header\":{\"report_id\":7,\"version\":\"1.0\"},\"metrics\":{"), -1},
        {"not JSON (text)", false, TXT("hello"), -1},
        {"not JSON (a second document)", false,
         TXT("{\"header\":{\"report_id\":7,\"version\":\"1.0\"},\"metrics\":{}} {}"), -1},
        {"not JSON (empty)", false, TXT(""), -1},
        {"not an object", false,
         TXT("[{\"header\":{\"report_id\":7,\"version\":\"1.0\"},\"metrics\":{}}]"), -1},
        {"missing header", false, TXT("{\"metrics\":{\"network_stats\":{\"bytes_out\":10}}}"), -1},
        {"header without report_id", false,
         TXT("{\"header\":{\"version\":\"1.0\"},\"metrics\":{}}"), -1},
        {"header without version", false, TXT("{\"header\":{\"report_id\":16},\"metrics\":{}}"),
         16},
        {"missing both metric blocks", false,
         TXT("{\"header\":{\"report_id\":8,\"version\":\"1.0\"}}"), 8},
        {"missing both metric blocks (short keys)", false,
         TXT("{\"hed\":{\"rid\":17,\"v\":\"1.0\"}}"), 17},
        {"wrong type: report_id a string", false,
         TXT("{\"header\":{\"report_id\":\"9\",\"version\":\"1.0\"},\"metrics\":{}}"), -1},
        {"wrong type: report_id negative", false,
         TXT("{\"header\":{\"report_id\":-9,\"version\":\"1.0\"},\"metrics\":{}}"), -1},
        {"wrong type: version a number", false,
         TXT("{\"header\":{\"report_id\":10,\"version\":1.0},\"metrics\":{}}"), 10},
        {"wrong type: bytes_out a string", false,
         TXT("{\"header\":{\"report_id\":11,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":\"many\"}}}"),
         11},
        {"wrong type: bytes_out negative", false,
         TXT("{\"header\":{\"report_id\":13,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":-5}}}"),
         13},
        {"wrong type: metrics an array", false,
         TXT("{\"header\":{\"report_id\":12,\"version\":\"1.0\"},\"metrics\":[]}"), 12},
        {"wrong type: port out of range", false,
         TXT("{\"hed\":{\"rid\":18,\"v\":\"1.0\"},\"met\":{\"tp\":{\"pts\":[{\"pt\":70000}],\"t\":"
             "1}}}"),
         18},
        {"custom metric not in an array", false,
         TXT("{\"header\":{\"report_id\":14,\"version\":\"1.0\"},\"custom_metrics\":{\"cpu_"
             "usage\":{\"number\":1}}}"),
         14},
        /* Issue 10: RFC 8259 forbids these; cJSON's strtod accepted them (no reportId: the
         * text is refused before the header is read). */
        {"strict JSON: leading zero 0123", false,
         TXT("{\"header\":{\"report_id\":19,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":0123}}}"),
         -1},
        {"strict JSON: leading zero 01", false,
         TXT("{\"header\":{\"report_id\":20,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":01}}}"),
         -1},
        {"strict JSON: 1.", false,
         TXT("{\"header\":{\"report_id\":21,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":1.}}}"),
         -1},
        {"strict JSON: 1.e2", false,
         TXT("{\"header\":{\"report_id\":22,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
             "{\"bytes_out\":1.e2}}}"),
         -1},
        {"strict JSON: \\u0000 in a string", false,
         TXT("{\"header\":{\"report_id\":23,\"version\":\"1.0\"},\"custom_metrics\":{\"names\":"
             "[{\"string_list\":[\"a\\u0000b\"]}]}}"),
         -1},
        {"strict JSON: two trailing NULs", false,
         TXT("{\"header\":{\"report_id\":24,\"version\":\"1.0\"},\"metrics\":{}}\0\0"), -1},
        {"not CBOR (garbage)", true, CBOR_GARBAGE, sizeof(CBOR_GARBAGE), -1},
        {"not CBOR (truncated)", true, CBOR_TRUNCATED, sizeof(CBOR_TRUNCATED), -1},
        {"not CBOR (JSON text)", true,
         TXT("{\"header\":{\"report_id\":7,\"version\":\"1.0\"},\"metrics\":{}}"), -1},
        {"CBOR missing header", true, CBOR_NO_HEADER, sizeof(CBOR_NO_HEADER), -1},
        {"CBOR custom metric not in an array", true, CBOR_CUSTOM_NOT_ARRAY,
         sizeof(CBOR_CUSTOM_NOT_ARRAY), 15},
    };
    fixture_t *f = *state;
    const size_t ncases = sizeof(cases) / sizeof(cases[0]);
    dd_pipetest_mqtt_t *gw = NULL; /* the service identity publishing for Thing01 (a "gateway") */
    snapshot_t base;
    int64_t now = 0;
    char body[256];
    uint8_t *big;
    size_t i;
    int rejected = 0;

    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-gateway", NULL, NULL, true, &gw),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(gw, WAIT_MS), 0);

    /* Some state for malformed reports to leave alone: an accepted, violating
     * report (thing state, metric values, an active violation, its event). */
    (void)snprintf(body, sizeof(body),
                   "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":"
                   "{\"network_stats\":{\"bytes_out\":5000}}}");
    assert_int_equal(dd_pipetest_mqtt_publish(gw, JSON_TOPIC, body, strlen(body), 1, WAIT_MS),
                     DD_PIPETEST_OK);
    {
        dd_pipetest_msg_t *m = NULL;
        assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, JSON_TOPIC "/accepted", WAIT_MS,
                                                       &m),
                         DD_PIPETEST_OK);
        dd_pipetest_msg_free(m);
        assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, "ddlocal/sns/#", WAIT_MS, &m),
                         DD_PIPETEST_OK);
        dd_pipetest_msg_free(m);
    }
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &now), DD_PIPETEST_OK);

    /* 1. Each class published by the service identity, which the broker does
     *    not meter: not one byte of the store may change, thing states included. */
    snap(f, &base, true);
    assert_true(base.accepted == 1.0);
    assert_true(strstr(base.store, "1 reports, ") == base.store);
    for (i = 0; i < ncases; i++) {
        const malformed_t *c = &cases[i];
        assert_int_equal(dd_pipetest_mqtt_publish(gw, c->cbor ? CBOR_TOPIC : JSON_TOPIC, c->payload,
                                                  c->len, (int)(i % 2), WAIT_MS),
                         DD_PIPETEST_OK);
        expect_rejected(f, c, now);
        rejected++;
        expect_unchanged(f, &base, rejected, c->what);
    }
    /* Oversize: the service identity has no size limit at the broker, so ddlocald
     * sees it and refuses it itself (even a valid CBOR map padded past 128 KB). */
    big = malloc(OVERSIZE);
    assert_non_null(big);
    memset(big, ' ', OVERSIZE);
    (void)snprintf(body, sizeof(body),
                   "{\"header\":{\"report_id\":19,\"version\":\"1.0\"},\"metrics\":{}}");
    memcpy(big, body, strlen(body));
    {
        const malformed_t json_big = {"oversize JSON", false, big, OVERSIZE, -1};
        const malformed_t cbor_big = {"oversize CBOR", true, big, OVERSIZE, -1};

        assert_int_equal(dd_pipetest_mqtt_publish(gw, JSON_TOPIC, big, OVERSIZE, 1, WAIT_MS),
                         DD_PIPETEST_OK);
        expect_rejected(f, &json_big, now);
        rejected++;
        expect_unchanged(f, &base, rejected, json_big.what);
        memset(big, 0, OVERSIZE);
        big[0] = 0xa0;
        assert_int_equal(dd_pipetest_mqtt_publish(gw, CBOR_TOPIC, big, OVERSIZE, 1, WAIT_MS),
                         DD_PIPETEST_OK);
        expect_rejected(f, &cbor_big, now);
        rejected++;
        expect_unchanged(f, &base, rejected, cbor_big.what);
    }
    snap_free(&base);

    /* 2. The same from the device itself, at QoS 0 and 1 alternately. Its
     *    messages are cloud-side activity (aws:num-messages-sent ...), which the
     *    broker meters into the thing's state: everything else must stay. */
    assert_int_equal(connect_device(f), 0);
    snap(f, &base, false);
    for (i = 0; i < ncases; i++) {
        const malformed_t *c = &cases[i];
        assert_int_equal(dd_pipetest_mqtt_publish(f->device, c->cbor ? CBOR_TOPIC : JSON_TOPIC,
                                                  c->payload, c->len, (int)(i % 2 == 0), WAIT_MS),
                         DD_PIPETEST_OK);
        expect_rejected(f, c, now);
        expect_unchanged(f, &base, (int)i + 1, c->what);
    }
    /* Oversize from a device: refused by the broker (the 128 KB AWS IoT limit),
     * the device is disconnected, ddlocald never sees it. */
    memset(big, ' ', OVERSIZE);
    memcpy(big, body, strlen(body));
    {
        dd_pipetest_status_t st =
            dd_pipetest_mqtt_publish(f->device, JSON_TOPIC, big, OVERSIZE, 1, WAIT_MS);
        assert_true(st == DD_PIPETEST_OK || st == DD_PIPETEST_DISCONNECTED);
    }
    free(big);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    /* Barrier: one more malformed report from the gateway; a reply to the oversize one
     * would come before its own. */
    assert_int_equal(dd_pipetest_mqtt_publish(gw, JSON_TOPIC, cases[0].payload, cases[0].len, 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    expect_rejected(f, &cases[0], now);
    expect_unchanged(f, &base, (int)ncases + 1, "the device's oversize report");
    snap_free(&base);
    dd_pipetest_mqtt_destroy(gw);

    /* Nothing else was answered or alerted (the device's oversize report included). */
    assert_int_equal(dd_pipetest_mqtt_queued(f->watch, NULL), 0);
    {
        int64_t n = -1;
        assert_int_equal(dd_pipetest_db_int(&f->pt,
                                            "SELECT count(*) FROM ev_reports WHERE report_id <> 1",
                                            &n),
                         DD_PIPETEST_OK);
        assert_int_equal(n, 0);
    }
    f->pt.passed = true;
}

/* ---- malformed API bodies over HTTP (issue 10) ----------------------------------------------- */

typedef struct http_answer {
    long status;
    char error_type[128]; /* x-amzn-ErrorType */
    char body[2048];
    size_t body_len;
} http_answer_t;

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    http_answer_t *a = ctx;
    size_t len = size * n;
    static const char NAME[] = "x-amzn-ErrorType:";

    if (len > sizeof(NAME) - 1 && strncasecmp(data, NAME, sizeof(NAME) - 1) == 0) {
        size_t i = sizeof(NAME) - 1;
        size_t end = len;
        while (i < end && data[i] == ' ') {
            i++;
        }
        while (end > i && (data[end - 1] == '\r' || data[end - 1] == '\n')) {
            end--;
        }
        (void)snprintf(a->error_type, sizeof(a->error_type), "%.*s", (int)(end - i), data + i);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    http_answer_t *a = ctx;
    size_t len = size * n;
    size_t room = sizeof(a->body) - 1 - a->body_len;

    memcpy(a->body + a->body_len, data, len < room ? len : room);
    a->body_len += len < room ? len : room;
    a->body[a->body_len] = '\0';
    return len;
}

/* POSTs exactly len bytes (NULs included: the CLI's client sends C strings) to the API. */
static void http_post(fixture_t *f, const char *path, const char *body, size_t len,
                      http_answer_t *a)
{
    char url[512];
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

    memset(a, 0, sizeof(*a));
    assert_non_null(c);
    (void)snprintf(url, sizeof(url), "%s%s", f->pt.api, path);
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void test_pipeline_malformed_api_bodies(void **state)
{
    static const struct {
        const char *path;
        const char *body;
        size_t len; /* 0: strlen */
        const char *error_type;
        const char *message;
    } cases[] = {
        {"/things/StrictThing", "{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}} x", 0,
         "InvalidRequestException", "The request body is not valid JSON: unexpected text after"},
        {"/things/StrictThing", "{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}}", 46,
         "InvalidRequestException", "The request body is not valid JSON: unexpected text after"},
        {"/things/StrictThing", "{\"attributePayload\":{\"attributes\":{\"a\":\"b\",\"a\":\"c\"}}}",
         0, "InvalidRequestException", "The request body is not valid JSON: duplicate object key"},
        {"/things/StrictThing", "{\"attributePayload\":{\"attributes\":{\"a\":\"x\\u0000y\"}}}", 0,
         "InvalidRequestException", "The request body is not valid JSON: \\\\u0000 is not allowed"},
        {"/things/StrictThing", "{\"thingTypeName\":null,\"n\":01}", 0, "InvalidRequestException",
         "The request body is not valid JSON: parse error: after key and value"},
        {"/policies/StrictPolicy",
         "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{"
         "\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"iot:*\\\",\\\"Resource\\\":"
         "\\\"arn:aws:iot:us-east-1:123456789012:topic/a\\\\u0000b\\\"}]}\"}",
         0, "MalformedPolicyException", "not valid JSON: \\\\u0000 is not allowed"},
    };
    fixture_t *f = *state;
    http_answer_t a;
    int64_t before = 0;
    int64_t after = 0;
    long http = 0;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_post(f, cases[i].path, cases[i].body,
                  cases[i].len != 0 ? cases[i].len : strlen(cases[i].body), &a);
        if (a.status != 400 || strcmp(a.error_type, cases[i].error_type) != 0 ||
            strstr(a.body, cases[i].message) == NULL) {
            fail_msg("case %zu: %ld %s %s", i, a.status, a.error_type, a.body);
        }
    }
    /* Nothing was created. */
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/things/StrictThing", NULL, &http, NULL),
                     DD_PIPETEST_FAILED);
    assert_int_equal(http, 404);
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/policies/StrictPolicy", NULL, &http, NULL),
                     DD_PIPETEST_FAILED);
    assert_int_equal(http, 404);
    /* ddlocal's own clock endpoint: {"advanceSeconds":01} no longer moves the clock. */
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &before), DD_PIPETEST_OK);
    http_post(f, "/ddlocal/v1/clock", "{\"advanceSeconds\":01}", 21, &a);
    assert_int_equal(a.status, 400);
    http_post(f, "/ddlocal/v1/clock", "{\"advanceSeconds\":1,\"advanceSeconds\":2}", 39, &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &after), DD_PIPETEST_OK);
    assert_int_equal(after, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_malformed_rejected_without_state_change,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_malformed_api_bodies, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
