/**
 * @file fuzz_route.c
 * @brief libFuzzer harness: the API's request routing. The input is
 *        "METHOD PATH" as an HTTP request line gives them; the path is
 *        matched against the operation table and percent-decoded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fuzz.h"
#include "dd_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char *path;
    char decoded[DD_ROUTE_LABEL_MAX + 1];
    dd_route_match_t *match;

    match = malloc(sizeof(*match));
    if (text == NULL || match == NULL) {
        free(text);
        free(match);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    path = strchr(text, ' ');
    if (path != NULL) {
        size_t i;

        *path++ = '\0';
        if (dd_route_match(text, path, match) == DD_ROUTE_OK) {
            for (i = 0; i < match->label_count; i++) {
                (void)dd_route_label(match, match->labels[i].name);
            }
        }
        (void)dd_route_percent_decode(path, strlen(path), decoded, sizeof(decoded));
    }
    free(text);
    free(match);
    return 0;
}
