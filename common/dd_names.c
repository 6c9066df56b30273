#include "dd_names.h"

#include <stdio.h>
#include <string.h>

typedef struct name_rule {
    const char *noun;
    const char *arn_type; /* "thing", ... ; NULL when the kind has no ARN */
    size_t min_len;
    size_t max_len;
    const char *extra;   /* punctuation allowed besides [A-Za-z0-9] */
    const char *pattern; /* for error messages */
} name_rule_t;

static const name_rule_t RULES[DD_NAME_KIND_COUNT] = {
    [DD_NAME_THING] = {"thing", "thing", 1, 128, ":_-", "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_THING_GROUP] = {"thing group", "thinggroup", 1, 128, ":_-",
                             "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_SECURITY_PROFILE] = {"security profile", "securityprofile", 1, 128, ":_-",
                                  "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_BEHAVIOR] = {"behavior", NULL, 1, 128, ":_-", "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_CUSTOM_METRIC] = {"custom metric", "custommetric", 1, 128, ":_-",
                               "[a-zA-Z0-9:_-]+, 1 to 128 characters, not starting with aws:"},
    [DD_NAME_DIMENSION] = {"dimension", "dimension", 1, 128, ":_-",
                           "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_POLICY] = {"policy", "policy", 1, 128, "_+=,.@-", "[\\w+=,.@-]+, 1 to 128 characters"},
    [DD_NAME_MITIGATION_ACTION] = {"mitigation action", "mitigationaction", 1, 128, "_-",
                                   "[a-zA-Z0-9_-]+, 1 to 128 characters"},
    [DD_NAME_TASK_ID] = {"task", NULL, 1, 128, "_-", "[a-zA-Z0-9_-]+, 1 to 128 characters"},
    [DD_NAME_CERTIFICATE] = {"certificate", "cert", 64, 64, "",
                             "64 lowercase hexadecimal characters"},
    [DD_NAME_SNS_TOPIC] = {"SNS topic", NULL, 1, 256, "_-", "[A-Za-z0-9_-]+, 1 to 256 characters"},
    [DD_NAME_THING_TYPE] = {"thing type", "thingtype", 1, 128, ":_-",
                            "[a-zA-Z0-9:_-]+, 1 to 128 characters"},
    [DD_NAME_PROVISIONING_TEMPLATE] = {"provisioning template", "provisioningtemplate", 1, 36, "_-",
                                       "[0-9A-Za-z_-]+, 1 to 36 characters"},
};

void dd_arn_ctx_default(dd_arn_ctx_t *ctx)
{
    if (ctx != NULL) {
        (void)snprintf(ctx->region, sizeof(ctx->region), "us-east-1");
        (void)snprintf(ctx->account, sizeof(ctx->account), "123456789012");
    }
}

dd_names_status_t dd_arn_ctx_set(dd_arn_ctx_t *ctx, const char *region, const char *account)
{
    size_t i;

    if (ctx == NULL || region == NULL || account == NULL) {
        return DD_NAMES_BAD_PARAMETER;
    }
    if (region[0] == '\0' || strlen(region) >= sizeof(ctx->region) || strlen(account) != 12) {
        return DD_NAMES_INVALID;
    }
    for (i = 0; region[i] != '\0'; i++) {
        char c = region[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return DD_NAMES_INVALID;
        }
    }
    for (i = 0; account[i] != '\0'; i++) {
        if (account[i] < '0' || account[i] > '9') {
            return DD_NAMES_INVALID;
        }
    }
    (void)snprintf(ctx->region, sizeof(ctx->region), "%s", region);
    (void)snprintf(ctx->account, sizeof(ctx->account), "%s", account);
    return DD_NAMES_OK;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool dd_name_valid(dd_name_kind_t kind, const char *name)
{
    const name_rule_t *rule;
    size_t len;
    size_t i;

    if (name == NULL || (unsigned)kind >= DD_NAME_KIND_COUNT) {
        return false;
    }
    rule = &RULES[kind];
    len = strlen(name);
    if (len < rule->min_len || len > rule->max_len) {
        return false;
    }
    if (kind == DD_NAME_CERTIFICATE) {
        for (i = 0; i < len; i++) {
            if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) {
                return false;
            }
        }
        return true;
    }
    for (i = 0; i < len; i++) {
        if (!is_alnum(name[i]) && strchr(rule->extra, name[i]) == NULL) {
            return false;
        }
    }
    if (kind == DD_NAME_CUSTOM_METRIC && strncmp(name, "aws:", 4) == 0) {
        return false;
    }
    return true;
}

const char *dd_name_pattern(dd_name_kind_t kind)
{
    return (unsigned)kind < DD_NAME_KIND_COUNT ? RULES[kind].pattern : "?";
}

const char *dd_name_noun(dd_name_kind_t kind)
{
    return (unsigned)kind < DD_NAME_KIND_COUNT ? RULES[kind].noun : "resource";
}

static dd_names_status_t put(size_t len, int n)
{
    return (n < 0 || (size_t)n >= len) ? DD_NAMES_BUFFER_TOO_SMALL : DD_NAMES_OK;
}

dd_names_status_t dd_arn_format(const dd_arn_ctx_t *ctx, dd_name_kind_t kind, const char *name,
                                char *buf, size_t len)
{
    if (ctx == NULL || name == NULL || buf == NULL || len == 0 ||
        (unsigned)kind >= DD_NAME_KIND_COUNT) {
        return DD_NAMES_BAD_PARAMETER;
    }
    if (kind == DD_NAME_SNS_TOPIC) {
        return put(len,
                   snprintf(buf, len, "arn:aws:sns:%s:%s:%s", ctx->region, ctx->account, name));
    }
    if (RULES[kind].arn_type == NULL) {
        return DD_NAMES_INVALID;
    }
    return put(len, snprintf(buf, len, "arn:aws:iot:%s:%s:%s/%s", ctx->region, ctx->account,
                             RULES[kind].arn_type, name));
}

/* Returns the part after "arn:aws:<service>:<region>:<account>:" or NULL. */
static const char *after_prefix(const dd_arn_ctx_t *ctx, const char *service, const char *arn)
{
    char prefix[DD_ARN_MAX];
    int n =
        snprintf(prefix, sizeof(prefix), "arn:aws:%s:%s:%s:", service, ctx->region, ctx->account);

    if (n < 0 || (size_t)n >= sizeof(prefix) || strncmp(arn, prefix, (size_t)n) != 0) {
        return NULL;
    }
    return arn + n;
}

static dd_names_status_t copy_name(dd_name_kind_t kind, const char *src, char *name, size_t len)
{
    if (!dd_name_valid(kind, src)) {
        return DD_NAMES_INVALID;
    }
    return put(len, snprintf(name, len, "%s", src));
}

dd_names_status_t dd_arn_parse(const dd_arn_ctx_t *ctx, dd_name_kind_t kind, const char *arn,
                               char *name, size_t len)
{
    const char *rest;
    size_t tlen;

    if (ctx == NULL || arn == NULL || name == NULL || len == 0 ||
        (unsigned)kind >= DD_NAME_KIND_COUNT) {
        return DD_NAMES_BAD_PARAMETER;
    }
    if (kind == DD_NAME_SNS_TOPIC) {
        rest = after_prefix(ctx, "sns", arn);
        return rest == NULL ? DD_NAMES_INVALID : copy_name(kind, rest, name, len);
    }
    if (RULES[kind].arn_type == NULL || (rest = after_prefix(ctx, "iot", arn)) == NULL) {
        return DD_NAMES_INVALID;
    }
    tlen = strlen(RULES[kind].arn_type);
    if (strncmp(rest, RULES[kind].arn_type, tlen) != 0 || rest[tlen] != '/') {
        return DD_NAMES_INVALID;
    }
    return copy_name(kind, rest + tlen + 1, name, len);
}

dd_names_status_t dd_arn_format_target(const dd_arn_ctx_t *ctx, dd_arn_target_t target,
                                       const char *group, char *buf, size_t len)
{
    const char *what;

    if (ctx == NULL || buf == NULL || len == 0) {
        return DD_NAMES_BAD_PARAMETER;
    }
    switch (target) {
    case DD_ARN_TARGET_THING_GROUP:
        return group == NULL ? DD_NAMES_BAD_PARAMETER
                             : dd_arn_format(ctx, DD_NAME_THING_GROUP, group, buf, len);
    case DD_ARN_TARGET_ALL_THINGS: what = "all/things"; break;
    case DD_ARN_TARGET_ALL_REGISTERED: what = "all/registered-things"; break;
    case DD_ARN_TARGET_ALL_UNREGISTERED: what = "all/unregistered-things"; break;
    default: return DD_NAMES_BAD_PARAMETER;
    }
    return put(len, snprintf(buf, len, "arn:aws:iot:%s:%s:%s", ctx->region, ctx->account, what));
}

dd_names_status_t dd_arn_parse_target(const dd_arn_ctx_t *ctx, const char *arn,
                                      dd_arn_target_t *target, char *group, size_t len)
{
    const char *rest;

    if (ctx == NULL || arn == NULL || target == NULL || group == NULL || len == 0) {
        return DD_NAMES_BAD_PARAMETER;
    }
    *target = DD_ARN_TARGET_NONE;
    group[0] = '\0';
    rest = after_prefix(ctx, "iot", arn);
    if (rest == NULL) {
        return DD_NAMES_INVALID;
    }
    if (strcmp(rest, "all/things") == 0) {
        *target = DD_ARN_TARGET_ALL_THINGS;
    } else if (strcmp(rest, "all/registered-things") == 0) {
        *target = DD_ARN_TARGET_ALL_REGISTERED;
    } else if (strcmp(rest, "all/unregistered-things") == 0) {
        *target = DD_ARN_TARGET_ALL_UNREGISTERED;
    } else if (strncmp(rest, "thinggroup/", 11) == 0) {
        dd_names_status_t st = copy_name(DD_NAME_THING_GROUP, rest + 11, group, len);
        if (st != DD_NAMES_OK) {
            return st;
        }
        *target = DD_ARN_TARGET_THING_GROUP;
    } else {
        return DD_NAMES_INVALID;
    }
    return DD_NAMES_OK;
}

const char *dd_names_strerror(dd_names_status_t status)
{
    switch (status) {
    case DD_NAMES_OK: return "ok";
    case DD_NAMES_BAD_PARAMETER: return "bad parameter";
    case DD_NAMES_INVALID: return "invalid name or ARN";
    case DD_NAMES_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown names status";
}
