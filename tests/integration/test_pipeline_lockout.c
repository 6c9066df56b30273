/*
 * Issue 10, hardening item 1 (API lockout), on `ddlocal up`:
 * - 200 idle TCP connections to the API (a client that connects and says
 *   nothing) do not keep other clients out: a normal request still gets an
 *   answer within a deadline (it got connection resets for 120 s when the
 *   API had one thread per connection, at most 64);
 * - an isolator whose calls keep failing (no such group) gives up after
 *   --attempts with an error line and a count in DIR/run/isolator-TOPIC.json;
 * - the isolator retries an AddThingToThingGroup that failed: ddlocald is
 *   killed while `ddlocal up` (which restarts it) is stopped, an alert
 *   reaches the isolator, its call is refused; once `up` runs again and
 *   ddlocald is back on the same port, a retry isolates the thing (it stayed
 *   unisolated for good when the isolator tried once).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pipetest.h"
#include "dd_proc.h"

#define IDLE_CONNECTIONS 200
#define WAIT_MS 20000
#define RETRY_WAIT_MS 60000 /* ddlocald restarted and a retry made, at most */
#define GROUP "IsolatedDevices"
#define THING "Victim"

static uint16_t api_port(const dd_pipetest_t *pt)
{
    const char *colon = strrchr(pt->api, ':');

    return colon != NULL ? (uint16_t)atoi(colon + 1) : 0;
}

static int setup(void **state)
{
    dd_pipetest_t *pt = calloc(1, sizeof(*pt));
    dd_pipetest_options_t o;

    if (pt == NULL) {
        return -1;
    }
    memset(&o, 0, sizeof(o));
    o.isolator = "BadIoTDevices:" GROUP;
    if (dd_pipetest_start(pt, &o) != DD_PIPETEST_OK) {
        free(pt);
        return -1;
    }
    *state = pt;
    return 0;
}

static int teardown(void **state)
{
    dd_pipetest_t *pt = *state;
    int rc;

    if (pt == NULL) {
        return 0;
    }
    rc = dd_pipetest_stop(pt);
    free(pt);
    return rc == 0 ? 0 : -1;
}

static void test_api_answers_beside_200_idle_connections(void **state)
{
    dd_pipetest_t *pt = *state;
    struct sockaddr_in addr;
    int fds[IDLE_CONNECTIONS];
    int64_t deadline;
    long http = 0;
    cJSON *out = NULL;
    int i;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(api_port(pt));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < IDLE_CONNECTIONS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
    }
    /* They are idle, not gone: the API must serve others beside them. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_api(pt, "GET", "/ddlocal/v1/status", NULL, &http, &out) != DD_PIPETEST_OK) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("no answer to GET /ddlocal/v1/status within %d ms beside %d idle connections",
                     WAIT_MS, IDLE_CONNECTIONS);
        }
        dd_clock_sleep_ms(100);
    }
    assert_int_equal(http, 200);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(out, "reportsAccepted"));
    cJSON_Delete(out);
    /* An AWS operation through the CLI (its own connection) too. */
    assert_int_equal(dd_pipetest_cli(pt, NULL, "group", "create", "LockoutGroup", NULL), 0);
    for (i = 0; i < IDLE_CONNECTIONS; i++) {
        (void)close(fds[i]);
    }
    pt->passed = true;
}

static bool in_group(dd_pipetest_t *pt, const char *thing, const char *group)
{
    char path[256];
    cJSON *out = NULL;
    const cJSON *g;
    bool found = false;

    (void)snprintf(path, sizeof(path), "/things/%s/thing-groups", thing);
    if (dd_pipetest_api(pt, "GET", path, NULL, NULL, &out) != DD_PIPETEST_OK) {
        return false;
    }
    cJSON_ArrayForEach (g, cJSON_GetObjectItemCaseSensitive(out, "thingGroups")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "groupName"));
        found = found || (name != NULL && strcmp(name, group) == 0);
    }
    cJSON_Delete(out);
    return found;
}

/* The SNS stand-in's Lambda event for an in-alarm alert of @p thing (caller frees). */
static char *alert_event(const char *thing)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *records;
    cJSON *record;
    char *message;
    char *event;

    (void)cJSON_AddStringToObject(e, "thingName", thing);
    (void)cJSON_AddStringToObject(e, "violationEventType", "in-alarm");
    message = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    e = cJSON_CreateObject();
    records = cJSON_AddArrayToObject(e, "Records");
    record = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(cJSON_AddObjectToObject(record, "Sns"), "Message", message);
    (void)cJSON_AddItemToArray(records, record);
    event = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    cJSON_free(message);
    return event;
}

static void test_isolator_retries_a_refused_call(void **state)
{
    dd_pipetest_t *pt = *state;
    dd_pipetest_mqtt_t *sns = NULL;
    pid_t ddlocald;
    int64_t deadline;
    char *event;

    assert_int_equal(dd_pipetest_cli(pt, NULL, "group", "create", GROUP, NULL), 0);
    assert_int_equal(dd_pipetest_thing(pt, THING, NULL, NULL, NULL), DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_new(pt, "ddlocal-test-sns", NULL, NULL, true, &sns),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(sns, WAIT_MS), 0);

    /* The API goes away and stays away: `up` would restart ddlocald at once. */
    ddlocald = dd_pipetest_ddlocald_pid(pt);
    assert_true(ddlocald > 0);
    assert_int_equal(kill(pt->up.pid, SIGSTOP), 0);
    assert_int_equal(kill(ddlocald, SIGKILL), 0);

    /* The alert the workshop's Lambda would get (ddlocald is down: the test sends it). */
    event = alert_event(THING);
    assert_int_equal(dd_pipetest_mqtt_publish(sns, "ddlocal/sns/BadIoTDevices", event,
                                              strlen(event), 1, WAIT_MS),
                     DD_PIPETEST_OK);
    cJSON_free(event);

    /* The isolator tried and was refused. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_log_count(pt, "logs/isolator.log", "Couldn't connect to server") < 1) {
        if (dd_clock_mono_ms() > deadline) {
            (void)kill(pt->up.pid, SIGCONT);
            fail_msg("the isolator did not try (and fail) to isolate %s within %d ms", THING,
                     WAIT_MS);
        }
        dd_clock_sleep_ms(50);
    }
    /* `up` runs again, sees ddlocald gone and restarts it on the same API port. */
    assert_int_equal(kill(pt->up.pid, SIGCONT), 0);
    deadline = dd_clock_mono_ms() + RETRY_WAIT_MS;
    while (!in_group(pt, THING, GROUP)) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("%s is not in %s %d ms after the API came back: the failed call was not "
                     "retried",
                     THING, GROUP, RETRY_WAIT_MS);
        }
        dd_clock_sleep_ms(200);
    }
    /* The group answers before the isolator, which made the call, has logged its success. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_log_count(pt, "logs/isolator.log", "isolated " THING) < 1) {
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("the isolator did not log the isolation of %s within %d ms", THING, WAIT_MS);
        }
        dd_clock_sleep_ms(50);
    }
    dd_pipetest_mqtt_destroy(sns);
    pt->passed = true;
}

/* A call that keeps failing (the group does not exist) is given up, loudly, after --attempts. */
static void test_isolator_gives_up_loudly(void **state)
{
    dd_pipetest_t *pt = *state;
    dd_pipetest_mqtt_t *sns = NULL;
    dd_proc_t iso;
    char log[300];
    char status_path[300];
    char *argv[16];
    char *event;
    char *text = NULL;
    cJSON *status;
    int64_t deadline;
    int64_t next_publish = 0;
    int n = 0;

    assert_int_equal(dd_pipetest_thing(pt, "Doomed", NULL, NULL, NULL), DD_PIPETEST_OK);
    (void)snprintf(log, sizeof(log), "%s/../giveup.log", pt->data_dir);
    (void)snprintf(status_path, sizeof(status_path), "%s/run/isolator-GiveUpTest.json",
                   pt->data_dir);
    argv[n++] = (char *)DD_DDLOCAL_BIN;
    argv[n++] = "isolator";
    argv[n++] = "-D";
    argv[n++] = pt->data_dir;
    argv[n++] = "--sns-topic";
    argv[n++] = "GiveUpTest";
    argv[n++] = "--group";
    argv[n++] = "NoSuchGroup";
    argv[n++] = "--attempts";
    argv[n++] = "3";
    argv[n++] = "--backoff-ms";
    argv[n++] = "50";
    argv[n] = NULL;
    assert_int_equal(dd_proc_spawn(&iso, "isolator", argv, NULL, log), DD_PROC_OK);
    assert_int_equal(dd_proc_wait_file(&iso, status_path, WAIT_MS), DD_PROC_OK);
    assert_int_equal(dd_pipetest_mqtt_new(pt, "ddlocal-test-sns2", NULL, NULL, true, &sns),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(sns, WAIT_MS), 0);
    event = alert_event("Doomed");
    /* Its subscription may not be in place yet: publish until it acts. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    for (;;) {
        int gave_up = 0;
        if (dd_fs_read_file(status_path, 65536, &text, NULL) == DD_FS_OK) {
            status = cJSON_Parse(text);
            gave_up = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(status, "gaveUp"));
            if (gave_up >= 1) {
                const cJSON *last = cJSON_GetObjectItemCaseSensitive(status, "lastGiveUp");
                assert_string_equal(cJSON_GetStringValue(
                                        cJSON_GetObjectItemCaseSensitive(last, "thingName")),
                                    "Doomed");
                assert_int_equal((int)cJSON_GetNumberValue(
                                     cJSON_GetObjectItemCaseSensitive(last, "attempts")),
                                 3);
            }
            cJSON_Delete(status);
            free(text);
            text = NULL;
        }
        if (gave_up >= 1) {
            break;
        }
        if (dd_clock_mono_ms() > deadline) {
            dd_proc_stop(&iso, 5000);
            fail_msg("the isolator did not report a give-up in %s within %d ms", status_path,
                     WAIT_MS);
        }
        if (dd_clock_mono_ms() >= next_publish) {
            assert_int_equal(dd_pipetest_mqtt_publish(sns, "ddlocal/sns/GiveUpTest", event,
                                                      strlen(event), 1, WAIT_MS),
                             DD_PIPETEST_OK);
            next_publish = dd_clock_mono_ms() + 1000;
        }
        dd_clock_sleep_ms(50);
    }
    cJSON_free(event);
    dd_proc_stop(&iso, 5000);
    /* The log says it as an error, with the thing and the group. */
    {
        char *logtext = NULL;
        assert_int_equal(dd_fs_read_file(log, 1 << 20, &logtext, NULL), DD_FS_OK);
        assert_non_null(strstr(logtext, "GAVE UP isolating Doomed into NoSuchGroup after 3 "
                                        "attempts"));
        assert_non_null(strstr(logtext, "attempt 1 failed"));
        free(logtext);
    }
    dd_pipetest_mqtt_destroy(sns);
    pt->passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_answers_beside_200_idle_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_isolator_retries_a_refused_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolator_gives_up_loudly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
