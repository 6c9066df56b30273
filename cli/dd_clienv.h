/**
 * @file dd_clienv.h
 * @brief What every `ddlocal` subcommand needs: the data dir, its database,
 *        registry and CA, option parsing helpers and uniform error output.
 *
 * A data dir holds everything of one ddlocal world:
 *   DIR/ddlocal.db        registry + evaluator store (SQLite, WAL)
 *   DIR/pki/              root CA, broker server cert, service cert
 *   DIR/things/NAME/      device credentials written by `thing create --with-cert`
 *   DIR/broker/           generated mosquitto.conf, broker persistence, log
 *   DIR/endpoints.json    written by `ddlocal up` while the pipeline runs
 * The default data dir is $DDLOCAL_DATA_DIR, else ./ddlocal-data.
 *
 * dd_clienv_t is caller-allocated; dd_clienv_open() fills it and
 * dd_clienv_close() releases what it opened.
 */
#ifndef DD_CLIENV_H_
#define DD_CLIENV_H_

#include <stdbool.h>
#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "dd_clock.h"
#include "dd_pki.h"
#include "dd_registry.h"

/** Status codes of this module. */
typedef enum dd_clienv_status {
    DD_CLIENV_OK = 0,
    DD_CLIENV_BAD_PARAMETER,
    DD_CLIENV_NOT_WRITABLE, /**< Data dir cannot be created or written. */
    DD_CLIENV_PKI_ERROR,
    DD_CLIENV_DB_ERROR
} dd_clienv_status_t;

/** An opened data dir. */
typedef struct dd_clienv {
    char data_dir[512]; /**< Absolute path. */
    sqlite3 *db;
    dd_clock_t clock; /**< Wall clock for creation dates. */
    dd_registry_t reg;
    dd_pki_ca_t *ca;
    char service_cert_id[DD_PKI_CERT_ID_LEN + 1];
    int64_t change_head; /**< The registry's change log at open: close syncs what came after. */
} dd_clienv_t;

/** @return $DDLOCAL_DATA_DIR or "ddlocal-data". */
const char *dd_clienv_default_data_dir(void);

/**
 * @brief Makes @p path absolute (against the working directory), without trailing slashes.
 * @param[out] out Buffer of @p len bytes.
 * @return DD_CLIENV_OK, DD_CLIENV_BAD_PARAMETER (empty or too long) or DD_CLIENV_NOT_WRITABLE
 *         (no working directory).
 */
dd_clienv_status_t dd_clienv_absolute(const char *path, char *out, size_t len);

/**
 * @brief Opens (creating on first use) a data dir: directory, root CA,
 *        broker and service certificates, database and registry tables; the
 *        service certificate is registered as ddlocal's own identity.
 * @param[out] env Environment to fill.
 * @param[in] data_dir Directory (relative paths are made absolute).
 * @return DD_CLIENV_OK or the first failure (logged with its cause).
 */
dd_clienv_status_t dd_clienv_open(dd_clienv_t *env, const char *data_dir);

/**
 * @brief For the commands that make registry objects themselves (`thing create`, `cert
 *        create`, `group create`): when the data dir's ddlocald last started with a seed
 *        (registry setting DD_SEED_SETTING), this command's ids, keys and certificates come from
 *        that seed too, in a scope of its own ("cli.K", K counting such commands on the data
 *        dir, so that two commands never draw the same ids), and while that ddlocald runs its
 *        pipeline time (GET /ddlocal/v1/clock) is the creation date instead of the wall clock.
 *        Without a seed, nothing changes.
 * @param[in,out] env An opened data dir.
 * @return DD_CLIENV_OK, DD_CLIENV_BAD_PARAMETER or DD_CLIENV_DB_ERROR.
 */
dd_clienv_status_t dd_clienv_follow_seed(dd_clienv_t *env);

/** @brief Closes what dd_clienv_open() opened; safe on a zeroed env. */
void dd_clienv_close(dd_clienv_t *env);

/** @return Static text for @p status. */
const char *dd_clienv_strerror(dd_clienv_status_t status);

/**
 * @brief Prints a registry refusal as "ddlocal: <message>" and returns the
 *        exit status for it (1).
 */
int dd_clienv_registry_error(dd_registry_status_t status, const dd_registry_error_t *err);

/** @brief Prints @p json (pretty) to stdout and frees it; returns 0 (1 if NULL). */
int dd_clienv_print_json(cJSON *json);

/**
 * @brief Reads a whole file, or stdin for "-", into a malloc'd NUL-terminated
 *        string. Prints the reason and returns NULL on failure.
 */
char *dd_clienv_read_input(const char *path, size_t max_len);

/**
 * @brief Prints "ddlocal <cmd>: <message>" and a pointer to --help; returns
 *        DD_CLI_USAGE.
 */
int dd_clienv_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* DD_CLIENV_H_ */
