// Drives the agent desktop in headless Chromium (Playwright, Debian's
// /usr/bin/chromium, fake microphone) for tests/test_web_browser.py.
//
// Talks to the test over lines: prints `STEP <name> <json>` when a stage is
// reached and waits for a line on stdin (`go`) where the test has to act
// (place the SIPp call, measure RTP) before the next stage.
// Env: BASE_URL, EMAIL, PASSWORD, ARTIFACTS (screenshots), CUSTOMER (name),
//      DISPOSITION, NOTES, QUOTE_* (the vehicle and driver of the quote).
// A `go` line may carry JSON for the next stage (`go {"task_id": 7}`).
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

// playwright-core is a dev dependency of web/ (one lock file for the project)
const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');

const env = process.env;
const shots = env.ARTIFACTS;
mkdirSync(shots, { recursive: true });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const step = (name, data = {}) => console.log(`STEP ${name} ${JSON.stringify(data)}`);
const waitGo = async () => {
  const { value, done } = await lines.next();
  if (done || !value.startsWith('go')) throw new Error(`stopped by the test (${value})`);
  const rest = value.slice(2).trim();
  return rest ? JSON.parse(rest) : {};
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
let page;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'es-ES', viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['microphone'], { origin: env.BASE_URL });
  // the server's Content-Security-Policy refusing anything is a failure (the test reads this log)
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`)));
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`[page ${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const tid = (id) => page.locator(`[data-testid="${id}"]`);

  // 1. sign in; the softphone registers over WSS and the events socket opens
  await page.goto(`${env.BASE_URL}/`);
  await tid('email').fill(env.EMAIL);
  await tid('password').fill(env.PASSWORD);
  await page.screenshot({ path: `${shots}/01-login.png` });
  await tid('login-submit').click();
  await page.waitForURL('**/agent');
  await page.locator('[data-testid="sip-state"][data-state="registered"]').waitFor({ timeout: 20000 });
  await page.locator('[data-testid="events-state"][data-state="connected"]').waitFor({ timeout: 20000 });
  await page.screenshot({ path: `${shots}/02-registered.png` });
  step('ready', { status: await tid('agent-status').getAttribute('data-status') });
  await waitGo();

  // 2. the call rings: the screen pop is on screen before answering
  await page.locator('[data-testid="call-state"][data-state="ringing"]').waitFor({ timeout: 30000 });
  await tid('pop-customer').getByText(env.CUSTOMER).waitFor({ timeout: 10000 });
  const pop = {
    state: await tid('call-state').getAttribute('data-state'),
    customer: await tid('pop-customer').innerText(),
    policies: await tid('pop-policies').innerText(),
    claims: await tid('pop-claims').innerText(),
    interactions: await tid('pop-interactions').innerText(),
    tasks: await tid('pop-tasks').innerText(),
    answerEnabled: await tid('answer').isEnabled(),
  };
  await page.screenshot({ path: `${shots}/03-ringing-screen-pop.png` });
  step('pop', pop);

  // 3. answer with a click; media flows
  await tid('answer').click();
  await page.locator('[data-testid="call-state"][data-state="talking"]').waitFor({ timeout: 15000 });
  await page.waitForTimeout(2000);
  const rtp1 = await page.evaluate(() => window.aitcommsPhone.rtpStats());
  await page.screenshot({ path: `${shots}/04-talking.png` });
  step('answered', { rtp: rtp1 });
  await waitGo();

  // the caller reads out a card number: recording paused, then resumed
  await tid('call-controls').waitFor({ timeout: 5000 });
  await tid('recording-pause').click();
  await page.locator('[data-testid="control-message"][data-done="recording-pause"]').waitFor({ timeout: 10000 });
  step('rec-paused', { message: await tid('control-message').innerText() });
  await waitGo();
  await tid('recording-resume').click();
  await page.locator('[data-testid="control-message"][data-done="recording-resume"]').waitFor({ timeout: 10000 });
  step('rec-resumed', { message: await tid('control-message').innerText() });
  await waitGo();

  // 4. during the call: an auto quote for the customer, priced, then accepted
  await tid('quote').waitFor({ timeout: 10000 });
  await tid('quote-product').selectOption('auto');
  await tid('quote-carrier').selectOption(env.QUOTE_CARRIER);
  await tid('quote-vehicle-year').fill(env.QUOTE_YEAR);
  await tid('quote-vehicle-make').fill(env.QUOTE_MAKE);
  await tid('quote-vehicle-model').fill(env.QUOTE_MODEL);
  await tid('quote-vehicle-plate').fill(env.QUOTE_PLATE);
  await tid('quote-driver-age').fill(env.QUOTE_AGE);
  await tid('quote-driver-experience').fill(env.QUOTE_EXPERIENCE);
  await tid('quote-driver-claims').fill('0');
  await tid('quote-submit').click();
  await tid('quote-premium').waitFor({ timeout: 10000 });
  const quoted = {
    number: await tid('quote-number').innerText(),
    premium: await tid('quote-premium').getAttribute('data-premium'),
    breakdown: await tid('quote-breakdown').locator('tr').evaluateAll((rows) => rows.map((r) => [r.dataset.factor || 'base', r.innerText])),
    competitors: await tid('quote-competitors').innerText(),
    state: await tid('call-state').getAttribute('data-state'),
  };
  await page.screenshot({ path: `${shots}/05-quote.png` });
  await tid('quote-accept').click();
  await tid('quote-policy').waitFor({ timeout: 10000 });
  quoted.policy = await tid('quote-policy').getAttribute('data-number');
  quoted.policyText = await tid('quote-policy').innerText();
  await page.screenshot({ path: `${shots}/06-policy.png` });
  step('quoted', quoted);
  await waitGo();
  const rtp2 = await page.evaluate(() => window.aitcommsPhone.rtpStats());

  // 5. hang up, wrap-up with a disposition
  await tid('hangup').click();
  await page.locator('[data-testid="call-state"][data-state="idle"]').waitFor({ timeout: 10000 });
  await tid('disposition').waitFor({ timeout: 15000 });
  await page.locator('[data-testid="wrapup-countdown"][data-left]').waitFor({ timeout: 10000 });
  const countdown = await tid('wrapup-countdown').innerText();
  await tid('disposition').selectOption(env.DISPOSITION);
  await tid('notes').fill(env.NOTES);
  await page.screenshot({ path: `${shots}/07-wrapup.png` });
  await tid('save-wrapup').click();
  await page.locator('[data-testid="wrapup-result"][data-saved="1"]').waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/08-saved.png` });
  step('saved', { rtp: rtp2, countdown });
  const { task_id: taskId } = await waitGo();

  // 6. click-to-call from the customer's record: her callback task. The
  // softphone answers the server's call by itself, then the customer rings
  await tid('crm-search').fill(env.CUSTOMER.split(' ')[0]);
  await tid('crm-search-go').click();
  await tid('crm-results').locator('a').first().click();
  await tid('crm-record-name').getByText(env.CUSTOMER).waitFor({ timeout: 10000 });
  await tid(`crm-task-call-${taskId}`).click();
  await page.locator('[data-testid="call-state"][data-direction="outbound"]').waitFor({ timeout: 15000 });
  await page.locator('[data-testid="call-state"][data-state="talking"][data-direction="outbound"]').waitFor({ timeout: 30000 });
  await page.waitForTimeout(2000);
  const rtp3 = await page.evaluate(() => window.aitcommsPhone.rtpStats());
  await page.screenshot({ path: `${shots}/08b-click-to-call.png` });
  step('outbound', {
    rtp: rtp3, state: await tid('call-state').innerText(),
    autoAnswered: await page.evaluate(() => window.aitcommsPhone.autoAnswered),
    message: await tid('crm-message').innerText(), call: await tid('crm-message').getAttribute('data-call'),
  });
  await waitGo();
  await tid('hangup').click();
  await page.locator('[data-testid="call-state"][data-state="idle"]').waitFor({ timeout: 10000 });
  // the task is done: it leaves the record's open tasks
  await tid(`crm-task-call-${taskId}`).waitFor({ state: 'detached', timeout: 15000 });
  step('outbound-done', {});

  // 6. an agent does not get the wallboard
  await page.goto(`${env.BASE_URL}/wallboard`);
  await tid('forbidden').waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/09-agent-forbidden-wallboard.png` });
  step('forbidden', { text: await tid('forbidden').innerText() });
} catch (err) {
  if (page) await page.screenshot({ path: `${shots}/error.png` }).catch(() => {});
  console.error(`FAILED ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode || 0);
}
