#!/bin/sh
# Writes docs/reference/commands.md from the programs' own --help texts, so
# the reference cannot drift from the code (tests/integration runs this with
# --check). Usage: gen-command-docs.sh BUILD_DIR [--check]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
out="$root/docs/reference/commands.md"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
ddlocal="$build/cli/ddlocal"
{
    echo "# Commands"
    echo
    echo "Generated from each program's \`--help\` by \`scripts/gen-command-docs.sh\`; do not edit by hand."
    echo
    echo "## ddlocal"
    echo
    echo '```'
    "$ddlocal" --help
    echo '```'
    for cmd in up status down demo workshop device clock wait events health reset fault snapshot isolator init thing cert group policy sns lambda replay sweep plot export record datapoints fleet; do
        echo
        echo "## ddlocal $cmd"
        echo
        echo '```'
        "$ddlocal" "$cmd" --help
        echo '```'
    done
    for prog in evaluator/service/ddlocald device/ddlocal-agent device/ddlocal-sensor; do
        echo
        echo "## $(basename "$prog")"
        echo
        echo '```'
        "$build/$prog" --help
        echo '```'
    done
} >"$tmp" 2>&1
if [ "${2:-}" = "--check" ]; then
    if ! diff -u "$out" "$tmp"; then
        echo "docs/reference/commands.md is out of date: run scripts/gen-command-docs.sh $build" >&2
        exit 1
    fi
    exit 0
fi
cp "$tmp" "$out"
