/*
 * Fills a data dir's store as a live pipeline of a large fleet would have, for timing `ddlocal
 * export` and `ddlocal datapoints` at fleet size (bench/export_scale.sh; figures in
 * docs/reference/record.md, "Memory and time"): N things reporting every 5 minutes for D days
 * (a ~330-byte JSON report each), the two cloud-side metering rows of each report (the report's
 * message and its /accepted reply, each alone in its minute as in a live store), a violation
 * event a day for 1% of the things, and a profile over all things with a device-side and a
 * cloud-side behavior. Written through the store and registry APIs in large transactions,
 * without the broker: the point is the export side.
 * Usage: bench_export_fill DATA_DIR DEVICES DAYS   (DATA_DIR made by `ddlocal init`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_profile.h"
#include "dd_registry.h"
#include "dd_store.h"

#define START_MS 1796083200000LL /* 2026-12-01T00:00:00Z */
#define PERIOD_MS 300000LL
#define DAY_MS (24LL * 3600 * 1000)

static const char PROFILE[] =
    "{\"behaviors\":[{\"name\":\"BytesOut\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":100000},"
    "\"durationSeconds\":300}},{\"name\":\"Chatty\",\"metric\":\"aws:num-messages-sent\","
    "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":5},"
    "\"durationSeconds\":300}}]}";

static double mono_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_export_fill: %s failed\n", what);
    return 1;
}

static int add_meter(dd_store_t *store, const char *thing, int64_t t, dd_cloud_kind_t kind,
                     const char *topic, int64_t size)
{
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = thing;
    m.bucket_ms = t - t % 60000;
    m.time_ms = t;
    m.kind = kind;
    m.subject = topic;
    m.size = size;
    m.registered = true;
    m.success = true;
    m.count = 1;
    return dd_store_metering_add(store, &m) == DD_STORE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    dd_registry_t reg;
    dd_store_t *store = NULL;
    sqlite3 *db = NULL;
    dd_clock_t clock;
    dd_profile_t p;
    dd_profile_error_t perr;
    char path[600];
    char target[DD_ARN_MAX];
    long devices;
    long days;
    long steps;
    long step;
    long d;
    long long reports = 0;
    double t0;

    if (argc != 4 || (devices = atol(argv[2])) < 1 || (days = atol(argv[3])) < 1 ||
        strlen(argv[1]) > 500) {
        fprintf(stderr, "usage: bench_export_fill DATA_DIR DEVICES DAYS\n");
        return 2;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", argv[1]);
    (void)dd_clock_init_manual(&clock, START_MS);
    if (dd_db_open(path, false, &db) != DD_DB_OK ||
        dd_registry_open(&reg, db, NULL, &clock) != DD_REGISTRY_OK ||
        dd_store_open(db, &reg.arn, &store) != DD_STORE_OK) {
        return fail("opening the data dir's database");
    }
    /* A bench fill: nothing to lose on a crash. */
    (void)sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    t0 = mono_s();
    (void)sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (d = 0; d < devices; d++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "Thing%05ld", d);
        if (dd_registry_thing_create(&reg, name, NULL, NULL, NULL, 0, NULL) != DD_REGISTRY_OK) {
            return fail("creating a thing");
        }
    }
    (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    memset(&perr, 0, sizeof(perr));
    if (dd_profile_parse(PROFILE, strlen(PROFILE), "Fleet", &p, &perr) != DD_PROFILE_OK ||
        dd_store_profile_create(store, &p, START_MS) != DD_STORE_OK ||
        dd_arn_format_target(&reg.arn, DD_ARN_TARGET_ALL_THINGS, NULL, target, sizeof(target)) !=
            DD_NAMES_OK ||
        dd_store_target_attach(store, "Fleet", target) != DD_STORE_OK) {
        return fail("creating the profile");
    }
    dd_profile_free(&p);
    steps = days * (DAY_MS / PERIOD_MS);
    for (step = 0; step < steps; step++) {
        if (dd_store_begin(store) != DD_STORE_OK) {
            return fail("begin");
        }
        for (d = 0; d < devices; d++) {
            /* Devices spread over the period, as a fleet started over minutes would be. */
            int64_t t = START_MS + step * PERIOD_MS + (d * 7919) % PERIOD_MS;
            char name[32];
            char topic[96];
            char json[400];
            int len;
            int64_t row;

            (void)snprintf(name, sizeof(name), "Thing%05ld", d);
            len = snprintf(json, sizeof(json),
                           "{\"header\":{\"report_id\":%lld,\"version\":\"1.0\"},\"metrics\":{"
                           "\"listening_tcp_ports\":{\"ports\":[{\"port\":22},{\"port\":8883}],"
                           "\"total\":2},\"listening_udp_ports\":{\"ports\":[],\"total\":0},"
                           "\"network_stats\":{\"bytes_in\":%ld,\"bytes_out\":%ld,"
                           "\"packets_in\":%ld,\"packets_out\":%ld},\"tcp_connections\":{"
                           "\"established_connections\":{\"connections\":[],\"total\":1}}}}",
                           (long long)(t / 1000), 20000 + (step * 31 + d) % 5000,
                           30000 + (step * 17 + d * 3) % 9000, 200 + d % 50, 300 + step % 70);
            (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json", name);
            if (dd_store_report_insert(store, name, (uint64_t)(t / 1000), t, 0,
                                       (const uint8_t *)json, (size_t)len, &row) != DD_STORE_OK ||
                add_meter(store, name, t, DD_CLOUD_MESSAGE_SENT, topic, len) != 0) {
                return fail("storing a report");
            }
            (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json/accepted",
                           name);
            if (add_meter(store, name, t + 3, DD_CLOUD_MESSAGE_RECEIVED, topic, 0) != 0) {
                return fail("storing metering");
            }
            if (step % 288 == 100 && d % 100 == 7) {
                char sql[400];
                (void)snprintf(sql, sizeof(sql),
                               "INSERT INTO ev_violation_events(violation_id, thing, profile,"
                               " behavior, behavior_json, criteria_type, suppressed, event_type,"
                               " value, time_ms, verification) VALUES('v-%s-%ld', '%s', 'Fleet',"
                               " 'BytesOut', '{}', 0, 0, 'in-alarm', NULL, %lld, 0)",
                               name, step, name, (long long)(t + 5));
                if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                    return fail("storing a violation event");
                }
            }
            reports++;
        }
        if (dd_store_commit(store) != DD_STORE_OK) {
            return fail("commit");
        }
    }
    (void)sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    printf("filled %ld things x %ld days: %lld reports, %lld metering rows in %.1f s\n", devices,
           days, reports, 2 * reports, mono_s() - t0);
    dd_store_close(store);
    dd_db_close(db);
    return 0;
}
