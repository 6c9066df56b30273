/**
 * @file dd_scenario.h
 * @brief Fleet scenarios: how many devices, what their Device Defender
 *        reports and telemetry look like, and how groups of them change
 *        behaviour over pipeline time.
 *
 * A scenario is a JSON document (the format is documented with examples in
 * docs/reference/devices.md; fixtures/scenarios/ has some):
 *
 *     {"name": "bytes-spike", "devices": 50, "durationSeconds": 1800, "seed": 1,
 *      "report": {"intervalSeconds": 300, "format": "json", "keys": "long"},
 *      "telemetry": {"topic": "fleet/{thing}/temperature", "intervalSeconds": 10},
 *      "metrics": {"bytes_out": {"distribution": "normal", "mean": 150, "stddev": 20},
 *                  "listening_tcp_ports": [22, 8883],
 *                  "connections": {"count": {"distribution": "poisson", "mean": 2},
 *                                  "remote": "52.94.0.0/16", "remotePorts": [8883]}},
 *      "groups": [{"name": "attackers", "devices": 5,
 *                  "schedule": [{"fromSeconds": 600, "toSeconds": 1200,
 *                                "metrics": {"bytes_out": {"scale": 100}},
 *                                "telemetry": {"intervalSeconds": 1, "payloadSize": 4096},
 *                                "cloud": {"authorizationFailuresPerMinute": 6,
 *                                          "failedConnectsPerMinute": 2,
 *                                          "disconnectsPerHour": 4}}]}]}
 *
 * Times are pipeline seconds from the start of the run (the fleet maps them
 * to wall time with the pipeline's time scale). Groups take devices in
 * order: the first group the first N devices, and so on; the rest follow
 * the base metrics only. In a schedule entry, a metric with a distribution
 * replaces the base one, `{"scale": k}` multiplies it, a port list replaces
 * the base list and `{"add": [...]}` extends it; the last entry covering a
 * time wins for each metric it names.
 *
 * Device i reports at pipeline times offset(i) + k * interval, k >= 0, while
 * that is before durationSeconds, where offset(i) = i * interval / devices
 * spreads the fleet evenly over one interval (so the expected number of
 * reports is known in advance: dd_scenario_expected_reports()).
 *
 * Sampling is deterministic: the caller passes each device's xorshift64
 * state, seeded from the scenario seed and the device index.
 *
 * Ownership: dd_scenario_parse() fills a caller-allocated dd_scenario_t
 * whose arrays dd_scenario_free() releases. A parsed scenario is read-only
 * and may be shared; reports built from it are the caller's (dd_report_free()).
 */
#ifndef DD_SCENARIO_H_
#define DD_SCENARIO_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_ip.h"
#include "dd_report.h"

/** Status codes of this module. */
typedef enum dd_scenario_status {
    DD_SCENARIO_OK = 0,
    DD_SCENARIO_BAD_PARAMETER,
    DD_SCENARIO_INVALID,  /**< Not a valid scenario (the message names the member). */
    DD_SCENARIO_IO_ERROR, /**< File unreadable. */
    DD_SCENARIO_NO_MEMORY
} dd_scenario_status_t;

/** Most devices a scenario may have. */
#define DD_SCENARIO_MAX_DEVICES 200000u
/** Longest scenario name ([A-Za-z0-9_-]). */
#define DD_SCENARIO_NAME_MAX 64

/** A random distribution. */
typedef enum dd_dist_kind {
    DD_DIST_NONE = 0, /**< Not given (in a schedule entry: keep the base). */
    DD_DIST_CONSTANT, /**< value */
    DD_DIST_UNIFORM,  /**< min .. max */
    DD_DIST_NORMAL,   /**< mean, stddev */
    DD_DIST_POISSON   /**< mean */
} dd_dist_kind_t;

typedef struct dd_dist {
    dd_dist_kind_t kind;
    double a; /**< value / min / mean */
    double b; /**< max / stddev */
} dd_dist_t;

/** network_stats counters, in dd_scenario_metrics_t.net[]. */
enum {
    DD_SCN_BYTES_IN = 0,
    DD_SCN_BYTES_OUT,
    DD_SCN_PACKETS_IN,
    DD_SCN_PACKETS_OUT,
    DD_SCN_NET_COUNT
};

/** A listening port list. */
typedef struct dd_scenario_ports {
    bool set; /**< Given (else: base / none). */
    bool add; /**< Schedule entry: extend the base list instead of replacing it. */
    size_t count;
    uint16_t *ports;
} dd_scenario_ports_t;

/** Established connections. */
typedef struct dd_scenario_conns {
    bool set;
    dd_dist_t count;  /**< How many (rounded, >= 0). */
    dd_cidr_t remote; /**< Remote addresses drawn from this block. */
    size_t port_count;
    uint16_t *remote_ports;              /**< Remote ports drawn from this list (default 443). */
    char iface[DD_REPORT_IFACE_MAX + 1]; /**< local_interface (default "eth0"). */
} dd_scenario_conns_t;

/** A number-type custom metric. */
typedef struct dd_scenario_custom {
    char name[DD_REPORT_METRIC_NAME_MAX + 1];
    dd_dist_t dist;
    double scale; /**< Schedule entry: multiplier (1 when a distribution is given). */
} dd_scenario_custom_t;

/** Metrics of the base or of a schedule entry. */
typedef struct dd_scenario_metrics {
    dd_dist_t net[DD_SCN_NET_COUNT];
    double net_scale[DD_SCN_NET_COUNT]; /**< 1 unless {"scale": k}. */
    dd_scenario_ports_t tcp_ports;
    dd_scenario_ports_t udp_ports;
    dd_scenario_conns_t conns;
    size_t custom_count;
    dd_scenario_custom_t *custom;
} dd_scenario_metrics_t;

/**
 * Cloud-side behaviour of a schedule entry: events the broker would meter
 * besides reports and telemetry (rates per device; 0 = none).
 */
typedef struct dd_scenario_cloud {
    double auth_failures_per_min;   /**< Publishes the policy denies. */
    double failed_connects_per_min; /**< Connection attempts that fail. */
    double disconnects_per_hour;    /**< Disconnects, each followed by a reconnect. */
} dd_scenario_cloud_t;

/** One schedule entry of a group. */
typedef struct dd_scenario_phase {
    double from_s; /**< Pipeline seconds, inclusive. */
    double to_s;   /**< Exclusive; HUGE_VAL when open-ended. */
    dd_scenario_metrics_t metrics;
    bool has_payload_size;
    size_t payload_size;         /**< Telemetry payload override (0 = temperature). */
    double telemetry_interval_s; /**< Telemetry interval override (message rate); 0 = base. */
    bool has_cloud;
    dd_scenario_cloud_t cloud;
} dd_scenario_phase_t;

typedef struct dd_scenario_group {
    char name[DD_SCENARIO_NAME_MAX + 1];
    uint32_t first; /**< First device index. */
    uint32_t devices;
    size_t phase_count;
    dd_scenario_phase_t *phases;
} dd_scenario_group_t;

/** A parsed scenario. */
typedef struct dd_scenario {
    char name[DD_SCENARIO_NAME_MAX + 1];
    char thing_prefix[100];
    uint32_t devices;
    double duration_s;
    uint64_t seed;
    double report_interval_s;
    dd_report_format_t format;
    dd_report_keys_t keys;
    bool telemetry;
    char telemetry_topic[200]; /**< May contain "{thing}". */
    double telemetry_interval_s;
    size_t telemetry_payload_size;
    dd_scenario_metrics_t base;
    size_t group_count;
    dd_scenario_group_t *groups;
} dd_scenario_t;

/**
 * @brief Parses and validates a scenario.
 * @param[in] text JSON text.
 * @param[in] len Its length.
 * @param[out] out Scenario (zeroed first); free with dd_scenario_free().
 * @param[out] msg Why it was refused, naming the member.
 * @return DD_SCENARIO_OK, DD_SCENARIO_BAD_PARAMETER, DD_SCENARIO_INVALID or DD_SCENARIO_NO_MEMORY.
 */
dd_scenario_status_t dd_scenario_parse(const char *text, size_t len, dd_scenario_t *out, char *msg,
                                       size_t msg_len);

/** @brief dd_scenario_parse() of a file (adds DD_SCENARIO_IO_ERROR). */
dd_scenario_status_t dd_scenario_load(const char *path, dd_scenario_t *out, char *msg,
                                      size_t msg_len);

/** @brief Releases a scenario's arrays and zeroes it. */
void dd_scenario_free(dd_scenario_t *sc);

/**
 * @brief Overrides the number of devices (groups keep their sizes and must
 *        still fit) or the duration; 0 keeps the scenario's value.
 * @return DD_SCENARIO_OK or DD_SCENARIO_INVALID.
 */
dd_scenario_status_t dd_scenario_override(dd_scenario_t *sc, uint32_t devices, double duration_s,
                                          char *msg, size_t msg_len);

/** @brief Thing name of device @p index: prefix + zero-padded number from 1. */
void dd_scenario_thing_name(const dd_scenario_t *sc, uint32_t index, char *buf, size_t len);

/** @return The group holding device @p index, or -1. */
int dd_scenario_group_of(const dd_scenario_t *sc, uint32_t index);

/** @return Pipeline seconds of device @p index's first report. */
double dd_scenario_report_offset_s(const dd_scenario_t *sc, uint32_t index);

/** @return Reports device @p index sends in a full run. */
uint64_t dd_scenario_expected_reports(const dd_scenario_t *sc, uint32_t index);

/** @return The xorshift64 seed of device @p index. */
uint64_t dd_scenario_device_seed(const dd_scenario_t *sc, uint32_t index);

/**
 * @brief Draws one value from a distribution.
 * @param[in,out] rng xorshift64 state.
 */
double dd_scenario_draw(const dd_dist_t *dist, uint64_t *rng);

/**
 * @brief The report device @p index sends at pipeline time @p t_s.
 * @param[in,out] rng The device's random state.
 * @param[in] report_id header.report_id.
 * @param[out] out Zeroed report to fill (dd_report_free() releases it).
 * @return DD_SCENARIO_OK, DD_SCENARIO_BAD_PARAMETER or DD_SCENARIO_NO_MEMORY.
 */
dd_scenario_status_t dd_scenario_report(const dd_scenario_t *sc, uint32_t index, double t_s,
                                        uint64_t *rng, uint64_t report_id, dd_report_t *out);

/** @return Telemetry payload size for device @p index at @p t_s (0 = a temperature). */
size_t dd_scenario_payload_size(const dd_scenario_t *sc, uint32_t index, double t_s);

/** @return Telemetry interval of device @p index at @p t_s (the phase's or the base one). */
double dd_scenario_telemetry_interval_s(const dd_scenario_t *sc, uint32_t index, double t_s);

/**
 * @brief Device @p index's telemetry schedule, shared by the live fleet and
 *        --emit: the first message at base interval x index / devices, each
 *        next one the interval in force at the previous one later.
 */
double dd_scenario_telemetry_first_s(const dd_scenario_t *sc, uint32_t index);

/** @brief The telemetry message after the one at @p t_s (see dd_scenario_telemetry_first_s). */
double dd_scenario_telemetry_next_s(const dd_scenario_t *sc, uint32_t index, double t_s);

/**
 * @brief Cloud-side event rates of device @p index at @p t_s.
 * @return true when a schedule entry sets "cloud" rates then (@p out filled), else false
 *         (@p out zeroed).
 */
bool dd_scenario_cloud_rates(const dd_scenario_t *sc, uint32_t index, double t_s,
                             dd_scenario_cloud_t *out);

/** @return true when any schedule entry sets "cloud" rates. */
bool dd_scenario_has_cloud(const dd_scenario_t *sc);

/**
 * @brief The telemetry topic of a thing ("{thing}" replaced).
 * @return DD_SCENARIO_OK or DD_SCENARIO_BAD_PARAMETER (too long).
 */
dd_scenario_status_t dd_scenario_telemetry_topic(const dd_scenario_t *sc, const char *thing,
                                                 char *buf, size_t len);

/** @return Static text for @p status. */
const char *dd_scenario_strerror(dd_scenario_status_t status);

#endif /* DD_SCENARIO_H_ */
