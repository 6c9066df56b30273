/**
 * @file dd_log.h
 * @brief Levelled logging with a replaceable sink, and the one timeline of
 *        ddlocal's logs: real time, plus pipeline time when they differ.
 *
 * Every ddlocal component logs through these macros so that the broker shim
 * can route messages to mosquitto_log_printf() and the command-line programs
 * to stderr. The sink is process-global and set once at start-up; it is not
 * thread-safe to change it while other threads log. Messages are formatted
 * into a stack buffer, so logging never allocates.
 *
 * With dd_log_set_clock(), the default stderr sink starts every line with the
 * real time in ISO 8601 UTC with milliseconds and, when the pipeline clock is
 * scaled or manual, the pipeline time in brackets:
 *   2026-12-06T03:40:00.123Z [pipeline 2026-12-06T05:10:00.000Z] ddlocald: info: ...
 * so the logs of ddlocald, the isolator, the devices and the status feed can
 * be read side by side. The clock is borrowed: it must outlive the logging
 * (or be replaced first); swapping it is atomic, so it may be changed while
 * other threads log. dd_log_format_stamp() is the same prefix for callers
 * that write their own lines.
 */
#ifndef DD_LOG_H_
#define DD_LOG_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"

/** Status codes of this module. */
typedef enum dd_log_status {
    DD_LOG_OK = 0,
    DD_LOG_BAD_PARAMETER,   /**< NULL pointer or zero-sized buffer. */
    DD_LOG_BUFFER_TOO_SMALL /**< Output truncated. */
} dd_log_status_t;

/** Severity of a log message, most severe first. */
typedef enum dd_log_level {
    DD_LOG_LEVEL_ERROR = 0,
    DD_LOG_LEVEL_WARN = 1,
    DD_LOG_LEVEL_INFO = 2,
    DD_LOG_LEVEL_DEBUG = 3
} dd_log_level_t;

/** Longest "real [pipeline p]" prefix of dd_log_format_stamp(), with the NUL. */
#define DD_LOG_STAMP_MAX 72

/** Longest readable clock of dd_log_describe_clock(), with the NUL. */
#define DD_LOG_CLOCK_TEXT_MAX 96

/**
 * @brief Receives one formatted log line (without a trailing newline).
 * @param[in] level Severity of the message.
 * @param[in] message NUL-terminated text, valid only during the call.
 * @param[in] ctx The context pointer given to dd_log_set_sink().
 */
typedef void (*dd_log_sink_fn)(dd_log_level_t level, const char *message, void *ctx);

/**
 * @brief Replaces the log sink; NULL restores the default (stderr with a
 *        program-name prefix, and the time stamp once dd_log_set_clock()
 *        was called).
 * @param[in] sink Function receiving each message, or NULL.
 * @param[in] ctx Passed unchanged to @p sink.
 */
void dd_log_set_sink(dd_log_sink_fn sink, void *ctx);

/**
 * @brief Sets the most verbose level that is still emitted (default INFO).
 * @param[in] level Messages less severe than this are dropped.
 */
void dd_log_set_level(dd_log_level_t level);

/**
 * @brief Sets the prefix of the default stderr sink, e.g. "ddlocald".
 * @param[in] name Static or long-lived string; not copied.
 */
void dd_log_set_program(const char *name);

/** @return The current level set by dd_log_set_level(). */
dd_log_level_t dd_log_get_level(void);

/**
 * @brief Turns on time stamps in the default sink.
 * @param[in] pipeline The pipeline clock, borrowed (NULL: real time only).
 *            Its time is shown when it is scaled or manual.
 */
void dd_log_set_clock(const dd_clock_t *pipeline);

/** @brief Turns the time stamps of the default sink off again. */
void dd_log_clear_clock(void);

/**
 * @brief Replaces the real-time source of the stamps (tests); NULL restores
 *        CLOCK_REALTIME.
 * @param[in] source Function returning epoch ms.
 * @param[in] ctx Passed to @p source.
 */
void dd_log_set_wall_source(dd_clock_source_fn source, void *ctx);

/**
 * @brief Writes epoch milliseconds as ISO 8601 UTC with milliseconds,
 *        "2026-12-06T03:40:00.123Z".
 * @param[in] ms Epoch milliseconds (>= 0).
 * @param[out] buf Output buffer (25 bytes are enough).
 * @param[in] len Size of @p buf.
 * @return DD_LOG_OK, DD_LOG_BAD_PARAMETER or DD_LOG_BUFFER_TOO_SMALL.
 */
dd_log_status_t dd_log_format_iso(int64_t ms, char *buf, size_t len);

/**
 * @brief Writes the time stamp that starts a log line: the real time and,
 *        when @p pipeline is scaled or manual, " [pipeline <its time>]".
 * @param[in] real_ms Real time in epoch ms.
 * @param[in] pipeline Pipeline clock or NULL (real time only).
 * @param[out] buf Output buffer (DD_LOG_STAMP_MAX is always enough).
 * @param[in] len Size of @p buf.
 * @return DD_LOG_OK, DD_LOG_BAD_PARAMETER or DD_LOG_BUFFER_TOO_SMALL.
 */
dd_log_status_t dd_log_format_stamp(int64_t real_ms, const dd_clock_t *pipeline, char *buf,
                                    size_t len);

/**
 * @brief Describes a clock for people: "real time", "scaled x60 - pipeline
 *        time 2026-12-06T05:10:00Z", "manual - pipeline time ...
 *        (moves with `ddlocal clock advance`)".
 * @param[in] clock The clock.
 * @param[out] buf Output buffer (DD_LOG_CLOCK_TEXT_MAX is always enough).
 * @param[in] len Size of @p buf.
 * @return DD_LOG_OK, DD_LOG_BAD_PARAMETER or DD_LOG_BUFFER_TOO_SMALL.
 */
dd_log_status_t dd_log_describe_clock(const dd_clock_t *clock, char *buf, size_t len);

/**
 * @brief printf into a caller's message buffer, the way functions fill their
 *        `char *msg, size_t msg_len` error-text outputs.
 *
 * The text is cut to fit (always NUL-terminated): an error message that is
 * too long is still worth showing. A NULL @p msg or zero @p len is ignored, so
 * callers may pass through an optional buffer unchecked.
 * @param[out] msg Buffer to fill, or NULL.
 * @param[in] len Size of @p msg.
 * @param[in] fmt printf-style format.
 */
void dd_log_format_msg(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief Formats and emits one message. Use the DD_LOG_* macros instead.
 * @param[in] level Severity.
 * @param[in] fmt printf-style format.
 */
void dd_log_write(dd_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @return Static text for @p status. */
const char *dd_log_strerror(dd_log_status_t status);

#define DD_LOG_ERROR(...) dd_log_write(DD_LOG_LEVEL_ERROR, __VA_ARGS__)
#define DD_LOG_WARN(...) dd_log_write(DD_LOG_LEVEL_WARN, __VA_ARGS__)
#define DD_LOG_INFO(...) dd_log_write(DD_LOG_LEVEL_INFO, __VA_ARGS__)
#define DD_LOG_DEBUG(...)                                  \
    do {                                                   \
        if (dd_log_get_level() >= DD_LOG_LEVEL_DEBUG) {    \
            dd_log_write(DD_LOG_LEVEL_DEBUG, __VA_ARGS__); \
        }                                                  \
    } while (0)

#endif /* DD_LOG_H_ */
