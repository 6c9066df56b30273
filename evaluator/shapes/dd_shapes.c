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
#include <stdlib.h>
#include <string.h>

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

char *dd_shapes_behavior_text(const dd_behavior_t *behavior)
{
    cJSON *b;
    char *text;

    if (behavior == NULL) {
        return NULL;
    }
    b = dd_profile_behavior_to_json(behavior);
    text = b != NULL ? cJSON_PrintUnformatted(b) : NULL;
    cJSON_Delete(b);
    return text;
}

/* A member of a stack-built object: cJSON prints an object by following child->next. */
static void stack_member(cJSON *obj, cJSON *item, int type, const char *key)
{
    item->type = type;
    item->string = (char *)key; /* cJSON only reads it: the node is never deleted */
    item->next = NULL;
    if (obj->child == NULL) {
        obj->child = item;
        item->prev = item;
    } else {
        cJSON *last = obj->child->prev;
        last->next = item;
        item->prev = last;
        obj->child->prev = item;
    }
}

static void stack_string(cJSON *obj, cJSON *item, const char *key, const char *value)
{
    stack_member(obj, item, cJSON_String, key);
    item->valuestring = (char *)value; /* read only, as above */
}

static void stack_number(cJSON *obj, cJSON *item, const char *key, double value)
{
    stack_member(obj, item, cJSON_Number, key);
    (void)cJSON_SetNumberHelper(item, value); /* valueint as cJSON_CreateNumber sets it */
}

/* Members in dd_shapes_violation_event()'s order; the unit test holds the two together. */
size_t dd_shapes_violation_event_print(const dd_violation_event_t *ev, bool time_ms,
                                       const char *behavior_text, char *buf, size_t len)
{
    cJSON node[16];
    cJSON *obj = &node[0];
    cJSON *value = NULL; /* a heap metricValue (lists) */
    size_t n = 1;
    bool ok;

    if (ev == NULL || ev->behavior == NULL || behavior_text == NULL || buf == NULL || len == 0 ||
        len > (size_t)INT32_MAX) {
        return 0;
    }
    memset(node, 0, sizeof(node));
    obj->type = cJSON_Object;
    stack_string(obj, &node[n++], "violationId", ev->violation_id);
    stack_string(obj, &node[n++], "thingName", ev->thing);
    stack_string(obj, &node[n++], "securityProfileName", ev->profile);
    stack_member(obj, &node[n], cJSON_Raw, "behavior");
    node[n++].valuestring = (char *)behavior_text;
    if (ev->has_value) {
        if (ev->value.kind == DD_VALUE_COUNT || ev->value.kind == DD_VALUE_NUMBER) {
            cJSON *v = &node[n++];
            stack_member(obj, v, cJSON_Object, "metricValue");
            if (ev->value.kind == DD_VALUE_COUNT) {
                stack_number(v, &node[n++], "count", (double)ev->value.count);
            } else {
                stack_number(v, &node[n++], "number", ev->value.number);
            }
        } else {
            value = dd_shapes_metric_value(&ev->value);
            if (value == NULL) {
                return 0;
            }
            stack_member(obj, value, cJSON_Object, "metricValue");
        }
    }
    stack_string(obj, &node[n++], "violationEventType", dd_alarm_event_name(ev->type));
    if (ev->verification != DD_VERIFICATION_UNKNOWN) {
        stack_string(obj, &node[n++], "verificationState", dd_verification_name(ev->verification));
    }
    if (ev->verification_description != NULL) {
        stack_string(obj, &node[n++], "verificationStateDescription", ev->verification_description);
    }
    if (ev->behavior->criteria.ml != DD_ML_NONE) {
        cJSON *info = &node[n++];
        stack_member(obj, info, cJSON_Object, "violationEventAdditionalInfo");
        stack_string(info, &node[n++], "confidenceLevel",
                     dd_profile_ml_confidence_name(ev->behavior->criteria.ml));
    }
    stack_number(obj, &node[n++], "violationEventTime",
                 time_ms ? (double)ev->time_ms : dd_profile_time_seconds(ev->time_ms));
    ok = cJSON_PrintPreallocated(obj, buf, (int)len, false);
    if (value != NULL) {
        value->string = NULL; /* the key is a literal, not cJSON's to free */
        value->next = NULL;
        value->prev = NULL;
        cJSON_Delete(value);
    }
    return ok ? strlen(buf) : 0;
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
