#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dd_paths.h"

static const dd_paths_layout_t LAYOUT = {
    "/src/build/cli",
    {"/src/build/evaluator/service/ddlocald", "/src/build/broker-shim/ddlocal_shim.so",
     "/src/build/device/ddlocal-agent", "/src/build/device/ddlocal-sensor", "/src/fixtures",
     "/src/lambda/ddlocal_lambda_runner.py"},
    "..",
    {"bin/ddlocald", "lib/x86_64-linux-gnu/ddlocal/ddlocal_shim.so", "bin/ddlocal-agent",
     "bin/ddlocal-sensor", "share/ddlocal/fixtures",
     "share/ddlocal/lambda/ddlocal_lambda_runner.py"},
};

static void test_dd_paths_build_tree(void **state)
{
    char out[256];
    bool installed = true;

    (void)state;
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/src/build/cli/ddlocal", DD_PATHS_SHIM, out,
                                      sizeof(out), &installed),
                     DD_PATHS_OK);
    assert_string_equal(out, "/src/build/broker-shim/ddlocal_shim.so");
    assert_false(installed);
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/src/build/cli/ddlocal", DD_PATHS_FIXTURES, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/src/fixtures");
}

static void test_dd_paths_installed(void **state)
{
    char out[256];
    bool installed = false;

    (void)state;
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/usr/bin/ddlocal", DD_PATHS_SHIM, out, sizeof(out),
                                      &installed),
                     DD_PATHS_OK);
    assert_string_equal(out, "/usr/lib/x86_64-linux-gnu/ddlocal/ddlocal_shim.so");
    assert_true(installed);
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/usr/bin/ddlocal", DD_PATHS_DDLOCALD, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/usr/bin/ddlocald");
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/usr/bin/ddlocal", DD_PATHS_LAMBDA_RUNNER, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/usr/share/ddlocal/lambda/ddlocal_lambda_runner.py");
}

/* A DESTDIR staging dir or an unpacked tarball: the same layout under another prefix. */
static void test_dd_paths_relocated(void **state)
{
    char out[256];

    (void)state;
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/tmp/stage/usr/bin/ddlocal", DD_PATHS_FIXTURES, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/tmp/stage/usr/share/ddlocal/fixtures");
    /* A build directory of the same name elsewhere is not the build tree. */
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/other/src/build/cli/ddlocal", DD_PATHS_AGENT, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/other/src/build/bin/ddlocal-agent");
}

static void test_dd_paths_other_ways_up(void **state)
{
    dd_paths_layout_t layout = LAYOUT;
    char out[256];

    (void)state;
    layout.bindir_to_prefix = "../.";
    assert_int_equal(dd_paths_resolve(&layout, "/opt/dd/bin/ddlocal", DD_PATHS_DDLOCALD, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/opt/dd/bin/ddlocald");
    layout.bindir_to_prefix = "../..";
    assert_int_equal(dd_paths_resolve(&layout, "/opt/dd/libexec/bin/ddlocal", DD_PATHS_SENSOR, out,
                                      sizeof(out), NULL),
                     DD_PATHS_OK);
    assert_string_equal(out, "/opt/dd/bin/ddlocal-sensor");
}

static void test_dd_paths_bad_parameters(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(dd_paths_resolve(NULL, "/usr/bin/ddlocal", DD_PATHS_SHIM, out, sizeof(out),
                                      NULL),
                     DD_PATHS_BAD_PARAMETER);
    assert_int_equal(dd_paths_resolve(&LAYOUT, "ddlocal", DD_PATHS_SHIM, out, sizeof(out), NULL),
                     DD_PATHS_BAD_PARAMETER);
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/usr/bin/ddlocal", DD_PATHS_COUNT, out, sizeof(out),
                                      NULL),
                     DD_PATHS_BAD_PARAMETER);
    assert_int_equal(dd_paths_resolve(&LAYOUT, "/usr/bin/ddlocal", DD_PATHS_SHIM, out, sizeof(out),
                                      NULL),
                     DD_PATHS_TOO_LONG);
    assert_string_equal(dd_paths_get(DD_PATHS_COUNT), "");
    assert_string_equal(dd_paths_strerror(DD_PATHS_OK), "ok");
}

/* The environment overrides every path. */
static void test_dd_paths_environment(void **state)
{
    (void)state;
    assert_int_equal(setenv("DDLOCAL_FIXTURES", "/my/fixtures", 1), 0);
    assert_string_equal(dd_paths_get(DD_PATHS_FIXTURES), "/my/fixtures");
    assert_int_equal(unsetenv("DDLOCAL_FIXTURES"), 0);
    assert_true(dd_paths_get(DD_PATHS_FIXTURES)[0] == '/');
    assert_non_null(dd_paths_layout_default());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_paths_build_tree),
        cmocka_unit_test(test_dd_paths_installed),
        cmocka_unit_test(test_dd_paths_relocated),
        cmocka_unit_test(test_dd_paths_other_ways_up),
        cmocka_unit_test(test_dd_paths_bad_parameters),
        cmocka_unit_test(test_dd_paths_environment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
