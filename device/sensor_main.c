/*
 * ddlocal-sensor: the workshop's telemetry device program (see dd_sensor.h).
 *
 * Exit status: 0 success; 1 run-time failure (setup, or with --count a
 * message not sent); 2 usage error.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_clock.h"
#include "dd_devclock.h"
#include "dd_log.h"
#include "dd_sensor.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static dd_devclock_t g_clock;
static bool g_clock_known;

/* Every line gets its UTC time and, when the pipeline clock is scaled, the pipeline time. */
static void log_sink(dd_log_level_t level, const char *message, void *ctx)
{
    static const char *const NAMES[] = {"error", "warning", "info", "debug"};
    char when[96];

    (void)ctx;
    (void)dd_devclock_stamp(g_clock_known ? &g_clock : NULL, dd_clock_wall_ms(), when,
                            sizeof(when));
    (void)fprintf(stderr, "%s ddlocal-sensor: %s: %s\n", when,
                  NAMES[level <= DD_LOG_LEVEL_DEBUG ? level : DD_LOG_LEVEL_DEBUG], message);
}

int main(int argc, char **argv)
{
    dd_sensor_options_t opts;
    dd_sensor_status_t st;
    struct sigaction sa;
    char msg[512] = "";

    dd_log_set_program("ddlocal-sensor");
    dd_log_set_sink(log_sink, NULL);
    st = dd_sensor_parse_args(argc, argv, DD_SENSOR_ENDPOINT_FILE, &opts, msg, sizeof(msg));
    if (st == DD_SENSOR_HELP) {
        dd_sensor_usage(stdout);
        return 0;
    }
    if (st != DD_SENSOR_OK) {
        (void)fprintf(stderr, "ddlocal-sensor: %s\n\n", msg[0] ? msg : dd_sensor_strerror(st));
        dd_sensor_usage(stderr);
        return 2;
    }
    if (opts.verbose) {
        dd_log_set_level(DD_LOG_LEVEL_DEBUG);
    }
    if (dd_devclock_resolve(opts.clock_spec, getenv(DD_DEVCLOCK_ENV),
                            getenv(DD_DEVCLOCK_DATA_DIR_ENV), &g_clock, msg,
                            sizeof(msg)) != DD_DEVCLOCK_OK) {
        (void)fprintf(stderr, "ddlocal-sensor: %s\n", msg);
        return 2;
    }
    g_clock_known = g_clock.follows;
    opts.clock = g_clock.follows ? &g_clock : NULL;
    if (g_clock.stale) {
        DD_LOG_WARN("%s", msg);
    } else if (!opts.dry_run || g_clock.found) {
        DD_LOG_INFO("%s", msg);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    st = dd_sensor_run(&opts, &g_stop, stdout, NULL);
    if (st != DD_SENSOR_OK) {
        if (st != DD_SENSOR_INCOMPLETE) {
            (void)fprintf(stderr, "ddlocal-sensor: %s\n", dd_sensor_strerror(st));
        }
        return 1;
    }
    return 0;
}
