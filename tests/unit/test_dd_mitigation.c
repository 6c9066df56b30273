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
#include "dd_mitigation.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_mitigation_t *m;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_mitigation_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    assert_int_equal(dd_mitigation_open(f->db, NULL, &f->m), DD_MITIGATION_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_mitigation_close(f->m);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static dd_mitigation_status_t validate(const char *json, const char **type, char *msg)
{
    cJSON *p = cJSON_Parse(json);
    dd_mitigation_status_t st = dd_mitigation_params_validate(p, type, msg);

    cJSON_Delete(p);
    return st;
}

static void test_dd_mitigation_params(void **state)
{
    const char *type = NULL;
    char msg[DD_MITIGATION_MESSAGE_MAX];

    (void)state;
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"Q\"],"
                              "\"overrideDynamicGroups\":true}}",
                              &type, msg),
                     DD_MITIGATION_OK);
    assert_string_equal(type, "ADD_THINGS_TO_THING_GROUP");
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"}}",
                              &type, msg),
                     DD_MITIGATION_OK);
    assert_string_equal(type, "UPDATE_DEVICE_CERTIFICATE");
    assert_int_equal(validate("{\"enableIoTLoggingParams\":{\"roleArnForLogging\":"
                              "\"arn:aws:iam::123456789012:role/x\",\"logLevel\":\"WARN\"}}",
                              &type, msg),
                     DD_MITIGATION_OK);
    assert_string_equal(type, "ENABLE_IOT_LOGGING");
    assert_int_equal(validate("{\"publishFindingToSnsParams\":{\"topicArn\":\"arn:x\"}}", &type,
                              msg),
                     DD_MITIGATION_OK);
    assert_int_equal(validate("{\"replaceDefaultPolicyVersionParams\":{\"templateName\":"
                              "\"BLANK_POLICY\"}}",
                              &type, msg),
                     DD_MITIGATION_OK);
    assert_int_equal(validate("{}", &type, msg), DD_MITIGATION_INVALID);
    assert_non_null(strstr(msg, "must contain one of"));
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"},"
                              "\"updateCACertificateParams\":{\"action\":\"DEACTIVATE\"}}",
                              &type, msg),
                     DD_MITIGATION_INVALID);
    assert_non_null(strstr(msg, "exactly one"));
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DELETE\"}}", &type,
                              msg),
                     DD_MITIGATION_INVALID);
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[]}}", &type,
                              msg),
                     DD_MITIGATION_INVALID);
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"a b\"]}}",
                              &type, msg),
                     DD_MITIGATION_INVALID);
    assert_int_equal(validate("{\"enableIoTLoggingParams\":{\"roleArnForLogging\":\"short\","
                              "\"logLevel\":\"WARN\"}}",
                              &type, msg),
                     DD_MITIGATION_INVALID);
    assert_int_equal(validate("[]", &type, msg), DD_MITIGATION_INVALID);
    assert_int_equal(dd_mitigation_params_validate(NULL, &type, msg), DD_MITIGATION_BAD_PARAMETER);
}

typedef struct seen {
    int count;
    char names[16][64];
    char last_type[64];
    char last_role[64];
    int64_t modified;
} seen_t;

static int action_cb(void *ctx, const dd_mitigation_action_t *a)
{
    seen_t *s = ctx;

    (void)snprintf(s->names[s->count % 16], sizeof(s->names[0]), "%s", a->name);
    (void)snprintf(s->last_type, sizeof(s->last_type), "%s", a->type);
    (void)snprintf(s->last_role, sizeof(s->last_role), "%s", a->role_arn);
    s->modified = a->modified_ms;
    s->count++;
    return 0;
}

static void test_dd_mitigation_actions(void **state)
{
    fixture_t *f = *state;
    char id[DD_MITIGATION_ID_LEN];
    char id2[DD_MITIGATION_ID_LEN];
    char next[DD_MITIGATION_KEY_MAX];
    char name[16];
    seen_t s;
    int i;

    assert_int_equal(dd_mitigation_action_create(f->m, "Q", "ADD_THINGS_TO_THING_GROUP",
                                                 "arn:aws:iam::1:role/r", "{}", 1000, id),
                     DD_MITIGATION_OK);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(dd_mitigation_action_create(f->m, "Q", "ADD_THINGS_TO_THING_GROUP",
                                                 "arn:aws:iam::1:role/r", "{}", 1000, id2),
                     DD_MITIGATION_EXISTS);
    assert_string_equal(id, id2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_action_get(f->m, "Q", action_cb, &s), DD_MITIGATION_OK);
    assert_int_equal(s.count, 1);
    assert_int_equal(dd_mitigation_action_get(f->m, "R", action_cb, &s), DD_MITIGATION_NOT_FOUND);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_action_update(f->m, "Q", NULL, "arn:aws:iam::1:role/new", NULL,
                                                 2000, action_cb, &s),
                     DD_MITIGATION_OK);
    assert_string_equal(s.last_role, "arn:aws:iam::1:role/new");
    assert_string_equal(s.last_type, "ADD_THINGS_TO_THING_GROUP");
    assert_int_equal(s.modified, 2000);
    assert_int_equal(dd_mitigation_action_update(f->m, "X", NULL, "r", NULL, 2000, NULL, NULL),
                     DD_MITIGATION_NOT_FOUND);
    for (i = 0; i < 6; i++) {
        (void)snprintf(name, sizeof(name), "A%d", i);
        assert_int_equal(dd_mitigation_action_create(f->m, name,
                                                     i % 2 == 0 ? "ENABLE_IOT_LOGGING"
                                                                : "ADD_THINGS_TO_THING_GROUP",
                                                     "role", "{}", 1000, id),
                         DD_MITIGATION_OK);
    }
    /* 7 actions, pages of 3: Q last in name order (A0..A5, Q). */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_action_list(f->m, NULL, "", 3, action_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_string_equal(next, "A2");
    assert_int_equal(dd_mitigation_action_list(f->m, NULL, next, 3, action_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_action_list(f->m, NULL, next, 3, action_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_string_equal(next, "");
    assert_int_equal(s.count, 7);
    assert_string_equal(s.names[6], "Q");
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_action_list(f->m, "ENABLE_IOT_LOGGING", "", 10, action_cb, &s,
                                               next),
                     DD_MITIGATION_OK);
    assert_int_equal(s.count, 3);
    assert_int_equal(dd_mitigation_action_delete(f->m, "Q"), DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_action_delete(f->m, "Q"), DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_action_get(f->m, "Q", NULL, NULL), DD_MITIGATION_NOT_FOUND);
}

static int task_cb(void *ctx, const dd_mitigation_task_t *t)
{
    seen_t *s = ctx;

    (void)snprintf(s->names[s->count % 16], sizeof(s->names[0]), "%s:%s:%lld", t->task_id,
                   t->status, (long long)t->executed);
    s->count++;
    return 0;
}

static int exec_cb(void *ctx, const dd_mitigation_execution_t *e)
{
    seen_t *s = ctx;

    (void)snprintf(s->names[s->count % 16], sizeof(s->names[0]), "%s/%s/%s/%s", e->task_id,
                   e->violation_id, e->status, e->error_code != NULL ? e->error_code : "-");
    s->count++;
    return 0;
}

static void test_dd_mitigation_tasks_and_executions(void **state)
{
    fixture_t *f = *state;
    dd_mitigation_task_t t;
    dd_mitigation_execution_t e;
    dd_mitigation_exec_filter_t filter;
    char next[DD_MITIGATION_KEY_MAX];
    char id[16];
    seen_t s;
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
        assert_int_equal(dd_mitigation_task_create(f->m, &t), DD_MITIGATION_OK);
    }
    t.task_id = "t0";
    assert_int_equal(dd_mitigation_task_create(f->m, &t), DD_MITIGATION_EXISTS);
    assert_int_equal(dd_mitigation_task_finish(f->m, "t0", "SUCCESSFUL", 9000, 2, 1, 0),
                     DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_task_finish(f->m, "zz", "SUCCESSFUL", 9000, 2, 1, 0),
                     DD_MITIGATION_NOT_FOUND);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_task_get(f->m, "t0", task_cb, &s), DD_MITIGATION_OK);
    assert_string_equal(s.names[0], "t0:SUCCESSFUL:2");
    assert_int_equal(dd_mitigation_task_get(f->m, "nope", task_cb, &s), DD_MITIGATION_NOT_FOUND);
    /* Started in [2000, 4000]: t1..t3, two per page. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_task_list(f->m, 2000, 4000, "", 2, task_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_string_not_equal(next, "");
    assert_int_equal(dd_mitigation_task_list(f->m, 2000, 4000, next, 2, task_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_string_equal(next, "");
    assert_int_equal(s.count, 3);
    assert_string_equal(s.names[2], "t3:IN_PROGRESS:0");

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
        assert_int_equal(dd_mitigation_execution_add(f->m, &e), DD_MITIGATION_OK);
    }
    memset(&filter, 0, sizeof(filter));
    filter.task_id = "t0";
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_execution_list(f->m, &filter, "", 2, exec_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_execution_list(f->m, &filter, next, 2, exec_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_string_equal(next, "");
    assert_int_equal(s.count, 3);
    assert_string_equal(s.names[1], "t0/v2/FAILED/ResourceNotFoundException");
    filter.task_id = NULL;
    filter.thing = "T2";
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_execution_list(f->m, &filter, "", 10, exec_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_int_equal(s.count, 2);
    filter.thing = NULL;
    filter.start_ms = 6000;
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_mitigation_execution_list(f->m, &filter, "", 10, exec_cb, &s, next),
                     DD_MITIGATION_OK);
    assert_int_equal(s.count, 0);
    assert_string_equal(dd_mitigation_strerror(DD_MITIGATION_EXISTS), "already exists");
}

static void test_dd_mitigation_reopen_keeps_data(void **state)
{
    fixture_t *f = *state;
    char id[DD_MITIGATION_ID_LEN];

    assert_int_equal(dd_mitigation_action_create(f->m, "Keep", "ADD_THINGS_TO_THING_GROUP", "r",
                                                 "{}", 1, id),
                     DD_MITIGATION_OK);
    dd_mitigation_close(f->m);
    assert_int_equal(dd_mitigation_open(f->db, NULL, &f->m), DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_action_get(f->m, "Keep", NULL, NULL), DD_MITIGATION_OK);
    assert_int_equal(dd_mitigation_open(NULL, NULL, &f->m), DD_MITIGATION_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_mitigation_params),
        cmocka_unit_test_setup_teardown(test_dd_mitigation_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigation_tasks_and_executions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigation_reopen_keeps_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
