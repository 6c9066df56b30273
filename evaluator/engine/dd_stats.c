#include "dd_stats.h"

#include <math.h>
#include <stddef.h>

static void swap(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Hoare-style quickselect: afterwards values[k] is the k-th smallest and
 * everything after it is >= it. Median-of-three keeps sorted input fast. */
static void select_k(double *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0;
    ptrdiff_t hi = (ptrdiff_t)n - 1;
    ptrdiff_t kk = (ptrdiff_t)k;

    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        ptrdiff_t i = lo;
        ptrdiff_t j = hi;
        double pivot;

        if (v[mid] < v[lo]) {
            swap(&v[mid], &v[lo]);
        }
        if (v[hi] < v[lo]) {
            swap(&v[hi], &v[lo]);
        }
        if (v[hi] < v[mid]) {
            swap(&v[hi], &v[mid]);
        }
        pivot = v[mid];
        while (i <= j) {
            while (v[i] < pivot) {
                i++;
            }
            while (v[j] > pivot) {
                j--;
            }
            if (i <= j) {
                swap(&v[i], &v[j]);
                i++;
                j--;
            }
        }
        if (kk <= j) {
            hi = j;
        } else if (kk >= i) {
            lo = i;
        } else {
            return;
        }
    }
}

dd_stats_status_t dd_stats_percentile(double *values, size_t n, double percentile, double *out)
{
    size_t i;
    double h;
    size_t k;
    double lower;
    double upper;

    if (values == NULL || out == NULL || !(percentile >= 0.0 && percentile <= 100.0)) {
        return DD_STATS_BAD_PARAMETER;
    }
    if (n == 0) {
        return DD_STATS_EMPTY;
    }
    for (i = 0; i < n; i++) {
        if (!(values[i] >= 0.0)) {
            return DD_STATS_NEGATIVE;
        }
    }
    h = (double)(n - 1) * percentile / 100.0;
    k = (size_t)floor(h);
    if (k >= n - 1) {
        k = n - 1;
    }
    select_k(values, n, k);
    lower = values[k];
    if (k + 1 >= n || h == (double)k) {
        *out = lower;
        return DD_STATS_OK;
    }
    /* The next order statistic is the minimum of what lies after k. */
    upper = values[k + 1];
    for (i = k + 2; i < n; i++) {
        if (values[i] < upper) {
            upper = values[i];
        }
    }
    *out = lower + (h - (double)k) * (upper - lower);
    return DD_STATS_OK;
}

const char *dd_stats_strerror(dd_stats_status_t status)
{
    switch (status) {
    case DD_STATS_OK: return "ok";
    case DD_STATS_BAD_PARAMETER: return "bad parameter";
    case DD_STATS_EMPTY: return "no values";
    case DD_STATS_NEGATIVE: return "a value is negative";
    }
    return "unknown stats status";
}
