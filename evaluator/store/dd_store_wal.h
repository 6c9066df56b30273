/**
 * @file dd_store_wal.h
 * @brief Keeps the database's WAL small without making commits wait: a
 *        checkpointer thread on a connection of its own, woken by the
 *        writer's commits, and a truncation by the committing thread when
 *        the WAL grew far past the threshold anyway.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, with its fsyncs (10-40 ms), while the committing thread holds
 * the writer's lock (ddlocald's pipeline lock): a report's /accepted or an
 * API call waited for it. dd_store_wal_start() replaces it with a WAL hook
 * on the writer's connection that keeps the same threshold (the writer's
 * wal_autocheckpoint, DD_STORE_WAL_CHECKPOINT_PAGES as the store sets it)
 * but only wakes the thread, which copies the WAL into the database file
 * (passive checkpoint) on its own connection. A WAL at
 * DD_STORE_WAL_RESTART_FACTOR x the threshold (a writer that never pauses)
 * is checkpointed under the writer's lock, so that it restarts; a WAL at
 * DD_STORE_WAL_TRUNCATE_FACTOR x the threshold (a reader in another process
 * held an old snapshot) is truncated by the commit that got it there,
 * waiting at most DD_STORE_WAL_TRUNCATE_WAIT_MS for readers. So the WAL file
 * stays under DD_STORE_WAL_TRUNCATE_FACTOR x the threshold plus one batch,
 * unless a reader holds one snapshot for longer than that wait. A WAL left
 * by a crash is checkpointed and truncated at the start. The durability of
 * a commit is unchanged (synchronous=NORMAL: the WAL is synced at
 * checkpoints).
 *
 * Ownership and threads: the checkpointer owns its connection and thread;
 * the writer's connection and lock stay the caller's and must outlive
 * dd_store_wal_stop(). The hook runs on the writer's thread inside its
 * commit, with @p writer_lock held: the writer must commit only with that
 * lock held (or pass NULL when it has a single thread and no lock).
 */
#ifndef DD_STORE_WAL_H_
#define DD_STORE_WAL_H_

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "dd_store.h"

/** A WAL this many times the threshold is checkpointed under the writer's lock (restarts). */
#define DD_STORE_WAL_RESTART_FACTOR 2
/** A WAL this many times the threshold is truncated by the commit that got it there. */
#define DD_STORE_WAL_TRUNCATE_FACTOR 4
/** How long a truncation waits for readers. */
#define DD_STORE_WAL_TRUNCATE_WAIT_MS 2000

/** Opaque checkpointer. */
typedef struct dd_store_wal dd_store_wal_t;

/** What the checkpointer did so far (dd_store_wal_status()). */
typedef struct dd_store_wal_stats {
    int threshold_pages;        /**< WAL pages that call for a checkpoint. */
    int last_wal_pages;         /**< WAL size (pages) seen by the last checkpoint. */
    uint64_t checkpoints;       /**< Checkpoint passes of the thread. */
    uint64_t truncations;       /**< Truncations by a commit that succeeded. */
    uint64_t truncate_failures; /**< Truncations a reader held off longer than the wait. */
} dd_store_wal_stats_t;

/**
 * @brief Opens the checkpointer's connection on @p db_path, checkpoints and
 *        truncates a WAL left from an earlier run, starts the thread and
 *        installs the WAL hook on @p writer (replacing its automatic
 *        checkpoint).
 * @param[in] db_path The database file @p writer has open.
 * @param[in] writer The connection whose commits are watched (borrowed).
 * @param[in] writer_lock The lock the writer commits under (borrowed), or NULL.
 * @param[out] out New checkpointer; NULL on failure.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER, DD_STORE_SQL_ERROR (the
 *         database could not be opened) or DD_STORE_NO_MEMORY (no thread).
 */
dd_store_status_t dd_store_wal_start(const char *db_path, sqlite3 *writer,
                                     pthread_mutex_t *writer_lock, dd_store_wal_t **out);

/**
 * @brief Removes the hook, stops the thread and closes its connection. Call
 *        it before the writer's connection closes (that one then checkpoints
 *        itself). NULL is ignored.
 * @param[in] wal Checkpointer from dd_store_wal_start(); freed.
 */
void dd_store_wal_stop(dd_store_wal_t *wal);

/**
 * @brief Reads the counters (any thread).
 * @param[in] wal Checkpointer.
 * @param[out] out Counters.
 * @return DD_STORE_OK or DD_STORE_BAD_PARAMETER.
 */
dd_store_status_t dd_store_wal_status(dd_store_wal_t *wal, dd_store_wal_stats_t *out);

#endif /* DD_STORE_WAL_H_ */
