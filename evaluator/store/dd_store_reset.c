/*
 * Store reset (POST /ddlocal/v1/reset): empties the evaluator's tables of the chosen subjects.
 * Runs inside the caller's transaction (dd_store_begin()); the caller reloads the engine after
 * the commit, since the engine's memory still holds what was deleted.
 */
#include "dd_store.h"
#include "dd_store_internal.h"

#include "dd_db.h"

typedef struct reset_sql {
    unsigned subject;
    const char *sql;
} reset_sql_t;

/*
 * Violations take the engine's per-thing state with them: it holds the alarms (and the open
 * windows), so keeping it would bring the deleted violations back at the next datapoint.
 */
static const reset_sql_t RESETS[] = {
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_profiles"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_profile_versions"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_profile_targets"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_profile_metrics"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_custom_metrics"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_dimensions"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_ml_training"},
    {DD_STORE_RESET_PROFILES, "DELETE FROM ev_request_tokens"},
    {DD_STORE_RESET_VIOLATIONS, "DELETE FROM ev_active_violations"},
    {DD_STORE_RESET_VIOLATIONS, "DELETE FROM ev_violation_events"},
    {DD_STORE_RESET_VIOLATIONS, "DELETE FROM ev_thing_state"},
    {DD_STORE_RESET_METRICS, "DELETE FROM ev_metric_values"},
    {DD_STORE_RESET_METRICS, "DELETE FROM ev_reports"},
    {DD_STORE_RESET_METRICS, "DELETE FROM ev_metering"},
    {DD_STORE_RESET_METRICS, "DELETE FROM ev_connections"},
    {DD_STORE_RESET_MITIGATION, "DELETE FROM mitigation_executions"},
    {DD_STORE_RESET_MITIGATION, "DELETE FROM mitigation_tasks"},
    {DD_STORE_RESET_MITIGATION, "DELETE FROM mitigation_actions"},
    {DD_STORE_RESET_AUDIT, "DELETE FROM audit_rows"},
};

dd_store_status_t dd_store_reset(dd_store_t *s, unsigned subjects)
{
    size_t i;

    if (s == NULL || (subjects & ~DD_STORE_RESET_ALL) != 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    for (i = 0; i < sizeof(RESETS) / sizeof(RESETS[0]); i++) {
        if ((RESETS[i].subject & subjects) != 0 && dd_db_exec(s->db, RESETS[i].sql) != DD_DB_OK) {
            return store_sql_fail(s, "reset");
        }
    }
    return DD_STORE_OK;
}
