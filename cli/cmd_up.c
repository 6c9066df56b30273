/*
 * ddlocal up: the whole pipeline in the foreground - mosquitto with the shim,
 * ddlocald (MQTT side and API), the isolator - until Ctrl-C.
 */
#define _GNU_SOURCE /* pipe2 */
#include "dd_apiclient.h"
#include "dd_broker_conf.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_up.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char UP_HELP[] =
    "usage: ddlocal up [options]\n"
    "\n"
    "Start the whole Device Defender pipeline in the foreground: mosquitto with\n"
    "the ddlocal shim (two mTLS listeners), ddlocald (reports, evaluation,\n"
    "alerts, the AWS IoT REST API) and the isolator. Ctrl-C stops everything.\n"
    "Once ready, DATA_DIR/endpoints.json holds the real ports and paths; it is\n"
    "removed on a clean stop. A second `up` on the same data dir resumes its state.\n"
    "\n"
    "  -D, --data-dir DIR     data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n"
    "      --mqtt-port P      mTLS MQTT, the 8883 role (default 8883; 0 = any free port)\n"
    "      --alpn-port P      mTLS MQTT, the 443 role for ALPN x-amzn-mqtt-ca clients\n"
    "                         (default 443 as root, else 8443; 0 = any free port)\n"
    "      --api-port P       HTTP AWS IoT API (default 18443; 0 = any free port)\n"
    "      --bind ADDR        listen address (default 127.0.0.1)\n"
    "      --time-scale N     run pipeline time N times faster than real time\n"
    "      --manual-clock     pipeline time moves only with `ddlocal clock advance`\n"
    "      --start-time T     where a manual or scaled clock starts (2024-01-01T00:00:00Z or ms\n"
    "                         since the epoch); not before the data dir's pipeline time\n"
    "      --seed N           ids, keys and certificates from seed N: on a fresh data dir, two\n"
    "                         runs with the same API calls (and --start-time) answer the same\n"
    "                         bytes (docs/reference/pipeline.md, \"Reproducible runs\")\n"
    "      --region R --account A   ARN region and account (default us-east-1 / 123456789012)\n"
    "      --strict-identity  only AWS's identity rule (client id = thing name); by default a\n"
    "                         certificate attached to exactly one thing also makes that thing\n"
    "      --no-kick-on-deny  keep clients connected after an authorization failure\n"
    "      --workshop         provision the world of the workshop's Modules 1-2 on first run\n"
    "                         (things, a certificate each and one shared by all three,\n"
    "                         policies, IsolatedDevices + DenyAll, the BadIoTDevices topic, the\n"
    "                         isolator, logging off, every audit check enabled and one on-demand\n"
    "                         audit run) and print its steps; you create the profiles\n"
    "      --with-profiles    with --workshop: also create and attach the workshop's two security\n"
    "                         profiles (DetectLargeMessageSize, "
    "DetectSendingMoreThanAverageBytes)\n"
    "      --isolator TOPIC:GROUP  run an isolator: SNS stand-in TOPIC -> thing group GROUP\n"
    "                         (with --workshop: BadIoTDevices:IsolatedDevices)\n"
    "      --no-isolator      no built-in isolator, not even with --workshop (e.g. to let the\n"
    "                         workshop's own IsolateDevice code do it: `ddlocal lambda add`)\n"
    "      --fine-error-codes --throttle --reject-duplicate-report-ids --reject-mixed-keys\n"
    "                         report protocol switches (see `ddlocald --help`)\n"
    "      --webhook-attempts N --webhook-backoff-ms MS\n"
    "                         webhook delivery: attempts before a dead letter (4), first backoff "
    "(1000)\n"
    "      --lambda-backoff-ms MS  Lambda stand-in retries: wait before the 2nd of 3 attempts,\n"
    "                         doubled before the 3rd (default 60000, as Lambda)\n"
    "      --metering-retention-days N  keep the broker's cloud-side metering N days for\n"
    "                         `ddlocal export` and `ddlocal record` (default 14; 0: not stored)\n"
    "      --no-status        no live status line and no event lines: for `ddlocal up ... &` in a\n"
    "                         shell you keep using (events are in DIR/logs/ddlocald.log)\n"
    "      --log-level LEVEL  error | warn | info | debug\n"
    "      --detach           start in the background and return once every part is ready\n"
    "                         (endpoints.json written); the banner is printed, later output goes\n"
    "                         to DIR/logs/up.log; `ddlocal status` / `ddlocal down` -D DIR\n"
    "      --timeout SEC      with --detach: give up (and stop what started) after SEC seconds\n"
    "                         (default 60)\n"
    "\n"
    "exit status: 0 stopped cleanly (--detach: ready), 1 failure, 2 usage, 3 a port is taken or\n"
    "             needs root, 4 the data dir is not writable, 5 mosquitto is not installed,\n"
    "             6 --detach: not ready within --timeout, 7 the data dir's pipeline is already\n"
    "             running\n";

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
    OPT_MQTT_PORT = 1000,
    OPT_ALPN_PORT,
    OPT_API_PORT,
    OPT_BIND,
    OPT_TIME_SCALE,
    OPT_MANUAL,
    OPT_REGION,
    OPT_ACCOUNT,
    OPT_STRICT,
    OPT_NO_KICK,
    OPT_WORKSHOP,
    OPT_ISOLATOR,
    OPT_FINE,
    OPT_THROTTLE,
    OPT_DUPLICATES,
    OPT_MIXED,
    OPT_NO_STATUS,
    OPT_LOG_LEVEL,
    OPT_WH_ATTEMPTS,
    OPT_WH_BACKOFF,
    OPT_WITH_PROFILES,
    OPT_NO_ISOLATOR,
    OPT_LAMBDA_BACKOFF,
    OPT_METERING_RETENTION,
    OPT_DETACH,
    OPT_TIMEOUT,
    OPT_START_TIME,
    OPT_SEED
};

/* --start-time: ISO 8601 UTC (2024-01-01T00:00:00Z) or milliseconds since the epoch. */
static bool parse_start_time(const char *text, int64_t *ms)
{
    struct tm tm;
    const char *end;
    char *num_end = NULL;
    long long n;

    memset(&tm, 0, sizeof(tm));
    end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end != NULL && *end == '\0') {
        *ms = (int64_t)timegm(&tm) * 1000;
        return *ms > 0;
    }
    n = strtoll(text, &num_end, 10);
    if (num_end != text && *num_end == '\0' && n > 0) {
        *ms = (int64_t)n;
        return true;
    }
    return false;
}

/* The background process of --detach: a session of its own, so the caller's terminal signals
 * and a CI step's process group do not reach the pipeline; `ddlocal down` stops it. */
static void run_detached(dd_up_options_t *o, int ready_fd)
{
    o->detached = true;
    o->ready_fd = ready_fd;
    o->status = false;
    (void)setsid();
    _exit(dd_up_run(o, &g_stop));
}

/* Waits for the background process's status byte; stops it when it is late. */
static int wait_ready(pid_t pid, int fd, int timeout_s)
{
    int64_t deadline = dd_clock_wall_ms() + (int64_t)timeout_s * 1000;
    char byte = 0;
    int status = 0;

    for (;;) {
        int64_t left = deadline - dd_clock_wall_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        int n;

        if (left <= 0) {
            break;
        }
        n = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR) {
            break;
        }
        if (n > 0) {
            ssize_t r = read(fd, &byte, 1);
            if (r == 1) {
                (void)close(fd);
                if (byte != 0) {
                    (void)waitpid(pid, &status, 0);
                }
                return (unsigned char)byte;
            }
            if (r == 0 || errno != EINTR) {
                /* Gone without a word (crashed?). */
                (void)close(fd);
                (void)waitpid(pid, &status, 0);
                fprintf(stderr, "ddlocal up: the background process ended before it was ready\n");
                return DD_UP_EXIT_FAILURE;
            }
        }
    }
    (void)close(fd);
    fprintf(stderr,
            "ddlocal up: not ready within %d s (--timeout); stopping what started (see the"
            " data dir's logs/)\n",
            timeout_s);
    /* A start stuck in a wait of its own may not look at SIGTERM for a while: SIGKILL soon after;
     * the children then get their death signal (dd_proc.h). */
    (void)kill(pid, SIGTERM);
    deadline = dd_clock_wall_ms() + 2000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (dd_clock_wall_ms() > deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            break;
        }
        (void)poll(NULL, 0, 50);
    }
    return DD_UP_EXIT_TIMEOUT;
}

static int up_detach(dd_up_options_t *o, int timeout_s)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "ddlocal up: pipe: %s\n", strerror(errno));
        return DD_UP_EXIT_FAILURE;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ddlocal up: fork: %s\n", strerror(errno));
        (void)close(fds[0]);
        (void)close(fds[1]);
        return DD_UP_EXIT_FAILURE;
    }
    if (pid == 0) {
        (void)close(fds[0]);
        run_detached(o, fds[1]);
    }
    (void)close(fds[1]);
    return wait_ready(pid, fds[0], timeout_s);
}

int dd_cmd_up(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"mqtt-port", required_argument, NULL, OPT_MQTT_PORT},
        {"alpn-port", required_argument, NULL, OPT_ALPN_PORT},
        {"api-port", required_argument, NULL, OPT_API_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
        {"manual-clock", no_argument, NULL, OPT_MANUAL},
        {"start-time", required_argument, NULL, OPT_START_TIME},
        {"seed", required_argument, NULL, OPT_SEED},
        {"region", required_argument, NULL, OPT_REGION},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"strict-identity", no_argument, NULL, OPT_STRICT},
        {"no-kick-on-deny", no_argument, NULL, OPT_NO_KICK},
        {"workshop", no_argument, NULL, OPT_WORKSHOP},
        {"with-profiles", no_argument, NULL, OPT_WITH_PROFILES},
        {"isolator", required_argument, NULL, OPT_ISOLATOR},
        {"fine-error-codes", no_argument, NULL, OPT_FINE},
        {"throttle", no_argument, NULL, OPT_THROTTLE},
        {"reject-duplicate-report-ids", no_argument, NULL, OPT_DUPLICATES},
        {"reject-mixed-keys", no_argument, NULL, OPT_MIXED},
        {"no-status", no_argument, NULL, OPT_NO_STATUS},
        {"webhook-attempts", required_argument, NULL, OPT_WH_ATTEMPTS},
        {"webhook-backoff-ms", required_argument, NULL, OPT_WH_BACKOFF},
        {"no-isolator", no_argument, NULL, OPT_NO_ISOLATOR},
        {"lambda-backoff-ms", required_argument, NULL, OPT_LAMBDA_BACKOFF},
        {"metering-retention-days", required_argument, NULL, OPT_METERING_RETENTION},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"detach", no_argument, NULL, OPT_DETACH},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dd_up_options_t o;
    struct sigaction sa;
    bool detach = false;
    long timeout_s = 0;
    int c;

    dd_up_options_default(&o);
    o.data_dir = dd_clienv_default_data_dir();
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': o.data_dir = optarg; break;
        case OPT_MQTT_PORT:
        case OPT_ALPN_PORT:
        case OPT_API_PORT: {
            uint16_t *port = c == OPT_MQTT_PORT   ? &o.mqtt_port
                             : c == OPT_ALPN_PORT ? &o.alpn_port
                                                  : &o.api_port;
            if (parse_port(optarg, port) != 0) {
                return dd_clienv_usage_error("up", "a port is 0..65535, not '%s'", optarg);
            }
            if (c == OPT_ALPN_PORT) {
                o.alpn_port_set = true;
            }
            break;
        }
        case OPT_BIND: o.bind = optarg; break;
        case OPT_TIME_SCALE: {
            char *end = NULL;
            o.time_scale = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(o.time_scale > 0.0) || o.time_scale > 1e6) {
                return dd_clienv_usage_error("up", "--time-scale takes a number > 0, not '%s'",
                                             optarg);
            }
            break;
        }
        case OPT_MANUAL: o.manual_clock = true; break;
        case OPT_SEED: {
            char *end = NULL;
            errno = 0;
            (void)strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || optarg[0] == '-' || optarg[0] == '+' ||
                errno == ERANGE) {
                return dd_clienv_usage_error(
                    "up", "--seed takes a number from 0 to 18446744073709551615, not '%s'", optarg);
            }
            o.seed = optarg;
            break;
        }
        case OPT_START_TIME:
            if (!parse_start_time(optarg, &o.start_time_ms)) {
                return dd_clienv_usage_error("up",
                                             "--start-time takes 2024-01-01T00:00:00Z or "
                                             "milliseconds since the epoch, not '%s'",
                                             optarg);
            }
            break;
        case OPT_REGION: o.region = optarg; break;
        case OPT_ACCOUNT: o.account = optarg; break;
        case OPT_STRICT: o.strict_identity = true; break;
        case OPT_NO_KICK: o.no_kick_on_deny = true; break;
        case OPT_WORKSHOP: o.workshop = true; break;
        case OPT_WITH_PROFILES: o.workshop_profiles = true; break;
        case OPT_ISOLATOR:
            if (strchr(optarg, ':') == NULL) {
                return dd_clienv_usage_error("up", "--isolator takes TOPIC:GROUP, not '%s'",
                                             optarg);
            }
            o.isolator = optarg;
            break;
        case OPT_NO_ISOLATOR: o.no_isolator = true; break;
        case OPT_METERING_RETENTION: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 0 || v > 3650) {
                return dd_clienv_usage_error(
                    "up", "--metering-retention-days takes 0..3650 days, not '%s'", optarg);
            }
            o.metering_retention_days = optarg;
            break;
        }
        case OPT_LAMBDA_BACKOFF: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 3600000) {
                return dd_clienv_usage_error("up",
                                             "--lambda-backoff-ms takes 1..3600000 ms, not '%s'",
                                             optarg);
            }
            o.lambda_backoff_ms = optarg;
            break;
        }
        case OPT_FINE: o.fine_error_codes = true; break;
        case OPT_THROTTLE: o.throttle = true; break;
        case OPT_DUPLICATES: o.reject_duplicates = true; break;
        case OPT_MIXED: o.reject_mixed_keys = true; break;
        case OPT_NO_STATUS: o.status = false; break;
        case OPT_WH_ATTEMPTS:
        case OPT_WH_BACKOFF: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1) {
                return dd_clienv_usage_error("up", "--webhook-* options take a positive number");
            }
            if (c == OPT_WH_ATTEMPTS) {
                o.webhook_attempts = optarg;
            } else {
                o.webhook_backoff_ms = optarg;
            }
            break;
        }
        case OPT_LOG_LEVEL:
            if (strcmp(optarg, "error") != 0 && strcmp(optarg, "warn") != 0 &&
                strcmp(optarg, "info") != 0 && strcmp(optarg, "debug") != 0) {
                return dd_clienv_usage_error("up", "--log-level is error, warn, info or debug");
            }
            o.log_level = optarg;
            break;
        case OPT_DETACH: detach = true; break;
        case OPT_TIMEOUT: {
            char *end = NULL;
            timeout_s = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || timeout_s < 1 || timeout_s > 3600) {
                return dd_clienv_usage_error("up", "--timeout takes 1..3600 seconds, not '%s'",
                                             optarg);
            }
            break;
        }
        case 'h': fputs(UP_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("up", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("up", "unexpected argument '%s'", argv[optind]);
    }
    if (o.isolator != NULL && o.no_isolator) {
        return dd_clienv_usage_error("up", "--isolator and --no-isolator exclude each other");
    }
    if (o.start_time_ms > 0 && !o.manual_clock && !(o.time_scale > 0.0)) {
        return dd_clienv_usage_error("up", "--start-time goes with --manual-clock or --time-scale");
    }
    if (o.time_scale > 0.0 && o.manual_clock) {
        return dd_clienv_usage_error("up", "--time-scale and --manual-clock exclude each other");
    }
    if (o.workshop_profiles && !o.workshop) {
        return dd_clienv_usage_error("up", "--with-profiles goes with --workshop");
    }
    if ((o.region == NULL) != (o.account == NULL)) {
        return dd_clienv_usage_error("up", "--region and --account go together");
    }
    if (timeout_s != 0 && !detach) {
        return dd_clienv_usage_error("up", "--timeout goes with --detach");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    if (detach) {
        return up_detach(&o, timeout_s != 0 ? (int)timeout_s : 60);
    }
    return dd_up_run(&o, &g_stop);
}
