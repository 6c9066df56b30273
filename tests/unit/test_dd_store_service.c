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
#include "dd_store_service.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_store_service_test_XXXXXX");
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

static void test_dd_store_service_dead_letters_survive_a_reopen(void **state)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t count = -1;
    int version = 0;
    dd_store_dead_letter_t letter = {"ddlocal/sns/alerts",    "http://127.0.0.1:9/hook",
                                     "{\"thingName\":\"t\"}", 3,
                                     "connection refused",    1234};

    (void)state;
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_store_service_open(db), DD_STORE_OK);
    assert_int_equal(dd_db_schema_version(db, DD_STORE_SERVICE_COMPONENT, &version), DD_DB_OK);
    assert_int_equal(version, 1);
    assert_int_equal(dd_store_service_dead_letter_count(db, &count), DD_STORE_OK);
    assert_int_equal(count, 0);
    assert_int_equal(dd_store_service_dead_letter_add(db, &letter), DD_STORE_OK);
    dd_db_close(db);

    /* Opening again migrates nothing and keeps the row, as `sqlite3 DIR/ddlocal.db` shows it. */
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_store_service_open(db), DD_STORE_OK);
    assert_int_equal(dd_store_service_dead_letter_count(db, &count), DD_STORE_OK);
    assert_int_equal(count, 1);
    assert_int_equal(dd_db_prepare(db,
                                   "SELECT topic, endpoint, body, attempts, last_error, time_ms"
                                   " FROM sns_dead_letters",
                                   &st),
                     DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(dd_db_column_text(st, 0), "ddlocal/sns/alerts");
    assert_string_equal(dd_db_column_text(st, 1), "http://127.0.0.1:9/hook");
    assert_string_equal(dd_db_column_text(st, 2), "{\"thingName\":\"t\"}");
    assert_int_equal(sqlite3_column_int(st, 3), 3);
    assert_string_equal(dd_db_column_text(st, 4), "connection refused");
    assert_int_equal(sqlite3_column_int64(st, 5), 1234);
    sqlite3_finalize(st);
    dd_db_close(db);
}

static void test_dd_store_service_bad_input(void **state)
{
    sqlite3 *db = NULL;
    int64_t count = 0;
    dd_store_dead_letter_t letter = {"t", "e", "b", 1, NULL, 0};

    (void)state;
    assert_int_equal(dd_store_service_open(NULL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    /* Before the tables exist: the statement fails, with a log line. */
    letter.last_error = "x";
    assert_int_equal(dd_store_service_dead_letter_add(db, &letter), DD_STORE_SQL_ERROR);
    assert_int_equal(dd_store_service_dead_letter_count(db, &count), DD_STORE_SQL_ERROR);
    assert_int_equal(dd_store_service_open(db), DD_STORE_OK);
    letter.last_error = NULL;
    assert_int_equal(dd_store_service_dead_letter_add(db, &letter), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_service_dead_letter_add(db, NULL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_service_dead_letter_add(NULL, &letter), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_service_dead_letter_count(db, NULL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_service_dead_letter_count(db, &count), DD_STORE_OK);
    assert_int_equal(count, 0);
    /* Tables of a newer ddlocal are refused rather than misread. */
    assert_int_equal(dd_db_exec(db, "UPDATE ddlocal_schema SET version = 99"
                                    " WHERE component = '" DD_STORE_SERVICE_COMPONENT "'"),
                     DD_DB_OK);
    assert_int_equal(dd_store_service_open(db), DD_STORE_SQL_ERROR);
    dd_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_service_dead_letters_survive_a_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_service_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
