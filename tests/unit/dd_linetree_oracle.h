/**
 * @file dd_linetree_oracle.h
 * @brief Test oracle for dd_linetree_report(): the tree path of `ddlocal replay` for a report
 *        line (the strict parser, prepare_line()'s checks in their order, then
 *        dd_report_decode_cjson()), and the check that the fast lane never says yes where that
 *        path says no or decodes otherwise. Shared by tests/unit/test_dd_linetree.c and
 *        fuzz/fuzz_linetree.c; header-only, test code.
 */
#ifndef DD_LINETREE_ORACLE_H_
#define DD_LINETREE_ORACLE_H_

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_json.h"
#include "dd_linetree.h"
#include "dd_names.h"
#include "dd_report.h"

/* The tree path for a line that prepare_line() would turn into a report record: true with
 * *out (thing, time, report) when it would, false otherwise. */
static inline bool dd_oracle_tree_report(const char *line, size_t len, dd_linetree_report_t *out)
{
    cJSON *root = NULL;
    const cJSON *thing;
    const cJSON *t;
    const cJSON *report;
    const cJSON *tick;
    dd_report_error_t err;
    bool ok = false;
    int kinds;

    memset(out, 0, sizeof(*out));
    if (dd_json_parse(line, len, 0, &root, NULL) != DD_JSON_OK) {
        return false;
    }
    thing = cJSON_GetObjectItemCaseSensitive(root, "thing");
    t = cJSON_GetObjectItemCaseSensitive(root, "time");
    report = cJSON_GetObjectItemCaseSensitive(root, "report");
    tick = cJSON_GetObjectItemCaseSensitive(root, "tick");
    kinds = (report != NULL) + (cJSON_GetObjectItemCaseSensitive(root, "json") != NULL) +
            (cJSON_GetObjectItemCaseSensitive(root, "cbor") != NULL) +
            (cJSON_GetObjectItemCaseSensitive(root, "event") != NULL) +
            (cJSON_IsTrue(tick) ? 1 : 0);
    /* Only numeric times: the fast lane takes no other. */
    if (cJSON_IsObject(root) && cJSON_IsNumber(t) && isfinite(t->valuedouble) &&
        t->valuedouble >= 0 && t->valuedouble == floor(t->valuedouble) &&
        t->valuedouble <= 9007199254740992.0 && kinds == 1 && report != NULL &&
        cJSON_IsString(thing) && dd_name_valid(DD_NAME_THING, thing->valuestring) &&
        strlen(thing->valuestring) < sizeof(out->thing) &&
        dd_report_decode_cjson(report, &out->report, &err) == DD_REPORT_OK) {
        out->time_ms = (int64_t)t->valuedouble;
        out->thing_len = strlen(thing->valuestring);
        memcpy(out->thing, thing->valuestring, out->thing_len + 1);
        ok = true;
    }
    cJSON_Delete(root);
    return ok;
}

/* Two decoded reports are the same: every field, and every listed entry byte for byte. */
static inline bool dd_oracle_same_report(const dd_report_t *a, const dd_report_t *b)
{
    dd_report_t x = *a;
    dd_report_t y = *b;

    if (a->tcp_ports.count != b->tcp_ports.count || a->udp_ports.count != b->udp_ports.count ||
        a->tcp_conns.count != b->tcp_conns.count || a->custom_count != 0 || b->custom_count != 0) {
        return false;
    }
    if ((a->tcp_ports.count > 0 && memcmp(a->tcp_ports.items, b->tcp_ports.items,
                                          a->tcp_ports.count * sizeof(*a->tcp_ports.items)) != 0) ||
        (a->udp_ports.count > 0 && memcmp(a->udp_ports.items, b->udp_ports.items,
                                          a->udp_ports.count * sizeof(*a->udp_ports.items)) != 0) ||
        (a->tcp_conns.count > 0 && memcmp(a->tcp_conns.items, b->tcp_conns.items,
                                          a->tcp_conns.count * sizeof(*a->tcp_conns.items)) != 0)) {
        return false;
    }
    x.tcp_ports.items = y.tcp_ports.items = NULL;
    x.udp_ports.items = y.udp_ports.items = NULL;
    x.tcp_conns.items = y.tcp_conns.items = NULL;
    x.custom = y.custom = NULL;
    return memcmp(&x, &y, sizeof(x)) == 0;
}

/*
 * The fast lane against the tree path on one line: returns 1 when the fast lane took the line
 * (and agreed), 0 when it left it to the tree path, -1 when it took a line the tree path
 * refuses or decoded it otherwise (with a note on stderr).
 */
static inline int dd_oracle_check(dd_linetree_t *lt, const char *line, size_t len)
{
    dd_linetree_report_t fast;
    dd_linetree_report_t tree;
    dd_linetree_status_t st = dd_linetree_report(lt, line, len, &fast);
    bool tree_ok;
    int verdict = 1;

    if (st != DD_LINETREE_OK) {
        dd_report_t zero;
        memset(&zero, 0, sizeof(zero));
        /* Nothing left behind when it says no. */
        return memcmp(&fast.report, &zero, sizeof(zero)) == 0 && fast.thing_len == 0 ? 0 : -1;
    }
    tree_ok = dd_oracle_tree_report(line, len, &tree);
    if (!tree_ok) {
        fprintf(stderr, "fast lane took a line the tree path refuses: %.*s\n", (int)len, line);
        verdict = -1;
    } else if (fast.time_ms != tree.time_ms || fast.thing_len != tree.thing_len ||
               strcmp(fast.thing, tree.thing) != 0 ||
               !dd_oracle_same_report(&fast.report, &tree.report)) {
        fprintf(stderr, "fast lane and tree path differ on: %.*s\n", (int)len, line);
        verdict = -1;
    }
    dd_report_free(&fast.report);
    dd_report_free(&tree.report);
    return verdict;
}

/*
 * The end-to-end side: @p in (a replay stream) with a member only the tree path reads put first
 * into every line that starts with '{' -- "_fast_lane_off\u0021":0, an unknown member
 * prepare_line() ignores, whose backslash keeps the fast lane off the line (a stream that has
 * that member already gets a duplicate key: DD_ORACLE_MEMBER_KEY tells). A replay of both texts must print
 * the same, but for the "not valid JSON" messages, which quote positions that move
 * (dd_oracle_drop_json_errors()). Returns a malloc()ed text of *out_len bytes, NULL when out
 * of memory.
 */
/** Part of the member's key, for callers to leave out streams that have it. */
#define DD_ORACLE_MEMBER_KEY "fast_lane_off"

static inline char *dd_oracle_tree_only(const char *in, size_t len, size_t *out_len)
{
    static const char MEMBER[] = "\"_fast_lane_off\\u0021\":0";
    /* at most one member (and a comma) per input byte */
    char *out = malloc(len + (len + 1) * sizeof(MEMBER));
    size_t o = 0;
    size_t i = 0;

    if (out == NULL) {
        return NULL;
    }
    while (i < len) {
        size_t j = i;
        while (j < len && (in[j] == ' ' || in[j] == '\t')) {
            j++;
        }
        memcpy(out + o, in + i, j - i);
        o += j - i;
        i = j;
        if (i < len && in[i] == '{') {
            size_t k = i + 1;
            out[o++] = '{';
            memcpy(out + o, MEMBER, sizeof(MEMBER) - 1);
            o += sizeof(MEMBER) - 1;
            while (k < len && (in[k] == ' ' || in[k] == '\t')) {
                k++;
            }
            if (k >= len || in[k] != '}') {
                out[o++] = ',';
            }
            i++;
        }
        while (i < len && in[i] != '\n') {
            out[o++] = in[i++];
        }
        if (i < len) {
            out[o++] = in[i++];
        }
    }
    *out_len = o;
    return out;
}

/* Removes, in place, the lines of a replay's error text that quote the JSON parser. */
static inline void dd_oracle_drop_json_errors(char *err)
{
    char *r = err;
    char *w = err;

    while (*r != '\0') {
        char *nl = strchr(r, '\n');
        size_t n = nl != NULL ? (size_t)(nl - r) + 1 : strlen(r);
        char keep = r[n];
        r[n] = '\0';
        if (strstr(r, ": not valid JSON: ") == NULL) {
            memmove(w, r, n);
            w += n;
        }
        r[n] = keep;
        r += n;
    }
    *w = '\0';
}

#endif /* DD_LINETREE_ORACLE_H_ */
