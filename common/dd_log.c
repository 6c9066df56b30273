#include "dd_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static dd_log_sink_fn g_sink = NULL;
static void *g_sink_ctx = NULL;
static dd_log_level_t g_level = DD_LOG_LEVEL_INFO;
static const char *g_program = "ddlocal";
/* Atomic so that ddlocald can hand over from its start-up clock to the service's own. */
static _Atomic(const dd_clock_t *) g_pipeline = NULL;
static atomic_bool g_stamps = false;
static dd_clock_source_fn g_wall = NULL;
static void *g_wall_ctx = NULL;

static const char *level_name(dd_log_level_t level)
{
    switch (level) {
    case DD_LOG_LEVEL_ERROR: return "error";
    case DD_LOG_LEVEL_WARN: return "warning";
    case DD_LOG_LEVEL_INFO: return "info";
    case DD_LOG_LEVEL_DEBUG: return "debug";
    }
    return "?";
}

void dd_log_set_sink(dd_log_sink_fn sink, void *ctx)
{
    g_sink = sink;
    g_sink_ctx = ctx;
}

void dd_log_set_level(dd_log_level_t level)
{
    g_level = level;
}

void dd_log_set_program(const char *name)
{
    if (name != NULL) {
        g_program = name;
    }
}

dd_log_level_t dd_log_get_level(void)
{
    return g_level;
}

void dd_log_set_clock(const dd_clock_t *pipeline)
{
    atomic_store(&g_pipeline, pipeline);
    atomic_store(&g_stamps, true);
}

void dd_log_clear_clock(void)
{
    atomic_store(&g_stamps, false);
    atomic_store(&g_pipeline, NULL);
}

void dd_log_set_wall_source(dd_clock_source_fn source, void *ctx)
{
    g_wall = source;
    g_wall_ctx = ctx;
}

dd_log_status_t dd_log_format_iso(int64_t ms, char *buf, size_t len)
{
    time_t secs;
    struct tm tm;
    char day[24];
    int n;

    if (buf == NULL || len == 0 || ms < 0) {
        return DD_LOG_BAD_PARAMETER;
    }
    secs = (time_t)(ms / 1000);
    if (gmtime_r(&secs, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        buf[0] = '\0';
        return DD_LOG_BAD_PARAMETER;
    }
    n = snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
    return (n < 0 || (size_t)n >= len) ? DD_LOG_BUFFER_TOO_SMALL : DD_LOG_OK;
}

void dd_log_format_msg(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || len == 0 || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

dd_log_status_t dd_log_format_stamp(int64_t real_ms, const dd_clock_t *pipeline, char *buf,
                                    size_t len)
{
    char pipe[32];
    dd_log_status_t st;
    size_t used;
    int n;

    if (buf == NULL || len == 0) {
        return DD_LOG_BAD_PARAMETER;
    }
    st = dd_log_format_iso(real_ms, buf, len);
    if (st != DD_LOG_OK || pipeline == NULL || dd_clock_mode(pipeline) == DD_CLOCK_REAL) {
        return st;
    }
    /* Only a scaled or manual clock differs from the real time printed before it. */
    st = dd_log_format_iso(dd_clock_now_ms(pipeline), pipe, sizeof(pipe));
    if (st != DD_LOG_OK) {
        return st;
    }
    used = strlen(buf);
    n = snprintf(buf + used, len - used, " [pipeline %s]", pipe);
    return (n < 0 || (size_t)n >= len - used) ? DD_LOG_BUFFER_TOO_SMALL : DD_LOG_OK;
}

dd_log_status_t dd_log_describe_clock(const dd_clock_t *clock, char *buf, size_t len)
{
    char when[32];
    char scale[32];
    dd_log_status_t st;
    int n;

    if (clock == NULL || buf == NULL || len == 0) {
        return DD_LOG_BAD_PARAMETER;
    }
    if (dd_clock_mode(clock) == DD_CLOCK_REAL) {
        n = snprintf(buf, len, "real time");
        return (n < 0 || (size_t)n >= len) ? DD_LOG_BUFFER_TOO_SMALL : DD_LOG_OK;
    }
    st = dd_log_format_iso(dd_clock_now_ms(clock), when, sizeof(when));
    if (st != DD_LOG_OK) {
        return st;
    }
    /* Whole seconds read better here; the log stamps keep the milliseconds. */
    when[19] = 'Z';
    when[20] = '\0';
    if (dd_clock_mode(clock) == DD_CLOCK_SCALED) {
        (void)snprintf(scale, sizeof(scale), "%g", dd_clock_scale(clock));
        n = snprintf(buf, len, "scaled x%s - pipeline time %s", scale, when);
    } else {
        n = snprintf(buf, len, "manual - pipeline time %s (moves with `ddlocal clock advance`)",
                     when);
    }
    return (n < 0 || (size_t)n >= len) ? DD_LOG_BUFFER_TOO_SMALL : DD_LOG_OK;
}

void dd_log_write(dd_log_level_t level, const char *fmt, ...)
{
    char line[1024];
    char stamp[DD_LOG_STAMP_MAX];
    va_list ap;

    if (level > g_level || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (g_sink != NULL) {
        g_sink(level, line, g_sink_ctx);
    } else if (atomic_load(&g_stamps)) {
        int64_t real_ms = g_wall != NULL ? g_wall(g_wall_ctx) : dd_clock_wall_ms();
        const dd_clock_t *pipeline = atomic_load(&g_pipeline);
        if (dd_log_format_stamp(real_ms, pipeline, stamp, sizeof(stamp)) != DD_LOG_OK) {
            stamp[0] = '\0';
        }
        (void)fprintf(stderr, "%s %s: %s: %s\n", stamp, g_program, level_name(level), line);
    } else {
        /* One fprintf per line keeps lines from concurrent threads whole. */
        (void)fprintf(stderr, "%s: %s: %s\n", g_program, level_name(level), line);
    }
}

const char *dd_log_strerror(dd_log_status_t status)
{
    switch (status) {
    case DD_LOG_OK: return "ok";
    case DD_LOG_BAD_PARAMETER: return "bad parameter";
    case DD_LOG_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown status";
}
