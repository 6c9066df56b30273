#include "dd_kmerge.h"

#include <string.h>

dd_kmerge_status_t dd_kmerge_init(dd_kmerge_t *merge, const dd_kmerge_source_t *sources,
                                  size_t count)
{
    size_t i;

    if (merge == NULL || sources == NULL || count == 0 || count > DD_KMERGE_MAX_SOURCES) {
        return DD_KMERGE_BAD_PARAMETER;
    }
    for (i = 0; i < count; i++) {
        if (sources[i].advance == NULL) {
            return DD_KMERGE_BAD_PARAMETER;
        }
    }
    memset(merge, 0, sizeof(*merge));
    merge->sources = sources;
    merge->count = count;
    return DD_KMERGE_OK;
}

/* Moves source @p i on; its time may not go backwards. */
static dd_kmerge_status_t advance(dd_kmerge_t *m, size_t i)
{
    int64_t t = 0;
    bool has = false;

    if (!m->sources[i].advance(m->sources[i].ctx, &t, &has)) {
        m->has[i] = false;
        return DD_KMERGE_SOURCE_FAILED;
    }
    if (has && m->started && m->has[i] && t < m->time_ms[i]) {
        m->has[i] = false;
        return DD_KMERGE_UNORDERED;
    }
    m->has[i] = has;
    m->time_ms[i] = has ? t : m->time_ms[i];
    return DD_KMERGE_OK;
}

dd_kmerge_status_t dd_kmerge_next(dd_kmerge_t *merge, size_t *which, bool *has_item)
{
    dd_kmerge_status_t status = DD_KMERGE_OK;
    size_t best = 0;
    bool found = false;
    size_t i;

    if (has_item != NULL) {
        *has_item = false;
    }
    if (merge == NULL || merge->sources == NULL || which == NULL || has_item == NULL) {
        return DD_KMERGE_BAD_PARAMETER;
    }
    if (!merge->started) {
        for (i = 0; status == DD_KMERGE_OK && i < merge->count; i++) {
            status = advance(merge, i);
        }
        merge->started = true;
    } else if (merge->has[merge->last]) {
        status = advance(merge, merge->last);
    }
    if (status != DD_KMERGE_OK) {
        return status;
    }
    /* A handful of sources: a linear scan beats a heap, and keeps ties plainly ordered. */
    for (i = 0; i < merge->count; i++) {
        if (merge->has[i] && (!found || merge->time_ms[i] < merge->time_ms[best])) {
            best = i;
            found = true;
        }
    }
    merge->last = best;
    *which = best;
    *has_item = found;
    return DD_KMERGE_OK;
}

const char *dd_kmerge_strerror(dd_kmerge_status_t status)
{
    switch (status) {
    case DD_KMERGE_OK: return "ok";
    case DD_KMERGE_BAD_PARAMETER: return "bad parameter";
    case DD_KMERGE_SOURCE_FAILED: return "a source failed";
    case DD_KMERGE_UNORDERED: return "a source is not in time order";
    }
    return "unknown kmerge status";
}
