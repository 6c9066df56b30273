/* Unit tests for the threshold sweep (evaluator/replay/dd_sweep). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dd_sweep.h"

#define G DD_SOURCE_DIR "/tests/golden/replay/"
#define P DD_SOURCE_DIR "/fixtures/profiles/"

static char *read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Runs a sweep of @p profile's @p behavior over @p stream; the error text lands in @p err. */
static dd_sweep_status_t sweep(const char *profile, const char *behavior, dd_sweep_kind_t kind,
                               const char *const *variants, size_t nvar,
                               const dd_sweep_label_t *bad, size_t nbad, const char *stream,
                               dd_sweep_row_t *rows, char *err, size_t err_len)
{
    dd_replay_text_t p;
    dd_sweep_options_t opt;
    dd_sweep_status_t st;
    FILE *in = fopen(stream, "r");
    FILE *e = tmpfile();
    size_t n;

    assert_non_null(in);
    assert_non_null(e);
    memset(&opt, 0, sizeof(opt));
    p.name = profile;
    p.text = read_path(profile, &p.len);
    opt.profile = &p;
    opt.behavior = behavior;
    opt.kind = kind;
    opt.variants = variants;
    opt.variant_count = nvar;
    opt.bad = bad;
    opt.bad_count = nbad;
    st = dd_sweep_run(&opt, in, e, rows, NULL);
    fflush(e);
    rewind(e);
    n = fread(err, 1, err_len - 1, e);
    err[n] = '\0';
    fclose(e);
    fclose(in);
    free((char *)p.text);
    return st;
}

/*
 * Module 4's stream: Thing03 sends 150 bytes per 5 minutes three times, then
 * 3000 three times. Normal is "at most VALUE": 100 flags it from its first
 * datapoint, 600..2600 at the first 3000 (900 s later), 3100 never.
 */
static void test_dd_sweep_values_detection_and_time_in_alarm(void **state)
{
    static const char *const V[] = {"100", "600", "3100"};
    dd_sweep_label_t bad = {"Thing03", 0};
    dd_sweep_row_t rows[3];
    char err[1024];

    (void)state;
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_VALUE, V, 3, &bad,
                           1, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_OK);
    assert_string_equal(err, "");
    assert_string_equal(rows[0].variant, "100");
    assert_int_equal(rows[0].things_with_data, 1);
    assert_int_equal(rows[0].true_positives, 1);
    assert_int_equal(rows[0].false_negatives, 0);
    assert_int_equal(rows[0].detect_median_ms, 0);
    assert_int_equal(rows[0].alarmed_bad_ms, 1500000);
    assert_int_equal(rows[1].true_positives, 1);
    assert_int_equal(rows[1].tp_events, 1);
    assert_int_equal(rows[1].detect_median_ms, 900000);
    assert_int_equal(rows[1].detect_max_ms, 900000);
    assert_int_equal(rows[1].alarmed_bad_ms, 600000);
    assert_int_equal(rows[2].true_positives, 0);
    assert_int_equal(rows[2].false_negatives, 1);
    assert_int_equal(rows[2].detect_median_ms, -1);
    assert_int_equal(rows[2].alarmed_bad_ms, 0);
}

/*
 * Without labels every alarm is a false positive; with an anomaly start the
 * alarms before it are false-positive events and detection counts from it.
 */
static void test_dd_sweep_labels_and_false_positives(void **state)
{
    static const char *const V[] = {"100"};
    /* 1795860907000: the third datapoint (150 bytes), after value 100 raised the alarm. */
    dd_sweep_label_t since = {"Thing03", 1795860907000LL};
    dd_sweep_row_t rows[1];
    char err[1024];

    (void)state;
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_VALUE, V, 1, NULL,
                           0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_OK);
    assert_int_equal(rows[0].false_positives, 1);
    assert_int_equal(rows[0].fp_events, 1);
    assert_int_equal(rows[0].true_positives, 0);
    assert_int_equal(rows[0].alarmed_good_ms, 1500000);

    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_VALUE, V, 1, &since,
                           1, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_OK);
    /* In alarm from the first datapoint, before the anomaly: never raised again after it. */
    assert_int_equal(rows[0].fp_events, 1);
    assert_int_equal(rows[0].true_positives, 0);
    assert_int_equal(rows[0].false_negatives, 1);
}

/* Datapoints to alarm and percentiles are swept the same way. */
static void test_dd_sweep_to_alarm_and_percentiles(void **state)
{
    static const char *const A[] = {"1", "3", "4"};
    static const char *const PCT[] = {"p50", "p99"};
    dd_sweep_label_t bad4 = {"Thing03", 0};
    dd_sweep_label_t bad3 = {"Thing02", 0};
    dd_sweep_row_t rows[3];
    char err[1024];

    (void)state;
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_TO_ALARM, A, 3,
                           &bad4, 1, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_OK);
    assert_int_equal(rows[0].detect_median_ms, 900000);
    assert_int_equal(rows[1].detect_median_ms, 1500000); /* the third 3000 in a row */
    assert_int_equal(rows[2].true_positives, 0);         /* only three 3000s */
    assert_int_equal(rows[2].false_negatives, 1);

    assert_int_equal(sweep(P "module3-intended.json", "LargeMessageSize", DD_SWEEP_PERCENTILE, PCT,
                           2, &bad3, 1, G "module3.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_OK);
    assert_int_equal(rows[0].things_with_data, 2);
    assert_int_equal(rows[0].true_positives, 1);
    assert_int_equal(rows[0].false_positives, 0);
    assert_string_equal(rows[1].variant, "p99");
}

/* Variants that do not fit, a missing behavior and bad arguments are refused with a message. */
static void test_dd_sweep_refusals(void **state)
{
    static const char *const BADVAL[] = {"abc"};
    static const char *const FRACTION[] = {"1.5"};
    static const char *const ZERO[] = {"0"};
    static const char *const PCT[] = {"p42"};
    dd_sweep_row_t rows[1];
    char err[1024];
    dd_sweep_options_t opt;

    (void)state;
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_VALUE, BADVAL, 1,
                           NULL, 0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_BAD_VARIANT);
    assert_non_null(strstr(err, "'abc' is not a number"));
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_VALUE, FRACTION, 1,
                           NULL, 0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_BAD_VARIANT);
    assert_non_null(strstr(err, "counts"));
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_TO_ALARM, ZERO, 1,
                           NULL, 0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_BAD_VARIANT);
    assert_int_equal(sweep(P "module4-intended.json", "MoreBytesSent", DD_SWEEP_PERCENTILE, PCT, 1,
                           NULL, 0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_BAD_VARIANT);
    assert_int_equal(sweep(P "module4-intended.json", "NoSuchBehavior", DD_SWEEP_VALUE, BADVAL, 1,
                           NULL, 0, G "module4.jsonl", rows, err, sizeof(err)),
                     DD_SWEEP_BAD_PROFILE);
    assert_non_null(strstr(err, "no behavior named NoSuchBehavior"));
    memset(&opt, 0, sizeof(opt));
    assert_int_equal(dd_sweep_run(&opt, stdin, stderr, rows, NULL), DD_SWEEP_BAD_PARAMETER);
    assert_int_equal(dd_sweep_run(NULL, stdin, stderr, rows, NULL), DD_SWEEP_BAD_PARAMETER);
    assert_string_equal(dd_sweep_strerror(DD_SWEEP_BAD_VARIANT),
                        "a variant does not fit the behavior");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_sweep_values_detection_and_time_in_alarm),
        cmocka_unit_test(test_dd_sweep_labels_and_false_positives),
        cmocka_unit_test(test_dd_sweep_to_alarm_and_percentiles),
        cmocka_unit_test(test_dd_sweep_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
