// Migrations in a real browser: plan the demo consolidation from the form,
// see the plan (conflicts included), start it, watch it complete live, tick
// the checklist with a name, and find the reports; readable without JS too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchErrors, OUTPUT_DIR } from './helpers.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  for (let i = 0; i < 100; i++) {
    const regs = await (await server.fetch(`/api/v1/registries`)).json();
    if (regs.length >= 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('plan, start and verify a consolidation from the browser; a second browser follows it live', async () => {
  const context = await browser.newContext({ viewport: { width: 1300, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/migrations`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await page.selectOption('#m-source', 'contosowesteu');
  await page.selectOption('#m-target', 'contoso');
  await page.click('#m-create');
  await page.waitForURL(/\/migrations\/[0-9a-f-]{36}$/);
  const url = page.url();
  await page.locator('#migration-state', { hasText: 'PLANNED' }).waitFor({ timeout: 30_000 });
  assert.match(await page.locator('table.items').last().textContent(), /web\/frontend/);
  assert.match(await page.locator('tr[data-key="delete-source"] .check-status').textContent(), /unsafe/);
  assert.equal(await page.locator('tr[data-key="delete-source"] input').isDisabled(), true);
  await page.screenshot({ path: `${OUTPUT_DIR}/migration-plan.png`, fullPage: true });

  // A colleague has the same page open.
  const other = await browser.newContext();
  const watcher = await other.newPage();
  await watcher.goto(url);
  await watcher.locator('#live-indicator[data-link="connected"]').waitFor({ timeout: 15_000 });
  await watcher.evaluate(() => { window.__mark = 'same-document'; });

  await page.click('#m-start');
  await page.locator('#migration-state', { hasText: 'COMPLETE' }).waitFor({ timeout: 60_000 });
  await watcher.locator('#migration-state', { hasText: 'COMPLETE' }).waitFor({ timeout: 30_000 });
  assert.equal(await watcher.evaluate(() => window.__mark), 'same-document');
  assert.match(await page.locator('.verification').textContent(), /verified/);

  // The checklist: a manual step ticked with a name; deleting the source is now allowed (manually).
  await page.locator('tr[data-key="update-clients"] input').check();
  await page.locator('tr[data-key="update-clients"] .check-status', { hasText: 'done by Ada Admin' }).waitFor();
  assert.equal(await page.locator('tr[data-key="delete-source"] input').isDisabled(), false);
  assert.equal(await page.locator('a', { hasText: 'Report (CSV)' }).getAttribute('href'), `${new URL(url).pathname.replace('/migrations/', '/live/migrations/')}/report.csv`);
  await page.screenshot({ path: `${OUTPUT_DIR}/migration-complete.png`, fullPage: true });

  // Activity links the migration's steps to its page.
  await page.click('nav >> text=Activity');
  await page.locator('li.entry-change[data-kind="migration.updated"] a').first().waitFor();
  assert.equal(await page.locator('li.entry-change[data-kind="migration.updated"] a').first().getAttribute('href'), new URL(url).pathname);

  // The list shows it with its progress.
  await page.click('nav >> text=Migrations');
  await page.locator('table.migrations tbody tr').first().waitFor();
  assert.match(await page.locator('table.migrations').textContent(), /COMPLETE/);
  assert.deepEqual(errors, []);

  // Without JavaScript the migration page is complete too.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await nojs.newPage();
  await p2.goto(url);
  assert.match(await p2.locator('#migration-state').textContent(), /COMPLETE/);
  assert.ok(await p2.locator('table.repositories tbody tr').count() >= 3);
  await nojs.close();
  await other.close();
  await context.close();
});
