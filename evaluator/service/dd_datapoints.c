#define _GNU_SOURCE /* fopencookie */
#include "dd_datapoints.h"

#include "dd_export.h"
#include "dd_profile.h"
#include "dd_replay.h"
#include "dd_stats.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* One datapoint value kept for the statistics. */
typedef struct sample {
    size_t behavior; /* index in stats_t.behaviors */
    int64_t start_ms;
    int64_t end_ms;
    double value;
} sample_t;

typedef struct stats {
    const dd_datapoints_query_t *q;
    char behaviors[16][DD_PROFILE_NAME_MAX + 1];
    char metrics[16][DD_PROFILE_NAME_MAX + 1];
    size_t nbehaviors;
    sample_t *samples;
    size_t count;
    size_t cap;
    bool failed;
} stats_t;

static double datapoint_number(const dd_datapoint_t *v)
{
    switch (v->kind) {
    case DD_VALUE_COUNT: return (double)v->count;
    case DD_VALUE_NUMBER: return v->number;
    default: return (double)v->n; /* a list: its length */
    }
}

static void on_datapoint(void *ctx, const dd_datapoint_record_t *d)
{
    stats_t *s = ctx;
    size_t b;

    if (s->failed || d->window_end_ms < s->q->from_ms || d->window_end_ms >= s->q->to_ms ||
        (s->q->behavior != NULL && strcmp(s->q->behavior, d->behavior->name) != 0)) {
        return;
    }
    for (b = 0; b < s->nbehaviors && strcmp(s->behaviors[b], d->behavior->name) != 0; b++) {
    }
    if (b == s->nbehaviors) {
        if (b == sizeof(s->behaviors) / sizeof(s->behaviors[0])) {
            return; /* a profile has at most 15 behaviors (AWS's limit) */
        }
        (void)snprintf(s->behaviors[b], sizeof(s->behaviors[b]), "%s", d->behavior->name);
        (void)snprintf(s->metrics[b], sizeof(s->metrics[b]), "%s", d->behavior->metric);
        s->nbehaviors++;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap == 0 ? 1024 : s->cap * 2;
        sample_t *bigger = realloc(s->samples, cap * sizeof(*bigger));
        if (bigger == NULL) {
            s->failed = true;
            return;
        }
        s->samples = bigger;
        s->cap = cap;
    }
    s->samples[s->count].behavior = b;
    s->samples[s->count].start_ms = d->window_start_ms;
    s->samples[s->count].end_ms = d->window_end_ms;
    s->samples[s->count].value = datapoint_number(&d->value);
    s->count++;
}

static int sample_cmp(const void *a, const void *b)
{
    const sample_t *x = a;
    const sample_t *y = b;

    if (x->behavior != y->behavior) {
        return x->behavior < y->behavior ? -1 : 1;
    }
    if (x->end_ms != y->end_ms) {
        return x->end_ms < y->end_ms ? -1 : 1;
    }
    if (x->start_ms != y->start_ms) {
        return x->start_ms < y->start_ms ? -1 : 1;
    }
    return x->value < y->value ? -1 : (x->value > y->value ? 1 : 0);
}

/* Writes one window's row from its @p n values @p v (reordered here). */
static bool write_window(const stats_t *s, FILE *out, const sample_t *first, double *v, size_t n)
{
    static const double PCT[3] = {50, 90, 99};
    double p[3];
    double div = s->q->time_ms ? 1.0 : 1000.0;
    cJSON *obj;
    char *text;
    double lo = v[0];
    double hi = v[0];
    size_t i;
    int rc;

    for (i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    for (i = 0; i < 3; i++) {
        /* The engine's percentile (dd_stats); a negative value makes it unavailable. */
        if (dd_stats_percentile(v, n, PCT[i], &p[i]) != DD_STATS_OK) {
            p[i] = -1;
        }
    }
    if (s->q->csv) {
        rc = fprintf(out, "%s,%s,%.15g,%.15g,%zu", s->behaviors[first->behavior],
                     s->metrics[first->behavior], (double)first->start_ms / div,
                     (double)first->end_ms / div, n);
        for (i = 0; rc >= 0 && i < 5; i++) {
            double x = i == 0 ? lo : i == 4 ? hi : p[i - 1];
            rc = i >= 1 && i <= 3 && x < 0 ? fprintf(out, ",") : fprintf(out, ",%.15g", x);
        }
        return rc >= 0 && fprintf(out, "\n") >= 0;
    }
    obj = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(obj, "behaviorName", s->behaviors[first->behavior]);
    (void)cJSON_AddStringToObject(obj, "metric", s->metrics[first->behavior]);
    (void)cJSON_AddNumberToObject(obj, "windowStart", (double)first->start_ms / div);
    (void)cJSON_AddNumberToObject(obj, "windowEnd", (double)first->end_ms / div);
    (void)cJSON_AddNumberToObject(obj, "devices", (double)n);
    (void)cJSON_AddNumberToObject(obj, "min", lo);
    for (i = 0; i < 3; i++) {
        static const char *const NAMES[3] = {"p50", "p90", "p99"};
        if (p[i] >= 0) {
            (void)cJSON_AddNumberToObject(obj, NAMES[i], p[i]);
        }
    }
    (void)cJSON_AddNumberToObject(obj, "max", hi);
    text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    rc = text != NULL ? fprintf(out, "%s\n", text) : -1;
    cJSON_free(text);
    return rc >= 0;
}

static bool write_stats(stats_t *s, FILE *out)
{
    double *v;
    size_t i;
    size_t j;
    bool ok = true;

    if (s->q->csv && fprintf(out, "behaviorName,metric,windowStart,windowEnd,devices,min,p50,p90,"
                                  "p99,max\n") < 0) {
        return false;
    }
    if (s->count == 0) {
        return true;
    }
    qsort(s->samples, s->count, sizeof(*s->samples), sample_cmp);
    v = malloc(s->count * sizeof(*v));
    if (v == NULL) {
        return false;
    }
    for (i = 0; ok && i < s->count; i = j) {
        for (j = i; j < s->count && s->samples[j].behavior == s->samples[i].behavior &&
                    s->samples[j].end_ms == s->samples[i].end_ms;
             j++) {
            v[j - i] = s->samples[j].value;
        }
        ok = write_window(s, out, &s->samples[i], v, j - i);
    }
    free(v);
    return ok;
}

/* The first line of @p text (a replay's error output) into @p why. */
static void first_line(const char *text, size_t len, char *why, size_t why_len)
{
    size_t n = 0;

    while (n < len && text[n] != '\n') {
        n++;
    }
    (void)snprintf(why, why_len, "%.*s", (int)n, text);
}

static bool has_behavior(const char *profile_json, const char *behavior)
{
    cJSON *root = cJSON_Parse(profile_json);
    const cJSON *b;
    bool found = false;

    cJSON_ArrayForEach (b, cJSON_GetObjectItemCaseSensitive(root, "behaviors")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
        found = found || (name != NULL && strcmp(name, behavior) == 0);
    }
    cJSON_Delete(root);
    return found;
}

/* The inputs of the replay: profile, things, definitions, stream; freed by inputs_free(). */
typedef struct inputs {
    char *profile;
    char *things;
    size_t things_len;
    dd_export_defs_t defs;
} inputs_t;

static void inputs_free(inputs_t *in)
{
    free(in->profile);
    free(in->things);
    dd_export_defs_free(&in->defs);
}

static dd_datapoints_status_t gather(dd_store_t *store, dd_registry_t *reg,
                                     const dd_datapoints_query_t *q, inputs_t *in, char *why,
                                     size_t why_len)
{
    FILE *f;
    dd_export_status_t st;

    if (dd_export_profile_json(store, &reg->arn, q->profile, &in->profile) != DD_EXPORT_OK) {
        (void)snprintf(why, why_len, "no security profile named %s", q->profile);
        return DD_DATAPOINTS_NOT_FOUND;
    }
    if (q->behavior != NULL && !has_behavior(in->profile, q->behavior)) {
        (void)snprintf(why, why_len, "security profile %s has no behavior named %s", q->profile,
                       q->behavior);
        return DD_DATAPOINTS_NOT_FOUND;
    }
    if (dd_export_defs(store, &in->defs) != DD_EXPORT_OK) {
        return DD_DATAPOINTS_STORE_ERROR;
    }
    f = open_memstream(&in->things, &in->things_len);
    if (f == NULL) {
        return DD_DATAPOINTS_NO_MEMORY;
    }
    st = dd_export_things(reg, f);
    if (fclose(f) != 0 && st == DD_EXPORT_OK) {
        st = DD_EXPORT_NO_MEMORY;
    }
    if (st != DD_EXPORT_OK) {
        return st == DD_EXPORT_NO_MEMORY ? DD_DATAPOINTS_NO_MEMORY : DD_DATAPOINTS_STORE_ERROR;
    }
    return DD_DATAPOINTS_OK;
}

/* The stored history as the replay's input, made line by line as the replay reads it. */
typedef struct history {
    dd_export_reader_t *reader;
    const char *line;
    size_t len; /* of line, with the newline counted */
    size_t off;
    bool failed;
} history_t;

static ssize_t history_read(void *cookie, char *buf, size_t size)
{
    history_t *h = cookie;
    size_t n = 0;

    while (n < size) {
        if (h->line == NULL || h->off == h->len) {
            bool has = false;
            if (dd_export_reader_next(h->reader, &h->line, &has) != DD_EXPORT_OK) {
                h->failed = true;
                return -1;
            }
            if (!has) {
                h->line = NULL;
                break;
            }
            h->len = strlen(h->line) + 1;
            h->off = 0;
        }
        while (n < size && h->off < h->len) {
            buf[n++] = h->off + 1 == h->len ? '\n' : h->line[h->off];
            h->off++;
        }
    }
    return (ssize_t)n;
}

dd_datapoints_status_t dd_datapoints_run(dd_store_t *store, dd_registry_t *reg,
                                         const dd_datapoints_query_t *q, FILE *rows, FILE *stats,
                                         char *why, size_t why_len)
{
    dd_replay_options_t opt;
    dd_replay_text_t profile;
    dd_replay_text_t things;
    dd_replay_result_t result;
    dd_replay_status_t rs;
    dd_datapoints_status_t status;
    inputs_t in;
    stats_t st;
    static const cookie_io_functions_t HISTORY_IO = {history_read, NULL, NULL, NULL};
    history_t hist;
    FILE *stream = NULL;
    FILE *events = NULL;
    FILE *err = NULL;
    char *err_text = NULL;
    size_t err_len = 0;

    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    if (store == NULL || reg == NULL || q == NULL || q->profile == NULL || why == NULL ||
        q->to_ms < q->from_ms) {
        return DD_DATAPOINTS_BAD_PARAMETER;
    }
    memset(&in, 0, sizeof(in));
    status = gather(store, reg, q, &in, why, why_len);
    if (status != DD_DATAPOINTS_OK) {
        inputs_free(&in);
        return status;
    }
    memset(&st, 0, sizeof(st));
    st.q = q;
    profile.name = q->profile;
    profile.text = in.profile;
    profile.len = strlen(in.profile);
    things.name = "things";
    things.text = in.things;
    things.len = in.things_len;
    memset(&opt, 0, sizeof(opt));
    opt.profiles = &profile;
    opt.profile_count = 1;
    opt.things = &things;
    opt.custom_metrics = (const char *const *)in.defs.customs;
    opt.custom_metric_count = in.defs.custom_count;
    opt.dimensions = (const char *const *)in.defs.dimensions;
    opt.dimension_count = in.defs.dimension_count;
    opt.no_summary = true;
    opt.time_ms = q->time_ms;
    opt.datapoints = rows;
    opt.datapoints_csv = q->csv;
    opt.datapoints_thing = q->thing;
    opt.datapoints_behavior = q->behavior;
    opt.datapoints_from_ms = q->from_ms;
    opt.datapoints_to_ms = q->to_ms == INT64_MAX ? 0 : q->to_ms;
    opt.datapoint_hook = stats != NULL ? on_datapoint : NULL;
    opt.hook_ctx = &st;
    /* From the start: alarm states and windows depend on everything before the range. The
     * history is read as the replay goes, and the replay's events are not kept: memory does not
     * grow with the history. */
    memset(&hist, 0, sizeof(hist));
    if (dd_export_reader_open(store, 0, q->to_ms, &hist.reader) != DD_EXPORT_OK) {
        inputs_free(&in);
        return DD_DATAPOINTS_STORE_ERROR;
    }
    stream = fopencookie(&hist, "r", HISTORY_IO);
    events = fopen("/dev/null", "w");
    err = open_memstream(&err_text, &err_len);
    if (stream == NULL || events == NULL || err == NULL) {
        status = DD_DATAPOINTS_NO_MEMORY;
    } else {
        rs = dd_replay_run(&opt, stream, events, err, &result);
        (void)fflush(err);
        if (hist.failed) {
            /* A read error ends the replay's input like its end: the rows would be short. */
            status = DD_DATAPOINTS_STORE_ERROR;
        } else if (rs == DD_REPLAY_NO_MEMORY || st.failed) {
            status = DD_DATAPOINTS_NO_MEMORY;
        } else if (rs != DD_REPLAY_OK) {
            /* Skipped lines would make the datapoints wrong: say which. */
            first_line(err_text != NULL ? err_text : "", err_len, why, why_len);
            status = DD_DATAPOINTS_REPLAY_FAILED;
        } else if (stats != NULL && !write_stats(&st, stats)) {
            status = DD_DATAPOINTS_NO_MEMORY;
        }
    }
    if (stream != NULL) {
        (void)fclose(stream);
    }
    if (events != NULL) {
        (void)fclose(events);
    }
    if (err != NULL) {
        (void)fclose(err);
    }
    dd_export_reader_close(hist.reader);
    free(err_text);
    free(st.samples);
    inputs_free(&in);
    return status;
}

const char *dd_datapoints_strerror(dd_datapoints_status_t status)
{
    switch (status) {
    case DD_DATAPOINTS_OK: return "ok";
    case DD_DATAPOINTS_BAD_PARAMETER: return "bad parameter";
    case DD_DATAPOINTS_NO_MEMORY: return "out of memory";
    case DD_DATAPOINTS_NOT_FOUND: return "not found";
    case DD_DATAPOINTS_STORE_ERROR: return "reading the data dir's database failed";
    case DD_DATAPOINTS_REPLAY_FAILED: return "the replay refused the stored history";
    }
    return "unknown datapoints status";
}
