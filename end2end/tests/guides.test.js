// The guides' systems in a real browser against the embedded demo world:
// a registry's settings and the doctor (a fix applied by the demo Admin,
// who types the registry's name), what a Viewer is offered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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

test('settings show what a relocation carries; the doctor fixes a finding when the Admin types the name', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries/contosowesteu`);
  await page.locator('#settings-link').click();
  await page.waitForURL(/\/registries\/contosowesteu\/settings$/);
  await page.waitForSelector('body[data-hydrated]');
  assert.equal(await page.locator('#default-action').textContent(), 'Deny');
  assert.match(await page.locator('#ip-rules').textContent(), /203\.0\.113\.0\/24/);
  assert.match(await page.locator('#vnet-rules').textContent(), /subnets\/build-agents/);
  assert.match(await page.locator('#private-endpoints tr[data-pe="contosoweu-pe-aks"]').textContent(), /Pending/);
  assert.equal(await page.locator('#cmk').textContent(), 'yes');
  assert.equal(await page.locator('#soft-delete').textContent(), '7 days');
  const finding = 'li[data-finding="PrivateEndpointWithoutDataEndpoints"]';
  await page.waitForSelector(finding);
  await page.screenshot({ path: join(OUTPUT_DIR, 'settings-doctor.png'), fullPage: true });
  // The wrong name is refused with its code; the right one applies the fix.
  await page.locator(`${finding} input.fix-confirm`).fill('contoso');
  await page.locator(`${finding} button.fix-apply`).click();
  await page.waitForSelector('.error code.error-code');
  assert.equal(await page.locator('.error code.error-code').textContent(), 'ConfirmationMismatch');
  await page.locator(`${finding} input.fix-confirm`).fill('contosowesteu');
  await page.locator(`${finding} button.fix-apply`).click();
  await page.waitForSelector('#fix-accepted');
  await page.waitForFunction(() => document.querySelector('#data-endpoint-enabled')?.textContent === 'yes', null, { timeout: 15_000 });
  assert.equal(await page.locator(finding).count(), 0);
  assert.match(await page.locator('#data-endpoints').textContent(), /contosowesteu\.westeurope\.data\.azurecr\.io \(westeurope\)/);
  // The refused confirmation is the one failed request.
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
  await page.close();
});

test("the demo world's team webhook shows its delivery history, its secrets nowhere", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/registries/contosowesteu/webhooks?webhook=paymentsdeploy`);
  await page.waitForSelector('tr[data-webhook="paymentsdeploy"]');
  assert.equal(await page.locator('tr[data-webhook="paymentsdeploy"] td.uri').textContent(), 'https://deploy.contoso.example/hooks/acr');
  assert.equal(await page.locator('tr[data-webhook="paymentsdeploy"] td.headers').textContent(), 'X-Deploy-Token');
  assert.equal(await page.locator('table.deliveries-log tbody tr').count(), 3);
  assert.equal(await page.locator('table.deliveries-log tbody tr.failed').count(), 1);
  const html = await page.content();
  assert.ok(!html.includes('demo-function-key') && !html.includes('demo-deploy-token'));
  await page.close();
});

test('a Viewer reads the settings and the findings, and is not offered fixes', async () => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await signIn(page, server.url, 'vera@contoso.example');
  await page.goto(`${server.url}/registries/contoso/settings`);
  await page.waitForSelector('li[data-finding="ZoneRedundancyMissing"][data-region="eastus"]');
  assert.equal(await page.locator('form.fix').count(), 0);
  assert.match(await page.locator('li[data-finding="ZoneRedundancyMissing"][data-region="eastus"]').textContent(), /Admin/);
  assert.equal(await page.locator('tr[data-zone-region="westeurope"] td.zr-on').count(), 1);
  await context.close();
});

test('connected registries: flagged on the list and the map, created, changed and deactivated from the page', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries`);
  await page.waitForSelector('li.connected.flagged[data-connected="contosoFactory"] .badge.flag');
  assert.equal(await page.locator('li.connected.flagged[data-connected="contosoFactory"] .badge.flag').textContent(), 'offline');
  await page.goto(`${server.url}/registries/contoso`);
  await page.waitForSelector('g.onprem.flagged[data-connected="contosoFactory"]');
  assert.equal(await page.locator('g.onprem.flagged').count(), 1);
  await page.locator('#connected-link').click();
  await page.waitForURL(/\/registries\/contoso\/connected$/);
  await page.waitForSelector('body[data-hydrated]');
  assert.equal(await page.locator('table.connected tbody tr').count(), 4);
  assert.match(await page.locator('tr[data-connected="contosoFactory"] td.flag').textContent(), /offline/);
  assert.match(await page.locator('tr[data-connected="contosoFloor"]').textContent(), /contosoFactory/);
  // One connected registry's details, and a change of its repositories.
  await page.locator('tr[data-connected="contosoOnPrem"] th a').click();
  await page.waitForURL(/connected=contosoOnPrem/);
  await page.waitForSelector('#connected-detail');
  assert.equal(await page.locator('#sync-token').textContent(), 'contosoOnPrem-sync-token');
  assert.equal(await page.locator('#client-tokens').textContent(), 'onprem-pull');
  await page.locator('#change-repositories').fill('hello-world, web/frontend, tools/base');
  await page.locator('#connected-save').click();
  await page.waitForFunction(() => /tools\/base/.test(document.querySelector('#detail-repositories')?.textContent ?? ''), null, { timeout: 15_000 });
  // A new one, through the form: a scheduled sync without a window is refused with its code first.
  await page.locator('#connected-name').fill('edge02');
  await page.locator('#connected-repositories').fill('hello-world');
  await page.locator('#connected-schedule').fill('0 9 * * *');
  await page.locator('#connected-create').click();
  await page.waitForSelector('.error code.error-code');
  assert.equal(await page.locator('.error code.error-code').textContent(), 'InvalidSyncWindow');
  await page.locator('#connected-window').fill('PT3H');
  await page.locator('#connected-create').click();
  await page.waitForSelector('tr[data-connected="edge02"]', { timeout: 15_000 });
  assert.match(await page.locator('tr[data-connected="edge02"] td.activation').textContent(), /Inactive/);
  // The Admin deactivates the on-premises one.
  await page.locator('#connected-deactivate').click();
  await page.waitForFunction(() => document.querySelector('tr[data-connected="contosoOnPrem"] td.activation')?.textContent === 'Inactive', null, { timeout: 15_000 });
  await page.screenshot({ path: join(OUTPUT_DIR, 'connected-registries.png'), fullPage: true });
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
  await page.close();
});

test('transfer: pipelines and runs in their states; a transfer of more than 50 artifacts started from the page is several runs', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries/contoso`);
  await page.locator('#transfer-link').click();
  await page.waitForURL(/\/registries\/contoso\/transfer$/);
  await page.waitForSelector('body[data-hydrated]');
  assert.match(await page.locator('tr[data-pipeline="contosoexport"]').textContent(), /contosotransfer\.blob\.core\.windows\.net\/transfer/);
  assert.equal(await page.locator('tr[data-run="exportrun01"] td.state').textContent(), 'succeeded');
  assert.equal(await page.locator('tr[data-run="exportrun02"] td.state').textContent(), 'failed');
  assert.match(await page.locator('tr[data-run="exportrun02"] td.run-error').textContent(), /legacy\/app:0\.9/);
  assert.equal(await page.locator('tr[data-run="exportrun03"] td.state').textContent(), 'running');
  // 60 artifacts: two runs, tracked as one transfer.
  const artifacts = Array.from({ length: 59 }, (_, i) => `hello-world:v${i + 2}`).concat(['hello-world:v1']);
  await page.locator('#transfer-items').fill(artifacts.join('\n'));
  await page.locator('#transfer-prefix').fill('e2e-bulk');
  await page.locator('#transfer-start').click();
  await page.waitForSelector('#transfer-notice');
  assert.match(await page.locator('#transfer-notice').textContent(), /2 runs/);
  await page.waitForSelector('table.transfers tbody tr');
  const row = page.locator('table.transfers tbody tr').first();
  assert.equal(await row.locator('td.count').textContent(), '60');
  assert.equal(await row.locator('td.runs-count').textContent(), '2');
  // The runs end (59 of the tags do not exist: failed with ARM's message), and the transfer says so.
  await page.waitForFunction(() => /failed/.test(document.querySelector('table.transfers tbody tr td.state')?.textContent ?? ''), null, { timeout: 30_000 });
  assert.match(await page.locator('table.runs').textContent(), /e2e-bulk-[a-z0-9]{8}-02/);
  // Run again: the failed demo run starts over.
  await page.locator('tr[data-run="exportrun02"] button.run-again').click();
  await page.waitForFunction(() => document.querySelector('tr[data-run="exportrun02"] td.state')?.textContent === 'running', null, { timeout: 15_000 });
  await page.screenshot({ path: join(OUTPUT_DIR, 'transfer.png'), fullPage: true });
  // Delete a finished run: it leaves the list.
  await page.locator('tr[data-run="exportrun01"] button.run-delete').click();
  await page.waitForSelector('tr[data-run="exportrun01"]', { state: 'detached', timeout: 30_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('relocation: the template, a preview that names what cannot be carried, the target created by the Admin', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries/contosowesteu`);
  assert.equal(await page.locator('#relocate-link').getAttribute('href'), '/registries/contosowesteu/relocate');
  await page.goto(`${server.url}/registries/contosowesteu/relocate`);
  await page.waitForSelector('body[data-hydrated]');
  await page.waitForSelector('#template ul.template-resources li');
  assert.match(await page.locator('#template-json').textContent(), /deploymentTemplate\.json/);
  await page.locator('#relocation-name').fill('contosonorth');
  await page.locator('#relocation-location').fill('northeurope');
  await page.locator('#relocation-preview').click();
  await page.waitForSelector('#relocation-preview-result');
  assert.equal(await page.locator('tr[data-create="replica:westeurope"]').count(), 1);
  assert.equal(await page.locator('tr[data-cannot="virtual network rule:build-agents"]').count(), 1);
  assert.equal(await page.locator('tr[data-cannot="private endpoint:contosoweu-pe-aks"]').count(), 1);
  await page.screenshot({ path: join(OUTPUT_DIR, 'relocation-preview.png'), fullPage: true });
  await page.locator('#relocation-confirm').fill('contosonorth');
  await page.locator('#relocation-go').click();
  await page.waitForSelector('#relocation-started');
  // The new registry appears in the list once ARM has made it.
  await page.goto(`${server.url}/registries`);
  await page.waitForFunction(async () => {
    const r = await fetch('/registries');
    return /contosonorth/.test(await r.text());
  }, null, { timeout: 45_000, polling: 1000 });
  assert.deepEqual(errors, []);
  await page.close();
});
