#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_store_wal.h"

/* A small threshold keeps the test short; the module reads it from the writer's connection. */
#define THRESHOLD 64
/* A WAL frame: one 4 KiB page and its 24-byte header. */
#define FRAME_BYTES (4096 + 24)
/* The bound dd_store_wal.h promises, with one commit's frames (a row and its index) to spare. */
#define WAL_BOUND_BYTES ((DD_STORE_WAL_TRUNCATE_FACTOR * THRESHOLD + 8) * FRAME_BYTES + 32)

static char dir[64];
static char path[128];
static char wal_path[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_store_wal_test_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, dir);
    snprintf(wal_path, sizeof(wal_path), "%s-wal", path);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t wal_size(void)
{
    struct stat sb;

    return stat(wal_path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static sqlite3 *open_writer(void)
{
    sqlite3 *db = NULL;

    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(
        dd_db_exec(db,
                   "PRAGMA wal_autocheckpoint = " DD_STORE_STR(
                       THRESHOLD) ";"
                                  "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB)"),
        DD_DB_OK);
    return db;
}

/* One commit of about one page, under the writer's lock (as ddlocald commits). */
static void commit_row(sqlite3 *db, pthread_mutex_t *lock)
{
    pthread_mutex_lock(lock);
    assert_int_equal(dd_db_exec(db, "INSERT INTO t(b) VALUES(zeroblob(3000))"), DD_DB_OK);
    pthread_mutex_unlock(lock);
}

static void wait_checkpoints(dd_store_wal_t *wal, uint64_t at_least)
{
    int64_t until = dd_clock_mono_ms() + 30000;
    dd_store_wal_stats_t stats;

    do {
        assert_int_equal(dd_store_wal_status(wal, &stats), DD_STORE_OK);
        if (stats.checkpoints >= at_least) {
            return;
        }
        dd_clock_sleep_ms(2);
    } while (dd_clock_mono_ms() < until);
    fail_msg("%llu checkpoint(s) after 30 s, expected %llu", (unsigned long long)stats.checkpoints,
             (unsigned long long)at_least);
}

typedef struct reader {
    pthread_t thread;
    atomic_bool stop;
    long reads;
} reader_t;

/* Short read transactions on a connection of their own, as `ddlocal` commands do beside ddlocald. */
static void *reader_main(void *arg)
{
    reader_t *r = arg;
    sqlite3 *db = NULL;

    if (dd_db_open(path, true, &db) != DD_DB_OK) {
        return NULL;
    }
    while (!atomic_load(&r->stop)) {
        sqlite3_stmt *st = NULL;
        if (dd_db_prepare(db, "SELECT count(*) FROM t", &st) == DD_DB_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            r->reads++;
        }
        sqlite3_finalize(st);
    }
    dd_db_close(db);
    return NULL;
}

static void test_dd_store_wal_bounded_with_a_concurrent_reader(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    sqlite3 *db = open_writer();
    dd_store_wal_t *wal = NULL;
    dd_store_wal_stats_t stats;
    reader_t r;
    int64_t high = 0;
    int i;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_store_wal_start(path, db, &lock, &wal), DD_STORE_OK);
    assert_int_equal(dd_store_wal_status(wal, &stats), DD_STORE_OK);
    assert_int_equal(stats.threshold_pages, THRESHOLD);
    atomic_init(&r.stop, false);
    assert_int_equal(pthread_create(&r.thread, NULL, reader_main, &r), 0);
    /* About 30 thresholds' worth of pages. */
    for (i = 0; i < 30 * THRESHOLD; i++) {
        int64_t size;
        commit_row(db, &lock);
        size = wal_size();
        high = size > high ? size : high;
    }
    atomic_store(&r.stop, true);
    assert_int_equal(pthread_join(r.thread, NULL), 0);
    wait_checkpoints(wal, 1);
    assert_true(r.reads > 0);
    if (high > WAL_BOUND_BYTES) {
        fail_msg("the WAL reached %lld bytes (bound %d)", (long long)high, WAL_BOUND_BYTES);
    }
    dd_store_wal_stop(wal);
    dd_db_close(db);
}

static void test_dd_store_wal_truncates_after_a_long_reader(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    sqlite3 *db = open_writer();
    sqlite3 *reader = NULL;
    dd_store_wal_t *wal = NULL;
    dd_store_wal_stats_t stats;
    sqlite3_stmt *st = NULL;
    int i;

    (void)state;
    assert_int_equal(dd_store_wal_start(path, db, &lock, &wal), DD_STORE_OK);
    commit_row(db, &lock);
    /* A reader holding one snapshot keeps the WAL from restarting... */
    assert_int_equal(dd_db_open(path, true, &reader), DD_DB_OK);
    assert_int_equal(dd_db_exec(reader, "BEGIN"), DD_DB_OK);
    assert_int_equal(dd_db_prepare(reader, "SELECT count(*) FROM t", &st), DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_finalize(st);
    /* ...so the commit that finds it at the truncation size waits for it, and gives up. */
    stats.truncate_failures = 0;
    for (i = 0; i < 2 * DD_STORE_WAL_TRUNCATE_FACTOR * THRESHOLD && stats.truncate_failures == 0;
         i++) {
        commit_row(db, &lock);
        assert_int_equal(dd_store_wal_status(wal, &stats), DD_STORE_OK);
    }
    assert_int_equal(stats.truncate_failures, 1);
    assert_int_equal(stats.truncations, 0);
    assert_true(wal_size() >= (int64_t)DD_STORE_WAL_TRUNCATE_FACTOR * THRESHOLD * 4096);
    /*
     * Once the reader let go, the WAL is cut back: restarted by the
     * checkpointer (and cut to journal_size_limit, as the store sets it) or
     * truncated by a commit, whichever comes first.
     */
    assert_int_equal(dd_db_exec(db, "PRAGMA journal_size_limit = 0"), DD_DB_OK);
    assert_int_equal(dd_db_exec(reader, "COMMIT"), DD_DB_OK);
    dd_db_close(reader);
    for (i = 0; i < 4 * DD_STORE_WAL_TRUNCATE_FACTOR * THRESHOLD &&
                wal_size() >= (int64_t)THRESHOLD * FRAME_BYTES;
         i++) {
        commit_row(db, &lock);
    }
    assert_true(wal_size() < (int64_t)THRESHOLD * FRAME_BYTES);
    assert_int_equal(dd_store_wal_status(wal, &stats), DD_STORE_OK);
    assert_true(stats.truncate_failures >= 1);
    dd_store_wal_stop(wal);
    dd_db_close(db);
}

static void test_dd_store_wal_start_empties_a_left_wal(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    sqlite3 *old = open_writer();
    sqlite3 *db;
    dd_store_wal_t *wal = NULL;
    int i;

    (void)state;
    /* A writer without checkpoints (as a crashed run leaves it): a large WAL. */
    assert_int_equal(dd_db_exec(old, "PRAGMA wal_autocheckpoint = 0"), DD_DB_OK);
    for (i = 0; i < 4 * THRESHOLD; i++) {
        commit_row(old, &lock);
    }
    assert_true(wal_size() > 4 * THRESHOLD * 4096);
    db = open_writer();
    assert_int_equal(dd_store_wal_start(path, db, &lock, &wal), DD_STORE_OK);
    assert_int_equal(wal_size(), 0);
    dd_store_wal_stop(wal);
    dd_db_close(db);
    dd_db_close(old);
}

static void test_dd_store_wal_bad_parameters(void **state)
{
    sqlite3 *db;
    dd_store_wal_t *wal = NULL;
    dd_store_wal_stats_t stats;
    char missing[200];

    (void)state;
    db = open_writer();
    assert_int_equal(dd_store_wal_start(NULL, db, NULL, &wal), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_wal_start(path, NULL, NULL, &wal), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_wal_start(path, db, NULL, NULL), DD_STORE_BAD_PARAMETER);
    snprintf(missing, sizeof(missing), "%s/no/such/dir.db", dir);
    assert_int_equal(dd_store_wal_start(missing, db, NULL, &wal), DD_STORE_SQL_ERROR);
    assert_null(wal);
    assert_int_equal(dd_store_wal_status(NULL, &stats), DD_STORE_BAD_PARAMETER);
    /* No lock: a single-threaded writer. */
    assert_int_equal(dd_store_wal_start(path, db, NULL, &wal), DD_STORE_OK);
    assert_int_equal(dd_store_wal_status(wal, NULL), DD_STORE_BAD_PARAMETER);
    dd_store_wal_stop(wal);
    dd_store_wal_stop(NULL);
    dd_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_wal_bounded_with_a_concurrent_reader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_wal_truncates_after_a_long_reader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_wal_start_empties_a_left_wal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_wal_bad_parameters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
