#include "dd_faults.h"

#include "dd_json.h"
#include "dd_names.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[DD_FAULTS_KIND_COUNT] = {"throttle",       "delay-reply",
                                                             "no-reply",       "disconnect",
                                                             "drop-delivery",  "delay-delivery",
                                                             "fail-mitigation"};

/* The model's MitigationActionType enum: a fault naming another type could never fire. */
static const char *const ACTION_TYPES[] = {
    "UPDATE_DEVICE_CERTIFICATE",      "UPDATE_CA_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP",
    "REPLACE_DEFAULT_POLICY_VERSION", "ENABLE_IOT_LOGGING",    "PUBLISH_FINDING_TO_SNS"};

/* Members of a definition and the kinds they belong to (bit per kind; 0 = every kind). */
#define BIT(k) (1u << (unsigned)(k))
#define DELAY_KINDS (BIT(DD_FAULTS_DELAY_REPLY) | BIT(DD_FAULTS_DELAY_DELIVERY))
#define MITIGATION_KINDS BIT(DD_FAULTS_FAIL_MITIGATION)

static const struct member {
    const char *name;
    unsigned kinds;
} MEMBERS[] = {
    {"kind", 0},
    {"thing", 0},
    {"count", 0},
    {"expiresInSeconds", 0},
    {"delayMs", DELAY_KINDS},
    {"actionName", MITIGATION_KINDS},
    {"actionType", MITIGATION_KINDS},
    {"errorCode", MITIGATION_KINDS},
    {"message", MITIGATION_KINDS},
};

#define COUNT_MAX 1000000
#define EXPIRES_MAX_S 31536000.0 /* a year */

static void set_msg(char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msg_len, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || msg_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
}

void dd_faults_init(dd_faults_t *t)
{
    if (t != NULL) {
        memset(t, 0, sizeof(*t));
    }
}

bool dd_faults_kind_parse(const char *name, dd_faults_kind_t *out)
{
    size_t i;

    if (name == NULL) {
        return false;
    }
    for (i = 0; i < DD_FAULTS_KIND_COUNT; i++) {
        if (strcmp(name, KIND_NAMES[i]) == 0) {
            if (out != NULL) {
                *out = (dd_faults_kind_t)i;
            }
            return true;
        }
    }
    return false;
}

const char *dd_faults_kind_name(dd_faults_kind_t kind)
{
    return (unsigned)kind < DD_FAULTS_KIND_COUNT ? KIND_NAMES[kind] : "?";
}

/* Printable ASCII of 1..max-1 bytes, without quotes or backslashes (they reach JSON and logs). */
static bool text_ok(const char *s, size_t max, bool code)
{
    size_t n = strlen(s);
    size_t i;

    if (n == 0 || n >= max) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (code ? !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-')
                 : (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')) {
            return false;
        }
    }
    return true;
}

/* Refuses unknown members and members of another kind. */
static dd_faults_status_t check_members(const cJSON *req, dd_faults_kind_t kind, char *msg,
                                        size_t msg_len)
{
    const cJSON *item;

    cJSON_ArrayForEach (item, req) {
        size_t i;
        for (i = 0; i < sizeof(MEMBERS) / sizeof(MEMBERS[0]); i++) {
            if (strcmp(item->string, MEMBERS[i].name) == 0) {
                break;
            }
        }
        if (i == sizeof(MEMBERS) / sizeof(MEMBERS[0])) {
            set_msg(msg, msg_len,
                    "Unknown member \"%.60s\" (kind, thing, count, expiresInSeconds, delayMs, "
                    "actionName, actionType, errorCode, message)",
                    item->string);
            return DD_FAULTS_INVALID;
        }
        if (MEMBERS[i].kinds != 0 && (MEMBERS[i].kinds & BIT(kind)) == 0) {
            set_msg(msg, msg_len, "\"%s\" does not apply to a %s fault (only to %s)",
                    MEMBERS[i].name, KIND_NAMES[kind],
                    MEMBERS[i].kinds == DELAY_KINDS ? "delay-reply and delay-delivery"
                                                    : "fail-mitigation");
            return DD_FAULTS_INVALID;
        }
    }
    return DD_FAULTS_OK;
}

/* An integer member in [lo, hi]; absent leaves *out. */
static bool int_member(const cJSON *req, const char *name, double lo, double hi, int64_t *out,
                       char *msg, size_t msg_len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);

    if (v == NULL) {
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        set_msg(msg, msg_len, "\"%s\" must be an integer from %.0f to %.0f", name, lo, hi);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
}

/* A string member checked by text_ok(); absent leaves @p out. */
static bool text_member(const cJSON *req, const char *name, bool code, char *out, size_t out_len,
                        char *msg, size_t msg_len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);

    if (v == NULL) {
        return true;
    }
    if (!cJSON_IsString(v) || !text_ok(v->valuestring, out_len, code)) {
        set_msg(msg, msg_len,
                code ? "\"%s\" must be 1 to %zu characters of [A-Za-z0-9._:-]"
                     : "\"%s\" must be 1 to %zu printable ASCII characters without \" or \\",
                name, out_len - 1);
        return false;
    }
    (void)snprintf(out, out_len, "%s", v->valuestring);
    return true;
}

static dd_faults_status_t parse_tree(const cJSON *req, int64_t now_ms, dd_faults_fault_t *f,
                                     char *msg, size_t msg_len)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "kind");
    const cJSON *thing = cJSON_GetObjectItemCaseSensitive(req, "thing");
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(req, "expiresInSeconds");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(req, "actionType");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(req, "actionName");
    dd_faults_status_t st;
    size_t i;

    if (!cJSON_IsString(kind) || !dd_faults_kind_parse(kind->valuestring, &f->kind)) {
        set_msg(msg, msg_len, "\"kind\" must be one of: %s", DD_FAULTS_KIND_NAMES);
        return DD_FAULTS_INVALID;
    }
    st = check_members(req, f->kind, msg, msg_len);
    if (st != DD_FAULTS_OK) {
        return st;
    }
    (void)snprintf(f->thing, sizeof(f->thing), "%s", DD_FAULTS_EVERY_THING);
    if (thing != NULL) {
        if (!cJSON_IsString(thing) || (strcmp(thing->valuestring, DD_FAULTS_EVERY_THING) != 0 &&
                                       !dd_name_valid(DD_NAME_THING, thing->valuestring))) {
            set_msg(msg, msg_len,
                    "\"thing\" must be a thing name (1 to 128 [a-zA-Z0-9:_-]) or \"*\" for "
                    "every thing");
            return DD_FAULTS_INVALID;
        }
        (void)snprintf(f->thing, sizeof(f->thing), "%s", thing->valuestring);
    }
    if (!int_member(req, "count", 1, COUNT_MAX, &f->count, msg, msg_len)) {
        return DD_FAULTS_INVALID;
    }
    if (expires != NULL) {
        if (!cJSON_IsNumber(expires) || !(expires->valuedouble > 0) ||
            expires->valuedouble > EXPIRES_MAX_S) {
            set_msg(msg, msg_len,
                    "\"expiresInSeconds\" must be a number of seconds of pipeline time, > 0 and "
                    "at most %.0f",
                    EXPIRES_MAX_S);
            return DD_FAULTS_INVALID;
        }
        f->expires_ms = now_ms + (int64_t)(expires->valuedouble * 1000.0 + 0.5);
    }
    if ((DELAY_KINDS & BIT(f->kind)) != 0) {
        if (cJSON_GetObjectItemCaseSensitive(req, "delayMs") == NULL) {
            set_msg(msg, msg_len, "A %s fault needs \"delayMs\" (1 to %d)", KIND_NAMES[f->kind],
                    DD_FAULTS_DELAY_MAX_MS);
            return DD_FAULTS_INVALID;
        }
        if (!int_member(req, "delayMs", 1, DD_FAULTS_DELAY_MAX_MS, &f->delay_ms, msg, msg_len)) {
            return DD_FAULTS_INVALID;
        }
    }
    if (f->kind != DD_FAULTS_FAIL_MITIGATION) {
        return DD_FAULTS_OK;
    }
    if (action != NULL && (!cJSON_IsString(action) ||
                           !dd_name_valid(DD_NAME_MITIGATION_ACTION, action->valuestring))) {
        set_msg(msg, msg_len,
                "\"actionName\" must be a mitigation action name (1 to 128 "
                "[a-zA-Z0-9_-])");
        return DD_FAULTS_INVALID;
    }
    if (action != NULL) {
        (void)snprintf(f->action_name, sizeof(f->action_name), "%s", action->valuestring);
    }
    if (type != NULL) {
        for (i = 0; cJSON_IsString(type) && i < sizeof(ACTION_TYPES) / sizeof(ACTION_TYPES[0]);
             i++) {
            if (strcmp(type->valuestring, ACTION_TYPES[i]) == 0) {
                break;
            }
        }
        if (!cJSON_IsString(type) || i == sizeof(ACTION_TYPES) / sizeof(ACTION_TYPES[0])) {
            set_msg(msg, msg_len,
                    "\"actionType\" must be one of UPDATE_DEVICE_CERTIFICATE, "
                    "UPDATE_CA_CERTIFICATE, ADD_THINGS_TO_THING_GROUP, "
                    "REPLACE_DEFAULT_POLICY_VERSION, ENABLE_IOT_LOGGING, PUBLISH_FINDING_TO_SNS");
            return DD_FAULTS_INVALID;
        }
        (void)snprintf(f->action_type, sizeof(f->action_type), "%s", type->valuestring);
    }
    (void)snprintf(f->error_code, sizeof(f->error_code), "%s", DD_FAULTS_DEFAULT_ERROR_CODE);
    (void)snprintf(f->message, sizeof(f->message), "%s",
                   "Failed by a fault injected with ddlocal fault add");
    if (!text_member(req, "errorCode", true, f->error_code, sizeof(f->error_code), msg, msg_len) ||
        !text_member(req, "message", false, f->message, sizeof(f->message), msg, msg_len)) {
        return DD_FAULTS_INVALID;
    }
    return DD_FAULTS_OK;
}

dd_faults_status_t dd_faults_parse(const char *body, size_t len, int64_t now_ms,
                                   dd_faults_fault_t *out, char *msg, size_t msg_len)
{
    cJSON *req = NULL;
    dd_json_status_t js;
    dd_faults_status_t st;

    set_msg(msg, msg_len, "%s", "");
    if (out == NULL || (body == NULL && len > 0)) {
        return DD_FAULTS_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    out->created_ms = now_ms;
    js = body != NULL ? dd_json_parse(body, len, 0, &req, NULL) : DD_JSON_MALFORMED;
    if (js == DD_JSON_NO_MEMORY) {
        return DD_FAULTS_NO_MEMORY;
    }
    if (js != DD_JSON_OK || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        set_msg(msg, msg_len,
                "Body must be a JSON object {\"kind\": K, \"thing\": T, ...}; kinds: %s",
                DD_FAULTS_KIND_NAMES);
        return DD_FAULTS_INVALID;
    }
    st = parse_tree(req, now_ms, out, msg, msg_len);
    cJSON_Delete(req);
    return st;
}

dd_faults_status_t dd_faults_add(dd_faults_t *t, const dd_faults_fault_t *f, uint64_t *id)
{
    dd_faults_fault_t *slot;

    if (t == NULL || f == NULL || (unsigned)f->kind >= DD_FAULTS_KIND_COUNT) {
        return DD_FAULTS_BAD_PARAMETER;
    }
    if (t->count == DD_FAULTS_MAX) {
        return DD_FAULTS_FULL;
    }
    slot = &t->items[t->count++];
    *slot = *f;
    slot->id = ++t->last_id;
    slot->fired = 0;
    if (id != NULL) {
        *id = slot->id;
    }
    return DD_FAULTS_OK;
}

/* Removes item @p i, keeping the order (the oldest fault fires first). */
static void remove_at(dd_faults_t *t, size_t i)
{
    memmove(&t->items[i], &t->items[i + 1], (t->count - i - 1) * sizeof(t->items[0]));
    t->count--;
}

static void purge_expired(dd_faults_t *t, int64_t now_ms)
{
    size_t i = 0;

    while (i < t->count) {
        if (t->items[i].expires_ms != 0 && now_ms >= t->items[i].expires_ms) {
            remove_at(t, i);
        } else {
            i++;
        }
    }
}

static bool applies(const dd_faults_fault_t *f, dd_faults_kind_t kind, const char *thing,
                    const char *action_name, const char *action_type)
{
    if (f->kind != kind) {
        return false;
    }
    if (strcmp(f->thing, DD_FAULTS_EVERY_THING) != 0 &&
        (thing == NULL || strcmp(f->thing, thing) != 0)) {
        return false;
    }
    if (kind != DD_FAULTS_FAIL_MITIGATION) {
        return true;
    }
    return (f->action_name[0] == '\0' ||
            (action_name != NULL && strcmp(f->action_name, action_name) == 0)) &&
           (f->action_type[0] == '\0' ||
            (action_type != NULL && strcmp(f->action_type, action_type) == 0));
}

dd_faults_status_t dd_faults_match(dd_faults_t *t, dd_faults_kind_t kind, const char *thing,
                                   const char *action_name, const char *action_type, int64_t now_ms,
                                   dd_faults_fault_t *fired)
{
    size_t i;

    if (t == NULL || (unsigned)kind >= DD_FAULTS_KIND_COUNT) {
        return DD_FAULTS_BAD_PARAMETER;
    }
    purge_expired(t, now_ms);
    for (i = 0; i < t->count; i++) {
        dd_faults_fault_t *f = &t->items[i];
        if (!applies(f, kind, thing, action_name, action_type)) {
            continue;
        }
        f->fired++;
        if (fired != NULL) {
            *fired = *f;
        }
        if (f->count > 0 && f->fired >= f->count) {
            remove_at(t, i);
        }
        return DD_FAULTS_OK;
    }
    return DD_FAULTS_NO_MATCH;
}

dd_faults_status_t dd_faults_clear(dd_faults_t *t, uint64_t id, const char *thing, const char *kind,
                                   size_t *cleared)
{
    dd_faults_kind_t k = DD_FAULTS_THROTTLE;
    size_t n = 0;
    size_t i = 0;

    if (cleared != NULL) {
        *cleared = 0;
    }
    if (t == NULL || (kind != NULL && !dd_faults_kind_parse(kind, &k))) {
        return DD_FAULTS_BAD_PARAMETER;
    }
    while (i < t->count) {
        const dd_faults_fault_t *f = &t->items[i];
        bool hit = id != 0 ? f->id == id
                           : (thing == NULL || strcmp(f->thing, thing) == 0) &&
                                 (kind == NULL || f->kind == k);
        if (hit) {
            remove_at(t, i);
            n++;
        } else {
            i++;
        }
    }
    if (cleared != NULL) {
        *cleared = n;
    }
    return id != 0 && n == 0 ? DD_FAULTS_NOT_FOUND : DD_FAULTS_OK;
}

cJSON *dd_faults_json(const dd_faults_fault_t *f)
{
    cJSON *o;

    if (f == NULL || (unsigned)f->kind >= DD_FAULTS_KIND_COUNT) {
        return NULL;
    }
    o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    (void)cJSON_AddNumberToObject(o, "id", (double)f->id);
    (void)cJSON_AddStringToObject(o, "kind", KIND_NAMES[f->kind]);
    (void)cJSON_AddStringToObject(o, "thing", f->thing);
    (void)cJSON_AddNumberToObject(o, "count", (double)f->count);
    (void)cJSON_AddNumberToObject(o, "fired", (double)f->fired);
    (void)cJSON_AddNumberToObject(o, "createdMs", (double)f->created_ms);
    if (f->expires_ms != 0) {
        (void)cJSON_AddNumberToObject(o, "expiresMs", (double)f->expires_ms);
    }
    if ((DELAY_KINDS & BIT(f->kind)) != 0) {
        (void)cJSON_AddNumberToObject(o, "delayMs", (double)f->delay_ms);
    }
    if (f->kind == DD_FAULTS_FAIL_MITIGATION) {
        if (f->action_name[0] != '\0') {
            (void)cJSON_AddStringToObject(o, "actionName", f->action_name);
        }
        if (f->action_type[0] != '\0') {
            (void)cJSON_AddStringToObject(o, "actionType", f->action_type);
        }
        (void)cJSON_AddStringToObject(o, "errorCode", f->error_code);
        (void)cJSON_AddStringToObject(o, "message", f->message);
    }
    return o;
}

dd_faults_status_t dd_faults_list(dd_faults_t *t, int64_t now_ms, cJSON **array)
{
    cJSON *a;
    size_t i;

    if (t == NULL || array == NULL) {
        return DD_FAULTS_BAD_PARAMETER;
    }
    purge_expired(t, now_ms);
    a = cJSON_CreateArray();
    for (i = 0; a != NULL && i < t->count; i++) {
        cJSON *o = dd_faults_json(&t->items[i]);
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    *array = a;
    return a != NULL ? DD_FAULTS_OK : DD_FAULTS_NO_MEMORY;
}

const char *dd_faults_strerror(dd_faults_status_t status)
{
    switch (status) {
    case DD_FAULTS_OK: return "ok";
    case DD_FAULTS_BAD_PARAMETER: return "bad parameter";
    case DD_FAULTS_INVALID: return "invalid fault definition";
    case DD_FAULTS_FULL: return "too many faults in force";
    case DD_FAULTS_NOT_FOUND: return "no such fault";
    case DD_FAULTS_NO_MATCH: return "no fault fires";
    case DD_FAULTS_NO_MEMORY: return "out of memory";
    }
    return "unknown faults status";
}
