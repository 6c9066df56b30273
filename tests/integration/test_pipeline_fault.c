/*
 * Issue 14 item 5 against `ddlocal up` (manual clock): injected faults, each
 * observed where a device or a backend would see it.
 *
 * - throttle: the device gets Throttled on /rejected (count 1: the next
 *   report is accepted again; without a count: until `ddlocal fault clear`);
 * - no-reply: the report is accepted but the next reply the device gets is
 *   the one of its next report; delay-reply: replies come out of order, the
 *   late one at least delayMs after the publish, and a clock advance with a
 *   late reply pending still counts the report (the barrier);
 * - drop-delivery: an in-alarm violation without an SNS stand-in message, the
 *   event log says dropped; delay-delivery: the SNS message comes after the
 *   report's reply instead of before it;
 * - fail-mitigation: ListDetectMitigationActionsExecutions shows FAILED with
 *   the fault's errorCode and the thing stays out of the group;
 * - disconnect: the device's connection is closed by the broker, it may
 *   reconnect at once;
 * - the endpoint's refusals, the CLI, and a full reset clearing the faults.
 *
 * The pipeline is shared by the tests (group setup); each test clears its faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_apiclient.h"
#include "dd_clock.h"
#include "dd_pipetest.h"

#define PROFILE "DetectSendingMoreThanAverageBytes"
#define THING "Thing03"
#define SNS_TOPIC "ddlocal/sns/BadIoTDevices"
#define REPORT_TOPIC "$aws/things/" THING "/defender/metrics/json"
#define WAIT_MS 10000
/* Bytes out of a normal report: many of them in one 300-s window stay under the profile's 200. */
#define NORMAL 1

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *device; /* Thing03, subscribed to its replies */
    dd_pipetest_mqtt_t *watch;  /* service identity: the SNS stand-in and Thing03's replies */
    char cert[600];
    char key[600];
    int rid;            /* last report id sent */
    uint64_t event_seq; /* events read so far */
} fixture_t;

static int group_teardown(void **state)
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
    int granted = -1;

    /* CLI registry changes reach the shim within ~100 ms: retry until known. */
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            return -1;
        }
    }
    if (dd_pipetest_mqtt_subscribe(f->device, REPORT_TOPIC "/+", 1, WAIT_MS, &granted) !=
            DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
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
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "group", "create", "IsolatedDevices", NULL) != 0 ||
        dd_pipetest_thing(&f->pt, THING, "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, PROFILE, "profiles/module4-intended.json") != DD_PIPETEST_OK) {
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
    if (dd_pipetest_mqtt_new(&f->pt, "SensorDevice03", f->cert, f->key, true, &f->device) !=
        DD_PIPETEST_OK) {
        return -1;
    }
    return connect_device(f);
}

static int group_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    *state = f;
    if (f == NULL || setup_pipeline(f) != 0) {
        (void)group_teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

/* Every test starts without faults, with empty MQTT queues, in a new 300-s window. */
static int setup(void **state)
{
    fixture_t *f = *state;
    dd_pipetest_msg_t *m = NULL;

    if (dd_pipetest_api(&f->pt, "DELETE", "/ddlocal/v1/faults", NULL, NULL, NULL) !=
            DD_PIPETEST_OK ||
        dd_pipetest_clock_advance(&f->pt, 300, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    (void)dd_pipetest_mqtt_take(f->device, 0, &m);
    dd_pipetest_msg_free(m);
    m = NULL;
    (void)dd_pipetest_mqtt_take(f->watch, 0, &m);
    dd_pipetest_msg_free(m);
    f->pt.passed = false; /* set again by a test that passes: the logs show otherwise */
    return 0;
}

/* POST /ddlocal/v1/faults; returns the new fault's id. */
static int add_fault(fixture_t *f, const char *body)
{
    cJSON *out = NULL;
    const cJSON *id;
    int n;

    assert_int_equal(dd_pipetest_api(&f->pt, "POST", "/ddlocal/v1/faults", body, NULL, &out),
                     DD_PIPETEST_OK);
    id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "fault"), "id");
    assert_true(cJSON_IsNumber(id));
    n = id->valueint;
    cJSON_Delete(out);
    return n;
}

/* The device publishes a report with @p bytes_out (QoS 1: returns after the PUBACK). */
static int send_report(fixture_t *f, int bytes_out)
{
    char body[256];

    f->rid++;
    (void)snprintf(
        body, sizeof(body),
        "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
        "{\"bytes_in\":%d,\"bytes_out\":%d,\"packets_in\":2,\"packets_out\":3}}}",
        f->rid, bytes_out, bytes_out);
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, body, strlen(body), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    return f->rid;
}

/*
 * Takes @p c's next reply and checks it answers @p rid (not an earlier report: no session of
 * this test is resumed, so there are no redeliveries) with @p status ("ACCEPTED",
 * "REJECTED"); returns its ErrorCode (static) or "".
 */
static const char *expect_reply(dd_pipetest_mqtt_t *c, int rid, const char *status)
{
    static char code[64];
    dd_pipetest_msg_t *m = NULL;
    cJSON *reply = NULL;
    const cJSON *id;
    const char *ec;

    assert_int_equal(dd_pipetest_mqtt_wait_message(c, REPORT_TOPIC "/+", WAIT_MS, &m),
                     DD_PIPETEST_OK);
    reply = dd_pipetest_reply_parse(m);
    assert_non_null(reply);
    id = cJSON_GetObjectItemCaseSensitive(reply, "reportId");
    assert_true(cJSON_IsNumber(id));
    if (id->valueint != rid) {
        fail_msg("the next reply is for report %d, expected %d: %s", id->valueint, rid,
                 (const char *)m->payload);
    }
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "status")),
                        status);
    assert_string_equal(m->topic, strcmp(status, "ACCEPTED") == 0 ? REPORT_TOPIC "/accepted"
                                                                  : REPORT_TOPIC "/rejected");
    ec = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reply, "statusDetails"),
                                         "ErrorCode"));
    (void)snprintf(code, sizeof(code), "%s", ec != NULL ? ec : "");
    cJSON_Delete(reply);
    dd_pipetest_msg_free(m);
    return code;
}

/* Waits for a "fault" event of @p kind with @p outcome; returns its faultId. */
static int expect_fault_event(fixture_t *f, const char *kind, const char *outcome)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    while (dd_clock_mono_ms() < deadline) {
        char path[160];
        cJSON *out = NULL;
        const cJSON *e;
        const cJSON *last;
        int found = -1;

        (void)snprintf(path, sizeof(path), "/ddlocal/v1/events?type=fault&after=%llu&timeout=2000",
                       (unsigned long long)f->event_seq);
        assert_int_equal(dd_pipetest_api(&f->pt, "GET", path, NULL, NULL, &out), DD_PIPETEST_OK);
        last = cJSON_GetObjectItemCaseSensitive(out, "lastSeq");
        cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive(out, "events")) {
            const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
            const char *o = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "outcome"));
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
            if (found < 0 && k != NULL && o != NULL && strcmp(k, kind) == 0 &&
                strcmp(o, outcome) == 0) {
                assert_string_equal(cJSON_GetStringValue(
                                        cJSON_GetObjectItemCaseSensitive(e, "thing")),
                                    THING);
                found = cJSON_GetObjectItemCaseSensitive(e, "faultId")->valueint;
                if (cJSON_IsNumber(seq)) {
                    f->event_seq = (uint64_t)seq->valuedouble;
                }
            }
        }
        if (found < 0 && cJSON_IsNumber(last)) {
            f->event_seq = (uint64_t)last->valuedouble;
        }
        cJSON_Delete(out);
        if (found >= 0) {
            return found;
        }
    }
    fail_msg("no fault event %s/%s", kind, outcome);
    return -1;
}

static double status_number(fixture_t *f, const char *member)
{
    double v = -1;

    assert_int_equal(dd_pipetest_status_number(&f->pt, member, &v), DD_PIPETEST_OK);
    return v;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_pipeline_fault_throttle(void **state)
{
    fixture_t *f = *state;
    char *out = NULL;
    int id;
    int rid;

    /* count 1: one report is Throttled, the next is accepted. */
    id = add_fault(f, "{\"kind\":\"throttle\",\"thing\":\"" THING "\",\"count\":1}");
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "REJECTED"), "Throttled");
    assert_int_equal(expect_fault_event(f, "throttle", "throttled"), id);
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "wait", "fault", "--kind", "throttle", "--thing",
                                     THING, "--timeout", "10", NULL),
                     0);
    assert_non_null(strstr(out, "\"outcome\":\"throttled\""));
    free(out);
    out = NULL;
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "ACCEPTED"), "");

    /* Without a count, through the CLI: every report until `ddlocal fault clear`. */
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "fault", "add", "throttle", "--thing", THING,
                                     NULL),
                     0);
    assert_non_null(strstr(out, "\"kind\":\t\"throttle\""));
    free(out);
    out = NULL;
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "REJECTED"), "Throttled");
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "REJECTED"), "Throttled");
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "fault", "list", NULL), 0);
    assert_non_null(strstr(out, "\"fired\":\t2"));
    free(out);
    out = NULL;
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "fault", "clear", "--thing", THING, NULL), 0);
    assert_non_null(strstr(out, "\"cleared\":\t1"));
    free(out);
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "ACCEPTED"), "");
    f->pt.passed = true;
}

static void test_pipeline_fault_no_reply_and_late_reply(void **state)
{
    fixture_t *f = *state;
    double accepted;
    int64_t t0;
    int late;
    int rid;

    /* no-reply: accepted and stored, never answered - the next reply is the next report's. */
    accepted = status_number(f, "reportsAccepted");
    (void)add_fault(f, "{\"kind\":\"no-reply\",\"thing\":\"" THING "\",\"count\":1}");
    (void)send_report(f, NORMAL);
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "ACCEPTED"), "");
    assert_true(status_number(f, "reportsAccepted") == accepted + 2);
    (void)expect_fault_event(f, "no-reply", "no-reply");

    /* delay-reply: the delayed reply comes after the next report's, at least delayMs late. */
    (void)add_fault(f, "{\"kind\":\"delay-reply\",\"thing\":\"" THING
                       "\",\"count\":1,\"delayMs\":1500}");
    t0 = dd_clock_mono_ms();
    late = send_report(f, NORMAL);
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "ACCEPTED"), "");
    assert_string_equal(expect_reply(f->device, late, "ACCEPTED"), "");
    assert_true(dd_clock_mono_ms() - t0 >= 1500);
    (void)expect_fault_event(f, "delay-reply", "delayed");

    /* A reply held back does not hold the clock: the advance still counts the report first. */
    (void)add_fault(f, "{\"kind\":\"delay-reply\",\"thing\":\"" THING "\",\"delayMs\":8000}");
    accepted = status_number(f, "reportsAccepted");
    late = send_report(f, NORMAL);
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
    assert_true(status_number(f, "reportsAccepted") == accepted + 1);
    assert_int_equal(dd_pipetest_mqtt_queued(f->device, REPORT_TOPIC "/+"), 0);
    assert_int_equal(dd_pipetest_api(&f->pt, "DELETE", "/ddlocal/v1/faults", NULL, NULL, NULL),
                     DD_PIPETEST_OK);
    assert_string_equal(expect_reply(f->device, late, "ACCEPTED"), "");
    f->pt.passed = true;
}

static void test_pipeline_fault_deliveries(void **state)
{
    fixture_t *f = *state;
    dd_pipetest_msg_t *m = NULL;
    cJSON *alert;
    cJSON *actives = NULL;
    int rid;

    /* drop-delivery: in alarm, but no SNS message; the event log says dropped. The alert would
     * leave before the reply, so the watcher's reply is the barrier. */
    (void)add_fault(f, "{\"kind\":\"drop-delivery\",\"thing\":\"" THING "\",\"count\":1}");
    rid = send_report(f, 3000);
    assert_string_equal(expect_reply(f->watch, rid, "ACCEPTED"), "");
    assert_int_equal(dd_pipetest_mqtt_queued(f->watch, SNS_TOPIC), 0);
    (void)expect_fault_event(f, "drop-delivery", "dropped");
    assert_int_equal(dd_pipetest_active_violations(&f->pt, THING, &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 1);
    cJSON_Delete(actives);

    /* Its count is spent: the alarm-cleared alert is delivered, before its reply. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
    rid = send_report(f, NORMAL);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, SNS_TOPIC, WAIT_MS, &m),
                     DD_PIPETEST_OK);
    alert = dd_pipetest_sns_alert(m, NULL);
    assert_non_null(alert);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "violationEventType")),
                        "alarm-cleared");
    cJSON_Delete(alert);
    dd_pipetest_msg_free(m);
    m = NULL;
    assert_string_equal(expect_reply(f->watch, rid, "ACCEPTED"), "");

    /* delay-delivery: the in-alarm alert comes after the reply instead of before it. */
    (void)add_fault(f, "{\"kind\":\"delay-delivery\",\"delayMs\":1000}");
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
    rid = send_report(f, 3000);
    assert_true(dd_pipetest_mqtt_take(f->watch, WAIT_MS, &m) >= 1);
    assert_string_equal(m->topic, REPORT_TOPIC "/accepted"); /* the first to arrive */
    if (m->next == NULL) {
        dd_pipetest_msg_free(m);
        m = NULL;
        assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, SNS_TOPIC, WAIT_MS, &m),
                         DD_PIPETEST_OK);
    } else { /* this thread was slow: both are in already, in that order */
        dd_pipetest_msg_t *reply = m;
        m = m->next;
        reply->next = NULL;
        dd_pipetest_msg_free(reply);
        assert_string_equal(m->topic, SNS_TOPIC);
    }
    alert = dd_pipetest_sns_alert(m, NULL);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(alert, "violationEventType")),
                        "in-alarm");
    cJSON_Delete(alert);
    dd_pipetest_msg_free(m);
    (void)expect_fault_event(f, "delay-delivery", "delayed");
    f->pt.passed = true;
}

static void test_pipeline_fault_fail_mitigation(void **state)
{
    fixture_t *f = *state;
    cJSON *actives = NULL;
    cJSON *out = NULL;
    const cJSON *e;
    char body[400];
    const char *violation;

    /* Thing03 is in alarm since the previous test (or becomes so now). */
    (void)send_report(f, 3000);
    (void)expect_reply(f->device, f->rid, "ACCEPTED");
    assert_int_equal(dd_pipetest_active_violations(&f->pt, THING, &actives), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(actives), 1);
    violation = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(actives, 0), "violationId"));
    assert_non_null(violation);
    assert_int_equal(dd_pipetest_api(&f->pt, "POST", "/mitigationactions/actions/Quarantine",
                                     "{\"roleArn\":\"arn:aws:iam::123456789012:role/r\","
                                     "\"actionParams\":{\"addThingsToThingGroupParams\":"
                                     "{\"thingGroupNames\":[\"IsolatedDevices\"]}}}",
                                     NULL, NULL),
                     DD_PIPETEST_OK);
    (void)add_fault(f, "{\"kind\":\"fail-mitigation\",\"thing\":\"" THING
                       "\",\"actionName\":\"Quarantine\",\"errorCode\":\"GroupGone\","
                       "\"message\":\"injected\"}");
    (void)snprintf(body, sizeof(body),
                   "{\"target\":{\"violationIds\":[\"%s\"]},\"actions\":[\"Quarantine\"],"
                   "\"clientRequestToken\":\"tok1\"}",
                   violation);
    cJSON_Delete(actives);
    assert_int_equal(dd_pipetest_api(&f->pt, "PUT", "/detect/mitigationactions/tasks/fault1", body,
                                     NULL, NULL),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_api(&f->pt, "GET",
                                     "/detect/mitigationactions/executions?taskId=fault1", NULL,
                                     NULL, &out),
                     DD_PIPETEST_OK);
    e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "actionsExecutions"), 0);
    assert_non_null(e);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "status")),
                        "FAILED");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "errorCode")),
                        "GroupGone");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message")),
                        "injected");
    cJSON_Delete(out);
    out = NULL;
    (void)expect_fault_event(f, "fail-mitigation", "failed");
    /* The action did not run: the thing is in no group. */
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/things/" THING "/thing-groups", NULL, NULL,
                                     &out),
                     DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "thingGroups")), 0);
    cJSON_Delete(out);
    f->pt.passed = true;
}

static void test_pipeline_fault_disconnect(void **state)
{
    fixture_t *f = *state;
    int rid;

    (void)add_fault(f, "{\"kind\":\"disconnect\",\"thing\":\"" THING "\",\"count\":1}");
    (void)send_report(f, NORMAL);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    (void)expect_fault_event(f, "disconnect", "disconnected");
    /* It may come back at once; the dropped report was never answered. */
    assert_int_equal(connect_device(f), 0);
    rid = send_report(f, NORMAL);
    assert_string_equal(expect_reply(f->device, rid, "ACCEPTED"), "");
    f->pt.passed = true;
}

static void expect_refused(fixture_t *f, const char *method, const char *path, const char *body,
                           long want, const char *needle)
{
    long status = 0;
    char *text = NULL;
    cJSON *out;
    const char *msg;

    assert_int_equal(dd_apiclient_request(f->pt.api, method, path, body, &status, &text),
                     DD_APICLIENT_OK);
    assert_int_equal(status, want);
    out = cJSON_Parse(text);
    msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "message"));
    if (msg == NULL || strstr(msg, needle) == NULL) {
        fail_msg("%s %s: message \"%s\" does not say \"%s\"", method, path, text, needle);
    }
    cJSON_Delete(out);
    free(text);
}

static void test_pipeline_fault_refusals_and_reset(void **state)
{
    fixture_t *f = *state;
    cJSON *out = NULL;
    char *text = NULL;
    int id;

    expect_refused(f, "POST", "/ddlocal/v1/faults", "{\"kind\":\"explode\"}", 400,
                   "throttle, delay-reply");
    expect_refused(f, "POST", "/ddlocal/v1/faults", "{\"kind\":\"delay-reply\"}", 400,
                   "needs \"delayMs\"");
    expect_refused(f, "DELETE", "/ddlocal/v1/faults/999", NULL, 404, "No fault 999");
    expect_refused(f, "DELETE", "/ddlocal/v1/faults?kind=explode", NULL, 400, "kind must be");
    expect_refused(f, "PUT", "/ddlocal/v1/faults", NULL, 405, "GET (list)");
    assert_int_equal(dd_pipetest_cli(&f->pt, &text, "fault", "add", "explode", NULL), 1);
    assert_non_null(strstr(text, "throttle, delay-reply"));
    free(text);
    text = NULL;

    /* Expiry in pipeline time: gone after an advance past it. */
    id = add_fault(f, "{\"kind\":\"no-reply\",\"expiresInSeconds\":60}");
    (void)add_fault(f, "{\"kind\":\"throttle\"}");
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/faults", NULL, NULL, &out),
                     DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "faults")), 2);
    cJSON_Delete(out);
    out = NULL;
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 60, NULL), DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/faults", NULL, NULL, &out),
                     DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "faults")), 1);
    assert_int_not_equal(cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "faults"), 0),
                             "id")
                             ->valueint,
                         id);
    cJSON_Delete(out);
    out = NULL;

    /* A full reset clears them (a reset of some kinds does not). */
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "reset", "--kinds", "violations", NULL), 0);
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/faults", NULL, NULL, &out),
                     DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "faults")), 1);
    cJSON_Delete(out);
    out = NULL;
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "reset", NULL), 0);
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/faults", NULL, NULL, &out),
                     DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "faults")), 0);
    cJSON_Delete(out);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pipeline_fault_throttle, setup),
        cmocka_unit_test_setup(test_pipeline_fault_no_reply_and_late_reply, setup),
        cmocka_unit_test_setup(test_pipeline_fault_deliveries, setup),
        cmocka_unit_test_setup(test_pipeline_fault_fail_mitigation, setup),
        cmocka_unit_test_setup(test_pipeline_fault_disconnect, setup),
        /* Last: the full reset empties the registry. */
        cmocka_unit_test_setup(test_pipeline_fault_refusals_and_reset, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
