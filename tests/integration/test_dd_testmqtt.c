/*
 * The synchronous MQTT test client (dd_testmqtt) on its own: refusals and
 * deadlines without a broker, then acknowledgements, queueing, wills on a
 * dropped connection and MQTT 5 against a plain mosquitto (dd_testenv with
 * `plain`: the same mTLS listeners, no plugin).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_testenv.h"
#include "dd_testmqtt.h"

#define T_MS 15000

/* A loopback port bound but not listening: connecting to it is refused at once. */
static int bound_port(uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_dd_testmqtt_without_a_broker(void **state)
{
    dd_testmqtt_config_t cfg;
    dd_testmqtt_t *c = NULL;
    dd_testmqtt_msg_t *m = NULL;
    uint16_t port;
    int fd = bound_port(&port);

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(dd_testmqtt_new(&cfg, &c), DD_TESTMQTT_BAD_PARAMETER); /* no id, no port */
    assert_null(c);
    cfg.client_id = "lonely";
    cfg.port = port;
    cfg.root_ca = "/nonexistent/ca.pem";
    cfg.cert = "/nonexistent/cert.pem";
    assert_int_equal(dd_testmqtt_new(&cfg, &c), DD_TESTMQTT_BAD_PARAMETER); /* cert, no key */
    cfg.key = "/nonexistent/key.pem";
    assert_int_equal(dd_testmqtt_new(&cfg, &c), DD_TESTMQTT_FAILED); /* unreadable TLS files */
    assert_null(c);

    cfg.root_ca = NULL; /* plain TCP */
    cfg.clean_session = true;
    assert_int_equal(dd_testmqtt_new(&cfg, &c), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_connect(c, 2000), -1);
    assert_false(dd_testmqtt_connected(c));
    assert_int_equal(dd_testmqtt_publish(c, "t/1", "x", 1, 1, 100), DD_TESTMQTT_DISCONNECTED);
    assert_int_equal(dd_testmqtt_publish(c, "t/1", "x", 1, 2, 100), DD_TESTMQTT_BAD_PARAMETER);
    assert_int_equal(dd_testmqtt_subscribe(c, "t/#", 1, 100, NULL), DD_TESTMQTT_DISCONNECTED);
    assert_int_equal(dd_testmqtt_wait_message(c, "t/#", 50, &m), DD_TESTMQTT_TIMEOUT);
    assert_null(m);
    assert_int_equal(dd_testmqtt_take(c, 50, &m), 0);
    assert_null(m);
    assert_int_equal(dd_testmqtt_drop(c, 100), DD_TESTMQTT_DISCONNECTED);
    assert_true(dd_testmqtt_wait_disconnect(c, 100));
    /* ALPN and the will belong before the first connection attempt. */
    assert_int_equal(dd_testmqtt_use_alpn(c, port, "x-amzn-mqtt-ca"), DD_TESTMQTT_BAD_PARAMETER);
    assert_int_equal(dd_testmqtt_will(c, "w/1", "gone", 1), DD_TESTMQTT_BAD_PARAMETER);
    dd_testmqtt_destroy(c);
    dd_testmqtt_destroy(NULL);
    dd_testmqtt_msg_free(NULL);
    assert_string_equal(dd_testmqtt_strerror(DD_TESTMQTT_TIMEOUT), "timed out");
    (void)close(fd);
}

static dd_testmqtt_t *client(const dd_testenv_t *env, const char *id)
{
    dd_testmqtt_config_t cfg;
    dd_testmqtt_t *c = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.client_id = id;
    cfg.port = env->mqtt_port;
    cfg.root_ca = env->root_ca;
    cfg.cert = env->service_cert;
    cfg.key = env->service_key;
    cfg.clean_session = true;
    cfg.tcp_nodelay = true;
    assert_int_equal(dd_testmqtt_new(&cfg, &c), DD_TESTMQTT_OK);
    return c;
}

static void test_dd_testmqtt_against_mosquitto(void **state)
{
    dd_testenv_options_t opts;
    dd_testenv_t env;
    dd_testmqtt_t *sub;
    dd_testmqtt_t *pub;
    dd_testmqtt_t *dev;
    dd_testmqtt_t *v5;
    dd_testmqtt_msg_t *m = NULL;
    int64_t deadline;
    int granted = -1;

    (void)state;
    memset(&opts, 0, sizeof(opts));
    opts.plain = true;
    assert_int_equal(dd_testenv_init(&env, &opts), DD_TESTENV_OK);
    assert_int_equal(dd_testenv_start(&env), DD_TESTENV_OK);
    sub = client(&env, "sub");
    pub = client(&env, "pub");
    dev = client(&env, "dev");
    assert_int_equal(dd_testmqtt_connect(sub, T_MS), 0);
    assert_true(dd_testmqtt_connected(sub));
    assert_int_equal(dd_testmqtt_subscribe(sub, "t/#", 1, T_MS, &granted), DD_TESTMQTT_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_testmqtt_subscribe(sub, "w/#", 1, T_MS, NULL), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_connect(pub, T_MS), 0);

    /* QoS 1 returns with the PUBACK; the message is taken by filter, others stay queued. */
    assert_int_equal(dd_testmqtt_publish(pub, "t/a", "one", 3, 1, T_MS), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_publish(pub, "t/b", "two", 3, 1, T_MS), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_wait_message(sub, "t/b", T_MS, &m), DD_TESTMQTT_OK);
    assert_string_equal(m->topic, "t/b");
    assert_int_equal(m->len, 3);
    assert_string_equal((const char *)m->payload, "two");
    assert_int_equal(m->qos, 1);
    assert_true(m->mono_ms > 0);
    dd_testmqtt_msg_free(m);
    assert_int_equal(dd_testmqtt_queued(sub, "t/#"), 1);
    assert_int_equal(dd_testmqtt_queued(sub, "t/b"), 0);

    /* QoS 0 returns once queued; take() hands over the whole queue, oldest first. */
    assert_int_equal(dd_testmqtt_publish(pub, "t/c", "", 0, 0, T_MS), DD_TESTMQTT_OK);
    deadline = dd_clock_mono_ms() + T_MS;
    while (dd_testmqtt_queued(sub, NULL) < 2 && dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(10);
    }
    assert_int_equal(dd_testmqtt_take(sub, T_MS, &m), 2);
    assert_string_equal(m->topic, "t/a");
    assert_string_equal(m->next->topic, "t/c");
    assert_int_equal(m->next->len, 0);
    dd_testmqtt_msg_free(m);
    assert_int_equal(dd_testmqtt_queued(sub, NULL), 0);

    /* A dropped connection (no DISCONNECT) makes the broker publish the will. */
    assert_int_equal(dd_testmqtt_will(dev, "w/dev", "gone", 1), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_connect(dev, T_MS), 0);
    assert_int_equal(dd_testmqtt_drop(dev, T_MS), DD_TESTMQTT_OK);
    assert_false(dd_testmqtt_connected(dev));
    assert_int_equal(dd_testmqtt_wait_message(sub, "w/dev", T_MS, &m), DD_TESTMQTT_OK);
    assert_string_equal((const char *)m->payload, "gone");
    dd_testmqtt_msg_free(m);
    /* ... and connect() again reconnects the same client. */
    assert_int_equal(dd_testmqtt_connect(dev, T_MS), 0);
    assert_int_equal(dd_testmqtt_publish(dev, "t/again", "3", 1, 1, T_MS), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_wait_message(sub, "t/again", T_MS, &m), DD_TESTMQTT_OK);
    dd_testmqtt_msg_free(m);

    /* MQTT 5: the same calls, and the PUBACK's reason code is readable. */
    v5 = client(&env, "v5");
    assert_int_equal(dd_testmqtt_use_v5(v5), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_connect(v5, T_MS), 0);
    assert_int_equal(dd_testmqtt_use_v5(v5), DD_TESTMQTT_BAD_PARAMETER); /* too late */
    assert_int_equal(dd_testmqtt_publish(v5, "t/v5", "5", 1, 1, T_MS), DD_TESTMQTT_OK);
    assert_int_equal(dd_testmqtt_puback_reason(v5), 0);
    assert_int_equal(dd_testmqtt_wait_message(sub, "t/v5", T_MS, &m), DD_TESTMQTT_OK);
    dd_testmqtt_msg_free(m);
    assert_int_equal(dd_testmqtt_disconnect_reason(v5), 0);
    assert_int_equal(dd_testmqtt_puback_reason(NULL), -1);

    dd_testmqtt_destroy(v5);
    dd_testmqtt_destroy(dev);
    dd_testmqtt_destroy(pub);
    dd_testmqtt_destroy(sub);
    env.passed = true;
    assert_int_equal(dd_testenv_stop(&env), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_testmqtt_without_a_broker),
        cmocka_unit_test(test_dd_testmqtt_against_mosquitto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
