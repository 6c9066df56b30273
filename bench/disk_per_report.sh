#!/bin/sh
# The disk a stored report costs: N reports (the Python agent's long-key
# report, ~670 bytes, distinct report ids) from one thing under the Module 4
# profile through `ddlocal up`, with mosquitto_pub; the size of ddlocal.db
# before and after (the pipeline is stopped both times, so the WAL is
# checkpointed into the database and removed). Also prints the WAL
# high-water mark seen while the reports were ingested.
# Usage: bench/disk_per_report.sh [BUILD_DIR] [N]   (default build, 20000)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-20000}
ddlocal="$build/cli/ddlocal"
work=$(mktemp -d /tmp/ddlocal-bench-disk.XXXXXX)
data="$work/data"
uppid=""

cleanup() {
    [ -n "$pubpid" ] && kill "$pubpid" 2>/dev/null
    [ -n "$uppid" ] && kill -INT "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
    rm -rf "$work"
    true
}
trap cleanup EXIT
pubpid=""

json() {
    /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

up() {
    rm -f "$data/endpoints.json"
    "$ddlocal" up -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --no-status \
        >>"$work/up.log" 2>&1 &
    uppid=$!
    i=0
    while [ ! -e "$data/endpoints.json" ]; do
        i=$((i + 1))
        [ "$i" -gt 600 ] && { echo "ddlocal up did not start" >&2; exit 1; }
        sleep 0.1
    done
}

down() {
    kill -INT "$uppid"
    wait "$uppid" || true
    uppid=""
}

size() {
    stat -c %s "$1" 2>/dev/null || echo 0
}

"$ddlocal" init -D "$data" >/dev/null 2>&1
"$ddlocal" thing create DiskBench --with-cert -D "$data" >"$work/thing.json" 2>/dev/null
cert_id=$(json "$work/thing.json" certificateId)
"$ddlocal" policy create AllowAll "$root/fixtures/policies/device-policy-allow-all.json" -D "$data" >/dev/null
"$ddlocal" policy attach AllowAll --cert "$cert_id" -D "$data" >/dev/null
up
api=$(json "$data/endpoints.json" api)
body=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('securityProfileName',None); print(json.dumps(d))" \
    "$root/fixtures/profiles/module4-intended.json")
curl -sf -X POST "$api/security-profiles/DiskBench" -H 'Content-Type: application/json' -d "$body" >/dev/null
curl -sf -X PUT "$api/security-profiles/DiskBench/targets?securityProfileTargetArn=arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings" >/dev/null
down
before=$(size "$data/ddlocal.db")

up
port=$(json "$data/endpoints.json" mqtt | cut -d: -f2)
api=$(json "$data/endpoints.json" api)
/usr/bin/python3 - "$root/fixtures/reports/python-agent-long.json" "$n" >"$work/reports.txt" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
for i in range(1, int(sys.argv[2]) + 1):
    report["header"]["report_id"] = i
    print(json.dumps(report, separators=(",", ":")))
EOF
avg=$(awk '{ s += length($0) } END { printf "%d", s / NR }' "$work/reports.txt")
mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$(json "$work/thing.json" rootCaFile)" \
    --cert "$(json "$work/thing.json" certificateFile)" --key "$(json "$work/thing.json" privateKeyFile)" \
    -i DiskBench -t '$aws/things/DiskBench/defender/metrics/json' -q 1 -l <"$work/reports.txt" &
pubpid=$!
wal_max=0
accepted=0
i=0
while [ "$accepted" -lt "$n" ]; do
    w=$(size "$data/ddlocal.db-wal")
    [ "$w" -gt "$wal_max" ] && wal_max=$w
    accepted=$(curl -sf "$api/ddlocal/v1/status" | /usr/bin/python3 -c "import json,sys; print(int(json.load(sys.stdin)['reportsAccepted']))")
    i=$((i + 1))
    [ "$i" -gt 6000 ] && { echo "only $accepted of $n reports accepted" >&2; exit 1; }
    sleep 0.1
done
wait "$pubpid" || true
pubpid=""
down
after=$(size "$data/ddlocal.db")
echo "reports: $n of $avg bytes (JSON) from one thing, profile of fixtures/profiles/module4-intended.json"
echo "ddlocal.db: $before -> $after bytes: $(( (after - before) / n )) bytes per stored report"
echo "WAL high-water while ingesting: $wal_max bytes"
