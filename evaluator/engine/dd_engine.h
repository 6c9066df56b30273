/**
 * @file dd_engine.h
 * @brief Device Defender Detect's evaluation engine: profiles with their
 *        targets, custom metrics and dimensions in; reports and cloud-side
 *        events in; violation events, active violations, retained metric
 *        values and per-thing state out through a sink.
 *
 * Pure and single-threaded: no I/O, no clock (every entry point takes the
 * pipeline time), no threads. One dd_engine_t is used by one thread at a
 * time. The engine copies every profile, definition and name it is given;
 * pointers handed to sink callbacks (names, behaviors, datapoints) are valid
 * only during the callback. Callbacks must not call back into the engine.
 *
 * Time must not go backwards across calls (reports, events, ticks); a call
 * with an older time is refused with DD_ENGINE_BACKWARDS.
 *
 * Driving it from a service (see docs/reference/evaluation-semantics.md):
 * @code{c}
 * dd_engine_create(&cfg, &registry, &sink, &engine);     // sink writes to the store
 * dd_store_load(store, engine);                           // resume exactly
 * // per accepted report, all in ONE SQLite transaction:
 * dd_store_begin(store);
 * dd_store_report_insert(store, thing, rid, now, fmt, payload, len, &row);
 * dd_engine_on_report(engine, thing, now, &report);      // sink -> store rows
 * dd_store_report_mark_evaluated(store, row);
 * dd_store_commit(store);                                 // then publish replies / SNS
 * // periodically (e.g. every second): dd_engine_tick(engine, now) in a transaction
 * @endcode
 *
 * Semantics (windows, datapoints, state machine, statistics, ML,
 * invalidation) are documented in docs/reference/evaluation-semantics.md.
 */
#ifndef DD_ENGINE_H_
#define DD_ENGINE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_alarm.h"
#include "dd_criteria.h"
#include "dd_ip.h"
#include "dd_metric.h"
#include "dd_names.h"
#include "dd_profile.h"
#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_engine_status {
    DD_ENGINE_OK = 0,
    DD_ENGINE_BAD_PARAMETER, /**< NULL pointer, invalid name or value. */
    DD_ENGINE_NO_MEMORY,
    DD_ENGINE_NOT_FOUND, /**< No such profile / metric / dimension / violation. */
    DD_ENGINE_INVALID,   /**< Profile fails validation, or a state blob is corrupt. */
    DD_ENGINE_BACKWARDS  /**< Time older than a previous call's. */
} dd_engine_status_t;

/** A violation event (ListViolationEvents item / SNS message). */
typedef struct dd_violation_event {
    const char *violation_id;
    const char *thing;
    const char *profile;
    const dd_behavior_t *behavior; /**< Full behavior as configured. */
    dd_alarm_transition_t type;    /**< RAISED (in-alarm), CLEARED, INVALIDATED. */
    bool has_value;                /**< metricValue present (not on invalidation). */
    dd_datapoint_t value;
    int64_t time_ms; /**< violationEventTime. */
    bool suppressed; /**< suppressAlerts: store it, do not alert. */
    dd_verification_t verification;
    const char *verification_description; /**< NULL when none. */
} dd_violation_event_t;

/** An active violation (ListActiveViolations item). */
typedef struct dd_active_violation {
    const char *violation_id;
    const char *thing;
    const char *profile;
    const dd_behavior_t *behavior;
    bool has_value;
    dd_datapoint_t last_value; /**< lastViolationValue. */
    int64_t last_violation_ms;
    int64_t start_ms; /**< violationStartTime. */
    bool suppressed;
    dd_verification_t verification;
    const char *verification_description;
} dd_active_violation_t;

/** A retained metric value (ListMetricValues datum, metrics export). */
typedef struct dd_metric_datum {
    /** The engine's copy of the thing's name: the same address for every datum of the thing
     * until dd_engine_destroy() (things are never dropped before), so a caller may tell things
     * apart by it without comparing names (replay's summary does). */
    const char *thing;
    const char *metric;    /**< "aws:..." or custom metric name. */
    const char *dimension; /**< NULL when none. */
    dd_dim_op_t dimension_op;
    int64_t time_ms;
    dd_datapoint_t value;
    bool export_metric; /**< exportMetric was set for it. */
} dd_metric_datum_t;

/**
 * One datapoint evaluated against a behavior, with what decided it (replay
 * --datapoints): the rule author's view of why an alarm did or did not fire.
 */
typedef struct dd_datapoint_record {
    const char *thing;
    const char *profile;
    const dd_behavior_t *behavior;
    int64_t window_start_ms; /**< window_end_ms - durationSeconds; = end without a duration. */
    int64_t window_end_ms;   /**< Time of the datapoint (window close or report time). */
    dd_datapoint_t value;
    bool statistical;             /**< statisticalThreshold: @ref threshold is the fleet's. */
    double threshold;             /**< The window's percentile over the fleet (statistical). */
    size_t fleet_size;            /**< Devices that percentile was computed from. */
    bool violating;               /**< The value does not meet the criteria. */
    dd_alarm_state_t alarm_state; /**< The behavior's alarm state after this datapoint. */
} dd_datapoint_record_t;

/**
 * Where the engine's outputs go. Every member may be NULL. Calls happen
 * synchronously inside the engine entry point that caused them, in a
 * deterministic order.
 */
typedef struct dd_engine_sink {
    void *ctx;
    /** in-alarm / alarm-cleared / alarm-invalidated. */
    void (*violation_event)(void *ctx, const dd_violation_event_t *ev);
    /** An active violation was created or its last value/time/verification moved. */
    void (*active_violation)(void *ctx, const dd_active_violation_t *av);
    /** An active violation ended (cleared or invalidated). */
    void (*active_violation_removed)(void *ctx, const char *violation_id);
    /** A metric value to retain (behaviour metrics and additionalMetricsToRetainV2). */
    void (*metric_value)(void *ctx, const dd_metric_datum_t *datum);
    /**
     * A thing's complete evaluation state changed (alarms, windows, counters):
     * persist @p blob; dd_engine_import_thing() restores it.
     */
    void (*thing_state)(void *ctx, const char *thing, const uint8_t *blob, size_t len);
    /** Every datapoint evaluated against a behavior (costs a call per datapoint). */
    void (*datapoint)(void *ctx, const dd_datapoint_record_t *record);
} dd_engine_sink_t;

/** Called by the registry for each group of a thing. Return 0 to go on. */
typedef int (*dd_engine_group_fn)(void *ctx, const char *group);

/**
 * The registry as the engine sees it. lookup() reports whether @p thing is
 * registered and calls @p add_group for every thing group it belongs to,
 * directly or through a parent (each once). Returns 0 on success; on failure
 * the thing is treated as unregistered with no groups.
 */
typedef struct dd_engine_registry {
    void *ctx;
    int (*lookup)(void *ctx, const char *thing, bool *registered, dd_engine_group_fn add_group,
                  void *add_ctx);
} dd_engine_registry_t;

/** Engine settings. */
typedef struct dd_engine_config {
    dd_arn_ctx_t arn;            /**< Region/account of target ARNs. */
    int64_t invalidate_after_ms; /**< Alarm invalidated after this long without metrics (2 days). */
    uint64_t id_seed; /**< Mixed into violation ids (0 = deterministic ids for replay). */
} dd_engine_config_t;

/** Kinds of cloud-side events (from the broker shim's metering). */
typedef enum dd_cloud_kind {
    DD_CLOUD_MESSAGE_SENT = 0, /**< Device published (topic, payload size). */
    DD_CLOUD_MESSAGE_RECEIVED, /**< Device was delivered a message (topic). */
    DD_CLOUD_AUTH_FAILURE,     /**< A request was denied (topic, or none). */
    DD_CLOUD_CONNECT,          /**< Connection attempt (source IP, success). */
    DD_CLOUD_DISCONNECT        /**< Disconnect. */
} dd_cloud_kind_t;

/** One cloud-side event. */
typedef struct dd_cloud_event {
    dd_cloud_kind_t kind;
    const char *thing; /**< Thing name, or the client id when unregistered. */
    bool registered;   /**< Identity is a registered thing (used without a registry). */
    int64_t time_ms;
    const char *topic;     /**< MESSAGE_*, AUTH_FAILURE: topic or NULL. */
    uint32_t payload_size; /**< MESSAGE_SENT: bytes of the payload. */
    uint32_t repeat;       /**< Same event this many times (0 counts as 1). */
    bool has_source_ip;    /**< CONNECT. */
    dd_ip_t source_ip;
    bool success; /**< CONNECT: accepted. */
} dd_cloud_event_t;

/** An ML Detect training summary (GetBehaviorModelTrainingSummaries). */
typedef struct dd_training_summary {
    const char *profile;
    const char *behavior;
    const char *model_status;                /**< "PENDING_BUILD", then "ACTIVE". */
    double datapoints_collection_percentage; /**< datapoints / 25,000 x 100, at most 100. */
    uint64_t datapoints;
    int64_t training_start_ms;     /**< First datapoint (0 none). */
    int64_t last_model_refresh_ms; /**< Last fit of the model; 0: never built. */
} dd_training_summary_t;

/** Size figures (benchmarks, diagnostics). */
typedef struct dd_engine_stats {
    size_t things;
    size_t profiles;
    size_t slots;       /**< thing x profile x behavior states. */
    size_t state_bytes; /**< Heap bytes of per-thing state. */
} dd_engine_stats_t;

/** Opaque engine. */
typedef struct dd_engine dd_engine_t;

/** @brief Defaults: us-east-1/123456789012, 2 days, seed 0. */
void dd_engine_config_default(dd_engine_config_t *cfg);

/**
 * @brief Creates an engine.
 * @param[in] cfg Settings (copied); NULL = defaults.
 * @param[in] registry Registry callbacks (copied); NULL = every thing is
 *                     registered (cloud events: their flag) and in no group.
 * @param[in] sink Output callbacks (copied); NULL = discard.
 * @param[out] out New engine.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER or DD_ENGINE_NO_MEMORY.
 */
dd_engine_status_t dd_engine_create(const dd_engine_config_t *cfg,
                                    const dd_engine_registry_t *registry,
                                    const dd_engine_sink_t *sink, dd_engine_t **out);

/** @brief Frees an engine; NULL is ignored. */
void dd_engine_destroy(dd_engine_t *engine);

/** @brief Replaces the sink (NULL = discard). */
void dd_engine_set_sink(dd_engine_t *engine, const dd_engine_sink_t *sink);

/**
 * @brief Creates or updates a custom metric definition. Takes effect for the
 *        next datapoint.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER or DD_ENGINE_NO_MEMORY.
 */
dd_engine_status_t dd_engine_put_custom_metric(dd_engine_t *engine,
                                               const dd_custom_metric_def_t *def);

/** @brief Deletes a custom metric definition (behaviors using it go inert). */
dd_engine_status_t dd_engine_remove_custom_metric(dd_engine_t *engine, const char *name);

/** @brief Creates or updates a dimension definition. */
dd_engine_status_t dd_engine_put_dimension(dd_engine_t *engine, const dd_dimension_def_t *def);

/** @brief Deletes a dimension definition (behaviors using it go inert). */
dd_engine_status_t dd_engine_remove_dimension(dd_engine_t *engine, const char *name);

/**
 * @brief The engine's current definitions, for dd_profile_validate().
 * @param[in] engine Engine.
 * @param[out] defs Borrowed view, valid until the next put/remove call.
 */
void dd_engine_defs(const dd_engine_t *engine, dd_metric_defs_t *defs);

/**
 * @brief Creates or replaces a profile (with its targets). The profile must
 *        be valid (dd_profile_validate()); it is copied and compiled.
 *        Behaviors that are unchanged (same name and definition) keep their
 *        alarms; alarms of removed or changed behaviors, and of things the
 *        new targets no longer cover, end with "alarm-invalidated" at @p now_ms.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY,
 *         DD_ENGINE_INVALID or DD_ENGINE_BACKWARDS.
 */
dd_engine_status_t dd_engine_put_profile(dd_engine_t *engine, const dd_profile_t *profile,
                                         int64_t now_ms);

/**
 * @brief Deletes a profile; its active alarms end with "alarm-invalidated".
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NOT_FOUND or DD_ENGINE_BACKWARDS.
 */
dd_engine_status_t dd_engine_remove_profile(dd_engine_t *engine, const char *name, int64_t now_ms);

/** @return The engine's copy of a profile (valid until it changes), or NULL. */
const dd_profile_t *dd_engine_get_profile(const dd_engine_t *engine, const char *name);

/**
 * @brief The registry changed for @p thing (registered, groups): coverage is
 *        recomputed now; alarms of profiles that no longer cover it end with
 *        "alarm-invalidated".
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or DD_ENGINE_BACKWARDS.
 */
dd_engine_status_t dd_engine_thing_changed(dd_engine_t *engine, const char *thing, int64_t now_ms);

/**
 * @brief Evaluates an accepted device report.
 * @param[in] engine Engine.
 * @param[in] thing Thing name from the topic.
 * @param[in] now_ms Pipeline time of receipt.
 * @param[in] report Decoded report (borrowed).
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or DD_ENGINE_BACKWARDS.
 */
dd_engine_status_t dd_engine_on_report(dd_engine_t *engine, const char *thing, int64_t now_ms,
                                       const dd_report_t *report);

/**
 * @brief Feeds cloud-side events (in time order).
 * @param[in] engine Engine.
 * @param[in] events Events.
 * @param[in] count Number of events.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or
 *         DD_ENGINE_BACKWARDS (events before the failing one were applied).
 */
dd_engine_status_t dd_engine_on_cloud_events(dd_engine_t *engine, const dd_cloud_event_t *events,
                                             size_t count);

/**
 * @brief Advances time: closes tumbling and statistical windows that ended
 *        before @p now_ms, evaluates disconnect durations, invalidates
 *        alarms without metrics for too long. Cheap when nothing is due.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or DD_ENGINE_BACKWARDS.
 */
dd_engine_status_t dd_engine_tick(dd_engine_t *engine, int64_t now_ms);

/**
 * @brief Records the verification state of an ACTIVE violation so that its
 *        later events carry it (the store updates history rows itself).
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or
 *         DD_ENGINE_NOT_FOUND (not active: nothing to do in the engine).
 */
dd_engine_status_t dd_engine_set_verification(dd_engine_t *engine, const char *violation_id,
                                              dd_verification_t state, const char *description);

/**
 * @brief Restores a thing's state written by the sink's thing_state().
 *        Load profiles and definitions first.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER, DD_ENGINE_NO_MEMORY or DD_ENGINE_INVALID.
 */
dd_engine_status_t dd_engine_import_thing(dd_engine_t *engine, const char *thing,
                                          const uint8_t *blob, size_t len);

/** @brief Restores engine-wide time (the last time seen), e.g. after a restart. */
dd_engine_status_t dd_engine_set_time(dd_engine_t *engine, int64_t now_ms);

/** @return The last time the engine has seen (0 before any call). */
int64_t dd_engine_now(const dd_engine_t *engine);

/**
 * @brief Restores an ML behavior's datapoint count (from the store).
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER or DD_ENGINE_NOT_FOUND.
 */
dd_engine_status_t dd_engine_set_training(dd_engine_t *engine, const char *profile,
                                          const char *behavior, uint64_t datapoints,
                                          int64_t start_ms);

/**
 * @brief Lists the ML training summaries (profile order, behavior order).
 * @param[in] engine Engine.
 * @param[in] profile Only this profile, or NULL for all.
 * @param[in] fn Called once per ML behavior; return non-zero to stop.
 * @param[in] ctx Passed to @p fn.
 * @return DD_ENGINE_OK, DD_ENGINE_BAD_PARAMETER or DD_ENGINE_NOT_FOUND (unknown profile).
 */
dd_engine_status_t dd_engine_training_summaries(const dd_engine_t *engine, const char *profile,
                                                int (*fn)(void *ctx,
                                                          const dd_training_summary_t *s),
                                                void *ctx);

/** @brief Size figures. */
void dd_engine_get_stats(const dd_engine_t *engine, dd_engine_stats_t *out);

/** @return Static text for @p status. */
const char *dd_engine_strerror(dd_engine_status_t status);

#endif /* DD_ENGINE_H_ */
