/*
 * dd_sensor: the workshop's telemetry device (see dd_sensor.h).
 */
#include "dd_sensor.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_conn.h"
#include "dd_fs.h"
#include "dd_log.h"

static void set_msg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

void dd_sensor_usage(FILE *out)
{
    fprintf(out,
            "usage: ddlocal-sensor -t TOPIC -n NAME [-e ENDPOINT] [-r ROOTCA] [-c CERT] [-k KEY]\n"
            "                      [--compromised | --payload-size N] [--persistent] ...\n"
            "\n"
            "The workshop's telemetry device: publishes a temperature such as 23.45 to TOPIC\n"
            "every 10 s at QoS 0, connecting and disconnecting each time.\n"
            "  -t, --topic TOPIC         topic to publish to (workshop: temperature-device-03)\n"
            "  -n, --name NAME           device name (also -d/--devicename; workshop: SensorDevice03)\n"
            "      --client-id ID        MQTT client id (default NAME-telemetry, so that the\n"
            "                            device's agent may use NAME without being evicted)\n"
            "  -e, --endpoint HOST[:PORT] broker (default: the contents of /tmp/endpoint)\n"
            "      --port N              MQTT port (default 8883; 443 offers ALPN x-amzn-mqtt-ca)\n"
            "      --alpn PROTO          ALPN protocol to offer\n"
            "  -r, --rootCA FILE         root CA (default /tmp/rootca.pem)\n"
            "  -c, --cert FILE           certificate (default /tmp/cert.pem)\n"
            "  -k, --key FILE            private key (default /tmp/private.key)\n"
            "  -i, --interval SECONDS    seconds between messages (default 10, fractions allowed)\n"
            "      --compromised         send 3000 random [A-Z0-9] characters instead\n"
            "      --payload-size N      send N random [A-Z0-9] characters instead\n"
            "      --persistent          keep one connection instead of one per message\n"
            "      --count N             send N messages, then exit\n"
            "      --dry-run             print the payloads instead of connecting\n"
            "      --seed N              reproducible payloads\n"
            "  -s, --stackname NAME      accepted and ignored (startdevice.py's CloudFormation stack)\n"
            "  -v, --verbose             debug logging\n");
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] == '-') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* First line of the workshop's /tmp/endpoint, trimmed. */
static bool read_endpoint_file(const char *path, char *buf, size_t len)
{
    char *text = NULL;
    size_t n;
    const char *p;

    if (path == NULL || dd_fs_read_file(path, 4096, &text, NULL) != DD_FS_OK) {
        return false;
    }
    p = text + strspn(text, " \t\r\n");
    n = strcspn(p, " \t\r\n");
    if (n == 0 || n >= len) {
        free(text);
        return false;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    free(text);
    return true;
}

static bool is(const char *arg, const char *a, const char *b, const char *c)
{
    return (a != NULL && strcmp(arg, a) == 0) || (b != NULL && strcmp(arg, b) == 0)
           || (c != NULL && strcmp(arg, c) == 0);
}

dd_sensor_status_t dd_sensor_parse_args(int argc, char **argv, const char *endpoint_file,
                                        dd_sensor_options_t *opts, char *msg, size_t msg_len)
{
    const char *endpoint = NULL;
    const char *client_id = NULL;
    char endpoint_buf[256];
    uint16_t port = 0;
    int i;

    if (opts == NULL || (argc > 0 && argv == NULL)) {
        return DD_SENSOR_BAD_PARAMETER;
    }
    memset(opts, 0, sizeof(*opts));
    opts->root_ca = DD_SENSOR_DEFAULT_ROOTCA;
    opts->cert = DD_SENSOR_DEFAULT_CERT;
    opts->key = DD_SENSOR_DEFAULT_KEY;
    opts->interval_s = 10.0;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        char name[64];
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        unsigned long long n = 0;

        if (eq != NULL && (size_t)(eq - arg) < sizeof(name)) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            arg = name;
            value = eq + 1;
        }
        if (is(arg, "-h", "--help", NULL)) {
            return DD_SENSOR_HELP;
        }
        if (is(arg, "--compromised", NULL, NULL)) {
            opts->payload_size = DD_SENSOR_COMPROMISED_SIZE;
            continue;
        }
        if (is(arg, "--persistent", NULL, NULL)) {
            opts->persistent = true;
            continue;
        }
        if (is(arg, "--dry-run", NULL, NULL)) {
            opts->dry_run = true;
            continue;
        }
        if (is(arg, "-v", "--verbose", NULL)) {
            opts->verbose = true;
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc) {
                set_msg(msg, msg_len, "%s: unknown argument or missing value", arg);
                return DD_SENSOR_USAGE;
            }
            value = argv[++i];
        }
        if (is(arg, "-t", "--topic", "--topicname")) {
            opts->topic = value;
        } else if (is(arg, "-n", "--name", NULL) || is(arg, "-d", "--devicename", NULL)) {
            opts->name = value;
        } else if (is(arg, "--client-id", "--client_id", "-id")) {
            client_id = value;
        } else if (is(arg, "-e", "--endpoint", NULL)) {
            endpoint = value;
        } else if (is(arg, "--port", NULL, NULL)) {
            if (!parse_ulong(value, 65535, &n) || n == 0) {
                set_msg(msg, msg_len, "--port must be 1..65535, not '%s'", value);
                return DD_SENSOR_USAGE;
            }
            opts->port = (uint16_t)n;
        } else if (is(arg, "--alpn", NULL, NULL)) {
            opts->alpn = value;
        } else if (is(arg, "-r", "--rootCA", "--root-ca")) {
            opts->root_ca = value;
        } else if (is(arg, "-c", "--cert", NULL)) {
            opts->cert = value;
        } else if (is(arg, "-k", "--key", NULL)) {
            opts->key = value;
        } else if (is(arg, "-i", "--interval", NULL)) {
            if (!parse_double(value, 0.0, 31536000.0, &opts->interval_s)) {
                set_msg(msg, msg_len, "--interval must be a number of seconds >= 0, not '%s'",
                        value);
                return DD_SENSOR_USAGE;
            }
        } else if (is(arg, "--payload-size", NULL, NULL)) {
            if (!parse_ulong(value, DD_SENSOR_MAX_PAYLOAD, &n) || n == 0) {
                set_msg(msg, msg_len, "--payload-size must be 1..%u, not '%s'",
                        DD_SENSOR_MAX_PAYLOAD, value);
                return DD_SENSOR_USAGE;
            }
            opts->payload_size = (size_t)n;
        } else if (is(arg, "--count", NULL, NULL)) {
            if (!parse_ulong(value, 1000000000ULL, &n) || n == 0) {
                set_msg(msg, msg_len, "--count must be a positive number, not '%s'", value);
                return DD_SENSOR_USAGE;
            }
            opts->count = (long)n;
        } else if (is(arg, "--seed", NULL, NULL)) {
            if (!parse_ulong(value, UINT64_MAX, &n)) {
                set_msg(msg, msg_len, "--seed must be a number, not '%s'", value);
                return DD_SENSOR_USAGE;
            }
            opts->seed = (uint64_t)n;
        } else if (is(arg, "-s", "--stackname", NULL)) {
            /* startdevice.py's CloudFormation stack: nothing to look up here. */
        } else {
            set_msg(msg, msg_len, "unknown argument '%s'", arg);
            return DD_SENSOR_USAGE;
        }
    }
    if (opts->topic == NULL || opts->topic[0] == '\0' || strpbrk(opts->topic, "+#") != NULL) {
        set_msg(msg, msg_len, "-t TOPIC is required (a topic name, no wildcards)");
        return DD_SENSOR_USAGE;
    }
    if (opts->name == NULL || opts->name[0] == '\0') {
        set_msg(msg, msg_len, "-n NAME is required (the device name, e.g. SensorDevice03)");
        return DD_SENSOR_USAGE;
    }
    if (client_id == NULL) {
        int w = snprintf(opts->client_id, sizeof(opts->client_id), "%s%s", opts->name,
                         DD_SENSOR_CLIENT_SUFFIX);

        if (w < 0 || (size_t)w >= sizeof(opts->client_id)) {
            set_msg(msg, msg_len, "device name too long");
            return DD_SENSOR_USAGE;
        }
    } else if (client_id[0] == '\0' || strlen(client_id) >= sizeof(opts->client_id)) {
        set_msg(msg, msg_len, "--client-id must be 1..%zu characters", sizeof(opts->client_id) - 1);
        return DD_SENSOR_USAGE;
    } else {
        (void)snprintf(opts->client_id, sizeof(opts->client_id), "%s", client_id);
    }
    if (endpoint == NULL && read_endpoint_file(endpoint_file, endpoint_buf, sizeof(endpoint_buf))) {
        endpoint = endpoint_buf;
    }
    if (endpoint == NULL) {
        if (!opts->dry_run) {
            set_msg(msg, msg_len, "-e ENDPOINT is required (%s does not exist)",
                    endpoint_file != NULL ? endpoint_file : "no endpoint file");
            return DD_SENSOR_USAGE;
        }
    } else if (dd_conn_split_endpoint(endpoint, opts->host, sizeof(opts->host), &port)
               != DD_CONN_OK) {
        set_msg(msg, msg_len, "endpoint '%s' is not HOST or HOST:PORT", endpoint);
        return DD_SENSOR_USAGE;
    }
    if (opts->port == 0) {
        opts->port = port != 0 ? port : 8883;
    }
    if (opts->alpn == NULL && opts->port == 443) {
        opts->alpn = "x-amzn-mqtt-ca";
    }
    return DD_SENSOR_OK;
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

dd_sensor_status_t dd_sensor_payload(size_t size, uint64_t *rng, char *buf, size_t len,
                                     size_t *out_len)
{
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t i;

    if (rng == NULL || buf == NULL || out_len == NULL) {
        return DD_SENSOR_BAD_PARAMETER;
    }
    *out_len = 0;
    if (size == 0) {
        /* Hundredths in [1510, 2990]: round(uniform(15.1, 29.9), 2). */
        unsigned v = 1510u + (unsigned)(xorshift(rng) % 1481u);
        int n;

        if (len < 8) {
            return DD_SENSOR_BUFFER_TOO_SMALL;
        }
        n = snprintf(buf, len, "%u.%02u", v / 100u, v % 100u);
        *out_len = (size_t)n;
        return DD_SENSOR_OK;
    }
    if (len < size + 1) {
        return DD_SENSOR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < size; i++) {
        buf[i] = ALPHABET[xorshift(rng) % (sizeof(ALPHABET) - 1)];
    }
    buf[size] = '\0';
    *out_len = size;
    return DD_SENSOR_OK;
}

/* ---- run ------------------------------------------------------------------ */

typedef struct sensor {
    const dd_sensor_options_t *o;
    dd_conn_params_t params;
    dd_conn_callbacks_t callbacks;
    dd_conn_t *conn;
    dd_sensor_stats_t st;
    uint64_t rng;
    char *buf;
    size_t len;
    bool have_message;      /* A payload is waiting for the connection (per-message mode). */
    int64_t now_ms;
    int64_t finish_by;      /* --count reached: stop waiting for the last connection then. */
} sensor_t;

static bool send_now(sensor_t *s)
{
    dd_conn_status_t st = dd_conn_publish(s->conn, s->o->topic, s->buf, s->len, 0, NULL);

    if (st != DD_CONN_OK) {
        DD_LOG_WARN("publishing to %s failed: %s", s->o->topic, dd_conn_strerror(st));
        return false;
    }
    s->st.sent++;
    s->st.bytes += s->len;
    DD_LOG_INFO("sent %zu bytes to %s%s%.*s", s->len, s->o->topic, s->len <= 16 ? ": " : "",
                s->len <= 16 ? (int)s->len : 0, s->buf);
    return true;
}

static void on_connected(dd_conn_t *conn, void *ctx)
{
    sensor_t *s = ctx;

    s->st.connects++;
    DD_LOG_DEBUG("connected as %s", dd_conn_client_id(conn));
    if (s->have_message) {
        s->have_message = false;
        if (!send_now(s)) {
            s->st.skipped++;
        }
    }
    if (!s->o->persistent) {
        /* The workshop's device disconnects after every message. */
        dd_conn_stop(conn, s->now_ms);
    }
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    (void)conn;
    (void)ctx;
    if (retry_in_ms < 0) {
        DD_LOG_DEBUG("disconnected");
    } else {
        DD_LOG_WARN("%s (%s, %d); retrying in %.1f s",
                    was_connected ? "connection lost" : "connection failed", text, reason,
                    (double)retry_in_ms / 1000.0);
    }
}

static void pump(sensor_t *s, int64_t timeout_ms)
{
    struct pollfd pfd;
    int fd = s->conn == NULL ? -1 : dd_conn_fd(s->conn);

    if (timeout_ms < 0) {
        timeout_ms = 0;
    }
    if (fd < 0) {
        if (timeout_ms > 0) {
            (void)poll(NULL, 0, (int)timeout_ms);
        }
        return;
    }
    pfd.fd = fd;
    pfd.events = (short)(POLLIN | (dd_conn_want_write(s->conn) ? POLLOUT : 0));
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)timeout_ms) > 0) {
        s->now_ms = dd_clock_mono_ms();
        dd_conn_io(s->conn, (unsigned)pfd.revents, s->now_ms);
    }
}

/* One message is due: send it, or start a connection that will. */
static void due(sensor_t *s, FILE *out)
{
    size_t len = 0;
    dd_conn_state_t state;

    (void)dd_sensor_payload(s->o->payload_size, &s->rng, s->buf, s->o->payload_size + 8, &len);
    s->len = len;
    if (s->o->dry_run) {
        (void)fwrite(s->buf, 1, len, out);
        (void)fputc('\n', out);
        (void)fflush(out);
        s->st.sent++;
        s->st.bytes += len;
        return;
    }
    state = dd_conn_state(s->conn);
    if (s->o->persistent) {
        if (state == DD_CONN_CONNECTED) {
            if (!send_now(s)) {
                s->st.skipped++;
            }
            return;
        }
        /* Sent on (re)connection; a message still waiting is replaced by this one. */
        if (s->have_message) {
            s->st.skipped++;
        }
        s->have_message = true;
        return;
    }
    if (state == DD_CONN_IDLE || state == DD_CONN_CLOSED) {
        s->have_message = true;
        (void)dd_conn_start(s->conn, s->now_ms);
    } else {
        /* The previous message is still trying to get through. */
        s->st.skipped++;
        DD_LOG_WARN("still %s: this message is skipped", dd_conn_state_name(state));
    }
}

/* With --count: every message sent or given up, and the last connection closed. */
static bool done(sensor_t *s)
{
    dd_conn_state_t state = s->conn == NULL ? DD_CONN_CLOSED : dd_conn_state(s->conn);

    if (s->o->count == 0 || s->st.sent + s->st.skipped < (uint64_t)s->o->count) {
        return false;
    }
    if (!s->have_message
        && (s->o->persistent || state == DD_CONN_CLOSED || state == DD_CONN_IDLE)) {
        return true;
    }
    if (s->finish_by == 0) {
        /* The last message may still be on its way: give its connection a while. */
        s->finish_by = s->now_ms + 10000;
    }
    return s->now_ms >= s->finish_by;
}

dd_sensor_status_t dd_sensor_run(const dd_sensor_options_t *opts, volatile sig_atomic_t *stop,
                                 FILE *out, dd_sensor_stats_t *stats)
{
    sensor_t s;
    int64_t interval_ms;
    int64_t next_due;
    int64_t next_tick;
    dd_sensor_status_t result = DD_SENSOR_OK;

    if (opts == NULL || stop == NULL) {
        return DD_SENSOR_BAD_PARAMETER;
    }
    memset(&s, 0, sizeof(s));
    s.o = opts;
    s.now_ms = dd_clock_mono_ms();
    s.rng = opts->seed != 0 ? opts->seed
                            : ((uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 40));
    s.buf = malloc(opts->payload_size + 8);
    if (s.buf == NULL) {
        return DD_SENSOR_NO_MEMORY;
    }
    if (out == NULL) {
        out = stdout;
    }
    if (!opts->dry_run) {
        dd_conn_status_t st;

        dd_conn_lib_init();
        s.callbacks.on_connected = on_connected;
        s.callbacks.on_disconnected = on_disconnected;
        s.params.host = opts->host;
        s.params.port = opts->port;
        s.params.keepalive_s = 60;
        s.params.clean_session = true;
        s.params.ca_file = opts->root_ca;
        s.params.cert_file = opts->cert;
        s.params.key_file = opts->key;
        s.params.alpn = (opts->alpn != NULL && opts->alpn[0] != '\0') ? opts->alpn : NULL;
        /* One message every interval: an attempt never outlives it by much. */
        s.params.connect_timeout_ms = 10000;
        s.params.callbacks = &s.callbacks;
        st = dd_conn_create(&s.params, opts->client_id, NULL, &s, s.rng, &s.conn);
        if (st != DD_CONN_OK) {
            DD_LOG_ERROR("cannot set up the connection: %s (check -r/-c/-k: %s, %s, %s)",
                         dd_conn_strerror(st), opts->root_ca, opts->cert, opts->key);
            free(s.buf);
            return DD_SENSOR_SETUP_FAILED;
        }
        DD_LOG_INFO("sending %s to %s every %g s via %s:%u as %s (%s)",
                    opts->payload_size ? "random text" : "a temperature", opts->topic,
                    opts->interval_s, opts->host, (unsigned)opts->port, opts->client_id,
                    opts->persistent ? "one connection" : "a connection per message");
        if (opts->persistent) {
            (void)dd_conn_start(s.conn, s.now_ms);
        }
    }
    interval_ms = (int64_t)llround(opts->interval_s * 1000.0);
    /* Like startdevice.py: the first message right away. */
    next_due = s.now_ms;
    next_tick = s.now_ms;
    while (!*stop && !done(&s)) {
        int64_t wake;

        s.now_ms = dd_clock_mono_ms();
        if ((opts->count == 0 || s.st.sent + s.st.skipped < (uint64_t)opts->count)
            && s.now_ms >= next_due) {
            due(&s, out);
            next_due += interval_ms;
            if (next_due <= s.now_ms) {
                next_due = s.now_ms + interval_ms;
            }
            continue;
        }
        if (s.conn != NULL && s.now_ms >= next_tick) {
            next_tick = dd_conn_tick(s.conn, s.now_ms);
        }
        wake = s.now_ms + 1000;
        if (opts->count == 0 || s.st.sent + s.st.skipped < (uint64_t)opts->count) {
            wake = next_due < wake ? next_due : wake;
        }
        if (s.conn != NULL && next_tick < wake) {
            wake = next_tick;
        }
        pump(&s, wake - s.now_ms);
    }
    if (s.conn != NULL) {
        int64_t deadline = dd_clock_mono_ms() + 2000;

        dd_conn_stop(s.conn, dd_clock_mono_ms());
        while (dd_conn_state(s.conn) == DD_CONN_CLOSING && dd_clock_mono_ms() < deadline) {
            pump(&s, 100);
        }
        dd_conn_destroy(s.conn);
    }
    if (!opts->dry_run) {
        DD_LOG_INFO("%" PRIu64 " message(s) sent (%" PRIu64 " bytes), %" PRIu64 " skipped",
                    s.st.sent, s.st.bytes, s.st.skipped);
    }
    if (opts->count > 0 && s.st.sent < (uint64_t)opts->count) {
        result = DD_SENSOR_INCOMPLETE;
    }
    if (stats != NULL) {
        *stats = s.st;
    }
    free(s.buf);
    return result;
}

const char *dd_sensor_strerror(dd_sensor_status_t status)
{
    switch (status) {
    case DD_SENSOR_OK: return "ok";
    case DD_SENSOR_BAD_PARAMETER: return "bad parameter";
    case DD_SENSOR_USAGE: return "bad command line";
    case DD_SENSOR_HELP: return "help requested";
    case DD_SENSOR_SETUP_FAILED: return "setup failed";
    case DD_SENSOR_BUFFER_TOO_SMALL: return "buffer too small";
    case DD_SENSOR_INCOMPLETE: return "not every message was sent";
    case DD_SENSOR_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
