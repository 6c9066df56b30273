#include "dd_registry_internal.h"

/* ---- shim snapshot: one entity's state, every entity name -------------------- */

/* Adds the names a one-parameter query returns as a JSON array member. */
static bool add_name_array(dd_registry_t *reg, cJSON *obj, const char *member, const char *sql,
                           const char *arg)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, member);
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int rc;

    if (arr == NULL || st == NULL) {
        sqlite3_finalize(st);
        return false;
    }
    (void)dd_db_bind_text(st, 1, arg);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *s = cJSON_CreateString(dd_db_column_text(st, 0));
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = SQLITE_ERROR;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

dd_registry_status_t dd_registry_entity_json(dd_registry_t *reg, dd_registry_kind_t kind,
                                             const char *name, cJSON **out)
{
    cJSON *obj;
    sqlite3_stmt *st = NULL;
    bool ok = true;
    int rc;

    if (reg == NULL || name == NULL || out == NULL || (unsigned)kind >= DD_REGISTRY_KIND_COUNT) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    *out = NULL;
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    switch (kind) {
    case DD_REGISTRY_KIND_THING:
        st = dd_registry_prep(reg, "SELECT 1 FROM things WHERE name = ?1");
        break;
    case DD_REGISTRY_KIND_CERT:
        /* A certificate registered with a CA that is not ACTIVE (or is gone) is shown
         * to the shim as INACTIVE: AWS refuses it at connect like an inactive one. */
        st = dd_registry_prep(
            reg, "SELECT CASE WHEN c.status = 'ACTIVE' AND c.ca_cert_id <> '' AND"
                 " COALESCE((SELECT status FROM ca_certificates WHERE id = c.ca_cert_id),"
                 " 'INACTIVE') <> 'ACTIVE' THEN 'INACTIVE' ELSE c.status END, c.is_service"
                 " FROM certificates c WHERE c.id = ?1");
        break;
    case DD_REGISTRY_KIND_GROUP:
        st = dd_registry_prep(reg, "SELECT parent FROM thing_groups WHERE name = ?1");
        break;
    case DD_REGISTRY_KIND_POLICY:
        st = dd_registry_prep(reg, "SELECT document FROM policies WHERE name = ?1");
        break;
    default: break;
    }
    if (st == NULL) {
        cJSON_Delete(obj);
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ok = cJSON_AddBoolToObject(obj, "exists", 1) != NULL;
        if (kind == DD_REGISTRY_KIND_CERT) {
            ok = ok && cJSON_AddStringToObject(obj, "status", dd_db_column_text(st, 0)) != NULL &&
                 cJSON_AddBoolToObject(obj, "service", sqlite3_column_int(st, 1)) != NULL;
        } else if (kind == DD_REGISTRY_KIND_GROUP) {
            ok = ok &&
                 (sqlite3_column_type(st, 0) == SQLITE_NULL
                      ? cJSON_AddNullToObject(obj, "parent") != NULL
                      : cJSON_AddStringToObject(obj, "parent", dd_db_column_text(st, 0)) != NULL);
        } else if (kind == DD_REGISTRY_KIND_POLICY) {
            ok = ok && cJSON_AddStringToObject(obj, "document", dd_db_column_text(st, 0)) != NULL;
        }
    } else if (rc == SQLITE_DONE) {
        ok = cJSON_AddBoolToObject(obj, "exists", 0) != NULL;
    } else {
        ok = false;
    }
    sqlite3_finalize(st);
    if (ok && rc == SQLITE_ROW) {
        switch (kind) {
        case DD_REGISTRY_KIND_THING:
            ok = add_name_array(
                reg, obj, "groups",
                "SELECT group_name FROM thing_group_members WHERE thing = ?1 ORDER BY group_name",
                name);
            break;
        case DD_REGISTRY_KIND_CERT:
            ok =
                add_name_array(
                    reg, obj, "things",
                    "SELECT thing FROM thing_principals WHERE cert_id = ?1 ORDER BY thing", name) &&
                add_name_array(
                    reg, obj, "policies",
                    "SELECT policy FROM policy_targets WHERE target_kind = 'cert' AND target = ?1"
                    " ORDER BY policy",
                    name);
            break;
        case DD_REGISTRY_KIND_GROUP:
            ok = add_name_array(
                reg, obj, "policies",
                "SELECT policy FROM policy_targets WHERE target_kind = 'group' AND target = ?1"
                " ORDER BY policy",
                name);
            break;
        default: break;
        }
    }
    if (!ok) {
        cJSON_Delete(obj);
        return DD_REGISTRY_STORE_ERROR;
    }
    *out = obj;
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_entity_names(dd_registry_t *reg, dd_registry_kind_t kind,
                                              dd_registry_name_fn fn, void *ctx)
{
    static const char *const SQL[DD_REGISTRY_KIND_COUNT] = {
        "SELECT name FROM things WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
        "SELECT id FROM certificates WHERE id > ?2 AND ?1 = ?1 ORDER BY id LIMIT ?3",
        "SELECT name FROM thing_groups WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
        "SELECT name FROM policies WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
    };

    if (reg == NULL || (unsigned)kind >= DD_REGISTRY_KIND_COUNT) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    return dd_registry_list_names(reg, SQL[kind], NULL, NULL, fn, ctx, NULL, 0, NULL);
}
