/*
 * dd_kmerge: the merged order of time-ordered sources - by time, ties to the source given
 * first and within a source its own order, empty and exhausted sources, a source going
 * backwards or failing, bad parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dd_kmerge.h"

/* A source over an array of times; each item is named by its letter. */
typedef struct src {
    const int64_t *times;
    const char *names;
    size_t count;
    size_t next;
    int fail_at; /* advance number that fails, -1 never */
} src_t;

static bool src_advance(void *ctx, int64_t *time_ms, bool *has_item)
{
    src_t *s = ctx;

    if (s->fail_at >= 0 && (size_t)s->fail_at == s->next) {
        return false;
    }
    *has_item = s->next < s->count;
    if (*has_item) {
        *time_ms = s->times[s->next];
    }
    s->next++;
    return true;
}

/* Merges @p srcs and writes the merged item names ("a1 b1 ..." as letter and time) to @p out. */
static dd_kmerge_status_t merge_all(src_t *srcs, size_t n, char *out, size_t out_len)
{
    dd_kmerge_source_t sources[DD_KMERGE_MAX_SOURCES];
    dd_kmerge_t m;
    dd_kmerge_status_t st;
    size_t which = 0;
    size_t i;
    bool has = true;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        sources[i].advance = src_advance;
        sources[i].ctx = &srcs[i];
    }
    assert_int_equal(dd_kmerge_init(&m, sources, n), DD_KMERGE_OK);
    for (;;) {
        st = dd_kmerge_next(&m, &which, &has);
        if (st != DD_KMERGE_OK || !has) {
            return st;
        }
        /* The item is the one before the source's cursor (it was advanced onto it). */
        src_t *s = &srcs[which];
        size_t len = strlen(out);
        (void)snprintf(out + len, out_len - len, "%s%c%lld", len > 0 ? " " : "",
                       s->names[s->next - 1], (long long)s->times[s->next - 1]);
    }
}

static void test_dd_kmerge_orders_by_time_then_source(void **state)
{
    /* Equal times across sources: the first source's items first, each source in its order
     * (r and R are two reports of one time, as stored). */
    static const int64_t REPORTS[] = {1000, 2000, 2000, 5000};
    static const int64_t METERING[] = {0, 2000, 2000, 3000};
    static const int64_t TICKS[] = {2000, 2000, 9000};
    src_t s[3] = {
        {REPORTS, "rrRr", 4, 0, -1},
        {METERING, "mmMm", 4, 0, -1},
        {TICKS, "ttT", 3, 0, -1},
    };
    char out[256];

    (void)state;
    assert_int_equal(merge_all(s, 3, out, sizeof(out)), DD_KMERGE_OK);
    assert_string_equal(out, "m0 r1000 r2000 R2000 m2000 M2000 t2000 t2000 m3000 r5000 T9000");
}

static void test_dd_kmerge_empty_and_single_sources(void **state)
{
    static const int64_t ONE[] = {7, 7, 8};
    src_t s[3] = {
        {NULL, "", 0, 0, -1},
        {ONE, "abc", 3, 0, -1},
        {NULL, "", 0, 0, -1},
    };
    src_t none[2] = {{NULL, "", 0, 0, -1}, {NULL, "", 0, 0, -1}};
    char out[128];

    (void)state;
    assert_int_equal(merge_all(s, 3, out, sizeof(out)), DD_KMERGE_OK);
    assert_string_equal(out, "a7 b7 c8");
    assert_int_equal(merge_all(none, 2, out, sizeof(out)), DD_KMERGE_OK);
    assert_string_equal(out, "");
}

static void test_dd_kmerge_refuses_a_source_going_backwards(void **state)
{
    static const int64_t GOOD[] = {1, 2, 3};
    static const int64_t BAD[] = {2, 1};
    src_t s[2] = {{GOOD, "abc", 3, 0, -1}, {BAD, "xy", 2, 0, -1}};
    char out[128];

    (void)state;
    assert_int_equal(merge_all(s, 2, out, sizeof(out)), DD_KMERGE_UNORDERED);
    assert_string_equal(out, "a1 b2 x2");
}

static void test_dd_kmerge_passes_a_failure_on(void **state)
{
    static const int64_t T[] = {1, 2, 3};
    src_t s[2] = {{T, "abc", 3, 0, 2}, {T, "xyz", 3, 0, -1}};
    char out[128];

    (void)state;
    assert_int_equal(merge_all(s, 2, out, sizeof(out)), DD_KMERGE_SOURCE_FAILED);
    assert_string_equal(out, "a1 x1 b2");
}

static void test_dd_kmerge_bad_parameters(void **state)
{
    dd_kmerge_source_t sources[DD_KMERGE_MAX_SOURCES + 1];
    dd_kmerge_t m;
    size_t which;
    bool has;

    (void)state;
    memset(sources, 0, sizeof(sources));
    assert_int_equal(dd_kmerge_init(&m, sources, 1), DD_KMERGE_BAD_PARAMETER); /* no advance */
    sources[0].advance = src_advance;
    assert_int_equal(dd_kmerge_init(NULL, sources, 1), DD_KMERGE_BAD_PARAMETER);
    assert_int_equal(dd_kmerge_init(&m, sources, 0), DD_KMERGE_BAD_PARAMETER);
    assert_int_equal(dd_kmerge_init(&m, sources, DD_KMERGE_MAX_SOURCES + 1),
                     DD_KMERGE_BAD_PARAMETER);
    assert_int_equal(dd_kmerge_next(NULL, &which, &has), DD_KMERGE_BAD_PARAMETER);
    assert_string_equal(dd_kmerge_strerror(DD_KMERGE_UNORDERED), "a source is not in time order");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_kmerge_orders_by_time_then_source),
        cmocka_unit_test(test_dd_kmerge_empty_and_single_sources),
        cmocka_unit_test(test_dd_kmerge_refuses_a_source_going_backwards),
        cmocka_unit_test(test_dd_kmerge_passes_a_failure_on),
        cmocka_unit_test(test_dd_kmerge_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
