/* Things and thing groups: CreateThing ... ListThingGroupsForThing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_db.h"

#define NAME_MAX_LEN 128

/* ---- attributes ------------------------------------------------------------------- */

/*
 * Validates an AttributePayload's attributes map (names [a-zA-Z0-9_.,@/:#-]+ up to 128,
 * values up to 800) and returns it as JSON text (malloc'd) in *out, or NULL when
 * absent. With @p base (existing attributes JSON) and merge=true, the result is
 * base updated by the payload, where an empty value removes the attribute (AWS).
 * Returns false after answering 400.
 */
static bool attributes_arg(api_ctx_t *ctx, const cJSON *payload, const char *path, const char *base,
                           char **out)
{
    const cJSON *attrs;
    const cJSON *merge;
    const cJSON *a;
    cJSON *result;
    char member[160];

    *out = NULL;
    if (payload == NULL || cJSON_IsNull(payload)) {
        return true;
    }
    if (!cJSON_IsObject(payload)) {
        api_error(ctx, "InvalidRequestException", "%s must be an object", path);
        return false;
    }
    attrs = cJSON_GetObjectItemCaseSensitive(payload, "attributes");
    merge = cJSON_GetObjectItemCaseSensitive(payload, "merge");
    if (attrs == NULL || cJSON_IsNull(attrs)) {
        return true;
    }
    if (!cJSON_IsObject(attrs)) {
        api_error(ctx, "InvalidRequestException", "%s.attributes must be an object of strings",
                  path);
        return false;
    }
    if (cJSON_GetArraySize(attrs) > 50) {
        api_error(ctx, "InvalidRequestException", "%s.attributes has more than 50 attributes",
                  path);
        return false;
    }
    cJSON_ArrayForEach (a, attrs) {
        (void)snprintf(member, sizeof(member), "%s.attributes.key", path);
        if (dd_rest_check_string(member, a->string, 1, 128, DD_REST_ATTR_NAME, ctx->msg) !=
            DD_REST_OK) {
            api_invalid(ctx);
            return false;
        }
        (void)snprintf(member, sizeof(member), "%s.attributes.%.128s", path, a->string);
        if (!cJSON_IsString(a)) {
            api_error(ctx, "InvalidRequestException", "%s must be a string", member);
            return false;
        }
        if (dd_rest_check_string(member, a->valuestring, 0, 800, DD_REST_ATTR_VALUE, ctx->msg) !=
            DD_REST_OK) {
            api_invalid(ctx);
            return false;
        }
    }
    if (base != NULL && cJSON_IsTrue(merge)) {
        result = cJSON_Parse(base);
        if (!cJSON_IsObject(result)) {
            cJSON_Delete(result);
            result = cJSON_CreateObject();
        }
        cJSON_ArrayForEach (a, attrs) {
            cJSON_DeleteItemFromObjectCaseSensitive(result, a->string);
            if (a->valuestring[0] != '\0') {
                (void)cJSON_AddStringToObject(result, a->string, a->valuestring);
            }
        }
    } else {
        result = cJSON_Duplicate(attrs, true);
    }
    if (result == NULL || (*out = cJSON_PrintUnformatted(result)) == NULL) {
        cJSON_Delete(result);
        api_no_memory(ctx);
        return false;
    }
    cJSON_Delete(result);
    return true;
}

static cJSON *attributes_json(const char *text)
{
    cJSON *o = cJSON_Parse(text != NULL ? text : "{}");

    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
    }
    return o;
}

/* A name given either directly or as an ARN of @p kind (AddThingToThingGroup & co). */
static bool name_or_arn(api_ctx_t *ctx, const char *name_member, const char *arn_member,
                        dd_name_kind_t kind, char *out, size_t len)
{
    const char *name;
    const char *arn;
    char from_arn[DD_NAME_MAX + 1];

    if (dd_rest_json_string(ctx->body, name_member, NULL, false, 1, NAME_MAX_LEN, DD_REST_NAME,
                            &name, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, arn_member, NULL, false, 1, 2048, DD_REST_ANY, &arn,
                            ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (arn != NULL) {
        if (dd_arn_parse(&ctx->p->arn, kind, arn, from_arn, sizeof(from_arn)) != DD_NAMES_OK) {
            api_error(ctx, "InvalidRequestException", "%s '%.200s' is not a %s ARN of %s:%s",
                      arn_member, arn, dd_name_noun(kind), ctx->p->arn.region, ctx->p->arn.account);
            return false;
        }
        if (name != NULL && strcmp(name, from_arn) != 0) {
            api_error(ctx, "InvalidRequestException", "%s and %s name different resources",
                      name_member, arn_member);
            return false;
        }
        name = from_arn;
    }
    if (name == NULL) {
        api_error(ctx, "InvalidRequestException", "Either %s or %s must be given", name_member,
                  arn_member);
        return false;
    }
    (void)snprintf(out, len, "%s", name);
    return true;
}

/* ---- things ------------------------------------------------------------------------- */

void api_create_thing(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    const char *type = NULL;
    const char *billing = NULL;
    char *attrs = NULL;
    char id[40] = "";
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "thingTypeName", NULL, false, 1, NAME_MAX_LEN, DD_REST_NAME,
                            &type, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_string(ctx->body, "billingGroupName", NULL, false, 1, NAME_MAX_LEN,
                            DD_REST_NAME, &billing, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (billing != NULL) {
        api_error(ctx, "ResourceNotFoundException",
                  "Billing group %s does not exist (ddlocal has no billing groups)", billing);
        return;
    }
    if (!attributes_arg(ctx, cJSON_GetObjectItemCaseSensitive(ctx->body, "attributePayload"),
                        "attributePayload", NULL, &attrs)) {
        return;
    }
    status = dd_registry_thing_create(&ctx->p->registry, name, type, attrs, id, sizeof(id), &err);
    free(attrs);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    api_arn(ctx, DD_NAME_THING, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "thingName", name) || !api_add_string(out, "thingArn", arn) ||
        !api_add_string(out, "thingId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct thing_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool ok;
} thing_out_t;

/* Fills the DescribeThing (describe=true) or ListThings item shape. */
static bool thing_fill(api_ctx_t *ctx, cJSON *o, const dd_registry_thing_t *t, bool describe)
{
    char arn[DD_ARN_MAX];
    cJSON *attrs = attributes_json(t->attributes_json);

    api_arn(ctx, DD_NAME_THING, t->name, arn, sizeof(arn));
    if (attrs == NULL) {
        return false;
    }
    if (describe && (!api_add_string(o, "defaultClientId", t->name) ||
                     !api_add_string(o, "thingId", t->thing_id))) {
        cJSON_Delete(attrs);
        return false;
    }
    return api_add_string(o, "thingName", t->name) && api_add_string(o, "thingArn", arn) &&
           (t->thing_type[0] == '\0' || api_add_string(o, "thingTypeName", t->thing_type)) &&
           cJSON_AddItemToObject(o, "attributes", attrs) &&
           cJSON_AddNumberToObject(o, "version", (double)t->version) != NULL;
}

static int describe_thing_cb(void *arg, const dd_registry_thing_t *t)
{
    thing_out_t *to = arg;

    to->ok = thing_fill(to->ctx, to->obj, t, true);
    return 0;
}

void api_describe_thing(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    thing_out_t to = {ctx, NULL, false};
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    to.obj = cJSON_CreateObject();
    if (to.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_thing_get(&ctx->p->registry, name, describe_thing_cb, &to, &err);
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

void api_delete_thing(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    int64_t expected;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL || !api_expected_version_query(ctx, &expected)) {
        return;
    }
    status = dd_registry_thing_delete(&ctx->p->registry, name, expected, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

typedef struct list_things {
    api_ctx_t *ctx;
    cJSON *arr;
    int want;
    int got;
    bool more;
    bool failed;
    const char *attr_name;
    const char *attr_value;
    bool prefix;
    const char *type;
    char last[DD_NAME_MAX + 1];
} list_things_t;

static bool thing_matches(const list_things_t *lt, const dd_registry_thing_t *t)
{
    if (lt->type != NULL && strcmp(lt->type, t->thing_type) != 0) {
        return false;
    }
    if (lt->attr_name != NULL) {
        cJSON *attrs = attributes_json(t->attributes_json);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, lt->attr_name);
        bool ok = cJSON_IsString(v);
        if (ok && lt->attr_value != NULL) {
            ok = lt->prefix ? strncmp(v->valuestring, lt->attr_value, strlen(lt->attr_value)) == 0
                            : strcmp(v->valuestring, lt->attr_value) == 0;
        }
        cJSON_Delete(attrs);
        return ok;
    }
    return true;
}

static int list_things_cb(void *arg, const dd_registry_thing_t *t)
{
    list_things_t *lt = arg;
    cJSON *item;

    if (!thing_matches(lt, t)) {
        return 0;
    }
    if (lt->got == lt->want) {
        lt->more = true;
        return 1;
    }
    item = cJSON_CreateObject();
    if (item == NULL || !thing_fill(lt->ctx, item, t, false) ||
        !cJSON_AddItemToArray(lt->arr, item)) {
        cJSON_Delete(item);
        lt->failed = true;
        return 1;
    }
    lt->got++;
    (void)snprintf(lt->last, sizeof(lt->last), "%s", t->name);
    return 0;
}

void api_list_things(api_ctx_t *ctx)
{
    list_things_t lt;
    char key[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t status;
    cJSON *out;

    memset(&lt, 0, sizeof(lt));
    lt.ctx = ctx;
    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &lt.want, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "attributeName", false, 1, 128, DD_REST_ATTR_NAME,
                             &lt.attr_name, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "attributeValue", false, 0, 800, DD_REST_ATTR_VALUE,
                             &lt.attr_value, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "thingTypeName", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &lt.type, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_bool(&ctx->query, "usePrefixAttributeValue", false, &lt.prefix, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (lt.attr_value != NULL && lt.attr_name == NULL) {
        api_error(ctx, "InvalidRequestException", "attributeValue requires attributeName");
        return;
    }
    out = cJSON_CreateObject();
    lt.arr = cJSON_AddArrayToObject(out, "things");
    if (lt.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = 0;
    status = dd_registry_thing_list(&ctx->p->registry, &page, list_things_cb, &lt, NULL, 0);
    if (status != DD_REGISTRY_OK || lt.failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, lt.failed ? DD_REGISTRY_STORE_ERROR : status, NULL);
        return;
    }
    if (lt.more && !api_add_token(out, "nextToken", lt.last)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

/* ---- thing groups -------------------------------------------------------------------- */

static bool group_properties(api_ctx_t *ctx, const cJSON *props, const char *base_attrs,
                             const char **description, char **attrs)
{
    *description = NULL;
    *attrs = NULL;
    if (props == NULL || cJSON_IsNull(props)) {
        return true;
    }
    if (!cJSON_IsObject(props)) {
        api_error(ctx, "InvalidRequestException", "thingGroupProperties must be an object");
        return false;
    }
    if (dd_rest_json_string(props, "thingGroupDescription",
                            "thingGroupProperties.thingGroupDescription", false, 0, 2028,
                            DD_REST_GRAPH_SPACE, description, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    return attributes_arg(ctx, cJSON_GetObjectItemCaseSensitive(props, "attributePayload"),
                          "thingGroupProperties.attributePayload", base_attrs, attrs);
}

void api_create_thing_group(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingGroupName", NAME_MAX_LEN, DD_REST_NAME);
    const char *parent = NULL;
    const char *description = NULL;
    char *attrs = NULL;
    char id[40] = "";
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "parentGroupName", NULL, false, 1, NAME_MAX_LEN,
                            DD_REST_NAME, &parent, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!api_tags_arg(ctx) ||
        !group_properties(ctx, cJSON_GetObjectItemCaseSensitive(ctx->body, "thingGroupProperties"),
                          NULL, &description, &attrs)) {
        return;
    }
    status = dd_registry_group_create(&ctx->p->registry, name, parent, description, attrs, id,
                                      sizeof(id), &err);
    free(attrs);
    if (status == DD_REGISTRY_NOT_FOUND) {
        /* An unknown parent: CreateThingGroup's model has no ResourceNotFoundException, so
         * the modelled 400 (compatibility.md). */
        status = DD_REGISTRY_INVALID;
    }
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    if (!api_tags_save(ctx, DD_NAME_THING_GROUP, name)) {
        return;
    }
    api_arn(ctx, DD_NAME_THING_GROUP, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "thingGroupName", name) ||
        !api_add_string(out, "thingGroupArn", arn) || !api_add_string(out, "thingGroupId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct group_out {
    api_ctx_t *ctx;
    cJSON *obj;
    bool ok;
    char parent[DD_NAME_MAX + 1];
    char *attrs; /* copy of the stored attributes JSON (malloc'd) */
} group_out_t;

static int describe_group_cb(void *arg, const dd_registry_group_t *g)
{
    group_out_t *go = arg;
    char arn[DD_ARN_MAX];
    cJSON *props;
    cJSON *payload;
    cJSON *meta;

    api_arn(go->ctx, DD_NAME_THING_GROUP, g->name, arn, sizeof(arn));
    (void)snprintf(go->parent, sizeof(go->parent), "%s", g->parent);
    free(go->attrs);
    go->attrs = strdup(g->attributes_json);
    props = cJSON_AddObjectToObject(go->obj, "thingGroupProperties");
    payload = props != NULL ? cJSON_AddObjectToObject(props, "attributePayload") : NULL;
    meta = cJSON_CreateObject();
    go->ok = payload != NULL && meta != NULL &&
             api_add_string(go->obj, "thingGroupName", g->name) &&
             api_add_string(go->obj, "thingGroupId", g->group_id) &&
             api_add_string(go->obj, "thingGroupArn", arn) &&
             cJSON_AddNumberToObject(go->obj, "version", (double)g->version) != NULL &&
             (g->description[0] == '\0' ||
              api_add_string(props, "thingGroupDescription", g->description)) &&
             cJSON_AddItemToObject(payload, "attributes", attributes_json(g->attributes_json)) &&
             (g->parent[0] == '\0' || api_add_string(meta, "parentGroupName", g->parent)) &&
             dd_rest_add_time(meta, "creationDate", g->created_ms) &&
             cJSON_AddItemToObject(go->obj, "thingGroupMetadata", meta);
    if (!go->ok) {
        cJSON_Delete(meta);
    }
    return 0;
}

typedef struct ancestors_out {
    api_ctx_t *ctx;
    cJSON *arr;
    bool ok;
} ancestors_out_t;

static int ancestor_cb(void *arg, const char *name)
{
    ancestors_out_t *ao = arg;
    char arn[DD_ARN_MAX];
    cJSON *item = cJSON_CreateObject();

    api_arn(ao->ctx, DD_NAME_THING_GROUP, name, arn, sizeof(arn));
    if (item == NULL || !api_add_string(item, "groupName", name) ||
        !api_add_string(item, "groupArn", arn) || !cJSON_AddItemToArray(ao->arr, item)) {
        cJSON_Delete(item);
        ao->ok = false;
        return 1;
    }
    return 0;
}

void api_describe_thing_group(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingGroupName", NAME_MAX_LEN, DD_REST_NAME);
    group_out_t go;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    memset(&go, 0, sizeof(go));
    go.ctx = ctx;
    go.obj = cJSON_CreateObject();
    if (go.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_group_get(&ctx->p->registry, name, describe_group_cb, &go, &err);
    if (status != DD_REGISTRY_OK) {
        cJSON_Delete(go.obj);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (go.ok && go.parent[0] != '\0') {
        ancestors_out_t ao = {ctx, NULL, true};
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(go.obj, "thingGroupMetadata");
        ao.arr = cJSON_AddArrayToObject(meta, "rootToParentThingGroups");
        if (ao.arr == NULL || dd_registry_group_ancestors(&ctx->p->registry, name, ancestor_cb,
                                                          &ao) != DD_REGISTRY_OK) {
            ao.ok = false;
        }
        go.ok = ao.ok;
    }
    free(go.attrs);
    if (!go.ok) {
        cJSON_Delete(go.obj);
        go.obj = NULL;
    }
    api_reply(ctx, go.obj);
}

void api_update_thing_group(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingGroupName", NAME_MAX_LEN, DD_REST_NAME);
    const cJSON *props;
    const char *description = NULL;
    char *attrs = NULL;
    int64_t expected = -1;
    int64_t version = 0;
    group_out_t go;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL) {
        return;
    }
    props = cJSON_GetObjectItemCaseSensitive(ctx->body, "thingGroupProperties");
    if (props == NULL || cJSON_IsNull(props)) {
        dd_rest_validation_message(ctx->msg, "thingGroupProperties", NULL,
                                   "Member must not be null");
        api_invalid(ctx);
        return;
    }
    if (dd_rest_json_int(ctx->body, "expectedVersion", false, 0, INT64_MAX, &expected, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    /* merge=true needs the current attributes. */
    memset(&go, 0, sizeof(go));
    go.ctx = ctx;
    go.obj = cJSON_CreateObject();
    if (go.obj == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_group_get(&ctx->p->registry, name, describe_group_cb, &go, &err);
    cJSON_Delete(go.obj);
    if (status != DD_REGISTRY_OK) {
        free(go.attrs);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (go.attrs == NULL) {
        api_no_memory(ctx);
        return;
    }
    if (!group_properties(ctx, props, go.attrs, &description, &attrs)) {
        free(go.attrs);
        return;
    }
    free(go.attrs);
    status = dd_registry_group_update(&ctx->p->registry, name, description, attrs, expected,
                                      &version, &err);
    free(attrs);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    out = cJSON_CreateObject();
    if (cJSON_AddNumberToObject(out, "version", (double)version) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_delete_thing_group(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingGroupName", NAME_MAX_LEN, DD_REST_NAME);
    int64_t expected;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL || !api_expected_version_query(ctx, &expected)) {
        return;
    }
    status = dd_registry_group_delete(&ctx->p->registry, name, expected, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

/* A page of names turned into [{groupName, groupArn}] or plain strings. */
typedef struct name_list {
    api_ctx_t *ctx;
    cJSON *arr;
    dd_name_kind_t kind; /* DD_NAME_KIND_COUNT: plain strings */
    const char *name_member;
    const char *arn_member;
    bool failed;
} name_list_t;

static int name_list_cb(void *arg, const char *name)
{
    name_list_t *nl = arg;
    cJSON *item;

    if (nl->kind == DD_NAME_KIND_COUNT) {
        item = cJSON_CreateString(name);
    } else {
        char arn[DD_ARN_MAX];
        api_arn(nl->ctx, nl->kind, name, arn, sizeof(arn));
        item = cJSON_CreateObject();
        if (item != NULL && (!api_add_string(item, nl->name_member, name) ||
                             !api_add_string(item, nl->arn_member, arn))) {
            cJSON_Delete(item);
            item = NULL;
        }
    }
    if (item == NULL || !cJSON_AddItemToArray(nl->arr, item)) {
        cJSON_Delete(item);
        nl->failed = true;
        return 1;
    }
    return 0;
}

static int group_list_cb(void *arg, const dd_registry_group_t *g)
{
    return name_list_cb(arg, g->name);
}

/* Replies {member: [...], token_member?: token} or the error. */
static void reply_names(api_ctx_t *ctx, cJSON *out, const name_list_t *nl,
                        dd_registry_status_t status, const dd_registry_error_t *err,
                        const char *token_member, const char *next)
{
    if (status != DD_REGISTRY_OK || nl->failed) {
        cJSON_Delete(out);
        api_registry_error(ctx, nl->failed ? DD_REGISTRY_STORE_ERROR : status, err);
        return;
    }
    if (!api_add_token(out, token_member, next)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_list_thing_groups(api_ctx_t *ctx)
{
    name_list_t nl = {ctx, NULL, DD_NAME_THING_GROUP, "groupName", "groupArn", false};
    const char *parent = NULL;
    const char *prefix = NULL;
    bool recursive = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "parentGroup", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &parent, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_string(&ctx->query, "namePrefixFilter", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &prefix, ctx->msg) == DD_REST_INVALID ||
        dd_rest_query_bool(&ctx->query, "recursive", false, &recursive, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    nl.arr = cJSON_AddArrayToObject(out, "thingGroups");
    if (nl.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_group_list(&ctx->p->registry, parent, prefix, recursive, &page,
                                    group_list_cb, &nl, next, sizeof(next), &err);
    reply_names(ctx, out, &nl, status, &err, "nextToken", next);
}

static void membership(api_ctx_t *ctx, bool add)
{
    char group[DD_NAME_MAX + 1];
    char thing[DD_NAME_MAX + 1];
    bool override = false;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (!name_or_arn(ctx, "thingGroupName", "thingGroupArn", DD_NAME_THING_GROUP, group,
                     sizeof(group)) ||
        !name_or_arn(ctx, "thingName", "thingArn", DD_NAME_THING, thing, sizeof(thing))) {
        return;
    }
    if (add && dd_rest_json_bool(ctx->body, "overrideDynamicGroups", false, &override, ctx->msg) ==
                   DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    status = add ? dd_registry_group_add_thing(&ctx->p->registry, group, thing, &err)
                 : dd_registry_group_remove_thing(&ctx->p->registry, group, thing, &err);
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

void api_add_thing_to_thing_group(api_ctx_t *ctx)
{
    membership(ctx, true);
}

void api_remove_thing_from_thing_group(api_ctx_t *ctx)
{
    membership(ctx, false);
}

static bool group_name_list(api_ctx_t *ctx, const char *member, const cJSON **out)
{
    const cJSON *n;

    if (dd_rest_json_array(ctx->body, member, false, 0, 10, out, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    cJSON_ArrayForEach (n, *out) {
        if (!cJSON_IsString(n)) {
            api_error(ctx, "InvalidRequestException", "%s must be a list of strings", member);
            return false;
        }
        if (dd_rest_check_string(member, n->valuestring, 1, NAME_MAX_LEN, DD_REST_NAME, ctx->msg) !=
            DD_REST_OK) {
            api_invalid(ctx);
            return false;
        }
    }
    return true;
}

void api_update_thing_groups_for_thing(api_ctx_t *ctx)
{
    const char *thing;
    const cJSON *add;
    const cJSON *rem;
    const cJSON *n;
    bool override = false;
    dd_registry_error_t err;
    dd_registry_status_t status = DD_REGISTRY_OK;

    if (dd_rest_json_string(ctx->body, "thingName", NULL, true, 1, NAME_MAX_LEN, DD_REST_NAME,
                            &thing, ctx->msg) != DD_REST_OK ||
        dd_rest_json_bool(ctx->body, "overrideDynamicGroups", false, &override, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (!group_name_list(ctx, "thingGroupsToAdd", &add) ||
        !group_name_list(ctx, "thingGroupsToRemove", &rem)) {
        return;
    }
    memset(&err, 0, sizeof(err));
    if (!dd_registry_thing_exists(&ctx->p->registry, thing)) {
        api_error(ctx, "ResourceNotFoundException", "Thing %s does not exist", thing);
        return;
    }
    /* All or nothing: the quarantine Lambda pattern swaps groups in one call. */
    if (dd_db_exec(ctx->p->db, "SAVEPOINT dd_api_groups") != DD_DB_OK) {
        api_registry_error(ctx, DD_REGISTRY_STORE_ERROR, NULL);
        return;
    }
    cJSON_ArrayForEach (n, rem) {
        status = dd_registry_group_remove_thing(&ctx->p->registry, n->valuestring, thing, &err);
        if (status != DD_REGISTRY_OK) {
            break;
        }
    }
    if (status == DD_REGISTRY_OK) {
        cJSON_ArrayForEach (n, add) {
            status = dd_registry_group_add_thing(&ctx->p->registry, n->valuestring, thing, &err);
            if (status != DD_REGISTRY_OK) {
                break;
            }
        }
    }
    if (status != DD_REGISTRY_OK) {
        (void)dd_db_exec(ctx->p->db, "ROLLBACK TO dd_api_groups");
    }
    (void)dd_db_exec(ctx->p->db, "RELEASE dd_api_groups");
    if (status == DD_REGISTRY_OK) {
        ctx->registry_changed = true;
    }
    api_registry_error(ctx, status, &err);
}

void api_list_things_in_thing_group(api_ctx_t *ctx)
{
    const char *group = api_label_name(ctx, "thingGroupName", NAME_MAX_LEN, DD_REST_NAME);
    name_list_t nl = {ctx, NULL, DD_NAME_KIND_COUNT, NULL, NULL, false};
    bool recursive = false;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (group == NULL || !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_bool(&ctx->query, "recursive", false, &recursive, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    out = cJSON_CreateObject();
    nl.arr = cJSON_AddArrayToObject(out, "things");
    if (nl.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_group_things(&ctx->p->registry, group, recursive, &page, name_list_cb, &nl,
                                      next, sizeof(next), &err);
    reply_names(ctx, out, &nl, status, &err, "nextToken", next);
}

void api_list_thing_groups_for_thing(api_ctx_t *ctx)
{
    const char *thing = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    name_list_t nl = {ctx, NULL, DD_NAME_THING_GROUP, "groupName", "groupArn", false};
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;
    int size;

    if (thing == NULL || !api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    out = cJSON_CreateObject();
    nl.arr = cJSON_AddArrayToObject(out, "thingGroups");
    if (nl.arr == NULL) {
        cJSON_Delete(out);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status = dd_registry_thing_groups(&ctx->p->registry, thing, &page, name_list_cb, &nl, next,
                                      sizeof(next), &err);
    reply_names(ctx, out, &nl, status, &err, "nextToken", next);
}

/* ---- UpdateThing ---------------------------------------------------------------------------- */

static int thing_attrs_cb(void *arg, const dd_registry_thing_t *t)
{
    char **attrs = arg;

    free(*attrs);
    *attrs = strdup(t->attributes_json);
    return 0;
}

void api_update_thing(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingName", NAME_MAX_LEN, DD_REST_NAME);
    const char *type = NULL;
    bool remove_type = false;
    int64_t expected = -1;
    char *base = NULL;
    char *attrs = NULL;
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_string(ctx->body, "thingTypeName", NULL, false, 1, NAME_MAX_LEN, DD_REST_NAME,
                            &type, ctx->msg) == DD_REST_INVALID ||
        dd_rest_json_bool(ctx->body, "removeThingType", false, &remove_type, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_int(ctx->body, "expectedVersion", false, 0, INT64_MAX, &expected, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    if (type != NULL && remove_type) {
        api_error(ctx, "InvalidRequestException",
                  "thingTypeName and removeThingType cannot be given together");
        return;
    }
    /* merge=true needs the current attributes (the dispatcher holds the lock: no race). */
    status = dd_registry_thing_get(&ctx->p->registry, name, thing_attrs_cb, &base, &err);
    if (status != DD_REGISTRY_OK) {
        free(base);
        api_registry_error(ctx, status, &err);
        return;
    }
    if (base == NULL) {
        api_no_memory(ctx);
        return;
    }
    if (!attributes_arg(ctx, cJSON_GetObjectItemCaseSensitive(ctx->body, "attributePayload"),
                        "attributePayload", base, &attrs)) {
        free(base);
        return;
    }
    free(base);
    status = dd_registry_thing_update(&ctx->p->registry, name, remove_type ? "" : type, attrs,
                                      expected, NULL, &err);
    free(attrs);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    ctx->registry_changed = true;
    api_reply_empty(ctx);
}

/* ---- thing types ---------------------------------------------------------------------------- */

void api_create_thing_type(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingTypeName", NAME_MAX_LEN, DD_REST_NAME);
    const cJSON *props;
    const cJSON *searchable = NULL;
    const char *description = NULL;
    char *searchable_json = NULL;
    char id[40] = "";
    char arn[DD_ARN_MAX];
    dd_registry_error_t err;
    dd_registry_status_t status;
    cJSON *out;

    if (name == NULL || !api_tags_arg(ctx)) {
        return;
    }
    props = cJSON_GetObjectItemCaseSensitive(ctx->body, "thingTypeProperties");
    if (props != NULL && !cJSON_IsNull(props)) {
        if (!cJSON_IsObject(props)) {
            api_error(ctx, "InvalidRequestException", "thingTypeProperties must be an object");
            return;
        }
        if (dd_rest_json_string(props, "thingTypeDescription",
                                "thingTypeProperties.thingTypeDescription", false, 0, 2028,
                                DD_REST_GRAPH_SPACE, &description, ctx->msg) == DD_REST_INVALID ||
            dd_rest_json_array(props, "searchableAttributes", false, 0, DD_REGISTRY_MAX_SEARCHABLE,
                               &searchable, ctx->msg) == DD_REST_INVALID) {
            api_invalid(ctx);
            return;
        }
    }
    if (searchable != NULL && (searchable_json = cJSON_PrintUnformatted(searchable)) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_type_create(&ctx->p->registry, name, description, searchable_json, id,
                                     sizeof(id), &err);
    cJSON_free(searchable_json);
    if (status != DD_REGISTRY_OK) {
        api_registry_error(ctx, status, &err);
        return;
    }
    if (!api_tags_save(ctx, DD_NAME_THING_TYPE, name)) {
        return;
    }
    api_arn(ctx, DD_NAME_THING_TYPE, name, arn, sizeof(arn));
    out = cJSON_CreateObject();
    if (!api_add_string(out, "thingTypeName", name) || !api_add_string(out, "thingTypeArn", arn) ||
        !api_add_string(out, "thingTypeId", id)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

typedef struct type_out {
    api_ctx_t *ctx;
    cJSON *arr; /* ListThingTypes: items go here; DescribeThingType: NULL */
    cJSON *obj; /* DescribeThingType: the reply */
    bool ok;
} type_out_t;

/* Fills a ThingTypeDefinition (with thingTypeId when @p with_id, as DescribeThingType has). */
static bool type_fill(api_ctx_t *ctx, cJSON *o, const dd_registry_type_t *t, bool with_id)
{
    char arn[DD_ARN_MAX];
    cJSON *props = cJSON_AddObjectToObject(o, "thingTypeProperties");
    cJSON *meta = cJSON_AddObjectToObject(o, "thingTypeMetadata");
    cJSON *searchable = cJSON_Parse(t->searchable_json);

    api_arn(ctx, DD_NAME_THING_TYPE, t->name, arn, sizeof(arn));
    if (props == NULL || meta == NULL || !cJSON_IsArray(searchable)) {
        cJSON_Delete(searchable);
        return false;
    }
    return api_add_string(o, "thingTypeName", t->name) &&
           (!with_id || api_add_string(o, "thingTypeId", t->type_id)) &&
           api_add_string(o, "thingTypeArn", arn) &&
           (t->description[0] == '\0' ||
            api_add_string(props, "thingTypeDescription", t->description)) &&
           cJSON_AddItemToObject(props, "searchableAttributes", searchable) &&
           cJSON_AddBoolToObject(meta, "deprecated", t->deprecated) != NULL &&
           (!t->deprecated || dd_rest_add_time(meta, "deprecationDate", t->deprecated_ms)) &&
           dd_rest_add_time(meta, "creationDate", t->created_ms);
}

static int type_cb(void *arg, const dd_registry_type_t *t)
{
    type_out_t *to = arg;
    cJSON *item;

    if (to->arr == NULL) {
        to->ok = type_fill(to->ctx, to->obj, t, true);
        return 0;
    }
    item = cJSON_CreateObject();
    if (item == NULL || !type_fill(to->ctx, item, t, false) ||
        !cJSON_AddItemToArray(to->arr, item)) {
        cJSON_Delete(item);
        to->ok = false;
        return 1;
    }
    return 0;
}

void api_describe_thing_type(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingTypeName", NAME_MAX_LEN, DD_REST_NAME);
    type_out_t to = {ctx, NULL, NULL, false};
    dd_registry_error_t err;
    dd_registry_status_t status;

    if (name == NULL) {
        return;
    }
    if ((to.obj = cJSON_CreateObject()) == NULL) {
        api_no_memory(ctx);
        return;
    }
    status = dd_registry_type_get(&ctx->p->registry, name, type_cb, &to, &err);
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

void api_list_thing_types(api_ctx_t *ctx)
{
    type_out_t to = {ctx, NULL, NULL, true};
    const char *name = NULL;
    char key[DD_REST_TOKEN_KEY_MAX];
    char next[DD_REST_TOKEN_KEY_MAX];
    dd_registry_page_t page;
    dd_registry_status_t status;
    int size;

    if (!api_page_args(ctx, "maxResults", "nextToken", API_MAX_PAGE, &size, key)) {
        return;
    }
    if (dd_rest_query_string(&ctx->query, "thingTypeName", false, 1, NAME_MAX_LEN, DD_REST_NAME,
                             &name, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    to.obj = cJSON_CreateObject();
    to.arr = cJSON_AddArrayToObject(to.obj, "thingTypes");
    if (to.arr == NULL) {
        cJSON_Delete(to.obj);
        api_no_memory(ctx);
        return;
    }
    page.after = key;
    page.limit = size;
    status =
        dd_registry_type_list(&ctx->p->registry, name, &page, type_cb, &to, next, sizeof(next));
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

void api_deprecate_thing_type(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingTypeName", NAME_MAX_LEN, DD_REST_NAME);
    bool undo = false;
    dd_registry_error_t err;

    if (name == NULL) {
        return;
    }
    if (dd_rest_json_bool(ctx->body, "undoDeprecate", false, &undo, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    api_registry_error(ctx, dd_registry_type_deprecate(&ctx->p->registry, name, undo, &err), &err);
}

void api_delete_thing_type(api_ctx_t *ctx)
{
    const char *name = api_label_name(ctx, "thingTypeName", NAME_MAX_LEN, DD_REST_NAME);
    dd_registry_error_t err;

    if (name == NULL) {
        return;
    }
    api_registry_error(ctx, dd_registry_type_delete(&ctx->p->registry, name, &err), &err);
}
