"""The workshop's Module 2 (Device Defender Audit) with boto3 against `ddlocal up --workshop`.

Usage: test_audit_module2_boto3.py PATH/TO/ddlocal

Starts `ddlocal up --detach --workshop --manual-clock` on a temporary data dir and free ports,
then with boto3 and the real broker: two devices connected at once with the workshop's shared
certificate -> an on-demand audit finds DEVICE_CERTIFICATE_SHARED_CHECK with that certificate id,
IOT_POLICY_OVERLY_PERMISSIVE_CHECK on DevicePolicy and LOGGING_DISABLED_CHECK; an
UPDATE_DEVICE_CERTIFICATE mitigation task deactivates the certificate and mosquitto_pub with it
is refused (exit status 5, not authorised); a suppression hides the logging finding in the next
audit; a daily scheduled audit has run after `ddlocal clock advance 86400`; SetV2LoggingOptions
and a DevicePolicy version limited by policy variables made default make both findings go away. `ddlocal down`
and removing the temporary dir end it, also when a step fails.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import boto3

ACCOUNT = "123456789012"
DDLOCAL = None
CHECKS = ["DEVICE_CERTIFICATE_SHARED_CHECK", "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
          "LOGGING_DISABLED_CHECK"]


def poll(what, fn, timeout=30.0):
    """fn() until it returns something true, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


class Module2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ddlocal-audit-module2.")
        cls.data = os.path.join(cls.tmp, "dd")
        cls.subs = []
        r = subprocess.run([DDLOCAL, "up", "--detach", "-D", cls.data, "--mqtt-port", "0",
                            "--alpn-port", "0", "--api-port", "0", "--manual-clock",
                            "--workshop"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        if r.returncode != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError("ddlocal up failed: " + r.stdout.decode(errors="replace"))
        cls.up_banner = r.stdout.decode(errors="replace")
        with open(os.path.join(cls.data, "endpoints.json")) as f:
            ep = json.load(f)
        cls.mqtt_port = ep["mqtt"].split(":")[1]
        cls.iot = boto3.client("iot", endpoint_url=ep["api"], region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
        cls.shared = os.path.join(cls.data, "workshop", "shared")
        with open(os.path.join(cls.shared, "certificate-id")) as f:
            cls.cert_id = f.read().strip()

    @classmethod
    def tearDownClass(cls):
        for p in cls.subs:
            p.kill()
            p.wait()
        subprocess.run([DDLOCAL, "down", "-D", cls.data], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mqtt_args(self, client_id):
        return ["-h", "127.0.0.1", "-p", self.mqtt_port,
                "--cafile", os.path.join(self.shared, "rootca.pem"),
                "--cert", os.path.join(self.shared, "cert.pem"),
                "--key", os.path.join(self.shared, "private.key"), "-i", client_id]

    def audit(self):
        task = self.iot.start_on_demand_audit_task(targetCheckNames=CHECKS)["taskId"]
        return task, self.iot.describe_audit_task(taskId=task)

    def findings(self, task, check):
        return self.iot.list_audit_findings(taskId=task, checkName=check)["findings"]

    def test_0_world(self):
        """up --workshop: one certificate on the three things, a first audit already run."""
        things = self.iot.list_principal_things(
            principal="arn:aws:iot:us-east-1:%s:cert/%s" % (ACCOUNT, self.cert_id))["things"]
        self.assertEqual(sorted(things), ["Thing01", "Thing02", "Thing03"])
        tasks = self.iot.list_audit_tasks(startTime=0, endTime=4102444800)["tasks"]
        self.assertEqual(len(tasks), 1)
        self.assertIn("LOGGING_DISABLED_CHECK", self.up_banner)
        self.assertIn("IOT_POLICY_OVERLY_PERMISSIVE_CHECK", self.up_banner)

    def test_1_shared_certificate_found_and_deactivated(self):
        for client in ("Thing01", "Thing02"):
            self.subs.append(subprocess.Popen(
                ["mosquitto_sub"] + self.mqtt_args(client) + ["-t", "temperature-device-01"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def shared_found():
            task, described = self.audit()
            found = self.findings(task, "DEVICE_CERTIFICATE_SHARED_CHECK")
            return (task, described, found) if found else None

        # The broker hands its connections to ddlocald in batches: audit until they arrived.
        task, described, found = poll("the shared-certificate finding", shared_found)
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["nonCompliantResource"]["resourceIdentifier"],
                         {"deviceCertificateId": self.cert_id})
        self.assertEqual(sorted(r["resourceIdentifier"]["clientId"]
                                for r in found[0]["relatedResources"]), ["Thing01", "Thing02"])
        for check in CHECKS:
            self.assertEqual(described["auditDetails"][check]["checkRunStatus"],
                             "COMPLETED_NON_COMPLIANT", check)
        policies = [f["nonCompliantResource"]["resourceIdentifier"]["policyVersionIdentifier"]
                    ["policyName"]
                    for f in self.findings(task, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK")]
        self.assertEqual(policies, ["DevicePolicy"])
        self.assertEqual(len(self.findings(task, "LOGGING_DISABLED_CHECK")), 1)

        self.iot.create_mitigation_action(
            actionName="Update-device-certificate",
            roleArn="arn:aws:iam::%s:role/AWSIoTDeviceDefenderMitigation" % ACCOUNT,
            actionParams={"updateDeviceCertificateParams": {"action": "DEACTIVATE"}})
        self.iot.start_audit_mitigation_actions_task(
            taskId="DeactivateSharedCert", target={"findingIds": [found[0]["findingId"]]},
            auditCheckToActionsMapping={
                "DEVICE_CERTIFICATE_SHARED_CHECK": ["Update-device-certificate"]},
            clientRequestToken="deactivate-1")
        execs = self.iot.list_audit_mitigation_actions_executions(
            taskId="DeactivateSharedCert", findingId=found[0]["findingId"])["actionsExecutions"]
        self.assertEqual([e["status"] for e in execs], ["COMPLETED"])
        desc = self.iot.describe_certificate(certificateId=self.cert_id)
        self.assertEqual(desc["certificateDescription"]["status"], "INACTIVE")
        for p in self.subs:  # the broker cut them off; mosquitto_sub would retry for ever
            p.kill()
            p.wait()
        self.subs.clear()
        r = subprocess.run(["mosquitto_pub"] + self.mqtt_args("Thing01") +
                           ["-t", "temperature-device-01", "-m", "23.45"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(r.returncode, 5, r.stdout)
        self.assertIn(b"not authorised", r.stdout)

    def test_2_suppression_hides_the_logging_finding(self):
        self.iot.create_audit_suppression(
            checkName="LOGGING_DISABLED_CHECK", resourceIdentifier={"account": ACCOUNT},
            suppressIndefinitely=True, clientRequestToken="suppress-logging-1")
        task, described = self.audit()
        details = described["auditDetails"]["LOGGING_DISABLED_CHECK"]
        self.assertEqual(details["checkRunStatus"], "COMPLETED_COMPLIANT")
        self.assertEqual(details["suppressedNonCompliantResourcesCount"], 1)
        self.assertEqual(self.iot.list_audit_findings(
            taskId=task, checkName="LOGGING_DISABLED_CHECK",
            listSuppressedFindings=False)["findings"], [])
        self.iot.delete_audit_suppression(checkName="LOGGING_DISABLED_CHECK",
                                          resourceIdentifier={"account": ACCOUNT})

    def test_3_daily_audit_runs_after_a_day(self):
        self.iot.create_scheduled_audit(scheduledAuditName="DailyAudit", frequency="DAILY",
                                        targetCheckNames=CHECKS)
        r = subprocess.run([DDLOCAL, "clock", "advance", "86400", "-D", self.data],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        tasks = self.iot.list_audit_tasks(startTime=0, endTime=4102444800,
                                          taskType="SCHEDULED_AUDIT_TASK")["tasks"]
        self.assertEqual(len(tasks), 1)
        described = self.iot.describe_audit_task(taskId=tasks[0]["taskId"])
        self.assertEqual(described["scheduledAuditName"], "DailyAudit")
        self.assertEqual(described["taskStatus"], "COMPLETED")
        self.iot.delete_scheduled_audit(scheduledAuditName="DailyAudit")

    def test_4_changed_state_changes_the_findings(self):
        self.iot.set_v2_logging_options(
            roleArn="arn:aws:iam::%s:role/IoTLogging" % ACCOUNT, defaultLogLevel="INFO",
            disableAllLogs=False)
        # Each thing may connect as itself and use only its own topics (policy variables).
        arn = "arn:aws:iot:us-east-1:%s:" % ACCOUNT
        doc = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect",
             "Resource": arn + "client/${iot:Connection.Thing.ThingName}"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
             "Resource": arn + "topic/things/${iot:Connection.Thing.ThingName}/data"},
            {"Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": arn + "topicfilter/things/${iot:Connection.Thing.ThingName}/data"}]})
        self.iot.create_policy_version(policyName="DevicePolicy", policyDocument=doc,
                                       setAsDefault=True)
        task, described = self.audit()
        self.assertEqual(described["auditDetails"]["LOGGING_DISABLED_CHECK"]["checkRunStatus"],
                         "COMPLETED_COMPLIANT")
        self.assertEqual(self.findings(task, "LOGGING_DISABLED_CHECK"), [])
        self.assertEqual(self.findings(task, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"), [])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_audit_module2_boto3.py PATH/TO/ddlocal")
    DDLOCAL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
