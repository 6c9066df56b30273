/**
 * @file dd_replay.h
 * @brief Replay / dry run: runs the engine over a recorded stream with a
 *        manual clock and no broker, and prints every violation event
 *        (ListViolationEvents item shape, one JSON object per line) followed
 *        by a summary per behavior. Same input, same output.
 *
 * Input: one JSON object per line (docs/reference/replay.md):
 *   {"thing":"Thing03","time":1795836907000,"report":{...}}       report as a JSON object
 *   {"thing":"Thing03","time":"2026-11-28T10:05:07Z","json":"{...}"} report text as sent
 *   {"thing":"Thing03","time":...,"cbor":"a266..."}                 CBOR report as hex
 *   {"thing":"d1","time":...,"event":{"type":"message-sent","topic":"t","size":5}}
 *   {"time":...,"tick":true}                                        just advance the clock
 * Blank lines and lines starting with '#' are ignored. A line the engine
 * cannot use is reported on the error stream with its line number and
 * skipped, never half-applied.
 *
 * Threads (options.threads, `ddlocal replay --threads N`): with one, each line
 * is read (getline()), parsed and applied to the engine before the next is read,
 * as a live stream needs. With N >= 2 (the default is the machine's CPUs, up to
 * 8), N - 1 parser threads started and joined inside dd_replay_run() and the
 * calling thread share the parsing: the stream is read in chunks of about
 * 256 KiB that end at a line's end, taken one at a time under a lock so that
 * they are numbered in stream order; whoever took a chunk cuts its lines in
 * place and turns them into records ready for the engine (the line's JSON
 * parsed, the report decoded and validated, the event's fields checked, or the
 * reason the line is skipped). The calling thread applies the chunks' records
 * strictly in chunk order and does everything that depends on the lines before
 * (the time order, the engine, printing events, datapoints and "line N: ...
 * (skipped)" messages, the hooks); while the next chunk is not ready it parses
 * a free one itself instead of waiting. So the output is the same byte for
 * byte for any N, and @p out, @p err, options.datapoints and the hooks are
 * used only from the calling thread; @p in is read by one thread at a time;
 * each chunk's slot in a ring of 4 x N belongs to one thread at a time (the
 * ring's counters say which), and a record's decoded report is freed by
 * whoever is done with it last (the engine side once applied, else the slot
 * when reused or freed). With N >= 2 the output of a live stream lags its
 * input by up to a few chunks (or the end of the stream); `--threads 1` keeps
 * it line by line.
 *
 * Ownership: the caller owns the streams and the texts passed in options;
 * dd_replay_run() allocates only for its own duration. Not thread-safe per
 * call (each call has its own engine).
 */
#ifndef DD_REPLAY_H_
#define DD_REPLAY_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_engine.h"

/** The most threads a replay may use (options.threads). */
#define DD_REPLAY_THREADS_MAX 16u
/** The most threads dd_replay_default_threads() picks: beyond this the engine thread, which
 * applies every line in order, is the limit. */
#define DD_REPLAY_THREADS_DEFAULT_MAX 8u

/** Status codes of this module. */
typedef enum dd_replay_status {
    DD_REPLAY_OK = 0,        /**< Every line was used. */
    DD_REPLAY_BAD_PARAMETER, /**< NULL stream or options, or too many options.threads. */
    DD_REPLAY_NO_MEMORY,
    DD_REPLAY_BAD_PROFILE,    /**< A profile does not parse or validate (message printed). */
    DD_REPLAY_BAD_THINGS,     /**< The things file is not understood (message printed). */
    DD_REPLAY_BAD_DEFINITION, /**< A custom metric or dimension option is not understood. */
    DD_REPLAY_SKIPPED_LINES   /**< Done, but some lines were skipped (see the error stream). */
} dd_replay_status_t;

/** A named text (e.g. a file's content and its name for messages). */
typedef struct dd_replay_text {
    const char *name; /**< For messages, e.g. the file path. */
    const char *text;
    size_t len;
} dd_replay_text_t;

/** Replay options. */
typedef struct dd_replay_options {
    const dd_replay_text_t *profiles; /**< Security profiles (AWS JSON, optional "targets"). */
    size_t profile_count;
    const dd_replay_text_t *things; /**< Optional registry: {"things":[...],"thingGroups":[...]}. */
    const char *const *custom_metrics; /**< "name:type", e.g. "cpu_usage:number". */
    size_t custom_metric_count;
    const char *const *dimensions; /**< "name:filter[,filter...]" (TOPIC_FILTER). */
    size_t dimension_count;
    bool no_summary; /**< Print only the events. */
    bool time_ms;    /**< violationEventTime in epoch ms instead of seconds. */
    /**
     * Where every evaluated datapoint goes (NULL: nowhere): thing, profile,
     * behavior, window, value, the threshold applied (the static value, or
     * the window's fleet percentile and how many devices it came from), the
     * verdict and the alarm state after it. Borrowed; not closed.
     */
    FILE *datapoints;
    bool datapoints_csv; /**< CSV with a header line; else one JSON object per line. */
    /** Only these datapoints are written (the hook sees all): of this thing and behavior
     * (NULL: any) with a window end in [from, to) (to 0: no bound). `ddlocal datapoints`. */
    const char *datapoints_thing;
    const char *datapoints_behavior;
    int64_t datapoints_from_ms;
    int64_t datapoints_to_ms;
    /**
     * Hooks for callers that aggregate instead of printing (dd_sweep): with
     * @ref event_hook set, violation events go to it and are not printed (set
     * no_summary too); @ref datapoint_hook sees every evaluated datapoint.
     * Arguments are valid only during the call.
     */
    void (*event_hook)(void *ctx, const dd_violation_event_t *ev);
    void (*datapoint_hook)(void *ctx, const dd_datapoint_record_t *record);
    void *hook_ctx;
    /** 1: read and apply on the calling thread; 2 to DD_REPLAY_THREADS_MAX: that many threads
     * parse, the calling thread applies (see the file comment); 0: dd_replay_default_threads().
     * More is DD_REPLAY_BAD_PARAMETER. */
    unsigned threads;
} dd_replay_options_t;

/** Figures of a run. */
typedef struct dd_replay_result {
    size_t lines;      /**< Input lines read. */
    size_t used;       /**< Lines applied. */
    size_t skipped;    /**< Lines reported and skipped. */
    size_t events;     /**< Violation events printed. */
    size_t datapoints; /**< Datapoints written to options.datapoints. */
} dd_replay_result_t;

/**
 * @brief Runs a replay.
 * @param[in] opt Options (profiles are required to see any event).
 * @param[in] in Recorded stream.
 * @param[in] out Where events and the summary go.
 * @param[in] err Where problems go ("line N: ...").
 * @param[out] result Optional figures.
 * @return DD_REPLAY_OK, DD_REPLAY_SKIPPED_LINES or an error status
 *         (DD_REPLAY_BAD_PARAMETER also for options.threads over DD_REPLAY_THREADS_MAX;
 *         DD_REPLAY_NO_MEMORY also when a parser thread cannot be started).
 */
dd_replay_status_t dd_replay_run(const dd_replay_options_t *opt, FILE *in, FILE *out, FILE *err,
                                 dd_replay_result_t *result);

/**
 * @brief Parses a time as the replay input accepts it: epoch milliseconds
 *        (digits) or ISO-8601 UTC ("2026-11-28T10:05:07Z", optional .mmm).
 * @param[in] text The text.
 * @param[out] out Epoch ms.
 * @return true when understood.
 */
bool dd_replay_time_parse(const char *text, int64_t *out);

/**
 * @brief The threads a replay uses when options.threads is 0.
 * @return The CPUs online, at least 1 and at most DD_REPLAY_THREADS_DEFAULT_MAX.
 */
unsigned dd_replay_default_threads(void);

/** @return Static text for @p status. */
const char *dd_replay_strerror(dd_replay_status_t status);

#endif /* DD_REPLAY_H_ */
