#include "dd_retry.h"

#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct job *next;
    char *key;
    int attempts; /* attempts made (and failed) so far */
    int64_t due_ms;
} job_t;

struct dd_retry {
    dd_retry_config_t cfg;
    job_t *head; /* in insertion order; few jobs, so a list is enough */
    size_t count;
};

static bool config_ok(const dd_retry_config_t *cfg)
{
    return cfg != NULL && cfg->max_attempts >= 1 && cfg->first_delay_ms >= 1 &&
           cfg->max_delay_ms >= cfg->first_delay_ms;
}

dd_retry_status_t dd_retry_create(const dd_retry_config_t *cfg, dd_retry_t **out)
{
    dd_retry_t *q;

    if (out == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    *out = NULL;
    if (!config_ok(cfg)) {
        return DD_RETRY_BAD_PARAMETER;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return DD_RETRY_NO_MEMORY;
    }
    q->cfg = *cfg;
    *out = q;
    return DD_RETRY_OK;
}

void dd_retry_destroy(dd_retry_t *q)
{
    job_t *j;

    if (q == NULL) {
        return;
    }
    while ((j = q->head) != NULL) {
        q->head = j->next;
        free(j->key);
        free(j);
    }
    free(q);
}

static job_t **find(dd_retry_t *q, const char *key)
{
    job_t **link;

    for (link = &q->head; *link != NULL; link = &(*link)->next) {
        if (strcmp((*link)->key, key) == 0) {
            return link;
        }
    }
    return NULL;
}

dd_retry_status_t dd_retry_add(dd_retry_t *q, const char *key, int64_t now_ms)
{
    job_t *j;
    job_t **tail;

    if (q == NULL || key == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    if (find(q, key) != NULL) {
        return DD_RETRY_DUPLICATE;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL || (j->key = strdup(key)) == NULL) {
        free(j);
        return DD_RETRY_NO_MEMORY;
    }
    j->due_ms = now_ms;
    for (tail = &q->head; *tail != NULL; tail = &(*tail)->next) {
    }
    *tail = j;
    q->count++;
    return DD_RETRY_OK;
}

static const job_t *first_due(const dd_retry_t *q)
{
    const job_t *best = NULL;
    const job_t *j;

    for (j = q->head; j != NULL; j = j->next) {
        if (best == NULL || j->due_ms < best->due_ms) {
            best = j;
        }
    }
    return best;
}

dd_retry_status_t dd_retry_due(const dd_retry_t *q, int64_t now_ms, const char **key, int *attempt)
{
    const job_t *j;

    if (q == NULL || key == NULL || attempt == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    *key = NULL;
    *attempt = 0;
    j = first_due(q);
    if (j == NULL || j->due_ms > now_ms) {
        return DD_RETRY_NOT_DUE;
    }
    *key = j->key;
    *attempt = j->attempts + 1;
    return DD_RETRY_OK;
}

dd_retry_status_t dd_retry_wait_ms(const dd_retry_t *q, int64_t now_ms, int64_t *wait_ms)
{
    const job_t *j;

    if (q == NULL || wait_ms == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    j = first_due(q);
    *wait_ms = j == NULL ? -1 : (j->due_ms > now_ms ? j->due_ms - now_ms : 0);
    return DD_RETRY_OK;
}

static void unlink_job(dd_retry_t *q, job_t **link)
{
    job_t *j = *link;

    *link = j->next;
    free(j->key);
    free(j);
    q->count--;
}

dd_retry_status_t dd_retry_succeeded(dd_retry_t *q, const char *key)
{
    job_t **link;

    if (q == NULL || key == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    link = find(q, key);
    if (link == NULL) {
        return DD_RETRY_NOT_FOUND;
    }
    unlink_job(q, link);
    return DD_RETRY_OK;
}

dd_retry_status_t dd_retry_failed(dd_retry_t *q, const char *key, int64_t now_ms, bool *gave_up,
                                  int64_t *next_due_ms)
{
    job_t **link;
    job_t *j;

    if (q == NULL || key == NULL || gave_up == NULL) {
        return DD_RETRY_BAD_PARAMETER;
    }
    link = find(q, key);
    if (link == NULL) {
        return DD_RETRY_NOT_FOUND;
    }
    j = *link;
    j->attempts++;
    if (j->attempts >= q->cfg.max_attempts) {
        *gave_up = true;
        if (next_due_ms != NULL) {
            *next_due_ms = 0;
        }
        unlink_job(q, link);
        return DD_RETRY_OK;
    }
    *gave_up = false;
    j->due_ms = now_ms + dd_retry_delay_ms(&q->cfg, j->attempts);
    if (next_due_ms != NULL) {
        *next_due_ms = j->due_ms;
    }
    return DD_RETRY_OK;
}

size_t dd_retry_count(const dd_retry_t *q)
{
    return q != NULL ? q->count : 0;
}

int64_t dd_retry_delay_ms(const dd_retry_config_t *cfg, int attempt)
{
    int64_t delay;
    int i;

    if (cfg == NULL || attempt < 1) {
        return -1;
    }
    delay = cfg->first_delay_ms;
    /* Doubling stops at the cap, so a large attempt number cannot overflow. */
    for (i = 1; i < attempt && delay < cfg->max_delay_ms; i++) {
        delay *= 2;
    }
    return delay < cfg->max_delay_ms ? delay : cfg->max_delay_ms;
}

const char *dd_retry_strerror(dd_retry_status_t status)
{
    switch (status) {
    case DD_RETRY_OK: return "ok";
    case DD_RETRY_BAD_PARAMETER: return "bad parameter";
    case DD_RETRY_NO_MEMORY: return "out of memory";
    case DD_RETRY_DUPLICATE: return "already queued";
    case DD_RETRY_NOT_DUE: return "no job due";
    case DD_RETRY_NOT_FOUND: return "no such job";
    }
    return "unknown status";
}
