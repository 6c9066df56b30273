"""pytest_ddlocal's own tests (docs/reference/pytest.md): what the fixtures promise.

Run with the plugin and pytester: ctest -R pytest_plugin, or
  PYTHONPATH=python DDLOCAL_BIN=build/cli/ddlocal DDLOCAL_AGENT=build/device/ddlocal-agent \
      pytest -p pytest_ddlocal -p pytester tests/pytest
The tests run in file order: the first two show the reset between tests.
"""
import json

import pytest

from pytest_ddlocal import Ddlocal, DdlocalError, DdlocalTimeout


def test_state_made_by_a_test(iot, device):
    device("Leftover01")
    iot.create_thing_group(thingGroupName="LeftoverGroup")
    assert len(iot.list_things()["things"]) == 1


def test_is_gone_in_the_next(iot, ddlocal):
    assert iot.list_things()["things"] == []
    assert iot.list_thing_groups()["thingGroups"] == []
    assert iot.list_policies()["policies"] == []
    # A wait counts only events after the reset: the last test's reports are not seen.
    with pytest.raises(DdlocalTimeout):
        ddlocal.wait_for_report(thing="Leftover01", timeout=0)


def test_rejected_report_and_what_a_timeout_says(ddlocal, device):
    dev = device("Bad01")
    event = dev.report(payload="this is not json", expect="rejected")
    assert event["thing"] == "Bad01" and event["reason"]
    with pytest.raises(DdlocalTimeout) as e:
        ddlocal.wait_for_violation(thing="Bad01", timeout=0.5)
    # The failure shows what came instead: the rejected report.
    assert "no violation event with thing=Bad01" in str(e.value)
    assert '"result": "rejected"' in str(e.value)
    with pytest.raises(AssertionError, match="rejected, not accepted"):
        dev.report(payload="{}")


def test_subscribe_then_publish(device):
    a, b = device("Pub01"), device("Sub01")
    sub = b.subscribe("telemetry/room1", count=2, timeout=30)
    a.publish("telemetry/room1", "21.5")
    a.publish("telemetry/room1", json.dumps({"t": 22}))
    assert sub.messages() == ["21.5", '{"t": 22}']


def test_agent_reports_are_accepted(ddlocal, device):
    dev = device("Agent01")
    out = dev.agent(count=1)
    assert out.returncode == 0, out.stderr
    assert ddlocal.wait_for_report(thing="Agent01", result="accepted", timeout=10)


def test_clock_advance_and_group_wait(ddlocal, iot, device, clock):
    before = clock.now()
    assert clock.advance(300) == before + 300000
    assert clock.now() == before + 300000
    device("Moved01")
    iot.create_thing_group(thingGroupName="Quarantine")
    iot.add_thing_to_thing_group(thingGroupName="Quarantine", thingName="Moved01")
    event = ddlocal.wait_for_group(thing="Moved01", group="Quarantine", timeout=10)
    assert event["change"] == "added"


def test_missing_program_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DDLOCAL_BIN", raising=False)
    with pytest.raises(DdlocalError, match="ddlocal not found: /no/such/ddlocal"):
        Ddlocal(tmp_path, ddlocal="/no/such/ddlocal")


def test_a_session_that_cannot_start_fails_cleanly(pytester):
    pytester.makepyfile("def test_x(iot):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "pytest_ddlocal",
                                           "--ddlocal-bin", "/no/such/ddlocal")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ddlocal could not be started: ddlocal not found*"])


def test_a_running_pipeline_is_used_and_left_running(pytester, ddlocal):
    pytester.makepyfile("""
def test_attached(ddlocal, iot):
    assert ddlocal.data_dir == %r and not ddlocal.started
    iot.create_thing(thingName="FromInner")
""" % ddlocal.data_dir)
    result = pytester.runpytest_subprocess("-p", "pytest_ddlocal", "--ddlocal-bin", ddlocal.bin,
                                           "--ddlocal-data-dir", ddlocal.data_dir)
    result.assert_outcomes(passed=1)
    assert ddlocal.running()
    names = [t["thingName"] for t in ddlocal.iot_client().list_things()["things"]]
    assert names == ["FromInner"]
