/*
 * MQTT 5 devices (issue 14, item 8) with libmosquitto speaking MQTT 5
 * (MOSQ_OPT_PROTOCOL_VERSION = MQTT_PROTOCOL_V5) against `ddlocal up`:
 * - connect with a device certificate, subscribe, publish, receive;
 * - a Device Defender report and its /accepted reply;
 * - a denied subscribe (SUBACK 0x87) and publish (PUBACK 0x87, then the kick-on-deny
 *   disconnect, DISCONNECT 0x98 administrative action);
 * - isolation: the thing added to IsolatedDevices (DenyAll) is disconnected (0x98) and its
 *   reconnect is refused with CONNACK 0x87 not authorized; released, it connects again.
 * The same with mosquitto's clients: test_mqtt5_cli.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_pipetest.h"

#define WAIT_MS 20000
#define THING "Dev5"
#define REPORT_TOPIC "$aws/things/" THING "/defender/metrics/json"
#define DATA_TOPIC "temperature-device-5"

/* MQTT 5 reason codes (OASIS MQTT 5.0, 2.4). */
#define RC_NO_MATCHING_SUBSCRIBERS 0x10
#define RC_NOT_AUTHORIZED 0x87
#define RC_ADMINISTRATIVE_ACTION 0x98

typedef struct fixture {
    dd_pipetest_t pt;
    char cert[600];
    char key[600];
    dd_pipetest_mqtt_t *device;
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = 0;

    if (f == NULL) {
        return 0;
    }
    dd_pipetest_mqtt_destroy(f->device);
    if (dd_pipetest_stop(&f->pt) != 0) {
        rc = -1;
    }
    free(f);
    return rc;
}

static int setup_pipeline(fixture_t *f)
{
    char policy[700];

    if (dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
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
        dd_pipetest_thing(&f->pt, THING, "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_new(&f->pt, THING, f->cert, f->key, true, &f->device) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_use_v5(f->device) != DD_PIPETEST_OK) {
        return -1;
    }
    {
        /* The registry changes made by the CLI reach the shim within ~100 ms: retried. */
        int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
        while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
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

static void set_group(fixture_t *f, const char *op)
{
    char path[128];

    (void)snprintf(path, sizeof(path), "/thing-groups/%s", op);
    assert_int_equal(
        dd_pipetest_api(&f->pt, "PUT", path,
                        "{\"thingGroupName\":\"IsolatedDevices\",\"thingName\":\"" THING "\"}",
                        NULL, NULL),
        DD_PIPETEST_OK);
}

static void test_mqtt5_publish_subscribe_and_report(void **state)
{
    fixture_t *f = *state;
    dd_pipetest_msg_t *m = NULL;
    cJSON *reply;
    int granted = -1;
    const char *report =
        "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
        "{\"bytes_in\":1,\"bytes_out\":2,\"packets_in\":1,\"packets_out\":1}}}";

    /* Publish and subscribe on what the policy allows. */
    assert_int_equal(dd_pipetest_mqtt_subscribe(f->device, DATA_TOPIC, 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, DATA_TOPIC, "hello v5", 8, 1, WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_puback_reason(f->device), 0);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->device, DATA_TOPIC, WAIT_MS, &m),
                     DD_PIPETEST_OK);
    assert_int_equal(m->len, 8);
    assert_memory_equal(m->payload, "hello v5", 8);
    dd_pipetest_msg_free(m);
    /* Nobody subscribed: mosquitto's MQTT 5 PUBACK says so (0x10), the message is accepted. */
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, "temperature-device-none", "x", 1, 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_puback_reason(f->device), RC_NO_MATCHING_SUBSCRIBERS);

    /* A Device Defender report and its reply. */
    assert_int_equal(dd_pipetest_mqtt_subscribe(f->device, REPORT_TOPIC "/+", 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, report, strlen(report), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->device, REPORT_TOPIC "/+", WAIT_MS, &m),
                     DD_PIPETEST_OK);
    assert_string_equal(m->topic, REPORT_TOPIC "/accepted");
    reply = dd_pipetest_reply_parse(m);
    assert_non_null(reply);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "status")), "ACCEPTED");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(reply, "reportId")), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "thingName")), THING);
    cJSON_Delete(reply);
    dd_pipetest_msg_free(m);
    f->pt.passed = true;
}

static void test_mqtt5_denials_have_reason_codes(void **state)
{
    fixture_t *f = *state;
    int granted = -1;

    /* A denied subscribe: SUBACK 0x87; the connection stays. */
    assert_int_equal(dd_pipetest_mqtt_subscribe(f->device, "not/allowed", 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, RC_NOT_AUTHORIZED);
    assert_true(dd_pipetest_mqtt_connected(f->device));
    /* A denied publish: PUBACK 0x87, then the kick-on-deny (DISCONNECT 0x98). */
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, "not/allowed", "x", 1, 1, WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_puback_reason(f->device), RC_NOT_AUTHORIZED);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    assert_int_equal(dd_pipetest_mqtt_disconnect_reason(f->device), RC_ADMINISTRATIVE_ACTION);
    /* Nothing holds it out: it connects again. */
    assert_int_equal(dd_pipetest_mqtt_connect(f->device, WAIT_MS), 0);
    f->pt.passed = true;
}

static void test_mqtt5_isolation_kick_and_refusal(void **state)
{
    fixture_t *f = *state;
    int64_t deadline;

    /* Into quarantine (in force before the API answers): disconnected with 0x98. */
    set_group(f, "addThingToThingGroup");
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    assert_int_equal(dd_pipetest_mqtt_disconnect_reason(f->device), RC_ADMINISTRATIVE_ACTION);
    /* Reconnecting is refused: CONNACK 0x87. */
    assert_int_equal(dd_pipetest_mqtt_connect(f->device, WAIT_MS), RC_NOT_AUTHORIZED);
    assert_false(dd_pipetest_mqtt_connected(f->device));
    /* Released: back in. */
    set_group(f, "removeThingFromThingGroup");
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("the released MQTT 5 device could not connect within %d ms", WAIT_MS);
        }
    }
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, DATA_TOPIC, "back", 4, 1, WAIT_MS),
                     DD_PIPETEST_OK);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mqtt5_publish_subscribe_and_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt5_denials_have_reason_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt5_isolation_kick_and_refusal, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
