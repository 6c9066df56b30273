/*
 * Issue 4, crash safety: `kill -9` ddlocald while 10,000 reports stream in
 * from six things (three publishers at QoS 1, three at QoS 0, each on its own
 * connection and thread); `ddlocal up` restarts it; publishing goes on.
 *
 * Checked once replies stop coming (collected by a service-identity client
 * with a persistent session on .../+/accepted and .../+/rejected):
 * - no report is answered twice, none is rejected;
 * - every report that got /accepted is stored exactly once (ev_reports) and
 *   marked evaluated; no report is stored twice at all;
 * - every QoS 1 report published after ddlocald died, and every QoS 0 report
 *   published after the broker noticed it was gone, is answered; the QoS 1
 *   ones the broker acknowledged while ddlocald was down (there must be some)
 *   are answered after the restart;
 * - a report stored but never answered (committed just before the kill) was
 *   published before the kill;
 * - violation events: the profile alarms on every 10th report of a thing
 *   (aws:num-listening-tcp-ports <= 5 is normal, those reports say 10); the
 *   stored reports, in the order they were stored (= evaluated), determine
 *   exactly which in-alarm / alarm-cleared events each thing must have;
 *   ListViolationEvents has exactly those: none duplicated, none lost.
 * Reports in flight when ddlocald died (received but not committed, or QoS 0
 * messages written to its dead socket) may be lost - they were never
 * acknowledged - and are only counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pipetest.h"

#define THINGS 6
#define TOTAL 10000
#define KILL_AT 3000       /* reports published when ddlocald is killed */
#define HOLD_AT 6500       /* publishers wait here until ddlocald is back */
#define INTERVAL_US 2500   /* per publisher: 400 reports/s, 2,400/s in all */
#define VIOLATING_EVERY 10 /* report ids that are multiples of this say 10 listening ports */
#define WAIT_MS 10000
#define SETTLE_MS 60000 /* all replies due, at most */
#define QUIET_MS 2000   /* "replies stopped coming" */
#define PROFILE "CrashListeningPorts"
#define REPLIES "$aws/things/+/defender/metrics/+/+"

typedef struct sent {
    int64_t start_ms; /* before the publish call */
    int64_t done_ms;  /* after it returned (QoS 1: PUBACK received) */
    int status;       /* dd_pipetest_status_t, -1 = not published */
} sent_t;

typedef struct publisher {
    struct crash *run;
    int index;
    int qos;
    int count; /* reports to publish: ids 1..count */
    char thing[32];
    char cert[600];
    char key[600];
    dd_pipetest_mqtt_t *mqtt;
    pthread_t thread;
    bool running; /* thread started and not yet joined */
    sent_t *sent; /* [count + 1], by report id */
    int failures;
} publisher_t;

typedef struct crash {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *collector;
    publisher_t pubs[THINGS];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int published; /* reports published so far, all publishers */
    bool back;     /* ddlocald restarted: publishers may pass HOLD_AT */
    bool abort;    /* the test failed: publishers stop */
    /* replies, by publisher and report id */
    uint8_t *accepted[THINGS];
    uint8_t *rejected[THINGS];
    int64_t *reply_ms[THINGS];
    int64_t t_kill;
    int64_t t_dead;
    int64_t t_noticed;
    int64_t t_back;
} crash_t;

/* ---- set-up --------------------------------------------------------------------------------- */

static int teardown(void **state)
{
    crash_t *r = *state;
    int rc;
    int i;

    if (r == NULL) {
        return 0;
    }
    /* A failed assertion lands here with the publishers possibly still running. */
    pthread_mutex_lock(&r->lock);
    r->abort = true;
    r->back = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (i = 0; i < THINGS; i++) {
        if (r->pubs[i].running) {
            (void)pthread_join(r->pubs[i].thread, NULL);
            r->pubs[i].running = false;
        }
    }
    for (i = 0; i < THINGS; i++) {
        dd_pipetest_mqtt_destroy(r->pubs[i].mqtt);
        free(r->pubs[i].sent);
        free(r->accepted[i]);
        free(r->rejected[i]);
        free(r->reply_ms[i]);
    }
    dd_pipetest_mqtt_destroy(r->collector);
    rc = dd_pipetest_stop(&r->pt);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
    return rc == 0 ? 0 : -1;
}

static int setup_pipeline(crash_t *r)
{
    static const char PROFILE_BODY[] =
        "{\"behaviors\":[{\"name\":\"ManyListeningPorts\",\"metric\":\"aws:num-listening-tcp-"
        "ports\","
        "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":5},"
        "\"consecutiveDatapointsToAlarm\":1,\"consecutiveDatapointsToClear\":1}}]}";
    char policy[700];
    int granted = -1;
    int i;

    if (dd_pipetest_start(&r->pt, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&r->pt, NULL, "policy", "create", "AllowAll", policy, NULL) != 0 ||
        dd_pipetest_api(&r->pt, "POST", "/security-profiles/" PROFILE, PROFILE_BODY, NULL, NULL) !=
            DD_PIPETEST_OK ||
        dd_pipetest_api(&r->pt, "PUT",
                        "/security-profiles/" PROFILE "/targets?securityProfileTargetArn="
                        "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings",
                        NULL, NULL, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    /* Persistent session: replies in flight to the collector are kept if it reconnects. */
    if (dd_pipetest_mqtt_new(&r->pt, "ddlocal-test-collector", NULL, NULL, false, &r->collector) !=
            DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(r->collector, WAIT_MS) != 0 ||
        dd_pipetest_mqtt_subscribe(r->collector, REPLIES, 1, WAIT_MS, &granted) != DD_PIPETEST_OK ||
        granted != 1) {
        return -1;
    }
    for (i = 0; i < THINGS; i++) {
        publisher_t *p = &r->pubs[i];
        int64_t deadline;

        p->run = r;
        p->index = i;
        p->qos = i < THINGS / 2 ? 1 : 0;
        p->count = TOTAL / THINGS + (i < TOTAL % THINGS ? 1 : 0);
        (void)snprintf(p->thing, sizeof(p->thing), "CrashThing%d", i);
        p->sent = calloc((size_t)p->count + 1, sizeof(sent_t));
        r->accepted[i] = calloc((size_t)p->count + 2, 1);
        r->rejected[i] = calloc((size_t)p->count + 2, 1);
        r->reply_ms[i] = calloc((size_t)p->count + 2, sizeof(int64_t));
        if (p->sent == NULL || r->accepted[i] == NULL || r->rejected[i] == NULL ||
            r->reply_ms[i] == NULL ||
            dd_pipetest_thing(&r->pt, p->thing, "AllowAll", p->cert, p->key) != DD_PIPETEST_OK ||
            dd_pipetest_mqtt_new(&r->pt, p->thing, p->cert, p->key, true, &p->mqtt) !=
                DD_PIPETEST_OK) {
            return -1;
        }
        /* CLI registry changes reach the shim within ~100 ms: retry until known. */
        deadline = dd_clock_mono_ms() + WAIT_MS;
        while (dd_pipetest_mqtt_connect(p->mqtt, WAIT_MS) != 0) {
            if (dd_clock_mono_ms() > deadline) {
                return -1;
            }
        }
    }
    return 0;
}

static int setup(void **state)
{
    crash_t *r = calloc(1, sizeof(*r));

    *state = r;
    if (r == NULL) {
        return -1;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (setup_pipeline(r) != 0) {
        (void)teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

/* ---- publishers ----------------------------------------------------------------------------- */

static void *publish_all(void *arg)
{
    publisher_t *p = arg;
    crash_t *r = p->run;
    char topic[128];
    char body[256];
    int64_t t0 = dd_clock_mono_ms();
    int64_t held_ms = 0;
    int k;

    (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json", p->thing);
    for (k = 1; k <= p->count; k++) {
        int64_t due = t0 + held_ms + ((int64_t)k * INTERVAL_US) / 1000;
        int64_t now = dd_clock_mono_ms();
        int len;

        pthread_mutex_lock(&r->lock);
        if (r->abort) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        if (r->published >= HOLD_AT && !r->back) {
            int64_t hold = dd_clock_mono_ms();
            while (!r->back) {
                pthread_cond_wait(&r->cond, &r->lock);
            }
            held_ms += dd_clock_mono_ms() - hold;
            due = dd_clock_mono_ms();
        }
        pthread_mutex_unlock(&r->lock);
        if (due > now) {
            dd_clock_sleep_ms((long)(due - now)); /* pacing, not waiting for a result */
        }
        len = snprintf(body, sizeof(body),
                       "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{"
                       "\"listening_tcp_ports\":"
                       "{\"ports\":[],\"total\":%d},\"network_stats\":{\"bytes_out\":%d}}}",
                       k, k % VIOLATING_EVERY == 0 ? 10 : 1, k);
        p->sent[k].start_ms = dd_clock_mono_ms();
        p->sent[k].status =
            (int)dd_pipetest_mqtt_publish(p->mqtt, topic, body, (size_t)len, p->qos, WAIT_MS);
        p->sent[k].done_ms = dd_clock_mono_ms();
        if (p->sent[k].status != DD_PIPETEST_OK) {
            p->failures++;
            fprintf(stderr, "%s report %d: publish at QoS %d failed: %s (%lld ms)\n", p->thing, k,
                    p->qos, dd_pipetest_strerror((dd_pipetest_status_t)p->sent[k].status),
                    (long long)(p->sent[k].done_ms - p->sent[k].start_ms));
        }
        pthread_mutex_lock(&r->lock);
        r->published++;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

/* ---- replies -------------------------------------------------------------------------------- */

static int thing_index(const crash_t *r, const char *thing)
{
    int i;

    for (i = 0; i < THINGS; i++) {
        if (strcmp(r->pubs[i].thing, thing) == 0) {
            return i;
        }
    }
    return -1;
}

/* Records every queued reply; returns how many there were. */
static size_t collect(crash_t *r, int timeout_ms, int *unexpected)
{
    dd_pipetest_msg_t *head = NULL;
    const dd_pipetest_msg_t *m;
    size_t n = dd_pipetest_mqtt_take(r->collector, timeout_ms, &head);

    for (m = head; m != NULL; m = m->next) {
        char thing[64] = "";
        cJSON *reply = dd_pipetest_reply_parse(m);
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(reply, "reportId");
        int i;
        int k;

        (void)sscanf(m->topic, "$aws/things/%63[^/]/", thing);
        i = thing_index(r, thing);
        k = cJSON_IsNumber(rid) ? rid->valueint : -1;
        if (i < 0 || k < 1 || k > r->pubs[i].count) {
            fprintf(stderr, "unexpected reply on %s: %.*s\n", m->topic, (int)m->len,
                    (const char *)m->payload);
            (*unexpected)++;
        } else if (strstr(m->topic, "/accepted") != NULL) {
            if (r->accepted[i][k] < 255) {
                r->accepted[i][k]++;
            }
            if (r->reply_ms[i][k] == 0) {
                r->reply_ms[i][k] = m->mono_ms;
            }
        } else {
            if (r->rejected[i][k] < 255) {
                r->rejected[i][k]++;
            }
        }
        cJSON_Delete(reply);
    }
    dd_pipetest_msg_free(head);
    return n;
}

/* ---- ddlocald's death and return, as the broker and `up` see them --------------------------- */

static bool process_gone(pid_t pid)
{
    char path[64];
    char *text = NULL;
    const char *paren;
    bool gone = true;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (dd_fs_read_file(path, 4096, &text, NULL) == DD_FS_OK) {
        paren = strrchr(text, ')');
        gone = paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
    }
    free(text);
    return gone;
}

static int64_t wait_log(crash_t *r, const char *rel, const char *needle, int more_than,
                        int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    while (dd_pipetest_log_count(&r->pt, rel, needle) <= more_than) {
        if (dd_clock_mono_ms() > deadline) {
            return 0;
        }
        dd_clock_sleep_ms(5);
    }
    return dd_clock_mono_ms();
}

/* ---- the store ------------------------------------------------------------------------------ */

typedef struct stored {
    crash_t *r;
    uint8_t *rows[THINGS]; /* rows per report id */
    uint8_t *evaluated[THINGS];
    int *order[THINGS]; /* report ids in storage order */
    int norder[THINGS];
    int foreign;
} stored_t;

static int stored_row(void *ctx, int ncols, const char *const *cols)
{
    stored_t *s = ctx;
    int i;
    long k;

    if (ncols != 3 || cols[0] == NULL || cols[1] == NULL) {
        return 1;
    }
    i = thing_index(s->r, cols[0]);
    k = strtol(cols[1], NULL, 10);
    if (i < 0 || k < 1 || k > s->r->pubs[i].count) {
        fprintf(stderr, "unexpected stored report %s %s\n", cols[0], cols[1]);
        s->foreign++;
        return 0;
    }
    if (s->rows[i][k] < 255) {
        s->rows[i][k]++;
    }
    s->evaluated[i][k] += cols[2] != NULL && strcmp(cols[2], "1") == 0;
    s->order[i][s->norder[i]++] = (int)k;
    return 0;
}

/* ---- the test ------------------------------------------------------------------------------- */

static void test_pipeline_crash_kill9_while_reports_stream(void **state)
{
    crash_t *r = *state;
    const char *mlog = "broker/mosquitto.log";
    int closed_before = dd_pipetest_log_count(&r->pt, mlog, "service connection ddlocald closed");
    int connected_before = dd_pipetest_log_count(&r->pt, mlog, " as ddlocald (");
    pid_t pid = dd_pipetest_ddlocald_pid(&r->pt);
    int unexpected = 0;
    int failures = 0;
    int64_t start = dd_clock_mono_ms();
    int64_t deadline;
    stored_t st;
    int i;
    int k;

    assert_true(pid > 0);
    for (i = 0; i < THINGS; i++) {
        assert_int_equal(pthread_create(&r->pubs[i].thread, NULL, publish_all, &r->pubs[i]), 0);
        r->pubs[i].running = true;
    }

    /* 1. Stream; kill -9 ddlocald at KILL_AT reports. */
    pthread_mutex_lock(&r->lock);
    while (r->published < KILL_AT) {
        pthread_mutex_unlock(&r->lock);
        (void)collect(r, 5, &unexpected);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    r->t_kill = dd_clock_mono_ms();
    assert_int_equal(kill(pid, SIGKILL), 0);
    deadline = r->t_kill + WAIT_MS;
    while (!process_gone(pid)) {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(1);
    }
    r->t_dead = dd_clock_mono_ms();
    r->t_noticed = wait_log(r, mlog, "service connection ddlocald closed", closed_before, WAIT_MS);
    assert_true(r->t_noticed > 0);

    /* 2. `ddlocal up` restarts it; it reconnects with its persistent session. */
    r->t_back = wait_log(r, mlog, " as ddlocald (", connected_before, 30000);
    assert_true(r->t_back > 0);
    assert_true(dd_pipetest_ddlocald_pid(&r->pt) != pid);
    pthread_mutex_lock(&r->lock);
    r->back = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);

    /* 3. Publishing ends; then every reply that is due, then quiet. */
    for (i = 0; i < THINGS; i++) {
        assert_int_equal(pthread_join(r->pubs[i].thread, NULL), 0);
        r->pubs[i].running = false;
        failures += r->pubs[i].failures;
    }
    assert_int_equal(failures, 0);
    deadline = dd_clock_mono_ms() + SETTLE_MS;
    for (;;) {
        int due = 0;
        (void)collect(r, 100, &unexpected);
        for (i = 0; i < THINGS; i++) {
            for (k = 1; k <= r->pubs[i].count; k++) {
                const sent_t *s = &r->pubs[i].sent[k];
                if (r->accepted[i][k] == 0 &&
                    s->start_ms > (r->pubs[i].qos == 1 ? r->t_dead : r->t_noticed)) {
                    due++;
                }
            }
        }
        if (due == 0) {
            break;
        }
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("%d report(s) published after ddlocald died were not answered within %d s",
                     due, SETTLE_MS / 1000);
        }
    }
    while (collect(r, QUIET_MS, &unexpected) > 0) {
    }
    assert_int_equal(unexpected, 0);

    /* 4. The store (read-only). */
    memset(&st, 0, sizeof(st));
    st.r = r;
    for (i = 0; i < THINGS; i++) {
        st.rows[i] = calloc((size_t)r->pubs[i].count + 1, 1);
        st.evaluated[i] = calloc((size_t)r->pubs[i].count + 1, 1);
        st.order[i] = calloc((size_t)r->pubs[i].count * 2 + 1, sizeof(int));
        assert_true(st.rows[i] != NULL && st.evaluated[i] != NULL && st.order[i] != NULL);
    }
    assert_int_equal(dd_pipetest_db_rows(
                         &r->pt, "SELECT thing, report_id, evaluated FROM ev_reports ORDER BY id",
                         stored_row, &st),
                     DD_PIPETEST_OK);
    assert_int_equal(st.foreign, 0);

    {
        int answered = 0, lost0 = 0, lost1 = 0, stored_unanswered = 0, down_qos1 = 0;
        int twice = 0, rejected = 0, dup_rows = 0, unevaluated = 0, missing = 0,
            late_unanswered = 0;
        int unanswered_down = 0;

        for (i = 0; i < THINGS; i++) {
            const publisher_t *p = &r->pubs[i];
            for (k = 1; k <= p->count; k++) {
                const sent_t *s = &p->sent[k];
                if (r->accepted[i][k] + r->rejected[i][k] > 1) {
                    twice++;
                    fprintf(stderr, "%s report %d answered %d times\n", p->thing, k,
                            r->accepted[i][k] + r->rejected[i][k]);
                }
                rejected += r->rejected[i][k] > 0;
                if (st.rows[i][k] > 1) {
                    dup_rows++;
                    fprintf(
                        stderr,
                        "%s report %d stored %d times (QoS %d, published %+lld ms from the kill)\n",
                        p->thing, k, st.rows[i][k], p->qos, (long long)(s->start_ms - r->t_kill));
                }
                if (st.rows[i][k] > 0 && st.evaluated[i][k] != st.rows[i][k]) {
                    unevaluated++;
                }
                if (r->accepted[i][k] > 0) {
                    answered++;
                    if (st.rows[i][k] == 0) {
                        missing++;
                        fprintf(stderr, "%s report %d accepted but not stored\n", p->thing, k);
                    }
                } else if (st.rows[i][k] > 0) {
                    stored_unanswered++;
                    if (s->start_ms > r->t_kill) {
                        late_unanswered++;
                        fprintf(stderr,
                                "%s report %d stored after the restart but never answered\n",
                                p->thing, k);
                    }
                } else if (p->qos == 1) {
                    lost1++;
                } else {
                    lost0++;
                }
                /* QoS 1, acknowledged by the broker while ddlocald was down: only the
                 * restarted ddlocald can have seen it, so its reply is from after the
                 * restart (t_back is when the test saw the reconnection: later). */
                if (p->qos == 1 && s->done_ms > r->t_dead && s->done_ms < r->t_back) {
                    down_qos1++;
                    if (r->accepted[i][k] == 0 || r->reply_ms[i][k] <= r->t_dead) {
                        unanswered_down++;
                    }
                }
            }
        }
        fprintf(stderr,
                "crash test: %d reports in %.1f s; killed at %d published; ddlocald dead %+lld ms "
                "after the kill,"
                " noticed by the broker %+lld ms, back %+lld ms; %d answered, %d QoS 1 "
                "acknowledged while it was"
                " down, lost in flight: %d QoS 1 + %d QoS 0, stored but unanswered: %d,"
                " redeliveries dropped: %d\n",
                TOTAL, (double)(dd_clock_mono_ms() - start) / 1000.0, KILL_AT,
                (long long)(r->t_dead - r->t_kill), (long long)(r->t_noticed - r->t_kill),
                (long long)(r->t_back - r->t_kill), answered, down_qos1, lost1, lost0,
                stored_unanswered,
                dd_pipetest_log_count(&r->pt, "logs/ddlocald.log", "dropped its redelivery"));
        assert_int_equal(twice, 0);
        assert_int_equal(rejected, 0);
        assert_int_equal(missing, 0);
        assert_int_equal(dup_rows, 0);
        assert_int_equal(unevaluated, 0);
        assert_int_equal(late_unanswered, 0);
        assert_true(down_qos1 > 0); /* the test really published while ddlocald was down */
        assert_int_equal(unanswered_down, 0);
    }

    /* 5. Violation events: what the stored sequence of each thing implies, exactly. */
    for (i = 0; i < THINGS; i++) {
        const publisher_t *p = &r->pubs[i];
        cJSON *events = NULL;
        const cJSON *e;
        bool alarm = false;
        int want_in = 0;
        int want_cleared = 0;
        int got_in = 0;
        int got_cleared = 0;
        int j;

        for (j = 0; j < st.norder[i]; j++) {
            bool violating = st.order[i][j] % VIOLATING_EVERY == 0;
            if (violating && !alarm) {
                want_in++;
                alarm = true;
            } else if (!violating && alarm) {
                want_cleared++;
                alarm = false;
            }
        }
        assert_int_equal(dd_pipetest_violation_events(&r->pt, p->thing, &events), DD_PIPETEST_OK);
        cJSON_ArrayForEach (e, events) {
            const char *type =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationEventType"));
            const char *id =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationId"));
            const cJSON *f;
            int same = 0;

            assert_non_null(type);
            assert_non_null(id);
            got_in += strcmp(type, "in-alarm") == 0;
            got_cleared += strcmp(type, "alarm-cleared") == 0;
            cJSON_ArrayForEach (f, events) {
                const char *t2 =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "violationEventType"));
                const char *id2 =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "violationId"));
                if (t2 != NULL && id2 != NULL && strcmp(id, id2) == 0) {
                    same++;
                    if (strcmp(type, t2) == 0 && e != f) {
                        fail_msg("%s: violation %s has two %s events", p->thing, id, type);
                    }
                }
            }
            /* an alarm's id: its in-alarm, and its alarm-cleared once it cleared */
            assert_true(same >= 1 && same <= 2);
            if (strcmp(type, "alarm-cleared") == 0 && same != 2) {
                fail_msg("%s: alarm-cleared %s without its in-alarm", p->thing, id);
            }
        }
        if (got_in != want_in || got_cleared != want_cleared) {
            fail_msg("%s: %d stored reports imply %d in-alarm and %d alarm-cleared events; "
                     "ListViolationEvents"
                     " has %d and %d",
                     p->thing, st.norder[i], want_in, want_cleared, got_in, got_cleared);
        }
        cJSON_Delete(events);
        {
            cJSON *actives = NULL;
            assert_int_equal(dd_pipetest_active_violations(&r->pt, p->thing, &actives),
                             DD_PIPETEST_OK);
            assert_int_equal(cJSON_GetArraySize(actives), alarm ? 1 : 0);
            cJSON_Delete(actives);
        }
        free(st.rows[i]);
        free(st.evaluated[i]);
        free(st.order[i]);
    }
    assert_true(dd_pipetest_log_count(&r->pt, "../up.log",
                                      "ddlocald was killed by signal 9; restarting it") == 1);
    r->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_crash_kill9_while_reports_stream, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
