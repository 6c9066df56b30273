#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_alarm.h"

/* Feeds a string of verdicts ('v' violating, 'c' conforming) and returns
 * the transitions as a string: R raised, S still violating, C cleared, . none. */
static void run(dd_alarm_t *a, const char *verdicts, int to_alarm, int to_clear, char *out)
{
    size_t i;

    for (i = 0; verdicts[i] != '\0'; i++) {
        dd_alarm_transition_t tr;
        assert_int_equal(dd_alarm_step(a, verdicts[i] == 'v', to_alarm, to_clear,
                                       (int64_t)(i + 1) * 300000,
                                       "0123456789abcdef0123456789abcdef", &tr),
                         DD_ALARM_OK);
        out[i] = tr == DD_ALARM_RAISED            ? 'R'
                 : tr == DD_ALARM_STILL_VIOLATING ? 'S'
                 : tr == DD_ALARM_CLEARED         ? 'C'
                                                  : '.';
    }
    out[i] = '\0';
}

static void test_dd_alarm_one_one(void **state)
{
    dd_alarm_t a;
    char out[64];

    (void)state;
    memset(&a, 0, sizeof(a));
    run(&a, "cvvcv", 1, 1, out);
    assert_string_equal(out, ".RSCR");
    assert_int_equal(a.start_ms, 5 * 300000);
}

static void test_dd_alarm_three_three(void **state)
{
    dd_alarm_t a;
    char out[64];

    (void)state;
    memset(&a, 0, sizeof(a));
    run(&a, "vvcvvvvcccv", 3, 3, out);
    assert_string_equal(out, ".....RS..C.");
    assert_int_equal(a.state, DD_ALARM_NORMAL);
    assert_int_equal(a.start_ms, 6 * 300000);
    assert_int_equal(a.last_violation_ms, 7 * 300000);
}

static void test_dd_alarm_two_five_and_flapping(void **state)
{
    dd_alarm_t a;
    char out[64];

    (void)state;
    memset(&a, 0, sizeof(a));
    /* 2 to alarm, 5 to clear: flapping never clears, never re-raises. */
    run(&a, "vvcvcvcccccv", 2, 5, out);
    assert_string_equal(out, ".R.S.S....C.");
    memset(&a, 0, sizeof(a));
    /* flapping v/c never reaches 2 in a row */
    run(&a, "vcvcvcvc", 2, 1, out);
    assert_string_equal(out, "........");
}

static void test_dd_alarm_invalidate_and_ids(void **state)
{
    dd_alarm_t a;
    dd_alarm_transition_t tr;
    char id1[DD_VIOLATION_ID_LEN];
    char id2[DD_VIOLATION_ID_LEN];
    char out[8];
    dd_verification_t v;

    (void)state;
    memset(&a, 0, sizeof(a));
    run(&a, "v", 1, 1, out);
    assert_int_equal(dd_alarm_invalidate(&a, &tr), DD_ALARM_OK);
    assert_int_equal(tr, DD_ALARM_INVALIDATED);
    assert_int_equal(dd_alarm_invalidate(&a, &tr), DD_ALARM_OK);
    assert_int_equal(tr, DD_ALARM_NONE);
    assert_int_equal(dd_alarm_step(&a, true, 0, 1, 1, NULL, &tr), DD_ALARM_BAD_PARAMETER);
    assert_int_equal(dd_alarm_step(&a, true, 1, 11, 1, NULL, &tr), DD_ALARM_BAD_PARAMETER);
    dd_alarm_make_id("abc", 3, 1, id1);
    dd_alarm_make_id("abc", 3, 2, id2);
    assert_int_equal(strlen(id1), 32);
    assert_string_not_equal(id1, id2);
    dd_alarm_make_id("abc", 3, 1, id2);
    assert_string_equal(id1, id2);
    assert_true(dd_verification_parse("TRUE_POSITIVE", &v));
    assert_int_equal(v, DD_VERIFICATION_TRUE_POSITIVE);
    assert_false(dd_verification_parse("MAYBE", &v));
    assert_string_equal(dd_alarm_event_name(DD_ALARM_INVALIDATED), "alarm-invalidated");
    assert_string_equal(dd_verification_name(DD_VERIFICATION_BENIGN_POSITIVE), "BENIGN_POSITIVE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_alarm_one_one),
        cmocka_unit_test(test_dd_alarm_three_three),
        cmocka_unit_test(test_dd_alarm_two_five_and_flapping),
        cmocka_unit_test(test_dd_alarm_invalidate_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
