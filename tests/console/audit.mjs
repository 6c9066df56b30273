// The workshop's Module 2 (Device Defender Audit) through the console, in
// Debian's chromium (playwright-core): enable checks and the SNS notification
// in the settings, run an on-demand audit, see the LOGGING_DISABLED_CHECK and
// IOT_POLICY_OVERLY_PERMISSIVE_CHECK findings, suppress one, apply a
// mitigation action defined on the Mitigation page to the other, see its
// execution; then the audit's notification body on the Alerts page. Run by
// run.sh (`ddlocal up --workshop --manual-clock`, DD_DATA_DIR).
import {step, check, until, apiCall, shot, open, run} from './harness.mjs';

const LOGGING = 'LOGGING_DISABLED_CHECK';
const POLICY = 'IOT_POLICY_OVERLY_PERMISSIVE_CHECK';

await run(async (page) => {
    await step('a mitigation action is defined on the Mitigation page', async () => {
        await open(page, '#/mitigation');
        await page.fill('#action-name', 'EnableLogging');
        await page.selectOption('#action-type', 'ENABLE_IOT_LOGGING');
        await page.fill('#action-role', 'arn:aws:iam::123456789012:role/MitigationRole');
        await page.click('#action-create');
        await page.waitForSelector('#actions >> text=EnableLogging');
        const a = await apiCall('GET', '/mitigationactions/actions/EnableLogging');
        check(a.status === 200 && a.json.actionParams.enableIoTLoggingParams, 'the action was not created');
    });

    await step('the settings enable two checks and the SNS notification', async () => {
        await open(page, '#/audit');
        await page.waitForSelector(`#audit-settings input[data-check="${LOGGING}"]`);
        await page.check(`#audit-settings input[data-check="${LOGGING}"]`);
        await page.check(`#audit-settings input[data-check="${POLICY}"]`);
        await page.fill('#audit-sns-topic', 'arn:aws:sns:us-east-1:123456789012:AuditTopic');
        await page.click('#audit-save');
        await page.waitForSelector(`#audit-run input[data-run-check="${POLICY}"]`);
        const cfg = (await apiCall('GET', '/audit/configuration')).json;
        check(cfg.auditCheckConfigurations[LOGGING].enabled, 'LOGGING_DISABLED_CHECK not enabled');
        check(cfg.auditCheckConfigurations[POLICY].enabled, 'IOT_POLICY_OVERLY_PERMISSIVE_CHECK not enabled');
        check(cfg.auditNotificationTargetConfigurations.SNS.targetArn.endsWith(':AuditTopic'),
            'SNS target not saved');
        await shot(page, 'audit');
    });

    let taskId = '';
    await step('an on-demand audit finds LOGGING_DISABLED and an overly permissive policy', async () => {
        await page.click('#audit-run-btn');
        await page.waitForURL(/#\/audit\/tasks\//);
        await page.waitForSelector('main[data-ready="true"]');
        taskId = decodeURIComponent(page.url().replace(/^.*#\/audit\/tasks\//, ''));
        check((await page.textContent('#audit-status')) === 'COMPLETED', 'the audit did not complete');
        for (const c of [LOGGING, POLICY]) {
            check((await page.textContent(`[data-check-status="${c}"]`)) === 'COMPLETED_NON_COMPLIANT',
                `${c} is not non-compliant`);
            check(await page.locator(`#audit-findings input[data-finding-check="${c}"]`).count() > 0,
                `no ${c} finding shown`);
        }
        check(await page.locator('#audit-findings >> text=CRITICAL').count() > 0, 'no severity shown');
        await shot(page, 'audit-results');
    });

    await step('a policy finding is suppressed; the next audit marks it suppressed', async () => {
        await page.locator(`button[data-suppress="${POLICY}"]`).first().click();
        await page.locator(`button[data-suppress="${POLICY}"]:disabled`).first().waitFor();
        const list = (await apiCall('POST', '/audit/suppressions/list', {checkName: POLICY})).json;
        check(list.suppressions.length === 1, 'no suppression created');
        const next = (await apiCall('POST', '/audit/tasks', {targetCheckNames: [POLICY]})).json.taskId;
        const found = (await apiCall('POST', '/audit/findings', {taskId: next})).json.findings;
        check(found.length === 1 && found[0].isSuppressed, 'the next audit does not mark it suppressed');
        await open(page, '#/audit');
        await page.waitForSelector(`#audit-suppressions >> text=${POLICY}`);
        await shot(page, 'audit-settings-suppression');
    });

    await step('EnableLogging is applied to the LOGGING_DISABLED finding; its execution shows', async () => {
        await open(page, `#/audit/tasks/${encodeURIComponent(taskId)}`);
        await page.check(`#audit-findings input[data-finding-check="${LOGGING}"]`);
        await page.selectOption('#audit-action', 'EnableLogging');
        await page.click('#audit-mitigate-btn');
        const status = await until(async () => {
            const el = page.locator('#audit-executions [data-execution="EnableLogging"]');
            return (await el.count()) ? el.first().textContent() : null;
        }, 15000, 'the execution');
        check(status === 'COMPLETED', `the execution is ${status}`);
        const opts = (await apiCall('GET', '/v2LoggingOptions')).json;
        check(opts.roleArn === 'arn:aws:iam::123456789012:role/MitigationRole', 'logging not enabled');
        await shot(page, 'audit-mitigation');
    });

    await step('phone width: the Audit pages do not scroll sideways', async () => {
        await page.setViewportSize({width: 390, height: 844});
        for (const hash of ['#/audit', `#/audit/tasks/${encodeURIComponent(taskId)}`]) {
            await open(page, hash);
            const w = await page.evaluate(() => document.documentElement.scrollWidth);
            check(w <= 391, `${hash} is ${w} px wide at 390`);
        }
        await page.setViewportSize({width: 1280, height: 800});
    });

    await step('the audit notification body is on the Alerts page', async () => {
        await open(page, '#/alerts');
        // Newest first: the audit the suppression step ran, then the console's.
        const bodies = page.locator('#alerts-messages details');
        await bodies.first().waitFor({timeout: 10000});
        check((await bodies.count()) === 2, 'not the two audits\' notifications');
        await bodies.nth(1).locator('summary').click();
        const note = JSON.parse(await bodies.nth(1).locator('pre').textContent());
        check(note.taskId === taskId && note.taskType === 'ON_DEMAND_AUDIT_TASK' &&
            note.nonCompliantChecksCount === 2, 'the body is not the audit\'s notification');
    });
});
