#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_collect.h"
#include "dd_report.h"

#define FIX(name) DD_SOURCE_DIR "/fixtures/proc/" name

static const dd_report_port_t *find_port(const dd_report_port_t *items, size_t n, uint16_t port,
                                         const char *iface)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (items[i].port == port &&
            ((iface == NULL && !items[i].has_interface) ||
             (iface != NULL && items[i].has_interface && strcmp(items[i].interface, iface) == 0))) {
            return &items[i];
        }
    }
    return NULL;
}

static const dd_report_conn_t *find_conn(const dd_report_conn_t *items, size_t n,
                                         const char *remote, uint16_t local_port)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char text[DD_IP_ENDPOINT_TEXT_MAX];

        assert_int_equal(dd_ip_format_endpoint(&items[i].remote_ip, items[i].remote_port, text,
                                               sizeof(text)),
                         DD_IP_OK);
        if (strcmp(text, remote) == 0 && items[i].local_port == local_port) {
            return &items[i];
        }
    }
    return NULL;
}

static void assert_conn_iface(const dd_report_conn_t *c, const char *iface)
{
    assert_non_null(c);
    assert_true(c->has_local_port);
    if (iface == NULL) {
        assert_false(c->has_local_interface);
    } else {
        assert_true(c->has_local_interface);
        assert_string_equal(c->local_interface, iface);
    }
}

static void test_dd_collect_typical(void **state)
{
    dd_collect_sample_t s;

    (void)state;
    assert_int_equal(dd_collect_sample(FIX("typical"), &s), DD_COLLECT_OK);
    assert_int_equal(s.iface_count, 3);
    assert_string_equal(s.ifaces[1].name, "eth0");
    assert_int_equal(s.ifaces[1].bytes_in, 50000);
    assert_int_equal(s.ifaces[1].packets_in, 400);
    assert_int_equal(s.ifaces[1].bytes_out, 20000);
    assert_int_equal(s.ifaces[1].packets_out, 300);

    /* 22 twice on 0.0.0.0 (SO_REUSEPORT) counts once; [::]:22 is its own entry. */
    assert_int_equal(s.tcp_port_count, 4);
    assert_int_equal(s.tcp_port_total, 4);
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 22, "0.0.0.0"));
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 22, "::"));
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 8883, "lo"));
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 80, "eth0"));

    /* Connected UDP and port 0 are not listening; 127.0.0.53 is lo by prefix. */
    assert_int_equal(s.udp_port_count, 2);
    assert_int_equal(s.udp_port_total, 2);
    assert_non_null(find_port(s.udp_ports, s.udp_port_count, 68, "0.0.0.0"));
    assert_non_null(find_port(s.udp_ports, s.udp_port_count, 53, "lo"));

    /* TIME_WAIT is not established. */
    assert_int_equal(s.conn_count, 3);
    assert_int_equal(s.conn_total, 3);
    assert_conn_iface(find_conn(s.conns, s.conn_count, "52.1.2.3:8883", 51000), "eth0");
    assert_conn_iface(find_conn(s.conns, s.conn_count, "127.0.0.1:40000", 8883), "lo");
    assert_conn_iface(find_conn(s.conns, s.conn_count, "127.0.0.1:8883", 40000), "lo");

    assert_true(s.has_cpu);
    dd_collect_sample_free(&s);
    assert_null(s.ifaces);
    dd_collect_sample_free(&s);
    dd_collect_sample_free(NULL);
}

static void test_dd_collect_ipv6(void **state)
{
    dd_collect_sample_t s;
    const dd_report_conn_t *c;

    (void)state;
    assert_int_equal(dd_collect_sample(FIX("ipv6"), &s), DD_COLLECT_OK);
    assert_int_equal(s.tcp_port_total, 3);
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 8883, "lo"));
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 443, "eth0"));
    assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, 22, "::"));

    assert_int_equal(s.conn_total, 4);
    assert_conn_iface(find_conn(s.conns, s.conn_count, "[2001:db8::99]:50000", 443), "eth0");
    assert_conn_iface(find_conn(s.conns, s.conn_count, "[fe80::2]:60000", 2222), "eth0");
    assert_conn_iface(find_conn(s.conns, s.conn_count, "[2606:4700::1111]:443", 5000), NULL);
    /* A dual-stack socket's IPv4-mapped peer is reported as the IPv4 address it is. */
    c = find_conn(s.conns, s.conn_count, "127.0.0.1:40001", 8883);
    assert_conn_iface(c, "lo");
    assert_int_equal(c->remote_ip.family, 4);

    assert_int_equal(s.udp_port_total, 2);
    assert_non_null(find_port(s.udp_ports, s.udp_port_count, 546, "eth0"));
    assert_non_null(find_port(s.udp_ports, s.udp_port_count, 5353, "::"));
    dd_collect_sample_free(&s);
}

static void test_dd_collect_empty(void **state)
{
    dd_collect_sample_t s;
    dd_collect_sample_t s2;
    dd_report_t r;
    double pct = -1.0;

    (void)state;
    assert_int_equal(dd_collect_sample(FIX("empty"), &s), DD_COLLECT_OK);
    assert_int_equal(s.iface_count, 1);
    assert_int_equal(s.tcp_port_total, 0);
    assert_int_equal(s.udp_port_total, 0);
    assert_int_equal(s.conn_total, 0);
    assert_false(s.has_cpu);
    assert_int_equal(dd_collect_sample(FIX("empty"), &s2), DD_COLLECT_OK);
    assert_int_equal(dd_collect_cpu_percent(&s, &s2, &pct), DD_COLLECT_NOT_FOUND);

    /* Empty lists are still written: an empty list is a conforming datapoint. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_collect_build_report(&s, &s2, 0, NULL, 7, &r), DD_COLLECT_OK);
    assert_true(r.tcp_ports.present);
    assert_int_equal(r.tcp_ports.count, 0);
    assert_true(r.tcp_ports.has_total);
    assert_int_equal(r.tcp_ports.total, 0);
    assert_true(r.udp_ports.present);
    assert_true(r.tcp_conns.present);
    assert_int_equal(r.tcp_conns.count, 0);
    assert_true(r.net.present);
    assert_int_equal(r.net.bytes_in, 0);
    dd_report_free(&r);
    dd_collect_sample_free(&s);
    dd_collect_sample_free(&s2);
}

static void test_dd_collect_missing_and_bad(void **state)
{
    dd_collect_sample_t s;
    char path[512];
    FILE *fp;

    (void)state;
    assert_int_equal(dd_collect_sample(FIX("no-such-case"), &s), DD_COLLECT_NOT_FOUND);
    assert_null(s.ifaces);
    assert_int_equal(dd_collect_sample(NULL, NULL), DD_COLLECT_BAD_PARAMETER);

    /* A net/dev line that is not the kernel's format is an error, not zeros. */
    (void)snprintf(path, sizeof(path), "/tmp/dd_collect_bad.XXXXXX");
    assert_non_null(mkdtemp(path));
    {
        char file[600];

        (void)snprintf(file, sizeof(file), "%s/net", path);
        assert_int_equal(mkdir(file, 0700), 0);
        (void)snprintf(file, sizeof(file), "%s/net/dev", path);
        fp = fopen(file, "w");
        assert_non_null(fp);
        fputs("h1\nh2\n  eth0: 1 2 3\n", fp);
        fclose(fp);
        assert_int_equal(dd_collect_sample(path, &s), DD_COLLECT_PARSE_ERROR);
        assert_null(s.ifaces);
        assert_int_equal(unlink(file), 0);
        (void)snprintf(file, sizeof(file), "%s/net", path);
        assert_int_equal(rmdir(file), 0);
        assert_int_equal(rmdir(path), 0);
    }
}

static void test_dd_collect_counter_wrap(void **state)
{
    dd_collect_sample_t a;
    dd_collect_sample_t b;
    dd_report_netstats_t ns;
    double pct = -1.0;

    (void)state;
    assert_int_equal(dd_collect_counter_delta(10, 25), 15);
    assert_int_equal(dd_collect_counter_delta(4294967000ULL, 200), 496);
    assert_int_equal(dd_collect_counter_delta(1000000, 10), 10);
    /* 64-bit counters never wrap in practice: a decrease is a reset. */
    assert_int_equal(dd_collect_counter_delta(0x100000000ULL * 5, 7), 7);

    assert_int_equal(dd_collect_sample(FIX("wrap-1"), &a), DD_COLLECT_OK);
    assert_int_equal(dd_collect_sample(FIX("wrap-2"), &b), DD_COLLECT_OK);
    assert_int_equal(dd_collect_netstats(&a, &b, &ns), DD_COLLECT_OK);
    assert_true(ns.present);
    /* lo +500, eth0 wrapped +496, wlan0 reset +10, tun0 new +300 */
    assert_int_equal(ns.bytes_in, 1306);
    assert_int_equal(ns.packets_in, 19);
    assert_int_equal(ns.bytes_out, 13216);
    assert_int_equal(ns.packets_out, 61);
    assert_int_equal(dd_collect_cpu_percent(&a, &b, &pct), DD_COLLECT_OK);
    assert_true(pct > 49.99 && pct < 50.01);
    /* Same sample twice: nothing moved. */
    assert_int_equal(dd_collect_netstats(&b, &b, &ns), DD_COLLECT_OK);
    assert_int_equal(ns.bytes_in + ns.bytes_out + ns.packets_in + ns.packets_out, 0);
    assert_int_equal(dd_collect_cpu_percent(&b, &b, &pct), DD_COLLECT_OK);
    assert_true(pct == 0.0);
    assert_int_equal(dd_collect_netstats(NULL, &b, &ns), DD_COLLECT_BAD_PARAMETER);
    dd_collect_sample_free(&a);
    dd_collect_sample_free(&b);
}

static void test_dd_collect_over_cap(void **state)
{
    dd_collect_sample_t s;
    dd_report_t r;
    uint64_t rng = 12345;
    size_t i;

    (void)state;
    assert_int_equal(dd_collect_sample(FIX("overcap"), &s), DD_COLLECT_OK);
    assert_int_equal(s.tcp_port_total, 120);
    assert_int_equal(s.conn_total, 75);
    assert_int_equal(s.udp_port_total, 60);

    /* Without a seed: the first 50 in /proc order. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_collect_build_report(&s, &s, 0, NULL, 99, &r), DD_COLLECT_OK);
    assert_int_equal(r.report_id, 99);
    assert_string_equal(r.version, "1.0");
    assert_int_equal(r.tcp_ports.count, DD_COLLECT_LIST_CAP);
    assert_int_equal(r.tcp_ports.total, 120);
    for (i = 0; i < r.tcp_ports.count; i++) {
        assert_int_equal(r.tcp_ports.items[i].port, 10000 + i);
        assert_string_equal(r.tcp_ports.items[i].interface, "0.0.0.0");
    }
    assert_int_equal(r.tcp_conns.count, DD_COLLECT_LIST_CAP);
    assert_int_equal(r.tcp_conns.total, 75);
    assert_string_equal(r.tcp_conns.items[0].local_interface, "eth0");
    assert_int_equal(r.udp_ports.count, DD_COLLECT_LIST_CAP);
    assert_int_equal(r.udp_ports.total, 60);
    dd_report_free(&r);

    /* With a seed: a random subset, distinct, kept in /proc order. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_collect_build_report(&s, &s, 10, &rng, 100, &r), DD_COLLECT_OK);
    assert_int_equal(r.tcp_ports.count, 10);
    assert_int_equal(r.tcp_ports.total, 120);
    for (i = 1; i < r.tcp_ports.count; i++) {
        assert_true(r.tcp_ports.items[i].port > r.tcp_ports.items[i - 1].port);
    }
    assert_true(r.tcp_ports.items[9].port <= 10119);
    assert_true(rng != 12345);
    dd_report_free(&r);

    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_collect_build_report(&s, &s, 0, NULL, 0, &r), DD_COLLECT_BAD_PARAMETER);
    dd_collect_sample_free(&s);
}

/* A report built from collector output, with a custom metric of each kind. */
static void build_full_report(dd_report_t *r)
{
    dd_collect_sample_t a;
    dd_collect_sample_t b;
    dd_collect_sample_t v6;
    dd_report_conn_t *conns;

    assert_int_equal(dd_collect_sample(FIX("wrap-1"), &a), DD_COLLECT_OK);
    assert_int_equal(dd_collect_sample(FIX("wrap-2"), &b), DD_COLLECT_OK);
    assert_int_equal(dd_collect_sample(FIX("ipv6"), &v6), DD_COLLECT_OK);
    /* Network counters from the wrap pair, lists from the IPv6 machine. */
    free(b.conns);
    free(b.tcp_ports);
    free(b.udp_ports);
    b.conns = v6.conns;
    b.conn_count = v6.conn_count;
    b.conn_total = v6.conn_total;
    b.tcp_ports = v6.tcp_ports;
    b.tcp_port_count = v6.tcp_port_count;
    b.tcp_port_total = v6.tcp_port_total;
    b.udp_ports = v6.udp_ports;
    b.udp_port_count = v6.udp_port_count;
    b.udp_port_total = v6.udp_port_total;
    v6.conns = NULL;
    v6.tcp_ports = NULL;
    v6.udp_ports = NULL;
    memset(r, 0, sizeof(*r));
    assert_int_equal(dd_collect_build_report(&a, &b, 0, NULL, 1700000000123ULL, r), DD_COLLECT_OK);
    conns = r->tcp_conns.items;
    assert_non_null(conns);

    r->custom = calloc(4, sizeof(*r->custom));
    assert_non_null(r->custom);
    r->custom_count = 4;
    r->has_custom_metrics = true;
    (void)snprintf(r->custom[0].name, sizeof(r->custom[0].name), "cpu_usage");
    r->custom[0].kind = DD_CUSTOM_NUMBER;
    r->custom[0].number = 12.5;
    (void)snprintf(r->custom[1].name, sizeof(r->custom[1].name), "temps");
    r->custom[1].kind = DD_CUSTOM_NUMBER_LIST;
    r->custom[1].count = 2;
    r->custom[1].numbers = calloc(2, sizeof(double));
    r->custom[1].numbers[0] = -1.5;
    r->custom[1].numbers[1] = 3;
    (void)snprintf(r->custom[2].name, sizeof(r->custom[2].name), "ifnames");
    r->custom[2].kind = DD_CUSTOM_STRING_LIST;
    r->custom[2].count = 1;
    r->custom[2].strings = calloc(1, sizeof(char *));
    r->custom[2].strings[0] = strdup("eth0");
    (void)snprintf(r->custom[3].name, sizeof(r->custom[3].name), "peers");
    r->custom[3].kind = DD_CUSTOM_IP_LIST;
    r->custom[3].count = 1;
    r->custom[3].ips = calloc(1, sizeof(dd_ip_t));
    assert_int_equal(dd_ip_parse("2001:db8::1", 11, &r->custom[3].ips[0]), DD_IP_OK);
    dd_collect_sample_free(&a);
    dd_collect_sample_free(&b);
    dd_collect_sample_free(&v6);
}

static void assert_same_ports(const dd_report_ports_t *a, const dd_report_ports_t *b)
{
    size_t i;

    assert_int_equal(a->present, b->present);
    assert_int_equal(a->has_total, b->has_total);
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->count, b->count);
    for (i = 0; i < a->count; i++) {
        assert_int_equal(a->items[i].port, b->items[i].port);
        assert_int_equal(a->items[i].has_interface, b->items[i].has_interface);
        assert_string_equal(a->items[i].interface, b->items[i].interface);
    }
}

static void assert_same_report(const dd_report_t *a, const dd_report_t *b)
{
    size_t i;

    assert_int_equal(a->report_id, b->report_id);
    assert_string_equal(a->version, b->version);
    assert_same_ports(&a->tcp_ports, &b->tcp_ports);
    assert_same_ports(&a->udp_ports, &b->udp_ports);
    assert_int_equal(a->tcp_conns.total, b->tcp_conns.total);
    assert_int_equal(a->tcp_conns.count, b->tcp_conns.count);
    for (i = 0; i < a->tcp_conns.count; i++) {
        const dd_report_conn_t *x = &a->tcp_conns.items[i];
        const dd_report_conn_t *y = &b->tcp_conns.items[i];

        assert_true(dd_ip_equal(&x->remote_ip, &y->remote_ip));
        assert_int_equal(x->remote_port, y->remote_port);
        assert_int_equal(x->local_port, y->local_port);
        assert_int_equal(x->has_local_interface, y->has_local_interface);
        assert_string_equal(x->local_interface, y->local_interface);
    }
    assert_int_equal(a->net.bytes_in, b->net.bytes_in);
    assert_int_equal(a->net.bytes_out, b->net.bytes_out);
    assert_int_equal(a->net.packets_in, b->net.packets_in);
    assert_int_equal(a->net.packets_out, b->net.packets_out);
    assert_int_equal(a->custom_count, b->custom_count);
    for (i = 0; i < a->custom_count; i++) {
        const dd_report_custom_t *x = &a->custom[i];
        const dd_report_custom_t *y = NULL;
        size_t j;

        for (j = 0; j < b->custom_count; j++) {
            if (strcmp(b->custom[j].name, x->name) == 0) {
                y = &b->custom[j];
            }
        }
        assert_non_null(y);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->count, y->count);
        if (x->kind == DD_CUSTOM_NUMBER) {
            assert_true(x->number == y->number);
        }
        for (j = 0; j < x->count; j++) {
            if (x->kind == DD_CUSTOM_NUMBER_LIST) {
                assert_true(x->numbers[j] == y->numbers[j]);
            } else if (x->kind == DD_CUSTOM_STRING_LIST) {
                assert_string_equal(x->strings[j], y->strings[j]);
            } else {
                assert_true(dd_ip_equal(&x->ips[j], &y->ips[j]));
            }
        }
    }
}

static void round_trip(dd_report_format_t format, dd_report_keys_t keys, const char *needle)
{
    dd_report_t r;
    dd_report_t back;
    dd_report_error_t err;
    static uint8_t buf[DD_REPORT_MAX_PAYLOAD];
    size_t len = 0;

    build_full_report(&r);
    assert_int_equal(dd_report_encode(&r, format, keys, buf, sizeof(buf), &len), DD_REPORT_OK);
    assert_true(len > 0);
    if (needle != NULL) {
        assert_non_null(strstr((const char *)buf, needle));
    }
    memset(&back, 0, sizeof(back));
    assert_int_equal(dd_report_decode(format, buf, len, &back, &err), DD_REPORT_OK);
    assert_same_report(&r, &back);
    dd_report_free(&back);
    dd_report_free(&r);
}

static void test_dd_collect_round_trip_json_long(void **state)
{
    (void)state;
    round_trip(DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_LONG, "\"bytes_in\":1306");
}

static void test_dd_collect_round_trip_json_short(void **state)
{
    (void)state;
    round_trip(DD_REPORT_FORMAT_JSON, DD_REPORT_KEYS_SHORT, "\"bi\":1306");
}

static void test_dd_collect_round_trip_cbor(void **state)
{
    (void)state;
    round_trip(DD_REPORT_FORMAT_CBOR, DD_REPORT_KEYS_LONG, NULL);
}

static void test_dd_collect_live(void **state)
{
    dd_collect_sample_t s;

    (void)state;
    /* The machine running the tests: at least lo, never an error. */
    assert_int_equal(dd_collect_sample(NULL, &s), DD_COLLECT_OK);
    assert_true(s.iface_count >= 1);
    assert_true(s.tcp_port_total >= s.tcp_port_count);
    dd_collect_sample_free(&s);
    assert_string_equal(dd_collect_strerror(DD_COLLECT_OK), "ok");
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static int bound(int type)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, type, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/*
 * Sockets of our own on the live system: found by the netlink path ("/proc"),
 * and by the /proc file parser ("/proc/." is not the live root, so it is read
 * as a copied tree: files, and no IPv4 interface names without net/if_inet4).
 */
static void test_dd_collect_live_sockets(void **state)
{
    int lst = bound(SOCK_STREAM);
    int udp = bound(SOCK_DGRAM);
    int cli = socket(AF_INET, SOCK_STREAM, 0);
    int acc;
    struct sockaddr_in sa;
    uint16_t tport;
    uint16_t uport;
    uint16_t cport;
    char remote[32];
    int pass;

    (void)state;
    assert_int_equal(listen(lst, 4), 0);
    tport = local_port(lst);
    uport = local_port(udp);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(tport);
    assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
    acc = accept(lst, NULL, NULL);
    assert_true(acc >= 0);
    cport = local_port(cli);
    for (pass = 0; pass < 2; pass++) {
        dd_collect_sample_t s;
        const char *iface = pass == 0 ? "lo" : NULL;

        assert_int_equal(dd_collect_sample(pass == 0 ? NULL : "/proc/.", &s), DD_COLLECT_OK);
        assert_non_null(find_port(s.tcp_ports, s.tcp_port_count, tport, iface));
        assert_non_null(find_port(s.udp_ports, s.udp_port_count, uport, iface));
        (void)snprintf(remote, sizeof(remote), "127.0.0.1:%u", (unsigned)tport);
        assert_conn_iface(find_conn(s.conns, s.conn_count, remote, cport), iface);
        (void)snprintf(remote, sizeof(remote), "127.0.0.1:%u", (unsigned)cport);
        assert_conn_iface(find_conn(s.conns, s.conn_count, remote, tport), iface);
        assert_true(s.tcp_port_total >= 1 && s.conn_total >= 2 && s.udp_port_total >= 1);
        dd_collect_sample_free(&s);
    }
    close(acc);
    close(cli);
    close(udp);
    close(lst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_collect_typical),
        cmocka_unit_test(test_dd_collect_ipv6),
        cmocka_unit_test(test_dd_collect_empty),
        cmocka_unit_test(test_dd_collect_missing_and_bad),
        cmocka_unit_test(test_dd_collect_counter_wrap),
        cmocka_unit_test(test_dd_collect_over_cap),
        cmocka_unit_test(test_dd_collect_round_trip_json_long),
        cmocka_unit_test(test_dd_collect_round_trip_json_short),
        cmocka_unit_test(test_dd_collect_round_trip_cbor),
        cmocka_unit_test(test_dd_collect_live),
        cmocka_unit_test(test_dd_collect_live_sockets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
