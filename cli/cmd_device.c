/*
 * ddlocal device NAME [-- COMMAND...]: a shell (or a command) "on" a device:
 * in a network namespace of its own whose 127.0.0.1:8883 and 127.0.0.1:443
 * reach the running pipeline's broker. The workshop's SensorDevice03 host.
 * Opening the same device again joins its namespace; the namespace and its
 * relay live while any of its shells is open (dd_devicehost.h).
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_devicehost.h"
#include "dd_endpoints.h"
#include "dd_fs.h"

#include <cjson/cJSON.h>

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
    "Opening `ddlocal device NAME` again while a shell of NAME is open joins the\n"
    "same namespace (a second terminal on the same device). The namespace and its\n"
    "relay to the broker stay while any shell of NAME is open and end with the\n"
    "last one (programs still running there then get SIGTERM). The shell\n"
    "survives the device's quarantine: the broker drops the device's\n"
    "connections, and after the release programs that retry reconnect.\n"
    "\n"
    "The shell (or COMMAND) gets DDLOCAL_DATA_DIR, DDLOCAL_CLOCK (the pipeline\n"
    "clock of DIR/endpoints.json, which ddlocal-agent and ddlocal-sensor follow),\n"
    "DDLOCAL_DEVICE=NAME and a prompt naming the device (PS1, `[NAME] \\w $ `).\n"
    "The exit status is the shell's (or COMMAND's); 127 if it cannot be started.\n"
    "The relay's log is DIR/logs/device-NAME.log, its state DIR/run/device-NAME/.\n"
    "\n"
    "Needs root, or unprivileged user namespaces (Debian's default).\n"
    "\n"
    "  -D, --data-dir DIR   data dir of the running pipeline\n";

/* The "clock" member of DIR/endpoints.json (dd_clock spec), or "" when there is none or the
 * file is stale (its `ddlocal up` killed). */
static void read_clock_spec(const char *data_dir, char *out, size_t out_len)
{
    dd_endpoints_t ep;

    out[0] = '\0';
    if (dd_endpoints_read(data_dir, &ep) == DD_ENDPOINTS_OK && strlen(ep.clock) < out_len) {
        (void)snprintf(out, out_len, "%s", ep.clock);
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/*
 * bash reads ~/.bashrc after the environment, and Debian's sets PS1: an rc
 * file of the device's own runs it first and names the device after.
 */
static int write_bashrc(const char *path, const char *prompt)
{
    char text[1024];
    int len = snprintf(text, sizeof(text),
                       "# Written by `ddlocal device`: your ~/.bashrc, then the device's prompt.\n"
                       "if [ -r ~/.bashrc ]; then . ~/.bashrc; fi\n"
                       "PS1='%s'\n",
                       prompt);

    if (len < 0 || (size_t)len >= sizeof(text)) {
        return -1;
    }
    return dd_fs_write_atomic(path, text, (size_t)len, 0644) == DD_FS_OK ? 0 : -1;
}

int dd_cmd_device(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    dd_devicehost_session_t session;
    char abs_dir[PATH_MAX];
    char state_dir[PATH_MAX + 200];
    char log_dir[PATH_MAX + 16];
    char log_path[PATH_MAX + 200];
    char rc_path[PATH_MAX + 220];
    char clock_spec[256];
    char prompt[200];
    char *shell_argv[5];
    char *const *program;
    const char *name;
    const char *shell;
    dd_devicehost_status_t st;
    unsigned remaining = 0;
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
        return dd_clienv_usage_error("device",
                                     "name the device, e.g. `ddlocal device SensorDevice03`");
    }
    if (!dd_name_valid(DD_NAME_THING, name)) {
        return dd_clienv_usage_error("device", "'%s' is not a valid device name (%s)", name,
                                     dd_name_pattern(DD_NAME_THING));
    }
    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    (void)snprintf(state_dir, sizeof(state_dir), "%s/run/device-%s", abs_dir, name);
    (void)snprintf(log_dir, sizeof(log_dir), "%s/logs", abs_dir);
    (void)snprintf(log_path, sizeof(log_path), "%s/device-%s.log", log_dir, name);
    (void)snprintf(rc_path, sizeof(rc_path), "%s/bashrc", state_dir);
    (void)dd_fs_mkdirs(log_dir, 0755);

    /* The environment of the device's programs (D1/D2 of issue 11). */
    read_clock_spec(abs_dir, clock_spec, sizeof(clock_spec));
    (void)setenv("DDLOCAL_DATA_DIR", abs_dir, 1);
    if (clock_spec[0] != '\0') {
        (void)setenv("DDLOCAL_CLOCK", clock_spec, 1);
    }
    (void)setenv("DDLOCAL_DEVICE", name, 1);
    (void)snprintf(prompt, sizeof(prompt), "[%s] \\w $ ", name);

    st = dd_devicehost_open(&session, state_dir, (uint16_t)ep.mqtt_port, (uint16_t)ep.alpn_port,
                            log_path);
    if (st != DD_DEVICEHOST_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_devicehost_strerror(st));
        return 1;
    }
    if (session.stale_removed) {
        fprintf(stderr,
                "ddlocal device: the previous relay of %s had died (killed?); started a new one\n",
                name);
    }
    if (optind < argc) {
        (void)setenv("PS1", prompt, 1);
        program = argv + optind;
    } else {
        shell = getenv("SHELL");
        shell = shell != NULL && shell[0] != '\0' ? shell : "/bin/sh";
        shell_argv[0] = (char *)shell;
        if (strcmp(base_name(shell), "bash") == 0 && write_bashrc(rc_path, prompt) == 0) {
            shell_argv[1] = "--rcfile";
            shell_argv[2] = rc_path;
            shell_argv[3] = "-i";
            shell_argv[4] = NULL;
        } else {
            /* dash and others do not expand \w. */
            if (strcmp(base_name(shell), "bash") != 0) {
                (void)snprintf(prompt, sizeof(prompt), "[%s] $ ", name);
            }
            shell_argv[1] = "-i";
            shell_argv[2] = NULL;
        }
        (void)setenv("PS1", prompt, 1);
        program = shell_argv;
        if (session.joined) {
            printf(
                "You are on device %s again: the same network namespace as its other %u shell%s.\n"
                "Exit the shell to leave; the device stays while any of its shells is open.\n",
                name, session.sessions - 1, session.sessions == 2 ? "" : "s");
        } else {
            printf("You are on device %s: a network namespace of its own.\n"
                   "  127.0.0.1:%d  -> the broker's MQTT listener (8883 role)\n"
                   "  127.0.0.1:%d   -> the broker's ALPN listener (443 role)\n"
                   "  root CA: %s\n"
                   "Programs started here are measured alone (/proc/net/dev). A second\n"
                   "`ddlocal device %s` joins this device. Exit the shell to leave.\n",
                   name, DD_DEVICEHOST_PORT, DD_DEVICEHOST_ALPN_PORT, ep.root_ca, name);
        }
        fflush(stdout);
    }
    st = dd_devicehost_run(&session, program, &status);
    if (st != DD_DEVICEHOST_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_devicehost_strerror(st));
        status = 1;
    }
    if (dd_devicehost_close(&session, &remaining) != DD_DEVICEHOST_OK) {
        fprintf(stderr, "ddlocal device: %s\n", dd_devicehost_strerror(DD_DEVICEHOST_HOLDER_GONE));
    }
    return status;
}
