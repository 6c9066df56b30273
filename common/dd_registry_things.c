#include "dd_registry_internal.h"

#include <string.h>

/* ---- things ----------------------------------------------------------------- */

static void thing_from_row(sqlite3_stmt *st, dd_registry_thing_t *t)
{
    t->name = dd_db_column_text(st, 0);
    t->thing_id = dd_db_column_text(st, 1);
    t->thing_type = dd_db_column_text(st, 2);
    t->attributes_json = dd_db_column_text(st, 3);
    t->version = sqlite3_column_int64(st, 4);
    t->created_ms = sqlite3_column_int64(st, 5);
}

#define THING_COLUMNS "name, thing_id, thing_type, attributes, version, created_ms"

bool dd_registry_thing_exists(dd_registry_t *reg, const char *name)
{
    return reg != NULL && name != NULL &&
           dd_registry_exists2(reg, "SELECT 1 FROM things WHERE name = ?1", name, NULL) == 1;
}

dd_registry_status_t dd_registry_thing_create(dd_registry_t *reg, const char *name,
                                              const char *thing_type, const char *attributes_json,
                                              char *thing_id, size_t thing_id_len,
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
    if ((status = dd_registry_check_name(DD_NAME_THING, name, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (thing_type != NULL && thing_type[0] != '\0' && !dd_name_valid(DD_NAME_THING, thing_type)) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "Invalid thing type name '%.128s'",
                                thing_type);
    }
    st = dd_registry_prep(reg,
                          "SELECT thing_id, thing_type, attributes FROM things WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* AWS: creating an identical thing again returns it; a different one conflicts. */
        cJSON *have = cJSON_Parse(dd_db_column_text(st, 2));
        cJSON *want = cJSON_Parse(attributes_json != NULL ? attributes_json : "{}");
        bool same = strcmp(dd_db_column_text(st, 1), thing_type != NULL ? thing_type : "") == 0 &&
                    cJSON_Compare(have, want, true);
        dd_registry_copy_out(id, sizeof(id), dd_db_column_text(st, 0));
        cJSON_Delete(have);
        cJSON_Delete(want);
        sqlite3_finalize(st);
        dd_registry_copy_out(thing_id, thing_id_len, id);
        if (same) {
            return DD_REGISTRY_OK;
        }
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_THING, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "Thing %s already exists with different tags or attributes", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    if (thing_type != NULL && thing_type[0] != '\0' &&
        (status = dd_registry_type_usable(reg, thing_type, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_new_uuid("thing-id", id, sizeof(id)) != DD_REGISTRY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a thing id");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg,
                          "INSERT INTO things(name, thing_id, thing_type, attributes, created_ms)"
                          " VALUES(?1, ?2, ?3, ?4, ?5)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, name);
        (void)dd_db_bind_text(st, 2, id);
        (void)dd_db_bind_text(st, 3, thing_type != NULL ? thing_type : "");
        (void)dd_db_bind_text(st, 4, attributes_json != NULL ? attributes_json : "{}");
        (void)sqlite3_bind_int64(st, 5, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING, name, err);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        dd_registry_copy_out(thing_id, thing_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_thing_update(dd_registry_t *reg, const char *name,
                                              const char *thing_type, const char *attributes_json,
                                              int64_t expected_version, int64_t *new_version,
                                              dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_THING, name, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_check_version(reg, "SELECT version FROM things WHERE name = ?1", name,
                                       expected_version, "thing", err, &found);
    if (status == DD_REGISTRY_OK && !found) {
        status = dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing %.128s does not exist", name);
    }
    if (status == DD_REGISTRY_OK && thing_type != NULL && thing_type[0] != '\0') {
        status = dd_registry_type_usable(reg, thing_type, err);
    }
    if (status == DD_REGISTRY_OK) {
        st = dd_registry_prep(reg, "UPDATE things SET thing_type = COALESCE(?2, thing_type),"
                                   " attributes = COALESCE(?3, attributes), version = version + 1"
                                   " WHERE name = ?1 RETURNING version");
        if (st == NULL) {
            status = dd_registry_sql_fail(reg, err);
        } else {
            (void)dd_db_bind_text(st, 1, name);
            (void)dd_db_bind_text(st, 2, thing_type);
            (void)dd_db_bind_text(st, 3, attributes_json);
            if (sqlite3_step(st) == SQLITE_ROW) {
                if (new_version != NULL) {
                    *new_version = sqlite3_column_int64(st, 0);
                }
            } else {
                status = dd_registry_sql_fail(reg, err);
            }
            sqlite3_finalize(st);
        }
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING, name, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_thing_get(dd_registry_t *reg, const char *name,
                                           dd_registry_thing_fn fn, void *ctx,
                                           dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_thing_t t;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT " THING_COLUMNS " FROM things WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        thing_from_row(st, &t);
        if (fn != NULL) {
            (void)fn(ctx, &t);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing %.128s does not exist", name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_thing_must_exist(dd_registry_t *reg, const char *thing,
                                                  dd_registry_error_t *err)
{
    dd_registry_status_t status = dd_registry_check_name(DD_NAME_THING, thing, err);

    if (status == DD_REGISTRY_OK && !dd_registry_thing_exists(reg, thing)) {
        status = dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing %s does not exist", thing);
    }
    return status;
}

dd_registry_status_t dd_registry_check_version(dd_registry_t *reg, const char *sql,
                                               const char *name, int64_t expected, const char *noun,
                                               dd_registry_error_t *err, bool *found)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int rc;
    int64_t have = 0;

    *found = false;
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        have = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    if (*found && expected >= 0 && have != expected) {
        return dd_registry_fail(err, DD_REGISTRY_VERSION_CONFLICT,
                                "The version of %s %.128s is %lld, not the expected %lld", noun,
                                name, (long long)have, (long long)expected);
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_thing_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_THING, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_check_version(reg, "SELECT version FROM things WHERE name = ?1", name,
                                       expected_version, "thing", err, &found);
    if (status == DD_REGISTRY_OK && found &&
        dd_registry_exists2(reg, "SELECT 1 FROM thing_principals WHERE thing = ?1", name, NULL) ==
            1) {
        status = dd_registry_fail(
            err, DD_REGISTRY_INVALID,
            "Cannot delete thing %.128s: it has attached principals; detach them first", name);
    }
    if (status == DD_REGISTRY_OK && found) {
        status =
            dd_registry_exec3(reg, "DELETE FROM things WHERE name = ?1", name, NULL, NULL, err);
        if (status == DD_REGISTRY_OK) {
            status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING, name, err);
        }
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_thing_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                            dd_registry_thing_fn fn, void *ctx, char *next,
                                            size_t next_len)
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
    st = dd_registry_prep(reg, "SELECT " THING_COLUMNS
                               " FROM things WHERE name > ?1 ORDER BY name LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_thing_t t;
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        thing_from_row(st, &t);
        dd_registry_copy_out(last, sizeof(last), t.name);
        count++;
        if (fn != NULL && fn(ctx, &t) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}
