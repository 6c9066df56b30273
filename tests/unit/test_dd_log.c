#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_log.h"

/* 2026-12-06T03:40:00.123Z and, 90 minutes later, 05:10:00.000Z. */
#define REAL_MS INT64_C(1796528400123)
#define PIPELINE_MS INT64_C(1796533800000)

static int64_t fake_wall_ms;

static int64_t fake_source(void *ctx)
{
    (void)ctx;
    return fake_wall_ms;
}

static void test_dd_log_iso_has_milliseconds_and_utc(void **state)
{
    char buf[32];

    (void)state;
    assert_int_equal(dd_log_format_iso(REAL_MS, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z");
    assert_int_equal(dd_log_format_iso(5, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "1970-01-01T00:00:00.005Z");
    assert_int_equal(dd_log_format_iso(REAL_MS, buf, 10), DD_LOG_BUFFER_TOO_SMALL);
    assert_int_equal(dd_log_format_iso(-1, buf, sizeof(buf)), DD_LOG_BAD_PARAMETER);
    assert_int_equal(dd_log_format_iso(REAL_MS, NULL, sizeof(buf)), DD_LOG_BAD_PARAMETER);
}

static void test_dd_log_stamp_shows_pipeline_time_only_when_it_differs(void **state)
{
    char buf[DD_LOG_STAMP_MAX];
    dd_clock_t real;
    dd_clock_t manual;
    dd_clock_t scaled;

    (void)state;
    assert_int_equal(dd_log_format_stamp(REAL_MS, NULL, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z");
    (void)dd_clock_init_real(&real);
    assert_int_equal(dd_log_format_stamp(REAL_MS, &real, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z");

    (void)dd_clock_init_manual(&manual, PIPELINE_MS);
    assert_int_equal(dd_log_format_stamp(REAL_MS, &manual, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "2026-12-06T03:40:00.123Z [pipeline 2026-12-06T05:10:00.000Z]");

    /* x60 from an origin at PIPELINE_MS: 2.5 real seconds later are 150 pipeline seconds. */
    fake_wall_ms = REAL_MS;
    assert_int_equal(dd_clock_init_scaled(&scaled, 60.0, PIPELINE_MS), DD_CLOCK_OK);
    scaled.origin_real_ms = REAL_MS;
    dd_clock_set_source(&scaled, fake_source, NULL);
    fake_wall_ms = REAL_MS + 2500;
    assert_int_equal(dd_log_format_stamp(fake_wall_ms, &scaled, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "2026-12-06T03:40:02.623Z [pipeline 2026-12-06T05:12:30.000Z]");

    assert_int_equal(dd_log_format_stamp(REAL_MS, &manual, buf, 40), DD_LOG_BUFFER_TOO_SMALL);
    assert_int_equal(dd_log_format_stamp(REAL_MS, &manual, NULL, 40), DD_LOG_BAD_PARAMETER);
}

static void test_dd_log_describes_the_clock_readably(void **state)
{
    char buf[DD_LOG_CLOCK_TEXT_MAX];
    dd_clock_t c;

    (void)state;
    (void)dd_clock_init_real(&c);
    assert_int_equal(dd_log_describe_clock(&c, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "real time");
    fake_wall_ms = REAL_MS;
    (void)dd_clock_init_scaled(&c, 60.0, PIPELINE_MS);
    c.origin_real_ms = REAL_MS;
    dd_clock_set_source(&c, fake_source, NULL);
    assert_int_equal(dd_log_describe_clock(&c, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "scaled x60 - pipeline time 2026-12-06T05:10:00Z");
    (void)dd_clock_init_scaled(&c, 0.5, PIPELINE_MS);
    c.origin_real_ms = REAL_MS;
    dd_clock_set_source(&c, fake_source, NULL);
    assert_int_equal(dd_log_describe_clock(&c, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(buf, "scaled x0.5 - pipeline time 2026-12-06T05:10:00Z");
    (void)dd_clock_init_manual(&c, PIPELINE_MS + 999);
    assert_int_equal(dd_log_describe_clock(&c, buf, sizeof(buf)), DD_LOG_OK);
    assert_string_equal(
        buf, "manual - pipeline time 2026-12-06T05:10:00Z (moves with `ddlocal clock advance`)");
    assert_int_equal(dd_log_describe_clock(&c, buf, 8), DD_LOG_BUFFER_TOO_SMALL);
    assert_int_equal(dd_log_describe_clock(NULL, buf, sizeof(buf)), DD_LOG_BAD_PARAMETER);
}

/* The default sink, stderr redirected into a file, with an injected real time. */
static void test_dd_log_default_sink_starts_lines_with_the_stamp(void **state)
{
    char path[] = "/tmp/test_dd_log.XXXXXX";
    char text[512] = "";
    dd_clock_t manual;
    FILE *f;
    int saved;
    int fd;
    size_t n;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fake_wall_ms = REAL_MS;
    dd_log_set_wall_source(fake_source, NULL);
    dd_log_set_program("ddlocald");
    (void)dd_clock_init_manual(&manual, PIPELINE_MS);
    DD_LOG_INFO("before any clock");
    dd_log_set_clock(NULL);
    DD_LOG_WARN("real only");
    dd_log_set_clock(&manual);
    DD_LOG_INFO("violation %d", 7);
    dd_log_clear_clock();
    dd_log_set_wall_source(NULL, NULL);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    f = fdopen(fd, "r");
    assert_non_null(f);
    rewind(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    assert_string_equal(
        text, "ddlocald: info: before any clock\n"
              "2026-12-06T03:40:00.123Z ddlocald: warning: real only\n"
              "2026-12-06T03:40:00.123Z [pipeline 2026-12-06T05:10:00.000Z] ddlocald: info: "
              "violation 7\n");
}

/* The error-text helper cuts to fit, always terminates, and tolerates no buffer. */
static void test_dd_log_format_msg_fills_and_truncates(void **state)
{
    char msg[8];

    (void)state;
    dd_log_format_msg(msg, sizeof(msg), "port %d", 42);
    assert_string_equal(msg, "port 42");
    dd_log_format_msg(msg, sizeof(msg), "thing %s is unknown", "Sensor-1");
    assert_string_equal(msg, "thing S");
    memset(msg, 'x', sizeof(msg));
    dd_log_format_msg(msg, 0, "%s", "untouched");
    assert_int_equal(msg[0], 'x');
    dd_log_format_msg(NULL, 16, "%s", "ignored");
}

static void test_dd_log_strerror_names_every_status(void **state)
{
    (void)state;
    assert_string_equal(dd_log_strerror(DD_LOG_OK), "ok");
    assert_string_equal(dd_log_strerror(DD_LOG_BUFFER_TOO_SMALL), "buffer too small");
    assert_string_equal(dd_log_strerror((dd_log_status_t)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_log_iso_has_milliseconds_and_utc),
        cmocka_unit_test(test_dd_log_stamp_shows_pipeline_time_only_when_it_differs),
        cmocka_unit_test(test_dd_log_describes_the_clock_readably),
        cmocka_unit_test(test_dd_log_default_sink_starts_lines_with_the_stamp),
        cmocka_unit_test(test_dd_log_format_msg_fills_and_truncates),
        cmocka_unit_test(test_dd_log_strerror_names_every_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
