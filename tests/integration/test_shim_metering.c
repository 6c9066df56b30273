/*
 * Metering on a real mosquitto with the shim (issue 2): the records handed
 * on in batches on the internal topic (QoS 1, one instance, sequence numbers
 * without gaps) count exactly what was sent - messages sent with each byte
 * size, messages received, authorization failures, connection attempts
 * (with the source IP), disconnects - per thing, and per client id for a
 * connection that is no thing.
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
#define N_MESSAGES 300
#define CONNACK_NOT_AUTHORISED 5

static dd_testenv_t g_env;
static dd_testenv_creds_t g_sender;   /* thing Sender */
static dd_testenv_creds_t g_receiver; /* thing Receiver */
static dd_testenv_creds_t g_gateway;  /* attached to no thing */
static dd_testenv_creds_t g_inactive; /* thing Dormant, INACTIVE */

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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Sizes of the records of one type/key/subject, sorted. */
static size_t sizes_of(dd_metering_type_t type, const char *key, const char *subject, uint32_t *out,
                       size_t cap)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < g_env.nrecs; i++) {
        const dd_testenv_mrec_t *r = &g_env.recs[i];

        if (r->type == type && strcmp(r->key, key) == 0 && strcmp(r->subject, subject) == 0) {
            assert_true(n < cap);
            out[n++] = r->bytes;
        }
    }
    qsort(out, n, sizeof(*out), cmp_u32);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_shim_metering_counts_equal_what_was_sent(void **state)
{
    static uint32_t want[N_MESSAGES];
    static uint32_t got[N_MESSAGES + 8];
    static char payload[2048];
    dd_testenv_mqtt_t *rx = client("Receiver", &g_receiver);
    dd_testenv_mqtt_t *tx = client("SensorDevice-tx", &g_sender);
    int granted = -1;
    size_t i;
    size_t n;
    const dd_testenv_mrec_t *r;

    (void)state;
    check(dd_testenv_mqtt_subscribe(rx, "data/#", 1, T_MS, &granted), "subscribe");
    assert_int_equal(granted, 1);
    /* One refused subscription: an authorization failure that does not kick. */
    check(dd_testenv_mqtt_subscribe(rx, "$aws/things/Receiver/defender/metrics/json", 1, T_MS,
                                    &granted),
          "subscribe");
    assert_int_equal(granted, 128);

    memset(payload, 'm', sizeof(payload));
    for (i = 0; i < N_MESSAGES; i++) {
        want[i] = (uint32_t)((i * 37) % 1500);
        check(dd_testenv_mqtt_publish(tx, "data/telemetry", payload, want[i], (int)(i % 2), T_MS),
              "publish");
    }
    for (i = 0; i < N_MESSAGES; i++) {
        dd_testenv_msg_t *m = NULL;

        check(dd_testenv_mqtt_wait_message(rx, "data/telemetry", T_MS, &m), "receive");
        dd_testenv_msg_free(m);
    }
    /* Everything metered before the marker is in the stream before it. */
    check(dd_testenv_mqtt_publish(tx, "marker/end", "m", 1, 1, T_MS), "marker");
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_SENT, "Sender", "marker/end", -1,
                                              -1, 1, T_MS),
                     1);

    /* Sent: exactly N, with each message's size. */
    n = sizes_of(DD_METERING_SENT, "Sender", "data/telemetry", got, N_MESSAGES + 8);
    assert_int_equal(n, N_MESSAGES);
    qsort(want, N_MESSAGES, sizeof(want[0]), cmp_u32);
    assert_memory_equal(got, want, sizeof(want));
    /* Received: exactly N by the receiver. */
    n = sizes_of(DD_METERING_RECEIVED, "Receiver", "data/telemetry", got, N_MESSAGES + 8);
    assert_int_equal(n, N_MESSAGES);
    assert_memory_equal(got, want, sizeof(want));
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_RECEIVED, "Sender", NULL, -1,
                                               -1),
                     0);
    /* One authorization failure. */
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_AUTH_FAILURE, "Receiver",
                                               "$aws/things/Receiver/defender/metrics/json",
                                               DD_METERING_ACTION_SUBSCRIBE,
                                               DD_METERING_REASON_RESERVED_TOPIC),
                     1);
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_AUTH_FAILURE, "Sender", NULL, -1,
                                               -1),
                     0);
    /* One connection attempt each, with the source IP; keyed by thing. */
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_CONNECT, "Sender", NULL, -1, -1),
                     1);
    r = dd_testenv_metering_find(&g_env, DD_METERING_CONNECT, "Sender");
    assert_true(r->success);
    assert_true(r->registered);
    assert_string_equal(r->subject, "SensorDevice-tx");
    assert_string_equal(r->ip, "127.0.0.1");
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_CONNECT, "Receiver", NULL, -1,
                                               -1),
                     1);

    /* Disconnects. */
    dd_testenv_mqtt_destroy(tx);
    dd_testenv_mqtt_destroy(rx);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_DISCONNECT, "Sender", NULL, -1,
                                              -1, 1, T_MS),
                     1);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_DISCONNECT, "Receiver", NULL, -1,
                                              -1, 1, T_MS),
                     1);
}

static void test_shim_metering_unregistered_and_refused(void **state)
{
    dd_testenv_mqtt_t *gw = client("gw-7", &g_gateway);
    dd_testenv_mqtt_t *m = NULL;
    const dd_testenv_mrec_t *r;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        check(dd_testenv_mqtt_publish(gw, "gw/data", "0123456789", 10, 1, T_MS), "publish");
    }
    /* A connection that is no thing is metered under its client id. */
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_SENT, "gw-7", "gw/data", -1, -1,
                                              5, T_MS),
                     5);
    r = dd_testenv_metering_find(&g_env, DD_METERING_SENT, "gw-7");
    assert_false(r->registered);
    assert_int_equal(r->bytes, 10);
    dd_testenv_mqtt_destroy(gw);

    /* A refused attempt: CONNECT (not successful) and an authorization failure. */
    check(dd_testenv_mqtt_new(&g_env, "dormant-agent", &g_inactive, true, &m), "mqtt_new");
    assert_int_equal(dd_testenv_mqtt_connect(m, T_MS), CONNACK_NOT_AUTHORISED);
    dd_testenv_mqtt_destroy(m);
    assert_int_equal(dd_testenv_metering_wait(&g_env, DD_METERING_AUTH_FAILURE, "Dormant",
                                              "dormant-agent", DD_METERING_ACTION_CONNECT,
                                              DD_METERING_REASON_CERT_NOT_ACTIVE, 1, T_MS),
                     1);
    r = dd_testenv_metering_find(&g_env, DD_METERING_CONNECT, "Dormant");
    assert_non_null(r);
    assert_false(r->success);
    assert_true(r->registered);
    /* No DISCONNECT is recorded for a connection that never was. */
    assert_int_equal(dd_testenv_metering_count(&g_env, DD_METERING_DISCONNECT, "Dormant", NULL, -1,
                                               -1),
                     0);
}

static void test_shim_metering_batches(void **state)
{
    size_t i;
    uint64_t instance;
    uint64_t last_seq = 0;

    (void)state;
    (void)dd_testenv_metering_take(&g_env);
    assert_true(g_env.nrecs > N_MESSAGES);
    /* One shim instance; its batches arrive at QoS 1, numbered 1, 2, 3... */
    instance = g_env.recs[0].instance_id;
    assert_true(instance != 0);
    assert_int_equal(g_env.recs[0].seq, 1);
    for (i = 0; i < g_env.nrecs; i++) {
        const dd_testenv_mrec_t *r = &g_env.recs[i];

        assert_int_equal(r->instance_id, instance);
        assert_int_equal(r->qos, 1);
        assert_true(r->seq == last_seq || r->seq == last_seq + 1);
        last_seq = r->seq;
        /* ddlocal's own connections never appear. */
        assert_true(strncmp(r->key, "ddlocal", 7) != 0);
        assert_true(r->time_ms > 1600000000000LL);
    }
    assert_true(last_seq > 1);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int setup_env(void)
{
    TRY(dd_testenv_init(&g_env, NULL));
    TRY(dd_testenv_policy_fixture(&g_env, "AllowAll", "policies/device-policy-allow-all.json"));
    TRY(dd_testenv_device(&g_env, "Sender", "AllowAll", &g_sender));
    TRY(dd_testenv_device(&g_env, "Receiver", "AllowAll", &g_receiver));
    TRY(dd_testenv_cert(&g_env, NULL, "AllowAll", &g_gateway));
    TRY(dd_testenv_device(&g_env, "Dormant", "AllowAll", &g_inactive));
    TRY(dd_testenv_cert_status(&g_env, g_inactive.id, DD_CERT_INACTIVE));
    TRY(dd_testenv_start(&g_env));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_metering_counts_equal_what_was_sent),
        cmocka_unit_test(test_shim_metering_unregistered_and_refused),
        cmocka_unit_test(test_shim_metering_batches),
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
