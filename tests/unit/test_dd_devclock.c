/*
 * dd_devclock: where the device programs find the pipeline clock, and that
 * their schedules on it put exactly the same number of sensor messages in
 * every aligned 300-s window and one agent report per interval, at any time
 * scale and start time. The wall clock is injected; the loop below is the
 * programs' loop reduced to its timing (ask whether due, else wait what the
 * schedule says, waking a little late as a busy machine does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_devclock.h"
#include "dd_endpoints.h"
#include "dd_fs.h"

#define WINDOW_MS 300000LL
#define WALL0 1796524105305LL

static int64_t fake_wall_ms;

static int64_t fake_source(void *ctx)
{
    (void)ctx;
    return fake_wall_ms;
}

/* A clock at @p scale (1: real) whose pipeline time is @p pipeline_now at wall time WALL0. */
static void make_clock(dd_devclock_t *dc, double scale, int64_t pipeline_now)
{
    dd_clock_t c;

    fake_wall_ms = WALL0;
    if (scale == 1.0) {
        assert_int_equal(dd_clock_init_real(&c), DD_CLOCK_OK);
        dd_clock_set_source(&c, fake_source, NULL);
        fake_wall_ms = pipeline_now;
    } else {
        assert_int_equal(dd_clock_init_scaled(&c, scale, pipeline_now), DD_CLOCK_OK);
        dd_clock_set_source(&c, fake_source, NULL);
        /* Started a while ago, so the origin is not "now". */
        c.origin_real_ms = WALL0 - 12345;
        c.origin_pipeline_ms = pipeline_now - (int64_t)(12345 * scale);
    }
    assert_int_equal(dd_devclock_from_clock(&c, dc), DD_DEVCLOCK_OK);
    assert_true(dc->follows);
}

/*
 * The 300-s window of pipeline time @p t, [k*300 s, (k+1)*300 s). The
 * pipeline's windows are (k*300 s, (k+1)*300 s]; a sensor message (at
 * k*10 s + 5 s, plus its delay) is never on a boundary, so both agree for
 * it; an agent report taken at a boundary reaches the pipeline just after it.
 */
static int64_t window_of(int64_t t)
{
    return t / WINDOW_MS;
}

/*
 * Runs a schedule for @p windows windows of pipeline time and checks that
 * every whole window got exactly WINDOW_MS / interval actions, each within
 * half an interval after its slot, slots exactly one interval apart.
 */
static void run_aligned(double scale, int64_t start, int64_t interval_ms, int64_t offset_ms,
                        int64_t jitter_ms, int windows)
{
    dd_devclock_t dc;
    dd_devclock_sched_t s;
    int64_t counts[64];
    int64_t first_window;
    int64_t end;
    int64_t prev_slot = -1;
    int64_t wakes = 0;
    int w;

    assert_true(windows + 2 <= 64);
    memset(counts, 0, sizeof(counts));
    make_clock(&dc, scale, start);
    assert_int_equal(dd_devclock_sched_init(&s, &dc, interval_ms, offset_ms, 0, 0), DD_DEVCLOCK_OK);
    first_window = window_of(dd_clock_now_ms(&dc.clock));
    end = (first_window + windows + 1) * WINDOW_MS;
    while (dd_clock_now_ms(&dc.clock) < end) {
        int64_t slot = 0;
        int64_t missed = -1;

        if (dd_devclock_sched_due(&s, 0, &slot, &missed)) {
            int64_t p = dd_clock_now_ms(&dc.clock);
            int64_t k = window_of(p) - first_window;

            assert_int_equal(missed, 0);
            assert_int_equal((slot - offset_ms) % interval_ms, 0);
            assert_true(p >= slot);
            assert_true(p - slot < interval_ms / 2);
            if (prev_slot >= 0) {
                assert_int_equal(slot - prev_slot, interval_ms);
            }
            prev_slot = slot;
            assert_true(k >= 0 && k < 64);
            counts[k]++;
            continue;
        }
        /* A busy machine wakes a little late, never early. */
        fake_wall_ms += dd_devclock_sched_wait_ms(&s, 0) + (wakes++ % 3 == 0 ? jitter_ms : 0);
    }
    for (w = 1; w <= windows; w++) {
        if (counts[w] != WINDOW_MS / interval_ms) {
            fail_msg("scale %g start %lld interval %lld: window %d has %lld actions, not %lld",
                     scale, (long long)start, (long long)interval_ms, w, (long long)counts[w],
                     (long long)(WINDOW_MS / interval_ms));
        }
    }
}

/* The sensor: every 10 pipeline s at k*10 s + 5 s, 30 messages in every window. */
static void test_dd_devclock_sensor_windows_hold_the_same_count(void **state)
{
    static const double scales[] = {1.0, 7.5, 60.0, 600.0, 3600.0};
    static const int64_t starts[] = {1796524105305LL, 1796524200000LL, 1796524499999LL,
                                     1796524500000LL, 1796524500001LL};
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
        for (j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
            /* Late wakes up to 2 real ms: 7.2 pipeline s at 3600x, more than half an interval. */
            run_aligned(scales[i], starts[j], 10000, 5000, scales[i] <= 600.0 ? 2 : 0, 6);
        }
    }
}

/* Other sensor intervals that divide the window: 1 s, 7.5 s, 60 s (offset half of each). */
static void test_dd_devclock_other_intervals(void **state)
{
    (void)state;
    run_aligned(60.0, 1796524105305LL, 1000, 500, 0, 3);
    run_aligned(60.0, 1796524105305LL, 7500, 3750, 1, 4);
    run_aligned(10.0, 1796524199999LL, 60000, 30000, 5, 4);
}

/* The agent: -i 300 reports at every multiple of 300 pipeline s, one interval apart. */
static void test_dd_devclock_agent_reports_on_boundaries(void **state)
{
    static const double scales[] = {1.0, 60.0, 600.0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
        run_aligned(scales[i], 1796524105305LL, WINDOW_MS, 0, 3, 8);
    }
    /* -i 60: five reports per window, on the minute. */
    run_aligned(60.0, 1796524105305LL, 60000, 0, 3, 4);
}

/* First action strictly after now; an action is due once; a stall skips, counted in missed. */
static void test_dd_devclock_first_slot_and_stalls(void **state)
{
    dd_devclock_t dc;
    dd_devclock_sched_t s;
    int64_t slot = 0;
    int64_t missed = 0;

    (void)state;
    make_clock(&dc, 60.0, 1796524500000LL); /* exactly on a boundary */
    assert_int_equal(dd_devclock_sched_init(&s, &dc, WINDOW_MS, 0, 0, 0), DD_DEVCLOCK_OK);
    assert_int_equal(s.next_ms, 1796524800000LL);
    assert_false(dd_devclock_sched_due(&s, 0, &slot, &missed));
    /* 300 pipeline s at 60x: 5000 real ms. */
    assert_int_equal(dd_devclock_sched_wait_ms(&s, 0), 5000);
    fake_wall_ms += 5000;
    assert_true(dd_devclock_sched_due(&s, 0, &slot, &missed));
    assert_int_equal(slot, 1796524800000LL);
    assert_int_equal(missed, 0);
    assert_false(dd_devclock_sched_due(&s, 0, &slot, &missed));
    /* Suspended for three and a half intervals: one late action for the last slot passed. */
    fake_wall_ms += 17500;
    assert_true(dd_devclock_sched_due(&s, 0, &slot, &missed));
    assert_int_equal(slot, 1796524800000LL + 3 * WINDOW_MS);
    assert_int_equal(missed, 2);
    assert_int_equal(s.next_ms, 1796524800000LL + 4 * WINDOW_MS);
    assert_int_equal(dd_devclock_sched_wait_ms(&s, 0), 2500);
}

/* No clock: the old real-time rule, first action after first_after_ms. */
static void test_dd_devclock_free_running(void **state)
{
    dd_devclock_sched_t s;
    int64_t slot = 0;
    int64_t missed = 0;

    (void)state;
    assert_int_equal(dd_devclock_sched_init(&s, NULL, 10000, 0, 1000, 0), DD_DEVCLOCK_OK);
    assert_true(dd_devclock_sched_due(&s, 1000, &slot, &missed));
    assert_int_equal(slot, 1000);
    assert_false(dd_devclock_sched_due(&s, 10999, NULL, NULL));
    assert_int_equal(dd_devclock_sched_wait_ms(&s, 10999), 1);
    assert_true(dd_devclock_sched_due(&s, 11000, NULL, NULL));
    /* Late: the next one an interval from now, no burst. */
    assert_true(dd_devclock_sched_due(&s, 45000, &slot, &missed));
    assert_int_equal(missed, 2);
    assert_int_equal(dd_devclock_sched_wait_ms(&s, 45000), 10000);
    assert_int_equal(dd_devclock_sched_init(&s, NULL, 300000, 0, 5, 300000), DD_DEVCLOCK_OK);
    assert_false(dd_devclock_sched_due(&s, 300004, NULL, NULL));
    assert_true(dd_devclock_sched_due(&s, 300005, NULL, NULL));
    assert_int_equal(dd_devclock_sched_init(&s, NULL, 0, 0, 0, 0), DD_DEVCLOCK_BAD_PARAMETER);
    assert_int_equal(dd_devclock_sched_init(&s, NULL, 10, 10, 0, 0), DD_DEVCLOCK_BAD_PARAMETER);
    assert_int_equal(dd_devclock_sched_init(NULL, NULL, 10, 0, 0, 0), DD_DEVCLOCK_BAD_PARAMETER);
}

static void write_endpoints(const char *dir, const char *clock)
{
    char path[512];
    char text[512];
    int n;

    dd_endpoints_proc_t self;

    /* Written by a running `ddlocal up`: this process stands in for it (pid and start time). */
    assert_int_equal(dd_endpoints_proc_init(&self, "ddlocal", (int)getpid()), DD_ENDPOINTS_OK);
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    n = snprintf(text, sizeof(text),
                 "{\"mqtt\": \"127.0.0.1:1\", \"api\": \"http://127.0.0.1:2\", \"clock\": \"%s\","
                 " \"pid\": %d, \"pidStartTime\": %llu}\n",
                 clock, self.pid, (unsigned long long)self.start);
    assert_int_equal(dd_fs_write_atomic(path, text, (size_t)n, 0644), DD_FS_OK);
}

/* The same file left behind by a `ddlocal up` that was killed: its clock is not followed. */
static void test_dd_devclock_stale_endpoints_ignored(void **state)
{
    char dir[] = "/tmp/dd_devclock_XXXXXX";
    char path[512];
    char msg[512];
    char text[512];
    dd_devclock_t dc;
    int n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    n = snprintf(text, sizeof(text),
                 "{\"mqtt\": \"127.0.0.1:1\", \"api\": \"http://127.0.0.1:2\", \"clock\": "
                 "\"scaled:60:1796524105305:1796524105305\", \"pid\": %d, \"pidStartTime\": 1}\n",
                 (int)getpid());
    assert_int_equal(dd_fs_write_atomic(path, text, (size_t)n, 0644), DD_FS_OK);
    assert_int_equal(dd_devclock_resolve(NULL, NULL, dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_false(dc.found);
    assert_non_null(strstr(msg, "real seconds"));
    (void)unlink(path);
    (void)rmdir(dir);
}

/* Gives DIR/endpoints.json the mtime @p secs: a file system with coarse timestamps could give two
 * writes within a test the same one. */
static void set_mtime(const char *dir, time_t secs)
{
    char path[512];
    struct timespec times[2];

    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    times[0].tv_sec = secs;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* `ddlocal clock scale X` rewrites endpoints.json: a program watching it follows, once it looks. */
static void test_dd_devclock_follows_a_scale_change(void **state)
{
    char dir[] = "/tmp/dd_devclock_XXXXXX";
    char path[512];
    char msg[512];
    char spec[DD_CLOCK_SPEC_MAX];
    dd_devclock_t dc;
    dd_devclock_sched_t s;
    dd_clock_t faster;
    int64_t before;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_endpoints(dir, "scaled:60:1796524105305:1796524105305");
    set_mtime(dir, 1000);
    assert_int_equal(dd_devclock_resolve(NULL, NULL, dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_true(dc.follows);
    assert_true(dc.watch);
    assert_int_equal(dd_devclock_sched_init(&s, &dc, 300000, 0, 0, 0), DD_DEVCLOCK_OK);
    /* Nothing changed: nothing happens, and the file is looked at once a second at most. */
    assert_false(dd_devclock_follow(&dc, 5000, msg, sizeof(msg)));
    before = dd_clock_now_ms(&dc.clock);

    /* ddlocald runs ten times faster from now on. */
    assert_int_equal(dd_clock_parse(&faster, dc.spec), DD_CLOCK_OK);
    assert_int_equal(dd_clock_rescale(&faster, 600.0, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_clock_format(&faster, spec, sizeof(spec)), DD_CLOCK_OK);
    write_endpoints(dir, spec);
    set_mtime(dir, 2000);
    assert_false(dd_devclock_follow(&dc, 5000 + DD_DEVCLOCK_FOLLOW_MS - 1, msg, sizeof(msg)));
    assert_true(dd_devclock_follow(&dc, 5000 + DD_DEVCLOCK_FOLLOW_MS, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "time scale 600, was 60"));
    assert_string_equal(dc.spec, spec);
    assert_true(dd_clock_scale(&dc.clock) == 600.0);
    assert_true(dd_clock_now_ms(&dc.clock) >= before); /* no jump back */
    /* The schedule's real wait follows: at most 300 s / 600 = 0.5 s (rounded up). */
    assert_true(dd_devclock_sched_wait_ms(&s, 0) <= 501);
    /* Same file again, or a switch to manual time: not followed. */
    assert_false(dd_devclock_follow(&dc, 5000 + 3 * DD_DEVCLOCK_FOLLOW_MS, msg, sizeof(msg)));
    write_endpoints(dir, "manual:1");
    set_mtime(dir, 3000);
    assert_false(dd_devclock_follow(&dc, 5000 + 5 * DD_DEVCLOCK_FOLLOW_MS, msg, sizeof(msg)));
    assert_true(dd_clock_scale(&dc.clock) == 600.0);

    /* --clock is the user's choice: never replaced. */
    assert_int_equal(dd_devclock_resolve("scaled:60:1796524105305:1796524105305", NULL, dir, &dc,
                                         msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_false(dc.watch);
    assert_false(dd_devclock_follow(&dc, 1000000, msg, sizeof(msg)));
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* --clock, then DDLOCAL_CLOCK, then endpoints.json; manual is found but not followed. */
static void test_dd_devclock_resolve_order(void **state)
{
    char dir[] = "/tmp/dd_devclock_XXXXXX";
    char path[512];
    char msg[512];
    dd_devclock_t dc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_endpoints(dir, "scaled:60:1796524105305:1796524105305");

    assert_int_equal(dd_devclock_resolve(NULL, NULL, dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_true(dc.follows);
    assert_int_equal(dc.origin, DD_DEVCLOCK_FROM_ENDPOINTS);
    assert_true(dc.clock.scale == 60.0);
    assert_non_null(strstr(msg, "time scale 60"));
    assert_non_null(strstr(msg, "pipeline seconds"));

    assert_false(dc.stale);

    /* The variable wins; differing from the running pipeline's clock, it is called stale. */
    assert_int_equal(dd_devclock_resolve(NULL, "real", dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_int_equal(dc.origin, DD_DEVCLOCK_FROM_ENV);
    assert_int_equal(dc.clock.mode, DD_CLOCK_REAL);
    assert_true(dc.follows);
    assert_true(dc.stale);
    assert_non_null(strstr(msg, "DDLOCAL_CLOCK='real' differs from the running pipeline's clock "
                                "'scaled:60:1796524105305:1796524105305'"));
    assert_int_equal(dd_devclock_resolve(NULL, "scaled:60:1796524105305:1796524105305", dir, &dc,
                                         msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_false(dc.stale);
    assert_int_equal(dd_devclock_resolve(NULL, "real", NULL, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_false(dc.stale);

    assert_int_equal(dd_devclock_resolve("manual:1000", "real", dir, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_int_equal(dc.origin, DD_DEVCLOCK_FROM_FLAG);
    assert_true(dc.found);
    assert_false(dc.follows);
    assert_non_null(strstr(msg, "manual"));
    assert_non_null(strstr(msg, "real seconds"));

    assert_int_equal(dd_devclock_resolve("none", "real", dir, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_false(dc.found);
    assert_false(dc.follows);

    /* An empty variable is no variable. */
    assert_int_equal(dd_devclock_resolve(NULL, "", dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_int_equal(dc.origin, DD_DEVCLOCK_FROM_ENDPOINTS);

    /* A bad spec typed by the user is an error; a bad one in the file is ignored. */
    assert_int_equal(dd_devclock_resolve("scaled:x", NULL, dir, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_BAD_SPEC);
    assert_non_null(strstr(msg, "--clock 'scaled:x' is not a clock spec"));
    assert_int_equal(dd_devclock_resolve(NULL, "60", dir, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_BAD_SPEC);
    assert_non_null(strstr(msg, "DDLOCAL_CLOCK '60'"));
    write_endpoints(dir, "bogus");
    assert_int_equal(dd_devclock_resolve(NULL, NULL, dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_false(dc.follows);
    assert_non_null(strstr(msg, "ignoring the clock 'bogus'"));

    /* No endpoints.json (pipeline not running): real seconds. */
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(dd_devclock_resolve(NULL, NULL, dir, &dc, msg, sizeof(msg)), DD_DEVCLOCK_OK);
    assert_false(dc.found);
    assert_non_null(strstr(msg, "no pipeline clock"));
    assert_int_equal(dd_devclock_resolve(NULL, NULL, NULL, &dc, NULL, 0), DD_DEVCLOCK_OK);
    assert_int_equal(dd_devclock_resolve(NULL, NULL, NULL, NULL, NULL, 0),
                     DD_DEVCLOCK_BAD_PARAMETER);
    assert_int_equal(rmdir(dir), 0);
}

/* Real time first, then the pipeline time when the clock is scaled. */
static void test_dd_devclock_stamp(void **state)
{
    dd_devclock_t dc;
    dd_clock_t c;
    char buf[96];

    (void)state;
    assert_int_equal(dd_devclock_stamp(NULL, 1796528400123LL, buf, sizeof(buf)), DD_DEVCLOCK_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z");
    assert_int_equal(dd_clock_parse(&c, "scaled:60:1796528400000:1796533800000"), DD_CLOCK_OK);
    assert_int_equal(dd_devclock_from_clock(&c, &dc), DD_DEVCLOCK_OK);
    assert_int_equal(dd_devclock_stamp(&dc, 1796528401500LL, buf, sizeof(buf)), DD_DEVCLOCK_OK);
    assert_string_equal(buf, "2026-12-06T03:40:01.500Z [pipeline 2026-12-06T05:11:30.000Z]");
    /* Real clock: one time is enough. */
    assert_int_equal(dd_clock_init_real(&c), DD_CLOCK_OK);
    assert_int_equal(dd_devclock_from_clock(&c, &dc), DD_DEVCLOCK_OK);
    assert_int_equal(dd_devclock_stamp(&dc, 1796528400123LL, buf, sizeof(buf)), DD_DEVCLOCK_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z");
    assert_int_equal(dd_devclock_stamp(&dc, 0, buf, 8), DD_DEVCLOCK_BAD_PARAMETER);
    assert_int_equal(dd_devclock_stamp(&dc, 0, NULL, 8), DD_DEVCLOCK_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_devclock_sensor_windows_hold_the_same_count),
        cmocka_unit_test(test_dd_devclock_other_intervals),
        cmocka_unit_test(test_dd_devclock_agent_reports_on_boundaries),
        cmocka_unit_test(test_dd_devclock_first_slot_and_stalls),
        cmocka_unit_test(test_dd_devclock_free_running),
        cmocka_unit_test(test_dd_devclock_resolve_order),
        cmocka_unit_test(test_dd_devclock_follows_a_scale_change),
        cmocka_unit_test(test_dd_devclock_stale_endpoints_ignored),
        cmocka_unit_test(test_dd_devclock_stamp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
