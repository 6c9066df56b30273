// The workshop's Module 4 through the console, in Debian's chromium
// (playwright-core): create the profile in the form (AWS's validation message
// first, for an invalid value), a device that violates, the violation
// appearing without a reload, Thing03's graph (a datapoint beyond the
// threshold line, an alarm span), the release from IsolatedDevices and the
// device connecting again; no request to any host but ddlocald. Run by run.sh,
// which starts `ddlocal up --workshop --manual-clock` (DD_DATA_DIR).
import {createRequire} from 'node:module';
import {readFileSync, mkdirSync} from 'node:fs';
import {spawnSync} from 'node:child_process';

const require = createRequire(`${process.env.DD_CONSOLE_NODE_MODULES}/package.json`);
const {chromium} = require('playwright-core');
const data = process.env.DD_DATA_DIR;
const shots = process.env.DD_CONSOLE_SCREENSHOTS || '';
const endpoints = JSON.parse(readFileSync(`${data}/endpoints.json`, 'utf8'));
const consoleUrl = endpoints.console;
const api = endpoints.api;
const origin = new URL(consoleUrl).origin;
const mqttPort = endpoints.mqtt.split(':')[1];
const PROFILE = 'DetectSendingMoreThanAverageBytes';

let passed = 0;
let failed = 0;
async function step(name, fn) {
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
function check(cond, what) {
    if (!cond) {
        throw new Error(what);
    }
}
/** Polls @p fn until it returns a truthy value, for at most @p ms. */
async function until(fn, ms, what) {
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
async function apiGet(path) {
    const r = await fetch(api + path);
    return {status: r.status, json: await r.json()};
}
/** Thing03's Device Defender report, as its agent sends it (the workshop's /tmp files). */
function report(id, bytesOut) {
    const dir = `${data}/workshop/tmp`;
    return spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', mqttPort, '--cafile', `${dir}/rootca.pem`,
        '--cert', `${dir}/cert.pem`, '--key', `${dir}/private.key`, '-i', 'SensorDevice03', '-q', '1',
        '-t', '$aws/things/Thing03/defender/metrics/json', '-m', JSON.stringify({
            header: {report_id: id, version: '1.0'},
            metrics: {network_stats: {bytes_in: 120, bytes_out: bytesOut, packets_in: 3, packets_out: 4}},
        })], {encoding: 'utf8', timeout: 30000});
}
async function shot(page, name) {
    if (shots) {
        mkdirSync(shots, {recursive: true});
        await page.evaluate(() => { document.getElementById('toast').textContent = ''; });
        await page.screenshot({path: `${shots}/${name}.png`, fullPage: true});
    }
}
async function open(page, hash) {
    await page.goto(`${consoleUrl}${hash}`);
    // This route's render, not the previous page's (a hash change is not a load).
    await page.waitForSelector(`main[data-route="${hash}"][data-ready="true"]`, {timeout: 30000});
}

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

    await step('the dashboard shows the pipeline and the manual clock', async () => {
        await open(page, '#/dashboard');
        await page.waitForSelector('#status-cards .card');
        check((await page.textContent('#clock-mode')) === 'manual', 'clock mode is not manual');
        await until(async () => (await page.locator('#feed li').count()) > 0, 10000, 'live events');
        await shot(page, 'dashboard');
    });

    await step('the create form shows AWS\'s validation message for an invalid value', async () => {
        await open(page, '#/profiles/new');
        await page.fill('#profile-name', PROFILE);
        await page.fill('#b1-name', 'MoreBytesSent');
        await page.fill('#b1-metric', 'aws:all-bytes-out');
        await page.selectOption('#b1-op', 'greater-than');
        await page.fill('#b1-value', '200');
        await until(() => page.isVisible('#b1-hint'), 5000, 'inverted-operator hint');
        check(/Criteria describe normal behaviour/.test(await page.textContent('#b1-hint')), 'hint text');
        await shot(page, 'profile-create');
        await page.selectOption('#b1-op', 'less-than-equals');
        check(!(await page.isVisible('#b1-hint')), 'hint still shown for less-than-equals');
        await page.fill('#b1-value', '-5');
        await page.click('#save-btn');
        await until(async () => /value\.count must be an integer >= 0/.test(
            await page.textContent('#form-errors')), 10000, 'validation error shown');
        check((await apiGet(`/security-profiles/${PROFILE}`)).status === 404, 'invalid profile was saved');
    });

    await step('the corrected profile is created and attached to all things', async () => {
        await page.fill('#b1-value', '200');
        await page.click('#save-btn');
        await page.waitForURL(`**#/profiles/${PROFILE}`, {timeout: 10000});
        await page.waitForSelector('main[data-ready="true"]');
        const p = await apiGet(`/security-profiles/${PROFILE}`);
        check(p.status === 200, 'profile not created');
        check(p.json.behaviors[0].criteria.value.count === 200, 'threshold not 200');
        check(p.json.alertTargets.SNS.alertTargetArn.endsWith(':BadIoTDevices'), 'alert target');
        const t = await apiGet(`/security-profiles/${PROFILE}/targets`);
        check(t.json.securityProfileTargets.some((x) => x.arn.endsWith(':all/things')), 'not attached');
        await shot(page, 'profile-detail');
    });

    await step('a quiet report, then the dashboard advances the manual clock', async () => {
        check(report(1, 150).status === 0, 'quiet report not published');
        await open(page, '#/dashboard');
        const before = await page.textContent('#clock-time');
        await page.fill('#advance-seconds', '300');
        await page.click('#advance-btn');
        await until(async () => (await page.textContent('#clock-time')) !== before, 10000, 'clock moved');
    });

    await step('the violation appears on the Violations page without a reload', async () => {
        await open(page, '#/violations');
        await page.evaluate(() => { window.__noReload = true; });
        check((await page.locator('#violations-table tbody tr').count()) === 0, 'violation before the report');
        await shot(page, 'violations-empty');
        const r = report(2, 104000);
        check(r.status === 0, `noisy report not published: ${r.stderr}`);
        await until(async () => /Thing03/.test(await page.textContent('#violations-table')), 20000,
            'the violation row');
        check(await page.evaluate(() => window.__noReload === true), 'the page was reloaded');
        check(/MoreBytesSent/.test(await page.textContent('#violations-table')), 'behavior shown');
        await shot(page, 'violations');
    });

    await step('the verification state is set from the Violations page', async () => {
        const sel = page.locator('#violations-table select').first();
        await sel.selectOption('TRUE_POSITIVE');
        await page.locator('#violations-table button:text("Set")').first().click();
        await until(async () => {
            const av = (await apiGet('/active-violations?thingName=Thing03')).json.activeViolations;
            return av.length === 1 && av[0].verificationState === 'TRUE_POSITIVE';
        }, 10000, 'verification state TRUE_POSITIVE');
        await page.selectOption('#violations-view', 'history');
        await until(async () => /in-alarm/.test(await page.textContent('#violations-table')), 10000,
            'the in-alarm event in the history');
        await shot(page, 'violations-history');
    });

    await step('the isolator quarantines Thing03; its connection is refused', async () => {
        await until(async () => (await apiGet('/things/Thing03/thing-groups')).json.thingGroups
            .some((g) => g.groupName === 'IsolatedDevices'), 20000, 'Thing03 in IsolatedDevices');
        const r = report(3, 100);
        check(r.status !== 0, 'a quarantined device could publish');
        await open(page, '#/things');
        await page.waitForSelector('#things-table[data-complete="true"]');
        const row = await page.textContent('#things-table tbody tr:nth-child(3)');
        check(/Thing03.*IsolatedDevices.*1 active/.test(row), `Thing03's row: ${row}`);
        await shot(page, 'things');
    });

    await step('a Detect mitigation task is started on the violation from the Mitigation page', async () => {
        const r = await fetch(`${api}/mitigationactions/actions/QuarantineAction`, {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({
                roleArn: 'arn:aws:iam::123456789012:role/MoveThingsToQuarantineGroupRole',
                actionParams: {addThingsToThingGroupParams: {thingGroupNames: ['IsolatedDevices']}}})});
        check(r.status === 200, `CreateMitigationAction: ${r.status}`);
        await open(page, '#/mitigation');
        await page.locator('input[type="checkbox"]').first().check();
        await page.click('#start-task');
        await until(async () => /SUCCESSFUL/.test(await page.textContent('#tasks')), 15000, 'task SUCCESSFUL');
        check(/Thing03: QuarantineAction SUCCESSFUL/.test(await page.textContent('#tasks')), 'execution');
        await shot(page, 'mitigation');
        await open(page, '#/violations');
    });

    await step('Thing03\'s graph shows a datapoint beyond the threshold and an alarm span', async () => {
        await page.click('#violations-table a:text("Thing03")');
        await page.waitForURL('**#/things/Thing03');
        await page.waitForSelector('#graphs[data-ready="true"]', {timeout: 30000});
        const fig = page.locator(`figure[data-profile="${PROFILE}"][data-behavior="MoreBytesSent"]`);
        check((await fig.count()) === 1, 'no graph for MoreBytesSent');
        check((await fig.getAttribute('data-threshold')) === '200', 'threshold line');
        check(Number(await fig.getAttribute('data-points')) >= 2, 'datapoints');
        check(Number(await fig.getAttribute('data-violating')) >= 1, 'no datapoint beyond the threshold');
        check(Number(await fig.getAttribute('data-spans')) >= 1, 'no alarm span');
        check((await fig.locator('canvas').count()) >= 1, 'no chart drawn');
        check((await fig.getAttribute('data-drawn')) === (await fig.getAttribute('data-points')),
            'the chart does not draw every datapoint');
        await fig.locator('summary').click();
        check(/104000/.test(await fig.textContent()), 'the 104000 datapoint is not in the data table');
        await fig.locator('summary').click();
        await shot(page, 'thing');
    });

    await step('releasing Thing03 from IsolatedDevices lets it connect again', async () => {
        const btn = page.locator('[data-remove-group="IsolatedDevices"]');
        await btn.focus();
        await page.keyboard.press('Enter');
        await until(async () => (await btn.count()) === 0, 10000, 'IsolatedDevices still listed');
        const g = await apiGet('/things/Thing03/thing-groups');
        check(!g.json.thingGroups.some((x) => x.groupName === 'IsolatedDevices'), 'still in the group');
        const r = await until(async () => {
            const x = report(4, 100);
            return x.status === 0 ? x : null;
        }, 15000, 'Thing03 publishing after the release');
        check(r.status === 0, 'Thing03 cannot connect after the release');
    });

    await step('the profile is edited in the form (UpdateSecurityProfile)', async () => {
        const before = (await apiGet(`/security-profiles/${PROFILE}`)).json;
        await open(page, `#/profiles/${PROFILE}`);
        await page.click('#edit-profile');
        await page.waitForURL(`**#/profiles/${PROFILE}/edit`);
        await page.waitForSelector('main[data-ready="true"]');
        check((await page.inputValue('#b1-value')) === '200', 'the form is not filled from the profile');
        await page.fill('#b1-value', '300');
        await page.click('#save-btn');
        await page.waitForURL(`**#/profiles/${PROFILE}`, {timeout: 10000});
        const after = (await apiGet(`/security-profiles/${PROFILE}`)).json;
        check(after.behaviors[0].criteria.value.count === 300, 'the value was not updated');
        check(after.version === before.version + 1, 'the version did not move');
        check(after.alertTargets.SNS.alertTargetArn.endsWith(':BadIoTDevices'), 'alert target lost');
    });

    await step('the Alerts page shows the body of the alert published for Thing03', async () => {
        await open(page, '#/alerts');
        const body = page.locator('#alerts-messages details').first();
        await body.waitFor({timeout: 10000});
        await body.locator('summary').click();
        const alert = JSON.parse(await body.locator('pre').textContent());
        check(alert.thingName === 'Thing03' && alert.securityProfileName === PROFILE,
            'the body is not Thing03\'s alert');
        check(typeof alert.violationId === 'string' && alert.behavior.name === 'MoreBytesSent',
            'the alert has not the spec\'s members');
        await shot(page, 'alerts');
    });

    await step('the other pages render', async () => {
        for (const [hash, name] of [['#/profiles', 'profiles']]) {
            await open(page, hash);
            check(!(await page.locator('main .errors[role="alert"]').count()), `${name} shows an error`);
            await shot(page, name);
        }
        await page.fill('#thing-search', 'xyz').catch(() => {});
    });

    await step('phone width: no horizontal scrolling', async () => {
        await page.setViewportSize({width: 390, height: 844});
        for (const hash of ['#/dashboard', '#/violations', '#/things/Thing03']) {
            await open(page, hash);
            const w = await page.evaluate(() => document.documentElement.scrollWidth);
            check(w <= 391, `${hash} is ${w} px wide at 390`);
        }
        // Reports 2 and 4 share a pipeline time (no clock advance between): both are drawn.
        await page.waitForSelector('#graphs[data-ready="true"]');
        const fig = page.locator('figure[data-behavior="MoreBytesSent"]');
        check(Number(await fig.getAttribute('data-points')) === 3, 'Thing03 has not 3 datapoints');
        check((await fig.getAttribute('data-drawn')) === '3', 'datapoints of one time are not all drawn');
        await shot(page, 'phone-thing');
    });

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
