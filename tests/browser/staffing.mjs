// The browser side of tests/test_staffing_browser.py: a supervisor's
// wallboard shows the forecast of a queue beside its agents logged in, and
// an alert raised live (an agent paused too long); on the Quality page the
// supervisor makes an evaluation form and scores a call; the agent then sees
// that review, and only their own.
// Prints `STEP <name> <json>` lines; any failure exits non-zero.
// Env: BASE_URL, SUP_EMAIL, AGENT_EMAIL, PASSWORD, CALL_ID, CHROMIUM.
import { createRequire } from 'node:module';

const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');
const env = process.env;
const step = (name, data = {}) => console.log(`STEP ${name} ${JSON.stringify(data)}`);
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
});

async function signIn(email, path) {
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'UTC', viewport: { width: 1280, height: 900 } });
  const p = await context.newPage();
  await p.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`)));
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await p.goto(`${env.BASE_URL}/login`);
  await p.locator('[data-testid="email"]').fill(email);
  await p.locator('[data-testid="password"]').fill(env.PASSWORD);
  await p.locator('[data-testid="login-submit"]').click();
  await p.waitForSelector('[data-testid="who"]');
  if (path) await p.goto(`${env.BASE_URL}${path}`);
  return p;
}

try {
  // -- the wallboard: forecast and a live alert ---------------------------------------
  const p = await signIn(env.SUP_EMAIL, '/wallboard');
  const tid = (id) => p.locator(`[data-testid="${id}"]`);
  await tid('events-state').and(p.locator('[data-state="connected"]')).waitFor({ timeout: 20000 });
  await tid('fc-table').locator('tr[data-start]').first().waitFor({ timeout: 20000 });
  const rows = await tid('fc-table').locator('tr[data-start]').evaluateAll((trs) => trs.map((tr) => ({
    start: tr.dataset.start, cells: [...tr.cells].map((td) => td.textContent) })));
  step('forecast', { rows, summary: await tid('fc-summary').textContent(),
    logged_in: await tid('fc-summary').getAttribute('data-logged-in') });
  const alert = tid('wb-alerts').locator('li[data-kind="agent_paused_long"]');
  await alert.waitFor({ timeout: 20000 });
  step('alert', { id: await alert.getAttribute('data-alert'), text: await alert.textContent() });

  // -- the Quality page: a form, then a call scored -------------------------------------
  await p.goto(`${env.BASE_URL}/reviews?call=${encodeURIComponent(env.CALL_ID)}`);
  await tid('form-create').waitFor();
  await tid('form-name').fill('Sales call');
  const first = p.locator('.criterion').first();
  await first.locator('[name=name]').fill('greeting');
  await p.getByRole('button', { name: 'Add criterion' }).click();
  const second = p.locator('.criterion').nth(1);
  await second.locator('[name=name]').fill('needs');
  await second.locator('[name=weight]').fill('3');
  await second.locator('[name=kind]').selectOption('scale_1_5');
  await tid('form-create').click();
  await tid('review-criteria').locator('[data-criterion="needs"]').waitFor();
  const src = await tid('review-audio').getAttribute('src');
  await p.locator('[data-criterion="greeting"]').selectOption('false');
  await p.locator('[data-criterion="needs"]').selectOption('5');
  await tid('review-comment').fill('Good discovery, no greeting');
  await tid('review-save').click();
  await p.waitForFunction(() => /saved/i.test(document.querySelector('[data-testid="review-message"]').textContent));
  step('scored', { message: await tid('review-message').textContent(), audio_src: src.replace(/token=[^&]+/, 'token=…') });
  await tid('review-averages').locator('td').first().waitFor();
  step('averages', { text: await tid('review-averages').textContent() });

  // -- the agent sees their own review ----------------------------------------------------
  const a = await signIn(env.AGENT_EMAIL, null);
  await a.locator('[data-testid="nav-reviews"]').click();
  await a.locator('[data-testid="my-reviews"]').waitFor();
  const mine = await a.locator('[data-testid="my-reviews"] tr[data-review]').evaluateAll((trs) => trs.map((tr) => tr.textContent));
  step('agent', { reviews: mine });
  await browser.close();
} catch (err) {
  console.error(err);
  await browser.close();
  process.exit(1);
}
