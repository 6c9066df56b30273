#!/bin/sh
# The Lambda stand-in (issue 11): the workshop's handlers, added with
# `ddlocal lambda add`, run unchanged on a real `ddlocal up --workshop` whose
# built-in isolator is off (--no-isolator): IsolateDevice moves the alarming
# thing into IsolatedDevices through boto3, the Slack forwarder POSTs the
# expected text to a loopback receiver, a probe sees the event / context /
# environment Lambda gives, a failing handler is tried 3 times with the same
# request id and then dead-lettered; every invocation's output is in its log.
# Usage: test_lambda.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
py=/usr/bin/python3
work=$(mktemp -d /tmp/ddlocal-test-lambda.XXXXXX)
D=$work/data
failures=0
uppid=""
rxpid=""

cleanup() {
    [ -n "$uppid" ] && kill -INT "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
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

# --with-profiles where `up` has it (the workshop's profiles made for us); else they come with --workshop.
profiles=""
"$ddlocal" up --help | grep -q -- "--with-profiles" && profiles="--with-profiles"
# shellcheck disable=SC2086
"$ddlocal" up -D "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
    --workshop $profiles --no-isolator --lambda-backoff-ms 200 >"$work/up.log" 2>&1 &
uppid=$!
wait_for "test -f $D/endpoints.json" 90 || { cat "$work/up.log"; fail "pipeline did not start"; exit 1; }
api=$(json "$D/endpoints.json" api)
port=$(json "$D/endpoints.json" mqtt | cut -d: -f2)
grep -q "isolator:          none" "$work/up.log" || fail "the banner does not say the isolator is off"
pgrep -f "ddlocal isolator" -P "$uppid" >/dev/null && fail "an isolator runs despite --no-isolator"

# Bad input gets a clear error.
"$ddlocal" lambda add Bad --handler "$work/missing.py:h" --sns-topic BadIoTDevices -D "$D" 2>"$work/err" &&
    fail "a missing handler file was accepted"
grep -q "cannot be read" "$work/err" || fail "missing file error: $(cat "$work/err")"
"$ddlocal" lambda add 'bad name' --handler "$src/fixtures/lambda/isolate_device.py:lambda_handler" \
    --sns-topic BadIoTDevices -D "$D" 2>"$work/err"
[ $? -eq 2 ] || fail "an invalid function name is not a usage error"
"$ddlocal" lambda add X --handler "$src/fixtures/lambda/isolate_device.py:lambda_handler" \
    --sns-topic BadIoTDevices --env AWS_REGION=x -D "$D" 2>"$work/err"
[ $? -eq 2 ] || fail "a reserved variable is not a usage error"
grep -q "reserved" "$work/err" || fail "reserved variable error: $(cat "$work/err")"

# The probe: what the handler sees (event, context, environment, boto3's endpoint).
cat >"$work/probe.py" <<'PY'
import json, os
import boto3

def handler(event, context):
    seen = {
        "event": event,
        "context": {k: getattr(context, k) for k in (
            "function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb",
            "aws_request_id", "log_group_name", "log_stream_name")},
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in (
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "PROBE_OUT", "_HANDLER")},
        "iot_endpoint": boto3.client("iot").meta.endpoint_url,
    }
    print("probe saw request", context.aws_request_id)
    with open(os.environ["PROBE_OUT"] + ".tmp", "w") as f:
        json.dump(seen, f)
    os.rename(os.environ["PROBE_OUT"] + ".tmp", os.environ["PROBE_OUT"])
PY

"$ddlocal" lambda add IsolateDevice --handler "$src/fixtures/lambda/isolate_device.py:lambda_handler" \
    --sns-topic BadIoTDevices --env ThingGroupName=IsolatedDevices --timeout 20 -D "$D" >"$work/add.json" ||
    fail "lambda add IsolateDevice"
[ "$(json "$work/add.json" functionArn)" = "arn:aws:lambda:us-east-1:123456789012:function:IsolateDevice" ] ||
    fail "functionArn: $(cat "$work/add.json")"
"$ddlocal" lambda add SlackForwarder --handler "$src/fixtures/lambda/slack_forwarder.py:lambda_handler" \
    --sns-topic arn:aws:sns:us-east-1:123456789012:BadIoTDevices --timeout 20 \
    --env "slackHookURL=http://127.0.0.1:$rxport/ok/slack" --env "slackChannel=#iot-alerts" -D "$D" >/dev/null ||
    fail "lambda add SlackForwarder"
"$ddlocal" lambda add ChimeForwarder --handler "$src/fixtures/lambda/chime_forwarder.py:handler" \
    --sns-topic BadIoTDevices --timeout 20 --env "CHIME_WEBHOOK=http://127.0.0.1:$rxport/ok/chime" -D "$D" \
    >/dev/null || fail "lambda add ChimeForwarder"
"$ddlocal" lambda add AlwaysFails --handler "$src/fixtures/lambda/failing_handler.py:lambda_handler" \
    --sns-topic BadIoTDevices --timeout 20 -D "$D" >/dev/null || fail "lambda add AlwaysFails"
"$ddlocal" lambda add Probe --handler "$work/probe.py:handler" --sns-topic BadIoTDevices --timeout 20 \
    --env "PROBE_OUT=$work/probe.json" -D "$D" >/dev/null || fail "lambda add Probe"
"$ddlocal" lambda add Probe --handler "$work/probe.py:handler" --sns-topic BadIoTDevices -D "$D" 2>"$work/err" &&
    fail "a second function of the same name was accepted"
grep -q "already exists" "$work/err" || fail "duplicate error: $(cat "$work/err")"
"$ddlocal" lambda list -D "$D" >"$work/list.json" || fail "lambda list"
$py - "$work/list.json" <<'PY' || fail "lambda list content"
import json, sys
fns = {f["functionName"]: f for f in json.load(open(sys.argv[1]))["functions"]}
assert set(fns) == {"AlwaysFails", "ChimeForwarder", "IsolateDevice", "Probe", "SlackForwarder"}, sorted(fns)
s = fns["SlackForwarder"]
assert s["snsTopic"] == "BadIoTDevices" and s["timeout"] == 20, s
assert s["environment"]["slackChannel"] == "#iot-alerts", s
assert s["handler"].endswith("fixtures/lambda/slack_forwarder.py:lambda_handler"), s
assert s["log"].endswith("/logs/lambda-SlackForwarder.log"), s
PY
"$ddlocal" sns list BadIoTDevices -D "$D" | grep -q '"arn:aws:lambda:us-east-1:123456789012:function:Probe"' ||
    fail "the function is not an SNS subscription (protocol lambda)"

# The Module 4 profile (made by --workshop or --with-profiles; made here if neither did).
if ! curl -sf "$api/security-profiles/DetectSendingMoreThanAverageBytes" >/dev/null; then
    $py - "$src/fixtures/profiles/module4-workshop.json" >"$work/profile.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.pop("securityProfileName"); print(json.dumps(d))
PY
    curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/profile.json" \
        "$api/security-profiles/DetectSendingMoreThanAverageBytes" >/dev/null || fail "CreateSecurityProfile"
    curl -sf -X PUT "$api/security-profiles/DetectSendingMoreThanAverageBytes/targets?securityProfileTargetArn=arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings" \
        >/dev/null || fail "AttachSecurityProfile"
fi

# Thing03 reports 60000 bytes out: above the workshop's 50000, one alert on BadIoTDevices.
T=$D/workshop/Thing03
mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$D/pki/rootca.pem" --cert "$T/cert.pem" --key "$T/private.key" \
    -i Thing03 -q 1 -t '$aws/things/Thing03/defender/metrics/json' \
    -m '{"header":{"report_id":1,"version":"1.0"},"metrics":{"network_stats":{"bytes_out":60000}}}' ||
    fail "publish report"

# IsolateDevice: Thing03 is in IsolatedDevices, and nothing else is.
wait_for "curl -sf $api/thing-groups/IsolatedDevices/things | grep -q Thing03" 60 ||
    fail "IsolateDevice did not isolate Thing03"
members=$(curl -sf "$api/thing-groups/IsolatedDevices/things" |
    $py -c "import json,sys; print(' '.join(sorted(json.load(sys.stdin)['things'])))")
[ "$members" = "Thing03" ] || fail "IsolatedDevices holds: $members"
L=$D/logs/lambda-IsolateDevice.log
wait_for "grep -q '^.*END RequestId' $L" 30 || fail "no END line in $L"
grep -q "thing Thing03 added to IsolatedDevices" "$L" || fail "the handler's print is not in its log"
grep -q "\[INFO\]	.*isolating Thing03" "$L" || fail "the handler's logging record is not in its log"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z \[pipeline [0-9T:.-]+Z\] START RequestId: [0-9a-f-]{36} Version: \$LATEST' "$L" ||
    fail "START line form: $(head -3 "$L")"
grep -q "REPORT RequestId: .*Duration: .*Billed Duration: .*Memory Size: 128 MB" "$L" || fail "no REPORT line"

# The Slack forwarder: the workshop's text, to the webhook from its environment.
wait_for "test -f $work/rx/slack.0.json" 60 || fail "no Slack delivery"
if [ -f "$work/rx/slack.0.json" ]; then
    $py - "$work/rx/slack.0.json" <<'PY' || fail "Slack message"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["channel"] == "#iot-alerts", m
assert m["text"] == (" You have a new Device Defender alert:  Thing name: Thing03, Security profile: "
                     "DetectSendingMoreThanAverageBytes, Behavior name: MoreBytesSent"), m
PY
fi

# The Chime forwarder: its own text, to CHIME_WEBHOOK.
wait_for "test -f $work/rx/chime.0.json" 60 || fail "no Chime delivery"
if [ -f "$work/rx/chime.0.json" ]; then
    $py - "$work/rx/chime.0.json" <<'PY' || fail "Chime message"
import json, sys
m = json.load(open(sys.argv[1]))
assert m == {"Content": "IoT Device Defender alert! Thing name: Thing03 | Security profile: "
                        "DetectSendingMoreThanAverageBytes | Behavior name: MoreBytesSent"}, m
PY
fi

# The probe: Lambda's event, context and environment; boto3 pointed at ddlocal.
wait_for "test -f $work/probe.json" 60 || fail "the probe was not invoked"
if [ -f "$work/probe.json" ]; then
    $py - "$work/probe.json" "$api" "$work" <<'PY' || fail "probe"
import json, re, sys
seen, api, work = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
r = seen["event"]["Records"]
assert len(r) == 1 and r[0]["EventSource"] == "aws:sns" and r[0]["EventVersion"] == "1.0", r
assert re.fullmatch(r"arn:aws:sns:us-east-1:123456789012:BadIoTDevices:00000000-0000-4000-8000-\d{12}",
                    r[0]["EventSubscriptionArn"]), r
sns = r[0]["Sns"]
assert set(sns) == {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                    "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes"}, sorted(sns)
assert sns["Type"] == "Notification" and sns["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:BadIoTDevices"
alert = json.loads(sns["Message"])
assert alert["thingName"] == "Thing03" and alert["violationEventType"] == "in-alarm", alert
c = seen["context"]
assert c["function_name"] == "Probe" and c["function_version"] == "$LATEST", c
assert c["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:Probe", c
assert c["memory_limit_in_mb"] == "128" and c["log_group_name"] == "/aws/lambda/Probe", c
assert len(c["aws_request_id"]) == 36 and "[$LATEST]" in c["log_stream_name"], c
assert 0 < seen["remaining"] <= 20000, seen["remaining"]
e = seen["env"]
assert e["AWS_REGION"] == "us-east-1" and e["AWS_DEFAULT_REGION"] == "us-east-1", e
assert e["AWS_LAMBDA_FUNCTION_NAME"] == "Probe" and e["_HANDLER"] == "probe.handler", e
assert e["PROBE_OUT"] == work + "/probe.json", e
assert seen["iot_endpoint"] == api, (seen["iot_endpoint"], api)
PY
fi

# AlwaysFails: 3 attempts with one request id, then a dead letter naming the function.
F=arn:aws:lambda:us-east-1:123456789012:function:AlwaysFails
wait_for "sqlite3 $D/ddlocal.db \"SELECT count(*) FROM sns_dead_letters WHERE endpoint = '$F'\" | grep -qv '^0$'" 60 ||
    fail "no dead letter for AlwaysFails"
row=$(sqlite3 "$D/ddlocal.db" "SELECT topic, attempts, substr(last_error, 1, 40) FROM sns_dead_letters WHERE endpoint = '$F' LIMIT 1")
[ "$row" = "BadIoTDevices|3|ValueError: this handler always fails" ] || fail "dead letter row: $row"
L=$D/logs/lambda-AlwaysFails.log
first=$(grep -o "START RequestId: [0-9a-f-]*" "$L" | head -1 | cut -d' ' -f3)
[ "$(grep -c "START RequestId: $first" "$L")" -eq 3 ] || fail "not 3 attempts of request $first: $(grep START "$L")"
grep -q "START RequestId: $first Version: \$LATEST Attempt: 3" "$L" || fail "no attempt 3 in the log"
grep -q "\[ERROR\]	$first	ValueError: this handler always fails" "$L" || fail "no [ERROR] line in the log"
grep -q "Traceback (most recent call last)" "$L" || fail "no traceback in the log"
grep -q "attempt for request $first" "$L" || fail "the failing handler's print is not in its log"
for f in IsolateDevice SlackForwarder ChimeForwarder Probe; do
    n=$(sqlite3 "$D/ddlocal.db" "SELECT count(*) FROM sns_dead_letters WHERE endpoint LIKE '%:function:$f'")
    [ "$n" = 0 ] || fail "$f was dead-lettered"
done
grep -q "lambda AlwaysFails: invocation .* failed (attempt 1)" "$D/logs/ddlocald.log" ||
    fail "ddlocald.log does not report the failed attempt"

# remove: the function and its subscription go.
"$ddlocal" lambda remove AlwaysFails -D "$D" || fail "lambda remove"
"$ddlocal" lambda remove AlwaysFails -D "$D" 2>"$work/err" && fail "removing twice succeeded"
grep -q "does not exist" "$work/err" || fail "remove error: $(cat "$work/err")"
"$ddlocal" sns list -D "$D" | grep -q "function:AlwaysFails" && fail "the subscription survived remove"
"$ddlocal" lambda list AlwaysFails -D "$D" >/dev/null 2>&1 && fail "list shows a removed function"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    cat "$work/up.log" "$D/logs/ddlocald.log"
    for f in "$D"/logs/lambda-*.log; do
        echo "== $f"
        cat "$f"
    done
    exit 1
fi
echo "test_lambda: all checks passed"
