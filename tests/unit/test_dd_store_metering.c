/*
 * dd_store_metering: the broker's cloud-side metering kept for `ddlocal export` - records of
 * one key add up in one row, the listing by time range and row id, pruning, and the reset of
 * the metrics subject.
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
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_store_metering_XXXXXX");
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

static void add(fixture_t *f, const char *thing, int64_t time_ms, dd_cloud_kind_t kind,
                const char *subject, int64_t size)
{
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = thing;
    m.bucket_ms = time_ms - time_ms % 60000;
    m.time_ms = time_ms;
    m.kind = kind;
    m.subject = subject;
    m.size = size;
    m.registered = true;
    m.success = true;
    m.count = 1;
    assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_OK);
}

typedef struct listing {
    char text[1024];
    int64_t last_row;
    int stop_after;
    int seen;
} listing_t;

static int collect(void *ctx, const dd_store_metering_t *m)
{
    listing_t *l = ctx;
    size_t used = strlen(l->text);

    (void)snprintf(l->text + used, sizeof(l->text) - used, "%s%s %lld %d %s %lld %s%s x%lld",
                   used > 0 ? "; " : "", m->thing, (long long)m->time_ms, (int)m->kind, m->subject,
                   (long long)m->size, m->registered ? "r" : "-", m->success ? "s" : "-",
                   (long long)m->count);
    l->last_row = m->row;
    l->seen++;
    return l->stop_after > 0 && l->seen >= l->stop_after;
}

static void list(fixture_t *f, int64_t from, int64_t to, int64_t after, listing_t *l)
{
    memset(l->text, 0, sizeof(l->text));
    l->seen = 0;
    assert_int_equal(dd_store_metering_list(f->store, from, to, after, collect, l), DD_STORE_OK);
}

static void test_dd_store_metering_groups_add_up(void **state)
{
    fixture_t *f = *state;
    listing_t l = {{0}, 0, 0, 0};

    add(f, "Thing01", 60000 * 10 + 5000, DD_CLOUD_MESSAGE_SENT, "t/a", 5);
    add(f, "Thing01", 60000 * 10 + 9000, DD_CLOUD_MESSAGE_SENT, "t/a", 5);
    add(f, "Thing01", 60000 * 10 + 7000, DD_CLOUD_MESSAGE_SENT, "t/a", 6); /* another size */
    add(f, "Thing02", 60000 * 10 + 8000, DD_CLOUD_MESSAGE_SENT, "t/a", 5); /* another thing */
    add(f, "Thing01", 60000 * 11 + 1000, DD_CLOUD_MESSAGE_SENT, "t/a", 5); /* next minute */
    add(f, "Thing01", 60000 * 11 + 2000, DD_CLOUD_AUTH_FAILURE, NULL, 0);
    list(f, 0, INT64_MAX, 0, &l);
    assert_string_equal(l.text, "Thing01 605000 0 t/a 5 rs x2; Thing01 607000 0 t/a 6 rs x1; "
                                "Thing02 608000 0 t/a 5 rs x1; Thing01 661000 0 t/a 5 rs x1; "
                                "Thing01 662000 2  0 rs x1");
    /* A range is [from, to) on the group's time; after_row resumes a listing. */
    list(f, 607000, 661000, 0, &l);
    assert_string_equal(l.text, "Thing01 607000 0 t/a 6 rs x1; Thing02 608000 0 t/a 5 rs x1");
    l.stop_after = 2;
    list(f, 0, INT64_MAX, 0, &l);
    assert_int_equal(l.seen, 2);
    l.stop_after = 0;
    list(f, 0, INT64_MAX, l.last_row, &l);
    assert_string_equal(l.text, "Thing02 608000 0 t/a 5 rs x1; Thing01 661000 0 t/a 5 rs x1; "
                                "Thing01 662000 2  0 rs x1");
}

static void test_dd_store_metering_prune_and_reset(void **state)
{
    fixture_t *f = *state;
    listing_t l = {{0}, 0, 0, 0};
    int64_t deleted = -1;

    add(f, "Thing01", 1000, DD_CLOUD_CONNECT, "192.0.2.1", 0);
    add(f, "Thing01", 70000, DD_CLOUD_DISCONNECT, NULL, 0);
    assert_int_equal(dd_store_metering_prune(f->store, 60000, &deleted), DD_STORE_OK);
    assert_int_equal(deleted, 1);
    list(f, 0, INT64_MAX, 0, &l);
    assert_string_equal(l.text, "Thing01 70000 4  0 rs x1");
    assert_int_equal(dd_store_reset(f->store, DD_STORE_RESET_METRICS), DD_STORE_OK);
    list(f, 0, INT64_MAX, 0, &l);
    assert_string_equal(l.text, "");
}

static void test_dd_store_metering_bad_parameters(void **state)
{
    fixture_t *f = *state;
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = "Thing01";
    assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_BAD_PARAMETER); /* count 0 */
    assert_int_equal(dd_store_metering_add(NULL, &m), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_metering_list(f->store, 0, 1, 0, NULL, NULL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_metering_prune(NULL, 0, NULL), DD_STORE_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_metering_groups_add_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_metering_prune_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_metering_bad_parameters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
