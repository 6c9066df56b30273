/*
 * dd_metering: the metering batch codec - every record type round trip,
 * string interning, all-or-nothing appends, and malformed batches refused
 * with a message (every truncation, every bad header field, corruptions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_metering.h"

#define MAX_SEEN 64

/* A decoded record with its strings copied out. */
typedef struct seen_rec {
    dd_metering_record_t rec;
    char key[300];
    char subject[300];
    char ip[300];
    char cert[300];
    bool has_subject;
    bool has_ip;
    bool has_cert;
} seen_rec_t;

typedef struct seen {
    seen_rec_t recs[MAX_SEEN];
    size_t count;
    size_t stop_after; /* 0 = never stop */
    dd_metering_header_t hdr;
} seen_t;

static void copy_str(char *dst, size_t cap, const dd_metering_str_t *s)
{
    assert_true(s->len < cap);
    memcpy(dst, s->ptr, s->len);
    dst[s->len] = '\0';
}

static int collect(void *ctx, const dd_metering_header_t *hdr, const dd_metering_record_t *rec)
{
    seen_t *s = ctx;
    seen_rec_t *r;

    assert_true(s->count < MAX_SEEN);
    s->hdr = *hdr;
    r = &s->recs[s->count++];
    memset(r, 0, sizeof(*r));
    r->rec = *rec;
    copy_str(r->key, sizeof(r->key), &rec->key);
    if (rec->subject.ptr != NULL) {
        r->has_subject = true;
        copy_str(r->subject, sizeof(r->subject), &rec->subject);
    }
    if (rec->ip.ptr != NULL) {
        r->has_ip = true;
        copy_str(r->ip, sizeof(r->ip), &rec->ip);
    }
    if (rec->cert_id.ptr != NULL) {
        r->has_cert = true;
        copy_str(r->cert, sizeof(r->cert), &rec->cert_id);
    }
    return s->stop_after != 0 && s->count >= s->stop_after;
}

static dd_metering_record_t rec_of(dd_metering_type_t type, const char *key, const char *subject,
                                   int64_t t)
{
    dd_metering_record_t r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.time_ms = t;
    r.key = dd_metering_cstr(key);
    r.subject = dd_metering_cstr(subject);
    return r;
}

/* A batch with one record of every type (and a negative time delta). */
static size_t sample_batch(uint8_t *buf, size_t cap, dd_metering_writer_t *w)
{
    dd_metering_record_t r;
    size_t len = 0;

    assert_int_equal(dd_metering_writer_begin(w, buf, cap, 0xabcdef0123456789ull, 7),
                     DD_METERING_OK);
    r = rec_of(DD_METERING_CONNECT, "Thing03", "SensorDevice03", 1700000000000);
    r.registered = true;
    r.success = true;
    r.ip = dd_metering_cstr("192.0.2.7");
    r.cert_id = dd_metering_cstr("ab01cd");
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    r = rec_of(DD_METERING_SENT, "Thing03", "$aws/things/Thing03/defender/metrics/json",
               1700000000010);
    r.registered = true;
    r.bytes = 1234;
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    r = rec_of(DD_METERING_RECEIVED, "Thing03",
               "$aws/things/Thing03/defender/metrics/json/"
               "accepted",
               1700000000020);
    r.registered = true;
    r.bytes = 0xffffffffu;
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    r = rec_of(DD_METERING_AUTH_FAILURE, "client-9", "$aws/things/Thing01/defender/metrics/json",
               1699999999000); /* earlier than the base: negative delta */
    r.action = DD_METERING_ACTION_PUBLISH;
    r.reason = DD_METERING_REASON_POLICY;
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    /* Key and subject equal (an unregistered client's id twice). */
    r = rec_of(DD_METERING_DISCONNECT, "client-9", "client-9", 1700000000030);
    r.takeover = true;
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    /* A failed connect without subject or IP. */
    r = rec_of(DD_METERING_CONNECT, "client-10", NULL, 1700000000040);
    assert_int_equal(dd_metering_writer_add(w, &r), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_count(w), 6);
    assert_int_equal(dd_metering_writer_finish(w, &len), DD_METERING_OK);
    return len;
}

static dd_metering_status_t decode_err(const uint8_t *buf, size_t len, char *err, size_t err_len)
{
    seen_t s;

    memset(&s, 0, sizeof(s));
    return dd_metering_decode(buf, len, NULL, collect, &s, err, err_len);
}

static void expect_malformed(const uint8_t *buf, size_t len, dd_metering_status_t want,
                             const char *msg_part)
{
    char err[200];
    seen_t s;
    dd_metering_status_t st;

    memset(&s, 0, sizeof(s));
    st = dd_metering_decode(buf, len, NULL, collect, &s, err, sizeof(err));
    if (st != want || strstr(err, msg_part) == NULL) {
        print_error("got %s \"%s\", want %s containing \"%s\"\n", dd_metering_strerror(st), err,
                    dd_metering_strerror(want), msg_part);
        fail();
    }
    /* Nothing is reported from a batch that is malformed anywhere. */
    assert_int_equal(s.count, 0);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_dd_metering_round_trip(void **state)
{
    static uint8_t buf[4096];
    dd_metering_writer_t w;
    seen_t s;
    size_t len;
    dd_metering_header_t hdr;

    (void)state;
    len = sample_batch(buf, sizeof(buf), &w);
    assert_memory_equal(buf, "DDMB", 4);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_metering_decode(buf, len, &hdr, collect, &s, NULL, 0), DD_METERING_OK);
    assert_int_equal(hdr.version, DD_METERING_VERSION);
    assert_int_equal(hdr.instance_id, 0xabcdef0123456789ull);
    assert_int_equal(hdr.seq, 7);
    assert_int_equal(hdr.base_time_ms, 1700000000000);
    assert_int_equal(hdr.record_count, 6);
    assert_int_equal(s.count, 6);

    assert_int_equal(s.recs[0].rec.type, DD_METERING_CONNECT);
    assert_true(s.recs[0].rec.registered);
    assert_true(s.recs[0].rec.success);
    assert_string_equal(s.recs[0].key, "Thing03");
    assert_string_equal(s.recs[0].subject, "SensorDevice03");
    assert_true(s.recs[0].has_ip);
    assert_string_equal(s.recs[0].ip, "192.0.2.7");
    assert_true(s.recs[0].has_cert);
    assert_string_equal(s.recs[0].cert, "ab01cd");
    assert_int_equal(s.recs[0].rec.time_ms, 1700000000000);

    assert_int_equal(s.recs[1].rec.type, DD_METERING_SENT);
    assert_int_equal(s.recs[1].rec.bytes, 1234);
    assert_string_equal(s.recs[1].subject, "$aws/things/Thing03/defender/metrics/json");
    assert_int_equal(s.recs[1].rec.time_ms, 1700000000010);
    assert_false(s.recs[1].has_ip);

    assert_int_equal(s.recs[2].rec.type, DD_METERING_RECEIVED);
    assert_int_equal(s.recs[2].rec.bytes, 0xffffffffu);

    assert_int_equal(s.recs[3].rec.type, DD_METERING_AUTH_FAILURE);
    assert_false(s.recs[3].rec.registered);
    assert_string_equal(s.recs[3].key, "client-9");
    assert_int_equal(s.recs[3].rec.action, DD_METERING_ACTION_PUBLISH);
    assert_int_equal(s.recs[3].rec.reason, DD_METERING_REASON_POLICY);
    assert_int_equal(s.recs[3].rec.time_ms, 1699999999000);

    assert_int_equal(s.recs[4].rec.type, DD_METERING_DISCONNECT);
    assert_string_equal(s.recs[4].key, "client-9");
    assert_string_equal(s.recs[4].subject, "client-9");
    assert_true(s.recs[4].rec.takeover);
    assert_false(s.recs[2].rec.takeover);

    assert_int_equal(s.recs[5].rec.type, DD_METERING_CONNECT);
    assert_false(s.recs[5].rec.success);
    assert_false(s.recs[5].has_subject);
    assert_false(s.recs[5].has_ip);
    assert_false(s.recs[5].has_cert);

    /* Validate only, no callback. */
    assert_int_equal(dd_metering_decode(buf, len, &hdr, NULL, NULL, NULL, 0), DD_METERING_OK);

    /* The callback can stop early; that is still OK. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(dd_metering_decode(buf, len, NULL, collect, &s, NULL, 0), DD_METERING_OK);
    assert_int_equal(s.count, 2);
}

static void test_dd_metering_interning(void **state)
{
    static uint8_t buf[65536];
    dd_metering_writer_t w;
    dd_metering_record_t r;
    size_t len1 = 0;
    size_t len2 = 0;
    size_t per_record;
    seen_t s;
    int i;

    (void)state;
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    r = rec_of(DD_METERING_SENT, "Thing01", "a/rather/long/telemetry/topic/name", 1000);
    r.bytes = 100;
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_finish(&w, &len1), DD_METERING_OK);
    for (i = 0; i < 9; i++) {
        assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    }
    assert_int_equal(dd_metering_writer_finish(&w, &len2), DD_METERING_OK);
    /* A repeated record costs its fixed part only: the strings are numbers. */
    per_record = (len2 - len1) / 9;
    assert_true(per_record <= 6);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_metering_decode(buf, len2, NULL, collect, &s, NULL, 0), DD_METERING_OK);
    assert_int_equal(s.count, 10);
    assert_string_equal(s.recs[9].subject, "a/rather/long/telemetry/topic/name");

    /* Many distinct strings: the index caps them per batch (FULL, not a hang). */
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 2), DD_METERING_OK);
    for (i = 0; i < 10000; i++) {
        char key[32];
        dd_metering_status_t st;

        (void)snprintf(key, sizeof(key), "client-%d", i);
        r = rec_of(DD_METERING_DISCONNECT, key, NULL, 1000 + i);
        st = dd_metering_writer_add(&w, &r);
        if (st == DD_METERING_FULL) {
            break;
        }
        assert_int_equal(st, DD_METERING_OK);
    }
    assert_true(i > 100 && i <= DD_METERING_INTERN_SLOTS);
    assert_int_equal(dd_metering_writer_finish(&w, &len1), DD_METERING_OK);
    assert_int_equal(dd_metering_decode(buf, len1, NULL, NULL, NULL, NULL, 0), DD_METERING_OK);
}

static void test_dd_metering_full_is_all_or_nothing(void **state)
{
    static uint8_t buf[DD_METERING_MIN_BUFFER];
    dd_metering_writer_t w;
    dd_metering_record_t r;
    size_t before = 0;
    size_t after = 0;
    char subject[64];
    int n = 0;
    seen_t s;

    (void)state;
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 9, 1), DD_METERING_OK);
    for (;;) {
        dd_metering_status_t st;

        (void)snprintf(subject, sizeof(subject), "topic/number/%d", n);
        r = rec_of(DD_METERING_SENT, "Thing01", subject, 5);
        assert_int_equal(dd_metering_writer_finish(&w, &before), DD_METERING_OK);
        st = dd_metering_writer_add(&w, &r);
        if (st == DD_METERING_FULL) {
            break;
        }
        assert_int_equal(st, DD_METERING_OK);
        n++;
    }
    /* The refused record left no trace: same length, same count, decodes. */
    assert_int_equal(dd_metering_writer_finish(&w, &after), DD_METERING_OK);
    assert_int_equal(before, after);
    assert_int_equal(dd_metering_writer_count(&w), n);
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_metering_decode(buf, after, NULL, collect, &s, NULL, 0), DD_METERING_OK);
    assert_int_equal(s.count, (size_t)n);

    /* After a new batch the same record fits. */
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 9, 2), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);

    /* Larger than any batch of this size. */
    {
        char big[DD_METERING_MIN_BUFFER];

        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        r = rec_of(DD_METERING_SENT, "Thing01", big, 5);
        assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_TOO_LARGE);
        assert_int_equal(dd_metering_writer_count(&w), 1);
    }
}

static void test_dd_metering_writer_bad_parameters(void **state)
{
    static uint8_t buf[1024];
    static char huge[DD_METERING_STRING_MAX + 2];
    dd_metering_writer_t w;
    dd_metering_record_t r;
    size_t len;

    (void)state;
    assert_int_equal(dd_metering_writer_begin(NULL, buf, sizeof(buf), 1, 1),
                     DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_begin(&w, NULL, sizeof(buf), 1, 1),
                     DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_begin(&w, buf, DD_METERING_MIN_BUFFER - 1, 1, 1),
                     DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_add(&w, NULL), DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_finish(&w, NULL), DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_count(NULL), 0);

    r = rec_of((dd_metering_type_t)0, "k", NULL, 0);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of((dd_metering_type_t)6, "k", NULL, 0);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of(DD_METERING_SENT, NULL, NULL, 0);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of(DD_METERING_SENT, "", NULL, 0);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of(DD_METERING_AUTH_FAILURE, "k", NULL, 0);
    r.action = (dd_metering_action_t)4;
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r.action = DD_METERING_ACTION_RECEIVE;
    r.reason = DD_METERING_REASON_COUNT;
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of(DD_METERING_CONNECT, "k", NULL, 0);
    r.takeover = true; /* DISCONNECT only */
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    memset(huge, 'h', sizeof(huge) - 1);
    r = rec_of(DD_METERING_CONNECT, "k", NULL, 0);
    r.cert_id.ptr = huge;
    r.cert_id.len = sizeof(huge) - 1;
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    r = rec_of(DD_METERING_SENT, "k", huge, 0);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    /* A time delta that overflows. */
    r = rec_of(DD_METERING_SENT, "k", NULL, INT64_MAX);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    r = rec_of(DD_METERING_SENT, "k", NULL, INT64_MIN);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_BAD_PARAMETER);
    assert_int_equal(dd_metering_writer_count(&w), 1);
    /* An empty batch is valid. */
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_finish(&w, &len), DD_METERING_OK);
    assert_int_equal(len, DD_METERING_HEADER_LEN);
    assert_int_equal(dd_metering_decode(buf, len, NULL, collect, NULL, NULL, 0), DD_METERING_OK);
    assert_int_equal(dd_metering_decode(NULL, 0, NULL, NULL, NULL, NULL, 0),
                     DD_METERING_BAD_PARAMETER);
}

static void test_dd_metering_malformed_header(void **state)
{
    static uint8_t buf[4096];
    static uint8_t bad[4096];
    dd_metering_writer_t w;
    size_t len = sample_batch(buf, sizeof(buf), &w);

    (void)state;
    memcpy(bad, buf, len);
    bad[0] = 'X';
    expect_malformed(bad, len, DD_METERING_MALFORMED, "bad magic");
    expect_malformed(buf, 3, DD_METERING_MALFORMED, "bad magic");

    memcpy(bad, buf, len);
    bad[4] = 3;
    expect_malformed(bad, len, DD_METERING_UNSUPPORTED, "version 3");
    bad[4] = 0;
    expect_malformed(bad, len, DD_METERING_UNSUPPORTED, "version 0");
    memcpy(bad, buf, len);
    bad[5] = 0x80;
    expect_malformed(bad, len, DD_METERING_UNSUPPORTED, "flags 0x80");

    /* Header length below 40, or longer than the data. */
    memcpy(bad, buf, len);
    bad[6] = 39;
    expect_malformed(bad, len, DD_METERING_MALFORMED, "truncated header");
    expect_malformed(buf, DD_METERING_HEADER_LEN - 1, DD_METERING_MALFORMED, "truncated header");

    /* Body length that disagrees with the message size. */
    memcpy(bad, buf, len);
    bad[36]++;
    expect_malformed(bad, len, DD_METERING_MALFORMED, "body length");
    expect_malformed(buf, len + 1, DD_METERING_MALFORMED, "body length");

    /* Record count that disagrees with the body. */
    memcpy(bad, buf, len);
    bad[32]++;
    expect_malformed(bad, len, DD_METERING_MALFORMED, "header says 7 records, body has 6");
}

static void test_dd_metering_malformed_body(void **state)
{
    static uint8_t buf[512];
    dd_metering_writer_t w;
    dd_metering_record_t r;
    size_t len = 0;
    uint8_t *body = buf + DD_METERING_HEADER_LEN;

    (void)state;
    /* One DISCONNECT: [0x00 len "k"] [0x05 flags time key subject] */
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    r = rec_of(DD_METERING_DISCONNECT, "k", NULL, 100);
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_finish(&w, &len), DD_METERING_OK);
    assert_int_equal(len, DD_METERING_HEADER_LEN + 3 + 5);
    assert_int_equal(body[0], 0x00);
    assert_int_equal(body[3], DD_METERING_DISCONNECT);

    body[3] = 0x09;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown entry type 0x09 at byte 43");
    body[3] = DD_METERING_DISCONNECT;

    body[4] = 0x08; /* unknown flag */
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown record flags 0x08");
    body[4] = 0x04; /* takeover: version 2 only */
    assert_int_equal(dd_metering_decode(buf, len, NULL, NULL, NULL, NULL, 0), DD_METERING_OK);
    buf[4] = 1;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown record flags 0x04");
    buf[4] = DD_METERING_VERSION;
    body[4] = 0x02; /* success on a DISCONNECT */
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown record flags 0x02");
    body[4] = 0x00;

    body[6] = 1; /* key refers to string 1, never defined */
    expect_malformed(buf, len, DD_METERING_MALFORMED, "undefined string");
    body[6] = 0;
    body[7] = 2; /* subject string 1 */
    expect_malformed(buf, len, DD_METERING_MALFORMED, "undefined string");
    body[7] = 0;

    body[1] = 7; /* string longer than the rest of the body */
    expect_malformed(buf, len, DD_METERING_MALFORMED, "bad string definition");
    body[1] = 1;

    assert_int_equal(dd_metering_decode(buf, len, NULL, NULL, NULL, NULL, 0), DD_METERING_OK);

    /* A record before its string is defined. */
    {
        uint8_t sw[8];

        memcpy(sw, body, 8);
        memcpy(body, sw + 3, 5);
        memcpy(body + 5, sw, 3);
        expect_malformed(buf, len, DD_METERING_MALFORMED, "undefined string");
        memcpy(body, sw, 8);
    }

    /* AUTH_FAILURE with an unknown reason; a varint running off the end. */
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    r = rec_of(DD_METERING_AUTH_FAILURE, "k", NULL, 100);
    r.action = DD_METERING_ACTION_SUBSCRIBE;
    r.reason = DD_METERING_REASON_RESERVED_TOPIC;
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_finish(&w, &len), DD_METERING_OK);
    assert_int_equal(buf[len - 1], DD_METERING_REASON_RESERVED_TOPIC);
    buf[len - 1] = DD_METERING_REASON_COUNT;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown action 2 or reason 9");
    buf[len - 1] = DD_METERING_REASON_POLICY;
    buf[len - 2] = 4;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "unknown action 4");
    buf[len - 2] = DD_METERING_ACTION_SUBSCRIBE;
    body[5] = 0x80; /* time varint continues into key, subject, action, reason... and ends */
    body[6] = 0x80;
    body[7] = 0x80;
    body[8] = 0x80;
    body[9] = 0x80;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "truncated record");
}

/* A version 1 batch (an older shim): CONNECT without the certificate id. */
static void test_dd_metering_version1_still_decoded(void **state)
{
    static uint8_t buf[512];
    dd_metering_writer_t w;
    dd_metering_record_t r;
    seen_t s;
    size_t len = 0;

    (void)state;
    assert_int_equal(dd_metering_writer_begin(&w, buf, sizeof(buf), 1, 1), DD_METERING_OK);
    r = rec_of(DD_METERING_CONNECT, "Thing01", "Thing01", 100);
    r.success = true;
    r.ip = dd_metering_cstr("127.0.0.1");
    assert_int_equal(dd_metering_writer_add(&w, &r), DD_METERING_OK);
    assert_int_equal(dd_metering_writer_finish(&w, &len), DD_METERING_OK);
    assert_int_equal(buf[len - 1], 0); /* no certificate id */
    len--;
    buf[4] = 1;
    buf[36]--;
    memset(&s, 0, sizeof(s));
    assert_int_equal(dd_metering_decode(buf, len, NULL, collect, &s, NULL, 0), DD_METERING_OK);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.recs[0].ip, "127.0.0.1");
    assert_false(s.recs[0].has_cert);
    /* The same bytes as version 2 lack the certificate id field. */
    buf[4] = 2;
    expect_malformed(buf, len, DD_METERING_MALFORMED, "bad certificate id reference");
}

static void test_dd_metering_every_truncation_refused(void **state)
{
    static uint8_t buf[4096];
    static uint8_t copy[4096];
    dd_metering_writer_t w;
    size_t len = sample_batch(buf, sizeof(buf), &w);
    size_t cut;
    char err[200];

    (void)state;
    for (cut = 0; cut < len; cut++) {
        dd_metering_status_t st;

        /* The body-length field is patched to match, so the walk itself must
         * notice the cut record. */
        memcpy(copy, buf, cut);
        if (cut >= DD_METERING_HEADER_LEN) {
            uint32_t body = (uint32_t)(cut - DD_METERING_HEADER_LEN);

            copy[36] = (uint8_t)body;
            copy[37] = (uint8_t)(body >> 8);
            copy[38] = 0;
            copy[39] = 0;
        }
        st = decode_err(copy, cut, err, sizeof(err));
        if (st == DD_METERING_OK) {
            print_error("a batch cut at %zu of %zu bytes was accepted\n", cut, len);
            fail();
        }
        assert_true(err[0] != '\0');
    }
}

static void test_dd_metering_corruption_never_crashes(void **state)
{
    static uint8_t buf[4096];
    static uint8_t copy[4096];
    dd_metering_writer_t w;
    size_t len = sample_batch(buf, sizeof(buf), &w);
    size_t i;
    unsigned v;
    size_t refused = 0;

    (void)state;
    /* Every byte of the body set to every value: decode either accepts a
     * consistent batch or refuses it; ASan/UBSan watch for the rest. */
    for (i = DD_METERING_HEADER_LEN; i < len; i++) {
        for (v = 0; v < 256; v++) {
            seen_t s;

            memcpy(copy, buf, len);
            copy[i] = (uint8_t)v;
            memset(&s, 0, sizeof(s));
            if (dd_metering_decode(copy, len, NULL, collect, &s, NULL, 0) != DD_METERING_OK) {
                refused++;
                assert_int_equal(s.count, 0);
            }
        }
    }
    assert_true(refused > 0);
}

static void test_dd_metering_names(void **state)
{
    (void)state;
    assert_string_equal(dd_metering_type_name(DD_METERING_AUTH_FAILURE), "AUTH_FAILURE");
    assert_string_equal(dd_metering_type_name((dd_metering_type_t)0), "?");
    assert_string_equal(dd_metering_action_name(DD_METERING_ACTION_SUBSCRIBE), "iot:Subscribe");
    assert_string_equal(dd_metering_action_name((dd_metering_action_t)9), "?");
    assert_string_equal(dd_metering_reason_name(DD_METERING_REASON_PAYLOAD_TOO_LARGE),
                        "payload-too-large");
    assert_string_equal(dd_metering_reason_name(DD_METERING_REASON_COUNT), "?");
    assert_string_equal(dd_metering_strerror(DD_METERING_FULL), "batch full");
    assert_string_equal(dd_metering_strerror((dd_metering_status_t)99), "unknown status");
    assert_null(dd_metering_cstr(NULL).ptr);
    assert_int_equal(dd_metering_cstr("abc").len, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_metering_round_trip),
        cmocka_unit_test(test_dd_metering_interning),
        cmocka_unit_test(test_dd_metering_full_is_all_or_nothing),
        cmocka_unit_test(test_dd_metering_writer_bad_parameters),
        cmocka_unit_test(test_dd_metering_malformed_header),
        cmocka_unit_test(test_dd_metering_malformed_body),
        cmocka_unit_test(test_dd_metering_version1_still_decoded),
        cmocka_unit_test(test_dd_metering_every_truncation_refused),
        cmocka_unit_test(test_dd_metering_corruption_never_crashes),
        cmocka_unit_test(test_dd_metering_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
