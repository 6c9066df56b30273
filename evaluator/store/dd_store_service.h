/**
 * @file dd_store_service.h
 * @brief ddlocald's own tables (component "service" of the database):
 *        today the dead letters, the alert deliveries (webhooks, Lambda
 *        forwarders) given up after their last attempt.
 *
 * The rows live in the data dir's one database beside the registry and the
 * evaluator's store, so that `sqlite3 DIR/ddlocal.db` shows what was lost
 * (docs/reference/pipeline.md). Functions work on the caller's sqlite3
 * handle (from dd_db_open()), which stays the caller's; they keep no state
 * and are safe wherever the handle is (one thread at a time).
 */
#ifndef DD_STORE_SERVICE_H_
#define DD_STORE_SERVICE_H_

#include <sqlite3.h>
#include <stdint.h>

#include "dd_store.h"

/** Component name of these tables in ddlocal_schema (dd_db_migrate()). */
#define DD_STORE_SERVICE_COMPONENT "service"

/** A delivery given up. Every text is required (may be ""). */
typedef struct dd_store_dead_letter {
    const char *topic;      /**< The alert's topic. */
    const char *endpoint;   /**< The target (URL or Lambda ARN). */
    const char *body;       /**< The message that was not delivered. */
    int attempts;           /**< Attempts made. */
    const char *last_error; /**< The last attempt's failure. */
    int64_t time_ms;        /**< When it was given up (pipeline time). */
} dd_store_dead_letter_t;

/**
 * @brief Creates or migrates the service's tables.
 * @param[in] db Open database.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR (logged;
 *         also when the tables were written by a newer ddlocal).
 */
dd_store_status_t dd_store_service_open(sqlite3 *db);

/**
 * @brief Records a dead letter (autocommit, or inside the caller's transaction).
 * @param[in] db Database migrated by dd_store_service_open().
 * @param[in] letter The delivery given up (copied).
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR (logged).
 */
dd_store_status_t dd_store_service_dead_letter_add(sqlite3 *db,
                                                   const dd_store_dead_letter_t *letter);

/**
 * @brief Counts the dead letters recorded so far.
 * @param[in] db Database migrated by dd_store_service_open().
 * @param[out] count Number of rows.
 * @return DD_STORE_OK, DD_STORE_BAD_PARAMETER or DD_STORE_SQL_ERROR.
 */
dd_store_status_t dd_store_service_dead_letter_count(sqlite3 *db, int64_t *count);

#endif /* DD_STORE_SERVICE_H_ */
