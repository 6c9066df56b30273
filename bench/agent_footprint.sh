#!/bin/bash
# Agent footprint per report cycle: maximum resident memory and CPU time of
# ddlocal-agent publishing reports every 0.1 s (-i 0.1) to a running pipeline,
# each one answered on /accepted (the agent exits non-zero otherwise).
#
# usage: bench/agent_footprint.sh BUILD_DIR [REPORTS]      (REPORTS default 100)
# env:   DATA_DIR=DIR  use the pipeline already running on DIR (else one is
#                      started with `ddlocal up` on free ports and stopped after)
#        DDLOCAL=PATH  the ddlocal program (default BUILD_DIR/cli/ddlocal)
#        DRYRUN=1      no pipeline: measure -d/--dryrun (collect + encode only)
#
# CPU per report is the marginal cost: (CPU of 10+N reports - CPU of 10) / N,
# so process start, TLS setup and the connection are not counted in it; the
# maximum RSS is that of the longer run.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [REPORTS]" >&2; exit 2; }
B=$(cd "$1" && pwd)
N=${2:-100}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DDLOCAL=${DDLOCAL:-$B/cli/ddlocal}
AGENT=$B/device/ddlocal-agent
T=$(mktemp -d /tmp/dd_bench_agent.XXXXXX)
UP_PID=

cleanup() {
    if [ -n "$UP_PID" ]; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        wait "$UP_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

start_pipeline() {
    D=$T/data
    "$DDLOCAL" up --data-dir "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 --no-status \
        > "$T/up.log" 2>&1 &
    UP_PID=$!
    for _ in $(seq 600); do
        [ -f "$D/endpoints.json" ] && return 0
        kill -0 "$UP_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the pipeline did not start (see below); try DRYRUN=1 or DATA_DIR=" >&2
    cat "$T/up.log" >&2
    exit 1
}

if [ "${DRYRUN:-0}" = 1 ]; then
    ARGS=(-d)
    MODE="dry run (-d: sample /proc and encode, no network)"
else
    if [ -n "${DATA_DIR:-}" ]; then D=$DATA_DIR; else start_pipeline; fi
    ENDPOINT=$(jq -r .mqtt "$D/endpoints.json")
    CA=$(jq -r .rootCa "$D/endpoints.json")
    "$DDLOCAL" policy create BenchAgentPolicy "$SRC/fixtures/policies/device-policy-allow-all.json" \
        -D "$D" > /dev/null 2>&1 || true
    "$DDLOCAL" thing create BenchAgent --with-cert --policy BenchAgentPolicy --out "$T/cred" \
        -D "$D" > /dev/null
    ARGS=(-e "$ENDPOINT" -r "$CA" -c "$T/cred/cert.pem" -k "$T/cred/private.key"
          -id BenchAgent -t BenchAgent)
    MODE="against the pipeline at $ENDPOINT, every report answered on /accepted"
fi

run() {
    /usr/bin/time -v "$AGENT" "${ARGS[@]}" -f json -i 0.1 --count "$1" \
        > /dev/null 2> "$T/time.$1" || { cat "$T/time.$1" >&2; exit 1; }
}
field() { grep "$2" "$T/time.$1" | awk -F': ' '{print $2}'; }
# The agent logs its own getrusage() at exit ("CPU 0.123 s"): microseconds,
# where /usr/bin/time rounds to 10 ms.
cpu() { grep -o 'CPU [0-9.]* s' "$T/time.$1" | tail -1 | awk '{print $2}'; }

run 10
run $((N + 10))
RSS_KB=$(field $((N + 10)) 'Maximum resident set size')
CPU_SHORT=$(cpu 10)
CPU_LONG=$(cpu $((N + 10)))
PER_MS=$(echo "($CPU_LONG - $CPU_SHORT) * 1000 / $N" | bc -l)
printf 'ddlocal-agent, %d reports at -i 0.1, %s\n' "$N" "$MODE"
printf '  max RSS:           %.2f MiB (%d KiB)\n' "$(echo "$RSS_KB / 1024" | bc -l)" "$RSS_KB"
printf '  CPU, whole run:    %.3f s for %d reports (incl. start and connection)\n' "$CPU_LONG" $((N + 10))
printf '  CPU per report:    %.3f ms (marginal)\n' "$PER_MS"
