#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dd_window.h"

static void test_dd_window_half_open_edges(void **state)
{
    dd_window_t w = {0};
    uint64_t v[DD_WINDOW_CHANNELS] = {0, 150, 0, 0};
    uint64_t sum = 0;
    uint32_t n = 0;

    (void)state;
    assert_int_equal(dd_window_push(&w, 300000, 2, v, 3600000), DD_WINDOW_OK);
    v[1] = 3000;
    assert_int_equal(dd_window_push(&w, 600000, 2, v, 3600000), DD_WINDOW_OK);
    /* (300000, 600000]: the report exactly d earlier is outside. */
    assert_int_equal(dd_window_sum(&w, 600000, 300000, 1, &sum, &n), DD_WINDOW_OK);
    assert_int_equal(sum, 3000);
    assert_int_equal(n, 1);
    /* (299999, 599999]: only the first. */
    assert_int_equal(dd_window_sum(&w, 599999, 300000, 1, &sum, &n), DD_WINDOW_OK);
    assert_int_equal(sum, 150);
    /* 600 s window sees both. */
    assert_int_equal(dd_window_sum(&w, 600000, 600000, 1, &sum, &n), DD_WINDOW_OK);
    assert_int_equal(sum, 3150);
    /* A channel the reports did not carry. */
    assert_int_equal(dd_window_sum(&w, 600000, 600000, 0, &sum, &n), DD_WINDOW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(dd_window_push(&w, 599999, 2, v, 3600000), DD_WINDOW_BACKWARDS);
    assert_int_equal(dd_window_sum(&w, 1, 0, 1, &sum, &n), DD_WINDOW_BAD_PARAMETER);
    dd_window_free(&w);
}

static void test_dd_window_growth_and_pruning(void **state)
{
    dd_window_t w = {0};
    uint64_t v[DD_WINDOW_CHANNELS] = {1, 1, 1, 1};
    uint64_t sum = 0;
    int64_t t;

    (void)state;
    /* One report every 10 s for two hours: the ring keeps only the last hour. */
    for (t = 10000; t <= 7200000; t += 10000) {
        assert_int_equal(dd_window_push(&w, t, 0xF, v, 3600000), DD_WINDOW_OK);
    }
    assert_true(w.count <= 360);
    assert_int_equal(dd_window_sum(&w, 7200000, 3600000, 3, &sum, NULL), DD_WINDOW_OK);
    assert_int_equal(sum, 360);
    assert_int_equal(dd_window_sum(&w, 7200000, 300000, 2, &sum, NULL), DD_WINDOW_OK);
    assert_int_equal(sum, 30);
    dd_window_free(&w);
    assert_null(w.ring);
}

static void test_dd_window_tumbling(void **state)
{
    (void)state;
    assert_int_equal(dd_window_tumbling_end(1, 300000), 300000);
    assert_int_equal(dd_window_tumbling_end(300000, 300000), 300000);
    assert_int_equal(dd_window_tumbling_end(300001, 300000), 600000);
    assert_int_equal(dd_window_tumbling_end(900001, 900000), 1800000);
    assert_int_equal(dd_window_tumbling_end(1799999, 600000), 1800000);
}

/* A cursor answers growing durations exactly as dd_window_sum does: samples after its end
 * time, samples without the channel, exact edges; a shorter duration is refused. */
static void test_dd_window_cursor_matches_sum(void **state)
{
    dd_window_t w = {0};
    uint64_t v[DD_WINDOW_CHANNELS];
    int64_t t;
    int64_t now;
    unsigned ch;

    (void)state;
    for (t = 10000; t <= 7200000; t += 70000) {
        v[0] = (uint64_t)t / 1000;
        v[1] = 7;
        v[2] = (uint64_t)t % 13;
        v[3] = 1;
        assert_int_equal(dd_window_push(&w, t, (t / 70000) % 3 == 0 ? 0xD : 0xF, v, 3600000),
                         DD_WINDOW_OK);
    }
    for (now = 7000000; now <= 7300000; now += 35000) {
        for (ch = 0; ch < DD_WINDOW_CHANNELS; ch++) {
            dd_window_cursor_t c;
            int64_t d;
            uint64_t got = 0;
            uint64_t want = 0;
            assert_int_equal(dd_window_cursor_start(&w, now, ch, &c), DD_WINDOW_OK);
            for (d = 70000; d <= 3600000; d += d / 2) {
                assert_int_equal(dd_window_cursor_sum(&w, &c, d, &got), DD_WINDOW_OK);
                assert_int_equal(dd_window_sum(&w, now, d, ch, &want, NULL), DD_WINDOW_OK);
                assert_int_equal(got, want);
                /* The same duration again: the same sum. */
                assert_int_equal(dd_window_cursor_sum(&w, &c, d, &got), DD_WINDOW_OK);
                assert_int_equal(got, want);
            }
            assert_int_equal(dd_window_cursor_sum(&w, &c, 70000, &got), DD_WINDOW_BAD_PARAMETER);
        }
    }
    {
        dd_window_cursor_t c;
        uint64_t got;
        assert_int_equal(dd_window_cursor_start(&w, 1, DD_WINDOW_CHANNELS, &c),
                         DD_WINDOW_BAD_PARAMETER);
        assert_int_equal(dd_window_cursor_start(NULL, 1, 0, &c), DD_WINDOW_BAD_PARAMETER);
        assert_int_equal(dd_window_cursor_start(&w, 1, 0, NULL), DD_WINDOW_BAD_PARAMETER);
        assert_int_equal(dd_window_cursor_start(&w, 1, 0, &c), DD_WINDOW_OK);
        assert_int_equal(dd_window_cursor_sum(&w, &c, 0, &got), DD_WINDOW_BAD_PARAMETER);
        assert_int_equal(dd_window_cursor_sum(&w, &c, 1, NULL), DD_WINDOW_BAD_PARAMETER);
        assert_int_equal(dd_window_cursor_sum(&w, &c, 1, &got), DD_WINDOW_OK);
        assert_int_equal(got, 0);
    }
    dd_window_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_window_half_open_edges),
        cmocka_unit_test(test_dd_window_growth_and_pruning),
        cmocka_unit_test(test_dd_window_tumbling),
        cmocka_unit_test(test_dd_window_cursor_matches_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
