#include "dd_ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Longer than any address inet_pton() accepts ("ffff:...:255.255.255.255" is 45). */
#define ADDR_TEXT_MAX 64

static const uint8_t MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Copies (text, len) into a NUL-terminated buffer for inet_pton(); refuses
 * text that cannot be an address (too long, embedded NUL). */
static bool to_cstr(const char *text, size_t len, char *buf, size_t buf_len)
{
    if (len == 0 || len >= buf_len || memchr(text, '\0', len) != NULL) {
        return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    return true;
}

static dd_ip_status_t parse_family(const char *text, size_t len, int only_family, dd_ip_t *out)
{
    char tmp[ADDR_TEXT_MAX];

    memset(out, 0, sizeof(*out));
    if (!to_cstr(text, len, tmp, sizeof(tmp))) {
        return DD_IP_INVALID;
    }
    if (only_family != 6 && inet_pton(AF_INET, tmp, out->bytes) == 1) {
        out->family = 4;
        return DD_IP_OK;
    }
    if (only_family != 4 && inet_pton(AF_INET6, tmp, out->bytes) == 1) {
        out->family = 6;
        return DD_IP_OK;
    }
    memset(out, 0, sizeof(*out));
    return DD_IP_INVALID;
}

dd_ip_status_t dd_ip_parse(const char *text, size_t len, dd_ip_t *out)
{
    if (text == NULL || out == NULL) {
        return DD_IP_BAD_PARAMETER;
    }
    return parse_family(text, len, 0, out);
}

/* Parses 1..max_digits decimal digits into *out (<= max). */
static bool parse_small_uint(const char *s, size_t len, size_t max_digits, unsigned max,
                             unsigned *out)
{
    unsigned v = 0;
    size_t i;

    if (len == 0 || len > max_digits) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

dd_ip_status_t dd_cidr_parse(const char *text, size_t len, dd_cidr_t *out)
{
    const char *slash;
    unsigned prefix;
    dd_ip_status_t st;

    if (text == NULL || out == NULL) {
        return DD_IP_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    slash = memchr(text, '/', len);
    if (slash == NULL) {
        st = parse_family(text, len, 0, &out->base);
        if (st == DD_IP_OK) {
            out->prefix = out->base.family == 4 ? 32 : 128;
        }
        return st;
    }
    st = parse_family(text, (size_t)(slash - text), 0, &out->base);
    if (st != DD_IP_OK) {
        return st;
    }
    if (!parse_small_uint(slash + 1, len - (size_t)(slash - text) - 1, 3,
                          out->base.family == 4 ? 32u : 128u, &prefix)) {
        memset(out, 0, sizeof(*out));
        return DD_IP_INVALID;
    }
    out->prefix = (uint8_t)prefix;
    return DD_IP_OK;
}

static bool parse_port(const char *s, size_t len, uint16_t *port)
{
    unsigned v;

    if (!parse_small_uint(s, len, 5, 65535u, &v)) {
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

dd_ip_status_t dd_ip_parse_endpoint(const char *text, size_t len, dd_ip_t *ip, uint16_t *port)
{
    const char *colon = NULL;
    size_t colons = 0;
    size_t i;

    if (text == NULL || ip == NULL || port == NULL) {
        return DD_IP_BAD_PARAMETER;
    }
    memset(ip, 0, sizeof(*ip));
    *port = 0;
    if (len == 0) {
        return DD_IP_INVALID;
    }
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        size_t rest;

        if (close == NULL ||
            parse_family(text + 1, (size_t)(close - text) - 1, 6, ip) != DD_IP_OK) {
            return DD_IP_INVALID;
        }
        rest = len - (size_t)(close - text) - 1;
        if (rest == 0) {
            return DD_IP_OK;
        }
        if (close[1] != ':' || !parse_port(close + 2, rest - 1, port)) {
            memset(ip, 0, sizeof(*ip));
            return DD_IP_INVALID;
        }
        return DD_IP_OK;
    }
    for (i = 0; i < len; i++) {
        if (text[i] == ':') {
            colons++;
            colon = text + i;
        }
    }
    if (colons == 0) {
        return parse_family(text, len, 4, ip);
    }
    if (colons == 1) {
        if (parse_family(text, (size_t)(colon - text), 4, ip) != DD_IP_OK ||
            !parse_port(colon + 1, len - (size_t)(colon - text) - 1, port)) {
            memset(ip, 0, sizeof(*ip));
            *port = 0;
            return DD_IP_INVALID;
        }
        return DD_IP_OK;
    }
    /* Bracket-less IPv6 (aws-c-iot style): prefer "address:port" split at the last colon. */
    if (parse_port(colon + 1, len - (size_t)(colon - text) - 1, port) &&
        parse_family(text, (size_t)(colon - text), 6, ip) == DD_IP_OK) {
        return DD_IP_OK;
    }
    *port = 0;
    return parse_family(text, len, 6, ip);
}

dd_ip_status_t dd_ip_format(const dd_ip_t *ip, char *buf, size_t len)
{
    char tmp[DD_IP_TEXT_MAX];
    size_t n;

    if (ip == NULL || buf == NULL || len == 0 || (ip->family != 4 && ip->family != 6)) {
        return DD_IP_BAD_PARAMETER;
    }
    if (inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->bytes, tmp, sizeof(tmp)) == NULL) {
        return DD_IP_BAD_PARAMETER;
    }
    n = strlen(tmp);
    if (n >= len) {
        buf[0] = '\0';
        return DD_IP_BUFFER_TOO_SMALL;
    }
    memcpy(buf, tmp, n + 1);
    return DD_IP_OK;
}

dd_ip_status_t dd_cidr_format(const dd_cidr_t *cidr, char *buf, size_t len)
{
    char addr[DD_IP_TEXT_MAX];
    dd_ip_status_t st;
    int n;

    if (cidr == NULL || buf == NULL || len == 0) {
        return DD_IP_BAD_PARAMETER;
    }
    if (cidr->prefix > (cidr->base.family == 4 ? 32 : 128)) {
        return DD_IP_BAD_PARAMETER;
    }
    st = dd_ip_format(&cidr->base, addr, sizeof(addr));
    if (st != DD_IP_OK) {
        return st;
    }
    n = snprintf(buf, len, "%s/%u", addr, (unsigned)cidr->prefix);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return DD_IP_BUFFER_TOO_SMALL;
    }
    return DD_IP_OK;
}

dd_ip_status_t dd_ip_format_endpoint(const dd_ip_t *ip, uint16_t port, char *buf, size_t len)
{
    char addr[DD_IP_TEXT_MAX];
    dd_ip_status_t st;
    int n;

    if (ip == NULL || buf == NULL || len == 0) {
        return DD_IP_BAD_PARAMETER;
    }
    st = dd_ip_format(ip, addr, sizeof(addr));
    if (st != DD_IP_OK) {
        return st;
    }
    n = snprintf(buf, len, ip->family == 6 ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return DD_IP_BUFFER_TOO_SMALL;
    }
    return DD_IP_OK;
}

bool dd_ip_equal(const dd_ip_t *a, const dd_ip_t *b)
{
    if (a == NULL || b == NULL || a->family != b->family) {
        return false;
    }
    return memcmp(a->bytes, b->bytes, a->family == 4 ? 4 : 16) == 0;
}

/* First `prefix` bits of a and b are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8;
    unsigned rest = prefix % 8;

    if (memcmp(a, b, full) != 0) {
        return false;
    }
    if (rest != 0) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
    }
    return true;
}

static bool is_mapped(const dd_ip_t *ip)
{
    return ip->family == 6 && memcmp(ip->bytes, MAPPED_PREFIX, sizeof(MAPPED_PREFIX)) == 0;
}

bool dd_cidr_contains(const dd_cidr_t *cidr, const dd_ip_t *ip)
{
    const uint8_t *host;
    bool host_v4;

    if (cidr == NULL || ip == NULL) {
        return false;
    }
    /* Fold IPv4-mapped hosts to IPv4 so one host has one answer however it is written. */
    host_v4 = ip->family == 4 || is_mapped(ip);
    host = ip->family == 4 ? ip->bytes : (host_v4 ? ip->bytes + 12 : ip->bytes);
    if (ip->family != 4 && ip->family != 6) {
        return false;
    }
    if (cidr->base.family == 4) {
        return host_v4 && cidr->prefix <= 32 && prefix_equal(cidr->base.bytes, host, cidr->prefix);
    }
    if (cidr->base.family != 6 || cidr->prefix > 128) {
        return false;
    }
    if (!host_v4) {
        return prefix_equal(cidr->base.bytes, host, cidr->prefix);
    }
    /* An IPv4 host only meets IPv6 CIDRs that lie inside ::ffff:0:0/96. */
    if (cidr->prefix < 96 || !is_mapped(&cidr->base)) {
        return false;
    }
    return prefix_equal(cidr->base.bytes + 12, host, (unsigned)cidr->prefix - 96);
}

const char *dd_ip_strerror(dd_ip_status_t status)
{
    switch (status) {
    case DD_IP_OK: return "ok";
    case DD_IP_BAD_PARAMETER: return "bad parameter";
    case DD_IP_INVALID: return "not a valid IPv4/IPv6 address, CIDR or endpoint";
    case DD_IP_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown ip status";
}
