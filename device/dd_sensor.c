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
#include "dd_devclock.h"
#include "dd_fs.h"
#include "dd_log.h"

void dd_sensor_usage(FILE *out)
{
    fprintf(
        out,
        "usage: ddlocal-sensor -t TOPIC -n NAME [-e ENDPOINT] [-r ROOTCA] [-c CERT] [-k KEY]\n"
        "                      [--compromised | --payload-size N] [--persistent] ...\n"
        "\n"
        "The workshop's telemetry device: publishes a temperature such as 23.45 to TOPIC\n"
        "every 10 s at QoS 0, connecting and disconnecting each time (10 s of pipeline\n"
        "time when a pipeline clock is found, see --clock).\n"
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
        "  -i, --interval SECONDS    seconds between messages (default 10, fractions\n"
        "                            allowed); pipeline seconds on a pipeline clock (--clock)\n"
        "      --clock SPEC|none     pipeline clock to follow (default: $DDLOCAL_CLOCK, else\n"
        "                            \"clock\" of $DDLOCAL_DATA_DIR/endpoints.json); real or\n"
        "                            scaled: messages at pipeline k x interval + interval/2;\n"
        "                            manual or none: real seconds, the first message at once\n"
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
    return (a != NULL && strcmp(arg, a) == 0) || (b != NULL && strcmp(arg, b) == 0) ||
           (c != NULL && strcmp(arg, c) == 0);
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
                dd_log_format_msg(msg, msg_len, "%s: unknown argument or missing value", arg);
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
                dd_log_format_msg(msg, msg_len, "--port must be 1..65535, not '%s'", value);
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
                dd_log_format_msg(msg, msg_len,
                                  "--interval must be a number of seconds >= 0, not '%s'", value);
                return DD_SENSOR_USAGE;
            }
        } else if (is(arg, "--payload-size", NULL, NULL)) {
            if (!parse_ulong(value, DD_SENSOR_MAX_PAYLOAD, &n) || n == 0) {
                dd_log_format_msg(msg, msg_len, "--payload-size must be 1..%u, not '%s'",
                                  DD_SENSOR_MAX_PAYLOAD, value);
                return DD_SENSOR_USAGE;
            }
            opts->payload_size = (size_t)n;
        } else if (is(arg, "--count", NULL, NULL)) {
            if (!parse_ulong(value, 1000000000ULL, &n) || n == 0) {
                dd_log_format_msg(msg, msg_len, "--count must be a positive number, not '%s'",
                                  value);
                return DD_SENSOR_USAGE;
            }
            opts->count = (long)n;
        } else if (is(arg, "--seed", NULL, NULL)) {
            if (!parse_ulong(value, UINT64_MAX, &n)) {
                dd_log_format_msg(msg, msg_len, "--seed must be a number, not '%s'", value);
                return DD_SENSOR_USAGE;
            }
            opts->seed = (uint64_t)n;
        } else if (is(arg, "--clock", NULL, NULL)) {
            opts->clock_spec = value;
        } else if (is(arg, "-s", "--stackname", NULL)) {
            /* startdevice.py's CloudFormation stack: nothing to look up here. */
        } else {
            dd_log_format_msg(msg, msg_len, "unknown argument '%s'", arg);
            return DD_SENSOR_USAGE;
        }
    }
    if (opts->topic == NULL || opts->topic[0] == '\0' || strpbrk(opts->topic, "+#") != NULL) {
        dd_log_format_msg(msg, msg_len, "-t TOPIC is required (a topic name, no wildcards)");
        return DD_SENSOR_USAGE;
    }
    if (opts->name == NULL || opts->name[0] == '\0') {
        dd_log_format_msg(msg, msg_len,
                          "-n NAME is required (the device name, e.g. SensorDevice03)");
        return DD_SENSOR_USAGE;
    }
    if (client_id == NULL) {
        int w = snprintf(opts->client_id, sizeof(opts->client_id), "%s%s", opts->name,
                         DD_SENSOR_CLIENT_SUFFIX);

        if (w < 0 || (size_t)w >= sizeof(opts->client_id)) {
            dd_log_format_msg(msg, msg_len, "device name too long");
            return DD_SENSOR_USAGE;
        }
    } else if (client_id[0] == '\0' || strlen(client_id) >= sizeof(opts->client_id)) {
        dd_log_format_msg(msg, msg_len, "--client-id must be 1..%zu characters",
                          sizeof(opts->client_id) - 1);
        return DD_SENSOR_USAGE;
    } else {
        (void)snprintf(opts->client_id, sizeof(opts->client_id), "%s", client_id);
    }
    if (endpoint == NULL && read_endpoint_file(endpoint_file, endpoint_buf, sizeof(endpoint_buf))) {
        endpoint = endpoint_buf;
    }
    if (endpoint == NULL) {
        if (!opts->dry_run) {
            dd_log_format_msg(msg, msg_len, "-e ENDPOINT is required (%s does not exist)",
                              endpoint_file != NULL ? endpoint_file : "no endpoint file");
            return DD_SENSOR_USAGE;
        }
    } else if (dd_conn_split_endpoint(endpoint, opts->host, sizeof(opts->host), &port) !=
               DD_CONN_OK) {
        dd_log_format_msg(msg, msg_len, "endpoint '%s' is not HOST or HOST:PORT", endpoint);
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

/* Messages kept while a connection is being made; older ones are skipped. */
#define MAX_QUEUED 4u
/* Per-message mode on a pipeline clock: connect at most this long before a message is due. */
#define MAX_LEAD_MS 2000

typedef struct sensor {
    const dd_sensor_options_t *o;
    dd_conn_params_t params;
    dd_conn_callbacks_t callbacks;
    dd_conn_t *conn;
    dd_sensor_stats_t st;
    dd_devclock_sched_t sched;
    uint64_t rng;
    char *buf;
    size_t len;
    uint64_t due_count;      /* Messages that fell due (--count counts these). */
    unsigned queued;         /* Due, not yet sent: waiting for the connection. */
    int64_t lead_ms;         /* Per-message mode: connect this long before a message is due. */
    unsigned fail_streak;    /* Failed attempts since the last connection. */
    char last_fail[160];     /* The failure last logged as a warning. */
    int64_t last_loss;       /* Monotonic ms of the last lost connection (0: none). */
    bool refused_since_loss; /* An attempt failed since then (quarantine, broker down). */
    int64_t now_ms;
    int64_t finish_by; /* --count reached: stop waiting for the last connection then. */
} sensor_t;

/* Makes and publishes one message; false when the connection refused it. */
static bool send_one(sensor_t *s)
{
    size_t len = 0;
    dd_conn_status_t st;

    (void)dd_sensor_payload(s->o->payload_size, &s->rng, s->buf, s->o->payload_size + 8, &len);
    s->len = len;
    st = dd_conn_publish(s->conn, s->o->topic, s->buf, s->len, 0, NULL);
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

/* Sends every queued message; in per-message mode then disconnects, as the workshop's device. */
static void flush(sensor_t *s, dd_conn_t *conn)
{
    bool sent_any = s->queued > 0;

    while (s->queued > 0) {
        s->queued--;
        if (!send_one(s)) {
            s->st.skipped++;
        }
    }
    if (sent_any && !s->o->persistent) {
        dd_conn_stop(conn, s->now_ms);
    }
}

static void on_connected(dd_conn_t *conn, void *ctx)
{
    sensor_t *s = ctx;

    s->st.connects++;
    if (s->fail_streak > 1) {
        DD_LOG_INFO("connected as %s after %u failed attempts", dd_conn_client_id(conn),
                    s->fail_streak);
    } else {
        DD_LOG_DEBUG("connected as %s", dd_conn_client_id(conn));
    }
    s->fail_streak = 0;
    s->last_fail[0] = '\0';
    /* Connected ahead of the next message (lead): it is sent when due. */
    flush(s, conn);
}

/* See the agent's takeover_likely(): a second loss within a minute, no refusal in between. */
static bool takeover_likely(int64_t now, int64_t last_loss, bool refused_since_loss)
{
    return last_loss > 0 && now - last_loss < 60000 && !refused_since_loss;
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    sensor_t *s = ctx;

    if (retry_in_ms < 0) {
        DD_LOG_DEBUG("disconnected");
    } else if (was_connected) {
        if (takeover_likely(s->now_ms, s->last_loss, s->refused_since_loss)) {
            DD_LOG_WARN("connection lost (%s, %d); retrying in %.1f s. If another client connects "
                        "with the same client id (%s), the broker closes this connection: is "
                        "another sensor with -n %s running?",
                        text, reason, (double)retry_in_ms / 1000.0, dd_conn_client_id(conn),
                        s->o->name);
        } else {
            DD_LOG_WARN("connection lost (%s, %d); retrying in %.1f s", text, reason,
                        (double)retry_in_ms / 1000.0);
        }
        s->last_loss = s->now_ms;
        s->refused_since_loss = false;
        s->fail_streak = 0;
        s->last_fail[0] = '\0';
    } else {
        s->fail_streak++;
        /* Refused or unreachable since the loss: a quarantine or a broker restart. */
        s->refused_since_loss = true;
        /* A refusal repeats every few seconds while it lasts: warn once per streak and reason. */
        if (strncmp(s->last_fail, text, sizeof(s->last_fail) - 1) != 0) {
            DD_LOG_WARN("connection failed (%s, %d); retrying every few seconds (at most %.0f s "
                        "apart) without logging each attempt",
                        text, reason, (double)s->params.backoff_max_ms / 1000.0);
            (void)snprintf(s->last_fail, sizeof(s->last_fail), "%s", text);
        } else {
            DD_LOG_DEBUG("connection failed again (%s, %d); retrying in %.1f s", text, reason,
                         (double)retry_in_ms / 1000.0);
        }
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

/* One message fell due: send it, or keep it for the connection that will. */
static void due(sensor_t *s, FILE *out)
{
    dd_conn_state_t state;

    s->due_count++;
    if (s->o->dry_run) {
        size_t len = 0;

        (void)dd_sensor_payload(s->o->payload_size, &s->rng, s->buf, s->o->payload_size + 8, &len);
        (void)fwrite(s->buf, 1, len, out);
        (void)fputc('\n', out);
        (void)fflush(out);
        s->st.sent++;
        s->st.bytes += len;
        return;
    }
    state = dd_conn_state(s->conn);
    if (state == DD_CONN_WAITING && s->queued > 0) {
        /* Refused or unreachable: keep only the newest, no burst when it comes back. */
        s->st.skipped += s->queued;
        s->queued = 0;
    } else if (s->queued >= MAX_QUEUED) {
        s->st.skipped++;
        s->queued--;
    }
    s->queued++;
    if (state == DD_CONN_CONNECTED) {
        flush(s, s->conn);
    } else if (state == DD_CONN_IDLE || state == DD_CONN_CLOSED) {
        (void)dd_conn_start(s->conn, s->now_ms);
    }
    /* CONNECTING or WAITING: sent on connection. CLOSING: the loop starts a new one once closed. */
}

/* With --count: every message sent or given up, and the last connection closed. */
static bool done(sensor_t *s)
{
    dd_conn_state_t state = s->conn == NULL ? DD_CONN_CLOSED : dd_conn_state(s->conn);

    if (s->o->count == 0 || s->due_count < (uint64_t)s->o->count) {
        return false;
    }
    if (s->queued == 0 && (s->o->persistent || state == DD_CONN_CLOSED || state == DD_CONN_IDLE)) {
        return true;
    }
    if (s->finish_by == 0) {
        /* The last message may still be on its way: give its connection a while. */
        s->finish_by = s->now_ms + 10000;
    }
    return s->now_ms >= s->finish_by;
}

/* Says when messages go out, so that a learner can tell it is working before the first. */
static void announce(const sensor_t *s, int64_t interval_ms)
{
    char at[64];
    double wait_s = (double)dd_devclock_sched_wait_ms(&s->sched, s->now_ms) / 1000.0;

    if (!s->sched.aligned) {
        return;
    }
    (void)dd_devclock_stamp(NULL, s->sched.next_ms, at, sizeof(at));
    DD_LOG_INFO("messages at pipeline times k x %g s + %g s, so every 300-s window gets the same "
                "number; the first at %s (in %.1f real s)",
                (double)interval_ms / 1000.0, (double)(interval_ms / 2) / 1000.0, at, wait_s);
}

dd_sensor_status_t dd_sensor_run(const dd_sensor_options_t *opts, volatile sig_atomic_t *stop,
                                 FILE *out, dd_sensor_stats_t *stats)
{
    sensor_t s;
    int64_t interval_ms;
    int64_t next_tick;
    dd_sensor_status_t result = DD_SENSOR_OK;

    if (opts == NULL || stop == NULL) {
        return DD_SENSOR_BAD_PARAMETER;
    }
    memset(&s, 0, sizeof(s));
    s.o = opts;
    s.now_ms = dd_clock_mono_ms();
    s.rng =
        opts->seed != 0 ? opts->seed : ((uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 40));
    s.buf = malloc(opts->payload_size + 8);
    if (s.buf == NULL) {
        return DD_SENSOR_NO_MEMORY;
    }
    if (out == NULL) {
        out = stdout;
    }
    interval_ms = (int64_t)llround(opts->interval_s * 1000.0);
    if (interval_ms < 2) {
        interval_ms = 2;
    }
    /* Aligned: at k x interval + interval/2, in the middle of each interval, away from the
     * window boundaries. Free-running, like startdevice.py: the first message right away. */
    (void)dd_devclock_sched_init(&s.sched, opts->clock, interval_ms, interval_ms / 2, s.now_ms, 0);
    if (s.sched.aligned && !opts->persistent) {
        double real = (double)interval_ms;

        if (opts->clock->clock.mode == DD_CLOCK_SCALED) {
            real /= opts->clock->clock.scale;
        }
        /* The handshake then happens before the message is due, not in its time. */
        s.lead_ms = (int64_t)(real / 2) < MAX_LEAD_MS ? (int64_t)(real / 2) : MAX_LEAD_MS;
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
        /* A released device is back within seconds, whatever the time scale. */
        s.params.backoff_max_ms = DD_SENSOR_BACKOFF_MAX_MS;
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
    announce(&s, interval_ms);
    next_tick = s.now_ms;
    while (!*stop && !done(&s)) {
        int64_t wake;
        bool more = opts->count == 0 || s.due_count < (uint64_t)opts->count;
        dd_conn_state_t state;

        s.now_ms = dd_clock_mono_ms();
        if (s.sched.aligned && opts->clock != NULL) {
            /* `ddlocal clock scale X` while sending: the next message follows the new rate. */
            char msg[400];
            if (dd_devclock_follow(opts->clock, s.now_ms, msg, sizeof(msg))) {
                DD_LOG_INFO("%s", msg);
            }
        }
        if (more && dd_devclock_sched_due(&s.sched, s.now_ms, NULL, NULL)) {
            due(&s, out);
            continue;
        }
        state = dd_conn_state(s.conn);
        if (s.conn != NULL && !opts->persistent &&
            (state == DD_CONN_IDLE || state == DD_CONN_CLOSED) &&
            (s.queued > 0 || (more && s.lead_ms > 0 &&
                              dd_devclock_sched_wait_ms(&s.sched, s.now_ms) <= s.lead_ms))) {
            /* A message still waiting (its connection was closing), or the next one is near. */
            (void)dd_conn_start(s.conn, s.now_ms);
            next_tick = s.now_ms;
        }
        if (s.conn != NULL && s.now_ms >= next_tick) {
            next_tick = dd_conn_tick(s.conn, s.now_ms);
        }
        wake = s.now_ms + 1000;
        if (more) {
            int64_t ahead = dd_devclock_sched_wait_ms(&s.sched, s.now_ms);

            if (s.lead_ms > 0 && ahead > s.lead_ms) {
                ahead -= s.lead_ms;
            }
            wake = s.now_ms + ahead < wake ? s.now_ms + ahead : wake;
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
    s.st.skipped += s.queued;
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
