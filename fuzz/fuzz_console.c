/**
 * @file fuzz_console.c
 * @brief libFuzzer harness: which console file a request target names
 *        (dd_console_get()). The input is "METHOD TARGET" as an HTTP request
 *        line gives them; the console folder is a temporary one with an
 *        index.html, a script and a folder, beside a file no target may reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_console.h"
#include "dd_fuzz.h"

static char g_dir[64];

static void put(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    f = fopen(path, "w");
    if (f != NULL) {
        (void)fputs(text, f);
        (void)fclose(f);
    }
}

static void cleanup(void)
{
    char path[128];

    (void)snprintf(path, sizeof(path), "%s/js/app.js", g_dir);
    (void)unlink(path);
    (void)snprintf(path, sizeof(path), "%s/js", g_dir);
    (void)rmdir(path);
    (void)snprintf(path, sizeof(path), "%s/index.html", g_dir);
    (void)unlink(path);
    (void)snprintf(path, sizeof(path), "%s.secret", g_dir);
    (void)unlink(path);
    (void)rmdir(g_dir);
}

/* The folder, once per process: index.html, js/app.js, and ../secret beside it. */
static int setup(void)
{
    char path[128];
    FILE *f;

    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/fuzz_console.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        return -1;
    }
    (void)snprintf(path, sizeof(path), "%s/js", g_dir);
    (void)mkdir(path, 0700);
    (void)atexit(cleanup);
    put("index.html", "<!doctype html>");
    put("js/app.js", "export {};");
    (void)snprintf(path, sizeof(path), "%s.secret", g_dir);
    f = fopen(path, "w");
    if (f != NULL) {
        (void)fputs("SECRET", f);
        (void)fclose(f);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    char *target;
    dd_console_file_t file;

    if (g_dir[0] == '\0' && setup() != 0) {
        return 0;
    }
    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    target = strchr(text, ' ');
    if (target != NULL) {
        *target++ = '\0';
        if (dd_console_get(g_dir, text, target, &file) == DD_CONSOLE_OK) {
            /* Nothing outside the folder is ever served. */
            if (file.status == 200 && file.len == 6 && memcmp(file.body, "SECRET", 6) == 0) {
                abort();
            }
            dd_console_file_free(&file);
        }
    }
    free(text);
    return 0;
}
