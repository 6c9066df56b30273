#include "dd_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_engine_internal.h"
#include "dd_stats.h"
#include "dd_window.h"

/* The history keeps one channel per delta counter of a report. */
_Static_assert(DD_WINDOW_CHANNELS == DD_METRIC_COUNTERS, "window channels are the counters");

/* ------------------------------------------------------------------ small helpers */

static uint64_t fnv(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static uint64_t hash_str(const char *s)
{
    return fnv(s, strlen(s), 0xcbf29ce484222325ULL);
}

char *dd_engine_dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

bool dd_engine_grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *n;

    if (need <= *cap) {
        return true;
    }
    ncap = *cap == 0 ? 16 : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    n = realloc(*arr, ncap * elem);
    if (n == NULL) {
        return false;
    }
    *arr = n;
    *cap = ncap;
    return true;
}

static int64_t closed_boundary(int64_t now, int64_t d)
{
    return now <= 0 ? 0 : ((now - 1) / d) * d;
}

/* ------------------------------------------------------------------ compile */

static void resolve_item(const dd_engine_t *e, item_t *it)
{
    bool ok = true;

    it->info = NULL;
    if (it->custom) {
        size_t i;
        for (i = 0; i < e->ncustoms; i++) {
            if (strcmp(e->customs[i].name, it->metric) == 0) {
                it->ctype = e->customs[i].type;
                it->info = dd_metric_custom_info(it->ctype);
                break;
            }
        }
    } else {
        (void)dd_metric_find(it->metric, &it->info);
    }
    ok = it->info != NULL;
    it->dim = NULL;
    if (ok && it->has_dim) {
        size_t i;
        for (i = 0; i < e->ndims; i++) {
            if (strcmp(e->dims[i]->name, it->dim_name) == 0) {
                it->dim = e->dims[i];
            }
        }
        ok = it->dim != NULL;
    }
    if (ok && it->base_kind == ITEM_STATIC) {
        unsigned want = it->info->ops;
        ok = (want & DD_OP_BIT(it->crit.op)) != 0;
    }
    it->kind = ok ? it->base_kind : ITEM_INERT;
    it->id = it->info != NULL ? it->info->id : DD_METRIC_CUSTOM;
    it->windowed = false;
    if (ok) {
        dd_metric_shape_t shape = it->info->shape;
        if (shape == DD_SHAPE_WINDOW_COUNT || shape == DD_SHAPE_DISCONNECTED) {
            it->windowed = true;
        } else if (shape == DD_SHAPE_PER_MESSAGE) {
            it->windowed = it->kind != ITEM_STATIC;
        } else if (it->info->side == DD_SIDE_DEVICE) {
            it->windowed = it->kind == ITEM_STATISTICAL;
        }
    }
    if (it->windowed && (it->id == DD_METRIC_DISCONNECT_DURATION || it->duration_ms == 0)) {
        it->duration_ms = PASS_MS;
    }
}

static void free_cprof(cprof_t *c)
{
    uint32_t i;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->nitems; i++) {
        dd_criteria_free(&c->items[i].crit);
        free(c->items[i].ml.sample);
    }
    free(c->items);
    for (i = 0; i < c->ngroups; i++) {
        free(c->groups[i]);
    }
    free(c->groups);
    dd_profile_free(&c->p);
    free(c);
}

static void set_item_metric(item_t *it, const char *metric, bool has_dim, const char *dim,
                            dd_dim_op_t op)
{
    it->metric = metric;
    it->custom = strncmp(metric, "aws:", 4) != 0;
    it->has_dim = has_dim;
    it->dim_name = has_dim ? dim : NULL;
    it->dim_op = op;
}

static bool add_retain_item(cprof_t *c, const char *metric, bool has_dim, const char *dim,
                            dd_dim_op_t op, bool export_metric)
{
    uint32_t i;
    item_t *it;

    for (i = 0; i < c->nitems; i++) {
        it = &c->items[i];
        if (strcmp(it->metric, metric) == 0 && it->has_dim == has_dim &&
            /* cppcheck-suppress nullPointer - dim is only NULL when has_dim is false */
            (!has_dim || strcmp(it->dim_name, dim) == 0)) {
            it->retain = true;
            it->export_metric = it->export_metric || export_metric;
            return true;
        }
    }
    it = &c->items[c->nitems++];
    memset(it, 0, sizeof(*it));
    set_item_metric(it, metric, has_dim, dim, op);
    (void)snprintf(it->key, sizeof(it->key), "\x01%s\x01%s", metric, has_dim ? dim : "");
    it->base_kind = ITEM_RETAIN;
    it->retain = true;
    it->export_metric = export_metric;
    it->to_alarm = 1;
    it->to_clear = 1;
    it->hash = hash_str(it->key);
    return true;
}

/* Numbers @p it's (metric, dimension) pair: the same pair, the same number, in any profile. */
static bool intern_retain(dd_engine_t *e, item_t *it)
{
    retained_key_t *v;
    size_t i;

    for (i = 0; i < e->nrkeys; i++) {
        const retained_key_t *k = &e->rkeys[i];
        if (strcmp(k->metric, it->metric) == 0 &&
            ((k->dim == NULL && it->dim_name == NULL) ||
             (k->dim != NULL && it->dim_name != NULL && strcmp(k->dim, it->dim_name) == 0))) {
            it->rk_id = (uint32_t)i;
            return true;
        }
    }
    v = realloc(e->rkeys, (e->nrkeys + 1) * sizeof(*v));
    if (v == NULL) {
        return false;
    }
    e->rkeys = v;
    v = &e->rkeys[e->nrkeys];
    v->metric = dd_engine_dup_str(it->metric);
    v->dim = it->dim_name != NULL ? dd_engine_dup_str(it->dim_name) : NULL;
    if (v->metric == NULL || (it->dim_name != NULL && v->dim == NULL)) {
        free(v->metric);
        free(v->dim);
        return false;
    }
    it->rk_id = (uint32_t)e->nrkeys++;
    return true;
}

static dd_engine_status_t compile_profile(dd_engine_t *e, const dd_profile_t *src, cprof_t **out)
{
    cprof_t *c = calloc(1, sizeof(*c));
    size_t i;
    size_t cap;

    *out = NULL;
    if (c == NULL) {
        return DD_ENGINE_NO_MEMORY;
    }
    if (dd_profile_copy(src, &c->p) != DD_PROFILE_OK) {
        free(c);
        return DD_ENGINE_NO_MEMORY;
    }
    cap = c->p.behavior_count + c->p.retain_count + c->p.retain_v1_count;
    c->items = calloc(cap > 0 ? cap : 1, sizeof(item_t));
    c->groups = calloc(c->p.target_count > 0 ? c->p.target_count : 1, sizeof(char *));
    if (c->items == NULL || c->groups == NULL) {
        free_cprof(c);
        return DD_ENGINE_NO_MEMORY;
    }
    for (i = 0; i < c->p.target_count; i++) {
        dd_arn_target_t kind;
        char group[DD_NAME_MAX + 1];
        if (dd_arn_parse_target(&e->cfg.arn, c->p.targets[i], &kind, group, sizeof(group)) !=
            DD_NAMES_OK) {
            free_cprof(c);
            return DD_ENGINE_INVALID;
        }
        if (kind == DD_ARN_TARGET_ALL_THINGS) {
            c->t_all = true;
        } else if (kind == DD_ARN_TARGET_ALL_REGISTERED) {
            c->t_reg = true;
        } else if (kind == DD_ARN_TARGET_ALL_UNREGISTERED) {
            c->t_unreg = true;
        } else {
            c->groups[c->ngroups] = dd_engine_dup_str(group);
            if (c->groups[c->ngroups] == NULL) {
                free_cprof(c);
                return DD_ENGINE_NO_MEMORY;
            }
            c->ngroups++;
        }
    }
    for (i = 0; i < c->p.behavior_count; i++) {
        const dd_behavior_t *b = &c->p.behaviors[i];
        const dd_behavior_criteria_t *cr = &b->criteria;
        item_t *it = &c->items[c->nitems++];
        cJSON *json = dd_profile_behavior_to_json(b);
        char *text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;

        cJSON_Delete(json);
        if (text == NULL) {
            free_cprof(c);
            return DD_ENGINE_NO_MEMORY;
        }
        it->hash = hash_str(text);
        free(text);
        it->b = b;
        (void)snprintf(it->key, sizeof(it->key), "%s", b->name);
        set_item_metric(it, b->metric, b->has_dimension, b->dimension,
                        b->has_dimension_op ? b->dimension_op : DD_DIM_IN);
        it->to_alarm = cr->has_to_alarm ? (int)cr->to_alarm : 1;
        it->to_clear = cr->has_to_clear ? (int)cr->to_clear : 1;
        it->duration_ms = cr->has_duration ? cr->duration_s * 1000 : 0;
        it->retain = true;
        it->export_metric = b->has_export_metric && b->export_metric;
        it->suppressed = b->has_suppress_alerts && b->suppress_alerts;
        if (cr->ml != DD_ML_NONE) {
            it->base_kind = ITEM_ML;
        } else if (cr->statistic != DD_STAT_NONE) {
            it->base_kind = ITEM_STATISTICAL;
            it->percentile = dd_profile_statistic_percentile(cr->statistic);
            if (dd_criteria_compile(cr->op, NULL, &it->crit) != DD_CRITERIA_OK) {
                free_cprof(c);
                return DD_ENGINE_INVALID;
            }
        } else {
            it->base_kind = ITEM_STATIC;
            if (!b->has_criteria || !cr->has_value ||
                dd_criteria_compile(cr->op, &cr->value, &it->crit) != DD_CRITERIA_OK) {
                free_cprof(c);
                return DD_ENGINE_INVALID;
            }
        }
    }
    for (i = 0; i < c->p.retain_count; i++) {
        const dd_metric_to_retain_t *r = &c->p.retain[i];
        (void)add_retain_item(c, r->metric, r->has_dimension, r->dimension,
                              r->has_dimension_op ? r->dimension_op : DD_DIM_IN,
                              r->has_export_metric && r->export_metric);
    }
    for (i = 0; i < c->p.retain_v1_count; i++) {
        (void)add_retain_item(c, c->p.retain_v1[i], false, NULL, DD_DIM_IN, false);
    }
    for (i = 0; i < c->nitems; i++) {
        resolve_item(e, &c->items[i]);
        if (c->items[i].retain && !intern_retain(e, &c->items[i])) {
            free_cprof(c);
            return DD_ENGINE_NO_MEMORY;
        }
    }
    *out = c;
    return DD_ENGINE_OK;
}

static void resolve_all(dd_engine_t *e)
{
    size_t i;
    uint32_t k;

    for (i = 0; i < e->nprofs; i++) {
        for (k = 0; k < e->profs[i]->nitems; k++) {
            resolve_item(e, &e->profs[i]->items[k]);
        }
    }
}

/* ------------------------------------------------------------------ things */

/* The bits of a thing's hash kept in its table entry (the low bits pick the entry). */
static uint32_t hash_tag(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

/* A lookup per report: the entry's tag spares reading other things (each a cache miss). */
static thing_t *find_thing(const dd_engine_t *e, const char *name, uint64_t h)
{
    size_t mask = e->table_cap - 1;
    uint32_t tag = hash_tag(h);
    size_t i;

    if (e->table_cap == 0) {
        return NULL;
    }
    for (i = (size_t)h & mask;; i = (i + 1) & mask) {
        const thing_entry_t *v = &e->table[i];
        thing_t *t;
        if (v->index1 == 0) {
            return NULL;
        }
        if (v->tag != tag) {
            continue;
        }
        t = e->things[v->index1 - 1];
        if (t->hash == h && strcmp(t->name, name) == 0) {
            return t;
        }
    }
}

static void table_put(thing_entry_t *table, size_t cap, const thing_t *t)
{
    size_t j = (size_t)t->hash & (cap - 1);

    while (table[j].index1 != 0) {
        j = (j + 1) & (cap - 1);
    }
    table[j].index1 = t->index + 1;
    table[j].tag = hash_tag(t->hash);
}

static bool rehash(dd_engine_t *e, size_t cap)
{
    thing_entry_t *table = calloc(cap, sizeof(*table));
    size_t i;

    if (table == NULL) {
        return false;
    }
    for (i = 0; i < e->nthings; i++) {
        table_put(table, cap, e->things[i]);
    }
    free(e->table);
    e->table = table;
    e->table_cap = cap;
    return true;
}

thing_t *dd_engine_get_thing(dd_engine_t *e, const char *name)
{
    uint64_t h = hash_str(name);
    thing_t *t = find_thing(e, name, h);
    size_t len;

    if (t != NULL) {
        return t;
    }
    if ((e->nthings + 1) * 2 > e->table_cap &&
        !rehash(e, e->table_cap == 0 ? 64 : e->table_cap * 2)) {
        return NULL;
    }
    if (!dd_engine_grow_array((void **)&e->things, &e->things_cap, e->nthings + 1,
                              sizeof(thing_t *))) {
        return NULL;
    }
    /* The name in the same allocation: a lookup's strcmp reads what the hash check loaded. */
    len = strlen(name) + 1;
    t = calloc(1, sizeof(*t) + len);
    if (t == NULL) {
        return NULL;
    }
    t->name = (char *)(t + 1);
    memcpy(t->name, name, len);
    t->hash = h;
    t->index = (uint32_t)e->nthings;
    t->event_registered = true;
    t->registered = true;
    e->things[e->nthings++] = t;
    table_put(e->table, e->table_cap, t);
    return t;
}

static void mark_dirty(dd_engine_t *e, thing_t *t)
{
    if (t->dirty) {
        return;
    }
    if (!dd_engine_grow_array((void **)&e->dirty, &e->dirty_cap, e->ndirty + 1, sizeof(uint32_t))) {
        e->oom = true;
        return;
    }
    t->dirty = true;
    e->dirty[e->ndirty++] = t->index;
}

/* ------------------------------------------------------------------ outputs */

static void make_key(char *buf, size_t len, const thing_t *t, const cprof_t *p, const item_t *it,
                     size_t *out_len)
{
    int n = snprintf(buf, len, "%s%c%s%c%s", t->name, 0, p->p.name, 0, it->key);
    *out_len = n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
}

static void emit_transition(dd_engine_t *e, thing_t *t, cprof_t *p, item_t *it, slot_t *s,
                            dd_alarm_transition_t tr, const dd_datapoint_t *dp, int64_t time_ms)
{
    const dd_engine_sink_t *k = &e->sink;

    if (tr == DD_ALARM_NONE || it->b == NULL) {
        return;
    }
    if (tr == DD_ALARM_RAISED || tr == DD_ALARM_CLEARED || tr == DD_ALARM_INVALIDATED) {
        dd_violation_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.violation_id = s->alarm.violation_id;
        ev.thing = t->name;
        ev.profile = p->p.name;
        ev.behavior = it->b;
        ev.type = tr;
        ev.has_value = dp != NULL && tr != DD_ALARM_INVALIDATED;
        if (ev.has_value) {
            ev.value = *dp;
        }
        ev.time_ms = time_ms;
        ev.suppressed = it->suppressed;
        ev.verification = (dd_verification_t)s->alarm.verification;
        ev.verification_description = s->vdesc;
        if (k->violation_event != NULL) {
            k->violation_event(k->ctx, &ev);
        }
    }
    if (tr == DD_ALARM_RAISED || tr == DD_ALARM_STILL_VIOLATING) {
        /* Every datapoint of an alarm comes here: the record is built only for a sink that
         * takes it (a replay's does not). */
        if (k->active_violation != NULL) {
            dd_active_violation_t av;
            memset(&av, 0, sizeof(av));
            av.violation_id = s->alarm.violation_id;
            av.thing = t->name;
            av.profile = p->p.name;
            av.behavior = it->b;
            av.has_value = dp != NULL;
            if (dp != NULL) {
                av.last_value = *dp;
            }
            av.last_violation_ms = s->alarm.last_violation_ms;
            av.start_ms = s->alarm.start_ms;
            av.suppressed = it->suppressed;
            av.verification = (dd_verification_t)s->alarm.verification;
            av.verification_description = s->vdesc;
            k->active_violation(k->ctx, &av);
        }
    } else {
        if (k->active_violation_removed != NULL) {
            k->active_violation_removed(k->ctx, s->alarm.violation_id);
        }
        s->alarm.verification = DD_VERIFICATION_UNKNOWN;
        free(s->vdesc);
        s->vdesc = NULL;
    }
}

/* The fleet threshold a statistical datapoint was compared with. */
typedef struct fleet_threshold {
    double value;
    size_t devices;
} fleet_threshold_t;

static void emit_datapoint(dd_engine_t *e, const thing_t *t, const cprof_t *p, const item_t *it,
                           const slot_t *s, bool violating, const dd_datapoint_t *dp,
                           int64_t time_ms, const fleet_threshold_t *fleet)
{
    dd_datapoint_record_t r;

    memset(&r, 0, sizeof(r));
    r.thing = t->name;
    r.profile = p->p.name;
    r.behavior = it->b;
    r.window_end_ms = time_ms;
    r.window_start_ms = time_ms - it->duration_ms;
    r.value = *dp;
    if (fleet != NULL) {
        r.statistical = true;
        r.threshold = fleet->value;
        r.fleet_size = fleet->devices;
    }
    r.violating = violating;
    r.alarm_state = s->alarm.state;
    e->sink.datapoint(e->sink.ctx, &r);
}

/* Keeps e->inval_due at or before @p s's invalidation time while it is in alarm. */
static void note_alarm(dd_engine_t *e, const slot_t *s)
{
    int64_t last = s->alarm.last_datapoint_ms;
    int64_t due;

    if (s->alarm.state != DD_ALARM_IN_ALARM) {
        return;
    }
    due = last > INT64_MAX - e->cfg.invalidate_after_ms ? INT64_MAX
                                                        : last + e->cfg.invalidate_after_ms;
    if (due < e->inval_due) {
        e->inval_due = due;
    }
}

static void step_slot(dd_engine_t *e, thing_t *t, cprof_t *p, item_t *it, slot_t *s, bool violating,
                      const dd_datapoint_t *dp, int64_t time_ms, const fleet_threshold_t *fleet)
{
    dd_alarm_transition_t tr = DD_ALARM_NONE;
    char id[DD_VIOLATION_ID_LEN];
    const char *new_id = NULL;

    if (violating && s->alarm.state == DD_ALARM_NORMAL &&
        s->alarm.violating_run + 1 >= it->to_alarm) {
        char key[512];
        size_t len;
        make_key(key, sizeof(key), t, p, it, &len);
        dd_alarm_make_id(key, len,
                         e->cfg.id_seed * 0x9e3779b97f4a7c15ULL + t->id_counter * 1000003ULL +
                             (uint64_t)time_ms,
                         id);
        t->id_counter++;
        new_id = id;
    }
    (void)dd_alarm_step(&s->alarm, violating, it->to_alarm, it->to_clear, time_ms, new_id, &tr);
    note_alarm(e, s);
    if (e->sink.datapoint != NULL && it->b != NULL && dp != NULL) {
        emit_datapoint(e, t, p, it, s, violating, dp, time_ms, fleet);
    }
    emit_transition(e, t, p, it, s, tr, dp, time_ms);
    mark_dirty(e, t);
}

static void evaluate_static(dd_engine_t *e, thing_t *t, cprof_t *p, item_t *it, slot_t *s,
                            const dd_datapoint_t *dp, int64_t time_ms)
{
    bool conforms = true;

    if (dd_criteria_conforms(&it->crit, dp, &conforms) != DD_CRITERIA_OK) {
        return;
    }
    step_slot(e, t, p, it, s, !conforms, dp, time_ms, NULL);
}

/* ---- ML Detect ----------------------------------------------------------- */

/* Modified z-score cut-offs per confidence level: LOW is the Iglewicz-Hoaglin 3.5. */
static double ml_cutoff(dd_ml_confidence_t level)
{
    switch (level) {
    case DD_ML_HIGH: return 8.0;
    case DD_ML_MEDIUM: return 5.0;
    default: return 3.5;
    }
}

/* Keeps a uniform sample of every datapoint (Vitter's algorithm R, seeded per behavior). */
static void ml_sample(dd_engine_t *e, item_t *it, double v)
{
    ml_model_t *m = &it->ml;
    uint64_t j;

    if (m->sample == NULL) {
        m->sample = malloc(ML_SAMPLE_MAX * sizeof(double));
        if (m->sample == NULL) {
            e->oom = true;
            return;
        }
        m->rng = it->hash ^ 0x9e3779b97f4a7c15ULL;
    }
    if (m->n < ML_SAMPLE_MAX) {
        m->sample[m->n++] = v;
        return;
    }
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    j = m->rng % (it->ml_datapoints > 0 ? it->ml_datapoints : 1);
    if (j < ML_SAMPLE_MAX) {
        m->sample[j] = v;
    }
}

/* Fits median and scale (1.4826 MAD; else 1.2533 x mean absolute deviation; at least 1). */
static bool ml_fit(dd_engine_t *e, item_t *it, int64_t now_ms)
{
    ml_model_t *m = &it->ml;
    double median = 0.0;
    double mad = 0.0;
    double mean_ad = 0.0;
    uint32_t i;

    if (m->n == 0 || !dd_engine_grow_array((void **)&e->vals, &e->vals_cap, m->n, sizeof(double))) {
        return false;
    }
    memcpy(e->vals, m->sample, m->n * sizeof(double));
    if (dd_stats_percentile(e->vals, m->n, 50.0, &median) != DD_STATS_OK) {
        return false;
    }
    for (i = 0; i < m->n; i++) {
        e->vals[i] = fabs(m->sample[i] - median);
        mean_ad += e->vals[i];
    }
    mean_ad /= (double)m->n;
    if (dd_stats_percentile(e->vals, m->n, 50.0, &mad) != DD_STATS_OK) {
        return false;
    }
    m->median = median;
    m->scale = 1.4826 * mad;
    if (m->scale <= 0.0) {
        m->scale = 1.2533 * mean_ad;
    }
    if (m->scale < 1.0) {
        m->scale = 1.0; /* counts: one unit is the least a fleet can vary by */
    }
    m->active = true;
    m->built_ms = now_ms;
    return true;
}

/*
 * One datapoint of an ML behavior: it trains the model, which is built once the behavior has
 * 25,000 datapoints over 14 days and refitted daily; from then on each datapoint is judged.
 */
static void evaluate_ml(dd_engine_t *e, thing_t *t, cprof_t *p, item_t *it, slot_t *s,
                        const dd_datapoint_t *dp, double v, int64_t time_ms)
{
    ml_model_t *m = &it->ml;

    if (it->ml_datapoints == 0) {
        it->ml_start_ms = time_ms;
    }
    it->ml_datapoints++;
    s->alarm.last_datapoint_ms = time_ms;
    note_alarm(e, s);
    ml_sample(e, it, v);
    if ((!m->active && (double)it->ml_datapoints >= ML_DATAPOINTS_NEEDED &&
         time_ms - it->ml_start_ms >= ML_TRAINING_MS) ||
        (m->active && time_ms - m->built_ms >= ML_REFRESH_MS)) {
        (void)ml_fit(e, it, time_ms);
    }
    if (m->active) {
        bool violating = (v - m->median) / m->scale > ml_cutoff(it->b->criteria.ml);
        step_slot(e, t, p, it, s, violating, dp, time_ms, NULL);
    }
}

static void invalidate_slot(dd_engine_t *e, thing_t *t, cprof_t *p, item_t *it, slot_t *s,
                            int64_t now_ms)
{
    dd_alarm_transition_t tr = DD_ALARM_NONE;

    (void)dd_alarm_invalidate(&s->alarm, &tr);
    if (tr != DD_ALARM_NONE) {
        emit_transition(e, t, p, it, s, tr, NULL, now_ms);
        mark_dirty(e, t);
    }
}

static void retain_value(dd_engine_t *e, const thing_t *t, const item_t *it,
                         const dd_datapoint_t *dp, int64_t time_ms)
{
    dd_metric_datum_t d;
    size_t i;

    if (!it->retain || e->sink.metric_value == NULL) {
        return;
    }
    /* Once per (metric, dimension): numbers compared, not names (per report and item). */
    for (i = 0; i < e->nrk; i++) {
        if (e->rk[i] == it->rk_id) {
            return;
        }
    }
    if (e->nrk < sizeof(e->rk) / sizeof(e->rk[0])) {
        e->rk[e->nrk++] = it->rk_id;
    }
    memset(&d, 0, sizeof(d));
    d.thing = t->name;
    d.metric = it->metric;
    d.dimension = it->dim_name;
    d.dimension_op = it->dim_op;
    d.time_ms = time_ms;
    d.value = *dp;
    d.export_metric = it->export_metric;
    e->sink.metric_value(e->sink.ctx, &d);
}

/* ------------------------------------------------------------------ state blobs to the sink
 * (their format: dd_engine_state.c) */

static void flush(dd_engine_t *e)
{
    size_t i;

    for (i = 0; i < e->ndirty; i++) {
        thing_t *t = e->things[e->dirty[i]];
        t->dirty = false;
        if (e->sink.thing_state != NULL) {
            size_t len = dd_engine_state_write(e, t);
            if (len == 0) {
                e->oom = true;
                continue;
            }
            e->sink.thing_state(e->sink.ctx, t->name, e->blob, len);
        }
    }
    e->ndirty = 0;
}

cprof_t *dd_engine_find_prof(const dd_engine_t *e, const char *name, size_t *index)
{
    size_t i;

    for (i = 0; i < e->nprofs; i++) {
        if (strcmp(e->profs[i]->p.name, name) == 0) {
            if (index != NULL) {
                *index = i;
            }
            return e->profs[i];
        }
    }
    return NULL;
}

void dd_engine_free_pstate(pstate_t *ps)
{
    uint32_t k;

    if (ps->slots != NULL) {
        for (k = 0; k < ps->prof->nitems; k++) {
            free(ps->slots[k].vdesc);
        }
    }
    free(ps->slots);
    ps->slots = NULL;
}

/* ------------------------------------------------------------------ coverage */

static int add_group_cb(void *ctx, const char *group)
{
    dd_engine_t *e = ctx;
    size_t n;

    if (group == NULL) {
        return 0;
    }
    n = strlen(group) + 1;
    if (!dd_engine_grow_array((void **)&e->gbuf, &e->gbuf_cap, e->gbuf_len + n, 1)) {
        return 1;
    }
    memcpy(e->gbuf + e->gbuf_len, group, n);
    e->gbuf_len += n;
    e->ngroups++;
    return 0;
}

static bool prof_covers(const dd_engine_t *e, const cprof_t *p, bool registered)
{
    size_t i;
    size_t off;
    size_t g;

    if (p->t_all || (registered && p->t_reg) || (!registered && p->t_unreg)) {
        return true;
    }
    if (!registered) {
        return false;
    }
    for (i = 0; i < p->ngroups; i++) {
        for (g = 0, off = 0; g < e->ngroups; g++) {
            const char *name = e->gbuf + off;
            if (strcmp(name, p->groups[i]) == 0) {
                return true;
            }
            off += strlen(name) + 1;
        }
    }
    return false;
}

/* Recomputes which profiles cover @p t; alarms of dropped ones are invalidated. */
static void recompute_coverage(dd_engine_t *e, thing_t *t, int64_t now_ms)
{
    bool registered = t->event_registered;
    pstate_t *nps;
    uint32_t count = 0;
    size_t i;
    uint32_t j;
    bool changed = false;

    e->gbuf_len = 0;
    e->ngroups = 0;
    if (e->has_registry) {
        registered = false;
        if (e->registry.lookup(e->registry.ctx, t->name, &registered, add_group_cb, e) != 0) {
            registered = false;
            e->gbuf_len = 0;
            e->ngroups = 0;
        }
    }
    if (t->registered != registered) {
        t->registered = registered;
        changed = true;
    }
    nps = calloc(e->nprofs > 0 ? e->nprofs : 1, sizeof(pstate_t));
    if (nps == NULL) {
        e->oom = true;
        return;
    }
    for (i = 0; i < e->nprofs; i++) {
        cprof_t *p = e->profs[i];
        pstate_t *old = NULL;
        if (!prof_covers(e, p, registered)) {
            continue;
        }
        for (j = 0; j < t->nps; j++) {
            if (t->ps[j].prof == p) {
                old = &t->ps[j];
            }
        }
        if (old != NULL) {
            nps[count] = *old;
            old->prof = NULL; /* moved */
        } else {
            nps[count].prof = p;
            nps[count].slots = calloc(p->nitems > 0 ? p->nitems : 1, sizeof(slot_t));
            if (nps[count].slots == NULL) {
                e->oom = true;
                continue;
            }
            changed = true;
        }
        count++;
    }
    for (j = 0; j < t->nps; j++) {
        pstate_t *ps = &t->ps[j];
        uint32_t k;
        if (ps->prof == NULL) {
            continue;
        }
        for (k = 0; k < ps->prof->nitems; k++) {
            invalidate_slot(e, t, ps->prof, &ps->prof->items[k], &ps->slots[k], now_ms);
        }
        dd_engine_free_pstate(ps);
        changed = true;
    }
    free(t->ps);
    t->ps = nps;
    t->nps = count;
    t->cover_gen = e->cover_gen;
    if (changed) {
        mark_dirty(e, t);
    }
}

static void ensure_coverage(dd_engine_t *e, thing_t *t, int64_t now_ms)
{
    if (t->cover_gen != e->cover_gen) {
        recompute_coverage(e, t, now_ms);
    }
}

/* ------------------------------------------------------------------ windows (pass) */

static bool push_pending(dd_engine_t *e, uint32_t prof, uint32_t item, uint32_t thing, int64_t end,
                         double value)
{
    pending_t *pd;

    if (!dd_engine_grow_array((void **)&e->pend, &e->pend_cap, e->npend + 1, sizeof(pending_t))) {
        e->oom = true;
        return false;
    }
    pd = &e->pend[e->npend++];
    pd->prof = prof;
    pd->item = item;
    pd->thing = thing;
    pd->end = end;
    pd->value = value;
    return true;
}

static int cmp_pending(const void *a, const void *b)
{
    const pending_t *x = a;
    const pending_t *y = b;

    if (x->prof != y->prof) {
        return x->prof < y->prof ? -1 : 1;
    }
    if (x->item != y->item) {
        return x->item < y->item ? -1 : 1;
    }
    if (x->end != y->end) {
        return x->end < y->end ? -1 : 1;
    }
    return x->thing < y->thing ? -1 : (x->thing > y->thing ? 1 : 0);
}

static pstate_t *find_ps(thing_t *t, const cprof_t *p)
{
    uint32_t i;

    for (i = 0; i < t->nps; i++) {
        if (t->ps[i].prof == p) {
            return &t->ps[i];
        }
    }
    return NULL;
}

static dd_datapoint_t count_dp(const item_t *it, double value)
{
    dd_datapoint_t dp;

    memset(&dp, 0, sizeof(dp));
    if (it->custom) {
        dp.kind = DD_VALUE_NUMBER;
        dp.number = value;
    } else {
        dp.kind = DD_VALUE_COUNT;
        dp.count = (int64_t)llround(value);
    }
    return dp;
}

static void evaluate_pending(dd_engine_t *e)
{
    size_t i = 0;

    if (e->npend == 0) {
        return;
    }
    qsort(e->pend, e->npend, sizeof(pending_t), cmp_pending);
    while (i < e->npend) {
        size_t j = i;
        size_t n;
        size_t m;
        double threshold = 0.0;
        fleet_threshold_t fleet;
        cprof_t *p = e->profs[e->pend[i].prof];
        item_t *it = &p->items[e->pend[i].item];
        dd_stats_status_t st;

        while (j < e->npend && e->pend[j].prof == e->pend[i].prof &&
               e->pend[j].item == e->pend[i].item && e->pend[j].end == e->pend[i].end) {
            j++;
        }
        n = j - i;
        if (!dd_engine_grow_array((void **)&e->vals, &e->vals_cap, n, sizeof(double))) {
            e->oom = true;
            return;
        }
        for (m = 0; m < n; m++) {
            e->vals[m] = e->pend[i + m].value;
        }
        st = dd_stats_percentile(e->vals, n, it->percentile, &threshold);
        fleet.value = threshold;
        fleet.devices = n;
        for (m = i; st == DD_STATS_OK && m < j; m++) {
            thing_t *t = e->things[e->pend[m].thing];
            pstate_t *ps = find_ps(t, p);
            dd_datapoint_t dp = count_dp(it, e->pend[m].value);
            bool conforms = dd_criteria_compare(it->crit.op, e->pend[m].value, threshold);
            if (ps != NULL) {
                step_slot(e, t, p, it, &ps->slots[e->pend[m].item], !conforms, &dp, e->pend[m].end,
                          &fleet);
            }
        }
        i = j;
    }
    e->npend = 0;
}

/* A connected thing takes part in a cloud window even without events: its
 * counts are 0 (AWS reports {"count":0} datapoints for quiet devices). */
static bool participates(const thing_t *t, int64_t start, int64_t end)
{
    if (t->connected) {
        return t->connect_ms <= end;
    }
    return t->disconnect_ms > start;
}

static void pass_thing(dd_engine_t *e, thing_t *t, uint32_t ti, int64_t now_ms)
{
    uint32_t i;
    uint32_t k;

    e->nrk = 0;
    for (i = 0; i < t->nps; i++) {
        pstate_t *ps = &t->ps[i];
        cprof_t *p = ps->prof;
        size_t pi = 0;

        (void)dd_engine_find_prof(e, p->p.name, &pi);
        for (k = 0; k < p->nitems; k++) {
            item_t *it = &p->items[k];
            slot_t *s = &ps->slots[k];
            int64_t d;
            int64_t closed;
            int64_t end = 0;
            double value = 0.0;
            bool has = false;

            if (s->alarm.state == DD_ALARM_IN_ALARM &&
                now_ms - s->alarm.last_datapoint_ms > e->cfg.invalidate_after_ms) {
                invalidate_slot(e, t, p, it, s, now_ms);
            }
            note_alarm(e, s);
            if (!it->windowed || it->kind == ITEM_INERT) {
                continue;
            }
            d = it->duration_ms;
            closed = closed_boundary(now_ms, d);
            if (s->acc_end != 0 && s->acc_end <= closed) {
                has = true;
                end = s->acc_end;
                value = s->acc;
                s->acc_end = 0;
                s->acc = 0.0;
            } else if (it->id == DD_METRIC_DISCONNECT_DURATION) {
                if (!t->connected && t->disconnect_ms > 0 && s->eval_end < closed &&
                    closed >= t->disconnect_ms) {
                    has = true;
                    end = closed;
                    value = (double)((closed - t->disconnect_ms) / 60000);
                }
            } else if (it->info->side == DD_SIDE_CLOUD && s->acc_end == 0 && s->eval_end < closed &&
                       closed > 0 && participates(t, closed - d, closed)) {
                has = true;
                end = closed;
                value = 0.0;
            }
            if (!has) {
                continue;
            }
            s->eval_end = end;
            mark_dirty(e, t);
            if (it->info->shape == DD_SHAPE_WINDOW_COUNT) {
                dd_datapoint_t dp = count_dp(it, value);
                retain_value(e, t, it, &dp, end);
            }
            switch (it->kind) {
            case ITEM_STATIC: {
                dd_datapoint_t dp = count_dp(it, value);
                evaluate_static(e, t, p, it, s, &dp, end);
                break;
            }
            case ITEM_STATISTICAL: (void)push_pending(e, (uint32_t)pi, k, ti, end, value); break;
            case ITEM_ML: {
                dd_datapoint_t dp = count_dp(it, value);
                evaluate_ml(e, t, p, it, s, &dp, value, end);
                break;
            }
            default: break;
            }
        }
    }
}

/* True when some profile has an item evaluated when a window closes (pass_thing). */
static bool any_windowed(const dd_engine_t *e)
{
    size_t i;
    uint32_t k;

    for (i = 0; i < e->nprofs; i++) {
        for (k = 0; k < e->profs[i]->nitems; k++) {
            const item_t *it = &e->profs[i]->items[k];
            if (it->windowed && it->kind != ITEM_INERT) {
                return true;
            }
        }
    }
    return false;
}

static void maybe_pass(dd_engine_t *e, int64_t now_ms)
{
    int64_t closed = closed_boundary(now_ms, PASS_MS);
    size_t i;

    if (closed <= e->last_closed) {
        return;
    }
    e->last_closed = closed;
    /* Without windowed items a pass only invalidates stale alarms: walking every thing's
     * slots for that at every boundary was a tenth of a replay's engine time. */
    if (now_ms <= e->inval_due && !any_windowed(e)) {
        return;
    }
    e->inval_due = INT64_MAX; /* the walk below (and its steps) compute it anew */
    for (i = 0; i < e->nthings; i++) {
        pass_thing(e, e->things[i], (uint32_t)i, now_ms);
    }
    evaluate_pending(e);
}

/* ------------------------------------------------------------------ reports */

/* The datapoint @p r carries for @p it (dd_metric_from_report()); @p ch: its delta counter's
 * history channel, or -1. */
static bool extract_device(const item_t *it, const dd_report_t *r, dd_datapoint_t *dp, int *ch)
{
    return dd_metric_from_report(it->id, it->metric, it->ctype, r, dp, ch) == DD_METRIC_OK;
}

/* One report's scans of the thing's history, a cursor per counter: behaviors on one counter
 * usually come in growing durations (a profile's 5, 10, 15, 30, 60 minutes), and each then
 * reads only the samples the shorter ones did not. */
typedef struct report_sums {
    dd_window_cursor_t cur[DD_WINDOW_CHANNELS];
    bool on[DD_WINDOW_CHANNELS];
} report_sums_t;

/* Turns @p dp, the report's value of delta counter @p ch, into its sum over the behavior's
 * duration from the thing's history. */
static void window_device(const thing_t *t, const item_t *it, int64_t now_ms, int ch,
                          report_sums_t *rs, dd_datapoint_t *dp)
{
    if (ch >= 0 && ch < DD_WINDOW_CHANNELS && it->duration_ms > 0) {
        uint64_t sum = 0;
        if (!rs->on[ch]) {
            (void)dd_window_cursor_start(&t->hist, now_ms, (unsigned)ch, &rs->cur[ch]);
            rs->on[ch] = true;
        }
        if (dd_window_cursor_sum(&t->hist, &rs->cur[ch], it->duration_ms, &sum) != DD_WINDOW_OK) {
            /* A shorter duration after a longer one: a scan of its own. */
            (void)dd_window_sum(&t->hist, now_ms, it->duration_ms, (unsigned)ch, &sum, NULL);
        }
        dp->count = sum > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)sum;
    }
}

static void accumulate(slot_t *s, const item_t *it, int64_t time_ms, double amount, bool replace)
{
    int64_t end = dd_window_tumbling_end(time_ms, it->duration_ms);

    if (end <= s->eval_end) {
        /* Late for a window already evaluated: count it in the next one. */
        end = s->eval_end + it->duration_ms;
    }
    if (s->acc_end == 0 || s->acc_end < end) {
        s->acc_end = end;
        s->acc = 0.0;
    }
    s->acc = replace ? amount : s->acc + amount;
}

static dd_engine_status_t check_time(dd_engine_t *e, int64_t now_ms)
{
    if (now_ms < e->now) {
        return DD_ENGINE_BACKWARDS;
    }
    e->now = now_ms;
    return DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_on_report(dd_engine_t *e, const char *name, int64_t now_ms,
                                       const dd_report_t *r)
{
    thing_t *t;
    uint32_t i;
    uint32_t k;
    report_sums_t rs;

    if (e == NULL || name == NULL || r == NULL || name[0] == '\0') {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (check_time(e, now_ms) != DD_ENGINE_OK) {
        return DD_ENGINE_BACKWARDS;
    }
    e->oom = false;
    maybe_pass(e, now_ms);
    t = dd_engine_get_thing(e, name);
    if (t == NULL) {
        return DD_ENGINE_NO_MEMORY;
    }
    ensure_coverage(e, t, now_ms);
    t->last_device_ms = now_ms;
    {
        uint64_t v[DD_METRIC_COUNTERS];
        uint32_t mask;
        if (dd_metric_report_counters(r, v, &mask) == DD_METRIC_OK &&
            dd_window_push(&t->hist, now_ms, mask, v, KEEP_MS) == DD_WINDOW_NO_MEMORY) {
            return DD_ENGINE_NO_MEMORY;
        }
    }
    e->nrk = 0;
    memset(rs.on, 0, sizeof(rs.on));
    for (i = 0; i < t->nps; i++) {
        pstate_t *ps = &t->ps[i];
        cprof_t *p = ps->prof;
        for (k = 0; k < p->nitems; k++) {
            item_t *it = &p->items[k];
            slot_t *s = &ps->slots[k];
            dd_datapoint_t dp;
            int ch = -1;

            if (it->kind == ITEM_INERT || it->info->side != DD_SIDE_DEVICE) {
                continue;
            }
            if (!extract_device(it, r, &dp, &ch)) {
                continue;
            }
            retain_value(e, t, it, &dp, now_ms);
            switch (it->kind) {
            case ITEM_STATIC:
                if (it->info->shape == DD_SHAPE_DELTA) {
                    window_device(t, it, now_ms, ch, &rs, &dp);
                }
                evaluate_static(e, t, p, it, s, &dp, now_ms);
                break;
            case ITEM_STATISTICAL:
                accumulate(s, it, now_ms, dp.kind == DD_VALUE_NUMBER ? dp.number : (double)dp.count,
                           it->info->shape != DD_SHAPE_DELTA);
                break;
            case ITEM_ML:
                if (it->info->shape == DD_SHAPE_DELTA) {
                    window_device(t, it, now_ms, ch, &rs, &dp);
                }
                evaluate_ml(e, t, p, it, s, &dp,
                            dp.kind == DD_VALUE_NUMBER ? dp.number : (double)dp.count, now_ms);
                break;
            default: break;
            }
        }
    }
    mark_dirty(e, t);
    flush(e);
    return e->oom ? DD_ENGINE_NO_MEMORY : DD_ENGINE_OK;
}

/* ------------------------------------------------------------------ cloud events */

static bool dimension_matches(const item_t *it, const char *topic, const char *client)
{
    bool match = false;
    size_t i;

    if (!it->has_dim) {
        return true;
    }
    if (it->dim == NULL) {
        return false;
    }
    for (i = 0; topic != NULL && i < it->dim->value_count; i++) {
        if (dd_metric_topic_matches(it->dim->values[i], topic, client)) {
            match = true;
            break;
        }
    }
    return it->dim_op == DD_DIM_NOT_IN ? !match : match;
}

static void cloud_item(dd_engine_t *e, thing_t *t, pstate_t *ps, uint32_t k,
                       const dd_cloud_event_t *ev, uint32_t reps)
{
    cprof_t *p = ps->prof;
    item_t *it = &p->items[k];
    slot_t *s = &ps->slots[k];
    double amount = 0.0;
    bool counted = false;

    switch (it->id) {
    case DD_METRIC_NUM_MESSAGES_SENT:
        counted = ev->kind == DD_CLOUD_MESSAGE_SENT && dimension_matches(it, ev->topic, ev->thing);
        amount = reps;
        break;
    case DD_METRIC_NUM_MESSAGES_RECEIVED:
        counted =
            ev->kind == DD_CLOUD_MESSAGE_RECEIVED && dimension_matches(it, ev->topic, ev->thing);
        amount = reps;
        break;
    case DD_METRIC_NUM_AUTHORIZATION_FAILURES:
        counted = ev->kind == DD_CLOUD_AUTH_FAILURE && dimension_matches(it, ev->topic, ev->thing);
        amount = reps;
        break;
    case DD_METRIC_NUM_CONNECTION_ATTEMPTS:
        counted = ev->kind == DD_CLOUD_CONNECT;
        amount = reps;
        break;
    case DD_METRIC_NUM_DISCONNECTS:
        counted = ev->kind == DD_CLOUD_DISCONNECT;
        amount = reps;
        break;
    case DD_METRIC_MESSAGE_BYTE_SIZE:
        if (ev->kind != DD_CLOUD_MESSAGE_SENT || !dimension_matches(it, ev->topic, ev->thing)) {
            return;
        }
        {
            dd_datapoint_t dp;
            uint32_t r;
            memset(&dp, 0, sizeof(dp));
            dp.kind = DD_VALUE_COUNT;
            dp.count = ev->payload_size;
            retain_value(e, t, it, &dp, ev->time_ms);
            if (it->kind == ITEM_STATIC) {
                for (r = 0; r < reps; r++) {
                    evaluate_static(e, t, p, it, s, &dp, ev->time_ms);
                }
                return;
            }
        }
        counted = true;
        amount = (double)ev->payload_size * reps;
        break;
    case DD_METRIC_SOURCE_IP_ADDRESS:
        /* A connection has no topic: a dimension on this metric filters nothing. */
        if (ev->kind == DD_CLOUD_CONNECT && ev->success && ev->has_source_ip) {
            dd_datapoint_t dp;
            memset(&dp, 0, sizeof(dp));
            dp.kind = DD_VALUE_CIDRS;
            dp.n = 1;
            dp.items = &ev->source_ip;
            retain_value(e, t, it, &dp, ev->time_ms);
            if (it->kind == ITEM_STATIC) {
                evaluate_static(e, t, p, it, s, &dp, ev->time_ms);
            }
        }
        return;
    case DD_METRIC_DISCONNECT_DURATION:
        if (ev->kind == DD_CLOUD_CONNECT && ev->success && it->kind == ITEM_STATIC &&
            s->alarm.last_datapoint_ms > 0) {
            dd_datapoint_t dp;
            memset(&dp, 0, sizeof(dp));
            dp.kind = DD_VALUE_COUNT;
            dp.count = 0;
            evaluate_static(e, t, p, it, s, &dp, ev->time_ms);
        }
        return;
    default: return;
    }
    if (counted) {
        accumulate(s, it, ev->time_ms, amount, false);
        mark_dirty(e, t);
    }
}

dd_engine_status_t dd_engine_on_cloud_events(dd_engine_t *e, const dd_cloud_event_t *events,
                                             size_t count)
{
    size_t n;

    if (e == NULL || (events == NULL && count > 0)) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    e->oom = false;
    for (n = 0; n < count; n++) {
        const dd_cloud_event_t *ev = &events[n];
        uint32_t reps = ev->repeat > 0 ? ev->repeat : 1;
        thing_t *t;
        uint32_t i;
        uint32_t k;

        if (ev->thing == NULL || ev->thing[0] == '\0' || (unsigned)ev->kind > DD_CLOUD_DISCONNECT) {
            flush(e);
            return DD_ENGINE_BAD_PARAMETER;
        }
        if (check_time(e, ev->time_ms) != DD_ENGINE_OK) {
            flush(e);
            return DD_ENGINE_BACKWARDS;
        }
        maybe_pass(e, ev->time_ms);
        t = dd_engine_get_thing(e, ev->thing);
        if (t == NULL) {
            flush(e);
            return DD_ENGINE_NO_MEMORY;
        }
        if (!e->has_registry && t->event_registered != ev->registered) {
            t->event_registered = ev->registered;
            t->cover_gen = 0;
        }
        ensure_coverage(e, t, ev->time_ms);
        t->last_cloud_ms = ev->time_ms;
        if (ev->kind == DD_CLOUD_CONNECT && ev->success) {
            t->connected = true;
            t->connect_ms = ev->time_ms;
        } else if (ev->kind == DD_CLOUD_DISCONNECT) {
            t->connected = false;
            t->disconnect_ms = ev->time_ms;
        }
        e->nrk = 0;
        for (i = 0; i < t->nps; i++) {
            for (k = 0; k < t->ps[i].prof->nitems; k++) {
                const item_t *it = &t->ps[i].prof->items[k];
                if (it->kind == ITEM_INERT || it->info->side != DD_SIDE_CLOUD) {
                    continue;
                }
                cloud_item(e, t, &t->ps[i], k, ev, reps);
            }
        }
        mark_dirty(e, t);
    }
    flush(e);
    return e->oom ? DD_ENGINE_NO_MEMORY : DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_tick(dd_engine_t *e, int64_t now_ms)
{
    if (e == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (check_time(e, now_ms) != DD_ENGINE_OK) {
        return DD_ENGINE_BACKWARDS;
    }
    e->oom = false;
    maybe_pass(e, now_ms);
    flush(e);
    return e->oom ? DD_ENGINE_NO_MEMORY : DD_ENGINE_OK;
}

/* ------------------------------------------------------------------ profiles */

/* Moves the slots of @p old to @p nw in every thing: unchanged behaviors keep
 * their state; removed or changed ones that were in alarm are invalidated. */
static void remap_profile(dd_engine_t *e, cprof_t *old, cprof_t *nw, int64_t now_ms)
{
    size_t i;
    uint32_t j;
    uint32_t k;

    for (i = 0; i < e->nthings; i++) {
        thing_t *t = e->things[i];
        pstate_t *ps = find_ps(t, old);
        slot_t *slots;
        if (ps == NULL) {
            continue;
        }
        slots = calloc(nw->nitems > 0 ? nw->nitems : 1, sizeof(slot_t));
        if (slots == NULL) {
            e->oom = true;
            continue;
        }
        for (j = 0; j < old->nitems; j++) {
            bool kept = false;
            for (k = 0; k < nw->nitems; k++) {
                if (nw->items[k].hash == old->items[j].hash &&
                    strcmp(nw->items[k].key, old->items[j].key) == 0) {
                    slots[k] = ps->slots[j];
                    ps->slots[j].vdesc = NULL;
                    kept = true;
                    break;
                }
            }
            if (!kept) {
                invalidate_slot(e, t, old, &old->items[j], &ps->slots[j], now_ms);
            }
        }
        dd_engine_free_pstate(ps);
        ps->slots = slots;
        ps->prof = nw;
        mark_dirty(e, t);
    }
}

dd_engine_status_t dd_engine_put_profile(dd_engine_t *e, const dd_profile_t *profile,
                                         int64_t now_ms)
{
    dd_metric_defs_t defs;
    dd_profile_error_t err;
    cprof_t *c = NULL;
    cprof_t *old;
    size_t index = 0;
    size_t i;
    dd_engine_status_t st;

    if (e == NULL || profile == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (check_time(e, now_ms) != DD_ENGINE_OK) {
        return DD_ENGINE_BACKWARDS;
    }
    dd_engine_defs(e, &defs);
    if (dd_profile_validate(profile, &defs, &e->cfg.arn, &err) != DD_PROFILE_OK) {
        return DD_ENGINE_INVALID;
    }
    st = compile_profile(e, profile, &c);
    if (st != DD_ENGINE_OK) {
        return st;
    }
    e->oom = false;
    old = dd_engine_find_prof(e, profile->name, &index);
    if (old != NULL) {
        remap_profile(e, old, c, now_ms);
        e->profs[index] = c;
        free_cprof(old);
    } else {
        cprof_t **n = realloc(e->profs, (e->nprofs + 1) * sizeof(cprof_t *));
        if (n == NULL) {
            free_cprof(c);
            return DD_ENGINE_NO_MEMORY;
        }
        e->profs = n;
        e->profs[e->nprofs++] = c;
    }
    e->cover_gen++;
    for (i = 0; i < e->nthings; i++) {
        recompute_coverage(e, e->things[i], now_ms);
    }
    flush(e);
    return e->oom ? DD_ENGINE_NO_MEMORY : DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_remove_profile(dd_engine_t *e, const char *name, int64_t now_ms)
{
    cprof_t *p;
    size_t index = 0;
    size_t i;

    if (e == NULL || name == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    p = dd_engine_find_prof(e, name, &index);
    if (p == NULL) {
        return DD_ENGINE_NOT_FOUND;
    }
    if (check_time(e, now_ms) != DD_ENGINE_OK) {
        return DD_ENGINE_BACKWARDS;
    }
    for (i = 0; i < e->nthings; i++) {
        thing_t *t = e->things[i];
        pstate_t *ps = find_ps(t, p);
        uint32_t k;
        if (ps == NULL) {
            continue;
        }
        for (k = 0; k < p->nitems; k++) {
            invalidate_slot(e, t, p, &p->items[k], &ps->slots[k], now_ms);
        }
        dd_engine_free_pstate(ps);
        /* keep the profiles' order: output order is deterministic */
        memmove(ps, ps + 1, (size_t)(t->nps - (uint32_t)(ps - t->ps) - 1) * sizeof(pstate_t));
        t->nps--;
        mark_dirty(e, t);
    }
    memmove(&e->profs[index], &e->profs[index + 1], (e->nprofs - index - 1) * sizeof(cprof_t *));
    e->nprofs--;
    free_cprof(p);
    e->cover_gen++;
    flush(e);
    return DD_ENGINE_OK;
}

const dd_profile_t *dd_engine_get_profile(const dd_engine_t *e, const char *name)
{
    cprof_t *p;

    if (e == NULL || name == NULL) {
        return NULL;
    }
    p = dd_engine_find_prof(e, name, NULL);
    return p != NULL ? &p->p : NULL;
}

dd_engine_status_t dd_engine_thing_changed(dd_engine_t *e, const char *name, int64_t now_ms)
{
    thing_t *t;

    if (e == NULL || name == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (check_time(e, now_ms) != DD_ENGINE_OK) {
        return DD_ENGINE_BACKWARDS;
    }
    t = find_thing(e, name, hash_str(name));
    if (t == NULL) {
        return DD_ENGINE_OK; /* no state yet: coverage is computed at its first datapoint */
    }
    e->oom = false;
    recompute_coverage(e, t, now_ms);
    flush(e);
    return e->oom ? DD_ENGINE_NO_MEMORY : DD_ENGINE_OK;
}

/* ------------------------------------------------------------------ definitions */

void dd_engine_defs(const dd_engine_t *e, dd_metric_defs_t *defs)
{
    if (defs == NULL) {
        return;
    }
    memset(defs, 0, sizeof(*defs));
    if (e == NULL) {
        return;
    }
    defs->customs = e->customs;
    defs->custom_count = e->ncustoms;
    defs->dimensions = (const dd_dimension_def_t *const *)e->dims;
    defs->dimension_count = e->ndims;
}

dd_engine_status_t dd_engine_put_custom_metric(dd_engine_t *e, const dd_custom_metric_def_t *def)
{
    size_t i;
    dd_custom_metric_def_t *n;

    if (e == NULL || def == NULL || !dd_name_valid(DD_NAME_CUSTOM_METRIC, def->name) ||
        dd_metric_custom_info(def->type) == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    for (i = 0; i < e->ncustoms; i++) {
        if (strcmp(e->customs[i].name, def->name) == 0) {
            e->customs[i] = *def;
            resolve_all(e);
            return DD_ENGINE_OK;
        }
    }
    n = realloc(e->customs, (e->ncustoms + 1) * sizeof(*n));
    if (n == NULL) {
        return DD_ENGINE_NO_MEMORY;
    }
    e->customs = n;
    e->customs[e->ncustoms++] = *def;
    resolve_all(e);
    return DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_remove_custom_metric(dd_engine_t *e, const char *name)
{
    size_t i;

    if (e == NULL || name == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    for (i = 0; i < e->ncustoms; i++) {
        if (strcmp(e->customs[i].name, name) == 0) {
            memmove(&e->customs[i], &e->customs[i + 1],
                    (e->ncustoms - i - 1) * sizeof(e->customs[0]));
            e->ncustoms--;
            resolve_all(e);
            return DD_ENGINE_OK;
        }
    }
    return DD_ENGINE_NOT_FOUND;
}

dd_engine_status_t dd_engine_put_dimension(dd_engine_t *e, const dd_dimension_def_t *def)
{
    size_t i;
    dd_dimension_def_t *copy;
    dd_dimension_def_t **n;

    if (e == NULL || def == NULL || !dd_name_valid(DD_NAME_DIMENSION, def->name) ||
        def->value_count > DD_DIMENSION_VALUES_MAX) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    copy = malloc(sizeof(*copy));
    if (copy == NULL) {
        return DD_ENGINE_NO_MEMORY;
    }
    *copy = *def;
    for (i = 0; i < e->ndims; i++) {
        if (strcmp(e->dims[i]->name, def->name) == 0) {
            free(e->dims[i]);
            e->dims[i] = copy;
            resolve_all(e);
            return DD_ENGINE_OK;
        }
    }
    n = realloc(e->dims, (e->ndims + 1) * sizeof(*n));
    if (n == NULL) {
        free(copy);
        return DD_ENGINE_NO_MEMORY;
    }
    e->dims = n;
    e->dims[e->ndims++] = copy;
    resolve_all(e);
    return DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_remove_dimension(dd_engine_t *e, const char *name)
{
    size_t i;

    if (e == NULL || name == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    for (i = 0; i < e->ndims; i++) {
        if (strcmp(e->dims[i]->name, name) == 0) {
            free(e->dims[i]);
            memmove(&e->dims[i], &e->dims[i + 1], (e->ndims - i - 1) * sizeof(e->dims[0]));
            e->ndims--;
            resolve_all(e);
            return DD_ENGINE_OK;
        }
    }
    return DD_ENGINE_NOT_FOUND;
}

/* ------------------------------------------------------------------ misc API */

void dd_engine_config_default(dd_engine_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    dd_arn_ctx_default(&cfg->arn);
    cfg->invalidate_after_ms = 2LL * 24 * 3600 * 1000;
}

dd_engine_status_t dd_engine_create(const dd_engine_config_t *cfg,
                                    const dd_engine_registry_t *registry,
                                    const dd_engine_sink_t *sink, dd_engine_t **out)
{
    dd_engine_t *e;

    if (out == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    *out = NULL;
    if (registry != NULL && registry->lookup == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return DD_ENGINE_NO_MEMORY;
    }
    if (cfg != NULL) {
        e->cfg = *cfg;
    } else {
        dd_engine_config_default(&e->cfg);
    }
    if (e->cfg.invalidate_after_ms <= 0) {
        e->cfg.invalidate_after_ms = 2LL * 24 * 3600 * 1000;
    }
    if (registry != NULL) {
        e->registry = *registry;
        e->has_registry = true;
    }
    dd_engine_set_sink(e, sink);
    e->cover_gen = 1;
    *out = e;
    return DD_ENGINE_OK;
}

void dd_engine_set_sink(dd_engine_t *e, const dd_engine_sink_t *sink)
{
    if (e == NULL) {
        return;
    }
    if (sink != NULL) {
        e->sink = *sink;
    } else {
        memset(&e->sink, 0, sizeof(e->sink));
    }
}

void dd_engine_destroy(dd_engine_t *e)
{
    size_t i;
    uint32_t j;

    if (e == NULL) {
        return;
    }
    for (i = 0; i < e->nthings; i++) {
        thing_t *t = e->things[i];
        for (j = 0; j < t->nps; j++) {
            dd_engine_free_pstate(&t->ps[j]);
        }
        free(t->ps);
        dd_window_free(&t->hist);
        free(t); /* and its name */
    }
    for (i = 0; i < e->nprofs; i++) {
        free_cprof(e->profs[i]);
    }
    for (i = 0; i < e->ndims; i++) {
        free(e->dims[i]);
    }
    free(e->dims);
    free(e->customs);
    free(e->profs);
    free(e->things);
    free(e->table);
    free(e->dirty);
    free(e->blob);
    free(e->gbuf);
    free(e->pend);
    free(e->vals);
    for (i = 0; i < e->nrkeys; i++) {
        free(e->rkeys[i].metric);
        free(e->rkeys[i].dim);
    }
    free(e->rkeys);
    free(e);
}

dd_engine_status_t dd_engine_set_verification(dd_engine_t *e, const char *violation_id,
                                              dd_verification_t state, const char *description)
{
    size_t i;
    uint32_t j;
    uint32_t k;

    if (e == NULL || violation_id == NULL || (unsigned)state > DD_VERIFICATION_TRUE_POSITIVE) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    for (i = 0; i < e->nthings; i++) {
        thing_t *t = e->things[i];
        for (j = 0; j < t->nps; j++) {
            for (k = 0; k < t->ps[j].prof->nitems; k++) {
                slot_t *s = &t->ps[j].slots[k];
                char *d = NULL;
                if (s->alarm.state != DD_ALARM_IN_ALARM ||
                    strcmp(s->alarm.violation_id, violation_id) != 0) {
                    continue;
                }
                if (description != NULL && (d = dd_engine_dup_str(description)) == NULL) {
                    return DD_ENGINE_NO_MEMORY;
                }
                free(s->vdesc);
                s->vdesc = d;
                s->alarm.verification = (uint8_t)state;
                mark_dirty(e, t);
                flush(e);
                return DD_ENGINE_OK;
            }
        }
    }
    return DD_ENGINE_NOT_FOUND;
}

dd_engine_status_t dd_engine_set_time(dd_engine_t *e, int64_t now_ms)
{
    if (e == NULL || now_ms < 0) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (now_ms > e->now) {
        e->now = now_ms;
    }
    if (closed_boundary(now_ms, PASS_MS) > e->last_closed) {
        e->last_closed = closed_boundary(now_ms, PASS_MS);
    }
    return DD_ENGINE_OK;
}

int64_t dd_engine_now(const dd_engine_t *e)
{
    return e != NULL ? e->now : 0;
}

static item_t *find_item(const dd_engine_t *e, const char *profile, const char *behavior)
{
    cprof_t *p = dd_engine_find_prof(e, profile, NULL);
    uint32_t k;

    for (k = 0; p != NULL && k < p->nitems; k++) {
        if (p->items[k].b != NULL && strcmp(p->items[k].b->name, behavior) == 0) {
            return &p->items[k];
        }
    }
    return NULL;
}

dd_engine_status_t dd_engine_set_training(dd_engine_t *e, const char *profile, const char *behavior,
                                          uint64_t datapoints, int64_t start_ms)
{
    item_t *it;

    if (e == NULL || profile == NULL || behavior == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    it = find_item(e, profile, behavior);
    if (it == NULL || it->base_kind != ITEM_ML) {
        return DD_ENGINE_NOT_FOUND;
    }
    it->ml_datapoints = datapoints;
    it->ml_start_ms = start_ms;
    return DD_ENGINE_OK;
}

dd_engine_status_t dd_engine_training_summaries(const dd_engine_t *e, const char *profile,
                                                int (*fn)(void *ctx,
                                                          const dd_training_summary_t *s),
                                                void *ctx)
{
    size_t i;
    uint32_t k;

    if (e == NULL || fn == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    if (profile != NULL && dd_engine_find_prof(e, profile, NULL) == NULL) {
        return DD_ENGINE_NOT_FOUND;
    }
    for (i = 0; i < e->nprofs; i++) {
        const cprof_t *p = e->profs[i];
        if (profile != NULL && strcmp(profile, p->p.name) != 0) {
            continue;
        }
        for (k = 0; k < p->nitems; k++) {
            const item_t *it = &p->items[k];
            dd_training_summary_t s;
            double pct;
            if (it->base_kind != ITEM_ML) {
                continue;
            }
            pct = (double)it->ml_datapoints * 100.0 / ML_DATAPOINTS_NEEDED;
            memset(&s, 0, sizeof(s));
            s.profile = p->p.name;
            s.behavior = it->b->name;
            s.model_status = it->ml.active ? "ACTIVE" : "PENDING_BUILD";
            s.last_model_refresh_ms = it->ml.active ? it->ml.built_ms : 0;
            s.datapoints_collection_percentage = pct > 100.0 ? 100.0 : pct;
            s.datapoints = it->ml_datapoints;
            s.training_start_ms = it->ml_start_ms;
            if (fn(ctx, &s) != 0) {
                return DD_ENGINE_OK;
            }
        }
    }
    return DD_ENGINE_OK;
}

void dd_engine_get_stats(const dd_engine_t *e, dd_engine_stats_t *out)
{
    size_t i;
    uint32_t j;

    if (out == NULL) {
        return;
    }
    memset(out, 0, sizeof(*out));
    if (e == NULL) {
        return;
    }
    out->things = e->nthings;
    out->profiles = e->nprofs;
    out->state_bytes = e->table_cap * sizeof(thing_entry_t) + e->things_cap * sizeof(thing_t *);
    for (i = 0; i < e->nthings; i++) {
        const thing_t *t = e->things[i];
        out->state_bytes += sizeof(*t) + strlen(t->name) + 1 +
                            (size_t)t->hist.cap * sizeof(dd_window_sample_t) +
                            t->nps * sizeof(pstate_t);
        for (j = 0; j < t->nps; j++) {
            out->slots += t->ps[j].prof->nitems;
            out->state_bytes += t->ps[j].prof->nitems * sizeof(slot_t);
        }
    }
}

const char *dd_engine_strerror(dd_engine_status_t status)
{
    switch (status) {
    case DD_ENGINE_OK: return "ok";
    case DD_ENGINE_BAD_PARAMETER: return "bad parameter";
    case DD_ENGINE_NO_MEMORY: return "out of memory";
    case DD_ENGINE_NOT_FOUND: return "not found";
    case DD_ENGINE_INVALID: return "invalid profile or state";
    case DD_ENGINE_BACKWARDS: return "time went backwards";
    }
    return "unknown engine status";
}
