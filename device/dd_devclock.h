/**
 * @file dd_devclock.h
 * @brief The device programs' view of the pipeline clock: where it comes
 *        from, and when a periodic device action (a sensor message, an
 *        agent report) is due on it.
 *
 * ddlocal-sensor and ddlocal-agent follow the pipeline clock so that a
 * workshop run at `--time-scale 60` keeps the workshop's own numbers
 * (`-i 300` for the agent, 10 s for the sensor) and every aligned window of
 * the pipeline sees the same number of messages from every healthy device.
 * The clock is looked up, in order, from `--clock SPEC`, the environment
 * variable DDLOCAL_CLOCK, then the "clock" member of
 * `$DDLOCAL_DATA_DIR/endpoints.json` (written by `ddlocal up`); the spec is
 * dd_clock_format()'s. A real or scaled clock is followed: intervals are
 * pipeline seconds and actions fall on pipeline times
 * k x interval + offset. A manual clock cannot be followed (it only moves
 * on `ddlocal clock advance`), so then, as with no clock at all, intervals
 * are real seconds counted from the start of the program. `--clock none`
 * asks for real seconds whatever the environment says.
 *
 * A real or scaled clock found through DDLOCAL_CLOCK or endpoints.json is
 * also followed when its rate changes while the program runs (`ddlocal clock
 * scale X`: ddlocald rewrites endpoints.json's "clock"): the program loop
 * calls dd_devclock_follow() every pass, which looks at the file's mtime at
 * most once per DD_DEVCLOCK_FOLLOW_MS and adopts a new spec without a jump
 * (dd_clock_adopt()). The loops wake at least once a second, so a device
 * runs at the new rate about 1-2 real seconds after the change; an action
 * already due by then is not moved. `--clock SPEC` is the user's choice and
 * is never replaced.
 *
 * Ownership: everything is caller-allocated; a schedule borrows its
 * dd_devclock_t, which must outlive it. No resources are held. Not
 * thread-safe (one program loop drives a schedule).
 */
#ifndef DD_DEVCLOCK_H_
#define DD_DEVCLOCK_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"

/** Status codes of this module. */
typedef enum dd_devclock_status {
    DD_DEVCLOCK_OK = 0,
    DD_DEVCLOCK_BAD_PARAMETER, /**< NULL pointer, interval <= 0, offset outside the interval. */
    DD_DEVCLOCK_BAD_SPEC       /**< --clock or DDLOCAL_CLOCK is not a clock spec (msg says why). */
} dd_devclock_status_t;

/** Environment variable holding a clock spec (set by `ddlocal device`). */
#define DD_DEVCLOCK_ENV "DDLOCAL_CLOCK"
/** Environment variable holding the data dir whose endpoints.json is read. */
#define DD_DEVCLOCK_DATA_DIR_ENV "DDLOCAL_DATA_DIR"

/** How often (real ms) dd_devclock_follow() looks at endpoints.json. */
#define DD_DEVCLOCK_FOLLOW_MS 1000

/** Where a program's clock came from. */
typedef enum dd_devclock_origin {
    DD_DEVCLOCK_FROM_NONE = 0, /**< Nothing found (or --clock none). */
    DD_DEVCLOCK_FROM_FLAG,     /**< --clock SPEC */
    DD_DEVCLOCK_FROM_ENV,      /**< DDLOCAL_CLOCK */
    DD_DEVCLOCK_FROM_ENDPOINTS /**< $DDLOCAL_DATA_DIR/endpoints.json */
} dd_devclock_origin_t;

/** A program's clock. */
typedef struct dd_devclock {
    bool follows;     /**< true: intervals are pipeline seconds, actions aligned. */
    bool found;       /**< A clock was found (perhaps a manual one, not followed). */
    dd_clock_t clock; /**< The pipeline clock when @ref found. */
    dd_devclock_origin_t origin;
    char spec[DD_CLOCK_SPEC_MAX]; /**< The spec as found ("" when none). */
    bool stale;                   /**< DDLOCAL_CLOCK differs from the running pipeline's clock
                                       (endpoints.json): log the message as a warning. */
    bool watch;                   /**< dd_devclock_follow() looks at data_dir/endpoints.json. */
    char data_dir[512];           /**< The data dir watched ("" when not watching). */
    int64_t mtime_ns;             /**< endpoints.json's mtime when last read (0: none). */
    int64_t next_check_ms;        /**< Monotonic ms of the next look. */
} dd_devclock_t;

/**
 * @brief Finds the pipeline clock.
 * @param[in] flag The --clock value, or NULL when not given ("none": real seconds).
 * @param[in] env The value of DDLOCAL_CLOCK, or NULL.
 * @param[in] data_dir The value of DDLOCAL_DATA_DIR, or NULL.
 * @param[out] out The clock (not followed when nothing usable was found).
 * @param[out] msg One line for the program's log saying what was found and
 *             what the intervals mean, or why a spec was refused.
 * @param[in] msg_len Size of @p msg.
 * DDLOCAL_CLOCK wins over endpoints.json, but when both are there and
 * differ (the pipeline was restarted after `ddlocal device` exported the
 * variable), @p msg says so and @ref dd_devclock_t::stale is set.
 * @return DD_DEVCLOCK_OK, DD_DEVCLOCK_BAD_PARAMETER or DD_DEVCLOCK_BAD_SPEC
 *         (--clock or DDLOCAL_CLOCK unreadable; a bad "clock" in
 *         endpoints.json is only reported in @p msg and ignored).
 */
dd_devclock_status_t dd_devclock_resolve(const char *flag, const char *env, const char *data_dir,
                                         dd_devclock_t *out, char *msg, size_t msg_len);

/**
 * @brief Follows a rate change of the running pipeline's clock: at most once per
 *        DD_DEVCLOCK_FOLLOW_MS, when endpoints.json changed since it was last read and its
 *        "clock" is another real or scaled spec, @p dc adopts it (no jump, never back).
 * @param[in,out] dc The program's clock (NULL, not watching, or manual: nothing happens).
 * @param[in] mono_now_ms Monotonic time now.
 * @param[out] msg Filled when the clock changed: one line for the log.
 * @param[in] msg_len Size of @p msg.
 * @return true when the clock changed.
 */
bool dd_devclock_follow(dd_devclock_t *dc, int64_t mono_now_ms, char *msg, size_t msg_len);

/**
 * @brief Initialises a clock that follows @p clock (tests, or a caller
 *        with a clock in hand). A manual clock is recorded but not followed.
 * @return DD_DEVCLOCK_OK or DD_DEVCLOCK_BAD_PARAMETER.
 */
dd_devclock_status_t dd_devclock_from_clock(const dd_clock_t *clock, dd_devclock_t *out);

/**
 * @brief A log timestamp: real time in ISO 8601 UTC with milliseconds and,
 *        when @p dc follows a scaled clock, the pipeline time in brackets:
 *        `2026-12-06T03:40:00.123Z [pipeline 2026-12-06T05:10:00.000Z]`.
 * @param[in] dc The program's clock, or NULL.
 * @param[in] wall_ms Real time in epoch ms.
 * @param[out] buf Output (NUL-terminated; 64 bytes are enough).
 * @param[in] len Size of @p buf.
 * @return DD_DEVCLOCK_OK or DD_DEVCLOCK_BAD_PARAMETER.
 */
dd_devclock_status_t dd_devclock_stamp(const dd_devclock_t *dc, int64_t wall_ms, char *buf,
                                       size_t len);

/** A periodic action: aligned on the pipeline clock, or free-running in real time. */
typedef struct dd_devclock_sched {
    const dd_devclock_t *dc; /**< Borrowed; NULL or not following: free-running. */
    bool aligned;
    int64_t interval_ms; /**< Pipeline ms (aligned) or real ms (free-running). */
    int64_t offset_ms;   /**< Aligned: the phase of each action in its interval. */
    int64_t next_ms;     /**< Next action: pipeline ms (aligned) or monotonic ms. */
} dd_devclock_sched_t;

/**
 * @brief Starts a schedule.
 *
 * Aligned: actions at pipeline times k x interval + offset, the first one
 * strictly after the pipeline time now. Free-running: the first action
 * @p first_after_ms after @p mono_now_ms, then every interval.
 * @param[out] s The schedule.
 * @param[in] dc The program's clock (borrowed), or NULL.
 * @param[in] interval_ms Interval (> 0): pipeline ms when @p dc follows, else real ms.
 * @param[in] offset_ms Aligned phase, 0 <= offset < interval.
 * @param[in] mono_now_ms Monotonic time now (free-running base).
 * @param[in] first_after_ms Free-running: delay of the first action (>= 0).
 * @return DD_DEVCLOCK_OK or DD_DEVCLOCK_BAD_PARAMETER.
 */
dd_devclock_status_t dd_devclock_sched_init(dd_devclock_sched_t *s, const dd_devclock_t *dc,
                                            int64_t interval_ms, int64_t offset_ms,
                                            int64_t mono_now_ms, int64_t first_after_ms);

/**
 * @brief Says whether an action is due, and moves the schedule past it.
 *
 * An action whose time has passed is due once; actions missed entirely
 * (the machine was suspended, the loop stalled) are not made up for: the
 * next one is the first still in the future, and @p missed counts the
 * skipped ones.
 * @param[in,out] s The schedule.
 * @param[in] mono_now_ms Monotonic time now (free-running mode; the aligned
 *            mode reads its clock).
 * @param[out] slot_ms Optional: the due action's scheduled time (pipeline
 *             ms when aligned, monotonic ms otherwise).
 * @param[out] missed Optional: actions skipped before this one.
 * @return true when an action is due now.
 */
bool dd_devclock_sched_due(dd_devclock_sched_t *s, int64_t mono_now_ms, int64_t *slot_ms,
                           int64_t *missed);

/**
 * @brief Real milliseconds until the next action (0 when due), rounded up
 *        so that waking after it never finds the action still ahead.
 * @param[in] s The schedule.
 * @param[in] mono_now_ms Monotonic time now.
 * @return Milliseconds, at most one day.
 */
int64_t dd_devclock_sched_wait_ms(const dd_devclock_sched_t *s, int64_t mono_now_ms);

/** @return Static text for @p status. */
const char *dd_devclock_strerror(dd_devclock_status_t status);

#endif /* DD_DEVCLOCK_H_ */
