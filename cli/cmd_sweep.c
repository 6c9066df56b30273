/*
 * ddlocal sweep: one behavior over a recorded stream with a range of
 * thresholds, scored against the known-bad things (docs/reference/sweep.md).
 * A thin wrapper around evaluator/replay/dd_sweep.
 */
#include "dd_cli.h"
#include "dd_fs.h"
#include "dd_sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64
#define MAX_BAD 4096
#define MAX_FILE (64u * 1024u * 1024u)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ddlocal sweep --profile FILE --behavior NAME --reports FILE|-\n"
            "                     (--values LIST | --percentiles LIST | --to-alarm LIST)\n"
            "                     [--bad THING[@TIME] ...] [--labels FILE] [--things FILE]\n"
            "                     [--custom-metric NAME:TYPE ...] [--dimension NAME:FILTER,...]\n"
            "                     [--format table|json|csv]\n\n"
            "Runs one behavior of a security profile over a recorded stream (the input of\n"
            "`ddlocal replay`) once per variant, all variants in one pass, and scores each\n"
            "against the things known to be bad: true and false positives (things and\n"
            "in-alarm events), false negatives, detection time and time in alarm.\n\n"
            "  --profile FILE        security profile JSON (as for ddlocal replay)\n"
            "  --behavior NAME       the behavior to sweep (the others are left out)\n"
            "  --reports FILE        recorded stream, one JSON object per line; - = stdin\n"
            "  --values LIST         criteria.value variants: 100,200,500 or START:END:STEP\n"
            "  --percentiles LIST    statisticalThreshold variants: p50,p90,p99\n"
            "  --to-alarm LIST       consecutiveDatapointsToAlarm variants: 1,2,3 or 1:5:1\n"
            "  --bad THING[@TIME]    a known-bad thing, optionally since TIME (epoch ms or\n"
            "                        ISO-8601 UTC); repeatable\n"
            "  --labels FILE         known-bad things, one per line: THING or THING,TIME\n"
            "                        ('#' starts a comment)\n"
            "  --things, --custom-metric, --dimension   as for ddlocal replay\n"
            "  --format F            table (default), json (one object per variant and line)\n"
            "                        or csv\n\n"
            "Exit status: 0 all lines used, 1 some lines skipped or a runtime failure,\n"
            "2 usage error, invalid profile or a variant that does not fit the behavior.\n");
}

/* Appends the variants of LIST ("a,b,c" or "START:END:STEP" when @p ranges). */
static int parse_list(const char *flag, const char *list, bool ranges, char **out, size_t *n)
{
    double start;
    double end;
    double step;
    char extra;

    if (ranges && sscanf(list, "%lf:%lf:%lf%c", &start, &end, &step, &extra) == 3) {
        if (step <= 0 || end < start || (end - start) / step >= DD_SWEEP_MAX_VARIANTS) {
            fprintf(stderr,
                    "ddlocal sweep: %s %s: STEP must be > 0, END >= START, at most %d variants\n",
                    flag, list, DD_SWEEP_MAX_VARIANTS);
            return DD_CLI_USAGE;
        }
        for (size_t k = 0; start + (double)k * step <= end + step * 1e-9; k++) {
            char buf[64];
            (void)snprintf(buf, sizeof(buf), "%.10g", start + (double)k * step);
            if ((out[*n] = strdup(buf)) == NULL) {
                return 1;
            }
            (*n)++;
        }
        return 0;
    }
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == 0 || *n >= DD_SWEEP_MAX_VARIANTS) {
            fprintf(stderr, "ddlocal sweep: %s %s: empty item or more than %d variants\n", flag,
                    list, DD_SWEEP_MAX_VARIANTS);
            return DD_CLI_USAGE;
        }
        if ((out[*n] = strndup(p, len)) == NULL) {
            return 1;
        }
        (*n)++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

/* THING or THING@TIME (flag) / THING,TIME (labels file). */
static int add_label(dd_sweep_label_t *bad, char **owned, size_t *n, const char *text, char sep,
                     const char *where)
{
    const char *at = strchr(text, sep);
    size_t len = at != NULL ? (size_t)(at - text) : strlen(text);

    if (*n >= MAX_BAD) {
        fprintf(stderr, "ddlocal sweep: more than %d known-bad things\n", MAX_BAD);
        return DD_CLI_USAGE;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        fprintf(stderr, "ddlocal sweep: %s: empty thing name\n", where);
        return DD_CLI_USAGE;
    }
    bad[*n].since_ms = 0;
    if (at != NULL) {
        const char *t = at + 1;
        while (*t == ' ' || *t == '\t') {
            t++;
        }
        if (!dd_replay_time_parse(t, &bad[*n].since_ms)) {
            fprintf(stderr,
                    "ddlocal sweep: %s: '%s' is not a time (epoch ms or ISO-8601 UTC, e.g. "
                    "2026-11-28T10:05:07Z)\n",
                    where, t);
            return DD_CLI_USAGE;
        }
    }
    if ((owned[*n] = strndup(text, len)) == NULL) {
        return 1;
    }
    bad[*n].thing = owned[*n];
    (*n)++;
    return 0;
}

static int read_labels(const char *path, dd_sweep_label_t *bad, char **owned, size_t *n)
{
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    size_t line = 0;

    if (dd_fs_read_file(path, MAX_FILE, &text, &len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal sweep: cannot read %s: %s\n", path, strerror(errno));
        return DD_CLI_USAGE;
    }
    for (char *p = text; rc == 0 && p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        char where[600];
        if (nl != NULL) {
            *nl = '\0';
        }
        line++;
        if (nl != NULL && nl > p && nl[-1] == '\r') {
            nl[-1] = '\0';
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p != '\0' && *p != '#') {
            (void)snprintf(where, sizeof(where), "%.500s line %zu", path, line);
            rc = add_label(bad, owned, n, p, ',', where);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return rc;
}

static void print_ms(char *buf, size_t len, int64_t ms)
{
    if (ms < 0) {
        (void)snprintf(buf, len, "-");
    } else {
        (void)snprintf(buf, len, "%.10g", (double)ms / 1000.0);
    }
}

static void print_rows(const char *format, const char *what, const dd_sweep_row_t *rows, size_t n)
{
    char med[32];
    char max[32];

    if (strcmp(format, "csv") == 0) {
        printf("%s,thingsWithData,truePositives,falsePositives,falseNegatives,tpEvents,fpEvents,"
               "detectMedianSeconds,detectMaxSeconds,alarmedBadSeconds,alarmedGoodSeconds\n",
               what);
    } else if (strcmp(format, "table") == 0) {
        printf("%-12s %6s %5s %5s %5s %9s %9s %11s %11s %12s %13s\n", what, "things", "TP", "FP",
               "FN", "TP-events", "FP-events", "detect-med", "detect-max", "alarmed-bad",
               "alarmed-good");
    }
    for (size_t v = 0; v < n; v++) {
        const dd_sweep_row_t *r = &rows[v];
        print_ms(med, sizeof(med), r->detect_median_ms);
        print_ms(max, sizeof(max), r->detect_max_ms);
        if (strcmp(format, "json") == 0) {
            printf("{\"%s\":\"%s\",\"thingsWithData\":%zu,\"truePositives\":%zu,"
                   "\"falsePositives\":%zu,\"falseNegatives\":%zu,\"tpEvents\":%zu,"
                   "\"fpEvents\":%zu,\"detectMedianSeconds\":%s,\"detectMaxSeconds\":%s,"
                   "\"alarmedBadSeconds\":%.10g,\"alarmedGoodSeconds\":%.10g}\n",
                   what, r->variant, r->things_with_data, r->true_positives, r->false_positives,
                   r->false_negatives, r->tp_events, r->fp_events,
                   r->detect_median_ms < 0 ? "null" : med, r->detect_max_ms < 0 ? "null" : max,
                   (double)r->alarmed_bad_ms / 1000.0, (double)r->alarmed_good_ms / 1000.0);
        } else if (strcmp(format, "csv") == 0) {
            printf("%s,%zu,%zu,%zu,%zu,%zu,%zu,%s,%s,%.10g,%.10g\n", r->variant,
                   r->things_with_data, r->true_positives, r->false_positives, r->false_negatives,
                   r->tp_events, r->fp_events, r->detect_median_ms < 0 ? "" : med,
                   r->detect_max_ms < 0 ? "" : max, (double)r->alarmed_bad_ms / 1000.0,
                   (double)r->alarmed_good_ms / 1000.0);
        } else {
            printf("%-12s %6zu %5zu %5zu %5zu %9zu %9zu %11s %11s %12.10g %13.10g\n", r->variant,
                   r->things_with_data, r->true_positives, r->false_positives, r->false_negatives,
                   r->tp_events, r->fp_events, med, max, (double)r->alarmed_bad_ms / 1000.0,
                   (double)r->alarmed_good_ms / 1000.0);
        }
    }
}

int dd_cmd_sweep(int argc, char **argv)
{
    static dd_sweep_label_t bad[MAX_BAD];
    static char *bad_owned[MAX_BAD];
    static char *variants[DD_SWEEP_MAX_VARIANTS];
    static dd_sweep_row_t rows[DD_SWEEP_MAX_VARIANTS];
    const char *customs[MAX_ITEMS];
    const char *dims[MAX_ITEMS];
    dd_replay_text_t profile = {NULL, NULL, 0};
    dd_replay_text_t things = {NULL, NULL, 0};
    dd_sweep_options_t opt;
    dd_sweep_result_t res;
    dd_sweep_status_t st;
    const char *reports = NULL;
    const char *format = "table";
    const char *what = NULL;
    FILE *in = NULL;
    size_t nbad = 0;
    size_t nvar = 0;
    int rc = 0;

    memset(&opt, 0, sizeof(opt));
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!has_value) {
            fprintf(stderr, "ddlocal sweep: %s: unknown option or missing value\n\n", a);
            usage(stderr);
            rc = DD_CLI_USAGE;
        } else if (strcmp(a, "--profile") == 0) {
            profile.name = argv[++i];
        } else if (strcmp(a, "--behavior") == 0) {
            opt.behavior = argv[++i];
        } else if (strcmp(a, "--reports") == 0) {
            reports = argv[++i];
        } else if (strcmp(a, "--things") == 0) {
            things.name = argv[++i];
        } else if (strcmp(a, "--format") == 0) {
            format = argv[++i];
        } else if (strcmp(a, "--custom-metric") == 0 && opt.custom_metric_count < MAX_ITEMS) {
            customs[opt.custom_metric_count++] = argv[++i];
        } else if (strcmp(a, "--dimension") == 0 && opt.dimension_count < MAX_ITEMS) {
            dims[opt.dimension_count++] = argv[++i];
        } else if (strcmp(a, "--bad") == 0) {
            rc = add_label(bad, bad_owned, &nbad, argv[++i], '@', "--bad");
        } else if (strcmp(a, "--labels") == 0) {
            rc = read_labels(argv[++i], bad, bad_owned, &nbad);
        } else if (strcmp(a, "--values") == 0 || strcmp(a, "--percentiles") == 0 ||
                   strcmp(a, "--to-alarm") == 0) {
            if (what != NULL) {
                fprintf(stderr, "ddlocal sweep: give one of --values, --percentiles or "
                                "--to-alarm\n");
                rc = DD_CLI_USAGE;
                break;
            }
            opt.kind = strcmp(a, "--values") == 0        ? DD_SWEEP_VALUE
                       : strcmp(a, "--percentiles") == 0 ? DD_SWEEP_PERCENTILE
                                                         : DD_SWEEP_TO_ALARM;
            what = opt.kind == DD_SWEEP_VALUE        ? "value"
                   : opt.kind == DD_SWEEP_PERCENTILE ? "percentile"
                                                     : "toAlarm";
            rc = parse_list(a, argv[++i], opt.kind != DD_SWEEP_PERCENTILE, variants, &nvar);
        } else {
            fprintf(stderr, "ddlocal sweep: unknown option '%s'\n\n", a);
            usage(stderr);
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0 && (profile.name == NULL || opt.behavior == NULL || reports == NULL ||
                    what == NULL || nvar == 0)) {
        fprintf(stderr, "ddlocal sweep: --profile, --behavior, --reports and one of --values, "
                        "--percentiles or --to-alarm are required\n\n");
        usage(stderr);
        rc = DD_CLI_USAGE;
    }
    if (rc == 0 && strcmp(format, "table") != 0 && strcmp(format, "json") != 0 &&
        strcmp(format, "csv") != 0) {
        fprintf(stderr, "ddlocal sweep: --format is table, json or csv, not '%s'\n", format);
        rc = DD_CLI_USAGE;
    }
    if (rc == 0 &&
        dd_fs_read_file(profile.name, MAX_FILE, (char **)&profile.text, &profile.len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal sweep: cannot read %s: %s\n", profile.name, strerror(errno));
        rc = DD_CLI_USAGE;
    }
    if (rc == 0 && things.name != NULL &&
        dd_fs_read_file(things.name, MAX_FILE, (char **)&things.text, &things.len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal sweep: cannot read %s: %s\n", things.name, strerror(errno));
        rc = DD_CLI_USAGE;
    }
    if (rc == 0) {
        in = strcmp(reports, "-") == 0 ? stdin : fopen(reports, "r");
        if (in == NULL) {
            fprintf(stderr, "ddlocal sweep: cannot read %s: %s\n", reports, strerror(errno));
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0) {
        opt.profile = &profile;
        opt.variants = (const char *const *)variants;
        opt.variant_count = nvar;
        opt.bad = bad;
        opt.bad_count = nbad;
        opt.things = things.name != NULL ? &things : NULL;
        opt.custom_metrics = customs;
        opt.dimensions = dims;
        st = dd_sweep_run(&opt, in, stderr, rows, &res);
        switch (st) {
        case DD_SWEEP_OK:
        case DD_SWEEP_SKIPPED_LINES:
            print_rows(format, what, rows, nvar);
            if (res.bad_without_data > 0) {
                fprintf(stderr, "ddlocal sweep: %zu known-bad thing(s) have no datapoint of %s\n",
                        res.bad_without_data, opt.behavior);
            }
            if (st == DD_SWEEP_SKIPPED_LINES) {
                fprintf(stderr, "ddlocal sweep: %zu of %zu lines skipped\n", res.replay.skipped,
                        res.replay.lines);
                rc = 1;
            }
            break;
        case DD_SWEEP_BAD_PROFILE:
        case DD_SWEEP_BAD_VARIANT:
        case DD_SWEEP_BAD_PARAMETER: rc = DD_CLI_USAGE; break;
        default:
            fprintf(stderr, "ddlocal sweep: %s\n", dd_sweep_strerror(st));
            rc = 1;
            break;
        }
    }
    if (in != NULL && in != stdin) {
        fclose(in);
    }
    free((char *)profile.text);
    free((char *)things.text);
    for (size_t v = 0; v < nvar; v++) {
        free(variants[v]);
    }
    for (size_t b = 0; b < nbad; b++) {
        free(bad_owned[b]);
    }
    return rc;
}
