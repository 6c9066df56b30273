/*
 * ddlocal plot: SVG pictures of a replay (per thing and behavior) or of a
 * sweep (docs/reference/plot.md). Collection and scripts in dd_plot.c;
 * gnuplot draws.
 */
#include "dd_cli.h"
#include "dd_fs.h"
#include "dd_plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ITEMS 64
#define MAX_FILE (64u * 1024u * 1024u)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ddlocal plot --profile FILE [--profile FILE ...] --reports FILE|- --out DIR\n"
            "                    [--thing NAME ...] [--behavior NAME] [--max N]\n"
            "                    [--things FILE] [--custom-metric NAME:TYPE ...]\n"
            "                    [--dimension NAME:FILTER,...] [--keep-scripts]\n"
            "       ddlocal plot --sweep SWEEP.csv --out FILE.svg\n\n"
            "Draws SVG pictures with gnuplot. From a replay (the input of `ddlocal replay`):\n"
            "one picture per thing and behavior with its datapoints, the threshold each was\n"
            "compared with (static value or the window's fleet percentile), violating points,\n"
            "the spans in alarm and the violation events, written to DIR/THING.PROFILE.\n"
            "BEHAVIOR.svg. By default the series that raised an alarm (at most --max, default\n"
            "20); --thing and --behavior choose others. From a sweep (`ddlocal sweep --format\n"
            "csv` output): false and true positives and the median detection time per\n"
            "variant.\n\n"
            "  --keep-scripts   keep the gnuplot scripts (DIR/.NAME.gp) beside the pictures\n\n"
            "Exit status: 0 pictures written, 1 a runtime failure (gnuplot missing or\n"
            "failing, lines skipped), 2 usage error or invalid input.\n");
}

static bool wanted(const dd_plot_series_t *s, const char *const *things, size_t nthings,
                   const char *behavior)
{
    size_t i;
    bool thing_ok = nthings == 0;

    for (i = 0; i < nthings; i++) {
        thing_ok = thing_ok || strcmp(things[i], s->thing) == 0;
    }
    if (!thing_ok || (behavior != NULL && strcmp(behavior, s->behavior) != 0)) {
        return false;
    }
    /* Without a choice, the series worth a look: those that raised an alarm. */
    return nthings > 0 || behavior != NULL || s->nevents > 0;
}

/* Writes @p svg through a script at @p gp; removes the script unless kept. */
static int draw(const char *gp, bool keep, dd_plot_status_t (*write)(void *ctx, FILE *out),
                void *ctx)
{
    FILE *f = fopen(gp, "w");
    dd_plot_status_t st;

    if (f == NULL) {
        fprintf(stderr, "ddlocal plot: cannot write %s: %s\n", gp, strerror(errno));
        return DD_CLI_USAGE;
    }
    st = write(ctx, f);
    if (fclose(f) != 0 && st == DD_PLOT_OK) {
        st = DD_PLOT_NO_MEMORY;
    }
    if (st == DD_PLOT_OK) {
        st = dd_plot_run_gnuplot(gp);
    }
    if (!keep) {
        (void)unlink(gp);
    }
    if (st == DD_PLOT_BAD_SWEEP) {
        return DD_CLI_USAGE; /* its message is printed already */
    }
    if (st != DD_PLOT_OK) {
        fprintf(stderr, "ddlocal plot: %s\n", dd_plot_strerror(st));
        return 1;
    }
    return 0;
}

typedef struct series_job {
    const dd_plot_series_t *s;
    int64_t end_ms;
    const char *svg;
} series_job_t;

static dd_plot_status_t write_series(void *ctx, FILE *out)
{
    const series_job_t *j = ctx;
    return dd_plot_series_script(j->s, j->end_ms, j->svg, out);
}

typedef struct sweep_job {
    const char *csv;
    const char *svg;
    char msg[256];
} sweep_job_t;

static dd_plot_status_t write_sweep(void *ctx, FILE *out)
{
    sweep_job_t *j = ctx;
    dd_plot_status_t st = dd_plot_sweep_script(j->csv, j->svg, out, j->msg, sizeof(j->msg));

    if (st == DD_PLOT_BAD_SWEEP) {
        fprintf(stderr, "ddlocal plot: %s\n", j->msg);
    }
    return st;
}

static int plot_sweep(const char *csv_path, const char *svg, bool keep)
{
    sweep_job_t job;
    char gp[4200];
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (dd_fs_read_file(csv_path, MAX_FILE, &text, &len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal plot: cannot read %s: %s\n", csv_path, strerror(errno));
        return DD_CLI_USAGE;
    }
    job.csv = text;
    job.svg = svg;
    job.msg[0] = '\0';
    (void)snprintf(gp, sizeof(gp), "%s.gp", svg);
    rc = draw(gp, keep, write_sweep, &job);
    free(text);
    if (rc == 0) {
        printf("wrote %s\n", svg);
    }
    return rc;
}

int dd_cmd_plot(int argc, char **argv)
{
    dd_replay_text_t profiles[MAX_ITEMS];
    dd_replay_text_t things = {NULL, NULL, 0};
    const char *customs[MAX_ITEMS];
    const char *dims[MAX_ITEMS];
    const char *chosen[MAX_ITEMS];
    size_t nchosen = 0;
    const char *behavior = NULL;
    const char *reports = NULL;
    const char *out_dir = NULL;
    const char *sweep = NULL;
    bool keep = false;
    long max = 20;
    dd_replay_options_t opt;
    dd_plot_data_t data;
    FILE *in = NULL;
    int rc = 0;
    size_t k;

    memset(&opt, 0, sizeof(opt));
    memset(&data, 0, sizeof(data));
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--keep-scripts") == 0) {
            keep = true;
        } else if (!has_value) {
            fprintf(stderr, "ddlocal plot: %s: unknown option or missing value\n\n", a);
            usage(stderr);
            rc = DD_CLI_USAGE;
        } else if (strcmp(a, "--profile") == 0 && opt.profile_count < MAX_ITEMS) {
            profiles[opt.profile_count].name = argv[++i];
            profiles[opt.profile_count].text = NULL;
            profiles[opt.profile_count++].len = 0;
        } else if (strcmp(a, "--reports") == 0) {
            reports = argv[++i];
        } else if (strcmp(a, "--out") == 0) {
            out_dir = argv[++i];
        } else if (strcmp(a, "--sweep") == 0) {
            sweep = argv[++i];
        } else if (strcmp(a, "--thing") == 0 && nchosen < MAX_ITEMS) {
            chosen[nchosen++] = argv[++i];
        } else if (strcmp(a, "--behavior") == 0) {
            behavior = argv[++i];
        } else if (strcmp(a, "--max") == 0) {
            char *end = NULL;
            max = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || max < 1 || max > 10000) {
                fprintf(stderr, "ddlocal plot: --max is 1..10000\n");
                rc = DD_CLI_USAGE;
            }
        } else if (strcmp(a, "--things") == 0) {
            things.name = argv[++i];
        } else if (strcmp(a, "--custom-metric") == 0 && opt.custom_metric_count < MAX_ITEMS) {
            customs[opt.custom_metric_count++] = argv[++i];
        } else if (strcmp(a, "--dimension") == 0 && opt.dimension_count < MAX_ITEMS) {
            dims[opt.dimension_count++] = argv[++i];
        } else {
            fprintf(stderr, "ddlocal plot: unknown option '%s'\n\n", a);
            usage(stderr);
            rc = DD_CLI_USAGE;
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (sweep != NULL) {
        if (out_dir == NULL || opt.profile_count > 0 || reports != NULL) {
            fprintf(stderr, "ddlocal plot: --sweep takes --out FILE.svg and nothing else\n");
            return DD_CLI_USAGE;
        }
        return plot_sweep(sweep, out_dir, keep);
    }
    if (opt.profile_count == 0 || reports == NULL || out_dir == NULL) {
        fprintf(stderr, "ddlocal plot: --profile, --reports and --out are required\n\n");
        usage(stderr);
        return DD_CLI_USAGE;
    }
    if (dd_fs_mkdirs(out_dir, 0755) != DD_FS_OK) {
        fprintf(stderr, "ddlocal plot: cannot create %s: %s\n", out_dir, strerror(errno));
        return DD_CLI_USAGE;
    }
    for (k = 0; k < opt.profile_count && rc == 0; k++) {
        if (dd_fs_read_file(profiles[k].name, MAX_FILE, (char **)&profiles[k].text,
                            &profiles[k].len) != DD_FS_OK) {
            fprintf(stderr, "ddlocal plot: cannot read %s: %s\n", profiles[k].name,
                    strerror(errno));
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0 && things.name != NULL &&
        dd_fs_read_file(things.name, MAX_FILE, (char **)&things.text, &things.len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal plot: cannot read %s: %s\n", things.name, strerror(errno));
        rc = DD_CLI_USAGE;
    }
    if (rc == 0) {
        in = strcmp(reports, "-") == 0 ? stdin : fopen(reports, "r");
        if (in == NULL) {
            fprintf(stderr, "ddlocal plot: cannot read %s: %s\n", reports, strerror(errno));
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0) {
        dd_plot_status_t st;
        opt.profiles = profiles;
        opt.things = things.name != NULL ? &things : NULL;
        opt.custom_metrics = customs;
        opt.dimensions = dims;
        st = dd_plot_collect(&opt, in, stderr, &data);
        if (st != DD_PLOT_OK) {
            rc = st == DD_PLOT_REPLAY_FAILED ? DD_CLI_USAGE : 1;
            if (st != DD_PLOT_REPLAY_FAILED) {
                fprintf(stderr, "ddlocal plot: %s\n", dd_plot_strerror(st));
            }
        }
    }
    if (rc == 0) {
        long drawn = 0;
        for (k = 0; k < data.count && rc == 0 && drawn < max; k++) {
            const dd_plot_series_t *s = &data.series[k];
            char svg[4200];
            char gp[4300];
            series_job_t job;
            if (!wanted(s, chosen, nchosen, behavior)) {
                continue;
            }
            (void)snprintf(svg, sizeof(svg), "%s/%s.%s.%s.svg", out_dir, s->thing, s->profile,
                           s->behavior);
            (void)snprintf(gp, sizeof(gp), "%s/.%s.%s.%s.gp", out_dir, s->thing, s->profile,
                           s->behavior);
            job.s = s;
            job.end_ms = data.end_ms;
            job.svg = svg;
            rc = draw(gp, keep, write_series, &job);
            if (rc == 0) {
                printf("wrote %s (%zu datapoints, %zu events)\n", svg, s->npoints, s->nevents);
                drawn++;
            }
        }
        if (rc == 0 && drawn == 0) {
            fprintf(stderr, "ddlocal plot: nothing to draw: %s (of %zu series with datapoints)\n",
                    nchosen > 0 || behavior != NULL ? "no series matches --thing/--behavior"
                                                    : "no behavior raised an alarm; choose "
                                                      "with --thing or --behavior",
                    data.count);
            rc = 1;
        }
    }
    if (in != NULL && in != stdin) {
        fclose(in);
    }
    for (k = 0; k < opt.profile_count; k++) {
        free((char *)profiles[k].text);
    }
    free((char *)things.text);
    dd_plot_data_free(&data);
    return rc;
}
