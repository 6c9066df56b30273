#!/bin/sh
# `ddlocal fleet --emit` writes the same bytes as the golden files in
# tests/golden/emit (generated before the emitter was optimised): JSON long and
# short keys, CBOR, telemetry, every cloud rate, --start-time; to a file and
# through a pipe; with 1, 2 and 3 threads. Two larger fleets (3,000 devices,
# cloud rates, telemetry, connections; the CBOR one runs four blocks, so each
# worker reuses its two buffers) give the same bytes with 1, 2 and 3 threads.
# Usage: test_emit_golden.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
s=$src/fixtures/scenarios
g=$src/tests/golden/emit
work=$(mktemp -d /tmp/ddlocal-test-emit-golden.XXXXXX)
failures=0

trap 'rm -rf "$work"' EXIT

check() { # NAME ARGS...: emit to a file and to stdout, compare both with NAME.jsonl
    name=$1
    shift
    "$ddlocal" fleet "$@" --emit "$work/$name.jsonl" 2>"$work/$name.err" ||
        { echo "FAIL: $name: exit $? ($(cat "$work/$name.err"))"; failures=$((failures + 1)); return; }
    cmp "$g/$name.jsonl" "$work/$name.jsonl" ||
        { echo "FAIL: $name: differs from the golden file"; failures=$((failures + 1)); }
    "$ddlocal" fleet "$@" --emit - 2>/dev/null | cmp "$g/$name.jsonl" - ||
        { echo "FAIL: $name to stdout: differs from the golden file"; failures=$((failures + 1)); }
    for n in 1 2 3; do
        "$ddlocal" fleet "$@" --threads $n --emit - 2>/dev/null | cmp "$g/$name.jsonl" - ||
            { echo "FAIL: $name --threads $n: differs"; failures=$((failures + 1)); }
    done
}

same_for_threads() { # NAME ARGS...: --threads 2 and 3 write what --threads 1 writes
    name=$1
    shift
    "$ddlocal" fleet "$@" --threads 1 --emit "$work/$name.1" 2>/dev/null ||
        { echo "FAIL: $name --threads 1: exit $?"; failures=$((failures + 1)); return; }
    for n in 2 3; do
        "$ddlocal" fleet "$@" --threads $n --emit - 2>/dev/null | cmp "$work/$name.1" - ||
            { echo "FAIL: $name --threads $n: differs from --threads 1"; failures=$((failures + 1)); }
    done
    rm -f "$work/$name.1"
}

check golden-cbor "$g/golden-cbor.json"
check bytes-spike "$s/bytes-spike.json" --devices 10 --duration 1200
check capacity "$s/capacity.json" --devices 3 --duration 1800
check small "$s/small.json" --start-time 2026-11-28T00:00:00Z
same_for_threads cbor-3000 "$g/golden-cbor.json" --devices 3000 --duration 7200
same_for_threads small-3000 "$s/small.json" --devices 3000 --duration 3600

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
