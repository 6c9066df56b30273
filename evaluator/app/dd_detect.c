#include "dd_detect.h"

#include "dd_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void error_init(dd_detect_error_t *err)
{
    memset(err, 0, sizeof(*err));
    err->version = -1;
}

/* A store failure of the change itself, by kind; err->store keeps the store's own status. */
static dd_detect_status_t store_failed(dd_detect_error_t *err, dd_store_status_t st)
{
    err->store = st;
    switch (st) {
    case DD_STORE_NOT_FOUND: return DD_DETECT_NOT_FOUND;
    case DD_STORE_EXISTS: return DD_DETECT_EXISTS;
    case DD_STORE_VERSION_CONFLICT: return DD_DETECT_VERSION_CONFLICT;
    case DD_STORE_LIMIT: return DD_DETECT_LIMIT;
    case DD_STORE_IN_USE: return DD_DETECT_IN_USE;
    default: return DD_DETECT_STORE_ERROR;
    }
}

static dd_detect_status_t engine_failed(dd_detect_error_t *err, dd_engine_status_t st)
{
    err->engine = st;
    return DD_DETECT_ENGINE_ERROR;
}

/* ---- one store transaction with the engine ------------------------------------------------ */

static dd_detect_status_t tx_begin(const dd_detect_t *d, dd_detect_error_t *err)
{
    dd_store_status_t st = dd_store_begin(d->store);

    if (st != DD_STORE_OK) {
        err->transaction = true;
        err->store = st;
        return DD_DETECT_STORE_ERROR;
    }
    (void)dd_store_sink_status(d->store); /* forget older sink errors */
    return DD_DETECT_OK;
}

/*
 * Commits when @p status is OK and the engine's sink wrote everything it was
 * given; rolls back otherwise. Returns the status of the whole change.
 */
static dd_detect_status_t tx_end(const dd_detect_t *d, dd_detect_status_t status,
                                 dd_detect_error_t *err)
{
    dd_store_status_t st;

    if (status != DD_DETECT_OK) {
        (void)dd_store_rollback(d->store);
        return status;
    }
    st = dd_store_sink_status(d->store);
    if (st == DD_STORE_OK) {
        st = dd_store_commit(d->store);
    }
    if (st == DD_STORE_OK) {
        return DD_DETECT_OK;
    }
    (void)dd_store_rollback(d->store);
    err->transaction = true;
    err->store = st;
    return DD_DETECT_STORE_ERROR;
}

static bool view_ok(const dd_detect_t *d)
{
    return d != NULL && d->store != NULL && d->clock != NULL;
}

int64_t dd_detect_now_ms(const dd_detect_t *d)
{
    int64_t now;

    if (d == NULL || d->clock == NULL) {
        return 0;
    }
    now = dd_clock_now_ms(d->clock);
    if (d->engine != NULL && dd_engine_now(d->engine) > now) {
        now = dd_engine_now(d->engine);
    }
    return now;
}

/* ---- security profiles ------------------------------------------------------------------ */

/* Pushes a stored profile (with its targets) into the engine. */
static dd_detect_status_t engine_put(const dd_detect_t *d, const dd_profile_t *profile,
                                     dd_detect_error_t *err)
{
    dd_engine_status_t es;

    if (d->engine == NULL) {
        return DD_DETECT_OK;
    }
    es = dd_engine_put_profile(d->engine, profile, dd_detect_now_ms(d));
    return es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es);
}

static dd_detect_status_t profile_refused(dd_profile_status_t ps, const dd_profile_error_t *perr,
                                          dd_detect_error_t *err)
{
    if (ps == DD_PROFILE_NO_MEMORY) {
        return DD_DETECT_NO_MEMORY;
    }
    (void)snprintf(err->message, sizeof(err->message), "%s",
                   perr->message[0] != '\0' ? perr->message : dd_profile_strerror(ps));
    return DD_DETECT_INVALID;
}

dd_detect_status_t dd_detect_profile_create(const dd_detect_t *d, const char *name, const char *doc,
                                            size_t len, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_profile_t profile;
    dd_profile_error_t perr;
    dd_profile_status_t ps;
    dd_metric_defs_t defs;
    dd_store_status_t ss;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0' || doc == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    memset(&perr, 0, sizeof(perr));
    ps = dd_profile_parse(doc, len, name, &profile, &perr);
    if (ps == DD_PROFILE_OK) {
        dd_detect_defs(d, &defs);
        ps = dd_profile_validate(&profile, &defs, &d->arn, &perr);
    }
    if (ps != DD_PROFILE_OK) {
        dd_profile_free(&profile);
        return profile_refused(ps, &perr, err);
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        dd_profile_free(&profile);
        return status;
    }
    ss = dd_store_profile_create(d->store, &profile, dd_detect_now_ms(d));
    status = ss == DD_STORE_OK ? engine_put(d, &profile, err) : store_failed(err, ss);
    dd_profile_free(&profile);
    return tx_end(d, status, err);
}

/* The stored profile with @p doc's changes, validated. */
static dd_detect_status_t merged_update(const dd_detect_t *d, const dd_profile_t *current,
                                        const char *name, const char *doc, size_t len,
                                        dd_profile_t *merged, dd_detect_error_t *err)
{
    dd_profile_t patch;
    dd_profile_error_t perr;
    dd_profile_status_t ps;
    dd_metric_defs_t defs;
    unsigned deletes = 0;

    memset(&perr, 0, sizeof(perr));
    memset(merged, 0, sizeof(*merged));
    ps = dd_profile_parse_update(doc, len, name, &patch, &deletes, &perr);
    if (ps == DD_PROFILE_OK) {
        ps = dd_profile_merge_update(current, &patch, deletes, merged);
        dd_profile_free(&patch);
    }
    if (ps == DD_PROFILE_OK) {
        dd_detect_defs(d, &defs);
        ps = dd_profile_validate(merged, &defs, &d->arn, &perr);
    }
    if (ps != DD_PROFILE_OK) {
        dd_profile_free(merged);
        return profile_refused(ps, &perr, err);
    }
    return DD_DETECT_OK;
}

dd_detect_status_t dd_detect_profile_update(const dd_detect_t *d, const char *name, const char *doc,
                                            size_t len, int64_t expected_version,
                                            dd_profile_t *stored, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_profile_t current;
    dd_profile_t merged;
    dd_store_status_t ss;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0' || doc == NULL || stored == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    memset(stored, 0, sizeof(*stored));
    ss = dd_store_profile_get(d->store, name, &current);
    if (ss != DD_STORE_OK) {
        return store_failed(err, ss);
    }
    if (expected_version >= 0 && expected_version != current.version) {
        err->store = DD_STORE_VERSION_CONFLICT;
        err->version = current.version;
        dd_profile_free(&current);
        return DD_DETECT_VERSION_CONFLICT;
    }
    status = merged_update(d, &current, name, doc, len, &merged, err);
    dd_profile_free(&current);
    if (status != DD_DETECT_OK) {
        return status;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        dd_profile_free(&merged);
        return status;
    }
    ss = dd_store_profile_update(d->store, &merged, expected_version, dd_detect_now_ms(d), stored);
    dd_profile_free(&merged);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    status = tx_end(d, engine_put(d, stored, err), err);
    if (status != DD_DETECT_OK) {
        dd_profile_free(stored);
    }
    return status;
}

dd_detect_status_t dd_detect_profile_delete(const dd_detect_t *d, const char *name,
                                            int64_t expected_version, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = dd_store_profile_delete(d->store, name, expected_version);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        es = dd_engine_remove_profile(d->engine, name, dd_detect_now_ms(d));
    }
    /* NOT_FOUND: stored but never loaded (an invalid profile); the store is what counts. */
    if (es != DD_ENGINE_OK && es != DD_ENGINE_NOT_FOUND) {
        status = engine_failed(err, es);
    }
    return tx_end(d, status, err);
}

dd_detect_status_t dd_detect_profile_get(const dd_detect_t *d, const char *name,
                                         dd_profile_t *profile, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || profile == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    ss = dd_store_profile_get(d->store, name, profile);
    return ss == DD_STORE_OK ? DD_DETECT_OK : store_failed(err, ss);
}

dd_detect_status_t dd_detect_profile_target(const dd_detect_t *d, const char *name,
                                            const char *target_arn, bool attach,
                                            dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_profile_t profile;
    dd_store_status_t ss;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0' || target_arn == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = attach ? dd_store_target_attach(d->store, name, target_arn)
                : dd_store_target_detach(d->store, name, target_arn);
    if (ss == DD_STORE_OK) {
        ss = dd_store_profile_get(d->store, name, &profile);
    }
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    status = engine_put(d, &profile, err);
    dd_profile_free(&profile);
    return tx_end(d, status, err);
}

/* ---- violations ----------------------------------------------------------------------------- */

dd_detect_status_t dd_detect_set_verification(const dd_detect_t *d, const char *violation_id,
                                              dd_verification_t state, const char *description,
                                              dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || violation_id == NULL || violation_id[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = dd_store_set_verification(d->store, violation_id, state, description);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        /* NOT_FOUND: the violation is no longer active; its history rows were updated. */
        dd_engine_status_t es =
            dd_engine_set_verification(d->engine, violation_id, state, description);
        if (es != DD_ENGINE_OK && es != DD_ENGINE_NOT_FOUND) {
            status = engine_failed(err, es);
        }
    }
    return tx_end(d, status, err);
}

/* ---- request tokens (clientRequestToken) -------------------------------------------------- */

/*
 * What an earlier request with req's token did, inside the caller's transaction. Returns OK with
 * *earlier empty when the token is new (or absent), OK with *earlier = the resource when the
 * same request (same digest) used it, and EXISTS when another request did (AWS: "an exception
 * occurs"); req->resource names the resource that request made.
 */
static dd_detect_status_t token_lookup(const dd_detect_t *d, const char *operation,
                                       const char *kind, dd_detect_request_t *req,
                                       char earlier[DD_STORE_RESOURCE_MAX], dd_detect_error_t *err)
{
    dd_store_request_token_t used;
    dd_store_status_t ss;

    earlier[0] = '\0';
    if (req == NULL || req->token == NULL || req->token[0] == '\0') {
        return DD_DETECT_OK;
    }
    ss = dd_store_request_token_get(d->store, operation, req->token, &used);
    if (ss == DD_STORE_NOT_FOUND) {
        return DD_DETECT_OK;
    }
    if (ss != DD_STORE_OK) {
        return store_failed(err, ss);
    }
    (void)snprintf(req->resource, sizeof(req->resource), "%s", used.resource);
    if (req->digest == NULL || strcmp(used.digest, req->digest) != 0) {
        (void)snprintf(err->message, sizeof(err->message),
                       "clientRequestToken %.64s was already used to create %s %.128s with another "
                       "request",
                       req->token, kind, used.resource);
        err->store = DD_STORE_EXISTS;
        return DD_DETECT_EXISTS;
    }
    (void)snprintf(earlier, DD_STORE_RESOURCE_MAX, "%s", used.resource);
    return DD_DETECT_OK;
}

/* Records that req's token created @p resource (no-op without a token). */
static dd_detect_status_t token_record(const dd_detect_t *d, const char *operation,
                                       const dd_detect_request_t *req, const char *resource,
                                       int64_t now_ms, dd_detect_error_t *err)
{
    dd_store_request_token_t used;
    dd_store_status_t ss;

    if (req == NULL || req->token == NULL || req->token[0] == '\0') {
        return DD_DETECT_OK;
    }
    memset(&used, 0, sizeof(used));
    (void)snprintf(used.digest, sizeof(used.digest), "%s", req->digest != NULL ? req->digest : "");
    (void)snprintf(used.resource, sizeof(used.resource), "%s", resource);
    used.time_ms = now_ms;
    ss = dd_store_request_token_put(d->store, operation, req->token, &used);
    return ss == DD_STORE_OK ? DD_DETECT_OK : store_failed(err, ss);
}

static void request_init(dd_detect_request_t *req, const char *name)
{
    if (req != NULL) {
        req->replayed = false;
        (void)snprintf(req->resource, sizeof(req->resource), "%s", name);
    }
}

/* ---- custom metrics ---------------------------------------------------------------------------- */

dd_detect_status_t dd_detect_custom_metric_create(const dd_detect_t *d, dd_custom_metric_def_t *def,
                                                  dd_detect_request_t *req, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;
    char earlier[DD_STORE_RESOURCE_MAX];

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || def == NULL || def->name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    request_init(req, def->name);
    def->creation_ms = dd_detect_now_ms(d);
    def->modified_ms = def->creation_ms;
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    status = token_lookup(d, "CreateCustomMetric", "custom metric", req, earlier, err);
    if (status != DD_DETECT_OK) {
        return tx_end(d, status, err);
    }
    /* The same request again: the metric it made is the answer, unless deleted since. */
    if (earlier[0] != '\0' && dd_store_custom_metric_get(d->store, earlier, def) == DD_STORE_OK) {
        req->replayed = true;
        return tx_end(d, DD_DETECT_OK, err);
    }
    ss = dd_store_custom_metric_create(d->store, def);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    status = token_record(d, "CreateCustomMetric", req, def->name, def->creation_ms, err);
    if (status == DD_DETECT_OK && d->engine != NULL) {
        es = dd_engine_put_custom_metric(d->engine, def);
        status = es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es);
    }
    return tx_end(d, status, err);
}

dd_detect_status_t dd_detect_custom_metric_update(const dd_detect_t *d, const char *name,
                                                  const char *display_name,
                                                  dd_custom_metric_def_t *def,
                                                  dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0' || display_name == NULL || def == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = dd_store_custom_metric_update(d->store, name, display_name, dd_detect_now_ms(d), def);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        es = dd_engine_put_custom_metric(d->engine, def);
    }
    return tx_end(d, es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es), err);
}

dd_detect_status_t dd_detect_custom_metric_delete(const dd_detect_t *d, const char *name,
                                                  dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = dd_store_custom_metric_delete(d->store, name);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        es = dd_engine_remove_custom_metric(d->engine, name);
    }
    if (es != DD_ENGINE_OK && es != DD_ENGINE_NOT_FOUND) {
        status = engine_failed(err, es);
    }
    return tx_end(d, status, err);
}

dd_detect_status_t dd_detect_custom_metric_get(const dd_detect_t *d, const char *name,
                                               dd_custom_metric_def_t *def, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || def == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    ss = dd_store_custom_metric_get(d->store, name, def);
    return ss == DD_STORE_OK ? DD_DETECT_OK : store_failed(err, ss);
}

/* ---- dimensions ------------------------------------------------------------------------------------ */

dd_detect_status_t dd_detect_dimension_create(const dd_detect_t *d, dd_dimension_def_t *def,
                                              dd_detect_request_t *req, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;
    char earlier[DD_STORE_RESOURCE_MAX];

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || def == NULL || def->name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    request_init(req, def->name);
    def->creation_ms = dd_detect_now_ms(d);
    def->modified_ms = def->creation_ms;
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    status = token_lookup(d, "CreateDimension", "dimension", req, earlier, err);
    if (status != DD_DETECT_OK) {
        return tx_end(d, status, err);
    }
    /* The same request again: the dimension it made is the answer, unless deleted since. */
    if (earlier[0] != '\0' && dd_store_dimension_get(d->store, earlier, def) == DD_STORE_OK) {
        req->replayed = true;
        return tx_end(d, DD_DETECT_OK, err);
    }
    ss = dd_store_dimension_create(d->store, def);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    status = token_record(d, "CreateDimension", req, def->name, def->creation_ms, err);
    if (status == DD_DETECT_OK && d->engine != NULL) {
        es = dd_engine_put_dimension(d->engine, def);
        status = es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es);
    }
    return tx_end(d, status, err);
}

dd_detect_status_t dd_detect_dimension_update(const dd_detect_t *d, dd_dimension_def_t *def,
                                              dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;
    int64_t now;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || def == NULL || def->name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    now = dd_detect_now_ms(d);
    ss = dd_store_dimension_update(d->store, def, now);
    def->modified_ms = now;
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        es = dd_engine_put_dimension(d->engine, def);
    }
    return tx_end(d, es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es), err);
}

dd_detect_status_t dd_detect_dimension_delete(const dd_detect_t *d, const char *name,
                                              dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;
    dd_engine_status_t es = DD_ENGINE_OK;
    dd_detect_status_t status;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || name[0] == '\0') {
        return DD_DETECT_BAD_PARAMETER;
    }
    status = tx_begin(d, err);
    if (status != DD_DETECT_OK) {
        return status;
    }
    ss = dd_store_dimension_delete(d->store, name);
    if (ss != DD_STORE_OK) {
        return tx_end(d, store_failed(err, ss), err);
    }
    if (d->engine != NULL) {
        es = dd_engine_remove_dimension(d->engine, name);
    }
    if (es != DD_ENGINE_OK && es != DD_ENGINE_NOT_FOUND) {
        status = engine_failed(err, es);
    }
    return tx_end(d, status, err);
}

dd_detect_status_t dd_detect_dimension_get(const dd_detect_t *d, const char *name,
                                           dd_dimension_def_t *def, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_store_status_t ss;

    err = err != NULL ? err : &local;
    error_init(err);
    if (!view_ok(d) || name == NULL || def == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    ss = dd_store_dimension_get(d->store, name, def);
    return ss == DD_STORE_OK ? DD_DETECT_OK : store_failed(err, ss);
}

/* ---- reads ------------------------------------------------------------------------------------- */

/* The status of a read: OK, or what the store said. */
static dd_detect_status_t read_status(dd_store_status_t ss, dd_detect_error_t *err)
{
    return ss == DD_STORE_OK ? DD_DETECT_OK : store_failed(err, ss);
}

/* Points *err at @p local when the caller passed none, clears it, checks the view. */
static bool read_args(const dd_detect_t *d, dd_detect_error_t **err, dd_detect_error_t *local)
{
    if (*err == NULL) {
        *err = local;
    }
    error_init(*err);
    return view_ok(d);
}

dd_detect_status_t dd_detect_profile_list(const dd_detect_t *d, const char *metric,
                                          const char *dimension, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX],
                                          dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_profile_list(d->store, metric, dimension, page, fn, ctx,
                                             next_token),
                       err);
}

dd_detect_status_t dd_detect_profile_targets(const dd_detect_t *d, const char *profile,
                                             const dd_store_page_t *page,
                                             int (*fn)(void *ctx, const char *arn), void *ctx,
                                             char next_token[DD_STORE_TOKEN_MAX],
                                             dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_targets_for_profile(d->store, profile, page, fn, ctx, next_token),
                       err);
}

dd_detect_status_t dd_detect_profiles_for_target(const dd_detect_t *d, const char *target_arn,
                                                 int (*fn)(void *ctx, const char *profile),
                                                 void *ctx, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_profiles_for_target(d->store, target_arn, fn, ctx), err);
}

dd_detect_status_t dd_detect_custom_metric_list(const dd_detect_t *d, const dd_store_page_t *page,
                                                int (*fn)(void *ctx, const char *name), void *ctx,
                                                char next_token[DD_STORE_TOKEN_MAX],
                                                dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_custom_metric_list(d->store, page, fn, ctx, next_token), err);
}

dd_detect_status_t dd_detect_dimension_list(const dd_detect_t *d, const dd_store_page_t *page,
                                            int (*fn)(void *ctx, const char *name), void *ctx,
                                            char next_token[DD_STORE_TOKEN_MAX],
                                            dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_dimension_list(d->store, page, fn, ctx, next_token), err);
}

dd_detect_status_t dd_detect_metric_values(const dd_detect_t *d, const char *thing,
                                           const char *metric, const char *dimension,
                                           int64_t start_ms, int64_t end_ms,
                                           const dd_store_page_t *page,
                                           int (*fn)(void *ctx, int64_t time_ms, const char *value),
                                           void *ctx, char next_token[DD_STORE_TOKEN_MAX],
                                           dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};

    if (!read_args(d, &err, &local)) {
        return DD_DETECT_BAD_PARAMETER;
    }
    return read_status(dd_store_metric_values(d->store, thing, metric, dimension, start_ms, end_ms,
                                              page, fn, ctx, next_token),
                       err);
}

dd_detect_status_t dd_detect_training_summaries(const dd_detect_t *d, const char *profile,
                                                int (*fn)(void *ctx,
                                                          const dd_training_summary_t *s),
                                                void *ctx, dd_detect_error_t *err)
{
    dd_detect_error_t local = {0};
    dd_engine_status_t es;

    if (!read_args(d, &err, &local) || fn == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    if (d->engine == NULL) {
        return DD_DETECT_OK;
    }
    es = dd_engine_training_summaries(d->engine, profile, fn, ctx);
    if (es == DD_ENGINE_NOT_FOUND) {
        return DD_DETECT_NOT_FOUND;
    }
    return es == DD_ENGINE_OK ? DD_DETECT_OK : engine_failed(err, es);
}

void dd_detect_defs(const dd_detect_t *d, dd_metric_defs_t *defs)
{
    if (defs == NULL) {
        return;
    }
    memset(defs, 0, sizeof(*defs));
    if (d != NULL && d->engine != NULL) {
        dd_engine_defs(d->engine, defs);
    }
}

/* ---- alert fan-out ------------------------------------------------------------------------------ */

dd_detect_status_t dd_detect_alert_topic(const dd_violation_event_t *ev,
                                         const dd_profile_t *profile, const char **topic_name)
{
    const char *colon;

    if (ev == NULL || topic_name == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    *topic_name = NULL;
    if (ev->suppressed || profile == NULL || !profile->has_alert_target ||
        profile->sns_target_arn == NULL) {
        return DD_DETECT_OK;
    }
    colon = strrchr(profile->sns_target_arn, ':');
    colon = colon != NULL ? colon + 1 : profile->sns_target_arn;
    if (dd_name_valid(DD_NAME_SNS_TOPIC, colon)) {
        *topic_name = colon;
    } else {
        DD_LOG_WARN("profile %s: alert target %s is not an SNS topic ARN; no alert sent",
                    ev->profile, profile->sns_target_arn);
    }
    return DD_DETECT_OK;
}

typedef struct fanout {
    const dd_violation_event_t *ev;
    dd_detect_alert_fn fn;
    void *ctx;
    dd_detect_alert_target_t target;
} fanout_t;

static int each_subscription(void *ctx, const dd_registry_subscription_t *sub)
{
    fanout_t *f = ctx;

    /* A Lambda subscription gets the Lambda event, an HTTP one the bare notification (as in SNS). */
    f->target.kind =
        strcmp(sub->protocol, "lambda") == 0 ? DD_DETECT_ALERT_LAMBDA : DD_DETECT_ALERT_WEBHOOK;
    f->target.endpoint = sub->endpoint;
    f->target.subscription_id = sub->id;
    f->fn(f->ctx, f->ev, &f->target);
    return 0;
}

dd_detect_status_t dd_detect_alert_fanout(const dd_detect_t *d, const dd_violation_event_t *ev,
                                          dd_detect_alert_fn fn, void *ctx)
{
    const dd_profile_t *profile;
    const char *name = NULL;
    fanout_t f;

    if (d == NULL || ev == NULL || fn == NULL || ev->profile == NULL) {
        return DD_DETECT_BAD_PARAMETER;
    }
    profile = d->engine != NULL ? dd_engine_get_profile(d->engine, ev->profile) : NULL;
    (void)dd_detect_alert_topic(ev, profile, &name);
    if (name == NULL) {
        return DD_DETECT_OK;
    }
    memset(&f, 0, sizeof(f));
    f.ev = ev;
    f.fn = fn;
    f.ctx = ctx;
    f.target.kind = DD_DETECT_ALERT_TOPIC;
    f.target.topic_name = name;
    f.target.topic_arn = profile->sns_target_arn;
    fn(ctx, ev, &f.target);
    if (d->registry != NULL &&
        dd_registry_subscription_list(d->registry, name, each_subscription, &f) != DD_REGISTRY_OK) {
        return DD_DETECT_STORE_ERROR;
    }
    return DD_DETECT_OK;
}

const char *dd_detect_strerror(dd_detect_status_t status)
{
    switch (status) {
    case DD_DETECT_OK: return "ok";
    case DD_DETECT_BAD_PARAMETER: return "bad parameter";
    case DD_DETECT_NO_MEMORY: return "out of memory";
    case DD_DETECT_INVALID: return "invalid document";
    case DD_DETECT_NOT_FOUND: return "not found";
    case DD_DETECT_EXISTS: return "already exists";
    case DD_DETECT_VERSION_CONFLICT: return "version conflict";
    case DD_DETECT_LIMIT: return "limit exceeded";
    case DD_DETECT_IN_USE: return "still used by a security profile";
    case DD_DETECT_STORE_ERROR: return "store error";
    case DD_DETECT_ENGINE_ERROR: return "engine error";
    }
    return "unknown detect status";
}
