/**
 * @file dd_export.h
 * @brief A live pipeline's stored history as `ddlocal replay` input
 *        (`ddlocal export`, `ddlocal record`; docs/reference/record.md): the
 *        accepted reports and the broker's cloud-side metering of a time
 *        range as replay lines in time order, the registry's things and
 *        groups as a --things file, the security profiles as --profile
 *        files, the custom metrics and dimensions as replay options.
 *
 * Everything is read from the data dir's database (the evaluator store and
 * the registry, opened by the caller; ddlocald may be writing meanwhile:
 * SQLite's WAL gives each read a consistent snapshot). Ownership: store,
 * registry and streams are borrowed; a command returned by
 * dd_export_bundle() belongs to the caller (free()). Not thread-safe.
 */
#ifndef DD_EXPORT_H_
#define DD_EXPORT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_registry.h"
#include "dd_store.h"

/** Status codes of this module. */
typedef enum dd_export_status {
    DD_EXPORT_OK = 0,
    DD_EXPORT_BAD_PARAMETER,
    DD_EXPORT_NO_MEMORY,
    DD_EXPORT_STORE_ERROR, /**< Reading the store or the registry failed. */
    DD_EXPORT_IO_ERROR     /**< Writing a file failed (errno is kept). */
} dd_export_status_t;

/** What a stream export wrote. */
typedef struct dd_export_counts {
    uint64_t reports;         /**< Report lines. */
    uint64_t metering_lines;  /**< Event lines (one per stored group, with "repeat"). */
    uint64_t metering_events; /**< Metering records they stand for. */
    uint64_t ticks;           /**< Tick lines (at the stored violation events' times). */
    int64_t last_time_ms;     /**< Time of the last line written (0: none). */
} dd_export_counts_t;

/**
 * @brief Writes the replay lines of [@p from_ms, @p to_ms) to @p out in time
 *        order: each accepted report as received ("json" text or "cbor" hex)
 *        at the pipeline time the engine used; each stored metering group as
 *        an "event" line with "repeat"; a "tick" at the time of each stored
 *        violation event in the range (so replay's clock visits every time
 *        the live engine produced an event, e.g. an alarm-invalidated one).
 *        Lines of equal time: reports (by row id), then metering groups (by
 *        row id), then ticks. Streamed: written as read from the store, in
 *        memory that does not grow with the range.
 * @param[in] counts Added to (may be NULL).
 */
dd_export_status_t dd_export_stream(dd_store_t *store, int64_t from_ms, int64_t to_ms, FILE *out,
                                    dd_export_counts_t *counts);

/** A stream export read line by line (opaque; dd_export_reader_open()). */
typedef struct dd_export_reader dd_export_reader_t;

/**
 * @brief Opens the lines of dd_export_stream() for [@p from_ms, @p to_ms) to be
 *        read one at a time (`ddlocal datapoints` feeds them to a replay
 *        without writing them anywhere). The lines are made as they are read,
 *        by a merge of time-ordered store cursors in one read snapshot: memory
 *        does not grow with the range.
 * @param[out] reader Closed with dd_export_reader_close().
 */
dd_export_status_t dd_export_reader_open(dd_store_t *store, int64_t from_ms, int64_t to_ms,
                                         dd_export_reader_t **reader);

/**
 * @brief The next line (without its newline) into @p line, valid until the
 *        next call; @p has_line false at the end.
 */
dd_export_status_t dd_export_reader_next(dd_export_reader_t *reader, const char **line,
                                         bool *has_line);

/** @brief Adds what @p reader has read so far to @p counts (NULL: nothing). */
void dd_export_reader_counts(const dd_export_reader_t *reader, dd_export_counts_t *counts);

/** @brief Closes a reader and ends its snapshot; safe on NULL. */
void dd_export_reader_close(dd_export_reader_t *reader);

/**
 * @brief Writes the registry's things and thing groups as a replay --things
 *        file ({"things":[{"thingName","thingGroups"}],"thingGroups":[...]}).
 */
dd_export_status_t dd_export_things(dd_registry_t *reg, FILE *out);

/**
 * @brief Writes a whole bundle into directory @p dir (created if missing):
 *        stream.jsonl, things.json, profiles/NAME.json (each profile with its
 *        targets, as ARNs of replay's default account and region) and
 *        replay.sh; the custom metrics and dimensions become options of the
 *        command.
 * @param[out] command The `ddlocal replay` command line that replays the
 *             bundle (paths as given in @p dir); the caller frees it.
 */
dd_export_status_t dd_export_bundle(dd_store_t *store, dd_registry_t *reg, int64_t from_ms,
                                    int64_t to_ms, const char *dir, dd_export_counts_t *counts,
                                    char **command);

/** The custom metrics and dimensions as replay options ("name:type", "name:f1,f2"). */
typedef struct dd_export_defs {
    char **customs;
    size_t custom_count;
    char **dimensions;
    size_t dimension_count;
} dd_export_defs_t;

/** @brief Reads the store's custom metrics and dimensions (free with dd_export_defs_free()). */
dd_export_status_t dd_export_defs(dd_store_t *store, dd_export_defs_t *defs);

/** @brief Frees what dd_export_defs() filled; safe on a zeroed struct. */
void dd_export_defs_free(dd_export_defs_t *defs);

/**
 * @brief A stored profile as a replay --profile file's text (with its targets in replay's
 *        default account and region); the caller frees it with free().
 * @param[in] arn The data dir's region and account (the stored targets' ARNs).
 * @return DD_EXPORT_OK, DD_EXPORT_STORE_ERROR (also: no such profile) or DD_EXPORT_NO_MEMORY.
 */
dd_export_status_t dd_export_profile_json(dd_store_t *store, const dd_arn_ctx_t *arn,
                                          const char *name, char **text);

/** @return Static text for @p status. */
const char *dd_export_strerror(dd_export_status_t status);

#endif /* DD_EXPORT_H_ */
