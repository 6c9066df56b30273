#include "dd_store_wal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_db.h"
#include "dd_log.h"

/* dd_db_open()'s busy timeout, restored after a truncation. */
#define WRITER_BUSY_TIMEOUT_MS 10000

struct dd_store_wal {
    sqlite3 *writer;              /* borrowed: the watched connection */
    pthread_mutex_t *writer_lock; /* borrowed: held by the writer at each commit; may be NULL */
    sqlite3 *ckpt_db;             /* the checkpointer's own connection */
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    int ckpt_frames;     /* WAL size (pages) that calls for a checkpoint */
    int ckpt_last;       /* WAL size after the last checkpoint */
    int ckpt_next;       /* WAL size that calls for the next one */
    int wal_truncate_at; /* WAL size at which a commit truncates it (writer's thread only) */
    bool ckpt_due;
    bool ckpt_stop;
    uint64_t checkpoints; /* counters under ckpt_lock */
    uint64_t truncations;
    uint64_t truncate_failures;
};

static int checkpoint_passive(dd_store_wal_t *w, int *log_frames, int *done_frames)
{
    return sqlite3_wal_checkpoint_v2(w->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, log_frames,
                                     done_frames);
}

static void *checkpointer(void *arg)
{
    dd_store_wal_t *w = arg;
    int log_frames = 0;
    int done_frames = 0;
    int rc;

    pthread_mutex_lock(&w->ckpt_lock);
    for (;;) {
        while (!w->ckpt_due && !w->ckpt_stop) {
            pthread_cond_wait(&w->ckpt_cond, &w->ckpt_lock);
        }
        if (w->ckpt_stop) {
            break;
        }
        pthread_mutex_unlock(&w->ckpt_lock);
        /*
         * Passive: copies the WAL into the database file, fsyncs included,
         * without waiting for nor blocking the writer. The writer restarts
         * the WAL from its start at its next transaction once every frame
         * was copied, which happens by itself whenever the writer is not
         * committing at that moment. A writer busy without a pause (a
         * saturating ingest) never leaves such a moment: then, at the next
         * checkpoint (the WAL at DD_STORE_WAL_RESTART_FACTOR times the
         * threshold), the frames committed during the unlocked pass are
         * copied under the writer's lock, so that no commit comes between -
         * one short wait for the writer (the last frames and two fsyncs,
         * ~10-20 ms here) every second or two of such load instead of
         * SQLite's whole checkpoint at every threshold.
         */
        rc = checkpoint_passive(w, &log_frames, &done_frames);
        if (rc == SQLITE_OK && log_frames >= w->ckpt_frames * DD_STORE_WAL_RESTART_FACTOR) {
            if (w->writer_lock != NULL) {
                pthread_mutex_lock(w->writer_lock);
            }
            rc = checkpoint_passive(w, &log_frames, &done_frames);
            if (w->writer_lock != NULL) {
                pthread_mutex_unlock(w->writer_lock);
            }
        }
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            /* SQLITE_FULL here: the database file could not grow; ingest says so too. */
            DD_LOG_WARN("WAL checkpoint: %s", sqlite3_errmsg(w->ckpt_db));
        }
        pthread_mutex_lock(&w->ckpt_lock);
        /* Next when a threshold's worth of frames more arrived, or the WAL restarted and refilled. */
        w->ckpt_last = log_frames;
        w->ckpt_next = log_frames + w->ckpt_frames;
        w->ckpt_due = false;
        w->checkpoints++;
    }
    pthread_mutex_unlock(&w->ckpt_lock);
    return NULL;
}

/*
 * The WAL at DD_STORE_WAL_TRUNCATE_FACTOR x the threshold: a reader's
 * snapshot kept it from restarting, or the checkpointer fell behind a fast
 * writer. The committing thread itself (writer's lock held, so no other
 * commit comes between) truncates it, waiting at most
 * DD_STORE_WAL_TRUNCATE_WAIT_MS for readers; when a reader holds its
 * snapshot longer, the next try comes only after the WAL grew as much again,
 * so a long reader cannot stall the writer at every commit.
 */
static void truncate_wal(dd_store_wal_t *w, sqlite3 *db, int frames)
{
    int64_t until = dd_clock_mono_ms() + DD_STORE_WAL_TRUNCATE_WAIT_MS;
    int rc;

    if (frames < w->wal_truncate_at) {
        return;
    }
    /*
     * SQLITE_BUSY comes at once, busy handler or not, while the checkpointer
     * thread runs its unlocked pass (it holds the checkpoint lock; it then
     * waits for the writer's lock we hold, without it): try again until the
     * wait is over. The busy handler covers the readers.
     */
    sqlite3_busy_timeout(db, 100);
    do {
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc == SQLITE_BUSY) {
            dd_clock_sleep_ms(5);
        }
    } while (rc == SQLITE_BUSY && dd_clock_mono_ms() < until);
    sqlite3_busy_timeout(db, WRITER_BUSY_TIMEOUT_MS);
    pthread_mutex_lock(&w->ckpt_lock);
    if (rc == SQLITE_OK) {
        w->truncations++;
    } else {
        w->truncate_failures++;
    }
    pthread_mutex_unlock(&w->ckpt_lock);
    if (rc == SQLITE_OK) {
        DD_LOG_INFO("WAL truncated at %d pages (a reader kept it from restarting, or the "
                    "checkpointer fell behind)",
                    frames);
        w->wal_truncate_at = w->ckpt_frames * DD_STORE_WAL_TRUNCATE_FACTOR;
    } else {
        DD_LOG_WARN("WAL at %d pages cannot be truncated (%s): a reader holds an old snapshot "
                    "for more than %d ms",
                    frames, sqlite3_errmsg(db), DD_STORE_WAL_TRUNCATE_WAIT_MS);
        w->wal_truncate_at = frames + w->ckpt_frames * DD_STORE_WAL_TRUNCATE_FACTOR;
    }
}

/* After every commit on the writer's connection (its lock held): wakes the checkpointer. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
    dd_store_wal_t *w = ctx;

    (void)name;
    if (frames < w->ckpt_frames) {
        w->wal_truncate_at = w->ckpt_frames * DD_STORE_WAL_TRUNCATE_FACTOR;
    }
    truncate_wal(w, db, frames);
    pthread_mutex_lock(&w->ckpt_lock);
    if (frames < w->ckpt_last) {
        /* The WAL restarted from its start since the last checkpoint. */
        w->ckpt_last = 0;
        w->ckpt_next = w->ckpt_frames;
    }
    if (frames >= w->ckpt_next && !w->ckpt_due) {
        w->ckpt_due = true;
        pthread_cond_signal(&w->ckpt_cond);
    }
    pthread_mutex_unlock(&w->ckpt_lock);
    return SQLITE_OK;
}

dd_store_status_t dd_store_wal_start(const char *db_path, sqlite3 *writer,
                                     pthread_mutex_t *writer_lock, dd_store_wal_t **out)
{
    dd_store_wal_t *w;
    sqlite3_stmt *st = NULL;

    if (db_path == NULL || writer == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    w->writer = writer;
    w->writer_lock = writer_lock;
    if (dd_db_open(db_path, false, &w->ckpt_db) != DD_DB_OK) {
        free(w);
        return DD_STORE_SQL_ERROR;
    }
    /* The threshold the store chose for the writer's connection. */
    w->ckpt_frames = DD_STORE_WAL_CHECKPOINT_PAGES;
    if (sqlite3_prepare_v2(writer, "PRAGMA wal_autocheckpoint", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) {
        w->ckpt_frames = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    w->ckpt_next = w->ckpt_frames;
    w->wal_truncate_at = w->ckpt_frames * DD_STORE_WAL_TRUNCATE_FACTOR;
    sqlite3_busy_timeout(w->ckpt_db, DD_STORE_WAL_TRUNCATE_WAIT_MS);
    /* A WAL left by a crash may be large (139 MB after the crash tests): start from an empty one. */
    {
        int frames = 0;
        if (sqlite3_wal_checkpoint_v2(w->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL) ==
                SQLITE_OK &&
            frames > 0 &&
            sqlite3_wal_checkpoint_v2(w->ckpt_db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
                SQLITE_OK) {
            DD_LOG_INFO("WAL of %d pages left from the last run: checkpointed and truncated",
                        frames);
        }
    }
    pthread_mutex_init(&w->ckpt_lock, NULL);
    pthread_cond_init(&w->ckpt_cond, NULL);
    if (pthread_create(&w->ckpt_thread, NULL, checkpointer, w) != 0) {
        pthread_cond_destroy(&w->ckpt_cond);
        pthread_mutex_destroy(&w->ckpt_lock);
        dd_db_close(w->ckpt_db);
        free(w);
        return DD_STORE_NO_MEMORY;
    }
    (void)sqlite3_wal_hook(writer, on_wal_commit, w);
    *out = w;
    return DD_STORE_OK;
}

void dd_store_wal_stop(dd_store_wal_t *w)
{
    if (w == NULL) {
        return;
    }
    (void)sqlite3_wal_hook(w->writer, NULL, NULL);
    pthread_mutex_lock(&w->ckpt_lock);
    w->ckpt_stop = true;
    pthread_cond_broadcast(&w->ckpt_cond);
    pthread_mutex_unlock(&w->ckpt_lock);
    (void)pthread_join(w->ckpt_thread, NULL);
    pthread_cond_destroy(&w->ckpt_cond);
    pthread_mutex_destroy(&w->ckpt_lock);
    dd_db_close(w->ckpt_db);
    free(w);
}

dd_store_status_t dd_store_wal_status(dd_store_wal_t *w, dd_store_wal_stats_t *out)
{
    if (w == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    pthread_mutex_lock(&w->ckpt_lock);
    out->threshold_pages = w->ckpt_frames;
    out->last_wal_pages = w->ckpt_last;
    out->checkpoints = w->checkpoints;
    out->truncations = w->truncations;
    out->truncate_failures = w->truncate_failures;
    pthread_mutex_unlock(&w->ckpt_lock);
    return DD_STORE_OK;
}
