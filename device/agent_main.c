/*
 * ddlocal-agent: the Device Defender agent program. Everything but signals,
 * logging format and exit codes lives in dd_agent.c.
 *
 * Exit status: 0 success; 1 run-time failure (setup, or with --once/--count
 * a report not accepted); 2 usage error.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dd_agent.h"
#include "dd_clock.h"
#include "dd_devclock.h"
#include "dd_log.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static dd_devclock_t g_clock;
static bool g_clock_known;

/*
 * A device log is read hours later, next to the pipeline's: every line gets
 * its UTC time and, when the pipeline clock is scaled, the pipeline time.
 */
static void log_sink(dd_log_level_t level, const char *message, void *ctx)
{
    static const char *const NAMES[] = {"error", "warning", "info", "debug"};
    char when[96];

    (void)ctx;
    (void)dd_devclock_stamp(g_clock_known ? &g_clock : NULL, dd_clock_wall_ms(), when,
                            sizeof(when));
    (void)fprintf(stderr, "%s ddlocal-agent: %s: %s\n", when,
                  NAMES[level <= DD_LOG_LEVEL_DEBUG ? level : DD_LOG_LEVEL_DEBUG], message);
}

int main(int argc, char **argv)
{
    dd_agent_options_t opts;
    dd_agent_status_t st;
    struct sigaction sa;
    char msg[512] = "";

    dd_log_set_program("ddlocal-agent");
    dd_log_set_sink(log_sink, NULL);
    st = dd_agent_parse_args(argc, argv, &opts, msg, sizeof(msg));
    if (st == DD_AGENT_HELP) {
        dd_agent_usage(stdout);
        dd_agent_options_free(&opts);
        return 0;
    }
    if (st != DD_AGENT_OK) {
        (void)fprintf(stderr, "ddlocal-agent: %s\n\n", msg[0] ? msg : dd_agent_strerror(st));
        dd_agent_usage(stderr);
        dd_agent_options_free(&opts);
        return 2;
    }
    if (opts.verbose) {
        dd_log_set_level(DD_LOG_LEVEL_DEBUG);
    }
    if (dd_devclock_resolve(opts.clock_spec, getenv(DD_DEVCLOCK_ENV),
                            getenv(DD_DEVCLOCK_DATA_DIR_ENV), &g_clock, msg,
                            sizeof(msg)) != DD_DEVCLOCK_OK) {
        (void)fprintf(stderr, "ddlocal-agent: %s\n", msg);
        dd_agent_options_free(&opts);
        return 2;
    }
    g_clock_known = g_clock.follows;
    opts.clock = g_clock.follows ? &g_clock : NULL;
    if (g_clock.stale) {
        DD_LOG_WARN("%s", msg);
    } else {
        DD_LOG_INFO("%s", msg);
    }
    if (opts.interval_s < 300.0 && !opts.dry_run) {
        DD_LOG_INFO("interval %g s is below AWS's 300 s minimum: fine for ddlocal "
                    "(and with a scaled pipeline clock), AWS IoT may throttle it",
                    opts.interval_s);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll() must return so the loop sees the flag at once. */
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    st = dd_agent_run(&opts, &g_stop, stdout, NULL);
    dd_agent_options_free(&opts);
    {
        /* The agent's own footprint: what a device owner wants to know. */
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            DD_LOG_INFO("CPU %.3f s (user %.3f, system %.3f), max RSS %ld KiB",
                        (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
                        (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
                        ru.ru_maxrss);
        }
    }
    if (st != DD_AGENT_OK) {
        if (st != DD_AGENT_INCOMPLETE) {
            (void)fprintf(stderr, "ddlocal-agent: %s\n", dd_agent_strerror(st));
        }
        return 1;
    }
    return 0;
}
