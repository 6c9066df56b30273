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
#include "dd_lambda.h"
#include "dd_log.h"
#include "dd_registry.h"

typedef struct fixture {
    char path[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    int fd;

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->path, sizeof(f->path), "/tmp/dd_lambda_test_XXXXXX");
    fd = mkstemp(f->path);
    if (fd < 0) {
        free(f);
        return -1;
    }
    (void)close(fd);
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    if (dd_db_open(f->path, false, &f->db) != DD_DB_OK ||
        dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK ||
        dd_lambda_open(f->db) != DD_LAMBDA_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char extra[80];

    dd_db_close(f->db);
    (void)unlink(f->path);
    (void)snprintf(extra, sizeof(extra), "%s-wal", f->path);
    (void)unlink(extra);
    (void)snprintf(extra, sizeof(extra), "%s-shm", f->path);
    (void)unlink(extra);
    free(f);
    return 0;
}

static dd_lambda_function_t sample(const char *name)
{
    dd_lambda_function_t fn;

    memset(&fn, 0, sizeof(fn));
    fn.name = name;
    fn.topic = "BadIoTDevices";
    fn.handler_file = "/opt/handlers/isolate_device.py";
    fn.handler_function = "lambda_handler";
    fn.env_json = "{\"ThingGroupName\":\"IsolatedDevices\"}";
    fn.timeout_s = 3;
    return fn;
}

typedef struct subs {
    int count;
    char protocol[16];
    char endpoint[DD_ARN_MAX];
    char topic[64];
} subs_t;

static int count_sub(void *ctx, const dd_registry_subscription_t *s)
{
    subs_t *c = ctx;

    c->count++;
    (void)snprintf(c->protocol, sizeof(c->protocol), "%s", s->protocol);
    (void)snprintf(c->endpoint, sizeof(c->endpoint), "%s", s->endpoint);
    (void)snprintf(c->topic, sizeof(c->topic), "%s", s->topic);
    return 0;
}

typedef struct seen {
    int count;
    char names[4][DD_LAMBDA_NAME_MAX + 1];
    char env[256];
    char handler[256];
    int timeout_s;
    int64_t created_ms;
} seen_t;

static int collect(void *ctx, const dd_lambda_function_t *fn)
{
    seen_t *s = ctx;

    if (s->count < 4) {
        (void)snprintf(s->names[s->count], sizeof(s->names[0]), "%s", fn->name);
    }
    s->count++;
    (void)snprintf(s->env, sizeof(s->env), "%s", fn->env_json);
    (void)snprintf(s->handler, sizeof(s->handler), "%s:%s", fn->handler_file, fn->handler_function);
    s->timeout_s = fn->timeout_s;
    s->created_ms = fn->created_ms;
    return 0;
}

static void test_dd_lambda_add_subscribes_the_function_arn(void **state)
{
    fixture_t *f = *state;
    dd_lambda_function_t fn = sample("IsolateDevice");
    subs_t subs = {0};
    seen_t seen;
    char error[256];

    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_OK);
    /* As in AWS: protocol lambda, endpoint = the function's ARN. */
    assert_int_equal(dd_registry_subscription_list(&f->reg, "BadIoTDevices", count_sub, &subs),
                     DD_REGISTRY_OK);
    assert_int_equal(subs.count, 1);
    assert_string_equal(subs.protocol, "lambda");
    assert_string_equal(subs.endpoint,
                        "arn:aws:lambda:us-east-1:123456789012:function:IsolateDevice");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(dd_lambda_list(f->db, "IsolateDevice", collect, &seen), DD_LAMBDA_OK);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.env, "{\"ThingGroupName\":\"IsolatedDevices\"}");
    assert_string_equal(seen.handler, "/opt/handlers/isolate_device.py:lambda_handler");
    assert_int_equal(seen.timeout_s, 3);
    assert_int_equal(seen.created_ms, 1700000000000LL);
}

static void test_dd_lambda_add_refuses_a_second_of_the_same_name(void **state)
{
    fixture_t *f = *state;
    dd_lambda_function_t fn = sample("IsolateDevice");
    subs_t subs = {0};
    char error[256];

    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_OK);
    fn.topic = "OtherTopic";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_EXISTS);
    assert_non_null(strstr(error, "already exists"));
    /* Rolled back: no subscription to the other topic. */
    assert_int_equal(dd_registry_subscription_list(&f->reg, "OtherTopic", count_sub, &subs),
                     DD_REGISTRY_OK);
    assert_int_equal(subs.count, 0);
}

static void test_dd_lambda_add_validates_every_field(void **state)
{
    fixture_t *f = *state;
    dd_lambda_function_t fn;
    seen_t seen;
    char error[256];

    fn = sample("bad name");
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    assert_non_null(strstr(error, "function name"));
    fn = sample("F");
    fn.topic = "bad topic";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn = sample("F");
    fn.handler_file = "relative/handler.py";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn.handler_file = "/abs/handler.txt";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn = sample("F");
    fn.handler_function = "1handler";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn = sample("F");
    fn.timeout_s = 0;
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn.timeout_s = DD_LAMBDA_TIMEOUT_MAX + 1;
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn = sample("F");
    fn.env_json = "[1]";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn.env_json = "{\"A\":1}";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    fn.env_json = "{\"AWS_REGION\":\"eu-west-1\"}";
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_INVALID);
    assert_non_null(strstr(error, "reserved"));
    fn = sample(NULL);
    assert_int_equal(dd_lambda_add(&f->reg, &fn, error, sizeof(error)), DD_LAMBDA_BAD_PARAMETER);
    assert_int_equal(dd_lambda_add(NULL, &fn, error, sizeof(error)), DD_LAMBDA_BAD_PARAMETER);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(dd_lambda_list(f->db, NULL, collect, &seen), DD_LAMBDA_OK);
    assert_int_equal(seen.count, 0);
}

static void test_dd_lambda_remove_takes_its_subscription_only(void **state)
{
    fixture_t *f = *state;
    dd_lambda_function_t a = sample("Fn_1");
    dd_lambda_function_t b = sample("FnX1");
    subs_t subs = {0};
    seen_t seen;
    char error[256];

    /* '_' is a LIKE wildcard: removing Fn_1 must not take FnX1's subscription. */
    assert_int_equal(dd_lambda_add(&f->reg, &a, error, sizeof(error)), DD_LAMBDA_OK);
    assert_int_equal(dd_lambda_add(&f->reg, &b, error, sizeof(error)), DD_LAMBDA_OK);
    assert_int_equal(dd_lambda_remove(&f->reg, "Fn_1"), DD_LAMBDA_OK);
    assert_int_equal(dd_registry_subscription_list(&f->reg, NULL, count_sub, &subs),
                     DD_REGISTRY_OK);
    assert_int_equal(subs.count, 1);
    assert_string_equal(subs.endpoint, "arn:aws:lambda:us-east-1:123456789012:function:FnX1");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(dd_lambda_list(f->db, NULL, collect, &seen), DD_LAMBDA_OK);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.names[0], "FnX1");
    assert_int_equal(dd_lambda_remove(&f->reg, "Fn_1"), DD_LAMBDA_NOT_FOUND);
    assert_int_equal(dd_lambda_remove(&f->reg, "not valid!"), DD_LAMBDA_NOT_FOUND);
    assert_int_equal(dd_lambda_list(f->db, "Fn_1", collect, &seen), DD_LAMBDA_NOT_FOUND);
    assert_int_equal(dd_lambda_remove(NULL, "x"), DD_LAMBDA_BAD_PARAMETER);
}

static void test_dd_lambda_arn_round_trip(void **state)
{
    dd_arn_ctx_t ctx;
    char arn[DD_ARN_MAX];
    char name[DD_LAMBDA_NAME_MAX + 1];
    char tiny[4];

    (void)state;
    dd_arn_ctx_default(&ctx);
    assert_int_equal(dd_lambda_arn(&ctx, "IsolateDevice", arn, sizeof(arn)), DD_LAMBDA_OK);
    assert_string_equal(arn, "arn:aws:lambda:us-east-1:123456789012:function:IsolateDevice");
    assert_int_equal(dd_lambda_name_from_arn(arn, name, sizeof(name)), DD_LAMBDA_OK);
    assert_string_equal(name, "IsolateDevice");
    assert_int_equal(dd_lambda_name_from_arn("arn:aws:lambda:eu-west-1:111122223333:function:F-2",
                                             name, sizeof(name)),
                     DD_LAMBDA_OK);
    assert_string_equal(name, "F-2");
    assert_int_equal(dd_lambda_name_from_arn(arn, tiny, sizeof(tiny)), DD_LAMBDA_BUFFER_TOO_SMALL);
    assert_int_equal(dd_lambda_name_from_arn("http://x", name, sizeof(name)), DD_LAMBDA_INVALID);
    assert_int_equal(dd_lambda_name_from_arn("arn:aws:lambda:r:a:layer:F", name, sizeof(name)),
                     DD_LAMBDA_INVALID);
    assert_int_equal(dd_lambda_name_from_arn("arn:aws:lambda:r:a:function:", name, sizeof(name)),
                     DD_LAMBDA_INVALID);
    assert_int_equal(dd_lambda_arn(&ctx, "F", tiny, sizeof(tiny)), DD_LAMBDA_BUFFER_TOO_SMALL);
    assert_int_equal(dd_lambda_arn(NULL, "F", arn, sizeof(arn)), DD_LAMBDA_BAD_PARAMETER);
}

static void test_dd_lambda_env_keys(void **state)
{
    char why[200];

    (void)state;
    assert_true(dd_lambda_env_key_valid("slackHookURL", why, sizeof(why)));
    assert_true(dd_lambda_env_key_valid("CHIME_WEBHOOK", why, sizeof(why)));
    assert_false(dd_lambda_env_key_valid("1ABC", why, sizeof(why)));
    assert_false(dd_lambda_env_key_valid("A-B", why, sizeof(why)));
    assert_false(dd_lambda_env_key_valid("", why, sizeof(why)));
    assert_false(dd_lambda_env_key_valid("AWS_LAMBDA_FUNCTION_NAME", why, sizeof(why)));
    assert_non_null(strstr(why, "reserved"));
    assert_false(dd_lambda_env_key_valid("AWS_SECRET_ACCESS_KEY", NULL, 0));
    assert_true(dd_lambda_name_valid("a_b-C9"));
    assert_false(dd_lambda_name_valid("a.b"));
    assert_false(dd_lambda_name_valid(NULL));
    assert_string_equal(dd_lambda_strerror(DD_LAMBDA_OK), "ok");
    assert_string_equal(dd_lambda_strerror((dd_lambda_status_t)99), "unknown lambda status");
}

static void test_dd_lambda_registry_accepts_lambda_protocol_only_with_an_arn(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;

    assert_int_equal(dd_registry_subscription_add(&f->reg, "T", "lambda", "http://127.0.0.1/x",
                                                  NULL, &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_subscription_add(
                         &f->reg, "T", "lambda", "arn:aws:lambda:us-east-1:123456789012:function:F",
                         NULL, &err),
                     DD_REGISTRY_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_lambda_add_subscribes_the_function_arn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambda_add_refuses_a_second_of_the_same_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambda_add_validates_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambda_remove_takes_its_subscription_only, setup,
                                        teardown),
        cmocka_unit_test(test_dd_lambda_arn_round_trip),
        cmocka_unit_test(test_dd_lambda_env_keys),
        cmocka_unit_test_setup_teardown(
            test_dd_lambda_registry_accepts_lambda_protocol_only_with_an_arn, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
