#include "dd_testmqtt.h"

#include "dd_clock.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

const char *dd_testmqtt_strerror(dd_testmqtt_status_t status)
{
    switch (status) {
    case DD_TESTMQTT_OK: return "ok";
    case DD_TESTMQTT_BAD_PARAMETER: return "bad parameter";
    case DD_TESTMQTT_NO_MEMORY: return "out of memory";
    case DD_TESTMQTT_FAILED: return "failed";
    case DD_TESTMQTT_TIMEOUT: return "timed out";
    case DD_TESTMQTT_DISCONNECTED: return "not connected";
    }
    return "unknown testmqtt status";
}

struct dd_testmqtt {
    struct mosquitto *mosq;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint16_t port;
    int keepalive_s;
    bool ever_connected;
    bool stop;
    bool connected;
    bool closed;
    bool got_connack;
    int connack;
    int sub_mid;
    bool sub_done;
    int sub_granted;
    uint8_t pending[8192]; /* QoS 1 mids waiting for their PUBACK */
    uint8_t acked[8192];
    int puback_reason;     /* reason code of the last PUBACK (MQTT 5; 0 for 3.1.1) */
    int disconnect_reason; /* of the last disconnect: MQTT 5 DISCONNECT reason, else rc */
    dd_testmqtt_msg_t *head;
    dd_testmqtt_msg_t *tail;
};

static bool bit_get(const uint8_t *map, int mid)
{
    return (map[(mid & 0xffff) >> 3] >> (mid & 7)) & 1;
}

static void bit_set(uint8_t *map, int mid, bool on)
{
    if (on) {
        map[(mid & 0xffff) >> 3] |= (uint8_t)(1u << (mid & 7));
    } else {
        map[(mid & 0xffff) >> 3] &= (uint8_t) ~(1u << (mid & 7));
    }
}

/* Waits on the client's condition until @p deadline; lock held. false once past it. */
static bool cond_wait_until(dd_testmqtt_t *c, int64_t deadline)
{
    struct timespec ts;
    int64_t left = deadline - dd_clock_mono_ms();

    if (left <= 0) {
        return false;
    }
    if (left > 100) {
        left = 100;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    return true;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    dd_testmqtt_t *c = obj;

    (void)mosq;
    pthread_mutex_lock(&c->lock);
    c->got_connack = true;
    c->connack = rc;
    c->connected = rc == 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* The v5 callbacks serve 3.1.1 clients too (reason 0); they also carry MQTT 5 reason codes. */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    dd_testmqtt_t *c = obj;

    (void)mosq;
    (void)props;
    pthread_mutex_lock(&c->lock);
    c->disconnect_reason = rc;
    c->connected = false;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    dd_testmqtt_t *c = obj;

    (void)mosq;
    (void)props;
    pthread_mutex_lock(&c->lock);
    c->puback_reason = reason;
    if (bit_get(c->pending, mid)) {
        bit_set(c->pending, mid, false);
        bit_set(c->acked, mid, true);
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted)
{
    dd_testmqtt_t *c = obj;

    (void)mosq;
    pthread_mutex_lock(&c->lock);
    if (mid == c->sub_mid) {
        c->sub_granted = count > 0 ? granted[0] : 128;
        c->sub_done = true;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    dd_testmqtt_t *c = obj;
    size_t tlen = strlen(msg->topic);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    dd_testmqtt_msg_t *m = calloc(1, sizeof(*m) + tlen + 1 + plen + 1);

    (void)mosq;
    if (m == NULL) {
        fprintf(stderr, "testmqtt: out of memory receiving a message on %s\n", msg->topic);
        return;
    }
    m->topic = (char *)(m + 1);
    memcpy(m->topic, msg->topic, tlen + 1);
    m->payload = (uint8_t *)m->topic + tlen + 1;
    if (plen > 0) {
        memcpy(m->payload, msg->payload, plen);
    }
    m->len = plen;
    m->qos = msg->qos;
    m->mono_ms = dd_clock_mono_ms();
    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL) {
        c->tail->next = m;
    } else {
        c->head = m;
    }
    c->tail = m;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void *network(void *arg)
{
    dd_testmqtt_t *c = arg;

    for (;;) {
        bool stop;

        pthread_mutex_lock(&c->lock);
        stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop || mosquitto_loop(c->mosq, 20, 1) != MOSQ_ERR_SUCCESS) {
            break; /* no automatic reconnection: tests want to see disconnects */
        }
    }
    pthread_mutex_lock(&c->lock);
    c->connected = false;
    c->closed = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void lib_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    (void)pthread_once(&once, (void (*)(void))mosquitto_lib_init);
}

dd_testmqtt_status_t dd_testmqtt_new(const dd_testmqtt_config_t *cfg, dd_testmqtt_t **out)
{
    dd_testmqtt_t *c;
    pthread_condattr_t ca;

    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || cfg->client_id == NULL || cfg->port == 0 || out == NULL ||
        cfg->keepalive_s < 0 ||
        (cfg->root_ca != NULL && (cfg->cert == NULL) != (cfg->key == NULL))) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    lib_init();
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_TESTMQTT_NO_MEMORY;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->port = cfg->port;
    c->keepalive_s = cfg->keepalive_s > 0 ? cfg->keepalive_s : 60;
    c->mosq = mosquitto_new(cfg->client_id, cfg->clean_session, c);
    if (c->mosq == NULL) {
        dd_testmqtt_destroy(c);
        return DD_TESTMQTT_NO_MEMORY;
    }
    /* Our own network thread: publish/subscribe from the test thread only queue packets. */
    (void)mosquitto_threaded_set(c->mosq, true);
    if (cfg->tcp_nodelay) {
        /* Without it Nagle and delayed ACKs cost ~40 ms per QoS 1 round trip. */
        (void)mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    }
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_message_callback_set(c->mosq, on_message);
    if (cfg->root_ca != NULL && mosquitto_tls_set(c->mosq, cfg->root_ca, NULL, cfg->cert, cfg->key,
                                                  NULL) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "testmqtt: TLS credentials not usable (%s, %s, %s)\n", cfg->root_ca,
                cfg->cert != NULL ? cfg->cert : "-", cfg->key != NULL ? cfg->key : "-");
        dd_testmqtt_destroy(c);
        return DD_TESTMQTT_FAILED;
    }
    *out = c;
    return DD_TESTMQTT_OK;
}

dd_testmqtt_status_t dd_testmqtt_use_alpn(dd_testmqtt_t *c, uint16_t port, const char *alpn)
{
    if (c == NULL || port == 0 || alpn == NULL || c->ever_connected) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    if (mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, alpn) != MOSQ_ERR_SUCCESS) {
        return DD_TESTMQTT_FAILED;
    }
    c->port = port;
    return DD_TESTMQTT_OK;
}

dd_testmqtt_status_t dd_testmqtt_use_v5(dd_testmqtt_t *c)
{
    if (c == NULL || c->ever_connected) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    return mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) ==
                   MOSQ_ERR_SUCCESS
               ? DD_TESTMQTT_OK
               : DD_TESTMQTT_FAILED;
}

int dd_testmqtt_puback_reason(dd_testmqtt_t *c)
{
    int reason;

    if (c == NULL) {
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    reason = c->puback_reason;
    pthread_mutex_unlock(&c->lock);
    return reason;
}

int dd_testmqtt_disconnect_reason(dd_testmqtt_t *c)
{
    int reason;

    if (c == NULL) {
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    reason = c->disconnect_reason;
    pthread_mutex_unlock(&c->lock);
    return reason;
}

static void join_network(dd_testmqtt_t *c)
{
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_mutex_unlock(&c->lock);
        (void)pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
}

int dd_testmqtt_connect(dd_testmqtt_t *c, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    int rc;
    int result = -1;

    if (c == NULL) {
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    if (c->connected) {
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    pthread_mutex_unlock(&c->lock);
    join_network(c);
    pthread_mutex_lock(&c->lock);
    c->got_connack = false;
    c->disconnect_reason = 0;
    c->connack = -1;
    c->closed = false;
    c->stop = false;
    pthread_mutex_unlock(&c->lock);
    rc = c->ever_connected ? mosquitto_reconnect(c->mosq)
                           : mosquitto_connect(c->mosq, "127.0.0.1", c->port, c->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* With a blocking connect, a refused TLS handshake shows up here. */
        c->ever_connected = true;
        return -1;
    }
    c->ever_connected = true;
    if (pthread_create(&c->thread, NULL, network, c) != 0) {
        return -1;
    }
    c->thread_started = true;
    pthread_mutex_lock(&c->lock);
    while (!c->got_connack && !c->closed && cond_wait_until(c, deadline)) {
    }
    if (c->got_connack) {
        result = c->connack;
    }
    pthread_mutex_unlock(&c->lock);
    return result;
}

dd_testmqtt_status_t dd_testmqtt_subscribe(dd_testmqtt_t *c, const char *filter, int qos,
                                           int timeout_ms, int *granted)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_testmqtt_status_t st = DD_TESTMQTT_TIMEOUT;
    int mid = 0;

    if (c == NULL || filter == NULL) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->connected) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTMQTT_DISCONNECTED;
    }
    /* Lock held across the call: the SUBACK cannot be handled before sub_mid is known. */
    if (mosquitto_subscribe(c->mosq, &mid, filter, qos) != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTMQTT_FAILED;
    }
    c->sub_mid = mid;
    c->sub_done = false;
    while (!c->sub_done && c->connected && cond_wait_until(c, deadline)) {
    }
    if (c->sub_done) {
        st = DD_TESTMQTT_OK;
        if (granted != NULL) {
            *granted = c->sub_granted;
        }
    } else if (!c->connected) {
        st = DD_TESTMQTT_DISCONNECTED;
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

dd_testmqtt_status_t dd_testmqtt_publish(dd_testmqtt_t *c, const char *topic, const void *payload,
                                         size_t len, int qos, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_testmqtt_status_t st = DD_TESTMQTT_TIMEOUT;
    int mid = 0;
    int rc;

    if (c == NULL || topic == NULL || (payload == NULL && len > 0) || len > (64u << 20) ||
        qos < 0 || qos > 1) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->connected) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTMQTT_DISCONNECTED;
    }
    /* Lock held across the call: the PUBACK cannot be handled before the mid is pending. */
    rc = mosquitto_publish(c->mosq, &mid, topic, (int)len, payload, qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST ? DD_TESTMQTT_DISCONNECTED
                                                                  : DD_TESTMQTT_FAILED;
    }
    if (qos == 0) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTMQTT_OK;
    }
    bit_set(c->acked, mid, false);
    bit_set(c->pending, mid, true);
    while (!bit_get(c->acked, mid) && c->connected && cond_wait_until(c, deadline)) {
    }
    if (bit_get(c->acked, mid)) {
        st = DD_TESTMQTT_OK;
    } else if (!c->connected) {
        st = DD_TESTMQTT_DISCONNECTED;
    }
    bit_set(c->acked, mid, false);
    bit_set(c->pending, mid, false);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static bool matches(const char *filter, const char *topic)
{
    bool result = false;

    if (filter == NULL) {
        return true;
    }
    return mosquitto_topic_matches_sub(filter, topic, &result) == MOSQ_ERR_SUCCESS && result;
}

dd_testmqtt_status_t dd_testmqtt_wait_message(dd_testmqtt_t *c, const char *filter, int timeout_ms,
                                              dd_testmqtt_msg_t **out)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    if (c == NULL || out == NULL) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    *out = NULL;
    pthread_mutex_lock(&c->lock);
    do {
        dd_testmqtt_msg_t *prev = NULL;
        dd_testmqtt_msg_t *m;

        for (m = c->head; m != NULL; prev = m, m = m->next) {
            if (matches(filter, m->topic)) {
                if (prev != NULL) {
                    prev->next = m->next;
                } else {
                    c->head = m->next;
                }
                if (c->tail == m) {
                    c->tail = prev;
                }
                m->next = NULL;
                *out = m;
                pthread_mutex_unlock(&c->lock);
                return DD_TESTMQTT_OK;
            }
        }
    } while (cond_wait_until(c, deadline));
    pthread_mutex_unlock(&c->lock);
    return DD_TESTMQTT_TIMEOUT;
}

size_t dd_testmqtt_take(dd_testmqtt_t *c, int timeout_ms, dd_testmqtt_msg_t **head)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_testmqtt_msg_t *m;
    size_t n = 0;

    if (head != NULL) {
        *head = NULL;
    }
    if (c == NULL || head == NULL) {
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    while (c->head == NULL && cond_wait_until(c, deadline)) {
    }
    *head = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->lock);
    for (m = *head; m != NULL; m = m->next) {
        n++;
    }
    return n;
}

size_t dd_testmqtt_queued(dd_testmqtt_t *c, const char *filter)
{
    const dd_testmqtt_msg_t *m;
    size_t n = 0;

    if (c == NULL) {
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    for (m = c->head; m != NULL; m = m->next) {
        if (matches(filter, m->topic)) {
            n++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

dd_testmqtt_status_t dd_testmqtt_will(dd_testmqtt_t *c, const char *topic, const char *payload,
                                      int qos)
{
    if (c == NULL || topic == NULL || payload == NULL || c->ever_connected) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    return mosquitto_will_set(c->mosq, topic, (int)strlen(payload), payload, qos, false) ==
                   MOSQ_ERR_SUCCESS
               ? DD_TESTMQTT_OK
               : DD_TESTMQTT_FAILED;
}

dd_testmqtt_status_t dd_testmqtt_drop(dd_testmqtt_t *c, int timeout_ms)
{
    int fd;

    if (c == NULL) {
        return DD_TESTMQTT_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    fd = c->connected ? mosquitto_socket(c->mosq) : -1;
    /* shutdown() (not close()): the network thread still owns the descriptor. */
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->lock);
    if (fd < 0) {
        return DD_TESTMQTT_DISCONNECTED;
    }
    return dd_testmqtt_wait_disconnect(c, timeout_ms) ? DD_TESTMQTT_OK : DD_TESTMQTT_TIMEOUT;
}

bool dd_testmqtt_wait_disconnect(dd_testmqtt_t *c, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    bool closed;

    if (c == NULL) {
        return true;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->closed && c->thread_started && cond_wait_until(c, deadline)) {
    }
    closed = c->closed || !c->thread_started;
    pthread_mutex_unlock(&c->lock);
    return closed;
}

bool dd_testmqtt_connected(dd_testmqtt_t *c)
{
    bool connected;

    if (c == NULL) {
        return false;
    }
    pthread_mutex_lock(&c->lock);
    connected = c->connected;
    pthread_mutex_unlock(&c->lock);
    return connected;
}

void dd_testmqtt_msg_free(dd_testmqtt_msg_t *head)
{
    while (head != NULL) {
        dd_testmqtt_msg_t *next = head->next;

        free(head);
        head = next;
    }
}

void dd_testmqtt_destroy(dd_testmqtt_t *c)
{
    if (c == NULL) {
        return;
    }
    if (c->mosq != NULL && dd_testmqtt_connected(c)) {
        /* The network thread sends the DISCONNECT; it ends when the broker closes. */
        (void)mosquitto_disconnect(c->mosq);
        (void)dd_testmqtt_wait_disconnect(c, 3000);
    }
    join_network(c);
    if (c->mosq != NULL) {
        mosquitto_destroy(c->mosq);
    }
    dd_testmqtt_msg_free(c->head);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
