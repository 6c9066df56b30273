/**
 * @file dd_custom.h
 * @brief The agent's custom metrics: where each value comes from (a file
 *        or a shell command), and how its text becomes a report value.
 *
 * A source is configured either on the command line,
 * `--custom-metric NAME:TYPE:file:PATH` or `--custom-metric
 * NAME:TYPE:command:SHELL COMMAND`, or in a JSON file
 * (`--custom-metrics FILE`):
 *
 *     [ {"name": "temperature", "type": "number", "file": "/sys/class/thermal/thermal_zone0/temp"},
 *       {"name": "users", "type": "string-list", "command": "who | cut -d' ' -f1 | sort -u"} ]
 *
 * TYPE is the custom metric's metricType as in CreateCustomMetric:
 * `number`, `number-list`, `string-list`, `ip-address-list`. NAME must be a
 * valid metric name ([a-zA-Z0-9:_-], 1..128, not starting with "aws:").
 *
 * The text read is split on whitespace and commas: `number` takes the first
 * token (a finite decimal number), the list types take every token (an
 * empty output is an empty list); `ip-address-list` tokens must be IPv4 or
 * IPv6 addresses. Commands run with `/bin/sh -c`, stdin from /dev/null,
 * at most DD_CUSTOM_OUTPUT_MAX bytes of stdout kept, killed after the
 * timeout; a non-zero exit status is an error. A source that fails leaves
 * its metric out of that report (the agent logs why) instead of failing
 * the report.
 *
 * Ownership: sources own their strings (dd_custom_sources_free()); values
 * are dd_report_custom_t whose arrays dd_report_free() releases with the
 * report holding them. Reentrant; no global state.
 */
#ifndef DD_CUSTOM_H_
#define DD_CUSTOM_H_

#include <stdbool.h>
#include <stddef.h>

#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_custom_status {
    DD_CUSTOM_OK = 0,
    DD_CUSTOM_BAD_PARAMETER, /**< NULL pointer. */
    DD_CUSTOM_INVALID,       /**< Spec, config or value text not understood (see the message). */
    DD_CUSTOM_IO_ERROR,      /**< File unreadable, command could not run or failed. */
    DD_CUSTOM_TIMEOUT,       /**< The command did not finish in time (killed). */
    DD_CUSTOM_NO_MEMORY
} dd_custom_status_t;

/** Longest output of a file or command that is kept. */
#define DD_CUSTOM_OUTPUT_MAX 65536
/** Default time a command may take. */
#define DD_CUSTOM_TIMEOUT_MS 5000

/** Where a value comes from. */
typedef enum dd_custom_origin {
    DD_CUSTOM_FROM_FILE = 0,
    DD_CUSTOM_FROM_COMMAND
} dd_custom_origin_t;

/** One configured custom metric. */
typedef struct dd_custom_source {
    char name[DD_REPORT_METRIC_NAME_MAX + 1];
    dd_custom_kind_t kind;
    dd_custom_origin_t origin;
    char *target; /**< File path or shell command (owned). */
} dd_custom_source_t;

/**
 * @brief Parses "NAME:TYPE:file:PATH" or "NAME:TYPE:command:CMD".
 * @param[in] spec The text.
 * @param[out] out The source (target malloc'd).
 * @param[out] msg Why it was refused.
 * @param[in] msg_len Size of @p msg.
 * @return DD_CUSTOM_OK, DD_CUSTOM_BAD_PARAMETER, DD_CUSTOM_INVALID or DD_CUSTOM_NO_MEMORY.
 */
dd_custom_status_t dd_custom_parse_spec(const char *spec, dd_custom_source_t *out, char *msg,
                                        size_t msg_len);

/**
 * @brief Appends the sources of a JSON config file (the array above) to
 *        @p *sources / @p *count (grown with realloc).
 * @return DD_CUSTOM_OK, DD_CUSTOM_BAD_PARAMETER, DD_CUSTOM_IO_ERROR,
 *         DD_CUSTOM_INVALID (message names the entry) or DD_CUSTOM_NO_MEMORY.
 */
dd_custom_status_t dd_custom_load_config(const char *path, dd_custom_source_t **sources,
                                         size_t *count, char *msg, size_t msg_len);

/**
 * @brief Appends one source to an array (grown with realloc); takes
 *        ownership of @p src->target on success.
 */
dd_custom_status_t dd_custom_append(dd_custom_source_t **sources, size_t *count,
                                    const dd_custom_source_t *src);

/** @brief Frees an array of sources and their targets. */
void dd_custom_sources_free(dd_custom_source_t *sources, size_t count);

/**
 * @brief Parses a metricType name ("number", "number-list", "string-list",
 *        "ip-address-list").
 * @return true when known.
 */
bool dd_custom_kind_parse(const char *text, dd_custom_kind_t *kind);

/** @return The metricType name of @p kind. */
const char *dd_custom_kind_name(dd_custom_kind_t kind);

/**
 * @brief Turns text into a value of @p kind (rules in the file header).
 * @param[in] name Metric name copied into @p out.
 * @param[in] kind Metric type.
 * @param[in] text NUL-terminated text.
 * @param[out] out Value (zeroed first; arrays malloc'd, never NULL for lists).
 * @return DD_CUSTOM_OK, DD_CUSTOM_BAD_PARAMETER, DD_CUSTOM_INVALID or DD_CUSTOM_NO_MEMORY.
 */
dd_custom_status_t dd_custom_parse_value(const char *name, dd_custom_kind_t kind, const char *text,
                                         dd_report_custom_t *out, char *msg, size_t msg_len);

/**
 * @brief Reads a source now: the file's contents or the command's output,
 *        parsed as its type.
 * @param[in] timeout_ms Command time limit (0 = DD_CUSTOM_TIMEOUT_MS).
 * @return DD_CUSTOM_OK or the first problem (DD_CUSTOM_IO_ERROR,
 *         DD_CUSTOM_TIMEOUT, DD_CUSTOM_INVALID, ...), explained in @p msg.
 */
dd_custom_status_t dd_custom_read(const dd_custom_source_t *src, int timeout_ms,
                                  dd_report_custom_t *out, char *msg, size_t msg_len);

/** @brief Releases a value's arrays (for values not handed to a report). */
void dd_custom_value_free(dd_report_custom_t *value);

/** @return Static text for @p status. */
const char *dd_custom_strerror(dd_custom_status_t status);

#endif /* DD_CUSTOM_H_ */
