/*
 * dd_conn: libmosquitto in non-threaded mode behind a small state machine
 * (see dd_conn.h). libmosquitto reports every failure of an established or
 * half-established socket through on_disconnect (loop__handle_errors), so
 * that callback is the single place where a retry is scheduled; failures
 * before a socket exists come back from mosquitto_connect_async() itself.
 */
#include "dd_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_BACKOFF_MIN_MS 1000u
#define DEFAULT_BACKOFF_MAX_MS 32000u
#define DEFAULT_CONNECT_TIMEOUT_MS 30000u
#define MISC_PERIOD_MS 1000

struct dd_conn {
    const dd_conn_params_t *p;
    struct mosquitto *mosq;
    const dd_conn_identity_t *identity;
    void *ctx;
    char *client_id;
    dd_conn_state_t state;
    unsigned attempt;
    int64_t next_attempt_ms;
    int64_t deadline_ms;
    int64_t now_ms;
    uint64_t rng;
    bool was_connected;   /* CONNACK accepted on the current socket. */
    bool timed_out;       /* The current attempt was aborted by the connect timeout. */
    int connack_rc;       /* CONNACK refusal on the current socket. */
    char last_error[160]; /* libmosquitto's last error line (OpenSSL's reason). */
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ex_index = -1;
/*
 * The identity of the connection being started inside
 * mosquitto_connect_async(): the TLS handshake may reach the server's
 * certificate request before the call returns and the SSL object's ex_data
 * can be set. One thread drives all connections of a process, so one slot
 * is enough; it is set and cleared around the call.
 */
static __thread const dd_conn_identity_t *g_starting_identity;

/*
 * libmosquitto 2.0 opens a socketpair for every client (mosquitto_new(), and
 * in some versions again at each connect) only to wake up mosquitto_loop()
 * or its loop thread, neither of which this module uses; it logs a warning
 * and carries on when the pair cannot be made. Those two descriptors per connection
 * would cap a fleet at a third of the file-descriptor limit (20000 here:
 * 6600 devices instead of 19900), so socketpair() fails while this thread
 * is inside mosquitto_new() or mosquitto_connect_async() for a dd_conn, and
 * only then. The definition below interposes libc's for the whole process
 * (an executable exports the symbols its shared libraries reference); every
 * other caller gets the real system call.
 */
static __thread bool g_refuse_socketpair;

int socketpair(int domain, int type, int protocol, int sv[2])
{
    if (g_refuse_socketpair) {
        errno = EMFILE;
        return -1;
    }
    return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
}

static void init_once(void)
{
    (void)mosquitto_lib_init();
    (void)OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, NULL);
    g_ex_index = SSL_get_ex_new_index(0, (void *)"dd_conn identity", NULL, NULL, NULL);
}

void dd_conn_lib_init(void)
{
    (void)pthread_once(&g_once, init_once);
}

void dd_conn_lib_cleanup(void)
{
    (void)mosquitto_lib_cleanup();
}

/* ---- backoff -------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s == 0 ? 0x2545F4914F6CDD1DULL : *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

uint32_t dd_conn_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint64_t *rng)
{
    uint64_t step;
    uint64_t half;
    uint64_t dummy = 0;

    if (min_ms == 0) {
        min_ms = 1;
    }
    if (max_ms < min_ms) {
        max_ms = min_ms;
    }
    step = attempt >= 32 ? max_ms : (uint64_t)min_ms << attempt;
    if (step > max_ms) {
        step = max_ms;
    }
    half = step / 2;
    return (uint32_t)(half + xorshift(rng != NULL ? rng : &dummy) % (step - half + 1));
}

/* ---- TLS for many connections --------------------------------------------------- */

static int cert_cb(SSL *ssl, void *arg)
{
    const dd_conn_identity_t *id = SSL_get_ex_data(ssl, g_ex_index);
    const unsigned char *p;
    X509 *cert;
    EVP_PKEY *key;
    int ok;

    (void)arg;
    if (id == NULL) {
        id = g_starting_identity;
    }
    if (id == NULL || id->cert_der == NULL || id->key_der == NULL) {
        return 1; /* No certificate: the server decides. */
    }
    p = id->cert_der;
    cert = d2i_X509(NULL, &p, (long)id->cert_len);
    p = id->key_der;
    key = d2i_AutoPrivateKey(NULL, &p, (long)id->key_len);
    ok = cert != NULL && key != NULL && SSL_use_certificate(ssl, cert) == 1 &&
         SSL_use_PrivateKey(ssl, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok ? 1 : 0;
}

dd_conn_status_t dd_conn_ssl_ctx_new(const char *ca_file, const char *host, const char *alpn,
                                     SSL_CTX **out)
{
    SSL_CTX *ctx;
    X509_VERIFY_PARAM *vp;
    unsigned char addr[16];
    bool ok;

    if (ca_file == NULL || host == NULL || host[0] == '\0' || out == NULL) {
        return DD_CONN_BAD_PARAMETER;
    }
    *out = NULL;
    dd_conn_lib_init();
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return DD_CONN_NO_MEMORY;
    }
    ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
         SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    vp = SSL_CTX_get0_param(ctx);
    if (ok) {
        if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1;
        } else {
            ok = X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1;
        }
    }
    if (ok && alpn != NULL && alpn[0] != '\0') {
        unsigned char wire[256];
        size_t n = strlen(alpn);

        ok = n < 255;
        if (ok) {
            wire[0] = (unsigned char)n;
            memcpy(wire + 1, alpn, n);
            /* SSL_CTX_set_alpn_protos returns 0 on success. */
            ok = SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(n + 1)) == 0;
        }
    }
    if (!ok) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return DD_CONN_TLS_ERROR;
    }
    SSL_CTX_set_cert_cb(ctx, cert_cb, NULL);
    *out = ctx;
    return DD_CONN_OK;
}

/* ---- state machine ------------------------------------------------------------ */

static uint32_t backoff_min(const dd_conn_t *c)
{
    return c->p->backoff_min_ms ? c->p->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
}

static uint32_t backoff_max(const dd_conn_t *c)
{
    return c->p->backoff_max_ms ? c->p->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
}

static void notify_down(dd_conn_t *c, bool was_connected, int reason, const char *text,
                        int64_t retry_in_ms)
{
    if (c->p->callbacks != NULL && c->p->callbacks->on_disconnected != NULL) {
        c->p->callbacks->on_disconnected(c, c->ctx, was_connected, reason, text, retry_in_ms);
    }
}

/* The current attempt failed or the connection was lost: schedule the next one. */
static void lost(dd_conn_t *c, int rc)
{
    bool was = c->was_connected;
    const char *text;
    uint32_t delay;

    char detail[256];

    if (c->timed_out) {
        text = "connect timed out";
    } else if (c->connack_rc != 0) {
        text = mosquitto_connack_string(c->connack_rc);
        rc = c->connack_rc;
    } else if (rc == MOSQ_ERR_ERRNO && c->last_error[0] != '\0') {
        text = c->last_error;
    } else if (c->last_error[0] != '\0') {
        /* "A TLS error occurred." alone does not say which: add OpenSSL's reason. */
        (void)snprintf(detail, sizeof(detail), "%s %s", mosquitto_strerror(rc), c->last_error);
        text = detail;
    } else {
        text = mosquitto_strerror(rc);
    }
    delay = dd_conn_backoff_ms(c->attempt, backoff_min(c), backoff_max(c), &c->rng);
    if (c->attempt < 64) {
        c->attempt++;
    }
    c->state = DD_CONN_WAITING;
    c->next_attempt_ms = c->now_ms + delay;
    c->was_connected = false;
    c->timed_out = false;
    c->connack_rc = 0;
    notify_down(c, was, rc, text, delay);
    c->last_error[0] = '\0';
}

static void attempt(dd_conn_t *c)
{
    int rc;

    c->state = DD_CONN_CONNECTING;
    c->deadline_ms = c->now_ms + (c->p->connect_timeout_ms ? c->p->connect_timeout_ms
                                                           : DEFAULT_CONNECT_TIMEOUT_MS);
    c->was_connected = false;
    c->timed_out = false;
    c->connack_rc = 0;
    c->last_error[0] = '\0';
    g_starting_identity = c->identity;
    g_refuse_socketpair = true;
    rc = mosquitto_connect_async(c->mosq, c->p->host, c->p->port, c->p->keepalive_s);
    g_refuse_socketpair = false;
    g_starting_identity = NULL;
    if (rc != MOSQ_ERR_SUCCESS) {
        /* ECONNREFUSED and friends, before libmosquitto holds a socket. */
        lost(c, rc);
        return;
    }
    if (c->identity != NULL) {
        SSL *ssl = mosquitto_ssl_get(c->mosq);

        if (ssl != NULL) {
            (void)SSL_set_ex_data(ssl, g_ex_index, (void *)c->identity);
        }
    }
}

static void on_connect_cb(struct mosquitto *mosq, void *obj, int rc)
{
    dd_conn_t *c = obj;

    (void)mosq;
    if (rc != 0) {
        /* The broker closes the socket next; on_disconnect reports this code. */
        c->connack_rc = rc;
        return;
    }
    c->state = DD_CONN_CONNECTED;
    c->attempt = 0;
    c->was_connected = true;
    if (c->p->callbacks != NULL && c->p->callbacks->on_connected != NULL) {
        c->p->callbacks->on_connected(c, c->ctx);
    }
}

static void on_disconnect_cb(struct mosquitto *mosq, void *obj, int rc)
{
    dd_conn_t *c = obj;

    (void)mosq;
    if (c->state == DD_CONN_CLOSING || c->state == DD_CONN_CLOSED) {
        bool was = c->was_connected;

        c->state = DD_CONN_CLOSED;
        c->was_connected = false;
        notify_down(c, was, rc, rc == 0 ? "disconnected" : mosquitto_strerror(rc), -1);
        return;
    }
    if (c->state == DD_CONN_CONNECTING || c->state == DD_CONN_CONNECTED) {
        lost(c, rc == 0 ? MOSQ_ERR_CONN_LOST : rc);
    }
}

static void on_log_cb(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    dd_conn_t *c = obj;

    (void)mosq;
    if (level == MOSQ_LOG_ERR && str != NULL) {
        (void)snprintf(c->last_error, sizeof(c->last_error), "%s", str);
    }
}

static void on_message_cb(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    dd_conn_t *c = obj;

    (void)mosq;
    if (c->p->callbacks != NULL && c->p->callbacks->on_message != NULL && msg != NULL) {
        c->p->callbacks->on_message(c, c->ctx, msg->topic, msg->payload,
                                    msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    }
}

static void on_publish_cb(struct mosquitto *mosq, void *obj, int mid)
{
    dd_conn_t *c = obj;

    (void)mosq;
    if (c->p->callbacks != NULL && c->p->callbacks->on_published != NULL) {
        c->p->callbacks->on_published(c, c->ctx, mid);
    }
}

dd_conn_status_t dd_conn_create(const dd_conn_params_t *params, const char *client_id,
                                const dd_conn_identity_t *identity, void *ctx, uint64_t seed,
                                dd_conn_t **out)
{
    dd_conn_t *c;
    int rc = MOSQ_ERR_SUCCESS;

    if (out != NULL) {
        *out = NULL;
    }
    if (params == NULL || client_id == NULL || client_id[0] == '\0' || out == NULL ||
        params->host == NULL || params->host[0] == '\0' || params->port == 0 ||
        (params->ssl_ctx == NULL && params->ca_file == NULL)) {
        return DD_CONN_BAD_PARAMETER;
    }
    dd_conn_lib_init();
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_CONN_NO_MEMORY;
    }
    c->p = params;
    c->identity = identity;
    c->ctx = ctx;
    c->rng = seed;
    c->client_id = strdup(client_id);
    g_refuse_socketpair = true;
    c->mosq = mosquitto_new(client_id, params->clean_session, c);
    g_refuse_socketpair = false;
    if (c->client_id == NULL || c->mosq == NULL) {
        dd_conn_destroy(c);
        return DD_CONN_NO_MEMORY;
    }
    (void)mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->mosq, on_connect_cb);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect_cb);
    mosquitto_message_callback_set(c->mosq, on_message_cb);
    mosquitto_publish_callback_set(c->mosq, on_publish_cb);
    mosquitto_log_callback_set(c->mosq, on_log_cb);
    if (params->ssl_ctx != NULL) {
        rc = mosquitto_int_option(c->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (rc == MOSQ_ERR_SUCCESS) {
            rc = mosquitto_void_option(c->mosq, MOSQ_OPT_SSL_CTX, params->ssl_ctx);
        }
    } else {
        rc = mosquitto_tls_set(c->mosq, params->ca_file, NULL, params->cert_file, params->key_file,
                               NULL);
        if (rc == MOSQ_ERR_SUCCESS) {
            /* Verify the server's chain and name: the defaults, spelled out. */
            rc = mosquitto_tls_opts_set(c->mosq, 1, NULL, NULL);
        }
        if (rc == MOSQ_ERR_SUCCESS) {
            rc = mosquitto_tls_insecure_set(c->mosq, false);
        }
        if (rc == MOSQ_ERR_SUCCESS && params->alpn != NULL && params->alpn[0] != '\0') {
            rc = mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, params->alpn);
        }
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        dd_conn_destroy(c);
        return rc == MOSQ_ERR_NOMEM ? DD_CONN_NO_MEMORY : DD_CONN_TLS_ERROR;
    }
    c->state = DD_CONN_IDLE;
    *out = c;
    return DD_CONN_OK;
}

void dd_conn_destroy(dd_conn_t *conn)
{
    if (conn == NULL) {
        return;
    }
    if (conn->mosq != NULL) {
        /* No callbacks from here on: the owner is going away. */
        mosquitto_disconnect_callback_set(conn->mosq, NULL);
        mosquitto_destroy(conn->mosq);
    }
    free(conn->client_id);
    free(conn);
}

dd_conn_status_t dd_conn_start(dd_conn_t *conn, int64_t now_ms)
{
    if (conn == NULL) {
        return DD_CONN_BAD_PARAMETER;
    }
    conn->now_ms = now_ms;
    if (conn->state == DD_CONN_IDLE || conn->state == DD_CONN_CLOSED) {
        conn->attempt = 0;
        attempt(conn);
    }
    return DD_CONN_OK;
}

static bool has_live_socket(const dd_conn_t *c)
{
    return c->state == DD_CONN_CONNECTING || c->state == DD_CONN_CONNECTED ||
           c->state == DD_CONN_CLOSING;
}

int dd_conn_fd(const dd_conn_t *conn)
{
    /*
     * While waiting for the next attempt libmosquitto may still hold the
     * failed socket (it closes it at the next attempt): never expose it, a
     * socket in error would wake poll() for ever.
     */
    if (conn == NULL || !has_live_socket(conn)) {
        return -1;
    }
    return mosquitto_socket(conn->mosq);
}

/* The TLS handshake of the current attempt is still running. */
static bool handshaking(dd_conn_t *c)
{
    SSL *ssl = c->state == DD_CONN_CONNECTING ? mosquitto_ssl_get(c->mosq) : NULL;

    return ssl != NULL && !SSL_is_init_finished(ssl);
}

bool dd_conn_want_write(dd_conn_t *conn)
{
    if (dd_conn_fd(conn) < 0) {
        return false;
    }
    if (handshaking(conn)) {
        /*
         * libmosquitto's "want write" flag, once set by the handshake, stays
         * set until the first MQTT write, so polling on it would spin while
         * the server takes its time; OpenSSL knows whether the handshake is
         * waiting to write or to read.
         */
        return SSL_want_write(mosquitto_ssl_get(conn->mosq));
    }
    return mosquitto_want_write(conn->mosq);
}

/* After any libmosquitto call: a socket that vanished without a callback is a loss. */
static void check_socket(dd_conn_t *c, int rc)
{
    if (mosquitto_socket(c->mosq) < 0 &&
        (c->state == DD_CONN_CONNECTING || c->state == DD_CONN_CONNECTED)) {
        lost(c, rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc);
    } else if (mosquitto_socket(c->mosq) < 0 && c->state == DD_CONN_CLOSING) {
        c->state = DD_CONN_CLOSED;
    }
}

void dd_conn_io(dd_conn_t *conn, unsigned revents, int64_t now_ms)
{
    int rc = MOSQ_ERR_SUCCESS;
    bool hangup = (revents & (POLLHUP | POLLERR)) != 0;

    if (dd_conn_fd(conn) < 0) {
        return;
    }
    conn->now_ms = now_ms;
    if (conn->state == DD_CONN_CONNECTING && hangup) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(mosquitto_socket(conn->mosq), SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
            err != 0) {
            (void)snprintf(conn->last_error, sizeof(conn->last_error), "%s", strerror(err));
            lost(conn, MOSQ_ERR_ERRNO);
            return;
        }
    }
    if (handshaking(conn)) {
        /*
         * As mosquitto_loop() does: while the TLS handshake runs, readable
         * *and* writable both go to the handshake. libmosquitto 2.0's
         * loop_read() continues it, loop_write() does not, so a ClientHello
         * that met a full or still-connecting socket would never be sent.
         */
        rc = mosquitto_loop_read(conn->mosq, 1);
    } else {
        if ((revents & POLLOUT) != 0) {
            rc = mosquitto_loop_write(conn->mosq, 1);
        }
        if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && mosquitto_socket(conn->mosq) >= 0) {
            rc = mosquitto_loop_read(conn->mosq, 1);
        }
    }
    check_socket(conn, rc);
    if (conn->state == DD_CONN_CONNECTING && hangup) {
        /*
         * A refused or reset non-blocking connect: OpenSSL met the error on
         * its first write (so SO_ERROR is clear by now) and libmosquitto
         * takes SSL_ERROR_SYSCALL during the handshake for "try again", so
         * it would spin on the dead socket until the connect timeout.
         */
        if (conn->last_error[0] == '\0') {
            (void)snprintf(conn->last_error, sizeof(conn->last_error),
                           "connection refused or closed before the handshake completed");
        }
        lost(conn, MOSQ_ERR_ERRNO);
    }
}

/* Aborts a hung attempt: after shutdown() the next read sees EOF and fails. */
static void abort_attempt(dd_conn_t *c)
{
    int fd = mosquitto_socket(c->mosq);
    int rc;

    c->timed_out = true;
    if (fd < 0) {
        lost(c, MOSQ_ERR_CONN_LOST);
        return;
    }
    (void)shutdown(fd, SHUT_RDWR);
    rc = mosquitto_loop_read(c->mosq, 1);
    if (c->state == DD_CONN_CONNECTING) {
        /* Still no callback (EAGAIN on a half-dead socket): give up on it here. */
        if (mosquitto_socket(c->mosq) >= 0) {
            (void)mosquitto_loop_write(c->mosq, 1);
        }
        if (c->state == DD_CONN_CONNECTING) {
            lost(c, rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc);
        }
    }
}

int64_t dd_conn_tick(dd_conn_t *conn, int64_t now_ms)
{
    if (conn == NULL) {
        return now_ms + MISC_PERIOD_MS;
    }
    conn->now_ms = now_ms;
    switch (conn->state) {
    case DD_CONN_WAITING:
        if (now_ms >= conn->next_attempt_ms) {
            attempt(conn);
        }
        break;
    case DD_CONN_CONNECTING:
        if (now_ms >= conn->deadline_ms) {
            abort_attempt(conn);
        }
        break;
    case DD_CONN_CONNECTED:
    case DD_CONN_CLOSING:
        (void)mosquitto_loop_misc(conn->mosq);
        check_socket(conn, MOSQ_ERR_SUCCESS);
        break;
    case DD_CONN_IDLE:
    case DD_CONN_CLOSED: break;
    }
    switch (conn->state) {
    case DD_CONN_WAITING: return conn->next_attempt_ms;
    case DD_CONN_CONNECTING:
        return conn->deadline_ms < now_ms + MISC_PERIOD_MS ? conn->deadline_ms
                                                           : now_ms + MISC_PERIOD_MS;
    default: return now_ms + MISC_PERIOD_MS;
    }
}

dd_conn_status_t dd_conn_publish(dd_conn_t *conn, const char *topic, const void *payload,
                                 size_t len, int qos, int *mid)
{
    int rc;

    if (conn == NULL || topic == NULL || (payload == NULL && len > 0) || len > 268435455u ||
        qos < 0 || qos > 2) {
        return DD_CONN_BAD_PARAMETER;
    }
    if (conn->state != DD_CONN_CONNECTED) {
        return DD_CONN_NOT_CONNECTED;
    }
    rc = mosquitto_publish(conn->mosq, mid, topic, (int)len, payload, qos, false);
    if (rc == MOSQ_ERR_NO_CONN) {
        return DD_CONN_NOT_CONNECTED;
    }
    check_socket(conn, rc);
    return rc == MOSQ_ERR_SUCCESS ? DD_CONN_OK : DD_CONN_MQTT_ERROR;
}

dd_conn_status_t dd_conn_subscribe(dd_conn_t *conn, const char *const *filters, int count, int qos)
{
    int rc;

    if (conn == NULL || filters == NULL || count <= 0 || qos < 0 || qos > 2) {
        return DD_CONN_BAD_PARAMETER;
    }
    if (conn->state != DD_CONN_CONNECTED) {
        return DD_CONN_NOT_CONNECTED;
    }
    rc = mosquitto_subscribe_multiple(conn->mosq, NULL, count, (char *const *const)filters, qos, 0,
                                      NULL);
    check_socket(conn, rc);
    return rc == MOSQ_ERR_SUCCESS ? DD_CONN_OK : DD_CONN_MQTT_ERROR;
}

void dd_conn_stop(dd_conn_t *conn, int64_t now_ms)
{
    if (conn == NULL) {
        return;
    }
    conn->now_ms = now_ms;
    switch (conn->state) {
    case DD_CONN_CONNECTED:
        conn->state = DD_CONN_CLOSING;
        if (mosquitto_disconnect(conn->mosq) != MOSQ_ERR_SUCCESS) {
            conn->state = DD_CONN_CLOSED;
        }
        check_socket(conn, MOSQ_ERR_SUCCESS);
        break;
    case DD_CONN_CONNECTING:
        conn->state = DD_CONN_CLOSED;
        if (mosquitto_socket(conn->mosq) >= 0) {
            (void)shutdown(mosquitto_socket(conn->mosq), SHUT_RDWR);
            (void)mosquitto_loop_read(conn->mosq, 1);
        }
        break;
    case DD_CONN_IDLE:
    case DD_CONN_WAITING: conn->state = DD_CONN_CLOSED; break;
    case DD_CONN_CLOSING:
    case DD_CONN_CLOSED: break;
    }
}

dd_conn_state_t dd_conn_state(const dd_conn_t *conn)
{
    return conn == NULL ? DD_CONN_CLOSED : conn->state;
}

const char *dd_conn_client_id(const dd_conn_t *conn)
{
    return conn == NULL ? "" : conn->client_id;
}

unsigned dd_conn_attempts(const dd_conn_t *conn)
{
    return conn == NULL ? 0 : conn->attempt;
}

static bool parse_port(const char *s, uint16_t *port)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < 1 || v > 65535) {
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

dd_conn_status_t dd_conn_split_endpoint(const char *endpoint, char *host, size_t host_len,
                                        uint16_t *port)
{
    const char *colon;
    const char *start = endpoint;
    size_t n;

    if (endpoint == NULL || host == NULL || port == NULL || host_len == 0) {
        return DD_CONN_BAD_PARAMETER;
    }
    *port = 0;
    host[0] = '\0';
    colon = strrchr(endpoint, ':');
    if (endpoint[0] == '[') {
        const char *close = strchr(endpoint, ']');

        if (close == NULL || (close[1] != '\0' && close[1] != ':') ||
            (close[1] == ':' && !parse_port(close + 2, port))) {
            return DD_CONN_BAD_PARAMETER;
        }
        start = endpoint + 1;
        n = (size_t)(close - start);
    } else if (colon != NULL && strchr(endpoint, ':') == colon) {
        if (!parse_port(colon + 1, port)) {
            return DD_CONN_BAD_PARAMETER;
        }
        n = (size_t)(colon - endpoint);
    } else {
        /* No colon, or several: a host name or a bare IPv6 address. */
        n = strlen(endpoint);
    }
    if (n == 0 || n >= host_len) {
        *port = 0;
        return DD_CONN_BAD_PARAMETER;
    }
    memcpy(host, start, n);
    host[n] = '\0';
    return DD_CONN_OK;
}

const char *dd_conn_strerror(dd_conn_status_t status)
{
    switch (status) {
    case DD_CONN_OK: return "ok";
    case DD_CONN_BAD_PARAMETER: return "bad parameter";
    case DD_CONN_NO_MEMORY: return "out of memory";
    case DD_CONN_TLS_ERROR: return "TLS credentials could not be loaded";
    case DD_CONN_NOT_CONNECTED: return "not connected";
    case DD_CONN_MQTT_ERROR: return "MQTT operation refused";
    }
    return "unknown status";
}

const char *dd_conn_state_name(dd_conn_state_t state)
{
    switch (state) {
    case DD_CONN_IDLE: return "idle";
    case DD_CONN_WAITING: return "waiting";
    case DD_CONN_CONNECTING: return "connecting";
    case DD_CONN_CONNECTED: return "connected";
    case DD_CONN_CLOSING: return "closing";
    case DD_CONN_CLOSED: return "closed";
    }
    return "unknown";
}
