#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_engine.h"
#include "dd_metric.h"

static void test_dd_metric_catalogue(void **state)
{
    static const char *const NAMES[] = {
        "aws:message-byte-size", "aws:num-messages-sent", "aws:num-messages-received",
        "aws:num-authorization-failures", "aws:source-ip-address", "aws:num-connection-attempts",
        "aws:num-disconnects", "aws:disconnect-duration", "aws:all-bytes-out", "aws:all-bytes-in",
        "aws:all-packets-out", "aws:all-packets-in", "aws:num-listening-tcp-ports",
        "aws:num-listening-udp-ports", "aws:num-established-tcp-connections",
        "aws:listening-tcp-ports", "aws:listening-udp-ports", "aws:destination-ip-addresses",
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

/* -------------------------------------------------- extraction from wire samples */

static void ex_append(char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ex_append(char *log, const char *fmt, ...)
{
    size_t len = strlen(log);
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(log + len, 16384 - len, fmt, ap);
    va_end(ap);
}

/* Logs "<behavior> <value>" for every event that carries a value. */
static void ex_on_event(void *ctx, const dd_violation_event_t *ev)
{
    char *log = ctx;
    size_t i;

    if (!ev->has_value) {
        return;
    }
    ex_append(log, "%s ", ev->behavior->name);
    if (ev->value.kind == DD_VALUE_COUNT) {
        ex_append(log, "%lld\n", (long long)ev->value.count);
        return;
    }
    if (ev->value.kind == DD_VALUE_NUMBER) {
        ex_append(log, "%.15g\n", ev->value.number);
        return;
    }
    ex_append(log, "[");
    for (i = 0; i < ev->value.n; i++) {
        char buf[DD_IP_TEXT_MAX];
        if (ev->value.kind == DD_VALUE_PORTS) {
            ex_append(log, "%s%u", i ? "," : "", dd_datapoint_port(&ev->value, i));
        } else if (ev->value.kind == DD_VALUE_CIDRS) {
            (void)dd_ip_format(dd_datapoint_ip(&ev->value, i), buf, sizeof(buf));
            ex_append(log, "%s%s", i ? "," : "", buf);
        } else if (ev->value.kind == DD_VALUE_NUMBERS) {
            ex_append(log, "%s%.15g", i ? "," : "", dd_datapoint_number(&ev->value, i));
        } else {
            ex_append(log, "%s%s", i ? "," : "", dd_datapoint_string(&ev->value, i));
        }
    }
    ex_append(log, "]\n");
}

static void ex_on_active(void *ctx, const dd_active_violation_t *av)
{
    (void)ctx;
    (void)av;
}

static void ex_on_removed(void *ctx, const char *id)
{
    (void)ctx;
    (void)id;
}

static void ex_on_datum(void *ctx, const dd_metric_datum_t *d)
{
    (void)ctx;
    (void)d;
}

static void ex_on_state(void *ctx, const char *thing, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)thing;
    (void)blob;
    (void)len;
}

/* Every behavior violates on any datapoint (a violation is the criterion NOT holding), so each
 * event carries the value exactly as extracted. The UDP rule (in-port-set []) violates only
 * on a non-empty list. */
static const char *const EX_PROFILE =
    "{\"securityProfileName\":\"x\",\"targets\":[\"arn:aws:iot:us-east-1:123456789012:all/things\"],"
    "\"behaviors\":["
    "{\"name\":\"bi\",\"metric\":\"aws:all-bytes-in\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"bo\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"pi\",\"metric\":\"aws:all-packets-in\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"po\",\"metric\":\"aws:all-packets-out\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"ntcp\",\"metric\":\"aws:num-listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"nudp\",\"metric\":\"aws:num-listening-udp-ports\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"nconn\",\"metric\":\"aws:num-established-tcp-connections\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"count\":0}}},"
    "{\"name\":\"tcp\",\"metric\":\"aws:listening-tcp-ports\",\"criteria\":{\"comparisonOperator\":\"not-in-port-set\",\"value\":{\"ports\":[22,443,2024,8883,11883,11884]}}},"
    "{\"name\":\"udp\",\"metric\":\"aws:listening-udp-ports\",\"criteria\":{\"comparisonOperator\":\"in-port-set\",\"value\":{\"ports\":[]}}},"
    "{\"name\":\"dst\",\"metric\":\"aws:destination-ip-addresses\",\"criteria\":{\"comparisonOperator\":\"in-cidr-set\",\"value\":{\"cidrs\":[\"10.0.0.0/8\"]}}},"
    "{\"name\":\"cpu\",\"metric\":\"cpu_usage\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":0}}},"
    "{\"name\":\"my\",\"metric\":\"my_custom_metric\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":0}}},"
    "{\"name\":\"up\",\"metric\":\"uptime\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":0}}},"
    "{\"name\":\"mem\",\"metric\":\"free_mem\",\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":0}}},"
    "{\"name\":\"cuu\",\"metric\":\"cpu_user_usage\",\"criteria\":{\"comparisonOperator\":\"in-set\",\"value\":{\"numbers\":[1]}}},"
    "{\"name\":\"nif\",\"metric\":\"network_interface_names\",\"criteria\":{\"comparisonOperator\":\"not-in-set\",\"value\":{\"strings\":[\"eth0\"]}}},"
    "{\"name\":\"nia\",\"metric\":\"network_interface_addresses\",\"criteria\":{\"comparisonOperator\":\"not-in-cidr-set\",\"value\":{\"cidrs\":[\"192.0.2.0/24\"]}}}]}";

/* Decodes fixtures/reports/<file> (hex text for CBOR), feeds it as thing t's first report and
 * writes the extracted values to @p log (16384 bytes). */
static void ex_extract(const char *file, dd_report_format_t fmt, char *log)
{
    static const dd_custom_metric_def_t DEFS[] = {
        {.name = "cpu_usage", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "my_custom_metric", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "uptime", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "free_mem", .type = DD_CUSTOM_TYPE_NUMBER},
        {.name = "cpu_user_usage", .type = DD_CUSTOM_TYPE_NUMBER_LIST},
        {.name = "network_interface_names", .type = DD_CUSTOM_TYPE_STRING_LIST},
        {.name = "network_interface_addresses", .type = DD_CUSTOM_TYPE_IP_ADDRESS_LIST},
    };
    dd_engine_sink_t sink = {log, ex_on_event, ex_on_active, ex_on_removed, ex_on_datum,
                             ex_on_state};
    dd_engine_t *e = NULL;
    dd_profile_t p;
    dd_report_t rep;
    char path[512];
    FILE *f;
    long n;
    size_t len;
    uint8_t *buf;
    size_t i;

    log[0] = '\0';
    snprintf(path, sizeof(path), "%s/fixtures/reports/%s", DD_SOURCE_DIR, file);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    len = (size_t)n;
    if (fmt == DD_REPORT_FORMAT_CBOR) {
        unsigned v;
        len = 0;
        for (i = 0; i + 1 < (size_t)n && sscanf((const char *)buf + i, "%2x", &v) == 1; i += 2) {
            buf[len++] = (uint8_t)v;
        }
    }
    assert_int_equal(dd_engine_create(NULL, NULL, &sink, &e), DD_ENGINE_OK);
    for (i = 0; i < sizeof(DEFS) / sizeof(DEFS[0]); i++) {
        assert_int_equal(dd_engine_put_custom_metric(e, &DEFS[i]), DD_ENGINE_OK);
    }
    assert_int_equal(dd_profile_parse(EX_PROFILE, strlen(EX_PROFILE), NULL, &p, NULL),
                     DD_PROFILE_OK);
    assert_int_equal(dd_engine_put_profile(e, &p, 0), DD_ENGINE_OK);
    dd_profile_free(&p);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(dd_report_decode(fmt, buf, len, &rep, NULL), DD_REPORT_OK);
    log[0] = '\0'; /* only what the report produced */
    assert_int_equal(dd_engine_on_report(e, "t", 1000, &rep), DD_ENGINE_OK);
    dd_report_free(&rep);
    free(buf);
    dd_engine_destroy(e);
}

/* Values read by hand from the fixture files; the first report of a thing carries its deltas
 * as they are. */
static void test_dd_metric_extraction_from_wire_samples(void **state)
{
    char *log = malloc(16384);

    (void)state;
    assert_non_null(log);
    /* Long keys (Python agent): connection list shortened to 3, "total" 10 wins; no UDP block. */
    ex_extract("python-agent-long.json", DD_REPORT_FORMAT_JSON, log);
    assert_string_equal(log, "bi 7226\nbo 7226\npi 28\npo 28\nntcp 4\nnudp 0\nnconn 10\n"
                             "tcp [8883,2024,443,11883]\n"
                             "dst [127.0.0.1,127.0.0.1,127.0.0.1]\n"
                             "cpu 1.1\n");
    /* CBOR (same agent, hex): 256/256 bytes, 4/4 packets, 10 connections, 4 TCP ports, no UDP
     * block and no custom metrics. */
    ex_extract("python-agent.cbor.hex", DD_REPORT_FORMAT_CBOR, log);
    assert_string_equal(log, "bi 256\nbo 256\npi 4\npo 4\nntcp 4\nnudp 0\nnconn 10\n"
                             "tcp [443,2024,8883,11883]\n"
                             "dst [127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,"
                             "127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1]\n");
    /* Short keys (C SDK): empty "up", every custom metric kind. */
    ex_extract("c-sdk-short.json", DD_REPORT_FORMAT_JSON, log);
    assert_string_equal(log, "bi 27810443\nbo 391021\npi 2850\npo 2699\nntcp 3\nnudp 0\nnconn 6\n"
                             "tcp [2024,8883,11884]\n"
                             "dst [127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1]\n"
                             "up 1293\nmem 24260296\n"
                             "cuu [11755,4697,7058]\nnif [eth0]\nnia [192.0.2.1]\n");
    /* None of the three samples lists a UDP port: the spec's minimal long-key report does. */
    ex_extract("spec-minimal-long.json", DD_REPORT_FORMAT_JSON, log);
    assert_string_equal(log, "bi 30680\nbo 10652\npi 113\npo 118\nntcp 1\nnudp 1\nnconn 1\n"
                             "tcp [22]\nudp [5353]\ndst [192.168.0.1]\nmy 0\n");
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_metric_catalogue),
        cmocka_unit_test(test_dd_metric_custom_types_and_ops),
        cmocka_unit_test(test_dd_metric_topic_filters),
        cmocka_unit_test(test_dd_metric_defs_lookup),
        cmocka_unit_test(test_dd_metric_extraction_from_wire_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
