#!/bin/bash
# Checks the include arrows between folders (docs/reference/architecture.md,
# "Layers"): every #include "..." in evaluator/*/, common/, broker-shim/ and
# device/ is mapped to the folder of the header it names, and each arrow
# that is not allowed is listed (file:line, the header). Exit status 1 if
# there is any, 0 otherwise.
#
#   engine   -> common
#   shapes   -> engine, common
#   replay   -> shapes, engine, common
#   store    -> shapes, engine, common
#   audit    -> store, shapes, engine, common
#   app      -> audit, store, shapes, engine, common
#   pipeline -> app, audit, store, shapes, engine, common
#   api      -> pipeline, app, audit, store (reads and types), shapes, engine (types), common
#   service  -> every evaluator folder and common
#   common   -> nothing else; broker-shim and device -> common only
#
# A folder may always include its own headers; cli/, bench/, tests/ and
# fuzz/ may include anything and are not checked. Headers are found by file
# name (the build puts every module folder on the include path; names are
# unique in the tree, which this script checks too). A name not found in the
# tree (a library's header, a generated one) is not an arrow.
#   scripts/check-layers.sh           list the violations
#   scripts/check-layers.sh --arrows  also print every arrow found, with counts
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

show_arrows=0
case "${1:-}" in
"") ;;
--arrows) show_arrows=1 ;;
*)
    echo "usage: $0 [--arrows]" >&2
    exit 2
    ;;
esac

# Source files, without build trees (build*/ directories hold no headers of ours).
files=$(find evaluator common broker-shim device cli bench tests fuzz \
    -path '*/build*' -prune -o -type f \( -name '*.h' -o -name '*.inc' -o -name '*.c' \) -print |
    sort)

# The folder ("layer") of a path: evaluator's sub-folders by their own name.
layer_of_paths() {
    awk -F/ '{
        if ($1 == "evaluator") print (NF > 2 ? $2 : "evaluator")
        else print $1
    }'
}

# header name -> layer, for every header in the tree.
headers=$(echo "$files" | grep -E '\.(h|inc)$')
map=$(paste -d' ' <(echo "$headers" | sed 's|.*/||') <(echo "$headers" | layer_of_paths))
dups=$(echo "$map" | awk '{ print $1 }' | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "check-layers: header names used in more than one folder (cannot map them):" >&2
    for d in $dups; do
        echo "$headers" | grep "/$d\$" | sed 's/^/  /' >&2
    done
    exit 1
fi

checked=$(echo "$files" | grep -E '^(evaluator/[^/]+/|common/|broker-shim/|device/)')
# "file:line:#include "x.h"" for every quoted include of a checked file.
# shellcheck disable=SC2086 # the file names have no spaces
includes=$(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $checked || true)

status=0
echo "$includes" | awk -v map="$map" -v show="$show_arrows" '
BEGIN {
    n = split(map, lines, "\n")
    for (i = 1; i <= n; i++) { split(lines[i], f, " "); layer[f[1]] = f[2] }
    evaluator = "engine shapes replay store audit app pipeline api service"
    split(evaluator, ev, " ")
    for (i in ev) { isev[ev[i]] = 1 }
    allow["engine"] = "common"
    allow["shapes"] = "engine common"
    allow["replay"] = "shapes engine common"
    allow["store"] = "shapes engine common"
    allow["audit"] = "store shapes engine common"
    allow["app"] = "audit store shapes engine common"
    allow["pipeline"] = "app audit store shapes engine common"
    allow["api"] = "pipeline app audit store shapes engine common"
    allow["service"] = evaluator " common"
    allow["common"] = ""
    allow["broker-shim"] = "common"
    allow["device"] = "common"
    bad = 0
}
$0 == "" { next }
{
    # FILE:LINE:#include "NAME"
    file = $0; sub(/:.*/, "", file)
    rest = substr($0, length(file) + 2)
    line = rest; sub(/:.*/, "", line)
    name = rest; sub(/^[^"]*"/, "", name); sub(/".*/, "", name)
    base = name; sub(/.*\//, "", base)
    split(file, parts, "/")
    from = (parts[1] == "evaluator") ? parts[2] : parts[1]
    if (!(base in layer)) next
    to = layer[base]
    if (to == from) next
    arrow = from " -> " to
    count[arrow]++
    if (!(from in allow)) {
        why = "unknown folder evaluator/" from " (not in the layer list)"
    } else if (index(" " allow[from] " ", " " to " ") == 0) {
        why = ""
    } else {
        next
    }
    bad++
    if (!(arrow in badarrow)) { narrows++ }
    badarrow[arrow]++
    detail[arrow] = detail[arrow] sprintf("    %s:%s includes \"%s\" (%s/)%s\n", file, line, name,
        (to in isev) ? "evaluator/" to : to,
        why == "" ? "" : " - " why)
}
END {
    if (show) {
        print "include arrows between folders (includes):"
        for (a in count) printf "  %-28s %d\n", a, count[a] | "sort"
        close("sort")
    }
    if (bad == 0) {
        print "check-layers: every include arrow is allowed"
        exit 0
    }
    printf "check-layers: %d include(s) along %d arrow(s) that are not allowed:\n", bad, narrows > "/dev/stderr"
    for (a in badarrow) {
        printf "  %s (%d)\n%s", a, badarrow[a], detail[a] > "/dev/stderr"
    }
    exit 1
}' || status=1

# The build must not open the way either: an evaluator folder's CMakeLists.txt
# that puts a forbidden folder on its include path (evaluator/X) or links its
# library (ddX) makes the forbidden include compile.
for cm in evaluator/*/CMakeLists.txt; do
    from=$(basename "$(dirname "$cm")")
    grep -n -o -E 'evaluator/(engine|shapes|replay|store|app|pipeline|api|service)\b|\bdd(engine|shapes|replay|store|app|pipeline|api|service)\b' "$cm" |
        sed -E 's|evaluator/||; s|:dd|:|' | while IFS=: read -r line to; do
        [ "$to" = "$from" ] && continue
        case "$from:$to" in
        engine:* | shapes:replay | shapes:store | shapes:app | shapes:pipeline | shapes:api | \
            shapes:service | replay:store | replay:app | replay:pipeline | replay:api | replay:service | \
            store:replay | store:app | store:pipeline | store:api | store:service | \
            app:replay | app:pipeline | app:api | app:service | \
            pipeline:replay | pipeline:api | pipeline:service | api:replay | api:service)
            echo "check-layers: $cm:$line: $from -> $to (include path or library of evaluator/$to)" >&2
            echo bad
            ;;
        esac
    done
done | grep bad >/dev/null && status=1
exit $status
