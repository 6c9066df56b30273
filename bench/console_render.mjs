// The console's first render per page and the thing graph, in headless chromium
// (playwright-core from tests/console, installed by `ctest -R console_browser`),
// over bench_console's data set. Not a test: prints milliseconds.
//   node bench/console_render.mjs BUILD_DIR [things] [runs]
// Per page, RUNS times each:
// - load: the page opened in a tab (about:blank, then the console's URL with the page's hash):
//   "in page" is the page's own data-paint-ms, from the navigation's start to the frame that
//   shows the first render (the document and its scripts, every request the page waits for, its
//   DOM, that frame); "seen" is the same navigation to data-ready as playwright sees it (adds
//   the DevTools protocol's round trips); "CPU" is the CPU time of chromium's processes and
//   bench_console per load (mean; includes what the page does right after its first render).
//   The first load of the first page is a fresh browser's; every run counts.
// - in app: reached from another page of the loaded console (a link: a hash change), data-paint-ms
//   from the hash change.
// "thing graph": the graphs of BenchThing00000 drawn again for another range (their requests and
// uPlot's drawing), the page's data-render-ms.
import {createRequire} from 'node:module';
import {spawn} from 'node:child_process';
import {resolve} from 'node:path';
import {readFileSync, readdirSync} from 'node:fs';

const build = resolve(process.argv[2] || 'build');
const things = process.argv[3] || '10000';
const runs = Number(process.argv[4] || 5);
const require = createRequire(`${build}/console-test-node/package.json`);
const {chromium} = require('playwright-core');

const server = spawn(`${build}/bench/bench_console`, [things, '2'], {stdio: ['pipe', 'pipe', 'inherit']});
let auditTask = '';
const url = await new Promise((ok, fail) => {
    let text = '';
    server.stdout.on('data', (d) => {
        text += d;
        process.stdout.write(d);
        const t = /audit task: (\S+)/.exec(text);
        if (t) {
            auditTask = t[1];
        }
        const m = /url: (\S+)/.exec(text);
        if (m) {
            ok(m[1]);
        }
    });
    server.on('exit', (code) => fail(new Error(`bench_console exited ${code}`)));
});

/**
 * CPU seconds (user + system, clock ticks of 10 ms) of every process below this one: chromium's
 * and bench_console's (the API), not this driver's.
 */
function childrenCpu() {
    const root = String(process.pid);
    const parent = {};
    const ticks = {};
    for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) {
            continue;
        }
        try {
            const f = readFileSync(`/proc/${d}/stat`, 'utf8');
            const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
            parent[d] = rest[1];
            ticks[d] = Number(rest[11]) + Number(rest[12]);
        } catch (e) {
            // gone meanwhile
        }
    }
    let sum = 0;
    for (const pid of Object.keys(ticks)) {
        for (let p = parent[pid]; p && p !== '0' && p !== '1'; p = parent[p]) {
            if (p === root) {
                sum += ticks[pid];
                break;
            }
        }
    }
    return sum / 100;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
try {
    const page = await browser.newPage({viewport: {width: 1280, height: 800}});
    const pages = [['dashboard', '#/dashboard'], ['things', '#/things'], ['profiles', '#/profiles'],
        ['profile-create', '#/profiles/new'], ['violations', '#/violations'], ['alerts', '#/alerts'],
        ['mitigation', '#/mitigation'], ['audit', '#/audit'], ['audit-task', `#/audit/tasks/${auditTask}`],
        ['thing', '#/things/BenchThing00000']];
    const stats = (xs) => `${String(median(xs)).padStart(6)} ${String(Math.max(...xs)).padStart(6)}`;
    console.log(`first render ms over ${runs} runs: median, max; the page loaded in a tab (in page, ` +
        'seen by playwright,\nCPU per load of chromium and the API, mean) and reached from another ' +
        'page of the console (in app)\n(min / every load in page)');
    console.log('page             load in page   seen  CPU     in app');
    for (const [name, hash] of pages) {
        const inPage = [];
        const inApp = [];
        const seen = [];
        const graphs = [];
        // The loads' CPU, also what a page does right after its first render (the rest of a list).
        const cpu0 = childrenCpu();
        for (let i = 0; i < runs; i++) {
            await page.goto('about:blank');
            const t0 = Date.now();
            await page.goto(url + hash, {waitUntil: 'commit'});
            await page.waitForSelector(`main[data-route="${hash}"][data-ready="true"]`, {timeout: 120000});
            seen.push(Date.now() - t0);
            await page.waitForSelector(`main[data-route="${hash}"][data-paint-ms]`, {timeout: 120000});
            inPage.push(Number(await page.getAttribute('main', 'data-paint-ms')));
            if (name === 'thing') {
                // The graph alone: drawn again for another range (its requests and uPlot's drawing).
                await page.evaluate(() => { delete document.getElementById('graphs').dataset.ready; });
                await page.selectOption('#range', String(2 * 86400e3));
                await page.waitForSelector('#graphs[data-ready="true"]', {timeout: 120000});
                graphs.push(Number(await page.getAttribute('#graphs', 'data-render-ms')));
            }
        }
        const cpuMs = Math.round((childrenCpu() - cpu0) * 1000 / runs);
        // In the app: from another page of the loaded console to this one (a link, a hash change).
        for (let i = 0; i < runs; i++) {
            const from = hash === '#/profiles/new' ? '#/profiles' : '#/profiles/new';
            await page.evaluate((h) => { location.hash = h; }, from);
            await page.waitForSelector(`main[data-route="${from}"][data-paint-ms]`, {timeout: 120000});
            await page.evaluate((h) => { location.hash = h; }, hash);
            await page.waitForSelector(`main[data-route="${hash}"][data-paint-ms]`, {timeout: 120000});
            inApp.push(Number(await page.getAttribute('main', 'data-paint-ms')));
        }
        console.log(`${name.padEnd(16)}${stats(inPage)} ${stats(seen)} ${String(cpuMs).padStart(6)}  ` +
            `${stats(inApp)}   (${Math.min(...inPage)} / ${inPage.join(' ')})`);
        if (graphs.length) {
            console.log(`${'thing graph'.padEnd(16)}${stats(graphs)}                 (${Math.min(...graphs)} / ` +
                `${graphs.join(' ')}; its requests and drawing, range changed to 2 days)`);
        }
    }
} finally {
    await browser.close();
    server.stdin.end();
}
