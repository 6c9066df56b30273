#!/bin/sh
# The lifecycle for scripts (issue 14, item 2): `ddlocal up --detach` returns once ready (exit
# status says why not), `ddlocal status` (0 running, 3 not), `ddlocal down` stops everything
# and waits; a stale endpoints.json left by a SIGKILLed `up` is reported as such, is never
# taken for readiness, and `up --detach` starts again over it.
# Usage: test_lifecycle.sh /path/to/ddlocal
set -u
ddlocal=$1
work=$(mktemp -d /tmp/ddlocal-test-lifecycle.XXXXXX)
D=$work/data
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

cleanup() {
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

# A process is gone once it has exited: a zombie waiting for its (re)parent to reap it counts.
gone() {
    st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
    [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

up_detach() { # up_detach LOG [OPTION...]
    log=$1
    shift
    "$ddlocal" up --detach -D "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock "$@" >"$log" 2>&1
}

# 1. up --detach returns ready: endpoints.json is there, the API answers at once, status says 0.
#    Its output is the banner; nothing of the background process keeps the caller's pipe open
#    (this $(...) would hang otherwise).
out=$(up_detach /dev/stdout)
rc=$?
[ "$rc" -eq 0 ] || { echo "$out"; fail "up --detach: exit $rc"; exit 1; }
echo "$out" | grep -q "^ddlocal is up" || fail "up --detach printed no banner: $out"
[ -f "$D/endpoints.json" ] || fail "up --detach returned before endpoints.json"
"$ddlocal" status -D "$D" >"$work/status.txt"
rc=$?
[ "$rc" -eq 0 ] || fail "status of a running pipeline: exit $rc, expected 0"
grep -q "^running (data dir $D)" "$work/status.txt" || fail "status says: $(cat "$work/status.txt")"
for name in mosquitto ddlocald; do
    grep -qE "^  $name +pid [0-9]+$" "$work/status.txt" || fail "status lacks the pid of $name: $(cat "$work/status.txt")"
done
"$ddlocal" status -D "$D" --json >"$work/status.json" || fail "status --json: not 0"
[ "$(json "$work/status.json" state)" = running ] || fail "status --json: $(cat "$work/status.json")"
api=$(json "$D/endpoints.json" api)
[ "$(json "$work/status.json" api)" = "$api" ] || fail "status --json api differs from endpoints.json"
"$ddlocal" clock show -D "$D" >/dev/null || fail "clock show right after up --detach"
curl -sf "$api/things" >"$work/things.json" || fail "an API call right after up --detach"
"$ddlocal" thing create LifeThing -D "$D" >/dev/null || fail "thing create while detached"
uppid=$(json "$D/endpoints.json" pid)
pids="$uppid $(pgrep -P "$uppid" | tr '\n' ' ')"
[ "$(echo $pids | wc -w)" -ge 3 ] || fail "expected up, mosquitto and ddlocald, found: $pids"

# 2. a second up --detach on the same data dir: 7, and the running one is untouched
up_detach "$work/second.log"
rc=$?
[ "$rc" -eq 7 ] || fail "second up --detach: exit $rc, expected 7"
grep -q "is already running" "$work/second.log" || fail "second up says: $(cat "$work/second.log")"
kill -0 "$uppid" 2>/dev/null || fail "the second up --detach stopped the first"

# 3. down stops everything and returns only once it is gone; status then says 3
"$ddlocal" down -D "$D" >"$work/down.txt" 2>&1 || fail "down: not 0: $(cat "$work/down.txt")"
grep -qx "stopped (data dir $D)" "$work/down.txt" || fail "down says: $(cat "$work/down.txt")"
for pid in $pids; do
    gone "$pid" || fail "process $pid ($(cat /proc/$pid/comm 2>/dev/null)) still running after down returned"
done
[ -e "$D/endpoints.json" ] && fail "endpoints.json left after down"
"$ddlocal" status -D "$D" >"$work/status.txt"
rc=$?
[ "$rc" -eq 3 ] || fail "status after down: exit $rc, expected 3"
grep -qx "not running (data dir $D)" "$work/status.txt" || fail "status after down: $(cat "$work/status.txt")"
"$ddlocal" down -D "$D" >"$work/down2.txt" 2>&1 || fail "down when not running: not 0"
grep -qx "not running (data dir $D)" "$work/down2.txt" || fail "down when not running says: $(cat "$work/down2.txt")"

# 4. kill -9 of a running pipeline's `up`: status says stale (3), readers do not take the file
#    for readiness, up --detach starts again over it with the state kept
up_detach "$work/up2.log" || { cat "$work/up2.log"; fail "up --detach after down"; exit 1; }
"$ddlocal" thing describe LifeThing -D "$D" >/dev/null || fail "state lost across down/up"
uppid=$(json "$D/endpoints.json" pid)
children=$(pgrep -P "$uppid" | tr '\n' ' ')
kill -KILL "$uppid"
wait_for 10 gone "$uppid" || fail "up survived SIGKILL"
[ -f "$D/endpoints.json" ] || fail "the test needs the stale endpoints.json a SIGKILL leaves"
"$ddlocal" status -D "$D" >"$work/stale.txt"
rc=$?
[ "$rc" -eq 3 ] || fail "status with a stale endpoints.json: exit $rc, expected 3"
grep -q "^not running (data dir $D): stale endpoints.json from a \`ddlocal up\` (pid $uppid) that is gone" \
    "$work/stale.txt" || fail "status with a stale file says: $(cat "$work/stale.txt")"
"$ddlocal" status -D "$D" --json >"$work/stale.json"
[ "$(json "$work/stale.json" state)" = stale ] || fail "status --json with a stale file: $(cat "$work/stale.json")"
"$ddlocal" clock show -D "$D" >/dev/null 2>"$work/clock.err" && fail "clock show took a stale endpoints.json for a pipeline"
grep -q "not running" "$work/clock.err" || fail "clock show with a stale file says: $(cat "$work/clock.err")"
# The children end by their death signal when `up` is killed.
for pid in $children; do
    wait_for 20 gone "$pid" || fail "child $pid ($(cat /proc/$pid/comm 2>/dev/null)) outlived the killed up"
done
up_detach "$work/up3.log"
rc=$?
[ "$rc" -eq 0 ] || fail "up --detach over a stale endpoints.json: exit $rc: $(cat "$work/up3.log")"
grep -q "removing a stale $D/endpoints.json" "$work/up3.log" || fail "up --detach did not say it removed the stale file"
"$ddlocal" status -D "$D" >/dev/null || fail "status after the restart: not 0"
"$ddlocal" thing describe LifeThing -D "$D" >/dev/null || fail "state lost across kill -9"
curl -sf "$(json "$D/endpoints.json" api)/things/LifeThing" >/dev/null || fail "API after the restart"
"$ddlocal" down -D "$D" >/dev/null 2>&1 || fail "down after the restart"

# 5. down on a stale file removes it
up_detach "$work/up4.log" || fail "up --detach (4)"
uppid=$(json "$D/endpoints.json" pid)
kill -KILL "$uppid"
wait_for 10 gone "$uppid"
"$ddlocal" down -D "$D" >"$work/down3.txt" 2>&1 || fail "down on a stale file: not 0"
grep -q "removed a stale endpoints.json" "$work/down3.txt" || fail "down on a stale file says: $(cat "$work/down3.txt")"
[ -e "$D/endpoints.json" ] && fail "down left the stale endpoints.json"

# 6. why not: a port taken (3), a data dir that cannot be written (4), a timeout (6), usage (2)
busy_dir=$work/busy
"$ddlocal" up --detach -D "$busy_dir" --mqtt-port 0 --alpn-port 0 --api-port 0 >/dev/null 2>&1 ||
    fail "up --detach for the port check"
taken=$(json "$busy_dir/endpoints.json" mqtt | cut -d: -f2)
up_detach "$work/port.log" --mqtt-port "$taken"
rc=$?
[ "$rc" -eq 3 ] || fail "up --detach on a taken port: exit $rc, expected 3"
grep -q "port $taken (MQTT listener) is already in use" "$work/port.log" || fail "taken port says: $(cat "$work/port.log")"
"$ddlocal" down -D "$busy_dir" >/dev/null || fail "down of the port check's pipeline"
touch "$work/afile"
"$ddlocal" up --detach -D "$work/afile/data" --mqtt-port 0 --alpn-port 0 --api-port 0 >"$work/nodir.log" 2>&1
rc=$?
[ "$rc" -eq 4 ] || fail "up --detach on an unwritable data dir: exit $rc, expected 4"
# A broker that never listens: the stand-in sleeps, so only --timeout ends the wait.
printf '#!/bin/sh\nexec sleep 600\n' >"$work/slow-mosquitto"
chmod +x "$work/slow-mosquitto"
DDLOCAL_MOSQUITTO=$work/slow-mosquitto up_detach "$work/timeout.log" --timeout 1
rc=$?
[ "$rc" -eq 6 ] || fail "up --detach with a broker that never listens: exit $rc, expected 6"
grep -q "not ready within 1 s" "$work/timeout.log" || fail "timeout says: $(cat "$work/timeout.log")"
pgrep -f "$work/slow-mosquitto" >/dev/null && wait_for 20 sh -c "! pgrep -f '$work/slow-mosquitto' >/dev/null" ||
    true
pgrep -f "$work/slow-mosquitto" >/dev/null && fail "the timed-out start left its broker running"
"$ddlocal" status -D "$D" >/dev/null
[ $? -eq 3 ] || fail "status after a timed-out start: not 3"
"$ddlocal" up --timeout 5 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--timeout without --detach should be a usage error"
"$ddlocal" status --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "status --bogus should be a usage error"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); up.log:"
    cat "$D/logs/up.log" 2>/dev/null
    exit 1
fi
echo "test_lifecycle: all checks passed"
