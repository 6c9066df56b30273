/**
 * @file dd_svcmqtt.h
 * @brief ddlocald's MQTT session with the broker: the service identity over
 *        mutual TLS, a persistent session, an inbound queue for the worker
 *        thread, and publishes that can wait for their PUBACK.
 *
 * libmosquitto's own network thread (mosquitto_loop_start) reads and writes;
 * the on_message callback copies each message into a bounded queue that the
 * worker drains with dd_svcmqtt_take(). When the queue is full the network
 * thread waits, so the broker - not ddlocald's memory - holds the backlog.
 * The session is persistent (clean session off, a fixed client id): messages
 * published while ddlocald is down wait in the broker (see
 * mosquitto-plugin-notes.md "Messages for a subscriber that is down").
 *
 * Note libmosquitto acknowledges an incoming QoS 1 message before the
 * callback runs: a message taken from the queue but not yet committed when
 * the process dies is lost. ddlocald only promises durability for reports it
 * has answered on /accepted, which happens after its commit.
 *
 * Ownership: dd_svcmqtt_t is opaque and created/destroyed here; messages
 * taken from the queue belong to the caller until dd_svcmqtt_msg_free().
 * Every function may be called from any thread.
 */
#ifndef DD_SVCMQTT_H_
#define DD_SVCMQTT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_svcmqtt_status {
    DD_SVCMQTT_OK = 0,
    DD_SVCMQTT_BAD_PARAMETER,
    DD_SVCMQTT_NO_MEMORY,
    DD_SVCMQTT_TLS_ERROR,  /**< Credentials could not be loaded. */
    DD_SVCMQTT_MQTT_ERROR, /**< libmosquitto refused (not connected, too large...). */
    DD_SVCMQTT_TIMEOUT     /**< No PUBACK / connection within the deadline. */
} dd_svcmqtt_status_t;

/** Connection settings (strings borrowed during dd_svcmqtt_create()). */
typedef struct dd_svcmqtt_params {
    const char *host; /**< e.g. "127.0.0.1" */
    uint16_t port;
    const char *client_id; /**< Fixed id of the persistent session. */
    bool clean_session;    /**< false for ddlocald. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    const char *const *subscriptions; /**< Topic filters subscribed at QoS 1 on every connect. */
    size_t subscription_count;
    size_t queue_limit; /**< Inbound messages held before the network thread waits (0 = 65536). */
} dd_svcmqtt_params_t;

/** One inbound message; topic and payload live in the same allocation. */
typedef struct dd_svcmqtt_msg {
    struct dd_svcmqtt_msg *next;
    char *topic;
    uint8_t *payload;
    size_t len;
    int qos;
} dd_svcmqtt_msg_t;

typedef struct dd_svcmqtt dd_svcmqtt_t;

/**
 * @brief Creates the session and starts connecting in the background
 *        (libmosquitto reconnects by itself with backoff).
 * @return DD_SVCMQTT_OK, DD_SVCMQTT_BAD_PARAMETER, DD_SVCMQTT_NO_MEMORY,
 *         DD_SVCMQTT_TLS_ERROR or DD_SVCMQTT_MQTT_ERROR.
 */
dd_svcmqtt_status_t dd_svcmqtt_create(const dd_svcmqtt_params_t *params, dd_svcmqtt_t **out);

/** @brief Waits until connected and subscribed, at most @p timeout_ms. */
dd_svcmqtt_status_t dd_svcmqtt_wait_ready(dd_svcmqtt_t *mqtt, int timeout_ms);

/** @return true while connected and subscribed. */
bool dd_svcmqtt_connected(dd_svcmqtt_t *mqtt);

/**
 * @brief Takes up to @p max queued messages, waiting at most @p timeout_ms
 *        for the first one.
 * @param[out] head Receives a linked list (oldest first), NULL when none.
 * @return Number of messages taken.
 */
size_t dd_svcmqtt_take(dd_svcmqtt_t *mqtt, size_t max, int timeout_ms, dd_svcmqtt_msg_t **head);

/** @brief Frees a list of messages from dd_svcmqtt_take(). */
void dd_svcmqtt_msg_free(dd_svcmqtt_msg_t *head);

/** @brief Wakes a thread blocked in dd_svcmqtt_take() (e.g. to stop). */
void dd_svcmqtt_wake(dd_svcmqtt_t *mqtt);

/**
 * @brief Publishes without waiting (the payload is copied).
 * @return DD_SVCMQTT_OK or DD_SVCMQTT_MQTT_ERROR (e.g. not connected).
 */
dd_svcmqtt_status_t dd_svcmqtt_publish(dd_svcmqtt_t *mqtt, const char *topic, const void *payload,
                                       size_t len, int qos, bool retain);

/**
 * @brief Publishes at QoS 1 and waits for the broker's PUBACK.
 * @return DD_SVCMQTT_OK, DD_SVCMQTT_MQTT_ERROR or DD_SVCMQTT_TIMEOUT.
 */
dd_svcmqtt_status_t dd_svcmqtt_publish_wait(dd_svcmqtt_t *mqtt, const char *topic,
                                            const void *payload, size_t len, int timeout_ms);

/** @brief Disconnects, stops the network thread, frees queued messages. NULL is ignored. */
void dd_svcmqtt_destroy(dd_svcmqtt_t *mqtt);

/** @return Static text for @p status. */
const char *dd_svcmqtt_strerror(dd_svcmqtt_status_t status);

#endif /* DD_SVCMQTT_H_ */
