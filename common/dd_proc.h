/**
 * @file dd_proc.h
 * @brief Child processes for ddlocal's supervisors and tests: spawn with
 *        extra environment, wait for a TCP port or a file, stop and reap;
 *        plus free-port selection on loopback.
 *
 * Children get PR_SET_PDEATHSIG(SIGTERM): if the parent dies, even by
 * SIGKILL, they are told to stop, so a crashed `ddlocal up` or test leaves no
 * broker behind. dd_proc_t is caller-allocated; dd_proc_stop() reaps.
 * Not thread-safe per dd_proc_t.
 */
#ifndef DD_PROC_H_
#define DD_PROC_H_

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/** Status codes of this module. */
typedef enum dd_proc_status {
    DD_PROC_OK = 0,
    DD_PROC_BAD_PARAMETER,
    DD_PROC_SPAWN_FAILED, /**< fork/exec failed (the program is missing?). */
    DD_PROC_EXITED,       /**< The child is gone (see exit_status). */
    DD_PROC_TIMEOUT,      /**< The awaited condition did not happen in time. */
    DD_PROC_IN_USE,       /**< Port taken. */
    DD_PROC_PERMISSION,   /**< Port below 1024 without the privilege to bind it. */
    DD_PROC_SOCKET_ERROR
} dd_proc_status_t;

/** A child process. Zero-initialise. */
typedef struct dd_proc {
    pid_t pid; /**< 0 when not running. */
    bool exited;
    int exit_status; /**< waitpid() status once exited. */
    char name[32];   /**< For messages. */
} dd_proc_t;

/**
 * @brief Starts @p argv[0] (a path) with @p argv, adding @p env entries
 *        ("NAME=value", NULL-terminated list, may be NULL) to the environment.
 * @param[in] stdout_path Redirect stdout+stderr to this file (append), or NULL to inherit.
 */
dd_proc_status_t dd_proc_spawn(dd_proc_t *proc, const char *name, char *const argv[],
                               char *const env[], const char *stdout_path);

/** @brief true while the child runs (reaps it if it exited). */
bool dd_proc_alive(dd_proc_t *proc);

/**
 * @brief Waits until 127.0.0.1:@p port accepts a TCP connection, the child
 *        exits, or @p timeout_ms passes.
 */
dd_proc_status_t dd_proc_wait_port(dd_proc_t *proc, uint16_t port, int timeout_ms);

/** @brief Waits until @p path exists, the child exits, or @p timeout_ms passes. */
dd_proc_status_t dd_proc_wait_file(dd_proc_t *proc, const char *path, int timeout_ms);

/**
 * @brief Sends SIGTERM, waits up to @p grace_ms, then SIGKILL; reaps.
 *        A child that already exited is just reaped. Safe to call twice.
 */
void dd_proc_stop(dd_proc_t *proc, int grace_ms);

/** @brief Sends a signal without waiting. */
void dd_proc_signal(dd_proc_t *proc, int sig);

/**
 * @brief Picks a free TCP port on 127.0.0.1 (binds port 0, reads it, closes).
 *        Another process could take it before use: callers retry on failure.
 */
dd_proc_status_t dd_proc_free_port(uint16_t *port);

/** @brief DD_PROC_OK when @p addr:@p port can be bound now; DD_PROC_IN_USE or DD_PROC_PERMISSION otherwise. */
dd_proc_status_t dd_proc_port_available(const char *addr, uint16_t port);

/** @brief Describes how a child ended ("exited with status 1", "killed by signal 9"). */
void dd_proc_describe_exit(const dd_proc_t *proc, char *buf, size_t len);

/** @return Static text for @p status. */
const char *dd_proc_strerror(dd_proc_status_t status);

#endif /* DD_PROC_H_ */
