#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_retry.h"

static const dd_retry_config_t CFG = {.max_attempts = 4,
                                      .first_delay_ms = 500,
                                      .max_delay_ms = 1500};

static void test_dd_retry_backoff_doubles_up_to_the_cap(void **state)
{
    dd_retry_config_t big = {.max_attempts = 100, .first_delay_ms = 1000, .max_delay_ms = 30000};

    (void)state;
    assert_int_equal(dd_retry_delay_ms(&CFG, 1), 500);
    assert_int_equal(dd_retry_delay_ms(&CFG, 2), 1000);
    assert_int_equal(dd_retry_delay_ms(&CFG, 3), 1500);
    assert_int_equal(dd_retry_delay_ms(&CFG, 9), 1500);
    assert_int_equal(dd_retry_delay_ms(&big, 1000000), 30000);
    assert_int_equal(dd_retry_delay_ms(&CFG, 0), -1);
    assert_int_equal(dd_retry_delay_ms(NULL, 1), -1);
}

static void test_dd_retry_failed_job_is_due_again_after_its_backoff(void **state)
{
    dd_retry_t *q = NULL;
    const char *key = NULL;
    int attempt = 0;
    bool gave_up = true;
    int64_t due = 0;
    int64_t wait = 0;

    (void)state;
    assert_int_equal(dd_retry_create(&CFG, &q), DD_RETRY_OK);
    assert_int_equal(dd_retry_wait_ms(q, 0, &wait), DD_RETRY_OK);
    assert_int_equal(wait, -1);
    assert_int_equal(dd_retry_due(q, 0, &key, &attempt), DD_RETRY_NOT_DUE);
    assert_int_equal(dd_retry_add(q, "Thing03", 1000), DD_RETRY_OK);
    assert_int_equal(dd_retry_add(q, "Thing03", 1000), DD_RETRY_DUPLICATE);
    assert_int_equal(dd_retry_count(q), 1);
    assert_int_equal(dd_retry_due(q, 999, &key, &attempt), DD_RETRY_NOT_DUE);
    assert_int_equal(dd_retry_due(q, 1000, &key, &attempt), DD_RETRY_OK);
    assert_string_equal(key, "Thing03");
    assert_int_equal(attempt, 1);

    assert_int_equal(dd_retry_failed(q, "Thing03", 1000, &gave_up, &due), DD_RETRY_OK);
    assert_false(gave_up);
    assert_int_equal(due, 1500);
    assert_int_equal(dd_retry_wait_ms(q, 1200, &wait), DD_RETRY_OK);
    assert_int_equal(wait, 300);
    assert_int_equal(dd_retry_due(q, 1499, &key, &attempt), DD_RETRY_NOT_DUE);
    assert_int_equal(dd_retry_due(q, 1500, &key, &attempt), DD_RETRY_OK);
    assert_int_equal(attempt, 2);

    assert_int_equal(dd_retry_succeeded(q, "Thing03"), DD_RETRY_OK);
    assert_int_equal(dd_retry_count(q), 0);
    assert_int_equal(dd_retry_succeeded(q, "Thing03"), DD_RETRY_NOT_FOUND);
    /* Once done, the same key may be queued again (a later alert). */
    assert_int_equal(dd_retry_add(q, "Thing03", 2000), DD_RETRY_OK);
    dd_retry_destroy(q);
}

static void test_dd_retry_gives_up_after_the_last_attempt(void **state)
{
    dd_retry_t *q = NULL;
    const char *key = NULL;
    int attempt = 0;
    bool gave_up = false;
    int64_t now = 0;
    int i;

    (void)state;
    assert_int_equal(dd_retry_create(&CFG, &q), DD_RETRY_OK);
    assert_int_equal(dd_retry_add(q, "a", 0), DD_RETRY_OK);
    assert_int_equal(dd_retry_add(q, "b", 10), DD_RETRY_OK);
    for (i = 1; i <= CFG.max_attempts; i++) {
        int64_t due = 0;
        assert_int_equal(dd_retry_due(q, now, &key, &attempt), DD_RETRY_OK);
        assert_string_equal(key, "a");
        assert_int_equal(attempt, i);
        assert_int_equal(dd_retry_failed(q, "a", now, &gave_up, &due), DD_RETRY_OK);
        assert_int_equal(gave_up, i == CFG.max_attempts);
        if (!gave_up) {
            /* "b" was not due at 0; it is done before "a"'s retries (oldest due first). */
            now = due;
            assert_int_equal(dd_retry_succeeded(q, "b"), i == 1 ? DD_RETRY_OK : DD_RETRY_NOT_FOUND);
        }
    }
    assert_int_equal(dd_retry_count(q), 0);
    assert_int_equal(dd_retry_failed(q, "a", now, &gave_up, NULL), DD_RETRY_NOT_FOUND);
    dd_retry_destroy(q);
}

static void test_dd_retry_checks_parameters(void **state)
{
    dd_retry_t *q = NULL;
    dd_retry_config_t bad = CFG;
    bool gave_up;

    (void)state;
    assert_int_equal(dd_retry_create(NULL, &q), DD_RETRY_BAD_PARAMETER);
    assert_int_equal(dd_retry_create(&CFG, NULL), DD_RETRY_BAD_PARAMETER);
    bad.max_attempts = 0;
    assert_int_equal(dd_retry_create(&bad, &q), DD_RETRY_BAD_PARAMETER);
    bad = CFG;
    bad.max_delay_ms = 10;
    assert_int_equal(dd_retry_create(&bad, &q), DD_RETRY_BAD_PARAMETER);
    assert_null(q);
    assert_int_equal(dd_retry_add(NULL, "a", 0), DD_RETRY_BAD_PARAMETER);
    assert_int_equal(dd_retry_failed(NULL, "a", 0, &gave_up, NULL), DD_RETRY_BAD_PARAMETER);
    assert_int_equal(dd_retry_count(NULL), 0);
    dd_retry_destroy(NULL);
    assert_true(strlen(dd_retry_strerror(DD_RETRY_NOT_DUE)) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_retry_backoff_doubles_up_to_the_cap),
        cmocka_unit_test(test_dd_retry_failed_job_is_due_again_after_its_backoff),
        cmocka_unit_test(test_dd_retry_gives_up_after_the_last_attempt),
        cmocka_unit_test(test_dd_retry_checks_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
