#!/bin/sh
# Rebuilds console/vendor/ from console/package-lock.json: the console's one
# npm dependency (uPlot) is committed there, built and minified, with its
# licence, so that running ddlocal needs no Node toolchain and the console
# loads nothing from outside. Run it after changing console/package.json
# (then `npm install --package-lock-only` first) and commit what changed.
#   scripts/console-vendor.sh [--check]   --check: fail if vendor/ differs
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
check=0
if [ "${1:-}" = "--check" ]; then
    check=1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/console/package.json" "$here/console/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
out="$work/vendor"
mkdir -p "$out"
src="$work/node_modules/uplot"
cp "$src/dist/uPlot.iife.min.js" "$out/uPlot.iife.min.js"
cp "$src/dist/uPlot.min.css" "$out/uPlot.min.css"
cp "$src/LICENSE" "$out/uPlot.LICENSE"
version=$(node -p "require('$src/package.json').version")
printf 'uPlot %s (MIT, see uPlot.LICENSE), from console/package-lock.json by scripts/console-vendor.sh\n' \
    "$version" >"$out/README.txt"
if [ "$check" -eq 1 ]; then
    diff -r "$out" "$here/console/vendor"
    echo "console/vendor matches console/package-lock.json"
    exit 0
fi
rm -rf "$here/console/vendor"
cp -r "$out" "$here/console/vendor"
echo "console/vendor rebuilt (uPlot $version)"
