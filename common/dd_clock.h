/**
 * @file dd_clock.h
 * @brief The pipeline clock: real, scaled or manual time in epoch milliseconds.
 *
 * Every timing decision in ddlocal (windows, throttles, alarms, invalidation,
 * reply timestamps) reads a dd_clock_t; nothing calls time() directly.
 *
 * - real:   pipeline time = wall-clock time.
 * - scaled: pipeline time = origin_pipeline + (wall - origin_real) * scale,
 *           so `--time-scale 60` runs an hour of pipeline time per minute.
 *           Restarting with origin_pipeline = the last stored pipeline time
 *           keeps it from ever going backwards.
 * - manual: time moves only through dd_clock_advance()/dd_clock_set().
 *
 * The clock is caller-allocated and holds no resources. dd_clock_format()/
 * dd_clock_parse() turn a clock into a one-line spec so that the broker shim
 * and ddlocald can be started on the very same clock.
 *
 * Threads. One initialised clock may be shared by any number of threads:
 * - reads (dd_clock_now_ms(), dd_clock_mode(), dd_clock_scale(),
 *   dd_clock_format()) never block on each other and never see a torn clock;
 * - a real or scaled clock's anchor (mode, scale, origins) may change while
 *   others read it, through dd_clock_rescale() and dd_clock_adopt() only. The
 *   anchor sits behind a sequence lock (@ref dd_clock::seq): a reader copies
 *   it and the wall time and retries if a change overlapped, so
 *   dd_clock_now_ms() costs two extra atomic loads and no lock. Writers
 *   exclude each other through the same sequence number; a change is a few
 *   stores, so readers never wait long;
 * - a change never moves time backwards for any reader: the new anchor starts
 *   at the pipeline time the old one gives at that instant (see
 *   dd_clock_rescale() and dd_clock_adopt() for the exact guarantee);
 * - a manual clock stays manual and a real or scaled one never becomes
 *   manual: manual time exists for determinism, and a rate has no meaning
 *   for it (DD_CLOCK_WRONG_MODE);
 * - init, dd_clock_parse() and dd_clock_set_source() are not for a clock
 *   other threads already read. Code outside this module reads the mode and
 *   the scale of a shared clock through dd_clock_mode()/dd_clock_scale(),
 *   never through the fields.
 */
#ifndef DD_CLOCK_H_
#define DD_CLOCK_H_

#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_clock_status {
    DD_CLOCK_OK = 0,
    DD_CLOCK_BAD_PARAMETER,   /**< NULL pointer or out-of-range value. */
    DD_CLOCK_WRONG_MODE,      /**< Operation needs a manual clock. */
    DD_CLOCK_BACKWARDS,       /**< Would move a manual clock backwards. */
    DD_CLOCK_PARSE_ERROR,     /**< Spec string not understood. */
    DD_CLOCK_BUFFER_TOO_SMALL /**< Output buffer too small. */
} dd_clock_status_t;

/** How pipeline time relates to wall-clock time. */
typedef enum dd_clock_mode { DD_CLOCK_REAL = 0, DD_CLOCK_SCALED, DD_CLOCK_MANUAL } dd_clock_mode_t;

/** Source of wall-clock time in epoch ms; injectable for tests. */
typedef int64_t (*dd_clock_source_fn)(void *ctx);

/**
 * A pipeline clock. Initialise with one of the dd_clock_init_* functions. The
 * anchor fields (mode, scale, origins, floor) are read and written under
 * @ref seq: outside this module only single-threaded code (tests, a clock
 * just parsed) touches them directly.
 */
typedef struct dd_clock {
    dd_clock_mode_t mode;       /**< Kind of clock. */
    double scale;               /**< Scaled mode: pipeline seconds per wall second. */
    int64_t origin_real_ms;     /**< Scaled mode: wall time at the origin. */
    int64_t origin_pipeline_ms; /**< Scaled mode: pipeline time at the origin. */
    int64_t floor_ms;           /**< Real/scaled: never answer earlier than this (0 = none). */
    int64_t manual_ms;          /**< Manual mode: current time (atomic access). */
    unsigned seq;               /**< Sequence lock of the anchor: odd while it changes. */
    dd_clock_source_fn source;  /**< Wall-clock source (default: CLOCK_REALTIME). */
    void *source_ctx;           /**< Passed to @ref source. */
} dd_clock_t;

/** Largest scale of a scaled clock (pipeline seconds per wall second). */
#define DD_CLOCK_SCALE_MAX 1e6

/** Longest spec produced by dd_clock_format(), including the NUL. */
#define DD_CLOCK_SPEC_MAX 96

/** @brief Wall-clock time in epoch milliseconds (CLOCK_REALTIME). */
int64_t dd_clock_wall_ms(void);

/**
 * @brief Monotonic milliseconds (CLOCK_MONOTONIC) from an arbitrary origin.
 *
 * For deadlines, timeouts, retry backoff and rate limits measured in real
 * elapsed time, which must not jump when the wall clock is set. Never a
 * pipeline time: only differences between two calls mean anything.
 */
int64_t dd_clock_mono_ms(void);

/**
 * @brief Sleeps the calling thread for @p ms real milliseconds.
 *
 * The one pause helper for polling loops, pacing and backoff (tests, benches,
 * the CLI, the services). A signal does not cut the pause short: nanosleep()
 * is resumed with the time left. Never a way to wait for a result: poll the
 * condition with a deadline and pause between polls.
 * @param[in] ms Milliseconds to sleep; 0 or less returns at once.
 */
void dd_clock_sleep_ms(int64_t ms);

/**
 * @brief Initialises a real-time clock.
 * @param[out] clock Clock to initialise.
 * @return DD_CLOCK_OK or DD_CLOCK_BAD_PARAMETER.
 */
dd_clock_status_t dd_clock_init_real(dd_clock_t *clock);

/**
 * @brief Initialises a scaled clock whose origin is "now".
 * @param[out] clock Clock to initialise.
 * @param[in] scale Pipeline seconds per wall second, > 0 and <= DD_CLOCK_SCALE_MAX.
 * @param[in] origin_pipeline_ms Pipeline time at the origin; 0 means "now".
 * @return DD_CLOCK_OK or DD_CLOCK_BAD_PARAMETER.
 */
dd_clock_status_t dd_clock_init_scaled(dd_clock_t *clock, double scale, int64_t origin_pipeline_ms);

/**
 * @brief Initialises a manual clock.
 * @param[out] clock Clock to initialise.
 * @param[in] start_ms Initial pipeline time in epoch ms (>= 0).
 * @return DD_CLOCK_OK or DD_CLOCK_BAD_PARAMETER.
 */
dd_clock_status_t dd_clock_init_manual(dd_clock_t *clock, int64_t start_ms);

/**
 * @brief Replaces the wall-clock source (tests); NULL restores the default.
 * @param[in,out] clock Clock to change.
 * @param[in] source Function returning epoch ms.
 * @param[in] ctx Passed to @p source.
 */
void dd_clock_set_source(dd_clock_t *clock, dd_clock_source_fn source, void *ctx);

/**
 * @brief Current pipeline time in epoch milliseconds.
 * @param[in] clock An initialised clock.
 * @return Pipeline time, or 0 when @p clock is NULL.
 */
int64_t dd_clock_now_ms(const dd_clock_t *clock);

/**
 * @brief The clock's mode, read safely while another thread may change it.
 * @param[in] clock An initialised clock.
 * @return Its mode; DD_CLOCK_REAL when @p clock is NULL.
 */
dd_clock_mode_t dd_clock_mode(const dd_clock_t *clock);

/**
 * @brief The clock's rate in pipeline seconds per wall second.
 * @param[in] clock An initialised clock.
 * @return The scale of a scaled clock, 1 for a real one, 0 for a manual one
 *         (it has no rate) or NULL.
 */
double dd_clock_scale(const dd_clock_t *clock);

/**
 * @brief Changes the rate of a running real or scaled clock (others may read it meanwhile).
 *
 * Re-anchors the clock at "now": origin_real = the wall time of the change,
 * origin_pipeline = the pipeline time the old anchor gives at that wall time,
 * so pipeline time neither jumps nor goes back; from then on it runs at
 * @p scale. A scaled clock stays scaled (scale 1 runs at the real rate
 * without jumping to wall time); a real clock stays real for scale 1 and
 * becomes scaled otherwise. A scaled clock never turns back into a real one:
 * that would jump pipeline time to wall time.
 * @param[in,out] clock A real or scaled clock.
 * @param[in] scale New rate, > 0 and <= DD_CLOCK_SCALE_MAX.
 * @param[out] now_ms Optional: the pipeline time of the change.
 * @return DD_CLOCK_OK, DD_CLOCK_BAD_PARAMETER (NULL or scale out of range) or
 *         DD_CLOCK_WRONG_MODE (a manual clock).
 */
dd_clock_status_t dd_clock_rescale(dd_clock_t *clock, double scale, int64_t *now_ms);

/**
 * @brief Takes over the anchor of @p from (a clock parsed from a spec another
 *        process wrote after dd_clock_rescale()) while others may read @p clock.
 *
 * A real or scaled clock takes mode, scale and origins; a manual one moves to
 * @p from's time (never back). The anchor is copied as is, so both processes
 * then compute the same pipeline time; readers of @p clock still never see
 * time go back: if the new anchor is behind what @p clock gave at the moment
 * of the change (the spec travelled while the old, faster rate ran on), time
 * holds at that value until the new anchor catches up.
 * @param[in,out] clock Clock to change.
 * @param[in] from Clock to copy.
 * @return DD_CLOCK_OK, DD_CLOCK_BAD_PARAMETER, DD_CLOCK_WRONG_MODE (manual on
 *         one side only) or DD_CLOCK_BACKWARDS (a manual @p from behind @p clock).
 */
dd_clock_status_t dd_clock_adopt(dd_clock_t *clock, const dd_clock_t *from);

/**
 * @brief Moves a manual clock forward.
 * @param[in,out] clock A manual clock.
 * @param[in] delta_ms Milliseconds to add (>= 0).
 * @param[out] new_ms Optional: the new time.
 * @return DD_CLOCK_OK, DD_CLOCK_WRONG_MODE or DD_CLOCK_BAD_PARAMETER.
 */
dd_clock_status_t dd_clock_advance(dd_clock_t *clock, int64_t delta_ms, int64_t *new_ms);

/**
 * @brief Sets a manual clock to an absolute time, never backwards.
 * @param[in,out] clock A manual clock.
 * @param[in] now_ms New time; must be >= the current time.
 * @return DD_CLOCK_OK, DD_CLOCK_WRONG_MODE or DD_CLOCK_BACKWARDS.
 */
dd_clock_status_t dd_clock_set(dd_clock_t *clock, int64_t now_ms);

/**
 * @brief Writes the clock as a one-line spec:
 *        "real", "scaled:<scale>:<origin_real_ms>:<origin_pipeline_ms>" or
 *        "manual:<now_ms>".
 * @param[in] clock Clock to describe.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf (DD_CLOCK_SPEC_MAX is always enough).
 * @return DD_CLOCK_OK, DD_CLOCK_BAD_PARAMETER or DD_CLOCK_BUFFER_TOO_SMALL.
 */
dd_clock_status_t dd_clock_format(const dd_clock_t *clock, char *buf, size_t len);

/**
 * @brief Initialises a clock from a spec written by dd_clock_format().
 * @param[out] clock Clock to initialise.
 * @param[in] spec NUL-terminated spec.
 * @return DD_CLOCK_OK, DD_CLOCK_BAD_PARAMETER or DD_CLOCK_PARSE_ERROR.
 */
dd_clock_status_t dd_clock_parse(dd_clock_t *clock, const char *spec);

/** @return Static text for @p status. */
const char *dd_clock_strerror(dd_clock_status_t status);

#endif /* DD_CLOCK_H_ */
