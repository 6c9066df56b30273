/**
 * @file dd_api.h
 * @brief ddlocald's HTTP control API: the AWS IoT control plane's
 *        `rest-json` protocol (service `iot`, API version 2015-05-28), so
 *        that the real AWS CLI and boto3 drive ddlocal with `--endpoint-url`.
 *
 * Operations: security profiles, violations, custom metrics, dimensions,
 * things and thing groups, certificates, policies, mitigation actions and
 * Detect mitigation tasks, DescribeEndpoint (docs/reference/api.md has the
 * coverage table). Any other operation of the service model is answered
 * with 400 InvalidRequestException "ddlocal does not implement <Op>".
 *
 * Every handler works on the shared dd_pipeline_t under its lock; the
 * Defender handlers change profiles, custom metrics, dimensions and
 * verification states through the application layer (app/dd_detect.h: parse
 * the request, call dd_detect_*(), map its status to AWS's error). The
 * dispatcher calls the pipeline's registry_changed() / defender_changed() hooks, lock held,
 * after a mutation and before answering: "UpdateCertificate INACTIVE" or
 * "AddThingToThingGroup(IsolatedDevices)" reach the broker shim before the
 * client sees the 200. Slow work that needs no shared state (RSA key
 * generation for CreateKeysAndCertificate) runs outside the lock.
 *
 * Threads: libmicrohttpd serves all connections (at most
 * DD_API_MAX_CONNECTIONS, fewer under a low open-file limit) from a pool of
 * DD_API_THREADS polling threads (epoll), so idle connections cost a socket,
 * not a thread, and cannot starve other clients; a connection idle for
 * DD_API_IDLE_TIMEOUT_S is closed. dd_api_call() is the transport-free entry
 * point (tests, benchmarks) and may be called from any thread.
 *
 * Ownership: dd_api_create()/dd_api_start() return a dd_api_t that borrows
 * the pipeline (which must outlive it) and is freed by dd_api_stop().
 * dd_api_response_t bodies are malloc'd and released with
 * dd_api_response_free().
 */
#ifndef DD_API_H_
#define DD_API_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_pipeline.h"
#include "dd_rest.h"

/** Status codes of this module. */
typedef enum dd_api_status {
    DD_API_OK = 0,
    DD_API_BAD_PARAMETER, /**< NULL pointer or bad address. */
    DD_API_NO_MEMORY,
    DD_API_PKI_ERROR,     /**< The data dir's CA could not be loaded or created. */
    DD_API_STORE_ERROR,   /**< Mitigation could not be set up (a pipeline without a store). */
    DD_API_LISTEN_FAILED, /**< The HTTP server could not bind or start. */
    DD_API_STATE          /**< Already listening. */
} dd_api_status_t;

/** Most simultaneous HTTP connections (idle ones included). */
#define DD_API_MAX_CONNECTIONS 1024
/** File descriptors kept out of the connection limit for the rest of ddlocald. */
#define DD_API_RESERVED_FDS 128
/** Polling threads serving the connections (handlers are serialized on the pipeline lock). */
#define DD_API_THREADS 4
/** Seconds after which an idle connection is closed. */
#define DD_API_IDLE_TIMEOUT_S 30
/** Largest request body accepted. */
#define DD_API_MAX_BODY (2u * 1024u * 1024u)

/** An API server (opaque). */
typedef struct dd_api dd_api_t;

/** One request, for dd_api_call(). */
typedef struct dd_api_request {
    const char *method; /**< "GET", "POST", ... */
    const char *uri;    /**< Raw request target: path plus optional "?query", still encoded. */
    const char *body;   /**< May be NULL. */
    size_t body_len;
    /** Looks a request header up (case-insensitive name); NULL when absent. May be NULL. */
    const char *(*header)(void *ctx, const char *name);
    void *header_ctx;
} dd_api_request_t;

/** A response from dd_api_call(). */
typedef struct dd_api_response {
    int status;                              /**< HTTP status. */
    char error_code[64];                     /**< x-amzn-ErrorType; "" on success. */
    char request_id[DD_REST_REQUEST_ID_LEN]; /**< x-amzn-RequestId. */
    char operation[64];                      /**< Operation name, "" when unknown. */
    char *body;                              /**< JSON text, malloc'd. */
    size_t body_len;
} dd_api_response_t;

/**
 * @brief Creates the API without a listener: loads (or creates) the data
 *        dir's CA for CreateKeysAndCertificate and sets up mitigation
 *        (app/dd_mitigate) on the pipeline's store.
 * @param[in] pipeline Shared state (borrowed; db, registry, store, engine,
 *                     clock, arn, data_dir and mqtt_endpoint must be set).
 * @param[out] out New API.
 * @return DD_API_OK, DD_API_BAD_PARAMETER, DD_API_NO_MEMORY, DD_API_PKI_ERROR
 *         or DD_API_STORE_ERROR.
 */
dd_api_status_t dd_api_create(dd_pipeline_t *pipeline, dd_api_t **out);

/**
 * @brief Starts serving HTTP.
 * @param[in] api API from dd_api_create().
 * @param[in] bind_addr IPv4 address to bind, NULL for 127.0.0.1.
 * @param[in] port Port, 0 to let the system choose (see dd_api_port()).
 * @return DD_API_OK, DD_API_BAD_PARAMETER, DD_API_STATE or DD_API_LISTEN_FAILED.
 */
dd_api_status_t dd_api_listen(dd_api_t *api, const char *bind_addr, uint16_t port);

/**
 * @brief dd_api_create() followed by dd_api_listen().
 * @return As those two; on failure *out is NULL and nothing is left running.
 */
dd_api_status_t dd_api_start(dd_pipeline_t *pipeline, const char *bind_addr, uint16_t port,
                             dd_api_t **out);

/** @return The bound port, 0 when not listening. */
uint16_t dd_api_port(const dd_api_t *api);

/**
 * @brief Stops the HTTP server (waiting for running requests) and frees the
 *        API. NULL is ignored.
 */
void dd_api_stop(dd_api_t *api);

/**
 * @brief Handles one request without HTTP (same code path as the server).
 * @param[in] api API.
 * @param[in] req Request.
 * @param[out] resp Response; release with dd_api_response_free().
 * @return DD_API_OK (whatever the HTTP status), DD_API_BAD_PARAMETER or
 *         DD_API_NO_MEMORY.
 */
dd_api_status_t dd_api_call(dd_api_t *api, const dd_api_request_t *req, dd_api_response_t *resp);

/** @brief Frees a response's body; safe on a zeroed response. */
void dd_api_response_free(dd_api_response_t *resp);

/** Support level of an operation (coverage table). */
typedef enum dd_api_support {
    DD_API_NOT_SUPPORTED = 0,
    DD_API_SUPPORTED,
    DD_API_PARTIAL
} dd_api_support_t;

/**
 * @brief How ddlocal supports an operation of the service model.
 * @param[in] operation Operation name.
 * @param[out] note Optional: what is missing for a partial one ("" otherwise), static.
 * @return The support level (DD_API_NOT_SUPPORTED for unknown names).
 */
dd_api_support_t dd_api_operation_support(const char *operation, const char **note);

/** @return Static text for @p status. */
const char *dd_api_strerror(dd_api_status_t status);

#endif /* DD_API_H_ */
