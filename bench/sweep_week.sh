#!/bin/bash
# Replay and sweep over a synthetic week (issue 15's performance goals):
# DEVICES devices (default 1000) reporting bytes_out every 5 minutes for 7
# days (2.0 M reports at 1000 devices); the first 1% turn bad on day 3 and
# send 20x more. Times `ddlocal replay` with the workshop's Module 4 profile,
# then `ddlocal sweep` of its behavior over VARIANTS values (default 20) in
# one pass, and prints the sweep's table.
#   bench/sweep_week.sh [BUILD_DIR] [DEVICES] [VARIANTS]
# Goal (issue 15): the 20-variant sweep over the 2 M-report week in < 20 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
devices=${2:-1000}
variants=${3:-20}
ddlocal=$build/cli/ddlocal
work=$(mktemp -d /tmp/ddlocal-bench-sweep.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$devices" "$work/week.jsonl" "$work/labels.txt" <<'PY'
import random, sys
devices, out, labels = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(15)
t0 = 1795824000000  # 2026-11-28T00:00:00Z
bad = max(1, devices // 100)
turn = t0 + 3 * 86400000
with open(labels, "w") as f:
    for d in range(bad):
        f.write("d%05d,%d\n" % (d, turn))
with open(out, "w") as f:
    w = f.write
    for step in range(7 * 288):
        t = t0 + step * 300000
        for d in range(devices):
            b = rng.randrange(100, 190)
            if d < bad and t >= turn:
                b *= 20
            w('{"thing":"d%05d","time":%d,"report":{"header":{"report_id":%d,"version":"1.0"},'
              '"metrics":{"network_stats":{"bytes_out":%d,"packets_out":1}}}}\n' % (d, t + d, step + 1, b))
PY
lines=$(wc -l <"$work/week.jsonl")
echo "stream: $lines reports from $devices devices over 7 days ($(du -h "$work/week.jsonl" | cut -f1))"

start=$(date +%s.%N)
"$ddlocal" replay --profile "$root/fixtures/profiles/module4-intended.json" \
    --reports "$work/week.jsonl" --no-summary >"$work/events.jsonl" 2>"$work/replay.err" ||
    { head -3 "$work/replay.err"; exit 1; }
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$lines" -v ev="$(wc -l <"$work/events.jsonl")" \
    'BEGIN { printf "replay: %.2f s (%.0f reports/s), %d violation events\n", e - s, n / (e - s), ev }'

values=$(seq -s, 200 200 $((200 * variants)))
start=$(date +%s.%N)
"$ddlocal" sweep --profile "$root/fixtures/profiles/module4-intended.json" \
    --behavior MoreBytesSent --reports "$work/week.jsonl" --values "$values" \
    --labels "$work/labels.txt" >"$work/sweep.txt" 2>"$work/sweep.err" ||
    { head -3 "$work/sweep.err"; exit 1; }
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$lines" -v k="$variants" \
    'BEGIN { printf "sweep: %d variants in %.2f s (one pass, %.0f reports/s)\n", k, e - s, n / (e - s) }'
cat "$work/sweep.txt"
