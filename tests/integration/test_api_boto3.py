#!/usr/bin/python3
"""Debian's python3-boto3 against ddlocal's control API.

Usage: test_api_boto3.py PATH/TO/dd_api_testserver

The modeled exception classes (client.exceptions.*), resourceId/resourceArn on
ResourceAlreadyExists, HTTP statuses and messages, timestamps parsed as
datetimes, the request id, and boto3's paginators over several pages;
UpdateSecurityProfile's delete flags and ListSecurityProfiles by dimension; a
second server with --region/--account: its ARNs, and other accounts' ARNs refused.
"""
import datetime
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddapi_testlib as lib  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402

BINARY = None
SERVER = None
IOT = None
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as f:
        return f.read()


MODULE4 = json.loads(fixture("profiles", "module4-intended.json"))


def setUpModule():
    global SERVER, IOT
    SERVER = lib.TestServer(BINARY)
    IOT = boto3.client("iot", endpoint_url=SERVER.endpoint, region_name=lib.REGION,
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=botocore.config.Config(retries={"mode": "standard",
                                                              "max_attempts": 1}))


def tearDownModule():
    IOT.close()
    SERVER.stop()


class Boto3TestCase(unittest.TestCase):
    maxDiff = None

    def assertError(self, exc_class, status, fn, *args, contains=None, **kwargs):
        with self.assertRaises(exc_class) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(resp["Error"]["Code"], exc_class.__name__)
        self.assertTrue(resp["ResponseMetadata"]["RequestId"])
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"],
                         exc_class.__name__)
        if contains is not None:
            self.assertIn(contains, resp["Error"]["Message"])
        return resp


class TestErrors(Boto3TestCase):
    def test_every_error_class(self):
        ex = IOT.exceptions
        # 404
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_thing,
                         thingName="Missing", contains="Thing Missing does not exist")
        # 409 with resourceId and resourceArn
        created = IOT.create_thing(thingName="B3Dup")
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_thing,
                                thingName="B3Dup", attributePayload={"attributes": {"a": "b"}})
        self.assertEqual(resp["resourceId"], created["thingId"])
        self.assertEqual(resp["resourceArn"], lib.arn("thing", "B3Dup"))
        IOT.create_security_profile(securityProfileName="B3Prof")
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409,
                                IOT.create_security_profile, securityProfileName="B3Prof")
        self.assertEqual(resp["resourceId"], "B3Prof")
        self.assertEqual(resp["resourceArn"], lib.arn("securityprofile", "B3Prof"))
        # 400 validation that botocore leaves to the service
        self.assertError(ex.InvalidRequestException, 400, IOT.create_thing,
                         thingName="bad name", contains="regular expression pattern")
        self.assertError(ex.InvalidRequestException, 400, IOT.list_active_violations,
                         maxResults=251, contains="less than or equal to 250")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_security_profile,
                         securityProfileName="B3Bad",
                         behaviors=[{"name": "b", "metric": "aws:num-messages-sent",
                                     "criteria": {"comparisonOperator": "less-than",
                                                  "value": {"count": 1},
                                                  "durationSeconds": 300,
                                                  "consecutiveDatapointsToAlarm": 11}}],
                         contains="consecutiveDatapointsToAlarm 11 should be in range[1,10]")
        # 409 version conflict
        self.assertError(ex.VersionConflictException, 409, IOT.update_security_profile,
                         securityProfileName="B3Prof", expectedVersion=42,
                         securityProfileDescription="x")
        self.assertError(ex.VersionConflictException, 409, IOT.delete_security_profile,
                         securityProfileName="B3Prof", expectedVersion=42)
        # 410 limit
        IOT.create_thing_group(thingGroupName="B3LimitGroup")
        target = lib.arn("thinggroup", "B3LimitGroup")
        for i in range(5):
            IOT.create_security_profile(securityProfileName="B3Lim%d" % i)
            IOT.attach_security_profile(securityProfileName="B3Lim%d" % i,
                                        securityProfileTargetArn=target)
        self.assertError(ex.LimitExceededException, 410, IOT.attach_security_profile,
                         securityProfileName="B3Prof", securityProfileTargetArn=target)
        # The others the API uses
        doc = fixture("policies", "deny-all.json")
        self.assertError(ex.MalformedPolicyException, 400, IOT.create_policy,
                         policyName="B3Bad", policyDocument="{}")
        IOT.create_policy(policyName="B3Deny", policyDocument=doc)
        IOT.attach_policy(policyName="B3Deny", target=target)
        self.assertError(ex.DeleteConflictException, 409, IOT.delete_policy, policyName="B3Deny")
        cert = IOT.create_keys_and_certificate(setAsActive=True)
        IOT.update_certificate(certificateId=cert["certificateId"], newStatus="REVOKED")
        self.assertError(ex.CertificateStateException, 406, IOT.update_certificate,
                         certificateId=cert["certificateId"], newStatus="ACTIVE")
        IOT.create_mitigation_action(
            actionName="B3Q", roleArn="arn:aws:iam::123456789012:role/r",
            actionParams={"addThingsToThingGroupParams": {"thingGroupNames": ["B3LimitGroup"]}})
        IOT.start_detect_mitigation_actions_task(
            taskId="B3Task", target={"securityProfileName": "B3Prof"}, actions=["B3Q"])
        self.assertError(ex.TaskAlreadyExistsException, 400,
                         IOT.start_detect_mitigation_actions_task, taskId="B3Task",
                         target={"securityProfileName": "B3Prof"}, actions=["B3Q"])
        # Not implemented: a clear error naming the operation
        resp = self.assertError(ex.InvalidRequestException, 400, IOT.list_jobs)
        self.assertIn("ddlocal does not implement ListJobs", resp["Error"]["Message"])

    def test_client_side_validation_still_applies(self):
        with self.assertRaises(botocore.exceptions.ParamValidationError):
            IOT.create_thing(thingName="")


class TestShapes(Boto3TestCase):
    def test_timestamps_are_datetimes(self):
        now = datetime.datetime.fromtimestamp(SERVER.now_ms() / 1000.0, datetime.timezone.utc)
        IOT.create_security_profile(
            securityProfileName="B3Module4", behaviors=MODULE4["behaviors"],
            alertTargets=MODULE4["alertTargets"],
            additionalMetricsToRetainV2=MODULE4["additionalMetricsToRetainV2"],
            tags=[{"Key": "workshop", "Value": "module4"}])
        out = IOT.describe_security_profile(securityProfileName="B3Module4")
        self.assertIsInstance(out["creationDate"], datetime.datetime)
        self.assertIsNotNone(out["creationDate"].tzinfo)
        self.assertLess(abs((out["creationDate"] - now).total_seconds()), 2)
        self.assertEqual(out["behaviors"], MODULE4["behaviors"])
        self.assertEqual(out["alertTargets"], MODULE4["alertTargets"])
        self.assertEqual(out["version"], 1)
        out = IOT.update_security_profile(securityProfileName="B3Module4", expectedVersion=1,
                                          deleteAdditionalMetricsToRetain=True)
        self.assertEqual(out["version"], 2)
        self.assertNotIn("additionalMetricsToRetainV2", out)
        self.assertIsInstance(out["lastModifiedDate"], datetime.datetime)
        cert = IOT.create_keys_and_certificate()
        desc = IOT.describe_certificate(certificateId=cert["certificateId"])
        d = desc["certificateDescription"]
        self.assertEqual(d["status"], "INACTIVE")
        self.assertIsInstance(d["creationDate"], datetime.datetime)
        self.assertEqual(d["validity"]["notAfter"].year, 2049)
        group = IOT.create_thing_group(thingGroupName="B3TsGroup")
        g = IOT.describe_thing_group(thingGroupName="B3TsGroup")
        self.assertEqual(g["thingGroupId"], group["thingGroupId"])
        self.assertIsInstance(g["thingGroupMetadata"]["creationDate"], datetime.datetime)
        self.assertTrue(IOT.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"])

    def test_violations_with_paginators(self):
        IOT.create_security_profile(securityProfileName="B3Vio", behaviors=MODULE4["behaviors"])
        IOT.attach_security_profile(securityProfileName="B3Vio",
                                    securityProfileTargetArn=lib.arn("all", "registered-things"))
        things = ["B3Thing%02d" % i for i in range(11)]
        for i, t in enumerate(things):
            IOT.create_thing(thingName=t)
            SERVER.report(t, lib.bytes_out_report(500 + i, 9000))
        SERVER.report("B3Unregistered", lib.bytes_out_report(1, 9000))  # not covered
        pages = list(IOT.get_paginator("list_active_violations").paginate(
            securityProfileName="B3Vio", PaginationConfig={"PageSize": 4}))
        self.assertEqual(len(pages), 3)
        got = [v["thingName"] for p in pages for v in p["activeViolations"]]
        self.assertEqual(sorted(got), things)
        v = pages[0]["activeViolations"][0]
        self.assertIsInstance(v["violationStartTime"], datetime.datetime)
        self.assertIsInstance(v["lastViolationTime"], datetime.datetime)
        self.assertEqual(v["lastViolationValue"], {"count": 9000})
        start = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        end = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
        events = [e for p in IOT.get_paginator("list_violation_events").paginate(
            startTime=start, endTime=end, securityProfileName="B3Vio",
            PaginationConfig={"PageSize": 5}) for e in p["violationEvents"]]
        self.assertEqual(sorted(e["thingName"] for e in events), things)
        self.assertTrue(all(isinstance(e["violationEventTime"], datetime.datetime)
                            for e in events))
        IOT.put_verification_state_on_violation(violationId=v["violationId"],
                                                verificationState="BENIGN_POSITIVE")
        out = IOT.list_active_violations(verificationState="BENIGN_POSITIVE")
        self.assertEqual([x["violationId"] for x in out["activeViolations"]], [v["violationId"]])
        datums = IOT.list_metric_values(thingName=things[0], metricName="aws:all-bytes-out",
                                        startTime=start, endTime=end)["metricDatumList"]
        self.assertEqual([d["value"] for d in datums], [{"count": 9000}])
        self.assertIsInstance(datums[0]["timestamp"], datetime.datetime)
        # A detached profile's alarms end as alarm-invalidated (engine decision).
        IOT.detach_security_profile(securityProfileName="B3Vio",
                                    securityProfileTargetArn=lib.arn("all", "registered-things"))
        self.assertEqual(IOT.list_active_violations(securityProfileName="B3Vio")
                         ["activeViolations"], [])

    def test_registry_paginators(self):
        for i in range(27):
            IOT.create_thing(thingName="B3Page%02d" % i)
        names = [t["thingName"] for p in IOT.get_paginator("list_things").paginate(
            PaginationConfig={"PageSize": 6}) for t in p["things"]]
        mine = [n for n in names if n.startswith("B3Page")]
        self.assertEqual(mine, ["B3Page%02d" % i for i in range(27)])
        self.assertEqual(len(names), len(set(names)))
        IOT.create_thing_group(thingGroupName="B3PageGroup")
        for i in range(9):
            IOT.add_thing_to_thing_group(thingGroupName="B3PageGroup",
                                         thingName="B3Page%02d" % i)
        members = [t for p in IOT.get_paginator("list_things_in_thing_group").paginate(
            thingGroupName="B3PageGroup", PaginationConfig={"PageSize": 2}) for t in p["things"]]
        self.assertEqual(members, ["B3Page%02d" % i for i in range(9)])
        doc = fixture("policies", "deny-all.json")
        for i in range(7):
            IOT.create_policy(policyName="B3Pol%d" % i, policyDocument=doc)
        pols = [p["policyName"] for page in IOT.get_paginator("list_policies").paginate(
            PaginationConfig={"PageSize": 3}) for p in page["policies"]]
        self.assertEqual(len(pols), len(set(pols)))
        self.assertTrue({"B3Pol%d" % i for i in range(7)} <= set(pols))
        certs = [IOT.create_keys_and_certificate()["certificateId"] for _ in range(3)]
        listed = [c["certificateId"] for page in IOT.get_paginator("list_certificates").paginate(
            PaginationConfig={"PageSize": 2}) for c in page["certificates"]]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertTrue(set(certs) <= set(listed))
        for i in range(3):
            IOT.attach_policy(policyName="B3Pol%d" % i,
                              target=lib.arn("thinggroup", "B3PageGroup"))
        attached = [p["policyName"] for page in IOT.get_paginator(
            "list_attached_policies").paginate(target=lib.arn("thinggroup", "B3PageGroup"),
                                               PaginationConfig={"PageSize": 1})
            for p in page["policies"]]
        self.assertEqual(attached, ["B3Pol0", "B3Pol1", "B3Pol2"])


class TestProfileUpdates(Boto3TestCase):
    def test_delete_behaviors_and_metrics_export_config(self):
        IOT.create_thing_group(thingGroupName="B3PatchGroup")
        IOT.create_thing(thingName="B3PatchThing")
        IOT.add_thing_to_thing_group(thingGroupName="B3PatchGroup", thingName="B3PatchThing")
        behaviors = MODULE4["behaviors"] + [
            {"name": "FewMessages", "metric": "aws:num-messages-sent",
             "criteria": {"comparisonOperator": "less-than", "value": {"count": 1000},
                          "durationSeconds": 300, "consecutiveDatapointsToAlarm": 1,
                          "consecutiveDatapointsToClear": 1}}]
        IOT.create_security_profile(
            securityProfileName="B3Patch", behaviors=behaviors,
            alertTargets=MODULE4["alertTargets"],
            additionalMetricsToRetainV2=MODULE4["additionalMetricsToRetainV2"])
        # Debian's botocore (1.29) predates metricsExportConfig: boto3 refuses the member
        # and drops it from responses, so those calls go over plain HTTP.
        export = {"mqttTopic": "$aws/things/B3PatchThing/exports",
                  "roleArn": "arn:aws:iam::123456789012:role/ddlocal-export-role"}
        path = "/security-profiles/B3Patch"
        status, out = lib.rest(SERVER.endpoint, "PATCH", path + "?expectedVersion=1",
                               {"metricsExportConfig": export})
        self.assertEqual((status, out.get("version")), (200, 2), out)
        self.assertEqual(lib.rest(SERVER.endpoint, "GET", path)[1]["metricsExportConfig"],
                         export)
        IOT.attach_security_profile(securityProfileName="B3Patch",
                                    securityProfileTargetArn=lib.arn("thinggroup", "B3PatchGroup"))
        SERVER.report("B3PatchThing", lib.bytes_out_report(1, 9000))
        active = IOT.list_active_violations(securityProfileName="B3Patch")["activeViolations"]
        self.assertEqual([(v["thingName"], v["behavior"]["name"]) for v in active],
                         [("B3PatchThing", "MoreBytesSent")])

        out = IOT.update_security_profile(securityProfileName="B3Patch", expectedVersion=2,
                                          deleteBehaviors=True)
        self.assertEqual(out["version"], 3)
        self.assertEqual(out.get("behaviors", []), [])
        desc = IOT.describe_security_profile(securityProfileName="B3Patch")
        self.assertEqual(desc.get("behaviors", []), [])
        self.assertEqual(desc["version"], 3)
        # Only the behaviors went: the rest of the profile and its target stay.
        self.assertEqual(desc["alertTargets"], MODULE4["alertTargets"])
        self.assertEqual(desc["additionalMetricsToRetainV2"],
                         MODULE4["additionalMetricsToRetainV2"])
        self.assertEqual(lib.rest(SERVER.endpoint, "GET", path)[1]["metricsExportConfig"],
                         export)
        self.assertEqual(IOT.list_targets_for_security_profile(securityProfileName="B3Patch")
                         ["securityProfileTargets"],
                         [{"arn": lib.arn("thinggroup", "B3PatchGroup")}])
        # The removed behavior's alarm ends at once, and no new one is raised.
        self.assertEqual(IOT.list_active_violations(securityProfileName="B3Patch")
                         ["activeViolations"], [])
        SERVER.report("B3PatchThing", lib.bytes_out_report(2, 9000))
        self.assertEqual(IOT.list_active_violations(securityProfileName="B3Patch")
                         ["activeViolations"], [])
        start = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        end = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
        events = IOT.list_violation_events(startTime=start, endTime=end,
                                           securityProfileName="B3Patch")["violationEvents"]
        self.assertEqual(sorted(e["violationEventType"] for e in events),
                         ["alarm-invalidated", "in-alarm"])

        status, out = lib.rest(SERVER.endpoint, "PATCH", path,
                               {"deleteMetricsExportConfig": True, "metricsExportConfig": export})
        self.assertEqual(status, 400, out)
        self.assertIn("deleteMetricsExportConfig cannot be true", out["message"])
        status, out = lib.rest(SERVER.endpoint, "PATCH", path + "?expectedVersion=3",
                               {"deleteMetricsExportConfig": True})
        self.assertEqual((status, out.get("version")), (200, 4), out)
        self.assertNotIn("metricsExportConfig", out)
        status, desc = lib.rest(SERVER.endpoint, "GET", path)
        self.assertEqual(status, 200)
        self.assertNotIn("metricsExportConfig", desc)
        self.assertEqual(desc["alertTargets"], MODULE4["alertTargets"])
        self.assertEqual(desc["additionalMetricsToRetainV2"],
                         MODULE4["additionalMetricsToRetainV2"])
        # Behaviors can be set again on the emptied profile.
        out = IOT.update_security_profile(securityProfileName="B3Patch", expectedVersion=4,
                                          behaviors=MODULE4["behaviors"])
        self.assertEqual(out["behaviors"], MODULE4["behaviors"])

    def test_list_security_profiles_by_dimension(self):
        IOT.create_dimension(name="B3TopicsA", type="TOPIC_FILTER", stringValues=["b3a/#"],
                             clientRequestToken="b3-topics-a")
        IOT.create_dimension(name="B3TopicsB", type="TOPIC_FILTER", stringValues=["b3b/#"],
                             clientRequestToken="b3-topics-b")

        def sent(dimension):
            b = {"name": "Sent", "metric": "aws:num-messages-sent",
                 "criteria": {"comparisonOperator": "less-than", "value": {"count": 10},
                              "durationSeconds": 300}}
            if dimension is not None:
                b["metricDimension"] = {"dimensionName": dimension, "operator": "IN"}
            return [b]

        IOT.create_security_profile(securityProfileName="B3DimA1", behaviors=sent("B3TopicsA"))
        IOT.create_security_profile(securityProfileName="B3DimA2", behaviors=sent("B3TopicsA"))
        IOT.create_security_profile(securityProfileName="B3DimB", behaviors=sent("B3TopicsB"))
        IOT.create_security_profile(securityProfileName="B3DimNone", behaviors=sent(None))

        def names(**kwargs):
            return sorted(p["name"] for page in IOT.get_paginator(
                "list_security_profiles").paginate(**kwargs)
                for p in page["securityProfileIdentifiers"])

        self.assertEqual(names(dimensionName="B3TopicsA"), ["B3DimA1", "B3DimA2"])
        self.assertEqual(names(dimensionName="B3TopicsB"), ["B3DimB"])
        # Paged one at a time, the filter still holds on every page.
        self.assertEqual(names(dimensionName="B3TopicsA", PaginationConfig={"PageSize": 1}),
                         ["B3DimA1", "B3DimA2"])
        ids = IOT.list_security_profiles(dimensionName="B3TopicsB")["securityProfileIdentifiers"]
        self.assertEqual(ids, [{"name": "B3DimB", "arn": lib.arn("securityprofile", "B3DimB")}])
        self.assertEqual(names(dimensionName="B3NoSuchDimension"), [])
        self.assertTrue({"B3DimA1", "B3DimA2", "B3DimB", "B3DimNone"} <= set(names()))
        # A profile no longer using the dimension drops out of the filter.
        IOT.update_security_profile(securityProfileName="B3DimA2", behaviors=sent(None))
        self.assertEqual(names(dimensionName="B3TopicsA"), ["B3DimA1"])
        self.assertError(IOT.exceptions.InvalidRequestException, 400,
                         IOT.list_security_profiles, dimensionName="B3TopicsA",
                         metricName="aws:num-messages-sent", contains="cannot be used together")


class TestPolicyVersions(Boto3TestCase):
    def test_versions_lifecycle(self):
        deny = fixture("policies", "deny-all.json")
        allow = fixture("policies", "device-policy-allow-all.json")
        out = IOT.create_policy(policyName="B3Ver", policyDocument=allow)
        self.assertEqual(out["policyVersionId"], "1")
        self.assertEqual(IOT.get_policy(policyName="B3Ver")["defaultVersionId"], "1")

        v2 = IOT.create_policy_version(policyName="B3Ver", policyDocument=deny)
        self.assertEqual(v2["policyVersionId"], "2")
        self.assertFalse(v2["isDefaultVersion"])
        self.assertEqual(v2["policyArn"], lib.arn("policy", "B3Ver"))
        self.assertEqual(IOT.get_policy(policyName="B3Ver")["defaultVersionId"], "1")

        v3 = IOT.create_policy_version(policyName="B3Ver", policyDocument=deny, setAsDefault=True)
        self.assertEqual(v3["policyVersionId"], "3")
        self.assertTrue(v3["isDefaultVersion"])
        got = IOT.get_policy(policyName="B3Ver")
        self.assertEqual(got["defaultVersionId"], "3")
        self.assertEqual(json.loads(got["policyDocument"]), json.loads(deny))

        one = IOT.get_policy_version(policyName="B3Ver", policyVersionId="1")
        self.assertEqual(one["policyName"], "B3Ver")
        self.assertEqual(one["policyVersionId"], "1")
        self.assertFalse(one["isDefaultVersion"])
        self.assertEqual(json.loads(one["policyDocument"]), json.loads(allow))
        self.assertIn("creationDate", one)

        listed = IOT.list_policy_versions(policyName="B3Ver")["policyVersions"]
        self.assertEqual([(v["versionId"], v["isDefaultVersion"]) for v in listed],
                         [("3", True), ("2", False), ("1", False)])
        self.assertTrue(all("createDate" in v for v in listed))

        IOT.set_default_policy_version(policyName="B3Ver", policyVersionId="1")
        self.assertEqual(IOT.get_policy(policyName="B3Ver")["defaultVersionId"], "1")
        IOT.delete_policy_version(policyName="B3Ver", policyVersionId="3")
        IOT.delete_policy_version(policyName="B3Ver", policyVersionId="2")
        self.assertEqual([v["versionId"] for v in IOT.list_policy_versions(
            policyName="B3Ver")["policyVersions"]], ["1"])
        # IDs are not reused.
        self.assertEqual(IOT.create_policy_version(policyName="B3Ver", policyDocument=deny)[
            "policyVersionId"], "4")

    def test_versions_errors(self):
        ex = IOT.exceptions
        allow = fixture("policies", "device-policy-allow-all.json")
        IOT.create_policy(policyName="B3VerErr", policyDocument=allow)
        self.assertError(ex.ResourceNotFoundException, 404, IOT.create_policy_version,
                         policyName="B3NoSuch", policyDocument=allow)
        self.assertError(ex.MalformedPolicyException, 400, IOT.create_policy_version,
                         policyName="B3VerErr", policyDocument="{}")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.get_policy_version,
                         policyName="B3VerErr", policyVersionId="7",
                         contains="Policy B3VerErr has no version 7")
        self.assertError(ex.InvalidRequestException, 400, IOT.get_policy_version,
                         policyName="B3VerErr", policyVersionId="v1",
                         contains="Invalid policy version ID")
        self.assertError(ex.DeleteConflictException, 409, IOT.delete_policy_version,
                         policyName="B3VerErr", policyVersionId="1",
                         contains="default version")
        for _ in range(4):
            IOT.create_policy_version(policyName="B3VerErr", policyDocument=allow)
        self.assertError(ex.VersionsLimitExceededException, 409, IOT.create_policy_version,
                         policyName="B3VerErr", policyDocument=allow, contains="5 versions")
        self.assertError(ex.DeleteConflictException, 409, IOT.delete_policy,
                         policyName="B3VerErr", contains="versions other than the default")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.set_default_policy_version,
                         policyName="B3VerErr", policyVersionId="6")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.list_policy_versions,
                         policyName="B3NoSuch")
        for v in ("2", "3", "4", "5"):
            IOT.delete_policy_version(policyName="B3VerErr", policyVersionId=v)
        IOT.delete_policy(policyName="B3VerErr")


class TestLoggingOptions(Boto3TestCase):
    ROLE = "arn:aws:iam::123456789012:role/IoTLogging"

    def server_log(self):
        with open(os.path.join(SERVER.tmp, "server.err"), encoding="utf-8") as f:
            return f.read()

    def test_v2_options_and_the_servers_own_level(self):
        ex = IOT.exceptions
        self.assertError(ex.NotConfiguredException, 404, IOT.get_v2_logging_options)
        IOT.set_v2_logging_options(roleArn=self.ROLE, defaultLogLevel="DEBUG")
        got = IOT.get_v2_logging_options()
        self.assertEqual((got["roleArn"], got["defaultLogLevel"], got["disableAllLogs"]),
                         (self.ROLE, "DEBUG", False))
        # DEBUG: the server logs refused requests (a debug line per 4xx) ...
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_thing,
                         thingName="B3LogDebugProbe")
        self.assertIn("B3LogDebugProbe", self.server_log())
        # ... disableAllLogs (and DISABLED, ERROR) keep only its errors.
        IOT.set_v2_logging_options(defaultLogLevel="INFO", disableAllLogs=True)
        got = IOT.get_v2_logging_options()
        self.assertNotIn("roleArn", got)
        self.assertTrue(got["disableAllLogs"])
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_thing,
                         thingName="B3LogQuietProbe")
        self.assertNotIn("B3LogQuietProbe", self.server_log())
        IOT.set_v2_logging_options(defaultLogLevel="DISABLED")
        self.assertEqual(IOT.get_v2_logging_options()["defaultLogLevel"], "DISABLED")
        self.assertError(ex.InvalidRequestException, 400, IOT.set_v2_logging_options,
                         roleArn="arn:aws:iot:us-east-1:123456789012:thing/T",
                         contains="expected an IAM role ARN")

    def test_v1_options(self):
        ex = IOT.exceptions
        self.assertEqual({k: v for k, v in IOT.get_logging_options().items()
                          if k != "ResponseMetadata"}, {})
        IOT.set_logging_options(loggingOptionsPayload={"roleArn": self.ROLE, "logLevel": "WARN"})
        got = IOT.get_logging_options()
        self.assertEqual((got["roleArn"], got["logLevel"]), (self.ROLE, "WARN"))
        self.assertError(ex.InvalidRequestException, 400, IOT.set_logging_options,
                         loggingOptionsPayload={"roleArn": "not-an-arn"},
                         contains="expected an IAM role ARN")
        self.assertEqual(IOT.get_logging_options()["logLevel"], "WARN")


OTHER_REGION = "eu-west-1"
OTHER_ACCOUNT = "111122223333"


def other_arn(kind, name):
    return "arn:aws:iot:%s:%s:%s/%s" % (OTHER_REGION, OTHER_ACCOUNT, kind, name)


class TestModelFindings(Boto3TestCase):
    """What the check against botocore's iot model found (issue 14, item 7)."""

    def test_duplicate_thing_group(self):
        ex = IOT.exceptions
        props = {"thingGroupDescription": "all sensors",
                 "attributePayload": {"attributes": {"site": "a", "floor": "2"}}}
        IOT.create_thing_group(thingGroupName="MfGroup2")
        first = IOT.create_thing_group(thingGroupName="MfGroup", thingGroupProperties=props)
        # An identical repeat (attributes in another order) answers the same group.
        again = IOT.create_thing_group(
            thingGroupName="MfGroup",
            thingGroupProperties={"thingGroupDescription": "all sensors",
                                  "attributePayload": {"attributes": {"floor": "2",
                                                                      "site": "a"}}})
        self.assertEqual(again["thingGroupId"], first["thingGroupId"])
        # Any other definition is a conflict naming the existing group.
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_thing_group,
                                thingGroupName="MfGroup",
                                thingGroupProperties={"thingGroupDescription": "other"},
                                contains="different definition")
        self.assertEqual(resp["resourceId"], first["thingGroupId"])
        self.assertEqual(resp["resourceArn"], first["thingGroupArn"])
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_thing_group,
                         thingGroupName="MfGroup", thingGroupProperties=props,
                         parentGroupName="MfGroup2")
        self.assertEqual(IOT.describe_thing_group(
            thingGroupName="MfGroup")["thingGroupProperties"]["thingGroupDescription"],
            "all sensors")

    def test_modelled_error_codes(self):
        ex = IOT.exceptions
        self.assertError(ex.InvalidRequestException, 400, IOT.create_thing_group,
                         thingGroupName="MfOrphan", parentGroupName="MfNoSuchParent",
                         contains="MfNoSuchParent does not exist")
        self.assertError(ex.InvalidRequestException, 400, IOT.detach_policy,
                         policyName="MfNoSuchPolicy", target=lib.arn("thinggroup", "MfGroup"),
                         contains="MfNoSuchPolicy")
        self.assertError(ex.InvalidRequestException, 400,
                         IOT.put_verification_state_on_violation,
                         violationId="mf-no-such-violation", verificationState="TRUE_POSITIVE",
                         contains="does not exist")

    def test_client_request_tokens(self):
        ex = IOT.exceptions
        first = IOT.create_custom_metric(metricName="MfTokMetric", metricType="number",
                                         clientRequestToken="mf-tok-1")
        # An identical retry (what the SDK sends after a timeout) gets the first answer.
        again = IOT.create_custom_metric(metricName="MfTokMetric", metricType="number",
                                         clientRequestToken="mf-tok-1")
        self.assertEqual(again["metricArn"], first["metricArn"])
        # A new call (botocore fills in a fresh token): it exists.
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_custom_metric,
                                metricName="MfTokMetric", metricType="number")
        self.assertEqual(resp["resourceId"], "MfTokMetric")
        # The token with another request: refused, naming what the token made.
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_custom_metric,
                                metricName="MfTokOther", metricType="number",
                                clientRequestToken="mf-tok-1", contains="mf-tok-1")
        self.assertEqual(resp["resourceId"], "MfTokMetric")
        self.assertEqual(resp["resourceArn"], first["metricArn"])
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_custom_metric,
                         metricName="MfTokOther")

        dim = IOT.create_dimension(name="MfTokDim", type="TOPIC_FILTER",
                                   stringValues=["mf/+/x"], clientRequestToken="mf-tok-1")
        again = IOT.create_dimension(name="MfTokDim", type="TOPIC_FILTER",
                                     stringValues=["mf/+/x"], clientRequestToken="mf-tok-1")
        self.assertEqual(again["arn"], dim["arn"])
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_dimension,
                         name="MfTokDim", type="TOPIC_FILTER", stringValues=["mf/+/x"])
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_dimension,
                                name="MfTokDim", type="TOPIC_FILTER", stringValues=["mf/+/y"],
                                clientRequestToken="mf-tok-1")
        self.assertEqual(resp["resourceId"], "MfTokDim")
        self.assertEqual(IOT.describe_dimension(name="MfTokDim")["stringValues"], ["mf/+/x"])

    def test_describe_endpoint_is_a_plain_host_on_8883(self):
        # The test server's broker is on 8883: the SDKs add the port themselves.
        self.assertEqual(IOT.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"],
                         "127.0.0.1")


class TestProvisioningApi(Boto3TestCase):
    """UpdateThing and thing types (issue 14, item 7)."""

    def test_update_thing(self):
        ex = IOT.exceptions
        IOT.create_thing(thingName="PvThing", attributePayload={"attributes": {"a": "1", "b": "2"}})
        self.assertEqual(IOT.describe_thing(thingName="PvThing")["version"], 1)
        # merge: changed, added, and an empty value removes.
        IOT.update_thing(thingName="PvThing", attributePayload={
            "attributes": {"a": "9", "b": "", "c": "3"}, "merge": True}, expectedVersion=1)
        d = IOT.describe_thing(thingName="PvThing")
        self.assertEqual(d["attributes"], {"a": "9", "c": "3"})
        self.assertEqual(d["version"], 2)
        # without merge: replaced.
        IOT.update_thing(thingName="PvThing", attributePayload={"attributes": {"z": "0"}})
        self.assertEqual(IOT.describe_thing(thingName="PvThing")["attributes"], {"z": "0"})
        self.assertError(ex.VersionConflictException, 409, IOT.update_thing,
                         thingName="PvThing", expectedVersion=1,
                         attributePayload={"attributes": {"z": "1"}})
        self.assertError(ex.ResourceNotFoundException, 404, IOT.update_thing,
                         thingName="PvNobody", attributePayload={"attributes": {"z": "1"}})
        self.assertError(ex.InvalidRequestException, 400, IOT.update_thing,
                         thingName="PvThing", thingTypeName="PvType", removeThingType=True)

    def test_thing_types(self):
        ex = IOT.exceptions
        created = IOT.create_thing_type(
            thingTypeName="PvType",
            thingTypeProperties={"thingTypeDescription": "a sensor",
                                 "searchableAttributes": ["site"]},
            tags=[{"Key": "team", "Value": "x"}])
        self.assertEqual(created["thingTypeArn"], lib.arn("thingtype", "PvType"))
        again = IOT.create_thing_type(
            thingTypeName="PvType",
            thingTypeProperties={"thingTypeDescription": "a sensor",
                                 "searchableAttributes": ["site"]})
        self.assertEqual(again["thingTypeId"], created["thingTypeId"])
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.create_thing_type,
                         thingTypeName="PvType",
                         thingTypeProperties={"thingTypeDescription": "other"})
        d = IOT.describe_thing_type(thingTypeName="PvType")
        self.assertEqual(d["thingTypeId"], created["thingTypeId"])
        self.assertEqual(d["thingTypeProperties"],
                         {"thingTypeDescription": "a sensor", "searchableAttributes": ["site"]})
        self.assertFalse(d["thingTypeMetadata"]["deprecated"])
        self.assertIsInstance(d["thingTypeMetadata"]["creationDate"], datetime.datetime)
        names = [t["thingTypeName"] for p in IOT.get_paginator("list_thing_types").paginate()
                 for t in p["thingTypes"]]
        self.assertIn("PvType", names)
        self.assertEqual([t["thingTypeName"] for t in IOT.list_thing_types(
            thingTypeName="PvType")["thingTypes"]], ["PvType"])
        # CreateThing / UpdateThing with a type.
        self.assertError(ex.ResourceNotFoundException, 404, IOT.create_thing,
                         thingName="PvTyped", thingTypeName="PvNoType",
                         contains="PvNoType does not exist")
        IOT.create_thing(thingName="PvTyped", thingTypeName="PvType")
        self.assertEqual(IOT.describe_thing(thingName="PvTyped")["thingTypeName"], "PvType")
        IOT.create_thing(thingName="PvUntyped")
        IOT.update_thing(thingName="PvUntyped", thingTypeName="PvType")
        self.assertEqual(IOT.describe_thing(thingName="PvUntyped")["thingTypeName"], "PvType")
        IOT.update_thing(thingName="PvUntyped", removeThingType=True)
        self.assertNotIn("thingTypeName", IOT.describe_thing(thingName="PvUntyped"))
        # Deprecated: no new things of the type; deletion waits 5 minutes.
        self.assertError(ex.InvalidRequestException, 400, IOT.delete_thing_type,
                         thingTypeName="PvType", contains="must be deprecated")
        IOT.deprecate_thing_type(thingTypeName="PvType")
        meta = IOT.describe_thing_type(thingTypeName="PvType")["thingTypeMetadata"]
        self.assertTrue(meta["deprecated"])
        self.assertIsInstance(meta["deprecationDate"], datetime.datetime)
        self.assertError(ex.InvalidRequestException, 400, IOT.create_thing,
                         thingName="PvLate", thingTypeName="PvType", contains="deprecated")
        self.assertError(ex.InvalidRequestException, 400, IOT.delete_thing_type,
                         thingTypeName="PvType", contains="5 minutes")
        IOT.deprecate_thing_type(thingTypeName="PvType", undoDeprecate=True)
        self.assertFalse(IOT.describe_thing_type(
            thingTypeName="PvType")["thingTypeMetadata"]["deprecated"])
        IOT.create_thing(thingName="PvLate", thingTypeName="PvType")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_thing_type,
                         thingTypeName="PvNoType")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.deprecate_thing_type,
                         thingTypeName="PvNoType")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.delete_thing_type,
                         thingTypeName="PvNoType")


FLEET_TEMPLATE = {
    "Parameters": {"SerialNumber": {"Type": "String"},
                   "AWS::IoT::Certificate::Id": {"Type": "String"}},
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing",
                  "Properties": {"ThingName": {"Fn::Join": ["", ["dev-", {"Ref": "SerialNumber"}]]}}},
        "certificate": {"Type": "AWS::IoT::Certificate",
                        "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                       "Status": "Active"}},
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "FleetPolicy"}},
    },
}
ROLE = "arn:aws:iam::123456789012:role/Provisioning"


class TestProvisioningTemplates(Boto3TestCase):
    """Provisioning templates and their versions (issue 14, item 7: fleet provisioning)."""

    def test_template_lifecycle(self):
        ex = IOT.exceptions
        body = json.dumps(FLEET_TEMPLATE)
        created = IOT.create_provisioning_template(
            templateName="PtFleet", description="claim", templateBody=body, enabled=True,
            provisioningRoleArn=ROLE, tags=[{"Key": "team", "Value": "x"}])
        arn = lib.arn("provisioningtemplate", "PtFleet")
        self.assertEqual(created["templateArn"], arn)
        self.assertEqual(created["templateName"], "PtFleet")
        self.assertEqual(created["defaultVersionId"], 1)
        self.assertError(ex.ResourceAlreadyExistsException, 409,
                         IOT.create_provisioning_template, templateName="PtFleet",
                         templateBody=body, provisioningRoleArn=ROLE)
        d = IOT.describe_provisioning_template(templateName="PtFleet")
        self.assertEqual(json.loads(d["templateBody"]), FLEET_TEMPLATE)
        self.assertEqual((d["templateArn"], d["description"], d["enabled"], d["type"],
                          d["defaultVersionId"], d["provisioningRoleArn"]),
                         (arn, "claim", True, "FLEET_PROVISIONING", 1, ROLE))
        self.assertIsInstance(d["creationDate"], datetime.datetime)
        self.assertNotIn("preProvisioningHook", d)
        self.assertEqual(IOT.list_tags_for_resource(resourceArn=arn)["tags"],
                         [{"Key": "team", "Value": "x"}])

        IOT.create_provisioning_template(templateName="PtOther", templateBody=body,
                                         provisioningRoleArn=ROLE)
        pages = list(IOT.get_paginator("list_provisioning_templates").paginate(
            PaginationConfig={"PageSize": 1}))
        names = [t["templateName"] for p in pages for t in p["templates"]]
        self.assertEqual([n for n in names if n.startswith("Pt")], ["PtFleet", "PtOther"])
        summary = [t for p in pages for t in p["templates"] if t["templateName"] == "PtOther"][0]
        self.assertFalse(summary["enabled"])
        self.assertNotIn("templateBody", summary)

        IOT.update_provisioning_template(
            templateName="PtFleet", enabled=False, description="off",
            preProvisioningHook={"targetArn": "arn:aws:lambda:us-east-1:123456789012:function:f"})
        d = IOT.describe_provisioning_template(templateName="PtFleet")
        self.assertEqual((d["enabled"], d["description"]), (False, "off"))
        self.assertEqual(d["preProvisioningHook"]["targetArn"],
                         "arn:aws:lambda:us-east-1:123456789012:function:f")
        IOT.update_provisioning_template(templateName="PtFleet", removePreProvisioningHook=True)
        self.assertNotIn("preProvisioningHook",
                         IOT.describe_provisioning_template(templateName="PtFleet"))

        # Versions: 2 made the default, the default cannot be deleted, at most 5.
        v2 = dict(FLEET_TEMPLATE, Parameters=dict(FLEET_TEMPLATE["Parameters"],
                                                  Site={"Type": "String", "Default": "lab"}))
        made = IOT.create_provisioning_template_version(
            templateName="PtFleet", templateBody=json.dumps(v2), setAsDefault=True)
        self.assertEqual((made["versionId"], made["isDefaultVersion"]), (2, True))
        self.assertEqual(IOT.describe_provisioning_template(
            templateName="PtFleet")["defaultVersionId"], 2)
        self.assertEqual(json.loads(IOT.describe_provisioning_template_version(
            templateName="PtFleet", versionId=1)["templateBody"]), FLEET_TEMPLATE)
        versions = IOT.list_provisioning_template_versions(templateName="PtFleet")["versions"]
        self.assertEqual([(v["versionId"], v["isDefaultVersion"]) for v in versions],
                         [(2, True), (1, False)])
        self.assertError(ex.DeleteConflictException, 409,
                         IOT.delete_provisioning_template_version, templateName="PtFleet",
                         versionId=2)
        IOT.update_provisioning_template(templateName="PtFleet", defaultVersionId=1)
        IOT.delete_provisioning_template_version(templateName="PtFleet", versionId=2)
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.describe_provisioning_template_version, templateName="PtFleet",
                         versionId=2)
        for _ in range(4):
            IOT.create_provisioning_template_version(templateName="PtFleet", templateBody=body)
        self.assertError(ex.VersionsLimitExceededException, 409,
                         IOT.create_provisioning_template_version, templateName="PtFleet",
                         templateBody=body)

        IOT.delete_provisioning_template(templateName="PtFleet")
        IOT.delete_provisioning_template(templateName="PtOther")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_provisioning_template,
                         templateName="PtFleet")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.delete_provisioning_template,
                         templateName="PtFleet")

    def test_template_refusals(self):
        ex = IOT.exceptions
        # Outside the supported language: a clear error, nothing created.
        for body, words in (
                ("{not json", "not valid JSON"),
                (json.dumps({"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {
                    "ThingName": {"Fn::Sub": "a-${X}"}}}}}), "Fn::Sub"),
                (json.dumps({"Conditions": {}, "Resources": {}}), "Conditions"),
                (json.dumps({"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {
                    "ThingName": {"Ref": "Nope"}}}}}), "Nope")):
            self.assertError(ex.InvalidRequestException, 400, IOT.create_provisioning_template,
                             templateName="PtBad", templateBody=body, provisioningRoleArn=ROLE,
                             contains=words)
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_provisioning_template,
                         templateName="PtBad")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_provisioning_template,
                         templateName="bad name", templateBody=json.dumps(FLEET_TEMPLATE),
                         provisioningRoleArn=ROLE)
        self.assertError(ex.ResourceNotFoundException, 404,
                         IOT.create_provisioning_template_version, templateName="PtNone",
                         templateBody=json.dumps(FLEET_TEMPLATE))
        self.assertError(ex.ResourceNotFoundException, 404, IOT.update_provisioning_template,
                         templateName="PtNone", enabled=True)


class TestCertificateFromCsr(Boto3TestCase):
    def test_create_certificate_from_csr(self):
        ex = IOT.exceptions
        work = os.path.join(SERVER.tmp, "csr")
        os.makedirs(work, exist_ok=True)
        key = os.path.join(work, "device.key")
        csr_path = os.path.join(work, "device.csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-subj", "/CN=csr-device-1", "-out", csr_path],
                       check=True, capture_output=True)
        with open(csr_path) as f:
            csr = f.read()
        out = IOT.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
        self.assertEqual(out["certificateArn"], lib.arn("cert", out["certificateId"]))
        desc = IOT.describe_certificate(certificateId=out["certificateId"])
        self.assertEqual(desc["certificateDescription"]["status"], "ACTIVE")
        self.assertEqual(desc["certificateDescription"]["certificatePem"], out["certificatePem"])
        cert_path = os.path.join(work, "device.pem")
        with open(cert_path, "w") as f:
            f.write(out["certificatePem"])
        # Signed by the data dir's CA, for the CSR's key, with the CSR's subject.
        ca = os.path.join(SERVER.data_dir, "pki", "rootca.pem")
        subprocess.run(["openssl", "verify", "-CAfile", ca, cert_path], check=True,
                       capture_output=True)
        subject = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-subject"],
                                 check=True, capture_output=True, text=True).stdout
        self.assertIn("csr-device-1", subject)
        pub_cert = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                                  check=True, capture_output=True, text=True).stdout
        pub_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                                 check=True, capture_output=True, text=True).stdout
        self.assertEqual(pub_cert, pub_key)
        # Inactive unless setAsActive.
        out = IOT.create_certificate_from_csr(certificateSigningRequest=csr)
        self.assertEqual(IOT.describe_certificate(certificateId=out["certificateId"])[
            "certificateDescription"]["status"], "INACTIVE")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_certificate_from_csr,
                         certificateSigningRequest="not a csr",
                         contains="certificate signing request")


class TestTags(Boto3TestCase):
    """TagResource, UntagResource, ListTagsForResource and the `tags` of Create calls."""

    def tags(self, arn):
        return {t["Key"]: t["Value"] for p in IOT.get_paginator("list_tags_for_resource").paginate(
            resourceArn=arn) for t in p["tags"]}

    def test_tags_of_every_taggable_kind(self):
        ex = IOT.exceptions
        t = [{"Key": "team", "Value": "red"}]
        arns = [
            IOT.create_thing_group(thingGroupName="TgGroup", tags=t)["thingGroupArn"],
            IOT.create_thing_type(thingTypeName="TgType", tags=t)["thingTypeArn"],
            IOT.create_policy(policyName="TgPolicy", tags=t,
                              policyDocument=fixture("policies", "deny-all.json"))["policyArn"],
            IOT.create_security_profile(securityProfileName="TgProfile",
                                        tags=t)["securityProfileArn"],
            IOT.create_custom_metric(metricName="TgMetric", metricType="number",
                                     tags=t)["metricArn"],
            IOT.create_dimension(name="TgDim", type="TOPIC_FILTER", stringValues=["a/#"],
                                 tags=t)["arn"],
            IOT.create_mitigation_action(
                actionName="TgAction", roleArn=lib.arn("role", "x").replace(":iot:", ":iam:"),
                actionParams={"addThingsToThingGroupParams": {"thingGroupNames": ["TgGroup"]}},
                tags=t)["actionArn"],
        ]
        for arn in arns:
            self.assertEqual(self.tags(arn), {"team": "red"}, arn)
            IOT.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "blue"},
                                                    {"Key": "env", "Value": "ci"}])
            self.assertEqual(self.tags(arn), {"team": "blue", "env": "ci"}, arn)
            IOT.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
            self.assertEqual(self.tags(arn), {"env": "ci"}, arn)
        # Paging: 30 tags in pages of 25.
        many = [{"Key": "k%02d" % i, "Value": str(i)} for i in range(30)]
        IOT.tag_resource(resourceArn=arns[0], tags=many)
        first = IOT.list_tags_for_resource(resourceArn=arns[0])
        self.assertEqual(len(first["tags"]), 25)
        self.assertIn("nextToken", first)
        self.assertEqual(len(self.tags(arns[0])), 31)
        # 50 at most.
        self.assertError(ex.LimitExceededException, 410, IOT.tag_resource, resourceArn=arns[0],
                         tags=[{"Key": "x%02d" % i, "Value": ""} for i in range(20)])
        self.assertEqual(len(self.tags(arns[0])), 31)
        # A resource made again under a deleted one's name starts without its tags.
        IOT.delete_dimension(name="TgDim")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.list_tags_for_resource,
                         resourceArn=arns[5])
        IOT.create_dimension(name="TgDim", type="TOPIC_FILTER", stringValues=["a/#"])
        self.assertEqual(self.tags(arns[5]), {})

    def test_refusals(self):
        ex = IOT.exceptions
        IOT.create_thing(thingName="TgThing")
        self.assertError(ex.InvalidRequestException, 400, IOT.tag_resource,
                         resourceArn=lib.arn("thing", "TgThing"),
                         tags=[{"Key": "a", "Value": "b"}], contains="Things cannot be tagged")
        self.assertError(ex.ResourceNotFoundException, 404, IOT.tag_resource,
                         resourceArn=lib.arn("thinggroup", "TgNoGroup"),
                         tags=[{"Key": "a", "Value": "b"}])
        self.assertError(ex.InvalidRequestException, 400, IOT.list_tags_for_resource,
                         resourceArn="arn:aws:s3:::bucket")
        self.assertError(ex.InvalidRequestException, 400, IOT.create_thing_group,
                         thingGroupName="TgReserved", tags=[{"Key": "aws:x", "Value": "b"}])
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_thing_group,
                         thingGroupName="TgReserved")


class TestRegionAndAccount(Boto3TestCase):
    """A second server started with --region/--account: its ARNs carry them, and
    ARNs of another region or account are refused where the API parses one."""

    @classmethod
    def setUpClass(cls):
        cls.server = lib.TestServer(BINARY, ["--region", OTHER_REGION,
                                             "--account", OTHER_ACCOUNT])
        cls.iot = boto3.client("iot", endpoint_url=cls.server.endpoint, region_name=OTHER_REGION,
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=botocore.config.Config(retries={"mode": "standard",
                                                                      "max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        cls.iot.close()
        cls.server.stop()

    def test_arns_use_the_configured_region_and_account(self):
        iot = self.iot
        out = iot.create_thing(thingName="EuThing")
        self.assertEqual(out["thingArn"], other_arn("thing", "EuThing"))
        self.assertEqual(iot.describe_thing(thingName="EuThing")["thingArn"],
                         other_arn("thing", "EuThing"))
        out = iot.create_thing_group(thingGroupName="EuGroup")
        self.assertEqual(out["thingGroupArn"], other_arn("thinggroup", "EuGroup"))
        out = iot.create_security_profile(securityProfileName="EuProfile",
                                          behaviors=MODULE4["behaviors"])
        self.assertEqual(out["securityProfileArn"], other_arn("securityprofile", "EuProfile"))
        self.assertEqual(iot.describe_security_profile(securityProfileName="EuProfile")
                         ["securityProfileArn"], other_arn("securityprofile", "EuProfile"))
        listed = iot.list_security_profiles()["securityProfileIdentifiers"]
        self.assertIn({"name": "EuProfile", "arn": other_arn("securityprofile", "EuProfile")},
                      listed)
        self.assertEqual([p["arn"] for p in listed],
                         [other_arn("securityprofile", p["name"]) for p in listed])
        cert = iot.create_keys_and_certificate(setAsActive=True)
        cert_arn = other_arn("cert", cert["certificateId"])
        self.assertEqual(cert["certificateArn"], cert_arn)
        self.assertEqual(iot.describe_certificate(certificateId=cert["certificateId"])
                         ["certificateDescription"]["certificateArn"], cert_arn)
        doc = fixture("policies", "deny-all.json")
        out = iot.create_policy(policyName="EuPolicy", policyDocument=doc)
        self.assertEqual(out["policyArn"], other_arn("policy", "EuPolicy"))
        self.assertEqual(iot.get_policy(policyName="EuPolicy")["policyArn"],
                         other_arn("policy", "EuPolicy"))
        out = iot.create_dimension(name="EuTopics", type="TOPIC_FILTER", stringValues=["eu/#"],
                                   clientRequestToken="eu-topics")
        self.assertEqual(out["arn"], other_arn("dimension", "EuTopics"))
        out = iot.create_custom_metric(metricName="EuMetric", metricType="number",
                                       clientRequestToken="eu-metric")
        self.assertEqual(out["metricArn"], other_arn("custommetric", "EuMetric"))
        # ARNs of this region and account are accepted where a request carries one.
        iot.attach_thing_principal(thingName="EuThing", principal=cert_arn)
        self.assertEqual(iot.list_thing_principals(thingName="EuThing")["principals"],
                         [cert_arn])
        iot.attach_policy(policyName="EuPolicy", target=cert_arn)
        iot.attach_policy(policyName="EuPolicy", target=other_arn("thinggroup", "EuGroup"))
        self.assertEqual([p["policyArn"] for p in iot.list_attached_policies(
            target=other_arn("thinggroup", "EuGroup"))["policies"]],
            [other_arn("policy", "EuPolicy")])
        iot.add_thing_to_thing_group(thingGroupArn=other_arn("thinggroup", "EuGroup"),
                                     thingArn=other_arn("thing", "EuThing"))
        iot.attach_security_profile(securityProfileName="EuProfile",
                                    securityProfileTargetArn=other_arn("all", "things"))
        self.assertEqual(iot.list_targets_for_security_profile(securityProfileName="EuProfile")
                         ["securityProfileTargets"], [{"arn": other_arn("all", "things")}])
        # Violations name the profile by name; the thing's ARN in errors carries the context.
        self.server.report("EuThing", lib.bytes_out_report(1, 9000))
        self.assertEqual([v["thingName"] for v in iot.list_active_violations(
            securityProfileName="EuProfile")["activeViolations"]], ["EuThing"])
        resp = self.assertError(iot.exceptions.ResourceAlreadyExistsException, 409,
                                iot.create_thing, thingName="EuThing",
                                attributePayload={"attributes": {"a": "b"}})
        self.assertEqual(resp["resourceArn"], other_arn("thing", "EuThing"))
        self.assertEqual(iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"],
                         "127.0.0.1")

    def test_arns_of_another_region_or_account_are_refused(self):
        iot = self.iot
        ex = iot.exceptions
        iot.create_thing(thingName="EuRefThing")
        iot.create_thing_group(thingGroupName="EuRefGroup")
        iot.create_security_profile(securityProfileName="EuRefProfile")
        iot.create_policy(policyName="EuRefPolicy",
                          policyDocument=fixture("policies", "deny-all.json"))
        cert_id = iot.create_keys_and_certificate(setAsActive=True)["certificateId"]
        home = "arn:aws:iot:%s:%s" % (lib.REGION, lib.ACCOUNT)             # default account
        region = "arn:aws:iot:%s:%s" % (lib.REGION, OTHER_ACCOUNT)         # right account
        for prefix in (home, region):
            target = "%s:all/things" % prefix
            self.assertError(ex.InvalidRequestException, 400, iot.attach_security_profile,
                             securityProfileName="EuRefProfile", securityProfileTargetArn=target,
                             contains="securityProfileTargetArn '%s' is not a security profile "
                                      "target of %s:%s" % (target, OTHER_REGION, OTHER_ACCOUNT))
            cert_arn = "%s:cert/%s" % (prefix, cert_id)
            self.assertError(ex.InvalidRequestException, 400, iot.attach_thing_principal,
                             thingName="EuRefThing", principal=cert_arn,
                             contains="Principal '%s' is not a certificate ARN of %s:%s"
                                      % (cert_arn, OTHER_REGION, OTHER_ACCOUNT))
            self.assertError(ex.InvalidRequestException, 400, iot.attach_policy,
                             policyName="EuRefPolicy", target=cert_arn,
                             contains="Invalid policy target '%s'" % cert_arn)
            group_arn = "%s:thinggroup/EuRefGroup" % prefix
            self.assertError(ex.InvalidRequestException, 400, iot.attach_policy,
                             policyName="EuRefPolicy", target=group_arn,
                             contains="Invalid policy target '%s'" % group_arn)
            # The target of ListAttachedPolicies travels in the path.
            self.assertError(ex.InvalidRequestException, 400, iot.list_attached_policies,
                             target=group_arn, contains="Invalid policy target '%s'" % group_arn)
            thing_arn = "%s:thing/EuRefThing" % prefix
            self.assertError(ex.InvalidRequestException, 400, iot.add_thing_to_thing_group,
                             thingGroupName="EuRefGroup", thingArn=thing_arn,
                             contains="thingArn '%s' is not a thing ARN of %s:%s"
                                      % (thing_arn, OTHER_REGION, OTHER_ACCOUNT))
            self.assertError(ex.InvalidRequestException, 400,
                             iot.list_security_profiles_for_target,
                             securityProfileTargetArn="%s:thinggroup/EuRefGroup" % prefix,
                             contains="is not a security profile target of %s:%s"
                                      % (OTHER_REGION, OTHER_ACCOUNT))
        # None of them changed anything.
        self.assertEqual(iot.list_thing_principals(thingName="EuRefThing")["principals"], [])
        self.assertEqual(iot.list_targets_for_security_profile(
            securityProfileName="EuRefProfile")["securityProfileTargets"], [])
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName="EuRefGroup")["things"],
                         [])
        self.assertEqual(iot.list_targets_for_policy(policyName="EuRefPolicy")["targets"], [])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_api_boto3.py PATH/TO/dd_api_testserver")
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
