/**
 * @file dd_stats.h
 * @brief Percentiles of a fleet's accumulated values (statistical
 *        thresholds, defender-spec.md §4.4).
 *
 * Definition (documented in docs/reference/evaluation-semantics.md): the
 * values are ordered x[0] <= ... <= x[n-1]; pP is linear interpolation
 * between closest ranks at h = (n - 1) * P / 100:
 * x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]). p0 is the
 * minimum, p100 the maximum, ties need no special rule, a fleet of one gives
 * its only value and a fleet of two the interpolation between both.
 * Any negative value makes the percentile unavailable (AWS: "not available
 * when any value of the metric is negative").
 *
 * dd_stats_percentile() reorders the caller's array in place (selection,
 * O(n) on average) and allocates nothing. Thread-safe on distinct arrays.
 */
#ifndef DD_STATS_H_
#define DD_STATS_H_

#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_stats_status {
    DD_STATS_OK = 0,
    DD_STATS_BAD_PARAMETER, /**< NULL pointer or percentile outside 0..100. */
    DD_STATS_EMPTY,         /**< No values. */
    DD_STATS_NEGATIVE       /**< A value is negative (or not a number). */
} dd_stats_status_t;

/**
 * @brief The @p percentile of @p values (reordered in place).
 * @param[in,out] values Values; their order changes.
 * @param[in] n Number of values.
 * @param[in] percentile 0..100 (e.g. 99.9).
 * @param[out] out The percentile value.
 * @return DD_STATS_OK, DD_STATS_BAD_PARAMETER, DD_STATS_EMPTY or DD_STATS_NEGATIVE.
 */
dd_stats_status_t dd_stats_percentile(double *values, size_t n, double percentile, double *out);

/** @return Static text for @p status. */
const char *dd_stats_strerror(dd_stats_status_t status);

#endif /* DD_STATS_H_ */
