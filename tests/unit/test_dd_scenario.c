#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_scenario.h"

#define FIX(name) DD_SOURCE_DIR "/fixtures/scenarios/" name

static void test_dd_scenario_fixtures(void **state)
{
    dd_scenario_t sc;
    char msg[256] = "";
    char name[64];
    char topic[128];
    uint64_t total = 0;
    uint32_t i;

    (void)state;
    assert_int_equal(dd_scenario_load(FIX("small.json"), &sc, msg, sizeof(msg)), DD_SCENARIO_OK);
    assert_string_equal(sc.name, "small");
    assert_int_equal(sc.devices, 3);
    assert_true(sc.duration_s == 900);
    assert_true(sc.report_interval_s == 300);
    for (i = 0; i < sc.devices; i++) {
        assert_int_equal(dd_scenario_expected_reports(&sc, i), 3);
    }
    dd_scenario_thing_name(&sc, 0, name, sizeof(name));
    assert_string_equal(name, "small-0001");
    dd_scenario_free(&sc);

    assert_int_equal(dd_scenario_load(FIX("bytes-spike.json"), &sc, msg, sizeof(msg)),
                     DD_SCENARIO_OK);
    assert_int_equal(sc.group_count, 2);
    assert_string_equal(sc.groups[0].name, "exfiltrating");
    assert_int_equal(dd_scenario_group_of(&sc, 0), 0);
    assert_int_equal(dd_scenario_group_of(&sc, 4), 0);
    assert_int_equal(dd_scenario_group_of(&sc, 5), 1);
    assert_int_equal(dd_scenario_group_of(&sc, 6), 1);
    assert_int_equal(dd_scenario_group_of(&sc, 7), -1);
    assert_int_equal(dd_scenario_group_of(&sc, 49), -1);
    /* Offsets spread the fleet over one interval. */
    assert_true(dd_scenario_report_offset_s(&sc, 0) == 0.0);
    assert_true(dd_scenario_report_offset_s(&sc, 25) == 150.0);
    for (i = 0; i < sc.devices; i++) {
        total += dd_scenario_expected_reports(&sc, i);
    }
    assert_int_equal(total, 50 * 6);
    assert_true(sc.telemetry);
    assert_int_equal(dd_scenario_telemetry_topic(&sc, "bytes-spike-0001", topic, sizeof(topic)),
                     DD_SCENARIO_OK);
    assert_string_equal(topic, "fleet/bytes-spike-0001/temperature");
    assert_int_equal(dd_scenario_payload_size(&sc, 5, 599), 0);
    assert_int_equal(dd_scenario_payload_size(&sc, 5, 600), 3000);
    assert_int_equal(dd_scenario_payload_size(&sc, 6, 1799), 3000);
    assert_int_equal(dd_scenario_payload_size(&sc, 7, 900), 0);
    dd_scenario_free(&sc);

    assert_int_equal(dd_scenario_load(FIX("capacity.json"), &sc, msg, sizeof(msg)), DD_SCENARIO_OK);
    assert_int_equal(sc.keys, DD_REPORT_KEYS_SHORT);
    dd_scenario_thing_name(&sc, 9999, name, sizeof(name));
    assert_string_equal(name, "capacity-10000");
    dd_scenario_thing_name(&sc, 0, name, sizeof(name));
    assert_string_equal(name, "capacity-00001");
    dd_scenario_free(&sc);
}

static const char EXACT[] =
    "{\"name\":\"exact\",\"devices\":4,\"durationSeconds\":1000,\"thingPrefix\":\"Dev\","
    "\"report\":{\"intervalSeconds\":300},"
    "\"metrics\":{\"bytes_out\":150,\"bytes_in\":{\"distribution\":\"constant\",\"value\":1000},"
    "\"listening_tcp_ports\":[22],"
    "\"connections\":{\"count\":3,\"remote\":\"10.1.2.0/24\",\"remotePorts\":[443],"
    "\"localInterface\":\"wlan0\"},"
    "\"custom\":{\"temp\":21.5}},"
    "\"groups\":[{\"name\":\"bad\",\"devices\":1,\"schedule\":["
    "{\"fromSeconds\":600,\"toSeconds\":900,\"metrics\":{\"bytes_out\":{\"scale\":100},"
    "\"listening_tcp_ports\":{\"add\":[4444]},\"custom\":{\"temp\":{\"scale\":2},\"extra\":7}}},"
    "{\"fromSeconds\":800,\"metrics\":{\"bytes_out\":{\"distribution\":\"constant\",\"value\":5},"
    "\"listening_tcp_ports\":[80]}}]}]}";

static const dd_report_custom_t *custom(const dd_report_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->custom_count; i++) {
        if (strcmp(r->custom[i].name, name) == 0) {
            return &r->custom[i];
        }
    }
    return NULL;
}

static void test_dd_scenario_schedule(void **state)
{
    dd_scenario_t sc;
    dd_report_t r;
    char msg[256] = "";
    uint64_t rng = 1;
    char name[32];
    size_t i;

    (void)state;
    assert_int_equal(dd_scenario_parse(EXACT, sizeof(EXACT) - 1, &sc, msg, sizeof(msg)),
                     DD_SCENARIO_OK);
    dd_scenario_thing_name(&sc, 3, name, sizeof(name));
    assert_string_equal(name, "Dev0004");
    /* 1000 s at 300 s: offsets 0, 75, 150, 225 -> 4 reports each (0..900 + offset < 1000) */
    assert_int_equal(dd_scenario_expected_reports(&sc, 0), 4);
    assert_int_equal(dd_scenario_expected_reports(&sc, 3), 3);

    /* Before the schedule: the base. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_scenario_report(&sc, 0, 599.0, &rng, 11, &r), DD_SCENARIO_OK);
    assert_int_equal(r.report_id, 11);
    assert_int_equal(r.net.bytes_out, 150);
    assert_int_equal(r.net.bytes_in, 1000);
    assert_int_equal(r.net.packets_in, 0);
    assert_int_equal(r.tcp_ports.count, 1);
    assert_int_equal(r.tcp_ports.items[0].port, 22);
    assert_true(r.udp_ports.present);
    assert_int_equal(r.udp_ports.total, 0);
    assert_int_equal(r.tcp_conns.total, 3);
    for (i = 0; i < r.tcp_conns.count; i++) {
        assert_int_equal(r.tcp_conns.items[i].remote_ip.family, 4);
        assert_int_equal(r.tcp_conns.items[i].remote_ip.bytes[0], 10);
        assert_int_equal(r.tcp_conns.items[i].remote_ip.bytes[1], 1);
        assert_int_equal(r.tcp_conns.items[i].remote_ip.bytes[2], 2);
        assert_int_equal(r.tcp_conns.items[i].remote_port, 443);
        assert_string_equal(r.tcp_conns.items[i].local_interface, "wlan0");
    }
    assert_true(custom(&r, "temp")->number == 21.5);
    assert_null(custom(&r, "extra"));
    dd_report_free(&r);

    /* First entry: scale, add, custom scale and a new custom metric. */
    assert_int_equal(dd_scenario_report(&sc, 0, 600.0, &rng, 12, &r), DD_SCENARIO_OK);
    assert_int_equal(r.net.bytes_out, 15000);
    assert_int_equal(r.tcp_ports.total, 2);
    assert_int_equal(r.tcp_ports.items[1].port, 4444);
    assert_true(custom(&r, "temp")->number == 43.0);
    assert_true(custom(&r, "extra")->number == 7.0);
    dd_report_free(&r);

    /* Both entries: the later one wins for what it names. */
    assert_int_equal(dd_scenario_report(&sc, 0, 850.0, &rng, 13, &r), DD_SCENARIO_OK);
    assert_int_equal(r.net.bytes_out, 5);
    assert_int_equal(r.tcp_ports.total, 1);
    assert_int_equal(r.tcp_ports.items[0].port, 80);
    assert_true(custom(&r, "temp")->number == 43.0);
    dd_report_free(&r);

    /* Open-ended second entry, first one over. */
    assert_int_equal(dd_scenario_report(&sc, 0, 950.0, &rng, 14, &r), DD_SCENARIO_OK);
    assert_int_equal(r.net.bytes_out, 5);
    assert_true(custom(&r, "temp")->number == 21.5);
    dd_report_free(&r);

    /* A device outside the group never changes. */
    assert_int_equal(dd_scenario_report(&sc, 1, 700.0, &rng, 15, &r), DD_SCENARIO_OK);
    assert_int_equal(r.net.bytes_out, 150);
    dd_report_free(&r);
    assert_int_equal(dd_scenario_report(&sc, 4, 700.0, &rng, 15, &r), DD_SCENARIO_BAD_PARAMETER);
    assert_int_equal(dd_scenario_report(&sc, 1, 700.0, &rng, 0, &r), DD_SCENARIO_BAD_PARAMETER);

    /* Overrides. */
    assert_int_equal(dd_scenario_override(&sc, 10, 3000, msg, sizeof(msg)), DD_SCENARIO_OK);
    assert_int_equal(sc.devices, 10);
    assert_true(sc.duration_s == 3000);
    assert_int_equal(dd_scenario_override(&sc, 0, 0, msg, sizeof(msg)), DD_SCENARIO_OK);
    assert_int_equal(sc.devices, 10);
    dd_scenario_free(&sc);
}

static void test_dd_scenario_round_trip(void **state)
{
    dd_scenario_t sc;
    dd_report_t r;
    dd_report_t back;
    static uint8_t buf[DD_REPORT_MAX_PAYLOAD];
    size_t len = 0;
    char msg[256];
    uint64_t rng = dd_scenario_device_seed(NULL, 3);
    int f;

    (void)state;
    assert_int_equal(dd_scenario_load(FIX("bytes-spike.json"), &sc, msg, sizeof(msg)),
                     DD_SCENARIO_OK);
    for (f = 0; f < 3; f++) {
        dd_report_format_t format = f == 2 ? DD_REPORT_FORMAT_CBOR : DD_REPORT_FORMAT_JSON;
        dd_report_keys_t keys = f == 1 ? DD_REPORT_KEYS_SHORT : DD_REPORT_KEYS_LONG;

        memset(&r, 0, sizeof(r));
        memset(&back, 0, sizeof(back));
        assert_int_equal(dd_scenario_report(&sc, 2, 700, &rng, 1700000000000ULL + (uint64_t)f, &r),
                         DD_SCENARIO_OK);
        assert_int_equal(dd_report_encode(&r, format, keys, buf, sizeof(buf), &len), DD_REPORT_OK);
        assert_int_equal(dd_report_decode(format, buf, len, &back, NULL), DD_REPORT_OK);
        assert_int_equal(back.report_id, r.report_id);
        assert_int_equal(back.net.bytes_out, r.net.bytes_out);
        assert_int_equal(back.tcp_ports.total, 3);
        assert_int_equal(back.tcp_conns.total, r.tcp_conns.total);
        assert_int_equal(back.custom_count, 1);
        assert_true(back.custom[0].number >= 80 && back.custom[0].number <= 100);
        dd_report_free(&r);
        dd_report_free(&back);
    }
    dd_scenario_free(&sc);
}

static void test_dd_scenario_distributions(void **state)
{
    dd_dist_t u = {DD_DIST_UNIFORM, 10, 20};
    dd_dist_t n = {DD_DIST_NORMAL, 150, 20};
    dd_dist_t p = {DD_DIST_POISSON, 4, 0};
    dd_dist_t big = {DD_DIST_POISSON, 1000, 0};
    dd_dist_t c = {DD_DIST_CONSTANT, 7, 0};
    uint64_t rng = 12345;
    double sum_n = 0;
    double sum_p = 0;
    double sum_big = 0;
    int i;
    const int N = 20000;

    (void)state;
    for (i = 0; i < N; i++) {
        double v = dd_scenario_draw(&u, &rng);
        double pv = dd_scenario_draw(&p, &rng);

        assert_true(v >= 10 && v < 20);
        assert_true(pv >= 0 && floor(pv) == pv);
        sum_n += dd_scenario_draw(&n, &rng);
        sum_p += pv;
        sum_big += dd_scenario_draw(&big, &rng);
    }
    assert_true(fabs(sum_n / N - 150) < 1.0);
    assert_true(fabs(sum_p / N - 4) < 0.1);
    assert_true(fabs(sum_big / N - 1000) < 2.0);
    assert_true(dd_scenario_draw(&c, &rng) == 7);
    /* Seeds differ per device and are reproducible. */
    assert_true(dd_scenario_device_seed(NULL, 0) != dd_scenario_device_seed(NULL, 1));
    assert_true(dd_scenario_device_seed(NULL, 5) == dd_scenario_device_seed(NULL, 5));
}

static void expect_invalid(const char *json, const char *needle)
{
    dd_scenario_t sc;
    char msg[256] = "";

    assert_int_equal(dd_scenario_parse(json, strlen(json), &sc, msg, sizeof(msg)),
                     DD_SCENARIO_INVALID);
    if (strstr(msg, needle) == NULL) {
        fail_msg("message '%s' does not mention '%s'", msg, needle);
    }
    assert_int_equal(sc.devices, 0);
}

static void test_dd_scenario_errors(void **state)
{
    (void)state;
    expect_invalid("{", "JSON");
    expect_invalid("[]", "object");
    expect_invalid("{\"devices\":1,\"durationSeconds\":1}", "name");
    expect_invalid("{\"name\":\"a b\",\"devices\":1,\"durationSeconds\":1}", "name");
    expect_invalid("{\"name\":\"a\",\"durationSeconds\":1}", "devices");
    expect_invalid("{\"name\":\"a\",\"devices\":0,\"durationSeconds\":1}", "devices");
    expect_invalid("{\"name\":\"a\",\"devices\":1}", "durationSeconds");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,\"colour\":1}", "colour");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"bytes_outt\":1}}",
                   "metrics.bytes_outt");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"bytes_out\":{\"distribution\":\"gamma\"}}}",
                   "gamma");
    expect_invalid(
        "{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
        "\"metrics\":{\"bytes_out\":{\"distribution\":\"uniform\",\"min\":5,\"max\":1}}}",
        "metrics.bytes_out.max");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"bytes_out\":{\"scale\":2}}}",
                   "distribution");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"listening_tcp_ports\":[0]}}",
                   "listening_tcp_ports[0]");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"connections\":{\"count\":1,\"remote\":\"300.1.1.1/8\"}}}",
                   "remote");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"metrics\":{\"custom\":{\"aws:x\":1}}}",
                   "aws:x");
    expect_invalid("{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,"
                   "\"telemetry\":{\"topic\":\"a/#\"}}",
                   "telemetry.topic");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":3}]}",
                   "groups hold 3");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"fromSeconds\":10,"
                   "\"toSeconds\":5}]}]}",
                   "groups[0].schedule[0].toSeconds");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"at\":10}]}]}",
                   "groups[0].schedule[0].at");
    expect_invalid(
        "{\"name\":\"a\",\"devices\":1,\"durationSeconds\":1,\"report\":{\"format\":\"xml\"}}",
        "report.format");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"cloud\":{"
                   "\"authFailures\":1}}]}]}",
                   "groups[0].schedule[0].cloud.authFailures");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"cloud\":{"
                   "\"disconnectsPerHour\":-1}}]}]}",
                   "cloud.disconnectsPerHour");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"telemetry\":{}}]}]}",
                   "schedule[0].telemetry");
    expect_invalid("{\"name\":\"a\",\"devices\":2,\"durationSeconds\":1,"
                   "\"groups\":[{\"name\":\"g\",\"devices\":1,\"schedule\":[{\"telemetry\":{"
                   "\"intervalSeconds\":0}}]}]}",
                   "telemetry.intervalSeconds");
}

static void test_dd_scenario_load_errors(void **state)
{
    dd_scenario_t sc;
    char msg[256] = "";

    (void)state;
    assert_int_equal(dd_scenario_load("/nonexistent/scenario.json", &sc, msg, sizeof(msg)),
                     DD_SCENARIO_IO_ERROR);
    assert_non_null(strstr(msg, "/nonexistent/scenario.json"));
    assert_int_equal(dd_scenario_parse(NULL, 0, &sc, msg, sizeof(msg)), DD_SCENARIO_BAD_PARAMETER);
    assert_string_equal(dd_scenario_strerror(DD_SCENARIO_INVALID), "invalid scenario");
    dd_scenario_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_scenario_fixtures),
        cmocka_unit_test(test_dd_scenario_schedule),
        cmocka_unit_test(test_dd_scenario_round_trip),
        cmocka_unit_test(test_dd_scenario_distributions),
        cmocka_unit_test(test_dd_scenario_errors),
        cmocka_unit_test(test_dd_scenario_load_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
