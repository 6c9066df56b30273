#!/bin/sh
# Waiting and watching (issue 14 item 4) with `ddlocal up --manual-clock`:
# `ddlocal wait violation --thing Thing03` started in the background exits 0
# with the event once the Module 4 violation happens; a wait that times out
# exits 1 and shows what it saw instead; `ddlocal events` shows a rejected
# report with its reason; a group move is waited for too; the chunked stream
# delivers events while open; the long-poll refuses a bad query with 400; six
# long-polls at once hold no API thread.
# Usage: test_events_cli.sh /path/to/ddlocal
set -u
ddlocal=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ddlocal-events-cli.XXXXXX)
data=$work/data
failures=0
uppid=""
waitpid=""
curlpid=""

cleanup() {
    if [ -n "$curlpid" ]; then
        kill "$curlpid" 2>/dev/null
    fi
    if [ -n "$waitpid" ]; then
        kill "$waitpid" 2>/dev/null
        wait "$waitpid" 2>/dev/null
    fi
    if [ -n "$uppid" ]; then
        kill -INT "$uppid" 2>/dev/null
        wait "$uppid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

json() { # json FILE-or-- EXPRESSION (python, with `d` the document)
    if [ "$1" = "-" ]; then
        /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
    else
        /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
    fi
}

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
unset AWS_PROFILE AWS_ENDPOINT_URL 2>/dev/null

"$ddlocal" up -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
    >"$work/up.log" 2>&1 &
uppid=$!
i=0
while [ ! -e "$data/endpoints.json" ]; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$uppid" 2>/dev/null; then
        cat "$work/up.log"
        echo "FAIL: ddlocal up did not write endpoints.json"
        exit 1
    fi
    sleep 0.1
done
api=$(json "$data/endpoints.json" 'd["api"]')
mqtt=$(json "$data/endpoints.json" 'd["mqtt"]')
mqtt_port=${mqtt##*:}
rootca=$(json "$data/endpoints.json" 'd["rootCa"]')
arn=arn:aws:iot:us-east-1:123456789012

iot() {
    /usr/bin/aws iot --endpoint-url "$api" --output json "$@"
}

# ---- Module 4's world: Thing03 with its certificate, the bytes-out profile on all things
iot create-policy --policy-name DevicePolicy \
    --policy-document "file://$root/fixtures/policies/device-policy-per-thing.json" >/dev/null ||
    fail "create-policy"
iot create-thing --thing-name Thing03 >/dev/null || fail "create-thing"
iot create-keys-and-certificate --set-as-active --certificate-pem-outfile "$work/cert.pem" \
    --private-key-outfile "$work/key.pem" >"$work/cert.json" || fail "create-keys-and-certificate"
cert_arn=$(json "$work/cert.json" 'd["certificateArn"]')
iot attach-thing-principal --thing-name Thing03 --principal "$cert_arn" || fail "attach-thing-principal"
iot attach-policy --policy-name DevicePolicy --target "$cert_arn" || fail "attach-policy"
iot create-thing-group --thing-group-name IsolatedDevices >/dev/null || fail "create-thing-group"
iot create-security-profile --security-profile-name DetectSendingMoreThanAverageBytes \
    --behaviors '[{"name":"MoreBytesSent","metric":"aws:all-bytes-out","criteria":{"comparisonOperator":"less-than-equals","value":{"count":200},"durationSeconds":300,"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1}}]' \
    >/dev/null || fail "create-security-profile"
iot attach-security-profile --security-profile-name DetectSendingMoreThanAverageBytes \
    --security-profile-target-arn "$arn:all/things" || fail "attach-security-profile"

publish() { # publish MESSAGE: one report of SensorDevice03
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" --cert "$work/cert.pem" \
        --key "$work/key.pem" -i SensorDevice03 -q 1 -t '$aws/things/Thing03/defender/metrics/json' \
        -m "$1"
}
report() { # report REPORT_ID BYTES_OUT
    publish "{\"header\":{\"report_id\":$1,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_in\":120,\"bytes_out\":$2,\"packets_in\":3,\"packets_out\":4}}}"
}

# ---- the chunked stream, open (and idle: suspended, no thread) for the whole test
curl -sN "$api/ddlocal/v1/events/stream?type=violation,group" >"$work/stream.out" 2>&1 &
curlpid=$!

# ---- a wait started before the violation returns 0 with it
"$ddlocal" wait violation --thing Thing03 --timeout 60 -D "$data" >"$work/wait.out" \
    2>"$work/wait.err" &
waitpid=$!
report 1 150 || fail "quiet report not published"
"$ddlocal" clock advance 300 -D "$data" >/dev/null || fail "clock advance"
report 2 104000 || fail "noisy report not published"
wait "$waitpid"
rc=$?
waitpid=""
[ "$rc" = 0 ] || { cat "$work/wait.err"; fail "wait violation exited $rc, not 0"; }
[ "$(json "$work/wait.out" '(d["type"], d["thing"], d["profile"], d["behavior"], d["violationEventType"], d["metricValue"]["count"])')" = \
  "('violation', 'Thing03', 'DetectSendingMoreThanAverageBytes', 'MoreBytesSent', 'in-alarm', 104000)" ] ||
    { cat "$work/wait.out"; fail "wait violation did not print Thing03's MoreBytesSent event"; }

# ---- a wait that times out exits 1 and says what it saw
"$ddlocal" wait violation --thing Thing01 --timeout 1 -D "$data" >"$work/timeout.out" \
    2>"$work/timeout.err"
rc=$?
[ "$rc" = 1 ] || fail "a wait for a violation that never comes exited $rc, not 1"
[ -s "$work/timeout.out" ] && fail "a timed-out wait printed an event on stdout"
grep -q "no violation of Thing01" "$work/timeout.err" &&
    grep -q "the last events seen instead" "$work/timeout.err" &&
    grep -q '"thing":"Thing03"' "$work/timeout.err" ||
    { cat "$work/timeout.err"; fail "a timed-out wait did not show the events it saw"; }
# --new only counts later events: the violation above does not satisfy it.
"$ddlocal" wait violation --thing Thing03 --new --timeout 0.5 -D "$data" >/dev/null 2>&1 &&
    fail "wait --new was satisfied by an old event"

# ---- a rejected report, with its reason, in `ddlocal events`
publish '{"header":{"report_id":3,"version":"1.0"},"metrics":' || fail "malformed report not published"
"$ddlocal" wait report --thing Thing03 --result rejected --timeout 30 -D "$data" \
    >"$work/rejected.out" || fail "wait report --result rejected"
"$ddlocal" events --type report -D "$data" >"$work/events.out" || fail "ddlocal events"
/usr/bin/python3 - "$work/events.out" <<'PY' || fail "ddlocal events: reports not as expected"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
got = [(e["type"], e["thing"], e["result"]) for e in lines]
assert got == [("report", "Thing03", "accepted")] * 2 + [("report", "Thing03", "rejected")], got
assert (lines[2]["reason"], lines[2]["message"]) == ("InvalidPayload", "Malformed metrics report"), lines[2]
seqs = [e["seq"] for e in lines]
assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
PY

# ---- a group move (the quarantine of Module 3/4)
iot add-thing-to-thing-group --thing-name Thing03 --thing-group-name IsolatedDevices ||
    fail "add-thing-to-thing-group"
"$ddlocal" wait group --thing Thing03 --group IsolatedDevices --timeout 30 -D "$data" \
    >"$work/group.out" || fail "wait group"
[ "$(json "$work/group.out" '(d["thing"], d["group"], d["change"])')" = \
  "('Thing03', 'IsolatedDevices', 'added')" ] || { cat "$work/group.out"; fail "group event"; }

# ---- an enforcement decision: a publish on a reply topic is refused by the broker
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" --cert "$work/cert.pem" \
    --key "$work/key.pem" -i SensorDevice03 -q 0 \
    -t '$aws/things/Thing03/defender/metrics/json/accepted' -m forged 2>/dev/null
"$ddlocal" wait enforcement --thing Thing03 --reason reserved-topic --timeout 30 -D "$data" \
    >"$work/enforcement.out" || fail "wait enforcement"
[ "$(json "$work/enforcement.out" '(d["action"], d["decision"], d["subject"])')" = \
  "('iot:Publish', 'denied', '\$aws/things/Thing03/defender/metrics/json/accepted')" ] ||
    { cat "$work/enforcement.out"; fail "enforcement event"; }

# ---- the stream got the violation and the group move, as JSON lines, while open
i=0
until [ "$(grep -c '"type":"group"' "$work/stream.out")" = 1 ]; do
    i=$((i + 1))
    [ "$i" -gt 600 ] && break # a deadline for a busy machine; the line is normally there at once
    sleep 0.1
done
kill "$curlpid" 2>/dev/null
wait "$curlpid" 2>/dev/null
/usr/bin/python3 - "$work/stream.out" <<'PY' || { cat "$work/stream.out"; fail "the event stream"; }
import json, sys
got = [(e["type"], e["thing"]) for e in map(json.loads, open(sys.argv[1]))]
assert got == [("violation", "Thing03"), ("group", "Thing03")], got
PY
code=$(curl -s -o /dev/null -w '%{http_code}' "$api/ddlocal/v1/events/stream?limit=x")
[ "$code" = 400 ] || fail "a bad stream query answered $code"

# ---- the HTTP long-poll itself: bad queries are 400, a timeout answers empty
code=$(curl -s -o "$work/bad.json" -w '%{http_code}' "$api/ddlocal/v1/events?timeout=abc")
[ "$code" = 400 ] || fail "timeout=abc answered $code"
code=$(curl -s -o "$work/bad.json" -w '%{http_code}' "$api/ddlocal/v1/events?bogus=1")
[ "$code" = 400 ] || fail "an unknown parameter answered $code"
last=$(curl -s "$api/ddlocal/v1/events?type=none" | json - 'd["lastSeq"]')
[ "$(curl -s "$api/ddlocal/v1/events?after=$last&timeout=200" | json - '(d["events"], d["missed"])')" = \
  "([], 0)" ] || fail "an idle long-poll did not answer empty"

# ---- long-polls do not take the API's 4 threads: six wait at once (suspended), none is
# refused as busy, and the AWS API answers meanwhile
pids=""
for n in 1 2 3 4 5 6; do
    curl -s "$api/ddlocal/v1/events?after=$last&type=none&timeout=3000" >"$work/poll$n.json" &
    pids="$pids $!"
done
iot list-things >"$work/things.json" || fail "the AWS API did not answer during six long-polls"
# shellcheck disable=SC2086
wait $pids
for n in 1 2 3 4 5 6; do
    [ "$(json "$work/poll$n.json" '(d["events"], d["busy"])')" = "([], False)" ] ||
        { cat "$work/poll$n.json"; fail "long-poll $n"; }
done

# ---- after `ddlocal reset`, a wait no longer counts the earlier test's violation
"$ddlocal" wait violation --thing Thing03 --timeout 1 -D "$data" >/dev/null 2>&1 ||
    fail "before the reset, the old violation did not count"
"$ddlocal" reset --kinds violations -D "$data" >/dev/null || fail "ddlocal reset --kinds violations"
"$ddlocal" wait violation --thing Thing03 --timeout 1 -D "$data" >/dev/null 2>&1 &&
    fail "a wait after a reset was satisfied by the violation from before it"

if [ "$failures" -ne 0 ]; then
    echo "--- ddlocal up log"
    tail -40 "$work/up.log"
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
