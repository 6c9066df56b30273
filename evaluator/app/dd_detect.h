/**
 * @file dd_detect.h
 * @brief The application layer of Device Defender Detect: every change of
 *        security profiles (and their targets), custom metrics, dimensions
 *        and verification states goes to the store AND the engine in one
 *        store transaction, or to neither; reads come from the store. And
 *        the alert fan-out: which targets get which violation event.
 *
 * Callers (the API's Defender handlers, tests) parse a request, call one
 * dd_detect_*() function and map its status to their protocol; they never
 * open a store transaction or touch the engine for these subjects
 * themselves. Within the transaction the engine's sink writes what a change
 * ends (e.g. "alarm-invalidated" for a removed behavior) into the same
 * transaction; a failure anywhere rolls everything back.
 *
 * Alert fan-out (dd_detect_alert_fanout()): for each violation event the
 * engine emits, the app decides whether it is alerted (not for a behavior
 * with suppressAlerts, a profile without alertTargets.SNS or with a target
 * that is no SNS topic ARN) and to whom: the SNS stand-in's MQTT topic
 * first, then every subscription of that topic in the registry (HTTP(S)
 * webhooks and Lambda functions). The caller builds and queues the payloads
 * (service/dd_alerts.h builds the AWS shapes).
 *
 * Lock rule: this module takes no lock. The store, engine and registry it is
 * given are guarded by the pipeline lock (dd_pipeline.h), which the CALLER
 * holds for the whole call: the API's dispatcher takes it around every
 * handler flagged API_LOCKED (all Defender handlers are), ddlocald's worker
 * around a batch. The caller also calls the pipeline's defender_changed()
 * hook after a successful change, before unlocking.
 *
 * Ownership: dd_detect_t is a view, filled per use (dd_pipeline_detect()):
 * it borrows the store, engine (which the pipeline replaces after a
 * rollback) and clock. Profiles returned through pointers are the caller's
 * and released with dd_profile_free().
 */
#ifndef DD_DETECT_H_
#define DD_DETECT_H_

#include <stdbool.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_engine.h"
#include "dd_names.h"
#include "dd_profile.h"
#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_detect_status {
    DD_DETECT_OK = 0,
    DD_DETECT_BAD_PARAMETER,    /**< NULL pointer or empty name. */
    DD_DETECT_NO_MEMORY,        /**< Out of memory parsing or merging a document. */
    DD_DETECT_INVALID,          /**< Document refused; the reason is in the error's message. */
    DD_DETECT_NOT_FOUND,        /**< No such profile, custom metric, dimension or violation. */
    DD_DETECT_EXISTS,           /**< Already exists. */
    DD_DETECT_VERSION_CONFLICT, /**< expectedVersion differs; error.version when known. */
    DD_DETECT_LIMIT,            /**< A store limit (profiles per target). */
    DD_DETECT_IN_USE,           /**< Still used by a security profile. */
    DD_DETECT_STORE_ERROR,      /**< Any other store failure (error.store). */
    DD_DETECT_ENGINE_ERROR      /**< The engine refused the change (error.engine). */
} dd_detect_status_t;

/** A Create call's clientRequestToken (AWS: a retry with it gets the first answer). */
typedef struct dd_detect_request {
    const char *token;  /**< clientRequestToken; NULL or "" = none. */
    const char *digest; /**< Digest of the whole request: same request, same digest. */
    bool replayed;      /**< Out: an earlier request with the token made the resource. */
    /** Out, with DD_DETECT_EXISTS: the resource in the way (its name). */
    char resource[DD_STORE_RESOURCE_MAX];
} dd_detect_request_t;

/** Details of a failure, for callers that map them to a protocol's errors. */
typedef struct dd_detect_error {
    /** The store's status behind NOT_FOUND, EXISTS, VERSION_CONFLICT, LIMIT, IN_USE, STORE_ERROR. */
    dd_store_status_t store;
    /** The store failed to begin or commit the transaction (not the change itself). */
    bool transaction;
    dd_engine_status_t engine; /**< With DD_DETECT_ENGINE_ERROR. */
    int64_t version;           /**< Current version on a conflict found before writing, else -1. */
    char message[DD_PROFILE_MESSAGE_MAX]; /**< With DD_DETECT_INVALID. */
} dd_detect_error_t;

/** What the application layer works on (borrowed). */
typedef struct dd_detect {
    struct dd_store *store;   /**< Required. */
    struct dd_engine *engine; /**< NULL: the store alone is changed. */
    const dd_clock_t *clock;  /**< Required: the pipeline clock. */
    dd_registry_t *registry;  /**< Subscriptions of the alert fan-out; NULL: none. */
    dd_arn_ctx_t arn;         /**< Region and account (profile target validation). */
} dd_detect_t;

/**
 * @brief The pipeline time of a change: the clock, never behind the engine.
 * @return Milliseconds since the epoch; 0 for a NULL @p d.
 */
int64_t dd_detect_now_ms(const dd_detect_t *d);

/* ---- security profiles ----------------------------------------------------------------- */

/**
 * @brief CreateSecurityProfile: parses and validates @p doc (profile JSON
 *        without name/arn/version/dates/targets) against the engine's custom
 *        metrics and dimensions, then stores it and puts it in the engine.
 * @param[in] d View.
 * @param[in] name Profile name (checked by the caller's protocol).
 * @param[in] doc Profile document.
 * @param[in] len Length of @p doc.
 * @param[out] err Details; may be NULL.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NO_MEMORY,
 *         DD_DETECT_INVALID, DD_DETECT_EXISTS, DD_DETECT_STORE_ERROR or
 *         DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_profile_create(const dd_detect_t *d, const char *name, const char *doc,
                                            size_t len, dd_detect_error_t *err);

/**
 * @brief UpdateSecurityProfile: merges the update document @p doc into the
 *        stored profile (members absent are kept, delete* flags remove),
 *        validates, stores the new version and puts it in the engine.
 * @param[in] expected_version -1 for any version.
 * @param[out] stored The profile as stored (new version, dates); caller frees.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NO_MEMORY,
 *         DD_DETECT_INVALID, DD_DETECT_NOT_FOUND, DD_DETECT_VERSION_CONFLICT
 *         (err->version = the current version), DD_DETECT_STORE_ERROR or
 *         DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_profile_update(const dd_detect_t *d, const char *name, const char *doc,
                                            size_t len, int64_t expected_version,
                                            dd_profile_t *stored, dd_detect_error_t *err);

/**
 * @brief DeleteSecurityProfile: removes it from the store and the engine
 *        (whose active violations of it end).
 * @param[in] expected_version -1 for any version.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_VERSION_CONFLICT, DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_profile_delete(const dd_detect_t *d, const char *name,
                                            int64_t expected_version, dd_detect_error_t *err);

/**
 * @brief DescribeSecurityProfile from the store.
 * @param[out] profile Caller frees with dd_profile_free().
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND or DD_DETECT_STORE_ERROR.
 */
dd_detect_status_t dd_detect_profile_get(const dd_detect_t *d, const char *name,
                                         dd_profile_t *profile, dd_detect_error_t *err);

/**
 * @brief Attach/DetachSecurityProfile: adds or removes a target ARN (already
 *        checked by the caller) and puts the profile with its new targets in
 *        the engine.
 * @param[in] attach true to attach, false to detach.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_LIMIT (DD_PROFILE_MAX_PER_TARGET reached), DD_DETECT_STORE_ERROR
 *         or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_profile_target(const dd_detect_t *d, const char *name,
                                            const char *target_arn, bool attach,
                                            dd_detect_error_t *err);

/* ---- violations -------------------------------------------------------------------------- */

/**
 * @brief PutVerificationStateOnViolation: on the stored violation (active
 *        and history) and on the engine's active one, if it still is.
 * @param[in] description May be NULL.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_set_verification(const dd_detect_t *d, const char *violation_id,
                                              dd_verification_t state, const char *description,
                                              dd_detect_error_t *err);

/* ---- custom metrics -------------------------------------------------------------------------- */

/**
 * @brief CreateCustomMetric: stores @p def (creation/modified dates set to
 *        now here) and makes it known to the engine. With a token in @p req,
 *        the same request again (same token and digest) answers OK with the
 *        metric it made (req->replayed) and another request with the token
 *        answers DD_DETECT_EXISTS naming that metric in req->resource.
 * @param[in,out] def Definition; its dates are set (all of it on a replay).
 * @param[in,out] req The request's token and digest, or NULL.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_EXISTS,
 *         DD_DETECT_LIMIT, DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_custom_metric_create(const dd_detect_t *d, dd_custom_metric_def_t *def,
                                                  dd_detect_request_t *req, dd_detect_error_t *err);

/**
 * @brief UpdateCustomMetric: a new display name.
 * @param[out] def The definition as stored.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_custom_metric_update(const dd_detect_t *d, const char *name,
                                                  const char *display_name,
                                                  dd_custom_metric_def_t *def,
                                                  dd_detect_error_t *err);

/**
 * @brief DeleteCustomMetric (refused while a profile uses it).
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_IN_USE, DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_custom_metric_delete(const dd_detect_t *d, const char *name,
                                                  dd_detect_error_t *err);

/**
 * @brief DescribeCustomMetric from the store.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND or DD_DETECT_STORE_ERROR.
 */
dd_detect_status_t dd_detect_custom_metric_get(const dd_detect_t *d, const char *name,
                                               dd_custom_metric_def_t *def, dd_detect_error_t *err);

/* ---- dimensions -------------------------------------------------------------------------------- */

/**
 * @brief CreateDimension: stores @p def (dates set to now here) and makes it
 *        known to the engine; @p req (or NULL) as for dd_detect_custom_metric_create().
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_EXISTS,
 *         DD_DETECT_LIMIT, DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_dimension_create(const dd_detect_t *d, dd_dimension_def_t *def,
                                              dd_detect_request_t *req, dd_detect_error_t *err);

/**
 * @brief UpdateDimension: @p def is a stored dimension (dd_detect_dimension_get())
 *        with new values; its modified date is set to now here.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_dimension_update(const dd_detect_t *d, dd_dimension_def_t *def,
                                              dd_detect_error_t *err);

/**
 * @brief DeleteDimension (refused while a profile uses it).
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND,
 *         DD_DETECT_IN_USE, DD_DETECT_STORE_ERROR or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_dimension_delete(const dd_detect_t *d, const char *name,
                                              dd_detect_error_t *err);

/**
 * @brief DescribeDimension from the store.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND or DD_DETECT_STORE_ERROR.
 */
dd_detect_status_t dd_detect_dimension_get(const dd_detect_t *d, const char *name,
                                           dd_dimension_def_t *def, dd_detect_error_t *err);

/* ---- reads (store and engine, no transaction) -------------------------------------------------- */

/*
 * The lists below pass the store's pages through: @p page and @p next_token
 * as in dd_store.h, @p fn called per item (non-zero stops). Each returns
 * DD_DETECT_OK, DD_DETECT_BAD_PARAMETER or a store-derived status with
 * err->store set (DD_DETECT_STORE_ERROR for a bad token: DD_STORE_BAD_TOKEN).
 * (ListActiveViolations and ListViolationEvents still read the store
 * directly: the store's violation rows are being reshaped separately.)
 */

/** @brief ListSecurityProfiles, optionally only those using @p metric or @p dimension. */
dd_detect_status_t dd_detect_profile_list(const dd_detect_t *d, const char *metric,
                                          const char *dimension, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX],
                                          dd_detect_error_t *err);

/** @brief ListTargetsForSecurityProfile: the target ARNs of a profile, in attach order. */
dd_detect_status_t dd_detect_profile_targets(const dd_detect_t *d, const char *profile,
                                             const dd_store_page_t *page,
                                             int (*fn)(void *ctx, const char *arn), void *ctx,
                                             char next_token[DD_STORE_TOKEN_MAX],
                                             dd_detect_error_t *err);

/** @brief Profiles attached to exactly @p target_arn, in name order (no paging). */
dd_detect_status_t dd_detect_profiles_for_target(const dd_detect_t *d, const char *target_arn,
                                                 int (*fn)(void *ctx, const char *profile),
                                                 void *ctx, dd_detect_error_t *err);

/** @brief ListCustomMetrics. */
dd_detect_status_t dd_detect_custom_metric_list(const dd_detect_t *d, const dd_store_page_t *page,
                                                int (*fn)(void *ctx, const char *name), void *ctx,
                                                char next_token[DD_STORE_TOKEN_MAX],
                                                dd_detect_error_t *err);

/** @brief ListDimensions. */
dd_detect_status_t dd_detect_dimension_list(const dd_detect_t *d, const dd_store_page_t *page,
                                            int (*fn)(void *ctx, const char *name), void *ctx,
                                            char next_token[DD_STORE_TOKEN_MAX],
                                            dd_detect_error_t *err);

/** @brief ListMetricValues: retained values of a thing's metric in [start_ms, end_ms). */
dd_detect_status_t dd_detect_metric_values(const dd_detect_t *d, const char *thing,
                                           const char *metric, const char *dimension,
                                           int64_t start_ms, int64_t end_ms,
                                           const dd_store_page_t *page,
                                           int (*fn)(void *ctx, int64_t time_ms, const char *value),
                                           void *ctx, char next_token[DD_STORE_TOKEN_MAX],
                                           dd_detect_error_t *err);

/**
 * @brief GetBehaviorModelTrainingSummaries from the engine (nothing without one).
 * @param[in] profile NULL for every profile.
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER, DD_DETECT_NOT_FOUND (no such
 *         profile) or DD_DETECT_ENGINE_ERROR.
 */
dd_detect_status_t dd_detect_training_summaries(const dd_detect_t *d, const char *profile,
                                                int (*fn)(void *ctx,
                                                          const dd_training_summary_t *s),
                                                void *ctx, dd_detect_error_t *err);

/**
 * @brief The custom metrics and dimensions a profile is validated against
 *        (the engine's; none without one). Borrowed until the next change.
 */
void dd_detect_defs(const dd_detect_t *d, dd_metric_defs_t *defs);

/* ---- alert fan-out ---------------------------------------------------------------------------- */

/** Kinds of alert targets. */
typedef enum dd_detect_alert_kind {
    DD_DETECT_ALERT_TOPIC = 0, /**< The SNS stand-in's MQTT topic: gets the Lambda event. */
    DD_DETECT_ALERT_WEBHOOK,   /**< An HTTP(S) subscription: gets the SNS notification. */
    DD_DETECT_ALERT_LAMBDA     /**< A Lambda subscription: gets its own Lambda event. */
} dd_detect_alert_kind_t;

/** One target of an alert (strings borrowed for the call). */
typedef struct dd_detect_alert_target {
    dd_detect_alert_kind_t kind;
    const char *topic_name;  /**< SNS topic name (the target ARN's last part). */
    const char *topic_arn;   /**< The profile's SNS target ARN. */
    const char *endpoint;    /**< URL or Lambda function ARN; NULL for the topic. */
    int64_t subscription_id; /**< The registry's subscription id; 0 for the topic. */
} dd_detect_alert_target_t;

/** Receives each target of an alert, the topic first. */
typedef void (*dd_detect_alert_fn)(void *ctx, const dd_violation_event_t *ev,
                                   const dd_detect_alert_target_t *target);

/**
 * @brief Decides whether a violation event is alerted, and on which SNS
 *        topic: nothing for a behavior with suppressAlerts (its event is only
 *        stored, flagged), for a profile without alertTargets.SNS, or when
 *        the target ARN is not an SNS topic ARN (logged as a warning).
 * @param[in] ev The event.
 * @param[in] profile The event's profile; NULL (deleted meanwhile) = no alert.
 * @param[out] topic_name The topic's name (pointing into @p profile), or NULL.
 * @return DD_DETECT_OK or DD_DETECT_BAD_PARAMETER (@p ev or @p topic_name NULL).
 */
dd_detect_status_t dd_detect_alert_topic(const dd_violation_event_t *ev,
                                         const dd_profile_t *profile, const char **topic_name);

/**
 * @brief The alert fan-out of one violation event: calls @p fn for the
 *        topic, then for each subscription of it, or not at all when the
 *        event is not alerted (dd_detect_alert_topic() with the engine's
 *        profile of the event).
 * @return DD_DETECT_OK, DD_DETECT_BAD_PARAMETER or DD_DETECT_STORE_ERROR (the
 *         subscriptions could not be read; the topic was called already).
 */
dd_detect_status_t dd_detect_alert_fanout(const dd_detect_t *d, const dd_violation_event_t *ev,
                                          dd_detect_alert_fn fn, void *ctx);

/** @return Static text for @p status. */
const char *dd_detect_strerror(dd_detect_status_t status);

#endif /* DD_DETECT_H_ */
