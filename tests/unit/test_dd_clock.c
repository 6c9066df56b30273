#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
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
        cmocka_unit_test(test_dd_clock_mono_never_goes_backwards),
        cmocka_unit_test(test_dd_clock_sleep_ms_sleeps_at_least_that_long),
        cmocka_unit_test(test_dd_clock_sleep_ms_resumes_after_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
