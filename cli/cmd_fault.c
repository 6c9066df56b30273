/*
 * ddlocal fault: inject faults into the running pipeline for resilience tests (add, list,
 * clear under /ddlocal/v1/faults): Throttled, late or missing replies to reports, a dropped
 * device connection, dropped or late alert deliveries, failed mitigation actions.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char FAULT_HELP[] =
    "usage: ddlocal fault add KIND [--thing NAME] [--count N] [--expires SECONDS]\n"
    "                          [--delay-ms MS] [--action NAME] [--action-type TYPE]\n"
    "                          [--error-code CODE] [--message TEXT] [-D DIR]\n"
    "       ddlocal fault list [-D DIR]\n"
    "       ddlocal fault clear [ID | --thing NAME | --kind KIND] [-D DIR]\n"
    "\n"
    "Inject faults into the running pipeline of a data dir, to test how devices and backends\n"
    "cope. Each fault applies to one thing (--thing) or to every thing (the default, \"*\"),\n"
    "fires the next N times (--count; default: until cleared) and stops after SECONDS of\n"
    "pipeline time (--expires; a manual clock expires it at an advance). Each firing is an\n"
    "event of type \"fault\" (`ddlocal events --type fault`). Faults live in ddlocald's memory:\n"
    "a restart or a full `ddlocal reset` clears them.\n"
    "\n"
    "Kinds (what happens to the thing's next report, alert or mitigation):\n"
    "  throttle         the report is refused on .../rejected with ErrorCode \"Throttled\"\n"
    "                   and not stored\n"
    "  delay-reply      the report is taken; its reply leaves --delay-ms (wall time) late\n"
    "  no-reply         the report is taken; no reply is sent\n"
    "  disconnect       the report is dropped unanswered and the broker closes the thing's\n"
    "                   connections (it may connect again at once)\n"
    "  drop-delivery    an alert about the thing is not delivered: no SNS stand-in message,\n"
    "                   no webhook, no Lambda\n"
    "  delay-delivery   ... delivered --delay-ms (wall time) late\n"
    "  fail-mitigation  a mitigation action on the thing is recorded FAILED with --error-code\n"
    "                   (default FaultInjected) instead of running; --action and\n"
    "                   --action-type narrow it to one action or actionType\n"
    "\n"
    "  -t, --thing NAME      the thing, or \"*\" for every thing (default)\n"
    "  -n, --count N         fire N times, then go (1..1000000)\n"
    "  -e, --expires S       stop after S seconds of pipeline time\n"
    "  -d, --delay-ms MS     delay-reply, delay-delivery: how late (1..600000)\n"
    "  -a, --action NAME     fail-mitigation: only this mitigation action\n"
    "      --action-type T   fail-mitigation: only this actionType\n"
    "      --error-code C    fail-mitigation: the execution's errorCode\n"
    "      --message TEXT    fail-mitigation: the execution's message\n"
    "  -k, --kind KIND       clear: only faults of this kind\n"
    "  -D, --data-dir DIR    data dir of the running pipeline\n"
    "\n"
    "add prints the fault with its id; list prints the faults in force; clear removes one\n"
    "(ID), those of a scope (--thing, exactly as added) or kind, or all, and prints how many.\n";

/* A number option as JSON: the server checks the range and says so. */
static bool number_arg(const char *opt, const char *text, bool integer, cJSON *body,
                       const char *member)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) ||
        (integer && (fabs(v) > 1e15 || v != (double)(long long)v))) {
        (void)dd_clienv_usage_error("fault", "%s needs %s, not '%s'", opt,
                                    integer ? "an integer" : "a number", text);
        return false;
    }
    (void)cJSON_AddNumberToObject(body, member, v);
    return true;
}

static int connect_dir(const char *data_dir, dd_apiclient_endpoints_t *ep)
{
    char abs_dir[PATH_MAX];

    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal fault: %s\n", dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return 1;
    }
    return 0;
}

int dd_cmd_fault(int argc, char **argv)
{
    enum { OPT_ACTION_TYPE = 256, OPT_ERROR_CODE, OPT_MESSAGE };
    static const struct option options[] = {
        {"thing", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"expires", required_argument, NULL, 'e'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"action", required_argument, NULL, 'a'},
        {"action-type", required_argument, NULL, OPT_ACTION_TYPE},
        {"error-code", required_argument, NULL, OPT_ERROR_CODE},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"kind", required_argument, NULL, 'k'},
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *verb;
    const char *thing = NULL;
    const char *kind = NULL;
    dd_apiclient_endpoints_t ep;
    cJSON *body = cJSON_CreateObject();
    cJSON *out = NULL;
    char path[600];
    bool add_only = false; /* an option only `add` takes was given */
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:n:e:d:a:k:D:h", options, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 't': thing = optarg; break;
        case 'n': ok = number_arg("--count", optarg, true, body, "count"); break;
        case 'e': ok = number_arg("--expires", optarg, false, body, "expiresInSeconds"); break;
        case 'd': ok = number_arg("--delay-ms", optarg, true, body, "delayMs"); break;
        case 'a': (void)cJSON_AddStringToObject(body, "actionName", optarg); break;
        case OPT_ACTION_TYPE: (void)cJSON_AddStringToObject(body, "actionType", optarg); break;
        case OPT_ERROR_CODE: (void)cJSON_AddStringToObject(body, "errorCode", optarg); break;
        case OPT_MESSAGE: (void)cJSON_AddStringToObject(body, "message", optarg); break;
        case 'k': kind = optarg; break;
        case 'D': data_dir = optarg; break;
        case 'h':
            cJSON_Delete(body);
            fputs(FAULT_HELP, stdout);
            return 0;
        default: cJSON_Delete(body); return dd_clienv_usage_error("fault", "unknown option");
        }
        if (!ok) {
            cJSON_Delete(body);
            return DD_CLI_USAGE;
        }
        add_only = add_only || (c != 't' && c != 'k' && c != 'D');
    }
    if (optind >= argc) {
        cJSON_Delete(body);
        return dd_clienv_usage_error("fault", "add, list or clear?");
    }
    verb = argv[optind++];
    if (strcmp(verb, "add") == 0) {
        if (optind != argc - 1) {
            cJSON_Delete(body);
            return dd_clienv_usage_error("fault", "add needs one KIND (throttle, delay-reply, "
                                                  "no-reply, disconnect, drop-delivery, "
                                                  "delay-delivery, fail-mitigation)");
        }
        if (kind != NULL) {
            cJSON_Delete(body);
            return dd_clienv_usage_error("fault", "--kind is for clear; add takes KIND itself");
        }
        (void)cJSON_AddStringToObject(body, "kind", argv[optind]);
        if (thing != NULL) {
            (void)cJSON_AddStringToObject(body, "thing", thing);
        }
        (void)snprintf(path, sizeof(path), "/ddlocal/v1/faults");
    } else if (strcmp(verb, "list") == 0 || strcmp(verb, "clear") == 0) {
        bool clear = strcmp(verb, "clear") == 0;
        if (add_only || (!clear && (thing != NULL || kind != NULL))) {
            cJSON_Delete(body);
            return dd_clienv_usage_error("fault", "%s takes %s", verb,
                                         clear ? "ID, --thing or --kind" : "no options but -D");
        }
        if (optind < argc && (!clear || optind != argc - 1 || thing != NULL || kind != NULL)) {
            cJSON_Delete(body);
            return dd_clienv_usage_error("fault", "unexpected argument '%s'", argv[optind]);
        }
        if (clear && optind < argc) {
            char id[64];
            dd_apiclient_escape(argv[optind], id, sizeof(id));
            (void)snprintf(path, sizeof(path), "/ddlocal/v1/faults/%s", id);
        } else if (clear) {
            char t[400] = "";
            char k[64] = "";
            if (thing != NULL) {
                dd_apiclient_escape(thing, t, sizeof(t));
            }
            if (kind != NULL) {
                dd_apiclient_escape(kind, k, sizeof(k));
            }
            (void)snprintf(path, sizeof(path), "/ddlocal/v1/faults%s%s%s%s%s",
                           thing != NULL || kind != NULL ? "?" : "", thing != NULL ? "thing=" : "",
                           t, thing != NULL && kind != NULL ? "&" : "",
                           kind != NULL ? "kind=" : "");
            (void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", k);
        } else {
            (void)snprintf(path, sizeof(path), "/ddlocal/v1/faults");
        }
        cJSON_Delete(body);
        body = NULL;
        verb = clear ? "DELETE" : "GET";
    } else {
        cJSON_Delete(body);
        return dd_clienv_usage_error("fault", "unknown verb '%s' (add, list or clear)", verb);
    }
    if (connect_dir(data_dir, &ep) != 0) {
        cJSON_Delete(body);
        return 1;
    }
    /* The server names what is wrong with a fault (400) or that an id is not in force (404). */
    if (dd_apiclient_json(ep.api, body != NULL ? "POST" : verb, path, body, &out) !=
        DD_APICLIENT_OK) {
        cJSON_Delete(body);
        return 1;
    }
    cJSON_Delete(body);
    return dd_clienv_print_json(out);
}
