#!/usr/bin/python3
"""POST /ddlocal/v1/reset as a client sees it, with THINGS things: a running pipeline
(`ddlocal up --detach`, python/pytest_ddlocal's Ddlocal), filled through the AWS API with
THINGS things, THINGS/10 thing groups (each thing in one) and a security profile attached to
all things, then one timed reset over HTTP: the transaction, the engine reload and the push
of the deletions to the broker shim (one QoS 1 message, its PUBACK) that bench_reset leaves
out. ROUNDS rounds; every round, then min / median / max in ms. Target (issue 14): < 50 ms
at 1,000 things.

Usage: bench/reset_http.py BUILD_DIR [THINGS] [ROUNDS]   (figures in docs/reference/benchmarks.md)
"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from pytest_ddlocal import Ddlocal  # noqa: E402

PROFILE = [{"name": "MoreBytesSent", "metric": "aws:all-bytes-out",
            "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 200},
                         "durationSeconds": 300}}]


def fill(iot, things):
    for g in range(things // 10):
        iot.create_thing_group(thingGroupName="Group%04d" % g)
    for i in range(things):
        iot.create_thing(thingName="Thing%05d" % i)
        iot.add_thing_to_thing_group(thingGroupName="Group%04d" % (i // 10),
                                     thingName="Thing%05d" % i)
    iot.create_security_profile(securityProfileName="p1", behaviors=PROFILE)
    iot.attach_security_profile(securityProfileName="p1",
                                securityProfileTargetArn="arn:aws:iot:us-east-1:123456789012:"
                                                         "all/things")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    things = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with tempfile.TemporaryDirectory(prefix="ddlocal-bench-reset.") as tmp:
        dd = Ddlocal(os.path.join(tmp, "data"), ddlocal=os.path.join(build, "cli", "ddlocal"))
        dd.start()
        try:
            iot = dd.iot_client()
            times = []
            for r in range(rounds):
                fill(iot, things)
                assert len(iot.list_things(maxResults=250)["things"]) == min(things, 250)
                t0 = time.monotonic()
                dd.reset()
                ms = (time.monotonic() - t0) * 1000
                assert iot.list_things()["things"] == []
                times.append(ms)
                print("round %d: reset of %d things, %d groups over HTTP: %.1f ms"
                      % (r + 1, things, things // 10, ms))
            print("POST /ddlocal/v1/reset, %d things: min %.1f ms, median %.1f ms, max %.1f ms "
                  "(%d rounds)" % (things, min(times), statistics.median(times), max(times),
                                   rounds))
        finally:
            dd.stop()


if __name__ == "__main__":
    main()
