/**
 * @file dd_fs.h
 * @brief Small file-system helpers: mkdir -p with a mode, read a whole file,
 *        write a file atomically with a mode, remove a tree.
 *
 * Used wherever ddlocal writes something another process may read at the same
 * time (keys and certificates, endpoints.json, generated configs): a reader
 * sees either the old file or the new one, never a half-written one.
 *
 * Ownership: dd_fs_read_file() returns a malloc'd buffer that the caller
 * frees with free(). Everything else works on caller memory and allocates
 * nothing that outlives the call. The functions keep no state and may be
 * called from several threads. On DD_FS_IO_ERROR, errno is left as set by
 * the system call that failed, so callers can add strerror(errno).
 */
#ifndef DD_FS_H_
#define DD_FS_H_

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** Status codes of this module. */
typedef enum dd_fs_status {
    DD_FS_OK = 0,
    DD_FS_BAD_PARAMETER, /**< NULL pointer, empty path or path too long. */
    DD_FS_NOT_FOUND,     /**< The file (or a parent directory) does not exist. */
    DD_FS_TOO_LARGE,     /**< File larger than the caller's limit. */
    DD_FS_NO_MEMORY,     /**< Allocation failed. */
    DD_FS_IO_ERROR       /**< Any other system error; errno tells which. */
} dd_fs_status_t;

/** Longest path the helpers accept, including the NUL. */
#define DD_FS_PATH_MAX 4096

/**
 * @brief Creates a directory and its missing parents (mkdir -p).
 *
 * Directories that already exist are left as they are (their mode is not
 * changed); new ones get @p mode (subject to the umask, like mkdir(2)).
 *
 * @param[in] path Directory to create.
 * @param[in] mode Mode of the directories created, e.g. 0700.
 * @return DD_FS_OK (also when it already existed), DD_FS_BAD_PARAMETER, or
 *         DD_FS_IO_ERROR (e.g. a component exists and is not a directory:
 *         errno ENOTDIR/EEXIST).
 */
dd_fs_status_t dd_fs_mkdirs(const char *path, mode_t mode);

/**
 * @brief Reads a whole regular file into a new NUL-terminated buffer.
 *
 * @param[in] path File to read.
 * @param[in] max_len Largest size accepted, in bytes (0 = no limit).
 * @param[out] data Receives the malloc'd contents plus a terminating NUL;
 *                  the caller frees it with free(). Set to NULL on failure.
 * @param[out] len Optional: receives the size in bytes (without the NUL).
 * @return DD_FS_OK, DD_FS_BAD_PARAMETER, DD_FS_NOT_FOUND, DD_FS_TOO_LARGE,
 *         DD_FS_NO_MEMORY or DD_FS_IO_ERROR.
 */
dd_fs_status_t dd_fs_read_file(const char *path, size_t max_len, char **data, size_t *len);

/**
 * @brief Replaces @p path atomically with @p len bytes of @p data.
 *
 * Writes a temporary file in the same directory, gives it exactly @p mode
 * (fchmod, so the umask does not apply: 0600 for private keys), flushes it to
 * disk, then renames it over @p path and flushes the directory. A crash
 * leaves either the previous file or the new one, plus at worst a stray
 * temporary ".<name>.tmp.XXXXXX" beside it. The parent directory must exist.
 *
 * @param[in] path Destination file.
 * @param[in] data Bytes to write (may be NULL when @p len is 0).
 * @param[in] len Number of bytes.
 * @param[in] mode Exact mode of the new file, e.g. 0600 or 0644.
 * @return DD_FS_OK, DD_FS_BAD_PARAMETER, DD_FS_NOT_FOUND (no parent
 *         directory) or DD_FS_IO_ERROR.
 */
dd_fs_status_t dd_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/**
 * @brief Tells whether @p path exists (any file type; symlinks are followed).
 * @param[in] path Path to test.
 * @return true when stat() succeeds.
 */
bool dd_fs_exists(const char *path);

/**
 * @brief Removes a file or a directory tree (rm -rf); symlinks are removed,
 *        never followed. Meant for tests and for temporary data dirs.
 * @param[in] path File or directory to remove.
 * @return DD_FS_OK (also when @p path did not exist), DD_FS_BAD_PARAMETER or
 *         DD_FS_IO_ERROR.
 */
dd_fs_status_t dd_fs_remove_tree(const char *path);

/** @return Static text for @p status. */
const char *dd_fs_strerror(dd_fs_status_t status);

#endif /* DD_FS_H_ */
