#include "dd_events.h"

#include "dd_clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TYPE_MAX 24

typedef struct slot {
    uint64_t seq; /* 0: empty */
    char *text;   /* the JSON line */
    char type[TYPE_MAX];
    char thing[DD_EVENTS_NAME_MAX + 1];
    char profile[DD_EVENTS_NAME_MAX + 1];
    char group[DD_EVENTS_NAME_MAX + 1];
} slot_t;

struct dd_events_reader {
    dd_events_t *ev;
    dd_events_query_t q; /* its strings are the copies below */
    char types[256];
    char thing[DD_EVENTS_NAME_MAX + 1];
    char profile[DD_EVENTS_NAME_MAX + 1];
    char group[DD_EVENTS_NAME_MAX + 1];
    uint64_t after;
    char *line; /* being copied out */
    size_t line_len;
    size_t line_off;
    void (*ready)(void *arg); /* one-shot notification */
    void *ready_arg;
    /* A long-poll (dd_events_poll_open): one answer, at the first match or the deadline. */
    bool poll;
    bool answered;
    uint64_t poll_after; /* the query's after (r->after is how far it looked) */
    size_t limit;
    int64_t deadline_mono_ms;
    struct dd_events_reader *next;
};

struct dd_events {
    pthread_mutex_t lock;
    pthread_cond_t added; /* CLOCK_MONOTONIC */
    slot_t *ring;         /* event seq k lives at k % capacity */
    size_t capacity;
    uint64_t last_seq;
    unsigned waiters;
    unsigned max_waiters;
    bool closed;
    dd_events_reader_t *readers;
    pthread_t timer; /* fires the long-polls' deadlines */
    pthread_cond_t timer_wake;
    bool timer_running;
};

/* Lock held: fires the readers' one-shot notifications. */
static void notify_readers(dd_events_t *ev)
{
    dd_events_reader_t *r;

    for (r = ev->readers; r != NULL; r = r->next) {
        if (r->ready != NULL) {
            void (*ready)(void *) = r->ready;
            r->ready = NULL;
            ready(r->ready_arg);
        }
    }
}

/* The earliest deadline of a waiting long-poll, INT64_MAX when none (lock held). */
static int64_t next_deadline(const dd_events_t *ev)
{
    const dd_events_reader_t *r;
    int64_t next = INT64_MAX;

    for (r = ev->readers; r != NULL; r = r->next) {
        if (r->poll && r->ready != NULL && r->deadline_mono_ms < next) {
            next = r->deadline_mono_ms;
        }
    }
    return next;
}

/* Wakes the long-polls whose deadline passed: they answer what they have (nothing). */
static void *timer_main(void *arg)
{
    dd_events_t *ev = arg;

    pthread_mutex_lock(&ev->lock);
    while (!ev->closed) {
        int64_t next = next_deadline(ev);
        int64_t now = dd_clock_mono_ms();
        dd_events_reader_t *r;

        if (next > now) {
            struct timespec ts;
            if (next == INT64_MAX) {
                (void)pthread_cond_wait(&ev->timer_wake, &ev->lock);
            } else {
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += (time_t)((next - now) / 1000);
                ts.tv_nsec += (long)((next - now) % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                (void)pthread_cond_timedwait(&ev->timer_wake, &ev->lock, &ts);
            }
            continue;
        }
        for (r = ev->readers; r != NULL; r = r->next) {
            if (r->poll && r->ready != NULL && r->deadline_mono_ms <= now) {
                void (*ready)(void *) = r->ready;
                r->ready = NULL;
                ready(r->ready_arg);
            }
        }
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

dd_events_status_t dd_events_create(size_t capacity, unsigned max_waiters, dd_events_t **out)
{
    dd_events_t *ev;
    pthread_condattr_t attr;

    if (capacity == 0 || out == NULL) {
        return DD_EVENTS_BAD_PARAMETER;
    }
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL) {
        return DD_EVENTS_NO_MEMORY;
    }
    ev->ring = calloc(capacity, sizeof(*ev->ring));
    if (ev->ring == NULL) {
        free(ev);
        return DD_EVENTS_NO_MEMORY;
    }
    ev->capacity = capacity;
    ev->max_waiters = max_waiters;
    (void)pthread_mutex_init(&ev->lock, NULL);
    /* Waits are real durations: a monotonic clock, so setting the system time cannot stretch them. */
    (void)pthread_condattr_init(&attr);
    (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&ev->added, &attr);
    (void)pthread_cond_init(&ev->timer_wake, &attr);
    (void)pthread_condattr_destroy(&attr);
    ev->timer_running = pthread_create(&ev->timer, NULL, timer_main, ev) == 0;
    *out = ev;
    return DD_EVENTS_OK;
}

void dd_events_close(dd_events_t *ev)
{
    if (ev == NULL) {
        return;
    }
    pthread_mutex_lock(&ev->lock);
    ev->closed = true;
    pthread_cond_broadcast(&ev->added);
    pthread_cond_signal(&ev->timer_wake);
    notify_readers(ev);
    pthread_mutex_unlock(&ev->lock);
}

void dd_events_destroy(dd_events_t *ev)
{
    size_t i;

    if (ev == NULL) {
        return;
    }
    dd_events_close(ev);
    if (ev->timer_running) {
        (void)pthread_join(ev->timer, NULL);
    }
    for (i = 0; i < ev->capacity; i++) {
        free(ev->ring[i].text);
    }
    free(ev->ring);
    pthread_cond_destroy(&ev->added);
    pthread_cond_destroy(&ev->timer_wake);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

static void copy_member(const cJSON *fields, const char *name, char *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(fields, name);

    out[0] = '\0';
    if (cJSON_IsString(item)) {
        (void)snprintf(out, DD_EVENTS_NAME_MAX + 1, "%s", item->valuestring);
    }
}

static void iso_time_ms(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];

    (void)gmtime_r(&secs, &tm);
    (void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

dd_events_status_t dd_events_add(dd_events_t *ev, int64_t time_ms, const char *type, cJSON *fields)
{
    cJSON *obj = cJSON_CreateObject();
    char when[40];
    char *text;
    slot_t *s;
    uint64_t seq;

    if (ev == NULL || type == NULL || strlen(type) >= TYPE_MAX || time_ms < 0 || obj == NULL) {
        cJSON_Delete(obj);
        cJSON_Delete(fields);
        return DD_EVENTS_BAD_PARAMETER;
    }
    iso_time_ms(time_ms, when, sizeof(when));
    pthread_mutex_lock(&ev->lock);
    seq = ev->last_seq + 1;
    /* seq and time first: they are what a reader of the JSON lines looks at. */
    (void)cJSON_AddNumberToObject(obj, "seq", (double)seq);
    (void)cJSON_AddStringToObject(obj, "type", type);
    (void)cJSON_AddStringToObject(obj, "time", when);
    (void)cJSON_AddNumberToObject(obj, "timeMs", (double)time_ms);
    if (fields != NULL) {
        cJSON *item = fields->child;
        while (item != NULL) {
            cJSON *next = item->next;
            (void)cJSON_AddItemToObject(obj, item->string,
                                        cJSON_DetachItemViaPointer(fields, item));
            item = next;
        }
    }
    text = cJSON_PrintUnformatted(obj);
    if (text == NULL) {
        pthread_mutex_unlock(&ev->lock);
        cJSON_Delete(obj);
        cJSON_Delete(fields);
        return DD_EVENTS_NO_MEMORY;
    }
    s = &ev->ring[seq % ev->capacity];
    free(s->text);
    s->text = text;
    s->seq = seq;
    (void)snprintf(s->type, sizeof(s->type), "%s", type);
    copy_member(obj, "thing", s->thing);
    copy_member(obj, "profile", s->profile);
    copy_member(obj, "group", s->group);
    ev->last_seq = seq;
    pthread_cond_broadcast(&ev->added);
    notify_readers(ev);
    pthread_mutex_unlock(&ev->lock);
    cJSON_Delete(obj);
    cJSON_Delete(fields);
    return DD_EVENTS_OK;
}

static void add_str(cJSON *obj, const char *name, const char *value)
{
    if (value != NULL) {
        (void)cJSON_AddStringToObject(obj, name, value);
    }
}

void dd_events_report(dd_events_t *ev, int64_t time_ms, const char *thing, bool accepted,
                      const char *code, const char *message)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "thing", thing);
    add_str(f, "result", accepted ? "accepted" : "rejected");
    add_str(f, "reason", code);
    add_str(f, "message", message);
    (void)dd_events_add(ev, time_ms, "report", f);
}

void dd_events_violation(dd_events_t *ev, int64_t time_ms, const char *event_type,
                         const char *thing, const char *profile, const char *behavior, cJSON *value,
                         bool suppressed)
{
    cJSON *f;

    if (ev == NULL) {
        cJSON_Delete(value);
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "violationEventType", event_type);
    add_str(f, "thing", thing);
    add_str(f, "profile", profile);
    add_str(f, "behavior", behavior);
    if (value != NULL) {
        (void)cJSON_AddItemToObject(f, "metricValue", value);
    }
    if (suppressed) {
        (void)cJSON_AddBoolToObject(f, "suppressed", true);
    }
    (void)dd_events_add(ev, time_ms, "violation", f);
}

void dd_events_alert(dd_events_t *ev, int64_t time_ms, const char *event_type, const char *thing,
                     const char *profile, const char *behavior, const char *topic,
                     const char *message)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "violationEventType", event_type);
    add_str(f, "thing", thing);
    add_str(f, "profile", profile);
    add_str(f, "behavior", behavior);
    add_str(f, "topic", topic);
    if (message != NULL) {
        add_str(f, "message", message);
    }
    (void)dd_events_add(ev, time_ms, "alert", f);
}

void dd_events_delivery(dd_events_t *ev, int64_t time_ms, const char *kind, const char *topic,
                        const char *endpoint, bool delivered, int attempts, const char *error)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "kind", kind);
    add_str(f, "topic", topic);
    add_str(f, "endpoint", endpoint);
    add_str(f, "result", delivered ? "delivered" : "gave-up");
    (void)cJSON_AddNumberToObject(f, "attempts", attempts);
    if (!delivered) {
        add_str(f, "error", error);
    }
    (void)dd_events_add(ev, time_ms, "delivery", f);
}

void dd_events_group(dd_events_t *ev, int64_t time_ms, const char *thing, const char *group,
                     bool added)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "thing", thing);
    add_str(f, "group", group);
    add_str(f, "change", added ? "added" : "removed");
    (void)dd_events_add(ev, time_ms, "group", f);
}

void dd_events_enforcement(dd_events_t *ev, int64_t time_ms, const char *thing, bool registered,
                           const char *action, const char *reason, const char *subject)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "thing", thing);
    (void)cJSON_AddBoolToObject(f, "registered", registered);
    add_str(f, "action", action);
    add_str(f, "decision", "denied");
    add_str(f, "reason", reason);
    if (subject != NULL) {
        add_str(f, "subject", subject);
    }
    (void)dd_events_add(ev, time_ms, "enforcement", f);
}

void dd_events_fault(dd_events_t *ev, int64_t time_ms, uint64_t fault_id, const char *kind,
                     const char *thing, const char *outcome, int64_t delay_ms, const char *detail)
{
    cJSON *f;

    if (ev == NULL) {
        return;
    }
    f = cJSON_CreateObject();
    (void)cJSON_AddNumberToObject(f, "faultId", (double)fault_id);
    add_str(f, "kind", kind);
    add_str(f, "thing", thing);
    add_str(f, "outcome", outcome);
    if (delay_ms > 0) {
        (void)cJSON_AddNumberToObject(f, "delayMs", (double)delay_ms);
    }
    add_str(f, "detail", detail);
    (void)dd_events_add(ev, time_ms, "fault", f);
}

void dd_events_datapoint(dd_events_t *ev, int64_t time_ms, const char *thing, const char *metric,
                         cJSON *value)
{
    cJSON *f;

    if (ev == NULL) {
        cJSON_Delete(value);
        return;
    }
    f = cJSON_CreateObject();
    add_str(f, "thing", thing);
    add_str(f, "metric", metric);
    if (value != NULL) {
        (void)cJSON_AddItemToObject(f, "metricValue", value);
    }
    (void)dd_events_add(ev, time_ms, "datapoint", f);
}

/* "violation,alert" contains @p type as a whole item. */
static bool type_listed(const char *types, const char *type)
{
    size_t n = strlen(type);
    const char *p = types;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, type, n) == 0) {
            return true;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

static bool matches(const slot_t *s, const dd_events_query_t *q)
{
    return (q->types == NULL || q->types[0] == '\0' || type_listed(q->types, s->type)) &&
           (q->thing == NULL || strcmp(q->thing, s->thing) == 0) &&
           (q->profile == NULL || strcmp(q->profile, s->profile) == 0) &&
           (q->group == NULL || strcmp(q->group, s->group) == 0);
}

/* Lock held: appends the matches after @p after to @p out; returns the seq looked at last. */
static uint64_t collect(dd_events_t *ev, const dd_events_query_t *q, uint64_t after, size_t limit,
                        cJSON *out, size_t *found)
{
    uint64_t seq;

    for (seq = after + 1; seq <= ev->last_seq && *found < limit; seq++) {
        const slot_t *s = &ev->ring[seq % ev->capacity];
        if (matches(s, q)) {
            cJSON *item = cJSON_Parse(s->text);
            if (item != NULL) {
                (void)cJSON_AddItemToArray(out, item);
                (*found)++;
            }
        }
    }
    return seq - 1;
}

static void deadline_at(int64_t timeout_ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(timeout_ms / 1000);
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Lock held: the answer to @p q for the events after @p after, without waiting. */
static char *answer_locked(dd_events_t *ev, const dd_events_query_t *q, uint64_t after,
                           size_t limit)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(obj, "events");
    uint64_t missed = 0;
    uint64_t looked;
    size_t found = 0;
    char *text;
    char *out;

    if (list == NULL) {
        cJSON_Delete(obj);
        return NULL;
    }
    if (ev->last_seq > ev->capacity && after < ev->last_seq - ev->capacity) {
        missed = ev->last_seq - ev->capacity - after;
        after = ev->last_seq - ev->capacity;
    }
    looked = collect(ev, q, after, limit, list, &found);
    (void)cJSON_AddNumberToObject(obj, "lastSeq", (double)looked);
    (void)cJSON_AddNumberToObject(obj, "missed", (double)missed);
    (void)cJSON_AddBoolToObject(obj, "busy", false);
    text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    out = text != NULL ? strdup(text) : NULL;
    cJSON_free(text);
    return out;
}

dd_events_status_t dd_events_query(dd_events_t *ev, const dd_events_query_t *q, char **json)
{
    cJSON *obj;
    cJSON *list;
    size_t limit;
    size_t found = 0;
    uint64_t from;
    uint64_t missed = 0;
    uint64_t looked;
    bool busy = false;
    struct timespec deadline;
    char *text;

    if (ev == NULL || q == NULL || json == NULL || q->timeout_ms < 0) {
        return DD_EVENTS_BAD_PARAMETER;
    }
    limit = q->limit == 0 || q->limit > DD_EVENTS_MAX_LIMIT ? DD_EVENTS_MAX_LIMIT : q->limit;
    obj = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(obj, "events");
    if (list == NULL) {
        cJSON_Delete(obj);
        return DD_EVENTS_NO_MEMORY;
    }
    deadline_at(q->timeout_ms, &deadline);
    pthread_mutex_lock(&ev->lock);
    from = q->after > ev->last_seq ? ev->last_seq : q->after;
    /* Events older than the ring were dropped: say how many, go on from the oldest kept. */
    if (ev->last_seq > ev->capacity && from < ev->last_seq - ev->capacity) {
        missed = ev->last_seq - ev->capacity - from;
        from = ev->last_seq - ev->capacity;
    }
    looked = collect(ev, q, from, limit, list, &found);
    if (found == 0 && q->timeout_ms > 0 && !ev->closed) {
        if (ev->waiters >= ev->max_waiters) {
            busy = true; /* answered now: waiting here would take one more API thread */
        } else {
            ev->waiters++;
            while (found == 0 && !ev->closed) {
                if (ev->last_seq > looked) {
                    /* The ring may have wrapped past @c looked while we slept. */
                    if (ev->last_seq > ev->capacity && looked < ev->last_seq - ev->capacity) {
                        missed += ev->last_seq - ev->capacity - looked;
                        looked = ev->last_seq - ev->capacity;
                    }
                    looked = collect(ev, q, looked, limit, list, &found);
                    continue;
                }
                if (pthread_cond_timedwait(&ev->added, &ev->lock, &deadline) == ETIMEDOUT) {
                    break;
                }
            }
            ev->waiters--;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    (void)cJSON_AddNumberToObject(obj, "lastSeq", (double)looked);
    (void)cJSON_AddNumberToObject(obj, "missed", (double)missed);
    (void)cJSON_AddBoolToObject(obj, "busy", busy);
    text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (text == NULL) {
        return DD_EVENTS_NO_MEMORY;
    }
    *json = strdup(text);
    cJSON_free(text);
    return *json != NULL ? DD_EVENTS_OK : DD_EVENTS_NO_MEMORY;
}

static const char *copy_filter(const char *in, char *out, size_t len)
{
    if (in == NULL) {
        return NULL;
    }
    (void)snprintf(out, len, "%s", in);
    return out;
}

dd_events_status_t dd_events_reader_open(dd_events_t *ev, const dd_events_query_t *q,
                                         dd_events_reader_t **out)
{
    dd_events_reader_t *r;

    if (ev == NULL || q == NULL || out == NULL) {
        return DD_EVENTS_BAD_PARAMETER;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return DD_EVENTS_NO_MEMORY;
    }
    r->ev = ev;
    r->q.types = copy_filter(q->types, r->types, sizeof(r->types));
    r->q.thing = copy_filter(q->thing, r->thing, sizeof(r->thing));
    r->q.profile = copy_filter(q->profile, r->profile, sizeof(r->profile));
    r->q.group = copy_filter(q->group, r->group, sizeof(r->group));
    pthread_mutex_lock(&ev->lock);
    r->after = q->after > ev->last_seq ? ev->last_seq : q->after;
    r->next = ev->readers;
    ev->readers = r;
    pthread_mutex_unlock(&ev->lock);
    *out = r;
    return DD_EVENTS_OK;
}

dd_events_status_t dd_events_poll_open(dd_events_t *ev, const dd_events_query_t *q,
                                       dd_events_reader_t **out)
{
    dd_events_status_t st;

    if (q == NULL || q->timeout_ms < 0) {
        return DD_EVENTS_BAD_PARAMETER;
    }
    st = dd_events_reader_open(ev, q, out);
    if (st == DD_EVENTS_OK) {
        dd_events_reader_t *r = *out;
        pthread_mutex_lock(&ev->lock);
        r->poll = true;
        r->poll_after = r->after;
        r->limit = q->limit == 0 || q->limit > DD_EVENTS_MAX_LIMIT ? DD_EVENTS_MAX_LIMIT : q->limit;
        r->deadline_mono_ms = dd_clock_mono_ms() + q->timeout_ms;
        pthread_mutex_unlock(&ev->lock);
    }
    return st;
}

/* Lock held: a long-poll answers now (a match, dropped events, the deadline, the end). */
static bool poll_ready(dd_events_reader_t *r)
{
    dd_events_t *ev = r->ev;

    if (ev->closed || dd_clock_mono_ms() >= r->deadline_mono_ms ||
        (ev->last_seq > ev->capacity && r->after < ev->last_seq - ev->capacity)) {
        return true;
    }
    while (r->after < ev->last_seq) {
        if (matches(&ev->ring[(r->after + 1) % ev->capacity], &r->q)) {
            return true;
        }
        r->after++;
    }
    return false;
}

/* Lock held: the next line for @p r ("" when none), malloc'd in r->line. */
static void next_line(dd_events_reader_t *r)
{
    dd_events_t *ev = r->ev;
    char missed[48];

    if (ev->last_seq > ev->capacity && r->after < ev->last_seq - ev->capacity) {
        (void)snprintf(missed, sizeof(missed), "{\"missed\":%llu}\n",
                       (unsigned long long)(ev->last_seq - ev->capacity - r->after));
        r->after = ev->last_seq - ev->capacity;
        r->line = strdup(missed);
    }
    while (r->line == NULL && r->after < ev->last_seq) {
        const slot_t *s = &ev->ring[++r->after % ev->capacity];
        if (matches(s, &r->q)) {
            size_t n = strlen(s->text);
            r->line = malloc(n + 2);
            if (r->line == NULL) {
                r->after--; /* tried again at the next read */
                return;
            }
            memcpy(r->line, s->text, n);
            r->line[n] = '\n';
            r->line[n + 1] = '\0';
        }
    }
    r->line_len = r->line != NULL ? strlen(r->line) : 0;
    r->line_off = 0;
}

long dd_events_reader_read(dd_events_reader_t *r, char *buf, size_t max)
{
    size_t done = 0;
    bool closed;

    if (r == NULL || buf == NULL || max == 0) {
        return -1;
    }
    pthread_mutex_lock(&r->ev->lock);
    if (r->poll && r->line == NULL && !r->answered && poll_ready(r)) {
        r->line = answer_locked(r->ev, &r->q, r->poll_after, r->limit);
        r->line_len = r->line != NULL ? strlen(r->line) : 0;
        r->line_off = 0;
        r->answered = true; /* out of memory: the connection ends without an answer */
    }
    while (done < max) {
        size_t n;
        if (r->line == NULL && r->poll) {
            break;
        }
        if (r->line == NULL) {
            next_line(r);
            if (r->line == NULL) {
                break;
            }
        }
        n = r->line_len - r->line_off < max - done ? r->line_len - r->line_off : max - done;
        memcpy(buf + done, r->line + r->line_off, n);
        done += n;
        r->line_off += n;
        if (r->line_off == r->line_len) {
            free(r->line);
            r->line = NULL;
        }
    }
    closed = r->ev->closed || (r->poll && r->answered && r->line == NULL);
    pthread_mutex_unlock(&r->ev->lock);
    return done > 0 ? (long)done : closed ? -1 : 0;
}

void dd_events_reader_notify(dd_events_reader_t *r, void (*ready)(void *arg), void *arg)
{
    bool now;

    if (r == NULL || ready == NULL) {
        return;
    }
    pthread_mutex_lock(&r->ev->lock);
    now = r->ev->closed || r->line != NULL || r->after < r->ev->last_seq ||
          (r->poll && (r->answered || dd_clock_mono_ms() >= r->deadline_mono_ms));
    if (now) {
        r->ready = NULL;
        ready(arg);
    } else {
        r->ready = ready;
        r->ready_arg = arg;
        if (r->poll) {
            pthread_cond_signal(&r->ev->timer_wake); /* a new deadline to watch */
        }
    }
    pthread_mutex_unlock(&r->ev->lock);
}

void dd_events_reader_close(dd_events_reader_t *r)
{
    dd_events_reader_t **pp;

    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->ev->lock);
    for (pp = &r->ev->readers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&r->ev->lock);
    free(r->line);
    free(r);
}

uint64_t dd_events_last_seq(dd_events_t *ev)
{
    uint64_t seq;

    if (ev == NULL) {
        return 0;
    }
    pthread_mutex_lock(&ev->lock);
    seq = ev->last_seq;
    pthread_mutex_unlock(&ev->lock);
    return seq;
}

const char *dd_events_strerror(dd_events_status_t status)
{
    switch (status) {
    case DD_EVENTS_OK: return "ok";
    case DD_EVENTS_BAD_PARAMETER: return "bad parameter";
    case DD_EVENTS_NO_MEMORY: return "out of memory";
    case DD_EVENTS_CLOSED: return "the event log is closed";
    }
    return "unknown events status";
}
