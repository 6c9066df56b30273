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
#include "dd_store_mitigation.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_store_mitigation_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    /* Opening the store is what creates the mitigation tables. */
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
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void add_action(fixture_t *f, const char *name, const char *type, int64_t now)
{
    dd_store_mitigation_action_t a;

    memset(&a, 0, sizeof(a));
    a.name = name;
    a.id = "00000000-0000-4000-8000-000000000000";
    a.type = type;
    a.role_arn = "arn:aws:iam::1:role/r";
    a.params_json = "{}";
    a.created_ms = now;
    a.modified_ms = now;
    assert_int_equal(dd_store_mitigation_action_insert(f->db, &a), DD_STORE_OK);
}

static void test_dd_store_mitigation_migrated_by_store_open(void **state)
{
    fixture_t *f = *state;
    int version = 0;

    assert_int_equal(dd_db_schema_version(f->db, DD_STORE_MITIGATION_COMPONENT, &version),
                     DD_DB_OK);
    assert_int_equal(version, 1);
    /* Idempotent: a second migration (a reopened store) changes nothing. */
    assert_int_equal(dd_store_mitigation_migrate(f->db), DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_migrate(NULL), DD_STORE_BAD_PARAMETER);
}

static void test_dd_store_mitigation_actions(void **state)
{
    fixture_t *f = *state;
    dd_store_mitigation_action_t a;
    dd_store_mitigation_action_t *rows = NULL;
    dd_store_mitigation_action_t *all[3];
    size_t counts[3];
    size_t count = 0;
    char next[DD_STORE_MITIGATION_KEY_MAX];
    char name[16];
    int i;

    add_action(f, "Q", "ADD_THINGS_TO_THING_GROUP", 1000);
    memset(&a, 0, sizeof(a));
    a.name = "Q";
    a.id = "x";
    a.type = "ADD_THINGS_TO_THING_GROUP";
    a.role_arn = "r";
    a.params_json = "{}";
    assert_int_equal(dd_store_mitigation_action_insert(f->db, &a), DD_STORE_EXISTS);
    a.params_json = NULL;
    assert_int_equal(dd_store_mitigation_action_insert(f->db, &a), DD_STORE_BAD_PARAMETER);

    assert_int_equal(dd_store_mitigation_action_get(f->db, "Q", &a), DD_STORE_OK);
    assert_string_equal(a.name, "Q");
    assert_string_equal(a.id, "00000000-0000-4000-8000-000000000000");
    assert_string_equal(a.params_json, "{}");
    assert_int_equal(a.created_ms, 1000);
    dd_store_mitigation_action_clear(&a);
    assert_null(a.name);
    assert_int_equal(dd_store_mitigation_action_get(f->db, "R", &a), DD_STORE_NOT_FOUND);

    assert_int_equal(dd_store_mitigation_action_update(f->db, "Q", NULL, "arn:aws:iam::1:role/new",
                                                       NULL, 2000),
                     DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_action_get(f->db, "Q", &a), DD_STORE_OK);
    assert_string_equal(a.role_arn, "arn:aws:iam::1:role/new");
    assert_string_equal(a.type, "ADD_THINGS_TO_THING_GROUP");
    assert_int_equal(a.modified_ms, 2000);
    dd_store_mitigation_action_clear(&a);
    assert_int_equal(dd_store_mitigation_action_update(f->db, "X", NULL, "r", NULL, 2000),
                     DD_STORE_NOT_FOUND);
    /* A type without its params (or the reverse) would store a mismatch. */
    assert_int_equal(dd_store_mitigation_action_update(f->db, "Q", "ENABLE_IOT_LOGGING", NULL, NULL,
                                                       2000),
                     DD_STORE_BAD_PARAMETER);

    for (i = 0; i < 6; i++) {
        (void)snprintf(name, sizeof(name), "A%d", i);
        add_action(f, name, i % 2 == 0 ? "ENABLE_IOT_LOGGING" : "ADD_THINGS_TO_THING_GROUP", 1000);
    }
    /* 7 actions, pages of 3: Q last in name order (A0..A5, Q); `after` may be `next`. */
    next[0] = '\0';
    for (i = 0; i < 3; i++) {
        assert_int_equal(dd_store_mitigation_action_list(f->db, NULL, next, 3, &all[i], &counts[i],
                                                         next),
                         DD_STORE_OK);
        if (i == 0) {
            assert_string_equal(next, "A2");
        }
    }
    assert_string_equal(next, "");
    assert_int_equal(counts[0] + counts[1] + counts[2], 7);
    assert_string_equal(all[2][0].name, "Q");
    for (i = 0; i < 3; i++) {
        dd_store_mitigation_actions_free(all[i], counts[i]);
    }
    assert_int_equal(dd_store_mitigation_action_list(f->db, "ENABLE_IOT_LOGGING", "", 10, &rows,
                                                     &count, next),
                     DD_STORE_OK);
    assert_int_equal(count, 3);
    assert_string_equal(rows[2].name, "A4");
    dd_store_mitigation_actions_free(rows, count);
    assert_int_equal(dd_store_mitigation_action_list(f->db, NULL, "", 0, &rows, &count, next),
                     DD_STORE_BAD_PARAMETER);

    assert_int_equal(dd_store_mitigation_action_delete(f->db, "Q"), DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_action_delete(f->db, "Q"), DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_action_get(f->db, "Q", &a), DD_STORE_NOT_FOUND);
}

static void test_dd_store_mitigation_tasks_and_executions(void **state)
{
    fixture_t *f = *state;
    dd_store_mitigation_task_t t;
    dd_store_mitigation_task_t *tasks[2];
    size_t task_counts[2];
    dd_store_mitigation_execution_t e;
    dd_store_mitigation_execution_t *execs[2];
    size_t exec_counts[2];
    dd_store_mitigation_exec_filter_t filter;
    char next[DD_STORE_MITIGATION_KEY_MAX];
    char id[16];
    int i;

    memset(&t, 0, sizeof(t));
    t.client_token = "tok";
    t.status = "IN_PROGRESS";
    t.target_json = "{\"violationIds\":[\"v1\"]}";
    t.actions_json = "[]";
    t.only_active = -1;
    t.include_suppressed = 1;
    for (i = 0; i < 5; i++) {
        (void)snprintf(id, sizeof(id), "t%d", i);
        t.task_id = id;
        t.start_ms = 1000 * (i + 1);
        assert_int_equal(dd_store_mitigation_task_insert(f->db, &t), DD_STORE_OK);
    }
    t.task_id = "t0";
    assert_int_equal(dd_store_mitigation_task_insert(f->db, &t), DD_STORE_EXISTS);
    assert_int_equal(dd_store_mitigation_task_finish(f->db, "t0", "SUCCESSFUL", 9000, 2, 1, 0),
                     DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_task_finish(f->db, "zz", "SUCCESSFUL", 9000, 2, 1, 0),
                     DD_STORE_NOT_FOUND);
    assert_int_equal(dd_store_mitigation_task_get(f->db, "t0", &t), DD_STORE_OK);
    assert_string_equal(t.status, "SUCCESSFUL");
    assert_string_equal(t.target_json, "{\"violationIds\":[\"v1\"]}");
    assert_int_equal(t.executed, 2);
    assert_int_equal(t.skipped, 1);
    assert_int_equal(t.end_ms, 9000);
    assert_int_equal(t.only_active, -1);
    assert_int_equal(t.include_suppressed, 1);
    dd_store_mitigation_task_clear(&t);
    assert_int_equal(dd_store_mitigation_task_get(f->db, "nope", &t), DD_STORE_NOT_FOUND);

    /* Started in [2000, 4000]: t1..t3, two per page. */
    assert_int_equal(dd_store_mitigation_task_list(f->db, 2000, 4000, "", 2, &tasks[0],
                                                   &task_counts[0], next),
                     DD_STORE_OK);
    assert_string_not_equal(next, "");
    assert_int_equal(dd_store_mitigation_task_list(f->db, 2000, 4000, next, 2, &tasks[1],
                                                   &task_counts[1], next),
                     DD_STORE_OK);
    assert_string_equal(next, "");
    assert_int_equal(task_counts[0], 2);
    assert_int_equal(task_counts[1], 1);
    assert_string_equal(tasks[0][0].task_id, "t1");
    assert_string_equal(tasks[1][0].task_id, "t3");
    assert_string_equal(tasks[1][0].status, "IN_PROGRESS");
    dd_store_mitigation_tasks_free(tasks[0], task_counts[0]);
    dd_store_mitigation_tasks_free(tasks[1], task_counts[1]);

    memset(&e, 0, sizeof(e));
    e.action_name = "Q";
    e.start_ms = 5000;
    e.end_ms = 5001;
    for (i = 0; i < 4; i++) {
        e.task_id = i < 3 ? "t0" : "t1";
        e.violation_id = i % 2 == 0 ? "v1" : "v2";
        e.thing = i % 2 == 0 ? "T1" : "T2";
        e.status = i == 1 ? "FAILED" : "SUCCESSFUL";
        e.error_code = i == 1 ? "ResourceNotFoundException" : NULL;
        e.message = i == 1 ? "no such group" : NULL;
        assert_int_equal(dd_store_mitigation_execution_insert(f->db, &e), DD_STORE_OK);
    }
    memset(&filter, 0, sizeof(filter));
    filter.task_id = "t0";
    assert_int_equal(dd_store_mitigation_execution_list(f->db, &filter, "", 2, &execs[0],
                                                        &exec_counts[0], next),
                     DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_execution_list(f->db, &filter, next, 2, &execs[1],
                                                        &exec_counts[1], next),
                     DD_STORE_OK);
    assert_string_equal(next, "");
    assert_int_equal(exec_counts[0] + exec_counts[1], 3);
    assert_string_equal(execs[0][1].violation_id, "v2");
    assert_string_equal(execs[0][1].status, "FAILED");
    assert_string_equal(execs[0][1].error_code, "ResourceNotFoundException");
    assert_string_equal(execs[0][1].message, "no such group");
    /* Absent error code and message come back as NULL, not "". */
    assert_null(execs[0][0].error_code);
    assert_null(execs[0][0].message);
    dd_store_mitigation_executions_free(execs[0], exec_counts[0]);
    dd_store_mitigation_executions_free(execs[1], exec_counts[1]);

    filter.task_id = NULL;
    filter.thing = "T2";
    assert_int_equal(dd_store_mitigation_execution_list(f->db, &filter, "", 10, &execs[0],
                                                        &exec_counts[0], next),
                     DD_STORE_OK);
    assert_int_equal(exec_counts[0], 2);
    dd_store_mitigation_executions_free(execs[0], exec_counts[0]);
    filter.thing = NULL;
    filter.start_ms = 6000;
    assert_int_equal(dd_store_mitigation_execution_list(f->db, &filter, "", 10, &execs[0],
                                                        &exec_counts[0], next),
                     DD_STORE_OK);
    assert_int_equal(exec_counts[0], 0);
    dd_store_mitigation_executions_free(execs[0], exec_counts[0]);
}

static void test_dd_store_mitigation_reopen_keeps_data(void **state)
{
    fixture_t *f = *state;
    dd_store_mitigation_action_t a;

    add_action(f, "Keep", "ADD_THINGS_TO_THING_GROUP", 1);
    dd_store_close(f->store);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    assert_int_equal(dd_store_mitigation_action_get(f->db, "Keep", &a), DD_STORE_OK);
    dd_store_mitigation_action_clear(&a);
    assert_int_equal(dd_store_mitigation_action_get(NULL, "Keep", &a), DD_STORE_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_mitigation_migrated_by_store_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_mitigation_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_mitigation_tasks_and_executions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_mitigation_reopen_keeps_data, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
