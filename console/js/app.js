// The console: hash routes, one render function per page, pollers that stop
// when the page changes. Everything it shows comes from ddlocald's AWS IoT
// REST API and its /ddlocal/v1/ endpoints (js/api.js).
import {api, listAll, listPage, paths, ApiError} from './api.js';
import {h, table, when, toast} from './dom.js';
import {drawChart, loadChartLibrary} from './chart.js';
import {
    metricNumber, thresholdOf, violates, invertedHint, alarmSpans, statisticPercent,
    fleetPercentileLine, isoSeconds,
} from './logic.js';

const mainEl = document.getElementById('main');
/**
 * The shown page's own element: each page takes it when it starts (`const main = view`), so a
 * page still loading after the user moved on fills its detached element, never the next page.
 */
let view = mainEl;
let routeSeq = 0;
let pollers = [];
let pipelineNow = Date.now();
let clockMode = '';

/** Runs @p fn now and every @p ms while the page is shown; errors show in the console only. */
function poll(fn, ms) {
    let stopped = false;
    let timer = null;
    const run = async () => {
        try {
            await fn();
        } catch (e) {
            console.warn(e);
        }
        if (!stopped) {
            timer = setTimeout(run, ms);
        }
    };
    pollers.push(() => {
        stopped = true;
        clearTimeout(timer);
    });
    return run();
}

function errorText(e) {
    return e instanceof ApiError ? `${e.type || 'Error'}: ${e.message}` : String(e.message || e);
}


// ---- the clock badge (every page) -------------------------------------------------------

async function refreshClock() {
    const c = await api('GET', '/ddlocal/v1/clock');
    pipelineNow = c.pipelineTimeMs;
    clockMode = c.mode;
    const badge = document.getElementById('clock-badge');
    badge.textContent = `${c.mode} clock${c.mode === 'scaled' ? ` x${c.scale}` : ''} · ${when(c.pipelineTimeMs)}`;
    return c;
}

/**
 * The clock's first read, started with the page: a page that queries by pipeline time awaits
 * it (in parallel with its other requests), since until then pipelineNow is the browser's time,
 * which a manual or scaled clock can be days away from.
 */
let clockRead = Promise.resolve();

function startClockBadge() {
    const tick = async () => {
        try {
            await refreshClock();
        } catch (e) {
            document.getElementById('clock-badge').textContent = 'ddlocald unreachable';
        }
        setTimeout(tick, 2000);
    };
    clockRead = tick();
}

// ---- Dashboard --------------------------------------------------------------------------

async function pageDashboard() {
    const main = view;
    const cards = h('div', {class: 'cards', id: 'status-cards'});
    const clockBox = h('div', {id: 'clock-panel'});
    const feed = h('ol', {class: 'feed', id: 'feed', 'aria-live': 'polite', 'aria-label': 'Events'});
    const counts = h('div', {class: 'cards', id: 'counts'});
    main.append(
        h('h1', {}, 'Dashboard'),
        h('section', {class: 'panel', 'aria-labelledby': 'h-health'},
            h('h2', {id: 'h-health'}, 'Pipeline health'), cards),
        h('section', {class: 'panel', 'aria-labelledby': 'h-clock'},
            h('h2', {id: 'h-clock'}, 'Clock'), clockBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-counts'},
            h('h2', {id: 'h-counts'}, 'Fleet'), counts),
        h('section', {class: 'panel', 'aria-labelledby': 'h-feed'},
            h('h2', {id: 'h-feed'}, 'Live events'), feed));

    const card = (label, value, cls = '') => h('div', {class: 'card'},
        h('div', {class: `n ${cls}`}, value), h('div', {class: 'l'}, label));
    let lastSeq = 0;
    const advanceInput = h('input', {type: 'number', min: '0', step: '1', value: '300',
        id: 'advance-seconds', 'aria-label': 'Seconds to advance'});
    const advanceBtn = h('button', {class: 'primary', id: 'advance-btn', onclick: async () => {
        advanceBtn.disabled = true;
        try {
            const c = await api('POST', '/ddlocal/v1/clock',
                {body: {advanceSeconds: Number(advanceInput.value)}});
            toast(`Clock advanced to ${c.pipelineTime}`);
            await refreshClock();
            renderClock(c);
        } catch (e) {
            toast(errorText(e));
        } finally {
            advanceBtn.disabled = false;
        }
    }}, 'Advance');
    const clockText = h('dl', {class: 'kv'});
    const advanceForm = h('div', {class: 'toolbar'},
        h('label', {for: 'advance-seconds'}, 'Advance the manual clock by (s)', advanceInput), advanceBtn);
    // A real or scaled clock's rate changes live (POST /ddlocal/v1/clock {"scale":X}, as
    // `ddlocal clock scale X`): text, not type=number, so that a typo gets our message.
    const scaleInput = h('input', {type: 'text', inputmode: 'decimal', value: '', size: '8',
        id: 'scale-input', 'aria-label': 'Pipeline seconds per real second',
        'aria-describedby': 'scale-error'});
    const scaleError = h('p', {id: 'scale-error', class: 'errors scale-error', role: 'alert'});
    const scaleBtn = h('button', {class: 'primary', id: 'scale-btn', onclick: async () => {
        const text = scaleInput.value.trim();
        const x = Number(text);
        scaleError.textContent = '';
        if (text === '' || !Number.isFinite(x)) {
            scaleError.textContent = `Scale must be a number (0 < X <= 1000000), not '${text}'`;
            return;
        }
        scaleBtn.disabled = true;
        try {
            const c = await api('POST', '/ddlocal/v1/clock', {body: {scale: x}});
            toast(`Clock now runs at x${c.scale}`);
            await refreshClock();
            renderClock(c);
        } catch (e) {
            scaleError.textContent = errorText(e);
        } finally {
            scaleBtn.disabled = false;
        }
    }}, 'Apply');
    const scaleForm = h('div', {class: 'toolbar', hidden: true},
        h('label', {for: 'scale-input'}, 'Scale (pipeline s per real s)', scaleInput), scaleBtn,
        scaleError);
    clockBox.append(clockText, advanceForm, scaleForm);
    let scaleShown = null;
    function renderClock(c) {
        clockText.replaceChildren(
            h('dt', {}, 'mode'), h('dd', {id: 'clock-mode'}, c.mode),
            h('dt', {}, 'scale'), h('dd', {id: 'clock-scale'}, c.mode === 'manual' ? '-' : `x${c.scale}`),
            h('dt', {}, 'pipeline time'), h('dd', {id: 'clock-time'}, c.pipelineTime),
            h('dt', {}, 'spec'), h('dd', {}, c.spec));
        advanceForm.hidden = c.mode !== 'manual';
        scaleForm.hidden = c.mode === 'manual';
        // The field starts at the current scale and is left alone while the user edits it.
        if (c.mode !== 'manual' && scaleShown !== c.scale && document.activeElement !== scaleInput) {
            scaleInput.value = String(c.scale);
            scaleShown = c.scale;
        }
    }

    // Counting thousands of things takes many pages: filled in after the first render.
    counts.replaceChildren(card('things', '…'), card('security profiles', '…'));
    const countLater = () => Promise.all([
        listAll('/things', 'things', {}, MAX_LIST).catch(() => []),
        listAll('/security-profiles', 'securityProfileIdentifiers').catch(() => []),
    ]).then(([things, profiles]) => {
        counts.replaceChildren(card('things', things.length), card('security profiles', profiles.length));
    });

    await poll(async () => {
        const s = await api('GET', '/ddlocal/v1/status');
        cards.replaceChildren(
            card('broker', s.brokerConnected ? 'connected' : 'down', s.brokerConnected ? '' : 'errors'),
            card('connected clients', s.connectedClients),
            card('reports accepted', s.reportsAccepted),
            card('reports rejected', s.reportsRejected),
            card('active violations', s.activeViolations),
            card('violation events', s.violationEvents),
            card('alerts published', s.alertsPublished),
            card('webhooks given up', s.webhooksGivenUp),
            card('store', s.storeWritable ? 'writable' : 'held', s.storeWritable ? '' : 'errors'));
        renderClock(s);
        for (const e of s.latestEvents || []) {
            if (e.seq > lastSeq) {
                feed.append(h('li', {}, e.text));
                lastSeq = e.seq;
            }
        }
        while (feed.children.length > 200) {
            feed.firstChild.remove();
        }
        feed.scrollTop = feed.scrollHeight;
    }, 2000);
    countLater();
}

/** Most items a list page reads, and most rows it shows at once. */
const MAX_LIST = 20000;
const ROWS_SHOWN = 250;
/** Violations per refresh of the Violations page (the newest). */
const VIOLATIONS_SHOWN = 100;

// ---- Things -----------------------------------------------------------------------------

async function pageThings() {
    const main = view;
    const search = h('input', {type: 'search', id: 'thing-search', placeholder: 'Thing name',
        'aria-label': 'Search things'});
    const box = h('div', {id: 'things-table'});
    main.append(h('h1', {}, 'Things'), h('div', {class: 'toolbar'},
        h('label', {}, 'Search', search)), box);
    // The first page renders at once; the rest of the fleet, the groups and the violation
    // counts load behind it (thousands of things take many pages).
    const first = await listPage('/things', 'things');
    let things = first.items;
    let complete = !first.nextToken;
    let groups = null;
    let violations = null;
    let connected = null;
    const render = () => {
        const q = search.value.trim().toLowerCase();
        const match = things.filter((t) => t.thingName.toLowerCase().includes(q));
        const rows = match.slice(0, ROWS_SHOWN).map((t) => {
            const n = violations ? violations[t.thingName] || 0 : null;
            return [
                h('a', {href: `#/things/${encodeURIComponent(t.thingName)}`}, t.thingName),
                connected === null ? '…' : connected[t.thingName] ?
                    h('span', {class: 'badge ok', title: `since ${when(connected[t.thingName])}`}, 'connected') :
                    h('span', {class: 'badge'}, 'disconnected'),
                groups ? (groups[t.thingName] || []).join(', ') : '…',
                n === null ? '…' : n ? h('span', {class: 'badge bad'}, `${n} active`) :
                    h('span', {class: 'badge ok'}, 'none'),
                Object.entries(t.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', '),
            ];
        });
        box.replaceChildren(
            h('p', {class: 'muted', id: 'things-count'}, (match.length > ROWS_SHOWN ?
                `${ROWS_SHOWN} of ${match.length} things shown: narrow the search.` :
                `${match.length} of ${things.length} things.`) + (complete ? '' : ' Loading the rest…')),
            table(['Name', 'Connection', 'Thing groups', 'Violations', 'Attributes'], rows, 'No thing matches.', 'Things'));
    };
    search.addEventListener('input', render);
    render();
    // The four reads run side by side; the table is drawn again once, when all are in.
    const rest = complete ? Promise.resolve([]) :
        listAll('/things', 'things', {nextToken: first.nextToken}, MAX_LIST);
    // Connection state: the broker's connection history (what the shim metered), open now.
    const connections = api('GET', '/ddlocal/v1/connections').then((r) => {
        const c = {};
        for (const conn of r.connections || []) {
            if (conn.thing) {
                c[conn.thing] = Math.max(c[conn.thing] || 0, conn.connectedAt);
            }
        }
        return c;
    });
    // Groups are few and things many: one request per group, not one per thing.
    const memberships = listAll('/thing-groups', 'thingGroups').then(async (list) => {
        const g = {};
        const members = await Promise.all(list.map((grp) =>
            listAll(`/thing-groups/${encodeURIComponent(grp.groupName)}/things`, 'things', {}, MAX_LIST)));
        list.forEach((grp, i) => {
            for (const t of members[i]) {
                (g[t] = g[t] || []).push(grp.groupName);
            }
        });
        return g;
    });
    const counts = listAll('/active-violations', 'activeViolations', {}, MAX_LIST).then((list) => {
        const v = {};
        for (const av of list) {
            v[av.thingName] = (v[av.thingName] || 0) + 1;
        }
        return v;
    });
    (async () => {
        const [more, c, g, v] = await Promise.all([rest, connections, memberships, counts]);
        things = things.concat(more);
        complete = true;
        connected = c;
        groups = g;
        violations = v;
        if (main.isConnected) {
            render();
            box.dataset.complete = 'true';
        }
    })().catch((e) => console.warn(e));
}

/**
 * Which security profiles target a thing in the groups @p groupNames (a promise: the profiles'
 * targets are read while the thing's groups are still loading): all things, or one of its groups.
 */
async function profilesFor(groupNames) {
    const ids = await listAll('/security-profiles', 'securityProfileIdentifiers');
    const found = await Promise.all(ids.map(async (id) => {
        const [targets, p] = await Promise.all([
            listAll(paths.profileTargets(id.name), 'securityProfileTargets'),
            api('GET', paths.profile(id.name))]);
        return {targets, p};
    }));
    const mine = await groupNames;
    return found.filter(({targets}) => targets.some((t) => /:all\/things$/.test(t.arn) ||
        mine.some((g) => t.arn.endsWith(`:thinggroup/${g}`)))).map(({p}) => p);
}

const RANGES = [['1 hour', 3600e3], ['6 hours', 6 * 3600e3], ['1 day', 86400e3], ['2 days', 2 * 86400e3]];

async function metricSeries(thing, metric, dimension, from, to) {
    const values = await listAll('/metric-values', 'metricDatumList', {
        thingName: thing, metricName: metric, dimensionName: dimension,
        startTime: isoSeconds(from), endTime: isoSeconds(to),
    }, 5000);
    return values.map((d) => ({t: Date.parse(d.timestamp) || d.timestamp * 1000,
        v: metricNumber(d.value)}));
}

function eventTime(e) {
    return typeof e.violationEventTime === 'number' ? e.violationEventTime * 1000 :
        Date.parse(e.violationEventTime);
}

async function pageThing(name) {
    const main = view;
    const groupsBox = h('div', {id: 'thing-groups'});
    const certBox = h('div');
    const violBox = h('div', {id: 'thing-violations'});
    const graphs = h('div', {id: 'graphs'});
    const rangeSel = h('select', {id: 'range', 'aria-label': 'Time range'},
        h('option', {value: 0, selected: true}, 'Fit the data (2 days at most)'),
        RANGES.map(([l, ms]) => h('option', {value: ms}, l)));
    main.append(
        h('p', {}, h('a', {href: '#/things'}, 'Things'), ' › ', name),
        h('h1', {}, name),
        h('section', {class: 'panel', 'aria-labelledby': 'h-groups'}, h('h2', {id: 'h-groups'}, 'Thing groups'),
            groupsBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-certs'}, h('h2', {id: 'h-certs'}, 'Certificates'),
            certBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-av'},
            h('h2', {id: 'h-av'}, 'Active violations'), violBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-graphs'},
            h('h2', {id: 'h-graphs'}, 'Behaviors'),
            h('div', {class: 'toolbar'}, h('label', {}, 'Time range', rangeSel),
                h('button', {onclick: () => renderGraphs()}, 'Refresh')),
            h('p', {class: 'legend-note'}, 'Blue: datapoints. Dashed red: threshold (criteria describe ' +
                'normal behaviour; a datapoint outside them violates); brown steps: the fleet ' +
                'percentile of each window for statistical thresholds. Shaded: alarm periods. Red ' +
                'markers: in-alarm events. Drag across a graph to zoom, double-click to zoom out.'),
            graphs));

    // Every panel's requests start at once; DescribeThing's error is the page's for an unknown thing.
    const described = api('GET', paths.thing(name));
    let groupNames = [];
    async function renderGroups() {
        const [mine, all] = await Promise.all([
            listAll(paths.thingGroups(name), 'thingGroups'),
            listAll('/thing-groups', 'thingGroups'),
        ]);
        groupNames = mine.map((g) => g.groupName);
        const sel = h('select', {id: 'add-group', 'aria-label': 'Thing group to add to'},
            all.filter((g) => !groupNames.includes(g.groupName))
                .map((g) => h('option', {value: g.groupName}, g.groupName)));
        groupsBox.replaceChildren(
            table(['Group', ''], mine.map((g) => [g.groupName, h('button', {
                'data-remove-group': g.groupName,
                onclick: async () => {
                    try {
                        await api('PUT', '/thing-groups/removeThingFromThingGroup',
                            {body: {thingName: name, thingGroupName: g.groupName}});
                        toast(`${name} removed from ${g.groupName}`);
                    } catch (e) {
                        toast(errorText(e));
                    }
                    await renderGroups();
                },
            }, g.groupName === 'IsolatedDevices' ? 'Release from quarantine' : 'Remove')]),
            'In no thing group.', 'Thing groups'),
            h('div', {class: 'toolbar'}, h('label', {}, 'Add to group', sel),
                h('button', {disabled: sel.options.length === 0, onclick: async () => {
                    try {
                        await api('PUT', '/thing-groups/addThingToThingGroup',
                            {body: {thingName: name, thingGroupName: sel.value}});
                        toast(`${name} added to ${sel.value}`);
                    } catch (e) {
                        toast(errorText(e));
                    }
                    await renderGroups();
                }}, 'Add')));
        return groupNames;
    }
    // The panels load side by side; the graphs need the groups (which profiles target the thing).
    const certificates = (async () => {
        const principals = await listAll(paths.thingPrincipals(name), 'principals').catch(() => []);
        const certRows = await Promise.all(principals.map(async (arn) => {
            const id = arn.replace(/^.*:cert\//, '');
            const [desc, pols] = await Promise.all([
                api('GET', `/certificates/${encodeURIComponent(id)}`).catch(() => null),
                api('POST', `/attached-policies/${encodeURIComponent(arn)}`).catch(() => ({policies: []})),
            ]);
            const status = desc ? desc.certificateDescription.status : '';
            return [h('code', {}, id.slice(0, 16) + '…'),
                h('span', {class: `badge ${status === 'ACTIVE' ? 'ok' : 'bad'}`}, status),
                (pols.policies || []).map((p) => p.policyName).join(', ')];
        }));
        certBox.replaceChildren(table(['Certificate', 'Status', 'Policies'], certRows,
            'No certificate attached.'));
    })();
    const grouped = renderGroups();
    const violationsShown = poll(async () => {
        const av = await listAll('/active-violations', 'activeViolations', {thingName: name});
        violBox.replaceChildren(table(['Profile', 'Behavior', 'Last value', 'Since'], av.map((v) => [
            v.securityProfileName, v.behavior.name,
            JSON.stringify(v.lastViolationValue || {}), when(eventTime({violationEventTime: v.violationStartTime})),
        ]), 'No active violation.'));
    }, 3000);

    async function renderGraphs(groups = groupNames) {
        const t0 = performance.now();
        const [, profiles] = await Promise.all([refreshClock().catch(() => {}), profilesFor(groups),
            loadChartLibrary()]);
        const to = pipelineNow + 60e3;
        const fit = Number(rangeSel.value) === 0;
        let from = to - (fit ? 2 * 86400e3 : Number(rangeSel.value));
        graphs.replaceChildren();
        if (!profiles.length) {
            graphs.append(h('p', {class: 'muted'}, 'No security profile targets this thing.'));
        }
        // Every request of every graph at once; then they are drawn in order.
        const loaded = await Promise.all(profiles.map(async (p) => {
            const items = [...(p.behaviors || []).map((b) => ({b})),
                ...(p.additionalMetricsToRetainV2 || [])
                    .filter((m) => !(p.behaviors || []).some((b) => b.metric === m.metric))
                    .map((m) => ({retained: m}))];
            const [events, ...series] = await Promise.all([
                listAll('/violation-events', 'violationEvents', {
                    thingName: name, securityProfileName: p.securityProfileName,
                    startTime: isoSeconds(from - 7 * 86400e3), endTime: isoSeconds(to + 86400e3),
                }, 5000),
                ...items.map((it) => {
                    const m = it.b || it.retained;
                    return metricSeries(name, m.metric, m.metricDimension && m.metricDimension.dimensionName,
                        from, to);
                })]);
            items.forEach((it, i) => { it.points = series[i]; });
            return {p, events, items};
        }));
        for (const {p, events, items} of loaded) {
            for (const it of items) {
                const metric = it.b ? it.b.metric : it.retained.metric;
                const dim = it.b ? it.b.metricDimension : it.retained.metricDimension;
                const dimension = dim && dim.dimensionName;
                const points = it.points;
                // "Fit": from a little before the first datapoint (at least the last 30 minutes).
                const shown = fit && points.length ?
                    Math.max(from, Math.min(points[0].t - 300e3, to - 1800e3)) : from;
                const criteria = (it.b && it.b.criteria) || {};
                const threshold = thresholdOf(criteria);
                let percentileLine = [];
                const pct = statisticPercent(criteria.statisticalThreshold &&
                    criteria.statisticalThreshold.statistic);
                if (pct != null) {
                    const fleet = await listAll('/things', 'things', {}, 50);
                    const byThing = {};
                    for (const t of fleet) {
                        byThing[t.thingName] = await metricSeries(t.thingName, metric, dimension, from, to);
                    }
                    percentileLine = fleetPercentileLine(byThing, (criteria.durationSeconds || 300) * 1000, pct);
                }
                const evs = it.b ? events.filter((e) => e.behavior && e.behavior.name === it.b.name)
                    .map((e) => ({time: eventTime(e), type: e.violationEventType,
                        violationId: e.violationId})) : [];
                const spans = alarmSpans(evs, to).filter((x) => x.end >= shown);
                const above = points.filter((pt) => violates(criteria.comparisonOperator, threshold, pt.v));
                const title = it.b ? `${p.securityProfileName} / ${it.b.name}: ${metric} ` +
                    `${criteria.comparisonOperator || ''} ${threshold != null ? threshold :
                        (criteria.statisticalThreshold ? criteria.statisticalThreshold.statistic : '')}`
                    : `${p.securityProfileName}: retained ${metric}`;
                const chartEl = h('div', {class: 'chart', role: 'img', 'aria-label': title});
                const fig = h('figure', {class: 'graph', dataset: {
                    profile: p.securityProfileName, behavior: it.b ? it.b.name : '', metric,
                    points: points.length, violating: above.length, spans: spans.length,
                    threshold: threshold == null ? '' : threshold,
                }}, h('figcaption', {}, h('strong', {}, title)), chartEl,
                h('details', {}, h('summary', {onclick: (ev) => {
                    // Hundreds of rows nobody may open: built on the first click (before it opens).
                    const details = ev.currentTarget.parentElement;
                    if (details.children.length === 1) {
                        details.append(table(['Time (UTC)', 'Value', 'Outside the criteria'], points.map((pt) => [
                            when(pt.t), pt.v, violates(criteria.comparisonOperator, threshold, pt.v) ? 'yes' : '',
                        ]), 'No datapoint in this range.'),
                        table(['Alarm from', 'until'], spans.map((s) => [when(s.start), s.open ? 'now' : when(s.end)]),
                            'No alarm in this range.'));
                    }
                }}, 'Data table')));
                graphs.append(fig);
                const u = drawChart(chartEl, {points, threshold, percentile: percentileLine, spans,
                    markers: evs.filter((e) => e.type === 'in-alarm').map((e) => ({t: e.time})),
                    from: shown, to, label: ''});
                fig.dataset.drawn = u.data[1].filter((v) => v != null).length;
            }
        }
        graphs.dataset.renderMs = Math.round(performance.now() - t0);
        graphs.dataset.ready = 'true';
    }
    rangeSel.addEventListener('change', () => renderGraphs());
    await Promise.all([described, grouped, renderGraphs(grouped), certificates, violationsShown]);
}

// ---- Security profiles -------------------------------------------------------------------

async function pageProfiles() {
    const main = view;
    main.append(h('h1', {}, 'Security profiles'),
        h('p', {}, h('a', {href: '#/profiles/new', class: 'button', id: 'create-profile'}, 'Create security profile')));
    const ids = await listAll('/security-profiles', 'securityProfileIdentifiers');
    const rows = await Promise.all(ids.map(async (id) => {
        const [p, targets] = await Promise.all([api('GET', paths.profile(id.name)),
            listAll(paths.profileTargets(id.name), 'securityProfileTargets')]);
        return [h('a', {href: `#/profiles/${encodeURIComponent(id.name)}`}, id.name),
            (p.behaviors || []).map((b) => b.name).join(', '),
            targets.map((t) => t.arn.replace(/^.*:/, '')).join(', ') || 'not attached',
            p.alertTargets && p.alertTargets.SNS ? p.alertTargets.SNS.alertTargetArn.replace(/^.*:/, '') : ''];
    }));
    main.append(table(['Name', 'Behaviors', 'Targets', 'Alerts to'], rows, 'No security profile yet.'));
}

async function pageProfile(name) {
    const main = view;
    const [p, targets] = await Promise.all([api('GET', paths.profile(name)),
        listAll(paths.profileTargets(name), 'securityProfileTargets')]);
    main.append(h('p', {}, h('a', {href: '#/profiles'}, 'Security profiles'), ' › ', name),
        h('h1', {}, name),
        h('p', {}, p.securityProfileDescription || ''),
        h('p', {}, h('a', {href: `#/profiles/${encodeURIComponent(name)}/edit`, id: 'edit-profile'}, 'Edit'),
            ` · version ${p.version}`),
        h('section', {class: 'panel'}, h('h2', {}, 'Behaviors'),
            table(['Name', 'Metric', 'Operator', 'Value / statistic', 'Duration', 'Alarm / clear'],
                (p.behaviors || []).map((b) => {
                    const c = b.criteria || {};
                    const hint = invertedHint(b.metric, c.comparisonOperator, thresholdOf(c));
                    return [b.name, b.metric, h('span', {}, c.comparisonOperator || (c.mlDetectionConfig ? 'ML' : ''),
                        hint ? h('div', {class: 'hint'}, hint) : null),
                    c.value ? JSON.stringify(c.value) : (c.statisticalThreshold ?
                        c.statisticalThreshold.statistic : ''),
                    c.durationSeconds ? `${c.durationSeconds} s` : '',
                    `${c.consecutiveDatapointsToAlarm || 1} / ${c.consecutiveDatapointsToClear || 1}`];
                }))),
        h('section', {class: 'panel'}, h('h2', {}, 'Additional metrics to retain'),
            table(['Metric'], (p.additionalMetricsToRetainV2 || []).map((m) => [m.metric]))),
        h('section', {class: 'panel'}, h('h2', {}, 'Alert targets'),
            table(['Type', 'Target', 'Role'], Object.entries(p.alertTargets || {}).map(([k, v]) =>
                [k, v.alertTargetArn, v.roleArn]), 'No alert target.')),
        h('section', {class: 'panel'}, h('h2', {}, 'Targets'),
            table(['Target ARN'], targets.map((t) => [t.arn]), 'Not attached to anything.')),
        h('details', {}, h('summary', {}, 'JSON'), h('pre', {}, JSON.stringify(p, null, 2))));
}

const METRICS = ['aws:all-bytes-out', 'aws:all-bytes-in', 'aws:all-packets-out', 'aws:all-packets-in',
    'aws:num-messages-sent', 'aws:num-messages-received', 'aws:message-byte-size',
    'aws:num-authorization-failures', 'aws:num-connection-attempts', 'aws:num-disconnects',
    'aws:num-established-tcp-connections', 'aws:listening-tcp-ports', 'aws:listening-udp-ports',
    'aws:num-listening-tcp-ports', 'aws:num-listening-udp-ports', 'aws:source-ip-address',
    'aws:destination-ip-addresses'];
const OPERATORS = ['less-than', 'less-than-equals', 'greater-than', 'greater-than-equals',
    'in-cidr-set', 'not-in-cidr-set', 'in-port-set', 'not-in-port-set'];

/** The criteria value object AWS expects for @p metric. */
function valueFor(metric, text) {
    const list = () => text.split(',').map((s) => s.trim()).filter(Boolean);
    if (/ports$/.test(metric) && !/num-/.test(metric)) {
        return {ports: list().map(Number)};
    }
    if (/ip-address(es)?$/.test(metric)) {
        return {cidrs: list()};
    }
    const n = text.trim() === '' ? NaN : Number(text);
    return metric.startsWith('aws:') ? {count: n} : {number: n};
}

let behaviorSeq = 0;

/** The text of a criteria value in the form: a number, or a comma list of ports or CIDRs. */
function valueText(v) {
    if (!v) {
        return '';
    }
    const list = v.ports || v.cidrs || v.numbers || v.strings;
    return list ? list.join(', ') : String(metricNumber(v) ?? '');
}

/** One behavior's fieldset, empty (the workshop's Module 4 defaults for the first) or from @p init. */
function behaviorEditor(init = null) {
    const i = ++behaviorSeq;
    const f = (label, el) => h('label', {}, label, el);
    const c = (init && init.criteria) || {};
    const kind = c.mlDetectionConfig ? 'ml' : c.statisticalThreshold ? 'statistical' : 'absolute';
    const name = h('input', {name: 'name', id: `b${i}-name`, required: true,
        value: init ? init.name : i === 1 ? 'MoreBytesSent' : ''});
    const metric = h('input', {name: 'metric', list: 'metric-list', id: `b${i}-metric`,
        value: init ? init.metric : 'aws:all-bytes-out'});
    const type = h('select', {name: 'type', id: `b${i}-type`},
        h('option', {value: 'absolute', selected: kind === 'absolute'}, 'Absolute value'),
        h('option', {value: 'statistical', selected: kind === 'statistical'}, 'Statistical threshold'),
        h('option', {value: 'ml', selected: kind === 'ml'}, 'ML Detect'));
    const op = h('select', {name: 'op', id: `b${i}-op`}, OPERATORS.map((o) => h('option', {value: o,
        selected: o === (c.comparisonOperator || 'less-than-equals')}, o)));
    const value = h('input', {name: 'value', id: `b${i}-value`, value: init ? valueText(c.value) : '200'});
    const statNow = (c.statisticalThreshold && c.statisticalThreshold.statistic) || 'p90';
    const stat = h('select', {name: 'statistic', id: `b${i}-statistic`},
        ['p0', 'p0.1', 'p1', 'p10', 'p50', 'p90', 'p99', 'p99.9', 'p100'].map((s) =>
            h('option', {value: s, selected: s === statNow}, s)));
    const duration = h('select', {name: 'duration', id: `b${i}-duration`},
        [300, 600, 900, 1800, 3600].map((s) => h('option', {value: s,
            selected: s === (c.durationSeconds || 300)}, `${s / 60} minutes`)));
    const toAlarm = h('input', {type: 'number', min: 1, max: 10, value: c.consecutiveDatapointsToAlarm || 1,
        name: 'alarm', id: `b${i}-alarm`});
    const toClear = h('input', {type: 'number', min: 1, max: 10, value: c.consecutiveDatapointsToClear || 1,
        name: 'clear', id: `b${i}-clear`});
    const hint = h('div', {class: 'hint', hidden: true, role: 'note', id: `b${i}-hint`});
    const valueLabel = f('Value', value);
    const statLabel = f('Statistic', stat);
    const opLabel = f('Operator', op);
    const update = () => {
        valueLabel.hidden = type.value !== 'absolute';
        statLabel.hidden = type.value !== 'statistical';
        opLabel.hidden = type.value === 'ml';
        const text = type.value === 'ml' ? null : invertedHint(metric.value, op.value,
            type.value === 'absolute' ? value.value : stat.value);
        hint.hidden = !text;
        hint.textContent = text || '';
    };
    [type, op, value, metric, stat].forEach((el) => el.addEventListener('input', update));
    [type, op, stat].forEach((el) => el.addEventListener('change', update));
    update();
    const fs = h('fieldset', {class: 'behavior'}, h('legend', {}, `Behavior ${i}`),
        h('div', {class: 'form-grid'}, f('Name', name), f('Metric', metric), f('Check type', type), opLabel,
            valueLabel, statLabel, f('Duration', duration), f('Datapoints to alarm', toAlarm),
            f('Datapoints to clear', toClear)), hint);
    fs.read = () => {
        const criteria = {};
        if (type.value === 'ml') {
            criteria.mlDetectionConfig = {confidenceLevel: 'HIGH'};
        } else {
            criteria.comparisonOperator = op.value;
            if (type.value === 'absolute') {
                criteria.value = valueFor(metric.value, value.value);
            } else {
                criteria.statisticalThreshold = {statistic: stat.value};
            }
            criteria.durationSeconds = Number(duration.value);
        }
        criteria.consecutiveDatapointsToAlarm = Number(toAlarm.value);
        criteria.consecutiveDatapointsToClear = Number(toClear.value);
        return {name: name.value.trim(), metric: metric.value.trim(), criteria};
    };
    return fs;
}

/** Create security profile, or (@p editName) edit one: UpdateSecurityProfile with its version. */
async function pageProfileNew(editName = null) {
    const main = view;
    behaviorSeq = 0;
    const [existing, attached, groups, arnThing] = await Promise.all([
        editName ? api('GET', paths.profile(editName)) : null,
        editName ? listAll(paths.profileTargets(editName), 'securityProfileTargets')
            .then((list) => list.map((t) => t.arn)) : [],
        listAll('/thing-groups', 'thingGroups').catch(() => []),
        listPage('/things', 'things', {}, 1).then((page) => page.items).catch(() => []),
    ]);
    const arnBase = arnThing.length ? arnThing[0].thingArn.replace(/:thing\/.*$/, '') :
        'arn:aws:iot:us-east-1:123456789012';
    const acct = arnBase.split(':')[4];
    const region = arnBase.split(':')[3];
    const name = h('input', {id: 'profile-name', required: true, readonly: !!existing,
        value: existing ? existing.securityProfileName : 'DetectSendingMoreThanAverageBytes'});
    const desc = h('input', {id: 'profile-description',
        value: existing ? existing.securityProfileDescription || '' : ''});
    const behaviors = h('div', {id: 'behaviors'}, existing && (existing.behaviors || []).length ?
        existing.behaviors.map((b) => behaviorEditor(b)) : behaviorEditor());
    const retained = existing ? (existing.additionalMetricsToRetainV2 || []).map((m) => m.metric) :
        ['aws:all-bytes-out'];
    const retain = h('div', {class: 'form-grid', id: 'retain'}, METRICS.map((m) => h('label',
        {style: 'flex-direction:row;gap:6px;align-items:center'},
        h('input', {type: 'checkbox', value: m, checked: retained.includes(m)}), m)));
    const sns = existing ? existing.alertTargets && existing.alertTargets.SNS : null;
    const snsTopic = h('input', {id: 'sns-topic', value: existing ? (sns ? sns.alertTargetArn : '') :
        `arn:aws:sns:${region}:${acct}:BadIoTDevices`});
    const snsRole = h('input', {id: 'sns-role', value: existing ? (sns ? sns.roleArn : '') :
        `arn:aws:iam::${acct}:role/ddlocal-sns-role`});
    // Editing adds attachments; what is attached already stays (detach with the CLI).
    const allArn = `${arnBase}:all/things`;
    const allThings = h('input', {type: 'checkbox', id: 'target-all', checked: !existing || attached.includes(allArn),
        disabled: attached.includes(allArn)});
    const groupBoxes = groups.map((g) => h('label', {style: 'flex-direction:row;gap:6px;align-items:center'},
        h('input', {type: 'checkbox', value: g.groupArn, checked: attached.includes(g.groupArn),
            disabled: attached.includes(g.groupArn)}), g.groupName));
    const errors = h('div', {id: 'form-errors', role: 'alert', class: 'errors'});
    const validateBtn = h('button', {type: 'button', id: 'validate-btn'}, 'Validate');
    const saveBtn = h('button', {type: 'submit', class: 'primary', id: 'save-btn'}, existing ? 'Save' : 'Create');
    const form = h('form', {id: 'profile-form', novalidate: true},
        h('datalist', {id: 'metric-list'}, METRICS.map((m) => h('option', {value: m}))),
        h('fieldset', {}, h('legend', {}, 'Security profile'), h('div', {class: 'form-grid'},
            h('label', {}, 'Name', name), h('label', {}, 'Description', desc))),
        behaviors,
        h('p', {}, h('button', {type: 'button', onclick: () => behaviors.append(behaviorEditor())},
            'Add behavior')),
        h('fieldset', {}, h('legend', {}, 'Additional metrics to retain'), retain),
        h('fieldset', {}, h('legend', {}, 'Alert targets (SNS)'), h('div', {class: 'form-grid'},
            h('label', {}, 'Topic ARN', snsTopic), h('label', {}, 'Role ARN', snsRole))),
        h('fieldset', {}, h('legend', {}, 'Attach to'), h('div', {class: 'form-grid'},
            h('label', {style: 'flex-direction:row;gap:6px;align-items:center'}, allThings, 'All things'),
            groupBoxes)),
        errors,
        h('div', {class: 'toolbar'}, validateBtn, saveBtn));
    main.append(h('p', {}, h('a', {href: '#/profiles'}, 'Security profiles'), existing ? ' › Edit' : ' › Create'),
        h('h1', {}, existing ? `Edit ${existing.securityProfileName}` : 'Create security profile'), form);

    const readBehaviors = () => [...behaviors.querySelectorAll('fieldset.behavior')].map((f) => f.read());
    const showErrors = (list) => {
        errors.replaceChildren(list.length ? h('ul', {}, list.map((m) => h('li', {}, m))) : '');
    };
    const validate = async () => {
        const bs = readBehaviors();
        const local = [];
        if (!name.value.trim()) {
            local.push('The security profile needs a name.');
        }
        bs.forEach((b, i) => {
            if (!b.name) {
                local.push(`Behavior ${i + 1} needs a name.`);
            }
        });
        if (local.length) {
            showErrors(local);
            return false;
        }
        try {
            const r = await api('POST', '/security-profile-behaviors/validate', {body: {behaviors: bs}});
            if (!r.valid) {
                showErrors((r.validationErrors || []).map((e) => e.errorMessage));
                return false;
            }
        } catch (e) {
            showErrors([errorText(e)]);
            return false;
        }
        showErrors([]);
        return true;
    };
    validateBtn.addEventListener('click', async () => {
        if (await validate()) {
            errors.replaceChildren(h('p', {class: 'badge ok', id: 'valid-note'}, 'The behaviors are valid.'));
        }
    });
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        saveBtn.disabled = true;
        try {
            if (!(await validate())) {
                return;
            }
            const body = {behaviors: readBehaviors(),
                additionalMetricsToRetainV2: [...retain.querySelectorAll('input:checked')]
                    .map((c) => ({metric: c.value}))};
            if (desc.value.trim()) {
                body.securityProfileDescription = desc.value.trim();
            }
            if (snsTopic.value.trim()) {
                body.alertTargets = {SNS: {alertTargetArn: snsTopic.value.trim(), roleArn: snsRole.value.trim()}};
            }
            const pname = name.value.trim();
            if (existing) {
                if (!body.alertTargets) {
                    body.deleteAlertTargets = true;
                }
                await api('PATCH', paths.profile(pname), {body, query: {expectedVersion: existing.version}});
            } else {
                await api('POST', paths.profile(pname), {body});
            }
            const targets = [...(allThings.checked && !attached.includes(allArn) ? [allArn] : []),
                ...groupBoxes.map((l) => l.querySelector('input')).filter((c) => c.checked && !c.disabled)
                    .map((c) => c.value)];
            for (const t of targets) {
                await api('PUT', paths.profileTargets(pname), {query: {securityProfileTargetArn: t}});
            }
            toast(`Security profile ${pname} ${existing ? 'saved' : 'created'}`);
            location.hash = `#/profiles/${encodeURIComponent(pname)}`;
        } catch (e) {
            showErrors([errorText(e)]);
        } finally {
            saveBtn.disabled = false;
        }
    });
}

// ---- Violations --------------------------------------------------------------------------

const VERIFICATION = ['UNKNOWN', 'TRUE_POSITIVE', 'BENIGN_POSITIVE', 'FALSE_POSITIVE'];

function verificationControl(v, after) {
    const sel = h('select', {'aria-label': `Verification state of ${v.violationId}`},
        VERIFICATION.map((s) => h('option', {value: s, selected: s === (v.verificationState || 'UNKNOWN')}, s)));
    const btn = h('button', {onclick: async () => {
        try {
            await api('POST', paths.verification(v.violationId), {body: {verificationState: sel.value}});
            toast(`Verification state set to ${sel.value}`);
            after();
        } catch (e) {
            toast(errorText(e));
        }
    }}, 'Set');
    return h('span', {class: 'toolbar', style: 'margin:0'}, sel, btn);
}

async function pageViolations() {
    const main = view;
    const tab = h('select', {id: 'violations-view', 'aria-label': 'Active or history'},
        h('option', {value: 'active'}, 'Active'), h('option', {value: 'history'}, 'History'));
    const profile = h('select', {id: 'filter-profile'}, h('option', {value: ''}, 'any'));
    const thing = h('input', {id: 'filter-thing', type: 'search'});
    const behavior = h('input', {id: 'filter-behavior', type: 'search'});
    const verification = h('select', {id: 'filter-verification'}, h('option', {value: ''}, 'any'),
        VERIFICATION.map((s) => h('option', {value: s}, s)));
    const range = h('select', {id: 'filter-range'}, RANGES.map(([l, ms], i) =>
        h('option', {value: ms, selected: i === 3}, l)));
    const box = h('div', {id: 'violations-table', 'aria-live': 'polite'});
    main.append(h('h1', {}, 'Violations'), h('div', {class: 'toolbar'},
        h('label', {}, 'View', tab), h('label', {}, 'Security profile', profile), h('label', {}, 'Thing', thing),
        h('label', {}, 'Behavior', behavior), h('label', {}, 'Verification state', verification),
        h('label', {}, 'History range', range)), box);
    // The filter's profiles load beside the first table.
    const profilesListed = listAll('/security-profiles', 'securityProfileIdentifiers').then((ids) => {
        for (const id of ids) {
            profile.append(h('option', {value: id.name}, id.name));
        }
    });
    let sig = '';
    const render = async (force) => {
        const q = {securityProfileName: profile.value, thingName: thing.value.trim(),
            verificationState: verification.value};
        const active = tab.value === 'active';
        if (!active) {
            await clockRead; // the range is pipeline time
        }
        // One page (the newest VIOLATIONS_SHOWN) per refresh: cheap with 10,000 violations.
        const page = active ?
            await listPage('/active-violations', 'activeViolations', q, VIOLATIONS_SHOWN) :
            await listPage('/violation-events', 'violationEvents', {...q,
                startTime: isoSeconds(pipelineNow - Number(range.value)),
                endTime: isoSeconds(pipelineNow + 86400e3)}, VIOLATIONS_SHOWN);
        const items = page.items.filter((v) => !behavior.value || v.behavior.name.includes(behavior.value));
        const more = !!page.nextToken;
        const shown = items;
        // Replace the table only when something changed: no flicker, focus kept in place.
        const next = JSON.stringify([tab.value, more, shown]);
        if (!force && next === sig) {
            return;
        }
        sig = next;
        const thingLink = (n) => h('a', {href: `#/things/${encodeURIComponent(n)}`}, n);
        const rows = active ? shown.map((v) => [thingLink(v.thingName), v.securityProfileName,
            v.behavior.name, JSON.stringify(v.lastViolationValue || {}),
            when(eventTime({violationEventTime: v.violationStartTime})),
            verificationControl(v, () => render(true))]) :
            shown.map((e) => [when(eventTime(e)), thingLink(e.thingName), e.securityProfileName,
                e.behavior.name, e.violationEventType, JSON.stringify(e.metricValue || {}),
                e.verificationState || 'UNKNOWN']);
        const headers = active ?
            ['Thing', 'Security profile', 'Behavior', 'Last value', 'Started', 'Verification'] :
            ['Time', 'Thing', 'Security profile', 'Behavior', 'Event', 'Value', 'Verification'];
        box.replaceChildren(
            h('p', {class: 'muted'}, more ?
                `The newest ${VIOLATIONS_SHOWN} shown; there are more: narrow the filters.` :
                `${items.length} shown.`),
            table(headers, rows, active ? 'No active violation.' : 'No violation event in this range.',
                'Violations'));
        box.dataset.rows = items.length;
    };
    [tab, profile, verification, range].forEach((el) => el.addEventListener('change', () => render(true)));
    [thing, behavior].forEach((el) => el.addEventListener('input', () => render(true)));
    await Promise.all([profilesListed, poll(() => render(false), 2000)]);
}

// ---- Alerts ------------------------------------------------------------------------------

/** The message bodies and deliveries of the event log shown at once (newest first). */
const ALERTS_SHOWN = 100;

/** A message body: pretty JSON when it parses, else the text as sent. */
function bodyText(text) {
    try {
        return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
        return String(text);
    }
}

async function pageAlerts() {
    const main = view;
    const counters = h('div', {class: 'cards'});
    const targets = h('div');
    const messages = h('div', {id: 'alerts-messages'});
    const deliveries = h('div', {id: 'alerts-deliveries'});
    main.append(h('h1', {}, 'Alerts'),
        h('p', {class: 'muted'}, 'Each violation event of a profile with an SNS alert target, and each ' +
            'finished audit with an SNS notification target, is published on the SNS stand-in topic (MQTT ',
        h('code', {}, 'ddlocal/sns/NAME'), '), delivered to its webhook subscriptions (',
        h('code', {}, 'ddlocal sns subscribe'), ') and Lambda stand-ins (', h('code', {}, 'ddlocal lambda'),
        '). Shown from ddlocald\'s event log (its last 4096 events since it started).'),
        h('section', {class: 'panel'}, h('h2', {}, 'Totals'), counters),
        h('section', {class: 'panel', 'aria-labelledby': 'h-msgs'},
            h('h2', {id: 'h-msgs'}, 'Messages on the SNS stand-in topics'), messages),
        h('section', {class: 'panel', 'aria-labelledby': 'h-deliv'},
            h('h2', {id: 'h-deliv'}, 'Webhook and Lambda deliveries'), deliveries),
        h('section', {class: 'panel'}, h('h2', {}, 'Alert targets'), targets));
    // The alert targets (every profile's, the audit's) load beside the log.
    const targetsListed = Promise.all([
        listAll('/security-profiles', 'securityProfileIdentifiers').then((ids) => Promise.all(ids.map(async (id) => {
            const p = await api('GET', paths.profile(id.name));
            const sns = p.alertTargets && p.alertTargets.SNS;
            return [id.name, sns ? sns.alertTargetArn : 'none', sns ? sns.roleArn : ''];
        }))),
        api('GET', '/audit/configuration').catch(() => ({})),
    ]).then(([rows, cfg]) => {
        const auditSns = (cfg.auditNotificationTargetConfigurations || {}).SNS;
        if (auditSns) {
            rows.push(['Audit notifications', auditSns.targetArn, auditSns.roleArn || '']);
        }
        targets.append(table(['Source', 'SNS topic', 'Role'], rows));
    });
    // Open bodies stay open across refreshes: the table is replaced only when the log changed.
    let sig = '';
    const logShown = poll(async () => {
        const [s, log] = await Promise.all([api('GET', '/ddlocal/v1/status'),
            api('GET', '/ddlocal/v1/events', {query: {type: 'alert,audit,delivery'}})]);
        const events = (log.events || []).slice().reverse();
        const next = JSON.stringify([s.alertsPublished, s.webhooksGivenUp, log.lastSeq]);
        if (next === sig) {
            return;
        }
        sig = next;
        counters.replaceChildren(
            h('div', {class: 'card'}, h('div', {class: 'n'}, s.alertsPublished), h('div', {class: 'l'},
                'alerts published')),
            h('div', {class: 'card'}, h('div', {class: 'n'}, s.webhooksGivenUp), h('div', {class: 'l'},
                'webhook deliveries given up (dead letters)')));
        const msgs = events.filter((e) => e.type === 'alert' || (e.type === 'audit' && e.message))
            .slice(0, ALERTS_SHOWN);
        messages.replaceChildren(table(['Time', 'Topic', 'About', 'Message'], msgs.map((e) => [
            when(e.timeMs),
            e.type === 'alert' ? e.topic : `ddlocal/sns/${String(e.topicArn || '').replace(/^.*:/, '')}`,
            e.type === 'alert' ? `${e.violationEventType} ${e.thing} · ${e.profile} · ${e.behavior}` :
                `audit ${e.taskType} ${e.taskStatus}: ${e.nonCompliantChecks} of ${e.totalChecks} checks non-compliant`,
            e.message ? h('details', {'data-message-seq': e.seq}, h('summary', {}, 'Body'),
                h('pre', {class: 'body'}, bodyText(e.message))) : h('span', {class: 'muted'}, 'not kept'),
        ]), 'No message published since ddlocald started.', 'Messages'));
        const dels = events.filter((e) => e.type === 'delivery').slice(0, ALERTS_SHOWN);
        deliveries.replaceChildren(table(['Time', 'Kind', 'Topic', 'Endpoint', 'Result', 'Attempts', 'Error'],
            dels.map((e) => [when(e.timeMs), e.kind, e.topic, e.endpoint,
                h('span', {class: `badge ${e.result === 'delivered' ? 'ok' : 'bad'}`},
                    e.result === 'delivered' ? 'delivered' : 'gave up (dead letter)'),
                `${e.attempts}`, e.error || '']),
            'No webhook or Lambda delivery since ddlocald started.', 'Deliveries'));
    }, 3000);
    await Promise.all([targetsListed, logShown]);
}

// ---- Mitigation --------------------------------------------------------------------------

/** Each action type's actionParams member, and what its one parameter field means. */
const ACTION_TYPES = {
    ENABLE_IOT_LOGGING: ['enableIoTLoggingParams', 'Log level (ERROR, WARN, INFO, DEBUG)', 'ERROR',
        (role, v) => ({roleArnForLogging: role, logLevel: v})],
    UPDATE_DEVICE_CERTIFICATE: ['updateDeviceCertificateParams', null, '', () => ({action: 'DEACTIVATE'})],
    REPLACE_DEFAULT_POLICY_VERSION: ['replaceDefaultPolicyVersionParams', null, '',
        () => ({templateName: 'BLANK_POLICY'})],
    ADD_THINGS_TO_THING_GROUP: ['addThingsToThingGroupParams', 'Thing groups (comma-separated)',
        'IsolatedDevices', (role, v) => ({thingGroupNames: v.split(',').map((x) => x.trim()).filter(Boolean)})],
    PUBLISH_FINDING_TO_SNS: ['publishFindingToSnsParams', 'SNS topic ARN',
        'arn:aws:sns:us-east-1:123456789012:AuditFindings', (role, v) => ({topicArn: v})],
    UPDATE_CA_CERTIFICATE: ['updateCACertificateParams', null, '', () => ({action: 'DEACTIVATE'})],
};

/** CreateMitigationAction: name, type, role and the type's one parameter. */
function createActionForm() {
    const name = h('input', {id: 'action-name', required: true, placeholder: 'EnableLogging'});
    const type = h('select', {id: 'action-type'}, Object.keys(ACTION_TYPES).map((t) => h('option', {value: t}, t)));
    const role = h('input', {id: 'action-role', size: 45, value: 'arn:aws:iam::123456789012:role/MitigationRole'});
    const param = h('input', {id: 'action-param', size: 45});
    const paramLabel = h('label', {for: 'action-param'}, '', param);
    const result = h('div', {role: 'status', id: 'action-result'});
    const sync = () => {
        const [, label, def] = ACTION_TYPES[type.value];
        paramLabel.hidden = !label;
        paramLabel.firstChild.textContent = label || '';
        param.value = def;
    };
    type.addEventListener('change', sync);
    sync();
    return h('form', {class: 'panel-form', onsubmit: async (ev) => {
        ev.preventDefault();
        const [member, , , params] = ACTION_TYPES[type.value];
        try {
            await api('POST', `/mitigationactions/actions/${encodeURIComponent(name.value.trim())}`,
                {body: {roleArn: role.value.trim(), actionParams: {[member]: params(role.value.trim(), param.value.trim())}}});
            toast(`Mitigation action ${name.value.trim()} created`);
            route();
        } catch (e) {
            result.textContent = errorText(e);
        }
    }}, h('h3', {}, 'Create a mitigation action'),
    h('div', {class: 'toolbar'}, h('label', {for: 'action-name'}, 'Name', name),
        h('label', {for: 'action-type'}, 'Action type', type), h('label', {for: 'action-role'}, 'Role ARN', role),
        paramLabel, h('button', {class: 'primary', id: 'action-create', type: 'submit'}, 'Create')), result);
}

async function pageMitigation() {
    const main = view;
    const actionsBox = h('div', {id: 'actions'});
    const tasksBox = h('div', {id: 'tasks'});
    const startBox = h('div');
    main.append(h('h1', {}, 'Mitigation'),
        h('section', {class: 'panel'}, h('h2', {}, 'Mitigation actions'), actionsBox),
        h('section', {class: 'panel'}, h('h2', {}, 'Start a task on active violations'), startBox),
        h('section', {class: 'panel'}, h('h2', {}, 'Detect mitigation tasks'), tasksBox));
    // The three panels' reads at once. The task form offers the first page of active violations
    // (thousands are no list to tick from): a thing's name narrows it.
    const [actions, first] = await Promise.all([
        listAll('/mitigationactions/actions', 'actionIdentifiers'),
        listPage('/active-violations', 'activeViolations', {}, ROWS_SHOWN),
        renderTasks(),
    ]);
    actionsBox.append(table(['Name', 'ARN', 'Created'], actions.map((a) => [a.actionName, a.actionArn,
        a.creationDate ? when(typeof a.creationDate === 'number' ? a.creationDate * 1000 : Date.parse(a.creationDate)) : '']),
    'No mitigation action yet.'), createActionForm());
    const actionSel = h('select', {id: 'task-action'}, actions.map((a) => h('option', {value: a.actionName}, a.actionName)));
    const thingFilter = h('input', {type: 'search', id: 'task-thing', 'aria-label': 'Violations of the thing'});
    const checksBox = h('div', {id: 'task-violations'});
    const renderChecks = (page) => {
        const note = page.nextToken ? `The first ${page.items.length} shown; there are more: give a ` +
            'thing\'s name.' : page.items.length ? '' : 'No active violation of this thing.';
        checksBox.replaceChildren(...page.items.map((v) => h('label',
            {style: 'flex-direction:row;gap:6px;align-items:center'},
            h('input', {type: 'checkbox', value: v.violationId}),
            `${v.thingName} · ${v.securityProfileName} · ${v.behavior.name}`)),
        ...(note ? [h('p', {class: 'muted'}, note)] : []));
    };
    thingFilter.addEventListener('change', async () => {
        renderChecks(await listPage('/active-violations', 'activeViolations',
            {thingName: thingFilter.value.trim()}, ROWS_SHOWN).catch(() => ({items: []})));
    });
    renderChecks(first);
    const result = h('div', {role: 'status', id: 'task-result'});
    startBox.append(first.items.length && actions.length ? h('div', {},
        h('div', {class: 'toolbar'}, h('label', {}, 'Action', actionSel),
            h('label', {}, 'Thing', thingFilter)), checksBox,
        h('p', {}, h('button', {class: 'primary', id: 'start-task', onclick: async () => {
            const ids = [...checksBox.querySelectorAll('input:checked')].map((c) => c.value);
            if (!ids.length) {
                result.textContent = 'Choose at least one violation.';
                return;
            }
            const taskId = `console-${Date.now()}`;
            try {
                await api('PUT', paths.task(taskId), {body: {target: {violationIds: ids},
                    actions: [actionSel.value], clientRequestToken: taskId}});
                result.textContent = `Task ${taskId} started.`;
                await renderTasks();
            } catch (e) {
                result.textContent = errorText(e);
            }
        }}, 'Start task')), result) : h('p', {class: 'muted'}, 'Needs a mitigation action and an active violation.'));
    async function renderTasks() {
        await clockRead;
        const tasks = await listAll('/detect/mitigationactions/tasks', 'tasks', {
            startTime: isoSeconds(pipelineNow - 30 * 86400e3), endTime: isoSeconds(pipelineNow + 86400e3)});
        const rows = await Promise.all(tasks.map(async (t) => {
            const ex = await listAll('/detect/mitigationactions/executions', 'actionsExecutions',
                {taskId: t.taskId}).catch(() => []);
            return [t.taskId, t.taskStatus, (t.actionsDefinition || []).map((a) => a.name).join(', '),
                ex.map((e) => `${e.thingName}: ${e.actionName} ${e.status}`).join('; ')];
        }));
        tasksBox.replaceChildren(table(['Task', 'Status', 'Actions', 'Executions'], rows, 'No task yet.'));
    }
}

// ---- Audit -------------------------------------------------------------------------------

const SEVERITY_CLASS = {CRITICAL: 'bad', HIGH: 'bad', MEDIUM: 'warn', LOW: 'ok'};
const AUDIT_RANGE_MS = 30 * 86400e3;

function epochMs(v) {
    return typeof v === 'number' ? v * 1000 : Date.parse(v);
}

/** "policyVersionIdentifier: policyName=X, policyVersionId=1" from a ResourceIdentifier. */
function resourceText(id) {
    return Object.entries(id || {}).map(([k, v]) => (v && typeof v === 'object' ?
        `${k}: ${Object.entries(v).map(([a, b]) => `${a}=${b}`).join(', ')}` : `${k}: ${v}`)).join('; ');
}

async function pageAudit() {
    const main = view;
    const settings = h('div', {id: 'audit-settings'});
    const run = h('div', {id: 'audit-run'});
    const tasksBox = h('div', {id: 'audit-tasks'});
    const suppBox = h('div', {id: 'audit-suppressions'});
    main.append(h('h1', {}, 'Audit'),
        h('section', {class: 'panel', 'aria-labelledby': 'h-audit-settings'},
            h('h2', {id: 'h-audit-settings'}, 'Settings'), settings),
        h('section', {class: 'panel', 'aria-labelledby': 'h-audit-run'},
            h('h2', {id: 'h-audit-run'}, 'Run an audit'), run),
        h('section', {class: 'panel', 'aria-labelledby': 'h-audit-tasks'},
            h('h2', {id: 'h-audit-tasks'}, 'Audit results'), tasksBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-audit-supp'},
            h('h2', {id: 'h-audit-supp'}, 'Suppressions'), suppBox));

    async function renderSettings() {
        const cfg = await api('GET', '/audit/configuration');
        const checks = Object.entries(cfg.auditCheckConfigurations || {}).sort(([a], [b]) => a.localeCompare(b));
        const boxes = checks.map(([name, c]) => h('input', {type: 'checkbox', value: name,
            checked: !!c.enabled, 'aria-label': `Enable ${name}`, 'data-check': name}));
        const sns = (cfg.auditNotificationTargetConfigurations || {}).SNS || {};
        const role = h('input', {id: 'audit-role', size: 50,
            value: cfg.roleArn || 'arn:aws:iam::123456789012:role/AuditRole'});
        const topic = h('input', {id: 'audit-sns-topic', size: 50, value: sns.targetArn || '',
            placeholder: 'arn:aws:sns:us-east-1:123456789012:AuditTopic'});
        const snsRole = h('input', {id: 'audit-sns-role', size: 50, value: sns.roleArn || ''});
        const snsOn = h('input', {type: 'checkbox', id: 'audit-sns-enabled', checked: sns.enabled !== false});
        const result = h('div', {role: 'status', id: 'audit-settings-result'});
        const save = h('button', {class: 'primary', id: 'audit-save', onclick: async () => {
            const body = {roleArn: role.value.trim(), auditCheckConfigurations: {}};
            // Each check as it was (its configuration map too), with the box's flag.
            checks.forEach(([name, c], i) => {
                body.auditCheckConfigurations[name] = {...c, enabled: boxes[i].checked};
            });
            if (topic.value.trim()) {
                body.auditNotificationTargetConfigurations = {SNS: {targetArn: topic.value.trim(),
                    roleArn: snsRole.value.trim() || role.value.trim(), enabled: snsOn.checked}};
            }
            try {
                await api('PATCH', '/audit/configuration', {body});
                toast('Audit settings saved');
                await renderSettings();
                await renderRun();
            } catch (e) {
                result.textContent = errorText(e);
            }
        }}, 'Save');
        settings.replaceChildren(
            h('div', {class: 'toolbar'}, h('label', {for: 'audit-role'}, 'Role ARN', role)),
            h('fieldset', {}, h('legend', {}, 'Checks'), h('div', {class: 'check-grid'},
                checks.map(([name], i) => h('label', {class: 'inline'}, boxes[i], name)))),
            h('fieldset', {}, h('legend', {}, 'SNS notification (when a task finishes)'),
                h('div', {class: 'toolbar'}, h('label', {for: 'audit-sns-topic'}, 'Topic ARN', topic),
                    h('label', {for: 'audit-sns-role'}, 'Role ARN', snsRole),
                    h('label', {class: 'inline'}, snsOn, 'enabled'))),
            h('p', {}, save), result);
    }

    async function renderRun() {
        const cfg = await api('GET', '/audit/configuration');
        const enabled = Object.entries(cfg.auditCheckConfigurations || {}).filter(([, c]) => c.enabled)
            .map(([n]) => n).sort();
        if (!enabled.length) {
            run.replaceChildren(h('p', {class: 'muted'}, 'Enable checks in the settings first.'));
            return;
        }
        const boxes = enabled.map((n) => h('input', {type: 'checkbox', value: n, checked: true,
            'data-run-check': n}));
        const result = h('div', {role: 'status', id: 'audit-run-result'});
        run.replaceChildren(h('div', {class: 'check-grid'},
            enabled.map((n, i) => h('label', {class: 'inline'}, boxes[i], n))),
        h('p', {}, h('button', {class: 'primary', id: 'audit-run-btn', onclick: async () => {
            const names = boxes.filter((b) => b.checked).map((b) => b.value);
            try {
                const r = await api('POST', '/audit/tasks', {body: {targetCheckNames: names}});
                location.hash = `#/audit/tasks/${encodeURIComponent(r.taskId)}`;
            } catch (e) {
                result.textContent = errorText(e);
            }
        }}, 'Run audit')), result);
    }

    async function renderTasks() {
        await clockRead;
        const tasks = await listAll('/audit/tasks', 'tasks', {
            startTime: isoSeconds(pipelineNow - AUDIT_RANGE_MS), endTime: isoSeconds(pipelineNow + 86400e3)});
        const rows = await Promise.all(tasks.slice(-50).reverse().map(async (t) => {
            const d = await api('GET', `/audit/tasks/${encodeURIComponent(t.taskId)}`).catch(() => null);
            const s = (d && d.taskStatistics) || {};
            return [h('a', {href: `#/audit/tasks/${encodeURIComponent(t.taskId)}`}, t.taskId),
                d ? when(epochMs(d.taskStartTime)) : '', t.taskType, t.taskStatus,
                s.nonCompliantChecks ? h('span', {class: 'badge bad'}, `${s.nonCompliantChecks} non-compliant`) :
                    h('span', {class: 'badge ok'}, 'compliant'),
                `${s.totalChecks ?? ''}`];
        }));
        tasksBox.replaceChildren(table(['Task', 'Started', 'Type', 'Status', 'Result', 'Checks'], rows,
            'No audit in the last 30 days.', 'Audit tasks'));
    }

    async function renderSuppressions() {
        const list = await api('POST', '/audit/suppressions/list', {body: {}});
        suppBox.replaceChildren(table(['Check', 'Resource', 'Expires', 'Description', ''],
            (list.suppressions || []).map((s) => [s.checkName, resourceText(s.resourceIdentifier),
                s.suppressIndefinitely ? 'never' : when(epochMs(s.expirationDate)), s.description || '',
                h('button', {'data-delete-suppression': s.checkName, onclick: async () => {
                    try {
                        await api('POST', '/audit/suppressions/delete',
                            {body: {checkName: s.checkName, resourceIdentifier: s.resourceIdentifier}});
                        toast(`Suppression of ${s.checkName} deleted`);
                    } catch (e) {
                        toast(errorText(e));
                    }
                    await renderSuppressions();
                }}, 'Delete')]),
            'No suppression. Suppress a finding from an audit\'s results.', 'Suppressions'));
    }

    await Promise.all([renderSettings(), renderRun(), renderTasks(), renderSuppressions()]);
}

async function pageAuditTask(taskId) {
    const main = view;
    const summary = h('div', {id: 'audit-summary'});
    const checksBox = h('div', {id: 'audit-checks'});
    const findingsBox = h('div', {id: 'audit-findings'});
    const mitigateBox = h('div', {id: 'audit-mitigate'});
    const execBox = h('div', {id: 'audit-executions'});
    main.append(h('p', {}, h('a', {href: '#/audit'}, 'Audit'), ' › ', taskId),
        h('h1', {}, 'Audit results'), summary,
        h('section', {class: 'panel', 'aria-labelledby': 'h-checks'},
            h('h2', {id: 'h-checks'}, 'Checks'), checksBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-findings'},
            h('h2', {id: 'h-findings'}, 'Non-compliant findings'), findingsBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-mitigate'},
            h('h2', {id: 'h-mitigate'}, 'Apply a mitigation action'), mitigateBox),
        h('section', {class: 'panel', 'aria-labelledby': 'h-exec'},
            h('h2', {id: 'h-exec'}, 'Audit mitigation tasks'), execBox));

    // The task, its findings, the actions and the mitigation tasks are read at once.
    const listFindings = async () => {
        const found = [];
        let token;
        do {
            const page = await api('POST', '/audit/findings', {body: {taskId, maxResults: 250, nextToken: token}});
            found.push(...(page.findings || []));
            token = page.nextToken;
        } while (token && found.length < 5000);
        return found;
    };
    const listTasks = async () => {
        await clockRead;
        return listAll('/audit/mitigationactions/tasks', 'tasks', {
            startTime: isoSeconds(pipelineNow - AUDIT_RANGE_MS), endTime: isoSeconds(pipelineNow + 86400e3)});
    };
    const mitigationTasks = listTasks();
    const [task, all, actions] = await Promise.all([
        api('GET', `/audit/tasks/${encodeURIComponent(taskId)}`),
        listFindings(),
        listAll('/mitigationactions/actions', 'actionIdentifiers'),
        mitigationTasks,
    ]);
    const s = task.taskStatistics || {};
    summary.replaceChildren(h('dl', {class: 'kv'},
        h('dt', {}, 'status'), h('dd', {id: 'audit-status'}, task.taskStatus),
        h('dt', {}, 'type'), h('dd', {}, task.taskType),
        h('dt', {}, 'started'), h('dd', {}, when(epochMs(task.taskStartTime))),
        h('dt', {}, 'checks'), h('dd', {}, `${s.totalChecks} run, ${s.nonCompliantChecks} non-compliant, ` +
            `${s.compliantChecks} compliant, ${s.failedChecks} failed`)));
    const details = Object.entries(task.auditDetails || {})
        .sort(([, a], [, b]) => Number(a.checkCompliant !== false) - Number(b.checkCompliant !== false));
    checksBox.replaceChildren(table(['Check', 'Result', 'Resources', 'Non-compliant', 'Suppressed', 'Note'],
        details.map(([name, d]) => [name,
            h('span', {class: `badge ${d.checkRunStatus === 'COMPLETED_NON_COMPLIANT' || d.checkRunStatus === 'FAILED' ?
                'bad' : 'ok'}`, 'data-check-status': name}, d.checkRunStatus),
            `${d.totalResourcesCount ?? ''}`, `${d.nonCompliantResourcesCount ?? ''}`,
            `${d.suppressedNonCompliantResourcesCount ?? ''}`, d.message || d.errorCode || '']),
        'No check.', 'Checks'));

    const picks = all.map((f) => h('input', {type: 'checkbox', value: f.findingId,
        'aria-label': `Select finding ${f.findingId}`, 'data-finding-check': f.checkName}));
    findingsBox.replaceChildren(table(['', 'Check', 'Severity', 'Resource', 'Reason', 'Suppression'],
        all.map((f, i) => [picks[i], f.checkName,
            h('span', {class: `badge ${SEVERITY_CLASS[f.severity] || ''}`}, f.severity),
            h('span', {class: 'reason'}, h('small', {class: 'muted'}, f.nonCompliantResource.resourceType), ' ',
                resourceText(f.nonCompliantResource.resourceIdentifier)),
            h('span', {class: 'reason'}, f.reasonForNonCompliance || ''),
            // Suppressed when the audit ran, or a button that suppresses it from the next audit on.
            f.isSuppressed ? 'yes' : h('button', {'data-suppress': f.checkName, onclick: async (ev) => {
                try {
                    await api('POST', '/audit/suppressions/create', {body: {checkName: f.checkName,
                        resourceIdentifier: f.nonCompliantResource.resourceIdentifier,
                        suppressIndefinitely: true, description: 'Suppressed from the console',
                        clientRequestToken: `console-${f.findingId}`}});
                    toast(`${f.checkName} suppressed for this resource (from the next audit on)`);
                    ev.target.textContent = 'Suppressed';
                    ev.target.disabled = true;
                } catch (e) {
                    toast(errorText(e));
                }
            }}, 'Suppress')]),
        'No non-compliant finding.', 'Findings'));

    const actionSel = h('select', {id: 'audit-action', 'aria-label': 'Mitigation action'},
        actions.map((a) => h('option', {value: a.actionName}, a.actionName)));
    const result = h('div', {role: 'status', id: 'audit-mitigate-result'});
    mitigateBox.replaceChildren(!all.length ? h('p', {class: 'muted'}, 'No finding to mitigate.') :
        !actions.length ? h('p', {class: 'muted'}, 'No mitigation action: define one on the ',
            h('a', {href: '#/mitigation'}, 'Mitigation'), ' page.') :
            h('div', {}, h('p', {class: 'muted'}, 'Runs the action on the findings ticked above ' +
                '(StartAuditMitigationActionsTask, 25 findings at most).'),
            h('div', {class: 'toolbar'}, h('label', {}, 'Action', actionSel),
                h('button', {class: 'primary', id: 'audit-mitigate-btn', onclick: async () => {
                    const chosen = all.filter((f, i) => picks[i].checked);
                    if (!chosen.length) {
                        result.textContent = 'Tick at least one finding.';
                        return;
                    }
                    const mapping = {};
                    chosen.forEach((f) => { mapping[f.checkName] = [actionSel.value]; });
                    const id = `console-${Date.now()}`;
                    try {
                        await api('POST', `/audit/mitigationactions/tasks/${encodeURIComponent(id)}`,
                            {body: {target: {findingIds: chosen.map((f) => f.findingId)},
                                auditCheckToActionsMapping: mapping, clientRequestToken: id}});
                        result.textContent = `Task ${id} started.`;
                    } catch (e) {
                        result.textContent = errorText(e);
                    }
                    await renderExecutions();
                }}, 'Apply')), result));

    async function renderExecutions(listed = listTasks()) {
        // The auditTaskId filter matches only tasks that targeted the whole audit: a task on
        // chosen findings is found through its target, so every recent task is described.
        const tasks = await listed;
        const mine = new Set(all.map((f) => f.findingId));
        // Every task and finding read side by side; the rows keep the tasks' and findings' order.
        const perTask = await Promise.all(tasks.slice(-50).map(async (t) => {
            const d = await api('GET', `/audit/mitigationactions/tasks/${encodeURIComponent(t.taskId)}`);
            const target = d.target || {};
            const ids = target.auditTaskId === taskId ? [...mine] :
                (target.findingIds || []).filter((id) => mine.has(id));
            const perFinding = await Promise.all(ids.map(async (fid) => {
                const ex = await listAll('/audit/mitigationactions/executions', 'actionsExecutions',
                    {taskId: t.taskId, findingId: fid}).catch(() => []);
                const f = all.find((x) => x.findingId === fid);
                return ex.map((e) => [t.taskId, t.taskStatus, f ? f.checkName : fid, e.actionName,
                    h('span', {class: `badge ${e.status === 'COMPLETED' || e.status === 'SUCCESSFUL' ? 'ok' :
                        'bad'}`, 'data-execution': e.actionName}, e.status),
                    [e.errorCode, e.message].filter(Boolean).join(': ')]);
            }));
            return perFinding.flat();
        }));
        const rows = perTask.flat();
        execBox.replaceChildren(table(['Task', 'Status', 'Finding', 'Action', 'Execution', 'Message'], rows,
            'No mitigation applied to this audit yet.', 'Audit mitigation executions'));
    }
    await renderExecutions(mitigationTasks);
}

// ---- routing -----------------------------------------------------------------------------

const ROUTES = [
    [/^#\/dashboard$/, 'dashboard', pageDashboard],
    [/^#\/things$/, 'things', pageThings],
    [/^#\/things\/(.+)$/, 'things', (n) => pageThing(decodeURIComponent(n))],
    [/^#\/profiles$/, 'profiles', pageProfiles],
    [/^#\/profiles\/new$/, 'profiles', () => pageProfileNew()],
    [/^#\/profiles\/(.+)\/edit$/, 'profiles', (n) => pageProfileNew(decodeURIComponent(n))],
    [/^#\/profiles\/(.+)$/, 'profiles', (n) => pageProfile(decodeURIComponent(n))],
    [/^#\/violations$/, 'violations', pageViolations],
    [/^#\/alerts$/, 'alerts', pageAlerts],
    [/^#\/mitigation$/, 'mitigation', pageMitigation],
    [/^#\/audit$/, 'audit', pageAudit],
    [/^#\/audit\/tasks\/(.+)$/, 'audit', (id) => pageAuditTask(decodeURIComponent(id))],
];

async function route() {
    pollers.forEach((stop) => stop());
    pollers = [];
    const hash = location.hash || '#/dashboard';
    const found = ROUTES.find(([re]) => re.test(hash)) || ROUTES[0];
    const args = hash.match(found[0]) || [];
    for (const a of document.querySelectorAll('nav a')) {
        if (a.dataset.page === found[1]) {
            a.setAttribute('aria-current', 'page');
        } else {
            a.removeAttribute('aria-current');
        }
    }
    const seq = ++routeSeq;
    // The document's own load counts for the first route; a hash change starts a new one.
    const routeStart = seq === 1 ? 0 : performance.now();
    const mine = h('div', {class: 'view'});
    view = mine;
    mainEl.replaceChildren(mine);
    mainEl.dataset.page = found[1];
    mainEl.dataset.route = hash;
    mainEl.dataset.ready = 'false';
    delete mainEl.dataset.readyMs;
    delete mainEl.dataset.paintMs;
    try {
        await found[2](...args.slice(1));
    } catch (e) {
        mine.append(h('p', {class: 'errors', role: 'alert'}, errorText(e)));
    }
    if (seq === routeSeq) {
        // Milliseconds from the navigation to the first render, and to the frame that shows it
        // (bench/console_render.mjs).
        mainEl.dataset.readyMs = Math.round(performance.now() - routeStart);
        mainEl.dataset.ready = 'true';
        requestAnimationFrame(() => {
            if (seq === routeSeq) {
                mainEl.dataset.paintMs = Math.round(performance.now() - routeStart);
            }
        });
    }
}

window.addEventListener('hashchange', () => {
    route();
    mainEl.focus({preventScroll: true});
});
startClockBadge();
route();
