#!/bin/sh
# Builds ddlocal into build/ (or build-asan/ with --asan). Used by the
# quickstart and the test script; safe to run again (incremental).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "--asan" ]; then
    dir="$root/build-asan"
    cmake -S "$root" -B "$dir" -DDD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
else
    dir="$root/build"
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$dir" -j"$jobs"
