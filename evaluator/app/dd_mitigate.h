/**
 * @file dd_mitigate.h
 * @brief The application layer of Device Defender mitigation: mitigation
 *        actions (create, describe, update, delete, list, with AWS's
 *        validation of actionParams) and Detect mitigation actions tasks
 *        (StartDetectMitigationActionsTask: choose the violations, run each
 *        action's executor on each violation's thing, record the executions).
 *
 * A task runs synchronously inside dd_mitigate_task_start(): it collects the
 * targeted violations from the evaluator store (active ones, then, unless
 * only active ones are wanted, violation events), applies the actions in the
 * listed order to each violation's thing (a failure skips the remaining
 * actions for that violation, as AWS documents), records one execution per
 * (violation, action) and finishes the task. Each action type has an
 * executor (dd_mitigate_execute(), shared with Audit mitigation tasks), on a
 * Detect violation's thing or an Audit finding: ADD_THINGS_TO_THING_GROUP,
 * UPDATE_DEVICE_CERTIFICATE (INACTIVE) and REPLACE_DEFAULT_POLICY_VERSION act
 * through the registry, so the broker shim sees the change at once;
 * ENABLE_IOT_LOGGING stores v2 logging options (dd_logopts);
 * PUBLISH_FINDING_TO_SNS goes through the configuration's publish_sns hook;
 * UPDATE_CA_CERTIFICATE, and the finding-only actions on a Detect thing, are
 * FAILED executions with errorCode "NotSupported" (docs/reference/mitigation.md
 * has the table). After a task changed the registry, the registry_changed
 * hook of the configuration is called (with the caller's lock still held)
 * before dd_mitigate_task_start() returns.
 *
 * Persistence is evaluator/store/dd_store_mitigation.h; building AWS JSON
 * stays with the caller (the API): the one JSON document this module stores
 * that it did not get as a request member, a task's action definitions, is
 * encoded by the caller's dd_mitigate_task_request_t::encode_actions.
 *
 * Ownership: the database, store and registry are borrowed and must outlive
 * the dd_mitigate_t. Rows handed out are caller-owned (free them with the
 * dd_store_mitigation_*_clear / *_free functions). Not thread-safe: the
 * caller holds the pipeline lock around every call (the API's dispatcher
 * does), which is also the lock the registry_changed hook expects held.
 */
#ifndef DD_MITIGATE_H_
#define DD_MITIGATE_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_registry.h"
#include "dd_store.h"
#include "dd_store_mitigation.h"

/** Status codes of this module. */
typedef enum dd_mitigate_status {
    DD_MITIGATE_OK = 0,
    DD_MITIGATE_BAD_PARAMETER, /**< NULL pointer or missing member. */
    DD_MITIGATE_INVALID,       /**< Refused request (InvalidRequestException); message says why. */
    DD_MITIGATE_NOT_FOUND,     /**< No such action / task. */
    DD_MITIGATE_EXISTS,        /**< Action name taken. */
    DD_MITIGATE_TASK_EXISTS,   /**< Task id taken by a request with another client token. */
    DD_MITIGATE_VIOLATIONS_ERROR, /**< Violations unreadable; the result's store_status says why. */
    DD_MITIGATE_NOT_SUPPORTED,    /**< An executor ddlocal does not run (an execution's status). */
    DD_MITIGATE_EXECUTION_FAILED, /**< An executor was refused (an execution's status). */
    DD_MITIGATE_NO_MEMORY,
    DD_MITIGATE_STORE_ERROR /**< A statement failed (logged). */
} dd_mitigate_status_t;

/** Length of an action id (UUID) including the NUL. */
#define DD_MITIGATE_ID_LEN DD_STORE_MITIGATION_ID_LEN
/** Size of paging keys. */
#define DD_MITIGATE_KEY_MAX DD_STORE_MITIGATION_KEY_MAX
/** Size of message buffers (refusals, an execution's message). */
#define DD_MITIGATE_MESSAGE_MAX 576
/** Longest action name. */
#define DD_MITIGATE_ACTION_NAME_MAX 128
/** Most actions one task runs (the model's limit). */
#define DD_MITIGATE_TASK_ACTIONS_MAX 5
/** Most violations one task acts on. */
#define DD_MITIGATE_TASK_VIOLATIONS_MAX 10000

/** The module (opaque). */
typedef struct dd_mitigate dd_mitigate_t;

/** What one execution reports besides its status. */
typedef struct dd_mitigate_outcome {
    char code[64];                         /**< errorCode of a FAILED execution. */
    char message[DD_MITIGATE_MESSAGE_MAX]; /**< message of a FAILED execution. */
    bool registry_changed; /**< The registry changed: call dd_mitigate_registry_changed(). */
} dd_mitigate_outcome_t;

/** Wiring of the module; every member but the hooks is required. */
typedef struct dd_mitigate_config {
    sqlite3 *db;             /**< The data dir's database (mitigation tables migrated). */
    dd_store_t *store;       /**< Violations and profiles a task reads. */
    dd_registry_t *registry; /**< What ADD_THINGS_TO_THING_GROUP changes. */
    /** The pipeline time in ms (creation dates, task and execution times). */
    int64_t (*now_ms)(void *clock_ctx);
    void *clock_ctx;
    /** Called (lock held) after a task changed the registry; NULL = none. */
    void (*registry_changed)(void *hook_ctx);
    /**
     * Fault injection: called (lock held) before a task runs action @p action_name of type
     * @p action_type on @p thing; true = the execution is FAILED with out->code and
     * out->message (filled by the hook) and the action does not run. NULL = never.
     */
    bool (*fault)(void *hook_ctx, const char *thing, const char *action_name,
                  const char *action_type, dd_mitigate_outcome_t *out);
    void *hook_ctx;
    /**
     * PUBLISH_FINDING_TO_SNS: publishes @p message (the finding's JSON) to the
     * SNS stand-in's topic @p topic_arn and its subscriptions, as Detect's
     * alerts are (lock held). Returns 0, DD_MITIGATE_SNS_INVALID (not an SNS
     * topic ARN of this account) or DD_MITIGATE_SNS_FAILED, with a reason in
     * @p msg. NULL = no SNS stand-in: the action fails with NotSupported.
     */
    int (*publish_sns)(void *sns_ctx, const char *topic_arn, const char *message, char *msg,
                       size_t msg_len);
    void *sns_ctx;
} dd_mitigate_config_t;

/** publish_sns's refusal of a topic ARN. */
#define DD_MITIGATE_SNS_INVALID 1
/** publish_sns could not queue the message. */
#define DD_MITIGATE_SNS_FAILED 2

/** StartDetectMitigationActionsTask's request, validated for syntax by the caller. */
typedef struct dd_mitigate_task_request {
    const char *task_id;
    const char *client_token;
    const char *target_json;          /**< The target as given (stored for Describe). */
    const char *const *violation_ids; /**< target.violationIds, or NULL = any. */
    size_t violation_id_count;        /**< Entries of @ref violation_ids. */
    const char *profile;              /**< target.securityProfileName, or NULL. */
    const char *behavior;             /**< target.behaviorName, or NULL. */
    const char *const *actions;       /**< Action names in execution order. */
    size_t action_count;              /**< 1..DD_MITIGATE_TASK_ACTIONS_MAX. */
    bool has_range;                   /**< violationEventOccurrenceRange given. */
    int64_t range_start_ms;
    int64_t range_end_ms;
    int only_active;        /**< includeOnlyActiveViolations: -1 absent, 0, 1. */
    int include_suppressed; /**< includeSuppressedAlerts: -1 absent, 0, 1. */
    /**
     * Encodes the task's actionsDefinition (the actions as loaded, in order)
     * as JSON text to store with the task; returns malloc'd text, NULL when
     * out of memory.
     */
    char *(*encode_actions)(void *encode_ctx, const dd_store_mitigation_action_t *actions,
                            size_t count);
    void *encode_ctx;
} dd_mitigate_task_request_t;

/** What dd_mitigate_task_start() did. */
typedef struct dd_mitigate_task_result {
    bool repeated;     /**< Same task id and client token as before: nothing was run. */
    size_t violations; /**< Violations acted on. */
    int64_t executed;  /**< Executions SUCCESSFUL. */
    int64_t skipped;   /**< Executions SKIPPED (an earlier action failed). */
    int64_t failed;    /**< Executions FAILED. */
    dd_store_status_t store_status;        /**< With DD_MITIGATE_VIOLATIONS_ERROR. */
    char message[DD_MITIGATE_MESSAGE_MAX]; /**< With DD_MITIGATE_INVALID. */
} dd_mitigate_task_result_t;

/** What a mitigation action acts on: a Detect violation's thing or an Audit finding. */
typedef struct dd_mitigate_target {
    const char *thing;    /**< Detect: the violating thing; NULL for an Audit finding. */
    const cJSON *finding; /**< Audit: the AuditFinding (nonCompliantResource, relatedResources,
                               checkName, findingId ...); NULL for a Detect violation. */
} dd_mitigate_target_t;

/**
 * @brief Creates the module.
 * @param[in] config Wiring (copied).
 * @param[out] out New module.
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER or DD_MITIGATE_NO_MEMORY.
 */
dd_mitigate_status_t dd_mitigate_open(const dd_mitigate_config_t *config, dd_mitigate_t **out);

/** @brief Frees the module; NULL is ignored. */
void dd_mitigate_close(dd_mitigate_t *m);

/**
 * @brief Checks a MitigationActionParams object: exactly one member, each
 *        with its required members and enum values.
 * @param[in] params The actionParams object.
 * @param[out] type The matching actionType (static string).
 * @param[out] msg DD_MITIGATE_MESSAGE_MAX buffer for the refusal (may be NULL).
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER or DD_MITIGATE_INVALID.
 */
dd_mitigate_status_t dd_mitigate_params_validate(const cJSON *params, const char **type, char *msg);

/* ---- actions ---------------------------------------------------------------- */

/**
 * @brief CreateMitigationAction: validates @p params, gives the action a new
 *        UUID and stores it (created = modified = now).
 * @param[out] id The new id, or the existing action's on DD_MITIGATE_EXISTS.
 * @param[out] msg DD_MITIGATE_MESSAGE_MAX buffer, filled on DD_MITIGATE_INVALID.
 * @return DD_MITIGATE_OK, DD_MITIGATE_INVALID, DD_MITIGATE_EXISTS,
 *         DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_action_create(dd_mitigate_t *m, const char *name,
                                               const char *role_arn, const cJSON *params,
                                               char id[DD_MITIGATE_ID_LEN], char *msg);

/**
 * @brief DescribeMitigationAction.
 * @param[out] out The action (clear with dd_store_mitigation_action_clear()).
 * @return DD_MITIGATE_OK, DD_MITIGATE_NOT_FOUND, DD_MITIGATE_BAD_PARAMETER,
 *         DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_action_describe(dd_mitigate_t *m, const char *name,
                                                 dd_store_mitigation_action_t *out);

/**
 * @brief UpdateMitigationAction: changes the role and/or the params (NULL =
 *        unchanged; new params are validated and may change the type) and
 *        lastModifiedDate.
 * @param[out] out The updated action (clear with dd_store_mitigation_action_clear()).
 * @param[out] msg DD_MITIGATE_MESSAGE_MAX buffer, filled on DD_MITIGATE_INVALID.
 * @return DD_MITIGATE_OK, DD_MITIGATE_INVALID, DD_MITIGATE_NOT_FOUND,
 *         DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_action_update(dd_mitigate_t *m, const char *name,
                                               const char *role_arn, const cJSON *params,
                                               dd_store_mitigation_action_t *out, char *msg);

/**
 * @brief DeleteMitigationAction (absent: OK, as AWS).
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_action_delete(dd_mitigate_t *m, const char *name);

/**
 * @brief ListMitigationActions, in name order.
 * @param[in] type Only this actionType, or NULL.
 * @param[in] after Resume key ("" = start).
 * @param[in] limit Page size (> 0).
 * @param[out] rows Array (free with dd_store_mitigation_actions_free()).
 * @param[out] next Resume key, "" at the end (DD_MITIGATE_KEY_MAX).
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or
 *         DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_action_list(dd_mitigate_t *m, const char *type, const char *after,
                                             int limit, dd_store_mitigation_action_t **rows,
                                             size_t *count, char *next);

/* ---- tasks -------------------------------------------------------------------- */

/**
 * @brief StartDetectMitigationActionsTask: runs the task to completion (see
 *        the file comment). A repeated request (same task id and client
 *        token) does nothing and answers OK with result->repeated set.
 * @param[in] request The request.
 * @param[out] result Counters, and the reason of a refusal.
 * @return DD_MITIGATE_OK (the task ran, whatever its executions' outcome),
 *         DD_MITIGATE_TASK_EXISTS, DD_MITIGATE_INVALID (unknown action or
 *         security profile; result->message), DD_MITIGATE_VIOLATIONS_ERROR
 *         (result->store_status), DD_MITIGATE_BAD_PARAMETER,
 *         DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_task_start(dd_mitigate_t *m,
                                            const dd_mitigate_task_request_t *request,
                                            dd_mitigate_task_result_t *result);

/**
 * @brief DescribeDetectMitigationActionsTask.
 * @param[out] out The task (clear with dd_store_mitigation_task_clear()).
 * @return DD_MITIGATE_OK, DD_MITIGATE_NOT_FOUND, DD_MITIGATE_BAD_PARAMETER,
 *         DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_task_describe(dd_mitigate_t *m, const char *task_id,
                                               dd_store_mitigation_task_t *out);

/**
 * @brief ListDetectMitigationActionsTasks: tasks started in [start_ms, end_ms].
 * @param[out] rows Array (free with dd_store_mitigation_tasks_free()).
 * @param[out] next Resume key, "" at the end (DD_MITIGATE_KEY_MAX).
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or
 *         DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_task_list(dd_mitigate_t *m, int64_t start_ms, int64_t end_ms,
                                           const char *after, int limit,
                                           dd_store_mitigation_task_t **rows, size_t *count,
                                           char *next);

/**
 * @brief CancelDetectMitigationActionsTask: only an IN_PROGRESS task can be
 *        canceled (tasks run to completion inside dd_mitigate_task_start(),
 *        so none is ever seen in progress).
 * @param[out] msg DD_MITIGATE_MESSAGE_MAX buffer, filled on DD_MITIGATE_INVALID.
 * @return DD_MITIGATE_OK, DD_MITIGATE_NOT_FOUND, DD_MITIGATE_INVALID,
 *         DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_task_cancel(dd_mitigate_t *m, const char *task_id, char *msg);

/**
 * @brief ListDetectMitigationActionsExecutions, in the order they ran.
 * @param[in] filter NULL matches all.
 * @param[out] rows Array (free with dd_store_mitigation_executions_free()).
 * @param[out] next Resume key, "" at the end (DD_MITIGATE_KEY_MAX).
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NO_MEMORY or
 *         DD_MITIGATE_STORE_ERROR.
 */
dd_mitigate_status_t dd_mitigate_execution_list(dd_mitigate_t *m,
                                                const dd_store_mitigation_exec_filter_t *filter,
                                                const char *after, int limit,
                                                dd_store_mitigation_execution_t **rows,
                                                size_t *count, char *next);

/**
 * @brief Runs one action of type @p type with its parameters on one target.
 *        Detect tasks and Audit mitigation tasks share these executors. The
 *        caller holds the pipeline lock and, after its batch, calls
 *        dd_mitigate_registry_changed() if any outcome says so.
 * @param[in] m The module.
 * @param[in] type actionType (e.g. ADD_THINGS_TO_THING_GROUP).
 * @param[in] params The action's actionParams object (NULL: none stored).
 * @param[in] target What it acts on (borrowed).
 * @param[out] out Error code and message of a failed execution.
 * @return DD_MITIGATE_OK, DD_MITIGATE_BAD_PARAMETER, DD_MITIGATE_NOT_SUPPORTED or
 *         DD_MITIGATE_EXECUTION_FAILED.
 */
dd_mitigate_status_t dd_mitigate_execute(dd_mitigate_t *m, const char *type, const cJSON *params,
                                         const dd_mitigate_target_t *target,
                                         dd_mitigate_outcome_t *out);

/**
 * @brief Tells the wiring that executions changed the registry (the broker
 *        shim must see it before the next packet). No-op without a hook.
 * @param[in] m The module (NULL is a no-op).
 */
void dd_mitigate_registry_changed(dd_mitigate_t *m);

/** @return Static text for @p status. */
const char *dd_mitigate_strerror(dd_mitigate_status_t status);

#endif /* DD_MITIGATE_H_ */
