#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_audit_check.h"
#include "dd_clock.h"
#include "dd_logopts.h"
#include "dd_registry.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"

/* A per-thing policy: every resource is the device's own, through the thing name variable. */
static const char *PER_THING =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
    "\"Resource\":\"" ARN "client/${iot:Connection.Thing.ThingName}\"},"
    "{\"Effect\":\"Allow\",\"Action\":[\"iot:Publish\",\"iot:Receive\"],"
    "\"Resource\":\"" ARN "topic/$aws/things/${iot:Connection.Thing.ThingName}/*\"},"
    "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\","
    "\"Resource\":\"" ARN "topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/*\"},"
    "{\"Effect\":\"Allow\",\"Action\":[\"iot:GetThingShadow\",\"iot:UpdateThingShadow\"],"
    "\"Resource\":\"" ARN "thing/${iot:Connection.Thing.ThingName}\"}]}";

typedef struct fixture {
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_audit_world_t world;
    int findings;
    char code[128];
    char reason[1024];
    char type[64];
    char policy[128];
    char version[32];
    char account[32];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    assert_int_equal(dd_registry_open(&f->reg, f->db, NULL, &f->clock), DD_REGISTRY_OK);
    f->world.registry = &f->reg;
    f->world.now_ms = 1700000000000LL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sqlite3_close(f->db);
    free(f);
    return 0;
}

static int sink(void *ctx, const dd_audit_finding_t *finding)
{
    fixture_t *f = ctx;
    const cJSON *pv =
        cJSON_GetObjectItemCaseSensitive(finding->resource_identifier, "policyVersionIdentifier");
    const cJSON *acct = cJSON_GetObjectItemCaseSensitive(finding->resource_identifier, "account");

    f->findings++;
    (void)snprintf(f->code, sizeof(f->code), "%s", finding->reason_code);
    (void)snprintf(f->reason, sizeof(f->reason), "%s", finding->reason);
    (void)snprintf(f->type, sizeof(f->type), "%s", finding->resource_type);
    if (pv != NULL) {
        (void)snprintf(f->policy, sizeof(f->policy), "%s",
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pv, "policyName")));
        (void)snprintf(f->version, sizeof(f->version), "%s",
                       cJSON_GetStringValue(
                           cJSON_GetObjectItemCaseSensitive(pv, "policyVersionId")));
    }
    if (cJSON_IsString(acct)) {
        (void)snprintf(f->account, sizeof(f->account), "%s", acct->valuestring);
    }
    return 0;
}

static int stop_sink(void *ctx, const dd_audit_finding_t *finding)
{
    (void)finding;
    ((fixture_t *)ctx)->findings++;
    return 1;
}

static void add_policy(fixture_t *f, const char *name, const char *doc)
{
    dd_registry_error_t err;

    assert_int_equal(dd_registry_policy_create(&f->reg, name, doc, &err), DD_REGISTRY_OK);
}

static char *read_fixture(const char *name)
{
    char path[512];
    FILE *fp;
    char *buf = calloc(1, 8192);
    size_t n;

    (void)snprintf(path, sizeof(path), "%s/fixtures/policies/%s", DD_SOURCE_DIR, name);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(buf, 1, 8191, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static dd_audit_status_t run(fixture_t *f, const char *check, int64_t *checked)
{
    f->findings = 0;
    f->code[0] = '\0';
    return dd_audit_check_run(dd_audit_check_find(check), &f->world, sink, f, checked);
}

static void one_policy(fixture_t *f, const char *check, const char *doc, int expected,
                       const char *code)
{
    int64_t checked = -1;

    add_policy(f, "P", doc);
    assert_int_equal(run(f, check, &checked), DD_AUDIT_OK);
    assert_int_equal(checked, 1);
    assert_int_equal(f->findings, expected);
    if (code != NULL) {
        assert_string_equal(f->code, code);
    }
}

/* ---- IOT_POLICY_OVERLY_PERMISSIVE_CHECK ---- */

#define PERMISSIVE "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"
#define BROAD "ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS"

static void test_dd_audit_checks_policy_workshop_policy_found(void **state)
{
    fixture_t *f = *state;
    char *doc = read_fixture("device-policy-allow-all.json");
    int64_t checked = 0;

    add_policy(f, "DevicePolicy", doc);
    add_policy(f, "PerThing", PER_THING);
    free(doc);
    assert_int_equal(run(f, PERMISSIVE, &checked), DD_AUDIT_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(f->findings, 1);
    assert_string_equal(f->code, BROAD);
    assert_string_equal(f->type, "IOT_POLICY");
    assert_string_equal(f->policy, "DevicePolicy");
    assert_string_equal(f->version, "1");
    assert_non_null(strstr(f->reason, "iot:Connect"));
    assert_non_null(strstr(f->reason, "iot:UpdateThingShadow"));
}

static void test_dd_audit_checks_policy_per_thing_compliant(void **state)
{
    one_policy(*state, PERMISSIVE, PER_THING, 0, NULL);
}

static void test_dd_audit_checks_policy_connect_any_client(void **state)
{
    fixture_t *f = *state;

    one_policy(f, PERMISSIVE,
               "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
               "\"Action\":\"iot:Connect\",\"Resource\":\"" ARN "client/*\"}}",
               1, BROAD);
    assert_string_equal(f->reason, "Policy allows broad access to IoT data plane actions: "
                                   "[iot:Connect].");
}

static void test_dd_audit_checks_policy_shadow_of_any_thing(void **state)
{
    fixture_t *f = *state;

    one_policy(f, PERMISSIVE,
               "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
               "\"Action\":\"iot:Publish\","
               "\"Resource\":\"" ARN "topic/$aws/things/*/shadow/update\"}]}",
               1, BROAD);
    assert_non_null(strstr(f->reason, "[iot:Publish]"));
}

static void test_dd_audit_checks_policy_action_wildcard(void **state)
{
    fixture_t *f = *state;

    /* iot:*Shadow covers the shadow actions; thing/ + star is every device's shadow. */
    one_policy(f, PERMISSIVE,
               "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
               "\"Action\":\"iot:*Shadow\",\"Resource\":[\"" ARN "thing/*\"]}]}",
               1, BROAD);
    assert_non_null(strstr(f->reason, "iot:GetThingShadow"));
    assert_null(strstr(f->reason, "iot:Connect"));
}

static void test_dd_audit_checks_policy_specific_resources_compliant(void **state)
{
    /* Exact resources, a wildcard on a resource type the action does not use, a Deny. */
    one_policy(*state, PERMISSIVE,
               "{\"Version\":\"2012-10-17\",\"Statement\":["
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
               "\"Resource\":\"" ARN "client/sensor-1\"},"
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
               "\"Resource\":\"" ARN "topic/*\"},"
               "{\"Effect\":\"Deny\",\"Action\":\"iot:*\",\"Resource\":\"*\"},"
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\","
               "\"Resource\":\"" ARN "topic/${iot:ClientId}/*\"}]}",
               0, NULL);
}

static void test_dd_audit_checks_policy_escaped_star_is_literal(void **state)
{
    one_policy(*state, PERMISSIVE,
               "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
               "\"Action\":\"iot:Publish\",\"Resource\":\"" ARN "topic/a/${*}\"}]}",
               0, NULL);
}

static void test_dd_audit_checks_policy_default_version_read(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char vid[DD_REGISTRY_VERSION_ID_MAX];
    char *doc = read_fixture("device-policy-allow-all.json");
    int64_t checked = 0;

    add_policy(f, "DevicePolicy", doc);
    free(doc);
    /* A compliant version 2 made default: the policy is compliant. */
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "DevicePolicy", PER_THING, true,
                                                       vid, sizeof(vid), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(run(f, PERMISSIVE, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 0);
    /* Back to version 1: found again, with its version id. */
    assert_int_equal(dd_registry_policy_version_set_default(&f->reg, "DevicePolicy", "1", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(run(f, PERMISSIVE, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 1);
    assert_string_equal(f->version, "1");
}

static void test_dd_audit_checks_policy_sink_stops(void **state)
{
    fixture_t *f = *state;
    char *doc = read_fixture("device-policy-allow-all.json");
    int64_t checked = 0;

    add_policy(f, "A", doc);
    add_policy(f, "B", doc);
    free(doc);
    f->findings = 0;
    assert_int_equal(dd_audit_check_run(dd_audit_check_find(PERMISSIVE), &f->world, stop_sink, f,
                                        &checked),
                     DD_AUDIT_STOPPED);
    assert_int_equal(f->findings, 1);
}

/* ---- IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK ---- */

#define MISCONF "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK"

static void test_dd_audit_checks_policy_mqtt_wildcard_in_deny(void **state)
{
    one_policy(*state, MISCONF,
               "{\"Version\":\"2012-10-17\",\"Statement\":["
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/*\"},"
               "{\"Effect\":\"Deny\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/control_room/#\"},"
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Receive\","
               "\"Resource\":\"" ARN "topic/building/*\"}]}",
               1, "POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT");
}

static void test_dd_audit_checks_policy_deny_bypassed(void **state)
{
    one_policy(*state, MISCONF,
               "{\"Version\":\"2012-10-17\",\"Statement\":["
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/*\"},"
               "{\"Effect\":\"Deny\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/control_room/*\"},"
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Receive\","
               "\"Resource\":\"" ARN "topic/building/*\"}]}",
               1, "TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS");
}

static void test_dd_audit_checks_policy_deny_with_receive_compliant(void **state)
{
    /* AWS's corrected policy: the Deny of iot:Receive keeps the topics away. */
    one_policy(*state, MISCONF,
               "{\"Version\":\"2012-10-17\",\"Statement\":["
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/*\"},"
               "{\"Effect\":\"Deny\",\"Action\":\"iot:Subscribe\","
               "\"Resource\":\"" ARN "topicfilter/building/control_room/*\"},"
               "{\"Effect\":\"Allow\",\"Action\":\"iot:Receive\","
               "\"Resource\":\"" ARN "topic/building/*\"},"
               "{\"Effect\":\"Deny\",\"Action\":\"iot:Receive\","
               "\"Resource\":\"" ARN "topic/building/control_room/*\"}]}",
               0, NULL);
}

static void test_dd_audit_checks_policy_misconf_workshop_compliant(void **state)
{
    fixture_t *f = *state;
    char *doc = read_fixture("device-policy-allow-all.json");

    one_policy(f, MISCONF, doc, 0, NULL);
    free(doc);
}

/* ---- LOGGING_DISABLED_CHECK ---- */

#define LOGGING "LOGGING_DISABLED_CHECK"

static void test_dd_audit_checks_policy_logging_never_set(void **state)
{
    fixture_t *f = *state;
    int64_t checked = 0;

    assert_int_equal(run(f, LOGGING, &checked), DD_AUDIT_OK);
    assert_int_equal(checked, 1);
    assert_int_equal(f->findings, 1);
    assert_string_equal(f->type, "ACCOUNT_SETTINGS");
    assert_string_equal(f->account, "123456789012");
    assert_string_equal(f->code, "LOGGING_DISABLED");
}

static void test_dd_audit_checks_policy_logging_v2_enabled(void **state)
{
    fixture_t *f = *state;
    dd_logopts_v2_t v2;
    int64_t checked = 0;

    memset(&v2, 0, sizeof(v2));
    v2.has_level = true;
    v2.default_level = DD_LOGOPTS_INFO;
    assert_int_equal(dd_logopts_set_v2(&f->reg, &v2, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(run(f, LOGGING, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 0);
    /* disableAllLogs turns it off again. */
    v2.disable_all = true;
    assert_int_equal(dd_logopts_set_v2(&f->reg, &v2, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(run(f, LOGGING, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 1);
    assert_non_null(strstr(f->reason, "disableAllLogs"));
}

static void test_dd_audit_checks_policy_logging_v1(void **state)
{
    fixture_t *f = *state;
    dd_logopts_v1_t v1;
    int64_t checked = 0;

    memset(&v1, 0, sizeof(v1));
    (void)snprintf(v1.role_arn, sizeof(v1.role_arn), "arn:aws:iam::123456789012:role/IoTLogging");
    v1.has_level = true;
    v1.level = DD_LOGOPTS_DISABLED;
    assert_int_equal(dd_logopts_set_v1(&f->reg, &v1, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(run(f, LOGGING, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 1);
    v1.level = DD_LOGOPTS_WARN;
    assert_int_equal(dd_logopts_set_v1(&f->reg, &v1, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(run(f, LOGGING, &checked), DD_AUDIT_OK);
    assert_int_equal(f->findings, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_dd_audit_checks_policy_workshop_policy_found),
        T(test_dd_audit_checks_policy_per_thing_compliant),
        T(test_dd_audit_checks_policy_connect_any_client),
        T(test_dd_audit_checks_policy_shadow_of_any_thing),
        T(test_dd_audit_checks_policy_action_wildcard),
        T(test_dd_audit_checks_policy_specific_resources_compliant),
        T(test_dd_audit_checks_policy_escaped_star_is_literal),
        T(test_dd_audit_checks_policy_default_version_read),
        T(test_dd_audit_checks_policy_sink_stops),
        T(test_dd_audit_checks_policy_mqtt_wildcard_in_deny),
        T(test_dd_audit_checks_policy_deny_bypassed),
        T(test_dd_audit_checks_policy_deny_with_receive_compliant),
        T(test_dd_audit_checks_policy_misconf_workshop_compliant),
        T(test_dd_audit_checks_policy_logging_never_set),
        T(test_dd_audit_checks_policy_logging_v2_enabled),
        T(test_dd_audit_checks_policy_logging_v1),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
