/* mkostemp() and nftw() */
#define _GNU_SOURCE

#include "dd_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static dd_fs_status_t from_errno(int err)
{
    return (err == ENOENT) ? DD_FS_NOT_FOUND : DD_FS_IO_ERROR;
}

static bool path_ok(const char *path)
{
    return path != NULL && path[0] != '\0' && strlen(path) < DD_FS_PATH_MAX;
}

/* mkdir that accepts an existing directory (but not an existing file). */
static int mkdir_one(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        return -1;
    }
    if (stat(path, &st) != 0) {
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

dd_fs_status_t dd_fs_mkdirs(const char *path, mode_t mode)
{
    char buf[DD_FS_PATH_MAX];
    size_t len;
    size_t i;

    if (!path_ok(path)) {
        return DD_FS_BAD_PARAMETER;
    }
    len = strlen(path);
    memcpy(buf, path, len + 1);
    /* Trailing slashes would make the last mkdir see "" as a component. */
    while (len > 1 && buf[len - 1] == '/') {
        buf[--len] = '\0';
    }
    for (i = 1; i < len; i++) {
        if (buf[i] == '/' && buf[i - 1] != '/') {
            buf[i] = '\0';
            if (mkdir_one(buf, mode) != 0) {
                return DD_FS_IO_ERROR;
            }
            buf[i] = '/';
        }
    }
    return mkdir_one(buf, mode) == 0 ? DD_FS_OK : DD_FS_IO_ERROR;
}

dd_fs_status_t dd_fs_read_file(const char *path, size_t max_len, char **data, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t cap;
    size_t used = 0;
    int fd;
    int saved;

    if (data != NULL) {
        *data = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (!path_ok(path) || data == NULL) {
        return DD_FS_BAD_PARAMETER;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return from_errno(errno);
    }
    if (fstat(fd, &st) != 0) {
        goto io_error;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto io_error;
    }
    if (max_len != 0 && (uint64_t)st.st_size > (uint64_t)max_len) {
        (void)close(fd);
        return DD_FS_TOO_LARGE;
    }
    /* The size is only a hint: the file may grow or shrink while we read. */
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        (void)close(fd);
        return DD_FS_NO_MEMORY;
    }
    for (;;) {
        ssize_t n;

        if (used == cap) {
            size_t ncap = cap * 2;
            char *nbuf;

            if (max_len != 0 && used > max_len) {
                free(buf);
                (void)close(fd);
                return DD_FS_TOO_LARGE;
            }
            nbuf = realloc(buf, ncap + 1);
            if (nbuf == NULL) {
                free(buf);
                (void)close(fd);
                return DD_FS_NO_MEMORY;
            }
            buf = nbuf;
            cap = ncap;
        }
        n = read(fd, buf + used, cap - used);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto io_error;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    (void)close(fd);
    if (max_len != 0 && used > max_len) {
        free(buf);
        return DD_FS_TOO_LARGE;
    }
    buf[used] = '\0';
    *data = buf;
    if (len != NULL) {
        *len = used;
    }
    return DD_FS_OK;

io_error:
    saved = errno;
    free(buf);
    (void)close(fd);
    errno = saved;
    return DD_FS_IO_ERROR;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

dd_fs_status_t dd_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char dir[DD_FS_PATH_MAX];
    char tmp[DD_FS_PATH_MAX];
    const char *slash;
    const char *base;
    size_t dir_len;
    int fd;
    int dfd;
    int saved;
    int n;

    if (!path_ok(path) || (data == NULL && len > 0)) {
        return DD_FS_BAD_PARAMETER;
    }
    slash = strrchr(path, '/');
    if (slash == NULL) {
        dir_len = 1;
        memcpy(dir, ".", 2);
        base = path;
    } else {
        dir_len = (slash == path) ? 1 : (size_t)(slash - path);
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
        base = slash + 1;
    }
    if (base[0] == '\0') {
        return DD_FS_BAD_PARAMETER;
    }
    n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return DD_FS_BAD_PARAMETER;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return from_errno(errno);
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        (void)close(fd);
        (void)unlink(tmp);
        errno = saved;
        return DD_FS_IO_ERROR;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        saved = errno;
        (void)unlink(tmp);
        errno = saved;
        return DD_FS_IO_ERROR;
    }
    /* Make the rename itself durable. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        (void)close(dfd);
    }
    return DD_FS_OK;
}

bool dd_fs_exists(const char *path)
{
    struct stat st;

    return path_ok(path) && stat(path, &st) == 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

dd_fs_status_t dd_fs_remove_tree(const char *path)
{
    struct stat st;

    if (!path_ok(path)) {
        return DD_FS_BAD_PARAMETER;
    }
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? DD_FS_OK : DD_FS_IO_ERROR;
    }
    if (!S_ISDIR(st.st_mode)) {
        return remove(path) == 0 || errno == ENOENT ? DD_FS_OK : DD_FS_IO_ERROR;
    }
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? DD_FS_OK : DD_FS_IO_ERROR;
}

const char *dd_fs_strerror(dd_fs_status_t status)
{
    switch (status) {
    case DD_FS_OK: return "ok";
    case DD_FS_BAD_PARAMETER: return "bad parameter";
    case DD_FS_NOT_FOUND: return "no such file or directory";
    case DD_FS_TOO_LARGE: return "file too large";
    case DD_FS_NO_MEMORY: return "out of memory";
    case DD_FS_IO_ERROR: return "I/O error";
    }
    return "unknown fs status";
}
