#!/bin/sh
# Wall time of a whole pytest run of the three-test example (docs/recipes/test_ci_pytest.py)
# with the plugin: interpreter start, `ddlocal up --detach`, three tests with a reset each,
# `ddlocal down`. Two series of RUNS: "cached", with pytest's cache (the plugin copies an
# initialised data dir from it; the cache is made before the series), and "cold", with
# -p no:cacheprovider (a new CA and keys each run, as a CI job without a cache). Every run,
# then min / median / max in ms. Target (issue 14): under 3 s.
# Usage: bench/pytest_example.sh BUILD_DIR [RUNS]   (figures in docs/reference/benchmarks.md)
set -eu
build=$(cd "$1" && pwd)
runs=${2:-10}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ddlocal-bench-pytest.XXXXXX)
trap 'rm -rf "$work"' EXIT
export PATH="$build/cli:/usr/bin:/bin" PYTHONPATH="$src/python" PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR="$work"
cd "$work"

run() { # run SERIES PYTEST_OPTION...
    series=$1
    shift
    pytest -q -p pytest_ddlocal "$@" "$src/docs/recipes/test_ci_pytest.py" >"$work/run.log" 2>&1 ||
        { cat "$work/run.log"; exit 1; }
}

series() { # series NAME PYTEST_OPTION...
    name=$1
    shift
    i=0
    : >"$work/times"
    while [ "$i" -lt "$runs" ]; do
        t0=$(date +%s%N)
        run "$name" "$@"
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        echo "$name run $((i + 1)): $ms ms ($(tail -n 1 "$work/run.log"))"
        echo "$ms" >>"$work/times"
        i=$((i + 1))
    done
    sort -n "$work/times" | awk -v name="$name" '{ v[NR] = $1 } END {
        printf "pytest, three tests with the plugin, %s: min %d ms, median %d ms, " \
            "max %d ms (%d runs)\n", name, v[1], v[int((NR + 1) / 2)], v[NR], NR }'
}

run warm-up -o cache_dir="$work/cache" # makes the cache's initialised data dir
series cached -o cache_dir="$work/cache"
series cold -p no:cacheprovider
