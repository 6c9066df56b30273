/* Provisioning templates and their versions (fleet provisioning; the MQTT side is dd_provision). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_provision.h"

#define TEMPLATE_NAME_MAX 36
#define TEMPLATE_BODY_MAX 10240
#define DESCRIPTION_MAX 500
#define ROLE_ARN_MIN 20
#define ROLE_ARN_MAX 2048

static const char *const TEMPLATE_TYPES[] = {"FLEET_PROVISIONING", "JITP", NULL};

static const char *template_label(api_ctx_t *ctx)
{
    return api_label_name(ctx, "templateName", TEMPLATE_NAME_MAX, DD_REST_NAME_NOCOLON);
}

/* templateBody: present, JSON, in the language dd_provision supports. false = answered. */
static bool body_arg(api_ctx_t *ctx, const char **body)
{
    char why[512];

    if (dd_rest_json_string(ctx->body, "templateBody", NULL, true, 0, TEMPLATE_BODY_MAX,
                            DD_REST_ANY, body, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    if (dd_provision_check_template(*body, why, sizeof(why)) != DD_PROVISION_OK) {
        api_error(ctx, "InvalidRequestException", "%s", why);
        return false;
    }
    return true;
}

/* preProvisioningHook: {"targetArn": ..., "payloadVersion": ...} as stored JSON text ("" when
 * absent). ddlocal stores it; RegisterThing refuses templates that have one. */
static bool hook_arg(api_ctx_t *ctx, char **hook_json, bool *given)
{
    const cJSON *hook = cJSON_GetObjectItemCaseSensitive(ctx->body, "preProvisioningHook");
    const char *target = NULL;
    const char *version = NULL;

    *hook_json = NULL;
    *given = hook != NULL && !cJSON_IsNull(hook);
    if (!*given) {
        return true;
    }
    if (!cJSON_IsObject(hook) ||
        dd_rest_json_string(hook, "targetArn", "preProvisioningHook.targetArn", true, 1, 2048,
                            DD_REST_ANY, &target, ctx->msg) != DD_REST_OK ||
        dd_rest_json_string(hook, "payloadVersion", "preProvisioningHook.payloadVersion", false, 10,
                            32, DD_REST_ANY, &version, ctx->msg) == DD_REST_INVALID) {
        if (!cJSON_IsObject(hook)) {
            (void)snprintf(ctx->msg, DD_REST_MESSAGE_MAX, "preProvisioningHook must be an object");
        }
        api_invalid(ctx);
        return false;
    }
    *hook_json = cJSON_PrintUnformatted(hook);
    if (*hook_json == NULL) {
        api_no_memory(ctx);
        return false;
    }
    return true;
}

void api_create_provisioning_template(api_ctx_t *ctx)
{
    dd_registry_template_t tpl;
    dd_registry_error_t err;
    dd_registry_status_t status;
    const char *name = NULL;
    const char *type = "FLEET_PROVISIONING";
    char *hook = NULL;
    bool hook_given = false;
    int type_index = 0;
    char arn[DD_ARN_MAX];
    cJSON *out;

    memset(&tpl, 0, sizeof(tpl));
    if (dd_rest_json_string(ctx->body, "templateName", NULL, true, 1, TEMPLATE_NAME_MAX,
                            DD_REST_NAME_NOCOLON, &name, ctx->msg) != DD_REST_OK ||
        dd_rest_json_string(ctx->body, "description", NULL, false, 0, DESCRIPTION_MAX,
                            DD_REST_NO_CONTROL, &tpl.description, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_bool(ctx->body, "enabled", false, &tpl.enabled, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "provisioningRoleArn", NULL, true, ROLE_ARN_MIN,
                            ROLE_ARN_MAX, DD_REST_ANY, &tpl.role_arn, ctx->msg) != DD_REST_OK ||
        dd_rest_json_enum(ctx->body, "type", false, TEMPLATE_TYPES, &type_index, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!body_arg(ctx, &tpl.body) || !api_tags_arg(ctx) || !hook_arg(ctx, &hook, &hook_given)) {
        return;
    }
    type = TEMPLATE_TYPES[type_index];
    tpl.name = name;
    tpl.type = type;
    tpl.hook_json = hook != NULL ? hook : "";
    status = dd_registry_template_create(&ctx->p->registry, &tpl, &err);
    cJSON_free(hook);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!api_tags_save(ctx, DD_NAME_PROVISIONING_TEMPLATE, name)) {
        return;
    }
    api_arn(ctx, DD_NAME_PROVISIONING_TEMPLATE, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "templateArn", arn) || !api_add_string(out, "templateName", name) ||
        cJSON_AddNumberToObject(out, "defaultVersionId", 1) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct tpl_out {
    api_ctx_t *ctx;
    cJSON *arr; /* List: items go here; Describe: NULL */
    cJSON *obj; /* Describe: the reply */
    bool ok;
} tpl_out_t;

/* A ProvisioningTemplateSummary, or (full) DescribeProvisioningTemplate's reply. */
static bool template_fill(api_ctx_t *ctx, cJSON *o, const dd_registry_template_t *t, bool full)
{
    char arn[DD_ARN_MAX];

    api_arn(ctx, DD_NAME_PROVISIONING_TEMPLATE, t->name, arn, sizeof(arn));
    if (!api_add_string(o, "templateArn", arn) || !api_add_string(o, "templateName", t->name) ||
        !api_add_string(o, "description", t->description) ||
        !dd_rest_add_time(o, "creationDate", t->created_ms) ||
        !dd_rest_add_time(o, "lastModifiedDate", t->modified_ms) ||
        cJSON_AddBoolToObject(o, "enabled", t->enabled) == NULL ||
        !api_add_string(o, "type", t->type)) {
        return false;
    }
    if (!full) {
        return true;
    }
    if (t->hook_json[0] != '\0') {
        cJSON *hook = cJSON_Parse(t->hook_json);

        if (hook == NULL || !cJSON_AddItemToObject(o, "preProvisioningHook", hook)) {
            cJSON_Delete(hook);
            return false;
        }
    }
    return cJSON_AddNumberToObject(o, "defaultVersionId", (double)t->default_version) != NULL &&
           api_add_string(o, "templateBody", t->body) &&
           api_add_string(o, "provisioningRoleArn", t->role_arn);
}

static int template_cb(void *arg, const dd_registry_template_t *t)
{
    tpl_out_t *to = arg;
    cJSON *item;

    if (to->arr == NULL) {
        to->ok = template_fill(to->ctx, to->obj, t, true);
        return 0;
    }
    item = cJSON_CreateObject();
    if (item == NULL || !template_fill(to->ctx, item, t, false) ||
        !cJSON_AddItemToArray(to->arr, item)) {
        cJSON_Delete(item);
        to->ok = false;
        return 1;
    }
    return 0;
}

void api_describe_provisioning_template(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    tpl_out_t to = {ctx, NULL, NULL, false};
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    if ((to.obj = cJSON_CreateObject()) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_template_get(&ctx->p->registry, name, template_cb, &to, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(to.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!to.ok) {
        cJSON_Delete(to.obj);
        to.obj = NULL;
    }
    api_reply(ctx, to.obj);
}

void api_list_provisioning_templates(api_ctx_t *ctx)
{
    tpl_out_t to = {ctx, NULL, NULL, true};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t status;
    int size;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    to.obj = cJSON_CreateObject();
    to.arr = cJSON_AddArrayToObject(to.obj, "templates");
    if (to.arr == NULL) {
        cJSON_Delete(to.obj);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status =
        dd_registry_template_list(&ctx->p->registry, &page, template_cb, &to, next, sizeof(next));
    if (status != DD_REGISTRY_OK || !to.ok) {
        cJSON_Delete(to.obj);
        api_registry_error(ctx, to.ok ? status : DD_REGISTRY_STORE_ERROR, NULL);
        return;
    }
    if (!api_add_token(to.obj, "nextToken", next)) {
        cJSON_Delete(to.obj);
        to.obj = NULL;
    }
    api_reply(ctx, to.obj);
}

void api_update_provisioning_template(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    dd_registry_template_update_t u;
    dd_registry_error_t err;
    bool enabled = false;
    bool remove_hook = false;
    bool hook_given = false;
    char *hook = NULL;
    dd_rest_status_t en;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    memset(&u, 0, sizeof(u));
    u.enabled = -1;
    en = dd_rest_json_bool(ctx->body, "enabled", false, &enabled, ctx->msg);
    if (en == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "description", NULL, false, 0, DESCRIPTION_MAX,
                            DD_REST_NO_CONTROL, &u.description, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "provisioningRoleArn", NULL, false, ROLE_ARN_MIN,
                            ROLE_ARN_MAX, DD_REST_ANY, &u.role_arn, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_int(ctx->body, "defaultVersionId", false, 1, INT32_MAX, &u.default_version,
                         ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_bool(ctx->body, "removePreProvisioningHook", false, &remove_hook, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!hook_arg(ctx, &hook, &hook_given)) {
        return;
    }
    if (hook_given && remove_hook) {
        cJSON_free(hook);
        api_error(ctx, "InvalidRequestException",
                  "Give either preProvisioningHook or removePreProvisioningHook, not both");
        return;
    }
    if (en == DD_REST_OK) {
        u.enabled = enabled ? 1 : 0;
    }
    u.hook_json = remove_hook ? "" : hook;
    status = dd_registry_template_update(&ctx->p->registry, name, &u, &err);
    cJSON_free(hook);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    api_reply_empty(ctx);
}

void api_delete_provisioning_template(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    dd_registry_error_t err;

    if (name == NULL) {
        return;
    }
    api_registry_error(ctx, dd_registry_template_delete(&ctx->p->registry, name, &err), &err);
}

/* ---- versions ------------------------------------------------------------------------------ */

/* The {versionId} label: an integer >= 1. false = answered. */
static bool version_label(api_ctx_t *ctx, int64_t *version)
{
    const char *v = api_label_name(ctx, "versionId", 10, DD_REST_ANY);
    char *end = NULL;
    long long n;

    if (v == NULL) {
        return false;
    }
    n = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || n < 1) {
        api_error(ctx, "InvalidRequestException", "versionId must be a positive integer, not %.32s",
                  v);
        return false;
    }
    *version = n;
    return true;
}

void api_create_provisioning_template_version(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    const char *body = NULL;
    bool set_default = false;
    int64_t version = 0;
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "setAsDefault", false, &set_default, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!body_arg(ctx, &body)) {
        return;
    }
    status = dd_registry_template_version_create(&ctx->p->registry, name, body, set_default,
                                                 &version, &err);
    if (status == DD_REGISTRY_LIMIT_EXCEEDED) {
        api_error(ctx, "VersionsLimitExceededException", "%s", err.message);
        return;
    }
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    api_arn(ctx, DD_NAME_PROVISIONING_TEMPLATE, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "templateArn", arn) || !api_add_string(out, "templateName", name) ||
        cJSON_AddNumberToObject(out, "versionId", (double)version) == NULL ||
        cJSON_AddBoolToObject(out, "isDefaultVersion", set_default) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct ver_out {
    cJSON *arr; /* List: items go here; Describe: NULL */
    cJSON *obj;
    bool ok;
} ver_out_t;

static int version_cb(void *arg, const dd_registry_template_version_t *v)
{
    ver_out_t *vo = arg;
    cJSON *o = vo->arr == NULL ? vo->obj : cJSON_CreateObject();

    if (o == NULL || cJSON_AddNumberToObject(o, "versionId", (double)v->version_id) == NULL ||
        !dd_rest_add_time(o, "creationDate", v->created_ms) ||
        (vo->arr == NULL && !api_add_string(o, "templateBody", v->body)) ||
        cJSON_AddBoolToObject(o, "isDefaultVersion", v->is_default) == NULL ||
        (vo->arr != NULL && !cJSON_AddItemToArray(vo->arr, o))) {
        if (vo->arr != NULL) {
            cJSON_Delete(o);
        }
        vo->ok = false;
        return 1;
    }
    return 0;
}

void api_describe_provisioning_template_version(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    ver_out_t vo = {NULL, NULL, true};
    int64_t version;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL || !version_label(ctx, &version)) {
        return;
    }
    if ((vo.obj = cJSON_CreateObject()) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status =
        dd_registry_template_version_get(&ctx->p->registry, name, version, version_cb, &vo, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(vo.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!vo.ok) {
        cJSON_Delete(vo.obj);
        vo.obj = NULL;
    }
    api_reply(ctx, vo.obj);
}

void api_list_provisioning_template_versions(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    ver_out_t vo = {NULL, NULL, true};
    char key[DD_REST_TOKEN_KEY_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    int size;

    /* At most 5 versions: one page always holds them; the paging arguments are checked only. */
    if (name == NULL || !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    vo.obj = cJSON_CreateObject();
    vo.arr = cJSON_AddArrayToObject(vo.obj, "versions");
    if (vo.arr == NULL) {
        cJSON_Delete(vo.obj);
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_template_version_list(&ctx->p->registry, name, version_cb, &vo, &err);
    if (status != DD_REGISTRY_OK || !vo.ok) {
        cJSON_Delete(vo.obj);
        api_registry_error(ctx, vo.ok ? status : DD_REGISTRY_STORE_ERROR, &err);
        return;
    }
    api_reply(ctx, vo.obj);
}

void api_delete_provisioning_template_version(api_ctx_t *ctx)
{
    const char *name = template_label(ctx);
    int64_t version;
    dd_registry_error_t err;

    if (name == NULL || !version_label(ctx, &version)) {
        return;
    }
    api_registry_error(ctx,
                       dd_registry_template_version_delete(&ctx->p->registry, name, version, &err),
                       &err);
}
