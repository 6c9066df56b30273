#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_linetree_oracle.h"
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
    assert_non_null(
        strstr(out, "\"metricValue\":{\"count\":150},\"violationEventType\":\"in-alarm\""));
    assert_non_null(
        strstr(out, "\"metricValue\":{\"count\":3000},\"violationEventType\":\"alarm-cleared\""));
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

/* --datapoints: every evaluated datapoint with its window, threshold, verdict and alarm state. */
static void check_datapoints(const char *profile, const char *input, bool csv, const char *golden)
{
    dd_replay_text_t p;
    dd_replay_options_t opt;
    dd_replay_result_t res;
    char path[512];
    FILE *in;
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    FILE *dp = tmpfile();
    char *text;
    char *exp;
    size_t len;

    memset(&opt, 0, sizeof(opt));
    p.name = profile;
    p.text = read_rel(profile, &p.len);
    opt.profiles = &p;
    opt.profile_count = 1;
    opt.datapoints = dp;
    opt.datapoints_csv = csv;
    snprintf(path, sizeof(path), "%s/%s", DD_SOURCE_DIR, input);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_non_null(dp);
    assert_int_equal(dd_replay_run(&opt, in, o, e, &res), DD_REPLAY_OK);
    text = slurp(dp, &len);
    exp = read_rel(golden, &len);
    if (strcmp(text, exp) != 0) {
        fail_msg("datapoints of %s differ from %s:\n%s", input, golden, text);
    }
    /* One row per datapoint (plus the CSV header). */
    len = 0;
    for (char *c = text; *c != '\0'; c++) {
        len += *c == '\n';
    }
    assert_int_equal(len, res.datapoints + (csv ? 1 : 0));
    free(exp);
    free(text);
    free((char *)p.text);
    fclose(in);
    fclose(o);
    fclose(e);
    fclose(dp);
}

static void test_dd_replay_datapoints_static_csv_and_statistical_json(void **state)
{
    (void)state;
    check_datapoints(P "module4-intended.json", G "module4.jsonl", true,
                     G "module4-intended.datapoints.csv");
    check_datapoints(P "module3-intended.json", G "module3.jsonl", false,
                     G "module3-intended.datapoints.jsonl");
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
    dd_replay_text_t p = {"bad.json",
                          "{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"b\","
                          "\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
                          "\"comparisonOperator\":\"less-than\",\"value\":{\"count\":1},"
                          "\"consecutiveDatapointsToAlarm\":11}}]}",
                          0};
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
    const char *input = "{\"thing\":\"Thing03\",\"time\":1000,\"report\":{\"header\":{\"report_"
                        "id\":1,\"version\":\"1.0\"},"
                        "\"metrics\":{\"network_stats\":{\"bytes_out\":500}}}}\n"
                        "{\"thing\":\"Other\",\"time\":2000,\"report\":{\"header\":{\"report_id\":"
                        "1,\"version\":\"1.0\"},"
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
    assert_non_null(
        strstr(out, "\"violationEventType\":\"in-alarm\",\"violationEventTime\":1000}"));
    assert_non_null(
        strstr(out,
               "\"violationEventType\":\"alarm-invalidated\",\"violationEventTime\":172810000}"));
    free(out);
    fclose(o);
    fclose(e);
    fclose(in);
}

/* Runs @p input through two profiles (module4-intended: bytes out <= 200 per trailing 300 s,
 * 1/1; and at most 1 message sent per 300-s window). */
static dd_replay_status_t run_stream(const char *input, char **out, char **err)
{
    static const char *const SENT =
        "{\"securityProfileName\":\"sent\",\"behaviors\":[{\"name\":\"AtMostOne\",\"metric\":"
        "\"aws:num-messages-sent\",\"criteria\":{\"comparisonOperator\":\"less-than-equals\","
        "\"value\":{\"count\":1},\"durationSeconds\":300}}]}";
    dd_replay_text_t p[2];
    dd_replay_options_t opt;
    FILE *in = tmpfile();
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    size_t len;
    dd_replay_status_t st;

    assert_non_null(in);
    assert_non_null(o);
    assert_non_null(e);
    p[0].name = P "module4-intended.json";
    p[0].text = read_rel(p[0].name, &p[0].len);
    p[1].name = "sent";
    p[1].text = SENT;
    p[1].len = strlen(SENT);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = p;
    opt.profile_count = 2;
    fputs(input, in);
    rewind(in);
    st = dd_replay_run(&opt, in, o, e, NULL);
    *out = slurp(o, &len);
    *err = slurp(e, &len);
    fclose(in);
    fclose(o);
    fclose(e);
    free((char *)p[0].text);
    return st;
}

/* One replay line for Thing03 at @p t ms: a report with bytes_out @p bytes, @p metrics_tail
 * appended inside "metrics", @p report_tail inside the report, @p line_tail to the line. */
static void report_line(char *buf, size_t cap, long long t, int bytes, const char *metrics_tail,
                        const char *report_tail, const char *line_tail)
{
    size_t len = strlen(buf);

    (void)snprintf(buf + len, cap - len,
                   "{\"thing\":\"Thing03\",\"time\":%lld,\"report\":{\"header\":"
                   "{\"report_id\":%lld,"
                   "\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_in\":96,"
                   "\"bytes_out\":%d,\"packets_in\":2,\"packets_out\":3}%s}%s}%s}\n",
                   t, t / 1000, bytes, metrics_tail, report_tail, line_tail);
}

static void sent_line(char *buf, size_t cap, long long t, const char *event_tail)
{
    size_t len = strlen(buf);

    (void)snprintf(buf + len, cap - len,
                   "{\"thing\":\"Thing03\",\"time\":%lld,\"event\":{\"type\":\"message-sent\","
                   "\"topic\":\"t\",\"size\":5%s}}\n",
                   t, event_tail);
}

/* Every rejected line below sits inside the 300-s window of the report (and message) after it
 * and would tip a behavior into alarm if any part of it were applied: its valid front part
 * carries 150 bytes out (150 + 150 > 200) or one more message (2 > 1). The output must be the
 * same as without those lines. */
/* Issue 10: cJSON_Parse() took a duplicated "time", 01, trailing text, and stopped at a NUL. */
static void test_dd_replay_strict_json_lines(void **state)
{
    static const char input[] =
        "{\"thing\":\"T1\",\"time\":1000,\"report\":{\"header\":{\"report_id\":1,"
        "\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":500}}}}\n"
        "{\"time\":2000,\"time\":3000,\"tick\":true}\n"
        "{\"thing\":\"T1\",\"time\":4000,\"report\":{\"header\":{\"report_id\":2,"
        "\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":01}}}}\n"
        "{\"time\":5000,\"tick\":true} x\n"
        "{\"time\":6000,\"tick\":true}\0{\"junk\n"
        "{\"time\":7000.,\"tick\":true}\n"
        "{\"time\":8000,\"tick\":true}\n";
    const char *prof = "{\"securityProfileName\":\"g\",\"behaviors\":[{\"name\":\"b\",\"metric\":"
                       "\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":\"less-than\","
                       "\"value\":{\"count\":100}}}]}";
    dd_replay_text_t p = {"p", prof, strlen(prof)};
    dd_replay_options_t opt;
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    FILE *in = tmpfile();
    char *err;
    char *out;
    size_t len;

    (void)state;
    assert_int_equal(fwrite(input, 1, sizeof(input) - 1, in), sizeof(input) - 1);
    rewind(in);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = &p;
    opt.profile_count = 1;
    opt.no_summary = true;
    opt.time_ms = true;
    assert_int_equal(dd_replay_run(&opt, in, o, e, NULL), DD_REPLAY_SKIPPED_LINES);
    err = slurp(e, &len);
    out = slurp(o, &len);
    assert_non_null(strstr(err, "line 2: not valid JSON: duplicate object key \"time\""));
    assert_non_null(
        strstr(err, "line 3: not valid JSON: parse error: after key and value, inside map"));
    assert_non_null(strstr(err, "line 4: not valid JSON: unexpected text after the JSON value"));
    assert_non_null(strstr(err, "line 5: not valid JSON: unexpected text after the JSON value"));
    assert_non_null(strstr(err, "line 6: not valid JSON: lexical error: malformed number, "
                                "a digit is required after the decimal point."));
    assert_null(strstr(err, "line 1:"));
    assert_null(strstr(err, "line 7:"));
    /* Line 1 alarmed; nothing from the refused lines reached the engine. */
    assert_non_null(
        strstr(out, "\"violationEventType\":\"in-alarm\",\"violationEventTime\":1000}"));
    free(err);
    free(out);
    fclose(o);
    fclose(e);
    fclose(in);
}

static void test_dd_replay_rejected_line_never_half_applied(void **state)
{
    const long long t0 = 1795860000000LL; /* a multiple of 300 s */
    const size_t cap = 16384;
    char *clean = calloc(1, cap);
    char *bad = calloc(1, cap);
    char *control = calloc(1, cap);
    char *out_clean;
    char *err_clean;
    char *out_bad;
    char *err_bad;
    char *out_ctl;
    char *err_ctl;
    dd_replay_status_t st;

    (void)state;
    assert_non_null(clean);
    assert_non_null(bad);
    assert_non_null(control);
    /* Without the rejected lines: 150 bytes at t0, 150 at t0+300 s (t0 is outside the half-open
     * window (t0, t0+300 s]); one message in the window (t0, t0+300 s]. */
    report_line(clean, cap, t0, 150, "", "", "");
    sent_line(clean, cap, t0 + 10000, "");
    report_line(clean, cap, t0 + 300000, 150, "", "", "");

    report_line(bad, cap, t0, 150, "", "", "");
    sent_line(bad, cap, t0 + 10000, "");
    /* line 3: custom_metrics, the report's last member, is malformed */
    report_line(bad, cap, t0 + 100000, 150, "",
                ",\"custom_metrics\":{\"cpu_usage\":{\"number\":1}}", "");
    /* line 4: the last metrics block holds a port out of range */
    report_line(bad, cap, t0 + 101000, 150,
                ",\"listening_tcp_ports\":{\"ports\":[{\"port\":70000}],\"total\":1}", "", "");
    /* line 5: a valid report, but the line also asks for a tick */
    report_line(bad, cap, t0 + 102000, 150, "", "", ",\"tick\":true");
    /* line 6: a valid message-sent event with a bad "repeat" at its end */
    sent_line(bad, cap, t0 + 103000, ",\"repeat\":0");
    /* line 7: a valid report, but the thing name is only checked after it is written */
    {
        size_t len = strlen(bad);
        (void)snprintf(bad + len, cap - len,
                       "{\"time\":%lld,\"report\":{\"header\":{\"report_id\":1,"
                       "\"version\":\"1.0\"},\"metrics\":{\"network_stats\":"
                       "{\"bytes_out\":150}}},\"thing\":\"Thing 03\"}\n",
                       t0 + 104000);
    }
    report_line(bad, cap, t0 + 300000, 150, "", "", "");

    assert_int_equal(run_stream(clean, &out_clean, &err_clean), DD_REPLAY_OK);
    assert_string_equal(err_clean, "");
    assert_null(strstr(out_clean, "\"violationEventType\":\"in-alarm\""));
    st = run_stream(bad, &out_bad, &err_bad);
    assert_int_equal(st, DD_REPLAY_SKIPPED_LINES);
    if (strcmp(out_bad, out_clean) != 0) {
        fail_msg("a rejected line changed the output:\n%s\nwithout the rejected lines:\n%s",
                 out_bad, out_clean);
    }
    assert_non_null(strstr(err_bad, "line 3: report rejected (InvalidPayload)"));
    assert_non_null(strstr(err_bad, "line 4: report rejected (InvalidPayload)"));
    assert_non_null(strstr(err_bad, "line 5: a line needs exactly one of"));
    assert_non_null(strstr(err_bad, "line 6: \"repeat\" must be 1 to 1000000 (skipped)"));
    assert_non_null(strstr(err_bad, "line 7: \"thing\" must be a thing name"));
    assert_null(strstr(err_bad, "line 2:"));
    assert_null(strstr(err_bad, "line 8:"));

    /* Control: the same front parts, valid, do change the output (both behaviors alarm). */
    report_line(control, cap, t0, 150, "", "", "");
    sent_line(control, cap, t0 + 10000, "");
    report_line(control, cap, t0 + 100000, 150, "", "", "");
    sent_line(control, cap, t0 + 103000, "");
    report_line(control, cap, t0 + 300000, 150, "", "", "");
    assert_int_equal(run_stream(control, &out_ctl, &err_ctl), DD_REPLAY_OK);
    assert_non_null(strstr(out_ctl, "\"behavior\":{\"name\":\"MoreBytesSent\""));
    assert_non_null(strstr(out_ctl, "\"behavior\":{\"name\":\"AtMostOne\""));
    assert_non_null(strstr(out_ctl, "\"metricValue\":{\"count\":300},"
                                    "\"violationEventType\":\"in-alarm\""));
    assert_non_null(strstr(out_ctl, "\"metricValue\":{\"count\":2},"
                                    "\"violationEventType\":\"in-alarm\""));

    free(out_clean);
    free(err_clean);
    free(out_bad);
    free(err_bad);
    free(out_ctl);
    free(err_ctl);
    free(clean);
    free(bad);
    free(control);
}

/* Runs @p input with @p threads through module4-intended, the statistical Module 3 profile and
 * an at-most-one-message rule, datapoints as JSON; returns out, err, datapoints and figures. */
static dd_replay_status_t run_threads(const char *input, unsigned threads, char **out, char **err,
                                      char **dp, dd_replay_result_t *res)
{
    static const char *const SENT =
        "{\"securityProfileName\":\"sent\",\"behaviors\":[{\"name\":\"AtMostOne\",\"metric\":"
        "\"aws:num-messages-sent\",\"criteria\":{\"comparisonOperator\":\"less-than-equals\","
        "\"value\":{\"count\":1},\"durationSeconds\":300}}]}";
    dd_replay_text_t p[3];
    dd_replay_options_t opt;
    FILE *in = tmpfile();
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    FILE *d = tmpfile();
    size_t len;
    dd_replay_status_t st;

    assert_non_null(in);
    assert_non_null(o);
    assert_non_null(e);
    assert_non_null(d);
    p[0].name = P "module4-intended.json";
    p[0].text = read_rel(p[0].name, &p[0].len);
    p[1].name = P "module3-intended.json";
    p[1].text = read_rel(p[1].name, &p[1].len);
    p[2].name = "sent";
    p[2].text = SENT;
    p[2].len = strlen(SENT);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = p;
    opt.profile_count = 3;
    opt.datapoints = d;
    opt.threads = threads;
    fputs(input, in);
    rewind(in);
    st = dd_replay_run(&opt, in, o, e, res);
    *out = slurp(o, &len);
    *err = slurp(e, &len);
    *dp = slurp(d, &len);
    fclose(in);
    fclose(o);
    fclose(e);
    fclose(d);
    free((char *)p[0].text);
    free((char *)p[1].text);
    return st;
}

/* Issue 15: parsing on several threads (--threads N) must not change a byte of the output.
 * The stream spans several chunks (256 KiB), has a comment line longer than a chunk and a last
 * line without its newline, and mixes reports that raise and clear alarms, message-sent
 * events, ticks, blank, comment and CRLF lines, and every kind of skipped line: the ones
 * judged on the line alone (bad JSON, no object, no time, a bad report, a bad event) and the
 * ones judged against the lines before (time going back), which a parser ahead of the engine
 * cannot decide. */
static void test_dd_replay_threads_same_output(void **state)
{
    static const char *const BAD[] = {
        "{\"thing\":\"T0\",\"time\":1,\"report\":", /* not JSON */
        "[1,2]",
        "{\"thing\":\"T0\",\"report\":{}}",
        "{\"thing\":\"T0\",\"time\":%lld,\"report\":{\"header\":{}}}",
        "{\"thing\":\"T0\",\"time\":%lld,\"event\":{\"type\":\"teleport\"}}",
        "{\"thing\":\"bad thing\",\"time\":%lld,\"tick\":false,\"event\":{\"type\":\"connect\"}}",
        "{\"thing\":\"T0\",\"time\":1000,\"event\":{\"type\":\"connect\"}}", /* time goes back */
        "{\"thing\":\"T0\",\"time\":%lld,\"json\":7}",
        "{\"thing\":\"T0\",\"time\":%lld,\"cbor\":\"zz\"}",
        "{\"thing\":\"T0\",\"thing\":\"T1\",\"time\":%lld,\"tick\":true}",
        "",
        "# a comment",
        "{\"time\":%lld,\"tick\":true}",
    };
    size_t cap = 4u << 20;
    char *input = calloc(1, cap);
    size_t len = 0;
    static const unsigned THREADS[] = {1, 2, 3, 7};
    char *out[4];
    char *err[4];
    char *dp[4];
    dd_replay_result_t res[4];
    dd_replay_status_t st[4];
    long long t = 1795836900000LL;
    int step;
    int i;
    (void)state;

    assert_non_null(input);
    for (step = 0; step < 800; step++, t += 60000) {
        for (i = 0; i < 8; i++) {
            /* Thing i sends more than 200 bytes in some windows: alarms raise and clear. */
            int bytes = ((step / 7 + i) % 5 == 0) ? 400 : 120 + i;
            len += (size_t)snprintf(input + len, cap - len,
                                    "{\"thing\":\"T%d\",\"time\":%lld,\"report\":{\"header\":"
                                    "{\"report_id\":%lld,\"version\":\"1.0\"},\"metrics\":"
                                    "{\"network_stats\":{\"bytes_in\":1,\"bytes_out\":%d,"
                                    "\"packets_in\":1,\"packets_out\":%d}}}}\n",
                                    i, t, t / 1000 + i, bytes, step % 3);
        }
        if (step % 3 == 0) {
            len += (size_t)snprintf(input + len, cap - len,
                                    "{\"thing\":\"T%d\",\"time\":%lld,\"event\":{\"type\":"
                                    "\"message-sent\",\"topic\":\"a/b\",\"size\":5,"
                                    "\"repeat\":%d}}\n",
                                    step % 8, t, 1 + step % 2);
        }
        if (step % 5 == 0) {
            len += (size_t)snprintf(input + len, cap - len, BAD[step / 5 % 13], t);
            if (step % 10 == 0) {
                input[len++] = '\r';
            }
            input[len++] = '\n';
        }
        if (step == 400) {
            input[len++] = '#';
            memset(input + len, 'x', 600000);
            len += 600000;
            input[len++] = '\n';
        }
        assert_true(len < cap - 1024);
    }
    input[--len] = '\0'; /* the last line ends without its newline */
    for (i = 0; i < 4; i++) {
        st[i] = run_threads(input, THREADS[i], &out[i], &err[i], &dp[i], &res[i]);
    }
    assert_int_equal(st[0], DD_REPLAY_SKIPPED_LINES);
    assert_non_null(strstr(out[0], "\"violationEventType\":\"in-alarm\""));
    assert_non_null(strstr(out[0], "\"violationEventType\":\"alarm-cleared\""));
    assert_non_null(strstr(out[0], "\"summary\""));
    assert_non_null(strstr(err[0], "is before the previous line's"));
    assert_non_null(strstr(err[0], "not valid JSON"));
    assert_true(res[0].lines > 6500);
    assert_true(len > 6u * (256u << 10));
    assert_true(res[0].datapoints > 0);
    for (i = 1; i < 4; i++) {
        assert_int_equal(st[i], st[0]);
        assert_string_equal(out[i], out[0]);
        assert_string_equal(err[i], err[0]);
        assert_string_equal(dp[i], dp[0]);
        assert_int_equal(res[i].lines, res[0].lines);
        assert_int_equal(res[i].used, res[0].used);
        assert_int_equal(res[i].skipped, res[0].skipped);
        assert_int_equal(res[i].events, res[0].events);
        assert_int_equal(res[i].datapoints, res[0].datapoints);
    }
    for (i = 0; i < 4; i++) {
        free(out[i]);
        free(err[i]);
        free(dp[i]);
    }
    free(input);
}

static void test_dd_replay_too_many_threads_refused(void **state)
{
    dd_replay_options_t opt;
    (void)state;

    memset(&opt, 0, sizeof(opt));
    opt.threads = DD_REPLAY_THREADS_MAX + 1;
    assert_int_equal(dd_replay_run(&opt, stdin, stdout, stderr, NULL), DD_REPLAY_BAD_PARAMETER);
    assert_true(dd_replay_default_threads() >= 1);
    assert_true(dd_replay_default_threads() <= DD_REPLAY_THREADS_DEFAULT_MAX);
}

/* Replays @p text (threads 1) against module4-intended; out and err texts, malloc()ed. */
static void replay_text(const char *text, size_t len, char **out, char **err)
{
    dd_replay_text_t p;
    dd_replay_options_t opt;
    FILE *in = fmemopen((void *)text, len, "r");
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    size_t n;

    assert_non_null(in);
    assert_non_null(o);
    assert_non_null(e);
    memset(&opt, 0, sizeof(opt));
    p.name = "fixtures/profiles/module4-intended.json";
    p.text = read_rel(p.name, &p.len);
    opt.profiles = &p;
    opt.profile_count = 1;
    opt.threads = 1;
    (void)dd_replay_run(&opt, in, o, e, NULL);
    *out = slurp(o, &n);
    *err = slurp(e, &n);
    fclose(in);
    fclose(o);
    fclose(e);
    free((char *)p.text);
}

/* The fast lane for report lines (dd_linetree_report()) end to end: a stream of report lines
 * of every shape it takes or leaves, with alarms, gives the same output as the same stream
 * with every line kept off the fast lane (dd_oracle_tree_only()). */
static void test_dd_replay_fast_lane_same_output(void **state)
{
    static const char *const SHAPES[] = {
        /* taken */
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d},\"listening_tcp_ports\":{"
        "\"ports\":[{\"port\":22},{\"port\":443,\"interface\":\"eth0\"}],\"total\":2},"
        "\"tcp_connections\":{\"established_connections\":{\"connections\":[{\"remote_addr\":"
        "\"10.0.0.%d:443\",\"local_port\":5000}],\"total\":1}}}}}\n",
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"hed\":{\"rid\":%d,\"v\":\"1.0\"},\"met\":{"
        "\"ns\":{\"bo\":%d,\"bi\":%d}}}}\n",
        /* left to the tree path, accepted there */
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d.0,\"bytes_in\":null},"
        "\"x\":%d}}}\n",
        /* refused: a bad port, a missing version, a bad thing */
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d},\"listening_udp_ports\":{"
        "\"ports\":[{\"port\":%d0000}]}}}}\n",
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d},\"metrics\":{"
        "\"network_stats\":{\"bytes_out\":%d,\"packets_out\":%d}}}}\n",
        "{\"thing\":\"d %d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d,\"bytes_in\":%d}}}}\n",
        /* out of time order, then not JSON */
        "{\"thing\":\"d%d\",\"time\":%lld000,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d,\"bytes_in\":%d}}}}\n",
        "{\"thing\":\"d%d\",\"time\":%lld,\"report\":{\"header\":{\"report_id\":%d,\"version\":"
        "\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_out\":%d}}}}, %d\n",
    };
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    char *tree;
    size_t len = 0;
    size_t tree_len = 0;
    char *out[2];
    char *err[2];
    int i;

    (void)state;
    assert_non_null(text);
    for (i = 0; i < 2000; i++) {
        int shape = (i * 7) % 13 < 8 ? i % 2 : 2 + i % 6;
        long long t = 1795824000000LL + (long long)i * 20000;
        int bytes = 100 + (i * 37) % 250;
        len += (size_t)snprintf(text + len, cap - len, SHAPES[shape], i % 7, t, i + 1, bytes,
                                i % 5 + 1);
    }
    tree = dd_oracle_tree_only(text, len, &tree_len);
    assert_non_null(tree);
    replay_text(text, len, &out[0], &err[0]);
    replay_text(tree, tree_len, &out[1], &err[1]);
    assert_non_null(strstr(out[0], "MoreBytesSent")); /* alarms were raised */
    assert_non_null(strstr(err[0], "(skipped)"));
    assert_string_equal(out[0], out[1]);
    dd_oracle_drop_json_errors(err[0]);
    dd_oracle_drop_json_errors(err[1]);
    assert_string_equal(err[0], err[1]);
    for (i = 0; i < 2; i++) {
        free(out[i]);
        free(err[i]);
    }
    free(tree);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_replay_module4_intended_one_alarm_at_first_3000),
        cmocka_unit_test(test_dd_replay_module4_literal_alarms_quiet_clears_noisy),
        cmocka_unit_test(test_dd_replay_module3_statistical),
        cmocka_unit_test(test_dd_replay_datapoints_static_csv_and_statistical_json),
        cmocka_unit_test(test_dd_replay_bad_lines_reported_and_skipped),
        cmocka_unit_test(test_dd_replay_deterministic_and_invalid_profile),
        cmocka_unit_test(test_dd_replay_things_groups_and_ticks),
        cmocka_unit_test(test_dd_replay_strict_json_lines),
        cmocka_unit_test(test_dd_replay_rejected_line_never_half_applied),
        cmocka_unit_test(test_dd_replay_threads_same_output),
        cmocka_unit_test(test_dd_replay_too_many_threads_refused),
        cmocka_unit_test(test_dd_replay_fast_lane_same_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
