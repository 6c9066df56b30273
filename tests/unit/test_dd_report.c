#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cbor.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_report.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* Payloads live in exact-size heap blocks (no NUL after them) so ASan catches any over-read. */
typedef struct blob {
    uint8_t *data;
    size_t len;
} blob_t;

static blob_t blob_of(const void *bytes, size_t len)
{
    blob_t b;

    b.data = malloc(len > 0 ? len : 1);
    assert_non_null(b.data);
    if (len > 0) {
        memcpy(b.data, bytes, len);
    }
    b.len = len;
    return b;
}

static blob_t read_fixture(const char *name)
{
    char path[512];
    FILE *f;
    long n;
    blob_t b;

    (void)snprintf(path, sizeof(path), "%s/fixtures/reports/%s", DD_SOURCE_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    b.data = malloc((size_t)n);
    assert_non_null(b.data);
    assert_int_equal(fread(b.data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b.len = (size_t)n;
    return b;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Hex digits to bytes; spaces, newlines and "|comments|" are skipped. */
static blob_t from_hex(const char *hex)
{
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *tmp = malloc(cap);
    size_t n = 0;
    int hi = -1;
    bool comment = false;
    blob_t b;

    assert_non_null(tmp);
    for (; *hex != '\0'; hex++) {
        int v;
        if (*hex == '|') {
            comment = !comment;
            continue;
        }
        if (comment || (v = hexval(*hex)) < 0) {
            continue;
        }
        if (hi < 0) {
            hi = v;
        } else {
            tmp[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    b = blob_of(tmp, n);
    free(tmp);
    return b;
}

static blob_t read_hex_fixture(const char *name)
{
    blob_t text = read_fixture(name);
    char *s = malloc(text.len + 1);
    blob_t b;

    assert_non_null(s);
    memcpy(s, text.data, text.len);
    s[text.len] = '\0';
    b = from_hex(s);
    free(s);
    free(text.data);
    return b;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

static dd_report_status_t decode_blob(dd_report_format_t fmt, blob_t b, dd_report_t *r,
                                      dd_report_error_t *err)
{
    dd_report_status_t st = dd_report_decode(fmt, b.data, b.len, r, err);

    free(b.data);
    return st;
}

static dd_report_status_t decode_json(const char *json, dd_report_t *r, dd_report_error_t *err)
{
    return decode_blob(DD_REPORT_FORMAT_JSON, blob_of(json, strlen(json)), r, err);
}

static void assert_conn(const dd_report_conn_t *c, const char *addr, uint16_t port, int local_port,
                        const char *iface)
{
    char buf[DD_IP_TEXT_MAX];

    assert_int_equal(dd_ip_format(&c->remote_ip, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, addr);
    assert_int_equal(c->remote_port, port);
    if (local_port < 0) {
        assert_false(c->has_local_port);
    } else {
        assert_true(c->has_local_port);
        assert_int_equal(c->local_port, local_port);
    }
    if (iface == NULL) {
        assert_false(c->has_local_interface);
    } else {
        assert_true(c->has_local_interface);
        assert_string_equal(c->local_interface, iface);
    }
}

static void assert_port(const dd_report_port_t *p, uint16_t port, const char *iface)
{
    assert_int_equal(p->port, port);
    if (iface == NULL) {
        assert_false(p->has_interface);
    } else {
        assert_true(p->has_interface);
        assert_string_equal(p->interface, iface);
    }
}

static const dd_report_custom_t *find_custom(const dd_report_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->custom_count; i++) {
        if (strcmp(r->custom[i].name, name) == 0) {
            return &r->custom[i];
        }
    }
    fail_msg("custom metric %s not found", name);
    return NULL;
}

static void assert_ip_text(const dd_ip_t *ip, const char *text)
{
    char buf[DD_IP_TEXT_MAX];

    assert_int_equal(dd_ip_format(ip, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, text);
}

/* ---------------------------------------------------------------------------------------------
 * Wire samples
 * ------------------------------------------------------------------------------------------- */

static void test_dd_report_python_agent_json(void **state)
{
    dd_report_t r;
    dd_report_error_t err;
    const dd_report_custom_t *cpu;

    (void)state;
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture("python-agent-long.json"), &r,
                                 &err),
                     DD_REPORT_OK);
    assert_int_equal(err.status, DD_REPORT_OK);
    assert_int_equal(r.report_id, 1795836802ULL);
    assert_string_equal(r.version, "1.0");
    assert_true(r.has_metrics);
    assert_true(r.net.present);
    assert_true(r.net.has_bytes_in && r.net.has_bytes_out && r.net.has_packets_in &&
                r.net.has_packets_out);
    assert_int_equal(r.net.bytes_in, 7226);
    assert_int_equal(r.net.bytes_out, 7226);
    assert_int_equal(r.net.packets_in, 28);
    assert_int_equal(r.net.packets_out, 28);
    assert_true(r.tcp_conns.present);
    assert_true(r.tcp_conns.has_total);
    assert_int_equal(r.tcp_conns.total, 10); /* total exceeds the (sampled) list */
    assert_int_equal(r.tcp_conns.count, 3);
    assert_conn(&r.tcp_conns.items[0], "127.0.0.1", 51316, 11883, "lo");
    assert_conn(&r.tcp_conns.items[2], "127.0.0.1", 443, 41798, "lo");
    assert_true(r.tcp_ports.present);
    assert_int_equal(r.tcp_ports.total, 4);
    assert_int_equal(r.tcp_ports.count, 4);
    assert_port(&r.tcp_ports.items[0], 8883, "lo");
    assert_port(&r.tcp_ports.items[1], 2024, "0.0.0.0");
    assert_port(&r.tcp_ports.items[3], 11883, "lo");
    assert_false(r.udp_ports.present);
    assert_true(r.has_custom_metrics);
    assert_int_equal(r.custom_count, 1);
    cpu = find_custom(&r, "cpu_usage");
    assert_int_equal(cpu->kind, DD_CUSTOM_NUMBER);
    assert_true(cpu->number == 1.1);
    assert_int_equal(r.custom_dropped, 0);
    dd_report_free(&r);
    assert_true(all_zero(&r, sizeof(r)));
}

static void test_dd_report_python_agent_null_interface(void **state)
{
    dd_report_t r;

    (void)state;
    assert_int_equal(decode_json("{\"header\":{\"report_id\":1795836802,\"version\":\"1.0\"},"
                                 "\"metrics\":{\"tcp_connections\":{\"established_connections\":"
                                 "{\"connections\":[{\"remote_addr\":\"[::1]:8883\","
                                 "\"local_interface\":null,\"local_port\":51316}],\"total\":1}}}}",
                                 &r, NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.tcp_conns.count, 1);
    assert_conn(&r.tcp_conns.items[0], "::1", 8883, 51316, NULL);
    dd_report_free(&r);
}

static void test_dd_report_python_agent_cbor(void **state)
{
    dd_report_t r;
    dd_report_error_t err;
    blob_t b = read_hex_fixture("python-agent.cbor.hex");

    (void)state;
    assert_int_equal(b.len, 918);
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, b, &r, &err), DD_REPORT_OK);
    assert_int_equal(r.report_id, 1795836815ULL);
    assert_string_equal(r.version, "1.0");
    assert_int_equal(r.net.bytes_in, 256);
    assert_int_equal(r.net.bytes_out, 256);
    assert_int_equal(r.net.packets_in, 4);
    assert_int_equal(r.net.packets_out, 4);
    assert_int_equal(r.tcp_conns.count, 10);
    assert_int_equal(r.tcp_conns.total, 10);
    assert_conn(&r.tcp_conns.items[0], "127.0.0.1", 51348, 11883, "lo");
    assert_conn(&r.tcp_conns.items[4], "127.0.0.1", 35592, 443, "lo");
    assert_conn(&r.tcp_conns.items[5], "127.0.0.1", 443, 35592, "lo");
    assert_conn(&r.tcp_conns.items[9], "127.0.0.1", 11883, 51332, "lo");
    assert_int_equal(r.tcp_ports.count, 4);
    assert_int_equal(r.tcp_ports.total, 4);
    assert_port(&r.tcp_ports.items[0], 443, "lo");
    assert_port(&r.tcp_ports.items[1], 2024, "0.0.0.0");
    assert_port(&r.tcp_ports.items[2], 8883, "lo");
    assert_port(&r.tcp_ports.items[3], 11883, "lo");
    assert_false(r.udp_ports.present);
    assert_false(r.has_custom_metrics);
    dd_report_free(&r);
}

static void test_dd_report_c_sdk_short_keys(void **state)
{
    dd_report_t r;
    const dd_report_custom_t *m;

    (void)state;
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture("c-sdk-short.json"), &r, NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.report_id, 1795836772ULL);
    assert_int_equal(r.tcp_ports.count, 3);
    assert_int_equal(r.tcp_ports.total, 3);
    assert_port(&r.tcp_ports.items[0], 2024, NULL);
    assert_port(&r.tcp_ports.items[2], 11884, NULL);
    assert_true(r.udp_ports.present);
    assert_true(r.udp_ports.has_total);
    assert_int_equal(r.udp_ports.count, 0);
    assert_int_equal(r.udp_ports.total, 0);
    assert_null(r.udp_ports.items);
    assert_int_equal(r.net.bytes_in, 27810443);
    assert_int_equal(r.net.bytes_out, 391021);
    assert_int_equal(r.net.packets_in, 2850);
    assert_int_equal(r.net.packets_out, 2699);
    assert_int_equal(r.tcp_conns.count, 6);
    assert_int_equal(r.tcp_conns.total, 6);
    assert_conn(&r.tcp_conns.items[0], "127.0.0.1", 11884, 59864, NULL);
    assert_conn(&r.tcp_conns.items[5], "127.0.0.1", 8883, 40324, NULL);
    assert_int_equal(r.custom_count, 5);
    m = find_custom(&r, "uptime");
    assert_int_equal(m->kind, DD_CUSTOM_NUMBER);
    assert_true(m->number == 1293.0);
    assert_int_equal(m->count, 0);
    m = find_custom(&r, "free_mem");
    assert_true(m->number == 24260296.0);
    m = find_custom(&r, "cpu_user_usage");
    assert_int_equal(m->kind, DD_CUSTOM_NUMBER_LIST);
    assert_int_equal(m->count, 3);
    assert_true(m->numbers[0] == 11755.0 && m->numbers[1] == 4697.0 && m->numbers[2] == 7058.0);
    m = find_custom(&r, "network_interface_names");
    assert_int_equal(m->kind, DD_CUSTOM_STRING_LIST);
    assert_int_equal(m->count, 1);
    assert_string_equal(m->strings[0], "eth0");
    m = find_custom(&r, "network_interface_addresses");
    assert_int_equal(m->kind, DD_CUSTOM_IP_LIST);
    assert_int_equal(m->count, 1);
    assert_ip_text(&m->ips[0], "192.0.2.1");
    dd_report_free(&r);
}

static void test_dd_report_aws_c_iot_trailing_nul(void **state)
{
    dd_report_t r;
    blob_t b = read_fixture("aws-c-iot-nul.json");
    blob_t two;
    const dd_report_custom_t *m;
    uint8_t *p;

    (void)state;
    assert_int_equal(b.data[b.len - 1], 0);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, b.data, b.len, &r, NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.report_id, 1795836772123ULL); /* 13-digit epoch ms */
    assert_true(r.net.present && r.net.has_bytes_in);
    assert_int_equal(r.net.bytes_in + r.net.bytes_out + r.net.packets_in + r.net.packets_out, 0);
    assert_int_equal(r.udp_ports.count, 1);
    assert_port(&r.udp_ports.items[0], 5353, "eth0");
    assert_conn(&r.tcp_conns.items[0], "192.0.2.10", 8883, 52100, "eth0");
    assert_int_equal(r.custom_count, 4);
    m = find_custom(&r, "temperature");
    assert_true(m->number == -12.5);
    m = find_custom(&r, "queue_depths");
    assert_int_equal(m->count, 3);
    assert_true(m->numbers[2] == 17.0);
    m = find_custom(&r, "allowed_users");
    assert_int_equal(m->count, 2);
    assert_string_equal(m->strings[1], "svc-agent");
    m = find_custom(&r, "dns_servers");
    assert_int_equal(m->count, 2);
    assert_ip_text(&m->ips[0], "192.0.2.53");
    assert_ip_text(&m->ips[1], "2001:db8::53");
    dd_report_free(&r);

    /* Without the NUL too. */
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, b.data, b.len - 1, &r, NULL),
                     DD_REPORT_OK);
    dd_report_free(&r);
    /* Two NULs are not "one trailing NUL". */
    p = malloc(b.len + 1);
    assert_non_null(p);
    memcpy(p, b.data, b.len);
    p[b.len] = 0;
    two = blob_of(p, b.len + 1);
    free(p);
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, two, &r, NULL), DD_REPORT_NOT_JSON);
    free(b.data);
}

static void test_dd_report_trailing_bytes(void **state)
{
    static const char base[] = "{\"hed\":{\"rid\":1,\"v\":\"1.0\"},\"met\":{}}";
    static const struct {
        const char *tail;
        size_t tail_len;
        dd_report_status_t want;
    } cases[] = {
        {"", 0, DD_REPORT_OK},           {"\n", 1, DD_REPORT_OK},
        {" \r\n\t ", 5, DD_REPORT_OK},   {"\0", 1, DD_REPORT_OK},
        {"\n\0", 2, DD_REPORT_OK},       {"\0\n", 2, DD_REPORT_NOT_JSON},
        {"\0\0", 2, DD_REPORT_NOT_JSON}, {"x", 1, DD_REPORT_NOT_JSON},
        {"{}", 2, DD_REPORT_NOT_JSON},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[128];
        dd_report_t r;
        dd_report_error_t err;

        memcpy(buf, base, sizeof(base) - 1);
        memcpy(buf + sizeof(base) - 1, cases[i].tail, cases[i].tail_len);
        assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON,
                                     blob_of(buf, sizeof(base) - 1 + cases[i].tail_len), &r, &err),
                         cases[i].want);
        if (cases[i].want == DD_REPORT_OK) {
            assert_int_equal(r.report_id, 1);
            dd_report_free(&r);
        } else {
            assert_non_null(strstr(err.detail, "after the JSON"));
        }
    }
}

static void test_dd_report_spec_minimal_examples(void **state)
{
    dd_report_t r;

    (void)state;
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture("spec-minimal-long.json"), &r,
                                 NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.report_id, 1530304554);
    assert_port(&r.udp_ports.items[0], 5353, "eth0");
    assert_conn(&r.tcp_conns.items[0], "192.168.0.1", 8000, 80, "eth0");
    assert_true(find_custom(&r, "my_custom_metric")->number == 0.0);
    dd_report_free(&r);
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture("spec-minimal-short.json"), &r,
                                 NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.report_id, 1530305228);
    assert_port(&r.tcp_ports.items[0], 22, "eth0");
    assert_int_equal(r.net.packets_out, 4);
    assert_conn(&r.tcp_conns.items[0], "192.168.0.1", 8000, 80, "eth0");
    assert_true(find_custom(&r, "m")->number == 1.0);
    dd_report_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------------------------- */

#define HDR "\"header\":{\"report_id\":42,\"version\":\"1.0\"}"

typedef struct refusal {
    const char *json;
    dd_report_status_t status;
    bool id_known;
    const char *detail; /* substring of err.detail */
} refusal_t;

static const refusal_t REFUSALS[] = {
    /* syntax and shape */
    {"not json", DD_REPORT_NOT_JSON, false, "not a JSON document"},
    {"", DD_REPORT_NOT_JSON, false, "not a JSON document"},
    {"{\"header\":", DD_REPORT_NOT_JSON, false, "not a JSON document"},
    /* RFC 8259 numbers and strings (issue 10: cJSON's strtod took all of these). */
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":0123}}}", DD_REPORT_NOT_JSON, false,
     "not a JSON document: parse error: after key and value, inside map, I expect ',' or '}'"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":01}}}", DD_REPORT_NOT_JSON, false,
     "I expect ',' or '}'"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":1.}}}", DD_REPORT_NOT_JSON, false,
     "a digit is required after the decimal point"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":1.e2}}}", DD_REPORT_NOT_JSON, false,
     "a digit is required after the decimal point"},
    {"{\"header\":{\"report_id\":042,\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_NOT_JSON,
     false, "I expect ',' or '}' (at byte"},
    {"{" HDR ",\"custom_metrics\":{\"m\":[{\"number\":-01}]}}", DD_REPORT_NOT_JSON, false,
     "I expect ',' or '}'"},
    {"{" HDR ",\"custom_metrics\":{\"m\":[{\"string_list\":[\"a\\u0000b\"]}]}}", DD_REPORT_NOT_JSON,
     false, "\\u0000 is not allowed in a string"},
    {"{" HDR ",\"custom_metrics\":{\"m\":[{\"string_list\":[\"\xff\"]}]}}", DD_REPORT_NOT_JSON,
     false, "invalid bytes in UTF8 string"},
    {"[1,2]", DD_REPORT_NOT_OBJECT, false, "object"},
    {"\"report\"", DD_REPORT_NOT_OBJECT, false, "object"},
    {"null", DD_REPORT_NOT_OBJECT, false, "object"},
    /* header */
    {"{}", DD_REPORT_MISSING_HEADER, false, "missing member header/hed"},
    {"{\"metrics\":{}}", DD_REPORT_MISSING_HEADER, false, "header/hed"},
    {"{\"header\":null,\"metrics\":{}}", DD_REPORT_MISSING_HEADER, false, "header/hed"},
    {"{\"header\":5,\"metrics\":{}}", DD_REPORT_WRONG_TYPE, false, "header: must be an object"},
    {"{\"header\":{\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_MISSING_HEADER, false,
     "header: missing member report_id/rid"},
    {"{\"hed\":{\"v\":\"1.0\"},\"met\":{}}", DD_REPORT_MISSING_HEADER, false,
     "hed: missing member report_id/rid"},
    {"{\"header\":{\"report_id\":42},\"metrics\":{}}", DD_REPORT_MISSING_HEADER, true,
     "header: missing member version/v"},
    {"{\"header\":{\"report_id\":\"42\",\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_WRONG_TYPE,
     false, "header.report_id: must be a positive integer"},
    {"{\"header\":{\"report_id\":0,\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_WRONG_TYPE,
     false, "positive"},
    {"{\"header\":{\"report_id\":-1,\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_WRONG_TYPE,
     false, "positive"},
    {"{\"header\":{\"report_id\":1.5,\"version\":\"1.0\"},\"metrics\":{}}", DD_REPORT_WRONG_TYPE,
     false, "positive"},
    {"{\"header\":{\"report_id\":9007199254740992,\"version\":\"1.0\"},\"metrics\":{}}",
     DD_REPORT_WRONG_TYPE, false, "2^53-1"},
    {"{\"header\":{\"report_id\":18446744073709551615,\"version\":\"1.0\"},\"metrics\":{}}",
     DD_REPORT_WRONG_TYPE, false, "2^53-1"},
    {"{\"header\":{\"report_id\":42,\"version\":1.0},\"metrics\":{}}", DD_REPORT_WRONG_TYPE, true,
     "header.version: must be a string"},
    {"{\"header\":{\"report_id\":42,\"version\":\"2.0\"},\"metrics\":{}}", DD_REPORT_BAD_VERSION,
     true, "\"2.0\" is not \"1.x\""},
    {"{\"header\":{\"report_id\":42,\"version\":\"1\"},\"metrics\":{}}", DD_REPORT_BAD_VERSION,
     true, "version"},
    {"{\"header\":{\"report_id\":42,\"version\":\"1.0a\"},\"metrics\":{}}", DD_REPORT_BAD_VERSION,
     true, "version"},
    {"{\"header\":{\"report_id\":42,\"version\":\"1.00000000000000\"},\"metrics\":{}}",
     DD_REPORT_BAD_VERSION, true, "version"},
    /* metric blocks */
    {"{" HDR "}", DD_REPORT_MISSING_METRICS, true, "metrics/met or custom_metrics/cmet"},
    {"{" HDR ",\"metrics\":null,\"custom_metrics\":null}", DD_REPORT_MISSING_METRICS, true, "met"},
    {"{" HDR ",\"metrics\":[]}", DD_REPORT_WRONG_TYPE, true, "metrics: must be an object"},
    {"{" HDR ",\"custom_metrics\":\"x\"}", DD_REPORT_WRONG_TYPE, true, "custom_metrics: must be"},
    /* wrong types and ranges */
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":\"5\"}}}", DD_REPORT_WRONG_TYPE, true,
     "metrics.network_stats.bytes_in: must be an integer"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_out\":-1}}}", DD_REPORT_WRONG_TYPE, true,
     "metrics.network_stats.bytes_out: must be >= 0"},
    {"{" HDR ",\"met\":{\"ns\":{\"pi\":2.5}}}", DD_REPORT_WRONG_TYPE, true,
     "met.ns.pi: must be an integer"},
    {"{" HDR ",\"met\":{\"ns\":{\"po\":true}}}", DD_REPORT_WRONG_TYPE, true, "met.ns.po"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":9007199254740992}}}",
     DD_REPORT_WRONG_TYPE, true, "2^53-1"},
    {"{" HDR ",\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":65536}]}}}",
     DD_REPORT_WRONG_TYPE, true, "metrics.listening_tcp_ports.ports[0].port: must be <= 65535"},
    {"{" HDR ",\"metrics\":{\"listening_udp_ports\":{\"ports\":[{\"port\":53},{\"port\":0}]}}}",
     DD_REPORT_WRONG_TYPE, true, "listening_udp_ports.ports[1].port: must be >= 1"},
    {"{" HDR ",\"metrics\":{\"listening_tcp_ports\":{\"ports\":{\"port\":22}}}}",
     DD_REPORT_WRONG_TYPE, true, "ports: must be an array"},
    {"{" HDR ",\"metrics\":{\"listening_tcp_ports\":{\"ports\":[22]}}}", DD_REPORT_WRONG_TYPE, true,
     "ports[0]: must be an object"},
    {"{" HDR ",\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":22,\"interface\":7}]}}}",
     DD_REPORT_WRONG_TYPE, true, "ports[0].interface: must be a string"},
    {"{" HDR ",\"metrics\":{\"listening_tcp_ports\":{\"total\":-3}}}", DD_REPORT_WRONG_TYPE, true,
     "listening_tcp_ports.total: must be >= 0"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"lp\":70000,\"rad\":\"1.2.3.4:5\"}]}}}}",
     DD_REPORT_WRONG_TYPE, true, "met.tc.ec.cs[0].lp: must be <= 65535"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"rad\":\"1.2.3.4:5\"},{\"lp\":1}]}}}}",
     DD_REPORT_MISSING_MEMBER, true, "met.tc.ec.cs[1]: missing member remote_addr/rad"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"rad\":null}]}}}}", DD_REPORT_MISSING_MEMBER,
     true, "remote_addr/rad"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"rad\":\"nope:80\"}]}}}}", DD_REPORT_WRONG_TYPE,
     true, "met.tc.ec.cs[0].rad: \"nope:80\" is not an ip:port endpoint"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"rad\":\"1.2.3.4:99999\"}]}}}}",
     DD_REPORT_WRONG_TYPE, true, "endpoint"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"cs\":[{\"rad\":16909060}]}}}}", DD_REPORT_WRONG_TYPE,
     true, "rad: must be a string"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":[]}}}", DD_REPORT_WRONG_TYPE, true,
     "met.tc.ec: must be an object"},
    {"{" HDR ",\"met\":{\"tc\":{\"ec\":{\"t\":\"3\"}}}}", DD_REPORT_WRONG_TYPE, true,
     "met.tc.ec.t"},
    /* custom metrics */
    {"{" HDR ",\"custom_metrics\":{\"cpu\":{\"number\":1}}}", DD_REPORT_BAD_CUSTOM_METRIC, true,
     "custom_metrics.cpu: value must be an array holding one object"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[]}}", DD_REPORT_BAD_CUSTOM_METRIC, true, "array"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":null}}", DD_REPORT_BAD_CUSTOM_METRIC, true, "array"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":5}}", DD_REPORT_BAD_CUSTOM_METRIC, true, "array"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"number\":1},{\"number\":2}]}}",
     DD_REPORT_BAD_CUSTOM_METRIC, true, "custom_metrics.cpu: value must be an array holding one"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[5]}}", DD_REPORT_BAD_CUSTOM_METRIC, true, "cpu[0]"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{}]}}", DD_REPORT_BAD_CUSTOM_METRIC, true,
     "cpu[0]: must be an object with exactly one"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"value\":1}]}}", DD_REPORT_BAD_CUSTOM_METRIC, true,
     "custom_metrics.cpu[0].value: unknown member"},
    {"{" HDR ",\"cmet\":{\"cpu\":[{\"num\":1}]}}", DD_REPORT_BAD_CUSTOM_METRIC, true,
     "cmet.cpu[0].num: unknown member"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"number\":1,\"number_list\":[1]}]}}",
     DD_REPORT_BAD_CUSTOM_METRIC, true, "exactly one"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"number\":\"1\"}]}}", DD_REPORT_WRONG_TYPE, true,
     "custom_metrics.cpu[0].number: must be a number"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"number_list\":5}]}}", DD_REPORT_WRONG_TYPE, true,
     "cpu[0].number_list: must be an array"},
    {"{" HDR ",\"custom_metrics\":{\"cpu\":[{\"number_list\":[1,\"a\"]}]}}", DD_REPORT_WRONG_TYPE,
     true, "cpu[0].number_list[1]: must be a number"},
    {"{" HDR ",\"custom_metrics\":{\"u\":[{\"string_list\":[\"a\",1]}]}}", DD_REPORT_WRONG_TYPE,
     true, "u[0].string_list[1]: must be a string"},
    {"{" HDR ",\"custom_metrics\":{\"ips\":[{\"ip_list\":[\"1.2.3.4\",5]}]}}", DD_REPORT_WRONG_TYPE,
     true, "ips[0].ip_list[1]: must be a string"},
    {"{" HDR ",\"custom_metrics\":{\"bad name\":[{\"number\":1}]}}", DD_REPORT_WRONG_TYPE, true,
     "metric name"},
    {"{" HDR ",\"custom_metrics\":{\"\":[{\"number\":1}]}}", DD_REPORT_WRONG_TYPE, true,
     "metric name"},
    /* duplicates: reportId stays known */
    {"{" HDR ",\"metrics\":{},\"met\":{}}", DD_REPORT_WRONG_TYPE, true,
     "met: duplicate member (metrics/met)"},
    {"{\"metrics\":{},\"hed\":{\"rid\":42,\"v\":\"1.0\"}," HDR "}", DD_REPORT_WRONG_TYPE, true,
     "duplicate member (header/hed)"},
    {"{\"header\":{\"report_id\":42,\"rid\":43,\"version\":\"1.0\"},\"metrics\":{}}",
     DD_REPORT_WRONG_TYPE, true, "header.rid: duplicate member"},
    {"{" HDR ",\"metrics\":{\"network_stats\":{\"bytes_in\":1,\"bytes_in\":2}}}",
     DD_REPORT_WRONG_TYPE, true, "network_stats.bytes_in: duplicate"},
    {"{" HDR ",\"custom_metrics\":{\"a\":[{\"number\":1}],\"a\":[{\"number\":2}]}}",
     DD_REPORT_WRONG_TYPE, true, "custom_metrics: duplicate member a"},
    /* the header is read first wherever it sits */
    {"{\"metrics\":{\"network_stats\":{\"bytes_in\":-5}}," HDR "}", DD_REPORT_WRONG_TYPE, true,
     "bytes_in"},
};

static void test_dd_report_refusals(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(REFUSALS) / sizeof(REFUSALS[0]); i++) {
        const refusal_t *t = &REFUSALS[i];
        dd_report_t r;
        dd_report_error_t err;
        dd_report_status_t st;

        memset(&r, 0x5a, sizeof(r)); /* decode must not care what was there */
        st = decode_json(t->json, &r, &err);
        if (st != t->status || err.status != t->status || err.report_id_known != t->id_known ||
            strstr(err.detail, t->detail) == NULL) {
            fail_msg("case %zu %s: status %d (%s), known %d, detail \"%s\"", i, t->json, st,
                     dd_report_strerror(st), err.report_id_known, err.detail);
        }
        if (t->id_known) {
            assert_int_equal(err.report_id, 42);
        }
        assert_true(all_zero(&r, sizeof(r)));
    }
}

static void test_dd_report_oversize(void **state)
{
    size_t n = DD_REPORT_MAX_PAYLOAD + 1;
    uint8_t *p = malloc(n);
    static const char head[] = "{\"hed\":{\"rid\":9,\"v\":\"1.0\"},\"met\":{}}";
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    assert_non_null(p);
    memset(p, ' ', n);
    memcpy(p, head, sizeof(head) - 1);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, p, n, &r, &err), DD_REPORT_TOO_LARGE);
    assert_int_equal(err.status, DD_REPORT_TOO_LARGE);
    assert_false(err.report_id_known);
    assert_true(all_zero(&r, sizeof(r)));
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_CBOR, p, n, &r, &err), DD_REPORT_TOO_LARGE);
    /* Exactly 128 KB (padded with whitespace) is fine. */
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, p, n - 1, &r, &err), DD_REPORT_OK);
    assert_int_equal(r.report_id, 9);
    dd_report_free(&r);
    free(p);
}

static void test_dd_report_bad_parameters(void **state)
{
    dd_report_t r;
    dd_report_error_t err;
    const uint8_t p[] = "{}";

    (void)state;
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, NULL, 2, &r, &err),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(err.status, DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, p, 2, NULL, &err),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_decode((dd_report_format_t)7, p, 2, &r, NULL),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, p, 2, &r, NULL),
                     DD_REPORT_MISSING_HEADER);
    dd_report_free(NULL);
    memset(&r, 0, sizeof(r));
    dd_report_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * Accepted variations and UNCONFIRMED decisions
 * ------------------------------------------------------------------------------------------- */

static void test_dd_report_lenient_parts(void **state)
{
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    /* Unknown members are ignored at every level but a custom metric's object. */
    assert_int_equal(decode_json("{\"header\":{\"report_id\":1,\"version\":\"1.3\","
                                 "\"agent\":\"x\"},\"metrics\":{\"listening_tcp_ports\":{"
                                 "\"ports\":[{\"port\":22,"
                                 "\"proto\":\"ssh\"}],\"extra\":[1]},\"cpu\":{\"load\":3}},"
                                 "\"extension\":{\"a\":[1,2,{\"b\":null}]}}",
                                 &r, &err),
                     DD_REPORT_OK);
    assert_string_equal(r.version, "1.3");
    assert_int_equal(r.tcp_ports.count, 1);
    assert_false(r.tcp_ports.has_total);
    assert_false(r.has_custom_metrics);
    dd_report_free(&r);

    /* Both blocks may be empty objects; either alone is enough. */
    assert_int_equal(decode_json("{\"hed\":{\"rid\":2,\"v\":\"1.0\"},\"cmet\":{}}", &r, NULL),
                     DD_REPORT_OK);
    assert_true(r.has_custom_metrics);
    assert_false(r.has_metrics);
    assert_int_equal(r.custom_count, 0);
    assert_null(r.custom);
    dd_report_free(&r);
    assert_int_equal(decode_json("{\"hed\":{\"rid\":2,\"v\":\"1.0\"},\"met\":{},\"cmet\":{}}", &r,
                                 NULL),
                     DD_REPORT_OK);
    assert_true(r.has_metrics && r.has_custom_metrics);
    assert_false(r.tcp_ports.present || r.udp_ports.present || r.net.present ||
                 r.tcp_conns.present);
    dd_report_free(&r);

    /* null = absent for optional members; a ports entry without a port is skipped; integral
     * floats count as integers; the biggest JSON-exact report_id is fine. */
    assert_int_equal(decode_json("{\"header\":{\"report_id\":9007199254740991,\"version\":\"1.0\"},"
                                 "\"metrics\":{\"network_stats\":{\"bytes_in\":null,\"bytes_out\":"
                                 "5.0,\"packets_in\":1e3},\"listening_udp_ports\":{\"ports\":[{"
                                 "\"interface\":\"eth0\"},{\"port\":53,\"interface\":null}],"
                                 "\"total\":2},\"tcp_connections\":{\"established_connections\":"
                                 "null}}}",
                                 &r, NULL),
                     DD_REPORT_OK);
    assert_int_equal(r.report_id, 9007199254740991ULL);
    assert_false(r.net.has_bytes_in);
    assert_int_equal(r.net.bytes_out, 5);
    assert_int_equal(r.net.packets_in, 1000);
    assert_int_equal(r.udp_ports.count, 1);
    assert_port(&r.udp_ports.items[0], 53, NULL);
    assert_int_equal(r.udp_ports.total, 2);
    assert_false(r.tcp_conns.present);
    dd_report_free(&r);

    /* Long interface names are cut at DD_REPORT_IFACE_MAX bytes, on a UTF-8 boundary. */
    assert_int_equal(decode_json("{\"hed\":{\"rid\":3,\"v\":\"1.0\"},\"met\":{\"tp\":{\"pts\":["
                                 "{\"pt\":1,\"if\":\"0123456789012345678901234567890"
                                 "\xc3\xa9"
                                 "xyz\"}]}}}",
                                 &r, NULL),
                     DD_REPORT_OK);
    assert_string_equal(r.tcp_ports.items[0].interface, "0123456789012345678901234567890");
    dd_report_free(&r);

    /* Custom numbers may be negative or fractional; lists may be empty; IPv6 and mapped entries. */
    assert_int_equal(decode_json("{\"hed\":{\"rid\":4,\"v\":\"1.0\"},\"cmet\":{"
                                 "\"a\":[{\"number\":-0.25}],\"b\":[{\"number_list\":[]}],"
                                 "\"c:d_e-f\":[{\"ip_list\":[\"::ffff:1.2.3.4\",\"2001:DB8::1\"]}],"
                                 "\"s\":[{\"string_list\":[\"\",\"x y\"]}]}}",
                                 &r, NULL),
                     DD_REPORT_OK);
    assert_true(find_custom(&r, "a")->number == -0.25);
    assert_int_equal(find_custom(&r, "b")->count, 0);
    assert_ip_text(&find_custom(&r, "c:d_e-f")->ips[1], "2001:db8::1");
    assert_string_equal(find_custom(&r, "s")->strings[1], "x y");
    dd_report_free(&r);
}

static void test_dd_report_mixed_keys(void **state)
{
    static const char mixed[] = "{\"header\":{\"rid\":5,\"version\":\"1.0\"},"
                                "\"met\":{\"network_stats\":{\"bi\":1,\"bytes_out\":2}},"
                                "\"custom_metrics\":{\"m\":[{\"number\":1}]}}";
    dd_report_options_t opts = {0};
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    /* Default: accepted key by key. */
    assert_int_equal(decode_json(mixed, &r, NULL), DD_REPORT_OK);
    assert_int_equal(r.report_id, 5);
    assert_int_equal(r.net.bytes_in, 1);
    assert_int_equal(r.net.bytes_out, 2);
    assert_int_equal(r.custom_count, 1);
    dd_report_free(&r);
    /* Strict switch. */
    opts.reject_mixed_keys = true;
    assert_int_equal(dd_report_decode_ex(DD_REPORT_FORMAT_JSON, (const uint8_t *)mixed,
                                         sizeof(mixed) - 1, &opts, &r, &err),
                     DD_REPORT_MIXED_KEYS);
    assert_true(err.report_id_known);
    assert_int_equal(err.report_id, 5);
    assert_true(all_zero(&r, sizeof(r)));
    /* Pure styles pass the strict switch. */
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture("c-sdk-short.json"), &r, NULL),
                     DD_REPORT_OK);
    dd_report_free(&r);
    {
        blob_t b = read_fixture("python-agent-long.json");
        assert_int_equal(dd_report_decode_ex(DD_REPORT_FORMAT_JSON, b.data, b.len, &opts, &r, &err),
                         DD_REPORT_OK);
        dd_report_free(&r);
        free(b.data);
    }
}

static void test_dd_report_invalid_ip_list(void **state)
{
    static const char json[] = "{\"hed\":{\"rid\":6,\"v\":\"1.0\"},"
                               "\"cmet\":{\"keep\":[{\"number\":1}],"
                               "\"dns\":[{\"ip_list\":[\"192.0.2.1\",\"not-an-ip\"]}],"
                               "\"also\":[{\"ip_list\":[\"300.1.1.1\"]}],"
                               "\"last\":[{\"number\":2}]}}";
    dd_report_options_t opts = {0};
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    /* Default: AWS's "sent but not retained": the report is accepted, the metric dropped. */
    assert_int_equal(decode_json(json, &r, &err), DD_REPORT_OK);
    assert_int_equal(r.custom_count, 2);
    assert_string_equal(r.custom[0].name, "keep");
    assert_string_equal(r.custom[1].name, "last");
    assert_int_equal(r.custom_dropped, 2);
    assert_string_equal(r.custom_dropped_name, "dns");
    dd_report_free(&r);
    /* A non-string entry is still a type error, dropped or not. */
    assert_int_equal(decode_json("{\"hed\":{\"rid\":6,\"v\":\"1.0\"},"
                                 "\"cmet\":{\"dns\":[{\"ip_list\":"
                                 "[\"bad\",7]}]}}",
                                 &r, &err),
                     DD_REPORT_WRONG_TYPE);
    /* Strict switch. */
    opts.reject_invalid_ip_list = true;
    assert_int_equal(dd_report_decode_ex(DD_REPORT_FORMAT_JSON, (const uint8_t *)json,
                                         sizeof(json) - 1, &opts, &r, &err),
                     DD_REPORT_WRONG_TYPE);
    assert_non_null(
        strstr(err.detail, "cmet.dns[0].ip_list[1]: \"not-an-ip\" is not an IPv4/IPv6"));
    assert_true(err.report_id_known);
    assert_true(all_zero(&r, sizeof(r)));
}

static void test_dd_report_many_custom_metrics(void **state)
{
    char *json = malloc(64 * 1024);
    size_t pos = 0;
    int i;
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    assert_non_null(json);
    pos += (size_t)sprintf(json + pos, "{\"hed\":{\"rid\":8,\"v\":\"1.0\"},\"cmet\":{");
    for (i = 0; i < 500; i++) {
        pos += (size_t)sprintf(json + pos, "%s\"m%d\":[{\"number\":%d}]", i ? "," : "", i, i);
    }
    strcpy(json + pos, "}}");
    assert_int_equal(decode_json(json, &r, NULL), DD_REPORT_OK);
    assert_int_equal(r.custom_count, 500);
    assert_true(r.custom[499].number == 499.0);
    dd_report_free(&r);
    /* A late duplicate among many names is still found. */
    strcpy(json + pos, ",\"m250\":[{\"number\":1}]}}");
    assert_int_equal(decode_json(json, &r, &err), DD_REPORT_WRONG_TYPE);
    assert_non_null(strstr(err.detail, "duplicate member m250"));
    free(json);
}

/* ---------------------------------------------------------------------------------------------
 * CBOR specifics
 * ------------------------------------------------------------------------------------------- */

static void test_dd_report_cbor_indefinite_and_widths(void **state)
{
    dd_report_t r;
    dd_report_error_t err;
    const dd_report_custom_t *m;

    (void)state;
    /* Indefinite maps, arrays and a chunked text string; a 64-bit report id; a half float. */
    assert_int_equal(
        decode_blob(
            DD_REPORT_FORMAT_CBOR,
            from_hex(
                "bf |{_| 63 686564 |hed| bf 63 726964 |rid| 1b ffffffffffffffff"
                "   61 76 |v| 7f 62 312e 61 30 ff |\"1.\" \"0\"| ff"
                " 63 6d6574 |met| bf 62 6e73 |ns| a4 62 6269 |bi| 00 62 626f |bo| 18 ff"
                "       62 7069 |pi| 19 ffff 62 706f |po| 1a ffffffff"
                "   62 7470 |tp| bf 63 707473 |pts| 9f a2 62 7074 |pt| 16 62 6966 |if|"
                "       7f 61 65 63 746830 ff"
                "       ff 61 74 |t| 1b 0000000100000000 ff"
                "   62 7463 |tc| a1 62 6563 |ec| a1 62 6373 |cs| 9f a1 63 726164 |rad|"
                "       6a 5b3a3a315d3a3434333d |[::1]:443=| ff ff"
                " 64 636d6574 |cmet| bf 63 637075 |cpu| 9f bf 66 6e756d626572 f9 3e00 |1.5| ff ff"
                "   62 6e6c 9f a1 6b 6e756d6265725f6c697374 9f 20 fb 3ff0000000000000 fa 40400000 "
                "ff ff"
                "ff ff"),
            &r, &err),
        DD_REPORT_WRONG_TYPE);
    /* ...the rad above carries a stray '=' on purpose: */
    assert_non_null(strstr(err.detail, "met.tc.ec.cs[0].rad"));
    assert_true(err.report_id_known);
    assert_true(err.report_id == UINT64_MAX);

    assert_int_equal(
        decode_blob(DD_REPORT_FORMAT_CBOR,
                    from_hex(
                        "bf 63 686564 bf 63 726964 1b ffffffffffffffff 61 76 7f 62 312e 61 30 ff ff"
                        " 63 6d6574 bf 62 6e73 a4 62 6269 00 62 626f 18 ff 62 7069 19 ffff 62 706f "
                        "1a ffffffff"
                        "   62 7470 bf 63 707473 9f a2 62 7074 16 62 6966 7f 61 65 63 746830 ff ff"
                        "       61 74 1b 0000000100000000 ff"
                        "   62 7463 a1 62 6563 a1 62 6373 9f a1 63 726164 69 5b3a3a315d3a343433 "
                        "|[::1]:443| ff ff"
                        " 64 636d6574 bf 63 637075 9f bf 66 6e756d626572 f9 3e00 ff ff"
                        "   62 6e6c 9f a1 6b 6e756d6265725f6c697374 9f 20 fb 3ff0000000000000 fa "
                        "40400000 ff ff"
                        "ff ff"),
                    &r, &err),
        DD_REPORT_OK);
    assert_true(r.report_id == UINT64_MAX);
    assert_string_equal(r.version, "1.0");
    assert_int_equal(r.net.bytes_in, 0);
    assert_int_equal(r.net.bytes_out, 255);
    assert_int_equal(r.net.packets_in, 65535);
    assert_int_equal(r.net.packets_out, 4294967295ULL);
    assert_int_equal(r.tcp_ports.count, 1);
    assert_port(&r.tcp_ports.items[0], 22, "eth0");
    assert_true(r.tcp_ports.total == 4294967296ULL);
    assert_conn(&r.tcp_conns.items[0], "::1", 443, -1, NULL);
    m = find_custom(&r, "cpu");
    assert_true(m->number == 1.5);
    m = find_custom(&r, "nl");
    assert_int_equal(m->count, 3);
    assert_true(m->numbers[0] == -1.0 && m->numbers[1] == 1.0 && m->numbers[2] == 3.0);
    dd_report_free(&r);
}

static void test_dd_report_cbor_refusals(void **state)
{
    static const struct {
        const char *hex;
        dd_report_status_t status;
        const char *detail;
    } cases[] = {
        {"", DD_REPORT_NOT_CBOR, "empty"},
        {"a2 63 686564", DD_REPORT_NOT_CBOR, "CBOR"},           /* truncated */
        {"a0 a0", DD_REPORT_NOT_CBOR, "CBOR"},                  /* two items */
        {"ff", DD_REPORT_NOT_CBOR, "CBOR"},                     /* stray break */
        {"9b 0000010000000000", DD_REPORT_NOT_CBOR, "CBOR"},    /* 2^40 elements */
        {"bb 0000000100000000 00", DD_REPORT_NOT_CBOR, "CBOR"}, /* 2^32 pairs */
        {"7a ffffffff 41", DD_REPORT_NOT_CBOR, "CBOR"},         /* huge string */
        {"1c", DD_REPORT_NOT_CBOR, "CBOR"},                     /* reserved */
        {"bf 61 61 ff", DD_REPORT_NOT_CBOR, "CBOR"},            /* odd indef map */
        {"82 01 02", DD_REPORT_NOT_OBJECT, "object"},
        {"c1 a0", DD_REPORT_NOT_OBJECT, "object"},                               /* tagged map */
        {"a1 63 686564 a1 63 726964 20", DD_REPORT_WRONG_TYPE, "hed.rid"},       /* negative id */
        {"a1 63 686564 a1 63 726964 c2 41 01", DD_REPORT_WRONG_TYPE, "hed.rid"}, /* bignum */
        {"a1 63 686564 a1 63 726964 fb 43f0000000000000", DD_REPORT_WRONG_TYPE, "hed.rid"},
        {"a1 63 686564 a1 63 726964 f9 7e00", DD_REPORT_WRONG_TYPE, "hed.rid"}, /* NaN */
        {"a1 63 686564 a2 63 726964 01 61 76 43 312e30", DD_REPORT_WRONG_TYPE,
         "hed.v: must be a string"}, /* byte string */
        {"a2 63 686564 a2 63 726964 01 61 76 63 312e30 63 6d6574 a1 62 6e73 a1 62 6269 f5",
         DD_REPORT_WRONG_TYPE, "met.ns.bi"}, /* true */
        {"a2 63 686564 a2 63 726964 01 61 76 63 312e30 64 636d6574 a1 01 81 a1 66 6e756d626572 01",
         DD_REPORT_WRONG_TYPE, "cmet: metric names must be text"},
        {"a2 63 686564 a2 63 726964 01 61 76 63 312e30 64 636d6574 a1 61 6d 81 a1 66 6e756d626572"
         " fb 7ff0000000000000",
         DD_REPORT_WRONG_TYPE, "cmet.m[0].number: must be a finite number"},
        {"a2 63 686564 a2 63 726964 01 61 76 63 312e30 63 6d6574 a1 62 7470 a1 63 707473 81 a1 62"
         " 7074 39 0015",
         DD_REPORT_WRONG_TYPE, "met.tp.pts[0].pt: must be >= 1"},
        {"a2 63 686564 a2 63 726964 01 61 76 63 312e30 63 6d6574 a1 62 7470 a1 63 707473 81 a2 62"
         " 7074 16 62 6966 65 6574680030",
         DD_REPORT_WRONG_TYPE, "NUL"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dd_report_t r;
        dd_report_error_t err;
        dd_report_status_t st =
            decode_blob(DD_REPORT_FORMAT_CBOR, from_hex(cases[i].hex), &r, &err);

        if (st != cases[i].status || strstr(err.detail, cases[i].detail) == NULL) {
            fail_msg("case %zu %s: status %d (%s), detail \"%s\"", i, cases[i].hex, st,
                     dd_report_strerror(st), err.detail);
        }
        assert_true(all_zero(&r, sizeof(r)));
    }
}

static void test_dd_report_cbor_non_text_keys_ignored(void **state)
{
    dd_report_t r;

    (void)state;
    /* An integer key and a byte-string key among the top-level members are unknown members. */
    assert_int_equal(
        decode_blob(
            DD_REPORT_FORMAT_CBOR,
            from_hex("a4 01 02 42 6869 a0 63 686564 a2 63 726964 01 61 76 63 312e30 63 6d6574 a0"),
            &r, NULL),
        DD_REPORT_OK);
    assert_true(r.has_metrics);
    dd_report_free(&r);
}

static void test_dd_report_cbor_nesting_limit(void **state)
{
    size_t depth = DD_REPORT_CBOR_MAX_DEPTH + 1;
    size_t n = 1 + 5 + 1 + depth + 1;
    uint8_t *p = malloc(n);
    size_t i;
    dd_report_t r;
    dd_report_error_t err;

    (void)state;
    assert_non_null(p);
    /* {"x": [[[[ ... 0 ]]]]} one level deeper than allowed, then the same at the limit. */
    p[0] = 0xa1;
    p[1] = 0x61;
    p[2] = 'x';
    for (i = 0; i < depth; i++) {
        p[3 + i] = 0x81;
    }
    p[3 + depth] = 0x00;
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, blob_of(p, 4 + depth), &r, &err),
                     DD_REPORT_NOT_CBOR);
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, blob_of(p, 4 + depth - 2), &r, &err),
                     DD_REPORT_NOT_CBOR); /* same, truncated */
    p[3 + depth - 2] = 0x00;              /* depth - 2 arrays + the map = the limit */
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, blob_of(p, 4 + depth - 2), &r, &err),
                     DD_REPORT_MISSING_HEADER);
    /* 128 KB of nested arrays must not blow the stack. */
    free(p);
    n = DD_REPORT_MAX_PAYLOAD;
    p = malloc(n);
    assert_non_null(p);
    memset(p, 0x81, n);
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, blob_of(p, n), &r, &err),
                     DD_REPORT_NOT_CBOR);
    memset(p, 0xc6, n); /* tags nest too */
    assert_int_equal(decode_blob(DD_REPORT_FORMAT_CBOR, blob_of(p, n), &r, &err),
                     DD_REPORT_NOT_CBOR);
    free(p);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding and round trips
 * ------------------------------------------------------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    assert_non_null(p);
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = malloc(strlen(s) + 1);

    assert_non_null(p);
    strcpy(p, s);
    return p;
}

/* A report using every field, built by hand the way the simulator will. */
static void build_rich(dd_report_t *r, bool json_safe)
{
    dd_report_custom_t *m;
    uint16_t port;

    memset(r, 0, sizeof(*r));
    r->report_id = json_safe ? 1795836772123ULL : UINT64_MAX;
    strcpy(r->version, "1.0");
    r->has_metrics = true;
    r->tcp_ports.present = true;
    r->tcp_ports.has_total = true;
    r->tcp_ports.total = 70;
    r->tcp_ports.count = 2;
    r->tcp_ports.items = xcalloc(2, sizeof(dd_report_port_t));
    r->tcp_ports.items[0].port = 22;
    r->tcp_ports.items[0].has_interface = true;
    strcpy(r->tcp_ports.items[0].interface, "eth0");
    r->tcp_ports.items[1].port = 65535;
    r->udp_ports.present = true; /* empty, no total */
    r->net.present = true;
    r->net.has_bytes_in = true;
    r->net.bytes_in = json_safe ? 29359307173ULL : UINT64_MAX;
    r->net.has_packets_out = true;
    r->net.packets_out = 0;
    r->tcp_conns.present = true;
    r->tcp_conns.has_total = true;
    r->tcp_conns.total = 3;
    r->tcp_conns.count = 3;
    r->tcp_conns.items = xcalloc(3, sizeof(dd_report_conn_t));
    assert_int_equal(dd_ip_parse_endpoint("192.0.2.1:8883", 14, &r->tcp_conns.items[0].remote_ip,
                                          &r->tcp_conns.items[0].remote_port),
                     DD_IP_OK);
    r->tcp_conns.items[0].has_local_port = true;
    r->tcp_conns.items[0].local_port = 0;
    r->tcp_conns.items[0].has_local_interface = true;
    strcpy(r->tcp_conns.items[0].local_interface, "wlan0 \"quoted\"");
    assert_int_equal(dd_ip_parse_endpoint("[2001:db8::7]:443", 17, &r->tcp_conns.items[1].remote_ip,
                                          &r->tcp_conns.items[1].remote_port),
                     DD_IP_OK);
    assert_int_equal(dd_ip_parse_endpoint("[::ffff:10.0.0.1]:1", 19,
                                          &r->tcp_conns.items[2].remote_ip, &port),
                     DD_IP_OK);
    r->tcp_conns.items[2].remote_port = port;
    r->has_custom_metrics = true;
    r->custom_count = 5;
    r->custom = xcalloc(5, sizeof(dd_report_custom_t));
    m = &r->custom[0];
    strcpy(m->name, "temperature");
    m->kind = DD_CUSTOM_NUMBER;
    m->number = 0.1 + 0.2; /* needs 17 digits */
    m = &r->custom[1];
    strcpy(m->name, "series");
    m->kind = DD_CUSTOM_NUMBER_LIST;
    m->count = 6;
    m->numbers = xcalloc(6, sizeof(double));
    m->numbers[0] = -3;
    m->numbers[1] = 1e300;
    m->numbers[2] = -1.5e-7;
    m->numbers[3] = 4294967296.0;
    m->numbers[4] = 9007199254740993.0 * 4; /* integral but beyond 2^53: a CBOR double */
    m->numbers[5] = 0;
    m = &r->custom[2];
    strcpy(m->name, "users");
    m->kind = DD_CUSTOM_STRING_LIST;
    m->count = 3;
    m->strings = xcalloc(3, sizeof(char *));
    m->strings[0] = xstrdup("root");
    m->strings[1] = xstrdup("");
    m->strings[2] = xstrdup("caf\xc3\xa9 \\ \"/\t");
    m = &r->custom[3];
    strcpy(m->name, "dns:servers_v-2");
    m->kind = DD_CUSTOM_IP_LIST;
    m->count = 2;
    m->ips = xcalloc(2, sizeof(dd_ip_t));
    m->ips[0] = (dd_ip_t){.family = 4, .bytes = {198, 51, 100, 1}};
    assert_int_equal(dd_ip_parse("fe80::1", 7, &m->ips[1]), DD_IP_OK);
    m = &r->custom[4];
    strcpy(m->name, "empty");
    m->kind = DD_CUSTOM_IP_LIST;
}

static void assert_reports_equal(const dd_report_t *a, const dd_report_t *b)
{
    size_t i;
    size_t j;

    assert_true(a->report_id == b->report_id);
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->has_metrics, b->has_metrics);
    assert_int_equal(a->has_custom_metrics, b->has_custom_metrics);
    for (i = 0; i < 2; i++) {
        const dd_report_ports_t *pa = i == 0 ? &a->tcp_ports : &a->udp_ports;
        const dd_report_ports_t *pb = i == 0 ? &b->tcp_ports : &b->udp_ports;
        assert_int_equal(pa->present, pb->present);
        assert_int_equal(pa->has_total, pb->has_total);
        assert_true(pa->total == pb->total);
        assert_int_equal(pa->count, pb->count);
        for (j = 0; j < pa->count; j++) {
            assert_int_equal(pa->items[j].port, pb->items[j].port);
            assert_int_equal(pa->items[j].has_interface, pb->items[j].has_interface);
            assert_string_equal(pa->items[j].interface, pb->items[j].interface);
        }
    }
    assert_int_equal(a->net.present, b->net.present);
    assert_int_equal(a->net.has_bytes_in, b->net.has_bytes_in);
    assert_int_equal(a->net.has_bytes_out, b->net.has_bytes_out);
    assert_int_equal(a->net.has_packets_in, b->net.has_packets_in);
    assert_int_equal(a->net.has_packets_out, b->net.has_packets_out);
    assert_true(a->net.bytes_in == b->net.bytes_in && a->net.bytes_out == b->net.bytes_out &&
                a->net.packets_in == b->net.packets_in && a->net.packets_out == b->net.packets_out);
    assert_int_equal(a->tcp_conns.present, b->tcp_conns.present);
    assert_int_equal(a->tcp_conns.has_total, b->tcp_conns.has_total);
    assert_true(a->tcp_conns.total == b->tcp_conns.total);
    assert_int_equal(a->tcp_conns.count, b->tcp_conns.count);
    for (j = 0; j < a->tcp_conns.count; j++) {
        const dd_report_conn_t *x = &a->tcp_conns.items[j];
        const dd_report_conn_t *y = &b->tcp_conns.items[j];
        assert_true(dd_ip_equal(&x->remote_ip, &y->remote_ip));
        assert_int_equal(x->remote_port, y->remote_port);
        assert_int_equal(x->has_local_port, y->has_local_port);
        assert_int_equal(x->local_port, y->local_port);
        assert_int_equal(x->has_local_interface, y->has_local_interface);
        assert_string_equal(x->local_interface, y->local_interface);
    }
    assert_int_equal(a->custom_count, b->custom_count);
    for (i = 0; i < a->custom_count; i++) {
        const dd_report_custom_t *x = &a->custom[i];
        const dd_report_custom_t *y = &b->custom[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->count, y->count);
        switch (x->kind) {
        case DD_CUSTOM_NUMBER: assert_memory_equal(&x->number, &y->number, sizeof(double)); break;
        case DD_CUSTOM_NUMBER_LIST:
            for (j = 0; j < x->count; j++) {
                assert_true(x->numbers[j] == y->numbers[j]);
            }
            break;
        case DD_CUSTOM_STRING_LIST:
            for (j = 0; j < x->count; j++) {
                assert_string_equal(x->strings[j], y->strings[j]);
            }
            break;
        case DD_CUSTOM_IP_LIST:
            for (j = 0; j < x->count; j++) {
                assert_true(dd_ip_equal(&x->ips[j], &y->ips[j]));
            }
            break;
        }
    }
}

static void round_trip(const dd_report_t *r, dd_report_format_t fmt, dd_report_keys_t keys)
{
    uint8_t buf[4096];
    size_t n = 0;
    size_t n2 = 0;
    size_t cut;
    dd_report_t back;
    dd_report_error_t err;

    assert_int_equal(dd_report_encode(r, fmt, keys, buf, sizeof(buf), &n), DD_REPORT_OK);
    assert_true(n > 0 && n < sizeof(buf));
    if (fmt == DD_REPORT_FORMAT_JSON) {
        assert_int_equal(buf[n], 0);
        assert_int_equal(strlen((char *)buf), n);
        assert_non_null(strstr((char *)buf, keys == DD_REPORT_KEYS_LONG
                                                ? "\"header\":{\"report_id\":"
                                                : "\"hed\":{\"rid\":"));
        assert_null(strstr((char *)buf, keys == DD_REPORT_KEYS_LONG ? "\"hed\"" : "\"header\""));
    } else {
        assert_int_equal(buf[0], 0xa3); /* definite map: header, metrics, custom_metrics */
    }
    if (dd_report_decode(fmt, buf, n, &back, &err) != DD_REPORT_OK) {
        fail_msg("%s: %.*s", err.detail, (int)n, (char *)buf);
    }
    assert_reports_equal(r, &back);
    dd_report_free(&back);
    /* Every shorter buffer is refused; the exact length works (JSON: without room for a NUL). */
    for (cut = 0; cut < n; cut += (cut < 40 ? 1 : 37)) {
        assert_int_equal(dd_report_encode(r, fmt, keys, buf, cut, &n2), DD_REPORT_BUFFER_TOO_SMALL);
    }
    assert_int_equal(dd_report_encode(r, fmt, keys, buf, n - 1, &n2), DD_REPORT_BUFFER_TOO_SMALL);
    assert_int_equal(dd_report_encode(r, fmt, keys, buf, n, &n2), DD_REPORT_OK);
    assert_int_equal(n2, n);
    assert_int_equal(dd_report_decode(fmt, buf, n, &back, &err), DD_REPORT_OK);
    dd_report_free(&back);
}

static void test_dd_report_round_trips(void **state)
{
    dd_report_t r;

    (void)state;
    build_rich(&r, true);
    round_trip(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG);
    round_trip(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_SHORT);
    round_trip(&r, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_LONG);
    round_trip(&r, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_SHORT);
    dd_report_free(&r);
    assert_true(all_zero(&r, sizeof(r)));
    /* CBOR carries the full 64-bit range. */
    build_rich(&r, false);
    round_trip(&r, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_LONG);
    dd_report_free(&r);
}

static void test_dd_report_round_trip_wire_samples(void **state)
{
    static const char *const files[] = {"python-agent-long.json", "c-sdk-short.json",
                                        "aws-c-iot-nul.json", "spec-minimal-long.json"};
    size_t i;
    int f;
    int k;

    (void)state;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        dd_report_t r;
        assert_int_equal(decode_blob(DD_REPORT_FORMAT_JSON, read_fixture(files[i]), &r, NULL),
                         DD_REPORT_OK);
        for (f = 0; f < 2; f++) {
            for (k = 0; k < 2; k++) {
                round_trip(&r, (dd_report_format_t)f, (dd_report_keys_t)k);
            }
        }
        dd_report_free(&r);
    }
}

/* Strings are escaped as they always were: '/' and UTF-8 as they are, \t short, other control
 * characters as lower-case \u00xx (the encoder that handles those is cJSON's, see
 * dd_report_json.c); the same text for one string with and one without a control byte. */
static void test_dd_report_encode_escapes(void **state)
{
    dd_report_t r;
    uint8_t buf[512];
    size_t n;
    const char *want_plain = "{\"header\":{\"report_id\":7,\"version\":\"1.0\"},"
                             "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":22,"
                             "\"interface\":\"a/\\\"\xc3\xa9\\\\\\t\"}]}}}";
    const char *want_ctl = "{\"header\":{\"report_id\":7,\"version\":\"1.0\"},"
                           "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":22,"
                           "\"interface\":\"a\\u001f\"}]}}}";

    (void)state;
    memset(&r, 0, sizeof(r));
    r.report_id = 7;
    r.tcp_ports.present = true;
    r.tcp_ports.count = 1;
    r.tcp_ports.items = xcalloc(1, sizeof(*r.tcp_ports.items));
    r.tcp_ports.items[0].port = 22;
    r.tcp_ports.items[0].has_interface = true;
    strcpy(r.tcp_ports.items[0].interface, "a/\"\xc3\xa9\\\t");
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(want_plain));
    assert_memory_equal(buf, want_plain, n);
    strcpy(r.tcp_ports.items[0].interface, "a\x1f");
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(want_ctl));
    assert_memory_equal(buf, want_ctl, n);
    /* Too small a buffer is refused, not cut. */
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf, 20, &n),
                     DD_REPORT_BUFFER_TOO_SMALL);
    dd_report_free(&r);
    /* The same in replies. */
    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_JSON, "t", false, 0, "InvalidJson",
                                               "a\x07/b\t", 5, buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    buf[n] = '\0';
    assert_string_equal(
        (const char *)buf,
        "{\"thingName\":\"t\",\"status\":\"REJECTED\",\"statusDetails\":{\"ErrorCode\":"
        "\"InvalidJson\",\"ErrorMessage\":\"a\\u0007/b\\t\"},\"timestamp\":5}");
}

static void test_dd_report_encode_exact(void **state)
{
    dd_report_t r;
    uint8_t buf[512];
    size_t n;
    const char *want_json = "{\"hed\":{\"rid\":1795836815,\"v\":\"1.0\"},"
                            "\"met\":{\"ns\":{\"bi\":256,\"po\":4}},"
                            "\"cmet\":{\"cpu\":[{\"number\":1.1}],\"n\":[{\"number_list\":"
                            "[-2,0.5]}]}}";
    blob_t want_cbor =
        from_hex("a3 63 686564 a2 63 726964 1a 6b0a4b8f 61 76 63 312e30"
                 " 63 6d6574 a1 62 6e73 a2 62 6269 19 0100 62 706f 04"
                 " 64 636d6574 a2 63 637075 81 a1 66 6e756d626572 fb 3ff199999999999a"
                 " 61 6e 81 a1 6b 6e756d6265725f6c697374 82 21 fb 3fe0000000000000");

    (void)state;
    memset(&r, 0, sizeof(r)); /* version left empty: the encoder writes "1.0" */
    r.report_id = 1795836815;
    r.net.present = true;
    r.net.has_bytes_in = true;
    r.net.bytes_in = 256;
    r.net.has_packets_out = true;
    r.net.packets_out = 4;
    r.custom_count = 2;
    r.custom = xcalloc(2, sizeof(dd_report_custom_t));
    strcpy(r.custom[0].name, "cpu");
    r.custom[0].number = 1.1;
    strcpy(r.custom[1].name, "n");
    r.custom[1].kind = DD_CUSTOM_NUMBER_LIST;
    r.custom[1].count = 2;
    r.custom[1].numbers = xcalloc(2, sizeof(double));
    r.custom[1].numbers[0] = -2;
    r.custom[1].numbers[1] = 0.5;
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_SHORT, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(want_json));
    assert_memory_equal(buf, want_json, n);
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_SHORT, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, want_cbor.len);
    assert_memory_equal(buf, want_cbor.data, n);
    free(want_cbor.data);

    /* Unencodable reports. */
    r.custom[0].number = NAN;
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    r.custom[0].number = 1;
    r.custom[0].kind = (dd_custom_kind_t)9;
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    r.custom[0].kind = DD_CUSTOM_NUMBER;
    r.tcp_ports.present = true;
    r.tcp_ports.count = 1;
    r.tcp_ports.items = xcalloc(1, sizeof(dd_report_port_t));
    r.tcp_ports.items[0].port = 22;
    memset(r.tcp_ports.items[0].interface, 'x', DD_REPORT_IFACE_MAX + 1); /* unterminated */
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    r.tcp_ports.items[0].interface[DD_REPORT_IFACE_MAX] = '\0';
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(dd_report_encode(NULL, DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_encode(&r, (dd_report_format_t)3, DD_REPORT_KEYS_LONG, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_encode(&r, DD_REPORT_FORMAT_JSON, (dd_report_keys_t)3, buf,
                                      sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
    dd_report_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------------- */

static void test_dd_report_json_replies(void **state)
{
    uint8_t buf[512];
    size_t n;
    const char *accepted = "{\"thingName\":\"DefenderTestThing\",\"reportId\":1795836772,"
                           "\"status\":\"ACCEPTED\",\"timestamp\":1795836772000}";
    const char *rejected = "{\"thingName\":\"myThing\",\"status\":\"REJECTED\",\"statusDetails\":"
                           "{\"ErrorCode\":\"InvalidPayload\",\"ErrorMessage\":\"Malformed metrics "
                           "report\"},\"timestamp\":1635802047699}";
    const char *rejected_id = "{\"thingName\":\"a\\\"b\",\"reportId\":18446744073709551615,"
                              "\"status\":\"REJECTED\",\"statusDetails\":{\"ErrorCode\":"
                              "\"InvalidJson\",\"ErrorMessage\":\"line\\nbreak\"},"
                              "\"timestamp\":-1}";

    (void)state;
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_JSON, "DefenderTestThing",
                                               1795836772, 1795836772000LL, buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(accepted));
    assert_memory_equal(buf, accepted, n + 1);
    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_JSON, "myThing", false, 0,
                                               "InvalidPayload", "Malformed metrics report",
                                               1635802047699LL, buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(rejected));
    assert_memory_equal(buf, rejected, n + 1);
    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_JSON, "a\"b", true, UINT64_MAX,
                                               "InvalidJson", "line\nbreak", -1, buf, sizeof(buf),
                                               &n),
                     DD_REPORT_OK);
    assert_int_equal(n, strlen(rejected_id));
    assert_memory_equal(buf, rejected_id, n);

    /* Exact fit without the NUL, one byte less is too small. */
    n = strlen(accepted);
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_JSON, "DefenderTestThing",
                                               1795836772, 1795836772000LL, buf, n, &n),
                     DD_REPORT_OK);
    assert_memory_equal(buf, accepted, n);
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_JSON, "DefenderTestThing",
                                               1795836772, 1795836772000LL, buf, n - 1, &n),
                     DD_REPORT_BUFFER_TOO_SMALL);
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_JSON, NULL, 1, 1, buf, sizeof(buf),
                                               &n),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_JSON, "t", false, 0, NULL, "m", 1,
                                               buf, sizeof(buf), &n),
                     DD_REPORT_BAD_PARAMETER);
}

static const cbor_item_t *map_get(const cbor_item_t *map, const char *key, size_t index)
{
    struct cbor_pair *pairs = cbor_map_handle(map);
    const cbor_item_t *k = pairs[index].key;

    assert_true(index < cbor_map_size(map));
    assert_true(cbor_isa_string(k));
    assert_int_equal(cbor_string_length(k), strlen(key));
    assert_memory_equal(cbor_string_handle(k), key, strlen(key));
    return pairs[index].value;
}

static void assert_cbor_text(const cbor_item_t *it, const char *want)
{
    assert_true(cbor_isa_string(it));
    assert_int_equal(cbor_string_length(it), strlen(want));
    assert_memory_equal(cbor_string_handle(it), want, strlen(want));
}

static void test_dd_report_cbor_replies(void **state)
{
    uint8_t buf[512];
    size_t n;
    size_t cut;
    struct cbor_load_result res;
    cbor_item_t *root;
    const cbor_item_t *details;

    (void)state;
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_CBOR, "DefenderTestThing",
                                               1795836772, 1795836772000LL, buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    root = cbor_load(buf, n, &res);
    assert_non_null(root);
    assert_int_equal(res.read, n);
    assert_true(cbor_isa_map(root) && cbor_map_is_definite(root));
    assert_int_equal(cbor_map_size(root), 4);
    assert_cbor_text(map_get(root, "thingName", 0), "DefenderTestThing");
    assert_true(cbor_get_int(map_get(root, "reportId", 1)) == 1795836772ULL);
    assert_int_equal(cbor_int_get_width(map_get(root, "reportId", 1)), CBOR_INT_32);
    assert_cbor_text(map_get(root, "status", 2), "ACCEPTED");
    assert_true(cbor_get_int(map_get(root, "timestamp", 3)) == 1795836772000ULL);
    cbor_decref(&root);

    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_CBOR, "myThing", true, 7,
                                               "InvalidPayload", "Malformed metrics report",
                                               1635802047699LL, buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    root = cbor_load(buf, n, &res);
    assert_non_null(root);
    assert_int_equal(cbor_map_size(root), 5);
    assert_cbor_text(map_get(root, "thingName", 0), "myThing");
    assert_true(cbor_get_int(map_get(root, "reportId", 1)) == 7);
    assert_int_equal(cbor_int_get_width(map_get(root, "reportId", 1)), CBOR_INT_8);
    assert_cbor_text(map_get(root, "status", 2), "REJECTED");
    details = map_get(root, "statusDetails", 3);
    assert_int_equal(cbor_map_size(details), 2);
    assert_cbor_text(map_get(details, "ErrorCode", 0), "InvalidPayload");
    assert_cbor_text(map_get(details, "ErrorMessage", 1), "Malformed metrics report");
    assert_true(cbor_get_int(map_get(root, "timestamp", 4)) == 1635802047699ULL);
    cbor_decref(&root);

    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_CBOR, "t", false, 0, "C", "M", -5,
                                               buf, sizeof(buf), &n),
                     DD_REPORT_OK);
    root = cbor_load(buf, n, &res);
    assert_non_null(root);
    assert_int_equal(cbor_map_size(root), 4);
    assert_cbor_text(map_get(root, "status", 1), "REJECTED");
    assert_true(cbor_isa_negint(map_get(root, "timestamp", 3)));
    assert_true(cbor_get_int(map_get(root, "timestamp", 3)) == 4);
    cbor_decref(&root);

    for (cut = 0; cut < n; cut++) {
        size_t n2;
        assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_CBOR, "t", false, 0, "C", "M",
                                                   -5, buf, cut, &n2),
                         DD_REPORT_BUFFER_TOO_SMALL);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Topics and error codes
 * ------------------------------------------------------------------------------------------- */

static void test_dd_report_topic_parse(void **state)
{
    char thing[DD_REPORT_THING_NAME_MAX + 1];
    char topic[400];
    char name[200];
    dd_report_format_t fmt;
    static const char *const bad[] = {
        "$aws/things//defender/metrics/json",
        "$aws/things/T/defender/metrics/json/accepted",
        "$aws/things/T/defender/metrics/json/rejected",
        "$aws/things/T/defender/metrics/xml",
        "$aws/things/T/defender/metrics/",
        "$aws/things/T/defender/metrics/JSON",
        "$aws/things/T/defender/metric/json",
        "$aws/things/T/shadow/update",
        "aws/things/T/defender/metrics/json",
        "$aws/things/T",
        "$aws/things/a+b/defender/metrics/json",
        "$aws/things/a#b/defender/metrics/json",
        "$aws/things/a\tb/defender/metrics/json",
        "$aws/things/a\x7f"
        "b/defender/metrics/json",
        "$aws/things/a\xc2\x85"
        "b/defender/metrics/json",
        "$aws/things/a/b/defender/metrics/json",
        "",
    };
    size_t i;

    (void)state;
    assert_int_equal(dd_report_topic_parse("$aws/things/DefenderTestThing/defender/metrics/json",
                                           thing, sizeof(thing), &fmt),
                     DD_REPORT_OK);
    assert_string_equal(thing, "DefenderTestThing");
    assert_int_equal(fmt, DD_REPORT_FORMAT_JSON);
    assert_int_equal(dd_report_topic_parse("$aws/things/dev:1_a-b.c d\xc3\xa9"
                                           "/defender/metrics/cbor",
                                           thing, sizeof(thing), &fmt),
                     DD_REPORT_OK);
    assert_string_equal(thing, "dev:1_a-b.c d\xc3\xa9");
    assert_int_equal(fmt, DD_REPORT_FORMAT_CBOR);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(thing, "junk");
        if (dd_report_topic_parse(bad[i], thing, sizeof(thing), &fmt) != DD_REPORT_BAD_TOPIC) {
            fail_msg("accepted topic %s", bad[i]);
        }
        assert_string_equal(thing, "");
    }
    /* 128 bytes fine, 129 not. */
    memset(name, 'x', 129);
    name[128] = '\0';
    (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json", name);
    assert_int_equal(dd_report_topic_parse(topic, thing, sizeof(thing), &fmt), DD_REPORT_OK);
    assert_int_equal(strlen(thing), 128);
    assert_int_equal(dd_report_topic_parse(topic, thing, 128, &fmt), DD_REPORT_BUFFER_TOO_SMALL);
    name[128] = 'x';
    name[129] = '\0';
    (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json", name);
    assert_int_equal(dd_report_topic_parse(topic, thing, sizeof(thing), &fmt), DD_REPORT_BAD_TOPIC);
    assert_int_equal(dd_report_topic_parse(NULL, thing, sizeof(thing), &fmt),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_topic_parse(topic, thing, sizeof(thing), NULL),
                     DD_REPORT_BAD_PARAMETER);
}

static void test_dd_report_error_codes(void **state)
{
    static const struct {
        const char *json;
        const char *fine;
    } cases[] = {
        {"{", "InvalidJson"},
        {"[]", "InvalidPayload"},
        {"{}", "MissingRequiredField"},
        {"{\"hed\":{\"rid\":1,\"v\":\"1.0\"}}", "MissingRequiredField"},
        {"{\"hed\":{\"rid\":1,\"v\":\"1.0\"},\"met\":{\"tc\":{\"ec\":{\"cs\":[{}]}}}}",
         "MissingRequiredField"},
        {"{\"hed\":{\"rid\":1,\"v\":\"1.0\"},\"met\":{\"ns\":{\"bi\":-1}}}", "InvalidPayload"},
        {"{\"hed\":{\"rid\":1,\"v\":\"3.0\"},\"met\":{}}", "UnsupportedVersion"},
        {"{\"hed\":{\"rid\":1,\"v\":\"1.0\"},\"cmet\":{\"m\":{\"number\":0}}}",
         "InvalidCustomMetric"},
    };
    dd_report_error_t err;
    dd_report_t r;
    const char *code;
    const char *msg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_not_equal(decode_json(cases[i].json, &r, &err), DD_REPORT_OK);
        dd_report_error_code(&err, false, &code, &msg);
        assert_string_equal(code, "InvalidPayload");
        assert_string_equal(msg, "Malformed metrics report");
        dd_report_error_code(&err, true, &code, &msg);
        assert_string_equal(code, cases[i].fine);
        assert_ptr_equal(msg, err.detail);
    }
    memset(&err, 0, sizeof(err));
    err.status = DD_REPORT_TOO_LARGE;
    dd_report_error_code(&err, true, &code, &msg);
    assert_string_equal(code, "PayloadTooLarge");
    assert_string_equal(msg, dd_report_strerror(DD_REPORT_TOO_LARGE));
    err.status = DD_REPORT_NOT_CBOR;
    dd_report_error_code(&err, true, &code, NULL);
    assert_string_equal(code, "InvalidCbor");
    err.status = DD_REPORT_MIXED_KEYS;
    dd_report_error_code(&err, true, &code, NULL);
    assert_string_equal(code, "MixedKeyNames");
    err.status = DD_REPORT_BAD_TOPIC;
    dd_report_error_code(&err, true, &code, NULL);
    assert_string_equal(code, "InvalidTopic");
    dd_report_error_code(NULL, true, &code, &msg);
    assert_string_equal(code, "InvalidPayload");
    assert_string_equal(msg, "Malformed metrics report");
    for (i = 0; i <= DD_REPORT_MIXED_KEYS; i++) {
        assert_null(strstr(dd_report_strerror((dd_report_status_t)i), "unknown"));
    }
}

/* A report parsed by the caller decodes as its bytes do, and is refused as they are. */
static void test_dd_report_decode_cjson(void **state)
{
    blob_t b = read_fixture("python-agent-long.json");
    cJSON *root = cJSON_ParseWithLength((const char *)b.data, b.len);
    dd_report_t from_bytes;
    dd_report_t from_tree;
    dd_report_error_t err;
    uint8_t e1[4096];
    uint8_t e2[4096];
    size_t l1 = 0;
    size_t l2 = 0;

    (void)state;
    assert_non_null(root);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, b.data, b.len, &from_bytes, NULL),
                     DD_REPORT_OK);
    assert_int_equal(dd_report_decode_cjson(root, &from_tree, &err), DD_REPORT_OK);
    assert_int_equal(dd_report_encode(&from_bytes, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, e1,
                                      sizeof(e1), &l1),
                     DD_REPORT_OK);
    assert_int_equal(dd_report_encode(&from_tree, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, e2,
                                      sizeof(e2), &l2),
                     DD_REPORT_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(e1, e2, l1);
    dd_report_free(&from_bytes);
    dd_report_free(&from_tree);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "header");
    assert_int_equal(dd_report_decode_cjson(root, &from_tree, &err), DD_REPORT_MISSING_HEADER);
    assert_true(all_zero(&from_tree, sizeof(from_tree)));
    assert_int_equal(dd_report_decode_cjson(NULL, &from_tree, &err), DD_REPORT_BAD_PARAMETER);
    cJSON_Delete(root);
    free(b.data);
}

/* A small deterministic generator for test_dd_report_encode_cached(). */
static uint64_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* A report of one of six shapes (0..5) whose integers are drawn from 0..2^64-1 in every width;
 * shapes 4 and 5 also vary in a remote address, so they change shape now and then. */
static void random_report(uint64_t *s, size_t shape, dd_report_t *r)
{
    static const uint64_t wide[] = {0, 9, 10, 99, 100, 65535, 4294967296ULL, UINT64_MAX};
    size_t i;

    memset(r, 0, sizeof(*r));
    r->report_id = next_rand(s) % 2 ? wide[next_rand(s) % 8] : next_rand(s);
    if (shape == 5) {
        strcpy(r->version, "1.1");
    }
    r->has_metrics = shape != 0;
    r->net.present = shape >= 1;
    r->net.has_bytes_out = true;
    r->net.bytes_out = wide[next_rand(s) % 8];
    r->net.has_packets_in = shape >= 2;
    r->net.packets_in = next_rand(s);
    r->tcp_ports.present = shape >= 3;
    r->tcp_ports.has_total = true;
    r->tcp_ports.total = next_rand(s) % 100;
    r->tcp_ports.count = shape >= 3 ? 2 : 0;
    r->tcp_ports.items = xcalloc(2, sizeof(*r->tcp_ports.items));
    for (i = 0; i < 2; i++) {
        r->tcp_ports.items[i].port = (uint16_t)(1 + next_rand(s) % 65535);
        r->tcp_ports.items[i].has_interface = i == 1;
        strcpy(r->tcp_ports.items[i].interface, shape == 4 ? "eth\"1" : "eth0");
    }
    r->tcp_conns.present = shape >= 4;
    r->tcp_conns.has_total = true;
    r->tcp_conns.total = next_rand(s);
    r->tcp_conns.count = shape >= 4 ? 1 : 0;
    r->tcp_conns.items = xcalloc(1, sizeof(*r->tcp_conns.items));
    r->tcp_conns.items[0].remote_ip.family = 4;
    r->tcp_conns.items[0].remote_ip.bytes[0] = (uint8_t)(next_rand(s) % 8 ? 10 : 52);
    r->tcp_conns.items[0].remote_port = 8883;
    r->tcp_conns.items[0].has_local_port = true;
    r->tcp_conns.items[0].local_port = (uint16_t)next_rand(s);
}

static void test_dd_report_encode_cached(void **state)
{
    dd_report_cache_t *cache = dd_report_cache_new();
    static uint8_t want[4096];
    static uint8_t got[4096];
    uint64_t seed = 15;
    dd_report_t r;
    size_t wn;
    size_t gn;
    int n;
    int f;

    (void)state;
    assert_non_null(cache);
    /* Byte for byte what dd_report_encode() writes, through shape changes and digit counts. */
    for (n = 0; n < 3000; n++) {
        dd_report_keys_t ks = n % 700 < 350 ? DD_REPORT_KEYS_LONG : DD_REPORT_KEYS_SHORT;
        random_report(&seed, (size_t)(n / 4 + n / 7) % 6, &r);
        for (f = 0; f < 2; f++) {
            memset(got, 0x55, sizeof(got));
            assert_int_equal(dd_report_encode(&r, (dd_report_format_t)f, ks, want, sizeof(want),
                                              &wn),
                             DD_REPORT_OK);
            assert_int_equal(dd_report_encode_cached(cache, &r, (dd_report_format_t)f, ks, got,
                                                     sizeof(got), &gn),
                             DD_REPORT_OK);
            assert_int_equal(gn, wn);
            assert_memory_equal(got, want, wn);
            if (f == 0) {
                assert_int_equal(got[gn], '\0');
            }
        }
        /* Too small a buffer is refused, not cut (the cached text included). */
        assert_int_equal(dd_report_encode_cached(cache, &r, DD_REPORT_FORMAT_JSON, ks, got, wn - 1,
                                                 &gn),
                         DD_REPORT_BUFFER_TOO_SMALL);
        dd_report_free(&r);
    }
    /* A control character goes through cJSON's path, as dd_report_encode() does. */
    random_report(&seed, 3, &r);
    r.tcp_ports.present = true;
    r.tcp_ports.count = 2;
    strcpy(r.tcp_ports.items[1].interface, "a\x1f");
    assert_int_equal(dd_report_encode_cached(cache, &r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG,
                                             got, sizeof(got), &gn),
                     DD_REPORT_OK);
    assert_non_null(strstr((const char *)got, "a\\u001f"));
    assert_int_equal(dd_report_encode_cached(NULL, &r, DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG,
                                             got, sizeof(got), &gn),
                     DD_REPORT_BAD_PARAMETER);
    assert_int_equal(dd_report_encode_cached(cache, &r, DD_REPORT_FORMAT_JSON, (dd_report_keys_t)7,
                                             got, sizeof(got), &gn),
                     DD_REPORT_BAD_PARAMETER);
    dd_report_free(&r);
    dd_report_cache_free(cache);
    dd_report_cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_report_python_agent_json),
        cmocka_unit_test(test_dd_report_decode_cjson),
        cmocka_unit_test(test_dd_report_python_agent_null_interface),
        cmocka_unit_test(test_dd_report_python_agent_cbor),
        cmocka_unit_test(test_dd_report_c_sdk_short_keys),
        cmocka_unit_test(test_dd_report_aws_c_iot_trailing_nul),
        cmocka_unit_test(test_dd_report_trailing_bytes),
        cmocka_unit_test(test_dd_report_spec_minimal_examples),
        cmocka_unit_test(test_dd_report_refusals),
        cmocka_unit_test(test_dd_report_oversize),
        cmocka_unit_test(test_dd_report_bad_parameters),
        cmocka_unit_test(test_dd_report_lenient_parts),
        cmocka_unit_test(test_dd_report_mixed_keys),
        cmocka_unit_test(test_dd_report_invalid_ip_list),
        cmocka_unit_test(test_dd_report_many_custom_metrics),
        cmocka_unit_test(test_dd_report_cbor_indefinite_and_widths),
        cmocka_unit_test(test_dd_report_cbor_refusals),
        cmocka_unit_test(test_dd_report_cbor_non_text_keys_ignored),
        cmocka_unit_test(test_dd_report_cbor_nesting_limit),
        cmocka_unit_test(test_dd_report_round_trips),
        cmocka_unit_test(test_dd_report_round_trip_wire_samples),
        cmocka_unit_test(test_dd_report_encode_exact),
        cmocka_unit_test(test_dd_report_json_replies),
        cmocka_unit_test(test_dd_report_cbor_replies),
        cmocka_unit_test(test_dd_report_topic_parse),
        cmocka_unit_test(test_dd_report_error_codes),
        cmocka_unit_test(test_dd_report_encode_escapes),
        cmocka_unit_test(test_dd_report_encode_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
