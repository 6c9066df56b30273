/*
 * dd_events: the event log behind GET /ddlocal/v1/events - sequence numbers,
 * filters, a long-poll woken by a writer thread, the waiter cap, a reader
 * that fell behind the ring, close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "dd_events.h"

/* Runs @p q and returns the parsed answer. */
static cJSON *query(dd_events_t *ev, const dd_events_query_t *q)
{
    char *text = NULL;
    cJSON *obj;

    assert_int_equal(dd_events_query(ev, q, &text), DD_EVENTS_OK);
    obj = cJSON_Parse(text);
    free(text);
    assert_non_null(obj);
    return obj;
}

static int count(const cJSON *answer)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(answer, "events"));
}

static double number(const cJSON *obj, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_true(cJSON_IsNumber(n));
    return n->valuedouble;
}

static const char *string(const cJSON *obj, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_true(cJSON_IsString(s));
    return s->valuestring;
}

static const cJSON *event(const cJSON *answer, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(answer, "events"), i);
}

static void test_dd_events_numbers_events_and_filters_them(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_query_t q;
    cJSON *a;

    (void)state;
    assert_int_equal(dd_events_create(16, 2, &ev), DD_EVENTS_OK);
    assert_int_equal(dd_events_last_seq(ev), 0);
    dd_events_report(ev, 1000, "Thing01", true, NULL, NULL);
    dd_events_report(ev, 2000, "Thing03", false, "InvalidPayload", "Malformed metrics report");
    dd_events_violation(ev, 3000, "in-alarm", "Thing03", "P", "MoreBytesSent", cJSON_CreateObject(),
                        false);
    dd_events_group(ev, 4000, "Thing03", "IsolatedDevices", true);
    assert_int_equal(dd_events_last_seq(ev), 4);

    memset(&q, 0, sizeof(q));
    a = query(ev, &q);
    assert_int_equal(count(a), 4);
    assert_int_equal(number(event(a, 0), "seq"), 1);
    assert_string_equal(string(event(a, 0), "time"), "1970-01-01T00:00:01.000Z");
    assert_string_equal(string(event(a, 1), "reason"), "InvalidPayload");
    assert_int_equal(number(a, "lastSeq"), 4);
    assert_int_equal(number(a, "missed"), 0);
    cJSON_Delete(a);

    q.thing = "Thing03";
    q.types = "report,group";
    a = query(ev, &q);
    assert_int_equal(count(a), 2);
    assert_string_equal(string(event(a, 0), "result"), "rejected");
    assert_string_equal(string(event(a, 1), "change"), "added");
    cJSON_Delete(a);

    /* "reportx" is not "report"; after skips; the last seq looked at comes back. */
    memset(&q, 0, sizeof(q));
    q.types = "reportx,viol";
    a = query(ev, &q);
    assert_int_equal(count(a), 0);
    assert_int_equal(number(a, "lastSeq"), 4);
    cJSON_Delete(a);
    memset(&q, 0, sizeof(q));
    q.after = 2;
    q.profile = "P";
    a = query(ev, &q);
    assert_int_equal(count(a), 1);
    assert_string_equal(string(event(a, 0), "behavior"), "MoreBytesSent");
    cJSON_Delete(a);
    dd_events_destroy(ev);
}

static void test_dd_events_tells_a_slow_reader_what_it_missed(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_query_t q;
    cJSON *a;
    int i;

    (void)state;
    assert_int_equal(dd_events_create(4, 1, &ev), DD_EVENTS_OK);
    for (i = 0; i < 10; i++) {
        dd_events_report(ev, i, "T", true, NULL, NULL);
    }
    memset(&q, 0, sizeof(q));
    q.after = 3;
    a = query(ev, &q);
    /* Kept: 7..10; 4, 5 and 6 are gone. */
    assert_int_equal(number(a, "missed"), 3);
    assert_int_equal(count(a), 4);
    assert_int_equal(number(event(a, 0), "seq"), 7);
    cJSON_Delete(a);
    q.after = 8;
    q.limit = 1;
    a = query(ev, &q);
    assert_int_equal(number(a, "missed"), 0);
    assert_int_equal(count(a), 1);
    assert_int_equal(number(a, "lastSeq"), 9);
    cJSON_Delete(a);
    dd_events_destroy(ev);
}

typedef struct waiter {
    dd_events_t *ev;
    uint64_t after;
    cJSON *answer;
} waiter_t;

static void *wait_for_alert(void *arg)
{
    waiter_t *w = arg;
    dd_events_query_t q;

    memset(&q, 0, sizeof(q));
    q.after = w->after;
    q.types = "alert";
    q.timeout_ms = 60000; /* the writer wakes it long before */
    w->answer = query(w->ev, &q);
    return NULL;
}

static void test_dd_events_long_poll_returns_when_a_match_is_added(void **state)
{
    dd_events_t *ev = NULL;
    waiter_t w;
    pthread_t thread;

    (void)state;
    assert_int_equal(dd_events_create(8, 1, &ev), DD_EVENTS_OK);
    memset(&w, 0, sizeof(w));
    w.ev = ev;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_alert, &w), 0);
    /* Non-matching events do not end the wait, whenever the waiter started. */
    dd_events_report(ev, 1, "T", true, NULL, NULL);
    dd_events_alert(ev, 2, "in-alarm", "T", "P", "B", "ddlocal/sns/BadIoTDevices",
                    "{\"thingName\":\"T\"}");
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(count(w.answer), 1);
    assert_string_equal(string(event(w.answer, 0), "topic"), "ddlocal/sns/BadIoTDevices");
    assert_string_equal(string(event(w.answer, 0), "message"), "{\"thingName\":\"T\"}");
    assert_int_equal(number(w.answer, "lastSeq"), 2);
    cJSON_Delete(w.answer);
    dd_events_destroy(ev);
}

static void test_dd_events_caps_waiters_and_close_releases_them(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_query_t q;
    waiter_t w;
    pthread_t thread;
    cJSON *a;

    (void)state;
    /* Cap 0: every wait is answered at once, marked busy. */
    assert_int_equal(dd_events_create(8, 0, &ev), DD_EVENTS_OK);
    memset(&q, 0, sizeof(q));
    q.timeout_ms = 60000;
    a = query(ev, &q);
    assert_int_equal(count(a), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "busy")));
    cJSON_Delete(a);
    dd_events_destroy(ev);

    /* close wakes a waiter that nothing would wake. */
    assert_int_equal(dd_events_create(8, 1, &ev), DD_EVENTS_OK);
    memset(&w, 0, sizeof(w));
    w.ev = ev;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_alert, &w), 0);
    dd_events_close(ev);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(count(w.answer), 0);
    cJSON_Delete(w.answer);
    dd_events_destroy(ev);
}

static void count_ready(void *arg)
{
    (*(int *)arg)++;
}

static void test_dd_events_reader_streams_lines_and_notifies_once(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_reader_t *r = NULL;
    dd_events_query_t q;
    char buf[512];
    char small[8];
    char line[512] = "";
    long n;
    int ready = 0;

    (void)state;
    assert_int_equal(dd_events_create(4, 1, &ev), DD_EVENTS_OK);
    memset(&q, 0, sizeof(q));
    q.types = "group";
    assert_int_equal(dd_events_reader_open(ev, &q, &r), DD_EVENTS_OK);
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), 0);
    dd_events_reader_notify(r, count_ready, &ready);
    assert_int_equal(ready, 0);
    /* A non-matching event still notifies (the reader looks), then reads nothing. */
    dd_events_report(ev, 1, "T", true, NULL, NULL);
    assert_int_equal(ready, 1);
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), 0);
    /* One-shot: a second event without a new notify call does not call again. */
    dd_events_report(ev, 2, "T", true, NULL, NULL);
    assert_int_equal(ready, 1);
    dd_events_group(ev, 3, "Thing03", "IsolatedDevices", true);
    /* Something to read: notify calls at once. */
    dd_events_reader_notify(r, count_ready, &ready);
    assert_int_equal(ready, 2);
    /* A line is handed out in pieces when the buffer is small. */
    while ((n = dd_events_reader_read(r, small, sizeof(small))) > 0) {
        (void)strncat(line, small, (size_t)n);
    }
    assert_int_equal(n, 0);
    assert_non_null(strstr(line, "\"change\":\"added\"}\n"));
    assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);
    /* Fell behind a ring of 4: a "missed" line first. */
    for (n = 0; n < 6; n++) {
        dd_events_group(ev, 4, "T", "G", true);
    }
    assert_true(dd_events_reader_read(r, buf, sizeof(buf)) > 0);
    assert_memory_equal(buf, "{\"missed\":2}\n", 13);
    while (dd_events_reader_read(r, buf, sizeof(buf)) > 0) {
    }
    dd_events_close(ev);
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), -1);
    dd_events_reader_close(r);
    dd_events_destroy(ev);
}

static void count_ready_atomic(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* Reads a long-poll reader's whole answer (it must be ready). */
static cJSON *poll_answer(dd_events_reader_t *r)
{
    char buf[4096];
    long n = dd_events_reader_read(r, buf, sizeof(buf) - 1);
    cJSON *obj;

    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), -1);
    obj = cJSON_Parse(buf);
    assert_non_null(obj);
    return obj;
}

static void test_dd_events_poll_reader_answers_at_a_match_or_its_deadline(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_reader_t *r = NULL;
    dd_events_query_t q;
    char buf[64];
    int ready = 0;
    int i;
    cJSON *a;

    (void)state;
    assert_int_equal(dd_events_create(8, 1, &ev), DD_EVENTS_OK);
    memset(&q, 0, sizeof(q));
    q.types = "alert";
    q.timeout_ms = 60000;
    assert_int_equal(dd_events_poll_open(ev, &q, &r), DD_EVENTS_OK);
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), 0);
    dd_events_report(ev, 1, "T", true, NULL, NULL);
    assert_int_equal(dd_events_reader_read(r, buf, sizeof(buf)), 0); /* not a match */
    dd_events_alert(ev, 2, "in-alarm", "T", "P", "B", "topic", NULL);
    a = poll_answer(r);
    assert_int_equal(count(a), 1);
    assert_int_equal(number(a, "lastSeq"), 2);
    cJSON_Delete(a);
    dd_events_reader_close(r);

    /* Nothing matches: the log's timer notifies at the deadline, the answer is empty. */
    q.after = 2;
    q.timeout_ms = 20;
    assert_int_equal(dd_events_poll_open(ev, &q, &r), DD_EVENTS_OK);
    dd_events_reader_notify(r, count_ready_atomic, &ready);
    for (i = 0; i < 5000 && __atomic_load_n(&ready, __ATOMIC_SEQ_CST) == 0; i++) {
        struct timespec ms = {0, 1000000L};
        (void)nanosleep(&ms, NULL);
    }
    assert_int_equal(__atomic_load_n(&ready, __ATOMIC_SEQ_CST), 1);
    a = poll_answer(r);
    assert_int_equal(count(a), 0);
    cJSON_Delete(a);
    dd_events_reader_close(r);
    dd_events_destroy(ev);
}

static void test_dd_events_bad_parameters(void **state)
{
    dd_events_t *ev = NULL;
    dd_events_query_t q;
    char *text = NULL;

    (void)state;
    assert_int_equal(dd_events_create(0, 1, &ev), DD_EVENTS_BAD_PARAMETER);
    assert_int_equal(dd_events_create(4, 1, NULL), DD_EVENTS_BAD_PARAMETER);
    assert_int_equal(dd_events_create(4, 1, &ev), DD_EVENTS_OK);
    assert_int_equal(dd_events_add(NULL, 0, "x", NULL), DD_EVENTS_BAD_PARAMETER);
    assert_int_equal(dd_events_add(ev, -1, "x", NULL), DD_EVENTS_BAD_PARAMETER);
    assert_int_equal(dd_events_add(ev, 0, "a-type-name-far-too-long-for-it", NULL),
                     DD_EVENTS_BAD_PARAMETER);
    memset(&q, 0, sizeof(q));
    q.timeout_ms = -1;
    assert_int_equal(dd_events_query(ev, &q, &text), DD_EVENTS_BAD_PARAMETER);
    assert_int_equal(dd_events_query(ev, NULL, &text), DD_EVENTS_BAD_PARAMETER);
    /* NULL logs are ignored by the feeding helpers (the service may run without one). */
    dd_events_report(NULL, 0, "T", true, NULL, NULL);
    dd_events_datapoint(NULL, 0, "T", "aws:all-bytes-out", cJSON_CreateObject());
    assert_int_equal(dd_events_last_seq(ev), 0);
    assert_string_equal(dd_events_strerror(DD_EVENTS_BAD_PARAMETER), "bad parameter");
    dd_events_close(NULL);
    dd_events_destroy(NULL);
    dd_events_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_events_numbers_events_and_filters_them),
        cmocka_unit_test(test_dd_events_tells_a_slow_reader_what_it_missed),
        cmocka_unit_test(test_dd_events_long_poll_returns_when_a_match_is_added),
        cmocka_unit_test(test_dd_events_caps_waiters_and_close_releases_them),
        cmocka_unit_test(test_dd_events_reader_streams_lines_and_notifies_once),
        cmocka_unit_test(test_dd_events_poll_reader_answers_at_a_match_or_its_deadline),
        cmocka_unit_test(test_dd_events_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
