#!/usr/bin/python3
"""Runs a workshop page's commands exactly as printed and checks what the page
promises (tests/walkthrough/README.md).

usage: run_walkthrough.py --source SRC --build BUILD [--repeat N] [--keep] PAGE...
  PAGE  cli (docs/workshop-with-aws-cli.md), workshop (docs/workshop-walkthrough.md) or
        tuning (docs/tuning-rules.md)

Each pass runs in a fresh work dir under /tmp. Exit 0 when every pass of every
page held, 1 otherwise, 77 (ctest: skipped) when the build lacks a feature the
page needs.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import walkthrough  # noqa: E402
from walkthrough import WalkthroughError  # noqa: E402

SKIP = 77
ACCOUNT_ARN = "arn:aws:iot:us-east-1:123456789012"
M3 = "DetectLargeMessageSize"
M4 = "DetectSendingMoreThanAverageBytes"


def poll(what, fn, timeout):
    """Calls FN until it returns a true value; raises after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # the API may be restarting; keep polling
            last = e
        if time.monotonic() > deadline:
            raise WalkthroughError("waited %d s for %s (last: %r)" % (timeout, what, last))
        time.sleep(0.2)


class Api:
    """Reads the running pipeline through its AWS IoT API (boto3, as a reader would)."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self._iot = None

    def endpoints(self):
        with open(os.path.join(self.data_dir, "endpoints.json")) as f:
            return json.load(f)

    @property
    def iot(self):
        if self._iot is None:
            import boto3
            self._iot = boto3.client("iot", endpoint_url=self.endpoints()["api"],
                                     region_name="us-east-1", aws_access_key_id="test",
                                     aws_secret_access_key="test")
        return self._iot

    def isolated(self):
        r = self.iot.list_things_in_thing_group(thingGroupName="IsolatedDevices")
        return sorted(r["things"])

    def active(self, profile=None):
        kw = {"securityProfileName": profile} if profile else {}
        r = self.iot.list_active_violations(**kw)
        return sorted((v["thingName"], v["securityProfileName"])
                      for v in r["activeViolations"])

    def in_alarm_events(self):
        """Every (thing, profile) that was ever in alarm, from the violation events."""
        out = set()
        kw = {"startTime": 0, "endTime": 4102444800}
        while True:
            r = self.iot.list_violation_events(**kw)
            for e in r["violationEvents"]:
                if e["violationEventType"] == "in-alarm":
                    out.add((e["thingName"], e["securityProfileName"]))
            if not r.get("nextToken"):
                return out
            kw["nextToken"] = r["nextToken"]

    def pipeline_ms(self, ddlocal):
        out = subprocess.run([ddlocal, "clock", "show", "-D", self.data_dir], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)["pipelineTimeMs"]


def expect_alarms_only(api, allowed, where):
    seen = api.in_alarm_events()
    extra = seen - set(allowed)
    if extra:
        raise WalkthroughError("%s: in alarm though healthy: %s (allowed: %s)"
                               % (where, sorted(extra), sorted(allowed)))
    return seen


# ---------------------------------------------------------------- the CLI page
def cli_checks(run):
    api = Api(os.path.join(run.work, "dd"))

    def things(_):
        names = sorted(t["thingName"] for t in api.iot.list_things()["things"])
        if names != ["Thing01", "Thing02", "Thing03"]:
            raise WalkthroughError("things: %s" % names)
        for n in names:
            if len(api.iot.list_thing_principals(thingName=n)["principals"]) != 1:
                raise WalkthroughError("%s has not exactly one certificate" % n)

    def m4_violation(_):
        poll("Thing03's MoreBytesSent violation",
             lambda: api.active() == [("Thing03", M4)], 30)
        v = api.iot.list_active_violations(thingName="Thing03")["activeViolations"][0]
        if v["lastViolationValue"]["count"] != 104000:
            raise WalkthroughError("lastViolationValue %r" % v["lastViolationValue"])

    def quarantined(which):
        def check(_):
            got = api.isolated()
            if got != which:
                raise WalkthroughError("IsolatedDevices holds %s, expected %s" % (got, which))
        return check

    def refused(r):
        quarantined(["Thing03"])(r)
        if "not authorised" not in r.terminals["main"].output():
            raise WalkthroughError("the quarantined device was not refused (CONNACK 5)")

    def m3_violation(_):
        poll("exactly Thing02's LargeMessageSize violation",
             lambda: api.active(M3) == [("Thing02", M3)], 30)
        v = api.iot.list_active_violations(securityProfileName=M3)["activeViolations"][0]
        if v["lastViolationValue"]["count"] != 9000:
            raise WalkthroughError("Thing02's window sum %r, expected 9000"
                                   % v["lastViolationValue"])

    def m3_events(r):
        if "Thing02\tin-alarm\t9000" not in r.terminals["main"].output():
            raise WalkthroughError("list-violation-events did not print Thing02 in-alarm 9000")

    def m3_quarantine(r):
        quarantined(["Thing02"])(r)
        expect_alarms_only(api, {("Thing03", M4), ("Thing02", M3)}, "the CLI page")

    def shared_cert_id():
        certs = [c for c in api.iot.list_thing_principals(thingName="Thing01")["principals"]
                 if len(api.iot.list_principal_things(principal=c)["things"]) == 3]
        if len(certs) != 1:
            raise WalkthroughError("no one certificate shared by the three things: %s" % certs)
        return certs[0].rsplit("/", 1)[1]

    def m2_audit(r):
        cert = shared_cert_id()
        tasks = api.iot.list_audit_tasks(startTime=0, endTime=4102444800)["tasks"]
        task = api.iot.describe_audit_task(taskId=tasks[-1]["taskId"])
        bad = sorted(c for c, d in task["auditDetails"].items()
                     if d["checkRunStatus"] == "COMPLETED_NON_COMPLIANT")
        want = ["DEVICE_CERTIFICATE_SHARED_CHECK", "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
                "LOGGING_DISABLED_CHECK"]
        if bad != want:
            raise WalkthroughError("the audit's non-compliant checks: %s, expected %s"
                                   % (bad, want))
        found = api.iot.list_audit_findings(taskId=tasks[-1]["taskId"],
                                            checkName="DEVICE_CERTIFICATE_SHARED_CHECK")
        ids = [f["nonCompliantResource"]["resourceIdentifier"]["deviceCertificateId"]
               for f in found["findings"]]
        if ids != [cert]:
            raise WalkthroughError("shared-certificate findings %s, expected [%s]" % (ids, cert))
        if cert not in r.terminals["main"].output():
            raise WalkthroughError("describe-audit-finding did not print the certificate id")

    def m2_mitigated(r):
        status = api.iot.describe_certificate(certificateId=shared_cert_id())
        if status["certificateDescription"]["status"] != "INACTIVE":
            raise WalkthroughError("the shared certificate is %s after the mitigation"
                                   % status["certificateDescription"]["status"])

    def m2_refused(r):
        m2_mitigated(r)
        if "not authorised" not in r.terminals["main"].output():
            raise WalkthroughError("the deactivated certificate was not refused (CONNACK 5)")

    def stopped(_):
        poll("ddlocal up to stop (endpoints.json removed)",
             lambda: not os.path.exists(os.path.join(api.data_dir, "endpoints.json")), 30)

    return {"1": things, "4": m4_violation, "6": quarantined(["Thing03"]),
            "6-refused": refused, "6-release": quarantined([]), "7": m3_violation,
            "7-events": m3_events, "7-quarantine": m3_quarantine, "8-audit": m2_audit,
            "8-mitigate": m2_mitigated, "8-refused": m2_refused, "cleanup": stopped}


def cli_requires(build):
    return None


# ------------------------------------------------------------ the workshop page
def workshop_requires(build):
    def helptext(*argv):
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.stdout + r.stderr
    need = []
    if "--with-profiles" not in helptext(os.path.join(build, "cli/ddlocal"), "up", "--help"):
        need.append("`ddlocal up --workshop --with-profiles` (D3)")
    if "--clock" not in helptext(os.path.join(build, "device/ddlocal-sensor"), "--help"):
        need.append("pipeline-clock devices, `ddlocal-sensor --clock` (D1)")
    # D2: the device shell that survives quarantine and release (its help names the
    # variables it exports). Without it the relay dies at the isolation and Module 5's
    # reconnection cannot happen.
    if "DDLOCAL_CLOCK" not in helptext(os.path.join(build, "cli/ddlocal"), "device", "--help"):
        need.append("the device shell of D2 (`ddlocal device` exporting DDLOCAL_CLOCK)")
    if need and os.environ.get("DDLOCAL_WALKTHROUGH_FORCE") == "1":
        print("DDLOCAL_WALKTHROUGH_FORCE=1: running although the build lacks %s" % ", ".join(need))
        return None
    return ", ".join(need) if need else None


def workshop_checks(run):
    from workshop_checks import checks
    return checks(run, Api, poll, expect_alarms_only)


# ------------------------------------------------------------ the tuning page
def tuning_checks(run):
    """docs/tuning-rules.md: no pipeline; the checks read the files the page writes."""
    def path(name):
        return os.path.join(run.work, name)

    def csv_rows(name):
        with open(path(name)) as f:
            lines = f.read().splitlines()
        return {line.split(",")[0]: line.split(",") for line in lines[1:]}

    def emitted(_):
        with open(path("tuning.jsonl")) as f:
            n = sum(1 for _ in f)
        if n != 230500:
            raise WalkthroughError("tuning.jsonl has %d lines, the page says 230500" % n)

    def replayed(_):
        with open(path("events.jsonl")) as f:
            alarms = sum(1 for line in f if '"in-alarm"' in line)
        if not 500 <= alarms <= 700:
            raise WalkthroughError("%d in-alarm events; the page says about 600" % alarms)

    def datapoints(_):
        with open(path("datapoints.csv")) as f:
            rows = f.read().splitlines()
        if len(rows) != 1 + 100 * 288:
            raise WalkthroughError("datapoints.csv: %d rows, expected a header and 28800" % len(rows))

    def to_alarm(_):
        rows = csv_rows("toalarm.csv")
        # value, things, TP, FP, FN: three in a row catch the three without a false positive.
        if rows["3"][1:5] != ["100", "3", "0", "0"] or int(rows["1"][3]) < 50:
            raise WalkthroughError("toalarm.csv: %s" % rows)

    def percentiles(_):
        rows = csv_rows("percentiles.csv")
        if int(rows["p50"][3]) < 10 or int(rows["p99"][5]) < 10:
            raise WalkthroughError("percentiles.csv does not show what the page says: %s" % rows)

    def pictures(_):
        names = sorted(os.listdir(path("pictures")))
        want = ["bytes-sweep.svg",
                "tuning-0001.DetectSendingMoreThanAverageBytes.MoreBytesSent.svg",
                "tuning-0042.DetectSendingMoreThanAverageBytes.MoreBytesSent.svg"]
        if names != want:
            raise WalkthroughError("pictures: %s" % names)
        for n in names:
            with open(os.path.join(path("pictures"), n)) as f:
                if "<svg" not in f.read(2000):
                    raise WalkthroughError("%s is not an SVG" % n)

    return {"emit": emitted, "replay": replayed, "datapoints": datapoints,
            "sweep-toalarm": to_alarm, "sweep-sensors": percentiles, "plot": pictures}


def tuning_requires(build):
    import shutil
    return None if shutil.which("gnuplot") else "gnuplot (package gnuplot-nox)"


PAGES = {
    "cli": ("docs/workshop-with-aws-cli.md", cli_checks, cli_requires),
    "tuning": ("docs/tuning-rules.md", tuning_checks, tuning_requires),
    "workshop": ("docs/workshop-walkthrough.md", workshop_checks, workshop_requires),
}


def one_pass(page, args, n):
    rel, make_checks, _ = PAGES[page]
    doc = os.path.join(args.source, rel)
    try:
        blocks = walkthrough.parse(doc)
        walkthrough.check_links(doc, args.source)
    except (WalkthroughError, OSError) as e:
        print("FAIL (%s, pass %d): %s" % (page, n, e))
        return False
    work = tempfile.mkdtemp(prefix="ddlocal-walkthrough-%s." % page)
    run = walkthrough.Run(doc, args.source, args.build, work, log=print)
    run.ddlocal = os.path.join(os.path.abspath(args.build), "cli/ddlocal")
    t0 = time.monotonic()
    ok = False
    try:
        run.execute(blocks, make_checks(run))
        ok = True
    except (WalkthroughError, OSError) as e:
        print("FAIL (%s, pass %d): %s" % (page, n, e))
    except KeyboardInterrupt:
        run.stop()
        if not (args.keep or args.keep_failed):
            run.remove()
        raise
    finally:
        run.stop()
    dt = time.monotonic() - t0
    if not ok:
        for name in sorted(os.listdir(run.logdir)):
            with open(os.path.join(run.logdir, name), errors="replace") as f:
                print("--- %s (last 60 lines)" % name)
                print("".join(f.readlines()[-60:]))
        for log in ("ddlocal-data/logs", "dd/logs"):
            d = os.path.join(work, log)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), errors="replace") as f:
                        print("--- %s/%s (last 30 lines)" % (log, name))
                        print("".join(f.readlines()[-30:]))
    if args.keep or (not ok and args.keep_failed):
        print("  work dir kept: %s" % work)
    else:
        run.remove()
    print("%s pass %d: %s in %.0f s" % (page, n, "OK" if ok else "FAILED", dt), flush=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True, help="the repository's top directory")
    ap.add_argument("--build", required=True, help="the build dir (build/ or build-asan/)")
    ap.add_argument("--repeat", type=int,
                    default=int(os.environ.get("DDLOCAL_WALKTHROUGH_REPEAT", "1")),
                    help="passes in a row (default 1, or $DDLOCAL_WALKTHROUGH_REPEAT)")
    ap.add_argument("--keep", action="store_true", help="keep every work dir")
    ap.add_argument("--keep-failed", action="store_true", help="keep the work dir of a failed pass")
    ap.add_argument("pages", nargs="+", choices=sorted(PAGES))
    args = ap.parse_args()
    args.source = os.path.abspath(args.source)
    args.build = os.path.abspath(args.build)
    for page in args.pages:
        missing = PAGES[page][2](args.build)
        if missing:
            print("SKIP: %s needs %s, which this build does not have" % (PAGES[page][0], missing))
            return SKIP
    walkthrough.set_subreaper()
    # SIGTERM (ctest's timeout, a user) ends the pass like Ctrl-C: the finally of the
    # pass stops every process the page started. A second signal during that
    # cleanup is ignored, so the cleanup cannot be cut short.
    def interrupted(signum, _frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    failed = 0
    total = 0
    try:
        for n in range(1, args.repeat + 1):
            for page in args.pages:
                total += 1
                if not one_pass(page, args, n):
                    failed += 1
    except KeyboardInterrupt as e:
        print("walkthrough: interrupted (%s); every process it started is stopped" % e)
        return 1
    print("walkthrough: %d of %d passes held" % (total - failed, total))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
