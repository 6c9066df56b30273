/**
 * @file dd_pipeline.h
 * @brief The state ddlocald's parts share: database, registry, evaluator
 *        store and engine, clock, and the hooks that keep the broker shim
 *        and the engine in step with changes.
 *
 * ddlocald runs several threads: the MQTT worker (reports and metering
 * batches), the HTTP API (libmicrohttpd's threads) and the alert deliverers.
 * Everything in dd_pipeline_t below @ref lock is guarded by it: take it
 * around any use of db/registry/store/engine and release it before any
 * network wait that is not one of the hooks below. The hooks are called
 * with the lock HELD and return once their effect is visible:
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
 * Ownership: ddlocald's main owns the pipeline and every member; parts
 * borrow it for the life of the process.
 */
#ifndef DD_PIPELINE_H_
#define DD_PIPELINE_H_

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_names.h"
#include "dd_registry.h"

struct dd_store;
struct dd_engine;

/** Shared state of a running ddlocald. */
typedef struct dd_pipeline {
    pthread_mutex_t lock;     /**< Guards every member below. */
    sqlite3 *db;              /**< The data dir's database (one connection). */
    dd_registry_t registry;   /**< Things, certificates, groups, policies. */
    struct dd_store *store;   /**< Evaluator store (evaluator/store/dd_store.h). */
    struct dd_engine *engine; /**< Evaluator engine (evaluator/engine/dd_engine.h). */
    dd_clock_t clock;         /**< The pipeline clock. */
    dd_arn_ctx_t arn;         /**< Region and account. */
    char data_dir[512];       /**< Absolute data dir (PKI under data_dir/pki). */
    char mqtt_endpoint[128];  /**< "127.0.0.1:P" of the 8883-role listener (DescribeEndpoint). */
    char console_dir[512];    /**< The console's files; "" = dd_console_dir()'s default. */
    void *hook_ctx;           /**< Passed to the hooks. */
    /** Push registry changes to the shim and engine; see the file comment. */
    void (*registry_changed)(void *hook_ctx);
    /** Profiles, custom metrics or dimensions changed. */
    void (*defender_changed)(void *hook_ctx);
    /**
     * ddlocal's own HTTP operations under /ddlocal/ (not AWS's): the clock of
     * a running pipeline and the status panel. Called WITHOUT the lock (it
     * takes it itself); returns the HTTP status and a malloc'd JSON body.
     * NULL when the service offers none.
     */
    int (*extension)(void *hook_ctx, const char *method, const char *path, const char *body,
                     size_t body_len, char **response);
} dd_pipeline_t;

#endif /* DD_PIPELINE_H_ */
