/*
 * dd_export: a store and registry written as a replay bundle - the stream's lines in time
 * order (reports as received, JSON and CBOR; metering groups with repeat, unregistered and
 * failed connects), a time range, things.json, the profile files with their targets, and the
 * printed command with the custom metrics and dimensions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_export.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_profile.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_store_t *store;
} fixture_t;

static void add_metering(fixture_t *f, const char *thing, int64_t time_ms, dd_cloud_kind_t kind,
                         const char *subject, int64_t size, bool registered, bool success,
                         int64_t count)
{
    dd_store_metering_t m;

    memset(&m, 0, sizeof(m));
    m.thing = thing;
    m.bucket_ms = time_ms;
    m.time_ms = time_ms;
    m.kind = kind;
    m.subject = subject;
    m.size = size;
    m.registered = registered;
    m.success = success;
    m.count = count;
    assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_OK);
}

static int setup(void **state)
{
    static const char PROFILE[] =
        "{\"behaviors\":[{\"name\":\"Bytes\",\"metric\":\"aws:all-bytes-out\",\"criteria\":{"
        "\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
        "\"durationSeconds\":300}}]}";
    static const uint8_t CBOR[] = {0xa1, 0x61, 0x78, 0x01};
    static const char JSON[] = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{}}";
    fixture_t *f = calloc(1, sizeof(*f));
    dd_custom_metric_def_t custom;
    dd_dimension_def_t *dim = calloc(1, sizeof(*dim));
    dd_profile_t p;
    dd_profile_error_t perr;
    dd_arn_ctx_t arn;
    char target[DD_ARN_MAX];
    int64_t row = 0;

    assert_non_null(f);
    assert_non_null(dim);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_export_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    /* The data dir's account differs from replay's default: targets are rewritten. */
    assert_int_equal(dd_arn_ctx_set(&arn, "eu-west-1", "210987654321"), DD_NAMES_OK);
    assert_int_equal(dd_registry_open(&f->reg, f->db, &arn, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_store_open(f->db, &arn, &f->store), DD_STORE_OK);

    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing01", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing02", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Fleet", NULL, NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Sensors", "Fleet", NULL, NULL, NULL, 0,
                                              NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "Sensors", "Thing01", NULL),
                     DD_REGISTRY_OK);

    memset(&custom, 0, sizeof(custom));
    (void)snprintf(custom.name, sizeof(custom.name), "temperature");
    custom.type = DD_CUSTOM_TYPE_NUMBER;
    assert_int_equal(dd_store_custom_metric_create(f->store, &custom), DD_STORE_OK);
    (void)snprintf(dim->name, sizeof(dim->name), "Telemetry");
    dim->value_count = 2;
    (void)snprintf(dim->values[0], sizeof(dim->values[0]), "t/a/#");
    (void)snprintf(dim->values[1], sizeof(dim->values[1]), "t/b");
    assert_int_equal(dd_store_dimension_create(f->store, dim), DD_STORE_OK);
    free(dim);

    memset(&perr, 0, sizeof(perr));
    assert_int_equal(dd_profile_parse(PROFILE, strlen(PROFILE), "Bytes", &p, &perr), DD_PROFILE_OK);
    assert_int_equal(dd_store_profile_create(f->store, &p, 1700000000000LL), DD_STORE_OK);
    dd_profile_free(&p);
    assert_int_equal(dd_arn_format_target(&arn, DD_ARN_TARGET_THING_GROUP, "Fleet", target,
                                          sizeof(target)),
                     DD_NAMES_OK);
    assert_int_equal(dd_store_target_attach(f->store, "Bytes", target), DD_STORE_OK);

    /* Stored out of time order on purpose: the export sorts. */
    assert_int_equal(dd_store_report_insert(f->store, "Thing01", 1, 2000, 0, (const uint8_t *)JSON,
                                            strlen(JSON), &row),
                     DD_STORE_OK);
    assert_int_equal(dd_store_report_insert(f->store, "Thing02", 7, 4000, 1, CBOR, sizeof(CBOR),
                                            &row),
                     DD_STORE_OK);
    add_metering(f, "Thing01", 1000, DD_CLOUD_CONNECT, "192.0.2.7", 0, true, true, 1);
    add_metering(f, "Thing01", 3000, DD_CLOUD_MESSAGE_SENT, "t/a/1", 5, true, true, 4);
    add_metering(f, "Thing01", 3000, DD_CLOUD_MESSAGE_RECEIVED, "cmd", 9, true, true, 1);
    add_metering(f, "intruder", 3500, DD_CLOUD_CONNECT, "", 0, false, false, 1);
    add_metering(f, "Thing02", 3600, DD_CLOUD_AUTH_FAILURE, "", 0, true, true, 2);
    add_metering(f, "Thing01", 5000, DD_CLOUD_DISCONNECT, "", 0, true, true, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_store_close(f->store);
    sqlite3_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    free(f);
    return system(cmd) == 0 ? 0 : -1;
}

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(dd_fs_read_file(path, 1u << 20, &data, &len), DD_FS_OK);
    return data;
}

static const char GOLDEN[] =
    "{\"thing\":\"Thing01\",\"time\":1000,\"event\":{\"type\":\"connect\","
    "\"sourceIp\":\"192.0.2.7\"}}\n"
    "{\"thing\":\"Thing01\",\"time\":2000,\"json\":\"{\\\"header\\\":{\\\"report_id\\\":1,"
    "\\\"version\\\":\\\"1.0\\\"},\\\"metrics\\\":{}}\"}\n"
    "{\"thing\":\"Thing01\",\"time\":3000,\"event\":{\"type\":\"message-sent\",\"topic\":"
    "\"t/a/1\",\"size\":5,\"repeat\":4}}\n"
    "{\"thing\":\"Thing01\",\"time\":3000,\"event\":{\"type\":\"message-received\",\"topic\":"
    "\"cmd\"}}\n"
    "{\"thing\":\"intruder\",\"time\":3500,\"event\":{\"type\":\"connect\",\"success\":false,"
    "\"registered\":false}}\n"
    "{\"thing\":\"Thing02\",\"time\":3600,\"event\":{\"type\":\"authorization-failure\","
    "\"repeat\":2}}\n"
    "{\"thing\":\"Thing02\",\"time\":4000,\"cbor\":\"a1617801\"}\n"
    "{\"thing\":\"Thing01\",\"time\":5000,\"event\":{\"type\":\"disconnect\"}}\n";

static void test_dd_export_bundle_golden(void **state)
{
    fixture_t *f = *state;
    dd_export_counts_t counts;
    char out[128];
    char path[256];
    char want[1024];
    char *command = NULL;
    char *text;
    cJSON *json;

    memset(&counts, 0, sizeof(counts));
    (void)snprintf(out, sizeof(out), "%s/bundle", f->dir);
    assert_int_equal(dd_export_bundle(f->store, &f->reg, 0, INT64_MAX, out, &counts, &command),
                     DD_EXPORT_OK);
    assert_int_equal(counts.reports, 2);
    assert_int_equal(counts.metering_lines, 6);
    assert_int_equal(counts.metering_events, 10);
    assert_int_equal(counts.ticks, 0);
    assert_int_equal(counts.last_time_ms, 5000);
    (void)snprintf(want, sizeof(want),
                   "ddlocal replay --profile %s/profiles/Bytes.json --custom-metric "
                   "temperature:number --dimension 'Telemetry:t/a/#,t/b' --things %s/things.json "
                   "--reports %s/stream.jsonl",
                   out, out, out);
    assert_string_equal(command, want);
    free(command);

    (void)snprintf(path, sizeof(path), "%s/stream.jsonl", out);
    text = read_text(path);
    assert_string_equal(text, GOLDEN);
    free(text);

    (void)snprintf(path, sizeof(path), "%s/things.json", out);
    text = read_text(path);
    json = cJSON_Parse(text);
    free(text);
    text = cJSON_PrintUnformatted(json);
    assert_string_equal(text, "{\"things\":[{\"thingName\":\"Thing01\",\"thingGroups\":"
                              "[\"Sensors\"]},{\"thingName\":\"Thing02\",\"thingGroups\":[]}],"
                              "\"thingGroups\":[{\"thingGroupName\":\"Fleet\"},{"
                              "\"thingGroupName\":\"Sensors\",\"parentGroupName\":\"Fleet\"}]}");
    cJSON_free(text);
    cJSON_Delete(json);

    (void)snprintf(path, sizeof(path), "%s/profiles/Bytes.json", out);
    text = read_text(path);
    json = cJSON_Parse(text);
    free(text);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItemCaseSensitive(json, "securityProfileName")),
                        "Bytes");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(json, "targets"),
                                               0)),
                        "arn:aws:iot:us-east-1:123456789012:thinggroup/Fleet");
    cJSON_Delete(json);

    (void)snprintf(path, sizeof(path), "%s/replay.sh", out);
    assert_true(dd_fs_exists(path));
}

static void test_dd_export_stream_range(void **state)
{
    fixture_t *f = *state;
    dd_export_counts_t counts;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    memset(&counts, 0, sizeof(counts));
    assert_int_equal(dd_export_stream(f->store, 3000, 4000, out, &counts), DD_EXPORT_OK);
    assert_int_equal(fclose(out), 0);
    /* [from, to): the 3000 lines and those before 4000, not the report at 4000. */
    assert_int_equal(counts.reports, 0);
    assert_int_equal(counts.metering_lines, 4);
    assert_non_null(strstr(buf, "\"time\":3600"));
    assert_null(strstr(buf, "\"time\":4000"));
    free(buf);
    assert_int_equal(dd_export_stream(f->store, 5, 4, stdout, NULL), DD_EXPORT_BAD_PARAMETER);
    assert_int_equal(dd_export_stream(NULL, 0, 4, stdout, NULL), DD_EXPORT_BAD_PARAMETER);
    assert_string_equal(dd_export_strerror(DD_EXPORT_IO_ERROR), "writing a file failed");
}

/* Adds a violation event at @p time_ms (the export writes a tick there). */
static void add_violation_event(fixture_t *f, int64_t time_ms)
{
    char sql[400];

    (void)snprintf(sql, sizeof(sql),
                   "INSERT INTO ev_violation_events(violation_id, thing, profile, behavior,"
                   " behavior_json, criteria_type, suppressed, event_type, value, time_ms,"
                   " verification) VALUES('v%lld', 'Thing01', 'Bytes', 'Bytes', '{}', 0, 0,"
                   " 'in-alarm', NULL, %lld, 0)",
                   (long long)time_ms, (long long)time_ms);
    assert_int_equal(sqlite3_exec(f->db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static char *export_text(fixture_t *f, int64_t from_ms, int64_t to_ms)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    assert_int_equal(dd_export_stream(f->store, from_ms, to_ms, out, NULL), DD_EXPORT_OK);
    assert_int_equal(fclose(out), 0);
    return buf;
}

/* A line's time, kind (0 report, 1 metering, 2 tick) and the index it was stored with (the
 * report's report_id, the metering topic's number; ticks -1). */
static void line_key(const char *line, size_t len, int64_t *time_ms, int *kind, long *index)
{
    cJSON *obj = cJSON_ParseWithLength(line, len);
    const cJSON *ev;
    const char *json;

    assert_non_null(obj);
    *time_ms = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(obj, "time"));
    ev = cJSON_GetObjectItemCaseSensitive(obj, "event");
    json = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "json"));
    *index = -1;
    if (json != NULL) {
        *kind = 0;
        *index = strtol(json + strlen("{\"header\":{\"report_id\":"), NULL, 10);
    } else if (ev != NULL) {
        const char *topic = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "topic"));
        *kind = 1;
        *index = topic != NULL && topic[0] == 'n' ? strtol(topic + 2, NULL, 10) : -1;
    } else {
        *kind = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "tick")) ? 2 : 0;
    }
    cJSON_Delete(obj);
}

/* The lines of @p text whose time is in [from, to), in their order. */
static char *slice(const char *text, int64_t from_ms, int64_t to_ms)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    const char *p = text;

    assert_non_null(out);
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int64_t t;
        int kind;
        long index;

        assert_non_null(nl);
        line_key(p, (size_t)(nl - p), &t, &kind, &index);
        if (t >= from_ms && t < to_ms) {
            (void)fwrite(p, 1, (size_t)(nl - p) + 1, out);
        }
        p = nl + 1;
    }
    assert_int_equal(fclose(out), 0);
    return buf;
}

/* Many reports, metering groups and violation events over several 300 s blocks with gaps,
 * stored out of time order with ties of equal time across and within the three sources. */
static void fill_history(fixture_t *f)
{
    static const int64_t GAP_START = 900000; /* two empty blocks: metering skips them */
    unsigned seed = 12345;
    int64_t row = 0;
    long i;

    for (i = 0; i < 600; i++) {
        char json[96];
        int64_t t;

        seed = seed * 1103515245u + 12345u;
        /* Times on a coarse grid (ties are common) in [0, 2100 s), none in the gap. */
        t = (int64_t)((seed >> 8) % 700) * 3000;
        if (t >= GAP_START && t < GAP_START + 600000) {
            t += 600000;
        }
        if (i % 3 == 0) {
            (void)snprintf(json, sizeof(json), "{\"header\":{\"report_id\":%ld}}", i);
            assert_int_equal(dd_store_report_insert(f->store, i % 2 ? "Thing01" : "Thing02",
                                                    (uint64_t)i, t, 0, (const uint8_t *)json,
                                                    strlen(json), &row),
                             DD_STORE_OK);
        } else if (i % 3 == 1) {
            dd_store_metering_t m;
            char topic[32];

            (void)snprintf(topic, sizeof(topic), "n/%ld", i);
            memset(&m, 0, sizeof(m));
            m.thing = "Thing01";
            m.bucket_ms = t - t % 60000;
            m.time_ms = t;
            m.kind = DD_CLOUD_MESSAGE_SENT;
            m.subject = topic;
            m.size = 10;
            m.registered = true;
            m.success = true;
            m.count = 1 + i % 4;
            assert_int_equal(dd_store_metering_add(f->store, &m), DD_STORE_OK);
        } else if (i % 9 == 2) {
            add_violation_event(f, t);
        }
    }
}

static void test_dd_export_stream_is_ordered_and_sliceable(void **state)
{
    /* Ranges on and off the 300 s blocks of the metering read, empty, and past the end. */
    static const int64_t RANGES[][2] = {
        {0, 300000},      {300000, 600000},     {123457, 777777},
        {299999, 300001}, {900000, 1500000},    {850000, 1600001},
        {1000, 1000},     {2000000, INT64_MAX}, {1500000, 1503000},
        {0, 1},
    };
    fixture_t *f = *state;
    char *full;
    char *part;
    char *want;
    const char *p;
    int64_t prev_time = -1;
    int prev_kind = 0;
    long prev_index = -1;
    size_t lines = 0;
    size_t i;

    fill_history(f);
    full = export_text(f, 0, INT64_MAX);
    /* Time order; equal times: reports, then metering, then ticks, each as stored. */
    for (p = full; *p != '\0'; p = strchr(p, '\n') + 1) {
        int64_t t;
        int kind;
        long index;

        line_key(p, (size_t)(strchr(p, '\n') - p), &t, &kind, &index);
        assert_true(t >= prev_time);
        if (t == prev_time) {
            assert_true(kind >= prev_kind);
            if (kind == prev_kind && kind != 2 && index >= 0 && prev_index >= 0) {
                assert_true(index > prev_index);
            }
        }
        prev_time = t;
        prev_kind = kind;
        prev_index = index;
        lines++;
    }
    assert_true(lines > 400);
    for (i = 0; i < sizeof(RANGES) / sizeof(RANGES[0]); i++) {
        part = export_text(f, RANGES[i][0], RANGES[i][1]);
        want = slice(full, RANGES[i][0], RANGES[i][1]);
        assert_string_equal(part, want);
        free(part);
        free(want);
    }
    /* record's blocks, one after the other, add up to the whole export. */
    {
        char *joined = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&joined, &len);
        int64_t from;

        for (from = 0; from < 2400000; from += 300000) {
            assert_int_equal(dd_export_stream(f->store, from, from + 300000, out, NULL),
                             DD_EXPORT_OK);
        }
        assert_int_equal(fclose(out), 0);
        assert_string_equal(joined, full);
        free(joined);
    }
    free(full);
}

static void test_dd_export_reader_lines(void **state)
{
    fixture_t *f = *state;
    dd_export_reader_t *r = NULL;
    dd_export_counts_t counts;
    const char *line = NULL;
    bool has = true;
    size_t n = 0;

    add_violation_event(f, 3000);
    assert_int_equal(dd_export_reader_open(f->store, 2000, 3001, &r), DD_EXPORT_OK);
    while (has) {
        assert_int_equal(dd_export_reader_next(r, &line, &has), DD_EXPORT_OK);
        n += has ? 1 : 0;
    }
    /* The report at 2000, the two groups at 3000, the tick after them. */
    assert_int_equal(n, 4);
    memset(&counts, 0, sizeof(counts));
    dd_export_reader_counts(r, &counts);
    assert_int_equal(counts.reports, 1);
    assert_int_equal(counts.metering_lines, 2);
    assert_int_equal(counts.ticks, 1);
    assert_int_equal(counts.last_time_ms, 3000);
    dd_export_reader_close(r);
    assert_int_equal(dd_export_reader_open(f->store, 5, 4, &r), DD_EXPORT_BAD_PARAMETER);
    assert_null(r);
    dd_export_reader_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_export_bundle_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_export_stream_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_export_stream_is_ordered_and_sliceable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_export_reader_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
