/**
 * @file dd_json.h
 * @brief Strict JSON for every document that comes from outside: an RFC 8259 gate (yajl) in
 *        front of the cJSON parse the rest of ddlocal works with.
 *
 * cJSON is lenient: it reads numbers with strtod (so `0123`, `01`, `1.`, `1.e2` pass), keeps
 * duplicate keys, stops a string at an escaped NUL and, unless asked, ignores text after the
 * document. AWS rejects all of these. Rather than hand-roll a validator, each outside text is
 * first run through Debian's yajl, a streaming parser that builds nothing: its defaults refuse
 * the number forms RFC 8259 forbids, trailing text (a trailing NUL byte included), raw control
 * characters in strings and malformed UTF-8 sequences; a callback refuses `\u0000` in a string
 * or key. Only a text yajl accepts reaches cJSON, and a walk over cJSON's tree then refuses an
 * object with the same key twice. The one exception to RFC 8259 kept on purpose: a leading
 * UTF-8 BOM is skipped (RFC 8259 §8.1 allows a parser to ignore it, and cJSON always did).
 * Numbers of any size are JSON (`1e400` is read by cJSON as infinity; every caller already
 * refuses non-finite numbers). A lone surrogate escape (`\ud800`), which RFC 8259 §8.2 leaves
 * to the implementation, is refused because cJSON cannot decode it. yajl 2.1 checks UTF-8 lead
 * and continuation bytes but not overlong forms.
 *
 * Why yajl and not Jansson (which checks all of this too, and duplicates): Jansson builds a tree
 * of its own, and as a gate it cost 13.7 us of CPU per 700-byte report against 2.3 us for yajl
 * (report-format.md §10), on a pipeline whose whole budget is ~100 us of CPU per report.
 *
 * Ownership: dd_json_parse() hands the caller a cJSON tree to free with cJSON_Delete(); nothing
 * else allocates beyond the call. Thread-safety: every function is reentrant (each call has its
 * own yajl handle; yajl has no globals).
 */
#ifndef DD_JSON_H_
#define DD_JSON_H_

#include <stddef.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_json_status {
    DD_JSON_OK = 0,
    DD_JSON_BAD_PARAMETER, /**< NULL pointer. */
    DD_JSON_NO_MEMORY,
    DD_JSON_MALFORMED,     /**< Not one RFC 8259 JSON text (syntax, number, string, trailing). */
    DD_JSON_DUPLICATE_KEY, /**< An object has the same member name twice. */
    DD_JSON_UNSUPPORTED    /**< JSON cJSON cannot hold: deeper than 1000 levels, or a lone
                             *   surrogate escape such as "\ud800" (or malloc failed there). */
} dd_json_status_t;

/** Flag: keep duplicate object keys (for a caller whose own walk refuses them with a better
 *  message, e.g. the report decoder, which also keeps the report_id it already read). */
#define DD_JSON_ALLOW_DUPLICATES 0x1u

/** dd_json_error_t.offset when the position is not known (duplicate keys, nesting). */
#define DD_JSON_NO_OFFSET ((size_t)-1)

/** Why a document was refused. */
typedef struct dd_json_error {
    size_t offset;     /**< Byte offset into the text given (BOM included) where the parser
                        *   stopped, or DD_JSON_NO_OFFSET. */
    char message[160]; /**< Printable ASCII, ready to show, the offset included when known:
                        *   "lexical error: malformed number, a digit is required after the
                        *   decimal point. (at byte 7)", "duplicate object key \"a\"";
                        *   "" on success. */
} dd_json_error_t;

/**
 * @brief Checks that text[0..len) is exactly one strict JSON value (any type at the top);
 *        dd_json_parse() with the tree thrown away (duplicates need the tree).
 *
 * Whitespace may surround the value; a leading UTF-8 BOM is skipped; nothing else may follow.
 * The text need not be NUL-terminated and nothing past len is read.
 *
 * @param[in]  text JSON text (may be NULL only when len is 0).
 * @param[in]  len  Its length in bytes.
 * @param[in]  flags 0 or DD_JSON_ALLOW_DUPLICATES.
 * @param[out] err  Optional: filled on failure, emptied on success.
 * @return DD_JSON_OK, DD_JSON_BAD_PARAMETER, DD_JSON_NO_MEMORY, DD_JSON_MALFORMED,
 *         DD_JSON_DUPLICATE_KEY, DD_JSON_UNSUPPORTED.
 */
dd_json_status_t dd_json_check(const char *text, size_t len, unsigned flags, dd_json_error_t *err);

/**
 * @brief dd_json_check(), then the cJSON tree of the same text.
 *
 * @param[in]  text JSON text (may be NULL only when len is 0).
 * @param[in]  len  Its length in bytes.
 * @param[in]  flags 0 or DD_JSON_ALLOW_DUPLICATES.
 * @param[out] out  The tree (caller frees with cJSON_Delete()); NULL on failure.
 * @param[out] err  Optional: filled on failure, emptied on success.
 * @return as dd_json_check().
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
