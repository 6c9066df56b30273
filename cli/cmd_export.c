/*
 * ddlocal export / ddlocal record: a live pipeline's stored reports and cloud-side metering as
 * `ddlocal replay` input (docs/reference/record.md). export writes a bundle for a stored time
 * range; record follows a running pipeline and appends the lines as they are stored. Both read
 * the data dir's database (dd_export.h); record asks ddlocald for the pipeline time.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_export.h"
#include "dd_replay.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Metering rows can grow until their bucket is over; every bucket ends by the next multiple of
 * 300 s (ddlocald's --metering-bucket-ms divides 300000), so record appends whole 5-minute
 * blocks. */
#define BLOCK_MS 300000LL

static const char EXPORT_HELP[] =
    "usage: ddlocal export --out DIR [--from T] [--to T] [-D DATA_DIR]\n"
    "\n"
    "Writes what the pipeline of DATA_DIR stored for [--from, --to) as a replay bundle:\n"
    "  DIR/stream.jsonl      the accepted reports (as received, at the pipeline time the\n"
    "                        engine used) and the broker's cloud-side metering (\"event\"\n"
    "                        lines with \"repeat\"), a \"tick\" at each stored violation event\n"
    "  DIR/things.json       the registry's things and thing groups (replay --things)\n"
    "  DIR/profiles/P.json   each security profile with its targets (replay --profile)\n"
    "  DIR/replay.sh         the replay command, also printed; custom metrics and\n"
    "                        dimensions are its --custom-metric / --dimension options\n"
    "\n"
    "  --from T, --to T   epoch milliseconds or ISO-8601 UTC (2026-11-28T10:05:07Z);\n"
    "                     default: from the first stored line to the end\n"
    "  -D, --data-dir DIR the pipeline's data dir (ddlocald may be running)\n"
    "\n"
    "Exit status: 0 written, 1 a runtime failure, 2 usage error.\n";

static const char RECORD_HELP[] =
    "usage: ddlocal record --out FILE [--from T] [--until T] [--interval-ms MS] [-D DIR]\n"
    "\n"
    "Follows the running pipeline of DIR and appends to FILE, in replay's format, the\n"
    "accepted reports and the broker's cloud-side metering as they are stored (the lines of\n"
    "`ddlocal export`'s stream.jsonl). Lines are appended per 5-minute block of pipeline\n"
    "time once the block is over (a stored metering row can grow until then) and a few\n"
    "seconds have passed for the last records to be stored. Stops on SIGINT/SIGTERM after\n"
    "writing the blocks that are over, or once --until is reached.\n"
    "\n"
    "  --out FILE         appended to; '-' for standard output\n"
    "  --from T           start (epoch ms or ISO-8601 UTC; default: the first stored line)\n"
    "  --until T          stop after writing everything before T\n"
    "  --interval-ms MS   how often the store is read (default 1000)\n"
    "  -D, --data-dir DIR the running pipeline's data dir\n"
    "\n"
    "Things, groups and profiles: `ddlocal export --out DIR --from T --to T` (an empty range\n"
    "writes only those). Exit status: 0 stopped normally, 1 a runtime failure (ddlocald not\n"
    "running), 2 usage error.\n";

/* The data dir's database, opened without creating anything. */
static int open_store(const char *cmd, const char *data_dir, dd_clienv_t *env, dd_store_t **store)
{
    char db[PATH_MAX];

    if (strlen(data_dir) > 512 - 16) {
        return dd_clienv_usage_error(cmd, "data dir path too long");
    }
    (void)snprintf(db, sizeof(db), "%s/ddlocal.db", data_dir);
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "ddlocal %s: %s: no pipeline data here (%s)\n", cmd, data_dir,
                strerror(errno));
        return 1;
    }
    if (dd_clienv_open(env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (dd_store_open(env->db, &env->reg.arn, store) != DD_STORE_OK) {
        fprintf(stderr, "ddlocal %s: cannot open the evaluator store of %s\n", cmd, data_dir);
        dd_clienv_close(env);
        return 1;
    }
    return 0;
}

static bool parse_time_opt(const char *text, int64_t *out)
{
    return dd_replay_time_parse(text, out) && *out >= 0;
}

int dd_cmd_export(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'}, {"out", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},     {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *out = NULL;
    int64_t from_ms = 0;
    int64_t to_ms = INT64_MAX;
    dd_export_counts_t counts;
    dd_export_status_t st;
    dd_clienv_t env;
    dd_store_t *store = NULL;
    char *command = NULL;
    int c;
    int rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'o': out = optarg; break;
        case 'f':
        case 't':
            if (!parse_time_opt(optarg, c == 'f' ? &from_ms : &to_ms)) {
                return dd_clienv_usage_error("export",
                                             "--%s takes epoch milliseconds or an ISO-8601 UTC "
                                             "time like 2026-11-28T10:05:07Z, not '%s'",
                                             c == 'f' ? "from" : "to", optarg);
            }
            break;
        case 'h': fputs(EXPORT_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("export", "unknown option");
        }
    }
    if (optind < argc) {
        return dd_clienv_usage_error("export", "unexpected argument '%s'", argv[optind]);
    }
    if (out == NULL) {
        return dd_clienv_usage_error("export", "--out DIR is required");
    }
    if (to_ms < from_ms) {
        return dd_clienv_usage_error("export", "--to is before --from");
    }
    memset(&env, 0, sizeof(env));
    rc = open_store("export", data_dir, &env, &store);
    if (rc != 0) {
        return rc;
    }
    memset(&counts, 0, sizeof(counts));
    st = dd_export_bundle(store, &env.reg, from_ms, to_ms, out, &counts, &command);
    dd_store_close(store);
    dd_clienv_close(&env);
    if (st != DD_EXPORT_OK) {
        fprintf(stderr, "ddlocal export: %s: %s%s%s\n", out, dd_export_strerror(st),
                st == DD_EXPORT_IO_ERROR ? ": " : "",
                st == DD_EXPORT_IO_ERROR ? strerror(errno) : "");
        return 1;
    }
    fprintf(stderr,
            "ddlocal export: %llu reports, %llu metering lines (%llu records), %llu ticks "
            "written to %s/stream.jsonl\n",
            (unsigned long long)counts.reports, (unsigned long long)counts.metering_lines,
            (unsigned long long)counts.metering_events, (unsigned long long)counts.ticks, out);
    printf("%s\n", command);
    free(command);
    return 0;
}

/* ---- record ----------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The pipeline time now (GET /ddlocal/v1/clock). */
static bool pipeline_now(const char *api, int64_t *now_ms)
{
    cJSON *out = NULL;
    const cJSON *t;
    bool ok = false;

    if (dd_apiclient_json(api, "GET", "/ddlocal/v1/clock", NULL, &out) == DD_APICLIENT_OK) {
        t = cJSON_GetObjectItemCaseSensitive(out, "pipelineTimeMs");
        if (cJSON_IsNumber(t)) {
            *now_ms = (int64_t)t->valuedouble;
            ok = true;
        }
    }
    cJSON_Delete(out);
    return ok;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int dd_cmd_record(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"out", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Records stamped before the clock reading may still be in a batch being stored. */
    static const int64_t LAG_MS = 5000;
    const char *data_dir = dd_clienv_default_data_dir();
    const char *out_path = NULL;
    int64_t from_ms = 0;
    int64_t until_ms = INT64_MAX;
    long interval_ms = 1000;
    dd_apiclient_endpoints_t ep;
    dd_export_counts_t counts;
    struct sigaction sa;
    dd_clienv_t env;
    dd_store_t *store = NULL;
    FILE *out;
    char abs_dir[PATH_MAX];
    int c;
    int rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'o': out_path = optarg; break;
        case 'f':
        case 'u':
            if (!parse_time_opt(optarg, c == 'f' ? &from_ms : &until_ms)) {
                return dd_clienv_usage_error("record",
                                             "--%s takes epoch milliseconds or an ISO-8601 UTC "
                                             "time like 2026-11-28T10:05:07Z, not '%s'",
                                             c == 'f' ? "from" : "until", optarg);
            }
            break;
        case 'i': {
            char *end = NULL;
            interval_ms = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || interval_ms < 10 || interval_ms > 3600000) {
                return dd_clienv_usage_error("record", "--interval-ms takes 10..3600000, not '%s'",
                                             optarg);
            }
            break;
        }
        case 'h': fputs(RECORD_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("record", "unknown option");
        }
    }
    if (optind < argc) {
        return dd_clienv_usage_error("record", "unexpected argument '%s'", argv[optind]);
    }
    if (out_path == NULL) {
        return dd_clienv_usage_error("record", "--out FILE is required");
    }
    if (until_ms < from_ms) {
        return dd_clienv_usage_error("record", "--until is before --from");
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal record: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    memset(&env, 0, sizeof(env));
    rc = open_store("record", abs_dir, &env, &store);
    if (rc != 0) {
        return rc;
    }
    out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "a");
    if (out == NULL) {
        fprintf(stderr, "ddlocal record: cannot open %s: %s\n", out_path, strerror(errno));
        dd_store_close(store);
        dd_clienv_close(&env);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    memset(&counts, 0, sizeof(counts));
    rc = 0;
    for (;;) {
        int64_t now = 0;
        int64_t upto;
        dd_export_status_t st;
        bool stopping = g_stop != 0;

        if (!pipeline_now(ep.api, &now)) {
            fprintf(stderr, "ddlocal record: ddlocald stopped answering; stopping\n");
            rc = 1;
            break;
        }
        upto = now - LAG_MS;
        upto = upto > 0 ? upto - upto % BLOCK_MS : 0;
        if (upto > until_ms) {
            upto = until_ms;
        }
        if (upto > from_ms) {
            st = dd_export_stream(store, from_ms, upto, out, &counts);
            if (st != DD_EXPORT_OK || fflush(out) != 0) {
                fprintf(stderr, "ddlocal record: %s\n",
                        st != DD_EXPORT_OK ? dd_export_strerror(st) : strerror(errno));
                rc = 1;
                break;
            }
            from_ms = upto;
        }
        if (stopping || from_ms >= until_ms) {
            break;
        }
        sleep_ms(interval_ms);
    }
    fprintf(stderr, "ddlocal record: %llu reports, %llu metering lines, %llu ticks up to %lld\n",
            (unsigned long long)counts.reports, (unsigned long long)counts.metering_lines,
            (unsigned long long)counts.ticks, (long long)from_ms);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "ddlocal record: %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    dd_store_close(store);
    dd_clienv_close(&env);
    return rc;
}
