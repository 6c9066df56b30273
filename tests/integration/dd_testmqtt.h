/**
 * @file dd_testmqtt.h
 * @brief The one synchronous MQTT 3.1.1 test client (libmosquitto) of the
 *        integration harnesses: every call waits for its acknowledgement
 *        (CONNACK, SUBACK, PUBACK) with a deadline, received messages queue
 *        until taken.
 *
 * dd_pipetest (a whole `ddlocal up`) and dd_testenv (mosquitto with the shim)
 * wrap it with their own credentials and ports. A client runs its own
 * network thread, never reconnects by itself (tests want to see disconnects:
 * a lost connection stays lost until dd_testmqtt_connect() is called again)
 * and talks only to 127.0.0.1. Nothing sleeps to wait for a result.
 *
 * Ownership: clients are allocated by dd_testmqtt_new() and freed by
 * dd_testmqtt_destroy(); the config's strings are copied by libmosquitto
 * before dd_testmqtt_new() returns. Messages taken belong to the caller until
 * dd_testmqtt_msg_free(). A client may be used from one thread at a time;
 * different clients from different threads.
 */
#ifndef DD_TESTMQTT_H_
#define DD_TESTMQTT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_testmqtt_status {
    DD_TESTMQTT_OK = 0,
    DD_TESTMQTT_BAD_PARAMETER, /**< NULL pointer, bad QoS or size, or too late (connected). */
    DD_TESTMQTT_NO_MEMORY,
    DD_TESTMQTT_FAILED,      /**< libmosquitto refused the call (message on stderr for TLS). */
    DD_TESTMQTT_TIMEOUT,     /**< The awaited acknowledgement or message did not come in time. */
    DD_TESTMQTT_DISCONNECTED /**< The connection is (or got) closed. */
} dd_testmqtt_status_t;

/** How to reach the broker. Zero-initialise; client_id and port are required. */
typedef struct dd_testmqtt_config {
    const char *client_id; /**< MQTT client id. */
    uint16_t port;         /**< Loopback port (127.0.0.1). */
    const char *root_ca;   /**< CA file; NULL: plain TCP (cert and key are then ignored). */
    const char *cert;      /**< Client certificate file (mTLS), with @ref key. */
    const char *key;       /**< Private key file. */
    bool clean_session;    /**< false: a persistent session. */
    int keepalive_s;       /**< 0 = 60. */
    bool tcp_nodelay;      /**< Disable Nagle (else QoS 1 round trips wait for delayed ACKs). */
} dd_testmqtt_config_t;

/** One received message; topic and payload are NUL-terminated copies. */
typedef struct dd_testmqtt_msg {
    struct dd_testmqtt_msg *next;
    char *topic;
    uint8_t *payload;
    size_t len;
    int qos;
    int64_t mono_ms; /**< When it arrived (dd_clock_mono_ms()). */
} dd_testmqtt_msg_t;

/** A client (opaque). */
typedef struct dd_testmqtt dd_testmqtt_t;

/**
 * @brief Creates a client (not connected).
 * @param[in] cfg Where and who.
 * @param[out] out The client.
 * @return DD_TESTMQTT_OK, _BAD_PARAMETER, _NO_MEMORY or _FAILED (TLS files
 *         not usable, named on stderr).
 */
dd_testmqtt_status_t dd_testmqtt_new(const dd_testmqtt_config_t *cfg, dd_testmqtt_t **out);

/**
 * @brief Dials @p port instead, offering TLS ALPN @p alpn (e.g.
 *        "x-amzn-mqtt-ca"), as AWS SDK v2 agents do on 443. Call before the
 *        first dd_testmqtt_connect().
 * @return DD_TESTMQTT_OK, _BAD_PARAMETER or _FAILED.
 */
dd_testmqtt_status_t dd_testmqtt_use_alpn(dd_testmqtt_t *c, uint16_t port, const char *alpn);

/**
 * @brief Makes the client speak MQTT 5 (libmosquitto's MOSQ_OPT_PROTOCOL_VERSION)
 *        instead of 3.1.1. Call before the first dd_testmqtt_connect(). Then the
 *        CONNACK code, the granted QoS of a SUBACK and dd_testmqtt_puback_reason() /
 *        dd_testmqtt_disconnect_reason() are MQTT 5 reason codes (0x87 = 135 not
 *        authorized, 0x98 = 152 administrative action, ...).
 * @return DD_TESTMQTT_OK, _BAD_PARAMETER or _FAILED.
 */
dd_testmqtt_status_t dd_testmqtt_use_v5(dd_testmqtt_t *c);

/** @return The reason code of the last PUBACK received (0 for a 3.1.1 client), -1 for NULL. */
int dd_testmqtt_puback_reason(dd_testmqtt_t *c);

/**
 * @return The reason code of the broker's DISCONNECT that ended the last connection
 *         (MQTT 5), else libmosquitto's rc for the loss (0 before any), -1 for NULL.
 */
int dd_testmqtt_disconnect_reason(dd_testmqtt_t *c);

/**
 * @brief Sets the will message (MQTT last will). Call before connecting.
 * @return DD_TESTMQTT_OK, _BAD_PARAMETER or _FAILED.
 */
dd_testmqtt_status_t dd_testmqtt_will(dd_testmqtt_t *c, const char *topic, const char *payload,
                                      int qos);

/**
 * @brief Connects (again) and waits for the CONNACK.
 * @return The CONNACK code (0 accepted, 5 not authorised, ...), or -1 when
 *         the connection (TLS included) failed or closed without one, or timed out.
 */
int dd_testmqtt_connect(dd_testmqtt_t *c, int timeout_ms);

/**
 * @brief Subscribes and waits for the SUBACK.
 * @param[out] granted Optional: the granted QoS (128 = refused).
 * @return DD_TESTMQTT_OK, _DISCONNECTED, _TIMEOUT, _FAILED or _BAD_PARAMETER.
 */
dd_testmqtt_status_t dd_testmqtt_subscribe(dd_testmqtt_t *c, const char *filter, int qos,
                                           int timeout_ms, int *granted);

/**
 * @brief Publishes. QoS 1 waits for the PUBACK (MQTT 3.1.1 sends one for a
 *        denied message too); QoS 0 returns once queued.
 * @return DD_TESTMQTT_OK, _DISCONNECTED (lost before the PUBACK, or not
 *         connected), _TIMEOUT, _FAILED or _BAD_PARAMETER.
 */
dd_testmqtt_status_t dd_testmqtt_publish(dd_testmqtt_t *c, const char *topic, const void *payload,
                                         size_t len, int qos, int timeout_ms);

/**
 * @brief Waits for the first queued message whose topic matches @p filter
 *        (MQTT wildcards; NULL: any message; `#` does not match `$` topics)
 *        and takes it; other messages stay queued.
 * @param[out] out The message (free with dd_testmqtt_msg_free()).
 * @return DD_TESTMQTT_OK, _TIMEOUT or _BAD_PARAMETER.
 */
dd_testmqtt_status_t dd_testmqtt_wait_message(dd_testmqtt_t *c, const char *filter, int timeout_ms,
                                              dd_testmqtt_msg_t **out);

/**
 * @brief Takes every queued message, waiting at most @p timeout_ms for the first.
 * @param[out] head Oldest first, NULL when none.
 * @return How many were taken.
 */
size_t dd_testmqtt_take(dd_testmqtt_t *c, int timeout_ms, dd_testmqtt_msg_t **head);

/** @return Number of queued messages matching @p filter (NULL: all), not taken. */
size_t dd_testmqtt_queued(dd_testmqtt_t *c, const char *filter);

/**
 * @brief Drops the TCP connection without an MQTT DISCONNECT (as a device
 *        losing power would), so the broker publishes the will; waits until
 *        the client sees it closed.
 * @return DD_TESTMQTT_OK, _DISCONNECTED (was not connected), _TIMEOUT or _BAD_PARAMETER.
 */
dd_testmqtt_status_t dd_testmqtt_drop(dd_testmqtt_t *c, int timeout_ms);

/** @brief Waits until the connection is closed. @return true if it is (or never was open). */
bool dd_testmqtt_wait_disconnect(dd_testmqtt_t *c, int timeout_ms);

/** @return true while connected (CONNACK 0 received, not yet closed). */
bool dd_testmqtt_connected(dd_testmqtt_t *c);

/** @brief Disconnects cleanly, stops the thread, frees queued messages. NULL is ignored. */
void dd_testmqtt_destroy(dd_testmqtt_t *c);

/** @brief Frees a list of messages. NULL is ignored. */
void dd_testmqtt_msg_free(dd_testmqtt_msg_t *head);

/** @return Static text for @p status. */
const char *dd_testmqtt_strerror(dd_testmqtt_status_t status);

#endif /* DD_TESTMQTT_H_ */
