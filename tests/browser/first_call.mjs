// A newcomer's first call, in headless Chromium, for tests/test_web_users.py:
// the demo agent signs in (the softphone registers), goes Available; the
// first admin presses the admin page's Test call button; the call rings on
// the agent's desk and the agent answers it. Then the admin creates an agent
// with its login on the admin page, and that new agent signs in: its
// softphone registers. axe-core checks the login, desk, wallboard and admin
// pages on the way (every violation is reported; the test fails on serious
// or critical ones).
//
// Same line protocol as agent_call.mjs: prints `STEP <name> <json>`, waits
// for `go` on stdin where the test has to act or measure.
// Env: BASE_URL, ARTIFACTS, AXE (path of axe.min.js), DEMO_EMAIL, DEMO_PASSWORD,
//      ADMIN_EMAIL, ADMIN_PASSWORD, TEST_CALL_TO, NEW_AGENT (JSON: extension,
//      name, user_email).
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');

const env = process.env;
const shots = env.ARTIFACTS;
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(env.AXE, 'utf8');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const step = (name, data = {}) => console.log(`STEP ${name} ${JSON.stringify(data)}`);
const waitGo = async () => {
  const { value, done } = await lines.next();
  if (done || !value.startsWith('go')) throw new Error(`stopped by the test (${value})`);
};

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    '--autoplay-policy=no-user-gesture-required',
  ],
});

// axe-core evaluated through the DevTools protocol (the pages' CSP forbids
// injected script tags, and the check must not loosen it): its violations,
// each with its impact and the elements concerned
async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  return { page: name, url: page.url(), violations: result };
}

async function newPage(context) {
  const p = await context.newPage();
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`[page ${m.type()}] ${m.text()}`); });
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  return p;
}

async function signIn(p, email, password, path) {
  await p.goto(`${env.BASE_URL}/login`);
  await p.locator('[data-testid="email"]').fill(email);
  await p.locator('[data-testid="password"]').fill(password);
  await p.locator('[data-testid="login-submit"]').click();
  await p.waitForURL(`**${path}`);
}

async function newDesk(email, password) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'es-ES', viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['microphone'], { origin: env.BASE_URL });
  const p = await newPage(context);
  await signIn(p, email, password, '/agent');
  await p.locator('[data-testid="sip-state"][data-state="registered"]').waitFor({ timeout: 30000 });
  return p;
}

let page;
const audits = [];
try {
  // 1. the demo agent: the login page (checked), the desk, the softphone registered
  const agentContext = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'es-ES', viewport: { width: 1280, height: 800 } });
  await agentContext.grantPermissions(['microphone'], { origin: env.BASE_URL });
  page = await newPage(agentContext);
  const agent = page;
  const tid = (id) => agent.locator(`[data-testid="${id}"]`);
  await agent.goto(`${env.BASE_URL}/login`);
  await tid('email').waitFor();
  audits.push(await axe(agent, 'login'));
  await signIn(agent, env.DEMO_EMAIL, env.DEMO_PASSWORD, '/agent');
  await agent.locator('[data-testid="sip-state"][data-state="registered"]').waitFor({ timeout: 30000 });
  await agent.locator('[data-testid="events-state"][data-state="connected"]').waitFor({ timeout: 20000 });
  await tid('status-select').selectOption('available');
  await tid('status-apply').click();
  await agent.locator('[data-testid="agent-status"][data-status="available"]').waitFor({ timeout: 10000 });
  audits.push(await axe(agent, 'desk'));
  await agent.screenshot({ path: `${shots}/f1-demo-agent-ready.png` });
  step('ready', {});

  // 2. the first admin presses Test call on the admin page
  const adminContext = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 1400 } });
  page = await newPage(adminContext);
  const admin = page;
  const aid = (id) => admin.locator(`[data-testid="${id}"]`);
  await signIn(admin, env.ADMIN_EMAIL, env.ADMIN_PASSWORD, '/admin');
  await aid('admin-users').locator('tr[data-key]').first().waitFor({ timeout: 10000 });
  await aid('test-call-to').fill(env.TEST_CALL_TO);
  await aid('test-call-go').click();
  await admin.locator('[data-testid="test-call-message"][data-result]').waitFor({ timeout: 15000 });
  if (await aid('test-call-message').getAttribute('data-result') !== 'ok') throw new Error(`test call: ${await aid('test-call-message').innerText()}`);
  const placedAt = Date.now();
  step('placed', { message: await aid('test-call-message').innerText(), channel: await aid('test-call-message').getAttribute('data-channel') });

  // 3. it rings on the agent's desk; the agent answers
  await agent.locator('[data-testid="call-state"][data-state="ringing"]').waitFor({ timeout: 60000 });
  const ringingAt = Date.now();
  await agent.screenshot({ path: `${shots}/f2-test-call-ringing.png` });
  await tid('answer').click();
  await agent.locator('[data-testid="call-state"][data-state="talking"]').waitFor({ timeout: 15000 });
  const answeredAt = Date.now();
  audits.push(await axe(agent, 'desk on a call'));
  await agent.waitForTimeout(1000); // some media both ways before counting
  const rtp = await agent.evaluate(() => window.aitcommsPhone.rtpStats());
  await agent.screenshot({ path: `${shots}/f3-test-call-answered.png` });
  step('answered', { placedAt, ringingAt, answeredAt, rtp });
  await waitGo(); // the test counted RTP in Asterisk
  await tid('hangup').click();
  await agent.locator('[data-testid="call-state"][data-state="idle"]').waitFor({ timeout: 10000 });

  // 4. the admin page (checked), then an agent made with its login in one step
  audits.push(await axe(admin, 'admin'));
  const made = JSON.parse(env.NEW_AGENT);
  await aid('agents-extension').fill(made.extension);
  await aid('agents-name').fill(made.name);
  await aid('agents-user_email').fill(made.user_email);
  await aid('agents-save').click();
  await admin.locator('[data-testid="agents-message"][data-result]').waitFor({ timeout: 30000 });
  const message = await aid('agents-message').innerText();
  if (await aid('agents-message').getAttribute('data-result') !== 'ok') throw new Error(`agent: ${message}`);
  const password = (message.match(/login password \(shown once\): (\S+)/) || [])[1];
  if (!password) throw new Error(`no login password in: ${message}`);
  await aid('admin-users').locator(`tr[data-key="${made.user_email}"]`).waitFor({ timeout: 10000 });
  await admin.screenshot({ path: `${shots}/f4-admin-agent-with-login.png`, fullPage: true });
  step('agent-made', { message, users: await aid('admin-users').innerText() });

  // the wallboard (checked), as the admin
  await admin.goto(`${env.BASE_URL}/wallboard`);
  await admin.locator('[data-testid="events-state"][data-state="connected"]').waitFor({ timeout: 20000 });
  audits.push(await axe(admin, 'wallboard'));
  await admin.screenshot({ path: `${shots}/f5-wallboard.png` });

  // 5. the new agent signs in with the password the admin page showed once
  page = await newDesk(made.user_email, password);
  await page.screenshot({ path: `${shots}/f6-new-agent-registered.png` });
  step('new-registered', { who: await page.locator('[data-testid="who"]').innerText() });
  await waitGo();
  step('axe', { audits });
} catch (err) {
  if (page) await page.screenshot({ path: `${shots}/first-call-error.png` }).catch(() => {});
  console.error(`FAILED ${err.stack || err}`);
  step('axe', { audits });
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode || 0);
}
