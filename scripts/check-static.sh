#!/bin/sh
# Static analysis with cppcheck (Debian 12's 2.10) over every C file a build
# compiles - the programs, tests, bench and the fuzz harnesses - using the
# include paths and defines CMake gives each file. Checks: warning,
# portability, performance (cppcheck's "error" class is always on).
# Suppressions: .cppcheck-suppressions (with reasons) and inline
# "/* cppcheck-suppress ID - reason */". Exit status 1 on any finding.
# Run by scripts/test.sh; takes about half a minute on 2 CPUs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build-static"
if ! command -v cppcheck >/dev/null 2>&1; then
    echo "check-static: cppcheck is not installed (Debian package cppcheck)" >&2
    exit 2
fi
# Configure only (nothing is built): compile_commands.json lists every file
# with its flags. clang + DD_FUZZ so that fuzz/ is listed too.
cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER=clang -DDD_FUZZ=ON \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
mkdir -p "$dir/cppcheck"
jobs=$(nproc 2>/dev/null || echo 2)
out="$dir/cppcheck.log"
# --cppcheck-build-dir keeps results per file, so a second run only
# re-analyses what changed.
cppcheck -j"$jobs" --project="$dir/compile_commands.json" \
    --enable=warning,portability,performance --inline-suppr \
    --suppressions-list="$root/.cppcheck-suppressions" \
    --cppcheck-build-dir="$dir/cppcheck" --error-exitcode=1 --quiet \
    --template='{file}:{line}: {severity} [{id}] {message}' 2>"$out" || true
# Paths relative to the tree; anything left is a finding.
sed "s|^$root/||" "$out" >"$out.rel"
if [ -s "$out.rel" ]; then
    cat "$out.rel" >&2
    echo "check-static: $(wc -l <"$out.rel") finding(s); fix them or suppress with a reason" >&2
    exit 1
fi
echo "check-static: cppcheck clean"
