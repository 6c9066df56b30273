#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dd_seed.h"

static int teardown(void **state)
{
    (void)state;
    dd_seed_unset();
    return 0;
}

static void test_dd_seed_same_seed_same_bytes(void **state)
{
    unsigned char a[100];
    unsigned char b[100];
    uint64_t seed = 0;

    (void)state;
    assert_int_equal(dd_seed_set(42, "test"), DD_SEED_OK);
    assert_true(dd_seed_get(&seed));
    assert_int_equal(seed, 42);
    assert_int_equal(dd_seed_bytes("s", a, sizeof(a)), DD_SEED_OK);
    assert_int_equal(dd_seed_set(42, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_bytes("s", b, sizeof(b)), DD_SEED_OK);
    assert_memory_equal(a, b, sizeof(a));
    /* The next draw of the stream is new bytes. */
    assert_int_equal(dd_seed_bytes("s", b, sizeof(b)), DD_SEED_OK);
    assert_memory_not_equal(a, b, sizeof(a));
}

static void test_dd_seed_streams_are_independent(void **state)
{
    char first[DD_SEED_UUID_LEN];
    char again[DD_SEED_UUID_LEN];
    unsigned char junk[7];

    (void)state;
    assert_int_equal(dd_seed_set(7, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("thing-id", first), DD_SEED_OK);
    assert_int_equal(dd_seed_set(7, "test"), DD_SEED_OK);
    /* Draws of another stream in between change nothing. */
    assert_int_equal(dd_seed_bytes("other", junk, sizeof(junk)), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("thing-id", again), DD_SEED_OK);
    assert_string_equal(first, again);
    assert_int_equal(strlen(first), 36);
    assert_int_equal(first[14], '4');
    assert_true(strchr("89ab", first[19]) != NULL);
}

static void test_dd_seed_other_scope_other_bytes(void **state)
{
    char a[DD_SEED_UUID_LEN];
    char b[DD_SEED_UUID_LEN];
    char long_scope[DD_SEED_SCOPE_MAX + 2];

    (void)state;
    assert_int_equal(dd_seed_set(1, "ddlocald.0"), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("x", a), DD_SEED_OK);
    assert_int_equal(dd_seed_set(1, "ddlocald.1"), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("x", b), DD_SEED_OK);
    assert_string_not_equal(a, b);
    memset(long_scope, 's', sizeof(long_scope) - 1);
    long_scope[sizeof(long_scope) - 1] = '\0';
    assert_int_equal(dd_seed_set(1, long_scope), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_set(1, NULL), DD_SEED_BAD_PARAMETER);
}

static void test_dd_seed_other_seed_other_bytes(void **state)
{
    char a[DD_SEED_UUID_LEN];
    char b[DD_SEED_UUID_LEN];

    (void)state;
    assert_int_equal(dd_seed_set(1, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("x", a), DD_SEED_OK);
    assert_int_equal(dd_seed_set(2, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("x", b), DD_SEED_OK);
    assert_string_not_equal(a, b);
}

static void test_dd_seed_known_answer(void **state)
{
    unsigned char b[4];
    char hex[9];

    /* Pins the derivation (file comment of dd_seed.h), computed independently with Python's
     * hmac: changing it changes every seeded id. */
    (void)state;
    assert_int_equal(dd_seed_set(0, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_bytes("t", b, sizeof(b)), DD_SEED_OK);
    (void)snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
    assert_string_equal(hex, "0ade404d");
}

static void test_dd_seed_unset_is_random(void **state)
{
    char a[DD_SEED_UUID_LEN];
    char b[DD_SEED_UUID_LEN];

    (void)state;
    dd_seed_unset();
    assert_false(dd_seed_get(NULL));
    assert_int_equal(dd_seed_uuid("x", a), DD_SEED_OK);
    assert_int_equal(dd_seed_uuid("x", b), DD_SEED_OK);
    assert_string_not_equal(a, b);
}

static void test_dd_seed_gen_follows_its_stream(void **state)
{
    dd_seed_gen_t g1;
    dd_seed_gen_t g2;
    unsigned char a[80];
    unsigned char b[80];

    (void)state;
    assert_int_equal(dd_seed_set(9, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_gen_init(&g1, "key"), DD_SEED_OK);
    assert_int_equal(dd_seed_gen_bytes(&g1, a, sizeof(a)), DD_SEED_OK);
    assert_int_equal(dd_seed_set(9, "test"), DD_SEED_OK);
    assert_int_equal(dd_seed_gen_init(&g2, "key"), DD_SEED_OK);
    assert_int_equal(dd_seed_gen_bytes(&g2, b, 30), DD_SEED_OK);
    assert_int_equal(dd_seed_gen_bytes(&g2, b + 32, 48), DD_SEED_OK);
    assert_memory_equal(a, b, 30);
    assert_memory_equal(a + 32, b + 32, 48);
    dd_seed_gen_wipe(&g1);
    dd_seed_gen_wipe(&g2);
}

static void test_dd_seed_bad_parameters(void **state)
{
    unsigned char b[4];
    char name[DD_SEED_STREAM_NAME_MAX + 2];

    (void)state;
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(dd_seed_bytes(NULL, b, sizeof(b)), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_bytes("", b, sizeof(b)), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_bytes(name, b, sizeof(b)), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_bytes("s", NULL, 1), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_uuid("s", NULL), DD_SEED_BAD_PARAMETER);
    assert_int_equal(dd_seed_gen_init(NULL, "s"), DD_SEED_BAD_PARAMETER);
    assert_string_equal(dd_seed_strerror(DD_SEED_TOO_MANY_STREAMS), "too many random streams");
}

static void test_dd_seed_stream_table_is_bounded(void **state)
{
    unsigned char b[1];
    char name[16];

    (void)state;
    assert_int_equal(dd_seed_set(3, "test"), DD_SEED_OK);
    for (int i = 0; i < DD_SEED_MAX_STREAMS; i++) {
        (void)snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(dd_seed_bytes(name, b, sizeof(b)), DD_SEED_OK);
    }
    assert_int_equal(dd_seed_bytes("one-more", b, sizeof(b)), DD_SEED_TOO_MANY_STREAMS);
    assert_int_equal(dd_seed_bytes("s0", b, sizeof(b)), DD_SEED_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dd_seed_same_seed_same_bytes, teardown),
        cmocka_unit_test_teardown(test_dd_seed_streams_are_independent, teardown),
        cmocka_unit_test_teardown(test_dd_seed_other_seed_other_bytes, teardown),
        cmocka_unit_test_teardown(test_dd_seed_other_scope_other_bytes, teardown),
        cmocka_unit_test_teardown(test_dd_seed_known_answer, teardown),
        cmocka_unit_test_teardown(test_dd_seed_unset_is_random, teardown),
        cmocka_unit_test_teardown(test_dd_seed_gen_follows_its_stream, teardown),
        cmocka_unit_test_teardown(test_dd_seed_bad_parameters, teardown),
        cmocka_unit_test_teardown(test_dd_seed_stream_table_is_bounded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
