/*
 * The shim's identity rules on a real mosquitto (issue 2): an allowed
 * publish is delivered; unknown, foreign, INACTIVE and REVOKED certificates
 * and reserved client ids are refused at connect; ALPN x-amzn-mqtt-ca on the
 * 443-role listener; the workshop's SensorDevice03/Thing03 and shared
 * certificate cases with ddlocal's rule on, and SensorDevice03 again under
 * AWS's strict rule (plugin_opt_single_cert_identity false); the service
 * identity is exempt from device policies and metering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dd_testenv.h"

#define T_MS 15000
#define CONNACK_NOT_AUTHORISED 5

static dd_testenv_t g_env;          /* ddlocal's identity rule on */
static dd_testenv_t g_strict;       /* AWS's rule only */
static dd_testenv_creds_t g_t01;    /* Thing01, allow-all */
static dd_testenv_creds_t g_t02;    /* Thing02, allow-all */
static dd_testenv_creds_t g_t03;    /* Thing03's own certificate (the workshop agent's) */
static dd_testenv_creds_t g_shared; /* attached to Thing11, Thing12, Thing13 */
static dd_testenv_creds_t g_inactive;
static dd_testenv_creds_t g_revoked;
static dd_testenv_creds_t g_strict_t03;
static dd_testenv_creds_t g_observer;

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

/* A connected client; fails the test otherwise. */
static dd_testenv_mqtt_t *client(dd_testenv_t *env, const char *id, const dd_testenv_creds_t *c)
{
    dd_testenv_mqtt_t *m = NULL;
    int rc;

    check(dd_testenv_mqtt_new(env, id, c, true, &m), "mqtt_new");
    rc = dd_testenv_mqtt_connect(m, T_MS);
    if (rc != 0) {
        print_error("%s: CONNACK %d\n", id, rc);
        fail();
    }
    return m;
}

/* The CONNACK code a connection attempt gets (-1: no CONNACK at all). */
static int attempt(dd_testenv_t *env, const char *id, const dd_testenv_creds_t *c)
{
    dd_testenv_mqtt_t *m = NULL;
    int rc;

    check(dd_testenv_mqtt_new(env, id, c, true, &m), "mqtt_new");
    rc = dd_testenv_mqtt_connect(m, T_MS);
    dd_testenv_mqtt_destroy(m);
    return rc;
}

/* @p pub's QoS 1 message on @p topic reaches @p sub (already subscribed). */
static bool delivered(dd_testenv_mqtt_t *pub, dd_testenv_mqtt_t *sub, const char *topic,
                      const char *payload)
{
    dd_testenv_msg_t *m = NULL;
    bool ok;

    if (dd_testenv_mqtt_publish(pub, topic, payload, strlen(payload), 1, T_MS) != DD_TESTENV_OK) {
        return false;
    }
    if (dd_testenv_mqtt_wait_message(sub, topic, T_MS, &m) != DD_TESTENV_OK) {
        return false;
    }
    ok = m->len == strlen(payload) && memcmp(m->payload, payload, m->len) == 0;
    dd_testenv_msg_free(m);
    return ok;
}

static void subscribe(dd_testenv_mqtt_t *c, const char *filter)
{
    int granted = -1;

    check(dd_testenv_mqtt_subscribe(c, filter, 1, T_MS, &granted), "subscribe");
    assert_int_equal(granted, 1);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_shim_identity_allowed_publish_delivered(void **state)
{
    dd_testenv_mqtt_t *a = client(&g_env, "Thing01", &g_t01);
    dd_testenv_mqtt_t *b = client(&g_env, "Thing02", &g_t02);

    (void)state;
    subscribe(a, "telemetry/#");
    assert_true(delivered(b, a, "telemetry/room-1", "{\"t\":21.5}"));
    /* QoS 0 too. */
    check(dd_testenv_mqtt_publish(b, "telemetry/room-2", "x", 1, 0, T_MS), "publish");
    {
        dd_testenv_msg_t *m = NULL;

        check(dd_testenv_mqtt_wait_message(a, "telemetry/room-2", T_MS, &m), "wait");
        dd_testenv_msg_free(m);
    }
    dd_testenv_mqtt_destroy(a);
    dd_testenv_mqtt_destroy(b);
}

static void test_shim_identity_refused_certificates(void **state)
{
    dd_testenv_creds_t unknown;
    dd_testenv_creds_t foreign;
    dd_testenv_mqtt_t *ok;

    (void)state;
    check(dd_testenv_unregistered_cert(&g_env, false, &unknown), "unregistered cert");
    check(dd_testenv_unregistered_cert(&g_env, true, &foreign), "foreign cert");
    /* TLS accepts it (our CA), the shim does not know it. */
    assert_int_equal(attempt(&g_env, "Thing01", &unknown), CONNACK_NOT_AUTHORISED);
    /* Another CA: refused by the broker's TLS layer, no CONNACK at all. */
    assert_int_equal(attempt(&g_env, "Thing01", &foreign), -1);
    assert_int_equal(attempt(&g_env, "Thing07", &g_inactive), CONNACK_NOT_AUTHORISED);
    assert_int_equal(attempt(&g_env, "agent-8", &g_revoked), CONNACK_NOT_AUTHORISED);
    /* A device may not take a client id reserved for ddlocal's services. */
    assert_int_equal(attempt(&g_env, "ddlocald", &g_t01), CONNACK_NOT_AUTHORISED);
    assert_int_equal(attempt(&g_env, "ddlocal-isolator", &g_t01), CONNACK_NOT_AUTHORISED);
    /* The broker carries on. */
    assert_true(dd_testenv_broker_alive(&g_env));
    ok = client(&g_env, "Thing01", &g_t01);
    dd_testenv_mqtt_destroy(ok);

    /* Each refusal is metered against the thing it would have been, or the client id. */
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing01", NULL,
                                              DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_UNKNOWN_CERT, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing07", NULL,
                                              DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_CERT_NOT_ACTIVE, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing08", NULL,
                                              DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_CERT_NOT_ACTIVE, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing01", NULL,
                                              DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_RESERVED_CLIENT_ID, 2, T_MS),
                     2);
}

static void test_shim_identity_alpn_listener(void **state)
{
    dd_testenv_mqtt_t *sub = client(&g_env, "Thing02", &g_t02);
    dd_testenv_mqtt_t *agent = NULL;

    (void)state;
    subscribe(sub, "alpn/#");
    /* AWS SDK v2 agents dial the 443 role offering ALPN x-amzn-mqtt-ca. */
    check(dd_testenv_mqtt_new(&g_env, "Thing01", &g_t01, true, &agent), "mqtt_new");
    check(dd_testenv_mqtt_use_alpn(agent, &g_env, "x-amzn-mqtt-ca"), "alpn");
    assert_int_equal(dd_testenv_mqtt_connect(agent, T_MS), 0);
    assert_true(delivered(agent, sub, "alpn/hello", "via 443"));
    dd_testenv_mqtt_destroy(agent);
    /* The shim decides there exactly as on the 8883 role. */
    check(dd_testenv_mqtt_new(&g_env, "Thing07", &g_inactive, true, &agent), "mqtt_new");
    check(dd_testenv_mqtt_use_alpn(agent, &g_env, "x-amzn-mqtt-ca"), "alpn");
    assert_int_equal(dd_testenv_mqtt_connect(agent, T_MS), CONNACK_NOT_AUTHORISED);
    dd_testenv_mqtt_destroy(agent);
    dd_testenv_mqtt_destroy(sub);
}

/* Workshop case 1: the agent connects as SensorDevice03 with Thing03's own certificate. */
static void test_shim_identity_sensor_device03(void **state)
{
    dd_testenv_mqtt_t *agent = client(&g_env, "SensorDevice03", &g_t03);
    const dd_testenv_mrec_t *r;

    (void)state;
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_CONNECT, "Thing03",
                                              "SensorDevice03", -1, -1, 1, T_MS),
                     1);
    r = dd_testenv_metering_find(&g_env, DD_METERING_CONNECT, "Thing03");
    assert_non_null(r);
    assert_true(r->registered);
    assert_true(r->success);
    assert_string_equal(r->ip, "127.0.0.1");

    /* Isolating Thing03 stops the agent: kicked, and refused when it returns. */
    check(dd_testenv_group_add(&g_env, "IsolatedDevices", "Thing03"), "isolate");
    assert_true(dd_testenv_mqtt_wait_disconnect(agent, T_MS));
    dd_testenv_mqtt_destroy(agent);
    assert_int_equal(attempt(&g_env, "SensorDevice03", &g_t03), CONNACK_NOT_AUTHORISED);
    check(dd_testenv_group_remove(&g_env, "IsolatedDevices", "Thing03"), "release");
    agent = client(&g_env, "SensorDevice03", &g_t03);
    dd_testenv_mqtt_destroy(agent);
}

/* Workshop case 2: one certificate shared by three things. */
static void test_shim_identity_shared_certificate(void **state)
{
    dd_testenv_mqtt_t *as_thing = client(&g_env, "Thing12", &g_shared);
    dd_testenv_mqtt_t *agent = client(&g_env, "SensorDevice12", &g_shared);
    dd_testenv_mqtt_t *sub = client(&g_env, "Thing02", &g_t02);
    const dd_testenv_mrec_t *r;

    (void)state;
    subscribe(sub, "shared/#");
    /* Client id = one of its things' names: that thing. Any other: no thing. */
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_CONNECT, "Thing12", NULL, -1, -1,
                                              1, T_MS),
                     1);
    assert_true(dd_testenv_metering_find(&g_env, DD_METERING_CONNECT, "Thing12")->registered);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_CONNECT, "SensorDevice12", NULL,
                                              -1, -1, 1, T_MS),
                     1);
    r = dd_testenv_metering_find(&g_env, DD_METERING_CONNECT, "SensorDevice12");
    assert_false(r->registered);

    /* Quarantining Thing12 stops the connection that is Thing12 ... */
    check(dd_testenv_group_add(&g_env, "IsolatedDevices", "Thing12"), "isolate");
    assert_true(dd_testenv_mqtt_wait_disconnect(as_thing, T_MS));
    /* ... but not the agent sharing its certificate: it is no thing, so the
     * group's deny policy does not apply to it (AWS behaves the same). */
    assert_true(delivered(agent, sub, "shared/still-talking", "yes"));
    assert_true(dd_testenv_mqtt_connected(agent));
    check(dd_testenv_group_remove(&g_env, "IsolatedDevices", "Thing12"), "release");
    dd_testenv_mqtt_destroy(as_thing);
    dd_testenv_mqtt_destroy(agent);
    dd_testenv_mqtt_destroy(sub);
}

static void test_shim_identity_service_exempt(void **state)
{
    dd_testenv_mqtt_t *dev = client(&g_env, "Thing01", &g_t01);
    dd_testenv_mqtt_t *svc = NULL;
    const char *reply = "$aws/things/Thing01/defender/metrics/json/accepted";

    (void)state;
    subscribe(dev, reply);
    /* Only the service may answer on /accepted; it is metered nowhere. */
    check(dd_testenv_mqtt_new(&g_env, "ddlocal-svc-2", NULL, true, &svc), "mqtt_new");
    assert_int_equal(dd_testenv_mqtt_connect(svc, T_MS), 0);
    assert_true(delivered(svc, dev, reply, "{\"thingName\":\"Thing01\"}"));
    subscribe(svc, "$aws/things/+/defender/metrics/+");
    assert_true(delivered(dev, svc, "$aws/things/Thing01/defender/metrics/json", "{}"));
    dd_testenv_mqtt_destroy(svc);
    /* A marker after the service's traffic: once it is metered, everything
     * before it is too. */
    check(dd_testenv_mqtt_publish(dev, "marker/service", "m", 1, 1, T_MS), "marker");
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_SENT, "Thing01", "marker/service",
                                              -1, -1, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_CONNECT, "ddlocal-svc-2", NULL,
                                               -1, -1),
                     0);
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_SENT, "ddlocal-svc-2", NULL, -1,
                                               -1),
                     0);
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_RECEIVED, "ddlocal-svc-2", NULL,
                                               -1, -1),
                     0);
    assert_true(dd_testenv_metering_count(&g_env, DD_METERING_RECEIVED, "Thing01", reply, -1, -1) >=
                1);
    dd_testenv_mqtt_destroy(dev);
}

/* AWS's strict rule: SensorDevice03 is no thing, so isolating Thing03 does not stop it. */
static void test_shim_identity_strict_rule(void **state)
{
    dd_testenv_mqtt_t *agent = client(&g_strict, "SensorDevice03", &g_strict_t03);
    dd_testenv_mqtt_t *sub = NULL;
    const dd_testenv_mrec_t *r;

    (void)state;
    sub = client(&g_strict, "Observer", &g_observer);
    subscribe(sub, "temperature-device-3");
    assert_int_equal(dd_testenv_metering_wait(&g_strict, DD_METERING_CONNECT, "SensorDevice03",
                                              NULL, -1, -1, 1, T_MS),
                     1);
    r = dd_testenv_metering_find(&g_strict, DD_METERING_CONNECT, "SensorDevice03");
    assert_false(r->registered);

    check(dd_testenv_group_add(&g_strict, "IsolatedDevices", "Thing03"), "isolate");
    /* The change is in force (the shim answered): the agent still publishes. */
    assert_true(delivered(agent, sub, "temperature-device-3", "{\"temperature\":99}"));
    assert_true(dd_testenv_mqtt_connected(agent));
    /* As Thing03 (client id = thing name) the certificate is the thing: refused. */
    assert_int_equal(attempt(&g_strict, "Thing03", &g_strict_t03), CONNACK_NOT_AUTHORISED);
    dd_testenv_mqtt_destroy(agent);
    dd_testenv_mqtt_destroy(sub);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int provision(dd_testenv_t *env)
{
    TRY(dd_testenv_policy_fixture(env, "AllowAll", "policies/device-policy-allow-all.json"));
    TRY(dd_testenv_policy_fixture(env, "DenyAll", "policies/deny-all.json"));
    TRY(dd_testenv_group(env, "IsolatedDevices", NULL, "DenyAll"));
    return 0;
}

static int setup_envs(void)
{
    dd_testenv_options_t strict = {0};

    TRY(dd_testenv_init(&g_env, NULL));
    if (provision(&g_env) != 0) {
        return 1;
    }
    TRY(dd_testenv_device(&g_env, "Thing01", "AllowAll", &g_t01));
    TRY(dd_testenv_device(&g_env, "Thing02", "AllowAll", &g_t02));
    TRY(dd_testenv_device(&g_env, "Thing03", "AllowAll", &g_t03));
    TRY(dd_testenv_cert(&g_env, "Thing11,Thing12,Thing13", "AllowAll", &g_shared));
    TRY(dd_testenv_device(&g_env, "Thing07", "AllowAll", &g_inactive));
    TRY(dd_testenv_cert_status(&g_env, g_inactive.id, DD_CERT_INACTIVE));
    TRY(dd_testenv_device(&g_env, "Thing08", "AllowAll", &g_revoked));
    TRY(dd_testenv_cert_status(&g_env, g_revoked.id, DD_CERT_REVOKED));
    TRY(dd_testenv_start(&g_env));

    strict.strict_identity = true;
    TRY(dd_testenv_init(&g_strict, &strict));
    if (provision(&g_strict) != 0) {
        return 1;
    }
    TRY(dd_testenv_device(&g_strict, "Thing03", "AllowAll", &g_strict_t03));
    TRY(dd_testenv_cert(&g_strict, "Observer", "AllowAll", &g_observer));
    TRY(dd_testenv_start(&g_strict));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_identity_allowed_publish_delivered),
        cmocka_unit_test(test_shim_identity_refused_certificates),
        cmocka_unit_test(test_shim_identity_alpn_listener),
        cmocka_unit_test(test_shim_identity_sensor_device03),
        cmocka_unit_test(test_shim_identity_shared_certificate),
        cmocka_unit_test(test_shim_identity_service_exempt),
        cmocka_unit_test(test_shim_identity_strict_rule),
    };
    int failures;

    if (setup_envs() != 0) {
        fprintf(stderr, "test_shim_identity: could not start the brokers\n");
        (void)dd_testenv_stop(&g_env);
        (void)dd_testenv_stop(&g_strict);
        return 1;
    }
    failures = cmocka_run_group_tests(tests, NULL, NULL);
    g_env.passed = g_strict.passed = failures == 0;
    if (dd_testenv_stop(&g_env) != 0) {
        failures++;
    }
    if (dd_testenv_stop(&g_strict) != 0) {
        failures++;
    }
    return failures;
}
