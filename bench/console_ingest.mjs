// What the console costs ingest: bench_ingest (its own `ddlocal up`, DEVICES devices over mTLS)
// in three modes, alternated ROUNDS times so the machine's load falls on all of them alike:
//   served   - the console served (the default) and nobody has it open;
//   off      - the console not served ($DDLOCAL_CONSOLE_DIR names a missing folder: 404);
//   open     - the console served and its Dashboard open in headless chromium (playwright-core
//              from tests/console), polling /ddlocal/v1/status and the clock every 2 s.
// Prints each run and the medians: accepted reports/s and ddlocald's CPU per accepted report.
// Not a test.
//   node bench/console_ingest.mjs BUILD_DIR [rounds] [devices] [seconds]
import {createRequire} from 'node:module';
import {spawn} from 'node:child_process';
import {resolve} from 'node:path';

const build = resolve(process.argv[2] || 'build');
const rounds = Number(process.argv[3] || 3);
const devices = process.argv[4] || '200';
const seconds = process.argv[5] || '10';
const require = createRequire(`${build}/console-test-node/package.json`);
const {chromium} = require('playwright-core');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(mode, browser) {
    const env = {...process.env};
    if (mode === 'off') {
        env.DDLOCAL_CONSOLE_DIR = '/nonexistent/ddlocal-console';
    }
    const child = spawn(`${build}/bench/bench_ingest`, ['--devices', devices, '--window', '4',
        '--warmup', '3', '--duration', seconds], {cwd: build, env, stdio: ['ignore', 'pipe', 'inherit']});
    let text = '';
    let page = null;
    let opening = null;
    child.stdout.on('data', (d) => {
        text += d;
        const m = /API (http:\/\/[0-9.:]+)/.exec(text);
        if (mode === 'open' && m && !opening) {
            opening = (async () => {
                page = await browser.newPage({viewport: {width: 1280, height: 800}});
                await page.goto(`${m[1]}/console/#/dashboard`);
                await page.waitForSelector('main[data-ready="true"]');
            })();
        }
    });
    const code = await new Promise((ok) => child.on('exit', ok));
    if (opening) {
        await opening.catch(() => {});
        await page.close();
    }
    const rate = /= (\d+) reports\/s/.exec(text);
    const cpu = /ddlocald (\d+)% \(([0-9.]+) us\)/.exec(text);
    if (code !== 0 || !rate || !cpu) {
        throw new Error(`bench_ingest (${mode}) exited ${code}:\n${text}`);
    }
    return {rate: Number(rate[1]), pct: Number(cpu[1]), us: Number(cpu[2])};
}

const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
const results = {served: [], off: [], open: []};
try {
    for (let r = 0; r < rounds; r++) {
        for (const mode of Object.keys(results)) {
            const x = await run(mode, browser);
            results[mode].push(x);
            console.log(`round ${r + 1} ${mode.padEnd(7)} ${x.rate} reports/s, ddlocald ${x.pct}% ` +
                `(${x.us} us per report)`);
        }
    }
} finally {
    await browser.close();
}
console.log('median over the rounds:');
for (const [mode, xs] of Object.entries(results)) {
    console.log(`${mode.padEnd(7)} ${median(xs.map((x) => x.rate))} reports/s, ddlocald ` +
        `${median(xs.map((x) => x.us))} us per report`);
}
