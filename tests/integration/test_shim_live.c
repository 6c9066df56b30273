/*
 * Live registry changes on a real mosquitto with the shim (issue 2): a
 * runtime deny (the thing put in a group with a deny-all policy) takes effect
 * on the next publish and kicks the client, whose reconnects are refused; a
 * policy attached at runtime denies publishes from the next packet; a
 * certificate set INACTIVE kicks its connected client; a malformed policy
 * document is refused with a message naming the problem and the broker keeps
 * the previous policy set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_control.h"
#include "dd_testenv.h"

#define T_MS 15000
#define CONNACK_NOT_AUTHORISED 5

#define DOC_DENY_SECRET                                                                           \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"iot:Publish\"," \
    "\"Resource\":\"arn:aws:iot:us-east-1:123456789012:topic/secret/*\"}]}"

static dd_testenv_t g_env;
static dd_testenv_creds_t g_t01;
static dd_testenv_creds_t g_t02;
static dd_testenv_creds_t g_t03;
static dd_testenv_creds_t g_t04;

#define TRY(x)                                         \
    do {                                               \
        if ((x) != DD_TESTENV_OK) {                    \
            fprintf(stderr, "setup: %s failed\n", #x); \
            return 1;                                  \
        }                                              \
    } while (0)

static void check(dd_testenv_status_t st, const char *what)
{
    if (st != DD_TESTENV_OK) {
        print_error("%s: %s\n", what, dd_testenv_strerror(st));
        fail();
    }
}

static dd_testenv_mqtt_t *client(const char *id, const dd_testenv_creds_t *c)
{
    dd_testenv_mqtt_t *m = NULL;
    int rc;

    check(dd_testenv_mqtt_new(&g_env, id, c, true, &m), "mqtt_new");
    rc = dd_testenv_mqtt_connect(m, T_MS);
    if (rc != 0) {
        print_error("%s: CONNACK %d\n", id, rc);
        fail();
    }
    return m;
}

static int attempt(const char *id, const dd_testenv_creds_t *c)
{
    dd_testenv_mqtt_t *m = NULL;
    int rc;

    check(dd_testenv_mqtt_new(&g_env, id, c, true, &m), "mqtt_new");
    rc = dd_testenv_mqtt_connect(m, T_MS);
    dd_testenv_mqtt_destroy(m);
    return rc;
}

static dd_testenv_mqtt_t *observer(const char *filter)
{
    dd_testenv_mqtt_t *o = client("ddlocal-observer", NULL);
    int granted = -1;

    check(dd_testenv_mqtt_subscribe(o, filter, 1, T_MS, &granted), "subscribe");
    assert_int_equal(granted, 1);
    return o;
}

/* Whether @p dev's QoS 1 message reaches @p obs before a marker the service sends after it. */
static bool reaches(dd_testenv_mqtt_t *dev, dd_testenv_mqtt_t *obs, const char *topic,
                    const char *payload, const char *marker_topic)
{
    dd_testenv_mqtt_t *svc = client("ddlocal-marker", NULL);
    size_t len = strlen(payload);
    bool seen = false;
    dd_testenv_status_t st;

    st = dd_testenv_mqtt_publish(dev, topic, payload, len, 1, T_MS);
    assert_true(st == DD_TESTENV_OK || st == DD_TESTENV_DISCONNECTED);
    check(dd_testenv_mqtt_publish(svc, marker_topic, "marker", 6, 1, T_MS), "marker");
    for (;;) {
        dd_testenv_msg_t *m = NULL;

        check(dd_testenv_mqtt_wait_message(obs, NULL, T_MS, &m), "observer message");
        if (strcmp(m->topic, marker_topic) == 0 && m->len == 6 &&
            memcmp(m->payload, "marker", 6) == 0) {
            dd_testenv_msg_free(m);
            break;
        }
        if (strcmp(m->topic, topic) == 0 && m->len == len &&
            memcmp(m->payload, payload, len) == 0) {
            seen = true;
        }
        dd_testenv_msg_free(m);
    }
    dd_testenv_mqtt_destroy(svc);
    return seen;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_shim_live_runtime_deny_kicks(void **state)
{
    dd_testenv_mqtt_t *obs = observer("live/#");
    dd_testenv_mqtt_t *dev = client("SensorDevice01", &g_t01);

    (void)state;
    assert_true(reaches(dev, obs, "live/t01", "before", "live/marker"));
    /* The isolator's move: Thing01 into IsolatedDevices (deny iot:* on *). The
     * helper returns once the shim has applied it. */
    check(dd_testenv_group_add(&g_env, "IsolatedDevices", "Thing01"), "isolate");
    /* Whether the next publish arrives before the kick or not, it is not delivered... */
    assert_false(reaches(dev, obs, "live/t01", "after", "live/marker"));
    /* ... and the client is disconnected, and refused when it comes back. */
    assert_true(dd_testenv_mqtt_wait_disconnect(dev, T_MS));
    dd_testenv_mqtt_destroy(dev);
    assert_int_equal(attempt("SensorDevice01", &g_t01), CONNACK_NOT_AUTHORISED);
    assert_int_equal(attempt("Thing01", &g_t01), CONNACK_NOT_AUTHORISED);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_DISCONNECT, "Thing01", NULL, -1,
                                              -1, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing01", NULL,
                                              DD_METERING_ACTION_CONNECT, DD_METERING_REASON_POLICY,
                                              2, T_MS),
                     2);
    /* Released: it may connect and publish again. */
    check(dd_testenv_group_remove(&g_env, "IsolatedDevices", "Thing01"), "release");
    dev = client("SensorDevice01", &g_t01);
    assert_true(reaches(dev, obs, "live/t01", "released", "live/marker"));
    dd_testenv_mqtt_destroy(dev);
    dd_testenv_mqtt_destroy(obs);
}

static void test_shim_live_policy_attached_at_runtime(void **state)
{
    dd_testenv_mqtt_t *obs = observer("secret/#");
    dd_testenv_mqtt_t *dev = client("Thing02", &g_t02);
    dd_registry_error_t err;
    char arn[256];

    (void)state;
    assert_true(reaches(dev, obs, "secret/a", "open", "secret/marker"));
    (void)snprintf(arn, sizeof(arn), "arn:aws:iot:us-east-1:123456789012:cert/%s", g_t02.id);
    assert_int_equal(dd_registry_policy_attach(&g_env.reg, "DenySecret", arn, &err),
                     DD_REGISTRY_OK);
    check(dd_testenv_sync(&g_env), "sync");
    /* The connection keeps its right to connect; the next publish there is denied. */
    assert_true(dd_testenv_mqtt_connected(dev));
    assert_false(reaches(dev, obs, "secret/a", "closed", "secret/marker"));
    /* Kick-on-deny: disconnected after the denied publish. */
    assert_true(dd_testenv_mqtt_wait_disconnect(dev, T_MS));
    dd_testenv_mqtt_destroy(dev);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing02",
                                              "secret/a", DD_METERING_ACTION_PUBLISH,
                                              DD_METERING_REASON_POLICY, 1, T_MS),
                     1);
    /* Other topics stay open. */
    dev = client("Thing02", &g_t02);
    {
        dd_testenv_mqtt_t *o2 = observer("open/#");

        assert_true(reaches(dev, o2, "open/a", "still", "open/marker"));
        dd_testenv_mqtt_destroy(o2);
    }
    dd_testenv_mqtt_destroy(dev);
    dd_testenv_mqtt_destroy(obs);
}

static void test_shim_live_cert_inactive_kicks(void **state)
{
    dd_testenv_mqtt_t *dev = client("Thing03", &g_t03);

    (void)state;
    check(dd_testenv_cert_status(&g_env, g_t03.id, DD_CERT_INACTIVE), "INACTIVE");
    assert_true(dd_testenv_mqtt_wait_disconnect(dev, T_MS));
    dd_testenv_mqtt_destroy(dev);
    assert_int_equal(attempt("Thing03", &g_t03), CONNACK_NOT_AUTHORISED);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing03", NULL,
                                              DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_CERT_NOT_ACTIVE, 1, T_MS),
                     1);
    /* Active again: welcome back. */
    check(dd_testenv_cert_status(&g_env, g_t03.id, DD_CERT_ACTIVE), "ACTIVE");
    dev = client("Thing03", &g_t03);
    /* Revoked (final, as on AWS): kicked and refused for good. */
    check(dd_testenv_cert_status(&g_env, g_t03.id, DD_CERT_REVOKED), "REVOKED");
    assert_true(dd_testenv_mqtt_wait_disconnect(dev, T_MS));
    dd_testenv_mqtt_destroy(dev);
    assert_int_equal(attempt("Thing03", &g_t03), CONNACK_NOT_AUTHORISED);
}

static cJSON *policy_entity(const char *name, const char *doc)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *state = cJSON_AddObjectToObject(e, "state");

    cJSON_AddStringToObject(e, "kind", "policy");
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddBoolToObject(state, "exists", true);
    cJSON_AddStringToObject(state, "document", doc);
    return e;
}

static void test_shim_live_malformed_policy_keeps_previous(void **state)
{
    static const struct {
        const char *doc;
        const char *error;
    } bad[] = {
        {"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Permit\",\"Action\":\"iot:*\","
         "\"Resource\":\"*\"}]}",
         "policy Bad: Statement[0].Effect must be \"Allow\" or \"Deny\""},
        {"{\"Version\":\"2012-10-17\",\"Statement\":[", "policy Bad: "},
        {"{\"Version\":\"2008-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\","
         "\"Resource\":\"*\"}]}",
         "policy Bad: "},
    };
    dd_testenv_mqtt_t *obs = observer("keep/#");
    dd_testenv_mqtt_t *dev = client("Thing04", &g_t04);
    char error[DD_CONTROL_ERROR_MAX];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *root = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(root, "entities");
        dd_testenv_status_t st;

        /* Replacing the allow-all policy by a deny-all one, and a broken policy:
         * all or nothing, so the allow-all policy stays. */
        cJSON_AddItemToArray(list,
                             policy_entity("AllowAll", "{\"Version\":\"2012-10-17\",\"Statement\":"
                                                       "{\"Effect\":\"Deny\",\"Action\":\"iot:*\","
                                                       "\"Resource\":\"*\"}}"));
        cJSON_AddItemToArray(list, policy_entity("Bad", bad[i].doc));
        st = dd_testenv_control(&g_env, DD_CONTROL_TOPIC_REGISTRY, root, error, sizeof(error));
        cJSON_Delete(root);
        assert_int_equal(st, DD_TESTENV_REFUSED);
        if (strncmp(error, bad[i].error, strlen(bad[i].error)) != 0) {
            print_error("case %zu: \"%s\"\n", i, error);
            fail();
        }
        assert_true(dd_testenv_mqtt_connected(dev));
        assert_true(reaches(dev, obs, "keep/t04", "still allowed", "keep/marker"));
    }
    /* Not even JSON: nothing to answer, nothing changes. */
    check(dd_testenv_mqtt_publish(g_env.service, DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":[", 13,
                                  1, T_MS),
          "garbage control");
    assert_true(reaches(dev, obs, "keep/t04", "still allowed 2", "keep/marker"));
    assert_int_equal(dd_testenv_log_count(&g_env, "policy Bad: Statement[0].Effect must be"), 1);
    assert_true(dd_testenv_broker_alive(&g_env));
    dd_testenv_mqtt_destroy(dev);
    dd_testenv_mqtt_destroy(obs);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int setup_env(void)
{
    TRY(dd_testenv_init(&g_env, NULL));
    TRY(dd_testenv_policy_fixture(&g_env, "AllowAll", "policies/device-policy-allow-all.json"));
    TRY(dd_testenv_policy_fixture(&g_env, "DenyAll", "policies/deny-all.json"));
    TRY(dd_testenv_policy(&g_env, "DenySecret", DOC_DENY_SECRET));
    TRY(dd_testenv_group(&g_env, "IsolatedDevices", NULL, "DenyAll"));
    TRY(dd_testenv_device(&g_env, "Thing01", "AllowAll", &g_t01));
    TRY(dd_testenv_device(&g_env, "Thing02", "AllowAll", &g_t02));
    TRY(dd_testenv_device(&g_env, "Thing03", "AllowAll", &g_t03));
    TRY(dd_testenv_device(&g_env, "Thing04", "AllowAll", &g_t04));
    TRY(dd_testenv_start(&g_env));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_live_runtime_deny_kicks),
        cmocka_unit_test(test_shim_live_policy_attached_at_runtime),
        cmocka_unit_test(test_shim_live_cert_inactive_kicks),
        cmocka_unit_test(test_shim_live_malformed_policy_keeps_previous),
    };
    int failures;

    if (setup_env() != 0) {
        (void)dd_testenv_stop(&g_env);
        return 1;
    }
    failures = cmocka_run_group_tests(tests, NULL, NULL);
    g_env.passed = failures == 0;
    if (dd_testenv_stop(&g_env) != 0) {
        failures++;
    }
    return failures;
}
