/**
 * @file dd_rest.h
 * @brief The AWS `rest-json` protocol details of ddlocal's control API:
 *        query strings, timestamps, error codes and bodies, pagination
 *        tokens, and the server-side validation that botocore leaves to the
 *        service (max lengths, patterns, enums, ranges).
 *
 * Validation failures produce AWS's own message form, e.g.
 * "1 validation error detected: Value 'a b' at 'securityProfileName' failed
 * to satisfy constraint: Member must satisfy regular expression pattern:
 * [a-zA-Z0-9:_-]+", into a caller buffer of DD_REST_MESSAGE_MAX bytes.
 *
 * Ownership: dd_rest_query_t owns a malloc'd copy of the decoded query and
 * is released with dd_rest_query_free(); strings returned by its getters
 * live as long as it. Everything else writes caller buffers or returns new
 * cJSON values the caller deletes. No global mutable state: thread-safe.
 */
#ifndef DD_REST_H_
#define DD_REST_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_rest_status {
    DD_REST_OK = 0,
    DD_REST_BAD_PARAMETER, /**< NULL pointer. */
    DD_REST_INVALID,       /**< Value refused; the message says why. */
    DD_REST_ABSENT,        /**< Optional value not given (getters). */
    DD_REST_NO_MEMORY,
    DD_REST_TOO_LONG /**< Output buffer too small. */
} dd_rest_status_t;

/** Size of message buffers. */
#define DD_REST_MESSAGE_MAX 512
/** Longest pagination token produced, including the NUL. */
#define DD_REST_TOKEN_MAX 1100
/** Longest key a token can carry, including the NUL. */
#define DD_REST_TOKEN_KEY_MAX 768
/** Length of a request id (UUID) including the NUL. */
#define DD_REST_REQUEST_ID_LEN 37

/** Character sets of the service model's string patterns. */
typedef enum dd_rest_charset {
    DD_REST_ANY = 0,      /**< No pattern. */
    DD_REST_NAME,         /**< [a-zA-Z0-9:_-]+ (things, groups, profiles, metrics...) */
    DD_REST_NAME_NOCOLON, /**< [a-zA-Z0-9_-]+ (mitigation actions, task ids) */
    DD_REST_TOKEN,        /**< ^[a-zA-Z0-9-_]+$ (clientRequestToken) */
    DD_REST_VIOLATION_ID, /**< [a-zA-Z0-9\-]+ */
    DD_REST_GRAPH_SPACE,  /**< [\p{Graph}\x20]* (descriptions, display names) */
    DD_REST_NO_CONTROL,   /**< [^\p{Cntrl}]* */
    DD_REST_POLICY_NAME,  /**< [\w+=,.@-]+ */
    DD_REST_ATTR_NAME,    /**< [a-zA-Z0-9_.,@/:#-]+ */
    DD_REST_ATTR_VALUE,   /**< [a-zA-Z0-9_.,@/:#=\[\]-]* (thing attributes) */
    DD_REST_CERT_ID,      /**< (0x)?[a-fA-F0-9]+ */
    DD_REST_CHARSET_COUNT_
} dd_rest_charset_t;

/** A parsed query string. */
typedef struct dd_rest_query {
    size_t count;
    char **names;  /**< Decoded names (into @ref buf). */
    char **values; /**< Decoded values ("" for "name" without '='). */
    char *buf;     /**< Owns the text. */
} dd_rest_query_t;

/* ---- query strings ------------------------------------------------------- */

/**
 * @brief Parses a raw query string ("a=1&b=x%3Ay", without the '?'), percent-
 *        decoding names and values ('+' stays a plus sign).
 * @param[in] raw Query text; NULL or "" gives an empty query.
 * @param[out] q Receives the parameters; free with dd_rest_query_free().
 * @param[out] msg Optional DD_REST_MESSAGE_MAX buffer for the refusal.
 * @return DD_REST_OK, DD_REST_BAD_PARAMETER, DD_REST_INVALID (bad escape) or DD_REST_NO_MEMORY.
 */
dd_rest_status_t dd_rest_query_parse(const char *raw, dd_rest_query_t *q, char *msg);

/** @brief Releases a query; safe on a zeroed one. */
void dd_rest_query_free(dd_rest_query_t *q);

/** @return The first value of @p name, or NULL when absent. */
const char *dd_rest_query_get(const dd_rest_query_t *q, const char *name);

/**
 * @brief A string parameter checked against length and character set.
 * @param[in] q Query.
 * @param[in] name Parameter name (also used in the message).
 * @param[in] required Absent is an error.
 * @param[in] min Minimum length in bytes.
 * @param[in] max Maximum length in characters (UTF-8 code points).
 * @param[in] cs Character set.
 * @param[out] out The value (borrowed from @p q), NULL when absent.
 * @param[out] msg DD_REST_MESSAGE_MAX buffer.
 * @return DD_REST_OK, DD_REST_ABSENT (optional and absent) or DD_REST_INVALID.
 */
dd_rest_status_t dd_rest_query_string(const dd_rest_query_t *q, const char *name, bool required,
                                      size_t min, size_t max, dd_rest_charset_t cs,
                                      const char **out, char *msg);

/** @brief An integer parameter in [min, max]; DD_REST_ABSENT leaves *out unchanged. */
dd_rest_status_t dd_rest_query_int(const dd_rest_query_t *q, const char *name, bool required,
                                   int64_t min, int64_t max, int64_t *out, char *msg);

/** @brief A boolean parameter ("true"/"false", any case); ABSENT leaves *out unchanged. */
dd_rest_status_t dd_rest_query_bool(const dd_rest_query_t *q, const char *name, bool required,
                                    bool *out, char *msg);

/**
 * @brief An enum parameter.
 * @param[in] values NULL-terminated list of allowed values.
 * @param[out] index Index of the value in @p values (unchanged when absent).
 */
dd_rest_status_t dd_rest_query_enum(const dd_rest_query_t *q, const char *name, bool required,
                                    const char *const *values, int *index, char *msg);

/** @brief A timestamp parameter (see dd_rest_time_parse()), in epoch ms. */
dd_rest_status_t dd_rest_query_time(const dd_rest_query_t *q, const char *name, bool required,
                                    int64_t *out_ms, char *msg);

/* ---- JSON bodies --------------------------------------------------------- */

/**
 * @brief A string member of a JSON object checked like dd_rest_query_string().
 * @param[in] obj JSON object (may be NULL: every member absent).
 * @param[in] name Member name.
 * @param[in] path Name used in messages (e.g. "target.behaviorName"); NULL = @p name.
 * @return DD_REST_OK, DD_REST_ABSENT or DD_REST_INVALID (also for a non-string).
 */
dd_rest_status_t dd_rest_json_string(const cJSON *obj, const char *name, const char *path,
                                     bool required, size_t min, size_t max, dd_rest_charset_t cs,
                                     const char **out, char *msg);

/** @brief A boolean member; ABSENT leaves *out unchanged. */
dd_rest_status_t dd_rest_json_bool(const cJSON *obj, const char *name, bool required, bool *out,
                                   char *msg);

/** @brief An integer member in [min, max]; ABSENT leaves *out unchanged. */
dd_rest_status_t dd_rest_json_int(const cJSON *obj, const char *name, bool required, int64_t min,
                                  int64_t max, int64_t *out, char *msg);

/** @brief An enum member; ABSENT leaves *index unchanged. */
dd_rest_status_t dd_rest_json_enum(const cJSON *obj, const char *name, bool required,
                                   const char *const *values, int *index, char *msg);

/** @brief A timestamp member: epoch seconds number or ISO-8601 string, in ms. */
dd_rest_status_t dd_rest_json_time(const cJSON *obj, const char *name, bool required,
                                   int64_t *out_ms, char *msg);

/**
 * @brief An array member whose length must be in [min, max].
 * @param[out] out The array (borrowed), NULL when absent.
 */
dd_rest_status_t dd_rest_json_array(const cJSON *obj, const char *name, bool required, size_t min,
                                    size_t max, const cJSON **out, char *msg);

/* ---- strings and messages ------------------------------------------------ */

/**
 * @brief Checks a string against a length range and character set, writing
 *        AWS's validation message naming @p member on refusal.
 * @return DD_REST_OK or DD_REST_INVALID.
 */
dd_rest_status_t dd_rest_check_string(const char *member, const char *value, size_t min, size_t max,
                                      dd_rest_charset_t cs, char *msg);

/** @return true when every character of @p value belongs to @p cs (empty: true). */
bool dd_rest_charset_ok(dd_rest_charset_t cs, const char *value);

/** @return The model's pattern text for @p cs, for messages. */
const char *dd_rest_charset_pattern(dd_rest_charset_t cs);

/** @return Number of UTF-8 code points in @p s (invalid bytes count one each). */
size_t dd_rest_utf8_length(const char *s);

/**
 * @brief Writes "1 validation error detected: Value '<value>' at '<member>'
 *        failed to satisfy constraint: <constraint>" (value cut at 100 chars).
 */
void dd_rest_validation_message(char *msg, const char *member, const char *value,
                                const char *constraint);

/* ---- timestamps ---------------------------------------------------------- */

/**
 * @brief Parses a timestamp: ISO-8601 `YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]`
 *        (also with a space or lowercase t; a missing zone means UTC), or an
 *        epoch-seconds number with an optional fraction.
 * @param[in] text The text.
 * @param[out] out_ms Epoch milliseconds.
 * @return DD_REST_OK, DD_REST_BAD_PARAMETER or DD_REST_INVALID.
 */
dd_rest_status_t dd_rest_time_parse(const char *text, int64_t *out_ms);

/**
 * @brief A response timestamp: a JSON number of epoch SECONDS with the
 *        milliseconds as fraction (1560278102.528), as AWS sends.
 * @return A new cJSON number, or NULL when out of memory.
 */
cJSON *dd_rest_time_json(int64_t ms);

/**
 * @brief Adds a timestamp member to @p obj (see dd_rest_time_json()).
 * @return true on success.
 */
bool dd_rest_add_time(cJSON *obj, const char *name, int64_t ms);

/* ---- errors -------------------------------------------------------------- */

/**
 * @brief HTTP status of an IoT error code from the service model
 *        (ResourceNotFoundException 404, LimitExceededException 410, ...).
 * @param[in] code Error code, e.g. "InvalidRequestException".
 * @return The status; 400 for unknown codes.
 */
int dd_rest_error_status(const char *code);

/**
 * @brief The JSON error body: {"message":..., ["resourceId":..., "resourceArn":...]}.
 * @param[in] message Message.
 * @param[in] resource_id NULL or "" to omit.
 * @param[in] resource_arn NULL or "" to omit.
 * @return A malloc'd NUL-terminated string (free()), or NULL when out of memory.
 */
char *dd_rest_error_body(const char *message, const char *resource_id, const char *resource_arn);

/* ---- pagination ---------------------------------------------------------- */

/**
 * @brief Wraps a resume key into an opaque token (base64 of a tagged key,
 *        also valid for the identity operations' marker pattern).
 * @param[in] key Resume key (e.g. the last name returned), not empty.
 * @param[out] out Buffer of DD_REST_TOKEN_MAX bytes.
 * @param[in] len Size of @p out.
 * @return DD_REST_OK, DD_REST_BAD_PARAMETER or DD_REST_TOO_LONG.
 */
dd_rest_status_t dd_rest_token_encode(const char *key, char *out, size_t len);

/**
 * @brief Unwraps a token produced by dd_rest_token_encode().
 * @param[in] token Token text.
 * @param[out] key Buffer of DD_REST_TOKEN_KEY_MAX bytes.
 * @param[in] len Size of @p key.
 * @return DD_REST_OK, DD_REST_BAD_PARAMETER or DD_REST_INVALID (not ours).
 */
dd_rest_status_t dd_rest_token_decode(const char *token, char *key, size_t len);

/**
 * @brief The page size from `maxResults` (or @p name): absent gives
 *        @p dflt, outside [1, @p max] is refused.
 */
dd_rest_status_t dd_rest_query_page_size(const dd_rest_query_t *q, const char *name, int max,
                                         int dflt, int *out, char *msg);

/**
 * @brief The resume key from the token parameter @p name ("nextToken" or
 *        "marker"); "" when absent.
 * @param[out] key Buffer of DD_REST_TOKEN_KEY_MAX bytes.
 */
dd_rest_status_t dd_rest_query_token(const dd_rest_query_t *q, const char *name, char *key,
                                     size_t len, char *msg);

/* ---- misc ---------------------------------------------------------------- */

/** @brief A random UUID v4 for x-amzn-RequestId. */
void dd_rest_request_id(char out[DD_REST_REQUEST_ID_LEN]);

/** @return Static text for @p status. */
const char *dd_rest_strerror(dd_rest_status_t status);

#endif /* DD_REST_H_ */
