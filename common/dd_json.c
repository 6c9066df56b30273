/* Strict JSON gate: yajl checks the grammar without building a tree, cJSON builds the tree, a
 * walk over that tree finds duplicate keys. */
#include "dd_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* Objects up to this many members are checked for duplicates pair by pair; larger ones are
 * sorted, so a hostile body with 100k keys costs n log n, not n^2. */
#define PAIRWISE_MAX 16

/* The message quotes the input; it goes into API error bodies and logs, so any byte that is not
 * printable ASCII (a bad UTF-8 byte, a control character) becomes '?'. */
static void set_err(dd_json_error_t *err, size_t offset, const char *fmt, const char *arg)
{
    char *p;
    size_t n;

    if (err == NULL) {
        return;
    }
    err->offset = offset;
    (void)snprintf(err->message, sizeof(err->message), fmt, arg);
    n = strlen(err->message);
    if (offset != DD_JSON_NO_OFFSET && n < sizeof(err->message)) {
        (void)snprintf(err->message + n, sizeof(err->message) - n, " (at byte %zu)", offset);
    }
    for (p = err->message; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
            *p = '?';
        }
    }
}

/* RFC 8259 §8.1: a parser MAY ignore a byte order mark; cJSON always skipped it, so does this. */
static size_t bom_len(const char *text, size_t len)
{
    return (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
}

/* yajl hands strings and keys over decoded: \u0000 arrives as a NUL byte, which cJSON would
 * keep only up to (the string stored truncated). Stopping here refuses it. */
static int on_text(void *ctx, const unsigned char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL) {
        *(bool *)ctx = true;
        return 0;
    }
    return 1;
}

/* No number callbacks: yajl then only lexes numbers (RFC 8259 grammar) and converts nothing. */
static const yajl_callbacks CALLBACKS = {
    .yajl_string = on_text,
    .yajl_map_key = on_text,
};

/* The grammar: one value, whitespace around it, valid UTF-8 strings, no \u0000. */
static dd_json_status_t gate(const char *text, size_t len, dd_json_error_t *err)
{
    bool nul = false;
    size_t skip = bom_len(text, len);
    yajl_handle h = yajl_alloc(&CALLBACKS, NULL, &nul);
    yajl_status st;
    size_t at;
    unsigned char *why;

    if (h == NULL) {
        set_err(err, DD_JSON_NO_OFFSET, "%s", "out of memory");
        return DD_JSON_NO_MEMORY;
    }
    st = yajl_parse(h, (const unsigned char *)text + skip, len - skip);
    at = skip + yajl_get_bytes_consumed(h);
    if (st == yajl_status_ok) {
        /* Refuses an empty or unfinished text; yajl_parse() already refused trailing text. */
        st = yajl_complete_parse(h);
        at = len;
    }
    if (st == yajl_status_ok) {
        yajl_free(h);
        return DD_JSON_OK;
    }
    if (nul) {
        set_err(err, at, "%s", "\\u0000 is not allowed in a string");
    } else {
        why = yajl_get_error(h, 0, NULL, 0);
        if (why == NULL) {
            set_err(err, at, "%s", "not valid JSON");
        } else if (strstr((const char *)why, "trailing garbage") != NULL) {
            set_err(err, at, "%s", "unexpected text after the JSON value");
        } else {
            /* "lexical error: malformed number, a digit is required after the decimal point.\n" */
            why[strcspn((const char *)why, "\n")] = '\0';
            set_err(err, at, "%s", (const char *)why);
        }
        if (why != NULL) {
            yajl_free_error(h, why);
        }
    }
    yajl_free(h);
    return DD_JSON_MALFORMED;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key of @p obj that appears twice, or NULL; *oom on allocation failure. The gate has
 * refused keys holding NUL, so strcmp() sees whole keys. */
static const char *duplicate_key(const cJSON *obj, bool *oom)
{
    const cJSON *a;
    const cJSON *b;
    const char **keys;
    const char *dup = NULL;
    size_t n = 0;
    size_t i;

    for (a = obj->child; a != NULL; a = a->next) {
        n++;
    }
    if (n <= PAIRWISE_MAX) {
        for (a = obj->child; a != NULL; a = a->next) {
            for (b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    return a->string;
                }
            }
        }
        return NULL;
    }
    keys = malloc(n * sizeof(*keys));
    if (keys == NULL) {
        *oom = true;
        return NULL;
    }
    for (i = 0, a = obj->child; a != NULL; a = a->next) {
        keys[i++] = a->string;
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    for (i = 1; i < n && dup == NULL; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            dup = keys[i];
        }
    }
    free(keys);
    return dup;
}

/* Recursion depth is bounded by cJSON's nesting limit (1000). */
static dd_json_status_t check_duplicates(const cJSON *node, dd_json_error_t *err)
{
    const cJSON *e;
    const char *dup;
    bool oom = false;
    dd_json_status_t st;

    if (cJSON_IsObject(node)) {
        dup = duplicate_key(node, &oom);
        if (oom) {
            set_err(err, DD_JSON_NO_OFFSET, "%s", "out of memory");
            return DD_JSON_NO_MEMORY;
        }
        if (dup != NULL) {
            set_err(err, DD_JSON_NO_OFFSET, "duplicate object key \"%.64s\"", dup);
            return DD_JSON_DUPLICATE_KEY;
        }
    }
    for (e = node->child; e != NULL; e = e->next) {
        if (e->child != NULL) {
            st = check_duplicates(e, err);
            if (st != DD_JSON_OK) {
                return st;
            }
        }
    }
    return DD_JSON_OK;
}

dd_json_status_t dd_json_parse(const char *text, size_t len, unsigned flags, cJSON **out,
                               dd_json_error_t *err)
{
    dd_json_status_t st;

    if (out != NULL) {
        *out = NULL;
    }
    if (out == NULL || (text == NULL && len != 0) || (flags & ~DD_JSON_ALLOW_DUPLICATES) != 0u) {
        return DD_JSON_BAD_PARAMETER;
    }
    if (text == NULL) {
        text = "";
    }
    st = gate(text, len, err);
    if (st != DD_JSON_OK) {
        return st;
    }
    *out = cJSON_ParseWithLength(text, len);
    if (*out == NULL) {
        /* yajl accepted it, so it is JSON: cJSON refuses only past its nesting limit, on a
         * surrogate escape that is not a pair (or when malloc fails). */
        set_err(err, DD_JSON_NO_OFFSET, "%s",
                "nested deeper than 1000 levels or a lone surrogate escape (\\ud800-\\udfff)");
        return DD_JSON_UNSUPPORTED;
    }
    if ((flags & DD_JSON_ALLOW_DUPLICATES) == 0u) {
        st = check_duplicates(*out, err);
        if (st != DD_JSON_OK) {
            cJSON_Delete(*out);
            *out = NULL;
            return st;
        }
    }
    set_err(err, DD_JSON_NO_OFFSET, "%s", "");
    return DD_JSON_OK;
}

dd_json_status_t dd_json_check(const char *text, size_t len, unsigned flags, dd_json_error_t *err)
{
    cJSON *root = NULL;
    dd_json_status_t st = dd_json_parse(text, len, flags, &root, err);

    cJSON_Delete(root);
    return st;
}

const char *dd_json_strerror(dd_json_status_t status)
{
    switch (status) {
    case DD_JSON_OK: return "ok";
    case DD_JSON_BAD_PARAMETER: return "bad parameter";
    case DD_JSON_NO_MEMORY: return "out of memory";
    case DD_JSON_MALFORMED: return "not valid JSON (RFC 8259)";
    case DD_JSON_DUPLICATE_KEY: return "duplicate object key";
    case DD_JSON_UNSUPPORTED: return "JSON that ddlocal cannot read (depth, surrogates)";
    }
    return "unknown status";
}
