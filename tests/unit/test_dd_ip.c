#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_ip.h"

static dd_ip_t ip(const char *text)
{
    dd_ip_t out;

    assert_int_equal(dd_ip_parse(text, strlen(text), &out), DD_IP_OK);
    return out;
}

static dd_cidr_t cidr(const char *text)
{
    dd_cidr_t out;

    assert_int_equal(dd_cidr_parse(text, strlen(text), &out), DD_IP_OK);
    return out;
}

static void assert_formats_as(const char *text, const char *canonical)
{
    dd_ip_t a = ip(text);
    char buf[DD_IP_TEXT_MAX];

    assert_int_equal(dd_ip_format(&a, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, canonical);
}

static void assert_invalid(const char *text)
{
    dd_ip_t a;

    assert_int_equal(dd_ip_parse(text, strlen(text), &a), DD_IP_INVALID);
    assert_int_equal(a.family, 0);
}

static bool contains(const char *c, const char *a)
{
    dd_cidr_t block = cidr(c);
    dd_ip_t addr = ip(a);

    return dd_cidr_contains(&block, &addr);
}

static void test_dd_ip_v4_parse_and_format(void **state)
{
    dd_ip_t a;
    const char text[] = "10.0.0.1xyz";

    (void)state;
    a = ip("192.0.2.1");
    assert_int_equal(a.family, 4);
    assert_int_equal(a.bytes[0], 192);
    assert_int_equal(a.bytes[3], 1);
    assert_formats_as("0.0.0.0", "0.0.0.0");
    assert_formats_as("255.255.255.255", "255.255.255.255");
    /* Not NUL-terminated: only len bytes count. */
    assert_int_equal(dd_ip_parse(text, 8, &a), DD_IP_OK);
    assert_int_equal(a.bytes[3], 1);
    assert_invalid("256.1.1.1");
    assert_invalid("1.2.3");
    assert_invalid("01.2.3.4");
    assert_invalid("1.2.3.4 ");
    assert_invalid(" 1.2.3.4");
    assert_invalid("");
    assert_invalid("localhost");
    assert_invalid("1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27");
    assert_int_equal(dd_ip_parse("1.2.3.4\0", 8, &a), DD_IP_INVALID);
}

static void test_dd_ip_v6_parse_and_format(void **state)
{
    dd_ip_t a;

    (void)state;
    a = ip("2001:DB8::1");
    assert_int_equal(a.family, 6);
    assert_int_equal(a.bytes[0], 0x20);
    assert_int_equal(a.bytes[15], 1);
    assert_formats_as("2001:DB8::1", "2001:db8::1");
    assert_formats_as("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
    assert_formats_as("::", "::");
    assert_formats_as("::1", "::1");
    assert_formats_as("::ffff:1.2.3.4", "::ffff:1.2.3.4");
    assert_formats_as("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert_invalid("fe80::1%eth0");
    assert_invalid("[::1]");
    assert_invalid("1::2::3");
    assert_invalid("2001:db8::g");
    assert_true(dd_ip_equal(&a, &a));
}

static void test_dd_ip_format_errors(void **state)
{
    dd_ip_t a = ip("2001:db8::1");
    dd_ip_t bad = {0};
    char small[4];

    (void)state;
    assert_int_equal(dd_ip_format(&a, small, sizeof(small)), DD_IP_BUFFER_TOO_SMALL);
    assert_string_equal(small, "");
    assert_int_equal(dd_ip_format(&bad, small, sizeof(small)), DD_IP_BAD_PARAMETER);
    assert_int_equal(dd_ip_format(NULL, small, sizeof(small)), DD_IP_BAD_PARAMETER);
    assert_int_equal(dd_ip_parse(NULL, 1, &a), DD_IP_BAD_PARAMETER);
    assert_int_equal(dd_ip_parse("1.2.3.4", 7, NULL), DD_IP_BAD_PARAMETER);
    assert_true(strlen(dd_ip_strerror(DD_IP_INVALID)) > 0);
}

static void test_dd_ip_cidr_parse_edges(void **state)
{
    dd_cidr_t c;
    char buf[DD_IP_TEXT_MAX];

    (void)state;
    c = cidr("10.0.0.0/8");
    assert_int_equal(c.base.family, 4);
    assert_int_equal(c.prefix, 8);
    c = cidr("192.0.2.7");
    assert_int_equal(c.prefix, 32);
    c = cidr("2001:db8::1");
    assert_int_equal(c.prefix, 128);
    c = cidr("::/0");
    assert_int_equal(c.prefix, 0);
    c = cidr("10.1.2.3/8"); /* host bits are kept as written */
    assert_int_equal(dd_cidr_format(&c, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, "10.1.2.3/8");
    c = cidr("2001:DB8::/32");
    assert_int_equal(dd_cidr_format(&c, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, "2001:db8::/32");
    c = cidr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128");
    assert_int_equal(dd_cidr_format(&c, buf, sizeof(buf)), DD_IP_OK);
    assert_int_equal(dd_cidr_format(&c, buf, 10), DD_IP_BUFFER_TOO_SMALL);

    assert_int_equal(dd_cidr_parse("10.0.0.0/33", 11, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("::/129", 6, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("10.0.0.0/", 9, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("10.0.0.0/a", 10, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("10.0.0.0/-1", 11, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("10.0.0.0/8/8", 12, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("/8", 2, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse("10.0.0.0/1000", 13, &c), DD_IP_INVALID);
    assert_int_equal(dd_cidr_parse(NULL, 0, &c), DD_IP_BAD_PARAMETER);
}

static void test_dd_ip_cidr_contains_edges(void **state)
{
    dd_ip_t a = ip("10.0.0.1");

    (void)state;
    /* /0 and /32 */
    assert_true(contains("0.0.0.0/0", "255.255.255.255"));
    assert_true(contains("0.0.0.0/0", "0.0.0.0"));
    assert_true(contains("192.0.2.7/32", "192.0.2.7"));
    assert_false(contains("192.0.2.7/32", "192.0.2.6"));
    /* byte and bit boundaries */
    assert_true(contains("10.0.0.0/8", "10.255.255.255"));
    assert_false(contains("10.0.0.0/8", "11.0.0.0"));
    assert_true(contains("192.168.0.0/23", "192.168.1.255"));
    assert_false(contains("192.168.0.0/23", "192.168.2.0"));
    assert_true(contains("10.1.2.3/8", "10.9.9.9")); /* host bits ignored */
    /* IPv6 /0, /128, partial */
    assert_true(contains("::/0", "2001:db8::1"));
    assert_true(contains("2001:db8::1/128", "2001:db8::1"));
    assert_false(contains("2001:db8::1/128", "2001:db8::2"));
    assert_true(contains("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(contains("2001:db8::/33", "2001:db8:8000::1"));
    /* mismatched families */
    assert_false(contains("0.0.0.0/0", "2001:db8::1"));
    assert_false(contains("0.0.0.0/0", "::"));
    assert_false(contains("2001:db8::/32", "10.0.0.1"));
    assert_false(contains("::/0", "10.0.0.1"));
    /* IPv4-mapped IPv6 hosts match IPv4 CIDRs, and mapped CIDRs match IPv4 hosts */
    assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(contains("0.0.0.0/0", "::ffff:1.2.3.4"));
    assert_true(contains("::ffff:10.0.0.0/104", "10.1.2.3"));
    assert_true(contains("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"));
    assert_false(contains("::ffff:10.0.0.0/104", "11.1.2.3"));
    assert_true(contains("::ffff:0:0/96", "203.0.113.9"));
    assert_false(contains("::/0", "::ffff:10.1.2.3"));  /* one host, one answer: it is IPv4 */
    assert_false(contains("10.0.0.0/8", "::10.1.2.3")); /* IPv4-compatible is not mapped */
    /* NULLs */
    assert_false(dd_cidr_contains(NULL, &a));
    assert_false(dd_cidr_contains(&(dd_cidr_t){0}, &a));
}

static void assert_endpoint(const char *text, const char *addr, uint16_t want_port)
{
    dd_ip_t a;
    uint16_t port = 1234;
    char buf[DD_IP_TEXT_MAX];

    assert_int_equal(dd_ip_parse_endpoint(text, strlen(text), &a, &port), DD_IP_OK);
    assert_int_equal(dd_ip_format(&a, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, addr);
    assert_int_equal(port, want_port);
}

static void assert_bad_endpoint(const char *text)
{
    dd_ip_t a;
    uint16_t port = 1234;

    assert_int_equal(dd_ip_parse_endpoint(text, strlen(text), &a, &port), DD_IP_INVALID);
    assert_int_equal(port, 0);
    assert_int_equal(a.family, 0);
}

static void test_dd_ip_endpoints(void **state)
{
    dd_ip_t a;
    uint16_t port;
    char buf[DD_IP_ENDPOINT_TEXT_MAX];

    (void)state;
    assert_endpoint("127.0.0.1:51316", "127.0.0.1", 51316);
    assert_endpoint("1.2.3.4:0", "1.2.3.4", 0);
    assert_endpoint("1.2.3.4:65535", "1.2.3.4", 65535);
    assert_endpoint("1.2.3.4", "1.2.3.4", 0);
    assert_endpoint("[::1]:80", "::1", 80);
    assert_endpoint("[2001:db8::1]", "2001:db8::1", 0);
    assert_endpoint("::1:80", "::1", 80);
    assert_endpoint("2001:db8::1:443", "2001:db8::1", 443);
    assert_endpoint("2001:db8:::443", "2001:db8::", 443);
    assert_endpoint("fe80::abcd", "fe80::abcd", 0); /* "abcd" is no port: whole text */
    assert_endpoint("[::ffff:1.2.3.4]:8883", "::ffff:1.2.3.4", 8883);
    assert_bad_endpoint("");
    assert_bad_endpoint("1.2.3.4:");
    assert_bad_endpoint("1.2.3.4:65536");
    assert_bad_endpoint("1.2.3.4:-1");
    assert_bad_endpoint("1.2.3.4:123456");
    assert_bad_endpoint("1.2.3.4: 80");
    assert_bad_endpoint("[1.2.3.4]:80");
    assert_bad_endpoint("[::1");
    assert_bad_endpoint("[::1]x");
    assert_bad_endpoint("[::1]:");
    assert_bad_endpoint("host:80");
    assert_bad_endpoint(":80");
    assert_bad_endpoint("1.2.3.4:80:90");
    assert_int_equal(dd_ip_parse_endpoint(NULL, 0, &a, &port), DD_IP_BAD_PARAMETER);

    a = ip("::1");
    assert_int_equal(dd_ip_format_endpoint(&a, 80, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, "[::1]:80");
    a = ip("192.0.2.1");
    assert_int_equal(dd_ip_format_endpoint(&a, 8883, buf, sizeof(buf)), DD_IP_OK);
    assert_string_equal(buf, "192.0.2.1:8883");
    assert_int_equal(dd_ip_format_endpoint(&a, 8883, buf, 10), DD_IP_BUFFER_TOO_SMALL);
    a = ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    assert_int_equal(dd_ip_format_endpoint(&a, 65535, buf, sizeof(buf)), DD_IP_OK);
    assert_int_equal(dd_ip_parse_endpoint(buf, strlen(buf), &a, &port), DD_IP_OK);
    assert_int_equal(port, 65535);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_ip_v4_parse_and_format),
        cmocka_unit_test(test_dd_ip_v6_parse_and_format),
        cmocka_unit_test(test_dd_ip_format_errors),
        cmocka_unit_test(test_dd_ip_cidr_parse_edges),
        cmocka_unit_test(test_dd_ip_cidr_contains_edges),
        cmocka_unit_test(test_dd_ip_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
