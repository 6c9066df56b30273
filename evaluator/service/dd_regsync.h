/**
 * @file dd_regsync.h
 * @brief Keeps the broker shim's copy of the registry and the engine's
 *        coverage in step with the registry, whoever changed it.
 *
 * The registry logs every changed entity (dd_registry_changes_since()).
 * dd_regsync_push() sends the current state of each entity changed since the
 * last push to the shim as one `$CONTROL/ddlocal/v1/registry` message at
 * QoS 1 and waits for the PUBACK - which mosquitto sends only after the
 * shim applied it - then tells the engine about changed things. Changes by
 * other processes (the `ddlocal` CLI) are noticed through SQLite's
 * `PRAGMA data_version` (dd_regsync_external_change()). After every
 * (re)connection the whole registry is sent with dd_regsync_full(), since the
 * broker may have restarted too.
 *
 * All functions expect the pipeline lock to be held. dd_regsync_t is
 * caller-allocated plain state.
 */
#ifndef DD_REGSYNC_H_
#define DD_REGSYNC_H_

#include <stdbool.h>
#include <stdint.h>

#include "dd_pipeline.h"
#include "dd_svcmqtt.h"

/** Status codes of this module. */
typedef enum dd_regsync_status {
    DD_REGSYNC_OK = 0,
    DD_REGSYNC_BAD_PARAMETER,
    DD_REGSYNC_REGISTRY_ERROR, /**< Reading the registry failed. */
    DD_REGSYNC_NOT_DELIVERED,  /**< The broker did not acknowledge in time; retried later. */
    DD_REGSYNC_STORE_ERROR     /**< Engine coverage not stored (logged); retried later. */
} dd_regsync_status_t;

/** Follower state. Zero-initialise. */
typedef struct dd_regsync {
    int64_t pushed_seq;   /**< Change-log position the shim has seen. */
    int64_t data_version; /**< Last PRAGMA data_version read. */
    int ack_timeout_ms;   /**< PUBACK wait (0 = 5000). */
    /** Optional: told of every thing whose registry state was pushed (status feed). */
    void (*thing_pushed)(void *ctx, const char *thing);
    void *thing_pushed_ctx;
} dd_regsync_t;

/** @brief Sends the whole registry (a "full" message) and the clock unless it is real. */
dd_regsync_status_t dd_regsync_full(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt);

/**
 * @brief Pushes the changes since the last push and updates the engine's
 *        coverage of changed things (inside a store transaction).
 *        A batch counts as pushed only once both the broker acknowledged it
 *        and the engine update committed; otherwise the next call sends it again.
 * @param[out] pushed Optional: number of entities sent.
 * @return DD_REGSYNC_OK, _BAD_PARAMETER, _REGISTRY_ERROR, _NOT_DELIVERED or _STORE_ERROR.
 */
dd_regsync_status_t dd_regsync_push(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt,
                                    int *pushed);

/** @brief Sends the pipeline clock to the shim (after a manual advance or a scale change). */
dd_regsync_status_t dd_regsync_clock(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt);

/** @return true when another connection committed to the database since the last call. */
bool dd_regsync_external_change(dd_regsync_t *sync, dd_pipeline_t *p);

/** @return Static text for @p status. */
const char *dd_regsync_strerror(dd_regsync_status_t status);

#endif /* DD_REGSYNC_H_ */
