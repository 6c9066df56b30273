/*
 * ddlocal lambda ...: the Lambda stand-in's functions (dd_lambda.h). A
 * function is a Python handler subscribed to an SNS stand-in topic; ddlocald
 * invokes it once per message of the topic.
 */
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_lambda.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char LAMBDA_HELP[] =
    "usage: ddlocal lambda <verb> [options]\n"
    "\n"
    "The Lambda stand-in: a Python handler subscribed to an SNS stand-in topic, invoked by\n"
    "ddlocald once per message with the event SNS gives Lambda (Records[0].Sns.Message ...),\n"
    "a context object, its environment and boto3 pointed at ddlocal's API; 3 attempts (1 then\n"
    "2 min apart), then a dead letter. Log: DIR/logs/lambda-NAME.log. See "
    "docs/reference/lambda.md.\n"
    "\n"
    "  add NAME --handler FILE.py:FUNCTION --sns-topic TOPIC [--env KEY=VALUE]... [--timeout S]\n"
    "                           Add a function (Python 3, the Debian python3-boto3).\n"
    "  list [NAME]              List functions (JSON).\n"
    "  remove NAME              Remove a function and its subscription.\n"
    "\n"
    "options:\n"
    "      --handler FILE.py:FUNCTION  the handler: a Python file and the function to call\n"
    "      --sns-topic TOPIC    SNS stand-in topic name (e.g. BadIoTDevices) or its ARN\n"
    "      --env KEY=VALUE      an environment variable of the function (repeatable)\n"
    "      --timeout S          the handler's timeout, 1..900 s (default 3, as Lambda)\n"
    "  -D, --data-dir DIR       data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

enum { OPT_HANDLER = 1000, OPT_TOPIC, OPT_ENV, OPT_TIMEOUT };

static const struct option LAMBDA_OPTIONS[] = {
    {"handler", required_argument, NULL, OPT_HANDLER},
    {"sns-topic", required_argument, NULL, OPT_TOPIC},
    {"env", required_argument, NULL, OPT_ENV},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"data-dir", required_argument, NULL, 'D'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct list_ctx {
    cJSON *array;
    const dd_clienv_t *env;
} list_ctx_t;

static cJSON *describe(const dd_clienv_t *env, const dd_lambda_function_t *fn)
{
    cJSON *obj = cJSON_CreateObject();
    char arn[DD_ARN_MAX];
    char text[1400];

    (void)dd_lambda_arn(&env->reg.arn, fn->name, arn, sizeof(arn));
    (void)cJSON_AddStringToObject(obj, "functionName", fn->name);
    (void)cJSON_AddStringToObject(obj, "functionArn", arn);
    (void)snprintf(text, sizeof(text), "%s:%s", fn->handler_file, fn->handler_function);
    (void)cJSON_AddStringToObject(obj, "handler", text);
    (void)cJSON_AddStringToObject(obj, "snsTopic", fn->topic);
    (void)snprintf(text, sizeof(text), "arn:aws:sns:%s:%s:%s", env->reg.arn.region,
                   env->reg.arn.account, fn->topic);
    (void)cJSON_AddStringToObject(obj, "snsTopicArn", text);
    (void)cJSON_AddItemToObject(obj, "environment", cJSON_Parse(fn->env_json));
    (void)cJSON_AddNumberToObject(obj, "timeout", fn->timeout_s);
    (void)snprintf(text, sizeof(text), "%s/logs/lambda-%s.log", env->data_dir, fn->name);
    (void)cJSON_AddStringToObject(obj, "log", text);
    return obj;
}

static int list_one(void *ctx, const dd_lambda_function_t *fn)
{
    list_ctx_t *l = ctx;

    (void)cJSON_AddItemToArray(l->array, describe(l->env, fn));
    return 0;
}

/* FILE.py:FUNCTION -> the file's absolute path (it must exist) and FUNCTION. */
static int resolve_handler(const char *spec, char *path, size_t path_len, const char **function)
{
    const char *colon = strrchr(spec, ':');
    char file[PATH_MAX];
    char real[PATH_MAX];
    struct stat st;
    size_t n;

    if (colon == NULL || colon == spec || colon[1] == '\0') {
        return dd_clienv_usage_error("lambda", "--handler takes FILE.py:FUNCTION, not '%s'", spec);
    }
    n = (size_t)(colon - spec);
    if (n >= sizeof(file)) {
        return dd_clienv_usage_error("lambda", "--handler: the file name is too long");
    }
    memcpy(file, spec, n);
    file[n] = '\0';
    if (n < 4 || strcmp(file + n - 3, ".py") != 0) {
        return dd_clienv_usage_error("lambda", "--handler: '%s' is not a .py file", file);
    }
    if (realpath(file, real) == NULL || stat(real, &st) != 0 || !S_ISREG(st.st_mode) ||
        access(real, R_OK) != 0) {
        fprintf(stderr, "ddlocal: handler file %s cannot be read: %s\n", file,
                errno != 0 ? strerror(errno) : "not a regular file");
        return 1;
    }
    if (strlen(real) >= path_len) {
        return dd_clienv_usage_error("lambda", "--handler: the path is too long");
    }
    (void)snprintf(path, path_len, "%s", real);
    *function = colon + 1;
    return 0;
}

/* A gentle check: Lambda itself only finds out at the first invocation. */
static void warn_if_no_def(const char *path, const char *function)
{
    char *text = dd_clienv_read_input(path, 4 * 1024 * 1024);
    char pattern[200];

    if (text == NULL) {
        return;
    }
    (void)snprintf(pattern, sizeof(pattern), "def %s(", function);
    if (strstr(text, pattern) == NULL) {
        fprintf(stderr,
                "ddlocal: warning: %s has no 'def %s(': the invocations will fail with "
                "Runtime.HandlerNotFound unless the module defines it otherwise\n",
                path, function);
    }
    free(text);
}

static int add(dd_clienv_t *env, const char *name, const char *handler, const char *topic,
               cJSON *vars, int timeout_s)
{
    dd_lambda_function_t fn;
    char path[PATH_MAX];
    char error[512];
    const char *function = NULL;
    char *env_json;
    dd_lambda_status_t st;
    int rc;

    rc = resolve_handler(handler, path, sizeof(path), &function);
    if (rc != 0) {
        return rc;
    }
    warn_if_no_def(path, function);
    env_json = cJSON_PrintUnformatted(vars);
    if (env_json == NULL) {
        fprintf(stderr, "ddlocal: out of memory\n");
        return 1;
    }
    memset(&fn, 0, sizeof(fn));
    fn.name = name;
    fn.topic = topic;
    fn.handler_file = path;
    fn.handler_function = function;
    fn.env_json = env_json;
    fn.timeout_s = timeout_s;
    st = dd_lambda_add(&env->reg, &fn, error, sizeof(error));
    if (st != DD_LAMBDA_OK) {
        fprintf(stderr, "ddlocal: %s\n", error[0] != '\0' ? error : dd_lambda_strerror(st));
        cJSON_free(env_json);
        return st == DD_LAMBDA_INVALID ? DD_CLI_USAGE : 1;
    }
    rc = dd_clienv_print_json(describe(env, &fn));
    cJSON_free(env_json);
    return rc;
}

/* TOPIC or arn:aws:sns:R:A:TOPIC -> TOPIC. */
static const char *topic_name(const char *arg)
{
    const char *colon = strrchr(arg, ':');

    return strncmp(arg, "arn:aws:sns:", 12) == 0 && colon != NULL ? colon + 1 : arg;
}

int dd_cmd_lambda(int argc, char **argv)
{
    const char *data_dir = dd_clienv_default_data_dir();
    const char *handler = NULL;
    const char *topic = NULL;
    const char *verb;
    cJSON *vars;
    dd_clienv_t env;
    char **pos;
    char why[256];
    long timeout_s = DD_LAMBDA_TIMEOUT_DEFAULT;
    int npos;
    int c;
    int rc = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(LAMBDA_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    vars = cJSON_CreateObject();
    if (vars == NULL) {
        return 1;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", LAMBDA_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case OPT_HANDLER: handler = optarg; break;
        case OPT_TOPIC: topic = topic_name(optarg); break;
        case OPT_ENV: {
            const char *eq = strchr(optarg, '=');
            char key[160];
            if (eq == NULL || eq == optarg || (size_t)(eq - optarg) >= sizeof(key)) {
                cJSON_Delete(vars);
                return dd_clienv_usage_error("lambda", "--env takes KEY=VALUE, not '%s'", optarg);
            }
            memcpy(key, optarg, (size_t)(eq - optarg));
            key[eq - optarg] = '\0';
            if (!dd_lambda_env_key_valid(key, why, sizeof(why))) {
                cJSON_Delete(vars);
                return dd_clienv_usage_error("lambda", "%s", why);
            }
            /* The last --env of a key wins, as in a shell. */
            (void)cJSON_DeleteItemFromObjectCaseSensitive(vars, key);
            (void)cJSON_AddStringToObject(vars, key, eq + 1);
            break;
        }
        case OPT_TIMEOUT: {
            char *end = NULL;
            timeout_s = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || timeout_s < 1 ||
                timeout_s > DD_LAMBDA_TIMEOUT_MAX) {
                cJSON_Delete(vars);
                return dd_clienv_usage_error("lambda", "--timeout takes seconds, 1..%d, not '%s'",
                                             DD_LAMBDA_TIMEOUT_MAX, optarg);
            }
            break;
        }
        case 'h':
            fputs(LAMBDA_HELP, stdout);
            cJSON_Delete(vars);
            return 0;
        default: cJSON_Delete(vars); return dd_clienv_usage_error("lambda", "unknown option");
        }
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if (strcmp(verb, "add") == 0      ? npos != 1
        : strcmp(verb, "remove") == 0 ? npos != 1
        : strcmp(verb, "list") == 0   ? npos > 1
                                      : true) {
        cJSON_Delete(vars);
        return dd_clienv_usage_error("lambda", "unknown verb or wrong arguments: '%s'", verb);
    }
    if (strcmp(verb, "add") == 0 && (handler == NULL || topic == NULL)) {
        cJSON_Delete(vars);
        return dd_clienv_usage_error("lambda",
                                     "add needs --handler FILE.py:FUNCTION and --sns-topic TOPIC");
    }
    if (strcmp(verb, "add") != 0 &&
        (handler != NULL || topic != NULL || cJSON_GetArraySize(vars) > 0 ||
         timeout_s != DD_LAMBDA_TIMEOUT_DEFAULT)) {
        cJSON_Delete(vars);
        return dd_clienv_usage_error(
            "lambda", "--handler, --sns-topic, --env and --timeout go with add only");
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        cJSON_Delete(vars);
        return 1;
    }
    if (dd_lambda_open(env.db) != DD_LAMBDA_OK) {
        fprintf(stderr, "ddlocal: the database cannot hold functions\n");
        rc = 1;
    } else if (strcmp(verb, "add") == 0) {
        rc = add(&env, pos[0], handler, topic, vars, (int)timeout_s);
    } else if (strcmp(verb, "remove") == 0) {
        dd_lambda_status_t st = dd_lambda_remove(&env.reg, pos[0]);
        if (st == DD_LAMBDA_NOT_FOUND) {
            fprintf(stderr, "ddlocal: function %s does not exist (see ddlocal lambda list)\n",
                    pos[0]);
            rc = 1;
        } else if (st != DD_LAMBDA_OK) {
            fprintf(stderr, "ddlocal: cannot remove function %s: %s\n", pos[0],
                    dd_lambda_strerror(st));
            rc = 1;
        } else {
            printf("removed function %s and its subscription\n", pos[0]);
        }
    } else {
        cJSON *out = cJSON_CreateObject();
        list_ctx_t l = {cJSON_AddArrayToObject(out, "functions"), &env};
        dd_lambda_status_t st = dd_lambda_list(env.db, npos == 1 ? pos[0] : NULL, list_one, &l);
        if (st == DD_LAMBDA_OK) {
            rc = dd_clienv_print_json(out);
        } else {
            cJSON_Delete(out);
            fprintf(stderr, "ddlocal: %s%s\n",
                    npos == 1 && st == DD_LAMBDA_NOT_FOUND ? "no function " : "",
                    npos == 1 && st == DD_LAMBDA_NOT_FOUND ? pos[0] : dd_lambda_strerror(st));
            rc = 1;
        }
    }
    cJSON_Delete(vars);
    dd_clienv_close(&env);
    return rc;
}
