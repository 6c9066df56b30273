/**
 * @file dd_identity.h
 * @brief Who is connecting: certificate + client id -> refused, ddlocal's
 *        service, a thing, or a device that is no thing.
 *
 * The rules, in order (architecture.md, "Identity"):
 * 1. No client certificate, or one the registry does not know: refused.
 * 2. A certificate that is not ACTIVE (INACTIVE, REVOKED,
 *    PENDING_ACTIVATION): refused.
 * 3. The service certificate (registry flag "service"): the service
 *    identity, which bypasses device policies and metering.
 * 4. A device whose client id starts with the reserved prefix (ddlocal's own
 *    client ids) is refused, so no device can take over a service session.
 * 5. AWS's rule: the client id is the name of a thing the certificate is
 *    attached to -> that thing.
 * 6. ddlocal's rule (switchable, on by default): the certificate is attached
 *    to exactly one thing -> that thing, whatever the client id.
 * 7. Otherwise a device that is no thing: only the certificate's policies
 *    apply and `${iot:Connection.Thing.ThingName}` has no value.
 *
 * The workshop cases: client id `SensorDevice03` with a certificate attached
 * only to `Thing03` is Thing03 by rule 6 (and no thing with the rule off). A
 * certificate shared by Thing01..Thing03 is Thing02 when the client id is
 * "Thing02" (rule 5) and no thing with any other client id, so putting
 * Thing02 in a quarantine group does not touch that connection.
 *
 * Even a refused connection gets the thing it would have been (rules 5-6,
 * status ignored) in @ref dd_identity_t::thing, so its connection attempt is
 * metered against the right key.
 *
 * Pure: no allocation, no I/O; the result copies the names it needs.
 */
#ifndef DD_IDENTITY_H_
#define DD_IDENTITY_H_

#include <stdbool.h>
#include <stddef.h>

#include "dd_names.h"
#include "dd_shimreg.h"

/** Status codes of this module: OK or why the connection is refused. */
typedef enum dd_identity_status {
    DD_IDENTITY_OK = 0,
    DD_IDENTITY_BAD_PARAMETER,       /**< NULL pointer or empty client id. */
    DD_IDENTITY_NO_CERTIFICATE,      /**< The client presented no certificate. */
    DD_IDENTITY_UNKNOWN_CERTIFICATE, /**< Not in the registry. */
    DD_IDENTITY_CERT_NOT_ACTIVE,     /**< INACTIVE, REVOKED or PENDING_ACTIVATION. */
    DD_IDENTITY_RESERVED_CLIENT_ID   /**< A device using a client id reserved for ddlocal. */
} dd_identity_status_t;

/** Which rule made the connection a thing. */
typedef enum dd_identity_rule {
    DD_IDENTITY_RULE_NONE = 0,    /**< Not a thing. */
    DD_IDENTITY_RULE_CLIENT_ID,   /**< AWS: client id = name of an attached thing. */
    DD_IDENTITY_RULE_SINGLE_THING /**< ddlocal: the certificate has exactly one thing. */
} dd_identity_rule_t;

/** Settings. */
typedef struct dd_identity_config {
    bool single_thing_rule;      /**< ddlocal's rule 6 (default true). */
    const char *reserved_prefix; /**< Client-id prefix reserved for services; NULL/"" = none. */
} dd_identity_config_t;

/** The identity of a connection. */
typedef struct dd_identity {
    bool service;                 /**< ddlocal's own service certificate. */
    dd_identity_rule_t rule;      /**< How @ref thing was found. */
    char thing[DD_NAME_MAX + 1];  /**< Thing name, "" when none. */
    dd_cert_status_t cert_status; /**< Status of a known certificate. */
} dd_identity_t;

/** Default reserved client-id prefix: ddlocald, ddlocal-isolator, ... */
#define DD_IDENTITY_RESERVED_PREFIX "ddlocal"

/**
 * @brief Resolves a connection.
 * @param[in] reg The registry copy.
 * @param[in] cfg Settings.
 * @param[in] cert_id Certificate id (hex SHA-256 of the DER), NULL when the
 *                    client presented none.
 * @param[in] client_id The MQTT client id.
 * @param[out] out The identity; filled as far as possible on refusals too.
 * @return DD_IDENTITY_OK or the reason for refusing the connection.
 */
dd_identity_status_t dd_identity_resolve(const dd_shimreg_t *reg, const dd_identity_config_t *cfg,
                                         const char *cert_id, const char *client_id,
                                         dd_identity_t *out);

/** @return "none", "client-id" or "single-thing". */
const char *dd_identity_rule_name(dd_identity_rule_t rule);

/** @return Static text for @p status. */
const char *dd_identity_strerror(dd_identity_status_t status);

#endif /* DD_IDENTITY_H_ */
