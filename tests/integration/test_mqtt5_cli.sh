#!/bin/sh
# MQTT 5 devices (issue 14, item 8) with mosquitto's own clients (`-V mqttv5`) against
# `ddlocal up --detach`: connect with a device certificate, publish/subscribe, a Device
# Defender report with its /accepted reply, a denied publish (PUBACK 0x87, then the kick:
# DISCONNECT 0x98) and subscribe (SUBACK 0x87), and the isolation kick (thing added to the
# quarantine group -> DISCONNECT 0x98; reconnecting -> CONNACK 0x87). The reason codes are
# read from the clients' -d output.
# Usage: test_mqtt5_cli.sh /path/to/ddlocal SOURCE_DIR
set -u
ddlocal=$1
src=$2
work=$(mktemp -d /tmp/ddlocal-test-mqtt5.XXXXXX)
D=$work/data
failures=0
subpid=""

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

cleanup() {
    [ -n "$subpid" ] && kill "$subpid" 2>/dev/null
    "$ddlocal" down -D "$D" --timeout 10 >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

json() {
    /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

# Polls (up to $1 seconds) until the rest of the arguments, a command, succeeds.
wait_for() {
    limit=$(($1 * 10))
    shift
    i=0
    until "$@"; do
        i=$((i + 1))
        [ "$i" -gt "$limit" ] && return 1
        sleep 0.1
    done
    return 0
}

cli() { "$ddlocal" "$@" -D "$D" >>"$work/cli.log" 2>&1 || fail "ddlocal $*: $(tail -n 3 "$work/cli.log")"; }

"$ddlocal" up --detach -D "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock >"$work/up.log" 2>&1 ||
    { cat "$work/up.log"; fail "up --detach"; exit 1; }
# The workshop's world: a per-thing policy; IsolatedDevices with DenyAll.
cli policy create DevicePolicy "$src/fixtures/policies/device-policy-per-thing.json"
cli policy create DenyAll "$src/fixtures/policies/deny-all.json"
cli group create IsolatedDevices
cli policy attach DenyAll --group IsolatedDevices
cli thing create Dev5 --with-cert --policy DevicePolicy
port=$(json "$D/endpoints.json" mqtt | cut -d: -f2)
v5="-V mqttv5 -h 127.0.0.1 -p $port --cafile $D/pki/rootca.pem --cert $D/things/Dev5/cert.pem --key $D/things/Dev5/private.key"

# 1. connect, subscribe, publish: a message goes through (the registry reaches the shim within
#    ~100 ms of the CLI: publishing is retried until the subscriber got one).
# shellcheck disable=SC2086
mosquitto_sub $v5 -i Dev5-sub -t temperature-device-5 -C 1 -W 30 -d >"$work/sub.out" 2>&1 &
subpid=$!
publish_until_received() {
    # shellcheck disable=SC2086
    mosquitto_pub $v5 -i Dev5 -t temperature-device-5 -m "hello v5" -q 1 >/dev/null 2>&1
    ! kill -0 "$subpid" 2>/dev/null
}
wait_for 30 publish_until_received || fail "no MQTT 5 message went through"
wait "$subpid"
rc=$?
subpid=""
[ "$rc" -eq 0 ] || fail "mosquitto_sub -V mqttv5 exited $rc: $(cat "$work/sub.out")"
grep -q "received CONNACK (0)" "$work/sub.out" || fail "no CONNACK 0 for the v5 subscriber: $(cat "$work/sub.out")"
grep -qx "Subscribed (mid: 1): 0" "$work/sub.out" || fail "the v5 subscription was not granted: $(cat "$work/sub.out")"
grep -qx "hello v5" "$work/sub.out" || fail "the v5 subscriber did not get the message: $(cat "$work/sub.out")"

# 2. a Device Defender report and its /accepted reply
# shellcheck disable=SC2086
mosquitto_sub $v5 -i Dev5-replies -t '$aws/things/Dev5/defender/metrics/json/+' -C 1 -W 30 -v >"$work/reply.out" 2>&1 &
subpid=$!
report='{"header":{"report_id":1,"version":"1.0"},"metrics":{"network_stats":{"bytes_in":1,"bytes_out":2,"packets_in":1,"packets_out":1}}}'
# The subscription may not be in place yet when the first report goes: a new report id each try.
send_report() {
    n=$((n + 1))
    # shellcheck disable=SC2086
    mosquitto_pub $v5 -i Dev5 -t '$aws/things/Dev5/defender/metrics/json' -q 1 -d \
        -m "$(echo "$report" | sed "s/\"report_id\":1/\"report_id\":$n/")" >"$work/report.out" 2>&1
    sleep 0.2
    ! kill -0 "$subpid" 2>/dev/null
}
n=0
wait_for 30 send_report || fail "no reply to an MQTT 5 report"
wait "$subpid"
subpid=""
grep -q "received PUBACK (Mid: 1, RC:0)" "$work/report.out" || fail "the report's PUBACK: $(cat "$work/report.out")"
grep -q '^\$aws/things/Dev5/defender/metrics/json/accepted {.*"status":"ACCEPTED"' "$work/reply.out" ||
    fail "no /accepted reply: $(cat "$work/reply.out")"

# 3. a denied publish: PUBACK 0x87 (135, not authorized), then the kick (DISCONNECT 0x98 = 152,
#    administrative action; --no-kick-on-deny keeps the connection)
# shellcheck disable=SC2086
mosquitto_pub $v5 -i Dev5 -t not/allowed -m x -q 1 -d >"$work/denied-pub.out" 2>&1
grep -q "received PUBACK (Mid: 1, RC:135)" "$work/denied-pub.out" || fail "denied publish: $(cat "$work/denied-pub.out")"
grep -q "Not authorized" "$work/denied-pub.out" || fail "denied publish message: $(cat "$work/denied-pub.out")"

# 4. a denied subscribe: SUBACK 0x87
# shellcheck disable=SC2086
mosquitto_sub $v5 -i Dev5 -t not/allowed -C 1 -W 5 -d >"$work/denied-sub.out" 2>&1
grep -qx "Subscribed (mid: 1): 135" "$work/denied-sub.out" || fail "denied subscribe: $(cat "$work/denied-sub.out")"
grep -q "All subscription requests were denied" "$work/denied-sub.out" ||
    fail "denied subscribe message: $(cat "$work/denied-sub.out")"

# 5. isolation: a connected v5 client whose thing joins IsolatedDevices (DenyAll) is disconnected
#    with 0x98; its reconnect is refused with CONNACK 0x87.
# (stdbuf: its -d lines are read while it runs)
# shellcheck disable=SC2086
stdbuf -oL mosquitto_sub $v5 -i Dev5 -t temperature-device-5 -d >"$work/kick.out" 2>&1 &
subpid=$!
wait_for 10 grep -q "Subscribed (mid: 1): 0" "$work/kick.out" 2>/dev/null || fail "the subscriber to be kicked did not subscribe"
cli group add IsolatedDevices Dev5
wait_for 10 sh -c "! kill -0 $subpid 2>/dev/null" || fail "the isolated v5 client was not disconnected"
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
subpid=""
grep -q "Received DISCONNECT (152)" "$work/kick.out" || fail "isolation kick: $(cat "$work/kick.out")"
# shellcheck disable=SC2086
mosquitto_pub $v5 -i Dev5 -t temperature-device-5 -m x -q 1 -d >"$work/refused.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "an isolated v5 client could publish"
grep -q "received CONNACK (135)" "$work/refused.out" || fail "isolated reconnect: $(cat "$work/refused.out")"
# Released: connecting works again.
cli group remove IsolatedDevices Dev5
reconnects() {
    # shellcheck disable=SC2086
    mosquitto_pub $v5 -i Dev5 -t temperature-device-5 -m back -q 1 >/dev/null 2>&1
}
wait_for 10 reconnects || fail "a released v5 client cannot connect"

if grep -l -E "AddressSanitizer|runtime error:|LeakSanitizer" "$D/broker/mosquitto.log" "$D"/logs/*.log 2>/dev/null; then
    fail "sanitizer report in the logs above"
fi
if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); mosquitto.log:"
    tail -n 40 "$D/broker/mosquitto.log"
    exit 1
fi
echo "test_mqtt5_cli: all checks passed"
