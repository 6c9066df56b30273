/*
 * bench_engine: throughput of the evaluation engine and its store.
 *
 *   bench_engine [things] [rounds] [db-dir]
 *
 * 1. engine alone, one thread: `things` things x 10 absolute-value behaviors,
 *    one report per thing per round (300 s of pipeline time per round);
 *    datapoints evaluated per second.
 * 2. the same with the SQLite store persisting alarm changes, thing state and
 *    retained values, 1000 reports per transaction (file in db-dir, WAL).
 * 3. statistical threshold over a 100,000-device window: time of the window
 *    close (percentile + evaluation of every device) and of the percentile alone.
 * 4. bytes of state per thing x behavior (in memory and persisted).
 *
 * Not a pass/fail test; see docs/reference/evaluation-semantics.md for figures.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_db.h"
#include "dd_engine.h"
#include "dd_log.h"
#include "dd_stats.h"
#include "dd_store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ten absolute-value behaviors over the device-side metrics; thresholds are
 * set so that a few percent of the datapoints violate (alarm churn). */
static const char *PROFILE =
    "{\"securityProfileName\":\"bench\",\"behaviors\":["
    "{\"name\":\"b1\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than-equals\",\"value\":{\"count\":9900},\"durationSeconds\":300}},"
    "{\"name\":\"b2\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than-equals\",\"value\":{\"count\":40000},\"durationSeconds\":900,"
    "\"consecutiveDatapointsToAlarm\":2}},"
    "{\"name\":\"b3\",\"metric\":\"aws:all-bytes-in\",\"criteria\":{\"comparisonOperator\":\"less-"
    "than\",\"value\":{\"count\":100000},\"durationSeconds\":600}},"
    "{\"name\":\"b4\",\"metric\":\"aws:all-packets-out\",\"criteria\":{\"comparisonOperator\":"
    "\"less-than\",\"value\":{\"count\":1000},\"durationSeconds\":300}},"
    "{\"name\":\"b5\",\"metric\":\"aws:all-packets-in\",\"criteria\":{\"comparisonOperator\":"
    "\"less-than\",\"value\":{\"count\":1000}}},"
    "{\"name\":\"b6\",\"metric\":\"aws:num-listening-tcp-ports\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":5}}},"
    "{\"name\":\"b7\",\"metric\":\"aws:num-established-tcp-connections\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":50}}},"
    "{\"name\":\"b8\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":"
    "\"in-port-set\",\"value\":{\"ports\":[22,443,8883]}}},"
    "{\"name\":\"b9\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":{"
    "\"comparisonOperator\":\"in-cidr-set\",\"value\":{\"cidrs\":[\"10.0.0.0/8\",\"192.0.2.0/"
    "24\"]}}},"
    "{\"name\":\"b10\",\"metric\":\"aws:num-listening-udp-ports\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":3}}}"
    "],\"targets\":[\"arn:aws:iot:us-east-1:123456789012:all/things\"]}";

typedef struct counts {
    size_t events;
} counts_t;

static void count_event(void *ctx, const dd_violation_event_t *ev)
{
    (void)ev;
    ((counts_t *)ctx)->events++;
}

static char **make_names(size_t n, const char *prefix)
{
    char **names = malloc(n * sizeof(char *));
    size_t i;

    for (i = 0; i < n; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "%s%06zu", prefix, i);
    }
    return names;
}

typedef struct fleet_report {
    dd_report_t r;
    dd_report_port_t ports[3];
    dd_report_conn_t conns[2];
} fleet_report_t;

static void init_report(fleet_report_t *f)
{
    memset(f, 0, sizeof(*f));
    f->r.has_metrics = true;
    f->r.net.present = true;
    f->r.net.has_bytes_in = f->r.net.has_bytes_out = true;
    f->r.net.has_packets_in = f->r.net.has_packets_out = true;
    f->r.tcp_ports.present = true;
    f->r.tcp_ports.count = 2;
    f->r.tcp_ports.items = f->ports;
    f->ports[0].port = 22;
    f->ports[1].port = 8883;
    f->ports[2].port = 2024;
    f->r.tcp_conns.present = true;
    f->r.tcp_conns.count = 2;
    f->r.tcp_conns.items = f->conns;
    (void)dd_ip_parse("10.1.2.3", 8, &f->conns[0].remote_ip);
    (void)dd_ip_parse("192.0.2.9", 9, &f->conns[1].remote_ip);
    f->r.udp_ports.present = true;
}

/* Varies the report per thing and round: ~2 % of datapoints violate b1. */
static void vary(fleet_report_t *f, size_t thing, size_t round)
{
    unsigned h = (unsigned)(thing * 2654435761u + round * 40503u);
    f->r.net.bytes_out = (h % 100) < 2 ? 12000 : 1000 + h % 5000;
    f->r.net.bytes_in = 2000 + h % 3000;
    f->r.net.packets_out = 10 + h % 50;
    f->r.net.packets_in = 10 + h % 40;
    f->r.tcp_ports.count = (h % 1000) == 0 ? 3 : 2;
}

static dd_engine_t *make_engine(const dd_engine_sink_t *sink)
{
    dd_engine_t *e = NULL;
    dd_profile_t p;

    if (dd_engine_create(NULL, NULL, sink, &e) != DD_ENGINE_OK ||
        dd_profile_parse(PROFILE, strlen(PROFILE), NULL, &p, NULL) != DD_PROFILE_OK ||
        dd_engine_put_profile(e, &p, 0) != DD_ENGINE_OK) {
        fprintf(stderr, "bench: setup failed\n");
        exit(1);
    }
    dd_profile_free(&p);
    return e;
}

static void bench_engine_alone(size_t things, size_t rounds)
{
    counts_t c = {0};
    dd_engine_sink_t sink = {&c, count_event, NULL, NULL, NULL, NULL, NULL};
    dd_engine_t *e = make_engine(&sink);
    char **names = make_names(things, "thing-");
    fleet_report_t f;
    size_t i;
    size_t r;
    double t0;
    double dt;
    dd_engine_stats_t st;

    init_report(&f);
    /* Warm-up round creates the things (allocation happens here only). */
    for (i = 0; i < things; i++) {
        vary(&f, i, 0);
        (void)dd_engine_on_report(e, names[i], 300000, &f.r);
    }
    t0 = now_s();
    for (r = 1; r <= rounds; r++) {
        int64_t t = (int64_t)(r + 1) * 300000;
        for (i = 0; i < things; i++) {
            vary(&f, i, r);
            if (dd_engine_on_report(e, names[i], t, &f.r) != DD_ENGINE_OK) {
                fprintf(stderr, "bench: report failed\n");
                exit(1);
            }
        }
    }
    dt = now_s() - t0;
    dd_engine_get_stats(e, &st);
    printf("engine alone:      %zu things x 10 behaviors, %zu reports, %.0f datapoints/s "
           "(%.0f reports/s), %zu violation events\n",
           things, things * rounds, (double)(things * rounds * 10) / dt,
           (double)(things * rounds) / dt, c.events);
    printf("state in memory:   %zu bytes for %zu thing x behavior slots = %.0f bytes per slot "
           "(incl. the thing's report history)\n",
           st.state_bytes, st.slots, (double)st.state_bytes / (double)st.slots);
    dd_engine_destroy(e);
    for (i = 0; i < things; i++) {
        free(names[i]);
    }
    free(names);
}

static void bench_with_store(size_t things, size_t rounds, const char *dir)
{
    char path[512];
    sqlite3 *db = NULL;
    dd_store_t *store = NULL;
    dd_engine_sink_t sink;
    dd_engine_t *e;
    char **names = make_names(things, "thing-");
    fleet_report_t f;
    size_t i;
    size_t r;
    size_t n = 0;
    double t0;
    double dt;
    sqlite3_stmt *st = NULL;
    long long blob_bytes = 0;
    long long rows = 0;

    snprintf(path, sizeof(path), "%s/bench_engine.db", dir);
    remove(path);
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "-wal");
    remove(path);
    snprintf(path, sizeof(path), "%s/bench_engine.db", dir);
    if (dd_db_open(path, false, &db) != DD_DB_OK ||
        dd_store_open(db, NULL, &store) != DD_STORE_OK) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        exit(1);
    }
    dd_store_sink(store, &sink);
    if (getenv("BENCH_NO_VALUES") != NULL) {
        sink.metric_value = NULL;
    }
    if (getenv("BENCH_NO_STATE") != NULL) {
        sink.thing_state = NULL;
    }
    e = make_engine(&sink);
    init_report(&f);
    (void)dd_store_begin(store);
    for (i = 0; i < things; i++) {
        vary(&f, i, 0);
        (void)dd_engine_on_report(e, names[i], 300000, &f.r);
    }
    (void)dd_store_commit(store);
    t0 = now_s();
    for (r = 1; r <= rounds; r++) {
        int64_t t = (int64_t)(r + 1) * 300000;
        for (i = 0; i < things; i++) {
            if (n % 1000 == 0) {
                (void)dd_store_begin(store);
            }
            vary(&f, i, r);
            (void)dd_engine_on_report(e, names[i], t, &f.r);
            if (++n % 1000 == 0 && dd_store_commit(store) != DD_STORE_OK) {
                fprintf(stderr, "bench: commit failed\n");
                exit(1);
            }
        }
    }
    if (n % 1000 != 0) {
        (void)dd_store_commit(store);
    }
    dt = now_s() - t0;
    if (dd_store_sink_status(store) != DD_STORE_OK) {
        fprintf(stderr, "bench: store writes failed\n");
    }
    printf("engine + store:    %zu reports in transactions of 1000, %.0f datapoints/s "
           "(%.0f reports/s)\n",
           n, (double)(n * 10) / dt, (double)n / dt);
    if (dd_db_prepare(db, "SELECT sum(length(state)), count(*) FROM ev_thing_state", &st) ==
            DD_DB_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        blob_bytes = sqlite3_column_int64(st, 0);
        rows = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    printf("state persisted:   %lld bytes for %lld things x 10 behaviors = %.0f bytes per slot\n",
           blob_bytes, rows, rows > 0 ? (double)blob_bytes / (double)(rows * 10) : 0.0);
    dd_engine_destroy(e);
    dd_store_close(store);
    dd_db_close(db);
    for (i = 0; i < things; i++) {
        free(names[i]);
    }
    free(names);
}

static void bench_statistical(size_t devices)
{
    counts_t c = {0};
    dd_engine_sink_t sink = {&c, count_event, NULL, NULL, NULL, NULL, NULL};
    dd_engine_t *e = NULL;
    dd_profile_t p;
    const char *prof = "{\"securityProfileName\":\"stat\",\"behaviors\":[{\"name\":\"size\","
                       "\"metric\":\"aws:message-byte-size\",\"criteria\":{\"comparisonOperator\":"
                       "\"less-than-equals\",\"statisticalThreshold\":{\"statistic\":\"p90\"},"
                       "\"durationSeconds\":300}}],\"targets\":["
                       "\"arn:aws:iot:us-east-1:123456789012:all/things\"]}";
    char **names = make_names(devices, "dev-");
    dd_cloud_event_t *evs = calloc(devices, sizeof(*evs));
    double *vals = malloc(devices * sizeof(double));
    size_t i;
    double t0;
    double dt;
    double pct = 0;

    if (dd_engine_create(NULL, NULL, &sink, &e) != DD_ENGINE_OK ||
        dd_profile_parse(prof, strlen(prof), NULL, &p, NULL) != DD_PROFILE_OK ||
        dd_engine_put_profile(e, &p, 0) != DD_ENGINE_OK) {
        exit(1);
    }
    dd_profile_free(&p);
    for (i = 0; i < devices; i++) {
        evs[i].kind = DD_CLOUD_MESSAGE_SENT;
        evs[i].thing = names[i];
        evs[i].registered = true;
        evs[i].time_ms = 1000 + (int64_t)(i % 1000);
        evs[i].topic = "telemetry";
        evs[i].payload_size = (uint32_t)(5 + (i * 2654435761u) % 3000);
        vals[i] = evs[i].payload_size;
    }
    /* Events must come in time order. */
    for (i = 0; i < devices; i++) {
        evs[i].time_ms = 1000 + (int64_t)(i * 1000 / devices);
    }
    (void)dd_engine_on_cloud_events(e, evs, devices);
    t0 = now_s();
    (void)dd_engine_tick(e, 300001);
    dt = now_s() - t0;
    printf("statistical:       window close over %zu devices (p90 + evaluation): %.1f ms, "
           "%zu in alarm\n",
           devices, dt * 1000.0, c.events);
    t0 = now_s();
    (void)dd_stats_percentile(vals, devices, 90.0, &pct);
    dt = now_s() - t0;
    printf("percentile alone:  p90 of %zu values: %.2f ms\n", devices, dt * 1000.0);
    dd_engine_destroy(e);
    for (i = 0; i < devices; i++) {
        free(names[i]);
    }
    free(names);
    free(evs);
    free(vals);
}

int main(int argc, char **argv)
{
    size_t things = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10000;
    size_t rounds = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 20;
    const char *dir = argc > 3 ? argv[3] : "/tmp";

    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    bench_engine_alone(things, rounds);
    bench_with_store(things, rounds, dir);
    bench_statistical(100000);
    return 0;
}
