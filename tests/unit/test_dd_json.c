#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_json.h"

typedef struct json_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    dd_json_status_t want;
    const char *message; /* substring of err.message when refused */
} json_case_t;

static void run_cases(const json_case_t *cases, size_t n, unsigned flags)
{
    size_t i;

    for (i = 0; i < n; i++) {
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].text);
        dd_json_error_t err;
        cJSON *root = (cJSON *)&err; /* must be reset to NULL on failure */
        dd_json_status_t st = dd_json_parse(cases[i].text, len, flags, &root, &err);

        if (st != cases[i].want) {
            fail_msg("case %zu (%s): got %s, want %s (%s)", i, cases[i].text, dd_json_strerror(st),
                     dd_json_strerror(cases[i].want), err.message);
        }
        assert_int_equal(dd_json_check(cases[i].text, len, flags, NULL), cases[i].want);
        if (st == DD_JSON_OK) {
            assert_non_null(root);
            assert_string_equal(err.message, "");
            cJSON_Delete(root);
        } else {
            assert_null(root);
            if (strstr(err.message, cases[i].message) == NULL) {
                fail_msg("case %zu (%s): message '%s' lacks '%s'", i, cases[i].text, err.message,
                         cases[i].message);
            }
        }
    }
}

/* Every form issue 10 found accepted, and the neighbours RFC 8259 allows. */
static void test_dd_json_rfc8259_numbers(void **state)
{
    static const json_case_t cases[] = {
        /* yajl lexes 0 then sees 123 where ',' or '}' must come. */
        {"{\"a\":0123}", 0, DD_JSON_MALFORMED, "I expect ',' or '}' (at byte 6)"},
        {"{\"a\":01}", 0, DD_JSON_MALFORMED, "I expect ',' or '}'"},
        {"{\"a\":-01}", 0, DD_JSON_MALFORMED, "I expect ',' or '}'"},
        {"[01]", 0, DD_JSON_MALFORMED, "after array element, I expect ',' or ']'"},
        {"{\"a\":1.}", 0, DD_JSON_MALFORMED, "a digit is required after the decimal point"},
        {"{\"a\":1.e2}", 0, DD_JSON_MALFORMED, "a digit is required after the decimal point"},
        {"{\"a\":1e}", 0, DD_JSON_MALFORMED, "a digit is required after the exponent"},
        {"{\"a\":.5}", 0, DD_JSON_MALFORMED, "invalid char in json text"},
        {"{\"a\":+1}", 0, DD_JSON_MALFORMED, "invalid char in json text"},
        {"{\"a\":-}", 0, DD_JSON_MALFORMED, "malformed number"},
        {"{\"a\":0x10}", 0, DD_JSON_MALFORMED, ""},
        {"{\"a\":NaN}", 0, DD_JSON_MALFORMED, "invalid char in json text"},
        {"{\"a\":Infinity}", 0, DD_JSON_MALFORMED, "invalid char in json text"},
        {"{\"a\":0}", 0, DD_JSON_OK, NULL},
        {"{\"a\":-0}", 0, DD_JSON_OK, NULL},
        {"{\"a\":0.5}", 0, DD_JSON_OK, NULL},
        {"{\"a\":1e2}", 0, DD_JSON_OK, NULL},
        {"{\"a\":1.5E-2}", 0, DD_JSON_OK, NULL},
        {"{\"a\":1e-400}", 0, DD_JSON_OK, NULL},
        /* The grammar allows any size: beyond int64 and beyond a double are JSON (cJSON reads
         * the latter as infinity; the callers refuse non-finite numbers). */
        {"{\"a\":18446744073709551615}", 0, DD_JSON_OK, NULL},
        {"{\"a\":99999999999999999999999}", 0, DD_JSON_OK, NULL},
        {"{\"a\":1e400}", 0, DD_JSON_OK, NULL},
    };

    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_dd_json_trailing_and_nul(void **state)
{
    static const json_case_t cases[] = {
        {"{\"a\":1}x", 0, DD_JSON_MALFORMED, "unexpected text after the JSON value (at byte 8)"},
        {"{\"a\":1}{}", 0, DD_JSON_MALFORMED, "after the JSON value"},
        {"{\"a\":1}\0", 8, DD_JSON_MALFORMED, "after the JSON value"},
        {"{\"a\":1}\n\0", 9, DD_JSON_MALFORMED, "after the JSON value"},
        {"{\"a\":1} \r\n\t", 0, DD_JSON_OK, NULL},
        {"  {\"a\":1}", 0, DD_JSON_OK, NULL},
        {"{\"a\":\"x\\u0000y\"}", 0, DD_JSON_MALFORMED, "\\u0000 is not allowed in a string"},
        {"[\"\\u0000\"]", 0, DD_JSON_MALFORMED, "\\u0000 is not allowed in a string"},
        {"{\"k\\u0000\":1}", 0, DD_JSON_MALFORMED, "\\u0000 is not allowed in a string"},
        {"{\"a\":\"x\0y\"}", 11, DD_JSON_MALFORMED, "invalid character inside string"},
        {"{\"a\":\"x\ty\"}", 0, DD_JSON_MALFORMED, "invalid character inside string"},
        {"{\"a\":\"\xff\"}", 0, DD_JSON_MALFORMED, "invalid bytes in UTF8 string"},
        {"{\"a\":\"\xc3\"}", 0, DD_JSON_MALFORMED, "invalid bytes in UTF8 string"},
        {"{\"a\":\"\\x\"}", 0, DD_JSON_MALFORMED, "inside a string"},
        {"{\"a\":\"\xc3\xa9\\u00e9\"}", 0, DD_JSON_OK, NULL},
        /* RFC 8259 §8.2 leaves a lone surrogate escape to the implementation; cJSON cannot
         * decode one. A pair is fine. */
        {"{\"a\":\"\\ud800\"}", 0, DD_JSON_UNSUPPORTED, "lone surrogate"},
        {"{\"a\":\"\\udc00x\"}", 0, DD_JSON_UNSUPPORTED, "lone surrogate"},
        {"{\"a\":\"\\ud83d\\ude00\"}", 0, DD_JSON_OK, NULL},
        {"\xEF\xBB\xBF{\"a\":1}", 0, DD_JSON_OK, NULL},
        {"", 1, DD_JSON_MALFORMED, ""}, /* the lone NUL */
        {"[1,]", 0, DD_JSON_MALFORMED, ""},
        {"{\"a\":1,}", 0, DD_JSON_MALFORMED, ""},
        {"{'a':1}", 0, DD_JSON_MALFORMED, ""},
        {"{\"a\":1", 0, DD_JSON_MALFORMED, "premature EOF (at byte 6)"},
        {"/* c */ {}", 0, DD_JSON_MALFORMED, ""},
        /* Any type at the top: callers give their own "not an object" error. */
        {"3", 0, DD_JSON_OK, NULL},
        {"[]", 0, DD_JSON_OK, NULL},
        {"null", 0, DD_JSON_OK, NULL},
    };
    dd_json_error_t err;
    cJSON *root = NULL;

    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
    /* The offset points into the text given, BOM included. */
    assert_int_equal(dd_json_check("{\"a\":1.}", 8, 0, &err), DD_JSON_MALFORMED);
    assert_int_equal(err.offset, 7);
    assert_int_equal(dd_json_check("\xEF\xBB\xBF{\"a\":1.}", 11, 0, &err), DD_JSON_MALFORMED);
    assert_int_equal(err.offset, 10);
    assert_non_null(strstr(err.message, "(at byte 10)"));
    /* Nothing past len is read: a valid prefix of a longer buffer is one document. */
    assert_int_equal(dd_json_parse("{\"a\":1}garbage", 7, 0, &root, &err), DD_JSON_OK);
    assert_true(cJSON_GetObjectItemCaseSensitive(root, "a")->valuedouble == 1.0);
    cJSON_Delete(root);
    /* Empty input. */
    assert_int_equal(dd_json_check(NULL, 0, 0, &err), DD_JSON_MALFORMED);
    assert_int_equal(dd_json_check("", 0, 0, &err), DD_JSON_MALFORMED);
    assert_int_equal(dd_json_check(" \n", 2, 0, &err), DD_JSON_MALFORMED);
    /* The message shows no raw input byte that is not printable ASCII. */
    assert_int_equal(dd_json_check("{\"\x01\":1}", 7, 0, &err), DD_JSON_MALFORMED);
    assert_null(strchr(err.message, '\x01'));
}

static void test_dd_json_duplicate_keys(void **state)
{
    static const json_case_t strict[] = {
        {"{\"a\":1,\"a\":2}", 0, DD_JSON_DUPLICATE_KEY, "duplicate object key \"a\""},
        {"{\"x\":{\"b\":[1],\"b\":[1]}}", 0, DD_JSON_DUPLICATE_KEY, "duplicate object key \"b\""},
        {"[1,{\"y\":[{\"c\":1,\"d\":2,\"c\":3}]}]", 0, DD_JSON_DUPLICATE_KEY, "\"c\""},
        {"[{\"a\":1},{\"a\":2}]", 0, DD_JSON_OK, NULL},
        {"{\"a\":1,\"A\":2}", 0, DD_JSON_OK, NULL},
        {"{\"a\":{\"a\":{\"a\":1}}}", 0, DD_JSON_OK, NULL},
    };
    static const json_case_t allowed[] = {
        {"{\"a\":1,\"a\":2}", 0, DD_JSON_OK, NULL},
        {"{\"a\":01}", 0, DD_JSON_MALFORMED, "I expect"},
    };
    char *big = malloc(64 * 1024);
    size_t pos = 0;
    dd_json_error_t err;
    int i;

    (void)state;
    run_cases(strict, sizeof(strict) / sizeof(strict[0]), 0);
    run_cases(allowed, sizeof(allowed) / sizeof(allowed[0]), DD_JSON_ALLOW_DUPLICATES);
    /* A large object is sorted, not compared pair by pair: the duplicate is still found. */
    assert_non_null(big);
    big[pos++] = '{';
    for (i = 0; i < 2000; i++) {
        pos += (size_t)sprintf(big + pos, "%s\"k%d\":%d", i > 0 ? "," : "", i, i);
    }
    strcpy(big + pos, "}");
    assert_int_equal(dd_json_check(big, pos + 1, 0, &err), DD_JSON_OK);
    strcpy(big + pos, ",\"k1234\":0}");
    assert_int_equal(dd_json_check(big, strlen(big), 0, &err), DD_JSON_DUPLICATE_KEY);
    assert_string_equal(err.message, "duplicate object key \"k1234\"");
    assert_true(err.offset == DD_JSON_NO_OFFSET);
    free(big);
}

static void test_dd_json_nesting(void **state)
{
    size_t depth = 1500;
    char *text = malloc(2 * depth + 1);
    cJSON *root = NULL;
    dd_json_error_t err;

    (void)state;
    assert_non_null(text);
    /* Valid JSON (yajl has no depth limit of its own), but deeper than cJSON's 1000 levels. */
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    assert_int_equal(dd_json_parse(text, 2 * depth, 0, &root, &err), DD_JSON_UNSUPPORTED);
    assert_null(root);
    assert_int_equal(dd_json_check(text, 2 * depth, 0, &err), DD_JSON_UNSUPPORTED);
    /* 900 levels are fine, and the duplicate walk goes all the way down. */
    depth = 900;
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    assert_int_equal(dd_json_check(text, 2 * depth, 0, &err), DD_JSON_OK);
    free(text);
}

static void test_dd_json_bad_parameters(void **state)
{
    cJSON *root = NULL;

    (void)state;
    assert_int_equal(dd_json_check(NULL, 3, 0, NULL), DD_JSON_BAD_PARAMETER);
    assert_int_equal(dd_json_check("{}", 2, 0x80u, NULL), DD_JSON_BAD_PARAMETER);
    assert_int_equal(dd_json_parse("{}", 2, 0, NULL, NULL), DD_JSON_BAD_PARAMETER);
    assert_int_equal(dd_json_parse(NULL, 2, 0, &root, NULL), DD_JSON_BAD_PARAMETER);
    assert_string_equal(dd_json_strerror(DD_JSON_DUPLICATE_KEY), "duplicate object key");
    assert_string_equal(dd_json_strerror((dd_json_status_t)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_json_rfc8259_numbers),
        cmocka_unit_test(test_dd_json_trailing_and_nul),
        cmocka_unit_test(test_dd_json_duplicate_keys),
        cmocka_unit_test(test_dd_json_nesting),
        cmocka_unit_test(test_dd_json_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
