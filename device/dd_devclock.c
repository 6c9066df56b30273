/*
 * dd_devclock: the pipeline clock as the device programs see it (see
 * dd_devclock.h): lookup, log timestamps, aligned schedules.
 */
#include "dd_devclock.h"

#include "dd_endpoints.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dd_fs.h"
#include "dd_log.h"

/* Longest real wait handed back: a loop wakes at least daily whatever the interval. */
#define MAX_WAIT_MS (86400LL * 1000LL)

static const char *origin_name(dd_devclock_origin_t origin)
{
    switch (origin) {
    case DD_DEVCLOCK_FROM_FLAG: return "--clock";
    case DD_DEVCLOCK_FROM_ENV: return DD_DEVCLOCK_ENV;
    case DD_DEVCLOCK_FROM_ENDPOINTS: return "endpoints.json";
    case DD_DEVCLOCK_FROM_NONE: break;
    }
    return "nowhere";
}

dd_devclock_status_t dd_devclock_from_clock(const dd_clock_t *clock, dd_devclock_t *out)
{
    if (clock == NULL || out == NULL) {
        return DD_DEVCLOCK_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    out->clock = *clock;
    out->found = true;
    out->follows = dd_clock_mode(clock) != DD_CLOCK_MANUAL;
    (void)dd_clock_format(clock, out->spec, sizeof(out->spec));
    return DD_DEVCLOCK_OK;
}

/*
 * The "clock" member of DIR/endpoints.json into @p spec; false when there is none, or when the
 * file is stale (its `ddlocal up` was killed): a dead pipeline's clock is no clock to follow.
 */
static bool endpoints_clock(const char *data_dir, char *spec, size_t len)
{
    dd_endpoints_t ep;

    if (dd_endpoints_read(data_dir, &ep) != DD_ENDPOINTS_OK || ep.clock[0] == '\0' ||
        strlen(ep.clock) >= len) {
        return false;
    }
    memcpy(spec, ep.clock, strlen(ep.clock) + 1);
    return true;
}

/* DIR/endpoints.json's mtime in ns; 0 when there is none. */
static int64_t endpoints_mtime_ns(const char *data_dir)
{
    char path[600];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/%s", data_dir, DD_ENDPOINTS_FILE);

    if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) != 0) {
        return 0;
    }
    return (int64_t)st.st_mtim.tv_sec * 1000000000LL + (int64_t)st.st_mtim.tv_nsec;
}

/* Says in @p msg what the clock means for the intervals. */
static void describe(const dd_devclock_t *dc, char *msg, size_t len)
{
    const char *from = origin_name(dc->origin);

    if (!dc->found) {
        dd_log_format_msg(msg, len,
                          "no pipeline clock (--clock, %s or $%s/endpoints.json): intervals are "
                          "real seconds",
                          DD_DEVCLOCK_ENV, DD_DEVCLOCK_DATA_DIR_ENV);
    } else if (dd_clock_mode(&dc->clock) == DD_CLOCK_MANUAL) {
        dd_log_format_msg(msg, len,
                          "the pipeline clock (from %s) is manual: it moves only on `ddlocal clock "
                          "advance`, so intervals are real seconds",
                          from);
    } else if (dd_clock_mode(&dc->clock) == DD_CLOCK_SCALED) {
        dd_log_format_msg(msg, len,
                          "following the pipeline clock (from %s, time scale %g): intervals are "
                          "pipeline seconds",
                          from, dd_clock_scale(&dc->clock));
    } else {
        dd_log_format_msg(msg, len,
                          "following the pipeline clock (from %s, real time): intervals are "
                          "seconds aligned on the clock",
                          from);
    }
}

dd_devclock_status_t dd_devclock_resolve(const char *flag, const char *env, const char *data_dir,
                                         dd_devclock_t *out, char *msg, size_t msg_len)
{
    const char *spec = NULL;
    char file_spec[DD_CLOCK_SPEC_MAX * 2];
    dd_clock_t clock;

    if (out == NULL) {
        return DD_DEVCLOCK_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    dd_log_format_msg(msg, msg_len, "%s", "");
    if (flag != NULL) {
        if (strcmp(flag, "none") == 0) {
            dd_log_format_msg(msg, msg_len, "--clock none: intervals are real seconds");
            return DD_DEVCLOCK_OK;
        }
        spec = flag;
        out->origin = DD_DEVCLOCK_FROM_FLAG;
    } else if (env != NULL && env[0] != '\0') {
        spec = env;
        out->origin = DD_DEVCLOCK_FROM_ENV;
    } else if (data_dir != NULL && data_dir[0] != '\0' &&
               endpoints_clock(data_dir, file_spec, sizeof(file_spec))) {
        spec = file_spec;
        out->origin = DD_DEVCLOCK_FROM_ENDPOINTS;
    }
    if (spec == NULL) {
        describe(out, msg, msg_len);
        return DD_DEVCLOCK_OK;
    }
    if (dd_clock_parse(&clock, spec) != DD_CLOCK_OK) {
        dd_devclock_origin_t origin = out->origin;

        memset(out, 0, sizeof(*out));
        if (origin == DD_DEVCLOCK_FROM_ENDPOINTS) {
            dd_log_format_msg(msg, msg_len,
                              "ignoring the clock '%.80s' of %.200s/endpoints.json (not a "
                              "clock spec): intervals are real seconds",
                              spec, data_dir);
            return DD_DEVCLOCK_OK;
        }
        dd_log_format_msg(msg, msg_len,
                          "%s '%.80s' is not a clock spec (real, scaled:SCALE:REAL_MS:"
                          "PIPELINE_MS, manual:MS, or none)",
                          origin_name(origin), spec);
        return DD_DEVCLOCK_BAD_SPEC;
    }
    {
        dd_devclock_origin_t origin = out->origin;

        (void)dd_devclock_from_clock(&clock, out);
        out->origin = origin;
    }
    {
        /* A parsed spec fits (dd_clock_format()'s longest); cut anything longer anyway. */
        size_t n = strlen(spec);

        if (n >= sizeof(out->spec)) {
            n = sizeof(out->spec) - 1;
        }
        memcpy(out->spec, spec, n);
        out->spec[n] = '\0';
    }
    describe(out, msg, msg_len);
    /* The pipeline's clock (not one the user chose with --clock) may change rate later. */
    if (out->follows && out->origin != DD_DEVCLOCK_FROM_FLAG && data_dir != NULL &&
        data_dir[0] != '\0' && strlen(data_dir) < sizeof(out->data_dir)) {
        out->watch = true;
        memcpy(out->data_dir, data_dir, strlen(data_dir) + 1);
        out->mtime_ns = endpoints_mtime_ns(data_dir);
    }
    if (out->origin == DD_DEVCLOCK_FROM_ENV && data_dir != NULL && data_dir[0] != '\0' &&
        endpoints_clock(data_dir, file_spec, sizeof(file_spec)) && strcmp(file_spec, spec) != 0) {
        /* Exported by a device shell opened before the pipeline was restarted. */
        out->stale = true;
        dd_log_format_msg(
            msg, msg_len,
            "%s='%.80s' differs from the running pipeline's clock '%.80s' "
            "(%.200s/endpoints.json; restarted since this shell was opened?): following "
            "%s; open a new `ddlocal device` shell or unset %s",
            DD_DEVCLOCK_ENV, spec, file_spec, data_dir, DD_DEVCLOCK_ENV, DD_DEVCLOCK_ENV);
    }
    return DD_DEVCLOCK_OK;
}

bool dd_devclock_follow(dd_devclock_t *dc, int64_t mono_now_ms, char *msg, size_t msg_len)
{
    char spec[DD_CLOCK_SPEC_MAX * 2];
    dd_clock_t next;
    double old_scale;
    int64_t mtime;

    if (dc == NULL || !dc->watch || mono_now_ms < dc->next_check_ms) {
        return false;
    }
    dc->next_check_ms = mono_now_ms + DD_DEVCLOCK_FOLLOW_MS;
    mtime = endpoints_mtime_ns(dc->data_dir);
    if (mtime == 0 || mtime == dc->mtime_ns) {
        return false; /* unchanged, or gone with its pipeline: keep the clock we have */
    }
    dc->mtime_ns = mtime;
    /* Only a rate change of the same pipeline is followed: never a switch to manual time. */
    if (!endpoints_clock(dc->data_dir, spec, sizeof(spec)) || strcmp(spec, dc->spec) == 0 ||
        strlen(spec) >= sizeof(dc->spec) || dd_clock_parse(&next, spec) != DD_CLOCK_OK ||
        dd_clock_mode(&next) == DD_CLOCK_MANUAL) {
        return false;
    }
    old_scale = dd_clock_scale(&dc->clock);
    if (dd_clock_adopt(&dc->clock, &next) != DD_CLOCK_OK) {
        return false;
    }
    memcpy(dc->spec, spec, strlen(spec) + 1);
    dc->stale = false;
    dd_log_format_msg(msg, msg_len,
                      "the pipeline clock changed (%.200s/endpoints.json): time scale %g, was %g",
                      dc->data_dir, dd_clock_scale(&dc->clock), old_scale);
    return true;
}

static bool format_iso(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    long milli = (long)(ms - (int64_t)secs * 1000);
    struct tm tm;
    char when[32];
    int n;

    if (gmtime_r(&secs, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return false;
    }
    n = snprintf(buf, len, "%s.%03ldZ", when, milli);
    return n > 0 && (size_t)n < len;
}

dd_devclock_status_t dd_devclock_stamp(const dd_devclock_t *dc, int64_t wall_ms, char *buf,
                                       size_t len)
{
    char real[40];
    char pipe[40];
    int n;

    if (buf == NULL || len == 0) {
        return DD_DEVCLOCK_BAD_PARAMETER;
    }
    buf[0] = '\0';
    if (!format_iso(wall_ms, real, sizeof(real))) {
        return DD_DEVCLOCK_BAD_PARAMETER;
    }
    if (dc != NULL && dc->follows && dd_clock_mode(&dc->clock) == DD_CLOCK_SCALED) {
        /* Computed from the given wall time, so both stamps name the same instant. The program
         * loop alone changes the clock (dd_devclock_follow()), so its fields are steady here. */
        int64_t elapsed = wall_ms - dc->clock.origin_real_ms;
        int64_t p;

        /* As dd_clock_now_ms() computes it, but for the given wall time. */
        p = dc->clock.origin_pipeline_ms +
            (int64_t)llround((double)(elapsed > 0 ? elapsed : 0) * dc->clock.scale);
        if (p < dc->clock.floor_ms) {
            p = dc->clock.floor_ms;
        }
        if (format_iso(p, pipe, sizeof(pipe))) {
            n = snprintf(buf, len, "%s [pipeline %s]", real, pipe);
            return (n > 0 && (size_t)n < len) ? DD_DEVCLOCK_OK : DD_DEVCLOCK_BAD_PARAMETER;
        }
    }
    n = snprintf(buf, len, "%s", real);
    return (n > 0 && (size_t)n < len) ? DD_DEVCLOCK_OK : DD_DEVCLOCK_BAD_PARAMETER;
}

/* ---- schedules ------------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

dd_devclock_status_t dd_devclock_sched_init(dd_devclock_sched_t *s, const dd_devclock_t *dc,
                                            int64_t interval_ms, int64_t offset_ms,
                                            int64_t mono_now_ms, int64_t first_after_ms)
{
    if (s == NULL || interval_ms <= 0 || offset_ms < 0 || offset_ms >= interval_ms ||
        first_after_ms < 0) {
        return DD_DEVCLOCK_BAD_PARAMETER;
    }
    memset(s, 0, sizeof(*s));
    s->dc = dc;
    s->aligned = dc != NULL && dc->follows;
    s->interval_ms = interval_ms;
    s->offset_ms = offset_ms;
    if (s->aligned) {
        int64_t now = dd_clock_now_ms(&dc->clock);

        /* The first k x interval + offset strictly after now. */
        s->next_ms = (floor_div(now - offset_ms, interval_ms) + 1) * interval_ms + offset_ms;
    } else {
        s->next_ms = mono_now_ms + first_after_ms;
    }
    return DD_DEVCLOCK_OK;
}

static int64_t sched_now(const dd_devclock_sched_t *s, int64_t mono_now_ms)
{
    return s->aligned ? dd_clock_now_ms(&s->dc->clock) : mono_now_ms;
}

bool dd_devclock_sched_due(dd_devclock_sched_t *s, int64_t mono_now_ms, int64_t *slot_ms,
                           int64_t *missed)
{
    int64_t now;
    int64_t late;

    if (s == NULL || s->interval_ms <= 0) {
        return false;
    }
    now = sched_now(s, mono_now_ms);
    if (now < s->next_ms) {
        return false;
    }
    /* Intervals that passed entirely since the action was due are not made up for. */
    late = (now - s->next_ms) / s->interval_ms;
    if (slot_ms != NULL) {
        *slot_ms = s->next_ms + late * s->interval_ms;
    }
    if (missed != NULL) {
        *missed = late;
    }
    if (s->aligned) {
        s->next_ms += (late + 1) * s->interval_ms;
    } else {
        /* Free-running keeps its old rule: late means the next one an interval from now. */
        s->next_ms = late > 0 ? now + s->interval_ms : s->next_ms + s->interval_ms;
        if (s->next_ms <= now) {
            s->next_ms = now + s->interval_ms;
        }
    }
    return true;
}

int64_t dd_devclock_sched_wait_ms(const dd_devclock_sched_t *s, int64_t mono_now_ms)
{
    int64_t ahead;
    double real;

    if (s == NULL) {
        return 0;
    }
    ahead = s->next_ms - sched_now(s, mono_now_ms);
    if (ahead <= 0) {
        return 0;
    }
    if (!s->aligned || dd_clock_mode(&s->dc->clock) != DD_CLOCK_SCALED) {
        return ahead < MAX_WAIT_MS ? ahead : MAX_WAIT_MS;
    }
    real = ceil((double)ahead / dd_clock_scale(&s->dc->clock));
    if (real < 1.0) {
        real = 1.0;
    }
    return real < (double)MAX_WAIT_MS ? (int64_t)real : MAX_WAIT_MS;
}

const char *dd_devclock_strerror(dd_devclock_status_t status)
{
    switch (status) {
    case DD_DEVCLOCK_OK: return "ok";
    case DD_DEVCLOCK_BAD_PARAMETER: return "bad parameter";
    case DD_DEVCLOCK_BAD_SPEC: return "not a clock spec";
    }
    return "unknown status";
}
