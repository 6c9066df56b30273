/* Strict JSON gate: Jansson decides whether a text is RFC 8259 JSON, cJSON builds the tree. */
#include "dd_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The message quotes the input near the error; it goes into API error bodies and logs, so any
 * byte that is not printable ASCII (a bad UTF-8 byte, a control character) becomes '?'. */
static void set_err(dd_json_error_t *err, size_t offset, const char *message)
{
    char *p;

    if (err != NULL) {
        err->offset = offset;
        (void)snprintf(err->message, sizeof(err->message), "%s", message);
        for (p = err->message; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
                *p = '?';
            }
        }
    }
}

/* RFC 8259 §8.1: a parser MAY ignore a byte order mark; cJSON always skipped it, so does this. */
static size_t bom_len(const char *text, size_t len)
{
    return (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
}

dd_json_status_t dd_json_check(const char *text, size_t len, unsigned flags,
                               dd_json_error_t *err)
{
    json_error_t je;
    json_t *doc;
    size_t skip;
    dd_json_status_t st;

    if ((text == NULL && len != 0) || (flags & ~DD_JSON_ALLOW_DUPLICATES) != 0u) {
        return DD_JSON_BAD_PARAMETER;
    }
    if (text == NULL) {
        text = "";
    }
    skip = bom_len(text, len);
    /* JSON_DECODE_ANY: the callers say which top-level type they want, with their own error.
     * JSON_DECODE_INT_AS_REAL: integers are read as doubles, as cJSON reads them, so a long
     * integer is not refused for overflowing json_int_t. */
    doc = json_loadb(text + skip, len - skip,
                     ((flags & DD_JSON_ALLOW_DUPLICATES) != 0u ? 0u : JSON_REJECT_DUPLICATES) |
                         JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
                     &je);
    if (doc != NULL) {
        json_decref(doc);
        set_err(err, 0, "");
        return DD_JSON_OK;
    }
    switch (json_error_code(&je)) {
    case json_error_out_of_memory: st = DD_JSON_NO_MEMORY; break;
    case json_error_duplicate_key: st = DD_JSON_DUPLICATE_KEY; break;
    case json_error_stack_overflow: st = DD_JSON_TOO_DEEP; break;
    default: st = DD_JSON_MALFORMED; break;
    }
    /* Two of Jansson's messages speak its own API ("end of file expected near 'x'", "...
     * without JSON_ALLOW_NUL"): name the problem instead. */
    set_err(err, skip + (je.position > 0 ? (size_t)je.position : 0u),
            json_error_code(&je) == json_error_end_of_input_expected
                ? "unexpected text after the JSON value"
            : json_error_code(&je) == json_error_null_character
                ? "\\u0000 is not allowed in a string"
                : je.text);
    return st;
}

dd_json_status_t dd_json_parse(const char *text, size_t len, unsigned flags, cJSON **out,
                               dd_json_error_t *err)
{
    dd_json_status_t st;

    if (out == NULL) {
        return DD_JSON_BAD_PARAMETER;
    }
    *out = NULL;
    st = dd_json_check(text, len, flags, err);
    if (st != DD_JSON_OK) {
        return st;
    }
    *out = cJSON_ParseWithLength(text, len);
    if (*out == NULL) {
        /* Jansson accepted it, so it is JSON: cJSON refuses only past its nesting limit (or
         * when malloc fails). */
        set_err(err, 0, "nested deeper than 1000 levels (or out of memory)");
        return DD_JSON_TOO_DEEP;
    }
    return DD_JSON_OK;
}

const char *dd_json_strerror(dd_json_status_t status)
{
    switch (status) {
    case DD_JSON_OK: return "ok";
    case DD_JSON_BAD_PARAMETER: return "bad parameter";
    case DD_JSON_NO_MEMORY: return "out of memory";
    case DD_JSON_MALFORMED: return "not valid JSON (RFC 8259)";
    case DD_JSON_DUPLICATE_KEY: return "duplicate object key";
    case DD_JSON_TOO_DEEP: return "JSON nested too deeply";
    }
    return "unknown status";
}
