/**
 * @file dd_alarm.h
 * @brief The alarm state machine of defender-spec.md §4.3, per thing ×
 *        profile × behavior: consecutive datapoints to alarm and to clear,
 *        one violation id across an alarm's life, invalidation.
 *
 * A dd_alarm_t is a small caller-owned value (no pointers), so it can be
 * embedded in arrays, copied and serialised byte for byte. dd_alarm_step()
 * is a pure function of the alarm, the datapoint's verdict and its time.
 * Counters saturate at 10 (the largest allowed threshold) so a steady alarm
 * stops changing and needs no further persistence.
 */
#ifndef DD_ALARM_H_
#define DD_ALARM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_alarm_status {
    DD_ALARM_OK = 0,
    DD_ALARM_BAD_PARAMETER /**< NULL pointer or thresholds outside 1..10. */
} dd_alarm_status_t;

/** Alarm states. */
typedef enum dd_alarm_state { DD_ALARM_NORMAL = 0, DD_ALARM_IN_ALARM = 1 } dd_alarm_state_t;

/** Verification states (PutVerificationStateOnViolation). */
typedef enum dd_verification {
    DD_VERIFICATION_UNKNOWN = 0,
    DD_VERIFICATION_FALSE_POSITIVE,
    DD_VERIFICATION_BENIGN_POSITIVE,
    DD_VERIFICATION_TRUE_POSITIVE
} dd_verification_t;

/** What a step did. */
typedef enum dd_alarm_transition {
    DD_ALARM_NONE = 0,        /**< No event. */
    DD_ALARM_RAISED,          /**< NORMAL -> IN_ALARM: "in-alarm". */
    DD_ALARM_STILL_VIOLATING, /**< IN_ALARM and violating: lastViolationValue/Time move. */
    DD_ALARM_CLEARED,         /**< IN_ALARM -> NORMAL: "alarm-cleared". */
    DD_ALARM_INVALIDATED      /**< IN_ALARM -> NORMAL: "alarm-invalidated". */
} dd_alarm_transition_t;

/** Length of a violation id (32 lowercase hex characters, as AWS's) + NUL. */
#define DD_VIOLATION_ID_LEN 33

/** One alarm. Zero-initialised = NORMAL with no history. */
typedef struct dd_alarm {
    uint8_t state;             /**< dd_alarm_state_t */
    uint8_t violating_run;     /**< Consecutive violating datapoints (saturates at 10). */
    uint8_t conforming_run;    /**< Consecutive conforming datapoints (saturates at 10). */
    uint8_t verification;      /**< dd_verification_t of the current violation. */
    int64_t last_datapoint_ms; /**< Time of the last datapoint (0: none yet). */
    int64_t start_ms;          /**< violationStartTime. */
    int64_t last_violation_ms; /**< lastViolationTime. */
    char violation_id[DD_VIOLATION_ID_LEN];
} dd_alarm_t;

/**
 * @brief Feeds one datapoint's verdict into the alarm.
 * @param[in,out] alarm Alarm.
 * @param[in] violating The datapoint does not meet the criteria.
 * @param[in] to_alarm consecutiveDatapointsToAlarm (1..10).
 * @param[in] to_clear consecutiveDatapointsToClear (1..10).
 * @param[in] now_ms Datapoint time.
 * @param[in] new_id Violation id to use when the alarm is raised (copied; may
 *                   be NULL when the caller fills alarm->violation_id itself).
 * @param[out] out What happened.
 * @return DD_ALARM_OK or DD_ALARM_BAD_PARAMETER.
 */
dd_alarm_status_t dd_alarm_step(dd_alarm_t *alarm, bool violating, int to_alarm, int to_clear,
                                int64_t now_ms, const char *new_id, dd_alarm_transition_t *out);

/**
 * @brief Ends an active alarm without a datapoint ("alarm-invalidated"):
 *        no metrics for too long, or the behavior/profile/target no longer
 *        covers the thing. Counters restart.
 * @param[in,out] alarm Alarm.
 * @param[out] out DD_ALARM_INVALIDATED when it was in alarm, DD_ALARM_NONE otherwise.
 * @return DD_ALARM_OK or DD_ALARM_BAD_PARAMETER.
 */
dd_alarm_status_t dd_alarm_invalidate(dd_alarm_t *alarm, dd_alarm_transition_t *out);

/**
 * @brief Makes a deterministic 32-hex-character violation id from a seed
 *        (64-bit mixing of the key and a counter).
 * @param[in] key Bytes identifying the alarm (thing, profile, behavior ...).
 * @param[in] key_len Length of @p key.
 * @param[in] counter Distinguishes successive violations of the same alarm.
 * @param[out] out DD_VIOLATION_ID_LEN bytes.
 */
void dd_alarm_make_id(const void *key, size_t key_len, uint64_t counter,
                      char out[DD_VIOLATION_ID_LEN]);

/** @brief Parses FALSE_POSITIVE, BENIGN_POSITIVE, TRUE_POSITIVE, UNKNOWN. */
bool dd_verification_parse(const char *text, dd_verification_t *out);

/** @return "UNKNOWN", "FALSE_POSITIVE", ... */
const char *dd_verification_name(dd_verification_t v);

/** @return "in-alarm", "alarm-cleared", "alarm-invalidated" or "" for the others. */
const char *dd_alarm_event_name(dd_alarm_transition_t t);

/** @return Static text for @p status. */
const char *dd_alarm_strerror(dd_alarm_status_t status);

#endif /* DD_ALARM_H_ */
