#!/usr/bin/python3
"""The real AWS CLI v2 (Debian's /usr/bin/aws) against ddlocal's control API.

Usage: test_api_cli.py PATH/TO/dd_api_testserver

Every operation group of the API, auto-pagination over several pages, and each
error class as the CLI shows it: exit status 254 (a service error in CLI v2) and
"An error occurred (Code) when calling the Op operation: message" on stderr.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddapi_testlib as lib  # noqa: E402

BINARY = None
SERVER = None
ENV = None
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")


def setUpModule():
    global SERVER, ENV
    SERVER = lib.TestServer(BINARY)
    ENV = lib.cli_env(SERVER.tmp)


def tearDownModule():
    SERVER.stop()


class CliTestCase(unittest.TestCase):
    maxDiff = None

    def run_cli(self, *args):
        return subprocess.run([lib.AWS_CLI, "iot", *args, "--endpoint-url", SERVER.endpoint,
                               "--output", "json"],
                              env=ENV, capture_output=True, text=True, timeout=120)

    def aws(self, *args):
        p = self.run_cli(*args)
        self.assertEqual(p.returncode, 0, "aws iot %s\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.stdout, p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def rest_ok(self, method, path, body=None):
        """Setup through the API without the CLI: each `aws` run costs about a second
        of CPU, and the loops below would make the test CPU-bound past its deadline
        on a loaded machine (scripts/stress.sh). The CLI still creates the first item
        of each loop and does every listing and pagination."""
        status, out = lib.rest(SERVER.endpoint, method, path, body)
        self.assertEqual(status, 200, "%s %s -> %s %s" % (method, path, status, out))
        return out

    def aws_error(self, code, operation, *args, contains=None):
        p = self.run_cli(*args)
        self.assertEqual(p.returncode, 254, "aws iot %s\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.stdout, p.stderr))
        # CLI v2's standard retry mode treats LimitExceededException as throttling and
        # retries it (as it would against AWS): the message then says how often.
        self.assertRegex(p.stderr, r"An error occurred \(%s\) when calling the %s operation"
                                   r"( \(reached max retries: \d+\))?: " % (code, operation))
        if contains is not None:
            self.assertIn(contains, p.stderr)
        return p.stderr


class TestRegistry(CliTestCase):
    def test_things_and_auto_pagination(self):
        for i in range(23):
            kind = "even" if i % 2 == 0 else "odd"
            if i == 0:
                out = self.aws("create-thing", "--thing-name", "PagedThing%02d" % i,
                               "--attribute-payload", '{"attributes":{"Kind":"%s"}}' % kind)
            else:
                out = self.rest_ok("POST", "/things/PagedThing%02d" % i,
                                   {"attributePayload": {"attributes": {"Kind": kind}}})
            self.assertEqual(out["thingArn"], lib.arn("thing", "PagedThing%02d" % i))
        # --page-size is maxResults per call; the CLI follows nextToken to the end.
        out = self.aws("list-things", "--page-size", "4", "--attribute-name", "Kind",
                       "--attribute-value", "odd")
        names = [t["thingName"] for t in out["things"]]
        self.assertEqual(names, ["PagedThing%02d" % i for i in range(1, 23, 2)])
        out = self.aws("list-things", "--page-size", "5")
        names = [t["thingName"] for t in out["things"] if t["thingName"].startswith("PagedThing")]
        self.assertEqual(names, ["PagedThing%02d" % i for i in range(23)])
        out = self.aws("list-things", "--no-paginate", "--max-results", "3")
        self.assertEqual(len(out["things"]), 3)
        self.assertIn("nextToken", out)
        out = self.aws("describe-thing", "--thing-name", "PagedThing03")
        self.assertEqual(out["attributes"], {"Kind": "odd"})
        self.assertEqual(out["defaultClientId"], "PagedThing03")
        self.aws("delete-thing", "--thing-name", "PagedThing03", "--expected-version", "1")
        self.aws_error("ResourceNotFoundException", "DescribeThing", "describe-thing",
                       "--thing-name", "PagedThing03", contains="PagedThing03 does not exist")

    def test_thing_groups(self):
        self.aws("create-thing", "--thing-name", "GThing1")
        self.aws("create-thing", "--thing-name", "GThing2")
        out = self.aws("create-thing-group", "--thing-group-name", "GRoot",
                       "--thing-group-properties",
                       '{"thingGroupDescription":"root","attributePayload":'
                       '{"attributes":{"a":"1"}}}')
        self.assertEqual(out["thingGroupArn"], lib.arn("thinggroup", "GRoot"))
        self.aws("create-thing-group", "--thing-group-name", "GChild", "--parent-group-name",
                 "GRoot")
        out = self.aws("describe-thing-group", "--thing-group-name", "GChild")
        self.assertEqual(out["thingGroupMetadata"]["parentGroupName"], "GRoot")
        self.assertEqual(out["thingGroupMetadata"]["rootToParentThingGroups"],
                         [{"groupName": "GRoot", "groupArn": lib.arn("thinggroup", "GRoot")}])
        out = self.aws("update-thing-group", "--thing-group-name", "GRoot",
                       "--thing-group-properties", '{"thingGroupDescription":"new"}',
                       "--expected-version", "1")
        self.assertEqual(out["version"], 2)
        self.aws_error("VersionConflictException", "UpdateThingGroup", "update-thing-group",
                       "--thing-group-name", "GRoot", "--thing-group-properties",
                       '{"thingGroupDescription":"x"}', "--expected-version", "1")
        self.aws("add-thing-to-thing-group", "--thing-group-name", "GChild", "--thing-name",
                 "GThing1")
        self.aws("add-thing-to-thing-group", "--thing-group-arn", lib.arn("thinggroup", "GRoot"),
                 "--thing-arn", lib.arn("thing", "GThing2"))
        out = self.aws("list-things-in-thing-group", "--thing-group-name", "GRoot", "--recursive")
        self.assertEqual(sorted(out["things"]), ["GThing1", "GThing2"])
        self.aws("update-thing-groups-for-thing", "--thing-name", "GThing2",
                 "--thing-groups-to-remove", "GRoot", "--thing-groups-to-add", "GChild")
        out = self.aws("list-thing-groups-for-thing", "--thing-name", "GThing2")
        self.assertEqual(out["thingGroups"],
                         [{"groupName": "GChild", "groupArn": lib.arn("thinggroup", "GChild")}])
        self.aws("remove-thing-from-thing-group", "--thing-group-name", "GChild", "--thing-name",
                 "GThing2")
        out = self.aws("list-thing-groups", "--parent-group", "GRoot")
        self.assertEqual([g["groupName"] for g in out["thingGroups"]], ["GChild"])
        out = self.aws("list-thing-groups", "--name-prefix-filter", "GR")
        self.assertEqual([g["groupName"] for g in out["thingGroups"]], ["GRoot"])
        self.aws_error("ResourceNotFoundException", "AddThingToThingGroup",
                       "add-thing-to-thing-group", "--thing-group-name", "NoGroup",
                       "--thing-name", "GThing1", contains="NoGroup")
        self.aws("delete-thing-group", "--thing-group-name", "GChild")
        self.aws("delete-thing-group", "--thing-group-name", "GRoot")

    def test_errors_as_the_cli_shows_them(self):
        self.aws("create-thing", "--thing-name", "Dup")
        # 409 ResourceAlreadyExists (resourceId/resourceArn are checked with boto3).
        self.aws_error("ResourceAlreadyExistsException", "CreateThing", "create-thing",
                       "--thing-name", "Dup", "--attribute-payload", '{"attributes":{"x":"y"}}')
        # 400 validation the client does not do: pattern, max length, enum, range.
        self.aws_error("InvalidRequestException", "CreateThing", "create-thing", "--thing-name",
                       "bad name", contains="failed to satisfy constraint: Member must satisfy "
                                            "regular expression pattern: [a-zA-Z0-9:_-]+")
        self.aws_error("InvalidRequestException", "CreateThing", "create-thing", "--thing-name",
                       "x" * 129, contains="Member must have length less than or equal to 128")
        self.aws_error("InvalidRequestException", "ListActiveViolations",
                       "list-active-violations", "--behavior-criteria-type", "FOO",
                       contains="Member must satisfy enum value set")
        self.aws_error("InvalidRequestException", "ListThings", "list-things", "--no-paginate",
                       "--max-results", "251", contains="less than or equal to 250")
        # An operation ddlocal does not implement is named, never a silent 200.
        self.aws_error("InvalidRequestException", "ListJobs", "list-jobs",
                       contains="ddlocal does not implement ListJobs")


class TestIdentity(CliTestCase):
    def test_certificates_principals_policies(self):
        self.aws("create-thing", "--thing-name", "CertThing")
        before_registry, _ = SERVER.hook_counts()
        cert = self.aws("create-keys-and-certificate", "--set-as-active")
        self.assertEqual(len(cert["certificateId"]), 64)
        self.assertEqual(cert["certificateArn"], lib.arn("cert", cert["certificateId"]))
        self.assertIn("BEGIN CERTIFICATE", cert["certificatePem"])
        self.assertIn("PRIVATE KEY", cert["keyPair"]["PrivateKey"])
        self.assertIn("BEGIN PUBLIC KEY", cert["keyPair"]["PublicKey"])
        self.aws("attach-thing-principal", "--thing-name", "CertThing", "--principal",
                 cert["certificateArn"])
        out = self.aws("list-thing-principals", "--thing-name", "CertThing")
        self.assertEqual(out["principals"], [cert["certificateArn"]])
        out = self.aws("list-principal-things", "--principal", cert["certificateArn"])
        self.assertEqual(out["things"], ["CertThing"])
        desc = self.aws("describe-certificate", "--certificate-id", cert["certificateId"])
        self.assertEqual(desc["certificateDescription"]["status"], "ACTIVE")
        self.assertEqual(desc["certificateDescription"]["certificatePem"], cert["certificatePem"])
        # UpdateCertificate reaches the broker shim (the hook) before the CLI sees 200.
        self.aws("update-certificate", "--certificate-id", cert["certificateId"],
                 "--new-status", "INACTIVE")
        after_registry, _ = SERVER.hook_counts()
        self.assertGreaterEqual(after_registry, before_registry + 3)
        desc = self.aws("describe-certificate", "--certificate-id", cert["certificateId"])
        self.assertEqual(desc["certificateDescription"]["status"], "INACTIVE")
        self.aws("update-certificate", "--certificate-id", cert["certificateId"],
                 "--new-status", "REVOKED")
        self.aws_error("CertificateStateException", "UpdateCertificate", "update-certificate",
                       "--certificate-id", cert["certificateId"], "--new-status", "ACTIVE")
        self.aws_error("DeleteConflictException", "DeleteCertificate", "delete-certificate",
                       "--certificate-id", cert["certificateId"])
        # The older marker/pageSize paging. For these operations --page-size is the
        # service's own pageSize member, so the CLI does not auto-paginate with it:
        # follow --marker by hand here (auto-pagination is checked with list-policies).
        ids = {cert["certificateId"]}
        for _ in range(3):
            ids.add(self.aws("create-keys-and-certificate")["certificateId"])
        listed = []
        marker = None
        for _ in range(10):
            out = self.aws("list-certificates", "--page-size", "1",
                           *(["--marker", marker] if marker else []))
            self.assertLessEqual(len(out["certificates"]), 1)
            listed += [c["certificateId"] for c in out["certificates"]]
            marker = out.get("nextMarker")
            if not marker:
                break
        self.assertIsNone(marker)
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual(ids - set(listed), set())
        self.aws("detach-thing-principal", "--thing-name", "CertThing", "--principal",
                 cert["certificateArn"])
        self.aws("delete-certificate", "--certificate-id", cert["certificateId"])

        deny = os.path.join(FIXTURES, "policies", "deny-all.json")
        out = self.aws("create-policy", "--policy-name", "CliDenyAll", "--policy-document",
                       "file://" + deny)
        self.assertEqual(out["policyArn"], "arn:aws:iot:us-east-1:123456789012:policy/CliDenyAll")
        self.assertEqual(out["policyVersionId"], "1")
        self.aws_error("ResourceAlreadyExistsException", "CreatePolicy", "create-policy",
                       "--policy-name", "CliDenyAll", "--policy-document", "file://" + deny)
        self.aws_error("MalformedPolicyException", "CreatePolicy", "create-policy",
                       "--policy-name", "CliBad", "--policy-document", '{"Version":"2012-10-17"}')
        out = self.aws("get-policy", "--policy-name", "CliDenyAll")
        with open(deny, encoding="utf-8") as f:
            self.assertEqual(json.loads(out["policyDocument"]), json.load(f))
        self.aws("create-thing-group", "--thing-group-name", "CliIsolated")
        group = lib.arn("thinggroup", "CliIsolated")
        self.aws("attach-policy", "--policy-name", "CliDenyAll", "--target", group)
        out = self.aws("list-attached-policies", "--target", group)
        self.assertEqual([p["policyName"] for p in out["policies"]], ["CliDenyAll"])
        out = self.aws("list-targets-for-policy", "--policy-name", "CliDenyAll")
        self.assertEqual(out["targets"], [group])
        self.aws_error("DeleteConflictException", "DeletePolicy", "delete-policy",
                       "--policy-name", "CliDenyAll")
        with open(deny, encoding="utf-8") as f:
            deny_text = f.read()
        for i in range(30):
            self.rest_ok("POST", "/policies/CliP%02d" % i, {"policyDocument": deny_text})
        # More than one default page (25): the CLI follows nextMarker to the end.
        out = self.aws("list-policies")
        names = [p["policyName"] for p in out["policies"]]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual({"CliDenyAll"} | {"CliP%02d" % i for i in range(30)}, set(names))
        self.assertNotIn("nextMarker", out)
        self.aws("detach-policy", "--policy-name", "CliDenyAll", "--target", group)
        self.aws("delete-policy", "--policy-name", "CliDenyAll")
        self.aws_error("ResourceNotFoundException", "GetPolicy", "get-policy", "--policy-name",
                       "CliDenyAll")

    def test_describe_endpoint(self):
        out = self.aws("describe-endpoint", "--endpoint-type", "iot:Data-ATS")
        self.assertEqual(out["endpointAddress"], "127.0.0.1")


with open(os.path.join(FIXTURES, "profiles", "module4-intended.json"), encoding="utf-8") as _f:
    MODULE4 = json.load(_f)


class TestDefender(CliTestCase):
    def create_module4(self, name):
        tmp = os.path.join(SERVER.tmp, name + "-behaviors.json")
        with open(tmp, "w") as f:
            json.dump(MODULE4["behaviors"], f)
        return self.aws("create-security-profile", "--security-profile-name", name,
                        "--security-profile-description", MODULE4["securityProfileDescription"],
                        "--behaviors", "file://" + tmp,
                        "--alert-targets", json.dumps(MODULE4["alertTargets"]),
                        "--additional-metrics-to-retain-v2",
                        json.dumps(MODULE4["additionalMetricsToRetainV2"]))

    def test_security_profiles(self):
        _, before_defender = SERVER.hook_counts()
        out = self.create_module4("CliProfile")
        self.assertEqual(out["securityProfileArn"], lib.arn("securityprofile", "CliProfile"))
        _, after_defender = SERVER.hook_counts()
        self.assertEqual(after_defender, before_defender + 1)
        out = self.aws("describe-security-profile", "--security-profile-name", "CliProfile")
        self.assertEqual(out["behaviors"], MODULE4["behaviors"])
        self.assertEqual(out["version"], 1)
        self.aws_error("ResourceAlreadyExistsException", "CreateSecurityProfile",
                       "create-security-profile", "--security-profile-name", "CliProfile")
        self.aws_error("VersionConflictException", "UpdateSecurityProfile",
                       "update-security-profile", "--security-profile-name", "CliProfile",
                       "--expected-version", "7", "--delete-alert-targets")
        out = self.aws("update-security-profile", "--security-profile-name", "CliProfile",
                       "--expected-version", "1", "--delete-alert-targets")
        self.assertEqual(out["version"], 2)
        self.assertNotIn("alertTargets", out)
        self.assertEqual(out["behaviors"], MODULE4["behaviors"])
        all_things = lib.arn("all", "things")
        self.aws("attach-security-profile", "--security-profile-name", "CliProfile",
                 "--security-profile-target-arn", all_things)
        out = self.aws("list-targets-for-security-profile", "--security-profile-name",
                       "CliProfile")
        self.assertEqual(out["securityProfileTargets"], [{"arn": all_things}])
        out = self.aws("list-security-profiles-for-target", "--security-profile-target-arn",
                       all_things)
        self.assertIn({"securityProfileIdentifier": {
            "name": "CliProfile", "arn": lib.arn("securityprofile", "CliProfile")},
            "target": {"arn": all_things}}, out["securityProfileTargetMappings"])
        out = self.aws("list-security-profiles", "--metric-name", "aws:all-bytes-out")
        self.assertIn("CliProfile", [p["name"] for p in out["securityProfileIdentifiers"]])
        out = self.aws("validate-security-profile-behaviors", "--behaviors",
                       '[{"name":"Authorization","metric":"aws:num-authorization-failures",'
                       '"criteria":{"comparisonOperator":"less-than","value":{"count":5},'
                       '"durationSeconds":300,"consecutiveDatapointsToAlarm":100000}}]')
        self.assertFalse(out["valid"])
        self.assertIn("consecutiveDatapointsToAlarm 100000 should be in range[1,10]",
                      out["validationErrors"][0]["errorMessage"])
        self.aws_error("InvalidRequestException", "CreateSecurityProfile",
                       "create-security-profile", "--security-profile-name", "CliBadProfile",
                       "--behaviors",
                       '[{"name":"b","metric":"aws:num-messages-sent","criteria":'
                       '{"comparisonOperator":"less-than","value":{"count":1},'
                       '"durationSeconds":300,"consecutiveDatapointsToAlarm":11}}]',
                       contains="consecutiveDatapointsToAlarm 11")
        self.aws("detach-security-profile", "--security-profile-name", "CliProfile",
                 "--security-profile-target-arn", all_things)
        self.aws("delete-security-profile", "--security-profile-name", "CliProfile")
        self.aws_error("ResourceNotFoundException", "DescribeSecurityProfile",
                       "describe-security-profile", "--security-profile-name", "CliProfile")

    def test_limit_exceeded_410(self):
        self.aws("create-thing-group", "--thing-group-name", "LimitGroup")
        target = lib.arn("thinggroup", "LimitGroup")
        for i in range(5):
            self.aws("create-security-profile", "--security-profile-name", "Lim%d" % i)
            self.aws("attach-security-profile", "--security-profile-name", "Lim%d" % i,
                     "--security-profile-target-arn", target)
        self.aws("create-security-profile", "--security-profile-name", "Lim5")
        self.aws_error("LimitExceededException", "AttachSecurityProfile",
                       "attach-security-profile", "--security-profile-name", "Lim5",
                       "--security-profile-target-arn", target, contains="5")

    def test_custom_metrics_and_dimensions(self):
        out = self.aws("create-custom-metric", "--metric-name", "CliTemp", "--metric-type",
                       "number", "--display-name", "Temperature")
        self.assertEqual(out["metricArn"], lib.arn("custommetric", "CliTemp"))
        out = self.aws("update-custom-metric", "--metric-name", "CliTemp", "--display-name",
                       "Temp")
        self.assertEqual(out["displayName"], "Temp")
        out = self.aws("describe-custom-metric", "--metric-name", "CliTemp")
        self.assertEqual(out["metricType"], "number")
        self.assertIn("CliTemp", self.aws("list-custom-metrics")["metricNames"])
        self.aws_error("InvalidRequestException", "CreateCustomMetric", "create-custom-metric",
                       "--metric-name", "CliBad", "--metric-type", "float",
                       contains="enum value set")
        self.aws("delete-custom-metric", "--metric-name", "CliTemp")
        self.aws_error("ResourceNotFoundException", "DescribeCustomMetric",
                       "describe-custom-metric", "--metric-name", "CliTemp")
        out = self.aws("create-dimension", "--name", "CliTopics", "--type", "TOPIC_FILTER",
                       "--string-values", "device/+/auth", "device/#")
        self.assertEqual(out["arn"], lib.arn("dimension", "CliTopics"))
        out = self.aws("update-dimension", "--name", "CliTopics", "--string-values", "a/b")
        self.assertEqual(out["stringValues"], ["a/b"])
        out = self.aws("describe-dimension", "--name", "CliTopics")
        self.assertEqual(out["type"], "TOPIC_FILTER")
        self.assertIn("CliTopics", self.aws("list-dimensions")["dimensionNames"])
        self.aws("delete-dimension", "--name", "CliTopics")


class TestViolationsAndMitigation(CliTestCase):
    def test_violations_pagination_and_mitigation(self):
        self.aws("create-thing-group", "--thing-group-name", "VioIsolated")
        tmp = os.path.join(SERVER.tmp, "vio-behaviors.json")
        with open(tmp, "w") as f:
            json.dump(MODULE4["behaviors"], f)
        self.aws("create-security-profile", "--security-profile-name", "VioProfile",
                 "--behaviors", "file://" + tmp, "--additional-metrics-to-retain-v2",
                 '[{"metric":"aws:all-bytes-out"}]')
        self.aws("attach-security-profile", "--security-profile-name", "VioProfile",
                 "--security-profile-target-arn", lib.arn("all", "things"))
        start_ms = SERVER.now_ms()
        things = ["VioThing%02d" % i for i in range(12)]
        for i, thing in enumerate(things):
            self.rest_ok("POST", "/things/" + thing, {})
            SERVER.report(thing, lib.bytes_out_report(1000 + i, 5000 + i))
        SERVER.advance(60)
        out = self.aws("list-active-violations", "--security-profile-name", "VioProfile",
                       "--page-size", "5")
        seen = [v["thingName"] for v in out["activeViolations"]]
        self.assertEqual(sorted(seen), things)  # all, each once, across 3 pages
        v = [x for x in out["activeViolations"] if x["thingName"] == "VioThing03"][0]
        self.assertEqual(v["lastViolationValue"], {"count": 5003})
        self.assertEqual(v["behavior"]["name"], "MoreBytesSent")
        # Timestamps: ISO-8601 and epoch seconds on the command line, both sent as ISO.
        out = self.aws("list-violation-events", "--start-time", str(start_ms // 1000 - 1),
                       "--end-time", "2100-01-01T00:00:00Z", "--thing-name", "VioThing03")
        self.assertEqual(len(out["violationEvents"]), 1)
        self.assertEqual(out["violationEvents"][0]["violationEventType"], "in-alarm")
        out = self.aws("list-violation-events", "--start-time", "2000-01-01T00:00:00Z",
                       "--end-time", "2100-01-01T00:00:00.000Z", "--page-size", "4")
        self.assertGreaterEqual(len([e for e in out["violationEvents"]
                                     if e["securityProfileName"] == "VioProfile"]), 12)
        self.aws("put-verification-state-on-violation", "--violation-id", v["violationId"],
                 "--verification-state", "TRUE_POSITIVE", "--verification-state-description",
                 "seen in the lab")
        out = self.aws("list-active-violations", "--verification-state", "TRUE_POSITIVE")
        self.assertEqual([x["violationId"] for x in out["activeViolations"]], [v["violationId"]])
        self.assertEqual(out["activeViolations"][0]["verificationStateDescription"],
                         "seen in the lab")
        out = self.aws("list-metric-values", "--thing-name", "VioThing03", "--metric-name",
                       "aws:all-bytes-out", "--start-time", "2000-01-01T00:00:00Z",
                       "--end-time", "2100-01-01T00:00:00Z")
        self.assertEqual([d["value"] for d in out["metricDatumList"]], [{"count": 5003}])
        out = self.aws("get-behavior-model-training-summaries")
        self.assertEqual(out["summaries"], [])
        self.aws_error("InvalidRequestException", "ListViolationEvents", "list-violation-events",
                       "--start-time", "2100-01-01T00:00:00Z", "--end-time",
                       "2000-01-01T00:00:00Z", contains="endTime")

        # Mitigation: quarantine two of the violating things.
        out = self.aws("create-mitigation-action", "--action-name", "CliQuarantine",
                       "--role-arn", "arn:aws:iam::123456789012:role/CliMitigation",
                       "--action-params",
                       '{"addThingsToThingGroupParams":{"thingGroupNames":["VioIsolated"]}}')
        self.assertEqual(out["actionArn"],
                         "arn:aws:iot:us-east-1:123456789012:mitigationaction/CliQuarantine")
        out = self.aws("describe-mitigation-action", "--action-name", "CliQuarantine")
        self.assertEqual(out["actionType"], "ADD_THINGS_TO_THING_GROUP")
        self.aws("update-mitigation-action", "--action-name", "CliQuarantine", "--role-arn",
                 "arn:aws:iam::123456789012:role/CliMitigation2")
        out = self.aws("list-mitigation-actions", "--action-type", "ADD_THINGS_TO_THING_GROUP")
        self.assertIn("CliQuarantine", [a["actionName"] for a in out["actionIdentifiers"]])
        ids = [x["violationId"] for x in self.aws(
            "list-active-violations", "--thing-name", "VioThing01")["activeViolations"]]
        ids.append(v["violationId"])
        out = self.aws("start-detect-mitigation-actions-task", "--task-id", "CliTask1",
                       "--target", json.dumps({"violationIds": ids}), "--actions",
                       "CliQuarantine", "--include-only-active-violations")
        self.assertEqual(out["taskId"], "CliTask1")
        out = self.aws("describe-detect-mitigation-actions-task", "--task-id", "CliTask1")
        self.assertEqual(out["taskSummary"]["taskStatus"], "SUCCESSFUL")
        self.assertEqual(out["taskSummary"]["taskStatistics"]["actionsExecuted"], 2)
        out = self.aws("list-things-in-thing-group", "--thing-group-name", "VioIsolated")
        self.assertEqual(sorted(out["things"]), ["VioThing01", "VioThing03"])
        out = self.aws("list-detect-mitigation-actions-executions", "--task-id", "CliTask1")
        self.assertEqual(sorted(e["thingName"] for e in out["actionsExecutions"]),
                         ["VioThing01", "VioThing03"])
        out = self.aws("list-detect-mitigation-actions-tasks", "--start-time",
                       "2000-01-01T00:00:00Z", "--end-time", "2100-01-01T00:00:00Z")
        self.assertIn("CliTask1", [t["taskId"] for t in out["tasks"]])
        self.aws_error("TaskAlreadyExistsException", "StartDetectMitigationActionsTask",
                       "start-detect-mitigation-actions-task", "--task-id", "CliTask1",
                       "--target", json.dumps({"violationIds": ids}), "--actions",
                       "CliQuarantine")
        self.aws_error("InvalidRequestException", "CancelDetectMitigationActionsTask",
                       "cancel-detect-mitigation-actions-task", "--task-id", "CliTask1")
        self.aws_error("ResourceNotFoundException", "DescribeDetectMitigationActionsTask",
                       "describe-detect-mitigation-actions-task", "--task-id", "NoTask")
        self.aws("delete-mitigation-action", "--action-name", "CliQuarantine")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_api_cli.py PATH/TO/dd_api_testserver")
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
