#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_lambdarun.h"
#include "dd_log.h"

#define RUNNER DD_SOURCE_DIR "/lambda/ddlocal_lambda_runner.py"
#define EVENT                                                                               \
    "{\"Records\":[{\"EventSource\":\"aws:sns\",\"Sns\":{\"Message\":\"{\\\"thingName\\\":" \
    "\\\"Thing03\\\"}\"}}]}"

typedef struct fixture {
    char dir[64];
    char handler[128];
    char log[128];
    dd_lambdarun_request_t req;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)signal(SIGPIPE, SIG_IGN); /* as ddlocald does */
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_lambdarun_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    (void)snprintf(f->handler, sizeof(f->handler), "%s/handler.py", f->dir);
    (void)snprintf(f->log, sizeof(f->log), "%s/logs/lambda-Fn.log", f->dir);
    f->req.python = "/usr/bin/python3"; /* Debian's, as ddlocald's default */
    f->req.runner = RUNNER;
    f->req.function_name = "Fn";
    f->req.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Fn";
    f->req.handler_file = f->handler;
    f->req.handler_function = "handler";
    f->req.env_json = "{\"ThingGroupName\":\"IsolatedDevices\"}";
    f->req.timeout_s = 20;
    f->req.request_id = "11111111-2222-4333-8444-555555555555";
    f->req.region = "eu-west-1";
    f->req.endpoint_url = "http://127.0.0.1:9";
    f->req.log_path = f->log;
    f->req.event = EVENT;
    f->req.attempt = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static char *read_log(const fixture_t *f)
{
    FILE *fp = fopen(f->log, "r");
    char *buf = calloc(1, 65536);
    size_t n;

    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    (void)fclose(fp);
    return buf;
}

static void test_dd_lambdarun_success_logs_and_sees_lambda_env(void **state)
{
    fixture_t *f = *state;
    char error[256];
    char *log;

    (void)setenv("DD_LAMBDARUN_TEST_LEAK", "1", 1);
    write_file(
        f->handler,
        "import json, os\n"
        "def handler(event, context):\n"
        "    print('thing', json.loads(event['Records'][0]['Sns']['Message'])['thingName'])\n"
        "    for k in ('ThingGroupName', 'AWS_REGION', 'AWS_DEFAULT_REGION', "
        "'AWS_LAMBDA_FUNCTION_NAME',\n"
        "              'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_IOT', '_HANDLER', "
        "'DD_LAMBDARUN_TEST_LEAK'):\n"
        "        print('env %s=%s' % (k, os.environ.get(k)))\n"
        "    print('arn', context.invoked_function_arn, context.aws_request_id)\n"
        "    return {'ok': 1}\n");
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)), DD_LAMBDARUN_OK);
    log = read_log(f);
    assert_non_null(
        strstr(log, "START RequestId: 11111111-2222-4333-8444-555555555555 Version: $LATEST"));
    assert_non_null(strstr(log, "thing Thing03\n"));
    assert_non_null(strstr(log, "env ThingGroupName=IsolatedDevices\n"));
    assert_non_null(strstr(log, "env AWS_REGION=eu-west-1\n"));
    assert_non_null(strstr(log, "env AWS_DEFAULT_REGION=eu-west-1\n"));
    assert_non_null(strstr(log, "env AWS_LAMBDA_FUNCTION_NAME=Fn\n"));
    assert_non_null(strstr(log, "env AWS_ENDPOINT_URL=http://127.0.0.1:9\n"));
    assert_non_null(strstr(log, "env AWS_ENDPOINT_URL_IOT=http://127.0.0.1:9\n"));
    assert_non_null(strstr(log, "env _HANDLER=handler.handler\n"));
    /* A clean environment, as Lambda's: nothing of ddlocald's own. */
    assert_non_null(strstr(log, "env DD_LAMBDARUN_TEST_LEAK=None\n"));
    assert_non_null(strstr(log, "arn arn:aws:lambda:us-east-1:123456789012:function:Fn 11111111-"));
    assert_non_null(strstr(log, "END RequestId: 11111111-2222-4333-8444-555555555555\n"));
    assert_non_null(
        strstr(log, "REPORT RequestId: 11111111-2222-4333-8444-555555555555\tDuration: "));
    /* Real time only: the clock is real. */
    assert_null(strstr(log, "[pipeline "));
    free(log);
    (void)unsetenv("DD_LAMBDARUN_TEST_LEAK");
}

static void test_dd_lambdarun_exception_is_a_function_error(void **state)
{
    fixture_t *f = *state;
    char error[256];
    char *log;

    write_file(f->handler, "def handler(event, context):\n    raise ValueError('boom')\n");
    f->req.attempt = 2;
    f->req.clock_spec = "manual:1796524105305";
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_FUNCTION_ERROR);
    assert_string_equal(error, "ValueError: boom");
    log = read_log(f);
    assert_non_null(strstr(log, "Version: $LATEST Attempt: 2\n"));
    assert_non_null(
        strstr(log, "[ERROR]\t11111111-2222-4333-8444-555555555555\tValueError: boom\n"));
    /* A manual clock: every line also carries the pipeline time. */
    assert_non_null(strstr(log, "Z [pipeline 2026-12-06T02:28:25.305Z] START RequestId"));
    free(log);
}

static void test_dd_lambdarun_import_and_handler_errors(void **state)
{
    fixture_t *f = *state;
    char error[256];

    write_file(f->handler, "import no_such_module_for_ddlocal\n");
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_FUNCTION_ERROR);
    assert_non_null(strstr(error, "Runtime.ImportModuleError: Unable to import module 'handler'"));
    write_file(f->handler, "def other(event, context):\n    pass\n");
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_FUNCTION_ERROR);
    assert_string_equal(error,
                        "Runtime.HandlerNotFound: Handler 'handler' missing on module 'handler'");
    write_file(f->handler, "import sys\ndef handler(event, context):\n    sys.exit(3)\n");
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_FUNCTION_ERROR);
    assert_non_null(strstr(error, "SystemExit"));
}

static void test_dd_lambdarun_timeout_stops_the_handler(void **state)
{
    fixture_t *f = *state;
    char error[256];
    char *log;

    write_file(f->handler, "import time\ndef handler(event, context):\n    time.sleep(60)\n");
    f->req.timeout_s = 1;
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)), DD_LAMBDARUN_TIMEOUT);
    assert_non_null(strstr(error, "Task timed out after 1.00 seconds"));
    log = read_log(f);
    assert_non_null(
        strstr(log, "11111111-2222-4333-8444-555555555555 Task timed out after 1.00 seconds\n"));
    free(log);
}

static void test_dd_lambdarun_kills_a_runtime_past_its_deadline(void **state)
{
    fixture_t *f = *state;
    char runner[128];
    char error[256];
    char *log;

    /* A runtime that ignores everything: only the deadline's SIGKILL ends it. */
    (void)snprintf(runner, sizeof(runner), "%s/stuck.py", f->dir);
    write_file(
        runner,
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(60)\n");
    write_file(f->handler, "def handler(event, context):\n    pass\n");
    f->req.runner = runner;
    f->req.timeout_s = 1;
    f->req.init_s = 1;
    f->req.kill_grace_ms = 200;
    f->req.clock_spec = "manual:1796524105305";
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)), DD_LAMBDARUN_TIMEOUT);
    assert_non_null(strstr(error, "killed"));
    log = read_log(f);
    /* Written by ddlocald itself, stamped like the runner's lines. */
    assert_non_null(
        strstr(log, "Z [pipeline 2026-12-06T02:28:25.305Z] 11111111-2222-4333-8444-555555555555 "
                    "Task timed out after 1.00 seconds (the runtime was killed)"));
    free(log);
}

static void test_dd_lambdarun_spawn_failure_and_bad_parameters(void **state)
{
    fixture_t *f = *state;
    char error[256];

    write_file(f->handler, "def handler(event, context):\n    pass\n");
    f->req.python = "/nonexistent/python3";
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)), DD_LAMBDARUN_SPAWN_FAILED);
    assert_non_null(strstr(error, "cannot start"));
    f->req.python = "/usr/bin/python3";
    f->req.event = NULL;
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_BAD_PARAMETER);
    f->req.event = EVENT;
    f->req.timeout_s = 0;
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)),
                     DD_LAMBDARUN_BAD_PARAMETER);
    f->req.timeout_s = 3;
    f->req.env_json = "not json";
    assert_int_equal(dd_lambdarun_invoke(&f->req, error, sizeof(error)), DD_LAMBDARUN_NO_MEMORY);
    assert_int_equal(dd_lambdarun_invoke(NULL, error, sizeof(error)), DD_LAMBDARUN_BAD_PARAMETER);
    assert_string_equal(dd_lambdarun_strerror(DD_LAMBDARUN_TIMEOUT), "the function timed out");
    assert_string_equal(dd_lambdarun_strerror((dd_lambdarun_status_t)99),
                        "unknown lambdarun status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_success_logs_and_sees_lambda_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_exception_is_a_function_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_import_and_handler_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_timeout_stops_the_handler, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_kills_a_runtime_past_its_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_lambdarun_spawn_failure_and_bad_parameters, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
