/**
 * @file fuzz_linetree.c
 * @brief libFuzzer harness: `ddlocal replay`'s fast lane (dd_linetree_report()) against its
 *        tree path, one line at a time. Every line of the input is decoded both ways; the fast
 *        lane taking a line the tree path refuses, or decoding it otherwise, aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/dd_linetree_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dd_linetree_t *lt;
    const char *p = (const char *)data;
    const char *end = p + size;

    if (lt == NULL && dd_linetree_create(&lt) != DD_LINETREE_OK) {
        return 0;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

        if (dd_oracle_check(lt, p, len) < 0) {
            abort();
        }
        p += len + 1;
    }
    return 0;
}
