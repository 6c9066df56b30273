/**
 * @file dd_ingest.h
 * @brief The Device Defender report protocol and the metering intake:
 *        decode, validate, store, evaluate, and queue the replies - one
 *        transaction per batch of messages.
 *
 * For each report on `$aws/things/T/defender/metrics/{json,cbor}`:
 * - undecodable or invalid: a /rejected reply (InvalidPayload / "Malformed
 *   metrics report", or finer codes with fine_error_codes) and no state
 *   change at all;
 * - optionally refused as Throttled (closer than throttle_ms of pipeline time
 *   to the thing's previous accepted report) or DuplicateReportId;
 * - otherwise stored, evaluated by the engine and marked evaluated in the
 *   batch's transaction, and answered on /accepted after the commit.
 * Replies are encoded like the request (JSON or CBOR) and carry reportId
 * whenever header.report_id was readable.
 *
 * Metering batches from the broker shim (dd_metering) become the engine's
 * cloud-side events; a batch already seen (same shim instance and sequence,
 * a QoS 1 redelivery) is dropped.
 *
 * After a crash the broker may deliver again a report ddlocald had already
 * committed (libmosquitto queues the PUBACK before ddlocald sees the message,
 * so a kill can come between the commit and the PUBACK leaving). Reports
 * byte-identical to one of the last DD_INGEST_REDELIVERY_WINDOW stored before
 * the start (same thing and topic format) are taken for such redeliveries
 * until the caller forgets them: not stored, not evaluated, not answered
 * (the first delivery was answered, or its reply died with the process).
 *
 * Injected faults (dd_faults.h, when @c faults is set) act before the
 * checks above the store: disconnect (the report is dropped unanswered and a
 * kick of its thing queued for the shim), throttle (refused as Throttled
 * like the throttle switch); then on the reply: no-reply (none is sent) and
 * delay-reply (the outbox entry is marked to leave late).
 *
 * Replies go to the outbox, which the caller drains after the commit.
 * Throttle and duplicate state is kept in memory: it starts empty after a
 * restart, and a batch that is rolled back leaves it as it was (its reports
 * were never accepted). The caller holds the pipeline lock.
 */
#ifndef DD_INGEST_H_
#define DD_INGEST_H_

#include <stdbool.h>
#include <stdint.h>

#include "dd_map.h"
#include "dd_outbox.h"
#include "dd_pipeline.h"
#include "dd_svcmqtt.h"

/** Status codes of this module. */
typedef enum dd_ingest_status {
    DD_INGEST_OK = 0,
    DD_INGEST_BAD_PARAMETER,
    DD_INGEST_NO_MEMORY,
    DD_INGEST_STORE_ERROR,      /**< The batch was rolled back; nothing was answered. The engine
                                  may still hold its effects: reload it from the store. */
    DD_INGEST_STORE_UNAVAILABLE /**< No transaction could start: nothing was applied at all. */
} dd_ingest_status_t;

/** Behaviour switches for the UNCONFIRMED parts of the protocol. */
typedef struct dd_ingest_config {
    bool fine_error_codes;     /**< ddlocal's finer ErrorCodes instead of InvalidPayload. */
    bool throttle;             /**< Reject reports closer than throttle_ms (default off). */
    int64_t throttle_ms;       /**< 300000 (AWS's 5 minutes). */
    bool reject_duplicate_ids; /**< Reject a report_id equal to the thing's previous one. */
    bool reject_mixed_keys;    /**< Refuse reports mixing long and short key names. */
    int reply_qos;             /**< QoS of /accepted and /rejected (default 1). */
    char metering_topic[128];  /**< The shim's metering topic. */
    /** How long stored metering is kept (pipeline time; 0: not stored). Default 14 days. */
    int64_t metering_retention_ms;
    /** Message and authorization-failure records of one thing, topic and size in one bucket of
     * this many ms share a stored row (default 60000; 1 stores each ms apart). */
    int64_t metering_bucket_ms;
} dd_ingest_config_t;

/** Counters for the status panel. */
typedef struct dd_ingest_stats {
    uint64_t reports_accepted;
    uint64_t reports_rejected;
    uint64_t metering_batches;
    uint64_t metering_records;
    uint64_t metering_duplicates;
    uint64_t
        reports_redelivered;   /**< Dropped as redeliveries of reports stored before the start. */
    uint64_t connected_things; /**< Connects minus disconnects seen in metering. */
} dd_ingest_stats_t;

/** Ingest state. */
typedef struct dd_ingest {
    dd_ingest_config_t cfg;
    dd_map_t last_report;   /**< thing -> last accepted report (throttle, duplicates). */
    dd_map_t metering_seen; /**< shim instance -> last batch sequence. */
    dd_map_t redelivery; /**< digest of a report stored before the start -> copies (uintptr_t). */
    dd_ingest_stats_t stats;
    struct dd_events *events; /**< Reports accepted/rejected go here (dd_events.h); may be NULL. */
    int64_t connections_pruned_ms; /**< Pipeline time the connection history was last pruned. */
    int64_t metering_pruned_ms;    /**< Pipeline time the stored metering was last pruned. */
    struct dd_faults *faults; /**< Injected faults (dd_faults.h) the reports obey; may be NULL. */
} dd_ingest_t;

/** How often (pipeline time) the connection history is pruned of rows past its retention. */
#define DD_INGEST_CONNECTION_PRUNE_MS (3600LL * 1000)

/** Reports stored before the start that a redelivery may repeat. */
#define DD_INGEST_REDELIVERY_WINDOW 4096

/** @brief Fills @p cfg with the defaults (AWS's confirmed behaviour). */
void dd_ingest_config_default(dd_ingest_config_t *cfg);

/** @brief Initialises ingest state. */
dd_ingest_status_t dd_ingest_init(dd_ingest_t *ing, const dd_ingest_config_t *cfg);

/** @brief Frees ingest state. */
void dd_ingest_destroy(dd_ingest_t *ing);

/**
 * @brief Processes a list of messages in one transaction; replies go to @p box.
 * @param[in] msgs Messages (report topics and the metering topic; others are ignored).
 * @return DD_INGEST_OK, or DD_INGEST_STORE_ERROR when the batch was rolled back.
 */
dd_ingest_status_t dd_ingest_batch(dd_ingest_t *ing, dd_pipeline_t *p, dd_outbox_t *box,
                                   const dd_svcmqtt_msg_t *msgs);

/**
 * @brief Remembers the last DD_INGEST_REDELIVERY_WINDOW reports of @p store
 *        so that broker redeliveries of them are recognised (call once, at start).
 */
dd_ingest_status_t dd_ingest_expect_redeliveries(dd_ingest_t *ing, struct dd_store *store);

/**
 * @brief Stops recognising redeliveries: after this an identical report is a
 *        new report (the broker redelivers at once when ddlocald reconnects).
 */
void dd_ingest_forget_redeliveries(dd_ingest_t *ing);

/**
 * @brief Forgets every thing's last accepted report (throttling, duplicate ids): after a reset
 *        a thing starts again as a new one.
 */
void dd_ingest_forget_things(dd_ingest_t *ing);

/** @return Static text for @p status. */
const char *dd_ingest_strerror(dd_ingest_status_t status);

#endif /* DD_INGEST_H_ */
