/*
 * dd_reset, the reset use case, over a pipeline opened as ddlocald opens it: the chosen kinds
 * go, the others stay, the registry's deletions are in the change log (for the shim), and a
 * refused request changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_detect.h"
#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_reset.h"

#define T0 1700000000000LL

static const char *PROFILE =
    "{\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
    "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
    "\"durationSeconds\":300}}]}";

typedef struct fixture {
    char dir[64];
    dd_pipeline_t p;
    dd_detect_t d;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipeline_config_t cfg;
    dd_registry_error_t err;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_reset_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:%lld", (long long)T0);
    if (dd_pipeline_open(&cfg, &f->p) != DD_PIPELINE_OK) {
        return -1;
    }
    dd_pipeline_detect(&f->p, &f->d);
    if (dd_registry_thing_create(&f->p.registry, "Thing01", NULL, NULL, NULL, 0, &err) !=
            DD_REGISTRY_OK ||
        dd_registry_group_create(&f->p.registry, "IsolatedDevices", NULL, NULL, NULL, NULL, 0,
                                 &err) != DD_REGISTRY_OK ||
        dd_registry_group_add_thing(&f->p.registry, "IsolatedDevices", "Thing01", &err) !=
            DD_REGISTRY_OK ||
        dd_registry_policy_create(&f->p.registry, "P",
                                  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                                  "\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}",
                                  &err) != DD_REGISTRY_OK ||
        dd_detect_profile_create(&f->d, "p1", PROFILE, strlen(PROFILE), NULL) != DD_DETECT_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_pipeline_close(&f->p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static bool profile_stored(fixture_t *f, const char *name)
{
    dd_profile_t profile;

    if (dd_detect_profile_get(&f->d, name, &profile, NULL) != DD_DETECT_OK) {
        return false;
    }
    dd_profile_free(&profile);
    return true;
}

static int count_change(void *ctx, const dd_registry_change_t *change)
{
    int *n = ctx;

    (void)change;
    (*n)++;
    return 0;
}

static void test_dd_reset_kinds(void **state)
{
    unsigned k = 0;

    (void)state;
    assert_int_equal(dd_reset_kind("registry", &k), DD_RESET_OK);
    assert_int_equal(k, DD_RESET_REGISTRY);
    assert_int_equal(dd_reset_kind("metrics", &k), DD_RESET_OK);
    assert_int_equal(k, DD_RESET_METRICS);
    assert_int_equal(dd_reset_kind("audit", &k), DD_RESET_OK);
    assert_int_equal(k, DD_RESET_AUDIT);
    assert_int_equal(dd_reset_kind("bogus", &k), DD_RESET_BAD_PARAMETER);
    assert_int_equal(dd_reset_kind(NULL, &k), DD_RESET_BAD_PARAMETER);
    assert_string_equal(dd_reset_strerror(DD_RESET_OK), "ok");
}

static void test_dd_reset_profiles_only(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, DD_RESET_PROFILES), DD_RESET_OK);
    assert_false(profile_stored(f, "p1"));
    assert_true(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    /* The engine follows once reloaded (the caller's step). */
    assert_non_null(dd_engine_get_profile(f->p.engine, "p1"));
    assert_int_equal(dd_pipeline_reload_engine(&f->p), DD_PIPELINE_OK);
    assert_null(dd_engine_get_profile(f->p.engine, "p1"));
}

static void test_dd_reset_registry_logs_changes(void **state)
{
    fixture_t *f = *state;
    int64_t head = 0;
    int changes = 0;

    assert_int_equal(dd_registry_change_head(&f->p.registry, &head), DD_REGISTRY_OK);
    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, DD_RESET_REGISTRY), DD_RESET_OK);
    assert_false(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    assert_true(profile_stored(f, "p1"));
    /* The thing, the group and the policy: the shim learns each one's deletion. */
    assert_int_equal(dd_registry_changes_since(&f->p.registry, head, 0, count_change, &changes),
                     DD_REGISTRY_OK);
    assert_int_equal(changes, 3);
    /* Made again under the same names. */
    assert_int_equal(dd_registry_thing_create(&f->p.registry, "Thing01", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
}

static void test_dd_reset_refusals(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_reset_run(NULL, f->p.store, DD_RESET_ALL), DD_RESET_BAD_PARAMETER);
    assert_int_equal(dd_reset_run(&f->p.registry, NULL, DD_RESET_ALL), DD_RESET_BAD_PARAMETER);
    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, 0), DD_RESET_BAD_PARAMETER);
    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, 0x8000u), DD_RESET_BAD_PARAMETER);
    assert_true(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    assert_true(profile_stored(f, "p1"));
    assert_int_equal(dd_store_reset(NULL, DD_STORE_RESET_ALL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_registry_reset(NULL, NULL), DD_REGISTRY_BAD_PARAMETER);
}

static void test_dd_reset_all(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, DD_RESET_ALL), DD_RESET_OK);
    assert_false(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    assert_false(profile_stored(f, "p1"));
}

/* dd_store_backup_save/_load (the snapshot endpoints) undo a reset of everything. */
static void test_dd_reset_undone_by_a_snapshot(void **state)
{
    fixture_t *f = *state;
    char path[128];

    (void)snprintf(path, sizeof(path), "%s/snap.db", f->dir);
    assert_int_equal(dd_store_backup_save(f->p.store, path), DD_STORE_OK);
    assert_int_equal(dd_reset_run(&f->p.registry, f->p.store, DD_RESET_ALL), DD_RESET_OK);
    assert_false(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    assert_int_equal(dd_store_backup_load(f->p.store, path), DD_STORE_OK);
    assert_true(dd_registry_thing_exists(&f->p.registry, "Thing01"));
    assert_true(profile_stored(f, "p1"));
    assert_int_equal(dd_pipeline_reload_engine(&f->p), DD_PIPELINE_OK);
    assert_non_null(dd_engine_get_profile(f->p.engine, "p1"));
    (void)snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    assert_int_equal(dd_store_backup_load(f->p.store, path), DD_STORE_NOT_FOUND);
    assert_int_equal(dd_store_backup_save(NULL, path), DD_STORE_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_reset_kinds),
        cmocka_unit_test_setup_teardown(test_dd_reset_profiles_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_reset_registry_logs_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_reset_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_reset_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_reset_undone_by_a_snapshot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
