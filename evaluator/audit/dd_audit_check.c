/*
 * The audit check catalogue: every check of AWS's service model, grouped by
 * what it reads. A computed check points at its function (declared in
 * dd_audit_check_internal.h, defined in dd_audit_checks_<subject>.c); the
 * others say why ddlocal does not compute them.
 */
#include "dd_audit_check.h"

#include <string.h>

#include "dd_audit_check_internal.h"

#define NOT_COMPUTED_YET "ddlocal does not compute this check yet"

static const dd_audit_check_def_t CATALOGUE[] = {
    /* ---- certificates and CA certificates (dd_audit_checks_certs.c) ---- */
    {"CA_CERTIFICATE_EXPIRING_CHECK", "MEDIUM", dd_audit_check_ca_expiring, NULL},
    {"CA_CERTIFICATE_KEY_QUALITY_CHECK", "CRITICAL", dd_audit_check_ca_key_quality, NULL},
    {"DEVICE_CERTIFICATE_EXPIRING_CHECK", "MEDIUM", dd_audit_check_device_expiring, NULL},
    {"DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", "CRITICAL", dd_audit_check_device_key_quality, NULL},
    {"DEVICE_CERTIFICATE_AGE_CHECK", "LOW", dd_audit_check_device_age, NULL},
    {"REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", "CRITICAL", dd_audit_check_revoked_ca, NULL},
    {"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", "MEDIUM", dd_audit_check_revoked_device,
     NULL},
    {"INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK", "CRITICAL",
     dd_audit_check_intermediate_ca_revoked, NULL},

    /* ---- the broker's connection history (dd_audit_checks_conn.c) ---- */
    {"DEVICE_CERTIFICATE_SHARED_CHECK", "CRITICAL", dd_audit_check_device_certificate_shared, NULL},
    {"CONFLICTING_CLIENT_IDS_CHECK", "HIGH", dd_audit_check_conflicting_client_ids, NULL},

    /* ---- policies and account settings (dd_audit_checks_policy.c) ---- */
    {"IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "CRITICAL", dd_audit_check_policy_permissive, NULL},
    {"IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK", "MEDIUM", dd_audit_check_policy_misconfigured,
     NULL},
    {"LOGGING_DISABLED_CHECK", "LOW", dd_audit_check_logging_disabled, NULL},

    /* ---- resources ddlocal does not have ---- */
    {"UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", "CRITICAL", NULL,
     "ddlocal has no Amazon Cognito identity pools: no role was used to connect"},
    {"AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", "CRITICAL", NULL,
     "ddlocal has no Amazon Cognito identity pools: no role was used to connect"},
    {"IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", "CRITICAL", NULL,
     "ddlocal has no role aliases (the credentials provider is not emulated)"},
    {"IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK", "MEDIUM", NULL,
     "ddlocal has no role aliases (the credentials provider is not emulated)"},
};

const dd_audit_check_def_t *dd_audit_check_catalogue(size_t *count)
{
    if (count == NULL) {
        return NULL;
    }
    *count = sizeof(CATALOGUE) / sizeof(CATALOGUE[0]);
    return CATALOGUE;
}

const dd_audit_check_def_t *dd_audit_check_find(const char *name)
{
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < sizeof(CATALOGUE) / sizeof(CATALOGUE[0]); i++) {
        if (strcmp(CATALOGUE[i].name, name) == 0) {
            return &CATALOGUE[i];
        }
    }
    return NULL;
}

dd_audit_status_t dd_audit_check_run(const dd_audit_check_def_t *check,
                                     const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                     void *ctx, int64_t *resources_checked)
{
    if (check == NULL || world == NULL || sink == NULL || resources_checked == NULL) {
        return DD_AUDIT_INVALID_ARGUMENT;
    }
    *resources_checked = 0;
    if (check->run == NULL) {
        return DD_AUDIT_NOT_APPLICABLE;
    }
    return check->run(world, sink, ctx, resources_checked);
}

const char *dd_audit_strerror(dd_audit_status_t status)
{
    switch (status) {
    case DD_AUDIT_OK: return "success";
    case DD_AUDIT_INVALID_ARGUMENT: return "invalid argument";
    case DD_AUDIT_NO_MEMORY: return "out of memory";
    case DD_AUDIT_STATE_ERROR: return "the registry or store could not be read";
    case DD_AUDIT_STOPPED: return "stopped by the caller";
    case DD_AUDIT_NOT_APPLICABLE: return "check not computed by ddlocal";
    }
    return "unknown status";
}
