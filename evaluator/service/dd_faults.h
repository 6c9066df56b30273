/**
 * @file dd_faults.h
 * @brief ddlocald's fault table for resilience tests: faults a test injects
 *        (POST /ddlocal/v1/faults, `ddlocal fault add`) and the places where
 *        things happen ask for (dd_faults_match()): answer a thing's report
 *        with Throttled, answer it late, not at all, or disconnect the
 *        thing; drop or delay an alert's deliveries; fail a mitigation
 *        action.
 *
 * A fault is scoped to one thing or to every thing ("*"); it fires at most
 * @c count times (0: until cleared) and stops at @c expires_ms of pipeline
 * time (0: never), so a manual clock expires faults deterministically. A
 * fault that fired its count or expired is removed at the next call that
 * looks at it. Faults live in memory only: a restarted ddlocald starts with
 * none (a test never inherits the faults of a crashed run).
 *
 * Ownership and threads: the caller owns the dd_faults_t (dd_faults_init(),
 * nothing to free) and serialises every call; in ddlocald every caller holds
 * the pipeline lock. dd_faults_json() and dd_faults_list() return cJSON
 * trees the caller deletes.
 */
#ifndef DD_FAULTS_H_
#define DD_FAULTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_faults_status {
    DD_FAULTS_OK = 0,
    DD_FAULTS_BAD_PARAMETER,
    DD_FAULTS_INVALID,   /**< A fault definition was refused; the message says why. */
    DD_FAULTS_FULL,      /**< DD_FAULTS_MAX faults are in force already. */
    DD_FAULTS_NOT_FOUND, /**< No fault with that id. */
    DD_FAULTS_NO_MATCH,  /**< dd_faults_match(): no fault fires. */
    DD_FAULTS_NO_MEMORY
} dd_faults_status_t;

/** What a fault does. */
typedef enum dd_faults_kind {
    DD_FAULTS_THROTTLE = 0,    /**< A report is refused on /rejected with Throttled. */
    DD_FAULTS_DELAY_REPLY,     /**< A report's reply leaves delay_ms (wall) late. */
    DD_FAULTS_NO_REPLY,        /**< A report is accepted but never answered. */
    DD_FAULTS_DISCONNECT,      /**< A report is dropped and its thing kicked off the broker. */
    DD_FAULTS_DROP_DELIVERY,   /**< An alert's SNS message, webhooks and Lambdas are dropped. */
    DD_FAULTS_DELAY_DELIVERY,  /**< ... leave delay_ms (wall) late. */
    DD_FAULTS_FAIL_MITIGATION, /**< A mitigation action's execution is FAILED with error_code. */
    DD_FAULTS_KIND_COUNT
} dd_faults_kind_t;

/** The kinds' names, for messages. */
#define DD_FAULTS_KIND_NAMES \
    "throttle, delay-reply, no-reply, disconnect, drop-delivery, delay-delivery, fail-mitigation"
/** Most faults in force at once. */
#define DD_FAULTS_MAX 64
/** Longest delay, ms (10 minutes). */
#define DD_FAULTS_DELAY_MAX_MS 600000
/** errorCode of fail-mitigation when the fault names none. */
#define DD_FAULTS_DEFAULT_ERROR_CODE "FaultInjected"
/** The scope of a fault on every thing. */
#define DD_FAULTS_EVERY_THING "*"

/** One fault. */
typedef struct dd_faults_fault {
    uint64_t id; /**< Given by dd_faults_add(), from 1. */
    dd_faults_kind_t kind;
    char thing[129];       /**< A thing name or DD_FAULTS_EVERY_THING. */
    int64_t count;         /**< Times it fires before it is removed; 0 = until cleared. */
    int64_t fired;         /**< Times it fired so far. */
    int64_t created_ms;    /**< Pipeline time of the add. */
    int64_t expires_ms;    /**< Pipeline time it stops at; 0 = never. */
    int64_t delay_ms;      /**< DELAY_REPLY, DELAY_DELIVERY: wall ms, 1..DD_FAULTS_DELAY_MAX_MS. */
    char action_name[129]; /**< FAIL_MITIGATION: only this action ("" = any). */
    char action_type[64];  /**< FAIL_MITIGATION: only this actionType ("" = any). */
    char error_code[64];   /**< FAIL_MITIGATION: the execution's errorCode. */
    char message[256];     /**< FAIL_MITIGATION: the execution's message. */
} dd_faults_fault_t;

/** The table. Initialise with dd_faults_init(). */
typedef struct dd_faults {
    dd_faults_fault_t items[DD_FAULTS_MAX];
    size_t count;
    uint64_t last_id;
} dd_faults_t;

/** @brief Empties @p t (ids start again from 1). NULL is ignored. */
void dd_faults_init(dd_faults_t *t);

/**
 * @brief Parses a fault definition, the body of POST /ddlocal/v1/faults:
 *        {"kind":K, "thing":T|"*" (default "*"), "count":N (1..1000000),
 *        "expiresInSeconds":S (> 0), "delayMs":MS (delay kinds: required),
 *        "actionName":A, "actionType":TYPE, "errorCode":C, "message":M
 *        (the last four: fail-mitigation only)}. Unknown members and members
 *        of another kind are refused.
 * @param[in] body JSON text (need not be NUL-terminated).
 * @param[in] len Its length.
 * @param[in] now_ms Pipeline time: created_ms, and expires_ms from expiresInSeconds.
 * @param[out] out The fault (id 0 until added).
 * @param[out] msg Why it was refused.
 * @param[in] msg_len Size of @p msg.
 * @return DD_FAULTS_OK, DD_FAULTS_BAD_PARAMETER, DD_FAULTS_INVALID or DD_FAULTS_NO_MEMORY.
 */
dd_faults_status_t dd_faults_parse(const char *body, size_t len, int64_t now_ms,
                                   dd_faults_fault_t *out, char *msg, size_t msg_len);

/**
 * @brief Adds a fault (a copy of @p f with a new id and fired = 0).
 * @param[out] id The new fault's id (may be NULL).
 * @return DD_FAULTS_OK, DD_FAULTS_BAD_PARAMETER or DD_FAULTS_FULL.
 */
dd_faults_status_t dd_faults_add(dd_faults_t *t, const dd_faults_fault_t *f, uint64_t *id);

/**
 * @brief Finds the first fault (oldest first) of @p kind that applies and
 *        fires it: counts the firing and removes it once it fired its count.
 * @param[in] thing The thing concerned; NULL (an Audit finding) is matched by "*" only.
 * @param[in] action_name FAIL_MITIGATION: the action's name (else ignored, may be NULL).
 * @param[in] action_type FAIL_MITIGATION: its actionType (else ignored, may be NULL).
 * @param[in] now_ms Pipeline time (expired faults are removed, never fired).
 * @param[out] fired A copy of the fault as it fired (fired counts this one); may be NULL.
 * @return DD_FAULTS_OK (fired), DD_FAULTS_NO_MATCH or DD_FAULTS_BAD_PARAMETER.
 */
dd_faults_status_t dd_faults_match(dd_faults_t *t, dd_faults_kind_t kind, const char *thing,
                                   const char *action_name, const char *action_type, int64_t now_ms,
                                   dd_faults_fault_t *fired);

/**
 * @brief Removes faults: the one @p id, or (id 0) every fault whose scope is
 *        @p thing (NULL: any) and whose kind is @p kind (NULL: any).
 * @param[out] cleared How many were removed (may be NULL).
 * @return DD_FAULTS_OK, DD_FAULTS_BAD_PARAMETER (unknown kind name) or
 *         DD_FAULTS_NOT_FOUND (an @p id not in force).
 */
dd_faults_status_t dd_faults_clear(dd_faults_t *t, uint64_t id, const char *thing, const char *kind,
                                   size_t *cleared);

/**
 * @brief The faults in force at @p now_ms (expired ones are removed first), oldest first.
 * @param[out] array A cJSON array of dd_faults_json() objects (caller deletes).
 * @return DD_FAULTS_OK, DD_FAULTS_BAD_PARAMETER or DD_FAULTS_NO_MEMORY.
 */
dd_faults_status_t dd_faults_list(dd_faults_t *t, int64_t now_ms, cJSON **array);

/**
 * @brief A fault as JSON: {"id","kind","thing","count","fired","createdMs",
 *        "expiresMs" (when set), "delayMs", "actionName", "actionType",
 *        "errorCode", "message" (those of its kind)}.
 * @return The object (caller deletes) or NULL when out of memory.
 */
cJSON *dd_faults_json(const dd_faults_fault_t *f);

/** @brief The kind named @p name ("throttle", ...). @return false when there is none. */
bool dd_faults_kind_parse(const char *name, dd_faults_kind_t *out);

/** @return The name of @p kind ("throttle", ...), "?" for none. */
const char *dd_faults_kind_name(dd_faults_kind_t kind);

/** @return Static text for @p status. */
const char *dd_faults_strerror(dd_faults_status_t status);

#endif /* DD_FAULTS_H_ */
