/**
 * @file dd_logopts.h
 * @brief AWS IoT logging options (SetV2LoggingOptions / SetLoggingOptions
 *        and their Get) and the one place that turns them into ddlocald's
 *        own log level.
 *
 * Both sets of options are kept in the registry's settings (keys
 * DD_LOGOPTS_SETTING_V2 and DD_LOGOPTS_SETTING_V1, one small JSON object each)
 * so that they survive restarts and Device Defender Audit (issue 12) can read
 * them. ddlocal has no CloudWatch: the roleArn is stored and returned, and
 * the level drives ddlocald's log (dd_log) instead:
 *
 *   - v2 options, when set, decide: disableAllLogs or DISABLED -> ERROR,
 *     ERROR -> ERROR, WARN -> WARN, INFO -> INFO, DEBUG -> DEBUG;
 *   - otherwise the v1 logLevel, mapped the same way;
 *   - otherwise the level ddlocald was started with (--log-level).
 *
 * ddlocald never goes quieter than ERROR: its errors (a full disk, a failing
 * store) are how a local user learns something is broken, so "disabled"
 * keeps them. dd_logopts_apply() sets the process's level; the setters apply
 * it themselves after a successful write, so a Set call takes effect before
 * it answers.
 *
 * Ownership: the registry is borrowed; options are caller-allocated values.
 * Not thread-safe: callers hold the pipeline lock (the API's dispatcher does).
 */
#ifndef DD_LOGOPTS_H_
#define DD_LOGOPTS_H_

#include <stdbool.h>
#include <stddef.h>

#include "dd_log.h"
#include "dd_registry.h"

/** Status codes of this module. */
typedef enum dd_logopts_status {
    DD_LOGOPTS_OK = 0,
    DD_LOGOPTS_BAD_PARAMETER,  /**< NULL pointer. */
    DD_LOGOPTS_INVALID,        /**< Refused value (InvalidRequestException); message says why. */
    DD_LOGOPTS_NOT_CONFIGURED, /**< Never set (GetV2LoggingOptions: NotConfiguredException). */
    DD_LOGOPTS_STORE_ERROR     /**< The settings could not be read or written (logged). */
} dd_logopts_status_t;

/** AWS's LogLevel enum. */
typedef enum dd_logopts_level {
    DD_LOGOPTS_DEBUG = 0,
    DD_LOGOPTS_INFO,
    DD_LOGOPTS_ERROR,
    DD_LOGOPTS_WARN,
    DD_LOGOPTS_DISABLED,
    DD_LOGOPTS_LEVEL_COUNT
} dd_logopts_level_t;

/** Settings keys. */
#define DD_LOGOPTS_SETTING_V2 "logging_options_v2"
#define DD_LOGOPTS_SETTING_V1 "logging_options_v1"

/** Longest roleArn kept (AWS's AwsArn has no maximum; IAM role ARNs stay far below). */
#define DD_LOGOPTS_ROLE_ARN_MAX 2048

/** V2 options; role_arn "" when not given. */
typedef struct dd_logopts_v2 {
    char role_arn[DD_LOGOPTS_ROLE_ARN_MAX + 1];
    bool has_level; /**< defaultLogLevel given. */
    dd_logopts_level_t default_level;
    bool disable_all;
} dd_logopts_v2_t;

/** V1 options (LoggingOptionsPayload); roleArn is required by the model. */
typedef struct dd_logopts_v1 {
    char role_arn[DD_LOGOPTS_ROLE_ARN_MAX + 1];
    bool has_level; /**< logLevel given. */
    dd_logopts_level_t level;
} dd_logopts_v1_t;

/** @return "DEBUG", "INFO", "ERROR", "WARN", "DISABLED" ("?" when out of range). */
const char *dd_logopts_level_name(dd_logopts_level_t level);
/** @brief Parses a LogLevel name (exact case); false when unknown. */
bool dd_logopts_level_parse(const char *text, dd_logopts_level_t *level);

/**
 * @brief Stores the v2 options (replacing the previous ones) and applies the
 *        resulting level. A roleArn, when given, must be an IAM role ARN
 *        (arn:PARTITION:iam::ACCOUNT:role/NAME); ddlocal never assumes it.
 * @param[out] msg Why a value was refused (may be NULL).
 */
dd_logopts_status_t dd_logopts_set_v2(dd_registry_t *reg, const dd_logopts_v2_t *opts, char *msg,
                                      size_t msg_len);
/** @brief The stored v2 options; DD_LOGOPTS_NOT_CONFIGURED when never set. */
dd_logopts_status_t dd_logopts_get_v2(dd_registry_t *reg, dd_logopts_v2_t *out);
/** @brief Stores the v1 options (roleArn required) and applies the resulting level. */
dd_logopts_status_t dd_logopts_set_v1(dd_registry_t *reg, const dd_logopts_v1_t *opts, char *msg,
                                      size_t msg_len);
/** @brief The stored v1 options; DD_LOGOPTS_NOT_CONFIGURED when never set. */
dd_logopts_status_t dd_logopts_get_v1(dd_registry_t *reg, dd_logopts_v1_t *out);

/**
 * @brief The level ddlocald logs at under the stored options.
 * @param[in] fallback The level when no options are stored (--log-level).
 * @param[out] level The result.
 * @param[out] from_options Optional: true when stored options decided.
 */
dd_logopts_status_t dd_logopts_effective_level(dd_registry_t *reg, dd_log_level_t fallback,
                                               dd_log_level_t *level, bool *from_options);

/**
 * @brief Sets the process's log level from the stored options, when any
 *        (dd_log_set_level()); leaves it alone otherwise.
 */
dd_logopts_status_t dd_logopts_apply(dd_registry_t *reg);

/** @return Static text for @p status. */
const char *dd_logopts_strerror(dd_logopts_status_t status);

#endif /* DD_LOGOPTS_H_ */
