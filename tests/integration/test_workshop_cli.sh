#!/bin/sh
# The workshop (Modules 3 and 4) done entirely with Debian's AWS CLI v2 against
# `ddlocal up`: provision things, a key pair and certificate per device, the
# device policy, IsolatedDevices with DenyAll, both profiles with the intended
# operators attached to all things; run SensorDevice03 (mosquitto_pub with its
# own certificate) into a Module 4 violation; read it back with
# list-active-violations and list-violation-events; quarantine Thing03 with a
# Detect mitigation task and check that the broker refuses it at once; run
# Module 3's telemetry (Thing02 compromised) into a LargeMessageSize violation; set
# Thing02's certificate INACTIVE, ACTIVE and REVOKED with update-certificate and
# check that each change holds for the very next connection; DescribeEndpoint
# answers with the broker address of endpoints.json.
# Usage: test_workshop_cli.sh /path/to/ddlocal
set -u
ddlocal=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ddlocal-workshop-cli.XXXXXX)
data=$work/data
failures=0
uppid=""

cleanup() {
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
acct=123456789012
arn=arn:aws:iot:us-east-1:$acct

iot() {
    /usr/bin/aws iot --endpoint-url "$api" --output json "$@"
}

# ---- DescribeEndpoint answers with the broker `ddlocal up` started
endpoint=$(iot describe-endpoint --endpoint-type iot:Data-ATS | json - 'd["endpointAddress"]')
[ "$endpoint" = "$mqtt" ] ||
    fail "describe-endpoint says '$endpoint', endpoints.json says mqtt '$mqtt'"

# ---- Module 1 world: things, one key pair and certificate per device, policy
iot create-policy --policy-name DevicePolicy \
    --policy-document "file://$root/fixtures/policies/device-policy-per-thing.json" >/dev/null ||
    fail "create-policy DevicePolicy"
for n in 01 02 03; do
    thing=Thing$n
    iot create-thing --thing-name "$thing" \
        --attribute-payload '{"attributes":{"SensorType":"DHT22"}}' >/dev/null ||
        fail "create-thing $thing"
    iot create-keys-and-certificate --set-as-active \
        --certificate-pem-outfile "$work/$thing.cert.pem" \
        --public-key-outfile "$work/$thing.public.key" \
        --private-key-outfile "$work/$thing.private.key" >"$work/$thing.json" ||
        fail "create-keys-and-certificate for $thing"
    cert_arn=$(json "$work/$thing.json" 'd["certificateArn"]')
    iot attach-thing-principal --thing-name "$thing" --principal "$cert_arn" || fail "attach-thing-principal $thing"
    iot attach-policy --policy-name DevicePolicy --target "$cert_arn" || fail "attach-policy $thing"
done
[ "$(iot list-things | json - 'len(d["things"])')" = 3 ] || fail "list-things does not show 3 things"

# ---- Module 3: IsolatedDevices with DenyAll
iot create-thing-group --thing-group-name IsolatedDevices >/dev/null || fail "create-thing-group"
iot create-policy --policy-name DenyAll \
    --policy-document "file://$root/fixtures/policies/deny-all.json" >/dev/null || fail "create-policy DenyAll"
iot attach-policy --policy-name DenyAll --target "$arn:thinggroup/IsolatedDevices" || fail "attach DenyAll"

# ---- Modules 3 and 4 profiles, with the intended operators (criteria = normal)
sns='{"SNS":{"alertTargetArn":"arn:aws:sns:us-east-1:123456789012:BadIoTDevices","roleArn":"arn:aws:iam::123456789012:role/ddlocal-sns-role"}}'
iot create-security-profile --security-profile-name DetectLargeMessageSize \
    --behaviors '[{"name":"LargeMessageSize","metric":"aws:message-byte-size","criteria":{"comparisonOperator":"less-than-equals","statisticalThreshold":{"statistic":"p50"},"durationSeconds":300,"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1}}]' \
    --alert-targets "$sns" \
    --additional-metrics-to-retain-v2 '[{"metric":"aws:message-byte-size"},{"metric":"aws:num-messages-received"}]' \
    >/dev/null || fail "create-security-profile DetectLargeMessageSize"
iot create-security-profile --security-profile-name DetectSendingMoreThanAverageBytes \
    --behaviors '[{"name":"MoreBytesSent","metric":"aws:all-bytes-out","criteria":{"comparisonOperator":"less-than-equals","value":{"count":200},"durationSeconds":300,"consecutiveDatapointsToAlarm":1,"consecutiveDatapointsToClear":1}}]' \
    --alert-targets "$sns" \
    --additional-metrics-to-retain-v2 '[{"metric":"aws:all-bytes-out"}]' \
    >/dev/null || fail "create-security-profile DetectSendingMoreThanAverageBytes"
for p in DetectLargeMessageSize DetectSendingMoreThanAverageBytes; do
    iot attach-security-profile --security-profile-name "$p" \
        --security-profile-target-arn "$arn:all/things" || fail "attach-security-profile $p"
done

# ---- SensorDevice03's agent: a quiet report, five minutes, a noisy one
report() { # report REPORT_ID BYTES_OUT
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" \
        --cert "$work/Thing03.cert.pem" --key "$work/Thing03.private.key" \
        -i SensorDevice03 -q 1 -t '$aws/things/Thing03/defender/metrics/json' \
        -m "{\"header\":{\"report_id\":$1,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_in\":120,\"bytes_out\":$2,\"packets_in\":3,\"packets_out\":4}}}"
}
start=$("$ddlocal" clock show -D "$data" | json - 'd["pipelineTime"]')
report 1 150 || fail "quiet report not published"
"$ddlocal" clock advance 300 -D "$data" >/dev/null || fail "clock advance"
[ "$(iot list-active-violations | json - 'len(d["activeViolations"])')" = 0 ] ||
    fail "a quiet device is in violation"
report 2 104000 || fail "noisy report not published"

# ---- read the violation back (poll with a deadline: the report is asynchronous)
i=0
until iot list-active-violations --thing-name Thing03 >"$work/active.json" &&
    [ "$(json "$work/active.json" 'len(d["activeViolations"])')" = 1 ]; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && break
    sleep 0.1
done
[ "$(json "$work/active.json" 'd["activeViolations"][0]["behavior"]["name"]')" = MoreBytesSent ] ||
    { cat "$work/active.json"; fail "no active MoreBytesSent violation for Thing03"; }
[ "$(json "$work/active.json" 'd["activeViolations"][0]["lastViolationValue"]["count"]')" = 104000 ] ||
    fail "lastViolationValue is not the reported bytes_out"
violation=$(json "$work/active.json" 'd["activeViolations"][0]["violationId"]')
iot list-violation-events --start-time "$start" --end-time 2100-01-01T00:00:00Z \
    --security-profile-name DetectSendingMoreThanAverageBytes >"$work/events.json" ||
    fail "list-violation-events"
[ "$(json "$work/events.json" '[(e["thingName"], e["violationEventType"], e["violationId"]) for e in d["violationEvents"]]')" = \
  "[('Thing03', 'in-alarm', '$violation')]" ] || { cat "$work/events.json"; fail "violation events"; }
iot list-metric-values --thing-name Thing03 --metric-name aws:all-bytes-out \
    --start-time "$start" --end-time 2100-01-01T00:00:00Z >"$work/values.json" || fail "list-metric-values"
[ "$(json "$work/values.json" '[v["value"]["count"] for v in d["metricDatumList"]]')" = "[150, 104000]" ] ||
    { cat "$work/values.json"; fail "metric values"; }

# ---- quarantine through a Detect mitigation task; the broker refuses Thing03 at once
iot create-mitigation-action --action-name QuarantineAction \
    --role-arn "arn:aws:iam::$acct:role/MoveThingsToQuarantineGroupRole" \
    --action-params '{"addThingsToThingGroupParams":{"thingGroupNames":["IsolatedDevices"]}}' \
    >/dev/null || fail "create-mitigation-action"
iot start-detect-mitigation-actions-task --task-id Quarantine1 \
    --target "{\"violationIds\":[\"$violation\"]}" --actions QuarantineAction >/dev/null ||
    fail "start-detect-mitigation-actions-task"
[ "$(iot describe-detect-mitigation-actions-task --task-id Quarantine1 | json - 'd["taskSummary"]["taskStatus"]')" = SUCCESSFUL ] ||
    fail "mitigation task did not succeed"
[ "$(iot list-things-in-thing-group --thing-group-name IsolatedDevices | json - 'd["things"]')" = "['Thing03']" ] ||
    fail "Thing03 is not in IsolatedDevices"
if report 3 100 2>"$work/pub.err"; then
    fail "the quarantined device could still publish"
elif ! grep -q "Connection Refused: not authorised" "$work/pub.err"; then
    cat "$work/pub.err"
    fail "the quarantined device was not refused with CONNACK 'not authorised'"
fi
# Thing01 is untouched.
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" --cert "$work/Thing01.cert.pem" \
    --key "$work/Thing01.private.key" -i Thing01 -q 1 -t temperature-device-01 -m 23.45 ||
    fail "Thing01 can no longer publish"

# ---- Module 3 (docs/workshop-with-aws-cli.md section 7): Thing02 sends 3000 characters
# per message, Thing01 temperatures; when the window closes, only Thing02 is above the
# fleet's p50 of message bytes.
telemetry() { # telemetry THING MESSAGE: three messages on the thing's temperature topic
    n=${1#Thing}
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" --cert "$work/$1.cert.pem" \
        --key "$work/$1.private.key" -i "SensorDevice$n" -q 1 -t "temperature-device-$n" -m "$2" \
        --repeat 3
}
m3_start=$("$ddlocal" clock show -D "$data" | json - 'd["pipelineTime"]')
telemetry Thing01 23.45 || fail "Module 3: Thing01's telemetry"
telemetry Thing02 "$(tr -dc 'A-Z0-9' </dev/urandom | head -c 3000)" ||
    fail "Module 3: Thing02's telemetry"
[ "$(iot list-active-violations --security-profile-name DetectLargeMessageSize |
    json - 'len(d["activeViolations"])')" = 0 ] || fail "Module 3: a violation before the window closed"
"$ddlocal" clock advance 300 -D "$data" >/dev/null || fail "clock advance (Module 3)"
i=0
until iot list-active-violations --security-profile-name DetectLargeMessageSize >"$work/m3.json" &&
    [ "$(json "$work/m3.json" 'len(d["activeViolations"])')" != 0 ]; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && break
    sleep 0.1
done
[ "$(json "$work/m3.json" '[(v["thingName"], v["behavior"]["name"], v["lastViolationValue"]["count"]) for v in d["activeViolations"]]')" = \
  "[('Thing02', 'LargeMessageSize', 9000)]" ] ||
    { cat "$work/m3.json"; fail "Module 3: not exactly Thing02's LargeMessageSize at 9000 bytes"; }
[ "$(iot list-violation-events --start-time "$m3_start" --end-time 2100-01-01T00:00:00Z \
    --security-profile-name DetectLargeMessageSize \
    --query 'violationEvents[].[thingName,violationEventType,metricValue.count]' --output text)" = \
  "$(printf 'Thing02\tin-alarm\t9000')" ] || fail "Module 3: violation events"

# ---- UpdateCertificate through the API: the broker applies it before the 200, so the
# very next connection (no polling) is refused, and accepted again once ACTIVE.
publish02() { # publish02 MESSAGE: Thing02 connects with its certificate and publishes
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$rootca" --cert "$work/Thing02.cert.pem" \
        --key "$work/Thing02.private.key" -i Thing02 -q 1 -t temperature-device-02 -m "$1" \
        2>"$work/pub02.err"
}
cert02=$(json "$work/Thing02.json" 'd["certificateId"]')
cert_status02() {
    iot describe-certificate --certificate-id "$cert02" |
        json - 'd["certificateDescription"]["status"]'
}
publish02 21.0 ||
    { cat "$work/pub02.err"; fail "Thing02 cannot publish while its certificate is ACTIVE"; }
iot update-certificate --certificate-id "$cert02" --new-status INACTIVE ||
    fail "update-certificate INACTIVE"
[ "$(cert_status02)" = INACTIVE ] || fail "describe-certificate does not say INACTIVE"
if publish02 21.1; then
    fail "Thing02 could still connect right after its certificate was set INACTIVE"
elif ! grep -q "not authorised" "$work/pub02.err"; then
    cat "$work/pub02.err"
    fail "Thing02 (INACTIVE) was not refused with CONNACK 'not authorised'"
fi
iot update-certificate --certificate-id "$cert02" --new-status ACTIVE ||
    fail "update-certificate ACTIVE"
publish02 21.2 ||
    { cat "$work/pub02.err"; fail "Thing02 was refused right after its certificate was ACTIVE"; }
iot update-certificate --certificate-id "$cert02" --new-status REVOKED ||
    fail "update-certificate REVOKED"
if publish02 21.3; then
    fail "Thing02 could still connect right after its certificate was REVOKED"
elif ! grep -q "not authorised" "$work/pub02.err"; then
    cat "$work/pub02.err"
    fail "Thing02 (REVOKED) was not refused with CONNACK 'not authorised'"
fi
# A revoked certificate cannot be made ACTIVE again (CertificateStateException, 406).
if iot update-certificate --certificate-id "$cert02" --new-status ACTIVE 2>"$work/revoked.err"; then
    fail "a REVOKED certificate was set ACTIVE again"
elif ! grep -q "(CertificateStateException)" "$work/revoked.err"; then
    cat "$work/revoked.err"
    fail "REVOKED -> ACTIVE did not fail with CertificateStateException"
fi
[ "$(cert_status02)" = REVOKED ] || fail "describe-certificate does not say REVOKED"
if publish02 21.4; then
    fail "Thing02 connected with its REVOKED certificate"
fi
grep -q "refused connection Thing02 .*(it is INACTIVE)" "$data/broker/mosquitto.log" ||
    fail "the broker log does not show Thing02 refused for an INACTIVE certificate"
grep -q "refused connection Thing02 .*(it is REVOKED)" "$data/broker/mosquitto.log" ||
    fail "the broker log does not show Thing02 refused for a REVOKED certificate"

kill -INT "$uppid"
wait "$uppid"
rc=$?
uppid=""
[ "$rc" = 0 ] || fail "ddlocal up exited with $rc"

if [ "$failures" -gt 0 ]; then
    echo "--- ddlocal up log ---"
    tail -40 "$work/up.log"
    echo "$failures failure(s)"
    exit 1
fi
echo "workshop with the AWS CLI: OK"
