#include "dd_regsync.h"

#include "dd_control.h"
#include "dd_engine.h"
#include "dd_log.h"
#include "dd_store.h"

#include <stdlib.h>
#include <string.h>

/* Entities per control message: keeps each message well under the 128 KB limit. */
#define BATCH_MAX 200

static int ack_timeout(const dd_regsync_t *sync)
{
    return sync->ack_timeout_ms > 0 ? sync->ack_timeout_ms : 5000;
}

static dd_regsync_status_t send_batch(dd_regsync_t *sync, dd_svcmqtt_t *mqtt,
                                      dd_control_batch_t *batch)
{
    char *payload = NULL;
    size_t len = 0;
    dd_svcmqtt_status_t st;

    if (dd_control_batch_encode(batch, &payload, &len) != DD_CONTROL_OK) {
        return DD_REGSYNC_REGISTRY_ERROR;
    }
    st = dd_svcmqtt_publish_wait(mqtt, DD_CONTROL_TOPIC_REGISTRY, payload, len, ack_timeout(sync));
    free(payload);
    if (st != DD_SVCMQTT_OK) {
        DD_LOG_WARN("registry change not acknowledged by the broker (%s); will retry",
                    dd_svcmqtt_strerror(st));
        return DD_REGSYNC_NOT_DELIVERED;
    }
    return DD_REGSYNC_OK;
}

dd_regsync_status_t dd_regsync_full(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt)
{
    dd_control_batch_t batch;
    dd_regsync_status_t status;
    int64_t head = 0;

    if (sync == NULL || p == NULL || mqtt == NULL) {
        return DD_REGSYNC_BAD_PARAMETER;
    }
    if (dd_registry_change_head(&p->registry, &head) != DD_REGISTRY_OK ||
        dd_control_batch_init(&batch, NULL, true) != DD_CONTROL_OK) {
        return DD_REGSYNC_REGISTRY_ERROR;
    }
    /* One message: the shim applies a full snapshot all or nothing. */
    if (dd_control_batch_add_all(&batch, &p->registry) != DD_CONTROL_OK) {
        dd_control_batch_free(&batch);
        return DD_REGSYNC_REGISTRY_ERROR;
    }
    status = send_batch(sync, mqtt, &batch);
    if (status == DD_REGSYNC_OK) {
        DD_LOG_INFO("registry sent to the broker (%zu entities)", dd_control_batch_count(&batch));
        sync->pushed_seq = head;
    }
    dd_control_batch_free(&batch);
    /* A manual clock moves, and a scaled one may have changed rate, while the shim was away. */
    if (status == DD_REGSYNC_OK && dd_clock_mode(&p->clock) != DD_CLOCK_REAL) {
        status = dd_regsync_clock(sync, p, mqtt);
    }
    return status;
}

typedef struct collect_ctx {
    dd_control_batch_t batch;
    dd_pipeline_t *p;
    int64_t last_seq;
    char **things; /* thing names whose coverage may have changed */
    size_t thing_count;
    size_t thing_cap;
    int fetched; /* change-log entries read */
    bool failed;
} collect_ctx_t;

static int collect_change(void *ctx, const dd_registry_change_t *c)
{
    collect_ctx_t *cc = ctx;

    /* Several changes of one entity in a window: sending it once (newest state) is enough. */
    if (dd_control_batch_add_from_registry(&cc->batch, &cc->p->registry, c->kind, c->name) !=
        DD_CONTROL_OK) {
        cc->failed = true;
        return 1;
    }
    if (c->kind == DD_REGISTRY_KIND_THING) {
        if (cc->thing_count == cc->thing_cap) {
            size_t cap = cc->thing_cap == 0 ? 16 : cc->thing_cap * 2;
            char **bigger = realloc(cc->things, cap * sizeof(char *));
            if (bigger == NULL) {
                cc->failed = true;
                return 1;
            }
            cc->things = bigger;
            cc->thing_cap = cap;
        }
        cc->things[cc->thing_count] = strdup(c->name);
        if (cc->things[cc->thing_count] == NULL) {
            cc->failed = true;
            return 1;
        }
        cc->thing_count++;
    }
    cc->last_seq = c->seq;
    cc->fetched++;
    return 0;
}

/*
 * Updates the engine's coverage of the things in one pushed batch, in one
 * store transaction. On failure nothing is committed and the caller keeps its
 * change-log position, so the next push sends the batch again (the shim
 * applies registry changes idempotently) and redoes this.
 */
static dd_regsync_status_t update_engine(dd_pipeline_t *p, const collect_ctx_t *cc)
{
    int64_t now = dd_clock_now_ms(&p->clock);
    dd_store_status_t sst;
    size_t i;

    sst = dd_store_begin(p->store);
    if (sst != DD_STORE_OK) {
        DD_LOG_ERROR("registry push: cannot start a store transaction (%s); will retry",
                     dd_store_strerror(sst));
        return DD_REGSYNC_STORE_ERROR;
    }
    for (i = 0; i < cc->thing_count; i++) {
        dd_engine_status_t est = dd_engine_thing_changed(p->engine, cc->things[i], now);

        if (est != DD_ENGINE_OK) {
            DD_LOG_ERROR("registry push: engine update of thing %s failed (%s); will retry",
                         cc->things[i], dd_engine_strerror(est));
            (void)dd_store_rollback(p->store); /* the error above is the one to report */
            return DD_REGSYNC_STORE_ERROR;
        }
    }
    sst = dd_store_sink_status(p->store);
    if (sst == DD_STORE_OK) {
        sst = dd_store_commit(p->store);
    }
    if (sst != DD_STORE_OK) {
        DD_LOG_ERROR("registry push: engine coverage could not be stored (%s); will retry",
                     dd_store_strerror(sst));
        (void)dd_store_rollback(p->store); /* the error above is the one to report */
        return DD_REGSYNC_STORE_ERROR;
    }
    return DD_REGSYNC_OK;
}

dd_regsync_status_t dd_regsync_push(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt,
                                    int *pushed)
{
    dd_regsync_status_t status = DD_REGSYNC_OK;
    int total = 0;

    if (pushed != NULL) {
        *pushed = 0;
    }
    if (sync == NULL || p == NULL || mqtt == NULL) {
        return DD_REGSYNC_BAD_PARAMETER;
    }
    for (;;) {
        collect_ctx_t cc;
        size_t i;

        memset(&cc, 0, sizeof(cc));
        cc.p = p;
        cc.last_seq = sync->pushed_seq;
        if (dd_control_batch_init(&cc.batch, NULL, false) != DD_CONTROL_OK) {
            return DD_REGSYNC_REGISTRY_ERROR;
        }
        if (dd_registry_changes_since(&p->registry, sync->pushed_seq, BATCH_MAX, collect_change,
                                      &cc) != DD_REGISTRY_OK ||
            cc.failed) {
            status = DD_REGSYNC_REGISTRY_ERROR;
        }
        if (status == DD_REGSYNC_OK && dd_control_batch_count(&cc.batch) > 0) {
            status = send_batch(sync, mqtt, &cc.batch);
        }
        if (status == DD_REGSYNC_OK) {
            status = update_engine(p, &cc);
        }
        if (status == DD_REGSYNC_OK) {
            sync->pushed_seq = cc.last_seq;
            total += (int)dd_control_batch_count(&cc.batch);
            for (i = 0; i < cc.thing_count; i++) {
                if (sync->thing_pushed != NULL) {
                    sync->thing_pushed(sync->thing_pushed_ctx, cc.things[i]);
                }
            }
        }
        for (i = 0; i < cc.thing_count; i++) {
            free(cc.things[i]);
        }
        free(cc.things);
        dd_control_batch_free(&cc.batch);
        if (status != DD_REGSYNC_OK || cc.fetched < BATCH_MAX) {
            break;
        }
    }
    if (pushed != NULL) {
        *pushed = total;
    }
    if (total > 0) {
        DD_LOG_DEBUG("pushed %d registry change(s) to the broker", total);
    }
    return status;
}

dd_regsync_status_t dd_regsync_clock(dd_regsync_t *sync, dd_pipeline_t *p, dd_svcmqtt_t *mqtt)
{
    char spec[DD_CLOCK_SPEC_MAX];
    char *payload = NULL;
    size_t len = 0;
    dd_svcmqtt_status_t st;

    if (sync == NULL || p == NULL || mqtt == NULL) {
        return DD_REGSYNC_BAD_PARAMETER;
    }
    if (dd_clock_format(&p->clock, spec, sizeof(spec)) != DD_CLOCK_OK ||
        dd_control_encode_clock(spec, NULL, &payload, &len) != DD_CONTROL_OK) {
        return DD_REGSYNC_REGISTRY_ERROR;
    }
    st = dd_svcmqtt_publish_wait(mqtt, DD_CONTROL_TOPIC_CLOCK, payload, len, ack_timeout(sync));
    free(payload);
    return st == DD_SVCMQTT_OK ? DD_REGSYNC_OK : DD_REGSYNC_NOT_DELIVERED;
}

bool dd_regsync_external_change(dd_regsync_t *sync, dd_pipeline_t *p)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    bool changed = false;

    if (sync == NULL || p == NULL) {
        return false;
    }
    if (sqlite3_prepare_v2(p->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        changed = v != sync->data_version;
        sync->data_version = v;
    }
    sqlite3_finalize(st);
    return changed;
}

const char *dd_regsync_strerror(dd_regsync_status_t status)
{
    switch (status) {
    case DD_REGSYNC_OK: return "ok";
    case DD_REGSYNC_BAD_PARAMETER: return "bad parameter";
    case DD_REGSYNC_REGISTRY_ERROR: return "registry could not be read";
    case DD_REGSYNC_STORE_ERROR: return "engine coverage could not be stored";
    case DD_REGSYNC_NOT_DELIVERED: return "broker did not acknowledge the change";
    }
    return "unknown regsync status";
}
