/**
 * @file dd_sweep.h
 * @brief Threshold sweep: one behavior of a security profile run over a
 *        recorded stream with a range of values, percentiles or
 *        datapoints-to-alarm, in ONE pass, scored against the things known
 *        to be bad: per variant, true and false positives (things and
 *        events), detection time and time in alarm — the curve to place a
 *        threshold on.
 *
 * Each variant becomes a profile of its own holding only the swept behavior
 * (named "<profile>#<n>"); all of them run in one engine over one read of
 * the stream (dd_replay with hooks), so 20 variants cost one parse of the
 * stream plus 20 evaluations per datapoint.
 *
 * Scoring (docs/reference/sweep.md): a thing is detected by a variant when
 * the behavior raised in-alarm for it at or after its anomaly start (the
 * labelled time, or its first datapoint when none is given). True positives
 * are detected bad things, false positives good things with any in-alarm,
 * false negatives bad things never detected. Detection time is the first
 * such in-alarm minus the anomaly start. Time in alarm sums, per thing, the
 * spans from in-alarm to alarm-cleared/invalidated or to the end of the
 * stream.
 *
 * Ownership: every input is borrowed for the call; the caller provides the
 * result rows (one per variant). Not thread-safe per call.
 */
#ifndef DD_SWEEP_H_
#define DD_SWEEP_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_replay.h"

/** Status codes of this module. */
typedef enum dd_sweep_status {
    DD_SWEEP_OK = 0,        /**< Every line was used. */
    DD_SWEEP_BAD_PARAMETER, /**< NULL or empty required input. */
    DD_SWEEP_NO_MEMORY,
    DD_SWEEP_BAD_PROFILE,   /**< The profile does not parse, or has no such behavior (printed). */
    DD_SWEEP_BAD_VARIANT,   /**< A variant does not fit the behavior (message printed). */
    DD_SWEEP_REPLAY_FAILED, /**< The replay failed (its status in the result). */
    DD_SWEEP_SKIPPED_LINES  /**< Done, but some lines were skipped (see the error stream). */
} dd_sweep_status_t;

/** What the variants change. */
typedef enum dd_sweep_kind {
    DD_SWEEP_VALUE = 0,  /**< criteria.value: "200" ({"count":200} or {"number":200}). */
    DD_SWEEP_PERCENTILE, /**< statisticalThreshold.statistic: "p90", "p99.9", ... */
    DD_SWEEP_TO_ALARM    /**< consecutiveDatapointsToAlarm: "3". */
} dd_sweep_kind_t;

/** A known-bad thing. */
typedef struct dd_sweep_label {
    const char *thing;
    int64_t since_ms; /**< Anomaly start (epoch ms); 0 = from its first datapoint. */
} dd_sweep_label_t;

/** Sweep options. */
typedef struct dd_sweep_options {
    const dd_replay_text_t *profile; /**< The security profile (AWS JSON). */
    const char *behavior;            /**< Name of the behavior to sweep. */
    dd_sweep_kind_t kind;
    const char *const *variants; /**< Texts, one per variant (see dd_sweep_kind_t). */
    size_t variant_count;        /**< 1..DD_SWEEP_MAX_VARIANTS. */
    const dd_sweep_label_t *bad; /**< Known-bad things (may be empty: everything is good). */
    size_t bad_count;
    /** Passed through to the replay (things file, custom metrics, dimensions). */
    const dd_replay_text_t *things;
    const char *const *custom_metrics;
    size_t custom_metric_count;
    const char *const *dimensions;
    size_t dimension_count;
} dd_sweep_options_t;

/** Most variants in one sweep. */
#define DD_SWEEP_MAX_VARIANTS 256

/** Scores of one variant. */
typedef struct dd_sweep_row {
    char variant[64];         /**< The variant's text as given. */
    size_t things_with_data;  /**< Things with at least one datapoint of the behavior. */
    size_t true_positives;    /**< Bad things detected. */
    size_t false_positives;   /**< Good things with an in-alarm. */
    size_t false_negatives;   /**< Bad things with data, never detected. */
    size_t tp_events;         /**< in-alarm events on bad things. */
    size_t fp_events;         /**< in-alarm events on good things. */
    int64_t detect_median_ms; /**< Median detection time of detected bad things (-1: none). */
    int64_t detect_max_ms;    /**< Longest detection time (-1: none). */
    int64_t alarmed_bad_ms;   /**< Time in alarm, summed over bad things. */
    int64_t alarmed_good_ms;  /**< Time in alarm, summed over good things. */
} dd_sweep_row_t;

/** Figures of the run. */
typedef struct dd_sweep_result {
    dd_replay_result_t replay; /**< Lines read, used, skipped; events. */
    dd_replay_status_t replay_status;
    size_t bad_without_data; /**< Labelled bad things never seen in the stream. */
} dd_sweep_result_t;

/**
 * @brief Runs the sweep.
 * @param[in] opt Options.
 * @param[in] in Recorded stream (dd_replay's input format).
 * @param[in] err Where problems go.
 * @param[out] rows One per variant, in the order given.
 * @param[out] result Optional figures.
 * @return DD_SWEEP_OK, DD_SWEEP_SKIPPED_LINES or an error status.
 */
dd_sweep_status_t dd_sweep_run(const dd_sweep_options_t *opt, FILE *in, FILE *err,
                               dd_sweep_row_t *rows, dd_sweep_result_t *result);

/** @return Static text for @p status. */
const char *dd_sweep_strerror(dd_sweep_status_t status);

#endif /* DD_SWEEP_H_ */
