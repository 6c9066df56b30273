/**
 * @file dd_registry.h
 * @brief The registry: things, certificates, thing groups, IoT policies, their
 *        attachments, SNS subscriptions and settings, in the data dir's SQLite
 *        database.
 *
 * One source of truth for "who is who" in ddlocal. Writers are the `ddlocal`
 * CLI and ddlocald (REST API, isolator, mitigation actions); the broker shim
 * holds a read-only in-memory copy built from dd_registry_entity_json().
 *
 * Every mutation runs inside a SAVEPOINT, so it is atomic on its own and
 * composes with a transaction the caller already holds. Every mutation also
 * appends the entities whose state it changed to a change log
 * (dd_registry_changes_since()); ddlocald follows that log to push each
 * changed entity's new state to the shim at once, whoever made the change.
 *
 * AWS semantics are kept where they matter to clients: ResourceNotFound,
 * ResourceAlreadyExists (with the resource id and ARN), VersionConflict,
 * DeleteConflict and LimitExceeded are distinct statuses, and every refusal
 * fills a dd_registry_error_t whose message is fit to show a user.
 *
 * Ownership: dd_registry_t is caller-allocated and borrows the sqlite3 handle
 * and the clock, which must outlive it. Row structs passed to callbacks are
 * valid only during the callback. Strings returned through `char **` are
 * malloc'd and freed by the caller with free().
 * A dd_registry_t is not thread-safe; use one per thread or lock around it.
 *
 * The code is split by subject (dd_registry.c: open, schema, settings,
 * change log; dd_registry_things/_certs/_cacerts/_groups/_policies/_subs.c; and
 * dd_registry_snapshot.c, the shim's copy) over the private helpers of
 * dd_registry_internal.h; this header is the whole public API.
 */
#ifndef DD_REGISTRY_H_
#define DD_REGISTRY_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_certfacts.h"
#include "dd_clock.h"
#include "dd_names.h"

/** Status codes of this module. */
typedef enum dd_registry_status {
    DD_REGISTRY_OK = 0,
    DD_REGISTRY_BAD_PARAMETER,    /**< NULL pointer. */
    DD_REGISTRY_INVALID,          /**< Invalid name, value or request (InvalidRequestException). */
    DD_REGISTRY_NOT_FOUND,        /**< ResourceNotFoundException. */
    DD_REGISTRY_ALREADY_EXISTS,   /**< ResourceAlreadyExistsException (error has id and ARN). */
    DD_REGISTRY_VERSION_CONFLICT, /**< VersionConflictException. */
    DD_REGISTRY_DELETE_CONFLICT,  /**< DeleteConflictException: still attached/in use. */
    DD_REGISTRY_LIMIT_EXCEEDED,   /**< LimitExceededException. */
    DD_REGISTRY_STORE_ERROR       /**< SQLite failed; details were logged. */
} dd_registry_status_t;

/** Certificate statuses (AWS's CertificateStatus values ddlocal uses). */
typedef enum dd_cert_status {
    DD_CERT_ACTIVE = 0,
    DD_CERT_INACTIVE,
    DD_CERT_REVOKED,
    DD_CERT_PENDING_ACTIVATION
} dd_cert_status_t;

/** Kinds of entity in the change log and in dd_registry_entity_json(). */
typedef enum dd_registry_kind {
    DD_REGISTRY_KIND_THING = 0,
    DD_REGISTRY_KIND_CERT,
    DD_REGISTRY_KIND_GROUP,
    DD_REGISTRY_KIND_POLICY,
    DD_REGISTRY_KIND_COUNT
} dd_registry_kind_t;

/** Explanation of a refusal, for error replies. */
typedef struct dd_registry_error {
    char message[512];                 /**< e.g. "Thing Thing09 does not exist" */
    char resource_id[DD_NAME_MAX + 1]; /**< ALREADY_EXISTS: the id (thingId, certificateId...) */
    char resource_arn[DD_ARN_MAX];     /**< ALREADY_EXISTS: the ARN */
} dd_registry_error_t;

/** An open registry. */
typedef struct dd_registry {
    sqlite3 *db;             /**< Borrowed. */
    dd_arn_ctx_t arn;        /**< Region and account for ARNs. */
    const dd_clock_t *clock; /**< Borrowed; creation dates come from it. */
} dd_registry_t;

/** AWS limits the registry enforces. */
#define DD_REGISTRY_MAX_GROUPS_PER_THING 10
#define DD_REGISTRY_MAX_GROUP_DEPTH 7
#define DD_REGISTRY_MAX_POLICY_DOC 20480
/** AWS keeps at most five versions of a policy. */
#define DD_REGISTRY_MAX_POLICY_VERSIONS 5
/** Room for a policy version ID as decimal text, with the NUL. */
#define DD_REGISTRY_VERSION_ID_MAX 21

/** A thing as DescribeThing shows it. */
typedef struct dd_registry_thing {
    const char *name;
    const char *thing_id;        /**< UUID */
    const char *thing_type;      /**< "" when none */
    const char *attributes_json; /**< JSON object text, e.g. {"SensorType":"DHT22"} */
    int64_t version;
    int64_t created_ms;
} dd_registry_thing_t;

/** A certificate as DescribeCertificate shows it. */
typedef struct dd_registry_cert {
    const char *id; /**< SHA-256 of the DER, 64 lowercase hex */
    const char *pem;
    dd_cert_status_t status;
    bool is_service; /**< ddlocal's own service identity */
    int64_t created_ms;
    int64_t modified_ms;
    const char *ca_cert_id; /**< Registered CA that signed it (RegisterCertificate), else "" */
    const char *mode;       /**< CertificateMode: "DEFAULT", or "SNI_ONLY" without a CA */
    bool facts_known;       /**< facts were stored (registration or migration 7's back-fill);
                                 false: read them from the PEM */
    dd_certfacts_t facts;   /**< What the audit reads, taken from the X509 once; facts_known. */
    /** Stored key vulnerability verdict: DD_CERTFACTS_VERDICT_ROCA ("CVE-2017-15361") or ""
     *  (assessed, clean); NULL = not assessed (facts.key_assessed is false). */
    const char *key_verdict;
} dd_registry_cert_t;

/** A registered CA certificate (RegisterCACertificate), as DescribeCACertificate shows it. */
typedef struct dd_registry_ca {
    const char *id; /**< SHA-256 of the DER, 64 lowercase hex */
    const char *pem;
    bool active;                     /**< CACertificateStatus ACTIVE, else INACTIVE */
    bool auto_registration;          /**< AutoRegistrationStatus ENABLE, else DISABLE */
    const char *mode;                /**< CertificateMode: "DEFAULT" or "SNI_ONLY" */
    const char *registration_config; /**< RegistrationConfig as JSON object text ("{}": none) */
    int64_t created_ms;
    int64_t modified_ms;
    bool facts_known;        /**< As dd_registry_cert_t.facts_known. */
    dd_certfacts_t facts;    /**< As dd_registry_cert_t.facts. */
    const char *key_verdict; /**< As dd_registry_cert_t.key_verdict. */
} dd_registry_ca_t;

/** A thing group as DescribeThingGroup shows it. */
typedef struct dd_registry_group {
    const char *name;
    const char *group_id;
    const char *parent; /**< "" when a root group */
    const char *description;
    const char *attributes_json;
    int64_t version;
    int64_t created_ms;
} dd_registry_group_t;

/** An IoT policy. */
typedef struct dd_registry_policy {
    const char *name;
    const char *document;
    const char *version_id;
    int64_t created_ms;
    int64_t modified_ms;
} dd_registry_policy_t;

/** One version of an IoT policy (ListPolicyVersions, GetPolicyVersion). */
typedef struct dd_registry_policy_version {
    const char *policy;
    const char *version_id; /**< Decimal text, "1", "2", ... */
    const char *document;
    bool is_default;
    int64_t created_ms;
    int64_t modified_ms; /**< The policy's lastModifiedDate. */
} dd_registry_policy_version_t;

/** A webhook / MQTT subscription of an SNS stand-in topic. */
typedef struct dd_registry_subscription {
    int64_t id;
    const char *topic;    /**< SNS topic name (last part of the ARN) */
    const char *protocol; /**< "http", "https", or "lambda" (dd_lambda.h) */
    const char *endpoint; /**< URL, or the Lambda function's ARN */
    int64_t created_ms;
} dd_registry_subscription_t;

/** One change-log entry. */
typedef struct dd_registry_change {
    int64_t seq;
    dd_registry_kind_t kind;
    const char *name;
} dd_registry_change_t;

/** Paging input of the list functions: start after @ref after (exclusive), at most @ref limit rows. */
typedef struct dd_registry_page {
    const char *after; /**< NULL or "" = from the start (a name, the opaque token) */
    int limit;         /**< <= 0 = no limit */
} dd_registry_page_t;

/** Row callbacks return 0 to continue, non-zero to stop early. */
typedef int (*dd_registry_thing_fn)(void *ctx, const dd_registry_thing_t *thing);
typedef int (*dd_registry_cert_fn)(void *ctx, const dd_registry_cert_t *cert);
typedef int (*dd_registry_ca_fn)(void *ctx, const dd_registry_ca_t *ca);
typedef int (*dd_registry_group_fn)(void *ctx, const dd_registry_group_t *group);
typedef int (*dd_registry_policy_fn)(void *ctx, const dd_registry_policy_t *policy);
typedef int (*dd_registry_policy_version_fn)(void *ctx,
                                             const dd_registry_policy_version_t *version);
typedef int (*dd_registry_name_fn)(void *ctx, const char *name);
typedef int (*dd_registry_subscription_fn)(void *ctx, const dd_registry_subscription_t *sub);
typedef int (*dd_registry_change_fn)(void *ctx, const dd_registry_change_t *change);

/* ---- lifecycle ---------------------------------------------------------- */

/**
 * @brief Binds a registry to an open database and migrates its tables.
 * @param[out] reg Registry to initialise.
 * @param[in] db Open database (dd_db_open), borrowed.
 * @param[in] arn Region/account for ARNs; NULL for the defaults.
 * @param[in] clock Clock for creation dates, borrowed.
 * @return DD_REGISTRY_OK, DD_REGISTRY_BAD_PARAMETER or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_open(dd_registry_t *reg, sqlite3 *db, const dd_arn_ctx_t *arn,
                                      const dd_clock_t *clock);

/* ---- settings ----------------------------------------------------------- */

/** @brief Reads a setting; *value is malloc'd, NULL when unset (status OK). */
dd_registry_status_t dd_registry_setting_get(dd_registry_t *reg, const char *key, char **value);
/** @brief Writes a setting. */
dd_registry_status_t dd_registry_setting_set(dd_registry_t *reg, const char *key,
                                             const char *value);

/* ---- things ------------------------------------------------------------- */

/**
 * @brief Creates a thing. Creating an existing thing with the same type and
 *        attributes succeeds (AWS is idempotent there); otherwise ALREADY_EXISTS.
 * @param[in] attributes_json JSON object text of string attributes, or NULL.
 * @param[in] thing_type Type name or NULL.
 * @param[out] thing_id Optional buffer (>= 37 bytes) for the thing id.
 */
dd_registry_status_t dd_registry_thing_create(dd_registry_t *reg, const char *name,
                                              const char *thing_type, const char *attributes_json,
                                              char *thing_id, size_t thing_id_len,
                                              dd_registry_error_t *err);
/**
 * @brief UpdateThing: replaces the attributes (@p attributes_json, NULL = unchanged; the caller
 *        has merged them) and the thing type (@p thing_type, NULL = unchanged, "" = removed);
 *        bumps the version. @p expected_version < 0 = any version.
 * @param[out] new_version Optional: the version after the change.
 */
dd_registry_status_t dd_registry_thing_update(dd_registry_t *reg, const char *name,
                                              const char *thing_type, const char *attributes_json,
                                              int64_t expected_version, int64_t *new_version,
                                              dd_registry_error_t *err);
/** @brief Looks one thing up; @p fn is called once when found. */
dd_registry_status_t dd_registry_thing_get(dd_registry_t *reg, const char *name,
                                           dd_registry_thing_fn fn, void *ctx,
                                           dd_registry_error_t *err);
/** @brief true when the thing exists. */
bool dd_registry_thing_exists(dd_registry_t *reg, const char *name);
/**
 * @brief Deletes a thing (and its group memberships). Refused while
 *        certificates are attached; @p expected_version < 0 = any version.
 *        Deleting a missing thing succeeds, as on AWS.
 */
dd_registry_status_t dd_registry_thing_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err);
/** @brief Lists things in name order. @p next receives the token (a name) or "" at the end. */
dd_registry_status_t dd_registry_thing_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                            dd_registry_thing_fn fn, void *ctx, char *next,
                                            size_t next_len);

/* ---- thing types --------------------------------------------------------- */

/** How long a thing type stays deprecated before DeleteThingType accepts it (AWS: 5 minutes). */
#define DD_REGISTRY_TYPE_DELETE_DELAY_MS (5 * 60 * 1000)
/** Most searchable attributes of a thing type (AWS: 3). */
#define DD_REGISTRY_MAX_SEARCHABLE 3

/** A thing type as DescribeThingType shows it. */
typedef struct dd_registry_type {
    const char *name;
    const char *type_id;         /**< UUID */
    const char *description;     /**< "" when none */
    const char *searchable_json; /**< JSON array of attribute names */
    bool deprecated;
    int64_t deprecated_ms; /**< When last deprecated (or undeprecated); 0 = never. */
    int64_t created_ms;
} dd_registry_type_t;

/** Row callback of the thing type functions (0 = continue). */
typedef int (*dd_registry_type_fn)(void *ctx, const dd_registry_type_t *type);

/**
 * @brief CreateThingType. An identical repeat (same description and searchable attributes)
 *        succeeds with the existing id; another definition is DD_REGISTRY_ALREADY_EXISTS.
 * @param[in] searchable_json JSON array of up to 3 attribute names, or NULL.
 * @param[out] type_id Optional buffer (>= 37 bytes) for the id.
 */
dd_registry_status_t dd_registry_type_create(dd_registry_t *reg, const char *name,
                                             const char *description, const char *searchable_json,
                                             char *type_id, size_t type_id_len,
                                             dd_registry_error_t *err);
/** @brief Looks one thing type up; @p fn is called once when found. */
dd_registry_status_t dd_registry_type_get(dd_registry_t *reg, const char *name,
                                          dd_registry_type_fn fn, void *ctx,
                                          dd_registry_error_t *err);
/** @brief Lists thing types in name order (only @p name when not NULL). */
dd_registry_status_t dd_registry_type_list(dd_registry_t *reg, const char *name,
                                           const dd_registry_page_t *page, dd_registry_type_fn fn,
                                           void *ctx, char *next, size_t next_len);
/** @brief DeprecateThingType (@p undo = false) or its undo; the time is noted either way. */
dd_registry_status_t dd_registry_type_deprecate(dd_registry_t *reg, const char *name, bool undo,
                                                dd_registry_error_t *err);
/**
 * @brief DeleteThingType: DD_REGISTRY_INVALID unless deprecated for at least
 *        DD_REGISTRY_TYPE_DELETE_DELAY_MS on the registry's clock and no thing has the type.
 */
dd_registry_status_t dd_registry_type_delete(dd_registry_t *reg, const char *name,
                                             dd_registry_error_t *err);

/* ---- provisioning templates ---------------------------------------------- */

/** Most versions of one provisioning template (AWS: 5). */
#define DD_REGISTRY_MAX_TEMPLATE_VERSIONS 5

/** A provisioning template (fleet provisioning); body is its default version's. */
typedef struct dd_registry_template {
    const char *name;
    const char *template_id; /**< UUID */
    const char *description;
    bool enabled;
    const char *role_arn;  /**< provisioningRoleArn: stored, never assumed */
    const char *type;      /**< "FLEET_PROVISIONING" or "JITP" */
    const char *hook_json; /**< preProvisioningHook as JSON text, "" when none */
    const char *body;      /**< templateBody of the default version */
    int64_t default_version;
    int64_t created_ms;
    int64_t modified_ms;
} dd_registry_template_t;

/** One version of a provisioning template. */
typedef struct dd_registry_template_version {
    const char *template_name;
    int64_t version_id; /**< 1, 2, ... never reused */
    const char *body;
    bool is_default;
    int64_t created_ms;
} dd_registry_template_version_t;

/** Changes of UpdateProvisioningTemplate: NULL / < 0 / 0 = unchanged. */
typedef struct dd_registry_template_update {
    const char *description; /**< NULL: unchanged */
    int enabled;             /**< -1 unchanged, 0 or 1 */
    const char *role_arn;    /**< NULL: unchanged */
    const char *hook_json;   /**< NULL: unchanged, "": removed */
    int64_t default_version; /**< 0: unchanged; must exist */
} dd_registry_template_update_t;

typedef int (*dd_registry_template_fn)(void *ctx, const dd_registry_template_t *tpl);
typedef int (*dd_registry_template_version_fn)(void *ctx,
                                               const dd_registry_template_version_t *version);

/**
 * @brief Creates a template with version 1 from @p tpl (name, description,
 *        enabled, role_arn, type, hook_json, body; the rest is ignored). The
 *        body is stored as given: the caller checks it (dd_provision).
 * @return DD_REGISTRY_OK, _INVALID (name), _ALREADY_EXISTS or _STORE_ERROR.
 */
dd_registry_status_t dd_registry_template_create(dd_registry_t *reg,
                                                 const dd_registry_template_t *tpl,
                                                 dd_registry_error_t *err);
/** @brief Calls @p fn with the template; NOT_FOUND when there is none. */
dd_registry_status_t dd_registry_template_get(dd_registry_t *reg, const char *name,
                                              dd_registry_template_fn fn, void *ctx,
                                              dd_registry_error_t *err);
/** @brief Lists templates by name, paged; @p next gets the next page's token ("" at the end). */
dd_registry_status_t dd_registry_template_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                               dd_registry_template_fn fn, void *ctx, char *next,
                                               size_t next_len);
/** @brief UpdateProvisioningTemplate. */
dd_registry_status_t dd_registry_template_update(dd_registry_t *reg, const char *name,
                                                 const dd_registry_template_update_t *u,
                                                 dd_registry_error_t *err);
/** @brief Deletes a template and its versions (and its tags). */
dd_registry_status_t dd_registry_template_delete(dd_registry_t *reg, const char *name,
                                                 dd_registry_error_t *err);
/**
 * @brief Adds a version; LIMIT_EXCEEDED when the template has
 *        DD_REGISTRY_MAX_TEMPLATE_VERSIONS already.
 * @param[out] version_id The new version's id.
 */
dd_registry_status_t dd_registry_template_version_create(dd_registry_t *reg, const char *name,
                                                         const char *body, bool set_default,
                                                         int64_t *version_id,
                                                         dd_registry_error_t *err);
/** @brief Calls @p fn with one version (NOT_FOUND for an unknown template or version). */
dd_registry_status_t dd_registry_template_version_get(dd_registry_t *reg, const char *name,
                                                      int64_t version_id,
                                                      dd_registry_template_version_fn fn, void *ctx,
                                                      dd_registry_error_t *err);
/** @brief Calls @p fn with every version, newest first. */
dd_registry_status_t dd_registry_template_version_list(dd_registry_t *reg, const char *name,
                                                       dd_registry_template_version_fn fn,
                                                       void *ctx, dd_registry_error_t *err);
/** @brief Deletes a version; DELETE_CONFLICT for the default version. */
dd_registry_status_t dd_registry_template_version_delete(dd_registry_t *reg, const char *name,
                                                         int64_t version_id,
                                                         dd_registry_error_t *err);

/* ---- tags ---------------------------------------------------------------- */

/** Most tags on one resource (AWS: 50). */
#define DD_REGISTRY_MAX_TAGS 50

/** Tag callback (0 = continue). */
typedef int (*dd_registry_tag_fn)(void *ctx, const char *key, const char *value);

/**
 * @brief Adds or changes the tags of the resource @p arn. With @p replace, the
 *        resource's tags become exactly @p tags_json (a Create call).
 * @param[in] tags_json JSON array of {"Key": k, "Value": v} (Value may be absent = "").
 * @return DD_REGISTRY_LIMIT_EXCEEDED beyond DD_REGISTRY_MAX_TAGS (nothing changed),
 *         DD_REGISTRY_INVALID for a malformed list or a reserved "aws:" key.
 */
dd_registry_status_t dd_registry_tags_set(dd_registry_t *reg, const char *arn,
                                          const char *tags_json, bool replace,
                                          dd_registry_error_t *err);
/** @brief Removes the tags with the keys in @p keys_json (JSON array of strings). */
dd_registry_status_t dd_registry_tags_remove(dd_registry_t *reg, const char *arn,
                                             const char *keys_json, dd_registry_error_t *err);
/** @brief Lists the tags of @p arn in key order; @p next receives the token or "". */
dd_registry_status_t dd_registry_tags_list(dd_registry_t *reg, const char *arn,
                                           const dd_registry_page_t *page, dd_registry_tag_fn fn,
                                           void *ctx, char *next, size_t next_len,
                                           dd_registry_error_t *err);

/* ---- certificates ------------------------------------------------------- */

/**
 * @brief Registers a certificate from its PEM; its id is the SHA-256 of the DER.
 * @param[out] cert_id Optional buffer (>= 65 bytes) for the id.
 */
dd_registry_status_t dd_registry_cert_add(dd_registry_t *reg, const char *pem,
                                          dd_cert_status_t status, bool is_service, char *cert_id,
                                          size_t cert_id_len, dd_registry_error_t *err);
dd_registry_status_t dd_registry_cert_get(dd_registry_t *reg, const char *cert_id,
                                          dd_registry_cert_fn fn, void *ctx,
                                          dd_registry_error_t *err);
dd_registry_status_t dd_registry_cert_set_status(dd_registry_t *reg, const char *cert_id,
                                                 dd_cert_status_t status, dd_registry_error_t *err);
/** @brief Deletes a certificate; refused while attached to things or policies, or ACTIVE (unless @p force). */
dd_registry_status_t dd_registry_cert_delete(dd_registry_t *reg, const char *cert_id, bool force,
                                             dd_registry_error_t *err);
dd_registry_status_t dd_registry_cert_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                           bool ascending, dd_registry_cert_fn fn, void *ctx,
                                           char *next, size_t next_len);

/** @brief Attaches a certificate to a thing (idempotent). */
dd_registry_status_t dd_registry_principal_attach(dd_registry_t *reg, const char *thing,
                                                  const char *cert_id, dd_registry_error_t *err);
dd_registry_status_t dd_registry_principal_detach(dd_registry_t *reg, const char *thing,
                                                  const char *cert_id, dd_registry_error_t *err);
/** @brief Certificate ids attached to a thing. */
dd_registry_status_t dd_registry_thing_principals(dd_registry_t *reg, const char *thing,
                                                  const dd_registry_page_t *page,
                                                  dd_registry_name_fn fn, void *ctx, char *next,
                                                  size_t next_len, dd_registry_error_t *err);
/** @brief Things a certificate is attached to. */
dd_registry_status_t dd_registry_principal_things(dd_registry_t *reg, const char *cert_id,
                                                  const dd_registry_page_t *page,
                                                  dd_registry_name_fn fn, void *ctx, char *next,
                                                  size_t next_len, dd_registry_error_t *err);

/* ---- CA certificates (dd_registry_cacerts.c) ---------------------------- */

/**
 * @brief Registers a device certificate signed by registered CA @p ca_cert_id
 *        (RegisterCertificate) or, with @p ca_cert_id NULL or "", without a CA
 *        (RegisterCertificateWithoutCA). The caller has verified the signature.
 *        The certificate takes the CA's certificateMode; without a CA it is SNI_ONLY.
 * @param[out] cert_id Optional buffer (>= 65 bytes) for the id.
 * @return DD_REGISTRY_OK, DD_REGISTRY_BAD_PARAMETER, DD_REGISTRY_INVALID (not a
 *         certificate), DD_REGISTRY_NOT_FOUND (no such CA), DD_REGISTRY_ALREADY_EXISTS
 *         or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_cert_register(dd_registry_t *reg, const char *pem,
                                               dd_cert_status_t status, const char *ca_cert_id,
                                               char *cert_id, size_t cert_id_len,
                                               dd_registry_error_t *err);

/**
 * @brief The account's CA registration code (GetRegistrationCode): 64 hex
 *        characters, made on first use and then kept (AWS's stays the same too).
 * @param[out] code Receives the code and a NUL.
 */
dd_registry_status_t dd_registry_registration_code(dd_registry_t *reg, char code[65],
                                                   dd_registry_error_t *err);

/**
 * @brief Registers a CA certificate. The caller has checked the PEM (a CA) and
 *        the verification certificate.
 * @param[in] mode "DEFAULT" or "SNI_ONLY".
 * @param[in] registration_config JSON object text, NULL or "" for none.
 * @param[out] ca_id Optional buffer (>= 65 bytes) for the id.
 * @return DD_REGISTRY_OK, DD_REGISTRY_BAD_PARAMETER, DD_REGISTRY_INVALID,
 *         DD_REGISTRY_ALREADY_EXISTS or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_ca_add(dd_registry_t *reg, const char *pem, bool active,
                                        bool auto_registration, const char *mode,
                                        const char *registration_config, char *ca_id,
                                        size_t ca_id_len, dd_registry_error_t *err);
/** @brief Calls @p fn with CA @p ca_id; DD_REGISTRY_NOT_FOUND when unknown. */
dd_registry_status_t dd_registry_ca_get(dd_registry_t *reg, const char *ca_id, dd_registry_ca_fn fn,
                                        void *ctx, dd_registry_error_t *err);
/**
 * @brief UpdateCACertificate. @p active / @p auto_registration: -1 = unchanged,
 *        0 = INACTIVE / DISABLE, 1 = ACTIVE / ENABLE; @p registration_config NULL =
 *        unchanged, "" = removed. A status change logs every certificate of the CA in
 *        the change log: the broker shim refuses certificates of an INACTIVE CA.
 */
dd_registry_status_t dd_registry_ca_update(dd_registry_t *reg, const char *ca_id, int active,
                                           int auto_registration, const char *registration_config,
                                           dd_registry_error_t *err);
/**
 * @brief DeleteCACertificate: refused (DD_REGISTRY_INVALID) while ACTIVE and
 *        (DD_REGISTRY_DELETE_CONFLICT) while certificates it signed are registered.
 */
dd_registry_status_t dd_registry_ca_delete(dd_registry_t *reg, const char *ca_id,
                                           dd_registry_error_t *err);
/** @brief ListCACertificates, by (creation date, id); the token is the id of the last row. */
dd_registry_status_t dd_registry_ca_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                         bool ascending, dd_registry_ca_fn fn, void *ctx,
                                         char *next, size_t next_len);
/** @brief ListCertificatesByCA: the device certificates registered with CA @p ca_id. */
dd_registry_status_t dd_registry_ca_cert_list(dd_registry_t *reg, const char *ca_id,
                                              const dd_registry_page_t *page, bool ascending,
                                              dd_registry_cert_fn fn, void *ctx, char *next,
                                              size_t next_len);

/**
 * @brief Stores a certificate revocation list (PEM), keyed by its issuer's
 *        subject: a newer list of the same issuer replaces the older one. ddlocal
 *        has no network, so the issuer's CRL is handed to it (`ddlocal cert crl`)
 *        instead of being fetched; the audit's revocation checks read these.
 * @return DD_REGISTRY_OK, DD_REGISTRY_BAD_PARAMETER, DD_REGISTRY_INVALID (not a
 *         PEM CRL) or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_crl_put(dd_registry_t *reg, const char *pem,
                                         dd_registry_error_t *err);
/** @brief Calls @p fn with the PEM of every stored CRL (as a name callback). */
dd_registry_status_t dd_registry_crl_list(dd_registry_t *reg, dd_registry_name_fn fn, void *ctx);

/* ---- thing groups ------------------------------------------------------- */

/** @brief Creates a static thing group; @p parent NULL or "" for a root group. */
dd_registry_status_t dd_registry_group_create(dd_registry_t *reg, const char *name,
                                              const char *parent, const char *description,
                                              const char *attributes_json, char *group_id,
                                              size_t group_id_len, dd_registry_error_t *err);
dd_registry_status_t dd_registry_group_get(dd_registry_t *reg, const char *name,
                                           dd_registry_group_fn fn, void *ctx,
                                           dd_registry_error_t *err);
/** @brief Updates description/attributes (NULL = unchanged); bumps the version. */
dd_registry_status_t dd_registry_group_update(dd_registry_t *reg, const char *name,
                                              const char *description, const char *attributes_json,
                                              int64_t expected_version, int64_t *new_version,
                                              dd_registry_error_t *err);
/** @brief Deletes a group; refused while it has child groups. Missing group: OK. */
dd_registry_status_t dd_registry_group_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err);
/**
 * @brief Lists groups in name order, optionally only children of @p parent
 *        (all descendants when @p recursive) and/or with a name prefix.
 */
dd_registry_status_t dd_registry_group_list(dd_registry_t *reg, const char *parent,
                                            const char *name_prefix, bool recursive,
                                            const dd_registry_page_t *page, dd_registry_group_fn fn,
                                            void *ctx, char *next, size_t next_len,
                                            dd_registry_error_t *err);
/**
 * @brief Adds a thing to a group (idempotent). Enforces AWS's rules: at most
 *        10 groups per thing, not two groups of the same hierarchy.
 */
dd_registry_status_t dd_registry_group_add_thing(dd_registry_t *reg, const char *group,
                                                 const char *thing, dd_registry_error_t *err);
/** @brief Removes a thing from a group (idempotent). */
dd_registry_status_t dd_registry_group_remove_thing(dd_registry_t *reg, const char *group,
                                                    const char *thing, dd_registry_error_t *err);
/** @brief Things in a group (and its descendants when @p recursive), name order. */
dd_registry_status_t dd_registry_group_things(dd_registry_t *reg, const char *group, bool recursive,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err);
/** @brief Groups a thing is directly in, name order. */
dd_registry_status_t dd_registry_thing_groups(dd_registry_t *reg, const char *thing,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err);
/**
 * @brief The groups a thing is in, directly or through parents (each once).
 *        What security-profile targets and group policies apply to.
 */
dd_registry_status_t dd_registry_thing_groups_closure(dd_registry_t *reg, const char *thing,
                                                      dd_registry_name_fn fn, void *ctx);
/** @brief Root-to-parent chain of a group (for DescribeThingGroup), root first. */
dd_registry_status_t dd_registry_group_ancestors(dd_registry_t *reg, const char *group,
                                                 dd_registry_name_fn fn, void *ctx);

/* ---- policies ----------------------------------------------------------- */

/**
 * @brief Creates an IoT policy after validating its document with dd_policy
 *        (the message names the problem on refusal).
 */
dd_registry_status_t dd_registry_policy_create(dd_registry_t *reg, const char *name,
                                               const char *document, dd_registry_error_t *err);
dd_registry_status_t dd_registry_policy_get(dd_registry_t *reg, const char *name,
                                            dd_registry_policy_fn fn, void *ctx,
                                            dd_registry_error_t *err);
/**
 * @brief Deletes a policy; refused (DELETE_CONFLICT) while attached or while
 *        it has versions other than the default one (as AWS does).
 */
dd_registry_status_t dd_registry_policy_delete(dd_registry_t *reg, const char *name,
                                               dd_registry_error_t *err);
dd_registry_status_t dd_registry_policy_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                             bool ascending, dd_registry_policy_fn fn, void *ctx,
                                             char *next, size_t next_len);
/**
 * @brief Adds a version to a policy after validating its document.
 *
 * Version IDs count up per policy and are never reused. The new version
 * becomes the default (what the broker shim enforces) when @p set_default.
 * @param[out] version_id The new ID as decimal text (DD_REGISTRY_VERSION_ID_MAX).
 * @return DD_REGISTRY_OK, NOT_FOUND, INVALID (malformed document) or
 *         LIMIT_EXCEEDED (the policy already has DD_REGISTRY_MAX_POLICY_VERSIONS).
 */
dd_registry_status_t dd_registry_policy_version_create(dd_registry_t *reg, const char *name,
                                                       const char *document, bool set_default,
                                                       char *version_id, size_t version_id_len,
                                                       dd_registry_error_t *err);
/** @brief One version of a policy; NOT_FOUND names the policy or the version. */
dd_registry_status_t dd_registry_policy_version_get(dd_registry_t *reg, const char *name,
                                                    const char *version_id,
                                                    dd_registry_policy_version_fn fn, void *ctx,
                                                    dd_registry_error_t *err);
/** @brief Every version of a policy, newest first (as AWS lists them). */
dd_registry_status_t dd_registry_policy_version_list(dd_registry_t *reg, const char *name,
                                                     dd_registry_policy_version_fn fn, void *ctx,
                                                     dd_registry_error_t *err);
/** @brief Deletes a version; the default version is refused (DELETE_CONFLICT). */
dd_registry_status_t dd_registry_policy_version_delete(dd_registry_t *reg, const char *name,
                                                       const char *version_id,
                                                       dd_registry_error_t *err);
/** @brief Makes a version the default; logs a policy change so the shim enforces it. */
dd_registry_status_t dd_registry_policy_version_set_default(dd_registry_t *reg, const char *name,
                                                            const char *version_id,
                                                            dd_registry_error_t *err);
/**
 * @brief Attaches a policy to a target ARN: a certificate
 *        (arn:aws:iot:R:A:cert/ID) or a thing group (…:thinggroup/NAME). Idempotent.
 */
dd_registry_status_t dd_registry_policy_attach(dd_registry_t *reg, const char *policy,
                                               const char *target_arn, dd_registry_error_t *err);
dd_registry_status_t dd_registry_policy_detach(dd_registry_t *reg, const char *policy,
                                               const char *target_arn, dd_registry_error_t *err);
/** @brief Policies attached to a target ARN (for a group, also its ancestors' when @p recursive). */
dd_registry_status_t dd_registry_policies_for_target(dd_registry_t *reg, const char *target_arn,
                                                     bool recursive, const dd_registry_page_t *page,
                                                     dd_registry_name_fn fn, void *ctx, char *next,
                                                     size_t next_len, dd_registry_error_t *err);
/** @brief Target ARNs a policy is attached to. */
dd_registry_status_t dd_registry_policy_targets(dd_registry_t *reg, const char *policy,
                                                const dd_registry_page_t *page,
                                                dd_registry_name_fn fn, void *ctx, char *next,
                                                size_t next_len, dd_registry_error_t *err);

/* ---- SNS stand-in subscriptions ----------------------------------------- */

dd_registry_status_t dd_registry_subscription_add(dd_registry_t *reg, const char *topic,
                                                  const char *protocol, const char *endpoint,
                                                  int64_t *id, dd_registry_error_t *err);
dd_registry_status_t dd_registry_subscription_remove(dd_registry_t *reg, int64_t id,
                                                     dd_registry_error_t *err);
/** @brief Subscriptions of one topic, or of all topics when @p topic is NULL. */
dd_registry_status_t dd_registry_subscription_list(dd_registry_t *reg, const char *topic,
                                                   dd_registry_subscription_fn fn, void *ctx);

/* ---- reset ------------------------------------------------------------------ */

/**
 * @brief Deletes every thing, device and CA certificate, CRL, thing group and policy (and their
 *        attachments and memberships), all or nothing. Service certificates, settings and
 *        SNS subscriptions stay. Every deleted entity is in the change log (the shim follows).
 * @return DD_REGISTRY_OK, DD_REGISTRY_BAD_PARAMETER or DD_REGISTRY_STORE_ERROR.
 */
dd_registry_status_t dd_registry_reset(dd_registry_t *reg, dd_registry_error_t *err);

/* ---- change log and shim snapshot ---------------------------------------- */

/** @brief Highest change sequence number so far (0 when none). */
dd_registry_status_t dd_registry_change_head(dd_registry_t *reg, int64_t *seq);
/** @brief Changes with seq > @p after, oldest first, at most @p limit (<= 0: all). */
dd_registry_status_t dd_registry_changes_since(dd_registry_t *reg, int64_t after, int limit,
                                               dd_registry_change_fn fn, void *ctx);

/**
 * @brief The state of one entity as the broker shim needs it, as a new cJSON
 *        object the caller frees with cJSON_Delete():
 *        - thing:  {"exists":true,"groups":["G1",...]}             (direct groups)
 *        - cert:   {"exists":true,"status":"ACTIVE","service":false, (INACTIVE when
 *                   registered with a CA that is not ACTIVE)
 *                   "things":["T"...],"policies":["P"...]}
 *        - group:  {"exists":true,"parent":"P"|null,"policies":[...]}
 *        - policy: {"exists":true,"document":"<json text>"}
 *        A missing entity gives {"exists":false}.
 */
dd_registry_status_t dd_registry_entity_json(dd_registry_t *reg, dd_registry_kind_t kind,
                                             const char *name, cJSON **out);

/** @brief Calls @p fn for every entity name of @p kind (to build a full snapshot). */
dd_registry_status_t dd_registry_entity_names(dd_registry_t *reg, dd_registry_kind_t kind,
                                              dd_registry_name_fn fn, void *ctx);

/* ---- names -------------------------------------------------------------- */

/** @return "ACTIVE", "INACTIVE", ... */
const char *dd_cert_status_name(dd_cert_status_t status);
/** @brief Parses "ACTIVE" etc.; false when unknown. */
bool dd_cert_status_parse(const char *text, dd_cert_status_t *status);
/** @return "thing", "cert", "group", "policy". */
const char *dd_registry_kind_name(dd_registry_kind_t kind);
/** @brief Parses a kind name; false when unknown. */
bool dd_registry_kind_parse(const char *text, dd_registry_kind_t *kind);
/** @return Static text for @p status. */
const char *dd_registry_strerror(dd_registry_status_t status);

#endif /* DD_REGISTRY_H_ */
