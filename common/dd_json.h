/**
 * @file dd_json.h
 * @brief Strict JSON for every document that comes from outside: an RFC 8259 gate (Jansson) in
 *        front of the cJSON parse the rest of ddlocal works with.
 *
 * cJSON is lenient: it reads numbers with strtod (so `0123`, `01`, `1.`, `1.e2` pass), keeps
 * duplicate keys, stops a string at an escaped NUL and, unless asked, ignores text after the
 * document. AWS rejects all of these. Rather than hand-roll a validator, each outside document
 * is first loaded by Debian's Jansson with duplicate keys rejected (its defaults already refuse
 * trailing text, `\u0000`, raw control characters, invalid UTF-8 and the number forms RFC 8259
 * forbids); only a document Jansson accepts reaches cJSON. The one exception to RFC 8259 kept
 * on purpose: a leading UTF-8 BOM is skipped (RFC 8259 §8.1 allows a parser to ignore it, and
 * cJSON always did). Numbers are only checked for grammar and for overflow of a double
 * (`1e400`); integers of any length are accepted as cJSON reads them.
 *
 * Ownership: dd_json_parse() hands the caller a cJSON tree to free with cJSON_Delete(); nothing
 * else allocates beyond the call. Thread-safety: every function is reentrant.
 */
#ifndef DD_JSON_H_
#define DD_JSON_H_

#include <stddef.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_json_status {
    DD_JSON_OK = 0,
    DD_JSON_BAD_PARAMETER,  /**< NULL pointer. */
    DD_JSON_NO_MEMORY,
    DD_JSON_MALFORMED,      /**< Not one RFC 8259 JSON text (syntax, number, string, trailing). */
    DD_JSON_DUPLICATE_KEY,  /**< An object has the same member name twice. */
    DD_JSON_TOO_DEEP        /**< Nested deeper than cJSON (1000) or Jansson (2048) accepts. */
} dd_json_status_t;

/** Flag: keep duplicate object keys (for a caller whose own walk refuses them with a better
 *  message, e.g. the report decoder, which also keeps the report_id it already read). */
#define DD_JSON_ALLOW_DUPLICATES 0x1u

/** Why a document was refused: the parser's message and the byte offset it stopped at. */
typedef struct dd_json_error {
    size_t offset;     /**< Byte offset into the text given (BOM included). */
    char message[160]; /**< e.g. "invalid token near '01'"; "" on success. */
} dd_json_error_t;

/**
 * @brief Checks that text[0..len) is exactly one strict JSON value (any type at the top).
 *
 * Whitespace may surround the value; a leading UTF-8 BOM is skipped; nothing else may follow.
 * The text need not be NUL-terminated and nothing past len is read.
 *
 * @param[in]  text JSON text (may be NULL only when len is 0).
 * @param[in]  len  Its length in bytes.
 * @param[in]  flags 0 or DD_JSON_ALLOW_DUPLICATES.
 * @param[out] err  Optional: filled on failure, emptied on success.
 * @return DD_JSON_OK, DD_JSON_BAD_PARAMETER, DD_JSON_NO_MEMORY, DD_JSON_MALFORMED,
 *         DD_JSON_DUPLICATE_KEY, DD_JSON_TOO_DEEP (beyond Jansson's 2048 levels).
 */
dd_json_status_t dd_json_check(const char *text, size_t len, unsigned flags,
                               dd_json_error_t *err);

/**
 * @brief dd_json_check(), then the cJSON tree of the same text.
 *
 * @param[in]  text JSON text (may be NULL only when len is 0).
 * @param[in]  len  Its length in bytes.
 * @param[in]  flags 0 or DD_JSON_ALLOW_DUPLICATES.
 * @param[out] out  The tree (caller frees with cJSON_Delete()); NULL on failure.
 * @param[out] err  Optional: filled on failure, emptied on success.
 * @return as dd_json_check(); also DD_JSON_TOO_DEEP past cJSON's 1000 levels.
 */
dd_json_status_t dd_json_parse(const char *text, size_t len, unsigned flags, cJSON **out,
                               dd_json_error_t *err);

/**
 * @brief Human-readable text for a status.
 * @param[in] status A status of this module.
 * @return A static string (never NULL).
 */
const char *dd_json_strerror(dd_json_status_t status);

#endif /* DD_JSON_H_ */
