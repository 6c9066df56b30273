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
 * cJSON_Delete(); NULL means a NULL argument or no memory. The functions
 * keep no state and may be called from any thread.
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
 * @brief An active violation as a ListActiveViolations item: violationId,
 *        thingName, securityProfileName, behavior, lastViolationValue,
 *        verification state, lastViolationTime and violationStartTime
 *        (epoch seconds).
 * @param[in] av The active violation (its behavior must be set).
 * @return A new cJSON object, or NULL.
 */
cJSON *dd_shapes_active_violation(const dd_active_violation_t *av);

#endif /* DD_SHAPES_H_ */
