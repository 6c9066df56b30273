/*
 * Issue 12: the broker enforces a policy's DEFAULT version, and a new default
 * is in force when the API call answers. A device allowed by version 1 of its
 * policy publishes; CreatePolicyVersion with setAsDefault makes version 2
 * (which denies that topic) the default and the very next publish is denied;
 * SetDefaultPolicyVersion back to 1 allows it again, at once. No retry loop
 * around the checks: "at once" is what is tested.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_pipetest.h"

#define THING "Thing01"
#define TOPIC "sensors/thing01"
#define MARKER "sensors/marker"
#define WAIT_MS 10000

/* Version 2: everything but publishing on TOPIC (an explicit Deny wins). */
#define DENY_TOPIC_DOC                                                \
    "{\"Version\":\"2012-10-17\",\"Statement\":["                     \
    "{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}," \
    "{\"Effect\":\"Deny\",\"Action\":\"iot:Publish\","                \
    "\"Resource\":\"arn:aws:iot:us-east-1:123456789012:topic/" TOPIC "\"}]}"

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *watch; /* service identity, subscribed to sensors/# */
    dd_pipetest_mqtt_t *device;
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

/* A fresh device connection; CLI registry changes reach the shim within ~100 ms, so retry. */
static int connect_device(fixture_t *f)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    dd_pipetest_mqtt_destroy(f->device);
    f->device = NULL;
    if (dd_pipetest_mqtt_new(&f->pt, THING, f->cert, f->key, true, &f->device) != DD_PIPETEST_OK) {
        return -1;
    }
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            return -1;
        }
    }
    return 0;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char policy[700];
    int granted = -1;

    *state = f;
    if (f == NULL || dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        goto fail;
    }
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_thing(&f->pt, THING, "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-watch", NULL, NULL, true, &f->watch) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->watch, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(f->watch, "sensors/#", 1, WAIT_MS, &granted) != DD_PIPETEST_OK ||
        granted != 1 || connect_device(f) != 0) {
        goto fail;
    }
    return 0;
fail:
    (void)teardown(state);
    *state = NULL;
    return -1;
}

/*
 * Publishes @p payload on TOPIC from the device, then a marker from the
 * service, and returns whether the payload reached the watcher before the
 * marker: the marker makes "denied" certain without sleeping.
 */
static bool reaches(fixture_t *f, const char *payload)
{
    dd_pipetest_status_t st;
    bool seen = false;

    st = dd_pipetest_mqtt_publish(f->device, TOPIC, payload, strlen(payload), 1, WAIT_MS);
    /* A PUBACK (3.1.1 acknowledges denied messages too) or the kick: decided either way. */
    assert_true(st == DD_PIPETEST_OK || st == DD_PIPETEST_DISCONNECTED);
    assert_int_equal(dd_pipetest_mqtt_publish(f->watch, MARKER, payload, strlen(payload), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    for (;;) {
        dd_pipetest_msg_t *m = NULL;
        bool marker;

        assert_int_equal(dd_pipetest_mqtt_wait_message(f->watch, "sensors/#", WAIT_MS, &m),
                         DD_PIPETEST_OK);
        marker = strcmp(m->topic, MARKER) == 0 && strcmp((const char *)m->payload, payload) == 0;
        if (strcmp(m->topic, TOPIC) == 0 && strcmp((const char *)m->payload, payload) == 0) {
            seen = true;
        }
        dd_pipetest_msg_free(m);
        if (marker) {
            return seen;
        }
    }
}

static void api_ok(fixture_t *f, const char *method, const char *path, const char *body,
                   cJSON **out)
{
    long status = 0;

    assert_int_equal(dd_pipetest_api(&f->pt, method, path, body, &status, out), DD_PIPETEST_OK);
    assert_int_equal(status, 200);
}

static void test_policy_versions_default_is_enforced_at_once(void **state)
{
    fixture_t *f = *state;
    cJSON *body = cJSON_CreateObject();
    cJSON *out = NULL;
    char *text;

    assert_true(reaches(f, "v1-allowed"));

    /* A version that is not the default changes nothing. */
    assert_non_null(cJSON_AddStringToObject(body, "policyDocument", DENY_TOPIC_DOC));
    text = cJSON_PrintUnformatted(body);
    api_ok(f, "POST", "/policies/DevicePolicy/version", text, &out);
    assert_string_equal(cJSON_GetObjectItem(out, "policyVersionId")->valuestring, "2");
    cJSON_Delete(out);
    assert_true(reaches(f, "v2-not-default"));
    assert_true(dd_pipetest_mqtt_connected(f->device));

    /* Version 3 (same document) as the default: denied on the very next publish. */
    api_ok(f, "POST", "/policies/DevicePolicy/version?setAsDefault=true", text, &out);
    assert_string_equal(cJSON_GetObjectItem(out, "policyVersionId")->valuestring, "3");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "isDefaultVersion")));
    cJSON_Delete(out);
    assert_false(reaches(f, "v3-denied"));
    /* The broker kicks on a denied publish (plugin_opt_kick_on_deny). */
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));

    /* Version 1 again: allowed at once. */
    api_ok(f, "PATCH", "/policies/DevicePolicy/version/1", NULL, NULL);
    assert_int_equal(connect_device(f), 0);
    assert_true(reaches(f, "v1-again"));
    api_ok(f, "GET", "/policies/DevicePolicy", NULL, &out);
    assert_string_equal(cJSON_GetObjectItem(out, "defaultVersionId")->valuestring, "1");
    cJSON_Delete(out);

    /* And back to 3 with the device connected: the live connection is judged anew. */
    api_ok(f, "PATCH", "/policies/DevicePolicy/version/3", NULL, NULL);
    assert_false(reaches(f, "v3-again-denied"));
    cJSON_free(text);
    cJSON_Delete(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_versions_default_is_enforced_at_once, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
