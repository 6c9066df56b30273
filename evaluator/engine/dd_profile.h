/**
 * @file dd_profile.h
 * @brief Security profiles as AWS models them (defender-spec.md §3): parse
 *        from the REST request body, validate (§3.4, AWS-style messages),
 *        serialise back (Describe shape, behaviors for violations and SNS).
 *
 * Ownership: a dd_profile_t / dd_behavior_t / dd_metric_value_t owns every
 * string and array it points to; release with dd_profile_free(),
 * dd_profile_behavior_free() or dd_profile_metric_value_free() (all safe on zeroed values).
 * Parsing never leaves a half-filled value behind on failure. Serialisers
 * return new cJSON trees that the caller deletes with cJSON_Delete().
 * No global state: thread-safe on distinct objects.
 *
 * Presence is tracked for every optional member so that a profile serialises
 * back with exactly the members and values it was given.
 */
#ifndef DD_PROFILE_H_
#define DD_PROFILE_H_

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_ip.h"
#include "dd_metric.h"
#include "dd_names.h"

/** Status codes of this module. */
typedef enum dd_profile_status {
    DD_PROFILE_OK = 0,
    DD_PROFILE_BAD_PARAMETER, /**< NULL pointer. */
    DD_PROFILE_NO_MEMORY,
    DD_PROFILE_NOT_JSON, /**< Body is not a JSON object. */
    DD_PROFILE_INVALID   /**< Shape or validation error; the message says which. */
} dd_profile_status_t;

/** Limits (defender-spec.md §3.1, §3.3). */
#define DD_PROFILE_MAX_BEHAVIORS 100
#define DD_PROFILE_MAX_PER_TARGET 5
#define DD_PROFILE_NAME_MAX 128
#define DD_PROFILE_DESCRIPTION_MAX 1000
/** Longest validation message (ValidationError.errorMessage is <= 2048). */
#define DD_PROFILE_MESSAGE_MAX 512
/** Most value elements (cidrs + ports + numbers + strings) per profile (2019 limit). */
#define DD_PROFILE_MAX_VALUE_ELEMENTS 1000

/** Bits of dd_metric_value_t.members. */
#define DD_MV_COUNT 0x01u
#define DD_MV_NUMBER 0x02u
#define DD_MV_CIDRS 0x04u
#define DD_MV_PORTS 0x08u
#define DD_MV_NUMBERS 0x10u
#define DD_MV_STRINGS 0x20u

/** MetricValue: thresholds, violation values, retained datums. */
typedef struct dd_metric_value {
    unsigned members; /**< DD_MV_* bits of the members present. */
    int64_t count;
    double number;
    size_t cidr_count;
    char **cidrs;           /**< As given (text); addresses format as "a.b.c.d". */
    dd_cidr_t *cidr_parsed; /**< Parsed form of @ref cidrs (same count). */
    size_t port_count;
    uint16_t *ports;
    size_t number_count;
    double *numbers;
    size_t string_count;
    char **strings;
} dd_metric_value_t;

/** Statistics (statisticalThreshold.statistic). */
typedef enum dd_statistic {
    DD_STAT_NONE = 0,
    DD_STAT_P0,
    DD_STAT_P0_1,
    DD_STAT_P0_01,
    DD_STAT_P1,
    DD_STAT_P10,
    DD_STAT_P50,
    DD_STAT_P90,
    DD_STAT_P99,
    DD_STAT_P99_9,
    DD_STAT_P99_99,
    DD_STAT_P100,
    DD_STAT_COUNT_
} dd_statistic_t;

/** ML confidence levels. */
typedef enum dd_ml_confidence {
    DD_ML_NONE = 0,
    DD_ML_LOW,
    DD_ML_MEDIUM,
    DD_ML_HIGH
} dd_ml_confidence_t;

/** MetricDimension.operator. */
typedef enum dd_dim_op { DD_DIM_IN = 0, DD_DIM_NOT_IN } dd_dim_op_t;

/** BehaviorCriteria. */
typedef struct dd_behavior_criteria {
    bool has_operator;
    dd_op_t op;
    bool has_value;
    dd_metric_value_t value;
    bool has_duration;
    int64_t duration_s;
    bool has_to_alarm;
    int64_t to_alarm; /**< consecutiveDatapointsToAlarm (effective default 1). */
    bool has_to_clear;
    int64_t to_clear;
    dd_statistic_t statistic; /**< DD_STAT_NONE when absent. */
    dd_ml_confidence_t ml;    /**< DD_ML_NONE when absent. */
} dd_behavior_criteria_t;

/** Behavior. */
typedef struct dd_behavior {
    char name[DD_PROFILE_NAME_MAX + 1];
    bool has_metric;
    char metric[DD_PROFILE_NAME_MAX + 1];
    bool has_dimension;
    char dimension[DD_PROFILE_NAME_MAX + 1];
    bool has_dimension_op;
    dd_dim_op_t dimension_op;
    bool has_criteria;
    dd_behavior_criteria_t criteria;
    bool has_suppress_alerts;
    bool suppress_alerts;
    bool has_export_metric;
    bool export_metric;
} dd_behavior_t;

/** MetricToRetain. */
typedef struct dd_metric_to_retain {
    char metric[DD_PROFILE_NAME_MAX + 1];
    bool has_dimension;
    char dimension[DD_PROFILE_NAME_MAX + 1];
    bool has_dimension_op;
    dd_dim_op_t dimension_op;
    bool has_export_metric;
    bool export_metric;
} dd_metric_to_retain_t;

/** A security profile. */
typedef struct dd_profile {
    char name[DD_PROFILE_NAME_MAX + 1];
    char *description; /**< NULL when absent. */
    bool has_behaviors;
    size_t behavior_count;
    dd_behavior_t *behaviors;
    bool has_alert_target; /**< alertTargets.SNS present. */
    char *sns_target_arn;
    char *sns_role_arn;
    bool has_retain_v1;
    size_t retain_v1_count;
    char **retain_v1; /**< additionalMetricsToRetain (deprecated). */
    bool has_retain_v2;
    size_t retain_count;
    dd_metric_to_retain_t *retain; /**< additionalMetricsToRetainV2. */
    bool has_export_config;
    char *export_topic;    /**< metricsExportConfig.mqttTopic */
    char *export_role_arn; /**< metricsExportConfig.roleArn */
    int64_t version;       /**< 1 on create, +1 per update (0: not stored yet). */
    int64_t creation_ms;
    int64_t modified_ms;
    size_t target_count;
    char **targets; /**< Target ARNs (thinggroup/N, all/...). */
} dd_profile_t;

/** Error detail of parse/validate: the AWS-style message. */
typedef struct dd_profile_error {
    char message[DD_PROFILE_MESSAGE_MAX];
} dd_profile_error_t;

/** Several messages (ValidateSecurityProfileBehaviors). */
typedef struct dd_profile_errors {
    size_t count;
    char messages[16][DD_PROFILE_MESSAGE_MAX]; /**< The first 16 problems. */
} dd_profile_errors_t;

/** Flags of dd_profile_to_json(). */
#define DD_PROFILE_JSON_DESCRIBE 0x01u /**< Add securityProfileArn, version, dates. */
#define DD_PROFILE_JSON_TARGETS 0x02u  /**< Add "targets": [ARN...] (ddlocal extension). */
#define DD_PROFILE_JSON_DATES_MS 0x04u /**< Dates as epoch ms instead of seconds. */

/**
 * @brief Parses a profile from a Create/Update request body (JSON object);
 *        the name comes from the URL. Also accepts "securityProfileName"
 *        (used when @p name is NULL), "version", "creationDate",
 *        "lastModifiedDate" (epoch seconds) and "targets" (ARN strings or
 *        {"arn":...}) so files written by dd_profile_to_json() read back.
 *        Checks member types and shapes only; see dd_profile_validate().
 * @param[in] body JSON text.
 * @param[in] len Length of @p body.
 * @param[in] name Profile name, or NULL to take it from the body.
 * @param[out] out Receives the profile (zeroed on failure).
 * @param[out] err Optional: the message.
 * @return DD_PROFILE_OK, DD_PROFILE_BAD_PARAMETER, DD_PROFILE_NO_MEMORY,
 *         DD_PROFILE_NOT_JSON or DD_PROFILE_INVALID.
 */
dd_profile_status_t dd_profile_parse(const char *body, size_t len, const char *name,
                                     dd_profile_t *out, dd_profile_error_t *err);

/** @brief As dd_profile_parse() but from a cJSON object (not consumed). */
dd_profile_status_t dd_profile_parse_cjson(const cJSON *obj, const char *name, dd_profile_t *out,
                                           dd_profile_error_t *err);

/**
 * @brief Parses one Behavior object.
 * @param[in] obj JSON object.
 * @param[out] out Receives the behavior (zeroed on failure).
 * @param[out] err Optional: the message.
 * @return As dd_profile_parse().
 */
dd_profile_status_t dd_profile_behavior_parse_cjson(const cJSON *obj, dd_behavior_t *out,
                                                    dd_profile_error_t *err);

/**
 * @brief Parses a MetricValue object.
 * @return As dd_profile_parse().
 */
dd_profile_status_t dd_profile_metric_value_parse_cjson(const cJSON *obj, dd_metric_value_t *out,
                                                        dd_profile_error_t *err);

/**
 * @brief Validates a whole profile: name, description, behaviors (every rule
 *        of §3.4), alert targets, metrics to retain, export config, targets.
 * @param[in] profile Parsed profile.
 * @param[in] defs Custom metrics and dimensions of the account; NULL skips
 *                 the checks that need them (unknown custom metric / dimension).
 * @param[in] arn Region/account that target ARNs must carry; NULL = defaults.
 * @param[out] err Optional: the first problem, e.g.
 *                 "Behavior b1 is malformed. consecutiveDatapointsToAlarm 11 should be in range[1,10]".
 * @return DD_PROFILE_OK, DD_PROFILE_BAD_PARAMETER or DD_PROFILE_INVALID.
 */
dd_profile_status_t dd_profile_validate(const dd_profile_t *profile, const dd_metric_defs_t *defs,
                                        const dd_arn_ctx_t *arn, dd_profile_error_t *err);

/**
 * @brief ValidateSecurityProfileBehaviors: checks a list of behaviors and
 *        collects every problem.
 * @param[in] behaviors Behaviors.
 * @param[in] count Number of behaviors.
 * @param[in] defs Custom metrics and dimensions, or NULL.
 * @param[out] errs Receives the messages (count 0 = valid).
 * @return DD_PROFILE_OK (valid), DD_PROFILE_INVALID or DD_PROFILE_BAD_PARAMETER.
 */
dd_profile_status_t dd_profile_validate_behaviors(const dd_behavior_t *behaviors, size_t count,
                                                  const dd_metric_defs_t *defs,
                                                  dd_profile_errors_t *errs);

/**
 * @brief Convenience for the ValidateSecurityProfileBehaviors endpoint: parses
 *        the request body {"behaviors":[...]} and validates it.
 * @param[in] body JSON text.
 * @param[in] len Length.
 * @param[in] defs Custom metrics and dimensions, or NULL.
 * @param[out] errs Messages; a body that does not parse yields one message.
 * @return DD_PROFILE_OK (valid), DD_PROFILE_INVALID, DD_PROFILE_NOT_JSON,
 *         DD_PROFILE_NO_MEMORY or DD_PROFILE_BAD_PARAMETER.
 */
dd_profile_status_t dd_profile_validate_behaviors_json(const char *body, size_t len,
                                                       const dd_metric_defs_t *defs,
                                                       dd_profile_errors_t *errs);

/** @return "p50", ... ("" for NONE). */
const char *dd_profile_statistic_name(dd_statistic_t stat);

/** @return The percentile of @p stat (p99.9 -> 99.9), or -1 for NONE. */
double dd_profile_statistic_percentile(dd_statistic_t stat);

/** @return "LOW", "MEDIUM", "HIGH" ("" for NONE). */
const char *dd_profile_ml_confidence_name(dd_ml_confidence_t level);

/** @brief Deep copy; @p out is zeroed first. */
dd_profile_status_t dd_profile_copy(const dd_profile_t *src, dd_profile_t *out);

/** @brief Deep copy of a behavior. */
dd_profile_status_t dd_profile_behavior_copy(const dd_behavior_t *src, dd_behavior_t *out);

/** @brief Deep copy of a metric value. */
dd_profile_status_t dd_profile_metric_value_copy(const dd_metric_value_t *src,
                                                 dd_metric_value_t *out);

/** @return true when two behaviors serialise identically. */
bool dd_profile_behavior_equal(const dd_behavior_t *a, const dd_behavior_t *b);

/** @brief Releases a profile and zeroes it; NULL is ignored. */
void dd_profile_free(dd_profile_t *profile);

/** @brief Releases a behavior's arrays and zeroes it. */
void dd_profile_behavior_free(dd_behavior_t *behavior);

/** @brief Releases a metric value's arrays and zeroes it. */
void dd_profile_metric_value_free(dd_metric_value_t *value);

/* The printing half of the document codec (dd_profile_json.c): the engine
 * needs it itself (behavior equality, UpdateSecurityProfile's merge) and the
 * store keeps documents in this form. */

/**
 * @brief Serialises a profile.
 * @param[in] profile Profile.
 * @param[in] arn Region/account for securityProfileArn (NULL = defaults).
 * @param[in] flags DD_PROFILE_JSON_* bits; 0 gives the request-body member set
 *                  plus securityProfileName.
 * @return A new cJSON object, or NULL when out of memory / bad parameter.
 */
cJSON *dd_profile_to_json(const dd_profile_t *profile, const dd_arn_ctx_t *arn, unsigned flags);

/** @return A new cJSON object for the Behavior (violations, SNS), or NULL. */
cJSON *dd_profile_behavior_to_json(const dd_behavior_t *behavior);

/** @return A new cJSON object for the MetricValue, or NULL. */
cJSON *dd_profile_metric_value_to_json(const dd_metric_value_t *value);

/**
 * @brief Formats an epoch-ms time as the REST API's epoch seconds
 *        (e.g. 1560278102.528) into a cJSON number.
 */
cJSON *dd_profile_time_json(int64_t ms);

/** @return The number dd_profile_time_json() holds for @p ms (epoch seconds). */
double dd_profile_time_seconds(int64_t ms);

/** Bits of the UpdateSecurityProfile delete* flags. */
#define DD_PROFILE_DELETE_BEHAVIORS 0x01u     /**< deleteBehaviors */
#define DD_PROFILE_DELETE_ALERT_TARGETS 0x02u /**< deleteAlertTargets */
#define DD_PROFILE_DELETE_RETAIN 0x04u        /**< deleteAdditionalMetricsToRetain (V1 and V2) */
#define DD_PROFILE_DELETE_EXPORT_CONFIG 0x08u /**< deleteMetricsExportConfig */

/**
 * @brief Parses an UpdateSecurityProfile body: the members to change (as a
 *        profile whose has_* flags say which were given) and the delete* flags.
 *        A delete flag together with the member it deletes is refused, as AWS does.
 * @param[in] body JSON text.
 * @param[in] len Length.
 * @param[in] name Profile name from the URL.
 * @param[out] patch Members given.
 * @param[out] deletes DD_PROFILE_DELETE_* bits.
 * @param[out] err Optional message.
 * @return DD_PROFILE_OK, DD_PROFILE_BAD_PARAMETER, DD_PROFILE_NO_MEMORY,
 *         DD_PROFILE_NOT_JSON or DD_PROFILE_INVALID.
 */
dd_profile_status_t dd_profile_parse_update(const char *body, size_t len, const char *name,
                                            dd_profile_t *patch, unsigned *deletes,
                                            dd_profile_error_t *err);

/**
 * @brief PATCH semantics of UpdateSecurityProfile: members given in @p patch
 *        replace the current ones (a given behaviors list replaces the whole
 *        list), delete flags remove members, everything else is kept,
 *        including version, dates and targets (the caller bumps version and
 *        lastModifiedDate).
 * @param[in] current Stored profile.
 * @param[in] patch From dd_profile_parse_update().
 * @param[in] deletes DD_PROFILE_DELETE_* bits.
 * @param[out] out Merged profile (validate it before storing).
 * @return DD_PROFILE_OK, DD_PROFILE_BAD_PARAMETER or DD_PROFILE_NO_MEMORY.
 */
dd_profile_status_t dd_profile_merge_update(const dd_profile_t *current, const dd_profile_t *patch,
                                            unsigned deletes, dd_profile_t *out);

/** @return Static text for @p status. */
const char *dd_profile_strerror(dd_profile_status_t status);

#endif /* DD_PROFILE_H_ */
