// Presence in a real browser: an emulator whose canadacentral replica lags
// behind (a separate `regatlas emulator` process), the console on it, an
// Operator... here the demo Admin turns tracking on, skopeo pushes an image
// through the emulator's data plane, and the matrix fills region by region
// live: the straggler's cell is missing first, then present with its lag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startServer, startEmulator, launchBrowser, watchErrors, OUTPUT_DIR } from './helpers.js';

let emulator;
let info;
let server;
let browser;

// A one-platform OCI layout for skopeo, its manifest digest returned.
function layout(dir) {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data) => {
    const d = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, d), data);
    return `sha256:${d}`;
  };
  const layer = Buffer.from('presence test layer\n'.repeat(50));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [put(layer)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: put(layer), size: layer.length }],
  }));
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return md;
}

before(async () => {
  ({ child: emulator, info } = await startEmulator(['--time-scale', '20', '--replication-delay', '5', '--straggler', 'canadacentral=100']));
  server = await startServer(['--emulator-url', info.arm_base_url], { env: { REGATLAS_EMULATOR_IDENTITY_SECRET: info.token_header_value } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  emulator?.kill('SIGTERM');
});

test('tracking on, a push with skopeo, the matrix fills region by region with the straggler last', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries/contoso`);
  await page.locator('#presence-link').click();
  await page.waitForURL(/\/registries\/contoso\/presence$/);
  await page.waitForSelector('body[data-hydrated]');
  await page.locator('#tracking-on').click();
  await page.waitForSelector('#tracking-off', { timeout: 15_000 });
  // Every region's webhook is made.
  await page.waitForFunction(() => [...document.querySelectorAll('table.presence-regions td.webhook')].every((td) => td.textContent.startsWith('regatlas')),
    null, { timeout: 30_000 });

  const dir = mkdtempSync(join(tmpdir(), 'regatlas-presence-'));
  const src = join(dir, 'src');
  const digest = layout(src);
  const login = info.registries.contoso.login_server;
  await new Promise((resolve, reject) => execFile('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false',
    '--dest-creds', 'contoso:demo-contoso-password', `oci:${src}:v1`, `docker://${login}/e2e/app:v1`],
  { env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir } }, (e, _o, stderr) => (e ? reject(new Error(stderr)) : resolve())));

  // Live, without a reload: present where it landed, missing in the straggler.
  const row = 'table.presence-matrix tr[data-tag="e2e/app:v1"]';
  const cell = (region) => `${row} td[data-region="${region}"]`;
  await page.waitForSelector(`${cell('eastus')}.cell-present`, { timeout: 30_000 });
  assert.match(await page.locator(cell('canadacentral')).getAttribute('class'), /cell-missing/);
  assert.match(await page.locator(`${row} th`).getAttribute('title'), /in 3 of 4 regions; canadacentral missing for/);
  await page.screenshot({ path: join(OUTPUT_DIR, 'presence-filling.png'), fullPage: true });
  // Then the straggler, with its lag (100 simulated seconds at 20×: 5 s).
  await page.waitForSelector(`${cell('canadacentral')}.cell-present`, { timeout: 30_000 });
  const lag = await page.locator(cell('canadacentral')).textContent();
  assert.match(lag, /✓ \d+ s/);
  assert.ok(Number(lag.match(/(\d+) s/)[1]) >= 4, lag);
  await page.waitForSelector('#lag-chart g.lag-bar[data-region="canadacentral"]');
  // The digest shown is the one pushed.
  assert.match(await page.locator(`${row} th .digest`).textContent(), new RegExp(digest.slice(0, 19)));

  // An Operator's settings: the gate's hot set names a repository.
  await page.locator('#hot-repositories').fill('e2e/app');
  await page.locator('#tracking-save').click();
  await page.waitForFunction(() => /every tag of e2e\/app/.test(document.querySelector('#hot-set')?.textContent ?? ''), null, { timeout: 15_000 });

  // "Only incomplete" leaves the complete tag out (a plain GET form: works without JavaScript).
  await page.locator('#presence-incomplete').check();
  await page.locator('form.presence-filters button[type="submit"]').click();
  await page.waitForURL(/incomplete=on/);
  await page.waitForSelector('#presence-empty, table.presence-matrix');
  assert.equal(await page.locator(row).count(), 0);

  // The registry's webhooks: the four presence webhooks, header names only; a ping shows in the deliveries.
  await page.goto(`${server.url}/registries/contoso`);
  await page.locator('#webhooks-link').click();
  await page.waitForURL(/\/registries\/contoso\/webhooks$/);
  await page.waitForSelector('table.webhooks tr[data-webhook="regatlaseastus"]');
  assert.equal(await page.locator('table.webhooks tbody tr').count(), 4);
  assert.equal(await page.locator('tr[data-webhook="regatlaseastus"] td.headers').textContent(), 'x-regatlas-hook-secret');
  await page.locator('tr[data-webhook="regatlaseastus"] th a').click();
  await page.waitForURL(/webhook=regatlaseastus/);
  await page.waitForSelector('body[data-hydrated]');
  await page.locator('#webhook-ping').click();
  await page.waitForFunction(() => [...document.querySelectorAll('table.deliveries-log tbody tr')].some((tr) => tr.children[1]?.textContent === 'ping' && tr.querySelector('td.status')?.textContent.startsWith('200')),
    null, { timeout: 15_000 });
  // An Operator's own webhook: created through the form, listed with its header name only, then deleted.
  await page.locator('#webhook-name').fill('e2ehook1');
  await page.locator('#webhook-location').fill('westeurope');
  await page.locator('#webhook-uri').fill('https://hooks.example.com/in');
  await page.locator('#webhook-header').fill('X-Team-Token');
  await page.locator('#webhook-header-value').fill('s3cret-e2e');
  await page.locator('#webhook-create').click();
  await page.waitForSelector('table.webhooks tr[data-webhook="e2ehook1"]', { timeout: 15_000 });
  assert.equal(await page.locator('tr[data-webhook="e2ehook1"] td.headers').textContent(), 'X-Team-Token');
  assert.ok(!(await page.content()).includes('s3cret-e2e'));
  await page.locator('tr[data-webhook="e2ehook1"] button.webhook-delete').click();
  // ARM deletes it in the background: the row says so, or is gone.
  await page.waitForFunction(() => {
    const row = document.querySelector('table.webhooks tr[data-webhook="e2ehook1"]');
    return !row || /Deleting/.test(row.textContent);
  }, null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a Viewer sees presence but is not offered tracking', async () => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  const { signIn } = await import('./helpers.js');
  await signIn(page, server.url, 'vera@contoso.example');
  await page.goto(`${server.url}/registries/contosowesteu/presence`);
  await page.waitForSelector('#tracking');
  assert.equal(await page.locator('#tracking-on').count(), 0);
  assert.match(await page.locator('#tracking').textContent(), /Operator/);
  await context.close();
});
