// The console's first render per page and the thing graph, in headless chromium
// (playwright-core from tests/console, installed by `ctest -R console_browser`),
// over bench_console's data set. Not a test: prints milliseconds.
//   node bench/console_render.mjs BUILD_DIR [things] [runs]
// Per page: "in page" is the page's own data-paint-ms (from the navigation's start to the
// frame that shows the first render: every request it waits for, its DOM, that frame);
// "seen" is navigation to data-ready as playwright sees it (adds the DevTools protocol's round
// trips). The first run of the first page is a fresh browser's; all runs count.
import {createRequire} from 'node:module';
import {spawn} from 'node:child_process';
import {resolve} from 'node:path';

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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
try {
    const page = await browser.newPage({viewport: {width: 1280, height: 800}});
    const pages = [['dashboard', '#/dashboard'], ['things', '#/things'], ['profiles', '#/profiles'],
        ['profile-create', '#/profiles/new'], ['violations', '#/violations'], ['alerts', '#/alerts'],
        ['mitigation', '#/mitigation'], ['audit', '#/audit'], ['audit-task', `#/audit/tasks/${auditTask}`],
        ['thing', '#/things/BenchThing00000']];
    const stats = (xs) => `${String(median(xs)).padStart(6)} ${String(Math.max(...xs)).padStart(6)}`;
    console.log(`first render ms over ${runs} runs: median, max (min / all runs in page)`);
    console.log(`page             in page    seen`);
    for (const [name, hash] of pages) {
        const inPage = [];
        const seen = [];
        const graphs = [];
        for (let i = 0; i < runs; i++) {
            await page.goto('about:blank');
            const t0 = Date.now();
            await page.goto(url + hash, {waitUntil: 'commit'});
            await page.waitForSelector(`main[data-route="${hash}"][data-ready="true"]`, {timeout: 120000});
            seen.push(Date.now() - t0);
            await page.waitForSelector(`main[data-route="${hash}"][data-paint-ms]`, {timeout: 120000});
            inPage.push(Number(await page.getAttribute('main', 'data-paint-ms')));
            if (name === 'thing') {
                graphs.push(Number(await page.getAttribute('#graphs', 'data-render-ms')));
            }
        }
        console.log(`${name.padEnd(16)}${stats(inPage)} ${stats(seen)}   (${Math.min(...inPage)} / ` +
            `${inPage.join(' ')})`);
        if (graphs.length) {
            console.log(`${'thing graph'.padEnd(16)}${stats(graphs)}                 (${Math.min(...graphs)} / ` +
                `${graphs.join(' ')}; requests + drawing, in the page)`);
        }
    }
} finally {
    await browser.close();
    server.stdin.end();
}
