#!/bin/sh
# A CLI command that changes the registry of a running pipeline returns only
# once the broker has the change: a device made by `ddlocal thing create
# --with-cert` connects on the very next line, 10 times in a row, and a thing
# deleted by the CLI is refused on the next line. POST /ddlocal/v1/sync is
# what the CLI calls; without a pipeline the commands work as before.
# Usage: test_cli_sync.sh /path/to/ddlocal
set -u
ddlocal=$1
work=$(mktemp -d /tmp/ddlocal-test-clisync.XXXXXX)
data=$work/data
failures=0

cleanup() {
    "$ddlocal" down -D "$data" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

cat >"$work/policy.json" <<'JSON'
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
JSON
"$ddlocal" policy create AllowAll "$work/policy.json" -D "$data" >/dev/null || fail "policy create (no pipeline)"
"$ddlocal" up --detach -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock \
    >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "up --detach"; exit 1; }
port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mqtt'].split(':')[1])" \
    "$data/endpoints.json")
api=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api'])" "$data/endpoints.json")

connect() { # connect THING: one QoS 1 publish with the thing's certificate; status of mosquitto_pub
    mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$data/pki/rootca.pem" \
        --cert "$work/$1/cert.pem" --key "$work/$1/private.key" -i "$1" -q 1 -t "t/$1" -m x \
        2>"$work/$1.err"
}

i=1
while [ $i -le 10 ]; do
    "$ddlocal" thing create "Dev$i" --with-cert --out "$work/Dev$i" --policy AllowAll -D "$data" \
        >/dev/null 2>"$work/create$i.err" || fail "thing create Dev$i: $(cat "$work/create$i.err")"
    grep -q warning "$work/create$i.err" && fail "Dev$i: $(cat "$work/create$i.err")"
    connect "Dev$i" || fail "Dev$i refused right after its creation: $(cat "$work/Dev$i.err")"
    i=$((i + 1))
done

"$ddlocal" thing delete Dev1 --force -D "$data" >/dev/null || fail "thing delete Dev1"
connect Dev1 && fail "Dev1 connected right after its deletion"

code=$(curl -s -o "$work/sync.json" -w '%{http_code}' -X POST "$api/ddlocal/v1/sync")
[ "$code" = 200 ] && grep -q '"synced":true' "$work/sync.json" ||
    fail "POST /ddlocal/v1/sync answered $code $(cat "$work/sync.json")"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
