#include "dd_route.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct route_entry {
    const char *name;
    const char *method;
    const char *uri;
} route_entry_t;

static const route_entry_t ROUTES[] = {
#include "dd_route_ops.inc"
};

#define ROUTE_COUNT (sizeof(ROUTES) / sizeof(ROUTES[0]))

/* A request path split on '/', each segment percent-decoded. */
typedef struct split_path {
    size_t count;
    char seg[DD_ROUTE_MAX_SEGMENTS][DD_ROUTE_LABEL_MAX + 1];
} split_path_t;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

dd_route_status_t dd_route_percent_decode(const char *in, size_t len, char *out, size_t out_len)
{
    size_t i = 0;
    size_t o = 0;

    if (in == NULL || out == NULL || out_len == 0) {
        return DD_ROUTE_BAD_PARAMETER;
    }
    while (i < len) {
        char c = in[i];
        if (c == '%') {
            int hi;
            int lo;
            if (i + 2 >= len) {
                return DD_ROUTE_BAD_ENCODING;
            }
            hi = hex_value(in[i + 1]);
            lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return DD_ROUTE_BAD_ENCODING;
            }
            c = (char)(hi * 16 + lo);
            i += 3;
        } else if (c == '\0') {
            return DD_ROUTE_BAD_ENCODING;
        } else {
            i++;
        }
        if (o + 1 >= out_len) {
            return DD_ROUTE_TOO_LONG;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return DD_ROUTE_OK;
}

static dd_route_status_t split(const char *path, split_path_t *sp)
{
    const char *p;
    dd_route_status_t status;

    sp->count = 0;
    if (path[0] != '/') {
        return DD_ROUTE_NOT_FOUND;
    }
    p = path + 1;
    if (*p == '\0') {
        return DD_ROUTE_OK; /* "/" has no segments */
    }
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (sp->count == DD_ROUTE_MAX_SEGMENTS) {
            return DD_ROUTE_TOO_LONG;
        }
        status = dd_route_percent_decode(p, len, sp->seg[sp->count], sizeof(sp->seg[0]));
        if (status != DD_ROUTE_OK) {
            return status;
        }
        sp->count++;
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return DD_ROUTE_OK;
}

/*
 * Matches one template against a split path. On success returns true and a
 * score where, read as base-3 digits from the first segment, a literal
 * segment counts 2, a label 1 and a greedy label 0: the highest score is the
 * most specific template.
 */
static bool match_template(const char *uri, const split_path_t *sp, dd_route_match_t *out,
                           uint64_t *score)
{
    const char *t = uri;
    size_t i = 0;
    uint64_t s = 0;

    if (out != NULL) {
        out->label_count = 0;
    }
    if (*t != '/') {
        return false;
    }
    t++;
    if (*t == '\0' || *t == '?') {
        *score = 0;
        return sp->count == 0;
    }
    for (;;) {
        const char *end = t;
        size_t tlen;
        while (*end != '\0' && *end != '/' && *end != '?') {
            end++;
        }
        tlen = (size_t)(end - t);
        if (tlen >= 2 && t[0] == '{' && t[tlen - 1] == '}') {
            bool greedy = tlen >= 3 && t[tlen - 2] == '+';
            size_t nlen = tlen - 2 - (greedy ? 1 : 0);
            if (i >= sp->count || sp->seg[i][0] == '\0') {
                return false;
            }
            if (out != NULL) {
                dd_route_label_t *lab;
                if (out->label_count == DD_ROUTE_MAX_LABELS || nlen >= sizeof(lab->name)) {
                    return false;
                }
                lab = &out->labels[out->label_count++];
                memcpy(lab->name, t + 1, nlen);
                lab->name[nlen] = '\0';
                if (greedy) {
                    size_t o = 0;
                    size_t j;
                    for (j = i; j < sp->count; j++) {
                        size_t l = strlen(sp->seg[j]);
                        if (o + l + 2 > sizeof(lab->value)) {
                            return false;
                        }
                        if (j > i) {
                            lab->value[o++] = '/';
                        }
                        memcpy(lab->value + o, sp->seg[j], l);
                        o += l;
                    }
                    lab->value[o] = '\0';
                } else {
                    (void)snprintf(lab->value, sizeof(lab->value), "%s", sp->seg[i]);
                }
            }
            if (greedy) {
                for (; i < sp->count; i++) {
                    s = s * 3;
                }
                *score = s;
                return true;
            }
            s = s * 3 + 1;
        } else {
            if (i >= sp->count || strlen(sp->seg[i]) != tlen || memcmp(sp->seg[i], t, tlen) != 0) {
                return false;
            }
            s = s * 3 + 2;
        }
        i++;
        if (*end != '/') {
            break;
        }
        t = end + 1;
    }
    *score = s;
    return i == sp->count;
}

static void add_allowed(char *buf, size_t len, const char *method)
{
    size_t used = strlen(buf);

    if (strstr(buf, method) != NULL) {
        return; /* good enough: method names are not substrings of one another here */
    }
    (void)snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", method);
}

dd_route_status_t dd_route_match(const char *method, const char *path, dd_route_match_t *out)
{
    static __thread split_path_t sp; /* 24 KiB: keep it off small thread stacks */
    dd_route_status_t status;
    size_t best = ROUTE_COUNT;
    uint64_t best_score = 0;
    bool any_path = false;
    size_t i;

    if (method == NULL || path == NULL || out == NULL) {
        return DD_ROUTE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    status = split(path, &sp);
    if (status != DD_ROUTE_OK) {
        return status;
    }
    for (i = 0; i < ROUTE_COUNT; i++) {
        uint64_t score;
        if (!match_template(ROUTES[i].uri, &sp, NULL, &score)) {
            continue;
        }
        any_path = true;
        if (strcmp(ROUTES[i].method, method) != 0) {
            add_allowed(out->allowed, sizeof(out->allowed), ROUTES[i].method);
            continue;
        }
        if (best == ROUTE_COUNT || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    if (best == ROUTE_COUNT) {
        return any_path ? DD_ROUTE_WRONG_METHOD : DD_ROUTE_NOT_FOUND;
    }
    out->allowed[0] = '\0';
    out->operation = ROUTES[best].name;
    out->method = ROUTES[best].method;
    out->uri = ROUTES[best].uri;
    {
        uint64_t score;
        if (!match_template(ROUTES[best].uri, &sp, out, &score)) {
            return DD_ROUTE_TOO_LONG; /* label longer than its buffer */
        }
    }
    return DD_ROUTE_OK;
}

const char *dd_route_label(const dd_route_match_t *match, const char *name)
{
    size_t i;

    if (match == NULL || name == NULL) {
        return NULL;
    }
    for (i = 0; i < match->label_count; i++) {
        if (strcmp(match->labels[i].name, name) == 0) {
            return match->labels[i].value;
        }
    }
    return NULL;
}

size_t dd_route_count(void)
{
    return ROUTE_COUNT;
}

bool dd_route_entry(size_t index, const char **name, const char **method, const char **uri)
{
    if (index >= ROUTE_COUNT) {
        return false;
    }
    if (name != NULL) {
        *name = ROUTES[index].name;
    }
    if (method != NULL) {
        *method = ROUTES[index].method;
    }
    if (uri != NULL) {
        *uri = ROUTES[index].uri;
    }
    return true;
}

bool dd_route_known(const char *name)
{
    size_t lo = 0;
    size_t hi = ROUTE_COUNT;

    if (name == NULL) {
        return false;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ROUTES[mid].name, name);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

const char *dd_route_strerror(dd_route_status_t status)
{
    switch (status) {
    case DD_ROUTE_OK: return "ok";
    case DD_ROUTE_BAD_PARAMETER: return "bad parameter";
    case DD_ROUTE_NOT_FOUND: return "no such operation";
    case DD_ROUTE_WRONG_METHOD: return "method not allowed for this path";
    case DD_ROUTE_BAD_ENCODING: return "malformed percent-encoding";
    case DD_ROUTE_TOO_LONG: return "path too long";
    }
    return "unknown status";
}
