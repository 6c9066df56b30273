/**
 * @file dd_plot.h
 * @brief Pictures for rule authors (`ddlocal plot`): per thing and behavior,
 *        the datapoints of a replay with the threshold they were compared
 *        with (the static value, or each window's fleet percentile), the
 *        spans in alarm and the violation events; and the curve of a sweep
 *        (false positives and detection time against the threshold).
 *
 * The data is collected here (dd_replay's hooks, a sweep's CSV); the
 * drawing is gnuplot's (its svg terminal): this module writes a gnuplot
 * script with the data inline and runs `gnuplot` on it, so the result is a
 * static SVG any browser opens.
 *
 * Ownership: options and streams are borrowed; a dd_plot_data_t owns its
 * series until dd_plot_data_free(). Not thread-safe per data set.
 */
#ifndef DD_PLOT_H_
#define DD_PLOT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_replay.h"

/** Status codes of this module. */
typedef enum dd_plot_status {
    DD_PLOT_OK = 0,
    DD_PLOT_BAD_PARAMETER,
    DD_PLOT_NO_MEMORY,
    DD_PLOT_REPLAY_FAILED, /**< The replay refused its input (messages printed). */
    DD_PLOT_BAD_SWEEP,     /**< The sweep CSV is not `ddlocal sweep --format csv` output. */
    DD_PLOT_NO_GNUPLOT,    /**< gnuplot is not installed. */
    DD_PLOT_GNUPLOT_FAILED /**< gnuplot ran and failed (its messages on stderr). */
} dd_plot_status_t;

/** One datapoint of a series. */
typedef struct dd_plot_point {
    int64_t time_ms;
    double value; /**< A count or number; a list's length. */
    double threshold;
    bool has_threshold;
    bool violating;
} dd_plot_point_t;

/** One violation event of a series. */
typedef struct dd_plot_event {
    int64_t time_ms;
    int type; /**< dd_alarm_transition_t: RAISED, CLEARED, INVALIDATED. */
} dd_plot_event_t;

/** Everything drawn for one (thing, profile, behavior). */
typedef struct dd_plot_series {
    char *thing;
    char *profile;
    char *behavior;
    char *metric;
    char *statistic; /**< "p90" for a statistical threshold, else NULL. */
    dd_plot_point_t *points;
    size_t npoints;
    size_t points_cap;
    dd_plot_event_t *events;
    size_t nevents;
    size_t events_cap;
} dd_plot_series_t;

/** The series a replay produced, in order of first appearance. */
typedef struct dd_plot_data {
    dd_plot_series_t *series;
    size_t count;
    size_t cap;
    int64_t end_ms; /**< Latest time seen (alarm spans still open end here). */
} dd_plot_data_t;

/**
 * @brief Runs a replay and collects every datapoint and event per series.
 * @param[in] opt Replay options (hooks and output options are set here).
 * @param[in] in The stream.
 * @param[in] err Where replay problems go.
 * @param[out] data Zeroed first; free with dd_plot_data_free().
 * @return DD_PLOT_OK, DD_PLOT_REPLAY_FAILED or DD_PLOT_NO_MEMORY.
 */
dd_plot_status_t dd_plot_collect(const dd_replay_options_t *opt, FILE *in, FILE *err,
                                 dd_plot_data_t *data);

/** @brief Frees what dd_plot_collect() gathered. */
void dd_plot_data_free(dd_plot_data_t *data);

/**
 * @brief Writes the gnuplot script drawing one series into @p svg_path.
 * @param[in] s The series.
 * @param[in] end_ms Where an alarm span still open at the end stops.
 * @param[in] svg_path The SVG the script writes.
 * @param[out] out Where the script goes.
 */
dd_plot_status_t dd_plot_series_script(const dd_plot_series_t *s, int64_t end_ms,
                                       const char *svg_path, FILE *out);

/**
 * @brief Writes the gnuplot script of a sweep chart from `ddlocal sweep
 *        --format csv` text: false and true positives and the median
 *        detection time against the variants.
 * @return DD_PLOT_OK, DD_PLOT_BAD_SWEEP (message in @p msg) or DD_PLOT_NO_MEMORY.
 */
dd_plot_status_t dd_plot_sweep_script(const char *csv, const char *svg_path, FILE *out, char *msg,
                                      size_t msg_len);

/**
 * @brief Runs gnuplot on a script.
 * @return DD_PLOT_OK, DD_PLOT_NO_GNUPLOT or DD_PLOT_GNUPLOT_FAILED.
 */
dd_plot_status_t dd_plot_run_gnuplot(const char *script_path);

/** @return Static text for @p status. */
const char *dd_plot_strerror(dd_plot_status_t status);

#endif /* DD_PLOT_H_ */
