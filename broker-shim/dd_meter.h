/**
 * @file dd_meter.h
 * @brief The shim's metering buffer: records go into one preallocated batch
 *        (dd_metering format) that is handed to a publish function when it
 *        is full or when the flush interval has passed.
 *
 * Runs on the broker thread, per message: dd_meter_record() copies the
 * record into the batch and never allocates or does I/O; the buffer is
 * allocated once by dd_meter_init(). Flushing calls the publish function
 * once with the whole batch (the plugin publishes it at QoS 1 on the
 * internal metering topic; the broker copies it), then starts the next batch
 * with the next sequence number.
 *
 * A batch the publish function refuses is dropped (and counted): the broker
 * thread must not block and memory must stay bounded.
 *
 * Ownership: the meter owns its buffer; the publish function borrows the
 * batch for the duration of the call. Not thread-safe.
 */
#ifndef DD_METER_H_
#define DD_METER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_metering.h"

/** Status codes of this module. */
typedef enum dd_meter_status {
    DD_METER_OK = 0,
    DD_METER_BAD_PARAMETER, /**< NULL pointer or bad setting. */
    DD_METER_NO_MEMORY,     /**< The buffer could not be allocated. */
    DD_METER_DROPPED        /**< The record (or a batch) could not be kept. */
} dd_meter_status_t;

/**
 * @brief Hands a finished batch on.
 * @param[in] ctx The @ref dd_meter_config_t::publish_ctx.
 * @param[in] batch The batch (borrowed for the call).
 * @param[in] len Its length.
 * @return 0 when the batch was taken, non-zero when it was refused.
 */
typedef int (*dd_meter_publish_fn)(void *ctx, const void *batch, size_t len);

/** Settings. */
typedef struct dd_meter_config {
    size_t buffer_bytes;         /**< Batch size; DD_METERING_MIN_BUFFER..16 MiB. */
    int64_t flush_interval_ms;   /**< Flush a non-empty batch this long after its first record. */
    uint64_t instance_id;        /**< Identifies this shim run in every batch. */
    dd_meter_publish_fn publish; /**< Required. */
    void *publish_ctx;
} dd_meter_config_t;

/** Counters for logs and tests. */
typedef struct dd_meter_stats {
    uint64_t records;         /**< Records accepted. */
    uint64_t batches;         /**< Batches published. */
    uint64_t dropped_records; /**< Records lost (refused batches, oversize records). */
    uint64_t failed_batches;  /**< Batches the publish function refused. */
} dd_meter_stats_t;

/** The meter; caller-allocated, fields internal. */
typedef struct dd_meter {
    dd_meter_config_t cfg;
    uint8_t *buf;
    dd_metering_writer_t writer;
    uint64_t next_seq;
    int64_t first_wall_ms; /**< Wall time of the batch's first record. */
    dd_meter_stats_t stats;
} dd_meter_t;

/** Defaults. */
#define DD_METER_DEFAULT_BUFFER 65536
#define DD_METER_DEFAULT_FLUSH_MS 100
#define DD_METER_MAX_BUFFER (16u * 1024u * 1024u)

/**
 * @brief Allocates the buffer and starts batch 1.
 * @param[out] m Meter.
 * @param[in] cfg Settings (copied).
 * @return DD_METER_OK, DD_METER_BAD_PARAMETER or DD_METER_NO_MEMORY.
 */
dd_meter_status_t dd_meter_init(dd_meter_t *m, const dd_meter_config_t *cfg);

/**
 * @brief Frees the buffer (without flushing: call dd_meter_flush() first).
 * @param[in,out] m Meter; NULL is ignored.
 */
void dd_meter_destroy(dd_meter_t *m);

/**
 * @brief Adds a record; publishes the batch first when the record does not fit.
 * @param[in,out] m Meter.
 * @param[in] rec Record (strings copied into the batch).
 * @param[in] wall_ms Wall-clock (or monotonic) ms, for the flush interval.
 * @return DD_METER_OK, DD_METER_BAD_PARAMETER or DD_METER_DROPPED.
 */
dd_meter_status_t dd_meter_record(dd_meter_t *m, const dd_metering_record_t *rec, int64_t wall_ms);

/**
 * @brief Publishes the batch when it is non-empty and its interval is over.
 * @param[in,out] m Meter.
 * @param[in] wall_ms Same clock as dd_meter_record().
 * @param[out] flushed Optional: whether a batch was published.
 * @return DD_METER_OK, DD_METER_BAD_PARAMETER or DD_METER_DROPPED.
 */
dd_meter_status_t dd_meter_tick(dd_meter_t *m, int64_t wall_ms, bool *flushed);

/**
 * @brief Publishes the batch now if it is non-empty.
 * @param[in,out] m Meter.
 * @return DD_METER_OK, DD_METER_BAD_PARAMETER or DD_METER_DROPPED.
 */
dd_meter_status_t dd_meter_flush(dd_meter_t *m);

/** @return Records waiting in the current batch (0 for NULL). */
uint32_t dd_meter_pending(const dd_meter_t *m);

/**
 * @brief Reads the counters.
 * @param[in] m Meter.
 * @param[out] stats Receives them.
 * @return DD_METER_OK or DD_METER_BAD_PARAMETER.
 */
dd_meter_status_t dd_meter_get_stats(const dd_meter_t *m, dd_meter_stats_t *stats);

/** @return Static text for @p status. */
const char *dd_meter_strerror(dd_meter_status_t status);

#endif /* DD_METER_H_ */
