/**
 * @file dd_control.h
 * @brief The control protocol between ddlocal's services and the broker shim:
 *        registry changes and the pipeline clock, sent as MQTT messages on
 *        `$CONTROL/ddlocal/v1/...` topics that only the service identity may
 *        publish.
 *
 * ddlocald follows the registry's change log and, for every changed entity,
 * publishes the entity's new state (exactly dd_registry_entity_json()) so the
 * shim's in-memory copy changes at once. Encoders and the decoder live here
 * so both sides share one definition.
 *
 * ## Topics and payloads (JSON, UTF-8)
 *
 * `$CONTROL/ddlocal/v1/registry` — registry changes:
 * @code
 * {"id":"42",                       (optional; asks for a response)
 *  "full":false,                    (optional; true = this is the whole registry)
 *  "entities":[{"kind":"thing","name":"Thing03","state":{"exists":true,"groups":["G"]}},
 *              {"kind":"cert","name":"<64 hex>","state":{"exists":true,"status":"INACTIVE",...}},
 *              ...]}
 * @endcode
 * A single entity may also be sent bare: `{"kind":...,"name":...,"state":...}`.
 * `kind` is "thing", "cert", "group" or "policy"; `state` is what
 * dd_registry_entity_json() returns ({"exists":false} deletes). A message is
 * applied all or nothing: if any entity is invalid (a policy document that
 * does not parse, a bad status...) nothing changes and the shim keeps the
 * previous registry. With "full":true the shim drops every entity the
 * message does not name (ddlocald sends one at start to resynchronise).
 *
 * `$CONTROL/ddlocal/v1/clock` — the pipeline clock:
 * `{"clock":"manual:1700000000000"}` (any dd_clock spec; a manual clock only
 * moves forward), optionally with "id".
 *
 * `$CONTROL/ddlocal/v1/flush` — the barrier of a manual clock advance:
 * `{"id":"b7"}` makes the shim publish its metering batch at once and then
 * answer on the response topic. Both go to ddlocald through the broker's
 * queue of plugin messages, in that order, so when ddlocald has processed
 * the response it has processed every record metered before the request
 * (and every report the broker routed to it before).
 *
 * `$CONTROL/ddlocal/v1/kick` — disconnect a thing's devices (fault injection,
 * `ddlocal fault add disconnect`): `{"thing":"Thing03"}`, optionally with
 * "id". The shim disconnects every live device connection of that thing at
 * its next tick, the way it disconnects a revoked connection; the device may
 * connect again at once.
 *
 * `$CONTROL/ddlocal/v1/response` — sent by the shim to the requesting
 * client only, and only when the request had an "id":
 * `{"id":"42","ok":true}` or `{"id":"42","ok":false,"error":"policy P: ..."}`.
 *
 * Ordering: the broker (mosquitto 2.0.11) runs the shim's control callback
 * and only then sends the PUBACK of a QoS 1 control message (checked on the
 * real broker), so a sender that waits for the PUBACK knows the change is in
 * force for every packet the broker reads afterwards.
 *
 * Ownership: encoders return malloc'd text the caller frees with free().
 * A decoded dd_control_message_t owns a cJSON tree; every pointer in it
 * stays valid until dd_control_message_free(). No global state.
 */
#ifndef DD_CONTROL_H_
#define DD_CONTROL_H_

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "dd_registry.h"

/** Status codes of this module. */
typedef enum dd_control_status {
    DD_CONTROL_OK = 0,
    DD_CONTROL_BAD_PARAMETER, /**< NULL pointer, bad kind or name. */
    DD_CONTROL_MALFORMED,     /**< Decoding: not a valid control message (message says why). */
    DD_CONTROL_UNKNOWN_TOPIC, /**< Decoding: not one of the control topics. */
    DD_CONTROL_NO_MEMORY,     /**< Allocation failed. */
    DD_CONTROL_REGISTRY_ERROR /**< Reading the registry failed. */
} dd_control_status_t;

/** Topics. */
#define DD_CONTROL_TOPIC_PREFIX "$CONTROL/ddlocal/v1/"
#define DD_CONTROL_TOPIC_REGISTRY "$CONTROL/ddlocal/v1/registry"
#define DD_CONTROL_TOPIC_CLOCK "$CONTROL/ddlocal/v1/clock"
#define DD_CONTROL_TOPIC_RESPONSE "$CONTROL/ddlocal/v1/response"
#define DD_CONTROL_TOPIC_FLUSH "$CONTROL/ddlocal/v1/flush"
#define DD_CONTROL_TOPIC_KICK "$CONTROL/ddlocal/v1/kick"

/*
 * Fleet provisioning's request/reply (AWS answers "through the same MQTT
 * connection used to publish the API request"): the shim renames a device's
 * request on $aws/certificates/create/json and the like to
 * REQUEST_PREFIX + hex(client id) + "/" + the topic, which ddlocald alone
 * subscribes to; ddlocald answers on REPLY_PREFIX + hex(client id) + "/" +
 * the reply topic, and the shim delivers that to the one client.
 */
#define DD_CONTROL_PROV_REQUEST_PREFIX "$ddlocal/provisioning/v1/request/"
#define DD_CONTROL_PROV_REPLY_PREFIX "$ddlocal/provisioning/v1/reply/"
/** Longest client id that can provision (AWS: 128). */
#define DD_CONTROL_PROV_CLIENT_ID_MAX 128

/** Longest correlation id, without the NUL. */
#define DD_CONTROL_ID_MAX 128
/** Room for any error message of this module and of the shim's replies. */
#define DD_CONTROL_ERROR_MAX 320

/** What a control message asks for. */
typedef enum dd_control_type {
    DD_CONTROL_REGISTRY = 0,
    DD_CONTROL_CLOCK,
    DD_CONTROL_FLUSH, /**< Publish the metering batch now (the clock barrier). */
    DD_CONTROL_KICK   /**< Disconnect a thing's device connections. */
} dd_control_type_t;

/** One entity of a registry message (borrowed from the message's tree). */
typedef struct dd_control_entity {
    dd_registry_kind_t kind;
    const char *name;
    const cJSON *state;
} dd_control_entity_t;

/** A decoded control message. */
typedef struct dd_control_message {
    dd_control_type_t type;
    const char *id;                /**< Correlation id or NULL. */
    bool full;                     /**< REGISTRY: a complete snapshot. */
    dd_control_entity_t *entities; /**< REGISTRY: malloc'd array. */
    size_t count;                  /**< REGISTRY: number of entities. */
    const char *clock_spec;        /**< CLOCK: the dd_clock spec. */
    const char *thing;             /**< KICK: the thing whose connections go. */
    cJSON *root;                   /**< Owned tree. */
} dd_control_message_t;

/** A registry message being built (for ddlocald). */
typedef struct dd_control_batch {
    cJSON *root;
    cJSON *entities;
    size_t count;
} dd_control_batch_t;

/**
 * @brief Starts a registry message.
 * @param[out] batch Batch to initialise.
 * @param[in] id Correlation id (asks the shim for a response), or NULL.
 * @param[in] full true when the batch will hold the whole registry.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_batch_init(dd_control_batch_t *batch, const char *id, bool full);

/**
 * @brief Adds one entity with the given state (copied).
 * @param[in,out] batch Batch.
 * @param[in] kind Entity kind.
 * @param[in] name Entity name (validated for its kind).
 * @param[in] state The state, as dd_registry_entity_json() builds it.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_batch_add(dd_control_batch_t *batch, dd_registry_kind_t kind,
                                         const char *name, const cJSON *state);

/**
 * @brief Adds one entity with its current state read from the registry
 *        (what ddlocald does for each change-log entry).
 * @param[in,out] batch Batch.
 * @param[in] reg Open registry.
 * @param[in] kind Entity kind.
 * @param[in] name Entity name.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER, DD_CONTROL_NO_MEMORY or
 *         DD_CONTROL_REGISTRY_ERROR.
 */
dd_control_status_t dd_control_batch_add_from_registry(dd_control_batch_t *batch,
                                                       dd_registry_t *reg, dd_registry_kind_t kind,
                                                       const char *name);

/**
 * @brief Adds every entity of the registry (for a "full" batch).
 * @param[in,out] batch Batch.
 * @param[in] reg Open registry.
 * @return As dd_control_batch_add_from_registry().
 */
dd_control_status_t dd_control_batch_add_all(dd_control_batch_t *batch, dd_registry_t *reg);

/** @return Number of entities added so far (0 for NULL). */
size_t dd_control_batch_count(const dd_control_batch_t *batch);

/**
 * @brief Encodes the batch (publish it on DD_CONTROL_TOPIC_REGISTRY).
 * @param[in] batch Batch.
 * @param[out] payload Receives malloc'd JSON text (NUL-terminated); free().
 * @param[out] len Receives its length without the NUL.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_batch_encode(const dd_control_batch_t *batch, char **payload,
                                            size_t *len);

/**
 * @brief Frees a batch's tree (the struct itself is the caller's).
 * @param[in,out] batch Batch; NULL is ignored.
 */
void dd_control_batch_free(dd_control_batch_t *batch);

/**
 * @brief Encodes one entity read from the registry as a bare registry message.
 * @param[in] reg Open registry.
 * @param[in] kind Entity kind.
 * @param[in] name Entity name.
 * @param[in] id Correlation id or NULL.
 * @param[out] payload Receives malloc'd JSON text; free().
 * @param[out] len Receives its length.
 * @return As dd_control_batch_add_from_registry().
 */
dd_control_status_t dd_control_encode_entity(dd_registry_t *reg, dd_registry_kind_t kind,
                                             const char *name, const char *id, char **payload,
                                             size_t *len);

/**
 * @brief Encodes a clock message (publish it on DD_CONTROL_TOPIC_CLOCK).
 * @param[in] clock_spec A dd_clock spec, e.g. from dd_clock_format().
 * @param[in] id Correlation id or NULL.
 * @param[out] payload Receives malloc'd JSON text; free().
 * @param[out] len Receives its length.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_encode_clock(const char *clock_spec, const char *id, char **payload,
                                            size_t *len);

/**
 * @brief Encodes a flush request (publish it on DD_CONTROL_TOPIC_FLUSH).
 * @param[in] id Correlation id (required: the response is the barrier).
 * @param[out] payload Receives malloc'd JSON text; free().
 * @param[out] len Receives its length.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_encode_flush(const char *id, char **payload, size_t *len);

/**
 * @brief Encodes a kick request (publish it on DD_CONTROL_TOPIC_KICK).
 * @param[in] thing The thing whose device connections the shim closes.
 * @param[in] id Correlation id or NULL.
 * @param[out] payload Receives malloc'd JSON text; free().
 * @param[out] len Receives its length.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_encode_kick(const char *thing, const char *id, char **payload,
                                           size_t *len);

/**
 * @brief Decodes a control message received on @p topic.
 * @param[in] topic The topic it arrived on.
 * @param[in] payload The payload (need not be NUL-terminated).
 * @param[in] len Its length.
 * @param[out] msg Receives the message; free with dd_control_message_free()
 *                 (also after a failure: it is then empty).
 * @param[out] err Optional: a message naming the problem.
 * @param[in] err_len Size of @p err.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER, DD_CONTROL_UNKNOWN_TOPIC,
 *         DD_CONTROL_MALFORMED or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_decode(const char *topic, const void *payload, size_t len,
                                      dd_control_message_t *msg, char *err, size_t err_len);

/**
 * @brief Frees what dd_control_decode() allocated; leaves @p msg empty.
 * @param[in,out] msg Message; NULL is ignored.
 */
void dd_control_message_free(dd_control_message_t *msg);

/**
 * @brief Encodes a response (the shim's side).
 * @param[in] id Correlation id of the request.
 * @param[in] ok Whether the request was applied.
 * @param[in] error Why not (when !ok), or NULL.
 * @param[out] payload Receives malloc'd JSON text; free().
 * @param[out] len Receives its length.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_NO_MEMORY.
 */
dd_control_status_t dd_control_encode_response(const char *id, bool ok, const char *error,
                                               char **payload, size_t *len);

/**
 * @brief Decodes a response (the sender's side).
 * @param[in] payload The payload.
 * @param[in] len Its length.
 * @param[out] id Receives the correlation id (DD_CONTROL_ID_MAX + 1 bytes).
 * @param[out] ok Receives whether the request was applied.
 * @param[out] error Optional: receives the error text ("" when ok).
 * @param[in] error_len Size of @p error.
 * @return DD_CONTROL_OK, DD_CONTROL_BAD_PARAMETER or DD_CONTROL_MALFORMED.
 */
dd_control_status_t dd_control_decode_response(const void *payload, size_t len,
                                               char id[DD_CONTROL_ID_MAX + 1], bool *ok,
                                               char *error, size_t error_len);

/**
 * @brief The name kind to validate an entity name of @p kind with.
 * @param[in] kind Entity kind.
 * @return DD_NAME_THING, DD_NAME_CERTIFICATE, DD_NAME_THING_GROUP or DD_NAME_POLICY.
 */
dd_name_kind_t dd_control_name_kind(dd_registry_kind_t kind);

/** @return Static text for @p status. */
const char *dd_control_strerror(dd_control_status_t status);

/**
 * @brief Builds @p prefix + hex(@p client_id) + "/" + @p topic (the renaming
 *        of provisioning requests and replies, see DD_CONTROL_PROV_REQUEST_PREFIX).
 * @return DD_CONTROL_OK, or DD_CONTROL_BAD_PARAMETER (NULL, a client id longer
 *         than DD_CONTROL_PROV_CLIENT_ID_MAX or empty, or @p buf too small).
 */
dd_control_status_t dd_control_prov_wrap(const char *prefix, const char *client_id,
                                         const char *topic, char *buf, size_t len);

/**
 * @brief The inverse of dd_control_prov_wrap().
 * @param[out] client_id Buffer of at least DD_CONTROL_PROV_CLIENT_ID_MAX + 1.
 * @param[out] topic Points into @p wrapped, at the inner topic.
 * @return DD_CONTROL_OK, DD_CONTROL_UNKNOWN_TOPIC (not this prefix or not
 *         hex) or DD_CONTROL_BAD_PARAMETER.
 */
dd_control_status_t dd_control_prov_unwrap(const char *prefix, const char *wrapped, char *client_id,
                                           size_t client_id_len, const char **topic);

#endif /* DD_CONTROL_H_ */
