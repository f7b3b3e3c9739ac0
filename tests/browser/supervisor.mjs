// The supervisor's side of tests/test_web_browser.py, in its own headless
// Chromium (a browser context of its own beside the agent's): the wallboard
// shows the agent's call and, live (no reload), the quote and the policy the
// agent makes during it; the supervisor barges in with the wallboard's
// button (the supervisor's own phone is a SIPp the test registered). Then, as
// an admin: an agent, a queue, a trunk and a DID made on the admin page (the
// test calls the number), the DID deleted; the dialplan versions page: diff,
// apply, roll back.
//
// Same line protocol as agent_call.mjs: prints `STEP <name> <json>`, waits
// for `go` on stdin where the test has to act.
// Env: BASE_URL, SUP_EMAIL, SUP_PASSWORD, ADMIN_EMAIL, ADMIN_PASSWORD, ARTIFACTS,
//      ADMIN_MAKES (JSON: the agent, queue, trunk and DID the admin creates).
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');

const env = process.env;
const shots = env.ARTIFACTS;
mkdirSync(shots, { recursive: true });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const step = (name, data = {}) => console.log(`STEP ${name} ${JSON.stringify(data)}`);
const waitGo = async () => {
  const { value, done } = await lines.next();
  if (done || !value.startsWith('go')) throw new Error(`stopped by the test (${value})`);
  return value.slice(2).trim();
};

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
});
let page;
async function signIn(context, email, password, path) {
  const p = await context.newPage();
  // the server's Content-Security-Policy refusing anything is a failure (the test reads this log)
  await p.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`)));
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`[page ${m.type()}] ${m.text()}`); });
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await p.goto(`${env.BASE_URL}/login`);
  await p.locator('[data-testid="email"]').fill(email);
  await p.locator('[data-testid="password"]').fill(password);
  await p.locator('[data-testid="login-submit"]').click();
  await p.waitForURL(`**${path}`);
  return p;
}
try {
  // -- the supervisor's wallboard ----------------------------------------------
  const context = await browser.newContext({ locale: 'es-ES', viewport: { width: 1280, height: 1000 } });
  page = await signIn(context, env.SUP_EMAIL, env.SUP_PASSWORD, '/wallboard');
  const tid = (id) => page.locator(`[data-testid="${id}"]`);
  await page.locator('[data-testid="events-state"][data-state="connected"]').waitFor({ timeout: 20000 });
  // a mark that a reload would wipe: what follows must come live
  await page.evaluate(() => { window.aitcommsNoReload = 'wallboard-1'; });
  step('ready', {});

  // the agent answers: call.answered puts the call on the wallboard
  const callRow = tid('wb-calls').locator('tr[data-call]');
  await callRow.first().waitFor({ timeout: 15000 });
  const callId = await callRow.first().getAttribute('data-call');
  step('call', { call_id: callId, row: await callRow.first().innerText() });
  await waitGo();

  // the agent's quote and policy show up live (quote.created, policy.created)
  await tid('wb-sales').locator('tr[data-kind="policy"]').first().waitFor({ timeout: 30000 });
  await tid('wb-sales').locator('tr[data-kind="quote"]').first().waitFor({ timeout: 5000 });
  await page.screenshot({ path: `${shots}/s1-wallboard-sales.png` });
  step('sales', {
    quotes: await tid('wb-sales').locator('tr[data-kind="quote"]').evaluateAll((rows) => rows.map((r) => r.dataset.number)),
    policies: await tid('wb-sales').locator('tr[data-kind="policy"]').evaluateAll((rows) => rows.map((r) => r.dataset.number)),
    text: await tid('wb-sales').innerText(),
    noReload: await page.evaluate(() => window.aitcommsNoReload),
  });
  await waitGo();

  // barge from the wallboard: the supervisor's phone rings; call.supervised
  // marks the call once the supervisor is in
  await tid(`barge-${callId}`).click();
  await page.locator(`[data-testid="wb-message"][data-requested="barge-${callId}"]`).waitFor({ timeout: 10000 });
  await tid(`supervised-${callId}`).waitFor({ timeout: 20000 });
  await page.screenshot({ path: `${shots}/s2-wallboard-barge.png` });
  // today's charts count the call (refreshed when it was answered)
  await tid('wb-chart-calls').locator('g[data-total]:not([data-total="0"])').first().waitFor({ timeout: 10000 });
  const charted = await tid('wb-chart-calls').locator('g[data-total]').evaluateAll(
    (gs) => gs.reduce((n, g) => n + Number(g.dataset.total), 0));
  step('barged', { message: await tid('wb-message').innerText(), badge: await tid(`supervised-${callId}`).innerText(), charted });
  await waitGo();
  await context.close();
  step('done', {});

  // -- an admin: agents, queues, trunks and DIDs --------------------------------
  const admin = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 1400 } });
  page = await signIn(admin, env.ADMIN_EMAIL, env.ADMIN_PASSWORD, '/admin');
  page.on('dialog', (d) => d.accept()); // "Delete …?"
  const aid = (id) => page.locator(`[data-testid="${id}"]`);
  const made = async (id, values) => {
    for (const [name, value] of Object.entries(values)) await aid(`${id}-${name}`).fill(value);
    await aid(`${id}-save`).click();
    await page.locator(`[data-testid="${id}-message"][data-result]`).waitFor({ timeout: 30000 });
    const result = await aid(`${id}-message`).getAttribute('data-result');
    const text = await aid(`${id}-message`).innerText();
    if (result !== 'ok') throw new Error(`${id}: ${text}`);
    return text;
  };
  const a = JSON.parse(env.ADMIN_MAKES);
  const out = {};
  out.agent = await made('agents', a.agent);
  out.queue = await made('queues', a.queue);
  out.trunk = await made('trunks', a.trunk);
  out.did = await made('dids', a.did);
  await aid('admin-dids').locator(`tr[data-key="${a.did.number}"]`).waitFor({ timeout: 5000 });
  await page.screenshot({ path: `${shots}/a0-admin-made.png`, fullPage: true });
  step('admin-made', out);
  await waitGo(); // the test called the new number
  await aid(`dids-delete-${a.did.number}`).click();
  await aid('admin-dids').locator(`tr[data-key="${a.did.number}"]`).waitFor({ state: 'detached', timeout: 30000 });
  step('admin-deleted', { message: await aid('dids-message').innerText() });
  await waitGo();

  // -- the dialplan versions page -----------------------------------------------
  const live = aid('dp-versions').locator('tr[data-running="1"]');
  await live.waitFor({ timeout: 10000 });
  const before = await live.getAttribute('data-version');
  step('admin', { live: before, versions: await aid('dp-versions').locator('tr[data-version]').count() });
  await waitGo(); // the test changed the sources

  // what apply would change, then apply it
  await aid('dp-diff').click();
  await page.locator('[data-testid="dp-diff-text"][data-changed="1"]').waitFor({ timeout: 15000 });
  const pending = await aid('dp-diff-text').innerText();
  await page.screenshot({ path: `${shots}/a1-dialplan-diff.png` });
  await aid('dp-apply').click();
  await page.locator('[data-testid="dp-message"][data-result]').waitFor({ timeout: 60000 });
  const applied = await aid('dp-message').getAttribute('data-result');
  const message = await aid('dp-message').innerText();
  await page.locator(`[data-testid="dp-versions"] tr[data-running="1"][data-version="${applied.replace('version-', '')}"]`)
    .waitFor({ timeout: 5000 }).catch(() => {});
  await page.screenshot({ path: `${shots}/a2-dialplan-applied.png` });
  step('applied', { pending, applied, message, live: await live.getAttribute('data-version') });
  await waitGo(); // the test checked Asterisk

  // roll back to the version that ran before
  await aid(`dp-rollback-${before}`).click();
  await page.locator(`[data-testid="dp-message"][data-result]:not([data-result="${applied}"])`).waitFor({ timeout: 60000 });
  const restored = await aid('dp-message').getAttribute('data-result');
  await aid(`dp-show-${restored.replace('version-', '')}`).click();
  await aid('dp-version-diff').waitFor({ timeout: 5000 });
  await page.screenshot({ path: `${shots}/a3-dialplan-rolled-back.png` });
  step('rolledback', {
    restored, message: await aid('dp-message').innerText(), live: await live.getAttribute('data-version'),
    row: await aid('dp-versions').locator(`tr[data-version="${restored.replace('version-', '')}"]`).innerText(),
    diff: await aid('dp-version-diff').innerText(),
  });
  await waitGo();
  await admin.close();
} catch (err) {
  if (page) await page.screenshot({ path: `${shots}/supervisor-error.png` }).catch(() => {});
  console.error(`FAILED ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode || 0);
}
