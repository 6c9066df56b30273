/*
 * Issue 4, Module 3 against `ddlocal up` (manual clock): Thing01-03 send
 * telemetry through the broker, Thing02 compromised (3000-character
 * messages). The fixture rule, aws:message-byte-size less-than-equals the
 * fleet's p50 per 300 s (cloud-side, metered by the broker shim), puts
 * Thing02 alone in alarm when the window closes: one in-alarm violation event,
 * one active violation, one SNS alert with AWS's exact field set, none for
 * the two healthy things.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_pipetest.h"

#define PROFILE "DetectLargeMessageSize"
#define SNS_TOPIC "ddlocal/sns/BadIoTDevices"
#define BARRIER_TOPIC "$aws/things/PtBarrier/defender/metrics/json"
#define MESSAGES 3
#define WAIT_MS 10000

static const char *const THINGS[3] = {"Thing01", "Thing02", "Thing03"};

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *watch;
    dd_pipetest_mqtt_t *devices[3];
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;
    int i;

    if (f == NULL) {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        dd_pipetest_mqtt_destroy(f->devices[i]);
    }
    dd_pipetest_mqtt_destroy(f->watch);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int setup_pipeline(fixture_t *f)
{
    char policy[700];
    char cert[600];
    char key[600];
    int granted = -1;
    int i;

    if (dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_profile(&f->pt, PROFILE, "profiles/module3-intended.json") != DD_PIPETEST_OK) {
        return -1;
    }
    if (dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-watch", NULL, NULL, true, &f->watch) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->watch, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(f->watch, SNS_TOPIC, 1, WAIT_MS, &granted) != DD_PIPETEST_OK ||
        granted != 1 ||
        dd_pipetest_mqtt_subscribe(f->watch, BARRIER_TOPIC "/+", 1, WAIT_MS, &granted) !=
            DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
    }
    for (i = 0; i < 3; i++) {
        int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
        if (dd_pipetest_thing(&f->pt, THINGS[i], "DevicePolicy", cert, key) != DD_PIPETEST_OK ||
            dd_pipetest_mqtt_new(&f->pt, THINGS[i], cert, key, true, &f->devices[i]) !=
                DD_PIPETEST_OK) {
            return -1;
        }
        /* CLI registry changes reach the shim within ~100 ms: retry until known. */
        while (dd_pipetest_mqtt_connect(f->devices[i], WAIT_MS) != 0) {
            if (dd_clock_mono_ms() > deadline) {
                return -1;
            }
        }
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

/* Number of aws:message-byte-size values retained for @p thing (one per metered message). */
static int retained_sizes(fixture_t *f, const char *thing)
{
    char path[300];
    cJSON *out = NULL;
    int n;

    (void)snprintf(path, sizeof(path),
                   "/metric-values?thingName=%s&metricName=aws%%3Amessage-byte-size&startTime=1&"
                   "endTime=4102444800",
                   thing);
    if (dd_pipetest_api(&f->pt, "GET", path, NULL, NULL, &out) != DD_PIPETEST_OK) {
        return -1;
    }
    n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "metricDatumList"));
    cJSON_Delete(out);
    return n;
}

static void test_pipeline_module3_p50_flags_the_large_sender_only(void **state)
{
    static const char *const FIELDS[] = {"violationEventTime", "thingName",   "behavior",
                                         "violationEventType", "metricValue", "violationId",
                                         "securityProfileName"};
    fixture_t *f = *state;
    char big[3001];
    char topic[64];
    cJSON *events = NULL;
    cJSON *actives = NULL;
    cJSON *alert;
    const cJSON *e;
    const cJSON *v;
    dd_pipetest_msg_t *m = NULL;
    int64_t t0 = 0;
    int64_t now = 0;
    int64_t window_end;
    int64_t deadline;
    size_t k;
    int i;
    int j;

    /* The compromised sensor's payload: 3000 characters of [A-Z0-9]. */
    for (k = 0; k < 3000; k++) {
        big[k] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(k * 7) % 36];
    }
    big[3000] = '\0';
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &t0), DD_PIPETEST_OK);
    for (j = 0; j < MESSAGES; j++) {
        for (i = 0; i < 3; i++) {
            const char *payload = i == 1 ? big : "23.45";
            (void)snprintf(topic, sizeof(topic), "temperature-device-0%d", i + 1);
            assert_int_equal(dd_pipetest_mqtt_publish(f->devices[i], topic, payload,
                                                      strlen(payload), 1, WAIT_MS),
                             DD_PIPETEST_OK);
        }
    }
    /* The shim meters in batches (~100 ms); the window may only close once every
     * message reached the engine: each is a retained aws:message-byte-size value. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    for (i = 0; i < 3; i++) {
        int n;
        while ((n = retained_sizes(f, THINGS[i])) != MESSAGES) {
            if (n > MESSAGES || dd_clock_mono_ms() > deadline) {
                fail_msg("%s: %d message sizes metered, expected %d", THINGS[i], n, MESSAGES);
            }
            dd_clock_sleep_ms(20);
        }
    }
    assert_int_equal(dd_pipetest_active_violations(&f->pt, NULL, &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 0); /* nothing before the window closes */
    cJSON_Delete(actives);

    /* Close the 300-s window: sums 15, 9000, 15; p50 = 15; only 9000 > 15. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, &now), DD_PIPETEST_OK);
    window_end = (t0 / 300000 + (t0 % 300000 != 0)) * 300000;
    assert_true(window_end < now);

    assert_int_equal(dd_pipetest_violation_events(&f->pt, NULL, &events), DD_PIPETEST_OK);
    if (cJSON_GetArraySize(events) != 1) {
        char *text = cJSON_Print(events);
        fail_msg("expected one violation event, got %s", text);
    }
    e = cJSON_GetArrayItem(events, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "thingName")),
                        "Thing02");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(e, "violationEventType")),
                        "in-alarm");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(e, "securityProfileName")),
                        PROFILE);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(e, "metricValue"), "count")) == 3.0 * 3000);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, NULL, &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 1);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(actives, 0),
                                                             "thingName")),
                        "Thing02");
    cJSON_Delete(actives);

    /* The SNS alert: exactly AWS's seven members, the window's end as time. */
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, SNS_TOPIC, WAIT_MS, &m),
                     DD_PIPETEST_OK);
    alert = dd_pipetest_sns_alert(m, NULL);
    assert_non_null(alert);
    assert_int_equal(cJSON_GetArraySize(alert), 7);
    for (k = 0; k < sizeof(FIELDS) / sizeof(FIELDS[0]); k++) {
        assert_non_null(cJSON_GetObjectItemCaseSensitive(alert, FIELDS[k]));
    }
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(alert, "thingName")),
                        "Thing02");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "violationEventType")),
                        "in-alarm");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "violationId")),
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationId")));
    assert_true(
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(alert, "violationEventTime")) ==
        (double)window_end);
    v = cJSON_GetObjectItemCaseSensitive(alert, "behavior");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "metric")),
                        "aws:message-byte-size");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "criteria"),
                                             "statisticalThreshold"),
            "statistic")),
        "p50");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(alert, "metricValue"), "count")) ==
                3.0 * 3000);
    cJSON_Delete(alert);
    dd_pipetest_msg_free(m);
    cJSON_Delete(events);

    /* No alert for anybody else: ddlocald sends in order, so a report's reply
     * published after the tick's alerts is the barrier. */
    {
        dd_pipetest_mqtt_t *gw = NULL;
        const char *body =
            "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"custom_metrics\":{}}";
        assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-barrier", NULL, NULL, true,
                                              &gw),
                         DD_PIPETEST_OK);
        assert_int_equal(dd_pipetest_mqtt_connect(gw, WAIT_MS), 0);
        assert_int_equal(dd_pipetest_mqtt_publish(gw, BARRIER_TOPIC, body, strlen(body), 1,
                                                  WAIT_MS),
                         DD_PIPETEST_OK);
        assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, BARRIER_TOPIC "/accepted", WAIT_MS,
                                                       &m),
                         DD_PIPETEST_OK);
        dd_pipetest_msg_free(m);
        dd_pipetest_mqtt_destroy(gw);
    }
    assert_int_equal(dd_pipetest_mqtt_queued(f->watch, SNS_TOPIC), 0);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_module3_p50_flags_the_large_sender_only,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
