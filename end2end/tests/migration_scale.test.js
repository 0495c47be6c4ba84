// A migration's artifacts a page at a time in a real browser: an emulator
// (its own process) seeded with 120 images whose replicas throttle their data
// plane, a migration of them through the API, then the page: 50 artifacts a
// page with "Next page", a repository's link filtering the list, and the
// filter form working without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startEmulator, launchBrowser, watchErrors } from './helpers.js';

let emulator;
let server;
let browser;

before(async () => {
  const { child, info } = await startEmulator(['--time-scale', '50', '--seed-artifacts', 'contosowesteu=120',
    '--throttle', 'writes=100000/100000', '--throttle', 'reads=100000/100000', '--throttle', 'registry-reads=100/100', '--import-latency', '1']);
  emulator = child;
  server = await startServer(['--emulator-url', info.arm_base_url], { env: { REGATLAS_EMULATOR_IDENTITY_SECRET: info.token_header_value } });
  browser = await launchBrowser();
  for (let i = 0; i < 100; i++) {
    const regs = await (await server.fetch('/api/v1/registries')).json();
    if (regs.length >= 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
  emulator?.kill('SIGTERM');
});

test('a migration of 120 artifacts is read 50 at a time, filtered by repository and text', async () => {
  const r = await server.fetch('/api/v1/migrations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source_registry: 'contosowesteu', target_registry: 'contoso', include: ['load/*'] }),
  });
  assert.equal(r.status, 201);
  const { id } = await r.json();
  for (let i = 0; ; i++) {
    const m = (await (await server.fetch(`/api/v1/migrations/${id}`)).json()).migration;
    if (m.state === 'COMPLETE') break;
    assert.ok(i < 600 && !['FAILED', 'STOPPED'].includes(m.state), JSON.stringify(m));
    await new Promise((res) => setTimeout(res, 200));
  }

  const context = await browser.newContext({ viewport: { width: 1300, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/migrations/${id}`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  assert.match(await page.locator('#artifacts-summary').textContent(), /^50 shown of 120$/);
  const rows = page.locator('#artifacts ~ table.items tbody tr');
  assert.equal(await rows.count(), 50);
  const firstOfPage1 = await rows.first().textContent();

  // The next pages, by cursor.
  await page.click('#next-artifacts');
  await page.waitForURL(/after=\d+/);
  await page.locator('#artifacts-summary', { hasText: /^50 shown$/ }).waitFor();
  assert.notEqual(await rows.first().textContent(), firstOfPage1);
  await page.click('#next-artifacts');
  await page.locator('#artifacts-summary', { hasText: /^20 shown/ }).waitFor();
  assert.equal(await page.locator('#next-artifacts').count(), 0, 'the last page has no next');
  assert.match(await rows.first().textContent(), /load\/app02/);

  // A repository's link lists its artifacts.
  await page.click('tr[data-repository="load/app01"] a');
  await page.waitForURL(/repository=load%2Fapp01/);
  await page.locator('#artifacts-summary', { hasText: /^50 shown$/ }).waitFor();
  await page.locator('#artifacts ~ table.items tbody tr', { hasText: 'load/app01@' }).first().waitFor();
  for (const t of await rows.allTextContents()) assert.match(t, /load\/app01@/);
  assert.deepEqual(errors, []);

  // Without JavaScript: the filter form is a plain GET.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await nojs.newPage();
  await p2.goto(`${server.url}/migrations/${id}`);
  await p2.fill('#artifact-filters input[name="q"]', 'v07');
  await p2.selectOption('#artifact-filters select[name="state"]', 'verified');
  await Promise.all([p2.waitForURL(/q=v07/), p2.click('#artifact-filters button[type="submit"]')]);
  assert.match(await p2.locator('#artifacts-summary').textContent(), /^3 shown$/);
  const found = await p2.locator('#artifacts ~ table.items tbody tr').allTextContents();
  assert.equal(found.length, 3);
  for (const t of found) assert.match(t, /v07/);
  await nojs.close();
  await context.close();
});
