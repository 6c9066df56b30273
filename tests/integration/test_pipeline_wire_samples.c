/*
 * Issue 4: the wire samples of wire-samples.md (fixtures/reports/) are all
 * accepted, exactly as sent, by the whole pipeline: published by a device
 * (thing DefenderTestThing, its own certificate) with the QoS its agent uses
 * (the Python agent over the ALPN listener, as it dials 443 with ALPN
 * x-amzn-mqtt-ca), each answered on /accepted in the request's encoding with
 * {"thingName","reportId","status":"ACCEPTED","timestamp"} (§4: JSON byte for
 * byte), stored byte for byte and evaluated once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fs.h"
#include "dd_pipetest.h"

#define THING "DefenderTestThing"
#define TOPIC_PREFIX "$aws/things/" THING "/defender/metrics/"
#define WAIT_MS 10000

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *watch;
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
    dd_pipetest_mqtt_destroy(f->watch);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
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
        dd_pipetest_mqtt_subscribe(f->watch, TOPIC_PREFIX "+/+", 1, WAIT_MS, &granted) !=
            DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
    }
    return 0;
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

typedef struct sample {
    const char *file; /* under fixtures/reports/ */
    bool cbor;        /* the file holds hex of a CBOR payload */
    int qos;          /* as its producer publishes */
    bool alpn;        /* over the 443 role, offering ALPN x-amzn-mqtt-ca */
    const char *client_id;
} sample_t;

/* Reads a sample: JSON files as they are (aws-c-iot's trailing NUL included), hex decoded. */
static uint8_t *load(const sample_t *s, size_t *len)
{
    char path[700];
    char rel[200];
    char *text = NULL;
    size_t n = 0;
    uint8_t *out;
    size_t i;
    size_t o = 0;

    (void)snprintf(rel, sizeof(rel), "reports/%s", s->file);
    dd_pipetest_fixture(rel, path, sizeof(path));
    assert_int_equal(dd_fs_read_file(path, 1u << 20, &text, &n), DD_FS_OK);
    if (!s->cbor) {
        *len = n;
        return (uint8_t *)text;
    }
    out = malloc(n / 2 + 1);
    assert_non_null(out);
    for (i = 0; i + 1 < n; i++) {
        unsigned v;
        if (text[i] == '\n' || text[i] == ' ') {
            continue;
        }
        assert_int_equal(sscanf(text + i, "%2x", &v), 1);
        out[o++] = (uint8_t)v;
        i++;
    }
    free(text);
    *len = o;
    return out;
}

/* header.report_id (or hed.rid) of a sample, parsed independently of ddlocal's codec. */
static uint64_t report_id(const sample_t *s, const uint8_t *payload, size_t len)
{
    dd_pipetest_msg_t m;
    char topic[32];
    cJSON *doc;
    const cJSON *h;
    const cJSON *rid;
    uint64_t id;

    memset(&m, 0, sizeof(m));
    (void)snprintf(topic, sizeof(topic), "x/%s", s->cbor ? "cbor" : "json");
    m.topic = topic;
    m.payload = (uint8_t *)payload;
    m.len = len;
    if (!s->cbor) {
        doc = cJSON_Parse((const char *)payload); /* stops at aws-c-iot's NUL */
    } else {
        doc = dd_pipetest_reply_parse(&m);
    }
    assert_non_null(doc);
    h = cJSON_GetObjectItemCaseSensitive(doc, "header");
    if (h == NULL) {
        h = cJSON_GetObjectItemCaseSensitive(doc, "hed");
    }
    rid = cJSON_GetObjectItemCaseSensitive(h, "report_id");
    if (rid == NULL) {
        rid = cJSON_GetObjectItemCaseSensitive(h, "rid");
    }
    assert_true(cJSON_IsNumber(rid));
    id = (uint64_t)rid->valuedouble;
    cJSON_Delete(doc);
    return id;
}

typedef struct stored {
    int rows;
    int evaluated;
    bool same_bytes;
    const uint8_t *payload;
    size_t len;
} stored_t;

static int stored_row(void *ctx, int ncols, const char *const *cols)
{
    stored_t *s = ctx;
    size_t i;
    char hex[3];

    assert_int_equal(ncols, 2);
    s->rows++;
    s->evaluated += cols[0] != NULL && strcmp(cols[0], "1") == 0;
    s->same_bytes = cols[1] != NULL && strlen(cols[1]) == 2 * s->len;
    for (i = 0; s->same_bytes && i < s->len; i++) {
        (void)snprintf(hex, sizeof(hex), "%02X", s->payload[i]);
        s->same_bytes = cols[1][2 * i] == hex[0] && cols[1][2 * i + 1] == hex[1];
    }
    return 0;
}

static void test_pipeline_wire_samples_accepted(void **state)
{
    static const sample_t SAMPLES[] = {
        {"python-agent-long.json", false, 0, true, "DefenderTestThing"}, /* §1 */
        {"python-agent.cbor.hex", true, 0, true, "DefenderTestThing"},   /* §2 */
        {"c-sdk-short.json", false, 1, false, "DefenderTestThing"},      /* §3 */
        {"aws-c-iot-nul.json", false, 1, false,
         "DefenderTestThing-sdk"}, /* §5: epoch-ms id, trailing NUL */
        {"spec-minimal-long.json", false, 1, false, "DefenderTestThing"}, /* defender-spec §1.4 */
        {"spec-minimal-short.json", false, 1, false, "DefenderTestThing"},
    };
    const size_t n = sizeof(SAMPLES) / sizeof(SAMPLES[0]);
    fixture_t *f = *state;
    int64_t now = 0;
    double value = -1;
    size_t i;

    assert_int_equal(dd_pipetest_clock_now(&f->pt, &now), DD_PIPETEST_OK);
    for (i = 0; i < n; i++) {
        const sample_t *s = &SAMPLES[i];
        const char *fmt = s->cbor ? "cbor" : "json";
        dd_pipetest_mqtt_t *dev = NULL;
        dd_pipetest_msg_t *m = NULL;
        char topic[160];
        char expected_topic[180];
        char expected[256];
        char sql[256];
        size_t len = 0;
        uint8_t *payload = load(s, &len);
        uint64_t rid = report_id(s, payload, len);
        stored_t st;
        cJSON *reply;
        int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

        /* The agent's connection (the shim knows its certificate ~100 ms after its creation). */
        assert_int_equal(dd_pipetest_mqtt_new(&f->pt, s->client_id, f->cert, f->key, false, &dev),
                         DD_PIPETEST_OK);
        if (s->alpn) {
            assert_int_equal(dd_pipetest_mqtt_use_alpn(dev, &f->pt, "x-amzn-mqtt-ca"),
                             DD_PIPETEST_OK);
        }
        while (dd_pipetest_mqtt_connect(dev, WAIT_MS) != 0) {
            assert_true(dd_clock_mono_ms() < deadline);
        }
        (void)snprintf(topic, sizeof(topic), TOPIC_PREFIX "%s", fmt);
        assert_int_equal(dd_pipetest_mqtt_publish(dev, topic, payload, len, s->qos, WAIT_MS),
                         DD_PIPETEST_OK);

        (void)snprintf(expected_topic, sizeof(expected_topic), "%s/accepted", topic);
        if (dd_pipetest_mqtt_wait_message(f->watch, TOPIC_PREFIX "+/+", WAIT_MS, &m) !=
            DD_PIPETEST_OK) {
            fail_msg("%s: no reply within %d ms", s->file, WAIT_MS);
        }
        if (strcmp(m->topic, expected_topic) != 0) {
            fail_msg("%s: answered on %s: %.*s", s->file, m->topic, (int)m->len,
                     (const char *)m->payload);
        }
        reply = dd_pipetest_reply_parse(m);
        assert_non_null(reply);
        assert_int_equal(cJSON_GetArraySize(reply), 4);
        assert_string_equal(cJSON_GetStringValue(
                                cJSON_GetObjectItemCaseSensitive(reply, "thingName")),
                            THING);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "reportId")) ==
                    (double)rid);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "status")),
                            "ACCEPTED");
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "timestamp")) ==
                    (double)now);
        cJSON_Delete(reply);
        if (!s->cbor) {
            (void)snprintf(expected, sizeof(expected),
                           "{\"thingName\":\"" THING "\",\"reportId\":%" PRIu64
                           ",\"status\":\"ACCEPTED\",\"timestamp\":%lld}",
                           rid, (long long)now);
            if (m->len != strlen(expected) || memcmp(m->payload, expected, m->len) != 0) {
                fail_msg("%s: reply %.*s, expected %s", s->file, (int)m->len,
                         (const char *)m->payload, expected);
            }
        }
        dd_pipetest_msg_free(m);

        /* Stored once, byte for byte, and evaluated (the reply means committed). */
        memset(&st, 0, sizeof(st));
        st.payload = payload;
        st.len = len;
        (void)snprintf(sql, sizeof(sql),
                       "SELECT evaluated, hex(payload) FROM ev_reports WHERE thing = '" THING
                       "' AND report_id = %" PRIu64,
                       rid);
        assert_int_equal(dd_pipetest_db_rows(&f->pt, sql, stored_row, &st), DD_PIPETEST_OK);
        assert_int_equal(st.rows, 1);
        assert_int_equal(st.evaluated, 1);
        if (!st.same_bytes) {
            fail_msg("%s: the stored payload differs from what was sent", s->file);
        }
        free(payload);
        dd_pipetest_mqtt_destroy(dev);
    }
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &value), DD_PIPETEST_OK);
    assert_true(value == (double)n);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsRejected", &value), DD_PIPETEST_OK);
    assert_true(value == 0.0);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_wire_samples_accepted, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
