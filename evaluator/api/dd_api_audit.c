/*
 * Device Defender Audit: the HTTP side of the 25 Audit operations.
 *
 * Each handler checks the request's members as the service model types them
 * (lengths, patterns, enums, required members), calls app/dd_auditor (which
 * owns the configuration rules, task runs, suppressions, schedules and audit
 * mitigation tasks) and maps its status to AWS's error. The auditor answers
 * with AWS's documents, which are sent as they are. Audit tasks and audit
 * mitigation actions tasks run synchronously, inside the request and under
 * the pipeline lock (the dispatcher's).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_auditor.h"

#define TASK_ID_MAX 40
#define NAME_MAX_LEN 128

static const char *const TASK_TYPES[] = {"ON_DEMAND_AUDIT_TASK", "SCHEDULED_AUDIT_TASK", NULL};
static const char *const TASK_STATUSES[] = {"IN_PROGRESS", "COMPLETED", "FAILED", "CANCELED", NULL};
static const char *const EXEC_STATUSES[] = {"IN_PROGRESS", "COMPLETED", "FAILED", "CANCELED",
                                            "SKIPPED",     "PENDING",   NULL};
static const char *const FREQUENCIES[] = {"DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY", NULL};
static const char *const DAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static dd_auditor_t *auditor(const api_ctx_t *ctx)
{
    return ctx->p->auditor;
}

static void auditor_error(api_ctx_t *ctx, dd_auditor_status_t st, const char *msg)
{
    const char *text = msg != NULL && msg[0] != '\0' ? msg : dd_auditor_strerror(st);

    switch (st) {
    case DD_AUDITOR_INVALID: api_error(ctx, "InvalidRequestException", "%s", text); break;
    case DD_AUDITOR_NOT_FOUND: api_error(ctx, "ResourceNotFoundException", "%s", text); break;
    case DD_AUDITOR_EXISTS: api_error(ctx, "ResourceAlreadyExistsException", "%s", text); break;
    case DD_AUDITOR_TASK_EXISTS: api_error(ctx, "TaskAlreadyExistsException", "%s", text); break;
    case DD_AUDITOR_LIMIT: api_error(ctx, "LimitExceededException", "%s", text); break;
    case DD_AUDITOR_NO_MEMORY: api_no_memory(ctx); break;
    default: api_error(ctx, "InternalFailureException", "Audit: %s", text); break;
    }
}

/* Answers @p doc (taken) or the error. */
static void reply_doc(api_ctx_t *ctx, dd_auditor_status_t st, cJSON *doc, const char *msg)
{
    if (st != DD_AUDITOR_OK) {
        cJSON_Delete(doc);
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply(ctx, doc);
}

/* {member: [...], nextToken} from a list the auditor filled. */
static void reply_list(api_ctx_t *ctx, dd_auditor_status_t st, cJSON *out, const char *next)
{
    if (st == DD_AUDITOR_INVALID) {
        cJSON_Delete(out);
        api_error(ctx, "InvalidRequestException", "The nextToken is not valid");
        return;
    }
    if (st != DD_AUDITOR_OK) {
        cJSON_Delete(out);
        auditor_error(ctx, st, NULL);
        return;
    }
    if (!api_add_token(out, "nextToken", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* Page size and resume key of a list whose paging is in the JSON body. */
static bool body_page_args(api_ctx_t *ctx, int *size, char key[DD_REST_TOKEN_KEY_MAX])
{
    int64_t n = API_DEFAULT_PAGE;
    const char *token = NULL;

    key[0] = '\0';
    if (dd_rest_json_int(ctx->body, "maxResults", false, 1, API_MAX_PAGE, &n, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "nextToken", NULL, false, 0, DD_REST_TOKEN_MAX, DD_REST_ANY,
                            &token, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (token != NULL && token[0] != '\0' &&
        dd_rest_token_decode(token, key, DD_REST_TOKEN_KEY_MAX) != DD_REST_OK) {
        api_error(ctx, "InvalidRequestException", "The nextToken is not valid");
        return false;
    }
    *size = (int)n;
    return true;
}

/* checkName + resourceIdentifier of the suppression operations. */
static bool check_and_resource(api_ctx_t *ctx, bool required, const char **check,
                               const cJSON **resource)
{
    *resource = cJSON_GetObjectItemCaseSensitive(ctx->body, "resourceIdentifier");
    if (dd_rest_json_string(ctx->body, "checkName", NULL, required, 1, 256, DD_REST_ANY, check,
                            ctx->msg) == DD_REST_INVALID ||
        (required && *check == NULL)) {
        api_invalid(ctx);
        return false;
    }
    if (*resource == NULL && required) {
        dd_rest_validation_message(ctx->msg, "resourceIdentifier", NULL, "Member must not be null");
        api_invalid(ctx);
        return false;
    }
    if (*resource != NULL && !cJSON_IsObject(*resource)) {
        api_error(ctx, "InvalidRequestException", "resourceIdentifier must be an object");
        return false;
    }
    return true;
}

/* ---- configuration --------------------------------------------------------------------- */

void api_describe_account_audit_configuration(api_ctx_t *ctx)
{
    cJSON *out = NULL;
    dd_auditor_status_t st = dd_auditor_config_describe(auditor(ctx), &out);

    reply_doc(ctx, st, out, NULL);
}

void api_update_account_audit_configuration(api_ctx_t *ctx)
{
    const char *role = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (dd_rest_json_string(ctx->body, "roleArn", NULL, false, 20, 2048, DD_REST_ANY, &role,
                            ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    st = dd_auditor_config_update(auditor(ctx), ctx->body, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

void api_delete_account_audit_configuration(api_ctx_t *ctx)
{
    bool all = false;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (dd_rest_query_bool(&ctx->query, "deleteScheduledAudits", false, &all, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    st = dd_auditor_config_delete(auditor(ctx), all, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

/* ---- audit tasks ------------------------------------------------------------------------ */

/* targetCheckNames as a NULL-terminated array of borrowed strings; NULL = answered. */
static const char **check_names(api_ctx_t *ctx, const cJSON *arr, size_t *count)
{
    const char **names;
    const cJSON *c;
    size_t n = 0;

    if (!cJSON_IsArray(arr)) {
        dd_rest_validation_message(ctx->msg, "targetCheckNames", NULL, "Member must not be null");
        api_invalid(ctx);
        return NULL;
    }
    names = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*names));
    if (names == NULL) {
        api_no_memory(ctx);
        return NULL;
    }
    cJSON_ArrayForEach (c, arr) {
        if (!cJSON_IsString(c)) {
            free(names);
            api_error(ctx, "InvalidRequestException", "targetCheckNames must be strings");
            return NULL;
        }
        names[n++] = c->valuestring;
    }
    *count = n;
    return names;
}

void api_start_on_demand_audit_task(api_ctx_t *ctx)
{
    size_t count = 0;
    const char **names =
        check_names(ctx, cJSON_GetObjectItemCaseSensitive(ctx->body, "targetCheckNames"), &count);
    char id[DD_AUDITOR_TASK_ID_LEN];
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;
    cJSON *out;

    if (names == NULL) {
        return;
    }
    st = dd_auditor_task_start(auditor(ctx), names, count, NULL, id, msg);
    free(names);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "taskId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_describe_audit_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", TASK_ID_MAX, DD_REST_VIOLATION_ID);
    cJSON *out = NULL;
    dd_auditor_status_t st;
    char msg[DD_AUDITOR_MESSAGE_MAX];

    if (id == NULL) {
        return;
    }
    st = dd_auditor_task_describe(auditor(ctx), id, &out);
    (void)snprintf(msg, sizeof(msg), "Audit task %s does not exist", id);
    reply_doc(ctx, st, out, msg);
}

void api_list_audit_tasks(api_ctx_t *ctx)
{
    dd_auditor_task_filter_t f;
    int type = -1;
    int status = -1;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    cJSON *out;
    cJSON *arr;

    memset(&f, 0, sizeof(f));
    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_time(&ctx->query, "startTime", true, &f.start_ms, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &f.end_ms, ctx->msg) != DD_REST_OK ||
        dd_rest_query_enum(&ctx->query, "taskType", false, TASK_TYPES, &type, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "taskStatus", false, TASK_STATUSES, &status, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    f.type = type >= 0 ? TASK_TYPES[type] : NULL;
    f.status = status >= 0 ? TASK_STATUSES[status] : NULL;
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "tasks");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx, dd_auditor_task_list(auditor(ctx), &f, key, size, arr, next), out, next);
}

void api_cancel_audit_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", TASK_ID_MAX, DD_REST_VIOLATION_ID);
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (id == NULL) {
        return;
    }
    st = dd_auditor_task_cancel(auditor(ctx), id, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

/* ---- findings -------------------------------------------------------------------------- */

void api_list_audit_findings(api_ctx_t *ctx)
{
    dd_auditor_finding_filter_t f;
    const char *check = NULL;
    const cJSON *resource = NULL;
    bool suppressed = false;
    bool has_start;
    bool has_end;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    dd_rest_status_t rs;
    cJSON *out;
    cJSON *arr;

    memset(&f, 0, sizeof(f));
    f.start_ms = INT64_MIN;
    f.end_ms = INT64_MAX;
    f.suppressed = -1;
    if (!body_page_args(ctx, &size, key) || !check_and_resource(ctx, false, &check, &resource)) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "taskId", NULL, false, 1, TASK_ID_MAX, DD_REST_VIOLATION_ID,
                            &f.task_id, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_time(ctx->body, "startTime", false, &f.start_ms, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_time(ctx->body, "endTime", false, &f.end_ms, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    rs = dd_rest_json_bool(ctx->body, "listSuppressedFindings", false, &suppressed, ctx->msg);
    if (rs == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (rs == DD_REST_OK) {
        f.suppressed = suppressed ? 1 : 0;
    }
    has_start = cJSON_GetObjectItemCaseSensitive(ctx->body, "startTime") != NULL;
    has_end = cJSON_GetObjectItemCaseSensitive(ctx->body, "endTime") != NULL;
    if (has_start != has_end) {
        api_error(ctx, "InvalidRequestException", "Give both startTime and endTime, or neither");
        return;
    }
    if (has_start && f.task_id != NULL) {
        api_error(ctx, "InvalidRequestException",
                  "Give either taskId or startTime and endTime, not both");
        return;
    }
    f.check_name = check;
    f.resource_identifier = resource;
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "findings");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx, dd_auditor_finding_list(auditor(ctx), &f, key, size, arr, next), out, next);
}

void api_describe_audit_finding(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "findingId", 128, DD_REST_NAME_NOCOLON);
    cJSON *finding = NULL;
    cJSON *out = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX];
    dd_auditor_status_t st;

    if (id == NULL) {
        return;
    }
    st = dd_auditor_finding_describe(auditor(ctx), id, &finding);
    if (st == DD_AUDITOR_OK) {
        out = cJSON_CreateObject();
        if (out == NULL || !cJSON_AddItemToObject(out, "finding", finding)) {
            cJSON_Delete(finding);
            st = DD_AUDITOR_NO_MEMORY;
        }
    }
    (void)snprintf(msg, sizeof(msg), "Audit finding %s does not exist", id);
    reply_doc(ctx, st, out, msg);
}

void api_list_related_resources_for_audit_finding(api_ctx_t *ctx)
{
    const char *id = NULL;
    cJSON *finding = NULL;
    cJSON *out;
    cJSON *arr;
    const cJSON *r;
    int size;
    long offset = 0;
    long i = 0;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    char msg[DD_AUDITOR_MESSAGE_MAX];
    dd_auditor_status_t st;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "findingId", true, 1, 128, DD_REST_NAME_NOCOLON, &id,
                             ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (key[0] != '\0') {
        char *end = NULL;
        offset = strtol(key, &end, 10);
        if (end == key || *end != '\0' || offset < 0) {
            api_error(ctx, "InvalidRequestException", "The nextToken is not valid");
            return;
        }
    }
    st = dd_auditor_finding_describe(auditor(ctx), id, &finding);
    if (st != DD_AUDITOR_OK) {
        (void)snprintf(msg, sizeof(msg), "Audit finding %s does not exist", id);
        auditor_error(ctx, st, msg);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "relatedResources");
    cJSON_ArrayForEach (r, cJSON_GetObjectItemCaseSensitive(finding, "relatedResources")) {
        if (i >= offset && i < offset + size && arr != NULL) {
            cJSON_AddItemToArray(arr, cJSON_Duplicate(r, true));
        } else if (i == offset + size && next[0] == '\0') {
            (void)snprintf(next, sizeof(next), "%ld", i);
        }
        i++;
    }
    cJSON_Delete(finding);
    reply_list(ctx, arr != NULL ? DD_AUDITOR_OK : DD_AUDITOR_NO_MEMORY, out, next);
}

/* ---- suppressions ------------------------------------------------------------------------- */

static bool suppression_args(api_ctx_t *ctx, int64_t *expiration, int *indefinitely,
                             const char **description)
{
    bool flag = false;
    dd_rest_status_t rs;

    *expiration = -1;
    *indefinitely = -1;
    if (dd_rest_json_time(ctx->body, "expirationDate", false, expiration, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "description", NULL, false, 0, 1000, DD_REST_GRAPH_SPACE,
                            description, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    rs = dd_rest_json_bool(ctx->body, "suppressIndefinitely", false, &flag, ctx->msg);
    if (rs == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (rs == DD_REST_OK) {
        *indefinitely = flag ? 1 : 0;
    }
    return true;
}

static void put_suppression(api_ctx_t *ctx, bool create)
{
    const char *check = NULL;
    const cJSON *resource = NULL;
    const char *description = NULL;
    const char *token = NULL;
    int64_t expiration;
    int indefinitely;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (!check_and_resource(ctx, true, &check, &resource) ||
        !suppression_args(ctx, &expiration, &indefinitely, &description)) {
        return;
    }
    if (create && dd_rest_json_string(ctx->body, "clientRequestToken", NULL, true, 1, 64,
                                      DD_REST_TOKEN, &token, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    st = dd_auditor_suppression_put(auditor(ctx), create, check, resource, expiration, indefinitely,
                                    description, token, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

void api_create_audit_suppression(api_ctx_t *ctx)
{
    put_suppression(ctx, true);
}

void api_update_audit_suppression(api_ctx_t *ctx)
{
    put_suppression(ctx, false);
}

void api_describe_audit_suppression(api_ctx_t *ctx)
{
    const char *check = NULL;
    const cJSON *resource = NULL;
    cJSON *out = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (!check_and_resource(ctx, true, &check, &resource)) {
        return;
    }
    st = dd_auditor_suppression_describe(auditor(ctx), check, resource, &out, msg);
    reply_doc(ctx, st, out, msg);
}

void api_delete_audit_suppression(api_ctx_t *ctx)
{
    const char *check = NULL;
    const cJSON *resource = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (!check_and_resource(ctx, true, &check, &resource)) {
        return;
    }
    st = dd_auditor_suppression_delete(auditor(ctx), check, resource, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

void api_list_audit_suppressions(api_ctx_t *ctx)
{
    const char *check = NULL;
    const cJSON *resource = NULL;
    bool ascending = true;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    cJSON *out;
    cJSON *arr;

    if (!body_page_args(ctx, &size, key) || !check_and_resource(ctx, false, &check, &resource)) {
        return;
    }
    if (dd_rest_json_bool(ctx->body, "ascendingOrder", false, &ascending, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "suppressions");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx,
               dd_auditor_suppression_list(auditor(ctx), check, resource, ascending, key, size, arr,
                                           next),
               out, next);
}

/* ---- scheduled audits ---------------------------------------------------------------------- */

static void put_scheduled(api_ctx_t *ctx, bool create)
{
    const char *name =
        api_label_name(ctx, "scheduledAuditName", NAME_MAX_LEN, DD_REST_NAME_NOCOLON);
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(ctx->body, "targetCheckNames");
    const char *dom = NULL;
    int freq = -1;
    int dow = -1;
    char arn[DD_ARN_MAX];
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_enum(ctx->body, "frequency", create, FREQUENCIES, &freq, ctx->msg) ==
            DD_REST_INVALID ||
        (create && freq < 0) ||
        dd_rest_json_enum(ctx->body, "dayOfWeek", false, DAYS, &dow, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "dayOfMonth", NULL, false, 1, 4, DD_REST_ANY, &dom,
                            ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (create && checks == NULL) {
        dd_rest_validation_message(ctx->msg, "targetCheckNames", NULL, "Member must not be null");
        api_invalid(ctx);
        return;
    }
    if (create && !api_tags_arg(ctx)) {
        return;
    }
    st = dd_auditor_scheduled_put(auditor(ctx), create, name, freq >= 0 ? FREQUENCIES[freq] : NULL,
                                  dow >= 0 ? DAYS[dow] : NULL, dom, checks, arn, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "scheduledAuditArn", arn)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_create_scheduled_audit(api_ctx_t *ctx)
{
    put_scheduled(ctx, true);
}

void api_update_scheduled_audit(api_ctx_t *ctx)
{
    put_scheduled(ctx, false);
}

void api_describe_scheduled_audit(api_ctx_t *ctx)
{
    const char *name =
        api_label_name(ctx, "scheduledAuditName", NAME_MAX_LEN, DD_REST_NAME_NOCOLON);
    cJSON *out = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX];
    dd_auditor_status_t st;

    if (name == NULL) {
        return;
    }
    st = dd_auditor_scheduled_describe(auditor(ctx), name, &out);
    (void)snprintf(msg, sizeof(msg), "Scheduled audit %s does not exist", name);
    reply_doc(ctx, st, out, msg);
}

void api_delete_scheduled_audit(api_ctx_t *ctx)
{
    const char *name =
        api_label_name(ctx, "scheduledAuditName", NAME_MAX_LEN, DD_REST_NAME_NOCOLON);
    char msg[DD_AUDITOR_MESSAGE_MAX];
    dd_auditor_status_t st;

    if (name == NULL) {
        return;
    }
    st = dd_auditor_scheduled_delete(auditor(ctx), name);
    if (st != DD_AUDITOR_OK) {
        (void)snprintf(msg, sizeof(msg), "Scheduled audit %s does not exist", name);
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

void api_list_scheduled_audits(api_ctx_t *ctx)
{
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "scheduledAudits");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx, dd_auditor_scheduled_list(auditor(ctx), key, size, arr, next), out, next);
}

/* ---- audit mitigation actions tasks ------------------------------------------------------ */

void api_start_audit_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(ctx->body, "target");
    const cJSON *mapping =
        cJSON_GetObjectItemCaseSensitive(ctx->body, "auditCheckToActionsMapping");
    const char *token = NULL;
    const cJSON *ids;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;
    cJSON *out;

    if (id == NULL) {
        return;
    }
    if (target == NULL || mapping == NULL) {
        dd_rest_validation_message(ctx->msg,
                                   target == NULL ? "target" : "auditCheckToActionsMapping", NULL,
                                   "Member must not be null");
        api_invalid(ctx);
        return;
    }
    if (dd_rest_json_string(ctx->body, "clientRequestToken", NULL, true, 1, 64, DD_REST_TOKEN,
                            &token, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    ids = cJSON_GetObjectItemCaseSensitive(target, "findingIds");
    if (ids != NULL &&
        (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1 || cJSON_GetArraySize(ids) > 25)) {
        api_error(ctx, "InvalidRequestException", "target.findingIds must list 1 to 25 findings");
        return;
    }
    st = dd_auditor_mitigation_start(auditor(ctx), ctx->api->mitigation, id, target, mapping, token,
                                     msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "taskId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_describe_audit_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    cJSON *out = NULL;
    char msg[DD_AUDITOR_MESSAGE_MAX];
    dd_auditor_status_t st;

    if (id == NULL) {
        return;
    }
    st = dd_auditor_mitigation_describe(auditor(ctx), id, &out);
    (void)snprintf(msg, sizeof(msg), "Audit mitigation actions task %s does not exist", id);
    reply_doc(ctx, st, out, msg);
}

void api_cancel_audit_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;

    if (id == NULL) {
        return;
    }
    st = dd_auditor_mitigation_cancel(auditor(ctx), id, msg);
    if (st != DD_AUDITOR_OK) {
        auditor_error(ctx, st, msg);
        return;
    }
    api_reply_empty(ctx);
}

void api_list_audit_mitigation_actions_tasks(api_ctx_t *ctx)
{
    dd_auditor_mitigation_filter_t f;
    int status = -1;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    cJSON *out;
    cJSON *arr;

    memset(&f, 0, sizeof(f));
    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_time(&ctx->query, "startTime", true, &f.start_ms, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &f.end_ms, ctx->msg) != DD_REST_OK ||
        dd_rest_query_string(&ctx->query, "auditTaskId", false, 1, TASK_ID_MAX,
                             DD_REST_VIOLATION_ID, &f.audit_task_id, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "findingId", false, 1, 128, DD_REST_NAME_NOCOLON,
                             &f.finding_id, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "taskStatus", false, TASK_STATUSES, &status, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    f.status = status >= 0 ? TASK_STATUSES[status] : NULL;
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "tasks");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx, dd_auditor_mitigation_list(auditor(ctx), &f, key, size, arr, next), out, next);
}

void api_list_audit_mitigation_actions_executions(api_ctx_t *ctx)
{
    const char *task = NULL;
    const char *finding = NULL;
    int status = -1;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_AUDITOR_KEY_MAX] = "";
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "taskId", true, 1, 128, DD_REST_NAME_NOCOLON, &task,
                             ctx->msg) != DD_REST_OK ||
        dd_rest_query_string(&ctx->query, "findingId", true, 1, 128, DD_REST_NAME_NOCOLON, &finding,
                             ctx->msg) != DD_REST_OK ||
        dd_rest_query_enum(&ctx->query, "actionStatus", false, EXEC_STATUSES, &status, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "actionsExecutions");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    reply_list(ctx,
               dd_auditor_execution_list(auditor(ctx), task, finding,
                                         status >= 0 ? EXEC_STATUSES[status] : NULL, key, size, arr,
                                         next),
               out, next);
}
