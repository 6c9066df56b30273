#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_db.h"
#include "dd_store.h"
#include "dd_store_audit.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_store_audit_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    assert_int_equal(dd_store_audit_migrate(f->db), DD_STORE_OK);
    assert_int_equal(dd_store_audit_migrate(f->db), DD_STORE_OK); /* again: nothing to do */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void put(fixture_t *f, dd_store_audit_table_t t, const char *id, const char *a,
                const char *b, int64_t time_ms, int64_t number, const char *doc)
{
    dd_store_audit_row_t row;

    memset(&row, 0, sizeof(row));
    row.id = id;
    row.a = a;
    row.b = b;
    row.time_ms = time_ms;
    row.number = number;
    row.doc = doc;
    assert_int_equal(dd_store_audit_put(f->db, t, &row), DD_STORE_OK);
}

typedef struct seen {
    char ids[16][16];
    int n;
    int stop_after;
} seen_t;

static int see(void *ctx, const dd_store_audit_row_t *row)
{
    seen_t *s = ctx;

    (void)snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", row->id);
    s->n++;
    return s->stop_after > 0 && s->n >= s->stop_after;
}

static void test_dd_store_audit_put_get_delete(void **state)
{
    fixture_t *f = *state;
    char *doc = NULL;
    int64_t t = 0;
    bool deleted = false;

    put(f, DD_STORE_AUDIT_TASKS, "t1", "ON_DEMAND_AUDIT_TASK", "COMPLETED", 5, 0, "{\"a\":1}");
    assert_int_equal(dd_store_audit_get(f->db, DD_STORE_AUDIT_TASKS, "t1", &doc, &t), DD_STORE_OK);
    assert_string_equal(doc, "{\"a\":1}");
    assert_int_equal(t, 5);
    free(doc);
    /* The same id in another table is another row. */
    assert_int_equal(dd_store_audit_get(f->db, DD_STORE_AUDIT_FINDINGS, "t1", &doc, NULL),
                     DD_STORE_NOT_FOUND);
    assert_null(doc);
    /* Replacing keeps one row. */
    put(f, DD_STORE_AUDIT_TASKS, "t1", "ON_DEMAND_AUDIT_TASK", "COMPLETED", 6, 0, "{\"a\":2}");
    assert_int_equal(dd_store_audit_get(f->db, DD_STORE_AUDIT_TASKS, "t1", &doc, NULL),
                     DD_STORE_OK);
    assert_string_equal(doc, "{\"a\":2}");
    free(doc);
    assert_int_equal(dd_store_audit_delete(f->db, DD_STORE_AUDIT_TASKS, "t1", &deleted),
                     DD_STORE_OK);
    assert_true(deleted);
    assert_int_equal(dd_store_audit_delete(f->db, DD_STORE_AUDIT_TASKS, "t1", &deleted),
                     DD_STORE_OK);
    assert_false(deleted);
    assert_int_equal(dd_store_audit_put(f->db, DD_STORE_AUDIT_TABLE_COUNT_, NULL),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_audit_get(NULL, DD_STORE_AUDIT_TASKS, "x", &doc, NULL),
                     DD_STORE_BAD_PARAMETER);
}

static void test_dd_store_audit_list_filters_and_pages(void **state)
{
    fixture_t *f = *state;
    dd_store_audit_filter_t filter;
    char next[DD_STORE_AUDIT_KEY_MAX];
    seen_t s;

    put(f, DD_STORE_AUDIT_FINDINGS, "f1", "task1", "CHECK_A", 100, 0, "{}");
    put(f, DD_STORE_AUDIT_FINDINGS, "f2", "task1", "CHECK_B", 200, 1, "{}");
    put(f, DD_STORE_AUDIT_FINDINGS, "f3", "task2", "CHECK_A", 300, 0, "{}");
    put(f, DD_STORE_AUDIT_FINDINGS, "f4", "task2", "CHECK_A", 400, 1, "{}");
    put(f, DD_STORE_AUDIT_TASKS, "task1", "x", "y", 100, 0, "{}");
    /* Everything, in insertion order, in pages of 3. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, NULL, 3, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[2], "f3");
    assert_string_not_equal(next, "");
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, next, 3, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.ids[3], "f4");
    assert_string_equal(next, "");
    /* Exactly a page: no resume key. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, "", 4, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(next, "");
    /* Filters: a, b, the time range, the number. */
    dd_store_audit_filter_all(&filter);
    filter.a = "task2";
    filter.number_eq = 1;
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, &filter, NULL, 0, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], "f4");
    dd_store_audit_filter_all(&filter);
    filter.b = "CHECK_A";
    filter.time_min = 150;
    filter.time_max = 300;
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, &filter, NULL, 0, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], "f3");
    /* A callback that stops; a resume key that is not ours. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, NULL, 0, see, &s,
                                         next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, "abc", 0, see, &s,
                                         next),
                     DD_STORE_BAD_PARAMETER);
    /* Clear empties every table. */
    assert_int_equal(dd_store_audit_clear(f->db), DD_STORE_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_TASKS, NULL, NULL, 0, see, &s, next),
                     DD_STORE_OK);
    assert_int_equal(s.n, 0);
}

static void test_dd_store_audit_writer(void **state)
{
    fixture_t *f = *state;
    dd_store_audit_writer_t *w = NULL;
    dd_store_audit_row_t row;
    char *doc = NULL;
    char id[8];
    seen_t s;
    int i;

    assert_int_equal(dd_store_audit_writer_open(f->db, DD_STORE_AUDIT_FINDINGS, &w), DD_STORE_OK);
    memset(&row, 0, sizeof(row));
    for (i = 0; i < 3; i++) {
        (void)snprintf(id, sizeof(id), "w%d", i);
        row.id = id;
        row.a = "task";
        row.doc = i == 2 ? "{\"last\":true}" : "{}";
        assert_int_equal(dd_store_audit_writer_put(w, &row), DD_STORE_OK);
    }
    row.id = "w0"; /* a replacement through the writer too */
    row.doc = "{\"again\":1}";
    assert_int_equal(dd_store_audit_writer_put(w, &row), DD_STORE_OK);
    row.doc = NULL;
    assert_int_equal(dd_store_audit_writer_put(w, &row), DD_STORE_BAD_PARAMETER);
    dd_store_audit_writer_close(w);
    dd_store_audit_writer_close(NULL);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_store_audit_list(f->db, DD_STORE_AUDIT_FINDINGS, NULL, NULL, 0, see, &s,
                                         NULL),
                     DD_STORE_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "w0");
    assert_int_equal(dd_store_audit_get(f->db, DD_STORE_AUDIT_FINDINGS, "w0", &doc, NULL),
                     DD_STORE_OK);
    assert_string_equal(doc, "{\"again\":1}");
    free(doc);
    assert_int_equal(dd_store_audit_writer_open(f->db, DD_STORE_AUDIT_TABLE_COUNT_, &w),
                     DD_STORE_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_audit_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_audit_list_filters_and_pages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_audit_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
