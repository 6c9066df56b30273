#include "dd_registry_internal.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---- tags (by resource ARN) ------------------------------------------------------ */

static dd_registry_status_t put_tag(dd_registry_t *reg, const char *arn, const char *key,
                                    const char *value, dd_registry_error_t *err)
{
    if (strncmp(key, "aws:", 4) == 0) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Tag keys starting with aws: are reserved (%.128s)", key);
    }
    return dd_registry_exec3(reg,
                             "INSERT INTO resource_tags(arn, key, value) VALUES(?1, ?2, ?3)"
                             " ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
                             arn, key, value, err);
}

static int tag_count(dd_registry_t *reg, const char *arn)
{
    sqlite3_stmt *st = dd_registry_prep(reg, "SELECT count(*) FROM resource_tags WHERE arn = ?1");
    int n = -1;

    if (st == NULL) {
        return -1;
    }
    (void)dd_db_bind_text(st, 1, arn);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

dd_registry_status_t dd_registry_tags_set(dd_registry_t *reg, const char *arn,
                                          const char *tags_json, bool replace,
                                          dd_registry_error_t *err)
{
    dd_registry_status_t status;
    cJSON *tags;
    const cJSON *t;
    int count;

    dd_registry_clear_error(err);
    if (reg == NULL || arn == NULL || tags_json == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    tags = cJSON_Parse(tags_json);
    if (!cJSON_IsArray(tags)) {
        cJSON_Delete(tags);
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "tags must be a list of Key/Value");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        cJSON_Delete(tags);
        return status;
    }
    if (replace) {
        status = dd_registry_exec3(reg, "DELETE FROM resource_tags WHERE arn = ?1", arn, NULL, NULL,
                                   err);
    }
    cJSON_ArrayForEach (t, tags) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(t, "Key");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(t, "Value");

        if (status != DD_REGISTRY_OK) {
            break;
        }
        if (!cJSON_IsString(key) || key->valuestring[0] == '\0' ||
            (value != NULL && !cJSON_IsString(value) && !cJSON_IsNull(value))) {
            status = dd_registry_fail(err, DD_REGISTRY_INVALID,
                                      "Each tag needs a Key and a string Value");
            break;
        }
        status = put_tag(reg, arn, key->valuestring,
                         cJSON_IsString(value) ? value->valuestring : "", err);
    }
    cJSON_Delete(tags);
    if (status == DD_REGISTRY_OK) {
        count = tag_count(reg, arn);
        if (count < 0) {
            status = dd_registry_sql_fail(reg, err);
        } else if (count > DD_REGISTRY_MAX_TAGS) {
            status = dd_registry_fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                                      "A resource has at most %d tags (this would make %d)",
                                      DD_REGISTRY_MAX_TAGS, count);
        }
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_tags_remove(dd_registry_t *reg, const char *arn,
                                             const char *keys_json, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    cJSON *keys;
    const cJSON *k;

    dd_registry_clear_error(err);
    if (reg == NULL || arn == NULL || keys_json == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    keys = cJSON_Parse(keys_json);
    if (!cJSON_IsArray(keys)) {
        cJSON_Delete(keys);
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "tagKeys must be a list of strings");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        cJSON_Delete(keys);
        return status;
    }
    cJSON_ArrayForEach (k, keys) {
        if (!cJSON_IsString(k)) {
            status = dd_registry_fail(err, DD_REGISTRY_INVALID, "tagKeys must be strings");
            break;
        }
        status = dd_registry_exec3(reg, "DELETE FROM resource_tags WHERE arn = ?1 AND key = ?2",
                                   arn, k->valuestring, NULL, err);
        if (status != DD_REGISTRY_OK) {
            break;
        }
    }
    cJSON_Delete(keys);
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_tags_list(dd_registry_t *reg, const char *arn,
                                           const dd_registry_page_t *page, dd_registry_tag_fn fn,
                                           void *ctx, char *next, size_t next_len,
                                           dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    dd_registry_clear_error(err);
    if (reg == NULL || arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    st = dd_registry_prep(reg, "SELECT key, value FROM resource_tags WHERE arn = ?1 AND key > ?2"
                               " ORDER BY key LIMIT ?3");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, arn);
    (void)dd_db_bind_text(st, 2, after);
    (void)sqlite3_bind_int(st, 3, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = dd_db_column_text(st, 0);
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        dd_registry_copy_out(last, sizeof(last), key);
        count++;
        if (fn != NULL && fn(ctx, key, dd_db_column_text(st, 1)) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK
                                                   : dd_registry_sql_fail(reg, err);
}
