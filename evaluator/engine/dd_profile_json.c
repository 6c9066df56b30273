/*
 * The printing half of the security-profile document codec (dd_profile.c
 * parses): profiles, behaviors and metric values as AWS writes them in
 * Create/Update/Describe bodies. The engine needs it itself (behavior
 * equality, UpdateSecurityProfile's merge) and the store keeps documents in
 * this form. What the evaluator measured and decided (datapoints, violation
 * events, active violations) is shaped in evaluator/shapes/ instead.
 * Declared in dd_profile.h; each builder returns a new cJSON tree the caller
 * deletes.
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

double dd_profile_time_seconds(int64_t ms)
{
    if (ms % 1000 == 0) {
        return (double)(ms / 1000);
    }
    return (double)ms / 1000.0;
}

cJSON *dd_profile_time_json(int64_t ms)
{
    return cJSON_CreateNumber(dd_profile_time_seconds(ms));
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
