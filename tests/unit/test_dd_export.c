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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_export_bundle_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_export_stream_range, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
