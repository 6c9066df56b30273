#!/bin/sh
# Module 5: SNS stand-in webhook subscriptions. A violation's alert is POSTed
# to a subscribed http endpoint as an SNS notification (header
# x-amz-sns-message-type: Notification, Message = the alert JSON); an endpoint
# that keeps failing is retried and then recorded as a dead letter.
# Usage: test_webhooks.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
py=/usr/bin/python3
work=$(mktemp -d /tmp/ddlocal-test-webhooks.XXXXXX)
D=$work/data
failures=0
uppid=""
rxpid=""

cleanup() {
    [ -n "$uppid" ] && kill "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
    [ -n "$rxpid" ] && kill "$rxpid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
wait_for() { # command, seconds
    i=0
    until sh -c "$1" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -gt $(($2 * 10)) ] && return 1
        sleep 0.1
    done
}
json() {
    $py -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

mkdir -p "$work/rx"
$py "$src/tests/integration/webhook_receiver.py" "$work/rx" >"$work/rx.port" &
rxpid=$!
wait_for "test -s $work/rx.port" 20 || { fail "receiver did not start"; exit 1; }
rxport=$(cat "$work/rx.port")

"$ddlocal" up -D "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
    --webhook-attempts 3 --webhook-backoff-ms 100 >"$work/up.log" 2>&1 &
uppid=$!
wait_for "test -f $D/endpoints.json" 60 || { cat "$work/up.log"; fail "pipeline did not start"; exit 1; }
api=$(json "$D/endpoints.json" api)
port=$(json "$D/endpoints.json" mqtt | cut -d: -f2)

# A thing, a Module 4 profile alerting BadIoTDevices, two subscriptions: one good, one failing.
"$ddlocal" thing create Thing03 --with-cert -D "$D" >/dev/null || fail "thing create"
"$ddlocal" policy create AllowAll "$src/fixtures/policies/device-policy-allow-all.json" -D "$D" >/dev/null
cert=$("$ddlocal" thing describe Thing03 -D "$D" | $py -c "import json,sys; print(json.load(sys.stdin)['certificateIds'][0])")
"$ddlocal" policy attach AllowAll --cert "$cert" -D "$D" || fail "policy attach"
# No profile alerts BadIoTDevices yet and nobody subscribed to it: refused, naming the known topics
# (none), unless --create; then the topic is known.
"$ddlocal" sns subscribe BadIoTDevices "http://127.0.0.1:$rxport/ok/good" -D "$D" >"$work/unknown.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "subscribe to an unknown topic: exit $rc, expected 1"
grep -q "no alert reaches the topic 'BadIoTDevices' in this data dir; known topics: none yet" "$work/unknown.out" &&
    grep -q -- "--create" "$work/unknown.out" || fail "unknown topic message: $(cat "$work/unknown.out")"
"$ddlocal" sns list -D "$D" | grep -q "/ok/good" && fail "a refused subscription was stored"
"$ddlocal" sns subscribe BadIoTDevices "http://127.0.0.1:$rxport/ok/good" --create -D "$D" >/dev/null ||
    fail "subscribe good --create"
"$ddlocal" sns subscribe BadIoTDevices "http://127.0.0.1:$rxport/fail/bad" -D "$D" >/dev/null || fail "subscribe bad"
"$ddlocal" sns list BadIoTDevices -D "$D" | grep -q "/ok/good" || fail "sns list"
$py - "$src/fixtures/profiles/module4-intended.json" >"$work/profile.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.pop("securityProfileName"); print(json.dumps(d))
PY
curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/profile.json" \
    "$api/security-profiles/M4" >/dev/null || fail "CreateSecurityProfile"
curl -sf -X PUT "$api/security-profiles/M4/targets?securityProfileTargetArn=arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings" \
    >/dev/null || fail "AttachSecurityProfile"
# A topic named in a profile's alertTargets is known (the profile need not be attached).
$py -c 'import json,sys; d=json.load(open(sys.argv[1])); d["alertTargets"]["SNS"]["alertTargetArn"]="arn:aws:sns:us-east-1:123456789012:ProfileTopic"; print(json.dumps(d))' \
    "$work/profile.json" >"$work/profile2.json"
curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/profile2.json" \
    "$api/security-profiles/Other" >/dev/null || fail "CreateSecurityProfile Other"
"$ddlocal" sns subscribe ProfileTopic "http://127.0.0.1:$rxport/ok/other" -D "$D" >"$work/other.out" 2>&1 ||
    fail "subscribe to a topic of a profile's alertTargets: $(cat "$work/other.out")"

T=$D/things/Thing03
mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$D/pki/rootca.pem" --cert "$T/cert.pem" --key "$T/private.key" \
    -i Thing03 -q 1 -t '$aws/things/Thing03/defender/metrics/json' \
    -m '{"header":{"report_id":1,"version":"1.0"},"metrics":{"network_stats":{"bytes_out":3000}}}' ||
    fail "publish report"

# The good endpoint gets the SNS notification of the in-alarm alert.
wait_for "test -f $work/rx/good.0.json" 20 || fail "no webhook delivery"
if [ -f "$work/rx/good.0.json" ]; then
    $py - "$work/rx/good.0.json" <<'PY' || fail "webhook body"
import json, sys
n = json.load(open(sys.argv[1]))
assert n["Type"] == "Notification", n
assert n["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:BadIoTDevices", n
m = json.loads(n["Message"])
assert m["thingName"] == "Thing03" and m["violationEventType"] == "in-alarm", m
assert m["securityProfileName"] == "M4" and m["behavior"]["name"] == "MoreBytesSent", m
assert set(m) == {"violationEventTime", "thingName", "behavior", "violationEventType", "metricValue",
                  "violationId", "securityProfileName"}, sorted(m)
PY
    [ "$(cat "$work/rx/good.0.type")" = Notification ] || fail "x-amz-sns-message-type header"
fi

# The failing endpoint is tried 3 times, then a dead letter is recorded.
wait_for "test \$(wc -l < $work/rx/bad.failures 2>/dev/null || echo 0) -ge 3" 20 || fail "failing endpoint not retried 3 times"
wait_for "sqlite3 $D/ddlocal.db 'SELECT count(*) FROM sns_dead_letters' | grep -qx 1" 20 || fail "no dead letter recorded"
row=$(sqlite3 "$D/ddlocal.db" "SELECT topic, attempts, endpoint FROM sns_dead_letters")
case "$row" in
"BadIoTDevices|3|http://127.0.0.1:$rxport/fail/bad") ;;
*) fail "dead letter row: $row" ;;
esac
[ "$(wc -l <"$work/rx/bad.failures")" -eq 3 ] || fail "more than 3 attempts"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    cat "$work/up.log" "$D/logs/ddlocald.log"
    exit 1
fi
echo "test_webhooks: all checks passed"
