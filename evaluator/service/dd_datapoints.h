/**
 * @file dd_datapoints.h
 * @brief The datapoints of a live pipeline's stored history (`ddlocal
 *        datapoints`, GET /ddlocal/v1/datapoints; docs/reference/record.md):
 *        what `ddlocal replay --datapoints` writes (window, value, threshold
 *        or fleet percentile and devices, verdict, alarm state), for one
 *        stored profile, and per window the distribution of a behavior's
 *        values over the fleet (min, p50, p90, p99, max, devices).
 *
 * Nothing is stored per datapoint: the stored history up to the end of the
 * range is exported (dd_export) and replayed through the engine (dd_replay)
 * with the profile as it is now, the registry's things and groups and the
 * custom metrics and dimensions. Ownership: store, registry and streams are
 * borrowed. Not thread-safe per store.
 */
#ifndef DD_DATAPOINTS_H_
#define DD_DATAPOINTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_datapoints_status {
    DD_DATAPOINTS_OK = 0,
    DD_DATAPOINTS_BAD_PARAMETER,
    DD_DATAPOINTS_NO_MEMORY,
    DD_DATAPOINTS_NOT_FOUND,    /**< No such profile, or no such behavior in it (why says). */
    DD_DATAPOINTS_STORE_ERROR,  /**< Reading the store or the registry failed. */
    DD_DATAPOINTS_REPLAY_FAILED /**< The replay refused its input (why holds its message). */
} dd_datapoints_status_t;

/** What to compute. */
typedef struct dd_datapoints_query {
    const char *profile;  /**< Required: a stored security profile. */
    const char *behavior; /**< One of its behaviors, or NULL for all. */
    const char *thing;    /**< Datapoint rows of this thing only, or NULL (statistics: all). */
    int64_t from_ms;      /**< Window ends in [from_ms, to_ms) are reported... */
    int64_t to_ms;        /**< ...(INT64_MAX: no end); the history before from is replayed too. */
    bool csv;             /**< CSV with a header line; else one JSON object per line. */
    bool time_ms;         /**< Times in epoch ms (else seconds, as replay's default). */
} dd_datapoints_query_t;

/**
 * @brief Replays the stored history and writes the datapoint rows to
 *        @p rows and the per-window statistics to @p stats (either may be
 *        NULL). A statistics row: behaviorName, metric, windowStart,
 *        windowEnd, devices, min, p50, p90, p99, max, over every thing's
 *        datapoint of that behavior and window (a list's length for list
 *        metrics); percentiles as the engine computes statistical thresholds.
 * @param[out] why A message when the status is not OK.
 */
dd_datapoints_status_t dd_datapoints_run(dd_store_t *store, dd_registry_t *reg,
                                         const dd_datapoints_query_t *query, FILE *rows,
                                         FILE *stats, char *why, size_t why_len);

/** @return Static text for @p status. */
const char *dd_datapoints_strerror(dd_datapoints_status_t status);

#endif /* DD_DATAPOINTS_H_ */
