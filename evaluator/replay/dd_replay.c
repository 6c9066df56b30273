#define _GNU_SOURCE /* timegm */
#include "dd_replay.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dd_engine.h"
#include "dd_json.h"
#include "dd_linetree.h"
#include "dd_map.h"
#include "dd_report.h"
#include "dd_shapes.h"
#include "dd_window.h"

/* ------------------------------------------------------------------ registry from things.json */

typedef struct reg_thing {
    char *name;
    size_t ngroups;
    char **groups;
} reg_thing_t;

typedef struct reg_group {
    char *name;
    char *parent;
} reg_group_t;

typedef struct registry {
    reg_thing_t *things;
    size_t nthings;
    reg_group_t *groups;
    size_t ngroups;
} registry_t;

static void registry_free(registry_t *r)
{
    size_t i;
    size_t j;

    for (i = 0; i < r->nthings; i++) {
        for (j = 0; j < r->things[i].ngroups; j++) {
            free(r->things[i].groups[j]);
        }
        free(r->things[i].groups);
        free(r->things[i].name);
    }
    for (i = 0; i < r->ngroups; i++) {
        free(r->groups[i].name);
        free(r->groups[i].parent);
    }
    free(r->things);
    free(r->groups);
    memset(r, 0, sizeof(*r));
}

static bool registry_parse(registry_t *r, const char *text, size_t len, FILE *err, const char *name)
{
    cJSON *root = NULL;
    dd_json_error_t jerr;
    dd_json_status_t js = dd_json_parse(text, len, 0, &root, &jerr);
    const cJSON *things = cJSON_GetObjectItemCaseSensitive(root, "things");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "thingGroups");
    const cJSON *it;
    bool ok = cJSON_IsObject(root) && (things == NULL || cJSON_IsArray(things)) &&
              (groups == NULL || cJSON_IsArray(groups));

    memset(r, 0, sizeof(*r));
    if (ok) {
        r->things = calloc((size_t)cJSON_GetArraySize(things) + 1, sizeof(reg_thing_t));
        r->groups = calloc((size_t)cJSON_GetArraySize(groups) + 1, sizeof(reg_group_t));
        ok = r->things != NULL && r->groups != NULL;
    }
    if (!ok) {
        things = NULL;
    }
    cJSON_ArrayForEach (it, things) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "thingName");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "thingGroups");
        const cJSON *gi;
        reg_thing_t *t = &r->things[r->nthings];
        if (!cJSON_IsString(n) || !dd_name_valid(DD_NAME_THING, n->valuestring) ||
            (g != NULL && !cJSON_IsArray(g))) {
            ok = false;
            break;
        }
        t->name = strdup(n->valuestring);
        t->groups = calloc((size_t)cJSON_GetArraySize(g) + 1, sizeof(char *));
        r->nthings++;
        if (t->name == NULL || t->groups == NULL) {
            ok = false;
            break;
        }
        cJSON_ArrayForEach (gi, g) {
            if (!cJSON_IsString(gi) || (t->groups[t->ngroups] = strdup(gi->valuestring)) == NULL) {
                ok = false;
                break;
            }
            t->ngroups++;
        }
    }
    if (!ok) {
        groups = NULL;
    }
    cJSON_ArrayForEach (it, groups) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "thingGroupName");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "parentGroupName");
        reg_group_t *g = &r->groups[r->ngroups];
        if (!cJSON_IsString(n) || (p != NULL && !cJSON_IsString(p))) {
            ok = false;
            break;
        }
        g->name = strdup(n->valuestring);
        g->parent = p != NULL ? strdup(p->valuestring) : NULL;
        r->ngroups++;
        if (g->name == NULL) {
            ok = false;
            break;
        }
    }
    cJSON_Delete(root);
    if (js != DD_JSON_OK) {
        fprintf(err, "%s: not valid JSON: %s\n", name != NULL ? name : "things", jerr.message);
    } else if (!ok) {
        fprintf(err,
                "%s: not a things file ({\"things\":[{\"thingName\":...,\"thingGroups\":[...]}],"
                " \"thingGroups\":[{\"thingGroupName\":...,\"parentGroupName\":...}]})\n",
                name != NULL ? name : "things");
        registry_free(r);
    }
    return ok;
}

static int registry_lookup(void *ctx, const char *thing, bool *registered, dd_engine_group_fn add,
                           void *add_ctx)
{
    const registry_t *r = ctx;
    size_t i;
    size_t j;

    *registered = false;
    for (i = 0; i < r->nthings; i++) {
        if (strcmp(r->things[i].name, thing) != 0) {
            continue;
        }
        *registered = true;
        for (j = 0; j < r->things[i].ngroups; j++) {
            const char *g = r->things[i].groups[j];
            int depth;
            /* The group and its ancestors (AWS: at most 7 levels). */
            for (depth = 0; g != NULL && depth < 8; depth++) {
                size_t k;
                const char *parent = NULL;
                (void)add(add_ctx, g);
                for (k = 0; k < r->ngroups; k++) {
                    if (strcmp(r->groups[k].name, g) == 0) {
                        parent = r->groups[k].parent;
                    }
                }
                g = parent;
            }
        }
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ summary bookkeeping */

typedef struct thing_mark {
    char *thing;
    int64_t t;            /* first datum (metrics) / first in-alarm (behaviors) */
    bool first_was_alarm; /* behaviors: first event of this thing was in-alarm early */
    bool seen_event;
    bool in_alarm;
} thing_mark_t;

typedef struct marks {
    thing_mark_t *v;
    size_t n;
    size_t cap;
    dd_map_t index; /* thing -> position + 1: a datum per report must not scan every thing */
} marks_t;

typedef struct bstat {
    const char *profile;
    const dd_behavior_t *b;
    size_t in_alarm;
    size_t cleared;
    size_t invalidated;
    marks_t things;
    char *text; /* the behavior's JSON text, printed at its first event */
} bstat_t;

typedef struct metric_marks {
    char *metric;
    marks_t things;
    /* The things already marked, by the address of the engine's copy of their name (the same
     * for every datum, dd_engine.h): a datum comes with every report, and hashing and comparing
     * the name in the marks' map, cold in the caches, was a third of the engine thread's CPU at
     * 10,000 things. Open addressing, at most half full. */
    const char **seen;
    size_t seen_cap;
    size_t seen_n;
} metric_marks_t;

typedef struct replay {
    FILE *out;
    FILE *dp_out; /* --datapoints, or NULL */
    bool dp_csv;
    size_t datapoints;
    const dd_replay_options_t *opt;
    bool time_ms;
    dd_engine_t *engine;
    dd_linetree_t *lt; /* the lines' fast parser */
    bstat_t *bs;
    size_t nbs;
    metric_marks_t *mm;
    size_t nmm;
    size_t mm_cap;
    /* The engine's metric names seen by on_datum, by address, and their mm: the profiles
     * (and so these names) live as long as the replay, and a datum per report and metric
     * must not compare names. */
    const char *mm_name[8];
    size_t mm_at[8];
    size_t nmm_name;
    size_t events;
    char *evbuf; /* an event's line (dd_shapes_violation_event_print) */
    size_t evbuf_cap;
    bool oom;
} replay_t;

static thing_mark_t *mark_get(marks_t *m, const char *thing, bool *created)
{
    void *found = dd_map_get(&m->index, thing);

    *created = false;
    if (found != NULL) {
        return &m->v[(size_t)(uintptr_t)found - 1];
    }
    if (m->n == m->cap) {
        size_t cap = m->cap == 0 ? 8 : m->cap * 2;
        thing_mark_t *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        m->v = v;
        m->cap = cap;
    }
    memset(&m->v[m->n], 0, sizeof(m->v[0]));
    m->v[m->n].thing = strdup(thing);
    if (m->v[m->n].thing == NULL) {
        return NULL;
    }
    if (dd_map_put(&m->index, thing, (void *)(uintptr_t)(m->n + 1), NULL) != DD_MAP_OK) {
        free(m->v[m->n].thing);
        return NULL;
    }
    *created = true;
    return &m->v[m->n++];
}

static void marks_free(marks_t *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        free(m->v[i].thing);
    }
    free(m->v);
    dd_map_destroy(&m->index);
    memset(m, 0, sizeof(*m));
}

static size_t seen_slot(const char *thing, size_t mask)
{
    uint64_t v = (uint64_t)(uintptr_t)thing;

    v = (v ^ (v >> 29)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(v >> 32) & mask;
}

/* True when @p thing is in the set; else adds it (false also when out of memory: *oom). */
static bool seen_check_add(metric_marks_t *mm, const char *thing, bool *oom)
{
    size_t mask;
    size_t i;

    if (mm->seen_cap != 0) {
        mask = mm->seen_cap - 1;
        for (i = seen_slot(thing, mask); mm->seen[i] != NULL; i = (i + 1) & mask) {
            if (mm->seen[i] == thing) {
                return true;
            }
        }
    }
    if ((mm->seen_n + 1) * 2 > mm->seen_cap) {
        size_t cap = mm->seen_cap == 0 ? 1024 : mm->seen_cap * 2;
        const char **v = calloc(cap, sizeof(*v));
        size_t j;
        if (v == NULL) {
            *oom = true;
            return false;
        }
        for (j = 0; j < mm->seen_cap; j++) {
            if (mm->seen[j] != NULL) {
                for (i = seen_slot(mm->seen[j], cap - 1); v[i] != NULL; i = (i + 1) & (cap - 1)) {
                }
                v[i] = mm->seen[j];
            }
        }
        free(mm->seen);
        mm->seen = v;
        mm->seen_cap = cap;
    }
    mask = mm->seen_cap - 1;
    for (i = seen_slot(thing, mask); mm->seen[i] != NULL; i = (i + 1) & mask) {
    }
    mm->seen[i] = thing;
    mm->seen_n++;
    return false;
}

static metric_marks_t *metric_get(replay_t *r, const char *metric)
{
    size_t i;

    for (i = 0; i < r->nmm; i++) {
        if (strcmp(r->mm[i].metric, metric) == 0) {
            return &r->mm[i];
        }
    }
    if (r->nmm == r->mm_cap) {
        size_t cap = r->mm_cap == 0 ? 8 : r->mm_cap * 2;
        metric_marks_t *v = realloc(r->mm, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        r->mm = v;
        r->mm_cap = cap;
    }
    memset(&r->mm[r->nmm], 0, sizeof(r->mm[0]));
    r->mm[r->nmm].metric = strdup(metric);
    return r->mm[r->nmm].metric != NULL ? &r->mm[r->nmm++] : NULL;
}

static bstat_t *bstat_get(replay_t *r, const char *profile, const dd_behavior_t *b)
{
    const char *behavior = b->name;
    size_t i;

    /* Events carry the engine's behaviors, the very ones bs points to (add_profiles). */
    for (i = 0; i < r->nbs; i++) {
        if (r->bs[i].b == b) {
            return &r->bs[i];
        }
    }
    for (i = 0; i < r->nbs; i++) {
        if (strcmp(r->bs[i].profile, profile) == 0 && strcmp(r->bs[i].b->name, behavior) == 0) {
            return &r->bs[i];
        }
    }
    return NULL;
}

static int64_t first_datum(replay_t *r, const char *metric, const char *thing)
{
    size_t i;

    for (i = 0; i < r->nmm; i++) {
        if (strcmp(r->mm[i].metric, metric) != 0) {
            continue;
        }
        /* The index, not a scan: every thing's first alarm asks, and a scan made a fleet's
         * first alarms quadratic in its size. */
        void *found = dd_map_get(&r->mm[i].things.index, thing);
        return found != NULL ? r->mm[i].things.v[(size_t)(uintptr_t)found - 1].t : -1;
    }
    return -1;
}

/* ------------------------------------------------------------------ sink */

/* A time as violationEventTime is printed: epoch seconds, or ms with --time-ms. */
static double print_time(const replay_t *r, int64_t ms)
{
    return r->time_ms ? (double)ms : (double)ms / 1000.0;
}

/* One CSV field: quoted (with doubled quotes) when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *text, bool last)
{
    const char *c;

    if (strpbrk(text, ",\"\n") == NULL) {
        fputs(text, f);
    } else {
        fputc('"', f);
        for (c = text; *c != '\0'; c++) {
            if (*c == '"') {
                fputc('"', f);
            }
            fputc(*c, f);
        }
        fputc('"', f);
    }
    fputc(last ? '\n' : ',', f);
}

/* The threshold a datapoint met or missed: the behavior's static value or the fleet's. */
static cJSON *datapoint_threshold(const dd_datapoint_record_t *d)
{
    const dd_behavior_criteria_t *c = &d->behavior->criteria;
    cJSON *t = cJSON_CreateObject();

    if (t == NULL) {
        return NULL;
    }
    if (d->statistical) {
        if (cJSON_AddStringToObject(t, "statistic", dd_profile_statistic_name(c->statistic)) ==
                NULL ||
            cJSON_AddNumberToObject(t, "value", d->threshold) == NULL ||
            cJSON_AddNumberToObject(t, "devices", (double)d->fleet_size) == NULL) {
            cJSON_Delete(t);
            return NULL;
        }
    } else if (c->has_value) {
        cJSON *v = dd_profile_metric_value_to_json(&c->value);
        if (v == NULL) {
            cJSON_Delete(t);
            return NULL;
        }
        cJSON_AddItemToObject(t, "value", v);
    }
    return t;
}

static cJSON *datapoint_json(const replay_t *r, const dd_datapoint_record_t *d)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *value = dd_shapes_metric_value(&d->value);
    cJSON *threshold = datapoint_threshold(d);
    bool ok = j != NULL && value != NULL && threshold != NULL;

    ok = ok && cJSON_AddStringToObject(j, "thingName", d->thing) != NULL &&
         cJSON_AddStringToObject(j, "securityProfileName", d->profile) != NULL &&
         cJSON_AddStringToObject(j, "behaviorName", d->behavior->name) != NULL &&
         cJSON_AddStringToObject(j, "metric", d->behavior->metric) != NULL &&
         cJSON_AddNumberToObject(j, "windowStart", print_time(r, d->window_start_ms)) != NULL &&
         cJSON_AddNumberToObject(j, "windowEnd", print_time(r, d->window_end_ms)) != NULL;
    if (ok) {
        cJSON_AddItemToObject(j, "metricValue", value);
        cJSON_AddItemToObject(j, "threshold", threshold);
        value = NULL;
        threshold = NULL;
        ok = cJSON_AddStringToObject(j, "verdict", d->violating ? "violating" : "conforming") !=
                 NULL &&
             cJSON_AddStringToObject(j, "alarmState",
                                     d->alarm_state == DD_ALARM_IN_ALARM ? "IN_ALARM" : "NORMAL") !=
                 NULL;
    }
    cJSON_Delete(value);
    cJSON_Delete(threshold);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* A member of @p obj as CSV text: a number or string as is, anything else as JSON. */
static char *csv_text(const cJSON *item)
{
    char buf[64];

    if (item == NULL) {
        return strdup("");
    }
    if (cJSON_IsString(item)) {
        return strdup(item->valuestring);
    }
    if (cJSON_IsNumber(item)) {
        (void)snprintf(buf, sizeof(buf), "%.17g", item->valuedouble);
        return strdup(buf);
    }
    if (cJSON_IsObject(item) && cJSON_GetArraySize(item) == 1 &&
        (cJSON_IsNumber(item->child) || cJSON_IsString(item->child))) {
        return csv_text(item->child); /* {"count":5} -> 5 */
    }
    return cJSON_PrintUnformatted(item);
}

static const char *const DATAPOINT_CSV_COLUMNS[] = {
    "thingName",   "securityProfileName", "behaviorName", "metric",
    "windowStart", "windowEnd",           "metricValue",  "threshold",
    "statistic",   "fleetDevices",        "verdict",      "alarmState",
};

static void write_datapoint_csv(FILE *f, const cJSON *j)
{
    const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(j, "threshold");
    size_t n = sizeof(DATAPOINT_CSV_COLUMNS) / sizeof(DATAPOINT_CSV_COLUMNS[0]);
    size_t i;

    for (i = 0; i < n; i++) {
        const char *col = DATAPOINT_CSV_COLUMNS[i];
        const cJSON *item;
        char *text;

        if (strcmp(col, "threshold") == 0) {
            item = cJSON_GetObjectItemCaseSensitive(threshold, "value");
        } else if (strcmp(col, "statistic") == 0) {
            item = cJSON_GetObjectItemCaseSensitive(threshold, "statistic");
        } else if (strcmp(col, "fleetDevices") == 0) {
            item = cJSON_GetObjectItemCaseSensitive(threshold, "devices");
        } else {
            item = cJSON_GetObjectItemCaseSensitive(j, col);
        }
        text = csv_text(item);
        csv_field(f, text != NULL ? text : "", i + 1 == n);
        free(text);
    }
}

/* Prints @p j as one line of @p f; false when out of memory. */
static bool put_json_line(FILE *f, const cJSON *j)
{
    char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;

    if (text == NULL) {
        return false;
    }
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return true;
}

static void on_datapoint(void *ctx, const dd_datapoint_record_t *d)
{
    replay_t *r = ctx;
    cJSON *j;

    if (r->opt->datapoint_hook != NULL) {
        r->opt->datapoint_hook(r->opt->hook_ctx, d);
    }
    if (r->dp_out == NULL ||
        (r->opt->datapoints_thing != NULL && strcmp(r->opt->datapoints_thing, d->thing) != 0) ||
        (r->opt->datapoints_behavior != NULL &&
         strcmp(r->opt->datapoints_behavior, d->behavior->name) != 0) ||
        d->window_end_ms < r->opt->datapoints_from_ms ||
        (r->opt->datapoints_to_ms > 0 && d->window_end_ms >= r->opt->datapoints_to_ms)) {
        return;
    }
    j = datapoint_json(r, d);
    if (j == NULL) {
        r->oom = true;
        return;
    }
    if (r->dp_csv) {
        write_datapoint_csv(r->dp_out, j);
    } else {
        r->oom = r->oom || !put_json_line(r->dp_out, j);
    }
    cJSON_Delete(j);
    r->datapoints++;
}

/* Writes @p ev's line with @p b's behavior text printed once (an event's tree and its
 * behavior's numbers were most of the events' cost); false when it could not. */
static bool print_event(replay_t *r, bstat_t *b, const dd_violation_event_t *ev)
{
    size_t n;

    if (b == NULL) {
        return false;
    }
    if (b->text == NULL) {
        size_t need;
        b->text = dd_shapes_behavior_text(b->b);
        if (b->text == NULL) {
            return false;
        }
        /* Room for the rest of the event: names, id, value, time (escaped). */
        need = strlen(b->text) + 4096;
        if (need > r->evbuf_cap) {
            char *buf = realloc(r->evbuf, need);
            if (buf == NULL) {
                return false;
            }
            r->evbuf = buf;
            r->evbuf_cap = need;
        }
    }
    n = dd_shapes_violation_event_print(ev, r->time_ms, b->text, r->evbuf, r->evbuf_cap);
    if (n == 0) {
        return false;
    }
    r->evbuf[n] = '\n';
    (void)fwrite(r->evbuf, 1, n + 1, r->out);
    return true;
}

static void on_event(void *ctx, const dd_violation_event_t *ev)
{
    replay_t *r = ctx;
    bstat_t *b;
    cJSON *j;

    if (r->opt->event_hook != NULL) {
        r->opt->event_hook(r->opt->hook_ctx, ev);
        r->events++;
        return;
    }
    b = bstat_get(r, ev->profile, ev->behavior);
    if (!print_event(r, b, ev)) {
        /* No cached behavior, or a line longer than the buffer: the tree. */
        j = dd_shapes_violation_event(ev, r->time_ms);
        bool put = put_json_line(r->out, j);
        cJSON_Delete(j);
        if (!put) {
            r->oom = true;
            return;
        }
    }
    r->events++;
    if (b != NULL) {
        bool created;
        thing_mark_t *m = mark_get(&b->things, ev->thing, &created);
        if (m == NULL) {
            r->oom = true;
            return;
        }
        if (ev->type == DD_ALARM_RAISED) {
            b->in_alarm++;
            m->in_alarm = true;
            if (!m->seen_event) {
                const dd_behavior_criteria_t *c = &b->b->criteria;
                int64_t first = first_datum(r, b->b->metric, ev->thing);
                int64_t k = c->has_to_alarm ? c->to_alarm : 1;
                int64_t d = c->has_duration && c->duration_s > 300 ? c->duration_s : 300;
                m->first_was_alarm = first >= 0 && ev->time_ms - first <= k * d * 1000;
            }
        } else if (ev->type == DD_ALARM_CLEARED) {
            b->cleared++;
            m->in_alarm = false;
        } else if (ev->type == DD_ALARM_INVALIDATED) {
            b->invalidated++;
            m->in_alarm = false;
        }
        m->seen_event = true;
    }
}

static void on_datum(void *ctx, const dd_metric_datum_t *d)
{
    replay_t *r = ctx;
    metric_marks_t *mm = NULL;
    bool created = false;
    bool oom = false;
    thing_mark_t *m;
    size_t i;

    for (i = 0; i < r->nmm_name; i++) {
        if (r->mm_name[i] == d->metric) {
            mm = &r->mm[r->mm_at[i]];
            break;
        }
    }
    if (mm == NULL) {
        mm = metric_get(r, d->metric);
        if (mm == NULL) {
            r->oom = true;
            return;
        }
        if (r->nmm_name < sizeof(r->mm_name) / sizeof(r->mm_name[0])) {
            r->mm_name[r->nmm_name] = d->metric;
            r->mm_at[r->nmm_name] = (size_t)(mm - r->mm);
            r->nmm_name++;
        }
    }
    if (seen_check_add(mm, d->thing, &oom)) {
        return; /* only a thing's first datum is kept */
    }
    m = oom ? NULL : mark_get(&mm->things, d->thing, &created);
    if (m == NULL) {
        r->oom = true;
        return;
    }
    if (created) {
        m->t = d->time_ms;
    }
}

/* ------------------------------------------------------------------ summary */

static dd_op_t inverse_op(dd_op_t op)
{
    switch (op) {
    case DD_OP_LESS_THAN: return DD_OP_GREATER_THAN_EQUALS;
    case DD_OP_LESS_THAN_EQUALS: return DD_OP_GREATER_THAN;
    case DD_OP_GREATER_THAN: return DD_OP_LESS_THAN_EQUALS;
    case DD_OP_GREATER_THAN_EQUALS: return DD_OP_LESS_THAN;
    case DD_OP_IN_CIDR_SET: return DD_OP_NOT_IN_CIDR_SET;
    case DD_OP_NOT_IN_CIDR_SET: return DD_OP_IN_CIDR_SET;
    case DD_OP_IN_PORT_SET: return DD_OP_NOT_IN_PORT_SET;
    case DD_OP_NOT_IN_PORT_SET: return DD_OP_IN_PORT_SET;
    case DD_OP_IN_SET: return DD_OP_NOT_IN_SET;
    case DD_OP_NOT_IN_SET: return DD_OP_IN_SET;
    default: break;
    }
    return DD_OP_NONE;
}

static void threshold_text(const dd_behavior_criteria_t *c, char *buf, size_t len)
{
    if (c->statistic != DD_STAT_NONE) {
        (void)snprintf(buf, len, "%s", dd_profile_statistic_name(c->statistic));
    } else if (c->value.members & DD_MV_COUNT) {
        (void)snprintf(buf, len, "%lld", (long long)c->value.count);
    } else if (c->value.members & DD_MV_NUMBER) {
        (void)snprintf(buf, len, "%g", c->value.number);
    } else {
        (void)snprintf(buf, len, "the same %s",
                       dd_metric_value_member(c->value.members & DD_MV_PORTS   ? DD_VALUE_PORTS
                                              : c->value.members & DD_MV_CIDRS ? DD_VALUE_CIDRS
                                              : c->value.members & DD_MV_NUMBERS
                                                  ? DD_VALUE_NUMBERS
                                                  : DD_VALUE_STRINGS));
    }
}

typedef struct model_find {
    const char *behavior;
    dd_training_summary_t found;
    bool ok;
} model_find_t;

static int model_cb(void *ctx, const dd_training_summary_t *sm)
{
    model_find_t *f = ctx;

    if (strcmp(sm->behavior, f->behavior) == 0) {
        f->found = *sm;
        f->ok = true;
        return 1;
    }
    return 0;
}

/* An ML behavior's model as GetBehaviorModelTrainingSummaries would show it at the end. */
static void add_model_summary(replay_t *r, const bstat_t *b, cJSON *s)
{
    model_find_t f;
    cJSON *m;

    memset(&f, 0, sizeof(f));
    f.behavior = b->b->name;
    if (dd_engine_training_summaries(r->engine, b->profile, model_cb, &f) != DD_ENGINE_OK ||
        !f.ok || (m = cJSON_AddObjectToObject(s, "model")) == NULL) {
        return;
    }
    cJSON_AddStringToObject(m, "modelStatus", f.found.model_status);
    cJSON_AddNumberToObject(m, "datapointsCollected", (double)f.found.datapoints);
    if (f.found.last_model_refresh_ms > 0) {
        cJSON_AddNumberToObject(m, "lastModelRefreshDate",
                                print_time(r, f.found.last_model_refresh_ms));
    }
}

static void print_summary(replay_t *r)
{
    size_t i;
    size_t j;

    for (i = 0; i < r->nbs; i++) {
        bstat_t *b = &r->bs[i];
        const dd_behavior_criteria_t *c = &b->b->criteria;
        size_t with_data = 0;
        size_t from_first = 0;
        size_t at_end = 0;
        cJSON *root = cJSON_CreateObject();
        cJSON *s = cJSON_AddObjectToObject(root, "summary");

        for (j = 0; j < r->nmm; j++) {
            if (strcmp(r->mm[j].metric, b->b->metric) == 0) {
                with_data = r->mm[j].things.n;
            }
        }
        for (j = 0; j < b->things.n; j++) {
            from_first += b->things.v[j].first_was_alarm ? 1 : 0;
            at_end += b->things.v[j].in_alarm ? 1 : 0;
        }
        if (s == NULL) {
            cJSON_Delete(root);
            r->oom = true;
            return;
        }
        cJSON_AddStringToObject(s, "securityProfileName", b->profile);
        cJSON_AddStringToObject(s, "behaviorName", b->b->name);
        cJSON_AddStringToObject(s, "metric", b->b->metric);
        cJSON_AddStringToObject(s, "criteriaType",
                                dd_criteria_type_name(dd_criteria_type_of(b->b)));
        if (c->has_operator) {
            cJSON_AddStringToObject(s, "comparisonOperator", dd_metric_op_name(c->op));
        }
        cJSON_AddNumberToObject(s, "thingsWithData", (double)with_data);
        cJSON_AddNumberToObject(s, "inAlarmEvents", (double)b->in_alarm);
        cJSON_AddNumberToObject(s, "alarmClearedEvents", (double)b->cleared);
        cJSON_AddNumberToObject(s, "alarmInvalidatedEvents", (double)b->invalidated);
        cJSON_AddNumberToObject(s, "thingsInAlarmAtEnd", (double)at_end);
        cJSON_AddNumberToObject(s, "thingsInAlarmFromFirstDatapoints", (double)from_first);
        if (c->ml != DD_ML_NONE) {
            add_model_summary(r, b, s);
        }
        if (with_data > 0 && from_first * 2 > with_data && c->has_operator) {
            char warn[640];
            char thr[64];
            threshold_text(c, thr, sizeof(thr));
            (void)snprintf(warn, sizeof(warn),
                           "possibly inverted operator: %s is in alarm for %zu of %zu things from "
                           "their first datapoints. Criteria describe NORMAL behaviour: a "
                           "datapoint that does not meet them is a violation. To alarm when %s "
                           "is %s %s, write %s %s.",
                           b->b->name, from_first, with_data, b->b->metric,
                           dd_metric_op_name(c->op), thr, dd_metric_op_name(inverse_op(c->op)),
                           thr);
            cJSON_AddStringToObject(s, "warning", warn);
        }
        bool put = put_json_line(r->out, root);
        cJSON_Delete(root);
        if (!put) {
            r->oom = true;
            return;
        }
    }
}

/* ------------------------------------------------------------------ input lines */

static bool parse_iso_time(const char *text, int64_t *out)
{
    {
        struct tm tm;
        int ms = 0;
        char frac[16] = "";
        char z = 0;
        int n;
        memset(&tm, 0, sizeof(tm));
        n = sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%15[.0-9]%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac, &z);
        if (n == 7 && frac[0] == 'Z') {
            z = 'Z';
        }
        if (n < 6) {
            return false;
        }
        if (n == 6) {
            n = sscanf(text, "%*4d-%*2d-%*2dT%*2d:%*2d:%*2d%c", &z);
            if (n != 1) {
                return false;
            }
        } else if (frac[0] == '.') {
            char digits[4] = "000";
            size_t i;
            for (i = 0; i < 3 && frac[1 + i] >= '0' && frac[1 + i] <= '9'; i++) {
                digits[i] = frac[1 + i];
            }
            ms = atoi(digits);
        }
        if (z != 'Z') {
            return false;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *out = (int64_t)timegm(&tm) * 1000 + ms;
        return *out >= 0;
    }
}

static bool parse_time(const cJSON *t, int64_t *out)
{
    if (cJSON_IsNumber(t)) {
        double v = t->valuedouble;
        if (!isfinite(v) || v < 0 || v != floor(v) || v > 9007199254740992.0) {
            return false;
        }
        *out = (int64_t)v;
        return true;
    }
    return cJSON_IsString(t) && parse_iso_time(t->valuestring, out);
}

bool dd_replay_time_parse(const char *text, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (text == NULL || out == NULL || *text == '\0') {
        return false;
    }
    if (strspn(text, "0123456789") == strlen(text)) {
        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno != 0 || *end != '\0') {
            return false;
        }
        *out = v;
        return true;
    }
    return parse_iso_time(text, out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    size_t i;
    uint8_t *buf;

    if (n % 2 != 0) {
        return NULL;
    }
    buf = malloc(n / 2 + 1);
    for (i = 0; buf != NULL && i < n / 2; i++) {
        int hi = hexval(hex[2 * i]);
        int lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return NULL;
        }
        buf[i] = (uint8_t)(hi * 16 + lo);
    }
    *len = n / 2;
    return buf;
}

/*
 * Finds the members named in @p names (count @p n) of object @p o in one pass over its members,
 * into @p found (NULL when absent or when @p o is no object). The same as a
 * cJSON_GetObjectItemCaseSensitive() per name, because a tree from either of the line's
 * parsers has no duplicate keys; one pass instead of one per name was a tenth of the reader's
 * CPU.
 */
static void members(const cJSON *o, const char *const *names, size_t n, const cJSON **found)
{
    const cJSON *m;
    size_t i;

    for (i = 0; i < n; i++) {
        found[i] = NULL;
    }
    if (!cJSON_IsObject(o)) {
        return;
    }
    for (m = o->child; m != NULL; m = m->next) {
        for (i = 0; i < n; i++) {
            if (m->string != NULL && m->string[0] == names[i][0] &&
                strcmp(m->string, names[i]) == 0) {
                found[i] = m;
                break;
            }
        }
    }
}

static bool parse_event(const cJSON *e, const char *thing, int64_t t, dd_cloud_event_t *ev,
                        char *why, size_t why_len)
{
    static const char *const NAMES[] = {"type",    "topic",      "size",  "sourceIp",
                                        "success", "registered", "repeat"};
    const cJSON *f[7];
    members(e, NAMES, 7, f);
    const cJSON *type = f[0];
    const cJSON *topic = f[1];
    const cJSON *size = f[2];
    const cJSON *ip = f[3];
    const cJSON *ok = f[4];
    const cJSON *reg = f[5];
    const cJSON *rep = f[6];
    static const char *const TYPES[] = {"message-sent", "message-received", "authorization-failure",
                                        "connect", "disconnect"};
    size_t i;

    memset(ev, 0, sizeof(*ev));
    if (!cJSON_IsObject(e) || !cJSON_IsString(type)) {
        (void)snprintf(why, why_len, "event needs a \"type\"");
        return false;
    }
    for (i = 0; i < 5; i++) {
        if (strcmp(type->valuestring, TYPES[i]) == 0) {
            break;
        }
    }
    if (i == 5) {
        (void)snprintf(why, why_len,
                       "unknown event type \"%.40s\" (message-sent, "
                       "message-received, authorization-failure, connect, disconnect)",
                       type->valuestring);
        return false;
    }
    ev->kind = (dd_cloud_kind_t)i;
    ev->thing = thing;
    ev->time_ms = t;
    ev->registered = reg == NULL || cJSON_IsTrue(reg);
    ev->success = ok == NULL || cJSON_IsTrue(ok);
    if (topic != NULL && !cJSON_IsString(topic)) {
        (void)snprintf(why, why_len, "\"topic\" must be a string");
        return false;
    }
    ev->topic = topic != NULL ? topic->valuestring : NULL;
    if (ev->kind == DD_CLOUD_MESSAGE_SENT) {
        if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 4294967295.0) {
            (void)snprintf(why, why_len, "message-sent needs a \"size\" in bytes");
            return false;
        }
        ev->payload_size = (uint32_t)size->valuedouble;
    }
    if ((ev->kind == DD_CLOUD_MESSAGE_SENT || ev->kind == DD_CLOUD_MESSAGE_RECEIVED) &&
        ev->topic == NULL) {
        (void)snprintf(why, why_len, "%s needs a \"topic\"", TYPES[i]);
        return false;
    }
    if (ip != NULL) {
        if (!cJSON_IsString(ip) ||
            dd_ip_parse(ip->valuestring, strlen(ip->valuestring), &ev->source_ip) != DD_IP_OK) {
            (void)snprintf(why, why_len, "\"sourceIp\" is not an IP address");
            return false;
        }
        ev->has_source_ip = true;
    }
    if (rep != NULL) {
        if (!cJSON_IsNumber(rep) || rep->valuedouble < 1 || rep->valuedouble > 1000000) {
            (void)snprintf(why, why_len, "\"repeat\" must be 1 to 1000000");
            return false;
        }
        ev->repeat = (uint32_t)rep->valuedouble;
    }
    return true;
}

/* ------------------------------------------------------------------ records */

/*
 * A line is handled in two stages so that any thread can do the first while the engine
 * runs the second (dd_replay.h, "Threads"): prepare_line() parses and validates everything
 * that depends on the line alone into a rec_t; apply_rec() does what depends on the lines
 * before it (the time order) and the engine. The checks keep the order the single-stage code
 * had, so a skipped line gets the same reason: a reason found before the time was read is
 * given at once; one found after it only once the time is known to be in order.
 */

#define NO_TEXT ((size_t)-1)

typedef enum rec_kind {
    REC_ERROR, /* skipped: why holds the reason */
    REC_TICK,
    REC_EVENT,
    REC_REPORT,
    REC_APPLIED /* a report applied and freed */
} rec_kind_t;

typedef struct rec {
    size_t line; /* 1-based line number, for messages */
    rec_kind_t kind;
    bool timed;          /* t is the line's time: the time order is checked before the reason */
    int64_t t;           /* the line's time when timed */
    size_t why;          /* REC_ERROR: offset of the reason in the batch's text */
    size_t thing;        /* REC_EVENT / REC_REPORT: offset of the thing name */
    size_t topic;        /* REC_EVENT: offset of the topic, NO_TEXT when none */
    dd_cloud_event_t ev; /* REC_EVENT; its strings are pointed into the text when applied */
    dd_report_t rep;     /* REC_REPORT; owned by the record, freed once applied */
} rec_t;

/* Records prepared together, with the texts they point into (offsets: the text grows). */
typedef struct batch {
    rec_t *v;
    size_t n;
    size_t cap;
    char *text;
    size_t tlen;
    size_t tcap;
    char *chunk; /* several threads: the chunk of the stream the records come from */
    size_t chunk_len;
    size_t chunk_cap;
    size_t lines; /* lines in the chunk: its records' numbers count from its first */
    bool eof;     /* the stream ended (or reading it failed) after this batch */
    bool oom;     /* preparing failed for memory: nothing after the batch's records is read */
} batch_t;

/* Frees what the batch's records still own and empties it, keeping its memory. */
static void batch_reset(batch_t *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        if (b->v[i].kind == REC_REPORT) {
            dd_report_free(&b->v[i].rep);
        }
    }
    b->n = 0;
    b->tlen = 0;
    b->chunk_len = 0;
    b->lines = 0;
    b->eof = false;
    b->oom = false;
}

static void batch_free(batch_t *b)
{
    batch_reset(b);
    free(b->v);
    free(b->text);
    free(b->chunk);
    memset(b, 0, sizeof(*b));
}

/* Copies @p len bytes and a NUL into the batch's text; NO_TEXT when out of memory. */
static size_t batch_text(batch_t *b, const char *text, size_t len)
{
    size_t at = b->tlen;

    if (b->tcap - b->tlen < len + 1) {
        size_t cap = b->tcap == 0 ? 65536 : b->tcap;
        char *t;
        while (cap - b->tlen < len + 1) {
            cap *= 2;
        }
        t = realloc(b->text, cap);
        if (t == NULL) {
            return NO_TEXT;
        }
        b->text = t;
        b->tcap = cap;
    }
    memcpy(b->text + at, text, len);
    b->text[at + len] = '\0';
    b->tlen += len + 1;
    return at;
}

/* A new, zeroed record at the batch's end; NULL when out of memory. */
static rec_t *batch_add(batch_t *b)
{
    rec_t *rec;

    if (b->n == b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap * 2;
        rec_t *v = realloc(b->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        b->v = v;
        b->cap = cap;
    }
    rec = &b->v[b->n];
    memset(rec, 0, sizeof(*rec));
    return rec;
}

/*
 * Stage one: parses line @p line_no into a record at the end of @p b. Depends on nothing but
 * the line, so it may run ahead of the engine on another thread. False only when out of
 * memory (the record is not added).
 */
static bool prepare_line(dd_linetree_t *lt, const char *line, size_t line_len, size_t line_no,
                         batch_t *b)
{
    rec_t *rec = batch_add(b);
    const cJSON *root = NULL;
    cJSON *owned = NULL;
    dd_json_error_t jerr;
    dd_linetree_report_t fast;
    char why[400];
    bool ok = true;

    if (rec == NULL) {
        return false;
    }
    rec->line = line_no;
    rec->kind = REC_ERROR;
    rec->topic = NO_TEXT;
    /* Most lines are plain reports: decoded without a tree when the fast lane can (it says
     * yes only when the tree path below would give the same record, dd_linetree.h). */
    if (dd_linetree_report(lt, line, line_len, &fast) == DD_LINETREE_OK) {
        rec->kind = REC_REPORT;
        rec->timed = true;
        rec->t = fast.time_ms;
        rec->rep = fast.report;
        rec->thing = batch_text(b, fast.thing, fast.thing_len);
        if (rec->thing == NO_TEXT) {
            dd_report_free(&rec->rep);
            return false;
        }
        b->n++;
        return true;
    }
    why[0] = '\0';
    /* Strict, and over the line's real length: a NUL inside the line must not end it early.
     * The fast parser decides only plain lines; the rest, errors included, get the strict
     * parser's verdict and message (dd_linetree.h). */
    dd_json_status_t js = DD_JSON_OK;
    if (dd_linetree_parse(lt, line, line_len, &root) != DD_LINETREE_OK) {
        js = dd_json_parse(line, line_len, 0, &owned, &jerr);
        root = owned;
    }
    static const char *const NAMES[] = {"thing", "time", "report", "json", "cbor", "event", "tick"};
    const cJSON *f[7];
    members(root, NAMES, 7, f);
    const cJSON *thing = f[0];
    const cJSON *tm = f[1];
    const cJSON *report = f[2];
    const cJSON *json = f[3];
    const cJSON *cbor = f[4];
    const cJSON *event = f[5];
    const cJSON *tick = f[6];
    int kinds = (report != NULL) + (json != NULL) + (cbor != NULL) + (event != NULL) +
                (cJSON_IsTrue(tick) ? 1 : 0);

    rec->timed = js == DD_JSON_OK && cJSON_IsObject(root) && parse_time(tm, &rec->t);
    if (js != DD_JSON_OK) {
        (void)snprintf(why, sizeof(why), "not valid JSON: %s", jerr.message);
    } else if (!cJSON_IsObject(root)) {
        (void)snprintf(why, sizeof(why), "not a JSON object");
    } else if (!rec->timed) {
        (void)snprintf(why, sizeof(why),
                       "\"time\" must be epoch milliseconds or an ISO-8601 UTC "
                       "time like 2026-11-28T10:05:07Z");
    } else if (kinds != 1) {
        (void)snprintf(why, sizeof(why),
                       "a line needs exactly one of \"report\", \"json\", "
                       "\"cbor\", \"event\" or \"tick\":true");
    } else if (cJSON_IsTrue(tick)) {
        rec->kind = REC_TICK;
    } else if (!cJSON_IsString(thing) || !dd_name_valid(DD_NAME_THING, thing->valuestring)) {
        (void)snprintf(why, sizeof(why),
                       "\"thing\" must be a thing name ([a-zA-Z0-9:_-]+, 1 to 128)");
    } else if (event != NULL) {
        if (parse_event(event, "", rec->t, &rec->ev, why, sizeof(why))) {
            rec->kind = REC_EVENT;
            rec->thing = batch_text(b, thing->valuestring, strlen(thing->valuestring));
            ok = rec->thing != NO_TEXT;
            if (ok && rec->ev.topic != NULL) {
                rec->topic = batch_text(b, rec->ev.topic, strlen(rec->ev.topic));
                ok = rec->topic != NO_TEXT;
            }
            /* Pointed into the batch's text when applied: the tree is gone by then. */
            rec->ev.thing = NULL;
            rec->ev.topic = NULL;
        }
    } else {
        dd_report_error_t rerr;
        dd_report_status_t rs = DD_REPORT_BAD_PARAMETER;
        uint8_t *bytes = NULL;
        size_t len = 0;

        memset(&rerr, 0, sizeof(rerr));
        if (report != NULL) {
            rs = dd_report_decode_cjson(report, &rec->rep, &rerr);
        } else if (json != NULL && cJSON_IsString(json)) {
            rs = dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)json->valuestring,
                                  strlen(json->valuestring), &rec->rep, &rerr);
        } else if (cbor != NULL && cJSON_IsString(cbor) &&
                   (bytes = unhex(cbor->valuestring, &len)) != NULL) {
            rs = dd_report_decode(DD_REPORT_FORMAT_CBOR, bytes, len, &rec->rep, &rerr);
        } else {
            rs = DD_REPORT_WRONG_TYPE;
            (void)snprintf(rerr.detail, sizeof(rerr.detail), "%s",
                           cbor != NULL ? "\"cbor\" must be a hex string"
                                        : "\"json\" must be a string");
        }
        free(bytes);
        if (rs != DD_REPORT_OK) {
            dd_report_free(&rec->rep);
            (void)snprintf(why, sizeof(why), "report rejected (InvalidPayload): %s%s%s",
                           dd_report_strerror(rs), rerr.detail[0] != '\0' ? ": " : "", rerr.detail);
        } else {
            rec->kind = REC_REPORT;
            rec->thing = batch_text(b, thing->valuestring, strlen(thing->valuestring));
            ok = rec->thing != NO_TEXT;
        }
    }
    if (ok && rec->kind == REC_ERROR) {
        rec->why = batch_text(b, why, strlen(why));
        ok = rec->why != NO_TEXT;
    }
    cJSON_Delete(owned);
    if (!ok) {
        dd_report_free(&rec->rep);
        return false;
    }
    b->n++;
    return true;
}

/* Stage two: applies a prepared line in stream order; false with a reason when skipped. */
static bool apply_rec(replay_t *r, const batch_t *b, rec_t *rec, int64_t *last, char *why,
                      size_t why_len)
{
    dd_engine_status_t es = DD_ENGINE_OK;
    bool ok = false;

    if (rec->kind == REC_ERROR && !rec->timed) {
        (void)snprintf(why, why_len, "%s", b->text + rec->why);
        return false;
    }
    if (rec->t < *last) {
        (void)snprintf(why, why_len, "time %lld is before the previous line's %lld",
                       (long long)rec->t, (long long)*last);
        return false;
    }
    switch (rec->kind) {
    case REC_ERROR: (void)snprintf(why, why_len, "%s", b->text + rec->why); return false;
    case REC_APPLIED: return false; /* never applied twice */
    case REC_TICK: es = dd_engine_tick(r->engine, rec->t); break;
    case REC_EVENT:
        rec->ev.thing = b->text + rec->thing;
        rec->ev.topic = rec->topic != NO_TEXT ? b->text + rec->topic : NULL;
        es = dd_engine_on_cloud_events(r->engine, &rec->ev, 1);
        break;
    case REC_REPORT:
        es = dd_engine_on_report(r->engine, b->text + rec->thing, rec->t, &rec->rep);
        dd_report_free(&rec->rep);
        rec->kind = REC_APPLIED; /* the batch has nothing left to free */
        break;
    }
    ok = es == DD_ENGINE_OK;
    if (!ok) {
        (void)snprintf(why, why_len, "engine: %s", dd_engine_strerror(es));
    } else {
        *last = rec->t;
    }
    return ok;
}

/* Where the engine stage keeps its figures across batches. */
typedef struct apply_state {
    int64_t last; /* time of the last line applied */
    bool any;     /* a line was applied */
} apply_state_t;

/* Applies a batch's records in order; stops after the record that ran out of memory. A
 * record's line number counts from @p base (the lines of the chunks before its own). */
static void apply_batch(replay_t *r, batch_t *b, size_t base, apply_state_t *st,
                        dd_replay_result_t *res, FILE *err)
{
    size_t i;

    for (i = 0; i < b->n && !r->oom; i++) {
        char why[400];
        why[0] = '\0';
        if (apply_rec(r, b, &b->v[i], &st->last, why, sizeof(why))) {
            res->used++;
            st->any = true;
        } else {
            res->skipped++;
            fprintf(err, "line %zu: %s (skipped)\n", base + b->v[i].line, why);
        }
    }
    if (b->oom) {
        r->oom = true;
    }
}

/* ------------------------------------------------------------------ reading */

/*
 * Prepares line @p line_no, @p n bytes at @p line (NUL-terminated; a '\n' or "\r\n" at its end
 * is dropped here); blank and '#' lines count but make no record. False only when out of
 * memory.
 */
static bool take_line(dd_linetree_t *lt, char *line, size_t n, size_t line_no, batch_t *b)
{
    char *p = line;

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0' || *p == '#') {
        return true;
    }
    return prepare_line(lt, p, n - (size_t)(p - line), line_no, b);
}

/*
 * Several threads: the stream is read in chunks of about CHUNK_SIZE bytes that end at a line's
 * end, numbered in stream order; any thread may parse any chunk, and the calling thread applies
 * the chunks' records in their order. Big enough that the hand-over's locking is noise, small
 * enough that a chunk and its records stay in the caches.
 */
#define CHUNK_SIZE ((size_t)256 << 10)
/* Chunks in flight per thread: room for each to parse one while others wait to be applied. */
#define CHUNKS_PER_THREAD 4

/* Cuts the lines of @p b's chunk in place and prepares them; numbers count from the chunk's
 * first line. */
static void parse_chunk(dd_linetree_t *lt, batch_t *b)
{
    char *at = b->chunk;
    char *end = b->chunk + b->chunk_len;

    while (at < end) {
        char *nl = memchr(at, '\n', (size_t)(end - at));
        size_t n = nl != NULL ? (size_t)(nl - at) : (size_t)(end - at);
        at[n] = '\0'; /* the chunk always has room for the last line's NUL */
        b->lines++;
        if (!take_line(lt, at, n, b->lines, b)) {
            b->oom = true;
            break;
        }
        at += n + 1;
    }
}

/* The chunks between the threads: a ring of slots, taken in stream order and applied in it. */
typedef struct pipeline {
    pthread_mutex_t read_mu; /* held to take a chunk: one reader at a time, in stream order */
    pthread_mutex_t mu;      /* the ring's state below */
    pthread_cond_t cv;       /* a chunk is ready, a slot freed, or stop */
    batch_t *slot;
    bool *ready;     /* (mu) slot k % count holds chunk k, parsed */
    size_t count;    /* slots */
    size_t consumed; /* (mu) chunks applied: their slots may be taken again */
    bool stop;       /* (mu) the engine wants no more */
    size_t taken;    /* (read_mu) chunks taken */
    bool eof;        /* (read_mu) the stream ended (or reading it failed) */
    char *carry;     /* (read_mu) the start of a line read with the last chunk taken */
    size_t carry_len;
    size_t carry_cap;
    FILE *in;
} pipeline_t;

/* Makes room for @p need bytes in *buf of *cap; false when out of memory. */
static bool reserve(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap == 0 ? need : *cap;
    char *nb;

    if (*cap >= need) {
        return true;
    }
    while (c < need) {
        c *= 2;
    }
    if ((nb = realloc(*buf, c)) == NULL) {
        return false;
    }
    *buf = nb;
    *cap = c;
    return true;
}

/*
 * Reads the next chunk into @p b (read_mu held): the line carried from the last chunk, then
 * about CHUNK_SIZE bytes, cut after the last '\n' read, whose rest is carried to the next
 * chunk; a line longer than a chunk makes the chunk longer. At the end of the stream the rest
 * is the last line.
 */
static void read_chunk(pipeline_t *pl, batch_t *b)
{
    size_t len = pl->carry_len;

    if (!reserve(&b->chunk, &b->chunk_cap, len + CHUNK_SIZE + 1)) {
        b->oom = true;
        pl->eof = true;
        return;
    }
    if (len > 0) {
        memcpy(b->chunk, pl->carry, len); /* no carry yet is a NULL one: UBSan's call */
    }
    pl->carry_len = 0;
    for (;;) {
        size_t got = fread(b->chunk + len, 1, b->chunk_cap - len - 1, pl->in);
        char *nl = got > 0 ? memrchr(b->chunk + len, '\n', got) : NULL;
        len += got;
        if (got == 0) {
            pl->eof = true;
            break;
        }
        if (nl != NULL) {
            size_t cut = (size_t)(nl - b->chunk) + 1;
            if (!reserve(&pl->carry, &pl->carry_cap, len - cut)) {
                b->oom = true;
                pl->eof = true;
                return;
            }
            if (len > cut) {
                memcpy(pl->carry, b->chunk + cut, len - cut);
            }
            pl->carry_len = len - cut;
            len = cut;
            break;
        }
        if (!reserve(&b->chunk, &b->chunk_cap, b->chunk_cap * 2)) {
            b->oom = true;
            pl->eof = true;
            return;
        }
    }
    b->chunk_len = len;
    b->eof = pl->eof;
}

/*
 * Takes the next chunk into its slot and reads it; *seq is its number. A parser thread waits
 * for a free slot; the engine thread (@p engine) only takes one at once free, and never waits
 * for another thread's read. False when there is nothing to take (end of stream, stop, or for
 * the engine busy).
 */
static bool take_chunk(pipeline_t *pl, bool engine, size_t *seq)
{
    bool ok;
    size_t k;

    if (engine) {
        if (pthread_mutex_trylock(&pl->read_mu) != 0) {
            return false;
        }
    } else {
        pthread_mutex_lock(&pl->read_mu);
    }
    k = pl->taken;
    pthread_mutex_lock(&pl->mu);
    while (!engine && !pl->eof && !pl->stop && k - pl->consumed >= pl->count) {
        pthread_cond_wait(&pl->cv, &pl->mu);
    }
    ok = !pl->eof && !pl->stop && k - pl->consumed < pl->count;
    pthread_mutex_unlock(&pl->mu);
    if (ok) {
        batch_t *b = &pl->slot[k % pl->count];
        batch_reset(b);
        read_chunk(pl, b);
        pl->taken = k + 1;
        *seq = k;
    }
    pthread_mutex_unlock(&pl->read_mu);
    return ok;
}

/* Parses chunk @p k (taken by this thread) and hands it over; the slot is not this thread's
 * after this. */
static void parse_and_publish(pipeline_t *pl, dd_linetree_t *lt, size_t k)
{
    batch_t *b = &pl->slot[k % pl->count];

    if (!b->oom) {
        parse_chunk(lt, b);
    }
    if (b->oom) {
        b->eof = true;
    }
    pthread_mutex_lock(&pl->mu);
    pl->ready[k % pl->count] = true;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* A parser thread: its own line parser, taking chunks until there are none. */
typedef struct parser {
    pipeline_t *pl;
    dd_linetree_t *lt;
    pthread_t thread;
    bool started;
} parser_t;

static void *parser_main(void *arg)
{
    parser_t *p = arg;
    size_t k;

    while (take_chunk(p->pl, false, &k)) {
        parse_and_publish(p->pl, p->lt, k);
    }
    return NULL;
}

static void pipeline_free(pipeline_t *pl)
{
    size_t i;

    for (i = 0; pl->slot != NULL && i < pl->count; i++) {
        batch_free(&pl->slot[i]);
    }
    free(pl->slot);
    free(pl->ready);
    free(pl->carry);
    pthread_cond_destroy(&pl->cv);
    pthread_mutex_destroy(&pl->mu);
    pthread_mutex_destroy(&pl->read_mu);
}

/*
 * @p threads - 1 parser threads and this one: it applies the chunks in order and, rather than
 * wait for the next, parses one itself when one is free to take.
 */
static dd_replay_status_t run_threaded(replay_t *r, FILE *in, FILE *err, unsigned threads,
                                       apply_state_t *st, dd_replay_result_t *res)
{
    pipeline_t pl;
    parser_t parsers[DD_REPLAY_THREADS_MAX];
    dd_replay_status_t status = DD_REPLAY_OK;
    size_t base = 0;
    size_t k;
    unsigned i;

    memset(&pl, 0, sizeof(pl));
    memset(parsers, 0, sizeof(parsers));
    pl.in = in;
    pl.count = (size_t)threads * CHUNKS_PER_THREAD;
    if (pthread_mutex_init(&pl.read_mu, NULL) != 0) {
        return DD_REPLAY_NO_MEMORY;
    }
    if (pthread_mutex_init(&pl.mu, NULL) != 0) {
        pthread_mutex_destroy(&pl.read_mu);
        return DD_REPLAY_NO_MEMORY;
    }
    if (pthread_cond_init(&pl.cv, NULL) != 0) {
        pthread_mutex_destroy(&pl.mu);
        pthread_mutex_destroy(&pl.read_mu);
        return DD_REPLAY_NO_MEMORY;
    }
    pl.slot = calloc(pl.count, sizeof(*pl.slot));
    pl.ready = calloc(pl.count, sizeof(*pl.ready));
    if (pl.slot == NULL || pl.ready == NULL) {
        pipeline_free(&pl);
        return DD_REPLAY_NO_MEMORY;
    }
    for (i = 0; i + 1 < threads && status == DD_REPLAY_OK; i++) {
        parsers[i].pl = &pl;
        if (dd_linetree_create(&parsers[i].lt) != DD_LINETREE_OK ||
            pthread_create(&parsers[i].thread, NULL, parser_main, &parsers[i]) != 0) {
            status = DD_REPLAY_NO_MEMORY;
        } else {
            parsers[i].started = true;
        }
    }
    for (k = 0; status == DD_REPLAY_OK; k++) {
        batch_t *b = &pl.slot[k % pl.count];
        bool eof;
        pthread_mutex_lock(&pl.mu);
        while (!pl.ready[k % pl.count]) {
            size_t s;
            pthread_mutex_unlock(&pl.mu);
            if (take_chunk(&pl, true, &s)) {
                parse_and_publish(&pl, r->lt, s);
                pthread_mutex_lock(&pl.mu);
                continue;
            }
            pthread_mutex_lock(&pl.mu);
            if (!pl.ready[k % pl.count]) {
                pthread_cond_wait(&pl.cv, &pl.mu);
            }
        }
        pthread_mutex_unlock(&pl.mu);
        apply_batch(r, b, base, st, res, err);
        base += b->lines;
        res->lines = base;
        eof = b->eof;
        if (r->oom) {
            status = DD_REPLAY_NO_MEMORY;
        }
        pthread_mutex_lock(&pl.mu);
        pl.ready[k % pl.count] = false;
        pl.consumed = k + 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        if (eof) {
            break;
        }
    }
    pthread_mutex_lock(&pl.mu);
    pl.stop = true;
    pthread_cond_broadcast(&pl.cv);
    pthread_mutex_unlock(&pl.mu);
    for (i = 0; i + 1 < threads; i++) {
        if (parsers[i].started) {
            pthread_join(parsers[i].thread, NULL);
        }
        dd_linetree_destroy(parsers[i].lt);
    }
    pipeline_free(&pl);
    return status;
}

/* One thread: each line is prepared and applied before the next is read (getline()), as a
 * live stream needs. */
static dd_replay_status_t run_single(replay_t *r, FILE *in, FILE *err, apply_state_t *st,
                                     dd_replay_result_t *res)
{
    batch_t b;
    char *line = NULL;
    size_t cap = 0;
    size_t lines = 0;
    ssize_t n;
    dd_replay_status_t status = DD_REPLAY_OK;

    memset(&b, 0, sizeof(b));
    while (status == DD_REPLAY_OK && (n = getline(&line, &cap, in)) >= 0) {
        batch_reset(&b);
        lines++;
        if (!take_line(r->lt, line, (size_t)n, lines, &b)) {
            b.oom = true;
        }
        apply_batch(r, &b, 0, st, res, err);
        if (r->oom) {
            status = DD_REPLAY_NO_MEMORY;
        }
    }
    res->lines = lines;
    batch_free(&b);
    free(line);
    return status;
}

/* ------------------------------------------------------------------ setup */

static bool add_definitions(dd_engine_t *e, const dd_replay_options_t *opt, FILE *err)
{
    size_t i;

    for (i = 0; i < opt->custom_metric_count; i++) {
        dd_custom_metric_def_t d;
        const char *colon = strchr(opt->custom_metrics[i], ':');
        memset(&d, 0, sizeof(d));
        if (colon == NULL || (size_t)(colon - opt->custom_metrics[i]) >= sizeof(d.name) ||
            dd_metric_custom_type_parse(colon + 1, &d.type) != DD_METRIC_OK) {
            fprintf(err,
                    "custom metric \"%s\": expected NAME:TYPE with TYPE number, "
                    "number-list, string-list or ip-address-list\n",
                    opt->custom_metrics[i]);
            return false;
        }
        memcpy(d.name, opt->custom_metrics[i], (size_t)(colon - opt->custom_metrics[i]));
        if (dd_engine_put_custom_metric(e, &d) != DD_ENGINE_OK) {
            fprintf(err, "custom metric \"%s\": invalid name\n", d.name);
            return false;
        }
    }
    for (i = 0; i < opt->dimension_count; i++) {
        dd_dimension_def_t *d = calloc(1, sizeof(*d));
        const char *p = opt->dimensions[i];
        const char *colon = strchr(p, ':');
        bool ok = d != NULL && colon != NULL && (size_t)(colon - p) < sizeof(d->name);

        if (ok) {
            const char *v = colon + 1;
            memcpy(d->name, p, (size_t)(colon - p));
            while (ok && *v != '\0') {
                const char *comma = strchr(v, ',');
                size_t n = comma != NULL ? (size_t)(comma - v) : strlen(v);
                ok = n > 0 && n <= DD_DIMENSION_VALUE_MAX &&
                     d->value_count < DD_DIMENSION_VALUES_MAX;
                if (ok) {
                    memcpy(d->values[d->value_count++], v, n);
                }
                v += n + (comma != NULL ? 1 : 0);
            }
            ok = ok && d->value_count > 0 && dd_engine_put_dimension(e, d) == DD_ENGINE_OK;
        }
        free(d);
        if (!ok) {
            fprintf(err, "dimension \"%s\": expected NAME:FILTER[,FILTER...]\n", p);
            return false;
        }
    }
    return true;
}

static dd_replay_status_t add_profiles(replay_t *r, const dd_replay_options_t *opt, FILE *err)
{
    size_t i;
    size_t j;
    dd_metric_defs_t defs;
    size_t total = 0;

    dd_engine_defs(r->engine, &defs);
    for (i = 0; i < opt->profile_count; i++) {
        dd_profile_t p;
        dd_profile_error_t perr;
        const char *name = opt->profiles[i].name != NULL ? opt->profiles[i].name : "profile";

        memset(&perr, 0, sizeof(perr));
        if (dd_profile_parse(opt->profiles[i].text, opt->profiles[i].len, NULL, &p, &perr) !=
                DD_PROFILE_OK ||
            dd_profile_validate(&p, &defs, NULL, &perr) != DD_PROFILE_OK) {
            fprintf(err, "%s: %s\n", name, perr.message);
            dd_profile_free(&p);
            return DD_REPLAY_BAD_PROFILE;
        }
        if (p.target_count == 0) {
            /* Like the workshop: attached to all things unless the file says otherwise. */
            char arn[DD_ARN_MAX];
            dd_arn_ctx_t ctx;
            dd_arn_ctx_default(&ctx);
            (void)dd_arn_format_target(&ctx, DD_ARN_TARGET_ALL_THINGS, NULL, arn, sizeof(arn));
            p.targets = calloc(1, sizeof(char *));
            if (p.targets == NULL || (p.targets[0] = strdup(arn)) == NULL) {
                dd_profile_free(&p);
                return DD_REPLAY_NO_MEMORY;
            }
            p.target_count = 1;
        }
        if (dd_engine_get_profile(r->engine, p.name) != NULL) {
            fprintf(err, "%s: a security profile named %s was already given\n", name, p.name);
            dd_profile_free(&p);
            return DD_REPLAY_BAD_PROFILE;
        }
        if (dd_engine_put_profile(r->engine, &p, 0) != DD_ENGINE_OK) {
            fprintf(err, "%s: the engine refused the profile\n", name);
            dd_profile_free(&p);
            return DD_REPLAY_BAD_PROFILE;
        }
        total += p.behavior_count;
        dd_profile_free(&p);
    }
    r->bs = calloc(total + 1, sizeof(bstat_t));
    if (r->bs == NULL) {
        return DD_REPLAY_NO_MEMORY;
    }
    for (i = 0; i < opt->profile_count; i++) {
        dd_profile_t tmp;
        const dd_profile_t *p;
        if (dd_profile_parse(opt->profiles[i].text, opt->profiles[i].len, NULL, &tmp, NULL) !=
            DD_PROFILE_OK) {
            continue;
        }
        p = dd_engine_get_profile(r->engine, tmp.name);
        dd_profile_free(&tmp);
        for (j = 0; p != NULL && j < p->behavior_count; j++) {
            r->bs[r->nbs].profile = p->name;
            r->bs[r->nbs].b = &p->behaviors[j];
            r->nbs++;
        }
    }
    return DD_REPLAY_OK;
}

static int64_t longest_window_ms(const replay_t *r)
{
    int64_t d = 300000;
    size_t i;

    for (i = 0; i < r->nbs; i++) {
        const dd_behavior_criteria_t *c = &r->bs[i].b->criteria;
        if (c->has_duration && c->duration_s * 1000 > d) {
            d = c->duration_s * 1000;
        }
    }
    return d;
}

dd_replay_status_t dd_replay_run(const dd_replay_options_t *opt, FILE *in, FILE *out, FILE *err,
                                 dd_replay_result_t *result)
{
    replay_t r;
    registry_t reg;
    dd_engine_registry_t ereg;
    dd_engine_sink_t sink;
    dd_engine_config_t cfg;
    dd_replay_status_t status = DD_REPLAY_OK;
    dd_replay_result_t res;
    apply_state_t st;
    unsigned threads;
    size_t i;

    if (opt == NULL || in == NULL || out == NULL || err == NULL ||
        opt->threads > DD_REPLAY_THREADS_MAX) {
        return DD_REPLAY_BAD_PARAMETER;
    }
    threads = opt->threads != 0 ? opt->threads : dd_replay_default_threads();
    memset(&st, 0, sizeof(st));
    memset(&r, 0, sizeof(r));
    memset(&reg, 0, sizeof(reg));
    memset(&res, 0, sizeof(res));
    r.out = out;
    r.time_ms = opt->time_ms;
    r.dp_out = opt->datapoints;
    r.dp_csv = opt->datapoints_csv;
    r.opt = opt;
    if (opt->things != NULL &&
        !registry_parse(&reg, opt->things->text, opt->things->len, err, opt->things->name)) {
        return DD_REPLAY_BAD_THINGS;
    }
    ereg.ctx = &reg;
    ereg.lookup = registry_lookup;
    memset(&sink, 0, sizeof(sink));
    sink.ctx = &r;
    sink.violation_event = on_event;
    sink.metric_value = on_datum;
    if (opt->datapoints != NULL || opt->datapoint_hook != NULL) {
        sink.datapoint = on_datapoint;
    }
    if (opt->datapoints != NULL) {
        if (opt->datapoints_csv) {
            size_t c;
            size_t nc = sizeof(DATAPOINT_CSV_COLUMNS) / sizeof(DATAPOINT_CSV_COLUMNS[0]);
            for (c = 0; c < nc; c++) {
                csv_field(opt->datapoints, DATAPOINT_CSV_COLUMNS[c], c + 1 == nc);
            }
        }
    }
    dd_engine_config_default(&cfg);
    if (dd_engine_create(&cfg, opt->things != NULL ? &ereg : NULL, &sink, &r.engine) !=
        DD_ENGINE_OK) {
        registry_free(&reg);
        return DD_REPLAY_NO_MEMORY;
    }
    if (dd_linetree_create(&r.lt) != DD_LINETREE_OK) {
        dd_engine_destroy(r.engine);
        registry_free(&reg);
        return DD_REPLAY_NO_MEMORY;
    }
    if (!add_definitions(r.engine, opt, err)) {
        status = DD_REPLAY_BAD_DEFINITION;
    }
    if (status == DD_REPLAY_OK) {
        status = add_profiles(&r, opt, err);
    }
    if (status == DD_REPLAY_OK) {
        status = threads >= 2 ? run_threaded(&r, in, err, threads, &st, &res)
                              : run_single(&r, in, err, &st, &res);
    }
    if (status == DD_REPLAY_OK && st.any) {
        /* Close every window that holds recorded data, as if the clock ran on. */
        (void)dd_engine_tick(r.engine, dd_window_tumbling_end(st.last, longest_window_ms(&r)) + 1);
    }
    if (status == DD_REPLAY_OK && !opt->no_summary) {
        print_summary(&r);
    }
    if (status == DD_REPLAY_OK && r.oom) {
        status = DD_REPLAY_NO_MEMORY;
    }
    res.events = r.events;
    res.datapoints = r.datapoints;
    if (status == DD_REPLAY_OK && res.skipped > 0) {
        status = DD_REPLAY_SKIPPED_LINES;
    }
    for (i = 0; i < r.nbs; i++) {
        marks_free(&r.bs[i].things);
        free(r.bs[i].text);
    }
    free(r.evbuf);
    for (i = 0; i < r.nmm; i++) {
        marks_free(&r.mm[i].things);
        free(r.mm[i].seen);
        free(r.mm[i].metric);
    }
    free(r.mm);
    free(r.bs);
    dd_engine_destroy(r.engine);
    dd_linetree_destroy(r.lt);
    registry_free(&reg);
    if (result != NULL) {
        *result = res;
    }
    fflush(out);
    return status;
}

unsigned dd_replay_default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cpus < 1) {
        return 1;
    }
    return cpus > DD_REPLAY_THREADS_DEFAULT_MAX ? DD_REPLAY_THREADS_DEFAULT_MAX : (unsigned)cpus;
}

const char *dd_replay_strerror(dd_replay_status_t status)
{
    switch (status) {
    case DD_REPLAY_OK: return "ok";
    case DD_REPLAY_BAD_PARAMETER: return "bad parameter";
    case DD_REPLAY_NO_MEMORY: return "out of memory";
    case DD_REPLAY_BAD_PROFILE: return "invalid security profile";
    case DD_REPLAY_BAD_THINGS: return "invalid things file";
    case DD_REPLAY_BAD_DEFINITION: return "invalid custom metric or dimension";
    case DD_REPLAY_SKIPPED_LINES: return "some lines were skipped";
    }
    return "unknown replay status";
}
