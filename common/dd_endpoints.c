#include "dd_endpoints.h"

#include "dd_fs.h"
#include "dd_json.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads /proc/PID/stat: the state letter and the start time (field 22). */
static bool proc_stat(int pid, char *state, uint64_t *start)
{
    char path[64];
    char buf[1024];
    FILE *f;
    size_t n;
    const char *p;
    int field;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0') {
        return false;
    }
    *state = p[2];
    p += 2;
    for (field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL) {
            p++;
        }
    }
    if (p == NULL) {
        return false;
    }
    *start = strtoull(p, NULL, 10);
    return true;
}

static bool proc_name_is(int pid, const char *name)
{
    char path[64];
    char comm[64] = "";
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    if (fgets(comm, sizeof(comm), f) == NULL) {
        comm[0] = '\0';
    }
    (void)fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, name) == 0;
}

dd_endpoints_status_t dd_endpoints_proc_init(dd_endpoints_proc_t *proc, const char *name, int pid)
{
    char state;

    if (proc == NULL || name == NULL || pid <= 0) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    memset(proc, 0, sizeof(*proc));
    (void)snprintf(proc->name, sizeof(proc->name), "%s", name);
    proc->pid = pid;
    return proc_stat(pid, &state, &proc->start) ? DD_ENDPOINTS_OK : DD_ENDPOINTS_NOT_RUNNING;
}

bool dd_endpoints_proc_alive(const dd_endpoints_proc_t *proc)
{
    char state = '?';
    uint64_t start = 0;

    if (proc == NULL || proc->pid <= 0 || !proc_stat(proc->pid, &state, &start)) {
        return false;
    }
    /* A zombie has exited: only its parent has not reaped it yet. */
    if (state == 'Z' || state == 'X' || state == 'x') {
        return false;
    }
    if (proc->start != 0) {
        return start == proc->start;
    }
    return proc_name_is(proc->pid, "ddlocal");
}

static void copy_string(const cJSON *root, const char *key, char *buf, size_t len)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);

    buf[0] = '\0';
    if (cJSON_IsString(item) && strlen(item->valuestring) < len) {
        memcpy(buf, item->valuestring, strlen(item->valuestring) + 1);
    }
}

/* "host:port" into its parts; false unless the port is 1..65535. */
static bool split_host_port(const char *hostport, char *host, size_t len, unsigned *port)
{
    const char *colon = strrchr(hostport, ':');
    char *end = NULL;
    unsigned long v;

    if (colon == NULL || (host != NULL && (size_t)(colon - hostport) >= len)) {
        return false;
    }
    if (host != NULL) {
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
    }
    v = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || v == 0 || v > 65535) {
        return false;
    }
    *port = (unsigned)v;
    return true;
}

static void read_proc(const cJSON *obj, dd_endpoints_proc_t *proc)
{
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(obj, "pid");
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(obj, "startTime");

    memset(proc, 0, sizeof(*proc));
    copy_string(obj, "name", proc->name, sizeof(proc->name));
    if (cJSON_IsNumber(pid) && pid->valuedouble > 0 && pid->valuedouble < 4194305.0) {
        proc->pid = (int)pid->valuedouble;
    }
    if (cJSON_IsNumber(start) && start->valuedouble > 0 && start->valuedouble < 9.0e15) {
        proc->start = (uint64_t)start->valuedouble;
    }
}

dd_endpoints_status_t dd_endpoints_read(const char *data_dir, dd_endpoints_t *out)
{
    char path[1024];
    char hostport[128];
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    const cJSON *procs;
    const cJSON *p;
    bool ok;
    int n;

    if (data_dir == NULL || out == NULL) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    n = snprintf(path, sizeof(path), "%s/%s", data_dir, DD_ENDPOINTS_FILE);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    if (!dd_fs_exists(path)) {
        return DD_ENDPOINTS_NOT_RUNNING;
    }
    if (dd_fs_read_file(path, 65536, &text, &len) != DD_FS_OK) {
        free(text);
        /* Removed between the two calls: a clean stop just happened. */
        return dd_fs_exists(path) ? DD_ENDPOINTS_BAD_FORMAT : DD_ENDPOINTS_NOT_RUNNING;
    }
    if (dd_json_parse(text, len, 0, &root, NULL) != DD_JSON_OK || !cJSON_IsObject(root)) {
        free(text);
        cJSON_Delete(root);
        return DD_ENDPOINTS_BAD_FORMAT;
    }
    free(text);
    copy_string(root, "mqtt", hostport, sizeof(hostport));
    ok = split_host_port(hostport, out->mqtt_host, sizeof(out->mqtt_host), &out->mqtt_port);
    copy_string(root, "mqttAlpn", hostport, sizeof(hostport));
    (void)split_host_port(hostport, NULL, 0, &out->alpn_port);
    copy_string(root, "api", out->api, sizeof(out->api));
    copy_string(root, "console", out->console, sizeof(out->console));
    copy_string(root, "rootCa", out->root_ca, sizeof(out->root_ca));
    copy_string(root, "dataDir", out->data_dir, sizeof(out->data_dir));
    copy_string(root, "clock", out->clock, sizeof(out->clock));
    {
        /* The writer: "pid" and "pidStartTime" at the top, as older files had "pid" alone. */
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(root, "pid");
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(root, "pidStartTime");
        (void)snprintf(out->up.name, sizeof(out->up.name), "ddlocal");
        if (cJSON_IsNumber(pid) && pid->valuedouble > 0 && pid->valuedouble < 4194305.0) {
            out->up.pid = (int)pid->valuedouble;
        }
        if (cJSON_IsNumber(start) && start->valuedouble > 0 && start->valuedouble < 9.0e15) {
            out->up.start = (uint64_t)start->valuedouble;
        }
    }
    procs = cJSON_GetObjectItemCaseSensitive(root, "processes");
    cJSON_ArrayForEach (p, procs) {
        if (out->proc_count < DD_ENDPOINTS_MAX_PROCS && cJSON_IsObject(p)) {
            read_proc(p, &out->procs[out->proc_count++]);
        }
    }
    cJSON_Delete(root);
    if (!ok || out->api[0] == '\0' || out->up.pid == 0) {
        return DD_ENDPOINTS_BAD_FORMAT;
    }
    return dd_endpoints_proc_alive(&out->up) ? DD_ENDPOINTS_OK : DD_ENDPOINTS_STALE;
}

static cJSON *proc_json(const dd_endpoints_proc_t *proc)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || cJSON_AddStringToObject(o, "name", proc->name) == NULL ||
        cJSON_AddNumberToObject(o, "pid", proc->pid) == NULL ||
        cJSON_AddNumberToObject(o, "startTime", (double)proc->start) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

dd_endpoints_status_t dd_endpoints_write(const char *data_dir, const dd_endpoints_t *ep)
{
    char path[1024];
    char hostport[96];
    char *text = NULL;
    cJSON *root;
    cJSON *procs;
    bool ok;
    size_t i;
    int n;

    if (data_dir == NULL || ep == NULL || ep->up.pid <= 0) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    n = snprintf(path, sizeof(path), "%s/%s", data_dir, DD_ENDPOINTS_FILE);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    root = cJSON_CreateObject();
    procs = cJSON_CreateArray();
    ok = root != NULL && procs != NULL;
    if (ok) {
        (void)snprintf(hostport, sizeof(hostport), "%s:%u", ep->mqtt_host, ep->mqtt_port);
        ok = cJSON_AddStringToObject(root, "mqtt", hostport) != NULL;
        (void)snprintf(hostport, sizeof(hostport), "%s:%u", ep->mqtt_host, ep->alpn_port);
        ok = ok && cJSON_AddStringToObject(root, "mqttAlpn", hostport) != NULL &&
             cJSON_AddStringToObject(root, "api", ep->api) != NULL &&
             (ep->console[0] == '\0' ||
              cJSON_AddStringToObject(root, "console", ep->console) != NULL) &&
             cJSON_AddStringToObject(root, "rootCa", ep->root_ca) != NULL &&
             cJSON_AddStringToObject(root, "dataDir", ep->data_dir) != NULL &&
             cJSON_AddStringToObject(root, "clock", ep->clock) != NULL &&
             cJSON_AddNumberToObject(root, "pid", ep->up.pid) != NULL &&
             cJSON_AddNumberToObject(root, "pidStartTime", (double)ep->up.start) != NULL;
    }
    for (i = 0; ok && i < ep->proc_count && i < DD_ENDPOINTS_MAX_PROCS; i++) {
        cJSON *o;
        if (ep->procs[i].pid <= 0) {
            continue;
        }
        o = proc_json(&ep->procs[i]);
        ok = o != NULL && cJSON_AddItemToArray(procs, o);
    }
    if (ok) {
        ok = cJSON_AddItemToObject(root, "processes", procs);
        procs = ok ? NULL : procs;
    }
    if (ok) {
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(procs);
    cJSON_Delete(root);
    if (text == NULL) {
        return DD_ENDPOINTS_WRITE_FAILED;
    }
    ok = dd_fs_write_atomic(path, text, strlen(text), 0644) == DD_FS_OK;
    cJSON_free(text);
    return ok ? DD_ENDPOINTS_OK : DD_ENDPOINTS_WRITE_FAILED;
}

dd_endpoints_status_t dd_endpoints_set_clock(const char *data_dir, const char *spec)
{
    dd_endpoints_t ep;
    dd_endpoints_status_t st;
    int n;

    if (data_dir == NULL || spec == NULL) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    st = dd_endpoints_read(data_dir, &ep);
    if (st == DD_ENDPOINTS_STALE) {
        return DD_ENDPOINTS_NOT_RUNNING; /* no pipeline to describe: leave the file to `up` */
    }
    if (st != DD_ENDPOINTS_OK) {
        return st;
    }
    n = snprintf(ep.clock, sizeof(ep.clock), "%s", spec);
    if (n < 0 || (size_t)n >= sizeof(ep.clock)) {
        return DD_ENDPOINTS_BAD_PARAMETER;
    }
    return dd_endpoints_write(data_dir, &ep);
}

const char *dd_endpoints_strerror(dd_endpoints_status_t status)
{
    switch (status) {
    case DD_ENDPOINTS_OK: return "ok";
    case DD_ENDPOINTS_BAD_PARAMETER: return "bad parameter";
    case DD_ENDPOINTS_NOT_RUNNING: return "the pipeline is not running (no endpoints.json)";
    case DD_ENDPOINTS_STALE:
        return "the pipeline is not running (a stale endpoints.json: its `ddlocal up` is gone)";
    case DD_ENDPOINTS_BAD_FORMAT: return "endpoints.json is not what `ddlocal up` writes";
    case DD_ENDPOINTS_WRITE_FAILED: return "endpoints.json cannot be written";
    }
    return "unknown endpoints status";
}
