#!/usr/bin/python3
"""Debian's python3-boto3 against ddlocal's Device Defender Audit operations.

Usage: test_api_audit_boto3.py PATH/TO/dd_api_testserver

Every Audit operation of the service model, its modeled errors (exception
classes, HTTP statuses), the fresh account's configuration, paging with
boto3's paginators, findings and statistics of LOGGING_DISABLED_CHECK (whose
findings are whatever the check computes: the assertions hold for none and
for some), a suppression applied to the next task only, scheduled audits and
audit mitigation actions tasks with their executions, and the key-quality
check finding a certificate whose RSA key has the ROCA fingerprint.
"""
import datetime
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddapi_testlib as lib  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402

BINARY = None
SERVER = None
IOT = None
KEYQ_PEMS = {}
ROLE = "arn:aws:iam::%s:role/AuditRole" % lib.ACCOUNT
TOPIC = "arn:aws:sns:%s:%s:AuditTopic" % (lib.REGION, lib.ACCOUNT)
EARLY = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
LATE = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
LOGGING = "LOGGING_DISABLED_CHECK"
ACCOUNT_ID = {"account": lib.ACCOUNT}


def setUpModule():
    global SERVER, IOT
    make_key_quality_certs()
    SERVER = lib.TestServer(BINARY)
    IOT = boto3.client("iot", endpoint_url=SERVER.endpoint, region_name=lib.REGION,
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=botocore.config.Config(retries={"mode": "standard",
                                                              "max_attempts": 1}))


def tearDownModule():
    IOT.close()
    SERVER.stop()


def enable(checks):
    IOT.update_account_audit_configuration(
        roleArn=ROLE,
        auditNotificationTargetConfigurations={
            "SNS": {"targetArn": TOPIC, "roleArn": ROLE, "enabled": True}},
        auditCheckConfigurations={c: {"enabled": True} for c in checks})


class AuditTestCase(unittest.TestCase):
    maxDiff = None

    def assertError(self, exc_class, status, fn, *args, contains=None, **kwargs):
        with self.assertRaises(exc_class) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(resp["Error"]["Code"], exc_class.__name__)
        if contains is not None:
            self.assertIn(contains, resp["Error"]["Message"])
        return resp

    def tearDown(self):
        # Each test starts from a fresh account.
        try:
            IOT.delete_account_audit_configuration(deleteScheduledAudits=True)
        except IOT.exceptions.ResourceNotFoundException:
            pass


class TestConfiguration(AuditTestCase):
    def test_fresh_account_update_delete(self):
        ex = IOT.exceptions
        cfg = IOT.describe_account_audit_configuration()
        checks = cfg["auditCheckConfigurations"]
        self.assertEqual(len(checks), 17)
        self.assertFalse(any(c["enabled"] for c in checks.values()))
        self.assertNotIn("roleArn", cfg)
        self.assertNotIn("auditNotificationTargetConfigurations", cfg)
        # The first update needs a role and an enabled check; names must be the model's.
        self.assertError(ex.InvalidRequestException, 400, IOT.update_account_audit_configuration,
                         auditCheckConfigurations={LOGGING: {"enabled": True}})
        self.assertError(ex.InvalidRequestException, 400, IOT.update_account_audit_configuration,
                         roleArn=ROLE, auditCheckConfigurations={LOGGING: {"enabled": False}})
        self.assertError(ex.InvalidRequestException, 400, IOT.update_account_audit_configuration,
                         roleArn=ROLE, auditCheckConfigurations={"NO_SUCH_CHECK": {"enabled": True}},
                         contains="NO_SUCH_CHECK is not a valid audit check name")
        self.assertError(ex.InvalidRequestException, 400, IOT.update_account_audit_configuration,
                         roleArn=ROLE, auditCheckConfigurations={LOGGING: {"enabled": True}},
                         auditNotificationTargetConfigurations={
                             "SNS": {"targetArn": "arn:aws:sqs:us-east-1:1:q", "roleArn": ROLE,
                                     "enabled": True}})
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.delete_account_audit_configuration)
        enable([LOGGING])
        cfg = IOT.describe_account_audit_configuration()
        self.assertEqual(cfg["roleArn"], ROLE)
        self.assertEqual(cfg["auditNotificationTargetConfigurations"]["SNS"],
                         {"targetArn": TOPIC, "roleArn": ROLE, "enabled": True})
        self.assertTrue(cfg["auditCheckConfigurations"][LOGGING]["enabled"])
        self.assertFalse(cfg["auditCheckConfigurations"]["CONFLICTING_CLIENT_IDS_CHECK"]["enabled"])
        # Later updates merge.
        IOT.update_account_audit_configuration(
            auditCheckConfigurations={"CONFLICTING_CLIENT_IDS_CHECK": {"enabled": True}})
        cfg = IOT.describe_account_audit_configuration()
        self.assertTrue(cfg["auditCheckConfigurations"][LOGGING]["enabled"])
        self.assertTrue(cfg["auditCheckConfigurations"]["CONFLICTING_CLIENT_IDS_CHECK"]["enabled"])
        # A check a scheduled audit uses cannot be disabled; deleting needs deleteScheduledAudits.
        IOT.create_scheduled_audit(scheduledAuditName="CfgDaily", frequency="DAILY",
                                   targetCheckNames=[LOGGING])
        self.assertError(ex.InvalidRequestException, 400, IOT.update_account_audit_configuration,
                         auditCheckConfigurations={LOGGING: {"enabled": False}},
                         contains="CfgDaily")
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.delete_account_audit_configuration)
        IOT.delete_account_audit_configuration(deleteScheduledAudits=True)
        self.assertEqual(IOT.list_scheduled_audits()["scheduledAudits"], [])
        self.assertNotIn("roleArn", IOT.describe_account_audit_configuration())


class TestTasksAndFindings(AuditTestCase):
    def test_on_demand_task_findings_suppression(self):
        ex = IOT.exceptions
        self.assertError(ex.InvalidRequestException, 400, IOT.start_on_demand_audit_task,
                         targetCheckNames=[LOGGING], contains="not enabled")
        enable([LOGGING, "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK"])
        self.assertError(ex.InvalidRequestException, 400, IOT.start_on_demand_audit_task,
                         targetCheckNames=["NO_SUCH_CHECK"])
        self.assertError(ex.InvalidRequestException, 400, IOT.start_on_demand_audit_task,
                         targetCheckNames=[])
        task_id = IOT.start_on_demand_audit_task(
            targetCheckNames=[LOGGING, "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK"])["taskId"]
        self.assertRegex(task_id, "^[0-9a-f]{32}$")
        task = IOT.describe_audit_task(taskId=task_id)
        self.assertEqual(task["taskStatus"], "COMPLETED")
        self.assertEqual(task["taskType"], "ON_DEMAND_AUDIT_TASK")
        self.assertIsInstance(task["taskStartTime"], datetime.datetime)
        self.assertNotIn("scheduledAuditName", task)
        stats = task["taskStatistics"]
        self.assertEqual(stats["totalChecks"], 2)
        self.assertEqual(stats["compliantChecks"] + stats["nonCompliantChecks"]
                         + stats["failedChecks"], 2)
        # A check on resources ddlocal does not have: compliant, nothing examined, a reason.
        alias = task["auditDetails"]["IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK"]
        self.assertEqual((alias["checkRunStatus"], alias["checkCompliant"],
                          alias["totalResourcesCount"], alias["nonCompliantResourcesCount"]),
                         ("COMPLETED_COMPLIANT", True, 0, 0))
        self.assertIn("role aliases", alias["message"])
        # The findings listed are the check's nonCompliantResourcesCount.
        logging = task["auditDetails"][LOGGING]
        findings = IOT.list_audit_findings(taskId=task_id)["findings"]
        self.assertEqual(len(findings), logging["nonCompliantResourcesCount"])
        self.assertEqual(logging["checkCompliant"], not findings)
        for f in findings:
            self.assertEqual((f["taskId"], f["checkName"], f["isSuppressed"]),
                             (task_id, LOGGING, False))
            self.assertEqual(IOT.describe_audit_finding(findingId=f["findingId"])["finding"]
                             ["findingId"], f["findingId"])
            related = IOT.list_related_resources_for_audit_finding(findingId=f["findingId"])
            self.assertEqual(related["relatedResources"], f.get("relatedResources", []))
        # By check and time: this task's findings among those of earlier tasks of the class.
        by_check = IOT.list_audit_findings(checkName=LOGGING, startTime=EARLY,
                                           endTime=LATE)["findings"]
        self.assertEqual([f for f in by_check if f["taskId"] == task_id], findings)
        self.assertError(ex.InvalidRequestException, 400, IOT.list_audit_findings,
                         taskId=task_id, startTime=EARLY, endTime=LATE)
        self.assertError(ex.InvalidRequestException, 400, IOT.list_audit_findings,
                         startTime=EARLY)
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_audit_finding,
                         findingId="nope")
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.list_related_resources_for_audit_finding, findingId="nope")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_audit_task,
                         taskId="0123456789abcdef")
        self.assertError(ex.InvalidRequestException, 400, IOT.cancel_audit_task,
                         taskId=task_id, contains="COMPLETED")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.cancel_audit_task,
                         taskId="0123456789abcdef")

        # A suppression of the account's logging finding applies to the next task only.
        IOT.create_audit_suppression(checkName=LOGGING, resourceIdentifier=ACCOUNT_ID,
                                     suppressIndefinitely=True, description="known",
                                     clientRequestToken="tok1")
        IOT.create_audit_suppression(checkName=LOGGING, resourceIdentifier=ACCOUNT_ID,
                                     suppressIndefinitely=True, description="known",
                                     clientRequestToken="tok1")  # a retry
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_audit_suppression,
                         checkName=LOGGING, resourceIdentifier=ACCOUNT_ID,
                         suppressIndefinitely=True, clientRequestToken="tok2")
        second = IOT.start_on_demand_audit_task(targetCheckNames=[LOGGING])["taskId"]
        detail = IOT.describe_audit_task(taskId=second)["auditDetails"][LOGGING]
        again = IOT.list_audit_findings(taskId=second)["findings"]
        suppressed = [f for f in again if f["isSuppressed"]]
        self.assertEqual(detail["suppressedNonCompliantResourcesCount"], len(suppressed))
        self.assertEqual([f["nonCompliantResource"]["resourceIdentifier"] for f in suppressed],
                         [ACCOUNT_ID for f in again if f["nonCompliantResource"]
                          ["resourceIdentifier"] == ACCOUNT_ID])
        self.assertEqual(IOT.list_audit_findings(taskId=second, listSuppressedFindings=True)
                         ["findings"], suppressed)
        self.assertFalse(any(f["isSuppressed"] for f in
                             IOT.list_audit_findings(taskId=task_id)["findings"]))

    def test_list_tasks_paged(self):
        enable([LOGGING])
        ids = [IOT.start_on_demand_audit_task(targetCheckNames=[LOGGING])["taskId"]
               for _ in range(3)]
        pages = list(IOT.get_paginator("list_audit_tasks").paginate(
            startTime=EARLY, endTime=LATE, taskType="ON_DEMAND_AUDIT_TASK",
            PaginationConfig={"PageSize": 2}))
        listed = [t["taskId"] for p in pages for t in p["tasks"]]
        # Other test classes of the module (run before, in name order) start tasks too.
        self.assertGreaterEqual(len(listed), 3)
        self.assertEqual(len(pages), (len(listed) + 1) // 2)
        self.assertEqual(len(set(listed)), len(listed))
        for i in ids:
            self.assertIn(i, listed)
        self.assertEqual(IOT.list_audit_tasks(startTime=EARLY, endTime=LATE,
                                              taskType="SCHEDULED_AUDIT_TASK")["tasks"], [])
        self.assertEqual(IOT.list_audit_tasks(startTime=EARLY, endTime=EARLY)["tasks"], [])
        self.assertError(IOT.exceptions.InvalidRequestException, 400, IOT.list_audit_tasks,
                         startTime=EARLY, endTime=LATE, nextToken="garbage")


class TestSuppressions(AuditTestCase):
    def test_crud(self):
        ex = IOT.exceptions
        cert = {"deviceCertificateId": "a" * 64}
        self.assertError(ex.InvalidRequestException, 400, IOT.create_audit_suppression,
                         checkName="NO_SUCH_CHECK", resourceIdentifier=cert,
                         suppressIndefinitely=True, clientRequestToken="t")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_audit_suppression,
                         checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK", resourceIdentifier=cert,
                         clientRequestToken="t")  # neither expiration nor indefinitely
        self.assertError(ex.InvalidRequestException, 400, IOT.create_audit_suppression,
                         checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK", resourceIdentifier=cert,
                         expirationDate=EARLY, clientRequestToken="t")  # in the past
        IOT.create_audit_suppression(checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK",
                                     resourceIdentifier=cert, expirationDate=LATE,
                                     clientRequestToken="t1")
        IOT.create_audit_suppression(checkName=LOGGING, resourceIdentifier=ACCOUNT_ID,
                                     suppressIndefinitely=True, clientRequestToken="t2")
        got = IOT.describe_audit_suppression(checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK",
                                             resourceIdentifier=cert)
        self.assertEqual((got["checkName"], got["resourceIdentifier"], got["expirationDate"],
                          got["suppressIndefinitely"]),
                         ("DEVICE_CERTIFICATE_EXPIRING_CHECK", cert, LATE, False))
        IOT.update_audit_suppression(checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK",
                                     resourceIdentifier=cert, description="renewed soon")
        self.assertEqual(IOT.describe_audit_suppression(
            checkName="DEVICE_CERTIFICATE_EXPIRING_CHECK", resourceIdentifier=cert)
            ["description"], "renewed soon")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.update_audit_suppression,
                         checkName=LOGGING, resourceIdentifier={"account": "999999999999"},
                         description="x")
        listed = IOT.list_audit_suppressions()["suppressions"]
        self.assertEqual([s["checkName"] for s in listed],
                         ["DEVICE_CERTIFICATE_EXPIRING_CHECK", LOGGING])
        self.assertEqual([s["checkName"] for s in
                          IOT.list_audit_suppressions(ascendingOrder=False)["suppressions"]],
                         [LOGGING, "DEVICE_CERTIFICATE_EXPIRING_CHECK"])
        self.assertEqual(len(IOT.list_audit_suppressions(checkName=LOGGING)["suppressions"]), 1)
        page = IOT.list_audit_suppressions(maxResults=1)
        self.assertEqual(len(page["suppressions"]), 1)
        self.assertEqual(len(IOT.list_audit_suppressions(nextToken=page["nextToken"])
                             ["suppressions"]), 1)
        for s in listed:
            IOT.delete_audit_suppression(checkName=s["checkName"],
                                         resourceIdentifier=s["resourceIdentifier"])
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_audit_suppression,
                         checkName=LOGGING, resourceIdentifier=ACCOUNT_ID)
        self.assertEqual(IOT.list_audit_suppressions()["suppressions"], [])


class TestScheduledAudits(AuditTestCase):
    def test_crud_and_limits(self):
        ex = IOT.exceptions
        self.assertError(ex.InvalidRequestException, 400, IOT.create_scheduled_audit,
                         scheduledAuditName="Daily", frequency="DAILY",
                         targetCheckNames=[LOGGING], contains="not enabled")
        enable([LOGGING])
        arn = IOT.create_scheduled_audit(scheduledAuditName="Daily", frequency="DAILY",
                                         targetCheckNames=[LOGGING],
                                         tags=[{"Key": "k", "Value": "v"}])["scheduledAuditArn"]
        self.assertEqual(arn, lib.arn("scheduledaudit", "Daily"))
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_scheduled_audit,
                         scheduledAuditName="Daily", frequency="DAILY",
                         targetCheckNames=[LOGGING])
        self.assertError(ex.InvalidRequestException, 400, IOT.create_scheduled_audit,
                         scheduledAuditName="Weekly", frequency="WEEKLY",
                         targetCheckNames=[LOGGING], contains="dayOfWeek")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_scheduled_audit,
                         scheduledAuditName="Monthly", frequency="MONTHLY", dayOfMonth="32",
                         targetCheckNames=[LOGGING])
        IOT.create_scheduled_audit(scheduledAuditName="Weekly", frequency="WEEKLY",
                                   dayOfWeek="MON", targetCheckNames=[LOGGING])
        IOT.create_scheduled_audit(scheduledAuditName="Monthly", frequency="MONTHLY",
                                   dayOfMonth="LAST", targetCheckNames=[LOGGING])
        got = IOT.describe_scheduled_audit(scheduledAuditName="Weekly")
        self.assertEqual((got["frequency"], got["dayOfWeek"], got["targetCheckNames"],
                          got["scheduledAuditArn"]),
                         ("WEEKLY", "MON", [LOGGING], lib.arn("scheduledaudit", "Weekly")))
        IOT.update_scheduled_audit(scheduledAuditName="Weekly", frequency="BIWEEKLY",
                                   dayOfWeek="FRI")
        got = IOT.describe_scheduled_audit(scheduledAuditName="Weekly")
        self.assertEqual((got["frequency"], got["dayOfWeek"]), ("BIWEEKLY", "FRI"))
        self.assertError(ex.ResourceNotFoundException, 404, IOT.update_scheduled_audit,
                         scheduledAuditName="Nope", frequency="DAILY")
        listed = IOT.list_scheduled_audits()["scheduledAudits"]
        self.assertEqual([(s["scheduledAuditName"], s["frequency"]) for s in listed],
                         [("Daily", "DAILY"), ("Weekly", "BIWEEKLY"), ("Monthly", "MONTHLY")])
        self.assertEqual(listed[2]["dayOfMonth"], "LAST")
        IOT.create_scheduled_audit(scheduledAuditName="S4", frequency="DAILY",
                                   targetCheckNames=[LOGGING])
        IOT.create_scheduled_audit(scheduledAuditName="S5", frequency="DAILY",
                                   targetCheckNames=[LOGGING])
        self.assertError(ex.LimitExceededException, 410, IOT.create_scheduled_audit,
                         scheduledAuditName="S6", frequency="DAILY", targetCheckNames=[LOGGING])
        IOT.delete_scheduled_audit(scheduledAuditName="S5")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.delete_scheduled_audit,
                         scheduledAuditName="S5")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_scheduled_audit,
                         scheduledAuditName="S5")
        # The testserver's clock advance does not run ddlocald's tick: nothing ran here
        # (test_audit_cli covers the run on `ddlocal clock advance`).
        self.assertEqual(IOT.list_audit_tasks(startTime=EARLY, endTime=LATE,
                                              taskType="SCHEDULED_AUDIT_TASK")["tasks"], [])


class TestAuditMitigation(AuditTestCase):
    def test_tasks_and_executions(self):
        ex = IOT.exceptions
        enable([LOGGING])
        IOT.create_mitigation_action(actionName="AuditEnableLogging", roleArn=ROLE,
                                     actionParams={"enableIoTLoggingParams": {
                                         "roleArnForLogging": ROLE, "logLevel": "INFO"}})
        audit = IOT.start_on_demand_audit_task(targetCheckNames=[LOGGING])["taskId"]
        findings = IOT.list_audit_findings(taskId=audit)["findings"]
        mapping = {LOGGING: ["AuditEnableLogging"]}
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.start_audit_mitigation_actions_task, taskId="AmtBad",
                         target={"auditTaskId": audit},
                         auditCheckToActionsMapping={LOGGING: ["NoSuchAction"]},
                         clientRequestToken="c1", contains="NoSuchAction")
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.start_audit_mitigation_actions_task, taskId="AmtBad",
                         target={"auditTaskId": "0123456789abcdef"},
                         auditCheckToActionsMapping=mapping, clientRequestToken="c1")
        self.assertEqual(IOT.start_audit_mitigation_actions_task(
            taskId="Amt1", target={"auditTaskId": audit}, auditCheckToActionsMapping=mapping,
            clientRequestToken="c1")["taskId"], "Amt1")
        # A retry with the same token answers again; another token is TaskAlreadyExists.
        IOT.start_audit_mitigation_actions_task(
            taskId="Amt1", target={"auditTaskId": audit}, auditCheckToActionsMapping=mapping,
            clientRequestToken="c1")
        self.assertError(ex.TaskAlreadyExistsException, 400,
                         IOT.start_audit_mitigation_actions_task, taskId="Amt1",
                         target={"auditTaskId": audit}, auditCheckToActionsMapping=mapping,
                         clientRequestToken="c2")
        task = IOT.describe_audit_mitigation_actions_task(taskId="Amt1")
        self.assertEqual(task["taskStatus"], "COMPLETED")
        self.assertEqual(task["target"], {"auditTaskId": audit})
        self.assertEqual(task["auditCheckToActionsMapping"], mapping)
        self.assertEqual([a["name"] for a in task["actionsDefinition"]], ["AuditEnableLogging"])
        self.assertEqual(task["taskStatistics"].get(LOGGING, {}).get("totalFindingsCount", 0),
                         len(findings))
        listed = IOT.list_audit_mitigation_actions_tasks(startTime=EARLY, endTime=LATE,
                                                         auditTaskId=audit)["tasks"]
        self.assertEqual([t["taskId"] for t in listed], ["Amt1"])
        for f in findings:
            execs = IOT.list_audit_mitigation_actions_executions(
                taskId="Amt1", findingId=f["findingId"])["actionsExecutions"]
            self.assertEqual([(e["actionName"], e["findingId"]) for e in execs],
                             [("AuditEnableLogging", f["findingId"])])
            self.assertIn(execs[0]["status"], ("COMPLETED", "FAILED"))
            if execs[0]["status"] == "FAILED":
                self.assertTrue(execs[0]["errorCode"])
        self.assertEqual(IOT.list_audit_mitigation_actions_executions(
            taskId="Amt1", findingId="nope")["actionsExecutions"], [])
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.cancel_audit_mitigation_actions_task, taskId="Amt1")
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.cancel_audit_mitigation_actions_task, taskId="Nope")
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.describe_audit_mitigation_actions_task, taskId="Nope")
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.start_audit_mitigation_actions_task, taskId="AmtIds",
                         target={"findingIds": ["nope"]}, auditCheckToActionsMapping=mapping,
                         clientRequestToken="c3")
        IOT.delete_mitigation_action(actionName="AuditEnableLogging")


# The first 39 primes: their product is the M of Infineon RSALib's 512-bit primes.
RSALIB_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
                 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163,
                 167]


def openssl(*args, **kwargs):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True, text=True,
                          **kwargs).stdout


def roca_prime(rng, bits):
    """A prime of the form k * M + (65537^a mod M), as RSALib made them (seeded).

    Candidates go to `openssl prime` in batches: the test makes no primality test of its own.
    """
    m = 1
    for p in RSALIB_PRIMES:
        m *= p
    c = pow(65537, rng.getrandbits(16), m)
    k = (rng.getrandbits(bits) | (3 << (bits - 2))) // m
    while True:
        cands = [(k + i) * m + c for i in range(200)]
        for n, line in zip(cands, openssl("prime", *[str(x) for x in cands]).splitlines()):
            if line.endswith(" is prime"):
                return n
        k += 200


def make_key_quality_certs():
    """Two device certificates of one test CA: one whose 2048-bit RSA key was built as
    Infineon's RSALib built keys (CVE-2017-15361), one ordinary. Made before the server starts,
    so that they are valid at its (manual) pipeline time."""
    rng = random.Random(15361)
    n = roca_prime(rng, 1024) * roca_prime(rng, 1024)
    assert n.bit_length() == 2048
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)
        # The RSA public key (n, 65537) as SubjectPublicKeyInfo, with OpenSSL's ASN.1
        # generator; the certificate is issued for it by the test CA (-force_pubkey).
        with open(path("pub.cnf"), "w", encoding="ascii") as f:
            f.write("asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\n"
                    "key=BITWRAP,SEQUENCE:rsa\n[alg]\nalgorithm=OID:rsaEncryption\n"
                    "parameter=NULL\n[rsa]\nn=INTEGER:0x%X\ne=INTEGER:0x010001\n" % n)
        openssl("asn1parse", "-genconf", path("pub.cnf"), "-out", path("pub.der"), "-noout")
        openssl("pkey", "-pubin", "-inform", "DER", "-in", path("pub.der"),
                "-out", path("pub.pem"))
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
                "-subj", "/CN=KeyQualityTestCA", "-days", "30")
        openssl("x509", "-new", "-subj", "/CN=infineon-device", "-force_pubkey",
                path("pub.pem"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-days", "30", "-out", path("roca.pem"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", path("fine.key"), "-out", path("fine.csr"),
                "-subj", "/CN=ordinary-device")
        openssl("x509", "-req", "-in", path("fine.csr"), "-CA", path("ca.pem"),
                "-CAkey", path("ca.key"), "-days", "30", "-out", path("fine.pem"))
        for name in ("roca", "fine"):
            with open(path(name + ".pem"), encoding="ascii") as f:
                KEYQ_PEMS[name] = f.read()


class TestKeyQuality(AuditTestCase):
    def test_roca_device_certificate(self):
        """DEVICE_CERTIFICATE_KEY_QUALITY_CHECK finds the certificate registered with
        RegisterCertificateWithoutCA whose key has the ROCA fingerprint, with AWS's reason code,
        and not the ordinary certificate of the same CA."""
        roca_pem = KEYQ_PEMS["roca"]
        fine_pem = KEYQ_PEMS["fine"]
        roca = IOT.register_certificate_without_ca(certificatePem=roca_pem,
                                                   status="ACTIVE")["certificateId"]
        fine = IOT.register_certificate_without_ca(certificatePem=fine_pem,
                                                   status="ACTIVE")["certificateId"]
        try:
            check = "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK"
            enable([check])
            task_id = IOT.start_on_demand_audit_task(targetCheckNames=[check])["taskId"]
            task = IOT.describe_audit_task(taskId=task_id)
            self.assertEqual(task["taskStatus"], "COMPLETED")
            details = task["auditDetails"][check]
            self.assertEqual(details["checkRunStatus"], "COMPLETED_NON_COMPLIANT")
            self.assertGreaterEqual(details["totalResourcesCount"], 2)
            findings = IOT.list_audit_findings(taskId=task_id, checkName=check)["findings"]
            by_cert = {f["nonCompliantResource"]["resourceIdentifier"]["deviceCertificateId"]: f
                       for f in findings}
            self.assertNotIn(fine, by_cert)
            self.assertIn(roca, by_cert)
            found = by_cert[roca]
            self.assertEqual(found["nonCompliantResource"]["resourceType"], "DEVICE_CERTIFICATE")
            self.assertEqual(found["severity"], "CRITICAL")
            self.assertEqual(found["reasonForNonComplianceCode"],
                             "CERTIFICATE_KEY_VULNERABILITY_CVE-2017-15361")
            self.assertIn("ROCA", found["reasonForNonCompliance"])
        finally:
            for cert in (roca, fine):
                IOT.update_certificate(certificateId=cert, newStatus="INACTIVE")
                IOT.delete_certificate(certificateId=cert)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_api_audit_boto3.py PATH/TO/dd_api_testserver")
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
