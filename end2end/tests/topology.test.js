// The topology console in a real browser against the dashboard on the
// embedded emulator (time scale 20): registries list, the world map, the
// side panel's actions, live updates across two browsers, keyboard use,
// JavaScript off, and untrusted text from ARM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchErrors, signIn, OUTPUT_DIR } from './helpers.js';

let server;
let browser;
let emulatorUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const r = await server.fetch(`/api/v1/registries`);
  assert.equal(r.status, 200);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const hex = (page, region) => page.locator(`svg.worldmap g.region[data-region="${region}"]`);
const classOf = async (page, region) => (await hex(page, region).getAttribute('class')) ?? '';
async function waitClass(page, region, re, timeout = 45_000) {
  await page.waitForFunction(
    ([r, src]) => new RegExp(src).test(document.querySelector(`svg.worldmap g.region[data-region="${r}"]`)?.getAttribute('class') ?? ''),
    [region, re.source], { timeout });
}

// The panel's controls wait while an operation on the replica is running.
const controlsReady = (page) => page.waitForFunction(() => {
  const b = document.querySelector('#routing-toggle');
  return b && !b.disabled && !document.querySelector('.side-panel .in-flight');
}, null, { timeout: 45_000 });

async function openRegistry(context, name, actor) {
  const page = await context.newPage();
  page.setViewportSize({ width: 1400, height: 1000 });
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries/${name}`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await page.locator('#live-indicator[data-link="connected"]').waitFor({ timeout: 15_000 });
  if (!emulatorUrl) {
    const detail = await page.locator('footer .detail').textContent();
    emulatorUrl = detail.match(/https?:\/\/[\d.:]+/)[0];
  }
  return { page, errors };
}

async function setFaults(faults) {
  const r = await fetch(`${emulatorUrl}/emulator-admin/faults`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults),
  });
  assert.equal(r.status, 200);
}

test('registries page lists, filters and sorts; screenshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(`${server.url}/registries`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  const names = async () => page.locator('table.registries tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.registry));
  assert.deepEqual(await names(), ['contoso', 'contosostd', 'contosowesteu']);
  await page.click('th >> text=Registry');
  await page.waitForURL(/dir=desc/);
  await page.waitForFunction(() => document.querySelector('table.registries tbody tr')?.dataset.registry === 'contosowesteu');
  assert.deepEqual(await names(), ['contosowesteu', 'contosostd', 'contoso']);
  await page.selectOption('select[name="sku"]', 'Standard');
  await page.click('form.filters button[type="submit"]');
  await page.waitForURL(/sku=Standard/);
  await page.waitForFunction(() => document.querySelectorAll('table.registries tbody tr').length === 1);
  assert.deepEqual(await names(), ['contosostd']);
  await page.goto(`${server.url}/registries`);
  const row = page.locator('tr[data-registry="contoso"]');
  assert.match(await row.textContent(), /Premium/);
  assert.match(await row.textContent(), /ready/);
  assert.match(await row.locator('.badge[class*="health-"]').textContent(), /healthy/);
  // A connected registry that needs attention is flagged in its parent's row.
  assert.equal(await row.locator('li.connected.flagged .badge.flag').textContent(), 'offline');
  await page.screenshot({ path: `${OUTPUT_DIR}/registries.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('create a replica by clicking its hexagon, watch it reach Ready; routing off and on; typed delete', async () => {
  const context = await browser.newContext();
  const { page, errors } = await openRegistry(context, 'contoso');
  assert.match(await classOf(page, 'northeurope'), /kind-empty/);
  await hex(page, 'northeurope').click();
  await page.locator('.side-panel h2', { hasText: 'Create a replica in North Europe' }).waitFor();
  await page.screenshot({ path: `${OUTPUT_DIR}/create-dialog.png`, fullPage: true });
  await page.click('#create-confirm');
  // Pending at once, before the poller has seen anything.
  await waitClass(page, 'northeurope', /state-provisioning/, 5_000);
  await waitClass(page, 'northeurope', /state-ready/);
  await page.locator('.side-panel h2', { hasText: 'North Europe' }).waitFor();
  assert.equal(await page.locator('.side-panel .replica-state').textContent(), 'ready');
  await page.locator('.side-panel ul.operations li', { hasText: 'replica.create' }).waitFor();
  assert.match(await page.locator('.side-panel ul.operations').textContent(), /Ada Admin/);

  // Routing off, then on again.
  await controlsReady(page);
  await page.click('#routing-toggle');
  await waitClass(page, 'northeurope', /routing-off/);
  await controlsReady(page);
  assert.equal(await page.locator('#routing-toggle').textContent(), 'Enable routing');
  await page.screenshot({ path: `${OUTPUT_DIR}/map-and-panel.png`, fullPage: true });
  await page.click('#routing-toggle');
  await page.waitForFunction(() => !/routing-off/.test(document.querySelector('g.region[data-region="northeurope"]').getAttribute('class')));
  await controlsReady(page);

  // Delete needs the region typed exactly.
  const del = page.locator('#delete-replica');
  assert.equal(await del.isDisabled(), true);
  await page.fill('#delete-confirm', 'north europe');
  assert.equal(await del.isDisabled(), true);
  await page.fill('#delete-confirm', 'northeurope');
  await page.waitForFunction(() => !document.querySelector('#delete-replica').disabled, null, { timeout: 10_000 });
  await del.click();
  await waitClass(page, 'northeurope', /kind-empty/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the home replica offers no delete; an ARM error and a validation error show with their codes', async () => {
  const context = await browser.newContext();
  const { page, errors } = await openRegistry(context, 'contoso', 'bob');
  await hex(page, 'westus').click();
  await page.locator('.side-panel h2', { hasText: 'West US' }).waitFor();
  assert.equal(await page.locator('#delete-replica').count(), 0);
  assert.match(await page.locator('.side-panel').textContent(), /home replica cannot be deleted/);

  // ARM fails every write: the panel shows ARM's code.
  await hex(page, 'canadacentral').click();
  await page.locator('.side-panel h2', { hasText: 'Canada Central' }).waitFor();
  await setFaults({ errorRates: { writes: 1.0 } });
  try {
    await page.click('#routing-toggle');
    await page.locator('.panel-error').waitFor({ timeout: 40_000 });
    assert.match(await page.locator('.panel-error .error-code').textContent(), /InternalServerError|ServiceUnavailable/);
  } finally {
    await setFaults({});
  }
  // A validation refusal (zone redundancy where the region has none is not offered; a Standard registry is refused).
  await page.goto(`${server.url}/registries/contosostd?region=westeurope`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await page.click('#create-confirm');
  await page.locator('.panel-error').waitFor();
  assert.equal(await page.locator('.panel-error .error-code').textContent(), 'SkuNotPremium');
  assert.deepEqual(errors.filter((e) => !/status of (4|5)\d\d/.test(e)), []);
  await context.close();
});

test('two browsers see each other\'s changes live, without a reload', async () => {
  // An Operator acts; a Viewer watches.
  const nobody = { storageState: { cookies: [], origins: [] } };
  const a = await browser.newContext(nobody);
  const b = await browser.newContext(nobody);
  await signIn(await a.newPage(), server.url, 'oscar@contoso.example');
  await signIn(await b.newPage(), server.url, 'vera@contoso.example');
  const { page: pa } = await openRegistry(a, 'contoso');
  const { page: pb, errors } = await openRegistry(b, 'contoso');
  await pb.evaluate(() => { window.__mark = 'same-document'; });
  await hex(pa, 'japaneast').click();
  await pa.click('#create-confirm');
  await waitClass(pb, 'japaneast', /kind-replica/);
  await waitClass(pb, 'japaneast', /state-ready/);
  assert.equal(await pb.evaluate(() => window.__mark), 'same-document');
  // And the Activity page names who did it.
  await pb.goto(`${server.url}/activity?registry=contoso&kind=replica.create`);
  await pb.locator('li.entry-op', { hasText: 'japaneast' }).waitFor();
  assert.match(await pb.locator('li.entry-op', { hasText: 'japaneast' }).first().textContent(), /Oscar Operator/);
  assert.equal(await pb.locator('li.entry-op a', { hasText: 'contoso' }).first().getAttribute('href'), '/registries/contoso?region=japaneast');
  assert.deepEqual(errors, []);
  await a.close();
  await b.close();
});

test('the map is usable by keyboard: hexagons are focusable, named, and open the panel', async () => {
  const context = await browser.newContext();
  const { page, errors } = await openRegistry(context, 'contoso');
  // Tab from the last map control reaches the first hexagon.
  await page.locator('.map-controls button', { hasText: 'Asia Pacific' }).focus();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => ({
    tag: document.activeElement.tagName, region: document.activeElement.dataset.region, name: document.activeElement.getAttribute('aria-label'),
  }));
  assert.equal(focused.tag, 'g');
  assert.ok(focused.region, 'a hexagon has focus');
  assert.ok(focused.name.length > 5, 'it has an accessible name');
  const all = await page.locator('svg.worldmap g.region').evaluateAll((gs) => gs.map((g) => [g.getAttribute('tabindex'), g.getAttribute('aria-label')]));
  assert.equal(all.length, 57);
  assert.ok(all.every(([t, n]) => t === '0' && n && n.includes('(')));
  await hex(page, 'uksouth').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/region=uksouth/);
  await page.locator('.side-panel h2', { hasText: 'Create a replica in UK South' }).waitFor();
  // Keyboard focus stays on the map while the panel opens.
  assert.equal(await page.evaluate(() => document.activeElement.dataset.region), 'uksouth');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'g');
  // Zoom to Europe by keyboard.
  await page.locator('.map-controls button', { hasText: 'Europe' }).focus();
  await page.keyboard.press('Enter');
  assert.notEqual(await page.locator('svg.worldmap').getAttribute('viewBox'), '0.0 25.0 1000.0 390.0');
  await page.screenshot({ path: `${OUTPUT_DIR}/map-europe.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('ARM text is shown as text: a status message with markup', async () => {
  const context = await browser.newContext();
  const { page } = await openRegistry(context, 'contoso');
  const evil = '<b id="injected">bold</b><img src=x onerror="window.__pwned=1">';
  await setFaults({ statusMessages: { eastus: evil } });
  try {
    // Ask the poller until it has stored the new message.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await server.fetch(`/api/v1/refresh`, { method: 'POST' });
      const reg = await (await server.fetch(`/api/v1/registries/contoso`)).json();
      if (reg.replicas.some((r) => r.location === 'eastus' && r.status_message === evil)) break;
      assert.ok(Date.now() < deadline, `the poller never stored the message: ${JSON.stringify(reg.replicas.map((r) => [r.location, r.status_message, r.confirmed_at]))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.goto(`${server.url}/registries/contoso?region=eastus`);
    await page.locator('.side-panel .status-message', { hasText: 'bold' }).waitFor({ timeout: 30_000 }).catch(async (e) => {
      const poller = await (await server.fetch(`/api/v1/poller`)).text();
      throw new Error(`${e.message}\npanel: ${await page.locator('.side-panel').textContent()}\npoller: ${poller}\n${server.stderr().split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(-15).join('\n')}`);
    });
    assert.equal(await page.locator('.side-panel .status-message').textContent(), evil);
    assert.equal(await page.locator('#injected').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  } finally {
    await setFaults({});
  }
  await context.close();
});

test('with JavaScript off the map, the table and a selected region\'s panel are rendered', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.url}/registries/contoso?region=westeurope`);
  assert.equal(await page.locator('h1').textContent(), 'contoso');
  assert.equal(await page.locator('svg.worldmap g.region').count(), 57);
  assert.match(await classOf(page, 'westus'), /home/);
  assert.match(await classOf(page, 'westeurope'), /kind-replica state-ready/);
  assert.equal(await page.locator('.side-panel h2 small').textContent(), 'westeurope');
  assert.ok(await page.locator('table.replica-table tr[data-replica="eastus"]').count() === 1);
  assert.ok(await page.locator('svg.worldmap g.onprem').count() >= 1, 'the connected registry is drawn');
  await page.goto(`${server.url}/activity`);
  assert.ok(await page.locator('ol.activity li.entry').count() > 0);
  await page.goto(`${server.url}/registries?sku=Premium`);
  assert.equal(await page.locator('table.registries tbody tr').count(), 2);
  await context.close();
});

test('the live indicator says connected, then reconnecting when the server goes away', async () => {
  const own = await startServer();
  const page = await browser.newPage();
  try {
    await page.goto(`${own.url}/registries`);
    await page.locator('#live-indicator[data-link="connected"]').waitFor({ timeout: 15_000 });
    assert.match(await page.locator('#live-indicator').textContent(), /connected/);
    await own.stop();
    await page.locator('#live-indicator[data-link="reconnecting"]').waitFor({ timeout: 15_000 });
  } finally {
    await page.close();
    await own.stop();
  }
});
