/**
 * @file dd_up.h
 * @brief Runs the whole pipeline as child processes: mosquitto with the
 *        shim, ddlocald, and optionally the isolator; supervises them and
 *        stops them all. Used by `ddlocal up` and `ddlocal demo`.
 *
 * Children log to DIR/logs/; their process-death signal is set so none
 * outlives the runner. endpoints.json (dd_endpoints.h) is written atomically
 * once every part is ready, names every process with its start time, is
 * rewritten when a child is restarted and is removed on a clean stop. A start
 * on a data dir whose pipeline runs is refused; a stale endpoints.json (its
 * writer killed) is removed first.
 */
#ifndef DD_UP_H_
#define DD_UP_H_

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_proc.h"

/** Exit statuses of `ddlocal up` (documented in its --help). */
#define DD_UP_EXIT_FAILURE 1
#define DD_UP_EXIT_PORT 3
#define DD_UP_EXIT_DATA_DIR 4
#define DD_UP_EXIT_NO_MOSQUITTO 5
#define DD_UP_EXIT_TIMEOUT 6 /**< --detach: not ready within --timeout */
#define DD_UP_EXIT_RUNNING 7 /**< the data dir's pipeline is already running */

/** What to start and how. */
typedef struct dd_up_options {
    const char *data_dir;
    const char *bind;   /**< "127.0.0.1" */
    uint16_t mqtt_port; /**< 0 = any free port */
    uint16_t alpn_port;
    bool alpn_port_set; /**< false: 443 as root, else 8443 */
    uint16_t api_port;
    double time_scale; /**< > 0: scaled clock */
    bool manual_clock;
    int64_t start_time_ms; /**< > 0: --start-time, where a manual or scaled clock starts */
    const char *region;
    const char *account;
    bool strict_identity;
    bool no_kick_on_deny;
    bool workshop;                       /**< provision the workshop's world, run its isolator */
    bool workshop_profiles;              /**< with workshop: also its two security profiles */
    const char *isolator;                /**< "TOPIC:GROUP" or NULL */
    bool no_isolator;                    /**< no isolator at all, even with workshop */
    const char *lambda_backoff_ms;       /**< passed to ddlocald, or NULL */
    const char *metering_retention_days; /**< passed to ddlocald, or NULL */
    const char *seed;                    /**< --seed, passed to ddlocald as --id-seed, or NULL */
    bool fine_error_codes;
    bool throttle;
    bool reject_duplicates;
    bool reject_mixed_keys;
    const char *webhook_attempts;   /**< passed to ddlocald, or NULL */
    const char *webhook_backoff_ms; /**< passed to ddlocald, or NULL */
    bool status;                    /**< live status line */
    const char *log_level;          /**< for the children */
    bool detached; /**< `up --detach`'s background process: after the banner, report readiness on
                        ready_fd and move stdout/stderr to DIR/logs/up.log */
    int ready_fd;  /**< with detached: one status byte (0 = ready, else the exit status) */
} dd_up_options_t;

/** A running pipeline. */
typedef struct dd_up {
    dd_up_options_t opts;
    char data_dir[512]; /**< Absolute. */
    uint16_t mqtt_port;
    uint16_t alpn_port;
    uint16_t api_port;
    char api_url[64];
    char clock_spec[96];
    dd_clock_t clock; /**< The pipeline clock of clock_spec (manual: as last seen). */
    dd_proc_t broker;
    dd_proc_t ddlocald;
    dd_proc_t isolator;
    char isolator_topic[260];
    char isolator_group[130];
    int ddlocald_restarts;
} dd_up_t;

/** @brief Defaults: ports 8883 / (443 or 8443) / 18443 on 127.0.0.1, real clock. */
void dd_up_options_default(dd_up_options_t *o);

/**
 * @brief Starts every part and writes endpoints.json.
 * @return 0 or one of the DD_UP_EXIT_* statuses (the message was printed).
 */
int dd_up_start(dd_up_t *up, const dd_up_options_t *o);

/**
 * @brief Checks the children once: restarts ddlocald or the isolator if they
 *        died; fails when the broker died.
 * @return 0, or DD_UP_EXIT_FAILURE when the pipeline cannot go on.
 */
int dd_up_supervise(dd_up_t *up);

/** @brief Removes endpoints.json and stops every child. */
void dd_up_stop(dd_up_t *up);

/**
 * @brief Starts, supervises until *stop, shows the status line, stops. With o->detached, writes
 *        one byte to o->ready_fd once ready (0) or on failure (the exit status) and closes it.
 */
int dd_up_run(const dd_up_options_t *o, volatile sig_atomic_t *stop);

#endif /* DD_UP_H_ */
