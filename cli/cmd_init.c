/*
 * ddlocal init: create (or check) a data dir without starting anything.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char INIT_HELP[] =
    "usage: ddlocal init [-D DIR]\n"
    "\n"
    "Create a data dir (idempotent): root CA, broker and service certificates,\n"
    "database. Prints the data dir and the root CA path. `ddlocal up` and every\n"
    "registry command do this on their own; init is for scripts.\n"
    "\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

int dd_cmd_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_clienv_t env;
    char path[600];
    cJSON *out;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'h': fputs(INIT_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("init", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("init", "unexpected argument '%s'", argv[optind]);
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    out = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(out, "dataDir", env.data_dir);
    (void)dd_pki_path(env.data_dir, DD_PKI_FILE_ROOTCA_CERT, path, sizeof(path));
    (void)cJSON_AddStringToObject(out, "rootCa", path);
    (void)cJSON_AddStringToObject(out, "serviceCertificateId", env.service_cert_id);
    dd_clienv_close(&env);
    return dd_clienv_print_json(out);
}
