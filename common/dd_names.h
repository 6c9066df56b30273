/**
 * @file dd_names.h
 * @brief Validation of AWS resource names and building/parsing of ARNs.
 *
 * Every name that comes from outside (MQTT topic, HTTP path, CLI argument,
 * report) is checked here against AWS's pattern and length before it reaches
 * SQL, a topic or a file name. ARNs follow AWS's form for a configurable
 * region and account (defaults us-east-1 / 123456789012). No allocation; all
 * outputs go to caller buffers.
 */
#ifndef DD_NAMES_H_
#define DD_NAMES_H_

#include <stdbool.h>
#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_names_status {
    DD_NAMES_OK = 0,
    DD_NAMES_BAD_PARAMETER,   /**< NULL pointer. */
    DD_NAMES_INVALID,         /**< Name or ARN does not match the pattern. */
    DD_NAMES_BUFFER_TOO_SMALL /**< Output buffer too small. */
} dd_names_status_t;

/** The kinds of named resources ddlocal knows. */
typedef enum dd_name_kind {
    DD_NAME_THING = 0,             /**< 1..128 [a-zA-Z0-9:_-] (arn ...:thing/N) */
    DD_NAME_THING_GROUP,           /**< 1..128 [a-zA-Z0-9:_-] (thinggroup/N) */
    DD_NAME_SECURITY_PROFILE,      /**< 1..128 [a-zA-Z0-9:_-] (securityprofile/N) */
    DD_NAME_BEHAVIOR,              /**< 1..128 [a-zA-Z0-9:_-] (no ARN) */
    DD_NAME_CUSTOM_METRIC,         /**< 1..128 [a-zA-Z0-9:_-], not "aws:..." (custommetric/N) */
    DD_NAME_DIMENSION,             /**< 1..128 [a-zA-Z0-9:_-] (dimension/N) */
    DD_NAME_POLICY,                /**< 1..128 [\w+=,.@-] (policy/N) */
    DD_NAME_MITIGATION_ACTION,     /**< 1..128 [a-zA-Z0-9_-] (mitigationaction/N) */
    DD_NAME_TASK_ID,               /**< 1..128 [a-zA-Z0-9_-] (no ARN) */
    DD_NAME_CERTIFICATE,           /**< 64 lowercase hex chars (cert/N) */
    DD_NAME_SNS_TOPIC,             /**< 1..256 [A-Za-z0-9_-] (arn:aws:sns:R:A:N) */
    DD_NAME_THING_TYPE,            /**< 1..128 [a-zA-Z0-9:_-] (thingtype/N) */
    DD_NAME_PROVISIONING_TEMPLATE, /**< 1..36 [0-9A-Za-z_-] (provisioningtemplate/N) */
    DD_NAME_KIND_COUNT
} dd_name_kind_t;

/** Longest name of any kind, without the NUL. */
#define DD_NAME_MAX 256
/** Longest ARN ddlocal builds, including the NUL. */
#define DD_ARN_MAX 384
/** Longest region or account string, including the NUL. */
#define DD_ARN_PART_MAX 32
/**
 * MQTT topic prefix of the SNS stand-in: SNS topic arn:aws:sns:R:A:NAME is the
 * MQTT topic DD_NAME_SNS_TOPIC_PREFIX NAME (ddlocald publishes alerts there; the
 * CLI, the isolator and the benches subscribe).
 */
#define DD_NAME_SNS_TOPIC_PREFIX "ddlocal/sns/"

/** Region and account used in every ARN. */
typedef struct dd_arn_ctx {
    char region[DD_ARN_PART_MAX];  /**< e.g. "us-east-1" */
    char account[DD_ARN_PART_MAX]; /**< e.g. "123456789012" */
} dd_arn_ctx_t;

/** The targets a security profile can be attached to, besides groups. */
typedef enum dd_arn_target {
    DD_ARN_TARGET_NONE = 0,
    DD_ARN_TARGET_THING_GROUP,
    DD_ARN_TARGET_ALL_THINGS,
    DD_ARN_TARGET_ALL_REGISTERED,
    DD_ARN_TARGET_ALL_UNREGISTERED
} dd_arn_target_t;

/**
 * @brief Fills @p ctx with the defaults (us-east-1, 123456789012).
 * @param[out] ctx Context to fill.
 */
void dd_arn_ctx_default(dd_arn_ctx_t *ctx);

/**
 * @brief Sets region and account after checking their form
 *        (region [a-z0-9-]{1,31}, account 12 digits).
 * @return DD_NAMES_OK, DD_NAMES_BAD_PARAMETER or DD_NAMES_INVALID.
 */
dd_names_status_t dd_arn_ctx_set(dd_arn_ctx_t *ctx, const char *region, const char *account);

/**
 * @brief Checks a name against AWS's pattern and length for its kind.
 * @param[in] kind Kind of resource.
 * @param[in] name NUL-terminated name.
 * @return true when valid.
 */
bool dd_name_valid(dd_name_kind_t kind, const char *name);

/** @return A human-readable description of the pattern for @p kind, for error messages. */
const char *dd_name_pattern(dd_name_kind_t kind);

/** @return The English noun for @p kind ("thing", "thing group", ...). */
const char *dd_name_noun(dd_name_kind_t kind);

/**
 * @brief Builds the ARN of a named resource.
 * @param[in] ctx Region and account.
 * @param[in] kind Kind of resource (DD_NAME_BEHAVIOR and DD_NAME_TASK_ID have no ARN).
 * @param[in] name The resource name (not re-validated).
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @return DD_NAMES_OK, DD_NAMES_BAD_PARAMETER, DD_NAMES_INVALID or DD_NAMES_BUFFER_TOO_SMALL.
 */
dd_names_status_t dd_arn_format(const dd_arn_ctx_t *ctx, dd_name_kind_t kind, const char *name,
                                char *buf, size_t len);

/**
 * @brief Parses an ARN of the given kind in this region/account and copies
 *        the resource name out.
 * @param[in] ctx Region and account the ARN must carry.
 * @param[in] kind Expected kind.
 * @param[in] arn NUL-terminated ARN.
 * @param[out] name Receives the name (validated for @p kind).
 * @param[in] len Size of @p name.
 * @return DD_NAMES_OK, DD_NAMES_INVALID or DD_NAMES_BUFFER_TOO_SMALL.
 */
dd_names_status_t dd_arn_parse(const dd_arn_ctx_t *ctx, dd_name_kind_t kind, const char *arn,
                               char *name, size_t len);

/**
 * @brief Builds a security-profile target ARN.
 * @param[in] ctx Region and account.
 * @param[in] target Kind of target.
 * @param[in] group Group name for DD_ARN_TARGET_THING_GROUP, else ignored.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @return DD_NAMES_OK, DD_NAMES_BAD_PARAMETER or DD_NAMES_BUFFER_TOO_SMALL.
 */
dd_names_status_t dd_arn_format_target(const dd_arn_ctx_t *ctx, dd_arn_target_t target,
                                       const char *group, char *buf, size_t len);

/**
 * @brief Parses a security-profile target ARN (thinggroup/N, all/things,
 *        all/registered-things, all/unregistered-things).
 * @param[in] ctx Region and account the ARN must carry.
 * @param[in] arn NUL-terminated ARN.
 * @param[out] target Kind of target.
 * @param[out] group Receives the group name for thing-group targets ("" otherwise).
 * @param[in] len Size of @p group.
 * @return DD_NAMES_OK or DD_NAMES_INVALID.
 */
dd_names_status_t dd_arn_parse_target(const dd_arn_ctx_t *ctx, const char *arn,
                                      dd_arn_target_t *target, char *group, size_t len);

/** @return Static text for @p status. */
const char *dd_names_strerror(dd_names_status_t status);

#endif /* DD_NAMES_H_ */
