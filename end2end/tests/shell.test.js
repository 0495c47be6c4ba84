// The application shell in a real browser: rendered, hydrated, interactive
// without a reload, no console errors; also readable without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchErrors, signIn, OUTPUT_DIR } from './helpers.js';

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

test('an Admin creates an API token, sees it once, and revokes it; a Viewer has no such page', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await page.locator('nav a', { hasText: 'API tokens' }).click();
  await page.locator('#token-name').fill('nightly export');
  await page.selectOption('#token-role', 'operator');
  await page.locator('#token-create').click();
  const secret = await page.locator('#new-token-secret').textContent();
  assert.match(secret, /^rgat_[A-Za-z0-9_-]{43}$/);
  const row = page.locator('tr.token', { hasText: 'nightly export' });
  await row.waitFor();
  assert.match(await row.textContent(), /Operator/);
  assert.doesNotMatch(await page.locator('table.tokens').textContent(), new RegExp(secret));
  // The token works on the API until it is revoked here.
  const call = () => fetch(`${server.url}/api/v1/registries`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal((await call()).status, 200);
  await row.locator('button.revoke').click();
  await page.locator('tr.token.revoked', { hasText: 'nightly export' }).waitFor();
  assert.equal((await call()).status, 401);
  // After a reload the secret is gone for good.
  await page.reload();
  assert.equal(await page.locator('#new-token-secret').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();

  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const viewer = await context.newPage();
  await signIn(viewer, server.url, 'vera@contoso.example');
  await viewer.goto(`${server.url}/tokens`);
  await viewer.locator('#tokens-role-note').waitFor();
  assert.equal(await viewer.locator('nav a', { hasText: 'API tokens' }).count(), 0);
  assert.equal(await viewer.locator('#token-create').count(), 0);
  await context.close();
});
