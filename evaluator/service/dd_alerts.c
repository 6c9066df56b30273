#include "dd_alerts.h"

#include "dd_clock.h"
#include "dd_log.h"
#include "dd_seed.h"
#include "dd_shapes.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- message builders -------------------------------------------------------- */

static bool add_item(cJSON *obj, const char *name, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static dd_alerts_status_t print_and_free(cJSON *root, bool ok, char **out)
{
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;

    cJSON_Delete(root);
    if (text == NULL) {
        return DD_ALERTS_NO_MEMORY;
    }
    *out = text;
    return DD_ALERTS_OK;
}

dd_alerts_status_t dd_alerts_message(const dd_violation_event_t *ev, char **out)
{
    cJSON *root;
    bool ok;

    if (ev == NULL || out == NULL || ev->behavior == NULL || ev->thing == NULL ||
        ev->profile == NULL || ev->violation_id == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    *out = NULL;
    root = cJSON_CreateObject();
    if (root == NULL) {
        return DD_ALERTS_NO_MEMORY;
    }
    /* Member order as in the captured deliveries of defender-spec.md §5.2. */
    ok = cJSON_AddNumberToObject(root, "violationEventTime", (double)ev->time_ms) != NULL &&
         cJSON_AddStringToObject(root, "thingName", ev->thing) != NULL &&
         add_item(root, "behavior", dd_profile_behavior_to_json(ev->behavior)) &&
         cJSON_AddStringToObject(root, "violationEventType", dd_alarm_event_name(ev->type)) != NULL;
    if (ok && ev->has_value && ev->type != DD_ALARM_INVALIDATED) {
        ok = add_item(root, "metricValue", dd_shapes_metric_value(&ev->value));
    }
    ok = ok && cJSON_AddStringToObject(root, "violationId", ev->violation_id) != NULL &&
         cJSON_AddStringToObject(root, "securityProfileName", ev->profile) != NULL;
    if (ok && ev->type == DD_ALARM_INVALIDATED) {
        ok = cJSON_AddStringToObject(root, "verificationState",
                                     dd_verification_name(ev->verification)) != NULL;
    }
    return print_and_free(root, ok, out);
}

/* One stream per kind of id, so that a seeded run's message ids do not depend on how many
 * deliveries were retried in between. A failed draw still gives a well-formed id. */
static void new_uuid(const char *stream, char *buf, size_t len)
{
    char id[DD_SEED_UUID_LEN];

    if (dd_seed_uuid(stream, id) != DD_SEED_OK) {
        (void)snprintf(id, sizeof(id), "5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a");
    }
    (void)snprintf(buf, len, "%s", id);
}

static void iso8601_ms(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    (void)gmtime_r(&secs, &tm);
    (void)snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/*
 * The SNS notification object: the HTTP body, and Records[0].Sns of a Lambda
 * event - where SNS spells two members SigningCertUrl and UnsubscribeUrl.
 */
static cJSON *notification(const char *topic_arn, const char *message, int64_t now_ms, bool lambda)
{
    cJSON *sns = cJSON_CreateObject();
    char id[40];
    char ts[48];
    char url[512];
    bool ok;

    if (sns == NULL) {
        return NULL;
    }
    new_uuid("sns-message-id", id, sizeof(id));
    iso8601_ms(now_ms, ts, sizeof(ts));
    (void)snprintf(url, sizeof(url), "http://ddlocal.invalid/unsubscribe?SubscriptionArn=%s",
                   topic_arn);
    ok = cJSON_AddStringToObject(sns, "Type", "Notification") != NULL &&
         cJSON_AddStringToObject(sns, "MessageId", id) != NULL &&
         cJSON_AddStringToObject(sns, "TopicArn", topic_arn) != NULL &&
         cJSON_AddNullToObject(sns, "Subject") != NULL &&
         cJSON_AddStringToObject(sns, "Message", message) != NULL &&
         cJSON_AddStringToObject(sns, "Timestamp", ts) != NULL &&
         cJSON_AddStringToObject(sns, "SignatureVersion", "1") != NULL &&
         /* ddlocal does not sign: nothing local could verify it. */
         cJSON_AddStringToObject(sns, "Signature", "ddlocal-unsigned") != NULL &&
         cJSON_AddStringToObject(sns, lambda ? "SigningCertUrl" : "SigningCertURL",
                                 "http://ddlocal.invalid/unsigned.pem") != NULL &&
         cJSON_AddStringToObject(sns, lambda ? "UnsubscribeUrl" : "UnsubscribeURL", url) != NULL &&
         cJSON_AddObjectToObject(sns, "MessageAttributes") != NULL;
    if (!ok) {
        cJSON_Delete(sns);
        return NULL;
    }
    return sns;
}

dd_alerts_status_t dd_alerts_sns_notification(const char *topic_arn, const char *message,
                                              int64_t now_ms, char **out)
{
    cJSON *sns;

    if (topic_arn == NULL || message == NULL || out == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    *out = NULL;
    sns = notification(topic_arn, message, now_ms, false);
    return sns == NULL ? DD_ALERTS_NO_MEMORY : print_and_free(sns, true, out);
}

dd_alerts_status_t dd_alerts_lambda_event(const char *topic_arn, const char *message,
                                          int64_t now_ms, char **out)
{
    cJSON *root;
    cJSON *records;
    cJSON *record;
    char sub[600];
    char id[40];
    bool ok;

    if (topic_arn == NULL || message == NULL || out == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    *out = NULL;
    root = cJSON_CreateObject();
    records = cJSON_AddArrayToObject(root, "Records");
    record = cJSON_CreateObject();
    if (root == NULL || records == NULL || record == NULL ||
        !cJSON_AddItemToArray(records, record)) {
        cJSON_Delete(record);
        cJSON_Delete(root);
        return DD_ALERTS_NO_MEMORY;
    }
    new_uuid("sns-subscription-id", id, sizeof(id));
    (void)snprintf(sub, sizeof(sub), "%s:%s", topic_arn, id);
    ok = cJSON_AddStringToObject(record, "EventSource", "aws:sns") != NULL &&
         cJSON_AddStringToObject(record, "EventVersion", "1.0") != NULL &&
         cJSON_AddStringToObject(record, "EventSubscriptionArn", sub) != NULL &&
         add_item(record, "Sns", notification(topic_arn, message, now_ms, true));
    return print_and_free(root, ok, out);
}

dd_alerts_status_t dd_alerts_lambda_event_for(const char *event, int64_t subscription_id,
                                              char **out)
{
    cJSON *root;
    cJSON *record;
    const char *topic_arn;
    char arn[600];

    if (event == NULL || subscription_id <= 0 || out == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    *out = NULL;
    root = cJSON_Parse(event);
    record = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "Records"), 0);
    topic_arn = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(record, "Sns"),
                                         "TopicArn"));
    if (topic_arn == NULL ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(record, "EventSubscriptionArn"))) {
        cJSON_Delete(root);
        return root == NULL ? DD_ALERTS_NO_MEMORY : DD_ALERTS_BAD_PARAMETER;
    }
    /* A UUID-shaped id derived from the registry's: the same subscription, the same ARN. */
    (void)snprintf(arn, sizeof(arn), "%s:00000000-0000-4000-8000-%012lld", topic_arn,
                   (long long)(subscription_id % 1000000000000LL));
    return print_and_free(root,
                          cJSON_ReplaceItemInObjectCaseSensitive(record, "EventSubscriptionArn",
                                                                 cJSON_CreateString(arn)) != 0,
                          out);
}

/* ---- webhook deliverer ---------------------------------------------------------- */

typedef struct job {
    struct job *next;
    char *topic;
    char *endpoint;
    char *body;
    int attempts;
    int64_t not_before_ms;
    char id[40];
    char last_error[CURL_ERROR_SIZE + 32];
} job_t;

struct dd_alerts_webhooks {
    dd_alerts_webhook_config_t cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job_t *head;
    size_t pending;
    bool stopping;
};

static void job_free(job_t *j)
{
    if (j != NULL) {
        free(j->topic);
        free(j->endpoint);
        free(j->body);
        free(j);
    }
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* One POST; true on a 2xx answer. */
static bool post_once(dd_alerts_webhooks_t *w, CURL *curl, job_t *j)
{
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode rc;

    headers = curl_slist_append(headers, "Content-Type: text/plain; charset=UTF-8");
    headers = curl_slist_append(headers, "x-amz-sns-message-type: Notification");
    curl_easy_reset(curl);
    (void)curl_easy_setopt(curl, CURLOPT_URL, j->endpoint);
    (void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, j->body);
    (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    (void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    (void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    (void)curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        (void)snprintf(j->last_error, sizeof(j->last_error), "%s",
                       errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
        return false;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        (void)snprintf(j->last_error, sizeof(j->last_error), "HTTP status %ld", code);
        return false;
    }
    return true;
}

static void *deliver_thread(void *arg)
{
    dd_alerts_webhooks_t *w = arg;
    CURL *curl = curl_easy_init();

    pthread_mutex_lock(&w->lock);
    for (;;) {
        job_t *j = NULL;
        job_t **pp;
        bool stopping;
        bool delivered;
        int64_t now = dd_clock_mono_ms();
        int64_t wake = now + 1000;

        for (pp = &w->head; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->not_before_ms <= now || w->stopping) {
                j = *pp;
                *pp = j->next;
                break;
            }
            if ((*pp)->not_before_ms < wake) {
                wake = (*pp)->not_before_ms;
            }
        }
        if (j == NULL) {
            struct timespec ts;
            if (w->stopping) {
                break;
            }
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (wake - now) / 1000;
            ts.tv_nsec += (long)((wake - now) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&w->cond, &w->lock, &ts);
            continue;
        }
        stopping = w->stopping;
        pthread_mutex_unlock(&w->lock);
        delivered = false;
        /* Only a POST made counts: a job given up at stop may never have been tried. */
        if (!stopping && w->cfg.deliver != NULL) {
            j->attempts++;
            j->last_error[0] = '\0';
            delivered = w->cfg.deliver(w->cfg.deliver_ctx, j->topic, j->endpoint, j->body, j->id,
                                       j->attempts, j->last_error, sizeof(j->last_error));
            if (!delivered && j->last_error[0] == '\0') {
                (void)snprintf(j->last_error, sizeof(j->last_error), "delivery failed");
            }
        } else if (!stopping && curl != NULL) {
            j->attempts++;
            delivered = post_once(w, curl, j);
        }
        if (delivered) {
            DD_LOG_DEBUG("%s %s: delivered", w->cfg.label, j->endpoint);
            if (w->cfg.delivered != NULL) {
                w->cfg.delivered(w->cfg.delivered_ctx, w->cfg.label, j->topic, j->endpoint,
                                 j->attempts);
            }
            job_free(j);
            pthread_mutex_lock(&w->lock);
            w->pending--;
            continue;
        }
        if (curl == NULL && w->cfg.deliver == NULL) {
            (void)snprintf(j->last_error, sizeof(j->last_error),
                           "libcurl could not be initialised");
        } else if (stopping && j->last_error[0] == '\0') {
            (void)snprintf(j->last_error, sizeof(j->last_error),
                           "ddlocald stopped before delivery");
        }
        if (j->attempts >= w->cfg.max_attempts || stopping ||
            (curl == NULL && w->cfg.deliver == NULL)) {
            DD_LOG_ERROR("%s %s: GAVE UP after %d attempt(s): %s", w->cfg.label, j->endpoint,
                         j->attempts, j->last_error);
            if (w->cfg.dead_letter != NULL) {
                w->cfg.dead_letter(w->cfg.dead_letter_ctx, j->topic, j->endpoint, j->body,
                                   j->attempts, j->last_error);
            }
            job_free(j);
            pthread_mutex_lock(&w->lock);
            w->pending--;
            continue;
        }
        DD_LOG_INFO("%s %s: attempt %d failed (%s); retrying", w->cfg.label, j->endpoint,
                    j->attempts, j->last_error);
        j->not_before_ms =
            dd_clock_mono_ms() + ((int64_t)w->cfg.first_retry_ms << (j->attempts - 1));
        pthread_mutex_lock(&w->lock);
        j->next = w->head;
        w->head = j;
    }
    pthread_mutex_unlock(&w->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

dd_alerts_status_t dd_alerts_webhooks_start(const dd_alerts_webhook_config_t *cfg,
                                            dd_alerts_webhooks_t **out)
{
    dd_alerts_webhooks_t *w;

    if (out == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return DD_ALERTS_NO_MEMORY;
    }
    if (cfg != NULL) {
        w->cfg = *cfg;
    }
    if (w->cfg.max_attempts <= 0) {
        w->cfg.max_attempts = 4;
    }
    if (w->cfg.first_retry_ms <= 0) {
        w->cfg.first_retry_ms = 1000;
    }
    if (w->cfg.timeout_ms <= 0) {
        w->cfg.timeout_ms = 5000;
    }
    if (w->cfg.label == NULL) {
        w->cfg.label = "webhook";
    }
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, deliver_thread, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return DD_ALERTS_NO_MEMORY;
    }
    *out = w;
    return DD_ALERTS_OK;
}

dd_alerts_status_t dd_alerts_webhooks_post(dd_alerts_webhooks_t *w, const char *topic,
                                           const char *endpoint, const char *body)
{
    job_t *j;
    job_t **pp;

    if (w == NULL || topic == NULL || endpoint == NULL || body == NULL) {
        return DD_ALERTS_BAD_PARAMETER;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return DD_ALERTS_NO_MEMORY;
    }
    j->topic = strdup(topic);
    j->endpoint = strdup(endpoint);
    j->body = strdup(body);
    new_uuid("delivery-job-id", j->id, sizeof(j->id));
    if (j->topic == NULL || j->endpoint == NULL || j->body == NULL) {
        job_free(j);
        return DD_ALERTS_NO_MEMORY;
    }
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        job_free(j);
        return DD_ALERTS_STOPPED;
    }
    /* Append: deliveries go out in the order the alerts happened. */
    for (pp = &w->head; *pp != NULL; pp = &(*pp)->next) {
    }
    *pp = j;
    w->pending++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return DD_ALERTS_OK;
}

size_t dd_alerts_webhooks_pending(dd_alerts_webhooks_t *w)
{
    size_t n;

    if (w == NULL) {
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    n = w->pending;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void dd_alerts_webhooks_stop(dd_alerts_webhooks_t *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    (void)pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

const char *dd_alerts_strerror(dd_alerts_status_t status)
{
    switch (status) {
    case DD_ALERTS_OK: return "ok";
    case DD_ALERTS_BAD_PARAMETER: return "bad parameter";
    case DD_ALERTS_NO_MEMORY: return "out of memory";
    case DD_ALERTS_STOPPED: return "alert delivery is stopping";
    }
    return "unknown alerts status";
}
