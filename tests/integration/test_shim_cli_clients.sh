#!/bin/sh
# The real mosquitto_pub / mosquitto_sub with a thing's certificate, root CA
# and private key talk through `ddlocal up` (the broker with the shim); once
# the certificate is INACTIVE (`ddlocal cert status`) they cannot connect.
# Provisioned with the ddlocal CLI only, as a user would.
# Usage: test_shim_cli_clients.sh /path/to/ddlocal SOURCE_DIR
set -u
ddlocal=$1
src=$2
work=$(mktemp -d /tmp/ddlocal-test-shim-cli.XXXXXX)
data="$work/data"
failures=0
uppid=""
subpid=""

cleanup() {
    [ -n "$subpid" ] && kill "$subpid" 2>/dev/null
    [ -n "$uppid" ] && kill -INT "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

json() {
    /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
        "$1" "$2"
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

show_logs() {
    echo "---- up.log"; tail -n 20 "$work/up.log" 2>/dev/null
    echo "---- mosquitto.log"; tail -n 40 "$data/broker/mosquitto.log" 2>/dev/null
    echo "---- ddlocald.log"; tail -n 20 "$data/logs/ddlocald.log" 2>/dev/null
}

# 1. provision with the CLI: a thing with its certificate and an allow-all policy
"$ddlocal" init -D "$data" >/dev/null 2>&1 || { fail "ddlocal init"; exit 1; }
"$ddlocal" thing create Thing01 --with-cert -D "$data" >"$work/thing.json" 2>>"$work/cli.log" ||
    { fail "thing create"; exit 1; }
cert_id=$(json "$work/thing.json" certificateId)
cert=$(json "$work/thing.json" certificateFile)
key=$(json "$work/thing.json" privateKeyFile)
ca=$(json "$work/thing.json" rootCaFile)
"$ddlocal" policy create AllowAll "$src/fixtures/policies/device-policy-allow-all.json" -D "$data" \
    >/dev/null 2>>"$work/cli.log" || fail "policy create"
"$ddlocal" policy attach AllowAll --cert "$cert_id" -D "$data" >/dev/null 2>>"$work/cli.log" ||
    fail "policy attach"

# 2. the pipeline
"$ddlocal" up -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --no-status >"$work/up.log" 2>&1 &
uppid=$!
wait_file "$data/endpoints.json" 60 || { fail "endpoints.json not written"; show_logs; exit 1; }
port=$(json "$data/endpoints.json" mqtt | cut -d: -f2)
tls="-h 127.0.0.1 -p $port --cafile $ca --cert $cert --key $key"

# 3. mosquitto_sub receives what mosquitto_pub sends (both as Thing01, two client ids).
# shellcheck disable=SC2086
mosquitto_sub $tls -i Thing01-sub -t cli/hello -C 1 -W 30 >"$work/sub.out" 2>"$work/sub.err" &
subpid=$!
i=0
while kill -0 "$subpid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && break
    # shellcheck disable=SC2086
    mosquitto_pub $tls -i Thing01 -t cli/hello -m "hello from Thing01" -q 1 2>>"$work/pub.err" ||
        fail "mosquitto_pub with an ACTIVE certificate: $(tail -n 1 "$work/pub.err")"
    sleep 0.1
done
wait "$subpid"
subrc=$?
subpid=""
[ "$subrc" -eq 0 ] || fail "mosquitto_sub exited $subrc: $(cat "$work/sub.err")"
grep -qx "hello from Thing01" "$work/sub.out" || fail "mosquitto_sub got '$(cat "$work/sub.out")'"

# 4. INACTIVE: ddlocald pushes the change to the shim; the pair can no longer connect.
"$ddlocal" cert status "$cert_id" INACTIVE -D "$data" >/dev/null 2>>"$work/cli.log" ||
    fail "cert status INACTIVE"
i=0
refused=no
while [ "$i" -lt 100 ]; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    if ! mosquitto_pub $tls -i Thing01 -t cli/hello -m "after" -q 1 2>"$work/pub2.err"; then
        refused=yes
        break
    fi
    sleep 0.1
done
[ "$refused" = yes ] || fail "mosquitto_pub still accepted 10 s after the certificate went INACTIVE"
grep -q "not authori" "$work/pub2.err" || fail "mosquitto_pub error: $(cat "$work/pub2.err")"
# shellcheck disable=SC2086
mosquitto_sub $tls -i Thing01-sub -t cli/hello -C 1 -W 5 >"$work/sub2.out" 2>"$work/sub2.err"
subrc=$?
[ "$subrc" -ne 0 ] || fail "mosquitto_sub with an INACTIVE certificate exited 0"
grep -q "not authori" "$work/sub2.err" || fail "mosquitto_sub error: $(cat "$work/sub2.err")"
[ -s "$work/sub2.out" ] &&
    fail "mosquitto_sub with an INACTIVE certificate received '$(cat "$work/sub2.out")'"

# 5. clean stop; no sanitizer report in any log
kill -INT "$uppid"
wait "$uppid" || fail "ddlocal up did not exit 0"
uppid=""
if grep -l -E "AddressSanitizer|runtime error:|LeakSanitizer" "$data/broker/mosquitto.log" \
    "$data"/logs/*.log "$work/up.log" 2>/dev/null; then
    fail "sanitizer report in the logs above"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    show_logs
    exit 1
fi
echo "test_shim_cli_clients: all checks passed"
