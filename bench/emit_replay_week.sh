#!/bin/bash
# `ddlocal fleet --emit` of a synthetic week piped into `ddlocal replay` (issue 15's goals: a
# week of 10,000 devices emitted "in seconds", replayed at >= 700 k reports/s end to end).
# DEVICES devices (default 10000) report bytes_out every 300 s for DAYS days (default 7); 1%
# of them have cloud authorization failures from day 3 (the scenario of devices.md's figures).
# Prints emit alone (to /dev/null), then the pipe emit | replay with PROFILE (default the Module 4
# profile, one behavior; bench/ten-behaviors.json has ten): wall time and each side's CPU.
# THREADS (environment) is passed to `fleet --emit --threads` (default: the emitter's own).
#   [THREADS=N] bench/emit_replay_week.sh [BUILD_DIR] [DEVICES] [DAYS] [PROFILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
devices=${2:-10000}
days=${3:-7}
profile=${4:-$root/fixtures/profiles/module4-intended.json}
ddlocal=$build/cli/ddlocal
threads=${THREADS:+--threads $THREADS}
work=$(mktemp -d /tmp/ddlocal-bench-emit.XXXXXX)
trap 'rm -rf "$work"' EXIT

bad=$((devices / 100 > 0 ? devices / 100 : 1))
cat >"$work/week.json" <<JSON
{"name": "week", "devices": $devices, "durationSeconds": $((days * 86400)), "seed": 15,
 "report": {"intervalSeconds": 300, "format": "json", "keys": "long"},
 "metrics": {"bytes_out": {"distribution": "normal", "mean": 150, "stddev": 20}},
 "groups": [{"name": "bad", "devices": $bad,
             "schedule": [{"fromSeconds": 259200, "cloud": {"authorizationFailuresPerMinute": 2}}]}]}
JSON

TIMEFORMAT='%R %U %S'
# shellcheck disable=SC2086 # $threads is empty or two words
emit=$({ time "$ddlocal" fleet "$work/week.json" $threads --emit - 2>"$work/emit.err" >/dev/null; } 2>&1)
read -r ew eu es <<<"$emit"
sed 's/ in [0-9.]* s$//' "$work/emit.err"
lines=$(sed -n 's/.*: \([0-9]*\) lines (\([0-9]*\) reports.*/\1 \2/p' "$work/emit.err")
read -r nlines nreports <<<"$lines"
awk -v w="$ew" -v u="$eu" -v s="$es" -v n="$nlines" \
    'BEGIN { printf "emit alone: %.2f s wall, %.2f s CPU (%.0f lines/s of CPU)\n", w, u + s, n / (u + s) }'

start=$(date +%s.%N)
# shellcheck disable=SC2086
"$ddlocal" fleet "$work/week.json" $threads --emit - 2>/dev/null |
    /usr/bin/time -f "%U %S" -o "$work/replay.time" \
        "$ddlocal" replay --profile "$profile" --reports - \
        --no-summary >"$work/events.jsonl" 2>"$work/replay.err" ||
    { head -3 "$work/replay.err"; exit 1; }
end=$(date +%s.%N)
read -r ru rs <"$work/replay.time"
awk -v s="$start" -v e="$end" -v n="$nlines" -v r="$nreports" -v u="$ru" -v k="$rs" \
    -v ev="$(wc -l <"$work/events.jsonl")" \
    'BEGIN { printf "emit | replay: %.2f s wall (%.0f reports/s, %.0f lines/s end to end); " \
             "replay %.2f s CPU (%.0f lines/s of CPU); %d violation events\n",
             e - s, r / (e - s), n / (e - s), u + k, n / (u + k), ev }'
