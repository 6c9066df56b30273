/*
 * The AWS JSON shapes of what the evaluator measured and decided (see
 * dd_shapes.h). Each builder only formats the value it is given and returns
 * a new cJSON tree the caller deletes.
 */
#include "dd_shapes.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_ip.h"
#include "dd_names.h"
#include "dd_profile.h"

/* ------------------------------------------------------------------ datapoints */

cJSON *dd_shapes_metric_value(const dd_datapoint_t *dp)
{
    cJSON *obj;
    cJSON *arr = NULL;
    size_t i;
    bool ok = true;

    if (dp == NULL) {
        return NULL;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    switch (dp->kind) {
    case DD_VALUE_COUNT:
        ok = cJSON_AddNumberToObject(obj, "count", (double)dp->count) != NULL;
        break;
    case DD_VALUE_NUMBER: ok = cJSON_AddNumberToObject(obj, "number", dp->number) != NULL; break;
    case DD_VALUE_PORTS:
        arr = cJSON_AddArrayToObject(obj, "ports");
        for (i = 0; arr != NULL && ok && i < dp->n; i++) {
            ok = cJSON_AddItemToArray(arr, cJSON_CreateNumber(dd_datapoint_port(dp, i)));
        }
        ok = ok && arr != NULL;
        break;
    case DD_VALUE_CIDRS:
        arr = cJSON_AddArrayToObject(obj, "cidrs");
        for (i = 0; arr != NULL && ok && i < dp->n; i++) {
            char buf[DD_IP_TEXT_MAX];
            ok = dd_ip_format(dd_datapoint_ip(dp, i), buf, sizeof(buf)) == DD_IP_OK &&
                 cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
        }
        ok = ok && arr != NULL;
        break;
    case DD_VALUE_NUMBERS:
        arr = cJSON_AddArrayToObject(obj, "numbers");
        for (i = 0; arr != NULL && ok && i < dp->n; i++) {
            ok = cJSON_AddItemToArray(arr, cJSON_CreateNumber(dd_datapoint_number(dp, i)));
        }
        ok = ok && arr != NULL;
        break;
    case DD_VALUE_STRINGS:
        arr = cJSON_AddArrayToObject(obj, "strings");
        for (i = 0; arr != NULL && ok && i < dp->n; i++) {
            ok = cJSON_AddItemToArray(arr, cJSON_CreateString(dd_datapoint_string(dp, i)));
        }
        ok = ok && arr != NULL;
        break;
    case DD_VALUE_NONE: break;
    }
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* ------------------------------------------------------------------ violations */

static bool add_time(cJSON *obj, const char *key, int64_t ms, bool as_ms)
{
    cJSON *n = as_ms ? cJSON_CreateNumber((double)ms) : dd_profile_time_json(ms);
    return n != NULL && cJSON_AddItemToObject(obj, key, n);
}

/* ML Detect's violations say at which confidence level they were judged. */
static bool add_ml_info(cJSON *obj, const dd_behavior_t *b)
{
    cJSON *info;

    if (b->criteria.ml == DD_ML_NONE) {
        return true;
    }
    info = cJSON_AddObjectToObject(obj, "violationEventAdditionalInfo");
    return info != NULL &&
           cJSON_AddStringToObject(info, "confidenceLevel",
                                   dd_profile_ml_confidence_name(b->criteria.ml)) != NULL;
}

cJSON *dd_shapes_violation_event(const dd_violation_event_t *ev, bool time_ms)
{
    cJSON *obj;
    cJSON *b;
    bool ok;

    if (ev == NULL || ev->behavior == NULL) {
        return NULL;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    b = dd_profile_behavior_to_json(ev->behavior);
    ok = cJSON_AddStringToObject(obj, "violationId", ev->violation_id) != NULL &&
         cJSON_AddStringToObject(obj, "thingName", ev->thing) != NULL &&
         cJSON_AddStringToObject(obj, "securityProfileName", ev->profile) != NULL && b != NULL &&
         cJSON_AddItemToObject(obj, "behavior", b);
    if (!ok) {
        cJSON_Delete(b);
    }
    if (ok && ev->has_value) {
        cJSON *v = dd_shapes_metric_value(&ev->value);
        ok = v != NULL && cJSON_AddItemToObject(obj, "metricValue", v);
    }
    ok = ok &&
         cJSON_AddStringToObject(obj, "violationEventType", dd_alarm_event_name(ev->type)) != NULL;
    if (ok && ev->verification != DD_VERIFICATION_UNKNOWN) {
        ok = cJSON_AddStringToObject(obj, "verificationState",
                                     dd_verification_name(ev->verification)) != NULL;
    }
    if (ok && ev->verification_description != NULL) {
        ok = cJSON_AddStringToObject(obj, "verificationStateDescription",
                                     ev->verification_description) != NULL;
    }
    ok = ok && add_ml_info(obj, ev->behavior) &&
         add_time(obj, "violationEventTime", ev->time_ms, time_ms);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

cJSON *dd_shapes_active_violation(const dd_active_violation_t *av)
{
    cJSON *obj;
    cJSON *b;
    bool ok;

    if (av == NULL || av->behavior == NULL) {
        return NULL;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    b = dd_profile_behavior_to_json(av->behavior);
    ok = cJSON_AddStringToObject(obj, "violationId", av->violation_id) != NULL &&
         cJSON_AddStringToObject(obj, "thingName", av->thing) != NULL &&
         cJSON_AddStringToObject(obj, "securityProfileName", av->profile) != NULL && b != NULL &&
         cJSON_AddItemToObject(obj, "behavior", b);
    if (!ok) {
        cJSON_Delete(b);
    }
    if (ok && av->has_value) {
        cJSON *v = dd_shapes_metric_value(&av->last_value);
        ok = v != NULL && cJSON_AddItemToObject(obj, "lastViolationValue", v);
    }
    if (ok && av->verification != DD_VERIFICATION_UNKNOWN) {
        ok = cJSON_AddStringToObject(obj, "verificationState",
                                     dd_verification_name(av->verification)) != NULL;
    }
    if (ok && av->verification_description != NULL) {
        ok = cJSON_AddStringToObject(obj, "verificationStateDescription",
                                     av->verification_description) != NULL;
    }
    ok = ok && add_ml_info(obj, av->behavior) &&
         add_time(obj, "lastViolationTime", av->last_violation_ms, false) &&
         add_time(obj, "violationStartTime", av->start_ms, false);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
