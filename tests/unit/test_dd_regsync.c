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
#include "dd_pipeline.h"
#include "dd_regsync.h"

/*
 * Only dd_regsync_external_change() is tested here: dd_regsync_push(),
 * _full() and _clock() wait for a broker's PUBACK after the shim applied the
 * message, which needs mosquitto with the shim (tests/integration covers them).
 */

typedef struct fixture {
    char dir[64];
    dd_pipeline_t p;
    sqlite3 *cli; /* another connection, as the `ddlocal` CLI holds */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipeline_config_t cfg;
    char path[128];

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_regsync_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    dd_pipeline_config_default(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir);
    snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:1700000000000");
    if (dd_pipeline_open(&cfg, &f->p) != DD_PIPELINE_OK ||
        dd_db_open(path, false, &f->cli) != DD_DB_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_db_close(f->cli);
    dd_pipeline_close(&f->p);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_dd_regsync_external_change_seen_once(void **state)
{
    fixture_t *f = *state;
    dd_regsync_t sync;
    dd_registry_error_t err;

    memset(&sync, 0, sizeof(sync));
    /* The first call takes the reference point. */
    (void)dd_regsync_external_change(&sync, &f->p);
    assert_false(dd_regsync_external_change(&sync, &f->p));

    /* The pipeline's own writes are not external changes. */
    assert_int_equal(dd_registry_thing_create(&f->p.registry, "Thing03", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    exec_sql(f->p.db, "CREATE TABLE own_table(x); INSERT INTO own_table VALUES(1);");
    assert_false(dd_regsync_external_change(&sync, &f->p));

    /* Another connection commits: noticed once. */
    exec_sql(f->cli, "CREATE TABLE cli_table(x); INSERT INTO cli_table VALUES(1);");
    assert_true(dd_regsync_external_change(&sync, &f->p));
    assert_false(dd_regsync_external_change(&sync, &f->p));

    /* Several commits since the last look are one change. */
    exec_sql(f->cli, "INSERT INTO cli_table VALUES(2);");
    exec_sql(f->cli, "INSERT INTO cli_table VALUES(3);");
    assert_true(dd_regsync_external_change(&sync, &f->p));
    assert_false(dd_regsync_external_change(&sync, &f->p));

    /* A transaction of the other connection that is not committed yet, then rolled back. */
    exec_sql(f->cli, "BEGIN; INSERT INTO cli_table VALUES(4);");
    assert_false(dd_regsync_external_change(&sync, &f->p));
    exec_sql(f->cli, "ROLLBACK;");
    assert_false(dd_regsync_external_change(&sync, &f->p));

    assert_false(dd_regsync_external_change(NULL, &f->p));
    assert_false(dd_regsync_external_change(&sync, NULL));
    assert_string_equal(dd_regsync_strerror(DD_REGSYNC_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_regsync_external_change_seen_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
