#include "dd_log.h"

#include <stdio.h>

static dd_log_sink_fn g_sink = NULL;
static void *g_sink_ctx = NULL;
static dd_log_level_t g_level = DD_LOG_LEVEL_INFO;
static const char *g_program = "ddlocal";

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

void dd_log_write(dd_log_level_t level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (level > g_level || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (g_sink != NULL) {
        g_sink(level, line, g_sink_ctx);
    } else {
        /* One fprintf per line keeps lines from concurrent threads whole. */
        (void)fprintf(stderr, "%s: %s: %s\n", g_program, level_name(level), line);
    }
}
