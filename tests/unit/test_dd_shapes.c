#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dd_ip.h"
#include "dd_profile.h"
#include "dd_shapes.h"

/* Prints a builder's result and frees it, so each case is one comparison. */
static char *take_text(cJSON *j)
{
    char *text;

    assert_non_null(j);
    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    assert_non_null(text);
    return text;
}

static void assert_shape(cJSON *j, const char *want)
{
    char *text = take_text(j);
    assert_string_equal(text, want);
    free(text);
}

static dd_behavior_t parse_behavior(const char *json)
{
    dd_behavior_t b;
    dd_profile_error_t err;
    cJSON *obj = cJSON_Parse(json);

    assert_non_null(obj);
    memset(&b, 0, sizeof(b));
    assert_int_equal(dd_profile_behavior_parse_cjson(obj, &b, &err), DD_PROFILE_OK);
    cJSON_Delete(obj);
    return b;
}

static const char BEHAVIOR[] = "{\"name\":\"TooMuch\",\"metric\":\"aws:all-bytes-out\","
                               "\"criteria\":{\"comparisonOperator\":\"less-than\","
                               "\"value\":{\"count\":200},\"durationSeconds\":300}}";

/* Every MetricValue member AWS defines, in AWS's spelling. */
static void test_dd_shapes_metric_value_kinds(void **state)
{
    uint16_t ports[2] = {22, 80};
    double numbers[2] = {1.5, 2};
    const char *strings[1] = {"eth0"};
    dd_ip_t ips[1];
    dd_datapoint_t dp = {.kind = DD_VALUE_PORTS, .n = 2, .items = ports};

    (void)state;
    assert_shape(dd_shapes_metric_value(&dp), "{\"ports\":[22,80]}");
    assert_int_equal(dd_ip_parse("192.0.2.1", 9, &ips[0]), DD_IP_OK);
    dp = (dd_datapoint_t){.kind = DD_VALUE_CIDRS, .n = 1, .items = ips};
    assert_shape(dd_shapes_metric_value(&dp), "{\"cidrs\":[\"192.0.2.1\"]}");
    dp = (dd_datapoint_t){.kind = DD_VALUE_COUNT, .count = 250};
    assert_shape(dd_shapes_metric_value(&dp), "{\"count\":250}");
    dp = (dd_datapoint_t){.kind = DD_VALUE_NUMBER, .number = 0.5};
    assert_shape(dd_shapes_metric_value(&dp), "{\"number\":0.5}");
    dp = (dd_datapoint_t){.kind = DD_VALUE_NUMBERS, .n = 2, .items = numbers};
    assert_shape(dd_shapes_metric_value(&dp), "{\"numbers\":[1.5,2]}");
    dp = (dd_datapoint_t){.kind = DD_VALUE_STRINGS, .n = 1, .items = strings};
    assert_shape(dd_shapes_metric_value(&dp), "{\"strings\":[\"eth0\"]}");
    dp = (dd_datapoint_t){.kind = DD_VALUE_NONE};
    assert_shape(dd_shapes_metric_value(&dp), "{}");
    assert_null(dd_shapes_metric_value(NULL));
}

/* A ListViolationEvents item: members in AWS's order, the time in seconds
 * (or ms for the SNS/Lambda message), optional members only when set. */
static void test_dd_shapes_violation_event(void **state)
{
    dd_behavior_t b = parse_behavior(BEHAVIOR);
    dd_violation_event_t ev = {
        .violation_id = "0123456789abcdef0123456789abcdef",
        .thing = "Thing03",
        .profile = "DetectLargeMessages",
        .behavior = &b,
        .type = DD_ALARM_RAISED,
        .has_value = true,
        .value = {.kind = DD_VALUE_COUNT, .count = 250},
        .time_ms = 1700000000500,
    };
    char *text;

    (void)state;
    text = take_text(dd_shapes_violation_event(&ev, false));
    assert_non_null(strstr(text, "{\"violationId\":\"0123456789abcdef0123456789abcdef\","
                                 "\"thingName\":\"Thing03\","
                                 "\"securityProfileName\":\"DetectLargeMessages\","
                                 "\"behavior\":{\"name\":\"TooMuch\""));
    assert_non_null(strstr(text, "\"metricValue\":{\"count\":250},"
                                 "\"violationEventType\":\"in-alarm\","
                                 "\"violationEventTime\":1700000000.5}"));
    assert_null(strstr(text, "verificationState"));
    free(text);

    ev.has_value = false;
    ev.type = DD_ALARM_INVALIDATED;
    ev.verification = DD_VERIFICATION_TRUE_POSITIVE;
    ev.verification_description = "checked";
    text = take_text(dd_shapes_violation_event(&ev, true));
    assert_null(strstr(text, "metricValue"));
    assert_non_null(strstr(text, "\"violationEventType\":\"alarm-invalidated\","
                                 "\"verificationState\":\"TRUE_POSITIVE\","
                                 "\"verificationStateDescription\":\"checked\","
                                 "\"violationEventTime\":1700000000500}"));
    free(text);

    ev.behavior = NULL;
    assert_null(dd_shapes_violation_event(&ev, false));
    assert_null(dd_shapes_violation_event(NULL, false));
    dd_profile_behavior_free(&b);
}

/* A ListActiveViolations item: lastViolationValue and both times. */
/* An ML Detect behavior's violations carry the confidence level they were judged at. */
static void test_dd_shapes_ml_confidence(void **state)
{
    dd_behavior_t b =
        parse_behavior("{\"name\":\"ml\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
                       "\"mlDetectionConfig\":{\"confidenceLevel\":\"MEDIUM\"}}}");
    dd_violation_event_t ev = {
        .violation_id = "0123456789abcdef0123456789abcdef",
        .thing = "Thing03",
        .profile = "ml",
        .behavior = &b,
        .type = DD_ALARM_RAISED,
        .has_value = true,
        .value = {.kind = DD_VALUE_COUNT, .count = 5000},
        .time_ms = 1700000000000,
    };
    dd_active_violation_t av = {
        .violation_id = ev.violation_id,
        .thing = "Thing03",
        .profile = "ml",
        .behavior = &b,
        .start_ms = 1700000000000,
        .last_violation_ms = 1700000000000,
    };
    char *text;

    (void)state;
    text = take_text(dd_shapes_violation_event(&ev, false));
    assert_non_null(strstr(text,
                           "\"violationEventType\":\"in-alarm\","
                           "\"violationEventAdditionalInfo\":{\"confidenceLevel\":\"MEDIUM\"},"
                           "\"violationEventTime\":1700000000}"));
    free(text);
    text = take_text(dd_shapes_active_violation(&av));
    assert_non_null(
        strstr(text, "\"violationEventAdditionalInfo\":{\"confidenceLevel\":\"MEDIUM\"}"));
    free(text);
    dd_profile_behavior_free(&b);
}

static void test_dd_shapes_active_violation(void **state)
{
    dd_behavior_t b = parse_behavior(BEHAVIOR);
    dd_active_violation_t av = {
        .violation_id = "0123456789abcdef0123456789abcdef",
        .thing = "Thing03",
        .profile = "DetectLargeMessages",
        .behavior = &b,
        .has_value = true,
        .last_value = {.kind = DD_VALUE_COUNT, .count = 300},
        .last_violation_ms = 1700000600000,
        .start_ms = 1700000300000,
    };
    char *text;

    (void)state;
    text = take_text(dd_shapes_active_violation(&av));
    assert_non_null(strstr(text, "\"lastViolationValue\":{\"count\":300},"
                                 "\"lastViolationTime\":1700000600,"
                                 "\"violationStartTime\":1700000300}"));
    free(text);
    av.behavior = NULL;
    assert_null(dd_shapes_active_violation(&av));
    assert_null(dd_shapes_active_violation(NULL));
    dd_profile_behavior_free(&b);
}

/* Prints @p ev both ways; they must be the same bytes. */
static void assert_print_same(const dd_violation_event_t *ev, bool time_ms, const char *btext)
{
    char buf[4096];
    char *want = take_text(dd_shapes_violation_event(ev, time_ms));
    size_t n = dd_shapes_violation_event_print(ev, time_ms, btext, buf, sizeof(buf));

    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
    free(want);
}

/* The spliced print is the tree's text for every kind of member: values of every kind,
 * names that need escaping, verification, ML info, both time formats, huge numbers. */
static void test_dd_shapes_violation_event_print(void **state)
{
    static const char *const behaviors[] = {
        BEHAVIOR,
        "{\"name\":\"ml\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
        "\"mlDetectionConfig\":{\"confidenceLevel\":\"HIGH\"}}}",
        "{\"name\":\"q\\\"uo\\u00e9\",\"metric\":\"aws:num-messages-sent\",\"criteria\":{"
        "\"comparisonOperator\":\"greater-than\",\"value\":{\"count\":5},"
        "\"durationSeconds\":600,\"consecutiveDatapointsToAlarm\":2}}",
    };
    uint16_t ports[2] = {22, 80};
    double numbers[2] = {1.5, 2};
    const char *strings[1] = {"eth\"0"};
    dd_ip_t ips[1];
    const dd_datapoint_t values[] = {
        {.kind = DD_VALUE_COUNT, .count = 250},
        {.kind = DD_VALUE_COUNT, .count = 0},
        {.kind = DD_VALUE_COUNT, .count = 4000000000LL},
        {.kind = DD_VALUE_COUNT, .count = -3},
        {.kind = DD_VALUE_NUMBER, .number = 0.1},
        {.kind = DD_VALUE_NUMBER, .number = 1e300},
        {.kind = DD_VALUE_PORTS, .n = 2, .items = ports},
        {.kind = DD_VALUE_CIDRS, .n = 1, .items = ips},
        {.kind = DD_VALUE_NUMBERS, .n = 2, .items = numbers},
        {.kind = DD_VALUE_STRINGS, .n = 1, .items = strings},
        {.kind = DD_VALUE_NONE},
    };
    static const int64_t times[] = {1700000000000, 1700000000500, 1, 0, 99999999999999};
    size_t i;
    size_t v;
    size_t k;

    (void)state;
    assert_int_equal(dd_ip_parse("192.0.2.1", 9, &ips[0]), DD_IP_OK);
    for (i = 0; i < sizeof(behaviors) / sizeof(behaviors[0]); i++) {
        dd_behavior_t b = parse_behavior(behaviors[i]);
        char *btext = dd_shapes_behavior_text(&b);
        dd_violation_event_t ev = {
            .violation_id = "0123456789abcdef0123456789abcdef",
            .thing = "Thing\"03\n\u00e9",
            .profile = "Prof\\ile",
            .behavior = &b,
            .type = DD_ALARM_RAISED,
        };

        assert_non_null(btext);
        for (v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            for (k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
                ev.has_value = (v + k) % 4 != 3;
                ev.value = values[v];
                ev.time_ms = times[k];
                ev.type = (dd_alarm_transition_t)(DD_ALARM_RAISED + k % 4);
                ev.verification = (dd_verification_t)(k % 4);
                ev.verification_description = k % 2 == 0 ? NULL : "seen \"it\"";
                assert_print_same(&ev, false, btext);
                assert_print_same(&ev, true, btext);
            }
        }
        free(btext);
        dd_profile_behavior_free(&b);
    }
}

/* Bad arguments and a buffer too small give 0, never a cut line. */
static void test_dd_shapes_violation_event_print_limits(void **state)
{
    dd_behavior_t b = parse_behavior(BEHAVIOR);
    char *btext = dd_shapes_behavior_text(&b);
    char buf[600];
    dd_violation_event_t ev = {
        .violation_id = "0123456789abcdef0123456789abcdef",
        .thing = "Thing03",
        .profile = "DetectLargeMessages",
        .behavior = &b,
        .type = DD_ALARM_RAISED,
        .has_value = true,
        .value = {.kind = DD_VALUE_COUNT, .count = 250},
        .time_ms = 1700000000000,
    };
    size_t n;

    (void)state;
    assert_non_null(btext);
    n = dd_shapes_violation_event_print(&ev, false, btext, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(dd_shapes_violation_event_print(&ev, false, btext, buf, n - 1), 0);
    assert_int_equal(dd_shapes_violation_event_print(&ev, false, NULL, buf, sizeof(buf)), 0);
    assert_int_equal(dd_shapes_violation_event_print(NULL, false, btext, buf, sizeof(buf)), 0);
    assert_int_equal(dd_shapes_violation_event_print(&ev, false, btext, NULL, sizeof(buf)), 0);
    assert_int_equal(dd_shapes_violation_event_print(&ev, false, btext, buf, 0), 0);
    ev.behavior = NULL;
    assert_int_equal(dd_shapes_violation_event_print(&ev, false, btext, buf, sizeof(buf)), 0);
    assert_null(dd_shapes_behavior_text(NULL));
    free(btext);
    dd_profile_behavior_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_shapes_metric_value_kinds),
        cmocka_unit_test(test_dd_shapes_violation_event),
        cmocka_unit_test(test_dd_shapes_active_violation),
        cmocka_unit_test(test_dd_shapes_ml_confidence),
        cmocka_unit_test(test_dd_shapes_violation_event_print),
        cmocka_unit_test(test_dd_shapes_violation_event_print_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
