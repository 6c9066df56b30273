/*
 * Mitigation actions and Detect mitigation actions tasks.
 *
 * StartDetectMitigationActionsTask runs the task synchronously, inside the
 * request and under the pipeline lock: it collects the targeted violations
 * from the evaluator store, applies each action to each violation's thing in
 * the listed order (a failure skips the remaining actions for that
 * violation, as AWS documents), records one execution per (violation,
 * action), and finishes the task before answering. Only
 * ADD_THINGS_TO_THING_GROUP is executed (through the registry, so the broker
 * shim sees the new group at once); other action types are recorded as
 * FAILED executions with errorCode "NotSupported".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_map.h"

#define ACTION_NAME_MAX 128
/** Most violations one task acts on. */
#define TASK_MAX_VIOLATIONS 10000

static const char *const ACTION_TYPES[] = {"UPDATE_DEVICE_CERTIFICATE",
                                           "UPDATE_CA_CERTIFICATE",
                                           "ADD_THINGS_TO_THING_GROUP",
                                           "REPLACE_DEFAULT_POLICY_VERSION",
                                           "ENABLE_IOT_LOGGING",
                                           "PUBLISH_FINDING_TO_SNS",
                                           NULL};

static void mitigation_error(api_ctx_t *ctx, dd_mitigation_status_t st, const char *what)
{
    if (st == DD_MITIGATION_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "%s does not exist", what);
    } else if (st == DD_MITIGATION_NO_MEMORY) {
        api_no_memory(ctx);
    } else {
        api_error(ctx, "InternalFailureException", "%s: %s", what, dd_mitigation_strerror(st));
    }
}

/* ---- actions ---------------------------------------------------------------------------- */

static bool params_arg(api_ctx_t *ctx, bool required, char **json, const char **type)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(ctx->body, "actionParams");
    char msg[DD_MITIGATION_MESSAGE_MAX];

    *json = NULL;
    *type = NULL;
    if (params == NULL || cJSON_IsNull(params)) {
        if (required) {
            dd_rest_validation_message(ctx->msg, "actionParams", NULL, "Member must not be null");
            api_invalid(ctx);
            return false;
        }
        return true;
    }
    if (dd_mitigation_params_validate(params, type, msg) != DD_MITIGATION_OK) {
        api_error(ctx, "InvalidRequestException", "%s", msg);
        return false;
    }
    *json = cJSON_PrintUnformatted(params);
    if (*json == NULL) {
        api_no_memory(ctx);
        return false;
    }
    return true;
}

typedef struct action_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool describe;
    bool ok;
} action_out_t;

static int action_cb(void *arg, const dd_mitigation_action_t *a)
{
    action_out_t *ao = arg;
    char arn[DD_ARN_MAX];

    api_arn(ao->ctx, DD_NAME_MITIGATION_ACTION, a->name, arn, sizeof(arn));
    if (!ao->describe) {
        ao->ok =
            api_add_string(ao->obj, "actionArn", arn) && api_add_string(ao->obj, "actionId", a->id);
        return 0;
    }
    ao->ok = api_add_string(ao->obj, "actionName", a->name) &&
             api_add_string(ao->obj, "actionType", a->type) &&
             api_add_string(ao->obj, "actionArn", arn) &&
             api_add_string(ao->obj, "actionId", a->id) &&
             api_add_string(ao->obj, "roleArn", a->role_arn) &&
             cJSON_AddItemToObject(ao->obj, "actionParams", cJSON_Parse(a->params_json)) &&
             dd_rest_add_time(ao->obj, "creationDate", a->created_ms) &&
             dd_rest_add_time(ao->obj, "lastModifiedDate", a->modified_ms);
    return 0;
}

void api_create_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    const char *role;
    const char *type;
    char *params;
    char id[DD_MITIGATION_ID_LEN];
    char arn[DD_ARN_MAX];
    dd_mitigation_status_t st;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "roleArn", NULL, true, 20, 2048, DD_REST_ANY, &role,
                            ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!params_arg(ctx, true, &params, &type)) {
        return;
    }
    if (!api_tags_arg(ctx)) {
        free(params);
        return;
    }
    st = dd_mitigation_action_create(ctx->api->mitigation, name, type, role, params,
                                     api_now_ms(ctx), id);
    free(params);
    api_arn(ctx, DD_NAME_MITIGATION_ACTION, name, arn, sizeof(arn));
    if (st == DD_MITIGATION_EXISTS) {
        char msg[256];
        (void)snprintf(msg, sizeof(msg), "Mitigation action %s already exists", name);
        api_error_exists(ctx, msg, id, arn);
        return;
    }
    if (st != DD_MITIGATION_OK) {
        mitigation_error(ctx, st, "Mitigation action");
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "actionArn", arn) || !api_add_string(out, "actionId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_describe_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    action_out_t ao = {ctx, NULL, true, false};
    dd_mitigation_status_t st;

    if (name == NULL) {
        return;
    }
    ao.obj = cJSON_CreateObject();
    st = dd_mitigation_action_get(ctx->api->mitigation, name, action_cb, &ao);
    if (st != DD_MITIGATION_OK) {
        cJSON_Delete(ao.obj);
        if (st == DD_MITIGATION_NOT_FOUND) {
            api_error(ctx, "ResourceNotFoundException", "Mitigation action %s does not exist",
                      name);
        } else {
            mitigation_error(ctx, st, "Mitigation action");
        }
        return;
    }
    if (!ao.ok) {
        cJSON_Delete(ao.obj);
        ao.obj = NULL;
    }
    api_reply(ctx, ao.obj);
}

void api_update_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    const char *role = NULL;
    const char *type;
    char *params;
    action_out_t ao = {ctx, NULL, false, false};
    dd_mitigation_status_t st;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "roleArn", NULL, false, 20, 2048, DD_REST_ANY, &role,
                            ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!params_arg(ctx, false, &params, &type)) {
        return;
    }
    ao.obj = cJSON_CreateObject();
    st = dd_mitigation_action_update(ctx->api->mitigation, name, type, role, params,
                                     api_now_ms(ctx), action_cb, &ao);
    free(params);
    if (st != DD_MITIGATION_OK) {
        cJSON_Delete(ao.obj);
        if (st == DD_MITIGATION_NOT_FOUND) {
            api_error(ctx, "ResourceNotFoundException", "Mitigation action %s does not exist",
                      name);
        } else {
            mitigation_error(ctx, st, "Mitigation action");
        }
        return;
    }
    if (!ao.ok) {
        cJSON_Delete(ao.obj);
        ao.obj = NULL;
    }
    api_reply(ctx, ao.obj);
}

typedef struct action_list {
    api_ctx_t *ctx;
    cJSON *arr;
    bool failed;
} action_list_t;

static int action_list_cb(void *arg, const dd_mitigation_action_t *a)
{
    action_list_t *al = arg;
    char arn[DD_ARN_MAX];
    cJSON *item = cJSON_CreateObject();

    api_arn(al->ctx, DD_NAME_MITIGATION_ACTION, a->name, arn, sizeof(arn));
    if (item == NULL || !api_add_string(item, "actionName", a->name) ||
        !api_add_string(item, "actionArn", arn) ||
        !dd_rest_add_time(item, "creationDate", a->created_ms) ||
        !cJSON_AddItemToArray(al->arr, item)) {
        cJSON_Delete(item);
        al->failed = true;
        return 1;
    }
    return 0;
}

static void finish_list(api_ctx_t *ctx, cJSON *out, bool failed, dd_mitigation_status_t st,
                        const char *next)
{
    if (st != DD_MITIGATION_OK || failed) {
        cJSON_Delete(out);
        mitigation_error(ctx, st != DD_MITIGATION_OK ? st : DD_MITIGATION_NO_MEMORY, "List");
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
    action_list_t al = {ctx, NULL, false};
    int type = -1;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATION_KEY_MAX];
    dd_mitigation_status_t st;
    cJSON *out;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_enum(&ctx->query, "actionType", false, ACTION_TYPES, &type, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    al.arr = cJSON_AddArrayToObject(out, "actionIdentifiers");
    if (al.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    st = dd_mitigation_action_list(ctx->api->mitigation, type >= 0 ? ACTION_TYPES[type] : NULL, key,
                                   size, action_list_cb, &al, next);
    finish_list(ctx, out, al.failed, st, next);
}

void api_delete_mitigation_action(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "actionName", ACTION_NAME_MAX, DD_REST_NAME_NOCOLON);
    dd_mitigation_status_t st;

    if (name == NULL) {
        return;
    }
    st = dd_mitigation_action_delete(ctx->api->mitigation, name);
    if (st != DD_MITIGATION_OK) {
        mitigation_error(ctx, st, "Mitigation action");
        return;
    }
    api_reply_empty(ctx);
}

/* ---- tasks: the summary shape ------------------------------------------------------------- */

static cJSON *task_summary(const dd_mitigation_task_t *t)
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

/* ---- StartDetectMitigationActionsTask ------------------------------------------------------- */

/* One loaded action definition. */
typedef struct task_action {
    char name[ACTION_NAME_MAX + 1];
    char type[40];
    cJSON *params;
    bool found;
} task_action_t;

static int load_action_cb(void *arg, const dd_mitigation_action_t *a)
{
    task_action_t *ta = arg;

    (void)snprintf(ta->type, sizeof(ta->type), "%s", a->type);
    ta->params = cJSON_Parse(a->params_json);
    ta->found = true;
    return 0;
}

static int definition_cb(void *arg, const dd_mitigation_action_t *a)
{
    cJSON *def = cJSON_CreateObject();

    if (def == NULL || !api_add_string(def, "name", a->name) || !api_add_string(def, "id", a->id) ||
        !api_add_string(def, "roleArn", a->role_arn) ||
        !cJSON_AddItemToObject(def, "actionParams", cJSON_Parse(a->params_json)) ||
        !cJSON_AddItemToArray((cJSON *)arg, def)) {
        cJSON_Delete(def);
    }
    return 0;
}

/* A violation the task acts on. */
typedef struct target_violation {
    char id[129];
    char thing[DD_NAME_MAX + 1];
} target_violation_t;

typedef struct collect {
    dd_map_t seen; /* violation ids already taken */
    target_violation_t *list;
    size_t count;
    size_t cap;
    const cJSON *ids;     /* target.violationIds, or NULL */
    const char *behavior; /* target.behaviorName, or NULL */
    bool has_range;
    int64_t start_ms;
    int64_t end_ms;
    bool events; /* items are ViolationEvents (else ActiveViolations) */
    bool failed;
} collect_t;

static bool wanted_id(const collect_t *c, const char *id)
{
    const cJSON *v;

    if (c->ids == NULL) {
        return true;
    }
    cJSON_ArrayForEach (v, c->ids) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0) {
            return true;
        }
    }
    return false;
}

static int64_t item_time_ms(const cJSON *item, const char *member)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(item, member);

    return cJSON_IsNumber(t) ? (int64_t)(t->valuedouble * 1000.0 + 0.5) : 0;
}

static int collect_cb(void *arg, const cJSON *item)
{
    collect_t *c = arg;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "violationId");
    const cJSON *thing = cJSON_GetObjectItemCaseSensitive(item, "thingName");
    const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(item, "behavior");
    const cJSON *bname = cJSON_GetObjectItemCaseSensitive(behavior, "name");
    target_violation_t *tv;

    if (!cJSON_IsString(id) || !cJSON_IsString(thing) || !wanted_id(c, id->valuestring) ||
        dd_map_get(&c->seen, id->valuestring) != NULL) {
        return 0;
    }
    if (c->behavior != NULL &&
        (!cJSON_IsString(bname) || strcmp(bname->valuestring, c->behavior) != 0)) {
        return 0;
    }
    if (c->has_range) {
        int64_t first = item_time_ms(item, c->events ? "violationEventTime" : "violationStartTime");
        int64_t last = c->events ? first : item_time_ms(item, "lastViolationTime");
        if (last < c->start_ms || first > c->end_ms) {
            return 0;
        }
    }
    if (c->count == TASK_MAX_VIOLATIONS) {
        return 1;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap == 0 ? 16 : c->cap * 2;
        target_violation_t *n = realloc(c->list, cap * sizeof(*n));
        if (n == NULL) {
            c->failed = true;
            return 1;
        }
        c->list = n;
        c->cap = cap;
    }
    tv = &c->list[c->count];
    (void)snprintf(tv->id, sizeof(tv->id), "%s", id->valuestring);
    (void)snprintf(tv->thing, sizeof(tv->thing), "%s", thing->valuestring);
    if (dd_map_put(&c->seen, tv->id, tv, NULL) != DD_MAP_OK) {
        c->failed = true;
        return 1;
    }
    c->count++;
    return 0;
}

/* The store hands back rows; collect_cb reads them in AWS's shape. */
static int collect_row_cb(void *arg, const dd_store_violation_t *v)
{
    collect_t *c = arg;
    cJSON *item = api_violation_json(v);
    int stop;

    if (item == NULL) {
        c->failed = true;
        return 1;
    }
    stop = collect_cb(arg, item);
    cJSON_Delete(item);
    return stop;
}

/* Runs one listing of the store page by page into the collector. */
static dd_store_status_t collect_all(api_ctx_t *ctx, collect_t *c, bool events,
                                     const dd_store_violation_filter_t *f)
{
    char token[DD_STORE_TOKEN_MAX] = "";
    char next[DD_STORE_TOKEN_MAX];
    dd_store_status_t ss;

    c->events = events;
    do {
        dd_store_page_t page = {token, 250};
        ss = events ? dd_store_violation_events(ctx->p->store, f, &page, collect_row_cb, c, next)
                    : dd_store_active_violations(ctx->p->store, f, &page, collect_row_cb, c, next);
        (void)snprintf(token, sizeof(token), "%s", next);
    } while (ss == DD_STORE_OK && !c->failed && token[0] != '\0' && c->count < TASK_MAX_VIOLATIONS);
    return ss;
}

/* Applies one action to one thing; fills the error code and message on failure. */
static bool run_action(api_ctx_t *ctx, const task_action_t *a, const char *thing, char *code,
                       size_t code_len, char *msg, size_t msg_len)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a->params, "addThingsToThingGroupParams");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(p, "thingGroupNames");
    const cJSON *g;
    dd_registry_error_t err;
    dd_registry_status_t rs;

    if (strcmp(a->type, "ADD_THINGS_TO_THING_GROUP") != 0) {
        (void)snprintf(code, code_len, "NotSupported");
        (void)snprintf(msg, msg_len,
                       "ddlocal does not execute %s mitigation actions (only "
                       "ADD_THINGS_TO_THING_GROUP)",
                       a->type);
        return false;
    }
    cJSON_ArrayForEach (g, names) {
        if (!cJSON_IsString(g)) {
            continue;
        }
        rs = dd_registry_group_add_thing(&ctx->p->registry, g->valuestring, thing, &err);
        if (rs != DD_REGISTRY_OK) {
            (void)snprintf(code, code_len, "%s",
                           rs == DD_REGISTRY_NOT_FOUND        ? "ResourceNotFoundException"
                           : rs == DD_REGISTRY_LIMIT_EXCEEDED ? "LimitExceededException"
                           : rs == DD_REGISTRY_INVALID        ? "InvalidRequestException"
                                                              : "InternalFailureException");
            (void)snprintf(msg, msg_len, "%s", err.message);
            return false;
        }
        ctx->registry_changed = true;
    }
    return true;
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

typedef struct existing_task {
    char token[80];
    bool found;
} existing_task_t;

static int existing_cb(void *arg, const dd_mitigation_task_t *t)
{
    existing_task_t *e = arg;

    (void)snprintf(e->token, sizeof(e->token), "%s", t->client_token);
    e->found = true;
    return 0;
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
    existing_task_t ex = {"", false};
    task_action_t acts[5];
    size_t nacts = 0;
    collect_t c;
    dd_store_violation_filter_t f;
    dd_store_status_t ss = DD_STORE_OK;
    dd_mitigation_task_t task;
    dd_mitigation_status_t ms;
    const cJSON *v;
    cJSON *defs = NULL;
    char *target_text = NULL;
    char *defs_text = NULL;
    int64_t executed = 0;
    int64_t skipped = 0;
    int64_t failed = 0;
    size_t i;
    size_t j;

    if (!task_args(ctx, &a)) {
        return;
    }
    (void)dd_mitigation_task_get(ctx->api->mitigation, a.task_id, existing_cb, &ex);
    if (ex.found) {
        if (strcmp(ex.token, a.token) == 0) {
            reply_task_id(ctx, a.task_id); /* same request retried: idempotent */
        } else {
            api_error(ctx, "TaskAlreadyExistsException", "Task %s already exists", a.task_id);
        }
        return;
    }
    memset(acts, 0, sizeof(acts));
    defs = cJSON_CreateArray();
    cJSON_ArrayForEach (v, a.actions) {
        task_action_t *ta = &acts[nacts++];
        (void)snprintf(ta->name, sizeof(ta->name), "%s", v->valuestring);
        if (dd_mitigation_action_get(ctx->api->mitigation, ta->name, load_action_cb, ta) !=
                DD_MITIGATION_OK ||
            !ta->found) {
            api_error(ctx, "InvalidRequestException", "Mitigation action %s does not exist",
                      ta->name);
            goto out;
        }
        (void)dd_mitigation_action_get(ctx->api->mitigation, ta->name, definition_cb, defs);
    }
    if (a.profile != NULL) {
        dd_profile_t profile;
        ss = dd_store_profile_get(ctx->p->store, a.profile, &profile);
        if (ss == DD_STORE_NOT_FOUND) {
            api_error(ctx, "InvalidRequestException", "Security profile %s does not exist",
                      a.profile);
            goto out;
        }
        if (ss == DD_STORE_OK) {
            dd_profile_free(&profile);
        }
    }

    /* The violations: active ones, then (unless only active) historical events. */
    memset(&c, 0, sizeof(c));
    dd_map_init(&c.seen);
    c.ids = a.ids;
    c.behavior = a.behavior;
    c.has_range = a.has_range;
    c.start_ms = a.range_start;
    c.end_ms = a.range_end;
    dd_store_violation_filter_init(&f);
    f.profile = a.profile;
    f.suppressed = a.include_suppressed == 1 ? -1 : 0;
    ss = collect_all(ctx, &c, false, &f);
    if (ss == DD_STORE_OK && !c.failed && a.only_active != 1) {
        f.start_ms = a.has_range ? a.range_start : 0;
        f.end_ms = a.has_range ? a.range_end : 0;
        ss = collect_all(ctx, &c, true, &f);
    }
    if (ss != DD_STORE_OK || c.failed) {
        if (ss != DD_STORE_OK) {
            api_store_error(ctx, ss, "Violations");
        } else {
            api_no_memory(ctx);
        }
        goto out_collect;
    }

    target_text = cJSON_PrintUnformatted(a.target);
    defs_text = cJSON_PrintUnformatted(defs);
    if (target_text == NULL || defs_text == NULL) {
        api_no_memory(ctx);
        goto out_collect;
    }
    memset(&task, 0, sizeof(task));
    task.task_id = a.task_id;
    task.client_token = a.token;
    task.status = "IN_PROGRESS";
    task.start_ms = api_now_ms(ctx);
    task.target_json = target_text;
    task.has_range = a.has_range;
    task.range_start_ms = a.range_start;
    task.range_end_ms = a.range_end;
    task.only_active = a.only_active;
    task.include_suppressed = a.include_suppressed;
    task.actions_json = defs_text;
    ms = dd_mitigation_task_create(ctx->api->mitigation, &task);
    if (ms != DD_MITIGATION_OK) {
        if (ms == DD_MITIGATION_EXISTS) {
            api_error(ctx, "TaskAlreadyExistsException", "Task %s already exists", a.task_id);
        } else {
            mitigation_error(ctx, ms, "Task");
        }
        goto out_collect;
    }

    for (i = 0; i < c.count; i++) {
        bool failed_here = false;
        for (j = 0; j < nacts; j++) {
            dd_mitigation_execution_t e;
            char code[64] = "";
            char msg[DD_REST_MESSAGE_MAX + 64] = "";
            memset(&e, 0, sizeof(e));
            e.task_id = a.task_id;
            e.violation_id = c.list[i].id;
            e.action_name = acts[j].name;
            e.thing = c.list[i].thing;
            e.start_ms = api_now_ms(ctx);
            if (failed_here) {
                e.status = "SKIPPED";
                e.message = "Skipped: an earlier action for this violation failed";
                skipped++;
            } else if (run_action(ctx, &acts[j], c.list[i].thing, code, sizeof(code), msg,
                                  sizeof(msg))) {
                e.status = "SUCCESSFUL";
                executed++;
            } else {
                e.status = "FAILED";
                e.error_code = code;
                e.message = msg;
                failed++;
                failed_here = true;
            }
            e.end_ms = api_now_ms(ctx);
            (void)dd_mitigation_execution_add(ctx->api->mitigation, &e);
        }
    }
    (void)dd_mitigation_task_finish(ctx->api->mitigation, a.task_id,
                                    failed > 0 ? "FAILED" : "SUCCESSFUL", api_now_ms(ctx), executed,
                                    skipped, failed);
    reply_task_id(ctx, a.task_id);

out_collect:
    free(c.list);
    dd_map_destroy(&c.seen);
out:
    free(target_text);
    free(defs_text);
    cJSON_Delete(defs);
    for (i = 0; i < nacts; i++) {
        cJSON_Delete(acts[i].params);
    }
}

/* ---- task queries ------------------------------------------------------------------------ */

typedef struct task_out {
    cJSON *obj; /* object (describe) or array (list) */
    bool list;
    bool failed;
    char status[24];
} task_out_t;

static int task_cb(void *arg, const dd_mitigation_task_t *t)
{
    task_out_t *to = arg;
    cJSON *s = task_summary(t);

    (void)snprintf(to->status, sizeof(to->status), "%s", t->status);
    if (s == NULL) {
        to->failed = true;
        return 1;
    }
    if (to->list ? !cJSON_AddItemToArray(to->obj, s)
                 : !cJSON_AddItemToObject(to->obj, "taskSummary", s)) {
        cJSON_Delete(s);
        to->failed = true;
        return 1;
    }
    return 0;
}

void api_describe_detect_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    task_out_t to = {NULL, false, false, ""};
    dd_mitigation_status_t st;

    if (id == NULL) {
        return;
    }
    to.obj = cJSON_CreateObject();
    st = dd_mitigation_task_get(ctx->api->mitigation, id, task_cb, &to);
    if (st != DD_MITIGATION_OK || to.failed) {
        cJSON_Delete(to.obj);
        if (st == DD_MITIGATION_NOT_FOUND) {
            api_error(ctx, "ResourceNotFoundException", "Task %s does not exist", id);
        } else {
            mitigation_error(ctx, st != DD_MITIGATION_OK ? st : DD_MITIGATION_NO_MEMORY, "Task");
        }
        return;
    }
    api_reply(ctx, to.obj);
}

void api_list_detect_mitigation_actions_tasks(api_ctx_t *ctx)
{
    task_out_t to = {NULL, true, false, ""};
    int64_t start = 0;
    int64_t end = 0;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATION_KEY_MAX];
    dd_mitigation_status_t st;
    cJSON *out;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_time(&ctx->query, "startTime", true, &start, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &end, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    to.obj = cJSON_AddArrayToObject(out, "tasks");
    if (to.obj == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    st = dd_mitigation_task_list(ctx->api->mitigation, start, end, key, size, task_cb, &to, next);
    finish_list(ctx, out, to.failed, st, next);
}

typedef struct exec_out {
    cJSON *arr;
    bool failed;
} exec_out_t;

static int exec_cb(void *arg, const dd_mitigation_execution_t *e)
{
    exec_out_t *eo = arg;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "taskId", e->task_id) ||
        !api_add_string(item, "violationId", e->violation_id) ||
        !api_add_string(item, "actionName", e->action_name) ||
        !api_add_string(item, "thingName", e->thing) ||
        !dd_rest_add_time(item, "executionStartDate", e->start_ms) ||
        (e->end_ms > 0 && !dd_rest_add_time(item, "executionEndDate", e->end_ms)) ||
        !api_add_string(item, "status", e->status) ||
        !api_add_string(item, "errorCode", e->error_code) ||
        !api_add_string(item, "message", e->message) || !cJSON_AddItemToArray(eo->arr, item)) {
        cJSON_Delete(item);
        eo->failed = true;
        return 1;
    }
    return 0;
}

void api_list_detect_mitigation_actions_executions(api_ctx_t *ctx)
{
    exec_out_t eo = {NULL, false};
    dd_mitigation_exec_filter_t f;
    int size;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_MITIGATION_KEY_MAX];
    dd_mitigation_status_t st;
    cJSON *out;

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
    eo.arr = cJSON_AddArrayToObject(out, "actionsExecutions");
    if (eo.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    st = dd_mitigation_execution_list(ctx->api->mitigation, &f, key, size, exec_cb, &eo, next);
    finish_list(ctx, out, eo.failed, st, next);
}

void api_cancel_detect_mitigation_actions_task(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "taskId", 128, DD_REST_NAME_NOCOLON);
    task_out_t to = {NULL, false, false, ""};
    dd_mitigation_status_t st;

    if (id == NULL) {
        return;
    }
    to.obj = cJSON_CreateObject();
    st = dd_mitigation_task_get(ctx->api->mitigation, id, task_cb, &to);
    cJSON_Delete(to.obj);
    if (st == DD_MITIGATION_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Task %s does not exist", id);
        return;
    }
    if (st != DD_MITIGATION_OK) {
        mitigation_error(ctx, st, "Task");
        return;
    }
    if (strcmp(to.status, "IN_PROGRESS") != 0) {
        api_error(ctx, "InvalidRequestException",
                  "Task %s is %s; only an IN_PROGRESS task can be canceled (ddlocal runs tasks "
                  "to completion inside StartDetectMitigationActionsTask)",
                  id, to.status);
        return;
    }
    st = dd_mitigation_task_finish(ctx->api->mitigation, id, "CANCELED", api_now_ms(ctx), 0, 0, 0);
    if (st != DD_MITIGATION_OK) {
        mitigation_error(ctx, st, "Task");
        return;
    }
    api_reply_empty(ctx);
}
