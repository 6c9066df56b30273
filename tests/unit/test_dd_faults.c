/*
 * dd_faults: the fault table without a service: definitions parsed and
 * refused with a message, scopes (one thing, "*", mitigation filters),
 * counts and pipeline-time expiry, clearing, the JSON of a fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_faults.h"

#define T0 1700000000000LL

static dd_faults_status_t parse(const char *body, dd_faults_fault_t *f, char *msg, size_t len)
{
    return dd_faults_parse(body, strlen(body), T0, f, msg, len);
}

static uint64_t add(dd_faults_t *t, const char *body)
{
    dd_faults_fault_t f;
    char msg[256] = "";
    uint64_t id = 0;

    assert_int_equal(parse(body, &f, msg, sizeof(msg)), DD_FAULTS_OK);
    assert_string_equal(msg, "");
    assert_int_equal(dd_faults_add(t, &f, &id), DD_FAULTS_OK);
    return id;
}

static void test_dd_faults_parse_defaults_and_members(void **state)
{
    dd_faults_fault_t f;
    char msg[256];

    (void)state;
    assert_int_equal(parse("{\"kind\":\"throttle\"}", &f, msg, sizeof(msg)), DD_FAULTS_OK);
    assert_int_equal(f.kind, DD_FAULTS_THROTTLE);
    assert_string_equal(f.thing, "*");
    assert_int_equal(f.count, 0);
    assert_int_equal(f.expires_ms, 0);
    assert_int_equal(f.created_ms, T0);

    assert_int_equal(parse("{\"kind\":\"delay-reply\",\"thing\":\"Dev-1\",\"count\":2,"
                           "\"expiresInSeconds\":1.5,\"delayMs\":700}",
                           &f, msg, sizeof(msg)),
                     DD_FAULTS_OK);
    assert_int_equal(f.kind, DD_FAULTS_DELAY_REPLY);
    assert_string_equal(f.thing, "Dev-1");
    assert_int_equal(f.count, 2);
    assert_int_equal(f.expires_ms, T0 + 1500);
    assert_int_equal(f.delay_ms, 700);

    assert_int_equal(parse("{\"kind\":\"fail-mitigation\",\"actionName\":\"quarantine\","
                           "\"actionType\":\"ADD_THINGS_TO_THING_GROUP\"}",
                           &f, msg, sizeof(msg)),
                     DD_FAULTS_OK);
    assert_string_equal(f.action_name, "quarantine");
    assert_string_equal(f.action_type, "ADD_THINGS_TO_THING_GROUP");
    assert_string_equal(f.error_code, DD_FAULTS_DEFAULT_ERROR_CODE);
    assert_true(strlen(f.message) > 0);

    assert_int_equal(parse("{\"kind\":\"fail-mitigation\",\"errorCode\":\"ResourceNotFound\","
                           "\"message\":\"group gone\"}",
                           &f, msg, sizeof(msg)),
                     DD_FAULTS_OK);
    assert_string_equal(f.error_code, "ResourceNotFound");
    assert_string_equal(f.message, "group gone");
}

static void refused(const char *body, const char *needle)
{
    dd_faults_fault_t f;
    char msg[256] = "";

    assert_int_equal(parse(body, &f, msg, sizeof(msg)), DD_FAULTS_INVALID);
    if (strstr(msg, needle) == NULL) {
        fail_msg("%s: message \"%s\" does not say \"%s\"", body, msg, needle);
    }
}

static void test_dd_faults_parse_refusals(void **state)
{
    dd_faults_fault_t f;
    char msg[64];

    (void)state;
    refused("", "JSON object");
    refused("[1]", "JSON object");
    refused("{\"kind\":\"throttle\",\"kind\":\"no-reply\"}", "JSON object");
    refused("{}", "\"kind\" must be one of");
    refused("{\"kind\":\"explode\"}", "throttle, delay-reply");
    refused("{\"kind\":\"throttle\",\"color\":1}", "Unknown member \"color\"");
    refused("{\"kind\":\"throttle\",\"delayMs\":5}", "does not apply to a throttle fault");
    refused("{\"kind\":\"no-reply\",\"errorCode\":\"X\"}", "only to fail-mitigation");
    refused("{\"kind\":\"delay-reply\"}", "needs \"delayMs\"");
    refused("{\"kind\":\"delay-delivery\",\"delayMs\":0}", "\"delayMs\" must be an integer");
    refused("{\"kind\":\"delay-delivery\",\"delayMs\":600001}", "from 1 to 600000");
    refused("{\"kind\":\"throttle\",\"thing\":\"a b\"}", "\"thing\" must be a thing name");
    refused("{\"kind\":\"throttle\",\"thing\":\"\"}", "\"thing\" must be a thing name");
    refused("{\"kind\":\"throttle\",\"count\":0}", "\"count\" must be an integer");
    refused("{\"kind\":\"throttle\",\"count\":1.5}", "\"count\" must be an integer");
    refused("{\"kind\":\"throttle\",\"count\":\"3\"}", "\"count\" must be an integer");
    refused("{\"kind\":\"throttle\",\"expiresInSeconds\":0}", "\"expiresInSeconds\"");
    refused("{\"kind\":\"fail-mitigation\",\"actionType\":\"REBOOT\"}", "\"actionType\" must");
    refused("{\"kind\":\"fail-mitigation\",\"actionName\":\"a.b\"}", "\"actionName\" must");
    refused("{\"kind\":\"fail-mitigation\",\"errorCode\":\"a b\"}", "\"errorCode\" must");
    refused("{\"kind\":\"fail-mitigation\",\"message\":\"\"}", "\"message\" must");
    /* A short message buffer still gets a terminated prefix. */
    assert_int_equal(dd_faults_parse("{}", 2, T0, &f, msg, sizeof(msg)), DD_FAULTS_INVALID);
    assert_int_equal(strlen(msg), sizeof(msg) - 1);
    assert_int_equal(dd_faults_parse("{}", 2, T0, NULL, msg, sizeof(msg)), DD_FAULTS_BAD_PARAMETER);
    assert_int_equal(dd_faults_parse(NULL, 3, T0, &f, msg, sizeof(msg)), DD_FAULTS_BAD_PARAMETER);
}

static void test_dd_faults_scope_and_count(void **state)
{
    dd_faults_t t;
    dd_faults_fault_t fired;
    uint64_t id1;
    uint64_t id2;

    (void)state;
    dd_faults_init(&t);
    id1 = add(&t, "{\"kind\":\"throttle\",\"thing\":\"A\",\"count\":2}");
    id2 = add(&t, "{\"kind\":\"no-reply\"}");
    assert_int_equal(id1, 1);
    assert_int_equal(id2, 2);

    /* Another thing, another kind: nothing fires. */
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_THROTTLE, "B", NULL, NULL, T0, NULL),
                     DD_FAULTS_NO_MATCH);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_DISCONNECT, "A", NULL, NULL, T0, NULL),
                     DD_FAULTS_NO_MATCH);
    /* A's throttle fires twice, then is gone. */
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_THROTTLE, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(fired.id, id1);
    assert_int_equal(fired.fired, 1);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_THROTTLE, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(fired.fired, 2);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_THROTTLE, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_NO_MATCH);
    assert_int_equal(t.count, 1);
    /* "*" applies to every thing and to none (an Audit finding), until cleared. */
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_NO_REPLY, "B", NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_NO_REPLY, NULL, NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(fired.fired, 2);
    assert_int_equal(dd_faults_match(NULL, DD_FAULTS_NO_REPLY, "B", NULL, NULL, T0, NULL),
                     DD_FAULTS_BAD_PARAMETER);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_KIND_COUNT, "B", NULL, NULL, T0, NULL),
                     DD_FAULTS_BAD_PARAMETER);
}

static void test_dd_faults_first_added_fires_first(void **state)
{
    dd_faults_t t;
    dd_faults_fault_t fired;

    (void)state;
    dd_faults_init(&t);
    (void)add(&t, "{\"kind\":\"delay-reply\",\"thing\":\"A\",\"delayMs\":100,\"count\":1}");
    (void)add(&t, "{\"kind\":\"delay-reply\",\"delayMs\":200}");
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_DELAY_REPLY, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(fired.delay_ms, 100);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_DELAY_REPLY, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_OK);
    assert_int_equal(fired.delay_ms, 200);
}

static void test_dd_faults_expiry_in_pipeline_time(void **state)
{
    dd_faults_t t;
    cJSON *list = NULL;

    (void)state;
    dd_faults_init(&t);
    (void)add(&t, "{\"kind\":\"disconnect\",\"thing\":\"A\",\"expiresInSeconds\":10}");
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_DISCONNECT, "A", NULL, NULL, T0 + 9999, NULL),
                     DD_FAULTS_OK);
    assert_int_equal(dd_faults_list(&t, T0 + 9999, &list), DD_FAULTS_OK);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_DISCONNECT, "A", NULL, NULL, T0 + 10000, NULL),
                     DD_FAULTS_NO_MATCH);
    assert_int_equal(dd_faults_list(&t, T0 + 10000, &list), DD_FAULTS_OK);
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
}

static void test_dd_faults_mitigation_filters(void **state)
{
    dd_faults_t t;
    dd_faults_fault_t fired;

    (void)state;
    dd_faults_init(&t);
    (void)add(&t, "{\"kind\":\"fail-mitigation\",\"thing\":\"A\",\"actionName\":\"q\","
                  "\"errorCode\":\"Boom\"}");
    (void)add(&t, "{\"kind\":\"fail-mitigation\",\"actionType\":\"ENABLE_IOT_LOGGING\"}");
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_FAIL_MITIGATION, "A", "other",
                                     "ADD_THINGS_TO_THING_GROUP", T0, &fired),
                     DD_FAULTS_NO_MATCH);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_FAIL_MITIGATION, "A", "q",
                                     "ADD_THINGS_TO_THING_GROUP", T0, &fired),
                     DD_FAULTS_OK);
    assert_string_equal(fired.error_code, "Boom");
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_FAIL_MITIGATION, NULL, "log",
                                     "ENABLE_IOT_LOGGING", T0, &fired),
                     DD_FAULTS_OK);
    assert_string_equal(fired.error_code, DD_FAULTS_DEFAULT_ERROR_CODE);
    assert_int_equal(dd_faults_match(&t, DD_FAULTS_FAIL_MITIGATION, "A", NULL, NULL, T0, &fired),
                     DD_FAULTS_NO_MATCH);
}

static void test_dd_faults_clear(void **state)
{
    dd_faults_t t;
    size_t n = 99;
    uint64_t id;

    (void)state;
    dd_faults_init(&t);
    (void)add(&t, "{\"kind\":\"throttle\",\"thing\":\"A\"}");
    id = add(&t, "{\"kind\":\"no-reply\",\"thing\":\"A\"}");
    (void)add(&t, "{\"kind\":\"throttle\"}");
    (void)add(&t, "{\"kind\":\"throttle\",\"thing\":\"B\"}");

    assert_int_equal(dd_faults_clear(&t, id, NULL, NULL, &n), DD_FAULTS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dd_faults_clear(&t, id, NULL, NULL, &n), DD_FAULTS_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(dd_faults_clear(&t, 0, NULL, "explode", &n), DD_FAULTS_BAD_PARAMETER);
    /* By scope: "A" clears A's faults only, not the "*" one that also applies to A. */
    assert_int_equal(dd_faults_clear(&t, 0, "A", NULL, &n), DD_FAULTS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dd_faults_clear(&t, 0, NULL, "throttle", &n), DD_FAULTS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(t.count, 0);
    assert_int_equal(dd_faults_clear(&t, 0, NULL, NULL, &n), DD_FAULTS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(dd_faults_clear(NULL, 0, NULL, NULL, &n), DD_FAULTS_BAD_PARAMETER);
    /* Ids keep growing after a clear; dd_faults_init() starts them again. */
    assert_int_equal(add(&t, "{\"kind\":\"throttle\"}"), 5);
    dd_faults_init(&t);
    assert_int_equal(add(&t, "{\"kind\":\"throttle\"}"), 1);
}

static void test_dd_faults_full(void **state)
{
    dd_faults_t *t = calloc(1, sizeof(*t));
    dd_faults_fault_t f;
    char msg[128];
    size_t i;

    (void)state;
    assert_non_null(t);
    dd_faults_init(t);
    assert_int_equal(parse("{\"kind\":\"throttle\"}", &f, msg, sizeof(msg)), DD_FAULTS_OK);
    for (i = 0; i < DD_FAULTS_MAX; i++) {
        assert_int_equal(dd_faults_add(t, &f, NULL), DD_FAULTS_OK);
    }
    assert_int_equal(dd_faults_add(t, &f, NULL), DD_FAULTS_FULL);
    assert_int_equal(dd_faults_add(NULL, &f, NULL), DD_FAULTS_BAD_PARAMETER);
    free(t);
}

static void test_dd_faults_json(void **state)
{
    dd_faults_t t;
    cJSON *list = NULL;
    const cJSON *o;
    char *text;

    (void)state;
    dd_faults_init(&t);
    (void)add(&t, "{\"kind\":\"delay-delivery\",\"thing\":\"A\",\"delayMs\":250,\"count\":3,"
                  "\"expiresInSeconds\":60}");
    (void)add(&t, "{\"kind\":\"fail-mitigation\",\"actionName\":\"q\"}");
    assert_int_equal(dd_faults_list(&t, T0, &list), DD_FAULTS_OK);
    o = cJSON_GetArrayItem(list, 0);
    text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"id\":1,\"kind\":\"delay-delivery\",\"thing\":\"A\",\"count\":3,"
                              "\"fired\":0,\"createdMs\":1700000000000,"
                              "\"expiresMs\":1700000060000,\"delayMs\":250}");
    cJSON_free(text);
    o = cJSON_GetArrayItem(list, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "fail-mitigation");
    assert_string_equal(cJSON_GetObjectItem(o, "actionName")->valuestring, "q");
    assert_string_equal(cJSON_GetObjectItem(o, "errorCode")->valuestring,
                        DD_FAULTS_DEFAULT_ERROR_CODE);
    assert_null(cJSON_GetObjectItem(o, "delayMs"));
    assert_null(cJSON_GetObjectItem(o, "expiresMs"));
    cJSON_Delete(list);
    assert_null(dd_faults_json(NULL));
    assert_int_equal(dd_faults_list(&t, T0, NULL), DD_FAULTS_BAD_PARAMETER);
}

static void test_dd_faults_names(void **state)
{
    dd_faults_kind_t k;
    int i;

    (void)state;
    for (i = 0; i < DD_FAULTS_KIND_COUNT; i++) {
        assert_true(dd_faults_kind_parse(dd_faults_kind_name((dd_faults_kind_t)i), &k));
        assert_int_equal(k, i);
        assert_non_null(strstr(DD_FAULTS_KIND_NAMES, dd_faults_kind_name((dd_faults_kind_t)i)));
    }
    assert_false(dd_faults_kind_parse("Throttle", &k));
    assert_false(dd_faults_kind_parse(NULL, &k));
    assert_string_equal(dd_faults_kind_name(DD_FAULTS_KIND_COUNT), "?");
    assert_string_equal(dd_faults_strerror(DD_FAULTS_FULL), "too many faults in force");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_faults_parse_defaults_and_members),
        cmocka_unit_test(test_dd_faults_parse_refusals),
        cmocka_unit_test(test_dd_faults_scope_and_count),
        cmocka_unit_test(test_dd_faults_first_added_fires_first),
        cmocka_unit_test(test_dd_faults_expiry_in_pipeline_time),
        cmocka_unit_test(test_dd_faults_mitigation_filters),
        cmocka_unit_test(test_dd_faults_clear),
        cmocka_unit_test(test_dd_faults_full),
        cmocka_unit_test(test_dd_faults_json),
        cmocka_unit_test(test_dd_faults_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
