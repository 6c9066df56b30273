/*
 * Issue 12: a Detect mitigation task with an UPDATE_DEVICE_CERTIFICATE action
 * deactivates the violating thing's certificate, and the broker acts on it at
 * once: the device's open connection is cut and its reconnect is refused.
 * The world is Module 4's: Thing03 (SensorDevice03) with its own certificate
 * and the literal profile (greater-than 200 bytes out), so a quiet report
 * raises a violation; a second thing with its own certificate stays untouched.
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
#include "dd_pki.h"

#define PROFILE "DetectSendingMoreThanAverageBytes"
#define REPORT_TOPIC "$aws/things/Thing03/defender/metrics/json"
#define WAIT_MS 10000

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *device; /* SensorDevice03 with Thing03's certificate */
    dd_pipetest_mqtt_t *other;  /* Thing04 with its own certificate */
    char cert[600];
    char key[600];
    char other_cert[600];
    char other_key[600];
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;

    if (f == NULL) {
        return 0;
    }
    dd_pipetest_mqtt_destroy(f->device);
    dd_pipetest_mqtt_destroy(f->other);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* CLI registry changes reach the shim within ~100 ms: connecting is retried until accepted. */
static int connect_retry(dd_pipetest_t *pt, const char *client, const char *cert, const char *key,
                         dd_pipetest_mqtt_t **out)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    if (dd_pipetest_mqtt_new(pt, client, cert, key, true, out) != DD_PIPETEST_OK) {
        return -1;
    }
    while (dd_pipetest_mqtt_connect(*out, WAIT_MS) != 0) {
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

    *state = f;
    if (f == NULL || dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        goto fail;
    }
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_thing(&f->pt, "Thing03", "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_thing(&f->pt, "Thing04", "DevicePolicy", f->other_cert, f->other_key) !=
            DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, PROFILE, "profiles/module4-literal.json") != DD_PIPETEST_OK ||
        connect_retry(&f->pt, "SensorDevice03", f->cert, f->key, &f->device) != 0 ||
        connect_retry(&f->pt, "SensorDevice04", f->other_cert, f->other_key, &f->other) != 0) {
        goto fail;
    }
    return 0;
fail:
    (void)teardown(state);
    *state = NULL;
    return -1;
}

static void api_ok(fixture_t *f, const char *method, const char *path, const char *body,
                   cJSON **out)
{
    long status = 0;

    assert_int_equal(dd_pipetest_api(&f->pt, method, path, body, &status, out), DD_PIPETEST_OK);
    assert_int_equal(status, 200);
}

/* Waits (with a deadline) for Thing03's active violation and returns its id. */
static void wait_violation(fixture_t *f, char id[64])
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    for (;;) {
        cJSON *actives = NULL;
        const cJSON *first;
        assert_int_equal(dd_pipetest_active_violations(&f->pt, "Thing03", &actives),
                         DD_PIPETEST_OK);
        first = cJSON_GetArrayItem(actives, 0);
        if (first != NULL) {
            (void)snprintf(id, 64, "%s",
                           cJSON_GetStringValue(
                               cJSON_GetObjectItemCaseSensitive(first, "violationId")));
            cJSON_Delete(actives);
            return;
        }
        cJSON_Delete(actives);
        assert_true(dd_clock_mono_ms() < deadline);
    }
}

static const char *cert_status(fixture_t *f, const char *cert_file, char *buf, size_t len)
{
    char id[DD_PKI_CERT_ID_LEN + 1];
    char path[128];
    cJSON *out = NULL;
    const cJSON *desc;

    assert_int_equal(dd_pki_cert_id_from_file(cert_file, id), DD_PKI_OK);
    (void)snprintf(path, sizeof(path), "/certificates/%s", id);
    api_ok(f, "GET", path, NULL, &out);
    desc = cJSON_GetObjectItemCaseSensitive(out, "certificateDescription");
    (void)snprintf(buf, len, "%s",
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(desc, "status")));
    cJSON_Delete(out);
    return buf;
}

static void test_detect_task_deactivates_certificate(void **state)
{
    fixture_t *f = *state;
    const char *report = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{"
                         "\"network_stats\":{\"bytes_in\":150,\"bytes_out\":150,"
                         "\"packets_in\":2,\"packets_out\":3}}}";
    char violation[64];
    char body[512];
    char status[32];
    cJSON *out = NULL;
    const cJSON *s;

    /* A quiet report is a violation of the literal profile. */
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, report, strlen(report), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    wait_violation(f, violation);
    assert_string_equal(cert_status(f, f->cert, status, sizeof(status)), "ACTIVE");

    api_ok(f, "POST", "/mitigationactions/actions/DeactivateCert",
           "{\"roleArn\":\"arn:aws:iam::123456789012:role/mitigation\",\"actionParams\":"
           "{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"}}}",
           NULL);
    (void)snprintf(body, sizeof(body),
                   "{\"target\":{\"violationIds\":[\"%s\"]},\"actions\":[\"DeactivateCert\"],"
                   "\"clientRequestToken\":\"tok-1\"}",
                   violation);
    api_ok(f, "PUT", "/detect/mitigationactions/tasks/deactivate-1", body, NULL);

    /* The task answered after the change reached the broker: no waiting for it. */
    api_ok(f, "GET", "/detect/mitigationactions/tasks/deactivate-1", NULL, &out);
    s = cJSON_GetObjectItemCaseSensitive(out, "taskSummary");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "taskStatus")),
                        "SUCCESSFUL");
    cJSON_Delete(out);
    assert_string_equal(cert_status(f, f->cert, status, sizeof(status)), "INACTIVE");
    assert_string_equal(cert_status(f, f->other_cert, status, sizeof(status)), "ACTIVE");

    /* The open connection is revoked and cut at the shim's next tick; a reconnect is refused
     * (CONNACK 5, not authorised). The other device stays connected. */
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));
    assert_int_equal(dd_pipetest_mqtt_connect(f->device, WAIT_MS), 5);
    assert_true(dd_pipetest_mqtt_connected(f->other));
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detect_task_deactivates_certificate, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
