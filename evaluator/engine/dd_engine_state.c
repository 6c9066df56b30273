/*
 * The binary per-thing state format: what the sink's thing_state() receives
 * and dd_engine_import_thing() restores (the store keeps it as a BLOB).
 * Versioned by BLOB_MAGIC; a change of layout needs a new magic, because
 * blobs written by an older ddlocald are read back after an upgrade.
 *
 * Layout: magic, flags, times, id counter, the device-metric history, then
 * per profile its name and per slot the behavior key and hash (so that a
 * slot finds its behavior again after profiles changed), alarm, window
 * accumulator and verification description.
 */
#include <stdlib.h>
#include <string.h>

#include "dd_engine_internal.h"

#define BLOB_MAGIC 0x44445432u /* "DDT2" */

/* ------------------------------------------------------------------ writer */

typedef struct wbuf {
    dd_engine_t *e;
    size_t len;
    bool ok;
} wbuf_t;

static void put_bytes(wbuf_t *w, const void *p, size_t n)
{
    if (!w->ok || n == 0) {
        return;
    }
    if (!dd_engine_grow_array((void **)&w->e->blob, &w->e->blob_cap, w->len + n, 1)) {
        w->ok = false;
        return;
    }
    memcpy(w->e->blob + w->len, p, n);
    w->len += n;
}

/* Integers are LEB128 varints: most counters and times are small. */
static void put_u64(wbuf_t *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;

    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            b[n] |= 0x80;
        }
        n++;
    } while (v != 0);
    put_bytes(w, b, n);
}

static void put_u32(wbuf_t *w, uint32_t v)
{
    put_u64(w, v);
}

/* Signed times: zigzag so that 0 and small values stay short. */
static void put_i64(wbuf_t *w, int64_t v)
{
    /* All ones for a negative v, without right-shifting a signed value. */
    put_u64(w, ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63)));
}

static void put_u8(wbuf_t *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void put_str(wbuf_t *w, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    put_u32(w, s != NULL ? (uint32_t)n : 0xFFFFFFFFu);
    put_bytes(w, s, n);
}

static void put_f64(wbuf_t *w, double d)
{
    uint8_t b[8];
    uint64_t v;
    int i;

    memcpy(&v, &d, sizeof(v));
    for (i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    put_bytes(w, b, 8);
}

size_t dd_engine_state_write(dd_engine_t *e, const thing_t *t)
{
    wbuf_t w = {e, 0, true};
    uint32_t i;
    uint32_t k;

    {
        uint8_t m[4] = {(uint8_t)BLOB_MAGIC, (uint8_t)(BLOB_MAGIC >> 8),
                        (uint8_t)(BLOB_MAGIC >> 16), (uint8_t)(BLOB_MAGIC >> 24)};
        put_bytes(&w, m, 4);
    }
    put_u8(&w, (uint8_t)((t->registered ? 1 : 0) | (t->connected ? 2 : 0) |
                         (t->event_registered ? 4 : 0)));
    put_i64(&w, t->connect_ms);
    put_i64(&w, t->disconnect_ms);
    put_i64(&w, t->last_device_ms);
    put_i64(&w, t->last_cloud_ms);
    put_u64(&w, t->id_counter);
    put_u32(&w, t->hist.count);
    for (i = 0; i < t->hist.count; i++) {
        const dd_window_sample_t *s = &t->hist.ring[(t->hist.head + i) % t->hist.cap];
        put_i64(&w, s->t_ms);
        put_u32(&w, s->mask);
        for (k = 0; k < DD_WINDOW_CHANNELS; k++) {
            put_u64(&w, s->v[k]);
        }
    }
    put_u32(&w, t->nps);
    for (i = 0; i < t->nps; i++) {
        const pstate_t *ps = &t->ps[i];
        put_str(&w, ps->prof->p.name);
        put_u32(&w, ps->prof->nitems);
        for (k = 0; k < ps->prof->nitems; k++) {
            const slot_t *s = &ps->slots[k];
            const item_t *it = &ps->prof->items[k];
            put_str(&w, it->key);
            put_u64(&w, it->hash);
            put_u8(&w, s->alarm.state);
            put_u8(&w, s->alarm.violating_run);
            put_u8(&w, s->alarm.conforming_run);
            put_u8(&w, s->alarm.verification);
            put_i64(&w, s->alarm.last_datapoint_ms);
            put_i64(&w, s->alarm.start_ms);
            put_i64(&w, s->alarm.last_violation_ms);
            put_str(&w, s->alarm.violation_id);
            put_f64(&w, s->acc);
            put_i64(&w, s->acc_end);
            put_i64(&w, s->eval_end);
            put_str(&w, s->vdesc);
        }
    }
    return w.ok ? w.len : 0;
}

/* ------------------------------------------------------------------ reader */

typedef struct rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool ok;
} rbuf_t;

static const uint8_t *get_bytes(rbuf_t *r, size_t n)
{
    const uint8_t *p;

    if (!r->ok || r->len - r->off < n) {
        r->ok = false;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_u64(rbuf_t *r)
{
    uint64_t v = 0;
    unsigned shift = 0;

    for (;;) {
        const uint8_t *b = get_bytes(r, 1);
        if (b == NULL || shift > 63) {
            r->ok = false;
            return 0;
        }
        v |= (uint64_t)(b[0] & 0x7f) << shift;
        if ((b[0] & 0x80) == 0) {
            return v;
        }
        shift += 7;
    }
}

static uint32_t get_u32(rbuf_t *r)
{
    uint64_t v = get_u64(r);

    if (v > 0xFFFFFFFFu) {
        r->ok = false;
    }
    return (uint32_t)v;
}

static int64_t get_i64(rbuf_t *r)
{
    uint64_t v = get_u64(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint8_t get_u8(rbuf_t *r)
{
    const uint8_t *b = get_bytes(r, 1);
    return b != NULL ? b[0] : 0;
}

/* Copies a string into @p buf (truncating); returns false when absent. */
static bool get_str(rbuf_t *r, char *buf, size_t cap, bool *present)
{
    uint32_t n = get_u32(r);
    const uint8_t *b;

    *present = false;
    if (!r->ok) {
        return false;
    }
    if (n == 0xFFFFFFFFu) {
        buf[0] = '\0';
        return true;
    }
    b = get_bytes(r, n);
    if (b == NULL) {
        return false;
    }
    if (n >= cap) {
        r->ok = false;
        return false;
    }
    memcpy(buf, b, n);
    buf[n] = '\0';
    *present = true;
    return true;
}

static double get_f64(rbuf_t *r)
{
    const uint8_t *b = get_bytes(r, 8);
    uint64_t v = 0;
    double d;
    int i;

    for (i = 0; b != NULL && i < 8; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }

    memcpy(&d, &v, sizeof(d));
    return d;
}

dd_engine_status_t dd_engine_import_thing(dd_engine_t *e, const char *name, const uint8_t *blob,
                                          size_t len)
{
    rbuf_t r = {blob, len, 0, true};
    thing_t *t;
    uint8_t flags;
    uint32_t n;
    uint32_t i;
    uint32_t k;
    char *buf;
    bool present;

    if (e == NULL || name == NULL || blob == NULL) {
        return DD_ENGINE_BAD_PARAMETER;
    }
    {
        const uint8_t *m = get_bytes(&r, 4);
        if (m == NULL || ((uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                          (uint32_t)m[3] << 24) != BLOB_MAGIC) {
            return DD_ENGINE_INVALID;
        }
    }
    t = dd_engine_get_thing(e, name);
    buf = malloc(4096);
    if (t == NULL || buf == NULL) {
        free(buf);
        return DD_ENGINE_NO_MEMORY;
    }
    /* Replace whatever the engine had for this thing. */
    for (i = 0; i < t->nps; i++) {
        dd_engine_free_pstate(&t->ps[i]);
    }
    free(t->ps);
    t->ps = NULL;
    t->nps = 0;
    dd_window_free(&t->hist);
    flags = get_u8(&r);
    t->registered = (flags & 1) != 0;
    t->connected = (flags & 2) != 0;
    t->event_registered = (flags & 4) != 0;
    t->connect_ms = get_i64(&r);
    t->disconnect_ms = get_i64(&r);
    t->last_device_ms = get_i64(&r);
    t->last_cloud_ms = get_i64(&r);
    t->id_counter = get_u64(&r);
    n = get_u32(&r);
    for (i = 0; r.ok && i < n; i++) {
        int64_t ts = get_i64(&r);
        uint32_t mask = get_u32(&r);
        uint64_t v[DD_WINDOW_CHANNELS];
        for (k = 0; k < DD_WINDOW_CHANNELS; k++) {
            v[k] = get_u64(&r);
        }
        if (r.ok && dd_window_push(&t->hist, ts, mask, v, KEEP_MS) != DD_WINDOW_OK) {
            r.ok = false;
        }
    }
    n = get_u32(&r);
    if (r.ok && n > 0) {
        t->ps = calloc(n, sizeof(pstate_t));
        r.ok = t->ps != NULL;
    }
    for (i = 0; r.ok && i < n; i++) {
        cprof_t *p;
        uint32_t ns;
        pstate_t *ps = NULL;

        if (!get_str(&r, buf, 4096, &present)) {
            break;
        }
        p = dd_engine_find_prof(e, buf, NULL);
        if (p != NULL) {
            ps = &t->ps[t->nps];
            ps->prof = p;
            ps->slots = calloc(p->nitems > 0 ? p->nitems : 1, sizeof(slot_t));
            if (ps->slots == NULL) {
                r.ok = false;
                break;
            }
            t->nps++;
        }
        ns = get_u32(&r);
        for (k = 0; r.ok && k < ns; k++) {
            slot_t s;
            uint64_t h;
            uint32_t j;
            bool has_desc;

            memset(&s, 0, sizeof(s));
            if (!get_str(&r, buf, 4096, &present)) {
                break;
            }
            h = get_u64(&r);
            s.alarm.state = get_u8(&r);
            s.alarm.violating_run = get_u8(&r);
            s.alarm.conforming_run = get_u8(&r);
            s.alarm.verification = get_u8(&r);
            s.alarm.last_datapoint_ms = get_i64(&r);
            s.alarm.start_ms = get_i64(&r);
            s.alarm.last_violation_ms = get_i64(&r);
            if (ps == NULL) {
                /* Skip the rest of a slot of an unknown profile. */
                char tmp[DD_VIOLATION_ID_LEN + 1];
                (void)get_str(&r, tmp, sizeof(tmp), &present);
                (void)get_f64(&r);
                (void)get_u64(&r);
                (void)get_u64(&r);
                (void)get_str(&r, buf, 4096, &has_desc);
                continue;
            }
            {
                char key[sizeof(((item_t *)0)->key)];
                memcpy(key, buf, sizeof(key) - 1);
                key[sizeof(key) - 1] = '\0';
                (void)get_str(&r, s.alarm.violation_id, sizeof(s.alarm.violation_id), &present);
                s.acc = get_f64(&r);
                s.acc_end = get_i64(&r);
                s.eval_end = get_i64(&r);
                (void)get_str(&r, buf, 4096, &has_desc);
                for (j = 0; r.ok && j < ps->prof->nitems; j++) {
                    const item_t *it = &ps->prof->items[j];
                    if (it->hash == h && strcmp(it->key, key) == 0) {
                        s.vdesc = has_desc ? dd_engine_dup_str(buf) : NULL;
                        ps->slots[j] = s;
                        break;
                    }
                }
            }
        }
    }
    free(buf);
    t->cover_gen = 0; /* recomputed at the next datapoint */
    e->inval_due = 0; /* its alarms may be due: the next pass looks at every slot */
    return r.ok ? DD_ENGINE_OK : DD_ENGINE_INVALID;
}
