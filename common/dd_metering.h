/**
 * @file dd_metering.h
 * @brief The metering batch format: the broker shim's cloud-side records
 *        (messages sent and received, authorization failures, connection
 *        attempts, disconnects) as one versioned little binary message.
 *
 * The shim appends records into a caller-provided buffer (dd_metering_writer_t,
 * no allocation) and publishes the finished batch at QoS 1 on an internal
 * topic; ddlocald decodes it with dd_metering_decode(), the same code.
 *
 * ## Wire format, version 2 (all integers little-endian)
 *
 * A change that an older decoder would misread (a new field, flag or record
 * type) bumps the version; the decoder reads every version it knows. Version
 * 2 added to version 1 the CONNECT record's certificate id and the
 * DISCONNECT record's takeover flag (the broker's connection history for
 * audits); a version 1 batch decodes with neither.
 *
 * Header, 40 bytes:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic "DDMB" |
 * | 4 | 1 | version = 2 (1 is still decoded) |
 * | 5 | 1 | flags = 0 (reserved; decoders refuse unknown bits) |
 * | 6 | 2 | header length = 40 (room for later fields) |
 * | 8 | 8 | instance id: random per shim start |
 * | 16 | 8 | sequence number: 1, 2, 3 ... per instance |
 * | 24 | 8 | base time: pipeline time (epoch ms, signed) of the first record |
 * | 32 | 4 | record count (event records, not string definitions) |
 * | 36 | 4 | body length in bytes (everything after the header) |
 *
 * (instance id, sequence) identifies a batch: a consumer that sees a
 * sequence it already processed for that instance (a QoS 1 redelivery)
 * drops it.
 *
 * Body: entries, each starting with a type byte. Integers in the body are
 * LEB128 varints ("uv"); a signed value is zigzag-encoded first ("sv").
 *
 * - `0x00` string definition: uv length (<= 65535), bytes. Strings are
 *   numbered 0, 1, 2 ... in order of appearance within the batch; records
 *   refer to them by number, so a thing name or topic repeated in the batch
 *   costs one or two bytes.
 * - `0x01`..`0x05` records: u8 flags (bit 0: key is a registered thing name,
 *   bit 1: success, CONNECT only; bit 2: takeover, DISCONNECT only, version
 *   2; other bits 0), sv time (ms since the base
 *   time), uv key (string number), uv subject (string number + 1, 0 = none),
 *   then per type:
 *   - `0x01` SENT (a device published; subject = topic): uv payload bytes;
 *   - `0x02` RECEIVED (a message was delivered to a device; subject = topic):
 *     uv payload bytes;
 *   - `0x03` AUTH_FAILURE (subject = topic, topic filter or client id):
 *     u8 action (dd_metering_action_t), u8 reason (dd_metering_reason_t);
 *   - `0x04` CONNECT (an attempt; subject = client id): uv source IP (string
 *     number + 1, 0 = unknown), then (version 2) uv certificate id (string
 *     number + 1, 0 = none);
 *   - `0x05` DISCONNECT (subject = client id): nothing more. The takeover
 *     flag says the broker closed the connection because a new connection
 *     came with the same client id (it precedes that CONNECT in the batch).
 *
 * The key is the thing name for connections that are a registered thing and
 * the client id otherwise (AWS's "unregistered things" use their client id).
 *
 * Ownership: the writer works in a buffer the caller owns and never
 * allocates. dd_metering_decode() allocates a temporary string table and
 * frees it before returning; records passed to its callback point into the
 * caller's buffer (strings are NOT NUL-terminated) and are valid only during
 * the callback. Not thread-safe per writer; the decoder keeps no state.
 */
#ifndef DD_METERING_H_
#define DD_METERING_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_metering_status {
    DD_METERING_OK = 0,
    DD_METERING_BAD_PARAMETER, /**< NULL pointer, bad enum, string too long. */
    DD_METERING_FULL,          /**< The record does not fit in this batch: flush, retry. */
    DD_METERING_TOO_LARGE,     /**< The record would not fit even in an empty batch. */
    DD_METERING_MALFORMED,     /**< Decoding: the batch is not valid (message says why). */
    DD_METERING_UNSUPPORTED,   /**< Decoding: a version or flag this code does not know. */
    DD_METERING_NO_MEMORY      /**< Allocation failed (decoder only). */
} dd_metering_status_t;

/** Record types (the wire values). */
typedef enum dd_metering_type {
    DD_METERING_SENT = 1,
    DD_METERING_RECEIVED = 2,
    DD_METERING_AUTH_FAILURE = 3,
    DD_METERING_CONNECT = 4,
    DD_METERING_DISCONNECT = 5
} dd_metering_type_t;

/** What was refused, for AUTH_FAILURE records (the wire values). */
typedef enum dd_metering_action {
    DD_METERING_ACTION_CONNECT = 0,
    DD_METERING_ACTION_PUBLISH = 1,
    DD_METERING_ACTION_SUBSCRIBE = 2,
    DD_METERING_ACTION_RECEIVE = 3
} dd_metering_action_t;

/** Why it was refused, for AUTH_FAILURE records (the wire values). */
typedef enum dd_metering_reason {
    DD_METERING_REASON_POLICY = 0,             /**< The IoT policies deny it (or allow nothing). */
    DD_METERING_REASON_TOPIC_TOO_LONG = 1,     /**< Topic over 256 bytes. */
    DD_METERING_REASON_TOO_MANY_LEVELS = 2,    /**< More than 7 slashes. */
    DD_METERING_REASON_PAYLOAD_TOO_LARGE = 3,  /**< Payload over 128 KB. */
    DD_METERING_REASON_RESERVED_TOPIC = 4,     /**< Reply, internal or publish-only topic. */
    DD_METERING_REASON_UNKNOWN_CERT = 5,       /**< Certificate not in the registry. */
    DD_METERING_REASON_CERT_NOT_ACTIVE = 6,    /**< INACTIVE, REVOKED or PENDING_ACTIVATION. */
    DD_METERING_REASON_REVOKED = 7,            /**< The connection lost its rights at runtime. */
    DD_METERING_REASON_RESERVED_CLIENT_ID = 8, /**< A client id reserved for ddlocal's services. */
    DD_METERING_REASON_COUNT
} dd_metering_reason_t;

/** A string that need not be NUL-terminated. */
typedef struct dd_metering_str {
    const char *ptr; /**< NULL = absent. */
    size_t len;
} dd_metering_str_t;

/** One record, as written and as decoded. */
typedef struct dd_metering_record {
    dd_metering_type_t type;
    int64_t time_ms;             /**< Pipeline time, epoch ms. */
    bool registered;             /**< @ref key is a thing name (else a client id). */
    dd_metering_str_t key;       /**< Thing name or client id; required. */
    dd_metering_str_t subject;   /**< Topic / filter / client id, see the format; may be absent. */
    uint32_t bytes;              /**< SENT, RECEIVED: payload size. */
    dd_metering_action_t action; /**< AUTH_FAILURE. */
    dd_metering_reason_t reason; /**< AUTH_FAILURE. */
    bool success;                /**< CONNECT: the connection was accepted. */
    dd_metering_str_t ip;        /**< CONNECT: source IP, may be absent. */
    dd_metering_str_t cert_id;   /**< CONNECT: certificate id (hex SHA-256), may be absent. */
    bool takeover;               /**< DISCONNECT: a new connection took the client id. */
} dd_metering_record_t;

/** The header of a batch. */
typedef struct dd_metering_header {
    uint8_t version;
    uint64_t instance_id;
    uint64_t seq;
    int64_t base_time_ms;
    uint32_t record_count;
} dd_metering_header_t;

/** Wire constants. */
#define DD_METERING_MAGIC "DDMB"
#define DD_METERING_VERSION 2
#define DD_METERING_HEADER_LEN 40
/** Longest string a batch can carry. */
#define DD_METERING_STRING_MAX 65535
/** Slots of the writer's string index; at most 3/4 of them are used per batch. */
#define DD_METERING_INTERN_SLOTS 1024
/** Smallest buffer a writer accepts. */
#define DD_METERING_MIN_BUFFER 256

/** Internal: one slot of the writer's string index. */
typedef struct dd_metering_intern {
    uint32_t hash;
    uint32_t id_plus_one; /**< 0 = empty slot */
    uint32_t offset;      /**< of the string bytes in the buffer */
    uint32_t len;
} dd_metering_intern_t;

/**
 * A batch being written. Caller-allocated (it is ~16 KB: embed it or
 * allocate it once); all fields are internal.
 */
typedef struct dd_metering_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint32_t records;
    uint32_t strings;
    int64_t base_time_ms;
    uint64_t instance_id;
    uint64_t seq;
    dd_metering_intern_t index[DD_METERING_INTERN_SLOTS];
} dd_metering_writer_t;

/**
 * @brief Makes a dd_metering_str_t from a C string (NULL gives an absent string).
 * @param[in] s NUL-terminated string or NULL.
 * @return The string view.
 */
dd_metering_str_t dd_metering_cstr(const char *s);

/**
 * @brief Starts a new, empty batch in @p buf.
 * @param[out] w Writer.
 * @param[in] buf Buffer the batch is written into (borrowed until the batch
 *                is finished and sent).
 * @param[in] cap Size of @p buf, >= DD_METERING_MIN_BUFFER and < 4 GiB.
 * @param[in] instance_id Instance id of the writer's process.
 * @param[in] seq Sequence number of this batch.
 * @return DD_METERING_OK or DD_METERING_BAD_PARAMETER.
 */
dd_metering_status_t dd_metering_writer_begin(dd_metering_writer_t *w, uint8_t *buf, size_t cap,
                                              uint64_t instance_id, uint64_t seq);

/**
 * @brief Appends one record. All or nothing: on DD_METERING_FULL the batch
 *        is unchanged, so the caller can finish it, send it, begin a new one
 *        and append the record again.
 * @param[in,out] w Writer.
 * @param[in] rec Record; strings over DD_METERING_STRING_MAX are refused.
 * @return DD_METERING_OK, DD_METERING_BAD_PARAMETER, DD_METERING_FULL or
 *         DD_METERING_TOO_LARGE.
 */
dd_metering_status_t dd_metering_writer_add(dd_metering_writer_t *w,
                                            const dd_metering_record_t *rec);

/**
 * @brief Number of records appended since dd_metering_writer_begin().
 * @param[in] w Writer.
 * @return The count (0 for NULL).
 */
uint32_t dd_metering_writer_count(const dd_metering_writer_t *w);

/**
 * @brief Completes the header. The batch is buf[0 .. *len).
 * @param[in,out] w Writer.
 * @param[out] len Receives the batch length in bytes.
 * @return DD_METERING_OK or DD_METERING_BAD_PARAMETER.
 */
dd_metering_status_t dd_metering_writer_finish(dd_metering_writer_t *w, size_t *len);

/**
 * @brief Receives one decoded record.
 * @param[in] ctx The @p ctx given to dd_metering_decode().
 * @param[in] hdr The batch header.
 * @param[in] rec The record (valid during the call only).
 * @return 0 to continue, non-zero to stop (dd_metering_decode() then returns OK).
 */
typedef int (*dd_metering_record_fn)(void *ctx, const dd_metering_header_t *hdr,
                                     const dd_metering_record_t *rec);

/**
 * @brief Validates a whole batch, then calls @p fn for each record in order.
 *        Nothing is reported from a batch that is malformed anywhere.
 * @param[in] buf The batch.
 * @param[in] len Its length in bytes.
 * @param[out] hdr Optional: receives the header.
 * @param[in] fn Callback per record; may be NULL (validate only).
 * @param[in] ctx Passed to @p fn.
 * @param[out] err Optional: receives a message on MALFORMED/UNSUPPORTED.
 * @param[in] err_len Size of @p err.
 * @return DD_METERING_OK, DD_METERING_BAD_PARAMETER, DD_METERING_MALFORMED,
 *         DD_METERING_UNSUPPORTED or DD_METERING_NO_MEMORY.
 */
dd_metering_status_t dd_metering_decode(const void *buf, size_t len, dd_metering_header_t *hdr,
                                        dd_metering_record_fn fn, void *ctx, char *err,
                                        size_t err_len);

/** @return "SENT", "RECEIVED", "AUTH_FAILURE", "CONNECT", "DISCONNECT" or "?". */
const char *dd_metering_type_name(dd_metering_type_t type);

/** @return "iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive" or "?". */
const char *dd_metering_action_name(dd_metering_action_t action);

/** @return A short name of @p reason ("policy", "topic-too-long", ...) or "?". */
const char *dd_metering_reason_name(dd_metering_reason_t reason);

/** @return Static text for @p status. */
const char *dd_metering_strerror(dd_metering_status_t status);

#endif /* DD_METERING_H_ */
