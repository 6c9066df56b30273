/*
 * The API end to end without HTTP (dd_api_call) on a real data dir: routing to
 * handlers, error mapping, hooks, pagination, identity and Defender
 * operations. The HTTP layer is covered by the CLI/boto3 integration tests;
 * one test here starts the listener to check the port and shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dd_api.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_pipeline.h"
#include "dd_store.h"

typedef struct env {
    char dir[64];
    dd_pipeline_t p;
    dd_api_t *api;
    int registry_calls;
    int defender_calls;
    const char *principal;
} env_t;

static void hook_registry(void *ctx)
{
    ((env_t *)ctx)->registry_calls++;
}

static void hook_defender(void *ctx)
{
    ((env_t *)ctx)->defender_calls++;
}

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    dd_pipeline_config_t cfg;

    (void)snprintf(e->dir, sizeof(e->dir), "/tmp/dd_api_XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", e->dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:1700000000000");
    (void)snprintf(cfg.mqtt_endpoint, sizeof(cfg.mqtt_endpoint), "127.0.0.1:18883");
    assert_int_equal(dd_pipeline_open(&cfg, &e->p), DD_PIPELINE_OK);
    e->p.hook_ctx = e;
    e->p.registry_changed = hook_registry;
    e->p.defender_changed = hook_defender;
    assert_int_equal(dd_api_create(&e->p, &e->api), DD_API_OK);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    char cmd[128];

    dd_api_stop(e->api);
    dd_pipeline_close(&e->p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

static const char *header(void *ctx, const char *name)
{
    env_t *e = ctx;

    return strcasecmp(name, "x-amzn-principal") == 0 ? e->principal : NULL;
}

/* Calls the API with a body of body_len bytes (it may hold NULs); returns the parsed body
 * (caller deletes) and the status. */
static cJSON *call_n(env_t *e, const char *method, const char *uri, const char *body,
                     size_t body_len, int *status, char *code, size_t code_len)
{
    dd_api_request_t req;
    dd_api_response_t resp;
    cJSON *json;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.uri = uri;
    req.body = body;
    req.body_len = body_len;
    req.header = header;
    req.header_ctx = e;
    assert_int_equal(dd_api_call(e->api, &req, &resp), DD_API_OK);
    assert_int_equal(strlen(resp.request_id), 36);
    *status = resp.status;
    if (code != NULL) {
        (void)snprintf(code, code_len, "%s", resp.error_code);
    }
    json = cJSON_Parse(resp.body);
    assert_non_null(json);
    dd_api_response_free(&resp);
    return json;
}

/* Calls the API; returns the parsed body (caller deletes) and the status. */
static cJSON *call(env_t *e, const char *method, const char *uri, const char *body, int *status,
                   char *code, size_t code_len)
{
    return call_n(e, method, uri, body, body != NULL ? strlen(body) : 0, status, code, code_len);
}

static void expect_error(env_t *e, const char *method, const char *uri, const char *body,
                         int want_status, const char *want_code, const char *want_text)
{
    char code[64];
    int status;
    cJSON *j = call(e, method, uri, body, &status, code, sizeof(code));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");

    if (status != want_status || strcmp(code, want_code) != 0 || !cJSON_IsString(m) ||
        (want_text != NULL && strstr(m->valuestring, want_text) == NULL)) {
        char *text = cJSON_PrintUnformatted(j);
        print_error("%s %s -> %d %s %s\n", method, uri, status, code, text);
        free(text);
        fail();
    }
    cJSON_Delete(j);
}

static cJSON *expect_ok(env_t *e, const char *method, const char *uri, const char *body)
{
    char code[64];
    int status;
    cJSON *j = call(e, method, uri, body, &status, code, sizeof(code));

    if (status != 200) {
        char *text = cJSON_PrintUnformatted(j);
        print_error("%s %s -> %d %s %s\n", method, uri, status, code, text);
        free(text);
        fail();
    }
    return j;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_dd_api_unknown_and_unimplemented(void **state)
{
    env_t *e = *state;

    expect_error(e, "GET", "/jobs", NULL, 400, "InvalidRequestException",
                 "ddlocal does not implement ListJobs");
    expect_error(e, "GET", "/no/such/path", NULL, 400, "InvalidRequestException",
                 "no AWS IoT operation matches GET /no/such/path");
    expect_error(e, "DELETE", "/endpoint", NULL, 400, "InvalidRequestException", "takes GET");
    expect_error(e, "GET", "/things/a%zz", NULL, 400, "InvalidRequestException", "percent");
    expect_error(e, "POST", "/things/T1", "{not json", 400, "InvalidRequestException", "JSON");
    expect_error(e, "POST", "/things/T1", "[1]", 400, "InvalidRequestException", "JSON");
    assert_int_equal(dd_api_operation_support("ListJobs", NULL), DD_API_NOT_SUPPORTED);
    assert_int_equal(dd_api_operation_support("DescribeThing", NULL), DD_API_SUPPORTED);
    {
        const char *note = NULL;
        assert_int_equal(dd_api_operation_support("DescribeEndpoint", &note), DD_API_PARTIAL);
        assert_true(strlen(note) > 0);
    }
    assert_int_equal(e->registry_calls, 0);
}

static void test_dd_api_things_errors_and_hooks(void **state)
{
    env_t *e = *state;
    cJSON *j;
    char code[64];
    int status;

    j = expect_ok(e, "POST", "/things/Thing01", "{}");
    assert_string_equal(str(j, "thingArn"), "arn:aws:iot:us-east-1:123456789012:thing/Thing01");
    assert_int_equal(strlen(str(j, "thingId")), 36);
    cJSON_Delete(j);
    assert_int_equal(e->registry_calls, 1);
    /* Same thing again: idempotent. Different attributes: 409 with the id and ARN. */
    cJSON_Delete(expect_ok(e, "POST", "/things/Thing01", NULL));
    j = call(e, "POST", "/things/Thing01", "{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}}",
             &status, code, sizeof(code));
    assert_int_equal(status, 409);
    assert_string_equal(code, "ResourceAlreadyExistsException");
    assert_int_equal(strlen(str(j, "resourceId")), 36);
    assert_string_equal(str(j, "resourceArn"), "arn:aws:iot:us-east-1:123456789012:thing/Thing01");
    cJSON_Delete(j);
    expect_error(e, "GET", "/things/Nope", NULL, 404, "ResourceNotFoundException",
                 "Thing Nope does not exist");
    expect_error(e, "POST", "/things/a%20b", NULL, 400, "InvalidRequestException",
                 "Value 'a b' at 'thingName'");
    expect_error(e, "POST", "/things/T2", "{\"attributePayload\":{\"attributes\":{\"k\":\"a b\"}}}",
                 400, "InvalidRequestException", "regular expression");
    expect_error(e, "POST", "/things/T2", "{\"billingGroupName\":\"bg\"}", 404,
                 "ResourceNotFoundException", "Billing group");
    expect_error(e, "DELETE", "/things/Thing01?expectedVersion=7", NULL, 409,
                 "VersionConflictException", NULL);
    expect_error(e, "DELETE", "/things/Thing01?expectedVersion=x", NULL, 400,
                 "InvalidRequestException", "expectedVersion");
    j = expect_ok(e, "GET", "/things/Thing01", NULL);
    assert_string_equal(str(j, "defaultClientId"), "Thing01");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "attributes")));
    cJSON_Delete(j);
    cJSON_Delete(expect_ok(e, "DELETE", "/things/Thing01?expectedVersion=1", NULL));
    cJSON_Delete(expect_ok(e, "DELETE", "/things/Thing01", NULL)); /* already gone: 200 */
}

static void test_dd_api_pagination_exactly_once(void **state)
{
    env_t *e = *state;
    char uri[1400];
    char name[32];
    char token[1200] = "";
    int seen[23];
    int pages = 0;
    int i;

    memset(seen, 0, sizeof(seen));
    for (i = 0; i < 23; i++) {
        (void)snprintf(uri, sizeof(uri), "/things/T%02d", i);
        cJSON_Delete(expect_ok(e, "POST", uri, "{}"));
    }
    do {
        cJSON *j;
        const cJSON *item;
        const cJSON *next;
        if (token[0] != '\0') {
            char enc[1300];
            size_t k;
            size_t o = 0;
            for (k = 0; token[k] != '\0'; k++) {
                /* percent-encode '+', '/', '=' as botocore does */
                if (strchr("+/=", token[k]) != NULL) {
                    o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02X",
                                          (unsigned char)token[k]);
                } else {
                    enc[o++] = token[k];
                }
            }
            enc[o] = '\0';
            (void)snprintf(uri, sizeof(uri), "/things?maxResults=5&nextToken=%s", enc);
        } else {
            (void)snprintf(uri, sizeof(uri), "/things?maxResults=5");
        }
        j = expect_ok(e, "GET", uri, NULL);
        cJSON_ArrayForEach (item, cJSON_GetObjectItemCaseSensitive(j, "things")) {
            int n = atoi(str(item, "thingName") + 1);
            assert_true(n >= 0 && n < 23);
            seen[n]++;
        }
        next = cJSON_GetObjectItemCaseSensitive(j, "nextToken");
        (void)snprintf(token, sizeof(token), "%s", cJSON_IsString(next) ? next->valuestring : "");
        cJSON_Delete(j);
        pages++;
    } while (token[0] != '\0' && pages < 20);
    assert_int_equal(pages, 5);
    for (i = 0; i < 23; i++) {
        assert_int_equal(seen[i], 1);
    }
    expect_error(e, "GET", "/things?maxResults=0", NULL, 400, "InvalidRequestException",
                 "greater than or equal to 1");
    expect_error(e, "GET", "/things?maxResults=251", NULL, 400, "InvalidRequestException",
                 "less than or equal to 250");
    expect_error(e, "GET", "/things?nextToken=bogus", NULL, 400, "InvalidRequestException",
                 "nextToken");
    (void)name;
}

static const char *DENY_ALL =
    "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":"
    "[{\\\"Effect\\\":\\\"Deny\\\",\\\"Action\\\":\\\"iot:*\\\",\\\"Resource\\\":"
    "\\\"*\\\"}]}\"}";

static void test_dd_api_identity(void **state)
{
    env_t *e = *state;
    char uri[256];
    char arn[256];
    char id[80];
    cJSON *j;
    const cJSON *kp;
    int before;

    cJSON_Delete(expect_ok(e, "POST", "/things/Thing03", "{}"));
    j = expect_ok(e, "POST", "/keys-and-certificate?setAsActive=true", NULL);
    (void)snprintf(arn, sizeof(arn), "%s", str(j, "certificateArn"));
    (void)snprintf(id, sizeof(id), "%s", str(j, "certificateId"));
    assert_int_equal(strlen(id), 64);
    assert_non_null(strstr(str(j, "certificatePem"), "BEGIN CERTIFICATE"));
    kp = cJSON_GetObjectItemCaseSensitive(j, "keyPair");
    assert_non_null(strstr(str(kp, "PrivateKey"), "PRIVATE KEY"));
    assert_non_null(strstr(str(kp, "PublicKey"), "BEGIN PUBLIC KEY"));
    cJSON_Delete(j);

    e->principal = arn;
    cJSON_Delete(expect_ok(e, "PUT", "/things/Thing03/principals", NULL));
    j = expect_ok(e, "GET", "/things/Thing03/principals", NULL);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "principals"), 0)->valuestring, arn);
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/principals/things", NULL);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "things"), 0)->valuestring,
        "Thing03");
    cJSON_Delete(j);
    e->principal = "arn:aws:iam::123456789012:user/bob";
    expect_error(e, "PUT", "/things/Thing03/principals", NULL, 400, "InvalidRequestException",
                 "not a certificate ARN");
    e->principal = NULL;
    expect_error(e, "PUT", "/things/Thing03/principals", NULL, 400, "InvalidRequestException",
                 "principal");

    (void)snprintf(uri, sizeof(uri), "/certificates/%s", id);
    j = expect_ok(e, "GET", uri, NULL);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(j, "certificateDescription"),
                            "status"),
                        "ACTIVE");
    cJSON_Delete(j);
    before = e->registry_calls;
    (void)snprintf(uri, sizeof(uri), "/certificates/%s?newStatus=INACTIVE", id);
    cJSON_Delete(expect_ok(e, "PUT", uri, NULL));
    assert_int_equal(e->registry_calls, before + 1); /* pushed to the shim before the reply */
    (void)snprintf(uri, sizeof(uri), "/certificates/%s?newStatus=REVOKED", id);
    cJSON_Delete(expect_ok(e, "PUT", uri, NULL));
    (void)snprintf(uri, sizeof(uri), "/certificates/%s?newStatus=ACTIVE", id);
    expect_error(e, "PUT", uri, NULL, 406, "CertificateStateException", "REVOKED");
    (void)snprintf(uri, sizeof(uri), "/certificates/%s?newStatus=BOGUS", id);
    expect_error(e, "PUT", uri, NULL, 400, "InvalidRequestException", "enum value set");
    expect_error(e, "GET", "/certificates/abc", NULL, 400, "InvalidRequestException", NULL);
    (void)snprintf(uri, sizeof(uri), "/certificates/%s", id);
    expect_error(e, "DELETE", uri, NULL, 409, "DeleteConflictException", "attached");
    j = expect_ok(e, "GET", "/certificates?pageSize=1", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "certificates")), 1);
    cJSON_Delete(j);

    /* Policies and the percent-encoded target ARN in a path. */
    cJSON_Delete(expect_ok(e, "POST", "/thing-groups/IsolatedDevices", "{}"));
    cJSON_Delete(expect_ok(e, "POST", "/policies/DenyAll", DENY_ALL));
    j = call(e, "POST", "/policies/DenyAll", DENY_ALL, &before, NULL, 0);
    assert_int_equal(before, 409);
    assert_string_equal(str(j, "resourceArn"), "arn:aws:iot:us-east-1:123456789012:policy/DenyAll");
    cJSON_Delete(j);
    expect_error(e, "POST", "/policies/Bad", "{\"policyDocument\":\"{}\"}", 400,
                 "MalformedPolicyException", NULL);
    cJSON_Delete(expect_ok(e, "PUT", "/target-policies/DenyAll",
                           "{\"target\":\"arn:aws:iot:us-east-1:123456789012:thinggroup/"
                           "IsolatedDevices\"}"));
    j = expect_ok(e, "POST",
                  "/attached-policies/"
                  "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Athinggroup%2FIsolatedDevices",
                  NULL);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "policies"), 0),
                            "policyName"),
                        "DenyAll");
    cJSON_Delete(j);
    expect_error(e, "DELETE", "/policies/DenyAll", NULL, 409, "DeleteConflictException", NULL);
    j = expect_ok(e, "GET", "/endpoint?endpointType=iot%3AData-ATS", NULL);
    assert_string_equal(str(j, "endpointAddress"), "127.0.0.1:18883");
    cJSON_Delete(j);
    expect_error(e, "GET", "/endpoint?endpointType=bogus", NULL, 400, "InvalidRequestException",
                 NULL);
}

static void test_dd_api_groups(void **state)
{
    env_t *e = *state;
    cJSON *j;
    const cJSON *meta;
    int status;
    char code[64];

    cJSON_Delete(expect_ok(e, "POST", "/things/T1", "{}"));
    cJSON_Delete(expect_ok(e, "POST", "/thing-groups/Root",
                           "{\"thingGroupProperties\":{\"thingGroupDescription\":\"r\","
                           "\"attributePayload\":{\"attributes\":{\"a\":\"1\",\"b\":\"2\"}}}}"));
    cJSON_Delete(expect_ok(e, "POST", "/thing-groups/Child", "{\"parentGroupName\":\"Root\"}"));
    j = expect_ok(e, "GET", "/thing-groups/Child", NULL);
    meta = cJSON_GetObjectItemCaseSensitive(j, "thingGroupMetadata");
    assert_string_equal(str(meta, "parentGroupName"), "Root");
    assert_string_equal(
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(meta, "rootToParentThingGroups"),
                               0),
            "groupName"),
        "Root");
    cJSON_Delete(j);
    j = expect_ok(e, "PATCH", "/thing-groups/Root",
                  "{\"thingGroupProperties\":{\"attributePayload\":{\"attributes\":{\"a\":\"\","
                  "\"c\":\"3\"},\"merge\":true}},\"expectedVersion\":1}");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "version")->valueint, 2);
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/thing-groups/Root", NULL);
    {
        char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(j, "thingGroupProperties"), "attributePayload"),
            "attributes"));
        assert_string_equal(text, "{\"b\":\"2\",\"c\":\"3\"}");
        free(text);
    }
    cJSON_Delete(j);
    expect_error(e, "PATCH", "/thing-groups/Root",
                 "{\"thingGroupProperties\":{},\"expectedVersion\":1}", 409,
                 "VersionConflictException", NULL);
    expect_error(e, "PATCH", "/thing-groups/Root", "{}", 400, "InvalidRequestException",
                 "thingGroupProperties");
    cJSON_Delete(expect_ok(e, "PUT", "/thing-groups/addThingToThingGroup",
                           "{\"thingGroupArn\":\"arn:aws:iot:us-east-1:123456789012:thinggroup/"
                           "Child\",\"thingName\":\"T1\"}"));
    expect_error(e, "PUT", "/thing-groups/addThingToThingGroup",
                 "{\"thingGroupName\":\"Nope\",\"thingName\":\"T1\"}", 404,
                 "ResourceNotFoundException", "Nope");
    expect_error(e, "PUT", "/thing-groups/addThingToThingGroup", "{\"thingName\":\"T1\"}", 400,
                 "InvalidRequestException", "thingGroupName or thingGroupArn");
    j = expect_ok(e, "GET", "/thing-groups/Root/things?recursive=true", NULL);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "things"), 0)->valuestring, "T1");
    cJSON_Delete(j);
    /* All or nothing: a missing group leaves the membership unchanged. */
    j = call(e, "PUT", "/thing-groups/updateThingGroupsForThing",
             "{\"thingName\":\"T1\",\"thingGroupsToRemove\":[\"Child\"],"
             "\"thingGroupsToAdd\":[\"Missing\"]}",
             &status, code, sizeof(code));
    assert_int_equal(status, 404);
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/things/T1/thing-groups", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "thingGroups")), 1);
    cJSON_Delete(j);
    expect_error(e, "DELETE", "/thing-groups/Root", NULL, 400, "InvalidRequestException", "child");
    j = expect_ok(e, "GET", "/thing-groups?parentGroup=Root", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "thingGroups")), 1);
    cJSON_Delete(j);
}

static const char *PROFILE =
    "{\"securityProfileDescription\":\"d\",\"behaviors\":[{\"name\":\"MoreBytesSent\","
    "\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than-equals\","
    "\"value\":{\"count\":200},\"durationSeconds\":300}}],"
    "\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:all-bytes-out\"}],"
    "\"tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]}";

static void test_dd_api_security_profiles(void **state)
{
    env_t *e = *state;
    cJSON *j;
    int status;
    char code[64];
    char uri[512];
    int i;

    j = expect_ok(e, "POST", "/security-profiles/sp1", PROFILE);
    assert_string_equal(str(j, "securityProfileArn"),
                        "arn:aws:iot:us-east-1:123456789012:securityprofile/sp1");
    cJSON_Delete(j);
    assert_int_equal(e->defender_calls, 1);
    j = call(e, "POST", "/security-profiles/sp1", PROFILE, &status, code, sizeof(code));
    assert_int_equal(status, 409);
    assert_string_equal(str(j, "resourceId"), "sp1");
    cJSON_Delete(j);
    expect_error(e, "POST", "/security-profiles/sp2",
                 "{\"behaviors\":[{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\","
                 "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
                 "\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":11}}]}",
                 400, "InvalidRequestException", "consecutiveDatapointsToAlarm 11");
    j = expect_ok(e, "GET", "/security-profiles/sp1", NULL);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "version")->valueint, 1);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "creationDate")));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "tags"));
    cJSON_Delete(j);
    expect_error(e, "PATCH", "/security-profiles/sp1?expectedVersion=9", "{}", 409,
                 "VersionConflictException", NULL);
    expect_error(e, "PATCH", "/security-profiles/sp1",
                 "{\"deleteBehaviors\":true,\"behaviors\":[]}", 400, "InvalidRequestException",
                 "deleteBehaviors");
    j = expect_ok(e, "PATCH", "/security-profiles/sp1?expectedVersion=1",
                  "{\"securityProfileDescription\":\"new\"}");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "version")->valueint, 2);
    assert_string_equal(str(j, "securityProfileDescription"), "new");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "behaviors")), 1);
    cJSON_Delete(j);
    expect_error(e, "PATCH", "/security-profiles/none", "{}", 404, "ResourceNotFoundException",
                 NULL);

    /* Targets: 5 per target at most (410), group targets must exist (404). */
    cJSON_Delete(expect_ok(e, "PUT",
                           "/security-profiles/sp1/targets?securityProfileTargetArn="
                           "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings",
                           NULL));
    for (i = 2; i <= 6; i++) {
        (void)snprintf(uri, sizeof(uri), "/security-profiles/sp%d", i);
        cJSON_Delete(expect_ok(e, "POST", uri, "{}"));
        (void)snprintf(uri, sizeof(uri),
                       "/security-profiles/sp%d/targets?securityProfileTargetArn="
                       "arn%%3Aaws%%3Aiot%%3Aus-east-1%%3A123456789012%%3Aall%%2Fthings",
                       i);
        if (i <= 5) {
            cJSON_Delete(expect_ok(e, "PUT", uri, NULL));
        } else {
            expect_error(e, "PUT", uri, NULL, 410, "LimitExceededException", "5");
        }
    }
    expect_error(e, "PUT",
                 "/security-profiles/sp1/targets?securityProfileTargetArn="
                 "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Athinggroup%2FNope",
                 NULL, 404, "ResourceNotFoundException", "Nope");
    expect_error(e, "PUT", "/security-profiles/sp1/targets?securityProfileTargetArn=junk", NULL,
                 400, "InvalidRequestException", "target");
    j = expect_ok(e, "GET",
                  "/security-profiles-for-target?maxResults=2&securityProfileTargetArn="
                  "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings",
                  NULL);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(j, "securityProfileTargetMappings")),
                     2);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "nextToken")));
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/security-profiles?metricName=aws%3Aall-bytes-out", NULL);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(j, "securityProfileIdentifiers")),
                     1);
    cJSON_Delete(j);
    expect_error(e, "GET", "/security-profiles?metricName=a&dimensionName=b", NULL, 400,
                 "InvalidRequestException", "together");
    j = expect_ok(e, "POST", "/security-profile-behaviors/validate",
                  "{\"behaviors\":[{\"name\":\"b\",\"metric\":\"aws:num-messages-sent\","
                  "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
                  "\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":100000}}]}");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "valid")));
    cJSON_Delete(j);
    cJSON_Delete(expect_ok(e, "DELETE", "/security-profiles/sp6", NULL));
    cJSON_Delete(expect_ok(e, "DELETE", "/security-profiles/sp6", NULL));
    expect_error(e, "DELETE", "/security-profiles/sp5?expectedVersion=3", NULL, 409,
                 "VersionConflictException", NULL);
}

static void test_dd_api_violations_from_a_report(void **state)
{
    env_t *e = *state;
    dd_report_t report;
    dd_report_error_t err;
    const char *json = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":"
                       "{\"network_stats\":{\"bytes_in\":1,\"bytes_out\":5000,\"packets_in\":1,"
                       "\"packets_out\":1}}}";
    char uri[256];
    char id[64];
    cJSON *j;

    cJSON_Delete(expect_ok(e, "POST", "/security-profiles/sp1", PROFILE));
    cJSON_Delete(expect_ok(e, "PUT",
                           "/security-profiles/sp1/targets?securityProfileTargetArn="
                           "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings",
                           NULL));
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)json, strlen(json),
                                      &report, &err),
                     DD_REPORT_OK);
    assert_int_equal(dd_store_begin(e->p.store), DD_STORE_OK);
    assert_int_equal(dd_engine_on_report(e->p.engine, "Thing03", 1700000001000LL, &report),
                     DD_ENGINE_OK);
    assert_int_equal(dd_store_commit(e->p.store), DD_STORE_OK);
    dd_report_free(&report);

    j = expect_ok(e, "GET", "/active-violations?thingName=Thing03", NULL);
    {
        const cJSON *v =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "activeViolations"), 0);
        assert_non_null(v);
        (void)snprintf(id, sizeof(id), "%s", str(v, "violationId"));
        assert_true(cJSON_GetObjectItemCaseSensitive(v, "violationStartTime")->valuedouble ==
                    1700000001.0);
    }
    cJSON_Delete(j);
    expect_error(e, "GET", "/active-violations?securityProfileName=nope", NULL, 404,
                 "ResourceNotFoundException", NULL);
    expect_error(e, "GET", "/active-violations?behaviorCriteriaType=FOO", NULL, 400,
                 "InvalidRequestException", "enum");
    expect_error(e, "GET", "/violation-events?startTime=2023-01-01T00%3A00%3A00Z", NULL, 400,
                 "InvalidRequestException", "endTime");
    j = expect_ok(e, "GET",
                  "/violation-events?startTime=2023-11-14T22%3A13%3A00Z&endTime=1700000100", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "violationEvents")), 1);
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/violation-events?startTime=1700000002&endTime=1700000100", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "violationEvents")), 0);
    cJSON_Delete(j);
    (void)snprintf(uri, sizeof(uri), "/violations/verification-state/%s", id);
    cJSON_Delete(expect_ok(e, "POST", uri,
                           "{\"verificationState\":\"TRUE_POSITIVE\","
                           "\"verificationStateDescription\":\"seen\"}"));
    j = expect_ok(e, "GET", "/active-violations?verificationState=TRUE_POSITIVE", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "activeViolations")),
                     1);
    cJSON_Delete(j);
    expect_error(e, "POST", "/violations/verification-state/abc",
                 "{\"verificationState\":\"TRUE_POSITIVE\"}", 400, "InvalidRequestException", NULL);
    expect_error(e, "POST", uri, "{\"verificationState\":\"MAYBE\"}", 400,
                 "InvalidRequestException", "enum");
    j = expect_ok(e, "GET",
                  "/metric-values?thingName=Thing03&metricName=aws%3Aall-bytes-out"
                  "&startTime=1700000000&endTime=1700000100",
                  NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "metricDatumList")), 1);
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/behavior-model-training/summaries", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "summaries")), 0);
    cJSON_Delete(j);
    expect_error(e, "GET", "/behavior-model-training/summaries?maxResults=11", NULL, 400,
                 "InvalidRequestException", "10");

    /* Mitigation: quarantine the violating thing. */
    cJSON_Delete(expect_ok(e, "POST", "/things/Thing03", "{}"));
    cJSON_Delete(expect_ok(e, "POST", "/thing-groups/IsolatedDevices", "{}"));
    cJSON_Delete(expect_ok(e, "POST", "/mitigationactions/actions/Quarantine",
                           "{\"roleArn\":\"arn:aws:iam::123456789012:role/r\",\"actionParams\":"
                           "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":"
                           "[\"IsolatedDevices\"]}}}"));
    expect_error(e, "POST", "/mitigationactions/actions/Quarantine",
                 "{\"roleArn\":\"arn:aws:iam::123456789012:role/r\",\"actionParams\":"
                 "{\"addThingsToThingGroupParams\":{\"thingGroupNames\":[\"X\"]}}}",
                 409, "ResourceAlreadyExistsException", NULL);
    /* UPDATE_CA_CERTIFICATE acts on Audit findings only: on a thing, the failing action. */
    cJSON_Delete(expect_ok(e, "POST", "/mitigationactions/actions/CaOff",
                           "{\"roleArn\":\"arn:aws:iam::123456789012:role/r\",\"actionParams\":"
                           "{\"updateCACertificateParams\":{\"action\":\"DEACTIVATE\"}}}"));
    (void)snprintf(uri, sizeof(uri),
                   "{\"target\":{\"violationIds\":[\"%s\"]},\"actions\":[\"CaOff\",\"Quarantine\"],"
                   "\"clientRequestToken\":\"tok1\"}",
                   id);
    j = expect_ok(e, "PUT", "/detect/mitigationactions/tasks/t1", uri);
    assert_string_equal(str(j, "taskId"), "t1");
    cJSON_Delete(j);
    cJSON_Delete(expect_ok(e, "PUT", "/detect/mitigationactions/tasks/t1", uri)); /* same token */
    expect_error(e, "PUT", "/detect/mitigationactions/tasks/t1",
                 "{\"target\":{\"violationIds\":[\"x\"]},\"actions\":[\"CaOff\"],"
                 "\"clientRequestToken\":\"tok2\"}",
                 400, "TaskAlreadyExistsException", NULL);
    j = expect_ok(e, "GET", "/detect/mitigationactions/tasks/t1", NULL);
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "taskSummary");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "taskStatistics");
        assert_string_equal(str(s, "taskStatus"), "FAILED");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "actionsFailed")->valueint, 1);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "actionsSkipped")->valueint, 1);
    }
    cJSON_Delete(j);
    /* Quarantine alone succeeds and puts the thing in the group. */
    (void)snprintf(uri, sizeof(uri),
                   "{\"target\":{\"securityProfileName\":\"sp1\",\"behaviorName\":"
                   "\"MoreBytesSent\"},\"actions\":[\"Quarantine\"],\"clientRequestToken\":\"t\"}");
    cJSON_Delete(expect_ok(e, "PUT", "/detect/mitigationactions/tasks/t2", uri));
    j = expect_ok(e, "GET", "/things/Thing03/thing-groups", NULL);
    assert_string_equal(
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "thingGroups"), 0), "groupName"),
        "IsolatedDevices");
    cJSON_Delete(j);
    j = expect_ok(e, "GET", "/detect/mitigationactions/executions?taskId=t1", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "actionsExecutions")),
                     2);
    assert_string_equal(
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "actionsExecutions"), 0),
            "errorCode"),
        "NotSupported");
    cJSON_Delete(j);
    expect_error(e, "PUT", "/detect/mitigationactions/tasks/t1/cancel", NULL, 400,
                 "InvalidRequestException", "IN_PROGRESS");
    expect_error(e, "PUT", "/detect/mitigationactions/tasks/nope/cancel", NULL, 404,
                 "ResourceNotFoundException", NULL);
}

static void test_dd_api_custom_metrics_and_dimensions(void **state)
{
    env_t *e = *state;
    cJSON *j;
    int status;
    char code[64];

    j = expect_ok(
        e, "POST", "/custom-metric/cpu",
        "{\"metricType\":\"number\",\"displayName\":\"CPU\",\"clientRequestToken\":\"a\"}");
    assert_string_equal(str(j, "metricArn"), "arn:aws:iot:us-east-1:123456789012:custommetric/cpu");
    cJSON_Delete(j);
    j = call(e, "POST", "/custom-metric/cpu",
             "{\"metricType\":\"number\",\"clientRequestToken\":\"a\"}", &status, code,
             sizeof(code));
    assert_int_equal(status, 409);
    assert_string_equal(str(j, "resourceId"), "cpu");
    cJSON_Delete(j);
    expect_error(e, "POST", "/custom-metric/aws%3Acpu",
                 "{\"metricType\":\"number\",\"clientRequestToken\":\"a\"}", 400,
                 "InvalidRequestException", "aws:");
    expect_error(e, "POST", "/custom-metric/x",
                 "{\"metricType\":\"float\",\"clientRequestToken\":"
                 "\"a\"}",
                 400, "InvalidRequestException", "enum");
    expect_error(e, "POST", "/custom-metric/x", "{\"metricType\":\"number\"}", 400,
                 "InvalidRequestException", "clientRequestToken");
    j = expect_ok(e, "PATCH", "/custom-metric/cpu", "{\"displayName\":\"CPU load\"}");
    assert_string_equal(str(j, "displayName"), "CPU load");
    assert_string_equal(str(j, "metricType"), "number");
    cJSON_Delete(j);
    cJSON_Delete(expect_ok(e, "POST", "/security-profiles/usescpu",
                           "{\"behaviors\":[{\"name\":\"c\",\"metric\":\"cpu\",\"criteria\":"
                           "{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":80}}}]}"));
    expect_error(e, "DELETE", "/custom-metric/cpu", NULL, 400, "InvalidRequestException", "used");
    j = expect_ok(e, "GET", "/custom-metrics", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "metricNames")), 1);
    cJSON_Delete(j);

    j = expect_ok(e, "POST", "/dimensions/TopicFilter",
                  "{\"type\":\"TOPIC_FILTER\",\"stringValues\":[\"device/+/auth\"],"
                  "\"clientRequestToken\":\"b\"}");
    assert_string_equal(str(j, "arn"), "arn:aws:iot:us-east-1:123456789012:dimension/TopicFilter");
    cJSON_Delete(j);
    expect_error(e, "POST", "/dimensions/D2",
                 "{\"type\":\"TOPIC_FILTER\",\"stringValues\":[],\"clientRequestToken\":\"b\"}",
                 400, "InvalidRequestException", "stringValues");
    j = expect_ok(e, "PATCH", "/dimensions/TopicFilter", "{\"stringValues\":[\"a/#\",\"b\"]}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "stringValues")), 2);
    cJSON_Delete(j);
    expect_error(e, "GET", "/dimensions/None", NULL, 404, "ResourceNotFoundException", NULL);
    cJSON_Delete(expect_ok(e, "DELETE", "/dimensions/TopicFilter", NULL));
    cJSON_Delete(expect_ok(e, "DELETE", "/dimensions/TopicFilter", NULL));
}

/* Issue 10 "Strict JSON": each of these bodies got 200 (and the NUL one stored "x"). */
static void test_dd_api_strict_json_bodies(void **state)
{
    static const struct {
        const char *body;
        size_t len; /* 0: strlen */
        const char *text;
    } bad[] = {
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}} x", 0,
         "unexpected text after the JSON value (at byte "},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}}{}", 0, "after the JSON value"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}}", 46, "after the JSON value"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\",\"a\":\"c\"}}}", 0,
         "duplicate object key \"a\""},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}},\"attributePayload\":{}}", 0,
         "duplicate object key \"attributePayload\""},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"x\\u0000y\"}}}", 0, "\\u0000"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"x\0y\"}}}", 47,
         "invalid character inside string"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}},\"n\":01}", 0,
         "I expect ',' or '}'"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}},\"n\":1.}", 0,
         "a digit is required"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}},\"n\":1.e2}", 0,
         "a digit is required"},
        {"{\"attributePayload\":{\"attributes\":{\"a\":\"b\"}},\"n\":0123}", 0,
         "I expect ',' or '}'"},
    };
    env_t *e = *state;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char code[64];
        int status;
        size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].body);
        cJSON *j =
            call_n(e, "POST", "/things/Strict1", bad[i].body, len, &status, code, sizeof(code));
        const char *m = str(j, "message");

        if (status != 400 || strcmp(code, "InvalidRequestException") != 0 ||
            strstr(m, "The request body is not valid JSON") == NULL ||
            strstr(m, bad[i].text) == NULL) {
            print_error("case %zu -> %d %s %s\n", i, status, code, m);
            fail();
        }
        cJSON_Delete(j);
        /* Refused before any state changed. */
        expect_error(e, "GET", "/things/Strict1", NULL, 404, "ResourceNotFoundException", NULL);
    }
    assert_int_equal(e->registry_calls, 0);
    /* The well-formed body still works, and whitespace around it is fine. */
    cJSON_Delete(expect_ok(e, "POST", "/things/Strict1",
                           " {\"attributePayload\":{\"attributes\":{\"a\":\"b\"}}}\r\n"));
    /* A security profile with a duplicated behavior member is refused, nothing is created. */
    expect_error(e, "POST", "/security-profiles/SP1",
                 "{\"behaviors\":[{\"name\":\"b\",\"name\":\"c\","
                 "\"metric\":\"aws:num-messages-sent\","
                 "\"criteria\":{\"comparisonOperator\":\"greater-than\",\"value\":{\"count\":5},"
                 "\"durationSeconds\":300}}]}",
                 400, "InvalidRequestException", "duplicate object key");
    expect_error(e, "GET", "/security-profiles/SP1", NULL, 404, "ResourceNotFoundException", NULL);
    /* A policy document (a JSON string inside the body) that is not strict JSON is a
     * MalformedPolicyException; \u0000 used to cut the resource short. */
    expect_error(e, "POST", "/policies/Strict1",
                 "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{"
                 "\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"iot:Publish\\\",\\\"Resource\\\":"
                 "\\\"arn:aws:iot:us-east-1:123456789012:topic/a\\\\u0000b\\\"}]}\"}",
                 400, "MalformedPolicyException", "not valid JSON: \\u0000 is not allowed");
    expect_error(e, "POST", "/policies/Strict1",
                 "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{"
                 "\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"iot:*\\\",\\\"Resource\\\":"
                 "\\\"*\\\"}]} x\"}",
                 400, "MalformedPolicyException", "unexpected text after the JSON value");
    expect_error(e, "GET", "/policies/Strict1", NULL, 404, "ResourceNotFoundException", NULL);
}

static void test_dd_api_listen(void **state)
{
    env_t *e = *state;

    assert_int_equal(dd_api_port(e->api), 0);
    assert_int_equal(dd_api_listen(e->api, "127.0.0.1", 0), DD_API_OK);
    assert_true(dd_api_port(e->api) > 0);
    assert_int_equal(dd_api_listen(e->api, "127.0.0.1", 0), DD_API_STATE);
    assert_int_equal(dd_api_listen(NULL, NULL, 0), DD_API_BAD_PARAMETER);
    assert_int_equal(dd_api_start(NULL, NULL, 0, NULL), DD_API_BAD_PARAMETER);
    assert_string_equal(dd_api_strerror(DD_API_LISTEN_FAILED), "cannot start the HTTP server");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_api_unknown_and_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_things_errors_and_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_pagination_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_security_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_violations_from_a_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_custom_metrics_and_dimensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_strict_json_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_api_listen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
