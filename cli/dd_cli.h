/**
 * @file dd_cli.h
 * @brief The `ddlocal` command's subcommands.
 *
 * Each subcommand lives in its own cli/cmd_<name>.c and is a plain
 * `int dd_cmd_<name>(int argc, char **argv)` where argv[0] is the subcommand
 * name. It returns the process exit status: 0 success, 1 failure at run time,
 * 2 usage error (with a message naming the problem), and prints `--help`.
 * Adding a subcommand = one file + one line in the table of cli/ddlocal.c.
 */
#ifndef DD_CLI_H_
#define DD_CLI_H_

/** Exit status for a usage error (bad flag, missing argument). */
#define DD_CLI_USAGE 2

/* One declaration per subcommand, in the order of the table in ddlocal.c. */
int dd_cmd_init(int argc, char **argv);
int dd_cmd_thing(int argc, char **argv);
int dd_cmd_cert(int argc, char **argv);
int dd_cmd_group(int argc, char **argv);
int dd_cmd_policy(int argc, char **argv);
int dd_cmd_sns(int argc, char **argv);
int dd_cmd_lambda(int argc, char **argv);
int dd_cmd_up(int argc, char **argv);
int dd_cmd_status(int argc, char **argv);
int dd_cmd_down(int argc, char **argv);
int dd_cmd_clock(int argc, char **argv);
int dd_cmd_wait(int argc, char **argv);
int dd_cmd_events(int argc, char **argv);
int dd_cmd_health(int argc, char **argv);
int dd_cmd_reset(int argc, char **argv);
int dd_cmd_fault(int argc, char **argv);
int dd_cmd_snapshot(int argc, char **argv);
int dd_cmd_isolator(int argc, char **argv);
int dd_cmd_demo(int argc, char **argv);
int dd_cmd_device(int argc, char **argv);
int dd_cmd_workshop(int argc, char **argv);
int dd_cmd_replay(int argc, char **argv);
/** `ddlocal sweep`: one behavior with a range of thresholds, scored (dd_sweep). */
int dd_cmd_sweep(int argc, char **argv);
/** `ddlocal plot`: SVG pictures of a replay or a sweep (dd_plot, gnuplot). */
int dd_cmd_plot(int argc, char **argv);
/** `ddlocal export`: a stored time range as a replay bundle (dd_export). */
int dd_cmd_export(int argc, char **argv);
/** `ddlocal record`: follows the pipeline, appending replay lines (dd_export). */
int dd_cmd_record(int argc, char **argv);
/** `ddlocal datapoints`: the stored history's datapoints, replayed (dd_datapoints). */
int dd_cmd_datapoints(int argc, char **argv);
int dd_cmd_fleet(int argc, char **argv);

#endif /* DD_CLI_H_ */
