/*
 * Tags: TagResource, UntagResource, ListTagsForResource and the `tags` of the
 * Create calls. Tags live in the registry by ARN (common/dd_registry_tags.c);
 * this file only finds which resource an ARN names and whether it exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_detect.h"
#include "dd_profile.h"

/* What TagResource accepts: AWS IoT tags these; things and certificates cannot be tagged. */
static const dd_name_kind_t TAGGABLE[] = {
    DD_NAME_THING_GROUP,
    DD_NAME_THING_TYPE,
    DD_NAME_POLICY,
    DD_NAME_SECURITY_PROFILE,
    DD_NAME_CUSTOM_METRIC,
    DD_NAME_DIMENSION,
    DD_NAME_MITIGATION_ACTION,
    DD_NAME_PROVISIONING_TEMPLATE,
};

bool api_tags_save(api_ctx_t *ctx, dd_name_kind_t kind, const char *name)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(ctx->body, "tags");
    char arn[DD_ARN_MAX];
    char *json;
    dd_registry_error_t err;
    dd_registry_status_t status;

    /* Always replace: a resource made again under a deleted one's name starts without tags. */
    json = cJSON_IsArray(tags) ? cJSON_PrintUnformatted(tags) : strdup("[]");
    if (json == NULL) {
        api_no_memory(ctx);
        return false;
    }
    api_arn(ctx, kind, name, arn, sizeof(arn));
    status = dd_registry_tags_set(&ctx->p->registry, arn, json, true, &err);
    free(json);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return false;
    }
    return true;
}

/* The resource @p arn names, when it is one ddlocal tags; answers 400 otherwise. */
static bool taggable(api_ctx_t *ctx, const char *arn, dd_name_kind_t *kind, char *name, size_t len)
{
    char ignored[DD_NAME_MAX + 1];
    size_t i;

    for (i = 0; i < sizeof(TAGGABLE) / sizeof(TAGGABLE[0]); i++) {
        if (dd_arn_parse(&ctx->p->arn, TAGGABLE[i], arn, name, len) == DD_NAMES_OK) {
            *kind = TAGGABLE[i];
            return true;
        }
    }
    if (dd_arn_parse(&ctx->p->arn, DD_NAME_THING, arn, ignored, sizeof(ignored)) == DD_NAMES_OK) {
        api_error(
            ctx, "InvalidRequestException",
            "Things cannot be tagged (AWS IoT tags thing groups and thing types, not things)");
    } else {
        api_error(ctx, "InvalidRequestException",
                  "%s is not the ARN of a taggable resource of this account and region", arn);
    }
    return false;
}

/* Answers 404 and returns false when the resource does not exist. */
static bool exists(api_ctx_t *ctx, dd_name_kind_t kind, const char *name)
{
    dd_registry_error_t err;
    dd_registry_status_t rs = DD_REGISTRY_OK;
    dd_detect_error_t derr;
    dd_detect_status_t ds = DD_DETECT_OK;
    dd_detect_t d;
    bool known = true;

    dd_pipeline_detect(ctx->p, &d);
    switch (kind) {
    case DD_NAME_THING_GROUP:
        rs = dd_registry_group_get(&ctx->p->registry, name, NULL, NULL, &err);
        break;
    case DD_NAME_THING_TYPE:
        rs = dd_registry_type_get(&ctx->p->registry, name, NULL, NULL, &err);
        break;
    case DD_NAME_POLICY:
        rs = dd_registry_policy_get(&ctx->p->registry, name, NULL, NULL, &err);
        break;
    case DD_NAME_PROVISIONING_TEMPLATE:
        rs = dd_registry_template_get(&ctx->p->registry, name, NULL, NULL, &err);
        break;
    case DD_NAME_SECURITY_PROFILE: {
        dd_profile_t profile;
        memset(&profile, 0, sizeof(profile));
        ds = dd_detect_profile_get(&d, name, &profile, &derr);
        if (ds == DD_DETECT_OK) {
            dd_profile_free(&profile);
        }
        break;
    }
    case DD_NAME_CUSTOM_METRIC: {
        dd_custom_metric_def_t def;
        ds = dd_detect_custom_metric_get(&d, name, &def, &derr);
        break;
    }
    case DD_NAME_DIMENSION: {
        dd_dimension_def_t *def = calloc(1, sizeof(*def));
        if (def == NULL) {
            api_no_memory(ctx);
            return false;
        }
        ds = dd_detect_dimension_get(&d, name, def, &derr);
        free(def);
        break;
    }
    case DD_NAME_MITIGATION_ACTION: {
        dd_store_mitigation_action_t action;
        dd_mitigate_status_t ms = dd_mitigate_action_describe(ctx->api->mitigation, name, &action);
        if (ms == DD_MITIGATE_OK) {
            dd_store_mitigation_action_clear(&action);
        }
        known = ms != DD_MITIGATE_NOT_FOUND;
        if (ms != DD_MITIGATE_OK && known) {
            api_error(ctx, "InternalFailureException", "Could not read mitigation action %s", name);
            return false;
        }
        break;
    }
    default: known = false; break;
    }
    if (rs == DD_REGISTRY_NOT_FOUND || ds == DD_DETECT_NOT_FOUND || !known) {
        api_error(ctx, "ResourceNotFoundException", "The %s %s does not exist", dd_name_noun(kind),
                  name);
        return false;
    }
    if (rs != DD_REGISTRY_OK) {
        api_registry_error(ctx, rs, &err);
        return false;
    }
    if (ds != DD_DETECT_OK) {
        api_error(ctx, "InternalFailureException", "Could not read the %s %s", dd_name_noun(kind),
                  name);
        return false;
    }
    return true;
}

/* Reads resourceArn (body or query) and checks the resource; false = answered. */
static bool resource_arg(api_ctx_t *ctx, bool in_query, const char **arn)
{
    dd_name_kind_t kind;
    char name[DD_NAME_MAX + 1];
    dd_rest_status_t rs = in_query ? dd_rest_query_string(&ctx->query, "resourceArn", true, 1, 2048,
                                                          DD_REST_ANY, arn, ctx->msg)
                                   : dd_rest_json_string(ctx->body, "resourceArn", NULL, true, 1,
                                                         2048, DD_REST_ANY, arn, ctx->msg);

    if (rs != DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    return taggable(ctx, *arn, &kind, name, sizeof(name)) && exists(ctx, kind, name);
}

void api_tag_resource(api_ctx_t *ctx)
{
    const char *arn;
    const cJSON *tags;
    char *json;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!resource_arg(ctx, false, &arn)) {
        return;
    }
    if (dd_rest_json_array(ctx->body, "tags", true, 1, DD_REGISTRY_MAX_TAGS, &tags, ctx->msg) !=
        DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (!api_tags_arg(ctx)) {
        return;
    }
    if ((json = cJSON_PrintUnformatted(tags)) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_tags_set(&ctx->p->registry, arn, json, false, &err);
    cJSON_free(json);
    api_registry_error(ctx, status, &err);
}

void api_untag_resource(api_ctx_t *ctx)
{
    const char *arn;
    const cJSON *keys;
    const cJSON *k;
    char *json;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!resource_arg(ctx, false, &arn)) {
        return;
    }
    if (dd_rest_json_array(ctx->body, "tagKeys", true, 0, DD_REGISTRY_MAX_TAGS, &keys, ctx->msg) !=
        DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    cJSON_ArrayForEach (k, keys) {
        if (!cJSON_IsString(k) || dd_rest_check_string("tagKeys.member", k->valuestring, 1, 128,
                                                       DD_REST_ANY, ctx->msg) != DD_REST_OK) {
            if (!cJSON_IsString(k)) {
                (void)snprintf(ctx->msg, sizeof(ctx->msg), "tagKeys must be strings");
            }
            api_invalid(ctx);
            return;
        }
    }
    if ((json = cJSON_PrintUnformatted(keys)) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_tags_remove(&ctx->p->registry, arn, json, &err);
    cJSON_free(json);
    api_registry_error(ctx, status, &err);
}

typedef struct tags_out {
    cJSON *arr;
    bool ok;
} tags_out_t;

static int tag_cb(void *arg, const char *key, const char *value)
{
    tags_out_t *to = arg;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !api_add_string(item, "Key", key) ||
        !api_add_string(item, "Value", value) || !cJSON_AddItemToArray(to->arr, item)) {
        cJSON_Delete(item);
        to->ok = false;
        return 1;
    }
    return 0;
}

void api_list_tags_for_resource(api_ctx_t *ctx)
{
    const char *arn;
    tags_out_t to = {NULL, true};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (!resource_arg(ctx, true, &arn) ||
        !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    out = cJSON_CreateObject();
    to.arr = cJSON_AddArrayToObject(out, "tags");
    if (to.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status =
        dd_registry_tags_list(&ctx->p->registry, arn, &page, tag_cb, &to, next, sizeof(next), &err);
    if (status != DD_REGISTRY_OK || !to.ok) {
        cJSON_Delete(out);
        api_registry_error(ctx, to.ok ? status : DD_REGISTRY_STORE_ERROR, &err);
        return;
    }
    if (!api_add_token(out, "nextToken", next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}
