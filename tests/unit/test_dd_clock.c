#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>

#include "dd_clock.h"

static int64_t fake_wall_ms;

static int64_t fake_source(void *ctx)
{
    (void)ctx;
    return fake_wall_ms;
}

static void test_dd_clock_manual_moves_only_when_told(void **state)
{
    dd_clock_t c;
    int64_t now = 0;

    (void)state;
    assert_int_equal(dd_clock_init_manual(&c, 1000), DD_CLOCK_OK);
    assert_int_equal(dd_clock_now_ms(&c), 1000);
    assert_int_equal(dd_clock_advance(&c, 300000, &now), DD_CLOCK_OK);
    assert_int_equal(now, 301000);
    assert_int_equal(dd_clock_now_ms(&c), 301000);
    assert_int_equal(dd_clock_set(&c, 301000), DD_CLOCK_OK);
    assert_int_equal(dd_clock_set(&c, 300999), DD_CLOCK_BACKWARDS);
    assert_int_equal(dd_clock_advance(&c, -1, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_now_ms(&c), 301000);
}

static void test_dd_clock_scaled_runs_faster_and_never_backwards(void **state)
{
    dd_clock_t c;

    (void)state;
    fake_wall_ms = 1000000;
    assert_int_equal(dd_clock_init_scaled(&c, 60.0, 5000000), DD_CLOCK_OK);
    dd_clock_set_source(&c, fake_source, NULL);
    assert_int_equal(dd_clock_now_ms(&c), 5000000);
    fake_wall_ms += 5000; /* 5 s of wall time = 5 min of pipeline time */
    assert_int_equal(dd_clock_now_ms(&c), 5000000 + 300000);
    fake_wall_ms -= 10000; /* wall clock stepped back */
    assert_int_equal(dd_clock_now_ms(&c), 5000000);
    assert_int_equal(dd_clock_advance(&c, 1, NULL), DD_CLOCK_WRONG_MODE);
}

static void test_dd_clock_real_follows_source(void **state)
{
    dd_clock_t c;

    (void)state;
    assert_int_equal(dd_clock_init_real(&c), DD_CLOCK_OK);
    dd_clock_set_source(&c, fake_source, NULL);
    fake_wall_ms = 42;
    assert_int_equal(dd_clock_now_ms(&c), 42);
    dd_clock_set_source(&c, NULL, NULL);
    assert_true(dd_clock_now_ms(&c) > 1600000000000LL);
}

static void test_dd_clock_format_parse_round_trip(void **state)
{
    dd_clock_t a;
    dd_clock_t b;
    char spec[DD_CLOCK_SPEC_MAX];

    (void)state;
    assert_int_equal(dd_clock_init_manual(&a, 1700000000000LL), DD_CLOCK_OK);
    assert_int_equal(dd_clock_format(&a, spec, sizeof(spec)), DD_CLOCK_OK);
    assert_string_equal(spec, "manual:1700000000000");
    assert_int_equal(dd_clock_parse(&b, spec), DD_CLOCK_OK);
    assert_int_equal(dd_clock_now_ms(&b), 1700000000000LL);

    fake_wall_ms = 2000;
    assert_int_equal(dd_clock_init_scaled(&a, 60.0, 9000), DD_CLOCK_OK);
    dd_clock_set_source(&a, fake_source, NULL);
    assert_int_equal(dd_clock_format(&a, spec, sizeof(spec)), DD_CLOCK_OK);
    assert_string_equal(spec, "scaled:60:2000:9000");
    assert_int_equal(dd_clock_parse(&b, spec), DD_CLOCK_OK);
    dd_clock_set_source(&b, fake_source, NULL);
    b.origin_real_ms = 2000; /* set_source re-anchors; restore the parsed origin */
    fake_wall_ms = 3000;
    assert_int_equal(dd_clock_now_ms(&b), 9000 + 60000);

    assert_int_equal(dd_clock_parse(&b, "real"), DD_CLOCK_OK);
    assert_int_equal(b.mode, DD_CLOCK_REAL);
    assert_int_equal(dd_clock_parse(&b, "manual:"), DD_CLOCK_PARSE_ERROR);
    assert_int_equal(dd_clock_parse(&b, "manual:-5"), DD_CLOCK_PARSE_ERROR);
    assert_int_equal(dd_clock_parse(&b, "scaled:0:1:1"), DD_CLOCK_PARSE_ERROR);
    assert_int_equal(dd_clock_parse(&b, "scaled:abc:1:1"), DD_CLOCK_PARSE_ERROR);
    assert_int_equal(dd_clock_parse(&b, "sundial"), DD_CLOCK_PARSE_ERROR);
    assert_int_equal(dd_clock_format(&a, spec, 4), DD_CLOCK_BUFFER_TOO_SMALL);
    assert_true(strlen(dd_clock_strerror(DD_CLOCK_PARSE_ERROR)) > 0);
}

static void test_dd_clock_rescale_reanchors_without_a_jump(void **state)
{
    dd_clock_t c;
    int64_t at = 0;
    char spec[DD_CLOCK_SPEC_MAX];

    (void)state;
    fake_wall_ms = 1000000;
    assert_int_equal(dd_clock_init_scaled(&c, 60.0, 5000000), DD_CLOCK_OK);
    dd_clock_set_source(&c, fake_source, NULL);
    fake_wall_ms += 1000; /* one minute of pipeline time at x60 */
    assert_int_equal(dd_clock_rescale(&c, 600.0, &at), DD_CLOCK_OK);
    assert_int_equal(at, 5060000);
    assert_int_equal(dd_clock_now_ms(&c), 5060000); /* no jump at the change */
    assert_true(dd_clock_scale(&c) == 600.0);
    fake_wall_ms += 1000; /* now ten minutes per second */
    assert_int_equal(dd_clock_now_ms(&c), 5060000 + 600000);
    assert_int_equal(dd_clock_format(&c, spec, sizeof(spec)), DD_CLOCK_OK);
    assert_string_equal(spec, "scaled:600:1001000:5060000");

    /* Scale 1 keeps a scaled clock scaled: it runs at the real rate without jumping to wall. */
    assert_int_equal(dd_clock_rescale(&c, 1.0, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_clock_mode(&c), DD_CLOCK_SCALED);
    fake_wall_ms += 1000;
    assert_int_equal(dd_clock_now_ms(&c), 5660000 + 1000);

    assert_int_equal(dd_clock_rescale(&c, 0.0, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_rescale(&c, -2.0, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_rescale(&c, DD_CLOCK_SCALE_MAX * 2, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_rescale(&c, NAN, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_rescale(NULL, 2.0, NULL), DD_CLOCK_BAD_PARAMETER);
    assert_int_equal(dd_clock_now_ms(&c), 5661000); /* refused changes change nothing */
}

static void test_dd_clock_rescale_of_real_and_manual(void **state)
{
    dd_clock_t c;

    (void)state;
    assert_int_equal(dd_clock_init_real(&c), DD_CLOCK_OK);
    dd_clock_set_source(&c, fake_source, NULL);
    fake_wall_ms = 7000;
    assert_int_equal(dd_clock_rescale(&c, 1.0, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_clock_mode(&c), DD_CLOCK_REAL); /* x1 of a real clock: unchanged */
    assert_true(dd_clock_scale(&c) == 1.0);
    assert_int_equal(dd_clock_rescale(&c, 10.0, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_clock_mode(&c), DD_CLOCK_SCALED);
    assert_int_equal(dd_clock_now_ms(&c), 7000);
    fake_wall_ms = 8000;
    assert_int_equal(dd_clock_now_ms(&c), 17000);

    /* Manual time is for determinism: it has no rate to change. */
    assert_int_equal(dd_clock_init_manual(&c, 5000), DD_CLOCK_OK);
    assert_int_equal(dd_clock_rescale(&c, 10.0, NULL), DD_CLOCK_WRONG_MODE);
    assert_true(dd_clock_scale(&c) == 0.0);
    assert_int_equal(dd_clock_now_ms(&c), 5000);
}

static void test_dd_clock_adopt_takes_the_anchor_and_never_goes_back(void **state)
{
    dd_clock_t shim;
    dd_clock_t spec_clock;
    dd_clock_t manual;

    (void)state;
    fake_wall_ms = 1000000;
    assert_int_equal(dd_clock_init_scaled(&shim, 600.0, 5000000), DD_CLOCK_OK);
    dd_clock_set_source(&shim, fake_source, NULL);
    /* ddlocald slowed to x60 at wall 1000010; the spec arrives 10 ms later. */
    assert_int_equal(dd_clock_parse(&spec_clock, "scaled:60:1000010:5006000"), DD_CLOCK_OK);
    fake_wall_ms = 1000020;
    assert_int_equal(dd_clock_now_ms(&shim), 5012000);
    assert_int_equal(dd_clock_adopt(&shim, &spec_clock), DD_CLOCK_OK);
    assert_true(dd_clock_scale(&shim) == 60.0);
    /* The new anchor says 5006600: time holds at what readers saw until it catches up ... */
    assert_int_equal(dd_clock_now_ms(&shim), 5012000);
    fake_wall_ms = 1000100;
    assert_int_equal(dd_clock_now_ms(&shim), 5012000);
    /* ... and then both processes compute the same time. */
    fake_wall_ms = 1001010;
    assert_int_equal(dd_clock_now_ms(&shim), 5006000 + 60000);

    assert_int_equal(dd_clock_init_manual(&manual, 1), DD_CLOCK_OK);
    assert_int_equal(dd_clock_adopt(&shim, &manual), DD_CLOCK_WRONG_MODE);
    assert_int_equal(dd_clock_adopt(&manual, &shim), DD_CLOCK_WRONG_MODE);
    assert_int_equal(dd_clock_adopt(NULL, &shim), DD_CLOCK_BAD_PARAMETER);
}

/* A wall source every thread shares and each call moves on: a reader that reads it after a
 * writer did sees a larger value, which is what makes the ordering argument checkable. */
static int64_t ticking_wall_ms;

static int64_t ticking_source(void *ctx)
{
    (void)ctx;
    return __atomic_add_fetch(&ticking_wall_ms, 1, __ATOMIC_ACQ_REL);
}

typedef struct race {
    dd_clock_t clock;
    bool done;   /* atomic: the writer finished */
    long reads;  /* reader's count */
    long behind; /* reads earlier than the one before */
    long torn;   /* scales that no writer ever set */
} race_t;

static const double race_scales[] = {0.5, 1000.0, 1.0, 60.0, 3.25, 250000.0};

static void *race_reader(void *arg)
{
    race_t *r = arg;
    int64_t prev = 0;

    while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
        int64_t now = dd_clock_now_ms(&r->clock);
        double scale = dd_clock_scale(&r->clock);
        size_t i;

        if (now < prev) {
            r->behind++;
        }
        prev = now;
        for (i = 0; i < sizeof(race_scales) / sizeof(race_scales[0]) && race_scales[i] != scale;
             i++) {
        }
        if (i == sizeof(race_scales) / sizeof(race_scales[0])) {
            r->torn++;
        }
        __atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_dd_clock_readers_never_see_time_go_back_across_changes(void **state)
{
    race_t r;
    pthread_t reader;
    int64_t prev = 0;
    int64_t deadline;
    long i;

    (void)state;
    memset(&r, 0, sizeof(r));
    ticking_wall_ms = 1000000;
    assert_int_equal(dd_clock_init_scaled(&r.clock, race_scales[0], 5000000), DD_CLOCK_OK);
    dd_clock_set_source(&r.clock, ticking_source, NULL);
    assert_int_equal(pthread_create(&reader, NULL, race_reader, &r), 0);
    /* Changes overlap reads only once the reader runs; on a busy machine that may take a while.
     * Both sides do plenty of work either way: at least 100000 changes and 100000 reads. */
    deadline = dd_clock_mono_ms() + 60000;
    for (i = 0; (i < 100000 || __atomic_load_n(&r.reads, __ATOMIC_RELAXED) < 100000) &&
                dd_clock_mono_ms() < deadline;
         i++) {
        int64_t at = 0;
        assert_int_equal(dd_clock_rescale(&r.clock, race_scales[i % 6], &at), DD_CLOCK_OK);
        assert_true(at >= prev);
        prev = at;
    }
    __atomic_store_n(&r.done, true, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(reader, NULL), 0);
    assert_true(r.reads >= 100000);
    assert_int_equal(r.behind, 0);
    assert_int_equal(r.torn, 0);
}

/* The monotonic clock is the one source of elapsed time for deadlines and backoff. */
static void test_dd_clock_mono_never_goes_backwards(void **state)
{
    int64_t prev = dd_clock_mono_ms();
    int64_t deadline = prev + 2000;
    int i;

    (void)state;
    assert_true(prev >= 0);
    for (i = 0; i < 100000; i++) {
        int64_t now = dd_clock_mono_ms();

        assert_true(now >= prev);
        assert_true(now < deadline); /* milliseconds, not micro- or nanoseconds */
        prev = now;
    }
}

/* Only lower bounds on elapsed time: a busy machine may sleep longer, never shorter. */
static void test_dd_clock_sleep_ms_sleeps_at_least_that_long(void **state)
{
    int64_t start = dd_clock_mono_ms();

    (void)state;
    dd_clock_sleep_ms(30);
    assert_true(dd_clock_mono_ms() - start >= 30);
    dd_clock_sleep_ms(0); /* returns at once, as does a negative pause */
    dd_clock_sleep_ms(-5);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A signal handled mid-pause (no SA_RESTART) must not end the pause early. */
static void test_dd_clock_sleep_ms_resumes_after_a_signal(void **state)
{
    struct sigaction sa;
    struct sigaction old;
    struct itimerval timer;
    int64_t start;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    memset(&timer, 0, sizeof(timer));
    timer.it_value.tv_usec = 20000;
    alarms = 0;
    start = dd_clock_mono_ms();
    assert_int_equal(setitimer(ITIMER_REAL, &timer, NULL), 0);
    dd_clock_sleep_ms(200);
    assert_true(dd_clock_mono_ms() - start >= 200);
    assert_int_equal(alarms, 1);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_clock_manual_moves_only_when_told),
        cmocka_unit_test(test_dd_clock_scaled_runs_faster_and_never_backwards),
        cmocka_unit_test(test_dd_clock_real_follows_source),
        cmocka_unit_test(test_dd_clock_format_parse_round_trip),
        cmocka_unit_test(test_dd_clock_rescale_reanchors_without_a_jump),
        cmocka_unit_test(test_dd_clock_rescale_of_real_and_manual),
        cmocka_unit_test(test_dd_clock_adopt_takes_the_anchor_and_never_goes_back),
        cmocka_unit_test(test_dd_clock_readers_never_see_time_go_back_across_changes),
        cmocka_unit_test(test_dd_clock_mono_never_goes_backwards),
        cmocka_unit_test(test_dd_clock_sleep_ms_sleeps_at_least_that_long),
        cmocka_unit_test(test_dd_clock_sleep_ms_resumes_after_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
