/**
 * @file dd_fleet.h
 * @brief The fleet simulator behind `ddlocal fleet`: N virtual devices in
 *        one process, each with its own certificate and mTLS connection,
 *        sending Device Defender reports (and optionally telemetry) that
 *        follow a scenario (dd_scenario.h), on the pipeline's time scale.
 *
 * Steps:
 * 1. dd_fleet_credentials(): one EC P-256 key and certificate per device,
 *    signed by the data dir's CA, generated once (on every core) and cached
 *    in DIR/fleet/SCENARIO/credentials.json (mode 0600); the cache is
 *    extended when the fleet grows and rebuilt when the CA changed.
 * 2. dd_fleet_register(): things (attributes ddlocalFleet, fleetGroup),
 *    certificates, their attachments and the policy `ddlocal-fleet-SCENARIO`
 *    (each device may connect, publish its own report and telemetry topics,
 *    and receive its own replies), in one transaction; idempotent.
 * 3. dd_fleet_run(): connects the devices at a bounded rate (no TLS
 *    handshake storm), starts the scenario clock once they are up (or the
 *    ramp timed out), sends every report at its pipeline time mapped to wall
 *    time (wall = pipeline / time_scale), matches replies by reportId,
 *    prints progress, then drains the replies and disconnects.
 *
 * One thread and one epoll set drive every connection through dd_conn (no
 * thread per device); all TLS connections share one SSL_CTX, each
 * presenting its own certificate. The process's file-descriptor limit is
 * raised to what the fleet needs when the hard limit allows it.
 *
 * Ownership: the caller keeps the scenario, CA and registry alive while a
 * dd_fleet_t uses them; dd_fleet_free() releases the rest. Not thread-safe.
 */
#ifndef DD_FLEET_H_
#define DD_FLEET_H_

#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_scenario.h"

/** Status codes of this module. */
typedef enum dd_fleet_status {
    DD_FLEET_OK = 0,
    DD_FLEET_BAD_PARAMETER,
    DD_FLEET_PKI_ERROR,      /**< Issuing or reading certificates failed. */
    DD_FLEET_IO_ERROR,       /**< The credentials cache could not be written. */
    DD_FLEET_REGISTRY_ERROR, /**< Registering things/certificates/policy failed. */
    DD_FLEET_CONNECT_ERROR,  /**< TLS context or connections could not be set up. */
    DD_FLEET_NO_MEMORY
} dd_fleet_status_t;

/** How to run. */
typedef struct dd_fleet_config {
    const char *host; /**< Broker host (certificate name checked against it). */
    uint16_t port;
    const char *root_ca;     /**< Root CA PEM file of the broker's certificate. */
    const char *alpn;        /**< ALPN to offer, or NULL. */
    double time_scale;       /**< Pipeline seconds per wall second (> 0). */
    double ramp_per_s;       /**< Connections started per second (0 = 500). */
    uint32_t max_handshakes; /**< Connections being set up at once during the ramp (0 = 256). */
    double ramp_timeout_s;   /**< Start the scenario anyway after this long (0 = 60). */
    double reply_timeout_s;  /**< A report without reply after this long is missing (0 = 30). */
    double progress_s;       /**< Progress line period, wall seconds (0 = 5; < 0: none). */
    int keepalive_s;         /**< MQTT keep-alive (0 = 60). */
    FILE *progress;          /**< Progress and summary lines (NULL = stdout). */
} dd_fleet_config_t;

/** What happened. */
typedef struct dd_fleet_summary {
    uint32_t devices;
    uint32_t connected_peak;   /**< Most devices connected at once. */
    uint32_t connected_end;    /**< Connected when the scenario ended. */
    uint64_t connect_failures; /**< Failed connection attempts. */
    uint64_t connections_lost; /**< Established connections that dropped. */
    uint64_t reports_expected; /**< What the scenario sends when every device is up. */
    uint64_t reports_sent;
    uint64_t reports_accepted;
    uint64_t reports_rejected;
    uint64_t reports_missing; /**< No reply within the reply timeout. */
    uint64_t reports_skipped; /**< Due while the device was not connected. */
    uint64_t telemetry_sent;
    uint64_t telemetry_bytes;
    double ramp_s; /**< Wall seconds until the scenario clock started. */
    double run_s;  /**< Wall seconds of the scenario part. */
    double time_scale;
    long rss_before_kb;    /**< Resident memory before the first connection. */
    long rss_connected_kb; /**< ... once every device was connected (end of ramp). */
    long rss_peak_kb;      /**< Peak resident memory of the process. */
    double cpu_s;          /**< User + system CPU of the process. */
} dd_fleet_summary_t;

/** One device's credentials (DER for TLS, PEM and id for the registry). */
typedef struct dd_fleet_cred {
    char *cert_pem;
    char *key_pem;
    char cert_id[DD_PKI_CERT_ID_LEN + 1];
    uint8_t *cert_der;
    size_t cert_der_len;
    uint8_t *key_der;
    size_t key_der_len;
} dd_fleet_cred_t;

typedef struct dd_fleet dd_fleet_t;

/**
 * @brief Loads or creates the credentials of every device of @p sc.
 * @param[in] data_dir The data dir (cache under DIR/fleet/NAME/).
 * @param[in] sc The scenario.
 * @param[in] ca The data dir's CA.
 * @param[out] creds Array of sc->devices credentials (dd_fleet_creds_free()).
 * @param[out] generated Optional: how many were new.
 * @return DD_FLEET_OK, DD_FLEET_BAD_PARAMETER, DD_FLEET_PKI_ERROR, DD_FLEET_IO_ERROR or
 *         DD_FLEET_NO_MEMORY.
 */
dd_fleet_status_t dd_fleet_credentials(const char *data_dir, const dd_scenario_t *sc,
                                       const dd_pki_ca_t *ca, dd_fleet_cred_t **creds,
                                       uint32_t *generated);

/** @brief Frees an array from dd_fleet_credentials(). */
void dd_fleet_creds_free(dd_fleet_cred_t *creds, uint32_t count);

/**
 * @brief Registers things, certificates, attachments and the fleet policy.
 * @param[in] reg Open registry (its database is written in one transaction).
 * @param[out] msg Why it failed.
 * @return DD_FLEET_OK, DD_FLEET_BAD_PARAMETER or DD_FLEET_REGISTRY_ERROR.
 */
dd_fleet_status_t dd_fleet_register(dd_registry_t *reg, const dd_scenario_t *sc,
                                    const dd_fleet_cred_t *creds, char *msg, size_t msg_len);

/** @brief The policy name used for a scenario's devices ("ddlocal-fleet-NAME"). */
void dd_fleet_policy_name(const dd_scenario_t *sc, char *buf, size_t len);

/**
 * @brief Creates the devices' connections (nothing is connected yet).
 * @param[in] sc Scenario (borrowed).
 * @param[in] creds Credentials (borrowed; the DER must stay valid).
 * @param[in] cfg Settings (copied; strings borrowed).
 * @param[out] out The fleet.
 * @return DD_FLEET_OK, DD_FLEET_BAD_PARAMETER, DD_FLEET_CONNECT_ERROR or DD_FLEET_NO_MEMORY.
 */
dd_fleet_status_t dd_fleet_create(const dd_scenario_t *sc, const dd_fleet_cred_t *creds,
                                  const dd_fleet_config_t *cfg, dd_fleet_t **out);

/**
 * @brief Runs the scenario to its end (or until @p *stop), then drains
 *        replies and disconnects every device.
 * @param[out] summary Counters (also printed).
 * @return DD_FLEET_OK, DD_FLEET_BAD_PARAMETER, DD_FLEET_CONNECT_ERROR or DD_FLEET_NO_MEMORY.
 */
dd_fleet_status_t dd_fleet_run(dd_fleet_t *fleet, volatile sig_atomic_t *stop,
                               dd_fleet_summary_t *summary);

/** @brief Destroys the connections and frees the fleet. */
void dd_fleet_free(dd_fleet_t *fleet);

/**
 * @brief Raises RLIMIT_NOFILE's soft limit (and the hard one when allowed)
 *        to at least @p need.
 * @param[out] got The soft limit now in force.
 * @return true when @p got >= @p need.
 */
bool dd_fleet_raise_fd_limit(uint64_t need, uint64_t *got);

/** @brief Writes @p s as a JSON object (for scripts and tests). */
dd_fleet_status_t dd_fleet_summary_json(const dd_fleet_summary_t *s, char **json);

/** @return Static text for @p status. */
const char *dd_fleet_strerror(dd_fleet_status_t status);

#endif /* DD_FLEET_H_ */
