/* JSON side of the report codec: cJSON parse tree -> dd_rops_t, and the JSON encoders. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "dd_json.h"
#include "dd_report_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

static dd_rval_t j_kind(const void *node)
{
    const cJSON *j = node;

    switch (j->type & 0xff) {
    case cJSON_NULL: return DD_RV_NULL;
    case cJSON_False:
    case cJSON_True: return DD_RV_BOOL;
    case cJSON_Number: return DD_RV_NUMBER;
    case cJSON_String: return j->valuestring != NULL ? DD_RV_STRING : DD_RV_OTHER;
    case cJSON_Array: return DD_RV_ARRAY;
    case cJSON_Object: return DD_RV_MAP;
    default: return DD_RV_OTHER;
    }
}

static void j_number(const void *node, dd_rnum_t *out)
{
    out->kind = DD_RN_FLOAT;
    out->u = 0;
    out->d = ((const cJSON *)node)->valuedouble;
}

static bool j_string(dd_rctx_t *c, const void *node, const char **s, size_t *len)
{
    (void)c;
    *s = ((const cJSON *)node)->valuestring;
    *len = strlen(*s);
    return true;
}

static size_t j_count(const void *node)
{
    const cJSON *e;
    size_t n = 0;

    for (e = ((const cJSON *)node)->child; e != NULL; e = e->next) {
        n++;
    }
    return n;
}

static void j_iter_init(const void *node, dd_riter_t *it)
{
    it->node = node;
    it->cur = ((const cJSON *)node)->child;
    it->index = 0;
}

static int j_iter_next(dd_rctx_t *c, dd_riter_t *it, dd_rmember_t *m)
{
    const cJSON *e = it->cur;

    (void)c;
    if (e == NULL) {
        return 0;
    }
    m->key = e->string;
    m->key_len = e->string != NULL ? strlen(e->string) : 0;
    m->value = e;
    it->cur = e->next;
    it->index++;
    return 1;
}

static const dd_rops_t JSON_OPS = {
    .kind = j_kind,
    .number = j_number,
    .string = j_string,
    .count = j_count,
    .iter_init = j_iter_init,
    .iter_next = j_iter_next,
    .doubles_only = true,
};

dd_report_status_t dd_report_json_decode_tree(dd_rctx_t *c, const void *root)
{
    c->ops = &JSON_OPS;
    return dd_report_walk(c, root);
}

dd_report_status_t dd_report_json_decode(dd_rctx_t *c, const uint8_t *payload, size_t len)
{
    const char *text = (const char *)payload;
    cJSON *root = NULL;
    dd_json_error_t jerr;
    dd_json_status_t js;
    dd_report_status_t st;

    c->ops = &JSON_OPS;
    /* aws-c-iot publishes strlen+1 bytes: whitespace, then at most one NUL, may follow. The
     * strict gate sees the document without that one NUL, so a second NUL, a NUL before the
     * whitespace or any other trailing byte is refused like every other malformed text. */
    if (len > 0 && text[len - 1] == '\0') {
        len--;
    }
    /* Duplicate members are left to dd_report_walk(): it refuses them too, naming the member
     * and keeping the report_id it has read for the /rejected reply. */
    js = dd_json_parse(text, len, DD_JSON_ALLOW_DUPLICATES, &root, &jerr);
    if (js == DD_JSON_NO_MEMORY) {
        return dd_report_fail(c, DD_REPORT_NO_MEMORY, "out of memory parsing the JSON report");
    }
    if (js != DD_JSON_OK) {
        return dd_report_fail(c, DD_REPORT_NOT_JSON, "not a JSON document: %s", jerr.message);
    }
    st = dd_report_walk(c, root);
    cJSON_Delete(root);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Encoding: the tree is built with cJSON; keys are static or live in the report, so they are
 * attached as constant strings (no copies). Integers go in as raw text to stay exact beyond 2^53.
 * ------------------------------------------------------------------------------------------- */

typedef struct jb {
    bool failed;
} jb_t;

static cJSON *attach(jb_t *b, cJSON *parent, const char *key, cJSON *item)
{
    if (item == NULL || parent == NULL) {
        cJSON_Delete(item);
        b->failed = true;
        return NULL;
    }
    if (key != NULL) {
        if (!cJSON_AddItemToObjectCS(parent, key, item)) {
            cJSON_Delete(item);
            b->failed = true;
            return NULL;
        }
    } else if (!cJSON_AddItemToArray(parent, item)) {
        cJSON_Delete(item);
        b->failed = true;
        return NULL;
    }
    return item;
}

static cJSON *add_u64(jb_t *b, cJSON *parent, const char *key, uint64_t v)
{
    char text[24];

    (void)snprintf(text, sizeof(text), "%" PRIu64, v);
    return attach(b, parent, key, cJSON_CreateRaw(text));
}

static cJSON *add_i64(jb_t *b, cJSON *parent, const char *key, int64_t v)
{
    char text[24];

    (void)snprintf(text, sizeof(text), "%" PRId64, v);
    return attach(b, parent, key, cJSON_CreateRaw(text));
}

/* The shortest of %.15g/%.16g/%.17g that reads back to exactly d (cJSON's own printer accepts
 * an approximate 15-digit form, which would not round-trip). */
static void format_double(double d, char text[40])
{
    int prec;
    char point = localeconv()->decimal_point[0];
    char *p;

    for (prec = 15; prec <= 17; prec++) {
        (void)snprintf(text, 40, "%.*g", prec, d);
        if (strtod(text, NULL) == d) {
            break;
        }
    }
    if (point != '.' && (p = strchr(text, point)) != NULL) {
        *p = '.';
    }
}

static cJSON *add_double(jb_t *b, cJSON *parent, const char *key, double d)
{
    char text[40];

    format_double(d, text);
    return attach(b, parent, key, cJSON_CreateRaw(text));
}

static cJSON *add_string(jb_t *b, cJSON *parent, const char *key, const char *s)
{
    return attach(b, parent, key, cJSON_CreateString(s));
}

static const char *k(dd_rkey_t key, dd_report_keys_t style)
{
    return dd_report_key(key, style);
}

static void build_ports(jb_t *b, cJSON *metrics, dd_rkey_t which, const dd_report_ports_t *p,
                        dd_report_keys_t ks)
{
    cJSON *blk = attach(b, metrics, k(which, ks), cJSON_CreateObject());
    cJSON *arr = attach(b, blk, k(DD_RK_PORTS, ks), cJSON_CreateArray());
    size_t i;

    for (i = 0; i < p->count && !b->failed; i++) {
        cJSON *e = attach(b, arr, NULL, cJSON_CreateObject());
        (void)add_u64(b, e, k(DD_RK_PORT, ks), p->items[i].port);
        if (p->items[i].has_interface) {
            (void)add_string(b, e, k(DD_RK_INTERFACE, ks), p->items[i].interface);
        }
    }
    if (p->has_total) {
        (void)add_u64(b, blk, k(DD_RK_TOTAL, ks), p->total);
    }
}

static void build_net(jb_t *b, cJSON *metrics, const dd_report_netstats_t *n, dd_report_keys_t ks)
{
    cJSON *blk = attach(b, metrics, k(DD_RK_NETWORK_STATS, ks), cJSON_CreateObject());

    if (n->has_bytes_in) {
        (void)add_u64(b, blk, k(DD_RK_BYTES_IN, ks), n->bytes_in);
    }
    if (n->has_bytes_out) {
        (void)add_u64(b, blk, k(DD_RK_BYTES_OUT, ks), n->bytes_out);
    }
    if (n->has_packets_in) {
        (void)add_u64(b, blk, k(DD_RK_PACKETS_IN, ks), n->packets_in);
    }
    if (n->has_packets_out) {
        (void)add_u64(b, blk, k(DD_RK_PACKETS_OUT, ks), n->packets_out);
    }
}

static void build_conns(jb_t *b, cJSON *metrics, const dd_report_conns_t *cs, dd_report_keys_t ks)
{
    cJSON *tc = attach(b, metrics, k(DD_RK_TCP_CONNECTIONS, ks), cJSON_CreateObject());
    cJSON *ec = attach(b, tc, k(DD_RK_ESTABLISHED, ks), cJSON_CreateObject());
    cJSON *arr = attach(b, ec, k(DD_RK_CONNECTIONS, ks), cJSON_CreateArray());
    size_t i;

    for (i = 0; i < cs->count && !b->failed; i++) {
        const dd_report_conn_t *c = &cs->items[i];
        char addr[DD_IP_ENDPOINT_TEXT_MAX];
        cJSON *e = attach(b, arr, NULL, cJSON_CreateObject());

        if (dd_ip_format_endpoint(&c->remote_ip, c->remote_port, addr, sizeof(addr)) != DD_IP_OK) {
            b->failed = true;
            return;
        }
        (void)add_string(b, e, k(DD_RK_REMOTE_ADDR, ks), addr);
        if (c->has_local_port) {
            (void)add_u64(b, e, k(DD_RK_LOCAL_PORT, ks), c->local_port);
        }
        if (c->has_local_interface) {
            (void)add_string(b, e, k(DD_RK_LOCAL_INTERFACE, ks), c->local_interface);
        }
    }
    if (cs->has_total) {
        (void)add_u64(b, ec, k(DD_RK_TOTAL, ks), cs->total);
    }
}

static void build_custom(jb_t *b, cJSON *root, const dd_report_t *r, dd_report_keys_t ks)
{
    cJSON *cm = attach(b, root, k(DD_RK_CUSTOM_METRICS, ks), cJSON_CreateObject());
    size_t i;
    size_t j;

    for (i = 0; i < r->custom_count && !b->failed; i++) {
        const dd_report_custom_t *m = &r->custom[i];
        cJSON *arr = attach(b, cm, m->name, cJSON_CreateArray());
        cJSON *obj = attach(b, arr, NULL, cJSON_CreateObject());
        const char *inner = dd_report_custom_keys[m->kind];
        cJSON *list;
        char text[DD_IP_TEXT_MAX];

        if (m->kind == DD_CUSTOM_NUMBER) {
            (void)add_double(b, obj, inner, m->number);
            continue;
        }
        list = attach(b, obj, inner, cJSON_CreateArray());
        for (j = 0; j < m->count && !b->failed; j++) {
            switch (m->kind) {
            case DD_CUSTOM_NUMBER_LIST: (void)add_double(b, list, NULL, m->numbers[j]); break;
            case DD_CUSTOM_STRING_LIST: (void)add_string(b, list, NULL, m->strings[j]); break;
            case DD_CUSTOM_IP_LIST:
                if (dd_ip_format(&m->ips[j], text, sizeof(text)) != DD_IP_OK) {
                    b->failed = true;
                    break;
                }
                (void)add_string(b, list, NULL, text);
                break;
            case DD_CUSTOM_NUMBER: break;
            }
        }
    }
}

/* Prints compactly into buf; the preallocated printer needs room for the NUL and some slack,
 * so an exact fit falls back to a heap print. */
static dd_report_status_t print_into(cJSON *root, uint8_t *buf, size_t len, size_t *out_len)
{
    char *heap;
    size_t n;

    if (len > 0 &&
        cJSON_PrintPreallocated(root, (char *)buf, len > INT_MAX ? INT_MAX : (int)len, false)) {
        *out_len = strlen((const char *)buf);
        return DD_REPORT_OK;
    }
    heap = cJSON_PrintUnformatted(root);
    if (heap == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    n = strlen(heap);
    if (n > len) {
        free(heap);
        return DD_REPORT_BUFFER_TOO_SMALL;
    }
    memcpy(buf, heap, n);
    if (n < len) {
        buf[n] = '\0';
    }
    free(heap);
    *out_len = n;
    return DD_REPORT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The same document through yajl's generator: no tree, no allocation per member. `ddlocal fleet
 * --emit` encodes millions of reports and building a cJSON tree per report was most of its CPU
 * (perf, issue 15). The output is the cJSON encoder's byte for byte: both print compactly, in
 * member order, numbers as the same raw text, and escape '"', '\\', \b \f \n \r \t alike and
 * leave '/' and bytes >= 0x80 alone; only other control characters differ (yajl writes \u001F,
 * cJSON \u001f), so a report holding one goes through cJSON (has_control()).
 * ------------------------------------------------------------------------------------------- */

static bool control_in(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20) {
            return true;
        }
    }
    return false;
}

/* Whether a string of @p r (not an address: those are formatted here) holds a control byte. */
static bool has_control(const dd_report_t *r)
{
    size_t i;
    size_t j;

    if (control_in(r->version)) {
        return true;
    }
    for (i = 0; i < r->tcp_ports.count; i++) {
        if (r->tcp_ports.items[i].has_interface && control_in(r->tcp_ports.items[i].interface)) {
            return true;
        }
    }
    for (i = 0; i < r->udp_ports.count; i++) {
        if (r->udp_ports.items[i].has_interface && control_in(r->udp_ports.items[i].interface)) {
            return true;
        }
    }
    for (i = 0; i < r->tcp_conns.count; i++) {
        if (r->tcp_conns.items[i].has_local_interface &&
            control_in(r->tcp_conns.items[i].local_interface)) {
            return true;
        }
    }
    for (i = 0; i < r->custom_count; i++) {
        if (control_in(r->custom[i].name)) {
            return true;
        }
        for (j = 0; r->custom[i].kind == DD_CUSTOM_STRING_LIST && j < r->custom[i].count; j++) {
            if (control_in(r->custom[i].strings[j])) {
                return true;
            }
        }
    }
    return false;
}

/* Where one integer's digits sit in an encoded report (dd_report_cache_t). */
typedef struct y_slot {
    size_t off;
    size_t len;
} y_slot_t;

typedef struct yb {
    yajl_gen g;
    bool failed;
    /* When recording (dd_report_json_encode_cached()): each y_u64()'s digits, in order. */
    y_slot_t *slots;
    size_t nslots;
    size_t slots_cap;
} yb_t;

static void y_check(yb_t *b, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok) {
        b->failed = true;
    }
}

static void y_str(yb_t *b, const char *s)
{
    y_check(b, yajl_gen_string(b->g, (const unsigned char *)s, strlen(s)));
}

/* Integers as raw number text, like add_u64(); the digits without printf. */
static void y_u64(yb_t *b, const char *key, uint64_t v)
{
    char text[24];
    size_t n = sizeof(text);

    do {
        text[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (key != NULL) {
        y_str(b, key);
    }
    y_check(b, yajl_gen_number(b->g, text + n, sizeof(text) - n));
    if (b->slots_cap > 0 && !b->failed) {
        const unsigned char *buf = NULL;
        size_t len = 0;

        /* yajl writes the separator before the number, so its digits end the buffer. */
        if (b->nslots == b->slots_cap || yajl_gen_get_buf(b->g, &buf, &len) != yajl_gen_status_ok) {
            b->failed = true;
            return;
        }
        b->slots[b->nslots].off = len - (sizeof(text) - n);
        b->slots[b->nslots].len = sizeof(text) - n;
        b->nslots++;
    }
}

static void y_double(yb_t *b, double d)
{
    char text[40];

    format_double(d, text);
    y_check(b, yajl_gen_number(b->g, text, strlen(text)));
}

static void y_open(yb_t *b, const char *key, bool array)
{
    if (key != NULL) {
        y_str(b, key);
    }
    y_check(b, array ? yajl_gen_array_open(b->g) : yajl_gen_map_open(b->g));
}

static void y_close(yb_t *b, bool array)
{
    y_check(b, array ? yajl_gen_array_close(b->g) : yajl_gen_map_close(b->g));
}

static void y_ports(yb_t *b, dd_rkey_t which, const dd_report_ports_t *p, dd_report_keys_t ks)
{
    size_t i;

    y_open(b, k(which, ks), false);
    y_open(b, k(DD_RK_PORTS, ks), true);
    for (i = 0; i < p->count; i++) {
        y_open(b, NULL, false);
        y_u64(b, k(DD_RK_PORT, ks), p->items[i].port);
        if (p->items[i].has_interface) {
            y_str(b, k(DD_RK_INTERFACE, ks));
            y_str(b, p->items[i].interface);
        }
        y_close(b, false);
    }
    y_close(b, true);
    if (p->has_total) {
        y_u64(b, k(DD_RK_TOTAL, ks), p->total);
    }
    y_close(b, false);
}

static void y_net(yb_t *b, const dd_report_netstats_t *n, dd_report_keys_t ks)
{
    y_open(b, k(DD_RK_NETWORK_STATS, ks), false);
    if (n->has_bytes_in) {
        y_u64(b, k(DD_RK_BYTES_IN, ks), n->bytes_in);
    }
    if (n->has_bytes_out) {
        y_u64(b, k(DD_RK_BYTES_OUT, ks), n->bytes_out);
    }
    if (n->has_packets_in) {
        y_u64(b, k(DD_RK_PACKETS_IN, ks), n->packets_in);
    }
    if (n->has_packets_out) {
        y_u64(b, k(DD_RK_PACKETS_OUT, ks), n->packets_out);
    }
    y_close(b, false);
}

static void y_conns(yb_t *b, const dd_report_conns_t *cs, dd_report_keys_t ks)
{
    size_t i;

    y_open(b, k(DD_RK_TCP_CONNECTIONS, ks), false);
    y_open(b, k(DD_RK_ESTABLISHED, ks), false);
    y_open(b, k(DD_RK_CONNECTIONS, ks), true);
    for (i = 0; i < cs->count && !b->failed; i++) {
        const dd_report_conn_t *c = &cs->items[i];
        char addr[DD_IP_ENDPOINT_TEXT_MAX];

        if (dd_ip_format_endpoint(&c->remote_ip, c->remote_port, addr, sizeof(addr)) != DD_IP_OK) {
            b->failed = true;
            return;
        }
        y_open(b, NULL, false);
        y_str(b, k(DD_RK_REMOTE_ADDR, ks));
        y_str(b, addr);
        if (c->has_local_port) {
            y_u64(b, k(DD_RK_LOCAL_PORT, ks), c->local_port);
        }
        if (c->has_local_interface) {
            y_str(b, k(DD_RK_LOCAL_INTERFACE, ks));
            y_str(b, c->local_interface);
        }
        y_close(b, false);
    }
    y_close(b, true);
    if (cs->has_total) {
        y_u64(b, k(DD_RK_TOTAL, ks), cs->total);
    }
    y_close(b, false);
    y_close(b, false);
}

static void y_custom(yb_t *b, const dd_report_t *r, dd_report_keys_t ks)
{
    size_t i;
    size_t j;

    y_open(b, k(DD_RK_CUSTOM_METRICS, ks), false);
    for (i = 0; i < r->custom_count && !b->failed; i++) {
        const dd_report_custom_t *m = &r->custom[i];
        char text[DD_IP_TEXT_MAX];

        y_open(b, m->name, true);
        y_open(b, NULL, false);
        y_str(b, dd_report_custom_keys[m->kind]);
        if (m->kind == DD_CUSTOM_NUMBER) {
            y_double(b, m->number);
        } else {
            y_open(b, NULL, true);
            for (j = 0; j < m->count && !b->failed; j++) {
                switch (m->kind) {
                case DD_CUSTOM_NUMBER_LIST: y_double(b, m->numbers[j]); break;
                case DD_CUSTOM_STRING_LIST: y_str(b, m->strings[j]); break;
                case DD_CUSTOM_IP_LIST:
                    if (dd_ip_format(&m->ips[j], text, sizeof(text)) != DD_IP_OK) {
                        b->failed = true;
                        break;
                    }
                    y_str(b, text);
                    break;
                case DD_CUSTOM_NUMBER: break;
                }
            }
            y_close(b, true);
        }
        y_close(b, false);
        y_close(b, true);
    }
    y_close(b, false);
}

/* The document into buf as print_into() leaves it; frees the generator. */
static dd_report_status_t y_finish(yb_t *b, uint8_t *buf, size_t len, size_t *out_len)
{
    const unsigned char *text = NULL;
    size_t n = 0;
    dd_report_status_t st = DD_REPORT_OK;

    if (b->failed || yajl_gen_get_buf(b->g, &text, &n) != yajl_gen_status_ok) {
        st = DD_REPORT_NO_MEMORY;
    } else if (n > len) {
        st = DD_REPORT_BUFFER_TOO_SMALL;
    } else {
        memcpy(buf, text, n);
        if (n < len) {
            buf[n] = '\0';
        }
        *out_len = n;
    }
    yajl_gen_free(b->g);
    return st;
}

/* The report's document through yajl's generator, left in b->g (which the caller frees). */
static void encode_yajl_doc(yb_t *b, const dd_report_t *r, dd_report_keys_t ks)
{
    y_open(b, NULL, false);
    y_open(b, k(DD_RK_HEADER, ks), false);
    y_u64(b, k(DD_RK_REPORT_ID, ks), r->report_id);
    y_str(b, k(DD_RK_VERSION, ks));
    y_str(b, r->version[0] != '\0' ? r->version : "1.0");
    y_close(b, false);
    if (r->has_metrics || r->tcp_ports.present || r->udp_ports.present || r->net.present ||
        r->tcp_conns.present) {
        y_open(b, k(DD_RK_METRICS, ks), false);
        if (r->tcp_ports.present) {
            y_ports(b, DD_RK_LISTENING_TCP, &r->tcp_ports, ks);
        }
        if (r->udp_ports.present) {
            y_ports(b, DD_RK_LISTENING_UDP, &r->udp_ports, ks);
        }
        if (r->net.present) {
            y_net(b, &r->net, ks);
        }
        if (r->tcp_conns.present) {
            y_conns(b, &r->tcp_conns, ks);
        }
        y_close(b, false);
    }
    if (r->has_custom_metrics || r->custom_count > 0) {
        y_custom(b, r, ks);
    }
    y_close(b, false);
}

/* The report through yajl's generator, into buf as print_into() leaves it. */
static dd_report_status_t encode_yajl(const dd_report_t *r, dd_report_keys_t ks, uint8_t *buf,
                                      size_t len, size_t *out_len)
{
    yb_t b = {yajl_gen_alloc(NULL), false, NULL, 0, 0};

    if (b.g == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    encode_yajl_doc(&b, r, ks);
    return y_finish(&b, buf, len, out_len);
}

/* The report through cJSON: a report with a control character in a string. */
static dd_report_status_t encode_cjson(const dd_report_t *r, dd_report_keys_t ks, uint8_t *buf,
                                       size_t len, size_t *out_len)
{
    jb_t b = {false};
    cJSON *root = cJSON_CreateObject();
    cJSON *hdr;
    dd_report_status_t st;

    if (root == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    hdr = attach(&b, root, k(DD_RK_HEADER, ks), cJSON_CreateObject());
    (void)add_u64(&b, hdr, k(DD_RK_REPORT_ID, ks), r->report_id);
    (void)add_string(&b, hdr, k(DD_RK_VERSION, ks), r->version[0] != '\0' ? r->version : "1.0");
    if (r->has_metrics || r->tcp_ports.present || r->udp_ports.present || r->net.present ||
        r->tcp_conns.present) {
        cJSON *met = attach(&b, root, k(DD_RK_METRICS, ks), cJSON_CreateObject());
        if (r->tcp_ports.present) {
            build_ports(&b, met, DD_RK_LISTENING_TCP, &r->tcp_ports, ks);
        }
        if (r->udp_ports.present) {
            build_ports(&b, met, DD_RK_LISTENING_UDP, &r->udp_ports, ks);
        }
        if (r->net.present) {
            build_net(&b, met, &r->net, ks);
        }
        if (r->tcp_conns.present) {
            build_conns(&b, met, &r->tcp_conns, ks);
        }
    }
    if (r->has_custom_metrics || r->custom_count > 0) {
        build_custom(&b, root, r, ks);
    }
    st = b.failed ? DD_REPORT_NO_MEMORY : print_into(root, buf, len, out_len);
    cJSON_Delete(root);
    return st;
}

dd_report_status_t dd_report_json_encode(const dd_report_t *r, dd_report_keys_t ks, uint8_t *buf,
                                         size_t len, size_t *out_len)
{
    return has_control(r) ? encode_cjson(r, ks, buf, len, out_len)
                          : encode_yajl(r, ks, buf, len, out_len);
}

/* The reply through yajl's generator (every /accepted of fleet --emit is encoded to meter it). */
static dd_report_status_t reply_yajl(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                     size_t *out_len)
{
    yb_t b = {yajl_gen_alloc(NULL), false, NULL, 0, 0};
    char text[24];
    int n;

    if (b.g == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    y_open(&b, NULL, false);
    y_str(&b, "thingName");
    y_str(&b, reply->thing_name);
    if (reply->has_report_id) {
        y_u64(&b, "reportId", reply->report_id);
    }
    y_str(&b, "status");
    y_str(&b, reply->accepted ? "ACCEPTED" : "REJECTED");
    if (!reply->accepted) {
        y_open(&b, "statusDetails", false);
        y_str(&b, "ErrorCode");
        y_str(&b, reply->error_code);
        y_str(&b, "ErrorMessage");
        y_str(&b, reply->error_message);
        y_close(&b, false);
    }
    y_str(&b, "timestamp");
    n = snprintf(text, sizeof(text), "%" PRId64, reply->timestamp_ms);
    y_check(&b, yajl_gen_number(b.g, text, (size_t)n));
    y_close(&b, false);
    return y_finish(&b, buf, len, out_len);
}

static dd_report_status_t reply_cjson(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                      size_t *out_len);

/* A string the yajl path writes as cJSON would (NULL: cJSON's path refuses it as it did). */
static bool plain(const char *s)
{
    return s != NULL && !control_in(s);
}

dd_report_status_t dd_report_json_reply(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                        size_t *out_len)
{
    if (plain(reply->thing_name) &&
        (reply->accepted || (plain(reply->error_code) && plain(reply->error_message)))) {
        return reply_yajl(reply, buf, len, out_len);
    }
    return reply_cjson(reply, buf, len, out_len);
}

/* The reply through cJSON: a string with a control character (see has_control()). */
static dd_report_status_t reply_cjson(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                      size_t *out_len)
{
    jb_t b = {false};
    cJSON *root = cJSON_CreateObject();
    dd_report_status_t st;

    if (root == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    (void)add_string(&b, root, "thingName", reply->thing_name);
    if (reply->has_report_id) {
        (void)add_u64(&b, root, "reportId", reply->report_id);
    }
    (void)add_string(&b, root, "status", reply->accepted ? "ACCEPTED" : "REJECTED");
    if (!reply->accepted) {
        cJSON *details = attach(&b, root, "statusDetails", cJSON_CreateObject());
        (void)add_string(&b, details, "ErrorCode", reply->error_code);
        (void)add_string(&b, details, "ErrorMessage", reply->error_message);
    }
    (void)add_i64(&b, root, "timestamp", reply->timestamp_ms);
    st = b.failed ? DD_REPORT_NO_MEMORY : print_into(root, buf, len, out_len);
    cJSON_Delete(root);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Cached encoding (dd_report_encode_cached()): a run of reports that differ only in their
 * integers - `ddlocal fleet --emit` writes tens of millions of them - is encoded once through
 * yajl; the generator's output is kept with where each integer's digits sit, and the next report
 * of the same shape is those bytes with its own digits spliced in. The JSON around the digits is
 * always yajl's; only decimal digits are written here, as y_u64() writes them.
 * ------------------------------------------------------------------------------------------- */

struct dd_report_cache {
    bool valid;
    dd_report_keys_t keys;
    dd_report_t shape; /* the cached report: its items arrays are this cache's own copies */
    size_t tcp_cap;
    size_t udp_cap;
    size_t conn_cap;
    uint8_t *text; /* yajl's document for the shape */
    size_t text_len;
    size_t text_cap;
    y_slot_t *slots; /* the integers' digits in text, in the order encode_yajl_doc() writes them */
    size_t nslots;
    size_t ints_cap; /* of slots, vals, dlen and digits (20 bytes each) */
    uint64_t *vals;  /* scratch: a report's integers in that order */
    size_t *dlen;    /* scratch: how many digits each has */
    char *digits;    /* scratch: the digits */
};

dd_report_cache_t *dd_report_cache_new(void)
{
    return calloc(1, sizeof(dd_report_cache_t));
}

void dd_report_cache_free(dd_report_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }
    free(cache->shape.tcp_ports.items);
    free(cache->shape.udp_ports.items);
    free(cache->shape.tcp_conns.items);
    free(cache->text);
    free(cache->slots);
    free(cache->vals);
    free(cache->dlen);
    free(cache->digits);
    free(cache);
}

/* How many integers encode_yajl_doc() writes for @p r (no custom metrics). */
static size_t count_ints(const dd_report_t *r)
{
    size_t n = 1;
    size_t i;

    if (r->tcp_ports.present) {
        n += r->tcp_ports.count + (r->tcp_ports.has_total ? 1 : 0);
    }
    if (r->udp_ports.present) {
        n += r->udp_ports.count + (r->udp_ports.has_total ? 1 : 0);
    }
    if (r->net.present) {
        n += (size_t)r->net.has_bytes_in + (size_t)r->net.has_bytes_out +
             (size_t)r->net.has_packets_in + (size_t)r->net.has_packets_out;
    }
    if (r->tcp_conns.present) {
        for (i = 0; i < r->tcp_conns.count; i++) {
            n += r->tcp_conns.items[i].has_local_port ? 1 : 0;
        }
        n += r->tcp_conns.has_total ? 1 : 0;
    }
    return n;
}

static size_t list_ports(const dd_report_ports_t *p, uint64_t *v)
{
    size_t n = 0;
    size_t i;

    if (!p->present) {
        return 0;
    }
    for (i = 0; i < p->count; i++) {
        v[n++] = p->items[i].port;
    }
    if (p->has_total) {
        v[n++] = p->total;
    }
    return n;
}

/* @p r's integers in the order encode_yajl_doc() writes them (count_ints() of them). */
static void list_ints(const dd_report_t *r, uint64_t *v)
{
    size_t n = 0;
    size_t i;

    v[n++] = r->report_id;
    n += list_ports(&r->tcp_ports, v + n);
    n += list_ports(&r->udp_ports, v + n);
    if (r->net.present) {
        if (r->net.has_bytes_in) {
            v[n++] = r->net.bytes_in;
        }
        if (r->net.has_bytes_out) {
            v[n++] = r->net.bytes_out;
        }
        if (r->net.has_packets_in) {
            v[n++] = r->net.packets_in;
        }
        if (r->net.has_packets_out) {
            v[n++] = r->net.packets_out;
        }
    }
    if (r->tcp_conns.present) {
        for (i = 0; i < r->tcp_conns.count; i++) {
            if (r->tcp_conns.items[i].has_local_port) {
                v[n++] = r->tcp_conns.items[i].local_port;
            }
        }
        if (r->tcp_conns.has_total) {
            v[n++] = r->tcp_conns.total;
        }
    }
}

static bool same_ports(const dd_report_ports_t *a, const dd_report_ports_t *b)
{
    size_t i;

    if (a->present != b->present || a->has_total != b->has_total || a->count != b->count) {
        return false;
    }
    for (i = 0; i < a->count; i++) {
        const dd_report_port_t *x = &a->items[i];
        const dd_report_port_t *y = &b->items[i];
        if (x->has_interface != y->has_interface ||
            (x->has_interface && strcmp(x->interface, y->interface) != 0)) {
            return false;
        }
    }
    return true;
}

/* Whether @p a and @p b encode alike but for their integers (everything else encode_yajl_doc()
 * reads is compared). */
static bool same_shape(const dd_report_t *a, const dd_report_t *b)
{
    const dd_report_netstats_t *x = &a->net;
    const dd_report_netstats_t *y = &b->net;
    size_t i;

    if (strcmp(a->version, b->version) != 0 || a->has_metrics != b->has_metrics ||
        a->has_custom_metrics != b->has_custom_metrics || a->custom_count != b->custom_count ||
        !same_ports(&a->tcp_ports, &b->tcp_ports) || !same_ports(&a->udp_ports, &b->udp_ports) ||
        x->present != y->present || x->has_bytes_in != y->has_bytes_in ||
        x->has_bytes_out != y->has_bytes_out || x->has_packets_in != y->has_packets_in ||
        x->has_packets_out != y->has_packets_out || a->tcp_conns.present != b->tcp_conns.present ||
        a->tcp_conns.has_total != b->tcp_conns.has_total ||
        a->tcp_conns.count != b->tcp_conns.count) {
        return false;
    }
    for (i = 0; i < a->tcp_conns.count; i++) {
        const dd_report_conn_t *c = &a->tcp_conns.items[i];
        const dd_report_conn_t *d = &b->tcp_conns.items[i];
        if (c->remote_ip.family != d->remote_ip.family ||
            memcmp(c->remote_ip.bytes, d->remote_ip.bytes, sizeof(c->remote_ip.bytes)) != 0 ||
            c->remote_port != d->remote_port || c->has_local_port != d->has_local_port ||
            c->has_local_interface != d->has_local_interface ||
            (c->has_local_interface && strcmp(c->local_interface, d->local_interface) != 0)) {
            return false;
        }
    }
    return true;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    void *q;

    if (need <= *cap) {
        return true;
    }
    q = realloc(*p, need * size);
    if (q == NULL) {
        return false;
    }
    *p = q;
    *cap = need;
    return true;
}

/* Keeps a copy of @p r's shape (the items arrays; custom metrics are never cached). */
static bool keep_shape(dd_report_cache_t *c, const dd_report_t *r)
{
    dd_report_port_t *tcp = c->shape.tcp_ports.items;
    dd_report_port_t *udp = c->shape.udp_ports.items;
    dd_report_conn_t *conns = c->shape.tcp_conns.items;

    if (!grow((void **)&tcp, &c->tcp_cap, r->tcp_ports.count, sizeof(*tcp))) {
        return false;
    }
    c->shape.tcp_ports.items = tcp;
    if (!grow((void **)&udp, &c->udp_cap, r->udp_ports.count, sizeof(*udp))) {
        return false;
    }
    c->shape.udp_ports.items = udp;
    if (!grow((void **)&conns, &c->conn_cap, r->tcp_conns.count, sizeof(*conns))) {
        return false;
    }
    c->shape.tcp_conns.items = conns;
    c->shape = *r;
    c->shape.tcp_ports.items = tcp;
    c->shape.udp_ports.items = udp;
    c->shape.tcp_conns.items = conns;
    c->shape.custom = NULL;
    if (r->tcp_ports.count > 0) {
        memcpy(tcp, r->tcp_ports.items, r->tcp_ports.count * sizeof(*tcp));
    }
    if (r->udp_ports.count > 0) {
        memcpy(udp, r->udp_ports.items, r->udp_ports.count * sizeof(*udp));
    }
    if (r->tcp_conns.count > 0) {
        memcpy(conns, r->tcp_conns.items, r->tcp_conns.count * sizeof(*conns));
    }
    return true;
}

/* Room for @p n integers in the slot and scratch arrays. */
static bool ints_room(dd_report_cache_t *c, size_t n)
{
    size_t cap = c->ints_cap;
    size_t k;

    if (n <= cap) {
        return true;
    }
    k = cap;
    if (!grow((void **)&c->slots, &k, n, sizeof(*c->slots))) {
        return false;
    }
    k = cap;
    if (!grow((void **)&c->vals, &k, n, sizeof(*c->vals))) {
        return false;
    }
    k = cap;
    if (!grow((void **)&c->dlen, &k, n, sizeof(*c->dlen))) {
        return false;
    }
    k = cap;
    if (!grow((void **)&c->digits, &k, n, 20)) {
        return false;
    }
    c->ints_cap = n;
    return true;
}

size_t dd_report_u64_digits(uint64_t v, char *out)
{
    static const char PAIRS[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    char tmp[20];
    size_t n = sizeof(tmp);

    if (out == NULL) {
        return 0;
    }
    while (v >= 100) {
        size_t r = (size_t)(v % 100) * 2;
        v /= 100;
        n -= 2;
        tmp[n] = PAIRS[r];
        tmp[n + 1] = PAIRS[r + 1];
    }
    if (v >= 10) {
        n -= 2;
        tmp[n] = PAIRS[v * 2];
        tmp[n + 1] = PAIRS[v * 2 + 1];
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(out, tmp + n, sizeof(tmp) - n);
    return sizeof(tmp) - n;
}

/* Encodes @p r through yajl, recording where its integers' digits are; caches the result. */
static dd_report_status_t cache_build(dd_report_cache_t *c, const dd_report_t *r,
                                      dd_report_keys_t ks, size_t nints)
{
    yb_t b = {yajl_gen_alloc(NULL), false, NULL, 0, 0};
    const unsigned char *text = NULL;
    size_t n = 0;
    size_t i;

    c->valid = false;
    if (b.g == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    if (!ints_room(c, nints)) {
        yajl_gen_free(b.g);
        return DD_REPORT_NO_MEMORY;
    }
    b.slots = c->slots;
    b.slots_cap = nints;
    encode_yajl_doc(&b, r, ks);
    if (b.failed || b.nslots != nints || yajl_gen_get_buf(b.g, &text, &n) != yajl_gen_status_ok ||
        !grow((void **)&c->text, &c->text_cap, n, 1)) {
        yajl_gen_free(b.g);
        return DD_REPORT_NO_MEMORY;
    }
    memcpy(c->text, text, n);
    c->text_len = n;
    c->nslots = b.nslots;
    yajl_gen_free(b.g);
    /* Each slot must hold the digits list_ints() gives, in order: the two walks agree. */
    list_ints(r, c->vals);
    for (i = 0; i < c->nslots; i++) {
        size_t d = dd_report_u64_digits(c->vals[i], c->digits);
        if (c->slots[i].off + c->slots[i].len > n || d != c->slots[i].len ||
            memcmp(c->text + c->slots[i].off, c->digits, d) != 0 ||
            (i > 0 && c->slots[i].off < c->slots[i - 1].off + c->slots[i - 1].len)) {
            return DD_REPORT_OK; /* not cached: the caller encodes as usual */
        }
    }
    c->keys = ks;
    c->valid = keep_shape(c, r);
    return DD_REPORT_OK;
}

/* The cached text with @p r's integers spliced in, into buf as print_into() leaves it. */
static dd_report_status_t cache_render(dd_report_cache_t *c, const dd_report_t *r, uint8_t *buf,
                                       size_t len, size_t *out_len)
{
    size_t *dlen = c->dlen;
    size_t total = c->text_len;
    size_t prev = 0;
    size_t i;
    uint8_t *p = buf;

    list_ints(r, c->vals);
    for (i = 0; i < c->nslots; i++) {
        dlen[i] = dd_report_u64_digits(c->vals[i], c->digits + 20 * i);
        total = total - c->slots[i].len + dlen[i];
    }
    if (total > len) {
        return DD_REPORT_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < c->nslots; i++) {
        memcpy(p, c->text + prev, c->slots[i].off - prev);
        p += c->slots[i].off - prev;
        memcpy(p, c->digits + 20 * i, dlen[i]);
        p += dlen[i];
        prev = c->slots[i].off + c->slots[i].len;
    }
    memcpy(p, c->text + prev, c->text_len - prev);
    p += c->text_len - prev;
    if (total < len) {
        *p = '\0';
    }
    *out_len = total;
    return DD_REPORT_OK;
}

dd_report_status_t dd_report_json_encode_cached(dd_report_cache_t *c, const dd_report_t *r,
                                                dd_report_keys_t ks, uint8_t *buf, size_t len,
                                                size_t *out_len)
{
    size_t nints;
    dd_report_status_t st;

    /* Custom metrics hold doubles and strings of any kind: not worth a shape of their own. */
    if (r->custom_count > 0) {
        return dd_report_json_encode(r, ks, buf, len, out_len);
    }
    nints = count_ints(r);
    if (!(c->valid && c->keys == ks && c->nslots == nints && same_shape(&c->shape, r))) {
        /* A cached shape has no control character (same_shape() compares every string). */
        if (has_control(r)) {
            return dd_report_json_encode(r, ks, buf, len, out_len);
        }
        st = cache_build(c, r, ks, nints);
        if (st != DD_REPORT_OK || !c->valid) {
            c->valid = false;
            return dd_report_json_encode(r, ks, buf, len, out_len);
        }
    }
    return cache_render(c, r, buf, len, out_len);
}
