/* AWS IoT logging options (v1 and v2): parse, call app/dd_logopts, map statuses. */
#include <stdio.h>
#include <string.h>

#include "dd_api_internal.h"
#include "dd_logopts.h"

/* In dd_logopts_level_t order. */
static const char *const LEVELS[] = {"DEBUG", "INFO", "ERROR", "WARN", "DISABLED", NULL};

static void logopts_error(api_ctx_t *ctx, dd_logopts_status_t status, const char *msg)
{
    switch (status) {
    case DD_LOGOPTS_OK: api_reply_empty(ctx); return;
    case DD_LOGOPTS_INVALID: api_error(ctx, "InvalidRequestException", "%s", msg); return;
    case DD_LOGOPTS_NOT_CONFIGURED:
        api_error(ctx, "NotConfiguredException", "Logging options are not configured");
        return;
    case DD_LOGOPTS_BAD_PARAMETER:
    case DD_LOGOPTS_STORE_ERROR: break;
    }
    api_error(ctx, "InternalException", "%s", dd_logopts_strerror(status));
}

/* An optional roleArn member copied into @p out; false = answered. */
static bool role_arn_arg(api_ctx_t *ctx, const cJSON *obj, bool required, char *out)
{
    const char *arn = NULL;

    if (dd_rest_json_string(obj, "roleArn", NULL, required, 1, DD_LOGOPTS_ROLE_ARN_MAX, DD_REST_ANY,
                            &arn, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    (void)snprintf(out, DD_LOGOPTS_ROLE_ARN_MAX + 1, "%s", arn != NULL ? arn : "");
    return true;
}

void api_set_v2_logging_options(api_ctx_t *ctx)
{
    dd_logopts_v2_t opts;
    int level = -1;
    char msg[DD_REST_MESSAGE_MAX];

    memset(&opts, 0, sizeof(opts));
    if (!role_arn_arg(ctx, ctx->body, false, opts.role_arn)) {
        return;
    }
    if (dd_rest_json_enum(ctx->body, "defaultLogLevel", false, LEVELS, &level, ctx->msg) ==
            DD_REST_INVALID ||
        dd_rest_json_bool(ctx->body, "disableAllLogs", false, &opts.disable_all, ctx->msg) ==
            DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    opts.has_level = level >= 0;
    opts.default_level = opts.has_level ? (dd_logopts_level_t)level : DD_LOGOPTS_ERROR;
    logopts_error(ctx, dd_logopts_set_v2(&ctx->p->registry, &opts, msg, sizeof(msg)), msg);
}

void api_get_v2_logging_options(api_ctx_t *ctx)
{
    dd_logopts_v2_t opts;
    dd_logopts_status_t status = dd_logopts_get_v2(&ctx->p->registry, &opts);
    cJSON *out;

    if (status != DD_LOGOPTS_OK) {
        logopts_error(ctx, status, "");
        return;
    }
    out = cJSON_CreateObject();
    if (out == NULL ||
        (opts.role_arn[0] != '\0' && !api_add_string(out, "roleArn", opts.role_arn)) ||
        (opts.has_level &&
         !api_add_string(out, "defaultLogLevel", dd_logopts_level_name(opts.default_level))) ||
        cJSON_AddBoolToObject(out, "disableAllLogs", opts.disable_all) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}

void api_set_logging_options(api_ctx_t *ctx)
{
    /* The model makes loggingOptionsPayload the HTTP body itself ("payload"). */
    const cJSON *payload = ctx->body;
    dd_logopts_v1_t opts;
    int level = -1;
    char msg[DD_REST_MESSAGE_MAX];

    memset(&opts, 0, sizeof(opts));
    if (!cJSON_IsObject(payload)) {
        api_error(ctx, "InvalidRequestException",
                  "loggingOptionsPayload is required: a JSON object body");
        return;
    }
    if (!role_arn_arg(ctx, payload, true, opts.role_arn)) {
        return;
    }
    if (dd_rest_json_enum(payload, "logLevel", false, LEVELS, &level, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return;
    }
    opts.has_level = level >= 0;
    opts.level = opts.has_level ? (dd_logopts_level_t)level : DD_LOGOPTS_ERROR;
    logopts_error(ctx, dd_logopts_set_v1(&ctx->p->registry, &opts, msg, sizeof(msg)), msg);
}

void api_get_logging_options(api_ctx_t *ctx)
{
    dd_logopts_v1_t opts;
    dd_logopts_status_t status = dd_logopts_get_v1(&ctx->p->registry, &opts);
    cJSON *out;

    /* GetLoggingOptions has no NotConfiguredException in the model: never set is "{}". */
    if (status == DD_LOGOPTS_NOT_CONFIGURED) {
        api_reply_empty(ctx);
        return;
    }
    if (status != DD_LOGOPTS_OK) {
        logopts_error(ctx, status, "");
        return;
    }
    out = cJSON_CreateObject();
    if (out == NULL || !api_add_string(out, "roleArn", opts.role_arn) ||
        (opts.has_level && !api_add_string(out, "logLevel", dd_logopts_level_name(opts.level)))) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_reply(ctx, out);
}
