/**
 * @file dd_provision.h
 * @brief Fleet provisioning: the provisioning template language ddlocal
 *        understands, and the device provisioning MQTT API
 *        (CreateKeysAndCertificate, CreateCertificateFromCsr, RegisterThing)
 *        as request in, reply out.
 *
 * Templates: dd_provision_check_template() accepts the subset of AWS's
 * template language that the AWS IoT device SDK samples and the workshop
 * use - Parameters (Type String, optional Default), Resources of type
 * AWS::IoT::Thing (ThingName, AttributePayload, ThingTypeName, ThingGroups),
 * AWS::IoT::Certificate (CertificateId = Ref AWS::IoT::Certificate::Id,
 * Status) and AWS::IoT::Policy (PolicyName or PolicyDocument), the intrinsic
 * functions Ref and Fn::Join, and DeviceConfiguration - and refuses anything
 * else (Conditions, Fn::If, Fn::Sub, OverrideSettings other than the default,
 * ...) with a message naming it, so that a template never half works.
 *
 * The MQTT API: dd_provision_handle() takes one message published on
 * `$aws/certificates/create/FORMAT`, `$aws/certificates/create-from-csr/FORMAT`
 * or `$aws/provisioning-templates/NAME/provision/FORMAT` (FORMAT `json` or
 * `cbor`) and returns the reply topic (the request topic + /accepted or
 * /rejected) and its payload in the request's format.
 * Certificates it creates are PENDING_ACTIVATION until RegisterThing;
 * ownership tokens are random, live DD_PROVISION_TOKEN_TTL_MS of the
 * injected clock and are kept in memory only (a restart of ddlocald forgets
 * them, as a token expiry would). RegisterThing applies a template's
 * resources in one store transaction: all of them or none.
 *
 * Ownership: the registry, store, CA and clock are borrowed (the pipeline's).
 * Not thread-safe: callers hold the pipeline lock.
 */
#ifndef DD_PROVISION_H_
#define DD_PROVISION_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_map.h"
#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_provision_status {
    DD_PROVISION_OK = 0,
    DD_PROVISION_BAD_PARAMETER, /**< NULL pointer. */
    DD_PROVISION_INVALID,       /**< A template outside the supported language; why says what. */
    DD_PROVISION_NOT_REQUEST,   /**< dd_provision_handle(): not a provisioning request topic. */
    DD_PROVISION_NO_MEMORY
} dd_provision_status_t;

/** AWS: a certificate ownership token is valid for one hour. */
#define DD_PROVISION_TOKEN_TTL_MS (3600 * 1000)

/** The template parameter RegisterThing fills with the token's certificate id. */
#define DD_PROVISION_CERT_ID_PARAM "AWS::IoT::Certificate::Id"

/** Longest reply topic. */
#define DD_PROVISION_TOPIC_MAX 192

/** What dd_provision_handle() needs. */
typedef struct dd_provision_config {
    dd_registry_t *registry;    /**< Borrowed. */
    dd_store_t *store;          /**< Borrowed: its transactions wrap RegisterThing. */
    const dd_pki_ca_t *ca;      /**< Borrowed: signs the new certificates. */
    const dd_clock_t *clock;    /**< Borrowed: token expiry. */
    dd_pki_key_type_t key_type; /**< CreateKeysAndCertificate's keys (AWS: RSA 2048). */
} dd_provision_config_t;

/** Counters. */
typedef struct dd_provision_stats {
    uint64_t accepted;
    uint64_t rejected;
    uint64_t things_provisioned;
} dd_provision_stats_t;

/** State: configuration and the live ownership tokens. */
typedef struct dd_provision {
    dd_provision_config_t cfg;
    dd_map_t tokens; /**< token -> token_t (certificate id, expiry) */
    dd_provision_stats_t stats;
} dd_provision_t;

/** One answer of dd_provision_handle(). */
typedef struct dd_provision_reply {
    char topic[DD_PROVISION_TOPIC_MAX]; /**< Request topic + "/accepted" or "/rejected". */
    char *payload; /**< JSON text or CBOR bytes, malloc'd (dd_provision_reply_free). */
    size_t len;
    bool accepted;
    bool registry_changed; /**< Push the registry to the broker before the reply leaves. */
} dd_provision_reply_t;

/**
 * @brief Checks a template body against the supported language.
 * @param[out] why Message for the user when DD_PROVISION_INVALID.
 * @return DD_PROVISION_OK, DD_PROVISION_INVALID or DD_PROVISION_BAD_PARAMETER.
 */
dd_provision_status_t dd_provision_check_template(const char *body, char *why, size_t why_len);

/** @brief Initialises @p prov with @p cfg (copied). */
dd_provision_status_t dd_provision_init(dd_provision_t *prov, const dd_provision_config_t *cfg);

/** @brief Frees the tokens. */
void dd_provision_destroy(dd_provision_t *prov);

/** @brief Forgets every token (ddlocal reset). */
void dd_provision_forget_tokens(dd_provision_t *prov);

/** @return true for the request topics dd_provision_handle() answers. */
bool dd_provision_is_request(const char *topic);

/**
 * @brief Answers one request of the device provisioning MQTT API.
 * @param[in] topic The request topic.
 * @param[in] payload,len The request (JSON or CBOR, as the topic says).
 * @param[out] reply The reply to publish (free with dd_provision_reply_free()).
 * @return DD_PROVISION_OK (a reply, accepted or rejected, is in @p reply),
 *         DD_PROVISION_NOT_REQUEST, DD_PROVISION_NO_MEMORY or DD_PROVISION_BAD_PARAMETER.
 */
dd_provision_status_t dd_provision_handle(dd_provision_t *prov, const char *topic,
                                          const void *payload, size_t len,
                                          dd_provision_reply_t *reply);

/**
 * @return true for a CreateKeysAndCertificate request: its key (RSA 2048: tens to hundreds
 *         of ms) may be made beforehand, without the pipeline lock, with
 *         dd_pki_issue_device() and given to dd_provision_handle_keyed().
 */
bool dd_provision_wants_key(const char *topic);

/**
 * @brief dd_provision_handle() with a key and certificate made beforehand.
 * @param[in,out] key Credentials from dd_pki_issue_device() (same CA), or NULL (or
 *        empty) to make them here. Used ones are taken (zeroed); the caller still
 *        frees @p key with dd_pki_credentials_free() (a no-op once taken).
 */
dd_provision_status_t dd_provision_handle_keyed(dd_provision_t *prov, const char *topic,
                                                const void *payload, size_t len,
                                                dd_pki_credentials_t *key,
                                                dd_provision_reply_t *reply);

/** @brief Frees a reply's payload. */
void dd_provision_reply_free(dd_provision_reply_t *reply);

/** @return Static text for @p status. */
const char *dd_provision_strerror(dd_provision_status_t status);

#endif /* DD_PROVISION_H_ */
