/*
 * dd_datapoints: the stored history replayed for one profile - the rows of one thing and
 * behavior in a window range (golden CSV), the fleet's distribution per window (golden CSV and
 * JSON), an unknown profile or behavior, and the range checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_datapoints.h"
#include "dd_log.h"
#include "dd_profile.h"

#define T0 1800000000000LL /* a multiple of 300 s */

typedef struct fixture {
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_store_t *store;
} fixture_t;

static void sent(fixture_t *f, const char *thing, int64_t time_ms, int64_t count)
{
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = thing;
    m.bucket_ms = time_ms - time_ms % 60000;
    m.time_ms = time_ms;
    m.kind = DD_CLOUD_MESSAGE_SENT;
    m.subject = "t/1";
    m.size = 10;
    m.registered = true;
    m.success = true;
    m.count = count;
    assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_OK);
}

static int setup(void **state)
{
    static const char PROFILE[] =
        "{\"behaviors\":[{\"name\":\"Chatty\",\"metric\":\"aws:num-messages-sent\",\"criteria\":{"
        "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":3},"
        "\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":1,"
        "\"consecutiveDatapointsToClear\":1}}]}";
    fixture_t *f = calloc(1, sizeof(*f));
    dd_profile_t p;
    dd_profile_error_t perr;
    char target[DD_ARN_MAX];
    int w;

    assert_non_null(f);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    (void)dd_clock_init_manual(&f->clock, T0);
    assert_int_equal(dd_registry_open(&f->reg, f->db, NULL, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing01", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing02", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    memset(&perr, 0, sizeof(perr));
    assert_int_equal(dd_profile_parse(PROFILE, strlen(PROFILE), "Chat", &p, &perr), DD_PROFILE_OK);
    assert_int_equal(dd_store_profile_create(f->store, &p, T0), DD_STORE_OK);
    dd_profile_free(&p);
    (void)dd_arn_format_target(&f->reg.arn, DD_ARN_TARGET_ALL_THINGS, NULL, target, sizeof(target));
    assert_int_equal(dd_store_target_attach(f->store, "Chat", target), DD_STORE_OK);
    /* Three windows: Thing01 sends 2 each time, Thing02 2, then 7, then 1. */
    for (w = 0; w < 3; w++) {
        sent(f, "Thing01", T0 + w * 300000 + 10000, 2);
        sent(f, "Thing02", T0 + w * 300000 + 20000, w == 1 ? 7 : w == 0 ? 2 : 1);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    dd_store_close(f->store);
    sqlite3_close(f->db);
    free(f);
    return 0;
}

/* Runs @p q and returns what went to rows (stats false) or to stats. */
static char *run(fixture_t *f, const dd_datapoints_query_t *q, bool stats,
                 dd_datapoints_status_t want, char *why, size_t why_len)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    assert_int_equal(dd_datapoints_run(f->store, &f->reg, q, stats ? NULL : out, stats ? out : NULL,
                                       why, why_len),
                     want);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void test_dd_datapoints_rows_golden(void **state)
{
    fixture_t *f = *state;
    dd_datapoints_query_t q;
    char why[256];
    char *text;

    memset(&q, 0, sizeof(q));
    q.profile = "Chat";
    q.behavior = "Chatty";
    q.thing = "Thing02";
    q.from_ms = T0 + 600000; /* window ends from the second window's */
    q.to_ms = INT64_MAX;
    q.csv = true;
    text = run(f, &q, false, DD_DATAPOINTS_OK, why, sizeof(why));
    assert_string_equal(text,
                        "thingName,securityProfileName,behaviorName,metric,windowStart,windowEnd,"
                        "metricValue,threshold,statistic,fleetDevices,verdict,alarmState\n"
                        "Thing02,Chat,Chatty,aws:num-messages-sent,1800000300,1800000600,7,3,,,"
                        "violating,IN_ALARM\n"
                        "Thing02,Chat,Chatty,aws:num-messages-sent,1800000600,1800000900,1,3,,,"
                        "conforming,NORMAL\n");
    free(text);
}

static void test_dd_datapoints_fleet_statistics(void **state)
{
    fixture_t *f = *state;
    dd_datapoints_query_t q;
    char why[256];
    char *text;

    memset(&q, 0, sizeof(q));
    q.profile = "Chat";
    q.to_ms = INT64_MAX;
    q.csv = true;
    q.thing = "Thing01"; /* rows only: the statistics are the fleet's */
    text = run(f, &q, true, DD_DATAPOINTS_OK, why, sizeof(why));
    assert_string_equal(text, "behaviorName,metric,windowStart,windowEnd,devices,min,p50,p90,p99,"
                              "max\n"
                              "Chatty,aws:num-messages-sent,1800000000,1800000300,2,2,2,2,2,2\n"
                              "Chatty,aws:num-messages-sent,1800000300,1800000600,2,2,4.5,6.5,"
                              "6.95,7\n"
                              "Chatty,aws:num-messages-sent,1800000600,1800000900,2,1,1.5,1.9,"
                              "1.99,2\n");
    free(text);
    q.csv = false;
    q.time_ms = true;
    q.to_ms = T0 + 300001; /* window ends before: the first window only */
    text = run(f, &q, true, DD_DATAPOINTS_OK, why, sizeof(why));
    assert_string_equal(text, "{\"behaviorName\":\"Chatty\",\"metric\":\"aws:num-messages-sent\","
                              "\"windowStart\":1800000000000,\"windowEnd\":1800000300000,"
                              "\"devices\":2,\"min\":2,\"p50\":2,\"p90\":2,\"p99\":2,\"max\":2}\n");
    free(text);
}

static void test_dd_datapoints_refusals(void **state)
{
    fixture_t *f = *state;
    dd_datapoints_query_t q;
    char why[256];
    char *text;

    memset(&q, 0, sizeof(q));
    q.profile = "Nope";
    q.to_ms = INT64_MAX;
    text = run(f, &q, false, DD_DATAPOINTS_NOT_FOUND, why, sizeof(why));
    assert_string_equal(why, "no security profile named Nope");
    free(text);
    q.profile = "Chat";
    q.behavior = "Quiet";
    text = run(f, &q, false, DD_DATAPOINTS_NOT_FOUND, why, sizeof(why));
    assert_string_equal(why, "security profile Chat has no behavior named Quiet");
    free(text);
    q.behavior = NULL;
    q.from_ms = 5;
    q.to_ms = 4;
    assert_int_equal(dd_datapoints_run(f->store, &f->reg, &q, NULL, NULL, why, sizeof(why)),
                     DD_DATAPOINTS_BAD_PARAMETER);
    assert_string_equal(dd_datapoints_strerror(DD_DATAPOINTS_NOT_FOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_datapoints_rows_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_datapoints_fleet_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_datapoints_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
