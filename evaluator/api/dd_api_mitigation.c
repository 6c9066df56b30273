/*
 * Mitigation actions and Detect mitigation actions tasks: the HTTP side.
 *
 * Each handler parses and checks the request, calls the application layer
 * (evaluator/app/dd_mitigate.h, which owns validation of actionParams, the
 * task's run and its executors) and maps its status to AWS's error, or
 * builds the AWS JSON of the rows it got back. StartDetectMitigationActionsTask
 * runs the task synchronously, inside the request and under the pipeline
 * lock (the dispatcher's); the application layer calls the registry_changed
 * hook itself after a task moved things into groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"

#define ACTION_NAME_MAX DD_MITIGATE_ACTION_NAME_MAX

static const char *const ACTION_TYPES[] = {"UPDATE_DEVICE_CERTIFICATE",
                                           "UPDATE_CA_CERTIFICATE",
                                           "ADD_THINGS_TO_THING_GROUP",
                                           "REPLACE_DEFAULT_POLICY_VERSION",
                                           "ENABLE_IOT_LOGGING",
                                           "PUBLISH_FINDING_TO_SNS",
                                           NULL};

static void mitigation_error(api_ctx_t *ctx, dd_mitigate_status_t st, const char *what)
{
    if (st == DD_MITIGATE_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "%s does not exist", what);
    } else if (st == DD_MITIGATE_NO_MEMORY) {
        api_no_memory(ctx);
    } else {
        api_error(ctx, "InternalFailureException", "%s: %s", what, dd_mitigate_strerror(st));
    }
}

/* ---- wiring ------------------------------------------------------------------------------ */

/* Read at each call: the service sets its hooks after the API is created. */
static int64_t pipeline_now_ms(void *arg)
{
    const dd_pipeline_t *p = arg;
    int64_t now = dd_clock_now_ms(&p->clock);

    if (p->engine != NULL && dd_engine_now(p->engine) > now) {
        now = dd_engine_now(p->engine);
    }
    return now;
}

static void pipeline_registry_changed(void *arg)
{
    dd_pipeline_t *p = arg;

    if (p->registry_changed != NULL) {
        p->registry_changed(p->hook_ctx);
    }
}

static int pipeline_publish_sns(void *arg, const char *topic_arn, const char *message, char *msg,
                                size_t msg_len)
{
    dd_pipeline_t *p = arg;

    if (p->publish_sns == NULL) {
        (void)snprintf(msg, msg_len, "This ddlocal has no SNS stand-in to publish to");
        return DD_MITIGATE_SNS_FAILED;
    }
    return p->publish_sns(p->hook_ctx, topic_arn, message, msg, msg_len);
}

static bool pipeline_mitigation_fault(void *arg, const char *thing, const char *action_name,
                                      const char *action_type, dd_mitigate_outcome_t *out)
{
    dd_pipeline_t *p = arg;

    return p->mitigation_fault != NULL &&
           p->mitigation_fault(p->hook_ctx, thing, action_name, action_type, out->code,
                               sizeof(out->code), out->message, sizeof(out->message));
}

dd_mitigate_status_t api_mitigation_open(dd_api_t *api)
{
    dd_mitigate_config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.db = api->p->db;
    cfg.store = api->p->store;
    cfg.registry = &api->p->registry;
    cfg.now_ms = pipeline_now_ms;
    cfg.clock_ctx = api->p;
    cfg.registry_changed = pipeline_registry_changed;
    cfg.fault = pipeline_mitigation_fault;
    cfg.hook_ctx = api->p;
    cfg.publish_sns = pipeline_publish_sns;
    cfg.sns_ctx = api->p;
    return dd_mitigate_open(&cfg, &api->mitigation);
}

/* ---- actions ---------------------------------------------------------------------------- */

/* Reads actionParams (NULL when absent and not required); false = answered. */
static bool params_arg(api_ctx_t *ctx, bool required, const cJSON **out)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(ctx->body, "actionParams");
    const char *type;
    char msg[DD_MITIGATE_MESSAGE_MAX];

    *out = NULL;
    if (params == NULL || cJSON_IsNull(params)) {
        if (required) {
            dd_rest_validation_message(ctx->msg, "actionParams", NULL, "Member must not be null");
            api_invalid(ctx);
            return false;
        }
        return true;
    }
    /* Checked here (again in dd_mitigate) so that a bad actionParams is named before the tags. */
    if (dd_mitigate_params_validate(params, &type, msg) != DD_MITIGATE_OK) {
        api_error(ctx, "InvalidRequestException", "%s", msg);
        return false;
    }
    *out = params;
    return true;
}

/* The action's actionArn and actionId (Create/Update) or its whole description. */
static bool action_json(api_ctx_t *ctx, cJSON *obj, const dd_store_mitigation_action_t *a,
                        bool describe)
{
    char arn[DD_ARN_MAX];

    api_arn(ctx, DD_NAME_MITIGATION_ACTION, a->name, arn, sizeof(arn));
    if (!describe) {
        return api_add_string(obj, "actionArn", arn) && api_add_string(obj, "actionId", a->id);
    }
    return api_add_string(obj, "actionName", a->name) &&
           api_add_string(obj, "actionType", a->type) && api_add_string(obj, "actionArn", arn) &&
           api_add_string(obj, "actionId", a->id) && api_add_string(obj, "roleArn", a->role_arn) &&
           cJSON_AddItemToObject(obj, "actionParams", cJSON_Parse(a->params_json)) &&
           dd_rest_add_time(obj, "creationDate", a->created_ms) &&
           dd_rest_add_time(obj, "lastModifiedDate", a->modified_ms);
}

/* Answers with the action's JSON; clears the row. */
static void reply_action(api_ctx_t *ctx, dd_store_mitigation_action_t *a, bool describe)
{
    cJSON *out = cJSON_CreateObject();

    if (out != NULL && !action_json(ctx, out, a, describe)) {
        cJSON_Delete(out);
        out = NULL;
    }
    dd_store_mitigation_action_clear(a);
    api_reply(ctx, out);
}

void api_create_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    const char *role;
    const cJSON *params;
    char id[DD_MITIGATE_ID_LEN];
    char arn[DD_ARN_MAX];
    char msg[DD_MITIGATE_MESSAGE_MAX];
    dd_mitigate_status_t st;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "roleArn", NULL, true, 20, 2048, DD_REST_ANY, &role,
                            ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!params_arg(ctx, true, &params)) {
        return;
    }
    if (!api_tags_arg(ctx)) {
        return;
    }
    st = dd_mitigate_action_create(ctx->api->mitigation, name, role, params, id, msg);
    api_arn(ctx, DD_NAME_MITIGATION_ACTION, name, arn, sizeof(arn));
    if (st == DD_MITIGATE_EXISTS) {
        char text[256];
        (void)snprintf(text, sizeof(text), "Mitigation action %s already exists", name);
        api_error_exists(ctx, text, id, arn);
        return;
    }
    if (st == DD_MITIGATE_INVALID) {
        api_error(ctx, "InvalidRequestException", "%s", msg);
        return;
    }
    if (st != DD_MITIGATE_OK) {
        mitigation_error(ctx, st, "Mitigation action");
        return;
    }
    if (!api_tags_save(ctx, DD_NAME_MITIGATION_ACTION, name)) {
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "actionArn", arn) || !api_add_string(out, "actionId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

static void action_error(api_ctx_t *ctx, dd_mitigate_status_t st, const char *name, const char *msg)
{
    if (st == DD_MITIGATE_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Mitigation action %s does not exist", name);
    } else if (st == DD_MITIGATE_INVALID) {
        api_error(ctx, "InvalidRequestException", "%s", msg);
    } else {
        mitigation_error(ctx, st, "Mitigation action");
    }
}

void api_describe_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    dd_store_mitigation_action_t a;
    dd_mitigate_status_t st;

    if (name == NULL) {
        return;
    }
    st = dd_mitigate_action_describe(ctx->api->mitigation, name, &a);
    if (st != DD_MITIGATE_OK) {
        action_error(ctx, st, name, "");
        return;
    }
    reply_action(ctx, &a, true);
}

void api_update_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    const char *role = NULL;
    const cJSON *params;
    dd_store_mitigation_action_t a;
    char msg[DD_MITIGATE_MESSAGE_MAX] = "";
    dd_mitigate_status_t st;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "roleArn", NULL, false, 20, 2048, DD_REST_ANY, &role,
                            ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!params_arg(ctx, false, &params)) {
        return;
    }
    st = dd_mitigate_action_update(ctx->api->mitigation, name, role, params, &a, msg);
    if (st != DD_MITIGATE_OK) {
        action_error(ctx, st, name, msg);
        return;
    }
    reply_action(ctx, &a, false);
}

static void finish_list(api_ctx_t *ctx, cJSON *out, bool failed, dd_mitigate_status_t st,
                        const char *next)
{
    if (st != DD_MITIGATE_OK || failed) {
        cJSON_Delete(out);
        mitigation_error(ctx, st != DD_MITIGATE_OK ? st : DD_MITIGATE_NO_MEMORY, "List");
        return;
    }
    if (!api_add_token(out, "nextToken", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_list_mitigation_actions(api_ctx_t *ctx)
{
    dd_store_mitigation_action_t *rows = NULL;
    size_t count = 0;
    size_t i;
    bool failed = false;
    int type = -1;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATE_KEY_MAX];
    dd_mitigate_status_t st;
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_enum(&ctx->query, "actionType", false, ACTION_TYPES, &type, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "actionIdentifiers");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    st = dd_mitigate_action_list(ctx->api->mitigation, type >= 0 ? ACTION_TYPES[type] : NULL, key,
                                 size, &rows, &count, next);
    for (i = 0; st == DD_MITIGATE_OK && !failed && i < count; i++) {
        char arn[DD_ARN_MAX];
        cJSON *item = cJSON_CreateObject();
        api_arn(ctx, DD_NAME_MITIGATION_ACTION, rows[i].name, arn, sizeof(arn));
        if (item == NULL || !api_add_string(item, "actionName", rows[i].name) ||
            !api_add_string(item, "actionArn", arn) ||
            !dd_rest_add_time(item, "creationDate", rows[i].created_ms) ||
            !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            failed = true;
        }
    }
    dd_store_mitigation_actions_free(rows, count);
    finish_list(ctx, out, failed, st, next);
}

void api_delete_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    dd_mitigate_status_t st;

    if (name == NULL) {
        return;
    }
    st = dd_mitigate_action_delete(ctx->api->mitigation, name);
    if (st != DD_MITIGATE_OK) {
        mitigation_error(ctx, st, "Mitigation action");
        return;
    }
    api_reply_empty(ctx);
}

/* ---- tasks: the summary shape ------------------------------------------------------------- */

static cJSON *task_summary(const dd_store_mitigation_task_t *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *stats = cJSON_CreateObject();
    cJSON *target = cJSON_Parse(t->target_json);
    cJSON *actions = cJSON_Parse(t->actions_json);
    cJSON *range = NULL;
    bool ok;

    if (t->has_range) {
        range = cJSON_CreateObject();
        if (range != NULL && (!dd_rest_add_time(range, "startTime", t->range_start_ms) ||
                              !dd_rest_add_time(range, "endTime", t->range_end_ms))) {
            cJSON_Delete(range);
            range = NULL;
        }
    }
    ok = o != NULL && stats != NULL && target != NULL && actions != NULL &&
         (!t->has_range || range != NULL) && api_add_string(o, "taskId", t->task_id) &&
         api_add_string(o, "taskStatus", t->status) &&
         dd_rest_add_time(o, "taskStartTime", t->start_ms) &&
         (t->end_ms == 0 || dd_rest_add_time(o, "taskEndTime", t->end_ms)) &&
         cJSON_AddItemToObject(o, "target", target);
    if (!ok) {
        cJSON_Delete(target);
    }
    target = NULL;
    ok = ok && (range == NULL || cJSON_AddItemToObject(o, "violationEventOccurrenceRange", range));
    if (!ok) {
        cJSON_Delete(range);
    }
    range = NULL;
    ok = ok &&
         (t->only_active < 0 ||
          cJSON_AddBoolToObject(o, "onlyActiveViolationsIncluded", t->only_active == 1) != NULL) &&
         (t->include_suppressed < 0 || cJSON_AddBoolToObject(o, "suppressedAlertsIncluded",
                                                             t->include_suppressed == 1) != NULL) &&
         cJSON_AddItemToObject(o, "actionsDefinition", actions);
    if (!ok) {
        cJSON_Delete(actions);
    }
    actions = NULL;
    ok = ok && cJSON_AddNumberToObject(stats, "actionsExecuted", (double)t->executed) != NULL &&
         cJSON_AddNumberToObject(stats, "actionsSkipped", (double)t->skipped) != NULL &&
         cJSON_AddNumberToObject(stats, "actionsFailed", (double)t->failed) != NULL &&
         cJSON_AddItemToObject(o, "taskStatistics", stats);
    if (!ok) {
        cJSON_Delete(stats);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

typedef struct task_args {
    const char *task_id;
    const char *token;
    const cJSON *target;
    const cJSON *ids;
    const char *profile;
    const char *behavior;
    const cJSON *actions;
    bool has_range;
    int64_t range_start;
    int64_t range_end;
    int only_active;
    int include_suppressed;
} task_args_t;

static bool task_args(api_ctx_t *ctx, task_args_t *a)
{
    const cJSON *range;
    const cJSON *v;
    bool b = false;
    dd_rest_status_t rs;

    memset(a, 0, sizeof(*a));
    a->only_active = -1;
    a->include_suppressed = -1;
    a->task_id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    if (a->task_id == NULL) {
        return false;
    }
    a->target = cJSON_GetObjectItemCaseSensitive(ctx->body, "target");
    if (!cJSON_IsObject(a->target)) {
        dd_rest_validation_message(ctx->msg, "target", NULL, "Member must not be null");
        api_invalid(ctx);
        return false;
    }
    if (dd_rest_json_array(a->target, "violationIds", false, 1, 25, &a->ids, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_string(a->target, "securityProfileName", "target.securityProfileName", false,
                            1, 128, DD_REST_NAME, &a->profile, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(a->target, "behaviorName", "target.behaviorName", false, 1, 128,
                            DD_REST_NAME, &a->behavior, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_array(ctx->body, "actions", true, 1, 5, &a->actions, ctx->msg) != DD_REST_OK ||
        dd_rest_json_string(ctx->body, "clientRequestToken", NULL, true, 1, 64, DD_REST_TOKEN,
                            &a->token, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    cJSON_ArrayForEach (v, a->ids) {
        if (!cJSON_IsString(v) ||
            dd_rest_check_string("target.violationIds.member", v->valuestring, 1, 128,
                                 DD_REST_VIOLATION_ID, ctx->msg) != DD_REST_OK) {
            if (!cJSON_IsString(v)) {
                (void)snprintf(ctx->msg, sizeof(ctx->msg), "target.violationIds must be strings");
            }
            api_invalid(ctx);
            return false;
        }
    }
    if (a->ids == NULL && a->profile == NULL) {
        api_error(ctx, "InvalidRequestException",
                  "target needs violationIds or securityProfileName (with an optional "
                  "behaviorName)");
        return false;
    }
    if (a->behavior != NULL && a->profile == NULL) {
        api_error(ctx, "InvalidRequestException", "target.behaviorName needs securityProfileName");
        return false;
    }
    cJSON_ArrayForEach (v, a->actions) {
        if (!cJSON_IsString(v) ||
            dd_rest_check_string("actions.member", v->valuestring, 1, ACTION_NAME_MAX,
                                 DD_REST_NAME_NOCOLON, ctx->msg) != DD_REST_OK) {
            if (!cJSON_IsString(v)) {
                (void)snprintf(ctx->msg, sizeof(ctx->msg), "actions must be action names");
            }
            api_invalid(ctx);
            return false;
        }
    }
    range = cJSON_GetObjectItemCaseSensitive(ctx->body, "violationEventOccurrenceRange");
    if (range != NULL && !cJSON_IsNull(range)) {
        if (dd_rest_json_time(range, "startTime", true, &a->range_start, ctx->msg) != DD_REST_OK ||
            dd_rest_json_time(range, "endTime", true, &a->range_end, ctx->msg) != DD_REST_OK) {
            api_invalid(ctx);
            return false;
        }
        if (a->range_end < a->range_start) {
            api_error(ctx, "InvalidRequestException",
                      "violationEventOccurrenceRange.endTime is before its startTime");
            return false;
        }
        a->has_range = true;
    }
    rs = dd_rest_json_bool(ctx->body, "includeOnlyActiveViolations", false, &b, ctx->msg);
    if (rs == DD_REST_OK) {
        a->only_active = b ? 1 : 0;
    }
    if (rs != DD_REST_INVALID) {
        rs = dd_rest_json_bool(ctx->body, "includeSuppressedAlerts", false, &b, ctx->msg);
        if (rs == DD_REST_OK) {
            a->include_suppressed = b ? 1 : 0;
        }
    }
    if (rs == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    return true;
}

/* ---- StartDetectMitigationActionsTask ------------------------------------------------------- */

/* The task's actionsDefinition, as stored with it (DescribeDetectMitigationActionsTask). */
static char *encode_definitions(void *arg, const dd_store_mitigation_action_t *acts, size_t count)
{
    cJSON *defs = cJSON_CreateArray();
    char *text;
    size_t i;

    (void)arg;
    if (defs == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        cJSON *def = cJSON_CreateObject();
        if (def == NULL || !api_add_string(def, "name", acts[i].name) ||
            !api_add_string(def, "id", acts[i].id) ||
            !api_add_string(def, "roleArn", acts[i].role_arn) ||
            !cJSON_AddItemToObject(def, "actionParams", cJSON_Parse(acts[i].params_json)) ||
            !cJSON_AddItemToArray(defs, def)) {
            cJSON_Delete(def);
        }
    }
    text = cJSON_PrintUnformatted(defs);
    cJSON_Delete(defs);
    return text;
}

static void reply_task_id(api_ctx_t *ctx, const char *task_id)
{
    cJSON *out = cJSON_CreateObject();

    if (!api_add_string(out, "taskId", task_id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_start_detect_mitigation_actions_task(api_ctx_t *ctx)
{
    task_args_t a;
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    dd_mitigate_status_t st;
    const char *ids[25];
    const char *names[DD_MITIGATE_TASK_ACTIONS_MAX];
    const cJSON *v;
    char *target_text;

    if (!task_args(ctx, &a)) {
        return;
    }
    memset(&req, 0, sizeof(req));
    cJSON_ArrayForEach (v, a.ids) {
        if (req.violation_id_count < sizeof(ids) / sizeof(ids[0])) {
            ids[req.violation_id_count++] = v->valuestring;
        }
    }
    cJSON_ArrayForEach (v, a.actions) {
        if (req.action_count < DD_MITIGATE_TASK_ACTIONS_MAX) {
            names[req.action_count++] = v->valuestring;
        }
    }
    target_text = cJSON_PrintUnformatted(a.target);
    if (target_text == NULL) {
        api_no_memory(ctx);
        return;
    }
    req.task_id = a.task_id;
    req.client_token = a.token;
    req.target_json = target_text;
    req.violation_ids = a.ids != NULL ? ids : NULL;
    req.profile = a.profile;
    req.behavior = a.behavior;
    req.actions = names;
    req.has_range = a.has_range;
    req.range_start_ms = a.range_start;
    req.range_end_ms = a.range_end;
    req.only_active = a.only_active;
    req.include_suppressed = a.include_suppressed;
    req.encode_actions = encode_definitions;
    st = dd_mitigate_task_start(ctx->api->mitigation, &req, &res);
    free(target_text);
    switch (st) {
    case DD_MITIGATE_OK: reply_task_id(ctx, a.task_id); return;
    case DD_MITIGATE_TASK_EXISTS:
        api_error(ctx, "TaskAlreadyExistsException", "Task %s already exists", a.task_id);
        return;
    case DD_MITIGATE_INVALID: api_error(ctx, "InvalidRequestException", "%s", res.message); return;
    case DD_MITIGATE_VIOLATIONS_ERROR: api_store_error(ctx, res.store_status, "Violations"); return;
    default: mitigation_error(ctx, st, "Task"); return;
    }
}

/* ---- task queries ------------------------------------------------------------------------ */

void api_describe_detect_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    dd_store_mitigation_task_t t;
    dd_mitigate_status_t st;
    cJSON *out;
    cJSON *s;

    if (id == NULL) {
        return;
    }
    st = dd_mitigate_task_describe(ctx->api->mitigation, id, &t);
    if (st == DD_MITIGATE_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Task %s does not exist", id);
        return;
    }
    if (st != DD_MITIGATE_OK) {
        mitigation_error(ctx, st, "Task");
        return;
    }
    s = task_summary(&t);
    dd_store_mitigation_task_clear(&t);
    out = cJSON_CreateObject();
    if (s == NULL || out == NULL || !cJSON_AddItemToObject(out, "taskSummary", s)) {
        cJSON_Delete(s);
        cJSON_Delete(out);
        mitigation_error(ctx, DD_MITIGATE_NO_MEMORY, "Task");
        return;
    }
    api_reply(ctx, out);
}

void api_list_detect_mitigation_actions_tasks(api_ctx_t *ctx)
{
    dd_store_mitigation_task_t *rows = NULL;
    size_t count = 0;
    size_t i;
    bool failed = false;
    int64_t start = 0;
    int64_t end = 0;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATE_KEY_MAX];
    dd_mitigate_status_t st;
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_time(&ctx->query, "startTime", true, &start, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &end, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "tasks");
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    st = dd_mitigate_task_list(ctx->api->mitigation, start, end, key, size, &rows, &count, next);
    for (i = 0; st == DD_MITIGATE_OK && !failed && i < count; i++) {
        cJSON *s = task_summary(&rows[i]);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            failed = true;
        }
    }
    dd_store_mitigation_tasks_free(rows, count);
    finish_list(ctx, out, failed, st, next);
}

static bool exec_json(cJSON *arr, const dd_store_mitigation_execution_t *e)
{
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "taskId", e->task_id) ||
        !api_add_string(item, "violationId", e->violation_id) ||
        !api_add_string(item, "actionName", e->action_name) ||
        !api_add_string(item, "thingName", e->thing) ||
        !dd_rest_add_time(item, "executionStartDate", e->start_ms) ||
        (e->end_ms > 0 && !dd_rest_add_time(item, "executionEndDate", e->end_ms)) ||
        !api_add_string(item, "status", e->status) ||
        !api_add_string(item, "errorCode", e->error_code) ||
        !api_add_string(item, "message", e->message) || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

void api_list_detect_mitigation_actions_executions(api_ctx_t *ctx)
{
    dd_store_mitigation_execution_t *rows = NULL;
    dd_store_mitigation_exec_filter_t f;
    size_t count = 0;
    size_t i;
    bool failed = false;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATE_KEY_MAX];
    dd_mitigate_status_t st;
    cJSON *out;
    cJSON *arr;

    memset(&f, 0, sizeof(f));
    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "taskId", false, 1, 128, DD_REST_NAME_NOCOLON, &f.task_id,
                             ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "violationId", false, 1, 128, DD_REST_VIOLATION_ID,
                             &f.violation_id, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "thingName", false, 1, 128, DD_REST_NO_CONTROL, &f.thing,
                             ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_time(&ctx->query, "startTime", false, &f.start_ms, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_query_time(&ctx->query, "endTime", false, &f.end_ms, ctx->msg) == DD_REST_INVALID) {
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
    st = dd_mitigate_execution_list(ctx->api->mitigation, &f, key, size, &rows, &count, next);
    for (i = 0; st == DD_MITIGATE_OK && !failed && i < count; i++) {
        failed = !exec_json(arr, &rows[i]);
    }
    dd_store_mitigation_executions_free(rows, count);
    finish_list(ctx, out, failed, st, next);
}

void api_cancel_detect_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    char msg[DD_MITIGATE_MESSAGE_MAX] = "";
    dd_mitigate_status_t st;

    if (id == NULL) {
        return;
    }
    st = dd_mitigate_task_cancel(ctx->api->mitigation, id, msg);
    if (st == DD_MITIGATE_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Task %s does not exist", id);
        return;
    }
    if (st == DD_MITIGATE_INVALID) {
        api_error(ctx, "InvalidRequestException", "%s", msg);
        return;
    }
    if (st != DD_MITIGATE_OK) {
        mitigation_error(ctx, st, "Task");
        return;
    }
    api_reply_empty(ctx);
}
