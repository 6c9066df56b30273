"""Device Defender tests against ddlocal with the pytest plugin (docs/ci.md).

Run: pytest -p pytest_ddlocal docs/recipes/test_ci_pytest.py
"""
import json

PROFILE = {
    "securityProfileName": "NoBigSenders",
    "behaviors": [{
        "name": "MoreBytesSent",
        "metric": "aws:all-bytes-out",
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 200},
                     "durationSeconds": 300, "consecutiveDatapointsToAlarm": 1,
                     "consecutiveDatapointsToClear": 1},
    }],
    "alertTargets": {"SNS": {"alertTargetArn": "arn:aws:sns:us-east-1:123456789012:Alerts",
                             "roleArn": "arn:aws:iam::123456789012:role/alerts"}},
}
ALL_THINGS = "arn:aws:iot:us-east-1:123456789012:all/things"


def test_provisioning(iot, device):
    dev = device("Sensor01", attributes={"model": "dht22"})
    assert [t["thingName"] for t in iot.list_things()["things"]] == ["Sensor01"]
    assert iot.list_thing_principals(thingName="Sensor01")["principals"] == [dev.certificate_arn]
    assert dev.report(bytes_out=100)["result"] == "accepted"


def test_big_sender_is_in_alarm(ddlocal, iot, device, clock):
    iot.create_security_profile(**PROFILE)
    iot.attach_security_profile(securityProfileName="NoBigSenders",
                                securityProfileTargetArn=ALL_THINGS)
    quiet, loud = device("Quiet01"), device("Loud01")
    quiet.report(bytes_out=50)
    loud.report(bytes_out=5000)
    clock.advance(300)

    alert = ddlocal.wait_for_alert(thing="Loud01", profile="NoBigSenders", timeout=30)
    assert alert["behavior"] == "MoreBytesSent"
    active = iot.list_active_violations()["activeViolations"]
    assert [(v["thingName"], v["lastViolationValue"]) for v in active] == [
        ("Loud01", {"count": 5000})]


def test_quarantined_device_is_refused(iot, device):
    dev = device("Sensor02")
    dev.publish("telemetry/Sensor02", json.dumps({"temperature": 21.5}))
    iot.create_thing_group(thingGroupName="Quarantine")
    iot.create_policy(policyName="DenyAll", policyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iot:*", "Resource": "*"}]}))
    iot.attach_policy(policyName="DenyAll",
                      target="arn:aws:iot:us-east-1:123456789012:thinggroup/Quarantine")
    iot.add_thing_to_thing_group(thingGroupName="Quarantine", thingName="Sensor02")

    refused = dev.publish("telemetry/Sensor02", "{}", check=False)
    assert refused.returncode != 0 and "not authorised" in refused.stderr
