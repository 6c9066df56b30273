#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_fs.h"

typedef struct fs_fixture {
    char dir[64];
} fs_fixture_t;

static int setup(void **state)
{
    fs_fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_fs_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fs_fixture_t *f = *state;

    assert_int_equal(dd_fs_remove_tree(f->dir), DD_FS_OK);
    assert_false(dd_fs_exists(f->dir));
    free(f);
    return 0;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_dd_fs_mkdirs(void **state)
{
    fs_fixture_t *f = *state;
    char path[512];
    char file[256];

    (void)snprintf(path, sizeof(path), "%s/a/b//c/", f->dir);
    assert_int_equal(dd_fs_mkdirs(path, 0700), DD_FS_OK);
    (void)snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    assert_true(dd_fs_exists(path));
    assert_int_equal(mode_of(path) & 0077, 0);
    /* Idempotent. */
    assert_int_equal(dd_fs_mkdirs(path, 0700), DD_FS_OK);
    /* A file in the way is an error, not silently accepted. */
    (void)snprintf(file, sizeof(file), "%s/a/file", f->dir);
    assert_int_equal(dd_fs_write_atomic(file, "x", 1, 0644), DD_FS_OK);
    assert_int_equal(dd_fs_mkdirs(file, 0700), DD_FS_IO_ERROR);
    assert_int_equal(errno, ENOTDIR);
    (void)snprintf(path, sizeof(path), "%s/sub", file);
    assert_int_equal(dd_fs_mkdirs(path, 0700), DD_FS_IO_ERROR);
    assert_int_equal(dd_fs_mkdirs(NULL, 0700), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_mkdirs("", 0700), DD_FS_BAD_PARAMETER);
}

static void test_dd_fs_write_read_round_trip(void **state)
{
    fs_fixture_t *f = *state;
    char path[256];
    char *data = (char *)1;
    size_t len = 99;
    DIR *d;
    struct dirent *e;
    int entries = 0;

    (void)snprintf(path, sizeof(path), "%s/key.pem", f->dir);
    assert_int_equal(dd_fs_write_atomic(path, "secret\n", 7, 0600), DD_FS_OK);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(dd_fs_read_file(path, 0, &data, &len), DD_FS_OK);
    assert_int_equal(len, 7);
    assert_string_equal(data, "secret\n");
    free(data);

    /* Replacing keeps exactly the requested mode, whatever the old one was. */
    assert_int_equal(dd_fs_write_atomic(path, "new contents", 12, 0644), DD_FS_OK);
    assert_int_equal(mode_of(path), 0644);
    assert_int_equal(dd_fs_read_file(path, 12, &data, NULL), DD_FS_OK);
    assert_string_equal(data, "new contents");
    free(data);
    assert_int_equal(dd_fs_read_file(path, 11, &data, &len), DD_FS_TOO_LARGE);
    assert_null(data);

    /* Empty file. */
    assert_int_equal(dd_fs_write_atomic(path, NULL, 0, 0600), DD_FS_OK);
    assert_int_equal(dd_fs_read_file(path, 0, &data, &len), DD_FS_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);

    /* No temporary file is left behind. */
    d = opendir(f->dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            entries++;
            assert_string_equal(e->d_name, "key.pem");
        }
    }
    (void)closedir(d);
    assert_int_equal(entries, 1);
}

static void test_dd_fs_errors(void **state)
{
    fs_fixture_t *f = *state;
    char path[256];
    char *data = NULL;

    (void)snprintf(path, sizeof(path), "%s/missing", f->dir);
    assert_int_equal(dd_fs_read_file(path, 0, &data, NULL), DD_FS_NOT_FOUND);
    assert_null(data);
    assert_false(dd_fs_exists(path));
    /* A directory is not a file. */
    assert_int_equal(dd_fs_read_file(f->dir, 0, &data, NULL), DD_FS_IO_ERROR);
    assert_int_equal(errno, EISDIR);
    /* Missing parent directory. */
    (void)snprintf(path, sizeof(path), "%s/nodir/file", f->dir);
    assert_int_equal(dd_fs_write_atomic(path, "x", 1, 0600), DD_FS_NOT_FOUND);
    (void)snprintf(path, sizeof(path), "%s/", f->dir);
    assert_int_equal(dd_fs_write_atomic(path, "x", 1, 0600), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_write_atomic(NULL, "x", 1, 0600), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_write_atomic("x", NULL, 1, 0600), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_read_file(NULL, 0, &data, NULL), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_read_file("x", 0, NULL, NULL), DD_FS_BAD_PARAMETER);
    assert_int_equal(dd_fs_remove_tree(NULL), DD_FS_BAD_PARAMETER);
    (void)snprintf(path, sizeof(path), "%s/never-existed", f->dir);
    assert_int_equal(dd_fs_remove_tree(path), DD_FS_OK);
    assert_string_equal(dd_fs_strerror(DD_FS_OK), "ok");
    assert_string_equal(dd_fs_strerror(DD_FS_NOT_FOUND), "no such file or directory");
    assert_string_equal(dd_fs_strerror((dd_fs_status_t)99), "unknown fs status");
}

static void test_dd_fs_remove_tree_keeps_symlink_targets(void **state)
{
    fs_fixture_t *f = *state;
    char outside[256];
    char target[256];
    char tree[256];
    char link_path[256];

    (void)snprintf(outside, sizeof(outside), "%s/outside", f->dir);
    (void)snprintf(target, sizeof(target), "%s/outside/keep", f->dir);
    (void)snprintf(tree, sizeof(tree), "%s/tree/deep", f->dir);
    assert_int_equal(dd_fs_mkdirs(outside, 0700), DD_FS_OK);
    assert_int_equal(dd_fs_write_atomic(target, "k", 1, 0600), DD_FS_OK);
    assert_int_equal(dd_fs_mkdirs(tree, 0700), DD_FS_OK);
    (void)snprintf(link_path, sizeof(link_path), "%s/tree/link", f->dir);
    assert_int_equal(symlink(outside, link_path), 0);
    (void)snprintf(tree, sizeof(tree), "%s/tree", f->dir);
    assert_int_equal(dd_fs_remove_tree(tree), DD_FS_OK);
    assert_false(dd_fs_exists(tree));
    assert_true(dd_fs_exists(target));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_fs_mkdirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_fs_write_read_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_fs_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_fs_remove_tree_keeps_symlink_targets, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
