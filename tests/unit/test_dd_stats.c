#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "dd_stats.h"

static double pct(const double *in, size_t n, double p)
{
    double v[16];
    double out = -1.0;
    size_t i;

    for (i = 0; i < n; i++) {
        v[i] = in[i];
    }
    assert_int_equal(dd_stats_percentile(v, n, p, &out), DD_STATS_OK);
    return out;
}

static void test_dd_stats_hand_computed(void **state)
{
    /* Sorted: 10 20 30 40 50. h = 4 * p / 100. */
    const double v[5] = {40, 10, 50, 30, 20};
    const double one[1] = {7};
    const double two[2] = {3000, 100};
    const double ties[6] = {5, 5, 5, 5, 9, 1};

    (void)state;
    assert_true(pct(v, 5, 0) == 10.0);
    assert_true(pct(v, 5, 50) == 30.0);
    assert_true(pct(v, 5, 100) == 50.0);
    assert_true(fabs(pct(v, 5, 90) - 46.0) < 1e-9);    /* h = 3.6: 40 + 0.6 * 10 */
    assert_true(fabs(pct(v, 5, 10) - 14.0) < 1e-9);    /* h = 0.4 */
    assert_true(fabs(pct(v, 5, 99.9) - 49.96) < 1e-9); /* h = 3.996 */
    assert_true(fabs(pct(v, 5, 0.1) - 10.04) < 1e-9);
    assert_true(pct(one, 1, 50) == 7.0);
    assert_true(pct(one, 1, 99) == 7.0);
    assert_true(pct(two, 2, 50) == 1550.0); /* midpoint */
    assert_true(pct(two, 2, 0) == 100.0);
    assert_true(pct(ties, 6, 50) == 5.0);             /* sorted 1 5 5 5 5 9, h = 2.5 */
    assert_true(fabs(pct(ties, 6, 90) - 7.0) < 1e-9); /* h = 4.5: 5 + 0.5 * 4 */
}

static void test_dd_stats_errors(void **state)
{
    double v[2] = {1, -1};
    double out;

    (void)state;
    assert_int_equal(dd_stats_percentile(v, 0, 50, &out), DD_STATS_EMPTY);
    assert_int_equal(dd_stats_percentile(v, 2, 50, &out), DD_STATS_NEGATIVE);
    assert_int_equal(dd_stats_percentile(v, 2, 101, &out), DD_STATS_BAD_PARAMETER);
    assert_int_equal(dd_stats_percentile(NULL, 2, 50, &out), DD_STATS_BAD_PARAMETER);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_dd_stats_matches_sorting(void **state)
{
    enum { N = 1001 };
    double *v = malloc(N * sizeof(double));
    double *s = malloc(N * sizeof(double));
    static const double P[] = {0, 0.01, 0.1, 1, 10, 50, 90, 99, 99.9, 99.99, 100};
    size_t i;
    size_t j;
    unsigned seed = 12345;

    (void)state;
    for (j = 0; j < sizeof(P) / sizeof(P[0]); j++) {
        double h;
        double want;
        double got;
        size_t k;
        for (i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            v[i] = (double)((seed >> 8) % 500); /* many ties */
            s[i] = v[i];
        }
        qsort(s, N, sizeof(double), cmp);
        h = (N - 1) * P[j] / 100.0;
        k = (size_t)floor(h);
        want = k + 1 < N ? s[k] + (h - (double)k) * (s[k + 1] - s[k]) : s[k];
        assert_int_equal(dd_stats_percentile(v, N, P[j], &got), DD_STATS_OK);
        assert_true(fabs(got - want) < 1e-9);
    }
    free(v);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_stats_hand_computed),
        cmocka_unit_test(test_dd_stats_errors),
        cmocka_unit_test(test_dd_stats_matches_sorting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
