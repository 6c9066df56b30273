/**
 * @file dd_route.h
 * @brief Maps an HTTP method and raw request path to an AWS IoT control-plane
 *        operation, with its URI labels percent-decoded.
 *
 * The table holds every operation of botocore's `iot` service model
 * (generated into dd_route_ops.inc by gen_routes.py), not only the ones
 * ddlocal implements, so that a call to an unimplemented operation can be
 * answered with its name.
 *
 * Routing works on the RAW path: ARNs arrive percent-encoded inside one path
 * segment (`arn%3Aaws%3Aiot%3A...%3Athinggroup%2FQuarantine`), so the path is
 * split on '/' first and each segment decoded afterwards. When several
 * templates match (`/thing-groups/addThingToThingGroup` and
 * `/thing-groups/{thingGroupName}`), the one with a literal segment at the
 * first differing position wins.
 *
 * No allocation, no global mutable state: thread-safe. Outputs go to the
 * caller's dd_route_match_t.
 */
#ifndef DD_ROUTE_H_
#define DD_ROUTE_H_

#include <stdbool.h>
#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_route_status {
    DD_ROUTE_OK = 0,
    DD_ROUTE_BAD_PARAMETER, /**< NULL pointer. */
    DD_ROUTE_NOT_FOUND,     /**< No operation has this path. */
    DD_ROUTE_WRONG_METHOD,  /**< Operations have this path, none with this method. */
    DD_ROUTE_BAD_ENCODING,  /**< Malformed percent-encoding, or an encoded NUL. */
    DD_ROUTE_TOO_LONG       /**< Path, segment or label longer than the limits below. */
} dd_route_status_t;

/** Most labels in one URI template. */
#define DD_ROUTE_MAX_LABELS 4
/** Longest decoded label value, without the NUL. */
#define DD_ROUTE_LABEL_MAX 1023
/** Most path segments. */
#define DD_ROUTE_MAX_SEGMENTS 24

/** One decoded URI label. */
typedef struct dd_route_label {
    char name[64];                      /**< Template name, e.g. "thingName". */
    char value[DD_ROUTE_LABEL_MAX + 1]; /**< Percent-decoded value. */
} dd_route_label_t;

/** Result of dd_route_match(). */
typedef struct dd_route_match {
    const char *operation; /**< e.g. "DescribeThing" (static); NULL when not found. */
    const char *method;    /**< Template's method (static). */
    const char *uri;       /**< Template, e.g. "/things/{thingName}" (static). */
    size_t label_count;
    dd_route_label_t labels[DD_ROUTE_MAX_LABELS];
    char allowed[64]; /**< DD_ROUTE_WRONG_METHOD: methods the path takes, "GET, DELETE". */
} dd_route_match_t;

/**
 * @brief Finds the operation for a request.
 * @param[in] method HTTP method ("GET", ...), case-sensitive as HTTP says.
 * @param[in] path Raw path without the query string (starts with '/').
 * @param[out] out Receives the operation and labels.
 * @return DD_ROUTE_OK, DD_ROUTE_BAD_PARAMETER, DD_ROUTE_NOT_FOUND,
 *         DD_ROUTE_WRONG_METHOD (out->allowed filled), DD_ROUTE_BAD_ENCODING
 *         or DD_ROUTE_TOO_LONG.
 */
dd_route_status_t dd_route_match(const char *method, const char *path, dd_route_match_t *out);

/**
 * @brief The decoded value of a label of a match.
 * @param[in] match A successful match.
 * @param[in] name Label name.
 * @return The value, or NULL when the template has no such label.
 */
const char *dd_route_label(const dd_route_match_t *match, const char *name);

/**
 * @brief Percent-decodes @p len bytes of @p in ('+' stays '+': botocore
 *        encodes a plus sign as %2B, and tokens contain '+').
 * @param[in] in Encoded text.
 * @param[in] len Bytes of @p in.
 * @param[out] out Output buffer, NUL-terminated on success.
 * @param[in] out_len Size of @p out.
 * @return DD_ROUTE_OK, DD_ROUTE_BAD_PARAMETER, DD_ROUTE_BAD_ENCODING (bad
 *         escape or %00) or DD_ROUTE_TOO_LONG.
 */
dd_route_status_t dd_route_percent_decode(const char *in, size_t len, char *out, size_t out_len);

/** @return Number of operations in the table. */
size_t dd_route_count(void);

/**
 * @brief One table entry, in name order.
 * @param[in] index 0 .. dd_route_count() - 1.
 * @param[out] name Operation name (static); may be NULL.
 * @param[out] method Method (static); may be NULL.
 * @param[out] uri Template (static); may be NULL.
 * @return true when @p index is in range.
 */
bool dd_route_entry(size_t index, const char **name, const char **method, const char **uri);

/** @return true when the service model has an operation called @p name. */
bool dd_route_known(const char *name);

/** @return Static text for @p status. */
const char *dd_route_strerror(dd_route_status_t status);

#endif /* DD_ROUTE_H_ */
