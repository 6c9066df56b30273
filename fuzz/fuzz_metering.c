/**
 * @file fuzz_metering.c
 * @brief libFuzzer harness: a metering batch (the shim's binary records of
 *        cloud-side events), as ddlocald decodes it; every record's strings
 *        are read in full so that an out-of-bounds view is caught.
 */
#include <stddef.h>
#include <stdint.h>

#include "dd_fuzz.h"
#include "dd_metering.h"

static unsigned touch(dd_metering_str_t s)
{
    unsigned sum = 0;
    size_t i;

    for (i = 0; s.ptr != NULL && i < s.len; i++) {
        sum += (unsigned char)s.ptr[i];
    }
    return sum;
}

static int on_record(void *ctx, const dd_metering_header_t *hdr, const dd_metering_record_t *rec)
{
    unsigned *sum = ctx;

    (void)hdr;
    *sum += touch(rec->key) + touch(rec->subject) + touch(rec->ip) + rec->bytes;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_metering_header_t hdr;
    volatile unsigned sink;
    unsigned sum = 0;
    char err[256];

    (void)dd_metering_decode(data, size, &hdr, on_record, &sum, err, sizeof(err));
    sink = sum;
    (void)sink;
    return 0;
}
