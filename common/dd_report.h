/**
 * @file dd_report.h
 * @brief Device Defender metrics reports: the decoded form, decoding (JSON
 *        long/short/mixed keys, CBOR) with validation, encoding, and the
 *        /accepted and /rejected replies.
 *
 * A dd_report_t owns the arrays it points to; dd_report_free() releases them
 * (and is safe on a zeroed or half-filled report). dd_report_decode() never
 * leaves a half-filled report behind on failure: the report is freed and
 * zeroed, and the error says why. Encoders write into caller buffers.
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

#include "dd_ip.h"

/** Status codes of this module. */
typedef enum dd_report_status {
    DD_REPORT_OK = 0,
    DD_REPORT_BAD_PARAMETER,     /**< NULL pointer. */
    DD_REPORT_NO_MEMORY,
    DD_REPORT_TOO_LARGE,         /**< Payload over DD_REPORT_MAX_PAYLOAD. */
    DD_REPORT_NOT_JSON,          /**< Payload is not a JSON document. */
    DD_REPORT_NOT_CBOR,          /**< Payload is not a CBOR item. */
    DD_REPORT_NOT_OBJECT,        /**< Top level is not an object / map. */
    DD_REPORT_MISSING_HEADER,    /**< header/hed, report_id/rid or version/v missing. */
    DD_REPORT_MISSING_METRICS,   /**< Neither metrics/met nor custom_metrics/cmet. */
    DD_REPORT_WRONG_TYPE,        /**< A member has the wrong type or range. */
    DD_REPORT_BAD_VERSION,       /**< version is not "1.x". */
    DD_REPORT_BAD_CUSTOM_METRIC, /**< Custom metric value not a one-element array of one known member. */
    DD_REPORT_BUFFER_TOO_SMALL   /**< Encoder output buffer too small. */
} dd_report_status_t;

/** Wire formats. */
typedef enum dd_report_format {
    DD_REPORT_FORMAT_JSON = 0,
    DD_REPORT_FORMAT_CBOR = 1
} dd_report_format_t;

/** Key style used when encoding JSON or CBOR. */
typedef enum dd_report_keys {
    DD_REPORT_KEYS_LONG = 0,     /**< "header", "report_id", ... */
    DD_REPORT_KEYS_SHORT = 1     /**< "hed", "rid", ... */
} dd_report_keys_t;

/** AWS IoT's message size limit; larger reports are refused. */
#define DD_REPORT_MAX_PAYLOAD (128u * 1024u)
/** Longest interface name kept (longer ones are truncated). */
#define DD_REPORT_IFACE_MAX 32
/** Longest custom metric name (AWS: 128). */
#define DD_REPORT_METRIC_NAME_MAX 128

/** One listening port. */
typedef struct dd_report_port {
    uint16_t port;
    bool has_interface;
    char interface[DD_REPORT_IFACE_MAX + 1];
} dd_report_port_t;

/** listening_tcp_ports / listening_udp_ports. */
typedef struct dd_report_ports {
    bool present;          /**< The block was in the report. */
    bool has_total;
    uint64_t total;        /**< `total`, may exceed count. */
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
    bool present;
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
    DD_CUSTOM_NUMBER = 0,        /**< "number" */
    DD_CUSTOM_NUMBER_LIST,       /**< "number_list" */
    DD_CUSTOM_STRING_LIST,       /**< "string_list" */
    DD_CUSTOM_IP_LIST            /**< "ip_list" */
} dd_custom_kind_t;

/** One custom metric value. Exactly the members of @ref kind are set. */
typedef struct dd_report_custom {
    char name[DD_REPORT_METRIC_NAME_MAX + 1];
    dd_custom_kind_t kind;
    double number;               /**< DD_CUSTOM_NUMBER */
    size_t count;                /**< Elements of the list kinds. */
    double *numbers;             /**< DD_CUSTOM_NUMBER_LIST */
    char **strings;              /**< DD_CUSTOM_STRING_LIST (each NUL-terminated, owned) */
    dd_ip_t *ips;                /**< DD_CUSTOM_IP_LIST */
} dd_report_custom_t;

/** A decoded report. Zero-initialise before use; release with dd_report_free(). */
typedef struct dd_report {
    uint64_t report_id;
    char version[16];
    bool has_metrics;            /**< metrics/met block present (may be empty). */
    bool has_custom_metrics;     /**< custom_metrics/cmet block present. */
    dd_report_ports_t tcp_ports;
    dd_report_ports_t udp_ports;
    dd_report_conns_t tcp_conns;
    dd_report_netstats_t net;
    size_t custom_count;
    dd_report_custom_t *custom;
} dd_report_t;

/** Why a report was refused, for logs and the optional fine-grained codes. */
typedef struct dd_report_error {
    dd_report_status_t status;
    bool report_id_known;        /**< header.report_id was readable. */
    uint64_t report_id;
    char detail[160];            /**< e.g. "custom_metrics.cpu: value must be an array" */
} dd_report_error_t;

/**
 * @brief Decodes and validates a report as published on
 *        `$aws/things/T/defender/metrics/{json,cbor}`.
 *
 * JSON: long, short or mixed keys; one trailing NUL or trailing whitespace
 * tolerated; integers exact up to 2^53 (cJSON holds doubles; larger ones are
 * refused as DD_REPORT_WRONG_TYPE). CBOR: definite or indefinite maps/arrays,
 * text keys, integers up to 2^64-1.
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

/** @brief Releases what a report owns and zeroes it. NULL is ignored. */
void dd_report_free(dd_report_t *report);

/**
 * @brief Encodes a report as a device would send it.
 * @param[in] report Report to encode.
 * @param[in] format JSON or CBOR.
 * @param[in] keys Long or short key names.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @param[out] out_len Bytes written (JSON: without a NUL; a NUL is still written when room allows).
 * @return DD_REPORT_OK, DD_REPORT_BAD_PARAMETER, DD_REPORT_NO_MEMORY or DD_REPORT_BUFFER_TOO_SMALL.
 */
dd_report_status_t dd_report_encode(const dd_report_t *report, dd_report_format_t format,
                                    dd_report_keys_t keys, uint8_t *buf, size_t len, size_t *out_len);

/**
 * @brief Encodes an /accepted reply:
 *        {"thingName":T,"reportId":R,"status":"ACCEPTED","timestamp":MS}.
 */
dd_report_status_t dd_report_encode_accepted(dd_report_format_t format, const char *thing_name,
                                             uint64_t report_id, int64_t timestamp_ms,
                                             uint8_t *buf, size_t len, size_t *out_len);

/**
 * @brief Encodes a /rejected reply:
 *        {"thingName":T,["reportId":R,]"status":"REJECTED",
 *         "statusDetails":{"ErrorCode":C,"ErrorMessage":M},"timestamp":MS}.
 * @param[in] has_report_id Include reportId (when it was readable).
 */
dd_report_status_t dd_report_encode_rejected(dd_report_format_t format, const char *thing_name,
                                             bool has_report_id, uint64_t report_id,
                                             const char *error_code, const char *error_message,
                                             int64_t timestamp_ms,
                                             uint8_t *buf, size_t len, size_t *out_len);

/** @return Static text for @p status. */
const char *dd_report_strerror(dd_report_status_t status);

#endif /* DD_REPORT_H_ */
