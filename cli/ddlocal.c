/*
 * ddlocal: the one command users type. Dispatches to the subcommands of
 * dd_cli.h.
 */
#include "dd_cli.h"
#include "dd_log.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ddlocal %s\n", DD_VERSION);
    return 0;
}

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand_t;

static const subcommand_t SUBCOMMANDS[] = {
    {"up", dd_cmd_up,
     "start the whole pipeline in the foreground (Ctrl-C stops it), or in the background "
     "(--detach)"},
    {"status", dd_cmd_status,
     "is the pipeline of a data dir running: pids, endpoints (exit 3: no)"},
    {"down", dd_cmd_down, "stop the pipeline of a data dir (started by `up` or `up --detach`)"},
    {"demo", dd_cmd_demo, "run a workshop module end to end, narrated (module4, module3)"},
    {"workshop", dd_cmd_workshop,
     "load the workshop's world (things, policies, group; --with-profiles) into a running "
     "pipeline"},
    {"device", dd_cmd_device, "a shell on a simulated device host (its own network namespace)"},
    {"clock", dd_cmd_clock, "show or advance the pipeline clock of a running pipeline"},
    {"wait", dd_cmd_wait,
     "wait for a violation, alert, group move, report or fault (exit 1 at timeout)"},
    {"events", dd_cmd_events, "print a running pipeline's events as JSON lines (--follow)"},
    {"reset", dd_cmd_reset,
     "empty the running pipeline's state (all, or --kinds registry,profiles,...) between tests"},
    {"fault", dd_cmd_fault,
     "inject faults for resilience tests: Throttled, late or no replies, disconnects, dropped "
     "alerts, failed mitigations"},
    {"snapshot", dd_cmd_snapshot,
     "save or restore the whole state of the running pipeline (DIR/snapshots/NAME.db)"},
    {"health", dd_cmd_health,
     "is the running pipeline able to work: broker connected, store writing (exit 0: yes)"},
    {"isolator", dd_cmd_isolator, "the workshop's IsolateDevice Lambda: alerts -> thing group"},
    {"init", dd_cmd_init, "create a data dir (CA, certificates, database)"},
    {"thing", dd_cmd_thing, "things, and device certificates with --with-cert"},
    {"cert", dd_cmd_cert, "device certificates: create, status, attach"},
    {"group", dd_cmd_group, "thing groups and their members"},
    {"policy", dd_cmd_policy, "IoT policies and their attachments"},
    {"sns", dd_cmd_sns, "webhook subscriptions of the SNS stand-in topics"},
    {"lambda", dd_cmd_lambda, "Python Lambda handlers invoked by an SNS stand-in topic"},
    {"replay", dd_cmd_replay, "dry-run security profiles over a recorded stream"},
    {"sweep", dd_cmd_sweep, "score a behavior's thresholds against known-bad things"},
    {"plot", dd_cmd_plot, "draw a replay's datapoints and alarms, or a sweep, as SVG"},
    {"export", dd_cmd_export, "write a stored time range of the pipeline as a replay bundle"},
    {"record", dd_cmd_record, "append the pipeline's reports and metering to a replay stream"},
    {"datapoints", dd_cmd_datapoints, "datapoints and fleet statistics of the stored history"},
    {"fleet", dd_cmd_fleet, "simulate a fleet of devices from a scenario file"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: ddlocal <command> [options]\n\n"
                 "A local, offline stand-in for the AWS IoT Device Defender Detect pipeline.\n\n"
                 "commands:\n");
    for (i = 0; i < sizeof(SUBCOMMANDS) / sizeof(SUBCOMMANDS[0]); i++) {
        fprintf(out, "  %-10s %s\n", SUBCOMMANDS[i].name, SUBCOMMANDS[i].summary);
    }
    fprintf(out, "\nRun `ddlocal <command> --help` for a command's options.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    dd_log_set_program("ddlocal");
    if (argc < 2) {
        usage(stderr);
        return DD_CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (i = 0; i < sizeof(SUBCOMMANDS) / sizeof(SUBCOMMANDS[0]); i++) {
        if (strcmp(argv[1], SUBCOMMANDS[i].name) == 0) {
            return SUBCOMMANDS[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ddlocal: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return DD_CLI_USAGE;
}
