#include "dd_svcmqtt.h"

#include "dd_log.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* PUBACKs we are waiting for; small, the service waits on few at a time. */
#define MAX_WAITERS 64

/*
 * QoS 1 publishes awaiting their PUBACK before libmosquitto holds the next
 * ones back. Not unlimited: libmosquitto 2.0 walks its whole list of
 * unacknowledged messages on every publish and on every PUBACK
 * (message__release_to_inflight), so with no limit a batch of a thousand
 * replies cost O(n^2) list steps - a third of ddlocald's CPU at ~10,000
 * reports/s (bench_ingest). With a window each walk stops at the window;
 * 256 replies in flight is far more than the broker's PUBACK round trip
 * needs at that rate, so replies and alerts are not throttled.
 */
#define INFLIGHT_WINDOW 256

struct dd_svcmqtt {
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t queue_cond; /* signalled when messages arrive or room frees up */
    pthread_cond_t ack_cond;   /* signalled on PUBACK and on (re)connect */
    dd_svcmqtt_msg_t *head;
    dd_svcmqtt_msg_t *tail;
    size_t queued;
    size_t queue_limit;
    bool ready; /* connected and SUBACK received */
    bool stopping;
    bool woken;
    int ack_waiters; /* threads in publish_wait(): the queue must not block then */
    int suback_mid;
    int waiting_mids[MAX_WAITERS]; /* mid, or 0 when the slot is free / acknowledged */
    char **subscriptions;
    size_t subscription_count;
};

static void deadline_in(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    dd_svcmqtt_t *m = obj;
    int mid = 0;
    int src;
    bool stopping;

    if (rc != 0) {
        DD_LOG_WARN("broker refused the service connection: %s", mosquitto_connack_string(rc));
        return;
    }
    pthread_mutex_lock(&m->lock);
    stopping = m->stopping;
    pthread_mutex_unlock(&m->lock);
    if (stopping) {
        /* A reconnect that raced dd_svcmqtt_destroy's disconnect: end it, or the unforced
         * loop_stop there would wait for a connection nobody closes. */
        (void)mosquitto_disconnect(mosq);
        return;
    }
    src = mosquitto_subscribe_multiple(mosq, &mid, (int)m->subscription_count, m->subscriptions, 1,
                                       0, NULL);
    if (src != MOSQ_ERR_SUCCESS) {
        DD_LOG_ERROR("cannot subscribe: %s", mosquitto_strerror(src));
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->suback_mid = mid;
    pthread_mutex_unlock(&m->lock);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted)
{
    dd_svcmqtt_t *m = obj;
    int i;

    (void)mosq;
    for (i = 0; i < qos_count; i++) {
        if (granted[i] > 2) {
            DD_LOG_ERROR("broker refused the subscription to %s", m->subscriptions[i]);
        }
    }
    pthread_mutex_lock(&m->lock);
    if (mid == m->suback_mid) {
        m->ready = true;
        pthread_cond_broadcast(&m->ack_cond);
    }
    pthread_mutex_unlock(&m->lock);
    DD_LOG_INFO("connected to the broker");
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    dd_svcmqtt_t *m = obj;

    (void)mosq;
    pthread_mutex_lock(&m->lock);
    m->ready = false;
    pthread_mutex_unlock(&m->lock);
    if (rc != 0 && !m->stopping) {
        DD_LOG_WARN("lost the broker connection (%s); reconnecting", mosquitto_strerror(rc));
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    dd_svcmqtt_t *m = obj;
    int i;

    (void)mosq;
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < MAX_WAITERS; i++) {
        if (m->waiting_mids[i] == mid) {
            m->waiting_mids[i] = -1; /* acknowledged */
            pthread_cond_broadcast(&m->ack_cond);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    dd_svcmqtt_t *m = obj;
    size_t tlen = strlen(msg->topic);
    dd_svcmqtt_msg_t *item;

    (void)mosq;
    /* One allocation: header, topic, payload (+NUL so text decoders may peek safely). */
    item = malloc(sizeof(*item) + tlen + 1 + (size_t)msg->payloadlen + 1);
    if (item == NULL) {
        DD_LOG_ERROR("out of memory: dropped a message on %s", msg->topic);
        return;
    }
    item->next = NULL;
    item->topic = (char *)(item + 1);
    memcpy(item->topic, msg->topic, tlen + 1);
    item->payload = (uint8_t *)item->topic + tlen + 1;
    if (msg->payloadlen > 0) {
        memcpy(item->payload, msg->payload, (size_t)msg->payloadlen);
    }
    item->payload[msg->payloadlen] = '\0';
    item->len = (size_t)msg->payloadlen;
    item->qos = msg->qos;
    pthread_mutex_lock(&m->lock);
    /*
     * A full queue makes this (the network) thread wait, so the broker keeps
     * the backlog. Not while someone waits for a PUBACK: that PUBACK is read
     * by this very thread, and the waiter may be the one draining the queue.
     */
    while (m->queued >= m->queue_limit && !m->stopping && m->ack_waiters == 0) {
        pthread_cond_wait(&m->queue_cond, &m->lock);
    }
    if (m->tail != NULL) {
        m->tail->next = item;
    } else {
        m->head = item;
    }
    m->tail = item;
    m->queued++;
    pthread_cond_broadcast(&m->queue_cond);
    pthread_mutex_unlock(&m->lock);
}

dd_svcmqtt_status_t dd_svcmqtt_create(const dd_svcmqtt_params_t *p, dd_svcmqtt_t **out)
{
    dd_svcmqtt_t *m;
    size_t i;
    int rc;

    if (p == NULL || out == NULL || p->host == NULL || p->client_id == NULL || p->ca_file == NULL ||
        p->cert_file == NULL || p->key_file == NULL ||
        (p->subscription_count > 0 && p->subscriptions == NULL)) {
        return DD_SVCMQTT_BAD_PARAMETER;
    }
    *out = NULL;
    mosquitto_lib_init();
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return DD_SVCMQTT_NO_MEMORY;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->queue_cond, NULL);
    pthread_cond_init(&m->ack_cond, NULL);
    m->queue_limit = p->queue_limit > 0 ? p->queue_limit : 65536;
    m->subscriptions = calloc(p->subscription_count + 1, sizeof(char *));
    m->subscription_count = p->subscription_count;
    for (i = 0; m->subscriptions != NULL && i < p->subscription_count; i++) {
        m->subscriptions[i] = strdup(p->subscriptions[i]);
        if (m->subscriptions[i] == NULL) {
            dd_svcmqtt_destroy(m);
            return DD_SVCMQTT_NO_MEMORY;
        }
    }
    m->mosq = mosquitto_new(p->client_id, p->clean_session, m);
    if (m->subscriptions == NULL || m->mosq == NULL) {
        dd_svcmqtt_destroy(m);
        return DD_SVCMQTT_NO_MEMORY;
    }
    (void)mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    (void)mosquitto_max_inflight_messages_set(m->mosq, INFLIGHT_WINDOW);
    /*
     * No Nagle: every message here is a small write that someone waits for
     * (a reply, an alert, a $CONTROL change whose PUBACK an API call awaits).
     * With Nagle on, a publish written while our previous PUBACK is still
     * unacknowledged waited for the broker's delayed ACK: 40 ms per hop
     * (bench_detection). The broker side already runs set_tcp_nodelay.
     */
    (void)mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_message_callback_set(m->mosq, on_message);
    (void)mosquitto_reconnect_delay_set(m->mosq, 1, 10, true);
    rc = mosquitto_tls_set(m->mosq, p->ca_file, NULL, p->cert_file, p->key_file, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        DD_LOG_ERROR("TLS credentials %s / %s: %s", p->cert_file, p->key_file,
                     mosquitto_strerror(rc));
        dd_svcmqtt_destroy(m);
        return DD_SVCMQTT_TLS_ERROR;
    }
    rc = mosquitto_connect_async(m->mosq, p->host, p->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* The loop thread keeps retrying; an unreachable broker is not fatal here. */
        DD_LOG_WARN("connecting to %s:%u: %s", p->host, (unsigned)p->port, mosquitto_strerror(rc));
    }
    rc = mosquitto_loop_start(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        DD_LOG_ERROR("cannot start the MQTT thread: %s", mosquitto_strerror(rc));
        dd_svcmqtt_destroy(m);
        return DD_SVCMQTT_MQTT_ERROR;
    }
    *out = m;
    return DD_SVCMQTT_OK;
}

dd_svcmqtt_status_t dd_svcmqtt_wait_ready(dd_svcmqtt_t *m, int timeout_ms)
{
    struct timespec deadline;
    int rc = 0;

    if (m == NULL) {
        return DD_SVCMQTT_BAD_PARAMETER;
    }
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (!m->ready && rc == 0) {
        rc = pthread_cond_timedwait(&m->ack_cond, &m->lock, &deadline);
    }
    rc = m->ready ? 0 : 1;
    pthread_mutex_unlock(&m->lock);
    return rc == 0 ? DD_SVCMQTT_OK : DD_SVCMQTT_TIMEOUT;
}

bool dd_svcmqtt_connected(dd_svcmqtt_t *m)
{
    bool ready;

    if (m == NULL) {
        return false;
    }
    pthread_mutex_lock(&m->lock);
    ready = m->ready;
    pthread_mutex_unlock(&m->lock);
    return ready;
}

size_t dd_svcmqtt_take(dd_svcmqtt_t *m, size_t max, int timeout_ms, dd_svcmqtt_msg_t **head)
{
    struct timespec deadline;
    dd_svcmqtt_msg_t *first;
    dd_svcmqtt_msg_t *last = NULL;
    size_t n = 0;

    if (head != NULL) {
        *head = NULL;
    }
    if (m == NULL || head == NULL || max == 0) {
        return 0;
    }
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (m->head == NULL && !m->woken && !m->stopping) {
        if (pthread_cond_timedwait(&m->queue_cond, &m->lock, &deadline) != 0) {
            break;
        }
    }
    m->woken = false;
    first = m->head;
    while (m->head != NULL && n < max) {
        last = m->head;
        m->head = m->head->next;
        n++;
    }
    if (last != NULL) {
        last->next = NULL;
    }
    if (m->head == NULL) {
        m->tail = NULL;
    }
    m->queued -= n;
    if (n > 0) {
        pthread_cond_broadcast(&m->queue_cond); /* room for a waiting network thread */
    }
    pthread_mutex_unlock(&m->lock);
    *head = n > 0 ? first : NULL;
    return n;
}

void dd_svcmqtt_msg_free(dd_svcmqtt_msg_t *head)
{
    while (head != NULL) {
        dd_svcmqtt_msg_t *next = head->next;
        free(head);
        head = next;
    }
}

void dd_svcmqtt_wake(dd_svcmqtt_t *m)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->woken = true;
    pthread_cond_broadcast(&m->queue_cond);
    pthread_mutex_unlock(&m->lock);
}

dd_svcmqtt_status_t dd_svcmqtt_publish(dd_svcmqtt_t *m, const char *topic, const void *payload,
                                       size_t len, int qos, bool retain)
{
    int rc;

    if (m == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX) {
        return DD_SVCMQTT_BAD_PARAMETER;
    }
    rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        DD_LOG_WARN("publish on %s: %s", topic, mosquitto_strerror(rc));
        return DD_SVCMQTT_MQTT_ERROR;
    }
    return DD_SVCMQTT_OK;
}

dd_svcmqtt_status_t dd_svcmqtt_publish_wait(dd_svcmqtt_t *m, const char *topic, const void *payload,
                                            size_t len, int timeout_ms)
{
    struct timespec deadline;
    dd_svcmqtt_status_t status = DD_SVCMQTT_OK;
    int slot = -1;
    int mid = 0;
    int rc;
    int i;

    if (m == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX) {
        return DD_SVCMQTT_BAD_PARAMETER;
    }
    /*
     * Hold the lock across the publish so that a PUBACK arriving before we
     * record the mid cannot be missed: on_publish also takes the lock.
     */
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < MAX_WAITERS && slot < 0; i++) {
        if (m->waiting_mids[i] == 0) {
            slot = i;
        }
    }
    if (slot < 0) {
        pthread_mutex_unlock(&m->lock);
        return DD_SVCMQTT_NO_MEMORY;
    }
    m->waiting_mids[slot] = -2; /* reserved */
    m->ack_waiters++;
    pthread_cond_broadcast(&m->queue_cond); /* release a network thread blocked on a full queue */
    rc = mosquitto_publish(m->mosq, &mid, topic, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        m->waiting_mids[slot] = 0;
        m->ack_waiters--;
        pthread_mutex_unlock(&m->lock);
        DD_LOG_WARN("publish on %s: %s", topic, mosquitto_strerror(rc));
        return DD_SVCMQTT_MQTT_ERROR;
    }
    m->waiting_mids[slot] = mid;
    deadline_in(&deadline, timeout_ms);
    while (m->waiting_mids[slot] != -1) {
        if (pthread_cond_timedwait(&m->ack_cond, &m->lock, &deadline) != 0) {
            status = DD_SVCMQTT_TIMEOUT;
            break;
        }
    }
    m->waiting_mids[slot] = 0;
    m->ack_waiters--;
    pthread_mutex_unlock(&m->lock);
    return status;
}

void dd_svcmqtt_destroy(dd_svcmqtt_t *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->queue_cond);
    pthread_mutex_unlock(&m->lock);
    if (m->mosq != NULL) {
        (void)mosquitto_disconnect(m->mosq);
        /* Not forced: cancelling the network thread mid-packet leaks what it was holding
         * (LeakSanitizer saw it in CI); after the disconnect the thread ends by itself. */
        (void)mosquitto_loop_stop(m->mosq, false);
        mosquitto_destroy(m->mosq);
    }
    dd_svcmqtt_msg_free(m->head);
    for (i = 0; m->subscriptions != NULL && i < m->subscription_count; i++) {
        free(m->subscriptions[i]);
    }
    free(m->subscriptions);
    pthread_cond_destroy(&m->queue_cond);
    pthread_cond_destroy(&m->ack_cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *dd_svcmqtt_strerror(dd_svcmqtt_status_t status)
{
    switch (status) {
    case DD_SVCMQTT_OK: return "ok";
    case DD_SVCMQTT_BAD_PARAMETER: return "bad parameter";
    case DD_SVCMQTT_NO_MEMORY: return "out of memory";
    case DD_SVCMQTT_TLS_ERROR: return "TLS credentials could not be loaded";
    case DD_SVCMQTT_MQTT_ERROR: return "MQTT operation refused";
    case DD_SVCMQTT_TIMEOUT: return "timed out";
    }
    return "unknown svcmqtt status";
}
