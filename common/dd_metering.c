#include "dd_metering.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many strings per batch keeps the index's probes short. */
#define INTERN_MAX ((DD_METERING_INTERN_SLOTS * 3) / 4)
/* Largest record besides its strings: type, flags, sv time, 4 uv, 2 bytes. */
#define RECORD_FIXED_MAX (1 + 1 + 10 + 5 + 5 + 5 + 5 + 2)

#define FLAG_REGISTERED 0x01u
#define FLAG_SUCCESS 0x02u
#define FLAG_TAKEOVER 0x04u /* version 2: DISCONNECT only */
#define ENTRY_STRING 0x00u

/* ---- little-endian and varint helpers ----------------------------------- */

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static size_t uv_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t uv_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static uint64_t zigzag(int64_t v)
{
    /* All ones for a negative v, without right-shifting a signed value. */
    return ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63));
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- writer --------------------------------------------------------------- */

dd_metering_str_t dd_metering_cstr(const char *s)
{
    dd_metering_str_t r = {s, s != NULL ? strlen(s) : 0};

    return r;
}

dd_metering_status_t dd_metering_writer_begin(dd_metering_writer_t *w, uint8_t *buf, size_t cap,
                                              uint64_t instance_id, uint64_t seq)
{
    if (w == NULL || buf == NULL || cap < DD_METERING_MIN_BUFFER || cap > UINT32_MAX) {
        return DD_METERING_BAD_PARAMETER;
    }
    w->buf = buf;
    w->cap = cap;
    w->len = DD_METERING_HEADER_LEN;
    w->records = 0;
    w->strings = 0;
    w->base_time_ms = 0;
    w->instance_id = instance_id;
    w->seq = seq;
    memset(w->index, 0, sizeof(w->index));
    return DD_METERING_OK;
}

/* Index of the slot holding @p s, or of the empty slot where it belongs. */
static size_t intern_slot(const dd_metering_writer_t *w, const char *s, size_t len, uint32_t hash)
{
    size_t i = hash & (DD_METERING_INTERN_SLOTS - 1);

    for (;;) {
        const dd_metering_intern_t *e = &w->index[i];

        if (e->id_plus_one == 0) {
            return i;
        }
        if (e->hash == hash && e->len == len && memcmp(w->buf + e->offset, s, len) == 0) {
            return i;
        }
        i = (i + 1) & (DD_METERING_INTERN_SLOTS - 1);
    }
}

/* One string of the record being planned. */
typedef struct plan_str {
    const dd_metering_str_t *str;
    uint32_t hash;
    size_t slot;
    int64_t id; /* existing or planned id; -1 = absent */
    bool is_new;
} plan_str_t;

static bool str_valid(const dd_metering_str_t *s, bool required)
{
    if (s->ptr == NULL) {
        return !required && s->len == 0;
    }
    if (required && s->len == 0) {
        return false;
    }
    return s->len <= DD_METERING_STRING_MAX;
}

dd_metering_status_t dd_metering_writer_add(dd_metering_writer_t *w,
                                            const dd_metering_record_t *rec)
{
    plan_str_t plan[4];
    size_t nplan = 0;
    size_t ip_at = 0;
    size_t cert_at = 0;
    size_t need = 0;
    uint32_t next_id;
    int64_t base;
    int64_t delta;
    size_t i;
    size_t j;
    uint8_t *p;
    uint8_t flags = 0;

    if (w == NULL || rec == NULL || w->buf == NULL) {
        return DD_METERING_BAD_PARAMETER;
    }
    if (rec->type < DD_METERING_SENT || rec->type > DD_METERING_DISCONNECT ||
        !str_valid(&rec->key, true) || !str_valid(&rec->subject, false) ||
        !str_valid(&rec->ip, false) || !str_valid(&rec->cert_id, false) ||
        (rec->takeover && rec->type != DD_METERING_DISCONNECT)) {
        return DD_METERING_BAD_PARAMETER;
    }
    if (rec->type == DD_METERING_AUTH_FAILURE &&
        ((unsigned)rec->action > DD_METERING_ACTION_RECEIVE ||
         (unsigned)rec->reason >= DD_METERING_REASON_COUNT)) {
        return DD_METERING_BAD_PARAMETER;
    }
    base = w->records == 0 ? rec->time_ms : w->base_time_ms;
    if (__builtin_sub_overflow(rec->time_ms, base, &delta)) {
        return DD_METERING_BAD_PARAMETER;
    }

    /* Plan the strings: which exist already, which need a definition. Two
     * strings of one record may be equal (an unregistered client's key and
     * client id), so a new one is also looked for among the planned ones. */
    plan[nplan++].str = &rec->key;
    if (rec->subject.ptr != NULL) {
        plan[nplan++].str = &rec->subject;
    }
    if (rec->type == DD_METERING_CONNECT && rec->ip.ptr != NULL) {
        ip_at = nplan;
        plan[nplan++].str = &rec->ip;
    }
    if (rec->type == DD_METERING_CONNECT && rec->cert_id.ptr != NULL) {
        cert_at = nplan;
        plan[nplan++].str = &rec->cert_id;
    }
    next_id = w->strings;
    for (i = 0; i < nplan; i++) {
        const dd_metering_str_t *s = plan[i].str;

        plan[i].hash = fnv1a(s->ptr, s->len);
        plan[i].slot = intern_slot(w, s->ptr, s->len, plan[i].hash);
        plan[i].is_new = false;
        if (w->index[plan[i].slot].id_plus_one != 0) {
            plan[i].id = (int64_t)w->index[plan[i].slot].id_plus_one - 1;
            continue;
        }
        plan[i].id = -1;
        for (j = 0; j < i; j++) {
            if (plan[j].is_new && plan[j].str->len == s->len &&
                memcmp(plan[j].str->ptr, s->ptr, s->len) == 0) {
                plan[i].id = plan[j].id;
                break;
            }
        }
        if (plan[i].id < 0) {
            plan[i].id = next_id++;
            plan[i].is_new = true;
            need += 1 + uv_len(s->len) + s->len;
        }
    }
    need += RECORD_FIXED_MAX;
    if (need > w->cap - DD_METERING_HEADER_LEN) {
        return DD_METERING_TOO_LARGE;
    }
    if (w->len + need > w->cap || next_id > INTERN_MAX) {
        return DD_METERING_FULL;
    }

    /* Commit. */
    p = w->buf + w->len;
    for (i = 0; i < nplan; i++) {
        const dd_metering_str_t *s = plan[i].str;
        dd_metering_intern_t *e;

        if (!plan[i].is_new) {
            continue;
        }
        *p++ = ENTRY_STRING;
        p += uv_put(p, s->len);
        memcpy(p, s->ptr, s->len);
        /* The slot found while planning may since have been taken by an
         * earlier string of this record: look again. */
        e = &w->index[intern_slot(w, s->ptr, s->len, plan[i].hash)];
        e->hash = plan[i].hash;
        e->id_plus_one = (uint32_t)plan[i].id + 1;
        e->offset = (uint32_t)(p - w->buf);
        e->len = (uint32_t)s->len;
        p += s->len;
    }
    w->strings = next_id;

    if (rec->registered) {
        flags |= FLAG_REGISTERED;
    }
    if (rec->type == DD_METERING_CONNECT && rec->success) {
        flags |= FLAG_SUCCESS;
    }
    if (rec->takeover) {
        flags |= FLAG_TAKEOVER;
    }
    *p++ = (uint8_t)rec->type;
    *p++ = flags;
    p += uv_put(p, zigzag(delta));
    p += uv_put(p, (uint64_t)plan[0].id);
    p += uv_put(p, rec->subject.ptr != NULL ? (uint64_t)plan[1].id + 1 : 0);
    switch (rec->type) {
    case DD_METERING_SENT:
    case DD_METERING_RECEIVED: p += uv_put(p, rec->bytes); break;
    case DD_METERING_AUTH_FAILURE:
        *p++ = (uint8_t)rec->action;
        *p++ = (uint8_t)rec->reason;
        break;
    case DD_METERING_CONNECT:
        p += uv_put(p, rec->ip.ptr != NULL ? (uint64_t)plan[ip_at].id + 1 : 0);
        p += uv_put(p, rec->cert_id.ptr != NULL ? (uint64_t)plan[cert_at].id + 1 : 0);
        break;
    case DD_METERING_DISCONNECT: break;
    }
    w->len = (size_t)(p - w->buf);
    if (w->records == 0) {
        w->base_time_ms = rec->time_ms;
    }
    w->records++;
    return DD_METERING_OK;
}

uint32_t dd_metering_writer_count(const dd_metering_writer_t *w)
{
    return w != NULL ? w->records : 0;
}

dd_metering_status_t dd_metering_writer_finish(dd_metering_writer_t *w, size_t *len)
{
    uint8_t *h;

    if (w == NULL || len == NULL || w->buf == NULL) {
        return DD_METERING_BAD_PARAMETER;
    }
    h = w->buf;
    memcpy(h, DD_METERING_MAGIC, 4);
    h[4] = DD_METERING_VERSION;
    h[5] = 0;
    put_le(h + 6, DD_METERING_HEADER_LEN, 2);
    put_le(h + 8, w->instance_id, 8);
    put_le(h + 16, w->seq, 8);
    put_le(h + 24, (uint64_t)w->base_time_ms, 8);
    put_le(h + 32, w->records, 4);
    put_le(h + 36, (uint64_t)(w->len - DD_METERING_HEADER_LEN), 4);
    *len = w->len;
    return DD_METERING_OK;
}

/* ---- decoder --------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *body;
} reader_t;

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static bool rd_uv(reader_t *r, uint64_t *v)
{
    uint64_t out = 0;
    unsigned shift = 0;

    while (r->p < r->end) {
        uint8_t b = *r->p++;

        if (shift == 63 && (b & 0x7e) != 0) {
            return false;
        }
        out |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = out;
            return true;
        }
        shift += 7;
        if (shift > 63) {
            return false;
        }
    }
    return false;
}

static bool rd_u8(reader_t *r, uint8_t *v)
{
    if (r->p >= r->end) {
        return false;
    }
    *v = *r->p++;
    return true;
}

typedef struct str_ref {
    uint32_t offset;
    uint32_t len;
} str_ref_t;

/* One pass over the body. Without @p table it only validates and counts;
 * with it, it resolves strings and reports records. */
static dd_metering_status_t walk(const uint8_t *body, size_t body_len,
                                 const dd_metering_header_t *hdr, str_ref_t *table,
                                 uint32_t *nstrings, uint32_t *nrecords, dd_metering_record_fn fn,
                                 void *ctx, char *err, size_t err_len)
{
    reader_t r = {body, body + body_len, body};
    uint32_t strings = 0;
    uint32_t records = 0;

    while (r.p < r.end) {
        size_t at = (size_t)(r.p - body) + DD_METERING_HEADER_LEN;
        uint8_t type = *r.p++;
        uint8_t flags;
        uint64_t t;
        uint64_t key;
        uint64_t subject;
        uint64_t extra = 0;
        uint64_t cert = 0;
        uint8_t known_flags = FLAG_REGISTERED | FLAG_SUCCESS;
        uint8_t action = 0;
        uint8_t reason = 0;
        int64_t time_ms;

        if (type == ENTRY_STRING) {
            uint64_t len;

            if (!rd_uv(&r, &len) || len > DD_METERING_STRING_MAX || len > (uint64_t)(r.end - r.p)) {
                set_err(err, err_len, "bad string definition at byte %zu", at);
                return DD_METERING_MALFORMED;
            }
            if (table != NULL) {
                table[strings].offset = (uint32_t)(r.p - body);
                table[strings].len = (uint32_t)len;
            }
            r.p += len;
            strings++;
            continue;
        }
        if (type < DD_METERING_SENT || type > DD_METERING_DISCONNECT) {
            set_err(err, err_len, "unknown entry type 0x%02x at byte %zu", type, at);
            return DD_METERING_MALFORMED;
        }
        if (!rd_u8(&r, &flags) || !rd_uv(&r, &t) || !rd_uv(&r, &key) || !rd_uv(&r, &subject)) {
            set_err(err, err_len, "truncated record at byte %zu", at);
            return DD_METERING_MALFORMED;
        }
        if (hdr->version >= 2 && type == DD_METERING_DISCONNECT) {
            known_flags |= FLAG_TAKEOVER;
        }
        if ((flags & ~known_flags) != 0 ||
            ((flags & FLAG_SUCCESS) != 0 && type != DD_METERING_CONNECT)) {
            set_err(err, err_len, "unknown record flags 0x%02x at byte %zu", flags, at);
            return DD_METERING_MALFORMED;
        }
        if (key >= strings || subject > strings) {
            set_err(err, err_len, "record at byte %zu refers to an undefined string", at);
            return DD_METERING_MALFORMED;
        }
        switch (type) {
        case DD_METERING_SENT:
        case DD_METERING_RECEIVED:
            if (!rd_uv(&r, &extra) || extra > UINT32_MAX) {
                set_err(err, err_len, "bad byte count at byte %zu", at);
                return DD_METERING_MALFORMED;
            }
            break;
        case DD_METERING_AUTH_FAILURE:
            if (!rd_u8(&r, &action) || !rd_u8(&r, &reason)) {
                set_err(err, err_len, "truncated record at byte %zu", at);
                return DD_METERING_MALFORMED;
            }
            if (action > DD_METERING_ACTION_RECEIVE || reason >= DD_METERING_REASON_COUNT) {
                set_err(err, err_len, "unknown action %u or reason %u at byte %zu", action, reason,
                        at);
                return DD_METERING_MALFORMED;
            }
            break;
        case DD_METERING_CONNECT:
            if (!rd_uv(&r, &extra) || extra > strings) {
                set_err(err, err_len, "bad source IP reference at byte %zu", at);
                return DD_METERING_MALFORMED;
            }
            if (hdr->version >= 2 && (!rd_uv(&r, &cert) || cert > strings)) {
                set_err(err, err_len, "bad certificate id reference at byte %zu", at);
                return DD_METERING_MALFORMED;
            }
            break;
        default: break;
        }
        if (__builtin_add_overflow(hdr->base_time_ms, unzigzag(t), &time_ms)) {
            set_err(err, err_len, "time out of range at byte %zu", at);
            return DD_METERING_MALFORMED;
        }
        records++;
        if (table != NULL && fn != NULL) {
            dd_metering_record_t rec;

            memset(&rec, 0, sizeof(rec));
            rec.type = (dd_metering_type_t)type;
            rec.time_ms = time_ms;
            rec.registered = (flags & FLAG_REGISTERED) != 0;
            rec.success = (flags & FLAG_SUCCESS) != 0;
            rec.takeover = (flags & FLAG_TAKEOVER) != 0;
            rec.key.ptr = (const char *)body + table[key].offset;
            rec.key.len = table[key].len;
            if (subject > 0) {
                rec.subject.ptr = (const char *)body + table[subject - 1].offset;
                rec.subject.len = table[subject - 1].len;
            }
            if (type == DD_METERING_SENT || type == DD_METERING_RECEIVED) {
                rec.bytes = (uint32_t)extra;
            } else if (type == DD_METERING_AUTH_FAILURE) {
                rec.action = (dd_metering_action_t)action;
                rec.reason = (dd_metering_reason_t)reason;
            } else if (type == DD_METERING_CONNECT) {
                if (extra > 0) {
                    rec.ip.ptr = (const char *)body + table[extra - 1].offset;
                    rec.ip.len = table[extra - 1].len;
                }
                if (cert > 0) {
                    rec.cert_id.ptr = (const char *)body + table[cert - 1].offset;
                    rec.cert_id.len = table[cert - 1].len;
                }
            }
            if (fn(ctx, hdr, &rec) != 0) {
                break;
            }
        }
    }
    *nstrings = strings;
    *nrecords = records;
    return DD_METERING_OK;
}

dd_metering_status_t dd_metering_decode(const void *buf, size_t len, dd_metering_header_t *hdr_out,
                                        dd_metering_record_fn fn, void *ctx, char *err,
                                        size_t err_len)
{
    const uint8_t *b = buf;
    dd_metering_header_t hdr;
    size_t header_len;
    uint64_t body_len;
    uint32_t nstrings = 0;
    uint32_t nrecords = 0;
    str_ref_t *table;
    dd_metering_status_t st;

    set_err(err, err_len, "%s", "");
    if (buf == NULL) {
        return DD_METERING_BAD_PARAMETER;
    }
    if (len < 8 || memcmp(b, DD_METERING_MAGIC, 4) != 0) {
        set_err(err, err_len, "not a metering batch (bad magic)");
        return DD_METERING_MALFORMED;
    }
    /* Version 1 batches (a shim of an older build) are still read. */
    if (b[4] != DD_METERING_VERSION && b[4] != 1) {
        set_err(err, err_len, "unsupported metering batch version %u", b[4]);
        return DD_METERING_UNSUPPORTED;
    }
    if (b[5] != 0) {
        set_err(err, err_len, "unsupported metering batch flags 0x%02x", b[5]);
        return DD_METERING_UNSUPPORTED;
    }
    header_len = (size_t)get_le(b + 6, 2);
    if (header_len < DD_METERING_HEADER_LEN || len < header_len) {
        set_err(err, err_len, "truncated header (%zu bytes)", len);
        return DD_METERING_MALFORMED;
    }
    memset(&hdr, 0, sizeof(hdr));
    hdr.version = b[4];
    hdr.instance_id = get_le(b + 8, 8);
    hdr.seq = get_le(b + 16, 8);
    hdr.base_time_ms = (int64_t)get_le(b + 24, 8);
    hdr.record_count = (uint32_t)get_le(b + 32, 4);
    body_len = get_le(b + 36, 4);
    if (body_len != len - header_len) {
        set_err(err, err_len, "body length %llu does not match the %zu bytes received",
                (unsigned long long)body_len, len - header_len);
        return DD_METERING_MALFORMED;
    }
    st = walk(b + header_len, (size_t)body_len, &hdr, NULL, &nstrings, &nrecords, NULL, NULL, err,
              err_len);
    if (st != DD_METERING_OK) {
        return st;
    }
    if (nrecords != hdr.record_count) {
        set_err(err, err_len, "header says %u records, body has %u", hdr.record_count, nrecords);
        return DD_METERING_MALFORMED;
    }
    if (hdr_out != NULL) {
        *hdr_out = hdr;
    }
    if (fn == NULL || nrecords == 0) {
        return DD_METERING_OK;
    }
    table = calloc(nstrings > 0 ? nstrings : 1, sizeof(*table));
    if (table == NULL) {
        return DD_METERING_NO_MEMORY;
    }
    st = walk(b + header_len, (size_t)body_len, &hdr, table, &nstrings, &nrecords, fn, ctx, err,
              err_len);
    free(table);
    return st;
}

/* ---- names ---------------------------------------------------------------- */

const char *dd_metering_type_name(dd_metering_type_t type)
{
    switch (type) {
    case DD_METERING_SENT: return "SENT";
    case DD_METERING_RECEIVED: return "RECEIVED";
    case DD_METERING_AUTH_FAILURE: return "AUTH_FAILURE";
    case DD_METERING_CONNECT: return "CONNECT";
    case DD_METERING_DISCONNECT: return "DISCONNECT";
    }
    return "?";
}

const char *dd_metering_action_name(dd_metering_action_t action)
{
    switch (action) {
    case DD_METERING_ACTION_CONNECT: return "iot:Connect";
    case DD_METERING_ACTION_PUBLISH: return "iot:Publish";
    case DD_METERING_ACTION_SUBSCRIBE: return "iot:Subscribe";
    case DD_METERING_ACTION_RECEIVE: return "iot:Receive";
    }
    return "?";
}

const char *dd_metering_reason_name(dd_metering_reason_t reason)
{
    switch (reason) {
    case DD_METERING_REASON_POLICY: return "policy";
    case DD_METERING_REASON_TOPIC_TOO_LONG: return "topic-too-long";
    case DD_METERING_REASON_TOO_MANY_LEVELS: return "too-many-levels";
    case DD_METERING_REASON_PAYLOAD_TOO_LARGE: return "payload-too-large";
    case DD_METERING_REASON_RESERVED_TOPIC: return "reserved-topic";
    case DD_METERING_REASON_UNKNOWN_CERT: return "unknown-certificate";
    case DD_METERING_REASON_CERT_NOT_ACTIVE: return "certificate-not-active";
    case DD_METERING_REASON_REVOKED: return "revoked";
    case DD_METERING_REASON_RESERVED_CLIENT_ID: return "reserved-client-id";
    case DD_METERING_REASON_COUNT: break;
    }
    return "?";
}

const char *dd_metering_strerror(dd_metering_status_t status)
{
    switch (status) {
    case DD_METERING_OK: return "success";
    case DD_METERING_BAD_PARAMETER: return "bad parameter";
    case DD_METERING_FULL: return "batch full";
    case DD_METERING_TOO_LARGE: return "record larger than a batch";
    case DD_METERING_MALFORMED: return "malformed metering batch";
    case DD_METERING_UNSUPPORTED: return "unsupported metering batch version";
    case DD_METERING_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
