#!/bin/sh
# `ddlocal replay` as a user runs it: the recorded stream from a file or from
# standard input (`--reports -`), the exit statuses 0 / 1 / 2 of
# docs/reference/replay.md, the final "N of M lines skipped" line on stderr,
# --no-summary, nothing on stdout for an invalid profile, --datapoints and --threads.
# Usage: test_replay_cli.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
g=$src/tests/golden/replay
p=$src/fixtures/profiles
work=$(mktemp -d /tmp/ddlocal-test-replay.XXXXXX)
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
    "$ddlocal" replay "$@" >"$work/$name.out" 2>"$work/$name.err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$name: exit status $got, expected $want ($(head -c 300 "$work/$name.err"))"
}

same() {
    cmp -s "$1" "$2" || fail "$3: $1 differs from $2: $(diff "$1" "$2" | head -5)"
}

# 1. Every line used, from standard input: exit 0, the golden output, empty stderr.
run stdin 0 --profile "$p/module4-intended.json" --reports - <"$g/module4.jsonl"
same "$work/stdin.out" "$g/module4-intended.out" "stdin"
[ -s "$work/stdin.err" ] && fail "stdin: unexpected stderr: $(cat "$work/stdin.err")"

# 2. The same stream from a file gives the same bytes; the literal rule warns.
run file 0 --profile "$p/module4-intended.json" --reports "$g/module4.jsonl"
same "$work/file.out" "$g/module4-intended.out" "file"
run literal 0 --profile "$p/module4-literal.json" --reports - <"$g/module4.jsonl"
same "$work/literal.out" "$g/module4-literal.out" "literal"
grep -q '"warning":"possibly inverted operator' "$work/literal.out" ||
    fail "literal: no inverted-operator warning"

# 3. Unusable lines: exit 1, each reported with its line number, then the count line last.
run bad 1 --profile "$p/module4-intended.json" --reports - <"$g/module4-bad.jsonl"
same "$work/bad.out" "$g/module4-bad.out" "bad"
{ cat "$g/module4-bad.err"; echo "ddlocal replay: 7 of 9 lines skipped"; } >"$work/bad.want"
same "$work/bad.err" "$work/bad.want" "bad stderr"

# 4. --no-summary: only the events.
run nosum 0 --no-summary --profile "$p/module4-literal.json" --reports - <"$g/module4.jsonl"
grep -q '"summary"' "$work/nosum.out" && fail "nosum: a summary line was printed"
[ "$(grep -c '"violationEventType"' "$work/nosum.out")" -eq 2 ] ||
    fail "nosum: expected 2 events, got $(cat "$work/nosum.out")"

# 5. Invalid profile: exit 2 with AWS's message, nothing on stdout.
cat >"$work/invalid.json" <<'JSON'
{"securityProfileName":"x","behaviors":[{"name":"b","metric":"aws:all-bytes-out","criteria":{"comparisonOperator":"less-than","value":{"count":1},"consecutiveDatapointsToAlarm":11}}]}
JSON
run invalid 2 --profile "$work/invalid.json" --reports - <"$g/module4.jsonl"
[ -s "$work/invalid.out" ] && fail "invalid: stdout not empty"
grep -q 'Behavior b is malformed. consecutiveDatapointsToAlarm 11' "$work/invalid.err" ||
    fail "invalid: no AWS message in $(cat "$work/invalid.err")"

# 6. Usage errors: exit 2 (missing --reports, unreadable file, unknown option).
run noreports 2 --profile "$p/module4-intended.json" </dev/null
run missing 2 --profile "$p/module4-intended.json" --reports "$work/nope.jsonl"
run unknown 2 --profile "$p/module4-intended.json" --reports - --frobnicate </dev/null

# 7. Empty input: nothing to skip, exit 0.
run empty 0 --profile "$p/module4-intended.json" --reports - </dev/null
grep -q '"violationEventType"' "$work/empty.out" && fail "empty: events from no input"

# 8. --datapoints: CSV by the file's extension, JSON lines by --datapoints-format; the events on
#    stdout are unchanged; a bad format or a format without a file is a usage error.
run dpcsv 0 --profile "$p/module4-intended.json" --reports "$g/module4.jsonl" \
    --datapoints "$work/dp.csv"
same "$work/dp.csv" "$g/module4-intended.datapoints.csv" "dpcsv"
same "$work/dpcsv.out" "$g/module4-intended.out" "dpcsv events"
run dpjson 0 --profile "$p/module3-intended.json" --reports "$g/module3.jsonl" \
    --datapoints "$work/dp.out" --datapoints-format json
same "$work/dp.out" "$g/module3-intended.datapoints.jsonl" "dpjson"
run dpformat 2 --profile "$p/module4-intended.json" --reports - --datapoints "$work/x" \
    --datapoints-format xml </dev/null
grep -q "csv or json" "$work/dpformat.err" || fail "dpformat: no clear message"
run dpnofile 2 --profile "$p/module4-intended.json" --reports - --datapoints-format csv </dev/null
run dpunwritable 2 --profile "$p/module4-intended.json" --reports - \
    --datapoints "$work/no/such/dir/dp.csv" </dev/null

# --threads: 1 to 16 give the golden bytes (stdout and stderr) on a stream with skipped lines;
# anything else is a usage error with a clear message.
for t in 1 2 3 16; do
    run "bad$t" 1 --threads "$t" --profile "$p/module4-intended.json" --reports "$g/module4-bad.jsonl"
    same "$work/bad$t.out" "$g/module4-bad.out" "threads $t"
    same "$work/bad$t.err" "$work/bad.want" "threads $t stderr"
done
for t in 0 17 2x; do
    run "threads$t" 2 --threads "$t" --profile "$p/module4-intended.json" --reports - </dev/null
    grep -q -- "--threads is 1 to 16, not '$t'" "$work/threads$t.err" ||
        fail "threads $t: no clear message"
done

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
