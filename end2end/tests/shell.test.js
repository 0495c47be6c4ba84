// The application shell in a real browser: rendered, hydrated, interactive
// without a reload, no console errors; also readable without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchErrors, OUTPUT_DIR } from './helpers.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the page loads, hydrates, handles a click without a reload, logs no errors', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries`);
  await page.locator('header .brand-name', { hasText: 'Regatlas' }).waitFor();
  // Mark the document: a reload would lose the mark.
  await page.evaluate(() => { window.__regatlasMark = 'same-document'; });
  // The hydrate entry point marks the body once event handlers are attached.
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  const toggle = page.locator('#density-toggle');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  assert.match(await page.locator('body').getAttribute('class') ?? '', /compact/);
  assert.equal(await toggle.textContent(), 'Comfortable view');
  assert.equal(await page.evaluate(() => window.__regatlasMark), 'same-document');

  // Client-side navigation keeps the document too.
  await page.click('nav >> text=Migrations');
  await page.waitForURL(/\/migrations$/);
  await page.locator('h1', { hasText: 'Migrations' }).waitFor();
  assert.equal(await page.evaluate(() => window.__regatlasMark), 'same-document');

  const footer = await page.locator('footer').textContent();
  assert.match(footer, /Data source: emulator/);
  await page.screenshot({ path: `${OUTPUT_DIR}/shell.png`, fullPage: true });
  assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  await page.close();
});

test('pages are readable with JavaScript disabled', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  for (const [path, heading] of [['/registries', 'Registries'], ['/migrations', 'Migrations'], ['/activity', 'Activity']]) {
    await page.goto(`${server.url}${path}`);
    assert.equal(await page.locator('h1').textContent(), heading);
    assert.match(await page.locator('footer').textContent(), /Data source: emulator/);
  }
  await context.close();
});
