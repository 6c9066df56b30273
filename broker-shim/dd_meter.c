#include "dd_meter.h"

#include "dd_log.h"

#include <stdlib.h>
#include <string.h>

static void begin_batch(dd_meter_t *m)
{
    (void)dd_metering_writer_begin(&m->writer, m->buf, m->cfg.buffer_bytes, m->cfg.instance_id,
                                   m->next_seq);
}

dd_meter_status_t dd_meter_init(dd_meter_t *m, const dd_meter_config_t *cfg)
{
    if (m == NULL || cfg == NULL || cfg->publish == NULL ||
        cfg->buffer_bytes < DD_METERING_MIN_BUFFER || cfg->buffer_bytes > DD_METER_MAX_BUFFER ||
        cfg->flush_interval_ms < 0) {
        return DD_METER_BAD_PARAMETER;
    }
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->buf = malloc(cfg->buffer_bytes);
    if (m->buf == NULL) {
        return DD_METER_NO_MEMORY;
    }
    m->next_seq = 1;
    begin_batch(m);
    return DD_METER_OK;
}

void dd_meter_destroy(dd_meter_t *m)
{
    if (m == NULL) {
        return;
    }
    free(m->buf);
    m->buf = NULL;
}

dd_meter_status_t dd_meter_flush(dd_meter_t *m)
{
    uint32_t n;
    size_t len = 0;
    dd_meter_status_t st = DD_METER_OK;

    if (m == NULL || m->buf == NULL) {
        return DD_METER_BAD_PARAMETER;
    }
    n = dd_metering_writer_count(&m->writer);
    if (n == 0) {
        return DD_METER_OK;
    }
    (void)dd_metering_writer_finish(&m->writer, &len);
    if (m->cfg.publish(m->cfg.publish_ctx, m->buf, len) != 0) {
        m->stats.failed_batches++;
        m->stats.dropped_records += n;
        DD_LOG_WARN("metering: batch %llu (%u records) could not be published; dropped",
                    (unsigned long long)m->next_seq, n);
        st = DD_METER_DROPPED;
    } else {
        m->stats.batches++;
    }
    /* A refused batch keeps its number unused, so the consumer sees the gap. */
    m->next_seq++;
    begin_batch(m);
    return st;
}

dd_meter_status_t dd_meter_record(dd_meter_t *m, const dd_metering_record_t *rec, int64_t wall_ms)
{
    dd_metering_status_t ws;

    if (m == NULL || rec == NULL || m->buf == NULL) {
        return DD_METER_BAD_PARAMETER;
    }
    ws = dd_metering_writer_add(&m->writer, rec);
    if (ws == DD_METERING_FULL) {
        (void)dd_meter_flush(m);
        ws = dd_metering_writer_add(&m->writer, rec);
    }
    if (ws != DD_METERING_OK) {
        m->stats.dropped_records++;
        return ws == DD_METERING_BAD_PARAMETER ? DD_METER_BAD_PARAMETER : DD_METER_DROPPED;
    }
    if (dd_metering_writer_count(&m->writer) == 1) {
        m->first_wall_ms = wall_ms;
    }
    m->stats.records++;
    return DD_METER_OK;
}

dd_meter_status_t dd_meter_tick(dd_meter_t *m, int64_t wall_ms, bool *flushed)
{
    if (flushed != NULL) {
        *flushed = false;
    }
    if (m == NULL || m->buf == NULL) {
        return DD_METER_BAD_PARAMETER;
    }
    if (dd_metering_writer_count(&m->writer) == 0 ||
        wall_ms - m->first_wall_ms < m->cfg.flush_interval_ms) {
        return DD_METER_OK;
    }
    if (flushed != NULL) {
        *flushed = true;
    }
    return dd_meter_flush(m);
}

uint32_t dd_meter_pending(const dd_meter_t *m)
{
    return m != NULL ? dd_metering_writer_count(&m->writer) : 0;
}

dd_meter_status_t dd_meter_get_stats(const dd_meter_t *m, dd_meter_stats_t *stats)
{
    if (m == NULL || stats == NULL) {
        return DD_METER_BAD_PARAMETER;
    }
    *stats = m->stats;
    return DD_METER_OK;
}

const char *dd_meter_strerror(dd_meter_status_t status)
{
    switch (status) {
    case DD_METER_OK: return "success";
    case DD_METER_BAD_PARAMETER: return "bad parameter";
    case DD_METER_NO_MEMORY: return "out of memory";
    case DD_METER_DROPPED: return "metering record dropped";
    }
    return "unknown status";
}
