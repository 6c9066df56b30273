/**
 * @file dd_testenv.h
 * @brief Harness for the broker shim's integration tests: a real mosquitto
 *        with ddlocal_shim.so on free loopback ports, a fresh data dir (PKI,
 *        registry), devices with generated certificates, and a service
 *        connection that stands in for ddlocald (registry changes pushed as
 *        control messages, metering batches read and decoded).
 *
 * No ddlocald runs: the harness writes the registry itself and, like
 * ddlocald, follows its change log to push every changed entity to the shim
 * (dd_testenv_sync(), called by every registry helper once the broker runs),
 * waiting for the shim's response so that a change is in force when the
 * helper returns.
 *
 * Lifecycle: dd_testenv_init() (data dir, PKI, registry with the service
 * certificate) -> registry helpers -> dd_testenv_start() (conf from
 * dd_broker_conf, broker started with dd_proc, service client connected and
 * subscribed to the metering topic) -> tests -> dd_testenv_stop() (stops the
 * broker, fails on a sanitizer report in its log, removes the data dir
 * unless DD_TESTENV_KEEP=1 is set). The broker is started with
 * PR_SET_PDEATHSIG (dd_proc), so a crashed test leaves no broker behind; in
 * sanitizer builds it gets the sanitizer runtimes preloaded.
 *
 * MQTT clients are dd_testmqtt's (MQTT 3.1.1, mTLS): each runs its own
 * network thread, never reconnects by itself, and queues received messages
 * until taken. Every wait has a deadline; nothing sleeps to wait for a result.
 *
 * Ownership: dd_testenv_t is caller-allocated; clients and messages are
 * allocated here and freed with their _destroy/_free functions. A client may
 * be used from one thread at a time; everything else from the test thread.
 */
#ifndef DD_TESTENV_H_
#define DD_TESTENV_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "dd_clock.h"
#include "dd_metering.h"
#include "dd_pki.h"
#include "dd_proc.h"
#include "dd_registry.h"
#include "dd_testmqtt.h"

/** Status codes of this module. */
typedef enum dd_testenv_status {
    DD_TESTENV_OK = 0,
    DD_TESTENV_BAD_PARAMETER,
    DD_TESTENV_NO_MEMORY,
    DD_TESTENV_FAILED,       /**< A step failed (message on stderr). */
    DD_TESTENV_TIMEOUT,      /**< The awaited event did not happen before the deadline. */
    DD_TESTENV_DISCONNECTED, /**< The MQTT connection is (or got) closed. */
    DD_TESTENV_REFUSED       /**< The shim refused a control message (error text given). */
} dd_testenv_status_t;

/** Broker settings. Zero-initialise; everything is optional. */
typedef struct dd_testenv_options {
    bool strict_identity;  /**< plugin_opt_single_cert_identity false (AWS's rule only). */
    bool no_kick_on_deny;  /**< plugin_opt_kick_on_deny false. */
    bool plain;            /**< No plugin, allow_anonymous true (the benchmark's baseline). */
    bool plugin_debug;     /**< plugin_opt_log_level debug. */
    bool no_persistence;   /**< persistence false. */
    int metering_flush_ms; /**< 0 = 20. */
} dd_testenv_options_t;

/** Credentials of a generated device certificate (files in the data dir). */
typedef struct dd_testenv_creds {
    char cert[256];                  /**< PEM certificate file. */
    char key[256];                   /**< PEM private key file. */
    char id[DD_PKI_CERT_ID_LEN + 1]; /**< Certificate id. */
} dd_testenv_creds_t;

/** One decoded metering record (strings copied and NUL-terminated). */
typedef struct dd_testenv_mrec {
    dd_metering_type_t type;
    int64_t time_ms;
    bool registered;
    bool success;
    char key[300];
    char subject[1100];
    char ip[64];
    uint32_t bytes;
    dd_metering_action_t action;
    dd_metering_reason_t reason;
    uint64_t instance_id; /**< Of the batch it came in. */
    uint64_t seq;         /**< Of the batch it came in. */
    int qos;              /**< QoS the batch was delivered with. */
} dd_testenv_mrec_t;

/** A test environment. */
typedef struct dd_testenv {
    dd_testenv_options_t opts;
    char dir[64]; /**< The data dir (mkdtemp). */
    char root_ca[128];
    char service_cert[128];
    char service_key[128];
    char service_id[DD_PKI_CERT_ID_LEN + 1];
    char conf[128];     /**< DIR/broker/mosquitto.conf */
    char log[128];      /**< DIR/broker/mosquitto.log */
    uint16_t mqtt_port; /**< The 8883 role. */
    uint16_t alpn_port; /**< The 443 role. */
    dd_proc_t broker;
    sqlite3 *db;
    dd_registry_t reg;
    dd_clock_t clock;
    dd_pki_ca_t *ca;
    int64_t synced_seq; /**< Change-log position already pushed to the shim. */
    unsigned next_id;
    dd_testmqtt_t *service;  /**< Control and metering (client id ddlocal-testenv). */
    dd_testenv_mrec_t *recs; /**< Metering records read so far. */
    size_t nrecs;
    size_t caprecs;
    bool started;
    bool passed; /**< Set by the test: stop() prints the broker log otherwise. */
} dd_testenv_t;

/* ---- lifecycle ----------------------------------------------------------------------------- */

/**
 * @brief Creates the data dir with its PKI (CA, server and service
 *        certificates) and registry (the service certificate registered as
 *        the service).
 * @param[out] env Environment.
 * @param[in] opts Options (copied), or NULL.
 * @return DD_TESTENV_OK or DD_TESTENV_FAILED.
 */
dd_testenv_status_t dd_testenv_init(dd_testenv_t *env, const dd_testenv_options_t *opts);

/**
 * @brief Writes the conf (dd_broker_conf, free ports), starts the real
 *        mosquitto, waits for both listeners, connects the service client
 *        and subscribes it to the metering topic. Retries with other ports
 *        when one was taken meanwhile.
 * @return DD_TESTENV_OK, DD_TESTENV_FAILED or DD_TESTENV_TIMEOUT.
 */
dd_testenv_status_t dd_testenv_start(dd_testenv_t *env);

/**
 * @brief Stops the broker (SIGTERM), checks its log for sanitizer reports,
 *        prints the log's tail unless env->passed, removes the data dir.
 *        Safe to call twice.
 * @return 0, or -1 when the broker had died, did not stop, or its log holds
 *         an AddressSanitizer/UBSan/LeakSanitizer report.
 */
int dd_testenv_stop(dd_testenv_t *env);

/** @return true while the broker runs. */
bool dd_testenv_broker_alive(dd_testenv_t *env);

/** @brief Counts lines of the broker log containing @p needle. */
int dd_testenv_log_count(const dd_testenv_t *env, const char *needle);

/** @brief Prints the last lines of the broker log. */
void dd_testenv_dump_log(const dd_testenv_t *env);

/* ---- registry (each helper pushes its changes once the broker runs) ------------------------ */

/** @brief Creates a policy from a document. */
dd_testenv_status_t dd_testenv_policy(dd_testenv_t *env, const char *name, const char *doc);

/** @brief Creates a policy from a file under fixtures/ (e.g. "policies/deny-all.json"). */
dd_testenv_status_t dd_testenv_policy_fixture(dd_testenv_t *env, const char *name,
                                              const char *fixture_rel);

/** @brief Creates a thing (idempotent). */
dd_testenv_status_t dd_testenv_thing(dd_testenv_t *env, const char *name);

/**
 * @brief Issues an EC device certificate, writes it under DIR/certs/,
 *        registers it ACTIVE, attaches it to the things (comma-separated,
 *        created when missing; NULL or "" = none) and attaches @p policy
 *        (NULL = none).
 * @param[out] creds The files and the certificate id.
 */
dd_testenv_status_t dd_testenv_cert(dd_testenv_t *env, const char *things, const char *policy,
                                    dd_testenv_creds_t *creds);

/** @brief A thing with its own certificate (dd_testenv_cert(env, name, policy, creds)). */
dd_testenv_status_t dd_testenv_device(dd_testenv_t *env, const char *name, const char *policy,
                                      dd_testenv_creds_t *creds);

/**
 * @brief Issues a certificate that is never registered: signed by the data
 *        dir's CA (TLS accepts it, the shim must refuse it) or, with
 *        @p other_ca, by a different CA (the broker's TLS layer refuses it).
 */
dd_testenv_status_t dd_testenv_unregistered_cert(dd_testenv_t *env, bool other_ca,
                                                 dd_testenv_creds_t *creds);

/** @brief Sets a certificate's status (ACTIVE, INACTIVE, REVOKED...). */
dd_testenv_status_t dd_testenv_cert_status(dd_testenv_t *env, const char *cert_id,
                                           dd_cert_status_t status);

/** @brief Creates a thing group (@p parent NULL = root) with @p policy attached (NULL = none). */
dd_testenv_status_t dd_testenv_group(dd_testenv_t *env, const char *name, const char *parent,
                                     const char *policy);

/** @brief Adds a thing to a group. */
dd_testenv_status_t dd_testenv_group_add(dd_testenv_t *env, const char *group, const char *thing);

/** @brief Removes a thing from a group. */
dd_testenv_status_t dd_testenv_group_remove(dd_testenv_t *env, const char *group,
                                            const char *thing);

/**
 * @brief Pushes every registry change not yet pushed (as ddlocald does) and
 *        waits for the shim's response. No-op before dd_testenv_start().
 */
dd_testenv_status_t dd_testenv_sync(dd_testenv_t *env);

/**
 * @brief Sends a control message as the service and waits for the response.
 * @param[in] topic DD_CONTROL_TOPIC_REGISTRY or DD_CONTROL_TOPIC_CLOCK.
 * @param[in,out] root The message; an "id" is added to it.
 * @param[out] error Optional: the shim's error text when refused.
 * @return DD_TESTENV_OK (applied), DD_TESTENV_REFUSED, DD_TESTENV_TIMEOUT or _FAILED.
 */
dd_testenv_status_t dd_testenv_control(dd_testenv_t *env, const char *topic, cJSON *root,
                                       char *error, size_t error_len);

/* ---- metering ----------------------------------------------------------------------------- */

/**
 * @brief Decodes every metering batch the service client received so far
 *        into env->recs (fails the batch's records on a decode error).
 * @return Number of records added.
 */
size_t dd_testenv_metering_take(dd_testenv_t *env);

/**
 * @brief Counts the records read so far that match: @p type, @p key (NULL
 *        any), @p subject (NULL any) and, for AUTH_FAILURE, @p action and
 *        @p reason (-1 any).
 */
size_t dd_testenv_metering_count(const dd_testenv_t *env, dd_metering_type_t type, const char *key,
                                 const char *subject, int action, int reason);

/**
 * @brief Takes metering batches until dd_testenv_metering_count() with the
 *        same arguments reaches @p want, or the deadline.
 * @return The count reached.
 */
size_t dd_testenv_metering_wait(dd_testenv_t *env, dd_metering_type_t type, const char *key,
                                const char *subject, int action, int reason, size_t want,
                                int timeout_ms);

/** @return The first record read so far matching type and key, or NULL. */
const dd_testenv_mrec_t *dd_testenv_metering_find(const dd_testenv_t *env, dd_metering_type_t type,
                                                  const char *key);

/* ---- MQTT clients ------------------------------------------------------------------------- */

/** One received message (dd_testmqtt's); topic and payload are NUL-terminated copies. */
typedef dd_testmqtt_msg_t dd_testenv_msg_t;

/** A client: dd_testmqtt's, with the data dir's credentials and the broker's ports. */
typedef dd_testmqtt_t dd_testenv_mqtt_t;

/**
 * @brief Creates an MQTT 3.1.1 client of the broker's 8883-role listener.
 * @param[in] client_id Client id.
 * @param[in] creds Device credentials, or NULL for the service identity.
 * @param[in] clean_session false: a persistent session.
 */
dd_testenv_status_t dd_testenv_mqtt_new(const dd_testenv_t *env, const char *client_id,
                                        const dd_testenv_creds_t *creds, bool clean_session,
                                        dd_testenv_mqtt_t **out);

/** @brief Dials the 443-role listener offering ALPN @p alpn. Call before connecting. */
dd_testenv_status_t dd_testenv_mqtt_use_alpn(dd_testenv_mqtt_t *c, const dd_testenv_t *env,
                                             const char *alpn);

/**
 * @brief Connects and waits for the CONNACK.
 * @return The CONNACK code (0 accepted, 5 not authorised...), or -1 when the
 *         connection (TLS included) failed or closed without one, or timed out.
 */
int dd_testenv_mqtt_connect(dd_testenv_mqtt_t *c, int timeout_ms);

/** @brief Subscribes and waits for the SUBACK; @p granted gets the code (128 = refused). */
dd_testenv_status_t dd_testenv_mqtt_subscribe(dd_testenv_mqtt_t *c, const char *filter, int qos,
                                              int timeout_ms, int *granted);

/**
 * @brief Publishes; QoS 1 waits for the PUBACK (v3.1.1: also sent for a
 *        denied message), QoS 0 returns once queued.
 * @return DD_TESTENV_OK, DD_TESTENV_DISCONNECTED, DD_TESTENV_TIMEOUT or DD_TESTENV_FAILED.
 */
dd_testenv_status_t dd_testenv_mqtt_publish(dd_testenv_mqtt_t *c, const char *topic,
                                            const void *payload, size_t len, int qos,
                                            int timeout_ms);

/**
 * @brief Waits for the first queued message whose topic matches @p filter
 *        (NULL: any message; note that `#` does not match `$` topics) and
 *        takes it (others stay queued).
 * @param[out] out Free with dd_testenv_msg_free().
 */
dd_testenv_status_t dd_testenv_mqtt_wait_message(dd_testenv_mqtt_t *c, const char *filter,
                                                 int timeout_ms, dd_testenv_msg_t **out);

/** @brief Number of queued messages matching @p filter (NULL: all), not taken. */
size_t dd_testenv_mqtt_queued(dd_testenv_mqtt_t *c, const char *filter);

/** @brief Sets a will message (MQTT last will); call before connecting. */
dd_testenv_status_t dd_testenv_mqtt_will(dd_testenv_mqtt_t *c, const char *topic,
                                         const char *payload, int qos);

/**
 * @brief Drops the TCP connection without an MQTT DISCONNECT (as a device
 *        losing power would), so the broker publishes the will; waits until
 *        the client sees it closed.
 */
dd_testenv_status_t dd_testenv_mqtt_drop(dd_testenv_mqtt_t *c, int timeout_ms);

/** @brief Waits until the connection is closed; true if it is. */
bool dd_testenv_mqtt_wait_disconnect(dd_testenv_mqtt_t *c, int timeout_ms);

/** @return true while connected. */
bool dd_testenv_mqtt_connected(dd_testenv_mqtt_t *c);

/** @brief Disconnects cleanly, stops the thread, frees everything. NULL is ignored. */
void dd_testenv_mqtt_destroy(dd_testenv_mqtt_t *c);

/** @brief Frees a list of messages. */
void dd_testenv_msg_free(dd_testenv_msg_t *head);

/** @return Static text for @p status. */
const char *dd_testenv_strerror(dd_testenv_status_t status);

#endif /* DD_TESTENV_H_ */
