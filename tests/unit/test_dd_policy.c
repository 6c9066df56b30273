#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fs.h"
#include "dd_names.h"
#include "dd_policy.h"

#define ARN_PREFIX "arn:aws:iot:us-east-1:123456789012:"

/* ---- helpers ---------------------------------------------------------------- */

static dd_policy_t *parse_ok(const char *doc)
{
    dd_policy_t *p = NULL;
    char err[DD_POLICY_ERROR_MAX];
    dd_policy_status_t st = dd_policy_parse(doc, strlen(doc), &p, err, sizeof(err));

    if (st != DD_POLICY_OK) {
        print_error("unexpected refusal (%s): %s\n  document: %s\n", dd_policy_strerror(st), err,
                    doc);
    }
    assert_int_equal(st, DD_POLICY_OK);
    assert_string_equal(err, "");
    assert_non_null(p);
    return p;
}

static dd_policy_t *parse_file(const char *name)
{
    char path[512];
    char *text = NULL;
    dd_policy_t *p;

    (void)snprintf(path, sizeof(path), "%s/fixtures/policies/%s", DD_SOURCE_DIR, name);
    assert_int_equal(dd_fs_read_file(path, 0, &text, NULL), DD_FS_OK);
    p = parse_ok(text);
    free(text);
    return p;
}

/* Refused with exactly this status and message (prefix when @prefix). */
static void refuse(const char *doc, dd_policy_status_t want, const char *msg, bool prefix)
{
    dd_policy_t *p = (dd_policy_t *)1;
    char err[DD_POLICY_ERROR_MAX];
    dd_policy_status_t st = dd_policy_parse(doc, strlen(doc), &p, err, sizeof(err));

    if (st != want || (prefix ? strncmp(err, msg, strlen(msg)) != 0 : strcmp(err, msg) != 0)) {
        print_error("document: %s\n  got %s: \"%s\"\n  want %s: \"%s\"\n", doc,
                    dd_policy_strerror(st), err, dd_policy_strerror(want), msg);
        fail();
    }
    assert_null(p);
    /* validate() agrees. */
    assert_int_equal(dd_policy_validate(doc, strlen(doc), NULL, 0), want);
}

/* A one-statement policy document. */
static char *doc1(const char *effect, const char *action_json, const char *resource_json)
{
    static char buf[4096];

    (void)snprintf(buf, sizeof(buf),
                   "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"%s\","
                   "\"Action\":%s,\"Resource\":%s}]}",
                   effect, action_json, resource_json);
    return buf;
}

static dd_policy_decision_t decide_m(const dd_policy_t *const *ps, size_t n,
                                     dd_policy_action_t action, const char *name,
                                     const char *client, const char *thing, dd_policy_match_t *m)
{
    dd_arn_ctx_t ctx;
    char arn[DD_POLICY_RESOURCE_MAX];
    dd_policy_vars_t vars = {client, thing};
    dd_policy_decision_t d = DD_POLICY_ALLOW;

    dd_arn_ctx_default(&ctx);
    assert_int_equal(dd_policy_resource_arn(&ctx, action, name, arn, sizeof(arn)), DD_POLICY_OK);
    assert_int_equal(dd_policy_evaluate(ps, n, action, arn, &vars, &d, m), DD_POLICY_OK);
    return d;
}

static dd_policy_decision_t decide(const dd_policy_t *p, dd_policy_action_t action,
                                   const char *name, const char *client, const char *thing)
{
    return decide_m(&p, 1, action, name, client, thing, NULL);
}

/* Does topic @topic match the one resource pattern topic/@pat? */
static bool topic_matches(const char *pat, const char *topic)
{
    char res[512];
    dd_policy_t *p;
    bool r;

    (void)snprintf(res, sizeof(res), "\"" ARN_PREFIX "topic/%s\"", pat);
    p = parse_ok(doc1("Allow", "\"iot:Publish\"", res));
    r = decide(p, DD_POLICY_ACTION_PUBLISH, topic, NULL, NULL) == DD_POLICY_ALLOW;
    dd_policy_free(p);
    return r;
}

#define ALLOW DD_POLICY_ALLOW
#define DENY DD_POLICY_DENY_EXPLICIT
#define NONE DD_POLICY_DENY_DEFAULT
#define CONNECT DD_POLICY_ACTION_CONNECT
#define PUBLISH DD_POLICY_ACTION_PUBLISH
#define SUBSCRIBE DD_POLICY_ACTION_SUBSCRIBE
#define RECEIVE DD_POLICY_ACTION_RECEIVE
#define RETAIN DD_POLICY_ACTION_RETAIN_PUBLISH

/* ---- resource wildcards --------------------------------------------------------- */

static void test_dd_policy_wildcards(void **state)
{
    char long_a[301];

    (void)state;
    /* `*` spans `/` and may be empty. */
    assert_true(topic_matches("a/*/c", "a/x/c"));
    assert_true(topic_matches("a/*/c", "a/x/y/z/c"));
    assert_true(topic_matches("a/*/c", "a//c"));
    assert_false(topic_matches("a/*/c", "a/c"));
    assert_false(topic_matches("a/*/c", "a/x/cd"));
    assert_true(topic_matches("a*", "a"));
    assert_true(topic_matches("a**b", "ab"));
    assert_true(topic_matches("*", "anything/at/all"));
    /* `?` is exactly one character, a UTF-8 sequence counting as one. */
    assert_true(topic_matches("sensor?", "sensor1"));
    assert_false(topic_matches("sensor?", "sensor"));
    assert_false(topic_matches("sensor?", "sensor12"));
    assert_true(topic_matches("sensor?", "sensor/"));
    assert_true(topic_matches("sensor?", "sensor\xc3\xa9"));
    assert_true(topic_matches("t\xc3\xa9?", "t\xc3\xa9x"));
    assert_false(topic_matches("*??", "\xc3\xa9"));
    assert_true(topic_matches("*?", "\xc3\xa9"));
    /* Backtracking. */
    assert_true(topic_matches("*ab*ab", "xabab"));
    assert_true(topic_matches("*ab*ab", "abab"));
    assert_false(topic_matches("*ab*ab", "aba"));
    assert_true(topic_matches("a*b?d", "axxbcbxd"));
    assert_false(topic_matches("a*b?d", "axxbcbxdd"));
    /* Case-sensitive. */
    assert_false(topic_matches("Temp", "temp"));
    assert_true(topic_matches("Temp", "Temp"));
    /* ${*} ${?} ${$} are the characters themselves. */
    assert_true(topic_matches("lit${*}", "lit*"));
    assert_false(topic_matches("lit${*}", "litX"));
    assert_true(topic_matches("q${?}", "q?"));
    assert_false(topic_matches("q${?}", "qx"));
    assert_true(topic_matches("${$}{x}", "${x}"));
    /* A pathological pattern ends quickly (no exponential backtracking). */
    memset(long_a, 'a', 300);
    long_a[300] = '\0';
    assert_false(topic_matches("*a*a*a*a*a*a*a*a*a*a*b", long_a));
    assert_true(topic_matches("*a*a*a*a*a*a*a*a*a*a*", long_a));
}

static void test_dd_policy_mqtt_wildcards_are_literal(void **state)
{
    dd_policy_t *p;

    (void)state;
    p = parse_ok(doc1("Allow", "\"iot:Subscribe\"",
                      "[\"" ARN_PREFIX "topicfilter/devices/+/status\","
                      "\"" ARN_PREFIX "topicfilter/logs/#\"]"));
    assert_int_equal(decide(p, SUBSCRIBE, "devices/+/status", NULL, NULL), ALLOW);
    assert_int_equal(decide(p, SUBSCRIBE, "devices/x/status", NULL, NULL), NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "logs/#", NULL, NULL), ALLOW);
    assert_int_equal(decide(p, SUBSCRIBE, "logs/a", NULL, NULL), NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "logs/+", NULL, NULL), NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "#", NULL, NULL), NONE);
    /* Subscribe is checked against topicfilter/, never topic/. */
    assert_int_equal(decide(p, PUBLISH, "logs/#", NULL, NULL), NONE);
    dd_policy_free(p);
}

/* Reference matcher: plain recursion over ASCII, obviously right. */
static bool ref_match(const char *p, const char *s)
{
    if (*p == '\0') {
        return *s == '\0';
    }
    if (*p == '*') {
        return ref_match(p + 1, s) || (*s != '\0' && ref_match(p, s + 1));
    }
    if (*s == '\0') {
        return false;
    }
    return (*p == '?' || *p == *s) && ref_match(p + 1, s + 1);
}

static void test_dd_policy_glob_matches_reference(void **state)
{
    static const char PAT_CHARS[] = "ab/*?";
    static const char STR_CHARS[] = "ab/";
    uint32_t seed = 12345;
    int i;

    (void)state;
    for (i = 0; i < 3000; i++) {
        char pat[12];
        char str[14];
        int plen;
        int slen;
        int k;

        seed = seed * 1103515245u + 12345u;
        plen = 1 + (int)((seed >> 16) % 10);
        for (k = 0; k < plen; k++) {
            seed = seed * 1103515245u + 12345u;
            pat[k] = PAT_CHARS[(seed >> 16) % 5];
        }
        pat[plen] = '\0';
        seed = seed * 1103515245u + 12345u;
        slen = (int)((seed >> 16) % 13);
        for (k = 0; k < slen; k++) {
            seed = seed * 1103515245u + 12345u;
            str[k] = STR_CHARS[(seed >> 16) % 3];
        }
        str[slen] = '\0';
        if (topic_matches(pat, str) != ref_match(pat, str)) {
            print_error("pattern \"%s\" text \"%s\": want %d\n", pat, str, ref_match(pat, str));
            fail();
        }
    }
}

/* ---- document forms and actions ----------------------------------------------- */

static void test_dd_policy_string_and_list_forms(void **state)
{
    static const char *const DOCS[] = {
        "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
        "\"Action\":\"iot:Publish\",\"Resource\":\"" ARN_PREFIX "topic/t\"}}",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
        "\"Action\":[\"iot:Publish\"],\"Resource\":[\"" ARN_PREFIX "topic/t\"]}]}",
        "{\"Version\":\"2012-10-17\",\"Id\":\"x\",\"Statement\":[{\"Sid\":\"S\",\"Effect\":"
        "\"Allow\","
        "\"Action\":[\"iot:Connect\",\"iot:Publish\"],"
        "\"Resource\":[\"" ARN_PREFIX "client/nobody\",\"" ARN_PREFIX "topic/t\"]}]}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(DOCS) / sizeof(DOCS[0]); i++) {
        dd_policy_t *p = parse_ok(DOCS[i]);

        assert_int_equal(dd_policy_statement_count(p), 1);
        assert_int_equal(decide(p, PUBLISH, "t", NULL, NULL), ALLOW);
        assert_int_equal(decide(p, PUBLISH, "u", NULL, NULL), NONE);
        assert_int_equal(decide(p, SUBSCRIBE, "t", NULL, NULL), NONE);
        assert_int_equal(decide(p, RECEIVE, "t", NULL, NULL), NONE);
        dd_policy_free(p);
    }
}

static void test_dd_policy_action_wildcards(void **state)
{
    static const struct {
        const char *action;
        unsigned mask; /* bit per dd_policy_action_t */
    } CASES[] = {
        {"\"iot:*\"", 0x1f},
        {"\"*\"", 0x1f},
        {"\"iot:Pub*\"", 1u << PUBLISH},
        {"\"iot:*Publish\"", (1u << PUBLISH) | (1u << RETAIN)},
        {"\"IOT:publish\"", 1u << PUBLISH},
        {"\"iot:?onnect\"", 1u << CONNECT},
        {"\"iot:Receive\"", 1u << RECEIVE},
        {"\"iot:Subscribe\"", 1u << SUBSCRIBE},
        {"\"iot:RetainPublish\"", 1u << RETAIN},
        {"\"iot:UpdateThingShadow\"", 0},
        {"\"greengrass:*\"", 0},
        {"[\"iot:UpdateThingShadow\",\"iot:Connect\"]", 1u << CONNECT},
        {"\"iot:Publish*\"", 1u << PUBLISH},
    };
    size_t i;
    int a;

    (void)state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        dd_policy_t *p = parse_ok(doc1("Allow", CASES[i].action, "\"*\""));

        for (a = 0; a < DD_POLICY_ACTION_COUNT; a++) {
            dd_policy_decision_t want = (CASES[i].mask & (1u << a)) ? ALLOW : NONE;

            if (decide(p, (dd_policy_action_t)a, "x", "c", "T") != want) {
                print_error("Action %s, %s: want %s\n", CASES[i].action,
                            dd_policy_action_name((dd_policy_action_t)a),
                            dd_policy_decision_name(want));
                fail();
            }
        }
        dd_policy_free(p);
    }
}

/* ---- variables ------------------------------------------------------------------ */

static void test_dd_policy_client_id_variable(void **state)
{
    dd_policy_t *p;

    (void)state;
    p = parse_ok(doc1("Allow", "\"iot:Connect\"", "\"" ARN_PREFIX "client/${iot:ClientId}\""));
    assert_int_equal(decide(p, CONNECT, "dev1", "dev1", NULL), ALLOW);
    assert_int_equal(decide(p, CONNECT, "dev2", "dev1", NULL), NONE);
    assert_int_equal(decide(p, CONNECT, "dev1", NULL, NULL), NONE);
    assert_int_equal(decide(p, CONNECT, "", "", NULL), NONE);
    /* The value is literal text: a client id "*" or "?" matches only itself. */
    assert_int_equal(decide(p, CONNECT, "anything", "*", NULL), NONE);
    assert_int_equal(decide(p, CONNECT, "*", "*", NULL), ALLOW);
    assert_int_equal(decide(p, CONNECT, "x", "?", NULL), NONE);
    /* The thing variable has nothing to do with it. */
    assert_int_equal(decide(p, CONNECT, "Thing03", NULL, "Thing03"), NONE);
    dd_policy_free(p);

    p = parse_ok(doc1("Allow", "\"iot:Publish\"",
                      "\"" ARN_PREFIX
                      "topic/${iot:ClientId}/${iot:Connection.Thing.ThingName}/*\""));
    assert_int_equal(decide(p, PUBLISH, "c1/T1/x", "c1", "T1"), ALLOW);
    assert_int_equal(decide(p, PUBLISH, "c1/T1/x", "c1", NULL), NONE);
    assert_int_equal(decide(p, PUBLISH, "T1/c1/x", "c1", "T1"), NONE);
    dd_policy_free(p);
}

static void test_dd_policy_thing_name_variable(void **state)
{
    dd_policy_t *p;
    dd_policy_t *both[2];

    (void)state;
    p = parse_ok(doc1("Allow", "\"iot:Publish\"",
                      "\"" ARN_PREFIX "topic/$aws/things/${iot:Connection.Thing.ThingName}/*\""));
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/shadow/update", "SensorDevice03",
                            "Thing03"),
                     ALLOW);
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing01/shadow/update", "SensorDevice03",
                            "Thing03"),
                     NONE);
    /* Not a known thing: the variable has no value, the resource never matches. */
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/shadow/update", "Thing03", NULL),
                     NONE);
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/shadow/update", "Thing03", ""), NONE);
    /* A name that is a prefix of another thing's name does not reach it. */
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/x", "c", "Thing0"), NONE);
    dd_policy_free(p);

    /* Why the fixtures spell out region and account (docs/reference/policies.md):
     * with wildcards there, `*` swallows part of the topic. */
    p = parse_ok(doc1("Allow", "\"iot:Publish\"",
                      "\"arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/*\""));
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing01/x:topic/$aws/things/Thing03/y", "c",
                            "Thing03"),
                     ALLOW);
    dd_policy_free(p);
    p = parse_file("device-policy-per-thing.json");
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing01/x:topic/$aws/things/Thing03/y", "c",
                            "Thing03"),
                     NONE);
    dd_policy_free(p);

    /* In a Deny, an unresolved variable does not match either (as on AWS). */
    both[0] = parse_ok(doc1("Allow", "\"iot:*\"", "\"*\""));
    both[1] = parse_ok(doc1("Deny", "\"iot:Publish\"",
                            "\"" ARN_PREFIX "topic/${iot:Connection.Thing.ThingName}/*\""));
    assert_int_equal(decide_m((const dd_policy_t *const *)both, 2, PUBLISH, "T1/x", "c", "T1",
                              NULL),
                     DENY);
    assert_int_equal(decide_m((const dd_policy_t *const *)both, 2, PUBLISH, "T1/x", "c", NULL,
                              NULL),
                     ALLOW);
    dd_policy_free(both[0]);
    dd_policy_free(both[1]);
}

/* ---- decisions ------------------------------------------------------------------- */

static void test_dd_policy_default_deny(void **state)
{
    dd_policy_t *p;
    dd_policy_decision_t d = DD_POLICY_ALLOW;
    dd_policy_match_t m = {7, 7, "x"};

    (void)state;
    /* No policy at all. */
    assert_int_equal(dd_policy_evaluate(NULL, 0, PUBLISH, ARN_PREFIX "topic/t", NULL, &d, &m),
                     DD_POLICY_OK);
    assert_int_equal(d, NONE);
    /* A policy that allows something else. */
    p = parse_ok(doc1("Allow", "\"iot:Publish\"", "\"" ARN_PREFIX "topic/t\""));
    assert_int_equal(decide(p, SUBSCRIBE, "t", NULL, NULL), NONE);
    assert_int_equal(decide(p, PUBLISH, "t2", NULL, NULL), NONE);
    dd_policy_free(p);
    /* Resources in another account or region never match. */
    p = parse_ok(
        doc1("Allow", "\"iot:Publish\"", "\"arn:aws:iot:eu-west-1:123456789012:topic/t\""));
    assert_int_equal(decide(p, PUBLISH, "t", NULL, NULL), NONE);
    dd_policy_free(p);
}

static void test_dd_policy_explicit_deny_wins(void **state)
{
    dd_policy_t *allow_all;
    dd_policy_t *deny_all;
    const dd_policy_t *set[2];
    dd_policy_match_t m;
    int a;

    (void)state;
    allow_all = parse_file("device-policy-allow-all.json");
    deny_all = parse_file("deny-all.json");

    /* Before isolation: the certificate's allow-all lets everything through. */
    for (a = 0; a < DD_POLICY_ACTION_COUNT; a++) {
        assert_int_equal(decide(allow_all, (dd_policy_action_t)a, "SensorDevice03/x",
                                "SensorDevice03", "Thing03"),
                         ALLOW);
    }
    /* After AddThingToThingGroup(IsolatedDevices): denied, in either order. */
    set[0] = allow_all;
    set[1] = deny_all;
    for (a = 0; a < DD_POLICY_ACTION_COUNT; a++) {
        memset(&m, 0, sizeof(m));
        assert_int_equal(decide_m(set, 2, (dd_policy_action_t)a, "temperature-device-03",
                                  "SensorDevice03", "Thing03", &m),
                         DENY);
        assert_int_equal(m.policy_index, 1);
        assert_int_equal(m.statement_index, 0);
        assert_string_equal(m.sid, "DenyAll");
    }
    set[0] = deny_all;
    set[1] = allow_all;
    assert_int_equal(decide_m(set, 2, CONNECT, "SensorDevice03", "SensorDevice03", "Thing03", &m),
                     DENY);
    assert_int_equal(m.policy_index, 0);
    /* Deny beats Allow inside one policy too, whatever the statement order. */
    {
        dd_policy_t *p =
            parse_ok("{\"Version\":\"2012-10-17\",\"Statement\":["
                     "{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"},"
                     "{\"Sid\":\"NoSecrets\",\"Effect\":\"Deny\",\"Action\":\"iot:Publish\","
                     "\"Resource\":\"" ARN_PREFIX "topic/secret/*\"}]}");

        assert_int_equal(decide_m((const dd_policy_t *const *)&p, 1, PUBLISH, "secret/a", NULL,
                                  NULL, &m),
                         DENY);
        assert_int_equal(m.statement_index, 1);
        assert_string_equal(m.sid, "NoSecrets");
        assert_int_equal(decide_m((const dd_policy_t *const *)&p, 1, PUBLISH, "public/a", NULL,
                                  NULL, &m),
                         ALLOW);
        assert_int_equal(m.statement_index, 0);
        assert_string_equal(m.sid, "");
        dd_policy_free(p);
    }
    dd_policy_free(allow_all);
    dd_policy_free(deny_all);
}

static void test_dd_policy_per_thing_fixture(void **state)
{
    dd_policy_t *p;
    dd_policy_t *deny_all;
    const dd_policy_t *set[2];
    const char *agent = "SensorDevice03"; /* the agent's client id is not the thing name */
    const char *thing = "Thing03";

    (void)state;
    p = parse_file("device-policy-per-thing.json");
    assert_int_equal(dd_policy_statement_count(p), 3);

    assert_int_equal(decide(p, CONNECT, agent, agent, thing), ALLOW);
    assert_int_equal(decide(p, CONNECT, "Thing03", "Thing03", thing), ALLOW);
    /* Its own report topic and replies. */
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/defender/metrics/json", agent, thing),
                     ALLOW);
    assert_int_equal(decide(p, SUBSCRIBE, "$aws/things/Thing03/defender/metrics/json/accepted",
                            agent, thing),
                     ALLOW);
    assert_int_equal(decide(p, SUBSCRIBE, "$aws/things/Thing03/defender/metrics/json/#", agent,
                            thing),
                     ALLOW);
    assert_int_equal(decide(p, RECEIVE, "$aws/things/Thing03/defender/metrics/json/accepted", agent,
                            thing),
                     ALLOW);
    /* A report on another thing's topic: denied. */
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing01/defender/metrics/json", agent, thing),
                     NONE);
    assert_int_equal(decide(p, RECEIVE, "$aws/things/Thing01/defender/metrics/json/accepted", agent,
                            thing),
                     NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "$aws/things/+/defender/metrics/json/accepted", agent,
                            thing),
                     NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "#", agent, thing), NONE);
    assert_int_equal(decide(p, SUBSCRIBE, "$aws/#", agent, thing), NONE);
    /* The workshop telemetry. */
    assert_int_equal(decide(p, PUBLISH, "temperature-device-03", agent, thing), ALLOW);
    assert_int_equal(decide(p, SUBSCRIBE, "temperature-device-03", agent, thing), ALLOW);
    assert_int_equal(decide(p, PUBLISH, "humidity-device-03", agent, thing), NONE);
    /* Retained publishes are not granted. */
    assert_int_equal(decide(p, RETAIN, "temperature-device-03", agent, thing), NONE);
    /* A connection that is not a known thing keeps only the telemetry topics. */
    assert_int_equal(decide(p, PUBLISH, "$aws/things/Thing03/defender/metrics/json", agent, NULL),
                     NONE);
    assert_int_equal(decide(p, PUBLISH, "temperature-device-01", agent, NULL), ALLOW);

    /* Isolated: everything denied. */
    deny_all = parse_file("deny-all.json");
    set[0] = p;
    set[1] = deny_all;
    assert_int_equal(decide_m(set, 2, PUBLISH, "$aws/things/Thing03/defender/metrics/json", agent,
                              thing, NULL),
                     DENY);
    assert_int_equal(decide_m(set, 2, CONNECT, agent, agent, thing, NULL), DENY);
    dd_policy_free(deny_all);
    dd_policy_free(p);
}

/* ---- refused documents ---------------------------------------------------------- */

#define V "\"Version\":\"2012-10-17\","
#define STMT(body) "{" V "\"Statement\":[" body "]}"
#define GOOD "{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"

static void test_dd_policy_malformed(void **state)
{
    static const struct {
        const char *doc;
        dd_policy_status_t st;
        const char *msg;
    } CASES[] = {
        {"[]", DD_POLICY_MALFORMED, "the policy document must be a JSON object"},
        {"\"x\"", DD_POLICY_MALFORMED, "the policy document must be a JSON object"},
        {"{}", DD_POLICY_MALFORMED, "Version is missing; it must be \"2012-10-17\""},
        {"{\"Version\":1,\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
         "Version must be the string \"2012-10-17\""},
        {"{\"Version\":\"2008-10-17\",\"Statement\":[" GOOD "]}", DD_POLICY_UNSUPPORTED,
         "Version \"2008-10-17\" is not supported by ddlocal; use \"2012-10-17\""},
        {"{\"Version\":\"2020-01-01\",\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
         "Version \"2020-01-01\" is not valid; it must be \"2012-10-17\""},
        {"{" V "\"Id\":3,\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED, "Id must be a string"},
        {"{\"Version\":\"2012-10-17\"}", DD_POLICY_MALFORMED, "Statement is missing"},
        {"{" V "\"Statement\":\"x\"}", DD_POLICY_MALFORMED,
         "Statement must be an object or a list of objects"},
        {STMT(""), DD_POLICY_MALFORMED, "Statement must not be an empty list"},
        {STMT("1"), DD_POLICY_MALFORMED, "Statement[0] must be an object"},
        {STMT(GOOD ",[]"), DD_POLICY_MALFORMED, "Statement[1] must be an object"},
        {"{" V "\"Foo\":1,\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
         "unknown element \"Foo\""},
        {"{" V "\"Statement\":[" GOOD "],\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
         "duplicate element \"Statement\""},
        {"{" V "\"Condition\":{},\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
         "unknown element \"Condition\""},
        /* Effect */
        {STMT("{\"Action\":\"iot:*\",\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Effect is missing"},
        {STMT(GOOD ",{\"Effect\":\"allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[1].Effect must be \"Allow\" or \"Deny\""},
        {STMT("{\"Effect\":true,\"Action\":\"iot:*\",\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Effect must be \"Allow\" or \"Deny\""},
        {"{" V "\"Statement\":{\"Effect\":\"Permit\",\"Action\":\"iot:*\",\"Resource\":\"*\"}}",
         DD_POLICY_MALFORMED, "Statement.Effect must be \"Allow\" or \"Deny\""},
        /* Action */
        {STMT("{\"Effect\":\"Allow\",\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Action is missing"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Action must not be an empty list"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":5,\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Action must be a string or a list of strings"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":[\"iot:Connect\",7],\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[0].Action[1] must be a string"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"\",\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Action must not be empty"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":[\"iotPublish\"],\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED,
         "Statement[0].Action[0] \"iotPublish\" is not an action of the form \"iot:Action\" or "
         "\"*\""},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:\",\"Resource\":\"*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Action \"iot:\" is not an action of the form \"iot:Action\" or \"*\""},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:Pub lish\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED,
         "Statement[0].Action \"iot:Pub lish\" is not an action of the form \"iot:Action\" or "
         "\"*\""},
        /* Resource */
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\"}"), DD_POLICY_MALFORMED,
         "Statement[0].Resource is missing"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":[]}"), DD_POLICY_MALFORMED,
         "Statement[0].Resource must not be an empty list"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":{}}"), DD_POLICY_MALFORMED,
         "Statement[0].Resource must be a string or a list of strings"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":[\"*\",\"\"]}"),
         DD_POLICY_MALFORMED, "Statement[0].Resource[1] must not be empty"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"topic/x\"}"),
         DD_POLICY_MALFORMED,
         "Statement[0].Resource \"topic/x\" is not \"*\" or an ARN "
         "(arn:aws:iot:REGION:ACCOUNT:TYPE/NAME)"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:aws:iot:topic/x\"}"),
         DD_POLICY_MALFORMED,
         "Statement[0].Resource \"arn:aws:iot:topic/x\" is not \"*\" or an ARN "
         "(arn:aws:iot:REGION:ACCOUNT:TYPE/NAME)"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\","
              "\"Resource\":[\"" ARN_PREFIX "client/${iot:ClientId\"]}"),
         DD_POLICY_MALFORMED,
         "Statement[0].Resource[0] has an unterminated policy variable \"${iot:ClientId\""},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\","
              "\"Resource\":\"" ARN_PREFIX "client/${iot:Certificate.Subject.CommonName}\"}"),
         DD_POLICY_UNSUPPORTED,
         "Statement[0].Resource: policy variable ${iot:Certificate.Subject.CommonName} is not "
         "supported by ddlocal (only ${iot:ClientId} and ${iot:Connection.Thing.ThingName})"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\","
              "\"Resource\":\"" ARN_PREFIX "client/${iot:clientid}\"}"),
         DD_POLICY_UNSUPPORTED,
         "Statement[0].Resource: policy variable ${iot:clientid} is not supported by ddlocal "
         "(only ${iot:ClientId} and ${iot:Connection.Thing.ThingName})"},
        /* Elements ddlocal refuses */
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\","
              "\"Condition\":{\"Bool\":{\"iot:Connection.Thing.IsAttached\":\"true\"}}}"),
         DD_POLICY_UNSUPPORTED, "Statement[0].Condition is not supported by ddlocal"},
        {STMT("{\"Effect\":\"Allow\",\"NotAction\":\"iot:Publish\",\"Resource\":\"*\"}"),
         DD_POLICY_UNSUPPORTED, "Statement[0].NotAction is not supported by ddlocal"},
        {STMT("{\"Effect\":\"Deny\",\"Action\":\"iot:*\",\"NotResource\":\"*\"}"),
         DD_POLICY_UNSUPPORTED, "Statement[0].NotResource is not supported by ddlocal"},
        {STMT("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[0].Principal is not allowed in an AWS IoT policy"},
        {STMT("{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\",\"Foo\":1}"),
         DD_POLICY_MALFORMED, "Statement[0]: unknown element \"Foo\""},
        {STMT("{\"effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[0]: unknown element \"effect\""},
        {STMT("{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[0]: duplicate element \"Effect\""},
        {STMT("{\"Sid\":5,\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}"),
         DD_POLICY_MALFORMED, "Statement[0].Sid must be a string"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        refuse(CASES[i].doc, CASES[i].st, CASES[i].msg, false);
    }
}

static void test_dd_policy_not_json(void **state)
{
    static const char WITH_NUL[] = "{\"Version\":\"2012-10-17\"\0}";
    dd_policy_t *p = NULL;
    char err[DD_POLICY_ERROR_MAX];

    (void)state;
    refuse("not json", DD_POLICY_MALFORMED,
           "the policy document is not valid JSON: lexical error: invalid string in json text. "
           "(at byte 1)",
           false);
    refuse("", DD_POLICY_MALFORMED, "the policy document is not valid JSON", true);
    refuse("{\"Version\":", DD_POLICY_MALFORMED, "the policy document is not valid JSON", true);
    refuse("{" V "\"Statement\":[" GOOD "]} x", DD_POLICY_MALFORMED,
           "the policy document is not valid JSON: unexpected text after the JSON value (at byte",
           true);
    /* Issue 10: cJSON took these; \u0000 cut the resource short ("topic/a" for "topic/a..."). */
    refuse("{" V "\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\","
           "\"Resource\":\"arn:aws:iot:us-east-1:123456789012:topic/a\\u0000b\"}]}",
           DD_POLICY_MALFORMED, "the policy document is not valid JSON: \\u0000", true);
    refuse("{" V "\"Id\":\"\xff\",\"Statement\":[" GOOD "]}", DD_POLICY_MALFORMED,
           "the policy document is not valid JSON: lexical error: invalid bytes in UTF8 string.",
           true);
    refuse("{" V "\"Statement\":[" GOOD "],\"x\":01}", DD_POLICY_MALFORMED,
           "the policy document is not valid JSON: parse error: after key and value, inside map, "
           "I expect ',' or '}'",
           true);
    /* Trailing whitespace is fine. */
    dd_policy_free(parse_ok("{" V "\"Statement\":[" GOOD "]}\n\t "));
    assert_int_equal(dd_policy_parse(WITH_NUL, sizeof(WITH_NUL) - 1, &p, err, sizeof(err)),
                     DD_POLICY_MALFORMED);
    assert_string_equal(err, "the policy document contains a NUL character");
    /* Only len bytes are read: a valid document followed by junk in memory. */
    {
        const char *doc = "{" V "\"Statement\":[" GOOD "]}JUNK";

        assert_int_equal(dd_policy_parse(doc, strlen(doc) - 4, &p, err, sizeof(err)), DD_POLICY_OK);
        dd_policy_free(p);
    }
}

static void test_dd_policy_size_limit(void **state)
{
    /* {"Version":"2012-10-17","Statement":[...GOOD...],"Id":"xxxx"} padded to
     * exactly 2048 and 2049 characters without whitespace. */
    static const char HEAD[] = "{\"Version\":\"2012-10-17\",\"Statement\":[" GOOD "],\"Id\":\"";
    static const char TAIL[] = "\"}";
    char *doc = malloc(DD_POLICY_DOC_MAX_BYTES + 2);
    char err[DD_POLICY_ERROR_MAX];
    dd_policy_t *p = NULL;
    size_t fixed = strlen(HEAD) + strlen(TAIL);
    size_t pad;
    size_t len;

    (void)state;
    assert_non_null(doc);
    pad = DD_POLICY_DOC_MAX_CHARS - fixed;
    memcpy(doc, HEAD, strlen(HEAD));
    memset(doc + strlen(HEAD), 'x', pad);
    memcpy(doc + strlen(HEAD) + pad, TAIL, sizeof(TAIL));
    len = strlen(doc);
    assert_int_equal(len, DD_POLICY_DOC_MAX_CHARS);
    assert_int_equal(dd_policy_parse(doc, len, &p, err, sizeof(err)), DD_POLICY_OK);
    dd_policy_free(p);

    /* One more character: refused. */
    memset(doc + strlen(HEAD), 'x', pad + 1);
    memcpy(doc + strlen(HEAD) + pad + 1, TAIL, sizeof(TAIL));
    assert_int_equal(dd_policy_parse(doc, strlen(doc), &p, err, sizeof(err)), DD_POLICY_TOO_LARGE);
    assert_string_equal(err, "the policy document has 2049 characters without whitespace; "
                             "the limit is 2048");
    assert_null(p);

    /* Whitespace does not count (the 2048-character document, indented). */
    {
        char *spaced = malloc(DD_POLICY_DOC_MAX_BYTES + 1);
        size_t n = 0;

        assert_non_null(spaced);
        memset(spaced, ' ', 8000);
        n = 8000;
        memcpy(spaced + n, HEAD, strlen(HEAD));
        n += strlen(HEAD);
        memset(spaced + n, 'x', pad);
        n += pad;
        memcpy(spaced + n, TAIL, strlen(TAIL));
        n += strlen(TAIL);
        assert_int_equal(dd_policy_parse(spaced, n, &p, err, sizeof(err)), DD_POLICY_OK);
        dd_policy_free(p);
        /* ...but the raw size is capped. */
        memset(spaced, ' ', DD_POLICY_DOC_MAX_BYTES + 1);
        assert_int_equal(dd_policy_parse(spaced, DD_POLICY_DOC_MAX_BYTES + 1, &p, err, sizeof(err)),
                         DD_POLICY_TOO_LARGE);
        assert_string_equal(err, "the policy document is 20481 bytes; ddlocal accepts at most "
                                 "20480");
        free(spaced);
    }
    /* Characters, not bytes: 2-byte UTF-8 characters count once. */
    {
        size_t n = strlen(HEAD);

        memcpy(doc, HEAD, n);
        for (size_t i = 0; i < pad; i++) {
            doc[n++] = '\xc3';
            doc[n++] = '\xa9';
        }
        memcpy(doc + n, TAIL, sizeof(TAIL));
        assert_int_equal(dd_policy_parse(doc, strlen(doc), &p, err, sizeof(err)), DD_POLICY_OK);
        dd_policy_free(p);
    }
    free(doc);
}

/* ---- ARNs and parameters ----------------------------------------------------------- */

static void test_dd_policy_arns(void **state)
{
    dd_arn_ctx_t ctx;
    char buf[DD_POLICY_RESOURCE_MAX];
    char big[300];

    (void)state;
    dd_arn_ctx_default(&ctx);
    assert_int_equal(dd_policy_client_arn(&ctx, "SensorDevice03", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "client/SensorDevice03");
    assert_int_equal(dd_policy_topic_arn(&ctx, "$aws/things/T/x", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "topic/$aws/things/T/x");
    assert_int_equal(dd_policy_topicfilter_arn(&ctx, "a/+/#", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "topicfilter/a/+/#");
    assert_int_equal(dd_policy_resource_arn(&ctx, CONNECT, "c", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "client/c");
    assert_int_equal(dd_policy_resource_arn(&ctx, SUBSCRIBE, "f", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "topicfilter/f");
    assert_int_equal(dd_policy_resource_arn(&ctx, RECEIVE, "t", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "topic/t");
    assert_int_equal(dd_policy_resource_arn(&ctx, RETAIN, "t", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, ARN_PREFIX "topic/t");
    assert_int_equal(dd_policy_resource_arn(&ctx, DD_POLICY_ACTION_COUNT, "t", buf, sizeof(buf)),
                     DD_POLICY_BAD_PARAMETER);
    /* Exactly fitting, and one byte short. */
    assert_int_equal(dd_policy_topic_arn(&ctx, "t", buf, sizeof(ARN_PREFIX "topic/t")),
                     DD_POLICY_OK);
    assert_int_equal(dd_policy_topic_arn(&ctx, "t", buf, sizeof(ARN_PREFIX "topic/t") - 1),
                     DD_POLICY_BUFFER_TOO_SMALL);
    /* Any AWS-valid topic (256 bytes) fits DD_POLICY_RESOURCE_MAX; a longer one may not. */
    memset(big, 'x', 256);
    big[256] = '\0';
    assert_int_equal(dd_policy_topicfilter_arn(&ctx, big, buf, sizeof(buf)), DD_POLICY_OK);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(dd_policy_topic_arn(&ctx, big, buf, 64), DD_POLICY_BUFFER_TOO_SMALL);
    assert_int_equal(dd_policy_topic_arn(NULL, "t", buf, sizeof(buf)), DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_topic_arn(&ctx, NULL, buf, sizeof(buf)), DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_topic_arn(&ctx, "t", NULL, 4), DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_topic_arn(&ctx, "t", buf, 0), DD_POLICY_BAD_PARAMETER);
    /* Another region/account. */
    assert_int_equal(dd_arn_ctx_set(&ctx, "eu-west-1", "000011112222"), DD_NAMES_OK);
    assert_int_equal(dd_policy_client_arn(&ctx, "c", buf, sizeof(buf)), DD_POLICY_OK);
    assert_string_equal(buf, "arn:aws:iot:eu-west-1:000011112222:client/c");
}

static void test_dd_policy_bad_parameters(void **state)
{
    dd_policy_t *p;
    const dd_policy_t *set[2];
    dd_policy_decision_t d = DD_POLICY_ALLOW;
    char err[8];

    (void)state;
    assert_int_equal(dd_policy_parse(NULL, 0, &p, NULL, 0), DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_parse("{}", 2, NULL, NULL, 0), DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_parse("{}", 2, &p, NULL, 5), DD_POLICY_BAD_PARAMETER);
    /* A tiny error buffer gets a truncated, terminated message. */
    assert_int_equal(dd_policy_parse("{}", 2, &p, err, sizeof(err)), DD_POLICY_MALFORMED);
    assert_string_equal(err, "Version");
    assert_int_equal(dd_policy_validate(NULL, 0, NULL, 0), DD_POLICY_BAD_PARAMETER);
    dd_policy_free(NULL);
    assert_int_equal(dd_policy_statement_count(NULL), 0);

    p = parse_ok(doc1("Allow", "\"iot:*\"", "\"*\""));
    set[0] = p;
    set[1] = NULL;
    assert_int_equal(dd_policy_evaluate(set, 1, PUBLISH, NULL, NULL, &d, NULL),
                     DD_POLICY_BAD_PARAMETER);
    assert_int_equal(d, NONE); /* fail closed */
    d = DD_POLICY_ALLOW;
    assert_int_equal(dd_policy_evaluate(set, 2, PUBLISH, "*", NULL, &d, NULL),
                     DD_POLICY_BAD_PARAMETER);
    assert_int_equal(d, NONE);
    assert_int_equal(dd_policy_evaluate(NULL, 1, PUBLISH, "*", NULL, &d, NULL),
                     DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_evaluate(set, 1, DD_POLICY_ACTION_COUNT, "*", NULL, &d, NULL),
                     DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_evaluate(set, 1, PUBLISH, "*", NULL, NULL, NULL),
                     DD_POLICY_BAD_PARAMETER);
    assert_int_equal(dd_policy_evaluate(set, 1, PUBLISH, "x", NULL, &d, NULL), DD_POLICY_OK);
    assert_int_equal(d, ALLOW);
    dd_policy_free(p);

    assert_string_equal(dd_policy_action_name(CONNECT), "iot:Connect");
    assert_string_equal(dd_policy_action_name(RETAIN), "iot:RetainPublish");
    assert_string_equal(dd_policy_action_name(DD_POLICY_ACTION_COUNT), "?");
    assert_string_equal(dd_policy_decision_name(DENY), "DENY_EXPLICIT");
    assert_string_equal(dd_policy_decision_name((dd_policy_decision_t)9), "?");
    assert_string_equal(dd_policy_strerror(DD_POLICY_UNSUPPORTED),
                        "policy feature not supported by ddlocal");
    assert_string_equal(dd_policy_strerror((dd_policy_status_t)99), "unknown policy status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_policy_wildcards),
        cmocka_unit_test(test_dd_policy_mqtt_wildcards_are_literal),
        cmocka_unit_test(test_dd_policy_glob_matches_reference),
        cmocka_unit_test(test_dd_policy_string_and_list_forms),
        cmocka_unit_test(test_dd_policy_action_wildcards),
        cmocka_unit_test(test_dd_policy_client_id_variable),
        cmocka_unit_test(test_dd_policy_thing_name_variable),
        cmocka_unit_test(test_dd_policy_default_deny),
        cmocka_unit_test(test_dd_policy_explicit_deny_wins),
        cmocka_unit_test(test_dd_policy_per_thing_fixture),
        cmocka_unit_test(test_dd_policy_malformed),
        cmocka_unit_test(test_dd_policy_not_json),
        cmocka_unit_test(test_dd_policy_size_limit),
        cmocka_unit_test(test_dd_policy_arns),
        cmocka_unit_test(test_dd_policy_bad_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
