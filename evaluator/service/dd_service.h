/**
 * @file dd_service.h
 * @brief ddlocald assembled: the pipeline (database, registry, store,
 *        engine, clock), the broker session, report and metering intake,
 *        registry sync to the shim, ticks, alerts and the HTTP API.
 *
 * The pipeline is opened with dd_pipeline_open() (pipeline/dd_pipeline.h),
 * with this service as the observer of the engine's outputs: which event
 * goes to which alert target is app/dd_detect's decision
 * (dd_detect_alert_fanout()), the payloads and their delivery are the
 * service's (dd_alerts, the outbox). The /ddlocal/v1/ operations are
 * dd_ctlapi.h's.
 *
 * Threads: the worker (dd_service_run(), usually the main thread) takes
 * batches of messages from the broker session and processes them under the
 * pipeline lock; libmosquitto's network thread; libmicrohttpd's threads for
 * the API; the webhook deliverer; the WAL checkpointer (its own database
 * connection; commits only wake it, so no commit waits for a checkpoint's
 * fsyncs; a commit that finds the WAL at 4x the checkpoint threshold
 * truncates it). Everything that produces an outbound
 * message (reply, SNS alert, webhook) does so into the outbox inside its
 * transaction; the worker sends it after the commit. A batch the store
 * cannot take (disk full, database locked) is held and tried again, and no
 * new message is taken meanwhile: the broker keeps them; the status says
 * so (storeWritable).
 *
 * Ownership: dd_service_create() allocates everything and
 * dd_service_destroy() releases it; the config is copied.
 */
#ifndef DD_SERVICE_H_
#define DD_SERVICE_H_

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "dd_ingest.h"
#include "dd_names.h"
#include "dd_pipeline.h"

/** Status codes of this module. */
typedef enum dd_service_status {
    DD_SERVICE_OK = 0,
    DD_SERVICE_BAD_PARAMETER,
    DD_SERVICE_NO_MEMORY,
    DD_SERVICE_DB_ERROR,   /**< Database, registry or store could not be opened/loaded. */
    DD_SERVICE_PKI_ERROR,  /**< Service credentials missing. */
    DD_SERVICE_MQTT_ERROR, /**< Broker session could not be created. */
    DD_SERVICE_API_ERROR   /**< The HTTP API could not listen. */
} dd_service_status_t;

/** ddlocald settings. */
typedef struct dd_service_config {
    char data_dir[512];   /**< Absolute data dir. */
    char broker_host[64]; /**< "127.0.0.1" */
    uint16_t broker_port; /**< The 8883-role listener. */
    char api_bind[64];    /**< "127.0.0.1" */
    uint16_t api_port;    /**< 0 = choose. */
    bool api_enabled;
    char clock_spec[DD_CLOCK_SPEC_MAX]; /**< dd_clock spec; "" = real. */
    dd_arn_ctx_t arn;
    bool arn_explicit; /**< false: take region/account from the data dir's settings. */
    dd_ingest_config_t ingest;
    int tick_ms;            /**< Wall ms between engine ticks (0 = 1000). */
    int webhook_attempts;   /**< Deliveries tried before a dead letter (0 = 4). */
    int webhook_backoff_ms; /**< Wait before the 2nd attempt, doubled each time (0 = 1000). */
    bool id_seed_set;       /**< true: dd_seed_set(id_seed) at open - ids, keys and certificates of
                           the process and violation ids are deterministic (same inputs, same
                           output). */
    uint64_t id_seed;       /**< The seed, when @c id_seed_set. */
    int lambda_backoff_ms; /**< Lambda retries: wait before the 2nd attempt, doubled (0 = 60000). */
    char lambda_runner[512]; /**< ddlocal_lambda_runner.py; "" = DD_LAMBDA_RUNNER_DEFAULT. */
    char lambda_python
        [256]; /**< Interpreter for it; "" = /usr/bin/python3 (Debian's, with its boto3). */
    char console_dir[512]; /**< The console's files (dd_console_dir()); "" = its default. */
    char ready_file[600];  /**< Written (atomically) once ready: {"api":URL,"pid":N}; "" = none. */
} dd_service_config_t;

/** Counters and recent activity, for `ddlocal up`'s status panel. */
typedef struct dd_service_status_snapshot {
    dd_ingest_stats_t ingest;
    uint64_t alerts_published;
    uint64_t violation_events;
    int64_t pipeline_ms;
    bool broker_connected;
} dd_service_snapshot_t;

typedef struct dd_service dd_service_t;

/** @brief Defaults: loopback, real clock, API on a chosen port, AWS behaviour. */
void dd_service_config_default(dd_service_config_t *cfg);

/**
 * @brief Opens the data dir's database, loads the engine state, evaluates
 *        reports stored but never evaluated, connects to the broker and
 *        starts the API.
 */
dd_service_status_t dd_service_create(const dd_service_config_t *cfg, dd_service_t **out);

/**
 * @brief Runs the worker loop until *stop becomes non-zero.
 * @return DD_SERVICE_OK.
 */
dd_service_status_t dd_service_run(dd_service_t *svc, volatile sig_atomic_t *stop);

/** @brief Wakes the worker loop (e.g. from a signal handler thread). */
void dd_service_wake(dd_service_t *svc);

/** @return The pipeline (for tests and the API). */
dd_pipeline_t *dd_service_pipeline(dd_service_t *svc);

/** @return The API's bound port, 0 when disabled. */
uint16_t dd_service_api_port(const dd_service_t *svc);

/** @brief Copies the counters (takes the pipeline lock). */
void dd_service_snapshot(dd_service_t *svc, dd_service_snapshot_t *out);

/**
 * @brief The pipeline clock the service runs on (its logs and status feed
 *        are stamped with it).
 * @param[in] svc The service.
 * @return The clock, owned by @p svc and valid until dd_service_destroy();
 *         NULL when @p svc is NULL.
 */
const dd_clock_t *dd_service_clock(const dd_service_t *svc);

/** @brief Stops everything and frees it. NULL is ignored. */
void dd_service_destroy(dd_service_t *svc);

/** @return Static text for @p status. */
const char *dd_service_strerror(dd_service_status_t status);

#endif /* DD_SERVICE_H_ */
