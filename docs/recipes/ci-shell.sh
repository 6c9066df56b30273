#!/bin/sh
# A CI step in shell: start ddlocal, provision a device, send a report, wait for the alarm.
set -eu
DIR=$(mktemp -d)
export DDLOCAL_DATA_DIR="$DIR/data"
trap 'ddlocal down; rm -rf "$DIR"' EXIT

# A device (thing, certificate and key in $DIR/Sensor01, a policy), made before `up` so the
# broker starts with it (after `up` works too: the CLI returns once the broker has a change).
ddlocal init >/dev/null
cat >"$DIR/policy.json" <<'JSON'
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
JSON
ddlocal policy create AllowAll "$DIR/policy.json" >/dev/null
ddlocal thing create Sensor01 --with-cert --out "$DIR/Sensor01" --policy AllowAll >/dev/null
ddlocal up --detach --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock >/dev/null

# Endpoints from endpoints.json; boto3 and the AWS CLI take any credentials.
api=$(jq -r .api "$DDLOCAL_DATA_DIR/endpoints.json")
mqtt_port=$(jq -r .mqtt "$DDLOCAL_DATA_DIR/endpoints.json" | cut -d: -f2)
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

# The code under test would do this; here the AWS CLI makes the security profile.
aws iot create-security-profile --endpoint-url "$api" --security-profile-name NoBigSenders \
    --behaviors '[{"name": "MoreBytesSent", "metric": "aws:all-bytes-out",
                   "criteria": {"comparisonOperator": "less-than-equals",
                                "value": {"count": 200}, "durationSeconds": 300}}]' >/dev/null
aws iot attach-security-profile --endpoint-url "$api" --security-profile-name NoBigSenders \
    --security-profile-target-arn arn:aws:iot:us-east-1:123456789012:all/things

# The device reports 5000 bytes out (QoS 1: accepted by the broker when mosquitto_pub ends).
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$DDLOCAL_DATA_DIR/pki/rootca.pem" \
    --cert "$DIR/Sensor01/cert.pem" --key "$DIR/Sensor01/private.key" -i Sensor01 -q 1 \
    -t '$aws/things/Sensor01/defender/metrics/json' \
    -m '{"header": {"report_id": 1, "version": "1.0"},
         "metrics": {"network_stats": {"bytes_out": 5000}}}'
ddlocal clock advance 300        # counts the report first, whatever the delay

# Exit 0 with the event as JSON once it happened; exit 1 after 30 s with what came instead.
ddlocal wait violation --thing Sensor01 --profile NoBigSenders --timeout 30
aws iot list-active-violations --endpoint-url "$api" --thing-name Sensor01 \
    --query 'activeViolations[0].lastViolationValue.count' | grep -qx 5000
echo "ci-shell: Sensor01 is in alarm"
