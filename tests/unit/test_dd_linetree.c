#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_json.h"
#include "dd_linetree.h"
#include "dd_linetree_oracle.h"

/* The fast tree prints exactly as the strict parser's tree does, and has the same cJSON shape
 * (types, the last element on the first one's prev, valueint). */
static void assert_same_shape(const cJSON *a, const cJSON *b)
{
    const cJSON *x;
    const cJSON *y;

    assert_int_equal(a->type & 0xff, b->type & 0xff);
    assert_int_equal(a->valueint, b->valueint);
    assert_true(a->valuedouble == b->valuedouble ||
                (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble));
    assert_int_equal(a->string == NULL, b->string == NULL);
    if (a->string != NULL) {
        assert_string_equal(a->string, b->string);
    }
    assert_int_equal(a->valuestring == NULL, b->valuestring == NULL);
    if (a->valuestring != NULL) {
        assert_string_equal(a->valuestring, b->valuestring);
    }
    assert_int_equal(a->child == NULL, b->child == NULL);
    if (a->child != NULL) {
        assert_ptr_equal(a->child->prev->next, NULL);
        assert_true(b->child->prev->next == NULL);
    }
    for (x = a->child, y = b->child; x != NULL || y != NULL; x = x->next, y = y->next) {
        assert_non_null(x);
        assert_non_null(y);
        assert_same_shape(x, y);
        if (x != a->child) {
            assert_ptr_equal(x->prev->next, x);
        }
    }
    if (a->child != NULL) {
        for (x = a->child; x->next != NULL; x = x->next) {
        }
        assert_ptr_equal(a->child->prev, x);
    }
}

static void check_same(dd_linetree_t *lt, const char *text)
{
    const cJSON *fast = NULL;
    cJSON *strict = NULL;
    dd_json_error_t err;
    char *a;
    char *b;

    if (dd_json_parse(text, strlen(text), 0, &strict, &err) != DD_JSON_OK) {
        fail_msg("%s: %s", text, err.message);
    }
    assert_int_equal(dd_linetree_parse(lt, text, strlen(text), &fast), DD_LINETREE_OK);
    assert_non_null(fast);
    a = cJSON_PrintUnformatted(fast);
    b = cJSON_PrintUnformatted(strict);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    assert_same_shape(fast, strict);
    free(a);
    free(b);
    cJSON_Delete(strict);
}

static void check_fallback(dd_linetree_t *lt, const char *text, size_t len)
{
    const cJSON *fast = (const cJSON *)lt;

    assert_int_equal(dd_linetree_parse(lt, text, len, &fast), DD_LINETREE_FALLBACK);
    assert_null(fast);
}

static void test_dd_linetree_same_tree(void **state)
{
    dd_linetree_t *lt = NULL;
    static const char *const LINES[] = {
        "{\"thing\":\"d00001\",\"time\":1795824000000,\"report\":{\"header\":{\"report_id\":1,"
        "\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":150,"
        "\"packets_out\":1},\"listening_tcp_ports\":{\"ports\":[{\"port\":22},{\"port\":8883,"
        "\"interface\":\"eth0\"}],\"total\":2}}}}",
        "{\"thing\":\"a\",\"time\":\"2026-11-28T10:05:07Z\",\"event\":{\"type\":\"connect\","
        "\"success\":false,\"registered\":true,\"repeat\":3,\"x\":null}}",
        "  {\"tick\":true,\"time\":5}  ",
        "[1,-0,0.5,-2.5e3,1E400,-1e-400,2147483647,2147483648,-2147483649,12345678901234567890,"
        "999999999999999,-999999999999999,9007199254740993,0,-1,1e2]",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac \xc3\xa9\",\"e\":\"\",\"o\":{},"
        "\"a\":[],\"n\":[[[]]]}",
        "\"just a string\"",
        "42",
        "true",
        "null",
    };
    size_t i;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    for (i = 0; i < sizeof(LINES) / sizeof(LINES[0]); i++) {
        check_same(lt, LINES[i]);
    }
    dd_linetree_destroy(lt);
}

/* Everything the strict parser refuses, or might read differently, is left to it. */
static void test_dd_linetree_fallback(void **state)
{
    dd_linetree_t *lt = NULL;
    char deep[300];
    char big[400];
    size_t i;
    size_t o = 0;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    check_fallback(lt, "", 0);
    check_fallback(lt, "   ", 3);
    check_fallback(lt, "{\"a\":1", 6);
    check_fallback(lt, "{\"a\":1} x", 9);
    check_fallback(lt, "{\"a\":01}", 8);
    check_fallback(lt, "{'a':1}", 7);
    check_fallback(lt, "{\"a\":1,\"a\":2}", 13);
    check_fallback(lt, "{\"o\":{\"b\":1,\"b\":1}}", 19);
    check_fallback(lt, "{\"a\":\"x\\u0000y\"}", 16);
    check_fallback(lt, "{\"a\\u0000\":1}", 13);
    check_fallback(lt, "{\"a\":1}\0", 8);
    check_fallback(lt, "\xEF\xBB\xBF{}", 5);
    check_fallback(lt, "\"\\ud800\"", 8);
    check_fallback(lt, "\"\\uDC00x\"", 9);
    check_fallback(lt, "\"\\ud83d\\ude00\"", 14); /* a pair is valid, but also left */
    check_fallback(lt, "\"\xff\"", 3);
    check_fallback(lt, "[1234567890123456789012345678901234567890123456789012345678901234]", 66);
    for (i = 0; i < 100; i++) {
        deep[i] = '[';
        deep[100 + i] = ']';
    }
    check_fallback(lt, deep, 200);
    big[o++] = '{';
    for (i = 0; i < 17; i++) {
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"k%zu\":%zu", i > 0 ? "," : "", i, i);
    }
    big[o++] = '}';
    check_fallback(lt, big, o);
    /* 16 members are still the fast path's; a good line after all of the above is too. */
    o = 0;
    big[o++] = '{';
    for (i = 0; i < 16; i++) {
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"k%zu\":%zu", i > 0 ? "," : "", i, i);
    }
    big[o++] = '}';
    big[o] = '\0';
    check_same(lt, big);
    check_same(lt, "{\"thing\":\"a\",\"time\":1,\"tick\":true}");
    dd_linetree_destroy(lt);
}

/* A line bigger than an arena block, then many small ones: the arena grows and is reused. */
static void test_dd_linetree_arena(void **state)
{
    dd_linetree_t *lt = NULL;
    size_t n = 300000;
    char *line = malloc(n + 16);
    size_t i;
    const cJSON *root = NULL;

    (void)state;
    assert_non_null(line);
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    line[0] = '"';
    memset(line + 1, 'x', n);
    line[n + 1] = '"';
    line[n + 2] = '\0';
    check_same(lt, line);
    (void)snprintf(line, n, "[");
    for (i = 1; i < 20000; i++) {
        line[i * 2 - 1] = '7';
        line[i * 2] = ',';
    }
    line[i * 2 - 1] = '7';
    line[i * 2] = ']';
    line[i * 2 + 1] = '\0';
    check_same(lt, line);
    for (i = 0; i < 10000; i++) {
        assert_int_equal(dd_linetree_parse(lt, "{\"a\":[1,2,{\"b\":\"c\"}]}", 21, &root),
                         DD_LINETREE_OK);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "a")), 3);
    }
    free(line);
    dd_linetree_destroy(lt);
}

static void test_dd_linetree_parameters(void **state)
{
    dd_linetree_t *lt = NULL;
    const cJSON *root = NULL;

    (void)state;
    assert_int_equal(dd_linetree_create(NULL), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    assert_int_equal(dd_linetree_parse(NULL, "1", 1, &root), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_parse(lt, "1", 1, NULL), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_parse(lt, NULL, 1, &root), DD_LINETREE_BAD_PARAMETER);
    assert_string_equal(dd_linetree_strerror(DD_LINETREE_FALLBACK), "left to the strict parser");
    assert_string_equal(dd_linetree_strerror((dd_linetree_status_t)99), "unknown linetree status");
    dd_linetree_destroy(lt);
    dd_linetree_destroy(NULL);
}

/* ------------------------------------------------------------------ dd_linetree_report() */

/* A line as `ddlocal fleet` writes them. */
#define PLAIN_LINE                                                                               \
    "{\"thing\":\"week-00001\",\"time\":1704067200000,\"report\":{\"header\":{\"report_id\":"    \
    "1704067200000,\"version\":\"1.0\"},\"metrics\":{\"listening_tcp_ports\":{\"ports\":[],"     \
    "\"total\":0},\"listening_udp_ports\":{\"ports\":[],\"total\":0},\"network_stats\":{"        \
    "\"bytes_in\":0,\"bytes_out\":133,\"packets_in\":0,\"packets_out\":0},\"tcp_connections\":{" \
    "\"established_connections\":{\"connections\":[],\"total\":0}}}}}"

/* Lines the fast lane takes, each decoded as the tree path decodes it. */
static const char *const TAKEN[] = {
    PLAIN_LINE,
    "{\"report\":{\"metrics\":{},\"header\":{\"version\":\"1.2345678901234\",\"report_id\":1}},"
    "\"time\":0,\"thing\":\"a\"}",
    " {\"thing\":\"d:1_-x\" , \"time\" : 999999999999999 ,\"report\":{\"hed\":{\"rid\":"
    "999999999999999,\"v\":\"1.0\"},\"met\":{\"tp\":{\"pts\":[{\"pt\":22},{\"pt\":65535,\"if\":"
    "\"eth0\"}],\"t\":7},\"up\":{\"pts\":[{\"pt\":1,\"if\":\"\"}]},\"ns\":{\"bi\":1,\"po\":2},"
    "\"tc\":{\"ec\":{\"cs\":[{\"rad\":\"10.0.0.1:443\",\"lp\":0,\"li\":\"wlan0\"},{\"rad\":"
    "\"[2001:db8::1]:8883\"}],\"t\":3}}}}}\t",
    /* mixed long and short names are accepted by default */
    "{\"thing\":\"m\",\"time\":5,\"report\":{\"header\":{\"rid\":3,\"version\":\"1.0\"},\"met\":{"
    "\"listening_tcp_ports\":{\"ports\":[{\"port\":80,\"interface\":\"an-interface-name-longer-"
    "than-thirty-two-bytes\"}]},\"tcp_connections\":{}}}}",
    /* a remote address without a port (dd_ip_parse_endpoint() takes it) */
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"tcp_connections\":{\"established_connections\":{\"connections\":[{"
    "\"remote_addr\":\"10.0.0.1\"}]}}}}}",
    /* an interface cut on a UTF-8 boundary: 31 ASCII bytes, then a two-byte character */
    "{\"thing\":\"u\",\"time\":5,\"report\":{\"header\":{\"report_id\":3,\"version\":\"1.0\"},"
    "\"metrics\":{\"listening_udp_ports\":{\"ports\":[{\"port\":53,\"interface\":"
    "\"0123456789012345678901234567890\xc3\xa9x\"}]},\"network_stats\":{}}}}",
};

/* Lines the fast lane leaves to the tree path (which may accept or refuse them). */
static const char *const LEFT[] = {
    "",
    "[]",
    "{}",
    "{\"thing\":\"a\",\"time\":1,\"tick\":true}",
    "{\"thing\":\"a\",\"time\":1,\"event\":{\"type\":\"connect\"}}",
    "{\"thing\":\"a\",\"time\":1,\"json\":\"{}\"}",
    "{\"thing\":\"a\",\"time\":\"2026-11-28T10:05:07Z\",\"report\":{\"header\":{\"report_id\":1,"
    "\"version\":\"1.0\"},\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1.0,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{},\"custom_metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"network_stats\":null}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"other\":1}}}",
    "{\"thing\":\"a\",\"time\":1,\"x\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":"
    "\"1.0\"},\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"rid\":1,\"version\":"
    "\"1.0\"},\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1000000000000000,"
    "\"version\":\"1.0\"},\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":0,\"version\":\"1.0\"},"
    "\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"2.0\"},"
    "\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"}}}",
    "{\"thing\":\"a b\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{}}}",
    "{\"thing\":\"\\u0061\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":"
    "\"1.0\"},\"metrics\":{}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":0}]}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"port\":65536}]}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[{\"interface\":\"eth0\"}]}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"listening_tcp_ports\":{\"ports\":[1]}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"tcp_connections\":{\"established_connections\":{\"connections\":[{"
    "\"remote_addr\":\"10.0.0.1:1\",\"local_port\":65536}]}}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"tcp_connections\":{\"established_connections\":{\"connections\":[{"
    "\"local_port\":1}]}}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"network_stats\":{\"bytes_in\":-1}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{\"network_stats\":{\"bytes_in\":true}}}}",
    "{\"thing\":\"a\",\"time\":1,\"report\":[]}",
    "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
    "\"metrics\":{}}} x",
    "{\"thing\":\"a\",\"thing\":\"b\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,"
    "\"version\":\"1.0\"},\"metrics\":{}}}",
};

static void test_dd_linetree_report_taken(void **state)
{
    dd_linetree_t *lt = NULL;
    dd_linetree_report_t r;
    const cJSON *root = NULL;
    size_t i;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    for (i = 0; i < sizeof(TAKEN) / sizeof(TAKEN[0]); i++) {
        if (dd_oracle_check(lt, TAKEN[i], strlen(TAKEN[i])) != 1) {
            fail_msg("not taken as the tree path decodes it: %s", TAKEN[i]);
        }
    }
    /* What the tests above compare, spot-checked by hand. */
    assert_int_equal(dd_linetree_report(lt, TAKEN[2], strlen(TAKEN[2]), &r), DD_LINETREE_OK);
    assert_string_equal(r.thing, "d:1_-x");
    assert_int_equal(r.time_ms, 999999999999999LL);
    assert_int_equal(r.report.report_id, 999999999999999ULL);
    assert_int_equal(r.report.tcp_ports.count, 2);
    assert_int_equal(r.report.tcp_ports.items[1].port, 65535);
    assert_string_equal(r.report.tcp_ports.items[1].interface, "eth0");
    assert_true(r.report.udp_ports.present && !r.report.udp_ports.has_total);
    assert_int_equal(r.report.tcp_conns.count, 2);
    assert_int_equal(r.report.tcp_conns.items[1].remote_port, 8883);
    assert_int_equal(r.report.tcp_conns.items[1].remote_ip.family, 6);
    assert_true(r.report.net.has_packets_out && !r.report.net.has_bytes_out);
    dd_report_free(&r.report);
    /* It shares the arena with the tree: a tree after a fast line, a fast line after a tree. */
    assert_int_equal(dd_linetree_parse(lt, PLAIN_LINE, strlen(PLAIN_LINE), &root), DD_LINETREE_OK);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(root, "report"));
    assert_int_equal(dd_oracle_check(lt, PLAIN_LINE, strlen(PLAIN_LINE)), 1);
    dd_linetree_destroy(lt);
}

static void test_dd_linetree_report_left(void **state)
{
    dd_linetree_t *lt = NULL;
    char *many;
    size_t o = 0;
    size_t i;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    for (i = 0; i < sizeof(LEFT) / sizeof(LEFT[0]); i++) {
        if (dd_oracle_check(lt, LEFT[i], strlen(LEFT[i])) != 0) {
            fail_msg("taken, but is the tree path's: %s", LEFT[i]);
        }
    }
    /* A list longer than the fast lane's buffers is the tree path's too. */
    many = malloc(16384);
    assert_non_null(many);
    o += (size_t)snprintf(many + o, 16384 - o,
                          "{\"thing\":\"a\",\"time\":1,\"report\":{\"header\":{\"report_id\":1,"
                          "\"version\":\"1.0\"},\"metrics\":{\"listening_tcp_ports\":{\"ports\":[");
    for (i = 0; i < 257; i++) {
        o += (size_t)snprintf(many + o, 16384 - o, "%s{\"port\":%zu}", i > 0 ? "," : "", i + 1);
    }
    o += (size_t)snprintf(many + o, 16384 - o, "]}}}}");
    assert_int_equal(dd_oracle_check(lt, many, o), 0);
    free(many);
    dd_linetree_destroy(lt);
}

/* Random edits of the taken lines (seeded, so every run is the same): the fast lane never
 * takes a line the tree path refuses or reads otherwise. */
static void test_dd_linetree_report_mutations(void **state)
{
    static const char ALPHABET[] = "{}[]\":,0123456789.-+eE \\ntfu\x80\xc3";
    dd_linetree_t *lt = NULL;
    char line[1024];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t taken = 0;
    size_t round;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    for (round = 0; round < 60000; round++) {
        const char *seed = TAKEN[round % (sizeof(TAKEN) / sizeof(TAKEN[0]))];
        size_t len = strlen(seed);
        int edits = 1 + (int)(round % 3);
        int v;

        memcpy(line, seed, len);
        while (edits-- > 0 && len > 2) {
            size_t at;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            at = (size_t)(x >> 8) % len;
            switch ((x >> 4) % 3) {
            case 0: line[at] = ALPHABET[(x >> 32) % (sizeof(ALPHABET) - 1)]; break;
            case 1:
                memmove(line + at, line + at + 1, len - at - 1);
                len--;
                break;
            default:
                if (len + 1 < sizeof(line)) {
                    memmove(line + at + 1, line + at, len - at);
                    line[at] = ALPHABET[(x >> 32) % (sizeof(ALPHABET) - 1)];
                    len++;
                }
                break;
            }
        }
        v = dd_oracle_check(lt, line, len);
        if (v < 0) {
            fail_msg("fast lane and tree path disagree on: %.*s", (int)len, line);
        }
        taken += (size_t)v;
    }
    assert_true(taken > 1000); /* the edits that keep a line good are taken, too */
    dd_linetree_destroy(lt);
}

static void test_dd_linetree_report_parameters(void **state)
{
    dd_linetree_t *lt = NULL;
    dd_linetree_report_t r;

    (void)state;
    assert_int_equal(dd_linetree_create(&lt), DD_LINETREE_OK);
    assert_int_equal(dd_linetree_report(NULL, "{}", 2, &r), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_report(lt, "{}", 2, NULL), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_report(lt, NULL, 2, &r), DD_LINETREE_BAD_PARAMETER);
    assert_int_equal(dd_linetree_report(lt, NULL, 0, &r), DD_LINETREE_FALLBACK);
    dd_linetree_destroy(lt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_linetree_same_tree),
        cmocka_unit_test(test_dd_linetree_fallback),
        cmocka_unit_test(test_dd_linetree_arena),
        cmocka_unit_test(test_dd_linetree_parameters),
        cmocka_unit_test(test_dd_linetree_report_taken),
        cmocka_unit_test(test_dd_linetree_report_left),
        cmocka_unit_test(test_dd_linetree_report_mutations),
        cmocka_unit_test(test_dd_linetree_report_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
