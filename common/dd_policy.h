/**
 * @file dd_policy.h
 * @brief AWS IoT policy documents: validation, compilation and evaluation of
 *        the data-plane actions (connect, publish, subscribe, receive).
 *
 * Two users: the registry validates a document when a policy is created
 * (dd_policy_validate(): a refused document gets a message naming the
 * problem, e.g. `Statement[1].Effect must be "Allow" or "Deny"`), and the
 * broker shim evaluates every CONNECT, PUBLISH, SUBSCRIBE and delivery
 * against the compiled policies of the connection (dd_policy_evaluate()).
 *
 * The language (docs/reference/policies.md has the full story):
 * - `Version` must be "2012-10-17"; `Statement` is an object or a non-empty
 *   list of objects with `Effect` ("Allow"/"Deny"), `Action` and `Resource`
 *   (each a string or a non-empty list of strings) and an optional `Sid`.
 * - Actions match case-insensitively with `*` and `?` wildcards ("iot:*",
 *   "iot:Pub*", "*"). Actions other than the data-plane ones are accepted
 *   and kept, but only ever match through a wildcard.
 * - Resources are "*" or ARNs, matched case-sensitively; `*` matches any run
 *   of characters (including `/` and none), `?` exactly one character; MQTT's
 *   `+` and `#` are ordinary characters.
 * - Variables `${iot:ClientId}` and `${iot:Connection.Thing.ThingName}` are
 *   substituted at evaluation as literal text (a client id "*" matches only
 *   "*"); `${*}`, `${?}`, `${$}` stand for the characters themselves. A
 *   resource using a variable that has no value for the connection does not
 *   match (neither in Allow nor in Deny statements).
 * - Refused: `Condition`, `NotAction`, `NotResource` (DD_POLICY_UNSUPPORTED),
 *   `Principal`, unknown or duplicate elements, other variables, documents
 *   over 2048 characters not counting whitespace (AWS's limit).
 * - Decision: default deny; an explicit Deny in any policy wins over every
 *   Allow.
 *
 * Ownership and threads: dd_policy_parse() allocates a compiled dd_policy_t
 * that the caller frees with dd_policy_free(). A compiled policy is immutable:
 * any number of threads may evaluate it at once. dd_policy_evaluate() does no
 * allocation and no I/O; all its inputs are borrowed for the call only.
 */
#ifndef DD_POLICY_H_
#define DD_POLICY_H_

#include <stdbool.h>
#include <stddef.h>

#include "dd_names.h"

/** Status codes of this module. */
typedef enum dd_policy_status {
    DD_POLICY_OK = 0,
    DD_POLICY_BAD_PARAMETER,   /**< NULL pointer or out-of-range value. */
    DD_POLICY_MALFORMED,       /**< Document refused; the message says why. */
    DD_POLICY_UNSUPPORTED,     /**< Valid AWS syntax that ddlocal does not implement. */
    DD_POLICY_TOO_LARGE,       /**< Over DD_POLICY_DOC_MAX_CHARS / _BYTES. */
    DD_POLICY_NO_MEMORY,       /**< Allocation failed. */
    DD_POLICY_BUFFER_TOO_SMALL /**< Output buffer too small. */
} dd_policy_status_t;

/** The data-plane actions ddlocal authorizes. */
typedef enum dd_policy_action {
    DD_POLICY_ACTION_CONNECT = 0,    /**< iot:Connect, resource client/<clientId> */
    DD_POLICY_ACTION_PUBLISH,        /**< iot:Publish, resource topic/<topic> */
    DD_POLICY_ACTION_SUBSCRIBE,      /**< iot:Subscribe, resource topicfilter/<filter> */
    DD_POLICY_ACTION_RECEIVE,        /**< iot:Receive, resource topic/<topic> */
    DD_POLICY_ACTION_RETAIN_PUBLISH, /**< iot:RetainPublish, resource topic/<topic>;
                                          AWS checks it besides iot:Publish when the
                                          retain flag is set */
    DD_POLICY_ACTION_COUNT
} dd_policy_action_t;

/** Outcome of an evaluation. The zero value denies. */
typedef enum dd_policy_decision {
    DD_POLICY_DENY_DEFAULT = 0, /**< No statement allows it. */
    DD_POLICY_DENY_EXPLICIT,    /**< A Deny statement matches. */
    DD_POLICY_ALLOW             /**< An Allow matches and no Deny does. */
} dd_policy_decision_t;

/** Values of the policy variables for one connection. */
typedef struct dd_policy_vars {
    const char *client_id;  /**< ${iot:ClientId}; NULL or "" = no value. */
    const char *thing_name; /**< ${iot:Connection.Thing.ThingName}; NULL or "" = the
                                 connection is not a known thing. */
} dd_policy_vars_t;

/** Which statement decided (for logs and tests). */
typedef struct dd_policy_match {
    size_t policy_index;    /**< Index in the array given to dd_policy_evaluate(). */
    size_t statement_index; /**< Index of the statement in its document. */
    const char *sid;        /**< Its Sid, "" when none; borrowed from the policy. */
} dd_policy_match_t;

/** AWS's limit: characters of a document, not counting whitespace. */
#define DD_POLICY_DOC_MAX_CHARS 2048
/** Hard limit on the raw document, whitespace included, in bytes. */
#define DD_POLICY_DOC_MAX_BYTES 20480
/** Enough room for any error message of dd_policy_parse(). */
#define DD_POLICY_ERROR_MAX 256
/**
 * Resource ARN buffer that holds any AWS-valid client id (128 bytes) or topic
 * (256 bytes) with the longest region/account. Longer names do not fit and
 * the ARN builders return DD_POLICY_BUFFER_TOO_SMALL: deny those.
 */
#define DD_POLICY_RESOURCE_MAX 384

/** A compiled policy document (opaque, immutable). */
typedef struct dd_policy dd_policy_t;

/**
 * @brief Validates and compiles a policy document.
 * @param[in] doc The JSON text (need not be NUL-terminated).
 * @param[in] len Length of @p doc in bytes.
 * @param[out] policy Receives the compiled policy; free with dd_policy_free().
 *                    Set to NULL on failure.
 * @param[out] err Optional: receives a message naming the problem on
 *                 DD_POLICY_MALFORMED, _UNSUPPORTED and _TOO_LARGE ("" on
 *                 success). DD_POLICY_ERROR_MAX bytes are always enough.
 * @param[in] err_len Size of @p err (0 when @p err is NULL).
 * @return DD_POLICY_OK, DD_POLICY_BAD_PARAMETER, DD_POLICY_MALFORMED,
 *         DD_POLICY_UNSUPPORTED, DD_POLICY_TOO_LARGE or DD_POLICY_NO_MEMORY.
 */
dd_policy_status_t dd_policy_parse(const char *doc, size_t len, dd_policy_t **policy, char *err,
                                   size_t err_len);

/**
 * @brief Only checks a document (parse, then free).
 * @param[in] doc The JSON text.
 * @param[in] len Length of @p doc in bytes.
 * @param[out] err Optional message buffer, as in dd_policy_parse().
 * @param[in] err_len Size of @p err.
 * @return As dd_policy_parse().
 */
dd_policy_status_t dd_policy_validate(const char *doc, size_t len, char *err, size_t err_len);

/**
 * @brief Frees a compiled policy.
 * @param[in] policy Policy to free; NULL is ignored.
 */
void dd_policy_free(dd_policy_t *policy);

/**
 * @brief Number of statements of a compiled policy.
 * @param[in] policy A compiled policy.
 * @return The count, 0 for NULL.
 */
size_t dd_policy_statement_count(const dd_policy_t *policy);

/**
 * @brief Decides one action on one resource for one connection.
 *
 * Deny statements of every policy are checked before any Allow, so the
 * result does not depend on the order of @p policies. No allocation, no I/O.
 *
 * @param[in] policies The policies that apply to the connection (its
 *                     certificate's, and its thing's groups' and their
 *                     ancestors'); may be NULL when @p count is 0.
 * @param[in] count Number of entries in @p policies (none may be NULL).
 * @param[in] action The action.
 * @param[in] resource The full resource ARN (see dd_policy_resource_arn()).
 * @param[in] vars Variable values; NULL = no variable has a value.
 * @param[out] decision Receives the decision; DD_POLICY_DENY_DEFAULT whenever
 *                      the status is not DD_POLICY_OK.
 * @param[out] match Optional: on ALLOW or DENY_EXPLICIT, the deciding statement.
 * @return DD_POLICY_OK or DD_POLICY_BAD_PARAMETER.
 */
dd_policy_status_t dd_policy_evaluate(const dd_policy_t *const *policies, size_t count,
                                      dd_policy_action_t action, const char *resource,
                                      const dd_policy_vars_t *vars, dd_policy_decision_t *decision,
                                      dd_policy_match_t *match);

/**
 * @brief Builds `arn:aws:iot:REGION:ACCOUNT:client/<client_id>`.
 * @param[in] ctx Region and account.
 * @param[in] client_id The MQTT client id (not validated).
 * @param[out] buf Output buffer (DD_POLICY_RESOURCE_MAX recommended).
 * @param[in] len Size of @p buf.
 * @return DD_POLICY_OK, DD_POLICY_BAD_PARAMETER or DD_POLICY_BUFFER_TOO_SMALL.
 */
dd_policy_status_t dd_policy_client_arn(const dd_arn_ctx_t *ctx, const char *client_id, char *buf,
                                        size_t len);

/**
 * @brief Builds `arn:aws:iot:REGION:ACCOUNT:topic/<topic>`.
 * @param[in] ctx Region and account.
 * @param[in] topic The MQTT topic name (not validated).
 * @param[out] buf Output buffer (DD_POLICY_RESOURCE_MAX recommended).
 * @param[in] len Size of @p buf.
 * @return DD_POLICY_OK, DD_POLICY_BAD_PARAMETER or DD_POLICY_BUFFER_TOO_SMALL.
 */
dd_policy_status_t dd_policy_topic_arn(const dd_arn_ctx_t *ctx, const char *topic, char *buf,
                                       size_t len);

/**
 * @brief Builds `arn:aws:iot:REGION:ACCOUNT:topicfilter/<filter>`.
 * @param[in] ctx Region and account.
 * @param[in] filter The MQTT topic filter, wildcards and all (not validated).
 * @param[out] buf Output buffer (DD_POLICY_RESOURCE_MAX recommended).
 * @param[in] len Size of @p buf.
 * @return DD_POLICY_OK, DD_POLICY_BAD_PARAMETER or DD_POLICY_BUFFER_TOO_SMALL.
 */
dd_policy_status_t dd_policy_topicfilter_arn(const dd_arn_ctx_t *ctx, const char *filter, char *buf,
                                             size_t len);

/**
 * @brief Builds the resource ARN that @p action is checked against: client/
 *        for Connect, topicfilter/ for Subscribe, topic/ for the others.
 * @param[in] ctx Region and account.
 * @param[in] action The action.
 * @param[in] name Client id, topic or topic filter.
 * @param[out] buf Output buffer (DD_POLICY_RESOURCE_MAX recommended).
 * @param[in] len Size of @p buf.
 * @return DD_POLICY_OK, DD_POLICY_BAD_PARAMETER or DD_POLICY_BUFFER_TOO_SMALL.
 */
dd_policy_status_t dd_policy_resource_arn(const dd_arn_ctx_t *ctx, dd_policy_action_t action,
                                          const char *name, char *buf, size_t len);

/**
 * @brief Matches an Action element of a document against an action name the
 *        way evaluation does: case-insensitive, `*` and `?` wildcards.
 *        Device Defender Audit's policy checks use it to read documents.
 * @param[in] pattern The Action text, e.g. "iot:*" or "iot:Pub*".
 * @param[in] action The action name, e.g. "iot:Publish".
 * @return true when @p pattern matches @p action; false for NULL.
 */
bool dd_policy_action_matches(const char *pattern, const char *action);

/** @return "iot:Connect", "iot:Publish", ... or "?" for an unknown value. */
const char *dd_policy_action_name(dd_policy_action_t action);

/** @return "ALLOW", "DENY_EXPLICIT", "DENY_DEFAULT" or "?". */
const char *dd_policy_decision_name(dd_policy_decision_t decision);

/** @return Static text for @p status. */
const char *dd_policy_strerror(dd_policy_status_t status);

#endif /* DD_POLICY_H_ */
