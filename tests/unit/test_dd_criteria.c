#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dd_criteria.h"

/* Compiles `op` with the MetricValue JSON `value`. */
static void compile(dd_criteria_t *c, dd_op_t op, const char *value)
{
    cJSON *j = cJSON_Parse(value);
    dd_metric_value_t v;

    assert_non_null(j);
    assert_int_equal(dd_profile_metric_value_parse_cjson(j, &v, NULL), DD_PROFILE_OK);
    assert_int_equal(dd_criteria_compile(op, &v, c), DD_CRITERIA_OK);
    dd_profile_metric_value_free(&v);
    cJSON_Delete(j);
}

static bool conforms(const dd_criteria_t *c, const dd_datapoint_t *dp)
{
    bool ok = false;
    assert_int_equal(dd_criteria_conforms(c, dp, &ok), DD_CRITERIA_OK);
    return ok;
}

static dd_datapoint_t count(int64_t n)
{
    dd_datapoint_t dp = {.kind = DD_VALUE_COUNT, .count = n};
    return dp;
}

static void test_dd_criteria_numeric_operators(void **state)
{
    dd_criteria_t c;
    dd_datapoint_t n = {.kind = DD_VALUE_NUMBER, .number = 75.5};

    (void)state;
    compile(&c, DD_OP_LESS_THAN, "{\"count\":200}");
    assert_true(conforms(&c, &(dd_datapoint_t){.kind = DD_VALUE_COUNT, .count = 199}));
    assert_false(conforms(&c, &(dd_datapoint_t){.kind = DD_VALUE_COUNT, .count = 200}));
    dd_criteria_free(&c);
    compile(&c, DD_OP_LESS_THAN_EQUALS, "{\"count\":200}");
    {
        dd_datapoint_t a = count(200), b = count(201), z = count(0);
        assert_true(conforms(&c, &a));
        assert_false(conforms(&c, &b));
        assert_true(conforms(&c, &z));
    }
    dd_criteria_free(&c);
    /* The Module 4 literal rule: greater-than 200 is NORMAL above 200. */
    compile(&c, DD_OP_GREATER_THAN, "{\"count\":200}");
    {
        dd_datapoint_t quiet = count(150), noisy = count(3000), edge = count(200);
        assert_false(conforms(&c, &quiet));
        assert_true(conforms(&c, &noisy));
        assert_false(conforms(&c, &edge));
    }
    dd_criteria_free(&c);
    compile(&c, DD_OP_GREATER_THAN_EQUALS, "{\"number\":75.5}");
    assert_true(conforms(&c, &n));
    n.number = 75.4;
    assert_false(conforms(&c, &n));
    {
        dd_datapoint_t a = count(76);
        assert_true(conforms(&c, &a));
    }
    dd_criteria_free(&c);
    assert_true(dd_criteria_compare(DD_OP_LESS_THAN_EQUALS, 1.0, 1.0));
    assert_false(dd_criteria_compare(DD_OP_IN_SET, 1.0, 1.0));
}

static void test_dd_criteria_port_sets(void **state)
{
    dd_criteria_t c;
    uint16_t ports[3] = {22, 443, 8883};
    dd_datapoint_t dp = {.kind = DD_VALUE_PORTS, .n = 2, .items = ports};
    dd_datapoint_t empty = {.kind = DD_VALUE_PORTS, .n = 0};
    bool ok;

    (void)state;
    compile(&c, DD_OP_IN_PORT_SET, "{\"ports\":[8883,443,22,22]}");
    assert_int_equal(c.port_count, 3);
    dp.n = 3;
    assert_true(conforms(&c, &dp));
    ports[0] = 23;
    assert_false(conforms(&c, &dp));
    assert_true(conforms(&c, &empty));
    dd_criteria_free(&c);
    compile(&c, DD_OP_NOT_IN_PORT_SET, "{\"ports\":[23]}");
    assert_false(conforms(&c, &dp));
    ports[0] = 24;
    assert_true(conforms(&c, &dp));
    assert_true(conforms(&c, &empty));
    {
        dd_datapoint_t wrong = count(1);
        assert_int_equal(dd_criteria_conforms(&c, &wrong, &ok), DD_CRITERIA_KIND_MISMATCH);
    }
    dd_criteria_free(&c);
}

static dd_ip_t ip(const char *text)
{
    dd_ip_t a;
    assert_int_equal(dd_ip_parse(text, strlen(text), &a), DD_IP_OK);
    return a;
}

static void test_dd_criteria_cidr_sets_v4_v6(void **state)
{
    dd_criteria_t c;
    dd_ip_t ips[3];
    dd_datapoint_t dp = {.kind = DD_VALUE_CIDRS, .n = 2, .items = ips};
    dd_datapoint_t empty = {.kind = DD_VALUE_CIDRS};

    (void)state;
    ips[0] = ip("10.1.2.3");
    ips[1] = ip("2001:db8::1");
    compile(&c, DD_OP_IN_CIDR_SET, "{\"cidrs\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}");
    assert_true(conforms(&c, &dp));
    ips[1] = ip("2001:db9::1");
    assert_false(conforms(&c, &dp));
    assert_true(conforms(&c, &empty));
    dd_criteria_free(&c);
    compile(&c, DD_OP_NOT_IN_CIDR_SET, "{\"cidrs\":[\"192.168.0.0/16\",\"::1\"]}");
    assert_true(conforms(&c, &dp));
    ips[0] = ip("::1");
    assert_false(conforms(&c, &dp));
    ips[0] = ip("192.168.7.7");
    assert_false(conforms(&c, &dp));
    assert_true(conforms(&c, &empty));
    dd_criteria_free(&c);
}

static void test_dd_criteria_number_and_string_sets(void **state)
{
    dd_criteria_t c;
    double nums[2] = {1.5, 3};
    const char *strs[2] = {"eth0", "wlan0"};
    dd_datapoint_t dn = {.kind = DD_VALUE_NUMBERS, .n = 2, .items = nums};
    dd_datapoint_t ds = {.kind = DD_VALUE_STRINGS, .n = 2, .items = strs};
    dd_datapoint_t empty = {.kind = DD_VALUE_STRINGS};

    (void)state;
    compile(&c, DD_OP_IN_SET, "{\"numbers\":[3,1.5,7]}");
    assert_true(conforms(&c, &dn));
    nums[1] = 4;
    assert_false(conforms(&c, &dn));
    dd_criteria_free(&c);
    compile(&c, DD_OP_NOT_IN_SET, "{\"numbers\":[4]}");
    assert_false(conforms(&c, &dn));
    dd_criteria_free(&c);
    compile(&c, DD_OP_IN_SET, "{\"strings\":[\"wlan0\",\"eth0\"]}");
    assert_true(conforms(&c, &ds));
    assert_true(conforms(&c, &empty));
    strs[1] = "tun0";
    assert_false(conforms(&c, &ds));
    dd_criteria_free(&c);
    compile(&c, DD_OP_NOT_IN_SET, "{\"strings\":[\"tun0\"]}");
    assert_false(conforms(&c, &ds));
    strs[1] = "eth1";
    assert_true(conforms(&c, &ds));
    assert_true(conforms(&c, &empty));
    dd_criteria_free(&c);
}

static void test_dd_criteria_plain_number_boundaries(void **state)
{
    dd_criteria_t c;
    dd_datapoint_t n = {.kind = DD_VALUE_NUMBER};

    (void)state;
    /* less-than 75.5: 75.49 conforms, the boundary itself violates. */
    compile(&c, DD_OP_LESS_THAN, "{\"number\":75.5}");
    n.number = 75.49;
    assert_true(conforms(&c, &n));
    n.number = 75.5;
    assert_false(conforms(&c, &n));
    n.number = -1e9;
    assert_true(conforms(&c, &n));
    dd_criteria_free(&c);
    /* less-than-equals 75.5: the boundary conforms, just above violates. */
    compile(&c, DD_OP_LESS_THAN_EQUALS, "{\"number\":75.5}");
    n.number = 75.5;
    assert_true(conforms(&c, &n));
    n.number = 75.51;
    assert_false(conforms(&c, &n));
    dd_criteria_free(&c);
    /* greater-than 0.25: the boundary violates, just above conforms. */
    compile(&c, DD_OP_GREATER_THAN, "{\"number\":0.25}");
    n.number = 0.25;
    assert_false(conforms(&c, &n));
    n.number = 0.26;
    assert_true(conforms(&c, &n));
    n.number = 0;
    assert_false(conforms(&c, &n));
    dd_criteria_free(&c);
    /* A whole number compares with a number threshold exactly. */
    compile(&c, DD_OP_LESS_THAN, "{\"number\":3}");
    {
        dd_datapoint_t two = count(2), three = count(3);
        assert_true(conforms(&c, &two));
        assert_false(conforms(&c, &three));
    }
    dd_criteria_free(&c);
}

static void test_dd_criteria_number_sets_not_in_and_empty(void **state)
{
    dd_criteria_t c;
    double nums[2] = {1.5, 3};
    dd_datapoint_t dn = {.kind = DD_VALUE_NUMBERS, .n = 2, .items = nums};
    dd_datapoint_t empty = {.kind = DD_VALUE_NUMBERS, .n = 0};

    (void)state;
    /* not-in-set conforms when no reported number is in the set. */
    compile(&c, DD_OP_NOT_IN_SET, "{\"numbers\":[4,1.25]}");
    assert_true(conforms(&c, &dn));
    nums[0] = 1.25;
    assert_false(conforms(&c, &dn));
    assert_true(conforms(&c, &empty));
    dd_criteria_free(&c);
    /* An empty reported list conforms to in-set as well. */
    compile(&c, DD_OP_IN_SET, "{\"numbers\":[4]}");
    assert_true(conforms(&c, &empty));
    assert_false(conforms(&c, &dn));
    dd_criteria_free(&c);
    /* An empty configured set: nothing is allowed, so only an empty report conforms;
     * not-in an empty set allows everything. */
    compile(&c, DD_OP_IN_SET, "{\"numbers\":[]}");
    assert_true(conforms(&c, &empty));
    assert_false(conforms(&c, &dn));
    dd_criteria_free(&c);
    compile(&c, DD_OP_NOT_IN_SET, "{\"numbers\":[]}");
    assert_true(conforms(&c, &empty));
    assert_true(conforms(&c, &dn));
    dd_criteria_free(&c);
}

static void test_dd_criteria_errors(void **state)
{
    dd_criteria_t c;
    dd_metric_value_t v = {.members = DD_MV_PORTS};

    (void)state;
    assert_int_equal(dd_criteria_compile(DD_OP_LESS_THAN, &v, &c), DD_CRITERIA_INVALID);
    assert_int_equal(dd_criteria_compile(DD_OP_NONE, NULL, &c), DD_CRITERIA_INVALID);
    assert_int_equal(dd_criteria_compile(DD_OP_IN_SET, NULL, &c), DD_CRITERIA_INVALID);
    assert_true(strlen(dd_criteria_strerror(DD_CRITERIA_KIND_MISMATCH)) > 0);
}

/* behaviorCriteriaType: the kind of a parsed behavior, and the filter's text. */
static void test_dd_criteria_type_of_behaviors(void **state)
{
    static const struct {
        const char *json;
        dd_criteria_type_t type;
    } CASES[] = {
        {"{\"name\":\"s\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
         "{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":5}}}",
         DD_CRITERIA_STATIC},
        {"{\"name\":\"p\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
         "{\"comparisonOperator\":\"less-than\",\"durationSeconds\":300,"
         "\"statisticalThreshold\":{\"statistic\":\"p90\"}}}",
         DD_CRITERIA_STATISTICAL},
        {"{\"name\":\"m\",\"metric\":\"aws:all-bytes-out\",\"criteria\":"
         "{\"mlDetectionConfig\":{\"confidenceLevel\":\"HIGH\"}}}",
         DD_CRITERIA_MACHINE_LEARNING},
        {"{\"name\":\"r\",\"metric\":\"aws:all-bytes-out\"}", DD_CRITERIA_NONE},
    };
    dd_criteria_type_t t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        cJSON *j = cJSON_Parse(CASES[i].json);
        dd_behavior_t b;

        assert_non_null(j);
        assert_int_equal(dd_profile_behavior_parse_cjson(j, &b, NULL), DD_PROFILE_OK);
        assert_int_equal(dd_criteria_type_of(&b), CASES[i].type);
        dd_profile_behavior_free(&b);
        cJSON_Delete(j);
    }
    assert_int_equal(dd_criteria_type_of(NULL), DD_CRITERIA_NONE);
    assert_int_equal(dd_criteria_type_parse("STATISTICAL", &t), DD_CRITERIA_OK);
    assert_int_equal(t, DD_CRITERIA_STATISTICAL);
    assert_string_equal(dd_criteria_type_name(t), "STATISTICAL");
    assert_string_equal(dd_criteria_type_name(DD_CRITERIA_MACHINE_LEARNING), "MACHINE_LEARNING");
    assert_string_equal(dd_criteria_type_name(DD_CRITERIA_NONE), "");
    assert_int_equal(dd_criteria_type_parse("static", &t), DD_CRITERIA_INVALID);
    assert_int_equal(dd_criteria_type_parse(NULL, &t), DD_CRITERIA_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_criteria_numeric_operators),
        cmocka_unit_test(test_dd_criteria_port_sets),
        cmocka_unit_test(test_dd_criteria_cidr_sets_v4_v6),
        cmocka_unit_test(test_dd_criteria_number_and_string_sets),
        cmocka_unit_test(test_dd_criteria_errors),
        cmocka_unit_test(test_dd_criteria_plain_number_boundaries),
        cmocka_unit_test(test_dd_criteria_number_sets_not_in_and_empty),
        cmocka_unit_test(test_dd_criteria_type_of_behaviors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
