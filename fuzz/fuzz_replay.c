/**
 * @file fuzz_replay.c
 * @brief libFuzzer harness: a recorded stream for `ddlocal replay` (one JSON
 *        object per line: reports as objects, JSON text or CBOR hex, cloud-side
 *        events, ticks), run against the workshop's module 3 and 4 profiles.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_fuzz.h"
#include "dd_replay.h"

static dd_replay_text_t g_profiles[2];
static FILE *g_null;

static int setup(void)
{
    static const char *const FILES[] = {"fixtures/profiles/module3-intended.json",
                                        "fixtures/profiles/module4-intended.json"};
    size_t i;

    for (i = 0; i < 2; i++) {
        g_profiles[i].name = FILES[i];
        g_profiles[i].text = dd_fuzz_load(FILES[i], &g_profiles[i].len);
        if (g_profiles[i].text == NULL) {
            return -1;
        }
    }
    g_null = fopen("/dev/null", "w");
    return g_null != NULL ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = 1;
    dd_replay_options_t opt = {0};
    FILE *in;

    if (ready == 1) {
        ready = setup();
    }
    if (ready != 0 || size == 0) {
        return 0; /* fmemopen() refuses an empty buffer */
    }
    in = fmemopen((void *)data, size, "r");
    if (in == NULL) {
        return 0;
    }
    opt.profiles = g_profiles;
    opt.profile_count = 2;
    (void)dd_replay_run(&opt, in, g_null, g_null, NULL);
    (void)fclose(in);
    return 0;
}
