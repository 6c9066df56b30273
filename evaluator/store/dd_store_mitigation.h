/**
 * @file dd_store_mitigation.h
 * @brief The store's mitigation subject: Device Defender mitigation actions,
 *        Detect mitigation actions tasks and their executions, in the data
 *        dir's database (component "mitigation", migrated by dd_store_open()
 *        through dd_store_mitigation_migrate()).
 *
 * This file only persists: validating actionParams and running tasks is the
 * application layer's job (evaluator/app/dd_mitigate.h), building AWS JSON
 * the API's. JSON-valued columns (actionParams, a task's target and action
 * definitions) are stored and returned as opaque text.
 *
 * Ownership: the sqlite3 handle is borrowed (the one the store was opened
 * on). Rows handed out (get and list) are caller-owned: a row's strings live
 * in one block freed by the matching *_clear(), a list's array by the
 * matching *_free(). Rows passed in (insert) are only read; their @c storage_
 * member is ignored. Not thread-safe: callers hold the pipeline lock.
 */
#ifndef DD_STORE_MITIGATION_H_
#define DD_STORE_MITIGATION_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_store.h"

/** Component name for dd_db_migrate() (the tables' schema version lives under it). */
#define DD_STORE_MITIGATION_COMPONENT "mitigation"
/** Length of an action id (UUID) including the NUL. */
#define DD_STORE_MITIGATION_ID_LEN 37
/** Size of paging keys, including the NUL. */
#define DD_STORE_MITIGATION_KEY_MAX 160

/** A mitigation action. */
typedef struct dd_store_mitigation_action {
    const char *name;
    const char *id;   /**< actionId (UUID) */
    const char *type; /**< actionType, e.g. "ADD_THINGS_TO_THING_GROUP" */
    const char *role_arn;
    const char *params_json; /**< actionParams as JSON text */
    int64_t created_ms;
    int64_t modified_ms;
    char *storage_; /**< Owns the strings of a row read from the store. */
} dd_store_mitigation_action_t;

/** A Detect mitigation actions task. */
typedef struct dd_store_mitigation_task {
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
    const char *actions_json; /**< Action definitions at the task's start (JSON text) */
    int64_t executed;
    int64_t skipped;
    int64_t failed;
    char *storage_; /**< Owns the strings of a row read from the store. */
} dd_store_mitigation_task_t;

/** One action run on one violation. */
typedef struct dd_store_mitigation_execution {
    const char *task_id;
    const char *violation_id;
    const char *action_name;
    const char *thing;
    int64_t start_ms;
    int64_t end_ms;
    const char *status;     /**< IN_PROGRESS, SUCCESSFUL, FAILED, SKIPPED */
    const char *error_code; /**< NULL when none */
    const char *message;    /**< NULL when none */
    char *storage_;         /**< Owns the strings of a row read from the store. */
} dd_store_mitigation_execution_t;

/** Filter of dd_store_mitigation_execution_list(); NULL / 0 members match all. */
typedef struct dd_store_mitigation_exec_filter {
    const char *task_id;
    const char *violation_id;
    const char *thing;
    int64_t start_ms; /**< executionStartDate >= start (0: no bound) */
    int64_t end_ms;   /**< executionStartDate <= end (0: no bound) */
} dd_store_mitigation_exec_filter_t;

/**
 * @brief Creates or upgrades the mitigation tables (called by dd_store_open()).
 * @param[in] db Open database.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_migrate(sqlite3 *db);

/* ---- actions ---------------------------------------------------------------- */

/**
 * @brief Inserts an action (all members but storage_ required).
 * @return DD_STORE_OK, DD_STORE_EXISTS (name taken), DD_STORE_BAD_PARAMETER or
 *         DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_action_insert(sqlite3 *db,
                                                    const dd_store_mitigation_action_t *action);

/**
 * @brief Reads one action.
 * @param[out] out The row (caller clears it with dd_store_mitigation_action_clear()).
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or
 *         DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_action_get(sqlite3 *db, const char *name,
                                                 dd_store_mitigation_action_t *out);

/**
 * @brief Changes role and/or params (NULL = unchanged; @p type goes with
 *        @p params_json) and lastModifiedDate.
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_action_update(sqlite3 *db, const char *name, const char *type,
                                                    const char *role_arn, const char *params_json,
                                                    int64_t now_ms);

/**
 * @brief Deletes an action (absent: OK, as AWS).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_action_delete(sqlite3 *db, const char *name);

/**
 * @brief Lists actions in name order.
 * @param[in] type Only this actionType, or NULL.
 * @param[in] after Resume key ("" or NULL = start); may be @p next.
 * @param[in] limit Page size (> 0).
 * @param[out] rows Array of @p count rows (free with dd_store_mitigation_actions_free()).
 * @param[out] next Resume key of the next page, "" at the end (DD_STORE_MITIGATION_KEY_MAX).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_action_list(sqlite3 *db, const char *type, const char *after,
                                                  int limit, dd_store_mitigation_action_t **rows,
                                                  size_t *count, char *next);

/** @brief Frees a row's strings and zeroes it; NULL is ignored. */
void dd_store_mitigation_action_clear(dd_store_mitigation_action_t *action);

/** @brief Clears @p count rows and frees the array; NULL is ignored. */
void dd_store_mitigation_actions_free(dd_store_mitigation_action_t *rows, size_t count);

/* ---- tasks -------------------------------------------------------------------- */

/**
 * @brief Records a new task (status and counters as given).
 * @return DD_STORE_OK, DD_STORE_EXISTS (task id taken), DD_STORE_BAD_PARAMETER or
 *         DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_task_insert(sqlite3 *db,
                                                  const dd_store_mitigation_task_t *task);

/**
 * @brief Reads one task.
 * @param[out] out The row (caller clears it with dd_store_mitigation_task_clear()).
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or
 *         DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_task_get(sqlite3 *db, const char *task_id,
                                               dd_store_mitigation_task_t *out);

/**
 * @brief Sets the final status, end time and statistics.
 * @return DD_STORE_OK, DD_STORE_NOT_FOUND, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_task_finish(sqlite3 *db, const char *task_id,
                                                  const char *status, int64_t end_ms,
                                                  int64_t executed, int64_t skipped,
                                                  int64_t failed);

/**
 * @brief Lists tasks started in [start_ms, end_ms], in creation order.
 * @param[out] rows Array of @p count rows (free with dd_store_mitigation_tasks_free()).
 * @param[out] next Resume key, "" at the end (DD_STORE_MITIGATION_KEY_MAX).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_task_list(sqlite3 *db, int64_t start_ms, int64_t end_ms,
                                                const char *after, int limit,
                                                dd_store_mitigation_task_t **rows, size_t *count,
                                                char *next);

/** @brief Frees a row's strings and zeroes it; NULL is ignored. */
void dd_store_mitigation_task_clear(dd_store_mitigation_task_t *task);

/** @brief Clears @p count rows and frees the array; NULL is ignored. */
void dd_store_mitigation_tasks_free(dd_store_mitigation_task_t *rows, size_t count);

/* ---- executions ----------------------------------------------------------------- */

/**
 * @brief Records one execution (error_code and message may be NULL).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_execution_insert(
    sqlite3 *db, const dd_store_mitigation_execution_t *execution);

/**
 * @brief Lists executions in the order they ran.
 * @param[in] filter NULL matches all.
 * @param[out] rows Array of @p count rows (free with dd_store_mitigation_executions_free()).
 * @param[out] next Resume key, "" at the end (DD_STORE_MITIGATION_KEY_MAX).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_NO_MEMORY or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_mitigation_execution_list(
    sqlite3 *db, const dd_store_mitigation_exec_filter_t *filter, const char *after, int limit,
    dd_store_mitigation_execution_t **rows, size_t *count, char *next);

/** @brief Frees a row's strings and zeroes it; NULL is ignored. */
void dd_store_mitigation_execution_clear(dd_store_mitigation_execution_t *execution);

/** @brief Clears @p count rows and frees the array; NULL is ignored. */
void dd_store_mitigation_executions_free(dd_store_mitigation_execution_t *rows, size_t count);

#endif /* DD_STORE_MITIGATION_H_ */
