/* Unit tests for `ddlocal fleet --emit` (device/dd_emit): the stream a scenario becomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "dd_emit.h"
#include "dd_scenario.h"

#define START 1795824000000LL /* 2026-11-28T00:00:00Z */

/* Emits @p json's scenario with @p threads threads; returns the stream's text (caller frees). */
static char *emit_text_threads(const char *json, int64_t start, unsigned threads,
                               dd_emit_stats_t *stats)
{
    dd_scenario_t sc;
    char msg[256];
    FILE *f = tmpfile();
    char *buf;
    long n;

    assert_non_null(f);
    if (dd_scenario_parse(json, strlen(json), &sc, msg, sizeof(msg)) != DD_SCENARIO_OK) {
        fail_msg("scenario: %s", msg);
    }
    assert_int_equal(dd_emit_run(&sc, start, threads, f, stats), DD_EMIT_OK);
    dd_scenario_free(&sc);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

/* Emits @p json's scenario on the calling thread alone. */
static char *emit_text(const char *json, int64_t start, dd_emit_stats_t *stats)
{
    return emit_text_threads(json, start, 1, stats);
}

/* Per line: parse, check time order, sum the events of one thing by type. */
typedef struct tally {
    size_t lines;
    size_t reports;
    uint64_t sent;        /* message-sent, repeats summed */
    uint64_t auth;        /* authorization-failure */
    uint64_t connects;    /* successful */
    uint64_t failed;      /* failed connects */
    uint64_t disconnects; /* disconnect */
} tally_t;

/* Counts message-sent events whose topic ends with @p topic_end. */
static void walk(const char *text, const char *thing, const char *topic_end, tally_t *t)
{
    const char *p = text;
    double last = 0;

    memset(t, 0, sizeof(*t));
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        cJSON *j;
        const cJSON *ev;
        const char *type;
        double repeat;

        assert_non_null(nl);
        j = cJSON_ParseWithLength(p, (size_t)(nl - p));
        assert_non_null(j);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "time")) >= last);
        last = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "time"));
        t->lines++;
        if (thing == NULL ||
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "thing")), thing) == 0) {
            ev = cJSON_GetObjectItem(j, "event");
            if (cJSON_GetObjectItem(j, "report") != NULL) {
                t->reports++;
            } else {
                type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
                repeat = cJSON_GetObjectItem(ev, "repeat") != NULL
                             ? cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "repeat"))
                             : 1;
                const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "topic"));
                if (strcmp(type, "message-sent") == 0 && strlen(topic) >= strlen(topic_end) &&
                    strcmp(topic + strlen(topic) - strlen(topic_end), topic_end) == 0) {
                    t->sent += (uint64_t)repeat;
                } else if (strcmp(type, "authorization-failure") == 0) {
                    t->auth += (uint64_t)repeat;
                } else if (strcmp(type, "connect") == 0 &&
                           cJSON_IsFalse(cJSON_GetObjectItem(ev, "success"))) {
                    t->failed += (uint64_t)repeat;
                } else if (strcmp(type, "connect") == 0) {
                    t->connects += (uint64_t)repeat;
                } else if (strcmp(type, "disconnect") == 0) {
                    t->disconnects += (uint64_t)repeat;
                }
            }
        }
        cJSON_Delete(j);
        p = nl + 1;
    }
}

static const char *SMALL =
    "{\"name\":\"s\",\"devices\":3,\"durationSeconds\":900,\"seed\":7,"
    "\"report\":{\"intervalSeconds\":300},"
    "\"telemetry\":{\"topic\":\"fleet/{thing}/t\",\"intervalSeconds\":60},"
    "\"metrics\":{\"bytes_out\":{\"distribution\":\"normal\",\"mean\":150,\"stddev\":20}}}";

/* Every expected report and telemetry message, in time order, deterministic. */
static void test_dd_emit_reports_telemetry_order_and_determinism(void **state)
{
    dd_emit_stats_t st;
    char *a = emit_text(SMALL, START, &st);
    char *b = emit_text(SMALL, START, NULL);
    char *c = emit_text(SMALL, START + 1000, NULL);
    tally_t t;

    (void)state;
    assert_int_equal(st.reports, 9);
    assert_int_equal(st.telemetry_messages, 45);
    walk(a, NULL, "/t", &t);
    assert_int_equal(t.lines, st.lines);
    assert_int_equal(t.reports, 9);
    assert_int_equal(t.sent, 45);
    assert_int_equal(t.connects, 3);
    walk(a, "s-0002", "/defender/metrics/json", &t);
    assert_int_equal(t.reports, 3);
    assert_int_equal(t.sent, 3); /* the broker meters each report as a message sent */
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_non_null(strstr(c, "\"time\":1795824001000"));
    free(a);
    free(b);
    free(c);
}

/* A group's schedule: a faster telemetry rate and cloud-side events, only while in force. */
static void test_dd_emit_group_rate_and_cloud_events(void **state)
{
    const char *json =
        "{\"name\":\"g\",\"devices\":2,\"durationSeconds\":900,\"seed\":1,"
        "\"report\":{\"intervalSeconds\":300},"
        "\"telemetry\":{\"topic\":\"fleet/{thing}/t\",\"intervalSeconds\":60},"
        "\"metrics\":{\"bytes_out\":{\"distribution\":\"constant\",\"value\":100}},"
        "\"groups\":[{\"name\":\"bad\",\"devices\":1,\"schedule\":[{\"fromSeconds\":300,"
        "\"toSeconds\":600,\"telemetry\":{\"intervalSeconds\":1},\"cloud\":{"
        "\"authorizationFailuresPerMinute\":3,\"failedConnectsPerMinute\":2,"
        "\"disconnectsPerHour\":12}}]}]}";
    dd_emit_stats_t st;
    char *text = emit_text(json, START, &st);
    tally_t bad;
    tally_t good;

    (void)state;
    walk(text, "g-0001", "/t", &bad);
    walk(text, "g-0002", "/t", &good);
    /* 5 at one a minute, 300 at one a second, 5 again: 310. */
    assert_int_equal(bad.sent, 310);
    assert_int_equal(good.sent, 15);
    assert_int_equal(bad.auth, 15);
    assert_int_equal(bad.failed, 10);
    assert_int_equal(bad.disconnects, 1);
    assert_int_equal(bad.connects, 2); /* the start and the reconnect */
    assert_int_equal(good.auth + good.failed + good.disconnects, 0);
    free(text);
}

/* Any number of threads writes the same bytes and figures: devices split between workers,
 * telemetry, cloud events at minute boundaries and equal times across the split. */
static void test_dd_emit_threads_same_bytes(void **state)
{
    const char *json =
        "{\"name\":\"m\",\"devices\":600,\"durationSeconds\":3600,\"seed\":3,"
        "\"report\":{\"intervalSeconds\":300},"
        "\"telemetry\":{\"topic\":\"fleet/{thing}/t\",\"intervalSeconds\":20},"
        "\"metrics\":{\"bytes_out\":{\"distribution\":\"normal\",\"mean\":150,\"stddev\":20},"
        "\"connections\":{\"count\":{\"distribution\":\"poisson\",\"mean\":1},"
        "\"remote\":\"52.94.0.0/16\",\"remotePorts\":[8883]}},"
        "\"groups\":[{\"name\":\"bad\",\"devices\":400,\"schedule\":[{\"fromSeconds\":600,"
        "\"cloud\":{\"authorizationFailuresPerMinute\":1.5,\"failedConnectsPerMinute\":0.5,"
        "\"disconnectsPerHour\":30}}]}]}";
    static const unsigned threads[] = {2, 3, 7, 0};
    dd_emit_stats_t one;
    dd_emit_stats_t st;
    char *a = emit_text_threads(json, START, 1, &one);
    size_t i;

    (void)state;
    assert_true(one.reports == 600 * 12);
    for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
        char *b = emit_text_threads(json, START, threads[i], &st);
        assert_string_equal(a, b);
        assert_memory_equal(&st, &one, sizeof(st));
        free(b);
    }
    free(a);
}

static void test_dd_emit_bad_parameters(void **state)
{
    dd_scenario_t sc;

    (void)state;
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(dd_emit_run(NULL, START, 1, stdout, NULL), DD_EMIT_BAD_PARAMETER);
    assert_int_equal(dd_emit_run(&sc, START, 1, stdout, NULL), DD_EMIT_BAD_PARAMETER);
    sc.devices = 1;
    sc.report_interval_s = 300;
    assert_int_equal(dd_emit_run(&sc, START, DD_EMIT_MAX_THREADS + 1, stdout, NULL),
                     DD_EMIT_BAD_PARAMETER);
    assert_string_equal(dd_emit_strerror(DD_EMIT_WRITE_FAILED), "the output could not be written");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_emit_reports_telemetry_order_and_determinism),
        cmocka_unit_test(test_dd_emit_group_rate_and_cloud_events),
        cmocka_unit_test(test_dd_emit_threads_same_bytes),
        cmocka_unit_test(test_dd_emit_bad_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
