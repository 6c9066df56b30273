/*
 * dd_store_history: the store's time-ordered cursors - reports by time then row id whatever
 * the insertion order, metering groups across 300 s blocks (buckets of 5 minutes, a gap of
 * months skipped), violation times, ranges, the read snapshot, bad parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_store.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    assert_non_null(f);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_store_history_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    free(f);
    return system(cmd) == 0 ? 0 : -1;
}

static void add_report(fixture_t *f, const char *thing, int64_t time_ms)
{
    int64_t row = 0;

    assert_int_equal(dd_store_report_insert(f->store, thing, 1, time_ms, 0, (const uint8_t *)"{}",
                                            2, &row),
                     DD_STORE_OK);
}

/* A group in a bucket of @p bucket_len ms. */
static void add_meter(fixture_t *f, const char *thing, int64_t time_ms, int64_t bucket_len)
{
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = thing;
    m.bucket_ms = time_ms - time_ms % bucket_len;
    m.time_ms = time_ms;
    m.kind = DD_CLOUD_MESSAGE_SENT;
    m.subject = "t";
    m.size = 1;
    m.registered = true;
    m.success = true;
    m.count = 1;
    assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_OK);
}

/* The rows of a cursor as "thing@time" (violations: "@time"), space-separated. */
static void read_all(fixture_t *f, dd_store_history_kind_t kind, int64_t from, int64_t to,
                     char *out, size_t out_len)
{
    dd_store_history_t *c = NULL;
    dd_store_history_row_t row;
    bool has = true;

    out[0] = '\0';
    assert_int_equal(dd_store_history_open(f->store, kind, from, to, &c), DD_STORE_OK);
    for (;;) {
        size_t len = strlen(out);
        assert_int_equal(dd_store_history_next(c, &row, &has), DD_STORE_OK);
        if (!has) {
            break;
        }
        (void)snprintf(out + len, out_len - len, "%s%s@%lld", len > 0 ? " " : "",
                       row.thing != NULL ? row.thing : "", (long long)row.time_ms);
    }
    /* At the end it stays at the end. */
    assert_int_equal(dd_store_history_next(c, &row, &has), DD_STORE_OK);
    assert_false(has);
    dd_store_history_close(c);
}

static void test_dd_store_history_reports_by_time_then_row(void **state)
{
    fixture_t *f = *state;
    char out[256];

    add_report(f, "c", 3000);
    add_report(f, "a", 1000);
    add_report(f, "d", 3000);
    add_report(f, "b", 2000);
    add_report(f, "e", 1000);
    read_all(f, DD_STORE_HISTORY_REPORTS, 0, INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "a@1000 e@1000 b@2000 c@3000 d@3000");
    read_all(f, DD_STORE_HISTORY_REPORTS, 1000, 3000, out, sizeof(out));
    assert_string_equal(out, "a@1000 e@1000 b@2000");
    read_all(f, DD_STORE_HISTORY_REPORTS, 2000, 2000, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_dd_store_history_metering_across_blocks(void **state)
{
    static const int64_t DAY = 86400000;
    fixture_t *f = *state;
    char out[512];

    /* 5-minute buckets (the longest), stored out of order; a gap of 90 days. */
    add_meter(f, "b", 299999, 300000);
    add_meter(f, "a", 0, 300000);
    add_meter(f, "c", 300000, 300000);
    add_meter(f, "d", 299999, 60000);
    add_meter(f, "e", 90 * DAY + 5, 300000);
    add_meter(f, "f", 90 * DAY + 5, 1);
    add_meter(f, "g", 90 * DAY + 4, 60000);
    read_all(f, DD_STORE_HISTORY_METERING, 0, INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "a@0 b@299999 d@299999 c@300000 g@7776000004 e@7776000005 "
                             "f@7776000005");
    /* A range starting inside a bucket: its rows before the start are left out. */
    read_all(f, DD_STORE_HISTORY_METERING, 1, 300001, out, sizeof(out));
    assert_string_equal(out, "b@299999 d@299999 c@300000");
    read_all(f, DD_STORE_HISTORY_METERING, 300001, 90 * DAY + 5, out, sizeof(out));
    assert_string_equal(out, "g@7776000004");
    read_all(f, DD_STORE_HISTORY_METERING, 90 * DAY + 6, INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_dd_store_history_violation_times(void **state)
{
    fixture_t *f = *state;
    char out[128];
    int64_t t;

    for (t = 5000; t >= 1000; t -= 2000) {
        char sql[300];
        (void)snprintf(sql, sizeof(sql),
                       "INSERT INTO ev_violation_events(violation_id, thing, profile, behavior,"
                       " behavior_json, criteria_type, suppressed, event_type, value, time_ms,"
                       " verification) VALUES('v', 'T', 'P', 'B', '{}', 0, 0, 'in-alarm', NULL,"
                       " %lld, 0)",
                       (long long)t);
        assert_int_equal(sqlite3_exec(f->db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    read_all(f, DD_STORE_HISTORY_VIOLATIONS, 0, INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "@1000 @3000 @5000");
    read_all(f, DD_STORE_HISTORY_VIOLATIONS, 1001, 5000, out, sizeof(out));
    assert_string_equal(out, "@3000");
}

static void test_dd_store_history_snapshot(void **state)
{
    fixture_t *f = *state;
    dd_store_history_t *c = NULL;
    dd_store_history_row_t row;
    bool began = false;
    bool has = false;
    sqlite3 *writer = NULL;
    char path[128];

    add_report(f, "a", 1000);
    assert_int_equal(dd_store_snapshot_begin(f->store, &began), DD_STORE_OK);
    assert_true(began);
    assert_int_equal(dd_store_history_open(f->store, DD_STORE_HISTORY_REPORTS, 0, INT64_MAX, &c),
                     DD_STORE_OK);
    assert_int_equal(dd_store_history_next(c, &row, &has), DD_STORE_OK);
    assert_true(has);
    /* Another connection writes meanwhile (as ddlocald does): not seen in the snapshot. */
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &writer), DD_DB_OK);
    assert_int_equal(sqlite3_exec(writer,
                                  "INSERT INTO ev_reports(thing, report_id, received_ms, format,"
                                  " payload) VALUES('b', 2, 2000, 0, x'7b7d')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    dd_db_close(writer);
    assert_int_equal(dd_store_history_next(c, &row, &has), DD_STORE_OK);
    assert_false(has);
    dd_store_history_close(c);
    dd_store_snapshot_end(f->store, began);
    /* Inside the caller's transaction nothing is begun. */
    assert_int_equal(dd_store_begin(f->store), DD_STORE_OK);
    assert_int_equal(dd_store_snapshot_begin(f->store, &began), DD_STORE_OK);
    assert_false(began);
    dd_store_snapshot_end(f->store, began);
    assert_int_equal(dd_store_commit(f->store), DD_STORE_OK);
}

static void test_dd_store_history_bad_parameters(void **state)
{
    fixture_t *f = *state;
    dd_store_history_t *c = NULL;
    dd_store_history_row_t row;
    bool has;

    assert_int_equal(dd_store_history_open(NULL, DD_STORE_HISTORY_REPORTS, 0, 1, &c),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_history_open(f->store, DD_STORE_HISTORY_REPORTS, 2, 1, &c),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_history_open(f->store, (dd_store_history_kind_t)9, 0, 1, &c),
                     DD_STORE_BAD_PARAMETER);
    assert_null(c);
    assert_int_equal(dd_store_history_next(NULL, &row, &has), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_snapshot_begin(NULL, &has), DD_STORE_BAD_PARAMETER);
    dd_store_history_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_history_reports_by_time_then_row, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_history_metering_across_blocks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_history_violation_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_history_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_history_bad_parameters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
