/*
 * dd_detect, the application layer of Detect, on a temp data dir without
 * HTTP: each change reaches the store and the engine together, or neither
 * (a refused change leaves both as they were), and the statuses callers map
 * to their protocol's errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_detect.h"
#include "dd_log.h"
#include "dd_pipeline.h"

#define T0 1700000000000LL
#define ALL_THINGS "arn:aws:iot:us-east-1:123456789012:all/things"

static const char *PROFILE =
    "{\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
    "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
    "\"durationSeconds\":300}}]}";

static const char *CPU_PROFILE =
    "{\"behaviors\":[{\"name\":\"Cpu\",\"metric\":\"cpu\",\"criteria\":{"
    "\"comparisonOperator\":\"less-than\",\"value\":{\"number\":80},"
    "\"consecutiveDatapointsToAlarm\":1,"
    "\"consecutiveDatapointsToClear\":1}}]}";

typedef struct fixture {
    char dir[64];
    dd_pipeline_t p;
    dd_detect_t d;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipeline_config_t cfg;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_detect_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:%lld", (long long)T0);
    if (dd_pipeline_open(&cfg, &f->p) != DD_PIPELINE_OK) {
        return -1;
    }
    dd_pipeline_detect(&f->p, &f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_pipeline_close(&f->p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static dd_detect_status_t create(fixture_t *f, const char *name, const char *doc,
                                 dd_detect_error_t *err)
{
    return dd_detect_profile_create(&f->d, name, doc, strlen(doc), err);
}

static bool stored(fixture_t *f, const char *name)
{
    dd_profile_t profile;

    if (dd_detect_profile_get(&f->d, name, &profile, NULL) != DD_DETECT_OK) {
        return false;
    }
    dd_profile_free(&profile);
    return true;
}

static void test_dd_detect_profile_create_reaches_store_and_engine(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;

    assert_int_equal(create(f, "p1", PROFILE, &err), DD_DETECT_OK);
    assert_true(stored(f, "p1"));
    assert_non_null(dd_engine_get_profile(f->p.engine, "p1"));
    assert_int_equal(create(f, "p1", PROFILE, &err), DD_DETECT_EXISTS);
    assert_int_equal(err.store, DD_STORE_EXISTS);
    assert_false(err.transaction);
    /* The engine's view after a restart is the store's. */
    assert_int_equal(dd_pipeline_reload_engine(&f->p), DD_PIPELINE_OK);
    assert_non_null(dd_engine_get_profile(f->p.engine, "p1"));
}

static void test_dd_detect_profile_refused_changes_nothing(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;

    assert_int_equal(create(f, "p2", "{\"behaviors\":[{\"name\":\"b\"}]}", &err),
                     DD_DETECT_INVALID);
    assert_true(err.message[0] != '\0');
    /* A custom metric that does not exist: validated against the engine's definitions. */
    assert_int_equal(create(f, "p2", CPU_PROFILE, &err), DD_DETECT_INVALID);
    assert_non_null(strstr(err.message, "cpu"));
    assert_false(stored(f, "p2"));
    assert_null(dd_engine_get_profile(f->p.engine, "p2"));
    assert_int_equal(create(f, "p2", "{not json", &err), DD_DETECT_INVALID);
}

static void test_dd_detect_profile_update_and_versions(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    dd_profile_t out;
    const char *upd = "{\"securityProfileDescription\":\"new\"}";

    assert_int_equal(dd_detect_profile_update(&f->d, "none", upd, strlen(upd), -1, &out, &err),
                     DD_DETECT_NOT_FOUND);
    assert_int_equal(create(f, "p", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_update(&f->d, "p", upd, strlen(upd), 7, &out, &err),
                     DD_DETECT_VERSION_CONFLICT);
    assert_int_equal(err.version, 1);
    assert_int_equal(dd_detect_profile_update(&f->d, "p", upd, strlen(upd), 1, &out, &err),
                     DD_DETECT_OK);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.description, "new");
    assert_int_equal(out.behavior_count, 1);
    dd_profile_free(&out);
    assert_string_equal(dd_engine_get_profile(f->p.engine, "p")->description, "new");
    /* Invalid merge result: refused, version unchanged. */
    assert_int_equal(dd_detect_profile_update(&f->d, "p", "{\"behaviors\":7}", 15, -1, &out, &err),
                     DD_DETECT_INVALID);
    assert_int_equal(dd_detect_profile_get(&f->d, "p", &out, NULL), DD_DETECT_OK);
    assert_int_equal(out.version, 2);
    dd_profile_free(&out);
}

static void test_dd_detect_profile_delete(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;

    assert_int_equal(dd_detect_profile_delete(&f->d, "p", -1, &err), DD_DETECT_NOT_FOUND);
    assert_int_equal(create(f, "p", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_delete(&f->d, "p", 5, &err), DD_DETECT_VERSION_CONFLICT);
    assert_true(stored(f, "p"));
    assert_non_null(dd_engine_get_profile(f->p.engine, "p"));
    assert_int_equal(dd_detect_profile_delete(&f->d, "p", 1, &err), DD_DETECT_OK);
    assert_false(stored(f, "p"));
    assert_null(dd_engine_get_profile(f->p.engine, "p"));
}

static void test_dd_detect_profile_targets(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    const dd_profile_t *in_engine;

    assert_int_equal(dd_detect_profile_target(&f->d, "none", ALL_THINGS, true, &err),
                     DD_DETECT_NOT_FOUND);
    assert_int_equal(create(f, "p", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_target(&f->d, "p", ALL_THINGS, true, &err), DD_DETECT_OK);
    in_engine = dd_engine_get_profile(f->p.engine, "p");
    assert_non_null(in_engine);
    assert_int_equal(in_engine->target_count, 1);
    assert_int_equal(dd_detect_profile_target(&f->d, "p", ALL_THINGS, false, &err), DD_DETECT_OK);
    assert_int_equal(dd_engine_get_profile(f->p.engine, "p")->target_count, 0);
}

static void test_dd_detect_custom_metrics(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    dd_custom_metric_def_t def;
    dd_custom_metric_def_t got;

    memset(&def, 0, sizeof(def));
    (void)snprintf(def.name, sizeof(def.name), "cpu");
    def.type = DD_CUSTOM_TYPE_NUMBER;
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, NULL, &err), DD_DETECT_OK);
    assert_int_equal(def.creation_ms, T0);
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, NULL, &err), DD_DETECT_EXISTS);
    /* Now known to the engine: a profile on it validates. */
    assert_int_equal(create(f, "p", CPU_PROFILE, &err), DD_DETECT_OK);
    assert_int_equal(dd_clock_advance(&f->p.clock, 5000, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_detect_custom_metric_update(&f->d, "cpu", "CPU", &got, &err), DD_DETECT_OK);
    assert_string_equal(got.display_name, "CPU");
    assert_int_equal(got.modified_ms, T0 + 5000);
    assert_int_equal(dd_detect_custom_metric_update(&f->d, "gpu", "x", &got, &err),
                     DD_DETECT_NOT_FOUND);
    assert_int_equal(dd_detect_custom_metric_delete(&f->d, "cpu", &err), DD_DETECT_IN_USE);
    assert_int_equal(err.store, DD_STORE_IN_USE);
    assert_int_equal(dd_detect_custom_metric_get(&f->d, "cpu", &got, &err), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_delete(&f->d, "p", -1, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_custom_metric_delete(&f->d, "cpu", &err), DD_DETECT_OK);
    assert_int_equal(dd_detect_custom_metric_get(&f->d, "cpu", &got, &err), DD_DETECT_NOT_FOUND);
    /* Gone from the engine too: a profile on it no longer validates. */
    assert_int_equal(create(f, "p", CPU_PROFILE, &err), DD_DETECT_INVALID);
}

static void test_dd_detect_request_tokens(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    dd_custom_metric_def_t def;
    dd_dimension_def_t *dim = calloc(1, sizeof(*dim));
    dd_detect_request_t req = {.token = "tok-1", .digest = "aaaa"};

    assert_non_null(dim);
    memset(&def, 0, sizeof(def));
    (void)snprintf(def.name, sizeof(def.name), "cpu");
    def.type = DD_CUSTOM_TYPE_NUMBER;
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, &req, &err), DD_DETECT_OK);
    assert_false(req.replayed);
    /* The same request again, later: the first answer, creation date included. */
    assert_int_equal(dd_clock_advance(&f->p.clock, 1000, NULL), DD_CLOCK_OK);
    def.type = DD_CUSTOM_TYPE_NUMBER;
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, &req, &err), DD_DETECT_OK);
    assert_true(req.replayed);
    assert_int_equal(def.creation_ms, T0);
    /* Another token for the same name: it exists. */
    req.token = "tok-2";
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, &req, &err), DD_DETECT_EXISTS);
    assert_string_equal(req.resource, "cpu");
    /* The first token with another request (here another name): refused, naming cpu. */
    req.token = "tok-1";
    req.digest = "bbbb";
    (void)snprintf(def.name, sizeof(def.name), "gpu");
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, &req, &err), DD_DETECT_EXISTS);
    assert_string_equal(req.resource, "cpu");
    assert_non_null(strstr(err.message, "tok-1"));
    assert_int_equal(dd_detect_custom_metric_get(&f->d, "gpu", &def, &err), DD_DETECT_NOT_FOUND);
    /* Tokens are per operation: tok-1 is new to CreateDimension. */
    (void)snprintf(dim->name, sizeof(dim->name), "TopicFilter");
    dim->value_count = 1;
    (void)snprintf(dim->values[0], sizeof(dim->values[0]), "a/#");
    assert_int_equal(dd_detect_dimension_create(&f->d, dim, &req, &err), DD_DETECT_OK);
    assert_false(req.replayed);
    assert_int_equal(dd_detect_dimension_create(&f->d, dim, &req, &err), DD_DETECT_OK);
    assert_true(req.replayed);
    /* Deleted since: the same request makes it again. */
    assert_int_equal(dd_detect_dimension_delete(&f->d, "TopicFilter", &err), DD_DETECT_OK);
    assert_int_equal(dd_detect_dimension_create(&f->d, dim, &req, &err), DD_DETECT_OK);
    assert_false(req.replayed);
    assert_int_equal(dd_detect_dimension_get(&f->d, "TopicFilter", dim, &err), DD_DETECT_OK);
    free(dim);
}

static void test_dd_detect_dimensions(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    dd_dimension_def_t *def = calloc(1, sizeof(*def));

    assert_non_null(def);
    (void)snprintf(def->name, sizeof(def->name), "TopicFilter");
    def->value_count = 1;
    (void)snprintf(def->values[0], sizeof(def->values[0]), "device/+/auth");
    assert_int_equal(dd_detect_dimension_create(&f->d, def, NULL, &err), DD_DETECT_OK);
    assert_int_equal(dd_detect_dimension_create(&f->d, def, NULL, &err), DD_DETECT_EXISTS);
    memset(def, 0, sizeof(*def));
    assert_int_equal(dd_detect_dimension_get(&f->d, "TopicFilter", def, &err), DD_DETECT_OK);
    assert_string_equal(def->values[0], "device/+/auth");
    def->value_count = 2;
    (void)snprintf(def->values[1], sizeof(def->values[1]), "b/#");
    assert_int_equal(dd_clock_advance(&f->p.clock, 1000, NULL), DD_CLOCK_OK);
    assert_int_equal(dd_detect_dimension_update(&f->d, def, &err), DD_DETECT_OK);
    assert_int_equal(def->modified_ms, T0 + 1000);
    memset(def, 0, sizeof(*def));
    assert_int_equal(dd_detect_dimension_get(&f->d, "TopicFilter", def, &err), DD_DETECT_OK);
    assert_int_equal(def->value_count, 2);
    assert_int_equal(dd_detect_dimension_delete(&f->d, "TopicFilter", &err), DD_DETECT_OK);
    assert_int_equal(dd_detect_dimension_get(&f->d, "TopicFilter", def, &err), DD_DETECT_NOT_FOUND);
    /* As in AWS, deleting a dimension that is gone succeeds. */
    assert_int_equal(dd_detect_dimension_delete(&f->d, "TopicFilter", &err), DD_DETECT_OK);
    free(def);
}

static void test_dd_detect_verification_of_unknown_violation(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;

    assert_int_equal(dd_detect_set_verification(&f->d, "no-such-id",
                                                DD_VERIFICATION_BENIGN_POSITIVE, "fine", &err),
                     DD_DETECT_NOT_FOUND);
}

static void test_dd_detect_store_transaction_failure(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    sqlite3 *other = NULL;
    char path[128];

    /* Another connection holds the write lock: the change cannot begin; nothing changes. */
    (void)snprintf(path, sizeof(path), "%s/%s", f->dir, "ddlocal.db");
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_busy_timeout(f->p.db, 1);
    assert_int_equal(create(f, "p", PROFILE, &err), DD_DETECT_STORE_ERROR);
    assert_true(err.transaction);
    assert_null(dd_engine_get_profile(f->p.engine, "p"));
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(create(f, "p", PROFILE, &err), DD_DETECT_OK);
}

static void test_dd_detect_bad_parameters(void **state)
{
    fixture_t *f = *state;
    dd_detect_t empty;
    dd_profile_t out;

    memset(&empty, 0, sizeof(empty));
    assert_int_equal(create(f, "", PROFILE, NULL), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_profile_create(&empty, "p", "{}", 2, NULL), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_profile_create(NULL, "p", "{}", 2, NULL), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_profile_update(&f->d, "p", "{}", 2, -1, NULL, NULL),
                     DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_profile_get(&f->d, NULL, &out, NULL), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_custom_metric_delete(&f->d, NULL, NULL), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_now_ms(NULL), 0);
    assert_int_equal(dd_detect_now_ms(&f->d), T0);
    assert_string_equal(dd_detect_strerror(DD_DETECT_IN_USE), "still used by a security profile");
}

static int count_name(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static void test_dd_detect_reads(void **state)
{
    fixture_t *f = *state;
    dd_detect_error_t err;
    dd_store_page_t page = {"", 25};
    char next[DD_STORE_TOKEN_MAX] = "";
    dd_metric_defs_t defs;
    dd_custom_metric_def_t def;
    int n = 0;

    assert_int_equal(create(f, "a", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(create(f, "b", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_target(&f->d, "b", ALL_THINGS, true, NULL), DD_DETECT_OK);
    assert_int_equal(dd_detect_profile_list(&f->d, NULL, NULL, &page, count_name, &n, next, &err),
                     DD_DETECT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(next, "");
    n = 0;
    assert_int_equal(dd_detect_profiles_for_target(&f->d, ALL_THINGS, count_name, &n, &err),
                     DD_DETECT_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(dd_detect_profile_targets(&f->d, "b", &page, count_name, &n, next, &err),
                     DD_DETECT_OK);
    assert_int_equal(n, 1);
    /* A token the store never gave: its status comes through. */
    page.token = "garbage";
    assert_int_equal(dd_detect_custom_metric_list(&f->d, &page, count_name, &n, next, &err),
                     DD_DETECT_STORE_ERROR);
    assert_int_equal(err.store, DD_STORE_BAD_TOKEN);
    memset(&def, 0, sizeof(def));
    (void)snprintf(def.name, sizeof(def.name), "cpu");
    assert_int_equal(dd_detect_custom_metric_create(&f->d, &def, NULL, NULL), DD_DETECT_OK);
    dd_detect_defs(&f->d, &defs);
    assert_int_equal(defs.custom_count, 1);
    assert_int_equal(dd_detect_training_summaries(&f->d, "none", NULL, NULL, &err),
                     DD_DETECT_BAD_PARAMETER);
}

static const char *ALERT_PROFILE =
    "{\"alertTargets\":{\"SNS\":{\"alertTargetArn\":"
    "\"arn:aws:sns:us-east-1:123456789012:DeviceDefenderAlerts\","
    "\"roleArn\":\"arn:aws:iam::123456789012:role/r\"}},"
    "\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
    "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
    "\"durationSeconds\":300}}]}";

typedef struct seen {
    int count;
    dd_detect_alert_kind_t kinds[8];
    char endpoints[8][128];
    char topic[64];
    char topic_arn[128];
    int64_t ids[8];
} seen_t;

static void record(void *ctx, const dd_violation_event_t *ev, const dd_detect_alert_target_t *t)
{
    seen_t *s = ctx;

    (void)ev;
    assert_true(s->count < 8);
    s->kinds[s->count] = t->kind;
    (void)snprintf(s->endpoints[s->count], sizeof(s->endpoints[0]), "%s",
                   t->endpoint != NULL ? t->endpoint : "");
    (void)snprintf(s->topic, sizeof(s->topic), "%s", t->topic_name);
    (void)snprintf(s->topic_arn, sizeof(s->topic_arn), "%s", t->topic_arn);
    s->ids[s->count] = t->subscription_id;
    s->count++;
}

static void make_event(dd_violation_event_t *ev, dd_behavior_t *b, const char *profile)
{
    memset(ev, 0, sizeof(*ev));
    memset(b, 0, sizeof(*b));
    (void)snprintf(b->name, sizeof(b->name), "MoreBytesSent");
    ev->violation_id = "v1";
    ev->thing = "t1";
    ev->profile = profile;
    ev->behavior = b;
    ev->type = DD_ALARM_RAISED;
    ev->time_ms = T0;
}

static void test_dd_detect_alert_topic_decision(void **state)
{
    dd_violation_event_t ev;
    dd_behavior_t b;
    dd_profile_t profile;
    const char *name = "unset";

    (void)state;
    make_event(&ev, &b, "p");
    memset(&profile, 0, sizeof(profile));
    profile.has_alert_target = true;
    profile.sns_target_arn = (char *)"arn:aws:sns:us-east-1:123456789012:DeviceDefenderAlerts";
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, &name), DD_DETECT_OK);
    assert_string_equal(name, "DeviceDefenderAlerts");
    /* suppressAlerts: the event is stored, but no SNS message goes out. */
    ev.suppressed = true;
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, &name), DD_DETECT_OK);
    assert_null(name);
    ev.type = DD_ALARM_CLEARED;
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, &name), DD_DETECT_OK);
    assert_null(name);
    /* No alert target, a deleted profile, or a target that is no SNS topic: nothing either. */
    ev.suppressed = false;
    assert_int_equal(dd_detect_alert_topic(&ev, NULL, &name), DD_DETECT_OK);
    assert_null(name);
    profile.has_alert_target = false;
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, &name), DD_DETECT_OK);
    assert_null(name);
    profile.has_alert_target = true;
    profile.sns_target_arn = (char *)"arn:aws:sns:us-east-1:123456789012:bad.name";
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, &name), DD_DETECT_OK);
    assert_null(name);
    assert_int_equal(dd_detect_alert_topic(NULL, &profile, &name), DD_DETECT_BAD_PARAMETER);
    assert_int_equal(dd_detect_alert_topic(&ev, &profile, NULL), DD_DETECT_BAD_PARAMETER);
}

static void test_dd_detect_alert_fanout_topic_then_subscriptions(void **state)
{
    fixture_t *f = *state;
    dd_violation_event_t ev;
    dd_behavior_t b;
    seen_t seen;
    int64_t hook_id = 0;
    int64_t fn_id = 0;

    assert_int_equal(create(f, "p", ALERT_PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(create(f, "quiet", PROFILE, NULL), DD_DETECT_OK);
    assert_int_equal(dd_registry_subscription_add(&f->p.registry, "DeviceDefenderAlerts", "http",
                                                  "http://127.0.0.1:9/hook", &hook_id, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_subscription_add(
                         &f->p.registry, "DeviceDefenderAlerts", "lambda",
                         "arn:aws:lambda:us-east-1:123456789012:function:Isolate", &fn_id, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_subscription_add(&f->p.registry, "Other", "http",
                                                  "http://127.0.0.1:9/other", NULL, NULL),
                     DD_REGISTRY_OK);
    make_event(&ev, &b, "p");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(dd_detect_alert_fanout(&f->d, &ev, record, &seen), DD_DETECT_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.kinds[0], DD_DETECT_ALERT_TOPIC);
    assert_string_equal(seen.endpoints[0], "");
    assert_int_equal(seen.ids[0], 0);
    assert_string_equal(seen.topic, "DeviceDefenderAlerts");
    assert_string_equal(seen.topic_arn, "arn:aws:sns:us-east-1:123456789012:DeviceDefenderAlerts");
    assert_int_equal(seen.kinds[1], DD_DETECT_ALERT_WEBHOOK);
    assert_string_equal(seen.endpoints[1], "http://127.0.0.1:9/hook");
    assert_int_equal(seen.ids[1], hook_id);
    assert_int_equal(seen.kinds[2], DD_DETECT_ALERT_LAMBDA);
    assert_int_equal(seen.ids[2], fn_id);
    /* Suppressed, no alert target, or a profile gone: nobody. */
    ev.suppressed = true;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(dd_detect_alert_fanout(&f->d, &ev, record, &seen), DD_DETECT_OK);
    assert_int_equal(seen.count, 0);
    make_event(&ev, &b, "quiet");
    assert_int_equal(dd_detect_alert_fanout(&f->d, &ev, record, &seen), DD_DETECT_OK);
    make_event(&ev, &b, "deleted");
    assert_int_equal(dd_detect_alert_fanout(&f->d, &ev, record, &seen), DD_DETECT_OK);
    assert_int_equal(seen.count, 0);
    assert_int_equal(dd_detect_alert_fanout(&f->d, &ev, NULL, &seen), DD_DETECT_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_detect_profile_create_reaches_store_and_engine,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_profile_refused_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_profile_update_and_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_profile_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_profile_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_custom_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_dimensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_request_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_verification_of_unknown_violation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_store_transaction_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_bad_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_detect_reads, setup, teardown),
        cmocka_unit_test(test_dd_detect_alert_topic_decision),
        cmocka_unit_test_setup_teardown(test_dd_detect_alert_fanout_topic_then_subscriptions, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
