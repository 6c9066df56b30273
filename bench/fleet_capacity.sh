#!/bin/bash
# Fleet capacity: how many concurrent mTLS devices one `ddlocal fleet` process
# holds against ddlocal while each reports every 5 pipeline minutes at
# --time-scale 60 (every 5 s of wall time), and the memory per device.
#
# usage: bench/fleet_capacity.sh BUILD_DIR [DEVICES] [TIME_SCALE]   (10000, 60)
# env:   DATA_DIR=DIR  use the pipeline already running on DIR (its time scale is used)
#        DDLOCAL=PATH  the ddlocal program (default BUILD_DIR/cli/ddlocal)
#        DURATION=S    pipeline seconds to run once all devices are up (default 900: 3 reports each)
#
# The scenario is fixtures/scenarios/capacity.json. The first run issues and
# caches the certificates (DATA_DIR/fleet/capacity/); its time is printed.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [DEVICES] [TIME_SCALE]" >&2; exit 2; }
B=$(cd "$1" && pwd)
N=${2:-10000}
SCALE=${3:-60}
DURATION=${DURATION:-900}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DDLOCAL=${DDLOCAL:-$B/cli/ddlocal}
T=$(mktemp -d /tmp/dd_bench_fleet.XXXXXX)
UP_PID=

cleanup() {
    if [ -n "$UP_PID" ]; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        wait "$UP_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

# Every device is a socket in the fleet and one in the broker: as many as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

if [ -n "${DATA_DIR:-}" ]; then
    D=$DATA_DIR
    SCALE_ARGS=()
else
    D=$T/data
    "$DDLOCAL" up --data-dir "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --time-scale "$SCALE" \
        --no-status > "$T/up.log" 2>&1 &
    UP_PID=$!
    for _ in $(seq 600); do
        [ -f "$D/endpoints.json" ] && break
        kill -0 "$UP_PID" 2>/dev/null || { cat "$T/up.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -f "$D/endpoints.json" ] || { echo "the pipeline did not start" >&2; cat "$T/up.log" >&2; exit 1; }
    SCALE_ARGS=(--time-scale "$SCALE")
fi

echo "fd limit $(ulimit -n); $N devices; time scale $SCALE; $DURATION pipeline s"
"$DDLOCAL" fleet "$SRC/fixtures/scenarios/capacity.json" -D "$D" --devices "$N" \
    --duration "$DURATION" "${SCALE_ARGS[@]}" --summary-json "$T/summary.json" --progress 5 || true
if [ -n "$UP_PID" ]; then
    echo "pipeline processes (RSS KiB, command):"
    ps -o rss=,args= --ppid "$UP_PID" | cut -c1-100 || true
fi
jq -r '"devices connected at once: \(.connectedPeak) of \(.devices)",
       "reports: \(.reportsAccepted) accepted of \(.reportsExpected) expected (\(.reportsSent) sent, \(.reportsRejected) rejected, \(.reportsMissing) without reply)",
       "memory per device: \(.kibPerDevice | floor) KiB (RSS \(.rssConnectedKiB / 1024 | floor) MiB connected, \(.rssBeforeKiB / 1024 | floor) MiB before)",
       "ramp: \(.rampSeconds) s; CPU of the fleet process: \(.cpuSeconds) s"' "$T/summary.json"
