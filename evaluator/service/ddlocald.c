/*
 * ddlocald: the Device Defender Detect service of ddlocal. Normally started
 * by `ddlocal up`; runnable alone against a broker that loads the shim.
 */
#include "dd_log.h"
#include "dd_service.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELP[] =
    "usage: ddlocald --data-dir DIR --broker-port PORT [options]\n"
    "\n"
    "The evaluator service: answers Device Defender reports, evaluates security\n"
    "profiles, raises alerts, serves the AWS IoT REST API. `ddlocal up` starts it.\n"
    "\n"
    "  -D, --data-dir DIR            data dir made by `ddlocal init` (required)\n"
    "      --broker-host HOST        broker address (default 127.0.0.1)\n"
    "      --broker-port PORT        broker's mTLS listener, the 8883 role (required)\n"
    "      --api-bind ADDR           API address (default 127.0.0.1)\n"
    "      --api-port PORT           API port (default 0: the system chooses)\n"
    "      --no-api                  do not serve the HTTP API\n"
    "      --clock SPEC              real | scaled:S:ORIGIN_REAL_MS:ORIGIN_PIPELINE_MS | "
    "manual:MS\n"
    "                                (the same spec the broker shim got; default real)\n"
    "      --region R --account A    ARN region and account (default: the data dir's, else\n"
    "                                us-east-1 / 123456789012)\n"
    "      --fine-error-codes        finer /rejected ErrorCodes than AWS's InvalidPayload\n"
    "      --throttle                reject reports closer than 300 s of pipeline time\n"
    "      --reject-duplicate-report-ids\n"
    "      --reject-mixed-keys       refuse reports mixing long and short key names\n"
    "      --metering-retention-days N\n"
    "                                keep the broker's cloud-side metering N days for `ddlocal\n"
    "                                export` and `record` (default 14; 0: do not store it)\n"
    "      --metering-bucket-ms MS   messages of one thing, topic and size within MS share a\n"
    "                                stored row; MS divides 300000 (default 60000)\n"
    "      --webhook-attempts N      webhook deliveries tried before a dead letter (default 4)\n"
    "      --webhook-backoff-ms MS   wait before the 2nd attempt, doubled each time (default "
    "1000)\n"
    "      --lambda-backoff-ms MS    Lambda stand-in retries: wait before the 2nd of the 3 "
    "attempts,\n"
    "                                doubled before the 3rd (default 60000, as Lambda: 1 then 2 "
    "min)\n"
    "      --lambda-runner FILE      the Lambda runtime (default $DDLOCAL_LAMBDA_RUNNER, else the\n"
    "                                source tree's lambda/ddlocal_lambda_runner.py)\n"
    "      --lambda-python PATH      its interpreter (default $DDLOCAL_LAMBDA_PYTHON, else\n"
    "                                /usr/bin/python3: Debian's, with python3-boto3)\n"
    "      --id-seed N               ids, keys and certificates from seed N: the same inputs give\n"
    "                                the same answers (a fresh data dir's CA too)\n"
    "      --console-dir DIR         the console's files (default $DDLOCAL_CONSOLE_DIR, else the\n"
    "                                source tree's console/), served at /console/ on the API port\n"
    "      --ready-file FILE         write {\"api\":URL,\"pid\":N} to FILE once ready\n"
    "      --log-level LEVEL         error | warn | info | debug (default info)\n"
    "  -h, --help\n";

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int parse_port(const char *text, uint16_t *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    if (end == text || *end != '\0' || v < 0 || v > 65535) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

enum {
    OPT_BROKER_HOST = 1000,
    OPT_BROKER_PORT,
    OPT_API_BIND,
    OPT_API_PORT,
    OPT_NO_API,
    OPT_CLOCK,
    OPT_REGION,
    OPT_ACCOUNT,
    OPT_FINE,
    OPT_THROTTLE,
    OPT_DUPLICATES,
    OPT_MIXED,
    OPT_READY,
    OPT_LOG_LEVEL,
    OPT_WH_ATTEMPTS,
    OPT_WH_BACKOFF,
    OPT_LAMBDA_BACKOFF,
    OPT_LAMBDA_RUNNER,
    OPT_LAMBDA_PYTHON,
    OPT_CONSOLE_DIR,
    OPT_ID_SEED,
    OPT_METERING_RETENTION,
    OPT_METERING_BUCKET
};

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"broker-host", required_argument, NULL, OPT_BROKER_HOST},
        {"broker-port", required_argument, NULL, OPT_BROKER_PORT},
        {"api-bind", required_argument, NULL, OPT_API_BIND},
        {"api-port", required_argument, NULL, OPT_API_PORT},
        {"no-api", no_argument, NULL, OPT_NO_API},
        {"clock", required_argument, NULL, OPT_CLOCK},
        {"region", required_argument, NULL, OPT_REGION},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"fine-error-codes", no_argument, NULL, OPT_FINE},
        {"throttle", no_argument, NULL, OPT_THROTTLE},
        {"reject-duplicate-report-ids", no_argument, NULL, OPT_DUPLICATES},
        {"reject-mixed-keys", no_argument, NULL, OPT_MIXED},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"webhook-attempts", required_argument, NULL, OPT_WH_ATTEMPTS},
        {"webhook-backoff-ms", required_argument, NULL, OPT_WH_BACKOFF},
        {"lambda-backoff-ms", required_argument, NULL, OPT_LAMBDA_BACKOFF},
        {"lambda-runner", required_argument, NULL, OPT_LAMBDA_RUNNER},
        {"id-seed", required_argument, NULL, OPT_ID_SEED},
        {"metering-retention-days", required_argument, NULL, OPT_METERING_RETENTION},
        {"metering-bucket-ms", required_argument, NULL, OPT_METERING_BUCKET},
        {"lambda-python", required_argument, NULL, OPT_LAMBDA_PYTHON},
        {"console-dir", required_argument, NULL, OPT_CONSOLE_DIR},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static dd_clock_t start_clock;
    dd_service_config_t cfg;
    dd_service_t *svc = NULL;
    dd_service_status_t st;
    const char *data_dir = NULL;
    const char *region = NULL;
    const char *account = NULL;
    bool have_broker_port = false;
    struct sigaction sa;
    int c;

    dd_log_set_program("ddlocald");
    dd_service_config_default(&cfg);
    if (getenv("DDLOCAL_LAMBDA_RUNNER") != NULL) {
        (void)snprintf(cfg.lambda_runner, sizeof(cfg.lambda_runner), "%s",
                       getenv("DDLOCAL_LAMBDA_RUNNER"));
    }
    if (getenv("DDLOCAL_LAMBDA_PYTHON") != NULL) {
        (void)snprintf(cfg.lambda_python, sizeof(cfg.lambda_python), "%s",
                       getenv("DDLOCAL_LAMBDA_PYTHON"));
    }
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case OPT_BROKER_HOST:
            (void)snprintf(cfg.broker_host, sizeof(cfg.broker_host), "%s", optarg);
            break;
        case OPT_BROKER_PORT:
            if (parse_port(optarg, &cfg.broker_port) != 0 || cfg.broker_port == 0) {
                fprintf(stderr, "ddlocald: --broker-port must be 1..65535, not '%s'\n", optarg);
                return 2;
            }
            have_broker_port = true;
            break;
        case OPT_API_BIND: (void)snprintf(cfg.api_bind, sizeof(cfg.api_bind), "%s", optarg); break;
        case OPT_API_PORT:
            if (parse_port(optarg, &cfg.api_port) != 0) {
                fprintf(stderr, "ddlocald: --api-port must be 0..65535, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_NO_API: cfg.api_enabled = false; break;
        case OPT_CLOCK: (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "%s", optarg); break;
        case OPT_REGION: region = optarg; break;
        case OPT_ACCOUNT: account = optarg; break;
        case OPT_FINE: cfg.ingest.fine_error_codes = true; break;
        case OPT_THROTTLE: cfg.ingest.throttle = true; break;
        case OPT_DUPLICATES: cfg.ingest.reject_duplicate_ids = true; break;
        case OPT_MIXED: cfg.ingest.reject_mixed_keys = true; break;
        case OPT_READY: (void)snprintf(cfg.ready_file, sizeof(cfg.ready_file), "%s", optarg); break;
        case OPT_WH_ATTEMPTS:
        case OPT_WH_BACKOFF: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 ||
                v > (c == OPT_WH_ATTEMPTS ? 100 : 3600000)) {
                fprintf(stderr,
                        "ddlocald: --%s takes a number (attempts 1..100, backoff 1..3600000 ms)\n",
                        c == OPT_WH_ATTEMPTS ? "webhook-attempts" : "webhook-backoff-ms");
                return 2;
            }
            if (c == OPT_WH_ATTEMPTS) {
                cfg.webhook_attempts = (int)v;
            } else {
                cfg.webhook_backoff_ms = (int)v;
            }
            break;
        }
        case OPT_METERING_RETENTION:
        case OPT_METERING_BUCKET: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            /* A bucket that does not divide 300 s could straddle a Detect window. */
            if (end == optarg || *end != '\0' ||
                (c == OPT_METERING_RETENTION ? (v < 0 || v > 3650)
                                             : (v < 1 || v > 300000 || 300000 % v != 0))) {
                fprintf(stderr, c == OPT_METERING_RETENTION
                                    ? "ddlocald: --metering-retention-days takes 0..3650\n"
                                    : "ddlocald: --metering-bucket-ms takes a divisor of 300000 "
                                      "(1, 1000, 60000, 300000, ...)\n");
                return 2;
            }
            if (c == OPT_METERING_RETENTION) {
                cfg.ingest.metering_retention_ms = (int64_t)v * 24 * 3600 * 1000;
            } else {
                cfg.ingest.metering_bucket_ms = v;
            }
            break;
        }
        case OPT_LAMBDA_BACKOFF: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 3600000) {
                fprintf(stderr, "ddlocald: --lambda-backoff-ms takes a number of ms, 1..3600000\n");
                return 2;
            }
            cfg.lambda_backoff_ms = (int)v;
            break;
        }
        case OPT_ID_SEED: {
            char *end = NULL;
            unsigned long long v;
            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || optarg[0] == '-' || errno == ERANGE) {
                fprintf(stderr, "ddlocald: --id-seed takes a number from 0 to 2^64-1\n");
                return 2;
            }
            cfg.id_seed = (uint64_t)v;
            cfg.id_seed_set = true;
            break;
        }
        case OPT_LAMBDA_RUNNER:
            (void)snprintf(cfg.lambda_runner, sizeof(cfg.lambda_runner), "%s", optarg);
            break;
        case OPT_LAMBDA_PYTHON:
            (void)snprintf(cfg.lambda_python, sizeof(cfg.lambda_python), "%s", optarg);
            break;
        case OPT_CONSOLE_DIR:
            (void)snprintf(cfg.console_dir, sizeof(cfg.console_dir), "%s", optarg);
            break;
        case OPT_LOG_LEVEL:
            if (strcmp(optarg, "error") == 0) {
                dd_log_set_level(DD_LOG_LEVEL_ERROR);
            } else if (strcmp(optarg, "warn") == 0) {
                dd_log_set_level(DD_LOG_LEVEL_WARN);
            } else if (strcmp(optarg, "info") == 0) {
                dd_log_set_level(DD_LOG_LEVEL_INFO);
            } else if (strcmp(optarg, "debug") == 0) {
                dd_log_set_level(DD_LOG_LEVEL_DEBUG);
            } else {
                fprintf(stderr, "ddlocald: --log-level must be error, warn, info or debug\n");
                return 2;
            }
            break;
        case 'h': fputs(HELP, stdout); return 0;
        default: fputs(HELP, stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ddlocald: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (data_dir == NULL || !have_broker_port) {
        fprintf(stderr, "ddlocald: --data-dir and --broker-port are required (see --help)\n");
        return 2;
    }
    if (realpath(data_dir, cfg.data_dir) == NULL) {
        fprintf(stderr, "ddlocald: data dir %s does not exist (create it with `ddlocal init`)\n",
                data_dir);
        return 1;
    }
    if ((region == NULL) != (account == NULL)) {
        fprintf(stderr, "ddlocald: --region and --account go together\n");
        return 2;
    }
    if (region != NULL) {
        if (dd_arn_ctx_set(&cfg.arn, region, account) != DD_NAMES_OK) {
            fprintf(stderr,
                    "ddlocald: bad --region/--account (region [a-z0-9-], account 12 digits)\n");
            return 2;
        }
        cfg.arn_explicit = true;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    /* Every line of ddlocald.log carries real and pipeline time: start-up lines are stamped
     * with the spec's clock, then with the service's own (a manual clock moves and resumes). */
    if (dd_clock_parse(&start_clock, cfg.clock_spec[0] != '\0' ? cfg.clock_spec : "real") !=
        DD_CLOCK_OK) {
        fprintf(stderr,
                "ddlocald: --clock '%s' not understood (real | "
                "scaled:S:ORIGIN_REAL_MS:ORIGIN_PIPELINE_MS"
                " | manual:MS)\n",
                cfg.clock_spec);
        return 2;
    }
    dd_log_set_clock(&start_clock);
    st = dd_service_create(&cfg, &svc);
    if (st != DD_SERVICE_OK) {
        DD_LOG_ERROR("cannot start: %s", dd_service_strerror(st));
        return 1;
    }
    dd_log_set_clock(dd_service_clock(svc));
    (void)dd_service_run(svc, &g_stop);
    dd_log_set_clock(&start_clock);
    dd_service_destroy(svc);
    if (cfg.ready_file[0] != '\0') {
        (void)unlink(cfg.ready_file);
    }
    return 0;
}
