#include "dd_metric.h"

#include <string.h>

/*
 * The catalogue. Columns: name, id, side, shape, value, operators,
 * duration allowed, duration required, statistics, ML, dimension, dimension+ML.
 * Sources: defender-spec.md §2.1-§2.4. Durations of count metrics on the cloud
 * side are required because a count needs a period; device-side metrics may
 * omit them (datapoint = the current report's value).
 */
static const dd_metric_info_t BUILTINS[DD_METRIC_BUILTIN_COUNT_] = {
    [DD_METRIC_CUSTOM] = {NULL, DD_METRIC_CUSTOM, DD_SIDE_DEVICE, DD_SHAPE_GAUGE, DD_VALUE_NONE, 0,
                          false, false, false, false, false, false},
    [DD_METRIC_MESSAGE_BYTE_SIZE] = {"aws:message-byte-size", DD_METRIC_MESSAGE_BYTE_SIZE,
                                     DD_SIDE_CLOUD, DD_SHAPE_PER_MESSAGE, DD_VALUE_COUNT,
                                     DD_OPS_NUMERIC, true, false, true, true, true, true},
    [DD_METRIC_NUM_MESSAGES_SENT] = {"aws:num-messages-sent", DD_METRIC_NUM_MESSAGES_SENT,
                                     DD_SIDE_CLOUD, DD_SHAPE_WINDOW_COUNT, DD_VALUE_COUNT,
                                     DD_OPS_NUMERIC, true, true, true, true, true, true},
    [DD_METRIC_NUM_MESSAGES_RECEIVED] = {"aws:num-messages-received",
                                         DD_METRIC_NUM_MESSAGES_RECEIVED, DD_SIDE_CLOUD,
                                         DD_SHAPE_WINDOW_COUNT, DD_VALUE_COUNT, DD_OPS_NUMERIC,
                                         true, true, true, true, true, true},
    [DD_METRIC_NUM_AUTHORIZATION_FAILURES] = {"aws:num-authorization-failures",
                                              DD_METRIC_NUM_AUTHORIZATION_FAILURES, DD_SIDE_CLOUD,
                                              DD_SHAPE_WINDOW_COUNT, DD_VALUE_COUNT, DD_OPS_NUMERIC,
                                              true, true, true, true, true, true},
    [DD_METRIC_SOURCE_IP_ADDRESS] = {"aws:source-ip-address", DD_METRIC_SOURCE_IP_ADDRESS,
                                     DD_SIDE_CLOUD, DD_SHAPE_PER_CONNECT, DD_VALUE_CIDRS,
                                     DD_OPS_CIDR, false, false, false, false, true, false},
    [DD_METRIC_NUM_CONNECTION_ATTEMPTS] = {"aws:num-connection-attempts",
                                           DD_METRIC_NUM_CONNECTION_ATTEMPTS, DD_SIDE_CLOUD,
                                           DD_SHAPE_WINDOW_COUNT, DD_VALUE_COUNT, DD_OPS_NUMERIC,
                                           true, true, true, true, false, false},
    [DD_METRIC_NUM_DISCONNECTS] = {"aws:num-disconnects", DD_METRIC_NUM_DISCONNECTS, DD_SIDE_CLOUD,
                                   DD_SHAPE_WINDOW_COUNT, DD_VALUE_COUNT, DD_OPS_NUMERIC, true,
                                   true, true, true, false, false},
    [DD_METRIC_DISCONNECT_DURATION] = {"aws:disconnect-duration", DD_METRIC_DISCONNECT_DURATION,
                                       DD_SIDE_CLOUD, DD_SHAPE_DISCONNECTED, DD_VALUE_COUNT,
                                       DD_OP_BIT(DD_OP_LESS_THAN) |
                                           DD_OP_BIT(DD_OP_LESS_THAN_EQUALS),
                                       false, false, false, false, false, false},
    [DD_METRIC_ALL_BYTES_OUT] = {"aws:all-bytes-out", DD_METRIC_ALL_BYTES_OUT, DD_SIDE_DEVICE,
                                 DD_SHAPE_DELTA, DD_VALUE_COUNT, DD_OPS_NUMERIC, true, false, true,
                                 true, false, false},
    [DD_METRIC_ALL_BYTES_IN] = {"aws:all-bytes-in", DD_METRIC_ALL_BYTES_IN, DD_SIDE_DEVICE,
                                DD_SHAPE_DELTA, DD_VALUE_COUNT, DD_OPS_NUMERIC, true, false, true,
                                true, false, false},
    [DD_METRIC_ALL_PACKETS_OUT] = {"aws:all-packets-out", DD_METRIC_ALL_PACKETS_OUT, DD_SIDE_DEVICE,
                                   DD_SHAPE_DELTA, DD_VALUE_COUNT, DD_OPS_NUMERIC, true, false,
                                   true, true, false, false},
    [DD_METRIC_ALL_PACKETS_IN] = {"aws:all-packets-in", DD_METRIC_ALL_PACKETS_IN, DD_SIDE_DEVICE,
                                  DD_SHAPE_DELTA, DD_VALUE_COUNT, DD_OPS_NUMERIC, true, false, true,
                                  true, false, false},
    [DD_METRIC_NUM_LISTENING_TCP_PORTS] = {"aws:num-listening-tcp-ports",
                                           DD_METRIC_NUM_LISTENING_TCP_PORTS, DD_SIDE_DEVICE,
                                           DD_SHAPE_GAUGE, DD_VALUE_COUNT, DD_OPS_NUMERIC, true,
                                           false, true, true, false, false},
    [DD_METRIC_NUM_LISTENING_UDP_PORTS] = {"aws:num-listening-udp-ports",
                                           DD_METRIC_NUM_LISTENING_UDP_PORTS, DD_SIDE_DEVICE,
                                           DD_SHAPE_GAUGE, DD_VALUE_COUNT, DD_OPS_NUMERIC, true,
                                           false, true, true, false, false},
    [DD_METRIC_NUM_ESTABLISHED_TCP_CONNECTIONS] = {"aws:num-established-tcp-connections",
                                                   DD_METRIC_NUM_ESTABLISHED_TCP_CONNECTIONS,
                                                   DD_SIDE_DEVICE, DD_SHAPE_GAUGE, DD_VALUE_COUNT,
                                                   DD_OPS_NUMERIC, true, false, true, true, false,
                                                   false},
    [DD_METRIC_LISTENING_TCP_PORTS] = {"aws:listening-tcp-ports", DD_METRIC_LISTENING_TCP_PORTS,
                                       DD_SIDE_DEVICE, DD_SHAPE_LIST, DD_VALUE_PORTS, DD_OPS_PORT,
                                       false, false, false, false, false, false},
    [DD_METRIC_LISTENING_UDP_PORTS] = {"aws:listening-udp-ports", DD_METRIC_LISTENING_UDP_PORTS,
                                       DD_SIDE_DEVICE, DD_SHAPE_LIST, DD_VALUE_PORTS, DD_OPS_PORT,
                                       false, false, false, false, false, false},
    [DD_METRIC_DESTINATION_IP_ADDRESSES] = {"aws:destination-ip-addresses",
                                            DD_METRIC_DESTINATION_IP_ADDRESSES, DD_SIDE_DEVICE,
                                            DD_SHAPE_LIST, DD_VALUE_CIDRS, DD_OPS_CIDR, false,
                                            false, false, false, false, false},
};

/* Custom metrics: durationSeconds only on number ("cannot be used with
 * list-based metric datatypes"); ML and statistics only on number. */
static const dd_metric_info_t CUSTOMS[4] = {
    {"number", DD_METRIC_CUSTOM, DD_SIDE_DEVICE, DD_SHAPE_GAUGE, DD_VALUE_NUMBER, DD_OPS_NUMERIC,
     true, false, true, true, false, false},
    {"number-list", DD_METRIC_CUSTOM, DD_SIDE_DEVICE, DD_SHAPE_LIST, DD_VALUE_NUMBERS, DD_OPS_SET,
     false, false, false, false, false, false},
    {"string-list", DD_METRIC_CUSTOM, DD_SIDE_DEVICE, DD_SHAPE_LIST, DD_VALUE_STRINGS, DD_OPS_SET,
     false, false, false, false, false, false},
    {"ip-address-list", DD_METRIC_CUSTOM, DD_SIDE_DEVICE, DD_SHAPE_LIST, DD_VALUE_CIDRS,
     DD_OPS_CIDR, false, false, false, false, false, false},
};

static const char *const OP_NAMES[DD_OP_COUNT_] = {
    [DD_OP_NONE] = "",
    [DD_OP_LESS_THAN] = "less-than",
    [DD_OP_LESS_THAN_EQUALS] = "less-than-equals",
    [DD_OP_GREATER_THAN] = "greater-than",
    [DD_OP_GREATER_THAN_EQUALS] = "greater-than-equals",
    [DD_OP_IN_CIDR_SET] = "in-cidr-set",
    [DD_OP_NOT_IN_CIDR_SET] = "not-in-cidr-set",
    [DD_OP_IN_PORT_SET] = "in-port-set",
    [DD_OP_NOT_IN_PORT_SET] = "not-in-port-set",
    [DD_OP_IN_SET] = "in-set",
    [DD_OP_NOT_IN_SET] = "not-in-set",
};

dd_metric_status_t dd_metric_find(const char *name, const dd_metric_info_t **out)
{
    size_t i;

    if (name == NULL || out == NULL) {
        return DD_METRIC_BAD_PARAMETER;
    }
    *out = NULL;
    for (i = 1; i < DD_METRIC_BUILTIN_COUNT_; i++) {
        if (strcmp(BUILTINS[i].name, name) == 0) {
            *out = &BUILTINS[i];
            return DD_METRIC_OK;
        }
    }
    return DD_METRIC_NOT_FOUND;
}

const dd_metric_info_t *dd_metric_builtin(dd_metric_id_t id)
{
    if (id <= DD_METRIC_CUSTOM || id >= DD_METRIC_BUILTIN_COUNT_) {
        return NULL;
    }
    return &BUILTINS[id];
}

const dd_metric_info_t *dd_metric_custom_info(dd_custom_type_t type)
{
    if ((unsigned)type > DD_CUSTOM_TYPE_IP_ADDRESS_LIST) {
        return NULL;
    }
    return &CUSTOMS[type];
}

dd_metric_status_t dd_metric_custom_type_parse(const char *text, dd_custom_type_t *out)
{
    unsigned i;

    if (text == NULL || out == NULL) {
        return DD_METRIC_BAD_PARAMETER;
    }
    for (i = 0; i < 4; i++) {
        if (strcmp(CUSTOMS[i].name, text) == 0) {
            *out = (dd_custom_type_t)i;
            return DD_METRIC_OK;
        }
    }
    return DD_METRIC_NOT_FOUND;
}

const char *dd_metric_custom_type_name(dd_custom_type_t type)
{
    const dd_metric_info_t *info = dd_metric_custom_info(type);
    return info != NULL ? info->name : "";
}

dd_metric_status_t dd_metric_op_parse(const char *text, dd_op_t *out)
{
    unsigned i;

    if (text == NULL || out == NULL) {
        return DD_METRIC_BAD_PARAMETER;
    }
    for (i = 1; i < DD_OP_COUNT_; i++) {
        if (strcmp(OP_NAMES[i], text) == 0) {
            *out = (dd_op_t)i;
            return DD_METRIC_OK;
        }
    }
    return DD_METRIC_NOT_FOUND;
}

const char *dd_metric_op_name(dd_op_t op)
{
    return (unsigned)op < DD_OP_COUNT_ ? OP_NAMES[op] : "";
}

const char *dd_metric_value_member(dd_value_kind_t kind)
{
    switch (kind) {
    case DD_VALUE_COUNT: return "count";
    case DD_VALUE_NUMBER: return "number";
    case DD_VALUE_CIDRS: return "cidrs";
    case DD_VALUE_PORTS: return "ports";
    case DD_VALUE_NUMBERS: return "numbers";
    case DD_VALUE_STRINGS: return "strings";
    case DD_VALUE_NONE: break;
    }
    return "";
}

bool dd_metric_duration_valid(int64_t seconds)
{
    return seconds == 300 || seconds == 600 || seconds == 900 || seconds == 1800 || seconds == 3600;
}

const dd_custom_metric_def_t *dd_metric_defs_find_custom(const dd_metric_defs_t *defs,
                                                         const char *name)
{
    size_t i;

    if (defs == NULL || name == NULL) {
        return NULL;
    }
    for (i = 0; i < defs->custom_count; i++) {
        if (strcmp(defs->customs[i].name, name) == 0) {
            return &defs->customs[i];
        }
    }
    return NULL;
}

const dd_dimension_def_t *dd_metric_defs_find_dimension(const dd_metric_defs_t *defs,
                                                        const char *name)
{
    size_t i;

    if (defs == NULL || name == NULL) {
        return NULL;
    }
    for (i = 0; i < defs->dimension_count; i++) {
        if (defs->dimensions[i] != NULL && strcmp(defs->dimensions[i]->name, name) == 0) {
            return defs->dimensions[i];
        }
    }
    return NULL;
}

/* Matches one filter level [f, f_end) against one topic level [t, t_end). */
static bool level_equals(const char *f, size_t flen, const char *t, size_t tlen)
{
    return flen == tlen && memcmp(f, t, flen) == 0;
}

static bool match_levels(const char *filter, const char *topic, const char *client_id)
{
    static const char VAR[] = "${iot:ClientId}";
    const char *f = filter;
    const char *t = topic;

    /* MQTT: a filter starting with a wildcard does not match "$..." topics. */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) {
        return false;
    }
    for (;;) {
        const char *fe = strchr(f, '/');
        const char *te = strchr(t, '/');
        size_t flen = fe != NULL ? (size_t)(fe - f) : strlen(f);
        size_t tlen = te != NULL ? (size_t)(te - t) : strlen(t);

        if (flen == 1 && f[0] == '#') {
            return true;
        }
        if (!(flen == 1 && f[0] == '+')) {
            if (client_id != NULL && flen == sizeof(VAR) - 1 && memcmp(f, VAR, flen) == 0) {
                if (!level_equals(client_id, strlen(client_id), t, tlen)) {
                    return false;
                }
            } else if (!level_equals(f, flen, t, tlen)) {
                return false;
            }
        }
        if (fe == NULL || te == NULL) {
            /* "a/#" also matches "a" (MQTT: # includes the parent level). */
            if (fe != NULL && te == NULL && strcmp(fe, "/#") == 0) {
                return true;
            }
            return fe == NULL && te == NULL;
        }
        f = fe + 1;
        t = te + 1;
    }
}

bool dd_metric_topic_matches(const char *filter, const char *topic, const char *client_id)
{
    if (filter == NULL || topic == NULL || filter[0] == '\0') {
        return false;
    }
    return match_levels(filter, topic, client_id);
}

/* ------------------------------------------------------------------ values of a report */

/* A custom metric's value, when the report has it with the definition's type. */
static bool custom_value(const char *name, dd_custom_type_t type, const dd_report_t *r,
                         dd_datapoint_t *dp)
{
    size_t i;

    for (i = 0; i < r->custom_count; i++) {
        const dd_report_custom_t *c = &r->custom[i];
        if (strcmp(c->name, name) != 0) {
            continue;
        }
        switch (type) {
        case DD_CUSTOM_TYPE_NUMBER:
            if (c->kind != DD_CUSTOM_NUMBER) {
                return false;
            }
            dp->kind = DD_VALUE_NUMBER;
            dp->number = c->number;
            return true;
        case DD_CUSTOM_TYPE_NUMBER_LIST:
            if (c->kind != DD_CUSTOM_NUMBER_LIST) {
                return false;
            }
            dp->kind = DD_VALUE_NUMBERS;
            dp->n = c->count;
            dp->items = c->numbers;
            return true;
        case DD_CUSTOM_TYPE_STRING_LIST:
            if (c->kind != DD_CUSTOM_STRING_LIST) {
                return false;
            }
            dp->kind = DD_VALUE_STRINGS;
            dp->n = c->count;
            dp->items = c->strings;
            return true;
        case DD_CUSTOM_TYPE_IP_ADDRESS_LIST:
            if (c->kind != DD_CUSTOM_IP_LIST) {
                return false;
            }
            dp->kind = DD_VALUE_CIDRS;
            dp->n = c->count;
            dp->items = c->ips;
            return true;
        }
    }
    return false;
}

/* A listening-port or connection count: the list's total when the device
 * sent one (it may truncate the list), else its length; 0 when absent. */
static int64_t list_count(bool present, bool has_total, uint64_t total, size_t count)
{
    if (!present) {
        return 0;
    }
    return (int64_t)(has_total ? total : count);
}

dd_metric_status_t dd_metric_from_report(dd_metric_id_t id, const char *custom_name,
                                         dd_custom_type_t custom_type, const dd_report_t *r,
                                         dd_datapoint_t *dp, int *counter)
{
    uint64_t values[DD_METRIC_COUNTERS];
    uint32_t mask = 0;
    int ch = -1;

    if (r == NULL || dp == NULL || (id == DD_METRIC_CUSTOM && custom_name == NULL)) {
        return DD_METRIC_BAD_PARAMETER;
    }
    memset(dp, 0, sizeof(*dp));
    if (counter != NULL) {
        *counter = -1;
    }
    switch (id) {
    case DD_METRIC_ALL_BYTES_IN: ch = 0; break;
    case DD_METRIC_ALL_BYTES_OUT: ch = 1; break;
    case DD_METRIC_ALL_PACKETS_IN: ch = 2; break;
    case DD_METRIC_ALL_PACKETS_OUT: ch = 3; break;
    case DD_METRIC_NUM_LISTENING_TCP_PORTS:
    case DD_METRIC_NUM_LISTENING_UDP_PORTS: {
        const dd_report_ports_t *p =
            id == DD_METRIC_NUM_LISTENING_TCP_PORTS ? &r->tcp_ports : &r->udp_ports;
        if (!r->has_metrics) {
            return DD_METRIC_NOT_FOUND;
        }
        dp->kind = DD_VALUE_COUNT;
        dp->count = list_count(p->present, p->has_total, p->total, p->count);
        return DD_METRIC_OK;
    }
    case DD_METRIC_NUM_ESTABLISHED_TCP_CONNECTIONS:
        if (!r->has_metrics) {
            return DD_METRIC_NOT_FOUND;
        }
        dp->kind = DD_VALUE_COUNT;
        dp->count = list_count(r->tcp_conns.present, r->tcp_conns.has_total, r->tcp_conns.total,
                               r->tcp_conns.count);
        return DD_METRIC_OK;
    case DD_METRIC_LISTENING_TCP_PORTS:
    case DD_METRIC_LISTENING_UDP_PORTS: {
        const dd_report_ports_t *p =
            id == DD_METRIC_LISTENING_TCP_PORTS ? &r->tcp_ports : &r->udp_ports;
        if (!r->has_metrics) {
            return DD_METRIC_NOT_FOUND;
        }
        dp->kind = DD_VALUE_PORTS;
        dp->n = p->present ? p->count : 0;
        dp->items = dp->n > 0 ? (const void *)&p->items[0].port : NULL;
        dp->stride = sizeof(dd_report_port_t);
        return DD_METRIC_OK;
    }
    case DD_METRIC_DESTINATION_IP_ADDRESSES:
        if (!r->has_metrics) {
            return DD_METRIC_NOT_FOUND;
        }
        dp->kind = DD_VALUE_CIDRS;
        dp->n = r->tcp_conns.present ? r->tcp_conns.count : 0;
        dp->items = dp->n > 0 ? (const void *)&r->tcp_conns.items[0].remote_ip : NULL;
        dp->stride = sizeof(dd_report_conn_t);
        return DD_METRIC_OK;
    case DD_METRIC_CUSTOM:
        return custom_value(custom_name, custom_type, r, dp) ? DD_METRIC_OK : DD_METRIC_NOT_FOUND;
    default: return DD_METRIC_NOT_FOUND;
    }
    if (dd_metric_report_counters(r, values, &mask) != DD_METRIC_OK ||
        (mask & (1u << (unsigned)ch)) == 0) {
        return DD_METRIC_NOT_FOUND;
    }
    dp->kind = DD_VALUE_COUNT;
    dp->count = values[ch] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)values[ch];
    if (counter != NULL) {
        *counter = ch;
    }
    return DD_METRIC_OK;
}

dd_metric_status_t dd_metric_report_counters(const dd_report_t *r,
                                             uint64_t values[DD_METRIC_COUNTERS], uint32_t *mask)
{
    if (r == NULL || values == NULL || mask == NULL) {
        return DD_METRIC_BAD_PARAMETER;
    }
    values[0] = r->net.bytes_in;
    values[1] = r->net.bytes_out;
    values[2] = r->net.packets_in;
    values[3] = r->net.packets_out;
    *mask = (r->net.has_bytes_in ? 1u : 0u) | (r->net.has_bytes_out ? 2u : 0u) |
            (r->net.has_packets_in ? 4u : 0u) | (r->net.has_packets_out ? 8u : 0u);
    return r->net.present ? DD_METRIC_OK : DD_METRIC_NOT_FOUND;
}

const char *dd_metric_strerror(dd_metric_status_t status)
{
    switch (status) {
    case DD_METRIC_OK: return "ok";
    case DD_METRIC_BAD_PARAMETER: return "bad parameter";
    case DD_METRIC_NOT_FOUND: return "no such metric, operator or type";
    case DD_METRIC_NO_MATCH: return "topic does not match";
    }
    return "unknown metric status";
}
