/**
 * @file dd_pipeline.h
 * @brief The state ddlocald's parts share, and the one wiring of it:
 *        database, registry, evaluator store and engine, clock, and the
 *        hooks that keep the broker shim and the engine in step with
 *        changes. ddlocald, the tests and the benches all open it here.
 *
 * dd_pipeline_open() opens the data dir's database, the registry (region and
 * account from the data dir's settings unless the config sets them), the
 * clock (a manual clock resumes from the last pipeline time stored under
 * DD_PIPELINE_SETTING_CLOCK_LAST), the store, and an engine loaded from the store
 * whose registry view is the pipeline's registry and whose outputs go to the
 * store and then to the config's @c events sink (the alert fan-out of
 * ddlocald); reports a crashed run stored but never evaluated are evaluated.
 *
 * Lock rule: ddlocald runs several threads: the MQTT worker (reports and
 * metering batches), the HTTP API (libmicrohttpd's threads) and the alert
 * deliverers. Everything in dd_pipeline_t below @ref lock is guarded by it:
 * take it around any use of db/registry/store/engine (and of the app layer
 * over them, app/dd_detect.h) and release it before any network wait that
 * is not one of the hooks below. The hooks are called with the lock HELD and
 * return once their effect is visible:
 *
 * - registry_changed(): pushes every registry change not yet pushed to the
 *   broker shim ($CONTROL) and waits for the broker's acknowledgement, and
 *   tells the engine which things' coverage may have changed. Call it after
 *   any registry mutation and before answering the request, so that the
 *   very next packet of an affected device sees the change.
 * - defender_changed(): the engine's profiles/custom metrics/dimensions were
 *   changed through the store; nothing to do today beyond bookkeeping, but
 *   call it so that future caches stay right.
 *
 * Ownership: the caller owns the dd_pipeline_t (ddlocald embeds it in its
 * service); dd_pipeline_open() fills it and dd_pipeline_close() releases
 * what it opened. The engine's callbacks point at the struct: it must not
 * move between open and close. Parts (API, ingest, registry sync) borrow it
 * for as long as it is open. The hooks are set by the owner after opening.
 */
#ifndef DD_PIPELINE_H_
#define DD_PIPELINE_H_

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_detect.h"
#include "dd_engine.h"
#include "dd_names.h"
#include "dd_registry.h"

struct dd_store;
struct dd_auditor;

/** Status codes of this module. */
typedef enum dd_pipeline_status {
    DD_PIPELINE_OK = 0,
    DD_PIPELINE_BAD_PARAMETER, /**< NULL pointer, empty data dir. */
    DD_PIPELINE_NO_MEMORY,
    DD_PIPELINE_DB_ERROR,  /**< Database, registry or store could not be opened. */
    DD_PIPELINE_BAD_CLOCK, /**< The clock spec is not understood. */
    DD_PIPELINE_LOAD_ERROR /**< The engine could not be loaded from the store. */
} dd_pipeline_status_t;

/** Registry setting holding the last pipeline time, so that a restart never goes back. */
#define DD_PIPELINE_SETTING_CLOCK_LAST "clock_last_ms"

/** What dd_pipeline_open() wires. */
typedef struct dd_pipeline_config {
    char data_dir[512];                 /**< Data dir holding DD_DB_FILE_NAME (must exist). */
    char clock_spec[DD_CLOCK_SPEC_MAX]; /**< dd_clock spec ("manual:<ms>", ...); "" = real. */
    dd_arn_ctx_t arn;                   /**< Region and account. */
    bool arn_explicit;       /**< false: the data dir's region/account settings win when set. */
    char mqtt_endpoint[128]; /**< "127.0.0.1:P" of the 8883-role listener (DescribeEndpoint). */
    uint64_t id_seed;        /**< Mixed into violation ids (0 = deterministic ids). */
    /**
     * Optional observer of the engine's outputs, called after the store took
     * each one (same transaction, lock held): ddlocald's alert fan-out and
     * status feed. Members left NULL are not called.
     */
    dd_engine_sink_t events;
} dd_pipeline_config_t;

/** Shared state of a running pipeline. */
typedef struct dd_pipeline {
    pthread_mutex_t lock;       /**< Guards every member below. */
    sqlite3 *db;                /**< The data dir's database (one connection). */
    dd_registry_t registry;     /**< Things, certificates, groups, policies. */
    struct dd_store *store;     /**< Evaluator store (evaluator/store/dd_store.h). */
    struct dd_engine *engine;   /**< Evaluator engine (replaced by dd_pipeline_reload_engine()). */
    struct dd_auditor *auditor; /**< Device Defender Audit (app/dd_auditor.h). */
    dd_clock_t clock;           /**< The pipeline clock. */
    dd_arn_ctx_t arn;           /**< Region and account. */
    char data_dir[512];         /**< Absolute data dir (PKI under data_dir/pki). */
    char mqtt_endpoint[128];    /**< "127.0.0.1:P" of the 8883-role listener (DescribeEndpoint). */
    char console_dir[512];      /**< The console's files; "" = dd_console_dir()'s default. */
    void *hook_ctx;             /**< Passed to the hooks. */
    /** Push registry changes to the shim and engine; see the file comment. */
    void (*registry_changed)(void *hook_ctx);
    /** Profiles, custom metrics or dimensions changed. */
    void (*defender_changed)(void *hook_ctx);
    /**
     * Publishes @p message to the SNS stand-in's topic @p topic_arn (its MQTT
     * topic and its subscriptions, as Detect's alerts): the mitigation action
     * PUBLISH_FINDING_TO_SNS. Lock held; returns 0, DD_MITIGATE_SNS_INVALID or
     * DD_MITIGATE_SNS_FAILED (app/dd_mitigate.h) with a reason in @p msg.
     * NULL when the owner has no SNS stand-in.
     */
    int (*publish_sns)(void *hook_ctx, const char *topic_arn, const char *message, char *msg,
                       size_t msg_len);
    /**
     * Fault injection (ddlocald's fail-mitigation faults): called before a
     * mitigation action runs on @p thing (NULL: no thing); true = record
     * the execution FAILED with @p code and @p message instead of running
     * it. NULL = never.
     */
    bool (*mitigation_fault)(void *hook_ctx, const char *thing, const char *action_name,
                             const char *action_type, char *code, size_t code_len, char *message,
                             size_t message_len);
    /**
     * ddlocal's own HTTP operations under /ddlocal/ (not AWS's): the clock of
     * a running pipeline and the status panel. @p path includes the query
     * ("/ddlocal/v1/events?after=3"), still percent-encoded. Called WITHOUT
     * the lock (it takes it itself; a long-poll waits without it); returns
     * the HTTP status and a malloc'd JSON body.
     * NULL when the service offers none.
     */
    int (*extension)(void *hook_ctx, const char *method, const char *path, const char *body,
                     size_t body_len, char **response);
    /**
     * An answer under /ddlocal/ that waits (GET /ddlocal/v1/events/stream,
     * the long-poll GET /ddlocal/v1/events?timeout=MS):
     * returns 0 when @p target is not one (the extension answers it), 200
     * with @p stream set, or an error status with a malloc'd JSON body.
     * Called WITHOUT the lock. NULL when the service offers none.
     */
    int (*stream_open)(void *hook_ctx, const char *method, const char *target, void **stream,
                       const char **content_type, char **response);
    /** Up to @p max bytes: > 0 copied, 0 none now (see stream_notify), -1 the end. */
    long (*stream_read)(void *stream, char *buf, size_t max);
    /** Calls @p ready(@p arg) once, from any thread, when stream_read may have more. */
    void (*stream_notify)(void *stream, void (*ready)(void *arg), void *arg);
    /** Ends a stream; no notification after it returns. */
    void (*stream_close)(void *stream);
    /* Private to dd_pipeline.c. */
    dd_engine_sink_t store_sink; /**< The store's sink: the engine's outputs go here first. */
    dd_engine_sink_t events;     /**< The config's observer. */
    uint64_t id_seed;
    bool lock_ready;
} dd_pipeline_t;

/**
 * @brief Opens and wires a pipeline (see the file comment).
 * @param[in] cfg What to open (copied).
 * @param[out] out Pipeline to fill (caller-owned, must not move until closed).
 * @return DD_PIPELINE_OK, DD_PIPELINE_BAD_PARAMETER, DD_PIPELINE_NO_MEMORY,
 *         DD_PIPELINE_DB_ERROR, DD_PIPELINE_BAD_CLOCK or DD_PIPELINE_LOAD_ERROR;
 *         on failure what was opened is closed again.
 */
dd_pipeline_status_t dd_pipeline_open(const dd_pipeline_config_t *cfg, dd_pipeline_t *out);

/**
 * @brief Replaces the engine by one loaded from what the store has
 *        committed: after a rolled-back transaction the engine remembers
 *        what was never committed (windows, alarms of the lost batch).
 *        Lock held. On failure the old engine stays.
 * @param[in,out] p Open pipeline.
 * @return DD_PIPELINE_OK, DD_PIPELINE_BAD_PARAMETER, DD_PIPELINE_NO_MEMORY or
 *         DD_PIPELINE_LOAD_ERROR.
 */
dd_pipeline_status_t dd_pipeline_reload_engine(dd_pipeline_t *p);

/**
 * @brief The application layer's view of the pipeline (app/dd_detect.h):
 *        its store, current engine, clock and ARN context. Fill it under the
 *        lock, use it under the same lock: the engine is replaced by
 *        dd_pipeline_reload_engine().
 * @param[in] p Open pipeline.
 * @param[out] d View.
 */
void dd_pipeline_detect(dd_pipeline_t *p, dd_detect_t *d);

/**
 * @brief Closes what dd_pipeline_open() opened (engine, store, database,
 *        lock) and zeroes @p p. A zeroed or NULL pipeline is ignored.
 */
void dd_pipeline_close(dd_pipeline_t *p);

/** @brief Defaults: real clock, AWS's default region/account, id seed 0. */
void dd_pipeline_config_default(dd_pipeline_config_t *cfg);

/** @return Static text for @p status. */
const char *dd_pipeline_strerror(dd_pipeline_status_t status);

#endif /* DD_PIPELINE_H_ */
