/**
 * @file dd_mitigation.h
 * @brief Storage of Device Defender mitigation actions, Detect mitigation
 *        tasks and their executions, in the data dir's database (component
 *        "mitigation"), plus validation of MitigationActionParams.
 *
 * This module only records; executing a task (reading the targeted
 * violations, adding things to groups through the registry) is the API's
 * job (dd_api_mitigation.c), which runs it synchronously inside the
 * StartDetectMitigationActionsTask request.
 *
 * Ownership: the sqlite3 handle is borrowed and must outlive the
 * dd_mitigation_t; close this module first. Row structs passed to callbacks
 * are valid only during the callback. Not thread-safe: the caller holds the
 * pipeline lock around every call.
 */
#ifndef DD_MITIGATION_H_
#define DD_MITIGATION_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_names.h"

/** Status codes of this module. */
typedef enum dd_mitigation_status {
    DD_MITIGATION_OK = 0,
    DD_MITIGATION_BAD_PARAMETER, /**< NULL pointer. */
    DD_MITIGATION_INVALID,       /**< Invalid actionParams; the message says why. */
    DD_MITIGATION_NOT_FOUND,     /**< No such action / task. */
    DD_MITIGATION_EXISTS,        /**< Action name or task id taken. */
    DD_MITIGATION_NO_MEMORY,
    DD_MITIGATION_SQL_ERROR /**< A statement failed (logged). */
} dd_mitigation_status_t;

/** Component name for dd_db_migrate(). */
#define DD_MITIGATION_COMPONENT "mitigation"
/** Length of an action id (UUID) including the NUL. */
#define DD_MITIGATION_ID_LEN 37
/** Size of message buffers of dd_mitigation_params_validate(). */
#define DD_MITIGATION_MESSAGE_MAX 256
/** Size of paging keys. */
#define DD_MITIGATION_KEY_MAX 160

/** The module (opaque). */
typedef struct dd_mitigation dd_mitigation_t;

/** A mitigation action as DescribeMitigationAction shows it. */
typedef struct dd_mitigation_action {
    const char *name;
    const char *id;   /**< actionId (UUID) */
    const char *type; /**< actionType, e.g. "ADD_THINGS_TO_THING_GROUP" */
    const char *role_arn;
    const char *params_json; /**< actionParams as JSON text */
    int64_t created_ms;
    int64_t modified_ms;
} dd_mitigation_action_t;

/** A Detect mitigation actions task. */
typedef struct dd_mitigation_task {
    const char *task_id;
    const char *client_token;
    const char *status; /**< IN_PROGRESS, SUCCESSFUL, FAILED, CANCELED */
    int64_t start_ms;
    int64_t end_ms;          /**< 0 while running */
    const char *target_json; /**< DetectMitigationActionsTaskTarget as given */
    bool has_range;
    int64_t range_start_ms;
    int64_t range_end_ms;
    int only_active;          /**< includeOnlyActiveViolations: -1 absent, 0, 1 */
    int include_suppressed;   /**< includeSuppressedAlerts: -1 absent, 0, 1 */
    const char *actions_json; /**< Array of action definitions (Describe shape) at start */
    int64_t executed;
    int64_t skipped;
    int64_t failed;
} dd_mitigation_task_t;

/** One action run on one violation. */
typedef struct dd_mitigation_execution {
    const char *task_id;
    const char *violation_id;
    const char *action_name;
    const char *thing;
    int64_t start_ms;
    int64_t end_ms;
    const char *status;     /**< IN_PROGRESS, SUCCESSFUL, FAILED, SKIPPED */
    const char *error_code; /**< NULL when none */
    const char *message;    /**< NULL when none */
} dd_mitigation_execution_t;

/** Filter of dd_mitigation_execution_list(); NULL / 0 members match all. */
typedef struct dd_mitigation_exec_filter {
    const char *task_id;
    const char *violation_id;
    const char *thing;
    int64_t start_ms; /**< executionStartDate >= start (0: no bound) */
    int64_t end_ms;   /**< executionStartDate <= end (0: no bound) */
} dd_mitigation_exec_filter_t;

typedef int (*dd_mitigation_action_fn)(void *ctx, const dd_mitigation_action_t *action);
typedef int (*dd_mitigation_task_fn)(void *ctx, const dd_mitigation_task_t *task);
typedef int (*dd_mitigation_exec_fn)(void *ctx, const dd_mitigation_execution_t *exec);

/**
 * @brief Migrates the tables and prepares the module.
 * @param[in] db Open database (borrowed).
 * @param[in] arn Region/account for ARNs (copied; NULL = defaults).
 * @param[out] out New module.
 * @return DD_MITIGATION_OK, DD_MITIGATION_BAD_PARAMETER, DD_MITIGATION_NO_MEMORY
 *         or DD_MITIGATION_SQL_ERROR.
 */
dd_mitigation_status_t dd_mitigation_open(sqlite3 *db, const dd_arn_ctx_t *arn,
                                          dd_mitigation_t **out);

/** @brief Frees the module; NULL is ignored. */
void dd_mitigation_close(dd_mitigation_t *m);

/**
 * @brief Checks a MitigationActionParams object: exactly one member, each
 *        with its required members and enum values.
 * @param[in] params The actionParams object.
 * @param[out] type The matching actionType (static string).
 * @param[out] msg DD_MITIGATION_MESSAGE_MAX buffer for the refusal.
 * @return DD_MITIGATION_OK, DD_MITIGATION_BAD_PARAMETER or DD_MITIGATION_INVALID.
 */
dd_mitigation_status_t dd_mitigation_params_validate(const cJSON *params, const char **type,
                                                     char *msg);

/* ---- actions ---------------------------------------------------------------- */

/**
 * @brief Creates an action with a new UUID.
 * @param[out] id Receives the new id (or the existing one on DD_MITIGATION_EXISTS).
 * @return DD_MITIGATION_OK, DD_MITIGATION_EXISTS, DD_MITIGATION_BAD_PARAMETER or
 *         DD_MITIGATION_SQL_ERROR.
 */
dd_mitigation_status_t dd_mitigation_action_create(dd_mitigation_t *m, const char *name,
                                                   const char *type, const char *role_arn,
                                                   const char *params_json, int64_t now_ms,
                                                   char id[DD_MITIGATION_ID_LEN]);

/** @brief Reads one action; @p fn is called once. */
dd_mitigation_status_t dd_mitigation_action_get(dd_mitigation_t *m, const char *name,
                                                dd_mitigation_action_fn fn, void *ctx);

/**
 * @brief Changes role and/or params (NULL = unchanged; @p type goes with
 *        @p params_json) and lastModifiedDate.
 * @return DD_MITIGATION_OK, DD_MITIGATION_NOT_FOUND, ... ; @p fn gets the result.
 */
dd_mitigation_status_t dd_mitigation_action_update(dd_mitigation_t *m, const char *name,
                                                   const char *type, const char *role_arn,
                                                   const char *params_json, int64_t now_ms,
                                                   dd_mitigation_action_fn fn, void *ctx);

/** @brief Deletes an action (absent: OK, as AWS). */
dd_mitigation_status_t dd_mitigation_action_delete(dd_mitigation_t *m, const char *name);

/**
 * @brief Lists actions in name order.
 * @param[in] type Only this actionType, or NULL.
 * @param[in] after Resume key ("" = start).
 * @param[in] limit Page size (> 0).
 * @param[out] next Resume key of the next page, "" at the end (DD_MITIGATION_KEY_MAX).
 */
dd_mitigation_status_t dd_mitigation_action_list(dd_mitigation_t *m, const char *type,
                                                 const char *after, int limit,
                                                 dd_mitigation_action_fn fn, void *ctx, char *next);

/* ---- tasks -------------------------------------------------------------------- */

/**
 * @brief Records a new task (status and counters as given).
 * @return DD_MITIGATION_OK, DD_MITIGATION_EXISTS (task id taken) or DD_MITIGATION_SQL_ERROR.
 */
dd_mitigation_status_t dd_mitigation_task_create(dd_mitigation_t *m,
                                                 const dd_mitigation_task_t *task);

/** @brief Reads one task. */
dd_mitigation_status_t dd_mitigation_task_get(dd_mitigation_t *m, const char *task_id,
                                              dd_mitigation_task_fn fn, void *ctx);

/** @brief Sets the final status, end time and statistics. */
dd_mitigation_status_t dd_mitigation_task_finish(dd_mitigation_t *m, const char *task_id,
                                                 const char *status, int64_t end_ms,
                                                 int64_t executed, int64_t skipped, int64_t failed);

/**
 * @brief Lists tasks started in [start_ms, end_ms], in creation order.
 * @param[out] next Resume key, "" at the end (DD_MITIGATION_KEY_MAX).
 */
dd_mitigation_status_t dd_mitigation_task_list(dd_mitigation_t *m, int64_t start_ms, int64_t end_ms,
                                               const char *after, int limit,
                                               dd_mitigation_task_fn fn, void *ctx, char *next);

/* ---- executions ----------------------------------------------------------------- */

/** @brief Records one execution. */
dd_mitigation_status_t dd_mitigation_execution_add(dd_mitigation_t *m,
                                                   const dd_mitigation_execution_t *exec);

/**
 * @brief Lists executions in the order they ran.
 * @param[out] next Resume key, "" at the end (DD_MITIGATION_KEY_MAX).
 */
dd_mitigation_status_t dd_mitigation_execution_list(dd_mitigation_t *m,
                                                    const dd_mitigation_exec_filter_t *filter,
                                                    const char *after, int limit,
                                                    dd_mitigation_exec_fn fn, void *ctx,
                                                    char *next);

/** @return Static text for @p status. */
const char *dd_mitigation_strerror(dd_mitigation_status_t status);

#endif /* DD_MITIGATION_H_ */
