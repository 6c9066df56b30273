/**
 * @file dd_pipetest.h
 * @brief Harness for integration tests of the whole pipeline: runs
 *        `ddlocal up` on a fresh temporary data dir (free ports, manual
 *        clock), and gives tests the CLI, the HTTP API, the store (read
 *        only) and synchronous MQTT clients (libmosquitto) with deadlines.
 *
 * Ownership: dd_pipetest_t is caller-allocated and filled by
 * dd_pipetest_start(); dd_pipetest_stop() stops `ddlocal up` (SIGINT, then
 * SIGKILL after a grace period), removes the temporary dir and may be called
 * twice. `up` is started with PR_SET_PDEATHSIG(SIGTERM) (dd_proc), so a test
 * process that dies leaves no broker behind; pipelines still running at
 * exit() are stopped by an atexit handler. Set DD_PIPETEST_KEEP=1 in the
 * environment to keep the data dir for inspection.
 *
 * MQTT clients (dd_pipetest_mqtt_t) are dd_testmqtt clients with the
 * pipeline's credentials and ports. Each runs a network thread of its own (no automatic reconnection: a lost
 * connection stays lost until dd_pipetest_mqtt_connect() is called again);
 * received messages queue inside the client until taken. A client may be
 * used from any one thread at a time; different clients from different
 * threads. Messages taken belong to the caller until
 * dd_pipetest_msg_free().
 *
 * Everything waits with deadlines, never fixed sleeps. Functions other than
 * the MQTT ones must be called from the thread that started the pipeline.
 */
#ifndef DD_PIPETEST_H_
#define DD_PIPETEST_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "dd_clock.h"
#include "dd_proc.h"
#include "dd_testmqtt.h"

/** Status codes of this module. */
typedef enum dd_pipetest_status {
    DD_PIPETEST_OK = 0,
    DD_PIPETEST_BAD_PARAMETER,
    DD_PIPETEST_NO_MEMORY,
    DD_PIPETEST_FAILED,       /**< A program, request or query failed (message on stderr). */
    DD_PIPETEST_TIMEOUT,      /**< The awaited event did not happen before the deadline. */
    DD_PIPETEST_DISCONNECTED, /**< The MQTT connection is (or got) closed. */
    DD_PIPETEST_UNSUPPORTED   /**< This machine cannot do what was asked (e.g. mount a tmpfs). */
} dd_pipetest_status_t;

/** How to start the pipeline. Zero-initialise; everything is optional. */
typedef struct dd_pipetest_options {
    const char *isolator;          /**< `--isolator TOPIC:GROUP`, or NULL. */
    const char *const *extra_args; /**< More `ddlocal up` arguments, NULL-terminated, or NULL. */
    int start_timeout_ms;          /**< 0 = 60000. */
    /**
     * A tmpfs size (mount's size=, e.g. "16m") to make the data dir a small
     * file system of its own (mounted before `up` starts, unmounted by
     * dd_pipetest_stop()), or NULL. Needs the right to mount (root):
     * otherwise dd_pipetest_start() returns DD_PIPETEST_UNSUPPORTED.
     */
    const char *data_dir_tmpfs;
    /** `--time-scale X` instead of `--manual-clock` (e.g. "60"), or NULL: manual clock. */
    const char *time_scale;
} dd_pipetest_options_t;

/** A running pipeline. */
typedef struct dd_pipetest {
    char tmp_dir[64];   /**< mkdtemp() dir, removed by dd_pipetest_stop(). */
    char data_dir[128]; /**< tmp_dir/data: the pipeline's data dir. */
    char up_log[128];   /**< tmp_dir/up.log: `ddlocal up`'s output. */
    dd_proc_t up;
    uint16_t mqtt_port;
    uint16_t alpn_port;
    char api[128]; /**< "http://127.0.0.1:P" */
    char root_ca[600];
    char service_cert[600];
    char service_key[600];
    bool passed; /**< Set by the test when it passed: stop() shows logs otherwise. */
    bool started;
    bool tmpfs_mounted; /**< data_dir is a tmpfs mounted by dd_pipetest_start(). */
} dd_pipetest_t;

/**
 * @brief Creates a temporary data dir and runs `ddlocal up` on it with port
 *        0s, `--manual-clock` (or opts->time_scale) and `--no-status`; returns once endpoints.json
 *        is written and read.
 * @param[out] pt Receives the pipeline.
 * @param[in] opts Options, or NULL.
 * @return DD_PIPETEST_OK, DD_PIPETEST_FAILED (up exited: its output is
 *         printed) or DD_PIPETEST_TIMEOUT. On failure nothing is left running
 *         and the dir is removed.
 */
dd_pipetest_status_t dd_pipetest_start(dd_pipetest_t *pt, const dd_pipetest_options_t *opts);

/**
 * @brief Stops `ddlocal up` (SIGINT; SIGKILL after 30 s), checks the logs
 *        for sanitizer reports, prints the logs' last lines unless
 *        pt->passed, removes the temporary dir.
 * @return The exit status of `up` (0 after a clean stop), -1 when it had to
 *         be killed, was not running, or a log holds an ASan/UBSan/LSan report.
 */
int dd_pipetest_stop(dd_pipetest_t *pt);

/** @brief Prints the last lines of up.log, ddlocald.log, isolator.log and mosquitto.log. */
void dd_pipetest_dump_logs(const dd_pipetest_t *pt);

/** @brief Absolute path of a file under the source tree's fixtures/ (e.g. "profiles/x.json"). */
void dd_pipetest_fixture(const char *rel, char *buf, size_t len);

/**
 * @brief Runs `ddlocal ARGS... -D DATA_DIR` to completion (at most 60 s).
 * @param[out] output Optional: malloc'd stdout+stderr of the command (caller frees).
 * @param[in] ... Arguments (const char *), terminated by NULL.
 * @return The exit status, or -1 when it could not be run or timed out.
 */
int dd_pipetest_cli(dd_pipetest_t *pt, char **output, ...) __attribute__((sentinel));

/**
 * @brief `ddlocal thing create NAME --with-cert --key-type ec [--policy P]`.
 * @param[out] cert DATA_DIR/things/NAME/cert.pem (buffer of 600), may be NULL.
 * @param[out] key  DATA_DIR/things/NAME/private.key (buffer of 600), may be NULL.
 */
dd_pipetest_status_t dd_pipetest_thing(dd_pipetest_t *pt, const char *name, const char *policy,
                                       char *cert, char *key);

/**
 * @brief One HTTP request to the API.
 * @param[in] body JSON text or NULL.
 * @param[out] http_status Optional.
 * @param[out] out Optional: the parsed JSON response (caller frees; NULL if none).
 * @return DD_PIPETEST_OK for a 2xx answer, DD_PIPETEST_FAILED otherwise
 *         (status and body printed).
 */
dd_pipetest_status_t dd_pipetest_api(dd_pipetest_t *pt, const char *method, const char *path,
                                     const char *body, long *http_status, cJSON **out);

/**
 * @brief CreateSecurityProfile NAME from a fixture file (its own
 *        securityProfileName is ignored) and AttachSecurityProfile to
 *        all things (arn:aws:iot:us-east-1:123456789012:all/things).
 */
dd_pipetest_status_t dd_pipetest_profile(dd_pipetest_t *pt, const char *name,
                                         const char *fixture_rel);

/**
 * @brief Lists every violation event (all pages, whole time range),
 *        optionally of one thing.
 * @param[out] events A cJSON array (caller frees).
 */
dd_pipetest_status_t dd_pipetest_violation_events(dd_pipetest_t *pt, const char *thing,
                                                  cJSON **events);

/**
 * @brief ListActiveViolations (all pages), optionally of one thing.
 * @param[out] actives A cJSON array (caller frees).
 */
dd_pipetest_status_t dd_pipetest_active_violations(dd_pipetest_t *pt, const char *thing,
                                                   cJSON **actives);

/**
 * @brief Advances the manual clock (POST /ddlocal/v1/clock); returns after
 *        windows closed and the engine ticked.
 * @param[out] now_ms Optional: the new pipeline time.
 */
dd_pipetest_status_t dd_pipetest_clock_advance(dd_pipetest_t *pt, double seconds, int64_t *now_ms);

/** @brief The pipeline time (GET /ddlocal/v1/clock). */
dd_pipetest_status_t dd_pipetest_clock_now(dd_pipetest_t *pt, int64_t *now_ms);

/** @brief A number of GET /ddlocal/v1/status, e.g. "reportsAccepted". */
dd_pipetest_status_t dd_pipetest_status_number(dd_pipetest_t *pt, const char *member,
                                               double *value);

/** @brief ddlocald's pid, from DATA_DIR/run/ddlocald.ready (0 if not there). */
pid_t dd_pipetest_ddlocald_pid(const dd_pipetest_t *pt);

/**
 * @brief Runs a one-integer query on DATA_DIR/ddlocal.db, opened read-only.
 * @param[in] sql e.g. "SELECT count(*) FROM ev_reports".
 */
dd_pipetest_status_t dd_pipetest_db_int(const dd_pipetest_t *pt, const char *sql, int64_t *value);

/**
 * @brief Runs a query on DATA_DIR/ddlocal.db (read-only) and calls @p row for
 *        each row with its columns as text (NULL for SQL NULL).
 * @return DD_PIPETEST_OK, or DD_PIPETEST_FAILED (also when @p row returns non-zero).
 */
dd_pipetest_status_t dd_pipetest_db_rows(const dd_pipetest_t *pt, const char *sql,
                                         int (*row)(void *ctx, int ncols, const char *const *cols),
                                         void *ctx);

/**
 * @brief Counts lines of a log file containing @p needle (e.g. the broker's
 *        "Client ddlocald closed its connection").
 * @param[in] rel Path under the data dir, e.g. "broker/mosquitto.log".
 */
int dd_pipetest_log_count(const dd_pipetest_t *pt, const char *rel, const char *needle);

/* ---- MQTT ----------------------------------------------------------------------------------- */

/** One received message (dd_testmqtt's); topic and payload are NUL-terminated copies. */
typedef dd_testmqtt_msg_t dd_pipetest_msg_t;

/** A client: dd_testmqtt's, with the pipeline's credentials and ports. */
typedef dd_testmqtt_t dd_pipetest_mqtt_t;

/**
 * @brief Creates an MQTT 3.1.1 client of the pipeline's broker (not connected).
 * @param[in] client_id Client id.
 * @param[in] cert Certificate PEM, or NULL for the service identity.
 * @param[in] key Private key PEM, or NULL for the service identity.
 * @param[in] clean_session false: a persistent session.
 */
dd_pipetest_status_t dd_pipetest_mqtt_new(const dd_pipetest_t *pt, const char *client_id,
                                          const char *cert, const char *key, bool clean_session,
                                          dd_pipetest_mqtt_t **out);

/**
 * @brief Makes the client dial the pipeline's ALPN listener (the 443 role)
 *        offering ALPN @p alpn (e.g. "x-amzn-mqtt-ca"), as AWS SDK v2 agents
 *        do. Call before dd_pipetest_mqtt_connect().
 */
dd_pipetest_status_t dd_pipetest_mqtt_use_alpn(dd_pipetest_mqtt_t *c, const dd_pipetest_t *pt,
                                               const char *alpn);

/**
 * @brief Makes the client speak MQTT 5 (libmosquitto's MOSQ_OPT_PROTOCOL_VERSION) instead of
 *        3.1.1. Call before the first dd_pipetest_mqtt_connect(). Then the CONNACK code, the
 *        granted QoS of a SUBACK and dd_pipetest_mqtt_puback_reason() /
 *        dd_pipetest_mqtt_disconnect_reason() are MQTT 5 reason codes (0x87 = 135 not
 *        authorized, 0x98 = 152 administrative action, ...).
 */
dd_pipetest_status_t dd_pipetest_mqtt_use_v5(dd_pipetest_mqtt_t *c);

/** @return The reason code of the last PUBACK received (0 for a 3.1.1 client), -1 for NULL. */
int dd_pipetest_mqtt_puback_reason(dd_pipetest_mqtt_t *c);

/**
 * @return The reason code of the broker's DISCONNECT that ended the last connection (MQTT 5),
 *         else libmosquitto's rc for the loss (0 before any), -1 for NULL.
 */
int dd_pipetest_mqtt_disconnect_reason(dd_pipetest_mqtt_t *c);

/**
 * @brief Connects (again) and waits for the CONNACK.
 * @return The CONNACK code (0 = accepted, 5 = not authorised, ...; MQTT 5: 0x87 = 135), or -1
 *         when the connection failed or closed without a CONNACK, or timed out.
 */
int dd_pipetest_mqtt_connect(dd_pipetest_mqtt_t *c, int timeout_ms);

/**
 * @brief Subscribes and waits for the SUBACK.
 * @param[out] granted Optional: the granted QoS (128 = refused).
 */
dd_pipetest_status_t dd_pipetest_mqtt_subscribe(dd_pipetest_mqtt_t *c, const char *filter, int qos,
                                                int timeout_ms, int *granted);

/**
 * @brief Publishes. QoS 1 waits for the PUBACK; QoS 0 returns once queued.
 * @return DD_PIPETEST_OK, DD_PIPETEST_DISCONNECTED (lost before the PUBACK, or
 *         not connected), DD_PIPETEST_TIMEOUT or DD_PIPETEST_FAILED.
 */
dd_pipetest_status_t dd_pipetest_mqtt_publish(dd_pipetest_mqtt_t *c, const char *topic,
                                              const void *payload, size_t len, int qos,
                                              int timeout_ms);

/**
 * @brief Waits for the first queued message whose topic matches @p filter
 *        (MQTT wildcards) and takes it; other messages stay queued.
 * @param[out] out The message (caller frees with dd_pipetest_msg_free()).
 * @return DD_PIPETEST_OK or DD_PIPETEST_TIMEOUT.
 */
dd_pipetest_status_t dd_pipetest_mqtt_wait_message(dd_pipetest_mqtt_t *c, const char *filter,
                                                   int timeout_ms, dd_pipetest_msg_t **out);

/**
 * @brief Takes every queued message, waiting at most @p timeout_ms for the first.
 * @param[out] head Oldest first, NULL when none.
 * @return How many were taken.
 */
size_t dd_pipetest_mqtt_take(dd_pipetest_mqtt_t *c, int timeout_ms, dd_pipetest_msg_t **head);

/** @brief Number of queued messages matching @p filter (NULL: all), without taking them. */
size_t dd_pipetest_mqtt_queued(dd_pipetest_mqtt_t *c, const char *filter);

/** @brief Waits until the connection is closed. @return true if it is. */
bool dd_pipetest_mqtt_wait_disconnect(dd_pipetest_mqtt_t *c, int timeout_ms);

/** @return true while connected (CONNACK 0 received, not yet closed). */
bool dd_pipetest_mqtt_connected(dd_pipetest_mqtt_t *c);

/** @brief Disconnects cleanly, stops the thread, frees queued messages. NULL is ignored. */
void dd_pipetest_mqtt_destroy(dd_pipetest_mqtt_t *c);

/** @brief Frees a list of messages. */
void dd_pipetest_msg_free(dd_pipetest_msg_t *head);

/**
 * @brief Parses a Device Defender reply (or any JSON / CBOR payload) into
 *        cJSON: CBOR when the topic's format segment is "cbor", else JSON.
 *        CBOR maps become objects (text keys), integers numbers.
 * @return The parsed value (caller frees) or NULL.
 */
cJSON *dd_pipetest_reply_parse(const dd_pipetest_msg_t *m);

/**
 * @brief Unwraps an SNS stand-in message (the Lambda event
 *        {"Records":[{"Sns":{"Message":"<alert JSON>",...}}]}).
 * @param[out] envelope Optional: the whole event (caller frees).
 * @return The alert parsed from Records[0].Sns.Message (caller frees), or
 *         NULL when the message is not such an event.
 */
cJSON *dd_pipetest_sns_alert(const dd_pipetest_msg_t *m, cJSON **envelope);

/** @return Static text for @p status. */
const char *dd_pipetest_strerror(dd_pipetest_status_t status);

#endif /* DD_PIPETEST_H_ */
