/*
 * ddlocal down: stops what `ddlocal up` (foreground or --detach) started on a data dir and waits
 * until it is gone - for scripts and CI jobs that start the pipeline in the background.
 */
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_clock.h"
#include "dd_endpoints.h"

#include <dirent.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char DOWN_HELP[] =
    "usage: ddlocal down [-D DIR] [--timeout SEC]\n"
    "\n"
    "Stop the pipeline of a data dir, however it was started (`ddlocal up`, `up --detach`): its\n"
    "`ddlocal up` gets SIGTERM and stops mosquitto, ddlocald and the isolator and removes\n"
    "endpoints.json; `down` returns once every one of those processes is gone (SIGKILL after\n"
    "--timeout). The relays of `ddlocal device` shells on the data dir are stopped too (their\n"
    "shells stay, without a broker). Nothing running is not an error; a stale endpoints.json\n"
    "(its `ddlocal up` killed) is removed, with any of its processes still alive.\n"
    "\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n"
    "      --timeout SEC   wait this long for a clean stop before SIGKILL (default 30)\n"
    "\n"
    "exit status: 0 stopped (or was not running), 1 a process could not be stopped or\n"
    "             endpoints.json is unreadable, 2 usage\n";

/* At most: `up`, its children, and a few device relays. */
#define MAX_STOP 32

typedef struct stop_set {
    dd_endpoints_proc_t procs[MAX_STOP];
    size_t count;
} stop_set_t;

static void add(stop_set_t *set, const dd_endpoints_proc_t *proc)
{
    if (set->count < MAX_STOP && proc->pid > 0 && proc->pid != (int)getpid() &&
        dd_endpoints_proc_alive(proc)) {
        set->procs[set->count++] = *proc;
    }
}

/*
 * The holders of `ddlocal device` sessions (DIR/run/device-NAME/holder.pid): forked ddlocal
 * processes, so without a recorded start time they are recognised by the name "ddlocal".
 */
static void add_relays(stop_set_t *set, const char *data_dir)
{
    char path[1024];
    DIR *dir;
    const struct dirent *e;

    (void)snprintf(path, sizeof(path), "%s/run", data_dir);
    dir = opendir(path);
    if (dir == NULL) {
        return;
    }
    while ((e = readdir(dir)) != NULL) {
        char pidfile[1400];
        char text[32] = "";
        FILE *f;
        dd_endpoints_proc_t proc;

        if (strncmp(e->d_name, "device-", 7) != 0) {
            continue;
        }
        (void)snprintf(pidfile, sizeof(pidfile), "%s/%s/holder.pid", path, e->d_name);
        f = fopen(pidfile, "r");
        if (f == NULL) {
            continue;
        }
        if (fgets(text, sizeof(text), f) == NULL) {
            text[0] = '\0';
        }
        (void)fclose(f);
        memset(&proc, 0, sizeof(proc));
        (void)snprintf(proc.name, sizeof(proc.name), "device relay");
        proc.pid = atoi(text);
        add(set, &proc);
    }
    (void)closedir(dir);
}

static size_t count_alive(const stop_set_t *set)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < set->count; i++) {
        n += dd_endpoints_proc_alive(&set->procs[i]) ? 1 : 0;
    }
    return n;
}

static void signal_alive(const stop_set_t *set, int sig)
{
    size_t i;

    for (i = 0; i < set->count; i++) {
        if (dd_endpoints_proc_alive(&set->procs[i])) {
            (void)kill(set->procs[i].pid, sig);
        }
    }
}

static bool wait_gone(const stop_set_t *set, int64_t timeout_ms)
{
    int64_t deadline = dd_clock_wall_ms() + timeout_ms;

    while (count_alive(set) > 0) {
        if (dd_clock_wall_ms() > deadline) {
            return false;
        }
        (void)poll(NULL, 0, 20);
    }
    return true;
}

int dd_cmd_down(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    char abs_dir[512];
    char path[700];
    dd_endpoints_t ep;
    dd_endpoints_status_t st;
    stop_set_t up_set;
    stop_set_t rest;
    long timeout_s = 30;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 't': {
            char *end = NULL;
            timeout_s = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || timeout_s < 1 || timeout_s > 3600) {
                return dd_clienv_usage_error("down", "--timeout takes 1..3600 seconds, not '%s'",
                                             optarg);
            }
            break;
        }
        case 'h': fputs(DOWN_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("down", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("down", "unexpected argument '%s'", argv[optind]);
    }
    if (dd_clienv_absolute(data_dir, abs_dir, sizeof(abs_dir)) != DD_CLIENV_OK) {
        return dd_clienv_usage_error("down", "data dir path too long");
    }
    (void)snprintf(path, sizeof(path), "%s/%s", abs_dir, DD_ENDPOINTS_FILE);
    st = dd_endpoints_read(abs_dir, &ep);
    if (st == DD_ENDPOINTS_BAD_FORMAT || st == DD_ENDPOINTS_BAD_PARAMETER) {
        fprintf(stderr, "ddlocal down: %s: %s\n", path, dd_endpoints_strerror(st));
        return 1;
    }
    memset(&up_set, 0, sizeof(up_set));
    memset(&rest, 0, sizeof(rest));
    if (st == DD_ENDPOINTS_OK) {
        add(&up_set, &ep.up);
    }
    /* Children of a killed `up` end by their death signal; one that lingers is stopped here. */
    for (i = 0; i < ep.proc_count; i++) {
        add(&rest, &ep.procs[i]);
    }
    add_relays(&rest, abs_dir);
    /* `up` stops its children in order (isolator, ddlocald, broker) and removes the file. */
    signal_alive(&up_set, SIGTERM);
    if (!wait_gone(&up_set, timeout_s * 1000)) {
        fprintf(stderr, "ddlocal down: ddlocal up (pid %d) did not stop in %ld s; killing it\n",
                ep.up.pid, timeout_s);
        signal_alive(&up_set, SIGKILL);
        (void)wait_gone(&up_set, 5000);
    }
    signal_alive(&rest, SIGTERM);
    if (!wait_gone(&rest, timeout_s * 1000)) {
        signal_alive(&rest, SIGKILL);
        (void)wait_gone(&rest, 5000);
    }
    if (st != DD_ENDPOINTS_NOT_RUNNING) {
        /* `up` removes it on a clean stop; after a SIGKILL (ours or earlier) it is stale. */
        (void)unlink(path);
    }
    if (count_alive(&up_set) + count_alive(&rest) > 0) {
        for (i = 0; i < rest.count; i++) {
            if (dd_endpoints_proc_alive(&rest.procs[i])) {
                fprintf(stderr, "ddlocal down: %s (pid %d) is still running\n", rest.procs[i].name,
                        rest.procs[i].pid);
            }
        }
        return 1;
    }
    if (st == DD_ENDPOINTS_OK) {
        printf("stopped (data dir %s)\n", abs_dir);
    } else if (st == DD_ENDPOINTS_STALE) {
        printf("was not running (data dir %s): removed a stale %s (ddlocal up pid %d was gone)\n",
               abs_dir, DD_ENDPOINTS_FILE, ep.up.pid);
    } else {
        printf("not running (data dir %s)\n", abs_dir);
    }
    return 0;
}
