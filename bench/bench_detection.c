/*
 * bench_detection: detection latency of the whole pipeline, from a violating
 * Device Defender report to the thing being denied at the broker.
 *
 *   bench_detection [--runs N] [--warmup W] [--gap-ms G] [--probe-us P] [--csv FILE]
 *                   [--keep] [--up-arg ARG]...
 *
 * Starts its own `ddlocal up --isolator BadIoTDevices:IsolatedDevices` (real
 * clock, free ports, temporary data dir) and provisions the Module 4 world:
 * IsolatedDevices with the DenyAll policy, the intended Module 4 profile
 * (aws:all-bytes-out less-than-equals 200, alert target BadIoTDevices)
 * attached to all things, and W + N things with EC certificates (the fleet
 * policy: connect as the thing, publish its report topics and
 * bench/<thing>/probe, receive its replies).
 *
 * Each run uses a fresh thing, so it starts non-isolated with no alarm: the
 * device connects (MQTT 5, client id = thing name, its own certificate),
 * subscribes to its /accepted topic, then publishes a report with bytes_out
 * 3000 at QoS 1 (t0). From its /accepted reply on, it publishes probes on
 * bench/<thing>/probe at QoS 1, one at a time, each at most P microseconds
 * after the previous one and never before it was acknowledged.
 *
 * "Denied at the broker" is the first of: a probe refused with PUBACK reason
 * 0x87 (not authorized), or the connection closed by the broker. Why this
 * one and not a fresh CONNECT getting CONNACK 5: isolation exists to stop the
 * device that misbehaves, on the connection it has; the shim revokes that
 * connection the moment it applies the registry change (every packet of it is
 * denied from then on, the kick follows at the broker's next tick), which the
 * probe sees within one probe interval and round trip (~0.1-0.3 ms). A fresh
 * CONNECT would add a TLS handshake (a few ms of broker CPU) to every poll
 * and measure the handshake as much as the isolation; both are decided by
 * the same shim state, so they become true together.
 *
 * Breakdown, each from t0 (monotonic clock, microseconds):
 *   puback    the broker acknowledged the report
 *   accepted  /accepted reached the device (ddlocald committed the report)
 *   alert     the SNS stand-in alert (in-alarm, this thing) reached a service
 *             subscriber on ddlocal/sns/BadIoTDevices
 *   revoked   the shim logged "connection T (thing T) lost its rights" in the
 *             broker log (inotify on the file: the moment the broker applied
 *             the group change)
 *   denied    the probe refused (or the connection closed)
 *   answered  the isolator logged "isolated T" (its AddThingToThingGroup
 *             call returned; ddlocald answers only after the broker applied
 *             the change, so this comes after "denied")
 * Prints p50, p90, p99 and max of each, and of each step between them.
 */
#define _GNU_SOURCE 1 /* ppoll */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dd_benchpipe.h"
#include "dd_fs.h"
#include "dd_names.h"
#include "dd_scenario.h"

#ifndef DD_SOURCE_DIR
#define DD_SOURCE_DIR "."
#endif

#define SNS_TOPIC "BadIoTDevices"
#define GROUP "IsolatedDevices"
#define PROFILE "DetectSendingMoreThanAverageBytes"
#define RUN_TIMEOUT_US (10 * 1000000LL)
#define LOG_WAIT_US (2 * 1000000LL)

enum { ST_PUBACK, ST_ACCEPTED, ST_ALERT, ST_REVOKED, ST_DENIED, ST_ANSWERED, ST_COUNT };
static const char *const STAGE_NAMES[ST_COUNT] = {"puback",  "accepted", "alert",
                                                  "revoked", "denied",   "answered"};

typedef struct run {
    char thing[64];
    char report_topic[160];
    char accepted_topic[160 + sizeof "/accepted"];
    char probe_topic[160];
    int report_mid;
    int probe_mid;
    int probes;
    bool probing; /* /accepted seen: probe until denied */
    bool probe_in_flight;
    int64_t last_probe_us;
    bool kicked;
    bool refused;
    bool connected;
    bool subscribed;
    int connect_rc;
    int64_t t0;
    int64_t t[ST_COUNT]; /* absolute monotonic us, 0 = not yet */
} run_t;

/* A log file followed through inotify. */
typedef struct follow {
    char path[300];
    int wd;
    off_t offset;
    char partial[4096];
    size_t partial_len;
} follow_t;

typedef struct bench {
    dd_benchpipe_t bp;
    int probe_interval_us; /* at most one probe per this interval, one in flight */
    struct mosquitto *observer;
    bool observer_ready;
    struct mosquitto *device;
    run_t *run; /* the run under way, or NULL */
    int inotify_fd;
    follow_t broker_log;
    follow_t isolator_log;
    char certs_dir[300];
} bench_t;

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t now_us(void)
{
    return dd_benchpipe_now_us();
}

static void mark(run_t *r, int stage)
{
    if (r != NULL && r->t[stage] == 0) {
        r->t[stage] = now_us();
    }
}

/* ---- the log files (revoked, answered) ------------------------------------------------------ */

static void follow_init(follow_t *f, int fd, const char *path)
{
    memset(f, 0, sizeof(*f));
    (void)snprintf(f->path, sizeof(f->path), "%s", path);
    f->wd = inotify_add_watch(fd, path, IN_MODIFY);
    if (f->wd < 0) {
        fprintf(stderr, "bench_detection: inotify on %s: %s\n", path, strerror(errno));
    }
}

static void on_log_line(bench_t *b, const follow_t *f, const char *line)
{
    run_t *r = b->run;
    char needle[256];

    if (r == NULL) {
        return;
    }
    if (f == &b->broker_log) {
        (void)snprintf(needle, sizeof(needle), "connection %s (thing %s) lost its rights", r->thing,
                       r->thing);
        if (strstr(line, needle) != NULL) {
            mark(r, ST_REVOKED);
        }
    } else {
        (void)snprintf(needle, sizeof(needle), "isolated %s:", r->thing);
        if (strstr(line, needle) != NULL) {
            mark(r, ST_ANSWERED);
        }
    }
}

/* Reads what was appended to @p f since last time and hands over whole lines. */
static void follow_read(bench_t *b, follow_t *f)
{
    FILE *fp = fopen(f->path, "r");
    char buf[8192];
    size_t n;

    if (fp == NULL) {
        return;
    }
    if (fseeko(fp, f->offset, SEEK_SET) != 0) {
        fclose(fp);
        return;
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
        size_t i;

        f->offset += (off_t)n;
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                f->partial[f->partial_len] = '\0';
                on_log_line(b, f, f->partial);
                f->partial_len = 0;
            } else if (f->partial_len + 1 < sizeof(f->partial)) {
                f->partial[f->partial_len++] = buf[i];
            }
        }
    }
    fclose(fp);
}

static void follow_skip_to_end(follow_t *f)
{
    FILE *fp = fopen(f->path, "r");

    if (fp != NULL) {
        if (fseeko(fp, 0, SEEK_END) == 0) {
            f->offset = ftello(fp);
        }
        fclose(fp);
    }
    f->partial_len = 0;
}

static void drain_inotify(bench_t *b)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool broker = false;
    bool isolator = false;
    ssize_t n;

    while ((n = read(b->inotify_fd, buf, sizeof(buf))) > 0) {
        ssize_t off = 0;

        while (off < n) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

            broker = broker || ev->wd == b->broker_log.wd;
            isolator = isolator || ev->wd == b->isolator_log.wd;
            off += (ssize_t)sizeof(*ev) + ev->len;
        }
    }
    if (broker) {
        follow_read(b, &b->broker_log);
    }
    if (isolator) {
        follow_read(b, &b->isolator_log);
    }
}

/* ---- MQTT ----------------------------------------------------------------------------------- */

static void send_probe(bench_t *b, run_t *r)
{
    static const char payload[] = "{\"probe\":1}";

    r->last_probe_us = now_us();
    if (mosquitto_publish_v5(b->device, &r->probe_mid, r->probe_topic, (int)strlen(payload),
                             payload, 1, false, NULL) == MOSQ_ERR_SUCCESS) {
        r->probes++;
        r->probe_in_flight = true;
    } else {
        r->probe_mid = -1;
    }
}

/* Sends the next probe when none is in flight and the interval has passed; returns the
 * microseconds until one is due (or a large value). */
static int64_t probe_due(bench_t *b, run_t *r)
{
    int64_t wait;

    if (!r->probing || r->probe_in_flight || r->t[ST_DENIED] != 0 || b->device == NULL ||
        mosquitto_socket(b->device) < 0) {
        return INT64_MAX;
    }
    wait = r->last_probe_us + b->probe_interval_us - now_us();
    if (wait <= 0) {
        send_probe(b, r);
        return INT64_MAX;
    }
    return wait;
}

static void dev_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                           const mosquitto_property *p)
{
    bench_t *b = obj;
    run_t *r = b->run;

    (void)m;
    (void)flags;
    (void)p;
    if (r != NULL) {
        r->connect_rc = rc;
        r->connected = rc == 0;
    }
}

static void dev_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                             const mosquitto_property *p)
{
    bench_t *b = obj;

    (void)m;
    (void)mid;
    (void)p;
    if (b->run != NULL && n == 1 && granted[0] <= 2) {
        b->run->subscribed = true;
    }
}

static void dev_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                           const mosquitto_property *p)
{
    bench_t *b = obj;
    run_t *r = b->run;

    (void)m;
    (void)p;
    if (r != NULL && r->t0 != 0 && strcmp(msg->topic, r->accepted_topic) == 0) {
        mark(r, ST_ACCEPTED);
        if (r->t[ST_DENIED] == 0 && !r->probing) {
            r->probing = true; /* from here on, keep asking the broker until it says no */
            send_probe(b, r);
        }
    }
}

static void dev_on_publish(struct mosquitto *m, void *obj, int mid, int reason,
                           const mosquitto_property *p)
{
    bench_t *b = obj;
    run_t *r = b->run;

    (void)m;
    (void)p;
    if (r == NULL || r->t0 == 0) {
        return;
    }
    if (mid == r->report_mid) {
        mark(r, ST_PUBACK);
        return;
    }
    if (mid != r->probe_mid) {
        return;
    }
    r->probe_in_flight = false;
    if (reason >= 0x80) {
        r->refused = true;
        mark(r, ST_DENIED);
    } else {
        (void)probe_due(b, r);
    }
}

static void dev_on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *p)
{
    bench_t *b = obj;
    run_t *r = b->run;

    (void)m;
    (void)rc;
    (void)p;
    if (r != NULL) {
        r->connected = false;
        if (r->t0 != 0 && r->t[ST_DENIED] == 0) {
            r->kicked = true;
            mark(r, ST_DENIED);
        }
    }
}

static void obs_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                           const mosquitto_property *p)
{
    (void)obj;
    (void)flags;
    (void)p;
    if (rc == 0) {
        (void)mosquitto_subscribe_v5(m, NULL, DD_NAME_SNS_TOPIC_PREFIX SNS_TOPIC, 1, 0, NULL);
    } else {
        fprintf(stderr, "bench_detection: observer refused: %s\n", mosquitto_reason_string(rc));
    }
}

static void obs_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                             const mosquitto_property *p)
{
    bench_t *b = obj;

    (void)m;
    (void)mid;
    (void)p;
    b->observer_ready = n == 1 && granted[0] <= 2;
}

/* The Lambda envelope: Records[0].Sns.Message is the alert as a string. */
static void obs_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                           const mosquitto_property *p)
{
    bench_t *b = obj;
    run_t *r = b->run;
    cJSON *event;
    cJSON *alert;
    const cJSON *record;
    const char *text;
    const char *thing;
    const char *type;

    (void)m;
    (void)p;
    if (r == NULL || r->t0 == 0) {
        return;
    }
    event = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
    record = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(event, "Records"), 0);
    text = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(record, "Sns"),
                                         "Message"));
    alert = text != NULL ? cJSON_Parse(text) : NULL;
    thing = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(alert, "thingName"));
    type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(alert, "violationEventType"));
    if (thing != NULL && type != NULL && strcmp(thing, r->thing) == 0 &&
        strcmp(type, "in-alarm") == 0) {
        mark(r, ST_ALERT);
    }
    cJSON_Delete(alert);
    cJSON_Delete(event);
}

/* One turn of the event loop over the observer, the device and the log files. */
static void pump_us(bench_t *b, int64_t timeout_us)
{
    struct timespec ts = {(time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000L};
    struct pollfd fds[3];
    struct mosquitto *owners[3] = {NULL, NULL, NULL};
    int n = 0;
    int i;

    if (b->observer != NULL && mosquitto_socket(b->observer) >= 0) {
        owners[n] = b->observer;
        fds[n].fd = mosquitto_socket(b->observer);
        fds[n].events = (short)(POLLIN | (mosquitto_want_write(b->observer) ? POLLOUT : 0));
        n++;
    }
    if (b->device != NULL && mosquitto_socket(b->device) >= 0) {
        owners[n] = b->device;
        fds[n].fd = mosquitto_socket(b->device);
        fds[n].events = (short)(POLLIN | (mosquitto_want_write(b->device) ? POLLOUT : 0));
        n++;
    }
    fds[n].fd = b->inotify_fd;
    fds[n].events = POLLIN;
    n++;
    if (ppoll(fds, (nfds_t)n, &ts, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        if (owners[i] == NULL) {
            if ((fds[i].revents & POLLIN) != 0) {
                drain_inotify(b);
            }
            continue;
        }
        if ((fds[i].revents & POLLOUT) != 0) {
            (void)mosquitto_loop_write(owners[i], 1);
        }
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            mosquitto_socket(owners[i]) >= 0) {
            (void)mosquitto_loop_read(owners[i], 1);
        }
    }
    if (b->observer != NULL) {
        (void)mosquitto_loop_misc(b->observer);
    }
    if (b->device != NULL) {
        (void)mosquitto_loop_misc(b->device);
    }
}

static void pump(bench_t *b, int timeout_ms)
{
    pump_us(b, (int64_t)timeout_ms * 1000);
}

static struct mosquitto *client_new(bench_t *b, const char *id, const char *cert, const char *key)
{
    struct mosquitto *m = mosquitto_new(id, true, b);

    if (m == NULL) {
        return NULL;
    }
    (void)mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    (void)mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_tls_set(m, b->bp.root_ca, NULL, cert, key, NULL) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(m);
        return NULL;
    }
    return m;
}

/* Connects (blocking, TLS) and drives it until CONNACK or @p timeout_us. */
static bool connect_wait(bench_t *b, struct mosquitto *m, const bool *flag, int64_t timeout_us)
{
    int64_t deadline = now_us() + timeout_us;

    if (mosquitto_connect(m, b->bp.host, b->bp.mqtt_port, 60) != MOSQ_ERR_SUCCESS) {
        return false;
    }
    while (!*flag && now_us() < deadline && !g_stop) {
        if (mosquitto_loop(m, 10, 1) != MOSQ_ERR_SUCCESS) {
            return false;
        }
        if (b->run != NULL && b->run->connect_rc != 0) {
            return false;
        }
    }
    return *flag;
}

/* ---- one run --------------------------------------------------------------------------------- */

static bool write_creds(bench_t *b, const char *thing, const dd_fleet_cred_t *c, char *cert,
                        char *key, size_t len)
{
    (void)snprintf(cert, len, "%s/%s.pem", b->certs_dir, thing);
    (void)snprintf(key, len, "%s/%s.key", b->certs_dir, thing);
    return dd_fs_write_atomic(cert, c->cert_pem, strlen(c->cert_pem), 0644) == DD_FS_OK &&
           dd_fs_write_atomic(key, c->key_pem, strlen(c->key_pem), 0600) == DD_FS_OK;
}

static void gap(bench_t *b, int ms)
{
    int64_t until = now_us() + (int64_t)ms * 1000;

    while (now_us() < until) {
        pump(b, (int)((until - now_us()) / 1000) + 1);
    }
}

static void device_close(bench_t *b)
{
    if (b->device != NULL) {
        if (mosquitto_socket(b->device) >= 0) {
            (void)mosquitto_disconnect_v5(b->device, 0, NULL);
            (void)mosquitto_loop_write(b->device, 1);
        }
        mosquitto_destroy(b->device);
        b->device = NULL;
    }
}

static bool run_done(const run_t *r, int64_t now)
{
    if (r->t[ST_DENIED] == 0 || r->t[ST_ACCEPTED] == 0 || r->t[ST_ALERT] == 0) {
        return false;
    }
    /* The log lines may lag the denial a little; do not wait for them for ever. */
    return (r->t[ST_REVOKED] != 0 && r->t[ST_ANSWERED] != 0) || now > r->t[ST_DENIED] + LOG_WAIT_US;
}

/* Connects the run's device, subscribes, reports, and waits for every stage. */
static bool one_run(bench_t *b, run_t *r, const dd_fleet_cred_t *cred, int report_id, int gap_ms)
{
    char cert[400];
    char key[400];
    char body[256];
    int64_t deadline;
    int attempts = 0;

    if (!write_creds(b, r->thing, cred, cert, key, sizeof(cert))) {
        return false;
    }
    b->run = r;
    /* The registry reaches the shim shortly after it is written: retry until the thing is known. */
    deadline = now_us() + 30 * 1000000LL;
    while (!g_stop && now_us() < deadline) {
        b->device = client_new(b, r->thing, cert, key);
        if (b->device == NULL) {
            break;
        }
        mosquitto_connect_v5_callback_set(b->device, dev_on_connect);
        mosquitto_subscribe_v5_callback_set(b->device, dev_on_subscribe);
        mosquitto_message_v5_callback_set(b->device, dev_on_message);
        mosquitto_publish_v5_callback_set(b->device, dev_on_publish);
        mosquitto_disconnect_v5_callback_set(b->device, dev_on_disconnect);
        r->connect_rc = 0;
        attempts++;
        if (connect_wait(b, b->device, &r->connected, 5000000)) {
            break;
        }
        device_close(b);
        gap(b, 100);
    }
    if (b->device == NULL) {
        fprintf(stderr, "bench_detection: %s could not connect (%d attempts, last CONNACK %d)\n",
                r->thing, attempts, r->connect_rc);
        b->run = NULL;
        return false;
    }
    (void)mosquitto_subscribe_v5(b->device, NULL, r->accepted_topic, 1, 0, NULL);
    deadline = now_us() + 5000000;
    while (!r->subscribed && now_us() < deadline && !g_stop) {
        pump(b, 10);
    }
    if (!r->subscribed) {
        fprintf(stderr, "bench_detection: %s: no SUBACK\n", r->thing);
        device_close(b);
        b->run = NULL;
        return false;
    }
    gap(b, gap_ms); /* let the previous run's aftermath (kick, metering, ticks) pass */
    (void)snprintf(
        body, sizeof(body),
        "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
        "{\"bytes_in\":3000,\"bytes_out\":3000,\"packets_in\":2,\"packets_out\":3}}}",
        report_id);
    r->t0 = now_us();
    if (mosquitto_publish_v5(b->device, &r->report_mid, r->report_topic, (int)strlen(body), body, 1,
                             false, NULL) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_detection: %s: publish failed\n", r->thing);
        device_close(b);
        b->run = NULL;
        return false;
    }
    deadline = r->t0 + RUN_TIMEOUT_US;
    while (!g_stop && now_us() < deadline && !run_done(r, now_us())) {
        int64_t wait = probe_due(b, r);

        pump_us(b, wait < 5000 ? wait : 5000);
    }
    device_close(b);
    b->run = NULL;
    if (r->t[ST_DENIED] == 0 || r->t[ST_ACCEPTED] == 0 || r->t[ST_ALERT] == 0) {
        fprintf(stderr, "bench_detection: %s: incomplete run (accepted %s, alert %s, denied %s)\n",
                r->thing, r->t[ST_ACCEPTED] ? "yes" : "no", r->t[ST_ALERT] ? "yes" : "no",
                r->t[ST_DENIED] ? "yes" : "no");
        return false;
    }
    return true;
}

/* ---- results --------------------------------------------------------------------------------- */

static void print_row(const char *name, double *v, size_t n)
{
    double sum = 0;
    double p50;
    double p90;
    double p99;
    double max;
    size_t i;

    for (i = 0; i < n; i++) {
        sum += v[i];
    }
    p50 = dd_benchpipe_quantile(v, n, 0.50);
    p90 = dd_benchpipe_quantile(v, n, 0.90);
    p99 = dd_benchpipe_quantile(v, n, 0.99);
    max = n > 0 ? v[n - 1] : NAN;
    printf("  %-22s %6zu %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, n, n > 0 ? sum / (double)n : NAN,
           p50, p90, p99, max);
}

/* Milliseconds from stage @p from (-1 = t0) to stage @p to, over runs that have both. */
static void stage_row(const char *name, const run_t *runs, size_t first, size_t count, int from,
                      int to)
{
    double *v = calloc(count > 0 ? count : 1, sizeof(double));
    size_t n = 0;
    size_t i;

    if (v == NULL) {
        return;
    }
    for (i = first; i < count; i++) {
        const run_t *r = &runs[i];
        int64_t a = from < 0 ? r->t0 : r->t[from];
        int64_t z = r->t[to];

        if (r->t0 != 0 && a != 0 && z != 0 && r->t[ST_DENIED] != 0) {
            v[n++] = (double)(z - a) / 1000.0;
        }
    }
    print_row(name, v, n);
    free(v);
}

static void print_results(const run_t *runs, size_t warmup, size_t total)
{
    size_t i;
    size_t ok = 0;
    size_t kicked = 0;
    size_t revoked_after = 0;
    long probes = 0;

    for (i = warmup; i < total; i++) {
        if (runs[i].t[ST_DENIED] != 0) {
            ok++;
            kicked += runs[i].kicked ? 1 : 0;
            probes += runs[i].probes;
            if (runs[i].t[ST_REVOKED] != 0 && runs[i].t[ST_REVOKED] > runs[i].t[ST_DENIED]) {
                revoked_after++;
            }
        }
    }
    printf("\nruns measured: %zu of %zu (after %zu warm-up runs); denial seen as a refused probe "
           "in %zu, as a closed connection in %zu; %.1f probes per run\n",
           ok, total - warmup, warmup, ok - kicked, kicked,
           ok > 0 ? (double)probes / (double)ok : 0.0);
    if (revoked_after > 0) {
        printf("(the broker's log line came after the refused probe in %zu runs: its write lags)\n",
               revoked_after);
    }
    printf("\n  %-22s %6s %9s %9s %9s %9s %9s   (ms)\n", "from the report to", "n", "mean", "p50",
           "p90", "p99", "max");
    for (i = 0; i < ST_COUNT; i++) {
        stage_row(STAGE_NAMES[i], runs, warmup, total, -1, (int)i);
    }
    printf("\n  %-22s %6s %9s %9s %9s %9s %9s   (ms)\n", "step", "n", "mean", "p50", "p90", "p99",
           "max");
    stage_row("report->accepted", runs, warmup, total, -1, ST_ACCEPTED);
    stage_row("accepted->alert", runs, warmup, total, ST_ACCEPTED, ST_ALERT);
    stage_row("alert->revoked", runs, warmup, total, ST_ALERT, ST_REVOKED);
    stage_row("revoked->denied", runs, warmup, total, ST_REVOKED, ST_DENIED);
    stage_row("alert->denied", runs, warmup, total, ST_ALERT, ST_DENIED);
    stage_row("denied->answered", runs, warmup, total, ST_DENIED, ST_ANSWERED);
}

static void write_csv(const char *path, const run_t *runs, size_t warmup, size_t total)
{
    FILE *f = fopen(path, "w");
    size_t i;
    int s;

    if (f == NULL) {
        fprintf(stderr, "bench_detection: cannot write %s\n", path);
        return;
    }
    fprintf(f, "run,thing,warmup,refused,kicked,probes");
    for (s = 0; s < ST_COUNT; s++) {
        fprintf(f, ",%s_us", STAGE_NAMES[s]);
    }
    fprintf(f, "\n");
    for (i = 0; i < total; i++) {
        fprintf(f, "%zu,%s,%d,%d,%d,%d", i, runs[i].thing, i < warmup, runs[i].refused,
                runs[i].kicked, runs[i].probes);
        for (s = 0; s < ST_COUNT; s++) {
            if (runs[i].t0 != 0 && runs[i].t[s] != 0) {
                fprintf(f, ",%" PRId64, runs[i].t[s] - runs[i].t0);
            } else {
                fprintf(f, ",");
            }
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static bool provision(bench_t *b, uint32_t devices, dd_scenario_t *sc, dd_fleet_cred_t **creds)
{
    char deny[600];
    char profile[600];

    (void)snprintf(deny, sizeof(deny), "%s/fixtures/policies/deny-all.json", DD_SOURCE_DIR);
    (void)snprintf(profile, sizeof(profile), "%s/fixtures/profiles/module4-intended.json",
                   DD_SOURCE_DIR);
    if (dd_benchpipe_cli(&b->bp, "policy", "create", "DenyAll", deny, NULL) != 0 ||
        dd_benchpipe_cli(&b->bp, "group", "create", GROUP, NULL) != 0 ||
        dd_benchpipe_cli(&b->bp, "policy", "attach", "DenyAll", "--group", GROUP, NULL) != 0 ||
        dd_benchpipe_profile(&b->bp, PROFILE, profile) != DD_BENCHPIPE_OK) {
        return false;
    }
    return dd_benchpipe_fleet(&b->bp, "det", devices, "bench/{thing}/probe", sc, creds) ==
           DD_BENCHPIPE_OK;
}

static bool start_observer(bench_t *b)
{
    int64_t deadline = now_us() + 10 * 1000000LL;

    b->observer = client_new(b, "ddlocal-bench-observer", b->bp.service_cert, b->bp.service_key);
    if (b->observer == NULL) {
        return false;
    }
    mosquitto_connect_v5_callback_set(b->observer, obs_on_connect);
    mosquitto_subscribe_v5_callback_set(b->observer, obs_on_subscribe);
    mosquitto_message_v5_callback_set(b->observer, obs_on_message);
    if (mosquitto_connect(b->observer, b->bp.host, b->bp.mqtt_port, 60) != MOSQ_ERR_SUCCESS) {
        return false;
    }
    while (!b->observer_ready && now_us() < deadline) {
        if (mosquitto_loop(b->observer, 10, 1) != MOSQ_ERR_SUCCESS) {
            return false;
        }
    }
    return b->observer_ready;
}

static const char USAGE[] =
    "usage: bench_detection [--runs N] [--warmup W] [--gap-ms G] [--probe-us P] [--csv FILE]\n"
    "                       [--keep] [--up-arg ARG]...\n"
    "  --runs N      measured runs, one fresh thing each (default 1000)\n"
    "  --warmup W    runs before those, not counted (default 20)\n"
    "  --gap-ms G    quiet time before each report (default 20)\n"
    "  --probe-us P  at most one probe per P microseconds, one at a time (default 100)\n"
    "  --csv FILE    every run's stage times (microseconds from the report)\n"
    "  --keep        keep the temporary data dir\n"
    "  --up-arg ARG  one more `ddlocal up` argument (repeatable)\n";

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"runs", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"gap-ms", required_argument, NULL, 'g'},
        {"csv", required_argument, NULL, 'c'},
        {"keep", no_argument, NULL, 'k'},
        {"up-arg", required_argument, NULL, 'u'},
        {"probe-us", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *up_args[24] = {"--isolator", SNS_TOPIC ":" GROUP};
    size_t nup = 2;
    long runs_n = 1000;
    long warmup = 20;
    int gap_ms = 20;
    const char *csv = NULL;
    bool keep = false;
    bench_t b = {.probe_interval_us = 100};
    dd_scenario_t sc;
    dd_fleet_cred_t *creds = NULL;
    run_t *runs = NULL;
    size_t total;
    size_t i;
    size_t done;
    size_t failed = 0;
    char path[400];
    struct sigaction sa;
    int pids[3] = {0, 0, 0};
    double cpu0[3] = {0, 0, 0};
    static const char *const COMMS[3] = {"mosquitto", "ddlocald", "ddlocal"};
    double self0;
    double mbusy0 = 0;
    double mtotal0 = 0;
    double mbusy1 = 0;
    double mtotal1 = 0;
    int64_t t_start;
    int rc = 1;
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'n': runs_n = strtol(optarg, NULL, 10); break;
        case 'w': warmup = strtol(optarg, NULL, 10); break;
        case 'g': gap_ms = (int)strtol(optarg, NULL, 10); break;
        case 'c': csv = optarg; break;
        case 'p': b.probe_interval_us = (int)strtol(optarg, NULL, 10); break;
        case 'k': keep = true; break;
        case 'u':
            if (nup + 1 < sizeof(up_args) / sizeof(up_args[0])) {
                up_args[nup++] = optarg;
            }
            break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (runs_n < 1 || runs_n > 100000 || warmup < 0 || warmup > 10000 || gap_ms < 0 ||
        b.probe_interval_us < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    up_args[nup] = NULL;
    total = (size_t)(runs_n + warmup);
    memset(&sc, 0, sizeof(sc));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();

    dd_benchpipe_print_load("machine before set-up");
    if (dd_benchpipe_start(&b.bp, up_args) != DD_BENCHPIPE_OK) {
        return 1;
    }
    printf("pipeline: %s (broker %s:%u, API %s)\n", b.bp.data_dir, b.bp.host,
           (unsigned)b.bp.mqtt_port, b.bp.api);
    if (!provision(&b, (uint32_t)total, &sc, &creds)) {
        fprintf(stderr, "bench_detection: provisioning failed\n");
        goto out;
    }
    (void)snprintf(b.certs_dir, sizeof(b.certs_dir), "%s/benchcerts", b.bp.tmp_dir);
    if (dd_fs_mkdirs(b.certs_dir, 0700) != DD_FS_OK || !start_observer(&b)) {
        fprintf(stderr, "bench_detection: observer could not subscribe\n");
        goto out;
    }
    b.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    (void)snprintf(path, sizeof(path), "%s/broker/mosquitto.log", b.bp.data_dir);
    follow_init(&b.broker_log, b.inotify_fd, path);
    follow_skip_to_end(&b.broker_log);
    (void)snprintf(path, sizeof(path), "%s/logs/isolator.log", b.bp.data_dir);
    follow_init(&b.isolator_log, b.inotify_fd, path);
    follow_skip_to_end(&b.isolator_log);

    runs = calloc(total, sizeof(*runs));
    if (runs == NULL) {
        goto out;
    }
    for (i = 0; i < 3; i++) {
        pids[i] = dd_benchpipe_child_pid(b.bp.up.pid, COMMS[i]);
        cpu0[i] = pids[i] > 0 ? dd_benchpipe_cpu_s(pids[i]) : 0;
    }
    self0 = dd_benchpipe_cpu_s(0);
    (void)dd_benchpipe_machine_cpu(&mbusy0, &mtotal0);
    printf("%zu runs (%ld warm-up), gap %d ms\n", total, warmup, gap_ms);
    fflush(stdout);
    t_start = now_us();
    for (i = 0; i < total && !g_stop; i++) {
        run_t *r = &runs[i];

        dd_scenario_thing_name(&sc, (uint32_t)i, r->thing, sizeof(r->thing));
        (void)snprintf(r->report_topic, sizeof(r->report_topic),
                       "$aws/things/%s/defender/metrics/json", r->thing);
        (void)snprintf(r->accepted_topic, sizeof(r->accepted_topic), "%s/accepted",
                       r->report_topic);
        (void)snprintf(r->probe_topic, sizeof(r->probe_topic), "bench/%s/probe", r->thing);
        if (!one_run(&b, r, &creds[i], (int)i + 1, gap_ms)) {
            failed++;
            if (failed > 10 && failed * 10 > i) {
                fprintf(stderr, "bench_detection: too many failed runs\n");
                break;
            }
        }
        if ((i + 1) % 100 == 0) {
            printf("  %zu runs done (%.1f s)\n", i + 1, (double)(now_us() - t_start) / 1e6);
            fflush(stdout);
        }
    }
    done = i;
    printf("\nruns took %.1f s; CPU over them: bench %.1f s", (double)(now_us() - t_start) / 1e6,
           dd_benchpipe_cpu_s(0) - self0);
    for (i = 0; i < 3; i++) {
        if (pids[i] > 0) {
            printf(", %s %.1f s", i == 2 ? "isolator" : COMMS[i],
                   dd_benchpipe_cpu_s(pids[i]) - cpu0[i]);
        }
    }
    if (dd_benchpipe_machine_cpu(&mbusy1, &mtotal1) && mtotal1 > mtotal0) {
        printf("; machine %.0f%% busy (all %ld CPUs)",
               100.0 * (mbusy1 - mbusy0) / (mtotal1 - mtotal0), sysconf(_SC_NPROCESSORS_ONLN));
    }
    printf("\n");
    dd_benchpipe_print_load("machine after the runs");
    print_results(runs, (size_t)warmup < done ? (size_t)warmup : done, done);
    if (csv != NULL) {
        write_csv(csv, runs, (size_t)warmup, done);
    }
    rc = failed == 0 && !g_stop ? 0 : 1;
out:
    if (b.observer != NULL) {
        mosquitto_destroy(b.observer);
    }
    if (b.inotify_fd > 0) {
        close(b.inotify_fd);
    }
    free(runs);
    if (creds != NULL) {
        dd_fleet_creds_free(creds, sc.devices);
    }
    dd_scenario_free(&sc);
    dd_benchpipe_stop(&b.bp, keep);
    mosquitto_lib_cleanup();
    return rc;
}
