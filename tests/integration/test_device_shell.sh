#!/bin/sh
# `ddlocal device` as a learner lives in it (issue 11): an interactive bash on
# SensorDevice03 of `up --workshop` shows the device's prompt and has
# DDLOCAL_DEVICE, DDLOCAL_DATA_DIR and DDLOCAL_CLOCK; a second `ddlocal device
# SensorDevice03` joins the same network namespace (same /proc/self/ns/net) and
# returns its command's exit status; a ddlocal-sensor started in the shell is
# quarantined (group add IsolatedDevices Thing03) and released twice, the shell
# survives both and the sensor reconnects by itself after each release; the
# shell's own exit status comes back; the last shell to leave ends the relay
# and removes its files; a relay killed with SIGKILL is found stale and replaced.
# Needs root or unprivileged user namespaces: skipped (77) without them.
# Usage: test_device_shell.sh /path/to/ddlocal /path/to/ddlocal-sensor
set -u
ddlocal=$1
sensor=$2
work=$(mktemp -d /tmp/ddlocal-device-shell.XXXXXX)
data=$work/data
failures=0
uppid=""
apid=""
spid=""

cleanup() {
    exec 3>&- 2>/dev/null
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    [ -n "$apid" ] && kill "$apid" 2>/dev/null
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

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
    limit=$(($1 * 10))
    shift
    n=0
    until "$@"; do
        n=$((n + 1))
        [ "$n" -gt "$limit" ] && return 1
        sleep 0.1
    done
    return 0
}

# lines_after FILE N PATTERN: a line after line N of FILE matches PATTERN.
lines_after() {
    tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -q "$3"
}

"$ddlocal" up --workshop -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
    >"$work/up.log" 2>&1 &
uppid=$!
if ! wait_for 90 test -e "$data/endpoints.json"; then
    cat "$work/up.log"
    echo "FAIL: ddlocal up --workshop did not write endpoints.json"
    exit 1
fi
state=$data/run/device-SensorDevice03
certs=$data/workshop/tmp

# Namespaces at all?
if ! "$ddlocal" device Probe -D "$data" -- true 2>"$work/probe.err"; then
    if grep -q "namespaces are not available" "$work/probe.err"; then
        echo "SKIP: no network namespaces here (root or unprivileged user namespaces needed)"
        exit 77
    fi
    cat "$work/probe.err"
    fail "ddlocal device Probe -- true"
fi

# 1. shell A: an interactive bash reading its commands from a FIFO (3 stays open on it).
mkfifo "$work/a.in"
SHELL=/bin/bash "$ddlocal" device SensorDevice03 -D "$data" <"$work/a.in" >"$work/a.out" 2>"$work/a.err" &
apid=$!
exec 3>"$work/a.in"
cat >&3 <<EOF
echo "device=\$DDLOCAL_DEVICE data=\$DDLOCAL_DATA_DIR clock=\${DDLOCAL_CLOCK-unset}" >"$work/a.env"
readlink /proc/self/ns/net >"$work/a.ns"
cd "$certs"
"$sensor" -e 127.0.0.1 -r rootca.pem -c cert.pem -k private.key \
    -t temperature-device-03 -n SensorDevice03 -i 1 --persistent >"$work/sensor.log" 2>&1 &
sensor_pid=\$!
echo "\$sensor_pid" >"$work/sensor.pid"
EOF
wait_for 30 test -s "$work/sensor.pid" || fail "shell A did not run its commands"
spid=$(cat "$work/sensor.pid" 2>/dev/null)
wait_for 10 grep -q "\[SensorDevice03\] .* \\$ " "$work/a.err" || fail "no device prompt: $(cat "$work/a.err")"
grep -q "device=SensorDevice03 data=$data clock=manual" "$work/a.env" ||
    fail "shell environment: $(cat "$work/a.env")"
grep -q "You are on device SensorDevice03" "$work/a.out" || fail "no banner: $(cat "$work/a.out")"
[ "$(readlink /proc/self/ns/net)" != "$(cat "$work/a.ns")" ] || fail "shell A is in the host's namespace"
test -S "$state/control.sock" || fail "no control socket in $state"
holder=$(cat "$state/holder.pid" 2>/dev/null)

# 2. a second `ddlocal device` joins the same namespace; its command's exit status comes back.
"$ddlocal" device SensorDevice03 -D "$data" -- sh -c 'readlink /proc/self/ns/net; exit 5' >"$work/b.ns"
rc=$?
[ "$rc" -eq 5 ] || fail "second device command: exit $rc, expected 5"
[ "$(cat "$work/b.ns")" = "$(cat "$work/a.ns")" ] ||
    fail "second shell in $(cat "$work/b.ns"), first in $(cat "$work/a.ns")"
kill -0 "$apid" 2>/dev/null || fail "shell A ended when the second one left"

# 3. quarantine and release, twice: shell A lives on, the sensor reconnects by itself.
wait_for 30 grep -q "sent " "$work/sensor.log" || fail "the sensor sent nothing: $(tail -5 "$work/sensor.log")"
for round in 1 2; do
    n=$(wc -l <"$work/sensor.log")
    "$ddlocal" group add IsolatedDevices Thing03 -D "$data" >/dev/null || fail "group add ($round)"
    wait_for 30 lines_after "$work/sensor.log" "$n" "not authori" ||
        fail "round $round: the quarantined sensor was not refused: $(tail -5 "$work/sensor.log")"
    kill -0 "$apid" 2>/dev/null || fail "round $round: the device shell died on quarantine"
    n=$(wc -l <"$work/sensor.log")
    "$ddlocal" group remove IsolatedDevices Thing03 -D "$data" >/dev/null || fail "group remove ($round)"
    wait_for 60 lines_after "$work/sensor.log" "$n" "sent " ||
        fail "round $round: the sensor did not reconnect after release: $(tail -5 "$work/sensor.log")"
done
kill -0 "$apid" 2>/dev/null || fail "the device shell died"
kill -0 "$spid" 2>/dev/null || fail "the sensor died"

# 4. leave shell A: its exit status, then the relay ends with its last shell.
printf 'kill $sensor_pid; wait $sensor_pid\nexit 3\n' >&3
exec 3>&-
wait_for 30 sh -c "! kill -0 $apid 2>/dev/null" || fail "shell A did not exit"
wait "$apid"
rc=$?
apid=""
spid=""
[ "$rc" -eq 3 ] || fail "shell A: exit $rc, expected 3 (stderr: $(tail -3 "$work/a.err"))"
test -e "$state/control.sock" && fail "control socket left behind"
test -e "$state/holder.pid" && fail "holder.pid left behind"
[ -n "$holder" ] && kill -0 "$holder" 2>/dev/null && fail "relay process $holder still running"

# 5. a relay killed with SIGKILL: the next `ddlocal device` finds it stale and starts anew.
"$ddlocal" device Thing01 -D "$data" -- sh -c "touch '$work/t1.ready'; exec sleep 60" >"$work/t1.out" 2>&1 &
bpid=$!
wait_for 30 test -e "$work/t1.ready" || fail "no shell for Thing01: $(cat "$work/t1.out")"
kill -KILL "$(cat "$data/run/device-Thing01/holder.pid")"
"$ddlocal" device Thing01 -D "$data" -- true 2>"$work/stale.err"
rc=$?
[ "$rc" -eq 0 ] || fail "after a killed relay: exit $rc ($(cat "$work/stale.err"); $(cat "$data/logs/device-Thing01.log"))"
grep -q "had died" "$work/stale.err" || fail "the stale relay went unmentioned: $(cat "$work/stale.err")"
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null

if [ "$failures" -ne 0 ]; then
    echo "--- shell A stderr"; tail -20 "$work/a.err"
    echo "--- relay log"; cat "$data/logs/device-SensorDevice03.log" 2>/dev/null
    echo "$failures failure(s)"
    exit 1
fi
echo "ok: device shell survived quarantine and release, joined, exit statuses kept"
