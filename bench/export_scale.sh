#!/bin/bash
# `ddlocal export` and `ddlocal datapoints` on a large live store (issue 15, item 3): fills a
# data dir with DEVICES things reporting every 5 minutes for DAYS days plus their cloud-side
# metering (bench_export_fill, straight into the store), then times, RUNS times each:
#   export      the whole store into a bundle (stream.jsonl: reports, metering, ticks);
#   datapoints  one thing's rows of the last hour (replays the whole history from the start).
# Prints wall seconds, user+sys CPU seconds and max RSS (MiB) of each run (/usr/bin/time -v),
# then the medians. With OLD_BUILD (a build of an earlier ddlocal, before store migration 7),
# times that one too on a copy of the data dir without the migration, and checks that both
# exports wrote the same bytes.
#   bench/export_scale.sh [BUILD_DIR] [DEVICES] [DAYS] [RUNS] [OLD_BUILD]
# Figures: docs/reference/record.md ("Memory and time").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
devices=${2:-1000}
days=${3:-7}
runs=${4:-3}
old=${5:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/ddlocal-bench-export.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$build/cli/ddlocal" init -D "$work/data" >/dev/null 2>&1
"$build/bench/bench_export_fill" "$work/data" "$devices" "$days"
echo "store: $(du -m "$work/data/ddlocal.db" | cut -f1) MiB; load: $(uptime | sed 's/.*load/load/')"
if [ -n "$old" ]; then
    cp -a "$work/data" "$work/data6"
    sqlite3 "$work/data6/ddlocal.db" "DROP INDEX ev_reports_time;
        UPDATE ddlocal_schema SET version = 6 WHERE component = 'evaluator';"
fi
# The last hour of the history (bench_export_fill starts on 2026-12-01T00:00:00Z).
to=$((1796083200000 + days * 86400000))
from=$((to - 3600000))

# One timed run: prints "wall cpu rss_mib".
timed() {
    /usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || { cat "$work/time" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0;
                                           for (i = 1; i <= n; i++) w = w * 60 + p[i] }
                /User time/ { u = $2 } /System time/ { s = $2 }
                /Maximum resident/ { r = $2 }
                END { printf "%.2f %.2f %.0f\n", w, u + s, r / 1024 }' "$work/time"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench() { # NAME BUILD DATA
    local name=$1 bin=$2/cli/ddlocal data=$3 i line
    : >"$work/export.txt"
    : >"$work/dp.txt"
    for i in $(seq "$runs"); do
        rm -rf "$work/bundle-$name"
        line=$(timed "$bin" export -D "$data" --out "$work/bundle-$name")
        echo "$name export      run $i: wall ${line% * *} s  cpu $(echo "$line" | cut -d' ' -f2) s  rss $(echo "$line" | cut -d' ' -f3) MiB"
        echo "$line" >>"$work/export.txt"
        line=$(timed "$bin" datapoints -D "$data" --profile Fleet --thing Thing00042 \
            --from "$from" --to "$to")
        echo "$name datapoints  run $i: wall ${line% * *} s  cpu $(echo "$line" | cut -d' ' -f2) s  rss $(echo "$line" | cut -d' ' -f3) MiB ($(($(wc -l <"$work/out") - 1)) rows)"
        echo "$line" >>"$work/dp.txt"
    done
    for what in export dp; do
        printf '%s %-10s median: wall %s s  cpu %s s  rss %s MiB\n' "$name" \
            "$([ $what = dp ] && echo datapoints || echo export)" \
            "$(cut -d' ' -f1 "$work/$what.txt" | median)" \
            "$(cut -d' ' -f2 "$work/$what.txt" | median)" \
            "$(cut -d' ' -f3 "$work/$what.txt" | median)"
    done
    echo "$name stream.jsonl: $(wc -l <"$work/bundle-$name/stream.jsonl") lines," \
        "$(du -m "$work/bundle-$name/stream.jsonl" | cut -f1) MiB"
}

bench new "$build" "$work/data"
if [ -n "$old" ]; then
    bench old "$old" "$work/data6"
    if cmp -s "$work/bundle-new/stream.jsonl" "$work/bundle-old/stream.jsonl"; then
        echo "stream.jsonl: identical bytes"
    else
        echo "stream.jsonl: DIFFERENT" >&2
        exit 1
    fi
fi
