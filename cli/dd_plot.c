/*
 * ddlocal plot (dd_plot.h): replay series and sweep curves drawn by gnuplot.
 */
#include "dd_plot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dd_map.h"

/* Collection state: series by "thing\x1fprofile\x1fbehavior". */
typedef struct collect {
    dd_plot_data_t *data;
    dd_map_t index; /* key -> series index + 1 */
    bool oom;
} collect_t;

static dd_plot_series_t *series_for(collect_t *c, const char *thing, const char *profile,
                                    const dd_behavior_t *b)
{
    char key[1024];
    void *found;
    dd_plot_data_t *d = c->data;
    dd_plot_series_t *s;

    (void)snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", thing, profile, b->name);
    found = dd_map_get(&c->index, key);
    if (found != NULL) {
        return &d->series[(size_t)(uintptr_t)found - 1];
    }
    if (d->count == d->cap) {
        size_t cap = d->cap == 0 ? 16 : d->cap * 2;
        dd_plot_series_t *n = realloc(d->series, cap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        d->series = n;
        d->cap = cap;
    }
    s = &d->series[d->count];
    memset(s, 0, sizeof(*s));
    s->thing = strdup(thing);
    s->profile = strdup(profile);
    s->behavior = strdup(b->name);
    s->metric = strdup(b->metric);
    if (b->criteria.statistic != DD_STAT_NONE) {
        s->statistic = strdup(dd_profile_statistic_name(b->criteria.statistic));
    }
    d->count++;
    if (s->thing == NULL || s->profile == NULL || s->behavior == NULL || s->metric == NULL ||
        dd_map_put(&c->index, key, (void *)(uintptr_t)d->count, NULL) != DD_MAP_OK) {
        return NULL;
    }
    return s;
}

static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
    void *p;
    size_t c;

    if (n < *cap) {
        return true;
    }
    c = *cap == 0 ? 64 : *cap * 2;
    p = realloc(*arr, c * size);
    if (p == NULL) {
        return false;
    }
    *arr = p;
    *cap = c;
    return true;
}

/* A datapoint as one number: a count or number as is, a list by its length. */
static double plot_value(const dd_datapoint_t *dp)
{
    switch (dp->kind) {
    case DD_VALUE_COUNT: return (double)dp->count;
    case DD_VALUE_NUMBER: return dp->number;
    default: return (double)dp->n;
    }
}

/* The static threshold as one number, when the behavior's value is a count or number. */
static bool static_threshold(const dd_behavior_t *b, double *out)
{
    const dd_behavior_criteria_t *c = &b->criteria;

    if (!c->has_value) {
        return false;
    }
    if ((c->value.members & DD_MV_COUNT) != 0) {
        *out = (double)c->value.count;
        return true;
    }
    if ((c->value.members & DD_MV_NUMBER) != 0) {
        *out = c->value.number;
        return true;
    }
    return false;
}

static void on_datapoint(void *ctx, const dd_datapoint_record_t *r)
{
    collect_t *c = ctx;
    dd_plot_series_t *s = series_for(c, r->thing, r->profile, r->behavior);
    dd_plot_point_t *p;

    if (r->window_end_ms > c->data->end_ms) {
        c->data->end_ms = r->window_end_ms;
    }
    if (s == NULL || !grow((void **)&s->points, &s->points_cap, s->npoints, sizeof(*p))) {
        c->oom = true;
        return;
    }
    p = &s->points[s->npoints++];
    p->time_ms = r->window_end_ms;
    p->value = plot_value(&r->value);
    p->violating = r->violating;
    if (r->statistical) {
        p->threshold = r->threshold;
        p->has_threshold = true;
    } else {
        p->has_threshold = static_threshold(r->behavior, &p->threshold);
    }
}

static void on_event(void *ctx, const dd_violation_event_t *ev)
{
    collect_t *c = ctx;
    dd_plot_series_t *s = series_for(c, ev->thing, ev->profile, ev->behavior);

    if (ev->time_ms > c->data->end_ms) {
        c->data->end_ms = ev->time_ms;
    }
    if (s == NULL || !grow((void **)&s->events, &s->events_cap, s->nevents, sizeof(*s->events))) {
        c->oom = true;
        return;
    }
    s->events[s->nevents].time_ms = ev->time_ms;
    s->events[s->nevents].type = (int)ev->type;
    s->nevents++;
}

dd_plot_status_t dd_plot_collect(const dd_replay_options_t *opt, FILE *in, FILE *err,
                                 dd_plot_data_t *data)
{
    dd_replay_options_t ro;
    collect_t c;
    dd_replay_status_t st;
    FILE *sink;

    if (opt == NULL || in == NULL || err == NULL || data == NULL) {
        return DD_PLOT_BAD_PARAMETER;
    }
    memset(data, 0, sizeof(*data));
    memset(&c, 0, sizeof(c));
    c.data = data;
    dd_map_init(&c.index);
    sink = fopen("/dev/null", "w");
    if (sink == NULL) {
        return DD_PLOT_NO_MEMORY;
    }
    ro = *opt;
    ro.no_summary = true;
    ro.datapoints = NULL;
    ro.event_hook = on_event;
    ro.datapoint_hook = on_datapoint;
    ro.hook_ctx = &c;
    st = dd_replay_run(&ro, in, sink, err, NULL);
    fclose(sink);
    dd_map_destroy(&c.index);
    if (c.oom || st == DD_REPLAY_NO_MEMORY) {
        return DD_PLOT_NO_MEMORY;
    }
    return st == DD_REPLAY_OK || st == DD_REPLAY_SKIPPED_LINES ? DD_PLOT_OK : DD_PLOT_REPLAY_FAILED;
}

void dd_plot_data_free(dd_plot_data_t *data)
{
    size_t i;

    if (data == NULL) {
        return;
    }
    for (i = 0; i < data->count; i++) {
        dd_plot_series_t *s = &data->series[i];
        free(s->thing);
        free(s->profile);
        free(s->behavior);
        free(s->metric);
        free(s->statistic);
        free(s->points);
        free(s->events);
    }
    free(data->series);
    memset(data, 0, sizeof(*data));
}

/* @p text as a gnuplot single-quoted string (a quote is doubled). */
static void gp_string(FILE *out, const char *text)
{
    fputc('\'', out);
    for (; *text != '\0'; text++) {
        if (*text == '\'') {
            fputc('\'', out);
        }
        if (*text != '\n') {
            fputc(*text, out);
        }
    }
    fputc('\'', out);
}

static double secs(int64_t ms)
{
    return (double)ms / 1000.0;
}

/* Terminal, output and the time axis: what every picture shares. */
static void gp_head(FILE *out, const char *svg_path, const char *title)
{
    fputs("set terminal svg size 960,440 dynamic enhanced font 'sans,11' background '#ffffff'\n",
          out);
    fputs("set output ", out);
    gp_string(out, svg_path);
    fputs("\nset title ", out);
    gp_string(out, title);
    fputs(" noenhanced\nset key outside top center horizontal noenhanced\nset grid ytics\n", out);
}

dd_plot_status_t dd_plot_series_script(const dd_plot_series_t *s, int64_t end_ms,
                                       const char *svg_path, FILE *out)
{
    char title[1024];
    size_t i;
    int obj = 1;
    int64_t raised = -1;

    if (s == NULL || svg_path == NULL || out == NULL) {
        return DD_PLOT_BAD_PARAMETER;
    }
    (void)snprintf(title, sizeof(title), "%s - %s / %s (%s)", s->thing, s->profile, s->behavior,
                   s->metric);
    gp_head(out, svg_path, title);
    fputs("set xdata time\nset timefmt '%s'\nset format x \"%m-%d\\n%H:%M\"\n"
          "set xlabel 'UTC'\nset ylabel ",
          out);
    gp_string(out, s->metric);
    fputs(" noenhanced\n", out);
    /* Alarm spans, shaded behind the data; one still open ends with the data. */
    for (i = 0; i <= s->nevents; i++) {
        bool last = i == s->nevents;
        if (!last && s->events[i].type == DD_ALARM_RAISED) {
            if (raised < 0) {
                raised = s->events[i].time_ms;
            }
            continue;
        }
        if (raised >= 0 && (last || s->events[i].type == DD_ALARM_CLEARED ||
                            s->events[i].type == DD_ALARM_INVALIDATED)) {
            int64_t to = last ? end_ms : s->events[i].time_ms;
            fprintf(out,
                    "set object %d rect from %.3f, graph 0 to %.3f, graph 1 behind "
                    "fc rgb '#f4c7c3' fs solid 0.6 noborder\n",
                    obj++, secs(raised), secs(to > raised ? to : raised + 1));
            raised = -1;
        }
    }
    /* Events: a vertical line and its name. */
    for (i = 0; i < s->nevents; i++) {
        const char *name = s->events[i].type == DD_ALARM_RAISED    ? "in-alarm"
                           : s->events[i].type == DD_ALARM_CLEARED ? "alarm-cleared"
                                                                   : "alarm-invalidated";
        const char *colour = s->events[i].type == DD_ALARM_RAISED ? "#c62828" : "#2e7d32";
        fprintf(out,
                "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb '%s' dt 3\n"
                "set label '%s' at %.3f, graph 0.97 rotate by 90 right tc rgb '%s' font ',9'\n",
                secs(s->events[i].time_ms), secs(s->events[i].time_ms), colour, name,
                secs(s->events[i].time_ms), colour);
    }
    fputs("$dp << EOD\n", out);
    for (i = 0; i < s->npoints; i++) {
        const dd_plot_point_t *p = &s->points[i];
        fprintf(out, "%.3f %.17g ", secs(p->time_ms), p->value);
        if (p->has_threshold) {
            fprintf(out, "%.17g", p->threshold);
        } else {
            fputs("NaN", out);
        }
        fprintf(out, " %d\n", p->violating ? 1 : 0);
    }
    fputs("EOD\n", out);
    if (s->npoints == 0) {
        /* Events without datapoints (invalidations): an empty frame still shows them. */
        fprintf(out, "set xrange [%.3f:%.3f]\nset yrange [0:1]\nplot NaN notitle\n",
                s->nevents > 0 ? secs(s->events[0].time_ms) - 300 : 0.0,
                s->nevents > 0 ? secs(s->events[s->nevents - 1].time_ms) + 300 : 1.0);
        return DD_PLOT_OK;
    }
    fputs("plot $dp using 1:2 with linespoints lc rgb '#1f77b4' pt 7 ps 0.4 title 'datapoint', \\\n"
          "     $dp using 1:($4 > 0 ? $2 : NaN) with points lc rgb '#c62828' pt 7 ps 0.8 "
          "title 'violating', \\\n"
          "     $dp using 1:3 with steps lc rgb '#ef6c00' dt 2 lw 1.5 title ",
          out);
    if (s->statistic != NULL) {
        char t[64];
        (void)snprintf(t, sizeof(t), "threshold: %s of the fleet", s->statistic);
        gp_string(out, t);
    } else {
        gp_string(out, "threshold (static)");
    }
    fputs("\n", out);
    return DD_PLOT_OK;
}

/* Splits one CSV line (no quoting: sweep values never hold commas) into fields. */
static size_t csv_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    while (n < max) {
        fields[n++] = p;
        p = strchr(p, ',');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
    return n;
}

dd_plot_status_t dd_plot_sweep_script(const char *csv, const char *svg_path, FILE *out, char *msg,
                                      size_t msg_len)
{
    static const char HEADER_TAIL[] =
        ",thingsWithData,truePositives,falsePositives,falseNegatives,tpEvents,fpEvents,"
        "detectMedianSeconds,detectMaxSeconds,alarmedBadSeconds,alarmedGoodSeconds";
    char *text;
    char *line;
    char *save = NULL;
    char *f[12];
    char what[32];
    size_t rows = 0;
    size_t n;

    if (csv == NULL || svg_path == NULL || out == NULL || msg == NULL) {
        return DD_PLOT_BAD_PARAMETER;
    }
    text = strdup(csv);
    if (text == NULL) {
        return DD_PLOT_NO_MEMORY;
    }
    line = strtok_r(text, "\n", &save);
    if (line == NULL || strchr(line, ',') == NULL || strcmp(strchr(line, ','), HEADER_TAIL) != 0) {
        (void)snprintf(msg, msg_len,
                       "not the output of `ddlocal sweep --format csv` (its header line)");
        free(text);
        return DD_PLOT_BAD_SWEEP;
    }
    (void)snprintf(what, sizeof(what), "%.*s", (int)(strchr(line, ',') - line), line);
    gp_head(out, svg_path, "ddlocal sweep: false positives and detection time per variant");
    fputs("set xlabel ", out);
    gp_string(out, what);
    fputs("\nset ylabel 'things'\nset y2label 'median detection time (s)'\n"
          "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
          "set style fill solid 0.6 noborder\nset boxwidth 0.35\n$sw << EOD\n",
          out);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        n = csv_fields(line, f, 12);
        if (n != 11) {
            (void)snprintf(msg, msg_len, "sweep row %zu has %zu fields, not 11", rows + 1, n);
            free(text);
            return DD_PLOT_BAD_SWEEP;
        }
        /* index, variant, TP, FP, FN, median detection (NaN when nothing was detected). */
        fprintf(out, "%zu \"%s\" %s %s %s %s\n", rows, f[0], f[2], f[3], f[4],
                f[7][0] != '\0' ? f[7] : "NaN");
        rows++;
    }
    free(text);
    if (rows == 0) {
        (void)snprintf(msg, msg_len, "the sweep has no rows");
        return DD_PLOT_BAD_SWEEP;
    }
    fprintf(
        out,
        "EOD\nset xrange [-0.6:%zu.6]\n"
        "plot $sw using ($1-0.18):4:xtic(2) with boxes lc rgb '#c62828' title 'false positives', "
        "\\\n     $sw using ($1+0.18):3 with boxes lc rgb '#2e7d32' title 'true positives', \\\n"
        "     $sw using 1:6 axes x1y2 with linespoints lc rgb '#1f77b4' pt 7 lw 2 "
        "title 'median detection time'\n",
        rows - 1);
    return DD_PLOT_OK;
}

/* Looks gnuplot up on PATH. */
static bool have_gnuplot(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    char file[4200];

    while (path != NULL && *path != '\0') {
        size_t len = strcspn(path, ":");
        (void)snprintf(dir, sizeof(dir), "%.*s", (int)len, path);
        (void)snprintf(file, sizeof(file), "%s/gnuplot", dir[0] != '\0' ? dir : ".");
        if (access(file, X_OK) == 0) {
            return true;
        }
        path += len;
        if (*path == ':') {
            path++;
        }
    }
    return false;
}

dd_plot_status_t dd_plot_run_gnuplot(const char *script_path)
{
    pid_t pid;
    int status = 0;

    if (script_path == NULL) {
        return DD_PLOT_BAD_PARAMETER;
    }
    if (!have_gnuplot()) {
        return DD_PLOT_NO_GNUPLOT;
    }
    pid = fork();
    if (pid < 0) {
        return DD_PLOT_GNUPLOT_FAILED;
    }
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script_path, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return DD_PLOT_GNUPLOT_FAILED;
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? DD_PLOT_OK : DD_PLOT_GNUPLOT_FAILED;
}

const char *dd_plot_strerror(dd_plot_status_t status)
{
    switch (status) {
    case DD_PLOT_OK: return "ok";
    case DD_PLOT_BAD_PARAMETER: return "bad parameter";
    case DD_PLOT_NO_MEMORY: return "out of memory";
    case DD_PLOT_REPLAY_FAILED: return "the replay refused its input";
    case DD_PLOT_BAD_SWEEP: return "not a sweep CSV";
    case DD_PLOT_NO_GNUPLOT:
        return "gnuplot is not installed (apt-get install gnuplot-nox, or run "
               "scripts/install-deps.sh)";
    case DD_PLOT_GNUPLOT_FAILED: return "gnuplot failed (its messages are above)";
    }
    return "unknown plot status";
}
