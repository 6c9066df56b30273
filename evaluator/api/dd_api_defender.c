/*
 * Device Defender Detect: security profiles and their targets, violations,
 * metric values, ML training summaries, custom metrics and dimensions.
 *
 * Each handler parses the request, calls the application layer
 * (app/dd_detect.h: every change goes to the store and the engine in one
 * store transaction) and maps its status to AWS's error; the dispatcher holds
 * the pipeline lock (API_LOCKED) and runs the defender_changed hook after a
 * change. Reads go through dd_detect too, except the two violation lists,
 * which still read the store (its violation rows are being reshaped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_detect.h"
#include "dd_engine.h"
#include "dd_pipeline.h"

#define NAME_MAX_LEN 128

static const char *const CRITERIA_TYPES[] = {"STATIC", "STATISTICAL", "MACHINE_LEARNING", NULL};
static const char *const VERIFICATION_STATES[] = {"UNKNOWN", "FALSE_POSITIVE", "BENIGN_POSITIVE",
                                                  "TRUE_POSITIVE", NULL};
static const char *const METRIC_TYPES[] = {"string-list", "ip-address-list", "number-list",
                                           "number", NULL};

static void engine_error(api_ctx_t *ctx, dd_engine_status_t st)
{
    if (st == DD_ENGINE_NO_MEMORY) {
        api_no_memory(ctx);
    } else {
        api_error(ctx, "InternalFailureException", "Evaluation engine: %s", dd_engine_strerror(st));
    }
}

static void defs_of(api_ctx_t *ctx, dd_metric_defs_t *defs)
{
    dd_detect_t d;

    dd_pipeline_detect(ctx->p, &d);
    dd_detect_defs(&d, defs);
}

/* The application layer over the pipeline (the dispatcher holds the lock). */
static dd_detect_t detect_of(api_ctx_t *ctx)
{
    dd_detect_t d;

    dd_pipeline_detect(ctx->p, &d);
    return d;
}

/* The store's status behind a dd_detect read, for finish_list(). */
static dd_store_status_t read_status(dd_detect_status_t st, const dd_detect_error_t *err)
{
    if (st == DD_DETECT_OK) {
        return DD_STORE_OK;
    }
    return st == DD_DETECT_BAD_PARAMETER ? DD_STORE_BAD_PARAMETER : err->store;
}

/* A dd_detect failure the handler has no more specific answer for. */
static void detect_error(api_ctx_t *ctx, dd_detect_status_t st, const dd_detect_error_t *err,
                         const char *what)
{
    switch (st) {
    case DD_DETECT_NO_MEMORY: api_no_memory(ctx); return;
    case DD_DETECT_INVALID: api_error(ctx, "InvalidRequestException", "%s", err->message); return;
    case DD_DETECT_ENGINE_ERROR: engine_error(ctx, err->engine); return;
    case DD_DETECT_OK:
    case DD_DETECT_BAD_PARAMETER:
        api_error(ctx, "InternalFailureException", "%s: %s", what, dd_detect_strerror(st));
        return;
    default: break;
    }
    /* The store's own status: the same AWS error as when the handlers called the store. */
    api_store_error(ctx, err->store, err->transaction ? "Store" : what);
}

/* The body as profile JSON, without the members only ddlocal's files use. */
static char *profile_body_text(api_ctx_t *ctx)
{
    static const char *const STRIP[] = {"securityProfileName", "securityProfileArn", "version",
                                        "creationDate",        "lastModifiedDate",   "targets"};
    cJSON *copy = ctx->body != NULL ? cJSON_Duplicate(ctx->body, true) : cJSON_CreateObject();
    char *text;
    size_t i;

    if (copy == NULL) {
        return NULL;
    }
    for (i = 0; i < sizeof(STRIP) / sizeof(STRIP[0]); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, STRIP[i]);
    }
    text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return text;
}

static void profile_not_found(api_ctx_t *ctx, const char *name)
{
    api_error(ctx, "ResourceNotFoundException", "Security profile %s does not exist", name);
}

static void reply_profile(api_ctx_t *ctx, const dd_profile_t *profile)
{
    api_reply(ctx, dd_profile_to_json(profile, &ctx->p->arn, DD_PROFILE_JSON_DESCRIBE));
}

/* ---- security profiles ------------------------------------------------------------------ */

void api_create_security_profile(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;
    char arn[DD_ARN_MAX];
    char *text;
    cJSON *out;

    if (name == NULL || !api_tags_arg(ctx)) {
        return;
    }
    text = profile_body_text(ctx);
    if (text == NULL) {
        api_no_memory(ctx);
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_profile_create(&d, name, text, strlen(text), &err);
    free(text);
    api_arn(ctx, DD_NAME_SECURITY_PROFILE, name, arn, sizeof(arn));
    if (st == DD_DETECT_EXISTS) {
        char msg[256];
        (void)snprintf(msg, sizeof(msg), "Security profile %s already exists", name);
        api_error_exists(ctx, msg, name, arn);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Security profile");
        return;
    }
    ctx->defender_changed = true;
    if (!api_tags_save(ctx, DD_NAME_SECURITY_PROFILE, name)) {
        return;
    }
    out = cJSON_CreateObject();
    if (!api_add_string(out, "securityProfileName", name) ||
        !api_add_string(out, "securityProfileArn", arn)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_update_security_profile(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    dd_profile_t stored;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;
    int64_t expected;
    char *text;

    if (name == NULL || !api_expected_version_query(ctx, &expected)) {
        return;
    }
    text = profile_body_text(ctx);
    if (text == NULL) {
        api_no_memory(ctx);
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_profile_update(&d, name, text, strlen(text), expected, &stored, &err);
    free(text);
    if (st == DD_DETECT_NOT_FOUND) {
        profile_not_found(ctx, name);
        return;
    }
    if (st == DD_DETECT_VERSION_CONFLICT && err.version >= 0) {
        api_error(ctx, "VersionConflictException",
                  "The version of security profile %s is %lld, not the expected %lld", name,
                  (long long)err.version, (long long)expected);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Security profile");
        return;
    }
    ctx->defender_changed = true;
    reply_profile(ctx, &stored);
    dd_profile_free(&stored);
}

void api_describe_security_profile(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    dd_profile_t profile;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_profile_get(&d, name, &profile, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        profile_not_found(ctx, name);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Security profile");
        return;
    }
    reply_profile(ctx, &profile);
    dd_profile_free(&profile);
}

/* Collects names from a store list into an array (plain strings or {name, arn}). */
typedef struct store_names {
    api_ctx_t *ctx;
    cJSON *arr;
    dd_name_kind_t kind; /* DD_NAME_KIND_COUNT: plain strings */
    const char *name_member;
    const char *arn_member;
    bool failed;
} store_names_t;

static int store_name_cb(void *arg, const char *name)
{
    store_names_t *sn = arg;
    cJSON *item;

    if (sn->kind == DD_NAME_KIND_COUNT) {
        item = cJSON_CreateString(name);
    } else {
        char arn[DD_ARN_MAX];
        api_arn(sn->ctx, sn->kind, name, arn, sizeof(arn));
        item = cJSON_CreateObject();
        if (item != NULL && (!api_add_string(item, sn->name_member, name) ||
                             !api_add_string(item, sn->arn_member, arn))) {
            cJSON_Delete(item);
            item = NULL;
        }
    }
    if (item == NULL || !cJSON_AddItemToArray(sn->arr, item)) {
        cJSON_Delete(item);
        sn->failed = true;
        return 1;
    }
    return 0;
}

/* Page arguments for the store's offset tokens. */
static bool store_page(api_ctx_t *ctx, int max, dd_store_page_t *page,
                       char key[DD_REST_TOKEN_KEY_MAX])
{
    if (!api_page_args(ctx, "maxResults", "nextToken", max, &page->max, key)) {
        return false;
    }
    if (strlen(key) >= DD_STORE_TOKEN_MAX) {
        api_error(ctx, "InvalidRequestException", "Invalid nextToken");
        return false;
    }
    page->token = key;
    return true;
}

static void finish_list(api_ctx_t *ctx, cJSON *out, bool failed, dd_store_status_t ss,
                        const char *what, const char *next)
{
    if (ss != DD_STORE_OK || failed) {
        cJSON_Delete(out);
        if (ss == DD_STORE_OK) {
            api_no_memory(ctx);
        } else {
            api_store_error(ctx, ss, what);
        }
        return;
    }
    if (!api_add_token(out, "nextToken", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

static cJSON *list_start(api_ctx_t *ctx, const char *member, cJSON **arr)
{
    cJSON *out = cJSON_CreateObject();

    *arr = cJSON_AddArrayToObject(out, member);
    if (*arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return NULL;
    }
    return out;
}

void api_list_security_profiles(api_ctx_t *ctx)
{
    store_names_t sn = {ctx, NULL, DD_NAME_SECURITY_PROFILE, "name", "arn", false};
    const char *metric = NULL;
    const char *dimension = NULL;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "dimensionName", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &dimension, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "metricName", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &metric, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (metric != NULL && dimension != NULL) {
        api_error(ctx, "InvalidRequestException",
                  "metricName and dimensionName cannot be used together");
        return;
    }
    if ((out = list_start(ctx, "securityProfileIdentifiers", &sn.arr)) == NULL) {
        return;
    }
    ss = read_status(dd_detect_profile_list(&d, metric, dimension, &page, store_name_cb, &sn, next,
                                            &err),
                     &err);
    finish_list(ctx, out, sn.failed, ss, "Security profile", next);
}

void api_delete_security_profile(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;
    int64_t expected;

    if (name == NULL || !api_expected_version_query(ctx, &expected)) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_profile_delete(&d, name, expected, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        /* AWS models no ResourceNotFound here: deleting a missing profile succeeds. */
        api_reply_empty(ctx);
        return;
    }
    if (st == DD_DETECT_VERSION_CONFLICT) {
        api_error(ctx, "VersionConflictException",
                  "The version of security profile %s is not the expected %lld", name,
                  (long long)expected);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Security profile");
        return;
    }
    ctx->defender_changed = true;
    api_reply_empty(ctx);
}

/* The target ARN query parameter, checked; thing groups must exist. */
static bool target_arg(api_ctx_t *ctx, bool check_group, dd_arn_target_t *kind, char *group,
                       size_t len, const char **arn)
{
    if (dd_rest_query_string(&ctx->query, "securityProfileTargetArn", true, 1, 2048, DD_REST_ANY,
                             arn, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    if (dd_arn_parse_target(&ctx->p->arn, *arn, kind, group, len) != DD_NAMES_OK) {
        api_error(ctx, "InvalidRequestException",
                  "securityProfileTargetArn '%.200s' is not a security profile target of %s:%s "
                  "(arn:aws:iot:%s:%s:thinggroup/NAME, ...:all/things, ...:all/registered-things "
                  "or ...:all/unregistered-things)",
                  *arn, ctx->p->arn.region, ctx->p->arn.account, ctx->p->arn.region,
                  ctx->p->arn.account);
        return false;
    }
    if (check_group && *kind == DD_ARN_TARGET_THING_GROUP &&
        dd_registry_group_get(&ctx->p->registry, group, NULL, NULL, NULL) ==
            DD_REGISTRY_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Thing group %s does not exist", group);
        return false;
    }
    return true;
}

static void attach_detach(api_ctx_t *ctx, bool attach)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    const char *arn;
    char group[DD_NAME_MAX + 1];
    dd_arn_target_t kind;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL || !target_arg(ctx, attach, &kind, group, sizeof(group), &arn)) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_profile_target(&d, name, arn, attach, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        profile_not_found(ctx, name);
    } else if (st == DD_DETECT_LIMIT) {
        api_error(ctx, "LimitExceededException",
                  "Target %s already has %d security profiles attached (the maximum)", arn,
                  DD_PROFILE_MAX_PER_TARGET);
    } else if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Security profile");
    } else {
        ctx->defender_changed = true;
        api_reply_empty(ctx);
    }
}

void api_attach_security_profile(api_ctx_t *ctx)
{
    attach_detach(ctx, true);
}

void api_detach_security_profile(api_ctx_t *ctx)
{
    attach_detach(ctx, false);
}

static int target_item_cb(void *arg, const char *arn)
{
    store_names_t *sn = arg;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "arn", arn) || !cJSON_AddItemToArray(sn->arr, item)) {
        cJSON_Delete(item);
        sn->failed = true;
        return 1;
    }
    return 0;
}

void api_list_targets_for_security_profile(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "securityProfileName", NAME_MAX_LEN, DD_REST_NAME);
    store_names_t sn = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (name == NULL || !store_page(ctx, API_MAX_PAGE, &page, key) ||
        (out = list_start(ctx, "securityProfileTargets", &sn.arr)) == NULL) {
        return;
    }
    ss = read_status(dd_detect_profile_targets(&d, name, &page, target_item_cb, &sn, next, &err),
                     &err);
    if (ss == DD_STORE_NOT_FOUND) {
        cJSON_Delete(out);
        profile_not_found(ctx, name);
        return;
    }
    finish_list(ctx, out, sn.failed, ss, "Security profile", next);
}

/* ListSecurityProfilesForTarget: every (profile, target) pair, then one page of it. */
typedef struct mappings {
    api_ctx_t *ctx;
    cJSON *all;
    const char *target;
    bool failed;
} mappings_t;

static int mapping_cb(void *arg, const char *profile)
{
    mappings_t *m = arg;
    char arn[DD_ARN_MAX];
    cJSON *item = cJSON_CreateObject();
    cJSON *id = cJSON_AddObjectToObject(item, "securityProfileIdentifier");
    cJSON *target = cJSON_AddObjectToObject(item, "target");

    api_arn(m->ctx, DD_NAME_SECURITY_PROFILE, profile, arn, sizeof(arn));
    if (id == NULL || target == NULL || !api_add_string(id, "name", profile) ||
        !api_add_string(id, "arn", arn) || !api_add_string(target, "arn", m->target) ||
        !cJSON_AddItemToArray(m->all, item)) {
        cJSON_Delete(item);
        m->failed = true;
        return 1;
    }
    return 0;
}

typedef struct child_groups {
    api_ctx_t *ctx;
    mappings_t *m;
    dd_store_status_t status;
} child_groups_t;

static int child_group_cb(void *arg, const dd_registry_group_t *g)
{
    child_groups_t *cg = arg;
    char arn[DD_ARN_MAX];
    dd_detect_t d = detect_of(cg->ctx);
    dd_detect_error_t err;

    if (dd_arn_format_target(&cg->ctx->p->arn, DD_ARN_TARGET_THING_GROUP, g->name, arn,
                             sizeof(arn)) != DD_NAMES_OK) {
        return 0;
    }
    cg->m->target = arn;
    cg->status = read_status(dd_detect_profiles_for_target(&d, arn, mapping_cb, cg->m, &err), &err);
    cg->m->target = NULL;
    return cg->status != DD_STORE_OK || cg->m->failed ? 1 : 0;
}

void api_list_security_profiles_for_target(api_ctx_t *ctx)
{
    mappings_t m = {ctx, NULL, NULL, false};
    const char *arn;
    char group[DD_NAME_MAX + 1];
    char key[DD_REST_TOKEN_KEY_MAX];
    dd_arn_target_t kind;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    bool recursive = false;
    long long offset = 0;
    int size;
    int total;
    int i;
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (key[0] != '\0' && (sscanf(key, "%lld", &offset) != 1 || offset < 0)) {
        api_error(ctx, "InvalidRequestException", "Invalid nextToken");
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "recursive", false, &recursive, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!target_arg(ctx, true, &kind, group, sizeof(group), &arn)) {
        return;
    }
    m.all = cJSON_CreateArray();
    if (m.all == NULL) {
        api_no_memory(ctx);
        return;
    }
    m.target = arn;
    ss = read_status(dd_detect_profiles_for_target(&d, arn, mapping_cb, &m, &err), &err);
    if (ss == DD_STORE_OK && !m.failed && recursive && kind == DD_ARN_TARGET_THING_GROUP) {
        child_groups_t cg = {ctx, &m, DD_STORE_OK};
        dd_registry_page_t all = {NULL, 0};
        (void)dd_registry_group_list(&ctx->p->registry, group, NULL, true, &all, child_group_cb,
                                     &cg, NULL, 0, NULL);
        ss = cg.status;
    }
    if (ss != DD_STORE_OK || m.failed) {
        cJSON_Delete(m.all);
        if (ss != DD_STORE_OK) {
            api_store_error(ctx, ss, "Security profile");
        } else {
            api_no_memory(ctx);
        }
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "securityProfileTargetMappings");
    total = cJSON_GetArraySize(m.all);
    for (i = (int)offset; arr != NULL && i < total && i < offset + size; i++) {
        cJSON *item = cJSON_DetachItemFromArray(m.all, (int)offset);
        (void)cJSON_AddItemToArray(arr, item);
    }
    cJSON_Delete(m.all);
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    if (offset + size < total) {
        char next[32];
        (void)snprintf(next, sizeof(next), "%lld", offset + size);
        if (!api_add_token(out, "nextToken", next)) {
            cJSON_Delete(out);
            out = NULL;
        }
    }
    api_reply(ctx, out);
}

void api_validate_security_profile_behaviors(api_ctx_t *ctx)
{
    static dd_profile_errors_t errs_zero;
    dd_profile_errors_t *errs;
    const cJSON *behaviors;
    dd_metric_defs_t defs;
    dd_profile_status_t ps;
    cJSON *out;
    cJSON *list;
    size_t i;

    if (dd_rest_json_array(ctx->body, "behaviors", true, 0, 100, &behaviors, ctx->msg) !=
        DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    errs = malloc(sizeof(*errs));
    if (errs == NULL) {
        api_no_memory(ctx);
        return;
    }
    *errs = errs_zero;
    defs_of(ctx, &defs);
    ps = dd_profile_validate_behaviors_json(ctx->req->body, ctx->req->body_len, &defs, errs);
    if (ps != DD_PROFILE_OK && ps != DD_PROFILE_INVALID) {
        free(errs);
        if (ps == DD_PROFILE_NO_MEMORY) {
            api_no_memory(ctx);
        } else {
            api_error(ctx, "InvalidRequestException", "The request body is not a JSON object");
        }
        return;
    }
    out = cJSON_CreateObject();
    list = cJSON_CreateArray();
    if (out == NULL || list == NULL ||
        cJSON_AddBoolToObject(out, "valid", errs->count == 0) == NULL ||
        !cJSON_AddItemToObject(out, "validationErrors", list)) {
        cJSON_Delete(list);
        cJSON_Delete(out);
        free(errs);
        api_no_memory(ctx);
        return;
    }
    for (i = 0; i < errs->count && i < sizeof(errs->messages) / sizeof(errs->messages[0]); i++) {
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || !api_add_string(e, "errorMessage", errs->messages[i]) ||
            !cJSON_AddItemToArray(list, e)) {
            cJSON_Delete(e);
            break;
        }
    }
    free(errs);
    api_reply(ctx, out);
}

/* ---- violations ------------------------------------------------------------------------ */

typedef struct items_out {
    cJSON *arr;
    bool failed;
} items_out_t;

/* Adds a stored JSON text (written by the store itself) as a parsed member. */
static bool add_json_member(cJSON *obj, const char *key, const char *text)
{
    cJSON *j;

    if (text == NULL) {
        return true;
    }
    j = cJSON_Parse(text);
    return j != NULL && cJSON_AddItemToObject(obj, key, j);
}

cJSON *api_violation_json(const dd_store_violation_t *v)
{
    cJSON *item;
    bool ok;

    if (v == NULL || (item = cJSON_CreateObject()) == NULL) {
        return NULL;
    }
    ok = cJSON_AddStringToObject(item, "violationId", v->violation_id) != NULL &&
         cJSON_AddStringToObject(item, "thingName", v->thing) != NULL &&
         cJSON_AddStringToObject(item, "securityProfileName", v->profile) != NULL &&
         add_json_member(item, "behavior", v->behavior_json) &&
         add_json_member(item, v->event ? "metricValue" : "lastViolationValue", v->value_json);
    if (ok && v->event) {
        ok = cJSON_AddStringToObject(item, "violationEventType",
                                     v->event_type != NULL ? v->event_type : "") != NULL;
    }
    if (ok && v->verification != DD_VERIFICATION_UNKNOWN) {
        ok = cJSON_AddStringToObject(item, "verificationState",
                                     dd_verification_name(v->verification)) != NULL;
    }
    if (ok && v->verification_description != NULL) {
        ok = cJSON_AddStringToObject(item, "verificationStateDescription",
                                     v->verification_description) != NULL;
    }
    if (ok && v->event) {
        ok = cJSON_AddItemToObject(item, "violationEventTime", dd_profile_time_json(v->time_ms));
    } else if (ok) {
        ok = cJSON_AddItemToObject(item, "lastViolationTime", dd_profile_time_json(v->time_ms)) &&
             cJSON_AddItemToObject(item, "violationStartTime", dd_profile_time_json(v->start_ms));
    }
    if (!ok) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

static int item_cb(void *arg, const dd_store_violation_t *v)
{
    items_out_t *io = arg;
    cJSON *item = api_violation_json(v);

    if (item == NULL || !cJSON_AddItemToArray(io->arr, item)) {
        cJSON_Delete(item);
        io->failed = true;
        return 1;
    }
    return 0;
}

/* Filters shared by ListActiveViolations and ListViolationEvents. */
static bool violation_filter(api_ctx_t *ctx, dd_store_violation_filter_t *f)
{
    int type = -1;
    int verification = -1;
    bool suppressed = false;
    dd_rest_status_t rs;

    dd_store_violation_filter_init(f);
    if (dd_rest_query_string(&ctx->query, "thingName", false, 1, NAME_MAX_LEN, DD_REST_NO_CONTROL,
                             &f->thing, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "securityProfileName", false, 1, NAME_MAX_LEN,
                             DD_REST_NAME, &f->profile, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "behaviorCriteriaType", false, CRITERIA_TYPES, &type,
                           ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "verificationState", false, VERIFICATION_STATES,
                           &verification, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    rs = dd_rest_query_bool(&ctx->query, "listSuppressedAlerts", false, &suppressed, ctx->msg);
    if (rs == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    /* ddlocal's reading (UNCONFIRMED on AWS): true = only suppressed, false = only
     * not suppressed, absent = both. */
    f->suppressed = rs == DD_REST_OK ? (suppressed ? 1 : 0) : -1;
    if (type >= 0) {
        dd_criteria_type_t ct;
        if (dd_criteria_type_parse(CRITERIA_TYPES[type], &ct) != DD_CRITERIA_OK) {
            api_error(ctx, "InternalFailureException", "Unknown criteria type");
            return false;
        }
        f->criteria_type = (int)ct;
    }
    if (verification >= 0) {
        dd_verification_t v;
        if (!dd_verification_parse(VERIFICATION_STATES[verification], &v)) {
            api_error(ctx, "InternalFailureException", "Unknown verification state");
            return false;
        }
        f->verification = (int)v;
    }
    return true;
}

void api_list_active_violations(api_ctx_t *ctx)
{
    items_out_t io = {NULL, false};
    dd_store_violation_filter_t f;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key) || !violation_filter(ctx, &f)) {
        return;
    }
    if (f.profile != NULL) {
        dd_profile_t profile;
        ss = read_status(dd_detect_profile_get(&d, f.profile, &profile, &err), &err);
        if (ss == DD_STORE_NOT_FOUND) {
            profile_not_found(ctx, f.profile);
            return;
        }
        if (ss == DD_STORE_OK) {
            dd_profile_free(&profile);
        }
    }
    if ((out = list_start(ctx, "activeViolations", &io.arr)) == NULL) {
        return;
    }
    ss = dd_store_active_violations(ctx->p->store, &f, &page, item_cb, &io, next);
    finish_list(ctx, out, io.failed, ss, "Violations", next);
}

void api_list_violation_events(api_ctx_t *ctx)
{
    items_out_t io = {NULL, false};
    dd_store_violation_filter_t f;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    int64_t start = 0;
    int64_t end = 0;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key) || !violation_filter(ctx, &f)) {
        return;
    }
    if (dd_rest_query_time(&ctx->query, "startTime", true, &start, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &end, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (end < start) {
        api_error(ctx, "InvalidRequestException", "endTime must not be before startTime");
        return;
    }
    f.start_ms = start;
    f.end_ms = end > 0 ? end : 1;
    if ((out = list_start(ctx, "violationEvents", &io.arr)) == NULL) {
        return;
    }
    ss = dd_store_violation_events(ctx->p->store, &f, &page, item_cb, &io, next);
    finish_list(ctx, out, io.failed, ss, "Violations", next);
}

void api_put_verification_state_on_violation(api_ctx_t *ctx)
{
    const char *id = api_label_name(ctx, "violationId", 128, DD_REST_VIOLATION_ID);
    const char *description = NULL;
    int which = 0;
    dd_verification_t state;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (id == NULL) {
        return;
    }
    if (dd_rest_json_enum(ctx->body, "verificationState", true, VERIFICATION_STATES, &which,
                          ctx->msg) != DD_REST_OK ||
        dd_rest_json_string(ctx->body, "verificationStateDescription", NULL, false, 0, 1000,
                            DD_REST_NO_CONTROL, &description, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!dd_verification_parse(VERIFICATION_STATES[which], &state)) {
        api_error(ctx, "InternalFailureException", "Unknown verification state");
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_set_verification(&d, id, state, description, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        /* Not ResourceNotFoundException: the operation's model lists only
         * InvalidRequestException for a bad request (compatibility.md). */
        api_error(ctx, "InvalidRequestException", "Violation %s does not exist", id);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Violation");
        return;
    }
    api_reply_empty(ctx);
}

typedef struct datums_out {
    cJSON *arr;
    bool failed;
} datums_out_t;

static int datum_cb(void *arg, int64_t time_ms, const char *value)
{
    datums_out_t *d = arg;
    cJSON *item = cJSON_CreateObject();
    cJSON *v = cJSON_Parse(value != NULL ? value : "{}");

    if (item == NULL || v == NULL || !dd_rest_add_time(item, "timestamp", time_ms) ||
        !cJSON_AddItemToObject(item, "value", v)) {
        cJSON_Delete(v);
        cJSON_Delete(item);
        d->failed = true;
        return 1;
    }
    if (!cJSON_AddItemToArray(d->arr, item)) {
        cJSON_Delete(item);
        d->failed = true;
        return 1;
    }
    return 0;
}

void api_list_metric_values(api_ctx_t *ctx)
{
    static const char *const OPERATORS[] = {"IN", "NOT_IN", NULL};
    datums_out_t d = {NULL, false};
    const char *thing;
    const char *metric;
    const char *dimension = NULL;
    int op = 0;
    int64_t start = 0;
    int64_t end = 0;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t app = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "thingName", true, 1, NAME_MAX_LEN, DD_REST_NO_CONTROL,
                             &thing, ctx->msg) != DD_REST_OK ||
        dd_rest_query_string(&ctx->query, "metricName", true, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &metric, ctx->msg) != DD_REST_OK ||
        dd_rest_query_string(&ctx->query, "dimensionName", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &dimension, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_enum(&ctx->query, "dimensionValueOperator", false, OPERATORS, &op,
                           ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_time(&ctx->query, "startTime", true, &start, ctx->msg) != DD_REST_OK ||
        dd_rest_query_time(&ctx->query, "endTime", true, &end, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (end < start) {
        api_error(ctx, "InvalidRequestException", "endTime must not be before startTime");
        return;
    }
    if ((out = list_start(ctx, "metricDatumList", &d.arr)) == NULL) {
        return;
    }
    ss = read_status(dd_detect_metric_values(&app, thing, metric, dimension, start,
                                             end > 0 ? end : 1, &page, datum_cb, &d, next, &err),
                     &err);
    finish_list(ctx, out, d.failed, ss, "Metric values", next);
}

typedef struct summaries {
    cJSON *all;
    bool failed;
} summaries_t;

static int summary_cb(void *arg, const dd_training_summary_t *s)
{
    summaries_t *sm = arg;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "securityProfileName", s->profile) ||
        !api_add_string(item, "behaviorName", s->behavior) ||
        (s->training_start_ms > 0 &&
         !dd_rest_add_time(item, "trainingDataCollectionStartDate", s->training_start_ms)) ||
        !api_add_string(item, "modelStatus", s->model_status) ||
        cJSON_AddNumberToObject(item, "datapointsCollectionPercentage",
                                s->datapoints_collection_percentage) == NULL ||
        (s->last_model_refresh_ms > 0 &&
         !dd_rest_add_time(item, "lastModelRefreshDate", s->last_model_refresh_ms)) ||
        !cJSON_AddItemToArray(sm->all, item)) {
        cJSON_Delete(item);
        sm->failed = true;
        return 1;
    }
    return 0;
}

void api_get_behavior_model_training_summaries(api_ctx_t *ctx)
{
    summaries_t sm = {NULL, false};
    const char *profile = NULL;
    char key[DD_REST_TOKEN_KEY_MAX];
    long long offset = 0;
    int size;
    int total;
    int i;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    dd_detect_status_t st;
    cJSON *out;
    cJSON *arr;

    if (!api_page_args(ctx, "maxResults", "nextToken", 10, &size, key)) {
        return;
    }
    if (key[0] != '\0' && (sscanf(key, "%lld", &offset) != 1 || offset < 0)) {
        api_error(ctx, "InvalidRequestException", "Invalid nextToken");
        return;
    }
    if (dd_rest_query_string(&ctx->query, "securityProfileName", false, 1, NAME_MAX_LEN,
                             DD_REST_NAME, &profile, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    sm.all = cJSON_CreateArray();
    if (sm.all == NULL) {
        api_no_memory(ctx);
        return;
    }
    st = dd_detect_training_summaries(&d, profile, summary_cb, &sm, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        cJSON_Delete(sm.all);
        profile_not_found(ctx, profile != NULL ? profile : "");
        return;
    }
    if (st != DD_DETECT_OK || sm.failed) {
        cJSON_Delete(sm.all);
        engine_error(ctx, st == DD_DETECT_ENGINE_ERROR ? err.engine : DD_ENGINE_NO_MEMORY);
        return;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "summaries");
    total = cJSON_GetArraySize(sm.all);
    for (i = (int)offset; arr != NULL && i < total && i < offset + size; i++) {
        (void)cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(sm.all, (int)offset));
    }
    cJSON_Delete(sm.all);
    if (arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    if (offset + size < total) {
        char next[32];
        (void)snprintf(next, sizeof(next), "%lld", offset + size);
        if (!api_add_token(out, "nextToken", next)) {
            cJSON_Delete(out);
            out = NULL;
        }
    }
    api_reply(ctx, out);
}

/* ---- custom metrics ----------------------------------------------------------------------- */

static const char *metric_label(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "metricName", NAME_MAX_LEN, DD_REST_NAME);

    if (name != NULL && strncmp(name, "aws:", 4) == 0) {
        api_error(ctx, "InvalidRequestException",
                  "Custom metric names cannot begin with aws: ('%s')", name);
        return NULL;
    }
    return name;
}

static cJSON *custom_metric_json(api_ctx_t *ctx, const dd_custom_metric_def_t *d, bool describe)
{
    char arn[DD_ARN_MAX];
    cJSON *o = cJSON_CreateObject();

    api_arn(ctx, DD_NAME_CUSTOM_METRIC, d->name, arn, sizeof(arn));
    if (o == NULL || !api_add_string(o, "metricName", d->name) ||
        !api_add_string(o, "metricArn", arn) ||
        (describe &&
         (!api_add_string(o, "metricType", dd_metric_custom_type_name(d->type)) ||
          (d->display_name[0] != '\0' && !api_add_string(o, "displayName", d->display_name)) ||
          !dd_rest_add_time(o, "creationDate", d->creation_ms) ||
          !dd_rest_add_time(o, "lastModifiedDate", d->modified_ms)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void api_create_custom_metric(api_ctx_t *ctx)
{
    const char *name = metric_label(ctx);
    const char *display = NULL;
    const char *token;
    int type = 0;
    dd_custom_metric_def_t def;
    dd_detect_request_t req;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;
    char arn[DD_ARN_MAX];
    char digest[DD_STORE_DIGEST_MAX];

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_enum(ctx->body, "metricType", true, METRIC_TYPES, &type, ctx->msg) !=
            DD_REST_OK ||
        dd_rest_json_string(ctx->body, "displayName", NULL, false, 0, 128, DD_REST_GRAPH_SPACE,
                            &display, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "clientRequestToken", NULL, true, 1, 64, DD_REST_TOKEN,
                            &token, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!api_tags_arg(ctx)) {
        return;
    }
    memset(&def, 0, sizeof(def));
    (void)snprintf(def.name, sizeof(def.name), "%s", name);
    (void)snprintf(def.display_name, sizeof(def.display_name), "%s",
                   display != NULL ? display : "");
    if (dd_metric_custom_type_parse(METRIC_TYPES[type], &def.type) != DD_METRIC_OK) {
        api_error(ctx, "InternalFailureException", "Unknown metric type");
        return;
    }
    if (!api_request_digest(ctx, digest)) {
        api_no_memory(ctx);
        return;
    }
    req.token = token;
    req.digest = digest;
    d = detect_of(ctx);
    st = dd_detect_custom_metric_create(&d, &def, &req, &err);
    if (st == DD_DETECT_EXISTS) {
        char msg[256];
        (void)snprintf(msg, sizeof(msg), "Custom metric %s already exists", req.resource);
        api_arn(ctx, DD_NAME_CUSTOM_METRIC, req.resource, arn, sizeof(arn));
        api_error_exists(ctx, err.message[0] != '\0' ? err.message : msg, req.resource, arn);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Custom metric");
        return;
    }
    ctx->defender_changed = !req.replayed;
    if (!api_tags_save(ctx, DD_NAME_CUSTOM_METRIC, name)) {
        return;
    }
    api_reply(ctx, custom_metric_json(ctx, &def, false));
}

void api_describe_custom_metric(api_ctx_t *ctx)
{
    const char *name = metric_label(ctx);
    dd_custom_metric_def_t def;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_custom_metric_get(&d, name, &def, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Custom metric %s does not exist", name);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Custom metric");
        return;
    }
    api_reply(ctx, custom_metric_json(ctx, &def, true));
}

void api_update_custom_metric(api_ctx_t *ctx)
{
    const char *name = metric_label(ctx);
    const char *display;
    dd_custom_metric_def_t def;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "displayName", NULL, true, 0, 128, DD_REST_GRAPH_SPACE,
                            &display, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_custom_metric_update(&d, name, display, &def, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Custom metric %s does not exist", name);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Custom metric");
        return;
    }
    ctx->defender_changed = true;
    api_reply(ctx, custom_metric_json(ctx, &def, true));
}

void api_list_custom_metrics(api_ctx_t *ctx)
{
    store_names_t sn = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key) ||
        (out = list_start(ctx, "metricNames", &sn.arr)) == NULL) {
        return;
    }
    ss = read_status(dd_detect_custom_metric_list(&d, &page, store_name_cb, &sn, next, &err), &err);
    finish_list(ctx, out, sn.failed, ss, "Custom metric", next);
}

void api_delete_custom_metric(api_ctx_t *ctx)
{
    const char *name = metric_label(ctx);
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_custom_metric_delete(&d, name, &err);
    if (st == DD_DETECT_IN_USE) {
        api_error(ctx, "InvalidRequestException",
                  "Custom metric %s is used by a security profile; remove it from every "
                  "profile first (ListSecurityProfiles --metric-name %s)",
                  name, name);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Custom metric");
        return;
    }
    ctx->defender_changed = true;
    api_reply_empty(ctx);
}

/* ---- dimensions ------------------------------------------------------------------------------ */

static cJSON *dimension_json(api_ctx_t *ctx, const dd_dimension_def_t *d, bool describe)
{
    char arn[DD_ARN_MAX];
    cJSON *o = cJSON_CreateObject();
    cJSON *values;
    size_t i;

    api_arn(ctx, DD_NAME_DIMENSION, d->name, arn, sizeof(arn));
    if (o == NULL || !api_add_string(o, "name", d->name) || !api_add_string(o, "arn", arn)) {
        cJSON_Delete(o);
        return NULL;
    }
    if (!describe) {
        return o;
    }
    values = cJSON_AddArrayToObject(o, "stringValues");
    if (values == NULL || !api_add_string(o, "type", "TOPIC_FILTER") ||
        !dd_rest_add_time(o, "creationDate", d->creation_ms) ||
        !dd_rest_add_time(o, "lastModifiedDate", d->modified_ms)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (i = 0; i < d->value_count; i++) {
        cJSON *s = cJSON_CreateString(d->values[i]);
        if (s == NULL || !cJSON_AddItemToArray(values, s)) {
            cJSON_Delete(s);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* stringValues: 1..100 strings of 1..256 characters. */
static bool dimension_values(api_ctx_t *ctx, dd_dimension_def_t *d)
{
    const cJSON *values;
    const cJSON *v;

    if (dd_rest_json_array(ctx->body, "stringValues", true, 1, DD_DIMENSION_VALUES_MAX, &values,
                           ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    d->value_count = 0;
    cJSON_ArrayForEach (v, values) {
        if (!cJSON_IsString(v)) {
            api_error(ctx, "InvalidRequestException", "stringValues must be a list of strings");
            return false;
        }
        if (dd_rest_check_string("stringValues.member", v->valuestring, 1, DD_DIMENSION_VALUE_MAX,
                                 DD_REST_ANY, ctx->msg) != DD_REST_OK ||
            strlen(v->valuestring) > DD_DIMENSION_VALUE_MAX) {
            api_invalid(ctx);
            return false;
        }
        (void)snprintf(d->values[d->value_count], sizeof(d->values[0]), "%s", v->valuestring);
        d->value_count++;
    }
    return true;
}

void api_create_dimension(api_ctx_t *ctx)
{
    static const char *const TYPES[] = {"TOPIC_FILTER", NULL};
    const char *name = api_label_name(ctx, "name", NAME_MAX_LEN, DD_REST_NAME);
    const char *token;
    int type = 0;
    dd_dimension_def_t *def;
    dd_detect_request_t req;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;
    char arn[DD_ARN_MAX];
    char digest[DD_STORE_DIGEST_MAX];

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_enum(ctx->body, "type", true, TYPES, &type, ctx->msg) != DD_REST_OK ||
        dd_rest_json_string(ctx->body, "clientRequestToken", NULL, true, 1, 64, DD_REST_TOKEN,
                            &token, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    def = calloc(1, sizeof(*def));
    if (def == NULL) {
        api_no_memory(ctx);
        return;
    }
    if (!dimension_values(ctx, def) || !api_tags_arg(ctx)) {
        free(def);
        return;
    }
    (void)snprintf(def->name, sizeof(def->name), "%s", name);
    if (!api_request_digest(ctx, digest)) {
        free(def);
        api_no_memory(ctx);
        return;
    }
    req.token = token;
    req.digest = digest;
    d = detect_of(ctx);
    st = dd_detect_dimension_create(&d, def, &req, &err);
    if (st == DD_DETECT_EXISTS) {
        char msg[256];
        (void)snprintf(msg, sizeof(msg), "Dimension %s already exists", req.resource);
        api_arn(ctx, DD_NAME_DIMENSION, req.resource, arn, sizeof(arn));
        api_error_exists(ctx, err.message[0] != '\0' ? err.message : msg, req.resource, arn);
    } else if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Dimension");
    } else {
        ctx->defender_changed = !req.replayed;
        if (api_tags_save(ctx, DD_NAME_DIMENSION, name)) {
            api_reply(ctx, dimension_json(ctx, def, false));
        }
    }
    free(def);
}

void api_describe_dimension(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "name", NAME_MAX_LEN, DD_REST_NAME);
    dd_dimension_def_t *def;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    def = calloc(1, sizeof(*def));
    if (def == NULL) {
        api_no_memory(ctx);
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_dimension_get(&d, name, def, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Dimension %s does not exist", name);
    } else if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Dimension");
    } else {
        api_reply(ctx, dimension_json(ctx, def, true));
    }
    free(def);
}

void api_update_dimension(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "name", NAME_MAX_LEN, DD_REST_NAME);
    dd_dimension_def_t *def;
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    def = calloc(1, sizeof(*def));
    if (def == NULL) {
        api_no_memory(ctx);
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_dimension_get(&d, name, def, &err);
    if (st == DD_DETECT_NOT_FOUND) {
        api_error(ctx, "ResourceNotFoundException", "Dimension %s does not exist", name);
        free(def);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Dimension");
        free(def);
        return;
    }
    if (!dimension_values(ctx, def)) {
        free(def);
        return;
    }
    st = dd_detect_dimension_update(&d, def, &err);
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Dimension");
    } else {
        ctx->defender_changed = true;
        api_reply(ctx, dimension_json(ctx, def, true));
    }
    free(def);
}

void api_list_dimensions(api_ctx_t *ctx)
{
    store_names_t sn = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_store_page_t page;
    dd_store_status_t ss;
    dd_detect_t d = detect_of(ctx);
    dd_detect_error_t err;
    cJSON *out;

    if (!store_page(ctx, API_MAX_PAGE, &page, key) ||
        (out = list_start(ctx, "dimensionNames", &sn.arr)) == NULL) {
        return;
    }
    ss = read_status(dd_detect_dimension_list(&d, &page, store_name_cb, &sn, next, &err), &err);
    finish_list(ctx, out, sn.failed, ss, "Dimension", next);
}

void api_delete_dimension(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "name", NAME_MAX_LEN, DD_REST_NAME);
    dd_detect_t d;
    dd_detect_error_t err;
    dd_detect_status_t st;

    if (name == NULL) {
        return;
    }
    d = detect_of(ctx);
    st = dd_detect_dimension_delete(&d, name, &err);
    if (st == DD_DETECT_IN_USE) {
        api_error(ctx, "InvalidRequestException",
                  "Dimension %s is used by a security profile; remove it from every profile "
                  "first (ListSecurityProfiles --dimension-name %s)",
                  name, name);
        return;
    }
    if (st != DD_DETECT_OK) {
        detect_error(ctx, st, &err, "Dimension");
        return;
    }
    ctx->defender_changed = true;
    api_reply_empty(ctx);
}
