#include "dd_registry_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---- thing groups -------------------------------------------------------------- */

dd_registry_status_t dd_registry_group_must_exist(dd_registry_t *reg, const char *group,
                                                  dd_registry_error_t *err)
{
    dd_registry_status_t status = dd_registry_check_name(DD_NAME_THING_GROUP, group, err);

    if (status == DD_REGISTRY_OK &&
        dd_registry_exists2(reg, "SELECT 1 FROM thing_groups WHERE name = ?1", group, NULL) != 1) {
        status =
            dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %s does not exist", group);
    }
    return status;
}

#define GROUP_COLUMNS \
    "name, group_id, COALESCE(parent, ''), description, attributes, version, created_ms"

static void group_from_row(sqlite3_stmt *st, dd_registry_group_t *g)
{
    g->name = dd_db_column_text(st, 0);
    g->group_id = dd_db_column_text(st, 1);
    g->parent = dd_db_column_text(st, 2);
    g->description = dd_db_column_text(st, 3);
    g->attributes_json = dd_db_column_text(st, 4);
    g->version = sqlite3_column_int64(st, 5);
    g->created_ms = sqlite3_column_int64(st, 6);
}

/* Whether two attribute objects (JSON text; NULL = none) hold the same pairs: key order is not
 * part of a thing group's definition, so a retry that reorders them is still identical. */
static bool same_attributes(const char *stored, const char *wanted)
{
    cJSON *a = cJSON_Parse(stored != NULL && stored[0] != '\0' ? stored : "{}");
    cJSON *b = cJSON_Parse(wanted != NULL ? wanted : "{}");
    bool same = a != NULL && b != NULL && cJSON_Compare(a, b, true);

    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

/* Depth of a group: 1 for a root group. */
static int group_depth(dd_registry_t *reg, const char *group)
{
    sqlite3_stmt *st =
        dd_registry_prep(reg, "WITH RECURSIVE up(name, parent, depth) AS ("
                              " SELECT name, parent, 1 FROM thing_groups WHERE name = ?1"
                              " UNION ALL SELECT g.name, g.parent, up.depth + 1 FROM thing_groups g"
                              " JOIN up ON g.name = up.parent)"
                              " SELECT max(depth) FROM up");
    int depth = -1;

    if (st == NULL) {
        return -1;
    }
    (void)dd_db_bind_text(st, 1, group);
    if (sqlite3_step(st) == SQLITE_ROW) {
        depth = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return depth;
}

dd_registry_status_t dd_registry_group_create(dd_registry_t *reg, const char *name,
                                              const char *parent, const char *description,
                                              const char *attributes_json, char *group_id,
                                              size_t group_id_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char id[40];
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (parent != NULL && parent[0] == '\0') {
        parent = NULL;
    }
    if ((status = dd_registry_check_name(DD_NAME_THING_GROUP, name, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (description != NULL && strlen(description) > 2028) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing group description is longer than 2028 characters");
    }
    st = dd_registry_prep(reg, "SELECT group_id, COALESCE(parent, ''), description, attributes"
                               " FROM thing_groups WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same = strcmp(dd_db_column_text(st, 1), parent != NULL ? parent : "") == 0 &&
                    strcmp(dd_db_column_text(st, 2), description != NULL ? description : "") == 0 &&
                    same_attributes(dd_db_column_text(st, 3), attributes_json);
        dd_registry_copy_out(id, sizeof(id), dd_db_column_text(st, 0));
        sqlite3_finalize(st);
        dd_registry_copy_out(group_id, group_id_len, id);
        if (same) {
            return DD_REGISTRY_OK; /* AWS: idempotent for an identical group */
        }
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_THING_GROUP, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "Thing group %s already exists with a different definition", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    if (parent != NULL) {
        if ((status = dd_registry_group_must_exist(reg, parent, err)) != DD_REGISTRY_OK) {
            return status;
        }
        if (group_depth(reg, parent) >= DD_REGISTRY_MAX_GROUP_DEPTH) {
            return dd_registry_fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                                    "Thing group hierarchies are at most %d levels deep",
                                    DD_REGISTRY_MAX_GROUP_DEPTH);
        }
    }
    if (dd_registry_new_uuid("thing-group-id", id, sizeof(id)) != DD_REGISTRY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a group id");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(
        reg, "INSERT INTO thing_groups(name, group_id, parent, description, attributes, created_ms)"
             " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, name);
        (void)dd_db_bind_text(st, 2, id);
        (void)dd_db_bind_text(st, 3, parent);
        (void)dd_db_bind_text(st, 4, description != NULL ? description : "");
        (void)dd_db_bind_text(st, 5, attributes_json != NULL ? attributes_json : "{}");
        (void)sqlite3_bind_int64(st, 6, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_GROUP, name, err);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        dd_registry_copy_out(group_id, group_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_group_get(dd_registry_t *reg, const char *name,
                                           dd_registry_group_fn fn, void *ctx,
                                           dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT " GROUP_COLUMNS " FROM thing_groups WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_group_t g;
        group_from_row(st, &g);
        (void)fn(ctx, &g);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %.128s does not exist",
                                name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_group_update(dd_registry_t *reg, const char *name,
                                              const char *description, const char *attributes_json,
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
    if ((status = dd_registry_check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (description != NULL && strlen(description) > 2028) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Thing group description is longer than 2028 characters");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_check_version(reg, "SELECT version FROM thing_groups WHERE name = ?1",
                                       name, expected_version, "thing group", err, &found);
    if (status == DD_REGISTRY_OK && !found) {
        status =
            dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %.128s does not exist", name);
    }
    if (status == DD_REGISTRY_OK) {
        st =
            dd_registry_prep(reg, "UPDATE thing_groups SET description = COALESCE(?2, description),"
                                  " attributes = COALESCE(?3, attributes), version = version + 1"
                                  " WHERE name = ?1 RETURNING version");
        if (st == NULL) {
            status = dd_registry_sql_fail(reg, err);
        } else {
            (void)dd_db_bind_text(st, 1, name);
            (void)dd_db_bind_text(st, 2, description);
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
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_THING_GROUP, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_check_version(reg, "SELECT version FROM thing_groups WHERE name = ?1",
                                       name, expected_version, "thing group", err, &found);
    if (status == DD_REGISTRY_OK && found &&
        dd_registry_exists2(reg, "SELECT 1 FROM thing_groups WHERE parent = ?1", name, NULL) == 1) {
        status = dd_registry_fail(err, DD_REGISTRY_INVALID,
                                  "Cannot delete thing group %.128s: it has child groups", name);
    }
    if (status == DD_REGISTRY_OK && found) {
        /* Members lose the group: their thing state changes. */
        st = dd_registry_prep(reg, "SELECT thing FROM thing_group_members WHERE group_name = ?1");
        if (st == NULL) {
            status = dd_registry_sql_fail(reg, err);
        } else {
            (void)dd_db_bind_text(st, 1, name);
            while (status == DD_REGISTRY_OK && sqlite3_step(st) == SQLITE_ROW) {
                status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING,
                                                dd_db_column_text(st, 0), err);
            }
            sqlite3_finalize(st);
        }
        if (status == DD_REGISTRY_OK) {
            status = dd_registry_exec3(
                reg, "DELETE FROM policy_targets WHERE target_kind = 'group' AND target = ?1", name,
                NULL, NULL, err);
        }
        if (status == DD_REGISTRY_OK) {
            status = dd_registry_exec3(reg, "DELETE FROM thing_groups WHERE name = ?1", name, NULL,
                                       NULL, err);
        }
        if (status == DD_REGISTRY_OK) {
            status = dd_registry_log_change(reg, DD_REGISTRY_KIND_GROUP, name, err);
        }
    }
    return dd_registry_savepoint_end(reg, status);
}

typedef struct group_list_ctx {
    dd_registry_t *reg;
    dd_registry_group_fn fn;
    void *ctx;
} group_list_ctx_t;

static int group_row_by_name(void *ctx, const char *name)
{
    group_list_ctx_t *g = ctx;
    int stop = 0;
    sqlite3_stmt *st =
        dd_registry_prep(g->reg, "SELECT " GROUP_COLUMNS " FROM thing_groups WHERE name = ?1");

    if (st == NULL) {
        return 1;
    }
    (void)dd_db_bind_text(st, 1, name);
    if (sqlite3_step(st) == SQLITE_ROW && g->fn != NULL) {
        dd_registry_group_t row;
        group_from_row(st, &row);
        stop = g->fn(g->ctx, &row);
    }
    sqlite3_finalize(st);
    return stop;
}

dd_registry_status_t dd_registry_group_list(dd_registry_t *reg, const char *parent,
                                            const char *name_prefix, bool recursive,
                                            const dd_registry_page_t *page, dd_registry_group_fn fn,
                                            void *ctx, char *next, size_t next_len,
                                            dd_registry_error_t *err)
{
    group_list_ctx_t g;
    dd_registry_status_t status;
    char filter[2 * (DD_NAME_MAX + 1) + 2];
    const char *sql;

    dd_registry_clear_error(err);
    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (parent != NULL && parent[0] != '\0' &&
        (status = dd_registry_group_must_exist(reg, parent, err)) != DD_REGISTRY_OK) {
        return status;
    }
    /* ?1 packs "parent\x1fprefix" so that dd_registry_list_names() keeps one filter parameter. */
    (void)snprintf(filter, sizeof(filter), "%s\x1f%s", parent != NULL ? parent : "",
                   name_prefix != NULL ? name_prefix : "");
    if (parent == NULL || parent[0] == '\0') {
        /* No parent: every group of the account, at any depth. */
        sql = "SELECT name FROM thing_groups WHERE name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    } else if (recursive) {
        sql = "WITH RECURSIVE down(name) AS ("
              " SELECT name FROM thing_groups WHERE parent = substr(?1, 1, instr(?1, char(31)) - 1)"
              " UNION SELECT g.name FROM thing_groups g JOIN down ON g.parent = down.name)"
              " SELECT name FROM down WHERE name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    } else {
        sql = "SELECT name FROM thing_groups WHERE parent = substr(?1, 1, instr(?1, char(31)) - 1)"
              " AND name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    }
    g.reg = reg;
    g.fn = fn;
    g.ctx = ctx;
    return dd_registry_list_names(reg, sql, filter, page, group_row_by_name, &g, next, next_len,
                                  err);
}

/* Root group of a hierarchy a group belongs to. */
static dd_registry_status_t group_root(dd_registry_t *reg, const char *group, char *root,
                                       size_t len)
{
    sqlite3_stmt *st =
        dd_registry_prep(reg, "WITH RECURSIVE up(name, parent) AS ("
                              " SELECT name, parent FROM thing_groups WHERE name = ?1"
                              " UNION ALL SELECT g.name, g.parent FROM thing_groups g"
                              " JOIN up ON g.name = up.parent)"
                              " SELECT name FROM up WHERE parent IS NULL");
    int rc;

    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, group);
    rc = sqlite3_step(st);
    dd_registry_copy_out(root, len, rc == SQLITE_ROW ? dd_db_column_text(st, 0) : group);
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_group_add_thing(dd_registry_t *reg, const char *group,
                                                 const char *thing, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char root[DD_NAME_MAX + 1];
    int groups = 0;

    dd_registry_clear_error(err);
    if (reg == NULL || group == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_exists2(
            reg, "SELECT 1 FROM thing_group_members WHERE thing = ?1 AND group_name = ?2", thing,
            group) == 1) {
        return DD_REGISTRY_OK; /* already a member: idempotent */
    }
    if (group_root(reg, group, root, sizeof(root)) != DD_REGISTRY_OK) {
        return dd_registry_sql_fail(reg, err);
    }
    st = dd_registry_prep(reg, "SELECT group_name FROM thing_group_members WHERE thing = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, thing);
    while (status == DD_REGISTRY_OK && sqlite3_step(st) == SQLITE_ROW) {
        char other_root[DD_NAME_MAX + 1];
        groups++;
        if (group_root(reg, dd_db_column_text(st, 0), other_root, sizeof(other_root)) ==
                DD_REGISTRY_OK &&
            strcmp(root, other_root) == 0) {
            status = dd_registry_fail(err, DD_REGISTRY_INVALID,
                                      "Thing %s is already in group %s of the same hierarchy as %s",
                                      thing, dd_db_column_text(st, 0), group);
        }
    }
    sqlite3_finalize(st);
    if (status == DD_REGISTRY_OK && groups >= DD_REGISTRY_MAX_GROUPS_PER_THING) {
        status = dd_registry_fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                                  "Thing %s is already in %d thing groups", thing,
                                  DD_REGISTRY_MAX_GROUPS_PER_THING);
    }
    if (status != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status =
        dd_registry_exec3(reg, "INSERT INTO thing_group_members(thing, group_name) VALUES(?1, ?2)",
                          thing, group, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING, thing, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_remove_thing(dd_registry_t *reg, const char *group,
                                                    const char *thing, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || group == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status =
        dd_registry_exec3(reg,
                          "DELETE FROM thing_group_members WHERE thing = ?1 AND group_name = ?2",
                          thing, group, NULL, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_THING, thing, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_things(dd_registry_t *reg, const char *group, bool recursive,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || group == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return dd_registry_list_names(
        reg,
        recursive ? "WITH RECURSIVE down(name) AS (SELECT ?1"
                    " UNION SELECT g.name FROM thing_groups g JOIN down ON g.parent = down.name)"
                    " SELECT DISTINCT m.thing FROM thing_group_members m JOIN down ON m.group_name "
                    "= down.name"
                    " WHERE m.thing > ?2 ORDER BY m.thing LIMIT ?3"
                  : "SELECT thing FROM thing_group_members WHERE group_name = ?1 AND thing > ?2"
                    " ORDER BY thing LIMIT ?3",
        group, page, fn, ctx, next, next_len, err);
}

dd_registry_status_t dd_registry_thing_groups(dd_registry_t *reg, const char *thing,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return dd_registry_list_names(
        reg,
        "SELECT group_name FROM thing_group_members WHERE thing = ?1 AND group_name > ?2"
        " ORDER BY group_name LIMIT ?3",
        thing, page, fn, ctx, next, next_len, err);
}

dd_registry_status_t dd_registry_thing_groups_closure(dd_registry_t *reg, const char *thing,
                                                      dd_registry_name_fn fn, void *ctx)
{
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    return dd_registry_list_names(
        reg,
        "WITH RECURSIVE up(name) AS ("
        " SELECT group_name FROM thing_group_members WHERE thing = ?1"
        " UNION SELECT g.parent FROM thing_groups g JOIN up ON g.name = up.name"
        " WHERE g.parent IS NOT NULL)"
        " SELECT name FROM up WHERE name > ?2 ORDER BY name LIMIT ?3",
        thing, NULL, fn, ctx, NULL, 0, NULL);
}

dd_registry_status_t dd_registry_group_ancestors(dd_registry_t *reg, const char *group,
                                                 dd_registry_name_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || group == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(
        reg,
        "WITH RECURSIVE up(name, depth) AS ("
        " SELECT parent, 1 FROM thing_groups WHERE name = ?1 AND parent IS NOT NULL"
        " UNION ALL SELECT g.parent, up.depth + 1 FROM thing_groups g JOIN up ON g.name = up.name"
        " WHERE g.parent IS NOT NULL)"
        " SELECT name FROM up ORDER BY depth DESC");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, group);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn != NULL && fn(ctx, dd_db_column_text(st, 0)) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}
