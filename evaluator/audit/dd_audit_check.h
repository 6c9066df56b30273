/**
 * @file dd_audit_check.h
 * @brief Device Defender Audit checks: the catalogue of every check in AWS's
 *        service model, and the contract a computed check fulfils.
 *
 * A check is a function over the real state of ddlocal, handed to it as a
 * dd_audit_world_t (the registry, the evaluator's store, the pipeline time).
 * It reports each non-compliant resource to a sink, one call per finding,
 * and returns through @p resources_checked how many resources it examined
 * (AWS's totalResourcesCount). Checks keep no state between runs; audit
 * tasks, suppressions and statistics belong to the caller (app/dd_audit).
 *
 * A check that ddlocal cannot compute (its resources do not exist here, e.g.
 * Cognito identity pools) has run == NULL and a @c not_applicable reason,
 * which the task reports as the check's message.
 *
 * Ownership: the world is borrowed for the call. A finding and everything it
 * points to belong to the check and are valid only during the sink call: the
 * sink copies what it keeps. The catalogue is static and never freed.
 * Checks only read; they may run on any thread that holds the pipeline lock.
 */
#ifndef DD_AUDIT_CHECK_H_
#define DD_AUDIT_CHECK_H_

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_registry.h"
#include "dd_store.h"

/** Status of the audit check functions. */
typedef enum dd_audit_status {
    DD_AUDIT_OK = 0,           /**< Success. */
    DD_AUDIT_INVALID_ARGUMENT, /**< A required argument was NULL or out of range. */
    DD_AUDIT_NO_MEMORY,        /**< An allocation failed. */
    DD_AUDIT_STATE_ERROR,      /**< The registry or store could not be read (logged). */
    DD_AUDIT_STOPPED,          /**< The sink asked to stop (non-zero return). */
    DD_AUDIT_NOT_APPLICABLE    /**< The check is not computed by ddlocal (see not_applicable). */
} dd_audit_status_t;

/** What a check may read. Borrowed; every member is set by the caller. */
typedef struct dd_audit_world {
    dd_registry_t *registry;   /**< Things, certificates, CA certificates, policies, settings. */
    dd_store_t *store;         /**< The evaluator's store (connection history, ...). */
    int64_t now_ms;            /**< Pipeline time of the audit (epoch ms). */
    const cJSON *check_config; /**< The check's "configuration" map from the account audit
                                    configuration (e.g. CERT_AGE_THRESHOLD_IN_DAYS); may be NULL. */
    struct dd_audit_certcache *certs; /**< Parsed certificates shared by the checks (the few
                                           still parsed: the rest is read from the registry's
                                           stored facts), kept by the auditor
                                           (dd_audit_certcache.h); NULL: each parses. */
} dd_audit_world_t;

/** One non-compliant resource, in AWS's AuditFinding terms. Borrowed by the sink. */
typedef struct dd_audit_finding {
    const char *severity;             /**< CRITICAL, HIGH, MEDIUM, LOW; NULL = the check's. */
    const char *resource_type;        /**< ResourceType: DEVICE_CERTIFICATE, CA_CERTIFICATE,
                                            IOT_POLICY, CLIENT_ID, ACCOUNT_SETTINGS, ... */
    const cJSON *resource_identifier; /**< ResourceIdentifier object, e.g.
                                            {"deviceCertificateId": "..."}. */
    const cJSON *additional_info;     /**< String map (AdditionalInfo) or NULL. */
    const cJSON *related_resources;   /**< Array of RelatedResource objects or NULL. */
    const char *reason_code;          /**< reasonForNonComplianceCode. */
    const char *reason;               /**< reasonForNonCompliance. */
} dd_audit_finding_t;

/**
 * Receives one finding. Returns 0 to go on, non-zero to stop the check
 * (which then returns DD_AUDIT_STOPPED).
 */
typedef int (*dd_audit_sink_fn)(void *ctx, const dd_audit_finding_t *finding);

/**
 * A computed check.
 *
 * @param world              What to read (borrowed).
 * @param sink               Called once per non-compliant resource.
 * @param ctx                Passed to @p sink.
 * @param resources_checked  Out: how many resources were examined.
 * @return DD_AUDIT_OK, DD_AUDIT_STOPPED, DD_AUDIT_NO_MEMORY or DD_AUDIT_STATE_ERROR.
 */
typedef dd_audit_status_t (*dd_audit_check_fn)(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                               void *ctx, int64_t *resources_checked);

/** A check of the catalogue. */
typedef struct dd_audit_check_def {
    const char *name;           /**< AuditCheckName, e.g. DEVICE_CERTIFICATE_SHARED_CHECK. */
    const char *severity;       /**< Default severity of its findings (AWS's documentation). */
    dd_audit_check_fn run;      /**< NULL when not computed. */
    const char *not_applicable; /**< Why it is not computed (run == NULL), else NULL. */
} dd_audit_check_def_t;

/**
 * The whole catalogue, in AWS's order.
 *
 * @param count  Out: number of checks.
 * @return The static table; NULL only if @p count is NULL.
 */
const dd_audit_check_def_t *dd_audit_check_catalogue(size_t *count);

/**
 * Looks a check up by its AuditCheckName.
 *
 * @return The check, or NULL if @p name is NULL or not a check of the model.
 */
const dd_audit_check_def_t *dd_audit_check_find(const char *name);

/**
 * Runs one check of the catalogue.
 *
 * @return DD_AUDIT_NOT_APPLICABLE for a check that is not computed, else what
 *         the check returned; DD_AUDIT_INVALID_ARGUMENT for NULL arguments.
 */
dd_audit_status_t dd_audit_check_run(const dd_audit_check_def_t *check,
                                     const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                     void *ctx, int64_t *resources_checked);

/** A static description of @p status. */
const char *dd_audit_strerror(dd_audit_status_t status);

#endif /* DD_AUDIT_CHECK_H_ */
