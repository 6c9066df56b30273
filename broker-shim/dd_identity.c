#include "dd_identity.h"

#include <stdio.h>
#include <string.h>

static void set_thing(dd_identity_t *out, const char *name, dd_identity_rule_t rule)
{
    (void)snprintf(out->thing, sizeof(out->thing), "%s", name);
    out->rule = rule;
}

dd_identity_status_t dd_identity_resolve(const dd_shimreg_t *reg, const dd_identity_config_t *cfg,
                                         const char *cert_id, const char *client_id,
                                         dd_identity_t *out)
{
    const dd_shimreg_cert_t *cert;
    size_t i;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (reg == NULL || cfg == NULL || client_id == NULL || out == NULL || client_id[0] == '\0') {
        return DD_IDENTITY_BAD_PARAMETER;
    }
    if (cert_id == NULL) {
        return DD_IDENTITY_NO_CERTIFICATE;
    }
    cert = dd_shimreg_cert(reg, cert_id);
    if (cert == NULL) {
        return DD_IDENTITY_UNKNOWN_CERTIFICATE;
    }
    out->cert_status = cert->status;
    out->service = cert->service;

    /* Find the thing first, status aside, so that a refused attempt is still
     * counted against the thing it would have been. */
    if (!cert->service) {
        for (i = 0; i < cert->things.count; i++) {
            if (strcmp(cert->things.items[i], client_id) == 0) {
                set_thing(out, cert->things.items[i], DD_IDENTITY_RULE_CLIENT_ID);
                break;
            }
        }
        if (out->rule == DD_IDENTITY_RULE_NONE && cfg->single_thing_rule &&
            cert->things.count == 1) {
            set_thing(out, cert->things.items[0], DD_IDENTITY_RULE_SINGLE_THING);
        }
    }
    if (cert->status != DD_CERT_ACTIVE) {
        return DD_IDENTITY_CERT_NOT_ACTIVE;
    }
    if (!cert->service && cfg->reserved_prefix != NULL && cfg->reserved_prefix[0] != '\0' &&
        strncmp(client_id, cfg->reserved_prefix, strlen(cfg->reserved_prefix)) == 0) {
        return DD_IDENTITY_RESERVED_CLIENT_ID;
    }
    return DD_IDENTITY_OK;
}

const char *dd_identity_rule_name(dd_identity_rule_t rule)
{
    switch (rule) {
    case DD_IDENTITY_RULE_NONE: return "none";
    case DD_IDENTITY_RULE_CLIENT_ID: return "client-id";
    case DD_IDENTITY_RULE_SINGLE_THING: return "single-thing";
    }
    return "?";
}

const char *dd_identity_strerror(dd_identity_status_t status)
{
    switch (status) {
    case DD_IDENTITY_OK: return "success";
    case DD_IDENTITY_BAD_PARAMETER: return "bad parameter";
    case DD_IDENTITY_NO_CERTIFICATE: return "no client certificate";
    case DD_IDENTITY_UNKNOWN_CERTIFICATE: return "certificate not registered";
    case DD_IDENTITY_CERT_NOT_ACTIVE: return "certificate not ACTIVE";
    case DD_IDENTITY_RESERVED_CLIENT_ID: return "client id reserved for ddlocal's services";
    }
    return "unknown status";
}
