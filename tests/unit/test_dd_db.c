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
#include "dd_log.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_db_test_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, dir);
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

static int count_rows(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    int n = -1;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (dd_db_prepare(db, sql, &st) == DD_DB_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static void test_dd_db_migrations_apply_once_and_resume(void **state)
{
    static const dd_db_migration_t v1[] = {
        {1, "CREATE TABLE t(a INTEGER); INSERT INTO t VALUES(1);"},
    };
    static const dd_db_migration_t v2[] = {
        {1, "CREATE TABLE t(a INTEGER); INSERT INTO t VALUES(1);"},
        {2, "INSERT INTO t VALUES(2);"},
    };
    sqlite3 *db = NULL;
    int version = -1;

    (void)state;
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_schema_version(db, "x", &version), DD_DB_OK);
    assert_int_equal(version, 0);
    assert_int_equal(dd_db_migrate(db, "x", v1, 1), DD_DB_OK);
    assert_int_equal(dd_db_migrate(db, "x", v1, 1), DD_DB_OK);
    assert_int_equal(count_rows(db, "t"), 1);
    dd_db_close(db);

    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_migrate(db, "x", v2, 2), DD_DB_OK);
    assert_int_equal(count_rows(db, "t"), 2);
    assert_int_equal(dd_db_schema_version(db, "x", &version), DD_DB_OK);
    assert_int_equal(version, 2);
    /* An older ddlocal must refuse the newer file. */
    assert_int_equal(dd_db_migrate(db, "x", v1, 1), DD_DB_TOO_NEW);
    dd_db_close(db);
}

static void test_dd_db_failed_migration_leaves_nothing(void **state)
{
    static const dd_db_migration_t bad[] = {
        {1, "CREATE TABLE u(a INTEGER); INSERT INTO nope VALUES(1);"},
    };
    sqlite3 *db = NULL;
    int version = -1;

    (void)state;
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_migrate(db, "y", bad, 1), DD_DB_SQL_ERROR);
    assert_int_equal(dd_db_schema_version(db, "y", &version), DD_DB_OK);
    assert_int_equal(version, 0);
    assert_int_equal(count_rows(db, "u"), -1); /* table rolled back */
    dd_db_close(db);
}

static void test_dd_db_bad_parameters(void **state)
{
    sqlite3 *db = NULL;

    (void)state;
    assert_int_equal(dd_db_open(NULL, false, &db), DD_DB_BAD_PARAMETER);
    assert_int_equal(dd_db_open("/nonexistent-dir/x.db", false, &db), DD_DB_OPEN_FAILED);
    assert_null(db);
    assert_int_equal(dd_db_migrate(NULL, "x", NULL, 0), DD_DB_BAD_PARAMETER);
    assert_true(strlen(dd_db_strerror(DD_DB_TOO_NEW)) > 0);
}

static void test_dd_db_statement_helpers(void **state)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char buf[16];

    (void)state;
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_exec(db, "CREATE TABLE t(k TEXT PRIMARY KEY, v TEXT)"), DD_DB_OK);

    /* bind_text copies (the buffer changes before the step) and binds NULL for NULL. */
    assert_int_equal(dd_db_prepare(db, "INSERT INTO t(k, v) VALUES(?1, ?2)", &st), DD_DB_OK);
    snprintf(buf, sizeof(buf), "a");
    assert_int_equal(dd_db_bind_text(st, 1, buf), DD_DB_OK);
    assert_int_equal(dd_db_bind_text(st, 2, NULL), DD_DB_OK);
    snprintf(buf, sizeof(buf), "changed");
    assert_int_equal(dd_db_bind_text(st, 3, "x"), DD_DB_SQL_ERROR); /* no such parameter */
    assert_int_equal(dd_db_step(db, st, "test", "insert"), DD_DB_OK);

    /* A duplicate key is a constraint, told apart from other failures. */
    assert_int_equal(dd_db_prepare(db, "INSERT INTO t(k, v) VALUES('a', 'b')", &st), DD_DB_OK);
    assert_int_equal(dd_db_step(db, st, "test", "insert again"), DD_DB_CONSTRAINT);
    assert_int_equal(dd_db_step(db, NULL, "test", "nothing"), DD_DB_BAD_PARAMETER);

    assert_int_equal(dd_db_prepare(db, "SELECT k, v FROM t", &st), DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(dd_db_column_text(st, 0), "a");
    assert_string_equal(dd_db_column_text(st, 1), ""); /* NULL reads as "" */
    assert_null(dd_db_column_text_or_null(st, 1));
    assert_string_equal(dd_db_column_text_or_null(st, 0), "a");
    sqlite3_finalize(st);
    assert_string_equal(dd_db_column_text(NULL, 0), "");
    assert_null(dd_db_column_text_or_null(NULL, 0));

    assert_int_equal(dd_db_prepare(db, "SELECT nope FROM t", &st), DD_DB_SQL_ERROR);
    assert_null(st);
    assert_int_equal(dd_db_fail(db, "test", "select"), DD_DB_SQL_ERROR);
    assert_int_equal(dd_db_fail(NULL, NULL, NULL), DD_DB_SQL_ERROR);
    assert_int_equal(dd_db_bind_text(NULL, 1, "x"), DD_DB_BAD_PARAMETER);
    assert_true(strlen(dd_db_strerror(DD_DB_CONSTRAINT)) > 0);
    dd_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_db_migrations_apply_once_and_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_db_failed_migration_leaves_nothing, setup,
                                        teardown),
        cmocka_unit_test(test_dd_db_bad_parameters),
        cmocka_unit_test_setup_teardown(test_dd_db_statement_helpers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
