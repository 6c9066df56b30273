/**
 * @file dd_window.h
 * @brief Time windows: the trailing window of device-side delta counters
 *        and the aligned tumbling windows of cloud-side and statistical
 *        metrics.
 *
 * Every window ending at t with duration d covers (t - d, t]: half-open, so
 * two reports exactly d apart never share a window.
 *
 * dd_window_t is a ring of samples (time + DD_WINDOW_CHANNELS counters) that
 * the caller embeds; its storage grows by doubling (amortised, never per
 * sample in steady state) and is released by dd_window_free(). Samples must
 * arrive in non-decreasing time order. Not thread-safe.
 */
#ifndef DD_WINDOW_H_
#define DD_WINDOW_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_window_status {
    DD_WINDOW_OK = 0,
    DD_WINDOW_BAD_PARAMETER, /**< NULL pointer, bad channel or duration. */
    DD_WINDOW_NO_MEMORY,
    DD_WINDOW_BACKWARDS /**< Sample older than the newest one. */
} dd_window_status_t;

/** Counters per sample (bytes in/out, packets in/out). */
#define DD_WINDOW_CHANNELS 4

/** One sample. @ref mask says which channels the report carried. */
typedef struct dd_window_sample {
    int64_t t_ms;
    uint32_t mask;
    uint64_t v[DD_WINDOW_CHANNELS];
} dd_window_sample_t;

/** A ring of samples. Zero-initialise before use. */
typedef struct dd_window {
    dd_window_sample_t *ring;
    uint32_t cap;  /**< A power of two (positions wrap with a mask). */
    uint32_t head; /**< Index of the oldest sample. */
    uint32_t count;
} dd_window_t;

/**
 * @brief Appends a sample and drops samples older than @p keep_ms before it.
 * @param[in,out] w Window.
 * @param[in] t_ms Sample time.
 * @param[in] mask Channels present (bit i = channel i).
 * @param[in] values DD_WINDOW_CHANNELS values (absent channels ignored).
 * @param[in] keep_ms Longest duration any caller will ask for (e.g. 3600000).
 * @return DD_WINDOW_OK, DD_WINDOW_BAD_PARAMETER, DD_WINDOW_NO_MEMORY or DD_WINDOW_BACKWARDS.
 */
dd_window_status_t dd_window_push(dd_window_t *w, int64_t t_ms, uint32_t mask,
                                  const uint64_t values[DD_WINDOW_CHANNELS], int64_t keep_ms);

/**
 * @brief Sum of one channel over (now - duration, now].
 * @param[in] w Window.
 * @param[in] now_ms End of the window.
 * @param[in] duration_ms Window length (> 0).
 * @param[in] channel 0..DD_WINDOW_CHANNELS-1.
 * @param[out] sum Sum of the samples inside that carried the channel.
 * @param[out] samples Optional: how many samples contributed.
 * @return DD_WINDOW_OK or DD_WINDOW_BAD_PARAMETER.
 */
dd_window_status_t dd_window_sum(const dd_window_t *w, int64_t now_ms, int64_t duration_ms,
                                 unsigned channel, uint64_t *sum, uint32_t *samples);

/**
 * A backward scan of one channel that answers dd_window_sum() for growing
 * durations at one end time, each sample read once: a report's behaviors on
 * the same counter with longer and longer durations share it.
 */
typedef struct dd_window_cursor {
    int64_t now_ms;
    int64_t duration_ms; /**< Longest duration answered so far (0: none). */
    unsigned channel;
    uint32_t next;  /**< Samples not yet read: positions [0, next) from the oldest. */
    uint64_t total; /**< Sum of the samples read that carried the channel. */
} dd_window_cursor_t;

/**
 * @brief Starts a scan of @p channel at @p now_ms. The window must not change
 *        while the cursor is used.
 * @return DD_WINDOW_OK or DD_WINDOW_BAD_PARAMETER.
 */
dd_window_status_t dd_window_cursor_start(const dd_window_t *w, int64_t now_ms, unsigned channel,
                                          dd_window_cursor_t *c);

/**
 * @brief The sum dd_window_sum() gives over (now - duration, now] for the
 *        cursor's channel, reading only samples the previous calls did not.
 * @param[in] w The window the cursor was started on.
 * @param[in,out] c Cursor.
 * @param[in] duration_ms Window length: > 0 and not shorter than any earlier
 *                        call's on this cursor.
 * @param[out] sum The sum.
 * @return DD_WINDOW_OK, or DD_WINDOW_BAD_PARAMETER (then use dd_window_sum()).
 */
dd_window_status_t dd_window_cursor_sum(const dd_window_t *w, dd_window_cursor_t *c,
                                        int64_t duration_ms, uint64_t *sum);

/** @brief Releases the ring and zeroes the window. */
void dd_window_free(dd_window_t *w);

/**
 * @brief End of the aligned tumbling window of @p duration_ms that contains
 *        @p t_ms: the smallest multiple e of the duration with t <= e
 *        (window (e - d, e]). Durations are multiples of 300 s, so every
 *        boundary is also a multiple of 300 s of the clock.
 */
int64_t dd_window_tumbling_end(int64_t t_ms, int64_t duration_ms);

/** @return Static text for @p status. */
const char *dd_window_strerror(dd_window_status_t status);

#endif /* DD_WINDOW_H_ */
