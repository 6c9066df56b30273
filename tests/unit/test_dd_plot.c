/* Unit tests for `ddlocal plot`'s data and scripts (cli/dd_plot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dd_plot.h"

#define G DD_SOURCE_DIR "/tests/golden/replay/"
#define P DD_SOURCE_DIR "/fixtures/profiles/"

static char *slurp(FILE *f)
{
    long n = ftell(f);
    char *buf = calloc(1, (size_t)n + 1);

    assert_non_null(buf);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    return buf;
}

static void collect(const char *profile, const char *stream, dd_plot_data_t *data)
{
    char *text;
    dd_replay_text_t p;
    dd_replay_options_t opt;
    FILE *f = fopen(profile, "rb");
    FILE *in = fopen(stream, "r");

    assert_non_null(f);
    assert_non_null(in);
    fseek(f, 0, SEEK_END);
    text = slurp(f);
    p.name = profile;
    p.text = text;
    p.len = strlen(text);
    fclose(f);
    memset(&opt, 0, sizeof(opt));
    opt.profiles = &p;
    opt.profile_count = 1;
    assert_int_equal(dd_plot_collect(&opt, in, stderr, data), DD_PLOT_OK);
    fclose(in);
    free(text);
}

/* Module 4: one series, its six datapoints against the static 200, one alarm raised. */
static void test_dd_plot_collect_and_series_script(void **state)
{
    dd_plot_data_t data;
    const dd_plot_series_t *s;
    FILE *out = tmpfile();
    char *script;
    size_t i;
    size_t violating = 0;

    (void)state;
    collect(P "module4-intended.json", G "module4.jsonl", &data);
    assert_int_equal(data.count, 1);
    s = &data.series[0];
    assert_string_equal(s->thing, "Thing03");
    assert_string_equal(s->behavior, "MoreBytesSent");
    assert_null(s->statistic);
    assert_int_equal(s->npoints, 6);
    for (i = 0; i < s->npoints; i++) {
        assert_true(s->points[i].has_threshold);
        assert_true(s->points[i].threshold == 200.0);
        violating += s->points[i].violating;
        assert_int_equal(s->points[i].violating, s->points[i].value > 200.0);
    }
    assert_int_equal(violating, 3);
    assert_int_equal(s->nevents, 1);
    assert_int_equal(data.end_ms, s->points[5].time_ms);

    assert_int_equal(dd_plot_series_script(s, data.end_ms, "/tmp/x'y.svg", out), DD_PLOT_OK);
    script = slurp(out);
    assert_non_null(strstr(script, "set output '/tmp/x''y.svg'"));            /* quote doubled */
    assert_non_null(strstr(script, "set object 1 rect from 1795861207.000")); /* the alarm */
    assert_null(strstr(script, "set object 2 rect"));
    assert_non_null(strstr(script, "set label 'in-alarm'"));
    assert_non_null(strstr(script, "1795861807.000 3000 200 1\n"));
    assert_non_null(strstr(script, "'threshold (static)'"));
    free(script);
    fclose(out);
    dd_plot_data_free(&data);
}

/* Module 3: the threshold of each datapoint is the window's fleet percentile. */
static void test_dd_plot_statistical_threshold(void **state)
{
    dd_plot_data_t data;
    size_t i;

    (void)state;
    collect(P "module3-intended.json", G "module3.jsonl", &data);
    assert_int_equal(data.count, 2);
    for (i = 0; i < data.count; i++) {
        assert_string_equal(data.series[i].statistic, "p50");
        assert_true(data.series[i].npoints > 0);
        assert_true(data.series[i].points[0].has_threshold);
    }
    dd_plot_data_free(&data);
}

static void test_dd_plot_sweep_script(void **state)
{
    const char *csv =
        "value,thingsWithData,truePositives,falsePositives,falseNegatives,tpEvents,fpEvents,"
        "detectMedianSeconds,detectMaxSeconds,alarmedBadSeconds,alarmedGoodSeconds\n"
        "100,1,1,0,0,1,0,0,0,1500,0\n"
        "3100,1,0,0,1,0,0,,,0,0\n";
    FILE *out = tmpfile();
    char msg[256];
    char *script;

    (void)state;
    assert_int_equal(dd_plot_sweep_script(csv, "s.svg", out, msg, sizeof(msg)), DD_PLOT_OK);
    script = slurp(out);
    assert_non_null(strstr(script, "0 \"100\" 1 0 0 0\n1 \"3100\" 0 0 1 NaN\n"));
    assert_non_null(strstr(script, "set xlabel 'value'"));
    free(script);
    fclose(out);
    out = tmpfile();
    assert_int_equal(dd_plot_sweep_script("a,b\n1,2\n", "s.svg", out, msg, sizeof(msg)),
                     DD_PLOT_BAD_SWEEP);
    assert_non_null(strstr(msg, "ddlocal sweep --format csv"));
    assert_int_equal(dd_plot_sweep_script("value,thingsWithData,truePositives,falsePositives,"
                                          "falseNegatives,tpEvents,fpEvents,detectMedianSeconds,"
                                          "detectMaxSeconds,alarmedBadSeconds,alarmedGoodSeconds\n"
                                          "1,2\n",
                                          "s.svg", out, msg, sizeof(msg)),
                     DD_PLOT_BAD_SWEEP);
    assert_non_null(strstr(msg, "row 1 has 2 fields"));
    fclose(out);
}

/* Without gnuplot on PATH the command says how to install it. */
static void test_dd_plot_no_gnuplot(void **state)
{
    char *saved = getenv("PATH") != NULL ? strdup(getenv("PATH")) : NULL;

    (void)state;
    setenv("PATH", "/nonexistent", 1);
    assert_int_equal(dd_plot_run_gnuplot("x.gp"), DD_PLOT_NO_GNUPLOT);
    assert_non_null(strstr(dd_plot_strerror(DD_PLOT_NO_GNUPLOT), "gnuplot-nox"));
    if (saved != NULL) {
        setenv("PATH", saved, 1);
        free(saved);
    }
    assert_int_equal(dd_plot_run_gnuplot(NULL), DD_PLOT_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_plot_collect_and_series_script),
        cmocka_unit_test(test_dd_plot_statistical_threshold),
        cmocka_unit_test(test_dd_plot_sweep_script),
        cmocka_unit_test(test_dd_plot_no_gnuplot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
