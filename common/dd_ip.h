/**
 * @file dd_ip.h
 * @brief IPv4/IPv6 addresses and CIDR blocks: parse, format, match.
 *
 * Used by the report codec (remote_addr "ip:port", "[v6]:port", "v6:port"),
 * the engine (in-cidr-set / not-in-cidr-set, aws:source-ip-address) and the
 * agent. Pure value types, no allocation. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) match IPv4 CIDRs.
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
    DD_IP_INVALID,          /**< Text is not an address / CIDR / endpoint. */
    DD_IP_BUFFER_TOO_SMALL
} dd_ip_status_t;

/** An IPv4 or IPv6 address. For IPv4 only bytes[0..3] are used. */
typedef struct dd_ip {
    uint8_t family;         /**< 4 or 6 */
    uint8_t bytes[16];      /**< Network byte order. */
} dd_ip_t;

/** A CIDR block (an address with a prefix length; a bare address is /32 or /128). */
typedef struct dd_cidr {
    dd_ip_t base;
    uint8_t prefix;
} dd_cidr_t;

/** Longest text form of an address or CIDR, including the NUL. */
#define DD_IP_TEXT_MAX 50

/** @brief Parses "1.2.3.4" or an IPv6 address (no brackets, no port). */
dd_ip_status_t dd_ip_parse(const char *text, size_t len, dd_ip_t *out);

/** @brief Parses "a.b.c.d/n", "v6/n" or a bare address. */
dd_ip_status_t dd_cidr_parse(const char *text, size_t len, dd_cidr_t *out);

/**
 * @brief Parses a remote endpoint as agents write it: "1.2.3.4:80",
 *        "[::1]:80" (Python agent), "::1:80" (last colon splits the port),
 *        or a bare address (port 0).
 * @param[out] ip Address.
 * @param[out] port Port, 0 when absent.
 */
dd_ip_status_t dd_ip_parse_endpoint(const char *text, size_t len, dd_ip_t *ip, uint16_t *port);

/** @brief Writes the canonical text form of @p ip. */
dd_ip_status_t dd_ip_format(const dd_ip_t *ip, char *buf, size_t len);

/** @return true when @p ip lies inside @p cidr (IPv4-mapped IPv6 counts as IPv4). */
bool dd_cidr_contains(const dd_cidr_t *cidr, const dd_ip_t *ip);

/** @return Static text for @p status. */
const char *dd_ip_strerror(dd_ip_status_t status);

#endif /* DD_IP_H_ */
