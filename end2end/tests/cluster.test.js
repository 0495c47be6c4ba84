// Two instances on one PostgreSQL database, in a real browser: a page open
// on instance A shows, within a second, a migration created through
// instance B. Runs when the test command gives a PostgreSQL cluster
// (REGATLAS_TEST_POSTGRES); on SQLite there is nothing to share.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startEmulator, launchBrowser, watchErrors, newPostgresDatabase } from './helpers.js';

const admin = process.env.REGATLAS_TEST_POSTGRES;
let emulator;
let a;
let b;
let browser;

before(async () => {
  if (!admin) return;
  const database = newPostgresDatabase('cluster');
  const { child, info } = await startEmulator(['--time-scale', '20']);
  emulator = child;
  const env = { REGATLAS_EMULATOR_IDENTITY_SECRET: info.token_header_value };
  a = await startServer(['--emulator-url', info.arm_base_url], { env, database });
  b = await startServer(['--emulator-url', info.arm_base_url], { env, database });
  browser = await launchBrowser();
  for (let i = 0; i < 150; i++) {
    const regs = await (await b.fetch('/api/v1/registries')).json();
    if (regs.length >= 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  emulator?.kill('SIGKILL');
});

test('a page on instance A shows a migration made through instance B within a second', { skip: !admin && 'no PostgreSQL cluster (REGATLAS_TEST_POSTGRES)' }, async () => {
  // The session is in the shared database: signed in on B, the browser is signed in on A too.
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${a.url}/migrations`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await page.waitForTimeout(500); // the live stream is open
  const r = await b.fetch('/api/v1/migrations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source_registry: 'contosowesteu', target_registry: 'contoso', dry_run: true }),
  });
  const made = Date.now();
  const body = await r.text();
  assert.equal(r.status, 201, body);
  const { id } = JSON.parse(body);
  await page.locator(`a[href$="/migrations/${id}"]`).first().waitFor({ timeout: 1_000 });
  const took = Date.now() - made;
  console.log(`migration made through B shown on A after ${took} ms`);
  assert.deepEqual(errors, []);
});
