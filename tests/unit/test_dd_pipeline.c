/*
 * dd_pipeline: the one wiring of database, registry, store, engine and clock
 * that ddlocald, the tests and the benches share. On a temp data dir: what
 * open fills in, refusals, the manual clock resuming from the stored
 * pipeline time, region/account from the data dir's settings, engine
 * reload, and close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_store.h"

#define T0 1700000000000LL

typedef struct fixture {
    char dir[64];
    dd_pipeline_config_t cfg;
    dd_pipeline_t p;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_pipeline_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    dd_pipeline_config_default(&f->cfg);
    (void)snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    (void)snprintf(f->cfg.clock_spec, sizeof(f->cfg.clock_spec), "manual:%lld", (long long)T0);
    (void)snprintf(f->cfg.mqtt_endpoint, sizeof(f->cfg.mqtt_endpoint), "127.0.0.1:18883");
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

static void test_dd_pipeline_open_wires_every_part(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_non_null(f->p.db);
    assert_non_null(f->p.store);
    assert_non_null(f->p.engine);
    assert_int_equal(f->p.clock.mode, DD_CLOCK_MANUAL);
    assert_int_equal(dd_clock_now_ms(&f->p.clock), T0);
    assert_string_equal(f->p.data_dir, f->dir);
    assert_string_equal(f->p.mqtt_endpoint, "127.0.0.1:18883");
    assert_string_equal(f->p.arn.region, f->cfg.arn.region);
    /* The lock is usable, the hooks are the owner's to set. */
    assert_int_equal(pthread_mutex_lock(&f->p.lock), 0);
    assert_int_equal(pthread_mutex_unlock(&f->p.lock), 0);
    assert_null(f->p.registry_changed);
    assert_null(f->p.extension);
    /* The registry and the store share the one database. */
    assert_int_equal(dd_registry_setting_set(&f->p.registry, "k", "v"), DD_REGISTRY_OK);
    assert_int_equal(dd_store_begin(f->p.store), DD_STORE_OK);
    assert_int_equal(dd_store_commit(f->p.store), DD_STORE_OK);
    dd_pipeline_close(&f->p);
    assert_null(f->p.db);
    assert_null(f->p.engine);
    dd_pipeline_close(&f->p); /* twice is harmless */
}

static void test_dd_pipeline_open_refuses_bad_input(void **state)
{
    fixture_t *f = *state;
    dd_pipeline_config_t cfg = f->cfg;

    assert_int_equal(dd_pipeline_open(NULL, &f->p), DD_PIPELINE_BAD_PARAMETER);
    assert_int_equal(dd_pipeline_open(&cfg, NULL), DD_PIPELINE_BAD_PARAMETER);
    cfg.data_dir[0] = '\0';
    assert_int_equal(dd_pipeline_open(&cfg, &f->p), DD_PIPELINE_BAD_PARAMETER);
    cfg = f->cfg;
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "sometimes");
    assert_int_equal(dd_pipeline_open(&cfg, &f->p), DD_PIPELINE_BAD_CLOCK);
    assert_null(f->p.db); /* nothing is left open */
    cfg = f->cfg;
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/missing/dir", f->dir);
    assert_int_equal(dd_pipeline_open(&cfg, &f->p), DD_PIPELINE_DB_ERROR);
    assert_null(f->p.db);
    assert_int_equal(dd_pipeline_reload_engine(NULL), DD_PIPELINE_BAD_PARAMETER);
    assert_string_equal(dd_pipeline_strerror(DD_PIPELINE_BAD_CLOCK), "clock spec not understood");
}

static void test_dd_pipeline_manual_clock_resumes_from_stored_time(void **state)
{
    fixture_t *f = *state;
    char text[32];

    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    (void)snprintf(text, sizeof(text), "%lld", (long long)(T0 + 90000));
    assert_int_equal(dd_registry_setting_set(&f->p.registry, DD_PIPELINE_SETTING_CLOCK_LAST, text),
                     DD_REGISTRY_OK);
    dd_pipeline_close(&f->p);
    /* A restart never goes back... */
    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_int_equal(dd_clock_now_ms(&f->p.clock), T0 + 90000);
    dd_pipeline_close(&f->p);
    /* ...but a later start time wins. */
    (void)snprintf(f->cfg.clock_spec, sizeof(f->cfg.clock_spec), "manual:%lld",
                   (long long)(T0 + 200000));
    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_int_equal(dd_clock_now_ms(&f->p.clock), T0 + 200000);
}

static void test_dd_pipeline_region_and_account_from_settings(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_int_equal(dd_registry_setting_set(&f->p.registry, "region", "eu-west-1"),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_setting_set(&f->p.registry, "account", "210987654321"),
                     DD_REGISTRY_OK);
    dd_pipeline_close(&f->p);
    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_string_equal(f->p.arn.region, "eu-west-1");
    assert_string_equal(f->p.arn.account, "210987654321");
    assert_string_equal(f->p.registry.arn.region, "eu-west-1");
    dd_pipeline_close(&f->p);
    /* Given explicitly (ddlocald --region/--account), the config wins. */
    f->cfg.arn_explicit = true;
    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    assert_string_equal(f->p.arn.region, f->cfg.arn.region);
    assert_string_equal(f->p.arn.account, f->cfg.arn.account);
}

static void test_dd_pipeline_reload_engine_replaces_it(void **state)
{
    fixture_t *f = *state;
    dd_engine_t *old;

    assert_int_equal(dd_pipeline_open(&f->cfg, &f->p), DD_PIPELINE_OK);
    old = f->p.engine;
    assert_int_equal(dd_pipeline_reload_engine(&f->p), DD_PIPELINE_OK);
    assert_non_null(f->p.engine);
    /* The old engine was freed (ASan would see a leak otherwise); the new one works. */
    (void)old;
    assert_int_equal(dd_store_begin(f->p.store), DD_STORE_OK);
    assert_int_equal(dd_engine_tick(f->p.engine, T0 + 1000), DD_ENGINE_OK);
    assert_int_equal(dd_store_commit(f->p.store), DD_STORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_pipeline_open_wires_every_part, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_pipeline_open_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_pipeline_manual_clock_resumes_from_stored_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_pipeline_region_and_account_from_settings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_pipeline_reload_engine_replaces_it, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
