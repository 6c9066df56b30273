#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_logopts.h"
#include "dd_registry.h"

#define ROLE "arn:aws:iam::123456789012:role/IoTLogging"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_INFO);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_logopts_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    if (dd_db_open(path, false, &f->db) != DD_DB_OK) {
        return -1;
    }
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    if (dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char path[128];

    dd_db_close(f->db);
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME "-wal", f->dir);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME "-shm", f->dir);
    (void)unlink(path);
    (void)rmdir(f->dir);
    free(f);
    dd_log_set_level(DD_LOG_LEVEL_INFO);
    return 0;
}

static dd_log_level_t effective(fixture_t *f, bool *from_options)
{
    dd_log_level_t level = DD_LOG_LEVEL_DEBUG;

    assert_int_equal(dd_logopts_effective_level(&f->reg, DD_LOG_LEVEL_WARN, &level, from_options),
                     DD_LOGOPTS_OK);
    return level;
}

static void test_dd_logopts_unset_keeps_the_start_level(void **state)
{
    fixture_t *f = *state;
    dd_logopts_v2_t v2;
    dd_logopts_v1_t v1;
    bool from = true;

    assert_int_equal(dd_logopts_get_v2(&f->reg, &v2), DD_LOGOPTS_NOT_CONFIGURED);
    assert_int_equal(dd_logopts_get_v1(&f->reg, &v1), DD_LOGOPTS_NOT_CONFIGURED);
    assert_int_equal(effective(f, &from), DD_LOG_LEVEL_WARN);
    assert_false(from);
    assert_int_equal(dd_logopts_apply(&f->reg), DD_LOGOPTS_OK);
    assert_int_equal(dd_log_get_level(), DD_LOG_LEVEL_INFO);
}

static void test_dd_logopts_v2_round_trip_and_level_mapping(void **state)
{
    static const struct {
        dd_logopts_level_t aws;
        bool disable_all;
        dd_log_level_t want;
    } CASES[] = {
        {DD_LOGOPTS_DEBUG, false, DD_LOG_LEVEL_DEBUG},
        {DD_LOGOPTS_INFO, false, DD_LOG_LEVEL_INFO},
        {DD_LOGOPTS_WARN, false, DD_LOG_LEVEL_WARN},
        {DD_LOGOPTS_ERROR, false, DD_LOG_LEVEL_ERROR},
        /* ddlocald keeps its errors even when "disabled". */
        {DD_LOGOPTS_DISABLED, false, DD_LOG_LEVEL_ERROR},
        {DD_LOGOPTS_DEBUG, true, DD_LOG_LEVEL_ERROR},
    };
    fixture_t *f = *state;
    dd_logopts_v2_t in;
    dd_logopts_v2_t out;
    bool from = false;
    size_t i;

    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        memset(&in, 0, sizeof(in));
        snprintf(in.role_arn, sizeof(in.role_arn), "%s", ROLE);
        in.has_level = true;
        in.default_level = CASES[i].aws;
        in.disable_all = CASES[i].disable_all;
        assert_int_equal(dd_logopts_set_v2(&f->reg, &in, NULL, 0), DD_LOGOPTS_OK);
        /* Applied by the setter itself. */
        assert_int_equal(dd_log_get_level(), CASES[i].want);
        assert_int_equal(effective(f, &from), CASES[i].want);
        assert_true(from);
        assert_int_equal(dd_logopts_get_v2(&f->reg, &out), DD_LOGOPTS_OK);
        assert_string_equal(out.role_arn, ROLE);
        assert_true(out.has_level);
        assert_int_equal(out.default_level, CASES[i].aws);
        assert_int_equal(out.disable_all, CASES[i].disable_all);
    }
    /* No roleArn, no level: stored as such. */
    memset(&in, 0, sizeof(in));
    assert_int_equal(dd_logopts_set_v2(&f->reg, &in, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(dd_logopts_get_v2(&f->reg, &out), DD_LOGOPTS_OK);
    assert_string_equal(out.role_arn, "");
    assert_false(out.has_level);
}

static void test_dd_logopts_v2_outranks_v1(void **state)
{
    fixture_t *f = *state;
    dd_logopts_v1_t v1;
    dd_logopts_v1_t got;
    dd_logopts_v2_t v2;

    memset(&v1, 0, sizeof(v1));
    snprintf(v1.role_arn, sizeof(v1.role_arn), "%s", ROLE);
    v1.has_level = true;
    v1.level = DD_LOGOPTS_DEBUG;
    assert_int_equal(dd_logopts_set_v1(&f->reg, &v1, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(effective(f, NULL), DD_LOG_LEVEL_DEBUG);
    assert_int_equal(dd_logopts_get_v1(&f->reg, &got), DD_LOGOPTS_OK);
    assert_string_equal(got.role_arn, ROLE);
    assert_int_equal(got.level, DD_LOGOPTS_DEBUG);

    memset(&v2, 0, sizeof(v2));
    v2.has_level = true;
    v2.default_level = DD_LOGOPTS_WARN;
    assert_int_equal(dd_logopts_set_v2(&f->reg, &v2, NULL, 0), DD_LOGOPTS_OK);
    assert_int_equal(effective(f, NULL), DD_LOG_LEVEL_WARN);
    assert_int_equal(dd_log_get_level(), DD_LOG_LEVEL_WARN);
}

static void test_dd_logopts_refusals(void **state)
{
    fixture_t *f = *state;
    dd_logopts_v1_t v1;
    dd_logopts_v2_t v2;
    char msg[256];

    memset(&v2, 0, sizeof(v2));
    snprintf(v2.role_arn, sizeof(v2.role_arn), "arn:aws:iot:us-east-1:123456789012:thing/T");
    assert_int_equal(dd_logopts_set_v2(&f->reg, &v2, msg, sizeof(msg)), DD_LOGOPTS_INVALID);
    assert_non_null(strstr(msg, "expected an IAM role ARN"));
    v2.role_arn[0] = '\0';
    v2.default_level = DD_LOGOPTS_LEVEL_COUNT;
    assert_int_equal(dd_logopts_set_v2(&f->reg, &v2, msg, sizeof(msg)), DD_LOGOPTS_INVALID);
    assert_int_equal(dd_logopts_get_v2(&f->reg, &v2), DD_LOGOPTS_NOT_CONFIGURED);

    memset(&v1, 0, sizeof(v1));
    assert_int_equal(dd_logopts_set_v1(&f->reg, &v1, msg, sizeof(msg)), DD_LOGOPTS_INVALID);
    assert_string_equal(msg, "roleArn is required");
    assert_int_equal(dd_logopts_get_v1(&f->reg, &v1), DD_LOGOPTS_NOT_CONFIGURED);
    assert_int_equal(dd_logopts_set_v2(NULL, &v2, NULL, 0), DD_LOGOPTS_BAD_PARAMETER);
    assert_int_equal(dd_logopts_get_v1(&f->reg, NULL), DD_LOGOPTS_BAD_PARAMETER);
}

static void test_dd_logopts_names(void **state)
{
    dd_logopts_level_t level;

    (void)state;
    assert_true(dd_logopts_level_parse("DISABLED", &level));
    assert_int_equal(level, DD_LOGOPTS_DISABLED);
    assert_false(dd_logopts_level_parse("debug", &level));
    assert_string_equal(dd_logopts_level_name(DD_LOGOPTS_WARN), "WARN");
    assert_string_equal(dd_logopts_level_name(DD_LOGOPTS_LEVEL_COUNT), "?");
    assert_string_equal(dd_logopts_strerror(DD_LOGOPTS_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_logopts_unset_keeps_the_start_level, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_logopts_v2_round_trip_and_level_mapping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_logopts_v2_outranks_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_logopts_refusals, setup, teardown),
        cmocka_unit_test(test_dd_logopts_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
