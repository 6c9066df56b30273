/**
 * @file dd_conn.h
 * @brief One MQTT 3.1.1 connection over mutual TLS, driven by the caller's
 *        event loop, that reconnects with exponential backoff and jitter.
 *
 * A thin adapter around libmosquitto in non-threaded mode
 * (mosquitto_connect_async + mosquitto_loop_read/write/misc): the caller
 * polls dd_conn_fd() for reading, and for writing while
 * dd_conn_want_write() is true, then calls dd_conn_io(); it calls
 * dd_conn_tick() at the latest by the deadline it returned. This lets one
 * thread drive one connection (agent, sensor) or ten thousand (fleet,
 * with epoll) the same way, with no thread per connection.
 *
 * TLS is always on and always verifies the server: the certificate chain
 * against the root CA and the endpoint name (DNS name or IP address)
 * against the certificate. Two ways to give the credentials:
 * - files (agent, sensor): ca_file, cert_file, key_file in dd_conn_params_t,
 *   loaded by libmosquitto for each connection;
 * - a shared SSL_CTX from dd_conn_ssl_ctx_new() (fleet): one context for
 *   every connection, each connection presenting its own certificate and
 *   key (a dd_conn_identity_t) when the server asks for it.
 * ALPN (e.g. "x-amzn-mqtt-ca", what AWS IoT needs on port 443) is offered
 * when params.alpn is set.
 *
 * Backoff: after a failed attempt or a lost connection the next attempt
 * waits dd_conn_backoff_ms(attempt): the exponential step
 * min(max, min_ms * 2^attempt), of which a random half is kept ("equal
 * jitter": never less than half the step, so a fleet does not reconnect in
 * lockstep). A successful CONNACK resets the attempt count.
 *
 * Ownership: dd_conn_params_t and its strings, the callbacks and the
 * identity are borrowed and must outlive the connection. Callbacks run
 * inside dd_conn_io()/dd_conn_tick()/dd_conn_start(); they may publish,
 * subscribe or stop the connection but must not destroy it. Not
 * thread-safe: one thread drives a given connection. Call
 * dd_conn_lib_init() once before creating connections.
 */
#ifndef DD_CONN_H_
#define DD_CONN_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/** Status codes of this module. */
typedef enum dd_conn_status {
    DD_CONN_OK = 0,
    DD_CONN_BAD_PARAMETER, /**< NULL pointer, empty host or client id, port 0. */
    DD_CONN_NO_MEMORY,
    DD_CONN_TLS_ERROR,     /**< Credentials could not be loaded. */
    DD_CONN_NOT_CONNECTED, /**< Publish/subscribe while not connected. */
    DD_CONN_MQTT_ERROR     /**< libmosquitto refused the operation (payload too large ...). */
} dd_conn_status_t;

/** Where a connection is in its life. */
typedef enum dd_conn_state {
    DD_CONN_IDLE = 0,   /**< Created, not started. */
    DD_CONN_WAITING,    /**< Waiting for the next attempt (backoff). */
    DD_CONN_CONNECTING, /**< TCP/TLS/MQTT handshake in progress. */
    DD_CONN_CONNECTED,  /**< CONNACK accepted. */
    DD_CONN_CLOSING,    /**< DISCONNECT queued by dd_conn_stop(). */
    DD_CONN_CLOSED      /**< Stopped; no more attempts. */
} dd_conn_state_t;

typedef struct dd_conn dd_conn_t;

/** Event callbacks; any may be NULL. @p ctx is the one given to dd_conn_create(). */
typedef struct dd_conn_callbacks {
    /** CONNACK accepted: subscribe here (sessions may be new). */
    void (*on_connected)(dd_conn_t *conn, void *ctx);
    /**
     * An attempt failed or the connection was lost (@p was_connected).
     * @p reason is a libmosquitto error or CONNACK code, @p text its
     * description; @p retry_in_ms the backoff before the next attempt
     * (-1 when the connection was stopped and will not retry).
     */
    void (*on_disconnected)(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms);
    /** A message arrived on a subscription. */
    void (*on_message)(dd_conn_t *conn, void *ctx, const char *topic, const void *payload,
                       size_t len);
    /** A QoS 1 publish was acknowledged (PUBACK) or a QoS 0 one written. */
    void (*on_published)(dd_conn_t *conn, void *ctx, int mid);
} dd_conn_callbacks_t;

/** Connection settings, shared by any number of connections (borrowed). */
typedef struct dd_conn_params {
    const char *host;      /**< DNS name or IP; also the name checked in the certificate. */
    uint16_t port;         /**< e.g. 8883, or 443 with alpn. */
    int keepalive_s;       /**< MQTT keep-alive (5..65535). */
    bool clean_session;    /**< false keeps subscriptions and QoS 1 messages across reconnects. */
    const char *ca_file;   /**< Root CA PEM (file mode). */
    const char *cert_file; /**< Device certificate PEM (file mode). */
    const char *key_file;  /**< Device private key PEM (file mode). */
    SSL_CTX *ssl_ctx;      /**< Shared context from dd_conn_ssl_ctx_new() (then files unused). */
    const char *alpn; /**< ALPN protocol to offer, or NULL (file mode; a shared ctx has its own). */
    uint32_t backoff_min_ms;     /**< First backoff step (0 = 1000). */
    uint32_t backoff_max_ms;     /**< Cap of the step (0 = 32000, the AWS Python SDK's). */
    uint32_t connect_timeout_ms; /**< Give up an attempt after this long (0 = 30000). */
    const dd_conn_callbacks_t *callbacks;
} dd_conn_params_t;

/** A device's own credentials for a shared SSL_CTX, in DER (borrowed). */
typedef struct dd_conn_identity {
    const uint8_t *cert_der;
    size_t cert_len;
    const uint8_t *key_der;
    size_t key_len;
} dd_conn_identity_t;

/** @brief Initialises libmosquitto and OpenSSL once per process; idempotent. */
void dd_conn_lib_init(void);

/** @brief Releases libmosquitto's globals (at exit, after every connection is destroyed). */
void dd_conn_lib_cleanup(void);

/**
 * @brief Builds a client SSL_CTX for many connections: TLS 1.2+, the chain
 *        verified against @p ca_file, the server name checked against
 *        @p host (as an IP address when it is one), small buffers
 *        (SSL_MODE_RELEASE_BUFFERS), optional ALPN, and a certificate
 *        callback that presents each connection's dd_conn_identity_t.
 * @param[in] ca_file Root CA PEM.
 * @param[in] host Endpoint name or address to check.
 * @param[in] alpn ALPN protocol or NULL.
 * @param[out] out New context; the caller frees it with SSL_CTX_free() after
 *             every connection using it is destroyed.
 * @return DD_CONN_OK, DD_CONN_BAD_PARAMETER, DD_CONN_TLS_ERROR or DD_CONN_NO_MEMORY.
 */
dd_conn_status_t dd_conn_ssl_ctx_new(const char *ca_file, const char *host, const char *alpn,
                                     SSL_CTX **out);

/**
 * @brief Creates a connection (not started).
 * @param[in] params Settings (borrowed).
 * @param[in] client_id MQTT client id (copied).
 * @param[in] identity Credentials for a shared SSL_CTX (borrowed), NULL in file mode.
 * @param[in] ctx Passed to the callbacks.
 * @param[in] seed Seed of the backoff jitter (any value; 0 is fine).
 * @param[out] out The connection; free with dd_conn_destroy().
 * @return DD_CONN_OK, DD_CONN_BAD_PARAMETER, DD_CONN_TLS_ERROR (file mode:
 *         a file is unreadable) or DD_CONN_NO_MEMORY.
 */
dd_conn_status_t dd_conn_create(const dd_conn_params_t *params, const char *client_id,
                                const dd_conn_identity_t *identity, void *ctx, uint64_t seed,
                                dd_conn_t **out);

/** @brief Closes the socket (without DISCONNECT) and frees the connection. NULL is ignored. */
void dd_conn_destroy(dd_conn_t *conn);

/**
 * @brief Makes the first attempt now.
 * @return DD_CONN_OK (the attempt is under way or scheduled) or DD_CONN_BAD_PARAMETER.
 */
dd_conn_status_t dd_conn_start(dd_conn_t *conn, int64_t now_ms);

/** @return The socket to poll, or -1 while there is none. */
int dd_conn_fd(const dd_conn_t *conn);

/** @return true when the socket should also be polled for writing. */
bool dd_conn_want_write(dd_conn_t *conn);

/**
 * @brief Lets libmosquitto read and/or write after poll() or epoll said so.
 * @param[in] revents What happened: POLLIN, POLLOUT, POLLHUP, POLLERR
 *            (epoll's EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR have the same values).
 *            A hang-up or error during the handshake fails the attempt.
 * @param[in] now_ms Monotonic time, for backoff scheduling.
 */
void dd_conn_io(dd_conn_t *conn, unsigned revents, int64_t now_ms);

/**
 * @brief Timers: the next attempt when its time has come, the connect
 *        timeout, MQTT keep-alive.
 * @param[in] now_ms Monotonic time.
 * @return The time by which to call again (monotonic ms).
 */
int64_t dd_conn_tick(dd_conn_t *conn, int64_t now_ms);

/**
 * @brief Publishes (queued in libmosquitto and written as the socket allows).
 * @param[out] mid Optional: the message id, matched in on_published.
 * @return DD_CONN_OK, DD_CONN_BAD_PARAMETER, DD_CONN_NOT_CONNECTED or DD_CONN_MQTT_ERROR.
 */
dd_conn_status_t dd_conn_publish(dd_conn_t *conn, const char *topic, const void *payload,
                                 size_t len, int qos, int *mid);

/**
 * @brief Subscribes to @p count filters in one SUBSCRIBE.
 * @return DD_CONN_OK, DD_CONN_BAD_PARAMETER, DD_CONN_NOT_CONNECTED or DD_CONN_MQTT_ERROR.
 */
dd_conn_status_t dd_conn_subscribe(dd_conn_t *conn, const char *const *filters, int count, int qos);

/**
 * @brief Stops for good: sends DISCONNECT when connected (the state becomes
 *        CLOSED once it is written; keep driving the I/O until then), else
 *        closes at once.
 */
void dd_conn_stop(dd_conn_t *conn, int64_t now_ms);

/** @return The current state. */
dd_conn_state_t dd_conn_state(const dd_conn_t *conn);

/** @return The client id. */
const char *dd_conn_client_id(const dd_conn_t *conn);

/** @return Attempts made so far in the current series (0 once connected). */
unsigned dd_conn_attempts(const dd_conn_t *conn);

/**
 * @brief The backoff before attempt @p attempt + 1 (pure; for tests and docs).
 * @param[in] attempt Failed attempts so far (0 = the first failure).
 * @param[in] min_ms First step.
 * @param[in] max_ms Cap of the step.
 * @param[in,out] rng xorshift64 state for the jitter.
 * @return A delay in [step/2, step], step = min(max_ms, min_ms * 2^attempt).
 */
uint32_t dd_conn_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint64_t *rng);

/**
 * @brief Splits an endpoint as users write it: "host", "host:port",
 *        "[v6addr]:port" or a bare IPv6 address.
 * @param[out] host Host part (brackets removed).
 * @param[in] host_len Size of @p host.
 * @param[out] port The port, 0 when the endpoint has none.
 * @return DD_CONN_OK or DD_CONN_BAD_PARAMETER (malformed, port out of range, too long).
 */
dd_conn_status_t dd_conn_split_endpoint(const char *endpoint, char *host, size_t host_len,
                                        uint16_t *port);

/** @return Static text for @p status. */
const char *dd_conn_strerror(dd_conn_status_t status);

/** @return Static name of @p state ("connected" ...). */
const char *dd_conn_state_name(dd_conn_state_t state);

#endif /* DD_CONN_H_ */
