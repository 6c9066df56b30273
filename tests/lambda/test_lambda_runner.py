"""Unit tests of lambda/ddlocal_lambda_runner.py, the Lambda stand-in's runtime:
the event reaches the handler exactly as SNS gives it to Lambda, the context
has Lambda's attributes, the log lines carry real (and pipeline) time,
failures and timeouts give Lambda's error verdicts, and botocore is pointed at
AWS_ENDPOINT_URL* even where it predates those variables.
Run: python3 tests/lambda/test_lambda_runner.py"""
import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import types
import unittest

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(SRC, "lambda", "ddlocal_lambda_runner.py")

spec = importlib.util.spec_from_file_location("ddlocal_lambda_runner", RUNNER)
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)

TOPIC = "arn:aws:sns:us-east-1:123456789012:BadIoTDevices"
ALERT = {"violationEventTime": 1796524105305, "thingName": "Thing03",
         "behavior": {"name": "MoreBytesSent", "metric": "aws:all-bytes-out"},
         "violationEventType": "in-alarm", "metricValue": {"count": 60000},
         "violationId": "9058390d068cd6743ffd342e122b8144",
         "securityProfileName": "DetectSendingMoreThanAverageBytes"}
# What SNS gives a Lambda function (AWS Lambda developer guide, "Using Lambda with Amazon SNS").
EVENT = {"Records": [{
    "EventSource": "aws:sns", "EventVersion": "1.0",
    "EventSubscriptionArn": TOPIC + ":2b113ffe-1f5c-440f-92e2-9cae283cd7af",
    "Sns": {"Type": "Notification", "MessageId": "1e962933-24cc-4a91-82df-3325a7ba2408",
            "TopicArn": TOPIC, "Subject": None, "Message": json.dumps(ALERT),
            "Timestamp": "2026-12-06T03:47:54.376Z", "SignatureVersion": "1",
            "Signature": "ddlocal-unsigned", "SigningCertUrl": "http://ddlocal.invalid/unsigned.pem",
            "UnsubscribeUrl": "http://ddlocal.invalid/unsubscribe", "MessageAttributes": {}}}]}
REQUEST_ID = "11111111-2222-4333-8444-555555555555"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:Probe"
def ms_of(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\[pipeline (\d{4}-\d\d-\d\dT[\d:.]+Z)\] )?(.*)$")


class RunnerProcess(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.handler = os.path.join(self.dir, "probe.py")
        self.out = os.path.join(self.dir, "seen.json")

    def tearDown(self):
        self.tmp.cleanup()

    def invoke(self, code, timeout=5, clock="real", env=None, event=EVENT):
        """Runs the runner as ddlocald does; returns (exit status, verdict, log text)."""
        with open(self.handler, "w") as f:
            f.write(code)
        r, w = os.pipe()
        full_env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_LAMBDA_FUNCTION_NAME": "Probe", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/Probe",
                    "SEEN": self.out, "PYTHONDONTWRITEBYTECODE": "1"}
        full_env.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-B", RUNNER, "--handler", self.handler + ":handler", "--function-arn", FUNCTION_ARN,
             "--request-id", REQUEST_ID, "--timeout", str(timeout), "--attempt", "2", "--verdict-fd", str(w),
             "--clock", clock],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(w,), env=full_env)
        os.close(w)
        log, _ = proc.communicate(json.dumps(event).encode(), timeout=60)
        with os.fdopen(r) as f:
            verdict = json.loads(f.read())
        return proc.returncode, verdict, log.decode()

    def seen(self):
        with open(self.out) as f:
            return json.load(f)

    def test_event_and_context_as_lambda_gives_them(self):
        rc, verdict, log = self.invoke(
            "import json, os, time\n"
            "def handler(event, context):\n"
            "    first = context.get_remaining_time_in_millis()\n"
            "    time.sleep(0.05)\n"
            "    seen = {'event': event, 'remaining': [first, context.get_remaining_time_in_millis()],\n"
            "            'context': {k: getattr(context, k) for k in ('function_name', 'function_version',\n"
            "                'invoked_function_arn', 'memory_limit_in_mb', 'aws_request_id', 'log_group_name',\n"
            "                'log_stream_name', 'identity', 'client_context')},\n"
            "            'stream_env': os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME')}\n"
            "    json.dump(seen, open(os.environ['SEEN'], 'w'))\n"
            "    return 'done'\n", timeout=7)
        self.assertEqual((rc, verdict), (0, {"ok": True}), log)
        seen = self.seen()
        # The event, member for member, as SNS gives it to Lambda.
        self.assertEqual(seen["event"], EVENT)
        sns = seen["event"]["Records"][0]["Sns"]
        self.assertEqual(json.loads(sns["Message"])["thingName"], "Thing03")
        c = seen["context"]
        self.assertEqual(c["function_name"], "Probe")
        self.assertEqual(c["function_version"], "$LATEST")
        self.assertEqual(c["invoked_function_arn"], FUNCTION_ARN)
        self.assertEqual(c["memory_limit_in_mb"], "128")  # a string in Lambda's Python runtime too
        self.assertEqual(c["aws_request_id"], REQUEST_ID)
        self.assertEqual(c["log_group_name"], "/aws/lambda/Probe")
        self.assertRegex(c["log_stream_name"], r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$")
        self.assertEqual(c["log_stream_name"], seen["stream_env"])
        self.assertIsNone(c["identity"])
        self.assertIsNone(c["client_context"])
        first, second = seen["remaining"]
        self.assertTrue(0 < second < first <= 7000, seen["remaining"])

    def test_log_lines_start_with_real_and_pipeline_time(self):
        now = int(time.time() * 1000)
        origin_pipeline = 1796524105305
        rc, verdict, log = self.invoke(
            "import logging\n"
            "logging.getLogger().setLevel(logging.INFO)\n"
            "def handler(event, context):\n"
            "    print('hello\\nsecond line', end='')\n"
            "    print()\n"
            "    logging.getLogger('x').info('an info record')\n",
            clock="scaled:60:%d:%d" % (now, origin_pipeline))
        self.assertEqual(rc, 0, log)
        lines = log.splitlines()
        texts = []
        for line in lines:
            m = LINE.match(line)
            self.assertIsNotNone(m, line)
            self.assertIsNotNone(m.group(2), "no pipeline time: " + line)
            real = m.group(1)
            pipeline = m.group(3)
            texts.append(m.group(4))
            # 60 times faster from the origin, computed from the same real instant.
            expected = origin_pipeline + (ms_of(real) - now) * 60
            self.assertLessEqual(abs(ms_of(pipeline) - expected), 60, line)
        self.assertEqual(texts[0], "START RequestId: %s Version: $LATEST Attempt: 2" % REQUEST_ID)
        self.assertIn("hello", texts)
        self.assertIn("second line", texts)
        self.assertIn("[INFO]\t%s\tan info record" % REQUEST_ID, texts)
        self.assertEqual(texts[-2], "END RequestId: " + REQUEST_ID)
        self.assertRegex(texts[-1], r"^REPORT RequestId: %s\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                                    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms$"
                         % REQUEST_ID)

    def test_real_clock_lines_have_no_pipeline_time(self):
        rc, _, log = self.invoke("def handler(event, context):\n    print('x')\n")
        self.assertEqual(rc, 0)
        for line in log.splitlines():
            m = LINE.match(line)
            self.assertIsNotNone(m, line)
            self.assertIsNone(m.group(2), line)

    def test_root_logger_warns_by_default(self):
        rc, _, log = self.invoke(
            "import logging\n"
            "def handler(event, context):\n"
            "    logging.info('hidden')\n"
            "    logging.warning('shown')\n")
        self.assertEqual(rc, 0)
        self.assertNotIn("hidden", log)
        self.assertIn("[WARNING]\t%s\tshown" % REQUEST_ID, log)

    def test_exception_is_a_function_error_without_runner_frames(self):
        rc, verdict, log = self.invoke("def handler(event, context):\n    raise KeyError('thingName')\n")
        self.assertEqual(rc, 1)
        self.assertEqual(verdict["errorType"], "KeyError")
        self.assertEqual(verdict["errorMessage"], "'thingName'")
        self.assertTrue(verdict["stackTrace"])
        self.assertFalse([f for f in verdict["stackTrace"] if "ddlocal_lambda_runner" in f], verdict)
        self.assertIn("[ERROR]\t%s\tKeyError: 'thingName'" % REQUEST_ID, log)
        self.assertIn("Traceback (most recent call last):", log)
        self.assertNotIn("ddlocal_lambda_runner.py", log)
        self.assertIn("END RequestId: " + REQUEST_ID, log)

    def test_timeout_is_sandbox_timedout(self):
        rc, verdict, log = self.invoke(
            "import time\n"
            "def handler(event, context):\n"
            "    try:\n"
            "        time.sleep(30)\n"
            "    except Exception:\n"
            "        pass  # a handler cannot swallow the timeout\n", timeout=1)
        self.assertEqual(rc, 1)
        self.assertEqual(verdict["errorType"], "Sandbox.Timedout")
        self.assertIn("Task timed out after 1.00 seconds", verdict["errorMessage"])
        self.assertIn("%s Task timed out after 1.00 seconds" % REQUEST_ID, log)

    def test_import_errors(self):
        rc, verdict, _ = self.invoke("raise RuntimeError('at import')\n")
        self.assertEqual(rc, 1)
        self.assertEqual(verdict["errorType"], "Runtime.ImportModuleError")
        self.assertIn("Unable to import module 'probe': at import", verdict["errorMessage"])
        rc, verdict, _ = self.invoke("handler = 3\n")
        self.assertEqual(verdict["errorType"], "Runtime.HandlerNotFound")

    def test_sibling_modules_import(self):
        with open(os.path.join(self.dir, "helper.py"), "w") as f:
            f.write("VALUE = 42\n")
        rc, verdict, log = self.invoke("import helper\ndef handler(event, context):\n    print(helper.VALUE)\n")
        self.assertEqual((rc, verdict), (0, {"ok": True}), log)
        self.assertNotIn("__pycache__", os.listdir(self.dir))


class PipelineClock(unittest.TestCase):
    def test_modes(self):
        self.assertEqual(runner.PipelineClock("real").pipeline_ms(1234), 1234)
        self.assertEqual(runner.PipelineClock(None).mode, "real")
        scaled = runner.PipelineClock("scaled:60:1000:5000")
        self.assertEqual(scaled.pipeline_ms(2000), 5000 + 60000)
        self.assertEqual(runner.PipelineClock("manual:777").pipeline_ms(99999), 777)
        self.assertEqual(runner.iso_ms(1796524105305), "2026-12-06T02:28:25.305Z")


class Botocore(unittest.TestCase):
    """The patch, on a botocore that knows nothing of AWS_ENDPOINT_URL (like Debian 12's)."""

    def setUp(self):
        self.saved_env = dict(os.environ)
        self.saved_modules = {k: sys.modules.get(k) for k in ("botocore", "botocore.session")}

        class Session:
            def create_client(self, service_name, region_name=None, api_version=None, use_ssl=True,
                              verify=None, endpoint_url=None, aws_access_key_id=None,
                              aws_secret_access_key=None, aws_session_token=None, config=None):
                return endpoint_url

        session_mod = types.ModuleType("botocore.session")
        session_mod.Session = Session
        botocore = types.ModuleType("botocore")
        botocore.session = session_mod
        sys.modules["botocore"] = botocore
        sys.modules["botocore.session"] = session_mod
        self.Session = Session

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved_env)
        for k, v in self.saved_modules.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v

    def test_clients_take_the_endpoint_variables(self):
        os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1111"
        os.environ["AWS_ENDPOINT_URL_IOT"] = "http://127.0.0.1:2222"
        self.assertTrue(runner.patch_botocore())
        self.assertTrue(runner.patch_botocore())  # idempotent
        s = self.Session()
        self.assertEqual(s.create_client("iot"), "http://127.0.0.1:2222")
        self.assertEqual(s.create_client("sns", "us-east-1"), "http://127.0.0.1:1111")
        # The handler's own endpoint_url wins, by keyword or by position.
        self.assertEqual(s.create_client("iot", endpoint_url="http://x:1"), "http://x:1")
        self.assertEqual(s.create_client("iot", "r", None, True, None, "http://y:2"), "http://y:2")
        os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        self.assertIsNone(s.create_client("iot"))

    def test_endpoint_for_service_ids(self):
        os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ["AWS_ENDPOINT_URL_IOT_DATA_PLANE"] = "http://d:1"
        self.assertEqual(runner.endpoint_for("iot-data-plane"), "http://d:1")
        self.assertEqual(runner.endpoint_for("IoT Data Plane"), "http://d:1")
        self.assertIsNone(runner.endpoint_for("sns"))


class RealBoto3(unittest.TestCase):
    """With the installed boto3 (native support or not), an argument-less client reaches ddlocal."""

    def test_iot_client_endpoint(self):
        code = ("import os, sys\n"
                "sys.path.insert(0, %r)\n"
                "import ddlocal_lambda_runner as r\n"
                "r.patch_botocore()\n"
                "import boto3\n"
                "print(boto3.client('iot').meta.endpoint_url)\n"
                "print(boto3.Session().client('sns').meta.endpoint_url)\n") % os.path.dirname(RUNNER)
        env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "y", "AWS_ENDPOINT_URL": "http://127.0.0.1:3333",
               "AWS_ENDPOINT_URL_IOT": "http://127.0.0.1:4444", "PYTHONDONTWRITEBYTECODE": "1",
               "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
        out = subprocess.run([sys.executable, "-B", "-c", code], env=env, capture_output=True, text=True,
                             timeout=60, check=True).stdout.split()
        self.assertEqual(out, ["http://127.0.0.1:4444", "http://127.0.0.1:3333"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
