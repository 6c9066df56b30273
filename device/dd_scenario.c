/*
 * dd_scenario: fleet scenario files and the reports they describe.
 * See dd_scenario.h for the format and the timing rules.
 */
#include "dd_scenario.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fs.h"
#include "dd_log.h"
#include "dd_names.h"

#define MAX_PORTS 1024
#define MAX_CONNS 100000
#define REPORT_LIST_CAP 50

typedef struct pctx {
    char *msg;
    size_t msg_len;
} pctx_t;

static dd_scenario_status_t bad(pctx_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static dd_scenario_status_t bad(pctx_t *p, const char *fmt, ...)
{
    va_list ap;

    if (p->msg != NULL && p->msg_len > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(p->msg, p->msg_len, fmt, ap);
        va_end(ap);
    }
    return DD_SCENARIO_INVALID;
}

/* ---- small parsers ---------------------------------------------------------- */

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static dd_scenario_status_t get_number(pctx_t *p, const cJSON *obj, const char *key,
                                       const char *path, double min, double max, bool required,
                                       double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (v == NULL) {
        return required ? bad(p, "%s.%s is required", path, key) : DD_SCENARIO_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        return bad(p, "%s.%s must be a number in %g..%g", path, key, min, max);
    }
    *out = v->valuedouble;
    return DD_SCENARIO_OK;
}

static dd_scenario_status_t parse_dist(pctx_t *p, const cJSON *v, const char *path, dd_dist_t *d)
{
    const cJSON *kind;
    dd_scenario_status_t st = DD_SCENARIO_OK;

    memset(d, 0, sizeof(*d));
    if (cJSON_IsNumber(v)) {
        /* A bare number is a constant. */
        d->kind = DD_DIST_CONSTANT;
        d->a = v->valuedouble;
        return isfinite(d->a) ? DD_SCENARIO_OK : bad(p, "%s must be finite", path);
    }
    if (!cJSON_IsObject(v)) {
        return bad(p, "%s must be a number or a distribution object", path);
    }
    kind = cJSON_GetObjectItemCaseSensitive(v, "distribution");
    if (!cJSON_IsString(kind)) {
        return bad(p, "%s.distribution must be constant, uniform, normal or poisson", path);
    }
    if (strcmp(kind->valuestring, "constant") == 0) {
        d->kind = DD_DIST_CONSTANT;
        st = get_number(p, v, "value", path, -1e15, 1e15, true, &d->a);
    } else if (strcmp(kind->valuestring, "uniform") == 0) {
        d->kind = DD_DIST_UNIFORM;
        st = get_number(p, v, "min", path, -1e15, 1e15, true, &d->a);
        if (st == DD_SCENARIO_OK) {
            st = get_number(p, v, "max", path, d->a, 1e15, true, &d->b);
        }
    } else if (strcmp(kind->valuestring, "normal") == 0) {
        d->kind = DD_DIST_NORMAL;
        st = get_number(p, v, "mean", path, -1e15, 1e15, true, &d->a);
        if (st == DD_SCENARIO_OK) {
            st = get_number(p, v, "stddev", path, 0, 1e15, true, &d->b);
        }
    } else if (strcmp(kind->valuestring, "poisson") == 0) {
        d->kind = DD_DIST_POISSON;
        st = get_number(p, v, "mean", path, 0, 1e9, true, &d->a);
    } else {
        return bad(p, "%s.distribution '%s' is not constant, uniform, normal or poisson", path,
                   kind->valuestring);
    }
    return st;
}

/* A schedule entry's metric: a distribution, or {"scale": k} over the base. */
static dd_scenario_status_t parse_override(pctx_t *p, const cJSON *v, const char *path,
                                           bool in_phase, dd_dist_t *d, double *scale)
{
    *scale = 1.0;
    if (in_phase && cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "scale") != NULL) {
        memset(d, 0, sizeof(*d));
        if (cJSON_GetArraySize(v) != 1) {
            return bad(p, "%s: give either a distribution or {\"scale\": k}", path);
        }
        return get_number(p, v, "scale", path, 0, 1e9, true, scale);
    }
    return parse_dist(p, v, path, d);
}

static dd_scenario_status_t parse_port_array(pctx_t *p, const cJSON *arr, const char *path,
                                             dd_scenario_ports_t *ports)
{
    const cJSON *it;
    int n = cJSON_GetArraySize(arr);
    size_t i = 0;

    if (!cJSON_IsArray(arr) || n > MAX_PORTS) {
        return bad(p, "%s must be an array of at most %d ports", path, MAX_PORTS);
    }
    ports->ports = calloc(n == 0 ? 1 : (size_t)n, sizeof(uint16_t));
    if (ports->ports == NULL) {
        return DD_SCENARIO_NO_MEMORY;
    }
    cJSON_ArrayForEach (it, arr) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 65535 ||
            floor(it->valuedouble) != it->valuedouble) {
            return bad(p, "%s[%zu] must be a port 1..65535", path, i);
        }
        ports->ports[i++] = (uint16_t)it->valuedouble;
    }
    ports->count = i;
    ports->set = true;
    return DD_SCENARIO_OK;
}

static dd_scenario_status_t parse_ports(pctx_t *p, const cJSON *v, const char *path, bool in_phase,
                                        dd_scenario_ports_t *ports)
{
    char sub[200];

    if (in_phase && cJSON_IsObject(v)) {
        const cJSON *add = cJSON_GetObjectItemCaseSensitive(v, "add");

        if (add == NULL || cJSON_GetArraySize(v) != 1) {
            return bad(p, "%s: a port list, or {\"add\": [ports]}", path);
        }
        (void)snprintf(sub, sizeof(sub), "%s.add", path);
        ports->add = true;
        return parse_port_array(p, add, sub, ports);
    }
    return parse_port_array(p, v, path, ports);
}

static dd_scenario_status_t parse_conns(pctx_t *p, const cJSON *v, const char *path,
                                        dd_scenario_conns_t *c)
{
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(v, "count");
    const cJSON *remote = cJSON_GetObjectItemCaseSensitive(v, "remote");
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(v, "remotePorts");
    const cJSON *iface = cJSON_GetObjectItemCaseSensitive(v, "localInterface");
    const cJSON *it;
    char sub[200];
    dd_scenario_status_t st;

    if (!cJSON_IsObject(v)) {
        return bad(p, "%s must be {\"count\", \"remote\", \"remotePorts\", \"localInterface\"}",
                   path);
    }
    cJSON_ArrayForEach (it, v) {
        if (strcmp(it->string, "count") != 0 && strcmp(it->string, "remote") != 0 &&
            strcmp(it->string, "remotePorts") != 0 && strcmp(it->string, "localInterface") != 0) {
            return bad(p, "%s.%s is not a connections member", path, it->string);
        }
    }
    (void)snprintf(sub, sizeof(sub), "%s.count", path);
    if (count == NULL) {
        return bad(p, "%s is required", sub);
    }
    st = parse_dist(p, count, sub, &c->count);
    if (st != DD_SCENARIO_OK) {
        return st;
    }
    if (remote == NULL) {
        (void)dd_cidr_parse("203.0.113.0/24", 14, &c->remote);
    } else if (!cJSON_IsString(remote) ||
               dd_cidr_parse(remote->valuestring, strlen(remote->valuestring), &c->remote) !=
                   DD_IP_OK) {
        return bad(p, "%s.remote must be an IPv4 or IPv6 CIDR block", path);
    }
    if (ports != NULL) {
        dd_scenario_ports_t tmp = {0};

        (void)snprintf(sub, sizeof(sub), "%s.remotePorts", path);
        st = parse_port_array(p, ports, sub, &tmp);
        c->remote_ports = tmp.ports;
        c->port_count = tmp.count;
        if (st != DD_SCENARIO_OK) {
            return st;
        }
        if (c->port_count == 0) {
            return bad(p, "%s must not be empty", sub);
        }
    } else {
        c->remote_ports = malloc(sizeof(uint16_t));
        if (c->remote_ports == NULL) {
            return DD_SCENARIO_NO_MEMORY;
        }
        c->remote_ports[0] = 443;
        c->port_count = 1;
    }
    if (iface != NULL && (!cJSON_IsString(iface) || strlen(iface->valuestring) == 0 ||
                          strlen(iface->valuestring) > DD_REPORT_IFACE_MAX)) {
        return bad(p, "%s.localInterface must be an interface name", path);
    }
    (void)snprintf(c->iface, sizeof(c->iface), "%s", iface != NULL ? iface->valuestring : "eth0");
    c->set = true;
    return DD_SCENARIO_OK;
}

static const char *const NET_KEYS[DD_SCN_NET_COUNT] = {"bytes_in", "bytes_out", "packets_in",
                                                       "packets_out"};

static dd_scenario_status_t parse_metrics(pctx_t *p, const cJSON *obj, const char *path,
                                          bool in_phase, dd_scenario_metrics_t *m)
{
    const cJSON *it;
    char sub[160];
    size_t i;
    dd_scenario_status_t st = DD_SCENARIO_OK;

    for (i = 0; i < DD_SCN_NET_COUNT; i++) {
        m->net_scale[i] = 1.0;
    }
    if (obj == NULL) {
        return DD_SCENARIO_OK;
    }
    if (!cJSON_IsObject(obj)) {
        return bad(p, "%s must be an object", path);
    }
    cJSON_ArrayForEach (it, obj) {
        bool known = false;

        (void)snprintf(sub, sizeof(sub), "%s.%s", path, it->string);
        for (i = 0; i < DD_SCN_NET_COUNT && st == DD_SCENARIO_OK; i++) {
            if (strcmp(it->string, NET_KEYS[i]) == 0) {
                known = true;
                st = parse_override(p, it, sub, in_phase, &m->net[i], &m->net_scale[i]);
            }
        }
        if (st != DD_SCENARIO_OK) {
            return st;
        }
        if (known) {
            continue;
        }
        if (strcmp(it->string, "listening_tcp_ports") == 0) {
            st = parse_ports(p, it, sub, in_phase, &m->tcp_ports);
        } else if (strcmp(it->string, "listening_udp_ports") == 0) {
            st = parse_ports(p, it, sub, in_phase, &m->udp_ports);
        } else if (strcmp(it->string, "connections") == 0) {
            st = parse_conns(p, it, sub, &m->conns);
        } else if (strcmp(it->string, "custom") == 0) {
            const cJSON *c;
            int n = cJSON_GetArraySize(it);

            if (!cJSON_IsObject(it)) {
                return bad(p, "%s must be an object of number metrics", sub);
            }
            m->custom = calloc(n == 0 ? 1 : (size_t)n, sizeof(*m->custom));
            if (m->custom == NULL) {
                return DD_SCENARIO_NO_MEMORY;
            }
            cJSON_ArrayForEach (c, it) {
                dd_scenario_custom_t *cm = &m->custom[m->custom_count];
                char csub[200];

                if (!dd_name_valid(DD_NAME_CUSTOM_METRIC, c->string) ||
                    strlen(c->string) > DD_REPORT_METRIC_NAME_MAX) {
                    return bad(p, "%s: '%s' is not a valid custom metric name", sub, c->string);
                }
                (void)snprintf(cm->name, sizeof(cm->name), "%s", c->string);
                (void)snprintf(csub, sizeof(csub), "%s.%s", sub, c->string);
                st = parse_override(p, c, csub, in_phase, &cm->dist, &cm->scale);
                if (st != DD_SCENARIO_OK) {
                    return st;
                }
                m->custom_count++;
            }
        } else {
            return bad(p,
                       "%s is not a scenario metric (bytes_in, bytes_out, packets_in, "
                       "packets_out, listening_tcp_ports, listening_udp_ports, connections, "
                       "custom)",
                       sub);
        }
        if (st != DD_SCENARIO_OK) {
            return st;
        }
    }
    return DD_SCENARIO_OK;
}

static void metrics_free(dd_scenario_metrics_t *m)
{
    free(m->tcp_ports.ports);
    free(m->udp_ports.ports);
    free(m->conns.remote_ports);
    free(m->custom);
    memset(m, 0, sizeof(*m));
}

/* A schedule entry's "telemetry": {"payloadSize": N, "intervalSeconds": S}, at least one. */
static dd_scenario_status_t parse_phase_telemetry(pctx_t *p, const cJSON *tel, const char *path,
                                                  dd_scenario_phase_t *phase, double *size)
{
    const cJSON *it;
    dd_scenario_status_t st = DD_SCENARIO_OK;

    if (!cJSON_IsObject(tel) || cJSON_GetArraySize(tel) == 0) {
        return bad(p, "%s must be {\"payloadSize\": N, \"intervalSeconds\": S} (either or both)",
                   path);
    }
    cJSON_ArrayForEach (it, tel) {
        if (strcmp(it->string, "payloadSize") != 0 && strcmp(it->string, "intervalSeconds") != 0) {
            return bad(p, "%s.%s is not a telemetry member (payloadSize, intervalSeconds)", path,
                       it->string);
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(tel, "payloadSize") != NULL) {
        st = get_number(p, tel, "payloadSize", path, 0, 128 * 1024, true, size);
        phase->has_payload_size = st == DD_SCENARIO_OK;
        phase->payload_size = (size_t)*size;
    }
    if (st == DD_SCENARIO_OK) {
        st = get_number(p, tel, "intervalSeconds", path, 0.001, 1e9, false,
                        &phase->telemetry_interval_s);
    }
    return st;
}

/* A schedule entry's "cloud": rates of metered events per device. */
static dd_scenario_status_t parse_phase_cloud(pctx_t *p, const cJSON *cloud, const char *path,
                                              dd_scenario_phase_t *phase)
{
    const cJSON *it;
    dd_scenario_status_t st;

    if (!cJSON_IsObject(cloud)) {
        return bad(p, "%s must be an object", path);
    }
    cJSON_ArrayForEach (it, cloud) {
        if (strcmp(it->string, "authorizationFailuresPerMinute") != 0 &&
            strcmp(it->string, "failedConnectsPerMinute") != 0 &&
            strcmp(it->string, "disconnectsPerHour") != 0) {
            return bad(p,
                       "%s.%s is not a cloud member (authorizationFailuresPerMinute, "
                       "failedConnectsPerMinute, disconnectsPerHour)",
                       path, it->string);
        }
    }
    phase->has_cloud = true;
    st = get_number(p, cloud, "authorizationFailuresPerMinute", path, 0, 60000, false,
                    &phase->cloud.auth_failures_per_min);
    if (st == DD_SCENARIO_OK) {
        st = get_number(p, cloud, "failedConnectsPerMinute", path, 0, 60000, false,
                        &phase->cloud.failed_connects_per_min);
    }
    if (st == DD_SCENARIO_OK) {
        st = get_number(p, cloud, "disconnectsPerHour", path, 0, 3600, false,
                        &phase->cloud.disconnects_per_hour);
    }
    return st;
}

static dd_scenario_status_t parse_groups(pctx_t *p, const cJSON *arr, dd_scenario_t *sc)
{
    const cJSON *g;
    uint32_t next = 0;
    int n = cJSON_GetArraySize(arr);
    dd_scenario_status_t st;

    if (arr == NULL) {
        return DD_SCENARIO_OK;
    }
    if (!cJSON_IsArray(arr)) {
        return bad(p, "groups must be an array");
    }
    sc->groups = calloc(n == 0 ? 1 : (size_t)n, sizeof(*sc->groups));
    if (sc->groups == NULL) {
        return DD_SCENARIO_NO_MEMORY;
    }
    cJSON_ArrayForEach (g, arr) {
        dd_scenario_group_t *grp = &sc->groups[sc->group_count];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "name");
        const cJSON *sched = cJSON_GetObjectItemCaseSensitive(g, "schedule");
        const cJSON *ph;
        char path[64];
        double devices = 0;
        size_t i;

        (void)snprintf(path, sizeof(path), "groups[%zu]", sc->group_count);
        sc->group_count++;
        if (!cJSON_IsObject(g)) {
            return bad(p, "%s must be an object", path);
        }
        if (!cJSON_IsString(name) || strlen(name->valuestring) == 0 ||
            strlen(name->valuestring) > DD_SCENARIO_NAME_MAX) {
            return bad(p, "%s.name must be 1..%d characters", path, DD_SCENARIO_NAME_MAX);
        }
        (void)snprintf(grp->name, sizeof(grp->name), "%s", name->valuestring);
        st = get_number(p, g, "devices", path, 1, DD_SCENARIO_MAX_DEVICES, true, &devices);
        if (st != DD_SCENARIO_OK) {
            return st;
        }
        grp->first = next;
        grp->devices = (uint32_t)devices;
        next += grp->devices;
        if (sched != NULL && !cJSON_IsArray(sched)) {
            return bad(p, "%s.schedule must be an array", path);
        }
        n = cJSON_GetArraySize(sched);
        grp->phases = calloc(n == 0 ? 1 : (size_t)n, sizeof(*grp->phases));
        if (grp->phases == NULL) {
            return DD_SCENARIO_NO_MEMORY;
        }
        i = 0;
        cJSON_ArrayForEach (ph, sched) {
            dd_scenario_phase_t *phase = &grp->phases[grp->phase_count++];
            const cJSON *tel = cJSON_GetObjectItemCaseSensitive(ph, "telemetry");
            const cJSON *it;
            char ppath[96];

            (void)snprintf(ppath, sizeof(ppath), "%s.schedule[%zu]", path, i++);
            if (!cJSON_IsObject(ph)) {
                return bad(p, "%s must be an object", ppath);
            }
            cJSON_ArrayForEach (it, ph) {
                if (strcmp(it->string, "fromSeconds") != 0 &&
                    strcmp(it->string, "toSeconds") != 0 && strcmp(it->string, "metrics") != 0 &&
                    strcmp(it->string, "telemetry") != 0 && strcmp(it->string, "cloud") != 0) {
                    return bad(p,
                               "%s.%s is not a schedule member (fromSeconds, toSeconds, metrics, "
                               "telemetry, cloud)",
                               ppath, it->string);
                }
            }
            phase->from_s = 0;
            phase->to_s = HUGE_VAL;
            st = get_number(p, ph, "fromSeconds", ppath, 0, 1e12, false, &phase->from_s);
            if (st == DD_SCENARIO_OK) {
                st =
                    get_number(p, ph, "toSeconds", ppath, phase->from_s, 1e12, false, &phase->to_s);
            }
            if (st == DD_SCENARIO_OK) {
                char mpath[120];

                (void)snprintf(mpath, sizeof(mpath), "%s.metrics", ppath);
                st = parse_metrics(p, cJSON_GetObjectItemCaseSensitive(ph, "metrics"), mpath, true,
                                   &phase->metrics);
            }
            if (st == DD_SCENARIO_OK && tel != NULL) {
                double size = 0;
                char tpath[120];

                (void)snprintf(tpath, sizeof(tpath), "%s.telemetry", ppath);
                st = parse_phase_telemetry(p, tel, tpath, phase, &size);
            }
            if (st == DD_SCENARIO_OK && cJSON_GetObjectItemCaseSensitive(ph, "cloud") != NULL) {
                char cpath[120];

                (void)snprintf(cpath, sizeof(cpath), "%s.cloud", ppath);
                st = parse_phase_cloud(p, cJSON_GetObjectItemCaseSensitive(ph, "cloud"), cpath,
                                       phase);
            }
            if (st != DD_SCENARIO_OK) {
                return st;
            }
        }
    }
    if (next > sc->devices) {
        return bad(p, "groups hold %u devices, more than the scenario's %u", next, sc->devices);
    }
    return DD_SCENARIO_OK;
}

static dd_scenario_status_t parse_root(pctx_t *p, const cJSON *root, dd_scenario_t *sc)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(root, "thingPrefix");
    const cJSON *report = cJSON_GetObjectItemCaseSensitive(root, "report");
    const cJSON *tel = cJSON_GetObjectItemCaseSensitive(root, "telemetry");
    const cJSON *it;
    double v = 0;
    size_t i;
    dd_scenario_status_t st;

    if (!cJSON_IsObject(root)) {
        return bad(p, "a scenario is a JSON object");
    }
    cJSON_ArrayForEach (it, root) {
        static const char *const KEYS[] = {"name",        "description",     "devices",
                                           "thingPrefix", "durationSeconds", "seed",
                                           "report",      "telemetry",       "metrics",
                                           "groups"};
        bool known = false;

        for (i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
            known |= strcmp(it->string, KEYS[i]) == 0;
        }
        if (!known) {
            return bad(p, "'%s' is not a scenario member", it->string);
        }
    }
    if (!cJSON_IsString(name) || strlen(name->valuestring) == 0 ||
        strlen(name->valuestring) > DD_SCENARIO_NAME_MAX) {
        return bad(p, "name is required: 1..%d characters of [A-Za-z0-9_-]", DD_SCENARIO_NAME_MAX);
    }
    for (i = 0; name->valuestring[i] != '\0'; i++) {
        if (!is_name_char(name->valuestring[i])) {
            return bad(p, "name '%s' may only hold [A-Za-z0-9_-]", name->valuestring);
        }
    }
    (void)snprintf(sc->name, sizeof(sc->name), "%s", name->valuestring);
    if (prefix != NULL) {
        if (!cJSON_IsString(prefix) || strlen(prefix->valuestring) > 80) {
            return bad(p, "thingPrefix must be a string of at most 80 characters");
        }
        for (i = 0; prefix->valuestring[i] != '\0'; i++) {
            if (!is_name_char(prefix->valuestring[i]) && prefix->valuestring[i] != ':') {
                return bad(p, "thingPrefix may only hold [A-Za-z0-9:_-]");
            }
        }
        (void)snprintf(sc->thing_prefix, sizeof(sc->thing_prefix), "%s", prefix->valuestring);
    } else {
        (void)snprintf(sc->thing_prefix, sizeof(sc->thing_prefix), "%s-", sc->name);
    }
    st = get_number(p, root, "devices", "scenario", 1, DD_SCENARIO_MAX_DEVICES, true, &v);
    if (st != DD_SCENARIO_OK) {
        return st;
    }
    sc->devices = (uint32_t)v;
    st = get_number(p, root, "durationSeconds", "scenario", 1, 1e9, true, &sc->duration_s);
    if (st != DD_SCENARIO_OK) {
        return st;
    }
    v = 1;
    st = get_number(p, root, "seed", "scenario", 0, 9007199254740991.0, false, &v);
    if (st != DD_SCENARIO_OK) {
        return st;
    }
    sc->seed = (uint64_t)v;
    sc->report_interval_s = 300;
    sc->format = DD_REPORT_FORMAT_JSON;
    sc->keys = DD_REPORT_KEYS_LONG;
    if (report != NULL) {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(report, "format");
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(report, "keys");

        if (!cJSON_IsObject(report)) {
            return bad(p, "report must be an object");
        }
        st = get_number(p, report, "intervalSeconds", "report", 0.001, 1e9, false,
                        &sc->report_interval_s);
        if (st != DD_SCENARIO_OK) {
            return st;
        }
        if (fmt != NULL) {
            if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "cbor") == 0) {
                sc->format = DD_REPORT_FORMAT_CBOR;
            } else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "json") != 0) {
                return bad(p, "report.format must be json or cbor");
            }
        }
        if (keys != NULL) {
            if (cJSON_IsString(keys) && strcmp(keys->valuestring, "short") == 0) {
                sc->keys = DD_REPORT_KEYS_SHORT;
            } else if (!cJSON_IsString(keys) || strcmp(keys->valuestring, "long") != 0) {
                return bad(p, "report.keys must be long or short");
            }
        }
    }
    if (tel != NULL) {
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(tel, "topic");

        if (!cJSON_IsObject(tel) || !cJSON_IsString(topic) || topic->valuestring[0] == '\0' ||
            strlen(topic->valuestring) >= sizeof(sc->telemetry_topic) ||
            strpbrk(topic->valuestring, "+#") != NULL) {
            return bad(p, "telemetry.topic must be a topic name (no wildcards; {thing} allowed)");
        }
        sc->telemetry = true;
        (void)snprintf(sc->telemetry_topic, sizeof(sc->telemetry_topic), "%s", topic->valuestring);
        sc->telemetry_interval_s = 10;
        st = get_number(p, tel, "intervalSeconds", "telemetry", 0.001, 1e9, false,
                        &sc->telemetry_interval_s);
        if (st == DD_SCENARIO_OK) {
            v = 0;
            st = get_number(p, tel, "payloadSize", "telemetry", 0, 128 * 1024, false, &v);
            sc->telemetry_payload_size = (size_t)v;
        }
        if (st != DD_SCENARIO_OK) {
            return st;
        }
    }
    st = parse_metrics(p, cJSON_GetObjectItemCaseSensitive(root, "metrics"), "metrics", false,
                       &sc->base);
    if (st != DD_SCENARIO_OK) {
        return st;
    }
    return parse_groups(p, cJSON_GetObjectItemCaseSensitive(root, "groups"), sc);
}

dd_scenario_status_t dd_scenario_parse(const char *text, size_t len, dd_scenario_t *out, char *msg,
                                       size_t msg_len)
{
    pctx_t p = {msg, msg_len};
    cJSON *root;
    dd_scenario_status_t st;

    if (text == NULL || out == NULL) {
        return DD_SCENARIO_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    root = cJSON_ParseWithLength(text, len);
    if (root == NULL) {
        return bad(&p, "not valid JSON");
    }
    st = parse_root(&p, root, out);
    cJSON_Delete(root);
    if (st != DD_SCENARIO_OK) {
        dd_scenario_free(out);
    }
    return st;
}

dd_scenario_status_t dd_scenario_load(const char *path, dd_scenario_t *out, char *msg,
                                      size_t msg_len)
{
    char *text = NULL;
    size_t len = 0;
    dd_fs_status_t fs;
    dd_scenario_status_t st;
    char inner[256] = "";

    if (path == NULL || out == NULL) {
        return DD_SCENARIO_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    fs = dd_fs_read_file(path, 4 * 1024 * 1024, &text, &len);
    if (fs != DD_FS_OK) {
        dd_log_format_msg(msg, msg_len, "%s: %s", path,
                          fs == DD_FS_IO_ERROR ? strerror(errno) : dd_fs_strerror(fs));
        return fs == DD_FS_NO_MEMORY ? DD_SCENARIO_NO_MEMORY : DD_SCENARIO_IO_ERROR;
    }
    st = dd_scenario_parse(text, len, out, inner, sizeof(inner));
    free(text);
    if (st != DD_SCENARIO_OK) {
        dd_log_format_msg(msg, msg_len, "%s: %s", path, inner);
    }
    return st;
}

void dd_scenario_free(dd_scenario_t *sc)
{
    size_t i;
    size_t j;

    if (sc == NULL) {
        return;
    }
    metrics_free(&sc->base);
    for (i = 0; sc->groups != NULL && i < sc->group_count; i++) {
        for (j = 0; sc->groups[i].phases != NULL && j < sc->groups[i].phase_count; j++) {
            metrics_free(&sc->groups[i].phases[j].metrics);
        }
        free(sc->groups[i].phases);
    }
    free(sc->groups);
    memset(sc, 0, sizeof(*sc));
}

dd_scenario_status_t dd_scenario_override(dd_scenario_t *sc, uint32_t devices, double duration_s,
                                          char *msg, size_t msg_len)
{
    if (sc == NULL) {
        return DD_SCENARIO_BAD_PARAMETER;
    }
    if (devices > 0) {
        uint32_t grouped = 0;
        size_t i;

        for (i = 0; i < sc->group_count; i++) {
            grouped += sc->groups[i].devices;
        }
        if (devices < grouped || devices > DD_SCENARIO_MAX_DEVICES) {
            dd_log_format_msg(msg, msg_len, "--devices %u: the groups alone hold %u (max %u)",
                              devices, grouped, DD_SCENARIO_MAX_DEVICES);
            return DD_SCENARIO_INVALID;
        }
        sc->devices = devices;
    }
    if (duration_s > 0) {
        sc->duration_s = duration_s;
    }
    return DD_SCENARIO_OK;
}

/* ---- sampling ------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s == 0 ? 0x9E3779B97F4A7C15ULL : *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Uniform in [0, 1). */
static double unit(uint64_t *rng)
{
    return (double)(xorshift(rng) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t dd_scenario_device_seed(const dd_scenario_t *sc, uint32_t index)
{
    /* splitmix64 of (seed, index): independent streams per device. */
    uint64_t z = (sc != NULL ? sc->seed : 0) + 0x9E3779B97F4A7C15ULL * ((uint64_t)index + 1);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z == 0 ? 1 : z;
}

double dd_scenario_draw(const dd_dist_t *d, uint64_t *rng)
{
    double u;
    double v;

    if (d == NULL || rng == NULL) {
        return 0.0;
    }
    switch (d->kind) {
    case DD_DIST_CONSTANT: return d->a;
    case DD_DIST_UNIFORM: return d->a + (d->b - d->a) * unit(rng);
    case DD_DIST_NORMAL:
        /* Box-Muller. */
        u = unit(rng);
        v = unit(rng);
        return d->a + d->b * sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
    case DD_DIST_POISSON:
        if (d->a < 30.0) {
            /* Knuth. */
            double limit = exp(-d->a);
            double prod = unit(rng);
            int k = 0;

            while (prod > limit) {
                k++;
                prod *= unit(rng);
            }
            return (double)k;
        }
        u = unit(rng);
        v = unit(rng);
        return round(d->a + sqrt(d->a) * sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v));
    case DD_DIST_NONE: break;
    }
    return 0.0;
}

void dd_scenario_thing_name(const dd_scenario_t *sc, uint32_t index, char *buf, size_t len)
{
    int width = 4;
    uint32_t d = sc->devices;

    while (d >= 10000) {
        width++;
        d /= 10;
    }
    (void)snprintf(buf, len, "%s%0*u", sc->thing_prefix, width, index + 1);
}

int dd_scenario_group_of(const dd_scenario_t *sc, uint32_t index)
{
    size_t i;

    for (i = 0; sc != NULL && i < sc->group_count; i++) {
        if (index >= sc->groups[i].first && index < sc->groups[i].first + sc->groups[i].devices) {
            return (int)i;
        }
    }
    return -1;
}

static int64_t to_ms(double s)
{
    return (int64_t)llround(s * 1000.0);
}

double dd_scenario_report_offset_s(const dd_scenario_t *sc, uint32_t index)
{
    int64_t interval = to_ms(sc->report_interval_s);

    return (double)(interval * (int64_t)index / (int64_t)sc->devices) / 1000.0;
}

uint64_t dd_scenario_expected_reports(const dd_scenario_t *sc, uint32_t index)
{
    int64_t interval = to_ms(sc->report_interval_s);
    int64_t duration = to_ms(sc->duration_s);
    int64_t offset = interval * (int64_t)index / (int64_t)sc->devices;

    if (interval <= 0 || duration <= offset) {
        return 0;
    }
    return (uint64_t)((duration - offset + interval - 1) / interval);
}

static bool covers(const dd_scenario_phase_t *ph, double t_s)
{
    return t_s >= ph->from_s && t_s < ph->to_s;
}

/* The distribution and scale of network counter @p m for a device at @p t_s. */
static void effective_net(const dd_scenario_t *sc, const dd_scenario_group_t *g, double t_s, int m,
                          dd_dist_t *dist, double *scale)
{
    size_t i;

    *dist = sc->base.net[m];
    *scale = sc->base.net_scale[m];
    for (i = 0; g != NULL && i < g->phase_count; i++) {
        const dd_scenario_metrics_t *pm = &g->phases[i].metrics;

        if (!covers(&g->phases[i], t_s)) {
            continue;
        }
        if (pm->net[m].kind != DD_DIST_NONE) {
            *dist = pm->net[m];
            *scale = 1.0;
        } else if (pm->net_scale[m] != 1.0) {
            *dist = sc->base.net[m];
            *scale = pm->net_scale[m];
        }
    }
}

static uint64_t counter(const dd_dist_t *d, double scale, uint64_t *rng)
{
    double v = dd_scenario_draw(d, rng) * scale;

    if (!(v > 0.0)) {
        return 0;
    }
    if (v > 1e15) {
        v = 1e15;
    }
    return (uint64_t)llround(v);
}

static dd_scenario_status_t fill_ports(const dd_scenario_ports_t *base,
                                       const dd_scenario_group_t *g, double t_s, bool tcp,
                                       dd_report_ports_t *out)
{
    const dd_scenario_ports_t *list = base;
    const dd_scenario_ports_t *add = NULL;
    size_t i;
    size_t n;

    for (i = 0; g != NULL && i < g->phase_count; i++) {
        const dd_scenario_ports_t *pp =
            tcp ? &g->phases[i].metrics.tcp_ports : &g->phases[i].metrics.udp_ports;

        if (!covers(&g->phases[i], t_s) || !pp->set) {
            continue;
        }
        if (pp->add) {
            add = pp;
        } else {
            list = pp;
            add = NULL;
        }
    }
    n = (list->set ? list->count : 0) + (add != NULL ? add->count : 0);
    out->present = true;
    out->has_total = true;
    out->total = n;
    out->items = calloc(n == 0 ? 1 : n, sizeof(*out->items));
    if (out->items == NULL) {
        return DD_SCENARIO_NO_MEMORY;
    }
    for (i = 0; list->set && i < list->count; i++) {
        out->items[out->count].port = list->ports[i];
        out->items[out->count].has_interface = true;
        (void)snprintf(out->items[out->count].interface, sizeof(out->items[0].interface), "eth0");
        out->count++;
    }
    for (i = 0; add != NULL && i < add->count; i++) {
        out->items[out->count].port = add->ports[i];
        out->items[out->count].has_interface = true;
        (void)snprintf(out->items[out->count].interface, sizeof(out->items[0].interface), "eth0");
        out->count++;
    }
    if (out->count > REPORT_LIST_CAP) {
        out->count = REPORT_LIST_CAP;
    }
    return DD_SCENARIO_OK;
}

static void random_ip(const dd_cidr_t *cidr, uint64_t *rng, dd_ip_t *ip)
{
    size_t nbytes = cidr->base.family == 4 ? 4 : 16;
    size_t i;

    *ip = cidr->base;
    for (i = 0; i < nbytes; i++) {
        unsigned bit = (unsigned)(i * 8);
        uint8_t mask;

        if (bit + 8 <= cidr->prefix) {
            continue;
        }
        mask = bit >= cidr->prefix ? 0xFF : (uint8_t)(0xFFu >> (cidr->prefix - bit));
        ip->bytes[i] = (uint8_t)((ip->bytes[i] & ~mask) | ((uint8_t)xorshift(rng) & mask));
    }
}

static dd_scenario_status_t fill_conns(const dd_scenario_t *sc, const dd_scenario_group_t *g,
                                       double t_s, uint64_t *rng, dd_report_conns_t *out)
{
    const dd_scenario_conns_t *c = &sc->base.conns;
    double v;
    size_t n;
    size_t keep;
    size_t i;

    for (i = 0; g != NULL && i < g->phase_count; i++) {
        if (covers(&g->phases[i], t_s) && g->phases[i].metrics.conns.set) {
            c = &g->phases[i].metrics.conns;
        }
    }
    out->present = true;
    out->has_total = true;
    v = c->set ? dd_scenario_draw(&c->count, rng) : 0.0;
    n = v > 0 ? (size_t)llround(v > MAX_CONNS ? MAX_CONNS : v) : 0;
    keep = n < REPORT_LIST_CAP ? n : REPORT_LIST_CAP;
    out->total = n;
    out->items = calloc(keep == 0 ? 1 : keep, sizeof(*out->items));
    if (out->items == NULL) {
        return DD_SCENARIO_NO_MEMORY;
    }
    for (i = 0; i < keep; i++) {
        dd_report_conn_t *it = &out->items[i];

        random_ip(&c->remote, rng, &it->remote_ip);
        it->remote_port = c->remote_ports[xorshift(rng) % c->port_count];
        it->has_local_port = true;
        it->local_port = (uint16_t)(32768 + xorshift(rng) % 28232);
        it->has_local_interface = true;
        (void)snprintf(it->local_interface, sizeof(it->local_interface), "%s", c->iface);
    }
    out->count = keep;
    return DD_SCENARIO_OK;
}

static dd_scenario_status_t fill_custom(const dd_scenario_t *sc, const dd_scenario_group_t *g,
                                        double t_s, uint64_t *rng, dd_report_t *out)
{
    size_t cap = sc->base.custom_count;
    size_t i;
    size_t j;

    for (i = 0; g != NULL && i < g->phase_count; i++) {
        cap += g->phases[i].metrics.custom_count;
    }
    if (cap == 0) {
        return DD_SCENARIO_OK;
    }
    out->custom = calloc(cap, sizeof(*out->custom));
    if (out->custom == NULL) {
        return DD_SCENARIO_NO_MEMORY;
    }
    /* Base metrics first, then names a covering entry adds; the last entry wins. */
    for (i = 0; i < sc->base.custom_count; i++) {
        dd_report_custom_t *m = &out->custom[out->custom_count++];

        (void)snprintf(m->name, sizeof(m->name), "%s", sc->base.custom[i].name);
    }
    for (i = 0; g != NULL && i < g->phase_count; i++) {
        const dd_scenario_metrics_t *pm = &g->phases[i].metrics;

        for (j = 0; covers(&g->phases[i], t_s) && j < pm->custom_count; j++) {
            size_t k;

            for (k = 0; k < out->custom_count; k++) {
                if (strcmp(out->custom[k].name, pm->custom[j].name) == 0) {
                    break;
                }
            }
            if (k == out->custom_count) {
                (void)snprintf(out->custom[out->custom_count++].name, sizeof(out->custom[0].name),
                               "%s", pm->custom[j].name);
            }
        }
    }
    for (i = 0; i < out->custom_count; i++) {
        dd_report_custom_t *m = &out->custom[i];
        dd_dist_t dist = {DD_DIST_CONSTANT, 0, 0};
        double scale = 1.0;

        for (j = 0; j < sc->base.custom_count; j++) {
            if (strcmp(sc->base.custom[j].name, m->name) == 0) {
                dist = sc->base.custom[j].dist;
            }
        }
        for (j = 0; g != NULL && j < g->phase_count; j++) {
            const dd_scenario_metrics_t *pm = &g->phases[j].metrics;
            size_t k;

            for (k = 0; covers(&g->phases[j], t_s) && k < pm->custom_count; k++) {
                if (strcmp(pm->custom[k].name, m->name) != 0) {
                    continue;
                }
                if (pm->custom[k].dist.kind != DD_DIST_NONE) {
                    dist = pm->custom[k].dist;
                    scale = 1.0;
                } else {
                    scale = pm->custom[k].scale;
                }
            }
        }
        m->kind = DD_CUSTOM_NUMBER;
        /* Two decimals, like the gauges devices usually send. */
        m->number = round(dd_scenario_draw(&dist, rng) * scale * 100.0) / 100.0;
    }
    out->has_custom_metrics = true;
    return DD_SCENARIO_OK;
}

dd_scenario_status_t dd_scenario_report(const dd_scenario_t *sc, uint32_t index, double t_s,
                                        uint64_t *rng, uint64_t report_id, dd_report_t *out)
{
    int gi;
    const dd_scenario_group_t *g;
    uint64_t *nets[DD_SCN_NET_COUNT];
    dd_scenario_status_t st;
    int m;

    if (sc == NULL || rng == NULL || out == NULL || report_id == 0 || index >= sc->devices) {
        return DD_SCENARIO_BAD_PARAMETER;
    }
    gi = dd_scenario_group_of(sc, index);
    g = gi >= 0 ? &sc->groups[gi] : NULL;
    out->report_id = report_id;
    (void)snprintf(out->version, sizeof(out->version), "1.0");
    out->has_metrics = true;
    out->net.present = true;
    out->net.has_bytes_in = out->net.has_bytes_out = true;
    out->net.has_packets_in = out->net.has_packets_out = true;
    nets[DD_SCN_BYTES_IN] = &out->net.bytes_in;
    nets[DD_SCN_BYTES_OUT] = &out->net.bytes_out;
    nets[DD_SCN_PACKETS_IN] = &out->net.packets_in;
    nets[DD_SCN_PACKETS_OUT] = &out->net.packets_out;
    for (m = 0; m < DD_SCN_NET_COUNT; m++) {
        dd_dist_t dist;
        double scale;

        effective_net(sc, g, t_s, m, &dist, &scale);
        *nets[m] = counter(&dist, scale, rng);
    }
    st = fill_ports(&sc->base.tcp_ports, g, t_s, true, &out->tcp_ports);
    if (st == DD_SCENARIO_OK) {
        st = fill_ports(&sc->base.udp_ports, g, t_s, false, &out->udp_ports);
    }
    if (st == DD_SCENARIO_OK) {
        st = fill_conns(sc, g, t_s, rng, &out->tcp_conns);
    }
    if (st == DD_SCENARIO_OK) {
        st = fill_custom(sc, g, t_s, rng, out);
    }
    if (st != DD_SCENARIO_OK) {
        dd_report_free(out);
    }
    return st;
}

size_t dd_scenario_payload_size(const dd_scenario_t *sc, uint32_t index, double t_s)
{
    int gi = dd_scenario_group_of(sc, index);
    size_t size = sc->telemetry_payload_size;
    size_t i;

    for (i = 0; gi >= 0 && i < sc->groups[gi].phase_count; i++) {
        const dd_scenario_phase_t *ph = &sc->groups[gi].phases[i];

        if (covers(ph, t_s) && ph->has_payload_size) {
            size = ph->payload_size;
        }
    }
    return size;
}

double dd_scenario_telemetry_interval_s(const dd_scenario_t *sc, uint32_t index, double t_s)
{
    int gi = dd_scenario_group_of(sc, index);
    double interval = sc->telemetry_interval_s;
    size_t i;

    for (i = 0; gi >= 0 && i < sc->groups[gi].phase_count; i++) {
        const dd_scenario_phase_t *ph = &sc->groups[gi].phases[i];

        if (covers(ph, t_s) && ph->telemetry_interval_s > 0) {
            interval = ph->telemetry_interval_s;
        }
    }
    return interval;
}

double dd_scenario_telemetry_first_s(const dd_scenario_t *sc, uint32_t index)
{
    return sc->telemetry_interval_s * (double)index / (double)sc->devices;
}

double dd_scenario_telemetry_next_s(const dd_scenario_t *sc, uint32_t index, double t_s)
{
    return t_s + dd_scenario_telemetry_interval_s(sc, index, t_s);
}

bool dd_scenario_cloud_rates(const dd_scenario_t *sc, uint32_t index, double t_s,
                             dd_scenario_cloud_t *out)
{
    int gi = dd_scenario_group_of(sc, index);
    bool found = false;
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; gi >= 0 && i < sc->groups[gi].phase_count; i++) {
        const dd_scenario_phase_t *ph = &sc->groups[gi].phases[i];

        if (covers(ph, t_s) && ph->has_cloud) {
            *out = ph->cloud;
            found = true;
        }
    }
    return found;
}

bool dd_scenario_has_cloud(const dd_scenario_t *sc)
{
    size_t g;
    size_t i;

    for (g = 0; g < sc->group_count; g++) {
        for (i = 0; i < sc->groups[g].phase_count; i++) {
            if (sc->groups[g].phases[i].has_cloud) {
                return true;
            }
        }
    }
    return false;
}

dd_scenario_status_t dd_scenario_telemetry_topic(const dd_scenario_t *sc, const char *thing,
                                                 char *buf, size_t len)
{
    const char *mark;
    int n;

    if (sc == NULL || thing == NULL || buf == NULL) {
        return DD_SCENARIO_BAD_PARAMETER;
    }
    mark = strstr(sc->telemetry_topic, "{thing}");
    if (mark == NULL) {
        n = snprintf(buf, len, "%s", sc->telemetry_topic);
    } else {
        n = snprintf(buf, len, "%.*s%s%s", (int)(mark - sc->telemetry_topic), sc->telemetry_topic,
                     thing, mark + 7);
    }
    return (n < 0 || (size_t)n >= len) ? DD_SCENARIO_BAD_PARAMETER : DD_SCENARIO_OK;
}

const char *dd_scenario_strerror(dd_scenario_status_t status)
{
    switch (status) {
    case DD_SCENARIO_OK: return "ok";
    case DD_SCENARIO_BAD_PARAMETER: return "bad parameter";
    case DD_SCENARIO_INVALID: return "invalid scenario";
    case DD_SCENARIO_IO_ERROR: return "scenario file unreadable";
    case DD_SCENARIO_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
