#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_route.h"

static void test_dd_route_plain_label(void **state)
{
    dd_route_match_t m;

    (void)state;
    assert_int_equal(dd_route_match("GET", "/things/Thing03", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "DescribeThing");
    assert_int_equal(m.label_count, 1);
    assert_string_equal(dd_route_label(&m, "thingName"), "Thing03");
    assert_null(dd_route_label(&m, "nope"));
    assert_int_equal(dd_route_match("POST", "/things/Thing03", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "CreateThing");
    assert_int_equal(dd_route_match("GET", "/things", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "ListThings");
    assert_int_equal(dd_route_match("GET", "/endpoint", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "DescribeEndpoint");
}

static void test_dd_route_percent_encoded_arn_in_segment(void **state)
{
    dd_route_match_t m;

    (void)state;
    assert_int_equal(
        dd_route_match("POST",
                       "/attached-policies/"
                       "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Athinggroup%2FQuarantine",
                       &m),
        DD_ROUTE_OK);
    assert_string_equal(m.operation, "ListAttachedPolicies");
    assert_string_equal(dd_route_label(&m, "target"),
                        "arn:aws:iot:us-east-1:123456789012:thinggroup/Quarantine");
    /* A name with a colon, as the CLI encodes it. */
    assert_int_equal(dd_route_match("GET", "/security-profiles/a%3Ab", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "DescribeSecurityProfile");
    assert_string_equal(dd_route_label(&m, "securityProfileName"), "a:b");
    /* An unencoded slash is a separator: no operation has that shape. */
    assert_int_equal(dd_route_match("POST", "/attached-policies/arn:x/Quarantine", &m),
                     DD_ROUTE_NOT_FOUND);
}

static void test_dd_route_literal_beats_label(void **state)
{
    dd_route_match_t m;

    (void)state;
    assert_int_equal(dd_route_match("PUT", "/thing-groups/addThingToThingGroup", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "AddThingToThingGroup");
    assert_int_equal(dd_route_match("PUT", "/thing-groups/updateThingGroupsForThing", &m),
                     DD_ROUTE_OK);
    assert_string_equal(m.operation, "UpdateThingGroupsForThing");
    assert_int_equal(dd_route_match("PATCH", "/thing-groups/G1", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "UpdateThingGroup");
    assert_int_equal(dd_route_match("PUT", "/detect/mitigationactions/tasks/t1/cancel", &m),
                     DD_ROUTE_OK);
    assert_string_equal(m.operation, "CancelDetectMitigationActionsTask");
    assert_string_equal(dd_route_label(&m, "taskId"), "t1");
    assert_int_equal(dd_route_match("PUT", "/detect/mitigationactions/tasks/t1", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "StartDetectMitigationActionsTask");
    assert_int_equal(dd_route_match("GET", "/security-profiles/sp/targets", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "ListTargetsForSecurityProfile");
}

static void test_dd_route_wrong_method_and_unknown(void **state)
{
    dd_route_match_t m;

    (void)state;
    assert_int_equal(dd_route_match("DELETE", "/endpoint", &m), DD_ROUTE_WRONG_METHOD);
    assert_string_equal(m.allowed, "GET");
    assert_null(m.operation);
    assert_int_equal(dd_route_match("HEAD", "/things/T", &m), DD_ROUTE_WRONG_METHOD);
    assert_non_null(strstr(m.allowed, "GET"));
    assert_non_null(strstr(m.allowed, "DELETE"));
    assert_int_equal(dd_route_match("GET", "/no-such-thing", &m), DD_ROUTE_NOT_FOUND);
    assert_int_equal(dd_route_match("GET", "/", &m), DD_ROUTE_NOT_FOUND);
    assert_int_equal(dd_route_match("GET", "/things/", &m), DD_ROUTE_NOT_FOUND);
    assert_int_equal(dd_route_match("GET", "things", &m), DD_ROUTE_NOT_FOUND);
    assert_int_equal(dd_route_match(NULL, "/", &m), DD_ROUTE_BAD_PARAMETER);
    assert_int_equal(dd_route_match("GET", "/", NULL), DD_ROUTE_BAD_PARAMETER);
}

static void test_dd_route_unimplemented_operations_are_named(void **state)
{
    dd_route_match_t m;

    (void)state;
    assert_int_equal(dd_route_match("GET", "/jobs", &m), DD_ROUTE_OK);
    assert_string_equal(m.operation, "ListJobs");
    /* Greedy label: the rest of the path, segments decoded and re-joined. */
    assert_int_equal(dd_route_match("GET", "/destinations/arn%3Aaws%3Aiot/x%2Fy/z", &m),
                     DD_ROUTE_OK);
    assert_string_equal(m.operation, "GetTopicRuleDestination");
    assert_string_equal(dd_route_label(&m, "arn"), "arn:aws:iot/x/y/z");
}

static void test_dd_route_bad_encoding(void **state)
{
    dd_route_match_t m;
    char buf[64];

    (void)state;
    assert_int_equal(dd_route_match("GET", "/things/a%2", &m), DD_ROUTE_BAD_ENCODING);
    assert_int_equal(dd_route_match("GET", "/things/a%zz", &m), DD_ROUTE_BAD_ENCODING);
    assert_int_equal(dd_route_match("GET", "/things/a%00b", &m), DD_ROUTE_BAD_ENCODING);
    assert_int_equal(dd_route_percent_decode("a%41+b%2b", 9, buf, sizeof(buf)), DD_ROUTE_OK);
    assert_string_equal(buf, "aA+b+");
    assert_int_equal(dd_route_percent_decode("", 0, buf, sizeof(buf)), DD_ROUTE_OK);
    assert_string_equal(buf, "");
    assert_int_equal(dd_route_percent_decode("abcdef", 6, buf, 4), DD_ROUTE_TOO_LONG);
    assert_int_equal(dd_route_percent_decode("%", 1, buf, sizeof(buf)), DD_ROUTE_BAD_ENCODING);
    assert_int_equal(dd_route_percent_decode(NULL, 0, buf, sizeof(buf)), DD_ROUTE_BAD_PARAMETER);
}

static void test_dd_route_long_label(void **state)
{
    static char path[4096];
    dd_route_match_t m;

    (void)state;
    memcpy(path, "/things/", 8);
    memset(path + 8, 'a', 2000);
    path[2008] = '\0';
    assert_int_equal(dd_route_match("GET", path, &m), DD_ROUTE_TOO_LONG);
}

static void test_dd_route_table(void **state)
{
    const char *prev = "";
    const char *name;
    const char *method;
    const char *uri;
    size_t i;

    (void)state;
    assert_true(dd_route_count() >= 238);
    for (i = 0; i < dd_route_count(); i++) {
        assert_true(dd_route_entry(i, &name, &method, &uri));
        assert_true(strcmp(prev, name) < 0);
        assert_true(uri[0] == '/');
        prev = name;
    }
    assert_false(dd_route_entry(dd_route_count(), &name, NULL, NULL));
    assert_true(dd_route_known("CreateKeysAndCertificate"));
    assert_true(dd_route_known("AcceptCertificateTransfer"));
    assert_false(dd_route_known("MakeCoffee"));
    assert_false(dd_route_known(NULL));
    assert_string_equal(dd_route_strerror(DD_ROUTE_WRONG_METHOD),
                        "method not allowed for this path");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_route_plain_label),
        cmocka_unit_test(test_dd_route_percent_encoded_arn_in_segment),
        cmocka_unit_test(test_dd_route_literal_beats_label),
        cmocka_unit_test(test_dd_route_wrong_method_and_unknown),
        cmocka_unit_test(test_dd_route_unimplemented_operations_are_named),
        cmocka_unit_test(test_dd_route_bad_encoding),
        cmocka_unit_test(test_dd_route_long_label),
        cmocka_unit_test(test_dd_route_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
