// The browser side of tests/test_recordings.py: a user signs in, opens the
// call history, finds a call by its customer, opens its detail and plays the
// recording in the page's <audio> player, then seeks into its middle (a
// Range request). Prints one line `RESULT <json>` with what the page shows
// and what the player did; the test asserts on it.
// Env: BASE_URL, EMAIL, PASSWORD, CUSTOMER, CALL_ID, CHROMIUM, ARTIFACTS.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const { chromium } = createRequire(new URL('../../web/package.json', import.meta.url))('playwright-core');
const env = process.env;
mkdirSync(env.ARTIFACTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // no sound card here: play without a user gesture, into a muted sink
  args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
let page;
try {
  const context = await browser.newContext({ locale: 'es-ES', viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[page error] ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const ranges = [];
  page.on('response', (r) => {
    if (r.url().includes('/recording')) ranges.push({ status: r.status(), range: r.request().headers().range || null, contentRange: r.headers()['content-range'] || null });
  });
  await page.goto(`${env.BASE_URL}/login`);
  await page.locator('[data-testid="email"]').fill(env.EMAIL);
  await page.locator('[data-testid="password"]').fill(env.PASSWORD);
  await page.locator('[data-testid="login-submit"]').click();
  await page.locator('[data-testid="who"]').waitFor({ timeout: 20000 });
  await page.locator('[data-testid="nav-calls"]').click();
  await page.locator('[data-testid="calls-filters"]').waitFor();
  await page.locator('[data-testid="f-customer"]').fill(env.CUSTOMER);
  await page.locator('[data-testid="f-recorded"]').check();
  await page.locator('[data-testid="calls-search"]').click();
  const row = page.locator(`tr[data-call="${env.CALL_ID}"]`);
  await row.waitFor({ timeout: 10000 });
  const listed = await page.locator('[data-testid="calls-table"] tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.call));
  await page.locator(`[data-testid="open-${env.CALL_ID}"]`).click();
  const audio = page.locator('[data-testid="recording-player"]');
  await audio.waitFor({ timeout: 10000 });
  // metadata loaded: the player knows the length
  await page.waitForFunction(() => {
    const a = document.querySelector('[data-testid="recording-player"]');
    return a && a.readyState >= 1 && a.duration > 0;
  }, null, { timeout: 15000 });
  const loaded = await audio.evaluate((a) => ({ readyState: a.readyState, duration: a.duration }));
  await audio.evaluate((a) => a.play());
  await page.waitForFunction(() => document.querySelector('[data-testid="recording-player"]').currentTime > 0.5, null, { timeout: 15000 });
  const playing = await audio.evaluate((a) => ({ currentTime: a.currentTime, readyState: a.readyState, paused: a.paused, error: a.error && a.error.code }));
  // a seek into the middle: the player asks for that part of the file
  const target = Math.max(0.5, loaded.duration / 2);
  await audio.evaluate((a, at) => { a.currentTime = at; }, target);
  await page.waitForFunction((at) => document.querySelector('[data-testid="recording-player"]').currentTime > at + 0.3, target, { timeout: 15000 });
  const seeked = await audio.evaluate((a) => ({ currentTime: a.currentTime, error: a.error && a.error.code }));
  const steps = await page.locator('[data-testid="call-timeline"] > li').evaluateAll((items) => items.map((li) => li.dataset.kind));
  const scores = await page.locator('[data-testid="step-scores"] tbody tr').evaluateAll((rows) => rows.map((r) => ({
    extension: r.dataset.ext, score: Number(r.querySelector('[data-score]').dataset.score), text: r.textContent })));
  await page.screenshot({ path: `${env.ARTIFACTS}/recording-player.png`, fullPage: true });
  console.log(`RESULT ${JSON.stringify({ listed, loaded, playing, target, seeked, steps, scores, ranges })}`);
} catch (e) {
  if (page) await page.screenshot({ path: `${env.ARTIFACTS}/recording-player-failed.png`, fullPage: true }).catch(() => {});
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
