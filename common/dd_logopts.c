#include "dd_logopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const LEVEL_NAMES[DD_LOGOPTS_LEVEL_COUNT] = {"DEBUG", "INFO", "ERROR", "WARN",
                                                                "DISABLED"};

const char *dd_logopts_level_name(dd_logopts_level_t level)
{
    return (unsigned)level < DD_LOGOPTS_LEVEL_COUNT ? LEVEL_NAMES[level] : "?";
}

bool dd_logopts_level_parse(const char *text, dd_logopts_level_t *level)
{
    int i;

    if (text == NULL || level == NULL) {
        return false;
    }
    for (i = 0; i < DD_LOGOPTS_LEVEL_COUNT; i++) {
        if (strcmp(text, LEVEL_NAMES[i]) == 0) {
            *level = (dd_logopts_level_t)i;
            return true;
        }
    }
    return false;
}

/* AWS's levels onto dd_log's; "disabled" keeps ddlocald's errors (see the header). */
static dd_log_level_t to_log_level(dd_logopts_level_t level)
{
    switch (level) {
    case DD_LOGOPTS_DEBUG: return DD_LOG_LEVEL_DEBUG;
    case DD_LOGOPTS_INFO: return DD_LOG_LEVEL_INFO;
    case DD_LOGOPTS_WARN: return DD_LOG_LEVEL_WARN;
    case DD_LOGOPTS_ERROR:
    case DD_LOGOPTS_DISABLED:
    case DD_LOGOPTS_LEVEL_COUNT: break;
    }
    return DD_LOG_LEVEL_ERROR;
}

static dd_logopts_status_t check_role(const char *arn, bool required, char *msg, size_t msg_len)
{
    const char *role;

    if (arn[0] == '\0') {
        if (required) {
            dd_log_format_msg(msg, msg_len, "roleArn is required");
            return DD_LOGOPTS_INVALID;
        }
        return DD_LOGOPTS_OK;
    }
    /* arn:PARTITION:iam::ACCOUNT:role/NAME - the only kind of ARN a logging role can be. */
    role = strstr(arn, ":role/");
    if (strncmp(arn, "arn:", 4) != 0 || strstr(arn, ":iam::") == NULL || role == NULL ||
        role[6] == '\0') {
        dd_log_format_msg(msg, msg_len,
                          "Invalid roleArn '%.200s': expected an IAM role ARN "
                          "(arn:aws:iam::ACCOUNT:role/NAME)",
                          arn);
        return DD_LOGOPTS_INVALID;
    }
    return DD_LOGOPTS_OK;
}

/* Reads a stored options object; NOT_CONFIGURED when the key was never written. */
static dd_logopts_status_t load(dd_registry_t *reg, const char *key, cJSON **out)
{
    char *text = NULL;

    *out = NULL;
    if (dd_registry_setting_get(reg, key, &text) != DD_REGISTRY_OK) {
        return DD_LOGOPTS_STORE_ERROR;
    }
    if (text == NULL) {
        return DD_LOGOPTS_NOT_CONFIGURED;
    }
    *out = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(*out)) {
        DD_LOG_ERROR("logging options: setting %s is not a JSON object", key);
        cJSON_Delete(*out);
        *out = NULL;
        return DD_LOGOPTS_STORE_ERROR;
    }
    return DD_LOGOPTS_OK;
}

static dd_logopts_status_t save(dd_registry_t *reg, const char *key, cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    dd_logopts_status_t status = DD_LOGOPTS_STORE_ERROR;

    if (text != NULL && dd_registry_setting_set(reg, key, text) == DD_REGISTRY_OK) {
        status = DD_LOGOPTS_OK;
    }
    cJSON_free(text);
    return status;
}

static void read_role(const cJSON *obj, char *out)
{
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(obj, "roleArn");

    (void)snprintf(out, DD_LOGOPTS_ROLE_ARN_MAX + 1, "%s",
                   cJSON_IsString(arn) ? arn->valuestring : "");
}

static bool read_level(const cJSON *obj, const char *member, dd_logopts_level_t *level)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, member);

    return cJSON_IsString(item) && dd_logopts_level_parse(item->valuestring, level);
}

dd_logopts_status_t dd_logopts_set_v2(dd_registry_t *reg, const dd_logopts_v2_t *opts, char *msg,
                                      size_t msg_len)
{
    dd_logopts_status_t status;
    cJSON *obj;
    bool ok;

    dd_log_format_msg(msg, msg_len, "%s", "");
    if (reg == NULL || opts == NULL) {
        return DD_LOGOPTS_BAD_PARAMETER;
    }
    if ((unsigned)opts->default_level >= DD_LOGOPTS_LEVEL_COUNT) {
        dd_log_format_msg(msg, msg_len,
                          "defaultLogLevel must be DEBUG, INFO, ERROR, WARN or "
                          "DISABLED");
        return DD_LOGOPTS_INVALID;
    }
    if ((status = check_role(opts->role_arn, false, msg, msg_len)) != DD_LOGOPTS_OK) {
        return status;
    }
    obj = cJSON_CreateObject();
    ok = obj != NULL &&
         (opts->role_arn[0] == '\0' ||
          cJSON_AddStringToObject(obj, "roleArn", opts->role_arn) != NULL) &&
         (!opts->has_level ||
          cJSON_AddStringToObject(obj, "defaultLogLevel",
                                  dd_logopts_level_name(opts->default_level)) != NULL) &&
         cJSON_AddBoolToObject(obj, "disableAllLogs", opts->disable_all) != NULL;
    status = ok ? save(reg, DD_LOGOPTS_SETTING_V2, obj) : DD_LOGOPTS_STORE_ERROR;
    cJSON_Delete(obj);
    return status == DD_LOGOPTS_OK ? dd_logopts_apply(reg) : status;
}

dd_logopts_status_t dd_logopts_get_v2(dd_registry_t *reg, dd_logopts_v2_t *out)
{
    dd_logopts_status_t status;
    cJSON *obj;

    if (reg == NULL || out == NULL) {
        return DD_LOGOPTS_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if ((status = load(reg, DD_LOGOPTS_SETTING_V2, &obj)) != DD_LOGOPTS_OK) {
        return status;
    }
    read_role(obj, out->role_arn);
    out->has_level = read_level(obj, "defaultLogLevel", &out->default_level);
    out->disable_all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "disableAllLogs"));
    cJSON_Delete(obj);
    return DD_LOGOPTS_OK;
}

dd_logopts_status_t dd_logopts_set_v1(dd_registry_t *reg, const dd_logopts_v1_t *opts, char *msg,
                                      size_t msg_len)
{
    dd_logopts_status_t status;
    cJSON *obj;
    bool ok;

    dd_log_format_msg(msg, msg_len, "%s", "");
    if (reg == NULL || opts == NULL) {
        return DD_LOGOPTS_BAD_PARAMETER;
    }
    if ((unsigned)opts->level >= DD_LOGOPTS_LEVEL_COUNT) {
        dd_log_format_msg(msg, msg_len, "logLevel must be DEBUG, INFO, ERROR, WARN or DISABLED");
        return DD_LOGOPTS_INVALID;
    }
    if ((status = check_role(opts->role_arn, true, msg, msg_len)) != DD_LOGOPTS_OK) {
        return status;
    }
    obj = cJSON_CreateObject();
    ok = obj != NULL && cJSON_AddStringToObject(obj, "roleArn", opts->role_arn) != NULL &&
         (!opts->has_level ||
          cJSON_AddStringToObject(obj, "logLevel", dd_logopts_level_name(opts->level)) != NULL);
    status = ok ? save(reg, DD_LOGOPTS_SETTING_V1, obj) : DD_LOGOPTS_STORE_ERROR;
    cJSON_Delete(obj);
    return status == DD_LOGOPTS_OK ? dd_logopts_apply(reg) : status;
}

dd_logopts_status_t dd_logopts_get_v1(dd_registry_t *reg, dd_logopts_v1_t *out)
{
    dd_logopts_status_t status;
    cJSON *obj;

    if (reg == NULL || out == NULL) {
        return DD_LOGOPTS_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if ((status = load(reg, DD_LOGOPTS_SETTING_V1, &obj)) != DD_LOGOPTS_OK) {
        return status;
    }
    read_role(obj, out->role_arn);
    out->has_level = read_level(obj, "logLevel", &out->level);
    cJSON_Delete(obj);
    return DD_LOGOPTS_OK;
}

dd_logopts_status_t dd_logopts_effective_level(dd_registry_t *reg, dd_log_level_t fallback,
                                               dd_log_level_t *level, bool *from_options)
{
    dd_logopts_status_t status;
    dd_logopts_v2_t v2;
    dd_logopts_v1_t v1;

    if (reg == NULL || level == NULL) {
        return DD_LOGOPTS_BAD_PARAMETER;
    }
    *level = fallback;
    if (from_options != NULL) {
        *from_options = false;
    }
    status = dd_logopts_get_v2(reg, &v2);
    if (status == DD_LOGOPTS_OK) {
        /* v2 without a defaultLogLevel: AWS's default for it is ERROR. */
        *level = v2.disable_all ? DD_LOG_LEVEL_ERROR
                                : to_log_level(v2.has_level ? v2.default_level : DD_LOGOPTS_ERROR);
    } else if (status == DD_LOGOPTS_NOT_CONFIGURED) {
        status = dd_logopts_get_v1(reg, &v1);
        if (status == DD_LOGOPTS_NOT_CONFIGURED) {
            return DD_LOGOPTS_OK;
        }
        if (status == DD_LOGOPTS_OK) {
            *level = to_log_level(v1.has_level ? v1.level : DD_LOGOPTS_ERROR);
        }
    }
    if (status != DD_LOGOPTS_OK) {
        return status;
    }
    if (from_options != NULL) {
        *from_options = true;
    }
    return DD_LOGOPTS_OK;
}

dd_logopts_status_t dd_logopts_apply(dd_registry_t *reg)
{
    dd_log_level_t level;
    bool from_options = false;
    dd_logopts_status_t status =
        dd_logopts_effective_level(reg, dd_log_get_level(), &level, &from_options);

    if (status == DD_LOGOPTS_OK && from_options && level != dd_log_get_level()) {
        /* Said before a switch to a quieter level silences it. */
        DD_LOG_INFO("log level %s, from the stored AWS IoT logging options",
                    level == DD_LOG_LEVEL_DEBUG  ? "debug"
                    : level == DD_LOG_LEVEL_INFO ? "info"
                    : level == DD_LOG_LEVEL_WARN ? "warn"
                                                 : "error");
        dd_log_set_level(level);
    }
    return status;
}

const char *dd_logopts_strerror(dd_logopts_status_t status)
{
    switch (status) {
    case DD_LOGOPTS_OK: return "ok";
    case DD_LOGOPTS_BAD_PARAMETER: return "bad parameter";
    case DD_LOGOPTS_INVALID: return "invalid logging options";
    case DD_LOGOPTS_NOT_CONFIGURED: return "logging options not configured";
    case DD_LOGOPTS_STORE_ERROR: return "logging options could not be stored or read";
    }
    return "unknown logging options status";
}
