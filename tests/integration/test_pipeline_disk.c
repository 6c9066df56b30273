/*
 * Issue 10, hardening item 2 (the WAL fills the disk), on `ddlocal up`:
 * - disk full: the data dir is a small tmpfs, a filler file leaves little
 *   room, one thing reports (each report waits for its reply) until a reply
 *   stops coming. Then ddlocald's status says the store cannot write, and
 *   the unanswered reports are not stored; once the filler is deleted,
 *   every one of them is answered /accepted without anything being resent
 *   (they were held, not dropped), ingest goes on, and every report
 *   answered /accepted is stored exactly once. (Before: the failed batch
 *   was dropped, its report never answered.) Skipped when mounting a tmpfs
 *   is not permitted.
 * - bounded WAL: 20,000 reports as fast as the broker takes them while
 *   another connection reads the database in a loop (each read holding its
 *   snapshot for 5 ms); the WAL file never exceeds WAL_BOUND_BYTES (it
 *   reached 250 MB here with the 8,192-page threshold and no size limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_pipetest.h"

#define WAIT_MS 20000
#define REPLY_STALL_MS 5000 /* no reply for this long: the store stopped */
#define MAX_REPORTS 5000
#define ROOM_LEFT (512 * 1024) /* bytes the filler leaves free */
#define AFTER_STALL 3          /* reports published once the store stopped */
#define DISK_PORTS 200         /* ~2.5 KB reports fill the disk sooner */
#define WAL_REPORTS 20000
#define WAL_PORTS 50 /* ~700 B reports, a batch of 2,000 under 2 MB */
/* DD_STORE_WAL_CHECKPOINT_PAGES x 4 (the truncation point) x 4 KiB pages, plus one batch. */
#define WAL_BOUND_BYTES (24 * 1024 * 1024)

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *device;
    dd_pipetest_mqtt_t *collector;
    char thing[32];
    char topic[128];
    char cert[600];
    char key[600];
} fixture_t;

static int start(fixture_t *f, const char *tmpfs, const char *thing)
{
    dd_pipetest_options_t o;
    char policy[700];
    char filter[160];
    int granted = -1;
    int64_t deadline;
    dd_pipetest_status_t st;

    memset(&o, 0, sizeof(o));
    o.data_dir_tmpfs = tmpfs;
    st = dd_pipetest_start(&f->pt, &o);
    if (st != DD_PIPETEST_OK) {
        return st == DD_PIPETEST_UNSUPPORTED ? 1 : -1;
    }
    (void)snprintf(f->thing, sizeof(f->thing), "%s", thing);
    (void)snprintf(f->topic, sizeof(f->topic), "$aws/things/%s/defender/metrics/json", thing);
    (void)snprintf(filter, sizeof(filter), "%s/+", f->topic);
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "AllowAll", policy, NULL) != 0 ||
        dd_pipetest_thing(&f->pt, thing, "AllowAll", f->cert, f->key) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_new(&f->pt, "ddlocal-test-collector", NULL, NULL, false, &f->collector) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->collector, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(f->collector, filter, 1, WAIT_MS, &granted) != DD_PIPETEST_OK ||
        granted != 1 ||
        dd_pipetest_mqtt_new(&f->pt, thing, f->cert, f->key, true, &f->device) != DD_PIPETEST_OK) {
        return -1;
    }
    /* CLI registry changes reach the shim within ~100 ms: retry until known. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            return -1;
        }
        dd_clock_sleep_ms(100);
    }
    return 0;
}

static void stop(fixture_t *f)
{
    dd_pipetest_mqtt_destroy(f->device);
    dd_pipetest_mqtt_destroy(f->collector);
    (void)dd_pipetest_stop(&f->pt);
}

/* A report with id @p rid listing @p ports listening ports (200: ~2.5 KB). */
static void publish_report(fixture_t *f, int rid, int qos, int ports)
{
    char body[4096];
    size_t n;
    int i;

    n = (size_t)snprintf(body, sizeof(body),
                         "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{"
                         "\"listening_tcp_ports\":{\"ports\":[",
                         rid);
    for (i = 0; i < ports; i++) {
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"port\":%d}", i > 0 ? "," : "",
                              1000 + i);
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n, "],\"total\":%d}}}", ports);
    assert_true(n < sizeof(body));
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, f->topic, body, n, qos, WAIT_MS),
                     DD_PIPETEST_OK);
}

/* The next reply; @p rid gets its report id, @p accepted whether it was /accepted. */
static bool next_reply(fixture_t *f, int timeout_ms, int *rid, bool *accepted)
{
    dd_pipetest_msg_t *m = NULL;
    char filter[160];
    cJSON *reply;

    (void)snprintf(filter, sizeof(filter), "%s/+", f->topic);
    if (dd_pipetest_mqtt_wait_message(f->collector, filter, timeout_ms, &m) != DD_PIPETEST_OK) {
        return false;
    }
    reply = dd_pipetest_reply_parse(m);
    *rid = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "reportId"));
    *accepted = strstr(m->topic, "/accepted") != NULL;
    cJSON_Delete(reply);
    dd_pipetest_msg_free(m);
    return true;
}

static bool status_bool(fixture_t *f, const char *member, bool *value)
{
    cJSON *out = NULL;
    const cJSON *item;

    if (dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/status", NULL, NULL, &out) != DD_PIPETEST_OK) {
        return false;
    }
    item = cJSON_GetObjectItemCaseSensitive(out, member);
    *value = cJSON_IsTrue(item);
    cJSON_Delete(out);
    return cJSON_IsBool(item);
}

static void fill(const char *path, uint64_t bytes)
{
    static char block[65536];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    while (bytes > 0) {
        size_t n = bytes < sizeof(block) ? (size_t)bytes : sizeof(block);
        ssize_t w = write(fd, block, n);
        if (w <= 0) {
            break; /* ENOSPC: as full as it gets */
        }
        bytes -= (uint64_t)w;
    }
    assert_int_equal(close(fd), 0);
}

static void test_disk_full_holds_reports_and_resumes(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char filler[200];
    char sql[200];
    struct statvfs vfs;
    bool accepted = false;
    bool writable = true;
    bool answered[MAX_REPORTS + AFTER_STALL + 2];
    int stalled_at = 0;
    int last;
    int rid = 0;
    int pending;
    int64_t deadline;
    int64_t count = 0;
    int rc;
    int i;

    (void)state;
    assert_non_null(f);
    memset(answered, 0, sizeof(answered));
    rc = start(f, "24m", "DiskThing");
    if (rc == 1) {
        free(f);
        fprintf(stderr, "SKIPPED: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)\n");
        skip();
    }
    assert_int_equal(rc, 0);

    /* Leave ROOM_LEFT bytes: the reports and the WAL must fill the rest. */
    (void)snprintf(filler, sizeof(filler), "%s/filler", f->pt.data_dir);
    assert_int_equal(statvfs(f->pt.data_dir, &vfs), 0);
    assert_true((uint64_t)vfs.f_bavail * vfs.f_frsize > ROOM_LEFT);
    fill(filler, (uint64_t)vfs.f_bavail * vfs.f_frsize - ROOM_LEFT);

    for (i = 1; i <= MAX_REPORTS && stalled_at == 0; i++) {
        publish_report(f, i, 1, DISK_PORTS);
        if (!next_reply(f, REPLY_STALL_MS, &rid, &accepted)) {
            stalled_at = i;
            break;
        }
        assert_int_equal(rid, i);
        assert_true(accepted);
        answered[i] = true;
    }
    if (stalled_at == 0) {
        fail_msg("%d reports were all answered: the store never ran out of room", MAX_REPORTS);
    }
    fprintf(stderr, "the store stopped at report %d\n", stalled_at);

    /* ddlocald says so (its log may not: the log is on the full disk too). */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (!status_bool(f, "storeWritable", &writable) || writable) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("report %d got no reply but the status says the store writes", stalled_at);
        }
        dd_clock_sleep_ms(100);
    }
    /* More reports while full: the broker keeps them. */
    for (i = stalled_at + 1; i <= stalled_at + AFTER_STALL; i++) {
        publish_report(f, i, 1, DISK_PORTS);
    }
    last = stalled_at + AFTER_STALL;
    (void)snprintf(sql, sizeof(sql),
                   "SELECT count(*) FROM ev_reports WHERE thing = '%s' AND report_id >= %d",
                   f->thing, stalled_at);
    assert_int_equal(dd_pipetest_db_int(&f->pt, sql, &count), DD_PIPETEST_OK);
    assert_int_equal(count, 0);

    /* Space returns: everything held or queued is answered, nothing resent. */
    assert_int_equal(unlink(filler), 0);
    pending = last - stalled_at + 1;
    deadline = dd_clock_mono_ms() + WAIT_MS * 2;
    while (pending > 0) {
        int left = (int)(deadline - dd_clock_mono_ms());
        if (left <= 0 || !next_reply(f, left, &rid, &accepted)) {
            fail_msg("%d of the reports %d..%d still unanswered after space returned", pending,
                     stalled_at, last);
        }
        assert_true(accepted);
        assert_true(rid >= stalled_at && rid <= last);
        assert_false(answered[rid]);
        answered[rid] = true;
        pending--;
    }
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (!status_bool(f, "storeWritable", &writable) || !writable) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("the reports are answered but the status still says the store cannot write");
        }
        dd_clock_sleep_ms(100);
    }
    assert_true(dd_pipetest_log_count(&f->pt, "logs/ddlocald.log", "the store writes again") >= 1);

    /* Ingest goes on, and every answered report is stored exactly once. */
    last++;
    publish_report(f, last, 1, DISK_PORTS);
    assert_true(next_reply(f, WAIT_MS, &rid, &accepted));
    assert_int_equal(rid, last);
    assert_true(accepted);
    (void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM ev_reports WHERE thing = '%s'",
                   f->thing);
    assert_int_equal(dd_pipetest_db_int(&f->pt, sql, &count), DD_PIPETEST_OK);
    assert_int_equal(count, last);
    (void)snprintf(sql, sizeof(sql),
                   "SELECT count(DISTINCT report_id) FROM ev_reports WHERE thing = '%s'", f->thing);
    assert_int_equal(dd_pipetest_db_int(&f->pt, sql, &count), DD_PIPETEST_OK);
    assert_int_equal(count, last);
    f->pt.passed = true;
    stop(f);
    free(f);
}

/* ---- bounded WAL ------------------------------------------------------------------------------ */

typedef struct reader {
    const char *db_path;
    volatile bool stop;
    long reads;
    int errors;
} reader_t;

/* Another process's reader (the CLI, a user's sqlite3): short read transactions, back to back. */
static void *read_loop(void *arg)
{
    reader_t *r = arg;
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(r->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        r->errors++;
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    while (!r->stop) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT max(rowid) FROM ev_reports", -1, &st, NULL) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            r->errors++;
        }
        sqlite3_finalize(st);
        dd_clock_sleep_ms(5); /* the snapshot is held meanwhile */
        (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        r->reads++;
    }
    sqlite3_close(db);
    return NULL;
}

static int64_t file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void test_wal_stays_bounded_with_a_reader(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char db_path[200];
    char wal_path[200];
    reader_t reader;
    pthread_t thread;
    int64_t max_wal = 0;
    int64_t deadline;
    double accepted = 0;
    int i;

    (void)state;
    assert_non_null(f);
    assert_int_equal(start(f, NULL, "WalThing"), 0);
    (void)snprintf(db_path, sizeof(db_path), "%s/ddlocal.db", f->pt.data_dir);
    (void)snprintf(wal_path, sizeof(wal_path), "%s/ddlocal.db-wal", f->pt.data_dir);
    memset(&reader, 0, sizeof(reader));
    reader.db_path = db_path;
    assert_int_equal(pthread_create(&thread, NULL, read_loop, &reader), 0);

    for (i = 1; i <= WAL_REPORTS; i++) {
        publish_report(f, i, 1, WAL_PORTS);
        if (i % 100 == 0) {
            int64_t size = file_size(wal_path);
            max_wal = size > max_wal ? size : max_wal;
            /* Replies are not read here: drop them so the client's queue stays small. */
            {
                dd_pipetest_msg_t *m = NULL;
                (void)dd_pipetest_mqtt_take(f->collector, 0, &m);
                dd_pipetest_msg_free(m);
            }
        }
    }
    deadline = dd_clock_mono_ms() + WAIT_MS * 6;
    while (dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted) != DD_PIPETEST_OK ||
           accepted < WAL_REPORTS) {
        int64_t size = file_size(wal_path);
        max_wal = size > max_wal ? size : max_wal;
        if (dd_clock_mono_ms() > deadline) {
            reader.stop = true;
            (void)pthread_join(thread, NULL);
            fail_msg("only %.0f of %d reports accepted", accepted, WAL_REPORTS);
        }
        dd_clock_sleep_ms(20);
    }
    reader.stop = true;
    assert_int_equal(pthread_join(thread, NULL), 0);
    fprintf(stderr, "WAL high-water %" PRId64 " bytes over %d reports; %ld reads beside\n", max_wal,
            WAL_REPORTS, reader.reads);
    assert_int_equal(reader.errors, 0);
    assert_true(reader.reads > 0);
    if (max_wal > WAL_BOUND_BYTES) {
        fail_msg("the WAL reached %" PRId64 " bytes (bound %d)", max_wal, WAL_BOUND_BYTES);
    }
    f->pt.passed = true;
    stop(f);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full_holds_reports_and_resumes),
        cmocka_unit_test(test_wal_stays_bounded_with_a_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
