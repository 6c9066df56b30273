#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_store.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_store_test_XXXXXX");
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void open_db(const char *file, sqlite3 **db, dd_store_t **store)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    assert_int_equal(dd_db_open(path, false, db), DD_DB_OK);
    assert_int_equal(dd_store_open(*db, NULL, store), DD_STORE_OK);
}

static void parse(const char *json, dd_profile_t *p)
{
    assert_int_equal(dd_profile_parse(json, strlen(json), NULL, p, NULL), DD_PROFILE_OK);
}

static int count_cb(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static const char *PROFILE =
    "{\"securityProfileName\":\"sp1\",\"securityProfileDescription\":\"d\",\"behaviors\":[{"
    "\"name\":"
    "\"b\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
    "\"less-than-equals\",\"value\":{\"count\":200},\"durationSeconds\":300}}],"
    "\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:num-listening-tcp-ports\"}]}";

static void test_dd_store_profiles_versions_targets(void **state)
{
    sqlite3 *db;
    dd_store_t *s;
    dd_profile_t p;
    dd_profile_t got;
    dd_profile_t upd;
    int n = 0;
    char token[DD_STORE_TOKEN_MAX];
    dd_store_page_t page = {NULL, 0};
    int i;

    (void)state;
    open_db("a.db", &db, &s);
    parse(PROFILE, &p);
    assert_int_equal(dd_store_profile_create(s, &p, 1560278102528), DD_STORE_OK);
    assert_int_equal(dd_store_profile_create(s, &p, 1), DD_STORE_EXISTS);
    /* An invalid profile never reaches a row. */
    p.behaviors[0].criteria.has_to_alarm = true;
    p.behaviors[0].criteria.to_alarm = 11;
    snprintf(p.name, sizeof(p.name), "invalid");
    assert_int_equal(dd_store_profile_create(s, &p, 1), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_profile_get(s, "invalid", &got), DD_STORE_NOT_FOUND);
    p.behaviors[0].criteria.has_to_alarm = false;
    snprintf(p.name, sizeof(p.name), "sp1");
    assert_int_equal(dd_store_profile_get(s, "sp1", &got), DD_STORE_OK);
    assert_int_equal(got.version, 1);
    assert_int_equal(got.creation_ms, 1560278102528);
    assert_true(dd_profile_behavior_equal(&got.behaviors[0], &p.behaviors[0]));
    dd_profile_free(&got);
    /* Update: version conflict, then success. */
    snprintf(p.behaviors[0].name, sizeof(p.behaviors[0].name), "b2");
    assert_int_equal(dd_store_profile_update(s, &p, 7, 1560278200000, NULL),
                     DD_STORE_VERSION_CONFLICT);
    assert_int_equal(dd_store_profile_update(s, &p, 1, 1560278200000, &upd), DD_STORE_OK);
    assert_int_equal(upd.version, 2);
    assert_int_equal(upd.creation_ms, 1560278102528);
    assert_int_equal(upd.modified_ms, 1560278200000);
    assert_string_equal(upd.behaviors[0].name, "b2");
    dd_profile_free(&upd);
    /* Filters. */
    assert_int_equal(dd_store_profile_list(s, "aws:num-listening-tcp-ports", NULL, NULL, count_cb,
                                           &n, token),
                     DD_STORE_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(dd_store_profile_list(s, "aws:all-bytes-in", NULL, NULL, count_cb, &n, token),
                     DD_STORE_OK);
    assert_int_equal(n, 0);
    /* Targets: idempotent, at most 5 profiles per target. */
    assert_int_equal(dd_store_target_attach(s, "sp1", ARN "all/things"), DD_STORE_OK);
    assert_int_equal(dd_store_target_attach(s, "sp1", ARN "all/things"), DD_STORE_OK);
    assert_int_equal(dd_store_target_attach(s, "nope", ARN "all/things"), DD_STORE_NOT_FOUND);
    assert_int_equal(dd_store_target_attach(s, "sp1", "arn:bad"), DD_STORE_BAD_PARAMETER);
    for (i = 2; i <= 6; i++) {
        snprintf(p.name, sizeof(p.name), "sp%d", i);
        assert_int_equal(dd_store_profile_create(s, &p, 1), DD_STORE_OK);
        assert_int_equal(dd_store_target_attach(s, p.name, ARN "all/things"),
                         i <= 5 ? DD_STORE_OK : DD_STORE_LIMIT);
    }
    n = 0;
    assert_int_equal(dd_store_profiles_for_target(s, ARN "all/things", count_cb, &n), DD_STORE_OK);
    assert_int_equal(n, 5);
    /* Paging by 2. */
    n = 0;
    page.max = 2;
    assert_int_equal(dd_store_profile_list(s, NULL, NULL, &page, count_cb, &n, token), DD_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(token, "2");
    page.token = "4";
    assert_int_equal(dd_store_profile_list(s, NULL, NULL, &page, count_cb, &n, token), DD_STORE_OK);
    assert_int_equal(n, 4);
    assert_string_equal(token, "");
    page.token = "x";
    assert_int_equal(dd_store_profile_list(s, NULL, NULL, &page, count_cb, &n, token),
                     DD_STORE_BAD_TOKEN);
    assert_int_equal(dd_store_target_detach(s, "sp1", ARN "all/things"), DD_STORE_OK);
    assert_int_equal(dd_store_profile_get(s, "sp1", &got), DD_STORE_OK);
    assert_int_equal(got.target_count, 0);
    dd_profile_free(&got);
    assert_int_equal(dd_store_profile_delete(s, "sp1", 1), DD_STORE_VERSION_CONFLICT);
    assert_int_equal(dd_store_profile_delete(s, "sp1", -1), DD_STORE_OK);
    assert_int_equal(dd_store_profile_get(s, "sp1", &got), DD_STORE_NOT_FOUND);
    dd_profile_free(&p);
    dd_store_close(s);
    dd_db_close(db);
}

/* The first column of the first row of @p sql (static buffer). */
static const char *column_text(sqlite3 *db, const char *sql)
{
    static char text[256];
    sqlite3_stmt *st = NULL;

    text[0] = '\0';
    if (dd_db_prepare(db, sql, &st) == DD_DB_OK && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(text, sizeof(text), "%s", dd_db_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return text;
}

static void test_dd_store_custom_metrics_and_dimensions(void **state)
{
    sqlite3 *db;
    dd_store_t *s;
    dd_custom_metric_def_t c = {.name = "cpu",
                                .type = DD_CUSTOM_TYPE_NUMBER,
                                .creation_ms = 5,
                                .modified_ms = 5};
    dd_custom_metric_def_t got;
    dd_dimension_def_t *d = calloc(1, sizeof(*d));
    dd_dimension_def_t *dg = calloc(1, sizeof(*dg));
    dd_profile_t p;
    int n = 0;

    (void)state;
    open_db("b.db", &db, &s);
    assert_int_equal(dd_store_custom_metric_create(s, &c), DD_STORE_OK);
    assert_int_equal(dd_store_custom_metric_create(s, &c), DD_STORE_EXISTS);
    assert_int_equal(dd_store_custom_metric_update(s, "cpu", "CPU", 9, &got), DD_STORE_OK);
    assert_string_equal(got.display_name, "CPU");
    assert_int_equal(got.modified_ms, 9);
    assert_int_equal(got.type, DD_CUSTOM_TYPE_NUMBER);
    assert_int_equal(dd_store_custom_metric_update(s, "nope", "x", 9, NULL), DD_STORE_NOT_FOUND);
    snprintf(d->name, sizeof(d->name), "topics");
    d->value_count = 2;
    snprintf(d->values[0], sizeof(d->values[0]), "a/#");
    snprintf(d->values[1], sizeof(d->values[1]), "b/+");
    assert_int_equal(dd_store_dimension_create(s, d), DD_STORE_OK);
    assert_int_equal(dd_store_dimension_get(s, "topics", dg), DD_STORE_OK);
    assert_int_equal(dg->value_count, 2);
    assert_string_equal(dg->values[1], "b/+");
    /* Stored as the JSON array text earlier versions wrote, so their rows read back. */
    assert_string_equal(column_text(db, "SELECT string_values FROM ev_dimensions"),
                        "[\"a/#\",\"b/+\"]");
    snprintf(d->values[1], sizeof(d->values[1]), "q\"\\u/+");
    assert_int_equal(dd_store_dimension_update(s, d, 7), DD_STORE_OK);
    assert_int_equal(dd_store_dimension_get(s, "topics", dg), DD_STORE_OK);
    assert_int_equal(dg->value_count, 2);
    assert_string_equal(dg->values[1], "q\"\\u/+");
    assert_int_equal(dg->modified_ms, 7);
    /* Rows that are not an array of strings are unreadable, not misread. */
    assert_int_equal(dd_db_exec(db, "INSERT INTO ev_dimensions VALUES('bad1', 'TOPIC_FILTER',"
                                    " '[\"a\"', 0, 0), ('bad2', 'TOPIC_FILTER', '{}', 0, 0),"
                                    " ('bad3', 'TOPIC_FILTER', '[1]', 0, 0)"),
                     DD_DB_OK);
    assert_int_equal(dd_store_dimension_get(s, "bad1", dg), DD_STORE_CORRUPT);
    assert_int_equal(dd_store_dimension_get(s, "bad2", dg), DD_STORE_CORRUPT);
    assert_int_equal(dd_store_dimension_get(s, "bad3", dg), DD_STORE_CORRUPT);
    assert_int_equal(dd_store_dimension_get(s, "none", dg), DD_STORE_NOT_FOUND);
    assert_int_equal(dd_db_exec(db, "DELETE FROM ev_dimensions WHERE name LIKE 'bad%'"), DD_DB_OK);
    parse("{\"securityProfileName\":\"p\",\"behaviors\":[{\"name\":\"c\",\"metric\":\"cpu\","
          "\"criteria\":{\"comparisonOperator\":\"less-than\",\"value\":{\"number\":1}}},"
          "{\"name\":\"m\",\"metric\":\"aws:num-messages-sent\",\"metricDimension\":"
          "{\"dimensionName\":\"topics\"},\"criteria\":{\"comparisonOperator\":\"less-than\","
          "\"value\":{\"count\":1},\"durationSeconds\":300}}]}",
          &p);
    assert_int_equal(dd_store_profile_create(s, &p, 1), DD_STORE_OK);
    assert_int_equal(dd_store_custom_metric_delete(s, "cpu"), DD_STORE_IN_USE);
    assert_int_equal(dd_store_dimension_delete(s, "topics"), DD_STORE_IN_USE);
    n = 0;
    assert_int_equal(dd_store_profile_list(s, NULL, "topics", NULL, count_cb, &n, NULL),
                     DD_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dd_store_profile_delete(s, "p", -1), DD_STORE_OK);
    assert_int_equal(dd_store_custom_metric_delete(s, "cpu"), DD_STORE_OK);
    assert_int_equal(dd_store_dimension_delete(s, "topics"), DD_STORE_OK);
    n = 0;
    assert_int_equal(dd_store_custom_metric_list(s, NULL, count_cb, &n, NULL), DD_STORE_OK);
    assert_int_equal(dd_store_dimension_list(s, NULL, count_cb, &n, NULL), DD_STORE_OK);
    assert_int_equal(n, 0);
    dd_profile_free(&p);
    free(d);
    free(dg);
    dd_store_close(s);
    dd_db_close(db);
}

/* ---------------------------------------------------------------- engine + store */

typedef struct run {
    sqlite3 *db;
    dd_store_t *store;
    dd_engine_t *engine;
} run_t;

static void start(run_t *r, const char *file, bool create_profile)
{
    dd_engine_sink_t sink;

    open_db(file, &r->db, &r->store);
    dd_store_sink(r->store, &sink);
    assert_int_equal(dd_engine_create(NULL, NULL, &sink, &r->engine), DD_ENGINE_OK);
    if (create_profile) {
        dd_profile_t p;
        parse("{\"securityProfileName\":\"m4\",\"behaviors\":[{\"name\":\"MoreBytesSent\","
              "\"metric\":\"aws:all-bytes-out\",\"criteria\":{\"comparisonOperator\":"
              "\"less-than-equals\",\"value\":{\"count\":200},\"durationSeconds\":600,"
              "\"consecutiveDatapointsToAlarm\":2,\"consecutiveDatapointsToClear\":2}}]}",
              &p);
        assert_int_equal(dd_store_profile_create(r->store, &p, 0), DD_STORE_OK);
        assert_int_equal(dd_store_target_attach(r->store, "m4", ARN "all/things"), DD_STORE_OK);
        dd_profile_free(&p);
        assert_int_equal(dd_store_profile_get(r->store, "m4", &p), DD_STORE_OK);
        assert_int_equal(dd_engine_put_profile(r->engine, &p, 0), DD_ENGINE_OK);
        dd_profile_free(&p);
    } else {
        assert_int_equal(dd_store_load(r->store, r->engine), DD_STORE_OK);
    }
}

static void stop(run_t *r)
{
    dd_engine_destroy(r->engine);
    dd_store_close(r->store);
    dd_db_close(r->db);
}

/* One report as the service would handle it: one transaction. */
static void feed(run_t *r, int i)
{
    static const uint64_t BYTES[] = {150, 150, 3000, 3000, 3000, 10, 10, 10, 3000, 10};
    dd_report_t rep;
    int64_t row;
    int64_t now = (int64_t)(i + 1) * 300000;

    memset(&rep, 0, sizeof(rep));
    rep.has_metrics = rep.net.present = rep.net.has_bytes_out = true;
    rep.net.bytes_out = BYTES[i];
    assert_int_equal(dd_store_begin(r->store), DD_STORE_OK);
    assert_int_equal(dd_store_report_insert(r->store, "Thing03", (uint64_t)i, now, 0,
                                            (const uint8_t *)"{}", 2, &row),
                     DD_STORE_OK);
    assert_int_equal(dd_engine_on_report(r->engine, "Thing03", now, &rep), DD_ENGINE_OK);
    assert_int_equal(dd_store_report_mark_evaluated(r->store, row), DD_STORE_OK);
    assert_int_equal(dd_store_save_engine(r->store, r->engine), DD_STORE_OK);
    assert_int_equal(dd_store_sink_status(r->store), DD_STORE_OK);
    assert_int_equal(dd_store_commit(r->store), DD_STORE_OK);
}

/* Appends a row as one line in AWS's member order (times in seconds), so that
 * the assertions read like the API's items; the API's own builder is tested in
 * test_dd_api. */
static int append_item(void *ctx, const dd_store_violation_t *v)
{
    char *out = (char *)ctx + strlen((char *)ctx);
    int n =
        sprintf(out, "{\"violationId\":\"%s\",\"thingName\":\"%s\",\"securityProfileName\":\"%s\"",
                v->violation_id, v->thing, v->profile);

    if (v->behavior_json != NULL) {
        n += sprintf(out + n, ",\"behavior\":%s", v->behavior_json);
    }
    if (v->value_json != NULL) {
        n += sprintf(out + n, ",\"%s\":%s", v->event ? "metricValue" : "lastViolationValue",
                     v->value_json);
    }
    if (v->event) {
        n += sprintf(out + n, ",\"violationEventType\":\"%s\"", v->event_type);
    }
    if (v->verification != DD_VERIFICATION_UNKNOWN) {
        n += sprintf(out + n, ",\"verificationState\":\"%s\"",
                     dd_verification_name(v->verification));
    }
    if (v->verification_description != NULL) {
        n += sprintf(out + n, ",\"verificationStateDescription\":\"%s\"",
                     v->verification_description);
    }
    assert_int_equal(v->time_ms % 1000, 0);
    if (v->event) {
        (void)sprintf(out + n, ",\"violationEventTime\":%lld}\n", (long long)(v->time_ms / 1000));
    } else {
        assert_int_equal(v->start_ms % 1000, 0);
        (void)sprintf(out + n, ",\"lastViolationTime\":%lld,\"violationStartTime\":%lld}\n",
                      (long long)(v->time_ms / 1000), (long long)(v->start_ms / 1000));
    }
    return 0;
}

static void events_text(run_t *r, char *out)
{
    out[0] = '\0';
    assert_int_equal(dd_store_violation_events(r->store, NULL, NULL, append_item, out, NULL),
                     DD_STORE_OK);
}

static int value_cb(void *ctx, int64_t t, const char *value)
{
    (void)t;
    (void)value;
    (*(int *)ctx)++;
    return 0;
}

static void test_dd_store_resume_mid_stream_matches_uninterrupted(void **state)
{
    run_t a;
    run_t b;
    char *ea = calloc(1, 65536);
    char *eb = calloc(1, 65536);
    char *act = calloc(1, 65536);
    int i;
    int n = 0;
    dd_store_violation_filter_t f;

    (void)state;
    start(&a, "uninterrupted.db", true);
    for (i = 0; i < 10; i++) {
        feed(&a, i);
    }
    start(&b, "resumed.db", true);
    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            /* Restart: close everything, reopen, load, go on. */
            stop(&b);
            start(&b, "resumed.db", false);
        }
        feed(&b, i);
    }
    events_text(&a, ea);
    events_text(&b, eb);
    assert_true(strlen(ea) > 0);
    assert_string_equal(ea, eb);
    /* 600-s window, 2/2: 300 then 3150 raise it at 900 s; two quiet windows clear it
     * at 2400 s; 3010 twice raises a new violation at 3000 s. Newest first. */
    assert_non_null(strstr(ea, "\"metricValue\":{\"count\":3010},\"violationEventType\":"
                               "\"in-alarm\",\"violationEventTime\":3000}\n"));
    assert_non_null(strstr(ea, "\"metricValue\":{\"count\":20},\"violationEventType\":"
                               "\"alarm-cleared\",\"violationEventTime\":2400}\n"));
    assert_non_null(strstr(ea, "\"metricValue\":{\"count\":3150},\"violationEventType\":"
                               "\"in-alarm\",\"violationEventTime\":900}\n"));
    assert_int_equal(dd_store_metric_values(b.store, "Thing03", "aws:all-bytes-out", NULL, 0, 0,
                                            NULL, value_cb, &n, NULL),
                     DD_STORE_OK);
    assert_int_equal(n, 10);
    /* Filters. */
    dd_store_violation_filter_init(&f);
    f.thing = "nobody";
    ea[0] = '\0';
    assert_int_equal(dd_store_violation_events(a.store, &f, NULL, append_item, ea, NULL),
                     DD_STORE_OK);
    assert_string_equal(ea, "");
    dd_store_violation_filter_init(&f);
    f.criteria_type = DD_CRITERIA_STATIC;
    f.start_ms = 900000;
    f.end_ms = 900000;
    assert_int_equal(dd_store_violation_events(a.store, &f, NULL, append_item, ea, NULL),
                     DD_STORE_OK);
    assert_non_null(strstr(ea, "\"violationEventTime\":900}"));
    assert_null(strstr(ea, "\"violationEventTime\":3000}"));
    assert_null(strstr(ea, "alarm-cleared"));
    assert_int_equal(dd_store_active_violations(a.store, NULL, NULL, append_item, act, NULL),
                     DD_STORE_OK);
    stop(&a);
    stop(&b);
    free(ea);
    free(eb);
    free(act);
}

static int pending_cb(void *ctx, int64_t row, const char *thing, uint64_t rid, int64_t ms,
                      int format, const uint8_t *payload, size_t len)
{
    (void)row;
    (void)thing;
    (void)ms;
    (void)format;
    (void)payload;
    (void)len;
    *(uint64_t *)ctx = rid;
    return 0;
}

static void test_dd_store_verification_and_pending_reports(void **state)
{
    run_t a;
    char *act = calloc(1, 65536);
    char *id;
    int64_t row;
    uint64_t rid = 0;
    dd_store_violation_filter_t f;

    (void)state;
    start(&a, "v.db", true);
    for (int i = 0; i < 4; i++) {
        feed(&a, i);
    }
    assert_int_equal(dd_store_active_violations(a.store, NULL, NULL, append_item, act, NULL),
                     DD_STORE_OK);
    id = strstr(act, "\"violationId\":\"");
    assert_non_null(id);
    id += strlen("\"violationId\":\"");
    id[32] = '\0';
    assert_int_equal(dd_store_set_verification(a.store, id, DD_VERIFICATION_BENIGN_POSITIVE, "lab"),
                     DD_STORE_OK);
    assert_int_equal(dd_engine_set_verification(a.engine, id, DD_VERIFICATION_BENIGN_POSITIVE,
                                                "lab"),
                     DD_ENGINE_OK);
    assert_int_equal(dd_store_set_verification(a.store, "0123", DD_VERIFICATION_BENIGN_POSITIVE,
                                               NULL),
                     DD_STORE_NOT_FOUND);
    dd_store_violation_filter_init(&f);
    f.verification = DD_VERIFICATION_BENIGN_POSITIVE;
    act[0] = '\0';
    assert_int_equal(dd_store_active_violations(a.store, &f, NULL, append_item, act, NULL),
                     DD_STORE_OK);
    assert_non_null(strstr(
        act, "\"verificationState\":\"BENIGN_POSITIVE\",\"verificationStateDescription\":\"lab\""));
    /* A report stored but never marked evaluated is pending after a restart. */
    assert_int_equal(dd_store_report_insert(a.store, "Thing03", 77, 5000000, 1,
                                            (const uint8_t *)"\xa0", 1, &row),
                     DD_STORE_OK);
    stop(&a);
    start(&a, "v.db", false);
    assert_int_equal(dd_store_reports_pending(a.store, pending_cb, &rid), DD_STORE_OK);
    assert_int_equal(rid, 77);
    stop(&a);
    free(act);
}

static void test_dd_store_suppressed_events_and_last_value(void **state)
{
    sqlite3 *db;
    dd_store_t *store;
    dd_engine_t *engine;
    dd_engine_sink_t sink;
    dd_profile_t p;
    dd_report_t rep;
    dd_store_violation_filter_t f;
    char *out = calloc(1, 65536);
    char *id;
    char first_id[40];
    int64_t t;

    (void)state;
    assert_non_null(out);
    open_db("s.db", &db, &store);
    dd_store_sink(store, &sink);
    assert_int_equal(dd_engine_create(NULL, NULL, &sink, &engine), DD_ENGINE_OK);
    parse("{\"securityProfileName\":\"sp\",\"behaviors\":["
          "{\"name\":\"quiet\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
          "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200}},"
          "\"suppressAlerts\":true},"
          "{\"name\":\"loud\",\"metric\":\"aws:all-packets-out\",\"criteria\":{"
          "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":20}}}]}",
          &p);
    assert_int_equal(dd_store_profile_create(store, &p, 0), DD_STORE_OK);
    assert_int_equal(dd_store_target_attach(store, "sp", ARN "all/things"), DD_STORE_OK);
    dd_profile_free(&p);
    assert_int_equal(dd_store_profile_get(store, "sp", &p), DD_STORE_OK);
    assert_int_equal(dd_engine_put_profile(engine, &p, 0), DD_ENGINE_OK);
    dd_profile_free(&p);
    for (t = 1; t <= 2; t++) {
        memset(&rep, 0, sizeof(rep));
        rep.has_metrics = rep.net.present = rep.net.has_bytes_out = rep.net.has_packets_out = true;
        rep.net.bytes_out = (uint64_t)(1000 * t); /* 1000 then 2000: both violate */
        rep.net.packets_out = (uint64_t)(50 * t); /* 50 then 100: both violate */
        assert_int_equal(dd_store_begin(store), DD_STORE_OK);
        assert_int_equal(dd_engine_on_report(engine, "T", t * 300000, &rep), DD_ENGINE_OK);
        assert_int_equal(dd_store_sink_status(store), DD_STORE_OK);
        assert_int_equal(dd_store_commit(store), DD_STORE_OK);
    }
    /* listSuppressedAlerts=true: only the suppressed behavior's event. */
    dd_store_violation_filter_init(&f);
    f.suppressed = 1;
    assert_int_equal(dd_store_violation_events(store, &f, NULL, append_item, out, NULL),
                     DD_STORE_OK);
    assert_non_null(strstr(out, "\"name\":\"quiet\""));
    assert_null(strstr(out, "\"name\":\"loud\""));
    assert_non_null(strstr(out, "\"metricValue\":{\"count\":1000},\"violationEventType\":"
                                "\"in-alarm\",\"violationEventTime\":300}"));
    /* listSuppressedAlerts=false: only the other one; absent: both. */
    out[0] = '\0';
    f.suppressed = 0;
    assert_int_equal(dd_store_violation_events(store, &f, NULL, append_item, out, NULL),
                     DD_STORE_OK);
    assert_null(strstr(out, "\"name\":\"quiet\""));
    assert_non_null(strstr(out, "\"name\":\"loud\""));
    out[0] = '\0';
    f.suppressed = -1;
    assert_int_equal(dd_store_violation_events(store, &f, NULL, append_item, out, NULL),
                     DD_STORE_OK);
    assert_non_null(strstr(out, "\"name\":\"quiet\""));
    assert_non_null(strstr(out, "\"name\":\"loud\""));
    /* Staying in alarm is no new event... */
    assert_null(strstr(out, "\"violationEventTime\":600"));
    /* ...but the active violation's lastViolationValue/Time moved, same violationId. */
    out[0] = '\0';
    f.suppressed = 1;
    assert_int_equal(dd_store_active_violations(store, &f, NULL, append_item, out, NULL),
                     DD_STORE_OK);
    assert_null(strstr(out, "\"name\":\"loud\""));
    assert_non_null(strstr(out, "\"lastViolationValue\":{\"count\":2000}"));
    assert_non_null(strstr(out, "\"lastViolationTime\":600"));
    assert_non_null(strstr(out, "\"violationStartTime\":300"));
    id = strstr(out, "\"violationId\":\"");
    assert_non_null(id);
    snprintf(first_id, sizeof(first_id), "%.32s", id + strlen("\"violationId\":\""));
    out[0] = '\0';
    f.suppressed = -1;
    assert_int_equal(dd_store_violation_events(store, &f, NULL, append_item, out, NULL),
                     DD_STORE_OK);
    id = strstr(out, first_id);
    assert_non_null(id);
    dd_engine_destroy(engine);
    dd_store_close(store);
    dd_db_close(db);
    free(out);
}

/* Several messages of one thing in the same millisecond (the manual clock does
 * that): every retained value is kept, in arrival order. */
static int value_list_cb(void *ctx, int64_t t, const char *value)
{
    char *out = ctx;

    (void)t;
    (void)strcat(out, value);
    (void)strcat(out, ";");
    return 0;
}

static void test_dd_store_values_of_the_same_millisecond(void **state)
{
    run_t r;
    dd_engine_sink_t sink;
    dd_metric_datum_t d;
    char got[256] = "";
    int64_t sizes[3] = {2233, 17, 2233};
    int i;

    (void)state;
    start(&r, "same-ms.db", false);
    dd_store_sink(r.store, &sink);
    memset(&d, 0, sizeof(d));
    d.thing = "Thing02";
    d.metric = "aws:message-byte-size";
    d.time_ms = 600000;
    d.value.kind = DD_VALUE_COUNT;
    assert_int_equal(dd_store_begin(r.store), DD_STORE_OK);
    for (i = 0; i < 3; i++) {
        d.value.count = sizes[i];
        sink.metric_value(sink.ctx, &d);
    }
    /* Another metric of the same message shares the row of the last one. */
    d.metric = "aws:num-messages-sent";
    d.value.count = 3;
    sink.metric_value(sink.ctx, &d);
    assert_int_equal(dd_store_commit(r.store), DD_STORE_OK);
    assert_int_equal(dd_store_metric_values(r.store, "Thing02", "aws:message-byte-size", NULL, 0, 0,
                                            NULL, value_list_cb, got, NULL),
                     DD_STORE_OK);
    assert_string_equal(got, "{\"count\":2233};{\"count\":17};{\"count\":2233};");
    got[0] = '\0';
    assert_int_equal(dd_store_metric_values(r.store, "Thing02", "aws:num-messages-sent", NULL, 0, 0,
                                            NULL, value_list_cb, got, NULL),
                     DD_STORE_OK);
    assert_string_equal(got, "{\"count\":3};");
    stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_profiles_versions_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_custom_metrics_and_dimensions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_values_of_the_same_millisecond, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_resume_mid_stream_matches_uninterrupted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_verification_and_pending_reports, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_suppressed_events_and_last_value, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
