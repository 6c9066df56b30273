/*
 * ddlocal fleet --emit (dd_emit.h): the scenario as replay lines, one report
 * interval ("slice") at a time, each slice's lines sorted by time.
 */
#include "dd_emit.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

/* What carries over from one slice to the next for a device. */
typedef struct emit_dev {
    char thing[128];
    size_t thing_len;
    char topic_json[400]; /* the telemetry topic as a JSON string, quotes included */
    size_t topic_json_len;
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

typedef struct emit {
    const dd_scenario_t *sc;
    int64_t start_ms;
    emit_dev_t *dev;
    emit_line_t *lines;
    size_t nlines;
    size_t lines_cap;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
    dd_report_cache_t *cache; /* the last report's encoding, reused while only numbers change */
    uint8_t *buf;             /* an encoded report */
    char *hex;                /* a CBOR report as hex */
    char payload[DD_REPORT_MAX_PAYLOAD];
    dd_emit_stats_t stats;
    bool oom;
} emit_t;

/* Room for the longest line but a report's: JSON punctuation, two thing names, a topic, numbers. */
#define LINE_FIXED_MAX \
    (512 + 2 * sizeof(((emit_dev_t *)0)->thing) + sizeof(((emit_dev_t *)0)->topic_json))

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
static void line_end(emit_t *e, int64_t time_ms, uint32_t device, uint32_t seq, const char *end)
{
    size_t n = (size_t)(end - (e->arena + e->arena_len));

    e->lines[e->nlines].time_ms = time_ms;
    e->lines[e->nlines].device = device;
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

/* The decimal digits of @p v, as %PRIu64 prints them. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
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

/* The start every line shares: {"thing":"THING","time":T, */
static char *put_head(char *p, const emit_dev_t *d, int64_t t)
{
    p = PUT_LIT(p, "{\"thing\":\"");
    p = put(p, d->thing, d->thing_len);
    p = PUT_LIT(p, "\",\"time\":");
    p = put_i64(p, t);
    return PUT_LIT(p, ",");
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
    emit_dev_t *d = &e->dev[i];
    int64_t t = abs_ms(e, t_s);
    dd_report_t r;
    size_t len = 0;
    size_t k;
    char *p;

    memset(&r, 0, sizeof(r));
    if (dd_scenario_report(sc, i, t_s, &d->rng, (uint64_t)t, &r) != DD_SCENARIO_OK ||
        dd_report_encode_cached(e->cache, &r, sc->format, sc->keys, e->buf, DD_REPORT_MAX_PAYLOAD,
                                &len) != DD_REPORT_OK) {
        dd_report_free(&r);
        return DD_EMIT_ENCODE_FAILED;
    }
    dd_report_free(&r);
    if ((p = line_begin(e, LINE_FIXED_MAX + 2 * len)) == NULL) {
        return DD_EMIT_OK; /* e->oom: the caller stops */
    }
    p = put_head(p, d, t);
    if (sc->format == DD_REPORT_FORMAT_JSON) {
        p = PUT_LIT(p, "\"report\":");
        p = put(p, (const char *)e->buf, len);
        p = PUT_LIT(p, "}\n");
    } else {
        static const char HEX[] = "0123456789abcdef";
        p = PUT_LIT(p, "\"cbor\":\"");
        for (k = 0; k < len; k++) {
            *p++ = HEX[e->buf[k] >> 4];
            *p++ = HEX[e->buf[k] & 15];
        }
        p = PUT_LIT(p, "\"}\n");
    }
    line_end(e, t, i, 1, p);
    e->stats.reports++;
    /* The broker meters the report itself and the /accepted reply it delivers, as live. */
    {
        const char *fmt = sc->format == DD_REPORT_FORMAT_JSON ? "json" : "cbor";
        unsigned cls = time_class(t);
        size_t reply_len = d->reply_len;
        uint8_t reply[512];
        int sent;

        if (cls == 0 || cls != d->reply_class) {
            if (dd_report_encode_accepted(sc->format, d->thing, (uint64_t)t, t, reply,
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
            p = put_head(p, d, t);
            p = sent ? PUT_LIT(p, "\"event\":{\"type\":\"message-sent\",\"topic\":\"$aws/things/")
                     : PUT_LIT(p,
                               "\"event\":{\"type\":\"message-received\",\"topic\":\"$aws/things/");
            p = put(p, d->thing, d->thing_len);
            p = PUT_LIT(p, "/defender/metrics/");
            p = put(p, fmt, 4);
            if (!sent) {
                p = PUT_LIT(p, "/accepted");
            }
            p = PUT_LIT(p, "\",\"size\":");
            p = put_u64(p, sent ? len : reply_len);
            p = PUT_LIT(p, "}}\n");
            line_end(e, t, i, sent ? 7 : 8, p);
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
    if (dd_sensor_payload(0, &e->dev[i].tel_rng, e->payload, sizeof(e->payload), &len) !=
        DD_SENSOR_OK) {
        return 0;
    }
    return len;
}

/* Device @p i's telemetry before @p end_s: one message-sent line per minute and size. */
static void add_telemetry(emit_t *e, uint32_t i, double end_s)
{
    const dd_scenario_t *sc = e->sc;
    emit_dev_t *d = &e->dev[i];

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
        p = put_head(p, d, first);
        p = PUT_LIT(p, "\"event\":{\"type\":\"message-sent\",\"topic\":");
        p = put(p, d->topic_json, d->topic_json_len);
        p = PUT_LIT(p, ",\"size\":");
        p = put_u64(p, size);
        p = PUT_LIT(p, ",\"repeat\":");
        p = put_u64(p, count);
        p = PUT_LIT(p, "}}\n");
        line_end(e, first, i, 2, p);
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
    p = put_head(p, &e->dev[i], t);
    p = PUT_LIT(p, "\"event\":{\"type\":\"");
    p = put(p, type, strlen(type));
    p = PUT_LIT(p, "\"}}\n");
    line_end(e, t, i, seq, p);
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
    emit_dev_t *d = &e->dev[i];
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
                p = put_head(p, d, t);
                p = PUT_LIT(p, "\"event\":{\"type\":\"authorization-failure\",\"topic\":"
                               "\"ddlocal/denied/");
                p = put(p, d->thing, d->thing_len);
                p = PUT_LIT(p, "\",\"repeat\":");
                p = put_u64(p, n);
                p = PUT_LIT(p, "}}\n");
                line_end(e, t, i, 3, p);
                e->stats.cloud_events += n;
            }
            if ((n = take(&d->fail_acc)) > 0 && (p = line_begin(e, LINE_FIXED_MAX)) != NULL) {
                p = put_head(p, d, t);
                p = PUT_LIT(p, "\"event\":{\"type\":\"connect\",\"success\":false,\"repeat\":");
                p = put_u64(p, n);
                p = PUT_LIT(p, "}}\n");
                line_end(e, t, i, 4, p);
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

static dd_emit_status_t flush_slice(emit_t *e, FILE *out)
{
    size_t k;

    qsort(e->lines, e->nlines, sizeof(*e->lines), cmp_line);
    for (k = 0; k < e->nlines; k++) {
        if (fwrite(e->arena + e->lines[k].off, 1, e->lines[k].len, out) != e->lines[k].len) {
            return DD_EMIT_WRITE_FAILED;
        }
    }
    e->nlines = 0;
    e->arena_len = 0;
    return DD_EMIT_OK;
}

static dd_emit_status_t setup(emit_t *e)
{
    const dd_scenario_t *sc = e->sc;
    char topic[300];
    uint32_t i;

    e->dev = calloc(sc->devices, sizeof(*e->dev));
    e->buf = malloc(DD_REPORT_MAX_PAYLOAD);
    e->hex = malloc(2 * DD_REPORT_MAX_PAYLOAD);
    e->cache = dd_report_cache_new();
    if (e->dev == NULL || e->buf == NULL || e->hex == NULL || e->cache == NULL) {
        return DD_EMIT_NO_MEMORY;
    }
    for (i = 0; i < sc->devices; i++) {
        emit_dev_t *d = &e->dev[i];
        size_t k = 0;
        size_t o = 0;

        dd_scenario_thing_name(sc, i, d->thing, sizeof(d->thing));
        d->rng = dd_scenario_device_seed(sc, i);
        d->tel_rng = d->rng ^ 0x9e3779b97f4a7c15ULL;
        d->tel_s = sc->telemetry ? dd_scenario_telemetry_first_s(sc, i) : HUGE_VAL;
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
    }
    return DD_EMIT_OK;
}

dd_emit_status_t dd_emit_run(const dd_scenario_t *sc, int64_t start_ms, FILE *out,
                             dd_emit_stats_t *stats)
{
    emit_t e;
    dd_emit_status_t st;
    double interval;
    uint64_t slices;
    uint64_t s;
    uint32_t i;

    if (sc == NULL || out == NULL || sc->devices == 0 || sc->report_interval_s <= 0) {
        return DD_EMIT_BAD_PARAMETER;
    }
    memset(&e, 0, sizeof(e));
    e.sc = sc;
    e.start_ms = start_ms;
    st = setup(&e);
    interval = sc->report_interval_s;
    slices = (uint64_t)ceil(sc->duration_s / interval);
    for (i = 0; st == DD_EMIT_OK && i < sc->devices; i++) {
        add_event_line(&e, i, start_ms, 0, "connect");
        e.stats.cloud_events++;
    }
    for (s = 0; st == DD_EMIT_OK && s < slices; s++) {
        double from = (double)s * interval;
        double end = fmin((double)(s + 1) * interval, sc->duration_s);

        for (i = 0; st == DD_EMIT_OK && i < sc->devices; i++) {
            emit_dev_t *d = &e.dev[i];
            if (d->report_k < dd_scenario_expected_reports(sc, i)) {
                double t = dd_scenario_report_offset_s(sc, i) + (double)d->report_k * interval;
                if (t < end) {
                    st = add_report(&e, i, t);
                    d->report_k++;
                }
            }
            add_telemetry(&e, i, end);
            add_cloud(&e, i, from, end);
        }
        if (st == DD_EMIT_OK && e.oom) {
            st = DD_EMIT_NO_MEMORY;
        }
        if (st == DD_EMIT_OK) {
            st = flush_slice(&e, out);
        }
    }
    if (st == DD_EMIT_OK && fflush(out) != 0) {
        st = DD_EMIT_WRITE_FAILED;
    }
    if (stats != NULL) {
        *stats = e.stats;
    }
    free(e.dev);
    free(e.buf);
    free(e.hex);
    dd_report_cache_free(e.cache);
    free(e.lines);
    free(e.arena);
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
