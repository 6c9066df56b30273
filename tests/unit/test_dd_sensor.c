#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_devclock.h"
#include "dd_sensor.h"

static dd_sensor_status_t parse_args(dd_sensor_options_t *o, const char *endpoint_file, ...)
{
    char *argv[32];
    char msg[256];
    va_list ap;
    int argc = 1;
    char *a;

    argv[0] = (char *)"ddlocal-sensor";
    va_start(ap, endpoint_file);
    while ((a = va_arg(ap, char *)) != NULL && argc < 31) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return dd_sensor_parse_args(argc, argv, endpoint_file, o, msg, sizeof(msg));
}

/* parse(o, endpoint_file, "arg", ..., NULL) */
#define parse(o, file, ...) parse_args(o, file, __VA_ARGS__, (char *)NULL)

/* ^[0-9]{2}\.[0-9]{2}$ */
static bool looks_like_temperature(const char *s, size_t len)
{
    return len == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           s[2] == '.' && isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) &&
           s[5] == '\0';
}

static void test_dd_sensor_temperature(void **state)
{
    uint64_t rng = 42;
    char buf[16];
    size_t len;
    double lo = 100.0;
    double hi = 0.0;
    int i;

    (void)state;
    for (i = 0; i < 20000; i++) {
        double v;

        assert_int_equal(dd_sensor_payload(0, &rng, buf, sizeof(buf), &len), DD_SENSOR_OK);
        assert_true(looks_like_temperature(buf, len));
        v = atof(buf);
        assert_true(v >= 15.1 - 1e-9 && v <= 29.9 + 1e-9);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* The whole range is used, ends included. */
    assert_true(lo < 15.2);
    assert_true(hi > 29.8);
    assert_int_equal(dd_sensor_payload(0, &rng, buf, 7, &len), DD_SENSOR_BUFFER_TOO_SMALL);
    assert_int_equal(dd_sensor_payload(0, NULL, buf, sizeof(buf), &len), DD_SENSOR_BAD_PARAMETER);
}

static void assert_random_text(const char *buf, size_t len, size_t want)
{
    size_t i;

    assert_int_equal(len, want);
    assert_int_equal(strlen(buf), want);
    for (i = 0; i < len; i++) {
        assert_true((buf[i] >= 'A' && buf[i] <= 'Z') || (buf[i] >= '0' && buf[i] <= '9'));
    }
}

static void test_dd_sensor_compromised_and_sizes(void **state)
{
    static char buf[DD_SENSOR_MAX_PAYLOAD + 8];
    uint64_t rng = 7;
    size_t len;
    bool seen_digit = false;
    bool seen_letter = false;
    size_t i;

    (void)state;
    assert_int_equal(dd_sensor_payload(DD_SENSOR_COMPROMISED_SIZE, &rng, buf, sizeof(buf), &len),
                     DD_SENSOR_OK);
    assert_random_text(buf, len, 3000);
    for (i = 0; i < len; i++) {
        seen_digit |= isdigit((unsigned char)buf[i]) != 0;
        seen_letter |= isupper((unsigned char)buf[i]) != 0;
    }
    assert_true(seen_digit && seen_letter);
    assert_int_equal(dd_sensor_payload(1, &rng, buf, sizeof(buf), &len), DD_SENSOR_OK);
    assert_random_text(buf, len, 1);
    assert_int_equal(dd_sensor_payload(DD_SENSOR_MAX_PAYLOAD, &rng, buf, sizeof(buf), &len),
                     DD_SENSOR_OK);
    assert_random_text(buf, len, DD_SENSOR_MAX_PAYLOAD);
    assert_int_equal(dd_sensor_payload(100, &rng, buf, 100, &len), DD_SENSOR_BUFFER_TOO_SMALL);
}

static void test_dd_sensor_args(void **state)
{
    dd_sensor_options_t o;
    char path[] = "/tmp/dd_sensor_ep.XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc-ats.iot.us-east-1.amazonaws.com\n", 36), 36);
    close(fd);

    /* bootstrap.sh's command line; the endpoint from the file it writes. */
    assert_int_equal(parse(&o, path, "-t", "temperature-device-03", "-n", "SensorDevice03"),
                     DD_SENSOR_OK);
    assert_string_equal(o.topic, "temperature-device-03");
    assert_string_equal(o.name, "SensorDevice03");
    assert_string_equal(o.client_id, "SensorDevice03-telemetry");
    assert_string_equal(o.host, "abc-ats.iot.us-east-1.amazonaws.com");
    assert_int_equal(o.port, 8883);
    assert_string_equal(o.root_ca, "/tmp/rootca.pem");
    assert_string_equal(o.cert, "/tmp/cert.pem");
    assert_string_equal(o.key, "/tmp/private.key");
    assert_true(o.interval_s == 10.0);
    assert_false(o.persistent);
    assert_int_equal(o.payload_size, 0);

    /* startdevice.py's spelling (-s stack -d device), the workshop's exact client id. */
    assert_int_equal(parse(&o, NULL, "-s", "stack1", "-t", "t", "-d", "SensorDevice03",
                           "--client-id", "SensorDevice03", "-e", "127.0.0.1:18883",
                           "--compromised", "--persistent"),
                     DD_SENSOR_OK);
    assert_string_equal(o.client_id, "SensorDevice03");
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 18883);
    assert_int_equal(o.payload_size, DD_SENSOR_COMPROMISED_SIZE);
    assert_true(o.persistent);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--payload-size=200", "-e", "h:443"),
                     DD_SENSOR_OK);
    assert_int_equal(o.payload_size, 200);
    assert_string_equal(o.alpn, "x-amzn-mqtt-ca");

    assert_int_equal(parse(&o, NULL, "-n", "N"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, NULL, "-t", "a/+", "-n", "N"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, NULL, "-t", "t"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, "/nonexistent/endpoint", "-t", "t", "-n", "N"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--payload-size", "0"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--bogus"), DD_SENSOR_USAGE);
    assert_int_equal(parse(&o, NULL, "--help"), DD_SENSOR_HELP);
    unlink(path);
}

static void test_dd_sensor_dry_run(void **state)
{
    dd_sensor_options_t o;
    dd_sensor_stats_t st;
    volatile sig_atomic_t stop = 0;
    FILE *out = tmpfile();
    char line[4096];
    int n = 0;

    (void)state;
    assert_non_null(out);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--dry-run", "--count", "3", "-i", "0"),
                     DD_SENSOR_OK);
    assert_int_equal(dd_sensor_run(&o, &stop, out, &st), DD_SENSOR_OK);
    assert_int_equal(st.sent, 3);
    rewind(out);
    while (fgets(line, sizeof(line), out) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        assert_true(looks_like_temperature(line, strlen(line)));
        n++;
    }
    assert_int_equal(n, 3);
    fclose(out);

    out = tmpfile();
    assert_non_null(out);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--dry-run", "--count", "2", "-i", "0",
                           "--compromised"),
                     DD_SENSOR_OK);
    assert_int_equal(dd_sensor_run(&o, &stop, out, &st), DD_SENSOR_OK);
    assert_int_equal(st.bytes, 6000);
    rewind(out);
    n = 0;
    while (fgets(line, sizeof(line), out) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        assert_random_text(line, strlen(line), 3000);
        n++;
    }
    assert_int_equal(n, 2);
    fclose(out);
    assert_string_equal(dd_sensor_strerror(DD_SENSOR_OK), "ok");
}

/* On a pipeline clock (3600 times, 10 s = 2.8 real ms): the messages come, --count ends it. */
static void test_dd_sensor_dry_run_on_pipeline_clock(void **state)
{
    dd_sensor_options_t o;
    dd_sensor_stats_t st;
    dd_devclock_t dc;
    volatile sig_atomic_t stop = 0;
    FILE *out = tmpfile();
    char spec[96];
    char msg[256];
    char line[64];
    int64_t now = dd_clock_wall_ms();
    int n = 0;

    (void)state;
    assert_non_null(out);
    (void)snprintf(spec, sizeof(spec), "scaled:3600:%lld:%lld", (long long)now, (long long)now);
    assert_int_equal(parse(&o, NULL, "-t", "t", "-n", "N", "--dry-run", "--count", "3", "--clock",
                           spec),
                     DD_SENSOR_OK);
    assert_string_equal(o.clock_spec, spec);
    assert_int_equal(dd_devclock_resolve(o.clock_spec, NULL, NULL, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    o.clock = &dc;
    assert_int_equal(dd_sensor_run(&o, &stop, out, &st), DD_SENSOR_OK);
    assert_int_equal(st.sent, 3);
    rewind(out);
    while (fgets(line, sizeof(line), out) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        assert_true(looks_like_temperature(line, strlen(line)));
        n++;
    }
    assert_int_equal(n, 3);
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_sensor_temperature),
        cmocka_unit_test(test_dd_sensor_compromised_and_sizes),
        cmocka_unit_test(test_dd_sensor_args),
        cmocka_unit_test(test_dd_sensor_dry_run),
        cmocka_unit_test(test_dd_sensor_dry_run_on_pipeline_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
