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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_window_half_open_edges),
        cmocka_unit_test(test_dd_window_growth_and_pruning),
        cmocka_unit_test(test_dd_window_tumbling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
