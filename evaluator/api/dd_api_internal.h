/**
 * @file dd_api_internal.h
 * @brief Shared by the API's source files (dd_api.c and the handler files
 *        dd_api_registry.c, dd_api_identity.c, dd_api_defender.c,
 *        dd_api_mitigation.c, dd_api_logging.c, dd_api_cacerts.c, dd_api_audit.c,
 *        dd_api_provisioning.c): the per-request context, reply helpers and
 *        the handler declarations. Not a public header.
 *
 * A handler reads ctx->route (labels), ctx->query and ctx->body and answers
 * with exactly one api_reply*() or api_error*() call. Handlers flagged
 * API_LOCKED run with the pipeline lock held by the dispatcher; they set
 * ctx->registry_changed / ctx->defender_changed after a successful
 * mutation and the dispatcher calls the hooks before unlocking.
 */
#ifndef DD_API_INTERNAL_H_
#define DD_API_INTERNAL_H_

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_api.h"
#include "dd_mitigate.h"
#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_rest.h"
#include "dd_route.h"
#include "dd_store.h"

/** Default page size of the list operations (AWS's is 25 for most). */
#define API_DEFAULT_PAGE 25
/** Largest page: maxResults' model maximum. */
#define API_MAX_PAGE 250

struct dd_api {
    dd_pipeline_t *p;          /**< Borrowed. */
    dd_pki_ca_t *ca;           /**< The data dir's CA. */
    dd_mitigate_t *mitigation; /**< Mitigation actions and tasks (app/dd_mitigate). */
    struct MHD_Daemon *daemon; /**< NULL until dd_api_listen(). */
    uint16_t port;
};

/** One request being handled. */
typedef struct api_ctx {
    dd_api_t *api;
    dd_pipeline_t *p;
    const dd_api_request_t *req;
    const dd_route_match_t *route;
    dd_rest_query_t query;
    cJSON *body; /**< Parsed JSON object; NULL for an empty body. */
    dd_api_response_t *resp;
    bool answered;
    bool locked;                   /**< The dispatcher holds the pipeline lock. */
    bool registry_changed;         /**< Call the registry_changed hook. */
    bool defender_changed;         /**< Call the defender_changed hook. */
    char msg[DD_REST_MESSAGE_MAX]; /**< Validation messages land here. */
} api_ctx_t;

typedef void (*api_handler_fn)(api_ctx_t *ctx);

/* ---- replies (dd_api.c) --------------------------------------------------- */

/** @brief 200 with @p obj as body (takes ownership; NULL = out of memory → 500). */
void api_reply(api_ctx_t *ctx, cJSON *obj);
/** @brief 200 with "{}". */
void api_reply_empty(api_ctx_t *ctx);
/** @brief An error reply: the status comes from the code. */
void api_error(api_ctx_t *ctx, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** @brief 409 ResourceAlreadyExistsException with resourceId and resourceArn. */
void api_error_exists(api_ctx_t *ctx, const char *message, const char *id, const char *arn);
/** @brief 400 InvalidRequestException with ctx->msg. */
void api_invalid(api_ctx_t *ctx);
/** @brief Maps a registry refusal to its AWS error. */
void api_registry_error(api_ctx_t *ctx, dd_registry_status_t status,
                        const dd_registry_error_t *err);
/** @brief Maps a store failure (message given for the AWS-visible ones). */
void api_store_error(api_ctx_t *ctx, dd_store_status_t status, const char *what);
/** @brief 500 InternalFailureException "out of memory". */
void api_no_memory(api_ctx_t *ctx);

/* ---- helpers (dd_api.c) -------------------------------------------------- */

/** @brief A URI label checked for length 1..@p max and charset; answers 400 and returns NULL on refusal. */
const char *api_label_name(api_ctx_t *ctx, const char *label, size_t max, dd_rest_charset_t cs);
/** @brief The pipeline time, never behind the engine's. */
int64_t api_now_ms(const api_ctx_t *ctx);
/** @brief Takes / releases the pipeline lock (for handlers that run unlocked). */
void api_lock(api_ctx_t *ctx);
void api_unlock(api_ctx_t *ctx);
/** @brief Adds a string member, tolerating NULL values (skipped). */
bool api_add_string(cJSON *obj, const char *name, const char *value);
/** A stored violation in AWS's shape (ViolationEvent or ActiveViolation); NULL: no memory. */
cJSON *api_violation_json(const dd_store_violation_t *violation);
/** @brief Adds nextToken (or @p member) when @p key is not empty. */
bool api_add_token(cJSON *obj, const char *member, const char *key);
/** @brief Reads the page size and resume key of a nextToken/maxResults list. */
bool api_page_args(api_ctx_t *ctx, const char *size_name, const char *token_name, int max,
                   int *size, char key[DD_REST_TOKEN_KEY_MAX]);
/** @brief Builds an ARN (empty string on failure). */
void api_arn(const api_ctx_t *ctx, dd_name_kind_t kind, const char *name, char *buf, size_t len);
/** @brief Checks the optional "tags" body member (shape and lengths); false = answered. */
bool api_tags_arg(api_ctx_t *ctx);
/** @brief Hex SHA-256 of the request (URI and body bytes): an SDK retry sends the same bytes. */
bool api_request_digest(const api_ctx_t *ctx, char out[DD_STORE_DIGEST_MAX]);
/** @brief Stores the (checked) "tags" body member as the tags of a resource just created,
 *  replacing any it had; false = answered. (dd_api_tags.c) */
bool api_tags_save(api_ctx_t *ctx, dd_name_kind_t kind, const char *name);
/** @brief Parses an optional expectedVersion query parameter (-1 when absent); false = answered. */
bool api_expected_version_query(api_ctx_t *ctx, int64_t *out);

/* ---- handlers ------------------------------------------------------------ */

/* dd_api_logging.c */
void api_get_v2_logging_options(api_ctx_t *ctx);
void api_set_v2_logging_options(api_ctx_t *ctx);
void api_get_logging_options(api_ctx_t *ctx);
void api_set_logging_options(api_ctx_t *ctx);

/* dd_api_registry.c */
void api_create_thing(api_ctx_t *ctx);
void api_describe_thing(api_ctx_t *ctx);
void api_delete_thing(api_ctx_t *ctx);
void api_list_things(api_ctx_t *ctx);
void api_create_thing_group(api_ctx_t *ctx);
void api_describe_thing_group(api_ctx_t *ctx);
void api_update_thing_group(api_ctx_t *ctx);
void api_delete_thing_group(api_ctx_t *ctx);
void api_list_thing_groups(api_ctx_t *ctx);
void api_add_thing_to_thing_group(api_ctx_t *ctx);
void api_remove_thing_from_thing_group(api_ctx_t *ctx);
void api_update_thing(api_ctx_t *ctx);

/* dd_api_tags.c */
void api_tag_resource(api_ctx_t *ctx);
void api_untag_resource(api_ctx_t *ctx);
void api_list_tags_for_resource(api_ctx_t *ctx);
void api_create_thing_type(api_ctx_t *ctx);
void api_describe_thing_type(api_ctx_t *ctx);
void api_list_thing_types(api_ctx_t *ctx);
void api_deprecate_thing_type(api_ctx_t *ctx);
void api_delete_thing_type(api_ctx_t *ctx);
void api_update_thing_groups_for_thing(api_ctx_t *ctx);
void api_list_things_in_thing_group(api_ctx_t *ctx);
void api_list_thing_groups_for_thing(api_ctx_t *ctx);

/* dd_api_identity.c */
void api_create_certificate_from_csr(api_ctx_t *ctx);
void api_create_keys_and_certificate(api_ctx_t *ctx);
void api_describe_certificate(api_ctx_t *ctx);
void api_update_certificate(api_ctx_t *ctx);
void api_delete_certificate(api_ctx_t *ctx);
void api_list_certificates(api_ctx_t *ctx);
/* dd_api_cacerts.c */
void api_get_registration_code(api_ctx_t *ctx);
void api_register_ca_certificate(api_ctx_t *ctx);
void api_describe_ca_certificate(api_ctx_t *ctx);
void api_update_ca_certificate(api_ctx_t *ctx);
void api_delete_ca_certificate(api_ctx_t *ctx);
void api_list_ca_certificates(api_ctx_t *ctx);
void api_list_certificates_by_ca(api_ctx_t *ctx);
void api_register_certificate(api_ctx_t *ctx);
void api_register_certificate_without_ca(api_ctx_t *ctx);
void api_attach_thing_principal(api_ctx_t *ctx);
void api_detach_thing_principal(api_ctx_t *ctx);
void api_list_thing_principals(api_ctx_t *ctx);
void api_list_principal_things(api_ctx_t *ctx);
void api_create_policy(api_ctx_t *ctx);
void api_get_policy(api_ctx_t *ctx);
void api_create_policy_version(api_ctx_t *ctx);
void api_get_policy_version(api_ctx_t *ctx);
void api_list_policy_versions(api_ctx_t *ctx);
void api_delete_policy_version(api_ctx_t *ctx);
void api_set_default_policy_version(api_ctx_t *ctx);
void api_delete_policy(api_ctx_t *ctx);
void api_list_policies(api_ctx_t *ctx);
void api_attach_policy(api_ctx_t *ctx);
void api_detach_policy(api_ctx_t *ctx);
void api_list_attached_policies(api_ctx_t *ctx);
void api_list_targets_for_policy(api_ctx_t *ctx);
void api_describe_endpoint(api_ctx_t *ctx);

/* provisioning templates (dd_api_provisioning.c) */
void api_create_provisioning_template(api_ctx_t *ctx);
void api_describe_provisioning_template(api_ctx_t *ctx);
void api_list_provisioning_templates(api_ctx_t *ctx);
void api_update_provisioning_template(api_ctx_t *ctx);
void api_delete_provisioning_template(api_ctx_t *ctx);
void api_create_provisioning_template_version(api_ctx_t *ctx);
void api_describe_provisioning_template_version(api_ctx_t *ctx);
void api_list_provisioning_template_versions(api_ctx_t *ctx);
void api_delete_provisioning_template_version(api_ctx_t *ctx);

/* dd_api_defender.c */
void api_create_security_profile(api_ctx_t *ctx);
void api_update_security_profile(api_ctx_t *ctx);
void api_describe_security_profile(api_ctx_t *ctx);
void api_list_security_profiles(api_ctx_t *ctx);
void api_delete_security_profile(api_ctx_t *ctx);
void api_attach_security_profile(api_ctx_t *ctx);
void api_detach_security_profile(api_ctx_t *ctx);
void api_list_targets_for_security_profile(api_ctx_t *ctx);
void api_list_security_profiles_for_target(api_ctx_t *ctx);
void api_validate_security_profile_behaviors(api_ctx_t *ctx);
void api_list_active_violations(api_ctx_t *ctx);
void api_list_violation_events(api_ctx_t *ctx);
void api_put_verification_state_on_violation(api_ctx_t *ctx);
void api_list_metric_values(api_ctx_t *ctx);
void api_get_behavior_model_training_summaries(api_ctx_t *ctx);
void api_create_custom_metric(api_ctx_t *ctx);
void api_describe_custom_metric(api_ctx_t *ctx);
void api_update_custom_metric(api_ctx_t *ctx);
void api_list_custom_metrics(api_ctx_t *ctx);
void api_delete_custom_metric(api_ctx_t *ctx);
void api_create_dimension(api_ctx_t *ctx);
void api_describe_dimension(api_ctx_t *ctx);
void api_update_dimension(api_ctx_t *ctx);
void api_list_dimensions(api_ctx_t *ctx);
void api_delete_dimension(api_ctx_t *ctx);

/* dd_api_mitigation.c */
/** @brief Creates api->mitigation on the pipeline's db, store, registry, clock and hook. */
dd_mitigate_status_t api_mitigation_open(dd_api_t *api);
void api_create_mitigation_action(api_ctx_t *ctx);
void api_describe_mitigation_action(api_ctx_t *ctx);
void api_update_mitigation_action(api_ctx_t *ctx);
void api_list_mitigation_actions(api_ctx_t *ctx);
void api_delete_mitigation_action(api_ctx_t *ctx);
void api_start_detect_mitigation_actions_task(api_ctx_t *ctx);
void api_describe_detect_mitigation_actions_task(api_ctx_t *ctx);
void api_list_detect_mitigation_actions_tasks(api_ctx_t *ctx);
void api_list_detect_mitigation_actions_executions(api_ctx_t *ctx);
void api_cancel_detect_mitigation_actions_task(api_ctx_t *ctx);

/* dd_api_audit.c */
void api_cancel_audit_mitigation_actions_task(api_ctx_t *ctx);
void api_cancel_audit_task(api_ctx_t *ctx);
void api_create_audit_suppression(api_ctx_t *ctx);
void api_create_scheduled_audit(api_ctx_t *ctx);
void api_delete_account_audit_configuration(api_ctx_t *ctx);
void api_delete_audit_suppression(api_ctx_t *ctx);
void api_delete_scheduled_audit(api_ctx_t *ctx);
void api_describe_account_audit_configuration(api_ctx_t *ctx);
void api_describe_audit_finding(api_ctx_t *ctx);
void api_describe_audit_mitigation_actions_task(api_ctx_t *ctx);
void api_describe_audit_suppression(api_ctx_t *ctx);
void api_describe_audit_task(api_ctx_t *ctx);
void api_describe_scheduled_audit(api_ctx_t *ctx);
void api_list_audit_findings(api_ctx_t *ctx);
void api_list_audit_mitigation_actions_executions(api_ctx_t *ctx);
void api_list_audit_mitigation_actions_tasks(api_ctx_t *ctx);
void api_list_audit_suppressions(api_ctx_t *ctx);
void api_list_audit_tasks(api_ctx_t *ctx);
void api_list_related_resources_for_audit_finding(api_ctx_t *ctx);
void api_list_scheduled_audits(api_ctx_t *ctx);
void api_start_audit_mitigation_actions_task(api_ctx_t *ctx);
void api_start_on_demand_audit_task(api_ctx_t *ctx);
void api_update_account_audit_configuration(api_ctx_t *ctx);
void api_update_audit_suppression(api_ctx_t *ctx);
void api_update_scheduled_audit(api_ctx_t *ctx);

#endif /* DD_API_INTERNAL_H_ */
