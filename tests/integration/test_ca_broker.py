#!/usr/bin/python3
"""A customer CA through the real broker: `ddlocal up`, boto3 and mosquitto_pub.

Usage: test_ca_broker.py PATH/TO/ddlocal

A CA and a device certificate it signed are made here with the openssl command (before
`ddlocal up` starts: the pipeline clock starts at the wall clock). With boto3:
get_registration_code, a verification certificate with that CN, register_ca_certificate
(ACTIVE), register_certificate (ACTIVE), a thing, the device policy. The device connects
with mosquitto_pub through the TLS listener (the CA is trusted through DIR/pki/trust, the
listeners' capath, with no broker restart) and publishes. update_ca_certificate INACTIVE:
the next connection is refused; ACTIVE again: accepted again. A certificate signed by a CA
that is not registered fails the TLS handshake. `ddlocal cert crl` stores the CA's
revocation list (made with `openssl ca -gencrl`) and refuses a certificate given as one.
A CA that expires in 10 days is found by CA_CERTIFICATE_EXPIRING_CHECK; an audit mitigation
task with UPDATE_CA_CERTIFICATE sets it INACTIVE and its device is refused.
The pipeline is stopped and its temporary
dir removed, also when a step fails.
"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_workshop_boto3 as wb  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402

DDLOCAL = None


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class CaBroker(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.work = tempfile.mkdtemp(prefix="ddlocal-ca-broker.")
        cls.addClassCleanup(lambda: subprocess.run(["rm", "-rf", cls.work], check=False))
        # "expiring" runs out in 10 days: CA_CERTIFICATE_EXPIRING_CHECK finds it.
        for ca, days in (("ca", "365"), ("stranger", "365"), ("expiring", "10")):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", cls.path(ca + ".key"), "-out", cls.path(ca + ".pem"),
                    "-days", days, "-subj", "/CN=Customer CA " + ca,
                    "-addext", "basicConstraints=critical,CA:TRUE")
        cls.sign("device", "ca", "CaDevice")
        cls.sign("intruder", "stranger", "CaDevice")
        cls.sign("expdevice", "expiring", "ExpiringCaDevice")
        cls.up = wb.Pipeline(DDLOCAL)
        cls.addClassCleanup(cls._stop_pipeline)
        cls.iot = boto3.client(
            "iot", endpoint_url=cls.up.api, region_name=wb.REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))
        cls.addClassCleanup(cls.iot.close)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.work, name)

    @classmethod
    def sign(cls, name, ca, cn):
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", cls.path(name + ".key"), "-out", cls.path(name + ".csr"),
                "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", cls.path(name + ".csr"), "-CA", cls.path(ca + ".pem"),
                "-CAkey", cls.path(ca + ".key"), "-CAcreateserial", "-days", "30",
                "-out", cls.path(name + ".pem"))

    @classmethod
    def _stop_pipeline(cls):
        status = cls.up.stop()
        if status != 0:
            raise AssertionError("ddlocal up exited with %s" % status)

    @classmethod
    def read(cls, name):
        with open(cls.path(name), encoding="ascii") as f:
            return f.read()

    def pub(self, name, client_id="CaDevice"):
        return subprocess.run(
            [wb.MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(self.up.mqtt_port),
             "--cafile", self.up.root_ca, "--cert", self.path(name + ".pem"),
             "--key", self.path(name + ".key"), "-i", client_id, "-q", "1",
             "-t", "temperature-device-ca", "-m", "21.5"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def wait_pub(self, name, ok, timeout=20, client_id="CaDevice"):
        """Publishes until the outcome is @ok (the shim's copy follows the registry
        asynchronously), with a deadline; the last CompletedProcess."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.pub(name, client_id)
            if (out.returncode == 0) == ok or time.monotonic() > deadline:
                return out
            time.sleep(0.2)

    def fail_with_log(self, msg):
        self.fail("%s\n--- ddlocal up log ---\n%s" % (msg, self.up.log_tail()))

    def register_ca(self, ca):
        """RegisterCACertificate (ACTIVE) with a verification certificate for the code."""
        code = self.iot.get_registration_code()["registrationCode"]
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", self.path(ca + ".ver.key"), "-out",
                self.path(ca + ".ver.csr"), "-subj", "/CN=" + code)
        openssl("x509", "-req", "-in", self.path(ca + ".ver.csr"), "-CA", self.path(ca + ".pem"),
                "-CAkey", self.path(ca + ".key"), "-CAcreateserial", "-days", "5",
                "-out", self.path(ca + ".ver.pem"))
        return self.iot.register_ca_certificate(
            caCertificate=self.read(ca + ".pem"),
            verificationCertificate=self.read(ca + ".ver.pem"), setAsActive=True)

    def test_ca_device_connects_until_the_ca_is_inactive(self):
        iot = self.iot
        ca = self.register_ca("ca")
        dev = iot.register_certificate(certificatePem=self.read("device.pem"), status="ACTIVE")
        iot.create_thing(thingName="CaDevice")
        iot.attach_thing_principal(thingName="CaDevice", principal=dev["certificateArn"])
        iot.create_policy(policyName="CaDevicePolicy",
                          policyDocument=wb.fixture("policies", "device-policy-per-thing.json"))
        iot.attach_policy(policyName="CaDevicePolicy", target=dev["certificateArn"])

        out = self.wait_pub("device", True)
        if out.returncode != 0:
            self.fail_with_log("the device of the registered CA could not publish: %s"
                               % out.stderr)

        # A CA nobody registered: the TLS handshake itself fails.
        out = self.pub("intruder")
        if out.returncode == 0:
            self.fail_with_log("a certificate of an unregistered CA could publish")
        # Refused by TLS, before the shim's identity rules could say "not authorised".
        self.assertNotIn("not authorised", out.stderr)

        iot.update_ca_certificate(certificateId=ca["certificateId"], newStatus="INACTIVE")
        out = self.wait_pub("device", False)
        if out.returncode == 0:
            self.fail_with_log("the device of an INACTIVE CA could still publish")
        self.assertIn("not authorised", out.stderr)

        iot.update_ca_certificate(certificateId=ca["certificateId"], newStatus="ACTIVE")
        out = self.wait_pub("device", True)
        if out.returncode != 0:
            self.fail_with_log("the device of the re-activated CA could not publish: %s"
                               % out.stderr)

    def test_expiring_ca_deactivated_by_audit_mitigation(self):
        # The audit finds the CA that expires in 10 days; UPDATE_CA_CERTIFICATE on that finding
        # sets it INACTIVE and the broker refuses the device it signed.
        iot = self.iot
        ca = self.register_ca("expiring")
        dev = iot.register_certificate(certificatePem=self.read("expdevice.pem"), status="ACTIVE")
        iot.create_policy(policyName="ExpiringCaPolicy",
                          policyDocument=wb.fixture("policies", "device-policy-allow-all.json"))
        iot.attach_policy(policyName="ExpiringCaPolicy", target=dev["certificateArn"])
        out = self.wait_pub("expdevice", True, client_id="ExpiringCaDevice")
        if out.returncode != 0:
            self.fail_with_log("the device of the expiring CA could not publish: %s" % out.stderr)

        iot.update_account_audit_configuration(
            roleArn="arn:aws:iam::%s:role/AuditRole" % wb.ACCOUNT,
            auditCheckConfigurations={"CA_CERTIFICATE_EXPIRING_CHECK": {"enabled": True}})
        task = iot.start_on_demand_audit_task(
            targetCheckNames=["CA_CERTIFICATE_EXPIRING_CHECK"])["taskId"]
        findings = [f for f in iot.list_audit_findings(taskId=task)["findings"]
                    if f["nonCompliantResource"]["resourceIdentifier"].get("caCertificateId")
                    == ca["certificateId"]]
        self.assertEqual(len(findings), 1)
        iot.create_mitigation_action(
            actionName="DeactivateCa", roleArn="arn:aws:iam::%s:role/Mitigation" % wb.ACCOUNT,
            actionParams={"updateCACertificateParams": {"action": "DEACTIVATE"}})
        iot.start_audit_mitigation_actions_task(
            taskId="DeactivateExpiringCa", target={"findingIds": [findings[0]["findingId"]]},
            auditCheckToActionsMapping={"CA_CERTIFICATE_EXPIRING_CHECK": ["DeactivateCa"]},
            clientRequestToken="deactivate-ca-1")
        execs = iot.list_audit_mitigation_actions_executions(
            taskId="DeactivateExpiringCa",
            findingId=findings[0]["findingId"])["actionsExecutions"]
        self.assertEqual([e["status"] for e in execs], ["COMPLETED"])
        desc = iot.describe_ca_certificate(certificateId=ca["certificateId"])
        self.assertEqual(desc["certificateDescription"]["status"], "INACTIVE")
        out = self.wait_pub("expdevice", False, client_id="ExpiringCaDevice")
        if out.returncode == 0:
            self.fail_with_log("the device of the deactivated CA could still publish")
        self.assertIn("not authorised", out.stderr)

    def test_crl_stored_with_the_cli(self):
        # The CA's revocation list, made with `openssl ca -gencrl`, handed to ddlocal.
        with open(self.path("index.txt"), "w", encoding="ascii"):
            pass
        with open(self.path("crlnumber"), "w", encoding="ascii") as f:
            f.write("01\n")
        with open(self.path("ca.cnf"), "w", encoding="ascii") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s\ncrlnumber=%s\n"
                    "default_md=sha256\ndefault_crl_days=30\n"
                    % (self.path("index.txt"), self.path("crlnumber")))
        openssl("ca", "-config", self.path("ca.cnf"), "-gencrl", "-keyfile", self.path("ca.key"),
                "-cert", self.path("ca.pem"), "-out", self.path("crl.pem"))
        self.up.cli("cert", "crl", self.path("crl.pem"))
        bad = subprocess.run([DDLOCAL, "cert", "crl", self.path("ca.pem"), "-D", self.up.data],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=60)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("certificate revocation list", bad.stderr)


def main():
    global DDLOCAL
    if len(sys.argv) < 2:
        sys.exit("usage: test_ca_broker.py PATH/TO/ddlocal")
    DDLOCAL = os.path.abspath(sys.argv.pop(1))
    signal.signal(signal.SIGTERM, wb._sigterm)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        prog = unittest.main(verbosity=2, exit=False)
    finally:
        for up in wb.PIPELINES:
            up.stop()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
