/**
 * @file dd_reset.h
 * @brief The reset use case (POST /ddlocal/v1/reset, `ddlocal reset`): empties the chosen kinds
 *        of state - the registry, Detect's profiles, violations, metric history, mitigation -
 *        in one store transaction, or nothing.
 *
 * What stays, always: the CA and every certificate file, ddlocald's own (service) certificate
 * in the registry, settings (region, account, the pipeline time), SNS subscriptions and Lambda
 * functions of the stand-ins, the ports. A reset of "registry" deletes every thing, device
 * certificate, thing group (IsolatedDevices too: the workshop's `ddlocal workshop` makes it
 * again) and policy, logged in the registry's change log so the broker shim follows.
 *
 * After a successful dd_reset_run() the CALLER reloads the engine
 * (dd_pipeline_reload_engine(): its memory still holds what was deleted) and, for the registry,
 * calls the pipeline's registry_changed hook so the shim drops its copy. The caller holds the
 * pipeline lock for the whole call. No state of its own; nothing to free.
 */
#ifndef DD_RESET_H_
#define DD_RESET_H_

#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_reset_status {
    DD_RESET_OK = 0,
    DD_RESET_BAD_PARAMETER, /**< NULL pointer, no kind, or an unknown kind name. */
    DD_RESET_STORE_ERROR    /**< A statement failed: everything was rolled back. */
} dd_reset_status_t;

/** Kinds, or-ed. */
#define DD_RESET_PROFILES DD_STORE_RESET_PROFILES     /**< "profiles" */
#define DD_RESET_VIOLATIONS DD_STORE_RESET_VIOLATIONS /**< "violations" */
#define DD_RESET_METRICS DD_STORE_RESET_METRICS       /**< "metrics" */
#define DD_RESET_MITIGATION DD_STORE_RESET_MITIGATION /**< "mitigation" */
#define DD_RESET_AUDIT DD_STORE_RESET_AUDIT           /**< "audit" */
#define DD_RESET_REGISTRY 0x100u                      /**< "registry" */
#define DD_RESET_ALL (DD_STORE_RESET_ALL | DD_RESET_REGISTRY)

/** The kind names, comma-separated, for messages. */
#define DD_RESET_KIND_NAMES "registry, profiles, violations, metrics, mitigation, audit"

/**
 * @brief Looks up one kind name.
 * @param[in] name e.g. "registry".
 * @param[out] kind Receives its DD_RESET_* bit.
 * @return DD_RESET_OK or DD_RESET_BAD_PARAMETER (unknown name).
 */
dd_reset_status_t dd_reset_kind(const char *name, unsigned *kind);

/**
 * @brief Empties @p kinds in one store transaction.
 * @param[in] reg The registry (same database as @p store).
 * @param[in] store The evaluator store.
 * @param[in] kinds DD_RESET_* bits, at least one.
 * @return DD_RESET_OK, DD_RESET_BAD_PARAMETER or DD_RESET_STORE_ERROR.
 */
dd_reset_status_t dd_reset_run(dd_registry_t *reg, dd_store_t *store, unsigned kinds);

/** @return Static text for @p status. */
const char *dd_reset_strerror(dd_reset_status_t status);

#endif /* DD_RESET_H_ */
