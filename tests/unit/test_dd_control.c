/*
 * dd_control: the control protocol between ddlocal's services and the broker
 * shim - registry batches (built by hand and from a real registry), the
 * bare single-entity form, clock messages and responses, each encoded then
 * decoded; malformed messages refused with a message naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_clock.h"
#include "dd_control.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_registry.h"

#define CERT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DOC_ALLOW_ALL                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"

static dd_control_status_t decode(const char *topic, const char *payload, dd_control_message_t *msg,
                                  char *err, size_t err_len)
{
    return dd_control_decode(topic, payload, payload != NULL ? strlen(payload) : 0, msg, err,
                             err_len);
}

static void expect_malformed(const char *topic, const char *payload, dd_control_status_t want,
                             const char *msg_part)
{
    dd_control_message_t msg;
    char err[DD_CONTROL_ERROR_MAX];
    dd_control_status_t st = decode(topic, payload, &msg, err, sizeof(err));

    if (st != want || strstr(err, msg_part) == NULL) {
        print_error("payload %s\n  got %s \"%s\", want %s containing \"%s\"\n", payload,
                    dd_control_strerror(st), err, dd_control_strerror(want), msg_part);
        fail();
    }
    /* Left empty, and freeing it again is harmless. */
    assert_null(msg.root);
    assert_null(msg.entities);
    assert_int_equal(msg.count, 0);
    dd_control_message_free(&msg);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_dd_control_batch_round_trip(void **state)
{
    dd_control_batch_t b;
    dd_control_message_t msg;
    cJSON *thing = cJSON_Parse("{\"exists\":true,\"groups\":[\"IsolatedDevices\"]}");
    cJSON *cert = cJSON_Parse("{\"exists\":true,\"status\":\"INACTIVE\",\"service\":false,"
                              "\"things\":[\"Thing03\"],\"policies\":[]}");
    cJSON *gone = cJSON_Parse("{\"exists\":false}");
    char *payload = NULL;
    size_t len = 0;
    char err[DD_CONTROL_ERROR_MAX];

    (void)state;
    assert_int_equal(dd_control_batch_init(&b, "42", false), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_THING, "Thing03", thing),
                     DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_CERT, CERT_A, cert), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_POLICY, "Old", gone), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_count(&b), 3);
    /* Names are validated for their kind. */
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_CERT, "not-hex", cert),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_THING, "bad name", thing),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_COUNT, "T", thing),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_batch_add(&b, DD_REGISTRY_KIND_THING, "T", NULL),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_batch_count(&b), 3);
    assert_int_equal(dd_control_batch_encode(&b, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(strlen(payload), len);
    dd_control_batch_free(&b);
    dd_control_batch_free(&b);
    /* The batch copied the states. */
    cJSON_Delete(thing);
    cJSON_Delete(cert);
    cJSON_Delete(gone);

    /* The payload need not be NUL-terminated. */
    assert_int_equal(dd_control_decode(DD_CONTROL_TOPIC_REGISTRY, payload, len, &msg, err,
                                       sizeof(err)),
                     DD_CONTROL_OK);
    assert_string_equal(err, "");
    assert_int_equal(msg.type, DD_CONTROL_REGISTRY);
    assert_string_equal(msg.id, "42");
    assert_false(msg.full);
    assert_int_equal(msg.count, 3);
    assert_int_equal(msg.entities[0].kind, DD_REGISTRY_KIND_THING);
    assert_string_equal(msg.entities[0].name, "Thing03");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(msg.entities[0].state, "groups"), 0)->valuestring,
        "IsolatedDevices");
    assert_int_equal(msg.entities[1].kind, DD_REGISTRY_KIND_CERT);
    assert_string_equal(msg.entities[1].name, CERT_A);
    assert_string_equal(cJSON_GetObjectItem(msg.entities[1].state, "status")->valuestring,
                        "INACTIVE");
    assert_int_equal(msg.entities[2].kind, DD_REGISTRY_KIND_POLICY);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(msg.entities[2].state, "exists")));
    dd_control_message_free(&msg);
    dd_control_message_free(&msg);
    free(payload);

    /* A full snapshot without an id, and an empty one. */
    assert_int_equal(dd_control_batch_init(&b, NULL, true), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_encode(&b, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(decode(DD_CONTROL_TOPIC_REGISTRY, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_true(msg.full);
    assert_null(msg.id);
    assert_int_equal(msg.count, 0);
    dd_control_message_free(&msg);
    dd_control_batch_free(&b);
    free(payload);
}

static void test_dd_control_bare_entity(void **state)
{
    dd_control_message_t msg;

    (void)state;
    assert_int_equal(decode(DD_CONTROL_TOPIC_REGISTRY,
                            "{\"kind\":\"group\",\"name\":\"IsolatedDevices\",\"id\":\"x\","
                            "\"state\":{\"exists\":true,\"parent\":null,\"policies\":[\"D\"]}}",
                            &msg, NULL, 0),
                     DD_CONTROL_OK);
    assert_int_equal(msg.count, 1);
    assert_int_equal(msg.entities[0].kind, DD_REGISTRY_KIND_GROUP);
    assert_string_equal(msg.entities[0].name, "IsolatedDevices");
    assert_string_equal(msg.id, "x");
    dd_control_message_free(&msg);
}

static void test_dd_control_clock_and_response(void **state)
{
    dd_control_message_t msg;
    char *payload = NULL;
    size_t len = 0;
    char id[DD_CONTROL_ID_MAX + 1];
    char error[DD_CONTROL_ERROR_MAX];
    bool ok = true;

    (void)state;
    assert_int_equal(dd_control_encode_clock("manual:1700000000000", "c1", &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(decode(DD_CONTROL_TOPIC_CLOCK, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_int_equal(msg.type, DD_CONTROL_CLOCK);
    assert_string_equal(msg.clock_spec, "manual:1700000000000");
    assert_string_equal(msg.id, "c1");
    dd_control_message_free(&msg);
    free(payload);
    assert_int_equal(dd_control_encode_clock("", NULL, &payload, &len), DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_encode_clock(NULL, NULL, &payload, &len), DD_CONTROL_BAD_PARAMETER);

    /* Responses: ok, and refused with the reason. */
    assert_int_equal(dd_control_encode_response("42", true, NULL, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(dd_control_decode_response(payload, len, id, &ok, error, sizeof(error)),
                     DD_CONTROL_OK);
    assert_string_equal(id, "42");
    assert_true(ok);
    assert_string_equal(error, "");
    assert_null(strstr(payload, "error"));
    free(payload);
    assert_int_equal(dd_control_encode_response("43", false,
                                                "policy Bad: Statement[0].Effect must be "
                                                "\"Allow\" or \"Deny\"",
                                                &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(dd_control_decode_response(payload, len, id, &ok, error, sizeof(error)),
                     DD_CONTROL_OK);
    assert_string_equal(id, "43");
    assert_false(ok);
    assert_string_equal(error, "policy Bad: Statement[0].Effect must be \"Allow\" or \"Deny\"");
    free(payload);
    /* Refused without a reason still says so. */
    assert_int_equal(dd_control_encode_response("44", false, NULL, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(dd_control_decode_response(payload, len, id, &ok, error, sizeof(error)),
                     DD_CONTROL_OK);
    assert_string_equal(error, "refused");
    free(payload);
    /* Responses need an id. */
    assert_int_equal(dd_control_encode_response(NULL, true, NULL, &payload, &len),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_encode_response("", true, NULL, &payload, &len),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_decode_response("{\"ok\":true}", 11, id, &ok, NULL, 0),
                     DD_CONTROL_MALFORMED);
    assert_int_equal(dd_control_decode_response("{\"id\":\"1\",\"ok\":1}", 17, id, &ok, NULL, 0),
                     DD_CONTROL_MALFORMED);
    assert_int_equal(dd_control_decode_response("nope", 4, id, &ok, NULL, 0), DD_CONTROL_MALFORMED);
    /* A second "ok" used to be ignored (the first won). */
    assert_int_equal(dd_control_decode_response("{\"id\":\"1\",\"ok\":true,\"ok\":false}", 31, id,
                                                &ok, NULL, 0),
                     DD_CONTROL_MALFORMED);
    assert_int_equal(dd_control_decode_response(NULL, 0, id, &ok, NULL, 0),
                     DD_CONTROL_BAD_PARAMETER);
}

static void test_dd_control_kick(void **state)
{
    dd_control_message_t msg;
    char *payload = NULL;
    size_t len = 0;
    char err[DD_CONTROL_ERROR_MAX];

    (void)state;
    assert_int_equal(dd_control_encode_kick("Thing-1", NULL, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(decode(DD_CONTROL_TOPIC_KICK, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_int_equal(msg.type, DD_CONTROL_KICK);
    assert_string_equal(msg.thing, "Thing-1");
    assert_null(msg.id);
    dd_control_message_free(&msg);
    free(payload);
    assert_int_equal(dd_control_encode_kick("a b", NULL, &payload, &len), DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_encode_kick(NULL, "1", &payload, &len), DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(decode(DD_CONTROL_TOPIC_KICK, "{\"id\":\"1\"}", &msg, err, sizeof(err)),
                     DD_CONTROL_MALFORMED);
    assert_non_null(strstr(err, "\"thing\""));
    assert_int_equal(decode(DD_CONTROL_TOPIC_KICK, "{\"thing\":\"a/b\"}", &msg, NULL, 0),
                     DD_CONTROL_MALFORMED);
}

static void test_dd_control_ids(void **state)
{
    char long_id[DD_CONTROL_ID_MAX + 2];
    char payload[512];
    dd_control_batch_t b;

    (void)state;
    memset(long_id, 'i', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(dd_control_batch_init(&b, long_id, false), DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_batch_init(&b, "", false), DD_CONTROL_BAD_PARAMETER);
    long_id[DD_CONTROL_ID_MAX] = '\0';
    assert_int_equal(dd_control_batch_init(&b, long_id, false), DD_CONTROL_OK);
    dd_control_batch_free(&b);
    long_id[DD_CONTROL_ID_MAX] = 'i';
    (void)snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"entities\":[]}", long_id);
    expect_malformed(DD_CONTROL_TOPIC_REGISTRY, payload, DD_CONTROL_MALFORMED,
                     "\"id\" must be a string of 1 to 128 bytes");
}

static void test_dd_control_malformed(void **state)
{
    static const struct {
        const char *topic;
        const char *payload;
        dd_control_status_t want;
        const char *msg;
    } cases[] = {
        {"$CONTROL/ddlocal/v1/other", "{}", DD_CONTROL_UNKNOWN_TOPIC, "unknown control topic"},
        {"$CONTROL/dynamic-security/v1", "{}", DD_CONTROL_UNKNOWN_TOPIC, "unknown control topic"},
        {DD_CONTROL_TOPIC_REGISTRY, "", DD_CONTROL_MALFORMED, "not valid JSON"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":[", DD_CONTROL_MALFORMED, "not valid JSON"},
        /* Issue 10: cJSON took these (the second "full" silently lost). */
        {DD_CONTROL_TOPIC_REGISTRY, "{\"full\":true,\"full\":false,\"entities\":[]}",
         DD_CONTROL_MALFORMED, "not valid JSON: duplicate object key \"full\""},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":[]} x", DD_CONTROL_MALFORMED,
         "not valid JSON: unexpected text after the JSON value"},
        {DD_CONTROL_TOPIC_CLOCK, "{\"clock\":\"manual:1\",\"x\":01}", DD_CONTROL_MALFORMED,
         "not valid JSON: parse error: after key and value, inside map, I expect ',' or '}'"},
        {DD_CONTROL_TOPIC_REGISTRY, "[1,2]", DD_CONTROL_MALFORMED, "not a JSON object"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"id\":7,\"entities\":[]}", DD_CONTROL_MALFORMED,
         "\"id\" must be a string"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"full\":\"yes\",\"entities\":[]}", DD_CONTROL_MALFORMED,
         "\"full\" must be a boolean"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":{}}", DD_CONTROL_MALFORMED,
         "\"entities\" must be an array"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":[5]}", DD_CONTROL_MALFORMED,
         "entities[0] is not an object"},
        {DD_CONTROL_TOPIC_REGISTRY,
         "{\"entities\":[{\"kind\":\"thing\",\"name\":\"T\",\"state\":{\"exists\":false}},"
         "{\"kind\":\"user\",\"name\":\"T\",\"state\":{\"exists\":false}}]}",
         DD_CONTROL_MALFORMED, "entities[1].kind must be"},
        {DD_CONTROL_TOPIC_REGISTRY,
         "{\"entities\":[{\"kind\":\"cert\",\"name\":\"abc\",\"state\":{\"exists\":false}}]}",
         DD_CONTROL_MALFORMED, "entities[0].name is not a valid certificate"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"entities\":[{\"kind\":\"thing\",\"name\":\"T\"}]}",
         DD_CONTROL_MALFORMED, "entities[0].state must be an object with a boolean \"exists\""},
        {DD_CONTROL_TOPIC_REGISTRY,
         "{\"entities\":[{\"kind\":\"thing\",\"name\":\"T\",\"state\":{\"exists\":\"no\"}}]}",
         DD_CONTROL_MALFORMED, "entities[0].state must be"},
        {DD_CONTROL_TOPIC_REGISTRY, "{\"kind\":\"thing\",\"name\":\"T\"}", DD_CONTROL_MALFORMED,
         "entities[0].state"},
        {DD_CONTROL_TOPIC_CLOCK, "{}", DD_CONTROL_MALFORMED,
         "\"clock\" must be a clock spec string"},
        {DD_CONTROL_TOPIC_CLOCK, "{\"clock\":\"\"}", DD_CONTROL_MALFORMED, "\"clock\" must be"},
        {DD_CONTROL_TOPIC_CLOCK, "{\"clock\":12}", DD_CONTROL_MALFORMED, "\"clock\" must be"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_malformed(cases[i].topic, cases[i].payload, cases[i].want, cases[i].msg);
    }
    {
        dd_control_message_t msg;

        assert_int_equal(dd_control_decode(NULL, "{}", 2, &msg, NULL, 0), DD_CONTROL_BAD_PARAMETER);
        assert_int_equal(dd_control_decode(DD_CONTROL_TOPIC_CLOCK, NULL, 2, &msg, NULL, 0),
                         DD_CONTROL_BAD_PARAMETER);
        assert_int_equal(dd_control_decode(DD_CONTROL_TOPIC_CLOCK, "{}", 2, NULL, NULL, 0),
                         DD_CONTROL_BAD_PARAMETER);
        /* A length shorter than the text: only that much is read. */
        assert_int_equal(dd_control_decode(DD_CONTROL_TOPIC_CLOCK, "{\"clock\":\"real\"}xyz", 16,
                                           &msg, NULL, 0),
                         DD_CONTROL_OK);
        dd_control_message_free(&msg);
    }
}

/* ---- from a real registry ---------------------------------------------------------------- */

typedef struct regdb {
    char dir[64];
    sqlite3 *db;
    dd_registry_t reg;
    dd_clock_t clock;
} regdb_t;

static int reg_setup(void **state)
{
    static regdb_t r;
    char path[128];
    dd_registry_error_t err;

    memset(&r, 0, sizeof(r));
    (void)snprintf(r.dir, sizeof(r.dir), "/tmp/test_dd_control.XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", r.dir);
    assert_int_equal(dd_db_open(path, false, &r.db), DD_DB_OK);
    (void)dd_clock_init_manual(&r.clock, 1700000000000);
    assert_int_equal(dd_registry_open(&r.reg, r.db, NULL, &r.clock), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&r.reg, "Thing03", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&r.reg, "Quarantine", NULL, NULL, NULL, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&r.reg, "IsolatedDevices", "Quarantine", NULL, NULL,
                                              NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_add_thing(&r.reg, "IsolatedDevices", "Thing03", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&r.reg, "Deny", DOC_ALLOW_ALL, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_attach(&r.reg, "Deny",
                                               "arn:aws:iot:us-east-1:123456789012:thinggroup/"
                                               "IsolatedDevices",
                                               &err),
                     DD_REGISTRY_OK);
    *state = &r;
    return 0;
}

static int reg_teardown(void **state)
{
    regdb_t *r = *state;

    dd_db_close(r->db);
    (void)dd_fs_remove_tree(r->dir);
    return 0;
}

static const dd_control_entity_t *find_entity(const dd_control_message_t *msg,
                                              dd_registry_kind_t kind, const char *name)
{
    size_t i;

    for (i = 0; i < msg->count; i++) {
        if (msg->entities[i].kind == kind && strcmp(msg->entities[i].name, name) == 0) {
            return &msg->entities[i];
        }
    }
    return NULL;
}

static void test_dd_control_from_registry(void **state)
{
    regdb_t *r = *state;
    dd_control_batch_t b;
    dd_control_message_t msg;
    const dd_control_entity_t *e;
    char *payload = NULL;
    size_t len = 0;

    /* One entity per change-log entry, as ddlocald sends them. */
    assert_int_equal(dd_control_encode_entity(&r->reg, DD_REGISTRY_KIND_THING, "Thing03", "7",
                                              &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(decode(DD_CONTROL_TOPIC_REGISTRY, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_string_equal(msg.id, "7");
    assert_int_equal(msg.count, 1);
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(msg.entities[0].state, "groups"), 0)->valuestring,
        "IsolatedDevices");
    dd_control_message_free(&msg);
    free(payload);

    /* A deleted entity is sent as {"exists":false}. */
    assert_int_equal(dd_control_encode_entity(&r->reg, DD_REGISTRY_KIND_THING, "Gone", NULL,
                                              &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(decode(DD_CONTROL_TOPIC_REGISTRY, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(msg.entities[0].state, "exists")));
    dd_control_message_free(&msg);
    free(payload);
    assert_int_equal(dd_control_encode_entity(&r->reg, DD_REGISTRY_KIND_THING, "bad name", NULL,
                                              &payload, &len),
                     DD_CONTROL_BAD_PARAMETER);

    /* The full snapshot: every entity of every kind. */
    assert_int_equal(dd_control_batch_init(&b, "full-1", true), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_add_all(&b, &r->reg), DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_count(&b), 4);
    assert_int_equal(dd_control_batch_add_from_registry(&b, &r->reg, DD_REGISTRY_KIND_GROUP,
                                                        "Quarantine"),
                     DD_CONTROL_OK);
    assert_int_equal(dd_control_batch_encode(&b, &payload, &len), DD_CONTROL_OK);
    dd_control_batch_free(&b);
    assert_int_equal(decode(DD_CONTROL_TOPIC_REGISTRY, payload, &msg, NULL, 0), DD_CONTROL_OK);
    assert_true(msg.full);
    assert_int_equal(msg.count, 5);
    e = find_entity(&msg, DD_REGISTRY_KIND_GROUP, "IsolatedDevices");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e->state, "parent")->valuestring, "Quarantine");
    e = find_entity(&msg, DD_REGISTRY_KIND_POLICY, "Deny");
    assert_non_null(e);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e->state, "document")));
    dd_control_message_free(&msg);
    free(payload);

    assert_int_equal(dd_control_batch_add_all(NULL, &r->reg), DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_name_kind(DD_REGISTRY_KIND_CERT), DD_NAME_CERTIFICATE);
    assert_int_equal(dd_control_name_kind(DD_REGISTRY_KIND_GROUP), DD_NAME_THING_GROUP);
    assert_int_equal(dd_control_name_kind(DD_REGISTRY_KIND_COUNT), DD_NAME_KIND_COUNT);
    assert_string_equal(dd_control_strerror(DD_CONTROL_UNKNOWN_TOPIC), "unknown control topic");
    assert_string_equal(dd_control_strerror((dd_control_status_t)77), "unknown status");
}

static void test_dd_control_provisioning_topics(void **state)
{
    char buf[512];
    char id[DD_CONTROL_PROV_CLIENT_ID_MAX + 1];
    char long_id[DD_CONTROL_PROV_CLIENT_ID_MAX + 2];
    const char *topic = NULL;

    (void)state;
    /* Hex keeps a client id with topic separators in one level. */
    assert_int_equal(dd_control_prov_wrap(DD_CONTROL_PROV_REQUEST_PREFIX, "a/+#",
                                          "$aws/certificates/create/json", buf, sizeof(buf)),
                     DD_CONTROL_OK);
    assert_string_equal(buf,
                        DD_CONTROL_PROV_REQUEST_PREFIX "612f2b23/$aws/certificates/create/json");
    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REQUEST_PREFIX, buf, id, sizeof(id),
                                            &topic),
                     DD_CONTROL_OK);
    assert_string_equal(id, "a/+#");
    assert_string_equal(topic, "$aws/certificates/create/json");

    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX, buf, id, sizeof(id),
                                            &topic),
                     DD_CONTROL_UNKNOWN_TOPIC);
    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX,
                                            DD_CONTROL_PROV_REPLY_PREFIX "6g/x", id, sizeof(id),
                                            &topic),
                     DD_CONTROL_UNKNOWN_TOPIC);
    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX,
                                            DD_CONTROL_PROV_REPLY_PREFIX "616/x", id, sizeof(id),
                                            &topic),
                     DD_CONTROL_UNKNOWN_TOPIC);
    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX,
                                            DD_CONTROL_PROV_REPLY_PREFIX "61/", id, sizeof(id),
                                            &topic),
                     DD_CONTROL_UNKNOWN_TOPIC);
    assert_int_equal(dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX,
                                            DD_CONTROL_PROV_REPLY_PREFIX "0061/x", id, sizeof(id),
                                            &topic),
                     DD_CONTROL_UNKNOWN_TOPIC);
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(dd_control_prov_wrap(DD_CONTROL_PROV_REQUEST_PREFIX, long_id, "t", buf,
                                          sizeof(buf)),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_prov_wrap(DD_CONTROL_PROV_REQUEST_PREFIX, "", "t", buf,
                                          sizeof(buf)),
                     DD_CONTROL_BAD_PARAMETER);
    assert_int_equal(dd_control_prov_wrap(DD_CONTROL_PROV_REQUEST_PREFIX, "abc", "t", buf, 10),
                     DD_CONTROL_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_control_batch_round_trip),
        cmocka_unit_test(test_dd_control_bare_entity),
        cmocka_unit_test(test_dd_control_clock_and_response),
        cmocka_unit_test(test_dd_control_kick),
        cmocka_unit_test(test_dd_control_ids),
        cmocka_unit_test(test_dd_control_malformed),
        cmocka_unit_test(test_dd_control_provisioning_topics),
        cmocka_unit_test_setup_teardown(test_dd_control_from_registry, reg_setup, reg_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
