// What the console's browser tests share: the environment run.sh gives them
// (DD_DATA_DIR of a running `ddlocal up`, DD_CONSOLE_NODE_MODULES,
// DD_CONSOLE_SCREENSHOTS), named steps, polling with a deadline, and the
// browser with its request log.
import {createRequire} from 'node:module';
import {readFileSync, mkdirSync} from 'node:fs';

const require = createRequire(`${process.env.DD_CONSOLE_NODE_MODULES}/package.json`);
const {chromium} = require('playwright-core');
export const data = process.env.DD_DATA_DIR;
const shots = process.env.DD_CONSOLE_SCREENSHOTS || '';
export const endpoints = JSON.parse(readFileSync(`${data}/endpoints.json`, 'utf8'));
export const consoleUrl = endpoints.console;
export const apiUrl = endpoints.api;
export const origin = new URL(consoleUrl).origin;

let passed = 0;
let failed = 0;
export async function step(name, fn) {
    try {
        await fn();
        passed++;
        console.log(`ok - ${name}`);
    } catch (e) {
        failed++;
        console.log(`FAIL - ${name}: ${e.stack || e}`);
        throw e;
    }
}
export function check(cond, what) {
    if (!cond) {
        throw new Error(what);
    }
}
/** Polls @p fn until it returns a truthy value, for at most @p ms. */
export async function until(fn, ms, what) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) {
            return v;
        }
        if (Date.now() > end) {
            throw new Error(`timed out: ${what}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}
/** Calls the API directly (checks what the console did, as the CLI would). */
export async function apiCall(method, path, body) {
    const r = await fetch(apiUrl + path, {method, headers: {'Content-Type': 'application/json'},
        body: body === undefined ? undefined : JSON.stringify(body)});
    const text = await r.text();
    return {status: r.status, json: text ? JSON.parse(text) : {}};
}
export async function shot(page, name) {
    if (shots) {
        mkdirSync(shots, {recursive: true});
        await page.evaluate(() => { document.getElementById('toast').textContent = ''; });
        await page.screenshot({path: `${shots}/${name}.png`, fullPage: true});
    }
}
export async function open(page, hash) {
    await page.goto(`${consoleUrl}${hash}`);
    // This route's render, not the previous page's (a hash change is not a load).
    await page.waitForSelector(`main[data-route="${hash}"][data-ready="true"]`, {timeout: 30000});
}

/**
 * Runs @p story(page) in chromium at 1280x800, then checks that every request went to ddlocald
 * and no page error happened; exits with the result.
 */
export async function run(story) {
    const browser = await chromium.launch({executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking']});
    const requests = [];
    let exitCode = 1;
    try {
        const context = await browser.newContext({viewport: {width: 1280, height: 800}});
        context.on('request', (r) => requests.push(r.url()));
        const page = await context.newPage();
        const pageErrors = [];
        page.on('pageerror', (e) => pageErrors.push(e.message));
        await story(page);
        await step('every request went to ddlocald', async () => {
            const other = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
            check(requests.length > 10, 'request log is empty');
            check(other.length === 0, `requests elsewhere: ${other.join(', ')}`);
            check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
        });
        exitCode = 0;
    } catch (e) {
        exitCode = 1;
    } finally {
        await browser.close();
        console.log(`${passed} passed, ${failed} failed`);
    }
    process.exit(exitCode);
}
