/*
 * dd_collect: device metrics from /proc. See dd_collect.h for the rules
 * (interface mapping, wrap handling, caps).
 */
#include "dd_collect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PATH_BUF 4096
#define LINE_BUF 1024

/* TCP states as /proc/net/tcp prints them (include/net/tcp_states.h). */
#define TCP_ESTABLISHED 0x01
#define TCP_LISTEN 0x0A
/* An unconnected UDP socket shows TCP_CLOSE. */
#define UDP_UNCONNECTED 0x07

/** One interface address. */
typedef struct addr_entry {
    dd_cidr_t cidr;
    char name[DD_REPORT_IFACE_MAX + 1];
} addr_entry_t;

typedef struct addr_table {
    size_t count;
    size_t cap;
    addr_entry_t *items;
} addr_table_t;

/** A growable list with a hard keep limit; `total` counts everything seen. */
typedef struct grow {
    void *items;
    size_t count;
    size_t cap;
    uint64_t total;
} grow_t;

static bool is_live(const char *proc_root)
{
    return proc_root == NULL || strcmp(proc_root, "/proc") == 0 || strcmp(proc_root, "/proc/") == 0;
}

static dd_collect_status_t build_path(const char *root, const char *rel, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", root == NULL ? "/proc" : root, rel);

    return (n < 0 || (size_t)n >= len) ? DD_COLLECT_BAD_PARAMETER : DD_COLLECT_OK;
}

/* Opens root/rel; *fp NULL and OK when the file does not exist. */
static dd_collect_status_t open_opt(const char *root, const char *rel, FILE **fp)
{
    char path[PATH_BUF];
    dd_collect_status_t st = build_path(root, rel, path, sizeof(path));

    *fp = NULL;
    if (st != DD_COLLECT_OK) {
        return st;
    }
    *fp = fopen(path, "re");
    if (*fp == NULL) {
        return (errno == ENOENT || errno == ENOTDIR) ? DD_COLLECT_OK : DD_COLLECT_IO_ERROR;
    }
    return DD_COLLECT_OK;
}

/* Reads one line; drops the rest of an over-long line. false at EOF. */
static bool read_line(FILE *fp, char *buf, size_t len)
{
    size_t n;

    if (fgets(buf, (int)len, fp) == NULL) {
        return false;
    }
    n = strlen(buf);
    if (n > 0 && buf[n - 1] != '\n' && !feof(fp)) {
        int c;

        while ((c = fgetc(fp)) != EOF && c != '\n') {
        }
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    return true;
}

static void copy_name(char *dst, const char *src, size_t src_len)
{
    if (src_len > DD_REPORT_IFACE_MAX) {
        src_len = DD_REPORT_IFACE_MAX;
    }
    memcpy(dst, src, src_len);
    dst[src_len] = '\0';
}

/* ---- interface addresses ------------------------------------------------ */

static dd_collect_status_t table_add(addr_table_t *t, const dd_cidr_t *cidr, const char *name,
                                     size_t name_len)
{
    if (t->count == t->cap) {
        size_t cap = t->cap == 0 ? 16 : t->cap * 2;
        addr_entry_t *items = realloc(t->items, cap * sizeof(*items));

        if (items == NULL) {
            return DD_COLLECT_NO_MEMORY;
        }
        t->items = items;
        t->cap = cap;
    }
    t->items[t->count].cidr = *cidr;
    copy_name(t->items[t->count].name, name, name_len);
    t->count++;
    return DD_COLLECT_OK;
}

static uint8_t prefix_of_mask(const uint8_t *mask, size_t len)
{
    uint8_t n = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        uint8_t b = mask[i];

        while (b & 0x80u) {
            n++;
            b = (uint8_t)(b << 1);
        }
        if (mask[i] != 0xFFu) {
            break;
        }
    }
    return n;
}

/* getifaddrs(): also dumps every link with its statistics, which we do not need. */
static dd_collect_status_t load_ipv4_getifaddrs(addr_table_t *t)
{
    struct ifaddrs *list = NULL;
    struct ifaddrs *it;
    dd_collect_status_t st = DD_COLLECT_OK;

    if (getifaddrs(&list) != 0) {
        /* Names are a nicety: a failure here must not cost the whole report. */
        return DD_COLLECT_OK;
    }
    for (it = list; it != NULL && st == DD_COLLECT_OK; it = it->ifa_next) {
        dd_cidr_t c;

        if (it->ifa_addr == NULL || it->ifa_addr->sa_family != AF_INET || it->ifa_name == NULL) {
            continue;
        }
        memset(&c, 0, sizeof(c));
        c.base.family = 4;
        memcpy(c.base.bytes, &((const struct sockaddr_in *)(const void *)it->ifa_addr)->sin_addr,
               4);
        c.prefix = 32;
        if (it->ifa_netmask != NULL && it->ifa_netmask->sa_family == AF_INET) {
            c.prefix = prefix_of_mask((const uint8_t *)&(
                                          (const struct sockaddr_in *)(const void *)it->ifa_netmask)
                                          ->sin_addr,
                                      4);
        }
        st = table_add(t, &c, it->ifa_name, strlen(it->ifa_name));
    }
    freeifaddrs(list);
    return st;
}

/*
 * IPv4 addresses of the live system: one RTM_GETADDR dump, the interface
 * name from IFA_LABEL (set for every IPv4 address). false when rtnetlink
 * is unavailable (the caller uses getifaddrs()).
 */
static bool load_ipv4_live(addr_table_t *t, dd_collect_status_t *st)
{
    struct {
        struct nlmsghdr nlh;
        struct ifaddrmsg ifa;
    } req;
    struct sockaddr_nl nladdr;
    union {
        struct nlmsghdr align;
        char bytes[16384];
    } buf;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
    bool done = false;
    bool ok = true;

    *st = DD_COLLECT_OK;
    if (fd < 0) {
        return false;
    }
    memset(&req, 0, sizeof(req));
    req.nlh.nlmsg_len = sizeof(req);
    req.nlh.nlmsg_type = RTM_GETADDR;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.ifa.ifa_family = AF_INET;
    memset(&nladdr, 0, sizeof(nladdr));
    nladdr.nl_family = AF_NETLINK;
    if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) < 0) {
        close(fd);
        return false;
    }
    while (!done && ok && *st == DD_COLLECT_OK) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        struct nlmsghdr *h;

        if (poll(&pfd, 1, 1000) <= 0 || (n = recv(fd, buf.bytes, sizeof(buf.bytes), 0)) <= 0) {
            ok = false;
            break;
        }
        for (h = &buf.align; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            const struct ifaddrmsg *ifa;
            const struct rtattr *rta;
            int len;
            const void *addr = NULL;
            const char *label = NULL;
            dd_cidr_t c;

            if (h->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                ok = false;
                break;
            }
            if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa))) {
                continue;
            }
            ifa = NLMSG_DATA(h);
            len = (int)IFA_PAYLOAD(h);
            for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
                if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) == 4) {
                    addr = RTA_DATA(rta);
                } else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == 4 && addr == NULL) {
                    addr = RTA_DATA(rta);
                } else if (rta->rta_type == IFA_LABEL && RTA_PAYLOAD(rta) > 0) {
                    label = RTA_DATA(rta);
                }
            }
            if (ifa->ifa_family != AF_INET || addr == NULL || label == NULL) {
                continue;
            }
            memset(&c, 0, sizeof(c));
            c.base.family = 4;
            memcpy(c.base.bytes, addr, 4);
            c.prefix = ifa->ifa_prefixlen > 32 ? 32 : ifa->ifa_prefixlen;
            /* "eth0:1" is an alias label of eth0; the interface is eth0. */
            *st = table_add(t, &c, label, strcspn(label, ":"));
        }
    }
    close(fd);
    if (!ok) {
        t->count = 0;
    }
    return ok;
}

/* net/if_inet4 (ddlocal fixture format): "ADDRESS/PREFIX NAME" per line. */
static dd_collect_status_t load_ipv4_file(const char *root, addr_table_t *t)
{
    FILE *fp;
    char line[LINE_BUF];
    dd_collect_status_t st = open_opt(root, "net/if_inet4", &fp);

    if (st != DD_COLLECT_OK || fp == NULL) {
        return st;
    }
    while (st == DD_COLLECT_OK && read_line(fp, line, sizeof(line))) {
        char addr[64];
        char name[64];
        dd_cidr_t c;
        char *hash = strchr(line, '#');

        if (hash != NULL) {
            *hash = '\0';
        }
        if (sscanf(line, "%63s %63s", addr, name) != 2) {
            continue;
        }
        if (dd_cidr_parse(addr, strlen(addr), &c) != DD_IP_OK || c.base.family != 4) {
            continue;
        }
        st = table_add(t, &c, name, strlen(name));
    }
    fclose(fp);
    return st;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* net/if_inet6: "<32 hex, network order> <ifindex> <plen> <scope> <flags> <name>". */
static dd_collect_status_t load_ipv6(const char *root, addr_table_t *t)
{
    FILE *fp;
    char line[LINE_BUF];
    dd_collect_status_t st = open_opt(root, "net/if_inet6", &fp);

    if (st != DD_COLLECT_OK || fp == NULL) {
        return st;
    }
    while (st == DD_COLLECT_OK && read_line(fp, line, sizeof(line))) {
        char hex[64];
        char name[64];
        unsigned ifindex;
        unsigned plen;
        unsigned scope;
        unsigned flags;
        dd_cidr_t c;
        size_t i;
        bool ok = true;

        if (sscanf(line, "%63s %x %x %x %x %63s", hex, &ifindex, &plen, &scope, &flags, name) !=
                6 ||
            strlen(hex) != 32 || plen > 128) {
            continue;
        }
        memset(&c, 0, sizeof(c));
        c.base.family = 6;
        c.prefix = (uint8_t)plen;
        for (i = 0; i < 16; i++) {
            int hi = hex_value(hex[2 * i]);
            int lo = hex_value(hex[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                ok = false;
                break;
            }
            c.base.bytes[i] = (uint8_t)(hi * 16 + lo);
        }
        if (ok) {
            st = table_add(t, &c, name, strlen(name));
        }
    }
    fclose(fp);
    return st;
}

static bool ip_is_zero(const dd_ip_t *ip)
{
    size_t n = ip->family == 4 ? 4 : 16;
    size_t i;

    for (i = 0; i < n; i++) {
        if (ip->bytes[i] != 0) {
            return false;
        }
    }
    return true;
}

/* ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged. */
static dd_ip_t unmap(const dd_ip_t *ip)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    dd_ip_t out = *ip;

    if (ip->family == 6 && memcmp(ip->bytes, prefix, sizeof(prefix)) == 0) {
        memset(&out, 0, sizeof(out));
        out.family = 4;
        memcpy(out.bytes, ip->bytes + 12, 4);
    }
    return out;
}

/* Sets iface/has to the interface owning @p local (see the header's rules). */
static void lookup_iface(const addr_table_t *t, const dd_ip_t *local, char *iface, bool *has)
{
    dd_ip_t ip = unmap(local);
    const addr_entry_t *best = NULL;
    size_t i;

    *has = false;
    iface[0] = '\0';
    if (ip_is_zero(&ip)) {
        /* The Python agent names a wildcard bind by its address. */
        (void)snprintf(iface, DD_REPORT_IFACE_MAX + 1, "%s", local->family == 4 ? "0.0.0.0" : "::");
        *has = true;
        return;
    }
    for (i = 0; i < t->count; i++) {
        const addr_entry_t *e = &t->items[i];

        if (e->cidr.base.family != ip.family) {
            continue;
        }
        if (dd_ip_equal(&e->cidr.base, &ip)) {
            best = e;
            break;
        }
        if (dd_cidr_contains(&e->cidr, &ip) &&
            (best == NULL || e->cidr.prefix > best->cidr.prefix)) {
            best = e;
        }
    }
    if (best != NULL) {
        (void)snprintf(iface, DD_REPORT_IFACE_MAX + 1, "%s", best->name);
        *has = true;
    }
}

/* ---- lists --------------------------------------------------------------- */

static dd_collect_status_t grow_reserve(grow_t *g, size_t elem)
{
    if (g->count == g->cap) {
        size_t cap = g->cap == 0 ? 16 : g->cap * 2;
        void *items;

        if (cap > DD_COLLECT_KEEP_MAX) {
            cap = DD_COLLECT_KEEP_MAX;
        }
        items = realloc(g->items, cap * elem);
        if (items == NULL) {
            return DD_COLLECT_NO_MEMORY;
        }
        g->items = items;
        g->cap = cap;
    }
    return DD_COLLECT_OK;
}

static dd_collect_status_t add_port(grow_t *g, uint16_t port, const char *iface, bool has_iface)
{
    dd_report_port_t *items = g->items;
    size_t i;
    dd_collect_status_t st;

    for (i = 0; i < g->count; i++) {
        if (items[i].port == port && items[i].has_interface == has_iface &&
            strcmp(items[i].interface, iface) == 0) {
            return DD_COLLECT_OK;
        }
    }
    g->total++;
    if (g->count >= DD_COLLECT_KEEP_MAX) {
        return DD_COLLECT_OK;
    }
    st = grow_reserve(g, sizeof(dd_report_port_t));
    if (st != DD_COLLECT_OK) {
        return st;
    }
    items = g->items;
    memset(&items[g->count], 0, sizeof(items[g->count]));
    items[g->count].port = port;
    items[g->count].has_interface = has_iface;
    (void)snprintf(items[g->count].interface, sizeof(items[g->count].interface), "%s", iface);
    g->count++;
    return DD_COLLECT_OK;
}

static dd_collect_status_t add_conn(grow_t *g, const dd_ip_t *rip, uint16_t rport, uint16_t lport,
                                    const char *iface, bool has_iface)
{
    dd_report_conn_t *c;
    dd_collect_status_t st;

    g->total++;
    if (g->count >= DD_COLLECT_KEEP_MAX) {
        return DD_COLLECT_OK;
    }
    st = grow_reserve(g, sizeof(dd_report_conn_t));
    if (st != DD_COLLECT_OK) {
        return st;
    }
    c = &((dd_report_conn_t *)g->items)[g->count];
    memset(c, 0, sizeof(*c));
    c->remote_ip = unmap(rip);
    c->remote_port = rport;
    c->has_local_port = true;
    c->local_port = lport;
    c->has_local_interface = has_iface;
    (void)snprintf(c->local_interface, sizeof(c->local_interface), "%s", iface);
    g->count++;
    return DD_COLLECT_OK;
}

/* ---- net/tcp, net/udp ------------------------------------------------------ */

/* "0100007F" or 32 hex digits, each 32-bit word printed in host order. */
static bool parse_proc_addr(const char *hex, dd_ip_t *ip)
{
    size_t len = strlen(hex);
    size_t words;
    size_t w;

    memset(ip, 0, sizeof(*ip));
    if (len == 8) {
        ip->family = 4;
        words = 1;
    } else if (len == 32) {
        ip->family = 6;
        words = 4;
    } else {
        return false;
    }
    for (w = 0; w < words; w++) {
        uint32_t v = 0;
        size_t i;

        for (i = 0; i < 8; i++) {
            int d = hex_value(hex[w * 8 + i]);

            if (d < 0) {
                return false;
            }
            v = (v << 4) | (uint32_t)d;
        }
        memcpy(ip->bytes + w * 4, &v, 4);
    }
    return true;
}

typedef enum sock_kind { SOCK_TCP, SOCK_UDP } sock_kind_t;

static dd_collect_status_t read_sockets(const char *root, const char *rel, sock_kind_t kind,
                                        const addr_table_t *addrs, grow_t *ports, grow_t *conns)
{
    FILE *fp;
    char line[LINE_BUF];
    bool header = true;
    dd_collect_status_t st = open_opt(root, rel, &fp);

    if (st != DD_COLLECT_OK || fp == NULL) {
        return st;
    }
    while (st == DD_COLLECT_OK && read_line(fp, line, sizeof(line))) {
        char lhex[40];
        char rhex[40];
        unsigned lport;
        unsigned rport;
        unsigned state;
        dd_ip_t lip;
        dd_ip_t rip;
        char iface[DD_REPORT_IFACE_MAX + 1];
        bool has_iface;

        if (header) {
            header = false;
            continue;
        }
        if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x", lhex, &lport, rhex, &rport,
                   &state) != 5 ||
            lport > 0xFFFFu || rport > 0xFFFFu || !parse_proc_addr(lhex, &lip) ||
            !parse_proc_addr(rhex, &rip)) {
            /* Tolerate a line we do not understand rather than lose the report. */
            continue;
        }
        if (kind == SOCK_TCP && state == TCP_LISTEN && lport != 0) {
            lookup_iface(addrs, &lip, iface, &has_iface);
            st = add_port(ports, (uint16_t)lport, iface, has_iface);
        } else if (kind == SOCK_TCP && state == TCP_ESTABLISHED) {
            lookup_iface(addrs, &lip, iface, &has_iface);
            st = add_conn(conns, &rip, (uint16_t)rport, (uint16_t)lport, iface, has_iface);
        } else if (kind == SOCK_UDP && state == UDP_UNCONNECTED && lport != 0) {
            lookup_iface(addrs, &lip, iface, &has_iface);
            st = add_port(ports, (uint16_t)lport, iface, has_iface);
        }
    }
    fclose(fp);
    return st;
}

/*
 * The live system's sockets through NETLINK_SOCK_DIAG, what `ss` uses.
 * /proc/net/tcp{,6} make the kernel walk its whole TCP hash table, sized by
 * the machine's memory: 3.5 ms per file on a 24 GB host, for a handful of
 * sockets. The netlink dump skips empty buckets and filters states in the
 * kernel. Returns false (nothing added) when the kernel has no inet_diag /
 * udp_diag, and the caller reads the /proc file instead.
 */
static bool diag_sockets(int family, int protocol, sock_kind_t kind, const addr_table_t *addrs,
                         grow_t *ports, grow_t *conns, dd_collect_status_t *st)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req req;
    } legacy;
    struct sockaddr_nl nladdr;
    const void *out;
    size_t out_len;
    union {
        struct nlmsghdr align;
        char bytes[32768];
    } buf;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    bool done = false;
    bool ok = true;

    *st = DD_COLLECT_OK;
    if (fd < 0) {
        return false;
    }
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = (uint8_t)family;
    msg.req.sdiag_protocol = (uint8_t)protocol;
    msg.req.idiag_states =
        kind == SOCK_TCP ? ((1u << TCP_LISTEN) | (1u << TCP_ESTABLISHED)) : (1u << UDP_UNCONNECTED);
    out = &msg;
    out_len = sizeof(msg);
    if (family == AF_UNSPEC) {
        /*
         * The old TCPDIAG_GETSOCK request dumps IPv4 and IPv6 TCP sockets in
         * one walk of the kernel's hash tables (it becomes an AF_UNSPEC dump);
         * per-family requests walk them twice, and the walk is most of the
         * cost of a sample.
         */
        memset(&legacy, 0, sizeof(legacy));
        legacy.nlh.nlmsg_len = sizeof(legacy);
        legacy.nlh.nlmsg_type = TCPDIAG_GETSOCK;
        legacy.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        legacy.req.idiag_family = AF_INET;
        legacy.req.idiag_states = msg.req.idiag_states;
        out = &legacy;
        out_len = sizeof(legacy);
    }
    memset(&nladdr, 0, sizeof(nladdr));
    nladdr.nl_family = AF_NETLINK;
    if (sendto(fd, out, out_len, 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) < 0) {
        close(fd);
        return false;
    }
    while (!done && ok && *st == DD_COLLECT_OK) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        struct nlmsghdr *h;

        /* The kernel answers at once; a silent socket means something is wrong. */
        if (poll(&pfd, 1, 1000) <= 0) {
            ok = false;
            break;
        }
        n = recv(fd, buf.bytes, sizeof(buf.bytes), 0);
        if (n <= 0) {
            ok = false;
            break;
        }
        for (h = &buf.align; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            const struct inet_diag_msg *d;
            dd_ip_t lip;
            dd_ip_t rip;
            uint16_t lport;
            uint16_t rport;
            char iface[DD_REPORT_IFACE_MAX + 1];
            bool has_iface;

            if (h->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                /* No inet_diag/udp_diag for this family or protocol. */
                ok = false;
                break;
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*d))) {
                continue;
            }
            d = NLMSG_DATA(h);
            if (d->idiag_family != AF_INET && d->idiag_family != AF_INET6) {
                continue;
            }
            memset(&lip, 0, sizeof(lip));
            memset(&rip, 0, sizeof(rip));
            lip.family = rip.family = d->idiag_family == AF_INET ? 4 : 6;
            memcpy(lip.bytes, d->id.idiag_src, lip.family == 4 ? 4 : 16);
            memcpy(rip.bytes, d->id.idiag_dst, rip.family == 4 ? 4 : 16);
            lport = ntohs(d->id.idiag_sport);
            rport = ntohs(d->id.idiag_dport);
            if (lport == 0 && d->idiag_state != TCP_ESTABLISHED) {
                continue;
            }
            lookup_iface(addrs, &lip, iface, &has_iface);
            if (kind == SOCK_TCP && d->idiag_state == TCP_ESTABLISHED) {
                *st = add_conn(conns, &rip, rport, lport, iface, has_iface);
            } else if (d->idiag_state == TCP_LISTEN || d->idiag_state == UDP_UNCONNECTED) {
                *st = add_port(ports, lport, iface, has_iface);
            }
            if (*st != DD_COLLECT_OK) {
                break;
            }
        }
    }
    close(fd);
    return ok;
}

/* Live: netlink, else the file; a copied tree: the file. */
static dd_collect_status_t sockets(const char *root, int family, const char *rel, sock_kind_t kind,
                                   const addr_table_t *addrs, grow_t *ports, grow_t *conns)
{
    if (is_live(root) && family != AF_UNSPEC) {
        grow_t p_try = {0};
        grow_t c_try = {0};
        dd_collect_status_t st;

        /* Into scratch lists: a dump that fails half-way must not count twice. */
        if (diag_sockets(family, kind == SOCK_TCP ? IPPROTO_TCP : IPPROTO_UDP, kind, addrs, &p_try,
                         &c_try, &st)) {
            size_t i;

            for (i = 0; st == DD_COLLECT_OK && i < p_try.count; i++) {
                const dd_report_port_t *pt = &((dd_report_port_t *)p_try.items)[i];

                st = add_port(ports, pt->port, pt->interface, pt->has_interface);
            }
            /* Ports beyond the keep limit were only counted. */
            ports->total += p_try.total - p_try.count;
            for (i = 0; st == DD_COLLECT_OK && i < c_try.count; i++) {
                const dd_report_conn_t *c = &((dd_report_conn_t *)c_try.items)[i];

                st = add_conn(conns, &c->remote_ip, c->remote_port, c->local_port,
                              c->local_interface, c->has_local_interface);
            }
            if (conns != NULL) {
                conns->total += c_try.total - c_try.count;
            }
            free(p_try.items);
            free(c_try.items);
            return st;
        }
        free(p_try.items);
        free(c_try.items);
        if (st != DD_COLLECT_OK) {
            return st;
        }
    }
    return read_sockets(root, rel, kind, addrs, ports, conns);
}

/* ---- net/dev, stat --------------------------------------------------------- */

/* @p n unsigned decimal numbers separated by blanks (sscanf costs more than the read). */
static bool parse_counters(const char *p, uint64_t *v, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        char *end;

        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p < '0' || *p > '9') {
            return false;
        }
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno == ERANGE) {
            return false;
        }
        p = end;
    }
    return true;
}

static dd_collect_status_t read_netdev(const char *root, dd_collect_sample_t *out)
{
    FILE *fp;
    char line[LINE_BUF];
    unsigned lineno = 0;
    size_t cap = 0;
    dd_collect_status_t st = open_opt(root, "net/dev", &fp);

    if (st != DD_COLLECT_OK) {
        return st;
    }
    if (fp == NULL) {
        return DD_COLLECT_NOT_FOUND;
    }
    while (st == DD_COLLECT_OK && read_line(fp, line, sizeof(line))) {
        char *colon;
        const char *name;
        size_t name_len;
        uint64_t v[16];
        dd_collect_iface_t *it;

        if (++lineno <= 2) {
            continue;
        }
        colon = strrchr(line, ':');
        if (colon == NULL) {
            if (line[strspn(line, " \t")] == '\0') {
                continue;
            }
            st = DD_COLLECT_PARSE_ERROR;
            break;
        }
        *colon = '\0';
        name = line + strspn(line, " \t");
        name_len = strlen(name);
        while (name_len > 0 && (name[name_len - 1] == ' ' || name[name_len - 1] == '\t')) {
            name_len--;
        }
        if (name_len == 0 || !parse_counters(colon + 1, v, 16)) {
            st = DD_COLLECT_PARSE_ERROR;
            break;
        }
        if (out->iface_count >= DD_COLLECT_MAX_IFACES) {
            continue;
        }
        if (out->iface_count == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            dd_collect_iface_t *items = realloc(out->ifaces, ncap * sizeof(*items));

            if (items == NULL) {
                st = DD_COLLECT_NO_MEMORY;
                break;
            }
            out->ifaces = items;
            cap = ncap;
        }
        it = &out->ifaces[out->iface_count++];
        memset(it, 0, sizeof(*it));
        copy_name(it->name, name, name_len);
        it->bytes_in = v[0];
        it->packets_in = v[1];
        it->bytes_out = v[8];
        it->packets_out = v[9];
    }
    fclose(fp);
    return st;
}

static dd_collect_status_t read_stat(const char *root, dd_collect_sample_t *out)
{
    FILE *fp;
    char line[LINE_BUF];
    dd_collect_status_t st = open_opt(root, "stat", &fp);

    if (st != DD_COLLECT_OK || fp == NULL) {
        return st;
    }
    while (read_line(fp, line, sizeof(line))) {
        uint64_t v[8] = {0};
        int n;

        if (strncmp(line, "cpu ", 4) != 0) {
            continue;
        }
        n = sscanf(line + 4,
                   "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                   " %" SCNu64 " %" SCNu64,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n >= 4) {
            uint64_t idle = v[3] + v[4];

            out->cpu_all = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
            out->cpu_busy = out->cpu_all - idle;
            out->has_cpu = true;
        }
        break;
    }
    fclose(fp);
    return DD_COLLECT_OK;
}

/* ---- public --------------------------------------------------------------- */

dd_collect_status_t dd_collect_sample(const char *proc_root, dd_collect_sample_t *out)
{
    addr_table_t addrs = {0};
    grow_t tcp_ports = {0};
    grow_t udp_ports = {0};
    grow_t conns = {0};
    char probe[PATH_BUF];
    bool tcp_done = false;
    dd_collect_status_t st;

    if (out == NULL) {
        return DD_COLLECT_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    st = build_path(proc_root, "net/tcp6", probe, sizeof(probe));
    if (st != DD_COLLECT_OK) {
        return st;
    }
    st = read_netdev(proc_root, out);
    if (st == DD_COLLECT_OK) {
        if (!is_live(proc_root)) {
            st = load_ipv4_file(proc_root, &addrs);
        } else if (!load_ipv4_live(&addrs, &st) && st == DD_COLLECT_OK) {
            st = load_ipv4_getifaddrs(&addrs);
        }
    }
    if (st == DD_COLLECT_OK) {
        st = load_ipv6(proc_root, &addrs);
    }
    if (st == DD_COLLECT_OK && is_live(proc_root)) {
        /* Both TCP families in one kernel walk when the kernel allows it. */
        dd_collect_status_t dst = DD_COLLECT_OK;

        tcp_done = diag_sockets(AF_UNSPEC, IPPROTO_TCP, SOCK_TCP, &addrs, &tcp_ports, &conns, &dst);
        st = dst;
        if (!tcp_done) {
            /* Whatever a failed dump added would count twice. */
            tcp_ports.count = 0;
            tcp_ports.total = 0;
            conns.count = 0;
            conns.total = 0;
        }
    }
    if (st == DD_COLLECT_OK && !tcp_done) {
        st = sockets(proc_root, AF_INET, "net/tcp", SOCK_TCP, &addrs, &tcp_ports, &conns);
    }
    if (st == DD_COLLECT_OK && !tcp_done) {
        st = sockets(proc_root, AF_INET6, "net/tcp6", SOCK_TCP, &addrs, &tcp_ports, &conns);
    }
    if (st == DD_COLLECT_OK) {
        st = sockets(proc_root, AF_INET, "net/udp", SOCK_UDP, &addrs, &udp_ports, NULL);
    }
    if (st == DD_COLLECT_OK) {
        st = sockets(proc_root, AF_INET6, "net/udp6", SOCK_UDP, &addrs, &udp_ports, NULL);
    }
    if (st == DD_COLLECT_OK) {
        st = read_stat(proc_root, out);
    }
    free(addrs.items);
    out->tcp_ports = tcp_ports.items;
    out->tcp_port_count = tcp_ports.count;
    out->tcp_port_total = tcp_ports.total;
    out->udp_ports = udp_ports.items;
    out->udp_port_count = udp_ports.count;
    out->udp_port_total = udp_ports.total;
    out->conns = conns.items;
    out->conn_count = conns.count;
    out->conn_total = conns.total;
    if (st != DD_COLLECT_OK) {
        dd_collect_sample_free(out);
    }
    return st;
}

void dd_collect_sample_free(dd_collect_sample_t *sample)
{
    if (sample == NULL) {
        return;
    }
    free(sample->ifaces);
    free(sample->tcp_ports);
    free(sample->udp_ports);
    free(sample->conns);
    memset(sample, 0, sizeof(*sample));
}

uint64_t dd_collect_counter_delta(uint64_t prev, uint64_t cur)
{
    if (cur >= prev) {
        return cur - prev;
    }
    if (prev >= 0x80000000ULL && prev <= 0xFFFFFFFFULL) {
        return (0x100000000ULL - prev) + cur;
    }
    return cur;
}

dd_collect_status_t dd_collect_netstats(const dd_collect_sample_t *prev,
                                        const dd_collect_sample_t *cur, dd_report_netstats_t *out)
{
    size_t i;

    if (prev == NULL || cur == NULL || out == NULL) {
        return DD_COLLECT_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    out->present = true;
    out->has_bytes_in = out->has_bytes_out = out->has_packets_in = out->has_packets_out = true;
    for (i = 0; i < cur->iface_count; i++) {
        const dd_collect_iface_t *c = &cur->ifaces[i];
        dd_collect_iface_t zero;
        const dd_collect_iface_t *p = NULL;
        size_t j;

        for (j = 0; j < prev->iface_count; j++) {
            if (strcmp(prev->ifaces[j].name, c->name) == 0) {
                p = &prev->ifaces[j];
                break;
            }
        }
        if (p == NULL) {
            memset(&zero, 0, sizeof(zero));
            p = &zero;
        }
        out->bytes_in += dd_collect_counter_delta(p->bytes_in, c->bytes_in);
        out->bytes_out += dd_collect_counter_delta(p->bytes_out, c->bytes_out);
        out->packets_in += dd_collect_counter_delta(p->packets_in, c->packets_in);
        out->packets_out += dd_collect_counter_delta(p->packets_out, c->packets_out);
    }
    return DD_COLLECT_OK;
}

dd_collect_status_t dd_collect_cpu_percent(const dd_collect_sample_t *prev,
                                           const dd_collect_sample_t *cur, double *percent)
{
    uint64_t all;
    uint64_t busy;
    double p;

    if (prev == NULL || cur == NULL || percent == NULL) {
        return DD_COLLECT_BAD_PARAMETER;
    }
    *percent = 0.0;
    if (!prev->has_cpu || !cur->has_cpu) {
        return DD_COLLECT_NOT_FOUND;
    }
    all = cur->cpu_all > prev->cpu_all ? cur->cpu_all - prev->cpu_all : 0;
    busy = cur->cpu_busy > prev->cpu_busy ? cur->cpu_busy - prev->cpu_busy : 0;
    if (all == 0) {
        return DD_COLLECT_OK;
    }
    p = 100.0 * (double)busy / (double)all;
    if (p > 100.0) {
        p = 100.0;
    }
    /* One decimal, like psutil.cpu_percent(). */
    *percent = (double)(int64_t)(p * 10.0 + 0.5) / 10.0;
    return DD_COLLECT_OK;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s == 0 ? 0x9E3779B97F4A7C15ULL : *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a;
    size_t y = *(const size_t *)b;

    return (x > y) - (x < y);
}

/*
 * Copies @p n elements of @p elem bytes from @p src into a new array of at
 * most @p cap, sampling without replacement when @p rng is set (kept in
 * /proc order). Always allocates at least one element so that an empty
 * list is a valid non-NULL array.
 */
static void *sample_copy(const void *src, size_t n, size_t elem, size_t cap, uint64_t *rng,
                         size_t *out_n)
{
    size_t take = n < cap ? n : cap;
    char *dst = malloc((take == 0 ? 1 : take) * elem);
    size_t i;

    *out_n = 0;
    if (dst == NULL) {
        return NULL;
    }
    if (take == n || rng == NULL) {
        if (take > 0) {
            memcpy(dst, src, take * elem);
        }
    } else {
        size_t *idx = malloc(n * sizeof(*idx));

        if (idx == NULL) {
            free(dst);
            return NULL;
        }
        for (i = 0; i < n; i++) {
            idx[i] = i;
        }
        for (i = 0; i < take; i++) {
            size_t j = i + (size_t)(xorshift(rng) % (uint64_t)(n - i));
            size_t t = idx[i];

            idx[i] = idx[j];
            idx[j] = t;
        }
        qsort(idx, take, sizeof(*idx), cmp_size);
        for (i = 0; i < take; i++) {
            memcpy(dst + i * elem, (const char *)src + idx[i] * elem, elem);
        }
        free(idx);
    }
    *out_n = take;
    return dst;
}

dd_collect_status_t dd_collect_build_report(const dd_collect_sample_t *prev,
                                            const dd_collect_sample_t *cur, size_t list_cap,
                                            uint64_t *rng, uint64_t report_id, dd_report_t *out)
{
    if (prev == NULL || cur == NULL || out == NULL || report_id == 0) {
        return DD_COLLECT_BAD_PARAMETER;
    }
    if (list_cap == 0) {
        list_cap = DD_COLLECT_LIST_CAP;
    }
    out->report_id = report_id;
    (void)snprintf(out->version, sizeof(out->version), "1.0");
    out->has_metrics = true;
    (void)dd_collect_netstats(prev, cur, &out->net);

    out->tcp_ports.present = true;
    out->tcp_ports.has_total = true;
    out->tcp_ports.total = cur->tcp_port_total;
    out->tcp_ports.items =
        sample_copy(cur->tcp_ports, cur->tcp_port_count, sizeof(dd_report_port_t), list_cap, rng,
                    &out->tcp_ports.count);
    out->udp_ports.present = true;
    out->udp_ports.has_total = true;
    out->udp_ports.total = cur->udp_port_total;
    out->udp_ports.items =
        sample_copy(cur->udp_ports, cur->udp_port_count, sizeof(dd_report_port_t), list_cap, rng,
                    &out->udp_ports.count);
    out->tcp_conns.present = true;
    out->tcp_conns.has_total = true;
    out->tcp_conns.total = cur->conn_total;
    out->tcp_conns.items = sample_copy(cur->conns, cur->conn_count, sizeof(dd_report_conn_t),
                                       list_cap, rng, &out->tcp_conns.count);
    if (out->tcp_ports.items == NULL || out->udp_ports.items == NULL ||
        out->tcp_conns.items == NULL) {
        dd_report_free(out);
        return DD_COLLECT_NO_MEMORY;
    }
    return DD_COLLECT_OK;
}

const char *dd_collect_strerror(dd_collect_status_t status)
{
    switch (status) {
    case DD_COLLECT_OK: return "ok";
    case DD_COLLECT_BAD_PARAMETER: return "bad parameter";
    case DD_COLLECT_NOT_FOUND: return "not found under the proc root";
    case DD_COLLECT_IO_ERROR: return "read error";
    case DD_COLLECT_PARSE_ERROR: return "unexpected format in net/dev";
    case DD_COLLECT_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
