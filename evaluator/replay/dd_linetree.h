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
 * Ownership: the dd_linetree_t owns every node; a tree lives until the next parse or
 * dd_linetree_destroy(). Not thread-safe: one per reader.
 */
#ifndef DD_LINETREE_H_
#define DD_LINETREE_H_

#include <stddef.h>

#include <cjson/cJSON.h>

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

/** A short text for @p status. */
const char *dd_linetree_strerror(dd_linetree_status_t status);

#endif /* DD_LINETREE_H_ */
