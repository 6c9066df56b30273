/*
 * Threshold sweep (dd_sweep.h): variants of one behavior as profiles of one
 * replay, scored from the replay's event and datapoint hooks.
 */
#include "dd_sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dd_map.h"
#include "dd_profile.h"

/* One thing seen in the stream. */
typedef struct sweep_thing {
    bool bad;
    int64_t since_ms;    /* anomaly start; 0 = first datapoint */
    int64_t first_dp_ms; /* -1 until the first datapoint */
} sweep_thing_t;

/* One (variant, thing) cell. */
typedef struct sweep_cell {
    int64_t detected_ms; /* first in-alarm at/after the anomaly start; -1 none */
    int64_t alarm_since; /* start of the current in-alarm span; -1 none */
    int64_t alarmed_ms;
} sweep_cell_t;

typedef struct sweep {
    const dd_sweep_options_t *opt;
    dd_map_t profiles; /* variant profile name -> index + 1 */
    dd_map_t things;   /* thing name -> index + 1 */
    sweep_thing_t *thing;
    sweep_cell_t *cell; /* thing-major: cell[t * variants + v] */
    size_t nthings;
    size_t cap;
    dd_sweep_row_t *rows;
    const char *first_profile; /* the engine's name of variant 0 (pointer, once seen) */
    char first_name[DD_PROFILE_NAME_MAX + 1];
    int64_t last_ms;
    bool oom;
} sweep_t;

/* The index of @p name in the sweep, adding it on first sight. */
static bool thing_index(sweep_t *s, const char *name, size_t *out)
{
    void *found = dd_map_get(&s->things, name);
    size_t i;

    if (found != NULL) {
        *out = (size_t)(uintptr_t)found - 1;
        return true;
    }
    if (s->nthings == s->cap) {
        size_t cap = s->cap == 0 ? 256 : s->cap * 2;
        size_t n = s->opt->variant_count;
        sweep_thing_t *t = realloc(s->thing, cap * sizeof(*t));
        sweep_cell_t *c;
        if (t == NULL) {
            return false;
        }
        s->thing = t;
        c = realloc(s->cell, cap * n * sizeof(*c));
        if (c == NULL) {
            return false;
        }
        s->cell = c;
        s->cap = cap;
    }
    i = s->nthings;
    if (dd_map_put(&s->things, name, (void *)(uintptr_t)(i + 1), NULL) != DD_MAP_OK) {
        return false;
    }
    s->nthings++;
    s->thing[i].bad = false;
    s->thing[i].since_ms = 0;
    s->thing[i].first_dp_ms = -1;
    for (size_t v = 0; v < s->opt->variant_count; v++) {
        sweep_cell_t *c = &s->cell[i * s->opt->variant_count + v];
        c->detected_ms = -1;
        c->alarm_since = -1;
        c->alarmed_ms = 0;
    }
    *out = i;
    return true;
}

static int64_t anomaly_start(const sweep_thing_t *t)
{
    return t->since_ms != 0 ? t->since_ms : t->first_dp_ms;
}

static void on_datapoint(void *ctx, const dd_datapoint_record_t *d)
{
    sweep_t *s = ctx;
    size_t i;

    if (d->window_end_ms > s->last_ms) {
        s->last_ms = d->window_end_ms;
    }
    /* Every variant sees the same datapoints: variant 0's are enough. */
    if (s->first_profile == NULL) {
        if (strcmp(d->profile, s->first_name) != 0) {
            return;
        }
        s->first_profile = d->profile;
    } else if (d->profile != s->first_profile) {
        return;
    }
    if (!thing_index(s, d->thing, &i)) {
        s->oom = true;
        return;
    }
    if (s->thing[i].first_dp_ms < 0) {
        s->thing[i].first_dp_ms = d->window_end_ms;
    }
}

static void on_event(void *ctx, const dd_violation_event_t *ev)
{
    sweep_t *s = ctx;
    void *pv = dd_map_get(&s->profiles, ev->profile);
    size_t v;
    size_t i;
    sweep_thing_t *t;
    sweep_cell_t *c;
    dd_sweep_row_t *row;

    if (pv == NULL) {
        return;
    }
    v = (size_t)(uintptr_t)pv - 1;
    if (!thing_index(s, ev->thing, &i)) {
        s->oom = true;
        return;
    }
    if (ev->time_ms > s->last_ms) {
        s->last_ms = ev->time_ms;
    }
    t = &s->thing[i];
    c = &s->cell[i * s->opt->variant_count + v];
    row = &s->rows[v];
    if (ev->type == DD_ALARM_RAISED) {
        /* Before its anomaly started a bad thing was still good: such an alarm is false. */
        bool in_anomaly = t->bad && ev->time_ms >= anomaly_start(t);
        if (in_anomaly) {
            row->tp_events++;
            if (c->detected_ms < 0) {
                c->detected_ms = ev->time_ms;
            }
        } else {
            row->fp_events++;
            if (!t->bad && c->detected_ms < 0) {
                c->detected_ms = ev->time_ms; /* marks a false-positive thing */
            }
        }
        c->alarm_since = ev->time_ms;
    } else if (c->alarm_since >= 0) {
        c->alarmed_ms += ev->time_ms - c->alarm_since;
        c->alarm_since = -1;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Fills the rows from the cells once the stream is done. */
static bool score(sweep_t *s)
{
    size_t n = s->opt->variant_count;
    int64_t *times = malloc((s->nthings + 1) * sizeof(int64_t));

    if (times == NULL) {
        return false;
    }
    for (size_t v = 0; v < n; v++) {
        dd_sweep_row_t *row = &s->rows[v];
        size_t nt = 0;
        for (size_t i = 0; i < s->nthings; i++) {
            const sweep_thing_t *t = &s->thing[i];
            sweep_cell_t *c = &s->cell[i * n + v];
            int64_t alarmed = c->alarmed_ms;
            if (c->alarm_since >= 0 && s->last_ms > c->alarm_since) {
                alarmed += s->last_ms - c->alarm_since;
            }
            if (t->first_dp_ms >= 0) {
                row->things_with_data++;
            }
            if (t->bad) {
                row->alarmed_bad_ms += alarmed;
                if (c->detected_ms >= 0) {
                    row->true_positives++;
                    times[nt++] = c->detected_ms - anomaly_start(t);
                } else if (t->first_dp_ms >= 0) {
                    row->false_negatives++;
                }
            } else {
                row->alarmed_good_ms += alarmed;
                if (c->detected_ms >= 0) {
                    row->false_positives++;
                }
            }
        }
        row->detect_median_ms = -1;
        row->detect_max_ms = -1;
        if (nt > 0) {
            qsort(times, nt, sizeof(int64_t), cmp_i64);
            row->detect_median_ms = times[(nt - 1) / 2];
            row->detect_max_ms = times[nt - 1];
        }
    }
    free(times);
    return true;
}

/* Sets @p criteria for variant text @p text; false with a message when it does not fit. */
static bool apply_variant(const dd_sweep_options_t *opt, cJSON *criteria, const char *text,
                          FILE *err)
{
    char *end = NULL;
    cJSON *value = cJSON_GetObjectItemCaseSensitive(criteria, "value");
    double d;

    errno = 0;
    switch (opt->kind) {
    case DD_SWEEP_VALUE:
        d = strtod(text, &end);
        if (end == text || *end != '\0' || errno != 0) {
            fprintf(err, "sweep: value '%s' is not a number\n", text);
            return false;
        }
        if (cJSON_GetObjectItemCaseSensitive(value, "count") != NULL) {
            if (d < 0 || d != (double)(long long)d) {
                fprintf(err, "sweep: value '%s': the behavior compares counts (whole, >= 0)\n",
                        text);
                return false;
            }
            cJSON_ReplaceItemInObjectCaseSensitive(value, "count", cJSON_CreateNumber(d));
        } else if (cJSON_GetObjectItemCaseSensitive(value, "number") != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(value, "number", cJSON_CreateNumber(d));
        } else {
            fprintf(err, "sweep: behavior %s has no criteria.value count or number to sweep\n",
                    opt->behavior);
            return false;
        }
        return true;
    case DD_SWEEP_PERCENTILE: {
        cJSON *st = cJSON_CreateObject();
        if (st == NULL || cJSON_AddStringToObject(st, "statistic", text) == NULL) {
            cJSON_Delete(st);
            return false;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(criteria, "value");
        cJSON_DeleteItemFromObjectCaseSensitive(criteria, "statisticalThreshold");
        cJSON_AddItemToObject(criteria, "statisticalThreshold", st);
        return true;
    }
    case DD_SWEEP_TO_ALARM: {
        long n = strtol(text, &end, 10);
        if (end == text || *end != '\0' || n < 1 || n > 10 || errno != 0) {
            fprintf(err, "sweep: datapoints to alarm '%s' is not a whole number from 1 to 10\n",
                    text);
            return false;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(criteria, "consecutiveDatapointsToAlarm");
        return cJSON_AddNumberToObject(criteria, "consecutiveDatapointsToAlarm", (double)n) != NULL;
    }
    }
    return false;
}

/*
 * Builds the variant profiles' texts: the profile with only the swept
 * behavior, changed, named "<name>-sweep<n>".
 */
static dd_sweep_status_t build_variants(sweep_t *s, dd_replay_text_t *texts, char **names,
                                        FILE *err)
{
    const dd_sweep_options_t *opt = s->opt;
    const char *pname = opt->profile->name != NULL ? opt->profile->name : "profile";
    cJSON *root = cJSON_ParseWithLength(opt->profile->text, opt->profile->len);
    const cJSON *behaviors = cJSON_GetObjectItemCaseSensitive(root, "behaviors");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "securityProfileName");
    const cJSON *b;
    const cJSON *found = NULL;
    dd_sweep_status_t status = DD_SWEEP_OK;

    if (!cJSON_IsObject(root) || !cJSON_IsString(name)) {
        fprintf(err, "%s: not a security profile (a JSON object with securityProfileName)\n",
                pname);
        cJSON_Delete(root);
        return DD_SWEEP_BAD_PROFILE;
    }
    cJSON_ArrayForEach (b, behaviors) {
        const cJSON *bn = cJSON_GetObjectItemCaseSensitive(b, "name");
        if (cJSON_IsString(bn) && strcmp(bn->valuestring, opt->behavior) == 0) {
            found = b;
        }
    }
    if (found == NULL) {
        fprintf(err, "%s: no behavior named %s\n", pname, opt->behavior);
        cJSON_Delete(root);
        return DD_SWEEP_BAD_PROFILE;
    }
    for (size_t v = 0; v < opt->variant_count && status == DD_SWEEP_OK; v++) {
        cJSON *copy = cJSON_Duplicate(root, true);
        cJSON *beh = cJSON_Duplicate(found, true);
        cJSON *list = cJSON_CreateArray();
        cJSON *criteria = cJSON_GetObjectItemCaseSensitive(beh, "criteria");
        char vname[DD_PROFILE_NAME_MAX + 1];

        (void)snprintf(vname, sizeof(vname), "%.100s-sweep%zu", name->valuestring, v);
        if (copy == NULL || beh == NULL || list == NULL) {
            status = DD_SWEEP_NO_MEMORY;
        } else if (!cJSON_IsObject(criteria)) {
            fprintf(err, "%s: behavior %s has no criteria to sweep\n", pname, opt->behavior);
            status = DD_SWEEP_BAD_VARIANT;
        } else if (!apply_variant(opt, criteria, opt->variants[v], err)) {
            status = DD_SWEEP_BAD_VARIANT;
        } else {
            cJSON_AddItemToArray(list, beh);
            beh = NULL;
            cJSON_ReplaceItemInObjectCaseSensitive(copy, "behaviors", list);
            list = NULL;
            cJSON_DeleteItemFromObjectCaseSensitive(copy, "additionalMetricsToRetain");
            cJSON_DeleteItemFromObjectCaseSensitive(copy, "additionalMetricsToRetainV2");
            cJSON_ReplaceItemInObjectCaseSensitive(copy, "securityProfileName",
                                                   cJSON_CreateString(vname));
            texts[v].text = cJSON_PrintUnformatted(copy);
            texts[v].len = texts[v].text != NULL ? strlen(texts[v].text) : 0;
            texts[v].name = pname;
            names[v] = strdup(vname);
            if (texts[v].text == NULL || names[v] == NULL ||
                dd_map_put(&s->profiles, vname, (void *)(uintptr_t)(v + 1), NULL) != DD_MAP_OK) {
                status = DD_SWEEP_NO_MEMORY;
            }
        }
        cJSON_Delete(beh);
        cJSON_Delete(list);
        cJSON_Delete(copy);
    }
    if (status == DD_SWEEP_OK) {
        (void)snprintf(s->first_name, sizeof(s->first_name), "%s", names[0]);
    }
    cJSON_Delete(root);
    return status;
}

static dd_sweep_status_t label_things(sweep_t *s)
{
    for (size_t b = 0; b < s->opt->bad_count; b++) {
        size_t i;
        if (s->opt->bad[b].thing == NULL || !thing_index(s, s->opt->bad[b].thing, &i)) {
            return s->opt->bad[b].thing == NULL ? DD_SWEEP_BAD_PARAMETER : DD_SWEEP_NO_MEMORY;
        }
        s->thing[i].bad = true;
        s->thing[i].since_ms = s->opt->bad[b].since_ms;
    }
    return DD_SWEEP_OK;
}

dd_sweep_status_t dd_sweep_run(const dd_sweep_options_t *opt, FILE *in, FILE *err,
                               dd_sweep_row_t *rows, dd_sweep_result_t *result)
{
    sweep_t s;
    dd_replay_text_t *texts = NULL;
    char **names = NULL;
    dd_replay_options_t ro;
    dd_sweep_result_t res;
    dd_sweep_status_t status;
    FILE *sink = NULL;

    if (opt == NULL || in == NULL || err == NULL || rows == NULL || opt->profile == NULL ||
        opt->profile->text == NULL || opt->behavior == NULL || opt->variants == NULL ||
        opt->variant_count == 0 || opt->variant_count > DD_SWEEP_MAX_VARIANTS ||
        (opt->bad_count > 0 && opt->bad == NULL)) {
        return DD_SWEEP_BAD_PARAMETER;
    }
    memset(&s, 0, sizeof(s));
    memset(&res, 0, sizeof(res));
    s.opt = opt;
    s.rows = rows;
    dd_map_init(&s.profiles);
    dd_map_init(&s.things);
    memset(rows, 0, opt->variant_count * sizeof(*rows));
    for (size_t v = 0; v < opt->variant_count; v++) {
        (void)snprintf(rows[v].variant, sizeof(rows[v].variant), "%s",
                       opt->variants[v] != NULL ? opt->variants[v] : "");
        if (opt->variants[v] == NULL) {
            dd_map_destroy(&s.profiles);
            dd_map_destroy(&s.things);
            return DD_SWEEP_BAD_PARAMETER;
        }
    }
    texts = calloc(opt->variant_count, sizeof(*texts));
    names = calloc(opt->variant_count, sizeof(*names));
    status = texts == NULL || names == NULL ? DD_SWEEP_NO_MEMORY : DD_SWEEP_OK;
    if (status == DD_SWEEP_OK) {
        status = build_variants(&s, texts, names, err);
    }
    if (status == DD_SWEEP_OK) {
        status = label_things(&s);
    }
    /* The replay prints nothing with hooks and no summary; its out stream stays empty. */
    if (status == DD_SWEEP_OK && (sink = fopen("/dev/null", "w")) == NULL) {
        status = DD_SWEEP_NO_MEMORY;
    }
    if (status == DD_SWEEP_OK) {
        memset(&ro, 0, sizeof(ro));
        ro.profiles = texts;
        ro.profile_count = opt->variant_count;
        ro.things = opt->things;
        ro.custom_metrics = opt->custom_metrics;
        ro.custom_metric_count = opt->custom_metric_count;
        ro.dimensions = opt->dimensions;
        ro.dimension_count = opt->dimension_count;
        ro.no_summary = true;
        ro.event_hook = on_event;
        ro.datapoint_hook = on_datapoint;
        ro.hook_ctx = &s;
        res.replay_status = dd_replay_run(&ro, in, sink, err, &res.replay);
        switch (res.replay_status) {
        case DD_REPLAY_OK: break;
        case DD_REPLAY_SKIPPED_LINES: status = DD_SWEEP_SKIPPED_LINES; break;
        case DD_REPLAY_BAD_PROFILE: status = DD_SWEEP_BAD_VARIANT; break;
        case DD_REPLAY_NO_MEMORY: status = DD_SWEEP_NO_MEMORY; break;
        default: status = DD_SWEEP_REPLAY_FAILED; break;
        }
    }
    if ((status == DD_SWEEP_OK || status == DD_SWEEP_SKIPPED_LINES) && (s.oom || !score(&s))) {
        status = DD_SWEEP_NO_MEMORY;
    }
    for (size_t i = 0; i < s.nthings; i++) {
        if (s.thing[i].bad && s.thing[i].first_dp_ms < 0) {
            res.bad_without_data++;
        }
    }
    if (sink != NULL) {
        fclose(sink);
    }
    for (size_t v = 0; texts != NULL && v < opt->variant_count; v++) {
        cJSON_free((char *)texts[v].text);
        free(names[v]);
    }
    free(texts);
    free(names);
    free(s.thing);
    free(s.cell);
    dd_map_destroy(&s.profiles);
    dd_map_destroy(&s.things);
    if (result != NULL) {
        *result = res;
    }
    return status;
}

const char *dd_sweep_strerror(dd_sweep_status_t status)
{
    switch (status) {
    case DD_SWEEP_OK: return "ok";
    case DD_SWEEP_BAD_PARAMETER: return "bad parameter";
    case DD_SWEEP_NO_MEMORY: return "out of memory";
    case DD_SWEEP_BAD_PROFILE: return "invalid security profile or behavior";
    case DD_SWEEP_BAD_VARIANT: return "a variant does not fit the behavior";
    case DD_SWEEP_REPLAY_FAILED: return "the replay failed";
    case DD_SWEEP_SKIPPED_LINES: return "some lines were skipped";
    }
    return "unknown sweep status";
}
