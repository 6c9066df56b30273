/**
 * @file dd_ip.h
 * @brief IPv4/IPv6 addresses and CIDR blocks: parse, format, match.
 *
 * Used by the report codec (remote_addr "ip:port", "[v6]:port", "v6:port"),
 * the engine (in-cidr-set / not-in-cidr-set, aws:source-ip-address) and the
 * agent. Pure value types, no allocation, every function reentrant. Text
 * inputs are (pointer, length) and need not be NUL-terminated. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) match IPv4 CIDRs.
 */
#ifndef DD_IP_H_
#define DD_IP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_ip_status {
    DD_IP_OK = 0,
    DD_IP_BAD_PARAMETER,
    DD_IP_INVALID, /**< Text is not an address / CIDR / endpoint. */
    DD_IP_BUFFER_TOO_SMALL
} dd_ip_status_t;

/** An IPv4 or IPv6 address. For IPv4 only bytes[0..3] are used. */
typedef struct dd_ip {
    uint8_t family;    /**< 4 or 6 */
    uint8_t bytes[16]; /**< Network byte order. */
} dd_ip_t;

/** A CIDR block (an address with a prefix length; a bare address is /32 or /128). */
typedef struct dd_cidr {
    dd_ip_t base;
    uint8_t prefix;
} dd_cidr_t;

/** Longest text form of an address or CIDR, including the NUL. */
#define DD_IP_TEXT_MAX 50
/** Longest text form of an endpoint ("[v6]:65535"), including the NUL. */
#define DD_IP_ENDPOINT_TEXT_MAX 56

/**
 * @brief Parses "1.2.3.4" or an IPv6 address (no brackets, no port, no zone).
 *
 * Uses inet_pton(): IPv4 must be four decimal octets without leading zeros;
 * IPv6 may embed a dotted quad ("::ffff:1.2.3.4"). @p text need not be
 * NUL-terminated; an embedded NUL makes it invalid.
 * @param[in] text Address text.
 * @param[in] len Length of @p text.
 * @param[out] out Address (zeroed on failure).
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_INVALID.
 */
dd_ip_status_t dd_ip_parse(const char *text, size_t len, dd_ip_t *out);

/**
 * @brief Parses "a.b.c.d/n" (n 0..32), "v6/n" (n 0..128) or a bare address
 *        (/32 or /128). Host bits in the base are kept as written.
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_INVALID.
 */
dd_ip_status_t dd_cidr_parse(const char *text, size_t len, dd_cidr_t *out);

/**
 * @brief Parses a remote endpoint as agents write it: "1.2.3.4:80",
 *        "[::1]:80" (Python agent), "::1:80" (last colon splits the port),
 *        or a bare address (port 0).
 *
 * Unbracketed text with two or more colons is IPv6: when the part before the
 * last colon is an IPv6 address and the part after it a port, that split is
 * taken ("2001:db8::1:80" = 2001:db8::1 port 80, "::1" = :: port 1 -- the
 * inherent ambiguity of the bracket-less form); otherwise the whole text must
 * be an IPv6 address (port 0). Brackets hold IPv6 only. A port is 1 to 5
 * decimal digits, at most 65535.
 * @param[in] text Endpoint text.
 * @param[in] len Length of @p text.
 * @param[out] ip Address.
 * @param[out] port Port, 0 when absent.
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_INVALID.
 */
dd_ip_status_t dd_ip_parse_endpoint(const char *text, size_t len, dd_ip_t *ip, uint16_t *port);

/**
 * @brief Writes the canonical text form of @p ip (inet_ntop(): lowercase,
 *        longest zero run compressed, "::ffff:1.2.3.4" for mapped addresses).
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_BUFFER_TOO_SMALL
 *         (DD_IP_TEXT_MAX is always enough).
 */
dd_ip_status_t dd_ip_format(const dd_ip_t *ip, char *buf, size_t len);

/**
 * @return true when @p ip lies inside @p cidr.
 *
 * An IPv4 host, written "a.b.c.d" or IPv4-mapped "::ffff:a.b.c.d", matches
 * IPv4 CIDRs and IPv6 CIDRs inside ::ffff:0:0/96 (e.g. "::ffff:10.0.0.0/104"
 * = 10.0.0.0/8). Other IPv6 CIDRs (even ::/0) match only native IPv6
 * addresses; IPv4 CIDRs never match native IPv6 addresses. Host bits set in
 * the CIDR's base are ignored. NULL arguments give false.
 */
bool dd_cidr_contains(const dd_cidr_t *cidr, const dd_ip_t *ip);

/**
 * @brief Writes "a.b.c.d/n" or "v6/n" (canonical address, base as parsed).
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_BUFFER_TOO_SMALL
 *         (DD_IP_TEXT_MAX is always enough).
 */
dd_ip_status_t dd_cidr_format(const dd_cidr_t *cidr, char *buf, size_t len);

/**
 * @brief Writes an endpoint the way the Python agent does: "1.2.3.4:80" or
 *        "[::1]:80" (brackets keep IPv6 unambiguous; dd_ip_parse_endpoint()
 *        reads it back).
 * @return DD_IP_OK, DD_IP_BAD_PARAMETER or DD_IP_BUFFER_TOO_SMALL
 *         (DD_IP_ENDPOINT_TEXT_MAX is always enough).
 */
dd_ip_status_t dd_ip_format_endpoint(const dd_ip_t *ip, uint16_t port, char *buf, size_t len);

/** @return true when both are the same family and address (no mapped-address folding). */
bool dd_ip_equal(const dd_ip_t *a, const dd_ip_t *b);

/** @return Static text for @p status. */
const char *dd_ip_strerror(dd_ip_status_t status);

#endif /* DD_IP_H_ */
