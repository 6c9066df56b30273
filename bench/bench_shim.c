/*
 * bench_shim: publish throughput through mosquitto with the ddlocal shim
 * versus the same mosquitto without it (issue 2's performance target: the
 * shim keeps >= 90 % of plain mosquitto's throughput).
 *
 * Two brokers from the same /usr/sbin/mosquitto and the same generated conf
 * (dd_broker_conf), differing only in the plugin: the baseline is
 * `plain = true` (no plugin, allow_anonymous true, same mTLS listeners).
 * Each broker gets its own data dir (tests/integration's ddtestenv), with
 * one EC device certificate per connection; on the shim's side every
 * publisher and the subscriber is a registered thing with an allow-all
 * policy, so each message pays the full cost: identity already resolved,
 * iot:Publish evaluated and a SENT record metered on the way in, iot:Receive
 * evaluated and a RECEIVED record metered on the way out, metering batches
 * published to a subscribed service connection every 100 ms.
 *
 * Load: C connections (default 50) publish 100-byte QoS 0 messages over
 * mTLS as fast as the broker takes them, from one thread driving them all
 * with poll() (dd_conn, libmosquitto in non-threaded mode); one subscriber
 * connection, in a second thread, receives everything.
 *
 * What is counted: messages received by the subscriber per second of the
 * measuring window (after a warm-up). That is the broker's end-to-end
 * throughput - a message counts only once it went through the whole broker
 * (read, authorised, routed, authorised again, written) - so it includes
 * every per-message cost the shim adds, on both sides. A window of at most
 * W messages in flight (published but not yet received) keeps queues
 * bounded, so the rate is the broker's and not that of a queue filling up.
 * The broker's CPU time per message (from /proc/PID/stat) is reported too:
 * on a shared machine it is steadier than wall-clock throughput.
 *
 * Runs alternate (plain, shim, shim, plain, plain, shim, ...) so that a
 * change of machine load affects both sides alike. Reported: the median shim
 * rate over the median plain rate, and the median of the per-round ratios
 * (the two runs of a round are adjacent in time, so they see the same load).
 *
 * Finally the engine alone (dd_shim.h, in this process, on the shim side's
 * registry): the time of one message's WRITE and READ decisions with their
 * two metering records, without the broker.
 *
 * Usage: bench_shim [--rounds N] [--seconds S] [--warmup S] [--connections C]
 *                   [--payload BYTES] [--window W]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_conn.h"
#include "dd_log.h"
#include "dd_shim.h"
#include "dd_testenv.h"

#define MAX_CONNECTIONS 500
#define PER_CONN_UNWRITTEN 64 /* QoS 0 messages queued in libmosquitto per connection */
#define MAX_ROUNDS 50

typedef struct options {
    int rounds;
    double seconds;
    double warmup;
    int connections;
    int payload;
    long window;
} options_t;

/* One side of the comparison. */
typedef struct side {
    const char *name;
    dd_testenv_t env;
    dd_testenv_creds_t pub[MAX_CONNECTIONS];
    dd_testenv_creds_t sub;
    double rates[MAX_ROUNDS];
    double cpu_us[MAX_ROUNDS];
    int nruns;
} side_t;

/* Shared by the two load threads during one run. */
typedef struct run {
    atomic_long published;
    atomic_long received;
    atomic_bool stop;
    atomic_bool sub_ready;
    long window;
} run_t;

typedef struct pubconn {
    dd_conn_t *conn;
    long unwritten;
    char topic[96];
    bool connected;
} pubconn_t;

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The broker's user+system CPU time in seconds. */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    char buf[1024];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long utime = 0;
    unsigned long stime = 0;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0.0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces): state is field 3. */
    p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
        return 0.0;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void loadavg(char *buf, size_t len)
{
    FILE *f = fopen("/proc/loadavg", "r");

    buf[0] = '\0';
    if (f != NULL) {
        if (fgets(buf, (int)len, f) == NULL) {
            buf[0] = '\0';
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
    }
}

/* ---- connections -------------------------------------------------------------------------- */

typedef struct conn_ctx {
    run_t *run;
    pubconn_t *pc; /* NULL for the subscriber */
    bool connected;
    bool failed;
} conn_ctx_t;

static void on_connected(dd_conn_t *conn, void *ctx)
{
    conn_ctx_t *c = ctx;

    c->connected = true;
    if (c->pc == NULL) {
        const char *filter = "dt/bench/#";

        (void)dd_conn_subscribe(conn, &filter, 1, 0);
    }
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    conn_ctx_t *c = ctx;

    (void)retry_in_ms;
    if (!atomic_load(&c->run->stop)) {
        fprintf(stderr, "bench_shim: %s %s: %s (%d)\n", dd_conn_client_id(conn),
                was_connected ? "lost its connection" : "could not connect", text, reason);
        c->failed = true;
    }
    c->connected = false;
}

static void on_message(dd_conn_t *conn, void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    conn_ctx_t *c = ctx;

    (void)conn;
    (void)topic;
    (void)payload;
    (void)len;
    atomic_fetch_add_explicit(&c->run->received, 1, memory_order_relaxed);
}

static void on_published(dd_conn_t *conn, void *ctx, int mid)
{
    conn_ctx_t *c = ctx;

    (void)conn;
    (void)mid;
    if (c->pc != NULL) {
        c->pc->unwritten--;
    }
}

static const dd_conn_callbacks_t CALLBACKS = {on_connected, on_disconnected, on_message,
                                              on_published};

/* Drives @p conns with poll() until @p done returns true or @p deadline (mono ms). */
static bool drive_until(dd_conn_t **conns, int n, bool (*done)(void *), void *arg, int64_t deadline)
{
    struct pollfd pfd[MAX_CONNECTIONS + 1];
    int idx[MAX_CONNECTIONS + 1];

    while (!done(arg)) {
        int np = 0;
        int i;
        int64_t now = dd_clock_mono_ms();

        if (now > deadline) {
            return false;
        }
        for (i = 0; i < n; i++) {
            int fd;

            (void)dd_conn_tick(conns[i], now);
            fd = dd_conn_fd(conns[i]);
            if (fd >= 0) {
                pfd[np].fd = fd;
                pfd[np].events = POLLIN | (dd_conn_want_write(conns[i]) ? POLLOUT : 0);
                pfd[np].revents = 0;
                idx[np++] = i;
            }
        }
        if (poll(pfd, (nfds_t)np, 10) > 0) {
            for (i = 0; i < np; i++) {
                if (pfd[i].revents != 0) {
                    dd_conn_io(conns[idx[i]], pfd[i].revents, dd_clock_mono_ms());
                }
            }
        }
    }
    return true;
}

typedef struct all_connected {
    conn_ctx_t *ctx;
    int n;
} all_connected_t;

static bool check_all_connected(void *arg)
{
    all_connected_t *a = arg;
    int i;

    for (i = 0; i < a->n; i++) {
        if (!a->ctx[i].connected) {
            return false;
        }
    }
    return true;
}

/* ---- the subscriber thread ------------------------------------------------------------------ */

typedef struct sub_thread {
    run_t *run;
    dd_conn_t *conn;
    conn_ctx_t ctx;
} sub_thread_t;

static bool run_stopped(void *arg)
{
    return atomic_load(&((run_t *)arg)->stop);
}

static void *subscriber(void *arg)
{
    sub_thread_t *s = arg;
    dd_conn_t *one[1] = {s->conn};

    (void)drive_until(one, 1, run_stopped, s->run, INT64_MAX);
    return NULL;
}

/* ---- one run ------------------------------------------------------------------------------- */

static void fill_params(dd_conn_params_t *p, const dd_testenv_t *env,
                        const dd_testenv_creds_t *creds)
{
    memset(p, 0, sizeof(*p));
    p->host = "127.0.0.1";
    p->port = env->mqtt_port;
    p->keepalive_s = 60;
    p->clean_session = true;
    p->ca_file = env->root_ca;
    p->cert_file = creds->cert;
    p->key_file = creds->key;
    p->connect_timeout_ms = 30000;
    p->callbacks = &CALLBACKS;
}

static bool bench_run(side_t *side, const options_t *o, double *rate, double *cpu_us_per_msg)
{
    static dd_conn_params_t params[MAX_CONNECTIONS + 1];
    static pubconn_t pcs[MAX_CONNECTIONS];
    static conn_ctx_t ctxs[MAX_CONNECTIONS];
    static dd_conn_t *conns[MAX_CONNECTIONS];
    static char payload[65536];
    run_t run;
    sub_thread_t st;
    pthread_t thread;
    all_connected_t ac;
    char id[64];
    int n = o->connections;
    int i;
    bool ok = true;
    double t_warm;
    double t_end;
    long r0 = 0;
    long r1 = 0;
    double cpu0 = 0.0;
    double cpu1 = 0.0;
    int64_t now;
    int64_t next_tick = 0;

    memset(&run, 0, sizeof(run));
    atomic_init(&run.published, 0);
    atomic_init(&run.received, 0);
    atomic_init(&run.stop, false);
    atomic_init(&run.sub_ready, false);
    run.window = o->window;
    memset(payload, 'x', sizeof(payload));
    memset(pcs, 0, sizeof(pcs));
    memset(ctxs, 0, sizeof(ctxs));

    /* The subscriber first, in its own thread. */
    memset(&st, 0, sizeof(st));
    st.run = &run;
    st.ctx.run = &run;
    fill_params(&params[MAX_CONNECTIONS], &side->env, &side->sub);
    if (dd_conn_create(&params[MAX_CONNECTIONS], "BenchSub", NULL, &st.ctx, 1, &st.conn) !=
            DD_CONN_OK ||
        dd_conn_start(st.conn, dd_clock_mono_ms()) != DD_CONN_OK) {
        return false;
    }
    {
        dd_conn_t *one[1] = {st.conn};
        all_connected_t sub_ac = {&st.ctx, 1};

        /* CONNACK, then a round of I/O so that the SUBSCRIBE is on its way. */
        if (!drive_until(one, 1, check_all_connected, &sub_ac, dd_clock_mono_ms() + 30000)) {
            fprintf(stderr, "bench_shim: the subscriber did not connect\n");
            dd_conn_destroy(st.conn);
            return false;
        }
    }
    if (pthread_create(&thread, NULL, subscriber, &st) != 0) {
        dd_conn_destroy(st.conn);
        return false;
    }

    for (i = 0; i < n; i++) {
        (void)snprintf(id, sizeof(id), "BenchThing%03d", i);
        (void)snprintf(pcs[i].topic, sizeof(pcs[i].topic), "dt/bench/%s/telemetry", id);
        ctxs[i].run = &run;
        ctxs[i].pc = &pcs[i];
        fill_params(&params[i], &side->env, &side->pub[i]);
        if (dd_conn_create(&params[i], id, NULL, &ctxs[i], (uint64_t)i + 2, &conns[i]) !=
                DD_CONN_OK ||
            dd_conn_start(conns[i], dd_clock_mono_ms()) != DD_CONN_OK) {
            fprintf(stderr, "bench_shim: cannot create connection %s\n", id);
            n = i;
            ok = false;
            break;
        }
        pcs[i].conn = conns[i];
    }
    ac.ctx = ctxs;
    ac.n = n;
    if (ok && !drive_until(conns, n, check_all_connected, &ac, dd_clock_mono_ms() + 60000)) {
        fprintf(stderr, "bench_shim: not every publisher connected\n");
        ok = false;
    }
    /* A probe message through the broker proves the subscription is in place. */
    if (ok) {
        int64_t deadline = dd_clock_mono_ms() + 10000;

        while (atomic_load(&run.received) == 0 && dd_clock_mono_ms() < deadline) {
            (void)dd_conn_publish(conns[0], pcs[0].topic, payload, (size_t)o->payload, 0, NULL);
            pcs[0].unwritten++;
            atomic_fetch_add(&run.published, 1);
            (void)drive_until(conns, n, run_stopped, &run, dd_clock_mono_ms() + 20);
        }
        if (atomic_load(&run.received) == 0) {
            fprintf(stderr, "bench_shim: nothing reached the subscriber\n");
            ok = false;
        }
    }

    t_warm = mono_s() + o->warmup;
    t_end = t_warm + o->seconds;
    while (ok) {
        struct pollfd pfd[MAX_CONNECTIONS];
        int progressed = 0;
        double t = mono_s();

        if (r0 == 0 && t >= t_warm) {
            r0 = atomic_load(&run.received);
            cpu0 = proc_cpu_s(side->env.broker.pid);
            t_warm = t;
        }
        if (t >= t_end) {
            r1 = atomic_load(&run.received);
            cpu1 = proc_cpu_s(side->env.broker.pid);
            t_end = t;
            break;
        }
        for (i = 0; i < n; i++) {
            int k;

            if (ctxs[i].failed) {
                ok = false;
                break;
            }
            for (k = 0; k < 8; k++) {
                long in_flight = atomic_load_explicit(&run.published, memory_order_relaxed) -
                                 atomic_load_explicit(&run.received, memory_order_relaxed);

                if (pcs[i].unwritten >= PER_CONN_UNWRITTEN || in_flight >= run.window) {
                    break;
                }
                if (dd_conn_publish(conns[i], pcs[i].topic, payload, (size_t)o->payload, 0, NULL) !=
                    DD_CONN_OK) {
                    break;
                }
                pcs[i].unwritten++;
                atomic_fetch_add_explicit(&run.published, 1, memory_order_relaxed);
                progressed++;
            }
        }
        /* Let libmosquitto write what the sockets did not take, read PINGRESPs. */
        now = dd_clock_mono_ms();
        {
            int np = 0;

            for (i = 0; i < n; i++) {
                pfd[np].fd = dd_conn_fd(conns[i]);
                pfd[np].events = POLLIN | (dd_conn_want_write(conns[i]) ? POLLOUT : 0);
                pfd[np].revents = 0;
                np++;
            }
            if (poll(pfd, (nfds_t)np, progressed > 0 ? 0 : 1) > 0) {
                for (i = 0; i < np; i++) {
                    if (pfd[i].revents != 0) {
                        dd_conn_io(conns[i], pfd[i].revents, now);
                    }
                }
            }
        }
        if (now >= next_tick) {
            /* Keep-alive and the rest of libmosquitto's timers. */
            for (i = 0; i < n; i++) {
                (void)dd_conn_tick(conns[i], now);
            }
            next_tick = now + 500;
        }
    }

    atomic_store(&run.stop, true);
    (void)pthread_join(thread, NULL);
    for (i = 0; i < n; i++) {
        dd_conn_stop(conns[i], dd_clock_mono_ms());
    }
    (void)drive_until(conns, n, run_stopped, &run, dd_clock_mono_ms() + 200);
    for (i = 0; i < n; i++) {
        dd_conn_destroy(conns[i]);
    }
    dd_conn_stop(st.conn, dd_clock_mono_ms());
    dd_conn_destroy(st.conn);
    if (!ok) {
        return false;
    }
    *rate = (double)(r1 - r0) / (t_end - t_warm);
    *cpu_us_per_msg = r1 > r0 ? (cpu1 - cpu0) * 1e6 / (double)(r1 - r0) : 0.0;
    return true;
}

/* ---- the engine alone ---------------------------------------------------------------------- */

static int null_publish(void *ctx, const char *client_id, const char *topic, const void *payload,
                        size_t len, int qos)
{
    (void)ctx;
    (void)client_id;
    (void)topic;
    (void)payload;
    (void)len;
    (void)qos;
    return 0;
}

static int null_kick(void *ctx, const char *client_id)
{
    (void)ctx;
    (void)client_id;
    return 0;
}

/* ns per message: WRITE by a publisher, READ by the subscriber, as the broker asks them. */
static double engine_ns_per_message(const side_t *shim)
{
    dd_shim_config_t cfg;
    dd_shim_io_t io = {null_publish, null_kick, NULL};
    dd_shim_t *s = NULL;
    dd_shim_connect_info_t pub = {&cfg, "BenchThing000", shim->pub[0].id, "127.0.0.1", true};
    dd_shim_connect_info_t sub = {&io, "BenchSub", shim->sub.id, "127.0.0.1", true};
    char db[256];
    char err[256];
    const char *topic = "dt/bench/BenchThing000/telemetry";
    const long n = 2000000;
    long i;
    double t0;
    double t1;

    dd_shim_config_defaults(&cfg);
    (void)snprintf(db, sizeof(db), "%s/ddlocal.db", shim->env.dir);
    cfg.db_path = db;
    if (dd_shim_create(&cfg, &io, &s, err, sizeof(err)) != DD_SHIM_OK ||
        dd_shim_on_connect(s, &pub, 0) != DD_SHIM_OK ||
        dd_shim_on_connect(s, &sub, 0) != DD_SHIM_OK) {
        fprintf(stderr, "bench_shim: engine: %s\n", err);
        dd_shim_destroy(s);
        return 0.0;
    }
    t0 = mono_s();
    for (i = 0; i < n; i++) {
        int64_t wall = (int64_t)(i / 100); /* ~100 messages per ms, as at 100k msg/s */

        (void)dd_shim_on_acl(s, pub.client, pub.client_id, DD_SHIM_ACCESS_WRITE, topic, 100, false,
                             wall);
        (void)dd_shim_on_acl(s, sub.client, sub.client_id, DD_SHIM_ACCESS_READ, topic, 100, false,
                             wall);
        if (i % 10000 == 0) {
            dd_shim_on_tick(s, wall); /* ~10 Hz, as the broker's TICK */
        }
    }
    t1 = mono_s();
    dd_shim_destroy(s);
    return (t1 - t0) * 1e9 / (double)n;
}

/* ---- setup --------------------------------------------------------------------------------- */

static bool setup_side(side_t *side, const char *name, bool plain, int connections)
{
    dd_testenv_options_t opts;
    char thing[64];
    int i;

    memset(&opts, 0, sizeof(opts));
    opts.plain = plain;
    opts.metering_flush_ms = 100; /* the production default */
    opts.no_persistence = false;
    side->name = name;
    if (dd_testenv_init(&side->env, &opts) != DD_TESTENV_OK ||
        dd_testenv_policy(&side->env, "AllowAll",
                          "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                          "\"Action\":\"iot:*\",\"Resource\":\"*\"}]}") != DD_TESTENV_OK) {
        return false;
    }
    for (i = 0; i < connections; i++) {
        (void)snprintf(thing, sizeof(thing), "BenchThing%03d", i);
        if (dd_testenv_device(&side->env, thing, "AllowAll", &side->pub[i]) != DD_TESTENV_OK) {
            return false;
        }
    }
    if (dd_testenv_device(&side->env, "BenchSub", "AllowAll", &side->sub) != DD_TESTENV_OK) {
        return false;
    }
    if (dd_testenv_start(&side->env) != DD_TESTENV_OK) {
        return false;
    }
    side->env.passed = true;
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];

    /* cppcheck-suppress uninitvar - callers fill the first n entries */
    memcpy(s, v, (size_t)n * sizeof(*v));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_shim [--rounds N] [--seconds S] [--warmup S] "
                    "[--connections C] [--payload BYTES] [--window W]\n");
}

static bool parse(int argc, char **argv, options_t *o)
{
    int i;

    o->rounds = 5;
    o->seconds = 5.0;
    o->warmup = 1.0;
    o->connections = 50;
    o->payload = 100;
    o->window = 20000;
    /* Every option takes a value: step over both. */
    for (i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            return false;
        }
        if (strcmp(argv[i], "--rounds") == 0) {
            o->rounds = atoi(v);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(argv[i], "--warmup") == 0) {
            o->warmup = atof(v);
        } else if (strcmp(argv[i], "--connections") == 0) {
            o->connections = atoi(v);
        } else if (strcmp(argv[i], "--payload") == 0) {
            o->payload = atoi(v);
        } else if (strcmp(argv[i], "--window") == 0) {
            o->window = atol(v);
        } else {
            return false;
        }
    }
    return o->rounds >= 1 && o->rounds <= MAX_ROUNDS && o->seconds > 0.0 && o->warmup >= 0.0 &&
           o->connections >= 1 && o->connections <= MAX_CONNECTIONS && o->payload >= 0 &&
           o->payload <= 65536 && o->window >= 1;
}

int main(int argc, char **argv)
{
    static side_t plain;
    static side_t shim;
    options_t o;
    char load_before[128];
    char load_after[128];
    int round;
    int failures = 0;
    double mp;
    double ms;

    if (!parse(argc, argv, &o)) {
        usage();
        return 2;
    }
    dd_log_set_level(DD_LOG_LEVEL_WARN);
    dd_conn_lib_init();
    if (!setup_side(&plain, "plain", true, o.connections) ||
        !setup_side(&shim, "shim", false, o.connections)) {
        fprintf(stderr, "bench_shim: could not start the brokers\n");
        (void)dd_testenv_stop(&plain.env);
        (void)dd_testenv_stop(&shim.env);
        return 1;
    }
    loadavg(load_before, sizeof(load_before));
    printf("bench_shim: %d connections, %d-byte QoS 0 messages over mTLS, window %ld, "
           "%d rounds of %.1f s (+%.1f s warm-up), %ld CPUs, load before: %s\n",
           o.connections, o.payload, o.window, o.rounds, o.seconds, o.warmup,
           sysconf(_SC_NPROCESSORS_ONLN), load_before);
    for (round = 0; round < o.rounds; round++) {
        /* plain, shim | shim, plain | ... */
        side_t *order[2] = {round % 2 == 0 ? &plain : &shim, round % 2 == 0 ? &shim : &plain};
        int k;

        for (k = 0; k < 2; k++) {
            side_t *s = order[k];
            double rate = 0.0;
            double cpu = 0.0;

            if (!bench_run(s, &o, &rate, &cpu)) {
                fprintf(stderr, "bench_shim: run %d on %s failed\n", round + 1, s->name);
                failures++;
                continue;
            }
            s->rates[s->nruns] = rate;
            s->cpu_us[s->nruns] = cpu;
            s->nruns++;
            printf("round %d %-5s %9.0f msg/s  broker CPU %.2f us/msg\n", round + 1, s->name, rate,
                   cpu);
            fflush(stdout);
        }
    }
    loadavg(load_after, sizeof(load_after));
    if (plain.nruns == 0 || shim.nruns == 0) {
        (void)dd_testenv_stop(&plain.env);
        (void)dd_testenv_stop(&shim.env);
        return 1;
    }
    mp = median(plain.rates, plain.nruns);
    ms = median(shim.rates, shim.nruns);
    printf("median plain %.0f msg/s, shim %.0f msg/s: ratio %.3f (target >= 0.90)\n", mp, ms,
           ms / mp);
    if (plain.nruns == shim.nruns) {
        /* The two runs of a round are adjacent in time: their ratio sees the same load. */
        double ratios[MAX_ROUNDS];
        int i;

        for (i = 0; i < plain.nruns; i++) {
            ratios[i] = shim.rates[i] / plain.rates[i];
        }
        printf("median of the per-round ratios: %.3f\n", median(ratios, plain.nruns));
    }
    printf("median broker CPU per message: plain %.2f us, shim %.2f us (x%.2f)\n",
           median(plain.cpu_us, plain.nruns), median(shim.cpu_us, shim.nruns),
           median(shim.cpu_us, shim.nruns) / median(plain.cpu_us, plain.nruns));
    printf("load after: %s\n", load_after);
    printf("engine alone: %.0f ns per message (WRITE + READ decisions, two metering records)\n",
           engine_ns_per_message(&shim));
    if (dd_testenv_stop(&plain.env) != 0 || dd_testenv_stop(&shim.env) != 0) {
        failures++;
    }
    return failures == 0 ? 0 : 1;
}
