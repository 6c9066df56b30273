#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dd_conn.h"
#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pki.h"

static void test_dd_conn_backoff(void **state)
{
    uint64_t rng = 99;
    unsigned a;
    int i;

    (void)state;
    for (i = 0; i < 200; i++) {
        for (a = 0; a < 12; a++) {
            uint32_t step = a >= 6 ? 32000 : 1000u << a;
            uint32_t d = dd_conn_backoff_ms(a, 1000, 32000, &rng);

            assert_true(d >= step / 2);
            assert_true(d <= step);
        }
    }
    /* Large attempt counts do not overflow. */
    assert_true(dd_conn_backoff_ms(1000, 1000, 32000, &rng) <= 32000);
    assert_true(dd_conn_backoff_ms(0, 0, 0, NULL) <= 1);
}

static void test_dd_conn_split_endpoint(void **state)
{
    char host[64];
    uint16_t port = 1;

    (void)state;
    assert_int_equal(dd_conn_split_endpoint("abc-ats.iot.us-east-1.amazonaws.com", host,
                                            sizeof(host), &port),
                     DD_CONN_OK);
    assert_string_equal(host, "abc-ats.iot.us-east-1.amazonaws.com");
    assert_int_equal(port, 0);
    assert_int_equal(dd_conn_split_endpoint("127.0.0.1:18883", host, sizeof(host), &port),
                     DD_CONN_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 18883);
    assert_int_equal(dd_conn_split_endpoint("[::1]:443", host, sizeof(host), &port), DD_CONN_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 443);
    assert_int_equal(dd_conn_split_endpoint("[::1]", host, sizeof(host), &port), DD_CONN_OK);
    assert_int_equal(port, 0);
    assert_int_equal(dd_conn_split_endpoint("2001:db8::1", host, sizeof(host), &port), DD_CONN_OK);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(dd_conn_split_endpoint("h:0", host, sizeof(host), &port),
                     DD_CONN_BAD_PARAMETER);
    assert_int_equal(dd_conn_split_endpoint("h:65536", host, sizeof(host), &port),
                     DD_CONN_BAD_PARAMETER);
    assert_int_equal(dd_conn_split_endpoint("h:x", host, sizeof(host), &port),
                     DD_CONN_BAD_PARAMETER);
    assert_int_equal(dd_conn_split_endpoint(":80", host, sizeof(host), &port),
                     DD_CONN_BAD_PARAMETER);
    assert_int_equal(dd_conn_split_endpoint("[::1", host, sizeof(host), &port),
                     DD_CONN_BAD_PARAMETER);
    assert_int_equal(dd_conn_split_endpoint("averyveryverylonghostname", host, 8, &port),
                     DD_CONN_BAD_PARAMETER);
}

typedef struct events {
    int failures;
    int connects;
    int64_t retry_in_ms;
    char text[256];
} events_t;

static void on_down(dd_conn_t *conn, void *ctx, bool was_connected, int reason, const char *text,
                    int64_t retry_in_ms)
{
    events_t *e = ctx;

    (void)conn;
    (void)reason;
    if (!was_connected) {
        e->failures++;
    }
    e->retry_in_ms = retry_in_ms;
    (void)snprintf(e->text, sizeof(e->text), "%s", text);
}

static void on_up(dd_conn_t *conn, void *ctx)
{
    events_t *e = ctx;

    (void)conn;
    e->connects++;
}

/* A port nobody listens on. */
static uint16_t closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct pki_dir {
    char dir[64];
    char ca[128];
    char cert[128];
    char key[128];
} pki_dir_t;

static void make_pki(pki_dir_t *p)
{
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    char devdir[128];

    (void)snprintf(p->dir, sizeof(p->dir), "/tmp/dd_conn_test.XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    assert_int_equal(dd_pki_ca_ensure(p->dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    (void)snprintf(devdir, sizeof(devdir), "%s/dev", p->dir);
    assert_int_equal(dd_pki_credentials_write(&cred, devdir), DD_PKI_OK);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    (void)snprintf(p->ca, sizeof(p->ca), "%s/pki/rootca.pem", p->dir);
    (void)snprintf(p->cert, sizeof(p->cert), "%s/dev/cert.pem", p->dir);
    (void)snprintf(p->key, sizeof(p->key), "%s/dev/private.key", p->dir);
}

/* A refused connect must fail the attempt at once and schedule a retry, never spin. */
static void test_dd_conn_refused_then_backoff(void **state)
{
    pki_dir_t p;
    dd_conn_callbacks_t cb = {.on_connected = on_up, .on_disconnected = on_down};
    dd_conn_params_t params;
    dd_conn_t *conn = NULL;
    events_t ev;
    int64_t start;
    int64_t next = 0;
    int polls = 0;

    (void)state;
    make_pki(&p);
    memset(&ev, 0, sizeof(ev));
    memset(&params, 0, sizeof(params));
    params.host = "127.0.0.1";
    params.port = closed_port();
    params.keepalive_s = 30;
    params.clean_session = true;
    params.ca_file = p.ca;
    params.cert_file = p.cert;
    params.key_file = p.key;
    params.backoff_min_ms = 200;
    params.backoff_max_ms = 400;
    params.callbacks = &cb;
    assert_int_equal(dd_conn_create(&params, "test-client", NULL, &ev, 1, &conn), DD_CONN_OK);
    assert_int_equal(dd_conn_state(conn), DD_CONN_IDLE);
    assert_int_equal(dd_conn_fd(conn), -1);
    start = dd_clock_mono_ms();
    assert_int_equal(dd_conn_start(conn, start), DD_CONN_OK);
    while (ev.failures < 2 && dd_clock_mono_ms() - start < 5000) {
        struct pollfd pfd = {.fd = dd_conn_fd(conn), .events = POLLIN};
        int64_t now = dd_clock_mono_ms();
        int rc;

        if (now >= next) {
            next = dd_conn_tick(conn, now);
        }
        if (dd_conn_want_write(conn)) {
            pfd.events |= POLLOUT;
        }
        rc = poll(pfd.fd >= 0 ? &pfd : NULL, pfd.fd >= 0 ? 1 : 0, 50);
        polls++;
        if (rc > 0) {
            dd_conn_io(conn, (unsigned)pfd.revents, dd_clock_mono_ms());
        }
    }
    /* Two failed attempts, one backoff apart, without busy polling. */
    assert_int_equal(ev.failures, 2);
    assert_int_equal(ev.connects, 0);
    assert_true(dd_clock_mono_ms() - start >= 100);
    assert_true(polls < 100);
    assert_true(ev.retry_in_ms >= 100 && ev.retry_in_ms <= 400);
    assert_non_null(strstr(ev.text, "refused"));
    assert_int_equal(dd_conn_state(conn), DD_CONN_WAITING);
    assert_int_equal(dd_conn_fd(conn), -1);
    assert_int_equal(dd_conn_publish(conn, "t", "x", 1, 0, NULL), DD_CONN_NOT_CONNECTED);
    dd_conn_stop(conn, dd_clock_mono_ms());
    assert_int_equal(dd_conn_state(conn), DD_CONN_CLOSED);
    dd_conn_destroy(conn);
    assert_int_equal(dd_fs_remove_tree(p.dir), DD_FS_OK);
}

static void test_dd_conn_create_errors(void **state)
{
    pki_dir_t p;
    dd_conn_params_t params;
    dd_conn_t *conn = NULL;
    SSL_CTX *ctx = NULL;

    (void)state;
    make_pki(&p);
    memset(&params, 0, sizeof(params));
    params.host = "127.0.0.1";
    params.port = 8883;
    params.keepalive_s = 30;
    params.ca_file = p.ca;
    params.cert_file = "/nonexistent/cert.pem";
    params.key_file = p.key;
    assert_int_equal(dd_conn_create(&params, "c", NULL, NULL, 0, &conn), DD_CONN_TLS_ERROR);
    assert_null(conn);
    params.cert_file = p.cert;
    assert_int_equal(dd_conn_create(&params, "", NULL, NULL, 0, &conn), DD_CONN_BAD_PARAMETER);
    params.port = 0;
    assert_int_equal(dd_conn_create(&params, "c", NULL, NULL, 0, &conn), DD_CONN_BAD_PARAMETER);

    /* The shared context of a fleet: verification set up, bad CA refused. */
    assert_int_equal(dd_conn_ssl_ctx_new(p.ca, "127.0.0.1", "x-amzn-mqtt-ca", &ctx), DD_CONN_OK);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
    params.port = 8883;
    params.ssl_ctx = ctx;
    assert_int_equal(dd_conn_create(&params, "fleet-1", NULL, NULL, 0, &conn), DD_CONN_OK);
    dd_conn_destroy(conn);
    SSL_CTX_free(ctx);
    assert_int_equal(dd_conn_ssl_ctx_new("/nonexistent/ca.pem", "localhost", NULL, &ctx),
                     DD_CONN_TLS_ERROR);
    assert_null(ctx);
    assert_int_equal(dd_conn_ssl_ctx_new(NULL, "localhost", NULL, &ctx), DD_CONN_BAD_PARAMETER);
    assert_string_equal(dd_conn_state_name(DD_CONN_CONNECTED), "connected");
    assert_string_equal(dd_conn_strerror(DD_CONN_NOT_CONNECTED), "not connected");
    assert_int_equal(dd_fs_remove_tree(p.dir), DD_FS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_conn_backoff),
        cmocka_unit_test(test_dd_conn_split_endpoint),
        cmocka_unit_test(test_dd_conn_refused_then_backoff),
        cmocka_unit_test(test_dd_conn_create_errors),
    };
    int rc;

    dd_conn_lib_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    dd_conn_lib_cleanup();
    return rc;
}
