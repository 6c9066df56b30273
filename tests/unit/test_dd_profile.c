#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_profile.h"

static char *read_file(const char *rel)
{
    char path[512];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof(path), "%s/%s", DD_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void test_dd_profile_fixtures_parse_validate_round_trip(void **state)
{
    static const char *const FILES[] = {
        "fixtures/profiles/module4-intended.json", "fixtures/profiles/module4-literal.json",
        "fixtures/profiles/module3-intended.json", "fixtures/profiles/module3-literal.json",
    };
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        char *text = read_file(FILES[i]);
        dd_profile_t p;
        dd_profile_error_t err;
        cJSON *orig = cJSON_Parse(text);
        cJSON *back;

        assert_int_equal(dd_profile_parse(text, strlen(text), NULL, &p, &err), DD_PROFILE_OK);
        assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_OK);
        back = dd_profile_to_json(&p, NULL, 0);
        assert_non_null(back);
        assert_true(cJSON_Compare(orig, back, true));
        cJSON_Delete(back);
        cJSON_Delete(orig);
        dd_profile_free(&p);
        free(text);
    }
}

static void test_dd_profile_describe_shape(void **state)
{
    const char *body = "{\"behaviors\":[{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\","
                       "\"metricDimension\":{\"dimensionName\":\"d\",\"operator\":\"NOT_IN\"},"
                       "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":10},"
                       "\"durationSeconds\":300},\"suppressAlerts\":true,\"exportMetric\":false}],"
                       "\"metricsExportConfig\":{\"mqttTopic\":\"t/x\",\"roleArn\":"
                       "\"arn:aws:iam::123456789012:role/export\"}}";
    dd_profile_t p;
    cJSON *j;
    char *text;

    (void)state;
    assert_int_equal(dd_profile_parse(body, strlen(body), "sp1", &p, NULL), DD_PROFILE_OK);
    p.version = 2;
    p.creation_ms = 1560278102528;
    p.modified_ms = 1560278200000;
    j = dd_profile_to_json(&p, NULL, DD_PROFILE_JSON_DESCRIBE);
    text = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(text, "\"securityProfileArn\":\"arn:aws:iot:us-east-1:123456789012:securityprofile/sp1\""));
    assert_non_null(strstr(text, "\"version\":2"));
    assert_non_null(strstr(text, "\"creationDate\":1560278102.528"));
    assert_non_null(strstr(text, "\"lastModifiedDate\":1560278200"));
    assert_non_null(strstr(text, "\"metricDimension\":{\"dimensionName\":\"d\",\"operator\":\"NOT_IN\"}"));
    assert_non_null(strstr(text, "\"suppressAlerts\":true,\"exportMetric\":false"));
    assert_int_equal(dd_behavior_criteria_type(&p.behaviors[0]), DD_CRITERIA_STATIC);
    free(text);
    cJSON_Delete(j);
    dd_profile_free(&p);
}

/* Parses {"behaviors":[<behavior>]} and validates; returns the message. */
static const char *validate_one(const char *behavior, const dd_metric_defs_t *defs)
{
    static dd_profile_errors_t errs;
    char body[2048];

    snprintf(body, sizeof(body), "{\"behaviors\":[%s]}", behavior);
    (void)dd_profile_validate_behaviors_json(body, strlen(body), defs, &errs);
    return errs.count > 0 ? errs.messages[0] : "";
}

static void test_dd_profile_validation_messages(void **state)
{
    static dd_dimension_def_t dim = {.name = "topics", .value_count = 1};
    const dd_dimension_def_t *dims[] = {&dim};
    dd_custom_metric_def_t customs[] = {
        {.name = "cpu", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "ifaces", .type = DD_CUSTOM_TYPE_STRING_LIST},
    };
    dd_metric_defs_t defs = {customs, 2, dims, 1};
    static const struct {
        const char *behavior;
        const char *message;
    } CASES[] = {
        {"{\"name\":\"Authorization\",\"metric\":\"aws:num-authorization-failures\",\"criteria\":"
         "{\"comparisonOperator\":\"greater-than\",\"value\":{\"count\":5},\"durationSeconds\":300,"
         "\"consecutiveDatapointsToAlarm\":100000}}",
         "Behavior Authorization is malformed. consecutiveDatapointsToAlarm 100000 should be in range[1,10]"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":5},\"consecutiveDatapointsToClear\":0}}",
         "Behavior b is malformed. consecutiveDatapointsToClear 0 should be in range[1,10]"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[1]}}}",
         "Behavior b is malformed. comparisonOperator in-port-set is not valid for metric aws:all-bytes-out"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":5},\"durationSeconds\":301}}",
         "Behavior b is malformed. durationSeconds 301 is not valid; allowed values are 300, 600, 900, 1800 and 3600"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[22]},\"durationSeconds\":300}}",
         "Behavior b is malformed. durationSeconds cannot be used with metric aws:listening-tcp-ports"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"ports\":[5]}}}",
         "Behavior b is malformed. value must contain only the member count for metric aws:all-bytes-out"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"statisticalThreshold\":{\"statistic\":\"p50\"},\"durationSeconds\":300}}",
         "Behavior b is malformed. statisticalThreshold cannot be used with metric aws:listening-tcp-ports"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"statisticalThreshold\":{\"statistic\":\"p50\"}}}",
         "Behavior b is malformed. durationSeconds is required with statisticalThreshold"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1},\"statisticalThreshold\":{\"statistic\":\"p50\"},"
         "\"durationSeconds\":300}}",
         "Behavior b is malformed. value and statisticalThreshold cannot be used together"},
        {"{\"name\":\"b\",\"metric\":\"cpu\",\"metricDimension\":{\"dimensionName\":\"topics\"},"
         "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":1}}}",
         "Behavior b is malformed. metricDimension cannot be used with custom metrics"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"metricDimension\":{\"dimensionName\":"
         "\"topics\"},\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1}}}",
         "Behavior b is malformed. metricDimension cannot be used with metric aws:all-bytes-out"},
        {"{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\",\"metricDimension\":{\"dimensionName\":"
         "\"nope\"},\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
         "\"durationSeconds\":300}}",
         "Behavior b is malformed. Dimension nope does not exist"},
        {"{\"name\":\"b\",\"metric\":\"nosuch\",\"criteria\":{\"comparisonOperator\":\"less-than\","
         "\"value\":{\"number\":1}}}",
         "Behavior b is malformed. Custom metric nosuch does not exist"},
        {"{\"name\":\"b\",\"metric\":\"aws:bogus\",\"criteria\":{\"comparisonOperator\":\"less-than\","
         "\"value\":{\"count\":1}}}",
         "Behavior b is malformed. aws:bogus is not a valid metric"},
        {"{\"name\":\"b\",\"metric\":\"ifaces\",\"criteria\":{\"comparisonOperator\":\"in-set\","
         "\"value\":{\"strings\":[\"eth0\"]},\"durationSeconds\":300}}",
         "Behavior b is malformed. durationSeconds cannot be used with metric ifaces"},
        {"{\"name\":\"b\",\"metric\":\"ifaces\",\"criteria\":{\"comparisonOperator\":\"less-than\","
         "\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator less-than is not valid for metric ifaces"},
        {"{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1}}}",
         "Behavior b is malformed. durationSeconds is required for metric aws:num-messages-sent"},
        {"{\"name\":\"b\",\"metric\":\"aws:disconnect-duration\",\"criteria\":{\"comparisonOperator\":"
         "\"greater-than\",\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator greater-than is not valid for metric aws:disconnect-duration"},
        {"{\"name\":\"b\",\"metric\":\"aws:source-ip-address\",\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"HIGH\"}}}",
         "Behavior b is malformed. mlDetectionConfig is not supported for metric aws:source-ip-address"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"HIGH\"},\"comparisonOperator\":\"less-than\"}}",
         "Behavior b is malformed. mlDetectionConfig cannot be combined with comparisonOperator, value, statisticalThreshold or durationSeconds"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\"}",
         "Behavior b is malformed. criteria is required"},
        {"{\"name\":\"b\",\"criteria\":{}}", "Behavior b is malformed. metric is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\"}}",
         "Behavior b is malformed. value or statisticalThreshold is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"bigger\"}}",
         "Behavior b is malformed. comparisonOperator bigger is not valid"},
        {"{\"name\":\"b c\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1}}}",
         "Behavior b c is malformed. Behavior name must match [a-zA-Z0-9:_-]+ and be 1 to 128 characters"},
        {"{\"name\":\"b\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":{\"comparisonOperator\":"
         "\"in-cidr-set\",\"value\":{\"cidrs\":[\"10.0.0.0/33\"]}}}",
         "Behavior b is malformed. value.cidrs: 10.0.0.0/33 is not a valid CIDR"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-udp-ports\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[70000]}}}",
         "Behavior b is malformed. value.ports must hold integers from 0 to 65535"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":-1}}}",
         "Behavior b is malformed. value.count must be an integer >= 0"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"statisticalThreshold\":{\"statistic\":\"p42\"}}}",
         "Behavior b is malformed. statisticalThreshold.statistic must be one of p0, p0.1, p0.01, p1, p10, p50, p90, p99, p99.9, p99.99, p100"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const char *msg = validate_one(CASES[i].behavior, &defs);
        if (strcmp(msg, CASES[i].message) != 0) {
            fail_msg("case %zu:\n got: %s\nwant: %s", i, msg, CASES[i].message);
        }
    }
    /* Valid ones. */
    assert_string_equal(validate_one("{\"name\":\"cpu\",\"metric\":\"cpu\",\"criteria\":{"
                                     "\"comparisonOperator\":\"less-than\",\"value\":{\"number\":75},"
                                     "\"durationSeconds\":300}}", &defs), "");
    assert_string_equal(validate_one("{\"name\":\"ml\",\"metric\":\"aws:num-messages-sent\","
                                     "\"criteria\":{\"mlDetectionConfig\":{\"confidenceLevel\":\"LOW\"},"
                                     "\"consecutiveDatapointsToAlarm\":2}}", &defs), "");
}

static void test_dd_profile_duplicate_names_limits_and_targets(void **state)
{
    char *body = malloc(64 * 1024);
    dd_profile_t p;
    dd_profile_error_t err;
    dd_profile_errors_t errs;
    size_t off;
    int i;
    const char *b = "{\"name\":\"x\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
                    "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1}}}";

    (void)state;
    snprintf(body, 64 * 1024, "{\"behaviors\":[%s,%s]}", b, b);
    assert_int_equal(dd_profile_validate_behaviors_json(body, strlen(body), NULL, &errs),
                     DD_PROFILE_INVALID);
    assert_string_equal(errs.messages[0],
                        "Behavior x is malformed. Behavior names must be unique within a security profile");

    off = (size_t)snprintf(body, 64 * 1024, "{\"behaviors\":[");
    for (i = 0; i < 101; i++) {
        off += (size_t)snprintf(body + off, 64 * 1024 - off, "%s{\"name\":\"b%d\",\"metric\":"
                                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
                                "\"less-than\",\"value\":{\"count\":1}}}", i ? "," : "", i);
    }
    snprintf(body + off, 64 * 1024 - off, "]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message, "A security profile can have at most 100 behaviors; 101 were given");
    dd_profile_free(&p);

    snprintf(body, 64 * 1024, "{\"targets\":[\"arn:aws:iot:us-east-1:123456789012:thinggroup/G\","
                              "{\"arn\":\"arn:aws:iot:us-east-1:123456789012:all/unregistered-things\"}]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(p.target_count, 2);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_OK);
    dd_profile_free(&p);
    snprintf(body, 64 * 1024, "{\"targets\":[\"arn:aws:iot:us-east-1:123456789012:thing/G\"]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    dd_profile_free(&p);

    snprintf(body, 64 * 1024, "{\"alertTargets\":{\"EMAIL\":{\"alertTargetArn\":\"a\",\"roleArn\":\"b\"}}}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message, "alertTargets: EMAIL is not a valid alert target type; only SNS is supported");
    snprintf(body, 64 * 1024, "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":\"arn:aws:sns:us-east-1:1:x\","
                              "\"roleArn\":\"short\"}}}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message, "alertTargets.SNS.roleArn must be 20 to 2048 characters");
    dd_profile_free(&p);
    assert_int_equal(dd_profile_parse("nope", 4, "p", &p, &err), DD_PROFILE_NOT_JSON);
    assert_int_equal(dd_profile_parse("{}", 2, "bad name", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    dd_profile_free(&p);
    snprintf(body, 64 * 1024, "{\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:nope\"}]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message, "additionalMetricsToRetainV2: aws:nope is not a valid metric");
    dd_profile_free(&p);
    free(body);
}

static void test_dd_profile_copy_and_equal(void **state)
{
    char *text = read_file("fixtures/profiles/module3-intended.json");
    dd_profile_t p;
    dd_profile_t q;

    (void)state;
    assert_int_equal(dd_profile_parse(text, strlen(text), NULL, &p, NULL), DD_PROFILE_OK);
    assert_int_equal(dd_profile_copy(&p, &q), DD_PROFILE_OK);
    assert_true(dd_behavior_equal(&p.behaviors[0], &q.behaviors[0]));
    assert_int_equal(dd_behavior_criteria_type(&q.behaviors[0]), DD_CRITERIA_STATISTICAL);
    q.behaviors[0].criteria.statistic = DD_STAT_P90;
    assert_false(dd_behavior_equal(&p.behaviors[0], &q.behaviors[0]));
    assert_true(dd_statistic_percentile(DD_STAT_P99_9) == 99.9);
    dd_profile_free(&p);
    dd_profile_free(&q);
    free(text);
    assert_int_equal(dd_profile_parse(NULL, 0, NULL, &p, NULL), DD_PROFILE_BAD_PARAMETER);
    assert_true(strlen(dd_profile_strerror(DD_PROFILE_INVALID)) > 0);
}

static void test_dd_profile_update_patch_semantics(void **state)
{
    char *text = read_file("fixtures/profiles/module4-intended.json");
    dd_profile_t cur;
    dd_profile_t patch;
    dd_profile_t out;
    dd_profile_error_t err;
    unsigned del = 0;
    const char *body = "{\"securityProfileDescription\":\"new\",\"deleteAlertTargets\":true}";

    (void)state;
    assert_int_equal(dd_profile_parse(text, strlen(text), NULL, &cur, NULL), DD_PROFILE_OK);
    cur.version = 3;
    cur.creation_ms = 1000;
    assert_int_equal(dd_profile_parse_update(body, strlen(body), cur.name, &patch, &del, &err),
                     DD_PROFILE_OK);
    assert_int_equal(del, DD_PROFILE_DELETE_ALERT_TARGETS);
    assert_int_equal(dd_profile_merge_update(&cur, &patch, del, &out), DD_PROFILE_OK);
    assert_string_equal(out.description, "new");
    assert_false(out.has_alert_target);
    assert_int_equal(out.behavior_count, 1);          /* kept */
    assert_true(out.has_retain_v2);                   /* kept */
    assert_int_equal(out.version, 3);
    assert_int_equal(out.creation_ms, 1000);
    dd_profile_free(&out);
    dd_profile_free(&patch);
    body = "{\"behaviors\":[],\"deleteBehaviors\":true}";
    assert_int_equal(dd_profile_parse_update(body, strlen(body), cur.name, &patch, &del, &err),
                     DD_PROFILE_INVALID);
    assert_string_equal(err.message, "deleteBehaviors cannot be true when behaviors is also given");
    body = "{\"behaviors\":[]}";
    assert_int_equal(dd_profile_parse_update(body, strlen(body), cur.name, &patch, &del, &err),
                     DD_PROFILE_OK);
    assert_int_equal(dd_profile_merge_update(&cur, &patch, del, &out), DD_PROFILE_OK);
    assert_int_equal(out.behavior_count, 0);          /* a given list replaces the whole list */
    assert_true(out.has_alert_target);
    dd_profile_free(&out);
    dd_profile_free(&patch);
    dd_profile_free(&cur);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_profile_fixtures_parse_validate_round_trip),
        cmocka_unit_test(test_dd_profile_describe_shape),
        cmocka_unit_test(test_dd_profile_validation_messages),
        cmocka_unit_test(test_dd_profile_duplicate_names_limits_and_targets),
        cmocka_unit_test(test_dd_profile_copy_and_equal),
        cmocka_unit_test(test_dd_profile_update_patch_semantics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
