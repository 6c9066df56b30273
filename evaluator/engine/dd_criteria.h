/**
 * @file dd_criteria.h
 * @brief Datapoints and the comparison operators of defender-spec.md §2.5,
 *        compiled into flat, sorted structures for fast evaluation.
 *
 * A behavior's criteria describe NORMAL behaviour: dd_criteria_conforms()
 * says whether a datapoint meets them, and a datapoint that does not is a
 * violation (§4.1). Empty lists always conform.
 *
 * Ownership: dd_criteria_compile() allocates the sorted sets inside the
 * caller's dd_criteria_t; dd_criteria_free() releases them. A dd_datapoint_t
 * only borrows the arrays it points to (typically inside a dd_report_t) and
 * is valid as long as they are. Evaluation never allocates. Thread-safe on
 * distinct objects; a compiled criteria may be read by several threads.
 */
#ifndef DD_CRITERIA_H_
#define DD_CRITERIA_H_

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_ip.h"
#include "dd_metric.h"
#include "dd_profile.h"

/** Status codes of this module. */
typedef enum dd_criteria_status {
    DD_CRITERIA_OK = 0,
    DD_CRITERIA_BAD_PARAMETER, /**< NULL pointer. */
    DD_CRITERIA_NO_MEMORY,
    DD_CRITERIA_KIND_MISMATCH, /**< Datapoint kind does not fit the operator. */
    DD_CRITERIA_INVALID        /**< Criteria cannot be compiled (operator/value mismatch). */
} dd_criteria_status_t;

/** Behavior kinds for the behaviorCriteriaType filter. */
typedef enum dd_criteria_type {
    DD_CRITERIA_STATIC = 0,
    DD_CRITERIA_STATISTICAL,
    DD_CRITERIA_MACHINE_LEARNING,
    DD_CRITERIA_NONE /**< Behavior without criteria. */
} dd_criteria_type_t;

/** A compiled comparison. */
typedef struct dd_criteria {
    dd_op_t op;
    bool threshold_is_count; /**< Numeric: compare as integers. */
    int64_t count;           /**< Numeric threshold (count). */
    double number;           /**< Numeric threshold (number). */
    size_t port_count;
    uint16_t *ports; /**< Sorted, unique. */
    size_t cidr_count;
    dd_cidr_t *cidrs;
    size_t number_count;
    double *numbers; /**< Sorted. */
    size_t string_count;
    char **strings; /**< Sorted, owned. */
} dd_criteria_t;

/**
 * @brief Compiles a behavior's operator and static value.
 * @param[in] op Operator.
 * @param[in] value Threshold value (may be NULL for statistical criteria,
 *                  whose threshold is given at evaluation time).
 * @param[out] out Compiled criteria (zeroed first).
 * @return DD_CRITERIA_OK, DD_CRITERIA_BAD_PARAMETER, DD_CRITERIA_NO_MEMORY
 *         or DD_CRITERIA_INVALID.
 */
dd_criteria_status_t dd_criteria_compile(dd_op_t op, const dd_metric_value_t *value,
                                         dd_criteria_t *out);

/** @brief Releases a compiled criteria and zeroes it. */
void dd_criteria_free(dd_criteria_t *criteria);

/**
 * @brief Whether a datapoint meets the criteria (= is normal).
 * @param[in] criteria Compiled criteria.
 * @param[in] dp Datapoint.
 * @param[out] conforms true when normal, false when violating.
 * @return DD_CRITERIA_OK, DD_CRITERIA_BAD_PARAMETER or DD_CRITERIA_KIND_MISMATCH.
 */
dd_criteria_status_t dd_criteria_conforms(const dd_criteria_t *criteria, const dd_datapoint_t *dp,
                                          bool *conforms);

/**
 * @brief Numeric comparison `value OP threshold` (statistical thresholds).
 * @return true when it holds; false for non-numeric operators.
 */
bool dd_criteria_compare(dd_op_t op, double value, double threshold);

/** @return The i-th port of a PORTS datapoint. */
uint16_t dd_datapoint_port(const dd_datapoint_t *dp, size_t i);
/** @return The i-th address of a CIDRS datapoint. */
const dd_ip_t *dd_datapoint_ip(const dd_datapoint_t *dp, size_t i);
/** @return The i-th number of a NUMBERS datapoint. */
double dd_datapoint_number(const dd_datapoint_t *dp, size_t i);
/** @return The i-th string of a STRINGS datapoint. */
const char *dd_datapoint_string(const dd_datapoint_t *dp, size_t i);

/** @return The kind of a behavior's criteria (STATIC, STATISTICAL, MACHINE_LEARNING, NONE). */
dd_criteria_type_t dd_criteria_type_of(const dd_behavior_t *behavior);

/**
 * @brief Parses a behaviorCriteriaType: "STATIC", "STATISTICAL", "MACHINE_LEARNING".
 * @return DD_CRITERIA_OK, DD_CRITERIA_BAD_PARAMETER or DD_CRITERIA_INVALID (another text).
 */
dd_criteria_status_t dd_criteria_type_parse(const char *text, dd_criteria_type_t *out);

/** @return "STATIC", ... ("" for NONE). */
const char *dd_criteria_type_name(dd_criteria_type_t type);

/** @return Static text for @p status. */
const char *dd_criteria_strerror(dd_criteria_status_t status);

#endif /* DD_CRITERIA_H_ */
