#include "dd_clock.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t dd_clock_wall_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dd_clock_mono_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dd_clock_sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0) {
        return;
    }
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    /* nanosleep() leaves the time still to sleep in ts when a signal interrupts it. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t default_source(void *ctx)
{
    (void)ctx;
    return dd_clock_wall_ms();
}

static int64_t wall_now(const dd_clock_t *clock)
{
    return clock->source != NULL ? clock->source(clock->source_ctx) : dd_clock_wall_ms();
}

/* ---- the anchor's sequence lock ----------------------------------------------------------
 * Writers make seq odd (a CAS from even, which also excludes other writers), store the fields
 * and make it even again. A reader copies the fields between two loads of seq and retries when
 * they differ or the first was odd. Every field is accessed atomically (relaxed; the fences and
 * seq order them), so a reader overlapping a change is not a data race, only a retry. */

typedef struct anchor {
    dd_clock_mode_t mode;
    double scale;
    int64_t origin_real_ms;
    int64_t origin_pipeline_ms;
    int64_t floor_ms;
} anchor_t;

/* Copies the anchor and, read inside the same section, the wall time: a (anchor, wall) pair
 * that existed together, so no reader pairs an old anchor with a wall time after a change. */
static void read_anchor(const dd_clock_t *clock, anchor_t *a, int64_t *wall)
{
    dd_clock_t *c = (dd_clock_t *)clock;
    unsigned spins = 0;

    for (;;) {
        unsigned s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        if ((s1 & 1U) == 0) {
            a->mode = __atomic_load_n(&c->mode, __ATOMIC_RELAXED);
            __atomic_load(&c->scale, &a->scale, __ATOMIC_RELAXED);
            a->origin_real_ms = __atomic_load_n(&c->origin_real_ms, __ATOMIC_RELAXED);
            a->origin_pipeline_ms = __atomic_load_n(&c->origin_pipeline_ms, __ATOMIC_RELAXED);
            a->floor_ms = __atomic_load_n(&c->floor_ms, __ATOMIC_RELAXED);
            if (wall != NULL) {
                *wall = wall_now(clock);
            }
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) == s1) {
                return;
            }
        }
        /* A writer is between its stores: a handful of them, unless it was preempted. */
        if (++spins % 64 == 0) {
            (void)sched_yield();
        }
    }
}

/* Returns the even seq the write started from; pass it to write_end(). */
static unsigned write_begin(dd_clock_t *clock)
{
    unsigned spins = 0;

    for (;;) {
        unsigned s = __atomic_load_n(&clock->seq, __ATOMIC_RELAXED);
        if ((s & 1U) == 0 && __atomic_compare_exchange_n(&clock->seq, &s, s + 1U, false,
                                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            /* The field stores below must not become visible before seq is odd. */
            __atomic_thread_fence(__ATOMIC_RELEASE);
            return s;
        }
        if (++spins % 64 == 0) {
            (void)sched_yield();
        }
    }
}

static void write_anchor(dd_clock_t *clock, const anchor_t *a)
{
    double scale = a->scale;

    __atomic_store_n(&clock->mode, a->mode, __ATOMIC_RELAXED);
    __atomic_store(&clock->scale, &scale, __ATOMIC_RELAXED);
    __atomic_store_n(&clock->origin_real_ms, a->origin_real_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&clock->origin_pipeline_ms, a->origin_pipeline_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&clock->floor_ms, a->floor_ms, __ATOMIC_RELAXED);
}

static void write_end(dd_clock_t *clock, unsigned started)
{
    __atomic_store_n(&clock->seq, started + 2U, __ATOMIC_RELEASE);
}

/* Pipeline time of a real or scaled anchor at wall time @p wall. */
static int64_t anchor_time(const anchor_t *a, int64_t wall)
{
    int64_t t = wall;

    if (a->mode == DD_CLOCK_SCALED) {
        int64_t elapsed = wall - a->origin_real_ms;
        if (elapsed < 0) {
            elapsed = 0; /* a wall clock stepped back must not move pipeline time back */
        }
        t = a->origin_pipeline_ms + (int64_t)llround((double)elapsed * a->scale);
    }
    return t < a->floor_ms ? a->floor_ms : t;
}

static void reset(dd_clock_t *clock, dd_clock_mode_t mode)
{
    memset(clock, 0, sizeof(*clock));
    clock->mode = mode;
    clock->scale = 1.0;
    clock->source = default_source;
}

dd_clock_status_t dd_clock_init_real(dd_clock_t *clock)
{
    if (clock == NULL) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    reset(clock, DD_CLOCK_REAL);
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_init_scaled(dd_clock_t *clock, double scale, int64_t origin_pipeline_ms)
{
    if (clock == NULL || !(scale > 0.0) || scale > DD_CLOCK_SCALE_MAX || origin_pipeline_ms < 0) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    reset(clock, DD_CLOCK_SCALED);
    clock->scale = scale;
    clock->origin_real_ms = wall_now(clock);
    clock->origin_pipeline_ms =
        origin_pipeline_ms != 0 ? origin_pipeline_ms : clock->origin_real_ms;
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_init_manual(dd_clock_t *clock, int64_t start_ms)
{
    if (clock == NULL || start_ms < 0) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    reset(clock, DD_CLOCK_MANUAL);
    clock->manual_ms = start_ms;
    return DD_CLOCK_OK;
}

void dd_clock_set_source(dd_clock_t *clock, dd_clock_source_fn source, void *ctx)
{
    if (clock == NULL) {
        return;
    }
    clock->source = source != NULL ? source : default_source;
    clock->source_ctx = source != NULL ? ctx : NULL;
    if (clock->mode == DD_CLOCK_SCALED) {
        /* The origin was taken from the old source; re-anchor it. */
        clock->origin_real_ms = wall_now(clock);
    }
}

dd_clock_mode_t dd_clock_mode(const dd_clock_t *clock)
{
    /* The mode changes only between real and scaled; one atomic load is a consistent answer. */
    return clock != NULL ? __atomic_load_n(&((dd_clock_t *)clock)->mode, __ATOMIC_ACQUIRE)
                         : DD_CLOCK_REAL;
}

double dd_clock_scale(const dd_clock_t *clock)
{
    anchor_t a;

    if (clock == NULL) {
        return 0.0;
    }
    read_anchor(clock, &a, NULL);
    return a.mode == DD_CLOCK_SCALED ? a.scale : a.mode == DD_CLOCK_REAL ? 1.0 : 0.0;
}

int64_t dd_clock_now_ms(const dd_clock_t *clock)
{
    anchor_t a;
    int64_t wall = 0;

    if (clock == NULL) {
        return 0;
    }
    /* Manual never changes mode, so this plain-looking check is not a race with a change. */
    if (__atomic_load_n(&((dd_clock_t *)clock)->mode, __ATOMIC_RELAXED) == DD_CLOCK_MANUAL) {
        return __atomic_load_n(&((dd_clock_t *)clock)->manual_ms, __ATOMIC_ACQUIRE);
    }
    read_anchor(clock, &a, &wall);
    return anchor_time(&a, wall);
}

dd_clock_status_t dd_clock_rescale(dd_clock_t *clock, double scale, int64_t *now_ms)
{
    anchor_t a;
    unsigned started;
    int64_t wall;
    int64_t now;

    if (clock == NULL || !(scale > 0.0) || scale > DD_CLOCK_SCALE_MAX) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if (dd_clock_mode(clock) == DD_CLOCK_MANUAL) {
        return DD_CLOCK_WRONG_MODE;
    }
    started = write_begin(clock);
    a.mode = __atomic_load_n(&clock->mode, __ATOMIC_RELAXED);
    __atomic_load(&clock->scale, &a.scale, __ATOMIC_RELAXED);
    a.origin_real_ms = __atomic_load_n(&clock->origin_real_ms, __ATOMIC_RELAXED);
    a.origin_pipeline_ms = __atomic_load_n(&clock->origin_pipeline_ms, __ATOMIC_RELAXED);
    a.floor_ms = __atomic_load_n(&clock->floor_ms, __ATOMIC_RELAXED);
    /* Read after seq went odd: every reader that saw the old anchor read an earlier wall time
     * (or retries), so what it got is <= now, where the new anchor starts. */
    wall = wall_now(clock);
    now = anchor_time(&a, wall);
    if (!(a.mode == DD_CLOCK_REAL && scale == 1.0)) {
        a.mode = DD_CLOCK_SCALED;
        a.scale = scale;
        a.origin_real_ms = wall;
        a.origin_pipeline_ms = now;
        a.floor_ms = 0;
        write_anchor(clock, &a);
    }
    write_end(clock, started);
    if (now_ms != NULL) {
        *now_ms = now;
    }
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_adopt(dd_clock_t *clock, const dd_clock_t *from)
{
    anchor_t a;
    anchor_t next;
    unsigned started;
    int64_t wall;
    int64_t seen;

    if (clock == NULL || from == NULL) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if ((dd_clock_mode(clock) == DD_CLOCK_MANUAL) != (dd_clock_mode(from) == DD_CLOCK_MANUAL)) {
        return DD_CLOCK_WRONG_MODE;
    }
    if (dd_clock_mode(clock) == DD_CLOCK_MANUAL) {
        int64_t target = dd_clock_now_ms(from);
        return target == dd_clock_now_ms(clock) ? DD_CLOCK_OK : dd_clock_set(clock, target);
    }
    read_anchor(from, &next, NULL);
    started = write_begin(clock);
    a.mode = __atomic_load_n(&clock->mode, __ATOMIC_RELAXED);
    __atomic_load(&clock->scale, &a.scale, __ATOMIC_RELAXED);
    a.origin_real_ms = __atomic_load_n(&clock->origin_real_ms, __ATOMIC_RELAXED);
    a.origin_pipeline_ms = __atomic_load_n(&clock->origin_pipeline_ms, __ATOMIC_RELAXED);
    a.floor_ms = __atomic_load_n(&clock->floor_ms, __ATOMIC_RELAXED);
    wall = wall_now(clock);
    /* What readers may already have seen becomes the floor: time holds there, never goes back. */
    seen = anchor_time(&a, wall);
    next.floor_ms = 0;
    if (anchor_time(&next, wall) < seen) {
        next.floor_ms = seen;
    }
    write_anchor(clock, &next);
    write_end(clock, started);
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_advance(dd_clock_t *clock, int64_t delta_ms, int64_t *new_ms)
{
    int64_t now;

    if (clock == NULL || delta_ms < 0) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if (clock->mode != DD_CLOCK_MANUAL) {
        return DD_CLOCK_WRONG_MODE;
    }
    now = __atomic_add_fetch(&clock->manual_ms, delta_ms, __ATOMIC_ACQ_REL);
    if (new_ms != NULL) {
        *new_ms = now;
    }
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_set(dd_clock_t *clock, int64_t now_ms)
{
    int64_t cur;

    if (clock == NULL) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if (clock->mode != DD_CLOCK_MANUAL) {
        return DD_CLOCK_WRONG_MODE;
    }
    cur = __atomic_load_n(&clock->manual_ms, __ATOMIC_ACQUIRE);
    do {
        if (now_ms < cur) {
            return DD_CLOCK_BACKWARDS;
        }
    } while (!__atomic_compare_exchange_n(&clock->manual_ms, &cur, now_ms, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return DD_CLOCK_OK;
}

dd_clock_status_t dd_clock_format(const dd_clock_t *clock, char *buf, size_t len)
{
    anchor_t a;
    int n = 0;

    if (clock == NULL || buf == NULL || len == 0) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if (dd_clock_mode(clock) != DD_CLOCK_MANUAL) {
        read_anchor(clock, &a, NULL);
    } else {
        a.mode = DD_CLOCK_MANUAL;
    }
    switch (a.mode) {
    case DD_CLOCK_REAL: n = snprintf(buf, len, "real"); break;
    case DD_CLOCK_SCALED:
        n = snprintf(buf, len, "scaled:%.17g:%" PRId64 ":%" PRId64, a.scale, a.origin_real_ms,
                     a.origin_pipeline_ms);
        break;
    case DD_CLOCK_MANUAL: n = snprintf(buf, len, "manual:%" PRId64, dd_clock_now_ms(clock)); break;
    }
    if (n < 0 || (size_t)n >= len) {
        return DD_CLOCK_BUFFER_TOO_SMALL;
    }
    return DD_CLOCK_OK;
}

static int parse_i64(const char *s, char **end, int64_t *out)
{
    long long v;

    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        return -1;
    }
    v = strtoll(s, end, 10);
    if (*end == s) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

dd_clock_status_t dd_clock_parse(dd_clock_t *clock, const char *spec)
{
    char *end = NULL;

    if (clock == NULL || spec == NULL) {
        return DD_CLOCK_BAD_PARAMETER;
    }
    if (strcmp(spec, "real") == 0) {
        return dd_clock_init_real(clock);
    }
    if (strncmp(spec, "manual:", 7) == 0) {
        int64_t t;
        if (parse_i64(spec + 7, &end, &t) != 0 || *end != '\0') {
            return DD_CLOCK_PARSE_ERROR;
        }
        return dd_clock_init_manual(clock, t);
    }
    if (strncmp(spec, "scaled:", 7) == 0) {
        double scale = strtod(spec + 7, &end);
        int64_t origin_real;
        int64_t origin_pipeline;
        if (end == spec + 7 || *end != ':' || !isfinite(scale)) {
            return DD_CLOCK_PARSE_ERROR;
        }
        if (parse_i64(end + 1, &end, &origin_real) != 0 || *end != ':') {
            return DD_CLOCK_PARSE_ERROR;
        }
        if (parse_i64(end + 1, &end, &origin_pipeline) != 0 || *end != '\0') {
            return DD_CLOCK_PARSE_ERROR;
        }
        if (dd_clock_init_scaled(clock, scale, origin_pipeline > 0 ? origin_pipeline : 1) !=
            DD_CLOCK_OK) {
            return DD_CLOCK_PARSE_ERROR;
        }
        clock->origin_real_ms = origin_real;
        clock->origin_pipeline_ms = origin_pipeline;
        return DD_CLOCK_OK;
    }
    return DD_CLOCK_PARSE_ERROR;
}

const char *dd_clock_strerror(dd_clock_status_t status)
{
    switch (status) {
    case DD_CLOCK_OK: return "ok";
    case DD_CLOCK_BAD_PARAMETER: return "bad parameter";
    case DD_CLOCK_WRONG_MODE: return "operation needs a manual clock";
    case DD_CLOCK_BACKWARDS: return "a clock never moves backwards";
    case DD_CLOCK_PARSE_ERROR:
        return "clock spec not understood (real | scaled:S:ORIGIN_REAL:ORIGIN_PIPELINE | "
               "manual:MS)";
    case DD_CLOCK_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown clock status";
}
