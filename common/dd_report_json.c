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

typedef struct yb {
    yajl_gen g;
    bool failed;
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

/* The report through yajl's generator, into buf as print_into() leaves it. */
static dd_report_status_t encode_yajl(const dd_report_t *r, dd_report_keys_t ks, uint8_t *buf,
                                      size_t len, size_t *out_len)
{
    yb_t b = {yajl_gen_alloc(NULL), false};

    if (b.g == NULL) {
        return DD_REPORT_NO_MEMORY;
    }
    y_open(&b, NULL, false);
    y_open(&b, k(DD_RK_HEADER, ks), false);
    y_u64(&b, k(DD_RK_REPORT_ID, ks), r->report_id);
    y_str(&b, k(DD_RK_VERSION, ks));
    y_str(&b, r->version[0] != '\0' ? r->version : "1.0");
    y_close(&b, false);
    if (r->has_metrics || r->tcp_ports.present || r->udp_ports.present || r->net.present ||
        r->tcp_conns.present) {
        y_open(&b, k(DD_RK_METRICS, ks), false);
        if (r->tcp_ports.present) {
            y_ports(&b, DD_RK_LISTENING_TCP, &r->tcp_ports, ks);
        }
        if (r->udp_ports.present) {
            y_ports(&b, DD_RK_LISTENING_UDP, &r->udp_ports, ks);
        }
        if (r->net.present) {
            y_net(&b, &r->net, ks);
        }
        if (r->tcp_conns.present) {
            y_conns(&b, &r->tcp_conns, ks);
        }
        y_close(&b, false);
    }
    if (r->has_custom_metrics || r->custom_count > 0) {
        y_custom(&b, r, ks);
    }
    y_close(&b, false);
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
    yb_t b = {yajl_gen_alloc(NULL), false};
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
