/**
 * @file dd_lambdarun.h
 * @brief Runs one invocation of a Lambda stand-in function: a Python
 *        subprocess (the runner shipped in lambda/ddlocal_lambda_runner.py)
 *        that imports the handler file and calls FUNCTION(event, context).
 *
 * The child gets a clean environment built here, as Lambda gives one: PATH,
 * LANG, TZ, the function's own variables, then the variables the Lambda
 * runtime sets (AWS_REGION, AWS_DEFAULT_REGION, AWS_LAMBDA_FUNCTION_NAME,
 * ..._VERSION, ..._MEMORY_SIZE, ..._LOG_GROUP_NAME, ..._LOG_STREAM_NAME,
 * _HANDLER, LAMBDA_TASK_ROOT, dummy AWS credentials) and AWS_ENDPOINT_URL /
 * AWS_ENDPOINT_URL_IOT pointing at ddlocald's API (the runner also makes
 * older botocore honour them). Its stdin carries the event; stdout and
 * stderr are appended to the function's log; fd 3 carries the runner's
 * verdict ({"ok":true} or {"errorType":..,"errorMessage":..}). The child runs
 * in a process group of its own, killed with SIGKILL when the deadline
 * (timeout + Lambda's 10-s init allowance + a margin) passes; the runner
 * itself stops the handler at its timeout ("Task timed out after N.00 seconds").
 *
 * Blocking: dd_lambdarun_invoke() returns when the child has ended. Uses
 * posix_spawn, safe in a threaded process. Callers ignore SIGPIPE.
 * Ownership: nothing is retained after a call.
 */
#ifndef DD_LAMBDARUN_H_
#define DD_LAMBDARUN_H_

#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_lambdarun_status {
    DD_LAMBDARUN_OK = 0, /**< The handler returned. */
    DD_LAMBDARUN_BAD_PARAMETER,
    DD_LAMBDARUN_NO_MEMORY,
    DD_LAMBDARUN_SPAWN_FAILED,   /**< No interpreter, no log file, no pipe. */
    DD_LAMBDARUN_FUNCTION_ERROR, /**< The handler raised, or the runner failed (exit status). */
    DD_LAMBDARUN_TIMEOUT         /**< Timed out (by the runner) or killed at the deadline. */
} dd_lambdarun_status_t;

/** Lambda's own allowance for the init phase (importing the handler), seconds. */
#define DD_LAMBDARUN_INIT_S 10

/** One invocation. Every string is required unless marked optional. */
typedef struct dd_lambdarun_request {
    const char *python; /**< Interpreter (a path, or a name looked up in PATH). */
    const char *runner; /**< Path of ddlocal_lambda_runner.py. */
    const char *function_name;
    const char *function_arn;
    const char *handler_file; /**< Absolute path of FILE.py. */
    const char *handler_function;
    const char *env_json;   /**< The function's variables (JSON object of strings). */
    int timeout_s;          /**< The handler's timeout. */
    const char *request_id; /**< context.aws_request_id (the same on retries). */
    const char *region;
    const char *endpoint_url; /**< ddlocald's API, e.g. http://127.0.0.1:PORT. */
    const char *clock_spec;   /**< Optional: dd_clock spec, for the log lines' pipeline time. */
    const char *log_path;     /**< The function's log (appended; directory created). */
    const char *event;        /**< The event JSON. */
    int attempt;              /**< 1 for the first attempt (logged). */
    int kill_grace_ms; /**< Optional: margin after timeout + init before SIGKILL (0 = 5000). */
    int init_s;        /**< Optional: init allowance in the deadline (0 = DD_LAMBDARUN_INIT_S). */
} dd_lambdarun_request_t;

/**
 * @brief Runs one invocation and waits for it.
 * @param[in] req The invocation.
 * @param[out] error Why it failed (errorType: errorMessage, or how the child ended).
 * @param[in] error_len Size of @p error.
 * @return DD_LAMBDARUN_OK, DD_LAMBDARUN_BAD_PARAMETER, DD_LAMBDARUN_NO_MEMORY,
 *         DD_LAMBDARUN_SPAWN_FAILED, DD_LAMBDARUN_FUNCTION_ERROR or DD_LAMBDARUN_TIMEOUT.
 */
dd_lambdarun_status_t dd_lambdarun_invoke(const dd_lambdarun_request_t *req, char *error,
                                          size_t error_len);

/** @return Static text for @p status. */
const char *dd_lambdarun_strerror(dd_lambdarun_status_t status);

#endif /* DD_LAMBDARUN_H_ */
