// One behavior's graph on uPlot (vendor/uPlot.iife.min.js, a global): the
// thing's datapoints, the threshold (a static line, or the fleet percentile
// of each window as steps), shaded alarm periods and violation markers.
import {timeStep, timeTicks, tickLabel} from './logic.js';

/** 104000 -> "104k": axis labels stay short. */
function shortNumber(v) {
    const a = Math.abs(v);
    if (a >= 1e9) {
        return `${+(v / 1e9).toFixed(1)}G`;
    }
    if (a >= 1e6) {
        return `${+(v / 1e6).toFixed(1)}M`;
    }
    if (a >= 1e4) {
        return `${+(v / 1e3).toFixed(1)}k`;
    }
    return String(+v.toFixed(2));
}

let library = null;

/**
 * Loads uPlot (vendor/uPlot.iife.min.js, a global) once, when a page first needs a graph: the
 * other pages never parse it. Resolves when `uPlot` is defined.
 */
export function loadChartLibrary() {
    if (!library) {
        library = typeof uPlot !== 'undefined' ? Promise.resolve() : new Promise((ok, fail) => {
            const s = document.createElement('script');
            s.src = 'vendor/uPlot.iife.min.js';
            s.onload = () => ok();
            s.onerror = () => {
                library = null; // another try on the next graph
                fail(new Error('the chart library (vendor/uPlot.iife.min.js) did not load'));
            };
            document.head.append(s);
        });
    }
    return library;
}

/**
 * Draws into @p el; loadChartLibrary() must have resolved.
 * @param el container
 * @param g {points: [{t, v}], threshold: number|null, percentile: [{start, end, value}],
 *           spans: [{start, end}], markers: [{t, label}], from, to, label}
 */
export function drawChart(el, g) {
    const thr = g.threshold;
    // One row per datapoint (two reports of one time both stay), per percentile step edge and
    // for both ends of the range: [x, datapoint, percentile], sorted by x (stable).
    const rows = g.points.map((p) => [p.t / 1000, p.v, null]);
    for (const w of g.percentile || []) {
        rows.push([w.start / 1000, null, w.value], [w.end / 1000 - 0.001, null, w.value]);
    }
    rows.push([g.from / 1000, null, null], [g.to / 1000, null, null]);
    rows.sort((a, b) => a[0] - b[0]);
    const data = [
        rows.map((r) => r[0]),
        rows.map((r) => r[1]),
        rows.map(() => thr),
        rows.map((r) => r[2]),
    ];
    const width = Math.max(280, el.clientWidth || 600);
    const opts = {
        width,
        height: 240,
        title: g.label,
        scales: {x: {time: true, range: [g.from / 1000, g.to / 1000]},
            y: {range: (u, min, max) => [0, Math.max(max || 0, thr || 0, 1) * 1.15]}},
        axes: [
            {
                splits: (u, i, min, max) => timeTicks(min * 1000, max * 1000, width > 500 ? 8 : 4)
                    .map((t) => t / 1000),
                values: (u, splits, i, space, incr) => {
                    const step = timeStep((u.scales.x.max - u.scales.x.min) * 1000,
                        width > 500 ? 8 : 4);
                    return splits.map((s) => tickLabel(s * 1000, step));
                },
            },
            {size: 56, values: (u, splits) => splits.map(shortNumber)},
        ],
        series: [
            {label: 'time (UTC)', value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString()
                .slice(0, 19) + 'Z')},
            {label: 'datapoint', stroke: '#0972d3', width: 2, spanGaps: true,
                points: {show: true, size: 7, fill: '#0972d3'}},
            {label: 'threshold', stroke: '#d13212', width: 1, dash: [6, 4], show: thr != null,
                points: {show: false}},
            {label: 'fleet percentile', stroke: '#8d6605', width: 1.5, spanGaps: false,
                show: (g.percentile || []).length > 0, points: {show: false}},
        ],
        hooks: {
            drawClear: [(u) => {
                const ctx = u.ctx;
                ctx.save();
                ctx.fillStyle = 'rgba(209, 50, 18, 0.14)';
                for (const s of g.spans || []) {
                    const x0 = u.valToPos(Math.max(s.start, g.from) / 1000, 'x', true);
                    const x1 = u.valToPos(Math.min(s.end, g.to) / 1000, 'x', true);
                    if (x1 > x0) {
                        ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
                    }
                }
                ctx.restore();
            }],
            draw: [(u) => {
                const ctx = u.ctx;
                ctx.save();
                ctx.strokeStyle = '#d13212';
                ctx.fillStyle = '#d13212';
                ctx.lineWidth = 2;
                for (const m of g.markers || []) {
                    const x = u.valToPos(m.t / 1000, 'x', true);
                    ctx.beginPath();
                    ctx.moveTo(x, u.bbox.top);
                    ctx.lineTo(x, u.bbox.top + u.bbox.height);
                    ctx.stroke();
                    ctx.beginPath();
                    ctx.moveTo(x - 6, u.bbox.top);
                    ctx.lineTo(x + 6, u.bbox.top);
                    ctx.lineTo(x, u.bbox.top + 10);
                    ctx.fill();
                }
                ctx.restore();
            }],
        },
    };
    el.textContent = '';
    // eslint-disable-next-line no-undef
    return new uPlot(opts, data, el);
}
