#include "dd_ctlapi.h"

#include "dd_events.h"
#include "dd_faults.h"
#include "dd_json.h"
#include "dd_rest.h"
#include "dd_names.h"
#include "dd_reset.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    (void)gmtime_r(&secs, &tm);
    (void)strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *json_text(cJSON *obj)
{
    char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    char *out = text != NULL ? strdup(text) : NULL;

    cJSON_free(text);
    cJSON_Delete(obj);
    return out;
}

static char *error_json(const char *message)
{
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(obj, "message", message);
    return json_text(obj);
}

/* Lock held. */
static cJSON *clock_json(const dd_ctlapi_t *c)
{
    cJSON *obj = cJSON_CreateObject();
    char spec[DD_CLOCK_SPEC_MAX];
    char when[32];
    int64_t now = dd_clock_now_ms(c->clock);

    (void)dd_clock_format(c->clock, spec, sizeof(spec));
    iso_time(now, when, sizeof(when));
    (void)cJSON_AddStringToObject(obj, "mode",
                                  dd_clock_mode(c->clock) == DD_CLOCK_MANUAL   ? "manual"
                                  : dd_clock_mode(c->clock) == DD_CLOCK_SCALED ? "scaled"
                                                                               : "real");
    (void)cJSON_AddNumberToObject(obj, "pipelineTimeMs", (double)now);
    (void)cJSON_AddStringToObject(obj, "pipelineTime", when);
    (void)cJSON_AddStringToObject(obj, "spec", spec);
    if (dd_clock_mode(c->clock) != DD_CLOCK_MANUAL) {
        (void)cJSON_AddNumberToObject(obj, "scale", dd_clock_scale(c->clock));
    }
    return obj;
}

/* POST /ddlocal/v1/clock {"advanceSeconds":N}: counts what the broker accepted (the barrier),
 * then moves a manual clock and closes windows, before answering. */
static int advance_clock(dd_ctlapi_t *c, const cJSON *secs, char **response)
{
    int64_t delta;
    bool manual;
    char why[160] = "";

    if (!cJSON_IsNumber(secs) || secs->valuedouble < 0 || secs->valuedouble > 1e9) {
        *response = error_json("advanceSeconds must be a number N with 0 <= N <= 1e9");
        return 400;
    }
    delta = (int64_t)(secs->valuedouble * 1000.0 + 0.5);
    pthread_mutex_lock(c->lock);
    manual = dd_clock_mode(c->clock) == DD_CLOCK_MANUAL;
    pthread_mutex_unlock(c->lock);
    if (!manual) {
        *response = error_json(
            "The pipeline clock is not manual; start it with `ddlocal up --manual-clock`");
        return 400;
    }
    /* Without the lock: the barrier waits for the worker, which needs it to count messages. */
    if (c->barrier != NULL && c->barrier(c->ctx, why, sizeof(why)) != 0) {
        char text[sizeof(why) + 96];
        (void)snprintf(text, sizeof(text),
                       "The clock did not move: messages already accepted could not be "
                       "counted first (%s)",
                       why);
        *response = error_json(text);
        return 503;
    }
    pthread_mutex_lock(c->lock);
    (void)dd_clock_advance(c->clock, delta, NULL);
    if (c->advanced != NULL) {
        c->advanced(c->ctx);
    }
    *response = json_text(clock_json(c));
    pthread_mutex_unlock(c->lock);
    if (c->wake != NULL) {
        c->wake(c->ctx);
    }
    return 200;
}

/* POST /ddlocal/v1/clock {"scale":X}: re-anchors a real or scaled clock at now (no jump) and
 * runs it at X from then on; the service makes the shim, endpoints.json and the log follow. */
static int rescale_clock(dd_ctlapi_t *c, const cJSON *scale, char **response)
{
    double old_scale;
    int64_t at = 0;
    dd_clock_status_t st;

    if (!cJSON_IsNumber(scale) || !(scale->valuedouble > 0.0) ||
        scale->valuedouble > DD_CLOCK_SCALE_MAX) {
        *response = error_json("scale must be a number X with 0 < X <= 1000000 (pipeline seconds "
                               "per real second)");
        return 400;
    }
    pthread_mutex_lock(c->lock);
    old_scale = dd_clock_scale(c->clock);
    st = dd_clock_rescale(c->clock, scale->valuedouble, &at);
    if (st == DD_CLOCK_OK && c->rescaled != NULL) {
        c->rescaled(c->ctx, old_scale, at);
    }
    *response = st == DD_CLOCK_OK ? json_text(clock_json(c)) : NULL;
    pthread_mutex_unlock(c->lock);
    if (st == DD_CLOCK_WRONG_MODE) {
        *response = error_json("The pipeline clock is manual: it has no rate, it moves only with "
                               "advanceSeconds (`ddlocal clock advance`); a running pipeline "
                               "cannot switch between manual and real or scaled time");
        return 400;
    }
    if (st != DD_CLOCK_OK) {
        *response = error_json(dd_clock_strerror(st));
        return 500;
    }
    if (c->wake != NULL) {
        c->wake(c->ctx);
    }
    return 200;
}

/* POST /ddlocal/v1/clock: exactly one of advanceSeconds (manual clock) and scale (others). */
static int post_clock(dd_ctlapi_t *c, const char *body, size_t body_len, char **response)
{
    cJSON *req = NULL;
    const cJSON *secs;
    const cJSON *scale;
    int status;

    /* Strict like every API body: {"advanceSeconds":01} or a second advanceSeconds is refused. */
    if (body != NULL) {
        (void)dd_json_parse(body, body_len, 0, &req, NULL);
    }
    secs = cJSON_GetObjectItemCaseSensitive(req, "advanceSeconds");
    scale = cJSON_GetObjectItemCaseSensitive(req, "scale");
    if (!cJSON_IsObject(req) || (secs == NULL) == (scale == NULL) || cJSON_GetArraySize(req) != 1) {
        status = 400;
        *response = error_json("Body must be {\"advanceSeconds\": N} with 0 <= N <= 1e9 (a "
                               "manual clock) or {\"scale\": X} with 0 < X <= 1000000 (a real "
                               "or scaled clock)");
    } else if (secs != NULL) {
        status = advance_clock(c, secs, response);
    } else {
        status = rescale_clock(c, scale, response);
    }
    cJSON_Delete(req);
    return status;
}

/* Lock held. */
static char *status_text(dd_ctlapi_t *c)
{
    cJSON *obj = clock_json(c);
    cJSON *events = cJSON_CreateArray();
    dd_ctlapi_counters_t n;
    uint64_t i;

    memset(&n, 0, sizeof(n));
    n.store_writable = true;
    if (c->counters != NULL) {
        c->counters(c->ctx, &n);
    }
    (void)cJSON_AddBoolToObject(obj, "brokerConnected", n.broker_connected);
    (void)cJSON_AddNumberToObject(obj, "connectedClients", (double)n.connected_clients);
    (void)cJSON_AddNumberToObject(obj, "reportsAccepted", (double)n.reports_accepted);
    (void)cJSON_AddNumberToObject(obj, "reportsRejected", (double)n.reports_rejected);
    (void)cJSON_AddNumberToObject(obj, "meteringBatches", (double)n.metering_batches);
    (void)cJSON_AddNumberToObject(obj, "activeViolations", (double)n.active_violations);
    (void)cJSON_AddNumberToObject(obj, "violationEvents", (double)n.violation_events);
    (void)cJSON_AddNumberToObject(obj, "alertsPublished", (double)n.alerts_published);
    (void)cJSON_AddNumberToObject(obj, "webhooksGivenUp", (double)n.webhooks_given_up);
    (void)cJSON_AddBoolToObject(obj, "storeWritable", n.store_writable);
    (void)cJSON_AddNumberToObject(obj, "messagesHeld", (double)n.messages_held);
    (void)cJSON_AddNumberToObject(obj, "storeStalls", (double)n.store_stalls);
    if (!n.store_writable) {
        (void)cJSON_AddStringToObject(obj, "storeError",
                                      n.store_error != NULL ? n.store_error : "");
    }
    for (i = c->feed_seq > DD_CTLAPI_FEED_SIZE ? c->feed_seq - DD_CTLAPI_FEED_SIZE + 1 : 1;
         i <= c->feed_seq; i++) {
        const dd_ctlapi_event_t *item = &c->feed[i % DD_CTLAPI_FEED_SIZE];
        cJSON *e = cJSON_CreateObject();
        (void)cJSON_AddNumberToObject(e, "seq", (double)item->seq);
        (void)cJSON_AddStringToObject(e, "text", item->text);
        (void)cJSON_AddItemToArray(events, e);
    }
    (void)cJSON_AddItemToObject(obj, "latestEvents", events);
    return json_text(obj);
}

/* Lock-free: the events query of @p query (strings borrowed from @p q, freed by the caller). */
static dd_rest_status_t events_query(const char *query, dd_rest_query_t *q, dd_events_query_t *eq,
                                     char *msg)
{
    int64_t after = 0;
    int64_t timeout = 0;
    int64_t limit = 0;
    dd_rest_status_t rs;
    static const char *const names[] = {"after", "timeout", "limit", "type",
                                        "thing", "profile", "group"};
    size_t i;

    memset(eq, 0, sizeof(*eq));
    rs = dd_rest_query_parse(query, q, msg);
    for (i = 0; rs == DD_REST_OK && i < q->count; i++) {
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]) && strcmp(q->names[i], names[k]) != 0;
             k++) {
        }
        if (k == sizeof(names) / sizeof(names[0])) {
            (void)snprintf(msg, DD_REST_MESSAGE_MAX,
                           "Unknown parameter '%.60s' (after, timeout, limit, type, thing, "
                           "profile, group)",
                           q->names[i]);
            rs = DD_REST_INVALID;
        }
    }
    if (rs == DD_REST_OK) {
        rs = dd_rest_query_int(q, "after", false, 0, INT64_MAX, &after, msg);
    }
    if (rs == DD_REST_OK || rs == DD_REST_ABSENT) {
        rs = dd_rest_query_int(q, "timeout", false, 0, DD_EVENTS_MAX_WAIT_MS, &timeout, msg);
    }
    if (rs == DD_REST_OK || rs == DD_REST_ABSENT) {
        rs = dd_rest_query_int(q, "limit", false, 1, DD_EVENTS_MAX_LIMIT, &limit, msg);
    }
    if (rs != DD_REST_OK && rs != DD_REST_ABSENT) {
        return rs;
    }
    eq->after = (uint64_t)after;
    eq->timeout_ms = timeout;
    eq->limit = (size_t)limit;
    eq->types = dd_rest_query_get(q, "type");
    eq->thing = dd_rest_query_get(q, "thing");
    eq->profile = dd_rest_query_get(q, "profile");
    eq->group = dd_rest_query_get(q, "group");
    return DD_REST_OK;
}

/*
 * GET /ddlocal/v1/events?after=SEQ&timeout=MS&type=T[,T]&thing=&profile=&group=&limit=N:
 * the long-poll (dd_events.h); waits without the pipeline lock.
 */
static int events_get(dd_ctlapi_t *c, const char *query, char **response)
{
    dd_rest_query_t q;
    dd_events_query_t eq;
    char msg[DD_REST_MESSAGE_MAX] = "";
    dd_rest_status_t rs;

    if (c->events == NULL) {
        *response = error_json("This ddlocald keeps no event log");
        return 404;
    }
    memset(&q, 0, sizeof(q));
    rs = events_query(query, &q, &eq, msg);
    if (rs == DD_REST_OK && dd_events_query(c->events, &eq, response) != DD_EVENTS_OK) {
        (void)snprintf(msg, sizeof(msg), "out of memory");
        rs = DD_REST_NO_MEMORY;
    }
    dd_rest_query_free(&q);
    if (rs != DD_REST_OK) {
        *response = error_json(msg[0] != '\0' ? msg : "Bad query");
        return rs == DD_REST_NO_MEMORY ? 500 : 400;
    }
    return 200;
}

int dd_ctlapi_stream_open(dd_ctlapi_t *c, const char *method, const char *target,
                          struct dd_events_reader **reader, const char **content_type,
                          char **response)
{
    const char *query;
    size_t n;
    dd_rest_query_t q;
    dd_events_query_t eq;
    char msg[DD_REST_MESSAGE_MAX] = "";
    dd_rest_status_t rs;
    bool stream;
    dd_events_status_t st = DD_EVENTS_OK;
    static const char STREAM[] = "/ddlocal/v1/events/stream";
    static const char POLL[] = "/ddlocal/v1/events";

    if (c == NULL || method == NULL || target == NULL || reader == NULL || content_type == NULL ||
        response == NULL || c->events == NULL || strcmp(method, "GET") != 0) {
        return 0;
    }
    query = strchr(target, '?');
    n = query != NULL ? (size_t)(query - target) : strlen(target);
    stream = n == sizeof(STREAM) - 1 && strncmp(target, STREAM, n) == 0;
    if (!stream && (n != sizeof(POLL) - 1 || strncmp(target, POLL, n) != 0)) {
        return 0;
    }
    memset(&q, 0, sizeof(q));
    rs = events_query(query != NULL ? query + 1 : NULL, &q, &eq, msg);
    if (rs == DD_REST_OK && !stream && eq.timeout_ms == 0) {
        dd_rest_query_free(&q);
        return 0; /* answered at once by dd_ctlapi_handle() */
    }
    if (rs == DD_REST_OK) {
        st = stream ? dd_events_reader_open(c->events, &eq, reader)
                    : dd_events_poll_open(c->events, &eq, reader);
        *content_type = stream ? "application/x-ndjson" : "application/json";
    }
    if (rs == DD_REST_OK && st != DD_EVENTS_OK) {
        (void)snprintf(msg, sizeof(msg), "out of memory");
        rs = DD_REST_NO_MEMORY;
    }
    dd_rest_query_free(&q);
    if (rs != DD_REST_OK) {
        *response = error_json(msg[0] != '\0' ? msg : "Bad query");
        return rs == DD_REST_NO_MEMORY ? 500 : 400;
    }
    return 200;
}

/* POST /ddlocal/v1/reset {"kinds":["registry",...]}; no body or no "kinds": everything. */
static int reset(dd_ctlapi_t *c, const char *body, size_t body_len, char **response)
{
    static const char *const NAMES[] = {"registry", "profiles",   "violations",
                                        "metrics",  "mitigation", "audit"};
    cJSON *req = NULL;
    const cJSON *kinds = NULL;
    const cJSON *k;
    cJSON *obj;
    cJSON *done;
    unsigned mask = 0;
    char why[200] = "";
    size_t i;
    int rc;

    if (body != NULL && body_len > 0) {
        if (dd_json_parse(body, body_len, 0, &req, NULL) != DD_JSON_OK || !cJSON_IsObject(req)) {
            cJSON_Delete(req);
            *response = error_json("Body must be {\"kinds\": [\"registry\", ...]} or empty");
            return 400;
        }
        kinds = cJSON_GetObjectItemCaseSensitive(req, "kinds");
    }
    if (kinds == NULL) {
        mask = DD_RESET_ALL;
    } else if (!cJSON_IsArray(kinds) || cJSON_GetArraySize(kinds) == 0) {
        mask = 0;
    } else {
        cJSON_ArrayForEach (k, kinds) {
            unsigned one = 0;
            if (!cJSON_IsString(k) || dd_reset_kind(k->valuestring, &one) != DD_RESET_OK) {
                char text[300];
                (void)snprintf(text, sizeof(text), "Unknown kind %.60s; kinds are %s",
                               cJSON_IsString(k) ? k->valuestring : "(not a string)",
                               DD_RESET_KIND_NAMES);
                cJSON_Delete(req);
                *response = error_json(text);
                return 400;
            }
            mask |= one;
        }
    }
    cJSON_Delete(req);
    if (mask == 0) {
        *response = error_json("\"kinds\" must be a non-empty array of: " DD_RESET_KIND_NAMES);
        return 400;
    }
    pthread_mutex_lock(c->lock);
    rc = c->reset(c->ctx, mask, why, sizeof(why));
    pthread_mutex_unlock(c->lock);
    if (rc != 0) {
        char text[sizeof(why) + 64];
        (void)snprintf(text, sizeof(text), "Nothing was reset: %s", why);
        *response = error_json(text);
        return 500;
    }
    obj = cJSON_CreateObject();
    done = cJSON_AddArrayToObject(obj, "reset");
    for (i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        unsigned one = 0;
        if (dd_reset_kind(NAMES[i], &one) == DD_RESET_OK && (mask & one) != 0) {
            (void)cJSON_AddItemToArray(done, cJSON_CreateString(NAMES[i]));
        }
    }
    *response = json_text(obj);
    return 200;
}

/* POST /ddlocal/v1/snapshot and /ddlocal/v1/restore {"name":"before-test"}. */
static int snapshot(dd_ctlapi_t *c, const char *body, size_t body_len, bool restore,
                    char **response)
{
    cJSON *req = NULL;
    const cJSON *name;
    cJSON *obj;
    char why[300] = "";
    int status;

    if (body != NULL) {
        (void)dd_json_parse(body, body_len, 0, &req, NULL);
    }
    name = cJSON_GetObjectItemCaseSensitive(req, "name");
    if (!cJSON_IsString(name) || !dd_name_valid(DD_NAME_TASK_ID, name->valuestring)) {
        cJSON_Delete(req);
        *response = error_json("Body must be {\"name\": N}, N of 1 to 128 [A-Za-z0-9_-]");
        return 400;
    }
    pthread_mutex_lock(c->lock);
    status = c->snapshot(c->ctx, name->valuestring, restore, why, sizeof(why));
    pthread_mutex_unlock(c->lock);
    if (status != 200) {
        cJSON_Delete(req);
        *response = error_json(why);
        return status;
    }
    obj = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(obj, restore ? "restored" : "saved", name->valuestring);
    (void)cJSON_AddStringToObject(obj, "path", why); /* the callback's answer on success */
    cJSON_Delete(req);
    *response = json_text(obj);
    return 200;
}

/* POST /ddlocal/v1/faults (lock held): adds the fault of the body. */
static int fault_add(dd_ctlapi_t *c, const char *body, size_t body_len, char **response)
{
    dd_faults_fault_t f;
    char msg[300] = "";
    char text[DD_CTLAPI_FEED_TEXT];
    dd_faults_status_t st;
    uint64_t id = 0;
    cJSON *obj;

    st = dd_faults_parse(body, body != NULL ? body_len : 0, dd_clock_now_ms(c->clock), &f, msg,
                         sizeof(msg));
    if (st == DD_FAULTS_OK) {
        st = dd_faults_add(c->faults, &f, &id);
        if (st == DD_FAULTS_FULL) {
            (void)snprintf(msg, sizeof(msg),
                           "%d faults are in force already; clear some first (DELETE "
                           "/ddlocal/v1/faults)",
                           DD_FAULTS_MAX);
        }
    }
    if (st != DD_FAULTS_OK) {
        *response = error_json(msg[0] != '\0' ? msg : dd_faults_strerror(st));
        return st == DD_FAULTS_NO_MEMORY ? 500 : 400;
    }
    f.id = id;
    (void)snprintf(text, sizeof(text), "fault %" PRIu64 " added: %s on %s", id,
                   dd_faults_kind_name(f.kind), f.thing);
    (void)dd_ctlapi_feed(c, text);
    obj = cJSON_CreateObject();
    (void)cJSON_AddItemToObject(obj, "fault", dd_faults_json(&f));
    *response = json_text(obj);
    return 200;
}

/* DELETE /ddlocal/v1/faults[?thing=T&kind=K] or /ddlocal/v1/faults/ID (lock held). */
static int fault_clear(dd_ctlapi_t *c, const char *id_text, const char *query, char **response)
{
    dd_rest_query_t q;
    char msg[DD_REST_MESSAGE_MAX] = "";
    const char *thing = NULL;
    const char *kind = NULL;
    uint64_t id = 0;
    size_t cleared = 0;
    size_t i;
    dd_faults_status_t st;
    cJSON *obj;

    memset(&q, 0, sizeof(q));
    if (id_text != NULL) {
        char *end = NULL;
        id = strtoull(id_text, &end, 10);
        if (id_text[0] < '0' || id_text[0] > '9' || end == NULL || *end != '\0' || id == 0) {
            *response =
                error_json("A fault id is a positive integer (DELETE /ddlocal/v1/faults/ID)");
            return 400;
        }
    } else if (dd_rest_query_parse(query, &q, msg) != DD_REST_OK) {
        dd_rest_query_free(&q);
        *response = error_json(msg[0] != '\0' ? msg : "Bad query");
        return 400;
    }
    for (i = 0; i < q.count; i++) {
        if (strcmp(q.names[i], "thing") != 0 && strcmp(q.names[i], "kind") != 0) {
            (void)snprintf(msg, sizeof(msg), "Unknown parameter '%.60s' (thing, kind)", q.names[i]);
            dd_rest_query_free(&q);
            *response = error_json(msg);
            return 400;
        }
    }
    thing = dd_rest_query_get(&q, "thing");
    kind = dd_rest_query_get(&q, "kind");
    if (thing != NULL && strcmp(thing, DD_FAULTS_EVERY_THING) != 0 &&
        !dd_name_valid(DD_NAME_THING, thing)) {
        dd_rest_query_free(&q);
        *response = error_json("thing must be a thing name or \"*\"");
        return 400;
    }
    if (kind != NULL && !dd_faults_kind_parse(kind, NULL)) {
        dd_rest_query_free(&q);
        *response = error_json("kind must be one of: " DD_FAULTS_KIND_NAMES);
        return 400;
    }
    st = dd_faults_clear(c->faults, id, thing, kind, &cleared);
    dd_rest_query_free(&q);
    if (st == DD_FAULTS_NOT_FOUND) {
        (void)snprintf(msg, sizeof(msg), "No fault %" PRIu64 " is in force", id);
        *response = error_json(msg);
        return 404;
    }
    if (cleared > 0) {
        (void)snprintf(msg, sizeof(msg), "faults cleared: %zu", cleared);
        (void)dd_ctlapi_feed(c, msg);
    }
    obj = cJSON_CreateObject();
    (void)cJSON_AddNumberToObject(obj, "cleared", (double)cleared);
    *response = json_text(obj);
    return 200;
}

/* /ddlocal/v1/faults[/ID]: POST adds, GET lists, DELETE clears (lock taken here). */
static int faults(dd_ctlapi_t *c, const char *method, const char *path, const char *query,
                  const char *body, size_t body_len, char **response)
{
    const char *id_text =
        path[strlen("/ddlocal/v1/faults")] == '/' ? path + strlen("/ddlocal/v1/faults/") : NULL;
    cJSON *obj;
    cJSON *list = NULL;
    int status = 200;

    pthread_mutex_lock(c->lock);
    if (strcmp(method, "DELETE") == 0) {
        status = fault_clear(c, id_text, query, response);
    } else if (id_text != NULL) {
        *response = error_json("A fault is cleared with DELETE /ddlocal/v1/faults/ID");
        status = 404;
    } else if (strcmp(method, "POST") == 0) {
        status = fault_add(c, body, body_len, response);
    } else if (strcmp(method, "GET") == 0) {
        obj = cJSON_CreateObject();
        if (dd_faults_list(c->faults, dd_clock_now_ms(c->clock), &list) == DD_FAULTS_OK) {
            (void)cJSON_AddItemToObject(obj, "faults", list);
        }
        *response = json_text(obj);
    } else {
        *response = error_json("/ddlocal/v1/faults answers GET (list), POST (add) and DELETE "
                               "(clear)");
        status = 405;
    }
    pthread_mutex_unlock(c->lock);
    return status;
}

/* Parses JSON lines into an array (lines written by dd_datapoints_run()). */
static cJSON *lines_array(const char *text)
{
    cJSON *arr = cJSON_CreateArray();
    const char *line = text != NULL ? text : "";

    while (arr != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        cJSON *item = len > 0 ? cJSON_ParseWithLength(line, len) : NULL;
        if (item != NULL) {
            (void)cJSON_AddItemToArray(arr, item);
        }
        line += len + (end != NULL ? 1 : 0);
    }
    return arr;
}

/*
 * GET /ddlocal/v1/datapoints?profile=P[&behavior=B][&thing=T][&from=MS][&to=MS] (lock not
 * held: the replay runs on a database connection of its own).
 */
static int datapoints_get(dd_ctlapi_t *c, const char *query, char **response)
{
    static const char *const names[] = {"profile", "behavior", "thing", "from", "to"};
    dd_datapoints_query_t dq;
    dd_rest_query_t q;
    char msg[DD_REST_MESSAGE_MAX] = "";
    char why[512] = "";
    char *rows = NULL;
    char *stats = NULL;
    dd_rest_status_t rs;
    int status = 400;
    size_t i;

    memset(&dq, 0, sizeof(dq));
    dq.to_ms = INT64_MAX;
    dq.time_ms = true;
    rs = dd_rest_query_parse(query, &q, msg);
    for (i = 0; rs == DD_REST_OK && i < q.count; i++) {
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]) && strcmp(q.names[i], names[k]) != 0;
             k++) {
        }
        if (k == sizeof(names) / sizeof(names[0])) {
            (void)snprintf(msg, sizeof(msg),
                           "Unknown parameter '%.60s' (profile, behavior, thing, from, to)",
                           q.names[i]);
            rs = DD_REST_INVALID;
        }
    }
    if (rs == DD_REST_OK) {
        rs = dd_rest_query_int(&q, "from", false, 0, INT64_MAX, &dq.from_ms, msg);
    }
    if (rs == DD_REST_OK || rs == DD_REST_ABSENT) {
        rs = dd_rest_query_int(&q, "to", false, 0, INT64_MAX, &dq.to_ms, msg);
    }
    if (rs == DD_REST_OK || rs == DD_REST_ABSENT) {
        dq.profile = dd_rest_query_get(&q, "profile");
        dq.behavior = dd_rest_query_get(&q, "behavior");
        dq.thing = dd_rest_query_get(&q, "thing");
        if (dq.profile == NULL || dq.profile[0] == '\0') {
            (void)snprintf(msg, sizeof(msg), "profile is required (a security profile name)");
        } else if (dq.to_ms < dq.from_ms) {
            (void)snprintf(msg, sizeof(msg), "to is before from");
        } else {
            status = c->datapoints(c->ctx, &dq, &rows, &stats, why, sizeof(why));
        }
    }
    if (status == 200) {
        cJSON *obj = cJSON_CreateObject();
        (void)cJSON_AddItemToObject(obj, "datapoints", lines_array(rows));
        (void)cJSON_AddItemToObject(obj, "windows", lines_array(stats));
        *response = json_text(obj);
    } else {
        *response = error_json(status == 400 ? msg : why);
    }
    free(rows);
    free(stats);
    dd_rest_query_free(&q);
    return status;
}

/* GET /ddlocal/v1/health (lock held): 200 when the broker is connected and the store writes. */
static int health(dd_ctlapi_t *c, char **response)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *problems = cJSON_CreateArray();
    dd_ctlapi_counters_t n;
    bool healthy;

    memset(&n, 0, sizeof(n));
    n.store_writable = true;
    if (c->counters != NULL) {
        c->counters(c->ctx, &n);
    }
    if (!n.broker_connected) {
        (void)cJSON_AddItemToArray(problems,
                                   cJSON_CreateString("ddlocald is not connected to the broker"));
    }
    if (!n.store_writable) {
        char text[DD_CTLAPI_FEED_TEXT];
        (void)snprintf(text, sizeof(text), "the store cannot write: %s",
                       n.store_error != NULL ? n.store_error : "");
        (void)cJSON_AddItemToArray(problems, cJSON_CreateString(text));
    }
    healthy = n.broker_connected && n.store_writable;
    (void)cJSON_AddBoolToObject(obj, "healthy", healthy);
    (void)cJSON_AddBoolToObject(obj, "brokerConnected", n.broker_connected);
    (void)cJSON_AddBoolToObject(obj, "storeWritable", n.store_writable);
    (void)cJSON_AddItemToObject(obj, "clock", clock_json(c));
    (void)cJSON_AddItemToObject(obj, "problems", problems);
    *response = json_text(obj);
    return healthy ? 200 : 503;
}

dd_ctlapi_status_t dd_ctlapi_handle(dd_ctlapi_t *c, const char *method, const char *target,
                                    const char *body, size_t body_len, int *http_status,
                                    char **response)
{
    char path[128];
    const char *query;

    if (c == NULL || c->lock == NULL || c->clock == NULL || method == NULL || target == NULL ||
        http_status == NULL || response == NULL) {
        return DD_CTLAPI_BAD_PARAMETER;
    }
    /* The target may carry a query: the routes compare the path alone. */
    query = strchr(target, '?');
    (void)snprintf(path, sizeof(path), "%.*s",
                   (int)(query != NULL ? (size_t)(query - target) : strlen(target)), target);
    query = query != NULL ? query + 1 : NULL;
    if (strcmp(path, "/ddlocal/v1/events") == 0 && strcmp(method, "GET") == 0) {
        *http_status = events_get(c, query, response);
    } else if (strcmp(path, "/ddlocal/v1/clock") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(c->lock);
        *response = json_text(clock_json(c));
        pthread_mutex_unlock(c->lock);
        *http_status = 200;
    } else if (strcmp(path, "/ddlocal/v1/clock") == 0 && strcmp(method, "POST") == 0) {
        *http_status = post_clock(c, body, body_len, response);
    } else if (strcmp(path, "/ddlocal/v1/health") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(c->lock);
        *http_status = health(c, response);
        pthread_mutex_unlock(c->lock);
    } else if (strcmp(path, "/ddlocal/v1/reset") == 0 && strcmp(method, "POST") == 0 &&
               c->reset != NULL) {
        *http_status = reset(c, body, body_len, response);
    } else if ((strcmp(path, "/ddlocal/v1/snapshot") == 0 ||
                strcmp(path, "/ddlocal/v1/restore") == 0) &&
               strcmp(method, "POST") == 0 && c->snapshot != NULL) {
        *http_status =
            snapshot(c, body, body_len, strcmp(path, "/ddlocal/v1/restore") == 0, response);
    } else if ((strcmp(path, "/ddlocal/v1/faults") == 0 ||
                strncmp(path, "/ddlocal/v1/faults/", strlen("/ddlocal/v1/faults/")) == 0) &&
               c->faults != NULL) {
        *http_status = faults(c, method, path, query, body, body_len, response);
    } else if (strcmp(path, "/ddlocal/v1/sync") == 0 && strcmp(method, "POST") == 0 &&
               c->registry_sync != NULL) {
        char why[256] = "";
        int rc;
        pthread_mutex_lock(c->lock);
        rc = c->registry_sync(c->ctx, why, sizeof(why));
        pthread_mutex_unlock(c->lock);
        if (rc == 0) {
            *response = strdup("{\"synced\":true}");
            *http_status = 200;
        } else {
            *response = error_json(why);
            *http_status = 503;
        }
    } else if (strcmp(path, "/ddlocal/v1/connections") == 0 && strcmp(method, "GET") == 0 &&
               c->connections != NULL) {
        cJSON *obj = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(obj, "connections");

        pthread_mutex_lock(c->lock);
        *http_status = c->connections(c->ctx, list) == 0 ? 200 : 500;
        pthread_mutex_unlock(c->lock);
        if (*http_status == 200) {
            *response = json_text(obj);
        } else {
            cJSON_Delete(obj);
            *response = error_json("The connection history could not be read");
        }
    } else if (strcmp(path, "/ddlocal/v1/datapoints") == 0 && strcmp(method, "GET") == 0 &&
               c->datapoints != NULL) {
        *http_status = datapoints_get(c, query, response);
    } else if (strcmp(path, "/ddlocal/v1/status") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(c->lock);
        *response = status_text(c);
        pthread_mutex_unlock(c->lock);
        *http_status = 200;
    } else {
        *response = error_json("ddlocal's own operations are GET /ddlocal/v1/status, GET "
                               "/ddlocal/v1/health, GET and POST /ddlocal/v1/clock, POST "
                               "/ddlocal/v1/reset, /snapshot and /restore, GET "
                               "/ddlocal/v1/events and /events/stream, GET, POST and DELETE "
                               "/ddlocal/v1/faults, POST /ddlocal/v1/sync, GET "
                               "/ddlocal/v1/connections, GET /ddlocal/v1/datapoints");
        *http_status = 404;
    }
    return *response != NULL ? DD_CTLAPI_OK : DD_CTLAPI_NO_MEMORY;
}

dd_ctlapi_status_t dd_ctlapi_feed(dd_ctlapi_t *c, const char *text)
{
    uint64_t seq;
    dd_ctlapi_event_t *item;

    if (c == NULL || text == NULL) {
        return DD_CTLAPI_BAD_PARAMETER;
    }
    /* Item seq k lives at k % DD_CTLAPI_FEED_SIZE, where the status operation reads it. */
    seq = c->feed_seq + 1;
    item = &c->feed[seq % DD_CTLAPI_FEED_SIZE];
    (void)snprintf(item->text, sizeof(item->text), "%s", text);
    item->seq = seq;
    c->feed_seq = seq;
    return DD_CTLAPI_OK;
}

const char *dd_ctlapi_strerror(dd_ctlapi_status_t status)
{
    switch (status) {
    case DD_CTLAPI_OK: return "ok";
    case DD_CTLAPI_BAD_PARAMETER: return "bad parameter";
    case DD_CTLAPI_NO_MEMORY: return "out of memory";
    }
    return "unknown ctlapi status";
}
