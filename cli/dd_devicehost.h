/**
 * @file dd_devicehost.h
 * @brief A simulated device host: a process in its own network namespace
 *        whose programs (ddlocal-sensor, ddlocal-agent) reach the broker
 *        through 127.0.0.1:8883 of that namespace.
 *
 * Why: Device Defender's bytes out are everything the device sends. On a
 * shared machine /proc/net/dev counts the whole host; inside a network
 * namespace of its own it counts only the device's programs. The namespace
 * has only a loopback interface, and the kernel counts each byte on it once
 * as sent and once as received, so "bytes out" there is the device's
 * traffic in both directions - still the device's alone.
 *
 * How: the host side listens on a Unix socket (Unix sockets are reachable
 * across network namespaces) and relays each connection to the broker's
 * TCP port; inside the namespace the device host listens on 127.0.0.1:8883
 * and relays to that Unix socket. Root creates the namespace directly;
 * others get it inside a user namespace (Debian allows unprivileged ones).
 *
 * Ownership: dd_devicehost_t is caller-allocated; dd_devicehost_stop()
 * ends the host and every device program (they also die with their parent).
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
    DD_DEVICEHOST_NO_NAMESPACE,   /**< Network namespaces are not available here. */
    DD_DEVICEHOST_FAILED          /**< Sockets, threads or processes could not be set up. */
} dd_devicehost_status_t;

/** Ports the devices use inside the namespace: the 8883 role and the 443 role. */
#define DD_DEVICEHOST_PORT 8883
#define DD_DEVICEHOST_ALPN_PORT 443

/** One relayed port: namespace 127.0.0.1:ns_port -> Unix socket -> host 127.0.0.1:broker_port. */
typedef struct dd_devicehost_relay {
    uint16_t ns_port;
    uint16_t broker_port;
    int listen_fd;              /**< Host side: the Unix socket. */
    pthread_t thread;
    bool running;
    char socket_path[108];
} dd_devicehost_relay_t;

/** A running device host. */
typedef struct dd_devicehost {
    pid_t pid;                  /**< The namespace's init process. */
    int control_fd;             /**< Commands to it (start/stop programs). */
    dd_devicehost_relay_t relays[2];
    size_t relay_count;
} dd_devicehost_t;

/**
 * @brief Creates the namespace and the relays.
 * @param[in] run_dir Directory for the Unix sockets.
 * @param[in] mqtt_port The broker's 8883-role port on the host's 127.0.0.1.
 * @param[in] alpn_port The broker's 443-role port, or 0 for none.
 */
dd_devicehost_status_t dd_devicehost_start(dd_devicehost_t *host, const char *run_dir,
                                           uint16_t mqtt_port, uint16_t alpn_port);

/**
 * @brief Runs one program (typically a shell) inside a new device namespace,
 *        in the foreground with the caller's terminal, and returns when it
 *        exits.
 * @param[out] exit_status The program's exit status (128 + signal when killed).
 */
dd_devicehost_status_t dd_devicehost_run(const char *run_dir, uint16_t mqtt_port, uint16_t alpn_port,
                                         char *const argv[], int *exit_status);

/**
 * @brief Starts a program inside the namespace under a slot name
 *        ("sensor", "agent"; 1 to 15 characters); a program already in that
 *        slot is stopped first.
 * @param[in] argv Program and arguments (argv[0] is a path).
 * @param[in] log_path stdout/stderr of the program (appended).
 */
dd_devicehost_status_t dd_devicehost_exec(dd_devicehost_t *host, const char *slot, char *const argv[],
                                          const char *log_path);

/** @brief Stops every program, the namespace and the relays. */
void dd_devicehost_stop(dd_devicehost_t *host);

/** @return Static text for @p status. */
const char *dd_devicehost_strerror(dd_devicehost_status_t status);

#endif /* DD_DEVICEHOST_H_ */
