#include "dd_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(const dd_report_t *report, dd_report_format_t format, dd_report_keys_t keys)
{
    uint8_t *buf = malloc(DD_REPORT_MAX_PAYLOAD);
    size_t len = 0;
    dd_report_t again;

    if (buf == NULL) {
        return;
    }
    /* A report the decoder accepted must encode, and decode back. */
    if (dd_report_encode(report, format, keys, buf, DD_REPORT_MAX_PAYLOAD, &len) == DD_REPORT_OK) {
        dd_report_error_t err;

        if (dd_report_decode(format, buf, len, &again, &err) != DD_REPORT_OK) {
            fprintf(stderr, "a decoded report did not decode after encoding: %s (%s)\n",
                    dd_report_strerror(err.status), err.detail);
            abort();
        }
        dd_report_free(&again);
    }
    free(buf);
}

void dd_fuzz_report(dd_report_format_t format, const uint8_t *data, size_t size)
{
    dd_report_options_t opts;
    dd_report_error_t err;
    dd_report_t report;

    if (dd_report_decode(format, data, size, &report, &err) == DD_REPORT_OK) {
        /* Same format only: a CBOR report_id above 2^53 - 1 has no JSON form (dd_report.h). */
        round_trip(&report, format, DD_REPORT_KEYS_LONG);
        round_trip(&report, format, DD_REPORT_KEYS_SHORT);
        dd_report_free(&report);
    }
    memset(&opts, 0, sizeof(opts));
    opts.reject_mixed_keys = true; /* every option flipped from its default */
    opts.reject_invalid_ip_list = true;
    if (dd_report_decode_ex(format, data, size, &opts, &report, &err) == DD_REPORT_OK) {
        dd_report_free(&report);
    }
}

char *dd_fuzz_load(const char *rel, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf = NULL;
    long n;

    (void)snprintf(path, sizeof(path), "%s/%s", DD_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    (void)fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "%s: cannot read\n", path);
    }
    return buf;
}
