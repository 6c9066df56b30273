#include "dd_registry_internal.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---- thing types ------------------------------------------------------------- */

#define TYPE_COLUMNS "name, type_id, description, searchable, deprecated, deprecated_ms, created_ms"

static void type_from_row(sqlite3_stmt *st, dd_registry_type_t *t)
{
    t->name = dd_db_column_text(st, 0);
    t->type_id = dd_db_column_text(st, 1);
    t->description = dd_db_column_text(st, 2);
    t->searchable_json = dd_db_column_text(st, 3);
    t->deprecated = sqlite3_column_int(st, 4) != 0;
    t->deprecated_ms = sqlite3_column_int64(st, 5);
    t->created_ms = sqlite3_column_int64(st, 6);
}

/* searchableAttributes: an array of at most 3 attribute names (1..128 characters). */
static dd_registry_status_t check_searchable(const char *json, dd_registry_error_t *err)
{
    cJSON *root;
    const cJSON *item;
    dd_registry_status_t status = DD_REGISTRY_OK;

    if (json == NULL) {
        return DD_REGISTRY_OK;
    }
    root = cJSON_Parse(json);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) > DD_REGISTRY_MAX_SEARCHABLE) {
        cJSON_Delete(root);
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "searchableAttributes must be a list of at most %d names",
                                DD_REGISTRY_MAX_SEARCHABLE);
    }
    cJSON_ArrayForEach (item, root) {
        if (!cJSON_IsString(item) || strlen(item->valuestring) == 0 ||
            strlen(item->valuestring) > 128) {
            status = dd_registry_fail(err, DD_REGISTRY_INVALID,
                                      "searchableAttributes holds names of 1..128 characters");
            break;
        }
    }
    cJSON_Delete(root);
    return status;
}

static bool same_json(const char *a_text, const char *b_text)
{
    cJSON *a = cJSON_Parse(a_text);
    cJSON *b = cJSON_Parse(b_text);
    bool same = a != NULL && b != NULL && cJSON_Compare(a, b, true);

    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

dd_registry_status_t dd_registry_type_usable(dd_registry_t *reg, const char *type,
                                             dd_registry_error_t *err)
{
    int found;

    if ((dd_registry_check_name(DD_NAME_THING_TYPE, type, err)) != DD_REGISTRY_OK) {
        return DD_REGISTRY_INVALID;
    }
    found = dd_registry_exists2(reg, "SELECT 1 FROM thing_types WHERE name = ?1", type, NULL);
    if (found < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    if (found == 0) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing type %.128s does not exist",
                                type);
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM thing_types WHERE name = ?1 AND deprecated = 1",
                            type, NULL) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing type %.128s is deprecated: it cannot be given to things",
                                type);
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_type_create(dd_registry_t *reg, const char *name,
                                             const char *description, const char *searchable_json,
                                             char *type_id, size_t type_id_len,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char id[40];
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_THING_TYPE, name, err)) != DD_REGISTRY_OK ||
        (status = check_searchable(searchable_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (description != NULL && strlen(description) > 2028) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing type description is longer than 2028 characters");
    }
    st = dd_registry_prep(
        reg, "SELECT type_id, description, searchable FROM thing_types WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same =
            strcmp(dd_db_column_text(st, 1), description != NULL ? description : "") == 0 &&
            same_json(dd_db_column_text(st, 2), searchable_json != NULL ? searchable_json : "[]");
        dd_registry_copy_out(id, sizeof(id), dd_db_column_text(st, 0));
        sqlite3_finalize(st);
        dd_registry_copy_out(type_id, type_id_len, id);
        if (same) {
            return DD_REGISTRY_OK; /* as CreateThing and CreateThingGroup */
        }
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_THING_TYPE, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "Thing type %s already exists with a different definition", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    if (dd_registry_new_uuid("thing-type-id", id, sizeof(id)) != DD_REGISTRY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a type id");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "INSERT INTO thing_types(name, type_id, description, searchable,"
                               " created_ms) VALUES(?1, ?2, ?3, ?4, ?5)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, name);
        (void)dd_db_bind_text(st, 2, id);
        (void)dd_db_bind_text(st, 3, description != NULL ? description : "");
        (void)dd_db_bind_text(st, 4, searchable_json != NULL ? searchable_json : "[]");
        (void)sqlite3_bind_int64(st, 5, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        dd_registry_copy_out(type_id, type_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_type_get(dd_registry_t *reg, const char *name,
                                          dd_registry_type_fn fn, void *ctx,
                                          dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_type_t t;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT " TYPE_COLUMNS " FROM thing_types WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        type_from_row(st, &t);
        if (fn != NULL) {
            (void)fn(ctx, &t);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing type %.128s does not exist",
                                name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_type_list(dd_registry_t *reg, const char *name,
                                           const dd_registry_page_t *page, dd_registry_type_fn fn,
                                           void *ctx, char *next, size_t next_len)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    st = dd_registry_prep(reg, "SELECT " TYPE_COLUMNS " FROM thing_types WHERE name > ?1"
                               " AND (?3 IS NULL OR name = ?3) ORDER BY name LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    (void)dd_db_bind_text(st, 3, name);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_type_t t;
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        type_from_row(st, &t);
        dd_registry_copy_out(last, sizeof(last), t.name);
        count++;
        if (fn != NULL && fn(ctx, &t) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_type_deprecate(dd_registry_t *reg, const char *name, bool undo,
                                                dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    /* Only a change of state restarts the deletion delay. */
    st = dd_registry_prep(reg, "UPDATE thing_types SET deprecated = ?2, deprecated_ms ="
                               " CASE WHEN deprecated = ?2 THEN deprecated_ms ELSE ?3 END"
                               " WHERE name = ?1");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, name);
        (void)sqlite3_bind_int(st, 2, undo ? 0 : 1);
        (void)sqlite3_bind_int64(st, 3, dd_registry_now_ms(reg));
        if (sqlite3_step(st) != SQLITE_DONE) {
            status = dd_registry_sql_fail(reg, err);
        } else if (sqlite3_changes(sqlite3_db_handle(st)) == 0) {
            status = dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                      "Thing type %.128s does not exist", name);
        }
        sqlite3_finalize(st);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_type_delete(dd_registry_t *reg, const char *name,
                                             dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    bool deprecated = false;
    int64_t since = 0;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT deprecated, deprecated_ms FROM thing_types WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        deprecated = sqlite3_column_int(st, 0) != 0;
        since = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing type %.128s does not exist",
                                name);
    }
    if (rc != SQLITE_ROW) {
        return dd_registry_sql_fail(reg, err);
    }
    if (!deprecated) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing type %.128s must be deprecated before it is deleted", name);
    }
    if (dd_registry_now_ms(reg) - since < DD_REGISTRY_TYPE_DELETE_DELAY_MS) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing type %.128s was deprecated less than 5 minutes ago", name);
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM things WHERE thing_type = ?1", name, NULL) != 0) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing type %.128s is still the type of things", name);
    }
    return dd_registry_exec3(reg, "DELETE FROM thing_types WHERE name = ?1", name, NULL, NULL, err);
}
