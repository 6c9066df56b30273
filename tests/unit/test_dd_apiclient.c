#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dd_apiclient.h"
#include "dd_endpoints.h"
#include "dd_fs.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_apiclient_test_XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- escaping */

static void test_dd_apiclient_escape(void **state)
{
    char out[256];
    char small[8];

    (void)state;
    /* Unreserved characters stay. */
    dd_apiclient_escape("AZaz09-_.~", out, sizeof(out));
    assert_string_equal(out, "AZaz09-_.~");
    /* Everything else is percent-encoded, upper-case hex. */
    dd_apiclient_escape("a b/c?d=e&f#g%h+i:j@k", out, sizeof(out));
    assert_string_equal(out, "a%20b%2Fc%3Fd%3De%26f%23g%25h%2Bi%3Aj%40k");
    /* An ARN as a path segment. */
    dd_apiclient_escape("arn:aws:iot:us-east-1:123456789012:thinggroup/Quarantine", out,
                        sizeof(out));
    assert_string_equal(out,
                        "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Athinggroup%2FQuarantine");
    /* UTF-8: each byte. */
    dd_apiclient_escape("caf\xc3\xa9 \xe2\x82\xac", out, sizeof(out));
    assert_string_equal(out, "caf%C3%A9%20%E2%82%AC");
    dd_apiclient_escape("", out, sizeof(out));
    assert_string_equal(out, "");
    dd_apiclient_escape(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    /* Too small a buffer: a terminated prefix, never half an escape. */
    dd_apiclient_escape("a/b/c/d", small, sizeof(small));
    assert_string_equal(small, "a%2Fb");
    dd_apiclient_escape("a", NULL, 4);
    dd_apiclient_escape("a", out, 0);
}

/* ---------------------------------------------------------------- endpoints.json */

static void write_endpoints(const char *text)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    assert_int_equal(dd_fs_write_atomic(path, text, strlen(text), 0644), DD_FS_OK);
}

static void test_dd_apiclient_endpoints(void **state)
{
    dd_apiclient_endpoints_t ep;

    (void)state;
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_NOT_RUNNING);
    /* As a killed `ddlocal up` left it: pid 42 is no ddlocal (an older file: no start time). */
    write_endpoints("{\"mqtt\": \"127.0.0.1:18883\", \"mqttAlpn\": \"127.0.0.1:18443\", \"api\": "
                    "\"http://127.0.0.1:18080\", \"rootCa\": \"/data/pki/AmazonRootCA1.pem\","
                    " \"dataDir\": \"/data\", \"clock\": \"manual:0\", \"pid\": 42}\n");
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_NOT_RUNNING);
    /* As a running `ddlocal up` writes it (this process stands in for it). */
    {
        dd_endpoints_proc_t self;
        char text[512];
        assert_int_equal(dd_endpoints_proc_init(&self, "ddlocal", (int)getpid()), DD_ENDPOINTS_OK);
        (void)snprintf(text, sizeof(text),
                       "{\"mqtt\": \"127.0.0.1:18883\", \"mqttAlpn\": \"127.0.0.1:18443\", "
                       "\"api\": \"http://127.0.0.1:18080\", \"rootCa\": "
                       "\"/data/pki/AmazonRootCA1.pem\", \"dataDir\": \"/data\", \"clock\": "
                       "\"manual:0\", \"pid\": %d, \"pidStartTime\": %llu}\n",
                       self.pid, (unsigned long long)self.start);
        write_endpoints(text);
    }
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_OK);
    assert_string_equal(ep.mqtt_host, "127.0.0.1");
    assert_int_equal(ep.mqtt_port, 18883);
    assert_int_equal(ep.alpn_port, 18443);
    assert_string_equal(ep.api, "http://127.0.0.1:18080");
    assert_string_equal(ep.root_ca, "/data/pki/AmazonRootCA1.pem");
    /* Not what `up` writes. */
    write_endpoints("this is not json");
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_BAD_RESPONSE);
    write_endpoints("[\"http://127.0.0.1:18080\"]");
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_BAD_RESPONSE);
    write_endpoints("{\"mqtt\": \"127.0.0.1:18883\"}");
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_BAD_RESPONSE);
    write_endpoints("{\"api\": \"http://127.0.0.1:18080\", \"mqtt\": 18883}");
    assert_int_equal(dd_apiclient_endpoints(dir, &ep), DD_APICLIENT_BAD_RESPONSE);
    assert_int_equal(dd_apiclient_endpoints(NULL, &ep), DD_APICLIENT_BAD_PARAMETER);
    assert_int_equal(dd_apiclient_endpoints(dir, NULL), DD_APICLIENT_BAD_PARAMETER);
}

/* ---------------------------------------------------------------- a loopback HTTP listener */

#define MAX_REQUESTS 16

typedef struct http_server {
    int fd;
    uint16_t port;
    char base[64];
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    int status;     /* the answer's status */
    char body[256]; /* and body */
    int requests;
    char *request[MAX_REQUESTS]; /* each request as received, head and body */
} http_server_t;

/* Reads one whole request (head and Content-Length body) into @p buf. */
static bool read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    size_t need = 0;
    const char *end = NULL;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            return false;
        }
        n += (size_t)r;
        buf[n] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            need = (size_t)(end + 4 - buf);
            if (cl != NULL && cl < end) {
                need += strtoul(cl + strlen("\r\ncontent-length:"), NULL, 10);
            }
            if (n < need && strcasestr(buf, "\r\nexpect: 100-continue") != NULL) {
                (void)send(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
            }
        }
        if (end != NULL && n >= need) {
            return true;
        }
    }
    return false;
}

static void *serve(void *arg)
{
    http_server_t *s = arg;
    char *buf = malloc(65536);
    char *answer = malloc(1024);

    assert_non_null(buf);
    assert_non_null(answer);
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        struct timeval tv = {2, 0};
        int n;
        int c;

        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        (void)setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (!read_request(c, buf, 65536)) {
            close(c);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (s->requests < MAX_REQUESTS) {
            s->request[s->requests] = strdup(buf);
        }
        s->requests++;
        n = snprintf(
            answer, 1024,
            "HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n%s",
            s->status, strlen(s->body), s->body);
        pthread_mutex_unlock(&s->lock);
        (void)send(c, answer, (size_t)n, MSG_NOSIGNAL);
        close(c);
    }
    free(answer);
    free(buf);
    return NULL;
}

static void server_start(http_server_t *s)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, false);
    s->status = 200;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    (void)setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", (unsigned)s->port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(http_server_t *s)
{
    int i;

    atomic_store(&s->stop, true);
    (void)pthread_join(s->thread, NULL);
    close(s->fd);
    for (i = 0; i < s->requests && i < MAX_REQUESTS; i++) {
        free(s->request[i]);
    }
    pthread_mutex_destroy(&s->lock);
}

static void server_answer(http_server_t *s, int status, const char *body)
{
    pthread_mutex_lock(&s->lock);
    s->status = status;
    snprintf(s->body, sizeof(s->body), "%s", body);
    pthread_mutex_unlock(&s->lock);
}

/* Request @p i as received (the client call has returned, so the server wrote it). */
static const char *request_text(http_server_t *s, int i)
{
    const char *r;

    pthread_mutex_lock(&s->lock);
    assert_true(i < s->requests);
    r = s->request[i];
    pthread_mutex_unlock(&s->lock);
    return r;
}

static const char *request_body(http_server_t *s, int i)
{
    const char *end = strstr(request_text(s, i), "\r\n\r\n");

    assert_non_null(end);
    return end + 4;
}

/* ---------------------------------------------------------------- requests */

static void test_dd_apiclient_request_status_and_body(void **state)
{
    http_server_t s;
    long status = 0;
    char *response = NULL;

    (void)state;
    server_start(&s);
    server_answer(&s, 200, "{\"thingName\":\"Thing03\"}");
    assert_int_equal(dd_apiclient_request(s.base, "GET", "/things/Thing03", NULL, &status,
                                          &response),
                     DD_APICLIENT_OK);
    assert_int_equal(status, 200);
    assert_string_equal(response, "{\"thingName\":\"Thing03\"}");
    free(response);
    assert_memory_equal(request_text(&s, 0), "GET /things/Thing03 HTTP/1.1\r\n", 30);

    /* Any HTTP status is a response; the body comes back as sent. */
    server_answer(&s, 404, "{\"message\":\"Thing Nope not found\"}");
    assert_int_equal(dd_apiclient_request(s.base, "POST", "/things/Nope?x=1", "{\"a\":1}", &status,
                                          &response),
                     DD_APICLIENT_OK);
    assert_int_equal(status, 404);
    assert_string_equal(response, "{\"message\":\"Thing Nope not found\"}");
    free(response);
    assert_memory_equal(request_text(&s, 1), "POST /things/Nope?x=1 HTTP/1.1\r\n", 32);
    assert_non_null(strcasestr(request_text(&s, 1), "\r\nContent-Type: application/json\r\n"));
    assert_string_equal(request_body(&s, 1), "{\"a\":1}");
    /* No extra header unless asked. */
    assert_null(strcasestr(request_text(&s, 1), "x-amzn-principal"));

    /* An empty body is an empty string, not NULL. */
    server_answer(&s, 200, "");
    assert_int_equal(dd_apiclient_request(s.base, "DELETE", "/things/Thing03", NULL, &status,
                                          &response),
                     DD_APICLIENT_OK);
    assert_int_equal(status, 200);
    assert_non_null(response);
    assert_string_equal(response, "");
    free(response);
    assert_memory_equal(request_text(&s, 2), "DELETE /things/Thing03 HTTP/1.1\r\n", 33);

    assert_int_equal(dd_apiclient_request(NULL, "GET", "/", NULL, &status, &response),
                     DD_APICLIENT_BAD_PARAMETER);
    assert_int_equal(dd_apiclient_request(s.base, "GET", "/", NULL, NULL, &response),
                     DD_APICLIENT_BAD_PARAMETER);
    assert_int_equal(dd_apiclient_request(s.base, "GET", "/", NULL, &status, NULL),
                     DD_APICLIENT_BAD_PARAMETER);
    server_stop(&s);
    assert_int_equal(s.requests, 3);
}

static void test_dd_apiclient_request_with_header(void **state)
{
    http_server_t s;
    long status = 0;
    char *response = NULL;
    const char *principal = "x-amzn-principal: 0123456789abcdef";

    (void)state;
    server_start(&s);
    server_answer(&s, 200, "{}");
    assert_int_equal(dd_apiclient_request_h(s.base, "PUT", "/things/Thing03/principals", principal,
                                            NULL, &status, &response),
                     DD_APICLIENT_OK);
    assert_int_equal(status, 200);
    assert_string_equal(response, "{}");
    free(response);
    assert_memory_equal(request_text(&s, 0), "PUT /things/Thing03/principals HTTP/1.1\r\n", 41);
    assert_non_null(strstr(request_text(&s, 0), "\r\nx-amzn-principal: 0123456789abcdef\r\n"));
    server_stop(&s);
}

static void test_dd_apiclient_json(void **state)
{
    http_server_t s;
    cJSON *body = cJSON_Parse("{\"thingGroupName\":\"Quarantine\"}");
    cJSON *out = NULL;
    long status = 0;

    (void)state;
    server_start(&s);
    server_answer(&s, 200, "{\"thingGroupArn\":\"arn:x\"}");
    assert_int_equal(dd_apiclient_json(s.base, "POST", "/thing-groups/Quarantine", body, &out),
                     DD_APICLIENT_OK);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(out, "thingGroupArn")->valuestring,
                        "arn:x");
    cJSON_Delete(out);
    assert_string_equal(request_body(&s, 0), "{\"thingGroupName\":\"Quarantine\"}");
    /* A non-2xx status is an error... */
    server_answer(&s, 409, "{\"message\":\"exists\"}");
    assert_int_equal(dd_apiclient_json(s.base, "POST", "/thing-groups/Quarantine", body, &out),
                     DD_APICLIENT_BAD_RESPONSE);
    assert_null(out);
    /* ...unless it is the tolerated one. */
    assert_int_equal(dd_apiclient_json_h(s.base, "POST", "/thing-groups/Quarantine", NULL, body,
                                         409, &status, &out),
                     DD_APICLIENT_OK);
    assert_int_equal(status, 409);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(out, "message")->valuestring, "exists");
    cJSON_Delete(out);
    server_stop(&s);
    cJSON_Delete(body);
}

static void test_dd_apiclient_unreachable(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char base[64];
    long status = 0;
    char *response = (char *)"untouched";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    (void)state;
    /* A port that was just free and is not listened on. */
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(dd_apiclient_request(base, "GET", "/ddlocal/status", NULL, &status, &response),
                     DD_APICLIENT_UNREACHABLE);
    assert_null(response);
    assert_string_equal(dd_apiclient_strerror(DD_APICLIENT_UNREACHABLE),
                        "ddlocald's API cannot be reached");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_apiclient_escape),
        cmocka_unit_test_setup_teardown(test_dd_apiclient_endpoints, setup, teardown),
        cmocka_unit_test(test_dd_apiclient_request_status_and_body),
        cmocka_unit_test(test_dd_apiclient_request_with_header),
        cmocka_unit_test(test_dd_apiclient_json),
        cmocka_unit_test(test_dd_apiclient_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
