#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_rest.h"

static void test_dd_rest_query_parse(void **state)
{
    dd_rest_query_t q;
    char msg[DD_REST_MESSAGE_MAX];

    (void)state;
    assert_int_equal(dd_rest_query_parse("a=1&b=x%3Ay%2Fz&c&d=&a=2&e=1+2&&", &q, msg), DD_REST_OK);
    assert_int_equal(q.count, 6);
    assert_string_equal(dd_rest_query_get(&q, "a"), "1"); /* first wins */
    assert_string_equal(dd_rest_query_get(&q, "b"), "x:y/z");
    assert_string_equal(dd_rest_query_get(&q, "c"), "");
    assert_string_equal(dd_rest_query_get(&q, "d"), "");
    assert_string_equal(dd_rest_query_get(&q, "e"), "1+2");
    assert_null(dd_rest_query_get(&q, "f"));
    dd_rest_query_free(&q);
    assert_int_equal(dd_rest_query_parse(NULL, &q, msg), DD_REST_OK);
    assert_int_equal(q.count, 0);
    assert_null(dd_rest_query_get(&q, "a"));
    dd_rest_query_free(&q);
    assert_int_equal(dd_rest_query_parse("a=%zz", &q, msg), DD_REST_INVALID);
    assert_non_null(strstr(msg, "percent-encoding"));
    assert_int_equal(dd_rest_query_parse("a=1", NULL, msg), DD_REST_BAD_PARAMETER);
}

static void test_dd_rest_query_typed(void **state)
{
    dd_rest_query_t q;
    char msg[DD_REST_MESSAGE_MAX];
    int64_t n = 7;
    bool b = false;
    int idx = -1;
    const char *s;
    static const char *const TYPES[] = {"STATIC", "STATISTICAL", "MACHINE_LEARNING", NULL};

    (void)state;
    assert_int_equal(dd_rest_query_parse("maxResults=0&big=251&ok=25&x=abc&t=TRUE&f=yes"
                                         "&type=FOO&type2=STATISTICAL&name=a%20b",
                                         &q, msg),
                     DD_REST_OK);
    assert_int_equal(dd_rest_query_int(&q, "maxResults", false, 1, 250, &n, msg), DD_REST_INVALID);
    assert_string_equal(msg,
                        "1 validation error detected: Value '0' at 'maxResults' failed to "
                        "satisfy constraint: Member must have value greater than or equal to 1");
    assert_int_equal(dd_rest_query_int(&q, "big", false, 1, 250, &n, msg), DD_REST_INVALID);
    assert_non_null(strstr(msg, "less than or equal to 250"));
    assert_int_equal(dd_rest_query_int(&q, "x", false, 1, 250, &n, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_query_int(&q, "ok", false, 1, 250, &n, msg), DD_REST_OK);
    assert_int_equal(n, 25);
    assert_int_equal(dd_rest_query_int(&q, "absent", false, 1, 250, &n, msg), DD_REST_ABSENT);
    assert_int_equal(n, 25);
    assert_int_equal(dd_rest_query_int(&q, "absent", true, 1, 250, &n, msg), DD_REST_INVALID);
    assert_non_null(strstr(msg, "Member must not be null"));
    assert_int_equal(dd_rest_query_bool(&q, "t", false, &b, msg), DD_REST_OK);
    assert_true(b);
    assert_int_equal(dd_rest_query_bool(&q, "f", false, &b, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_query_enum(&q, "type", false, TYPES, &idx, msg), DD_REST_INVALID);
    assert_string_equal(msg, "1 validation error detected: Value 'FOO' at 'type' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [STATIC, "
                             "STATISTICAL, MACHINE_LEARNING]");
    assert_int_equal(dd_rest_query_enum(&q, "type2", false, TYPES, &idx, msg), DD_REST_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(dd_rest_query_string(&q, "name", false, 1, 128, DD_REST_NAME, &s, msg),
                     DD_REST_INVALID);
    assert_string_equal(msg, "1 validation error detected: Value 'a b' at 'name' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: "
                             "[a-zA-Z0-9:_-]+");
    assert_null(s);
    dd_rest_query_free(&q);
}

static void test_dd_rest_check_string(void **state)
{
    char msg[DD_REST_MESSAGE_MAX];
    char long_name[200];

    (void)state;
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    assert_int_equal(dd_rest_check_string("thingName", long_name, 1, 128, DD_REST_NAME, msg),
                     DD_REST_INVALID);
    assert_non_null(strstr(msg, "Member must have length less than or equal to 128"));
    assert_int_equal(dd_rest_check_string("thingName", "", 1, 128, DD_REST_NAME, msg),
                     DD_REST_INVALID);
    assert_non_null(strstr(msg, "greater than or equal to 1"));
    assert_int_equal(dd_rest_check_string("d", "caf\xc3\xa9", 0, 4, DD_REST_ANY, msg), DD_REST_OK);
    assert_int_equal(dd_rest_check_string("d", "caf\xc3\xa9", 0, 4, DD_REST_GRAPH_SPACE, msg),
                     DD_REST_INVALID);
    assert_int_equal(dd_rest_check_string("d", "tab\there", 0, 100, DD_REST_NO_CONTROL, msg),
                     DD_REST_INVALID);
    assert_non_null(strstr(msg, "Value 'tab?here'")); /* control characters masked */
    assert_true(dd_rest_charset_ok(DD_REST_POLICY_NAME, "Dev+Policy=1,a.b@c-d_e"));
    assert_false(dd_rest_charset_ok(DD_REST_POLICY_NAME, "a:b"));
    assert_true(dd_rest_charset_ok(DD_REST_NAME_NOCOLON, "task_1-x"));
    assert_false(dd_rest_charset_ok(DD_REST_NAME_NOCOLON, "task:1"));
    assert_true(dd_rest_charset_ok(DD_REST_ATTR_VALUE, "a=[b]"));
    assert_true(dd_rest_charset_ok(DD_REST_CERT_ID, "0xABCdef0123"));
    assert_false(dd_rest_charset_ok(DD_REST_CERT_ID, "xyz"));
    assert_true(dd_rest_charset_ok(DD_REST_VIOLATION_ID, "abc-123"));
    assert_false(dd_rest_charset_ok(DD_REST_VIOLATION_ID, "abc_123"));
    assert_int_equal(dd_rest_utf8_length("caf\xc3\xa9"), 4);
    assert_string_equal(dd_rest_charset_pattern(DD_REST_TOKEN), "^[a-zA-Z0-9-_]+$");
}

static void test_dd_rest_time_parse(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_int_equal(dd_rest_time_parse("2019-06-05T15:05:25Z", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125000LL);
    assert_int_equal(dd_rest_time_parse("2019-06-05T15:05:25.123Z", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125123LL);
    assert_int_equal(dd_rest_time_parse("2019-06-05T15:05:25.5", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125500LL);
    assert_int_equal(dd_rest_time_parse("2019-06-05T17:05:25+02:00", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125000LL);
    assert_int_equal(dd_rest_time_parse("2019-06-05T10:05:25-0500", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125000LL);
    assert_int_equal(dd_rest_time_parse("2019-06-05 15:05:25z", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125000LL);
    assert_int_equal(dd_rest_time_parse("2020-02-29T00:00:00Z", &ms), DD_REST_OK);
    assert_int_equal(ms, 1582934400000LL);
    assert_int_equal(dd_rest_time_parse("1970-01-01T00:00:00Z", &ms), DD_REST_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(dd_rest_time_parse("1559747125", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125000LL);
    assert_int_equal(dd_rest_time_parse("1559747125.25", &ms), DD_REST_OK);
    assert_int_equal(ms, 1559747125250LL);
    /* Epoch ms would be the year 51413: refused rather than misread. */
    assert_int_equal(dd_rest_time_parse("1559747125000", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("2019-02-29T00:00:00Z", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("2019-13-01T00:00:00Z", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("2019-06-05T15:05Z", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("2019-06-05T15:05:25Zjunk", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("yesterday", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse("", &ms), DD_REST_INVALID);
    assert_int_equal(dd_rest_time_parse(NULL, &ms), DD_REST_BAD_PARAMETER);
}

static void test_dd_rest_time_json_is_epoch_seconds(void **state)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    (void)state;
    assert_true(dd_rest_add_time(o, "creationDate", 1560278102528LL));
    assert_true(dd_rest_add_time(o, "violationEventTime", 1560279000000LL));
    text = cJSON_PrintUnformatted(o);
    assert_string_equal(text,
                        "{\"creationDate\":1560278102.528,\"violationEventTime\":1560279000}");
    free(text);
    cJSON_Delete(o);
}

static void test_dd_rest_errors(void **state)
{
    char *body;

    (void)state;
    assert_int_equal(dd_rest_error_status("ResourceNotFoundException"), 404);
    assert_int_equal(dd_rest_error_status("ResourceAlreadyExistsException"), 409);
    assert_int_equal(dd_rest_error_status("VersionConflictException"), 409);
    assert_int_equal(dd_rest_error_status("DeleteConflictException"), 409);
    assert_int_equal(dd_rest_error_status("LimitExceededException"), 410);
    assert_int_equal(dd_rest_error_status("InvalidRequestException"), 400);
    assert_int_equal(dd_rest_error_status("TaskAlreadyExistsException"), 400);
    assert_int_equal(dd_rest_error_status("MalformedPolicyException"), 400);
    assert_int_equal(dd_rest_error_status("CertificateStateException"), 406);
    assert_int_equal(dd_rest_error_status("InternalFailureException"), 500);
    assert_int_equal(dd_rest_error_status("ServiceUnavailableException"), 503);
    assert_int_equal(dd_rest_error_status("UnauthorizedException"), 401);
    assert_int_equal(dd_rest_error_status("NoSuchCode"), 400);
    assert_int_equal(dd_rest_error_status(NULL), 400);
    body = dd_rest_error_body("Thing T already exists", "abc", "arn:aws:iot:us-east-1:1:thing/T");
    assert_string_equal(body, "{\"message\":\"Thing T already exists\",\"resourceId\":\"abc\","
                              "\"resourceArn\":\"arn:aws:iot:us-east-1:1:thing/T\"}");
    free(body);
    body = dd_rest_error_body("quote \" here", NULL, "");
    assert_string_equal(body, "{\"message\":\"quote \\\" here\"}");
    free(body);
}

static void test_dd_rest_tokens(void **state)
{
    char token[DD_REST_TOKEN_MAX];
    char key[DD_REST_TOKEN_KEY_MAX];
    char longkey[DD_REST_TOKEN_KEY_MAX + 10];
    size_t i;

    (void)state;
    assert_int_equal(dd_rest_token_encode("Thing0042", token, sizeof(token)), DD_REST_OK);
    for (i = 0; token[i] != '\0'; i++) {
        /* The identity operations' marker pattern: [A-Za-z0-9+/]+={0,2} */
        assert_true(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                           token[i]) != NULL);
    }
    assert_int_equal(dd_rest_token_decode(token, key, sizeof(key)), DD_REST_OK);
    assert_string_equal(key, "Thing0042");
    assert_int_equal(dd_rest_token_encode("cert\x1f"
                                          "abc",
                                          token, sizeof(token)),
                     DD_REST_OK);
    assert_int_equal(dd_rest_token_decode(token, key, sizeof(key)), DD_REST_OK);
    assert_string_equal(key, "cert\x1f"
                             "abc");
    assert_int_equal(dd_rest_token_decode("Thing0042", key, sizeof(key)), DD_REST_INVALID);
    assert_int_equal(dd_rest_token_decode("aGVsbG8=", key, sizeof(key)), DD_REST_INVALID);
    assert_int_equal(dd_rest_token_decode("", key, sizeof(key)), DD_REST_INVALID);
    assert_int_equal(dd_rest_token_decode("a=bc", key, sizeof(key)), DD_REST_INVALID);
    assert_int_equal(dd_rest_token_encode("", token, sizeof(token)), DD_REST_BAD_PARAMETER);
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(dd_rest_token_encode(longkey, token, sizeof(token)), DD_REST_TOO_LONG);
    assert_int_equal(dd_rest_token_encode("x", token, 4), DD_REST_TOO_LONG);
}

static void test_dd_rest_page_args(void **state)
{
    dd_rest_query_t q;
    char msg[DD_REST_MESSAGE_MAX];
    char token[DD_REST_TOKEN_MAX];
    char raw[DD_REST_TOKEN_MAX + 64];
    char key[DD_REST_TOKEN_KEY_MAX];
    int size = 0;

    (void)state;
    assert_int_equal(dd_rest_token_encode("T7", token, sizeof(token)), DD_REST_OK);
    (void)snprintf(raw, sizeof(raw), "maxResults=5&nextToken=%s", token);
    assert_int_equal(dd_rest_query_parse(raw, &q, msg), DD_REST_OK);
    assert_int_equal(dd_rest_query_page_size(&q, "maxResults", 250, 25, &size, msg), DD_REST_OK);
    assert_int_equal(size, 5);
    assert_int_equal(dd_rest_query_token(&q, "nextToken", key, sizeof(key), msg), DD_REST_OK);
    assert_string_equal(key, "T7");
    assert_int_equal(dd_rest_query_page_size(&q, "pageSize", 250, 25, &size, msg), DD_REST_OK);
    assert_int_equal(size, 25);
    assert_int_equal(dd_rest_query_token(&q, "marker", key, sizeof(key), msg), DD_REST_OK);
    assert_string_equal(key, "");
    dd_rest_query_free(&q);
    assert_int_equal(dd_rest_query_parse("maxResults=11&nextToken=junk", &q, msg), DD_REST_OK);
    assert_int_equal(dd_rest_query_page_size(&q, "maxResults", 10, 10, &size, msg),
                     DD_REST_INVALID);
    assert_int_equal(dd_rest_query_token(&q, "nextToken", key, sizeof(key), msg), DD_REST_INVALID);
    assert_non_null(strstr(msg, "Invalid nextToken"));
    dd_rest_query_free(&q);
}

static void test_dd_rest_json_members(void **state)
{
    cJSON *o = cJSON_Parse("{\"s\":\"abc\",\"n\":11,\"f\":1.5,\"b\":true,\"bad\":\"x\","
                           "\"t\":1704067200,\"ti\":\"2024-01-01T00:00:00Z\",\"a\":[1,2],"
                           "\"nul\":null,\"e\":\"STATIC\"}");
    static const char *const TYPES[] = {"STATIC", "STATISTICAL", NULL};
    char msg[DD_REST_MESSAGE_MAX];
    const char *s;
    const cJSON *a;
    int64_t n = 0;
    bool b = false;
    int idx = -1;

    (void)state;
    assert_int_equal(dd_rest_json_string(o, "s", NULL, true, 1, 3, DD_REST_NAME, &s, msg),
                     DD_REST_OK);
    assert_string_equal(s, "abc");
    assert_int_equal(dd_rest_json_string(o, "s", "target.s", true, 1, 2, DD_REST_NAME, &s, msg),
                     DD_REST_INVALID);
    assert_non_null(strstr(msg, "at 'target.s'"));
    assert_int_equal(dd_rest_json_string(o, "n", NULL, true, 1, 3, DD_REST_ANY, &s, msg),
                     DD_REST_INVALID);
    assert_int_equal(dd_rest_json_string(o, "nul", NULL, false, 1, 3, DD_REST_ANY, &s, msg),
                     DD_REST_ABSENT);
    assert_int_equal(dd_rest_json_string(NULL, "s", NULL, false, 1, 3, DD_REST_ANY, &s, msg),
                     DD_REST_ABSENT);
    assert_int_equal(dd_rest_json_int(o, "n", true, 1, 10, &n, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_int(o, "n", true, 1, 11, &n, msg), DD_REST_OK);
    assert_int_equal(n, 11);
    assert_int_equal(dd_rest_json_int(o, "f", true, 0, 10, &n, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_bool(o, "b", true, &b, msg), DD_REST_OK);
    assert_true(b);
    assert_int_equal(dd_rest_json_bool(o, "bad", true, &b, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_time(o, "t", true, &n, msg), DD_REST_OK);
    assert_int_equal(n, 1704067200000LL);
    assert_int_equal(dd_rest_json_time(o, "ti", true, &n, msg), DD_REST_OK);
    assert_int_equal(n, 1704067200000LL);
    assert_int_equal(dd_rest_json_time(o, "b", true, &n, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_array(o, "a", true, 1, 2, &a, msg), DD_REST_OK);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    assert_int_equal(dd_rest_json_array(o, "a", true, 3, 5, &a, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_array(o, "s", true, 0, 5, &a, msg), DD_REST_INVALID);
    assert_int_equal(dd_rest_json_enum(o, "e", true, TYPES, &idx, msg), DD_REST_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(dd_rest_json_enum(o, "s", true, TYPES, &idx, msg), DD_REST_INVALID);
    cJSON_Delete(o);
}

static void test_dd_rest_request_id(void **state)
{
    char a[DD_REST_REQUEST_ID_LEN];
    char b[DD_REST_REQUEST_ID_LEN];

    (void)state;
    dd_rest_request_id(a);
    dd_rest_request_id(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
    assert_string_equal(dd_rest_strerror(DD_REST_INVALID), "invalid value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_rest_query_parse),
        cmocka_unit_test(test_dd_rest_query_typed),
        cmocka_unit_test(test_dd_rest_check_string),
        cmocka_unit_test(test_dd_rest_time_parse),
        cmocka_unit_test(test_dd_rest_time_json_is_epoch_seconds),
        cmocka_unit_test(test_dd_rest_errors),
        cmocka_unit_test(test_dd_rest_tokens),
        cmocka_unit_test(test_dd_rest_page_args),
        cmocka_unit_test(test_dd_rest_json_members),
        cmocka_unit_test(test_dd_rest_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
