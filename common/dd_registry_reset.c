/*
 * Registry reset (POST /ddlocal/v1/reset): every thing, device certificate, CA certificate,
 * revocation list, thing group and policy (with its versions), thing type, provisioning
 * template and their tags goes, each logged in the change log first so the broker shim drops
 * its copy and the engine its coverage, exactly as for one deletion. ddlocald's own (service)
 * certificates stay:
 * without them it could not talk to the broker. Settings (ARN, pipeline time) stay too.
 */
#include "dd_registry_internal.h"

/* Each deleted entity is logged, in one statement per kind (1,000 things: one INSERT, not 1,000). */
static const char *const LOG_SQL =
    "INSERT INTO registry_changes(kind, name, changed_ms)"
    " SELECT 'thing', name, ?1 FROM things"
    " UNION ALL SELECT 'cert', id, ?1 FROM certificates WHERE is_service = 0"
    " UNION ALL SELECT 'group', name, ?1 FROM thing_groups"
    " UNION ALL SELECT 'policy', name, ?1 FROM policies";

static const char *const DELETE_SQL[] = {
    "DELETE FROM thing_group_members",
    "DELETE FROM thing_principals",
    "DELETE FROM policy_targets",
    "DELETE FROM things",
    "DELETE FROM certificates WHERE is_service = 0",
    "DELETE FROM ca_certificates",
    "DELETE FROM crls",
    "DELETE FROM thing_groups",
    "DELETE FROM policy_versions",
    "DELETE FROM policies",
    "DELETE FROM thing_types",
    "DELETE FROM provisioning_template_versions",
    "DELETE FROM provisioning_templates",
    /* Tags of the registry's resources; a Defender resource's tags go with it on re-creation. */
    "DELETE FROM resource_tags WHERE arn LIKE '%:thinggroup/%'",
    "DELETE FROM resource_tags WHERE arn LIKE '%:thingtype/%'",
    "DELETE FROM resource_tags WHERE arn LIKE '%:policy/%'",
    "DELETE FROM resource_tags WHERE arn LIKE '%:provisioningtemplate/%'",
};

dd_registry_status_t dd_registry_reset(dd_registry_t *reg, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    size_t i;

    dd_registry_clear_error(err);
    if (reg == NULL || reg->db == NULL) {
        return dd_registry_fail(err, DD_REGISTRY_BAD_PARAMETER, "no registry");
    }
    status = dd_registry_savepoint_begin(reg, err);
    if (status != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, LOG_SQL);
    if (st == NULL) {
        return dd_registry_savepoint_end(reg, dd_registry_sql_fail(reg, err));
    }
    (void)sqlite3_bind_int64(st, 1, dd_registry_now_ms(reg));
    if (sqlite3_step(st) != SQLITE_DONE) {
        status = dd_registry_sql_fail(reg, err);
    }
    sqlite3_finalize(st);
    for (i = 0; status == DD_REGISTRY_OK && i < sizeof(DELETE_SQL) / sizeof(DELETE_SQL[0]); i++) {
        if (dd_db_exec(reg->db, DELETE_SQL[i]) != DD_DB_OK) {
            status = dd_registry_sql_fail(reg, err);
        }
    }
    return dd_registry_savepoint_end(reg, status);
}
