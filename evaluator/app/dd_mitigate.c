#include "dd_mitigate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_log.h"
#include "dd_logopts.h"
#include "dd_map.h"
#include "dd_names.h"
#include "dd_profile.h"
#include "dd_seed.h"

struct dd_mitigate {
    dd_mitigate_config_t cfg;
};

/* ---- helpers ------------------------------------------------------------------ */

static void set_msg(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(char *msg, const char *fmt, ...)
{
    va_list ap;

    if (msg != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(msg, DD_MITIGATE_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
}

static int64_t now_ms(const dd_mitigate_t *m)
{
    return m->cfg.now_ms(m->cfg.clock_ctx);
}

static dd_mitigate_status_t from_store(dd_store_status_t st)
{
    switch (st) {
    case DD_STORE_OK: return DD_MITIGATE_OK;
    case DD_STORE_NOT_FOUND: return DD_MITIGATE_NOT_FOUND;
    case DD_STORE_EXISTS: return DD_MITIGATE_EXISTS;
    case DD_STORE_NO_MEMORY: return DD_MITIGATE_NO_MEMORY;
    case DD_STORE_BAD_PARAMETER: return DD_MITIGATE_BAD_PARAMETER;
    default: return DD_MITIGATE_STORE_ERROR;
    }
}

static dd_mitigate_status_t new_uuid(char out[DD_MITIGATE_ID_LEN])
{
    char id[DD_SEED_UUID_LEN];

    if (dd_seed_uuid("mitigation-action-id", id) != DD_SEED_OK) {
        return DD_MITIGATE_STORE_ERROR;
    }
    (void)snprintf(out, DD_MITIGATE_ID_LEN, "%s", id);
    return DD_MITIGATE_OK;
}

/* ---- lifecycle ------------------------------------------------------------------ */

dd_mitigate_status_t dd_mitigate_open(const dd_mitigate_config_t *config, dd_mitigate_t **out)
{
    dd_mitigate_t *m;

    if (out != NULL) {
        *out = NULL;
    }
    if (config == NULL || out == NULL || config->db == NULL || config->store == NULL ||
        config->registry == NULL || config->now_ms == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return DD_MITIGATE_NO_MEMORY;
    }
    m->cfg = *config;
    *out = m;
    return DD_MITIGATE_OK;
}

void dd_mitigate_close(dd_mitigate_t *m)
{
    free(m);
}

/* ---- params --------------------------------------------------------------------- */

static bool string_member(const cJSON *obj, const char *name, const char *path, size_t min,
                          size_t max, const char **out, char *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    size_t len;

    if (!cJSON_IsString(v)) {
        set_msg(msg, "%s.%s is required and must be a string", path, name);
        return false;
    }
    len = strlen(v->valuestring);
    if (len < min || len > max) {
        set_msg(msg, "%s.%s must be %zu to %zu characters long", path, name, min, max);
        return false;
    }
    *out = v->valuestring;
    return true;
}

static bool enum_member(const cJSON *obj, const char *name, const char *path,
                        const char *const *values, char *msg)
{
    const char *v;
    size_t i;

    if (!string_member(obj, name, path, 1, 128, &v, msg)) {
        return false;
    }
    for (i = 0; values[i] != NULL; i++) {
        if (strcmp(values[i], v) == 0) {
            return true;
        }
    }
    set_msg(msg, "%s.%s '%.64s' is not one of the allowed values", path, name, v);
    return false;
}

static bool group_names_ok(const cJSON *p, char *msg)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(p, "thingGroupNames");
    const cJSON *override = cJSON_GetObjectItemCaseSensitive(p, "overrideDynamicGroups");
    const cJSON *n;
    int count;

    if (!cJSON_IsArray(names)) {
        set_msg(msg, "addThingsToThingGroupParams.thingGroupNames is required and must be a list");
        return false;
    }
    count = cJSON_GetArraySize(names);
    if (count < 1 || count > 10) {
        set_msg(msg, "addThingsToThingGroupParams.thingGroupNames must have 1 to 10 names");
        return false;
    }
    cJSON_ArrayForEach (n, names) {
        if (!cJSON_IsString(n) || !dd_name_valid(DD_NAME_THING_GROUP, n->valuestring)) {
            set_msg(msg,
                    "addThingsToThingGroupParams.thingGroupNames: '%.128s' is not a valid "
                    "thing group name (%s)",
                    cJSON_IsString(n) ? n->valuestring : "?", dd_name_pattern(DD_NAME_THING_GROUP));
            return false;
        }
    }
    if (override != NULL && !cJSON_IsBool(override) && !cJSON_IsNull(override)) {
        set_msg(msg, "addThingsToThingGroupParams.overrideDynamicGroups must be a boolean");
        return false;
    }
    return true;
}

dd_mitigate_status_t dd_mitigate_params_validate(const cJSON *params, const char **type, char *msg)
{
    static const char *const DEACTIVATE[] = {"DEACTIVATE", NULL};
    static const char *const BLANK[] = {"BLANK_POLICY", NULL};
    static const char *const LEVELS[] = {"DEBUG", "INFO", "ERROR", "WARN", "DISABLED", NULL};
    static const char *const MEMBERS[] = {
        "updateDeviceCertificateParams", "updateCACertificateParams",
        "addThingsToThingGroupParams",   "replaceDefaultPolicyVersionParams",
        "enableIoTLoggingParams",        "publishFindingToSnsParams",
    };
    static const char *const TYPES[] = {
        "UPDATE_DEVICE_CERTIFICATE",      "UPDATE_CA_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP",
        "REPLACE_DEFAULT_POLICY_VERSION", "ENABLE_IOT_LOGGING",    "PUBLISH_FINDING_TO_SNS",
    };
    const cJSON *found = NULL;
    int which = -1;
    int i;
    const char *s;

    if (params == NULL || type == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    if (!cJSON_IsObject(params)) {
        set_msg(msg, "actionParams must be an object");
        return DD_MITIGATE_INVALID;
    }
    for (i = 0; i < 6; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, MEMBERS[i]);
        if (p == NULL || cJSON_IsNull(p)) {
            continue;
        }
        if (found != NULL) {
            set_msg(msg, "actionParams must contain exactly one of its members, not %s and %s",
                    MEMBERS[which], MEMBERS[i]);
            return DD_MITIGATE_INVALID;
        }
        if (!cJSON_IsObject(p)) {
            set_msg(msg, "actionParams.%s must be an object", MEMBERS[i]);
            return DD_MITIGATE_INVALID;
        }
        found = p;
        which = i;
    }
    if (found == NULL) {
        set_msg(msg, "actionParams must contain one of updateDeviceCertificateParams, "
                     "updateCACertificateParams, addThingsToThingGroupParams, "
                     "replaceDefaultPolicyVersionParams, enableIoTLoggingParams, "
                     "publishFindingToSnsParams");
        return DD_MITIGATE_INVALID;
    }
    switch (which) {
    case 0:
    case 1:
        if (!enum_member(found, "action", MEMBERS[which], DEACTIVATE, msg)) {
            return DD_MITIGATE_INVALID;
        }
        break;
    case 2:
        if (!group_names_ok(found, msg)) {
            return DD_MITIGATE_INVALID;
        }
        break;
    case 3:
        if (!enum_member(found, "templateName", MEMBERS[which], BLANK, msg)) {
            return DD_MITIGATE_INVALID;
        }
        break;
    case 4:
        if (!string_member(found, "roleArnForLogging", MEMBERS[which], 20, 2048, &s, msg) ||
            !enum_member(found, "logLevel", MEMBERS[which], LEVELS, msg)) {
            return DD_MITIGATE_INVALID;
        }
        break;
    default:
        if (!string_member(found, "topicArn", MEMBERS[which], 1, 350, &s, msg)) {
            return DD_MITIGATE_INVALID;
        }
        break;
    }
    *type = TYPES[which];
    return DD_MITIGATE_OK;
}

/* Validates actionParams and prints them for the store (NULL params: nothing to do). */
static dd_mitigate_status_t params_text(const cJSON *params, const char **type, char **json,
                                        char *msg)
{
    dd_mitigate_status_t st;

    *type = NULL;
    *json = NULL;
    if (params == NULL) {
        return DD_MITIGATE_OK;
    }
    st = dd_mitigate_params_validate(params, type, msg);
    if (st != DD_MITIGATE_OK) {
        return st;
    }
    *json = cJSON_PrintUnformatted(params);
    return *json != NULL ? DD_MITIGATE_OK : DD_MITIGATE_NO_MEMORY;
}

/* ---- actions ------------------------------------------------------------------------ */

dd_mitigate_status_t dd_mitigate_action_create(dd_mitigate_t *m, const char *name,
                                               const char *role_arn, const cJSON *params,
                                               char id[DD_MITIGATE_ID_LEN], char *msg)
{
    dd_store_mitigation_action_t row;
    dd_store_status_t ss;
    dd_mitigate_status_t st;
    const char *type;
    char *json;

    if (m == NULL || name == NULL || role_arn == NULL || params == NULL || id == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    id[0] = '\0';
    st = params_text(params, &type, &json, msg);
    if (st != DD_MITIGATE_OK) {
        return st;
    }
    /* The existing action's id goes into AWS's ResourceAlreadyExistsException. */
    ss = dd_store_mitigation_action_get(m->cfg.db, name, &row);
    if (ss == DD_STORE_OK) {
        (void)snprintf(id, DD_MITIGATE_ID_LEN, "%s", row.id);
        dd_store_mitigation_action_clear(&row);
        free(json);
        return DD_MITIGATE_EXISTS;
    }
    if (ss != DD_STORE_NOT_FOUND) {
        free(json);
        return from_store(ss);
    }
    st = new_uuid(id);
    if (st != DD_MITIGATE_OK) {
        free(json);
        return st;
    }
    memset(&row, 0, sizeof(row));
    row.name = name;
    row.id = id;
    row.type = type;
    row.role_arn = role_arn;
    row.params_json = json;
    row.created_ms = now_ms(m);
    row.modified_ms = row.created_ms;
    ss = dd_store_mitigation_action_insert(m->cfg.db, &row);
    free(json);
    return from_store(ss);
}

dd_mitigate_status_t dd_mitigate_action_describe(dd_mitigate_t *m, const char *name,
                                                 dd_store_mitigation_action_t *out)
{
    if (m == NULL || name == NULL || out == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(dd_store_mitigation_action_get(m->cfg.db, name, out));
}

dd_mitigate_status_t dd_mitigate_action_update(dd_mitigate_t *m, const char *name,
                                               const char *role_arn, const cJSON *params,
                                               dd_store_mitigation_action_t *out, char *msg)
{
    dd_mitigate_status_t st;
    dd_store_status_t ss;
    const char *type;
    char *json;

    if (m == NULL || name == NULL || out == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    st = params_text(params, &type, &json, msg);
    if (st != DD_MITIGATE_OK) {
        return st;
    }
    ss = dd_store_mitigation_action_update(m->cfg.db, name, type, role_arn, json, now_ms(m));
    free(json);
    if (ss != DD_STORE_OK) {
        return from_store(ss);
    }
    return from_store(dd_store_mitigation_action_get(m->cfg.db, name, out));
}

dd_mitigate_status_t dd_mitigate_action_delete(dd_mitigate_t *m, const char *name)
{
    if (m == NULL || name == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(dd_store_mitigation_action_delete(m->cfg.db, name));
}

dd_mitigate_status_t dd_mitigate_action_list(dd_mitigate_t *m, const char *type, const char *after,
                                             int limit, dd_store_mitigation_action_t **rows,
                                             size_t *count, char *next)
{
    if (m == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(
        dd_store_mitigation_action_list(m->cfg.db, type, after, limit, rows, count, next));
}

/* ---- executors ------------------------------------------------------------------------ */

typedef dd_mitigate_status_t (*executor_fn)(dd_mitigate_t *m, const char *type, const cJSON *params,
                                            const dd_mitigate_target_t *target,
                                            dd_mitigate_outcome_t *out);

static dd_mitigate_status_t not_supported(const char *type, dd_mitigate_outcome_t *out)
{
    (void)snprintf(out->code, sizeof(out->code), "NotSupported");
    set_msg(out->message, "ddlocal does not know the mitigation action type %.64s", type);
    return DD_MITIGATE_NOT_SUPPORTED;
}

/* errorCode of a refused registry call, as the API would answer it. */
static const char *registry_code(dd_registry_status_t rs)
{
    switch (rs) {
    case DD_REGISTRY_NOT_FOUND: return "ResourceNotFoundException";
    case DD_REGISTRY_LIMIT_EXCEEDED: return "LimitExceededException";
    case DD_REGISTRY_INVALID: return "InvalidRequestException";
    case DD_REGISTRY_BAD_PARAMETER: return "InvalidRequestException";
    default: return "InternalFailureException";
    }
}

static dd_mitigate_status_t failed(dd_mitigate_outcome_t *out, const char *code, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static dd_mitigate_status_t failed(dd_mitigate_outcome_t *out, const char *code, const char *fmt,
                                   ...)
{
    va_list ap;

    (void)snprintf(out->code, sizeof(out->code), "%s", code);
    va_start(ap, fmt);
    (void)vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return DD_MITIGATE_EXECUTION_FAILED;
}

/* A string member of the finding's nonCompliantResource.resourceIdentifier, or NULL. */
static const char *finding_id_member(const cJSON *finding, const char *member)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(finding, "nonCompliantResource");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "resourceIdentifier");

    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, member));
}

/* Names collected from registry callbacks (a thing's certificates, a certificate's things). */
typedef struct name_list {
    char (*names)[DD_NAME_MAX + 1];
    size_t count;
    size_t cap;
    bool no_memory;
} name_list_t;

static int name_list_add(void *ctx, const char *name)
{
    name_list_t *l = ctx;
    size_t i;

    for (i = 0; i < l->count; i++) {
        if (strcmp(l->names[i], name) == 0) {
            return 0;
        }
    }
    if (l->count == l->cap) {
        size_t ncap = l->cap == 0 ? 4 : l->cap * 2;
        char(*n)[DD_NAME_MAX + 1] = realloc(l->names, ncap * sizeof(*n));
        if (n == NULL) {
            l->no_memory = true;
            return 1;
        }
        l->names = n;
        l->cap = ncap;
    }
    (void)snprintf(l->names[l->count++], DD_NAME_MAX + 1, "%s", name);
    return 0;
}

static void name_list_free(name_list_t *l)
{
    free(l->names);
    memset(l, 0, sizeof(*l));
}

/* A thing exists under @p name (a client id that names a thing). */
static int thing_seen(void *ctx, const dd_registry_thing_t *thing)
{
    (void)thing;
    *(bool *)ctx = true;
    return 0;
}

static void add_thing_named(dd_mitigate_t *m, const char *name, name_list_t *things)
{
    dd_registry_error_t err;
    bool exists = false;

    if (name != NULL &&
        dd_registry_thing_get(m->cfg.registry, name, thing_seen, &exists, &err) == DD_REGISTRY_OK &&
        exists) {
        (void)name_list_add(things, name);
    }
}

/*
 * The things an Audit finding is about: those attached to its device
 * certificate, and those named like its client ids (the finding's own and its
 * related resources', e.g. the clients that shared a certificate).
 */
static dd_registry_status_t finding_things(dd_mitigate_t *m, const cJSON *finding,
                                           name_list_t *things)
{
    const char *cert = finding_id_member(finding, "deviceCertificateId");
    const cJSON *related = cJSON_GetObjectItemCaseSensitive(finding, "relatedResources");
    const cJSON *r;
    dd_registry_page_t page = {NULL, 0};
    dd_registry_error_t err;
    dd_registry_status_t rs;
    char next[DD_NAME_MAX + 1];

    if (cert != NULL) {
        rs = dd_registry_principal_things(m->cfg.registry, cert, &page, name_list_add, things, next,
                                          sizeof(next), &err);
        if (rs != DD_REGISTRY_OK && rs != DD_REGISTRY_NOT_FOUND) {
            return rs;
        }
    }
    add_thing_named(m, finding_id_member(finding, "clientId"), things);
    cJSON_ArrayForEach (r, related) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "resourceIdentifier");
        add_thing_named(m, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "clientId")),
                        things);
    }
    return things->no_memory ? DD_REGISTRY_STORE_ERROR : DD_REGISTRY_OK;
}

/*
 * Adds the target's things to every group through the registry, so the broker
 * shim sees them at once. ddlocal's groups are all static: overrideDynamicGroups
 * has nothing to override and is accepted as given.
 */
static dd_mitigate_status_t exec_add_things_to_thing_group(dd_mitigate_t *m, const char *type,
                                                           const cJSON *params,
                                                           const dd_mitigate_target_t *target,
                                                           dd_mitigate_outcome_t *out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, "addThingsToThingGroupParams");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(p, "thingGroupNames");
    const cJSON *g;
    dd_registry_error_t err;
    dd_registry_status_t rs;
    name_list_t things;
    dd_mitigate_status_t st = DD_MITIGATE_OK;
    size_t i;

    (void)type;
    memset(&things, 0, sizeof(things));
    if (target->thing != NULL) {
        (void)name_list_add(&things, target->thing);
    } else if ((rs = finding_things(m, target->finding, &things)) != DD_REGISTRY_OK) {
        name_list_free(&things);
        return failed(out, registry_code(rs), "The finding's things could not be read");
    }
    if (things.no_memory) {
        name_list_free(&things);
        return failed(out, "InternalFailureException", "Out of memory");
    }
    if (things.count == 0) {
        name_list_free(&things);
        return failed(out, "ResourceNotFoundException",
                      "No thing is attached to the finding's certificate or named like its "
                      "client ids");
    }
    for (i = 0; i < things.count && st == DD_MITIGATE_OK; i++) {
        cJSON_ArrayForEach (g, names) {
            if (!cJSON_IsString(g)) {
                continue;
            }
            rs =
                dd_registry_group_add_thing(m->cfg.registry, g->valuestring, things.names[i], &err);
            if (rs != DD_REGISTRY_OK) {
                st = failed(out, registry_code(rs), "%s", err.message);
                break;
            }
            out->registry_changed = true;
        }
    }
    name_list_free(&things);
    return st;
}

/* The certificate's status, and whether it is ddlocal's own identity. */
typedef struct cert_seen {
    bool found;
    bool is_service;
    dd_cert_status_t status;
} cert_seen_t;

static int cert_seen_cb(void *ctx, const dd_registry_cert_t *cert)
{
    cert_seen_t *c = ctx;

    c->found = true;
    c->is_service = cert->is_service;
    c->status = cert->status;
    return 0;
}

/*
 * Sets one device certificate INACTIVE (UpdateCertificate). The shim revokes
 * the certificate's open connections when the change reaches it (they are
 * disconnected at its next tick) and refuses it at connect from then on.
 * A REVOKED certificate is already refused and stays REVOKED (AWS does not
 * move a certificate out of REVOKED); ddlocal's own service certificate is
 * never deactivated.
 */
static dd_mitigate_status_t deactivate_cert(dd_mitigate_t *m, const char *cert_id,
                                            dd_mitigate_outcome_t *out)
{
    dd_registry_error_t err;
    dd_registry_status_t rs;
    cert_seen_t seen;

    memset(&seen, 0, sizeof(seen));
    rs = dd_registry_cert_get(m->cfg.registry, cert_id, cert_seen_cb, &seen, &err);
    if (rs != DD_REGISTRY_OK || !seen.found) {
        return failed(out, rs == DD_REGISTRY_OK ? "ResourceNotFoundException" : registry_code(rs),
                      "%s", rs == DD_REGISTRY_OK ? "The certificate does not exist" : err.message);
    }
    if (seen.is_service) {
        return failed(out, "InvalidRequestException",
                      "Certificate %.64s is ddlocal's own service identity: not deactivated",
                      cert_id);
    }
    if (seen.status == DD_CERT_INACTIVE || seen.status == DD_CERT_REVOKED) {
        return DD_MITIGATE_OK;
    }
    rs = dd_registry_cert_set_status(m->cfg.registry, cert_id, DD_CERT_INACTIVE, &err);
    if (rs != DD_REGISTRY_OK) {
        return failed(out, registry_code(rs), "%s", err.message);
    }
    out->registry_changed = true;
    return DD_MITIGATE_OK;
}

/* Audit: the finding's deviceCertificateId; Detect: every certificate of the thing. */
static dd_mitigate_status_t exec_update_device_certificate(dd_mitigate_t *m, const char *type,
                                                           const cJSON *params,
                                                           const dd_mitigate_target_t *target,
                                                           dd_mitigate_outcome_t *out)
{
    dd_registry_page_t page = {NULL, 0};
    dd_registry_error_t err;
    dd_registry_status_t rs;
    dd_mitigate_status_t st = DD_MITIGATE_OK;
    name_list_t certs;
    char next[DD_NAME_MAX + 1];
    const char *cert;
    size_t i;

    (void)type;
    (void)params; /* action DEACTIVATE, the only value, was validated at creation */
    if (target->thing == NULL) {
        cert = finding_id_member(target->finding, "deviceCertificateId");
        if (cert == NULL) {
            return failed(out, "InvalidRequestException",
                          "The finding's resource has no deviceCertificateId");
        }
        return deactivate_cert(m, cert, out);
    }
    memset(&certs, 0, sizeof(certs));
    rs = dd_registry_thing_principals(m->cfg.registry, target->thing, &page, name_list_add, &certs,
                                      next, sizeof(next), &err);
    if (rs != DD_REGISTRY_OK || certs.no_memory) {
        name_list_free(&certs);
        return failed(out, certs.no_memory ? "InternalFailureException" : registry_code(rs), "%s",
                      certs.no_memory ? "Out of memory" : err.message);
    }
    if (certs.count == 0) {
        name_list_free(&certs);
        return failed(out, "ResourceNotFoundException", "Thing %s has no certificate attached",
                      target->thing);
    }
    for (i = 0; i < certs.count && st == DD_MITIGATE_OK; i++) {
        dd_mitigate_outcome_t one;
        memset(&one, 0, sizeof(one));
        st = deactivate_cert(m, certs.names[i], &one);
        out->registry_changed = out->registry_changed || one.registry_changed;
        if (st != DD_MITIGATE_OK) {
            memcpy(out->code, one.code, sizeof(out->code));
            memcpy(out->message, one.message, sizeof(out->message));
        }
    }
    name_list_free(&certs);
    return st;
}

/*
 * ddlocal's BLANK_POLICY template. AWS describes it as a blank policy that
 * restricts permissions without publishing its text; ddlocal's explicitly
 * denies every IoT action, so a device holding the policy is cut off whatever
 * else is attached (docs/reference/mitigation.md).
 */
#define BLANK_POLICY_DOCUMENT                                                                  \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"BlankPolicy\",\"Effect\":\"Deny\"," \
    "\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"

/* Audit only: a new default version of the finding's policy from the template. */
static dd_mitigate_status_t exec_replace_default_policy_version(dd_mitigate_t *m, const char *type,
                                                                const cJSON *params,
                                                                const dd_mitigate_target_t *target,
                                                                dd_mitigate_outcome_t *out)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(target->finding, "nonCompliantResource");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "resourceIdentifier");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(id, "policyVersionIdentifier");
    const char *policy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pv, "policyName"));
    char vid[DD_REGISTRY_VERSION_ID_MAX];
    dd_registry_error_t err;
    dd_registry_status_t rs;

    (void)params; /* templateName BLANK_POLICY, the only value, was validated at creation */
    if (target->thing != NULL) {
        (void)failed(out, "NotSupported",
                     "%s applies to Audit findings about an IoT policy, not to a Detect "
                     "violation's thing",
                     type);
        return DD_MITIGATE_NOT_SUPPORTED;
    }
    if (policy == NULL) {
        return failed(out, "InvalidRequestException",
                      "The finding's resource has no policyVersionIdentifier.policyName");
    }
    rs = dd_registry_policy_version_create(m->cfg.registry, policy, BLANK_POLICY_DOCUMENT, true,
                                           vid, sizeof(vid), &err);
    if (rs == DD_REGISTRY_LIMIT_EXCEEDED) {
        /* CreatePolicyVersion's error for a policy that already has five versions. */
        return failed(out, "VersionsLimitExceededException", "%s", err.message);
    }
    if (rs != DD_REGISTRY_OK) {
        return failed(out, registry_code(rs), "%s", err.message);
    }
    out->registry_changed = true;
    return DD_MITIGATE_OK;
}

/* A registered CA's status, from the registry's callback. */
typedef struct ca_seen {
    bool found;
    bool active;
} ca_seen_t;

static int ca_seen_cb(void *ctx, const dd_registry_ca_t *ca)
{
    ca_seen_t *seen = ctx;

    seen->found = true;
    seen->active = ca->active;
    return 0;
}

/*
 * Audit only: the finding's caCertificateId -> INACTIVE, exactly as UpdateCACertificate does it,
 * so the registry logs every certificate the CA signed and the broker shim refuses them at once.
 */
static dd_mitigate_status_t exec_update_ca_certificate(dd_mitigate_t *m, const char *type,
                                                       const cJSON *params,
                                                       const dd_mitigate_target_t *target,
                                                       dd_mitigate_outcome_t *out)
{
    const char *ca_id;
    dd_registry_error_t err;
    dd_registry_status_t rs;
    ca_seen_t seen;

    (void)params; /* action DEACTIVATE, the only value, was validated at creation */
    if (target->thing != NULL) {
        (void)failed(out, "NotSupported",
                     "%s applies to Audit findings about a CA certificate, not to a Detect "
                     "violation's thing",
                     type);
        return DD_MITIGATE_NOT_SUPPORTED;
    }
    ca_id = finding_id_member(target->finding, "caCertificateId");
    if (ca_id == NULL) {
        return failed(out, "InvalidRequestException",
                      "The finding's resource has no caCertificateId");
    }
    memset(&seen, 0, sizeof(seen));
    rs = dd_registry_ca_get(m->cfg.registry, ca_id, ca_seen_cb, &seen, &err);
    if (rs == DD_REGISTRY_NOT_FOUND || (rs == DD_REGISTRY_OK && !seen.found)) {
        return failed(out, "ResourceNotFoundException", "CA certificate %.64s does not exist",
                      ca_id);
    }
    if (rs != DD_REGISTRY_OK) {
        return failed(out, registry_code(rs), "%s", err.message);
    }
    if (!seen.active) {
        return DD_MITIGATE_OK; /* already INACTIVE: nothing to do */
    }
    rs = dd_registry_ca_update(m->cfg.registry, ca_id, 0, -1, NULL, &err);
    if (rs != DD_REGISTRY_OK) {
        return failed(out, registry_code(rs), "%s", err.message);
    }
    out->registry_changed = true;
    return DD_MITIGATE_OK;
}

/* SetV2LoggingOptions with the action's role and level (both targets: it is account-wide). */
static dd_mitigate_status_t exec_enable_iot_logging(dd_mitigate_t *m, const char *type,
                                                    const cJSON *params,
                                                    const dd_mitigate_target_t *target,
                                                    dd_mitigate_outcome_t *out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, "enableIoTLoggingParams");
    const char *role =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "roleArnForLogging"));
    const char *level = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "logLevel"));
    dd_logopts_v2_t opts;
    dd_logopts_status_t ls;
    char msg[DD_MITIGATE_MESSAGE_MAX];

    (void)type;
    (void)target;
    memset(&opts, 0, sizeof(opts));
    if (role == NULL || level == NULL || !dd_logopts_level_parse(level, &opts.default_level)) {
        return failed(out, "InvalidRequestException",
                      "enableIoTLoggingParams needs roleArnForLogging and a logLevel");
    }
    opts.has_level = true;
    (void)snprintf(opts.role_arn, sizeof(opts.role_arn), "%s", role);
    ls = dd_logopts_set_v2(m->cfg.registry, &opts, msg, sizeof(msg));
    if (ls == DD_LOGOPTS_INVALID) {
        return failed(out, "InvalidRequestException", "%s", msg);
    }
    if (ls != DD_LOGOPTS_OK) {
        return failed(out, "InternalFailureException", "%s", dd_logopts_strerror(ls));
    }
    return DD_MITIGATE_OK;
}

/* Audit only: the finding, as JSON, to the SNS stand-in's topic through the wiring's hook. */
static dd_mitigate_status_t exec_publish_finding_to_sns(dd_mitigate_t *m, const char *type,
                                                        const cJSON *params,
                                                        const dd_mitigate_target_t *target,
                                                        dd_mitigate_outcome_t *out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, "publishFindingToSnsParams");
    const char *topic = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "topicArn"));
    char *message;
    int rc;

    if (target->thing != NULL) {
        (void)failed(out, "NotSupported",
                     "%s publishes Audit findings; a Detect violation has none (use the "
                     "security profile's alertTargets)",
                     type);
        return DD_MITIGATE_NOT_SUPPORTED;
    }
    if (topic == NULL) {
        return failed(out, "InvalidRequestException",
                      "publishFindingToSnsParams.topicArn is "
                      "required");
    }
    if (m->cfg.publish_sns == NULL) {
        (void)failed(out, "NotSupported", "This ddlocal has no SNS stand-in to publish to");
        return DD_MITIGATE_NOT_SUPPORTED;
    }
    message = cJSON_PrintUnformatted(target->finding);
    if (message == NULL) {
        return failed(out, "InternalFailureException", "Out of memory");
    }
    rc = m->cfg.publish_sns(m->cfg.sns_ctx, topic, message, out->message, sizeof(out->message));
    cJSON_free(message);
    if (rc != 0) {
        (void)snprintf(out->code, sizeof(out->code), "%s",
                       rc == DD_MITIGATE_SNS_INVALID ? "InvalidRequestException"
                                                     : "InternalFailureException");
        return DD_MITIGATE_EXECUTION_FAILED;
    }
    out->message[0] = '\0';
    return DD_MITIGATE_OK;
}

static const struct {
    const char *type;
    executor_fn fn;
} EXECUTORS[] = {
    {"ADD_THINGS_TO_THING_GROUP", exec_add_things_to_thing_group},
    {"REPLACE_DEFAULT_POLICY_VERSION", exec_replace_default_policy_version},
    {"UPDATE_DEVICE_CERTIFICATE", exec_update_device_certificate},
    {"UPDATE_CA_CERTIFICATE", exec_update_ca_certificate},
    {"ENABLE_IOT_LOGGING", exec_enable_iot_logging},
    {"PUBLISH_FINDING_TO_SNS", exec_publish_finding_to_sns},
};

dd_mitigate_status_t dd_mitigate_execute(dd_mitigate_t *m, const char *type, const cJSON *params,
                                         const dd_mitigate_target_t *target,
                                         dd_mitigate_outcome_t *out)
{
    size_t i;

    if (m == NULL || type == NULL || target == NULL || out == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    for (i = 0; i < sizeof(EXECUTORS) / sizeof(EXECUTORS[0]); i++) {
        if (strcmp(EXECUTORS[i].type, type) == 0) {
            return EXECUTORS[i].fn(m, type, params, target, out);
        }
    }
    return not_supported(type, out);
}

void dd_mitigate_registry_changed(dd_mitigate_t *m)
{
    if (m != NULL && m->cfg.registry_changed != NULL) {
        m->cfg.registry_changed(m->cfg.hook_ctx);
    }
}

/* ---- StartDetectMitigationActionsTask ------------------------------------------------- */

/* A violation the task acts on. */
typedef struct target_violation {
    char id[129];
    char thing[DD_NAME_MAX + 1];
} target_violation_t;

typedef struct collect {
    const dd_mitigate_task_request_t *req;
    dd_map_t seen; /* violation ids already taken */
    target_violation_t *list;
    size_t count;
    size_t cap;
    bool events; /* items are ViolationEvents (else ActiveViolations) */
    bool failed;
} collect_t;

static bool wanted_id(const collect_t *c, const char *id)
{
    size_t i;

    if (c->req->violation_ids == NULL) {
        return true;
    }
    for (i = 0; i < c->req->violation_id_count; i++) {
        if (c->req->violation_ids[i] != NULL && strcmp(c->req->violation_ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Takes one listed violation when the target matches it. @p first_ms and
 * @p last_ms are when it started and last fired (an event's time for both).
 * Returns non-zero to stop the listing.
 */
static int collect_take(collect_t *c, const char *id, const char *thing, const char *behavior,
                        int64_t first_ms, int64_t last_ms)
{
    const dd_mitigate_task_request_t *req = c->req;
    target_violation_t *tv;

    if (!wanted_id(c, id) || dd_map_get(&c->seen, id) != NULL) {
        return 0;
    }
    if (req->behavior != NULL && (behavior == NULL || strcmp(behavior, req->behavior) != 0)) {
        return 0;
    }
    if (req->has_range && (last_ms < req->range_start_ms || first_ms > req->range_end_ms)) {
        return 0;
    }
    if (c->count == DD_MITIGATE_TASK_VIOLATIONS_MAX) {
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
    (void)snprintf(tv->id, sizeof(tv->id), "%s", id);
    (void)snprintf(tv->thing, sizeof(tv->thing), "%s", thing);
    if (dd_map_put(&c->seen, tv->id, tv, NULL) != DD_MAP_OK) {
        c->failed = true;
        return 1;
    }
    c->count++;
    return 0;
}

/* The behavior's name in its stored JSON (NULL when unreadable). */
static char *behavior_name(const char *behavior_json)
{
    cJSON *b = behavior_json != NULL ? cJSON_Parse(behavior_json) : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
    char *out = cJSON_IsString(name) ? strdup(name->valuestring) : NULL;

    cJSON_Delete(b);
    return out;
}

/* A stored violation row (active or event) to collect_take. */
static int collect_cb(void *arg, const dd_store_violation_t *v)
{
    collect_t *c = arg;
    char *bname = NULL;
    int64_t first;
    int64_t last;
    int stop;

    if (v->violation_id == NULL || v->thing == NULL) {
        return 0;
    }
    first = c->events ? v->time_ms : v->start_ms;
    last = v->time_ms;
    if (c->req->behavior != NULL) {
        bname = behavior_name(v->behavior_json);
    }
    stop = collect_take(c, v->violation_id, v->thing, bname, first, last);
    free(bname);
    return stop;
}

/* Runs one listing of the store page by page into the collector. */
static dd_store_status_t collect_all(dd_mitigate_t *m, collect_t *c, bool events,
                                     const dd_store_violation_filter_t *f)
{
    char token[DD_STORE_TOKEN_MAX] = "";
    char next[DD_STORE_TOKEN_MAX];
    dd_store_status_t ss;

    c->events = events;
    do {
        dd_store_page_t page = {token, 250};
        ss = events ? dd_store_violation_events(m->cfg.store, f, &page, collect_cb, c, next)
                    : dd_store_active_violations(m->cfg.store, f, &page, collect_cb, c, next);
        (void)snprintf(token, sizeof(token), "%s", next);
    } while (ss == DD_STORE_OK && !c->failed && token[0] != '\0' &&
             c->count < DD_MITIGATE_TASK_VIOLATIONS_MAX);
    return ss;
}

/* The violations: active ones, then (unless only active) historical events. */
static dd_mitigate_status_t collect_violations(dd_mitigate_t *m, collect_t *c,
                                               dd_mitigate_task_result_t *res)
{
    const dd_mitigate_task_request_t *req = c->req;
    dd_store_violation_filter_t f;
    dd_store_status_t ss;

    dd_store_violation_filter_init(&f);
    f.profile = req->profile;
    f.suppressed = req->include_suppressed == 1 ? -1 : 0;
    ss = collect_all(m, c, false, &f);
    if (ss == DD_STORE_OK && !c->failed && req->only_active != 1) {
        f.start_ms = req->has_range ? req->range_start_ms : 0;
        f.end_ms = req->has_range ? req->range_end_ms : 0;
        ss = collect_all(m, c, true, &f);
    }
    if (ss == DD_STORE_OK && c->failed) {
        ss = DD_STORE_NO_MEMORY;
    }
    res->store_status = ss;
    return ss == DD_STORE_OK ? DD_MITIGATE_OK : DD_MITIGATE_VIOLATIONS_ERROR;
}

/* Loads the task's actions in order; an unknown one refuses the task. */
static dd_mitigate_status_t load_actions(dd_mitigate_t *m, const dd_mitigate_task_request_t *req,
                                         dd_store_mitigation_action_t *acts, cJSON **params,
                                         size_t *loaded, dd_mitigate_task_result_t *res)
{
    size_t i;

    for (i = 0; i < req->action_count; i++) {
        if (req->actions[i] == NULL ||
            dd_store_mitigation_action_get(m->cfg.db, req->actions[i], &acts[i]) != DD_STORE_OK) {
            set_msg(res->message, "Mitigation action %s does not exist",
                    req->actions[i] != NULL ? req->actions[i] : "");
            return DD_MITIGATE_INVALID;
        }
        *loaded = i + 1;
        params[i] = cJSON_Parse(acts[i].params_json);
    }
    return DD_MITIGATE_OK;
}

/* A fault injected by a test fails this execution (the hook fills @p out); the action does not
 * run. */
static bool injected_failure(dd_mitigate_t *m, const char *thing,
                             const dd_store_mitigation_action_t *act, dd_mitigate_outcome_t *out)
{
    memset(out, 0, sizeof(*out));
    return m->cfg.fault != NULL && m->cfg.fault(m->cfg.hook_ctx, thing, act->name, act->type, out);
}

/* Runs every action on every collected violation and records the executions. */
static void run_task(dd_mitigate_t *m, const dd_mitigate_task_request_t *req, const collect_t *c,
                     const dd_store_mitigation_action_t *acts, cJSON *const *params,
                     dd_mitigate_task_result_t *res)
{
    bool registry_changed = false;
    size_t i;
    size_t j;

    for (i = 0; i < c->count; i++) {
        bool failed_here = false;
        for (j = 0; j < req->action_count; j++) {
            dd_store_mitigation_execution_t e;
            dd_mitigate_outcome_t out;
            dd_mitigate_target_t target = {c->list[i].thing, NULL};
            memset(&e, 0, sizeof(e));
            memset(&out, 0, sizeof(out));
            e.task_id = req->task_id;
            e.violation_id = c->list[i].id;
            e.action_name = acts[j].name;
            e.thing = c->list[i].thing;
            e.start_ms = now_ms(m);
            if (failed_here) {
                e.status = "SKIPPED";
                e.message = "Skipped: an earlier action for this violation failed";
                res->skipped++;
            } else if (!injected_failure(m, c->list[i].thing, &acts[j], &out) &&
                       dd_mitigate_execute(m, acts[j].type, params[j], &target, &out) ==
                           DD_MITIGATE_OK) {
                e.status = "SUCCESSFUL";
                res->executed++;
            } else {
                e.status = "FAILED";
                e.error_code = out.code;
                e.message = out.message;
                res->failed++;
                failed_here = true;
            }
            registry_changed = registry_changed || out.registry_changed;
            e.end_ms = now_ms(m);
            if (dd_store_mitigation_execution_insert(m->cfg.db, &e) != DD_STORE_OK) {
                DD_LOG_WARN("mitigation: task %s: execution of %s on %s not recorded", req->task_id,
                            e.action_name, e.violation_id);
            }
        }
    }
    if (dd_store_mitigation_task_finish(m->cfg.db, req->task_id,
                                        res->failed > 0 ? "FAILED" : "SUCCESSFUL", now_ms(m),
                                        res->executed, res->skipped, res->failed) != DD_STORE_OK) {
        DD_LOG_WARN("mitigation: task %s: final status not recorded", req->task_id);
    }
    /* The very next packet of a thing moved into a group must see it (dd_pipeline.h). */
    if (registry_changed) {
        dd_mitigate_registry_changed(m);
    }
}

dd_mitigate_status_t dd_mitigate_task_start(dd_mitigate_t *m, const dd_mitigate_task_request_t *req,
                                            dd_mitigate_task_result_t *res)
{
    dd_store_mitigation_action_t acts[DD_MITIGATE_TASK_ACTIONS_MAX];
    cJSON *params[DD_MITIGATE_TASK_ACTIONS_MAX];
    dd_store_mitigation_task_t existing;
    dd_store_mitigation_task_t task;
    dd_mitigate_status_t st;
    dd_store_status_t ss;
    size_t loaded = 0;
    collect_t c;
    char *defs_text = NULL;
    size_t i;

    if (res != NULL) {
        memset(res, 0, sizeof(*res));
    }
    if (m == NULL || req == NULL || res == NULL || req->task_id == NULL ||
        req->client_token == NULL || req->target_json == NULL || req->actions == NULL ||
        req->action_count == 0 || req->action_count > DD_MITIGATE_TASK_ACTIONS_MAX ||
        req->encode_actions == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    if (dd_store_mitigation_task_get(m->cfg.db, req->task_id, &existing) == DD_STORE_OK) {
        bool same = strcmp(existing.client_token, req->client_token) == 0;
        dd_store_mitigation_task_clear(&existing);
        if (!same) {
            return DD_MITIGATE_TASK_EXISTS;
        }
        res->repeated = true; /* the same request retried: idempotent */
        return DD_MITIGATE_OK;
    }
    memset(acts, 0, sizeof(acts));
    memset(params, 0, sizeof(params));
    memset(&c, 0, sizeof(c));
    c.req = req;
    dd_map_init(&c.seen);
    st = load_actions(m, req, acts, params, &loaded, res);
    if (st == DD_MITIGATE_OK && req->profile != NULL) {
        dd_profile_t profile;
        ss = dd_store_profile_get(m->cfg.store, req->profile, &profile);
        if (ss == DD_STORE_NOT_FOUND) {
            set_msg(res->message, "Security profile %s does not exist", req->profile);
            st = DD_MITIGATE_INVALID;
        } else if (ss == DD_STORE_OK) {
            dd_profile_free(&profile);
        }
    }
    if (st == DD_MITIGATE_OK) {
        st = collect_violations(m, &c, res);
    }
    if (st == DD_MITIGATE_OK) {
        defs_text = req->encode_actions(req->encode_ctx, acts, loaded);
        st = defs_text != NULL ? DD_MITIGATE_OK : DD_MITIGATE_NO_MEMORY;
    }
    if (st == DD_MITIGATE_OK) {
        memset(&task, 0, sizeof(task));
        task.task_id = req->task_id;
        task.client_token = req->client_token;
        task.status = "IN_PROGRESS";
        task.start_ms = now_ms(m);
        task.target_json = req->target_json;
        task.has_range = req->has_range;
        task.range_start_ms = req->range_start_ms;
        task.range_end_ms = req->range_end_ms;
        task.only_active = req->only_active;
        task.include_suppressed = req->include_suppressed;
        task.actions_json = defs_text;
        ss = dd_store_mitigation_task_insert(m->cfg.db, &task);
        st = ss == DD_STORE_EXISTS ? DD_MITIGATE_TASK_EXISTS : from_store(ss);
    }
    if (st == DD_MITIGATE_OK) {
        res->violations = c.count;
        run_task(m, req, &c, acts, params, res);
    }
    free(defs_text);
    free(c.list);
    dd_map_destroy(&c.seen);
    for (i = 0; i < loaded; i++) {
        cJSON_Delete(params[i]);
        dd_store_mitigation_action_clear(&acts[i]);
    }
    return st;
}

dd_mitigate_status_t dd_mitigate_task_describe(dd_mitigate_t *m, const char *task_id,
                                               dd_store_mitigation_task_t *out)
{
    if (m == NULL || task_id == NULL || out == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(dd_store_mitigation_task_get(m->cfg.db, task_id, out));
}

dd_mitigate_status_t dd_mitigate_task_list(dd_mitigate_t *m, int64_t start_ms, int64_t end_ms,
                                           const char *after, int limit,
                                           dd_store_mitigation_task_t **rows, size_t *count,
                                           char *next)
{
    if (m == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(dd_store_mitigation_task_list(m->cfg.db, start_ms, end_ms, after, limit, rows,
                                                    count, next));
}

dd_mitigate_status_t dd_mitigate_task_cancel(dd_mitigate_t *m, const char *task_id, char *msg)
{
    dd_store_mitigation_task_t t;
    dd_store_status_t ss;
    bool running;

    if (m == NULL || task_id == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    ss = dd_store_mitigation_task_get(m->cfg.db, task_id, &t);
    if (ss != DD_STORE_OK) {
        return from_store(ss);
    }
    running = strcmp(t.status, "IN_PROGRESS") == 0;
    if (!running) {
        set_msg(msg,
                "Task %s is %s; only an IN_PROGRESS task can be canceled (ddlocal runs tasks "
                "to completion inside StartDetectMitigationActionsTask)",
                task_id, t.status);
    }
    dd_store_mitigation_task_clear(&t);
    if (!running) {
        return DD_MITIGATE_INVALID;
    }
    return from_store(
        dd_store_mitigation_task_finish(m->cfg.db, task_id, "CANCELED", now_ms(m), 0, 0, 0));
}

dd_mitigate_status_t dd_mitigate_execution_list(dd_mitigate_t *m,
                                                const dd_store_mitigation_exec_filter_t *filter,
                                                const char *after, int limit,
                                                dd_store_mitigation_execution_t **rows,
                                                size_t *count, char *next)
{
    if (m == NULL) {
        return DD_MITIGATE_BAD_PARAMETER;
    }
    return from_store(
        dd_store_mitigation_execution_list(m->cfg.db, filter, after, limit, rows, count, next));
}

const char *dd_mitigate_strerror(dd_mitigate_status_t status)
{
    switch (status) {
    case DD_MITIGATE_OK: return "ok";
    case DD_MITIGATE_BAD_PARAMETER: return "bad parameter";
    case DD_MITIGATE_INVALID: return "invalid request";
    case DD_MITIGATE_NOT_FOUND: return "not found";
    case DD_MITIGATE_EXISTS: return "already exists";
    case DD_MITIGATE_TASK_EXISTS: return "task already exists";
    case DD_MITIGATE_VIOLATIONS_ERROR: return "cannot read the violations";
    case DD_MITIGATE_NOT_SUPPORTED: return "action type not executed by ddlocal";
    case DD_MITIGATE_EXECUTION_FAILED: return "action failed";
    case DD_MITIGATE_NO_MEMORY: return "out of memory";
    case DD_MITIGATE_STORE_ERROR: return "database error";
    }
    return "unknown status";
}
