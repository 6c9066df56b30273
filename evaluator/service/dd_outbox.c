#include "dd_outbox.h"

#include <stdlib.h>
#include <string.h>

void dd_outbox_init(dd_outbox_t *box)
{
    if (box != NULL) {
        memset(box, 0, sizeof(*box));
        pthread_mutex_init(&box->lock, NULL);
    }
}

void dd_outbox_entries_free(dd_outbox_entry_t *head)
{
    while (head != NULL) {
        dd_outbox_entry_t *next = head->next;
        free(head->target);
        free(head->sns_topic);
        free(head->payload);
        free(head);
        head = next;
    }
}

void dd_outbox_destroy(dd_outbox_t *box)
{
    if (box != NULL) {
        dd_outbox_entries_free(box->head);
        box->head = box->tail = NULL;
        box->count = 0;
        pthread_mutex_destroy(&box->lock);
    }
}

static dd_outbox_status_t append(dd_outbox_t *box, dd_outbox_kind_t kind, const char *target,
                                 const char *sns_topic, const void *payload, size_t len, int qos)
{
    dd_outbox_entry_t *e;

    if (box == NULL || target == NULL || (payload == NULL && len > 0)) {
        return DD_OUTBOX_BAD_PARAMETER;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return DD_OUTBOX_NO_MEMORY;
    }
    e->kind = kind;
    e->target = strdup(target);
    e->sns_topic = sns_topic != NULL ? strdup(sns_topic) : NULL;
    e->payload = malloc(len + 1);
    if (e->target == NULL || e->payload == NULL || (sns_topic != NULL && e->sns_topic == NULL)) {
        dd_outbox_entries_free(e);
        return DD_OUTBOX_NO_MEMORY;
    }
    if (len > 0) {
        memcpy(e->payload, payload, len);
    }
    e->payload[len] = '\0';
    e->len = len;
    e->qos = qos;
    pthread_mutex_lock(&box->lock);
    if (box->tail != NULL) {
        box->tail->next = e;
    } else {
        box->head = e;
    }
    box->tail = e;
    box->count++;
    pthread_mutex_unlock(&box->lock);
    return DD_OUTBOX_OK;
}

dd_outbox_status_t dd_outbox_publish(dd_outbox_t *box, const char *topic, const void *payload,
                                     size_t len, int qos)
{
    return append(box, DD_OUTBOX_PUBLISH, topic, NULL, payload, len, qos);
}

dd_outbox_status_t dd_outbox_webhook(dd_outbox_t *box, const char *sns_topic, const char *url,
                                     const char *body)
{
    if (body == NULL || sns_topic == NULL) {
        return DD_OUTBOX_BAD_PARAMETER;
    }
    return append(box, DD_OUTBOX_WEBHOOK, url, sns_topic, body, strlen(body), 1);
}

dd_outbox_status_t dd_outbox_lambda(dd_outbox_t *box, const char *sns_topic,
                                    const char *function_arn, const char *event)
{
    if (event == NULL || sns_topic == NULL) {
        return DD_OUTBOX_BAD_PARAMETER;
    }
    return append(box, DD_OUTBOX_LAMBDA, function_arn, sns_topic, event, strlen(event), 1);
}

size_t dd_outbox_mark(dd_outbox_t *box)
{
    size_t n;

    if (box == NULL) {
        return 0;
    }
    pthread_mutex_lock(&box->lock);
    n = box->count;
    pthread_mutex_unlock(&box->lock);
    return n;
}

void dd_outbox_truncate(dd_outbox_t *box, size_t mark)
{
    dd_outbox_entry_t *keep_tail = NULL;
    dd_outbox_entry_t *drop;
    size_t i;

    if (box == NULL) {
        return;
    }
    pthread_mutex_lock(&box->lock);
    if (mark >= box->count) {
        pthread_mutex_unlock(&box->lock);
        return;
    }
    drop = box->head;
    for (i = 0; i < mark; i++) {
        keep_tail = drop;
        drop = drop->next;
    }
    if (keep_tail != NULL) {
        keep_tail->next = NULL;
    } else {
        box->head = NULL;
    }
    box->tail = keep_tail;
    box->count = mark;
    pthread_mutex_unlock(&box->lock);
    dd_outbox_entries_free(drop);
}

void dd_outbox_delay(dd_outbox_t *box, size_t mark, int64_t delay_ms)
{
    dd_outbox_entry_t *e;
    size_t i = 0;

    if (box == NULL) {
        return;
    }
    pthread_mutex_lock(&box->lock);
    for (e = box->head; e != NULL; e = e->next, i++) {
        if (i >= mark) {
            e->delay_ms = delay_ms;
        }
    }
    pthread_mutex_unlock(&box->lock);
}

dd_outbox_entry_t *dd_outbox_take(dd_outbox_t *box)
{
    dd_outbox_entry_t *head;

    if (box == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&box->lock);
    head = box->head;
    box->head = box->tail = NULL;
    box->count = 0;
    pthread_mutex_unlock(&box->lock);
    return head;
}

const char *dd_outbox_strerror(dd_outbox_status_t status)
{
    switch (status) {
    case DD_OUTBOX_OK: return "ok";
    case DD_OUTBOX_BAD_PARAMETER: return "bad parameter";
    case DD_OUTBOX_NO_MEMORY: return "out of memory";
    }
    return "unknown outbox status";
}
