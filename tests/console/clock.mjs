// The Dashboard's live scale change (issue 13), in Debian's chromium (playwright-core): the
// pipeline starts scaled (run.sh gives clock.mjs `ddlocal up --time-scale 60`); an invalid scale
// (0, text) gets a clear error and changes nothing, without moving the page; x600 applied from
// the Dashboard shows without a reload, the API and endpoints.json say x600, pipeline time runs
// at the new rate (bracketed by the new anchor, not timed) and the feed shows the change.
import {readFileSync} from 'node:fs';
import {data, step, check, until, apiCall, shot, open, run} from './harness.mjs';

const WAIT = 30000;

/** Top of the section after the clock's: it moves if the clock panel's height changes. */
async function nextPanelTop(page) {
    return (await page.locator('#h-counts').boundingBox()).y;
}

async function scaleShown(page) {
    return (await page.textContent('#clock-scale')) || '';
}

await run(async (page) => {
    await step('the Dashboard shows the scaled clock with a scale control', async () => {
        await open(page, '#/dashboard');
        await until(async () => (await scaleShown(page)) === 'x60', WAIT, 'scale x60 shown');
        check(await page.isVisible('#scale-input'), 'the scale field is shown');
        check(!(await page.isVisible('#advance-btn')), 'no advance button for a scaled clock');
        check((await page.inputValue('#scale-input')) === '60', 'the field starts at the scale');
    });

    await step('an invalid scale gets a clear error and changes nothing', async () => {
        const top = await nextPanelTop(page);
        await page.fill('#scale-input', '0');
        await page.click('#scale-btn');
        await until(async () => ((await page.textContent('#scale-error')) || '')
            .includes('0 < X <= 1000000'), WAIT, "the API's error for 0");
        check((await nextPanelTop(page)) === top, 'the error moved the page');
        await page.fill('#scale-input', 'fast');
        await page.click('#scale-btn');
        await until(async () => ((await page.textContent('#scale-error')) || '')
            .includes("not 'fast'"), WAIT, 'the error for text');
        const c = await apiCall('GET', '/ddlocal/v1/clock');
        check(c.json.scale === 60, `scale changed to ${c.json.scale}`);
        check(await scaleShown(page) === 'x60', 'the shown scale changed');
    });

    await step('x600 from the Dashboard: shown without a reload, time at the new rate', async () => {
        const top = await nextPanelTop(page);
        const before = await page.textContent('#clock-time');
        await page.fill('#scale-input', '600');
        await page.click('#scale-btn');
        await until(async () => (await scaleShown(page)) === 'x600', WAIT, 'scale x600 shown');
        check(((await page.textContent('#scale-error')) || '') === '', 'an error is left');
        check((await nextPanelTop(page)) === top, 'the change moved the page');
        // The API and endpoints.json: the new anchor.
        const wallBefore = Date.now();
        const c = await apiCall('GET', '/ddlocal/v1/clock');
        const wallAfter = Date.now();
        check(c.status === 200 && c.json.mode === 'scaled' && c.json.scale === 600,
            `clock ${JSON.stringify(c.json)}`);
        const [, scale, originReal, originPipeline] = c.json.spec.split(':').map(Number);
        check(scale === 600, `spec ${c.json.spec}`);
        // Pipeline time runs at x600 from the anchor: bracketed by the wall times around the
        // call (same machine clock), whatever the machine's load.
        const lo = originPipeline + Math.max(0, wallBefore - originReal) * 600;
        const hi = originPipeline + (wallAfter - originReal) * 600;
        check(c.json.pipelineTimeMs >= lo - 600 && c.json.pipelineTimeMs <= hi + 600,
            `pipeline time ${c.json.pipelineTimeMs} outside [${lo}, ${hi}] of ${c.json.spec}`);
        const ep = JSON.parse(readFileSync(`${data}/endpoints.json`, 'utf8'));
        check(ep.clock === c.json.spec, `endpoints.json says ${ep.clock}, the API ${c.json.spec}`);
        // The shown time follows (the Dashboard polls), and the feed has the change.
        await until(async () => (await page.textContent('#clock-time')) !== before, WAIT,
            'the shown pipeline time moves');
        await until(async () => ((await page.textContent('#feed')) || '')
            .includes('clock: scale x600 (was x60)'), WAIT, 'the change in the live events');
        const ev = await apiCall('GET', '/ddlocal/v1/events?type=clock');
        check(ev.json.events.length === 1 && ev.json.events[0].previousScale === 60,
            `clock events ${JSON.stringify(ev.json.events)}`);
        await shot(page, 'dashboard-scaled');
    });
});
