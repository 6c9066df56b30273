#!/usr/bin/env python3
"""ddlocal's Lambda stand-in runtime: runs ONE invocation of a Python handler.

ddlocald starts this file once per invocation (see docs/reference/lambda.md and
evaluator/service/dd_lambdarun.h) with:

  stdin      the event (JSON), exactly as SNS gives it to a Lambda function
  stdout/err the function's log (DIR/logs/lambda-NAME.log), appended
  fd 3       the verdict for ddlocald: {"ok": true} or
             {"errorType": ..., "errorMessage": ..., "stackTrace": [...]}
  env        the function's variables and those the Lambda runtime sets
             (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, ..., AWS_ENDPOINT_URL)

It imports FILE.py (the init phase, limited to 10 s as in Lambda), then calls
FUNCTION(event, context) with the handler's timeout, and logs like Lambda:
START / END / REPORT lines with the request id, the handler's print() output
and its logging records, an exception as "[ERROR] Type: message" with the
traceback. Every log line starts with the real time (ISO 8601 UTC, ms) and,
when the pipeline clock is scaled or manual, the pipeline time in brackets.

boto3/botocore reach ddlocal's API without any change to the handler:
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> are honoured natively by
botocore >= 1.31; for older ones (Debian 12 has 1.29) this runner makes every
client created without an explicit endpoint_url take them.
"""
import argparse
import datetime
import importlib.util
import inspect
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback

INIT_TIMEOUT_S = 10
MEMORY_MB = "128"


# ---- time and log lines --------------------------------------------------------------------------

class PipelineClock:
    """The pipeline time of a dd_clock spec: real, scaled:S:ORIGIN_REAL:ORIGIN_PIPELINE, manual:MS."""

    def __init__(self, spec):
        self.mode = "real"
        self.scale = 1.0
        self.origin_real = 0
        self.origin_pipeline = 0
        self.manual = 0
        spec = spec or "real"
        parts = spec.split(":")
        if parts[0] == "scaled" and len(parts) == 4:
            self.mode = "scaled"
            self.scale = float(parts[1])
            self.origin_real = int(parts[2])
            self.origin_pipeline = int(parts[3])
        elif parts[0] == "manual" and len(parts) == 2:
            # A manual clock only moves on `ddlocal clock advance`: during one
            # invocation it stands still at the time ddlocald passed.
            self.mode = "manual"
            self.manual = int(parts[1])

    def pipeline_ms(self, real_ms):
        if self.mode == "scaled":
            return self.origin_pipeline + int((real_ms - self.origin_real) * self.scale)
        if self.mode == "manual":
            return self.manual
        return real_ms


def iso_ms(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def now_ms():
    return int(time.time() * 1000)


class LogWriter:
    """A text stream that writes whole lines to the log, each with its time prefix."""

    def __init__(self, raw, clock):
        self._raw = raw
        self._clock = clock
        self._partial = ""
        self.encoding = "utf-8"
        self.errors = "replace"

    def prefix(self):
        real = now_ms()
        if self._clock.mode == "real":
            return iso_ms(real) + " "
        return "%s [pipeline %s] " % (iso_ms(real), iso_ms(self._clock.pipeline_ms(real)))

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._emit(line)
        return len(text)

    def _emit(self, line):
        data = (self.prefix() + line + "\n").encode("utf-8", "replace")
        try:
            self._raw.write(data)
            self._raw.flush()
        except OSError:
            pass

    def flush(self):
        if self._partial:
            line, self._partial = self._partial, ""
            self._emit(line)

    def isatty(self):
        return False

    def fileno(self):
        return self._raw.fileno()

    def writable(self):
        return True


# ---- the context object ---------------------------------------------------------------------------

class LambdaContext:
    """The attributes Lambda's Python runtime gives `context` (memory_limit_in_mb is a
    string there too: it comes from AWS_LAMBDA_FUNCTION_MEMORY_SIZE)."""

    def __init__(self, request_id, function_arn, timeout_s, start_mono):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB)
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = start_mono + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
                "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
                "invoked_function_arn=%s])" % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name,
                    self.function_name, self.memory_limit_in_mb, self.function_version,
                    self.invoked_function_arn))


# ---- boto3 / botocore towards ddlocal ---------------------------------------------------------------

def endpoint_for(service_id):
    """The endpoint AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL give a service, or None."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    key = "AWS_ENDPOINT_URL_" + service_id.upper().replace(" ", "_").replace("-", "_")
    return os.environ.get(key) or os.environ.get("AWS_ENDPOINT_URL") or None


def patch_botocore():
    """Makes clients created without endpoint_url use the AWS_ENDPOINT_URL* variables.

    Idempotent; a no-op when botocore is missing. On a botocore that already
    reads the variables, setting the same value explicitly changes nothing."""
    try:
        import botocore.session
    except ImportError:
        return False
    original = botocore.session.Session.create_client
    if getattr(original, "_ddlocal_patched", False):
        return True
    signature = inspect.signature(original)

    def create_client(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("endpoint_url") is None:
            service = bound.arguments.get("service_name", "")
            url = endpoint_for(str(service))
            if url is not None:
                bound.arguments["endpoint_url"] = url
        return original(*bound.args, **bound.kwargs)

    create_client._ddlocal_patched = True
    botocore.session.Session.create_client = create_client
    return True


# ---- one invocation ---------------------------------------------------------------------------------

class Timeout(BaseException):
    """Raised by the timer; a BaseException so that `except Exception` in handlers cannot hide it."""


def handler_frames(tb):
    """The traceback without this runner's own frames: Lambda shows the function's code only."""
    here = os.path.abspath(__file__)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == here:
        tb = tb.tb_next
    return tb


def format_exc(exc):
    return "".join(traceback.format_exception(type(exc), exc, handler_frames(exc.__traceback__)))


def error_of(exc):
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(handler_frames(exc.__traceback__))),
    }


def log_error(out, request_id, err, tb_text):
    """Lambda's form: one [ERROR] record, the traceback under it."""
    out.write("[ERROR]\t%s\t%s: %s\n" % (request_id, err["errorType"], err["errorMessage"]))
    for line in tb_text.rstrip("\n").split("\n"):
        out.write(line + "\n")


def load_handler(path, function):
    """Imports FILE.py as Lambda does (its folder first on sys.path); returns the callable."""
    folder = os.path.dirname(path) or "."
    module_name = os.path.splitext(os.path.basename(path))[0]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError("No module named '%s'" % module_name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Timeout:
        raise
    except Exception as e:  # noqa: BLE001 - every import failure is Lambda's ImportModuleError
        raise RuntimeError("Runtime.ImportModuleError",
                           "Unable to import module '%s': %s" % (module_name, e)) from e
    handler = getattr(module, function, None)
    if not callable(handler):
        raise RuntimeError("Runtime.HandlerNotFound",
                           "Handler '%s' missing on module '%s'" % (function, module_name))
    return handler


def install_logging(out, request_id):
    """Lambda's runtime puts a handler on the root logger (level WARNING until the code changes it)."""

    class RequestId(logging.Filter):
        def filter(self, record):
            record.aws_request_id = request_id
            return True

    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(aws_request_id)s\t%(message)s"))
    handler.addFilter(RequestId())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)


def set_timer(seconds):
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def on_alarm(signum, frame):
    raise Timeout()


def run(args, event_text, out, verdict):
    request_id = args.request_id
    start_real = now_ms()
    stream = "%s/[$LATEST]%s" % (time.strftime("%Y/%m/%d", time.gmtime(start_real / 1000)),
                                 request_id.replace("-", "")[:32])
    os.environ.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", stream)
    install_logging(out, request_id)
    patch_botocore()
    signal.signal(signal.SIGALRM, on_alarm)

    path, _, function = args.handler.rpartition(":")
    result = {"ok": True}
    init_start = time.monotonic()
    init_ms = 0.0
    duration_ms = 0.0
    tb_text = None
    out.write("START RequestId: %s Version: $LATEST Attempt: %d\n" % (request_id, args.attempt))
    try:
        event = json.loads(event_text)
        set_timer(INIT_TIMEOUT_S)
        try:
            handler = load_handler(path, function)
        except Timeout:
            raise RuntimeError("Runtime.InitTimeout",
                               "Init phase exceeded %d seconds" % INIT_TIMEOUT_S) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        init_ms = (time.monotonic() - init_start) * 1000
        start = time.monotonic()
        context = LambdaContext(request_id, args.function_arn, args.timeout, start)
        set_timer(args.timeout)
        try:
            handler(event, context)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            duration_ms = (time.monotonic() - start) * 1000
    except Timeout:
        duration_ms = args.timeout * 1000.0
        out.write("%s Task timed out after %d.00 seconds\n" % (request_id, args.timeout))
        result = {"errorType": "Sandbox.Timedout",
                  "errorMessage": "RequestId: %s Error: Task timed out after %d.00 seconds"
                                  % (request_id, args.timeout)}
    except RuntimeError as e:
        if len(e.args) == 2 and str(e.args[0]).startswith("Runtime."):
            result = {"errorType": e.args[0], "errorMessage": e.args[1]}
            cause = e.__cause__
            tb_text = format_exc(cause) if cause is not None else ""
        else:
            result = error_of(e)
            tb_text = format_exc(e)
    except BaseException as e:  # noqa: BLE001 - SystemExit too: the invocation failed
        result = error_of(e)
        tb_text = format_exc(e)
    if tb_text is not None:
        log_error(out, request_id, result, tb_text)
    sys.stdout.flush()
    sys.stderr.flush()
    out.write("END RequestId: %s\n" % request_id)
    max_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out.write("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %s MB\t"
              "Max Memory Used: %d MB\tInit Duration: %.2f ms\n"
              % (request_id, duration_ms, int(duration_ms + 0.999), MEMORY_MB, max_mb, init_ms))
    out.flush()
    verdict.write(json.dumps(result))
    verdict.flush()
    return 0 if result.get("ok") else 1


def parse_args(argv):
    p = argparse.ArgumentParser(description="Runs one invocation of a Lambda stand-in handler.")
    p.add_argument("--handler", required=True, help="FILE.py:FUNCTION")
    p.add_argument("--function-arn", required=True)
    p.add_argument("--request-id", required=True)
    p.add_argument("--timeout", type=int, default=3)
    p.add_argument("--attempt", type=int, default=1)
    p.add_argument("--verdict-fd", type=int, default=3)
    p.add_argument("--clock", default="real")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    verdict = os.fdopen(args.verdict_fd, "w", encoding="utf-8")
    # Programs the handler starts must not hold the verdict pipe open.
    os.set_inheritable(args.verdict_fd, False)
    out = LogWriter(sys.stdout.buffer, PipelineClock(args.clock))
    event_text = sys.stdin.read()
    sys.stdout = out
    sys.stderr = out
    try:
        return run(args, event_text, out, verdict)
    finally:
        verdict.close()


if __name__ == "__main__":
    sys.exit(main())
