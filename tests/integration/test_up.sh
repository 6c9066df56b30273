#!/bin/sh
# `ddlocal up`: start, endpoints.json, clean stop without children left,
# restart keeping state (registry and pipeline clock), and the documented
# errors: port taken (3), data dir not writable (4), mosquitto missing (5).
# Usage: test_up.sh /path/to/ddlocal
set -u
ddlocal=$1
work=$(mktemp -d /tmp/ddlocal-test-up.XXXXXX)
failures=0
uppid=""

cleanup() {
    [ -n "$uppid" ] && kill "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# Waits up to $2 seconds for file $1.
wait_file() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ "$i" -gt $(($2 * 10)) ] && return 1
        sleep 0.1
    done
    return 0
}

start_up() {
    "$ddlocal" up -D "$work/data" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
        >>"$work/up.log" 2>&1 &
    uppid=$!
    wait_file "$work/data/endpoints.json" 60 || { cat "$work/up.log"; fail "endpoints.json not written"; return 1; }
}

stop_up() {
    kill -INT "$uppid"
    wait "$uppid"
    rc=$?
    uppid=""
    return $rc
}

json() {
    /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

# 1. start, endpoints.json shape
start_up || exit 1
for key in mqtt mqttAlpn api rootCa; do
    json "$work/data/endpoints.json" "$key" >/dev/null 2>&1 || fail "endpoints.json lacks $key"
done
[ -f "$(json "$work/data/endpoints.json" rootCa)" ] || fail "rootCa is not a file"
children=$(pgrep -P "$uppid" | wc -l)
[ "$children" -ge 2 ] || fail "expected mosquitto and ddlocald as children, found $children"
pids=$(pgrep -P "$uppid" | tr '\n' ' ')

# state made while running: a thing (CLI) and pipeline time (manual clock)
"$ddlocal" thing create KeptThing -D "$work/data" >/dev/null || fail "thing create while running"
"$ddlocal" clock advance 3600 -D "$work/data" >"$work/clock1.json" || fail "clock advance"
t1=$(json "$work/clock1.json" pipelineTimeMs)

# 2. clean stop: exit 0, endpoints.json removed, no child left
stop_up || fail "up did not exit 0 on SIGINT"
[ -e "$work/data/endpoints.json" ] && fail "endpoints.json left behind"
for pid in $pids; do
    kill -0 "$pid" 2>/dev/null && fail "child $pid still running after stop"
done

# 3. restart resumes the same state
start_up || exit 1
"$ddlocal" thing describe KeptThing -D "$work/data" >/dev/null || fail "thing lost across restart"
"$ddlocal" clock show -D "$work/data" >"$work/clock2.json" || fail "clock show"
t2=$(json "$work/clock2.json" pipelineTimeMs)
[ "$t2" -ge "$t1" ] || fail "pipeline time went back across restart ($t1 -> $t2)"

# 4. port taken by the running pipeline: exit 3 with the documented message
taken=$(json "$work/data/endpoints.json" mqtt | cut -d: -f2)
"$ddlocal" up -D "$work/data2" --mqtt-port "$taken" --alpn-port 0 --api-port 0 --no-status >"$work/conflict.log" 2>&1
rc=$?
[ "$rc" -eq 3 ] || fail "port conflict: exit $rc, expected 3"
grep -q "port $taken (MQTT listener) is already in use" "$work/conflict.log" || fail "port conflict message: $(cat "$work/conflict.log")"
stop_up || fail "second stop"

# 5. data dir not writable: exit 4
touch "$work/afile"
"$ddlocal" up -D "$work/afile/data" --mqtt-port 0 --alpn-port 0 --api-port 0 --no-status >"$work/nodir.log" 2>&1
rc=$?
[ "$rc" -eq 4 ] || fail "unwritable data dir: exit $rc, expected 4 ($(cat "$work/nodir.log"))"

# 6. mosquitto missing: exit 5
DDLOCAL_MOSQUITTO=/nonexistent/mosquitto "$ddlocal" up -D "$work/data3" --mqtt-port 0 --alpn-port 0 \
    --api-port 0 --no-status >"$work/nomosq.log" 2>&1
rc=$?
[ "$rc" -eq 5 ] || fail "missing mosquitto: exit $rc, expected 5"
grep -q "mosquitto is not installed" "$work/nomosq.log" || fail "missing mosquitto message"

# 7. usage errors: exit 2
"$ddlocal" up --time-scale 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--time-scale 0 should be a usage error"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); logs:"
    cat "$work/up.log"
    exit 1
fi
echo "test_up: all checks passed"
