/**
 * @file dd_devicehost.h
 * @brief A simulated device host: a network namespace of its own whose
 *        programs (ddlocal-sensor, ddlocal-agent, a shell) reach the broker
 *        through 127.0.0.1:8883 and 127.0.0.1:443 of that namespace.
 *
 * Why: Device Defender's bytes out are everything the device sends. On a
 * shared machine /proc/net/dev counts the whole host; inside a network
 * namespace of its own it counts only the device's programs. The namespace
 * has only a loopback interface, and the kernel counts each byte on it once
 * as sent and once as received, so "bytes out" there is the device's
 * traffic in both directions - still the device's alone.
 *
 * How: a short-lived helper process creates the namespace (root directly,
 * others inside a user namespace: Debian allows unprivileged ones), brings
 * its loopback up, opens the listening sockets 127.0.0.1:8883 and :443 in it
 * and hands them (and the namespace files) to the relay process over a Unix
 * socket. A socket stays in the namespace it was created in, so the relay,
 * itself in the host's namespace, accepts the device's connections there and
 * connects to the broker's loopback ports here. Each connection is relayed by
 * a thread of its own; a connection the broker drops (a quarantined device)
 * ends that connection only and the relay keeps accepting new ones.
 *
 * Two ways to use it:
 * - dd_devicehost_start()/exec()/stop(): the demo's device; the namespace's
 *   init process runs programs in named slots, the relay runs in the caller.
 * - dd_devicehost_open()/run()/close(): `ddlocal device NAME`. The relay is a
 *   holder process of its own, one per device and state dir, found through
 *   the control socket STATE_DIR/control.sock (its pid in STATE_DIR/holder.pid).
 *   Every open session is one connection to it; a session's programs join
 *   the namespace with setns(). The holder lives while any session is open;
 *   when the last one closes it removes its files, sends SIGTERM to programs
 *   left in the namespace and ends. A control socket nobody answers (a killed
 *   holder) is stale and replaced.
 *
 * Ownership: dd_devicehost_t and dd_devicehost_session_t are caller-allocated.
 * dd_devicehost_stop() ends the demo's host and every program in its slots
 * (they also die with their parent); dd_devicehost_close() releases a
 * session. Not thread-safe; dd_devicehost_start() and dd_devicehost_open()
 * must be called while the process has a single thread (a user namespace
 * can only be entered by a single-threaded process).
 */
#ifndef DD_DEVICEHOST_H_
#define DD_DEVICEHOST_H_

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/** Status codes of this module. */
typedef enum dd_devicehost_status {
    DD_DEVICEHOST_OK = 0,
    DD_DEVICEHOST_BAD_PARAMETER,
    DD_DEVICEHOST_NO_NAMESPACE, /**< Network namespaces are not available here. */
    DD_DEVICEHOST_FAILED,       /**< Sockets, threads or processes could not be set up. */
    DD_DEVICEHOST_HOLDER_GONE   /**< The session's holder does not answer (killed?). */
} dd_devicehost_status_t;

/** Ports the devices use inside the namespace: the 8883 role and the 443 role. */
#define DD_DEVICEHOST_PORT 8883
#define DD_DEVICEHOST_ALPN_PORT 443
/** Number of relayed ports. */
#define DD_DEVICEHOST_RELAYS 2

/** One relayed port: namespace 127.0.0.1:ns_port -> host 127.0.0.1:broker_port. */
typedef struct dd_devicehost_relay {
    uint16_t ns_port;
    uint16_t broker_port; /**< 0: connections are refused. Read atomically. */
    int listen_fd;        /**< Listening socket inside the namespace. */
    pthread_t thread;
    bool running;
} dd_devicehost_relay_t;

/** The demo's device host. */
typedef struct dd_devicehost {
    pid_t pid;      /**< The namespace's init process. */
    int control_fd; /**< Commands to it (start/stop programs). */
    dd_devicehost_relay_t relays[DD_DEVICEHOST_RELAYS];
    size_t relay_count;
} dd_devicehost_t;

/** One open `ddlocal device` session. */
typedef struct dd_devicehost_session {
    int control_fd; /**< Connection to the holder; open while the session is. */
    int netns_fd;   /**< The device's network namespace. */
    int userns_fd;  /**< Its user namespace, or -1 (root needs none). */
    pid_t holder_pid;
    bool holder_is_child; /**< This process started the holder. */
    bool joined;          /**< Another session had the namespace open already. */
    bool stale_removed;   /**< A dead holder's files were found and removed. */
    unsigned sessions;    /**< Sessions open, this one included, when it opened. */
} dd_devicehost_session_t;

/**
 * @brief Creates the namespace and the relays for the demo.
 * @param[in] run_dir Directory of the pipeline's run files (checked; the host
 *            keeps no files there since the relays need none).
 * @param[in] mqtt_port The broker's 8883-role port on the host's 127.0.0.1.
 * @param[in] alpn_port The broker's 443-role port, or 0 for none.
 * @return DD_DEVICEHOST_OK, DD_DEVICEHOST_BAD_PARAMETER, DD_DEVICEHOST_NO_NAMESPACE
 *         or DD_DEVICEHOST_FAILED.
 */
dd_devicehost_status_t dd_devicehost_start(dd_devicehost_t *host, const char *run_dir,
                                           uint16_t mqtt_port, uint16_t alpn_port);

/**
 * @brief Starts a program inside the namespace under a slot name
 *        ("sensor", "agent"; 1 to 15 characters); a program already in that
 *        slot is stopped first.
 * @param[in] argv Program and arguments (argv[0] is a path).
 * @param[in] log_path stdout/stderr of the program (appended).
 * @return DD_DEVICEHOST_OK, DD_DEVICEHOST_BAD_PARAMETER (no host, command too long)
 *         or DD_DEVICEHOST_FAILED (the namespace's init has gone).
 */
dd_devicehost_status_t dd_devicehost_exec(dd_devicehost_t *host, const char *slot,
                                          char *const argv[], const char *log_path);

/** @brief Stops every program, the namespace and the relays; safe on a failed start. */
void dd_devicehost_stop(dd_devicehost_t *host);

/**
 * @brief Opens a session on the device of @p state_dir: joins the holder
 *        that is running there, or starts one (and the namespace).
 * @param[out] session Filled on success.
 * @param[in] state_dir Per-device directory (created if missing), e.g.
 *            DIR/run/device-SensorDevice03.
 * @param[in] mqtt_port The broker's 8883-role port; a joined holder relays to
 *            it from now on (the pipeline may have been restarted).
 * @param[in] alpn_port The broker's 443-role port, or 0 for none.
 * @param[in] log_path A new holder's log (appended), or NULL for none.
 * @return DD_DEVICEHOST_OK, DD_DEVICEHOST_BAD_PARAMETER, DD_DEVICEHOST_NO_NAMESPACE
 *         or DD_DEVICEHOST_FAILED.
 */
dd_devicehost_status_t dd_devicehost_open(dd_devicehost_session_t *session, const char *state_dir,
                                          uint16_t mqtt_port, uint16_t alpn_port,
                                          const char *log_path);

/**
 * @brief Runs a program (typically a shell) inside the session's namespace,
 *        in the foreground with the caller's terminal and environment, and
 *        returns when it exits. SIGINT and SIGQUIT are the program's: this
 *        process ignores them meanwhile.
 * @param[in] argv Program and arguments; argv[0] is looked up in PATH.
 * @param[out] exit_status The program's exit status (128 + signal when killed,
 *             127 when it cannot be started).
 * @return DD_DEVICEHOST_OK, DD_DEVICEHOST_BAD_PARAMETER or DD_DEVICEHOST_FAILED.
 */
dd_devicehost_status_t dd_devicehost_run(const dd_devicehost_session_t *session, char *const argv[],
                                         int *exit_status);

/**
 * @brief Closes a session. The last session's close ends the holder and
 *        returns once the holder has removed its files.
 * @param[out] remaining Sessions still open afterwards (may be NULL).
 * @return DD_DEVICEHOST_OK, DD_DEVICEHOST_BAD_PARAMETER or
 *         DD_DEVICEHOST_HOLDER_GONE (the holder was gone already).
 */
dd_devicehost_status_t dd_devicehost_close(dd_devicehost_session_t *session, unsigned *remaining);

/** @return Static text for @p status. */
const char *dd_devicehost_strerror(dd_devicehost_status_t status);

#endif /* DD_DEVICEHOST_H_ */
