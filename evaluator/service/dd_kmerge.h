/**
 * @file dd_kmerge.h
 * @brief A k-way merge of sources that each yield items in time order: the
 *        merged order is by time, ties to the source given first, and within
 *        one source its own order (`ddlocal export` merges stored reports,
 *        metering groups and violation times this way; dd_export.c). Holds
 *        one key per source, whatever the number of items.
 *
 * The merge knows only keys: each source's advance function moves the source
 * to its next item and tells its time; the caller reads the item itself from
 * the source after dd_kmerge_next() named it. A source whose time goes
 * backwards is an error (the merged order would be wrong).
 *
 * Ownership: the sources are borrowed for the merge's life; the merge
 * allocates nothing. Not thread-safe.
 */
#ifndef DD_KMERGE_H_
#define DD_KMERGE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Most sources of one merge. */
#define DD_KMERGE_MAX_SOURCES 8

/** Status codes of this module. */
typedef enum dd_kmerge_status {
    DD_KMERGE_OK = 0,
    DD_KMERGE_BAD_PARAMETER,
    DD_KMERGE_SOURCE_FAILED, /**< A source's advance function failed. */
    DD_KMERGE_UNORDERED      /**< A source's time went backwards. */
} dd_kmerge_status_t;

/**
 * Moves a source to its next item: @p has_item false at its end, else
 * @p time_ms is the item's time. Returns false on a failure.
 */
typedef bool (*dd_kmerge_advance_fn)(void *source, int64_t *time_ms, bool *has_item);

/** One source of a merge. */
typedef struct dd_kmerge_source {
    dd_kmerge_advance_fn advance;
    void *ctx; /**< Passed to @c advance. */
} dd_kmerge_source_t;

/** A merge in progress (fields private; filled by dd_kmerge_init()). */
typedef struct dd_kmerge {
    const dd_kmerge_source_t *sources;
    size_t count;
    int64_t time_ms[DD_KMERGE_MAX_SOURCES];
    bool has[DD_KMERGE_MAX_SOURCES];
    bool started;
    size_t last; /* the source named last: advanced by the next call */
} dd_kmerge_t;

/** @brief Starts a merge of @p count (1..DD_KMERGE_MAX_SOURCES) sources, in tie-break order. */
dd_kmerge_status_t dd_kmerge_init(dd_kmerge_t *merge, const dd_kmerge_source_t *sources,
                                  size_t count);

/**
 * @brief Names the source that holds the next item of the merged order: the
 *        least time, ties to the lowest index. The first call moves every
 *        source to its first item, each later call moves on the source named
 *        before (so its item may be read until this call).
 * @param[out] which Index of the source; @p has_item false once all are done.
 */
dd_kmerge_status_t dd_kmerge_next(dd_kmerge_t *merge, size_t *which, bool *has_item);

/** @return Static text for @p status. */
const char *dd_kmerge_strerror(dd_kmerge_status_t status);

#endif /* DD_KMERGE_H_ */
