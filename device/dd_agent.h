/**
 * @file dd_agent.h
 * @brief ddlocal-agent: a Device Defender agent for Linux devices, command
 *        line compatible with AWS's Python agent, that runs unchanged
 *        against ddlocal and against AWS IoT.
 *
 * Cycle: a baseline sample of /proc at start (never published), then every
 * interval a new sample and a report of the deltas since the previous
 * sample, published at QoS 1 on `$aws/things/THING/defender/metrics/{json|cbor}`.
 * Each report covers exactly one interval, as AWS's Python agent's do: a
 * report due while the agent is not connected is measured and dropped
 * (logged, counted), never folded into the next one, so a device coming
 * back from a quarantine does not send one report of a whole hour.
 * With a pipeline clock (dd_devclock.h) the interval is pipeline seconds and
 * samples fall on pipeline multiples of it; without one, real seconds from
 * the start. The agent subscribes to
 * the `/accepted` and `/rejected` replies, matches each by reportId, logs
 * it, and logs a report whose reply did not come within the reply timeout.
 * report_id is the wall-clock time in epoch milliseconds, made strictly
 * increasing (so reports closer than a millisecond, or a clock stepped
 * back, still get unique ids).
 *
 * Ownership: dd_agent_options_t borrows its strings from argv; the custom
 * metric sources it owns are released by dd_agent_options_free().
 * dd_agent_run() owns everything else it creates. Single-threaded.
 */
#ifndef DD_AGENT_H_
#define DD_AGENT_H_

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_custom.h"
#include "dd_devclock.h"
#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_agent_status {
    DD_AGENT_OK = 0,
    DD_AGENT_BAD_PARAMETER, /**< NULL pointer. */
    DD_AGENT_USAGE,         /**< Bad command line (message says why). */
    DD_AGENT_HELP,          /**< --help was given. */
    DD_AGENT_SETUP_FAILED,  /**< Credentials or /proc unreadable at start. */
    DD_AGENT_INCOMPLETE,    /**< --once/--count: a report was rejected, unanswered or unsent. */
    DD_AGENT_INVALID_REPLY, /**< A reply payload is not a Device Defender reply. */
    DD_AGENT_NO_MEMORY
} dd_agent_status_t;

/** Default reporting interval (AWS's minimum), seconds. */
#define DD_AGENT_DEFAULT_INTERVAL_S 300.0
/** Longest wait between two connection attempts, ms: a released device is back within seconds. */
#define DD_AGENT_BACKOFF_MAX_MS 5000u
/** Default MQTT port. */
#define DD_AGENT_DEFAULT_PORT 8883
/** ALPN protocol AWS IoT needs for MQTT on port 443. */
#define DD_AGENT_ALPN_AWS "x-amzn-mqtt-ca"

/** Everything the command line sets. */
typedef struct dd_agent_options {
    const char *endpoint;       /**< -e/--endpoint: host (or host:port). */
    char host[256];             /**< Host part of endpoint. */
    uint16_t port;              /**< --port, or the endpoint's port; default 8883. */
    const char *root_ca;        /**< -r/--rootCA */
    const char *cert;           /**< -c/--cert */
    const char *key;            /**< -k/--key */
    const char *client_id;      /**< -id/--client_id */
    const char *thing_name;     /**< -t/--thing_name (default: the client id) */
    dd_report_format_t format;  /**< -f/--format json|cbor */
    dd_report_keys_t keys;      /**< --short-names (-s/--short_tags) */
    double interval_s;          /**< -i/--interval, fractional seconds allowed */
    bool include_cpu;           /**< -cm/--include-custom-metrics: cpu_usage */
    bool dry_run;               /**< -d/--dryrun: print reports, never connect */
    long count;                 /**< --once (1) / --count N; 0 = run until stopped */
    double timeout_s;           /**< --timeout: a counted run gives up after this long
                                      (0 = 60 + count x interval + reply timeout) */
    const char *proc_root;      /**< --proc-root (NULL = /proc) */
    const char *alpn;           /**< --alpn, default x-amzn-mqtt-ca on port 443 */
    size_t list_cap;            /**< --max-list-size, default 50 */
    double reply_timeout_s;     /**< --reply-timeout, default 30 */
    int keepalive_s;            /**< --keepalive, default 60 */
    bool verbose;               /**< -v/--verbose: debug logging */
    const char *clock_spec;     /**< --clock SPEC|none (NULL: not given) */
    dd_devclock_t *clock;       /**< Set by the caller after dd_devclock_resolve()
                                      (borrowed; NULL: intervals are real seconds; the run loop follows
                                      rate changes, dd_devclock_follow()) */
    dd_custom_source_t *custom; /**< --custom-metric / --custom-metrics (owned) */
    size_t custom_count;
} dd_agent_options_t;

/** A reply from /accepted or /rejected. */
typedef struct dd_agent_reply {
    bool accepted; /**< status ACCEPTED (else REJECTED). */
    bool has_report_id;
    uint64_t report_id;
    int64_t timestamp_ms; /**< 0 when absent. */
    char thing_name[DD_REPORT_THING_NAME_MAX + 1];
    char error_code[64];     /**< statusDetails.ErrorCode ("" when none). */
    char error_message[256]; /**< statusDetails.ErrorMessage. */
} dd_agent_reply_t;

/** Counters of one run. */
typedef struct dd_agent_stats {
    uint64_t published; /**< Reports handed to the broker. */
    uint64_t accepted;
    uint64_t rejected;
    uint64_t missing;  /**< No reply within the timeout. */
    uint64_t dropped;  /**< Due while disconnected: measured, not sent. */
    uint64_t connects; /**< Successful connections (1 + reconnects). */
} dd_agent_stats_t;

/**
 * @brief Parses the command line. Accepts the AWS Python agent's flags as
 *        typed (`-id`, `-cm`, `--client_id`, `--thing_name`, `--rootCA` ...),
 *        `--flag value` and `--flag=value`.
 * @param[in] argc,argv As given to main() (argv[0] is skipped).
 * @param[out] opts Options (zeroed, then filled; free with dd_agent_options_free()).
 * @param[out] msg Why a command line was refused.
 * @param[in] msg_len Size of @p msg.
 * @return DD_AGENT_OK, DD_AGENT_HELP, DD_AGENT_USAGE, DD_AGENT_BAD_PARAMETER or
 *         DD_AGENT_NO_MEMORY.
 */
dd_agent_status_t dd_agent_parse_args(int argc, char **argv, dd_agent_options_t *opts, char *msg,
                                      size_t msg_len);

/** @brief Frees what the options own. */
void dd_agent_options_free(dd_agent_options_t *opts);

/** @brief Prints the usage text. */
void dd_agent_usage(FILE *out);

/**
 * @brief Builds `$aws/things/THING/defender/metrics/FMT` plus @p suffix
 *        ("", "/accepted" or "/rejected").
 * @return DD_AGENT_OK, DD_AGENT_BAD_PARAMETER or DD_AGENT_USAGE (too long).
 */
dd_agent_status_t dd_agent_topic(const char *thing, dd_report_format_t format, const char *suffix,
                                 char *buf, size_t len);

/**
 * @brief Decodes an /accepted or /rejected payload (JSON or CBOR).
 * @return DD_AGENT_OK, DD_AGENT_BAD_PARAMETER or DD_AGENT_INVALID_REPLY.
 */
dd_agent_status_t dd_agent_parse_reply(dd_report_format_t format, const void *payload, size_t len,
                                       dd_agent_reply_t *out);

/**
 * @brief Runs the agent until @p *stop becomes non-zero or, with a count,
 *        until that many reports were answered or timed out.
 * @param[in] opts Parsed options.
 * @param[in] stop Set by a signal handler to end the run cleanly.
 * @param[in] out Where dry-run reports are printed (one per line: JSON as
 *            sent, CBOR as hex).
 * @param[out] stats Optional counters.
 * @return DD_AGENT_OK, DD_AGENT_SETUP_FAILED, DD_AGENT_INCOMPLETE or DD_AGENT_NO_MEMORY.
 */
dd_agent_status_t dd_agent_run(const dd_agent_options_t *opts, volatile sig_atomic_t *stop,
                               FILE *out, dd_agent_stats_t *stats);

/** @return Static text for @p status. */
const char *dd_agent_strerror(dd_agent_status_t status);

#endif /* DD_AGENT_H_ */
