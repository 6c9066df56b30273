#!/usr/bin/python3
"""The workshop (Module 4) done with Debian's python3-boto3 against `ddlocal up`.

Usage: test_workshop_boto3.py PATH/TO/ddlocal

Starts `ddlocal up` on a temporary data dir (free ports, manual clock) and, with
boto3 only: creates Thing01..03, a key pair and certificate per device
(create_keys_and_certificate, the PEMs written from the response),
attach_thing_principal, the device policy attached to each certificate,
IsolatedDevices with DenyAll, and the Module 4 profile
(fixtures/profiles/module4-intended.json) attached to all things. Thing03's agent
(mosquitto_pub with its own certificate) sends a quiet report, five pipeline
minutes pass (`ddlocal clock advance 300`), then a report of 3000 bytes out:
list_active_violations and list_violation_events show Thing03 in alarm on
MoreBytesSent at 3000. add_thing_to_thing_group(IsolatedDevices) makes the very
next connection with Thing03's certificate refused ("not authorised"); Thing01 is
untouched. describe_thing of a missing thing is a ResourceNotFoundException (404)
as boto3 sees it from the real server. `ddlocal up` is stopped with SIGINT and the
temporary dir removed, also when a step fails.
"""
import ctypes
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
import botocore.config

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures")
ACCOUNT = "123456789012"
REGION = "us-east-1"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
DDLOCAL = None
PIPELINES = []  # every Pipeline started, for main()'s last-resort cleanup


def arn(kind, name):
    return "arn:aws:iot:%s:%s:%s/%s" % (REGION, ACCOUNT, kind, name)


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as f:
        return f.read()


def _die_with_parent():
    """In the child: SIGINT when the test process dies (even by SIGKILL), so a killed
    test does not leave `ddlocal up` and its broker running."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _sigterm(signum, frame):
    # ctest's timeout (and anyone else) ends the test with SIGTERM: run the cleanups.
    raise SystemExit("terminated by signal %d" % signum)


class Pipeline:
    """`ddlocal up` on a fresh temporary data dir; stop() ends it with SIGINT."""

    def __init__(self, ddlocal):
        self.ddlocal = ddlocal
        self.tmp = tempfile.mkdtemp(prefix="ddlocal-workshop-boto3.")
        self.data = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "up.log")
        self.proc = None
        self.exit_status = None
        self.stopped = False
        PIPELINES.append(self)
        try:
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen(
                    [ddlocal, "up", "-D", self.data, "--mqtt-port", "0", "--alpn-port", "0",
                     "--api-port", "0", "--manual-clock", "--no-status"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent)
            self.endpoints = self._wait_for_endpoints(60)
        except BaseException:
            self.stop()
            raise
        self.api = self.endpoints["api"]
        self.mqtt = self.endpoints["mqtt"]
        self.mqtt_host, _, port = self.mqtt.rpartition(":")
        self.mqtt_port = int(port)
        self.root_ca = self.endpoints["rootCa"]

    def _wait_for_endpoints(self, timeout):
        path = os.path.join(self.data, "endpoints.json")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ddlocal up exited with %s before writing endpoints.json:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                with open(path, encoding="utf-8") as f:
                    return json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.1)
        raise RuntimeError("ddlocal up did not write endpoints.json in %d s:\n%s"
                           % (timeout, self.log_tail()))

    def cli(self, *args):
        """`ddlocal ARGS -D DATA`; its stdout."""
        out = subprocess.run([self.ddlocal, *args, "-D", self.data], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError("ddlocal %s exited with %d: %s"
                                 % (" ".join(args), out.returncode, out.stderr))
        return out.stdout

    def pipeline_time(self):
        return json.loads(self.cli("clock", "show"))["pipelineTime"]

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SIGINT, wait (SIGKILL after 60 s), remove the temp dir; the exit status.
        Only the first call does anything."""
        if self.stopped:
            return self.exit_status
        self.stopped = True
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    self.exit_status = "killed after SIGINT did not stop it in 60 s"
                    return self.exit_status
            if self.proc is not None:
                self.exit_status = self.proc.returncode
            return self.exit_status
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def pipeline_time_as_datetime(value):
    """`ddlocal clock show`'s pipelineTime (ISO-8601 or epoch seconds) as a datetime."""
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def report(report_id, bytes_out):
    """A Device Defender report (JSON) of BYTES_OUT bytes out."""
    return json.dumps({"header": {"report_id": report_id, "version": "1.0"},
                       "metrics": {"network_stats": {"bytes_in": 120, "bytes_out": bytes_out,
                                                     "packets_in": 3, "packets_out": 4}}},
                      separators=(",", ":"))


class WorkshopBoto3(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.up = Pipeline(DDLOCAL)
        cls.addClassCleanup(cls._stop_pipeline)
        cls.iot = boto3.client(
            "iot", endpoint_url=cls.up.api, region_name=REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))
        cls.addClassCleanup(cls.iot.close)

    @classmethod
    def _stop_pipeline(cls):
        status = cls.up.stop()
        if status != 0:
            raise AssertionError("ddlocal up exited with %s" % status)

    def fail_with_log(self, msg):
        self.fail("%s\n--- ddlocal up log ---\n%s" % (msg, self.up.log_tail()))

    def pub(self, thing, client_id, topic, message):
        """mosquitto_pub with THING's certificate and key; the CompletedProcess."""
        work = self.up.tmp
        return subprocess.run(
            [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(self.up.mqtt_port),
             "--cafile", self.up.root_ca,
             "--cert", os.path.join(work, thing + ".cert.pem"),
             "--key", os.path.join(work, thing + ".private.key"),
             "-i", client_id, "-q", "1", "-t", topic, "-m", message],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def agent_report(self, report_id, bytes_out):
        return self.pub("Thing03", "SensorDevice03", "$aws/things/Thing03/defender/metrics/json",
                        report(report_id, bytes_out))

    def test_1_error_class_from_the_real_server(self):
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException) as cm:
            self.iot.describe_thing(thingName="NoSuchThing")
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertEqual(resp["Error"]["Code"], "ResourceNotFoundException")
        self.assertIn("NoSuchThing", resp["Error"]["Message"])
        self.assertTrue(resp["ResponseMetadata"]["RequestId"])

    def test_2_workshop(self):
        iot = self.iot
        work = self.up.tmp
        # DescribeEndpoint answers with the broker `ddlocal up` started.
        self.assertEqual(iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"],
                         self.up.mqtt)

        # ---- things, one key pair and certificate per device, the device policy
        iot.create_policy(policyName="DevicePolicy",
                          policyDocument=fixture("policies", "device-policy-per-thing.json"))
        certs = {}
        for n in ("01", "02", "03"):
            thing = "Thing" + n
            iot.create_thing(thingName=thing,
                             attributePayload={"attributes": {"SensorType": "DHT22"}})
            cert = iot.create_keys_and_certificate(setAsActive=True)
            self.assertTrue(cert["certificatePem"].startswith("-----BEGIN CERTIFICATE-----"))
            self.assertIn("PRIVATE KEY-----", cert["keyPair"]["PrivateKey"])
            with open(os.path.join(work, thing + ".cert.pem"), "w") as f:
                f.write(cert["certificatePem"])
            fd = os.open(os.path.join(work, thing + ".private.key"),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(cert["keyPair"]["PrivateKey"])
            iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
            iot.attach_policy(policyName="DevicePolicy", target=cert["certificateArn"])
            certs[thing] = cert
        self.assertEqual(sorted(t["thingName"] for t in iot.list_things()["things"]),
                         ["Thing01", "Thing02", "Thing03"])
        self.assertEqual(iot.list_thing_principals(thingName="Thing03")["principals"],
                         [certs["Thing03"]["certificateArn"]])
        self.assertEqual(
            [p["policyName"] for p in
             iot.list_attached_policies(target=certs["Thing03"]["certificateArn"])["policies"]],
            ["DevicePolicy"])

        # ---- IsolatedDevices with DenyAll
        iot.create_thing_group(thingGroupName="IsolatedDevices")
        iot.create_policy(policyName="DenyAll", policyDocument=fixture("policies", "deny-all.json"))
        iot.attach_policy(policyName="DenyAll", target=arn("thinggroup", "IsolatedDevices"))

        # ---- the Module 4 profile, attached to all things
        m4 = json.loads(fixture("profiles", "module4-intended.json"))
        profile = m4["securityProfileName"]
        iot.create_security_profile(**m4)
        iot.attach_security_profile(securityProfileName=profile,
                                    securityProfileTargetArn=arn("all", "things"))
        self.assertEqual(iot.describe_security_profile(securityProfileName=profile)["behaviors"],
                         m4["behaviors"])

        # ---- Thing03's agent: a quiet report, five pipeline minutes, 3000 bytes out
        start = pipeline_time_as_datetime(self.up.pipeline_time())
        out = self.agent_report(1, 150)
        if out.returncode != 0:
            self.fail_with_log("quiet report not published: %s" % out.stderr)
        self.up.cli("clock", "advance", "300")
        self.assertEqual(iot.list_active_violations()["activeViolations"], [],
                         "a quiet device is in violation")
        out = self.agent_report(2, 3000)
        if out.returncode != 0:
            self.fail_with_log("3000-bytes report not published: %s" % out.stderr)

        # ---- read the violation back (poll with a deadline: the report is asynchronous)
        deadline = time.monotonic() + 20
        while True:
            active = iot.list_active_violations(thingName="Thing03")["activeViolations"]
            if active or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(active) != 1:
            self.fail_with_log("not one active violation for Thing03: %r" % active)
        v = active[0]
        self.assertEqual(v["thingName"], "Thing03")
        self.assertEqual(v["securityProfileName"], profile)
        self.assertEqual(v["behavior"]["name"], "MoreBytesSent")
        self.assertEqual(v["behavior"]["metric"], "aws:all-bytes-out")
        self.assertEqual(v["behavior"], m4["behaviors"][0])
        self.assertEqual(v["lastViolationValue"], {"count": 3000})
        self.assertIsInstance(v["violationStartTime"], datetime.datetime)
        self.assertGreaterEqual(v["violationStartTime"], start)
        # Only Thing03 is in violation.
        self.assertEqual([(a["thingName"], a["behavior"]["name"])
                          for a in iot.list_active_violations()["activeViolations"]],
                         [("Thing03", "MoreBytesSent")])

        events = iot.list_violation_events(
            startTime=start, endTime=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc),
            securityProfileName=profile)["violationEvents"]
        self.assertEqual([(e["thingName"], e["securityProfileName"], e["behavior"]["name"],
                           e["violationEventType"], e["violationId"], e["metricValue"])
                          for e in events],
                         [("Thing03", profile, "MoreBytesSent", "in-alarm", v["violationId"],
                           {"count": 3000})])
        self.assertIsInstance(events[0]["violationEventTime"], datetime.datetime)

        # ---- quarantine with boto3: the very next connection of Thing03 is refused
        iot.add_thing_to_thing_group(thingGroupName="IsolatedDevices", thingName="Thing03")
        self.assertEqual([t for t in iot.list_things_in_thing_group(
            thingGroupName="IsolatedDevices")["things"]], ["Thing03"])
        out = self.agent_report(3, 100)
        if out.returncode == 0:
            self.fail_with_log("the isolated Thing03 could still publish")
        if "not authorised" not in out.stderr:
            self.fail_with_log("the isolated Thing03 was not refused with 'not authorised': %r"
                               % out.stderr)
        # Thing01 is untouched.
        out = self.pub("Thing01", "Thing01", "temperature-device-01", "23.45")
        if out.returncode != 0:
            self.fail_with_log("Thing01 can no longer publish: %s" % out.stderr)


def main():
    global DDLOCAL
    if len(sys.argv) < 2:
        sys.exit("usage: test_workshop_boto3.py PATH/TO/ddlocal")
    DDLOCAL = os.path.abspath(sys.argv.pop(1))
    signal.signal(signal.SIGTERM, _sigterm)
    # Dummy credentials are passed to the client; nothing of the caller's AWS
    # configuration (AWS_PROFILE, ~/.aws/config) may change what boto3 does.
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        prog = unittest.main(verbosity=2, exit=False)
    finally:
        # setUpClass's cleanups normally stop it; this covers a SIGTERM in the wrong place.
        for up in PIPELINES:
            up.stop()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
