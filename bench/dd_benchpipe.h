/**
 * @file dd_benchpipe.h
 * @brief What the pipeline benchmarks (bench_detection, bench_ingest) share:
 *        a `ddlocal up` on a fresh temporary data dir (free ports), the CLI
 *        and HTTP API of that pipeline, a fleet of provisioned things with EC
 *        certificates (issued and registered by `ddlocal fleet --prepare-only`,
 *        loaded back in DER for TLS), the machine's load, and a few statistics.
 *
 * Ownership: dd_benchpipe_t is caller-allocated and filled by
 * dd_benchpipe_start(); dd_benchpipe_stop() stops `ddlocal up` (SIGINT) and
 * removes the temporary dir unless asked to keep it. Credentials returned by
 * dd_benchpipe_fleet() belong to the caller (dd_fleet_creds_free()). Not
 * thread-safe; call everything from one thread.
 */
#ifndef DD_BENCHPIPE_H_
#define DD_BENCHPIPE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_fleet.h"
#include "dd_proc.h"

/** Status codes of this module. */
typedef enum dd_benchpipe_status {
    DD_BENCHPIPE_OK = 0,
    DD_BENCHPIPE_BAD_PARAMETER,
    DD_BENCHPIPE_FAILED, /**< A program, request or file failed (message on stderr). */
    DD_BENCHPIPE_TIMEOUT
} dd_benchpipe_status_t;

/** A running pipeline. */
typedef struct dd_benchpipe {
    char tmp_dir[64];   /**< mkdtemp() dir. */
    char data_dir[128]; /**< tmp_dir/data. */
    char up_log[128];   /**< tmp_dir/up.log. */
    dd_proc_t up;
    char host[64]; /**< "127.0.0.1" */
    uint16_t mqtt_port;
    char api[128]; /**< "http://127.0.0.1:P" */
    char root_ca[600];
    char service_cert[600];
    char service_key[600];
    bool started;
} dd_benchpipe_t;

/**
 * @brief Runs `ddlocal up -D TMP/data --mqtt-port 0 --alpn-port 0 --api-port 0
 *        --no-status ARGS...` and returns once endpoints.json is there.
 * @param[in] extra_args More arguments (NULL-terminated), or NULL.
 * @return DD_BENCHPIPE_OK, DD_BENCHPIPE_FAILED or DD_BENCHPIPE_TIMEOUT.
 */
dd_benchpipe_status_t dd_benchpipe_start(dd_benchpipe_t *bp, const char *const *extra_args);

/** @brief Stops `ddlocal up`, removes the temporary dir unless @p keep. */
void dd_benchpipe_stop(dd_benchpipe_t *bp, bool keep);

/**
 * @brief Runs `ddlocal ARGS... -D DATA_DIR` to completion.
 * @return Its exit status, -1 when it could not be run.
 */
int dd_benchpipe_cli(dd_benchpipe_t *bp, ...) __attribute__((sentinel));

/**
 * @brief One API request; a non-2xx answer is printed.
 * @return DD_BENCHPIPE_OK for 2xx, DD_BENCHPIPE_FAILED otherwise.
 */
dd_benchpipe_status_t dd_benchpipe_api(dd_benchpipe_t *bp, const char *method, const char *path,
                                       const char *body);

/**
 * @brief CreateSecurityProfile @p name from a JSON file (its own
 *        securityProfileName dropped) and attaches it to all things.
 */
dd_benchpipe_status_t dd_benchpipe_profile(dd_benchpipe_t *bp, const char *name, const char *file);

/**
 * @brief Issues and registers @p devices things named PREFIX0001... with EC
 *        certificates and the fleet policy (connect as the thing, publish its
 *        report topics and @p extra_topic, receive its replies), then loads
 *        their credentials.
 * @param[in] name Fleet (scenario) name; things are "<name>-NNNN".
 * @param[in] extra_topic Telemetry topic the policy also allows ("{thing}" is
 *            replaced), or NULL.
 * @param[out] sc The scenario used (dd_scenario_free()).
 * @param[out] creds devices credentials (dd_fleet_creds_free()).
 */
dd_benchpipe_status_t dd_benchpipe_fleet(dd_benchpipe_t *bp, const char *name, uint32_t devices,
                                         const char *extra_topic, dd_scenario_t *sc,
                                         dd_fleet_cred_t **creds);

/** @brief Prints the machine's state: load averages, CPUs, memory (a line prefixed by @p what). */
void dd_benchpipe_print_load(const char *what);

/**
 * @brief The whole machine's CPU time so far (all CPUs, from /proc/stat): busy
 *        (everything but idle and iowait) and total, in seconds.
 * @return true when /proc/stat could be read.
 */
bool dd_benchpipe_machine_cpu(double *busy_s, double *total_s);

/** @brief CPU seconds (user + system) used so far by process @p pid (0 = self), -1 on error. */
double dd_benchpipe_cpu_s(int pid);

/** One thread of a process and the CPU it used so far. */
typedef struct dd_benchpipe_thread {
    int tid;
    char comm[32];
    double cpu_s;
} dd_benchpipe_thread_t;

/**
 * @brief The threads of process @p pid (from /proc/PID/task).
 * @return How many were written to @p out (at most @p max).
 */
size_t dd_benchpipe_threads(int pid, dd_benchpipe_thread_t *out, size_t max);

/** @brief Pid of the child of @p parent whose command name is @p comm, 0 if none. */
int dd_benchpipe_child_pid(int parent, const char *comm);

/** @brief Sorts @p v and returns the @p q quantile (0..1, nearest rank). */
double dd_benchpipe_quantile(double *v, size_t n, double q);

/** @return Monotonic time in microseconds. */
int64_t dd_benchpipe_now_us(void);

#endif /* DD_BENCHPIPE_H_ */
