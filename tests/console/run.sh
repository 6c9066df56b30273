#!/bin/sh
# The console in a real browser: Debian's chromium driven by playwright-core
# (pinned in tests/console/package-lock.json, installed with `npm ci` into the
# build tree once) against `ddlocal up --workshop --manual-clock` on free
# loopback ports. The story is module4.mjs's; with DD_CONSOLE_SCREENSHOTS=DIR
# it also writes the pages' screenshots there (docs/console/).
# Usage: run.sh /path/to/ddlocal SOURCE_DIR BUILD_DIR [STORY.mjs]   (default module4.mjs;
# audit.mjs is Module 2's Audit; clock.mjs the live scale change, on `--time-scale 60`
# without the workshop instead of the manual clock)
# Exit 77 (skipped) when chromium, node or npm is missing or npm ci fails.
set -u
ddlocal=$1
src=$2
build=$3
story=${4:-module4.mjs}
for prog in /usr/bin/chromium node npm mosquitto_pub; do
    if ! command -v "$prog" >/dev/null 2>&1; then
        echo "SKIP: $prog is not installed (scripts/debian-packages.txt)"
        exit 77
    fi
done
modules=$(cd "$build" && pwd)/console-test-node
if ! cmp -s "$src/tests/console/package-lock.json" "$modules/package-lock.json" ||
    [ ! -d "$modules/node_modules/playwright-core" ]; then
    rm -rf "$modules"
    mkdir -p "$modules"
    cp "$src/tests/console/package.json" "$src/tests/console/package-lock.json" "$modules/"
    if ! (cd "$modules" && npm ci --ignore-scripts --no-audit --no-fund >npm.log 2>&1); then
        cat "$modules/npm.log"
        rm -f "$modules/package-lock.json"
        echo "SKIP: npm ci of tests/console failed (no registry?)"
        exit 77
    fi
fi

work=$(mktemp -d /tmp/ddlocal-console.XXXXXX)
data=$work/data
uppid=""
cleanup() {
    if [ -n "$uppid" ]; then
        kill -INT "$uppid" 2>/dev/null
        wait "$uppid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

case $story in
clock.mjs) clock="--time-scale 60" ;;
*) clock="--manual-clock --workshop" ;;
esac
# shellcheck disable=SC2086 # $clock is two words on purpose
"$ddlocal" up -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 $clock --no-status \
    >"$work/up.log" 2>&1 &
uppid=$!
i=0
while [ ! -e "$data/endpoints.json" ]; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$uppid" 2>/dev/null; then
        cat "$work/up.log"
        echo "FAIL: ddlocal up did not write endpoints.json"
        exit 1
    fi
    sleep 0.1
done
# The banner follows endpoints.json: wait for it too.
i=0
until grep -q "console: *http://127.0.0.1:[0-9]*/console/" "$work/up.log"; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then
        cat "$work/up.log"
        echo "FAIL: ddlocal up does not print the console's address"
        exit 1
    fi
    sleep 0.1
done
DD_CONSOLE_NODE_MODULES=$modules DD_DATA_DIR=$data node "$src/tests/console/$story"
rc=$?
if [ "$rc" -ne 0 ]; then
    tail -n 30 "$data/logs/ddlocald.log" 2>/dev/null
fi
exit "$rc"
