#include "dd_broker_conf.h"

#include "dd_fs.h"
#include "dd_pki.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends to a caller buffer, counting the full length even past its end so
 * that a too-small buffer reports the size it needs. */
typedef struct conf_out {
    char *buf;
    size_t len;
    size_t pos;
} conf_out_t;

static void out_printf(conf_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(conf_out_t *out, const char *fmt, ...)
{
    va_list ap;
    size_t room = out->pos < out->len ? out->len - out->pos : 0;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(room > 0 ? out->buf + out->pos : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        out->pos += (size_t)n;
    }
}

/* A conf value is the rest of its line: refuse anything that could end the
 * line early or smuggle in another directive. */
static bool value_ok(const char *s, bool may_be_null)
{
    const unsigned char *p;

    if (s == NULL) {
        return may_be_null;
    }
    if (s[0] == '\0') {
        return false;
    }
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool port_ok(int port)
{
    return port > 0 && port <= 65535;
}

dd_broker_conf_status_t dd_broker_conf_path(const char *data_dir, const char *file, char *buf,
                                            size_t len)
{
    int n;

    if (data_dir == NULL || file == NULL || buf == NULL || len == 0 || data_dir[0] == '\0') {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    n = snprintf(buf, len, "%s/%s%s%s", data_dir, DD_BROKER_CONF_DIR, file[0] != '\0' ? "/" : "",
                 file);
    if (n < 0 || (size_t)n >= len) {
        return DD_BROKER_CONF_BUFFER_TOO_SMALL;
    }
    return DD_BROKER_CONF_OK;
}

dd_broker_conf_status_t dd_broker_conf_defaults(dd_broker_conf_options_t *opts,
                                                const char *data_dir, char *user_buf,
                                                size_t user_len, char *log_buf, size_t log_len)
{
    struct passwd pw;
    struct passwd *res = NULL;
    char scratch[1024];
    dd_broker_conf_status_t st;

    if (opts == NULL || data_dir == NULL || user_buf == NULL || user_len == 0 || log_buf == NULL ||
        log_len == 0) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    memset(opts, 0, sizeof(*opts));
    opts->data_dir = data_dir;
    opts->bind_address = DD_BROKER_CONF_BIND;
    opts->single_cert_identity = true;
    opts->kick_on_deny = true;
    opts->persistence = true;
    st = dd_broker_conf_path(data_dir, DD_BROKER_CONF_LOG_FILE, log_buf, log_len);
    if (st != DD_BROKER_CONF_OK) {
        return st;
    }
    opts->log_file = log_buf;
    /* The broker must run as whoever owns the data dir's files: as root it
     * would otherwise switch to "mosquitto" before opening them. */
    if (getpwuid_r(geteuid(), &pw, scratch, sizeof(scratch), &res) != 0 || res == NULL) {
        user_buf[0] = '\0';
        opts->run_as_user = NULL;
        return DD_BROKER_CONF_OK;
    }
    if (strlen(pw.pw_name) >= user_len) {
        return DD_BROKER_CONF_BUFFER_TOO_SMALL;
    }
    memcpy(user_buf, pw.pw_name, strlen(pw.pw_name) + 1);
    opts->run_as_user = user_buf;
    return DD_BROKER_CONF_OK;
}

static dd_broker_conf_status_t check_options(const dd_broker_conf_options_t *o)
{
    if (!value_ok(o->data_dir, false) || o->data_dir[0] != '/') {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    if (!port_ok(o->mqtt_port) || !port_ok(o->alpn_port) || o->mqtt_port == o->alpn_port) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    if (o->plain == (o->plugin_path != NULL)) {
        /* Exactly one of: the shim, or the plain baseline. */
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    if (!value_ok(o->bind_address, true) || !value_ok(o->run_as_user, true) ||
        !value_ok(o->plugin_path, true) || !value_ok(o->db_path, true) ||
        !value_ok(o->clock_spec, true) || !value_ok(o->region, true) ||
        !value_ok(o->account, true) || !value_ok(o->metering_topic, true) ||
        !value_ok(o->log_file, true)) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    return DD_BROKER_CONF_OK;
}

static void render_listener(conf_out_t *out, const dd_broker_conf_options_t *o, int port,
                            const char *role)
{
    char ca[DD_FS_PATH_MAX];
    char cert[DD_FS_PATH_MAX];
    char key[DD_FS_PATH_MAX];
    char trust[DD_FS_PATH_MAX];

    (void)dd_pki_path(o->data_dir, DD_PKI_FILE_ROOTCA_CERT, ca, sizeof(ca));
    (void)dd_pki_path(o->data_dir, DD_PKI_FILE_TRUST_DIR, trust, sizeof(trust));
    (void)dd_pki_path(o->data_dir, DD_PKI_FILE_SERVER_CERT, cert, sizeof(cert));
    (void)dd_pki_path(o->data_dir, DD_PKI_FILE_SERVER_KEY, key, sizeof(key));
    out_printf(out, "\n# %s\n", role);
    out_printf(out, "listener %d %s\n", port,
               o->bind_address != NULL ? o->bind_address : DD_BROKER_CONF_BIND);
    out_printf(out, "protocol mqtt\n");
    out_printf(out, "cafile %s\ncertfile %s\nkeyfile %s\n", ca, cert, key);
    /* Registered CA certificates (RegisterCACertificate): a hashed directory OpenSSL
     * searches at each handshake, so a CA added there is trusted without a restart. */
    out_printf(out, "capath %s\n", trust);
    out_printf(out, "require_certificate true\n");
    out_printf(out, "tls_version tlsv1.2\n");
}

dd_broker_conf_status_t dd_broker_conf_render(const dd_broker_conf_options_t *o, char *buf,
                                              size_t len, size_t *written)
{
    conf_out_t out = {buf, len, 0};
    char dir[DD_FS_PATH_MAX];
    dd_broker_conf_status_t st;

    if (o == NULL || buf == NULL || len == 0) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    st = check_options(o);
    if (st != DD_BROKER_CONF_OK) {
        return st;
    }
    st = dd_broker_conf_path(o->data_dir, "", dir, sizeof(dir));
    if (st != DD_BROKER_CONF_OK) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }

    out_printf(&out, "# Generated by ddlocal (dd_broker_conf): do not edit, it is rewritten"
                     " at every start.\n");
    out_printf(&out, "# See docs/reference/broker-shim.md for why each setting is here.\n\n");
    out_printf(&out, "per_listener_settings false\n");
    if (o->run_as_user != NULL) {
        out_printf(&out, "user %s\n", o->run_as_user);
    }
    out_printf(&out, "allow_anonymous %s\n", o->plain ? "true" : "false");
    out_printf(&out, "set_tcp_nodelay true\n");
    out_printf(&out, "queue_qos0_messages true\n");
    out_printf(&out, "max_queued_messages %ld\n",
               o->max_queued_messages > 0 ? o->max_queued_messages : DD_BROKER_CONF_MAX_QUEUED);
    out_printf(&out, "max_queued_bytes 0\n");
    /* 0 = no inflight window: mosquitto 2.0.11 loses QoS 1 messages of a persistent
     * session that reconnects with QoS 1 messages queued behind a full window and
     * QoS 0 ones among them - ddlocald's after a crash (see the header). */
    out_printf(&out, "max_inflight_messages %d\n",
               o->max_inflight_messages > 0 ? o->max_inflight_messages : 0);
    if (o->persistence) {
        out_printf(&out, "persistence true\npersistence_location %s/\n", dir);
        out_printf(&out, "autosave_interval 60\n");
    } else {
        out_printf(&out, "persistence false\n");
    }
    if (o->log_file != NULL) {
        out_printf(&out, "log_dest file %s\n", o->log_file);
    } else {
        out_printf(&out, "log_dest stderr\n");
    }
    if (o->log_debug) {
        out_printf(&out, "log_type all\n");
    } else {
        out_printf(&out, "log_type error\nlog_type warning\nlog_type notice\n"
                         "log_type information\n");
    }
    out_printf(&out, "connection_messages true\n");
    /* The broker's lines on ddlocal's timeline: UTC (`ddlocal up` runs mosquitto with TZ=UTC);
     * strftime has no milliseconds, so whole seconds. */
    out_printf(&out, "log_timestamp true\nlog_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%SZ\n");

    if (!o->plain) {
        out_printf(&out, "\nplugin %s\n", o->plugin_path);
        if (o->db_path != NULL) {
            out_printf(&out, "plugin_opt_db_path %s\n", o->db_path);
        } else {
            out_printf(&out, "plugin_opt_db_path %s/ddlocal.db\n", o->data_dir);
        }
        out_printf(&out, "plugin_opt_clock %s\n", o->clock_spec != NULL ? o->clock_spec : "real");
        if (o->region != NULL) {
            out_printf(&out, "plugin_opt_region %s\n", o->region);
        }
        if (o->account != NULL) {
            out_printf(&out, "plugin_opt_account %s\n", o->account);
        }
        out_printf(&out, "plugin_opt_single_cert_identity %s\n",
                   o->single_cert_identity ? "true" : "false");
        out_printf(&out, "plugin_opt_kick_on_deny %s\n", o->kick_on_deny ? "true" : "false");
        out_printf(&out, "plugin_opt_metering_topic %s\n",
                   o->metering_topic != NULL ? o->metering_topic : DD_BROKER_CONF_METERING_TOPIC);
        if (o->metering_flush_ms > 0) {
            out_printf(&out, "plugin_opt_metering_flush_ms %d\n", o->metering_flush_ms);
        }
        if (o->metering_buffer_bytes > 0) {
            out_printf(&out, "plugin_opt_metering_buffer_bytes %d\n", o->metering_buffer_bytes);
        }
        if (o->plugin_debug) {
            out_printf(&out, "plugin_opt_log_level debug\n");
        }
    }

    render_listener(&out, o, o->mqtt_port, "The 8883 role: mTLS MQTT");
    render_listener(&out, o, o->alpn_port,
                    "The 443 role: mTLS MQTT for agents offering ALPN x-amzn-mqtt-ca");

    if (written != NULL) {
        *written = out.pos;
    }
    if (out.pos >= len) {
        return DD_BROKER_CONF_BUFFER_TOO_SMALL;
    }
    return DD_BROKER_CONF_OK;
}

dd_broker_conf_status_t dd_broker_conf_write(const dd_broker_conf_options_t *opts, const char *path)
{
    char text[16384];
    char dir[DD_FS_PATH_MAX];
    size_t n = 0;
    dd_broker_conf_status_t st;

    if (opts == NULL || path == NULL) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    st = dd_broker_conf_render(opts, text, sizeof(text), &n);
    if (st != DD_BROKER_CONF_OK) {
        return st == DD_BROKER_CONF_BUFFER_TOO_SMALL ? DD_BROKER_CONF_BAD_PARAMETER : st;
    }
    st = dd_broker_conf_path(opts->data_dir, "", dir, sizeof(dir));
    if (st != DD_BROKER_CONF_OK) {
        return DD_BROKER_CONF_BAD_PARAMETER;
    }
    if (dd_fs_mkdirs(dir, 0700) != DD_FS_OK) {
        return DD_BROKER_CONF_IO_ERROR;
    }
    if (dd_fs_write_atomic(path, text, n, 0644) != DD_FS_OK) {
        return DD_BROKER_CONF_IO_ERROR;
    }
    return DD_BROKER_CONF_OK;
}

const char *dd_broker_conf_strerror(dd_broker_conf_status_t status)
{
    switch (status) {
    case DD_BROKER_CONF_OK: return "success";
    case DD_BROKER_CONF_BAD_PARAMETER: return "bad parameter";
    case DD_BROKER_CONF_BUFFER_TOO_SMALL: return "buffer too small";
    case DD_BROKER_CONF_IO_ERROR: return "I/O error";
    }
    return "unknown status";
}
