/**
 * @file dd_log.h
 * @brief Levelled logging with a replaceable sink.
 *
 * Every ddlocal component logs through these macros so that the broker shim
 * can route messages to mosquitto_log_printf() and the command-line programs
 * to stderr. The sink is process-global and set once at start-up; it is not
 * thread-safe to change it while other threads log. Messages are formatted
 * into a stack buffer, so logging never allocates.
 */
#ifndef DD_LOG_H_
#define DD_LOG_H_

#include <stdarg.h>

/** Severity of a log message, most severe first. */
typedef enum dd_log_level {
    DD_LOG_LEVEL_ERROR = 0,
    DD_LOG_LEVEL_WARN = 1,
    DD_LOG_LEVEL_INFO = 2,
    DD_LOG_LEVEL_DEBUG = 3
} dd_log_level_t;

/**
 * @brief Receives one formatted log line (without a trailing newline).
 * @param[in] level Severity of the message.
 * @param[in] message NUL-terminated text, valid only during the call.
 * @param[in] ctx The context pointer given to dd_log_set_sink().
 */
typedef void (*dd_log_sink_fn)(dd_log_level_t level, const char *message, void *ctx);

/**
 * @brief Replaces the log sink; NULL restores the default (stderr with a
 *        program-name prefix).
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
 * @brief Formats and emits one message. Use the DD_LOG_* macros instead.
 * @param[in] level Severity.
 * @param[in] fmt printf-style format.
 */
void dd_log_write(dd_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define DD_LOG_ERROR(...) dd_log_write(DD_LOG_LEVEL_ERROR, __VA_ARGS__)
#define DD_LOG_WARN(...) dd_log_write(DD_LOG_LEVEL_WARN, __VA_ARGS__)
#define DD_LOG_INFO(...) dd_log_write(DD_LOG_LEVEL_INFO, __VA_ARGS__)
#define DD_LOG_DEBUG(...) \
    do { \
        if (dd_log_get_level() >= DD_LOG_LEVEL_DEBUG) { \
            dd_log_write(DD_LOG_LEVEL_DEBUG, __VA_ARGS__); \
        } \
    } while (0)

#endif /* DD_LOG_H_ */
