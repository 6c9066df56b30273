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
        "fixtures/profiles/module4-intended.json",
        "fixtures/profiles/module4-literal.json",
        "fixtures/profiles/module3-intended.json",
        "fixtures/profiles/module3-literal.json",
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
    const char *body =
        "{\"behaviors\":[{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\","
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
    assert_non_null(strstr(
        text, "\"securityProfileArn\":\"arn:aws:iot:us-east-1:123456789012:securityprofile/sp1\""));
    assert_non_null(strstr(text, "\"version\":2"));
    assert_non_null(strstr(text, "\"creationDate\":1560278102.528"));
    assert_non_null(strstr(text, "\"lastModifiedDate\":1560278200"));
    assert_non_null(
        strstr(text, "\"metricDimension\":{\"dimensionName\":\"d\",\"operator\":\"NOT_IN\"}"));
    assert_non_null(strstr(text, "\"suppressAlerts\":true,\"exportMetric\":false"));
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
         "Behavior Authorization is malformed. consecutiveDatapointsToAlarm 100000 should be in "
         "range[1,10]"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":5},\"consecutiveDatapointsToClear\":0}}",
         "Behavior b is malformed. consecutiveDatapointsToClear 0 should be in range[1,10]"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[1]}}}",
         "Behavior b is malformed. comparisonOperator in-port-set is not valid for metric "
         "aws:all-bytes-out"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":5},\"durationSeconds\":301}}",
         "Behavior b is malformed. durationSeconds 301 is not valid; allowed values are 300, 600, "
         "900, 1800 and 3600"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[22]},\"durationSeconds\":300}}",
         "Behavior b is malformed. durationSeconds cannot be used with metric "
         "aws:listening-tcp-ports"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"ports\":[5]}}}",
         "Behavior b is malformed. value must contain only the member count for metric "
         "aws:all-bytes-out"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"in-port-set\",\"statisticalThreshold\":{\"statistic\":\"p50\"},\"durationSeconds\":300}"
         "}",
         "Behavior b is malformed. statisticalThreshold cannot be used with metric "
         "aws:listening-tcp-ports"},
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
        {"{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\",\"metricDimension\":{"
         "\"dimensionName\":"
         "\"nope\"},\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
         "\"durationSeconds\":300}}",
         "Behavior b is malformed. Dimension nope does not exist"},
        {"{\"name\":\"b\",\"metric\":\"nosuch\",\"criteria\":{\"comparisonOperator\":\"less-than\","
         "\"value\":{\"number\":1}}}",
         "Behavior b is malformed. Custom metric nosuch does not exist"},
        {"{\"name\":\"b\",\"metric\":\"aws:bogus\",\"criteria\":{\"comparisonOperator\":\"less-"
         "than\","
         "\"value\":{\"count\":1}}}",
         "Behavior b is malformed. aws:bogus is not a valid metric"},
        {"{\"name\":\"b\",\"metric\":\"ifaces\",\"criteria\":{\"comparisonOperator\":\"in-set\","
         "\"value\":{\"strings\":[\"eth0\"]},\"durationSeconds\":300}}",
         "Behavior b is malformed. durationSeconds cannot be used with metric ifaces"},
        {"{\"name\":\"b\",\"metric\":\"ifaces\",\"criteria\":{\"comparisonOperator\":\"less-than\","
         "\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator less-than is not valid for metric ifaces"},
        {"{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1}}}",
         "Behavior b is malformed. durationSeconds is required for metric aws:num-messages-sent"},
        {"{\"name\":\"b\",\"metric\":\"aws:disconnect-duration\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"greater-than\",\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator greater-than is not valid for metric "
         "aws:disconnect-duration"},
        {"{\"name\":\"b\",\"metric\":\"aws:source-ip-address\",\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"HIGH\"}}}",
         "Behavior b is malformed. mlDetectionConfig is not supported for metric "
         "aws:source-ip-address"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"HIGH\"},\"comparisonOperator\":\"less-than\"}}",
         "Behavior b is malformed. mlDetectionConfig cannot be combined with comparisonOperator, "
         "value, statisticalThreshold or durationSeconds"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\"}",
         "Behavior b is malformed. criteria is required"},
        {"{\"name\":\"b\",\"criteria\":{}}", "Behavior b is malformed. metric is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"value\":{\"count\":1}}}",
         "Behavior b is malformed. comparisonOperator is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\"}}",
         "Behavior b is malformed. value or statisticalThreshold is required"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"bigger\"}}",
         "Behavior b is malformed. comparisonOperator bigger is not valid"},
        {"{\"name\":\"b c\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1}}}",
         "Behavior b c is malformed. Behavior name must match [a-zA-Z0-9:_-]+ and be 1 to 128 "
         "characters"},
        {"{\"name\":\"b\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"in-cidr-set\",\"value\":{\"cidrs\":[\"10.0.0.0/33\"]}}}",
         "Behavior b is malformed. value.cidrs: 10.0.0.0/33 is not a valid CIDR"},
        {"{\"name\":\"b\",\"metric\":\"aws:listening-udp-ports\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[70000]}}}",
         "Behavior b is malformed. value.ports must hold integers from 0 to 65535"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":-1}}}",
         "Behavior b is malformed. value.count must be an integer >= 0"},
        {"{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"statisticalThreshold\":{\"statistic\":\"p42\"}}}",
         "Behavior b is malformed. statisticalThreshold.statistic must be one of p0, p0.1, p0.01, "
         "p1, p10, p50, p90, p99, p99.9, p99.99, p100"},
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
    assert_string_equal(
        validate_one("{\"name\":\"cpu\",\"metric\":\"cpu\",\"criteria\":{"
                     "\"comparisonOperator\":\"less-than\",\"value\":{\"number\":75},"
                     "\"durationSeconds\":300}}",
                     &defs),
        "");
    assert_string_equal(
        validate_one("{\"name\":\"ml\",\"metric\":\"aws:num-messages-sent\","
                     "\"criteria\":{\"mlDetectionConfig\":{\"confidenceLevel\":\"LOW\"},"
                     "\"consecutiveDatapointsToAlarm\":2}}",
                     &defs),
        "");
}

/* Parses @p body as a profile named @p name (NULL: the body's own) and validates it. */
static const char *profile_message(const char *body, const char *name, const dd_metric_defs_t *defs)
{
    static dd_profile_error_t err;
    dd_profile_t p;

    memset(&err, 0, sizeof(err));
    if (dd_profile_parse(body, strlen(body), name, &p, &err) != DD_PROFILE_OK) {
        return err.message;
    }
    if (dd_profile_validate(&p, defs, NULL, &err) == DD_PROFILE_OK) {
        err.message[0] = '\0';
    }
    dd_profile_free(&p);
    return err.message;
}

/* Every message the parser and validator can produce that validation_messages does not cover. */
static void test_dd_profile_every_validation_message(void **state)
{
    static dd_dimension_def_t dim = {.name = "topics", .value_count = 1};
    const dd_dimension_def_t *dims[] = {&dim};
    dd_custom_metric_def_t customs[] = {{.name = "cpu", .type = DD_CUSTOM_TYPE_NUMBER}};
    dd_metric_defs_t defs = {customs, 1, dims, 1};
#define CRIT_LT "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1}}"
#define SENT_DIM(d) "\"metric\":\"aws:num-messages-sent\",\"metricDimension\":" d ","
    /* Behaviors; with_defs false = custom metric types unknown (no definitions given). */
    static const struct {
        bool with_defs;
        const char *behavior;
        const char *message;
    } B[] = {
        {true, "5", "Behavior is malformed. A behavior must be an object"},
        {true, "{\"metric\":\"aws:all-bytes-out\"}",
         "Behavior is malformed. name must be a string of 1 to 128 characters"},
        {true, "{\"name\":\"b\",\"metric\":5}",
         "Behavior b is malformed. metric must be a string of 1 to 128 characters"},
        {true, "{\"name\":\"b\"," SENT_DIM("{}") CRIT_LT "}",
         "Behavior b is malformed. metricDimension.dimensionName must be a string of 1 to 128 "
         "characters"},
        {true,
         "{\"name\":\"b\"," SENT_DIM("{\"dimensionName\":\"topics\",\"operator\":\"EQ\"}") CRIT_LT
         "}",
         "Behavior b is malformed. metricDimension.operator must be IN or NOT_IN"},
        {true, "{\"name\":\"b\"," SENT_DIM("{\"dimensionName\":\"bad name\"}") CRIT_LT "}",
         "Behavior b is malformed. metricDimension.dimensionName bad name is not a valid dimension "
         "name"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:source-ip-address\",\"metricDimension\":"
         "{\"dimensionName\":\"topics\"},\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"LOW\"}}}",
         "Behavior b is malformed. metricDimension cannot be used with mlDetectionConfig for "
         "metric aws:source-ip-address"},
        {true, "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":[]}",
         "Behavior b is malformed. criteria must be an object"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"suppressAlerts\":\"yes\"," CRIT_LT "}",
         "Behavior b is malformed. suppressAlerts must be a boolean"},
        {true, "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"exportMetric\":1," CRIT_LT "}",
         "Behavior b is malformed. exportMetric must be a boolean"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1},\"durationSeconds\":\"300\"}}",
         "Behavior b is malformed. durationSeconds must be an integer"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"count\":1},\"consecutiveDatapointsToAlarm\":1.5}}",
         "Behavior b is malformed. consecutiveDatapointsToAlarm must be an integer"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"mlDetectionConfig\":"
         "{\"confidenceLevel\":\"EXTREME\"}}}",
         "Behavior b is malformed. mlDetectionConfig.confidenceLevel must be LOW, MEDIUM or HIGH"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":[1]}}",
         "Behavior b is malformed. value must be an object"},
        {true,
         "{\"name\":\"b\",\"metric\":\"cpu\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"number\":\"1\"}}}",
         "Behavior b is malformed. value.number must be a number"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{"
         "\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":22}}}",
         "Behavior b is malformed. value.ports must be a list of integers"},
        {true,
         "{\"name\":\"b\",\"metric\":\"cpu\",\"criteria\":{\"comparisonOperator\":"
         "\"in-set\",\"value\":{\"numbers\":[1,\"2\"]}}}",
         "Behavior b is malformed. value.numbers must be a list of numbers"},
        {true,
         "{\"name\":\"b\",\"metric\":\"cpu\",\"criteria\":{\"comparisonOperator\":"
         "\"in-set\",\"value\":{\"strings\":[1]}}}",
         "Behavior b is malformed. value.strings must be a list of strings"},
        {true,
         "{\"name\":\"b\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":"
         "{\"comparisonOperator\":\"in-cidr-set\",\"value\":{\"cidrs\":\"10.0.0.0/8\"}}}",
         "Behavior b is malformed. value.cidrs must be a list of strings"},
        {true, "{\"name\":\"b\",\"metric\":\"bad metric\"," CRIT_LT "}",
         "Behavior b is malformed. bad metric is not a valid metric"},
        {false,
         "{\"name\":\"b\",\"metric\":\"mine\",\"criteria\":{\"comparisonOperator\":"
         "\"in-port-set\",\"value\":{\"ports\":[1]}}}",
         "Behavior b is malformed. comparisonOperator in-port-set is not valid for custom metrics"},
        {false,
         "{\"name\":\"b\",\"metric\":\"mine\",\"criteria\":{\"comparisonOperator\":"
         "\"in-cidr-set\",\"value\":{\"numbers\":[1]}}}",
         "Behavior b is malformed. value must contain only the member cidrs"},
        {false,
         "{\"name\":\"b\",\"metric\":\"mine\",\"criteria\":{\"comparisonOperator\":"
         "\"less-than\",\"value\":{\"number\":1,\"count\":1}}}",
         "Behavior b is malformed. value must contain exactly one member"},
        {false,
         "{\"name\":\"b\",\"metric\":\"mine\",\"criteria\":{\"comparisonOperator\":"
         "\"in-cidr-set\",\"statisticalThreshold\":{\"statistic\":\"p50\"},"
         "\"durationSeconds\":300}}",
         "Behavior b is malformed. statisticalThreshold can only be used with numeric metrics"},
        {false,
         "{\"name\":\"b\",\"metric\":\"mine\",\"criteria\":{\"comparisonOperator\":"
         "\"in-set\",\"value\":{\"strings\":[\"x\"]},\"durationSeconds\":300}}",
         "Behavior b is malformed. durationSeconds cannot be used with list-based metrics"},
    };
    /* Whole profiles, named "p" unless the name is given. */
    static const struct {
        const char *name;
        const char *body;
        const char *message;
    } P[] = {
        {"p", "nope",
         "The request body is not valid JSON: lexical error: invalid string in json text. "
         "(at byte 1)"},
        {"p", "[]", "The request body must be a JSON object"},
        {NULL, "{\"securityProfileName\":\"bad name\"}",
         "securityProfileName bad name must match [a-zA-Z0-9:_-]+ and be 1 to 128 characters"},
        {"p", "{\"securityProfileDescription\":5}", "securityProfileDescription must be a string"},
        {"p", "{\"securityProfileDescription\":\"tab\\there\"}",
         "securityProfileDescription must be at most 1000 printable characters"},
        {"p", "{\"behaviors\":{}}", "behaviors must be a list"},
        {"p", "{\"alertTargets\":[]}", "alertTargets must be an object"},
        {"p",
         "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":\"arn:aws:sns:us-east-1:123456789012:t\"}}"
         "}",
         "alertTargets.SNS needs alertTargetArn and roleArn strings"},
        {"p",
         "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:q\","
         "\"roleArn\":\"arn:aws:iam::123456789012:role/sns\"}}}",
         "alertTargets.SNS.alertTargetArn arn:aws:sqs:us-east-1:123456789012:q is not an SNS topic "
         "ARN"},
        {"p",
         "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":\"arn:aws:sns:us-east-1:123456789012\","
         "\"roleArn\":\"arn:aws:iam::123456789012:role/sns\"}}}",
         "alertTargets.SNS.alertTargetArn arn:aws:sns:us-east-1:123456789012 is not an SNS topic "
         "ARN"},
        {"p", "{\"additionalMetricsToRetain\":[5]}",
         "additionalMetricsToRetain must be a list of strings"},
        {"p", "{\"additionalMetricsToRetain\":[\"aws:nope\"]}",
         "additionalMetricsToRetain: aws:nope is not a valid metric"},
        {"p", "{\"additionalMetricsToRetainV2\":{}}", "additionalMetricsToRetainV2 must be a list"},
        {"p", "{\"additionalMetricsToRetainV2\":[{\"metric\":\"\"}]}",
         "additionalMetricsToRetainV2: metric must be a string of 1 to 128 characters"},
        {"p",
         "{\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:all-bytes-out\",\"exportMetric\":"
         "\"y\"}]}",
         "additionalMetricsToRetainV2: exportMetric must be a boolean"},
        {"p",
         "{\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:num-messages-sent\","
         "\"metricDimension\":{\"dimensionName\":5}}]}",
         "additionalMetricsToRetainV2 is malformed. metricDimension.dimensionName must be a string "
         "of 1 to 128 characters"},
        {"p", "{\"additionalMetricsToRetainV2\":[{\"metric\":\"nosuch\"}]}",
         "Custom metric nosuch does not exist"},
        {"p",
         "{\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:all-bytes-out\","
         "\"metricDimension\":{\"dimensionName\":\"topics\"}}]}",
         "additionalMetricsToRetainV2: metricDimension cannot be used with metric "
         "aws:all-bytes-out"},
        {"p",
         "{\"additionalMetricsToRetainV2\":[{\"metric\":\"cpu\","
         "\"metricDimension\":{\"dimensionName\":\"topics\"}}]}",
         "additionalMetricsToRetainV2: metricDimension cannot be used with metric cpu"},
        {"p",
         "{\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:num-messages-sent\","
         "\"metricDimension\":{\"dimensionName\":\"nope\"}}]}",
         "Dimension nope does not exist"},
        {"p", "{\"metricsExportConfig\":{\"mqttTopic\":\"t\"}}",
         "metricsExportConfig needs mqttTopic and roleArn strings"},
        {"p",
         "{\"metricsExportConfig\":{\"mqttTopic\":\"\",\"roleArn\":\"arn:aws:iam::123456789012:"
         "role/x\"}}",
         "metricsExportConfig: mqttTopic must be 1 to 512 characters and roleArn 20 to 2048 "
         "characters"},
        {"p", "{\"metricsExportConfig\":{\"mqttTopic\":\"t\",\"roleArn\":\"short\"}}",
         "metricsExportConfig: mqttTopic must be 1 to 512 characters and roleArn 20 to 2048 "
         "characters"},
        {"p", "{\"version\":\"1\"}", "version must be an integer"},
        {"p", "{\"creationDate\":-1}", "creationDate must be a number of epoch seconds"},
        {"p", "{\"lastModifiedDate\":\"x\"}", "lastModifiedDate must be a number of epoch seconds"},
        {"p", "{\"targets\":[1]}", "targets must be a list of ARNs"},
        {"p", "{\"targets\":\"arn\"}", "targets must be a list of ARNs"},
        {"p", "{\"targets\":[\"arn:aws:iot:us-east-1:123456789012:thing/G\"]}",
         "arn:aws:iot:us-east-1:123456789012:thing/G is not a valid security profile target"},
    };
    /* UpdateSecurityProfile bodies. */
    static const struct {
        const char *body;
        const char *message;
    } U[] = {
        {"[]", "The request body is not a JSON object"},
        {"{\"deleteAlertTargets\":\"yes\"}", "deleteAlertTargets must be a boolean"},
        {"{\"deleteAlertTargets\":true,\"alertTargets\":{}}",
         "deleteAlertTargets cannot be true when alertTargets is also given"},
        {"{\"deleteAdditionalMetricsToRetain\":true,\"additionalMetricsToRetainV2\":[]}",
         "deleteAdditionalMetricsToRetain cannot be true when additionalMetricsToRetain is also "
         "given"},
        {"{\"deleteAdditionalMetricsToRetain\":true,\"additionalMetricsToRetain\":[]}",
         "deleteAdditionalMetricsToRetain cannot be true when additionalMetricsToRetain is also "
         "given"},
        {"{\"deleteMetricsExportConfig\":true,\"metricsExportConfig\":{}}",
         "deleteMetricsExportConfig cannot be true when metricsExportConfig is also given"},
    };
#undef CRIT_LT
#undef SENT_DIM
    dd_profile_errors_t errs;
    dd_profile_error_t err;
    dd_profile_t patch;
    unsigned del;
    char *body = malloc(16 * 1024);
    char *longs = malloc(1100);
    size_t off;
    size_t i;

    (void)state;
    assert_non_null(body);
    assert_non_null(longs);
    for (i = 0; i < sizeof(B) / sizeof(B[0]); i++) {
        const char *msg = validate_one(B[i].behavior, B[i].with_defs ? &defs : NULL);
        if (strcmp(msg, B[i].message) != 0) {
            fail_msg("behavior case %zu:\n got: %s\nwant: %s", i, msg, B[i].message);
        }
    }
    for (i = 0; i < sizeof(P) / sizeof(P[0]); i++) {
        const char *msg = profile_message(P[i].body, P[i].name, &defs);
        if (strcmp(msg, P[i].message) != 0) {
            fail_msg("profile case %zu:\n got: %s\nwant: %s", i, msg, P[i].message);
        }
    }
    for (i = 0; i < sizeof(U) / sizeof(U[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_not_equal(dd_profile_parse_update(U[i].body, strlen(U[i].body), "p", &patch,
                                                     &del, &err),
                             DD_PROFILE_OK);
        if (strcmp(err.message, U[i].message) != 0) {
            fail_msg("update case %zu:\n got: %s\nwant: %s", i, err.message, U[i].message);
        }
    }

    /* dd_profile_validate_behaviors_json's own messages. */
    assert_int_equal(dd_profile_validate_behaviors_json("[1]", 3, NULL, &errs),
                     DD_PROFILE_NOT_JSON);
    assert_string_equal(errs.messages[0], "The request body is not a JSON object");
    assert_int_equal(dd_profile_validate_behaviors_json("{}", 2, NULL, &errs), DD_PROFILE_INVALID);
    assert_string_equal(errs.messages[0], "behaviors is required");
    assert_int_equal(dd_profile_validate_behaviors_json("{\"behaviors\":5}", 15, NULL, &errs),
                     DD_PROFILE_INVALID);
    assert_string_equal(errs.messages[0], "behaviors must be a list");

    /* Length limits: 1000 description characters pass, 1001 do not. */
    memset(longs, 'a', 1001);
    longs[1000] = '\0';
    snprintf(body, 16 * 1024, "{\"securityProfileDescription\":\"%s\"}", longs);
    assert_string_equal(profile_message(body, "p", &defs), "");
    snprintf(body, 16 * 1024, "{\"securityProfileDescription\":\"%sa\"}", longs);
    assert_string_equal(profile_message(body, "p", &defs),
                        "securityProfileDescription must be at most 1000 printable characters");
    /* 129-character names: the profile's and a V1 retained metric's. */
    longs[129] = '\0';
    assert_string_equal(profile_message("{}", longs, &defs),
                        "securityProfileName must be 1 to 128 characters");
    snprintf(body, 16 * 1024, "{\"additionalMetricsToRetain\":[\"%s\"]}", longs);
    assert_string_equal(profile_message(body, "p", &defs),
                        "additionalMetricsToRetain: metric name too long");
    longs[128] = '\0';
    assert_string_equal(profile_message("{}", longs, &defs), "");

    /* Value elements over the whole profile: 1000 pass, 1001 do not (600 ports + 401 ports). */
    for (i = 0; i < 2; i++) {
        size_t k;
        size_t second = i == 0 ? 400 : 401;
        off = (size_t)snprintf(body, 16 * 1024, "{\"behaviors\":[");
        for (k = 0; k < 2; k++) {
            size_t n = k == 0 ? 600 : second;
            size_t j;
            off += (size_t)snprintf(body + off, 16 * 1024 - off,
                                    "%s{\"name\":\"b%zu\",\"metric\":\"aws:listening-tcp-ports\","
                                    "\"criteria\":{\"comparisonOperator\":\"in-port-set\","
                                    "\"value\":{\"ports\":[",
                                    k ? "," : "", k);
            for (j = 0; j < n; j++) {
                off += (size_t)snprintf(body + off, 16 * 1024 - off, "%s%zu", j ? "," : "", j);
            }
            off += (size_t)snprintf(body + off, 16 * 1024 - off, "]}}}");
        }
        snprintf(body + off, 16 * 1024 - off, "]}");
        assert_string_equal(profile_message(body, "p", &defs),
                            i == 0 ? ""
                                   : "A security profile can have at most 1000 value elements "
                                     "(cidrs, ports, numbers, strings); 1001 were given");
    }
    free(longs);
    free(body);
}

static void test_dd_profile_duplicate_names_limits_and_targets(void **state)
{
    char *body = malloc(64 * 1024);
    dd_profile_t p;
    dd_profile_t patch;
    unsigned del;
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
    assert_string_equal(
        errs.messages[0],
        "Behavior x is malformed. Behavior names must be unique within a security profile");

    off = (size_t)snprintf(body, 64 * 1024, "{\"behaviors\":[");
    for (i = 0; i < 101; i++) {
        off += (size_t)snprintf(body + off, 64 * 1024 - off,
                                "%s{\"name\":\"b%d\",\"metric\":"
                                "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
                                "\"less-than\",\"value\":{\"count\":1}}}",
                                i ? "," : "", i);
    }
    snprintf(body + off, 64 * 1024 - off, "]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message,
                        "A security profile can have at most 100 behaviors; 101 were given");
    dd_profile_free(&p);

    snprintf(body, 64 * 1024,
             "{\"targets\":[\"arn:aws:iot:us-east-1:123456789012:thinggroup/G\","
             "{\"arn\":\"arn:aws:iot:us-east-1:123456789012:all/unregistered-things\"}]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(p.target_count, 2);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_OK);
    dd_profile_free(&p);
    snprintf(body, 64 * 1024, "{\"targets\":[\"arn:aws:iot:us-east-1:123456789012:thing/G\"]}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    dd_profile_free(&p);

    snprintf(body, 64 * 1024,
             "{\"alertTargets\":{\"EMAIL\":{\"alertTargetArn\":\"a\",\"roleArn\":\"b\"}}}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_INVALID);
    assert_string_equal(
        err.message, "alertTargets: EMAIL is not a valid alert target type; only SNS is supported");
    snprintf(body, 64 * 1024,
             "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":\"arn:aws:sns:us-east-1:1:x\","
             "\"roleArn\":\"short\"}}}");
    assert_int_equal(dd_profile_parse(body, strlen(body), "p", &p, &err), DD_PROFILE_OK);
    assert_int_equal(dd_profile_validate(&p, NULL, NULL, &err), DD_PROFILE_INVALID);
    assert_string_equal(err.message, "alertTargets.SNS.roleArn must be 20 to 2048 characters");
    dd_profile_free(&p);
    assert_int_equal(dd_profile_parse("nope", 4, "p", &p, &err), DD_PROFILE_NOT_JSON);
    /* Issue 10: strict JSON (profile files for replay and the store come through here). */
    assert_int_equal(dd_profile_parse("{\"behaviors\":[],\"behaviors\":[]}", 31, "p", &p, &err),
                     DD_PROFILE_NOT_JSON);
    assert_string_equal(err.message,
                        "The request body is not valid JSON: duplicate object key \"behaviors\"");
    assert_int_equal(dd_profile_parse("{\"x\":01}", 8, "p", &p, &err), DD_PROFILE_NOT_JSON);
    assert_int_equal(dd_profile_parse("{} x", 4, "p", &p, &err), DD_PROFILE_NOT_JSON);
    assert_int_equal(dd_profile_parse_update("{\"x\":1.}", 8, "p", &patch, &del, &err),
                     DD_PROFILE_NOT_JSON);
    assert_int_equal(dd_profile_validate_behaviors_json("{\"behaviors\":[]}\0", 17, NULL, &errs),
                     DD_PROFILE_NOT_JSON);
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
    assert_true(dd_profile_behavior_equal(&p.behaviors[0], &q.behaviors[0]));
    q.behaviors[0].criteria.statistic = DD_STAT_P90;
    assert_false(dd_profile_behavior_equal(&p.behaviors[0], &q.behaviors[0]));
    assert_true(dd_profile_statistic_percentile(DD_STAT_P99_9) == 99.9);
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
    assert_int_equal(out.behavior_count, 1); /* kept */
    assert_true(out.has_retain_v2);          /* kept */
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
    assert_int_equal(out.behavior_count, 0); /* a given list replaces the whole list */
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
        cmocka_unit_test(test_dd_profile_every_validation_message),
        cmocka_unit_test(test_dd_profile_duplicate_names_limits_and_targets),
        cmocka_unit_test(test_dd_profile_copy_and_equal),
        cmocka_unit_test(test_dd_profile_update_patch_semantics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
