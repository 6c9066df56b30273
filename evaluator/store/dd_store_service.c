#include "dd_store_service.h"

#include <stddef.h>

#include "dd_db.h"

static const dd_db_migration_t SERVICE_MIGRATIONS[] = {
    {1, "CREATE TABLE sns_dead_letters("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  topic TEXT NOT NULL,"
        "  endpoint TEXT NOT NULL,"
        "  body TEXT NOT NULL,"
        "  attempts INTEGER NOT NULL,"
        "  last_error TEXT NOT NULL,"
        "  time_ms INTEGER NOT NULL);"},
};

dd_store_status_t dd_store_service_open(sqlite3 *db)
{
    if (db == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    return dd_db_migrate(db, DD_STORE_SERVICE_COMPONENT, SERVICE_MIGRATIONS,
                         sizeof(SERVICE_MIGRATIONS) / sizeof(SERVICE_MIGRATIONS[0])) == DD_DB_OK
               ? DD_STORE_OK
               : DD_STORE_SQL_ERROR;
}

dd_store_status_t dd_store_service_dead_letter_add(sqlite3 *db,
                                                   const dd_store_dead_letter_t *letter)
{
    sqlite3_stmt *st = NULL;

    if (db == NULL || letter == NULL || letter->topic == NULL || letter->endpoint == NULL ||
        letter->body == NULL || letter->last_error == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (dd_db_prepare(db,
                      "INSERT INTO sns_dead_letters(topic, endpoint, body, attempts, last_error,"
                      " time_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                      &st) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    (void)dd_db_bind_text(st, 1, letter->topic);
    (void)dd_db_bind_text(st, 2, letter->endpoint);
    (void)dd_db_bind_text(st, 3, letter->body);
    (void)sqlite3_bind_int(st, 4, letter->attempts);
    (void)dd_db_bind_text(st, 5, letter->last_error);
    (void)sqlite3_bind_int64(st, 6, letter->time_ms);
    return dd_db_step(db, st, "cannot record a dead letter", NULL) == DD_DB_OK ? DD_STORE_OK
                                                                               : DD_STORE_SQL_ERROR;
}

dd_store_status_t dd_store_service_dead_letter_count(sqlite3 *db, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    dd_store_status_t status = DD_STORE_OK;

    if (db == NULL || count == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    *count = 0;
    if (dd_db_prepare(db, "SELECT count(*) FROM sns_dead_letters", &st) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
    } else {
        (void)dd_db_fail(db, "service store", "count dead letters");
        status = DD_STORE_SQL_ERROR;
    }
    sqlite3_finalize(st);
    return status;
}
