/*
 * ddlocal datapoints: what `ddlocal replay --datapoints` shows, for the live pipeline's stored
 * history (docs/reference/record.md): the stored range is replayed through the engine with the
 * profile as it is now (dd_datapoints.h). Reads the data dir's database; ddlocald may run.
 */
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_datapoints.h"
#include "dd_replay.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
    "usage: ddlocal datapoints --profile P [--behavior B] [--thing T] [--from T] [--to T]\n"
    "                          [--format csv|json] [--stats] [--time-ms] [-D DIR]\n"
    "\n"
    "The datapoints the engine compared with a security profile's behaviors over the live\n"
    "pipeline's stored history, as `ddlocal replay --datapoints` writes them: thing,\n"
    "profile, behavior, window, value, the threshold applied (the static value, or the\n"
    "window's fleet percentile and how many devices it came from), the verdict and the\n"
    "alarm state after it. The stored reports and cloud-side metering up to --to are\n"
    "replayed with the profile as it is now (nothing is stored per datapoint); rows whose\n"
    "window ends in [--from, --to) are printed.\n"
    "\n"
    "  --profile P        a stored security profile (required)\n"
    "  --behavior B       one of its behaviors (default: all)\n"
    "  --thing T          only this thing's rows (default: every thing)\n"
    "  --from T, --to T   epoch milliseconds or ISO-8601 UTC (default: everything)\n"
    "  --format csv|json  CSV with a header line (default) or one JSON object per line\n"
    "  --stats            instead of the rows: per behavior and window, the distribution of\n"
    "                     the fleet's values (devices, min, p50, p90, p99, max)\n"
    "  --time-ms          times in epoch milliseconds (default: seconds)\n"
    "  -D, --data-dir DIR the pipeline's data dir\n"
    "\n"
    "The same over HTTP: GET /ddlocal/v1/datapoints?profile=P&behavior=B&thing=T&from=MS&to=MS\n"
    "Exit status: 0, 1 a runtime failure (no such profile, the data dir unreadable), 2 usage.\n";

int dd_cmd_datapoints(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"profile", required_argument, NULL, 'p'},
        {"behavior", required_argument, NULL, 'b'},
        {"thing", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'u'},
        {"format", required_argument, NULL, 'F'},
        {"stats", no_argument, NULL, 's'},
        {"time-ms", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_datapoints_query_t q;
    dd_datapoints_status_t st;
    dd_clienv_t env;
    dd_store_t *store = NULL;
    bool stats = false;
    char db[PATH_MAX];
    char why[512];
    int c;

    memset(&q, 0, sizeof(q));
    q.to_ms = INT64_MAX;
    q.csv = true;
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'p': q.profile = optarg; break;
        case 'b': q.behavior = optarg; break;
        case 't': q.thing = optarg; break;
        case 'f':
        case 'u':
            if (!dd_replay_time_parse(optarg, c == 'f' ? &q.from_ms : &q.to_ms) ||
                (c == 'f' ? q.from_ms : q.to_ms) < 0) {
                return dd_clienv_usage_error("datapoints",
                                             "--%s takes epoch milliseconds or an ISO-8601 UTC "
                                             "time like 2026-11-28T10:05:07Z, not '%s'",
                                             c == 'f' ? "from" : "to", optarg);
            }
            break;
        case 'F':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "json") != 0) {
                return dd_clienv_usage_error("datapoints", "--format is csv or json, not '%s'",
                                             optarg);
            }
            q.csv = strcmp(optarg, "csv") == 0;
            break;
        case 's': stats = true; break;
        case 'm': q.time_ms = true; break;
        case 'h': fputs(HELP, stdout); return 0;
        default: return dd_clienv_usage_error("datapoints", "unknown option");
        }
    }
    if (optind < argc) {
        return dd_clienv_usage_error("datapoints", "unexpected argument '%s'", argv[optind]);
    }
    if (q.profile == NULL) {
        return dd_clienv_usage_error("datapoints", "--profile P is required");
    }
    if (q.to_ms < q.from_ms) {
        return dd_clienv_usage_error("datapoints", "--to is before --from");
    }
    (void)snprintf(db, sizeof(db), "%s/ddlocal.db", data_dir);
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "ddlocal datapoints: %s: no pipeline data here (%s)\n", data_dir,
                strerror(errno));
        return 1;
    }
    memset(&env, 0, sizeof(env));
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (dd_store_open(env.db, &env.reg.arn, &store) != DD_STORE_OK) {
        fprintf(stderr, "ddlocal datapoints: cannot open the evaluator store of %s\n", data_dir);
        dd_clienv_close(&env);
        return 1;
    }
    st = dd_datapoints_run(store, &env.reg, &q, stats ? NULL : stdout, stats ? stdout : NULL, why,
                           sizeof(why));
    dd_store_close(store);
    dd_clienv_close(&env);
    if (st != DD_DATAPOINTS_OK) {
        fprintf(stderr, "ddlocal datapoints: %s\n",
                why[0] != '\0' ? why : dd_datapoints_strerror(st));
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
