// Unit tests of the console's pure logic (console/js/logic.js): node --test.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
    metricNumber, thresholdOf, violates, inverseOperator, invertedHint, alarmSpans, percentile,
    statisticPercent, fleetPercentileLine, timeStep, timeTicks, tickLabel, isoSeconds,
} from '../../console/js/logic.js';

test('metricNumber graphs counts, numbers and the size of sets', () => {
    assert.equal(metricNumber({count: 104000}), 104000);
    assert.equal(metricNumber({number: 2.5}), 2.5);
    assert.equal(metricNumber({ports: [22, 80]}), 2);
    assert.equal(metricNumber({cidrs: ['10.0.0.0/8']}), 1);
    assert.equal(metricNumber({}), null);
    assert.equal(metricNumber(null), null);
    assert.equal(thresholdOf({value: {count: 200}}), 200);
    assert.equal(thresholdOf({statisticalThreshold: {statistic: 'p90'}}), null);
});

test('criteria describe normal behaviour: a datapoint outside them violates', () => {
    assert.equal(violates('less-than-equals', 200, 104000), true);
    assert.equal(violates('less-than-equals', 200, 200), false);
    assert.equal(violates('less-than', 200, 200), true);
    assert.equal(violates('greater-than', 200, 150), true);
    assert.equal(violates('greater-than-equals', 200, 200), false);
    assert.equal(violates('in-port-set', 200, 1), null);
    assert.equal(violates('less-than', null, 1), null);
    assert.equal(inverseOperator('greater-than'), 'less-than-equals');
    assert.equal(inverseOperator('less-than'), 'greater-than-equals');
});

test('the inverted-operator hint appears for greater-than operators only', () => {
    const hint = invertedHint('aws:all-bytes-out', 'greater-than', '200');
    assert.match(hint, /Criteria describe normal behaviour/);
    assert.match(hint, /write less-than-equals 200/);
    assert.match(invertedHint('m', 'greater-than-equals', ''), /less-than the value/);
    assert.equal(invertedHint('aws:all-bytes-out', 'less-than-equals', '200'), null);
    assert.equal(invertedHint('aws:all-bytes-out', 'in-port-set', '22'), null);
});

test('alarm spans open at in-alarm and close at cleared or invalidated, in any order', () => {
    const spans = alarmSpans([
        {time: 900, type: 'alarm-cleared', violationId: 'a'},
        {time: 300, type: 'in-alarm', violationId: 'a'},
        {time: 1200, type: 'in-alarm', violationId: 'b'},
        {time: 1500, type: 'in-alarm', violationId: 'c'},
        {time: 1600, type: 'alarm-invalidated', violationId: 'c'},
    ], 2000);
    assert.deepEqual(spans.map((s) => [s.violationId, s.start, s.end, s.open]), [
        ['a', 300, 900, false], ['b', 1200, 2000, true], ['c', 1500, 1600, false]]);
    assert.deepEqual(alarmSpans([{time: 5, type: 'alarm-cleared', violationId: 'x'}], 10), []);
    assert.deepEqual(alarmSpans([], 10), []);
});

test('percentile interpolates between closest ranks like the engine (dd_stats.h)', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([4, 1, 3, 2], 0), 1);
    assert.equal(percentile([4, 1, 3, 2], 100), 4);
    assert.equal(percentile([10, 20], 90), 19);
    assert.equal(percentile([7], 99.9), 7);
    assert.equal(percentile([], 50), null);
    assert.equal(percentile([1, -1], 50), null);
    assert.equal(statisticPercent('p99.9'), 99.9);
    assert.equal(statisticPercent('p50'), 50);
    assert.equal(statisticPercent('average'), null);
});

test('the fleet percentile line takes each thing\'s last datapoint per window', () => {
    const line = fleetPercentileLine({
        Thing01: [{t: 10, v: 100}, {t: 250, v: 10}, {t: 310, v: 30}],
        Thing02: [{t: 20, v: 3000}, {t: 330, v: null}],
        Thing03: [{t: 30, v: 20}],
    }, 300, 50);
    assert.deepEqual(line, [{start: 0, end: 300, value: 20}, {start: 300, end: 600, value: 30}]);
    assert.deepEqual(fleetPercentileLine({}, 300, 50), []);
});

test('the time axis picks nice UTC steps and labels', () => {
    assert.equal(timeStep(3600e3, 8), 900e3);
    assert.equal(timeStep(86400e3, 8), 3 * 3600e3);
    assert.equal(timeStep(2 * 86400e3, 8), 6 * 3600e3);
    assert.equal(timeStep(30e3, 8), 5e3);
    assert.equal(timeStep(365 * 86400e3, 8), 7 * 86400e3 * 7);
    const t0 = Date.UTC(2026, 11, 6, 6, 7, 0);
    const ticks = timeTicks(t0, t0 + 3600e3, 8);
    assert.equal(ticks[0], Date.UTC(2026, 11, 6, 6, 15, 0));
    assert.equal(ticks.length, 4);
    assert.ok(ticks.every((t) => t % 900e3 === 0));
    assert.deepEqual(timeTicks(5, 5, 8), [5]);
    assert.equal(tickLabel(Date.UTC(2026, 11, 6, 6, 15, 0), 900e3), '06:15');
    assert.equal(tickLabel(Date.UTC(2026, 11, 6, 6, 15, 5), 5e3), '06:15:05');
    assert.equal(tickLabel(Date.UTC(2026, 11, 6), 86400e3), '2026-12-06');
    assert.equal(isoSeconds(Date.UTC(2026, 11, 6, 6, 15, 5, 123)), '2026-12-06T06:15:05Z');
});
