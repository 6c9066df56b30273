#include "dd_criteria.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dd_criteria_free(dd_criteria_t *c)
{
    size_t i;

    if (c == NULL) {
        return;
    }
    free(c->ports);
    free(c->cidrs);
    free(c->numbers);
    for (i = 0; i < c->string_count; i++) {
        free(c->strings[i]);
    }
    free(c->strings);
    memset(c, 0, sizeof(*c));
}

dd_criteria_status_t dd_criteria_compile(dd_op_t op, const dd_metric_value_t *value,
                                         dd_criteria_t *out)
{
    unsigned bit = DD_OP_BIT(op);
    size_t i;

    if (out == NULL) {
        return DD_CRITERIA_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (op <= DD_OP_NONE || op >= DD_OP_COUNT_) {
        return DD_CRITERIA_INVALID;
    }
    out->op = op;
    if (value == NULL) {
        return (bit & DD_OPS_NUMERIC) ? DD_CRITERIA_OK : DD_CRITERIA_INVALID;
    }
    if (bit & DD_OPS_NUMERIC) {
        if (value->members & DD_MV_COUNT) {
            out->threshold_is_count = true;
            out->count = value->count;
            out->number = (double)value->count;
        } else if (value->members & DD_MV_NUMBER) {
            out->number = value->number;
        } else {
            return DD_CRITERIA_INVALID;
        }
    } else if (bit & DD_OPS_PORT) {
        if ((value->members & DD_MV_PORTS) == 0) {
            return DD_CRITERIA_INVALID;
        }
        out->ports = malloc((value->port_count > 0 ? value->port_count : 1) * sizeof(uint16_t));
        if (out->ports == NULL) {
            return DD_CRITERIA_NO_MEMORY;
        }
        memcpy(out->ports, value->ports, value->port_count * sizeof(uint16_t));
        qsort(out->ports, value->port_count, sizeof(uint16_t), cmp_u16);
        for (i = 0; i < value->port_count; i++) {
            if (out->port_count == 0 || out->ports[out->port_count - 1] != out->ports[i]) {
                out->ports[out->port_count++] = out->ports[i];
            }
        }
    } else if (bit & DD_OPS_CIDR) {
        if ((value->members & DD_MV_CIDRS) == 0 || value->cidr_parsed == NULL) {
            return value->cidr_count == 0 && (value->members & DD_MV_CIDRS) ? DD_CRITERIA_OK
                                                                            : DD_CRITERIA_INVALID;
        }
        out->cidrs = malloc((value->cidr_count > 0 ? value->cidr_count : 1) * sizeof(dd_cidr_t));
        if (out->cidrs == NULL) {
            return DD_CRITERIA_NO_MEMORY;
        }
        memcpy(out->cidrs, value->cidr_parsed, value->cidr_count * sizeof(dd_cidr_t));
        out->cidr_count = value->cidr_count;
    } else if (value->members & DD_MV_NUMBERS) {
        out->numbers = malloc((value->number_count > 0 ? value->number_count : 1) * sizeof(double));
        if (out->numbers == NULL) {
            return DD_CRITERIA_NO_MEMORY;
        }
        memcpy(out->numbers, value->numbers, value->number_count * sizeof(double));
        out->number_count = value->number_count;
        qsort(out->numbers, out->number_count, sizeof(double), cmp_double);
    } else if (value->members & DD_MV_STRINGS) {
        out->strings = calloc(value->string_count > 0 ? value->string_count : 1, sizeof(char *));
        if (out->strings == NULL) {
            return DD_CRITERIA_NO_MEMORY;
        }
        for (i = 0; i < value->string_count; i++) {
            size_t n = strlen(value->strings[i]) + 1;
            out->strings[i] = malloc(n);
            if (out->strings[i] == NULL) {
                dd_criteria_free(out);
                return DD_CRITERIA_NO_MEMORY;
            }
            memcpy(out->strings[i], value->strings[i], n);
            out->string_count = i + 1;
        }
        qsort(out->strings, out->string_count, sizeof(char *), cmp_str);
    } else {
        return DD_CRITERIA_INVALID;
    }
    return DD_CRITERIA_OK;
}

bool dd_criteria_compare(dd_op_t op, double value, double threshold)
{
    switch (op) {
    case DD_OP_LESS_THAN: return value < threshold;
    case DD_OP_LESS_THAN_EQUALS: return value <= threshold;
    case DD_OP_GREATER_THAN: return value > threshold;
    case DD_OP_GREATER_THAN_EQUALS: return value >= threshold;
    default: break;
    }
    return false;
}

static bool compare_int(dd_op_t op, int64_t value, int64_t threshold)
{
    switch (op) {
    case DD_OP_LESS_THAN: return value < threshold;
    case DD_OP_LESS_THAN_EQUALS: return value <= threshold;
    case DD_OP_GREATER_THAN: return value > threshold;
    case DD_OP_GREATER_THAN_EQUALS: return value >= threshold;
    default: break;
    }
    return false;
}

uint16_t dd_datapoint_port(const dd_datapoint_t *dp, size_t i)
{
    size_t stride = dp->stride != 0 ? dp->stride : sizeof(uint16_t);
    return *(const uint16_t *)((const char *)dp->items + i * stride);
}

const dd_ip_t *dd_datapoint_ip(const dd_datapoint_t *dp, size_t i)
{
    size_t stride = dp->stride != 0 ? dp->stride : sizeof(dd_ip_t);
    return (const dd_ip_t *)((const char *)dp->items + i * stride);
}

double dd_datapoint_number(const dd_datapoint_t *dp, size_t i)
{
    size_t stride = dp->stride != 0 ? dp->stride : sizeof(double);
    double v;

    /* A stride into the caller's structs need not keep a double aligned. */
    memcpy(&v, (const char *)dp->items + i * stride, sizeof(v));
    return v;
}

const char *dd_datapoint_string(const dd_datapoint_t *dp, size_t i)
{
    size_t stride = dp->stride != 0 ? dp->stride : sizeof(char *);
    return *(const char *const *)((const char *)dp->items + i * stride);
}

static bool port_in(const dd_criteria_t *c, uint16_t port)
{
    return bsearch(&port, c->ports, c->port_count, sizeof(uint16_t), cmp_u16) != NULL;
}

static bool ip_in(const dd_criteria_t *c, const dd_ip_t *ip)
{
    size_t i;

    for (i = 0; i < c->cidr_count; i++) {
        if (dd_cidr_contains(&c->cidrs[i], ip)) {
            return true;
        }
    }
    return false;
}

static bool number_in(const dd_criteria_t *c, double x)
{
    return bsearch(&x, c->numbers, c->number_count, sizeof(double), cmp_double) != NULL;
}

static bool string_in(const dd_criteria_t *c, const char *s)
{
    return bsearch(&s, c->strings, c->string_count, sizeof(char *), cmp_str) != NULL;
}

dd_criteria_status_t dd_criteria_conforms(const dd_criteria_t *c, const dd_datapoint_t *dp,
                                          bool *conforms)
{
    unsigned bit;
    bool want_in;
    size_t i;

    if (c == NULL || dp == NULL || conforms == NULL || (dp->n > 0 && dp->items == NULL)) {
        return DD_CRITERIA_BAD_PARAMETER;
    }
    bit = DD_OP_BIT(c->op);
    if (bit & DD_OPS_NUMERIC) {
        if (dp->kind == DD_VALUE_COUNT) {
            *conforms = c->threshold_is_count
                            ? compare_int(c->op, dp->count, c->count)
                            : dd_criteria_compare(c->op, (double)dp->count, c->number);
            return DD_CRITERIA_OK;
        }
        if (dp->kind == DD_VALUE_NUMBER) {
            *conforms = dd_criteria_compare(c->op, dp->number, c->number);
            return DD_CRITERIA_OK;
        }
        return DD_CRITERIA_KIND_MISMATCH;
    }
    /* Set operators: "in" = every element inside, "not in" = none inside. */
    want_in = c->op == DD_OP_IN_PORT_SET || c->op == DD_OP_IN_CIDR_SET || c->op == DD_OP_IN_SET;
    if ((bit & DD_OPS_PORT) && dp->kind != DD_VALUE_PORTS) {
        return DD_CRITERIA_KIND_MISMATCH;
    }
    if ((bit & DD_OPS_CIDR) && dp->kind != DD_VALUE_CIDRS) {
        return DD_CRITERIA_KIND_MISMATCH;
    }
    if ((bit & DD_OPS_SET) && dp->kind != DD_VALUE_NUMBERS && dp->kind != DD_VALUE_STRINGS) {
        return DD_CRITERIA_KIND_MISMATCH;
    }
    for (i = 0; i < dp->n; i++) {
        bool inside;
        switch (dp->kind) {
        case DD_VALUE_PORTS: inside = port_in(c, dd_datapoint_port(dp, i)); break;
        case DD_VALUE_CIDRS: inside = ip_in(c, dd_datapoint_ip(dp, i)); break;
        case DD_VALUE_NUMBERS: inside = number_in(c, dd_datapoint_number(dp, i)); break;
        default: inside = string_in(c, dd_datapoint_string(dp, i)); break;
        }
        if (inside != want_in) {
            *conforms = false;
            return DD_CRITERIA_OK;
        }
    }
    *conforms = true;
    return DD_CRITERIA_OK;
}

/* ------------------------------------------------------------------ behaviorCriteriaType */

const char *dd_criteria_type_name(dd_criteria_type_t type)
{
    switch (type) {
    case DD_CRITERIA_STATIC: return "STATIC";
    case DD_CRITERIA_STATISTICAL: return "STATISTICAL";
    case DD_CRITERIA_MACHINE_LEARNING: return "MACHINE_LEARNING";
    case DD_CRITERIA_NONE: break;
    }
    return "";
}

dd_criteria_status_t dd_criteria_type_parse(const char *text, dd_criteria_type_t *out)
{
    if (text == NULL || out == NULL) {
        return DD_CRITERIA_BAD_PARAMETER;
    }
    if (strcmp(text, "STATIC") == 0) {
        *out = DD_CRITERIA_STATIC;
    } else if (strcmp(text, "STATISTICAL") == 0) {
        *out = DD_CRITERIA_STATISTICAL;
    } else if (strcmp(text, "MACHINE_LEARNING") == 0) {
        *out = DD_CRITERIA_MACHINE_LEARNING;
    } else {
        return DD_CRITERIA_INVALID;
    }
    return DD_CRITERIA_OK;
}

dd_criteria_type_t dd_criteria_type_of(const dd_behavior_t *behavior)
{
    if (behavior == NULL || !behavior->has_criteria) {
        return DD_CRITERIA_NONE;
    }
    if (behavior->criteria.ml != DD_ML_NONE) {
        return DD_CRITERIA_MACHINE_LEARNING;
    }
    if (behavior->criteria.statistic != DD_STAT_NONE) {
        return DD_CRITERIA_STATISTICAL;
    }
    return DD_CRITERIA_STATIC;
}

const char *dd_criteria_strerror(dd_criteria_status_t status)
{
    switch (status) {
    case DD_CRITERIA_OK: return "ok";
    case DD_CRITERIA_BAD_PARAMETER: return "bad parameter";
    case DD_CRITERIA_NO_MEMORY: return "out of memory";
    case DD_CRITERIA_KIND_MISMATCH: return "datapoint kind does not fit the operator";
    case DD_CRITERIA_INVALID: return "operator and value do not fit";
    }
    return "unknown criteria status";
}
