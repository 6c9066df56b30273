/**
 * @file dd_emit.h
 * @brief A fleet scenario written straight to a replay stream, without a
 *        broker or a pipeline (`ddlocal fleet --emit`): what `ddlocal
 *        replay` and `ddlocal sweep` read, in time order.
 *
 * The stream holds, per device, what the live fleet would make the broker
 * and ddlocald see: a successful connect at the start, its Device Defender
 * reports (the live fleet's schedule and values: dd_scenario_report() with
 * the same per-device random state), its telemetry as message-sent events
 * and the cloud-side events of schedule entries with "cloud" rates
 * (authorization failures, failed connects, disconnects with their
 * reconnects). To keep a week of a large fleet small, events of one device
 * within one minute of the same kind and size are one line with "repeat":
 * minutes never straddle a Detect window (durations are multiples of
 * 300 s), so every windowed count is the same as one line per message.
 *
 * Lines are written in non-decreasing time, one report interval at a time.
 * Deterministic: the same scenario and start time give the same bytes, with
 * any number of threads (each device's random numbers are drawn in the same
 * order whichever thread writes its lines).
 *
 * Ownership: the scenario and the stream are borrowed; dd_emit_run()
 * allocates only for its own duration (memory bounded: two blocks of about
 * 20,000 device-report-intervals per thread) and joins its threads before it
 * returns. Not thread-safe per call.
 */
#ifndef DD_EMIT_H_
#define DD_EMIT_H_

#include <stdint.h>
#include <stdio.h>

#include "dd_scenario.h"

/** Most threads dd_emit_run() takes. */
#define DD_EMIT_MAX_THREADS 64
/** Threads when asked for 0: one per CPU, at most this many. */
#define DD_EMIT_DEFAULT_THREADS 4

/** Status codes of this module. */
typedef enum dd_emit_status {
    DD_EMIT_OK = 0,
    DD_EMIT_BAD_PARAMETER,
    DD_EMIT_NO_MEMORY,
    DD_EMIT_ENCODE_FAILED, /**< A report could not be built or encoded. */
    DD_EMIT_WRITE_FAILED   /**< The stream refused a write (disk full...). */
} dd_emit_status_t;

/** What was written. */
typedef struct dd_emit_stats {
    uint64_t lines;              /**< Lines in all. */
    uint64_t reports;            /**< Report lines. */
    uint64_t telemetry_messages; /**< Telemetry messages (sum of their lines' repeats). */
    uint64_t cloud_events;       /**< Connects, failures and disconnects (sum of repeats). */
} dd_emit_stats_t;

/**
 * @brief Writes the whole scenario as a replay stream.
 * @param[in] sc The scenario (after any dd_scenario_override()).
 * @param[in] start_ms Epoch ms of the scenario's time 0.
 * @param[in] threads Threads rendering lines, 1..DD_EMIT_MAX_THREADS (1: the
 *            calling thread alone; N: N workers while the calling thread
 *            writes), 0: one per CPU up to DD_EMIT_DEFAULT_THREADS.
 * @param[in] out Where the lines go.
 * @param[out] stats Optional figures.
 * @return DD_EMIT_OK or an error status.
 */
dd_emit_status_t dd_emit_run(const dd_scenario_t *sc, int64_t start_ms, unsigned threads, FILE *out,
                             dd_emit_stats_t *stats);

/** @return Static text for @p status. */
const char *dd_emit_strerror(dd_emit_status_t status);

#endif /* DD_EMIT_H_ */
