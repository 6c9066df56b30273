#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dd_agent.h"
#include "dd_clock.h"
#include "dd_devclock.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_pki.h"
#include "dd_report.h"

#define FIX_PROC DD_SOURCE_DIR "/fixtures/proc/typical"

/* parse(o, msg, len, "arg", ..., NULL) */
static dd_agent_status_t parse_args(dd_agent_options_t *o, char *msg, size_t len, ...)
{
    char *argv[64];
    va_list ap;
    int argc = 1;
    char *a;

    argv[0] = (char *)"ddlocal-agent";
    va_start(ap, len);
    while ((a = va_arg(ap, char *)) != NULL && argc < 63) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    msg[0] = '\0';
    return dd_agent_parse_args(argc, argv, o, msg, len);
}

#define parse(o, msg, len, ...) parse_args(o, msg, len, __VA_ARGS__, (char *)NULL)

/* The workshop's Module 4 command line, exactly as typed. */
static void test_dd_agent_args_workshop(void **state)
{
    dd_agent_options_t o;
    char msg[256];

    (void)state;
    assert_int_equal(parse(&o, msg, sizeof(msg), "--endpoint",
                           "abc123-ats.iot.us-east-1.amazonaws.com", "--rootCA", "/tmp/rootca.pem",
                           "--cert", "/tmp/cert.pem", "--key", "/tmp/private.key", "--client_id",
                           "SensorDevice03", "--thing_name", "Thing03", "--format", "json", "-i",
                           "300"),
                     DD_AGENT_OK);
    assert_string_equal(o.host, "abc123-ats.iot.us-east-1.amazonaws.com");
    assert_int_equal(o.port, 8883);
    assert_null(o.alpn);
    assert_string_equal(o.root_ca, "/tmp/rootca.pem");
    assert_string_equal(o.cert, "/tmp/cert.pem");
    assert_string_equal(o.key, "/tmp/private.key");
    assert_string_equal(o.client_id, "SensorDevice03");
    assert_string_equal(o.thing_name, "Thing03");
    assert_int_equal(o.format, DD_REPORT_FORMAT_JSON);
    assert_int_equal(o.keys, DD_REPORT_KEYS_LONG);
    assert_true(o.interval_s == 300.0);
    assert_false(o.dry_run);
    assert_false(o.include_cpu);
    assert_int_equal(o.count, 0);
    dd_agent_options_free(&o);
}

static void test_dd_agent_args_short_forms(void **state)
{
    dd_agent_options_t o;
    char msg[256];

    (void)state;
    /* The Python agent's single-dash two-letter flags, and a fractional interval. */
    assert_int_equal(parse(&o, msg, sizeof(msg), "-e", "127.0.0.1:18883", "-r", "ca.pem", "-c",
                           "c.pem", "-k", "k.pem", "-id", "Dev1", "-f", "cbor", "-i", "0.1", "-cm",
                           "-s", "--once", "--proc-root", "/tmp/p"),
                     DD_AGENT_OK);
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 18883);
    assert_string_equal(o.thing_name, "Dev1");
    assert_int_equal(o.format, DD_REPORT_FORMAT_CBOR);
    assert_int_equal(o.keys, DD_REPORT_KEYS_SHORT);
    assert_true(o.interval_s > 0.0999 && o.interval_s < 0.1001);
    assert_true(o.include_cpu);
    assert_int_equal(o.count, 1);
    assert_string_equal(o.proc_root, "/tmp/p");
    dd_agent_options_free(&o);

    /* Port 443 offers AWS's ALPN; --port wins over the endpoint's port. */
    assert_int_equal(parse(&o, msg, sizeof(msg), "--endpoint=example.com", "--port=443",
                           "--rootCA=a", "--cert=b", "--key=c", "--client-id", "X",
                           "--include-custom-metrics", "--count", "5", "--short-names"),
                     DD_AGENT_OK);
    assert_int_equal(o.port, 443);
    assert_string_equal(o.alpn, DD_AGENT_ALPN_AWS);
    assert_int_equal(o.count, 5);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-e", "[::1]:9000", "-r", "a", "-c", "b", "-k",
                           "c", "-id", "X", "--alpn", ""),
                     DD_AGENT_OK);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 9000);
    dd_agent_options_free(&o);

    /* Dry run needs no connection settings. */
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d"), DD_AGENT_OK);
    assert_true(o.dry_run);
    assert_null(o.thing_name);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "--help"), DD_AGENT_HELP);
    dd_agent_options_free(&o);
}

static void test_dd_agent_args_errors(void **state)
{
    dd_agent_options_t o;
    char msg[256];

    (void)state;
    assert_int_equal(parse(&o, msg, sizeof(msg), "-r", "ca"), DD_AGENT_USAGE);
    assert_non_null(strstr(msg, "--endpoint"));
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-f", "xml"), DD_AGENT_USAGE);
    assert_non_null(strstr(msg, "json or cbor"));
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-i", "-5"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-i", "fast"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "--bogus"), DD_AGENT_USAGE);
    assert_non_null(strstr(msg, "--bogus"));
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-i"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "--once=1"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-t", "bad/name"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "--port", "70000"), DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "--custom-metric", "m:float:file:/x"),
                     DD_AGENT_USAGE);
    dd_agent_options_free(&o);
    assert_int_equal(dd_agent_parse_args(1, NULL, NULL, NULL, 0), DD_AGENT_BAD_PARAMETER);
}

static void test_dd_agent_topic(void **state)
{
    char buf[128];

    (void)state;
    assert_int_equal(dd_agent_topic("Thing03", DD_REPORT_FORMAT_JSON, "", buf, sizeof(buf)),
                     DD_AGENT_OK);
    assert_string_equal(buf, "$aws/things/Thing03/defender/metrics/json");
    assert_int_equal(dd_agent_topic("T", DD_REPORT_FORMAT_CBOR, "/rejected", buf, sizeof(buf)),
                     DD_AGENT_OK);
    assert_string_equal(buf, "$aws/things/T/defender/metrics/cbor/rejected");
    assert_int_equal(dd_agent_topic("T", DD_REPORT_FORMAT_CBOR, "", buf, 10), DD_AGENT_USAGE);
}

static void test_dd_agent_replies(void **state)
{
    dd_agent_reply_t r;
    uint8_t buf[512];
    size_t len = 0;
    static const char ACCEPTED[] = "{\"thingName\":\"DefenderTestThing\",\"reportId\":1795836772,"
                                   "\"status\":\"ACCEPTED\",\"timestamp\":1795836772000}";
    static const char REJECTED[] = "{\"thingName\":\"myThing\",\"status\":\"REJECTED\","
                                   "\"statusDetails\":{\"ErrorCode\":\"InvalidPayload\","
                                   "\"ErrorMessage\":\"Malformed metrics report\"},"
                                   "\"timestamp\":1635802047699}";

    (void)state;
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, ACCEPTED, sizeof(ACCEPTED) - 1,
                                          &r),
                     DD_AGENT_OK);
    assert_true(r.accepted);
    assert_true(r.has_report_id);
    assert_int_equal(r.report_id, 1795836772ULL);
    assert_int_equal(r.timestamp_ms, 1795836772000LL);
    assert_string_equal(r.thing_name, "DefenderTestThing");
    /* With the NUL some producers append. */
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, ACCEPTED, sizeof(ACCEPTED), &r),
                     DD_AGENT_OK);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, REJECTED, sizeof(REJECTED) - 1,
                                          &r),
                     DD_AGENT_OK);
    assert_false(r.accepted);
    assert_false(r.has_report_id);
    assert_string_equal(r.error_code, "InvalidPayload");
    assert_string_equal(r.error_message, "Malformed metrics report");

    /* CBOR replies as ddlocal encodes them. */
    assert_int_equal(dd_report_encode_accepted(DD_REPORT_FORMAT_CBOR, "T1", 1700000000123ULL,
                                               1700000000999LL, buf, sizeof(buf), &len),
                     DD_REPORT_OK);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_CBOR, buf, len, &r), DD_AGENT_OK);
    assert_true(r.accepted);
    assert_int_equal(r.report_id, 1700000000123ULL);
    assert_string_equal(r.thing_name, "T1");
    assert_int_equal(dd_report_encode_rejected(DD_REPORT_FORMAT_CBOR, "T1", true, 42,
                                               "InvalidPayload", "Malformed metrics report", 5, buf,
                                               sizeof(buf), &len),
                     DD_REPORT_OK);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_CBOR, buf, len, &r), DD_AGENT_OK);
    assert_false(r.accepted);
    assert_int_equal(r.report_id, 42);
    assert_string_equal(r.error_code, "InvalidPayload");

    /* Not replies. */
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, "{}", 2, &r),
                     DD_AGENT_INVALID_REPLY);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, "23.45", 5, &r),
                     DD_AGENT_INVALID_REPLY);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, "{\"status\":\"MAYBE\"}", 18, &r),
                     DD_AGENT_INVALID_REPLY);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_CBOR, "\xff", 1, &r),
                     DD_AGENT_INVALID_REPLY);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, "", 0, &r),
                     DD_AGENT_INVALID_REPLY);
    assert_int_equal(dd_agent_parse_reply(DD_REPORT_FORMAT_JSON, "x", 1, NULL),
                     DD_AGENT_BAD_PARAMETER);
}

/* Reads the lines the dry run printed. */
static size_t read_lines(FILE *fp, char lines[][8192], size_t max)
{
    size_t n = 0;

    rewind(fp);
    while (n < max && fgets(lines[n], 8192, fp) != NULL) {
        lines[n][strcspn(lines[n], "\n")] = '\0';
        n++;
    }
    return n;
}

static void test_dd_agent_dry_run_json(void **state)
{
    dd_agent_options_t o;
    dd_agent_stats_t st;
    char msg[256];
    static char lines[4][8192];
    volatile sig_atomic_t stop = 0;
    FILE *out = tmpfile();
    dd_report_t r;
    dd_report_t r2;
    size_t n;

    (void)state;
    assert_non_null(out);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-i", "0", "--count", "2", "--proc-root",
                           FIX_PROC, "-t", "Thing03", "-cm", "--custom-metric",
                           "greeting:string-list:command:echo hello, world"),
                     DD_AGENT_OK);
    /* Never connects: no endpoint, no credentials. */
    assert_int_equal(dd_agent_run(&o, &stop, out, &st), DD_AGENT_OK);
    assert_int_equal(st.published, 0);
    n = read_lines(out, lines, 4);
    assert_int_equal(n, 2);
    memset(&r, 0, sizeof(r));
    memset(&r2, 0, sizeof(r2));
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)lines[0],
                                      strlen(lines[0]), &r, NULL),
                     DD_REPORT_OK);
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)lines[1],
                                      strlen(lines[1]), &r2, NULL),
                     DD_REPORT_OK);
    assert_true(r2.report_id > r.report_id);
    assert_non_null(strstr(lines[0], "\"header\":{\"report_id\":"));
    assert_int_equal(r.tcp_ports.total, 4);
    assert_int_equal(r.udp_ports.total, 2);
    assert_int_equal(r.tcp_conns.total, 3);
    assert_true(r.net.present);
    assert_int_equal(r.net.bytes_out, 0);
    assert_int_equal(r.custom_count, 2);
    assert_string_equal(r.custom[0].name, "cpu_usage");
    assert_string_equal(r.custom[1].name, "greeting");
    assert_int_equal(r.custom[1].count, 2);
    assert_string_equal(r.custom[1].strings[1], "world");
    dd_report_free(&r);
    dd_report_free(&r2);
    dd_agent_options_free(&o);
    fclose(out);
}

static void test_dd_agent_dry_run_cbor_short(void **state)
{
    dd_agent_options_t o;
    char msg[256];
    static char lines[2][8192];
    volatile sig_atomic_t stop = 0;
    FILE *out = tmpfile();
    uint8_t bin[4096];
    size_t len;
    size_t i;
    dd_report_t r;

    (void)state;
    assert_non_null(out);
    assert_int_equal(parse(&o, msg, sizeof(msg), "--dryrun", "--interval", "0", "--once",
                           "--proc-root", FIX_PROC, "--format", "cbor", "--short-names"),
                     DD_AGENT_OK);
    assert_int_equal(dd_agent_run(&o, &stop, out, NULL), DD_AGENT_OK);
    assert_int_equal(read_lines(out, lines, 2), 1);
    len = strlen(lines[0]) / 2;
    assert_true(len > 0 && len < sizeof(bin));
    for (i = 0; i < len; i++) {
        unsigned b;

        assert_int_equal(sscanf(lines[0] + 2 * i, "%2x", &b), 1);
        bin[i] = (uint8_t)b;
    }
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_report_decode(DD_REPORT_FORMAT_CBOR, bin, len, &r, NULL), DD_REPORT_OK);
    assert_int_equal(r.tcp_ports.total, 4);
    /* Short keys: "hed" appears in the CBOR bytes as a text string. */
    assert_non_null(memmem(bin, len, "hed", 3));
    dd_report_free(&r);
    dd_agent_options_free(&o);
    fclose(out);
}

static void test_dd_agent_setup_failures(void **state)
{
    dd_agent_options_t o;
    char msg[256];
    volatile sig_atomic_t stop = 0;

    (void)state;
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "--once", "--proc-root",
                           DD_SOURCE_DIR "/fixtures/proc/no-such"),
                     DD_AGENT_OK);
    assert_int_equal(dd_agent_run(&o, &stop, NULL, NULL), DD_AGENT_SETUP_FAILED);
    dd_agent_options_free(&o);
    /* Credentials that do not exist: refused before any connection. */
    assert_int_equal(parse(&o, msg, sizeof(msg), "-e", "127.0.0.1:1", "-r", "/nonexistent/ca", "-c",
                           "/nonexistent/c", "-k", "/nonexistent/k", "-id", "X", "--once",
                           "--proc-root", FIX_PROC),
                     DD_AGENT_OK);
    assert_int_equal(dd_agent_run(&o, &stop, NULL, NULL), DD_AGENT_SETUP_FAILED);
    dd_agent_options_free(&o);
    assert_int_equal(dd_agent_run(NULL, &stop, NULL, NULL), DD_AGENT_BAD_PARAMETER);
    assert_string_equal(dd_agent_strerror(DD_AGENT_OK), "ok");
}

/* A counted run against a broker that is not there ends at its deadline. */
static void test_dd_agent_counted_run_gives_up(void **state)
{
    dd_agent_options_t o;
    dd_agent_stats_t st;
    char msg[256];
    char dir[] = "/tmp/dd_agent_test.XXXXXX";
    char ca[128];
    char cert[256];
    char key[256];
    char dev[128];
    char endpoint[64];
    volatile sig_atomic_t stop = 0;
    dd_pki_ca_t *pki = NULL;
    dd_pki_credentials_t cred;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timespec t0;
    struct timespec t1;
    double took;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(dd_pki_ca_ensure(dir, &pki), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(pki, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    (void)snprintf(dev, sizeof(dev), "%s/dev", dir);
    assert_int_equal(dd_pki_credentials_write(&cred, dev), DD_PKI_OK);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(pki);
    (void)snprintf(ca, sizeof(ca), "%s/pki/rootca.pem", dir);
    (void)snprintf(cert, sizeof(cert), "%s/cert.pem", dev);
    (void)snprintf(key, sizeof(key), "%s/private.key", dev);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    (void)snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));

    assert_int_equal(parse(&o, msg, sizeof(msg), "-e", endpoint, "-r", ca, "-c", cert, "-k", key,
                           "-id", "T", "-i", "0.1", "--once", "--timeout", "1", "--proc-root",
                           FIX_PROC),
                     DD_AGENT_OK);
    assert_true(o.timeout_s == 1.0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(dd_agent_run(&o, &stop, NULL, &st), DD_AGENT_INCOMPLETE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took >= 0.9 && took < 3.0);
    assert_int_equal(st.published, 0);
    assert_true(st.dropped >= 1);
    assert_int_equal(st.connects, 0);
    dd_agent_options_free(&o);
    assert_int_equal(dd_fs_remove_tree(dir), DD_FS_OK);
}

/* Log lines of the run, for the tests that read what the agent says. */
static char g_log[16384];

static void log_to_buffer(dd_log_level_t level, const char *message, void *ctx)
{
    size_t used = strlen(g_log);

    (void)level;
    (void)ctx;
    (void)snprintf(g_log + used, sizeof(g_log) - used, "%s\n", message);
}

/*
 * On a pipeline clock (here scaled 3600 times, so -i 300 is 83 real ms) the
 * agent says when the first report comes, samples on the multiples of the
 * interval, and every report after the first covers whole intervals (one,
 * unless the machine stalled it); the first covers the start to the first
 * multiple.
 */
static void test_dd_agent_dry_run_on_pipeline_clock(void **state)
{
    dd_agent_options_t o;
    dd_agent_stats_t st;
    dd_devclock_t dc;
    char msg[256];
    char spec[96];
    volatile sig_atomic_t stop = 0;
    FILE *out = tmpfile();
    int64_t now = dd_clock_wall_ms();
    const char *at;
    int reports = 0;

    (void)state;
    assert_non_null(out);
    (void)snprintf(spec, sizeof(spec), "scaled:3600:%lld:%lld", (long long)now, (long long)now);
    assert_int_equal(parse(&o, msg, sizeof(msg), "-d", "-i", "300", "--count", "3", "--proc-root",
                           FIX_PROC, "-t", "Thing03", "--clock", spec),
                     DD_AGENT_OK);
    assert_string_equal(o.clock_spec, spec);
    assert_int_equal(dd_devclock_resolve(o.clock_spec, NULL, NULL, &dc, msg, sizeof(msg)),
                     DD_DEVCLOCK_OK);
    assert_true(dc.follows);
    o.clock = &dc;
    g_log[0] = '\0';
    dd_log_set_sink(log_to_buffer, NULL);
    assert_int_equal(dd_agent_run(&o, &stop, out, &st), DD_AGENT_OK);
    dd_log_set_sink(NULL, NULL);
    assert_non_null(strstr(g_log, "measuring until pipeline time "));
    assert_non_null(strstr(g_log, "reports at pipeline multiples of 300 s"));
    for (at = g_log; (at = strstr(at, " printed (")) != NULL; at++) {
        long span = -1;
        const char *m = strstr(at, "measured over ");

        assert_non_null(m);
        assert_int_equal(sscanf(m, "measured over %ld pipeline s:", &span), 1);
        if (reports++ > 0) {
            assert_true(span >= 300 && span % 300 == 0);
        } else {
            assert_true(span >= 0 && span <= 300);
        }
        /* The fixture's counters do not move: one line says what was measured. */
        assert_non_null(strstr(m, "bytes out 0, bytes in 0, packets out 0, packets in 0, "
                                  "3 connection(s), listening TCP "));
    }
    assert_int_equal(reports, 3);
    fclose(out);
    dd_agent_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_agent_args_workshop),
        cmocka_unit_test(test_dd_agent_args_short_forms),
        cmocka_unit_test(test_dd_agent_args_errors),
        cmocka_unit_test(test_dd_agent_topic),
        cmocka_unit_test(test_dd_agent_replies),
        cmocka_unit_test(test_dd_agent_dry_run_json),
        cmocka_unit_test(test_dd_agent_dry_run_cbor_short),
        cmocka_unit_test(test_dd_agent_setup_failures),
        cmocka_unit_test(test_dd_agent_counted_run_gives_up),
        cmocka_unit_test(test_dd_agent_dry_run_on_pipeline_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
