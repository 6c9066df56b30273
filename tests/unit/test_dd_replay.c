#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_replay.h"

static char *slurp(FILE *f, size_t *len)
{
    long n;
    char *buf;

    fflush(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    *len = (size_t)n;
    return buf;
}

static char *read_rel(const char *rel, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;

    snprintf(path, sizeof(path), "%s/%s", DD_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    buf = slurp(f, len);
    fclose(f);
    return buf;
}

/* Runs one replay in-process; returns stdout and stderr texts. */
static dd_replay_status_t replay(const char *profile, const char *input, char **out, char **err)
{
    dd_replay_text_t p;
    dd_replay_options_t opt;
    char path[512];
    FILE *in;
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    size_t len;
    dd_replay_status_t st;

    memset(&opt, 0, sizeof(opt));
    p.name = profile;
    p.text = read_rel(profile, &p.len);
    opt.profiles = &p;
    opt.profile_count = 1;
    snprintf(path, sizeof(path), "%s/%s", DD_SOURCE_DIR, input);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_non_null(o);
    assert_non_null(e);
    st = dd_replay_run(&opt, in, o, e, NULL);
    *out = slurp(o, &len);
    *err = slurp(e, &len);
    fclose(in);
    fclose(o);
    fclose(e);
    free((char *)p.text);
    return st;
}

static void check_golden(const char *profile, const char *input, const char *golden,
                         const char *golden_err, dd_replay_status_t want)
{
    char *out;
    char *err;
    char *exp;
    size_t len;

    assert_int_equal(replay(profile, input, &out, &err), want);
    exp = read_rel(golden, &len);
    if (strcmp(out, exp) != 0) {
        fail_msg("%s differs from %s:\n%s", input, golden, out);
    }
    free(exp);
    exp = golden_err != NULL ? read_rel(golden_err, &len) : calloc(1, 1);
    if (strcmp(err, exp) != 0) {
        fail_msg("stderr of %s differs from %s:\n%s", input, golden_err, err);
    }
    free(exp);
    free(out);
    free(err);
}

#define G "tests/golden/replay/"
#define P "fixtures/profiles/"

static void test_dd_replay_module4_intended_one_alarm_at_first_3000(void **state)
{
    (void)state;
    check_golden(P "module4-intended.json", G "module4.jsonl", G "module4-intended.out", NULL,
                 DD_REPLAY_OK);
}

static void test_dd_replay_module4_literal_alarms_quiet_clears_noisy(void **state)
{
    char *out;
    char *err;

    (void)state;
    check_golden(P "module4-literal.json", G "module4.jsonl", G "module4-literal.out", NULL,
                 DD_REPLAY_OK);
    assert_int_equal(replay(P "module4-literal.json", G "module4.jsonl", &out, &err), DD_REPLAY_OK);
    assert_non_null(strstr(out, "\"metricValue\":{\"count\":150},\"violationEventType\":\"in-alarm\""));
    assert_non_null(strstr(out, "\"metricValue\":{\"count\":3000},\"violationEventType\":\"alarm-cleared\""));
    assert_non_null(strstr(out, "possibly inverted operator"));
    free(out);
    free(err);
}

static void test_dd_replay_module3_statistical(void **state)
{
    (void)state;
    check_golden(P "module3-intended.json", G "module3.jsonl", G "module3-intended.out", NULL,
                 DD_REPLAY_OK);
    check_golden(P "module3-literal.json", G "module3.jsonl", G "module3-literal.out", NULL,
                 DD_REPLAY_OK);
}

static void test_dd_replay_bad_lines_reported_and_skipped(void **state)
{
    (void)state;
    check_golden(P "module4-intended.json", G "module4-bad.jsonl", G "module4-bad.out",
                 G "module4-bad.err", DD_REPLAY_SKIPPED_LINES);
}

static void test_dd_replay_deterministic_and_invalid_profile(void **state)
{
    char *a;
    char *b;
    char *e1;
    char *e2;
    dd_replay_text_t p = {"bad.json", "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\","
                                      "\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
                                      "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
                                      "\"consecutiveDatapointsToAlarm\":11}}]}", 0};
    dd_replay_options_t opt;
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    FILE *in = tmpfile();
    size_t len;

    (void)state;
    assert_int_equal(replay(P "module3-literal.json", G "module3.jsonl", &a, &e1), DD_REPLAY_OK);
    assert_int_equal(replay(P "module3-literal.json", G "module3.jsonl", &b, &e2), DD_REPLAY_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(e1);
    free(e2);
    p.len = strlen(p.text);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = &p;
    opt.profile_count = 1;
    assert_int_equal(dd_replay_run(&opt, in, o, e, NULL), DD_REPLAY_BAD_PROFILE);
    a = slurp(e, &len);
    assert_string_equal(a, "bad.json: Behavior b is malformed. consecutiveDatapointsToAlarm 11 "
                           "should be in range[1,10]\n");
    free(a);
    b = slurp(o, &len);
    assert_string_equal(b, "");
    free(b);
    assert_int_equal(dd_replay_run(NULL, in, o, e, NULL), DD_REPLAY_BAD_PARAMETER);
    assert_true(strlen(dd_replay_strerror(DD_REPLAY_SKIPPED_LINES)) > 0);
    fclose(o);
    fclose(e);
    fclose(in);
}

static void test_dd_replay_things_groups_and_ticks(void **state)
{
    const char *things = "{\"things\":[{\"thingName\":\"Thing03\",\"thingGroups\":[\"Sensors\"]}],"
                         "\"thingGroups\":[{\"thingGroupName\":\"Sensors\",\"parentGroupName\":"
                         "\"Fleet\"}]}";
    const char *prof = "{\"securityProfileName\":\"g\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                       "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                       "\"value\":{\"count\":100}}}],\"targets\":["
                       "\"arn:aws:iot:us-east-1:123456789012:thinggroup/Fleet\"]}";
    const char *input =
        "{\"thing\":\"Thing03\",\"time\":1000,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
        "\"metrics\":{\"network_stats\":{\"bytes_out\":500}}}}\n"
        "{\"thing\":\"Other\",\"time\":2000,\"report\":{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
        "\"metrics\":{\"network_stats\":{\"bytes_out\":500}}}}\n"
        "{\"time\":\"1970-01-03T00:00:10Z\",\"tick\":true}\n";
    dd_replay_text_t p = {"p", prof, strlen(prof)};
    dd_replay_text_t t = {"things", things, strlen(things)};
    dd_replay_options_t opt;
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    FILE *in = tmpfile();
    char *out;
    size_t len;

    (void)state;
    fputs(input, in);
    rewind(in);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = &p;
    opt.profile_count = 1;
    opt.things = &t;
    opt.no_summary = true;
    opt.time_ms = true;
    assert_int_equal(dd_replay_run(&opt, in, o, e, NULL), DD_REPLAY_OK);
    out = slurp(o, &len);
    /* Thing03 is covered through Sensors -> Fleet; Other is not registered. The
     * tick two days later invalidates the alarm. */
    assert_non_null(strstr(out, "\"thingName\":\"Thing03\""));
    assert_null(strstr(out, "\"thingName\":\"Other\""));
    assert_non_null(strstr(out, "\"violationEventType\":\"in-alarm\",\"violationEventTime\":1000}"));
    assert_non_null(strstr(out, "\"violationEventType\":\"alarm-invalidated\",\"violationEventTime\":172810000}"));
    free(out);
    fclose(o);
    fclose(e);
    fclose(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_replay_module4_intended_one_alarm_at_first_3000),
        cmocka_unit_test(test_dd_replay_module4_literal_alarms_quiet_clears_noisy),
        cmocka_unit_test(test_dd_replay_module3_statistical),
        cmocka_unit_test(test_dd_replay_bad_lines_reported_and_skipped),
        cmocka_unit_test(test_dd_replay_deterministic_and_invalid_profile),
        cmocka_unit_test(test_dd_replay_things_groups_and_ticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
