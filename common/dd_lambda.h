/**
 * @file dd_lambda.h
 * @brief The Lambda stand-in's functions: a Python handler (FILE.py:FUNCTION)
 *        with its environment and timeout, subscribed to an SNS stand-in topic.
 *
 * A function is stored in the data dir's database (component "lambda", table
 * lambda_functions) and subscribed to its topic as AWS does it: an SNS
 * subscription with protocol "lambda" whose endpoint is the function's ARN
 * `arn:aws:lambda:REGION:ACCOUNT:function:NAME` (dd_registry's
 * sns_subscriptions). ddlocald's deliverer invokes it for each message of the
 * topic (dd_lambdarun.h); `ddlocal lambda add|list|remove` manage it.
 *
 * Ownership: the database and registry are borrowed. Rows handed to the list
 * and get callbacks point into SQLite's statement and are valid only during
 * the call. Not thread-safe beyond what the SQLite connection is.
 */
#ifndef DD_LAMBDA_H_
#define DD_LAMBDA_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "dd_names.h"
#include "dd_registry.h"

/** Status codes of this module. */
typedef enum dd_lambda_status {
    DD_LAMBDA_OK = 0,
    DD_LAMBDA_BAD_PARAMETER,
    DD_LAMBDA_INVALID,     /**< A name, handler, variable or timeout is not acceptable. */
    DD_LAMBDA_EXISTS,      /**< A function of that name exists. */
    DD_LAMBDA_NOT_FOUND,   /**< No function of that name. */
    DD_LAMBDA_STORE_ERROR, /**< SQLite failed. */
    DD_LAMBDA_BUFFER_TOO_SMALL
} dd_lambda_status_t;

/** Longest function name (AWS: 64). */
#define DD_LAMBDA_NAME_MAX 64
/** Default and largest timeout in seconds (AWS: 3 and 900). */
#define DD_LAMBDA_TIMEOUT_DEFAULT 3
#define DD_LAMBDA_TIMEOUT_MAX 900
/** Longest environment: AWS allows 4 KB of variables in total. */
#define DD_LAMBDA_ENV_MAX 4096

/** A function. */
typedef struct dd_lambda_function {
    const char *name;             /**< [A-Za-z0-9_-]{1,64} */
    const char *topic;            /**< SNS stand-in topic name it is subscribed to. */
    const char *handler_file;     /**< Absolute path of the .py file. */
    const char *handler_function; /**< A Python identifier. */
    const char *env_json;         /**< JSON object of string variables, "{}" when none. */
    int timeout_s;                /**< 1..DD_LAMBDA_TIMEOUT_MAX. */
    int64_t created_ms;           /**< Ignored by dd_lambda_add(). */
} dd_lambda_function_t;

/** Row callback; return non-zero to stop. */
typedef int (*dd_lambda_fn)(void *ctx, const dd_lambda_function_t *fn);

/**
 * @brief Creates or migrates the lambda_functions table.
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER or DD_LAMBDA_STORE_ERROR.
 */
dd_lambda_status_t dd_lambda_open(sqlite3 *db);

/** @return true when @p name is a valid function name. */
bool dd_lambda_name_valid(const char *name);

/**
 * @brief Checks an environment variable name the way Lambda does: a letter
 *        then letters, digits and underscores, and not one of the names the
 *        runtime sets itself (AWS_REGION, AWS_LAMBDA_*, credentials, ...).
 * @param[out] why Reason when invalid (may be NULL).
 */
bool dd_lambda_env_key_valid(const char *key, char *why, size_t why_len);

/**
 * @brief Builds the function's ARN arn:aws:lambda:REGION:ACCOUNT:function:NAME.
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER or DD_LAMBDA_BUFFER_TOO_SMALL.
 */
dd_lambda_status_t dd_lambda_arn(const dd_arn_ctx_t *ctx, const char *name, char *buf, size_t len);

/**
 * @brief The function name of a function ARN (any region/account).
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER, DD_LAMBDA_INVALID (not a
 *         function ARN) or DD_LAMBDA_BUFFER_TOO_SMALL.
 */
dd_lambda_status_t dd_lambda_name_from_arn(const char *arn, char *buf, size_t len);

/**
 * @brief Adds a function and its "lambda" subscription to @p fn->topic, in
 *        one transaction. Validates every field (not the file's existence:
 *        the caller resolves and checks the path).
 * @param[in] reg Open registry (its database holds the table too).
 * @param[in] fn The function.
 * @param[out] error Reason for a refusal (may be NULL).
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER, DD_LAMBDA_INVALID,
 *         DD_LAMBDA_EXISTS or DD_LAMBDA_STORE_ERROR.
 */
dd_lambda_status_t dd_lambda_add(dd_registry_t *reg, const dd_lambda_function_t *fn, char *error,
                                 size_t error_len);

/**
 * @brief Removes a function and every subscription whose endpoint is its
 *        ARN, in one transaction.
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER, DD_LAMBDA_NOT_FOUND or
 *         DD_LAMBDA_STORE_ERROR.
 */
dd_lambda_status_t dd_lambda_remove(dd_registry_t *reg, const char *name);

/**
 * @brief Calls @p fn for each function (by name), or only for @p name.
 * @param[in] name NULL for all functions.
 * @return DD_LAMBDA_OK, DD_LAMBDA_BAD_PARAMETER, DD_LAMBDA_NOT_FOUND (a
 *         @p name given and unknown) or DD_LAMBDA_STORE_ERROR.
 */
dd_lambda_status_t dd_lambda_list(sqlite3 *db, const char *name, dd_lambda_fn fn, void *ctx);

/** @return Static text for @p status. */
const char *dd_lambda_strerror(dd_lambda_status_t status);

#endif /* DD_LAMBDA_H_ */
