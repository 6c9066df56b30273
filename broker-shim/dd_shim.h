/**
 * @file dd_shim.h
 * @brief The broker shim's engine: identity at connect, authorization of
 *        every publish, subscribe and delivery, metering, live registry
 *        changes and kicks — everything the mosquitto plugin does, with the
 *        broker reduced to a few calls so that it can be unit-tested.
 *
 * dd_plugin.c (the only file that includes mosquitto's headers) turns each
 * broker event into one call here and each answer back into a MOSQ_ERR_*
 * code; the engine reaches the broker only through a dd_shim_io_t (publish
 * a message, kick a client by id).
 *
 * ## Connections
 * A connection is known by its client id plus the broker's opaque client
 * handle (a pointer the engine never dereferences). dd_shim_on_connect()
 * decides (identity, then iot:Connect on `client/<clientId>`) and records
 * the connection; dd_shim_on_disconnect() marks it offline. Records of
 * persistent sessions stay after the disconnect, because the broker still
 * asks READ for messages it queues for them; those of clean sessions are
 * freed a little later from dd_shim_on_tick() (the broker checks a will
 * message's WRITE just after the DISCONNECT event). A session the engine has
 * no record of (restored by broker persistence after a restart) is allowed
 * READ only when its client id has the reserved service prefix, which no
 * device may use.
 *
 * ## Authorization (device connections; the service is allowed everything)
 * - WRITE: topic > 256 bytes, > 7 slashes (the 3 of a `$aws/rules/NAME/`
 *   prefix not counted), payload > 128 KiB, or a reserved topic
 *   (`$CONTROL/...`, `$ddlocal[/...]`, `ddlocal[/...]`, `$aws/.../accepted`,
 *   `$aws/.../rejected`) is denied; otherwise iot:Publish on
 *   `topic/<topic>` (and iot:RetainPublish when retained).
 * - SUBSCRIBE: the same size limits; `$CONTROL/...`, `$ddlocal[/...]` and
 *   the publish-only report topics (`$aws/things/X/defender/metrics/Y` with
 *   X a name or `+` and Y `json`, `cbor` or `+`) are denied; otherwise
 *   iot:Subscribe on `topicfilter/<filter>`.
 * - READ: internal topics and the report topics are never delivered to a
 *   device (not counted); otherwise iot:Receive on `topic/<topic>`.
 * Every denial of WRITE, SUBSCRIBE or READ by policy or limit is metered as
 * an authorization failure. With kick-on-deny (default), a denied publish
 * also disconnects the client (from the next tick, as AWS closes MQTT 3.1.1
 * connections on an authorization failure); later packets of that
 * connection are denied without being counted again.
 *
 * ## Live changes
 * dd_shim_on_control() applies registry changes all or nothing, then
 * re-checks every connection: a certificate no longer ACTIVE, an identity
 * that changed, or iot:Connect now denied marks the connection revoked —
 * everything it does is denied from the very next packet — and it is
 * kicked at the next tick. Other policy changes apply from the next packet.
 *
 * Ownership: dd_shim_create() allocates the engine; dd_shim_destroy() frees
 * it. Strings passed in are borrowed for the call. Not thread-safe: all calls
 * come from the broker's one thread.
 */
#ifndef DD_SHIM_H_
#define DD_SHIM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_identity.h"
#include "dd_meter.h"
#include "dd_shimreg.h"

/** Status codes of this module. */
typedef enum dd_shim_status {
    DD_SHIM_OK = 0,
    DD_SHIM_BAD_PARAMETER, /**< NULL pointer or bad option. */
    DD_SHIM_DENIED,        /**< Connection refused / access denied. */
    DD_SHIM_INVALID,       /**< A control message was refused (nothing changed). */
    DD_SHIM_NO_MEMORY,     /**< Allocation failed. */
    DD_SHIM_STORE_ERROR    /**< The registry database could not be read. */
} dd_shim_status_t;

/** The access being checked (mosquitto's MOSQ_ACL_*). */
typedef enum dd_shim_access {
    DD_SHIM_ACCESS_READ = 0,
    DD_SHIM_ACCESS_WRITE,
    DD_SHIM_ACCESS_SUBSCRIBE,
    DD_SHIM_ACCESS_UNSUBSCRIBE
} dd_shim_access_t;

/** What the engine needs from the broker. */
typedef struct dd_shim_io {
    /**
     * Publishes a message (the broker copies the payload). @p client_id NULL
     * routes it to subscribers; otherwise it goes to that client only.
     * Returns 0 on success.
     */
    int (*publish)(void *ctx, const char *client_id, const char *topic, const void *payload,
                   size_t len, int qos);
    /** Disconnects the client with this id. Returns 0 on success. */
    int (*kick)(void *ctx, const char *client_id);
    void *ctx;
} dd_shim_io_t;

/** Settings; the plugin fills them from `plugin_opt_*` lines. Strings are borrowed. */
typedef struct dd_shim_config {
    const char *db_path;          /**< Registry database (read-only); NULL = start empty. */
    const char *clock_spec;       /**< dd_clock spec; NULL = "real". */
    const char *region;           /**< NULL = us-east-1. */
    const char *account;          /**< NULL = 123456789012. */
    bool single_cert_identity;    /**< ddlocal's identity rule (default true). */
    bool kick_on_deny;            /**< Disconnect a device on a denied publish (default true). */
    const char *metering_topic;   /**< Default "$ddlocal/metering/v1". */
    int64_t metering_flush_ms;    /**< Default DD_METER_DEFAULT_FLUSH_MS. */
    size_t metering_buffer_bytes; /**< Default DD_METER_DEFAULT_BUFFER. */
    const char *reserved_prefix;  /**< Default DD_IDENTITY_RESERVED_PREFIX; "" = none. */
    uint64_t instance_id;         /**< 0 = random. */
    bool debug;                   /**< Log every decision. */
} dd_shim_config_t;

/** Broker-side facts about a connecting client. */
typedef struct dd_shim_connect_info {
    const void *client; /**< The broker's handle (opaque, never dereferenced). */
    const char *client_id;
    const char *cert_id; /**< Hex SHA-256 of the certificate's DER; NULL = none. */
    const char *address; /**< Source IP, or NULL. */
    bool clean_session;
} dd_shim_connect_info_t;

/** Counters for logs and tests. */
typedef struct dd_shim_stats {
    uint64_t connects_accepted;
    uint64_t connects_refused;
    uint64_t denials; /**< Every denied WRITE/SUBSCRIBE/READ. */
    uint64_t kicks;   /**< Kicks handed to the broker. */
    uint64_t control_applied;
    uint64_t control_refused;
    size_t connections; /**< Records, online or not. */
    dd_meter_stats_t meter;
} dd_shim_stats_t;

/** AWS IoT limits the shim enforces. */
#define DD_SHIM_TOPIC_MAX 256
#define DD_SHIM_SLASHES_MAX 7
#define DD_SHIM_PAYLOAD_MAX (128u * 1024u)
/** Longest subject kept in a metering record (denied topics can be 64 KiB). */
#define DD_SHIM_METER_SUBJECT_MAX 1024
/** Clean-session records are freed this long after their disconnect. */
#define DD_SHIM_OFFLINE_GRACE_MS 2000

/** The engine (opaque). */
typedef struct dd_shim dd_shim_t;

/**
 * @brief Fills @p cfg with the defaults.
 * @param[out] cfg Settings.
 */
void dd_shim_config_defaults(dd_shim_config_t *cfg);

/**
 * @brief Sets one option from a `plugin_opt_KEY VALUE` line.
 *
 * Keys: db_path, clock, region, account, single_cert_identity (true/false),
 * kick_on_deny (true/false), metering_topic, metering_flush_ms,
 * metering_buffer_bytes, reserved_client_prefix, log_level (info/debug).
 *
 * @param[in,out] cfg Settings; string values are borrowed, not copied.
 * @param[in] key Option name without the `plugin_opt_` prefix.
 * @param[in] value Its value.
 * @param[out] err Optional message naming the problem.
 * @param[in] err_len Size of @p err.
 * @return DD_SHIM_OK or DD_SHIM_BAD_PARAMETER (unknown key, bad value).
 */
dd_shim_status_t dd_shim_config_set(dd_shim_config_t *cfg, const char *key, const char *value,
                                    char *err, size_t err_len);

/**
 * @brief Creates the engine and loads the registry from cfg->db_path.
 * @param[in] cfg Settings (copied).
 * @param[in] io Broker functions (copied).
 * @param[out] out Receives the engine.
 * @param[out] err Optional message naming the problem.
 * @param[in] err_len Size of @p err.
 * @return DD_SHIM_OK, DD_SHIM_BAD_PARAMETER, DD_SHIM_NO_MEMORY or DD_SHIM_STORE_ERROR.
 */
dd_shim_status_t dd_shim_create(const dd_shim_config_t *cfg, const dd_shim_io_t *io,
                                dd_shim_t **out, char *err, size_t err_len);

/**
 * @brief Publishes the pending metering batch and frees the engine.
 * @param[in] shim Engine; NULL is ignored.
 */
void dd_shim_destroy(dd_shim_t *shim);

/**
 * @brief Decides a CONNECT (the broker's BASIC_AUTH).
 * @param[in,out] shim Engine.
 * @param[in] info The client.
 * @param[in] wall_ms Monotonic or wall-clock ms (metering flush timing).
 * @return DD_SHIM_OK (accept), DD_SHIM_DENIED (refuse) or DD_SHIM_BAD_PARAMETER.
 */
dd_shim_status_t dd_shim_on_connect(dd_shim_t *shim, const dd_shim_connect_info_t *info,
                                    int64_t wall_ms);

/**
 * @brief Decides one access (the broker's ACL_CHECK).
 * @param[in,out] shim Engine.
 * @param[in] client The broker's handle.
 * @param[in] client_id The client id.
 * @param[in] access What is asked.
 * @param[in] topic Topic (READ, WRITE) or topic filter (SUBSCRIBE, UNSUBSCRIBE).
 * @param[in] payload_len Payload size (READ, WRITE).
 * @param[in] retain Retain flag (WRITE).
 * @param[in] wall_ms As in dd_shim_on_connect().
 * @return DD_SHIM_OK (allow), DD_SHIM_DENIED or DD_SHIM_BAD_PARAMETER.
 */
dd_shim_status_t dd_shim_on_acl(dd_shim_t *shim, const void *client, const char *client_id,
                                dd_shim_access_t access, const char *topic, size_t payload_len,
                                bool retain, int64_t wall_ms);

/**
 * @brief Records a disconnect (the broker's DISCONNECT event).
 * @param[in,out] shim Engine.
 * @param[in] client The broker's handle.
 * @param[in] client_id The client id; NULL (a refused connection) is ignored.
 * @param[in] wall_ms As in dd_shim_on_connect().
 */
void dd_shim_on_disconnect(dd_shim_t *shim, const void *client, const char *client_id,
                           int64_t wall_ms);

/**
 * @brief Handles a message on a `$CONTROL/ddlocal/v1/...` topic. Only the
 *        service identity is listened to. Replies on the response topic
 *        when the message carries an "id".
 * @param[in,out] shim Engine.
 * @param[in] client The sender's handle.
 * @param[in] client_id The sender's client id.
 * @param[in] topic The control topic.
 * @param[in] payload The payload.
 * @param[in] len Its length.
 * @param[in] wall_ms As in dd_shim_on_connect().
 * @return DD_SHIM_OK (applied), DD_SHIM_DENIED (sender is not the service),
 *         DD_SHIM_INVALID (refused; nothing changed), DD_SHIM_NO_MEMORY or
 *         DD_SHIM_BAD_PARAMETER.
 */
dd_shim_status_t dd_shim_on_control(dd_shim_t *shim, const void *client, const char *client_id,
                                    const char *topic, const void *payload, size_t len,
                                    int64_t wall_ms);

/**
 * @brief MOSQ_EVT_MESSAGE: a PUBLISH the ACL check allowed, before it is
 *        routed. A device's fleet provisioning request
 *        ($aws/certificates/create/json, .../create-from-csr/json,
 *        $aws/provisioning-templates/NAME/provision/json) is renamed to
 *        DD_CONTROL_PROV_REQUEST_PREFIX + hex(client id) + "/" + topic, which
 *        only ddlocald subscribes to; ddlocald's replies on
 *        DD_CONTROL_PROV_REPLY_PREFIX... are delivered to that one client
 *        (if connected and its policies allow iot:Receive on the reply topic).
 * @param[out] new_topic Receives the new topic when *renamed is true.
 * @param[out] renamed Whether the broker must use @p new_topic.
 * @return DD_SHIM_OK or DD_SHIM_BAD_PARAMETER.
 */
dd_shim_status_t dd_shim_on_message(dd_shim_t *shim, const void *client, const char *client_id,
                                    const char *topic, const void *payload, size_t len,
                                    char *new_topic, size_t new_topic_len, bool *renamed,
                                    int64_t wall_ms);

/**
 * @brief Periodic work (the broker's TICK, ~10 Hz): pending kicks, metering
 *        flush, freeing old offline records.
 * @param[in,out] shim Engine.
 * @param[in] wall_ms As in dd_shim_on_connect().
 */
void dd_shim_on_tick(dd_shim_t *shim, int64_t wall_ms);

/** @return The engine's registry copy (for tests and logs), or NULL. */
const dd_shimreg_t *dd_shim_registry(const dd_shim_t *shim);

/**
 * @brief The identity recorded for an online or offline connection.
 * @param[in] shim Engine.
 * @param[in] client_id Client id.
 * @param[out] thing Receives the thing name ("" when none); may be NULL.
 * @param[in] thing_len Size of @p thing.
 * @param[out] service Receives whether it is the service; may be NULL.
 * @param[out] online Receives whether it is connected; may be NULL.
 * @return DD_SHIM_OK, DD_SHIM_BAD_PARAMETER or DD_SHIM_DENIED (no record).
 */
dd_shim_status_t dd_shim_connection(const dd_shim_t *shim, const char *client_id, char *thing,
                                    size_t thing_len, bool *service, bool *online);

/**
 * @brief Reads the counters.
 * @param[in] shim Engine.
 * @param[out] stats Receives them.
 * @return DD_SHIM_OK or DD_SHIM_BAD_PARAMETER.
 */
dd_shim_status_t dd_shim_get_stats(const dd_shim_t *shim, dd_shim_stats_t *stats);

/** @return The pipeline time of the engine's clock (ms), 0 for NULL. */
int64_t dd_shim_now_ms(const dd_shim_t *shim);

/** @return Static text for @p status. */
const char *dd_shim_strerror(dd_shim_status_t status);

#endif /* DD_SHIM_H_ */
