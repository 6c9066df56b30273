#!/bin/sh
# `ddlocal plot` as a rule author runs it (docs/reference/plot.md): the SVG of
# a replay series and of a sweep, checked structurally (they parse as SVG;
# one marker per datapoint and per violating datapoint; one shaded span per
# alarm; the events and the legend named), and its usage errors.
# Usage: test_plot_cli.sh /path/to/ddlocal /path/to/source
set -u
ddlocal=$1
src=$2
g=$src/tests/golden/replay
p=$src/fixtures/profiles
work=$(mktemp -d /tmp/ddlocal-test-plot.XXXXXX)
failures=0

trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

if ! command -v gnuplot >/dev/null; then
    echo "FAIL: gnuplot is not installed (scripts/debian-packages.txt lists gnuplot-nox)"
    exit 1
fi

# check_svg FILE PYTHON-ASSERTIONS: the file parses as SVG; the assertions see
# plots[n] = (legend titles, marker count) of gnuplot's plot n, texts, spans.
check_svg() {
    python3 - "$1" "$2" <<'PY' || fail "$1: structure"
import sys
import xml.etree.ElementTree as ET
S = '{http://www.w3.org/2000/svg}'
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == S + 'svg', root.tag
plots = {}
for g in root.iter(S + 'g'):
    gid = g.get('id') or ''
    if gid.startswith('gnuplot_plot_'):
        plots[int(gid[13:])] = ([t.text for t in g.iter(S + 'title')], len(list(g.iter(S + 'use'))))
texts = [''.join(t.itertext()) for t in root.iter(S + 'text')]
spans = sum(1 for e in root.iter() if (e.get('fill') or '').startswith('rgb(244, 199, 195)'))
exec(sys.argv[2])
PY
}

# 1. Module 4 replayed: Thing03's 6 datapoints, the 3 of 3000 bytes violating, one alarm
#    raised and still open at the end (one span), the static threshold in the legend.
"$ddlocal" plot --profile "$p/module4-intended.json" --reports "$g/module4.jsonl" \
    --out "$work/m4" >"$work/m4.out" 2>"$work/m4.err" || fail "m4: $(cat "$work/m4.err")"
svg=$work/m4/Thing03.DetectSendingMoreThanAverageBytes.MoreBytesSent.svg
[ -s "$svg" ] || fail "m4: no $svg ($(cat "$work/m4.out"))"
grep -q "wrote $svg (6 datapoints, 1 events)" "$work/m4.out" || fail "m4 output: $(cat "$work/m4.out")"
check_svg "$svg" "
assert plots[1] == (['datapoint'], 6 + 1), plots[1]     # one marker per datapoint (+ the key's)
assert plots[2] == (['violating'], 3 + 1), plots[2]
assert plots[3][0] == ['threshold (static)'], plots[3]
assert 'in-alarm' in texts and 'alarm-cleared' not in texts, texts
assert any('Thing03 - DetectSendingMoreThanAverageBytes / MoreBytesSent' in t for t in texts)
assert spans == 1, spans
"
[ -e "$work/m4/.Thing03.DetectSendingMoreThanAverageBytes.MoreBytesSent.gp" ] &&
    fail "m4: the gnuplot script was left behind"

# 2. Module 3 (statistical): the fleet's percentile is the threshold; --thing picks a series
#    that never alarmed, --keep-scripts keeps the script.
"$ddlocal" plot --profile "$p/module3-intended.json" --reports "$g/module3.jsonl" \
    --out "$work/m3" --thing Thing01 --keep-scripts >"$work/m3.out" 2>"$work/m3.err" ||
    fail "m3: $(cat "$work/m3.err")"
svg=$work/m3/Thing01.DetectLargeMessageSize.LargeMessageSize.svg
check_svg "$svg" "
assert plots[3][0] == ['threshold: p50 of the fleet'], plots[3]
assert spans == 0, spans
"
[ -s "$work/m3/.Thing01.DetectLargeMessageSize.LargeMessageSize.gp" ] || fail "m3: --keep-scripts"

# 3. A sweep chart: one bar per variant and series, the variants as x labels.
"$ddlocal" sweep --profile "$p/module4-intended.json" --behavior MoreBytesSent \
    --reports "$g/module4.jsonl" --values 100:3100:1500 --bad Thing03 --format csv >"$work/sw.csv"
"$ddlocal" plot --sweep "$work/sw.csv" --out "$work/sweep.svg" >/dev/null 2>"$work/sw.err" ||
    fail "sweep: $(cat "$work/sw.err")"
check_svg "$work/sweep.svg" "
assert [plots[n][0] for n in (1, 2, 3)] == [['false positives'], ['true positives'], ['median detection time']], plots
for v in ('100', '1600', '3100'):
    assert v in texts, (v, texts)
"

# 4. Usage errors and what cannot be drawn.
"$ddlocal" plot --profile "$p/module4-intended.json" --reports "$g/module4.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --out must be a usage error"
printf 'not,a,sweep\n' >"$work/bad.csv"
"$ddlocal" plot --sweep "$work/bad.csv" --out "$work/bad.svg" 2>"$work/bad.err"
[ $? -eq 2 ] || fail "a bad sweep CSV must exit 2"
grep -q "ddlocal sweep --format csv" "$work/bad.err" || fail "bad sweep message: $(cat "$work/bad.err")"
"$ddlocal" plot --profile "$p/module4-intended.json" --reports "$g/module4.jsonl" \
    --out "$work/none" --thing NoSuchThing 2>"$work/none.err"
[ $? -eq 1 ] || fail "nothing to draw must exit 1"
grep -q "nothing to draw" "$work/none.err" || fail "nothing to draw: $(cat "$work/none.err")"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
