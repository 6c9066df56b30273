#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_console.h"

typedef struct console_fixture {
    char dir[64];
    char outside[96];
} console_fixture_t;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    console_fixture_t *f = calloc(1, sizeof(*f));
    char sub[128];

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_console_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    (void)snprintf(sub, sizeof(sub), "%s/vendor", f->dir);
    (void)mkdir(sub, 0700);
    write_file(f->dir, "index.html", "<!doctype html><title>c</title>");
    write_file(f->dir, "app.js", "export const x = 1;");
    write_file(f->dir, "style.css", "body{}");
    write_file(f->dir, ".hidden", "secret");
    write_file(f->dir, "vendor/lib.min.js", "lib");
    write_file(f->dir, "data.bin", "bytes");
    /* A file beside the folder that no request may reach. */
    (void)snprintf(f->outside, sizeof(f->outside), "%s.secret", f->dir);
    write_file("/", f->outside + 1, "outside");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    console_fixture_t *f = *state;
    char cmd[256];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->dir, f->outside);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void expect_file(const console_fixture_t *f, const char *uri, const char *body,
                        const char *type)
{
    dd_console_file_t file;

    assert_int_equal(dd_console_get(f->dir, "GET", uri, &file), DD_CONSOLE_OK);
    assert_int_equal(file.status, 200);
    assert_string_equal(file.content_type, type);
    assert_int_equal(file.len, strlen(body));
    assert_memory_equal(file.body, body, file.len);
    dd_console_file_free(&file);
}

static void expect_status(const console_fixture_t *f, const char *method, const char *uri,
                          int status)
{
    dd_console_file_t file;

    assert_int_equal(dd_console_get(f->dir, method, uri, &file), DD_CONSOLE_OK);
    assert_int_equal(file.status, status);
    assert_non_null(file.body);
    dd_console_file_free(&file);
}

static void test_dd_console_serves_files_with_types(void **state)
{
    const console_fixture_t *f = *state;

    expect_file(f, "/console/", "<!doctype html><title>c</title>", "text/html; charset=utf-8");
    expect_file(f, "/console/?x=1", "<!doctype html><title>c</title>", "text/html; charset=utf-8");
    expect_file(f, "/console/app.js", "export const x = 1;", "text/javascript; charset=utf-8");
    expect_file(f, "/console/style.css?v=2", "body{}", "text/css; charset=utf-8");
    expect_file(f, "/console/vendor/lib.min.js", "lib", "text/javascript; charset=utf-8");
    expect_file(f, "/console/data.bin", "bytes", "application/octet-stream");
}

static void test_dd_console_redirects_bare_prefix(void **state)
{
    const console_fixture_t *f = *state;
    dd_console_file_t file;

    assert_int_equal(dd_console_get(f->dir, "GET", "/console", &file), DD_CONSOLE_OK);
    assert_int_equal(file.status, 301);
    assert_string_equal(file.location, "/console/");
    dd_console_file_free(&file);
}

static void test_dd_console_refuses_escapes_and_hidden(void **state)
{
    const console_fixture_t *f = *state;
    char uri[160];

    expect_status(f, "GET", "/console/../etc/passwd", 404);
    expect_status(f, "GET", "/console/vendor/../../x", 404);
    expect_status(f, "GET", "/console/.hidden", 404);
    expect_status(f, "GET", "/console//app.js", 404);
    expect_status(f, "GET", "/console/%2e%2e/x", 404);
    expect_status(f, "GET", "/console/vendor", 404);
    expect_status(f, "GET", "/console/vendor/", 404);
    expect_status(f, "GET", "/console/missing.js", 404);
    (void)snprintf(uri, sizeof(uri), "/console/..%s", strrchr(f->outside, '/'));
    expect_status(f, "GET", uri, 404);
}

static void test_dd_console_methods(void **state)
{
    const console_fixture_t *f = *state;

    expect_status(f, "POST", "/console/app.js", 405);
    expect_status(f, "DELETE", "/console/", 405);
    expect_status(f, "HEAD", "/console/app.js", 200);
}

static void test_dd_console_targets_and_parameters(void **state)
{
    const console_fixture_t *f = *state;
    dd_console_file_t file;

    assert_true(dd_console_is_target("/console"));
    assert_true(dd_console_is_target("/console/"));
    assert_true(dd_console_is_target("/console?x"));
    assert_false(dd_console_is_target("/consoles"));
    assert_false(dd_console_is_target("/things"));
    assert_false(dd_console_is_target(NULL));
    assert_int_equal(dd_console_get(f->dir, "GET", "/things", &file), DD_CONSOLE_BAD_PARAMETER);
    assert_int_equal(dd_console_get(NULL, "GET", "/console/", &file), DD_CONSOLE_BAD_PARAMETER);
    assert_int_equal(dd_console_get(f->dir, NULL, "/console/", &file), DD_CONSOLE_BAD_PARAMETER);
    assert_int_equal(dd_console_get(f->dir, "GET", "/console/", NULL), DD_CONSOLE_BAD_PARAMETER);
    dd_console_file_free(NULL);
    assert_string_equal(dd_console_strerror(DD_CONSOLE_OK), "ok");
}

static void test_dd_console_dir_precedence(void **state)
{
    char out[DD_CONSOLE_DIR_MAX];
    char tiny[4];

    (void)state;
    assert_int_equal(unsetenv("DDLOCAL_CONSOLE_DIR"), 0);
    assert_int_equal(dd_console_dir(NULL, out, sizeof(out)), DD_CONSOLE_OK);
    assert_non_null(strstr(out, "console"));
    assert_int_equal(setenv("DDLOCAL_CONSOLE_DIR", "/env/console/", 1), 0);
    assert_int_equal(dd_console_dir("", out, sizeof(out)), DD_CONSOLE_OK);
    assert_string_equal(out, "/env/console");
    assert_int_equal(dd_console_dir("/opt/c", out, sizeof(out)), DD_CONSOLE_OK);
    assert_string_equal(out, "/opt/c");
    assert_int_equal(dd_console_dir("/opt/console", tiny, sizeof(tiny)), DD_CONSOLE_TOO_LONG);
    assert_int_equal(dd_console_dir("/opt/c", NULL, 8), DD_CONSOLE_BAD_PARAMETER);
    assert_int_equal(unsetenv("DDLOCAL_CONSOLE_DIR"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_console_serves_files_with_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_console_redirects_bare_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_console_refuses_escapes_and_hidden, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_console_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_console_targets_and_parameters, setup, teardown),
        cmocka_unit_test(test_dd_console_dir_precedence),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
