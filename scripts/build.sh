#!/bin/sh
# Builds ddlocal; safe to run again (incremental). Warnings are errors
# (-DDD_WERROR=ON) in every variant built here - a plain CMake build leaves
# that off. Used by the quickstart and the test script.
#   (none)     build/         gcc, RelWithDebInfo (what the quickstart runs)
#   --asan     build-asan/    gcc, Debug, AddressSanitizer + UBSan
#   --release  build-release/ gcc, Release (-O3: the optimiser's warnings)
#   --clang    build-clang/   clang, Debug (clang's front-end warnings)
#   --fuzz     build-fuzz/    clang, libFuzzer harnesses under fuzz/ (DD_FUZZ)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
case "${1:-}" in
"")
    dir="$root/build"
    set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
--asan)
    dir="$root/build-asan"
    set -- -DDD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    ;;
--release)
    dir="$root/build-release"
    set -- -DCMAKE_BUILD_TYPE=Release
    ;;
--clang)
    dir="$root/build-clang"
    set -- -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
    ;;
--fuzz)
    dir="$root/build-fuzz"
    set -- -DCMAKE_C_COMPILER=clang -DDD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
*)
    echo "usage: $0 [--asan|--release|--clang|--fuzz]" >&2
    exit 2
    ;;
esac
target=all
if [ "$dir" = "$root/build-fuzz" ]; then
    target=fuzzers # the rest of a fuzzing tree is not meant to run
fi
cmake -S "$root" -B "$dir" -DDD_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$jobs" --target "$target"
