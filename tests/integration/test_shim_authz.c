/*
 * Authorization on a real mosquitto with the shim (issue 2): under the
 * per-thing device policy a report on another thing's topic is denied,
 * counted as an authorization failure and the client kicked; a gateway with
 * an allow-all policy may report for others; subscribing to the publish-only
 * report topic is refused; devices may not publish on /accepted, $CONTROL,
 * the SNS stand-in topics or the shim's $ddlocal/ metering topic; topics over 256 bytes and payloads over 128 KB
 * are denied and counted while the broker carries on; the workshop's two
 * policies (allow-all on the certificate, deny-all on IsolatedDevices,
 * inherited by child groups).
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

#include "dd_testenv.h"

#define T_MS 15000
#define CONNACK_NOT_AUTHORISED 5
#define REPORT(t) "$aws/things/" t "/defender/metrics/json"

static dd_testenv_t g_env;
static dd_testenv_creds_t g_t01; /* per-thing policy */
static dd_testenv_creds_t g_t02; /* per-thing policy */
static dd_testenv_creds_t g_gw;  /* allow-all, thing Gateway */
static dd_testenv_creds_t g_t05; /* allow-all (the workshop's certificate policy) */
static dd_testenv_creds_t g_t06; /* allow-all, in IsolatedDevices */
static dd_testenv_creds_t g_t09; /* allow-all, in a child of IsolatedDevices */

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

static int subscribe(dd_testenv_mqtt_t *c, const char *filter)
{
    int granted = -1;

    check(dd_testenv_mqtt_subscribe(c, filter, 1, T_MS, &granted), "subscribe");
    return granted;
}

/* The service's view: an observer that may subscribe to anything. */
static dd_testenv_mqtt_t *observer(const char *filter)
{
    dd_testenv_mqtt_t *o = client("ddlocal-observer", NULL);

    assert_int_equal(subscribe(o, filter), 1);
    return o;
}

/*
 * Publishes @p payload from @p dev (QoS 1), then a marker from the service on
 * @p marker_topic, and returns whether @p payload reached @p obs before the
 * marker did. The marker makes a negative answer certain without sleeping.
 */
static bool reaches(dd_testenv_mqtt_t *dev, dd_testenv_mqtt_t *obs, const char *topic,
                    const void *payload, size_t len, const char *marker_topic)
{
    dd_testenv_mqtt_t *svc = client("ddlocal-marker", NULL);
    bool seen = false;
    dd_testenv_status_t st;

    st = dd_testenv_mqtt_publish(dev, topic, payload, len, 1, T_MS);
    /* PUBACK (v3.1.1 acknowledges denied messages too) or the kick: either
     * way the broker has decided this message. */
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

static void test_shim_authz_per_thing_policy(void **state)
{
    dd_testenv_mqtt_t *obs = client("ddlocal-observer", NULL);
    dd_testenv_mqtt_t *t01 = client("Thing01", &g_t01);
    dd_testenv_mqtt_t *t02;
    const char *bad = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"from\":\"Thing01\"}";
    size_t failures;

    (void)state;
    assert_int_equal(subscribe(obs, "$aws/things/+/defender/metrics/+"), 1);
    /* Its own report topic: delivered. */
    assert_true(reaches(t01, obs, REPORT("Thing01"), "{}", 2, REPORT("Marker")));
    assert_true(dd_testenv_mqtt_connected(t01));
    /* Another thing's: denied, counted, kicked. */
    assert_false(reaches(t01, obs, REPORT("Thing02"), bad, strlen(bad), REPORT("Marker")));
    assert_true(dd_testenv_mqtt_wait_disconnect(t01, T_MS));
    failures =
        dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing01", REPORT("Thing02"),
                                 DD_METERING_ACTION_PUBLISH, DD_METERING_REASON_POLICY, 1, T_MS);
    assert_int_equal(failures, 1);
    assert_true(dd_testenv_metering_find(&g_env, DD_METERING_AUTH_FAILURE, "Thing01")->registered);
    /* Thing02 itself may report there. */
    t02 = client("Thing02", &g_t02);
    assert_true(reaches(t02, obs, REPORT("Thing02"), "{\"ok\":2}", 8, REPORT("Marker")));
    /* ... and cannot subscribe to Thing01's topics. */
    assert_int_equal(subscribe(t02, "$aws/things/Thing01/defender/metrics/json/accepted"), 128);
    assert_int_equal(subscribe(t02, "$aws/things/Thing02/defender/metrics/json/accepted"), 1);
    dd_testenv_mqtt_destroy(t02);
    dd_testenv_mqtt_destroy(t01);
    dd_testenv_mqtt_destroy(obs);
}

static void test_shim_authz_gateway_reports_for_others(void **state)
{
    dd_testenv_mqtt_t *obs = observer("$aws/things/+/defender/metrics/+");
    dd_testenv_mqtt_t *gw = client("Gateway", &g_gw);

    (void)state;
    assert_true(reaches(gw, obs, REPORT("Thing01"), "{\"gw\":1}", 8, REPORT("Marker")));
    assert_true(
        reaches(gw, obs, "$aws/things/Thing02/defender/metrics/cbor", "\xa0", 1, REPORT("Marker")));
    assert_true(dd_testenv_mqtt_connected(gw));
    dd_testenv_mqtt_destroy(gw);
    dd_testenv_mqtt_destroy(obs);
}

static void test_shim_authz_report_topic_is_publish_only(void **state)
{
    dd_testenv_mqtt_t *t01 = client("Thing01", &g_t01);
    dd_testenv_mqtt_t *gw = client("Gateway", &g_gw);

    (void)state;
    assert_int_equal(subscribe(t01, REPORT("Thing01")), 128);
    assert_int_equal(subscribe(gw, REPORT("Thing01")), 128);
    assert_int_equal(subscribe(gw, "$aws/things/+/defender/metrics/+"), 128);
    assert_int_equal(subscribe(gw, "$aws/things/Thing01/defender/metrics/cbor"), 128);
    /* The replies are subscribable; a refused subscription does not kick. */
    assert_int_equal(subscribe(t01, "$aws/things/Thing01/defender/metrics/json/accepted"), 1);
    assert_int_equal(subscribe(gw, "$aws/things/+/defender/metrics/json/rejected"), 1);
    assert_true(dd_testenv_mqtt_connected(t01));
    assert_true(dd_testenv_mqtt_connected(gw));
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Gateway", NULL,
                                              DD_METERING_ACTION_SUBSCRIBE,
                                              DD_METERING_REASON_RESERVED_TOPIC, 3, T_MS),
                     3);
    dd_testenv_mqtt_destroy(t01);
    dd_testenv_mqtt_destroy(gw);
}

static void test_shim_authz_reserved_topics(void **state)
{
    static const char *const topics[] = {
        "$aws/things/Thing01/defender/metrics/json/accepted",
        "$aws/things/Thing01/defender/metrics/cbor/rejected", "ddlocal/sns/x",
        "$ddlocal/metering/v1", /* forged cloud-side metrics */
    };
    const char *takeover =
        "{\"kind\":\"policy\",\"name\":\"AllowAll\",\"state\":{\"exists\":false}}";
    dd_testenv_mqtt_t *obs = client("ddlocal-observer", NULL);
    dd_testenv_mqtt_t *gw;
    size_t i;

    (void)state;
    assert_int_equal(subscribe(obs, "$aws/things/+/defender/metrics/+/+"), 1);
    assert_int_equal(subscribe(obs, "ddlocal/sns/#"), 1);
    assert_int_equal(subscribe(obs, "$ddlocal/#"), 1);
    /* Even with an allow-all policy a device cannot answer for the service. */
    for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        gw = client("Gateway", &g_gw);
        assert_false(reaches(gw, obs, topics[i], "forged", 6, "ddlocal/sns/marker"));
        assert_true(dd_testenv_mqtt_wait_disconnect(gw, T_MS));
        dd_testenv_mqtt_destroy(gw);
        assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Gateway",
                                                  topics[i], DD_METERING_ACTION_PUBLISH,
                                                  DD_METERING_REASON_RESERVED_TOPIC, 1, T_MS),
                         1);
    }
    /* Nor change the shim's registry: its control message (deleting the very
     * policy that allows it) is ignored... */
    gw = client("Gateway", &g_gw);
    (void)dd_testenv_mqtt_publish(gw, "$CONTROL/ddlocal/v1/registry", takeover, strlen(takeover), 1,
                                  T_MS);
    /* (the broker checks WRITE before handing $CONTROL messages to the plugin) */
    assert_true(dd_testenv_mqtt_wait_disconnect(gw, T_MS));
    dd_testenv_mqtt_destroy(gw);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Gateway",
                                              "$CONTROL/ddlocal/v1/registry",
                                              DD_METERING_ACTION_PUBLISH,
                                              DD_METERING_REASON_RESERVED_TOPIC, 1, T_MS),
                     1);
    /* ... the allow-all policy is still in force: a fresh gateway connection works. */
    gw = client("Gateway", &g_gw);
    {
        dd_testenv_mqtt_t *o2 = observer("gw/#");

        assert_true(reaches(gw, o2, "gw/still-allowed", "y", 1, "gw/marker"));
        dd_testenv_mqtt_destroy(o2);
    }
    dd_testenv_mqtt_destroy(gw);
    assert_true(dd_testenv_broker_alive(&g_env));
    dd_testenv_mqtt_destroy(obs);
}

static void test_shim_authz_aws_limits(void **state)
{
    dd_testenv_mqtt_t *obs = observer("big/#");
    dd_testenv_mqtt_t *gw;
    char topic[300];
    size_t big = 128u * 1024u;
    char *payload = malloc(big + 1);

    (void)state;
    assert_non_null(payload);
    memset(payload, 'p', big + 1);
    /* 257 bytes of topic. */
    (void)snprintf(topic, sizeof(topic), "big/%0253d", 7);
    assert_int_equal(strlen(topic), 257);
    gw = client("Gateway", &g_gw);
    assert_false(reaches(gw, obs, topic, "t", 1, "big/marker"));
    assert_true(dd_testenv_mqtt_wait_disconnect(gw, T_MS));
    dd_testenv_mqtt_destroy(gw);
    /* 256 bytes: fine. */
    topic[256] = '\0';
    gw = client("Gateway", &g_gw);
    assert_true(reaches(gw, obs, topic, "t", 1, "big/marker"));
    /* 128 KiB + 1 of payload: denied; 128 KiB: fine. */
    assert_true(reaches(gw, obs, "big/payload", payload, big, "big/marker"));
    assert_false(reaches(gw, obs, "big/payload", payload, big + 1, "big/marker"));
    assert_true(dd_testenv_mqtt_wait_disconnect(gw, T_MS));
    dd_testenv_mqtt_destroy(gw);
    free(payload);

    /* Counted, and the broker is still up for everyone. */
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Gateway", NULL,
                                              DD_METERING_ACTION_PUBLISH,
                                              DD_METERING_REASON_TOPIC_TOO_LONG, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Gateway",
                                              "big/payload", DD_METERING_ACTION_PUBLISH,
                                              DD_METERING_REASON_PAYLOAD_TOO_LARGE, 1, T_MS),
                     1);
    assert_true(dd_testenv_broker_alive(&g_env));
    gw = client("Gateway", &g_gw);
    assert_true(reaches(gw, obs, "big/after", "alive", 5, "big/marker"));
    dd_testenv_mqtt_destroy(gw);
    dd_testenv_mqtt_destroy(obs);
}

/* The workshop's two policies: allow iot:* on the certificate, deny iot:* on IsolatedDevices. */
static void test_shim_authz_workshop_policies(void **state)
{
    dd_testenv_mqtt_t *obs = observer("temperature-device-5");
    dd_testenv_mqtt_t *t05 = client("Thing05", &g_t05);

    (void)state;
    assert_true(reaches(t05, obs, "temperature-device-5", "{\"temperature\":20}", 18,
                        "temperature-device-5"));
    /* A thing in the group, or in a child of it, cannot even connect. */
    assert_int_equal(attempt("Thing06", &g_t06), CONNACK_NOT_AUTHORISED);
    assert_int_equal(attempt("SensorDevice06", &g_t06), CONNACK_NOT_AUTHORISED);
    assert_int_equal(attempt("Thing09", &g_t09), CONNACK_NOT_AUTHORISED);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Thing09", NULL,
                                              DD_METERING_ACTION_CONNECT, DD_METERING_REASON_POLICY,
                                              1, T_MS),
                     1);
    dd_testenv_mqtt_destroy(t05);
    dd_testenv_mqtt_destroy(obs);
}

/* Last wills: the broker checks a will's WRITE after the client's DISCONNECT
 * event, so the shim must still know the connection then. */
static void test_shim_authz_will_messages(void **state)
{
    dd_testenv_mqtt_t *obs = client("ddlocal-observer", NULL);
    dd_testenv_mqtt_t *dev = NULL;
    dd_testenv_mqtt_t *svc;
    dd_testenv_msg_t *m = NULL;
    bool forged = false;

    (void)state;
    assert_int_equal(subscribe(obs, "will/#"), 1);
    assert_int_equal(subscribe(obs, "$aws/things/+/defender/metrics/+/+"), 1);
    /* An allowed will is delivered when the device drops off. */
    check(dd_testenv_mqtt_new(&g_env, "Gateway", &g_gw, true, &dev), "mqtt_new");
    check(dd_testenv_mqtt_will(dev, "will/gateway", "gone", 1), "will");
    assert_int_equal(dd_testenv_mqtt_connect(dev, T_MS), 0);
    check(dd_testenv_mqtt_drop(dev, T_MS), "drop");
    dd_testenv_mqtt_destroy(dev);
    check(dd_testenv_mqtt_wait_message(obs, "will/gateway", T_MS, &m), "will delivered");
    assert_int_equal(m->len, 4);
    assert_memory_equal(m->payload, "gone", 4);
    dd_testenv_msg_free(m);
    /* A will on a reserved topic is not: no forged /accepted. */
    check(dd_testenv_mqtt_new(&g_env, "Gateway", &g_gw, true, &dev), "mqtt_new");
    check(dd_testenv_mqtt_will(dev, "$aws/things/Thing01/defender/metrics/json/accepted", "forged",
                               1),
          "will");
    if (dd_testenv_mqtt_connect(dev, T_MS) == 0) {
        check(dd_testenv_mqtt_drop(dev, T_MS), "drop");
    }
    dd_testenv_mqtt_destroy(dev);
    svc = client("ddlocal-marker", NULL);
    check(dd_testenv_mqtt_publish(svc, "will/marker", "marker", 6, 1, T_MS), "marker");
    for (;;) {
        check(dd_testenv_mqtt_wait_message(obs, NULL, T_MS, &m), "observer message");
        if (strcmp(m->topic, "will/marker") == 0) {
            dd_testenv_msg_free(m);
            break;
        }
        if (strstr(m->topic, "/accepted") != NULL) {
            forged = true;
        }
        dd_testenv_msg_free(m);
    }
    assert_false(forged);
    dd_testenv_mqtt_destroy(svc);
    assert_true(dd_testenv_broker_alive(&g_env));
    dd_testenv_mqtt_destroy(obs);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int setup_env(void)
{
    TRY(dd_testenv_init(&g_env, NULL));
    TRY(dd_testenv_policy_fixture(&g_env, "AllowAll", "policies/device-policy-allow-all.json"));
    TRY(dd_testenv_policy_fixture(&g_env, "PerThing", "policies/device-policy-per-thing.json"));
    TRY(dd_testenv_policy_fixture(&g_env, "DenyAll", "policies/deny-all.json"));
    TRY(dd_testenv_group(&g_env, "IsolatedDevices", NULL, "DenyAll"));
    TRY(dd_testenv_group(&g_env, "IsolatedChild", "IsolatedDevices", NULL));
    TRY(dd_testenv_device(&g_env, "Thing01", "PerThing", &g_t01));
    TRY(dd_testenv_device(&g_env, "Thing02", "PerThing", &g_t02));
    TRY(dd_testenv_device(&g_env, "Gateway", "AllowAll", &g_gw));
    TRY(dd_testenv_device(&g_env, "Thing05", "AllowAll", &g_t05));
    TRY(dd_testenv_device(&g_env, "Thing06", "AllowAll", &g_t06));
    TRY(dd_testenv_group_add(&g_env, "IsolatedDevices", "Thing06"));
    TRY(dd_testenv_device(&g_env, "Thing09", "AllowAll", &g_t09));
    TRY(dd_testenv_group_add(&g_env, "IsolatedChild", "Thing09"));
    TRY(dd_testenv_start(&g_env));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_authz_per_thing_policy),
        cmocka_unit_test(test_shim_authz_gateway_reports_for_others),
        cmocka_unit_test(test_shim_authz_report_topic_is_publish_only),
        cmocka_unit_test(test_shim_authz_reserved_topics),
        cmocka_unit_test(test_shim_authz_aws_limits),
        cmocka_unit_test(test_shim_authz_workshop_policies),
        cmocka_unit_test(test_shim_authz_will_messages),
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
