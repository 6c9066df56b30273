/**
 * @file dd_broker_conf.h
 * @brief Generates the mosquitto.conf that runs the broker with the ddlocal
 *        shim: two mTLS listeners (the 8883 role and the 443 role), the plugin
 *        and its options, persistence and queue limits.
 *
 * `ddlocal up`, the integration-test harness and the benchmark all call this
 * generator, so the broker always runs with the same settings. The text is
 * built from an options struct into a caller buffer (dd_broker_conf_render())
 * or written atomically to a file (dd_broker_conf_write()); nothing else is
 * touched, apart from dd_broker_conf_defaults() reading the current user name.
 *
 * Settings and why (each checked on Debian 12's mosquitto 2.0.11, see
 * docs/reference/broker-shim.md):
 * - `per_listener_settings false`: with `true` the TICK event never fires
 *   and each listener would get its own plugin instance.
 * - `require_certificate true` without `use_identity_as_username`: with the
 *   identity options the broker skips BASIC_AUTH, where the shim maps the
 *   certificate and client id to a thing.
 * - `allow_anonymous false`: clients send no username; BASIC_AUTH still runs
 *   and the shim's answer decides. Should the plugin defer, the client is
 *   refused rather than let in.
 * - `user`: mosquitto started as root drops to user `mosquitto` before it
 *   opens keys, logs and the database; the generator writes the current user
 *   (root stays root) so the data dir's files stay readable.
 * - `persistence true`, `queue_qos0_messages true`, a large
 *   `max_queued_messages` and `max_queued_bytes 0`: reports and metering
 *   batches wait in the broker for ddlocald while it is down.
 * - `max_inflight_messages 0` (no inflight window): with mosquitto 2.0.11's
 *   default window of 20, a persistent session that reconnects with QoS 1
 *   messages queued behind a full window and QoS 0 messages among them loses
 *   QoS 1 messages (reproduced with plain mosquitto_sub/mosquitto_pub: 5 of
 *   25 lost), and under load delivery to it stalled - exactly ddlocald's
 *   situation after a crash (reports arrive at QoS 0 and 1).
 * - `capath DIR/pki/trust` next to `cafile rootca.pem`: the CA certificates
 *   registered with RegisterCACertificate (dd_pki_trust_add()). OpenSSL's
 *   hashed-directory lookup reads the directory at each handshake, so a new
 *   CA is trusted from the next connection; mosquitto 2.0.11 needs no SIGHUP
 *   (which would not drop a CA either: OpenSSL's store keeps what it loaded).
 * - ALPN (`x-amzn-mqtt-ca`, offered by AWS SDK v2 agents on port 443) needs
 *   no setting: mosquitto 2.0.11 ignores the extension and the handshake
 *   succeeds.
 *
 * Ownership: every string of the options is borrowed for the duration of the
 * call. Functions keep no state and may be called from any thread.
 */
#ifndef DD_BROKER_CONF_H_
#define DD_BROKER_CONF_H_

#include <stdbool.h>
#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_broker_conf_status {
    DD_BROKER_CONF_OK = 0,
    DD_BROKER_CONF_BAD_PARAMETER,    /**< NULL pointer, missing field, bad port or value. */
    DD_BROKER_CONF_BUFFER_TOO_SMALL, /**< Output buffer too small; *written has the size needed. */
    DD_BROKER_CONF_IO_ERROR          /**< Creating a directory or writing the file failed. */
} dd_broker_conf_status_t;

/** Default metering topic (an internal topic devices can neither publish nor read). */
#define DD_BROKER_CONF_METERING_TOPIC "$ddlocal/metering/v1"
/** Default bind address: everything stays on loopback. */
#define DD_BROKER_CONF_BIND "127.0.0.1"
/** Default per-client queue limit (mosquitto's default is 1000). */
#define DD_BROKER_CONF_MAX_QUEUED 1000000
/** Folder of the data dir holding the broker's conf, log and persistence. */
#define DD_BROKER_CONF_DIR "broker"
/** File names inside DIR/broker/. */
#define DD_BROKER_CONF_FILE "mosquitto.conf"
#define DD_BROKER_CONF_LOG_FILE "mosquitto.log"

/** Everything the generated mosquitto.conf depends on. */
typedef struct dd_broker_conf_options {
    const char *data_dir; /**< Absolute data dir (DIR); PKI from DIR/pki, state in DIR/broker. */
    const char *bind_address; /**< Listener address; NULL = 127.0.0.1. */
    int mqtt_port;            /**< The 8883 role, 1..65535 (pick a free port before). */
    int alpn_port;            /**< The 443 role, 1..65535, != mqtt_port. */
    const char *run_as_user;  /**< `user` line; NULL = omit (mosquitto's default, "mosquitto"). */

    const char *plugin_path;   /**< ddlocal_shim.so; NULL together with @ref plain only. */
    bool plain;                /**< No plugin and allow_anonymous true: the benchmark's baseline. */
    const char *db_path;       /**< plugin_opt_db_path; NULL = DIR/ddlocal.db. */
    const char *clock_spec;    /**< plugin_opt_clock (dd_clock spec); NULL = "real". */
    const char *region;        /**< plugin_opt_region; NULL = omit (us-east-1). */
    const char *account;       /**< plugin_opt_account; NULL = omit (123456789012). */
    bool single_cert_identity; /**< plugin_opt_single_cert_identity (ddlocal's identity rule). */
    bool kick_on_deny;         /**< plugin_opt_kick_on_deny. */
    const char
        *metering_topic;   /**< plugin_opt_metering_topic; NULL = DD_BROKER_CONF_METERING_TOPIC. */
    int metering_flush_ms; /**< plugin_opt_metering_flush_ms; <= 0 = omit (100). */
    int metering_buffer_bytes; /**< plugin_opt_metering_buffer_bytes; <= 0 = omit (65536). */
    bool plugin_debug;         /**< plugin_opt_log_level debug. */

    bool persistence;          /**< persistence true in DIR/broker/. */
    long max_queued_messages;  /**< Per client; <= 0 = DD_BROKER_CONF_MAX_QUEUED. */
    int max_inflight_messages; /**< Per client; <= 0 = 0: no window (see above). */
    const char *log_file;      /**< log_dest file PATH; NULL = stderr. */
    bool log_debug;            /**< log_type all instead of error/warning/notice/information. */
} dd_broker_conf_options_t;

/**
 * @brief Fills @p opts with the defaults for a data dir: both ports unset
 *        (the caller picks them), the current user, identity rule and
 *        kick-on-deny on, persistence on, log to DIR/broker/mosquitto.log.
 *
 * Strings put into @p opts point into @p user_buf or are static; @p data_dir
 * is borrowed. Set `log_file` yourself when you want another log path: the
 * default one is built in @p log_buf.
 *
 * @param[out] opts Options to fill.
 * @param[in] data_dir Absolute data dir.
 * @param[out] user_buf Receives the current user's name (for `user`).
 * @param[in] user_len Size of @p user_buf.
 * @param[out] log_buf Receives DIR/broker/mosquitto.log.
 * @param[in] log_len Size of @p log_buf.
 * @return DD_BROKER_CONF_OK, DD_BROKER_CONF_BAD_PARAMETER or
 *         DD_BROKER_CONF_BUFFER_TOO_SMALL.
 */
dd_broker_conf_status_t dd_broker_conf_defaults(dd_broker_conf_options_t *opts,
                                                const char *data_dir, char *user_buf,
                                                size_t user_len, char *log_buf, size_t log_len);

/**
 * @brief Renders mosquitto.conf text.
 *
 * Every string is checked: no newline or other control character can reach
 * the file (a value is the rest of its line for mosquitto).
 *
 * @code
 * dd_broker_conf_options_t o;
 * char user[64], log[4096], text[8192];
 * size_t n;
 * dd_broker_conf_defaults(&o, "/tmp/dd", user, sizeof user, log, sizeof log);
 * o.mqtt_port = 8883; o.alpn_port = 8443; o.plugin_path = "/x/ddlocal_shim.so";
 * if (dd_broker_conf_render(&o, text, sizeof text, &n) == DD_BROKER_CONF_OK) { ... }
 * @endcode
 *
 * @param[in] opts Options.
 * @param[out] buf Output buffer; NUL-terminated on success.
 * @param[in] len Size of @p buf.
 * @param[out] written Length of the text without the NUL; on
 *             DD_BROKER_CONF_BUFFER_TOO_SMALL the length needed. May be NULL.
 * @return DD_BROKER_CONF_OK, DD_BROKER_CONF_BAD_PARAMETER or
 *         DD_BROKER_CONF_BUFFER_TOO_SMALL.
 */
dd_broker_conf_status_t dd_broker_conf_render(const dd_broker_conf_options_t *opts, char *buf,
                                              size_t len, size_t *written);

/**
 * @brief Renders the conf and writes it atomically (mode 0644) to @p path,
 *        creating DIR/broker/ (mode 0700) for persistence and the log.
 * @param[in] opts Options.
 * @param[in] path Destination, usually DIR/broker/mosquitto.conf.
 * @return DD_BROKER_CONF_OK, DD_BROKER_CONF_BAD_PARAMETER or
 *         DD_BROKER_CONF_IO_ERROR.
 */
dd_broker_conf_status_t dd_broker_conf_write(const dd_broker_conf_options_t *opts,
                                             const char *path);

/**
 * @brief Builds DIR/broker/<file>.
 * @param[in] data_dir The data dir.
 * @param[in] file File name inside DIR/broker/, or "" for the folder itself.
 * @param[out] buf Output buffer.
 * @param[in] len Size of @p buf.
 * @return DD_BROKER_CONF_OK, DD_BROKER_CONF_BAD_PARAMETER or
 *         DD_BROKER_CONF_BUFFER_TOO_SMALL.
 */
dd_broker_conf_status_t dd_broker_conf_path(const char *data_dir, const char *file, char *buf,
                                            size_t len);

/** @return Static text for @p status. */
const char *dd_broker_conf_strerror(dd_broker_conf_status_t status);

#endif /* DD_BROKER_CONF_H_ */
