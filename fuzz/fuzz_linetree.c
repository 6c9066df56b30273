/**
 * @file fuzz_linetree.c
 * @brief libFuzzer harness: `ddlocal replay`'s fast lane (dd_linetree_report()) against its
 *        tree path. Every line of the input is decoded both ways (dd_oracle_check()), and the
 *        whole input is replayed against the workshop's module 4 profile as it is and with
 *        every line kept off the fast lane (dd_oracle_tree_only()); the fast lane taking a line
 *        the tree path refuses, decoding it otherwise, or the two replays printing differently
 *        aborts.
 */
#define _GNU_SOURCE /* memmem() */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/dd_linetree_oracle.h"
#include "dd_fuzz.h"
#include "dd_replay.h"

static dd_replay_text_t g_profile;

/* Replays @p text; its output and error texts (malloc()ed) into *out and *err. */
static void replay(const char *text, size_t len, char **out, char **err)
{
    dd_replay_options_t opt = {0};
    size_t olen;
    size_t elen;
    FILE *in = fmemopen((void *)text, len, "r");
    FILE *o = open_memstream(out, &olen);
    FILE *e = open_memstream(err, &elen);

    if (in == NULL || o == NULL || e == NULL) {
        abort();
    }
    opt.profiles = &g_profile;
    opt.profile_count = 1;
    opt.threads = 1;
    (void)dd_replay_run(&opt, in, o, e, NULL);
    fclose(in);
    fclose(o);
    fclose(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dd_linetree_t *lt;
    const char *p = (const char *)data;
    const char *end = p + size;
    char *tree;
    size_t tree_len;
    char *out[2];
    char *err[2];

    if (lt == NULL) {
        g_profile.name = "fixtures/profiles/module4-intended.json";
        g_profile.text = dd_fuzz_load(g_profile.name, &g_profile.len);
        if (g_profile.text == NULL || dd_linetree_create(&lt) != DD_LINETREE_OK) {
            abort();
        }
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

        if (dd_oracle_check(lt, p, len) < 0) {
            abort();
        }
        p += len + 1;
    }
    /* fmemopen() refuses an empty buffer; a stream with the oracle's member would get it twice */
    if (size == 0 ||
        memmem(data, size, DD_ORACLE_MEMBER_KEY, sizeof(DD_ORACLE_MEMBER_KEY) - 1) != NULL ||
        (tree = dd_oracle_tree_only((const char *)data, size, &tree_len)) == NULL) {
        return 0;
    }
    replay((const char *)data, size, &out[0], &err[0]);
    replay(tree, tree_len, &out[1], &err[1]);
    dd_oracle_drop_json_errors(err[0]);
    dd_oracle_drop_json_errors(err[1]);
    if (strcmp(out[0], out[1]) != 0 || strcmp(err[0], err[1]) != 0) {
        fprintf(stderr, "replays differ:\n%s\n--\n%s\n--\n%s\n--\n%s\n", out[0], out[1], err[0],
                err[1]);
        abort();
    }
    free(out[0]);
    free(out[1]);
    free(err[0]);
    free(err[1]);
    free(tree);
    return 0;
}
