#!/bin/bash
# The test suite under load: keeps every CPU busy with `stress-ng --cpu`
# while the whole suite (ctest) of each build directory runs RUNS times in a
# row, then prints per run whether it passed, how long it took and which
# tests failed. A test that fails here and not on an idle machine waits for
# time instead of a condition, has too short a deadline or races: a bug.
#
# usage: scripts/stress.sh [RUNS] [BUILD_DIR...]
#        RUNS       passes per build directory (default 3)
#        BUILD_DIR  build directories to test (default build/ and build-asan/
#                   of the source tree; build them first with scripts/build.sh)
# env:   STRESS_CPUS=N    stress-ng CPU workers (default: nproc)
#        STRESS_LOGS=DIR  where each run's ctest output is kept
#                         (default: a new /tmp/ddlocal-stress.XXXXXX)
#        CTEST_ARGS=...   more ctest arguments, e.g. "-L unit" or "-R pipeline"
#
# stress-ng is stopped when the script ends, however it ends (trap). Exit
# status 0 if every run of every build passed, 1 otherwise, 2 on bad usage.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

runs=${1:-3}
case "$runs" in
'' | *[!0-9]* | 0)
    echo "usage: $0 [RUNS] [BUILD_DIR...]  (RUNS: a positive number, got '$runs')" >&2
    exit 2
    ;;
esac
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
    set -- "$root/build" "$root/build-asan"
fi
for dir in "$@"; do
    if [ ! -f "$dir/CTestTestfile.cmake" ]; then
        echo "$0: $dir is not a configured build directory (run scripts/build.sh first)" >&2
        exit 2
    fi
done
if ! command -v stress-ng >/dev/null 2>&1; then
    echo "$0: stress-ng is not installed (Debian package stress-ng," \
        "listed in scripts/debian-packages.txt)" >&2
    exit 2
fi

cpus=${STRESS_CPUS:-$(nproc 2>/dev/null || echo 2)}
logs=${STRESS_LOGS:-$(mktemp -d /tmp/ddlocal-stress.XXXXXX)}
mkdir -p "$logs"
stress_pid=

stop_stress() {
    if [ -n "$stress_pid" ]; then
        # stress-ng stops its workers when its parent gets SIGTERM.
        kill -TERM "$stress_pid" 2>/dev/null
        wait "$stress_pid" 2>/dev/null
        stress_pid=
    fi
}
trap stop_stress EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stress-ng --cpu "$cpus" --quiet &
stress_pid=$!
echo "stress-ng --cpu $cpus (pid $stress_pid); $runs run(s) of each of: $*"
echo "logs: $logs"

status=0
summary=
for dir in "$@"; do
    name=$(basename "$dir")
    for run in $(seq "$runs"); do
        log="$logs/$name-run$run.log"
        start=$(date +%s)
        # shellcheck disable=SC2086 # CTEST_ARGS is a list of arguments
        (cd "$dir" && ctest --output-on-failure --timeout 900 ${CTEST_ARGS:-}) >"$log" 2>&1
        rc=$?
        secs=$(($(date +%s) - start))
        total=$(sed -n 's/.*tests passed, [0-9]* tests failed out of \([0-9]*\).*/\1/p' "$log")
        if [ $rc -eq 0 ]; then
            line="$name run $run/$runs: PASS in ${secs} s (${total:-?} tests)"
        else
            status=1
            # ctest lists the failures after "The following tests FAILED:".
            failed=$(sed -n '/The following tests FAILED:/,$p' "$log" |
                sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (\(.*\))$/\1 (\2)/p' | paste -sd, -)
            line="$name run $run/$runs: FAIL in ${secs} s (${total:-?} tests): ${failed:-ctest exit $rc, see $log}"
        fi
        echo "$line"
        summary="$summary$line
"
    done
done
stop_stress
echo "== summary (load: stress-ng --cpu $cpus; logs in $logs) =="
printf '%s' "$summary"
exit $status
