/**
 * @file dd_report.h
 * @brief Device Defender metrics reports: the decoded form, decoding (JSON
 *        long/short/mixed keys, CBOR) with validation, encoding, and the
 *        /accepted and /rejected replies.
 *
 * A dd_report_t owns the arrays it points to; dd_report_free() releases them
 * (and is safe on a zeroed or half-filled report). Every pointer in a report
 * (items, custom, numbers, strings and each strings[i], ips) is its own
 * malloc() block, so code that builds a report by hand (agent, simulator)
 * may release it with dd_report_free() too. dd_report_decode() never
 * leaves a half-filled report behind on failure: the report is freed and
 * zeroed, and the error says why. Encoders write into caller buffers.
 *
 * Thread-safety: every function is reentrant; distinct reports may be decoded
 * and encoded on several threads at once. (cJSON records its last parse error
 * in a global of its own on a JSON syntax error; nothing here reads it.)
 *
 * The full rule set, with every decision taken on the spec's UNCONFIRMED
 * items, is in docs/reference/report-format.md.
 *
 * Field semantics follow defender-spec.md §1: network_stats are deltas; lists
 * may be shorter than their `total`; custom metric values are one-element
 * arrays holding exactly one of number / number_list / string_list / ip_list.
 */
#ifndef DD_REPORT_H_
#define DD_REPORT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_ip.h"

/** Status codes of this module. */
typedef enum dd_report_status {
    DD_REPORT_OK = 0,
    DD_REPORT_BAD_PARAMETER, /**< NULL pointer. */
    DD_REPORT_NO_MEMORY,
    DD_REPORT_TOO_LARGE,       /**< Payload over DD_REPORT_MAX_PAYLOAD. */
    DD_REPORT_NOT_JSON,        /**< Payload is not a JSON document. */
    DD_REPORT_NOT_CBOR,        /**< Payload is not a CBOR item. */
    DD_REPORT_NOT_OBJECT,      /**< Top level is not an object / map. */
    DD_REPORT_MISSING_HEADER,  /**< header/hed, report_id/rid or version/v missing. */
    DD_REPORT_MISSING_METRICS, /**< Neither metrics/met nor custom_metrics/cmet. */
    DD_REPORT_WRONG_TYPE,      /**< A member has the wrong type or range. */
    DD_REPORT_BAD_VERSION,     /**< version is not "1.x". */
    DD_REPORT_BAD_CUSTOM_METRIC, /**< Custom metric value not a one-element array of one known member. */
    DD_REPORT_BUFFER_TOO_SMALL, /**< Encoder output buffer too small. */
    DD_REPORT_BAD_TOPIC,        /**< Not $aws/things/T/defender/metrics/{json,cbor}; bad T. */
    DD_REPORT_MISSING_MEMBER,   /**< Required member below metrics missing (remote_addr). */
    DD_REPORT_MIXED_KEYS        /**< Long and short names mixed (opts.reject_mixed_keys). */
} dd_report_status_t;

/** Wire formats. */
typedef enum dd_report_format {
    DD_REPORT_FORMAT_JSON = 0,
    DD_REPORT_FORMAT_CBOR = 1
} dd_report_format_t;

/** Key style used when encoding JSON or CBOR. */
typedef enum dd_report_keys {
    DD_REPORT_KEYS_LONG = 0, /**< "header", "report_id", ... */
    DD_REPORT_KEYS_SHORT = 1 /**< "hed", "rid", ... */
} dd_report_keys_t;

/** AWS IoT's message size limit; larger reports are refused. */
#define DD_REPORT_MAX_PAYLOAD (128u * 1024u)
/** Longest interface name kept (longer ones are truncated). */
#define DD_REPORT_IFACE_MAX 32
/** Longest custom metric name (AWS: 128). */
#define DD_REPORT_METRIC_NAME_MAX 128
/** Longest thing name in a report topic, in bytes (AWS: 128). */
#define DD_REPORT_THING_NAME_MAX 128
/** Highest report_id a JSON report may carry: 2^53 - 1 (cJSON holds doubles). */
#define DD_REPORT_JSON_MAX_INT 9007199254740991ULL
/** Deepest nesting accepted in a CBOR report (cJSON's own limit for JSON is also 1000). */
#define DD_REPORT_CBOR_MAX_DEPTH 1000

/** One listening port. */
typedef struct dd_report_port {
    uint16_t port; /**< 1..65535 (entries without a port are skipped on decode). */
    bool has_interface;
    char interface[DD_REPORT_IFACE_MAX + 1];
} dd_report_port_t;

/** listening_tcp_ports / listening_udp_ports. */
typedef struct dd_report_ports {
    bool present; /**< The block was in the report. */
    bool has_total;
    uint64_t total; /**< `total`, may exceed count. */
    size_t count;
    dd_report_port_t *items;
} dd_report_ports_t;

/** One established TCP connection. */
typedef struct dd_report_conn {
    dd_ip_t remote_ip;
    uint16_t remote_port;
    bool has_local_port;
    uint16_t local_port;
    bool has_local_interface;
    char local_interface[DD_REPORT_IFACE_MAX + 1];
} dd_report_conn_t;

/** tcp_connections.established_connections. */
typedef struct dd_report_conns {
    bool present; /**< established_connections was in the report. */
    bool has_total;
    uint64_t total;
    size_t count;
    dd_report_conn_t *items;
} dd_report_conns_t;

/** network_stats (deltas since the previous report). */
typedef struct dd_report_netstats {
    bool present;
    bool has_bytes_in, has_bytes_out, has_packets_in, has_packets_out;
    uint64_t bytes_in, bytes_out, packets_in, packets_out;
} dd_report_netstats_t;

/** Custom metric value kinds (the report's inner key). */
typedef enum dd_custom_kind {
    DD_CUSTOM_NUMBER = 0,  /**< "number" */
    DD_CUSTOM_NUMBER_LIST, /**< "number_list" */
    DD_CUSTOM_STRING_LIST, /**< "string_list" */
    DD_CUSTOM_IP_LIST      /**< "ip_list" */
} dd_custom_kind_t;

/** One custom metric value. Exactly the members of @ref kind are set. */
typedef struct dd_report_custom {
    char name[DD_REPORT_METRIC_NAME_MAX + 1];
    dd_custom_kind_t kind;
    double number;   /**< DD_CUSTOM_NUMBER */
    size_t count;    /**< Elements of the list kinds (0 for DD_CUSTOM_NUMBER). */
    double *numbers; /**< DD_CUSTOM_NUMBER_LIST */
    char **strings;  /**< DD_CUSTOM_STRING_LIST (each NUL-terminated, owned) */
    dd_ip_t *ips;    /**< DD_CUSTOM_IP_LIST */
} dd_report_custom_t;

/** A decoded report. Zero-initialise before use; release with dd_report_free(). */
typedef struct dd_report {
    uint64_t report_id;
    char version[16];        /**< "1.x" as sent; the encoder writes "1.0" when empty. */
    bool has_metrics;        /**< metrics/met block present (may be empty). */
    bool has_custom_metrics; /**< custom_metrics/cmet block present. */
    dd_report_ports_t tcp_ports;
    dd_report_ports_t udp_ports;
    dd_report_conns_t tcp_conns;
    dd_report_netstats_t net;
    size_t custom_count;
    dd_report_custom_t *custom;
    /**
     * Custom metrics dropped on decode because their data breaks AWS's data
     * rules (an ip_list entry that is no IPv4/IPv6 address): AWS documents
     * such data as "sent but not retained", so the report is still accepted
     * (see dd_report_options_t.reject_invalid_ip_list). Ignored by the encoder.
     */
    size_t custom_dropped;
    char custom_dropped_name[DD_REPORT_METRIC_NAME_MAX + 1]; /**< First dropped metric. */
} dd_report_t;

/**
 * Switches for the spec's UNCONFIRMED decode behaviours. All-zero (or NULL)
 * gives the defaults documented in docs/reference/report-format.md.
 */
typedef struct dd_report_options {
    /** Refuse (DD_REPORT_MIXED_KEYS) a report mixing long and short key names. Default: accept. */
    bool reject_mixed_keys;
    /** Refuse (WRONG_TYPE) an ip_list with an invalid address. Default: drop the metric. */
    bool reject_invalid_ip_list;
} dd_report_options_t;

/** Why a report was refused, for logs and the optional fine-grained codes. */
typedef struct dd_report_error {
    dd_report_status_t status;
    bool report_id_known; /**< header.report_id was readable. */
    uint64_t report_id;
    char detail[160]; /**< e.g. "custom_metrics.cpu: value must be an array" */
} dd_report_error_t;

/**
 * @brief Decodes and validates a report as published on
 *        `$aws/things/T/defender/metrics/{json,cbor}`.
 *
 * JSON: long, short or mixed keys; trailing whitespace and then one NUL byte
 * tolerated (aws-c-iot publishes strlen+1 bytes), anything else after the
 * document is DD_REPORT_NOT_JSON; integers exact up to 2^53 - 1
 * (DD_REPORT_JSON_MAX_INT: cJSON holds doubles, so a larger report_id or
 * counter is refused as DD_REPORT_WRONG_TYPE rather than silently rounded).
 * CBOR: exactly one item, definite or indefinite maps/arrays/strings, text
 * keys, integers of every width up to 2^64 - 1, half/single/double floats.
 * In both, an integer member also takes an integral float (JSON cannot tell
 * 5 from 5.0).
 *
 * Validation, in this order (the first problem found is returned):
 * - size > DD_REPORT_MAX_PAYLOAD: TOO_LARGE; syntax: NOT_JSON / NOT_CBOR;
 *   top level not an object: NOT_OBJECT;
 * - header: missing header, report_id or version: MISSING_HEADER; report_id
 *   not an integer 1..2^64-1 (JSON ..2^53-1): WRONG_TYPE; version not a
 *   string: WRONG_TYPE; not "1." followed by 1..13 digits: BAD_VERSION.
 *   Once report_id is valid, err->report_id_known is set, even if a later
 *   check refuses the report;
 * - a member named twice (also as long + short form): WRONG_TYPE;
 * - neither metrics nor custom_metrics (both may be empty objects):
 *   MISSING_METRICS;
 * - metrics: every block an object, lists arrays of objects; total,
 *   network_stats counters: integers >= 0 (64-bit); ports: 1..65535;
 *   local_port: 0..65535; remote_addr: a string dd_ip_parse_endpoint()
 *   accepts (missing: MISSING_MEMBER); interface names: strings, truncated to
 *   DD_REPORT_IFACE_MAX bytes; a ports entry without a port is skipped;
 * - custom_metrics: names 1..128 of [a-zA-Z0-9:_-] (WRONG_TYPE otherwise);
 *   each value an array holding exactly one object that holds exactly one of
 *   number / number_list / string_list / ip_list, else BAD_CUSTOM_METRIC;
 *   numbers finite (negative allowed); list elements of the right type, else
 *   WRONG_TYPE; an ip_list with an invalid address drops that metric
 *   (custom_dropped) unless opts->reject_invalid_ip_list;
 * - mixed long/short keys: MIXED_KEYS only with opts->reject_mixed_keys.
 * Unknown members are ignored everywhere except inside a custom metric's
 * object. JSON null / CBOR null or undefined counts as absent for every
 * member (so a required member set to null is "missing").
 * err->detail names the member path as sent, e.g.
 * "met.tc.ec.cs[2].rad: not an ip:port endpoint".
 *
 * @param[in] format Wire format (from the topic).
 * @param[in] payload Bytes as received.
 * @param[in] len Length of @p payload.
 * @param[out] out Receives the report; zeroed on failure.
 * @param[out] err Optional: why it failed, and the report id if it was readable.
 * @return DD_REPORT_OK or the first problem found.
 */
dd_report_status_t dd_report_decode(dd_report_format_t format, const uint8_t *payload, size_t len,
                                    dd_report_t *out, dd_report_error_t *err);

/**
 * @brief dd_report_decode() with explicit options for the UNCONFIRMED behaviours.
 * @param[in] opts Options; NULL means all defaults.
 * @return As dd_report_decode(), plus DD_REPORT_MIXED_KEYS.
 */
dd_report_status_t dd_report_decode_ex(dd_report_format_t format, const uint8_t *payload,
                                       size_t len, const dd_report_options_t *opts,
                                       dd_report_t *out, dd_report_error_t *err);

/**
 * @brief dd_report_decode() of a JSON report already parsed by the caller
 *        (a report embedded in a larger document: `ddlocal replay`'s lines),
 *        with the same validation and errors, without printing and parsing
 *        it again. The payload size limit does not apply (there are no bytes).
 * @param[in] root The report object (borrowed).
 * @return As dd_report_decode().
 */
dd_report_status_t dd_report_decode_cjson(const cJSON *root, dd_report_t *out,
                                          dd_report_error_t *err);

/** @brief Releases what a report owns and zeroes it. NULL is ignored. */
void dd_report_free(dd_report_t *report);

/**
 * @brief Encodes a report as a device would send it.
 *
 * Order: header, metrics (listening_tcp_ports, listening_udp_ports,
 * network_stats, tcp_connections), custom_metrics. Blocks whose `present`
 * flag is false are omitted; metrics is written when has_metrics or any
 * block is present, custom_metrics when has_custom_metrics or custom_count
 * > 0; "ports"/"connections" arrays are always written inside a present
 * block (possibly empty), "total" only with has_total. remote_addr is
 * "a.b.c.d:port" or "[v6]:port". Integers are exact (a JSON report_id above
 * 2^53 - 1 is written but the decoder refuses it). Custom numbers: JSON uses
 * the shortest text that reads back to the same double; CBOR uses the
 * smallest integer encoding for integral values below 2^53, else a double.
 * CBOR maps and arrays are definite-length. A NaN/infinite number, an unknown
 * custom kind, a NULL list/string or an unterminated name gives DD_REPORT_BAD_PARAMETER.
 *
 * @param[in] report Report to encode.
 * @param[in] format JSON or CBOR.
 * @param[in] keys Long or short key names.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @param[out] out_len Bytes written (JSON: without a NUL; a NUL is still written when room allows).
 * @return DD_REPORT_OK, DD_REPORT_BAD_PARAMETER, DD_REPORT_NO_MEMORY or DD_REPORT_BUFFER_TOO_SMALL.
 */
dd_report_status_t dd_report_encode(const dd_report_t *report, dd_report_format_t format,
                                    dd_report_keys_t keys, uint8_t *buf, size_t len,
                                    size_t *out_len);

/** What dd_report_encode_cached() keeps between calls (opaque). */
typedef struct dd_report_cache dd_report_cache_t;

/** @return A new, empty cache, or NULL when memory runs out. Free with dd_report_cache_free(). */
dd_report_cache_t *dd_report_cache_new(void);

/** @brief Releases a cache. NULL is ignored. */
void dd_report_cache_free(dd_report_cache_t *cache);

/**
 * @brief dd_report_encode() for a run of reports that mostly differ only in
 *        their integers: the same bytes and status, cheaper.
 *
 * JSON: the cache keeps the last report's document as the JSON library
 * produced it, with the positions of its integers (report_id, ports,
 * totals, network_stats, local ports); a report of the same shape (every
 * other member, string and address equal) is that text with its own digits
 * in those positions, anything else is encoded afresh and becomes the
 * cached shape. Reports with custom metrics and CBOR are encoded afresh.
 * Not thread-safe per cache (one cache per thread).
 *
 * @param[in,out] cache From dd_report_cache_new().
 * Other parameters and the return value as dd_report_encode().
 */
dd_report_status_t dd_report_encode_cached(dd_report_cache_t *cache, const dd_report_t *report,
                                           dd_report_format_t format, dd_report_keys_t keys,
                                           uint8_t *buf, size_t len, size_t *out_len);

/** Most decimal digits of a uint64_t (18446744073709551615). */
#define DD_REPORT_U64_DIGITS_MAX 20

/**
 * @brief The decimal digits of @p v, as %PRIu64 prints them, without a NUL.
 *
 * The digit writer of dd_report_encode_cached(), shared with the fleet emitter, which writes
 * the integers of its line heads the same way (two digits a division: formatting the times of
 * every line was a tenth of the emitter's CPU with snprintf).
 * @param[in] v The number.
 * @param[out] out Room for DD_REPORT_U64_DIGITS_MAX bytes.
 * @return How many digits were written (1 to 20); 0 when @p out is NULL.
 */
size_t dd_report_u64_digits(uint64_t v, char *out);

/**
 * @brief Encodes an /accepted reply:
 *        {"thingName":T,"reportId":R,"status":"ACCEPTED","timestamp":MS}.
 *
 * JSON is compact (no spaces), members in exactly this order; CBOR is a
 * definite map with the same members, integers in their smallest encoding.
 * @param[in] format JSON or CBOR (the report's own format).
 * @param[in] thing_name Thing name from the topic.
 * @param[in] report_id Echoed header.report_id.
 * @param[in] timestamp_ms Service time in epoch milliseconds.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @param[out] out_len Bytes written (JSON: without the NUL, written when room allows).
 * @return DD_REPORT_OK, DD_REPORT_BAD_PARAMETER, DD_REPORT_NO_MEMORY or DD_REPORT_BUFFER_TOO_SMALL.
 */
dd_report_status_t dd_report_encode_accepted(dd_report_format_t format, const char *thing_name,
                                             uint64_t report_id, int64_t timestamp_ms, uint8_t *buf,
                                             size_t len, size_t *out_len);

/**
 * @brief Encodes a /rejected reply:
 *        {"thingName":T,["reportId":R,]"status":"REJECTED",
 *         "statusDetails":{"ErrorCode":C,"ErrorMessage":M},"timestamp":MS}.
 * @param[in] has_report_id Include reportId (when it was readable: err->report_id_known).
 * @param[in] error_code statusDetails.ErrorCode (see dd_report_error_code()).
 * @param[in] error_message statusDetails.ErrorMessage.
 * Other parameters and the return value as dd_report_encode_accepted().
 */
dd_report_status_t dd_report_encode_rejected(dd_report_format_t format, const char *thing_name,
                                             bool has_report_id, uint64_t report_id,
                                             const char *error_code, const char *error_message,
                                             int64_t timestamp_ms, uint8_t *buf, size_t len,
                                             size_t *out_len);

/**
 * @brief Parses a report topic `$aws/things/{thingName}/defender/metrics/{json|cbor}`.
 *
 * The thing name must be 1..DD_REPORT_THING_NAME_MAX bytes without control
 * characters (C0, DEL, UTF-8-encoded C1), '/', '+' or '#'. Reply topics
 * (".../accepted", ".../rejected") and anything else give DD_REPORT_BAD_TOPIC.
 * @param[in] topic NUL-terminated topic.
 * @param[out] thing Receives the thing name (empty on failure).
 * @param[in] thing_len Size of @p thing (DD_REPORT_THING_NAME_MAX + 1 is always enough).
 * @param[out] format JSON or CBOR.
 * @return DD_REPORT_OK, DD_REPORT_BAD_PARAMETER, DD_REPORT_BAD_TOPIC or
 *         DD_REPORT_BUFFER_TOO_SMALL.
 */
dd_report_status_t dd_report_topic_parse(const char *topic, char *thing, size_t thing_len,
                                         dd_report_format_t *format);

/**
 * @brief The statusDetails of a /rejected reply for a refused report.
 *
 * With @p fine_codes false (AWS behaviour; the only code AWS documents) every
 * refusal is "InvalidPayload" / "Malformed metrics report".
 * With @p fine_codes true (ddlocal's own codes, to help device developers):
 *
 * | status                                      | ErrorCode            |
 * |---------------------------------------------|----------------------|
 * | NOT_JSON                                    | InvalidJson          |
 * | NOT_CBOR                                    | InvalidCbor          |
 * | TOO_LARGE                                   | PayloadTooLarge      |
 * | MISSING_HEADER, MISSING_METRICS, MISSING_MEMBER | MissingRequiredField |
 * | BAD_VERSION                                 | UnsupportedVersion   |
 * | BAD_CUSTOM_METRIC                           | InvalidCustomMetric  |
 * | MIXED_KEYS                                  | MixedKeyNames        |
 * | BAD_TOPIC                                   | InvalidTopic         |
 * | NOT_OBJECT, WRONG_TYPE (and anything else)  | InvalidPayload       |
 * | NO_MEMORY                                   | InternalError        |
 *
 * and the message is err->detail (or dd_report_strerror() when it is empty).
 * @param[in] err The decode error; NULL gives InvalidPayload.
 * @param[in] fine_codes Use ddlocal's finer codes.
 * @param[out] code Receives a static string (may be NULL).
 * @param[out] message Receives a static string or err->detail, valid while
 *             @p err is (may be NULL).
 */
void dd_report_error_code(const dd_report_error_t *err, bool fine_codes, const char **code,
                          const char **message);

/**
 * @brief Whether @p len bytes at @p s are a report version ddlocal accepts: "1." and 1 to 13
 *        digits (the decoders' rule, shared with replay's fast lane).
 */
bool dd_report_version_ok(const char *s, size_t len);

/**
 * @brief Copies an interface name of @p len bytes (no NUL among them) into @p dst, which holds
 *        DD_REPORT_IFACE_MAX + 1 bytes: a longer name is cut to at most DD_REPORT_IFACE_MAX
 *        bytes on a UTF-8 boundary (the decoders' rule, shared with replay's fast lane).
 */
void dd_report_iface_copy(const char *s, size_t len, char *dst);

/** @return Static text for @p status. */
const char *dd_report_strerror(dd_report_status_t status);

#endif /* DD_REPORT_H_ */
