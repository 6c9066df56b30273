#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_names.h"

static void test_dd_names_patterns(void **state)
{
    char long_name[130];

    (void)state;
    assert_true(dd_name_valid(DD_NAME_THING, "Thing03"));
    assert_true(dd_name_valid(DD_NAME_THING, "a:b_c-d"));
    assert_false(dd_name_valid(DD_NAME_THING, ""));
    assert_false(dd_name_valid(DD_NAME_THING, "a b"));
    assert_false(dd_name_valid(DD_NAME_THING, "a/b"));
    assert_false(dd_name_valid(DD_NAME_THING, "a+b"));
    memset(long_name, 'x', 128);
    long_name[128] = '\0';
    assert_true(dd_name_valid(DD_NAME_THING, long_name));
    long_name[128] = 'x';
    long_name[129] = '\0';
    assert_false(dd_name_valid(DD_NAME_THING, long_name));
    assert_true(dd_name_valid(DD_NAME_POLICY, "Device.Policy+v1@x=y,z"));
    assert_false(dd_name_valid(DD_NAME_POLICY, "a:b"));
    assert_false(dd_name_valid(DD_NAME_CUSTOM_METRIC, "aws:cpu"));
    assert_true(dd_name_valid(DD_NAME_CUSTOM_METRIC, "cpu_usage"));
    assert_false(dd_name_valid(DD_NAME_MITIGATION_ACTION, "a:b"));
    assert_true(dd_name_valid(DD_NAME_CERTIFICATE,
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(dd_name_valid(DD_NAME_CERTIFICATE,
                               "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(dd_name_valid(DD_NAME_THING, NULL));
    assert_true(strlen(dd_name_pattern(DD_NAME_THING)) > 0);
}

static void test_dd_names_arns_round_trip(void **state)
{
    dd_arn_ctx_t ctx;
    char arn[DD_ARN_MAX];
    char name[DD_NAME_MAX + 1];
    dd_arn_target_t target;

    (void)state;
    dd_arn_ctx_default(&ctx);
    assert_int_equal(dd_arn_format(&ctx, DD_NAME_THING_GROUP, "IsolatedDevices", arn, sizeof(arn)),
                     DD_NAMES_OK);
    assert_string_equal(arn, "arn:aws:iot:us-east-1:123456789012:thinggroup/IsolatedDevices");
    assert_int_equal(dd_arn_parse(&ctx, DD_NAME_THING_GROUP, arn, name, sizeof(name)), DD_NAMES_OK);
    assert_string_equal(name, "IsolatedDevices");
    assert_int_equal(dd_arn_parse(&ctx, DD_NAME_THING, arn, name, sizeof(name)), DD_NAMES_INVALID);
    assert_int_equal(dd_arn_format(&ctx, DD_NAME_SNS_TOPIC, "BadIoTDevices", arn, sizeof(arn)),
                     DD_NAMES_OK);
    assert_string_equal(arn, "arn:aws:sns:us-east-1:123456789012:BadIoTDevices");
    assert_int_equal(dd_arn_parse(&ctx, DD_NAME_SNS_TOPIC, arn, name, sizeof(name)), DD_NAMES_OK);
    assert_string_equal(name, "BadIoTDevices");
    assert_int_equal(dd_arn_format(&ctx, DD_NAME_BEHAVIOR, "b", arn, sizeof(arn)),
                     DD_NAMES_INVALID);
    assert_int_equal(dd_arn_format(&ctx, DD_NAME_THING, "T", arn, 10), DD_NAMES_BUFFER_TOO_SMALL);

    assert_int_equal(dd_arn_ctx_set(&ctx, "eu-west-1", "000011112222"), DD_NAMES_OK);
    assert_int_equal(dd_arn_ctx_set(&ctx, "EU", "000011112222"), DD_NAMES_INVALID);
    assert_int_equal(dd_arn_ctx_set(&ctx, "eu-west-1", "12"), DD_NAMES_INVALID);
    assert_int_equal(dd_arn_format_target(&ctx, DD_ARN_TARGET_ALL_THINGS, NULL, arn, sizeof(arn)),
                     DD_NAMES_OK);
    assert_string_equal(arn, "arn:aws:iot:eu-west-1:000011112222:all/things");
    assert_int_equal(dd_arn_parse_target(&ctx, arn, &target, name, sizeof(name)), DD_NAMES_OK);
    assert_int_equal(target, DD_ARN_TARGET_ALL_THINGS);
    assert_int_equal(dd_arn_parse_target(&ctx,
                                         "arn:aws:iot:eu-west-1:000011112222:all/registered-things",
                                         &target, name, sizeof(name)),
                     DD_NAMES_OK);
    assert_int_equal(target, DD_ARN_TARGET_ALL_REGISTERED);
    assert_int_equal(dd_arn_parse_target(&ctx, "arn:aws:iot:eu-west-1:000011112222:thinggroup/G1",
                                         &target, name, sizeof(name)),
                     DD_NAMES_OK);
    assert_int_equal(target, DD_ARN_TARGET_THING_GROUP);
    assert_string_equal(name, "G1");
    /* Other account, other region, bad group name, unknown target. */
    assert_int_equal(dd_arn_parse_target(&ctx, "arn:aws:iot:eu-west-1:999911112222:all/things",
                                         &target, name, sizeof(name)),
                     DD_NAMES_INVALID);
    assert_int_equal(dd_arn_parse_target(&ctx, "arn:aws:iot:us-east-1:000011112222:all/things",
                                         &target, name, sizeof(name)),
                     DD_NAMES_INVALID);
    assert_int_equal(dd_arn_parse_target(&ctx, "arn:aws:iot:eu-west-1:000011112222:thinggroup/a b",
                                         &target, name, sizeof(name)),
                     DD_NAMES_INVALID);
    assert_int_equal(dd_arn_parse_target(&ctx, "arn:aws:iot:eu-west-1:000011112222:all/nothing",
                                         &target, name, sizeof(name)),
                     DD_NAMES_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_names_patterns),
        cmocka_unit_test(test_dd_names_arns_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
