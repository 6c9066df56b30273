/**
 * @file dd_db.h
 * @brief Opening ddlocal's SQLite database and migrating its schema.
 *
 * One database file per data dir (`DIR/ddlocal.db`) holds the registry and
 * the evaluator's store. It runs in WAL mode with synchronous=NORMAL: a
 * committed transaction survives a crash of the process (what "accepted means
 * durable" needs), not necessarily a power cut.
 *
 * Each component owns its tables and migrates them itself: it passes its name
 * and an ordered list of migrations to dd_db_migrate(), which applies the ones
 * newer than the version recorded in the `ddlocal_schema` table, each in its
 * own transaction. A database written by a newer ddlocal is refused rather
 * than misread.
 *
 * The sqlite3 handle returned by dd_db_open() belongs to the caller, who
 * closes it with dd_db_close(). Handles are not shared between threads.
 *
 * The statement helpers (dd_db_prepare(), dd_db_bind_text(),
 * dd_db_column_text(), dd_db_column_text_or_null(), dd_db_step(),
 * dd_db_fail()) are the one set every component's SQL uses, so that a
 * failure is logged the same way everywhere. They never own the statement
 * except dd_db_step(), which finalizes it.
 */
#ifndef DD_DB_H_
#define DD_DB_H_

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_db_status {
    DD_DB_OK = 0,
    DD_DB_BAD_PARAMETER, /**< NULL pointer or empty list. */
    DD_DB_OPEN_FAILED,   /**< File could not be opened or created. */
    DD_DB_SQL_ERROR,     /**< A statement failed; details were logged. */
    DD_DB_TOO_NEW,       /**< The file was written by a newer schema version. */
    DD_DB_CONSTRAINT     /**< A UNIQUE / PRIMARY KEY / NOT NULL constraint refused a row. */
} dd_db_status_t;

/** One schema step: applied when the recorded version is below @ref version. */
typedef struct dd_db_migration {
    int version;     /**< 1, 2, 3 ... strictly increasing. */
    const char *sql; /**< One or more statements, run in one transaction. */
} dd_db_migration_t;

/** Name of the database file inside a data dir. */
#define DD_DB_FILE_NAME "ddlocal.db"

/**
 * @brief Opens (creating if needed) a database in WAL mode with a busy
 *        timeout, foreign keys on and synchronous=NORMAL.
 * @param[in] path File path.
 * @param[in] read_only Open without write access (no creation).
 * @param[out] out_db Receives the handle; NULL on failure.
 * @return DD_DB_OK, DD_DB_BAD_PARAMETER, DD_DB_OPEN_FAILED or DD_DB_SQL_ERROR.
 */
dd_db_status_t dd_db_open(const char *path, bool read_only, sqlite3 **out_db);

/**
 * @brief Closes a handle from dd_db_open(); NULL is ignored.
 * @param[in] db Handle to close.
 */
void dd_db_close(sqlite3 *db);

/**
 * @brief Applies the migrations of one component that are newer than its
 *        recorded version.
 * @param[in] db Open database.
 * @param[in] component Component name, e.g. "registry".
 * @param[in] migrations Ordered list.
 * @param[in] count Number of entries.
 * @return DD_DB_OK, DD_DB_BAD_PARAMETER, DD_DB_SQL_ERROR or DD_DB_TOO_NEW.
 */
dd_db_status_t dd_db_migrate(sqlite3 *db, const char *component,
                             const dd_db_migration_t *migrations, size_t count);

/**
 * @brief Reads the schema version recorded for a component.
 * @param[in] db Open database.
 * @param[in] component Component name.
 * @param[out] version 0 when the component has no tables yet.
 * @return DD_DB_OK, DD_DB_BAD_PARAMETER or DD_DB_SQL_ERROR.
 */
dd_db_status_t dd_db_schema_version(sqlite3 *db, const char *component, int *version);

/**
 * @brief Runs statements without results (BEGIN, COMMIT, DDL); logs failures.
 * @param[in] db Open database.
 * @param[in] sql Statements.
 * @return DD_DB_OK or DD_DB_SQL_ERROR.
 */
dd_db_status_t dd_db_exec(sqlite3 *db, const char *sql);

/**
 * @brief Prepares a statement, logging the SQL error on failure.
 * @param[in] db Open database.
 * @param[in] sql One statement.
 * @param[out] out_stmt Receives the statement (caller finalizes it).
 * @return DD_DB_OK or DD_DB_SQL_ERROR.
 */
dd_db_status_t dd_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out_stmt);

/**
 * @brief Binds text, or SQL NULL when @p text is NULL (copied: the caller's
 *        buffer may change before the statement runs).
 * @param[in] st Prepared statement.
 * @param[in] idx 1-based parameter index.
 * @param[in] text Text or NULL.
 * @return DD_DB_OK, DD_DB_BAD_PARAMETER (no statement) or DD_DB_SQL_ERROR
 *         (index out of range, out of memory).
 */
dd_db_status_t dd_db_bind_text(sqlite3_stmt *st, int idx, const char *text);

/**
 * @brief A text column of the current row, "" for SQL NULL.
 * @param[in] st Statement positioned on a row (sqlite3_step() gave SQLITE_ROW).
 * @param[in] col 0-based column.
 * @return Text owned by the statement, valid until its next step, reset or
 *         finalize; "" when @p st is NULL.
 */
const char *dd_db_column_text(sqlite3_stmt *st, int col);

/**
 * @brief A text column of the current row, NULL for SQL NULL.
 * @param[in] st Statement positioned on a row.
 * @param[in] col 0-based column.
 * @return Text owned by the statement (as dd_db_column_text()) or NULL.
 */
const char *dd_db_column_text_or_null(sqlite3_stmt *st, int col);

/**
 * @brief Logs the handle's last error as "<who>: <what>: <SQLite's message>".
 * @param[in] db Handle whose statement failed.
 * @param[in] who Component, e.g. "evaluator store" (NULL = "sqlite").
 * @param[in] what What was being done (NULL = nothing said).
 * @return DD_DB_SQL_ERROR, always (to return it directly).
 */
dd_db_status_t dd_db_fail(sqlite3 *db, const char *who, const char *what);

/**
 * @brief Runs a statement that returns no rows (or whose rows are not read)
 *        and finalizes it. A failure other than a constraint is logged with
 *        dd_db_fail().
 * @param[in] db Handle of @p st (for the message).
 * @param[in] st Statement, finalized in every case (NULL: a failed prepare).
 * @param[in] who Component for the log line.
 * @param[in] what Operation for the log line.
 * @return DD_DB_OK, DD_DB_CONSTRAINT (not logged: callers map it, e.g. to
 *         "already exists"), DD_DB_SQL_ERROR or DD_DB_BAD_PARAMETER (@p st NULL).
 */
dd_db_status_t dd_db_step(sqlite3 *db, sqlite3_stmt *st, const char *who, const char *what);

/** @return Static text for @p status. */
const char *dd_db_strerror(dd_db_status_t status);

#endif /* DD_DB_H_ */
