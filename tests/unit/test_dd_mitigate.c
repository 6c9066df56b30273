#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "dd_clock.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_logopts.h"
#include "dd_mitigate.h"
#include "dd_pki.h"
#include "dd_profile.h"
#include "dd_registry.h"
#include "dd_store.h"
#include "dd_store_mitigation.h"

static const char *PROFILE =
    "{\"behaviors\":[{\"name\":\"egress\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
    "\"durationSeconds\":300}}]}";

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t registry;
    dd_store_t *store;
    dd_engine_sink_t sink;
    dd_profile_t profile;
    dd_mitigate_t *m;
    int64_t now;
    int hook_calls;
    int encode_calls;
    int sns_calls;
    char sns_topic[256];
    char *sns_message;
    const char *fail_thing; /* the fault hook fails actions on this thing; NULL = none */
} fixture_t;

static int64_t fixture_now(void *ctx)
{
    fixture_t *f = ctx;

    return f->now++; /* every reading moves on: execution times are ordered */
}

static void fixture_hook(void *ctx)
{
    ((fixture_t *)ctx)->hook_calls++;
}

static int fixture_sns(void *ctx, const char *topic_arn, const char *message, char *msg,
                       size_t msg_len)
{
    fixture_t *f = ctx;

    if (strncmp(topic_arn, "arn:aws:sns:", 12) != 0) {
        (void)snprintf(msg, msg_len, "not an SNS topic");
        return DD_MITIGATE_SNS_INVALID;
    }
    f->sns_calls++;
    (void)snprintf(f->sns_topic, sizeof(f->sns_topic), "%s", topic_arn);
    free(f->sns_message);
    f->sns_message = strdup(message);
    return 0;
}

/* An injected fault (ddlocald's fail-mitigation): fails every action on f->fail_thing. */
static bool fixture_fault(void *ctx, const char *thing, const char *action_name,
                          const char *action_type, dd_mitigate_outcome_t *out)
{
    fixture_t *f = ctx;

    if (f->fail_thing == NULL || thing == NULL || strcmp(thing, f->fail_thing) != 0) {
        return false;
    }
    (void)snprintf(out->code, sizeof(out->code), "Injected");
    (void)snprintf(out->message, sizeof(out->message), "%s %s", action_name, action_type);
    return true;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_mitigate_config_t cfg;
    dd_registry_error_t err;
    char path[128];

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_mitigate_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    assert_int_equal(dd_registry_open(&f->registry, f->db, NULL, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    dd_store_sink(f->store, &f->sink);
    assert_int_equal(dd_profile_parse(PROFILE, strlen(PROFILE), "sp1", &f->profile, NULL),
                     DD_PROFILE_OK);
    assert_int_equal(dd_store_profile_create(f->store, &f->profile, 1), DD_STORE_OK);
    assert_int_equal(dd_registry_thing_create(&f->registry, "Thing01", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->registry, "Thing02", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->registry, "Quarantine", NULL, NULL, NULL, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    f->now = 1700000100000LL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.db = f->db;
    cfg.store = f->store;
    cfg.registry = &f->registry;
    cfg.now_ms = fixture_now;
    cfg.clock_ctx = f;
    cfg.registry_changed = fixture_hook;
    cfg.fault = fixture_fault;
    cfg.hook_ctx = f;
    cfg.publish_sns = fixture_sns;
    cfg.sns_ctx = f;
    assert_int_equal(dd_mitigate_open(&cfg, &f->m), DD_MITIGATE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_mitigate_close(f->m);
    dd_profile_free(&f->profile);
    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->sns_message);
    free(f);
    return 0;
}

/* An active violation of sp1's behavior, as the engine's sink would write it. */
static void add_violation(fixture_t *f, const char *id, const char *thing)
{
    dd_active_violation_t av;

    memset(&av, 0, sizeof(av));
    av.violation_id = id;
    av.thing = thing;
    av.profile = "sp1";
    av.behavior = &f->profile.behaviors[0];
    av.has_value = true;
    av.last_value.kind = DD_VALUE_COUNT;
    av.last_value.count = 5000;
    av.start_ms = 1700000001000LL;
    av.last_violation_ms = 1700000001000LL;
    assert_int_equal(dd_store_begin(f->store), DD_STORE_OK);
    f->sink.active_violation(f->sink.ctx, &av);
    assert_int_equal(dd_store_commit(f->store), DD_STORE_OK);
    assert_int_equal(dd_store_sink_status(f->store), DD_STORE_OK);
}

static dd_mitigate_status_t create_action(fixture_t *f, const char *name, const char *params_json,
                                          char *msg)
{
    cJSON *p = cJSON_Parse(params_json);
    char id[DD_MITIGATE_ID_LEN];
    dd_mitigate_status_t st;

    assert_non_null(p);
    st = dd_mitigate_action_create(f->m, name, "arn:aws:iam::123456789012:role/r", p, id, msg);
    cJSON_Delete(p);
    return st;
}

static char *encode_names(void *ctx, const dd_store_mitigation_action_t *acts, size_t count)
{
    fixture_t *f = ctx;
    char *text = calloc(1, 512);
    size_t i;

    f->encode_calls++;
    for (i = 0; text != NULL && i < count; i++) {
        (void)snprintf(text + strlen(text), 512 - strlen(text), "%s%s", i > 0 ? "," : "",
                       acts[i].name);
    }
    return text;
}

static void request_init(fixture_t *f, dd_mitigate_task_request_t *req, const char *task_id,
                         const char *const *actions, size_t count)
{
    memset(req, 0, sizeof(*req));
    req->task_id = task_id;
    req->client_token = "tok";
    req->target_json = "{\"securityProfileName\":\"sp1\"}";
    req->profile = "sp1";
    req->actions = actions;
    req->action_count = count;
    req->only_active = -1;
    req->include_suppressed = -1;
    req->encode_actions = encode_names;
    req->encode_ctx = f;
}

static int group_cb(void *ctx, const char *name)
{
    (void)snprintf(ctx, 64, "%s", name);
    return 0;
}

static void thing_group(fixture_t *f, const char *thing, char group[64])
{
    dd_registry_page_t page = {NULL, 0};
    dd_registry_error_t err;
    char next[64];

    group[0] = '\0';
    assert_int_equal(dd_registry_thing_groups(&f->registry, thing, &page, group_cb, group, next,
                                              sizeof(next), &err),
                     DD_REGISTRY_OK);
}

static dd_mitigate_status_t validate(const char *json, const char **type, char *msg)
{
    cJSON *p = cJSON_Parse(json);
    dd_mitigate_status_t st = dd_mitigate_params_validate(p, type, msg);

    cJSON_Delete(p);
    return st;
}

static void test_dd_mitigate_params(void **state)
{
    const char *type = NULL;
    char msg[DD_MITIGATE_MESSAGE_MAX];

    (void)state;
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"Q\"],"
                              "\"overrideDynamicGroups\":true}}",
                              &type, msg),
                     DD_MITIGATE_OK);
    assert_string_equal(type, "ADD_THINGS_TO_THING_GROUP");
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"}}",
                              &type, msg),
                     DD_MITIGATE_OK);
    assert_string_equal(type, "UPDATE_DEVICE_CERTIFICATE");
    assert_int_equal(validate("{\"enableIoTLoggingParams\":{\"roleArnForLogging\":"
                              "\"arn:aws:iam::123456789012:role/x\",\"logLevel\":\"WARN\"}}",
                              &type, msg),
                     DD_MITIGATE_OK);
    assert_string_equal(type, "ENABLE_IOT_LOGGING");
    assert_int_equal(validate("{\"publishFindingToSnsParams\":{\"topicArn\":\"arn:x\"}}", &type,
                              msg),
                     DD_MITIGATE_OK);
    assert_int_equal(validate("{\"replaceDefaultPolicyVersionParams\":{\"templateName\":"
                              "\"BLANK_POLICY\"}}",
                              &type, msg),
                     DD_MITIGATE_OK);
    assert_int_equal(validate("{}", &type, msg), DD_MITIGATE_INVALID);
    assert_non_null(strstr(msg, "must contain one of"));
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"},"
                              "\"updateCACertificateParams\":{\"action\":\"DEACTIVATE\"}}",
                              &type, msg),
                     DD_MITIGATE_INVALID);
    assert_non_null(strstr(msg, "exactly one"));
    assert_int_equal(validate("{\"updateDeviceCertificateParams\":{\"action\":\"DELETE\"}}", &type,
                              msg),
                     DD_MITIGATE_INVALID);
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[]}}", &type,
                              msg),
                     DD_MITIGATE_INVALID);
    assert_int_equal(validate("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"a b\"]}}",
                              &type, msg),
                     DD_MITIGATE_INVALID);
    assert_int_equal(validate("{\"enableIoTLoggingParams\":{\"roleArnForLogging\":\"short\","
                              "\"logLevel\":\"WARN\"}}",
                              &type, msg),
                     DD_MITIGATE_INVALID);
    assert_int_equal(validate("[]", &type, msg), DD_MITIGATE_INVALID);
    assert_int_equal(dd_mitigate_params_validate(NULL, &type, msg), DD_MITIGATE_BAD_PARAMETER);
}

static void test_dd_mitigate_actions(void **state)
{
    fixture_t *f = *state;
    dd_store_mitigation_action_t a;
    dd_store_mitigation_action_t *rows;
    size_t count;
    char id[DD_MITIGATE_ID_LEN];
    char id2[DD_MITIGATE_ID_LEN];
    char next[DD_MITIGATE_KEY_MAX];
    char msg[DD_MITIGATE_MESSAGE_MAX];
    cJSON *p;

    p = cJSON_Parse("{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"Quarantine\"]}}");
    assert_int_equal(dd_mitigate_action_create(f->m, "Q", "arn:aws:iam::1:role/r", p, id, msg),
                     DD_MITIGATE_OK);
    assert_int_equal(strlen(id), 36);
    /* AWS's ResourceAlreadyExistsException names the existing action's id. */
    assert_int_equal(dd_mitigate_action_create(f->m, "Q", "arn:aws:iam::1:role/r", p, id2, msg),
                     DD_MITIGATE_EXISTS);
    assert_string_equal(id, id2);
    cJSON_Delete(p);
    assert_int_equal(create_action(f, "Bad", "{\"addThingsToThingGroupParams\":{}}", msg),
                     DD_MITIGATE_INVALID);
    assert_non_null(strstr(msg, "thingGroupNames"));

    assert_int_equal(dd_mitigate_action_describe(f->m, "Q", &a), DD_MITIGATE_OK);
    assert_string_equal(a.type, "ADD_THINGS_TO_THING_GROUP");
    assert_string_equal(a.id, id);
    assert_int_equal(a.created_ms, 1700000100000LL);
    assert_int_equal(a.modified_ms, a.created_ms);
    assert_non_null(strstr(a.params_json, "Quarantine"));
    dd_store_mitigation_action_clear(&a);
    assert_int_equal(dd_mitigate_action_describe(f->m, "Bad", &a), DD_MITIGATE_NOT_FOUND);

    /* New params change the type; the role stays. */
    p = cJSON_Parse("{\"enableIoTLoggingParams\":{\"roleArnForLogging\":"
                    "\"arn:aws:iam::123456789012:role/x\",\"logLevel\":\"WARN\"}}");
    assert_int_equal(dd_mitigate_action_update(f->m, "Q", NULL, p, &a, msg), DD_MITIGATE_OK);
    assert_string_equal(a.type, "ENABLE_IOT_LOGGING");
    assert_string_equal(a.role_arn, "arn:aws:iam::1:role/r");
    assert_true(a.modified_ms > a.created_ms);
    dd_store_mitigation_action_clear(&a);
    assert_int_equal(dd_mitigate_action_update(f->m, "Nope", NULL, p, &a, msg),
                     DD_MITIGATE_NOT_FOUND);
    cJSON_Delete(p);
    p = cJSON_Parse("{\"enableIoTLoggingParams\":{}}");
    assert_int_equal(dd_mitigate_action_update(f->m, "Q", NULL, p, &a, msg), DD_MITIGATE_INVALID);
    cJSON_Delete(p);

    assert_int_equal(create_action(f, "R", "{\"publishFindingToSnsParams\":{\"topicArn\":\"t\"}}",
                                   msg),
                     DD_MITIGATE_OK);
    assert_int_equal(dd_mitigate_action_list(f->m, "ENABLE_IOT_LOGGING", "", 10, &rows, &count,
                                             next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].name, "Q");
    assert_string_equal(next, "");
    dd_store_mitigation_actions_free(rows, count);
    assert_int_equal(dd_mitigate_action_delete(f->m, "Q"), DD_MITIGATE_OK);
    assert_int_equal(dd_mitigate_action_delete(f->m, "Q"), DD_MITIGATE_OK);
    assert_int_equal(dd_mitigate_action_list(f->m, NULL, "", 10, &rows, &count, next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 1);
    dd_store_mitigation_actions_free(rows, count);
}

static void test_dd_mitigate_task_adds_things_to_group(void **state)
{
    fixture_t *f = *state;
    const char *actions[] = {"Isolate"};
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    dd_store_mitigation_task_t t;
    dd_store_mitigation_execution_t *rows;
    dd_store_mitigation_exec_filter_t filter;
    size_t count;
    char next[DD_MITIGATE_KEY_MAX];
    char msg[DD_MITIGATE_MESSAGE_MAX];
    char group[64];

    assert_int_equal(create_action(f, "Isolate",
                                   "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                                   "\"Quarantine\"]}}",
                                   msg),
                     DD_MITIGATE_OK);
    add_violation(f, "v1", "Thing01");
    add_violation(f, "v2", "Thing02");
    thing_group(f, "Thing01", group);
    assert_string_equal(group, "");

    request_init(f, &req, "task1", actions, 1);
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_false(res.repeated);
    assert_int_equal(res.violations, 2);
    assert_int_equal(res.executed, 2);
    assert_int_equal(res.failed, 0);
    /* The executor's effect: both things are in the group, and the shim was told once. */
    thing_group(f, "Thing01", group);
    assert_string_equal(group, "Quarantine");
    thing_group(f, "Thing02", group);
    assert_string_equal(group, "Quarantine");
    assert_int_equal(f->hook_calls, 1);
    assert_int_equal(f->encode_calls, 1);

    assert_int_equal(dd_mitigate_task_describe(f->m, "task1", &t), DD_MITIGATE_OK);
    assert_string_equal(t.status, "SUCCESSFUL");
    assert_string_equal(t.actions_json, "Isolate");
    assert_string_equal(t.target_json, "{\"securityProfileName\":\"sp1\"}");
    assert_int_equal(t.executed, 2);
    assert_true(t.end_ms > t.start_ms);
    dd_store_mitigation_task_clear(&t);

    memset(&filter, 0, sizeof(filter));
    filter.task_id = "task1";
    filter.thing = "Thing01";
    assert_int_equal(dd_mitigate_execution_list(f->m, &filter, "", 10, &rows, &count, next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].violation_id, "v1");
    assert_string_equal(rows[0].action_name, "Isolate");
    assert_string_equal(rows[0].status, "SUCCESSFUL");
    assert_null(rows[0].error_code);
    assert_true(rows[0].end_ms > rows[0].start_ms);
    dd_store_mitigation_executions_free(rows, count);

    /* The same request again does nothing; another token for the id is refused. */
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_true(res.repeated);
    assert_int_equal(f->encode_calls, 1);
    req.client_token = "other";
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_TASK_EXISTS);
    /* A finished task cannot be canceled. */
    assert_int_equal(dd_mitigate_task_cancel(f->m, "task1", msg), DD_MITIGATE_INVALID);
    assert_non_null(strstr(msg, "is SUCCESSFUL"));
    assert_int_equal(dd_mitigate_task_cancel(f->m, "nope", msg), DD_MITIGATE_NOT_FOUND);
}

static void test_dd_mitigate_task_failing_executor_recorded(void **state)
{
    fixture_t *f = *state;
    const char *actions[] = {"ToMissingGroup", "CaOff"};
    const char *only_v1[] = {"v1"};
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    dd_store_mitigation_task_t t;
    dd_store_mitigation_execution_t *rows;
    dd_store_mitigation_exec_filter_t filter;
    size_t count;
    char next[DD_MITIGATE_KEY_MAX];
    char msg[DD_MITIGATE_MESSAGE_MAX];

    assert_int_equal(create_action(f, "ToMissingGroup",
                                   "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                                   "\"NoSuchGroup\"]}}",
                                   msg),
                     DD_MITIGATE_OK);
    assert_int_equal(create_action(f, "CaOff",
                                   "{\"updateCACertificateParams\":{\"action\":\"DEACTIVATE\"}}",
                                   msg),
                     DD_MITIGATE_OK);
    add_violation(f, "v1", "Thing01");
    add_violation(f, "v2", "Thing02");

    /* target.violationIds picks v1 only; the failure skips the violation's next action. */
    request_init(f, &req, "task2", actions, 2);
    req.violation_ids = only_v1;
    req.violation_id_count = 1;
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.violations, 1);
    assert_int_equal(res.executed, 0);
    assert_int_equal(res.failed, 1);
    assert_int_equal(res.skipped, 1);
    assert_int_equal(f->hook_calls, 0);
    assert_int_equal(dd_mitigate_task_describe(f->m, "task2", &t), DD_MITIGATE_OK);
    assert_string_equal(t.status, "FAILED");
    dd_store_mitigation_task_clear(&t);

    memset(&filter, 0, sizeof(filter));
    filter.task_id = "task2";
    assert_int_equal(dd_mitigate_execution_list(f->m, &filter, "", 10, &rows, &count, next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].action_name, "ToMissingGroup");
    assert_string_equal(rows[0].status, "FAILED");
    assert_string_equal(rows[0].error_code, "ResourceNotFoundException");
    assert_non_null(strstr(rows[0].message, "NoSuchGroup"));
    assert_string_equal(rows[1].action_name, "CaOff");
    assert_string_equal(rows[1].status, "SKIPPED");
    dd_store_mitigation_executions_free(rows, count);

    /* An action type ddlocal does not execute is recorded as FAILED NotSupported. */
    request_init(f, &req, "task3", &actions[1], 1);
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.failed, 2);
    filter.task_id = "task3";
    assert_int_equal(dd_mitigate_execution_list(f->m, &filter, "", 10, &rows, &count, next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].status, "FAILED");
    assert_string_equal(rows[0].error_code, "NotSupported");
    assert_non_null(strstr(rows[0].message, "UPDATE_CA_CERTIFICATE"));
    dd_store_mitigation_executions_free(rows, count);
}

static void test_dd_mitigate_task_injected_failure(void **state)
{
    fixture_t *f = *state;
    const char *actions[] = {"Isolate"};
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    dd_store_mitigation_execution_t *rows;
    dd_store_mitigation_exec_filter_t filter;
    size_t count;
    char next[DD_MITIGATE_KEY_MAX];
    char msg[DD_MITIGATE_MESSAGE_MAX];
    char group[64];

    assert_int_equal(create_action(f, "Isolate",
                                   "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                                   "\"Quarantine\"]}}",
                                   msg),
                     DD_MITIGATE_OK);
    add_violation(f, "v1", "Thing01");
    add_violation(f, "v2", "Thing02");
    f->fail_thing = "Thing01";
    request_init(f, &req, "task9", actions, 1);
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.executed, 1);
    assert_int_equal(res.failed, 1);
    /* The failed action did not run: only Thing02 is in the group. */
    thing_group(f, "Thing01", group);
    assert_string_equal(group, "");
    thing_group(f, "Thing02", group);
    assert_string_equal(group, "Quarantine");
    memset(&filter, 0, sizeof(filter));
    filter.task_id = "task9";
    filter.thing = "Thing01";
    assert_int_equal(dd_mitigate_execution_list(f->m, &filter, "", 10, &rows, &count, next),
                     DD_MITIGATE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].status, "FAILED");
    assert_string_equal(rows[0].error_code, "Injected");
    assert_string_equal(rows[0].message, "Isolate ADD_THINGS_TO_THING_GROUP");
    dd_store_mitigation_executions_free(rows, count);
}

static void test_dd_mitigate_task_target_filters(void **state)
{
    fixture_t *f = *state;
    const char *actions[] = {"Isolate"};
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    char msg[DD_MITIGATE_MESSAGE_MAX];

    assert_int_equal(create_action(f, "Isolate",
                                   "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                                   "\"Quarantine\"]}}",
                                   msg),
                     DD_MITIGATE_OK);
    add_violation(f, "v1", "Thing01"); /* started and last fired at 1700000001000 */
    /* Another behavior, a range before or after the violation: nothing to act on. */
    request_init(f, &req, "b", actions, 1);
    req.behavior = "other";
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.violations, 0);
    request_init(f, &req, "r1", actions, 1);
    req.has_range = true;
    req.range_start_ms = 1700000002000LL;
    req.range_end_ms = 1700000009000LL;
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.violations, 0);
    /* The behavior by name and a range holding the violation: acted on once. */
    request_init(f, &req, "r2", actions, 1);
    req.behavior = "egress";
    req.has_range = true;
    req.range_start_ms = 1700000000000LL;
    req.range_end_ms = 1700000001000LL;
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.violations, 1);
    assert_int_equal(res.executed, 1);
    assert_int_equal(f->hook_calls, 1);
}

static void test_dd_mitigate_task_refusals(void **state)
{
    fixture_t *f = *state;
    const char *unknown[] = {"Nope"};
    const char *known[] = {"Isolate"};
    dd_mitigate_t *other = f->m;
    dd_mitigate_task_request_t req;
    dd_mitigate_task_result_t res;
    dd_store_mitigation_task_t t;
    char msg[DD_MITIGATE_MESSAGE_MAX];

    request_init(f, &req, "t", unknown, 1);
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_INVALID);
    assert_string_equal(res.message, "Mitigation action Nope does not exist");
    assert_int_equal(create_action(f, "Isolate",
                                   "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                                   "\"Quarantine\"]}}",
                                   msg),
                     DD_MITIGATE_OK);
    request_init(f, &req, "t", known, 1);
    req.profile = "nope";
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_INVALID);
    assert_string_equal(res.message, "Security profile nope does not exist");
    /* Refused tasks leave no row. */
    assert_int_equal(dd_mitigate_task_describe(f->m, "t", &t), DD_MITIGATE_NOT_FOUND);
    req.profile = "sp1";
    req.action_count = 0;
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_BAD_PARAMETER);
    /* No violation: the task still runs and succeeds with nothing done. */
    req.action_count = 1;
    assert_int_equal(dd_mitigate_task_start(f->m, &req, &res), DD_MITIGATE_OK);
    assert_int_equal(res.violations, 0);
    assert_int_equal(f->hook_calls, 0);
    assert_string_equal(dd_mitigate_strerror(DD_MITIGATE_STORE_ERROR), "database error");
    assert_int_equal(dd_mitigate_open(NULL, &other), DD_MITIGATE_BAD_PARAMETER);
    assert_null(other);
}

/* ---- executors ---------------------------------------------------------------------------- */

/* A device certificate issued by a CA in the fixture's directory, attached to @p thing. */
static void add_cert(fixture_t *f, const char *thing, char id[65])
{
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    dd_registry_error_t err;

    assert_int_equal(dd_pki_ca_ensure(f->dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_add(&f->registry, cred.certificate_pem, DD_CERT_ACTIVE, false,
                                          id, 65, &err),
                     DD_REGISTRY_OK);
    if (thing != NULL) {
        assert_int_equal(dd_registry_principal_attach(&f->registry, thing, id, &err),
                         DD_REGISTRY_OK);
    }
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
}

static int cert_status_cb(void *ctx, const dd_registry_cert_t *cert)
{
    *(dd_cert_status_t *)ctx = cert->status;
    return 0;
}

static dd_cert_status_t cert_status(fixture_t *f, const char *id)
{
    dd_cert_status_t st = DD_CERT_PENDING_ACTIVATION;
    dd_registry_error_t err;

    assert_int_equal(dd_registry_cert_get(&f->registry, id, cert_status_cb, &st, &err),
                     DD_REGISTRY_OK);
    return st;
}

/* An AuditFinding as app/dd_audit hands it to the executors. */
static cJSON *finding(const char *check, const char *id_member, const char *id_value)
{
    cJSON *fnd = cJSON_CreateObject();
    cJSON *res = cJSON_AddObjectToObject(fnd, "nonCompliantResource");
    cJSON *id;

    assert_non_null(cJSON_AddStringToObject(fnd, "findingId", "f-1"));
    assert_non_null(cJSON_AddStringToObject(fnd, "checkName", check));
    assert_non_null(cJSON_AddStringToObject(res, "resourceType", "DEVICE_CERTIFICATE"));
    id = cJSON_AddObjectToObject(res, "resourceIdentifier");
    if (id_member != NULL) {
        assert_non_null(cJSON_AddStringToObject(id, id_member, id_value));
    }
    return fnd;
}

static dd_mitigate_status_t execute(fixture_t *f, const char *type, const char *params_json,
                                    const char *thing, const cJSON *fnd, dd_mitigate_outcome_t *out)
{
    cJSON *p = cJSON_Parse(params_json);
    dd_mitigate_target_t target = {thing, fnd};
    dd_mitigate_status_t st;

    assert_non_null(p);
    st = dd_mitigate_execute(f->m, type, p, &target, out);
    cJSON_Delete(p);
    return st;
}

#define DEACTIVATE "{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"}}"

static void test_dd_mitigate_exec_update_device_certificate(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    char c1[65];
    char c2[65];
    char c3[65];
    cJSON *fnd;

    add_cert(f, "Thing01", c1);
    add_cert(f, "Thing01", c2);
    add_cert(f, "Thing02", c3);
    /* Detect: every certificate of the violating thing, no other. */
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, "Thing01", NULL, &out),
                     DD_MITIGATE_OK);
    assert_true(out.registry_changed);
    assert_int_equal(cert_status(f, c1), DD_CERT_INACTIVE);
    assert_int_equal(cert_status(f, c2), DD_CERT_INACTIVE);
    assert_int_equal(cert_status(f, c3), DD_CERT_ACTIVE);
    /* Audit: the finding's deviceCertificateId. */
    fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId", c3);
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, NULL, fnd, &out),
                     DD_MITIGATE_OK);
    cJSON_Delete(fnd);
    assert_int_equal(cert_status(f, c3), DD_CERT_INACTIVE);
    /* Already INACTIVE: nothing to do, successful. */
    fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId", c3);
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, NULL, fnd, &out),
                     DD_MITIGATE_OK);
    assert_false(out.registry_changed);
    cJSON_Delete(fnd);
    /* A finding without a device certificate, an unknown one, a thing without any. */
    fnd = finding("LOGGING_DISABLED_CHECK", "account", "123456789012");
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "InvalidRequestException");
    cJSON_Delete(fnd);
    fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId",
                  "00000000000000000000000000000000000000000000000000000000000000ff");
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "ResourceNotFoundException");
    cJSON_Delete(fnd);
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, "Thing09", NULL, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
}

static void test_dd_mitigate_exec_service_certificate_kept(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    char id[65];
    cJSON *fnd;

    assert_int_equal(dd_pki_ca_ensure(f->dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_add(&f->registry, cred.certificate_pem, DD_CERT_ACTIVE, true,
                                          id, sizeof(id), &err),
                     DD_REGISTRY_OK);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId", id);
    assert_int_equal(execute(f, "UPDATE_DEVICE_CERTIFICATE", DEACTIVATE, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_non_null(strstr(out.message, "service identity"));
    assert_int_equal(cert_status(f, id), DD_CERT_ACTIVE);
    cJSON_Delete(fnd);
}

static int version_cb(void *ctx, const dd_registry_policy_version_t *v)
{
    if (v->is_default) {
        (void)snprintf(ctx, 512, "%s %s", v->version_id, v->document);
    }
    return 0;
}

#define BLANK "{\"replaceDefaultPolicyVersionParams\":{\"templateName\":\"BLANK_POLICY\"}}"

static void test_dd_mitigate_exec_replace_default_policy_version(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    dd_registry_error_t err;
    char vid[DD_REGISTRY_VERSION_ID_MAX];
    char def[512];
    cJSON *fnd = cJSON_CreateObject();
    cJSON *pv;
    int i;

    assert_int_equal(dd_registry_policy_create(&f->registry, "DevicePolicy",
                                               "{\"Version\":\"2012-10-17\",\"Statement\":[{"
                                               "\"Effect\":\"Allow\",\"Action\":\"iot:*\","
                                               "\"Resource\":\"*\"}]}",
                                               &err),
                     DD_REGISTRY_OK);
    pv = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(fnd, "nonCompliantResource"),
                                "resourceIdentifier"),
        "policyVersionIdentifier");
    assert_non_null(cJSON_AddStringToObject(pv, "policyName", "DevicePolicy"));
    assert_non_null(cJSON_AddStringToObject(pv, "policyVersionId", "1"));
    assert_int_equal(execute(f, "REPLACE_DEFAULT_POLICY_VERSION", BLANK, NULL, fnd, &out),
                     DD_MITIGATE_OK);
    assert_true(out.registry_changed);
    assert_int_equal(dd_registry_policy_version_list(&f->registry, "DevicePolicy", version_cb, def,
                                                     &err),
                     DD_REGISTRY_OK);
    assert_non_null(strstr(def, "2 "));
    assert_non_null(strstr(def, "\"Deny\""));
    /* Five versions: CreatePolicyVersion's VersionsLimitExceededException. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(dd_registry_policy_version_create(&f->registry, "DevicePolicy",
                                                           "{\"Version\":\"2012-10-17\","
                                                           "\"Statement\":[{\"Effect\":\"Allow\","
                                                           "\"Action\":\"iot:Connect\","
                                                           "\"Resource\":\"*\"}]}",
                                                           false, vid, sizeof(vid), &err),
                         DD_REGISTRY_OK);
    }
    assert_int_equal(execute(f, "REPLACE_DEFAULT_POLICY_VERSION", BLANK, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "VersionsLimitExceededException");
    cJSON_Delete(fnd);
    /* Detect: a thing has no policy to replace. */
    assert_int_equal(execute(f, "REPLACE_DEFAULT_POLICY_VERSION", BLANK, "Thing01", NULL, &out),
                     DD_MITIGATE_NOT_SUPPORTED);
    assert_string_equal(out.code, "NotSupported");
}

static void test_dd_mitigate_exec_enable_iot_logging(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    dd_logopts_v2_t v2;
    cJSON *fnd = finding("LOGGING_DISABLED_CHECK", "account", "123456789012");

    assert_int_equal(dd_logopts_get_v2(&f->registry, &v2), DD_LOGOPTS_NOT_CONFIGURED);
    assert_int_equal(
        execute(f, "ENABLE_IOT_LOGGING",
                "{\"enableIoTLoggingParams\":{\"roleArnForLogging\":"
                "\"arn:aws:iam::123456789012:role/IoTLogging\",\"logLevel\":\"WARN\"}}",
                NULL, fnd, &out),
        DD_MITIGATE_OK);
    cJSON_Delete(fnd);
    assert_int_equal(dd_logopts_get_v2(&f->registry, &v2), DD_LOGOPTS_OK);
    assert_string_equal(v2.role_arn, "arn:aws:iam::123456789012:role/IoTLogging");
    assert_true(v2.has_level);
    assert_int_equal(v2.default_level, DD_LOGOPTS_WARN);
    assert_false(v2.disable_all);
    /* A role that is not an IAM role ARN is refused as SetV2LoggingOptions refuses it. */
    assert_int_equal(execute(f, "ENABLE_IOT_LOGGING",
                             "{\"enableIoTLoggingParams\":{\"roleArnForLogging\":"
                             "\"arn:aws:sns:us-east-1:123456789012:x\",\"logLevel\":\"INFO\"}}",
                             "Thing01", NULL, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "InvalidRequestException");
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
}

#define SNS \
    "{\"publishFindingToSnsParams\":{\"topicArn\":\"arn:aws:sns:us-east-1:123456789012:audit\"}}"

static void test_dd_mitigate_exec_publish_finding_to_sns(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    cJSON *fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId", "abc");
    cJSON *got;

    assert_int_equal(execute(f, "PUBLISH_FINDING_TO_SNS", SNS, NULL, fnd, &out), DD_MITIGATE_OK);
    assert_int_equal(f->sns_calls, 1);
    assert_string_equal(f->sns_topic, "arn:aws:sns:us-east-1:123456789012:audit");
    got = cJSON_Parse(f->sns_message);
    assert_true(cJSON_Compare(got, fnd, true));
    cJSON_Delete(got);
    /* The hook's refusal becomes the execution's error. */
    assert_int_equal(execute(f, "PUBLISH_FINDING_TO_SNS",
                             "{\"publishFindingToSnsParams\":{\"topicArn\":\"nope\"}}", NULL, fnd,
                             &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "InvalidRequestException");
    assert_string_equal(out.message, "not an SNS topic");
    cJSON_Delete(fnd);
    /* A Detect violation is not a finding. */
    assert_int_equal(execute(f, "PUBLISH_FINDING_TO_SNS", SNS, "Thing01", NULL, &out),
                     DD_MITIGATE_NOT_SUPPORTED);
    assert_int_equal(f->sns_calls, 1);
}

static int group_member(void *ctx, const char *name)
{
    (void)snprintf(ctx, 64, "%s", name);
    return 0;
}

static void test_dd_mitigate_exec_add_things_for_finding(void **state)
{
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    dd_registry_page_t page = {NULL, 0};
    dd_registry_error_t err;
    char cert[65];
    char next[300];
    char group[64] = "";
    cJSON *fnd;

    add_cert(f, "Thing02", cert);
    fnd = finding("DEVICE_CERTIFICATE_SHARED_CHECK", "deviceCertificateId", cert);
    assert_int_equal(execute(f, "ADD_THINGS_TO_THING_GROUP",
                             "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                             "\"Quarantine\"],\"overrideDynamicGroups\":true}}",
                             NULL, fnd, &out),
                     DD_MITIGATE_OK);
    assert_true(out.registry_changed);
    cJSON_Delete(fnd);
    assert_int_equal(dd_registry_thing_groups(&f->registry, "Thing02", &page, group_member, group,
                                              next, sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_string_equal(group, "Quarantine");
    /* A client id naming a thing; a finding with no thing fails. */
    fnd = finding("CONFLICTING_CLIENT_IDS_CHECK", "clientId", "Thing01");
    assert_int_equal(execute(f, "ADD_THINGS_TO_THING_GROUP",
                             "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                             "\"Quarantine\"]}}",
                             NULL, fnd, &out),
                     DD_MITIGATE_OK);
    cJSON_Delete(fnd);
    fnd = finding("CONFLICTING_CLIENT_IDS_CHECK", "clientId", "not-a-thing");
    assert_int_equal(execute(f, "ADD_THINGS_TO_THING_GROUP",
                             "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":["
                             "\"Quarantine\"]}}",
                             NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "ResourceNotFoundException");
    cJSON_Delete(fnd);
}

static int ca_active_cb(void *ctx, const dd_registry_ca_t *ca)
{
    *(bool *)ctx = ca->active;
    return 0;
}

static bool ca_active(fixture_t *f, const char *ca_id)
{
    dd_registry_error_t err;
    bool active = false;

    assert_int_equal(dd_registry_ca_get(&f->registry, ca_id, ca_active_cb, &active, &err),
                     DD_REGISTRY_OK);
    return active;
}

/* The status the broker shim is handed for a device certificate (its CA's status included). */
static void assert_shim_status(fixture_t *f, const char *cert_id, const char *want)
{
    cJSON *obj = NULL;

    assert_int_equal(dd_registry_entity_json(&f->registry, DD_REGISTRY_KIND_CERT, cert_id, &obj),
                     DD_REGISTRY_OK);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "status")), want);
    cJSON_Delete(obj);
}

static void test_dd_mitigate_exec_update_ca_certificate(void **state)
{
    static const char PARAMS[] = "{\"updateCACertificateParams\":{\"action\":\"DEACTIVATE\"}}";
    fixture_t *f = *state;
    dd_mitigate_outcome_t out;
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    char ca_id[65];
    char dev_id[65];
    BIO *bio;
    char *data;
    char *ca_pem;
    long n;
    cJSON *fnd;

    /* ddlocal's own root stands for a customer CA (the registry checks no signature), with a
     * device certificate registered under it. */
    assert_int_equal(dd_pki_ca_ensure(f->dir, &ca), DD_PKI_OK);
    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, dd_pki_ca_cert(ca)), 1);
    n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    ca_pem = strndup(data, (size_t)n);
    BIO_free(bio);
    assert_int_equal(dd_registry_ca_add(&f->registry, ca_pem, true, false, "DEFAULT", NULL, ca_id,
                                        sizeof(ca_id), &err),
                     DD_REGISTRY_OK);
    free(ca_pem);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_register(&f->registry, cred.certificate_pem, DD_CERT_ACTIVE,
                                               ca_id, dev_id, sizeof(dev_id), &err),
                     DD_REGISTRY_OK);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    assert_shim_status(f, dev_id, "ACTIVE");

    /* Audit: the finding's caCertificateId -> INACTIVE; its devices are refused from then on. */
    fnd = finding("REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", "caCertificateId", ca_id);
    memset(&out, 0, sizeof(out));
    assert_int_equal(execute(f, "UPDATE_CA_CERTIFICATE", PARAMS, NULL, fnd, &out), DD_MITIGATE_OK);
    assert_true(out.registry_changed);
    assert_false(ca_active(f, ca_id));
    assert_shim_status(f, dev_id, "INACTIVE");
    /* Already INACTIVE: nothing to do, successful. */
    memset(&out, 0, sizeof(out));
    assert_int_equal(execute(f, "UPDATE_CA_CERTIFICATE", PARAMS, NULL, fnd, &out), DD_MITIGATE_OK);
    assert_false(out.registry_changed);
    cJSON_Delete(fnd);

    /* A finding without a CA certificate, an unknown CA, a Detect violation's thing. */
    fnd = finding("LOGGING_DISABLED_CHECK", "account", "123456789012");
    assert_int_equal(execute(f, "UPDATE_CA_CERTIFICATE", PARAMS, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "InvalidRequestException");
    cJSON_Delete(fnd);
    fnd = finding("CA_CERTIFICATE_EXPIRING_CHECK", "caCertificateId",
                  "00000000000000000000000000000000000000000000000000000000000000ff");
    assert_int_equal(execute(f, "UPDATE_CA_CERTIFICATE", PARAMS, NULL, fnd, &out),
                     DD_MITIGATE_EXECUTION_FAILED);
    assert_string_equal(out.code, "ResourceNotFoundException");
    cJSON_Delete(fnd);
    assert_int_equal(execute(f, "UPDATE_CA_CERTIFICATE", PARAMS, "Thing01", NULL, &out),
                     DD_MITIGATE_NOT_SUPPORTED);
    assert_string_equal(out.code, "NotSupported");
    assert_non_null(strstr(out.message, "CA certificate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_mitigate_params),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_task_adds_things_to_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_task_failing_executor_recorded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_task_injected_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_task_target_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_task_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_update_device_certificate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_service_certificate_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_replace_default_policy_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_enable_iot_logging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_publish_finding_to_sns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_add_things_for_finding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_mitigate_exec_update_ca_certificate, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
