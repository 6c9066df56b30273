#!/bin/sh
# `ddlocal fleet --emit` as a rule author runs it (docs/reference/devices.md,
# "A fleet without a broker"): a scenario becomes a replay stream that
# `ddlocal replay` and `ddlocal sweep` read, to a file or through a pipe; the
# exfiltrating group of the bytes-spike scenario is what the Module 4 profile
# flags; ML Detect finds a labelled anomaly after 14 days of virtual training; usage errors
# exit 2 with a message.
# Usage: test_fleet_emit.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
p=$src/fixtures/profiles
sc=$src/fixtures/scenarios
work=$(mktemp -d /tmp/ddlocal-test-emit.XXXXXX)
failures=0

trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# 1. To a file: the summary on stderr, then a replay flags exactly the five exfiltrating devices.
"$ddlocal" fleet "$sc/bytes-spike.json" --emit "$work/s.jsonl" 2>"$work/emit.err" ||
    fail "emit: exit $? ($(cat "$work/emit.err"))"
grep -q "300 reports" "$work/emit.err" || fail "emit summary: $(cat "$work/emit.err")"
"$ddlocal" replay --profile "$p/module4-intended.json" --reports "$work/s.jsonl" --no-summary \
    --custom-metric cpu_usage:number >"$work/events.jsonl" 2>"$work/replay.err" ||
    fail "replay: $(head -3 "$work/replay.err")"
got=$(grep '"in-alarm"' "$work/events.jsonl" | sed 's/.*"thingName":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ')
[ "$got" = "bytes-spike-0001 bytes-spike-0002 bytes-spike-0003 bytes-spike-0004 bytes-spike-0005 " ] ||
    fail "in-alarm things: '$got'"

# 2. Same scenario and start time, same bytes; --start-time moves every line.
"$ddlocal" fleet "$sc/bytes-spike.json" --emit - 2>/dev/null >"$work/again.jsonl"
cmp -s "$work/s.jsonl" "$work/again.jsonl" || fail "emit is not deterministic"
"$ddlocal" fleet "$sc/bytes-spike.json" --emit - --start-time 2026-11-28T00:00:00Z 2>/dev/null |
    head -1 | grep -q '"time":1795824000000' || fail "--start-time"

# 3. Through a pipe into a sweep, overriding devices and duration.
"$ddlocal" fleet "$sc/bytes-spike.json" --devices 20 --duration 3600 --emit - 2>/dev/null |
    "$ddlocal" sweep --profile "$p/module4-intended.json" --behavior MoreBytesSent --reports - \
        --values 200,100000 --bad bytes-spike-0001 --bad bytes-spike-0002 --bad bytes-spike-0003 \
        --bad bytes-spike-0004 --bad bytes-spike-0005 --format csv >"$work/sweep.csv" 2>"$work/sweep.err" ||
    fail "pipe to sweep: $(cat "$work/sweep.err")"
# All five exfiltrating devices caught at 200 (none missed), none at 100000.
if ! grep -q '^200,20,5,[0-9]*,0,' "$work/sweep.csv" || ! grep -q '^100000,20,0,0,5,' "$work/sweep.csv"; then
    fail "sweep of the emitted stream: $(cat "$work/sweep.csv")"
fi

# 4. ML Detect in virtual time: 15 days of 20 devices, a labelled anomaly on day 14.5; the model
#    is built after 14 days and flags that device alone, once, at HIGH confidence.
"$ddlocal" fleet "$sc/ml-anomaly.json" --emit - 2>/dev/null |
    "$ddlocal" replay --profile "$p/ml-bytes-out.json" --reports - >"$work/ml.out" 2>"$work/ml.err" ||
    fail "ml replay: $(head -3 "$work/ml.err")"
python3 - "$work/ml.out" <<'PY' || fail "ML Detect on the labelled fleet: $(cat "$work/ml.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
events = [l for l in lines if "violationEventType" in l]
summary = [l["summary"] for l in lines if "summary" in l][0]
assert [(e["thingName"], e["violationEventType"]) for e in events] == [
    ("ml-anomaly-0001", "in-alarm"), ("ml-anomaly-0001", "alarm-cleared")], events
assert events[0]["violationEventAdditionalInfo"] == {"confidenceLevel": "HIGH"}, events[0]
day = 86400
start = 1704067200  # the emitted stream's time 0
assert start + 14.5 * day <= events[0]["violationEventTime"] < start + 14.5 * day + 1800, events[0]
assert summary["model"]["modelStatus"] == "ACTIVE", summary
assert summary["model"]["datapointsCollected"] == 20 * 4320, summary
PY

# 5. Usage errors.
"$ddlocal" fleet "$sc/bytes-spike.json" --start-time 0 >/dev/null 2>"$work/e1" && fail "--start-time alone"
grep -q "goes with --emit" "$work/e1" || fail "--start-time alone: $(cat "$work/e1")"
"$ddlocal" fleet "$sc/bytes-spike.json" --emit - --start-time yesterday >/dev/null 2>"$work/e2" &&
    fail "bad --start-time"
"$ddlocal" fleet "$sc/bytes-spike.json" --emit "$work/no/such/dir/x" 2>"$work/e3" && fail "unwritable"
grep -q "cannot write" "$work/e3" || fail "unwritable: $(cat "$work/e3")"
cat >"$work/cloud.json" <<'JSON'
{"name": "c", "devices": 2, "durationSeconds": 600,
 "groups": [{"name": "g", "devices": 1,
             "schedule": [{"cloud": {"authorizationFailuresPerMinute": 1}}]}]}
JSON
"$ddlocal" fleet "$work/cloud.json" -D "$work/data" >/dev/null 2>"$work/e4"
[ $? -eq 2 ] || fail "a live fleet with cloud rates must be refused with status 2"
grep -q "simulated by \`ddlocal fleet --emit\` only" "$work/e4" || fail "cloud live: $(cat "$work/e4")"
"$ddlocal" fleet "$work/cloud.json" --emit - 2>/dev/null | grep -q '"authorization-failure"' ||
    fail "cloud rates in --emit"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
