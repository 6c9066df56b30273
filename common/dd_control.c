#include "dd_control.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_json.h"

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

dd_name_kind_t dd_control_name_kind(dd_registry_kind_t kind)
{
    switch (kind) {
    case DD_REGISTRY_KIND_THING: return DD_NAME_THING;
    case DD_REGISTRY_KIND_CERT: return DD_NAME_CERTIFICATE;
    case DD_REGISTRY_KIND_GROUP: return DD_NAME_THING_GROUP;
    case DD_REGISTRY_KIND_POLICY: return DD_NAME_POLICY;
    case DD_REGISTRY_KIND_COUNT: break;
    }
    return DD_NAME_KIND_COUNT;
}

static bool kind_ok(dd_registry_kind_t kind)
{
    return (unsigned)kind < DD_REGISTRY_KIND_COUNT;
}

static bool id_ok(const char *id)
{
    return id == NULL || (id[0] != '\0' && strlen(id) <= DD_CONTROL_ID_MAX);
}

static dd_control_status_t encode_tree(const cJSON *root, char **payload, size_t *len)
{
    char *text = cJSON_PrintUnformatted(root);

    if (text == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    *payload = text;
    *len = strlen(text);
    return DD_CONTROL_OK;
}

/* ---- building registry messages ------------------------------------------ */

dd_control_status_t dd_control_batch_init(dd_control_batch_t *batch, const char *id, bool full)
{
    if (batch == NULL || !id_ok(id)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    memset(batch, 0, sizeof(*batch));
    batch->root = cJSON_CreateObject();
    if (batch->root == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    if ((id != NULL && cJSON_AddStringToObject(batch->root, "id", id) == NULL) ||
        (full && cJSON_AddBoolToObject(batch->root, "full", true) == NULL)) {
        dd_control_batch_free(batch);
        return DD_CONTROL_NO_MEMORY;
    }
    batch->entities = cJSON_AddArrayToObject(batch->root, "entities");
    if (batch->entities == NULL) {
        dd_control_batch_free(batch);
        return DD_CONTROL_NO_MEMORY;
    }
    return DD_CONTROL_OK;
}

static cJSON *entity_object(dd_registry_kind_t kind, const char *name, cJSON *state_owned)
{
    cJSON *e = cJSON_CreateObject();

    if (e == NULL) {
        cJSON_Delete(state_owned);
        return NULL;
    }
    if (cJSON_AddStringToObject(e, "kind", dd_registry_kind_name(kind)) == NULL ||
        cJSON_AddStringToObject(e, "name", name) == NULL) {
        cJSON_Delete(state_owned);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_AddItemToObject(e, "state", state_owned);
    return e;
}

static dd_control_status_t batch_add_owned(dd_control_batch_t *batch, dd_registry_kind_t kind,
                                           const char *name, cJSON *state_owned)
{
    cJSON *e;

    e = entity_object(kind, name, state_owned);
    if (e == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    cJSON_AddItemToArray(batch->entities, e);
    batch->count++;
    return DD_CONTROL_OK;
}

dd_control_status_t dd_control_batch_add(dd_control_batch_t *batch, dd_registry_kind_t kind,
                                         const char *name, const cJSON *state)
{
    cJSON *copy;

    if (batch == NULL || batch->entities == NULL || !kind_ok(kind) || name == NULL ||
        !dd_name_valid(dd_control_name_kind(kind), name) || !cJSON_IsObject(state)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    copy = cJSON_Duplicate(state, true);
    if (copy == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    return batch_add_owned(batch, kind, name, copy);
}

dd_control_status_t dd_control_batch_add_from_registry(dd_control_batch_t *batch,
                                                       dd_registry_t *reg, dd_registry_kind_t kind,
                                                       const char *name)
{
    cJSON *state = NULL;
    dd_registry_status_t rs;

    if (batch == NULL || batch->entities == NULL || reg == NULL || !kind_ok(kind) || name == NULL ||
        !dd_name_valid(dd_control_name_kind(kind), name)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    rs = dd_registry_entity_json(reg, kind, name, &state);
    if (rs != DD_REGISTRY_OK || state == NULL) {
        cJSON_Delete(state);
        return DD_CONTROL_REGISTRY_ERROR;
    }
    return batch_add_owned(batch, kind, name, state);
}

typedef struct add_all_ctx {
    dd_control_batch_t *batch;
    dd_registry_t *reg;
    dd_registry_kind_t kind;
    dd_control_status_t status;
} add_all_ctx_t;

static int add_all_cb(void *ctx, const char *name)
{
    add_all_ctx_t *a = ctx;

    a->status = dd_control_batch_add_from_registry(a->batch, a->reg, a->kind, name);
    return a->status != DD_CONTROL_OK;
}

dd_control_status_t dd_control_batch_add_all(dd_control_batch_t *batch, dd_registry_t *reg)
{
    add_all_ctx_t a = {batch, reg, DD_REGISTRY_KIND_THING, DD_CONTROL_OK};
    int k;

    if (batch == NULL || batch->entities == NULL || reg == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    for (k = 0; k < DD_REGISTRY_KIND_COUNT; k++) {
        a.kind = (dd_registry_kind_t)k;
        if (dd_registry_entity_names(reg, a.kind, add_all_cb, &a) != DD_REGISTRY_OK &&
            a.status == DD_CONTROL_OK) {
            return DD_CONTROL_REGISTRY_ERROR;
        }
        if (a.status != DD_CONTROL_OK) {
            return a.status;
        }
    }
    return DD_CONTROL_OK;
}

size_t dd_control_batch_count(const dd_control_batch_t *batch)
{
    return batch != NULL ? batch->count : 0;
}

dd_control_status_t dd_control_batch_encode(const dd_control_batch_t *batch, char **payload,
                                            size_t *len)
{
    if (batch == NULL || batch->root == NULL || payload == NULL || len == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    return encode_tree(batch->root, payload, len);
}

void dd_control_batch_free(dd_control_batch_t *batch)
{
    if (batch == NULL) {
        return;
    }
    cJSON_Delete(batch->root);
    memset(batch, 0, sizeof(*batch));
}

dd_control_status_t dd_control_encode_entity(dd_registry_t *reg, dd_registry_kind_t kind,
                                             const char *name, const char *id, char **payload,
                                             size_t *len)
{
    cJSON *state = NULL;
    cJSON *e;
    dd_control_status_t st;

    if (reg == NULL || !kind_ok(kind) || name == NULL || payload == NULL || len == NULL ||
        !dd_name_valid(dd_control_name_kind(kind), name) || !id_ok(id)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    if (dd_registry_entity_json(reg, kind, name, &state) != DD_REGISTRY_OK || state == NULL) {
        cJSON_Delete(state);
        return DD_CONTROL_REGISTRY_ERROR;
    }
    e = entity_object(kind, name, state);
    if (e == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    if (id != NULL && cJSON_AddStringToObject(e, "id", id) == NULL) {
        cJSON_Delete(e);
        return DD_CONTROL_NO_MEMORY;
    }
    st = encode_tree(e, payload, len);
    cJSON_Delete(e);
    return st;
}

dd_control_status_t dd_control_encode_clock(const char *clock_spec, const char *id, char **payload,
                                            size_t *len)
{
    cJSON *o;
    dd_control_status_t st;

    if (clock_spec == NULL || clock_spec[0] == '\0' || payload == NULL || len == NULL ||
        !id_ok(id)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "clock", clock_spec) == NULL ||
        (id != NULL && cJSON_AddStringToObject(o, "id", id) == NULL)) {
        cJSON_Delete(o);
        return DD_CONTROL_NO_MEMORY;
    }
    st = encode_tree(o, payload, len);
    cJSON_Delete(o);
    return st;
}

dd_control_status_t dd_control_encode_flush(const char *id, char **payload, size_t *len)
{
    cJSON *o;
    dd_control_status_t st;

    if (id == NULL || !id_ok(id) || payload == NULL || len == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "id", id) == NULL) {
        cJSON_Delete(o);
        return DD_CONTROL_NO_MEMORY;
    }
    st = encode_tree(o, payload, len);
    cJSON_Delete(o);
    return st;
}

dd_control_status_t dd_control_encode_kick(const char *thing, const char *id, char **payload,
                                           size_t *len)
{
    cJSON *o;
    dd_control_status_t st;

    if (thing == NULL || !dd_name_valid(DD_NAME_THING, thing) || (id != NULL && !id_ok(id)) ||
        payload == NULL || len == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "thing", thing) == NULL ||
        (id != NULL && cJSON_AddStringToObject(o, "id", id) == NULL)) {
        cJSON_Delete(o);
        return DD_CONTROL_NO_MEMORY;
    }
    st = encode_tree(o, payload, len);
    cJSON_Delete(o);
    return st;
}

/* ---- decoding --------------------------------------------------------------- */

static dd_control_status_t decode_entity(const cJSON *item, size_t index, dd_control_entity_t *out,
                                         char *err, size_t err_len)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(item, "state");
    dd_registry_kind_t k;

    if (!cJSON_IsObject(item)) {
        set_err(err, err_len, "entities[%zu] is not an object", index);
        return DD_CONTROL_MALFORMED;
    }
    if (!cJSON_IsString(kind) || !dd_registry_kind_parse(kind->valuestring, &k)) {
        set_err(err, err_len,
                "entities[%zu].kind must be \"thing\", \"cert\", \"group\" or "
                "\"policy\"",
                index);
        return DD_CONTROL_MALFORMED;
    }
    if (!cJSON_IsString(name) || !dd_name_valid(dd_control_name_kind(k), name->valuestring)) {
        set_err(err, err_len, "entities[%zu].name is not a valid %s name", index,
                dd_name_noun(dd_control_name_kind(k)));
        return DD_CONTROL_MALFORMED;
    }
    if (!cJSON_IsObject(state) ||
        !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(state, "exists"))) {
        set_err(err, err_len, "entities[%zu].state must be an object with a boolean \"exists\"",
                index);
        return DD_CONTROL_MALFORMED;
    }
    out->kind = k;
    out->name = name->valuestring;
    out->state = state;
    return DD_CONTROL_OK;
}

static dd_control_status_t decode_id(const cJSON *root, dd_control_message_t *msg, char *err,
                                     size_t err_len)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");

    if (id == NULL) {
        return DD_CONTROL_OK;
    }
    if (!cJSON_IsString(id) || !id_ok(id->valuestring)) {
        set_err(err, err_len, "\"id\" must be a string of 1 to %d bytes", DD_CONTROL_ID_MAX);
        return DD_CONTROL_MALFORMED;
    }
    msg->id = id->valuestring;
    return DD_CONTROL_OK;
}

static dd_control_status_t decode_registry(const cJSON *root, dd_control_message_t *msg, char *err,
                                           size_t err_len)
{
    const cJSON *entities = cJSON_GetObjectItemCaseSensitive(root, "entities");
    const cJSON *full = cJSON_GetObjectItemCaseSensitive(root, "full");
    const cJSON *item;
    size_t n;
    size_t i = 0;
    dd_control_status_t st;

    if (full != NULL && !cJSON_IsBool(full)) {
        set_err(err, err_len, "\"full\" must be a boolean");
        return DD_CONTROL_MALFORMED;
    }
    msg->full = cJSON_IsTrue(full);
    if (entities == NULL) {
        /* The bare single-entity form. */
        msg->entities = calloc(1, sizeof(*msg->entities));
        if (msg->entities == NULL) {
            return DD_CONTROL_NO_MEMORY;
        }
        st = decode_entity(root, 0, &msg->entities[0], err, err_len);
        if (st == DD_CONTROL_OK) {
            msg->count = 1;
        }
        return st;
    }
    if (!cJSON_IsArray(entities)) {
        set_err(err, err_len, "\"entities\" must be an array");
        return DD_CONTROL_MALFORMED;
    }
    n = (size_t)cJSON_GetArraySize(entities);
    msg->entities = calloc(n > 0 ? n : 1, sizeof(*msg->entities));
    if (msg->entities == NULL) {
        return DD_CONTROL_NO_MEMORY;
    }
    cJSON_ArrayForEach (item, entities) {
        st = decode_entity(item, i, &msg->entities[i], err, err_len);
        if (st != DD_CONTROL_OK) {
            return st;
        }
        i++;
    }
    msg->count = i;
    return DD_CONTROL_OK;
}

dd_control_status_t dd_control_decode(const char *topic, const void *payload, size_t len,
                                      dd_control_message_t *msg, char *err, size_t err_len)
{
    dd_control_status_t st;
    const cJSON *clock;
    dd_json_error_t jerr;
    dd_json_status_t js;

    set_err(err, err_len, "%s", "");
    if (msg != NULL) {
        memset(msg, 0, sizeof(*msg));
    }
    if (topic == NULL || msg == NULL || (payload == NULL && len > 0)) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    if (strcmp(topic, DD_CONTROL_TOPIC_REGISTRY) == 0) {
        msg->type = DD_CONTROL_REGISTRY;
    } else if (strcmp(topic, DD_CONTROL_TOPIC_CLOCK) == 0) {
        msg->type = DD_CONTROL_CLOCK;
    } else if (strcmp(topic, DD_CONTROL_TOPIC_FLUSH) == 0) {
        msg->type = DD_CONTROL_FLUSH;
    } else if (strcmp(topic, DD_CONTROL_TOPIC_KICK) == 0) {
        msg->type = DD_CONTROL_KICK;
    } else {
        set_err(err, err_len, "unknown control topic %.100s", topic);
        return DD_CONTROL_UNKNOWN_TOPIC;
    }
    js = dd_json_parse(payload, len, 0, &msg->root, &jerr);
    if (js != DD_JSON_OK) {
        set_err(err, err_len, "payload is not valid JSON: %s", jerr.message);
        dd_control_message_free(msg);
        return js == DD_JSON_NO_MEMORY ? DD_CONTROL_NO_MEMORY : DD_CONTROL_MALFORMED;
    }
    if (!cJSON_IsObject(msg->root)) {
        set_err(err, err_len, "payload is not a JSON object");
        dd_control_message_free(msg);
        return DD_CONTROL_MALFORMED;
    }
    st = decode_id(msg->root, msg, err, err_len);
    if (st == DD_CONTROL_OK && msg->type == DD_CONTROL_REGISTRY) {
        st = decode_registry(msg->root, msg, err, err_len);
    } else if (st == DD_CONTROL_OK && msg->type == DD_CONTROL_FLUSH) {
        if (msg->id == NULL) {
            set_err(err, err_len, "a flush request needs an \"id\" (its response is the point)");
            st = DD_CONTROL_MALFORMED;
        }
    } else if (st == DD_CONTROL_OK && msg->type == DD_CONTROL_KICK) {
        const cJSON *thing = cJSON_GetObjectItemCaseSensitive(msg->root, "thing");
        if (!cJSON_IsString(thing) || !dd_name_valid(DD_NAME_THING, thing->valuestring)) {
            set_err(err, err_len, "a kick request needs \"thing\", a thing name");
            st = DD_CONTROL_MALFORMED;
        } else {
            msg->thing = thing->valuestring;
        }
    } else if (st == DD_CONTROL_OK) {
        clock = cJSON_GetObjectItemCaseSensitive(msg->root, "clock");
        if (!cJSON_IsString(clock) || clock->valuestring[0] == '\0') {
            set_err(err, err_len, "\"clock\" must be a clock spec string");
            st = DD_CONTROL_MALFORMED;
        } else {
            msg->clock_spec = clock->valuestring;
        }
    }
    if (st != DD_CONTROL_OK) {
        dd_control_message_free(msg);
    }
    return st;
}

void dd_control_message_free(dd_control_message_t *msg)
{
    if (msg == NULL) {
        return;
    }
    free(msg->entities);
    cJSON_Delete(msg->root);
    memset(msg, 0, sizeof(*msg));
}

/* ---- responses --------------------------------------------------------------- */

dd_control_status_t dd_control_encode_response(const char *id, bool ok, const char *error,
                                               char **payload, size_t *len)
{
    cJSON *o;
    dd_control_status_t st;

    if (id == NULL || !id_ok(id) || payload == NULL || len == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "id", id) == NULL ||
        cJSON_AddBoolToObject(o, "ok", ok) == NULL ||
        (!ok && cJSON_AddStringToObject(o, "error", error != NULL ? error : "refused") == NULL)) {
        cJSON_Delete(o);
        return DD_CONTROL_NO_MEMORY;
    }
    st = encode_tree(o, payload, len);
    cJSON_Delete(o);
    return st;
}

dd_control_status_t dd_control_decode_response(const void *payload, size_t len,
                                               char id[DD_CONTROL_ID_MAX + 1], bool *ok,
                                               char *error, size_t error_len)
{
    cJSON *root;
    const cJSON *jid;
    const cJSON *jok;
    const cJSON *jerr;
    dd_control_status_t st = DD_CONTROL_MALFORMED;

    if (payload == NULL || id == NULL || ok == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    set_err(error, error_len, "%s", "");
    root = NULL;
    if (dd_json_parse(payload, len, 0, &root, NULL) != DD_JSON_OK) {
        set_err(error, error_len, "%s", "the response is not valid JSON");
        return DD_CONTROL_MALFORMED;
    }
    jid = cJSON_GetObjectItemCaseSensitive(root, "id");
    jok = cJSON_GetObjectItemCaseSensitive(root, "ok");
    jerr = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(jid) && id_ok(jid->valuestring) && cJSON_IsBool(jok)) {
        (void)snprintf(id, DD_CONTROL_ID_MAX + 1, "%s", jid->valuestring);
        *ok = cJSON_IsTrue(jok);
        if (cJSON_IsString(jerr)) {
            set_err(error, error_len, "%s", jerr->valuestring);
        }
        st = DD_CONTROL_OK;
    }
    cJSON_Delete(root);
    return st;
}

const char *dd_control_strerror(dd_control_status_t status)
{
    switch (status) {
    case DD_CONTROL_OK: return "success";
    case DD_CONTROL_BAD_PARAMETER: return "bad parameter";
    case DD_CONTROL_MALFORMED: return "malformed control message";
    case DD_CONTROL_UNKNOWN_TOPIC: return "unknown control topic";
    case DD_CONTROL_NO_MEMORY: return "out of memory";
    case DD_CONTROL_REGISTRY_ERROR: return "registry error";
    }
    return "unknown status";
}

/* ---- fleet provisioning's renamed topics -------------------------------------------- */

dd_control_status_t dd_control_prov_wrap(const char *prefix, const char *client_id,
                                         const char *topic, char *buf, size_t len)
{
    size_t n;
    size_t i;
    size_t at;

    if (prefix == NULL || client_id == NULL || topic == NULL || buf == NULL) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    n = strlen(client_id);
    if (n == 0 || n > DD_CONTROL_PROV_CLIENT_ID_MAX ||
        strlen(prefix) + 2 * n + 1 + strlen(topic) + 1 > len) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    /* Hex: a client id may hold '/', '+' or '#', which would break the topic's levels. */
    at = (size_t)snprintf(buf, len, "%s", prefix);
    for (i = 0; i < n; i++) {
        at += (size_t)snprintf(buf + at, len - at, "%02x", (unsigned char)client_id[i]);
    }
    (void)snprintf(buf + at, len - at, "/%s", topic);
    return DD_CONTROL_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

dd_control_status_t dd_control_prov_unwrap(const char *prefix, const char *wrapped, char *client_id,
                                           size_t client_id_len, const char **topic)
{
    const char *p;
    const char *slash;
    size_t n;
    size_t i;

    if (prefix == NULL || wrapped == NULL || client_id == NULL || topic == NULL ||
        client_id_len < DD_CONTROL_PROV_CLIENT_ID_MAX + 1) {
        return DD_CONTROL_BAD_PARAMETER;
    }
    if (strncmp(wrapped, prefix, strlen(prefix)) != 0) {
        return DD_CONTROL_UNKNOWN_TOPIC;
    }
    p = wrapped + strlen(prefix);
    slash = strchr(p, '/');
    n = slash != NULL ? (size_t)(slash - p) : 0;
    if (n == 0 || n % 2 != 0 || n / 2 > DD_CONTROL_PROV_CLIENT_ID_MAX || slash[1] == '\0') {
        return DD_CONTROL_UNKNOWN_TOPIC;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hex_value(p[2 * i]);
        int lo = hex_value(p[2 * i + 1]);

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return DD_CONTROL_UNKNOWN_TOPIC;
        }
        client_id[i] = (char)(hi * 16 + lo);
    }
    client_id[n / 2] = '\0';
    *topic = slash + 1;
    return DD_CONTROL_OK;
}
