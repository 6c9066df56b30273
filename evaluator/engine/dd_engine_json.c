/*
 * The AWS JSON shapes the engine's values are shown in: security profiles
 * (Describe/Create/Update bodies), behaviors, metric values and datapoints,
 * violation events and active violations (ListViolationEvents /
 * ListActiveViolations items, SNS messages). Declared beside their types in
 * dd_profile.h, dd_criteria.h and dd_engine.h; kept in this one file so that
 * moving all AWS JSON building into one module later (issue 10) moves one
 * file. Nothing here reads engine state: each builder only formats the
 * value it is given and returns a new cJSON tree the caller deletes.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_criteria.h"
#include "dd_engine.h"
#include "dd_ip.h"
#include "dd_names.h"
#include "dd_profile.h"

/* ------------------------------------------------------------------ profiles */

cJSON *dd_profile_time_json(int64_t ms)
{
    if (ms % 1000 == 0) {
        return cJSON_CreateNumber((double)(ms / 1000));
    }
    return cJSON_CreateNumber((double)ms / 1000.0);
}

static bool add_string_array(cJSON *obj, const char *key, char *const *list, size_t count)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    size_t i;

    if (arr == NULL) {
        return false;
    }
    for (i = 0; i < count; i++) {
        cJSON *s = cJSON_CreateString(list[i]);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            return false;
        }
    }
    return true;
}

cJSON *dd_profile_metric_value_to_json(const dd_metric_value_t *v)
{
    cJSON *obj;
    bool ok = true;
    size_t i;

    if (v == NULL) {
        return NULL;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    if (v->members & DD_MV_COUNT) {
        ok = ok && cJSON_AddNumberToObject(obj, "count", (double)v->count) != NULL;
    }
    if (v->members & DD_MV_CIDRS) {
        ok = ok && add_string_array(obj, "cidrs", v->cidrs, v->cidr_count);
    }
    if (v->members & DD_MV_PORTS) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "ports");
        ok = ok && arr != NULL;
        for (i = 0; ok && i < v->port_count; i++) {
            ok = cJSON_AddItemToArray(arr, cJSON_CreateNumber(v->ports[i]));
        }
    }
    if (v->members & DD_MV_NUMBER) {
        ok = ok && cJSON_AddNumberToObject(obj, "number", v->number) != NULL;
    }
    if (v->members & DD_MV_NUMBERS) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "numbers");
        ok = ok && arr != NULL;
        for (i = 0; ok && i < v->number_count; i++) {
            ok = cJSON_AddItemToArray(arr, cJSON_CreateNumber(v->numbers[i]));
        }
    }
    if (v->members & DD_MV_STRINGS) {
        ok = ok && add_string_array(obj, "strings", v->strings, v->string_count);
    }
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static bool add_dimension(cJSON *obj, const char *name, bool has_op, dd_dim_op_t op)
{
    cJSON *d = cJSON_AddObjectToObject(obj, "metricDimension");

    return d != NULL && cJSON_AddStringToObject(d, "dimensionName", name) != NULL &&
           (!has_op ||
            cJSON_AddStringToObject(d, "operator", op == DD_DIM_NOT_IN ? "NOT_IN" : "IN") != NULL);
}

cJSON *dd_profile_behavior_to_json(const dd_behavior_t *b)
{
    cJSON *obj;
    bool ok;

    if (b == NULL) {
        return NULL;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    ok = cJSON_AddStringToObject(obj, "name", b->name) != NULL;
    if (ok && b->has_metric) {
        ok = cJSON_AddStringToObject(obj, "metric", b->metric) != NULL;
    }
    if (ok && b->has_dimension) {
        ok = add_dimension(obj, b->dimension, b->has_dimension_op, b->dimension_op);
    }
    if (ok && b->has_criteria) {
        const dd_behavior_criteria_t *c = &b->criteria;
        cJSON *cj = cJSON_AddObjectToObject(obj, "criteria");
        ok = cj != NULL;
        if (ok && c->has_operator) {
            ok =
                cJSON_AddStringToObject(cj, "comparisonOperator", dd_metric_op_name(c->op)) != NULL;
        }
        if (ok && c->has_value) {
            cJSON *v = dd_profile_metric_value_to_json(&c->value);
            ok = v != NULL && cJSON_AddItemToObject(cj, "value", v);
        }
        if (ok && c->has_duration) {
            ok = cJSON_AddNumberToObject(cj, "durationSeconds", (double)c->duration_s) != NULL;
        }
        if (ok && c->has_to_alarm) {
            ok = cJSON_AddNumberToObject(cj, "consecutiveDatapointsToAlarm", (double)c->to_alarm) !=
                 NULL;
        }
        if (ok && c->has_to_clear) {
            ok = cJSON_AddNumberToObject(cj, "consecutiveDatapointsToClear", (double)c->to_clear) !=
                 NULL;
        }
        if (ok && c->statistic != DD_STAT_NONE) {
            cJSON *s = cJSON_AddObjectToObject(cj, "statisticalThreshold");
            ok = s != NULL &&
                 cJSON_AddStringToObject(s, "statistic", dd_profile_statistic_name(c->statistic)) !=
                     NULL;
        }
        if (ok && c->ml != DD_ML_NONE) {
            cJSON *s = cJSON_AddObjectToObject(cj, "mlDetectionConfig");
            ok = s != NULL && cJSON_AddStringToObject(s, "confidenceLevel",
                                                      dd_profile_ml_confidence_name(c->ml)) != NULL;
        }
    }
    if (ok && b->has_suppress_alerts) {
        ok = cJSON_AddBoolToObject(obj, "suppressAlerts", b->suppress_alerts) != NULL;
    }
    if (ok && b->has_export_metric) {
        ok = cJSON_AddBoolToObject(obj, "exportMetric", b->export_metric) != NULL;
    }
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

cJSON *dd_profile_to_json(const dd_profile_t *p, const dd_arn_ctx_t *arn, unsigned flags)
{
    cJSON *obj;
    bool ok;
    size_t i;
    dd_arn_ctx_t def_arn;

    if (p == NULL) {
        return NULL;
    }
    if (arn == NULL) {
        dd_arn_ctx_default(&def_arn);
        arn = &def_arn;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return NULL;
    }
    ok = cJSON_AddStringToObject(obj, "securityProfileName", p->name) != NULL;
    if (ok && (flags & DD_PROFILE_JSON_DESCRIBE)) {
        char buf[DD_ARN_MAX];
        ok = dd_arn_format(arn, DD_NAME_SECURITY_PROFILE, p->name, buf, sizeof(buf)) ==
                 DD_NAMES_OK &&
             cJSON_AddStringToObject(obj, "securityProfileArn", buf) != NULL;
    }
    if (ok && p->description != NULL) {
        ok = cJSON_AddStringToObject(obj, "securityProfileDescription", p->description) != NULL;
    }
    if (ok && (p->has_behaviors || (flags & DD_PROFILE_JSON_DESCRIBE))) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "behaviors");
        ok = arr != NULL;
        for (i = 0; ok && i < p->behavior_count; i++) {
            cJSON *b = dd_profile_behavior_to_json(&p->behaviors[i]);
            ok = b != NULL && cJSON_AddItemToArray(arr, b);
        }
    }
    if (ok && p->has_alert_target) {
        cJSON *at = cJSON_AddObjectToObject(obj, "alertTargets");
        cJSON *sns = at != NULL ? cJSON_AddObjectToObject(at, "SNS") : NULL;
        ok = sns != NULL &&
             cJSON_AddStringToObject(sns, "alertTargetArn", p->sns_target_arn) != NULL &&
             cJSON_AddStringToObject(sns, "roleArn", p->sns_role_arn) != NULL;
    }
    if (ok && p->has_retain_v1) {
        ok = add_string_array(obj, "additionalMetricsToRetain", p->retain_v1, p->retain_v1_count);
    }
    if (ok && p->has_retain_v2) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "additionalMetricsToRetainV2");
        ok = arr != NULL;
        for (i = 0; ok && i < p->retain_count; i++) {
            const dd_metric_to_retain_t *r = &p->retain[i];
            cJSON *o = cJSON_CreateObject();
            ok = o != NULL && cJSON_AddItemToArray(arr, o) &&
                 cJSON_AddStringToObject(o, "metric", r->metric) != NULL;
            if (ok && r->has_dimension) {
                ok = add_dimension(o, r->dimension, r->has_dimension_op, r->dimension_op);
            }
            if (ok && r->has_export_metric) {
                ok = cJSON_AddBoolToObject(o, "exportMetric", r->export_metric) != NULL;
            }
        }
    }
    if (ok && p->has_export_config) {
        cJSON *e = cJSON_AddObjectToObject(obj, "metricsExportConfig");
        ok = e != NULL && cJSON_AddStringToObject(e, "mqttTopic", p->export_topic) != NULL &&
             cJSON_AddStringToObject(e, "roleArn", p->export_role_arn) != NULL;
    }
    if (ok && (flags & DD_PROFILE_JSON_DESCRIBE)) {
        bool ms = (flags & DD_PROFILE_JSON_DATES_MS) != 0;
        ok = cJSON_AddNumberToObject(obj, "version", (double)p->version) != NULL &&
             cJSON_AddItemToObject(obj, "creationDate",
                                   ms ? cJSON_CreateNumber((double)p->creation_ms)
                                      : dd_profile_time_json(p->creation_ms)) &&
             cJSON_AddItemToObject(obj, "lastModifiedDate",
                                   ms ? cJSON_CreateNumber((double)p->modified_ms)
                                      : dd_profile_time_json(p->modified_ms));
    }
    if (ok && (flags & DD_PROFILE_JSON_TARGETS)) {
        ok = add_string_array(obj, "targets", p->targets, p->target_count);
    }
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* ------------------------------------------------------------------ datapoints */

cJSON *dd_datapoint_to_json(const dd_datapoint_t *dp)
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

cJSON *dd_engine_event_to_json(const dd_violation_event_t *ev, bool time_ms)
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
        cJSON *v = dd_datapoint_to_json(&ev->value);
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
    ok = ok && add_time(obj, "violationEventTime", ev->time_ms, time_ms);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

cJSON *dd_engine_active_to_json(const dd_active_violation_t *av)
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
        cJSON *v = dd_datapoint_to_json(&av->last_value);
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
    ok = ok && add_time(obj, "lastViolationTime", av->last_violation_ms, false) &&
         add_time(obj, "violationStartTime", av->start_ms, false);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
