#!/bin/bash
# Issue 15's replay goal as stated: a pre-written JSON-lines week of DEVICES devices (default
# 10000) reporting every 300 s for DAYS days (default 7: 20.2 M reports at 10,000 devices,
# 61 M lines with the metering events `ddlocal fleet --emit` writes, about 13 GB), replayed
# from the file against PROFILE (default bench/ten-behaviors.json) with --threads 1 and each
# of THREADS (default: 2 3). Prints wall and user+sys CPU of each, reports/s of both, and
# checks that the outputs are byte-identical. Set REPORTS_ONLY=1 to keep only the report lines (the shape
# of bench/sweep_week.sh's stream). The file is written to TMPDIR (default /tmp) and deleted on
# exit; check `df -h /tmp` first (about 1.3 GB per 1,000 devices-week).
#   bench/replay_week.sh [BUILD_DIR] [DEVICES] [DAYS] [PROFILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
devices=${2:-10000}
days=${3:-7}
profile=${4:-$root/bench/ten-behaviors.json}
ddlocal=$build/cli/ddlocal
work=$(mktemp -d "${TMPDIR:-/tmp}/ddlocal-bench-replay.XXXXXX")
trap 'rm -rf "$work"' EXIT

bad=$((devices / 100 > 0 ? devices / 100 : 1))
cat >"$work/week.json" <<JSON
{"name": "week", "devices": $devices, "durationSeconds": $((days * 86400)), "seed": 15,
 "report": {"intervalSeconds": 300, "format": "json", "keys": "long"},
 "metrics": {"bytes_out": {"distribution": "normal", "mean": 150, "stddev": 20}},
 "groups": [{"name": "bad", "devices": $bad,
             "schedule": [{"fromSeconds": 259200, "cloud": {"authorizationFailuresPerMinute": 2}}]}]}
JSON
"$ddlocal" fleet "$work/week.json" --emit "$work/week.jsonl" 2>"$work/emit.err"
if [ "${REPORTS_ONLY:-0}" = 1 ]; then
    grep '"report"' "$work/week.jsonl" >"$work/reports.jsonl"
    mv "$work/reports.jsonl" "$work/week.jsonl"
fi
lines=$(wc -l <"$work/week.jsonl")
reports=$(grep -c '"report"' "$work/week.jsonl")
echo "stream: $lines lines, $reports reports, $(du -h "$work/week.jsonl" | cut -f1); $(uptime)"

threads="1 ${THREADS:-2 3}"
for t in $threads; do
    /usr/bin/time -f "%e %U %S" -o "$work/time.$t" \
        "$ddlocal" replay --threads "$t" --profile "$profile" --reports "$work/week.jsonl" \
        >"$work/out.$t" 2>"$work/err.$t" || { head -3 "$work/err.$t"; exit 1; }
    read -r w u s <"$work/time.$t"
    awk -v t="$t" -v w="$w" -v u="$u" -v s="$s" -v r="$reports" -v n="$lines" \
        'BEGIN { printf "--threads %d: %.2f s wall (%.0f reports/s), %.2f s CPU (%.0f reports/s, " \
                 "%.0f lines/s of CPU)\n", t, w, r / w, u + s, r / (u + s), n / (u + s) }'
done
for t in $threads; do
    cmp -s "$work/out.1" "$work/out.$t" && cmp -s "$work/err.1" "$work/err.$t" ||
        { echo "OUTPUTS DIFFER: --threads $t"; exit 1; }
done
echo "outputs byte-identical ($(wc -l <"$work/out.1") lines)"
echo "after: $(uptime)"
