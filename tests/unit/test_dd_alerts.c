#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dd_alerts.h"
#include "dd_clock.h"
#include "dd_log.h"

#define TOPIC_ARN "arn:aws:sns:us-east-1:123456789012:DeviceDefenderAlerts"

/* The behavior and values of the captured delivery in defender-spec.md §5.2. */
static const char *SPEC_BEHAVIOR =
    "{\"criteria\":{\"consecutiveDatapointsToClear\":1,\"value\":{\"count\":10},"
    "\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":1,\"comparisonOperator\":"
    "\"less-than\"},\"name\":\"MessagesPub\",\"metric\":\"aws:num-messages-sent\"}";

static const char *const ALERT_MEMBERS[] = {"violationEventTime", "thingName",   "behavior",
                                            "violationEventType", "metricValue", "violationId",
                                            "securityProfileName"};

/* ---------------------------------------------------------------- alert messages */

typedef struct event_fixture {
    dd_behavior_t behavior;
    dd_violation_event_t ev;
} event_fixture_t;

static void make_event(event_fixture_t *f, dd_alarm_transition_t type, int64_t count)
{
    cJSON *obj = cJSON_Parse(SPEC_BEHAVIOR);

    assert_non_null(obj);
    memset(f, 0, sizeof(*f));
    assert_int_equal(dd_profile_behavior_parse_cjson(obj, &f->behavior, NULL), DD_PROFILE_OK);
    cJSON_Delete(obj);
    f->ev.violation_id = "37e18651d207bbc74236c13faf146127";
    f->ev.thing = "dev-IZWB";
    f->ev.profile = "MySecProfile";
    f->ev.behavior = &f->behavior;
    f->ev.type = type;
    f->ev.has_value = true;
    f->ev.value.kind = DD_VALUE_COUNT;
    f->ev.value.count = count;
    f->ev.time_ms = 1573786800000LL;
}

/* Parses @p text and checks its members are exactly @p names, in that order. */
static cJSON *parse_members(const char *text, const char *const *names, size_t count)
{
    cJSON *root = cJSON_Parse(text);
    const cJSON *item;
    size_t i = 0;

    assert_non_null(root);
    assert_true(cJSON_IsObject(root));
    cJSON_ArrayForEach (item, root) {
        assert_true(i < count);
        assert_string_equal(item->string, names[i]);
        i++;
    }
    assert_int_equal(i, count);
    return root;
}

static const char *member_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static void assert_common_members(const cJSON *root, const char *type)
{
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(root, "violationEventTime");
    cJSON *want = cJSON_Parse(SPEC_BEHAVIOR);

    assert_true(cJSON_IsNumber(time));
    assert_true(time->valuedouble == 1573786800000.0);
    assert_string_equal(member_string(root, "thingName"), "dev-IZWB");
    assert_string_equal(member_string(root, "violationEventType"), type);
    assert_string_equal(member_string(root, "violationId"), "37e18651d207bbc74236c13faf146127");
    assert_string_equal(member_string(root, "securityProfileName"), "MySecProfile");
    /* The behavior as configured, every criteria member included. */
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(root, "behavior"), want, true));
    cJSON_Delete(want);
}

static void test_dd_alerts_message_in_alarm_as_captured(void **state)
{
    event_fixture_t f;
    cJSON *root;
    cJSON *want;
    char *text = NULL;

    (void)state;
    make_event(&f, DD_ALARM_RAISED, 54);
    /* Verification is only reported on invalidation. */
    f.ev.verification = DD_VERIFICATION_TRUE_POSITIVE;
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, ALERT_MEMBERS, 7);
    assert_common_members(root, "in-alarm");
    want = cJSON_Parse("{\"count\":54}");
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(root, "metricValue"), want, true));
    cJSON_Delete(want);
    /* Epoch milliseconds written as an integer, not in exponent form. */
    assert_non_null(strstr(text, "\"violationEventTime\":1573786800000,"));
    /* Compact: it is the SNS Message string. */
    assert_null(strchr(text, '\n'));
    cJSON_Delete(root);
    free(text);
    dd_profile_behavior_free(&f.behavior);
}

static void test_dd_alerts_message_alarm_cleared_same_members(void **state)
{
    event_fixture_t f;
    cJSON *root;
    cJSON *want;
    char *text = NULL;

    (void)state;
    make_event(&f, DD_ALARM_CLEARED, 29);
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, ALERT_MEMBERS, 7);
    assert_common_members(root, "alarm-cleared");
    want = cJSON_Parse("{\"count\":29}");
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(root, "metricValue"), want, true));
    cJSON_Delete(want);
    cJSON_Delete(root);
    free(text);
    dd_profile_behavior_free(&f.behavior);
}

static void test_dd_alerts_message_invalidated_has_verification_no_value(void **state)
{
    static const char *const names[] = {"violationEventTime", "thingName",   "behavior",
                                        "violationEventType", "violationId", "securityProfileName",
                                        "verificationState"};
    event_fixture_t f;
    cJSON *root;
    char *text = NULL;

    (void)state;
    /* Even when the event carries a value, an invalidation has no metricValue. */
    make_event(&f, DD_ALARM_INVALIDATED, 5);
    f.ev.verification = DD_VERIFICATION_FALSE_POSITIVE;
    f.ev.verification_description = "lab device";
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, names, 7);
    assert_common_members(root, "alarm-invalidated");
    assert_string_equal(member_string(root, "verificationState"), "FALSE_POSITIVE");
    cJSON_Delete(root);
    free(text);
    /* Unverified: the state is still stated. */
    f.ev.verification = DD_VERIFICATION_UNKNOWN;
    f.ev.has_value = false;
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, names, 7);
    assert_string_equal(member_string(root, "verificationState"), "UNKNOWN");
    cJSON_Delete(root);
    free(text);
    dd_profile_behavior_free(&f.behavior);
}

static void test_dd_alerts_message_list_value_and_no_value(void **state)
{
    static const char *const no_value[] = {"violationEventTime", "thingName",
                                           "behavior",           "violationEventType",
                                           "violationId",        "securityProfileName"};
    static const uint16_t ports[] = {22, 8080};
    event_fixture_t f;
    cJSON *root;
    cJSON *want;
    char *text = NULL;

    (void)state;
    make_event(&f, DD_ALARM_RAISED, 0);
    f.ev.value.kind = DD_VALUE_PORTS;
    f.ev.value.n = 2;
    f.ev.value.items = ports;
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, ALERT_MEMBERS, 7);
    want = cJSON_Parse("{\"ports\":[22,8080]}");
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(root, "metricValue"), want, true));
    cJSON_Delete(want);
    cJSON_Delete(root);
    free(text);
    /* An in-alarm event without a datapoint (ML) has no metricValue. */
    f.ev.has_value = false;
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_OK);
    root = parse_members(text, no_value, 6);
    cJSON_Delete(root);
    free(text);
    /* Missing parts are refused, *out untouched by garbage. */
    text = NULL;
    f.ev.thing = NULL;
    assert_int_equal(dd_alerts_message(&f.ev, &text), DD_ALERTS_BAD_PARAMETER);
    assert_null(text);
    assert_int_equal(dd_alerts_message(NULL, &text), DD_ALERTS_BAD_PARAMETER);
    f.ev.thing = "t";
    assert_int_equal(dd_alerts_message(&f.ev, NULL), DD_ALERTS_BAD_PARAMETER);
    dd_profile_behavior_free(&f.behavior);
}

/* ---------------------------------------------------------------- envelopes */

static void assert_uuid(const char *s)
{
    size_t i;

    assert_int_equal(strlen(s), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(s[i], '-');
        } else {
            assert_non_null(strchr("0123456789abcdef", s[i]));
        }
    }
}

/* Checks an SNS notification object carrying @p message. */
static void assert_notification_as(const cJSON *sns, const char *message, const char *timestamp,
                                   bool lambda)
{
    static const char *const required[] = {"Type",      "MessageId",        "TopicArn", "Message",
                                           "Timestamp", "SignatureVersion", "Signature"};
    size_t i;

    assert_true(cJSON_IsObject(sns));
    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sns, required[i])));
    }
    /* SNS spells these differently for HTTP subscribers and in a Lambda event. */
    assert_true(cJSON_IsString(
        cJSON_GetObjectItemCaseSensitive(sns, lambda ? "SigningCertUrl" : "SigningCertURL")));
    assert_true(cJSON_IsString(
        cJSON_GetObjectItemCaseSensitive(sns, lambda ? "UnsubscribeUrl" : "UnsubscribeURL")));
    assert_null(
        cJSON_GetObjectItemCaseSensitive(sns, lambda ? "SigningCertURL" : "SigningCertUrl"));
    assert_null(
        cJSON_GetObjectItemCaseSensitive(sns, lambda ? "UnsubscribeURL" : "UnsubscribeUrl"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sns, "Subject")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(sns, "MessageAttributes")));
    assert_string_equal(member_string(sns, "Type"), "Notification");
    assert_string_equal(member_string(sns, "TopicArn"), TOPIC_ARN);
    /* The alert travels as a string, byte for byte. */
    assert_string_equal(member_string(sns, "Message"), message);
    assert_string_equal(member_string(sns, "Timestamp"), timestamp);
    assert_uuid(member_string(sns, "MessageId"));
}

static void assert_notification(const cJSON *sns, const char *message, const char *timestamp)
{
    assert_notification_as(sns, message, timestamp, false);
}

static void test_dd_alerts_sns_notification(void **state)
{
    event_fixture_t f;
    char *message = NULL;
    char *a = NULL;
    char *b = NULL;
    cJSON *ja;
    cJSON *jb;

    (void)state;
    make_event(&f, DD_ALARM_RAISED, 54);
    assert_int_equal(dd_alerts_message(&f.ev, &message), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_sns_notification(TOPIC_ARN, message, 1573786800123LL, &a),
                     DD_ALERTS_OK);
    assert_int_equal(dd_alerts_sns_notification(TOPIC_ARN, message, 1700000000005LL, &b),
                     DD_ALERTS_OK);
    ja = cJSON_Parse(a);
    jb = cJSON_Parse(b);
    /* ISO-8601 UTC with milliseconds, zero-padded. */
    assert_notification(ja, message, "2019-11-15T03:00:00.123Z");
    assert_notification(jb, message, "2023-11-14T22:13:20.005Z");
    /* Every notification is a new SNS message. */
    assert_string_not_equal(member_string(ja, "MessageId"), member_string(jb, "MessageId"));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(a);
    free(b);
    assert_int_equal(dd_alerts_sns_notification(NULL, message, 0, &a), DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_sns_notification(TOPIC_ARN, NULL, 0, &a), DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_sns_notification(TOPIC_ARN, message, 0, NULL),
                     DD_ALERTS_BAD_PARAMETER);
    free(message);
    dd_profile_behavior_free(&f.behavior);
}

static void test_dd_alerts_lambda_event_envelope(void **state)
{
    event_fixture_t f;
    char *message = NULL;
    char *text = NULL;
    cJSON *root;
    cJSON *records;
    cJSON *record;
    cJSON *sns;
    cJSON *alert;
    char prefix[128];

    (void)state;
    make_event(&f, DD_ALARM_RAISED, 54);
    assert_int_equal(dd_alerts_message(&f.ev, &message), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_lambda_event(TOPIC_ARN, message, 1573786800123LL, &text),
                     DD_ALERTS_OK);
    root = cJSON_Parse(text);
    assert_non_null(root);
    records = cJSON_GetObjectItemCaseSensitive(root, "Records");
    assert_true(cJSON_IsArray(records));
    assert_int_equal(cJSON_GetArraySize(records), 1);
    record = cJSON_GetArrayItem(records, 0);
    assert_string_equal(member_string(record, "EventSource"), "aws:sns");
    assert_string_equal(member_string(record, "EventVersion"), "1.0");
    (void)snprintf(prefix, sizeof(prefix), "%s:", TOPIC_ARN);
    assert_memory_equal(member_string(record, "EventSubscriptionArn"), prefix, strlen(prefix));
    sns = cJSON_GetObjectItemCaseSensitive(record, "Sns");
    assert_notification_as(sns, message, "2019-11-15T03:00:00.123Z", true);
    /* What the workshop's IsolateDevice Lambda does:
     * json.loads(event['Records'][0]['Sns']['Message'])['thingName'] */
    alert = cJSON_Parse(member_string(sns, "Message"));
    assert_string_equal(member_string(alert, "thingName"), "dev-IZWB");
    cJSON_Delete(alert);
    cJSON_Delete(root);
    free(text);
    assert_int_equal(dd_alerts_lambda_event(TOPIC_ARN, NULL, 0, &text), DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_lambda_event(NULL, message, 0, &text), DD_ALERTS_BAD_PARAMETER);
    free(message);
    dd_profile_behavior_free(&f.behavior);
}

static void test_dd_alerts_lambda_event_for_a_subscription(void **state)
{
    event_fixture_t f;
    char *message = NULL;
    char *event = NULL;
    char *a = NULL;
    char *a2 = NULL;
    char *b = NULL;
    cJSON *je;
    cJSON *ja;
    cJSON *jb;
    const cJSON *ra;
    const cJSON *re;

    (void)state;
    make_event(&f, DD_ALARM_RAISED, 54);
    assert_int_equal(dd_alerts_message(&f.ev, &message), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_lambda_event(TOPIC_ARN, message, 1573786800123LL, &event),
                     DD_ALERTS_OK);
    assert_int_equal(dd_alerts_lambda_event_for(event, 7, &a), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_lambda_event_for(event, 7, &a2), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_lambda_event_for(event, 8, &b), DD_ALERTS_OK);
    je = cJSON_Parse(event);
    ja = cJSON_Parse(a);
    jb = cJSON_Parse(b);
    re = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(je, "Records"), 0);
    ra = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ja, "Records"), 0);
    /* The subscription's ARN, stable for that subscription, UUID-shaped. */
    assert_string_equal(member_string(ra, "EventSubscriptionArn"),
                        TOPIC_ARN ":00000000-0000-4000-8000-000000000007");
    assert_string_equal(a, a2);
    assert_string_equal(
        member_string(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(jb, "Records"), 0),
                      "EventSubscriptionArn"),
        TOPIC_ARN ":00000000-0000-4000-8000-000000000008");
    /* One message: the same MessageId (and everything else) for every subscriber. */
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(ra, "Sns"),
                              cJSON_GetObjectItemCaseSensitive(re, "Sns"), true));
    assert_string_equal(member_string(ra, "EventSource"), "aws:sns");
    cJSON_Delete(je);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(a);
    free(a2);
    free(b);
    assert_int_equal(dd_alerts_lambda_event_for(event, 0, &a), DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_lambda_event_for("{\"Records\":[]}", 1, &a),
                     DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_lambda_event_for(NULL, 1, &a), DD_ALERTS_BAD_PARAMETER);
    free(event);
    free(message);
    dd_profile_behavior_free(&f.behavior);
}

/* ---------------------------------------------------------------- a loopback HTTP listener */

#define MAX_REQUESTS 16

typedef struct http_server {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    int status; /* answer; 0 = read the request and never answer */
    int requests;
    char *request[MAX_REQUESTS]; /* each request as received, head and body */
    int hung[MAX_REQUESTS];
    int hung_count;
} http_server_t;

/* Reads one whole request (head and Content-Length body) into @p buf. */
static bool read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    size_t need = 0;
    const char *end = NULL;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            return false;
        }
        n += (size_t)r;
        buf[n] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            need = (size_t)(end + 4 - buf);
            if (cl != NULL && cl < end) {
                need += strtoul(cl + strlen("\r\ncontent-length:"), NULL, 10);
            }
            if (n < need && strcasestr(buf, "\r\nexpect: 100-continue") != NULL) {
                (void)send(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
            }
        }
        if (end != NULL && n >= need) {
            return true;
        }
    }
    return false;
}

static void *serve(void *arg)
{
    http_server_t *s = arg;
    char *buf = malloc(65536);

    assert_non_null(buf);
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        struct timeval tv = {2, 0};
        char head[256];
        int status;
        int c;

        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        (void)setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (!read_request(c, buf, 65536)) {
            close(c);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        status = s->status;
        if (s->requests < MAX_REQUESTS) {
            s->request[s->requests] = strdup(buf);
        }
        s->requests++;
        if (status == 0 && s->hung_count < MAX_REQUESTS) {
            s->hung[s->hung_count++] = c;
            c = -1;
        }
        pthread_mutex_unlock(&s->lock);
        if (c >= 0) {
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                             status, status == 200 ? "OK" : "Internal Server Error");
            (void)send(c, head, (size_t)n, MSG_NOSIGNAL);
            close(c);
        }
    }
    free(buf);
    return NULL;
}

static void server_start(http_server_t *s, int status)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->status = status;
    atomic_init(&s->stop, false);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    (void)setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(http_server_t *s)
{
    int i;

    atomic_store(&s->stop, true);
    (void)pthread_join(s->thread, NULL);
    close(s->fd);
    for (i = 0; i < s->hung_count; i++) {
        close(s->hung[i]);
    }
    for (i = 0; i < s->requests && i < MAX_REQUESTS; i++) {
        free(s->request[i]);
    }
    pthread_mutex_destroy(&s->lock);
}

static int server_requests(http_server_t *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Body of request @p i (after the blank line). */
static const char *request_body(http_server_t *s, int i)
{
    const char *end = strstr(s->request[i], "\r\n\r\n");

    assert_non_null(end);
    return end + 4;
}

/* ---------------------------------------------------------------- webhook deliverer */

typedef struct dead_letters {
    pthread_mutex_t lock;
    int count;
    char topic[4][64];
    char endpoint[4][128];
    char body[4][128];
    int attempts[4];
    char error[4][256];
} dead_letters_t;

static void on_dead_letter(void *ctx, const char *topic, const char *endpoint, const char *body,
                           int attempts, const char *last_error)
{
    dead_letters_t *d = ctx;

    pthread_mutex_lock(&d->lock);
    if (d->count < 4) {
        (void)snprintf(d->topic[d->count], sizeof(d->topic[0]), "%s", topic);
        (void)snprintf(d->endpoint[d->count], sizeof(d->endpoint[0]), "%s", endpoint);
        (void)snprintf(d->body[d->count], sizeof(d->body[0]), "%s", body);
        (void)snprintf(d->error[d->count], sizeof(d->error[0]), "%s", last_error);
        d->attempts[d->count] = attempts;
    }
    d->count++;
    pthread_mutex_unlock(&d->lock);
}

static int dead_count(dead_letters_t *d)
{
    int n;

    pthread_mutex_lock(&d->lock);
    n = d->count;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static void start_deliverer(dead_letters_t *d, int max_attempts, int first_retry_ms, int timeout_ms,
                            dd_alerts_webhooks_t **w)
{
    dd_alerts_webhook_config_t cfg;

    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = max_attempts;
    cfg.first_retry_ms = first_retry_ms;
    cfg.timeout_ms = timeout_ms;
    cfg.dead_letter = on_dead_letter;
    cfg.dead_letter_ctx = d;
    assert_int_equal(dd_alerts_webhooks_start(&cfg, w), DD_ALERTS_OK);
    assert_non_null(*w);
}

static void test_dd_alerts_webhook_posts_notification(void **state)
{
    http_server_t s;
    dead_letters_t d;
    dd_alerts_webhooks_t *w = NULL;
    char url[64];
    int64_t deadline;
    int i;

    (void)state;
    server_start(&s, 200);
    start_deliverer(&d, 3, 20, 2000, &w);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/sns/hook", (unsigned)s.port);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url,
                                             "{\"Type\":\"Notification\",\"n\":1}"),
                     DD_ALERTS_OK);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url, "{\"n\":2}"), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url, "{\"n\":3}"), DD_ALERTS_OK);
    deadline = dd_clock_mono_ms() + 5000;
    while ((server_requests(&s) < 3 || dd_alerts_webhooks_pending(w) > 0) &&
           dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(5);
    }
    assert_int_equal(dd_alerts_webhooks_pending(w), 0);
    assert_int_equal(server_requests(&s), 3);
    /* An SNS HTTP notification: POST, the message-type header, the body as queued. */
    for (i = 0; i < 3; i++) {
        assert_memory_equal(s.request[i], "POST /sns/hook HTTP/1.1\r\n", 25);
        assert_non_null(strcasestr(s.request[i], "\r\nx-amz-sns-message-type: Notification\r\n"));
    }
    /* In the order the alerts happened. */
    assert_string_equal(request_body(&s, 0), "{\"Type\":\"Notification\",\"n\":1}");
    assert_string_equal(request_body(&s, 1), "{\"n\":2}");
    assert_string_equal(request_body(&s, 2), "{\"n\":3}");
    dd_alerts_webhooks_stop(w);
    assert_int_equal(dead_count(&d), 0);
    server_stop(&s);
    pthread_mutex_destroy(&d.lock);
}

static void test_dd_alerts_webhook_retries_then_dead_letters(void **state)
{
    http_server_t s;
    dead_letters_t d;
    dd_alerts_webhooks_t *w = NULL;
    char url[64];
    int64_t start;
    int64_t deadline;

    (void)state;
    server_start(&s, 500);
    start_deliverer(&d, 3, 20, 2000, &w);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/down", (unsigned)s.port);
    start = dd_clock_mono_ms();
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url, "{\"n\":1}"), DD_ALERTS_OK);
    deadline = start + 5000;
    /* A job stops being pending just after its dead letter is written: wait for both. */
    while ((dead_count(&d) == 0 || dd_alerts_webhooks_pending(w) != 0) &&
           dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(5);
    }
    assert_int_equal(dead_count(&d), 1);
    /* Three attempts, with 20 + 40 ms of backoff between them. */
    assert_true(dd_clock_mono_ms() - start >= 60);
    assert_int_equal(server_requests(&s), 3);
    assert_string_equal(d.topic[0], "alerts");
    assert_string_equal(d.endpoint[0], url);
    assert_string_equal(d.body[0], "{\"n\":1}");
    assert_int_equal(d.attempts[0], 3);
    assert_string_equal(d.error[0], "HTTP status 500");
    assert_int_equal(dd_alerts_webhooks_pending(w), 0);
    /* Given up means given up: no fourth attempt. */
    dd_clock_sleep_ms(100);
    assert_int_equal(server_requests(&s), 3);
    dd_alerts_webhooks_stop(w);
    assert_int_equal(dead_count(&d), 1);
    server_stop(&s);
    pthread_mutex_destroy(&d.lock);
}

static void test_dd_alerts_webhook_stop_dead_letters_pending(void **state)
{
    http_server_t s;
    dead_letters_t d;
    dd_alerts_webhooks_t *w = NULL;
    char url[64];
    int64_t deadline;

    (void)state;
    /* The endpoint never answers: the first POST is in flight (300 ms timeout)
     * while the second waits behind it. */
    server_start(&s, 0);
    start_deliverer(&d, 4, 10000, 300, &w);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", (unsigned)s.port);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url, "{\"n\":1}"), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", url, "{\"n\":2}"), DD_ALERTS_OK);
    deadline = dd_clock_mono_ms() + 5000;
    while (server_requests(&s) == 0 && dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(2);
    }
    assert_int_equal(server_requests(&s), 1);
    assert_int_equal(dd_alerts_webhooks_pending(w), 2);
    dd_alerts_webhooks_stop(w);
    /* Both were given up on, none silently lost; the second was never tried. */
    assert_int_equal(dead_count(&d), 2);
    assert_int_equal(server_requests(&s), 1);
    assert_string_equal(d.body[0], "{\"n\":1}");
    assert_int_equal(d.attempts[0], 1);
    assert_true(strlen(d.error[0]) > 0);
    assert_string_equal(d.body[1], "{\"n\":2}");
    assert_int_equal(d.attempts[1], 0);
    assert_string_equal(d.error[1], "ddlocald stopped before delivery");
    server_stop(&s);
    pthread_mutex_destroy(&d.lock);
}

/* A deliver function in place of the POST (ddlocald's Lambda stand-in): fails until its 3rd call. */
typedef struct deliveries {
    pthread_mutex_t lock;
    int calls;
    int succeed_at; /* 0 = never */
    int attempt[4];
    char job_id[4][40];
    char endpoint[64];
    char body[64];
} deliveries_t;

static bool deliver(void *ctx, const char *topic, const char *endpoint, const char *body,
                    const char *job_id, int attempt, char *error, size_t error_len)
{
    deliveries_t *d = ctx;
    bool ok;

    (void)topic;
    pthread_mutex_lock(&d->lock);
    if (d->calls < 4) {
        d->attempt[d->calls] = attempt;
        (void)snprintf(d->job_id[d->calls], sizeof(d->job_id[0]), "%s", job_id);
    }
    d->calls++;
    (void)snprintf(d->endpoint, sizeof(d->endpoint), "%s", endpoint);
    (void)snprintf(d->body, sizeof(d->body), "%s", body);
    ok = d->succeed_at != 0 && d->calls == d->succeed_at;
    pthread_mutex_unlock(&d->lock);
    if (!ok) {
        (void)snprintf(error, error_len, "ValueError: attempt %d", attempt);
    }
    return ok;
}

static void start_invoker(dead_letters_t *dl, deliveries_t *dv, int succeed_at,
                          dd_alerts_webhooks_t **w)
{
    dd_alerts_webhook_config_t cfg;

    memset(dl, 0, sizeof(*dl));
    pthread_mutex_init(&dl->lock, NULL);
    memset(dv, 0, sizeof(*dv));
    pthread_mutex_init(&dv->lock, NULL);
    dv->succeed_at = succeed_at;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = 3;
    cfg.first_retry_ms = 10;
    cfg.dead_letter = on_dead_letter;
    cfg.dead_letter_ctx = dl;
    cfg.deliver = deliver;
    cfg.deliver_ctx = dv;
    cfg.label = "lambda";
    assert_int_equal(dd_alerts_webhooks_start(&cfg, w), DD_ALERTS_OK);
}

static void test_dd_alerts_deliver_function_retries_with_one_job_id(void **state)
{
    dead_letters_t dl;
    deliveries_t dv;
    dd_alerts_webhooks_t *w = NULL;
    const char *fn = "arn:aws:lambda:us-east-1:123456789012:function:F";
    int64_t deadline;

    (void)state;
    start_invoker(&dl, &dv, 3, &w);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", fn, "{\"Records\":[]}"), DD_ALERTS_OK);
    deadline = dd_clock_mono_ms() + 5000;
    while (dd_alerts_webhooks_pending(w) != 0 && dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(5);
    }
    assert_int_equal(dd_alerts_webhooks_pending(w), 0);
    dd_alerts_webhooks_stop(w);
    /* Delivered at the 3rd attempt: no dead letter; attempts 1, 2, 3 of one job (one request id). */
    assert_int_equal(dv.calls, 3);
    assert_int_equal(dead_count(&dl), 0);
    assert_int_equal(dv.attempt[0], 1);
    assert_int_equal(dv.attempt[2], 3);
    assert_int_equal(strlen(dv.job_id[0]), 36);
    assert_string_equal(dv.job_id[0], dv.job_id[1]);
    assert_string_equal(dv.job_id[0], dv.job_id[2]);
    assert_string_equal(dv.endpoint, fn);
    assert_string_equal(dv.body, "{\"Records\":[]}");
    pthread_mutex_destroy(&dv.lock);
    pthread_mutex_destroy(&dl.lock);
}

static void test_dd_alerts_deliver_function_failing_is_dead_lettered(void **state)
{
    dead_letters_t dl;
    deliveries_t dv;
    dd_alerts_webhooks_t *w = NULL;
    const char *fn = "arn:aws:lambda:us-east-1:123456789012:function:F";
    int64_t deadline;

    (void)state;
    start_invoker(&dl, &dv, 0, &w);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", fn, "{}"), DD_ALERTS_OK);
    assert_int_equal(dd_alerts_webhooks_post(w, "alerts", fn, "{\"n\":2}"), DD_ALERTS_OK);
    deadline = dd_clock_mono_ms() + 5000;
    while ((dead_count(&dl) < 2 || dd_alerts_webhooks_pending(w) != 0) &&
           dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(5);
    }
    dd_alerts_webhooks_stop(w);
    assert_int_equal(dead_count(&dl), 2);
    assert_int_equal(dv.calls, 6);
    assert_string_equal(dl.endpoint[0], fn);
    assert_int_equal(dl.attempts[0], 3);
    /* The deliver function's own reason is what the dead letter keeps. */
    assert_string_equal(dl.error[0], "ValueError: attempt 3");
    /* Two jobs, two request ids (the jobs' attempts interleave). */
    assert_true(strcmp(dv.job_id[0], dv.job_id[1]) != 0 ||
                strcmp(dv.job_id[0], dv.job_id[2]) != 0 || strcmp(dv.job_id[0], dv.job_id[3]) != 0);
    pthread_mutex_destroy(&dv.lock);
    pthread_mutex_destroy(&dl.lock);
}

static void test_dd_alerts_webhook_bad_parameters(void **state)
{
    dead_letters_t d;
    dd_alerts_webhooks_t *w = NULL;

    (void)state;
    assert_int_equal(dd_alerts_webhooks_start(NULL, NULL), DD_ALERTS_BAD_PARAMETER);
    start_deliverer(&d, 0, 0, 0, &w);
    assert_int_equal(dd_alerts_webhooks_post(NULL, "t", "http://127.0.0.1:1/", "b"),
                     DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_webhooks_post(w, NULL, "http://127.0.0.1:1/", "b"),
                     DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_webhooks_post(w, "t", NULL, "b"), DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_webhooks_post(w, "t", "http://127.0.0.1:1/", NULL),
                     DD_ALERTS_BAD_PARAMETER);
    assert_int_equal(dd_alerts_webhooks_pending(w), 0);
    assert_int_equal(dd_alerts_webhooks_pending(NULL), 0);
    dd_alerts_webhooks_stop(w);
    dd_alerts_webhooks_stop(NULL);
    assert_int_equal(dead_count(&d), 0);
    pthread_mutex_destroy(&d.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_alerts_message_in_alarm_as_captured),
        cmocka_unit_test(test_dd_alerts_message_alarm_cleared_same_members),
        cmocka_unit_test(test_dd_alerts_message_invalidated_has_verification_no_value),
        cmocka_unit_test(test_dd_alerts_message_list_value_and_no_value),
        cmocka_unit_test(test_dd_alerts_sns_notification),
        cmocka_unit_test(test_dd_alerts_lambda_event_envelope),
        cmocka_unit_test(test_dd_alerts_lambda_event_for_a_subscription),
        cmocka_unit_test(test_dd_alerts_webhook_posts_notification),
        cmocka_unit_test(test_dd_alerts_webhook_retries_then_dead_letters),
        cmocka_unit_test(test_dd_alerts_webhook_stop_dead_letters_pending),
        cmocka_unit_test(test_dd_alerts_webhook_bad_parameters),
        cmocka_unit_test(test_dd_alerts_deliver_function_retries_with_one_job_id),
        cmocka_unit_test(test_dd_alerts_deliver_function_failing_is_dead_lettered),
    };
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
