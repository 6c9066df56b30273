/*
 * ddlocal replay: dry-runs security profiles over a recorded stream of
 * reports and cloud-side events (docs/reference/replay.md). A thin wrapper
 * around evaluator/replay/dd_replay.
 */
#include "dd_cli.h"
#include "dd_replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: ddlocal replay --profile FILE [--profile FILE ...] --reports FILE|-\n"
        "                      [--things FILE] [--custom-metric NAME:TYPE ...]\n"
        "                      [--dimension NAME:FILTER[,FILTER...] ...] [--no-summary]\n"
        "                      [--time-ms] [--datapoints FILE [--datapoints-format csv|json]]\n"
        "                      [--threads N]\n\n"
        "Runs Device Defender Detect's evaluation over a recorded stream with a manual\n"
        "clock and prints every violation event (ListViolationEvents item shape, one\n"
        "JSON object per line), then one {\"summary\":...} line per behavior.\n\n"
        "  --profile FILE        security profile JSON (CreateSecurityProfile body with\n"
        "                        securityProfileName; optional \"targets\": [ARN...],\n"
        "                        default all/things)\n"
        "  --reports FILE        recorded stream, one JSON object per line; - = stdin\n"
        "  --things FILE         registry: {\"things\":[{\"thingName\":..,\"thingGroups\":[..]}],\n"
        "                        "
        "\"thingGroups\":[{\"thingGroupName\":..,\"parentGroupName\":..}]}\n"
        "                        (without it every thing is registered, in no group)\n"
        "  --custom-metric N:T   custom metric N of type number, number-list, string-list\n"
        "                        or ip-address-list\n"
        "  --dimension N:F,...   TOPIC_FILTER dimension N with its topic filters\n"
        "  --no-summary          print only the violation events\n"
        "  --time-ms             violationEventTime in epoch ms (default: epoch seconds)\n"
        "  --datapoints FILE     also write every datapoint evaluated against a behavior:\n"
        "                        thing, profile, behavior, window start/end, value, the\n"
        "                        threshold applied (static value, or the window's fleet\n"
        "                        percentile and how many devices it came from), verdict\n"
        "                        and alarm state after it\n"
        "  --datapoints-format F csv (a header line, then one row per datapoint) or json\n"
        "                        (one object per line); default: csv when FILE ends in\n"
        "                        .csv, else json\n"
        "  --threads N           1 to 16 threads; from 2, they share the parsing and\n"
        "                        one applies the lines in order (same output); 1:\n"
        "                        everything on one thread, line by line, for a live\n"
        "                        stream (default: the CPUs, up to 8)\n\n"
        "Exit status: 0 all lines used, 1 some lines skipped (reported with their line\n"
        "numbers on stderr) or a runtime failure, 2 usage error or invalid profile.\n");
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    size_t n = 0;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap == 0 ? 65536 : cap * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int dd_cmd_replay(int argc, char **argv)
{
    dd_replay_text_t profiles[MAX_ITEMS];
    dd_replay_text_t things;
    const char *customs[MAX_ITEMS];
    const char *dims[MAX_ITEMS];
    dd_replay_options_t opt;
    const char *reports = NULL;
    const char *things_path = NULL;
    const char *dp_path = NULL;
    const char *dp_format = NULL;
    FILE *in = NULL;
    dd_replay_status_t st;
    dd_replay_result_t res;
    int rc;
    int i;
    size_t k;

    memset(&opt, 0, sizeof(opt));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-summary") == 0) {
            opt.no_summary = true;
        } else if (strcmp(a, "--time-ms") == 0) {
            opt.time_ms = true;
        } else if (!has_value &&
                   (strcmp(a, "--profile") == 0 || strcmp(a, "--reports") == 0 ||
                    strcmp(a, "--things") == 0 || strcmp(a, "--custom-metric") == 0 ||
                    strcmp(a, "--dimension") == 0 || strcmp(a, "--datapoints") == 0 ||
                    strcmp(a, "--datapoints-format") == 0 || strcmp(a, "--threads") == 0)) {
            fprintf(stderr, "ddlocal replay: %s needs a value\n", a);
            return DD_CLI_USAGE;
        } else if (strcmp(a, "--profile") == 0 && opt.profile_count < MAX_ITEMS) {
            profiles[opt.profile_count].name = argv[++i];
            profiles[opt.profile_count].text = NULL;
            opt.profile_count++;
        } else if (strcmp(a, "--reports") == 0) {
            reports = argv[++i];
        } else if (strcmp(a, "--things") == 0) {
            things_path = argv[++i];
        } else if (strcmp(a, "--datapoints") == 0) {
            dp_path = argv[++i];
        } else if (strcmp(a, "--datapoints-format") == 0) {
            dp_format = argv[++i];
        } else if (strcmp(a, "--threads") == 0) {
            const char *v = argv[++i];
            char *end = NULL;
            unsigned long n = strtoul(v, &end, 10);
            if (v[0] < '1' || v[0] > '9' || *end != '\0' || n > DD_REPLAY_THREADS_MAX) {
                fprintf(stderr, "ddlocal replay: --threads is 1 to %u, not '%s'\n",
                        DD_REPLAY_THREADS_MAX, v);
                return DD_CLI_USAGE;
            }
            opt.threads = (unsigned)n;
        } else if (strcmp(a, "--custom-metric") == 0 && opt.custom_metric_count < MAX_ITEMS) {
            customs[opt.custom_metric_count++] = argv[++i];
        } else if (strcmp(a, "--dimension") == 0 && opt.dimension_count < MAX_ITEMS) {
            dims[opt.dimension_count++] = argv[++i];
        } else {
            fprintf(stderr, "ddlocal replay: unknown option '%s'\n\n", a);
            usage(stderr);
            return DD_CLI_USAGE;
        }
    }
    if (opt.profile_count == 0 || reports == NULL) {
        fprintf(stderr, "ddlocal replay: --profile and --reports are required\n\n");
        usage(stderr);
        return DD_CLI_USAGE;
    }
    if (dp_format != NULL && strcmp(dp_format, "csv") != 0 && strcmp(dp_format, "json") != 0) {
        fprintf(stderr, "ddlocal replay: --datapoints-format is csv or json, not '%s'\n",
                dp_format);
        return DD_CLI_USAGE;
    }
    if (dp_format != NULL && dp_path == NULL) {
        fprintf(stderr, "ddlocal replay: --datapoints-format needs --datapoints FILE\n");
        return DD_CLI_USAGE;
    }
    if (dp_path != NULL) {
        size_t n = strlen(dp_path);
        opt.datapoints_csv = dp_format != NULL ? strcmp(dp_format, "csv") == 0
                                               : n >= 4 && strcmp(dp_path + n - 4, ".csv") == 0;
    }
    rc = 0;
    for (k = 0; k < opt.profile_count && rc == 0; k++) {
        size_t len = 0;
        char *text = read_all(profiles[k].name, &len);
        if (text == NULL) {
            fprintf(stderr, "ddlocal replay: cannot read %s: %s\n", profiles[k].name,
                    strerror(errno));
            rc = DD_CLI_USAGE;
        }
        profiles[k].text = text;
        profiles[k].len = len;
    }
    memset(&things, 0, sizeof(things));
    if (rc == 0 && things_path != NULL) {
        size_t len = 0;
        char *text = read_all(things_path, &len);
        if (text == NULL) {
            fprintf(stderr, "ddlocal replay: cannot read %s: %s\n", things_path, strerror(errno));
            rc = DD_CLI_USAGE;
        }
        things.name = things_path;
        things.text = text;
        things.len = len;
        opt.things = &things;
    }
    if (rc == 0) {
        in = strcmp(reports, "-") == 0 ? stdin : fopen(reports, "r");
        if (in == NULL) {
            fprintf(stderr, "ddlocal replay: cannot read %s: %s\n", reports, strerror(errno));
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0 && dp_path != NULL) {
        opt.datapoints = fopen(dp_path, "w");
        if (opt.datapoints == NULL) {
            fprintf(stderr, "ddlocal replay: cannot write %s: %s\n", dp_path, strerror(errno));
            rc = DD_CLI_USAGE;
        }
    }
    if (rc == 0) {
        opt.profiles = profiles;
        opt.custom_metrics = customs;
        opt.dimensions = dims;
        st = dd_replay_run(&opt, in, stdout, stderr, &res);
        switch (st) {
        case DD_REPLAY_OK: rc = 0; break;
        case DD_REPLAY_SKIPPED_LINES:
            fprintf(stderr, "ddlocal replay: %zu of %zu lines skipped\n", res.skipped, res.lines);
            rc = 1;
            break;
        case DD_REPLAY_BAD_PROFILE:
        case DD_REPLAY_BAD_THINGS:
        case DD_REPLAY_BAD_DEFINITION:
        case DD_REPLAY_BAD_PARAMETER: rc = DD_CLI_USAGE; break;
        default:
            fprintf(stderr, "ddlocal replay: %s\n", dd_replay_strerror(st));
            rc = 1;
            break;
        }
    }
    if (in != NULL && in != stdin) {
        fclose(in);
    }
    if (opt.datapoints != NULL && fclose(opt.datapoints) != 0 && rc == 0) {
        fprintf(stderr, "ddlocal replay: cannot write %s: %s\n", dp_path, strerror(errno));
        rc = 1;
    }
    for (k = 0; k < opt.profile_count; k++) {
        free((char *)profiles[k].text);
    }
    free((char *)things.text);
    return rc;
}
