#include "dd_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_report_internal.h"

#define KEY(l, s)                        \
    {                                    \
        {l, s},                          \
        {                                \
            sizeof(l) - 1, sizeof(s) - 1 \
        }                                \
    }

const dd_rkey_name_t dd_report_keys[DD_RK_COUNT] = {
    [DD_RK_HEADER] = KEY("header", "hed"),
    [DD_RK_REPORT_ID] = KEY("report_id", "rid"),
    [DD_RK_VERSION] = KEY("version", "v"),
    [DD_RK_METRICS] = KEY("metrics", "met"),
    [DD_RK_CUSTOM_METRICS] = KEY("custom_metrics", "cmet"),
    [DD_RK_TCP_CONNECTIONS] = KEY("tcp_connections", "tc"),
    [DD_RK_ESTABLISHED] = KEY("established_connections", "ec"),
    [DD_RK_CONNECTIONS] = KEY("connections", "cs"),
    [DD_RK_REMOTE_ADDR] = KEY("remote_addr", "rad"),
    [DD_RK_LOCAL_PORT] = KEY("local_port", "lp"),
    [DD_RK_LOCAL_INTERFACE] = KEY("local_interface", "li"),
    [DD_RK_TOTAL] = KEY("total", "t"),
    [DD_RK_LISTENING_TCP] = KEY("listening_tcp_ports", "tp"),
    [DD_RK_LISTENING_UDP] = KEY("listening_udp_ports", "up"),
    [DD_RK_PORTS] = KEY("ports", "pts"),
    [DD_RK_PORT] = KEY("port", "pt"),
    [DD_RK_INTERFACE] = KEY("interface", "if"),
    [DD_RK_NETWORK_STATS] = KEY("network_stats", "ns"),
    [DD_RK_BYTES_IN] = KEY("bytes_in", "bi"),
    [DD_RK_BYTES_OUT] = KEY("bytes_out", "bo"),
    [DD_RK_PACKETS_IN] = KEY("packets_in", "pi"),
    [DD_RK_PACKETS_OUT] = KEY("packets_out", "po"),
};

const char *const dd_report_custom_keys[4] = {
    [DD_CUSTOM_NUMBER] = "number",
    [DD_CUSTOM_NUMBER_LIST] = "number_list",
    [DD_CUSTOM_STRING_LIST] = "string_list",
    [DD_CUSTOM_IP_LIST] = "ip_list",
};

/* ---------------------------------------------------------------------------------------------
 * Decode context helpers
 * ------------------------------------------------------------------------------------------- */

struct dd_rscratch {
    dd_rscratch_t *next;
    max_align_t data[];
};

void *dd_report_scratch(dd_rctx_t *c, size_t n)
{
    dd_rscratch_t *s;

    if (n > SIZE_MAX - sizeof(*s)) {
        return NULL;
    }
    s = malloc(sizeof(*s) + n);
    if (s == NULL) {
        return NULL;
    }
    s->next = c->scratch;
    c->scratch = s;
    return s->data;
}

static void scratch_release(dd_rctx_t *c)
{
    while (c->scratch != NULL) {
        dd_rscratch_t *next = c->scratch->next;
        free(c->scratch);
        c->scratch = next;
    }
}

static void path_key(dd_rctx_t *c, const char *key, size_t len)
{
    if (c->depth < DD_RPATH_MAX) {
        c->path[c->depth].key = key;
        c->path[c->depth].len = len;
        c->path[c->depth].index = 0;
    }
    c->depth++;
}

static void path_index(dd_rctx_t *c, size_t index)
{
    if (c->depth < DD_RPATH_MAX) {
        c->path[c->depth].key = NULL;
        c->path[c->depth].len = 0;
        c->path[c->depth].index = index;
    }
    c->depth++;
}

static void path_pop(dd_rctx_t *c)
{
    c->depth--;
}

/* Appends key text from the wire, keeping the detail printable and short. */
static size_t put_key(char *buf, size_t pos, size_t cap, const char *key, size_t len)
{
    size_t i;

    if (len > 40) {
        len = 40;
    }
    for (i = 0; i < len && pos + 1 < cap; i++) {
        unsigned char ch = (unsigned char)key[i];
        buf[pos++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    buf[pos] = '\0';
    return pos;
}

dd_report_status_t dd_report_fail(dd_rctx_t *c, dd_report_status_t status, const char *fmt, ...)
{
    char *d = c->err->detail;
    size_t cap = sizeof(c->err->detail);
    size_t pos = 0;
    size_t i;
    size_t depth = c->depth < DD_RPATH_MAX ? c->depth : DD_RPATH_MAX;
    va_list ap;

    c->err->status = status;
    d[0] = '\0';
    for (i = 0; i < depth; i++) {
        if (c->path[i].key != NULL) {
            if (pos > 0 && pos + 1 < cap) {
                d[pos++] = '.';
            }
            pos = put_key(d, pos, cap, c->path[i].key, c->path[i].len);
        } else {
            int n = snprintf(d + pos, cap - pos, "[%zu]", c->path[i].index);
            pos = (n < 0 || (size_t)n >= cap - pos) ? cap - 1 : pos + (size_t)n;
        }
    }
    if (pos > 0 && pos + 2 < cap) {
        d[pos++] = ':';
        d[pos++] = ' ';
        d[pos] = '\0';
    }
    if (pos + 1 < cap) {
        va_start(ap, fmt);
        (void)vsnprintf(d + pos, cap - pos, fmt, ap);
        va_end(ap);
    }
    return status;
}

static dd_report_status_t no_memory(dd_rctx_t *c)
{
    return dd_report_fail(c, DD_REPORT_NO_MEMORY, "out of memory");
}

/* ---------------------------------------------------------------------------------------------
 * Typed readers
 * ------------------------------------------------------------------------------------------- */

static dd_rval_t kind(dd_rctx_t *c, const void *node)
{
    return c->ops->kind(node);
}

static dd_report_status_t expect(dd_rctx_t *c, const void *node, dd_rval_t want, const char *what)
{
    if (kind(c, node) != want) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be %s", what);
    }
    return DD_REPORT_OK;
}

/* An integer min..max; integral floats count (JSON cannot tell 5 from 5.0). */
static dd_report_status_t read_uint(dd_rctx_t *c, const void *node, uint64_t min, uint64_t max,
                                    uint64_t *out)
{
    dd_rnum_t n;
    uint64_t v;

    if (kind(c, node) != DD_RV_NUMBER) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be an integer");
    }
    c->ops->number(node, &n);
    switch (n.kind) {
    case DD_RN_UINT: v = n.u; break;
    case DD_RN_NEGINT:
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be >= %llu", (unsigned long long)min);
    case DD_RN_FLOAT:
    default:
        if (!isfinite(n.d) || n.d != trunc(n.d)) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be an integer");
        }
        if (n.d < 0) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be >= %llu",
                                  (unsigned long long)min);
        }
        if (n.d > (double)DD_REPORT_JSON_MAX_INT) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE,
                                  c->ops->doubles_only
                                      ? "integer above 2^53-1 cannot be exact in JSON"
                                      : "float above 2^53-1 is not an exact integer");
        }
        v = (uint64_t)n.d;
        break;
    }
    if (v < min) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be >= %llu", (unsigned long long)min);
    }
    if (v > max) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be <= %llu", (unsigned long long)max);
    }
    *out = v;
    return DD_REPORT_OK;
}

static dd_report_status_t read_double(dd_rctx_t *c, const void *node, double *out)
{
    dd_rnum_t n;

    if (kind(c, node) != DD_RV_NUMBER) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be a number");
    }
    c->ops->number(node, &n);
    switch (n.kind) {
    case DD_RN_UINT: *out = (double)n.u; return DD_REPORT_OK;
    case DD_RN_NEGINT: *out = -1.0 - (double)n.u; return DD_REPORT_OK;
    case DD_RN_FLOAT:
    default:
        if (!isfinite(n.d)) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be a finite number");
        }
        *out = n.d;
        return DD_REPORT_OK;
    }
}

static dd_report_status_t read_string(dd_rctx_t *c, const void *node, const char **s, size_t *len)
{
    if (kind(c, node) != DD_RV_STRING) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must be a string");
    }
    if (!c->ops->string(c, node, s, len)) {
        return no_memory(c);
    }
    return DD_REPORT_OK;
}

/* Interface names: kept up to DD_REPORT_IFACE_MAX bytes, cut on a UTF-8 boundary. */
void dd_report_iface_copy(const char *s, size_t len, char *dst)
{
    if (len > DD_REPORT_IFACE_MAX) {
        len = DD_REPORT_IFACE_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80) {
            len--;
        }
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

static dd_report_status_t read_iface(dd_rctx_t *c, const void *node, char *dst)
{
    const char *s;
    size_t len;
    dd_report_status_t st = read_string(c, node, &s, &len);

    if (st != DD_REPORT_OK) {
        return st;
    }
    if (memchr(s, '\0', len) != NULL) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "must not contain NUL characters");
    }
    dd_report_iface_copy(s, len, dst);
    return DD_REPORT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Maps
 * ------------------------------------------------------------------------------------------- */

/* A schema member found in a map. */
typedef struct slot {
    const void *value; /* NULL when absent or null */
    const char *key;   /* as sent */
    size_t key_len;
    bool seen;
} slot_t;

static int match_key(dd_rctx_t *c, const dd_rmember_t *m, const dd_rkey_t *keys, size_t n)
{
    size_t i;
    int style;

    if (m->key == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        const dd_rkey_name_t *k = &dd_report_keys[keys[i]];
        for (style = 0; style < 2; style++) {
            /* Length, then first byte: most keys differ in one of them, and skip memcmp(). */
            if (m->key_len == k->len[style] && m->key[0] == k->name[style][0] &&
                memcmp(m->key, k->name[style], m->key_len) == 0) {
                if (style == 0) {
                    c->used_long = true;
                } else {
                    c->used_short = true;
                }
                return (int)i;
            }
        }
    }
    return -1;
}

/*
 * One pass over a map: the members named in keys[] land in slots[] (same
 * index); unknown members are ignored. A member given twice (also once long,
 * once short) is refused, but only after the whole map was read so that the
 * caller may still use the first occurrences (the header, for reportId).
 */
static dd_report_status_t collect(dd_rctx_t *c, const void *map, const dd_rkey_t *keys, size_t n,
                                  slot_t *slots)
{
    dd_riter_t it;
    dd_rmember_t m;
    dd_report_status_t dup = DD_REPORT_OK;
    int r;

    memset(slots, 0, n * sizeof(*slots));
    c->ops->iter_init(map, &it);
    while ((r = c->ops->iter_next(c, &it, &m)) > 0) {
        int i = match_key(c, &m, keys, n);
        if (i < 0) {
            continue;
        }
        if (slots[i].seen) {
            if (dup == DD_REPORT_OK) {
                const dd_rkey_name_t *k = &dd_report_keys[keys[i]];
                path_key(c, m.key, m.key_len);
                dup = dd_report_fail(c, DD_REPORT_WRONG_TYPE, "duplicate member (%s/%s)",
                                     k->name[0], k->name[1]);
                path_pop(c);
            }
            continue;
        }
        slots[i].seen = true;
        slots[i].key = m.key;
        slots[i].key_len = m.key_len;
        slots[i].value = kind(c, m.value) == DD_RV_NULL ? NULL : m.value;
    }
    if (r < 0) {
        return no_memory(c);
    }
    return dup;
}

static dd_report_status_t missing(dd_rctx_t *c, dd_report_status_t st, dd_rkey_t key)
{
    return dd_report_fail(c, st, "missing member %s/%s", dd_report_keys[key].name[0],
                          dd_report_keys[key].name[1]);
}

/* Enters a present member: path frame + must be a map. */
static dd_report_status_t enter_map(dd_rctx_t *c, const slot_t *s)
{
    path_key(c, s->key, s->key_len);
    return expect(c, s->value, DD_RV_MAP, "an object");
}

/* Reads an optional unsigned member into *out / *has. */
static dd_report_status_t opt_uint(dd_rctx_t *c, const slot_t *s, uint64_t min, uint64_t max,
                                   bool *has, uint64_t *out)
{
    dd_report_status_t st;

    if (s->value == NULL) {
        return DD_REPORT_OK;
    }
    path_key(c, s->key, s->key_len);
    st = read_uint(c, s->value, min, max, out);
    if (st == DD_REPORT_OK) {
        if (has != NULL) {
            *has = true;
        }
        path_pop(c);
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Report sections
 * ------------------------------------------------------------------------------------------- */

bool dd_report_version_ok(const char *s, size_t len)
{
    size_t i;

    if (len < 3 || len > 15 || s[0] != '1' || s[1] != '.') {
        return false;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static dd_report_status_t parse_header(dd_rctx_t *c, const slot_t *hs)
{
    static const dd_rkey_t keys[] = {DD_RK_REPORT_ID, DD_RK_VERSION};
    slot_t s[2];
    dd_report_status_t st;
    dd_report_status_t dup;
    const char *v;
    size_t vlen;

    if ((st = enter_map(c, hs)) != DD_REPORT_OK) {
        return st;
    }
    dup = collect(c, hs->value, keys, 2, s);
    if (dup == DD_REPORT_NO_MEMORY) {
        return dup;
    }
    if (s[0].value == NULL) {
        return missing(c, DD_REPORT_MISSING_HEADER, DD_RK_REPORT_ID);
    }
    path_key(c, s[0].key, s[0].key_len);
    if ((st = read_uint(c, s[0].value, 1, UINT64_MAX, &c->out->report_id)) != DD_REPORT_OK) {
        if (st == DD_REPORT_WRONG_TYPE) {
            (void)dd_report_fail(c, st, "must be a positive integer%s",
                                 c->ops->doubles_only ? " <= 2^53-1 (9007199254740991)" : "");
        }
        return st;
    }
    path_pop(c);
    c->err->report_id_known = true;
    c->err->report_id = c->out->report_id;
    if (dup != DD_REPORT_OK) {
        return dup;
    }
    if (s[1].value == NULL) {
        return missing(c, DD_REPORT_MISSING_HEADER, DD_RK_VERSION);
    }
    path_key(c, s[1].key, s[1].key_len);
    if ((st = read_string(c, s[1].value, &v, &vlen)) != DD_REPORT_OK) {
        return st;
    }
    if (!dd_report_version_ok(v, vlen)) {
        return dd_report_fail(c, DD_REPORT_BAD_VERSION, "\"%.*s\" is not \"1.x\"",
                              (int)(vlen > 20 ? 20 : vlen), v);
    }
    memcpy(c->out->version, v, vlen);
    c->out->version[vlen] = '\0';
    path_pop(c);
    path_pop(c);
    return DD_REPORT_OK;
}

/* Array member: path frame + must be an array; *n gets its length. */
static dd_report_status_t enter_array(dd_rctx_t *c, const slot_t *s, size_t *n)
{
    dd_report_status_t st;

    path_key(c, s->key, s->key_len);
    if ((st = expect(c, s->value, DD_RV_ARRAY, "an array")) != DD_REPORT_OK) {
        return st;
    }
    *n = c->ops->count(s->value);
    return DD_REPORT_OK;
}

static dd_report_status_t parse_ports(dd_rctx_t *c, const slot_t *bs, dd_report_ports_t *p)
{
    static const dd_rkey_t keys[] = {DD_RK_PORTS, DD_RK_TOTAL};
    static const dd_rkey_t entry_keys[] = {DD_RK_PORT, DD_RK_INTERFACE};
    slot_t s[2];
    slot_t e[2];
    dd_report_status_t st;
    dd_riter_t it;
    dd_rmember_t m;
    size_t n;
    int r;

    if ((st = enter_map(c, bs)) != DD_REPORT_OK ||
        (st = collect(c, bs->value, keys, 2, s)) != DD_REPORT_OK) {
        return st;
    }
    p->present = true;
    if ((st = opt_uint(c, &s[1], 0, UINT64_MAX, &p->has_total, &p->total)) != DD_REPORT_OK) {
        return st;
    }
    if (s[0].value != NULL) {
        if ((st = enter_array(c, &s[0], &n)) != DD_REPORT_OK) {
            return st;
        }
        if (n > 0 && (p->items = calloc(n, sizeof(*p->items))) == NULL) {
            return no_memory(c);
        }
        c->ops->iter_init(s[0].value, &it);
        while ((r = c->ops->iter_next(c, &it, &m)) > 0) {
            dd_report_port_t *port = &p->items[p->count];
            uint64_t v;

            path_index(c, it.index - 1);
            if ((st = expect(c, m.value, DD_RV_MAP, "an object")) != DD_REPORT_OK ||
                (st = collect(c, m.value, entry_keys, 2, e)) != DD_REPORT_OK) {
                return st;
            }
            if (e[0].value == NULL) {
                path_pop(c);
                continue; /* nothing to evaluate without a port; "port" is optional in the spec */
            }
            if ((st = opt_uint(c, &e[0], 1, 65535, NULL, &v)) != DD_REPORT_OK) {
                return st;
            }
            port->port = (uint16_t)v;
            if (e[1].value != NULL) {
                path_key(c, e[1].key, e[1].key_len);
                if ((st = read_iface(c, e[1].value, port->interface)) != DD_REPORT_OK) {
                    return st;
                }
                port->has_interface = true;
                path_pop(c);
            }
            p->count++;
            path_pop(c);
        }
        if (r < 0) {
            return no_memory(c);
        }
        path_pop(c);
    }
    path_pop(c);
    return DD_REPORT_OK;
}

static dd_report_status_t parse_conn(dd_rctx_t *c, const void *node, dd_report_conn_t *conn)
{
    static const dd_rkey_t keys[] = {DD_RK_REMOTE_ADDR, DD_RK_LOCAL_PORT, DD_RK_LOCAL_INTERFACE};
    slot_t s[3];
    dd_report_status_t st;
    const char *text;
    size_t len;
    uint64_t v = 0; /* local_port is 0 when absent, not what the stack held */

    if ((st = expect(c, node, DD_RV_MAP, "an object")) != DD_REPORT_OK ||
        (st = collect(c, node, keys, 3, s)) != DD_REPORT_OK) {
        return st;
    }
    if (s[0].value == NULL) {
        return missing(c, DD_REPORT_MISSING_MEMBER, DD_RK_REMOTE_ADDR);
    }
    path_key(c, s[0].key, s[0].key_len);
    if ((st = read_string(c, s[0].value, &text, &len)) != DD_REPORT_OK) {
        return st;
    }
    if (dd_ip_parse_endpoint(text, len, &conn->remote_ip, &conn->remote_port) != DD_IP_OK) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "\"%.*s\" is not an ip:port endpoint",
                              (int)(len > 60 ? 60 : len), text);
    }
    path_pop(c);
    if ((st = opt_uint(c, &s[1], 0, 65535, &conn->has_local_port, &v)) != DD_REPORT_OK) {
        return st;
    }
    conn->local_port = (uint16_t)v;
    if (s[2].value != NULL) {
        path_key(c, s[2].key, s[2].key_len);
        if ((st = read_iface(c, s[2].value, conn->local_interface)) != DD_REPORT_OK) {
            return st;
        }
        conn->has_local_interface = true;
        path_pop(c);
    }
    return DD_REPORT_OK;
}

static dd_report_status_t parse_tcp(dd_rctx_t *c, const slot_t *ts, dd_report_conns_t *cs)
{
    static const dd_rkey_t tc_keys[] = {DD_RK_ESTABLISHED};
    static const dd_rkey_t ec_keys[] = {DD_RK_CONNECTIONS, DD_RK_TOTAL};
    slot_t tc[1];
    slot_t s[2];
    dd_report_status_t st;
    dd_riter_t it;
    dd_rmember_t m;
    size_t n;
    int r;

    if ((st = enter_map(c, ts)) != DD_REPORT_OK ||
        (st = collect(c, ts->value, tc_keys, 1, tc)) != DD_REPORT_OK) {
        return st;
    }
    if (tc[0].value == NULL) {
        path_pop(c);
        return DD_REPORT_OK;
    }
    if ((st = enter_map(c, &tc[0])) != DD_REPORT_OK ||
        (st = collect(c, tc[0].value, ec_keys, 2, s)) != DD_REPORT_OK) {
        return st;
    }
    cs->present = true;
    if ((st = opt_uint(c, &s[1], 0, UINT64_MAX, &cs->has_total, &cs->total)) != DD_REPORT_OK) {
        return st;
    }
    if (s[0].value != NULL) {
        if ((st = enter_array(c, &s[0], &n)) != DD_REPORT_OK) {
            return st;
        }
        if (n > 0 && (cs->items = calloc(n, sizeof(*cs->items))) == NULL) {
            return no_memory(c);
        }
        c->ops->iter_init(s[0].value, &it);
        while ((r = c->ops->iter_next(c, &it, &m)) > 0) {
            path_index(c, it.index - 1);
            if ((st = parse_conn(c, m.value, &cs->items[cs->count])) != DD_REPORT_OK) {
                return st;
            }
            cs->count++;
            path_pop(c);
        }
        if (r < 0) {
            return no_memory(c);
        }
        path_pop(c);
    }
    path_pop(c);
    path_pop(c);
    return DD_REPORT_OK;
}

static dd_report_status_t parse_net(dd_rctx_t *c, const slot_t *ns, dd_report_netstats_t *net)
{
    static const dd_rkey_t keys[] = {DD_RK_BYTES_IN, DD_RK_BYTES_OUT, DD_RK_PACKETS_IN,
                                     DD_RK_PACKETS_OUT};
    slot_t s[4];
    dd_report_status_t st;

    bool *has[4];
    uint64_t *val[4];
    size_t i;

    if ((st = enter_map(c, ns)) != DD_REPORT_OK ||
        (st = collect(c, ns->value, keys, 4, s)) != DD_REPORT_OK) {
        return st;
    }
    net->present = true;
    has[0] = &net->has_bytes_in;
    val[0] = &net->bytes_in;
    has[1] = &net->has_bytes_out;
    val[1] = &net->bytes_out;
    has[2] = &net->has_packets_in;
    val[2] = &net->packets_in;
    has[3] = &net->has_packets_out;
    val[3] = &net->packets_out;
    for (i = 0; i < 4; i++) {
        if ((st = opt_uint(c, &s[i], 0, UINT64_MAX, has[i], val[i])) != DD_REPORT_OK) {
            return st;
        }
    }
    path_pop(c);
    return DD_REPORT_OK;
}

static dd_report_status_t parse_metrics(dd_rctx_t *c, const slot_t *ms)
{
    static const dd_rkey_t keys[] = {DD_RK_LISTENING_TCP, DD_RK_LISTENING_UDP, DD_RK_NETWORK_STATS,
                                     DD_RK_TCP_CONNECTIONS};
    slot_t s[4];
    dd_report_status_t st;
    dd_report_t *out = c->out;

    if ((st = enter_map(c, ms)) != DD_REPORT_OK ||
        (st = collect(c, ms->value, keys, 4, s)) != DD_REPORT_OK) {
        return st;
    }
    out->has_metrics = true;
    if ((s[0].value != NULL && (st = parse_ports(c, &s[0], &out->tcp_ports)) != DD_REPORT_OK) ||
        (s[1].value != NULL && (st = parse_ports(c, &s[1], &out->udp_ports)) != DD_REPORT_OK) ||
        (s[2].value != NULL && (st = parse_net(c, &s[2], &out->net)) != DD_REPORT_OK) ||
        (s[3].value != NULL && (st = parse_tcp(c, &s[3], &out->tcp_conns)) != DD_REPORT_OK)) {
        return st;
    }
    path_pop(c);
    return DD_REPORT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Custom metrics
 * ------------------------------------------------------------------------------------------- */

static bool metric_name_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > DD_REPORT_METRIC_NAME_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == ':' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static void custom_free(dd_report_custom_t *m)
{
    size_t i;

    if (m->strings != NULL) {
        for (i = 0; i < m->count; i++) {
            free(m->strings[i]);
        }
    }
    free(m->strings);
    free(m->numbers);
    free(m->ips);
    m->strings = NULL;
    m->numbers = NULL;
    m->ips = NULL;
    m->count = 0;
}

/* The list of a number_list / string_list / ip_list; *dropped when AWS's data rules say
 * "not retained". */
static dd_report_status_t parse_custom_list(dd_rctx_t *c, const void *list, dd_report_custom_t *m,
                                            bool *dropped)
{
    dd_report_status_t st;
    dd_riter_t it;
    dd_rmember_t e;
    size_t n = c->ops->count(list);
    size_t i = 0;
    int r;

    if (n > 0) {
        bool ok = true;
        switch (m->kind) {
        case DD_CUSTOM_NUMBER_LIST:
            ok = (m->numbers = malloc(n * sizeof(*m->numbers))) != NULL;
            break;
        case DD_CUSTOM_STRING_LIST:
            ok = (m->strings = calloc(n, sizeof(*m->strings))) != NULL;
            break;
        case DD_CUSTOM_IP_LIST: ok = (m->ips = calloc(n, sizeof(*m->ips))) != NULL; break;
        case DD_CUSTOM_NUMBER: break;
        }
        if (!ok) {
            return no_memory(c);
        }
    }
    m->count = n; /* every slot is zeroed or filled, so custom_free() is always safe */
    c->ops->iter_init(list, &it);
    while ((r = c->ops->iter_next(c, &it, &e)) > 0 && i < n) {
        const char *s;
        size_t len;

        path_index(c, i);
        if (m->kind == DD_CUSTOM_NUMBER_LIST) {
            if ((st = read_double(c, e.value, &m->numbers[i])) != DD_REPORT_OK) {
                return st;
            }
        } else {
            if ((st = read_string(c, e.value, &s, &len)) != DD_REPORT_OK) {
                return st;
            }
            if (m->kind == DD_CUSTOM_STRING_LIST) {
                if (memchr(s, '\0', len) != NULL) {
                    return dd_report_fail(c, DD_REPORT_WRONG_TYPE,
                                          "must not contain NUL characters");
                }
                if ((m->strings[i] = malloc(len + 1)) == NULL) {
                    return no_memory(c);
                }
                memcpy(m->strings[i], s, len);
                m->strings[i][len] = '\0';
            } else if (dd_ip_parse(s, len, &m->ips[i]) != DD_IP_OK) {
                if (c->opts.reject_invalid_ip_list) {
                    return dd_report_fail(c, DD_REPORT_WRONG_TYPE,
                                          "\"%.*s\" is not an IPv4/IPv6 address",
                                          (int)(len > 60 ? 60 : len), s);
                }
                *dropped = true; /* keep checking the types of the other entries */
            }
        }
        path_pop(c);
        i++;
    }
    if (r < 0) {
        return no_memory(c);
    }
    return DD_REPORT_OK;
}

static dd_report_status_t parse_custom_value(dd_rctx_t *c, const void *value, dd_report_custom_t *m,
                                             bool *dropped)
{
    static const char *const shape =
        "value must be an array holding one object with one of number, number_list, "
        "string_list, ip_list";
    dd_report_status_t st;
    dd_riter_t it;
    dd_rmember_t e;
    const void *obj;
    int r;
    int k;

    if (value == NULL || kind(c, value) != DD_RV_ARRAY || c->ops->count(value) != 1) {
        return dd_report_fail(c, DD_REPORT_BAD_CUSTOM_METRIC, "%s", shape);
    }
    c->ops->iter_init(value, &it);
    if ((r = c->ops->iter_next(c, &it, &e)) < 0) {
        return no_memory(c);
    }
    obj = e.value;
    path_index(c, 0);
    if (kind(c, obj) != DD_RV_MAP || c->ops->count(obj) != 1) {
        return dd_report_fail(c, DD_REPORT_BAD_CUSTOM_METRIC,
                              "must be an object with exactly "
                              "one of number, number_list, string_list, ip_list");
    }
    c->ops->iter_init(obj, &it);
    if ((r = c->ops->iter_next(c, &it, &e)) < 0) {
        return no_memory(c);
    }
    for (k = 0; k < 4; k++) {
        if (e.key != NULL && strlen(dd_report_custom_keys[k]) == e.key_len &&
            memcmp(e.key, dd_report_custom_keys[k], e.key_len) == 0) {
            break;
        }
    }
    if (k == 4) {
        if (e.key == NULL) {
            return dd_report_fail(c, DD_REPORT_BAD_CUSTOM_METRIC, "member name must be text");
        }
        path_key(c, e.key, e.key_len);
        return dd_report_fail(c, DD_REPORT_BAD_CUSTOM_METRIC,
                              "unknown member (number, number_list, string_list or ip_list)");
    }
    m->kind = (dd_custom_kind_t)k;
    path_key(c, e.key, e.key_len);
    if (m->kind == DD_CUSTOM_NUMBER) {
        if ((st = read_double(c, e.value, &m->number)) != DD_REPORT_OK) {
            return st;
        }
    } else {
        if ((st = expect(c, e.value, DD_RV_ARRAY, "an array")) != DD_REPORT_OK ||
            (st = parse_custom_list(c, e.value, m, dropped)) != DD_REPORT_OK) {
            return st;
        }
    }
    path_pop(c);
    path_pop(c);
    return DD_REPORT_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A metric named twice; names are short, so sort only when there are many. */
static const char *find_duplicate(dd_rctx_t *c, const dd_report_t *r)
{
    size_t i;
    size_t j;
    const char **names;
    const char *dup = NULL;

    if (r->custom_count <= 32) {
        for (i = 0; i < r->custom_count; i++) {
            for (j = i + 1; j < r->custom_count; j++) {
                if (strcmp(r->custom[i].name, r->custom[j].name) == 0) {
                    return r->custom[i].name;
                }
            }
        }
        return NULL;
    }
    names = dd_report_scratch(c, r->custom_count * sizeof(*names));
    if (names == NULL) {
        return NULL; /* only a diagnostic; the report itself is sound */
    }
    for (i = 0; i < r->custom_count; i++) {
        names[i] = r->custom[i].name;
    }
    qsort(names, r->custom_count, sizeof(*names), cmp_name);
    for (i = 1; i < r->custom_count && dup == NULL; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            dup = names[i];
        }
    }
    return dup;
}

static dd_report_status_t parse_custom(dd_rctx_t *c, const slot_t *cs)
{
    dd_report_t *out = c->out;
    dd_report_status_t st;
    dd_riter_t it;
    dd_rmember_t e;
    const char *dup;
    size_t n;
    int r;

    if ((st = enter_map(c, cs)) != DD_REPORT_OK) {
        return st;
    }
    out->has_custom_metrics = true;
    n = c->ops->count(cs->value);
    if (n > 0 && (out->custom = calloc(n, sizeof(*out->custom))) == NULL) {
        return no_memory(c);
    }
    c->ops->iter_init(cs->value, &it);
    while ((r = c->ops->iter_next(c, &it, &e)) > 0 && out->custom_count < n) {
        dd_report_custom_t *m;
        bool dropped = false;

        if (e.key == NULL) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "metric names must be text strings");
        }
        path_key(c, e.key, e.key_len);
        if (!metric_name_ok(e.key, e.key_len)) {
            return dd_report_fail(c, DD_REPORT_WRONG_TYPE,
                                  "metric name must be 1 to 128 characters of [a-zA-Z0-9:_-]");
        }
        m = &out->custom[out->custom_count++];
        memcpy(m->name, e.key, e.key_len);
        m->name[e.key_len] = '\0';
        if ((st = parse_custom_value(c, kind(c, e.value) == DD_RV_NULL ? NULL : e.value, m,
                                     &dropped)) != DD_REPORT_OK) {
            return st;
        }
        if (dropped) {
            if (out->custom_dropped++ == 0) {
                memcpy(out->custom_dropped_name, m->name, e.key_len + 1);
            }
            custom_free(m);
            memset(m, 0, sizeof(*m));
            out->custom_count--;
        }
        path_pop(c);
    }
    if (r < 0) {
        return no_memory(c);
    }
    if ((dup = find_duplicate(c, out)) != NULL) {
        return dd_report_fail(c, DD_REPORT_WRONG_TYPE, "duplicate member %s", dup);
    }
    if (out->custom_count == 0) {
        free(out->custom);
        out->custom = NULL;
    }
    path_pop(c);
    return DD_REPORT_OK;
}

dd_report_status_t dd_report_walk(dd_rctx_t *c, const void *root)
{
    static const dd_rkey_t keys[] = {DD_RK_HEADER, DD_RK_METRICS, DD_RK_CUSTOM_METRICS};
    slot_t s[3];
    dd_report_status_t st;
    dd_report_status_t dup;

    if (kind(c, root) != DD_RV_MAP) {
        return dd_report_fail(c, DD_REPORT_NOT_OBJECT, "the report must be an object");
    }
    dup = collect(c, root, keys, 3, s);
    if (dup == DD_REPORT_NO_MEMORY) {
        return dup;
    }
    /* The header goes first so that reportId is known whatever else is wrong. */
    if (s[0].value == NULL) {
        return missing(c, DD_REPORT_MISSING_HEADER, DD_RK_HEADER);
    }
    if ((st = parse_header(c, &s[0])) != DD_REPORT_OK) {
        return st;
    }
    if (dup != DD_REPORT_OK) {
        return dup; /* err->detail still names the duplicate: the header wrote nothing */
    }
    if (s[1].value == NULL && s[2].value == NULL) {
        return dd_report_fail(c, DD_REPORT_MISSING_METRICS,
                              "needs metrics/met or custom_metrics/cmet (may be empty)");
    }
    if ((s[1].value != NULL && (st = parse_metrics(c, &s[1])) != DD_REPORT_OK) ||
        (s[2].value != NULL && (st = parse_custom(c, &s[2])) != DD_REPORT_OK)) {
        return st;
    }
    if (c->opts.reject_mixed_keys && c->used_long && c->used_short) {
        return dd_report_fail(c, DD_REPORT_MIXED_KEYS, "long and short key names are mixed");
    }
    return DD_REPORT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */

/* The one decode path: from bytes (payload) or, for JSON, from a parsed tree (root). */
static dd_report_status_t decode(dd_report_format_t format, const uint8_t *payload, size_t len,
                                 const cJSON *root, const dd_report_options_t *opts,
                                 dd_report_t *out, dd_report_error_t *err)
{
    dd_report_error_t local_err;
    dd_rctx_t c;
    dd_report_status_t st;

    if (err == NULL) {
        err = &local_err;
    }
    memset(err, 0, sizeof(*err));
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if ((payload == NULL && root == NULL) || out == NULL ||
        (format != DD_REPORT_FORMAT_JSON && format != DD_REPORT_FORMAT_CBOR)) {
        err->status = DD_REPORT_BAD_PARAMETER;
        (void)snprintf(err->detail, sizeof(err->detail), "bad parameter");
        return DD_REPORT_BAD_PARAMETER;
    }
    memset(&c, 0, sizeof(c));
    c.out = out;
    c.err = err;
    if (opts != NULL) {
        c.opts = *opts;
    }
    if (root != NULL) {
        st = dd_report_json_decode_tree(&c, root);
    } else if (len > DD_REPORT_MAX_PAYLOAD) {
        st = dd_report_fail(&c, DD_REPORT_TOO_LARGE, "payload of %zu bytes exceeds %u", len,
                            DD_REPORT_MAX_PAYLOAD);
    } else if (format == DD_REPORT_FORMAT_JSON) {
        st = dd_report_json_decode(&c, payload, len);
    } else {
        st = dd_report_cbor_decode(&c, payload, len);
    }
    scratch_release(&c);
    err->status = st;
    if (st != DD_REPORT_OK) {
        dd_report_free(out);
    } else {
        err->detail[0] = '\0';
    }
    return st;
}

dd_report_status_t dd_report_decode_ex(dd_report_format_t format, const uint8_t *payload,
                                       size_t len, const dd_report_options_t *opts,
                                       dd_report_t *out, dd_report_error_t *err)
{
    return decode(format, payload, len, NULL, opts, out, err);
}

dd_report_status_t dd_report_decode_cjson(const cJSON *root, dd_report_t *out,
                                          dd_report_error_t *err)
{
    return decode(DD_REPORT_FORMAT_JSON, NULL, 0, root, NULL, out, err);
}

dd_report_status_t dd_report_decode(dd_report_format_t format, const uint8_t *payload, size_t len,
                                    dd_report_t *out, dd_report_error_t *err)
{
    return dd_report_decode_ex(format, payload, len, NULL, out, err);
}

void dd_report_free(dd_report_t *report)
{
    size_t i;

    if (report == NULL) {
        return;
    }
    free(report->tcp_ports.items);
    free(report->udp_ports.items);
    free(report->tcp_conns.items);
    if (report->custom != NULL) {
        for (i = 0; i < report->custom_count; i++) {
            custom_free(&report->custom[i]);
        }
    }
    free(report->custom);
    memset(report, 0, sizeof(*report));
}

dd_report_status_t dd_report_check_encodable(const dd_report_t *r)
{
    size_t i;
    size_t j;

    if ((r->tcp_ports.count > 0 && r->tcp_ports.items == NULL) ||
        (r->udp_ports.count > 0 && r->udp_ports.items == NULL) ||
        (r->tcp_conns.count > 0 && r->tcp_conns.items == NULL) ||
        (r->custom_count > 0 && r->custom == NULL) ||
        memchr(r->version, '\0', sizeof(r->version)) == NULL) {
        return DD_REPORT_BAD_PARAMETER;
    }
    /* Hand-built reports: every fixed-size name must be terminated inside its array. */
    for (i = 0; i < r->tcp_ports.count; i++) {
        if (memchr(r->tcp_ports.items[i].interface, '\0', DD_REPORT_IFACE_MAX + 1) == NULL) {
            return DD_REPORT_BAD_PARAMETER;
        }
    }
    for (i = 0; i < r->udp_ports.count; i++) {
        if (memchr(r->udp_ports.items[i].interface, '\0', DD_REPORT_IFACE_MAX + 1) == NULL) {
            return DD_REPORT_BAD_PARAMETER;
        }
    }
    for (i = 0; i < r->tcp_conns.count; i++) {
        const dd_report_conn_t *c = &r->tcp_conns.items[i];
        if ((c->remote_ip.family != 4 && c->remote_ip.family != 6) ||
            memchr(c->local_interface, '\0', DD_REPORT_IFACE_MAX + 1) == NULL) {
            return DD_REPORT_BAD_PARAMETER;
        }
    }
    for (i = 0; i < r->custom_count; i++) {
        const dd_report_custom_t *m = &r->custom[i];
        if (memchr(m->name, '\0', sizeof(m->name)) == NULL || m->name[0] == '\0') {
            return DD_REPORT_BAD_PARAMETER;
        }
        switch (m->kind) {
        case DD_CUSTOM_NUMBER:
            if (!isfinite(m->number)) {
                return DD_REPORT_BAD_PARAMETER;
            }
            break;
        case DD_CUSTOM_NUMBER_LIST:
            if (m->count > 0 && m->numbers == NULL) {
                return DD_REPORT_BAD_PARAMETER;
            }
            for (j = 0; j < m->count; j++) {
                if (!isfinite(m->numbers[j])) {
                    return DD_REPORT_BAD_PARAMETER;
                }
            }
            break;
        case DD_CUSTOM_STRING_LIST:
            if (m->count > 0 && m->strings == NULL) {
                return DD_REPORT_BAD_PARAMETER;
            }
            for (j = 0; j < m->count; j++) {
                if (m->strings[j] == NULL) {
                    return DD_REPORT_BAD_PARAMETER;
                }
            }
            break;
        case DD_CUSTOM_IP_LIST:
            if (m->count > 0 && m->ips == NULL) {
                return DD_REPORT_BAD_PARAMETER;
            }
            for (j = 0; j < m->count; j++) {
                if (m->ips[j].family != 4 && m->ips[j].family != 6) {
                    return DD_REPORT_BAD_PARAMETER;
                }
            }
            break;
        default: return DD_REPORT_BAD_PARAMETER;
        }
    }
    return DD_REPORT_OK;
}

dd_report_status_t dd_report_encode(const dd_report_t *report, dd_report_format_t format,
                                    dd_report_keys_t keys, uint8_t *buf, size_t len,
                                    size_t *out_len)
{
    dd_report_status_t st;

    if (report == NULL || buf == NULL || out_len == NULL ||
        (keys != DD_REPORT_KEYS_LONG && keys != DD_REPORT_KEYS_SHORT)) {
        return DD_REPORT_BAD_PARAMETER;
    }
    *out_len = 0;
    if ((st = dd_report_check_encodable(report)) != DD_REPORT_OK) {
        return st;
    }
    switch (format) {
    case DD_REPORT_FORMAT_JSON: return dd_report_json_encode(report, keys, buf, len, out_len);
    case DD_REPORT_FORMAT_CBOR: return dd_report_cbor_encode(report, keys, buf, len, out_len);
    }
    return DD_REPORT_BAD_PARAMETER;
}

dd_report_status_t dd_report_encode_cached(dd_report_cache_t *cache, const dd_report_t *report,
                                           dd_report_format_t format, dd_report_keys_t keys,
                                           uint8_t *buf, size_t len, size_t *out_len)
{
    dd_report_status_t st;

    if (cache == NULL || report == NULL || buf == NULL || out_len == NULL ||
        (keys != DD_REPORT_KEYS_LONG && keys != DD_REPORT_KEYS_SHORT)) {
        return DD_REPORT_BAD_PARAMETER;
    }
    *out_len = 0;
    if ((st = dd_report_check_encodable(report)) != DD_REPORT_OK) {
        return st;
    }
    switch (format) {
    case DD_REPORT_FORMAT_JSON:
        return dd_report_json_encode_cached(cache, report, keys, buf, len, out_len);
    case DD_REPORT_FORMAT_CBOR: return dd_report_cbor_encode(report, keys, buf, len, out_len);
    }
    return DD_REPORT_BAD_PARAMETER;
}

static dd_report_status_t encode_reply(dd_report_format_t format, const dd_reply_t *reply,
                                       uint8_t *buf, size_t len, size_t *out_len)
{
    if (reply->thing_name == NULL || buf == NULL || out_len == NULL) {
        return DD_REPORT_BAD_PARAMETER;
    }
    *out_len = 0;
    switch (format) {
    case DD_REPORT_FORMAT_JSON: return dd_report_json_reply(reply, buf, len, out_len);
    case DD_REPORT_FORMAT_CBOR: return dd_report_cbor_reply(reply, buf, len, out_len);
    }
    return DD_REPORT_BAD_PARAMETER;
}

dd_report_status_t dd_report_encode_accepted(dd_report_format_t format, const char *thing_name,
                                             uint64_t report_id, int64_t timestamp_ms, uint8_t *buf,
                                             size_t len, size_t *out_len)
{
    dd_reply_t r = {
        .thing_name = thing_name,
        .has_report_id = true,
        .report_id = report_id,
        .accepted = true,
        .timestamp_ms = timestamp_ms,
    };
    return encode_reply(format, &r, buf, len, out_len);
}

dd_report_status_t dd_report_encode_rejected(dd_report_format_t format, const char *thing_name,
                                             bool has_report_id, uint64_t report_id,
                                             const char *error_code, const char *error_message,
                                             int64_t timestamp_ms, uint8_t *buf, size_t len,
                                             size_t *out_len)
{
    dd_reply_t r = {
        .thing_name = thing_name,
        .has_report_id = has_report_id,
        .report_id = report_id,
        .accepted = false,
        .error_code = error_code,
        .error_message = error_message,
        .timestamp_ms = timestamp_ms,
    };
    if (error_code == NULL || error_message == NULL) {
        return DD_REPORT_BAD_PARAMETER;
    }
    return encode_reply(format, &r, buf, len, out_len);
}

static bool topic_char_ok(const unsigned char *s, size_t i)
{
    unsigned char ch = s[i];

    if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '+' || ch == '#') {
        return false;
    }
    /* C1 controls U+0080..U+009F arrive UTF-8 encoded as C2 80..C2 9F. */
    return !(ch == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f);
}

dd_report_status_t dd_report_topic_parse(const char *topic, char *thing, size_t thing_len,
                                         dd_report_format_t *format)
{
    static const char prefix[] = "$aws/things/";
    static const char middle[] = "/defender/metrics/";
    const char *name;
    const char *end;
    size_t n;
    size_t i;

    if (topic == NULL || thing == NULL || thing_len == 0 || format == NULL) {
        return DD_REPORT_BAD_PARAMETER;
    }
    thing[0] = '\0';
    if (strncmp(topic, prefix, sizeof(prefix) - 1) != 0) {
        return DD_REPORT_BAD_TOPIC;
    }
    name = topic + sizeof(prefix) - 1;
    end = strchr(name, '/');
    if (end == NULL) {
        return DD_REPORT_BAD_TOPIC;
    }
    n = (size_t)(end - name);
    if (n == 0 || n > DD_REPORT_THING_NAME_MAX) {
        return DD_REPORT_BAD_TOPIC;
    }
    for (i = 0; i < n; i++) {
        if (!topic_char_ok((const unsigned char *)name, i)) {
            return DD_REPORT_BAD_TOPIC;
        }
    }
    if (strncmp(end, middle, sizeof(middle) - 1) != 0) {
        return DD_REPORT_BAD_TOPIC;
    }
    end += sizeof(middle) - 1;
    if (strcmp(end, "json") == 0) {
        *format = DD_REPORT_FORMAT_JSON;
    } else if (strcmp(end, "cbor") == 0) {
        *format = DD_REPORT_FORMAT_CBOR;
    } else {
        return DD_REPORT_BAD_TOPIC;
    }
    if (n >= thing_len) {
        return DD_REPORT_BUFFER_TOO_SMALL;
    }
    memcpy(thing, name, n);
    thing[n] = '\0';
    return DD_REPORT_OK;
}

void dd_report_error_code(const dd_report_error_t *err, bool fine_codes, const char **code,
                          const char **message)
{
    const char *c = "InvalidPayload";
    const char *m = "Malformed metrics report";

    if (fine_codes && err != NULL) {
        switch (err->status) {
        case DD_REPORT_NOT_JSON: c = "InvalidJson"; break;
        case DD_REPORT_NOT_CBOR: c = "InvalidCbor"; break;
        case DD_REPORT_TOO_LARGE: c = "PayloadTooLarge"; break;
        case DD_REPORT_MISSING_HEADER:
        case DD_REPORT_MISSING_METRICS:
        case DD_REPORT_MISSING_MEMBER: c = "MissingRequiredField"; break;
        case DD_REPORT_BAD_VERSION: c = "UnsupportedVersion"; break;
        case DD_REPORT_BAD_CUSTOM_METRIC: c = "InvalidCustomMetric"; break;
        case DD_REPORT_MIXED_KEYS: c = "MixedKeyNames"; break;
        case DD_REPORT_BAD_TOPIC: c = "InvalidTopic"; break;
        case DD_REPORT_NO_MEMORY: c = "InternalError"; break;
        case DD_REPORT_OK:
        case DD_REPORT_BAD_PARAMETER:
        case DD_REPORT_NOT_OBJECT:
        case DD_REPORT_WRONG_TYPE:
        case DD_REPORT_BUFFER_TOO_SMALL:
        default: c = "InvalidPayload"; break;
        }
        m = err->detail[0] != '\0' && memchr(err->detail, '\0', sizeof(err->detail)) != NULL
                ? err->detail
                : dd_report_strerror(err->status);
    }
    if (code != NULL) {
        *code = c;
    }
    if (message != NULL) {
        *message = m;
    }
}

const char *dd_report_strerror(dd_report_status_t status)
{
    switch (status) {
    case DD_REPORT_OK: return "ok";
    case DD_REPORT_BAD_PARAMETER: return "bad parameter";
    case DD_REPORT_NO_MEMORY: return "out of memory";
    case DD_REPORT_TOO_LARGE: return "payload larger than 128 KB";
    case DD_REPORT_NOT_JSON: return "payload is not a JSON document";
    case DD_REPORT_NOT_CBOR: return "payload is not a CBOR item";
    case DD_REPORT_NOT_OBJECT: return "report is not an object";
    case DD_REPORT_MISSING_HEADER: return "header, report_id or version missing";
    case DD_REPORT_MISSING_METRICS: return "neither metrics nor custom_metrics present";
    case DD_REPORT_WRONG_TYPE: return "a member has the wrong type or range";
    case DD_REPORT_BAD_VERSION: return "version is not 1.x";
    case DD_REPORT_BAD_CUSTOM_METRIC:
        return "custom metric value is not a one-element array of one known member";
    case DD_REPORT_BUFFER_TOO_SMALL: return "buffer too small";
    case DD_REPORT_BAD_TOPIC: return "not a $aws/things/T/defender/metrics/{json,cbor} topic";
    case DD_REPORT_MISSING_MEMBER: return "a required member is missing";
    case DD_REPORT_MIXED_KEYS: return "long and short key names mixed";
    }
    return "unknown report status";
}
