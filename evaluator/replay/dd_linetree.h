/**
 * @file dd_linetree.h
 * @brief One replay line parsed in a single pass by yajl's tokenizer into read-only cJSON nodes
 *        held in a reused arena: the fast path of `ddlocal replay` (issue 15).
 *
 * The strict reader every outside text goes through, dd_json_parse(), runs yajl over the text
 * as a gate, then cJSON over it again to build a tree with one malloc() per member, then walks
 * that tree for duplicate keys; for replay's millions of short lines this was two thirds of the
 * CPU. Here yajl's callbacks build the tree directly, its nodes and strings bump-allocated from
 * an arena that is reset, not freed, per line. The nodes are ordinary cJSON structures (type,
 * child, next, prev with the first child's prev on the last one, string, valuestring,
 * valuedouble, valueint as cJSON sets them), so everything after the parse -- field look-ups,
 * dd_report_decode_cjson() -- reads them unchanged; they must only never be handed to
 * cJSON_Delete() or to a cJSON function that modifies a tree.
 *
 * Only success is decided here: on anything that is not plainly a JSON text this parser
 * handles exactly as dd_json_parse() does (a yajl error, \u0000, a byte order mark, a
 * surrogate escape, a number cJSON would read differently, deep nesting, a duplicate key, an
 * object too big to check cheaply), dd_linetree_parse() answers DD_LINETREE_FALLBACK and the
 * caller parses the line with dd_json_parse(), whose verdict and message then apply. So a
 * line gets the same tree or the same error either way.
 *
 * Second job, the fast lane: dd_linetree_report() decodes a plain report line straight from
 * yajl's callbacks into a dd_report_t, with no tree at all, and says yes only when the tree
 * path would give the same record (tests/unit/dd_linetree_oracle.h is the proof's oracle).
 *
 * Ownership: the dd_linetree_t owns every node; a tree lives until the next parse or
 * dd_linetree_destroy(). Not thread-safe: one per reader.
 */
#ifndef DD_LINETREE_H_
#define DD_LINETREE_H_

#include <stddef.h>

#include <cjson/cJSON.h>

#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_linetree_status {
    DD_LINETREE_OK = 0,
    DD_LINETREE_BAD_PARAMETER,
    DD_LINETREE_NO_MEMORY,
    DD_LINETREE_FALLBACK, /**< Not decided here: parse the line with dd_json_parse(). */
} dd_linetree_status_t;

/** A reusable parser and the arena of its last tree. */
typedef struct dd_linetree dd_linetree_t;

/** Creates a parser; *out is NULL on failure. */
dd_linetree_status_t dd_linetree_create(dd_linetree_t **out);

/** Frees the parser and its last tree; NULL is fine. */
void dd_linetree_destroy(dd_linetree_t *lt);

/**
 * Parses @p len bytes of @p text (NULs included: a NUL makes it FALLBACK) into *root, a tree
 * equal to what dd_json_parse(text, len, 0, ...) returns. The previous tree is gone after this
 * call, whatever it returns; *root is NULL unless DD_LINETREE_OK.
 */
dd_linetree_status_t dd_linetree_parse(dd_linetree_t *lt, const char *text, size_t len,
                                       const cJSON **root);

/** A report line decoded by dd_linetree_report(). */
typedef struct dd_linetree_report {
    char thing[DD_REPORT_THING_NAME_MAX + 1]; /**< "thing", a valid thing name */
    size_t thing_len;
    int64_t time_ms;    /**< "time", epoch milliseconds */
    dd_report_t report; /**< "report"; the caller owns it (dd_report_free()) */
} dd_linetree_report_t;

/**
 * The fast lane of `ddlocal replay` (issue 15): a line {"thing":T,"time":MS,"report":{...}}
 * decoded straight from yajl's callbacks, without a tree. It only says yes: DD_LINETREE_OK
 * when the line is plainly such a report line that the tree path (dd_linetree_parse() or
 * dd_json_parse(), then dd_replay's checks and dd_report_decode_cjson()) accepts, and *out is
 * then exactly what that path gives. Anything else -- another member anywhere, null, custom
 * metrics, a float or a number of more than 15 digits, an ISO time, a backslash in the line,
 * a ports entry without its port, any error -- is DD_LINETREE_FALLBACK with *out zeroed, and
 * the line takes the tree path, whose verdict and messages apply. The previous tree is gone
 * after this call.
 */
dd_linetree_status_t dd_linetree_report(dd_linetree_t *lt, const char *text, size_t len,
                                        dd_linetree_report_t *out);

/** A short text for @p status. */
const char *dd_linetree_strerror(dd_linetree_status_t status);

#endif /* DD_LINETREE_H_ */
