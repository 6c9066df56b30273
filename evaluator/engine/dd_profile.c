#include "dd_profile.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_json.h"

/* ------------------------------------------------------------------ helpers */

static void set_err(dd_profile_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(dd_profile_error_t *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static char *dup_str(const char *s)
{
    size_t n;
    char *d;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s) + 1;
    d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static bool copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap) {
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

/* Exact integer from a JSON number (doubles carry integers up to 2^53). */
static bool json_int(const cJSON *item, int64_t *out)
{
    double v;

    if (!cJSON_IsNumber(item)) {
        return false;
    }
    v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < -9007199254740992.0 || v > 9007199254740992.0) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static void free_strings(char **list, size_t count)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        free(list[i]);
    }
    free(list);
}

/* Graph characters and space only (AWS pattern [\p{Graph}\x20]*). */
static bool printable_text(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ enums */

static const char *const STAT_NAMES[DD_STAT_COUNT_] = {
    "", "p0", "p0.1", "p0.01", "p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p100",
};
static const double STAT_VALUES[DD_STAT_COUNT_] = {
    -1.0, 0.0, 0.1, 0.01, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0,
};

const char *dd_profile_statistic_name(dd_statistic_t stat)
{
    return (unsigned)stat < DD_STAT_COUNT_ ? STAT_NAMES[stat] : "";
}

double dd_profile_statistic_percentile(dd_statistic_t stat)
{
    return (unsigned)stat < DD_STAT_COUNT_ ? STAT_VALUES[stat] : -1.0;
}

static bool statistic_parse(const char *text, dd_statistic_t *out)
{
    unsigned i;

    for (i = 1; i < DD_STAT_COUNT_; i++) {
        if (strcmp(text, STAT_NAMES[i]) == 0) {
            *out = (dd_statistic_t)i;
            return true;
        }
    }
    return false;
}

const char *dd_profile_ml_confidence_name(dd_ml_confidence_t level)
{
    switch (level) {
    case DD_ML_LOW: return "LOW";
    case DD_ML_MEDIUM: return "MEDIUM";
    case DD_ML_HIGH: return "HIGH";
    case DD_ML_NONE: break;
    }
    return "";
}

static bool ml_parse(const char *text, dd_ml_confidence_t *out)
{
    if (strcmp(text, "LOW") == 0) {
        *out = DD_ML_LOW;
    } else if (strcmp(text, "MEDIUM") == 0) {
        *out = DD_ML_MEDIUM;
    } else if (strcmp(text, "HIGH") == 0) {
        *out = DD_ML_HIGH;
    } else {
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ free */

void dd_profile_metric_value_free(dd_metric_value_t *value)
{
    if (value == NULL) {
        return;
    }
    free_strings(value->cidrs, value->cidr_count);
    free(value->cidr_parsed);
    free(value->ports);
    free(value->numbers);
    free_strings(value->strings, value->string_count);
    memset(value, 0, sizeof(*value));
}

void dd_profile_behavior_free(dd_behavior_t *behavior)
{
    if (behavior == NULL) {
        return;
    }
    dd_profile_metric_value_free(&behavior->criteria.value);
    memset(behavior, 0, sizeof(*behavior));
}

void dd_profile_free(dd_profile_t *profile)
{
    size_t i;

    if (profile == NULL) {
        return;
    }
    free(profile->description);
    for (i = 0; i < profile->behavior_count; i++) {
        dd_profile_behavior_free(&profile->behaviors[i]);
    }
    free(profile->behaviors);
    free(profile->sns_target_arn);
    free(profile->sns_role_arn);
    free_strings(profile->retain_v1, profile->retain_v1_count);
    free(profile->retain);
    free(profile->export_topic);
    free(profile->export_role_arn);
    free_strings(profile->targets, profile->target_count);
    memset(profile, 0, sizeof(*profile));
}

/* ------------------------------------------------------------------ parse */

static dd_profile_status_t parse_string_array(const cJSON *arr, char ***out, size_t *count,
                                              const char *what, dd_profile_error_t *err)
{
    size_t n;
    size_t i = 0;
    const cJSON *it;
    char **list;

    if (!cJSON_IsArray(arr)) {
        set_err(err, "%s must be a list of strings", what);
        return DD_PROFILE_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    list = calloc(n > 0 ? n : 1, sizeof(char *));
    if (list == NULL) {
        return DD_PROFILE_NO_MEMORY;
    }
    cJSON_ArrayForEach (it, arr) {
        if (!cJSON_IsString(it)) {
            free_strings(list, i);
            set_err(err, "%s must be a list of strings", what);
            return DD_PROFILE_INVALID;
        }
        list[i] = dup_str(it->valuestring);
        if (list[i] == NULL) {
            free_strings(list, i);
            return DD_PROFILE_NO_MEMORY;
        }
        i++;
    }
    *out = list;
    *count = n;
    return DD_PROFILE_OK;
}

static bool cidr_text_ok(const char *s)
{
    size_t n = strlen(s);
    size_t i;

    if (n < 2 || n > 43) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == ':' || c == '.' || c == '/')) {
            return false;
        }
    }
    return true;
}

dd_profile_status_t dd_profile_metric_value_parse_cjson(const cJSON *obj, dd_metric_value_t *out,
                                                        dd_profile_error_t *err)
{
    dd_profile_status_t st = DD_PROFILE_OK;
    const cJSON *m;
    size_t i;

    if (obj == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj)) {
        set_err(err, "value must be an object");
        return DD_PROFILE_INVALID;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "count");
    if (m != NULL && !cJSON_IsNull(m)) {
        if (!json_int(m, &out->count) || out->count < 0) {
            set_err(err, "value.count must be an integer >= 0");
            st = DD_PROFILE_INVALID;
        }
        out->members |= DD_MV_COUNT;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "number");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble)) {
            set_err(err, "value.number must be a number");
            st = DD_PROFILE_INVALID;
        }
        out->number = m->valuedouble;
        out->members |= DD_MV_NUMBER;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "cidrs");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        out->members |= DD_MV_CIDRS;
        st = parse_string_array(m, &out->cidrs, &out->cidr_count, "value.cidrs", err);
        if (st == DD_PROFILE_OK) {
            out->cidr_parsed = calloc(out->cidr_count > 0 ? out->cidr_count : 1, sizeof(dd_cidr_t));
            if (out->cidr_parsed == NULL) {
                st = DD_PROFILE_NO_MEMORY;
            }
        }
        for (i = 0; st == DD_PROFILE_OK && i < out->cidr_count; i++) {
            if (!cidr_text_ok(out->cidrs[i]) || dd_cidr_parse(out->cidrs[i], strlen(out->cidrs[i]),
                                                              &out->cidr_parsed[i]) != DD_IP_OK) {
                set_err(err, "value.cidrs: %.60s is not a valid CIDR", out->cidrs[i]);
                st = DD_PROFILE_INVALID;
            }
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "ports");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *it;
        out->members |= DD_MV_PORTS;
        if (!cJSON_IsArray(m)) {
            set_err(err, "value.ports must be a list of integers");
            st = DD_PROFILE_INVALID;
        } else {
            size_t n = (size_t)cJSON_GetArraySize(m);
            out->ports = calloc(n > 0 ? n : 1, sizeof(uint16_t));
            if (out->ports == NULL) {
                st = DD_PROFILE_NO_MEMORY;
            }
            cJSON_ArrayForEach (it, m) {
                int64_t p;
                if (st != DD_PROFILE_OK) {
                    break;
                }
                if (!json_int(it, &p) || p < 0 || p > 65535) {
                    set_err(err, "value.ports must hold integers from 0 to 65535");
                    st = DD_PROFILE_INVALID;
                    break;
                }
                out->ports[out->port_count++] = (uint16_t)p;
            }
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "numbers");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *it;
        out->members |= DD_MV_NUMBERS;
        if (!cJSON_IsArray(m)) {
            set_err(err, "value.numbers must be a list of numbers");
            st = DD_PROFILE_INVALID;
        } else {
            size_t n = (size_t)cJSON_GetArraySize(m);
            out->numbers = calloc(n > 0 ? n : 1, sizeof(double));
            if (out->numbers == NULL) {
                st = DD_PROFILE_NO_MEMORY;
            }
            cJSON_ArrayForEach (it, m) {
                if (st != DD_PROFILE_OK) {
                    break;
                }
                if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
                    set_err(err, "value.numbers must be a list of numbers");
                    st = DD_PROFILE_INVALID;
                    break;
                }
                out->numbers[out->number_count++] = it->valuedouble;
            }
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "strings");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        out->members |= DD_MV_STRINGS;
        st = parse_string_array(m, &out->strings, &out->string_count, "value.strings", err);
    }
    if (st != DD_PROFILE_OK) {
        dd_profile_metric_value_free(out);
    }
    return st;
}

static dd_profile_status_t parse_dimension(const cJSON *obj, char *name, bool *has_op,
                                           dd_dim_op_t *op, const char *who,
                                           dd_profile_error_t *err)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, "dimensionName");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, "operator");

    if (!cJSON_IsObject(obj) || !cJSON_IsString(n) ||
        !copy_name(name, DD_PROFILE_NAME_MAX + 1, n->valuestring)) {
        set_err(err,
                "%s is malformed. metricDimension.dimensionName must be a string of 1 to 128 "
                "characters",
                who);
        return DD_PROFILE_INVALID;
    }
    *has_op = false;
    *op = DD_DIM_IN;
    if (o != NULL && !cJSON_IsNull(o)) {
        if (cJSON_IsString(o) && strcmp(o->valuestring, "IN") == 0) {
            *op = DD_DIM_IN;
        } else if (cJSON_IsString(o) && strcmp(o->valuestring, "NOT_IN") == 0) {
            *op = DD_DIM_NOT_IN;
        } else {
            set_err(err, "%s is malformed. metricDimension.operator must be IN or NOT_IN", who);
            return DD_PROFILE_INVALID;
        }
        *has_op = true;
    }
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_bool(const cJSON *obj, const char *key, bool *has, bool *val,
                                      const char *who, dd_profile_error_t *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

    *has = false;
    if (m == NULL || cJSON_IsNull(m)) {
        return DD_PROFILE_OK;
    }
    if (!cJSON_IsBool(m)) {
        set_err(err, "%s is malformed. %s must be a boolean", who, key);
        return DD_PROFILE_INVALID;
    }
    *has = true;
    *val = cJSON_IsTrue(m);
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_int_member(const cJSON *obj, const char *key, bool *has,
                                            int64_t *val, const char *who, dd_profile_error_t *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

    *has = false;
    if (m == NULL || cJSON_IsNull(m)) {
        return DD_PROFILE_OK;
    }
    if (!json_int(m, val)) {
        set_err(err, "%s is malformed. %s must be an integer", who, key);
        return DD_PROFILE_INVALID;
    }
    *has = true;
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_criteria(const cJSON *obj, dd_behavior_criteria_t *c,
                                          const char *who, dd_profile_error_t *err)
{
    dd_profile_status_t st = DD_PROFILE_OK;
    const cJSON *m;

    if (!cJSON_IsObject(obj)) {
        set_err(err, "%s is malformed. criteria must be an object", who);
        return DD_PROFILE_INVALID;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "comparisonOperator");
    if (m != NULL && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m) || dd_metric_op_parse(m->valuestring, &c->op) != DD_METRIC_OK) {
            set_err(err, "%s is malformed. comparisonOperator %.40s is not valid", who,
                    cJSON_IsString(m) ? m->valuestring : "(not a string)");
            return DD_PROFILE_INVALID;
        }
        c->has_operator = true;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "value");
    if (m != NULL && !cJSON_IsNull(m)) {
        dd_profile_error_t sub;
        st = dd_profile_metric_value_parse_cjson(m, &c->value, &sub);
        if (st != DD_PROFILE_OK) {
            set_err(err, "%s is malformed. %s", who, sub.message);
            return st;
        }
        c->has_value = true;
    }
    st = parse_int_member(obj, "durationSeconds", &c->has_duration, &c->duration_s, who, err);
    if (st == DD_PROFILE_OK) {
        st = parse_int_member(obj, "consecutiveDatapointsToAlarm", &c->has_to_alarm, &c->to_alarm,
                              who, err);
    }
    if (st == DD_PROFILE_OK) {
        st = parse_int_member(obj, "consecutiveDatapointsToClear", &c->has_to_clear, &c->to_clear,
                              who, err);
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "statisticalThreshold");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "statistic");
        if (!cJSON_IsObject(m) || !cJSON_IsString(s) ||
            !statistic_parse(s->valuestring, &c->statistic)) {
            set_err(err,
                    "%s is malformed. statisticalThreshold.statistic must be one of p0, p0.1, "
                    "p0.01, p1, p10, p50, p90, p99, p99.9, p99.99, p100",
                    who);
            st = DD_PROFILE_INVALID;
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "mlDetectionConfig");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "confidenceLevel");
        if (!cJSON_IsObject(m) || !cJSON_IsString(s) || !ml_parse(s->valuestring, &c->ml)) {
            set_err(err,
                    "%s is malformed. mlDetectionConfig.confidenceLevel must be LOW, MEDIUM "
                    "or HIGH",
                    who);
            st = DD_PROFILE_INVALID;
        }
    }
    return st;
}

dd_profile_status_t dd_profile_behavior_parse_cjson(const cJSON *obj, dd_behavior_t *out,
                                                    dd_profile_error_t *err)
{
    dd_profile_status_t st = DD_PROFILE_OK;
    const cJSON *m;
    char who[160];

    if (obj == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj)) {
        set_err(err, "Behavior is malformed. A behavior must be an object");
        return DD_PROFILE_INVALID;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsString(m) || !copy_name(out->name, sizeof(out->name), m->valuestring)) {
        set_err(err, "Behavior is malformed. name must be a string of 1 to 128 characters");
        return DD_PROFILE_INVALID;
    }
    (void)snprintf(who, sizeof(who), "Behavior %s", out->name);
    m = cJSON_GetObjectItemCaseSensitive(obj, "metric");
    if (m != NULL && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m) || !copy_name(out->metric, sizeof(out->metric), m->valuestring)) {
            set_err(err, "%s is malformed. metric must be a string of 1 to 128 characters", who);
            st = DD_PROFILE_INVALID;
        }
        out->has_metric = true;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "metricDimension");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        st = parse_dimension(m, out->dimension, &out->has_dimension_op, &out->dimension_op, who,
                             err);
        out->has_dimension = true;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "criteria");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        st = parse_criteria(m, &out->criteria, who, err);
        out->has_criteria = true;
    }
    if (st == DD_PROFILE_OK) {
        st = parse_bool(obj, "suppressAlerts", &out->has_suppress_alerts, &out->suppress_alerts,
                        who, err);
    }
    if (st == DD_PROFILE_OK) {
        st =
            parse_bool(obj, "exportMetric", &out->has_export_metric, &out->export_metric, who, err);
    }
    if (st != DD_PROFILE_OK) {
        dd_profile_behavior_free(out);
    }
    return st;
}

static dd_profile_status_t parse_behaviors(const cJSON *arr, dd_behavior_t **out, size_t *count,
                                           dd_profile_error_t *err)
{
    size_t n;
    size_t i = 0;
    const cJSON *it;
    dd_behavior_t *list;

    if (!cJSON_IsArray(arr)) {
        set_err(err, "behaviors must be a list");
        return DD_PROFILE_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    list = calloc(n > 0 ? n : 1, sizeof(*list));
    if (list == NULL) {
        return DD_PROFILE_NO_MEMORY;
    }
    cJSON_ArrayForEach (it, arr) {
        dd_profile_status_t st = dd_profile_behavior_parse_cjson(it, &list[i], err);
        if (st != DD_PROFILE_OK) {
            while (i > 0) {
                dd_profile_behavior_free(&list[--i]);
            }
            free(list);
            return st;
        }
        i++;
    }
    *out = list;
    *count = n;
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_retain_v2(const cJSON *arr, dd_profile_t *p,
                                           dd_profile_error_t *err)
{
    size_t n;
    size_t i = 0;
    const cJSON *it;

    if (!cJSON_IsArray(arr)) {
        set_err(err, "additionalMetricsToRetainV2 must be a list");
        return DD_PROFILE_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    p->retain = calloc(n > 0 ? n : 1, sizeof(*p->retain));
    if (p->retain == NULL) {
        return DD_PROFILE_NO_MEMORY;
    }
    cJSON_ArrayForEach (it, arr) {
        dd_metric_to_retain_t *r = &p->retain[i];
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metric");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "metricDimension");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "exportMetric");

        if (!cJSON_IsObject(it) || !cJSON_IsString(m) ||
            !copy_name(r->metric, sizeof(r->metric), m->valuestring) || r->metric[0] == '\0') {
            set_err(err,
                    "additionalMetricsToRetainV2: metric must be a string of 1 to 128 characters");
            return DD_PROFILE_INVALID;
        }
        if (d != NULL && !cJSON_IsNull(d)) {
            if (parse_dimension(d, r->dimension, &r->has_dimension_op, &r->dimension_op,
                                "additionalMetricsToRetainV2", err) != DD_PROFILE_OK) {
                return DD_PROFILE_INVALID;
            }
            r->has_dimension = true;
        }
        if (e != NULL && !cJSON_IsNull(e)) {
            if (!cJSON_IsBool(e)) {
                set_err(err, "additionalMetricsToRetainV2: exportMetric must be a boolean");
                return DD_PROFILE_INVALID;
            }
            r->has_export_metric = true;
            r->export_metric = cJSON_IsTrue(e);
        }
        i++;
        p->retain_count = i;
    }
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_targets(const cJSON *arr, dd_profile_t *p, dd_profile_error_t *err)
{
    size_t n;
    const cJSON *it;

    if (!cJSON_IsArray(arr)) {
        set_err(err, "targets must be a list of ARNs");
        return DD_PROFILE_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    p->targets = calloc(n > 0 ? n : 1, sizeof(char *));
    if (p->targets == NULL) {
        return DD_PROFILE_NO_MEMORY;
    }
    cJSON_ArrayForEach (it, arr) {
        const cJSON *s = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "arn") : it;
        if (!cJSON_IsString(s)) {
            set_err(err, "targets must be a list of ARNs");
            return DD_PROFILE_INVALID;
        }
        p->targets[p->target_count] = dup_str(s->valuestring);
        if (p->targets[p->target_count] == NULL) {
            return DD_PROFILE_NO_MEMORY;
        }
        p->target_count++;
    }
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_time(const cJSON *obj, const char *key, int64_t *out_ms,
                                      dd_profile_error_t *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (m == NULL || cJSON_IsNull(m)) {
        return DD_PROFILE_OK;
    }
    if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble) || m->valuedouble < 0) {
        set_err(err, "%s must be a number of epoch seconds", key);
        return DD_PROFILE_INVALID;
    }
    *out_ms = (int64_t)llround(m->valuedouble * 1000.0);
    return DD_PROFILE_OK;
}

static dd_profile_status_t parse_profile(const cJSON *obj, const char *name, dd_profile_t *p,
                                         dd_profile_error_t *err)
{
    dd_profile_status_t st = DD_PROFILE_OK;
    const cJSON *m;

    if (!cJSON_IsObject(obj)) {
        set_err(err, "The request body must be a JSON object");
        return DD_PROFILE_NOT_JSON;
    }
    if (name == NULL) {
        m = cJSON_GetObjectItemCaseSensitive(obj, "securityProfileName");
        name = cJSON_IsString(m) ? m->valuestring : "";
    }
    if (!copy_name(p->name, sizeof(p->name), name)) {
        set_err(err, "securityProfileName must be 1 to 128 characters");
        return DD_PROFILE_INVALID;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "securityProfileDescription");
    if (m != NULL && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m)) {
            set_err(err, "securityProfileDescription must be a string");
            return DD_PROFILE_INVALID;
        }
        p->description = dup_str(m->valuestring);
        if (p->description == NULL) {
            return DD_PROFILE_NO_MEMORY;
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "behaviors");
    if (m != NULL && !cJSON_IsNull(m)) {
        st = parse_behaviors(m, &p->behaviors, &p->behavior_count, err);
        p->has_behaviors = st == DD_PROFILE_OK;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "alertTargets");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *k;
        if (!cJSON_IsObject(m)) {
            set_err(err, "alertTargets must be an object");
            return DD_PROFILE_INVALID;
        }
        cJSON_ArrayForEach (k, m) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(k, "alertTargetArn");
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(k, "roleArn");
            if (strcmp(k->string, "SNS") != 0) {
                set_err(
                    err,
                    "alertTargets: %.40s is not a valid alert target type; only SNS is supported",
                    k->string);
                return DD_PROFILE_INVALID;
            }
            if (!cJSON_IsString(a) || !cJSON_IsString(r)) {
                set_err(err, "alertTargets.SNS needs alertTargetArn and roleArn strings");
                return DD_PROFILE_INVALID;
            }
            free(p->sns_target_arn);
            free(p->sns_role_arn);
            p->sns_target_arn = dup_str(a->valuestring);
            p->sns_role_arn = dup_str(r->valuestring);
            if (p->sns_target_arn == NULL || p->sns_role_arn == NULL) {
                return DD_PROFILE_NO_MEMORY;
            }
            p->has_alert_target = true;
        }
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "additionalMetricsToRetain");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        st = parse_string_array(m, &p->retain_v1, &p->retain_v1_count, "additionalMetricsToRetain",
                                err);
        p->has_retain_v1 = st == DD_PROFILE_OK;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "additionalMetricsToRetainV2");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        st = parse_retain_v2(m, p, err);
        p->has_retain_v2 = true;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "metricsExportConfig");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "mqttTopic");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "roleArn");
        if (!cJSON_IsString(t) || !cJSON_IsString(r)) {
            set_err(err, "metricsExportConfig needs mqttTopic and roleArn strings");
            return DD_PROFILE_INVALID;
        }
        p->export_topic = dup_str(t->valuestring);
        p->export_role_arn = dup_str(r->valuestring);
        if (p->export_topic == NULL || p->export_role_arn == NULL) {
            return DD_PROFILE_NO_MEMORY;
        }
        p->has_export_config = true;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "version");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m) && !json_int(m, &p->version)) {
        set_err(err, "version must be an integer");
        st = DD_PROFILE_INVALID;
    }
    if (st == DD_PROFILE_OK) {
        st = parse_time(obj, "creationDate", &p->creation_ms, err);
    }
    if (st == DD_PROFILE_OK) {
        st = parse_time(obj, "lastModifiedDate", &p->modified_ms, err);
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "targets");
    if (st == DD_PROFILE_OK && m != NULL && !cJSON_IsNull(m)) {
        st = parse_targets(m, p, err);
    }
    return st;
}

dd_profile_status_t dd_profile_parse_cjson(const cJSON *obj, const char *name, dd_profile_t *out,
                                           dd_profile_error_t *err)
{
    dd_profile_status_t st;

    if (obj == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    st = parse_profile(obj, name, out, err);
    if (st != DD_PROFILE_OK) {
        dd_profile_free(out);
    }
    return st;
}

dd_profile_status_t dd_profile_parse(const char *body, size_t len, const char *name,
                                     dd_profile_t *out, dd_profile_error_t *err)
{
    cJSON *root = NULL;
    dd_json_error_t jerr;
    dd_profile_status_t st;

    if (body == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (dd_json_parse(body, len, 0, &root, &jerr) != DD_JSON_OK) {
        set_err(err, "The request body is not valid JSON: %s", jerr.message);
        return DD_PROFILE_NOT_JSON;
    }
    st = dd_profile_parse_cjson(root, name, out, err);
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------------ validate */

/* Resolves a behavior's metric to its catalogue entry. */
static bool resolve_metric(const char *metric, const dd_metric_defs_t *defs,
                           const dd_metric_info_t **info, bool *custom, bool *unknown_custom)
{
    *custom = false;
    *unknown_custom = false;
    if (strncmp(metric, "aws:", 4) == 0) {
        return dd_metric_find(metric, info) == DD_METRIC_OK;
    }
    *custom = true;
    if (!dd_name_valid(DD_NAME_CUSTOM_METRIC, metric)) {
        return false;
    }
    if (defs != NULL) {
        const dd_custom_metric_def_t *def = dd_metric_defs_find_custom(defs, metric);
        if (def == NULL) {
            *unknown_custom = true;
            return false;
        }
        *info = dd_metric_custom_info(def->type);
        return true;
    }
    *info = NULL; /* type unknown without definitions */
    return true;
}

static unsigned value_bit(dd_value_kind_t kind)
{
    switch (kind) {
    case DD_VALUE_COUNT: return DD_MV_COUNT;
    case DD_VALUE_NUMBER: return DD_MV_NUMBER;
    case DD_VALUE_CIDRS: return DD_MV_CIDRS;
    case DD_VALUE_PORTS: return DD_MV_PORTS;
    case DD_VALUE_NUMBERS: return DD_MV_NUMBERS;
    case DD_VALUE_STRINGS: return DD_MV_STRINGS;
    case DD_VALUE_NONE: break;
    }
    return 0;
}

/* Operator family -> value member, for custom metrics of unknown type. */
static dd_value_kind_t op_value_kind(dd_op_t op)
{
    if (DD_OP_BIT(op) & DD_OPS_CIDR) {
        return DD_VALUE_CIDRS;
    }
    if (DD_OP_BIT(op) & DD_OPS_PORT) {
        return DD_VALUE_PORTS;
    }
    return DD_VALUE_NONE;
}

#define BAD(...)                                                        \
    do {                                                                \
        char reason_[DD_PROFILE_MESSAGE_MAX - 160];                     \
        (void)snprintf(reason_, sizeof(reason_), __VA_ARGS__);          \
        set_err(err, "Behavior %s is malformed. %s", b->name, reason_); \
        return false;                                                   \
    } while (0)

/* One behavior against §3.4. Returns false with the message in @p err. */
static bool validate_behavior(const dd_behavior_t *b, const dd_metric_defs_t *defs,
                              dd_profile_error_t *err)
{
    const dd_behavior_criteria_t *c = &b->criteria;
    const dd_metric_info_t *info = NULL;
    bool custom = false;
    bool unknown_custom = false;

    if (!dd_name_valid(DD_NAME_BEHAVIOR, b->name)) {
        BAD("Behavior name must match [a-zA-Z0-9:_-]+ and be 1 to 128 characters");
    }
    if (!b->has_metric || b->metric[0] == '\0') {
        BAD("metric is required");
    }
    if (!resolve_metric(b->metric, defs, &info, &custom, &unknown_custom)) {
        if (unknown_custom) {
            BAD("Custom metric %s does not exist", b->metric);
        }
        BAD("%s is not a valid metric", b->metric);
    }
    if (b->has_dimension) {
        if (custom) {
            BAD("metricDimension cannot be used with custom metrics");
        }
        if (!dd_name_valid(DD_NAME_DIMENSION, b->dimension)) {
            BAD("metricDimension.dimensionName %s is not a valid dimension name", b->dimension);
        }
        if (defs != NULL && dd_metric_defs_find_dimension(defs, b->dimension) == NULL) {
            BAD("Dimension %s does not exist", b->dimension);
        }
        if (info != NULL && !info->dimension) {
            BAD("metricDimension cannot be used with metric %s", b->metric);
        }
        if (info != NULL && c->ml != DD_ML_NONE && !info->dimension_ml) {
            BAD("metricDimension cannot be used with mlDetectionConfig for metric %s", b->metric);
        }
    }
    if (!b->has_criteria) {
        BAD("criteria is required");
    }
    if (c->has_to_alarm && (c->to_alarm < 1 || c->to_alarm > 10)) {
        BAD("consecutiveDatapointsToAlarm %lld should be in range[1,10]", (long long)c->to_alarm);
    }
    if (c->has_to_clear && (c->to_clear < 1 || c->to_clear > 10)) {
        BAD("consecutiveDatapointsToClear %lld should be in range[1,10]", (long long)c->to_clear);
    }
    if (c->ml != DD_ML_NONE) {
        if (info != NULL && !info->ml) {
            BAD("mlDetectionConfig is not supported for metric %s", b->metric);
        }
        if (c->has_operator || c->has_value || c->statistic != DD_STAT_NONE || c->has_duration) {
            BAD("mlDetectionConfig cannot be combined with comparisonOperator, value, "
                "statisticalThreshold or durationSeconds");
        }
        return true;
    }
    if (!c->has_operator) {
        BAD("comparisonOperator is required");
    }
    if (c->has_value && c->statistic != DD_STAT_NONE) {
        BAD("value and statisticalThreshold cannot be used together");
    }
    if (!c->has_value && c->statistic == DD_STAT_NONE) {
        BAD("value or statisticalThreshold is required");
    }
    if (info != NULL && (info->ops & DD_OP_BIT(c->op)) == 0) {
        BAD("comparisonOperator %s is not valid for metric %s", dd_metric_op_name(c->op),
            b->metric);
    }
    if (info == NULL && custom) {
        /* Custom metric of unknown type (no definitions): check consistency only. */
        dd_value_kind_t want = op_value_kind(c->op);
        if ((DD_OP_BIT(c->op) & DD_OPS_PORT) != 0) {
            BAD("comparisonOperator %s is not valid for custom metrics", dd_metric_op_name(c->op));
        }
        if (c->has_value && want != DD_VALUE_NONE && c->value.members != value_bit(want)) {
            BAD("value must contain only the member %s", dd_metric_value_member(want));
        }
        if (c->has_value &&
            (c->value.members == 0 || (c->value.members & (c->value.members - 1)) != 0)) {
            BAD("value must contain exactly one member");
        }
    }
    if (info != NULL && c->has_value && c->value.members != value_bit(info->value)) {
        BAD("value must contain only the member %s for metric %s",
            dd_metric_value_member(info->value), b->metric);
    }
    if (c->statistic != DD_STAT_NONE) {
        if (info != NULL && !info->statistics) {
            BAD("statisticalThreshold cannot be used with metric %s", b->metric);
        }
        if (info == NULL && (DD_OP_BIT(c->op) & DD_OPS_NUMERIC) == 0) {
            BAD("statisticalThreshold can only be used with numeric metrics");
        }
        if (!c->has_duration) {
            BAD("durationSeconds is required with statisticalThreshold");
        }
    }
    if (c->has_duration) {
        if (info != NULL && !info->duration_allowed) {
            BAD("durationSeconds cannot be used with metric %s", b->metric);
        }
        if (info == NULL && (DD_OP_BIT(c->op) & DD_OPS_NUMERIC) == 0) {
            BAD("durationSeconds cannot be used with list-based metrics");
        }
        if (!dd_metric_duration_valid(c->duration_s)) {
            BAD("durationSeconds %lld is not valid; allowed values are 300, 600, 900, 1800 "
                "and 3600",
                (long long)c->duration_s);
        }
    } else if (info != NULL && info->duration_required) {
        BAD("durationSeconds is required for metric %s", b->metric);
    }
    return true;
}

#undef BAD

static size_t value_elements(const dd_metric_value_t *v)
{
    return v->cidr_count + v->port_count + v->number_count + v->string_count;
}

dd_profile_status_t dd_profile_validate_behaviors(const dd_behavior_t *behaviors, size_t count,
                                                  const dd_metric_defs_t *defs,
                                                  dd_profile_errors_t *errs)
{
    size_t i;
    size_t j;

    if (errs == NULL || (behaviors == NULL && count > 0)) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(errs, 0, sizeof(*errs));
    for (i = 0; i < count; i++) {
        dd_profile_error_t e;
        bool ok = validate_behavior(&behaviors[i], defs, &e);
        for (j = 0; ok && j < i; j++) {
            if (strcmp(behaviors[j].name, behaviors[i].name) == 0) {
                set_err(&e,
                        "Behavior %s is malformed. Behavior names must be unique within a "
                        "security profile",
                        behaviors[i].name);
                ok = false;
            }
        }
        if (!ok) {
            if (errs->count < sizeof(errs->messages) / sizeof(errs->messages[0])) {
                memcpy(errs->messages[errs->count], e.message, sizeof(e.message));
            }
            errs->count++;
        }
    }
    return errs->count == 0 ? DD_PROFILE_OK : DD_PROFILE_INVALID;
}

dd_profile_status_t dd_profile_validate_behaviors_json(const char *body, size_t len,
                                                       const dd_metric_defs_t *defs,
                                                       dd_profile_errors_t *errs)
{
    cJSON *root = NULL;
    const cJSON *arr;
    dd_behavior_t *list = NULL;
    size_t count = 0;
    size_t i;
    dd_profile_error_t e;
    dd_profile_status_t st;

    if (body == NULL || errs == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(errs, 0, sizeof(*errs));
    (void)dd_json_parse(body, len, 0, &root, NULL);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        (void)snprintf(errs->messages[0], sizeof(errs->messages[0]),
                       "The request body is not a JSON object");
        errs->count = 1;
        return DD_PROFILE_NOT_JSON;
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "behaviors");
    if (arr == NULL) {
        set_err(&e, "behaviors is required");
        st = DD_PROFILE_INVALID;
    } else {
        st = parse_behaviors(arr, &list, &count, &e);
    }
    cJSON_Delete(root);
    if (st == DD_PROFILE_INVALID) {
        memcpy(errs->messages[0], e.message, sizeof(e.message));
        errs->count = 1;
        return st;
    }
    if (st != DD_PROFILE_OK) {
        return st;
    }
    st = dd_profile_validate_behaviors(list, count, defs, errs);
    for (i = 0; i < count; i++) {
        dd_profile_behavior_free(&list[i]);
    }
    free(list);
    return st;
}

/* @p field names the list in messages: additionalMetricsToRetain or ...V2. */
static bool retain_valid(const dd_metric_to_retain_t *r, const char *field,
                         const dd_metric_defs_t *defs, dd_profile_error_t *err)
{
    const dd_metric_info_t *info = NULL;
    bool custom;
    bool unknown;

    if (!resolve_metric(r->metric, defs, &info, &custom, &unknown)) {
        if (unknown) {
            set_err(err, "Custom metric %s does not exist", r->metric);
        } else {
            set_err(err, "%s: %s is not a valid metric", field, r->metric);
        }
        return false;
    }
    if (r->has_dimension) {
        if (custom || (info != NULL && !info->dimension)) {
            set_err(err, "%s: metricDimension cannot be used with metric %s", field, r->metric);
            return false;
        }
        if (defs != NULL && dd_metric_defs_find_dimension(defs, r->dimension) == NULL) {
            set_err(err, "Dimension %s does not exist", r->dimension);
            return false;
        }
    }
    return true;
}

/* arn:aws:sns:REGION:ACCOUNT:NAME */
static bool sns_arn_valid(const char *arn)
{
    const char *p;
    int colons = 0;

    if (strncmp(arn, "arn:aws:sns:", 12) != 0) {
        return false;
    }
    for (p = arn + 12; *p != '\0'; p++) {
        if (*p == ':') {
            colons++;
        }
    }
    p = strrchr(arn, ':');
    return colons == 2 && dd_name_valid(DD_NAME_SNS_TOPIC, p + 1);
}

dd_profile_status_t dd_profile_validate(const dd_profile_t *profile, const dd_metric_defs_t *defs,
                                        const dd_arn_ctx_t *arn, dd_profile_error_t *err)
{
    dd_profile_errors_t *errs;
    dd_arn_ctx_t def_arn;
    size_t i;
    size_t elements = 0;
    dd_profile_status_t st;

    if (profile == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    if (arn == NULL) {
        dd_arn_ctx_default(&def_arn);
        arn = &def_arn;
    }
    if (!dd_name_valid(DD_NAME_SECURITY_PROFILE, profile->name)) {
        set_err(err,
                "securityProfileName %.128s must match [a-zA-Z0-9:_-]+ and be 1 to 128 "
                "characters",
                profile->name);
        return DD_PROFILE_INVALID;
    }
    if (profile->description != NULL &&
        (strlen(profile->description) > DD_PROFILE_DESCRIPTION_MAX ||
         !printable_text(profile->description))) {
        set_err(err, "securityProfileDescription must be at most 1000 printable characters");
        return DD_PROFILE_INVALID;
    }
    if (profile->behavior_count > DD_PROFILE_MAX_BEHAVIORS) {
        set_err(err, "A security profile can have at most %d behaviors; %zu were given",
                DD_PROFILE_MAX_BEHAVIORS, profile->behavior_count);
        return DD_PROFILE_INVALID;
    }
    errs = malloc(sizeof(*errs));
    if (errs == NULL) {
        return DD_PROFILE_NO_MEMORY;
    }
    st = dd_profile_validate_behaviors(profile->behaviors, profile->behavior_count, defs, errs);
    if (st != DD_PROFILE_OK) {
        if (err != NULL) {
            memcpy(err->message, errs->messages[0], sizeof(err->message));
        }
        free(errs);
        return st;
    }
    free(errs);
    for (i = 0; i < profile->behavior_count; i++) {
        elements += value_elements(&profile->behaviors[i].criteria.value);
    }
    if (elements > DD_PROFILE_MAX_VALUE_ELEMENTS) {
        set_err(err,
                "A security profile can have at most %d value elements (cidrs, ports, "
                "numbers, strings); %zu were given",
                DD_PROFILE_MAX_VALUE_ELEMENTS, elements);
        return DD_PROFILE_INVALID;
    }
    if (profile->has_alert_target) {
        size_t rl = strlen(profile->sns_role_arn);
        if (!sns_arn_valid(profile->sns_target_arn)) {
            set_err(err, "alertTargets.SNS.alertTargetArn %.200s is not an SNS topic ARN",
                    profile->sns_target_arn);
            return DD_PROFILE_INVALID;
        }
        if (rl < 20 || rl > 2048) {
            set_err(err, "alertTargets.SNS.roleArn must be 20 to 2048 characters");
            return DD_PROFILE_INVALID;
        }
    }
    for (i = 0; i < profile->retain_v1_count; i++) {
        dd_metric_to_retain_t r;
        memset(&r, 0, sizeof(r));
        if (!copy_name(r.metric, sizeof(r.metric), profile->retain_v1[i]) ||
            !retain_valid(&r, "additionalMetricsToRetain", defs, err)) {
            if (r.metric[0] == '\0') {
                set_err(err, "additionalMetricsToRetain: metric name too long");
            }
            return DD_PROFILE_INVALID;
        }
    }
    for (i = 0; i < profile->retain_count; i++) {
        if (!retain_valid(&profile->retain[i], "additionalMetricsToRetainV2", defs, err)) {
            return DD_PROFILE_INVALID;
        }
    }
    if (profile->has_export_config) {
        size_t tl = strlen(profile->export_topic);
        size_t rl = strlen(profile->export_role_arn);
        if (tl < 1 || tl > 512 || rl < 20 || rl > 2048) {
            set_err(err, "metricsExportConfig: mqttTopic must be 1 to 512 characters and roleArn "
                         "20 to 2048 characters");
            return DD_PROFILE_INVALID;
        }
    }
    for (i = 0; i < profile->target_count; i++) {
        dd_arn_target_t kind;
        char group[DD_NAME_MAX + 1];
        if (dd_arn_parse_target(arn, profile->targets[i], &kind, group, sizeof(group)) !=
            DD_NAMES_OK) {
            set_err(err, "%.300s is not a valid security profile target", profile->targets[i]);
            return DD_PROFILE_INVALID;
        }
    }
    return DD_PROFILE_OK;
}

/* ------------------------------------------------------------------ copy */

static bool copy_strings(char **src, size_t n, char ***dst)
{
    size_t i;

    *dst = NULL;
    if (src == NULL) {
        return true;
    }
    *dst = calloc(n > 0 ? n : 1, sizeof(char *));
    if (*dst == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        (*dst)[i] = dup_str(src[i]);
        if ((*dst)[i] == NULL) {
            return false;
        }
    }
    return true;
}

static bool copy_mem(const void *src, size_t n, size_t size, void **dst)
{
    *dst = NULL;
    if (src == NULL) {
        return true;
    }
    *dst = malloc(n > 0 ? n * size : 1);
    if (*dst == NULL) {
        return false;
    }
    memcpy(*dst, src, n * size);
    return true;
}

dd_profile_status_t dd_profile_metric_value_copy(const dd_metric_value_t *src,
                                                 dd_metric_value_t *out)
{
    bool ok;

    if (src == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    *out = *src;
    out->cidrs = NULL;
    out->strings = NULL;
    ok = copy_strings(src->cidrs, src->cidr_count, &out->cidrs) &&
         copy_mem(src->cidr_parsed, src->cidr_count, sizeof(dd_cidr_t),
                  (void **)&out->cidr_parsed) &&
         copy_mem(src->ports, src->port_count, sizeof(uint16_t), (void **)&out->ports) &&
         copy_mem(src->numbers, src->number_count, sizeof(double), (void **)&out->numbers) &&
         copy_strings(src->strings, src->string_count, &out->strings);
    if (!ok) {
        dd_profile_metric_value_free(out);
        return DD_PROFILE_NO_MEMORY;
    }
    return DD_PROFILE_OK;
}

dd_profile_status_t dd_profile_behavior_copy(const dd_behavior_t *src, dd_behavior_t *out)
{
    if (src == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    *out = *src;
    return dd_profile_metric_value_copy(&src->criteria.value, &out->criteria.value);
}

dd_profile_status_t dd_profile_copy(const dd_profile_t *src, dd_profile_t *out)
{
    size_t i;
    bool ok = true;

    if (src == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->name, src->name, sizeof(out->name));
    out->has_behaviors = src->has_behaviors;
    out->has_alert_target = src->has_alert_target;
    out->has_retain_v1 = src->has_retain_v1;
    out->has_retain_v2 = src->has_retain_v2;
    out->has_export_config = src->has_export_config;
    out->version = src->version;
    out->creation_ms = src->creation_ms;
    out->modified_ms = src->modified_ms;
    if (src->description != NULL) {
        out->description = dup_str(src->description);
        ok = out->description != NULL;
    }
    if (ok && src->behavior_count > 0) {
        out->behaviors = calloc(src->behavior_count, sizeof(dd_behavior_t));
        ok = out->behaviors != NULL;
        for (i = 0; ok && i < src->behavior_count; i++) {
            ok = dd_profile_behavior_copy(&src->behaviors[i], &out->behaviors[i]) == DD_PROFILE_OK;
            if (ok) {
                out->behavior_count = i + 1;
            }
        }
    }
    if (ok && src->sns_target_arn != NULL) {
        out->sns_target_arn = dup_str(src->sns_target_arn);
        out->sns_role_arn = dup_str(src->sns_role_arn != NULL ? src->sns_role_arn : "");
        ok = out->sns_target_arn != NULL && out->sns_role_arn != NULL;
    }
    if (ok) {
        ok = copy_strings(src->retain_v1, src->retain_v1_count, &out->retain_v1);
        out->retain_v1_count = out->retain_v1 != NULL ? src->retain_v1_count : 0;
    }
    if (ok) {
        ok = copy_mem(src->retain, src->retain_count, sizeof(dd_metric_to_retain_t),
                      (void **)&out->retain);
        out->retain_count = out->retain != NULL ? src->retain_count : 0;
    }
    if (ok && src->export_topic != NULL) {
        out->export_topic = dup_str(src->export_topic);
        out->export_role_arn = dup_str(src->export_role_arn != NULL ? src->export_role_arn : "");
        ok = out->export_topic != NULL && out->export_role_arn != NULL;
    }
    if (ok) {
        ok = copy_strings(src->targets, src->target_count, &out->targets);
        out->target_count = out->targets != NULL ? src->target_count : 0;
    }
    if (!ok) {
        dd_profile_free(out);
        return DD_PROFILE_NO_MEMORY;
    }
    return DD_PROFILE_OK;
}

bool dd_profile_behavior_equal(const dd_behavior_t *a, const dd_behavior_t *b)
{
    cJSON *ja;
    cJSON *jb;
    bool eq;

    if (a == NULL || b == NULL) {
        return a == b;
    }
    ja = dd_profile_behavior_to_json(a);
    jb = dd_profile_behavior_to_json(b);
    eq = ja != NULL && jb != NULL && cJSON_Compare(ja, jb, true);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return eq;
}

const char *dd_profile_strerror(dd_profile_status_t status)
{
    switch (status) {
    case DD_PROFILE_OK: return "ok";
    case DD_PROFILE_BAD_PARAMETER: return "bad parameter";
    case DD_PROFILE_NO_MEMORY: return "out of memory";
    case DD_PROFILE_NOT_JSON: return "not a JSON object";
    case DD_PROFILE_INVALID: return "invalid security profile";
    }
    return "unknown profile status";
}

/* ------------------------------------------------------------------ update */

dd_profile_status_t dd_profile_parse_update(const char *body, size_t len, const char *name,
                                            dd_profile_t *patch, unsigned *deletes,
                                            dd_profile_error_t *err)
{
    static const struct {
        const char *flag;
        unsigned bit;
        const char *member;
        const char *member2;
    } FLAGS[] = {
        {"deleteBehaviors", DD_PROFILE_DELETE_BEHAVIORS, "behaviors", NULL},
        {"deleteAlertTargets", DD_PROFILE_DELETE_ALERT_TARGETS, "alertTargets", NULL},
        {"deleteAdditionalMetricsToRetain", DD_PROFILE_DELETE_RETAIN, "additionalMetricsToRetain",
         "additionalMetricsToRetainV2"},
        {"deleteMetricsExportConfig", DD_PROFILE_DELETE_EXPORT_CONFIG, "metricsExportConfig", NULL},
    };
    cJSON *root = NULL;
    dd_profile_status_t st = DD_PROFILE_OK;
    size_t i;

    if (body == NULL || patch == NULL || deletes == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(patch, 0, sizeof(*patch));
    *deletes = 0;
    (void)dd_json_parse(body, len, 0, &root, NULL);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_err(err, "The request body is not a JSON object");
        return DD_PROFILE_NOT_JSON;
    }
    for (i = 0; i < sizeof(FLAGS) / sizeof(FLAGS[0]); i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, FLAGS[i].flag);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, FLAGS[i].member);
        const cJSON *m2 = FLAGS[i].member2 != NULL
                              ? cJSON_GetObjectItemCaseSensitive(root, FLAGS[i].member2)
                              : NULL;
        if (f == NULL || cJSON_IsNull(f)) {
            continue;
        }
        if (!cJSON_IsBool(f)) {
            set_err(err, "%s must be a boolean", FLAGS[i].flag);
            st = DD_PROFILE_INVALID;
            break;
        }
        if (cJSON_IsTrue(f)) {
            if ((m != NULL && !cJSON_IsNull(m)) || (m2 != NULL && !cJSON_IsNull(m2))) {
                set_err(err, "%s cannot be true when %s is also given", FLAGS[i].flag,
                        FLAGS[i].member);
                st = DD_PROFILE_INVALID;
                break;
            }
            *deletes |= FLAGS[i].bit;
        }
    }
    if (st == DD_PROFILE_OK) {
        st = dd_profile_parse_cjson(root, name, patch, err);
    }
    cJSON_Delete(root);
    return st;
}

dd_profile_status_t dd_profile_merge_update(const dd_profile_t *current, const dd_profile_t *patch,
                                            unsigned deletes, dd_profile_t *out)
{
    cJSON *cur;
    cJSON *upd;
    cJSON *m;
    dd_profile_status_t st;
    static const char *const KEEP[] = {"securityProfileName"};

    if (current == NULL || patch == NULL || out == NULL) {
        return DD_PROFILE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    cur = dd_profile_to_json(current, NULL, DD_PROFILE_JSON_TARGETS);
    upd = dd_profile_to_json(patch, NULL, 0);
    if (cur == NULL || upd == NULL) {
        cJSON_Delete(cur);
        cJSON_Delete(upd);
        return DD_PROFILE_NO_MEMORY;
    }
    cJSON_ArrayForEach (m, upd) {
        cJSON *copy;
        if (strcmp(m->string, KEEP[0]) == 0) {
            continue;
        }
        copy = cJSON_Duplicate(m, true);
        if (copy == NULL) {
            cJSON_Delete(cur);
            cJSON_Delete(upd);
            return DD_PROFILE_NO_MEMORY;
        }
        if (cJSON_HasObjectItem(cur, m->string)) {
            (void)cJSON_ReplaceItemInObjectCaseSensitive(cur, m->string, copy);
        } else {
            cJSON_AddItemToObject(cur, m->string, copy);
        }
    }
    if (deletes & DD_PROFILE_DELETE_BEHAVIORS) {
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "behaviors");
    }
    if (deletes & DD_PROFILE_DELETE_ALERT_TARGETS) {
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "alertTargets");
    }
    if (deletes & DD_PROFILE_DELETE_RETAIN) {
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "additionalMetricsToRetain");
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "additionalMetricsToRetainV2");
    }
    if (deletes & DD_PROFILE_DELETE_EXPORT_CONFIG) {
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "metricsExportConfig");
    }
    st = dd_profile_parse_cjson(cur, current->name, out, NULL);
    cJSON_Delete(cur);
    cJSON_Delete(upd);
    if (st == DD_PROFILE_OK) {
        out->version = current->version;
        out->creation_ms = current->creation_ms;
        out->modified_ms = current->modified_ms;
    }
    return st == DD_PROFILE_INVALID ? DD_PROFILE_NO_MEMORY : st;
}
