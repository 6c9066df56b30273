#!/bin/sh
# `ddlocal up`: start, endpoints.json, clean stop (SIGINT, SIGTERM) without children left,
# restart keeping state (registry and pipeline clock), and the documented
# errors: port taken (3), data dir not writable (4), mosquitto missing (5).
# Then `up --workshop`: no security profiles (`ddlocal workshop --with-profiles`
# adds them); its status output (not a terminal) shows a connected device, an
# accepted report, the violation and the event lines; an active violation, the isolator's group move and a group membership made by hand
# survive a stop/start, and the second `up --workshop` on the same data dir
# resumes without provisioning again.
# Usage: test_up.sh /path/to/ddlocal
set -u
ddlocal=$1
work=$(mktemp -d /tmp/ddlocal-test-up.XXXXXX)
failures=0
uppid=""
subpid=""

cleanup() {
    [ -n "$subpid" ] && kill "$subpid" 2>/dev/null
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

# 4. ports taken by the running pipeline: exit 3 with the documented message, all of them named
#    in one run with the flag that changes each, and nothing started
taken=$(json "$work/data/endpoints.json" mqtt | cut -d: -f2)
"$ddlocal" up -D "$work/data2" --mqtt-port "$taken" --alpn-port 0 --api-port 0 --no-status >"$work/conflict.log" 2>&1
rc=$?
[ "$rc" -eq 3 ] || fail "port conflict: exit $rc, expected 3"
grep -q "port $taken (MQTT listener) is already in use; choose another with --mqtt-port PORT" "$work/conflict.log" ||
    fail "port conflict message: $(cat "$work/conflict.log")"
taken_alpn=$(json "$work/data/endpoints.json" mqttAlpn | cut -d: -f2)
taken_api=$(json "$work/data/endpoints.json" api | sed 's/.*://')
"$ddlocal" up -D "$work/data2" --mqtt-port "$taken" --alpn-port "$taken_alpn" --api-port "$taken_api" --no-status \
    >"$work/conflict3.log" 2>&1
rc=$?
[ "$rc" -eq 3 ] || fail "three port conflicts: exit $rc, expected 3"
for what in "$taken (MQTT listener) is already in use; choose another with --mqtt-port" \
    "$taken_alpn (ALPN listener) is already in use; choose another with --alpn-port" \
    "$taken_api (API) is already in use; choose another with --api-port"; do
    grep -q "port $what PORT" "$work/conflict3.log" || fail "one run does not name port $what: $(cat "$work/conflict3.log")"
done
[ -e "$work/data2/endpoints.json" ] && fail "a refused up wrote endpoints.json"
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
for seed in -1 x 18446744073709551616; do
    "$ddlocal" up --seed "$seed" >"$work/seed.log" 2>&1
    [ $? -eq 2 ] || fail "--seed $seed should be a usage error"
    grep -q "seed takes a number from 0 to 18446744073709551615" "$work/seed.log" ||
        fail "--seed $seed: no clear message"
done

# 8. --workshop: state made by the pipeline survives a restart, provisioning happens once
wdata=$work/wdata
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
unset AWS_PROFILE AWS_ENDPOINT_URL 2>/dev/null

start_workshop() { # start_workshop LOG [OPTION...]
    log=$1
    shift
    "$ddlocal" up --workshop -D "$wdata" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock "$@" \
        >"$log" 2>&1 &
    uppid=$!
    wait_file "$wdata/endpoints.json" 60 || { cat "$log"; fail "up --workshop: endpoints.json not written"; return 1; }
    api=$(json "$wdata/endpoints.json" api)
    mqtt_port=$(json "$wdata/endpoints.json" mqtt | cut -d: -f2)
}

iot() {
    /usr/bin/aws iot --endpoint-url "$api" --output json "$@"
}

pyq() { # pyq EXPRESSION < JSON (python, with `d` the document)
    /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# Thing03's report as its agent would send it, with the workshop's /tmp files.
report03() { # report03 REPORT_ID BYTES_OUT
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" --cafile "$wdata/workshop/tmp/rootca.pem" \
        --cert "$wdata/workshop/tmp/cert.pem" --key "$wdata/workshop/tmp/private.key" \
        -i SensorDevice03 -q 1 -t '$aws/things/Thing03/defender/metrics/json' \
        -m "{\"header\":{\"report_id\":$1,\"version\":\"1.0\"},\"metrics\":{\"network_stats\":{\"bytes_in\":120,\"bytes_out\":$2,\"packets_in\":3,\"packets_out\":4}}}"
}

# Polls (10 s) until the shell command $1 succeeds.
poll() {
    i=0
    until eval "$1"; do
        i=$((i + 1))
        [ "$i" -gt 100 ] && return 1
        sleep 0.1
    done
    return 0
}

state() { # the state that must survive: violations, groups, things, certificates
    iot list-active-violations | pyq '[(v["thingName"], v["securityProfileName"], v["behavior"]["name"], v["violationId"]) for v in d["activeViolations"]]'
    iot list-things-in-thing-group --thing-group-name IsolatedDevices | pyq 'd["things"]'
    iot list-things-in-thing-group --thing-group-name KeptGroup | pyq 'sorted(d["things"])'
    iot list-things | pyq 'sorted(t["thingName"] for t in d["things"])'
    iot list-certificates | pyq 'sorted(c["certificateId"] for c in d["certificates"])'
}

if start_workshop "$work/wup1.log"; then
    [ "$(grep -c "Provisioning the workshop's world" "$work/wup1.log")" = 1 ] || fail "first up --workshop did not provision"
    # --workshop makes the world of Module 1 but leaves the security profiles to the learner ...
    [ "$(iot list-security-profiles | pyq 'len(d["securityProfileIdentifiers"])')" = 0 ] ||
        fail "up --workshop without --with-profiles created security profiles"
    [ "$(iot list-thing-groups | pyq '[g["groupName"] for g in d["thingGroups"]]')" = "['IsolatedDevices']" ] ||
        fail "up --workshop did not create IsolatedDevices"
    # ... and `ddlocal workshop --with-profiles` adds them to the running pipeline.
    "$ddlocal" workshop --with-profiles -D "$wdata" >"$work/wprof.log" 2>&1 || fail "workshop --with-profiles: $(cat "$work/wprof.log")"
    [ "$(iot list-security-profiles | pyq 'sorted(p["name"] for p in d["securityProfileIdentifiers"])')" = \
        "['DetectLargeMessageSize', 'DetectSendingMoreThanAverageBytes']" ] ||
        fail "workshop --with-profiles did not create the two profiles"
    # The banner: a readable clock, and the lines a new terminal needs.
    grep -q "^  clock: *manual - pipeline time [0-9-]*T[0-9:]*Z (moves with \`ddlocal clock advance\`)$" "$work/wup1.log" ||
        fail "the banner's clock is not readable: $(grep 'clock:' "$work/wup1.log")"
    grep -qx "    export DDLOCAL_DATA_DIR=$wdata" "$work/wup1.log" || fail "the banner has no DDLOCAL_DATA_DIR line"
    path_line=$(sed -n 's/^    export PATH=\(.*\):\$PATH$/\1/p' "$work/wup1.log")
    [ -x "${path_line%%:*}/ddlocal" ] || fail "the banner's PATH line does not lead to ddlocal: $path_line"
    PATH=$path_line command -v ddlocal-agent >/dev/null || fail "the banner's PATH line does not lead to ddlocal-agent"
    grep -q -- "--thing_name Thing03 --format json -i 300 &$" "$work/wup1.log" ||
        fail "the banner's agent command lacks the workshop's -i 300 in the background"
    # The printed `aws iot list-active-violations` works on a machine without any AWS configuration.
    cmd=$(sed -n '/^ *AWS_PAGER= /{N;s/\\\n */ /;p;}' "$work/wup1.log" | head -n 1)
    mkdir -p "$work/freshhome"
    if [ -z "$cmd" ]; then
        fail "up --workshop prints no aws list-active-violations command"
    elif ! env -i PATH=/usr/bin:/bin HOME="$work/freshhome" sh -c "$cmd" >"$work/printed.json" 2>&1; then
        fail "the printed command fails on an unconfigured machine: $cmd: $(cat "$work/printed.json")"
    else
        pyq 'len(d["activeViolations"])' <"$work/printed.json" >/dev/null || fail "printed command: not JSON"
    fi
    # The status output (stdout not a terminal: a line whenever it changes) counts a connected device.
    mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" --cafile "$wdata/workshop/Thing01/rootca.pem" \
        --cert "$wdata/workshop/Thing01/cert.pem" --key "$wdata/workshop/Thing01/private.key" \
        -i Thing01 -t temperature-device-01 >/dev/null 2>&1 &
    subpid=$!
    poll 'grep -q "| connected 1 | reports accepted 0 rejected 0 | active violations 0 | alerts 0$" "$work/wup1.log"' ||
        fail "the status output does not show the connected device: $(grep connected "$work/wup1.log" | tail -n 3)"
    sha1=$(cat "$wdata"/workshop/*/cert.pem "$wdata"/workshop/tmp/* | sha256sum)
    "$ddlocal" group create KeptGroup -D "$wdata" >/dev/null || fail "group create"
    "$ddlocal" group add KeptGroup Thing01 -D "$wdata" >"$work/g.out" || fail "group add"
    grep -qx "added Thing01 to thing group KeptGroup" "$work/g.out" || fail "group add says: $(cat "$work/g.out")"
    "$ddlocal" group add KeptGroup Thing01 -D "$wdata" >"$work/g.out" || fail "group add again"
    grep -qx "Thing01 is already in thing group KeptGroup; nothing changed" "$work/g.out" ||
        fail "group add again says: $(cat "$work/g.out")"
    "$ddlocal" group add KeptGroup Thing02 -D "$wdata" >/dev/null || fail "group add Thing02"
    "$ddlocal" group remove KeptGroup Thing02 -D "$wdata" >"$work/g.out" || fail "group remove"
    grep -qx "removed Thing02 from thing group KeptGroup" "$work/g.out" || fail "group remove says: $(cat "$work/g.out")"
    "$ddlocal" group remove KeptGroup Thing02 -D "$wdata" >"$work/g.out" || fail "group remove of a non-member: not 0"
    grep -qx "Thing02 is not in thing group KeptGroup; nothing removed" "$work/g.out" ||
        fail "group remove of a non-member says: $(cat "$work/g.out")"
    "$ddlocal" group remove KeptGroup NoSuchThing -D "$wdata" >"$work/g.out" 2>&1 && fail "group remove of a missing thing: exit 0"
    # A misspelt SNS topic is refused, naming the topics alerts reach.
    "$ddlocal" sns subscribe BadIoTDevice http://127.0.0.1:9/x -D "$wdata" >"$work/sns.out" 2>&1 &&
        fail "sns subscribe to a misspelt topic succeeded"
    grep -q "no alert reaches the topic 'BadIoTDevice' in this data dir; known topics: BadIoTDevices$" "$work/sns.out" ||
        fail "sns subscribe to a misspelt topic says: $(cat "$work/sns.out")"
    report03 1 104000 || fail "Thing03's report not published"
    poll '[ "$(iot list-active-violations --thing-name Thing03 | pyq "len(d[\"activeViolations\"])")" = 1 ]' ||
        fail "no active violation for Thing03 after a 104000-byte report"
    poll '[ "$(iot list-things-in-thing-group --thing-group-name IsolatedDevices | pyq "d[\"things\"] == [\"Thing03\"]")" = True ]' ||
        fail "the isolator did not move Thing03 into IsolatedDevices"
    # ... the accepted report, the violation, its alert, and the event feed's lines for both.
    poll 'grep -q "| connected 1 | reports accepted 1 rejected 0 | active violations 1 | alerts 1$" "$work/wup1.log"' ||
        fail "the status output does not show the report and the violation: $(grep connected "$work/wup1.log" | tail -n 3)"
    poll 'grep -q "in-alarm Thing03: DetectSendingMoreThanAverageBytes/MoreBytesSent" "$work/wup1.log"' ||
        fail "the status output has no in-alarm event line"
    poll 'grep -q "registry: Thing03 is in thing groups \[IsolatedDevices\]" "$work/wup1.log"' ||
        fail "the status output has no group move line"
    # One timeline: every line of ddlocald.log and isolator.log starts with the real time (ms, UTC)
    # and, the clock being manual, the pipeline time; the event lines of the status output carry
    # the same stamp; the broker's lines have UTC time stamps.
    stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z \[pipeline [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z\] '
    for f in "$wdata/logs/ddlocald.log" "$wdata/logs/isolator.log"; do
        [ -s "$f" ] || fail "$f is empty"
        grep -vE "$stamp" "$f" | head -n 3 | grep . && fail "$f has lines without the real [pipeline] stamp"
    done
    grep -qE "${stamp}ddlocald: info: event: in-alarm Thing03: DetectSendingMoreThanAverageBytes" \
        "$wdata/logs/ddlocald.log" || fail "ddlocald.log lacks the in-alarm event"
    grep -qE "${stamp} in-alarm Thing03" "$work/wup1.log" || fail "the event line has no real [pipeline] stamp"
    grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z: ' "$wdata/broker/mosquitto.log" | head -n 3 |
        grep . && fail "mosquitto.log has lines without a UTC time stamp"
    grep -qE '^[0-9T:-]{19}Z: ddlocal_shim: \[pipeline [0-9T:.-]{23}Z\] ' "$wdata/broker/mosquitto.log" ||
        fail "the shim's lines in mosquitto.log lack the pipeline time"
    # A crashed ddlocald is restarted by `up`; its events, numbered from 1 again, still show.
    dpid=$(pgrep -P "$uppid" -f ddlocald)
    kill -KILL "$dpid"
    poll 'grep -q "ddlocald was killed by signal 9; restarting it" "$work/wup1.log"' || fail "ddlocald not restarted"
    grep -qE "${stamp}ddlocal up: ddlocald was killed by signal 9; restarting it" "$work/wup1.log" ||
        fail "up's own note has no real [pipeline] stamp"
    poll 'iot add-thing-to-thing-group --thing-group-name KeptGroup --thing-name Thing03 2>/dev/null' ||
        fail "the API did not come back after ddlocald's restart"
    poll 'grep -q "registry: Thing03 is in thing groups \[.*KeptGroup" "$work/wup1.log"' ||
        fail "the status output hides the events of a restarted ddlocald"
    kill "$subpid" 2>/dev/null
    wait "$subpid" 2>/dev/null
    state >"$work/state1.txt" 2>&1 || fail "reading the state before the restart: $(cat "$work/state1.txt")"
    stop_up || fail "up --workshop did not exit 0 on SIGINT"

    if start_workshop "$work/wup2.log" --with-profiles --no-status; then
        grep -q "Provisioning" "$work/wup2.log" && fail "the second up --workshop provisioned again"
        grep -iE "error|fail|cannot|conflict|already exists" "$work/wup2.log" &&
            fail "the second up --workshop reported errors"
        grep -q "ddlocal is up" "$work/wup2.log" || fail "the second up --workshop did not come up"
        # --no-status (as in `up ... --no-status &`): nothing after the banner but the stop.
        grep -E "\| connected|in-alarm|registry:" "$work/wup2.log" && fail "--no-status printed status or event lines"
        [ "$(iot list-security-profiles | pyq 'len(d["securityProfileIdentifiers"])')" = 2 ] ||
            fail "up --workshop --with-profiles on existing profiles: not two profiles"
        [ "$(cat "$wdata"/workshop/*/cert.pem "$wdata"/workshop/tmp/* | sha256sum)" = "$sha1" ] ||
            fail "the workshop's certificate files changed on the second up --workshop"
        state >"$work/state2.txt" 2>&1 || fail "reading the state after the restart: $(cat "$work/state2.txt")"
        if ! cmp -s "$work/state1.txt" "$work/state2.txt"; then
            fail "state changed across the restart: $(diff "$work/state1.txt" "$work/state2.txt")"
        fi
        grep -q "Thing03.*DetectSendingMoreThanAverageBytes.*MoreBytesSent" "$work/state2.txt" ||
            fail "the active violation is not in the state: $(cat "$work/state2.txt")"
        grep -qx "\['Thing01', 'Thing03'\]" "$work/state2.txt" || fail "KeptGroup's members are not in the state"
        # The broker still enforces the quarantine after the restart.
        if report03 2 100 2>"$work/pub.err"; then
            fail "Thing03 (in IsolatedDevices) could publish after the restart"
        fi
        grep -q "not authori" "$work/pub.err" || fail "Thing03 after the restart: $(cat "$work/pub.err")"
        # SIGTERM stops everything too, the isolator included.
        pids=$(pgrep -P "$uppid" | tr '\n' ' ')
        pgrep -P "$uppid" -f "ddlocal isolator" >/dev/null || fail "no isolator among up --workshop's children"
        [ "$(echo $pids | wc -w)" -ge 3 ] || fail "expected mosquitto, ddlocald and the isolator, found: $pids"
        kill -TERM "$uppid"
        wait "$uppid" || fail "second up --workshop did not exit 0 on SIGTERM"
        uppid=""
        [ -e "$wdata/endpoints.json" ] && fail "endpoints.json left behind after SIGTERM"
        for pid in $pids; do
            kill -0 "$pid" 2>/dev/null && fail "child $pid ($(cat /proc/$pid/comm 2>/dev/null)) still running after SIGTERM"
        done
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); logs:"
    cat "$work/up.log"
    for f in "$work"/wup*.log; do
        [ -e "$f" ] && { echo "--- $f"; cat "$f"; }
    done
    exit 1
fi
echo "test_up: all checks passed"
