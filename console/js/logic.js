// Pure helpers of the console (no DOM, no fetch): value extraction, alarm
// spans, the "criteria describe normal behaviour" rule, the fleet percentile
// line of statistical thresholds and the time axis. Unit-tested with node
// (tests/console/logic.test.mjs).

/** Number a retained MetricValue graphs as: count or number, else the set's size. */
export function metricNumber(value) {
    if (value == null || typeof value !== 'object') {
        return null;
    }
    if (typeof value.count === 'number') {
        return value.count;
    }
    if (typeof value.number === 'number') {
        return value.number;
    }
    for (const key of ['cidrs', 'ports', 'numbers', 'strings']) {
        if (Array.isArray(value[key])) {
            return value[key].length;
        }
    }
    return null;
}

/** The static threshold of a behavior's criteria as a number, or null. */
export function thresholdOf(criteria) {
    const v = criteria && criteria.value;
    return v ? metricNumber(v) : null;
}

const OPS = {
    'less-than': (a, b) => a < b,
    'less-than-equals': (a, b) => a <= b,
    'greater-than': (a, b) => a > b,
    'greater-than-equals': (a, b) => a >= b,
};

/**
 * Criteria describe NORMAL behaviour (AWS Detect): a datapoint that does not
 * meet them is a violation. Returns whether @p v violates "op threshold", or
 * null when the operator is not a numeric comparison.
 */
export function violates(op, threshold, v) {
    const f = OPS[op];
    if (!f || threshold == null || v == null) {
        return null;
    }
    return !f(v, threshold);
}

/** The operator that alarms in the opposite case (what replay suggests). */
export function inverseOperator(op) {
    return {
        'less-than': 'greater-than-equals',
        'less-than-equals': 'greater-than',
        'greater-than': 'less-than-equals',
        'greater-than-equals': 'less-than',
    }[op] || null;
}

/**
 * The hint of the create form: an operator reading "alarm when greater
 * than" is, in Detect, the normal range, so the profile alarms on every
 * quiet datapoint. Returns the hint text or null.
 */
export function invertedHint(metric, op, value) {
    if (op !== 'greater-than' && op !== 'greater-than-equals') {
        return null;
    }
    const thr = value === '' || value == null ? 'the value' : String(value);
    return `Criteria describe normal behaviour: a datapoint that does not meet them is a ` +
        `violation. "${metric || 'metric'} ${op} ${thr}" alarms whenever the metric is ` +
        `NOT ${op} ${thr}. To alarm when it is ${op} ${thr}, write ` +
        `${inverseOperator(op)} ${thr}.`;
}

/**
 * Alarm periods from violation events (any order): each violationId opens
 * at its in-alarm event and closes at alarm-cleared or alarm-invalidated.
 * Times are ms. A period without an end is open: it ends at @p endMs.
 * Returns [{start, end, open, violationId}] sorted by start.
 */
export function alarmSpans(events, endMs) {
    const byId = new Map();
    const sorted = [...events].sort((a, b) => a.time - b.time);
    for (const e of sorted) {
        if (e.type === 'in-alarm') {
            if (!byId.has(e.violationId)) {
                byId.set(e.violationId, {start: e.time, end: null, violationId: e.violationId});
            }
        } else if (e.type === 'alarm-cleared' || e.type === 'alarm-invalidated') {
            const span = byId.get(e.violationId);
            if (span && span.end == null) {
                span.end = e.time;
            }
        }
    }
    return [...byId.values()]
        .map((s) => ({...s, open: s.end == null, end: s.end == null ? endMs : s.end}))
        .sort((a, b) => a.start - b.start);
}

/**
 * pP of @p values as ddlocal's engine computes it (dd_stats.h): linear
 * interpolation between closest ranks at h = (n - 1) * P / 100; null for
 * an empty set or any negative value.
 */
export function percentile(values, p) {
    if (!values.length || values.some((v) => v < 0) || p < 0 || p > 100) {
        return null;
    }
    const x = [...values].sort((a, b) => a - b);
    const h = (x.length - 1) * p / 100;
    const lo = Math.floor(h);
    return lo + 1 < x.length ? x[lo] + (h - lo) * (x[lo + 1] - x[lo]) : x[lo];
}

/** "p90" -> 90, "p99.9" -> 99.9; null for anything else. */
export function statisticPercent(statistic) {
    const m = /^p(\d+(?:\.\d+)?)$/.exec(statistic || '');
    return m ? Number(m[1]) : null;
}

/**
 * The fleet percentile line of a statistical threshold: windows of
 * @p windowMs aligned on multiples of it; in each, every thing's last
 * datapoint counts once. @p seriesByThing: {thing: [{t, v}]}. Returns
 * [{start, end, value}] for windows where the percentile exists.
 */
export function fleetPercentileLine(seriesByThing, windowMs, p) {
    const windows = new Map();
    for (const points of Object.values(seriesByThing)) {
        const last = new Map();
        for (const pt of points) {
            if (pt.v == null) {
                continue;
            }
            const w = Math.floor(pt.t / windowMs) * windowMs;
            const prev = last.get(w);
            if (!prev || prev.t <= pt.t) {
                last.set(w, pt);
            }
        }
        for (const [w, pt] of last) {
            if (!windows.has(w)) {
                windows.set(w, []);
            }
            windows.get(w).push(pt.v);
        }
    }
    return [...windows.keys()].sort((a, b) => a - b).map((w) => ({
        start: w, end: w + windowMs, value: percentile(windows.get(w), p),
    })).filter((x) => x.value != null);
}

const STEPS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
    2 * 86400, 7 * 86400].map((s) => s * 1000);

/** The smallest "nice" step (1 s .. 7 d) that puts at most @p maxTicks ticks on the span. */
export function timeStep(spanMs, maxTicks) {
    const n = Math.max(1, maxTicks);
    for (const s of STEPS) {
        if (spanMs / s <= n) {
            return s;
        }
    }
    return Math.ceil(spanMs / n / STEPS[STEPS.length - 1]) * STEPS[STEPS.length - 1];
}

/** Tick times (ms, multiples of the step, in UTC) inside [startMs, endMs]. */
export function timeTicks(startMs, endMs, maxTicks) {
    if (!(endMs > startMs)) {
        return [startMs];
    }
    const step = timeStep(endMs - startMs, maxTicks);
    const ticks = [];
    for (let t = Math.ceil(startMs / step) * step; t <= endMs; t += step) {
        ticks.push(t);
    }
    return ticks;
}

/** A tick's label in UTC (pipeline time is shown in UTC everywhere): date at day steps. */
export function tickLabel(ms, stepMs) {
    const iso = new Date(ms).toISOString();
    if (stepMs >= 86400000) {
        return iso.slice(0, 10);
    }
    if (stepMs < 60000) {
        return iso.slice(11, 19);
    }
    return iso.slice(11, 16);
}

/** ISO 8601 without milliseconds, as the API's time parameters take it. */
export function isoSeconds(ms) {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
