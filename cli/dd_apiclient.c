#include "dd_apiclient.h"

#include "dd_endpoints.h"
#include "dd_fs.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buffer {
    char *data;
    size_t len;
    size_t cap;
} buffer_t;

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buffer_t *b = userdata;
    size_t n = size * nmemb;

    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *bigger = realloc(b->data, cap);
        if (bigger == NULL) {
            return 0;
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

dd_apiclient_status_t dd_apiclient_request(const char *base, const char *method, const char *path,
                                           const char *body, long *http_status, char **response)
{
    return dd_apiclient_request_h(base, method, path, NULL, body, http_status, response);
}

dd_apiclient_status_t dd_apiclient_request_h(const char *base, const char *method, const char *path,
                                             const char *header, const char *body,
                                             long *http_status, char **response)
{
    struct curl_slist *headers = NULL;
    buffer_t b = {NULL, 0, 0};
    char url[2048];
    CURL *curl;
    CURLcode rc;

    if (base == NULL || method == NULL || path == NULL || http_status == NULL || response == NULL) {
        return DD_APICLIENT_BAD_PARAMETER;
    }
    *response = NULL;
    (void)pthread_once(&g_curl_once, curl_init_once);
    curl = curl_easy_init();
    if (curl == NULL) {
        return DD_APICLIENT_NO_MEMORY;
    }
    (void)snprintf(url, sizeof(url), "%s%s", base, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (header != NULL) {
        headers = curl_slist_append(headers, header);
    }
    (void)curl_easy_setopt(curl, CURLOPT_URL, url);
    (void)curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    (void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    (void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    (void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
    (void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        free(b.data);
        return DD_APICLIENT_UNREACHABLE;
    }
    if (b.data == NULL) {
        b.data = calloc(1, 1);
        if (b.data == NULL) {
            return DD_APICLIENT_NO_MEMORY;
        }
    }
    *response = b.data;
    return DD_APICLIENT_OK;
}

dd_apiclient_status_t dd_apiclient_json(const char *base, const char *method, const char *path,
                                        const cJSON *body, cJSON **out)
{
    return dd_apiclient_json_h(base, method, path, NULL, body, 0, NULL, out);
}

dd_apiclient_status_t dd_apiclient_json_h(const char *base, const char *method, const char *path,
                                          const char *header, const cJSON *body, long tolerated,
                                          long *http_status, cJSON **out)
{
    char *text = NULL;
    char *response = NULL;
    long status = 0;
    dd_apiclient_status_t st;
    cJSON *parsed;

    if (out != NULL) {
        *out = NULL;
    }
    if (body != NULL) {
        text = cJSON_PrintUnformatted(body);
        if (text == NULL) {
            return DD_APICLIENT_NO_MEMORY;
        }
    }
    st = dd_apiclient_request_h(base, method, path, header, text, &status, &response);
    cJSON_free(text);
    if (http_status != NULL) {
        *http_status = status;
    }
    if (st != DD_APICLIENT_OK) {
        fprintf(stderr, "ddlocal: %s %s%s: %s\n", method, base, path, dd_apiclient_strerror(st));
        return st;
    }
    parsed = cJSON_Parse(response);
    if ((status < 200 || status > 299) && status != tolerated) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(parsed, "message");
        fprintf(stderr, "ddlocal: %s %s failed with HTTP %ld: %s\n", method, path, status,
                cJSON_IsString(msg) ? msg->valuestring : response);
        cJSON_Delete(parsed);
        free(response);
        return DD_APICLIENT_BAD_RESPONSE;
    }
    free(response);
    if (out != NULL) {
        *out = parsed;
    } else {
        cJSON_Delete(parsed);
    }
    return DD_APICLIENT_OK;
}

dd_apiclient_status_t dd_apiclient_endpoints(const char *data_dir, dd_apiclient_endpoints_t *out)
{
    dd_endpoints_t ep;
    dd_endpoints_status_t st;

    if (data_dir == NULL || out == NULL) {
        return DD_APICLIENT_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    /* A stale file (its `ddlocal up` killed) is no pipeline: never call its old ports. */
    st = dd_endpoints_read(data_dir, &ep);
    if (st == DD_ENDPOINTS_NOT_RUNNING || st == DD_ENDPOINTS_STALE) {
        return DD_APICLIENT_NOT_RUNNING;
    }
    if (st != DD_ENDPOINTS_OK) {
        return DD_APICLIENT_BAD_RESPONSE;
    }
    (void)snprintf(out->mqtt_host, sizeof(out->mqtt_host), "%s", ep.mqtt_host);
    out->mqtt_port = ep.mqtt_port;
    out->alpn_port = ep.alpn_port;
    (void)snprintf(out->api, sizeof(out->api), "%s", ep.api);
    (void)snprintf(out->root_ca, sizeof(out->root_ca), "%s", ep.root_ca);
    return DD_APICLIENT_OK;
}

void dd_apiclient_escape(const char *in, char *out, size_t len)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t o = 0;

    if (out == NULL || len == 0) {
        return;
    }
    for (; in != NULL && *in != '\0' && o + 4 <= len; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HEX[c >> 4];
            out[o++] = HEX[c & 15];
        }
    }
    out[o] = '\0';
}

const char *dd_apiclient_strerror(dd_apiclient_status_t status)
{
    switch (status) {
    case DD_APICLIENT_OK: return "ok";
    case DD_APICLIENT_BAD_PARAMETER: return "bad parameter";
    case DD_APICLIENT_NO_MEMORY: return "out of memory";
    case DD_APICLIENT_UNREACHABLE: return "ddlocald's API cannot be reached";
    case DD_APICLIENT_NOT_RUNNING:
        return "the pipeline is not running (no endpoints.json, or a stale one from a killed "
               "`ddlocal up`; start `ddlocal up`)";
    case DD_APICLIENT_BAD_RESPONSE: return "unexpected response";
    }
    return "unknown apiclient status";
}
