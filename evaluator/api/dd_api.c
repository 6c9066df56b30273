#include "dd_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "dd_api_internal.h"
#include "dd_console.h"
#include "dd_engine.h"
#include "dd_json.h"
#include "dd_log.h"

/* ---- the operation table ---------------------------------------------------- */

/* The dispatcher holds the pipeline lock around the handler. */
#define API_LOCKED 0x1u

typedef struct api_op {
    const char *name;
    api_handler_fn fn;
    unsigned flags;
    dd_api_support_t support;
    const char *note; /* what is missing when partial */
} api_op_t;

#define OP(n, f, s, note)         \
    {                             \
        n, f, API_LOCKED, s, note \
    }
#define FULL DD_API_SUPPORTED
#define PART DD_API_PARTIAL

/* Sorted by name (bsearch). */
static const api_op_t OPS[] = {
    OP("AddThingToThingGroup", api_add_thing_to_thing_group, PART,
       "overrideDynamicGroups is ignored (ddlocal has static groups only)"),
    OP("AttachPolicy", api_attach_policy, PART,
       "targets: certificate and thing-group ARNs (no Cognito identities)"),
    OP("AttachSecurityProfile", api_attach_security_profile, FULL, ""),
    OP("AttachThingPrincipal", api_attach_thing_principal, PART,
       "principals: ddlocal's X.509 certificate ARNs; thingPrincipalType ignored"),
    OP("CancelAuditMitigationActionsTask", api_cancel_audit_mitigation_actions_task, PART,
       "tasks run synchronously, so only an IN_PROGRESS task (never observable) could be canceled"),
    OP("CancelAuditTask", api_cancel_audit_task, PART,
       "audits run synchronously, so only an IN_PROGRESS audit (never observable) could be "
       "canceled"),
    OP("CancelDetectMitigationActionsTask", api_cancel_detect_mitigation_actions_task, PART,
       "tasks run synchronously, so only an IN_PROGRESS task (never observable) could be canceled"),
    OP("CreateAuditSuppression", api_create_audit_suppression, FULL, ""),
    OP("CreateCertificateFromCsr", api_create_certificate_from_csr, FULL, ""),
    OP("CreateCustomMetric", api_create_custom_metric, FULL, ""),
    OP("CreateDimension", api_create_dimension, FULL, ""),
    {"CreateKeysAndCertificate", api_create_keys_and_certificate, 0, FULL, ""},
    OP("CreateMitigationAction", api_create_mitigation_action, FULL, ""),
    OP("CreatePolicy", api_create_policy, FULL, ""),
    OP("CreatePolicyVersion", api_create_policy_version, FULL, ""),
    OP("CreateProvisioningTemplate", api_create_provisioning_template, PART,
       "templateBody: the subset of the template language in provisioning.md; the "
       "provisioningRoleArn is stored, never assumed"),
    OP("CreateProvisioningTemplateVersion", api_create_provisioning_template_version, FULL, ""),
    OP("CreateScheduledAudit", api_create_scheduled_audit, PART,
       "runs at 00:00 UTC of its day on ddlocal's clock; tags are checked, not kept"),
    OP("CreateSecurityProfile", api_create_security_profile, FULL, ""),
    OP("CreateThing", api_create_thing, PART, "billing groups do not exist"),
    OP("CreateThingGroup", api_create_thing_group, FULL, ""),
    OP("CreateThingType", api_create_thing_type, PART, "mqtt5Configuration is ignored"),
    OP("DeleteAccountAuditConfiguration", api_delete_account_audit_configuration, FULL, ""),
    OP("DeleteAuditSuppression", api_delete_audit_suppression, FULL, ""),
    OP("DeleteCACertificate", api_delete_ca_certificate, FULL, ""),
    OP("DeleteCertificate", api_delete_certificate, FULL, ""),
    OP("DeleteCustomMetric", api_delete_custom_metric, FULL, ""),
    OP("DeleteDimension", api_delete_dimension, FULL, ""),
    OP("DeleteMitigationAction", api_delete_mitigation_action, FULL, ""),
    OP("DeletePolicy", api_delete_policy, FULL, ""),
    OP("DeletePolicyVersion", api_delete_policy_version, FULL, ""),
    OP("DeleteProvisioningTemplate", api_delete_provisioning_template, FULL, ""),
    OP("DeleteProvisioningTemplateVersion", api_delete_provisioning_template_version, FULL, ""),
    OP("DeleteScheduledAudit", api_delete_scheduled_audit, FULL, ""),
    OP("DeleteSecurityProfile", api_delete_security_profile, FULL, ""),
    OP("DeleteThing", api_delete_thing, FULL, ""),
    OP("DeleteThingGroup", api_delete_thing_group, FULL, ""),
    OP("DeleteThingType", api_delete_thing_type, FULL, ""),
    OP("DeprecateThingType", api_deprecate_thing_type, FULL, ""),
    OP("DescribeAccountAuditConfiguration", api_describe_account_audit_configuration, FULL, ""),
    OP("DescribeAuditFinding", api_describe_audit_finding, FULL, ""),
    OP("DescribeAuditMitigationActionsTask", api_describe_audit_mitigation_actions_task, FULL, ""),
    OP("DescribeAuditSuppression", api_describe_audit_suppression, FULL, ""),
    OP("DescribeAuditTask", api_describe_audit_task, FULL, ""),
    OP("DescribeCACertificate", api_describe_ca_certificate, PART, "no generationId"),
    OP("DescribeCertificate", api_describe_certificate, FULL, ""),
    OP("DescribeCustomMetric", api_describe_custom_metric, FULL, ""),
    OP("DescribeDetectMitigationActionsTask", api_describe_detect_mitigation_actions_task, FULL,
       ""),
    OP("DescribeDimension", api_describe_dimension, FULL, ""),
    OP("DescribeEndpoint", api_describe_endpoint, PART,
       "every endpointType answers with the local MQTT broker: a plain host on 8883, else "
       "host:port"),
    OP("DescribeMitigationAction", api_describe_mitigation_action, FULL, ""),
    OP("DescribeProvisioningTemplate", api_describe_provisioning_template, FULL, ""),
    OP("DescribeProvisioningTemplateVersion", api_describe_provisioning_template_version, FULL, ""),
    OP("DescribeScheduledAudit", api_describe_scheduled_audit, FULL, ""),
    OP("DescribeSecurityProfile", api_describe_security_profile, FULL, ""),
    OP("DescribeThing", api_describe_thing, FULL, ""),
    OP("DescribeThingGroup", api_describe_thing_group, PART,
       "static groups only (no indexName/queryString/status)"),
    OP("DescribeThingType", api_describe_thing_type, PART, "mqtt5Configuration is not kept"),
    OP("DetachPolicy", api_detach_policy, FULL, ""),
    OP("DetachSecurityProfile", api_detach_security_profile, FULL, ""),
    OP("DetachThingPrincipal", api_detach_thing_principal, FULL, ""),
    OP("GetBehaviorModelTrainingSummaries", api_get_behavior_model_training_summaries, PART,
       "ddlocal's own model (evaluation-semantics.md): PENDING_BUILD, then ACTIVE after 25,000 "
       "datapoints over 14 days of pipeline time"),
    OP("GetLoggingOptions", api_get_logging_options, PART,
       "stored and returned; the level drives ddlocald's own log (no CloudWatch)"),
    OP("GetPolicy", api_get_policy, FULL, ""),
    OP("GetPolicyVersion", api_get_policy_version, PART, "no generationId"),
    OP("GetRegistrationCode", api_get_registration_code, FULL, ""),
    OP("GetV2LoggingOptions", api_get_v2_logging_options, PART,
       "stored and returned; the level drives ddlocald's own log (no CloudWatch)"),
    OP("ListActiveViolations", api_list_active_violations, FULL, ""),
    OP("ListAttachedPolicies", api_list_attached_policies, FULL, ""),
    OP("ListAuditFindings", api_list_audit_findings, FULL, ""),
    OP("ListAuditMitigationActionsExecutions", api_list_audit_mitigation_actions_executions, FULL,
       ""),
    OP("ListAuditMitigationActionsTasks", api_list_audit_mitigation_actions_tasks, FULL, ""),
    OP("ListAuditSuppressions", api_list_audit_suppressions, FULL, ""),
    OP("ListAuditTasks", api_list_audit_tasks, FULL, ""),
    OP("ListCACertificates", api_list_ca_certificates, FULL, ""),
    OP("ListCertificates", api_list_certificates, FULL, ""),
    OP("ListCertificatesByCA", api_list_certificates_by_ca, FULL, ""),
    OP("ListCustomMetrics", api_list_custom_metrics, FULL, ""),
    OP("ListDetectMitigationActionsExecutions", api_list_detect_mitigation_actions_executions, FULL,
       ""),
    OP("ListDetectMitigationActionsTasks", api_list_detect_mitigation_actions_tasks, FULL, ""),
    OP("ListDimensions", api_list_dimensions, FULL, ""),
    OP("ListMetricValues", api_list_metric_values, FULL, ""),
    OP("ListMitigationActions", api_list_mitigation_actions, FULL, ""),
    OP("ListPolicies", api_list_policies, FULL, ""),
    OP("ListPolicyVersions", api_list_policy_versions, FULL, ""),
    OP("ListPrincipalThings", api_list_principal_things, FULL, ""),
    OP("ListProvisioningTemplateVersions", api_list_provisioning_template_versions, FULL, ""),
    OP("ListProvisioningTemplates", api_list_provisioning_templates, FULL, ""),
    OP("ListRelatedResourcesForAuditFinding", api_list_related_resources_for_audit_finding, FULL,
       ""),
    OP("ListScheduledAudits", api_list_scheduled_audits, FULL, ""),
    OP("ListSecurityProfiles", api_list_security_profiles, FULL, ""),
    OP("ListSecurityProfilesForTarget", api_list_security_profiles_for_target, FULL, ""),
    OP("ListTagsForResource", api_list_tags_for_resource, FULL, ""),
    OP("ListTargetsForPolicy", api_list_targets_for_policy, FULL, ""),
    OP("ListTargetsForSecurityProfile", api_list_targets_for_security_profile, FULL, ""),
    OP("ListThingGroups", api_list_thing_groups, FULL, ""),
    OP("ListThingGroupsForThing", api_list_thing_groups_for_thing, FULL, ""),
    OP("ListThingPrincipals", api_list_thing_principals, FULL, ""),
    OP("ListThingTypes", api_list_thing_types, PART, "mqtt5Configuration is not kept"),
    OP("ListThings", api_list_things, FULL, ""),
    OP("ListThingsInThingGroup", api_list_things_in_thing_group, FULL, ""),
    OP("ListViolationEvents", api_list_violation_events, FULL, ""),
    OP("PutVerificationStateOnViolation", api_put_verification_state_on_violation, FULL, ""),
    OP("RegisterCACertificate", api_register_ca_certificate, PART,
       "tags are not kept; auto-registration and registrationConfig are stored, never run"),
    OP("RegisterCertificate", api_register_certificate, FULL, ""),
    OP("RegisterCertificateWithoutCA", api_register_certificate_without_ca, PART,
       "only a self-signed certificate (or one from a CA the broker trusts) can connect"),
    OP("RemoveThingFromThingGroup", api_remove_thing_from_thing_group, FULL, ""),
    OP("SetDefaultPolicyVersion", api_set_default_policy_version, FULL, ""),
    OP("SetLoggingOptions", api_set_logging_options, PART,
       "the roleArn is stored, never assumed; logLevel sets ddlocald's own log level"),
    OP("SetV2LoggingOptions", api_set_v2_logging_options, PART,
       "the roleArn is stored, never assumed; defaultLogLevel sets ddlocald's own log level"),
    OP("StartAuditMitigationActionsTask", api_start_audit_mitigation_actions_task, PART,
       "runs synchronously; each execution is what app/dd_mitigate's executor for the action type "
       "does"),
    OP("StartDetectMitigationActionsTask", api_start_detect_mitigation_actions_task, PART,
       "runs synchronously; UPDATE_CA_CERTIFICATE, REPLACE_DEFAULT_POLICY_VERSION and "
       "PUBLISH_FINDING_TO_SNS are recorded as FAILED NotSupported executions on a thing"),
    OP("StartOnDemandAuditTask", api_start_on_demand_audit_task, PART,
       "runs synchronously; checks ddlocal does not compute answer COMPLETED_COMPLIANT with a "
       "message (docs/reference/audit.md)"),
    OP("TagResource", api_tag_resource, PART,
       "thing groups, thing types, policies, security profiles, custom metrics, dimensions, "
       "mitigation actions and provisioning templates"),
    OP("UntagResource", api_untag_resource, FULL, ""),
    OP("UpdateAccountAuditConfiguration", api_update_account_audit_configuration, PART,
       "roleArn and the SNS target's roleArn are stored, never assumed"),
    OP("UpdateAuditSuppression", api_update_audit_suppression, FULL, ""),
    OP("UpdateCACertificate", api_update_ca_certificate, FULL, ""),
    OP("UpdateCertificate", api_update_certificate, PART,
       "statuses ACTIVE, INACTIVE, REVOKED (no certificate transfer)"),
    OP("UpdateCustomMetric", api_update_custom_metric, FULL, ""),
    OP("UpdateDimension", api_update_dimension, FULL, ""),
    OP("UpdateMitigationAction", api_update_mitigation_action, FULL, ""),
    OP("UpdateProvisioningTemplate", api_update_provisioning_template, PART,
       "a preProvisioningHook is stored; RegisterThing refuses templates that have one"),
    OP("UpdateScheduledAudit", api_update_scheduled_audit, FULL, ""),
    OP("UpdateSecurityProfile", api_update_security_profile, FULL, ""),
    OP("UpdateThing", api_update_thing, FULL, ""),
    OP("UpdateThingGroup", api_update_thing_group, FULL, ""),
    OP("UpdateThingGroupsForThing", api_update_thing_groups_for_thing, PART,
       "overrideDynamicGroups is ignored (ddlocal has static groups only)"),
    OP("ValidateSecurityProfileBehaviors", api_validate_security_profile_behaviors, FULL, ""),

};

#define OP_COUNT (sizeof(OPS) / sizeof(OPS[0]))

static const api_op_t *find_op(const char *name)
{
    size_t lo = 0;
    size_t hi = OP_COUNT;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(OPS[mid].name, name);
        if (c == 0) {
            return &OPS[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

dd_api_support_t dd_api_operation_support(const char *operation, const char **note)
{
    const api_op_t *op = operation != NULL ? find_op(operation) : NULL;

    if (note != NULL) {
        *note = op != NULL ? op->note : "";
    }
    return op != NULL ? op->support : DD_API_NOT_SUPPORTED;
}

/* ---- replies ------------------------------------------------------------------ */

static void set_body(api_ctx_t *ctx, int status, const char *code, char *body)
{
    dd_api_response_t *r = ctx->resp;

    free(r->body);
    r->status = status;
    (void)snprintf(r->error_code, sizeof(r->error_code), "%s", code != NULL ? code : "");
    r->body = body;
    r->body_len = body != NULL ? strlen(body) : 0;
    ctx->answered = true;
}

static void reply_error_raw(api_ctx_t *ctx, const char *code, const char *message, const char *id,
                            const char *arn)
{
    char *body = dd_rest_error_body(message, id, arn);
    int status = dd_rest_error_status(code);

    if (body == NULL) {
        body = strdup("{\"message\":\"out of memory\"}");
        code = "InternalFailureException";
        status = 500;
    }
    if (status >= 500) {
        DD_LOG_WARN("api: %s %s -> %d %s: %s", ctx->req->method, ctx->req->uri, status, code,
                    message);
    } else {
        DD_LOG_DEBUG("api: %s %s -> %d %s: %s", ctx->req->method, ctx->req->uri, status, code,
                     message);
    }
    set_body(ctx, status, code, body);
}

void api_reply(api_ctx_t *ctx, cJSON *obj)
{
    char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

    cJSON_Delete(obj);
    if (text == NULL) {
        api_no_memory(ctx);
        return;
    }
    set_body(ctx, 200, NULL, text);
}

void api_reply_empty(api_ctx_t *ctx)
{
    char *text = strdup("{}");

    if (text == NULL) {
        api_no_memory(ctx);
        return;
    }
    set_body(ctx, 200, NULL, text);
}

void api_error(api_ctx_t *ctx, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    reply_error_raw(ctx, code, message, NULL, NULL);
}

void api_error_exists(api_ctx_t *ctx, const char *message, const char *id, const char *arn)
{
    reply_error_raw(ctx, "ResourceAlreadyExistsException", message, id, arn);
}

void api_invalid(api_ctx_t *ctx)
{
    reply_error_raw(ctx, "InvalidRequestException",
                    ctx->msg[0] != '\0' ? ctx->msg : "Invalid request", NULL, NULL);
}

void api_no_memory(api_ctx_t *ctx)
{
    reply_error_raw(ctx, "InternalFailureException", "Out of memory", NULL, NULL);
}

void api_registry_error(api_ctx_t *ctx, dd_registry_status_t status, const dd_registry_error_t *err)
{
    const char *message =
        (err != NULL && err->message[0] != '\0') ? err->message : dd_registry_strerror(status);

    switch (status) {
    case DD_REGISTRY_OK: api_reply_empty(ctx); return;
    case DD_REGISTRY_INVALID:
        reply_error_raw(ctx, "InvalidRequestException", message, NULL, NULL);
        return;
    case DD_REGISTRY_NOT_FOUND:
        reply_error_raw(ctx, "ResourceNotFoundException", message, NULL, NULL);
        return;
    case DD_REGISTRY_ALREADY_EXISTS:
        reply_error_raw(ctx, "ResourceAlreadyExistsException", message,
                        err != NULL ? err->resource_id : NULL,
                        err != NULL ? err->resource_arn : NULL);
        return;
    case DD_REGISTRY_VERSION_CONFLICT:
        reply_error_raw(ctx, "VersionConflictException", message, NULL, NULL);
        return;
    case DD_REGISTRY_DELETE_CONFLICT:
        reply_error_raw(ctx, "DeleteConflictException", message, NULL, NULL);
        return;
    case DD_REGISTRY_LIMIT_EXCEEDED:
        reply_error_raw(ctx, "LimitExceededException", message, NULL, NULL);
        return;
    case DD_REGISTRY_BAD_PARAMETER:
    case DD_REGISTRY_STORE_ERROR: break;
    }
    reply_error_raw(ctx, "InternalFailureException", message, NULL, NULL);
}

bool api_request_digest(const api_ctx_t *ctx, char out[DD_STORE_DIGEST_MAX])
{
    static const char HEX[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    const char *uri = ctx->req->uri != NULL ? ctx->req->uri : "";
    bool ok = md_ctx != NULL && EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md_ctx, uri, strlen(uri) + 1) == 1 &&
              (ctx->req->body == NULL ||
               EVP_DigestUpdate(md_ctx, ctx->req->body, ctx->req->body_len) == 1) &&
              EVP_DigestFinal_ex(md_ctx, md, &len) == 1 && len * 2 < DD_STORE_DIGEST_MAX;

    EVP_MD_CTX_free(md_ctx);
    out[0] = '\0';
    if (!ok) {
        return false;
    }
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = HEX[md[i] >> 4];
        out[2 * i + 1] = HEX[md[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return true;
}

void api_store_error(api_ctx_t *ctx, dd_store_status_t status, const char *what)
{
    const char *w = what != NULL ? what : "Resource";

    switch (status) {
    case DD_STORE_OK: api_reply_empty(ctx); return;
    case DD_STORE_NOT_FOUND:
        api_error(ctx, "ResourceNotFoundException", "%s does not exist", w);
        return;
    case DD_STORE_EXISTS:
        api_error(ctx, "ResourceAlreadyExistsException", "%s already exists", w);
        return;
    case DD_STORE_VERSION_CONFLICT:
        api_error(ctx, "VersionConflictException",
                  "%s: expectedVersion does not match the current version", w);
        return;
    case DD_STORE_LIMIT: api_error(ctx, "LimitExceededException", "%s: limit exceeded", w); return;
    case DD_STORE_IN_USE:
        api_error(ctx, "InvalidRequestException", "%s is still used by a security profile", w);
        return;
    case DD_STORE_BAD_TOKEN: api_error(ctx, "InvalidRequestException", "Invalid nextToken"); return;
    case DD_STORE_BAD_PARAMETER:
        api_error(ctx, "InvalidRequestException", "%s: invalid request", w);
        return;
    case DD_STORE_NO_MEMORY: api_no_memory(ctx); return;
    case DD_STORE_SQL_ERROR:
    case DD_STORE_CORRUPT: break;
    }
    api_error(ctx, "InternalFailureException", "%s: internal store error (%s)", w,
              dd_store_strerror(status));
}

/* ---- helpers -------------------------------------------------------------------- */

const char *api_label_name(api_ctx_t *ctx, const char *label, size_t max, dd_rest_charset_t cs)
{
    const char *v = dd_route_label(ctx->route, label);

    if (v == NULL) {
        api_error(ctx, "InternalFailureException", "Route has no label %s", label);
        return NULL;
    }
    if (dd_rest_check_string(label, v, 1, max, cs, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return NULL;
    }
    return v;
}

int64_t api_now_ms(const api_ctx_t *ctx)
{
    int64_t now = dd_clock_now_ms(&ctx->p->clock);

    if (ctx->p->engine != NULL && dd_engine_now(ctx->p->engine) > now) {
        now = dd_engine_now(ctx->p->engine);
    }
    return now;
}

void api_lock(api_ctx_t *ctx)
{
    (void)pthread_mutex_lock(&ctx->p->lock);
    ctx->locked = true;
}

void api_unlock(api_ctx_t *ctx)
{
    if (ctx->registry_changed && ctx->p->registry_changed != NULL) {
        ctx->p->registry_changed(ctx->p->hook_ctx);
    }
    if (ctx->defender_changed && ctx->p->defender_changed != NULL) {
        ctx->p->defender_changed(ctx->p->hook_ctx);
    }
    ctx->registry_changed = false;
    ctx->defender_changed = false;
    ctx->locked = false;
    (void)pthread_mutex_unlock(&ctx->p->lock);
}

bool api_add_string(cJSON *obj, const char *name, const char *value)
{
    if (value == NULL) {
        return true;
    }
    return cJSON_AddStringToObject(obj, name, value) != NULL;
}

bool api_add_token(cJSON *obj, const char *member, const char *key)
{
    char token[DD_REST_TOKEN_MAX];

    if (key == NULL || key[0] == '\0') {
        return true;
    }
    if (dd_rest_token_encode(key, token, sizeof(token)) != DD_REST_OK) {
        return false;
    }
    return cJSON_AddStringToObject(obj, member != NULL ? member : "nextToken", token) != NULL;
}

bool api_page_args(api_ctx_t *ctx, const char *size_name, const char *token_name, int max,
                   int *size, char key[DD_REST_TOKEN_KEY_MAX])
{
    if (dd_rest_query_page_size(&ctx->query, size_name, max,
                                max < API_DEFAULT_PAGE ? max : API_DEFAULT_PAGE, size,
                                ctx->msg) != DD_REST_OK ||
        dd_rest_query_token(&ctx->query, token_name, key, DD_REST_TOKEN_KEY_MAX, ctx->msg) !=
            DD_REST_OK) {
        api_invalid(ctx);
        return false;
    }
    return true;
}

void api_arn(const api_ctx_t *ctx, dd_name_kind_t kind, const char *name, char *buf, size_t len)
{
    if (dd_arn_format(&ctx->p->arn, kind, name, buf, len) != DD_NAMES_OK && len > 0) {
        buf[0] = '\0';
    }
}

bool api_expected_version_query(api_ctx_t *ctx, int64_t *out)
{
    *out = -1;
    if (dd_rest_query_int(&ctx->query, "expectedVersion", false, 0, INT64_MAX, out, ctx->msg) ==
        DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    return true;
}

/* Body member "tags": accepted (list of {Key, Value}) and ignored. */
bool api_tags_arg(api_ctx_t *ctx)
{
    const cJSON *tags;
    const cJSON *t;
    const char *s;

    if (dd_rest_json_array(ctx->body, "tags", false, 0, 50, &tags, ctx->msg) == DD_REST_INVALID) {
        api_invalid(ctx);
        return false;
    }
    if (tags == NULL) {
        return true;
    }
    cJSON_ArrayForEach (t, tags) {
        if (dd_rest_json_string(t, "Key", "tags.member.Key", true, 1, 128, DD_REST_ANY, &s,
                                ctx->msg) != DD_REST_OK ||
            dd_rest_json_string(t, "Value", "tags.member.Value", false, 0, 256, DD_REST_ANY, &s,
                                ctx->msg) == DD_REST_INVALID) {
            api_invalid(ctx);
            return false;
        }
        /* Checked here so a Create never makes a resource and then refuses its tags. */
        if (strncmp(cJSON_GetObjectItemCaseSensitive(t, "Key")->valuestring, "aws:", 4) == 0) {
            api_error(ctx, "InvalidRequestException", "Tag keys starting with aws: are reserved");
            return false;
        }
    }
    return true;
}

/* ---- dispatch --------------------------------------------------------------------- */

static bool body_is_blank(const char *body, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n') {
            return false;
        }
    }
    return true;
}

static void dispatch(api_ctx_t *ctx, char *path)
{
    static __thread dd_route_match_t route;
    const api_op_t *op;
    dd_route_status_t rs;
    char *query = strchr(path, '?');

    if (query != NULL) {
        *query++ = '\0';
    }
    if (strncmp(path, "/ddlocal/", 9) == 0 && ctx->p->extension != NULL) {
        /* ddlocal's own operations (clock, status): answered by the service. */
        char *text = NULL;
        int status;
        if (query != NULL) {
            query[-1] = '?'; /* the service reads its own query (GET /ddlocal/v1/events?after=) */
        }
        status = ctx->p->extension(ctx->p->hook_ctx, ctx->req->method, path, ctx->req->body,
                                   ctx->req->body_len, &text);
        if (query != NULL) {
            query[-1] = '\0';
        }
        if (text != NULL) {
            ctx->resp->status = status;
            ctx->resp->body = text;
            ctx->resp->body_len = strlen(text);
            if (status >= 400) {
                (void)snprintf(ctx->resp->error_code, sizeof(ctx->resp->error_code), "%s",
                               status == 404 ? "ResourceNotFoundException"
                                             : "InvalidRequestException");
            }
            ctx->answered = true;
            return;
        }
    }
    rs = dd_route_match(ctx->req->method, path, &route);
    ctx->route = &route;
    if (rs == DD_ROUTE_WRONG_METHOD) {
        api_error(ctx, "InvalidRequestException",
                  "ddlocal: no AWS IoT operation is %s %.200s (that path takes %s)",
                  ctx->req->method, path, route.allowed);
        return;
    }
    if (rs == DD_ROUTE_NOT_FOUND) {
        api_error(ctx, "InvalidRequestException", "ddlocal: no AWS IoT operation matches %s %.200s",
                  ctx->req->method, path);
        return;
    }
    if (rs != DD_ROUTE_OK) {
        api_error(ctx, "InvalidRequestException", "Invalid request path %.200s: %s", path,
                  dd_route_strerror(rs));
        return;
    }
    (void)snprintf(ctx->resp->operation, sizeof(ctx->resp->operation), "%s", route.operation);
    op = find_op(route.operation);
    if (op == NULL) {
        api_error(ctx, "InvalidRequestException",
                  "ddlocal does not implement %s (see docs/reference/api.md for the supported "
                  "operations)",
                  route.operation);
        return;
    }
    if (dd_rest_query_parse(query, &ctx->query, ctx->msg) != DD_REST_OK) {
        api_invalid(ctx);
        return;
    }
    if (ctx->req->body != NULL && !body_is_blank(ctx->req->body, ctx->req->body_len)) {
        dd_json_error_t jerr;
        dd_json_status_t js =
            dd_json_parse(ctx->req->body, ctx->req->body_len, 0, &ctx->body, &jerr);

        if (js == DD_JSON_NO_MEMORY) {
            api_error(ctx, "InternalFailureException", "Out of memory reading the request body");
            return;
        }
        /* AWS IoT's model has no SerializationException: a body that is not JSON is the same
         * modeled InvalidRequestException (400) as a body that is not an object. */
        if (js != DD_JSON_OK) {
            api_error(ctx, "InvalidRequestException", "The request body is not valid JSON: %s",
                      jerr.message);
            return;
        }
        if (!cJSON_IsObject(ctx->body)) {
            api_error(ctx, "InvalidRequestException", "The request body is not a JSON object");
            return;
        }
    }
    if ((op->flags & API_LOCKED) != 0u) {
        api_lock(ctx);
        op->fn(ctx);
        api_unlock(ctx);
    } else {
        op->fn(ctx);
        if (ctx->locked) {
            api_unlock(ctx);
        }
    }
    if (!ctx->answered) {
        api_error(ctx, "InternalFailureException", "%s produced no answer", route.operation);
    }
}

dd_api_status_t dd_api_call(dd_api_t *api, const dd_api_request_t *req, dd_api_response_t *resp)
{
    api_ctx_t ctx;
    char *path;

    if (api == NULL || req == NULL || resp == NULL || req->method == NULL || req->uri == NULL) {
        return DD_API_BAD_PARAMETER;
    }
    memset(resp, 0, sizeof(*resp));
    dd_rest_request_id(resp->request_id);
    memset(&ctx, 0, sizeof(ctx));
    ctx.api = api;
    ctx.p = api->p;
    ctx.req = req;
    ctx.resp = resp;
    path = strdup(req->uri);
    if (path == NULL) {
        return DD_API_NO_MEMORY;
    }
    dispatch(&ctx, path);
    free(path);
    dd_rest_query_free(&ctx.query);
    cJSON_Delete(ctx.body);
    if (resp->body == NULL) {
        return DD_API_NO_MEMORY;
    }
    return DD_API_OK;
}

void dd_api_response_free(dd_api_response_t *resp)
{
    if (resp != NULL) {
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
    }
}

/* ---- HTTP (libmicrohttpd) ----------------------------------------------------------- */

typedef struct http_req {
    char *uri; /* raw request target, from the URI log callback */
    bool started;
    bool too_large;
    char *body;
    size_t len;
    size_t cap;
} http_req_t;

/* The raw URI (path and query, still percent-encoded) is what routing needs. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_req_t *r = calloc(1, sizeof(*r));

    (void)cls;
    (void)conn;
    if (r != NULL) {
        r->uri = strdup(uri != NULL ? uri : "/");
    }
    return r;
}

/* Keep MHD from decoding %2F into '/' before routing: decoding is ours, per segment. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req_t *r = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r != NULL) {
        free(r->uri);
        free(r->body);
        free(r);
        *req_cls = NULL;
    }
}

static const char *header_lookup(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_HEADER_KIND, name);
}

static bool append_body(http_req_t *r, const char *data, size_t n)
{
    if (r->len + n > DD_API_MAX_BODY) {
        r->too_large = true;
        return true;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap == 0 ? 4096 : r->cap;
        char *nb;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        nb = realloc(r->body, cap);
        if (nb == NULL) {
            return false;
        }
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return true;
}

static enum MHD_Result queue(struct MHD_Connection *conn, const dd_api_response_t *resp, char *body,
                             size_t len)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;

    mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (mr == NULL) {
        free(body);
        return MHD_NO;
    }
    (void)MHD_add_response_header(mr, "Content-Type", "application/json");
    (void)MHD_add_response_header(mr, "x-amzn-RequestId", resp->request_id);
    if (resp->error_code[0] != '\0') {
        (void)MHD_add_response_header(mr, "x-amzn-ErrorType", resp->error_code);
    }
    ret = MHD_queue_response(conn, (unsigned int)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* The console's static files (dd_console.h), on the API's own port and address. */
static enum MHD_Result serve_console(dd_api_t *api, struct MHD_Connection *conn, const char *method,
                                     const char *uri)
{
    char dir[DD_CONSOLE_DIR_MAX];
    dd_console_file_t file;
    struct MHD_Response *mr;
    enum MHD_Result ret;

    if (dd_console_dir(api->p->console_dir, dir, sizeof(dir)) != DD_CONSOLE_OK ||
        dd_console_get(dir, method, uri, &file) != DD_CONSOLE_OK) {
        return MHD_NO;
    }
    mr = MHD_create_response_from_buffer(file.len, file.body, MHD_RESPMEM_MUST_FREE);
    if (mr == NULL) {
        dd_console_file_free(&file);
        return MHD_NO;
    }
    (void)MHD_add_response_header(mr, "Content-Type", file.content_type);
    if (file.location != NULL) {
        (void)MHD_add_response_header(mr, "Location", file.location);
    }
    /* Edited files show on reload; the pages may load nothing from any other origin. */
    (void)MHD_add_response_header(mr, "Cache-Control", "no-cache");
    (void)MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(mr, "Content-Security-Policy",
                                  "default-src 'self'; img-src 'self' data:; "
                                  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    ret = MHD_queue_response(conn, (unsigned int)file.status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/*
 * A /ddlocal/ answer that waits (GET /ddlocal/v1/events/stream, the
 * long-poll /ddlocal/v1/events?timeout=MS): chunked, read from the service's
 * stream. While it has nothing the connection is suspended, so a waiting
 * client holds no thread of the pool; the service resumes it (an event, the
 * long-poll's deadline, the stop).
 */
typedef struct api_stream {
    dd_api_t *api;
    struct MHD_Connection *conn;
    void *stream;
} api_stream_t;

static void stream_ready(void *arg)
{
    api_stream_t *s = arg;

    MHD_resume_connection(s->conn);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    api_stream_t *s = cls;
    long n = s->api->p->stream_read(s->stream, buf, max);

    (void)pos;
    if (n > 0) {
        return (ssize_t)n;
    }
    if (n < 0) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(s->conn);
    s->api->p->stream_notify(s->stream, stream_ready, s); /* may resume at once */
    return 0;
}

static void stream_free(void *cls)
{
    api_stream_t *s = cls;

    s->api->p->stream_close(s->stream);
    free(s);
}

/* MHD_YES/MHD_NO when @p uri was a stream of the service's, else -1. */
static int serve_stream(dd_api_t *api, struct MHD_Connection *conn, const char *method,
                        const char *uri)
{
    dd_api_response_t resp;
    api_stream_t *s;
    struct MHD_Response *mr;
    enum MHD_Result ret;
    char *text = NULL;
    void *stream = NULL;
    const char *content_type = "application/json";
    int status;

    if (api->p->stream_open == NULL || strncmp(uri, "/ddlocal/", 9) != 0) {
        return -1;
    }
    status = api->p->stream_open(api->p->hook_ctx, method, uri, &stream, &content_type, &text);
    if (status == 0) {
        return -1;
    }
    if (status != 200) {
        memset(&resp, 0, sizeof(resp));
        dd_rest_request_id(resp.request_id);
        resp.status = status;
        (void)snprintf(resp.error_code, sizeof(resp.error_code), "InvalidRequestException");
        return text != NULL ? queue(conn, &resp, text, strlen(text)) : MHD_NO;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        api->p->stream_close(stream);
        return MHD_NO;
    }
    s->api = api;
    s->conn = conn;
    s->stream = stream;
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, s, stream_free);
    if (mr == NULL) {
        stream_free(s);
        return MHD_NO;
    }
    (void)MHD_add_response_header(mr, "Content-Type", content_type);
    (void)MHD_add_response_header(mr, "Cache-Control", "no-cache");
    ret = MHD_queue_response(conn, 200, mr);
    MHD_destroy_response(mr);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    dd_api_t *api = cls;
    http_req_t *r = *req_cls;
    dd_api_request_t req;
    dd_api_response_t resp;

    (void)url;
    (void)version;
    if (r == NULL || r->uri == NULL) {
        return MHD_NO;
    }
    if (!r->started) {
        r->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!append_body(r, upload_data, *upload_data_size)) {
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large) {
        memset(&resp, 0, sizeof(resp));
        dd_rest_request_id(resp.request_id);
        resp.status = 400;
        (void)snprintf(resp.error_code, sizeof(resp.error_code), "InvalidRequestException");
        resp.body = dd_rest_error_body("The request body is larger than ddlocal accepts (2 MiB)",
                                       NULL, NULL);
        if (resp.body == NULL) {
            return MHD_NO;
        }
        return queue(conn, &resp, resp.body, strlen(resp.body));
    }
    if (dd_console_is_target(r->uri)) {
        return serve_console(api, conn, method, r->uri);
    }
    {
        int streamed = serve_stream(api, conn, method, r->uri);
        if (streamed >= 0) {
            return (enum MHD_Result)streamed;
        }
    }
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.uri = r->uri;
    req.body = r->body;
    req.body_len = r->len;
    req.header = header_lookup;
    req.header_ctx = conn;
    if (dd_api_call(api, &req, &resp) != DD_API_OK) {
        dd_api_response_free(&resp);
        return MHD_NO;
    }
    return queue(conn, &resp, resp.body, resp.body_len);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    DD_LOG_WARN("api: http: %s", line);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

/*
 * DD_API_MAX_CONNECTIONS, or fewer when the process may not open that many
 * files: the store, the broker connection and libcurl need descriptors too.
 */
static unsigned int connection_limit(void)
{
    struct rlimit rl;
    rlim_t room;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return DD_API_MAX_CONNECTIONS;
    }
    room = rl.rlim_cur > DD_API_RESERVED_FDS + 16 ? rl.rlim_cur - DD_API_RESERVED_FDS : 16;
    if (room < DD_API_MAX_CONNECTIONS) {
        DD_LOG_WARN("api: at most %u connections (open-file limit %llu); raise it with ulimit -n",
                    (unsigned)room, (unsigned long long)rl.rlim_cur);
        return (unsigned int)room;
    }
    return DD_API_MAX_CONNECTIONS;
}

dd_api_status_t dd_api_create(dd_pipeline_t *pipeline, dd_api_t **out)
{
    dd_api_t *api;
    size_t i;

    if (pipeline == NULL || out == NULL || pipeline->db == NULL) {
        return DD_API_BAD_PARAMETER;
    }
    *out = NULL;
    for (i = 0; i < OP_COUNT; i++) {
        /* A typo in the table would silently make an operation unreachable. */
        if (!dd_route_known(OPS[i].name) || (i > 0 && strcmp(OPS[i - 1].name, OPS[i].name) >= 0)) {
            DD_LOG_ERROR("api: operation table entry %s is unknown or out of order", OPS[i].name);
            return DD_API_BAD_PARAMETER;
        }
    }
    api = calloc(1, sizeof(*api));
    if (api == NULL) {
        return DD_API_NO_MEMORY;
    }
    api->p = pipeline;
    if (dd_pki_ca_ensure(pipeline->data_dir, &api->ca) != DD_PKI_OK) {
        DD_LOG_ERROR("api: cannot load the CA of %s", pipeline->data_dir);
        free(api);
        return DD_API_PKI_ERROR;
    }
    (void)pthread_mutex_lock(&pipeline->lock);
    if (api_mitigation_open(api) != DD_MITIGATE_OK) {
        (void)pthread_mutex_unlock(&pipeline->lock);
        dd_pki_ca_free(api->ca);
        free(api);
        return DD_API_STORE_ERROR;
    }
    (void)pthread_mutex_unlock(&pipeline->lock);
    *out = api;
    return DD_API_OK;
}

dd_api_status_t dd_api_listen(dd_api_t *api, const char *bind_addr, uint16_t port)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    if (api == NULL) {
        return DD_API_BAD_PARAMETER;
    }
    if (api->daemon != NULL) {
        return DD_API_STATE;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_addr != NULL ? bind_addr : "127.0.0.1", &addr.sin_addr) != 1) {
        return DD_API_BAD_PARAMETER;
    }
    /*
     * A thread per connection let 63 idle clients (DD_API_MAX_CONNECTIONS was 64)
     * lock everyone else out until the idle timeout. A small pool of polling
     * threads (epoll on Linux) keeps an idle connection down to a socket, so
     * the limit can be high; no per-IP limit: on loopback every client,
     * the isolator included, has the same address.
     */
    api->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        on_request, api, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)DD_API_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit(), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)DD_API_IDLE_TIMEOUT_S, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)DD_API_MAX_CONNECTIONS, MHD_OPTION_END);
    if (api->daemon == NULL) {
        DD_LOG_ERROR("api: cannot listen on %s:%u", bind_addr != NULL ? bind_addr : "127.0.0.1",
                     (unsigned)port);
        return DD_API_LISTEN_FAILED;
    }
    info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info != NULL ? info->port : port;
    DD_LOG_INFO("api: listening on http://%s:%u", bind_addr != NULL ? bind_addr : "127.0.0.1",
                (unsigned)api->port);
    return DD_API_OK;
}

dd_api_status_t dd_api_start(dd_pipeline_t *pipeline, const char *bind_addr, uint16_t port,
                             dd_api_t **out)
{
    dd_api_status_t status;
    dd_api_t *api = NULL;

    if (out == NULL) {
        return DD_API_BAD_PARAMETER;
    }
    *out = NULL;
    status = dd_api_create(pipeline, &api);
    if (status != DD_API_OK) {
        return status;
    }
    status = dd_api_listen(api, bind_addr, port);
    if (status != DD_API_OK) {
        dd_api_stop(api);
        return status;
    }
    *out = api;
    return DD_API_OK;
}

uint16_t dd_api_port(const dd_api_t *api)
{
    return api != NULL && api->daemon != NULL ? api->port : 0;
}

void dd_api_stop(dd_api_t *api)
{
    if (api == NULL) {
        return;
    }
    if (api->daemon != NULL) {
        MHD_stop_daemon(api->daemon);
        api->daemon = NULL;
    }
    dd_mitigate_close(api->mitigation);
    dd_pki_ca_free(api->ca);
    free(api);
}

const char *dd_api_strerror(dd_api_status_t status)
{
    switch (status) {
    case DD_API_OK: return "ok";
    case DD_API_BAD_PARAMETER: return "bad parameter";
    case DD_API_NO_MEMORY: return "out of memory";
    case DD_API_PKI_ERROR: return "cannot load the data dir's CA";
    case DD_API_STORE_ERROR: return "cannot set up mitigation (no store)";
    case DD_API_LISTEN_FAILED: return "cannot start the HTTP server";
    case DD_API_STATE: return "already listening";
    }
    return "unknown status";
}
