#!/bin/sh
# The second command of the README: builds ddlocal twice - plain and with
# AddressSanitizer + UndefinedBehaviorSanitizer - and runs the whole test
# suite (unit and integration tests) on both builds.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
status=0
for variant in plain asan; do
    if [ "$variant" = asan ]; then
        "$root/scripts/build.sh" --asan
        dir="$root/build-asan"
    else
        "$root/scripts/build.sh"
        dir="$root/build"
    fi
    echo "== tests ($variant build) =="
    if ! (cd "$dir" && ctest --output-on-failure --timeout 600); then
        status=1
    fi
done
exit $status
