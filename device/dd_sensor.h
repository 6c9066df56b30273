/**
 * @file dd_sensor.h
 * @brief ddlocal-sensor: the workshop's telemetry device (bootstrap.sh /
 *        startdevice.py), sending a temperature to its topic every 10 s.
 *
 * Payloads, as the workshop's startdevice.py makes them:
 * - normal: a bare temperature with two decimals, uniform in 15.10..29.90
 *   (`23.45`; the workshop's `round(random.uniform(15.1,29.9),2)`, always
 *   written with two decimals here);
 * - `--compromised`: 3000 random characters of [A-Z0-9] (the workshop's
 *   Module 3/4 edit); `--payload-size N`: N such characters.
 * Published at QoS 0, by default connecting, publishing and disconnecting
 * each time as the workshop does (`--persistent` keeps one connection).
 *
 * Timing: with a pipeline clock (dd_devclock.h) the interval is pipeline
 * seconds and messages go out at pipeline times k x interval +
 * interval / 2, so every aligned 300-s window gets exactly the same number
 * of messages from every healthy sensor at any time scale (in per-message
 * mode the connection is made up to 2 real seconds ahead, so the handshake
 * does not delay the message). Without one: real seconds, the first
 * message at once. A message due while the connection is being made waits
 * for it (up to 4); while the broker refuses or cannot be reached only the
 * newest one waits, the others are counted as skipped.
 *
 * Client id. The workshop's sensor connects as its device name
 * (SensorDevice03) and its agent uses `--client_id SensorDevice03` too; two
 * connections with one client id evict each other, so every telemetry
 * connect would kick the agent off. ddlocal-sensor therefore connects as
 * `NAME-telemetry` unless `--client-id` says otherwise (pass
 * `--client-id NAME` to reproduce the workshop exactly).
 *
 * Ownership: options borrow argv's strings. Single-threaded.
 */
#ifndef DD_SENSOR_H_
#define DD_SENSOR_H_

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_devclock.h"

/** Status codes of this module. */
typedef enum dd_sensor_status {
    DD_SENSOR_OK = 0,
    DD_SENSOR_BAD_PARAMETER,
    DD_SENSOR_USAGE,        /**< Bad command line (message says why). */
    DD_SENSOR_HELP,         /**< --help was given. */
    DD_SENSOR_SETUP_FAILED, /**< Credentials unreadable. */
    DD_SENSOR_BUFFER_TOO_SMALL,
    DD_SENSOR_INCOMPLETE, /**< --count: not every message was sent. */
    DD_SENSOR_NO_MEMORY
} dd_sensor_status_t;

/** Payload length of the workshop's compromised device. */
#define DD_SENSOR_COMPROMISED_SIZE 3000
/** Largest --payload-size (AWS IoT's message limit). */
#define DD_SENSOR_MAX_PAYLOAD (128u * 1024u)
/** Where the workshop's bootstrap.sh leaves the endpoint and credentials. */
#define DD_SENSOR_ENDPOINT_FILE "/tmp/endpoint"
#define DD_SENSOR_DEFAULT_ROOTCA "/tmp/rootca.pem"
#define DD_SENSOR_DEFAULT_CERT "/tmp/cert.pem"
#define DD_SENSOR_DEFAULT_KEY "/tmp/private.key"
/** Longest wait between two connection attempts, ms: a released device is back within seconds. */
#define DD_SENSOR_BACKOFF_MAX_MS 5000u
/** Appended to the device name to make the default client id. */
#define DD_SENSOR_CLIENT_SUFFIX "-telemetry"

/** Everything the command line sets. */
typedef struct dd_sensor_options {
    const char *topic;   /**< -t/--topic (required) */
    const char *name;    /**< -n/--name, -d/--devicename (required) */
    char client_id[160]; /**< --client-id, default NAME-telemetry */
    char host[256];      /**< -e/--endpoint host, default from /tmp/endpoint */
    uint16_t port;       /**< --port or the endpoint's, default 8883 */
    const char *root_ca; /**< -r/--rootCA, default /tmp/rootca.pem */
    const char *cert;    /**< -c/--cert, default /tmp/cert.pem */
    const char *key;     /**< -k/--key, default /tmp/private.key */
    const char *alpn;    /**< --alpn, default x-amzn-mqtt-ca on port 443 */
    double interval_s;   /**< -i/--interval, default 10 */
    bool persistent;     /**< --persistent: one connection for every message */
    size_t payload_size; /**< --compromised (3000) / --payload-size N; 0 = temperature */
    long count;          /**< --count N messages then exit; 0 = until stopped */
    bool dry_run;        /**< --dry-run: print payloads, never connect */
    uint64_t seed;       /**< --seed for reproducible payloads (0 = from time and pid) */
    bool verbose;
    const char *clock_spec; /**< --clock SPEC|none (NULL: not given) */
    dd_devclock_t *clock;   /**< Set by the caller after dd_devclock_resolve() (borrowed;
                                     NULL: intervals are real seconds; the run loop
                                     follows rate changes, dd_devclock_follow()) */
} dd_sensor_options_t;

/** Counters of one run. */
typedef struct dd_sensor_stats {
    uint64_t sent;    /**< Messages written to the broker (or printed). */
    uint64_t skipped; /**< Due while no connection could be made. */
    uint64_t bytes;   /**< Payload bytes sent. */
    uint64_t connects;
} dd_sensor_stats_t;

/**
 * @brief Parses the command line (`-t TOPIC -n NAME` like bootstrap.sh, plus
 *        the connection flags of the agent).
 * @param[in] endpoint_file File read for the endpoint when -e is absent
 *            (DD_SENSOR_ENDPOINT_FILE; NULL: none).
 * @return DD_SENSOR_OK, DD_SENSOR_HELP, DD_SENSOR_USAGE or DD_SENSOR_BAD_PARAMETER.
 */
dd_sensor_status_t dd_sensor_parse_args(int argc, char **argv, const char *endpoint_file,
                                        dd_sensor_options_t *opts, char *msg, size_t msg_len);

/** @brief Prints the usage text. */
void dd_sensor_usage(FILE *out);

/**
 * @brief One payload: a temperature when @p size is 0, else @p size random
 *        characters of [A-Z0-9].
 * @param[in] size 0 or the payload length.
 * @param[in,out] rng xorshift64 state (a zero state is replaced by a constant).
 * @param[out] buf Output (NUL-terminated).
 * @param[in] len Size of @p buf (at least @p size + 1, or 8 for a temperature).
 * @param[out] out_len Payload length without the NUL.
 * @return DD_SENSOR_OK, DD_SENSOR_BAD_PARAMETER or DD_SENSOR_BUFFER_TOO_SMALL.
 */
dd_sensor_status_t dd_sensor_payload(size_t size, uint64_t *rng, char *buf, size_t len,
                                     size_t *out_len);

/**
 * @brief Runs until @p *stop is set or --count messages were sent.
 * @param[in] out Where --dry-run prints payloads, one per line.
 * @param[out] stats Optional counters.
 * @return DD_SENSOR_OK, DD_SENSOR_SETUP_FAILED, DD_SENSOR_INCOMPLETE or DD_SENSOR_NO_MEMORY.
 */
dd_sensor_status_t dd_sensor_run(const dd_sensor_options_t *opts, volatile sig_atomic_t *stop,
                                 FILE *out, dd_sensor_stats_t *stats);

/** @return Static text for @p status. */
const char *dd_sensor_strerror(dd_sensor_status_t status);

#endif /* DD_SENSOR_H_ */
