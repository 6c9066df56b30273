/**
 * @file dd_shimreg.h
 * @brief The broker shim's in-memory copy of the registry: things and their
 *        groups, certificates (status, service flag, things, policies),
 *        thing groups (parent, policies) and compiled IoT policies, and the
 *        effective policy set of a connection.
 *
 * Built from dd_registry_entity_json() states: once from the database at
 * plugin start (dd_shimreg_load()), then from control messages
 * (dd_shimreg_apply()). Every successful change bumps a generation counter so
 * that per-connection caches know to recompute.
 *
 * An update is all or nothing: every entity of a call is parsed (policy
 * documents compiled with dd_policy) before anything changes, so a malformed
 * document leaves the previous registry in force and the error names the
 * problem, e.g. `policy Bad: Statement[0].Effect must be "Allow" or "Deny"`.
 *
 * Ownership: the shimreg owns every entity and compiled policy. Pointers it
 * returns (entities, policies) stay valid until the next dd_shimreg_apply()
 * or dd_shimreg_destroy(); check dd_shimreg_generation() before reusing them.
 * The policy array of dd_shimreg_policies_for() is malloc'd and the caller
 * frees it with free() (the policies in it remain the shimreg's).
 * Not thread-safe (the broker has one thread).
 */
#ifndef DD_SHIMREG_H_
#define DD_SHIMREG_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dd_map.h"
#include "dd_policy.h"
#include "dd_registry.h"

/** Status codes of this module. */
typedef enum dd_shimreg_status {
    DD_SHIMREG_OK = 0,
    DD_SHIMREG_BAD_PARAMETER, /**< NULL pointer or bad kind. */
    DD_SHIMREG_INVALID,       /**< An entity state or policy document was refused (err says why). */
    DD_SHIMREG_NOT_FOUND,     /**< No such entity. */
    DD_SHIMREG_NO_MEMORY,     /**< Allocation failed. */
    DD_SHIMREG_STORE_ERROR    /**< Reading the database failed. */
} dd_shimreg_status_t;

/** A list of names. */
typedef struct dd_shimreg_names {
    char **items;
    size_t count;
} dd_shimreg_names_t;

/** A thing. */
typedef struct dd_shimreg_thing {
    dd_shimreg_names_t groups; /**< Groups the thing is directly in. */
} dd_shimreg_thing_t;

/** A certificate. */
typedef struct dd_shimreg_cert {
    dd_cert_status_t status;
    bool service;                /**< ddlocal's own service identity. */
    dd_shimreg_names_t things;   /**< Things it is attached to. */
    dd_shimreg_names_t policies; /**< Policies attached to it. */
} dd_shimreg_cert_t;

/** A thing group. */
typedef struct dd_shimreg_group {
    char *parent;                /**< NULL for a root group. */
    dd_shimreg_names_t policies; /**< Policies attached to the group itself. */
} dd_shimreg_group_t;

/** A policy. */
typedef struct dd_shimreg_policy {
    dd_policy_t *compiled;
} dd_shimreg_policy_t;

/** The registry copy. Initialise with dd_shimreg_init(). */
typedef struct dd_shimreg {
    dd_map_t maps[DD_REGISTRY_KIND_COUNT]; /**< name -> entity, per kind */
    uint64_t generation;                   /**< Bumped by every change. */
} dd_shimreg_t;

/** One entity update: the name and its dd_registry_entity_json() state. */
typedef struct dd_shimreg_update {
    dd_registry_kind_t kind;
    const char *name;
    const cJSON *state;
} dd_shimreg_update_t;

/** Flags of dd_shimreg_apply(). */
#define DD_SHIMREG_FULL 0x1u    /**< The updates are the whole registry: drop the rest. */
#define DD_SHIMREG_LENIENT 0x2u /**< Skip (and log) invalid entities instead of refusing all. */

/** Deepest group hierarchy followed (AWS allows 7 levels). */
#define DD_SHIMREG_MAX_DEPTH 16

/**
 * @brief Initialises an empty registry copy (generation 1).
 * @param[out] reg Registry copy.
 */
void dd_shimreg_init(dd_shimreg_t *reg);

/**
 * @brief Frees every entity.
 * @param[in,out] reg Registry copy; NULL is ignored.
 */
void dd_shimreg_destroy(dd_shimreg_t *reg);

/**
 * @brief Applies entity states, all or nothing (unless DD_SHIMREG_LENIENT).
 * @param[in,out] reg Registry copy.
 * @param[in] updates The updates, applied in order (a later one for the same
 *                    entity wins).
 * @param[in] count Number of updates (0 is fine, e.g. an empty full snapshot).
 * @param[in] flags DD_SHIMREG_FULL and/or DD_SHIMREG_LENIENT.
 * @param[out] err Optional: names the refused entity and the problem.
 * @param[in] err_len Size of @p err.
 * @return DD_SHIMREG_OK, DD_SHIMREG_BAD_PARAMETER, DD_SHIMREG_INVALID or
 *         DD_SHIMREG_NO_MEMORY (nothing changed on any error).
 */
dd_shimreg_status_t dd_shimreg_apply(dd_shimreg_t *reg, const dd_shimreg_update_t *updates,
                                     size_t count, unsigned flags, char *err, size_t err_len);

/**
 * @brief Replaces the copy with the registry's current content (lenient:
 *        an entity that does not parse is skipped and logged).
 * @param[in,out] reg Registry copy.
 * @param[in] src An open registry (read-only access suffices).
 * @param[out] err Optional error text.
 * @param[in] err_len Size of @p err.
 * @return DD_SHIMREG_OK, DD_SHIMREG_BAD_PARAMETER, DD_SHIMREG_NO_MEMORY or
 *         DD_SHIMREG_STORE_ERROR.
 */
dd_shimreg_status_t dd_shimreg_load(dd_shimreg_t *reg, dd_registry_t *src, char *err,
                                    size_t err_len);

/**
 * @brief Loads from the database file at @p db_path, opened read-only (the
 *        shim never writes the registry).
 * @param[in,out] reg Registry copy.
 * @param[in] db_path DIR/ddlocal.db.
 * @param[out] err Optional error text.
 * @param[in] err_len Size of @p err.
 * @return As dd_shimreg_load().
 */
dd_shimreg_status_t dd_shimreg_load_file(dd_shimreg_t *reg, const char *db_path, char *err,
                                         size_t err_len);

/** @return The generation (changes on every successful apply/load), 0 for NULL. */
uint64_t dd_shimreg_generation(const dd_shimreg_t *reg);

/** @return The certificate with id @p cert_id, or NULL. */
const dd_shimreg_cert_t *dd_shimreg_cert(const dd_shimreg_t *reg, const char *cert_id);

/** @return The thing named @p name, or NULL. */
const dd_shimreg_thing_t *dd_shimreg_thing(const dd_shimreg_t *reg, const char *name);

/** @return The group named @p name, or NULL. */
const dd_shimreg_group_t *dd_shimreg_group(const dd_shimreg_t *reg, const char *name);

/** @return The compiled policy named @p name, or NULL. */
const dd_policy_t *dd_shimreg_policy(const dd_shimreg_t *reg, const char *name);

/** @return Number of entities of @p kind. */
size_t dd_shimreg_count(const dd_shimreg_t *reg, dd_registry_kind_t kind);

/**
 * @brief The policies that apply to a connection: its certificate's, and,
 *        when it is a thing, those of the thing's groups and of all their
 *        ancestors; each once, missing ones skipped.
 * @param[in] reg Registry copy.
 * @param[in] cert_id The connection's certificate.
 * @param[in] thing The connection's thing, or NULL.
 * @param[out] out Receives a malloc'd array (NULL when empty); free() it.
 * @param[out] count Receives its length.
 * @return DD_SHIMREG_OK, DD_SHIMREG_BAD_PARAMETER or DD_SHIMREG_NO_MEMORY.
 */
dd_shimreg_status_t dd_shimreg_policies_for(const dd_shimreg_t *reg, const char *cert_id,
                                            const char *thing, const dd_policy_t ***out,
                                            size_t *count);

/**
 * @brief Whether a thing is in a group, directly or through a child group.
 * @param[in] reg Registry copy.
 * @param[in] thing Thing name.
 * @param[in] group Group name.
 * @return true when it is.
 */
bool dd_shimreg_thing_in_group(const dd_shimreg_t *reg, const char *thing, const char *group);

/** @return Static text for @p status. */
const char *dd_shimreg_strerror(dd_shimreg_status_t status);

#endif /* DD_SHIMREG_H_ */
