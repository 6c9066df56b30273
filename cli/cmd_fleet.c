/*
 * ddlocal fleet: run a fleet scenario against the data dir's pipeline.
 * The simulator itself is device/dd_fleet.c; this file reads options, the
 * endpoints and the clock, and maps the outcome to an exit status.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_conn.h"
#include "dd_emit.h"
#include "dd_fleet.h"
#include "dd_endpoints.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_replay.h"
#include "dd_scenario.h"

static const char FLEET_HELP[] =
    "usage: ddlocal fleet SCENARIO.json [options]\n"
    "\n"
    "Simulate a fleet: every device of the scenario gets its own EC certificate\n"
    "(cached in DIR/fleet/NAME/), is registered as a thing, connects with mutual TLS\n"
    "and sends Device Defender reports (and telemetry) following the scenario, on the\n"
    "pipeline's time scale. Prints progress, then how many reports were sent,\n"
    "accepted and rejected. Exit status 0 when every expected report was accepted.\n"
    "\n"
    "  -D, --data-dir DIR      data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n"
    "      --endpoint HOST:PORT broker (default: \"mqtt\" of DIR/endpoints.json)\n"
    "      --alpn              use the ALPN listener (\"mqttAlpn\") and offer x-amzn-mqtt-ca\n"
    "      --root-ca FILE      CA of the broker certificate (default: endpoints.json rootCa)\n"
    "      --time-scale N      pipeline seconds per wall second (default: the running\n"
    "                          pipeline's, from endpoints.json; else 1)\n"
    "      --devices N         override the scenario's number of devices\n"
    "      --duration SECONDS  override durationSeconds (pipeline seconds)\n"
    "      --ramp N            connections started per second (default 500)\n"
    "      --max-handshakes N  connections being set up at once (default 256)\n"
    "      --reply-timeout S   a report without reply after S seconds is missing (default 30)\n"
    "      --progress S        progress line every S wall seconds (default 5, 0 = none)\n"
    "      --summary-json FILE also write the summary as JSON\n"
    "      --no-register       things and certificates are registered already\n"
    "      --prepare-only      issue credentials and register, then exit\n"
    "      --emit FILE         no broker: write the scenario as a replay stream (what\n"
    "                          `ddlocal replay` and `ddlocal sweep` read) to FILE (- =\n"
    "                          standard output), then exit\n"
    "      --start-time TIME   with --emit: time 0 of the scenario (epoch ms or ISO-8601\n"
    "                          UTC; default 2024-01-01T00:00:00Z)\n"
    "      --threads N         with --emit: threads rendering lines, 1..64 (default: one\n"
    "                          per CPU, at most 4); the output is the same for any N\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Endpoint, CA and clock spec from DIR/endpoints.json (written by a running `ddlocal up`). */
static bool read_endpoints(const char *data_dir, bool alpn, char *endpoint, size_t ep_len,
                           char *root_ca, size_t ca_len, char *clock, size_t clock_len)
{
    dd_endpoints_t ep;

    /* A stale file (its `ddlocal up` killed) names ports nobody listens on any more. */
    if (dd_endpoints_read(data_dir, &ep) != DD_ENDPOINTS_OK) {
        return false;
    }
    (void)snprintf(clock, clock_len, "%s", ep.clock);
    (void)snprintf(endpoint, ep_len, "%s:%u", ep.mqtt_host, alpn ? ep.alpn_port : ep.mqtt_port);
    if (root_ca[0] == '\0') {
        (void)snprintf(root_ca, ca_len, "%s", ep.root_ca);
    }
    return true;
}

/* The time scale of the running pipeline's clock ("real", "scaled:S:...", "manual:..."). */
static double pipeline_scale(const char *spec)
{
    dd_clock_t clock;

    if (spec[0] == '\0' || dd_clock_parse(&clock, spec) != DD_CLOCK_OK) {
        return 1.0;
    }
    if (clock.mode == DD_CLOCK_MANUAL) {
        DD_LOG_WARN("the pipeline's clock is manual (it moves only with `ddlocal clock "
                    "advance`): pass --time-scale; using 1");
        return 1.0;
    }
    return clock.mode == DD_CLOCK_SCALED ? clock.scale : 1.0;
}

static bool parse_pos(const char *s, double max, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* --emit: the scenario as a replay stream; figures on stderr. */
static int emit(const dd_scenario_t *sc, const char *path, int64_t start_ms, unsigned threads)
{
    FILE *out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    dd_emit_stats_t stats;
    dd_emit_status_t st;
    struct timespec t0;

    if (out == NULL) {
        fprintf(stderr, "ddlocal fleet: cannot write %s: %s\n", path, strerror(errno));
        return DD_CLI_USAGE;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = dd_emit_run(sc, start_ms, threads, out, &stats);
    if (out != stdout && fclose(out) != 0 && st == DD_EMIT_OK) {
        st = DD_EMIT_WRITE_FAILED;
    }
    if (st != DD_EMIT_OK) {
        fprintf(stderr, "ddlocal fleet: --emit %s: %s\n", path, dd_emit_strerror(st));
        return 1;
    }
    fprintf(stderr,
            "fleet %s: %u devices, %g pipeline s: %" PRIu64 " lines (%" PRIu64 " reports, %" PRIu64
            " telemetry messages, %" PRIu64 " cloud events) in %.1f s\n",
            sc->name, sc->devices, sc->duration_s, stats.lines, stats.reports,
            stats.telemetry_messages, stats.cloud_events, seconds_since(&t0));
    return 0;
}

int dd_cmd_fleet(int argc, char **argv)
{
    static dd_clock_t log_clock;
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"endpoint", required_argument, NULL, 'e'},
        {"alpn", no_argument, NULL, 'a'},
        {"root-ca", required_argument, NULL, 'r'},
        {"time-scale", required_argument, NULL, 's'},
        {"devices", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"ramp", required_argument, NULL, 'R'},
        {"max-handshakes", required_argument, NULL, 'H'},
        {"reply-timeout", required_argument, NULL, 't'},
        {"progress", required_argument, NULL, 'p'},
        {"summary-json", required_argument, NULL, 'j'},
        {"no-register", no_argument, NULL, 'N'},
        {"prepare-only", no_argument, NULL, 'P'},
        {"emit", required_argument, NULL, 'E'},
        {"start-time", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *summary_path = NULL;
    const char *emit_path = NULL;
    int64_t start_ms = 1704067200000LL; /* 2024-01-01T00:00:00Z, as `up`'s manual clock */
    bool start_set = false;
    double threads = 0;
    char endpoint[256] = "";
    char root_ca[600] = "";
    char clock_spec[DD_CLOCK_SPEC_MAX] = "";
    char host[256];
    char msg[512] = "";
    bool alpn = false;
    bool do_register = true;
    bool prepare_only = false;
    double scale = 0;
    double devices = 0;
    double duration = 0;
    dd_fleet_config_t cfg;
    dd_scenario_t sc;
    dd_clienv_t env;
    dd_fleet_cred_t *creds = NULL;
    dd_fleet_t *fleet = NULL;
    dd_fleet_summary_t sum;
    uint32_t generated = 0;
    uint16_t port = 0;
    struct timespec t0;
    struct sigaction sa;
    int rc = 1;
    int c;

    memset(&cfg, 0, sizeof(cfg));
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'e': (void)snprintf(endpoint, sizeof(endpoint), "%s", optarg); break;
        case 'a': alpn = true; break;
        case 'r': (void)snprintf(root_ca, sizeof(root_ca), "%s", optarg); break;
        case 's':
            if (!parse_pos(optarg, 1e6, &scale)) {
                return dd_clienv_usage_error("fleet", "--time-scale must be > 0");
            }
            break;
        case 'n':
            if (!parse_pos(optarg, DD_SCENARIO_MAX_DEVICES, &devices) ||
                floor(devices) != devices) {
                return dd_clienv_usage_error("fleet", "--devices must be 1..%u",
                                             DD_SCENARIO_MAX_DEVICES);
            }
            break;
        case 'd':
            if (!parse_pos(optarg, 1e9, &duration)) {
                return dd_clienv_usage_error("fleet", "--duration must be > 0 seconds");
            }
            break;
        case 'R':
            if (!parse_pos(optarg, 1e6, &cfg.ramp_per_s)) {
                return dd_clienv_usage_error("fleet", "--ramp must be > 0 connections/s");
            }
            break;
        case 'H': {
            double v = 0;

            if (!parse_pos(optarg, 1e6, &v) || floor(v) != v) {
                return dd_clienv_usage_error("fleet", "--max-handshakes must be a positive number");
            }
            cfg.max_handshakes = (uint32_t)v;
            break;
        }
        case 't':
            if (!parse_pos(optarg, 86400, &cfg.reply_timeout_s)) {
                return dd_clienv_usage_error("fleet", "--reply-timeout must be > 0 seconds");
            }
            break;
        case 'p':
            if (strcmp(optarg, "0") == 0) {
                cfg.progress_s = -1;
            } else if (!parse_pos(optarg, 86400, &cfg.progress_s)) {
                return dd_clienv_usage_error("fleet", "--progress must be >= 0 seconds");
            }
            break;
        case 'j': summary_path = optarg; break;
        case 'N': do_register = false; break;
        case 'P': prepare_only = true; break;
        case 'E': emit_path = optarg; break;
        case 'T':
            if (!dd_replay_time_parse(optarg, &start_ms)) {
                return dd_clienv_usage_error("fleet",
                                             "--start-time must be epoch ms or ISO-8601 UTC "
                                             "(2024-01-01T00:00:00Z)");
            }
            start_set = true;
            break;
        case 'X':
            if (!parse_pos(optarg, DD_EMIT_MAX_THREADS, &threads) || floor(threads) != threads) {
                return dd_clienv_usage_error("fleet", "--threads must be 1..%d",
                                             DD_EMIT_MAX_THREADS);
            }
            break;
        case 'h': fputs(FLEET_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("fleet", "unknown option");
        }
    }
    if (optind + 1 != argc) {
        return dd_clienv_usage_error("fleet", optind >= argc ? "a scenario file is required"
                                                             : "one scenario file only");
    }
    if (dd_scenario_load(argv[optind], &sc, msg, sizeof(msg)) != DD_SCENARIO_OK) {
        fprintf(stderr, "ddlocal fleet: %s\n", msg);
        return 1;
    }
    if (dd_scenario_override(&sc, (uint32_t)devices, duration, msg, sizeof(msg)) !=
        DD_SCENARIO_OK) {
        fprintf(stderr, "ddlocal fleet: %s\n", msg);
        dd_scenario_free(&sc);
        return DD_CLI_USAGE;
    }
    if (emit_path != NULL) {
        rc = emit(&sc, emit_path, start_ms, (unsigned)threads);
        dd_scenario_free(&sc);
        return rc;
    }
    if (start_set) {
        dd_scenario_free(&sc);
        return dd_clienv_usage_error("fleet", "--start-time goes with --emit (a live fleet runs "
                                              "on the pipeline's clock)");
    }
    if (threads > 0) {
        dd_scenario_free(&sc);
        return dd_clienv_usage_error("fleet", "--threads goes with --emit");
    }
    if (dd_scenario_has_cloud(&sc)) {
        fprintf(stderr,
                "ddlocal fleet: %s: schedule \"cloud\" rates (authorization failures, failed "
                "connects, disconnects) are simulated by `ddlocal fleet --emit` only\n",
                argv[optind]);
        dd_scenario_free(&sc);
        return DD_CLI_USAGE;
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        dd_scenario_free(&sc);
        return 1;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (dd_fleet_credentials(env.data_dir, &sc, env.ca, &creds, &generated) != DD_FLEET_OK) {
        fprintf(stderr, "ddlocal fleet: issuing the device credentials failed\n");
        goto out;
    }
    printf("credentials: %u devices (%u new) in %.1f s, cached in %s/fleet/%s/\n", sc.devices,
           generated, seconds_since(&t0), env.data_dir, sc.name);
    if (do_register) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (dd_fleet_register(&env.reg, &sc, creds, msg, sizeof(msg)) != DD_FLEET_OK) {
            fprintf(stderr, "ddlocal fleet: %s\n", msg);
            goto out;
        }
        printf("registry: %u things, certificates and policy attachments in %.1f s\n", sc.devices,
               seconds_since(&t0));
    }
    if (prepare_only) {
        rc = 0;
        goto out;
    }
    if (endpoint[0] == '\0' &&
        !read_endpoints(env.data_dir, alpn, endpoint, sizeof(endpoint), root_ca, sizeof(root_ca),
                        clock_spec, sizeof(clock_spec))) {
        fprintf(stderr,
                "ddlocal fleet: no %s/endpoints.json: is the pipeline running "
                "(ddlocal up -D %s)? Or give --endpoint.\n",
                env.data_dir, env.data_dir);
        goto out;
    }
    if (root_ca[0] == '\0') {
        (void)dd_pki_path(env.data_dir, DD_PKI_FILE_ROOTCA_CERT, root_ca, sizeof(root_ca));
    }
    if (dd_conn_split_endpoint(endpoint, host, sizeof(host), &port) != DD_CONN_OK || port == 0) {
        fprintf(stderr, "ddlocal fleet: endpoint '%s' is not HOST:PORT\n", endpoint);
        goto out;
    }
    cfg.host = host;
    cfg.port = port;
    cfg.root_ca = root_ca;
    cfg.alpn = alpn ? "x-amzn-mqtt-ca" : NULL;
    cfg.time_scale = scale > 0 ? scale : pipeline_scale(clock_spec);
    /* Its warnings (lost connections...) are read beside ddlocald.log: same stamps (a manual
     * clock moves in ddlocald only, so then real time alone). */
    if (clock_spec[0] != '\0' && dd_clock_parse(&log_clock, clock_spec) == DD_CLOCK_OK &&
        log_clock.mode != DD_CLOCK_MANUAL) {
        dd_log_set_clock(&log_clock);
    } else {
        dd_log_set_clock(NULL);
    }
    cfg.progress = stdout;
    if (dd_fleet_create(&sc, creds, &cfg, &fleet) != DD_FLEET_OK) {
        fprintf(stderr, "ddlocal fleet: setting up the connections failed\n");
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("fleet %s: %u devices to %s:%u, reports every %g pipeline s for %g pipeline s at "
           "time scale %g\n",
           sc.name, sc.devices, host, (unsigned)port, sc.report_interval_s, sc.duration_s,
           cfg.time_scale);
    fflush(stdout);
    if (dd_fleet_run(fleet, &g_stop, &sum) != DD_FLEET_OK) {
        goto out;
    }
    if (summary_path != NULL) {
        char *json = NULL;

        if (dd_fleet_summary_json(&sum, &json) == DD_FLEET_OK) {
            (void)dd_fs_write_atomic(summary_path, json, strlen(json), 0644);
            free(json);
        }
    }
    rc = (sum.reports_accepted == sum.reports_expected && sum.reports_rejected == 0 && !g_stop) ? 0
                                                                                                : 1;
out:
    dd_fleet_free(fleet);
    dd_fleet_creds_free(creds, sc.devices);
    dd_clienv_close(&env);
    dd_scenario_free(&sc);
    return rc;
}
