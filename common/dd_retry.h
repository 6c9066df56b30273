/**
 * @file dd_retry.h
 * @brief A queue of keyed jobs retried with exponential backoff until they
 *        succeed or run out of attempts (the isolator's AddThingToThingGroup
 *        calls): the caller tries a due job, then reports success or failure;
 *        a failure makes the job due again after a delay that doubles each
 *        time (capped), or gives it up after the last attempt.
 *
 * The queue decides nothing about the work itself and reads no clock: every
 * call takes the caller's monotonic now_ms. A key is queued at most once
 * (adding it again while queued is DD_RETRY_DUPLICATE), so an alert
 * delivered twice does not double the work.
 *
 * Ownership: dd_retry_create() returns a queue freed by dd_retry_destroy();
 * keys are copied in. Pointers returned by dd_retry_due() stay valid until
 * the job is reported with dd_retry_succeeded() / dd_retry_failed() or the
 * queue is destroyed. Not thread-safe: one thread uses a queue.
 */
#ifndef DD_RETRY_H_
#define DD_RETRY_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_retry_status {
    DD_RETRY_OK = 0,
    DD_RETRY_BAD_PARAMETER,
    DD_RETRY_NO_MEMORY,
    DD_RETRY_DUPLICATE, /**< The key is already queued (nothing changed). */
    DD_RETRY_NOT_DUE,   /**< No job is due yet (or none is queued). */
    DD_RETRY_NOT_FOUND  /**< No queued job has that key. */
} dd_retry_status_t;

/** How jobs are retried. */
typedef struct dd_retry_config {
    int max_attempts;       /**< Attempts before giving up (>= 1). */
    int64_t first_delay_ms; /**< Wait after the first failure (>= 1); doubled after each. */
    int64_t max_delay_ms;   /**< Cap of the wait (>= first_delay_ms). */
} dd_retry_config_t;

/** A queue (opaque). */
typedef struct dd_retry dd_retry_t;

/**
 * @brief Creates an empty queue.
 * @param[in] cfg Retry policy (copied).
 * @param[out] out New queue.
 * @return DD_RETRY_OK, DD_RETRY_BAD_PARAMETER (NULL or out-of-range values) or
 *         DD_RETRY_NO_MEMORY.
 */
dd_retry_status_t dd_retry_create(const dd_retry_config_t *cfg, dd_retry_t **out);

/** @brief Frees the queue and its jobs. NULL is ignored. */
void dd_retry_destroy(dd_retry_t *q);

/**
 * @brief Queues a job, due at @p now_ms (its first attempt).
 * @param[in] key Job key, e.g. a thing name (copied).
 * @return DD_RETRY_OK, DD_RETRY_BAD_PARAMETER, DD_RETRY_NO_MEMORY or
 *         DD_RETRY_DUPLICATE.
 */
dd_retry_status_t dd_retry_add(dd_retry_t *q, const char *key, int64_t now_ms);

/**
 * @brief The job due first among those due at @p now_ms (oldest due time
 *        first); it stays queued until reported.
 * @param[out] key The job's key (owned by the queue).
 * @param[out] attempt The attempt about to be made, 1 for the first.
 * @return DD_RETRY_OK, DD_RETRY_BAD_PARAMETER or DD_RETRY_NOT_DUE.
 */
dd_retry_status_t dd_retry_due(const dd_retry_t *q, int64_t now_ms, const char **key, int *attempt);

/**
 * @brief Milliseconds until the next job is due (0 when one is due already).
 * @param[out] wait_ms The wait, or -1 when the queue is empty.
 * @return DD_RETRY_OK or DD_RETRY_BAD_PARAMETER.
 */
dd_retry_status_t dd_retry_wait_ms(const dd_retry_t *q, int64_t now_ms, int64_t *wait_ms);

/**
 * @brief The attempt on @p key succeeded: the job leaves the queue.
 * @return DD_RETRY_OK, DD_RETRY_BAD_PARAMETER or DD_RETRY_NOT_FOUND.
 */
dd_retry_status_t dd_retry_succeeded(dd_retry_t *q, const char *key);

/**
 * @brief The attempt on @p key failed: the job is due again after its
 *        backoff, or leaves the queue when that was its last attempt.
 * @param[out] gave_up true when the job was given up (the caller reports it).
 * @param[out] next_due_ms Optional: when the job is due again (0 if given up).
 * @return DD_RETRY_OK, DD_RETRY_BAD_PARAMETER or DD_RETRY_NOT_FOUND.
 */
dd_retry_status_t dd_retry_failed(dd_retry_t *q, const char *key, int64_t now_ms, bool *gave_up,
                                  int64_t *next_due_ms);

/** @return Jobs queued (NULL: 0). */
size_t dd_retry_count(const dd_retry_t *q);

/**
 * @brief The wait after failed attempt @p attempt (1-based) under @p cfg:
 *        first_delay_ms * 2^(attempt-1), at most max_delay_ms.
 * @return The delay, or -1 for a NULL config or an attempt < 1.
 */
int64_t dd_retry_delay_ms(const dd_retry_config_t *cfg, int attempt);

/** @return Static text for @p status. */
const char *dd_retry_strerror(dd_retry_status_t status);

#endif /* DD_RETRY_H_ */
