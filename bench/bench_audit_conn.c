/*
 * The connection history's audit checks at fleet size: N devices with a certificate each,
 * every one connected R times over the last 31 days (sequentially, so compliant), plus one
 * certificate shared by two concurrent devices and one client id taken over. Times filling
 * the history (one transaction), DEVICE_CERTIFICATE_SHARED_CHECK, CONFLICTING_CLIENT_IDS_CHECK
 * and a prune. Usage: bench_audit_conn [devices] [connections per device] [db dir].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_audit_check.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_store.h"

#define DAY (24LL * 3600 * 1000)
#define NOW 1800000000000LL

static double mono_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_sink(void *ctx, const dd_audit_finding_t *finding)
{
    (void)finding;
    (*(int *)ctx)++;
    return 0;
}

static int open_conn(dd_store_t *s, const char *client, const char *cert, int64_t t)
{
    dd_store_connection_t c;

    memset(&c, 0, sizeof(c));
    c.client_id = client;
    c.cert_id = cert;
    c.thing = client;
    c.source_ip = "10.0.0.1";
    c.instance = "0000000000000001";
    c.connect_ms = t;
    return dd_store_connection_open(s, &c) == DD_STORE_OK ? 0 : -1;
}

static void run(dd_audit_world_t *w, const char *check)
{
    int findings = 0;
    int64_t checked = 0;
    double t0 = mono_s();
    dd_audit_status_t st =
        dd_audit_check_run(dd_audit_check_find(check), w, count_sink, &findings, &checked);

    printf("%-34s %8.1f ms  %s, %lld resources, %d findings\n", check, (mono_s() - t0) * 1000,
           dd_audit_strerror(st), (long long)checked, findings);
}

int main(int argc, char **argv)
{
    int devices = argc > 1 ? atoi(argv[1]) : 10000;
    int per = argc > 2 ? atoi(argv[2]) : 3;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    char path[512];
    sqlite3 *db = NULL;
    dd_store_t *s = NULL;
    dd_audit_world_t w;
    char client[32];
    char cert[80];
    double t0;
    int64_t deleted = 0;
    int i;
    int k;

    if (devices < 1 || per < 1) {
        fprintf(stderr, "usage: bench_audit_conn [devices] [connections per device] [db dir]\n");
        return 2;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(path, sizeof(path), "%s/bench_audit_conn_%d.db", dir, (int)getpid());
    if (dd_db_open(path, false, &db) != DD_DB_OK || dd_store_open(db, NULL, &s) != DD_STORE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    t0 = mono_s();
    (void)dd_store_begin(s);
    for (i = 0; i < devices; i++) {
        (void)snprintf(client, sizeof(client), "Thing%05d", i);
        (void)snprintf(cert, sizeof(cert), "%064d", i);
        for (k = 0; k < per; k++) {
            int64_t t = NOW - 30 * DAY + (int64_t)k * (29 * DAY / per) + i;

            if (open_conn(s, client, cert, t) != 0 ||
                (k + 1 < per &&
                 dd_store_connection_close(s, client, t + 3600000, false) != DD_STORE_OK)) {
                fprintf(stderr, "insert failed\n");
                return 1;
            }
        }
    }
    /* One shared certificate, one takeover. */
    (void)open_conn(s, "Shared1", "shared-cert", NOW - 1000);
    (void)open_conn(s, "Shared2", "shared-cert", NOW - 900);
    (void)dd_store_connection_close(s, "Thing00000", NOW - 500, true);
    (void)open_conn(s, "Thing00000", "other-cert", NOW - 500);
    if (dd_store_commit(s) != DD_STORE_OK) {
        fprintf(stderr, "commit failed\n");
        return 1;
    }
    printf("history: %d devices x %d connections in %.1f ms\n", devices, per,
           (mono_s() - t0) * 1000);

    memset(&w, 0, sizeof(w));
    w.store = s;
    w.now_ms = NOW;
    run(&w, "DEVICE_CERTIFICATE_SHARED_CHECK");
    run(&w, "CONFLICTING_CLIENT_IDS_CHECK");
    t0 = mono_s();
    (void)dd_store_connections_prune(s, NOW - DD_STORE_CONNECTION_RETENTION_MS, &deleted);
    printf("prune (nothing to drop)            %8.1f ms\n", (mono_s() - t0) * 1000);
    dd_store_close(s);
    dd_db_close(db);
    (void)remove(path);
    return 0;
}
