/*
 * bench_report_decode: decode (and encode) throughput of the report codec on the wire samples.
 * Not a test; run by hand: bench_report_decode [iterations] [fixtures/reports dir].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_report.h"

static double now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *load(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    long n;
    uint8_t *p;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    rewind(f);
    p = malloc((size_t)n);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint8_t *unhex(const uint8_t *hex, size_t hex_len, size_t *len)
{
    uint8_t *p = malloc(hex_len / 2 + 1);
    size_t n = 0;
    size_t i;
    unsigned v;

    for (i = 0; i + 1 < hex_len; i += 2) {
        if (sscanf((const char *)hex + i, "%2x", &v) != 1) {
            break;
        }
        p[n++] = (uint8_t)v;
    }
    *len = n;
    return p;
}

static void bench(const char *label, dd_report_format_t fmt, const uint8_t *p, size_t len,
                  long iters)
{
    dd_report_t r;
    dd_report_error_t err;
    uint8_t out[8192];
    size_t out_len;
    double t0;
    double t1;
    long i;

    t0 = now_s();
    for (i = 0; i < iters; i++) {
        if (dd_report_decode(fmt, p, len, &r, &err) != DD_REPORT_OK) {
            fprintf(stderr, "%s: %s\n", label, err.detail);
            exit(1);
        }
        dd_report_free(&r);
    }
    t1 = now_s();
    printf("decode %-26s %5zu B  %8.2f us/report  %9.0f reports/s\n", label, len,
           (t1 - t0) / (double)iters * 1e6, (double)iters / (t1 - t0));
    (void)dd_report_decode(fmt, p, len, &r, &err);
    t0 = now_s();
    for (i = 0; i < iters; i++) {
        if (dd_report_encode(&r, fmt, DD_REPORT_KEYS_LONG, out, sizeof(out), &out_len) !=
            DD_REPORT_OK) {
            exit(1);
        }
    }
    t1 = now_s();
    printf("encode %-26s %5zu B  %8.2f us/report\n", label, out_len,
           (t1 - t0) / (double)iters * 1e6);
    dd_report_free(&r);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    const char *dir = argc > 2 ? argv[2] : DD_SOURCE_DIR "/fixtures/reports";
    size_t len;
    size_t hex_len;
    uint8_t *p;
    uint8_t *hex;

    p = load(dir, "python-agent-long.json", &len);
    bench("python-agent-long.json", DD_REPORT_FORMAT_JSON, p, len, iters);
    free(p);
    p = load(dir, "c-sdk-short.json", &len);
    bench("c-sdk-short.json", DD_REPORT_FORMAT_JSON, p, len, iters);
    free(p);
    p = load(dir, "aws-c-iot-nul.json", &len);
    bench("aws-c-iot-nul.json", DD_REPORT_FORMAT_JSON, p, len, iters);
    free(p);
    hex = load(dir, "python-agent.cbor.hex", &hex_len);
    p = unhex(hex, hex_len, &len);
    bench("python-agent.cbor", DD_REPORT_FORMAT_CBOR, p, len, iters);
    free(p);
    free(hex);
    return 0;
}
