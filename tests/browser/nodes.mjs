// The browser side of tests/test_nodes_browser.py: an admin manages the
// media nodes on the admin page of a real stack. The stack's own Asterisk
// (`local`) is listed as Kamailio sees it; a second node is added, seen
// probed up by Kamailio, drained (Kamailio disables it), drained no more,
// then removed; removing `local` is refused with the API's reason.
// Prints `STEP <name> <json>` lines; any failure exits non-zero.
// Env: BASE_URL, ADMIN_EMAIL, PASSWORD, NODE_PORT, CHROMIUM.
import { createRequire } from 'node:module';

const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');
const env = process.env;
const step = (name, data = {}) => console.log(`STEP ${name} ${JSON.stringify(data)}`);
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
});

try {
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'UTC', viewport: { width: 1400, height: 1000 } });
  const p = await context.newPage();
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  p.on('dialog', (d) => d.accept()); // "Delete media2?"
  await p.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`)));
  await p.goto(`${env.BASE_URL}/login`);
  await p.locator('[data-testid="email"]').fill(env.ADMIN_EMAIL);
  await p.locator('[data-testid="password"]').fill(env.PASSWORD);
  await p.locator('[data-testid="login-submit"]').click();
  await p.waitForSelector('[data-testid="who"]');
  await p.goto(`${env.BASE_URL}/admin`);
  const tid = (id) => p.locator(`[data-testid="${id}"]`);
  const row = (name) => tid('admin-nodes').locator(`tr[data-key="${name}"]`);
  const cells = (name) => row(name).locator('td').evaluateAll((tds) => tds.slice(0, 6).map((td) => td.textContent));
  const message = async () => {
    await tid('nodes-message').and(p.locator('[data-result]')).waitFor({ timeout: 20000 });
    return { text: await tid('nodes-message').textContent(), result: await tid('nodes-message').getAttribute('data-result') };
  };
  const clearMessage = () => tid('nodes-message').evaluate((m) => { delete m.dataset.result; });

  await row('local').waitFor({ timeout: 20000 });
  step('local', { cells: await cells('local') });

  await tid('nodes-name').fill('media2');
  await tid('nodes-host').fill('127.0.0.1');
  await tid('nodes-port').fill(env.NODE_PORT);
  await tid('nodes-weight').fill('2');
  await tid('nodes-save').click();
  step('created', await message());

  // Kamailio probes it (OPTIONS every second): reload until it is seen up
  const deadline = Date.now() + 20000;
  let seen = await cells('media2');
  while (!/answers \(AP\)/.test(seen[4]) && Date.now() < deadline) {
    await p.waitForTimeout(500);
    await p.reload();
    await row('media2').waitFor({ timeout: 20000 });
    seen = await cells('media2');
  }
  step('probed', { cells: seen });

  await clearMessage();
  await tid('nodes-drain-media2').click();
  const drained = await message();
  await tid('nodes-undrain-media2').waitFor({ timeout: 10000 });
  step('drained', { ...drained, cells: await cells('media2') });

  await clearMessage();
  await tid('nodes-undrain-media2').click();
  const undone = await message();
  await tid('nodes-drain-media2').waitFor({ timeout: 10000 });
  step('undrained', { ...undone, cells: await cells('media2') });

  await clearMessage();
  await tid('nodes-delete-local').click();
  step('local_refused', { ...(await message()), still_listed: await row('local').count() });

  await clearMessage();
  await tid('nodes-delete-media2').click();
  const removed = await message();
  await row('media2').waitFor({ state: 'detached', timeout: 10000 });
  step('removed', { ...removed, rows: await tid('admin-nodes').locator('tr[data-key]').evaluateAll((trs) => trs.map((tr) => tr.dataset.key)) });
  await browser.close();
} catch (err) {
  console.error(err);
  await browser.close();
  process.exit(1);
}
