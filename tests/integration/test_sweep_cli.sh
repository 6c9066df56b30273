#!/bin/sh
# `ddlocal sweep` as a rule author runs it (docs/reference/sweep.md): a value
# range scored against a known-bad thing in the three output formats, labels
# from a file, and the usage errors (exit status 2 with a clear message).
# Usage: test_sweep_cli.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
g=$src/tests/golden/replay
p=$src/fixtures/profiles
work=$(mktemp -d /tmp/ddlocal-test-sweep.XXXXXX)
failures=0

trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run NAME EXPECTED_STATUS ARGS...: stdout in $work/NAME.out, stderr in $work/NAME.err.
run() {
    name=$1
    want=$2
    shift 2
    "$ddlocal" sweep "$@" >"$work/$name.out" 2>"$work/$name.err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$name: exit status $got, expected $want ($(head -c 300 "$work/$name.err"))"
}

m4="--profile $p/module4-intended.json --behavior MoreBytesSent --reports $g/module4.jsonl"

# 1. CSV: one row per variant of START:END:STEP; 100 detects at once, 3100 never.
# shellcheck disable=SC2086 # $m4 is a list of options
run csv 0 $m4 --values 100:3100:1500 --bad Thing03 --format csv
cat >"$work/csv.want" <<'CSV'
value,thingsWithData,truePositives,falsePositives,falseNegatives,tpEvents,fpEvents,detectMedianSeconds,detectMaxSeconds,alarmedBadSeconds,alarmedGoodSeconds
100,1,1,0,0,1,0,0,0,1500,0
1600,1,1,0,0,1,0,900,900,600,0
3100,1,0,0,1,0,0,,,0,0
CSV
cmp -s "$work/csv.out" "$work/csv.want" || fail "csv: $(diff "$work/csv.out" "$work/csv.want")"

# 2. JSON lines and the table carry the same figures.
# shellcheck disable=SC2086
run json 0 $m4 --values 1600 --bad Thing03 --format json
grep -q '"value":"1600".*"truePositives":1.*"detectMedianSeconds":900' "$work/json.out" ||
    fail "json: $(cat "$work/json.out")"
# shellcheck disable=SC2086
run table 0 $m4 --to-alarm 1,3 --bad Thing03
[ "$(wc -l <"$work/table.out")" -eq 3 ] || fail "table: $(cat "$work/table.out")"
grep -q '^toAlarm' "$work/table.out" || fail "table header: $(head -1 "$work/table.out")"

# 3. Labels from a file, with an anomaly start, comments and blank lines.
printf '# compromised devices\n\nThing03,2026-11-28T10:20:07Z\n' >"$work/labels.txt"
# shellcheck disable=SC2086
run labels 0 $m4 --values 600 --labels "$work/labels.txt" --format csv
grep -q '^600,1,1,0,0,1,0,0,0,' "$work/labels.out" || fail "labels: $(cat "$work/labels.out")"

# 4. Usage errors: exit 2 and a message naming the problem.
# shellcheck disable=SC2086
run nokind 2 $m4 --bad Thing03
grep -q "one of --values" "$work/nokind.err" || fail "nokind: $(cat "$work/nokind.err")"
# shellcheck disable=SC2086
run twokinds 2 $m4 --values 1 --to-alarm 1
# shellcheck disable=SC2086
run badvalue 2 $m4 --values abc
grep -q "not a number" "$work/badvalue.err" || fail "badvalue: $(cat "$work/badvalue.err")"
run nobehavior 2 --profile "$p/module4-intended.json" --behavior Nope --reports "$g/module4.jsonl" \
    --values 1
grep -q "no behavior named Nope" "$work/nobehavior.err" || fail "nobehavior"
# shellcheck disable=SC2086
run badtime 2 $m4 --values 1 --bad Thing03@yesterday
grep -q "is not a time" "$work/badtime.err" || fail "badtime: $(cat "$work/badtime.err")"
# shellcheck disable=SC2086
run badformat 2 $m4 --values 1 --format xml
# shellcheck disable=SC2086
run badrange 2 $m4 --values 5:1:1
"$ddlocal" sweep --help | grep -q "usage: ddlocal sweep" || fail "--help"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
