#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dd_map.h"

static void test_dd_map_put_get_replace_remove(void **state)
{
    dd_map_t m;
    void *old = (void *)1;
    int a = 1;
    int b = 2;

    (void)state;
    dd_map_init(&m);
    assert_null(dd_map_get(&m, "x"));
    assert_int_equal(dd_map_put(&m, "Thing03", &a, &old), DD_MAP_OK);
    assert_null(old);
    assert_ptr_equal(dd_map_get(&m, "Thing03"), &a);
    assert_ptr_equal(dd_map_get_n(&m, "Thing03xyz", 7), &a);
    assert_null(dd_map_get_n(&m, "Thing0", 6));
    assert_int_equal(dd_map_put(&m, "Thing03", &b, &old), DD_MAP_OK);
    assert_ptr_equal(old, &a);
    assert_int_equal(dd_map_count(&m), 1);
    assert_int_equal(dd_map_remove(&m, "Thing03", &old), DD_MAP_OK);
    assert_ptr_equal(old, &b);
    assert_int_equal(dd_map_remove(&m, "Thing03", NULL), DD_MAP_NOT_FOUND);
    assert_int_equal(dd_map_count(&m), 0);
    assert_int_equal(dd_map_put(NULL, "k", NULL, NULL), DD_MAP_BAD_PARAMETER);
    dd_map_destroy(&m);
}

static void test_dd_map_many_keys_with_churn(void **state)
{
    dd_map_t m;
    char key[32];
    size_t cursor = 0;
    size_t seen = 0;
    const char *k;
    void *v;
    int i;

    (void)state;
    dd_map_init(&m);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "thing-%d", i);
        assert_int_equal(dd_map_put(&m, key, (void *)(intptr_t)(i + 1), NULL), DD_MAP_OK);
    }
    /* Remove the even ones, re-add some: tombstones must not break probing. */
    for (i = 0; i < 20000; i += 2) {
        snprintf(key, sizeof(key), "thing-%d", i);
        assert_int_equal(dd_map_remove(&m, key, NULL), DD_MAP_OK);
    }
    for (i = 0; i < 20000; i += 4) {
        snprintf(key, sizeof(key), "thing-%d", i);
        assert_int_equal(dd_map_put(&m, key, (void *)(intptr_t)(i + 1), NULL), DD_MAP_OK);
    }
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "thing-%d", i);
        if (i % 2 == 1 || i % 4 == 0) {
            assert_int_equal((intptr_t)dd_map_get(&m, key), i + 1);
        } else {
            assert_null(dd_map_get(&m, key));
        }
    }
    while (dd_map_next(&m, &cursor, &k, &v)) {
        assert_int_equal((intptr_t)dd_map_get(&m, k), (intptr_t)v);
        seen++;
    }
    assert_int_equal(seen, dd_map_count(&m));
    assert_int_equal(seen, 10000 + 5000);
    dd_map_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_map_put_get_replace_remove),
        cmocka_unit_test(test_dd_map_many_keys_with_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
