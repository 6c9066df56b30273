#include "dd_reset.h"

#include "dd_log.h"

#include <stddef.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned kind;
} KINDS[] = {
    {"registry", DD_RESET_REGISTRY},     {"profiles", DD_RESET_PROFILES},
    {"violations", DD_RESET_VIOLATIONS}, {"metrics", DD_RESET_METRICS},
    {"mitigation", DD_RESET_MITIGATION}, {"audit", DD_RESET_AUDIT},
};

dd_reset_status_t dd_reset_kind(const char *name, unsigned *kind)
{
    size_t i;

    if (name == NULL || kind == NULL) {
        return DD_RESET_BAD_PARAMETER;
    }
    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        if (strcmp(name, KINDS[i].name) == 0) {
            *kind = KINDS[i].kind;
            return DD_RESET_OK;
        }
    }
    return DD_RESET_BAD_PARAMETER;
}

dd_reset_status_t dd_reset_run(dd_registry_t *reg, dd_store_t *store, unsigned kinds)
{
    dd_registry_error_t err;
    bool ok;

    if (reg == NULL || store == NULL || kinds == 0 || (kinds & ~DD_RESET_ALL) != 0) {
        return DD_RESET_BAD_PARAMETER;
    }
    if (dd_store_begin(store) != DD_STORE_OK) {
        return DD_RESET_STORE_ERROR;
    }
    ok = dd_store_reset(store, kinds & DD_STORE_RESET_ALL) == DD_STORE_OK;
    if (ok && (kinds & DD_RESET_REGISTRY) != 0) {
        ok = dd_registry_reset(reg, &err) == DD_REGISTRY_OK;
        if (!ok) {
            DD_LOG_ERROR("reset: the registry could not be emptied: %s", err.message);
        }
    }
    if (ok && dd_store_commit(store) == DD_STORE_OK) {
        return DD_RESET_OK;
    }
    (void)dd_store_rollback(store);
    return DD_RESET_STORE_ERROR;
}

const char *dd_reset_strerror(dd_reset_status_t status)
{
    switch (status) {
    case DD_RESET_OK: return "ok";
    case DD_RESET_BAD_PARAMETER: return "bad parameter";
    case DD_RESET_STORE_ERROR: return "the store could not be reset (rolled back)";
    }
    return "unknown reset status";
}
