/**
 * @file dd_metric.h
 * @brief The catalogue of Device Defender metrics: built-in cloud-side and
 *        device-side metrics (defender-spec.md §2.1, §2.2), custom metric
 *        types (§2.3), dimensions (§2.4) and comparison operators (§2.5).
 *
 * The catalogue is static, read-only data: every lookup returns a pointer to
 * a constant entry that lives for the whole program. Custom metric and
 * dimension *definitions* (dd_custom_metric_def_t, dd_dimension_def_t) are
 * plain caller-owned values; dd_metric_defs_t only points at the caller's
 * arrays for the duration of a call. Thread-safe (no mutable state).
 *
 * It also turns a decoded device report into metric values
 * (dd_metric_from_report(), dd_metric_report_counters()): the datapoints
 * borrow the report's arrays and are valid as long as the report is.
 */
#ifndef DD_METRIC_H_
#define DD_METRIC_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_metric_status {
    DD_METRIC_OK = 0,
    DD_METRIC_BAD_PARAMETER, /**< NULL pointer. */
    DD_METRIC_NOT_FOUND,     /**< No such metric / operator / type. */
    DD_METRIC_NO_MATCH       /**< Topic does not match the filter (dd_metric_topic_matches). */
} dd_metric_status_t;

/** Comparison operators (BehaviorCriteria.comparisonOperator). */
typedef enum dd_op {
    DD_OP_NONE = 0,
    DD_OP_LESS_THAN,
    DD_OP_LESS_THAN_EQUALS,
    DD_OP_GREATER_THAN,
    DD_OP_GREATER_THAN_EQUALS,
    DD_OP_IN_CIDR_SET,
    DD_OP_NOT_IN_CIDR_SET,
    DD_OP_IN_PORT_SET,
    DD_OP_NOT_IN_PORT_SET,
    DD_OP_IN_SET,
    DD_OP_NOT_IN_SET,
    DD_OP_COUNT_
} dd_op_t;

/** Bit for operator @p op in an operator mask. */
#define DD_OP_BIT(op) (1u << (unsigned)(op))
/** lt, lte, gt, gte. */
#define DD_OPS_NUMERIC                                                \
    (DD_OP_BIT(DD_OP_LESS_THAN) | DD_OP_BIT(DD_OP_LESS_THAN_EQUALS) | \
     DD_OP_BIT(DD_OP_GREATER_THAN) | DD_OP_BIT(DD_OP_GREATER_THAN_EQUALS))
/** in-cidr-set, not-in-cidr-set. */
#define DD_OPS_CIDR (DD_OP_BIT(DD_OP_IN_CIDR_SET) | DD_OP_BIT(DD_OP_NOT_IN_CIDR_SET))
/** in-port-set, not-in-port-set. */
#define DD_OPS_PORT (DD_OP_BIT(DD_OP_IN_PORT_SET) | DD_OP_BIT(DD_OP_NOT_IN_PORT_SET))
/** in-set, not-in-set. */
#define DD_OPS_SET (DD_OP_BIT(DD_OP_IN_SET) | DD_OP_BIT(DD_OP_NOT_IN_SET))

/** The MetricValue member a metric's thresholds and datapoints use. */
typedef enum dd_value_kind {
    DD_VALUE_NONE = 0,
    DD_VALUE_COUNT,   /**< "count": long >= 0 */
    DD_VALUE_NUMBER,  /**< "number": double */
    DD_VALUE_CIDRS,   /**< "cidrs": CIDR strings (datapoints: addresses) */
    DD_VALUE_PORTS,   /**< "ports": 0..65535 */
    DD_VALUE_NUMBERS, /**< "numbers": doubles */
    DD_VALUE_STRINGS  /**< "strings" */
} dd_value_kind_t;

/**
 * A datapoint: one measured value of a metric. List kinds point at the
 * first element and give a stride in bytes, so that ports and addresses can
 * be read in place from report structures without copying.
 */
typedef struct dd_datapoint {
    dd_value_kind_t kind; /**< COUNT, NUMBER, PORTS, CIDRS (addresses), NUMBERS, STRINGS. */
    int64_t count;        /**< DD_VALUE_COUNT */
    double number;        /**< DD_VALUE_NUMBER */
    size_t n;             /**< List length. */
    const void *items;    /**< First element: uint16_t, dd_ip_t, double or const char *. */
    size_t stride;        /**< Bytes between elements (0 = natural size). */
} dd_datapoint_t;

/** Where a metric is measured. */
typedef enum dd_metric_side {
    DD_SIDE_DEVICE = 0, /**< From the device's metrics report. */
    DD_SIDE_CLOUD       /**< From broker activity (the shim's metering). */
} dd_metric_side_t;

/** How a metric's datapoint is formed (evaluation-semantics.md). */
typedef enum dd_metric_shape {
    DD_SHAPE_DELTA = 0,    /**< Device delta counter: summed over the trailing window. */
    DD_SHAPE_GAUGE,        /**< Device gauge: value of the current report. */
    DD_SHAPE_LIST,         /**< Device list: list of the current report. */
    DD_SHAPE_WINDOW_COUNT, /**< Cloud count per tumbling window. */
    DD_SHAPE_PER_MESSAGE, /**< aws:message-byte-size: each message (static) or sum (statistical). */
    DD_SHAPE_PER_CONNECT, /**< aws:source-ip-address: each successful connection. */
    DD_SHAPE_DISCONNECTED /**< aws:disconnect-duration: minutes since the disconnect. */
} dd_metric_shape_t;

/** Built-in metric identifiers; DD_METRIC_CUSTOM marks a custom metric. */
typedef enum dd_metric_id {
    DD_METRIC_CUSTOM = 0,
    DD_METRIC_MESSAGE_BYTE_SIZE,
    DD_METRIC_NUM_MESSAGES_SENT,
    DD_METRIC_NUM_MESSAGES_RECEIVED,
    DD_METRIC_NUM_AUTHORIZATION_FAILURES,
    DD_METRIC_SOURCE_IP_ADDRESS,
    DD_METRIC_NUM_CONNECTION_ATTEMPTS,
    DD_METRIC_NUM_DISCONNECTS,
    DD_METRIC_DISCONNECT_DURATION,
    DD_METRIC_ALL_BYTES_OUT,
    DD_METRIC_ALL_BYTES_IN,
    DD_METRIC_ALL_PACKETS_OUT,
    DD_METRIC_ALL_PACKETS_IN,
    DD_METRIC_NUM_LISTENING_TCP_PORTS,
    DD_METRIC_NUM_LISTENING_UDP_PORTS,
    DD_METRIC_NUM_ESTABLISHED_TCP_CONNECTIONS,
    DD_METRIC_LISTENING_TCP_PORTS,
    DD_METRIC_LISTENING_UDP_PORTS,
    DD_METRIC_DESTINATION_IP_ADDRESSES,
    DD_METRIC_BUILTIN_COUNT_
} dd_metric_id_t;

/** Custom metric types (CreateCustomMetric metricType). */
typedef enum dd_custom_type {
    DD_CUSTOM_TYPE_NUMBER = 0,     /**< "number" */
    DD_CUSTOM_TYPE_NUMBER_LIST,    /**< "number-list" */
    DD_CUSTOM_TYPE_STRING_LIST,    /**< "string-list" */
    DD_CUSTOM_TYPE_IP_ADDRESS_LIST /**< "ip-address-list" */
} dd_custom_type_t;

/** Durations (seconds) allowed for time-based metrics, as a bit mask. */
#define DD_DURATIONS_STANDARD 0x1Fu /* 300, 600, 900, 1800, 3600 */

/** Everything the engine and the validator need to know about one metric. */
typedef struct dd_metric_info {
    const char *name;  /**< "aws:all-bytes-out", or the custom type name. */
    dd_metric_id_t id; /**< DD_METRIC_CUSTOM for custom types. */
    dd_metric_side_t side;
    dd_metric_shape_t shape;
    dd_value_kind_t value;  /**< MetricValue member of thresholds. */
    unsigned ops;           /**< Allowed operators (DD_OP_BIT mask). */
    bool duration_allowed;  /**< durationSeconds may be given. */
    bool duration_required; /**< durationSeconds must be given (static rules). */
    bool statistics;        /**< statisticalThreshold allowed. */
    bool ml;                /**< mlDetectionConfig allowed. */
    bool dimension;         /**< TOPIC_FILTER metricDimension allowed (rules). */
    bool dimension_ml;      /**< ... also with ML. */
} dd_metric_info_t;

/** A custom metric definition (CreateCustomMetric). */
typedef struct dd_custom_metric_def {
    char name[129];         /**< metricName */
    dd_custom_type_t type;  /**< metricType (immutable) */
    char display_name[129]; /**< displayName, may be "" */
    int64_t creation_ms;
    int64_t modified_ms;
} dd_custom_metric_def_t;

/** Longest dimension filter (stringValues item). */
#define DD_DIMENSION_VALUE_MAX 256
/** Most filters in one dimension. */
#define DD_DIMENSION_VALUES_MAX 100

/** A TOPIC_FILTER dimension definition (CreateDimension). */
typedef struct dd_dimension_def {
    char name[129];
    size_t value_count; /**< 1..100 */
    char values[DD_DIMENSION_VALUES_MAX][DD_DIMENSION_VALUE_MAX + 1];
    int64_t creation_ms;
    int64_t modified_ms;
} dd_dimension_def_t;

/** Borrowed view of the account's custom metrics and dimensions, for validation. */
typedef struct dd_metric_defs {
    const dd_custom_metric_def_t *customs;
    size_t custom_count;
    const dd_dimension_def_t *const *dimensions;
    size_t dimension_count;
} dd_metric_defs_t;

/**
 * @brief Looks up a built-in metric by name.
 * @param[in] name e.g. "aws:all-bytes-out".
 * @param[out] out Receives the catalogue entry.
 * @return DD_METRIC_OK, DD_METRIC_BAD_PARAMETER or DD_METRIC_NOT_FOUND.
 */
dd_metric_status_t dd_metric_find(const char *name, const dd_metric_info_t **out);

/**
 * @brief The catalogue entry of a built-in metric id.
 * @return The entry, or NULL for DD_METRIC_CUSTOM / out of range.
 */
const dd_metric_info_t *dd_metric_builtin(dd_metric_id_t id);

/**
 * @brief The catalogue entry describing a custom metric type.
 * @return The entry (never NULL for a valid type).
 */
const dd_metric_info_t *dd_metric_custom_info(dd_custom_type_t type);

/** @brief Parses "number", "number-list", "string-list", "ip-address-list". */
dd_metric_status_t dd_metric_custom_type_parse(const char *text, dd_custom_type_t *out);

/** @return "number", "number-list", ... */
const char *dd_metric_custom_type_name(dd_custom_type_t type);

/** @brief Parses a comparisonOperator ("less-than", ...). */
dd_metric_status_t dd_metric_op_parse(const char *text, dd_op_t *out);

/** @return The wire name of @p op ("less-than", ...), "" for DD_OP_NONE. */
const char *dd_metric_op_name(dd_op_t op);

/** @return The MetricValue member name ("count", "cidrs", ...). */
const char *dd_metric_value_member(dd_value_kind_t kind);

/** @return true when @p seconds is one of 300, 600, 900, 1800, 3600. */
bool dd_metric_duration_valid(int64_t seconds);

/**
 * @brief Finds a custom metric definition by name in @p defs.
 * @return The definition or NULL.
 */
const dd_custom_metric_def_t *dd_metric_defs_find_custom(const dd_metric_defs_t *defs,
                                                         const char *name);

/**
 * @brief Finds a dimension definition by name in @p defs.
 * @return The definition or NULL.
 */
const dd_dimension_def_t *dd_metric_defs_find_dimension(const dd_metric_defs_t *defs,
                                                        const char *name);

/**
 * @brief MQTT topic filter matching (`+` one level, `#` the rest, `$` topics
 *        not matched by leading wildcards), after replacing `${iot:ClientId}`
 *        in the filter with @p client_id.
 * @param[in] filter Topic filter.
 * @param[in] topic Topic name.
 * @param[in] client_id Substituted for ${iot:ClientId}; may be NULL (no substitution).
 * @return true when @p topic matches.
 */
bool dd_metric_topic_matches(const char *filter, const char *topic, const char *client_id);

/** Delta counters a report's network stats carry (dd_metric_report_counters()). */
#define DD_METRIC_COUNTERS 4

/**
 * @brief The datapoint a decoded device report carries for a device-side
 *        metric (defender-spec.md §2.2, §2.3): the delta counters as reported
 *        (the engine sums them over durationSeconds itself, see @p counter),
 *        listening-port and connection counts (0 when the list is absent but
 *        the metrics block is present), port and address lists, and a custom
 *        metric's value when it has the metric's type.
 * @param[in] id Metric; DD_METRIC_CUSTOM: the custom metric @p custom_name of
 *               type @p custom_type (both ignored otherwise).
 * @param[in] custom_name Custom metric name (may be NULL unless @p id is custom).
 * @param[in] custom_type Custom metric type.
 * @param[in] report Decoded report (borrowed: list datapoints point into it).
 * @param[out] dp The datapoint.
 * @param[out] counter The delta counter's index in dd_metric_report_counters()'
 *                     order (bytes in, bytes out, packets in, packets out), -1 for
 *                     every other metric. May be NULL.
 * @return DD_METRIC_OK, DD_METRIC_BAD_PARAMETER or DD_METRIC_NOT_FOUND (the
 *         report carries no value for it, the custom value has another type,
 *         or the metric is cloud-side).
 */
dd_metric_status_t dd_metric_from_report(dd_metric_id_t id, const char *custom_name,
                                         dd_custom_type_t custom_type, const dd_report_t *report,
                                         dd_datapoint_t *dp, int *counter);

/**
 * @brief The delta counters of a report's network stats, as one sample of
 *        the per-thing history that windowed sums read.
 * @param[in] report Decoded report.
 * @param[out] values Bytes in, bytes out, packets in, packets out (0 when absent).
 * @param[out] mask Bit i set when values[i] was reported.
 * @return DD_METRIC_OK, DD_METRIC_BAD_PARAMETER or DD_METRIC_NOT_FOUND (no
 *         network stats in the report).
 */
dd_metric_status_t dd_metric_report_counters(const dd_report_t *report,
                                             uint64_t values[DD_METRIC_COUNTERS], uint32_t *mask);

/** @return Static text for @p status. */
const char *dd_metric_strerror(dd_metric_status_t status);

#endif /* DD_METRIC_H_ */
