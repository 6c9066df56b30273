/**
 * @file dd_shapes.h
 * @brief The AWS JSON shapes of what the evaluator measured and decided:
 *        a datapoint as a MetricValue, a violation event as a
 *        ListViolationEvents item (and the body of the SNS alert message),
 *        an active violation as a ListActiveViolations item.
 *
 * One place builds these shapes so that the API, the alert messages, replay
 * output and the store's stored text cannot drift apart. The engine keeps
 * only its own document codec (security profiles, behaviors and metric
 * values, parsed and printed in engine/); shapes sits beside the engine and
 * depends on its types and on common/ only.
 *
 * Ownership: every builder reads the value it is given (borrowed, not
 * kept) and returns a new cJSON tree that the caller deletes with
 * cJSON_Delete(); NULL means a NULL argument or no memory. The text
 * variants for a sink that prints every event (replay) return text the
 * caller frees (dd_shapes_behavior_text) or write into the caller's buffer
 * (dd_shapes_violation_event_print). The functions keep no state and may be
 * called from any thread.
 */
#ifndef DD_SHAPES_H_
#define DD_SHAPES_H_

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "dd_criteria.h"
#include "dd_engine.h"

/**
 * @brief The MetricValue of a datapoint: {"count":N}, {"number":X},
 *        {"ports":[...]}, {"cidrs":["a.b.c.d", ...]}, {"numbers":[...]},
 *        {"strings":[...]} ({} for a datapoint without a value).
 * @param[in] dp The datapoint.
 * @return A new cJSON object, or NULL.
 */
cJSON *dd_shapes_metric_value(const dd_datapoint_t *dp);

/**
 * @brief A violation event as a ListViolationEvents item: violationId,
 *        thingName, securityProfileName, behavior, metricValue (when
 *        present), violationEventType, verificationState and
 *        verificationStateDescription (when not UNKNOWN / set),
 *        violationEventTime (epoch seconds, or epoch ms when @p time_ms).
 * @param[in] ev The event (its behavior must be set).
 * @param[in] time_ms Time as epoch milliseconds instead of seconds.
 * @return A new cJSON object, or NULL.
 */
cJSON *dd_shapes_violation_event(const dd_violation_event_t *ev, bool time_ms);

/**
 * @brief The text of a behavior as violation events carry it:
 *        cJSON_PrintUnformatted() of dd_profile_behavior_to_json(), for
 *        dd_shapes_violation_event_print() to splice into every event of the
 *        behavior instead of printing it again.
 * @param[in] behavior The behavior.
 * @return New text the caller frees with free(), or NULL.
 */
char *dd_shapes_behavior_text(const dd_behavior_t *behavior);

/**
 * @brief Prints a violation event without building its tree: the same bytes
 *        as cJSON_PrintUnformatted(dd_shapes_violation_event(ev, time_ms)),
 *        with the behavior spliced in from @p behavior_text. For a sink that
 *        prints every event (replay): the tree and the behavior's numbers
 *        cost more than the rest of the event's evaluation.
 *
 * The members are cJSON nodes on the stack printed by
 * cJSON_PrintPreallocated(), so cJSON still does all escaping and number
 * formatting; nothing is allocated for count and number values.
 * @param[in] ev The event (its behavior must be set).
 * @param[in] time_ms Time as epoch milliseconds instead of seconds.
 * @param[in] behavior_text dd_shapes_behavior_text() of ev->behavior.
 * @param[out] buf Where the NUL-terminated text goes.
 * @param[in] len Size of @p buf.
 * @return The text's length, or 0 when an argument is NULL, the text does not
 *         fit in @p buf (cJSON needs a few bytes of slack) or memory ran out.
 */
size_t dd_shapes_violation_event_print(const dd_violation_event_t *ev, bool time_ms,
                                       const char *behavior_text, char *buf, size_t len);

/**
 * @brief An active violation as a ListActiveViolations item: violationId,
 *        thingName, securityProfileName, behavior, lastViolationValue,
 *        verification state, lastViolationTime and violationStartTime
 *        (epoch seconds).
 * @param[in] av The active violation (its behavior must be set).
 * @return A new cJSON object, or NULL.
 */
cJSON *dd_shapes_active_violation(const dd_active_violation_t *av);

#endif /* DD_SHAPES_H_ */
