#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_auditor.h"
#include "dd_clock.h"
#include "dd_db.h"
#include "dd_mitigate.h"
#include "dd_registry.h"
#include "dd_store.h"

#define DAY 86400000LL
/* 2023-11-14T22:13:20Z, a Tuesday. */
#define T0 1700000000000LL

/* ---- a test catalogue: what the checks find is set by the test -------------------------- */

static int g_fake_findings; /* FAKE_CHECK reports c0 .. c(n-1) */

static dd_audit_status_t fake_check(const dd_audit_world_t *world, dd_audit_sink_fn sink, void *ctx,
                                    int64_t *checked)
{
    int i;

    (void)world;
    for (i = 0; i < g_fake_findings; i++) {
        char id[16];
        cJSON *rid = cJSON_CreateObject();
        cJSON *related = cJSON_CreateArray();
        cJSON *r = cJSON_CreateObject();
        dd_audit_finding_t f;
        int stop;

        (void)snprintf(id, sizeof(id), "c%d", i);
        cJSON_AddStringToObject(rid, "deviceCertificateId", id);
        cJSON_AddStringToObject(r, "resourceType", "CLIENT_ID");
        cJSON_AddItemToObject(r, "resourceIdentifier", cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetObjectItem(r, "resourceIdentifier"), "clientId", id);
        cJSON_AddItemToArray(related, r);
        memset(&f, 0, sizeof(f));
        f.resource_type = "DEVICE_CERTIFICATE";
        f.resource_identifier = rid;
        f.related_resources = related;
        f.reason_code = i % 2 == 0 ? "EVEN" : "ODD";
        f.reason = "fake";
        stop = sink(ctx, &f);
        cJSON_Delete(rid);
        cJSON_Delete(related);
        if (stop != 0) {
            return DD_AUDIT_STOPPED;
        }
    }
    *checked = g_fake_findings + 2;
    return DD_AUDIT_OK;
}

static dd_audit_status_t broken_check(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                      void *ctx, int64_t *checked)
{
    (void)world;
    (void)sink;
    (void)ctx;
    (void)checked;
    return DD_AUDIT_STATE_ERROR;
}

static const dd_audit_check_def_t CATALOGUE[] = {
    {"FAKE_CHECK", "HIGH", fake_check, NULL},
    {"BROKEN_CHECK", "LOW", broken_check, NULL},
    {"ABSENT_CHECK", "MEDIUM", NULL, "ddlocal has no such resources"},
    {"DEVICE_CERTIFICATE_AGE_CHECK", "LOW", NULL, "not in this test"},
};

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t registry;
    dd_store_t *store;
    dd_auditor_t *a;
    dd_mitigate_t *m;
    int64_t now;
    int notices;
    char last_topic[128];
    char last_message[4096];
} fixture_t;

static int64_t fixture_now(void *ctx)
{
    return ((fixture_t *)ctx)->now;
}

static void fixture_notify(void *ctx, const dd_auditor_notice_t *n)
{
    fixture_t *f = ctx;

    f->notices++;
    (void)snprintf(f->last_topic, sizeof(f->last_topic), "%s",
                   n->topic_arn != NULL ? n->topic_arn : "");
    (void)snprintf(f->last_message, sizeof(f->last_message), "%s", n->message);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_auditor_config_t cfg;
    dd_mitigate_config_t mcfg;
    char path[128];

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_auditor_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    (void)dd_clock_init_manual(&f->clock, T0);
    assert_int_equal(dd_registry_open(&f->registry, f->db, NULL, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    f->now = T0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.db = f->db;
    cfg.store = f->store;
    cfg.registry = &f->registry;
    dd_arn_ctx_default(&cfg.arn);
    cfg.now_ms = fixture_now;
    cfg.clock_ctx = f;
    cfg.catalogue = CATALOGUE;
    cfg.catalogue_count = sizeof(CATALOGUE) / sizeof(CATALOGUE[0]);
    assert_int_equal(dd_auditor_open(&cfg, &f->a), DD_AUDITOR_OK);
    dd_auditor_set_notify(f->a, fixture_notify, f);
    memset(&mcfg, 0, sizeof(mcfg));
    mcfg.db = f->db;
    mcfg.store = f->store;
    mcfg.registry = &f->registry;
    mcfg.now_ms = fixture_now;
    mcfg.clock_ctx = f;
    assert_int_equal(dd_mitigate_open(&mcfg, &f->m), DD_MITIGATE_OK);
    g_fake_findings = 3;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_mitigate_close(f->m);
    dd_auditor_close(f->a);
    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static dd_auditor_status_t configure(fixture_t *f, const char *json, char *msg)
{
    cJSON *req = cJSON_Parse(json);
    dd_auditor_status_t st;

    assert_non_null(req);
    st = dd_auditor_config_update(f->a, req, msg);
    cJSON_Delete(req);
    return st;
}

static void enable_all(fixture_t *f)
{
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";

    assert_int_equal(
        configure(f,
                  "{\"roleArn\":\"arn:aws:iam::123456789012:role/Audit\","
                  "\"auditNotificationTargetConfigurations\":{\"SNS\":{\"targetArn\":"
                  "\"arn:aws:sns:us-east-1:123456789012:AuditTopic\",\"roleArn\":"
                  "\"arn:aws:iam::123456789012:role/Sns\",\"enabled\":true}},"
                  "\"auditCheckConfigurations\":{\"FAKE_CHECK\":{\"enabled\":true},"
                  "\"BROKEN_CHECK\":{\"enabled\":true},\"ABSENT_CHECK\":{\"enabled\":true}}}",
                  msg),
        DD_AUDITOR_OK);
}

static cJSON *run_task(fixture_t *f, const char *const *checks, size_t n, char *id)
{
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    cJSON *task = NULL;

    assert_int_equal(dd_auditor_task_start(f->a, checks, n, NULL, id, msg), DD_AUDITOR_OK);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(dd_auditor_task_describe(f->a, id, &task), DD_AUDITOR_OK);
    return task;
}

static const cJSON *detail(const cJSON *task, const char *check, const char *member)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(task, "auditDetails"),
                                                   check),
                               member);
}

/* ---- pure functions ------------------------------------------------------------------------ */

static int64_t next_run(dd_auditor_frequency_t freq, int dow, int dom, int64_t anchor,
                        int64_t after)
{
    dd_auditor_schedule_t s = {freq, dow, dom};
    int64_t next = 0;

    assert_int_equal(dd_auditor_schedule_next(&s, anchor, after, &next), DD_AUDITOR_OK);
    return next;
}

static void test_dd_auditor_schedule_next(void **state)
{
    /* 2023-11-15T00:00:00Z (Wednesday). */
    const int64_t wed = 1700006400000LL;
    dd_auditor_schedule_t bad = {DD_AUDITOR_WEEKLY, 7, 0};
    int64_t out;

    (void)state;
    assert_int_equal(next_run(DD_AUDITOR_DAILY, 0, 0, T0, T0), wed);
    /* Exactly at midnight: the next one. */
    assert_int_equal(next_run(DD_AUDITOR_DAILY, 0, 0, T0, wed), wed + DAY);
    assert_int_equal(next_run(DD_AUDITOR_WEEKLY, 3, 0, T0, T0), wed);           /* WED */
    assert_int_equal(next_run(DD_AUDITOR_WEEKLY, 2, 0, T0, T0), wed + 6 * DAY); /* TUE */
    assert_int_equal(next_run(DD_AUDITOR_WEEKLY, 0, 0, T0, T0), wed + 4 * DAY); /* SUN */
    /* BIWEEKLY from the first matching day after creation, every 14 days. */
    assert_int_equal(next_run(DD_AUDITOR_BIWEEKLY, 3, 0, T0, T0), wed);
    assert_int_equal(next_run(DD_AUDITOR_BIWEEKLY, 3, 0, T0, wed), wed + 14 * DAY);
    assert_int_equal(next_run(DD_AUDITOR_BIWEEKLY, 3, 0, T0, wed + 20 * DAY), wed + 28 * DAY);
    /* MONTHLY: 2023-11-20; 31 -> 2023-11-30 (no 31st); LAST; 1 -> 2023-12-01. */
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 20, T0, T0), wed + 5 * DAY);
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 31, T0, T0), wed + 15 * DAY);
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 0, T0, T0), wed + 15 * DAY);
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 1, T0, T0), wed + 16 * DAY);
    /* 2024-02-01 -> LAST is 2024-02-29 (leap year): 1709164800000. */
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 30, T0, 1706745600000LL), 1709164800000LL);
    /* 2023-11-14 with dayOfMonth 14 already past: 2023-12-14. */
    assert_int_equal(next_run(DD_AUDITOR_MONTHLY, 0, 14, T0, T0), 1702512000000LL);
    assert_int_equal(dd_auditor_schedule_next(&bad, T0, T0, &out), DD_AUDITOR_BAD_PARAMETER);
    assert_int_equal(dd_auditor_schedule_next(NULL, T0, T0, &out), DD_AUDITOR_BAD_PARAMETER);
}

static void test_dd_auditor_resource_key(void **state)
{
    cJSON *a = cJSON_Parse("{\"policyVersionIdentifier\":{\"policyVersionId\":\"1\","
                           "\"policyName\":\"P\"},\"account\":\"1\"}");
    cJSON *b = cJSON_Parse("{\"account\":\"1\",\"policyVersionIdentifier\":{\"policyName\":"
                           "\"P\",\"policyVersionId\":\"1\"}}");
    char *ka = NULL;
    char *kb = NULL;

    (void)state;
    assert_int_equal(dd_auditor_resource_key(a, &ka), DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_resource_key(b, &kb), DD_AUDITOR_OK);
    assert_string_equal(ka, kb);
    assert_string_equal(ka, "{\"account\":\"1\",\"policyVersionIdentifier\":{\"policyName\":"
                            "\"P\",\"policyVersionId\":\"1\"}}");
    assert_int_equal(dd_auditor_resource_key(cJSON_GetObjectItem(a, "account"), &ka),
                     DD_AUDITOR_BAD_PARAMETER);
    free(ka);
    free(kb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_dd_auditor_suppression_active(void **state)
{
    (void)state;
    assert_true(dd_auditor_suppression_active(true, 0, T0));
    assert_true(dd_auditor_suppression_active(false, T0 + 1, T0));
    assert_false(dd_auditor_suppression_active(false, T0, T0)); /* expired at that instant */
    assert_false(dd_auditor_suppression_active(false, 0, T0));
}

static void test_dd_auditor_check_details(void **state)
{
    dd_auditor_check_counts_t c = {DD_AUDIT_OK, 10, 3, 1, NULL};
    cJSON *d;

    (void)state;
    d = dd_auditor_check_details(&c);
    assert_string_equal(cJSON_GetObjectItem(d, "checkRunStatus")->valuestring,
                        "COMPLETED_NON_COMPLIANT");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(d, "checkCompliant")));
    assert_int_equal(cJSON_GetObjectItem(d, "totalResourcesCount")->valueint, 10);
    assert_int_equal(cJSON_GetObjectItem(d, "nonCompliantResourcesCount")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(d, "suppressedNonCompliantResourcesCount")->valueint, 1);
    cJSON_Delete(d);
    /* Every non-compliant resource suppressed: the check is compliant. */
    c.suppressed = 3;
    d = dd_auditor_check_details(&c);
    assert_string_equal(cJSON_GetObjectItem(d, "checkRunStatus")->valuestring,
                        "COMPLETED_COMPLIANT");
    cJSON_Delete(d);
    c.run_status = DD_AUDIT_NOT_APPLICABLE;
    c.total = c.non_compliant = c.suppressed = 0;
    c.not_applicable = "no such resources";
    d = dd_auditor_check_details(&c);
    assert_string_equal(cJSON_GetObjectItem(d, "checkRunStatus")->valuestring,
                        "COMPLETED_COMPLIANT");
    assert_string_equal(cJSON_GetObjectItem(d, "message")->valuestring, "no such resources");
    assert_null(cJSON_GetObjectItem(d, "errorCode"));
    cJSON_Delete(d);
    c.run_status = DD_AUDIT_STATE_ERROR;
    d = dd_auditor_check_details(&c);
    assert_string_equal(cJSON_GetObjectItem(d, "checkRunStatus")->valuestring, "FAILED");
    assert_non_null(cJSON_GetObjectItem(d, "errorCode"));
    assert_null(cJSON_GetObjectItem(d, "checkCompliant"));
    cJSON_Delete(d);
    assert_null(dd_auditor_check_details(NULL));
}

/* ---- configuration ------------------------------------------------------------------------ */

static void test_dd_auditor_configuration(void **state)
{
    fixture_t *f = *state;
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    cJSON *cfg = NULL;

    /* A fresh account: every check of the catalogue, disabled; no role. */
    assert_int_equal(dd_auditor_config_describe(f->a, &cfg), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cfg, "auditCheckConfigurations")), 4);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "auditCheckConfigurations"), "FAKE_CHECK"),
        "enabled")));
    assert_null(cJSON_GetObjectItem(cfg, "roleArn"));
    cJSON_Delete(cfg);
    /* Refusals. */
    assert_int_equal(configure(f,
                               "{\"auditCheckConfigurations\":{\"FAKE_CHECK\":{\"enabled\":true}}}",
                               msg),
                     DD_AUDITOR_INVALID); /* first call without a role */
    assert_int_equal(
        configure(f,
                  "{\"roleArn\":\"arn:aws:iam::1:role/r\",\"auditCheckConfigurations\":"
                  "{\"FAKE_CHECK\":{\"enabled\":false}}}",
                  msg),
        DD_AUDITOR_INVALID); /* nothing enabled */
    assert_int_equal(
        configure(f,
                  "{\"roleArn\":\"arn:aws:iam::1:role/r\",\"auditCheckConfigurations\":"
                  "{\"NOPE_CHECK\":{\"enabled\":true}}}",
                  msg),
        DD_AUDITOR_INVALID);
    assert_string_equal(msg, "NOPE_CHECK is not a valid audit check name");
    assert_int_equal(
        configure(f,
                  "{\"roleArn\":\"arn:aws:iam::1:role/r\",\"auditCheckConfigurations\":"
                  "{\"FAKE_CHECK\":{\"enabled\":true}},"
                  "\"auditNotificationTargetConfigurations\":{\"EMAIL\":{}}}",
                  msg),
        DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_config_delete(f->a, false, msg), DD_AUDITOR_NOT_FOUND);
    enable_all(f);
    /* Only the checks AWS lets configure take a configuration, with their setting in range. */
    assert_int_equal(
        configure(f,
                  "{\"auditCheckConfigurations\":{\"DEVICE_CERTIFICATE_AGE_CHECK\":"
                  "{\"enabled\":true,\"configuration\":{\"CERT_AGE_THRESHOLD_IN_DAYS\":"
                  "\"400\"}}}}",
                  msg),
        DD_AUDITOR_OK);
    assert_int_equal(
        configure(f,
                  "{\"auditCheckConfigurations\":{\"DEVICE_CERTIFICATE_AGE_CHECK\":"
                  "{\"enabled\":true,\"configuration\":{\"CERT_AGE_THRESHOLD_IN_DAYS\":"
                  "\"29\"}}}}",
                  msg),
        DD_AUDITOR_INVALID);
    assert_int_equal(configure(f,
                               "{\"auditCheckConfigurations\":{\"FAKE_CHECK\":"
                               "{\"enabled\":true,\"configuration\":{\"X\":\"1\"}}}}",
                               msg),
                     DD_AUDITOR_INVALID);
    assert_string_equal(msg, "FAKE_CHECK takes no configuration");
    assert_int_equal(dd_auditor_config_describe(f->a, &cfg), DD_AUDITOR_OK);
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg,
                                                                        "auditCheckConfigurations"),
                                                    "DEVICE_CERTIFICATE_AGE_CHECK"),
                                "configuration"),
            "CERT_AGE_THRESHOLD_IN_DAYS")
            ->valuestring,
        "400");
    cJSON_Delete(cfg);
    /* Later calls merge. */
    assert_int_equal(
        configure(f, "{\"auditCheckConfigurations\":{\"BROKEN_CHECK\":{\"enabled\":false}}}", msg),
        DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_config_describe(f->a, &cfg), DD_AUDITOR_OK);
    assert_string_equal(cJSON_GetObjectItem(cfg, "roleArn")->valuestring,
                        "arn:aws:iam::123456789012:role/Audit");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "auditCheckConfigurations"), "FAKE_CHECK"),
        "enabled")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "auditCheckConfigurations"), "BROKEN_CHECK"),
        "enabled")));
    cJSON_Delete(cfg);
    /* A check a scheduled audit uses cannot be disabled; deletion needs deleteScheduledAudits. */
    {
        cJSON *checks = cJSON_Parse("[\"FAKE_CHECK\"]");
        char arn[DD_ARN_MAX];
        assert_int_equal(dd_auditor_scheduled_put(f->a, true, "daily", "DAILY", NULL, NULL, checks,
                                                  arn, msg),
                         DD_AUDITOR_OK);
        cJSON_Delete(checks);
    }
    assert_int_equal(
        configure(f, "{\"auditCheckConfigurations\":{\"FAKE_CHECK\":{\"enabled\":false}}}", msg),
        DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_config_delete(f->a, false, msg), DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_config_delete(f->a, true, msg), DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_scheduled_delete(f->a, "daily"), DD_AUDITOR_NOT_FOUND);
    assert_int_equal(dd_auditor_config_describe(f->a, &cfg), DD_AUDITOR_OK);
    assert_null(cJSON_GetObjectItem(cfg, "roleArn"));
    cJSON_Delete(cfg);
}

/* ---- tasks, findings, suppressions --------------------------------------------------------- */

static void test_dd_auditor_task_findings_and_statistics(void **state)
{
    fixture_t *f = *state;
    static const char *const ALL[] = {"FAKE_CHECK", "BROKEN_CHECK", "ABSENT_CHECK", "FAKE_CHECK"};
    static const char *const UNKNOWN[] = {"NOPE"};
    char id[DD_AUDITOR_TASK_ID_LEN];
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    char next[DD_AUDITOR_KEY_MAX];
    dd_auditor_finding_filter_t ff;
    cJSON *task;
    cJSON *arr;
    cJSON *stats;
    cJSON *msgjson;

    /* Not enabled yet: refused, as AWS refuses it. */
    assert_int_equal(dd_auditor_task_start(f->a, ALL, 1, NULL, id, msg), DD_AUDITOR_INVALID);
    assert_non_null(strstr(msg, "not enabled"));
    enable_all(f);
    assert_int_equal(dd_auditor_task_start(f->a, UNKNOWN, 1, NULL, id, msg), DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_task_start(f->a, ALL, 0, NULL, id, msg), DD_AUDITOR_INVALID);
    task = run_task(f, ALL, 4, id); /* a repeated name runs once */
    assert_string_equal(cJSON_GetObjectItem(task, "taskStatus")->valuestring, "COMPLETED");
    assert_string_equal(cJSON_GetObjectItem(task, "taskType")->valuestring, "ON_DEMAND_AUDIT_TASK");
    assert_true(cJSON_GetObjectItem(task, "taskStartTime")->valuedouble == (double)T0 / 1000.0);
    stats = cJSON_GetObjectItem(task, "taskStatistics");
    assert_int_equal(cJSON_GetObjectItem(stats, "totalChecks")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(stats, "compliantChecks")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(stats, "nonCompliantChecks")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(stats, "failedChecks")->valueint, 1);
    assert_string_equal(detail(task, "FAKE_CHECK", "checkRunStatus")->valuestring,
                        "COMPLETED_NON_COMPLIANT");
    assert_int_equal(detail(task, "FAKE_CHECK", "totalResourcesCount")->valueint, 5);
    assert_int_equal(detail(task, "FAKE_CHECK", "nonCompliantResourcesCount")->valueint, 3);
    assert_string_equal(detail(task, "BROKEN_CHECK", "checkRunStatus")->valuestring, "FAILED");
    assert_string_equal(detail(task, "ABSENT_CHECK", "checkRunStatus")->valuestring,
                        "COMPLETED_COMPLIANT");
    assert_string_equal(detail(task, "ABSENT_CHECK", "message")->valuestring,
                        "ddlocal has no such resources");
    cJSON_Delete(task);
    /* The notification went to the enabled SNS target, in AWS's shape. */
    assert_int_equal(f->notices, 1);
    assert_string_equal(f->last_topic, "arn:aws:sns:us-east-1:123456789012:AuditTopic");
    msgjson = cJSON_Parse(f->last_message);
    assert_string_equal(cJSON_GetObjectItem(msgjson, "taskId")->valuestring, id);
    assert_int_equal(cJSON_GetObjectItem(msgjson, "nonCompliantChecksCount")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(msgjson, "totalChecksCount")->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(msgjson, "auditDetails")), 3);
    cJSON_Delete(msgjson);

    /* Findings: by task, in pages; each one AWS's AuditFinding. */
    memset(&ff, 0, sizeof(ff));
    ff.task_id = id;
    ff.start_ms = INT64_MIN;
    ff.end_ms = INT64_MAX;
    ff.suppressed = -1;
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_finding_list(f->a, &ff, NULL, 2, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_string_not_equal(next, "");
    assert_int_equal(dd_auditor_finding_list(f->a, &ff, next, 2, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    assert_string_equal(next, "");
    {
        const cJSON *first = cJSON_GetArrayItem(arr, 0);
        cJSON *one = NULL;
        assert_string_equal(cJSON_GetObjectItem(first, "checkName")->valuestring, "FAKE_CHECK");
        assert_string_equal(cJSON_GetObjectItem(first, "severity")->valuestring, "HIGH");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(first, "isSuppressed")));
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(first,
                                                                        "nonCompliantResource"),
                                                    "resourceIdentifier"),
                                "deviceCertificateId")
                ->valuestring,
            "c0");
        assert_int_equal(dd_auditor_finding_describe(
                             f->a, cJSON_GetObjectItem(first, "findingId")->valuestring, &one),
                         DD_AUDITOR_OK);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(one, "relatedResources")), 1);
        cJSON_Delete(one);
    }
    cJSON_Delete(arr);
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_finding_list(f->a, &ff, "x", 2, arr, next), DD_AUDITOR_INVALID);
    cJSON_Delete(arr);

    /* Suppress c1 indefinitely and c2 until tomorrow: the next task marks both. */
    {
        cJSON *c1 = cJSON_Parse("{\"deviceCertificateId\":\"c1\"}");
        cJSON *c2 = cJSON_Parse("{\"deviceCertificateId\":\"c2\"}");
        char id2[DD_AUDITOR_TASK_ID_LEN];
        cJSON *t2;
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c1, -1, -1, NULL,
                                                    "tok", msg),
                         DD_AUDITOR_INVALID); /* neither expiration nor indefinitely */
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c1, -1, 1, "why",
                                                    "tok", msg),
                         DD_AUDITOR_OK);
        /* The same token again: OK; another token: exists. */
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c1, -1, 1, "why",
                                                    "tok", msg),
                         DD_AUDITOR_OK);
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c1, -1, 1, "why",
                                                    "other", msg),
                         DD_AUDITOR_EXISTS);
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c2, T0 - 1, -1, NULL,
                                                    "tok2", msg),
                         DD_AUDITOR_INVALID); /* in the past */
        assert_int_equal(dd_auditor_suppression_put(f->a, true, "FAKE_CHECK", c2, T0 + DAY, -1,
                                                    NULL, "tok2", msg),
                         DD_AUDITOR_OK);
        assert_int_equal(dd_auditor_suppression_put(f->a, false, "ABSENT_CHECK", c2, T0 + DAY, -1,
                                                    NULL, NULL, msg),
                         DD_AUDITOR_NOT_FOUND);
        f->now = T0 + 1000;
        t2 = run_task(f, ALL, 1, id2);
        assert_int_equal(detail(t2, "FAKE_CHECK", "nonCompliantResourcesCount")->valueint, 3);
        assert_int_equal(detail(t2, "FAKE_CHECK", "suppressedNonCompliantResourcesCount")->valueint,
                         2);
        assert_string_equal(detail(t2, "FAKE_CHECK", "checkRunStatus")->valuestring,
                            "COMPLETED_NON_COMPLIANT");
        cJSON_Delete(t2);
        ff.task_id = id2;
        ff.suppressed = 1;
        arr = cJSON_CreateArray();
        assert_int_equal(dd_auditor_finding_list(f->a, &ff, NULL, 0, arr, next), DD_AUDITOR_OK);
        assert_int_equal(cJSON_GetArraySize(arr), 2);
        cJSON_Delete(arr);
        /* The first task's findings keep what they were. */
        ff.task_id = id;
        arr = cJSON_CreateArray();
        assert_int_equal(dd_auditor_finding_list(f->a, &ff, NULL, 0, arr, next), DD_AUDITOR_OK);
        assert_int_equal(cJSON_GetArraySize(arr), 0);
        cJSON_Delete(arr);
        /* A day later c2's suppression expired: only c1 is suppressed. */
        f->now = T0 + DAY + 1;
        t2 = run_task(f, ALL, 1, id2);
        assert_int_equal(detail(t2, "FAKE_CHECK", "suppressedNonCompliantResourcesCount")->valueint,
                         1);
        cJSON_Delete(t2);
        /* Listing: by expiration, indefinite last when ascending. */
        arr = cJSON_CreateArray();
        assert_int_equal(dd_auditor_suppression_list(f->a, NULL, NULL, true, NULL, 0, arr, next),
                         DD_AUDITOR_OK);
        assert_int_equal(cJSON_GetArraySize(arr), 2);
        assert_true(
            cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "suppressIndefinitely")));
        assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "_token"));
        cJSON_Delete(arr);
        assert_int_equal(dd_auditor_suppression_delete(f->a, "FAKE_CHECK", c2, msg), DD_AUDITOR_OK);
        assert_int_equal(dd_auditor_suppression_delete(f->a, "FAKE_CHECK", c2, msg), DD_AUDITOR_OK);
        cJSON_Delete(c1);
        cJSON_Delete(c2);
    }
    /* Cancel: a finished task is refused, an unknown one not found. */
    assert_int_equal(dd_auditor_task_cancel(f->a, id, msg), DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_task_cancel(f->a, "nope", msg), DD_AUDITOR_NOT_FOUND);
}

static void test_dd_auditor_task_list(void **state)
{
    fixture_t *f = *state;
    static const char *const FAKE[] = {"FAKE_CHECK"};
    dd_auditor_task_filter_t tf = {T0, T0 + 10 * DAY, NULL, NULL};
    char id[DD_AUDITOR_TASK_ID_LEN];
    char next[DD_AUDITOR_KEY_MAX];
    cJSON *arr = cJSON_CreateArray();
    int i;

    enable_all(f);
    for (i = 0; i < 3; i++) {
        cJSON_Delete(run_task(f, FAKE, 1, id));
        f->now += DAY;
    }
    assert_int_equal(dd_auditor_task_list(f->a, &tf, NULL, 2, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_int_equal(dd_auditor_task_list(f->a, &tf, next, 2, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    assert_string_equal(next, "");
    cJSON_Delete(arr);
    /* Time range and type filters. */
    tf.start_ms = T0 + DAY;
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_task_list(f->a, &tf, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON_Delete(arr);
    tf.type = "SCHEDULED_AUDIT_TASK";
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_task_list(f->a, &tf, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
}

/* ---- scheduled audits ------------------------------------------------------------------------ */

static void test_dd_auditor_scheduled(void **state)
{
    fixture_t *f = *state;
    cJSON *checks = cJSON_Parse("[\"FAKE_CHECK\"]");
    cJSON *disabled = cJSON_Parse("[\"NOPE\"]");
    char arn[DD_ARN_MAX];
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    char next[DD_AUDITOR_KEY_MAX];
    dd_auditor_task_filter_t tf = {0, INT64_MAX, "SCHEDULED_AUDIT_TASK", NULL};
    cJSON *doc = NULL;
    cJSON *arr;
    int ran = -1;
    int i;

    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "daily", "DAILY", NULL, NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_INVALID); /* FAKE_CHECK not enabled */
    enable_all(f);
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "daily", "DAILY", NULL, NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_OK);
    assert_string_equal(arn, "arn:aws:iot:us-east-1:123456789012:scheduledaudit/daily");
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "daily", "DAILY", NULL, NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_EXISTS);
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "w", "WEEKLY", NULL, NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_INVALID); /* no dayOfWeek */
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "m", "MONTHLY", NULL, "32", checks, arn,
                                              msg),
                     DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "d", "DAILY", "MON", NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "x", "DAILY", NULL, NULL, disabled, arn,
                                              msg),
                     DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "m", "MONTHLY", NULL, "LAST", checks, arn,
                                              msg),
                     DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_scheduled_put(f->a, false, "nope", "DAILY", NULL, NULL, NULL, arn,
                                              msg),
                     DD_AUDITOR_NOT_FOUND);
    /* Update: a new frequency with its day. */
    assert_int_equal(dd_auditor_scheduled_put(f->a, false, "m", "WEEKLY", "SUN", NULL, NULL, arn,
                                              msg),
                     DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_scheduled_describe(f->a, "m", &doc), DD_AUDITOR_OK);
    assert_string_equal(cJSON_GetObjectItem(doc, "frequency")->valuestring, "WEEKLY");
    assert_string_equal(cJSON_GetObjectItem(doc, "dayOfWeek")->valuestring, "SUN");
    assert_null(cJSON_GetObjectItem(doc, "dayOfMonth"));
    assert_null(cJSON_GetObjectItem(doc, "_anchorMs"));
    cJSON_Delete(doc);
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_scheduled_list(f->a, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "targetCheckNames"));
    cJSON_Delete(arr);
    assert_int_equal(dd_auditor_scheduled_delete(f->a, "m"), DD_AUDITOR_OK);
    /* Five at most. */
    for (i = 0; i < 4; i++) {
        char name[8];
        (void)snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(dd_auditor_scheduled_put(f->a, true, name, "WEEKLY", "FRI", NULL, checks,
                                                  arn, msg),
                         DD_AUDITOR_OK);
    }
    assert_int_equal(dd_auditor_scheduled_put(f->a, true, "s9", "DAILY", NULL, NULL, checks, arn,
                                              msg),
                     DD_AUDITOR_LIMIT);

    /* Nothing due before midnight; at midnight the daily one runs, once. */
    assert_int_equal(dd_auditor_scheduled_run_due(f->a, T0 + 1000, &ran), DD_AUDITOR_OK);
    assert_int_equal(ran, 0);
    f->now = 1700006400000LL;
    assert_int_equal(dd_auditor_scheduled_run_due(f->a, f->now, &ran), DD_AUDITOR_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(dd_auditor_scheduled_run_due(f->a, f->now, &ran), DD_AUDITOR_OK);
    assert_int_equal(ran, 0);
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_task_list(f->a, &tf, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    cJSON_Delete(arr);
    /* A week jumped over: the daily one and the four weekly (Friday) ones run once each. */
    f->now += 7 * DAY;
    assert_int_equal(dd_auditor_scheduled_run_due(f->a, f->now, &ran), DD_AUDITOR_OK);
    assert_int_equal(ran, 5);
    cJSON_Delete(checks);
    cJSON_Delete(disabled);
}

/* ---- audit mitigation actions tasks --------------------------------------------------------- */

static void create_action(fixture_t *f, const char *name, const char *params)
{
    cJSON *p = cJSON_Parse(params);
    char id[DD_MITIGATE_ID_LEN];
    char msg[DD_MITIGATE_MESSAGE_MAX];

    assert_int_equal(dd_mitigate_action_create(f->m, name, "arn:aws:iam::123456789012:role/r", p,
                                               id, msg),
                     DD_MITIGATE_OK);
    cJSON_Delete(p);
}

static void test_dd_auditor_mitigation(void **state)
{
    fixture_t *f = *state;
    static const char *const FAKE[] = {"FAKE_CHECK"};
    char id[DD_AUDITOR_TASK_ID_LEN];
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    char next[DD_AUDITOR_KEY_MAX];
    char target_json[128];
    cJSON *target;
    cJSON *mapping;
    cJSON *doc = NULL;
    cJSON *arr;
    cJSON *stats;
    dd_auditor_mitigation_filter_t mf = {0, INT64_MAX, NULL, NULL, NULL};
    const char *finding;
    cJSON *findings = cJSON_CreateArray();
    dd_auditor_finding_filter_t ff = {NULL, NULL, NULL, INT64_MIN, INT64_MAX, -1};

    enable_all(f);
    cJSON_Delete(run_task(f, FAKE, 1, id));
    create_action(f, "deactivate",
                  "{\"updateDeviceCertificateParams\":{\"action\":\"DEACTIVATE\"}}");
    create_action(f, "publish",
                  "{\"publishFindingToSnsParams\":{\"topicArn\":"
                  "\"arn:aws:sns:us-east-1:123456789012:T\"}}");
    (void)snprintf(target_json, sizeof(target_json), "{\"auditTaskId\":\"%s\"}", id);
    target = cJSON_Parse(target_json);
    mapping = cJSON_Parse("{\"FAKE_CHECK\":[\"deactivate\",\"publish\"]}");
    /* Refusals: unknown action, unknown check, bad target. */
    {
        cJSON *bad = cJSON_Parse("{\"FAKE_CHECK\":[\"nope\"]}");
        cJSON *badt = cJSON_Parse("{\"auditTaskId\":\"nope\"}");
        assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m0", target, bad, "t", msg),
                         DD_AUDITOR_INVALID);
        assert_string_equal(msg, "Mitigation action nope does not exist");
        assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m0", badt, mapping, "t", msg),
                         DD_AUDITOR_INVALID);
        cJSON_Delete(bad);
        cJSON_Delete(badt);
    }
    assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m1", target, mapping, "tok", msg),
                     DD_AUDITOR_OK);
    /* A retry with the same token: OK, nothing run again; another token: TaskAlreadyExists. */
    assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m1", target, mapping, "tok", msg),
                     DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m1", target, mapping, "tik", msg),
                     DD_AUDITOR_TASK_EXISTS);
    assert_int_equal(dd_auditor_mitigation_describe(f->a, "m1", &doc), DD_AUDITOR_OK);
    assert_string_equal(cJSON_GetObjectItem(doc, "taskStatus")->valuestring, "COMPLETED");
    stats = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "taskStatistics"), "FAKE_CHECK");
    assert_int_equal(cJSON_GetObjectItem(stats, "totalFindingsCount")->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "actionsDefinition")), 2);
    assert_null(cJSON_GetObjectItem(doc, "_token"));
    cJSON_Delete(doc);

    /* One execution per finding and action: the first ran (whatever its executor did), the
     * second was skipped if the first failed. */
    ff.task_id = id;
    assert_int_equal(dd_auditor_finding_list(f->a, &ff, NULL, 0, findings, next), DD_AUDITOR_OK);
    finding = cJSON_GetObjectItem(cJSON_GetArrayItem(findings, 0), "findingId")->valuestring;
    arr = cJSON_CreateArray();
    assert_int_equal(dd_auditor_execution_list(f->a, "m1", finding, NULL, NULL, 0, arr, next),
                     DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    {
        const cJSON *e0 = cJSON_GetArrayItem(arr, 0);
        const cJSON *e1 = cJSON_GetArrayItem(arr, 1);
        assert_string_equal(cJSON_GetObjectItem(e0, "actionName")->valuestring, "deactivate");
        assert_string_equal(cJSON_GetObjectItem(e0, "findingId")->valuestring, finding);
        if (strcmp(cJSON_GetObjectItem(e0, "status")->valuestring, "FAILED") == 0) {
            assert_non_null(cJSON_GetObjectItem(e0, "errorCode"));
            assert_string_equal(cJSON_GetObjectItem(e1, "status")->valuestring, "SKIPPED");
        } else {
            assert_string_equal(cJSON_GetObjectItem(e0, "status")->valuestring, "COMPLETED");
        }
    }
    cJSON_Delete(arr);
    /* Listing by audit task and by finding. */
    arr = cJSON_CreateArray();
    mf.audit_task_id = id;
    mf.finding_id = finding;
    assert_int_equal(dd_auditor_mitigation_list(f->a, &mf, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    cJSON_Delete(arr);
    arr = cJSON_CreateArray();
    mf.finding_id = "other";
    assert_int_equal(dd_auditor_mitigation_list(f->a, &mf, NULL, 0, arr, next), DD_AUDITOR_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
    /* By finding ids, with a reason-code filter refused without a task. */
    {
        char json[256];
        cJSON *by_id;
        (void)snprintf(json, sizeof(json), "{\"findingIds\":[\"%s\"]}", finding);
        by_id = cJSON_Parse(json);
        assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m2", by_id, mapping, "t", msg),
                         DD_AUDITOR_OK);
        cJSON_Delete(by_id);
        by_id = cJSON_Parse("{\"findingIds\":[\"nope\"]}");
        assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m3", by_id, mapping, "t", msg),
                         DD_AUDITOR_INVALID);
        cJSON_Delete(by_id);
        (void)snprintf(json, sizeof(json),
                       "{\"auditTaskId\":\"%s\",\"auditCheckToReasonCodeFilter\":{\"FAKE_CHECK\":"
                       "[\"ODD\"]}}",
                       id);
        by_id = cJSON_Parse(json);
        assert_int_equal(dd_auditor_mitigation_start(f->a, f->m, "m4", by_id, mapping, "t", msg),
                         DD_AUDITOR_OK);
        cJSON_Delete(by_id);
        assert_int_equal(dd_auditor_mitigation_describe(f->a, "m4", &doc), DD_AUDITOR_OK);
        stats = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "taskStatistics"), "FAKE_CHECK");
        assert_int_equal(cJSON_GetObjectItem(stats, "totalFindingsCount")->valueint, 1);
        cJSON_Delete(doc);
    }
    assert_int_equal(dd_auditor_mitigation_cancel(f->a, "m1", msg), DD_AUDITOR_INVALID);
    assert_int_equal(dd_auditor_mitigation_cancel(f->a, "nope", msg), DD_AUDITOR_NOT_FOUND);
    cJSON_Delete(findings);
    cJSON_Delete(target);
    cJSON_Delete(mapping);
}

static void test_dd_auditor_real_catalogue(void **state)
{
    fixture_t *f = *state;
    dd_auditor_config_t cfg;
    dd_auditor_t *real = NULL;
    cJSON *doc = NULL;
    size_t n = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.db = f->db;
    cfg.store = f->store;
    cfg.registry = &f->registry;
    cfg.now_ms = fixture_now;
    cfg.clock_ctx = f;
    assert_int_equal(dd_auditor_open(&cfg, &real), DD_AUDITOR_OK);
    assert_int_equal(dd_auditor_config_describe(real, &doc), DD_AUDITOR_OK);
    (void)dd_audit_check_catalogue(&n);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "auditCheckConfigurations")),
                     (int)n);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "auditCheckConfigurations"),
                                        "LOGGING_DISABLED_CHECK"));
    cJSON_Delete(doc);
    dd_auditor_close(real);
    assert_int_equal(dd_auditor_open(NULL, &real), DD_AUDITOR_BAD_PARAMETER);
    assert_string_equal(dd_auditor_strerror(DD_AUDITOR_LIMIT), "limit exceeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_auditor_schedule_next),
        cmocka_unit_test(test_dd_auditor_resource_key),
        cmocka_unit_test(test_dd_auditor_suppression_active),
        cmocka_unit_test(test_dd_auditor_check_details),
        cmocka_unit_test_setup_teardown(test_dd_auditor_configuration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_auditor_task_findings_and_statistics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_auditor_task_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_auditor_scheduled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_auditor_mitigation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_auditor_real_catalogue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
