/**
 * @file fuzz_seeds.c
 * @brief Writes seed inputs for the harnesses whose inputs have no fixture
 *        file: control messages and metering batches (made with the real
 *        encoders, so they follow the format as it is) and API request lines
 *        (one per route of the table).
 *
 * Usage: fuzz_seeds DIR - writes DIR/control/, DIR/metering/, DIR/route/
 * (the directories must exist). scripts/fuzz.sh runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_control.h"
#include "dd_metering.h"
#include "dd_route.h"

static int write_seed(const char *dir, const char *sub, const char *name, const void *prefix,
                      size_t prefix_len, const void *data, size_t len)
{
    char path[1024];
    FILE *f;
    int ok;

    (void)snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    ok = fwrite(prefix, 1, prefix_len, f) == prefix_len && fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Control seeds start with the topic selector byte of fuzz_control.c. */
static int control_seeds(const char *dir)
{
    static const char STATE[] = "{\"exists\":true,\"groups\":[\"IsolatedDevices\"],"
                                "\"policies\":[\"DevicePolicy\"]}";
    dd_control_batch_t batch;
    cJSON *state = cJSON_Parse(STATE);
    char *payload = NULL;
    size_t len = 0;
    int rc = -1;

    if (state == NULL || dd_control_batch_init(&batch, "seed-1", false) != DD_CONTROL_OK) {
        cJSON_Delete(state);
        return -1;
    }
    if (dd_control_batch_add(&batch, DD_REGISTRY_KIND_THING, "Thing01", state) == DD_CONTROL_OK &&
        dd_control_batch_encode(&batch, &payload, &len) == DD_CONTROL_OK) {
        rc = write_seed(dir, "control", "registry", "\0", 1, payload, len);
    }
    free(payload);
    payload = NULL;
    dd_control_batch_free(&batch);
    cJSON_Delete(state);
    if (rc == 0 && dd_control_encode_clock("manual:1795860006000", "seed-2", &payload, &len) ==
                       DD_CONTROL_OK) {
        rc = write_seed(dir, "control", "clock", "\1", 1, payload, len);
        free(payload);
        payload = NULL;
    }
    if (rc == 0 && dd_control_encode_response("seed-3", false, "no such thing", &payload, &len) ==
                       DD_CONTROL_OK) {
        rc = write_seed(dir, "control", "response", "\2", 1, payload, len);
        free(payload);
    }
    return rc;
}

static int metering_seeds(const char *dir)
{
    static uint8_t buf[4096];
    dd_metering_writer_t w;
    dd_metering_record_t rec;
    size_t len = 0;
    int type;

    if (dd_metering_writer_begin(&w, buf, sizeof(buf), 42, 1) != DD_METERING_OK) {
        return -1;
    }
    for (type = DD_METERING_SENT; type <= DD_METERING_DISCONNECT; type++) {
        memset(&rec, 0, sizeof(rec));
        rec.type = (dd_metering_type_t)type;
        rec.time_ms = 1795860006000 + type;
        rec.registered = type != DD_METERING_AUTH_FAILURE;
        rec.key = dd_metering_cstr("Thing01");
        rec.subject =
            dd_metering_cstr(type >= DD_METERING_CONNECT ? "Thing01" : "temperature-device-01");
        rec.bytes = 5;
        rec.action = DD_METERING_ACTION_PUBLISH;
        rec.reason = DD_METERING_REASON_POLICY;
        rec.success = true;
        rec.ip = dd_metering_cstr(type == DD_METERING_CONNECT ? "198.51.100.1" : NULL);
        /* Version 2's fields: the certificate id, the takeover. */
        rec.cert_id = dd_metering_cstr(type == DD_METERING_CONNECT ? "0a1b2c3d" : NULL);
        rec.takeover = type == DD_METERING_DISCONNECT;
        if (dd_metering_writer_add(&w, &rec) != DD_METERING_OK) {
            return -1;
        }
    }
    if (dd_metering_writer_finish(&w, &len) != DD_METERING_OK) {
        return -1;
    }
    return write_seed(dir, "metering", "all-types", "", 0, buf, len);
}

/* "METHOD /path" for every route, each {label} filled with a plausible name. */
static int route_seeds(const char *dir)
{
    const char *name;
    const char *method;
    const char *uri;
    size_t i;

    for (i = 0; dd_route_entry(i, &name, &method, &uri); i++) {
        char line[1024];
        size_t n = (size_t)snprintf(line, sizeof(line), "%s ", method);
        const char *p;

        for (p = uri; *p != '\0' && n + 16 < sizeof(line); p++) {
            if (*p == '{') {
                const char *close = strchr(p, '}');

                n += (size_t)snprintf(line + n, sizeof(line) - n, "Thing%%2D01");
                p = close != NULL ? close : p + strlen(p) - 1;
            } else {
                line[n++] = *p;
            }
        }
        if (write_seed(dir, "route", name, "", 0, line, n) != 0) {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    if (control_seeds(argv[1]) != 0 || metering_seeds(argv[1]) != 0 || route_seeds(argv[1]) != 0) {
        fprintf(stderr, "fuzz_seeds: could not write the seeds\n");
        return 1;
    }
    return 0;
}
