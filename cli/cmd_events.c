/*
 * ddlocal wait ... and ddlocal events ...: wait for, or print, the events of a
 * running pipeline, through its long-poll GET /ddlocal/v1/events (dd_events.h).
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_clock.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One request waits at most this long (the server's cap, under the client's 30 s timeout). */
#define POLL_MS 20000
/* A poll the server answered "busy" (its waiter cap) is asked again after this pause. */
#define BUSY_PAUSE_MS 200
/* Events shown when a wait times out. */
#define SEEN_SHOWN 5
/* Exit status when ddlocald cannot be asked. */
#define EXIT_UNREACHABLE 3

static const char WAIT_HELP[] =
    "usage: ddlocal wait violation|alert|group|report|fault|enforcement|audit [options]\n"
    "\n"
    "Waits until the running pipeline logs a matching event, prints it (one JSON\n"
    "line) and exits 0; at the timeout exits 1 and prints the last events it saw\n"
    "instead. By default any event the pipeline's log still holds since the\n"
    "last `ddlocal reset` counts (so a wait after the action that causes the\n"
    "event does not miss it); --new or --after SEQ count only later ones.\n"
    "\n"
    "  violation        a violation event (default --event in-alarm)\n"
    "  alert            an alert published on an SNS stand-in topic (default --event in-alarm)\n"
    "  group            a thing added to a thing group (default --change added)\n"
    "  report           a device report (--result accepted|rejected to choose)\n"
    "  fault            an injected fault fired (`ddlocal fault`; --kind K to choose)\n"
    "  enforcement      the broker refused a connect, publish, subscribe or receive\n"
    "                   (--reason R to choose)\n"
    "  audit            an audit task finished (on demand or scheduled)\n"
    "\n"
    "  --thing T        only thing T's events\n"
    "  --profile P      only security profile P's (violation, alert)\n"
    "  --group G        only thing group G's (group)\n"
    "  --event E        in-alarm, alarm-cleared or alarm-invalidated (violation, alert)\n"
    "  --change C       added or removed (group)\n"
    "  --result R       accepted or rejected (report)\n"
    "  --kind K         throttle, delay-reply, no-reply, disconnect, drop-delivery,\n"
    "                   delay-delivery or fail-mitigation (fault)\n"
    "  --reason R       policy, certificate-not-active, revoked, unknown-certificate,\n"
    "                   reserved-topic, ... (enforcement)\n"
    "  --timeout SEC    give up after SEC seconds (default 30)\n"
    "  --after SEQ      only events with a sequence number above SEQ\n"
    "  --new            only events logged after the wait started\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n"
    "\n"
    "exit status: 0 happened, 1 timed out, 2 usage, 3 no running pipeline\n";

static const char EVENTS_HELP[] =
    "usage: ddlocal events [--follow] [--type T[,T...]] [--thing T] [--after SEQ] [-D DIR]\n"
    "\n"
    "Prints the events of the running pipeline's log as JSON lines: report\n"
    "(accepted/rejected with the reason), datapoint, violation, alert, delivery,\n"
    "group, fault (an injected fault fired), enforcement (the broker refused a\n"
    "connect, publish, subscribe or receive), audit (an audit task finished),\n"
    "clock (the clock's scale changed: `ddlocal clock scale`). Each has a seq;\n"
    "--after SEQ prints only later ones.\n"
    "\n"
    "  -f, --follow     keep printing new events until interrupted\n"
    "  --type T         only these types (comma-separated)\n"
    "  --thing T        only thing T's events\n"
    "  --after SEQ      only events with a sequence number above SEQ\n"
    "  -D, --data-dir DIR  data dir of the running pipeline\n";

typedef struct filter {
    const char *type;
    const char *thing;
    const char *profile;
    const char *group;
    const char *member; /* checked here: the member ... */
    const char *value;  /* ... must have this value (NULL: any) */
} filter_t;

/* Appends "&name=value" (percent-encoded) when @p value is set. */
static void add_param(char *url, size_t len, const char *name, const char *value)
{
    char esc[3 * 256 + 1];
    size_t n = strlen(url);

    if (value == NULL || n >= len) {
        return;
    }
    dd_apiclient_escape(value, esc, sizeof(esc));
    (void)snprintf(url + n, len - n, "&%s=%s", name, esc);
}

/* One GET /ddlocal/v1/events; *out is its JSON (NULL on failure, after a message). */
static int poll_events(const char *api, uint64_t after, int64_t timeout_ms, const filter_t *f,
                       size_t limit, cJSON **out)
{
    char url[2048];
    char *text = NULL;
    long http = 0;
    dd_apiclient_status_t st;

    (void)snprintf(url, sizeof(url), "/ddlocal/v1/events?after=%" PRIu64 "&timeout=%lld", after,
                   (long long)timeout_ms);
    if (limit > 0) {
        (void)snprintf(url + strlen(url), sizeof(url) - strlen(url), "&limit=%zu", limit);
    }
    if (f != NULL) {
        add_param(url, sizeof(url), "type", f->type);
        add_param(url, sizeof(url), "thing", f->thing);
        add_param(url, sizeof(url), "profile", f->profile);
        add_param(url, sizeof(url), "group", f->group);
    }
    *out = NULL;
    st = dd_apiclient_request(api, "GET", url, NULL, &http, &text);
    if (st != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal: cannot ask ddlocald for its events: %s\n",
                dd_apiclient_strerror(st));
        free(text);
        return EXIT_UNREACHABLE;
    }
    if (http != 200) {
        fprintf(stderr, "ddlocal: GET /ddlocal/v1/events answered %ld: %s\n", http,
                text != NULL ? text : "");
        free(text);
        return http == 400 ? DD_CLI_USAGE : EXIT_UNREACHABLE;
    }
    *out = cJSON_Parse(text);
    free(text);
    if (*out == NULL) {
        fprintf(stderr, "ddlocal: ddlocald answered events that are not JSON\n");
        return EXIT_UNREACHABLE;
    }
    return 0;
}

static uint64_t seq_of(const cJSON *obj, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsNumber(n) && n->valuedouble > 0 ? (uint64_t)n->valuedouble : 0;
}

static const cJSON *first_event(const cJSON *page)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(page, "events");

    return cJSON_IsArray(list) ? list->child : NULL;
}

static void print_line(FILE *out, const cJSON *event)
{
    char *line = cJSON_PrintUnformatted(event);

    if (line != NULL) {
        fprintf(out, "%s\n", line);
        fflush(out);
    }
    cJSON_free(line);
}

static bool wanted(const filter_t *f, const cJSON *event)
{
    const cJSON *v;

    if (f->member == NULL || f->value == NULL) {
        return true;
    }
    v = cJSON_GetObjectItemCaseSensitive(event, f->member);
    return cJSON_IsString(v) && strcmp(v->valuestring, f->value) == 0;
}

static int resolve_api(const char *cmd, const char *data_dir, dd_apiclient_endpoints_t *ep)
{
    char abs_dir[PATH_MAX];

    if (realpath(data_dir, abs_dir) == NULL ||
        dd_apiclient_endpoints(abs_dir, ep) != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal %s: %s\n", cmd, dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
        return EXIT_UNREACHABLE;
    }
    return 0;
}

static bool parse_seq(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (text[0] < '0' || text[0] > '9') {
        return false;
    }
    v = strtoull(text, &end, 10);
    if (*end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* At a timeout: the last events after @p from, whatever they are, on stderr. */
static void show_seen(const char *api, uint64_t from, uint64_t last)
{
    cJSON *page = NULL;
    const cJSON *e;
    uint64_t after = last > from + SEEN_SHOWN ? last - SEEN_SHOWN : from;

    if (poll_events(api, after, 0, NULL, SEEN_SHOWN, &page) != 0) {
        return;
    }
    e = cJSON_GetObjectItemCaseSensitive(page, "events");
    if (cJSON_GetArraySize(e) == 0) {
        fprintf(stderr, "ddlocal wait: no event at all was logged while waiting\n");
    } else {
        fprintf(stderr, "ddlocal wait: the last events seen instead:\n");
        for (e = e->child; e != NULL; e = e->next) {
            print_line(stderr, e);
        }
    }
    cJSON_Delete(page);
}

int dd_cmd_wait(int argc, char **argv)
{
    static const struct option options[] = {
        {"thing", required_argument, NULL, 't'},   {"profile", required_argument, NULL, 'p'},
        {"group", required_argument, NULL, 'g'},   {"event", required_argument, NULL, 'e'},
        {"change", required_argument, NULL, 'c'},  {"result", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 'T'}, {"after", required_argument, NULL, 'a'},
        {"new", no_argument, NULL, 'n'},           {"data-dir", required_argument, NULL, 'D'},
        {"kind", required_argument, NULL, 'k'},    {"reason", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *kind;
    const char *value = NULL;
    dd_apiclient_endpoints_t ep;
    filter_t f;
    double timeout_s = 30;
    uint64_t after = 0;
    uint64_t start;
    bool only_new = false;
    bool after_set = false;
    int64_t deadline;
    int c;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(WAIT_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    kind = argv[1];
    memset(&f, 0, sizeof(f));
    if (strcmp(kind, "violation") == 0 || strcmp(kind, "alert") == 0) {
        f.member = "violationEventType";
        value = "in-alarm";
    } else if (strcmp(kind, "group") == 0) {
        f.member = "change";
        value = "added";
    } else if (strcmp(kind, "report") == 0) {
        f.member = "result";
    } else if (strcmp(kind, "fault") == 0) {
        f.member = "kind";
    } else if (strcmp(kind, "enforcement") == 0) {
        f.member = "reason";
    } else if (strcmp(kind, "audit") != 0) {
        return dd_clienv_usage_error("wait",
                                     "wait for violation, alert, group, report, fault, "
                                     "enforcement or audit, not '%s'",
                                     kind);
    }
    f.type = kind;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 't': f.thing = optarg; break;
        case 'p': f.profile = optarg; break;
        case 'g': f.group = optarg; break;
        case 'e':
        case 'c':
        case 'k':
        case 'R':
        case 'r': value = optarg; break;
        case 'T': {
            char *end = NULL;
            timeout_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(timeout_s >= 0) || timeout_s > 86400) {
                return dd_clienv_usage_error("wait",
                                             "--timeout takes seconds (0 to 86400), not "
                                             "'%s'",
                                             optarg);
            }
            break;
        }
        case 'a':
            if (!parse_seq(optarg, &after)) {
                return dd_clienv_usage_error("wait", "--after takes a sequence number, not '%s'",
                                             optarg);
            }
            after_set = true;
            break;
        case 'n': only_new = true; break;
        case 'D': data_dir = optarg; break;
        case 'h': fputs(WAIT_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("wait", "unknown option");
        }
    }
    if (argc - 1 != optind) {
        return dd_clienv_usage_error("wait", "unexpected argument '%s'", argv[1 + optind]);
    }
    f.value = value;
    rc = resolve_api("wait", data_dir, &ep);
    if (rc != 0) {
        return rc;
    }
    deadline = dd_clock_mono_ms() + (int64_t)(timeout_s * 1000.0);
    if (only_new && !after_set) {
        cJSON *page = NULL;
        /* An "after" past the newest event is answered with the newest's seq. */
        rc = poll_events(ep.api, (uint64_t)INT64_MAX, 0, NULL, 1, &page);
        if (rc != 0) {
            return rc;
        }
        after = seq_of(page, "lastSeq");
        cJSON_Delete(page);
    }
    if (!only_new && !after_set) {
        /* Events from before the last `ddlocal reset` belong to an earlier test. */
        filter_t resets = {.type = "reset"};
        cJSON *page = NULL;
        const cJSON *e;
        rc = poll_events(ep.api, 0, 0, &resets, 0, &page);
        if (rc != 0) {
            return rc;
        }
        cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive(page, "events")) {
            uint64_t seq = seq_of(e, "seq");
            after = seq > after ? seq : after;
        }
        cJSON_Delete(page);
    }
    start = after;
    for (;;) {
        int64_t left = deadline - dd_clock_mono_ms();
        cJSON *page = NULL;
        const cJSON *e;
        bool busy;

        rc = poll_events(ep.api, after,
                         left <= 0        ? 0
                         : left < POLL_MS ? left
                                          : POLL_MS,
                         &f, 0, &page);
        if (rc != 0) {
            return rc;
        }
        if (seq_of(page, "missed") > 0) {
            fprintf(stderr,
                    "ddlocal wait: %" PRIu64 " event(s) left the log before they were read\n",
                    seq_of(page, "missed"));
        }
        for (e = first_event(page); e != NULL; e = e->next) {
            if (wanted(&f, e)) {
                print_line(stdout, e);
                cJSON_Delete(page);
                return 0;
            }
        }
        busy = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(page, "busy"));
        if (seq_of(page, "lastSeq") > after) {
            after = seq_of(page, "lastSeq");
        }
        cJSON_Delete(page);
        if (dd_clock_mono_ms() >= deadline) {
            break;
        }
        if (busy) {
            dd_clock_sleep_ms(BUSY_PAUSE_MS); /* ddlocald's waiters are all taken */
        }
    }
    fprintf(stderr, "ddlocal wait: no %s%s%s%s%s after %g s\n", kind, f.thing != NULL ? " of " : "",
            f.thing != NULL ? f.thing : "", f.value != NULL ? " with " : "",
            f.value != NULL ? f.value : "", timeout_s);
    show_seen(ep.api, start, after);
    return 1;
}

int dd_cmd_events(int argc, char **argv)
{
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"type", required_argument, NULL, 'y'},
        {"thing", required_argument, NULL, 't'},
        {"after", required_argument, NULL, 'a'},
        {"data-dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    dd_apiclient_endpoints_t ep;
    filter_t f;
    uint64_t after = 0;
    bool follow = false;
    int c;
    int rc;

    memset(&f, 0, sizeof(f));
    optind = 1;
    while ((c = getopt_long(argc, argv, "fD:h", options, NULL)) != -1) {
        switch (c) {
        case 'f': follow = true; break;
        case 'y': f.type = optarg; break;
        case 't': f.thing = optarg; break;
        case 'a':
            if (!parse_seq(optarg, &after)) {
                return dd_clienv_usage_error("events", "--after takes a sequence number, not '%s'",
                                             optarg);
            }
            break;
        case 'D': data_dir = optarg; break;
        case 'h': fputs(EVENTS_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("events", "unknown option");
        }
    }
    if (optind != argc) {
        return dd_clienv_usage_error("events", "unexpected argument '%s'", argv[optind]);
    }
    rc = resolve_api("events", data_dir, &ep);
    if (rc != 0) {
        return rc;
    }
    for (;;) {
        cJSON *page = NULL;
        const cJSON *e;
        size_t n = 0;
        bool busy;
        uint64_t last;

        rc = poll_events(ep.api, after, follow ? POLL_MS : 0, &f, 0, &page);
        if (rc != 0) {
            return rc;
        }
        if (seq_of(page, "missed") > 0) {
            fprintf(stderr,
                    "ddlocal events: %" PRIu64 " event(s) left the log before they were "
                    "read\n",
                    seq_of(page, "missed"));
        }
        for (e = first_event(page); e != NULL; e = e->next) {
            print_line(stdout, e);
            n++;
        }
        busy = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(page, "busy"));
        last = seq_of(page, "lastSeq");
        cJSON_Delete(page);
        if (!follow && (n == 0 || last <= after)) {
            return 0;
        }
        if (last > after) {
            after = last;
        }
        if (busy && n == 0) {
            dd_clock_sleep_ms(BUSY_PAUSE_MS); /* ddlocald's waiters are all taken */
        }
    }
}
