/*
 * bench_ingest: sustained report intake of the whole pipeline - devices over
 * mutual TLS, the broker and its shim, ddlocald decoding, storing and
 * evaluating every report and answering it on /accepted after the commit.
 *
 *   bench_ingest [--devices N] [--window W] [--warmup S] [--duration S]
 *                [--time-scale X] [--no-profile] [--keep] [--up-arg ARG]...
 *
 * Starts its own `ddlocal up --time-scale X` (free ports, temporary data
 * dir), attaches the Module 4 intended profile (aws:all-bytes-out <= 200 per
 * 300 s) to all things (unless --no-profile) and provisions N things with EC
 * certificates. One thread drives every device through dd_conn (libmosquitto,
 * non-threaded, one epoll set, one shared SSL_CTX): each connects as its
 * thing (MQTT 3.1.1), subscribes to its own /accepted and /rejected topics,
 * and keeps W Device Defender JSON reports (long keys, ~450 bytes) in flight
 * at QoS 1, sending the next one as soon as one is answered: a closed loop,
 * so the figure is what the pipeline sustains. Throttling is off (ddlocald's
 * default), so every report is accepted.
 *
 * Why a time scale (default 6000): the target is a 6-million-device fleet
 * reporting every 5 minutes, i.e. each thing reports once per 300 s window.
 * 1,000 connections carrying 20,000 reports/s report every 50 ms each; at
 * time scale 6000 that is every 300 pipeline seconds, so each thing's
 * evaluation state (its window of datapoints) stays what a real fleet's is.
 * On the real clock (--time-scale 0) every thing accumulates thousands of
 * datapoints per window and evaluation cost grows with the run's length.
 * The reports carry bytes_out 40, so the W reports of a device that land in
 * one window stay within the profile (no violations: this measures intake).
 *
 * After the warm-up, /accepted replies are counted for the duration: the
 * figure is accepted reports per second, with the per-second minimum and
 * maximum, the publish-to-/accepted latency, and the CPU each process (and
 * each ddlocald thread) used meanwhile, also per accepted report (the load
 * generator shares the machine). ddlocald's own counter (GET
 * /ddlocal/v1/status reportsAccepted) is read before and after as a
 * cross-check.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dd_apiclient.h"
#include "dd_benchpipe.h"
#include "dd_conn.h"
#include "dd_scenario.h"

#ifndef DD_SOURCE_DIR
#define DD_SOURCE_DIR "."
#endif

#define PROFILE "DetectSendingMoreThanAverageBytes"
#define MAX_WINDOW 64
#define MAX_EVENTS 512
#define MAX_HANDSHAKES 64
#define LAT_SAMPLES (1u << 22)

typedef enum phase { PH_PROBE, PH_RAMP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE } phase_t;

struct ingest;

typedef struct dev {
    struct ingest *in;
    uint32_t index;
    dd_conn_t *conn;
    dd_conn_identity_t identity;
    int reg_fd;
    bool reg_out;
    bool connected;
    bool started;     /* dd_conn_start() called */
    char topic[160];  /* its report topic */
    uint32_t next_id; /* next report id */
    uint32_t inflight;
    int64_t sent_us[MAX_WINDOW]; /* by report id % MAX_WINDOW */
} bdev_t;

typedef struct ingest {
    bdev_t *devs;
    uint32_t n;
    uint32_t window;
    int epfd;
    phase_t phase;
    uint32_t connected;
    uint32_t handshakes; /* started, not yet connected or failed */
    uint64_t accepted;   /* replies during the measurement */
    uint64_t accepted_total;
    uint64_t rejected;
    uint64_t sent;
    uint64_t lost; /* connections lost after being up */
    uint64_t per_second[3600];
    int64_t measure_start;
    double *lat_ms; /* publish -> /accepted during the measurement */
    size_t lat_n;
    int64_t now; /* monotonic us */
} ingest_t;

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

/* ---- devices ------------------------------------------------------------------------------- */

static void sync_epoll(ingest_t *in, bdev_t *d)
{
    int fd = dd_conn_fd(d->conn);
    bool want = fd >= 0 && dd_conn_want_write(d->conn);
    struct epoll_event ev;

    if (fd < 0) {
        d->reg_fd = -1;
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)d->index << 32) | (uint32_t)fd;
    if (d->reg_fd != fd) {
        if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
            (void)epoll_ctl(in->epfd, EPOLL_CTL_MOD, fd, &ev);
        }
        d->reg_fd = fd;
        d->reg_out = want;
    } else if (d->reg_out != want) {
        (void)epoll_ctl(in->epfd, EPOLL_CTL_MOD, fd, &ev);
        d->reg_out = want;
    }
}

static void send_report(ingest_t *in, bdev_t *d)
{
    char body[640];
    uint32_t id = ++d->next_id;
    int n;

    /* What a Device Defender agent reports (long keys), with a normal bytes_out. */
    n = snprintf(
        body, sizeof(body),
        "{\"header\":{\"report_id\":%u,\"version\":\"1.0\"},\"metrics\":{"
        "\"listening_tcp_ports\":{\"ports\":[{\"interface\":\"eth0\",\"port\":22},"
        "{\"interface\":\"eth0\",\"port\":8883}],\"total\":2},"
        "\"listening_udp_ports\":{\"ports\":[{\"interface\":\"eth0\",\"port\":5353}],\"total\":1},"
        "\"network_stats\":{\"bytes_in\":%u,\"bytes_out\":40,\"packets_in\":%u,"
        "\"packets_out\":3},"
        "\"tcp_connections\":{\"established_connections\":{\"connections\":["
        "{\"local_interface\":\"eth0\",\"local_port\":50212,\"remote_addr\":"
        "\"52.94.10.21:8883\"}],\"total\":1}}}}",
        id, 2000 + id % 997, 10 + id % 13);
    d->sent_us[id % MAX_WINDOW] = in->now;
    if (dd_conn_publish(d->conn, d->topic, body, (size_t)n, 1, NULL) == DD_CONN_OK) {
        d->inflight++;
        in->sent++;
    }
}

static void fill_window(ingest_t *in, bdev_t *d)
{
    while (d->connected && d->inflight < in->window &&
           (in->phase == PH_WARMUP || in->phase == PH_MEASURE)) {
        uint32_t before = d->inflight;

        send_report(in, d);
        if (d->inflight == before) {
            break;
        }
    }
}

static void on_connected(dd_conn_t *conn, void *ctx)
{
    bdev_t *d = ctx;
    ingest_t *in = d->in;
    char acc[200];
    char rej[200];
    const char *filters[2] = {acc, rej};

    d->connected = true;
    d->inflight = 0; /* a new clean session: nothing of the old one will be answered */
    in->connected++;
    if (in->handshakes > 0) {
        in->handshakes--;
    }
    (void)snprintf(acc, sizeof(acc), "%s/accepted", d->topic);
    (void)snprintf(rej, sizeof(rej), "%s/rejected", d->topic);
    /* The broker handles this connection's packets in order: the subscription is in place
     * before any report that follows it is answered, so no need to wait for the SUBACK. */
    (void)dd_conn_subscribe(conn, filters, 2, 1);
    fill_window(in, d);
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    bdev_t *d = ctx;
    ingest_t *in = d->in;

    (void)conn;
    (void)retry_in_ms;
    if (d->reg_fd >= 0) {
        (void)epoll_ctl(in->epfd, EPOLL_CTL_DEL, d->reg_fd, NULL);
        d->reg_fd = -1;
    }
    if (was_connected) {
        d->connected = false;
        in->connected--;
        if (in->phase != PH_DONE && in->phase != PH_DRAIN) {
            in->lost++;
            if (in->lost <= 5) {
                fprintf(stderr, "bench_ingest: %s lost its connection (%d %s)\n",
                        dd_conn_client_id(d->conn), reason, text);
            }
        }
    } else if (in->handshakes > 0 && in->phase != PH_PROBE) {
        in->handshakes--;
    }
}

static void on_message(dd_conn_t *conn, void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    bdev_t *d = ctx;
    ingest_t *in = d->in;
    size_t tlen = strlen(topic);
    const char *rid;
    bool accepted = tlen > 9 && strcmp(topic + tlen - 9, "/accepted") == 0;

    (void)conn;
    if (d->inflight > 0) {
        d->inflight--;
    }
    if (!accepted) {
        in->rejected++;
    } else {
        in->accepted_total++;
        if (in->phase == PH_MEASURE) {
            int64_t sec = (in->now - in->measure_start) / 1000000;

            in->accepted++;
            if (sec >= 0 && sec < 3600) {
                in->per_second[sec]++;
            }
            /* {"thingName":"...","reportId":N,...}; libmosquitto NUL-terminates payloads */
            rid = memmem(payload, len, "\"reportId\":", 11);
            if (rid != NULL && in->lat_n < LAT_SAMPLES) {
                uint32_t id = (uint32_t)strtoul(rid + 11, NULL, 10);
                int64_t t = d->sent_us[id % MAX_WINDOW];

                if (t > 0 && t >= in->measure_start) {
                    in->lat_ms[in->lat_n++] = (double)(in->now - t) / 1000.0;
                }
            }
        }
    }
    fill_window(in, d);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void io_round(ingest_t *in, struct epoll_event *events, int timeout_ms)
{
    int n = epoll_wait(in->epfd, events, MAX_EVENTS, timeout_ms);
    int k;

    in->now = now_us();
    for (k = 0; k < n; k++) {
        uint32_t idx = (uint32_t)(events[k].data.u64 >> 32);
        int fd = (int)(uint32_t)events[k].data.u64;
        bdev_t *d;

        if (idx >= in->n) {
            continue;
        }
        d = &in->devs[idx];
        if (d->reg_fd != fd) {
            continue;
        }
        dd_conn_io(d->conn, events[k].events, in->now / 1000);
        sync_epoll(in, d);
    }
}

static void tick_all(ingest_t *in)
{
    uint32_t i;

    for (i = 0; i < in->n; i++) {
        if (in->devs[i].started) {
            (void)dd_conn_tick(in->devs[i].conn, in->now / 1000);
            sync_epoll(in, &in->devs[i]);
        }
    }
}

static double status_number(const char *api, const char *member)
{
    char *response = NULL;
    long status = 0;
    double v = -1;

    if (dd_apiclient_request(api, "GET", "/ddlocal/v1/status", NULL, &status, &response) ==
            DD_APICLIENT_OK &&
        status == 200) {
        cJSON *obj = cJSON_Parse(response);
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, member);

        if (cJSON_IsNumber(item)) {
            v = item->valuedouble;
        }
        cJSON_Delete(obj);
    }
    free(response);
    return v;
}

static double per_report_us(double cpu_s, uint64_t reports)
{
    return reports > 0 ? cpu_s * 1e6 / (double)reports : 0.0;
}

static const char USAGE[] =
    "usage: bench_ingest [--devices N] [--window W] [--warmup S] [--duration S]\n"
    "                    [--time-scale X] [--no-profile] [--keep] [--up-arg ARG]...\n"
    "  --devices N     connections, one thing each (default 1000)\n"
    "  --window W      reports in flight per device (default 4)\n"
    "  --warmup S      seconds of load before counting (default 5)\n"
    "  --duration S    seconds counted (default 20)\n"
    "  --time-scale X  pipeline clock X times real time (default 6000; 0 = real clock)\n"
    "  --no-profile    no security profile (reports are stored but evaluate nothing)\n"
    "  --keep          keep the temporary data dir\n"
    "  --up-arg ARG    one more `ddlocal up` argument (repeatable)\n";

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"devices", required_argument, NULL, 'n'}, {"window", required_argument, NULL, 'w'},
        {"warmup", required_argument, NULL, 'W'},  {"duration", required_argument, NULL, 'd'},
        {"no-profile", no_argument, NULL, 'P'},    {"keep", no_argument, NULL, 'k'},
        {"up-arg", required_argument, NULL, 'u'},  {"time-scale", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *up_args[24];
    size_t nup = 0;
    long devices = 1000;
    long window = 4;
    double warmup_s = 5;
    double duration_s = 20;
    bool profile = true;
    const char *time_scale = "6000";
    bool keep = false;
    dd_benchpipe_t bp;
    dd_scenario_t sc;
    dd_fleet_cred_t *creds = NULL;
    ingest_t in;
    SSL_CTX *ssl_ctx = NULL;
    dd_conn_params_t params;
    dd_conn_callbacks_t callbacks;
    struct epoll_event *events = NULL;
    struct sigaction sa;
    uint64_t got_fds = 0;
    int64_t phase_end = 0;
    int64_t last_tick = 0;
    int64_t ramp_start;
    int pids[2] = {0, 0};
    static const char *const COMMS[2] = {"mosquitto", "ddlocald"};
    double cpu0[2] = {0, 0};
    double cpu1[2] = {0, 0};
    double self0 = 0;
    double self1 = 0;
    dd_benchpipe_thread_t thr0[32];
    dd_benchpipe_thread_t thr1[32];
    size_t nthr0 = 0;
    size_t nthr1 = 0;
    double mbusy0 = 0;
    double mtotal0 = 0;
    double mbusy1 = 0;
    double mtotal1 = 0;
    double status0 = -1;
    double status1 = -1;
    char profile_file[600];
    uint32_t started = 0;
    uint32_t i;
    int rc = 1;
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'n': devices = strtol(optarg, NULL, 10); break;
        case 'w': window = strtol(optarg, NULL, 10); break;
        case 'W': warmup_s = strtod(optarg, NULL); break;
        case 'd': duration_s = strtod(optarg, NULL); break;
        case 'P': profile = false; break;
        case 's': time_scale = optarg; break;
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
    if (devices < 1 || devices > 19000 || window < 1 || window > MAX_WINDOW || warmup_s < 0 ||
        duration_s < 1 || duration_s > 3600) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (strcmp(time_scale, "0") != 0 && nup + 2 < sizeof(up_args) / sizeof(up_args[0])) {
        up_args[nup++] = "--time-scale";
        up_args[nup++] = time_scale;
    }
    up_args[nup] = NULL;
    memset(&in, 0, sizeof(in));
    memset(&sc, 0, sizeof(sc));
    in.n = (uint32_t)devices;
    in.window = (uint32_t)window;
    in.epfd = -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    dd_benchpipe_print_load("machine before set-up");
    if (dd_benchpipe_start(&bp, up_args) != DD_BENCHPIPE_OK) {
        return 1;
    }
    printf("pipeline: %s (broker %s:%u, API %s)\n", bp.data_dir, bp.host, (unsigned)bp.mqtt_port,
           bp.api);
    (void)snprintf(profile_file, sizeof(profile_file), "%s/fixtures/profiles/module4-intended.json",
                   DD_SOURCE_DIR);
    if ((profile && dd_benchpipe_profile(&bp, PROFILE, profile_file) != DD_BENCHPIPE_OK) ||
        dd_benchpipe_fleet(&bp, "ing", in.n, NULL, &sc, &creds) != DD_BENCHPIPE_OK) {
        fprintf(stderr, "bench_ingest: provisioning failed\n");
        goto out;
    }
    (void)dd_fleet_raise_fd_limit((uint64_t)in.n + 64, &got_fds);
    dd_conn_lib_init();
    in.devs = calloc(in.n, sizeof(*in.devs));
    in.lat_ms = malloc(LAT_SAMPLES * sizeof(double));
    events = calloc(MAX_EVENTS, sizeof(*events));
    in.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (in.devs == NULL || in.lat_ms == NULL || events == NULL || in.epfd < 0 ||
        dd_conn_ssl_ctx_new(bp.root_ca, bp.host, NULL, &ssl_ctx) != DD_CONN_OK) {
        fprintf(stderr, "bench_ingest: cannot set up the connections\n");
        goto out;
    }
    memset(&callbacks, 0, sizeof(callbacks));
    callbacks.on_connected = on_connected;
    callbacks.on_disconnected = on_disconnected;
    callbacks.on_message = on_message;
    memset(&params, 0, sizeof(params));
    params.host = bp.host;
    params.port = bp.mqtt_port;
    params.keepalive_s = 60;
    params.clean_session = true;
    params.ssl_ctx = ssl_ctx;
    params.backoff_min_ms = 250;
    params.backoff_max_ms = 2000;
    params.callbacks = &callbacks;
    for (i = 0; i < in.n; i++) {
        bdev_t *d = &in.devs[i];
        char thing[64];

        d->in = &in;
        d->index = i;
        d->reg_fd = -1;
        d->identity.cert_der = creds[i].cert_der;
        d->identity.cert_len = creds[i].cert_der_len;
        d->identity.key_der = creds[i].key_der;
        d->identity.key_len = creds[i].key_der_len;
        dd_scenario_thing_name(&sc, i, thing, sizeof(thing));
        (void)snprintf(d->topic, sizeof(d->topic), "$aws/things/%s/defender/metrics/json", thing);
        if (dd_conn_create(&params, thing, &d->identity, d, i + 1, &d->conn) != DD_CONN_OK) {
            in.n = i;
            fprintf(stderr, "bench_ingest: cannot create connection %u\n", i);
            goto out;
        }
    }

    /* The things reach the shim once ddlocald pushed them: dial the last one until it is let in. */
    in.now = now_us();
    ramp_start = in.now;
    in.phase = PH_PROBE;
    in.devs[in.n - 1].started = true;
    (void)dd_conn_start(in.devs[in.n - 1].conn, in.now / 1000);
    sync_epoll(&in, &in.devs[in.n - 1]);
    while (!g_stop && in.phase != PH_DONE) {
        io_round(&in, events, 5);
        if (in.now - last_tick >= 200000) {
            tick_all(&in);
            last_tick = in.now;
        }
        switch (in.phase) {
        case PH_PROBE:
            if (in.devs[in.n - 1].connected) {
                in.phase = PH_RAMP;
                started = 0;
            } else if (in.now - ramp_start > 60000000) {
                fprintf(stderr, "bench_ingest: the broker never accepted %s\n",
                        dd_conn_client_id(in.devs[in.n - 1].conn));
                goto out;
            }
            break;
        case PH_RAMP:
            while (started < in.n - 1 && in.handshakes < MAX_HANDSHAKES) {
                bdev_t *d = &in.devs[started++];

                d->started = true;
                in.handshakes++;
                (void)dd_conn_start(d->conn, in.now / 1000);
                sync_epoll(&in, d);
            }
            if (in.connected == in.n) {
                printf("%u devices connected in %.1f s; warm-up %.0f s, then %.0f s counted, "
                       "window %u per device\n",
                       in.n, (double)(in.now - ramp_start) / 1e6, warmup_s, duration_s, in.window);
                fflush(stdout);
                in.phase = PH_WARMUP;
                phase_end = in.now + (int64_t)(warmup_s * 1e6);
                for (i = 0; i < in.n; i++) {
                    fill_window(&in, &in.devs[i]);
                    sync_epoll(&in, &in.devs[i]);
                }
            } else if (in.now - ramp_start > 120000000) {
                fprintf(stderr, "bench_ingest: only %u of %u devices connected\n", in.connected,
                        in.n);
                goto out;
            }
            break;
        case PH_WARMUP:
            if (in.now >= phase_end) {
                dd_benchpipe_print_load("machine at the start of the measurement");
                status0 = status_number(bp.api, "reportsAccepted");
                for (i = 0; i < 2; i++) {
                    pids[i] = dd_benchpipe_child_pid(bp.up.pid, COMMS[i]);
                    cpu0[i] = pids[i] > 0 ? dd_benchpipe_cpu_s(pids[i]) : 0;
                }
                self0 = dd_benchpipe_cpu_s(0);
                (void)dd_benchpipe_machine_cpu(&mbusy0, &mtotal0);
                nthr0 = pids[1] > 0 ? dd_benchpipe_threads(pids[1], thr0, 32) : 0;
                in.now = now_us();
                in.measure_start = in.now;
                in.phase = PH_MEASURE;
                phase_end = in.now + (int64_t)(duration_s * 1e6);
            }
            break;
        case PH_MEASURE:
            if (in.now >= phase_end) {
                self1 = dd_benchpipe_cpu_s(0);
                (void)dd_benchpipe_machine_cpu(&mbusy1, &mtotal1);
                nthr1 = pids[1] > 0 ? dd_benchpipe_threads(pids[1], thr1, 32) : 0;
                for (i = 0; i < 2; i++) {
                    cpu1[i] = pids[i] > 0 ? dd_benchpipe_cpu_s(pids[i]) : 0;
                }
                status1 = status_number(bp.api, "reportsAccepted");
                in.phase = PH_DRAIN;
                phase_end = in.now + 10000000;
            }
            break;
        case PH_DRAIN: {
            uint64_t outstanding = 0;

            for (i = 0; i < in.n; i++) {
                outstanding += in.devs[i].connected ? in.devs[i].inflight : 0;
            }
            if (outstanding == 0 || in.now >= phase_end) {
                in.phase = PH_DONE;
            }
            break;
        }
        case PH_DONE: break;
        }
    }
    if (in.measure_start != 0 && self1 > 0) {
        double secs = duration_s;
        uint64_t lo = UINT64_MAX;
        uint64_t hi = 0;
        size_t full = (size_t)duration_s;
        size_t s;

        for (s = 0; s < full && s < 3600; s++) {
            lo = in.per_second[s] < lo ? in.per_second[s] : lo;
            hi = in.per_second[s] > hi ? in.per_second[s] : hi;
        }
        dd_benchpipe_print_load("machine at the end of the measurement");
        printf("\naccepted: %" PRIu64
               " reports in %.0f s = %.0f reports/s (per second: min %" PRIu64 ", max %" PRIu64
               ")\n",
               in.accepted, secs, (double)in.accepted / secs, lo, hi);
        printf("rejected: %" PRIu64 ", connections lost: %" PRIu64 ", reports sent in all: %" PRIu64
               "\n",
               in.rejected, in.lost, in.sent);
        if (status0 >= 0 && status1 >= 0) {
            printf("ddlocald's reportsAccepted over the same interval: %.0f (%.0f/s)\n",
                   status1 - status0, (status1 - status0) / secs);
        }
        if (in.lat_n > 0) {
            double p50 = dd_benchpipe_quantile(in.lat_ms, in.lat_n, 0.50);
            double p99 = dd_benchpipe_quantile(in.lat_ms, in.lat_n, 0.99);

            printf(
                "publish -> /accepted latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu samples, "
                "%u devices x %u in flight)\n",
                p50, p99, in.lat_ms[in.lat_n - 1], in.lat_n, in.n, in.window);
        }
        printf("CPU during the measurement, %% of one core (microseconds per accepted report):\n"
               "  load generator %.0f%% (%.1f us)",
               100.0 * (self1 - self0) / secs, per_report_us(self1 - self0, in.accepted));
        for (i = 0; i < 2; i++) {
            if (pids[i] > 0) {
                printf(", %s %.0f%% (%.1f us)", COMMS[i], 100.0 * (cpu1[i] - cpu0[i]) / secs,
                       per_report_us(cpu1[i] - cpu0[i], in.accepted));
            }
        }
        if (mtotal1 > mtotal0) {
            double ours = (self1 - self0) + (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1]);

            /* What the machine did besides us (other users, kernel threads) shows here. */
            printf("\n  machine: %.0f%% of its %ld CPUs busy, %.0f%% of one core outside the "
                   "generator, "
                   "broker and ddlocald",
                   100.0 * (mbusy1 - mbusy0) / (mtotal1 - mtotal0), sysconf(_SC_NPROCESSORS_ONLN),
                   100.0 * ((mbusy1 - mbusy0) - ours) / secs);
        }
        printf("\n  ddlocald by thread:");
        for (i = 0; i < nthr1; i++) {
            size_t k;

            for (k = 0; k < nthr0; k++) {
                if (thr0[k].tid == thr1[i].tid && thr1[i].cpu_s - thr0[k].cpu_s >= 0.01 * secs) {
                    printf(" %s %.0f%% (%.1f us)", thr1[i].comm,
                           100.0 * (thr1[i].cpu_s - thr0[k].cpu_s) / secs,
                           per_report_us(thr1[i].cpu_s - thr0[k].cpu_s, in.accepted));
                }
            }
        }
        printf("\n");
        rc = in.rejected == 0 && in.lost == 0 ? 0 : 1;
    }
out:
    for (i = 0; in.devs != NULL && i < in.n; i++) {
        dd_conn_destroy(in.devs[i].conn);
    }
    free(in.devs);
    free(in.lat_ms);
    free(events);
    if (in.epfd >= 0) {
        close(in.epfd);
    }
    if (ssl_ctx != NULL) {
        SSL_CTX_free(ssl_ctx);
    }
    if (creds != NULL) {
        dd_fleet_creds_free(creds, sc.devices);
    }
    dd_scenario_free(&sc);
    dd_benchpipe_stop(&bp, keep);
    dd_conn_lib_cleanup();
    return rc;
}
