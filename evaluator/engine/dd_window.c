#include "dd_window.h"

#include <stdlib.h>
#include <string.h>

/* The ring's capacity is a power of two (4, doubled): a position wraps with a mask, not a
 * division, which cost more than the sums themselves (several per report and behavior). */
static uint32_t at(const dd_window_t *w, uint32_t i)
{
    return (w->head + i) & (w->cap - 1);
}

static dd_window_status_t grow(dd_window_t *w)
{
    uint32_t cap = w->cap == 0 ? 4 : w->cap * 2;
    dd_window_sample_t *ring = malloc((size_t)cap * sizeof(*ring));
    uint32_t i;

    if (ring == NULL) {
        return DD_WINDOW_NO_MEMORY;
    }
    for (i = 0; i < w->count; i++) {
        ring[i] = w->ring[at(w, i)];
    }
    free(w->ring);
    w->ring = ring;
    w->cap = cap;
    w->head = 0;
    return DD_WINDOW_OK;
}

dd_window_status_t dd_window_push(dd_window_t *w, int64_t t_ms, uint32_t mask,
                                  const uint64_t values[DD_WINDOW_CHANNELS], int64_t keep_ms)
{
    dd_window_sample_t *s;
    unsigned i;

    if (w == NULL || values == NULL || keep_ms <= 0) {
        return DD_WINDOW_BAD_PARAMETER;
    }
    if (w->count > 0 && w->ring[at(w, w->count - 1)].t_ms > t_ms) {
        return DD_WINDOW_BACKWARDS;
    }
    /* Drop what no window ending at t or later can still see: (t - keep, t]. */
    while (w->count > 0 && w->ring[w->head].t_ms <= t_ms - keep_ms) {
        w->head = at(w, 1);
        w->count--;
    }
    if (w->count == w->cap && grow(w) != DD_WINDOW_OK) {
        return DD_WINDOW_NO_MEMORY;
    }
    s = &w->ring[at(w, w->count)];
    s->t_ms = t_ms;
    s->mask = mask;
    for (i = 0; i < DD_WINDOW_CHANNELS; i++) {
        s->v[i] = (mask & (1u << i)) ? values[i] : 0;
    }
    w->count++;
    return DD_WINDOW_OK;
}

/* Reads samples newest first from position *next down, adding @p channel's values of those in
 * (now - duration, now] to *total (and counting them in *n), up to the first one at or before
 * the window's start; samples after @p now_ms are passed over. */
static void scan_back(const dd_window_t *w, int64_t now_ms, int64_t duration_ms, unsigned channel,
                      uint32_t *next, uint64_t *total, uint32_t *n)
{
    uint32_t bit = 1u << channel;

    while (*next > 0) {
        const dd_window_sample_t *s = &w->ring[at(w, *next - 1)];
        if (s->t_ms <= now_ms) {
            if (s->t_ms <= now_ms - duration_ms) {
                break;
            }
            if (s->mask & bit) {
                *total += s->v[channel];
                (*n)++;
            }
        }
        (*next)--;
    }
}

dd_window_status_t dd_window_sum(const dd_window_t *w, int64_t now_ms, int64_t duration_ms,
                                 unsigned channel, uint64_t *sum, uint32_t *samples)
{
    uint32_t next;
    uint64_t total = 0;
    uint32_t n = 0;

    if (w == NULL || sum == NULL || channel >= DD_WINDOW_CHANNELS || duration_ms <= 0) {
        return DD_WINDOW_BAD_PARAMETER;
    }
    next = w->count;
    scan_back(w, now_ms, duration_ms, channel, &next, &total, &n);
    *sum = total;
    if (samples != NULL) {
        *samples = n;
    }
    return DD_WINDOW_OK;
}

dd_window_status_t dd_window_cursor_start(const dd_window_t *w, int64_t now_ms, unsigned channel,
                                          dd_window_cursor_t *c)
{
    if (w == NULL || c == NULL || channel >= DD_WINDOW_CHANNELS) {
        return DD_WINDOW_BAD_PARAMETER;
    }
    c->now_ms = now_ms;
    c->duration_ms = 0;
    c->channel = channel;
    c->next = w->count;
    c->total = 0;
    return DD_WINDOW_OK;
}

dd_window_status_t dd_window_cursor_sum(const dd_window_t *w, dd_window_cursor_t *c,
                                        int64_t duration_ms, uint64_t *sum)
{
    uint32_t n = 0;

    if (w == NULL || c == NULL || sum == NULL || duration_ms <= 0 || duration_ms < c->duration_ms ||
        c->next > w->count) {
        return DD_WINDOW_BAD_PARAMETER;
    }
    /* The samples read by earlier (shorter) calls are inside this window too. */
    scan_back(w, c->now_ms, duration_ms, c->channel, &c->next, &c->total, &n);
    c->duration_ms = duration_ms;
    *sum = c->total;
    return DD_WINDOW_OK;
}

void dd_window_free(dd_window_t *w)
{
    if (w != NULL) {
        free(w->ring);
        memset(w, 0, sizeof(*w));
    }
}

int64_t dd_window_tumbling_end(int64_t t_ms, int64_t duration_ms)
{
    int64_t q;

    if (duration_ms <= 0) {
        return t_ms;
    }
    q = t_ms / duration_ms;
    if (t_ms % duration_ms != 0 && t_ms > 0) {
        q++;
    }
    return q * duration_ms;
}

const char *dd_window_strerror(dd_window_status_t status)
{
    switch (status) {
    case DD_WINDOW_OK: return "ok";
    case DD_WINDOW_BAD_PARAMETER: return "bad parameter";
    case DD_WINDOW_NO_MEMORY: return "out of memory";
    case DD_WINDOW_BACKWARDS: return "sample older than the newest one";
    }
    return "unknown window status";
}
