/**
 * @file dd_auditor.h
 * @brief The application layer of Device Defender Audit: the account audit
 *        configuration, audit tasks (on demand and scheduled) that run the
 *        checks of the catalogue (audit/dd_audit_check.h) and store their
 *        findings, suppressions, scheduled audits and audit mitigation
 *        actions tasks (which run app/dd_mitigate's executors on findings).
 *
 * (The module is "auditor" because audit/ already owns the dd_audit_ names
 * of the check contract.)
 *
 * A task runs synchronously inside dd_auditor_task_start(), in one
 * transaction: each target check runs over the registry and store at the
 * pipeline time; each finding becomes an AuditFinding document (with
 * isSuppressed from the suppressions active at the task's start) and the
 * task's auditDetails and taskStatistics are computed from them
 * (dd_auditor_check_details()). A check ddlocal does not compute answers
 * COMPLETED_COMPLIANT with no resources and its reason as message. After the
 * commit the notify hook receives the AWS audit notification (for the SNS
 * stand-in and the event stream).
 *
 * Documents are AWS's JSON, built here and stored as text by
 * store/dd_store_audit.h; the API answers them as they are. Times in them are
 * epoch seconds (AWS's Timestamp).
 *
 * Ownership: the database, store and registry are borrowed and must outlive
 * the dd_auditor_t. cJSON handed out is caller-owned. Not thread-safe: the
 * caller holds the pipeline lock around every call, hooks included.
 */
#ifndef DD_AUDITOR_H_
#define DD_AUDITOR_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_audit_check.h"
#include "dd_mitigate.h"
#include "dd_names.h"
#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_auditor_status {
    DD_AUDITOR_OK = 0,
    DD_AUDITOR_BAD_PARAMETER, /**< NULL pointer. */
    DD_AUDITOR_INVALID,       /**< Refused request (InvalidRequestException); message says why. */
    DD_AUDITOR_NOT_FOUND,     /**< ResourceNotFoundException; message says what. */
    DD_AUDITOR_EXISTS,        /**< ResourceAlreadyExistsException. */
    DD_AUDITOR_TASK_EXISTS,   /**< TaskAlreadyExistsException. */
    DD_AUDITOR_LIMIT,         /**< LimitExceededException. */
    DD_AUDITOR_NO_MEMORY,
    DD_AUDITOR_STORE_ERROR /**< A statement failed (logged). */
} dd_auditor_status_t;

/** Size of message buffers. */
#define DD_AUDITOR_MESSAGE_MAX 512
/** Size of an audit task id (32 hex digits) with its NUL. */
#define DD_AUDITOR_TASK_ID_LEN 33
/** Size of paging keys. */
#define DD_AUDITOR_KEY_MAX 24
/** Most scheduled audits of an account (AWS's quota). */
#define DD_AUDITOR_SCHEDULED_MAX 5

/** The audit notification of a finished task (see dd_auditor_notify_fn). */
typedef struct dd_auditor_notice {
    const char *task_id;
    const char *message;   /**< AWS's audit notification JSON (SNS message body). */
    const char *topic_arn; /**< The enabled SNS target, or NULL: no notification to send. */
    const cJSON *summary;  /**< taskId, taskType, taskStatus, checks counts (for events). */
    int64_t time_ms;       /**< When the task finished. */
} dd_auditor_notice_t;

/** Called after a task committed (lock held). */
typedef void (*dd_auditor_notify_fn)(void *ctx, const dd_auditor_notice_t *notice);

/** Wiring of the module. */
typedef struct dd_auditor_config {
    sqlite3 *db;             /**< The data dir's database (audit tables migrated). */
    dd_store_t *store;       /**< The evaluator store (transactions; what checks read). */
    dd_registry_t *registry; /**< What checks read. */
    dd_arn_ctx_t arn;        /**< Region and account (ARNs, the notification's accountId). */
    int64_t (*now_ms)(void *clock_ctx); /**< Pipeline time. */
    void *clock_ctx;
    /** The checks; NULL = dd_audit_check_catalogue() (tests inject their own). */
    const dd_audit_check_def_t *catalogue;
    size_t catalogue_count;
} dd_auditor_config_t;

/** The module (opaque). */
typedef struct dd_auditor dd_auditor_t;

/* ---- pure functions (unit-tested alone) ---------------------------------------------- */

/** Audit frequencies (AuditFrequency). */
typedef enum dd_auditor_frequency {
    DD_AUDITOR_DAILY = 0,
    DD_AUDITOR_WEEKLY,
    DD_AUDITOR_BIWEEKLY,
    DD_AUDITOR_MONTHLY
} dd_auditor_frequency_t;

/** A schedule. */
typedef struct dd_auditor_schedule {
    dd_auditor_frequency_t frequency;
    int day_of_week;  /**< 0 = SUN .. 6 = SAT (WEEKLY, BIWEEKLY). */
    int day_of_month; /**< 1..31, or 0 = LAST (MONTHLY). */
} dd_auditor_schedule_t;

/**
 * @brief The first run of @p s strictly after @p after_ms: scheduled audits
 *        run at 00:00 UTC of their day; a MONTHLY day past the month's end
 *        (and LAST) is the month's last day; BIWEEKLY runs every second
 *        week from @p anchor_ms's first matching day (anchor = creation).
 * @param[out] next_ms The run time (epoch ms).
 * @return DD_AUDITOR_OK or DD_AUDITOR_BAD_PARAMETER.
 */
dd_auditor_status_t dd_auditor_schedule_next(const dd_auditor_schedule_t *s, int64_t anchor_ms,
                                             int64_t after_ms, int64_t *next_ms);

/**
 * @brief Canonical text of a ResourceIdentifier (members sorted, compact):
 *        the key findings and suppressions are matched by.
 * @param[out] out Malloc'd text (caller frees).
 * @return DD_AUDITOR_OK, DD_AUDITOR_BAD_PARAMETER (not an object) or DD_AUDITOR_NO_MEMORY.
 */
dd_auditor_status_t dd_auditor_resource_key(const cJSON *identifier, char **out);

/**
 * @brief Whether a suppression applies at @p now_ms: indefinite, or its
 *        expiration (epoch ms, 0 = none) is after @p now_ms.
 */
bool dd_auditor_suppression_active(bool indefinitely, int64_t expiration_ms, int64_t now_ms);

/** Counts of one check in one task. */
typedef struct dd_auditor_check_counts {
    dd_audit_status_t run_status; /**< What the check returned. */
    int64_t total;                /**< totalResourcesCount. */
    int64_t non_compliant;        /**< nonCompliantResourcesCount (suppressed included). */
    int64_t suppressed;           /**< suppressedNonCompliantResourcesCount. */
    const char *not_applicable;   /**< The catalogue's reason (DD_AUDIT_NOT_APPLICABLE). */
} dd_auditor_check_counts_t;

/**
 * @brief The AuditCheckDetails of one check: FAILED for a check that could
 *        not run; COMPLETED_NON_COMPLIANT when some non-compliant resource is
 *        not suppressed, else COMPLETED_COMPLIANT (a not-computed check is
 *        compliant with 0 resources and its reason as message).
 * @return The object (caller-owned) or NULL when out of memory.
 */
cJSON *dd_auditor_check_details(const dd_auditor_check_counts_t *counts);

/* ---- lifecycle ------------------------------------------------------------------------ */

/**
 * @brief Creates the module (the audit tables must be migrated: dd_store_open() does).
 * @return DD_AUDITOR_OK, DD_AUDITOR_BAD_PARAMETER or DD_AUDITOR_NO_MEMORY.
 */
dd_auditor_status_t dd_auditor_open(const dd_auditor_config_t *config, dd_auditor_t **out);

/** @brief Frees the module; NULL is ignored. */
void dd_auditor_close(dd_auditor_t *a);

/** @brief Sets the hook called after each task (NULL = none). */
void dd_auditor_set_notify(dd_auditor_t *a, dd_auditor_notify_fn fn, void *ctx);

/* ---- account audit configuration ------------------------------------------------------ */

/**
 * @brief DescribeAccountAuditConfiguration: every check of the catalogue
 *        with its enabled flag (false on a fresh account: AWS disables all
 *        checks by default), the role and notification targets when set.
 * @return DD_AUDITOR_OK, DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or
 *         DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_config_describe(dd_auditor_t *a, cJSON **out);

/**
 * @brief UpdateAccountAuditConfiguration: merges @p request (roleArn,
 *        auditNotificationTargetConfigurations, auditCheckConfigurations)
 *        into the configuration. The first call needs roleArn and at least
 *        one enabled check; unknown check names, a non-SNS target and
 *        disabling a check a scheduled audit uses are refused.
 * @param[out] msg DD_AUDITOR_MESSAGE_MAX buffer for a refusal.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_BAD_PARAMETER,
 *         DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_config_update(dd_auditor_t *a, const cJSON *request, char *msg);

/**
 * @brief DeleteAccountAuditConfiguration: back to the defaults.
 * @param[in] delete_scheduled deleteScheduledAudits: without it, existing
 *            scheduled audits refuse the deletion.
 * @return DD_AUDITOR_OK, DD_AUDITOR_NOT_FOUND (never configured),
 *         DD_AUDITOR_INVALID, DD_AUDITOR_BAD_PARAMETER or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_config_delete(dd_auditor_t *a, bool delete_scheduled, char *msg);

/* ---- audit tasks -------------------------------------------------------------------- */

/**
 * @brief Runs an audit task now (see the file comment).
 * @param[in] checks targetCheckNames (each must be a check of the model, enabled).
 * @param[in] scheduled_name NULL for ON_DEMAND_AUDIT_TASK, else the
 *            scheduled audit's name (SCHEDULED_AUDIT_TASK).
 * @param[out] task_id The new task's id.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_BAD_PARAMETER,
 *         DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_task_start(dd_auditor_t *a, const char *const *checks, size_t count,
                                          const char *scheduled_name,
                                          char task_id[DD_AUDITOR_TASK_ID_LEN], char *msg);

/** @brief DescribeAuditTask's answer. @return OK, NOT_FOUND, BAD_PARAMETER, NO_MEMORY, STORE_ERROR. */
dd_auditor_status_t dd_auditor_task_describe(dd_auditor_t *a, const char *task_id, cJSON **out);

/** A ListAuditTasks filter. */
typedef struct dd_auditor_task_filter {
    int64_t start_ms;
    int64_t end_ms;
    const char *type;   /**< taskType or NULL. */
    const char *status; /**< taskStatus or NULL. */
} dd_auditor_task_filter_t;

/**
 * @brief ListAuditTasks: AuditTaskMetadata objects appended to @p tasks.
 * @param[out] next Resume key ("" at the end), DD_AUDITOR_KEY_MAX.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID (bad resume key), DD_AUDITOR_BAD_PARAMETER,
 *         DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_task_list(dd_auditor_t *a, const dd_auditor_task_filter_t *filter,
                                         const char *after, int limit, cJSON *tasks, char *next);

/**
 * @brief CancelAuditTask: tasks finish inside dd_auditor_task_start(), so a
 *        known task is never IN_PROGRESS and is refused as AWS refuses it.
 * @return DD_AUDITOR_NOT_FOUND, DD_AUDITOR_INVALID, DD_AUDITOR_BAD_PARAMETER or
 *         DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_task_cancel(dd_auditor_t *a, const char *task_id, char *msg);

/* ---- findings ------------------------------------------------------------------------- */

/** A ListAuditFindings filter; NULL members match all. */
typedef struct dd_auditor_finding_filter {
    const char *task_id;
    const char *check_name;
    const cJSON *resource_identifier;
    int64_t start_ms; /**< INT64_MIN for none. */
    int64_t end_ms;   /**< INT64_MAX for none. */
    int suppressed; /**< listSuppressedFindings: -1 both, 0 unsuppressed only, 1 suppressed only. */
} dd_auditor_finding_filter_t;

/**
 * @brief ListAuditFindings: AuditFinding objects appended to @p findings.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID (bad key or identifier),
 *         DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_finding_list(dd_auditor_t *a,
                                            const dd_auditor_finding_filter_t *filter,
                                            const char *after, int limit, cJSON *findings,
                                            char *next);

/** @brief DescribeAuditFinding: the AuditFinding. @return OK, NOT_FOUND, ... */
dd_auditor_status_t dd_auditor_finding_describe(dd_auditor_t *a, const char *finding_id,
                                                cJSON **out);

/* ---- suppressions ---------------------------------------------------------------------- */

/**
 * @brief Create (@p create) or UpdateAuditSuppression from the request body
 *        (checkName, resourceIdentifier, expirationDate (ms, -1 = absent),
 *        suppressIndefinitely (-1 absent, 0, 1), description, clientRequestToken).
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_EXISTS, DD_AUDITOR_NOT_FOUND,
 *         DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_suppression_put(dd_auditor_t *a, bool create, const char *check,
                                               const cJSON *resource, int64_t expiration_ms,
                                               int indefinitely, const char *description,
                                               const char *token, char *msg);

/** @brief DescribeAuditSuppression. @return OK, NOT_FOUND, INVALID, ... */
dd_auditor_status_t dd_auditor_suppression_describe(dd_auditor_t *a, const char *check,
                                                    const cJSON *resource, cJSON **out, char *msg);

/** @brief DeleteAuditSuppression (absent: OK). */
dd_auditor_status_t dd_auditor_suppression_delete(dd_auditor_t *a, const char *check,
                                                  const cJSON *resource, char *msg);

/**
 * @brief ListAuditSuppressions, by expiration date (indefinite ones last when
 *        ascending), appended to @p out.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_BAD_PARAMETER,
 *         DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_suppression_list(dd_auditor_t *a, const char *check,
                                                const cJSON *resource, bool ascending,
                                                const char *after, int limit, cJSON *out,
                                                char *next);

/* ---- scheduled audits ------------------------------------------------------------------ */

/**
 * @brief Create (@p create) or UpdateScheduledAudit. Members NULL / absent
 *        keep their value on update.
 * @param[in] frequency AuditFrequency text or NULL.
 * @param[in] day_of_week DayOfWeek text or NULL.
 * @param[in] day_of_month DayOfMonth text or NULL.
 * @param[in] checks targetCheckNames array or NULL.
 * @param[out] arn The scheduled audit's ARN (DD_ARN_MAX).
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_EXISTS, DD_AUDITOR_NOT_FOUND,
 *         DD_AUDITOR_LIMIT, DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or
 *         DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_scheduled_put(dd_auditor_t *a, bool create, const char *name,
                                             const char *frequency, const char *day_of_week,
                                             const char *day_of_month, const cJSON *checks,
                                             char *arn, char *msg);

/** @brief DescribeScheduledAudit. @return OK, NOT_FOUND, ... */
dd_auditor_status_t dd_auditor_scheduled_describe(dd_auditor_t *a, const char *name, cJSON **out);

/** @brief DeleteScheduledAudit. @return OK, NOT_FOUND, ... */
dd_auditor_status_t dd_auditor_scheduled_delete(dd_auditor_t *a, const char *name);

/** @brief ListScheduledAudits: ScheduledAuditMetadata appended to @p out. */
dd_auditor_status_t dd_auditor_scheduled_list(dd_auditor_t *a, const char *after, int limit,
                                              cJSON *out, char *next);

/**
 * @brief Runs every scheduled audit due at @p now_ms (one task each, however
 *        many runs the clock jumped over) and moves each to its next run.
 *        Called by ddlocald's tick (so by `ddlocal clock advance`).
 * @param[out] ran Number of tasks run (may be NULL).
 * @return DD_AUDITOR_OK, DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or
 *         DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_scheduled_run_due(dd_auditor_t *a, int64_t now_ms, int *ran);

/* ---- audit mitigation actions tasks ------------------------------------------------ */

/**
 * @brief StartAuditMitigationActionsTask: runs the actions of
 *        @p mapping (check -> action names) on the findings of @p target
 *        (auditTaskId [+ auditCheckToReasonCodeFilter] or findingIds) with
 *        dd_mitigate_execute(), records one execution per (finding, action)
 *        (after a failure the finding's remaining actions are SKIPPED) and
 *        finishes the task. Same task id and token again: OK, nothing run.
 * @return DD_AUDITOR_OK, DD_AUDITOR_INVALID, DD_AUDITOR_TASK_EXISTS,
 *         DD_AUDITOR_BAD_PARAMETER, DD_AUDITOR_NO_MEMORY or DD_AUDITOR_STORE_ERROR.
 */
dd_auditor_status_t dd_auditor_mitigation_start(dd_auditor_t *a, dd_mitigate_t *m,
                                                const char *task_id, const cJSON *target,
                                                const cJSON *mapping, const char *token, char *msg);

/** @brief DescribeAuditMitigationActionsTask. @return OK, NOT_FOUND, ... */
dd_auditor_status_t dd_auditor_mitigation_describe(dd_auditor_t *a, const char *task_id,
                                                   cJSON **out);

/** @brief CancelAuditMitigationActionsTask: never IN_PROGRESS, so NOT_FOUND or INVALID. */
dd_auditor_status_t dd_auditor_mitigation_cancel(dd_auditor_t *a, const char *task_id, char *msg);

/** A ListAuditMitigationActionsTasks filter. */
typedef struct dd_auditor_mitigation_filter {
    int64_t start_ms;
    int64_t end_ms;
    const char *audit_task_id; /**< NULL = any. */
    const char *finding_id;    /**< NULL = any. */
    const char *status;        /**< NULL = any. */
} dd_auditor_mitigation_filter_t;

/** @brief ListAuditMitigationActionsTasks: metadata appended to @p out. */
dd_auditor_status_t dd_auditor_mitigation_list(dd_auditor_t *a,
                                               const dd_auditor_mitigation_filter_t *filter,
                                               const char *after, int limit, cJSON *out,
                                               char *next);

/** @brief ListAuditMitigationActionsExecutions of one task and finding. */
dd_auditor_status_t dd_auditor_execution_list(dd_auditor_t *a, const char *task_id,
                                              const char *finding_id, const char *status,
                                              const char *after, int limit, cJSON *out, char *next);

/** @return Static text for @p status. */
const char *dd_auditor_strerror(dd_auditor_status_t status);

#endif /* DD_AUDITOR_H_ */
