#include "dd_clock.h"
#include "dd_up.h"

#include "dd_apiclient.h"
#include "dd_broker_conf.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_endpoints.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_paths.h"
#include "dd_seed.h"
#include "dd_workshop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef DD_MOSQUITTO_BIN
#define DD_MOSQUITTO_BIN "/usr/sbin/mosquitto"
#endif
#ifndef DD_SANITIZER_PRELOAD
#define DD_SANITIZER_PRELOAD ""
#endif

void dd_up_options_default(dd_up_options_t *o)
{
    if (o == NULL) {
        return;
    }
    memset(o, 0, sizeof(*o));
    o->bind = "127.0.0.1";
    o->mqtt_port = 8883;
    o->alpn_port = 8443;
    o->api_port = 18443;
    o->status = true;
    o->log_level = "info";
    o->ready_fd = -1;
}

/* Program paths: built next to each other; environment overrides for installs. */
static const char *program(const char *env, const char *built)
{
    const char *v = getenv(env);

    return (v != NULL && v[0] != '\0') ? v : built;
}

/* Prints the last lines of a log, to explain a child that failed to start. */
static void show_log_tail(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    size_t start;
    int lines = 0;

    if (dd_fs_read_file(path, 16 * 1024 * 1024, &text, &len) != DD_FS_OK || len == 0) {
        free(text);
        return;
    }
    for (start = len; start > 0 && lines < 12; start--) {
        if (text[start - 1] == '\n' && start != len) {
            lines++;
        }
    }
    fprintf(stderr, "--- last lines of %s ---\n%s", path, text + start);
    if (text[len - 1] != '\n') {
        fputc('\n', stderr);
    }
    free(text);
}

/*
 * Checks one port (0: picks a free one other than the @p taken ones: the kernel may hand the
 * same free port out twice in a row). Prints why it cannot be used, naming the flag that
 * changes it, and returns 0 or DD_UP_EXIT_PORT; the caller checks every port before failing,
 * so one run names all the busy ones.
 */
static int resolve_port(const char *what, const char *flag, const char *bind, uint16_t *port,
                        uint16_t taken1, uint16_t taken2)
{
    dd_proc_status_t st;
    int attempt;

    if (*port == 0) {
        for (attempt = 0; attempt < 16; attempt++) {
            if (dd_proc_free_port(port) != DD_PROC_OK) {
                break;
            }
            if (*port != taken1 && *port != taken2) {
                return 0;
            }
        }
        *port = 0;
        fprintf(stderr, "ddlocal up: cannot find a free port for the %s\n", what);
        return DD_UP_EXIT_PORT;
    }
    st = dd_proc_port_available(bind, *port);
    if (st == DD_PROC_IN_USE) {
        fprintf(stderr,
                "ddlocal up: port %u (%s) is already in use; choose another with %s PORT (0 = any "
                "free port)\n",
                (unsigned)*port, what, flag);
        return DD_UP_EXIT_PORT;
    }
    if (st == DD_PROC_PERMISSION) {
        fprintf(stderr,
                "ddlocal up: port %u (%s) needs root; run as root or use %s PORT (e.g. 8443)\n",
                (unsigned)*port, what, flag);
        return DD_UP_EXIT_PORT;
    }
    if (st != DD_PROC_OK) {
        fprintf(stderr, "ddlocal up: cannot bind %s:%u (%s); choose another with %s PORT\n", bind,
                (unsigned)*port, what, flag);
        return DD_UP_EXIT_PORT;
    }
    return 0;
}

static int64_t stored_pipeline_ms(dd_clienv_t *env)
{
    char *text = NULL;
    int64_t ms = 0;

    if (dd_registry_setting_get(&env->reg, "clock_last_ms", &text) == DD_REGISTRY_OK &&
        text != NULL) {
        ms = strtoll(text, NULL, 10);
    }
    free(text);
    return ms;
}

/* The clock both the shim and ddlocald run on; never behind the last stored time. */
static int choose_clock(dd_up_t *up, dd_clienv_t *env)
{
    int64_t last = stored_pipeline_ms(env);
    int64_t now = dd_clock_wall_ms();
    dd_clock_t clock;

    if (up->opts.start_time_ms > 0) {
        /* Time never goes back: windows, alarms and stored events of the data dir are later. */
        if (last > up->opts.start_time_ms) {
            char when[32];
            if (dd_log_format_iso(last, when, sizeof(when)) != DD_LOG_OK) {
                when[0] = '\0';
            }
            fprintf(stderr,
                    "ddlocal up: --start-time is before this data dir's pipeline time (%s); "
                    "pipeline time never goes back - use a new data dir\n",
                    when);
            return DD_UP_EXIT_FAILURE;
        }
        last = up->opts.start_time_ms;
    }
    if (up->opts.manual_clock) {
        (void)dd_clock_init_manual(&clock, last > 0 ? last : now);
    } else if (up->opts.time_scale > 0.0) {
        (void)dd_clock_init_scaled(&clock, up->opts.time_scale, last > 0 ? last : now);
    } else {
        (void)dd_clock_init_real(&clock);
        if (last > now) {
            fprintf(
                stderr,
                "ddlocal up: note: this data dir's pipeline time is %.0f s ahead of the real clock;"
                " evaluation waits for real time to catch up\n",
                (double)(last - now) / 1000.0);
        }
    }
    (void)dd_clock_format(&clock, up->clock_spec, sizeof(up->clock_spec));
    up->clock = clock;
    return 0;
}

/*
 * A real or scaled clock whose rate changed at run time (POST /ddlocal/v1/clock {"scale":X}):
 * ddlocald wrote its new anchor to endpoints.json (or answers it as "spec"). `up` takes it
 * over, so that its stamps follow, a restarted ddlocald resumes on it (pipeline time stays
 * monotonic) and its own rewrites of endpoints.json keep it. A manual clock never changes mode.
 */
static void adopt_clock_spec(dd_up_t *up, const char *spec)
{
    dd_clock_t next;

    if (spec == NULL || dd_clock_mode(&up->clock) == DD_CLOCK_MANUAL ||
        strcmp(spec, up->clock_spec) == 0 || dd_clock_parse(&next, spec) != DD_CLOCK_OK ||
        dd_clock_mode(&next) == DD_CLOCK_MANUAL) {
        return;
    }
    (void)snprintf(up->clock_spec, sizeof(up->clock_spec), "%s", spec);
    up->clock = next;
}

static void adopt_endpoints_clock(dd_up_t *up)
{
    dd_endpoints_t ep;

    if (dd_endpoints_read(up->data_dir, &ep) == DD_ENDPOINTS_OK) {
        adopt_clock_spec(up, ep.clock);
    }
}

/* A line of `up`'s own on stderr, stamped like the logs (real [pipeline]): one timeline. */
static void note(dd_up_t *up, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(dd_up_t *up, const char *fmt, ...)
{
    char stamp[DD_LOG_STAMP_MAX];
    char text[512];
    va_list ap;

    /* A manual clock moves in ddlocald only; ask it (a dead ddlocald leaves the last time seen). */
    if (up->clock.mode == DD_CLOCK_MANUAL && up->api_url[0] != '\0') {
        char *body = NULL;
        long http = 0;
        cJSON *doc = NULL;
        const cJSON *ms;
        if (dd_apiclient_request(up->api_url, "GET", "/ddlocal/v1/clock", NULL, &http, &body) ==
                DD_APICLIENT_OK &&
            http == 200 && (doc = cJSON_Parse(body)) != NULL &&
            cJSON_IsNumber(ms = cJSON_GetObjectItem(doc, "pipelineTimeMs"))) {
            (void)dd_clock_set(&up->clock, (int64_t)cJSON_GetNumberValue(ms));
        }
        cJSON_Delete(doc);
        free(body);
    }
    if (dd_log_format_stamp(dd_clock_wall_ms(), &up->clock, stamp, sizeof(stamp)) != DD_LOG_OK) {
        stamp[0] = '\0';
    }
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s ddlocal up: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "", stamp, text);
}

static int start_broker(dd_up_t *up)
{
    dd_broker_conf_options_t c;
    char user[64];
    char log[700];
    char conf[700];
    char preload[600];
    char *argv[4];
    char *envp[4] = {"TZ=UTC", NULL, NULL, NULL};
    dd_proc_status_t st;

    if (dd_broker_conf_defaults(&c, up->data_dir, user, sizeof(user), log, sizeof(log)) !=
        DD_BROKER_CONF_OK) {
        return DD_UP_EXIT_FAILURE;
    }
    c.bind_address = up->opts.bind;
    c.mqtt_port = up->mqtt_port;
    c.alpn_port = up->alpn_port;
    c.plugin_path = dd_paths_get(DD_PATHS_SHIM);
    c.clock_spec = up->clock_spec;
    c.region = up->opts.region;
    c.account = up->opts.account;
    c.single_cert_identity = !up->opts.strict_identity;
    c.kick_on_deny = !up->opts.no_kick_on_deny;
    c.plugin_debug = strcmp(up->opts.log_level, "debug") == 0;
    (void)dd_broker_conf_path(up->data_dir, DD_BROKER_CONF_FILE, conf, sizeof(conf));
    if (dd_broker_conf_write(&c, conf) != DD_BROKER_CONF_OK) {
        fprintf(stderr, "ddlocal up: cannot write %s\n", conf);
        return DD_UP_EXIT_DATA_DIR;
    }
    if (DD_SANITIZER_PRELOAD[0] != '\0') {
        /* A sanitized plugin in Debian's uninstrumented broker needs the runtimes preloaded. */
        (void)snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", DD_SANITIZER_PRELOAD);
        envp[1] = preload;
        envp[2] = "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1";
    }
    argv[0] = (char *)program("DDLOCAL_MOSQUITTO", DD_MOSQUITTO_BIN);
    argv[1] = "-c";
    argv[2] = conf;
    argv[3] = NULL;
    if (dd_proc_spawn(&up->broker, "mosquitto", argv, envp, log) != DD_PROC_OK) {
        fprintf(stderr, "ddlocal up: cannot start %s: %s\n", argv[0], strerror(errno));
        return DD_UP_EXIT_NO_MOSQUITTO;
    }
    st = dd_proc_wait_port(&up->broker, up->mqtt_port, 15000);
    if (st == DD_PROC_OK) {
        st = dd_proc_wait_port(&up->broker, up->alpn_port, 5000);
    }
    if (st != DD_PROC_OK) {
        char how[64];
        dd_proc_describe_exit(&up->broker, how, sizeof(how));
        fprintf(stderr, "ddlocal up: mosquitto did not start listening (%s, it %s)\n",
                dd_proc_strerror(st), how);
        show_log_tail(log);
        return DD_UP_EXIT_FAILURE;
    }
    return 0;
}

static int start_ddlocald(dd_up_t *up)
{
    char ready[700];
    char log[700];
    char port[16];
    char api_port[16];
    char *argv[48];
    int n = 0;
    dd_proc_status_t st;

    (void)snprintf(ready, sizeof(ready), "%s/run/ddlocald.ready", up->data_dir);
    (void)unlink(ready);
    (void)snprintf(log, sizeof(log), "%s/logs/ddlocald.log", up->data_dir);
    (void)snprintf(port, sizeof(port), "%u", (unsigned)up->mqtt_port);
    (void)snprintf(api_port, sizeof(api_port), "%u", (unsigned)up->api_port);
    argv[n++] = (char *)dd_paths_get(DD_PATHS_DDLOCALD);
    argv[n++] = "--data-dir";
    argv[n++] = up->data_dir;
    argv[n++] = "--broker-port";
    argv[n++] = port;
    argv[n++] = "--api-bind";
    argv[n++] = (char *)up->opts.bind;
    argv[n++] = "--api-port";
    argv[n++] = api_port;
    argv[n++] = "--clock";
    argv[n++] = up->clock_spec;
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n++] = "--log-level";
    argv[n++] = (char *)up->opts.log_level;
    /* ddlocald's own default is the source tree's runner; installed, it lies under share/. */
    argv[n++] = "--lambda-runner";
    argv[n++] = (char *)dd_paths_get(DD_PATHS_LAMBDA_RUNNER);
    argv[n++] = "--console-dir";
    argv[n++] = (char *)dd_paths_get(DD_PATHS_CONSOLE);
    if (up->opts.region != NULL) {
        argv[n++] = "--region";
        argv[n++] = (char *)up->opts.region;
        argv[n++] = "--account";
        argv[n++] = (char *)up->opts.account;
    }
    if (up->opts.fine_error_codes) {
        argv[n++] = "--fine-error-codes";
    }
    if (up->opts.throttle) {
        argv[n++] = "--throttle";
    }
    if (up->opts.reject_duplicates) {
        argv[n++] = "--reject-duplicate-report-ids";
    }
    if (up->opts.reject_mixed_keys) {
        argv[n++] = "--reject-mixed-keys";
    }
    if (up->opts.webhook_attempts != NULL) {
        argv[n++] = "--webhook-attempts";
        argv[n++] = (char *)up->opts.webhook_attempts;
    }
    if (up->opts.webhook_backoff_ms != NULL) {
        argv[n++] = "--webhook-backoff-ms";
        argv[n++] = (char *)up->opts.webhook_backoff_ms;
    }
    if (up->opts.lambda_backoff_ms != NULL) {
        argv[n++] = "--lambda-backoff-ms";
        argv[n++] = (char *)up->opts.lambda_backoff_ms;
    }
    if (up->opts.metering_retention_days != NULL) {
        argv[n++] = "--metering-retention-days";
        argv[n++] = (char *)up->opts.metering_retention_days;
    }
    if (up->opts.seed != NULL) {
        argv[n++] = "--id-seed";
        argv[n++] = (char *)up->opts.seed;
    }
    argv[n] = NULL;
    if (dd_proc_spawn(&up->ddlocald, "ddlocald", argv, NULL, log) != DD_PROC_OK) {
        fprintf(stderr, "ddlocal up: cannot start %s: %s\n", argv[0], strerror(errno));
        return DD_UP_EXIT_FAILURE;
    }
    st = dd_proc_wait_file(&up->ddlocald, ready, 30000);
    if (st != DD_PROC_OK) {
        char how[64];
        dd_proc_describe_exit(&up->ddlocald, how, sizeof(how));
        fprintf(stderr, "ddlocal up: ddlocald did not become ready (%s, it %s)\n",
                dd_proc_strerror(st), how);
        show_log_tail(log);
        return DD_UP_EXIT_FAILURE;
    }
    return 0;
}

static int start_isolator(dd_up_t *up)
{
    char self[PATH_MAX];
    char log[700];
    char port[16];
    char *argv[16];
    ssize_t n;

    if (up->isolator_topic[0] == '\0') {
        return 0;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        return DD_UP_EXIT_FAILURE;
    }
    self[n] = '\0';
    (void)snprintf(log, sizeof(log), "%s/logs/isolator.log", up->data_dir);
    (void)snprintf(port, sizeof(port), "%u", (unsigned)up->mqtt_port);
    argv[0] = self;
    argv[1] = "isolator";
    argv[2] = "--data-dir";
    argv[3] = up->data_dir;
    argv[4] = "--sns-topic";
    argv[5] = up->isolator_topic;
    argv[6] = "--group";
    argv[7] = up->isolator_group;
    argv[8] = "--broker-port";
    argv[9] = port;
    argv[10] = "--api";
    argv[11] = up->api_url;
    argv[12] = NULL;
    if (dd_proc_spawn(&up->isolator, "isolator", argv, NULL, log) != DD_PROC_OK) {
        fprintf(stderr, "ddlocal up: cannot start the isolator: %s\n", strerror(errno));
        return DD_UP_EXIT_FAILURE;
    }
    return 0;
}

static void add_proc(dd_endpoints_t *ep, const char *name, const dd_proc_t *proc)
{
    if (proc->pid > 0 && ep->proc_count < DD_ENDPOINTS_MAX_PROCS &&
        dd_endpoints_proc_init(&ep->procs[ep->proc_count], name, (int)proc->pid) ==
            DD_ENDPOINTS_OK) {
        ep->proc_count++;
    }
}

/* Readers tell a running pipeline from a killed one's file by the pids and start times here. */
static int write_endpoints(dd_up_t *up)
{
    dd_endpoints_t ep;

    memset(&ep, 0, sizeof(ep));
    (void)snprintf(ep.mqtt_host, sizeof(ep.mqtt_host), "%s", up->opts.bind);
    ep.mqtt_port = up->mqtt_port;
    ep.alpn_port = up->alpn_port;
    (void)snprintf(ep.api, sizeof(ep.api), "%s", up->api_url);
    (void)snprintf(ep.console, sizeof(ep.console), "%s/console/", up->api_url);
    (void)dd_pki_path(up->data_dir, DD_PKI_FILE_ROOTCA_CERT, ep.root_ca, sizeof(ep.root_ca));
    (void)snprintf(ep.data_dir, sizeof(ep.data_dir), "%s", up->data_dir);
    (void)snprintf(ep.clock, sizeof(ep.clock), "%s", up->clock_spec);
    (void)dd_endpoints_proc_init(&ep.up, "ddlocal", (int)getpid());
    add_proc(&ep, "mosquitto", &up->broker);
    add_proc(&ep, "ddlocald", &up->ddlocald);
    add_proc(&ep, "isolator", &up->isolator);
    if (dd_endpoints_write(up->data_dir, &ep) != DD_ENDPOINTS_OK) {
        fprintf(stderr, "ddlocal up: cannot write %s/%s\n", up->data_dir, DD_ENDPOINTS_FILE);
        return DD_UP_EXIT_DATA_DIR;
    }
    return 0;
}

/*
 * One pipeline per data dir: a second one would share its database and CA. A stale
 * endpoints.json (its `ddlocal up` killed) is removed so that nobody takes it for readiness.
 */
static int check_not_running(const char *data_dir)
{
    dd_endpoints_t ep;
    char path[700];

    switch (dd_endpoints_read(data_dir, &ep)) {
    case DD_ENDPOINTS_OK:
        fprintf(stderr,
                "ddlocal up: the pipeline of %s is already running (ddlocal up pid %d, API %s);"
                " `ddlocal down -D %s` stops it\n",
                data_dir, ep.up.pid, ep.api, data_dir);
        return DD_UP_EXIT_RUNNING;
    case DD_ENDPOINTS_STALE:
        (void)snprintf(path, sizeof(path), "%s/%s", data_dir, DD_ENDPOINTS_FILE);
        fprintf(stderr,
                "ddlocal up: note: removing a stale %s (left by a `ddlocal up`, pid %d, that was"
                " killed)\n",
                path, ep.up.pid);
        (void)unlink(path);
        return 0;
    case DD_ENDPOINTS_BAD_FORMAT:
        (void)snprintf(path, sizeof(path), "%s/%s", data_dir, DD_ENDPOINTS_FILE);
        fprintf(stderr, "ddlocal up: note: removing %s: %s\n", path,
                dd_endpoints_strerror(DD_ENDPOINTS_BAD_FORMAT));
        (void)unlink(path);
        return 0;
    default: return 0;
    }
}

int dd_up_start(dd_up_t *up, const dd_up_options_t *o)
{
    dd_clienv_t env;
    dd_clienv_status_t est;
    char dir[700];
    int rc;

    memset(up, 0, sizeof(*up));
    up->opts = *o;
    /* A fresh data dir's CA, broker and service certificates are made here, not in ddlocald:
     * with a seed they are the seed's too, so that device certificates (signed by the CA, their
     * ids hashes of the DER) are the same in two runs. cmd_up checked the number. */
    if (o->seed != NULL && dd_seed_set(strtoull(o->seed, NULL, 10), "up") != DD_SEED_OK) {
        return DD_UP_EXIT_FAILURE;
    }
    est = dd_clienv_open(&env, o->data_dir);
    if (est != DD_CLIENV_OK) {
        return est == DD_CLIENV_NOT_WRITABLE ? DD_UP_EXIT_DATA_DIR : DD_UP_EXIT_FAILURE;
    }
    (void)snprintf(up->data_dir, sizeof(up->data_dir), "%s", env.data_dir);
    rc = check_not_running(up->data_dir);
    if (rc != 0) {
        dd_clienv_close(&env);
        return rc;
    }
    if (o->region != NULL) {
        if (dd_arn_ctx_set(&env.reg.arn, o->region, o->account) != DD_NAMES_OK) {
            dd_clienv_close(&env);
            fprintf(stderr,
                    "ddlocal up: bad --region/--account (region [a-z0-9-], account 12 digits)\n");
            return DD_CLI_USAGE;
        }
        (void)dd_registry_setting_set(&env.reg, "region", o->region);
        (void)dd_registry_setting_set(&env.reg, "account", o->account);
    }
    rc = choose_clock(up, &env);
    dd_clienv_close(&env);
    if (rc != 0) {
        return rc;
    }
    if (access(program("DDLOCAL_MOSQUITTO", DD_MOSQUITTO_BIN), X_OK) != 0) {
        fprintf(stderr,
                "ddlocal up: mosquitto is not installed (%s); install it with"
                " `apt-get install mosquitto` or run scripts/install-deps.sh\n",
                program("DDLOCAL_MOSQUITTO", DD_MOSQUITTO_BIN));
        return DD_UP_EXIT_NO_MOSQUITTO;
    }
    up->mqtt_port = o->mqtt_port;
    up->alpn_port = o->alpn_port_set ? o->alpn_port : (geteuid() == 0 ? 443 : 8443);
    up->api_port = o->api_port;
    /* Every port is checked before anything starts, so one run names all the busy ones. */
    rc = resolve_port("MQTT listener", "--mqtt-port", o->bind, &up->mqtt_port, up->alpn_port,
                      up->api_port);
    rc |= resolve_port("ALPN listener", "--alpn-port", o->bind, &up->alpn_port, up->mqtt_port,
                       up->api_port);
    rc |= resolve_port("API", "--api-port", o->bind, &up->api_port, up->mqtt_port, up->alpn_port);
    if (rc != 0) {
        return DD_UP_EXIT_PORT;
    }
    if (up->mqtt_port == up->alpn_port || up->mqtt_port == up->api_port ||
        up->alpn_port == up->api_port) {
        fprintf(stderr, "ddlocal up: the MQTT, ALPN and API ports must differ (%u, %u, %u)\n",
                (unsigned)up->mqtt_port, (unsigned)up->alpn_port, (unsigned)up->api_port);
        return DD_UP_EXIT_PORT;
    }
    (void)snprintf(up->api_url, sizeof(up->api_url), "http://%s:%u", o->bind,
                   (unsigned)up->api_port);
    (void)snprintf(dir, sizeof(dir), "%s/logs", up->data_dir);
    (void)dd_fs_mkdirs(dir, 0700);
    (void)snprintf(dir, sizeof(dir), "%s/run", up->data_dir);
    (void)dd_fs_mkdirs(dir, 0700);
    if ((o->isolator != NULL || o->workshop) && !o->no_isolator) {
        const char *spec = o->isolator != NULL ? o->isolator : "BadIoTDevices:IsolatedDevices";
        const char *colon = strchr(spec, ':');
        (void)snprintf(up->isolator_topic, sizeof(up->isolator_topic), "%.*s", (int)(colon - spec),
                       spec);
        (void)snprintf(up->isolator_group, sizeof(up->isolator_group), "%s", colon + 1);
    }
    if ((rc = start_broker(up)) != 0 || (rc = start_ddlocald(up)) != 0) {
        dd_up_stop(up);
        return rc;
    }
    if (o->workshop &&
        dd_workshop_provision(up->data_dir, up->api_url, o->workshop_profiles) != 0) {
        dd_up_stop(up);
        return DD_UP_EXIT_FAILURE;
    }
    if ((rc = start_isolator(up)) != 0 || (rc = write_endpoints(up)) != 0) {
        dd_up_stop(up);
        return rc;
    }
    return 0;
}

int dd_up_supervise(dd_up_t *up)
{
    char how[64];

    if (!dd_proc_alive(&up->broker)) {
        char log[700];
        dd_proc_describe_exit(&up->broker, how, sizeof(how));
        note(up, "mosquitto %s; stopping the pipeline", how);
        (void)snprintf(log, sizeof(log), "%s/broker/%s", up->data_dir, DD_BROKER_CONF_LOG_FILE);
        show_log_tail(log);
        return DD_UP_EXIT_FAILURE;
    }
    if (!dd_proc_alive(&up->ddlocald)) {
        /* The broker keeps reports and metering queued meanwhile: restart and carry on. */
        dd_proc_describe_exit(&up->ddlocald, how, sizeof(how));
        adopt_endpoints_clock(up);
        note(up, "ddlocald %s; restarting it", how);
        up->ddlocald_restarts++;
        if (start_ddlocald(up) != 0 || write_endpoints(up) != 0) {
            return DD_UP_EXIT_FAILURE;
        }
    }
    if (up->isolator_topic[0] != '\0' && !dd_proc_alive(&up->isolator)) {
        dd_proc_describe_exit(&up->isolator, how, sizeof(how));
        adopt_endpoints_clock(up);
        note(up, "the isolator %s; restarting it", how);
        if (start_isolator(up) != 0 || write_endpoints(up) != 0) {
            return DD_UP_EXIT_FAILURE;
        }
    }
    return 0;
}

void dd_up_stop(dd_up_t *up)
{
    char path[700];

    (void)snprintf(path, sizeof(path), "%s/endpoints.json", up->data_dir);
    (void)unlink(path);
    dd_proc_stop(&up->isolator, 5000);
    dd_proc_stop(&up->ddlocald, 15000);
    dd_proc_stop(&up->broker, 10000);
}

/*
 * The isolator's give-ups (DATA_DIR/run/isolator-TOPIC.json): counted on the status
 * line, and each new one printed as a line of its own - a thing left
 * unisolated must not go unnoticed.
 */
static void isolator_status(dd_up_t *up, char *line, size_t len)
{
    static double seen = 0;
    char path[1024];
    char *text = NULL;
    cJSON *st;
    double gave_up;
    size_t used;

    if (up->isolator_topic[0] == '\0') {
        return;
    }
    (void)snprintf(path, sizeof(path), "%s/run/isolator-%s.json", up->data_dir, up->isolator_topic);
    if (dd_fs_read_file(path, 65536, &text, NULL) != DD_FS_OK) {
        return;
    }
    st = cJSON_Parse(text);
    free(text);
    gave_up = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "gaveUp"));
    if (gave_up > 0) {
        used = strlen(line);
        (void)snprintf(line + used, len - used, " | isolator GAVE UP %d", (int)gave_up);
    }
    if (gave_up < seen) {
        seen = 0; /* a restarted isolator counts from 0 again */
    }
    if (gave_up > seen) {
        const cJSON *last = cJSON_GetObjectItem(st, "lastGiveUp");
        const char *thing = cJSON_GetStringValue(cJSON_GetObjectItem(last, "thingName"));
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(last, "error"));

        printf("%sisolator: GAVE UP isolating %s into %s after %d attempts: %s\n",
               isatty(STDOUT_FILENO) ? "\r\033[K" : "", thing != NULL ? thing : "?",
               up->isolator_group, (int)cJSON_GetNumberValue(cJSON_GetObjectItem(last, "attempts")),
               error != NULL ? error : "?");
        seen = gave_up;
    }
    cJSON_Delete(st);
}

/* A status line without its leading time: what a changed line is judged by. */
static const char *status_counts(const char *line)
{
    const char *bar = strstr(line, " | ");

    return bar != NULL ? bar : line;
}

/* One line of status from ddlocald's /ddlocal/v1/status, or why there is none. */
static void status_line(dd_up_t *up, char *line, size_t len)
{
    cJSON *st = NULL;
    long http = 0;
    char *body = NULL;

    line[0] = '\0';
    if (dd_apiclient_request(up->api_url, "GET", "/ddlocal/v1/status", NULL, &http, &body) !=
            DD_APICLIENT_OK ||
        http != 200 || (st = cJSON_Parse(body)) == NULL) {
        free(body);
        (void)snprintf(line, len, "ddlocald not answering");
        isolator_status(up, line, len); /* the isolator's give-ups may be why it matters */
        return;
    }
    free(body);
    /* `up`'s own stamps follow a manual clock as ddlocald moves it. */
    if (up->clock.mode == DD_CLOCK_MANUAL &&
        cJSON_IsNumber(cJSON_GetObjectItem(st, "pipelineTimeMs"))) {
        (void)dd_clock_set(&up->clock, (int64_t)cJSON_GetNumberValue(
                                           cJSON_GetObjectItem(st, "pipelineTimeMs")));
    }
    adopt_clock_spec(up, cJSON_GetStringValue(cJSON_GetObjectItem(st, "spec")));
    (void)snprintf(
        line, len,
        "%s%s | connected %d | reports accepted %d rejected %d | active violations %d | alerts %d",
        up->clock.mode == DD_CLOCK_REAL ? "" : "pipeline ",
        cJSON_GetStringValue(cJSON_GetObjectItem(st, "pipelineTime")) != NULL
            ? cJSON_GetStringValue(cJSON_GetObjectItem(st, "pipelineTime"))
            : "?",
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "connectedClients")),
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "reportsAccepted")),
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "reportsRejected")),
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "activeViolations")),
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "alertsPublished")));
    if (cJSON_GetNumberValue(cJSON_GetObjectItem(st, "webhooksGivenUp")) > 0) {
        size_t used = strlen(line);
        (void)snprintf(line + used, len - used, " | webhooks GAVE UP %d",
                       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "webhooksGivenUp")));
    }
    if (cJSON_IsFalse(cJSON_GetObjectItem(st, "storeWritable"))) {
        size_t used = strlen(line);
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(st, "storeError"));
        (void)snprintf(line + used, len - used,
                       " | STORE CANNOT WRITE (%s): reports not acknowledged",
                       why != NULL ? why : "?");
    }
    isolator_status(up, line, len);
    {
        /* New events since the last look are printed as lines of their own. */
        const cJSON *events = cJSON_GetObjectItem(st, "latestEvents");
        const cJSON *ev;
        static double last_seen = 0;
        static int restarts_seen = 0;
        double newest;

        /* A restarted ddlocald numbers its events from 1 again. */
        if (up->ddlocald_restarts != restarts_seen) {
            restarts_seen = up->ddlocald_restarts;
            last_seen = 0;
        }
        newest = last_seen;
        cJSON_ArrayForEach (ev, events) {
            double seq = cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "seq"));
            if (seq > last_seen) {
                printf("%s%s\n", isatty(STDOUT_FILENO) ? "\r\033[K" : "",
                       cJSON_GetStringValue(cJSON_GetObjectItem(ev, "text")) != NULL
                           ? cJSON_GetStringValue(cJSON_GetObjectItem(ev, "text"))
                           : "?");
                if (seq > newest) {
                    newest = seq;
                }
            }
        }
        last_seen = newest;
        /* Not a terminal: stdout is fully buffered, and the status line may not change. */
        fflush(stdout);
    }
    cJSON_Delete(st);
}

/* `up --detach`: tells the waiting foreground process how the start went (one byte). */
static void report_ready(const dd_up_options_t *o, int rc)
{
    char byte = (char)rc;

    if (!o->detached || o->ready_fd < 0) {
        return;
    }
    while (write(o->ready_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    (void)close(o->ready_fd);
}

/*
 * `up --detach` once ready: the caller's terminal or pipe (`$(ddlocal up --detach)` waits for
 * its end) must not stay open in the background process; what it still says goes to a log.
 */
static void detach_output(const char *data_dir)
{
    char path[700];
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        (void)dup2(fd, STDIN_FILENO);
        (void)close(fd);
    }
    (void)snprintf(path, sizeof(path), "%s/logs/up.log", data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        (void)dup2(fd, STDOUT_FILENO);
        (void)dup2(fd, STDERR_FILENO);
        (void)close(fd);
    }
}

int dd_up_run(const dd_up_options_t *o, volatile sig_atomic_t *stop)
{
    dd_up_t up;
    char line[512];
    char last[512] = "";
    char clock_text[DD_LOG_CLOCK_TEXT_MAX];
    int rc;
    int ticks = 0;

    rc = dd_up_start(&up, o);
    if (rc != 0) {
        report_ready(o, rc);
        return rc;
    }
    if (dd_log_describe_clock(&up.clock, clock_text, sizeof(clock_text)) != DD_LOG_OK) {
        (void)snprintf(clock_text, sizeof(clock_text), "%s", up.clock_spec);
    }
    printf("ddlocal is up (data dir %s)\n"
           "  MQTT (8883 role):  %s:%u   ALPN x-amzn-mqtt-ca (443 role): %s:%u\n"
           "  AWS IoT API:       %s   (aws iot ... --endpoint-url %s)\n"
           "  console:           %s/console/\n"
           "  root CA:           %s/pki/rootca.pem\n"
           "  clock:             %s\n"
           "  logs:              %s/logs/, %s/broker/mosquitto.log\n",
           up.data_dir, o->bind, (unsigned)up.mqtt_port, o->bind, (unsigned)up.alpn_port,
           up.api_url, up.api_url, up.api_url, up.data_dir, clock_text, up.data_dir, up.data_dir);
    if (up.isolator_topic[0] != '\0') {
        printf("  isolator:          SNS topic %s -> thing group %s\n", up.isolator_topic,
               up.isolator_group);
    } else if (o->no_isolator) {
        printf("  isolator:          none (--no-isolator; `ddlocal lambda list` shows the "
               "functions)\n");
    }
    if (o->workshop) {
        dd_workshop_print_steps(up.data_dir, up.mqtt_port, up.api_url, &up.clock);
    }
    if (o->detached) {
        printf("Running in the background (ddlocal up pid %d, log %s/logs/up.log);"
               " `ddlocal status -D %s` shows it, `ddlocal down -D %s` stops it.\n",
               (int)getpid(), up.data_dir, up.data_dir, up.data_dir);
        fflush(stdout);
        fflush(stderr);
        report_ready(o, 0);
        detach_output(up.data_dir);
    } else {
        printf("Press Ctrl-C to stop.\n");
        fflush(stdout);
    }
    rc = 0;
    while (!*stop) {
        dd_clock_sleep_ms(200);
        if (++ticks % 5 != 0) {
            continue;
        }
        rc = dd_up_supervise(&up);
        if (rc != 0) {
            break;
        }
        if (o->status) {
            status_line(&up, line, sizeof(line));
            if (isatty(STDOUT_FILENO)) {
                printf("\r\033[K%s", line);
                fflush(stdout);
            } else if (strcmp(status_counts(line), status_counts(last)) != 0) {
                /* Not a terminal (a log file): a line only when something besides the time changed. */
                printf("%s\n", line);
                fflush(stdout);
                (void)snprintf(last, sizeof(last), "%s", line);
            }
        }
    }
    if (isatty(STDOUT_FILENO)) {
        printf("\n");
    }
    printf("ddlocal: stopping\n");
    dd_up_stop(&up);
    return rc;
}
