/**
 * @file dd_collect.h
 * @brief Device-side metrics from Linux /proc: interface counters, listening
 *        TCP/UDP ports, established TCP connections (IPv4 and IPv6), CPU
 *        time; and the Device Defender report built from two samples.
 *
 * Everything is read below a `proc_root` (NULL = "/proc"), so tests and
 * replays can point the collector at a copied or hand-written tree:
 *
 * | file under proc_root | used for |
 * |---|---|
 * | net/dev | bytes/packets in/out per interface (summed over all, lo included) |
 * | net/tcp, net/tcp6 | LISTEN (0A) sockets -> listening_tcp_ports; ESTABLISHED (01) -> tcp_connections |
 * | net/udp, net/udp6 | unconnected (07) sockets with a local port -> listening_udp_ports |
 * | net/if_inet6 | IPv6 interface addresses (kernel format) |
 * | net/if_inet4 | IPv4 interface addresses: ddlocal's fixture file, see below |
 * | stat | first "cpu" line, for the `cpu_usage` custom metric |
 *
 * A missing file counts as empty (a kernel without IPv6 has no tcp6), except
 * net/dev, whose absence is DD_COLLECT_NOT_FOUND.
 *
 * On the live "/proc" the sockets come from the kernel's NETLINK_SOCK_DIAG
 * interface instead (what `ss` uses), with the same rules: reading
 * /proc/net/tcp{,6} makes the kernel walk its whole TCP hash table, sized
 * by the machine's memory (3.5 ms per file on a 24 GB host, whatever the
 * number of sockets), while one sock_diag dump with in-kernel state filters
 * covers both families in a fraction of that. A kernel without inet_diag
 * falls back to the files.
 *
 * Interface names. The kernel reports a socket's local address, not its
 * interface; the collector maps the address to the interface that owns it
 * (exact match first, else the longest prefix holding it, so 127.0.0.53 is
 * `lo`; IPv4-mapped IPv6 addresses of dual-stack sockets are looked up as
 * IPv4). A wildcard bind is reported the way the AWS Python agent does,
 * with the address itself as the interface ("0.0.0.0" or "::"). An address
 * no interface owns is reported without an interface. IPv6 addresses come
 * from net/if_inet6. Linux has no /proc file listing IPv4 addresses, so:
 * when proc_root is the live "/proc" they come from getifaddrs(); for any
 * other root they come from `net/if_inet4`, one `ADDRESS/PREFIX NAME` per
 * line ('#' starts a comment), and are unknown when it is absent.
 *
 * Addresses in net/tcp* are printed by the kernel in host byte order per
 * 32-bit word; they are decoded in this host's order, so fixture trees are
 * little-endian (x86, ARM) like the machines they were copied from.
 *
 * Lists. A sample keeps at most DD_COLLECT_KEEP_MAX entries per list and
 * counts the rest, so `total` is always the true count. Listening ports are
 * de-duplicated on (port, interface) (SO_REUSEPORT groups, tcp + tcp6 of the
 * same wildcard are kept apart by their interface). The report is capped at
 * a caller-chosen length (DD_COLLECT_LIST_CAP = 50 like the Python agent),
 * sampling at random when a seed is given.
 *
 * Deltas. network_stats are summed per interface, each interface against
 * its own previous counters: a counter that went down wrapped at 2^32 when
 * its previous value was in the upper half of the 32-bit range (32-bit
 * kernels and drivers), and was reset otherwise (interface re-created), in
 * which case the new value is the delta. An interface new since the
 * previous sample contributes its whole counters.
 *
 * Ownership: a dd_collect_sample_t owns its arrays; release it with
 * dd_collect_sample_free() (safe on a zeroed sample). The report built by
 * dd_collect_build_report() owns malloc'd arrays that dd_report_free()
 * releases. No global state: distinct samples may be taken on several
 * threads at once.
 */
#ifndef DD_COLLECT_H_
#define DD_COLLECT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_collect_status {
    DD_COLLECT_OK = 0,
    DD_COLLECT_BAD_PARAMETER, /**< NULL pointer or path too long. */
    DD_COLLECT_NOT_FOUND,     /**< net/dev missing under proc_root. */
    DD_COLLECT_IO_ERROR,      /**< A file could not be read (errno tells). */
    DD_COLLECT_PARSE_ERROR,   /**< A line of net/dev is not in the kernel's format. */
    DD_COLLECT_NO_MEMORY
} dd_collect_status_t;

/** Report list length used by the AWS Python agent. */
#define DD_COLLECT_LIST_CAP 50
/** Entries kept per list in a sample; more are only counted. */
#define DD_COLLECT_KEEP_MAX 4096
/** Interfaces kept from net/dev (more are summed under their own names anyway). */
#define DD_COLLECT_MAX_IFACES 1024

/** Counters of one interface from net/dev. */
typedef struct dd_collect_iface {
    char name[DD_REPORT_IFACE_MAX + 1];
    uint64_t bytes_in, packets_in, bytes_out, packets_out;
} dd_collect_iface_t;

/** One sample of the machine. Zero-initialise; free with dd_collect_sample_free(). */
typedef struct dd_collect_sample {
    size_t iface_count;
    dd_collect_iface_t *ifaces;
    size_t tcp_port_count;   /**< Entries in tcp_ports. */
    uint64_t tcp_port_total; /**< True number of distinct listening TCP ports. */
    dd_report_port_t *tcp_ports;
    size_t udp_port_count;
    uint64_t udp_port_total;
    dd_report_port_t *udp_ports;
    size_t conn_count;
    uint64_t conn_total; /**< True number of established connections. */
    dd_report_conn_t *conns;
    bool has_cpu;      /**< stat had a "cpu" line. */
    uint64_t cpu_busy; /**< Jiffies not idle nor iowait. */
    uint64_t cpu_all;  /**< All jiffies (guest time excluded, it is in user). */
} dd_collect_sample_t;

/**
 * @brief Reads one sample below @p proc_root.
 * @param[in] proc_root Root of the /proc tree; NULL means the live "/proc".
 * @param[out] out Receives the sample (zeroed first; freed again on failure).
 * @return DD_COLLECT_OK, DD_COLLECT_BAD_PARAMETER, DD_COLLECT_NOT_FOUND,
 *         DD_COLLECT_IO_ERROR, DD_COLLECT_PARSE_ERROR or DD_COLLECT_NO_MEMORY.
 */
dd_collect_status_t dd_collect_sample(const char *proc_root, dd_collect_sample_t *out);

/** @brief Releases what a sample owns and zeroes it. NULL is ignored. */
void dd_collect_sample_free(dd_collect_sample_t *sample);

/**
 * @brief One counter's increase from @p prev to @p cur under the wrap/reset
 *        rule of this file's header.
 * @param[in] prev Previous value.
 * @param[in] cur Current value.
 * @return The delta.
 */
uint64_t dd_collect_counter_delta(uint64_t prev, uint64_t cur);

/**
 * @brief network_stats from two samples: per-interface deltas, summed.
 * @param[in] prev The earlier sample (the baseline).
 * @param[in] cur The later sample.
 * @param[out] out All four counters set, `present` true.
 * @return DD_COLLECT_OK or DD_COLLECT_BAD_PARAMETER.
 */
dd_collect_status_t dd_collect_netstats(const dd_collect_sample_t *prev,
                                        const dd_collect_sample_t *cur, dd_report_netstats_t *out);

/**
 * @brief CPU utilisation between two samples, in percent with one decimal
 *        (what the Python agent's `-cm` sends as `cpu_usage`).
 * @param[in] prev The earlier sample.
 * @param[in] cur The later sample.
 * @param[out] percent 0.0 .. 100.0 (0 when no time passed).
 * @return DD_COLLECT_OK, DD_COLLECT_BAD_PARAMETER, or DD_COLLECT_NOT_FOUND when
 *         a sample has no cpu line.
 */
dd_collect_status_t dd_collect_cpu_percent(const dd_collect_sample_t *prev,
                                           const dd_collect_sample_t *cur, double *percent);

/**
 * @brief Builds the metrics part of a report from two samples.
 *
 * Sets report_id, version "1.0", has_metrics, network_stats (deltas
 * @p prev -> @p cur), and the three lists from @p cur. Empty lists are
 * written (`"ports":[],"total":0`) where the Python agent omits them: an
 * empty list is a datapoint that conforms and clears an alarm on that
 * behavior (defender-spec.md §1.5), an absent one is no datapoint at all.
 * A list longer than @p list_cap holds
 * @p list_cap entries: chosen at random when @p rng is non-NULL (its state
 * advances; a zero state is replaced by a fixed constant), else the first
 * ones in /proc order. `total` is always the true count.
 *
 * @param[in] prev Baseline sample.
 * @param[in] cur Current sample.
 * @param[in] list_cap Longest list written (0 = DD_COLLECT_LIST_CAP).
 * @param[in,out] rng Optional xorshift64 state for random sampling.
 * @param[in] report_id header.report_id (> 0).
 * @param[out] out Report to fill; must be zeroed; dd_report_free() releases it.
 * @return DD_COLLECT_OK, DD_COLLECT_BAD_PARAMETER or DD_COLLECT_NO_MEMORY
 *         (then @p out is freed).
 */
dd_collect_status_t dd_collect_build_report(const dd_collect_sample_t *prev,
                                            const dd_collect_sample_t *cur, size_t list_cap,
                                            uint64_t *rng, uint64_t report_id, dd_report_t *out);

/** @return Static text for @p status. */
const char *dd_collect_strerror(dd_collect_status_t status);

#endif /* DD_COLLECT_H_ */
