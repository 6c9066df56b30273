/*
 * ddlocal device NAME [-- COMMAND...]: a shell (or a command) "on" a device:
 * in a network namespace of its own whose 127.0.0.1:8883 and 127.0.0.1:443
 * reach the running pipeline's broker. The workshop's SensorDevice03 host.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_devicehost.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DEVICE_HELP[] =
    "usage: ddlocal device NAME [-D DIR] [-- COMMAND [ARGS...]]\n"
    "\n"
    "Opens a shell (or runs COMMAND) on a simulated device host NAME: a network\n"
    "namespace of its own, like the workshop's Cloud9 instance. Inside it,\n"
    "127.0.0.1:8883 and 127.0.0.1:443 lead to the running pipeline's broker\n"
    "(both mTLS; 443 is the ALPN x-amzn-mqtt-ca role AWS's v2 agents dial), and\n"
    "/proc/net/dev counts only the traffic of the programs started there - so a\n"
    "Device Defender agent reports the device's own bytes out, not the machine's.\n"
    "The namespace has only a loopback interface: the kernel counts every byte on\n"
    "it once as sent and once as received.\n"
    "\n"
    "Needs root, or unprivileged user namespaces (Debian's default).\n"
    "\n"
    "  -D, --data-dir DIR   data dir of the running pipeline\n";

int dd_cmd_device(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    char abs_dir[PATH_MAX];
    char run_dir[PATH_MAX + 8];
    char env_name[200];
    char *shell_argv[3];
    char *const *program;
    const char *name;
    const char *shell;
    dd_devicehost_status_t st;
    int status = 0;
    int c;

    /* Options may come before and after NAME; "+" stops at COMMAND (after "--"). */
    optind = 1;
    name = NULL;
    for (;;) {
        while ((c = getopt_long(argc, argv, "+D:h", options, NULL)) != -1) {
            switch (c) {
            case 'D': data_dir = optarg; break;
            case 'h': fputs(DEVICE_HELP, stdout); return 0;
            default: return dd_clienv_usage_error("device", "unknown option");
            }
        }
        if (optind >= argc || strcmp(argv[optind - 1], "--") == 0 || name != NULL) {
            break;
        }
        name = argv[optind++];
    }
    if (name == NULL) {
        return dd_clienv_usage_error("device", "name the device, e.g. `ddlocal device SensorDevice03`");
    }
    if (!dd_name_valid(DD_NAME_THING, name)) {
        return dd_clienv_usage_error("device", "'%s' is not a valid device name (%s)", name,
                                     dd_name_pattern(DD_NAME_THING));
    }
    if (realpath(data_dir, abs_dir) == NULL || dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    (void)snprintf(run_dir, sizeof(run_dir), "%s/run", abs_dir);
    (void)snprintf(env_name, sizeof(env_name), "DDLOCAL_DEVICE=%s", name);
    (void)putenv(env_name);
    if (optind < argc) {
        program = argv + optind;
    } else {
        shell = getenv("SHELL");
        shell_argv[0] = (char *)(shell != NULL && shell[0] != '\0' ? shell : "/bin/sh");
        shell_argv[1] = "-i";
        shell_argv[2] = NULL;
        program = shell_argv;
        printf("You are on device %s: a network namespace of its own.\n"
               "  127.0.0.1:%d  -> the broker's MQTT listener (8883 role)\n"
               "  127.0.0.1:%d   -> the broker's ALPN listener (443 role)\n"
               "  root CA: %s\n"
               "Programs started here are measured alone (/proc/net/dev). Exit the shell to leave.\n",
               name, DD_DEVICEHOST_PORT, DD_DEVICEHOST_ALPN_PORT, ep.root_ca);
        fflush(stdout);
    }
    st = dd_devicehost_run(run_dir, (uint16_t)ep.mqtt_port, (uint16_t)ep.alpn_port, program, &status);
    if (st != DD_DEVICEHOST_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_devicehost_strerror(st));
        return 1;
    }
    return status;
}
