#!/bin/bash
# Memory under a steady load: ddlocald's RSS while a `ddlocal fleet` of
# RATE x 5 devices sends RATE reports/s (each device every 5 pipeline minutes
# at --time-scale 60, every 5 s of wall time) for MINUTES minutes, under a
# profile with a static, a statistical and a cloud-side behavior on all
# things. Every 10 s it writes a CSV line (wall seconds, ddlocald's VmRSS and
# VmHWM in KiB, reports accepted, the reports/s achieved since the previous
# line, ddlocal.db and WAL size) and at the end prints the RSS curve: the
# value every 5 minutes, the growth per 10 minutes in each third of the run,
# whether it levelled off, and the rate really achieved.
#
# usage: bench/memory_soak.sh BUILD_DIR [MINUTES] [RATE]   (defaults 30, 200)
# env:   CSV=FILE    keep the samples there (default: printed path in the work dir, kept)
#        KEEP=1      keep the work dir (data dir, logs) after the run
#        DDLOCAL_DDLOCALD, DDLOCAL_SHIM: other ddlocald / shim programs (see `ddlocal up`)
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [MINUTES] [RATE]" >&2; exit 2; }
B=$(cd "$1" && pwd)
MINUTES=${2:-30}
RATE=${3:-200}
case "$MINUTES$RATE" in
*[!0-9]*) echo "$0: MINUTES and RATE are whole numbers" >&2; exit 2 ;;
esac
[ "$MINUTES" -gt 0 ] && [ "$RATE" -gt 0 ] || { echo "$0: MINUTES and RATE must be > 0" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
DDLOCAL=${DDLOCAL:-$B/cli/ddlocal}
SCALE=60
DEVICES=$((RATE * 300 / SCALE))
W=$(mktemp -d /tmp/dd_bench_memsoak.XXXXXX)
D=$W/data
CSV=${CSV:-$W/rss.csv}
UP_PID=
FLEET_PID=

cleanup() {
    if [ -n "$FLEET_PID" ]; then
        kill -TERM "$FLEET_PID" 2>/dev/null || true
        wait "$FLEET_PID" 2>/dev/null || true
    fi
    if [ -n "$UP_PID" ]; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        wait "$UP_PID" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "work dir kept: $W"
    else
        # The CSV stays if it is in the work dir.
        find "$W" -mindepth 1 -maxdepth 1 ! -name rss.csv -exec rm -rf {} +
    fi
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"

"$DDLOCAL" up --data-dir "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --time-scale "$SCALE" \
    --no-status >"$W/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 600); do
    [ -f "$D/endpoints.json" ] && break
    kill -0 "$UP_PID" 2>/dev/null || { cat "$W/up.log" >&2; exit 1; }
    sleep 0.1
done
[ -f "$D/endpoints.json" ] || { echo "the pipeline did not start" >&2; exit 1; }
API=$(jq -r .api "$D/endpoints.json")

# A static threshold on a device-side metric (some reports violate: alarms,
# alerts and violation events come and go), a statistical one (the engine's
# per-window statistics) and a cloud-side one (the shim's metering).
curl -sf -X POST "$API/security-profiles/MemorySoak" -H 'Content-Type: application/json' -d '{
  "behaviors": [
    {"name": "MoreBytesSent", "metric": "aws:all-bytes-out",
     "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 200},
                  "consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}},
    {"name": "PacketsInP90", "metric": "aws:all-packets-in",
     "criteria": {"comparisonOperator": "less-than-equals",
                  "statisticalThreshold": {"statistic": "p90"}, "durationSeconds": 300,
                  "consecutiveDatapointsToAlarm": 2, "consecutiveDatapointsToClear": 2}},
    {"name": "MessagesSent", "metric": "aws:num-messages-sent",
     "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 10},
                  "durationSeconds": 300,
                  "consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}}],
  "alertTargets": {"SNS": {"alertTargetArn": "arn:aws:sns:us-east-1:123456789012:BadIoTDevices",
                           "roleArn": "arn:aws:iam::123456789012:role/ddlocal-sns-role"}},
  "additionalMetricsToRetainV2": [{"metric": "aws:all-bytes-in"}]}' >/dev/null ||
    { echo "cannot create the profile" >&2; exit 1; }
curl -sf -X PUT "$API/security-profiles/MemorySoak/targets?securityProfileTargetArn=arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings" >/dev/null ||
    { echo "cannot attach the profile" >&2; exit 1; }

ddlocald_pid() {
    # ddlocal up restarts a ddlocald that died: look it up at every sample.
    ps -o pid=,comm= --ppid "$UP_PID" | awk '$2 == "ddlocald" { print $1; exit }'
}
kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
accepted() { curl -sf --max-time 5 "$API/ddlocal/v1/status" | jq -r '.reportsAccepted // 0' || echo -1; }

echo "$DEVICES devices, 1 report each per 300 pipeline s at --time-scale $SCALE: $RATE reports/s" \
    "for $MINUTES min after the ramp; samples every 10 s in $CSV"
# The fleet registers and connects every device first (cached credentials,
# the ramp), then runs the given pipeline time.
"$DDLOCAL" fleet "$SRC/fixtures/scenarios/capacity.json" -D "$D" --devices "$DEVICES" \
    --duration $((MINUTES * 60 * SCALE)) --time-scale "$SCALE" --progress 0 \
    --summary-json "$W/fleet.json" >"$W/fleet.log" 2>&1 &
FLEET_PID=$!

echo "t_s,rss_kib,hwm_kib,reports_accepted,reports_per_s,db_bytes,wal_bytes,ddlocald_pid" >"$CSV"
t0=$(date +%s)
prev_t=$t0
prev_n=$(accepted)
next=$((t0 + 10))
while kill -0 "$FLEET_PID" 2>/dev/null; do
    now=$(date +%s)
    if [ "$now" -lt "$next" ]; then
        sleep 0.5
        continue
    fi
    next=$((next + 10))
    pid=$(ddlocald_pid)
    [ -n "$pid" ] || { echo "ddlocald is not running" >&2; continue; }
    n=$(accepted)
    rate=$(awk -v a="$n" -v b="$prev_n" -v t="$((now - prev_t))" 'BEGIN { printf "%.1f", (a - b) / t }')
    echo "$((now - t0)),$(kib "$pid" VmRSS),$(kib "$pid" VmHWM),$n,$rate,$(size "$D/ddlocal.db"),$(size "$D/ddlocal.db-wal"),$pid" >>"$CSV"
    prev_t=$now
    prev_n=$n
done
wait "$FLEET_PID" || true
FLEET_PID=

jq -r '"fleet: \(.devices) devices, \(.connectedPeak) connected at once; reports \(.reportsAccepted) accepted of \(.reportsExpected) expected (\(.reportsRejected) rejected, \(.reportsMissing) without reply)"' \
    "$W/fleet.json" 2>/dev/null || tail -n 5 "$W/fleet.log"
# The summary: the steady part is where the achieved rate is at least 90% of
# RATE (after the ramp); levelled off when the last third grew less than a
# fifth of what the first third did and under 2 MiB per 10 minutes.
awk -F, -v rate="$RATE" '
NR == 1 { next }
{ t[n] = $1; rss[n] = $2; hwm = $3; acc[n] = $4; r[n] = $5; n++ }
END {
    s = -1
    for (i = 0; i < n; i++) if (r[i] >= 0.9 * rate) { s = i; break }
    if (s < 0 || n - s < 6) { print "too few steady samples to judge (is the rate held?)"; exit 1 }
    e = n - 1
    printf "steady from t=%d s to t=%d s: %.1f reports/s achieved (%d reports)\n",
        t[s], t[e], (acc[e] - acc[s]) / (t[e] - t[s]), acc[e] - acc[s]
    printf "RSS (MiB) every 5 min:"
    for (i = s; i <= e; i++) if ((t[i] - t[s]) % 300 < 10) printf " %.1f", rss[i] / 1024
    printf "; end %.1f, peak (VmHWM) %.1f\n", rss[e] / 1024, hwm / 1024
    third = int((e - s) / 3)
    for (k = 0; k < 3; k++) {
        a = s + k * third; b = (k == 2) ? e : a + third
        g[k] = (rss[b] - rss[a]) / 1024 / ((t[b] - t[a]) / 600)
        printf "third %d (t=%d..%d s): %+.2f MiB per 10 min\n", k + 1, t[a], t[b], g[k]
    }
    if (g[2] < 2 && (g[0] <= 0 || g[2] < g[0] / 5)) print "RSS levelled off"
    else print "RSS still growing in the last third"
}' "$CSV"
echo "samples: $CSV"
