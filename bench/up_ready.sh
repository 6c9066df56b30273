#!/bin/sh
# Time to ready of `ddlocal up --detach` on an initialised data dir: from the command's start
# until it returns 0 (endpoints.json written, the API answering), RUNS times, each followed by
# `ddlocal down`; prints every run, then min / median / max in ms. Target (issue 14): < 300 ms.
# Usage: bench/up_ready.sh BUILD_DIR [RUNS]   (figures in docs/reference/benchmarks.md)
set -eu
build=$1
runs=${2:-20}
ddlocal=$build/cli/ddlocal
work=$(mktemp -d /tmp/ddlocal-bench-up.XXXXXX)
trap '"$ddlocal" down -D "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

now_ns() { date +%s%N; }

# An initialised data dir: CA, certificates and database exist, as after a first `up`.
"$ddlocal" init -D "$work/data" >/dev/null 2>&1
i=0
: >"$work/times"
while [ "$i" -lt "$runs" ]; do
    t0=$(now_ns)
    "$ddlocal" up --detach -D "$work/data" --mqtt-port 0 --alpn-port 0 --api-port 0 >/dev/null 2>&1
    t1=$(now_ns)
    curl -sf "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' \
        "$work/data/endpoints.json")/things" >/dev/null || { echo "API not answering after up --detach" >&2; exit 1; }
    "$ddlocal" down -D "$work/data" >/dev/null
    ms=$(((t1 - t0) / 1000000))
    echo "run $((i + 1)): ready in $ms ms"
    echo "$ms" >>"$work/times"
    i=$((i + 1))
done
sort -n "$work/times" | awk '{ v[NR] = $1 } END {
    printf "up --detach ready: min %d ms, median %d ms, max %d ms (%d runs)\n",
        v[1], v[int((NR + 1) / 2)], v[NR], NR }'
