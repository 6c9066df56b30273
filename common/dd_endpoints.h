/**
 * @file dd_endpoints.h
 * @brief DATA_DIR/endpoints.json, the file `ddlocal up` writes once the pipeline is ready:
 *        its ports and paths, and who wrote it - so that a reader can tell a running
 *        pipeline from the file a killed one left behind.
 *
 * A `ddlocal up` killed with SIGKILL cannot remove its endpoints.json; its children end with it
 * (PR_SET_PDEATHSIG) but the file stays. Every reader therefore checks the writer: the file
 * names the pid of `ddlocal up` and that process's start time (/proc/PID/stat, clock ticks
 * since boot). The pipeline counts as running only while a process with that pid *and* that
 * start time exists and is not a zombie - a pid reused by another program after a reboot or a
 * wrap-around has another start time. A file without a start time (written by an older
 * ddlocal) is judged by the pid and the process name "ddlocal".
 *
 * dd_endpoints_t is caller-allocated and plain data (no heap). Functions are reentrant.
 */
#ifndef DD_ENDPOINTS_H_
#define DD_ENDPOINTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Name of the file inside the data dir. */
#define DD_ENDPOINTS_FILE "endpoints.json"

/** Children named in the file (mosquitto, ddlocald, isolator). */
#define DD_ENDPOINTS_MAX_PROCS 4

/** Status codes of this module. */
typedef enum dd_endpoints_status {
    DD_ENDPOINTS_OK = 0, /**< The file exists and its writer is alive. */
    DD_ENDPOINTS_BAD_PARAMETER,
    DD_ENDPOINTS_NOT_RUNNING, /**< No endpoints.json: the pipeline is not up. */
    DD_ENDPOINTS_STALE,       /**< The file exists but its writer is gone (killed?). */
    DD_ENDPOINTS_BAD_FORMAT,  /**< The file is not the JSON expected. */
    DD_ENDPOINTS_WRITE_FAILED
} dd_endpoints_status_t;

/** One process of the pipeline. */
typedef struct dd_endpoints_proc {
    char name[16];  /**< "mosquitto", "ddlocald", "isolator" */
    int pid;        /**< 0: none */
    uint64_t start; /**< Start time, clock ticks since boot (/proc/PID/stat field 22). */
} dd_endpoints_proc_t;

/** What endpoints.json says. */
typedef struct dd_endpoints {
    char mqtt_host[64];
    unsigned mqtt_port;
    unsigned alpn_port;
    char api[128];     /**< "http://127.0.0.1:P" */
    char console[160]; /**< "http://127.0.0.1:P/console/" (the API's console), "" when none. */
    char root_ca[600];
    char data_dir[512];
    char clock[96];         /**< dd_clock spec of the pipeline. */
    dd_endpoints_proc_t up; /**< `ddlocal up` itself: the writer. */
    dd_endpoints_proc_t procs[DD_ENDPOINTS_MAX_PROCS];
    size_t proc_count;
} dd_endpoints_t;

/**
 * @brief Reads DATA_DIR/endpoints.json and checks that its writer still runs.
 * @param[in] data_dir The data dir.
 * @param[out] out Filled for DD_ENDPOINTS_OK and DD_ENDPOINTS_STALE (zeroed otherwise).
 * @return DD_ENDPOINTS_OK, DD_ENDPOINTS_NOT_RUNNING, DD_ENDPOINTS_STALE, DD_ENDPOINTS_BAD_FORMAT
 *         or DD_ENDPOINTS_BAD_PARAMETER.
 */
dd_endpoints_status_t dd_endpoints_read(const char *data_dir, dd_endpoints_t *out);

/**
 * @brief Writes DATA_DIR/endpoints.json atomically (readers see the old file or the new one).
 * @param[in] data_dir The data dir.
 * @param[in] ep What to write; ep->up names the writer (pid and start time).
 * @return DD_ENDPOINTS_OK, DD_ENDPOINTS_WRITE_FAILED or DD_ENDPOINTS_BAD_PARAMETER.
 */
dd_endpoints_status_t dd_endpoints_write(const char *data_dir, const dd_endpoints_t *ep);

/**
 * @brief Replaces the "clock" member of a running pipeline's DATA_DIR/endpoints.json (the rest
 *        is kept) atomically. ddlocald calls it when the clock's rate changes at run time
 *        (POST /ddlocal/v1/clock {"scale":X}): device programs re-read the member, and `ddlocal
 *        up` restarts ddlocald on it.
 * @param[in] data_dir The data dir.
 * @param[in] spec The new dd_clock spec.
 * @return DD_ENDPOINTS_OK, DD_ENDPOINTS_NOT_RUNNING (no file, or its `up` is gone: nothing
 *         written), DD_ENDPOINTS_BAD_FORMAT, DD_ENDPOINTS_WRITE_FAILED or BAD_PARAMETER.
 */
dd_endpoints_status_t dd_endpoints_set_clock(const char *data_dir, const char *spec);

/**
 * @brief Fills @p proc with @p name, @p pid and the pid's start time.
 * @return DD_ENDPOINTS_OK, DD_ENDPOINTS_NOT_RUNNING (no such process) or BAD_PARAMETER.
 */
dd_endpoints_status_t dd_endpoints_proc_init(dd_endpoints_proc_t *proc, const char *name, int pid);

/**
 * @brief true while the process of @p proc runs: same pid, same start time (when known), not a
 *        zombie; without a start time, also its name is "ddlocal".
 */
bool dd_endpoints_proc_alive(const dd_endpoints_proc_t *proc);

/** @return Static text for @p status. */
const char *dd_endpoints_strerror(dd_endpoints_status_t status);

#endif /* DD_ENDPOINTS_H_ */
