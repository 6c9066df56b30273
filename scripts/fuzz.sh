#!/bin/sh
# Runs every libFuzzer harness under fuzz/ (or the ones named) for SECONDS
# each, after building them (scripts/build.sh --fuzz: clang, ASan, UBSan).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 600 policy route
#
# CI (scripts/test.sh) runs 10 s each; a long run is an hour or more each
# (docs/reference/building.md). The corpus each harness grows is kept in
# build-fuzz/corpus/<harness>/, so later runs start where earlier ones ended;
# seeds come from fixtures/ (reports, profiles, policies, provisioning templates, recorded streams)
# and from build-fuzz/fuzz/fuzz_seeds (control, metering, API routes); console targets here.
# A crash, leak, timeout or sanitizer report stops that harness and fails the
# script; the input is kept as build-fuzz/crashes/<harness>-crash-<sha1>.
# Reproduce with: build-fuzz/fuzz/fuzz_<harness> <that file>
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=10
if [ $# -gt 0 ]; then
    secs=$1
    shift
fi
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [HARNESS...]" >&2
    exit 2
    ;;
esac
all="report_json report_cbor policy profile replay linetree control metering route console provision certfacts"
harnesses=${*:-$all}

"$root/scripts/build.sh" --fuzz
bin="$root/build-fuzz/fuzz"
work="$root/build-fuzz"
seeds="$work/seeds"
rm -rf "$seeds"
mkdir -p "$work/crashes" "$work/logs"
for h in $all; do
    mkdir -p "$seeds/$h" "$work/corpus/$h"
done
cp "$root"/fixtures/reports/*.json "$seeds/report_json/"
for f in "$root"/fixtures/reports/*.cbor.hex; do
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().strip()))' \
        "$f" >"$seeds/report_cbor/$(basename "$f" .hex)"
done
cp "$root"/fixtures/profiles/*.json "$seeds/profile/"
cp "$root"/fixtures/policies/*.json "$seeds/policy/"
cp "$root"/fixtures/provisioning/fleet-template.json "$seeds/provision/"
cp "$root"/tests/golden/replay/*.jsonl "$seeds/replay/"
cp "$root"/tests/golden/replay/*.jsonl "$seeds/linetree/"
head -n 50 "$root"/tests/golden/replay/*.jsonl >"$seeds/linetree/mixed.jsonl"
"$bin/fuzz_seeds" "$seeds"
# A certificate to start the PEM harness from (no certificate is a fixture: ddlocal makes its own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=seed -days 1 \
    -keyout /dev/null -out "$seeds/certfacts/seed.pem" 2>/dev/null
# Console request targets (dd_console_get()).
i=0
for t in "GET /console" "GET /console/" "GET /console/js/app.js?v=1" "HEAD /console/index.html" \
    "GET /console/../x" "POST /console/"; do
    i=$((i + 1))
    printf '%s' "$t" >"$seeds/console/target$i"
done

status=0
for h in $harnesses; do
    if [ ! -x "$bin/fuzz_$h" ]; then
        echo "no harness '$h' (have: $all)" >&2
        exit 2
    fi
    log="$work/logs/$h.log"
    # -timeout: one input running over 10 s is a hang worth a report.
    if "$bin/fuzz_$h" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$h-" "$work/corpus/$h" "$seeds/$h" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz $h: ok, ${runs:-?} inputs in ${secs} s, corpus $(ls "$work/corpus/$h" | wc -l)"
    else
        echo "fuzz $h: FAILED - see $log; inputs in $work/crashes/:" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 >&2 || true
        ls -1 "$work/crashes" | grep "^$h-" >&2 || true
        status=1
    fi
done
exit $status
