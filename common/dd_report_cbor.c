/* CBOR side of the report codec: libcbor item tree -> dd_rops_t, and the CBOR encoders. */
#include <cbor.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dd_report_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Decoding
 *
 * libcbor's streaming decoder does all the CBOR work; its callbacks build a light tree in an
 * arena instead of cbor_load()'s one malloc per item. Definite strings point into the payload
 * (zero copy), freeing is one pass over the arena blocks (cbor_decref() recurses, and 128 KB of
 * 0x81 would nest 131072 deep), and nothing is allocated from declared lengths (a 9-byte header
 * may claim a 2^40-element array). The builder also checks what cbor_load() would: exactly one
 * item, breaks only in indefinite items, an even number of items in a map, chunks of an
 * indefinite string being definite strings of the same type, and depth <= DD_REPORT_CBOR_MAX_DEPTH.
 * (Unlike cbor_load(), text is not UTF-8 checked, as cJSON does not check it for JSON either.)
 * ------------------------------------------------------------------------------------------- */

typedef enum cn_type {
    CN_UINT,
    CN_NEGINT,
    CN_FLOAT,
    CN_TEXT,
    CN_BYTES,
    CN_ARRAY,
    CN_MAP,
    CN_TAG,
    CN_NULL,
    CN_BOOL
} cn_type_t;

typedef struct cnode cnode_t;
struct cnode {
    cnode_t *next;  /* next sibling; map children alternate key, value */
    cnode_t *first; /* containers, indefinite strings (chunks), tags */
    cnode_t *last;
    union {
        uint64_t u; /* UINT, NEGINT (value -1 - u) */
        double d;   /* FLOAT */
        struct {
            const char *s; /* into the payload; NULL for an indefinite string */
            size_t len;
        } str;
    } v;
    uint32_t children;
    uint8_t type;
};

/* Counts fit 32 bits: nothing declares more items than the 128 KB payload has bytes. */
#define INDEFINITE UINT32_MAX
/* Real reports nest 7 deep; only unusual payloads need the heap stack. */
#define INLINE_DEPTH 32
/* A 1 KB report has ~130 items: most decodes never leave the inline block. */
#define INLINE_NODES 192

typedef struct block {
    struct block *next;
    size_t used;
    size_t cap;
    cnode_t nodes[];
} block_t;

typedef struct frame {
    cnode_t *node;
    uint32_t left; /* items still expected, or INDEFINITE */
} frame_t;

typedef struct builder {
    frame_t *stack;
    size_t depth;
    size_t cap;
    size_t avail; /* payload bytes left from the current item on */
    cnode_t *root;
    bool done; /* the top-level item is complete */
    bool bad;
    bool oom;
    block_t *blocks; /* heap blocks, newest first */
    size_t inline_used;
    frame_t inline_stack[INLINE_DEPTH];
    cnode_t inline_nodes[INLINE_NODES];
} builder_t;

static cnode_t *new_node(builder_t *b)
{
    block_t *blk = b->blocks;
    cnode_t *n;

    if (b->inline_used < INLINE_NODES) {
        n = &b->inline_nodes[b->inline_used++];
    } else {
        if (blk == NULL || blk->used == blk->cap) {
            size_t cap = blk == NULL ? 256 : blk->cap * 2;
            block_t *nb = malloc(sizeof(*nb) + cap * sizeof(cnode_t));
            if (nb == NULL) {
                b->oom = true;
                b->bad = true;
                return NULL;
            }
            nb->next = blk;
            nb->used = 0;
            nb->cap = cap;
            b->blocks = blk = nb;
        }
        n = &blk->nodes[blk->used++];
    }
    memset(n, 0, sizeof(*n));
    return n;
}

static void builder_free(builder_t *b)
{
    while (b->blocks != NULL) {
        block_t *next = b->blocks->next;
        free(b->blocks);
        b->blocks = next;
    }
    if (b->stack != b->inline_stack) {
        free(b->stack);
    }
}

/* A finished item closes every definite container it completes. */
static void item_done(builder_t *b)
{
    while (b->depth > 0) {
        uint32_t *left = &b->stack[b->depth - 1].left;
        if (*left == INDEFINITE || --*left > 0) {
            return;
        }
        b->depth--;
    }
    b->done = true;
}

/* Links a new item of @p type under the open container; NULL when it may not go there. */
static cnode_t *add(builder_t *b, cn_type_t type)
{
    cnode_t *n;
    cnode_t *parent = b->depth > 0 ? b->stack[b->depth - 1].node : NULL;

    if (b->bad) {
        return NULL;
    }
    if (parent != NULL && (parent->type == CN_TEXT || parent->type == CN_BYTES) &&
        parent->type != type) {
        b->bad = true; /* a chunk of an indefinite string must be a string of the same type */
        return NULL;
    }
    if ((n = new_node(b)) == NULL) {
        return NULL;
    }
    n->type = (uint8_t)type;
    if (parent == NULL) {
        b->root = n;
    } else {
        if (parent->last != NULL) {
            parent->last->next = n;
        } else {
            parent->first = n;
        }
        parent->last = n;
        parent->children++;
    }
    return n;
}

static void open_container(builder_t *b, cn_type_t type, uint32_t items)
{
    cnode_t *n = add(b, type);

    if (n == NULL) {
        return;
    }
    if (b->depth > 0 && (b->stack[b->depth - 1].node->type == CN_TEXT ||
                         b->stack[b->depth - 1].node->type == CN_BYTES)) {
        b->bad = true; /* only definite strings go inside an indefinite string */
        return;
    }
    if (items == 0) {
        item_done(b);
        return;
    }
    if (b->depth >= DD_REPORT_CBOR_MAX_DEPTH) {
        b->bad = true;
        return;
    }
    if (b->depth == b->cap) {
        frame_t *deep = malloc(DD_REPORT_CBOR_MAX_DEPTH * sizeof(*deep));
        if (deep == NULL) {
            b->oom = true;
            b->bad = true;
            return;
        }
        memcpy(deep, b->stack, b->depth * sizeof(*deep));
        b->stack = deep;
        b->cap = DD_REPORT_CBOR_MAX_DEPTH;
    }
    b->stack[b->depth].node = n;
    b->stack[b->depth].left = items;
    b->depth++;
}

static void cb_int(builder_t *b, cn_type_t type, uint64_t v)
{
    cnode_t *n = add(b, type);

    if (n != NULL) {
        n->v.u = v;
        item_done(b);
    }
}

static void cb_u8(void *ctx, uint8_t v)
{
    cb_int(ctx, CN_UINT, v);
}
static void cb_u16(void *ctx, uint16_t v)
{
    cb_int(ctx, CN_UINT, v);
}
static void cb_u32(void *ctx, uint32_t v)
{
    cb_int(ctx, CN_UINT, v);
}
static void cb_u64(void *ctx, uint64_t v)
{
    cb_int(ctx, CN_UINT, v);
}
static void cb_n8(void *ctx, uint8_t v)
{
    cb_int(ctx, CN_NEGINT, v);
}
static void cb_n16(void *ctx, uint16_t v)
{
    cb_int(ctx, CN_NEGINT, v);
}
static void cb_n32(void *ctx, uint32_t v)
{
    cb_int(ctx, CN_NEGINT, v);
}
static void cb_n64(void *ctx, uint64_t v)
{
    cb_int(ctx, CN_NEGINT, v);
}

static void cb_string(builder_t *b, cn_type_t type, cbor_data d, size_t len)
{
    cnode_t *n = add(b, type);

    if (n != NULL) {
        n->v.str.s = (const char *)d;
        n->v.str.len = len;
        item_done(b);
    }
}

static void cb_text(void *ctx, cbor_data d, size_t len)
{
    cb_string(ctx, CN_TEXT, d, len);
}
static void cb_bytes(void *ctx, cbor_data d, size_t len)
{
    cb_string(ctx, CN_BYTES, d, len);
}
static void cb_text_start(void *ctx)
{
    open_container(ctx, CN_TEXT, INDEFINITE);
}
static void cb_bytes_start(void *ctx)
{
    open_container(ctx, CN_BYTES, INDEFINITE);
}
static void cb_indef_array(void *ctx)
{
    open_container(ctx, CN_ARRAY, INDEFINITE);
}
static void cb_indef_map(void *ctx)
{
    open_container(ctx, CN_MAP, INDEFINITE);
}
static void cb_array(void *ctx, size_t n)
{
    builder_t *b = ctx;

    if (n > b->avail) {
        b->bad = true;
        return;
    }
    open_container(b, CN_ARRAY, (uint32_t)n);
}
static void cb_map(void *ctx, size_t n)
{
    builder_t *b = ctx;

    if (n > b->avail / 2) {
        b->bad = true;
        return;
    }
    open_container(b, CN_MAP, (uint32_t)(2 * n));
}
static void cb_tag(void *ctx, uint64_t v)
{
    (void)v;
    open_container(ctx, CN_TAG, 1); /* wraps the next item; the validator treats it as "other" */
}
static void cb_double(void *ctx, double v)
{
    builder_t *b = ctx;
    cnode_t *n = add(b, CN_FLOAT);

    if (n != NULL) {
        n->v.d = v;
        item_done(b);
    }
}
static void cb_float(void *ctx, float v)
{
    cb_double(ctx, (double)v);
}
static void cb_null(void *ctx)
{
    builder_t *b = ctx;

    if (add(b, CN_NULL) != NULL) {
        item_done(b);
    }
}
static void cb_bool(void *ctx, bool v)
{
    builder_t *b = ctx;
    cnode_t *n = add(b, CN_BOOL);

    if (n != NULL) {
        n->v.u = v;
        item_done(b);
    }
}
static void cb_break(void *ctx)
{
    builder_t *b = ctx;
    cnode_t *top;

    if (b->bad || b->depth == 0 || b->stack[b->depth - 1].left != INDEFINITE) {
        b->bad = true;
        return;
    }
    top = b->stack[b->depth - 1].node;
    if (top->type == CN_MAP && top->children % 2 != 0) {
        b->bad = true; /* a key without a value */
        return;
    }
    b->depth--;
    item_done(b);
}

static const struct cbor_callbacks BUILD_CALLBACKS = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_n8,
    .negint16 = cb_n16,
    .negint32 = cb_n32,
    .negint64 = cb_n64,
    .byte_string = cb_bytes,
    .byte_string_start = cb_bytes_start,
    .string = cb_text,
    .string_start = cb_text_start,
    .array_start = cb_array,
    .indef_array_start = cb_indef_array,
    .map_start = cb_map,
    .indef_map_start = cb_indef_map,
    .tag = cb_tag,
    .float2 = cb_float,
    .float4 = cb_float,
    .float8 = cb_double,
    .undefined = cb_null,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_break,
};

/* Runs the streaming decoder over the whole payload; *at = where it stopped. */
static bool build(builder_t *b, const uint8_t *p, size_t len, size_t *at)
{
    size_t off = 0;

    while (off < len && !b->done && !b->bad) {
        struct cbor_decoder_result r;

        b->avail = len - off;
        r = cbor_stream_decode(p + off, len - off, &BUILD_CALLBACKS, b);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
            b->bad = true;
            break;
        }
        off += r.read;
    }
    *at = off;
    return b->done && !b->bad && off == len;
}

static dd_rval_t c_kind(const void *node)
{
    switch (((const cnode_t *)node)->type) {
    case CN_UINT:
    case CN_NEGINT:
    case CN_FLOAT: return DD_RV_NUMBER;
    case CN_TEXT: return DD_RV_STRING;
    case CN_ARRAY: return DD_RV_ARRAY;
    case CN_MAP: return DD_RV_MAP;
    case CN_NULL: return DD_RV_NULL;
    case CN_BOOL: return DD_RV_BOOL;
    default: return DD_RV_OTHER; /* byte strings, tags */
    }
}

static void c_number(const void *node, dd_rnum_t *out)
{
    const cnode_t *n = node;

    out->u = 0;
    out->d = 0;
    switch (n->type) {
    case CN_UINT:
        out->kind = DD_RN_UINT;
        out->u = n->v.u;
        break;
    case CN_NEGINT:
        out->kind = DD_RN_NEGINT;
        out->u = n->v.u;
        break;
    default:
        out->kind = DD_RN_FLOAT;
        out->d = n->v.d;
        break;
    }
}

static bool c_string(dd_rctx_t *c, const void *node, const char **s, size_t *len)
{
    const cnode_t *n = node;
    const cnode_t *chunk;
    size_t total = 0;
    char *buf;

    if (n->first == NULL) {
        *s = n->v.str.s != NULL ? n->v.str.s : "";
        *len = n->v.str.len;
        return true;
    }
    /* Indefinite (chunked) string: join the chunks; rare, so a scratch copy is fine. */
    for (chunk = n->first; chunk != NULL; chunk = chunk->next) {
        total += chunk->v.str.len;
    }
    buf = dd_report_scratch(c, total + 1);
    if (buf == NULL) {
        return false;
    }
    total = 0;
    for (chunk = n->first; chunk != NULL; chunk = chunk->next) {
        if (chunk->v.str.len > 0) {
            memcpy(buf + total, chunk->v.str.s, chunk->v.str.len);
        }
        total += chunk->v.str.len;
    }
    buf[total] = '\0';
    *s = buf;
    *len = total;
    return true;
}

static size_t c_count(const void *node)
{
    const cnode_t *n = node;

    return n->type == CN_MAP ? n->children / 2 : n->children;
}

static void c_iter_init(const void *node, dd_riter_t *it)
{
    it->node = node;
    it->cur = ((const cnode_t *)node)->first;
    it->index = 0;
}

static int c_iter_next(dd_rctx_t *c, dd_riter_t *it, dd_rmember_t *m)
{
    const cnode_t *n = it->cur;

    if (n == NULL) {
        return 0;
    }
    m->key = NULL;
    m->key_len = 0;
    if (((const cnode_t *)it->node)->type == CN_MAP) {
        if (n->type == CN_TEXT && !c_string(c, n, &m->key, &m->key_len)) {
            return -1;
        }
        n = n->next; /* the builder guarantees a value follows every key */
    }
    m->value = n;
    it->cur = n->next;
    it->index++;
    return 1;
}

static const dd_rops_t CBOR_OPS = {
    .kind = c_kind,
    .number = c_number,
    .string = c_string,
    .count = c_count,
    .iter_init = c_iter_init,
    .iter_next = c_iter_next,
    .doubles_only = false,
};

dd_report_status_t dd_report_cbor_decode(dd_rctx_t *c, const uint8_t *payload, size_t len)
{
    builder_t *b;
    dd_report_status_t st;
    size_t at = 0;

    c->ops = &CBOR_OPS;
    if (len == 0) {
        return dd_report_fail(c, DD_REPORT_NOT_CBOR, "empty payload");
    }
    /* ~10 KB of inline nodes: on the heap, one block, so small thread stacks stay safe. */
    b = dd_report_scratch(c, sizeof(*b));
    if (b == NULL) {
        return dd_report_fail(c, DD_REPORT_NO_MEMORY, "out of memory");
    }
    b->stack = b->inline_stack;
    b->cap = INLINE_DEPTH;
    b->depth = 0;
    b->root = NULL;
    b->done = false;
    b->bad = false;
    b->oom = false;
    b->blocks = NULL;
    b->inline_used = 0;
    if (!build(b, payload, len, &at)) {
        st = b->oom ? dd_report_fail(c, DD_REPORT_NO_MEMORY, "out of memory")
                    : dd_report_fail(c, DD_REPORT_NOT_CBOR,
                                     "not one well-formed CBOR item "
                                     "(problem near byte %zu)",
                                     at);
    } else {
        st = dd_report_walk(c, b->root);
    }
    builder_free(b);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Encoding: libcbor's streaming encoders straight into the caller's buffer.
 * ------------------------------------------------------------------------------------------- */

typedef struct cw {
    uint8_t *buf;
    size_t len;
    size_t pos;
    bool full;
} cw_t;

static void put(cw_t *w, size_t written)
{
    if (written == 0) {
        w->full = true;
    }
    w->pos += written;
}

static void w_uint(cw_t *w, uint64_t v)
{
    if (!w->full) {
        put(w, cbor_encode_uint(v, w->buf + w->pos, w->len - w->pos));
    }
}

static void w_int(cw_t *w, int64_t v)
{
    if (w->full) {
        return;
    }
    if (v >= 0) {
        put(w, cbor_encode_uint((uint64_t)v, w->buf + w->pos, w->len - w->pos));
    } else {
        put(w, cbor_encode_negint((uint64_t)(-(v + 1)), w->buf + w->pos, w->len - w->pos));
    }
}

static void w_map(cw_t *w, size_t n)
{
    if (!w->full) {
        put(w, cbor_encode_map_start(n, w->buf + w->pos, w->len - w->pos));
    }
}

static void w_array(cw_t *w, size_t n)
{
    if (!w->full) {
        put(w, cbor_encode_array_start(n, w->buf + w->pos, w->len - w->pos));
    }
}

static void w_text(cw_t *w, const char *s)
{
    size_t n = strlen(s);

    if (w->full) {
        return;
    }
    put(w, cbor_encode_string_start(n, w->buf + w->pos, w->len - w->pos));
    if (w->full || w->len - w->pos < n) {
        w->full = true;
        return;
    }
    if (n > 0) {
        memcpy(w->buf + w->pos, s, n);
    }
    w->pos += n;
}

/* Integral values below 2^53 as integers (smallest form, as the Python agent's cbor2 does for
 * ints), anything else as a double. */
static void w_number(cw_t *w, double d)
{
    if (w->full) {
        return;
    }
    if (d == trunc(d) && fabs(d) < 9007199254740992.0) {
        if (d >= 0) {
            put(w, cbor_encode_uint((uint64_t)d, w->buf + w->pos, w->len - w->pos));
        } else {
            put(w, cbor_encode_negint((uint64_t)(-d) - 1, w->buf + w->pos, w->len - w->pos));
        }
        return;
    }
    put(w, cbor_encode_double(d, w->buf + w->pos, w->len - w->pos));
}

static void w_key(cw_t *w, dd_rkey_t key, dd_report_keys_t ks)
{
    w_text(w, dd_report_key(key, ks));
}

static void enc_ports(cw_t *w, dd_rkey_t which, const dd_report_ports_t *p, dd_report_keys_t ks)
{
    size_t i;

    w_key(w, which, ks);
    w_map(w, 1 + (p->has_total ? 1 : 0));
    w_key(w, DD_RK_PORTS, ks);
    w_array(w, p->count);
    for (i = 0; i < p->count && !w->full; i++) {
        w_map(w, 1 + (p->items[i].has_interface ? 1 : 0));
        w_key(w, DD_RK_PORT, ks);
        w_uint(w, p->items[i].port);
        if (p->items[i].has_interface) {
            w_key(w, DD_RK_INTERFACE, ks);
            w_text(w, p->items[i].interface);
        }
    }
    if (p->has_total) {
        w_key(w, DD_RK_TOTAL, ks);
        w_uint(w, p->total);
    }
}

static void enc_net(cw_t *w, const dd_report_netstats_t *n, dd_report_keys_t ks)
{
    w_key(w, DD_RK_NETWORK_STATS, ks);
    w_map(w, (size_t)n->has_bytes_in + (size_t)n->has_bytes_out + (size_t)n->has_packets_in +
                 (size_t)n->has_packets_out);
    if (n->has_bytes_in) {
        w_key(w, DD_RK_BYTES_IN, ks);
        w_uint(w, n->bytes_in);
    }
    if (n->has_bytes_out) {
        w_key(w, DD_RK_BYTES_OUT, ks);
        w_uint(w, n->bytes_out);
    }
    if (n->has_packets_in) {
        w_key(w, DD_RK_PACKETS_IN, ks);
        w_uint(w, n->packets_in);
    }
    if (n->has_packets_out) {
        w_key(w, DD_RK_PACKETS_OUT, ks);
        w_uint(w, n->packets_out);
    }
}

static dd_report_status_t enc_conns(cw_t *w, const dd_report_conns_t *cs, dd_report_keys_t ks)
{
    size_t i;

    w_key(w, DD_RK_TCP_CONNECTIONS, ks);
    w_map(w, 1);
    w_key(w, DD_RK_ESTABLISHED, ks);
    w_map(w, 1 + (cs->has_total ? 1 : 0));
    w_key(w, DD_RK_CONNECTIONS, ks);
    w_array(w, cs->count);
    for (i = 0; i < cs->count && !w->full; i++) {
        const dd_report_conn_t *c = &cs->items[i];
        char addr[DD_IP_ENDPOINT_TEXT_MAX];

        if (dd_ip_format_endpoint(&c->remote_ip, c->remote_port, addr, sizeof(addr)) != DD_IP_OK) {
            return DD_REPORT_BAD_PARAMETER;
        }
        w_map(w, 1 + (c->has_local_port ? 1 : 0) + (c->has_local_interface ? 1 : 0));
        w_key(w, DD_RK_REMOTE_ADDR, ks);
        w_text(w, addr);
        if (c->has_local_port) {
            w_key(w, DD_RK_LOCAL_PORT, ks);
            w_uint(w, c->local_port);
        }
        if (c->has_local_interface) {
            w_key(w, DD_RK_LOCAL_INTERFACE, ks);
            w_text(w, c->local_interface);
        }
    }
    if (cs->has_total) {
        w_key(w, DD_RK_TOTAL, ks);
        w_uint(w, cs->total);
    }
    return DD_REPORT_OK;
}

static dd_report_status_t enc_custom(cw_t *w, const dd_report_t *r, dd_report_keys_t ks)
{
    size_t i;
    size_t j;

    w_key(w, DD_RK_CUSTOM_METRICS, ks);
    w_map(w, r->custom_count);
    for (i = 0; i < r->custom_count && !w->full; i++) {
        const dd_report_custom_t *m = &r->custom[i];
        char text[DD_IP_TEXT_MAX];

        w_text(w, m->name);
        w_array(w, 1);
        w_map(w, 1);
        w_text(w, dd_report_custom_keys[m->kind]);
        if (m->kind == DD_CUSTOM_NUMBER) {
            w_number(w, m->number);
            continue;
        }
        w_array(w, m->count);
        for (j = 0; j < m->count && !w->full; j++) {
            switch (m->kind) {
            case DD_CUSTOM_NUMBER_LIST: w_number(w, m->numbers[j]); break;
            case DD_CUSTOM_STRING_LIST: w_text(w, m->strings[j]); break;
            case DD_CUSTOM_IP_LIST:
                if (dd_ip_format(&m->ips[j], text, sizeof(text)) != DD_IP_OK) {
                    return DD_REPORT_BAD_PARAMETER;
                }
                w_text(w, text);
                break;
            case DD_CUSTOM_NUMBER: break;
            }
        }
    }
    return DD_REPORT_OK;
}

dd_report_status_t dd_report_cbor_encode(const dd_report_t *r, dd_report_keys_t ks, uint8_t *buf,
                                         size_t len, size_t *out_len)
{
    cw_t w = {buf, len, 0, false};
    bool metrics = r->has_metrics || r->tcp_ports.present || r->udp_ports.present ||
                   r->net.present || r->tcp_conns.present;
    bool custom = r->has_custom_metrics || r->custom_count > 0;
    dd_report_status_t st;

    w_map(&w, 1 + (metrics ? 1 : 0) + (custom ? 1 : 0));
    w_key(&w, DD_RK_HEADER, ks);
    w_map(&w, 2);
    w_key(&w, DD_RK_REPORT_ID, ks);
    w_uint(&w, r->report_id);
    w_key(&w, DD_RK_VERSION, ks);
    w_text(&w, r->version[0] != '\0' ? r->version : "1.0");
    if (metrics) {
        w_key(&w, DD_RK_METRICS, ks);
        w_map(&w, (size_t)r->tcp_ports.present + (size_t)r->udp_ports.present +
                      (size_t)r->net.present + (size_t)r->tcp_conns.present);
        if (r->tcp_ports.present) {
            enc_ports(&w, DD_RK_LISTENING_TCP, &r->tcp_ports, ks);
        }
        if (r->udp_ports.present) {
            enc_ports(&w, DD_RK_LISTENING_UDP, &r->udp_ports, ks);
        }
        if (r->net.present) {
            enc_net(&w, &r->net, ks);
        }
        if (r->tcp_conns.present && (st = enc_conns(&w, &r->tcp_conns, ks)) != DD_REPORT_OK) {
            return st;
        }
    }
    if (custom && (st = enc_custom(&w, r, ks)) != DD_REPORT_OK) {
        return st;
    }
    if (w.full) {
        return DD_REPORT_BUFFER_TOO_SMALL;
    }
    *out_len = w.pos;
    return DD_REPORT_OK;
}

dd_report_status_t dd_report_cbor_reply(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                        size_t *out_len)
{
    cw_t w = {buf, len, 0, false};

    w_map(&w, 3 + (reply->has_report_id ? 1 : 0) + (reply->accepted ? 0 : 1));
    w_text(&w, "thingName");
    w_text(&w, reply->thing_name);
    if (reply->has_report_id) {
        w_text(&w, "reportId");
        w_uint(&w, reply->report_id);
    }
    w_text(&w, "status");
    w_text(&w, reply->accepted ? "ACCEPTED" : "REJECTED");
    if (!reply->accepted) {
        w_text(&w, "statusDetails");
        w_map(&w, 2);
        w_text(&w, "ErrorCode");
        w_text(&w, reply->error_code);
        w_text(&w, "ErrorMessage");
        w_text(&w, reply->error_message);
    }
    w_text(&w, "timestamp");
    w_int(&w, reply->timestamp_ms);
    if (w.full) {
        return DD_REPORT_BUFFER_TOO_SMALL;
    }
    *out_len = w.pos;
    return DD_REPORT_OK;
}
