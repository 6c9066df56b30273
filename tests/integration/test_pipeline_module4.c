/*
 * Issue 4, Module 4 against `ddlocal up` (manual clock):
 *
 * - the fixture rule (aws:all-bytes-out less-than-equals 200 per 300 s):
 *   Thing03, connected as SensorDevice03 with its own certificate, reports
 *   150 bytes out -> /accepted, no violation, no alert; 300 s later 3000 ->
 *   an in-alarm SNS alert with exactly AWS's field set; the isolator adds
 *   Thing03 to IsolatedDevices (DenyAll); Thing03 is disconnected, its next
 *   publish never reaches ddlocald and it cannot reconnect (CONNACK 5);
 *   RemoveThingFromThingGroup lets it back in, and its next normal report
 *   clears the alarm (alarm-cleared, same violationId, same field set);
 * - the workshop's literal rule (greater-than 200) evaluated as AWS does:
 *   in-alarm at the 150-byte report, alarm-cleared at the 3000-byte one.
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

#define PROFILE "DetectSendingMoreThanAverageBytes"
#define SNS_TOPIC "ddlocal/sns/BadIoTDevices"
#define REPORT_TOPIC "$aws/things/Thing03/defender/metrics/json"
#define WAIT_MS 10000

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *watch;  /* service identity: SNS stand-in and Thing03's replies */
    dd_pipetest_mqtt_t *device; /* SensorDevice03 with Thing03's certificate */
    char cert[600];
    char key[600];
} fixture_t;

static int teardown(void **state);

static int setup_pipeline(void **state, bool isolator, const char *profile_fixture)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipetest_options_t o;
    char policy[700];
    int granted = -1;

    if (f == NULL) {
        return -1;
    }
    *state = f;
    memset(&o, 0, sizeof(o));
    o.isolator = isolator ? "BadIoTDevices:IsolatedDevices" : NULL;
    if (dd_pipetest_start(&f->pt, &o) != DD_PIPETEST_OK) {
        return -1;
    }
    /* The workshop's world: a per-thing device policy, IsolatedDevices with DenyAll. */
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0) {
        return -1;
    }
    dd_pipetest_fixture("policies/deny-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DenyAll", policy, NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "group", "create", "IsolatedDevices", NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "policy", "attach", "DenyAll", "--group", "IsolatedDevices",
                        NULL) != 0 ||
        dd_pipetest_thing(&f->pt, "Thing03", "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, PROFILE, profile_fixture) != DD_PIPETEST_OK) {
        return -1;
    }
    if (dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-watch", NULL, NULL, true, &f->watch) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->watch, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(f->watch, SNS_TOPIC, 1, WAIT_MS, &granted) != DD_PIPETEST_OK ||
        granted != 1 ||
        dd_pipetest_mqtt_subscribe(f->watch, REPORT_TOPIC "/+", 1, WAIT_MS, &granted) !=
            DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
    }
    /* The registry changes made by the CLI reach the shim within ~100 ms:
     * connecting is retried until the device's certificate is known there. */
    if (dd_pipetest_mqtt_new(&f->pt, "SensorDevice03", f->cert, f->key, true, &f->device) !=
        DD_PIPETEST_OK) {
        return -1;
    }
    {
        int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
        while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
            if (dd_clock_mono_ms() > deadline) {
                return -1;
            }
        }
    }
    return 0;
}

/* cmocka runs no teardown after a failed setup: clean up here. */
static int setup(void **state, bool isolator, const char *profile_fixture)
{
    if (setup_pipeline(state, isolator, profile_fixture) != 0) {
        (void)teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int setup_intended(void **state)
{
    return setup(state, true, "profiles/module4-intended.json");
}

static int setup_literal(void **state)
{
    return setup(state, false, "profiles/module4-literal.json");
}

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

/* ---- helpers -------------------------------------------------------------------------------- */

static void subscribe_replies(fixture_t *f)
{
    int granted = -1;

    assert_int_equal(dd_pipetest_mqtt_subscribe(f->device, REPORT_TOPIC "/accepted", 1, WAIT_MS,
                                                &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_pipetest_mqtt_subscribe(f->device, REPORT_TOPIC "/rejected", 1, WAIT_MS,
                                                &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
}

/* The device reports @p bytes_out; it and the watcher get /accepted for @p rid at @p now_ms. */
static void report(fixture_t *f, int rid, int bytes_out, int64_t now_ms)
{
    char body[256];
    dd_pipetest_msg_t *m = NULL;
    cJSON *reply;
    char expected[256];
    int i;

    (void)snprintf(
        body, sizeof(body),
        "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
        "{\"bytes_in\":%d,\"bytes_out\":%d,\"packets_in\":2,\"packets_out\":3}}}",
        rid, bytes_out, bytes_out);
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, body, strlen(body), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    (void)snprintf(
        expected, sizeof(expected),
        "{\"thingName\":\"Thing03\",\"reportId\":%d,\"status\":\"ACCEPTED\",\"timestamp\":%lld}",
        rid, (long long)now_ms);
    for (i = 0; i < 2; i++) {
        dd_pipetest_mqtt_t *c = i == 0 ? f->device : f->watch;
        for (;;) {
            const cJSON *id;
            assert_int_equal(dd_pipetest_mqtt_wait_message(c, REPORT_TOPIC "/+", WAIT_MS, &m),
                             DD_PIPETEST_OK);
            assert_string_equal(m->topic, REPORT_TOPIC "/accepted");
            reply = dd_pipetest_reply_parse(m);
            assert_non_null(reply);
            /*
             * QoS 1 is at least once: a reply to an earlier report whose
             * PUBACK the broker had not seen when the session was cut (the
             * isolation kick) comes again after the reconnect. Skip it.
             */
            id = cJSON_GetObjectItemCaseSensitive(reply, "reportId");
            if (cJSON_IsNumber(id) && id->valueint < rid) {
                cJSON_Delete(reply);
                dd_pipetest_msg_free(m);
                continue;
            }
            break;
        }
        /* Byte for byte what wire-samples.md §4 shows real clients accepting. */
        assert_int_equal(m->len, strlen(expected));
        assert_memory_equal(m->payload, expected, m->len);
        cJSON_Delete(reply);
        dd_pipetest_msg_free(m);
    }
}

static bool is_hex32(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 32) {
        return false;
    }
    for (i = 0; i < 32; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/*
 * Takes the next SNS stand-in message and checks it is the alert defender-spec
 * §5.2 describes, with exactly its seven members. @p violation_id: in = the
 * expected id ("" for a new one), out = the alert's id.
 */
static void expect_alert(fixture_t *f, const char *type, long long metric_count, int64_t time_ms,
                         const char *operator, char * violation_id)
{
    static const char *const FIELDS[] = {"violationEventTime", "thingName",   "behavior",
                                         "violationEventType", "metricValue", "violationId",
                                         "securityProfileName"};
    dd_pipetest_msg_t *m = NULL;
    cJSON *envelope = NULL;
    cJSON *alert;
    const cJSON *item;
    const cJSON *behavior;
    const cJSON *criteria;
    const cJSON *sns;
    size_t i;

    assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, SNS_TOPIC, WAIT_MS, &m),
                     DD_PIPETEST_OK);
    assert_int_equal(m->qos, 1);
    alert = dd_pipetest_sns_alert(m, &envelope);
    if (alert == NULL) {
        fail_msg("not an SNS Lambda event: %.*s", (int)m->len, (const char *)m->payload);
    }
    sns = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(envelope, "Records"), 0), "Sns");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sns, "Type")),
                        "Notification");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sns, "TopicArn")),
                        "arn:aws:sns:us-east-1:123456789012:BadIoTDevices");

    /* Exactly these members, no others. */
    assert_int_equal(cJSON_GetArraySize(alert), (int)(sizeof(FIELDS) / sizeof(FIELDS[0])));
    for (i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++) {
        if (cJSON_GetObjectItemCaseSensitive(alert, FIELDS[i]) == NULL) {
            fail_msg("the alert has no %s: %.*s", FIELDS[i], (int)m->len, (const char *)m->payload);
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(alert, "violationEventTime");
    assert_true(cJSON_IsNumber(item));
    assert_true(item->valuedouble == (double)time_ms); /* epoch milliseconds, the report's time */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(alert, "thingName")),
                        "Thing03");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "violationEventType")),
                        type);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "securityProfileName")),
                        PROFILE);
    item = cJSON_GetObjectItemCaseSensitive(alert, "metricValue");
    assert_true(cJSON_IsObject(item));
    assert_int_equal(cJSON_GetArraySize(item), 1);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(item, "count")));
    assert_true(cJSON_GetObjectItemCaseSensitive(item, "count")->valuedouble ==
                (double)metric_count);
    behavior = cJSON_GetObjectItemCaseSensitive(alert, "behavior");
    assert_true(cJSON_IsObject(behavior));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(behavior, "name")),
                        "MoreBytesSent");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(behavior, "metric")),
                        "aws:all-bytes-out");
    criteria = cJSON_GetObjectItemCaseSensitive(behavior, "criteria");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(criteria, "comparisonOperator")),
                        operator);
    assert_true(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(criteria, "value"),
                                         "count")
            ->valuedouble == 200.0);
    assert_true(cJSON_GetObjectItemCaseSensitive(criteria, "durationSeconds")->valuedouble ==
                300.0);
    item = cJSON_GetObjectItemCaseSensitive(alert, "violationId");
    assert_true(is_hex32(cJSON_GetStringValue(item)));
    if (violation_id[0] != '\0') {
        assert_string_equal(item->valuestring, violation_id);
    } else {
        (void)snprintf(violation_id, 64, "%s", item->valuestring);
    }
    cJSON_Delete(alert);
    cJSON_Delete(envelope);
    dd_pipetest_msg_free(m);
}

static bool in_group(fixture_t *f, const char *group)
{
    cJSON *out = NULL;
    const cJSON *g;
    bool found = false;

    if (dd_pipetest_api(&f->pt, "GET", "/things/Thing03/thing-groups", NULL, NULL, &out) !=
        DD_PIPETEST_OK) {
        return false;
    }
    cJSON_ArrayForEach (g, cJSON_GetObjectItemCaseSensitive(out, "thingGroups")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "groupName"));
        found = found || (name != NULL && strcmp(name, group) == 0);
    }
    cJSON_Delete(out);
    return found;
}

static int count_events(fixture_t *f, const char *type, const char *violation_id)
{
    cJSON *events = NULL;
    const cJSON *e;
    int n = 0;

    assert_int_equal(dd_pipetest_violation_events(&f->pt, NULL, &events), DD_PIPETEST_OK);
    cJSON_ArrayForEach (e, events) {
        const char *t =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationEventType"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationId"));
        if (t != NULL && strcmp(t, type) == 0 &&
            (violation_id == NULL || (id != NULL && strcmp(id, violation_id) == 0))) {
            n++;
        }
    }
    cJSON_Delete(events);
    return n;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_pipeline_module4_intended_rule_isolates(void **state)
{
    fixture_t *f = *state;
    char violation_id[64] = "";
    dd_pipetest_msg_t *m = NULL;
    cJSON *actives = NULL;
    double value = -1;
    int64_t now = 0;
    int64_t stored = -1;
    int64_t deadline;
    dd_pipetest_status_t st;
    int rc;

    subscribe_replies(f);
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &now), DD_PIPETEST_OK);

    /* 1. Normal traffic: accepted, no violation, no alert. The alert of a report
     *    would be published before its reply, so the watcher's reply is the barrier. */
    report(f, 1, 150, now);
    assert_int_equal(dd_pipetest_mqtt_queued(f->watch, SNS_TOPIC), 0);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &value), DD_PIPETEST_OK);
    assert_true(value == 1.0);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "activeViolations", &value), DD_PIPETEST_OK);
    assert_true(value == 0.0);
    assert_int_equal(count_events(f, "in-alarm", NULL), 0);

    /* 2. Compromised, one report interval later: 3000 bytes out in (t-300 s, t]. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, &now), DD_PIPETEST_OK);
    report(f, 2, 3000, now);
    expect_alert(f, "in-alarm", 3000, now, "less-than-equals", violation_id);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, "Thing03", &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 1);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(actives, 0),
                                                             "violationId")),
                        violation_id);
    cJSON_Delete(actives);
    assert_int_equal(count_events(f, "in-alarm", violation_id), 1);

    /* 3. The isolator (the workshop's Lambda) moves Thing03 into IsolatedDevices. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (!in_group(f, "IsolatedDevices")) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("the isolator did not add Thing03 to IsolatedDevices within %d ms", WAIT_MS);
        }
        dd_clock_sleep_ms(50);
    }

    /* 4. Thing03 is cut off: its next publish is denied (the shim drops the
     *    connection; it may already have, as soon as iot:Connect became denied). */
    {
        const char *body =
            "{\"header\":{\"report_id\":3,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
            "{\"bytes_out\":150}}}";
        st = dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, body, strlen(body), 1, WAIT_MS);
        assert_true(st == DD_PIPETEST_OK || st == DD_PIPETEST_DISCONNECTED);
    }
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    assert_int_equal(dd_pipetest_db_int(&f->pt,
                                        "SELECT count(*) FROM ev_reports WHERE report_id = 3",
                                        &stored),
                     DD_PIPETEST_OK);
    assert_int_equal(stored, 0);
    rc = dd_pipetest_mqtt_connect(f->device, WAIT_MS);
    assert_int_equal(rc, 5); /* CONNACK "not authorised" */
    assert_false(dd_pipetest_mqtt_connected(f->device));

    /* 5. RemoveThingFromThingGroup (in force before the API answers): back in. */
    assert_int_equal(
        dd_pipetest_api(&f->pt, "PUT", "/thing-groups/removeThingFromThingGroup",
                        "{\"thingGroupName\":\"IsolatedDevices\",\"thingName\":\"Thing03\"}", NULL,
                        NULL),
        DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(f->device, WAIT_MS), 0);
    subscribe_replies(f);

    /* 6. Normal again one interval later: the same violation clears. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, &now), DD_PIPETEST_OK);
    report(f, 4, 150, now);
    expect_alert(f, "alarm-cleared", 150, now, "less-than-equals", violation_id);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, "Thing03", &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 0);
    cJSON_Delete(actives);
    assert_int_equal(count_events(f, "in-alarm", violation_id), 1);
    assert_int_equal(count_events(f, "alarm-cleared", violation_id), 1);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->device, "#", 0, &m), DD_PIPETEST_TIMEOUT);

    /* 7. Kick-on-deny by itself: a group whose policy denies only iot:Publish keeps
     *    Thing03 connected until it publishes; that publish is dropped and ends
     *    the connection (AWS closes MQTT 3.1.1 connections on a denied publish). */
    assert_int_equal(
        dd_pipetest_api(
            &f->pt, "POST", "/policies/DenyPublish",
            "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":"
            "[{\\\"Effect\\\":\\\"Deny\\\",\\\"Action\\\":\\\"iot:Publish\\\","
            "\\\"Resource\\\":\\\"*\\\"}]}\"}",
            NULL, NULL),
        DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_api(&f->pt, "POST", "/thing-groups/NoPublish", "{}", NULL, NULL),
                     DD_PIPETEST_OK);
    assert_int_equal(
        dd_pipetest_api(&f->pt, "PUT", "/target-policies/DenyPublish",
                        "{\"target\":\"arn:aws:iot:us-east-1:123456789012:thinggroup/NoPublish\"}",
                        NULL, NULL),
        DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_api(&f->pt, "PUT", "/thing-groups/addThingToThingGroup",
                                     "{\"thingGroupName\":\"NoPublish\",\"thingName\":\"Thing03\"}",
                                     NULL, NULL),
                     DD_PIPETEST_OK);
    assert_true(dd_pipetest_mqtt_connected(f->device));
    {
        const char *body =
            "{\"header\":{\"report_id\":5,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
            "{\"bytes_out\":150}}}";
        st = dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, body, strlen(body), 1, WAIT_MS);
        assert_true(st == DD_PIPETEST_OK ||
                    st == DD_PIPETEST_DISCONNECTED); /* 3.1.1: PUBACK even if denied */
    }
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    assert_int_equal(dd_pipetest_db_int(&f->pt,
                                        "SELECT count(*) FROM ev_reports WHERE report_id = 5",
                                        &stored),
                     DD_PIPETEST_OK);
    assert_int_equal(stored, 0);
    assert_int_equal(dd_pipetest_mqtt_connect(f->device, WAIT_MS),
                     0); /* connecting is still allowed */
    f->pt.passed = true;
}

static void test_pipeline_module4_literal_rule_inverted(void **state)
{
    fixture_t *f = *state;
    char violation_id[64] = "";
    cJSON *actives = NULL;
    int64_t now = 0;

    subscribe_replies(f);
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &now), DD_PIPETEST_OK);

    /* greater-than 200 says "normal is more than 200 bytes out": the quiet device alarms... */
    report(f, 1, 150, now);
    expect_alert(f, "in-alarm", 150, now, "greater-than", violation_id);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, "Thing03", &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 1);
    cJSON_Delete(actives);

    /* ...and the compromised one is "normal": the alarm clears. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, &now), DD_PIPETEST_OK);
    report(f, 2, 3000, now);
    expect_alert(f, "alarm-cleared", 3000, now, "greater-than", violation_id);
    assert_int_equal(dd_pipetest_active_violations(&f->pt, "Thing03", &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 0);
    cJSON_Delete(actives);
    assert_int_equal(count_events(f, "in-alarm", violation_id), 1);
    assert_int_equal(count_events(f, "alarm-cleared", violation_id), 1);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_module4_intended_rule_isolates,
                                        setup_intended, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_module4_literal_rule_inverted, setup_literal,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
