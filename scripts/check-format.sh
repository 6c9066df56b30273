#!/bin/sh
# Checks that the tracked C sources (.c, .h) match .clang-format, using
# Debian 12's clang-format 14 in check mode (--dry-run -Werror): nothing is
# changed. Lists the files that differ and exits 1 if there are any.
#   scripts/check-format.sh          check
#   scripts/check-format.sh --diff   also print each file's changes as a diff
# To fix a file: clang-format -i FILE. scripts/test.sh runs this check only
# once the file .clang-format-enforced exists (see STYLE.md).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "check-format: clang-format is not installed (Debian package clang-format)" >&2
    exit 2
fi
files=$(git ls-files '*.c' '*.h')
# One process for all files; each violation is "FILE:LINE:COL: error: ...".
bad=$(echo "$files" | xargs clang-format --style=file --dry-run -Werror 2>&1 |
    sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ -z "$bad" ]; then
    echo "check-format: $(echo "$files" | wc -l) files match .clang-format"
    exit 0
fi
if [ "${1:-}" = "--diff" ]; then
    for f in $bad; do
        clang-format --style=file "$f" | diff -u "$f" - || true
    done
fi
echo "$bad" | sed 's/^/not formatted: /' >&2
echo "check-format: $(echo "$bad" | wc -l) of $(echo "$files" | wc -l) files differ from .clang-format (clang-format -i FILE fixes one)" >&2
exit 1
