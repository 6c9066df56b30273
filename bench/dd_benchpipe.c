#include "dd_clock.h"
#include "dd_benchpipe.h"

#include "dd_apiclient.h"
#include "dd_fs.h"
#include "dd_pki.h"
#include "dd_scenario.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DD_BENCH_DDLOCAL
#define DD_BENCH_DDLOCAL "ddlocal"
#endif

#define ALL_THINGS_ARN "arn:aws:iot:us-east-1:123456789012:all/things"

int64_t dd_benchpipe_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool read_endpoints(dd_benchpipe_t *bp)
{
    dd_apiclient_endpoints_t ep;

    if (dd_apiclient_endpoints(bp->data_dir, &ep) != DD_APICLIENT_OK) {
        return false;
    }
    (void)snprintf(bp->host, sizeof(bp->host), "%s", ep.mqtt_host);
    bp->mqtt_port = (uint16_t)ep.mqtt_port;
    (void)snprintf(bp->api, sizeof(bp->api), "%s", ep.api);
    (void)snprintf(bp->root_ca, sizeof(bp->root_ca), "%s", ep.root_ca);
    (void)snprintf(bp->service_cert, sizeof(bp->service_cert), "%s/pki/service.pem", bp->data_dir);
    (void)snprintf(bp->service_key, sizeof(bp->service_key), "%s/pki/service.key", bp->data_dir);
    return true;
}

dd_benchpipe_status_t dd_benchpipe_start(dd_benchpipe_t *bp, const char *const *extra_args)
{
    char *argv[48];
    int n = 0;
    int64_t deadline;
    size_t i;

    if (bp == NULL) {
        return DD_BENCHPIPE_BAD_PARAMETER;
    }
    memset(bp, 0, sizeof(*bp));
    (void)snprintf(bp->tmp_dir, sizeof(bp->tmp_dir), "/tmp/dd_bench.XXXXXX");
    if (mkdtemp(bp->tmp_dir) == NULL) {
        fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
        return DD_BENCHPIPE_FAILED;
    }
    (void)snprintf(bp->data_dir, sizeof(bp->data_dir), "%s/data", bp->tmp_dir);
    (void)snprintf(bp->up_log, sizeof(bp->up_log), "%s/up.log", bp->tmp_dir);
    argv[n++] = (char *)DD_BENCH_DDLOCAL;
    argv[n++] = "up";
    argv[n++] = "--data-dir";
    argv[n++] = bp->data_dir;
    argv[n++] = "--mqtt-port";
    argv[n++] = "0";
    argv[n++] = "--alpn-port";
    argv[n++] = "0";
    argv[n++] = "--api-port";
    argv[n++] = "0";
    argv[n++] = "--no-status";
    for (i = 0; extra_args != NULL && extra_args[i] != NULL && n < 46; i++) {
        argv[n++] = (char *)extra_args[i];
    }
    argv[n] = NULL;
    if (dd_proc_spawn(&bp->up, "ddlocal up", argv, NULL, bp->up_log) != DD_PROC_OK) {
        fprintf(stderr, "bench: cannot run %s\n", argv[0]);
        (void)dd_fs_remove_tree(bp->tmp_dir);
        return DD_BENCHPIPE_FAILED;
    }
    bp->started = true;
    deadline = dd_benchpipe_now_us() + 60 * 1000000LL;
    while (!read_endpoints(bp)) {
        if (!dd_proc_alive(&bp->up) || dd_benchpipe_now_us() > deadline) {
            fprintf(stderr, "bench: `ddlocal up` %s (see %s)\n",
                    dd_proc_alive(&bp->up) ? "did not become ready" : "exited", bp->up_log);
            dd_benchpipe_stop(bp, true);
            return DD_BENCHPIPE_FAILED;
        }
        dd_clock_sleep_ms(20);
    }
    return DD_BENCHPIPE_OK;
}

void dd_benchpipe_stop(dd_benchpipe_t *bp, bool keep)
{
    int64_t deadline;

    if (bp == NULL || !bp->started) {
        return;
    }
    dd_proc_signal(&bp->up, SIGINT);
    deadline = dd_benchpipe_now_us() + 30 * 1000000LL;
    while (dd_proc_alive(&bp->up) && dd_benchpipe_now_us() < deadline) {
        dd_clock_sleep_ms(20);
    }
    dd_proc_stop(&bp->up, 1000);
    bp->started = false;
    if (keep) {
        fprintf(stderr, "bench: data kept in %s\n", bp->tmp_dir);
    } else {
        (void)dd_fs_remove_tree(bp->tmp_dir);
    }
}

int dd_benchpipe_cli(dd_benchpipe_t *bp, ...)
{
    char *argv[40];
    char log[200];
    dd_proc_t p;
    va_list ap;
    const char *a;
    int n = 0;

    if (bp == NULL) {
        return -1;
    }
    argv[n++] = (char *)DD_BENCH_DDLOCAL;
    va_start(ap, bp);
    while ((a = va_arg(ap, const char *)) != NULL && n < 36) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n++] = "-D";
    argv[n++] = bp->data_dir;
    argv[n] = NULL;
    (void)snprintf(log, sizeof(log), "%s/cli.log", bp->tmp_dir);
    memset(&p, 0, sizeof(p));
    if (dd_proc_spawn(&p, "ddlocal", argv, NULL, log) != DD_PROC_OK) {
        return -1;
    }
    while (dd_proc_alive(&p)) {
        dd_clock_sleep_ms(5);
    }
    if (!WIFEXITED(p.exit_status) || WEXITSTATUS(p.exit_status) != 0) {
        fprintf(stderr, "bench: `ddlocal %s %s` failed; see %s\n", argv[1], n > 4 ? argv[2] : "",
                log);
        return WIFEXITED(p.exit_status) ? WEXITSTATUS(p.exit_status) : -1;
    }
    return 0;
}

dd_benchpipe_status_t dd_benchpipe_api(dd_benchpipe_t *bp, const char *method, const char *path,
                                       const char *body)
{
    char *response = NULL;
    long status = 0;

    if (bp == NULL || method == NULL || path == NULL) {
        return DD_BENCHPIPE_BAD_PARAMETER;
    }
    if (dd_apiclient_request(bp->api, method, path, body, &status, &response) != DD_APICLIENT_OK ||
        status < 200 || status > 299) {
        fprintf(stderr, "bench: %s %s: HTTP %ld %s\n", method, path, status,
                response != NULL ? response : "");
        free(response);
        return DD_BENCHPIPE_FAILED;
    }
    free(response);
    return DD_BENCHPIPE_OK;
}

dd_benchpipe_status_t dd_benchpipe_profile(dd_benchpipe_t *bp, const char *name, const char *file)
{
    char path[512];
    char arn[256];
    char *text = NULL;
    char *body;
    cJSON *doc;
    dd_benchpipe_status_t st;

    if (bp == NULL || name == NULL || file == NULL) {
        return DD_BENCHPIPE_BAD_PARAMETER;
    }
    if (dd_fs_read_file(file, 1u << 20, &text, NULL) != DD_FS_OK) {
        fprintf(stderr, "bench: cannot read %s\n", file);
        return DD_BENCHPIPE_FAILED;
    }
    doc = cJSON_Parse(text);
    free(text);
    if (doc == NULL) {
        fprintf(stderr, "bench: %s is not JSON\n", file);
        return DD_BENCHPIPE_FAILED;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "securityProfileName");
    body = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (body == NULL) {
        return DD_BENCHPIPE_FAILED;
    }
    (void)snprintf(path, sizeof(path), "/security-profiles/%s", name);
    st = dd_benchpipe_api(bp, "POST", path, body);
    cJSON_free(body);
    if (st != DD_BENCHPIPE_OK) {
        return st;
    }
    dd_apiclient_escape(ALL_THINGS_ARN, arn, sizeof(arn));
    (void)snprintf(path, sizeof(path), "/security-profiles/%s/targets?securityProfileTargetArn=%s",
                   name, arn);
    return dd_benchpipe_api(bp, "PUT", path, NULL);
}

dd_benchpipe_status_t dd_benchpipe_fleet(dd_benchpipe_t *bp, const char *name, uint32_t devices,
                                         const char *extra_topic, dd_scenario_t *sc,
                                         dd_fleet_cred_t **creds)
{
    char text[1024];
    char file[300];
    char msg[256] = "";
    char tel[300] = "";
    dd_pki_ca_t *ca = NULL;
    dd_fleet_status_t fst;
    int n;

    if (bp == NULL || name == NULL || devices == 0 || sc == NULL || creds == NULL) {
        return DD_BENCHPIPE_BAD_PARAMETER;
    }
    if (extra_topic != NULL) {
        (void)snprintf(tel, sizeof(tel), ",\"telemetry\":{\"topic\":\"%s\",\"intervalSeconds\":60}",
                       extra_topic);
    }
    /* Only the devices and the policy matter here: the benchmarks send their own reports. */
    n = snprintf(text, sizeof(text),
                 "{\"name\":\"%s\",\"devices\":%u,\"durationSeconds\":300,\"seed\":1,"
                 "\"report\":{\"intervalSeconds\":300,\"format\":\"json\",\"keys\":\"long\"},"
                 "\"metrics\":{\"bytes_out\":{\"distribution\":\"constant\",\"value\":100}}%s}",
                 name, devices, tel);
    (void)snprintf(file, sizeof(file), "%s/%s.json", bp->tmp_dir, name);
    if (n < 0 || (size_t)n >= sizeof(text) ||
        dd_fs_write_atomic(file, text, (size_t)n, 0644) != DD_FS_OK) {
        return DD_BENCHPIPE_FAILED;
    }
    if (dd_scenario_parse(text, (size_t)n, sc, msg, sizeof(msg)) != DD_SCENARIO_OK) {
        fprintf(stderr, "bench: scenario: %s\n", msg);
        return DD_BENCHPIPE_FAILED;
    }
    if (dd_benchpipe_cli(bp, "fleet", file, "--prepare-only", NULL) != 0) {
        dd_scenario_free(sc);
        return DD_BENCHPIPE_FAILED;
    }
    if (dd_pki_ca_ensure(bp->data_dir, &ca) != DD_PKI_OK) {
        dd_scenario_free(sc);
        return DD_BENCHPIPE_FAILED;
    }
    /* From the cache `fleet --prepare-only` just wrote: nothing is issued twice. */
    fst = dd_fleet_credentials(bp->data_dir, sc, ca, creds, NULL);
    dd_pki_ca_free(ca);
    if (fst != DD_FLEET_OK) {
        fprintf(stderr, "bench: fleet credentials: %s\n", dd_fleet_strerror(fst));
        dd_scenario_free(sc);
        return DD_BENCHPIPE_FAILED;
    }
    return DD_BENCHPIPE_OK;
}

void dd_benchpipe_print_load(const char *what)
{
    double load[3] = {0, 0, 0};
    char *meminfo = NULL;
    long avail_kb = 0;
    const char *p;

    (void)getloadavg(load, 3);
    if (dd_fs_read_file("/proc/meminfo", 1u << 20, &meminfo, NULL) == DD_FS_OK &&
        (p = strstr(meminfo, "MemAvailable:")) != NULL) {
        avail_kb = strtol(p + 13, NULL, 10);
    }
    free(meminfo);
    printf("%s: load average %.2f %.2f %.2f, %ld CPUs online, %.1f GiB available\n", what, load[0],
           load[1], load[2], sysconf(_SC_NPROCESSORS_ONLN), (double)avail_kb / (1024.0 * 1024.0));
}

bool dd_benchpipe_machine_cpu(double *busy_s, double *total_s)
{
    char *text = NULL;
    unsigned long long v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    unsigned long long total = 0;
    bool ok;
    int i;

    if (busy_s == NULL || total_s == NULL ||
        dd_fs_read_file("/proc/stat", 1u << 20, &text, NULL) != DD_FS_OK) {
        free(text);
        return false;
    }
    /* cpu user nice system idle iowait irq softirq steal */
    ok = sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                &v[4], &v[5], &v[6], &v[7]) == 8;
    free(text);
    if (!ok) {
        return false;
    }
    for (i = 0; i < 8; i++) {
        total += v[i];
    }
    *total_s = (double)total / (double)sysconf(_SC_CLK_TCK);
    *busy_s = (double)(total - v[3] - v[4]) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

/* Fields of /proc/PID/stat (or PID/task/TID/stat) after the command name: state is field 3. */
static bool read_stat_file(const char *path, char *comm, size_t comm_len, int *ppid, double *cpu_s);

static bool read_stat(int pid, char *comm, size_t comm_len, int *ppid, double *cpu_s)
{
    char path[64];

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", pid > 0 ? pid : (int)getpid());
    return read_stat_file(path, comm, comm_len, ppid, cpu_s);
}

size_t dd_benchpipe_threads(int pid, dd_benchpipe_thread_t *out, size_t max)
{
    char dir[64];
    char path[400];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    if (out == NULL || max == 0) {
        return 0;
    }
    (void)snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    while (n < max && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0])) {
            continue;
        }
        (void)snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
        if (read_stat_file(path, out[n].comm, sizeof(out[n].comm), NULL, &out[n].cpu_s)) {
            out[n].tid = atoi(e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static bool read_stat_file(const char *path, char *comm, size_t comm_len, int *ppid, double *cpu_s)
{
    char *text = NULL;
    char *open_paren;
    char *close_paren;
    unsigned long utime = 0;
    unsigned long stime = 0;
    int parent = 0;
    bool ok = false;

    if (dd_fs_read_file(path, 65536, &text, NULL) != DD_FS_OK) {
        return false;
    }
    open_paren = strchr(text, '(');
    close_paren = strrchr(text, ')');
    if (open_paren != NULL && close_paren != NULL && close_paren > open_paren) {
        if (comm != NULL) {
            (void)snprintf(comm, comm_len, "%.*s", (int)(close_paren - open_paren - 1),
                           open_paren + 1);
        }
        /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        ok = sscanf(close_paren + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &parent,
                    &utime, &stime) == 3;
    }
    free(text);
    if (ok) {
        if (ppid != NULL) {
            *ppid = parent;
        }
        if (cpu_s != NULL) {
            *cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    return ok;
}

double dd_benchpipe_cpu_s(int pid)
{
    double cpu = -1;

    return read_stat(pid, NULL, 0, NULL, &cpu) ? cpu : -1;
}

int dd_benchpipe_child_pid(int parent, const char *comm)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;

    if (d == NULL || comm == NULL) {
        if (d != NULL) {
            closedir(d);
        }
        return 0;
    }
    while (found == 0 && (e = readdir(d)) != NULL) {
        char name[64];
        int ppid = 0;
        int pid;

        if (!isdigit((unsigned char)e->d_name[0])) {
            continue;
        }
        pid = atoi(e->d_name);
        if (read_stat(pid, name, sizeof(name), &ppid, NULL) && ppid == parent &&
            strcmp(name, comm) == 0) {
            found = pid;
        }
    }
    closedir(d);
    return found;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

double dd_benchpipe_quantile(double *v, size_t n, double q)
{
    size_t rank;

    if (v == NULL || n == 0) {
        return NAN;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    /* Nearest rank: the smallest value with at least q of the samples at or below it. */
    rank = (size_t)ceil(q * (double)n);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return v[rank - 1];
}
