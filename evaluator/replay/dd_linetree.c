#define _GNU_SOURCE /* memmem */
/*
 * A replay line in one yajl pass into arena-held cJSON nodes (dd_linetree.h). Whatever this
 * parser would have to judge the way dd_json_parse() does, it hands back as FALLBACK instead.
 */
#include "dd_linetree.h"

#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "dd_ip.h"
#include "dd_names.h"

/* Deeper lines go to dd_json_parse() (and its 1000-level limit); replay lines are 5 deep. */
#define DEPTH_MAX 64
/* dd_json_parse() checks objects up to 16 members pair by pair and sorts bigger ones; bigger
 * objects are left to it. */
#define PAIRWISE_MAX 16
/* cJSON copies at most 63 characters of a number before strtod(); a longer one it misreads, so
 * its verdict is dd_json_parse()'s to give. */
#define NUMBER_MAX 63
#define BLOCK_SIZE ((size_t)64 * 1024)
#define ALIGN 16
/* Entries of one ports or connections list that dd_linetree_report() takes; longer lists take
 * the tree path. */
#define DD_LINETREE_FAST_ITEMS 256

typedef struct dd_linetree_fast dd_linetree_fast_t;

typedef struct block {
    struct block *next;
    size_t cap;
    size_t used;
    /* data follows, ALIGN-aligned */
} block_t;

#define BLOCK_HEAD ((sizeof(block_t) + ALIGN - 1) / ALIGN * ALIGN)

/* A key of an open object, for the duplicate check: its length and first bytes are compared
 * before its text (most keys of a replay line differ in one of them). */
typedef struct key_seen {
    const char *text;
    size_t len;
    uint64_t head; /* up to 8 first bytes, zero-padded */
} key_seen_t;

struct dd_linetree {
    block_t *first;
    block_t *cur;
    cJSON *root;
    cJSON *stack[DEPTH_MAX];
    bool object[DEPTH_MAX];    /* stack[i] is an object (else an array) */
    size_t members[DEPTH_MAX]; /* members of each open object so far */
    key_seen_t keys[DEPTH_MAX][PAIRWISE_MAX];
    size_t depth;
    char *key; /* the key of the next member of the innermost object */
    bool fallback;
    bool oom;
    bool escapes; /* the line has a backslash: a string may hold a \u0000 */
    char point;   /* the locale's decimal point, as cJSON uses it; 0 until a number needs it */
    dd_linetree_fast_t *fast; /* dd_linetree_report()'s state, made at its first call */
    yajl_alloc_funcs funcs;
};

/* ------------------------------------------------------------------ arena */

/* The slow path of arena_alloc(): the current block is full (or there is none). */
static void *arena_grow(dd_linetree_t *lt, size_t n)
{
    block_t *b = lt->cur;
    void *p;

    /* The blocks after cur are unused in this line: take the next if it is big enough. */
    if (b != NULL && b->next != NULL && b->next->cap >= n) {
        b = b->next;
    } else {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        block_t *nb = malloc(BLOCK_HEAD + cap);
        if (nb == NULL) {
            lt->oom = true;
            return NULL;
        }
        nb->cap = cap;
        nb->next = b != NULL ? b->next : NULL;
        if (b != NULL) {
            b->next = nb;
        } else {
            lt->first = nb;
        }
        b = nb;
    }
    lt->cur = b;
    p = (char *)b + BLOCK_HEAD;
    b->used = n;
    return p;
}

/* Bump allocation; inline because a line takes some sixty of them. */
static inline void *arena_alloc(dd_linetree_t *lt, size_t n)
{
    block_t *b = lt->cur;
    void *p;

    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (b == NULL || b->cap - b->used < n) {
        return arena_grow(lt, n);
    }
    p = (char *)b + BLOCK_HEAD + b->used;
    b->used += n;
    return p;
}

static void arena_reset(dd_linetree_t *lt)
{
    lt->cur = lt->first;
    if (lt->cur != NULL) {
        lt->cur->used = 0;
    }
}

/* yajl's own allocations (handle, lexer buffers, stacks) come from the arena too: realloc()
 * needs the old size, kept in front of the block; free() is a no-op until the next line. */
static void *y_malloc(void *ctx, size_t n)
{
    size_t *p = arena_alloc(ctx, n + ALIGN);

    if (p == NULL) {
        return NULL;
    }
    *p = n;
    return (char *)p + ALIGN;
}

static void *y_realloc(void *ctx, void *ptr, size_t n)
{
    size_t old;
    void *q;

    if (ptr == NULL) {
        return y_malloc(ctx, n);
    }
    old = *(size_t *)(void *)((char *)ptr - ALIGN);
    if (n <= old) {
        return ptr;
    }
    q = y_malloc(ctx, n);
    if (q != NULL) {
        memcpy(q, ptr, old);
    }
    return q;
}

static void y_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr;
}

/* ------------------------------------------------------------------ tree */

static char *copy_text(dd_linetree_t *lt, const unsigned char *s, size_t len)
{
    char *c;

    /* yajl refuses a raw NUL in a string, so only an escape can make one. */
    if (lt->escapes && memchr(s, '\0', len) != NULL) {
        lt->fallback = true; /* \u0000: dd_json_parse() refuses it with its message */
        return NULL;
    }
    c = arena_alloc(lt, len + 1);
    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

/* A new node of @p type, attached where the parse is; NULL stops the parse. */
static cJSON *add(dd_linetree_t *lt, int type)
{
    cJSON *n = arena_alloc(lt, sizeof(cJSON));
    cJSON *parent;

    if (n == NULL) {
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->type = type;
    if (lt->depth == 0) {
        lt->root = n;
        return n;
    }
    parent = lt->stack[lt->depth - 1];
    if (lt->object[lt->depth - 1]) {
        n->string = lt->key;
        lt->key = NULL;
    }
    if (parent->child == NULL) {
        parent->child = n;
        n->prev = n; /* cJSON keeps the last element on the first one's prev */
    } else {
        cJSON *last = parent->child->prev;
        last->next = n;
        n->prev = last;
        parent->child->prev = n;
    }
    return n;
}

static int on_null(void *ctx)
{
    return add(ctx, cJSON_NULL) != NULL;
}

static int on_boolean(void *ctx, int b)
{
    cJSON *n = add(ctx, b ? cJSON_True : cJSON_False);

    if (n != NULL && b) {
        n->valueint = 1; /* as cJSON's parser sets it */
    }
    return n != NULL;
}

/* An integer of up to 15 digits is exact in a double, so strtod() would give just this (-0
 * included); replay lines are mostly such numbers. */
static bool small_integer(const char *s, size_t len, double *d)
{
    size_t i = s[0] == '-' ? 1 : 0;
    uint64_t v = 0;

    if (len - i > 15) {
        return false;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *d = s[0] == '-' ? -(double)v : (double)v;
    return true;
}

/* As cJSON's parse_number(): the text with the locale's decimal point through strtod(), and
 * valueint saturated. yajl has checked the RFC 8259 grammar. */
static int on_number(void *ctx, const char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    char text[NUMBER_MAX + 1];
    double d;
    size_t i;
    cJSON *n;

    if (len >= NUMBER_MAX) {
        lt->fallback = true;
        return 0;
    }
    if (!small_integer(s, len, &d)) {
        if (lt->point == 0) {
            lt->point = localeconv()->decimal_point[0];
        }
        for (i = 0; i < len; i++) {
            text[i] = s[i] == '.' ? lt->point : s[i];
        }
        text[len] = '\0';
        d = strtod(text, NULL);
    }
    if ((n = add(lt, cJSON_Number)) == NULL) {
        return 0;
    }
    n->valuedouble = d;
    if (d >= INT_MAX) {
        n->valueint = INT_MAX;
    } else if (d <= (double)INT_MIN) {
        n->valueint = INT_MIN;
    } else {
        n->valueint = (int)d;
    }
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    char *text = copy_text(lt, s, len);
    cJSON *n;

    if (text == NULL || (n = add(lt, cJSON_String)) == NULL) {
        return 0;
    }
    n->valuestring = text;
    return 1;
}

/* A key; one the object already has, or a big object, is left to dd_json_parse(). */
static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    size_t *count = &lt->members[lt->depth - 1];
    key_seen_t *seen = lt->keys[lt->depth - 1];
    uint64_t head = 0;
    size_t i;

    if (*count == PAIRWISE_MAX) {
        lt->fallback = true;
        return 0;
    }
    if ((lt->key = copy_text(lt, s, len)) == NULL) {
        return 0;
    }
    memcpy(&head, s, len < sizeof(head) ? len : sizeof(head));
    for (i = 0; i < *count; i++) {
        if (seen[i].head == head && seen[i].len == len && memcmp(seen[i].text, lt->key, len) == 0) {
            lt->fallback = true;
            return 0;
        }
    }
    seen[i].text = lt->key;
    seen[i].len = len;
    seen[i].head = head;
    ++*count;
    return 1;
}

static int open_container(dd_linetree_t *lt, int type)
{
    cJSON *n;

    if (lt->depth == DEPTH_MAX) {
        lt->fallback = true;
        return 0;
    }
    if ((n = add(lt, type)) == NULL) {
        return 0;
    }
    lt->stack[lt->depth] = n;
    lt->object[lt->depth] = type == cJSON_Object;
    lt->members[lt->depth] = 0;
    lt->depth++;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, cJSON_Object);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, cJSON_Array);
}

static int on_end(void *ctx)
{
    ((dd_linetree_t *)ctx)->depth--;
    return 1;
}

static const yajl_callbacks CALLBACKS = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* A \u escape of a UTF-16 surrogate (D800-DFFF): yajl and cJSON decode lone ones differently,
 * so any line with one is left to dd_json_parse(). An escaped backslash before "ud8.." makes
 * this say yes too, which only costs that line the slow path. */
static bool has_surrogate_escape(const char *text, size_t len)
{
    const char *p = text;
    const char *end = text + len;

    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
            strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != '\0') {
            return true;
        }
        p++;
    }
    return false;
}

/* ------------------------------------------------------------------ report lines */

/*
 * dd_linetree_report(): a line {"thing":..,"time":..,"report":{..}} decoded from yajl's
 * callbacks straight into a dd_report_t, without the tree. It only ever says yes: every
 * member it meets must be one the report's schema knows, once, of the type and in the range
 * the tree path (prepare_line() + dd_report_decode_cjson()) accepts; anything else -- an
 * unknown or null member, custom metrics, a float, a number of more than 15 digits, a
 * backslash anywhere in the line, an entry without its port -- stops it, and the line takes
 * the tree path, whose verdict and messages then apply.
 */

/* Frames of the schema, one per open object or array. */
typedef enum frame_kind {
    FR_LINE,
    FR_REPORT,
    FR_HEADER,
    FR_METRICS,
    FR_PORTS,
    FR_PORTLIST,
    FR_PORT,
    FR_NET,
    FR_TC,
    FR_EC,
    FR_CONNLIST,
    FR_CONN,
    FR_COUNT
} frame_kind_t;

/* Member ids, per frame (the bit in fast_frame_t.seen). */
enum { K_THING = 0, K_TIME, K_REPORT };
enum { K_HEADER = 0, K_METRICS };
enum { K_REPORT_ID = 0, K_VERSION };
enum { K_TCP_PORTS = 0, K_UDP_PORTS, K_NET, K_TCP_CONNS };
enum { K_PORTS = 0, K_TOTAL };
enum { K_PORT = 0, K_IFACE };
enum { K_BYTES_IN = 0, K_BYTES_OUT, K_PACKETS_IN, K_PACKETS_OUT };
enum { K_ESTABLISHED = 0 };
enum { K_CONNECTIONS = 0 }; /* K_TOTAL = 1 as in FR_PORTS */
enum { K_REMOTE_ADDR = 0, K_LOCAL_PORT, K_LOCAL_IFACE };

/* A member name in its long and short spelling (dd_report.h: both are accepted, mixed too). */
typedef struct fast_key {
    const char *name[2];
    unsigned char len[2];
} fast_key_t;

#define FK(l, s)                         \
    {                                    \
        {l, s},                          \
        {                                \
            sizeof(l) - 1, sizeof(s) - 1 \
        }                                \
    }

static const fast_key_t KEYS_LINE[] = {FK("thing", "thing"), FK("time", "time"),
                                       FK("report", "report")};
static const fast_key_t KEYS_REPORT[] = {FK("header", "hed"), FK("metrics", "met")};
static const fast_key_t KEYS_HEADER[] = {FK("report_id", "rid"), FK("version", "v")};
static const fast_key_t KEYS_METRICS[] = {FK("listening_tcp_ports", "tp"),
                                          FK("listening_udp_ports", "up"),
                                          FK("network_stats", "ns"), FK("tcp_connections", "tc")};
static const fast_key_t KEYS_PORTS[] = {FK("ports", "pts"), FK("total", "t")};
static const fast_key_t KEYS_PORT[] = {FK("port", "pt"), FK("interface", "if")};
static const fast_key_t KEYS_NET[] = {FK("bytes_in", "bi"), FK("bytes_out", "bo"),
                                      FK("packets_in", "pi"), FK("packets_out", "po")};
static const fast_key_t KEYS_TC[] = {FK("established_connections", "ec")};
static const fast_key_t KEYS_EC[] = {FK("connections", "cs"), FK("total", "t")};
static const fast_key_t KEYS_CONN[] = {FK("remote_addr", "rad"), FK("local_port", "lp"),
                                       FK("local_interface", "li")};

/* The members of each object frame (arrays have none). */
static const struct {
    const fast_key_t *keys;
    size_t n;
} FRAME_KEYS[FR_COUNT] = {
    [FR_LINE] = {KEYS_LINE, 3},     [FR_REPORT] = {KEYS_REPORT, 2},
    [FR_HEADER] = {KEYS_HEADER, 2}, [FR_METRICS] = {KEYS_METRICS, 4},
    [FR_PORTS] = {KEYS_PORTS, 2},   [FR_PORT] = {KEYS_PORT, 2},
    [FR_NET] = {KEYS_NET, 4},       [FR_TC] = {KEYS_TC, 1},
    [FR_EC] = {KEYS_EC, 2},         [FR_CONN] = {KEYS_CONN, 3},
};

/* Members an object frame must have when it closes. */
static const unsigned REQUIRED[FR_COUNT] = {
    [FR_LINE] = 1u << K_THING | 1u << K_TIME | 1u << K_REPORT,
    [FR_REPORT] = 1u << K_HEADER | 1u << K_METRICS,
    [FR_HEADER] = 1u << K_REPORT_ID | 1u << K_VERSION,
    [FR_PORT] = 1u << K_PORT,
    [FR_CONN] = 1u << K_REMOTE_ADDR,
};

/* The schema is 6 deep: line, report, metrics, tcp_connections, established, list, entry. */
#define FAST_DEPTH 8

typedef struct fast_frame {
    frame_kind_t kind;
    unsigned seen; /* members met so far */
    unsigned next; /* the member after the last one met, in the schema's order */
} fast_frame_t;

struct dd_linetree_fast {
    dd_linetree_report_t *out;
    fast_frame_t fr[FAST_DEPTH];
    size_t depth;
    int key;                  /* the pending member of the innermost object */
    dd_report_ports_t *ports; /* the ports block being read */
    size_t nitems;            /* entries of the list being read, in the buffers below */
    dd_report_port_t port[DD_LINETREE_FAST_ITEMS];
    dd_report_conn_t conn[DD_LINETREE_FAST_ITEMS];
};

/* The innermost frame and its pending member, or NULL when the member is not in an object. */
static fast_frame_t *fast_member(dd_linetree_fast_t *f, int *key)
{
    fast_frame_t *fr;

    if (f->depth == 0) {
        return NULL;
    }
    fr = &f->fr[f->depth - 1];
    if (fr->kind == FR_PORTLIST || fr->kind == FR_CONNLIST) {
        return NULL;
    }
    *key = f->key;
    return fr;
}

/* A non-negative integer of up to 15 digits, the only numbers taken here: exact in a double,
 * so the tree path reads the same value. */
static bool fast_uint(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 15) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static int fast_null(void *ctx)
{
    (void)ctx;
    return 0; /* null is "absent" for the report: the tree path's call */
}

static int fast_boolean(void *ctx, int b)
{
    (void)ctx;
    (void)b;
    return 0;
}

static int fast_number(void *ctx, const char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    dd_report_t *r = &f->out->report;
    fast_frame_t *fr;
    int key = 0;
    uint64_t v;

    if ((fr = fast_member(f, &key)) == NULL || !fast_uint(s, len, &v)) {
        return 0;
    }
    switch (fr->kind) {
    case FR_LINE:
        if (key != K_TIME) {
            return 0;
        }
        f->out->time_ms = (int64_t)v;
        return 1;
    case FR_HEADER:
        if (key != K_REPORT_ID || v < 1) {
            return 0;
        }
        r->report_id = v;
        return 1;
    case FR_PORTS:
        if (key != K_TOTAL) {
            return 0;
        }
        f->ports->has_total = true;
        f->ports->total = v;
        return 1;
    case FR_EC:
        if (key != K_TOTAL) {
            return 0;
        }
        r->tcp_conns.has_total = true;
        r->tcp_conns.total = v;
        return 1;
    case FR_PORT:
        if (key != K_PORT || v < 1 || v > 65535) {
            return 0;
        }
        f->port[f->nitems].port = (uint16_t)v;
        return 1;
    case FR_CONN:
        if (key != K_LOCAL_PORT || v > 65535) {
            return 0;
        }
        f->conn[f->nitems].has_local_port = true;
        f->conn[f->nitems].local_port = (uint16_t)v;
        return 1;
    case FR_NET:
        switch (key) {
        case K_BYTES_IN: r->net.has_bytes_in = true, r->net.bytes_in = v; break;
        case K_BYTES_OUT: r->net.has_bytes_out = true, r->net.bytes_out = v; break;
        case K_PACKETS_IN: r->net.has_packets_in = true, r->net.packets_in = v; break;
        default: r->net.has_packets_out = true, r->net.packets_out = v; break;
        }
        return 1;
    default: return 0;
    }
}

static int fast_string(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    dd_report_conn_t *c;
    fast_frame_t *fr;
    int key = 0;

    if ((fr = fast_member(f, &key)) == NULL) {
        return 0;
    }
    switch (fr->kind) {
    case FR_LINE:
        if (key != K_THING || len > DD_REPORT_THING_NAME_MAX) {
            return 0;
        }
        memcpy(f->out->thing, s, len);
        f->out->thing[len] = '\0';
        f->out->thing_len = len;
        return dd_name_valid(DD_NAME_THING, f->out->thing);
    case FR_HEADER:
        if (key != K_VERSION || !dd_report_version_ok((const char *)s, len)) {
            return 0;
        }
        memcpy(f->out->report.version, s, len);
        f->out->report.version[len] = '\0';
        return 1;
    case FR_PORT:
        if (key != K_IFACE) {
            return 0;
        }
        dd_report_iface_copy((const char *)s, len, f->port[f->nitems].interface);
        f->port[f->nitems].has_interface = true;
        return 1;
    case FR_CONN:
        c = &f->conn[f->nitems];
        if (key == K_REMOTE_ADDR) {
            return dd_ip_parse_endpoint((const char *)s, len, &c->remote_ip, &c->remote_port) ==
                   DD_IP_OK;
        }
        if (key != K_LOCAL_IFACE) {
            return 0;
        }
        dd_report_iface_copy((const char *)s, len, c->local_interface);
        c->has_local_interface = true;
        return 1;
    default: return 0;
    }
}

/* @p s is key @p k in one of its spellings. */
static bool fast_key_is(const fast_key_t *k, const unsigned char *s, size_t len)
{
    return (len == k->len[0] && memcmp(s, k->name[0], len) == 0) ||
           (len == k->len[1] && memcmp(s, k->name[1], len) == 0);
}

static int fast_key(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    fast_frame_t *fr = &f->fr[f->depth - 1];
    const fast_key_t *k = FRAME_KEYS[fr->kind].keys;
    size_t n = FRAME_KEYS[fr->kind].n;
    size_t i = fr->next;

    /* Writers send the members in the schema's order: the one after the last is the first
     * guess, the others are tried only when it is not. */
    if (i >= n || !fast_key_is(&k[i], s, len)) {
        for (i = 0; i < n && !fast_key_is(&k[i], s, len); i++) {
        }
        if (i == n) {
            return 0; /* a member the fast lane does not know */
        }
    }
    if (fr->seen & (1u << i)) {
        return 0; /* named twice (maybe once long, once short) */
    }
    fr->seen |= 1u << i;
    fr->next = (unsigned)i + 1;
    f->key = (int)i;
    return 1;
}

static int fast_open(dd_linetree_fast_t *f, frame_kind_t kind)
{
    if (f->depth == FAST_DEPTH) {
        return 0;
    }
    f->fr[f->depth].kind = kind;
    f->fr[f->depth].seen = 0;
    f->fr[f->depth].next = 0;
    f->depth++;
    return 1;
}

static int fast_start_map(void *ctx)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    dd_report_t *r = &f->out->report;
    frame_kind_t parent;
    int key = f->key;

    if (f->depth == 0) {
        return fast_open(f, FR_LINE);
    }
    parent = f->fr[f->depth - 1].kind;
    switch (parent) {
    case FR_LINE: return key == K_REPORT && fast_open(f, FR_REPORT);
    case FR_REPORT:
        if (key != K_METRICS) {
            return fast_open(f, FR_HEADER);
        }
        r->has_metrics = true;
        return fast_open(f, FR_METRICS);
    case FR_METRICS:
        switch (key) {
        case K_TCP_PORTS:
        case K_UDP_PORTS:
            f->ports = key == K_TCP_PORTS ? &r->tcp_ports : &r->udp_ports;
            f->ports->present = true;
            return fast_open(f, FR_PORTS);
        case K_NET: r->net.present = true; return fast_open(f, FR_NET);
        default: return fast_open(f, FR_TC);
        }
    case FR_TC: r->tcp_conns.present = true; return fast_open(f, FR_EC);
    case FR_PORTLIST:
        if (f->nitems == DD_LINETREE_FAST_ITEMS) {
            return 0;
        }
        memset(&f->port[f->nitems], 0, sizeof(f->port[0]));
        return fast_open(f, FR_PORT);
    case FR_CONNLIST:
        if (f->nitems == DD_LINETREE_FAST_ITEMS) {
            return 0;
        }
        memset(&f->conn[f->nitems], 0, sizeof(f->conn[0]));
        return fast_open(f, FR_CONN);
    default: return 0; /* an object where a number or a string belongs */
    }
}

static int fast_end_map(void *ctx)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    fast_frame_t *fr = &f->fr[f->depth - 1];

    if ((fr->seen & REQUIRED[fr->kind]) != REQUIRED[fr->kind]) {
        return 0;
    }
    if (fr->kind == FR_PORT || fr->kind == FR_CONN) {
        f->nitems++;
    }
    f->depth--;
    return 1;
}

static int fast_start_array(void *ctx)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    frame_kind_t parent;

    if (f->depth == 0) {
        return 0;
    }
    parent = f->fr[f->depth - 1].kind;
    if (f->key != K_PORTS || (parent != FR_PORTS && parent != FR_EC)) {
        return 0; /* K_PORTS == K_CONNECTIONS */
    }
    f->nitems = 0;
    return fast_open(f, parent == FR_PORTS ? FR_PORTLIST : FR_CONNLIST);
}

/* The list's entries into the report, in their own malloc() block as the tree path has them. */
static int fast_end_array(void *ctx)
{
    dd_linetree_t *lt = ctx;
    dd_linetree_fast_t *f = lt->fast;
    dd_report_t *r = &f->out->report;
    size_t n = f->nitems;

    f->depth--;
    if (n == 0) {
        return 1;
    }
    if (f->fr[f->depth].kind == FR_PORTLIST) {
        if ((f->ports->items = malloc(n * sizeof(*f->ports->items))) == NULL) {
            lt->oom = true;
            return 0;
        }
        memcpy(f->ports->items, f->port, n * sizeof(*f->ports->items));
        f->ports->count = n;
    } else {
        if ((r->tcp_conns.items = malloc(n * sizeof(*r->tcp_conns.items))) == NULL) {
            lt->oom = true;
            return 0;
        }
        memcpy(r->tcp_conns.items, f->conn, n * sizeof(*r->tcp_conns.items));
        r->tcp_conns.count = n;
    }
    return 1;
}

static const yajl_callbacks FAST_CALLBACKS = {
    .yajl_null = fast_null,
    .yajl_boolean = fast_boolean,
    .yajl_number = fast_number,
    .yajl_string = fast_string,
    .yajl_start_map = fast_start_map,
    .yajl_map_key = fast_key,
    .yajl_end_map = fast_end_map,
    .yajl_start_array = fast_start_array,
    .yajl_end_array = fast_end_array,
};

/* ------------------------------------------------------------------ API */

dd_linetree_status_t dd_linetree_create(dd_linetree_t **out)
{
    dd_linetree_t *lt;

    if (out == NULL) {
        return DD_LINETREE_BAD_PARAMETER;
    }
    *out = NULL;
    lt = calloc(1, sizeof(*lt));
    if (lt == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    lt->funcs.malloc = y_malloc;
    lt->funcs.realloc = y_realloc;
    lt->funcs.free = y_free;
    lt->funcs.ctx = lt;
    *out = lt;
    return DD_LINETREE_OK;
}

void dd_linetree_destroy(dd_linetree_t *lt)
{
    block_t *b;
    block_t *next;

    if (lt == NULL) {
        return;
    }
    for (b = lt->first; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(lt->fast);
    free(lt);
}

dd_linetree_status_t dd_linetree_parse(dd_linetree_t *lt, const char *text, size_t len,
                                       const cJSON **root)
{
    yajl_handle h;
    yajl_status st;

    if (root != NULL) {
        *root = NULL;
    }
    if (lt == NULL || root == NULL || (text == NULL && len != 0)) {
        return DD_LINETREE_BAD_PARAMETER;
    }
    arena_reset(lt);
    lt->root = NULL;
    lt->depth = 0;
    lt->key = NULL;
    lt->fallback = false;
    lt->oom = false;
    lt->point = 0;
    lt->escapes = len > 0 && memchr(text, '\\', len) != NULL;
    /* A byte order mark (skipped by dd_json_parse()) or a surrogate escape: its call. */
    if (len == 0 || (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ||
        (lt->escapes && has_surrogate_escape(text, len))) {
        return DD_LINETREE_FALLBACK;
    }
    h = yajl_alloc(&CALLBACKS, &lt->funcs, lt);
    if (h == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    yajl_free(h);
    if (lt->oom) {
        return DD_LINETREE_NO_MEMORY;
    }
    if (st != yajl_status_ok || lt->root == NULL) {
        return DD_LINETREE_FALLBACK;
    }
    *root = lt->root;
    return DD_LINETREE_OK;
}

dd_linetree_status_t dd_linetree_report(dd_linetree_t *lt, const char *text, size_t len,
                                        dd_linetree_report_t *out)
{
    dd_linetree_fast_t *f;
    yajl_handle h;
    yajl_status st;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (lt == NULL || out == NULL || (text == NULL && len != 0)) {
        return DD_LINETREE_BAD_PARAMETER;
    }
    arena_reset(lt);
    lt->root = NULL;
    lt->oom = false;
    /* No escape anywhere: no \u0000, no surrogate, and every string is yajl's view of the
     * line's bytes, as the tree path would have it. */
    if (len == 0 || memchr(text, '\\', len) != NULL) {
        return DD_LINETREE_FALLBACK;
    }
    /* Without escapes a report line spells its "report" key out: the other lines (two thirds
     * of an emitted stream are metering events) need not be tokenized here first. */
    if (memmem(text, len, "\"report\"", 8) == NULL) {
        return DD_LINETREE_FALLBACK;
    }
    if (lt->fast == NULL && (lt->fast = malloc(sizeof(*lt->fast))) == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    f = lt->fast;
    f->out = out;
    f->depth = 0;
    f->key = -1;
    f->ports = NULL;
    f->nitems = 0;
    h = yajl_alloc(&FAST_CALLBACKS, &lt->funcs, lt);
    if (h == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    yajl_free(h);
    /* yajl has seen one whole value, and a line frame was opened (the first callback of any
     * success) and closed with its members. */
    if (st != yajl_status_ok || lt->oom || f->depth != 0 || out->thing_len == 0) {
        dd_report_free(&out->report);
        memset(out, 0, sizeof(*out));
        return lt->oom ? DD_LINETREE_NO_MEMORY : DD_LINETREE_FALLBACK;
    }
    return DD_LINETREE_OK;
}

const char *dd_linetree_strerror(dd_linetree_status_t status)
{
    switch (status) {
    case DD_LINETREE_OK: return "ok";
    case DD_LINETREE_BAD_PARAMETER: return "bad parameter";
    case DD_LINETREE_NO_MEMORY: return "out of memory";
    case DD_LINETREE_FALLBACK: return "left to the strict parser";
    }
    return "unknown linetree status";
}
