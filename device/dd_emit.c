/*
 * ddlocal fleet --emit (dd_emit.h): the scenario as replay lines, one report
 * interval ("slice") at a time, each slice's lines sorted by time.
 *
 * Threads: the devices are split into N consecutive ranges, one per worker;
 * a device's state (random generators, accumulators, next telemetry time)
 * lives in its worker only, so its lines are the one-thread run's. The
 * slices are grouped into blocks; each worker renders its devices' lines of
 * a block, sorted, into one of its two buffers, with each line's time. The
 * calling thread merges the N buffers of a block by (time, worker) - equal
 * times keep device order, as the ranges are ascending - and writes runs of
 * consecutive lines of one buffer with one fwrite(). So the bytes do not
 * depend on N, and memory is two blocks per worker.
 */
#include "dd_emit.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_report.h"
#include "dd_sensor.h"

#define MINUTE_MS 60000

/* One line of the current slice: its text lives in the slice's arena. */
typedef struct emit_line {
    int64_t time_ms;
    uint32_t device;
    uint32_t seq; /* order of lines of one device at one time */
    size_t off;
    size_t len;
} emit_line_t;

/* What a device's lines always say: shared, read-only, by every worker. */
typedef struct emit_name {
    char thing[128];
    size_t thing_len;
    char topic_json[400]; /* the telemetry topic as a JSON string, quotes included */
    size_t topic_json_len;
    bool cloud; /* its group has "cloud" rates (else dd_scenario_cloud_rates() is always false) */
} emit_name_t;

/* What carries over from one slice to the next for a device (each worker has its own copy). */
typedef struct emit_dev {
    double tel_s;     /* next telemetry message, pipeline seconds */
    uint64_t rng;     /* reports */
    uint64_t tel_rng; /* telemetry payload sizes of temperature messages */
    double auth_acc;  /* fractional events carried between minutes */
    double fail_acc;
    double disc_acc;
    uint64_t report_k;
    unsigned reply_class; /* time_class() of the last /accepted reply metered; 0: none yet */
    size_t reply_len;     /* that reply's size */
} emit_dev_t;

/* One block's text, handed from the worker that rendered it to the thread that writes. */
typedef struct emit_out {
    char *data;
    size_t len;
    size_t cap;
    int64_t *times; /* each line's time and where it ends in data (threaded runs: the merge) */
    size_t *ends;
    size_t nlines;
    size_t lines_cap;
    bool ready;          /* rendered, not yet written */
    dd_emit_status_t st; /* DD_EMIT_OK, or why the block stops short (its text still counts) */
} emit_out_t;

/* One worker: renders its range of devices, block after block. */
typedef struct emit {
    const dd_scenario_t *sc;
    int64_t start_ms;
    const emit_name_t *names;
    emit_dev_t *dev;
    emit_line_t *lines;
    size_t nlines;
    size_t lines_cap;
    uint64_t *order; /* radix sort: (time offset << 32 | line), and its scratch */
    uint64_t *order_tmp;
    size_t order_cap;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
    dd_report_cache_t *cache; /* the last report's encoding, reused while only numbers change */
    uint8_t *buf;             /* an encoded report */
    char payload[DD_REPORT_MAX_PAYLOAD];
    dd_emit_stats_t stats;
    bool oom;
    uint32_t device; /* whose lines are being written */
    uint32_t lo;     /* its devices: [lo, hi) */
    uint32_t hi;
    bool index; /* keep each line's time and end (emit_out_t) for the merge */
    unsigned id;
    struct emit_run *run;
    pthread_t thread;
    emit_out_t out[2]; /* its blocks alternate between these */
} emit_t;

/* A whole run: the blocks, the workers and their hand-off to the writer. */
typedef struct emit_run {
    const dd_scenario_t *sc;
    uint64_t slices;
    uint64_t slices_per_block;
    uint64_t blocks;
    unsigned nworkers;
    emit_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool abort; /* the writer stopped: workers end */
} emit_run_t;

/* Room for the longest line but a report's: JSON punctuation, two thing names, a topic, numbers. */
#define LINE_FIXED_MAX \
    (512 + 2 * sizeof(((emit_name_t *)0)->thing) + sizeof(((emit_name_t *)0)->topic_json))

/*
 * Lines are assembled with memcpy() and an integer formatter rather than vsnprintf(): printf's
 * format interpretation, strlen() of every %s and its stream set-up were a third of emit's CPU
 * (perf, issue 15). The text is the same bytes as the printf formats it replaced
 * (tests/golden/emit).
 */

/* Makes room for a line of at most @p max bytes; NULL (and e->oom) when memory runs out. */
static char *line_begin(emit_t *e, size_t max)
{
    if (e->oom) {
        return NULL;
    }
    if (e->nlines == e->lines_cap) {
        size_t cap = e->lines_cap == 0 ? 4096 : e->lines_cap * 2;
        emit_line_t *l = realloc(e->lines, cap * sizeof(*l));
        if (l == NULL) {
            e->oom = true;
            return NULL;
        }
        e->lines = l;
        e->lines_cap = cap;
    }
    if (e->arena_cap - e->arena_len < max) {
        size_t cap = (e->arena_cap == 0 ? 1u << 20 : e->arena_cap * 2) + max;
        char *a = realloc(e->arena, cap);
        if (a == NULL) {
            e->oom = true;
            return NULL;
        }
        e->arena = a;
        e->arena_cap = cap;
    }
    return e->arena + e->arena_len;
}

/* Ends the line line_begin() started; @p end is one past its last byte. */
static void line_end(emit_t *e, int64_t time_ms, uint32_t seq, const char *end)
{
    size_t n = (size_t)(end - (e->arena + e->arena_len));

    e->lines[e->nlines].time_ms = time_ms;
    e->lines[e->nlines].device = e->device;
    e->lines[e->nlines].seq = seq;
    e->lines[e->nlines].off = e->arena_len;
    e->lines[e->nlines].len = n;
    e->nlines++;
    e->arena_len += n;
    e->stats.lines++;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* A string literal, without its NUL. */
#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* The decimal digits of @p v, as %PRIu64 prints them; @p p has room for 20. */
static char *put_u64(char *p, uint64_t v)
{
    return p + dd_report_u64_digits(v, p);
}

/* As %PRId64 prints @p v. */
static char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

/* The start every line shares: {"thing":"THING","time":T, with T's digits given. */
static char *put_head_text(char *p, const emit_name_t *d, const char *t, size_t tlen)
{
    p = PUT_LIT(p, "{\"thing\":\"");
    p = put(p, d->thing, d->thing_len);
    p = PUT_LIT(p, "\",\"time\":");
    p = put(p, t, tlen);
    return PUT_LIT(p, ",");
}

/* The start every line shares: {"thing":"THING","time":T, */
static char *put_head(char *p, const emit_name_t *d, int64_t t)
{
    char text[24];

    return put_head_text(p, d, text, (size_t)(put_i64(text, t) - text));
}

static int64_t abs_ms(const emit_t *e, double t_s)
{
    return e->start_ms + (int64_t)llround(t_s * 1000.0);
}

/*
 * The /accepted reply to a report at @p t carries t twice (reportId, timestamp) and else only
 * the thing's name, so its size changes only with t's length: its decimal digits (JSON) and its
 * CBOR integer head (1, 2, 3, 5 or 9 bytes). Returns that pair as one number (0: t < 0, not
 * cached), so a device's reply is encoded once per class rather than once per report.
 */
static unsigned time_class(int64_t t)
{
    uint64_t v = (uint64_t)t;
    unsigned digits = 1;
    unsigned head = v < 24 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;

    if (t < 0) {
        return 0;
    }
    while (v >= 10) {
        v /= 10;
        digits++;
    }
    return digits * 16 + head;
}

/* The report device @p i sends at @p t_s, as a replay line. */
static dd_emit_status_t add_report(emit_t *e, uint32_t i, double t_s)
{
    const dd_scenario_t *sc = e->sc;
    emit_dev_t *d = &e->dev[i - e->lo];
    const emit_name_t *nm = &e->names[i];
    int64_t t = abs_ms(e, t_s);
    char tt[24]; /* t's digits: the report's three lines start alike */
    size_t tlen = (size_t)(put_i64(tt, t) - tt);
    dd_report_t r;
    size_t len = 0;
    size_t k;
    char *p;

    memset(&r, 0, sizeof(r));
    if (dd_scenario_report(sc, i, t_s, &d->rng, (uint64_t)t, &r) != DD_SCENARIO_OK) {
        dd_report_free(&r);
        return DD_EMIT_ENCODE_FAILED;
    }
    if (sc->format == DD_REPORT_FORMAT_JSON) {
        /* Encoded in place: the line is the report's JSON between a head and "}\n". */
        if ((p = line_begin(e, LINE_FIXED_MAX + DD_REPORT_MAX_PAYLOAD)) == NULL) {
            dd_report_free(&r);
            return DD_EMIT_OK; /* e->oom: the caller stops */
        }
        p = put_head_text(p, nm, tt, tlen);
        p = PUT_LIT(p, "\"report\":");
        if (dd_report_encode_cached(e->cache, &r, sc->format, sc->keys, (uint8_t *)p,
                                    DD_REPORT_MAX_PAYLOAD, &len) != DD_REPORT_OK) {
            dd_report_free(&r);
            return DD_EMIT_ENCODE_FAILED;
        }
        dd_report_free(&r);
        p = PUT_LIT(p + len, "}\n");
    } else {
        static const char HEX[] = "0123456789abcdef";

        if (dd_report_encode_cached(e->cache, &r, sc->format, sc->keys, e->buf,
                                    DD_REPORT_MAX_PAYLOAD, &len) != DD_REPORT_OK) {
            dd_report_free(&r);
            return DD_EMIT_ENCODE_FAILED;
        }
        dd_report_free(&r);
        if ((p = line_begin(e, LINE_FIXED_MAX + 2 * len)) == NULL) {
            return DD_EMIT_OK;
        }
        p = put_head_text(p, nm, tt, tlen);
        p = PUT_LIT(p, "\"cbor\":\"");
        for (k = 0; k < len; k++) {
            *p++ = HEX[e->buf[k] >> 4];
            *p++ = HEX[e->buf[k] & 15];
        }
        p = PUT_LIT(p, "\"}\n");
    }
    line_end(e, t, 1, p);
    e->stats.reports++;
    /* The broker meters the report itself and the /accepted reply it delivers, as live. */
    {
        const char *fmt = sc->format == DD_REPORT_FORMAT_JSON ? "json" : "cbor";
        unsigned cls = time_class(t);
        size_t reply_len = d->reply_len;
        uint8_t reply[512];
        int sent;

        if (cls == 0 || cls != d->reply_class) {
            if (dd_report_encode_accepted(sc->format, nm->thing, (uint64_t)t, t, reply,
                                          sizeof(reply), &reply_len) != DD_REPORT_OK) {
                return DD_EMIT_ENCODE_FAILED;
            }
            d->reply_class = cls;
            d->reply_len = reply_len;
        }

        for (sent = 1; sent >= 0; sent--) {
            if ((p = line_begin(e, LINE_FIXED_MAX)) == NULL) {
                return DD_EMIT_OK;
            }
            p = put_head_text(p, nm, tt, tlen);
            p = sent ? PUT_LIT(p, "\"event\":{\"type\":\"message-sent\",\"topic\":\"$aws/things/")
                     : PUT_LIT(p,
                               "\"event\":{\"type\":\"message-received\",\"topic\":\"$aws/things/");
            p = put(p, nm->thing, nm->thing_len);
            p = PUT_LIT(p, "/defender/metrics/");
            p = put(p, fmt, 4);
            if (!sent) {
                p = PUT_LIT(p, "/accepted");
            }
            p = PUT_LIT(p, "\",\"size\":");
            p = put_u64(p, sent ? len : reply_len);
            p = PUT_LIT(p, "}}\n");
            line_end(e, t, sent ? 7 : 8, p);
        }
        e->stats.cloud_events += 2;
    }
    return DD_EMIT_OK;
}

/* Size of one telemetry message: the schedule's, or a temperature reading's. */
static size_t telemetry_size(emit_t *e, uint32_t i, double t_s)
{
    size_t size = dd_scenario_payload_size(e->sc, i, t_s);
    size_t len = 0;

    if (size > 0) {
        return size;
    }
    if (dd_sensor_payload(0, &e->dev[i - e->lo].tel_rng, e->payload, sizeof(e->payload), &len) !=
        DD_SENSOR_OK) {
        return 0;
    }
    return len;
}

/* Device @p i's telemetry before @p end_s: one message-sent line per minute and size. */
static void add_telemetry(emit_t *e, uint32_t i, double end_s)
{
    const dd_scenario_t *sc = e->sc;
    emit_dev_t *d = &e->dev[i - e->lo];
    const emit_name_t *nm = &e->names[i];

    while (d->tel_s < end_s && d->tel_s < sc->duration_s) {
        int64_t first = abs_ms(e, d->tel_s);
        int64_t minute = first / MINUTE_MS;
        size_t configured = dd_scenario_payload_size(sc, i, d->tel_s);
        size_t size = telemetry_size(e, i, d->tel_s);
        uint64_t count = 0;
        char *p;

        /* One line per minute and configured size (a phase may change it mid-minute). */
        while (d->tel_s < end_s && d->tel_s < sc->duration_s &&
               abs_ms(e, d->tel_s) / MINUTE_MS == minute &&
               dd_scenario_payload_size(sc, i, d->tel_s) == configured) {
            count++;
            d->tel_s = dd_scenario_telemetry_next_s(sc, i, d->tel_s);
        }
        if ((p = line_begin(e, LINE_FIXED_MAX)) == NULL) {
            return;
        }
        p = put_head(p, nm, first);
        p = PUT_LIT(p, "\"event\":{\"type\":\"message-sent\",\"topic\":");
        p = put(p, nm->topic_json, nm->topic_json_len);
        p = PUT_LIT(p, ",\"size\":");
        p = put_u64(p, size);
        p = PUT_LIT(p, ",\"repeat\":");
        p = put_u64(p, count);
        p = PUT_LIT(p, "}}\n");
        line_end(e, first, 2, p);
        e->stats.telemetry_messages += count;
    }
}

/* A line with an event of @p type and no other member. */
static void add_event_line(emit_t *e, uint32_t i, int64_t t, uint32_t seq, const char *type)
{
    char *p = line_begin(e, LINE_FIXED_MAX);

    if (p == NULL) {
        return;
    }
    p = put_head(p, &e->names[i], t);
    p = PUT_LIT(p, "\"event\":{\"type\":\"");
    p = put(p, type, strlen(type));
    p = PUT_LIT(p, "\"}}\n");
    line_end(e, t, seq, p);
}

/* Takes the whole events of an accumulator. */
static uint64_t take(double *acc)
{
    double whole = floor(*acc);

    *acc -= whole;
    return whole > 0 ? (uint64_t)whole : 0;
}

/* Device @p i's cloud-side events in [from_s, end_s), minute by minute. */
static void add_cloud(emit_t *e, uint32_t i, double from_s, double end_s)
{
    const dd_scenario_t *sc = e->sc;
    emit_dev_t *d = &e->dev[i - e->lo];
    const emit_name_t *nm = &e->names[i];
    double t_s = from_s;

    while (t_s < end_s && t_s < sc->duration_s) {
        double step = fmin(60.0 - fmod((double)abs_ms(e, t_s) / 1000.0, 60.0), end_s - t_s);
        int64_t t = abs_ms(e, t_s);
        dd_scenario_cloud_t rates;
        uint64_t n;
        char *p;

        if (step <= 0) {
            break;
        }
        if (dd_scenario_cloud_rates(sc, i, t_s, &rates)) {
            d->auth_acc += rates.auth_failures_per_min * step / 60.0;
            d->fail_acc += rates.failed_connects_per_min * step / 60.0;
            d->disc_acc += rates.disconnects_per_hour * step / 3600.0;
            if ((n = take(&d->auth_acc)) > 0 && (p = line_begin(e, LINE_FIXED_MAX)) != NULL) {
                p = put_head(p, nm, t);
                p = PUT_LIT(p, "\"event\":{\"type\":\"authorization-failure\",\"topic\":"
                               "\"ddlocal/denied/");
                p = put(p, nm->thing, nm->thing_len);
                p = PUT_LIT(p, "\",\"repeat\":");
                p = put_u64(p, n);
                p = PUT_LIT(p, "}}\n");
                line_end(e, t, 3, p);
                e->stats.cloud_events += n;
            }
            if ((n = take(&d->fail_acc)) > 0 && (p = line_begin(e, LINE_FIXED_MAX)) != NULL) {
                p = put_head(p, nm, t);
                p = PUT_LIT(p, "\"event\":{\"type\":\"connect\",\"success\":false,\"repeat\":");
                p = put_u64(p, n);
                p = PUT_LIT(p, "}}\n");
                line_end(e, t, 4, p);
                e->stats.cloud_events += n;
            }
            for (n = take(&d->disc_acc); n > 0; n--) {
                add_event_line(e, i, t, 5, "disconnect");
                add_event_line(e, i, t, 6, "connect");
                e->stats.cloud_events += 2;
            }
        }
        t_s += step;
    }
}

/* Sorts one device's lines [from, e->nlines) by (time, seq): a few short sorted runs. */
static void sort_device_lines(emit_t *e, size_t from)
{
    size_t k;
    size_t j;

    for (k = from + 1; k < e->nlines; k++) {
        emit_line_t l = e->lines[k];
        for (j = k;
             j > from && (e->lines[j - 1].time_ms > l.time_ms ||
                          (e->lines[j - 1].time_ms == l.time_ms && e->lines[j - 1].seq > l.seq));
             j--) {
            e->lines[j] = e->lines[j - 1];
        }
        e->lines[j] = l;
    }
}

static int cmp_line(const void *a, const void *b)
{
    const emit_line_t *x = a;
    const emit_line_t *y = b;

    if (x->time_ms != y->time_ms) {
        return x->time_ms < y->time_ms ? -1 : 1;
    }
    if (x->device != y->device) {
        return x->device < y->device ? -1 : 1;
    }
    return (x->seq > y->seq) - (x->seq < y->seq);
}

#define RADIX_BITS 11

/* Line @p l at @p p in out's text (and its time and end in out's index); returns its end. */
static char *copy_line(emit_t *e, emit_out_t *out, const emit_line_t *l, char *p)
{
    memcpy(p, e->arena + l->off, l->len);
    p += l->len;
    if (e->index) {
        out->times[out->nlines] = l->time_ms;
        out->ends[out->nlines] = (size_t)(p - out->data);
        out->nlines++;
    }
    return p;
}

/*
 * The slice's lines in (time, device, seq) order into @p out. They arrive grouped by device
 * (ascending), each device's sorted by (time, seq), so a stable sort by time alone finishes the
 * job: an LSD radix sort of the times' offsets in the slice, 11 bits a pass (a 300 s slice
 * takes two). Lines with equal (time, device, seq) are the same text, so their order does not
 * show. A slice spanning more than 2^32 ms falls back to qsort().
 */
static dd_emit_status_t flush_slice(emit_t *e, emit_out_t *out)
{
    size_t n = e->nlines;
    int64_t tmin = INT64_MAX;
    int64_t tmax = INT64_MIN;
    size_t k;
    char *p;

    if (n == 0) {
        return DD_EMIT_OK;
    }
    if (out->cap - out->len < e->arena_len) {
        size_t cap = out->len + e->arena_len + (out->cap / 2);
        char *d = realloc(out->data, cap);
        if (d == NULL) {
            return DD_EMIT_NO_MEMORY;
        }
        out->data = d;
        out->cap = cap;
    }
    if (e->index && out->lines_cap - out->nlines < n) {
        size_t cap = out->nlines + n + out->lines_cap / 2;
        int64_t *t = realloc(out->times, cap * sizeof(*t));
        size_t *x = t == NULL ? NULL : realloc(out->ends, cap * sizeof(*x));
        if (t != NULL) {
            out->times = t;
        }
        if (x == NULL) {
            return DD_EMIT_NO_MEMORY;
        }
        out->ends = x;
        out->lines_cap = cap;
    }
    p = out->data + out->len;
    for (k = 0; k < n; k++) {
        tmin = e->lines[k].time_ms < tmin ? e->lines[k].time_ms : tmin;
        tmax = e->lines[k].time_ms > tmax ? e->lines[k].time_ms : tmax;
    }
    if ((uint64_t)tmax - (uint64_t)tmin > UINT32_MAX || n > UINT32_MAX) {
        qsort(e->lines, n, sizeof(*e->lines), cmp_line);
        for (k = 0; k < n; k++) {
            p = copy_line(e, out, &e->lines[k], p);
        }
    } else {
        uint64_t span = (uint64_t)tmax - (uint64_t)tmin;
        uint64_t *src;
        uint64_t *dst;
        unsigned shift;

        if (e->order_cap < n) {
            uint64_t *a = realloc(e->order, n * sizeof(*a));
            uint64_t *b = a == NULL ? NULL : realloc(e->order_tmp, n * sizeof(*b));
            if (a != NULL) {
                e->order = a;
            }
            if (b == NULL) {
                return DD_EMIT_NO_MEMORY;
            }
            e->order_tmp = b;
            e->order_cap = n;
        }
        src = e->order;
        dst = e->order_tmp;
        for (k = 0; k < n; k++) {
            src[k] = ((uint64_t)(e->lines[k].time_ms - tmin) << 32) | (uint64_t)k;
        }
        for (shift = 0; shift < 32 && (span >> shift) != 0; shift += RADIX_BITS) {
            size_t count[1u << RADIX_BITS];
            size_t sum = 0;
            uint64_t *t;

            memset(count, 0, sizeof(count));
            for (k = 0; k < n; k++) {
                count[(src[k] >> (32 + shift)) & ((1u << RADIX_BITS) - 1)]++;
            }
            for (k = 0; k < (1u << RADIX_BITS); k++) {
                size_t c = count[k];
                count[k] = sum;
                sum += c;
            }
            for (k = 0; k < n; k++) {
                dst[count[(src[k] >> (32 + shift)) & ((1u << RADIX_BITS) - 1)]++] = src[k];
            }
            t = src;
            src = dst;
            dst = t;
        }
        for (k = 0; k < n; k++) {
            p = copy_line(e, out, &e->lines[(uint32_t)src[k]], p);
        }
    }
    out->len = (size_t)(p - out->data);
    e->nlines = 0;
    e->arena_len = 0;
    return DD_EMIT_OK;
}

/* Slice @p s of the worker's devices, its lines into @p out. */
static dd_emit_status_t run_slice(emit_t *e, uint64_t s, emit_out_t *out)
{
    const dd_scenario_t *sc = e->sc;
    double interval = sc->report_interval_s;
    double from = (double)s * interval;
    double end = fmin((double)(s + 1) * interval, sc->duration_s);
    dd_emit_status_t st = DD_EMIT_OK;
    uint32_t i;

    for (i = e->lo; i < e->hi && st == DD_EMIT_OK; i++) {
        emit_dev_t *d = &e->dev[i - e->lo];
        size_t first = e->nlines;

        e->device = i;
        if (s == 0) {
            add_event_line(e, i, e->start_ms, 0, "connect");
            e->stats.cloud_events++;
        }
        if (d->report_k < dd_scenario_expected_reports(sc, i)) {
            double t = dd_scenario_report_offset_s(sc, i) + (double)d->report_k * interval;
            if (t < end) {
                st = add_report(e, i, t);
                d->report_k++;
            }
        }
        add_telemetry(e, i, end);
        if (e->names[i].cloud) {
            add_cloud(e, i, from, end);
        }
        sort_device_lines(e, first);
    }
    if (st == DD_EMIT_OK && e->oom) {
        st = DD_EMIT_NO_MEMORY;
    }
    if (st == DD_EMIT_OK) {
        st = flush_slice(e, out);
    }
    e->nlines = 0;
    e->arena_len = 0;
    return st;
}

/* Block @p b (its slices) of the worker's devices into @p out. */
static dd_emit_status_t run_block(emit_t *e, uint64_t b, emit_out_t *out)
{
    const emit_run_t *run = e->run;
    uint64_t s = b * run->slices_per_block;
    uint64_t end =
        s + run->slices_per_block < run->slices ? s + run->slices_per_block : run->slices;
    dd_emit_status_t st = DD_EMIT_OK;

    out->len = 0;
    out->nlines = 0;
    for (; s < end && st == DD_EMIT_OK; s++) {
        st = run_slice(e, s, out);
    }
    return st;
}

/* A worker thread: its devices' lines, block after block, into its two buffers in turn. */
static void *worker_main(void *arg)
{
    emit_t *e = arg;
    emit_run_t *run = e->run;
    uint64_t b;

    for (b = 0; b < run->blocks; b++) {
        emit_out_t *out = &e->out[b % 2];
        dd_emit_status_t st;
        bool stop;

        pthread_mutex_lock(&run->mu);
        /* Bounded memory: wait until the writer has taken this buffer's previous block. */
        while (out->ready && !run->abort) {
            pthread_cond_wait(&run->cv, &run->mu);
        }
        stop = run->abort;
        pthread_mutex_unlock(&run->mu);
        if (stop) {
            break;
        }
        st = run_block(e, b, out);
        pthread_mutex_lock(&run->mu);
        out->st = st;
        out->ready = true;
        pthread_cond_broadcast(&run->cv);
        pthread_mutex_unlock(&run->mu);
        if (st != DD_EMIT_OK) {
            break;
        }
    }
    return NULL;
}

/* One thread renders and writes, block after block. */
static dd_emit_status_t run_inline(emit_run_t *run, FILE *out)
{
    emit_t *e = &run->workers[0];
    dd_emit_status_t st = DD_EMIT_OK;
    uint64_t b;

    for (b = 0; b < run->blocks && st == DD_EMIT_OK; b++) {
        st = run_block(e, b, &e->out[0]);
        /* A block that stops short still writes the slices before the one that failed. */
        if (e->out[0].len > 0 && fwrite(e->out[0].data, 1, e->out[0].len, out) != e->out[0].len) {
            st = DD_EMIT_WRITE_FAILED;
        }
    }
    return st;
}

/*
 * Writes the workers' buffers of one block merged by (time, worker): from the buffer whose next
 * line comes first, the run of lines that come before every other buffer's next line, in one
 * fwrite(). Stops at the first buffer that stopped short, as a one-thread run stops at its
 * failing slice (the slices before it are written, not the failing one).
 */
static dd_emit_status_t merge_block(emit_run_t *run, unsigned slot, FILE *fp)
{
    size_t pos[DD_EMIT_MAX_THREADS] = {0};
    dd_emit_status_t st = DD_EMIT_OK;
    unsigned n = run->nworkers;
    unsigned w;

    for (w = 0; w < n; w++) {
        if (st == DD_EMIT_OK) {
            st = run->workers[w].out[slot].st;
        }
    }
    for (;;) {
        const emit_out_t *best = NULL;
        int64_t next = INT64_MAX; /* the first line's time of the other buffers */
        unsigned next_w = n;
        unsigned bw = n;
        size_t from;
        size_t k;

        for (w = 0; w < n; w++) {
            const emit_out_t *o = &run->workers[w].out[slot];
            if (pos[w] == o->nlines) {
                continue;
            }
            if (best == NULL || o->times[pos[w]] < best->times[pos[bw]]) {
                if (best != NULL) {
                    next = best->times[pos[bw]];
                    next_w = bw;
                }
                best = o;
                bw = w;
            } else if (o->times[pos[w]] < next) {
                next = o->times[pos[w]];
                next_w = w;
            }
        }
        if (best == NULL) {
            break;
        }
        /* Equal times: the lower worker (its devices are the lower ones) goes first. */
        k = pos[bw];
        from = k == 0 ? 0 : best->ends[k - 1];
        while (k < best->nlines &&
               (best->times[k] < next || (best->times[k] == next && bw < next_w))) {
            k++;
        }
        if (fwrite(best->data + from, 1, best->ends[k - 1] - from, fp) !=
            best->ends[k - 1] - from) {
            return DD_EMIT_WRITE_FAILED;
        }
        pos[bw] = k;
    }
    return st;
}

/* The workers render; this thread merges and writes their blocks in order. */
static dd_emit_status_t run_threads(emit_run_t *run, FILE *out, unsigned *started)
{
    dd_emit_status_t st = DD_EMIT_OK;
    uint64_t b;
    unsigned w;

    for (w = 0; w < run->nworkers; w++) {
        if (pthread_create(&run->workers[w].thread, NULL, worker_main, &run->workers[w]) != 0) {
            return DD_EMIT_NO_MEMORY;
        }
        (*started)++;
    }
    for (b = 0; b < run->blocks && st == DD_EMIT_OK; b++) {
        pthread_mutex_lock(&run->mu);
        for (w = 0; w < run->nworkers; w++) {
            while (!run->workers[w].out[b % 2].ready) {
                pthread_cond_wait(&run->cv, &run->mu);
            }
        }
        pthread_mutex_unlock(&run->mu);
        st = merge_block(run, (unsigned)(b % 2), out);
        pthread_mutex_lock(&run->mu);
        for (w = 0; w < run->nworkers; w++) {
            run->workers[w].out[b % 2].ready = false;
        }
        pthread_cond_broadcast(&run->cv);
        pthread_mutex_unlock(&run->mu);
    }
    return st;
}

/* The shared per-device text: thing names and telemetry topics as JSON strings. */
static dd_emit_status_t make_names(const dd_scenario_t *sc, emit_name_t *names)
{
    char topic[300];
    uint32_t i;
    int gi;

    for (i = 0; i < sc->devices; i++) {
        emit_name_t *d = &names[i];
        size_t k = 0;
        size_t o = 0;

        dd_scenario_thing_name(sc, i, d->thing, sizeof(d->thing));
        if (sc->telemetry &&
            dd_scenario_telemetry_topic(sc, d->thing, topic, sizeof(topic)) != DD_SCENARIO_OK) {
            return DD_EMIT_BAD_PARAMETER;
        }
        /* The topic as a JSON string (a topic may hold any character but wildcards). */
        d->topic_json[o++] = '"';
        for (k = 0; sc->telemetry && topic[k] != '\0' && o + 8 < sizeof(d->topic_json); k++) {
            unsigned char c = (unsigned char)topic[k];
            if (c == '"' || c == '\\') {
                d->topic_json[o++] = '\\';
                d->topic_json[o++] = (char)c;
            } else if (c < 0x20) {
                o += (size_t)snprintf(d->topic_json + o, sizeof(d->topic_json) - o, "\\u%04x", c);
            } else {
                d->topic_json[o++] = (char)c;
            }
        }
        d->topic_json[o++] = '"';
        d->topic_json[o] = '\0';
        d->topic_json_len = o;
        d->thing_len = strlen(d->thing);
        gi = dd_scenario_group_of(sc, i);
        for (k = 0; gi >= 0 && k < sc->groups[gi].phase_count; k++) {
            d->cloud = d->cloud || sc->groups[gi].phases[k].has_cloud;
        }
    }
    return DD_EMIT_OK;
}

/* A worker at time 0 (every device's state as the live fleet starts it). */
static dd_emit_status_t worker_init(emit_t *e, emit_run_t *run, unsigned id, int64_t start_ms,
                                    const emit_name_t *names)
{
    const dd_scenario_t *sc = run->sc;
    uint32_t i;

    memset(e, 0, sizeof(*e));
    e->sc = sc;
    e->start_ms = start_ms;
    e->names = names;
    e->run = run;
    e->id = id;
    e->index = run->nworkers > 1;
    /* Equal shares of devices (a device's lines cost about the same whatever it does). */
    e->lo = (uint32_t)((uint64_t)sc->devices * id / run->nworkers);
    e->hi = (uint32_t)((uint64_t)sc->devices * (id + 1) / run->nworkers);
    e->dev = calloc(e->hi - e->lo + 1, sizeof(*e->dev));
    e->buf = malloc(DD_REPORT_MAX_PAYLOAD);
    e->cache = dd_report_cache_new();
    if (e->dev == NULL || e->buf == NULL || e->cache == NULL) {
        return DD_EMIT_NO_MEMORY;
    }
    for (i = e->lo; i < e->hi; i++) {
        emit_dev_t *d = &e->dev[i - e->lo];
        d->rng = dd_scenario_device_seed(sc, i);
        d->tel_rng = d->rng ^ 0x9e3779b97f4a7c15ULL;
        d->tel_s = sc->telemetry ? dd_scenario_telemetry_first_s(sc, i) : HUGE_VAL;
    }
    return DD_EMIT_OK;
}

static void worker_free(emit_t *e)
{
    free(e->dev);
    free(e->buf);
    dd_report_cache_free(e->cache);
    free(e->lines);
    free(e->order);
    free(e->order_tmp);
    free(e->arena);
    free(e->out[0].data);
    free(e->out[1].data);
    free(e->out[0].times);
    free(e->out[1].times);
    free(e->out[0].ends);
    free(e->out[1].ends);
}

/* Enough device-slices per block that handing a block over costs nothing next to it. */
#define BLOCK_DEVICE_SLICES 20000

dd_emit_status_t dd_emit_run(const dd_scenario_t *sc, int64_t start_ms, unsigned threads, FILE *out,
                             dd_emit_stats_t *stats)
{
    emit_run_t run;
    emit_name_t *names;
    dd_emit_status_t st;
    unsigned started = 0;
    unsigned w;

    if (sc == NULL || out == NULL || sc->devices == 0 || sc->report_interval_s <= 0 ||
        threads > DD_EMIT_MAX_THREADS) {
        return DD_EMIT_BAD_PARAMETER;
    }
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 1                         ? 1
                  : cpus > DD_EMIT_DEFAULT_THREADS ? DD_EMIT_DEFAULT_THREADS
                                                   : (unsigned)cpus;
    }
    memset(&run, 0, sizeof(run));
    run.sc = sc;
    run.slices = (uint64_t)ceil(sc->duration_s / sc->report_interval_s);
    run.slices_per_block = (BLOCK_DEVICE_SLICES + sc->devices - 1) / sc->devices;
    run.blocks = (run.slices + run.slices_per_block - 1) / run.slices_per_block;
    /* Not more workers than devices (each has a range of them). */
    run.nworkers = threads < sc->devices ? threads : sc->devices;
    names = calloc(sc->devices, sizeof(*names));
    run.workers = calloc(run.nworkers, sizeof(*run.workers));
    if (names == NULL || run.workers == NULL) {
        free(names);
        free(run.workers);
        return DD_EMIT_NO_MEMORY;
    }
    st = make_names(sc, names);
    for (w = 0; w < run.nworkers && st == DD_EMIT_OK; w++) {
        st = worker_init(&run.workers[w], &run, w, start_ms, names);
    }
    if (st == DD_EMIT_OK && run.nworkers == 1) {
        st = run_inline(&run, out);
    } else if (st == DD_EMIT_OK) {
        pthread_mutex_init(&run.mu, NULL);
        pthread_cond_init(&run.cv, NULL);
        st = run_threads(&run, out, &started);
        pthread_mutex_lock(&run.mu);
        run.abort = true;
        pthread_cond_broadcast(&run.cv);
        pthread_mutex_unlock(&run.mu);
        for (w = 0; w < started; w++) {
            pthread_join(run.workers[w].thread, NULL);
        }
        pthread_cond_destroy(&run.cv);
        pthread_mutex_destroy(&run.mu);
    }
    if (st == DD_EMIT_OK && fflush(out) != 0) {
        st = DD_EMIT_WRITE_FAILED;
    }
    if (stats != NULL) {
        memset(stats, 0, sizeof(*stats));
        for (w = 0; w < run.nworkers; w++) {
            stats->lines += run.workers[w].stats.lines;
            stats->reports += run.workers[w].stats.reports;
            stats->telemetry_messages += run.workers[w].stats.telemetry_messages;
            stats->cloud_events += run.workers[w].stats.cloud_events;
        }
    }
    for (w = 0; w < run.nworkers; w++) {
        worker_free(&run.workers[w]);
    }
    free(run.workers);
    free(names);
    return st;
}

const char *dd_emit_strerror(dd_emit_status_t status)
{
    switch (status) {
    case DD_EMIT_OK: return "ok";
    case DD_EMIT_BAD_PARAMETER: return "bad parameter";
    case DD_EMIT_NO_MEMORY: return "out of memory";
    case DD_EMIT_ENCODE_FAILED: return "a report could not be built";
    case DD_EMIT_WRITE_FAILED: return "the output could not be written";
    }
    return "unknown emit status";
}
