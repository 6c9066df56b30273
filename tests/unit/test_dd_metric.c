#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_metric.h"

static void test_dd_metric_catalogue(void **state)
{
    static const char *const NAMES[] = {
        "aws:message-byte-size",
        "aws:num-messages-sent",
        "aws:num-messages-received",
        "aws:num-authorization-failures",
        "aws:source-ip-address",
        "aws:num-connection-attempts",
        "aws:num-disconnects",
        "aws:disconnect-duration",
        "aws:all-bytes-out",
        "aws:all-bytes-in",
        "aws:all-packets-out",
        "aws:all-packets-in",
        "aws:num-listening-tcp-ports",
        "aws:num-listening-udp-ports",
        "aws:num-established-tcp-connections",
        "aws:listening-tcp-ports",
        "aws:listening-udp-ports",
        "aws:destination-ip-addresses",
    };
    const dd_metric_info_t *info = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        assert_int_equal(dd_metric_find(NAMES[i], &info), DD_METRIC_OK);
        assert_string_equal(info->name, NAMES[i]);
        assert_ptr_equal(dd_metric_builtin(info->id), info);
    }
    assert_int_equal(dd_metric_find("aws:nope", &info), DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_find(NULL, &info), DD_METRIC_BAD_PARAMETER);
    assert_int_equal(dd_metric_find("aws:all-bytes-out", &info), DD_METRIC_OK);
    assert_int_equal(info->side, DD_SIDE_DEVICE);
    assert_int_equal(info->shape, DD_SHAPE_DELTA);
    assert_int_equal(info->value, DD_VALUE_COUNT);
    assert_true(info->statistics && info->ml && !info->dimension);
    assert_int_equal(dd_metric_find("aws:source-ip-address", &info), DD_METRIC_OK);
    assert_int_equal(info->ops, DD_OPS_CIDR);
    assert_true(info->dimension && !info->ml && !info->statistics);
    assert_int_equal(dd_metric_find("aws:disconnect-duration", &info), DD_METRIC_OK);
    assert_true((info->ops & DD_OP_BIT(DD_OP_GREATER_THAN)) == 0);
    assert_null(dd_metric_builtin(DD_METRIC_CUSTOM));
}

static void test_dd_metric_custom_types_and_ops(void **state)
{
    dd_custom_type_t t;
    dd_op_t op;
    unsigned i;

    (void)state;
    assert_int_equal(dd_metric_custom_type_parse("ip-address-list", &t), DD_METRIC_OK);
    assert_int_equal(t, DD_CUSTOM_TYPE_IP_ADDRESS_LIST);
    assert_int_equal(dd_metric_custom_info(t)->ops, DD_OPS_CIDR);
    assert_false(dd_metric_custom_info(t)->duration_allowed);
    assert_true(dd_metric_custom_info(DD_CUSTOM_TYPE_NUMBER)->ml);
    assert_int_equal(dd_metric_custom_type_parse("float", &t), DD_METRIC_NOT_FOUND);
    for (i = 1; i < DD_OP_COUNT_; i++) {
        assert_int_equal(dd_metric_op_parse(dd_metric_op_name((dd_op_t)i), &op), DD_METRIC_OK);
        assert_int_equal(op, i);
    }
    assert_int_equal(dd_metric_op_parse("equals", &op), DD_METRIC_NOT_FOUND);
    assert_true(dd_metric_duration_valid(300) && dd_metric_duration_valid(3600));
    assert_false(dd_metric_duration_valid(0) || dd_metric_duration_valid(1200));
    assert_string_equal(dd_metric_value_member(DD_VALUE_CIDRS), "cidrs");
    assert_true(strlen(dd_metric_strerror(DD_METRIC_NOT_FOUND)) > 0);
}

static void test_dd_metric_topic_filters(void **state)
{
    (void)state;
    assert_true(dd_metric_topic_matches("a/b", "a/b", NULL));
    assert_false(dd_metric_topic_matches("a/b", "a/c", NULL));
    assert_true(dd_metric_topic_matches("a/+/c", "a/x/c", NULL));
    assert_false(dd_metric_topic_matches("a/+/c", "a/x/y/c", NULL));
    assert_true(dd_metric_topic_matches("a/#", "a/x/y", NULL));
    assert_true(dd_metric_topic_matches("a/#", "a", NULL));
    assert_true(dd_metric_topic_matches("#", "anything/at/all", NULL));
    assert_false(dd_metric_topic_matches("#", "$aws/things/x", NULL));
    assert_false(dd_metric_topic_matches("+/things/x", "$aws/things/x", NULL));
    assert_true(dd_metric_topic_matches("temperature-device-+", "temperature-device-+", NULL));
    assert_false(dd_metric_topic_matches("temperature-device-+", "temperature-device-03", NULL));
    assert_true(dd_metric_topic_matches("dev/${iot:ClientId}/t", "dev/Thing03/t", "Thing03"));
    assert_false(dd_metric_topic_matches("dev/${iot:ClientId}/t", "dev/Thing04/t", "Thing03"));
    assert_false(dd_metric_topic_matches("a/b", "a/b/c", NULL));
    assert_false(dd_metric_topic_matches("", "a", NULL));
}

static void test_dd_metric_defs_lookup(void **state)
{
    dd_custom_metric_def_t c[1] = {{.name = "cpu", .type = DD_CUSTOM_TYPE_NUMBER}};
    static dd_dimension_def_t d = {.name = "dim", .value_count = 1, .values = {"a/#"}};
    const dd_dimension_def_t *dims[1] = {&d};
    dd_metric_defs_t defs = {c, 1, dims, 1};

    (void)state;
    assert_ptr_equal(dd_metric_defs_find_custom(&defs, "cpu"), &c[0]);
    assert_null(dd_metric_defs_find_custom(&defs, "mem"));
    assert_ptr_equal(dd_metric_defs_find_dimension(&defs, "dim"), &d);
    assert_null(dd_metric_defs_find_dimension(NULL, "dim"));
}

/* A report's values as the engine reads them: counters as reported with
 * their history channel, counts from totals, lists in place, custom metrics
 * only with the definition's type, nothing for absent blocks. */
static void test_dd_metric_from_report(void **state)
{
    dd_report_port_t ports[2] = {{.port = 22}, {.port = 443}};
    double numbers[2] = {1.5, 2.5};
    dd_report_custom_t custom[2];
    dd_report_t r;
    dd_datapoint_t dp;
    uint64_t values[DD_METRIC_COUNTERS];
    uint32_t mask = 0;
    int counter = 7;

    (void)state;
    memset(&r, 0, sizeof(r));
    memset(custom, 0, sizeof(custom));
    assert_int_equal(dd_metric_from_report(DD_METRIC_ALL_BYTES_OUT, NULL, DD_CUSTOM_TYPE_NUMBER, &r,
                                           &dp, &counter),
                     DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_report_counters(&r, values, &mask), DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_from_report(DD_METRIC_NUM_LISTENING_TCP_PORTS, NULL,
                                           DD_CUSTOM_TYPE_NUMBER, &r, &dp, NULL),
                     DD_METRIC_NOT_FOUND);

    r.has_metrics = true;
    r.net.present = true;
    r.net.has_bytes_out = true;
    r.net.bytes_out = 1200;
    r.net.has_packets_in = true;
    r.net.packets_in = 9;
    assert_int_equal(dd_metric_from_report(DD_METRIC_ALL_BYTES_OUT, NULL, DD_CUSTOM_TYPE_NUMBER, &r,
                                           &dp, &counter),
                     DD_METRIC_OK);
    assert_int_equal(dp.kind, DD_VALUE_COUNT);
    assert_int_equal(dp.count, 1200);
    assert_int_equal(counter, 1);
    assert_int_equal(dd_metric_from_report(DD_METRIC_ALL_BYTES_IN, NULL, DD_CUSTOM_TYPE_NUMBER, &r,
                                           &dp, &counter),
                     DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_report_counters(&r, values, &mask), DD_METRIC_OK);
    assert_int_equal(mask, 2u | 4u);
    assert_int_equal(values[1], 1200);
    assert_int_equal(values[2], 9);

    /* An absent port list counts 0 once the metrics block is there. */
    assert_int_equal(dd_metric_from_report(DD_METRIC_NUM_LISTENING_TCP_PORTS, NULL,
                                           DD_CUSTOM_TYPE_NUMBER, &r, &dp, &counter),
                     DD_METRIC_OK);
    assert_int_equal(dp.count, 0);
    assert_int_equal(counter, -1);
    r.tcp_ports.present = true;
    r.tcp_ports.count = 2;
    r.tcp_ports.items = ports;
    r.tcp_ports.has_total = true;
    r.tcp_ports.total = 5;
    assert_int_equal(dd_metric_from_report(DD_METRIC_NUM_LISTENING_TCP_PORTS, NULL,
                                           DD_CUSTOM_TYPE_NUMBER, &r, &dp, NULL),
                     DD_METRIC_OK);
    assert_int_equal(dp.count, 5);
    assert_int_equal(dd_metric_from_report(DD_METRIC_LISTENING_TCP_PORTS, NULL,
                                           DD_CUSTOM_TYPE_NUMBER, &r, &dp, NULL),
                     DD_METRIC_OK);
    assert_int_equal(dp.kind, DD_VALUE_PORTS);
    assert_int_equal(dp.n, 2);
    assert_int_equal(*(const uint16_t *)((const char *)dp.items + dp.stride), 443);

    strcpy(custom[0].name, "temperature");
    custom[0].kind = DD_CUSTOM_NUMBER;
    custom[0].number = 21.5;
    strcpy(custom[1].name, "loads");
    custom[1].kind = DD_CUSTOM_NUMBER_LIST;
    custom[1].count = 2;
    custom[1].numbers = numbers;
    r.custom = custom;
    r.custom_count = 2;
    assert_int_equal(dd_metric_from_report(DD_METRIC_CUSTOM, "temperature", DD_CUSTOM_TYPE_NUMBER,
                                           &r, &dp, NULL),
                     DD_METRIC_OK);
    assert_int_equal(dp.kind, DD_VALUE_NUMBER);
    assert_true(dp.number == 21.5);
    assert_int_equal(dd_metric_from_report(DD_METRIC_CUSTOM, "loads", DD_CUSTOM_TYPE_NUMBER_LIST,
                                           &r, &dp, NULL),
                     DD_METRIC_OK);
    assert_int_equal(dp.kind, DD_VALUE_NUMBERS);
    assert_int_equal(dp.n, 2);
    /* Another type than the definition's, or not in the report: no datapoint. */
    assert_int_equal(dd_metric_from_report(DD_METRIC_CUSTOM, "loads", DD_CUSTOM_TYPE_NUMBER, &r,
                                           &dp, NULL),
                     DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_from_report(DD_METRIC_CUSTOM, "humidity", DD_CUSTOM_TYPE_NUMBER, &r,
                                           &dp, NULL),
                     DD_METRIC_NOT_FOUND);
    /* Cloud-side metrics never come from a report. */
    assert_int_equal(dd_metric_from_report(DD_METRIC_NUM_MESSAGES_SENT, NULL, DD_CUSTOM_TYPE_NUMBER,
                                           &r, &dp, NULL),
                     DD_METRIC_NOT_FOUND);
    assert_int_equal(dd_metric_from_report(DD_METRIC_CUSTOM, NULL, DD_CUSTOM_TYPE_NUMBER, &r, &dp,
                                           NULL),
                     DD_METRIC_BAD_PARAMETER);
    assert_int_equal(dd_metric_report_counters(NULL, values, &mask), DD_METRIC_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_metric_catalogue),
        cmocka_unit_test(test_dd_metric_custom_types_and_ops),
        cmocka_unit_test(test_dd_metric_topic_filters),
        cmocka_unit_test(test_dd_metric_defs_lookup),
        cmocka_unit_test(test_dd_metric_from_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
