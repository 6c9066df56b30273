/*
 * dd_ctlapi: ddlocald's /ddlocal/v1/ operations without HTTP or a service:
 * the clock's JSON, advancing a manual clock (and only a manual one, with a
 * strict body), the status panel's counters and feed, unknown operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_ctlapi.h"
#include "dd_faults.h"

#define T0 1700000000000LL

typedef struct fixture {
    pthread_mutex_t lock;
    dd_clock_t clock;
    dd_ctlapi_t c;
    int advanced;
    int woken;
    int64_t clock_at_advance;
    bool held_during_advance;
    int rescaled;
    double old_scale;
    int64_t rescaled_at;
    bool held_during_rescale;
} fixture_t;

static int64_t fake_wall_ms;

static int64_t fake_source(void *ctx)
{
    (void)ctx;
    return fake_wall_ms;
}

static void on_rescaled(void *ctx, double old_scale, int64_t at_ms)
{
    fixture_t *f = ctx;

    f->rescaled++;
    f->old_scale = old_scale;
    f->rescaled_at = at_ms;
    f->held_during_rescale = pthread_mutex_trylock(&f->lock) != 0;
}

static void on_advanced(void *ctx)
{
    fixture_t *f = ctx;

    f->advanced++;
    f->clock_at_advance = dd_clock_now_ms(&f->clock);
    /* The lock is held: trylock fails. */
    f->held_during_advance = pthread_mutex_trylock(&f->lock) != 0;
}

static void on_wake(void *ctx)
{
    fixture_t *f = ctx;

    f->woken++;
}

static void counters(void *ctx, dd_ctlapi_counters_t *out)
{
    (void)ctx;
    out->broker_connected = true;
    out->reports_accepted = 12;
    out->active_violations = 2;
    out->alerts_published = 3;
    out->store_writable = false;
    out->messages_held = 5;
    out->store_error = "database or disk is full";
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    (void)pthread_mutex_init(&f->lock, NULL);
    (void)dd_clock_init_manual(&f->clock, T0);
    f->c.lock = &f->lock;
    f->c.clock = &f->clock;
    f->c.ctx = f;
    f->c.advanced = on_advanced;
    f->c.rescaled = on_rescaled;
    f->c.counters = counters;
    f->c.wake = on_wake;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    (void)pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* Handles a request; returns the parsed answer (caller deletes). */
static cJSON *handle(fixture_t *f, const char *method, const char *path, const char *body,
                     int expected_status)
{
    char *text = NULL;
    int status = 0;
    cJSON *json;

    assert_int_equal(dd_ctlapi_handle(&f->c, method, path, body, body != NULL ? strlen(body) : 0,
                                      &status, &text),
                     DD_CTLAPI_OK);
    assert_int_equal(status, expected_status);
    assert_non_null(text);
    json = cJSON_Parse(text);
    free(text);
    assert_non_null(json);
    return json;
}

static const char *str(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static double num(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_true(cJSON_IsNumber(item));
    return item->valuedouble;
}

static void test_dd_ctlapi_get_clock(void **state)
{
    fixture_t *f = *state;
    cJSON *j = handle(f, "GET", "/ddlocal/v1/clock", NULL, 200);

    assert_string_equal(str(j, "mode"), "manual");
    assert_true(num(j, "pipelineTimeMs") == (double)T0);
    assert_string_equal(str(j, "pipelineTime"), "2023-11-14T22:13:20Z");
    assert_string_equal(str(j, "spec"), "manual:1700000000000");
    cJSON_Delete(j);
    assert_int_equal(f->advanced, 0);
}

static void test_dd_ctlapi_advance_manual_clock(void **state)
{
    fixture_t *f = *state;
    cJSON *j = handle(f, "POST", "/ddlocal/v1/clock", "{\"advanceSeconds\":90.5}", 200);

    /* Evaluated under the lock at the new time, then woken without it. */
    assert_int_equal(f->advanced, 1);
    assert_true(f->held_during_advance);
    assert_int_equal(f->clock_at_advance, T0 + 90500);
    assert_int_equal(f->woken, 1);
    assert_true(num(j, "pipelineTimeMs") == (double)(T0 + 90500));
    cJSON_Delete(j);
    assert_int_equal(pthread_mutex_trylock(&f->lock), 0); /* released */
    (void)pthread_mutex_unlock(&f->lock);
}

static void test_dd_ctlapi_advance_refusals(void **state)
{
    fixture_t *f = *state;
    static const char *const BAD[] = {NULL,
                                      "",
                                      "{}",
                                      "{\"advanceSeconds\":-1}",
                                      "{\"advanceSeconds\":1e10}",
                                      "{\"advanceSeconds\":\"5\"}",
                                      "{\"advanceSeconds\":01}",
                                      "{\"advanceSeconds\":1,\"advanceSeconds\":2}"};
    size_t i;
    cJSON *j;

    for (i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        j = handle(f, "POST", "/ddlocal/v1/clock", BAD[i], 400);
        assert_non_null(strstr(str(j, "message"), "advanceSeconds"));
        cJSON_Delete(j);
    }
    assert_int_equal(dd_clock_now_ms(&f->clock), T0);
    /* Only a manual clock moves. */
    assert_int_equal(dd_clock_parse(&f->clock, "real"), DD_CLOCK_OK);
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"advanceSeconds\":5}", 400);
    assert_non_null(strstr(str(j, "message"), "not manual"));
    cJSON_Delete(j);
    assert_int_equal(f->advanced, 0);
    assert_int_equal(f->woken, 0);
}

static void test_dd_ctlapi_scale_changes_a_scaled_clock(void **state)
{
    fixture_t *f = *state;
    cJSON *j;

    fake_wall_ms = T0;
    assert_int_equal(dd_clock_init_scaled(&f->clock, 60.0, T0), DD_CLOCK_OK);
    dd_clock_set_source(&f->clock, fake_source, NULL);
    j = handle(f, "GET", "/ddlocal/v1/clock", NULL, 200);
    assert_true(num(j, "scale") == 60.0);
    cJSON_Delete(j);
    fake_wall_ms = T0 + 1000;
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"scale\":600}", 200);
    assert_string_equal(str(j, "mode"), "scaled");
    assert_true(num(j, "scale") == 600.0);
    assert_true(num(j, "pipelineTimeMs") == (double)(T0 + 60000)); /* no jump */
    assert_string_equal(str(j, "spec"), "scaled:600:1700000001000:1700000060000");
    cJSON_Delete(j);
    /* Under the lock, told the old rate and the time of the change; woken after. */
    assert_int_equal(f->rescaled, 1);
    assert_true(f->held_during_rescale);
    assert_true(f->old_scale == 60.0);
    assert_int_equal(f->rescaled_at, T0 + 60000);
    assert_int_equal(f->woken, 1);
    fake_wall_ms = T0 + 2000;
    assert_int_equal(dd_clock_now_ms(&f->clock), T0 + 60000 + 600000);

    /* A real clock becomes scaled from now on. */
    assert_int_equal(dd_clock_init_real(&f->clock), DD_CLOCK_OK);
    dd_clock_set_source(&f->clock, fake_source, NULL);
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"scale\":0.5}", 200);
    assert_string_equal(str(j, "mode"), "scaled");
    assert_true(num(j, "pipelineTimeMs") == (double)fake_wall_ms);
    cJSON_Delete(j);
    assert_int_equal(f->rescaled, 2);
    assert_true(f->old_scale == 1.0);
}

static void test_dd_ctlapi_scale_refusals(void **state)
{
    fixture_t *f = *state;
    static const char *const BAD[] = {"{\"scale\":0}",    "{\"scale\":-3}",
                                      "{\"scale\":1e7}",  "{\"scale\":\"fast\"}",
                                      "{\"scale\":null}", "{\"scale\":[60]}"};
    size_t i;
    cJSON *j;

    /* A manual clock has no rate. */
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"scale\":60}", 400);
    assert_non_null(strstr(str(j, "message"), "manual"));
    cJSON_Delete(j);
    assert_int_equal(dd_clock_now_ms(&f->clock), T0);

    fake_wall_ms = T0;
    assert_int_equal(dd_clock_init_scaled(&f->clock, 60.0, T0), DD_CLOCK_OK);
    dd_clock_set_source(&f->clock, fake_source, NULL);
    for (i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        j = handle(f, "POST", "/ddlocal/v1/clock", BAD[i], 400);
        assert_non_null(strstr(str(j, "message"), "0 < X <= 1000000"));
        cJSON_Delete(j);
    }
    /* One of the two, never both. */
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"scale\":2,\"advanceSeconds\":1}", 400);
    assert_non_null(strstr(str(j, "message"), "scale"));
    cJSON_Delete(j);
    assert_int_equal(f->rescaled, 0);
    assert_int_equal(f->woken, 0);
    assert_true(dd_clock_scale(&f->clock) == 60.0);
}

static void test_dd_ctlapi_status_counters_and_feed(void **state)
{
    fixture_t *f = *state;
    const cJSON *events;
    char text[64];
    cJSON *j;
    int i;

    for (i = 1; i <= DD_CTLAPI_FEED_SIZE + 3; i++) {
        (void)snprintf(text, sizeof(text), "event %d", i);
        assert_int_equal(dd_ctlapi_feed(&f->c, text), DD_CTLAPI_OK);
    }
    j = handle(f, "GET", "/ddlocal/v1/status", NULL, 200);
    assert_string_equal(str(j, "mode"), "manual");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "brokerConnected")));
    assert_true(num(j, "reportsAccepted") == 12);
    assert_true(num(j, "activeViolations") == 2);
    assert_true(num(j, "alertsPublished") == 3);
    assert_true(num(j, "messagesHeld") == 5);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "storeWritable")));
    assert_string_equal(str(j, "storeError"), "database or disk is full");
    /* The last DD_CTLAPI_FEED_SIZE events, oldest first. */
    events = cJSON_GetObjectItemCaseSensitive(j, "latestEvents");
    assert_int_equal(cJSON_GetArraySize(events), DD_CTLAPI_FEED_SIZE);
    assert_string_equal(str(cJSON_GetArrayItem(events, 0), "text"), "event 4");
    assert_true(num(cJSON_GetArrayItem(events, 0), "seq") == 4);
    assert_string_equal(str(cJSON_GetArrayItem(events, DD_CTLAPI_FEED_SIZE - 1), "text"),
                        "event 35");
    cJSON_Delete(j);
}

/* A barrier that says no: the clock stays, nothing is evaluated. */
static int failing_barrier(void *ctx, char *why, size_t why_len)
{
    fixture_t *f = ctx;

    /* Called without the lock: the worker needs it to count messages. */
    f->held_during_advance = pthread_mutex_trylock(&f->lock) != 0;
    if (!f->held_during_advance) {
        (void)pthread_mutex_unlock(&f->lock);
    }
    (void)snprintf(why, why_len, "the broker did not answer");
    return -1;
}

static void test_dd_ctlapi_advance_waits_for_the_barrier(void **state)
{
    fixture_t *f = *state;
    cJSON *j;

    f->c.barrier = failing_barrier;
    f->held_during_advance = true;
    j = handle(f, "POST", "/ddlocal/v1/clock", "{\"advanceSeconds\":5}", 503);
    assert_non_null(strstr(str(j, "message"), "the broker did not answer"));
    cJSON_Delete(j);
    assert_false(f->held_during_advance);
    assert_int_equal(dd_clock_now_ms(&f->clock), T0);
    assert_int_equal(f->advanced, 0);
    assert_int_equal(f->woken, 0);
}

static void healthy_counters(void *ctx, dd_ctlapi_counters_t *out)
{
    (void)ctx;
    out->broker_connected = true;
    out->store_writable = true;
}

static void test_dd_ctlapi_health(void **state)
{
    fixture_t *f = *state;
    const cJSON *problems;
    cJSON *j;

    /* The fixture's counters: the store does not write -> 503 with the reason. */
    j = handle(f, "GET", "/ddlocal/v1/health", NULL, 503);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "healthy")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "brokerConnected")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "storeWritable")));
    problems = cJSON_GetObjectItemCaseSensitive(j, "problems");
    assert_int_equal(cJSON_GetArraySize(problems), 1);
    assert_string_equal(cJSON_GetArrayItem(problems, 0)->valuestring,
                        "the store cannot write: database or disk is full");
    cJSON_Delete(j);
    f->c.counters = healthy_counters;
    j = handle(f, "GET", "/ddlocal/v1/health", NULL, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "healthy")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "problems")), 0);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(j, "clock"), "mode"), "manual");
    cJSON_Delete(j);
    j = handle(f, "POST", "/ddlocal/v1/health", NULL, 404);
    cJSON_Delete(j);
}

/* The open connections: what the callback adds, under the lock; 500 when it fails. */
static int one_connection(void *ctx, cJSON *out)
{
    fixture_t *f = ctx;
    cJSON *o = cJSON_CreateObject();

    f->held_during_advance = pthread_mutex_trylock(&f->lock) != 0;
    (void)cJSON_AddStringToObject(o, "thing", "Thing03");
    (void)cJSON_AddItemToArray(out, o);
    return 0;
}

static int connections_fail(void *ctx, cJSON *out)
{
    (void)ctx;
    (void)out;
    return 1;
}

static void test_dd_ctlapi_connections(void **state)
{
    fixture_t *f = *state;
    const cJSON *list;
    cJSON *j;

    /* No callback: the route does not exist. */
    j = handle(f, "GET", "/ddlocal/v1/connections", NULL, 404);
    cJSON_Delete(j);
    f->c.connections = one_connection;
    j = handle(f, "GET", "/ddlocal/v1/connections", NULL, 200);
    assert_true(f->held_during_advance);
    list = cJSON_GetObjectItemCaseSensitive(j, "connections");
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "thing"), "Thing03");
    cJSON_Delete(j);
    f->c.connections = connections_fail;
    j = handle(f, "GET", "/ddlocal/v1/connections", NULL, 500);
    assert_non_null(str(j, "message"));
    cJSON_Delete(j);
    j = handle(f, "POST", "/ddlocal/v1/connections", NULL, 404);
    cJSON_Delete(j);
}

/* The registry sync a CLI command asks for: synced under the lock, or 503 with the reason. */
static int sync_ok(void *ctx, char *why, size_t why_len)
{
    fixture_t *f = ctx;

    (void)why;
    (void)why_len;
    f->held_during_advance = pthread_mutex_trylock(&f->lock) != 0;
    return 0;
}

static int sync_fails(void *ctx, char *why, size_t why_len)
{
    (void)ctx;
    (void)snprintf(why, why_len, "ddlocald is not connected to the broker");
    return -1;
}

static void test_dd_ctlapi_registry_sync(void **state)
{
    fixture_t *f = *state;
    cJSON *j;

    j = handle(f, "POST", "/ddlocal/v1/sync", NULL, 404); /* no sync in this ddlocald */
    cJSON_Delete(j);
    f->c.registry_sync = sync_ok;
    j = handle(f, "POST", "/ddlocal/v1/sync", NULL, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "synced")));
    assert_true(f->held_during_advance);
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/sync", NULL, 404);
    cJSON_Delete(j);
    f->c.registry_sync = sync_fails;
    j = handle(f, "POST", "/ddlocal/v1/sync", NULL, 503);
    assert_string_equal(str(j, "message"), "ddlocald is not connected to the broker");
    cJSON_Delete(j);
}

/* The service's datapoints: echoes the query as one row and one window. */
static int datapoints_echo(void *ctx, const dd_datapoints_query_t *q, char **rows, char **stats,
                           char *why, size_t why_len)
{
    char text[256];

    (void)ctx;
    if (strcmp(q->profile, "Nope") == 0) {
        (void)snprintf(why, why_len, "no security profile named Nope");
        return 404;
    }
    (void)snprintf(text, sizeof(text),
                   "{\"profile\":\"%s\",\"thing\":\"%s\",\"from\":%lld,"
                   "\"to\":%lld,\"ms\":%s}\n",
                   q->profile, q->thing != NULL ? q->thing : "", (long long)q->from_ms,
                   (long long)q->to_ms, q->time_ms ? "true" : "false");
    *rows = strdup(text);
    *stats = strdup("{\"devices\":2}\n");
    return 200;
}

static void test_dd_ctlapi_datapoints(void **state)
{
    fixture_t *f = *state;
    cJSON *j;
    const cJSON *row;

    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=P", NULL, 404); /* none here */
    cJSON_Delete(j);
    f->c.datapoints = datapoints_echo;
    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=P&thing=Thing01&from=5&to=9", NULL, 200);
    row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "datapoints"), 0);
    assert_string_equal(str(row, "profile"), "P");
    assert_string_equal(str(row, "thing"), "Thing01");
    assert_int_equal(num(row, "from"), 5);
    assert_int_equal(num(row, "to"), 9);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "ms")));
    assert_int_equal(num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "windows"), 0),
                         "devices"),
                     2);
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/datapoints", NULL, 400);
    assert_string_equal(str(j, "message"), "profile is required (a security profile name)");
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=P&from=9&to=5", NULL, 400);
    assert_string_equal(str(j, "message"), "to is before from");
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=P&limit=3", NULL, 400);
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=P&from=x", NULL, 400);
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v1/datapoints?profile=Nope", NULL, 404);
    assert_string_equal(str(j, "message"), "no security profile named Nope");
    cJSON_Delete(j);
}

static void test_dd_ctlapi_unknown_operation(void **state)
{
    fixture_t *f = *state;
    cJSON *j = handle(f, "DELETE", "/ddlocal/v1/clock", NULL, 404);
    char *text = NULL;
    int status = 0;

    assert_non_null(strstr(str(j, "message"), "GET /ddlocal/v1/status"));
    cJSON_Delete(j);
    j = handle(f, "GET", "/ddlocal/v2/anything", NULL, 404);
    cJSON_Delete(j);
    assert_int_equal(dd_ctlapi_handle(NULL, "GET", "/ddlocal/v1/clock", NULL, 0, &status, &text),
                     DD_CTLAPI_BAD_PARAMETER);
    assert_int_equal(dd_ctlapi_handle(&f->c, "GET", "/ddlocal/v1/clock", NULL, 0, NULL, &text),
                     DD_CTLAPI_BAD_PARAMETER);
    assert_int_equal(dd_ctlapi_feed(&f->c, NULL), DD_CTLAPI_BAD_PARAMETER);
    assert_string_equal(dd_ctlapi_strerror(DD_CTLAPI_NO_MEMORY), "out of memory");
}

static void test_dd_ctlapi_faults(void **state)
{
    fixture_t *f = *state;
    dd_faults_t *faults = calloc(1, sizeof(*faults));
    cJSON *j;
    const cJSON *fault;

    assert_non_null(faults);
    /* Without a table: unknown operation. */
    cJSON_Delete(handle(f, "GET", "/ddlocal/v1/faults", NULL, 404));
    dd_faults_init(faults);
    f->c.faults = faults;

    j = handle(f, "POST", "/ddlocal/v1/faults",
               "{\"kind\":\"throttle\",\"thing\":\"Thing03\",\"expiresInSeconds\":30}", 200);
    fault = cJSON_GetObjectItemCaseSensitive(j, "fault");
    assert_int_equal(num(fault, "id"), 1);
    assert_string_equal(str(fault, "kind"), "throttle");
    /* Expiry in pipeline time, from the clock at the add. */
    assert_int_equal(num(fault, "expiresMs"), T0 + 30000);
    cJSON_Delete(j);
    cJSON_Delete(handle(f, "POST", "/ddlocal/v1/faults", "{\"kind\":\"no-reply\"}", 200));
    /* The feed says so. */
    assert_non_null(strstr(f->c.feed[f->c.feed_seq % DD_CTLAPI_FEED_SIZE].text,
                           "fault 2 added: no-reply on *"));
    j = handle(f, "GET", "/ddlocal/v1/faults", NULL, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "faults")), 2);
    cJSON_Delete(j);

    /* Refusals name the problem. */
    j = handle(f, "POST", "/ddlocal/v1/faults", "{\"kind\":\"throttle\",\"delayMs\":3}", 400);
    assert_non_null(strstr(str(j, "message"), "does not apply to a throttle fault"));
    cJSON_Delete(j);
    j = handle(f, "POST", "/ddlocal/v1/faults", NULL, 400);
    assert_non_null(strstr(str(j, "message"), "JSON object"));
    cJSON_Delete(j);
    j = handle(f, "DELETE", "/ddlocal/v1/faults?color=red", NULL, 400);
    assert_non_null(strstr(str(j, "message"), "Unknown parameter 'color'"));
    cJSON_Delete(j);
    j = handle(f, "DELETE", "/ddlocal/v1/faults?thing=a%20b", NULL, 400);
    assert_non_null(strstr(str(j, "message"), "thing must be"));
    cJSON_Delete(j);
    j = handle(f, "DELETE", "/ddlocal/v1/faults/x1", NULL, 400);
    assert_non_null(strstr(str(j, "message"), "positive integer"));
    cJSON_Delete(j);
    j = handle(f, "DELETE", "/ddlocal/v1/faults/7", NULL, 404);
    assert_non_null(strstr(str(j, "message"), "No fault 7"));
    cJSON_Delete(j);
    cJSON_Delete(handle(f, "GET", "/ddlocal/v1/faults/1", NULL, 404));
    cJSON_Delete(handle(f, "PATCH", "/ddlocal/v1/faults", NULL, 405));

    /* Clearing: by scope and kind, by id, all. */
    j = handle(f, "DELETE", "/ddlocal/v1/faults?thing=%2A&kind=no-reply", NULL, 200);
    assert_int_equal(num(j, "cleared"), 1);
    cJSON_Delete(j);
    j = handle(f, "DELETE", "/ddlocal/v1/faults/1", NULL, 200);
    assert_int_equal(num(j, "cleared"), 1);
    cJSON_Delete(j);
    cJSON_Delete(handle(f, "POST", "/ddlocal/v1/faults", "{\"kind\":\"no-reply\"}", 200));
    j = handle(f, "DELETE", "/ddlocal/v1/faults", NULL, 200);
    assert_int_equal(num(j, "cleared"), 1);
    cJSON_Delete(j);
    assert_int_equal(faults->count, 0);
    f->c.faults = NULL;
    free(faults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_get_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_advance_manual_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_advance_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_scale_changes_a_scaled_clock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_scale_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_status_counters_and_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_registry_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_datapoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_unknown_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_advance_waits_for_the_barrier, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_ctlapi_faults, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
