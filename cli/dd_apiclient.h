/**
 * @file dd_apiclient.h
 * @brief A small client of ddlocald's HTTP API (libcurl), for `ddlocal`
 *        subcommands that talk to a running pipeline: the isolator, clock
 *        advance, the status panel, workshop provisioning.
 *
 * Also reads DIR/endpoints.json, which `ddlocal up` writes while the
 * pipeline runs. Responses are returned as malloc'd text (caller frees).
 * No global state beyond libcurl's one-time initialisation; one call at a
 * time per thread.
 */
#ifndef DD_APICLIENT_H_
#define DD_APICLIENT_H_

#include <stddef.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_apiclient_status {
    DD_APICLIENT_OK = 0, /**< A response arrived (any HTTP status). */
    DD_APICLIENT_BAD_PARAMETER,
    DD_APICLIENT_NO_MEMORY,
    DD_APICLIENT_UNREACHABLE, /**< Connection failed or timed out. */
    DD_APICLIENT_NOT_RUNNING, /**< No endpoints.json, or a stale one: the pipeline is not up. */
    DD_APICLIENT_BAD_RESPONSE /**< The body is not the JSON expected. */
} dd_apiclient_status_t;

/** The endpoints of a running pipeline (from endpoints.json). */
typedef struct dd_apiclient_endpoints {
    char mqtt_host[64];
    unsigned mqtt_port;
    unsigned alpn_port;
    char api[128]; /**< "http://127.0.0.1:P" */
    char root_ca[600];
} dd_apiclient_endpoints_t;

/** @brief Reads DIR/endpoints.json; a stale one (dd_endpoints.h) is DD_APICLIENT_NOT_RUNNING. */
dd_apiclient_status_t dd_apiclient_endpoints(const char *data_dir, dd_apiclient_endpoints_t *out);

/**
 * @brief Makes one request.
 * @param[in] base "http://127.0.0.1:P"
 * @param[in] method "GET", "POST", "PUT", "PATCH", "DELETE"
 * @param[in] path Path and query, already percent-encoded, e.g. "/things/T".
 * @param[in] body JSON text or NULL.
 * @param[out] http_status HTTP status code.
 * @param[out] response malloc'd body (may be empty), NUL-terminated.
 */
dd_apiclient_status_t dd_apiclient_request(const char *base, const char *method, const char *path,
                                           const char *body, long *http_status, char **response);

/**
 * @brief dd_apiclient_request() with one extra request header
 *        ("Name: value"), e.g. x-amzn-principal for AttachThingPrincipal.
 */
dd_apiclient_status_t dd_apiclient_request_h(const char *base, const char *method, const char *path,
                                             const char *header, const char *body,
                                             long *http_status, char **response);

/**
 * @brief Like dd_apiclient_request() with a cJSON body and response; a non-2xx
 *        status is printed ("ddlocal: <ErrorType>: <message>") and gives
 *        DD_APICLIENT_BAD_RESPONSE.
 * @param[out] out Parsed response object (caller frees), may be NULL.
 */
dd_apiclient_status_t dd_apiclient_json(const char *base, const char *method, const char *path,
                                        const cJSON *body, cJSON **out);

/**
 * @brief dd_apiclient_json() with an extra header; a response whose HTTP status
 *        is @p tolerated (e.g. 409 for "already exists") also counts as success.
 * @param[out] http_status Optional: the status.
 */
dd_apiclient_status_t dd_apiclient_json_h(const char *base, const char *method, const char *path,
                                          const char *header, const cJSON *body, long tolerated,
                                          long *http_status, cJSON **out);

/** @brief Percent-encodes @p in (everything but unreserved characters). */
void dd_apiclient_escape(const char *in, char *out, size_t len);

/** @return Static text for @p status. */
const char *dd_apiclient_strerror(dd_apiclient_status_t status);

#endif /* DD_APICLIENT_H_ */
