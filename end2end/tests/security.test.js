// The console under its Content-Security-Policy, and attacks as a browser
// makes them: a page on another origin that posts a form to a server
// function, fires a no-CORS text/plain fetch at the JSON API, and frames the
// console. Nothing changes and the console cannot be framed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, watchErrors, OUTPUT_DIR } from './helpers.js';

let server;
let browser;
let evil;
let evilUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The attacker's site: another origin on loopback.
  evil = createServer((req, res) => {
    const target = server.url;
    const pages = {
      '/form': `<!doctype html><form id="f" method="POST" action="${target}/api/sfn/delete_replica">
        <input name="registry" value="contoso"><input name="region" value="westus"><input name="actor" value="evil"></form>
        <script>document.getElementById('f').submit()</script>`,
      '/fetch': `<!doctype html><script>
        fetch('${target}/api/v1/migrations', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ source_registry: 'contosowesteu', target_registry: 'contoso', force: true }) })
          .then(() => { document.title = 'sent'; }, () => { document.title = 'sent'; });
        fetch('${target}/api/v1/registries/contoso/replicas/westus/routing', { method: 'PUT', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ enabled: false, force: true }) }).catch(() => {});
      </script>`,
      '/frame': `<!doctype html><iframe id="c" src="${target}/registries/contoso?region=westus" width="800" height="600"></iframe>`,
    };
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(pages[req.url] ?? 'not found');
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  evilUrl = `http://127.0.0.1:${evil.address().port}`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((r) => evil?.close(r));
});

async function westus() {
  const r = await server.fetch(`/api/v1/registries/contoso`);
  const reg = await r.json();
  return reg.replicas.find((x) => x.location === 'westus' && !x.gone);
}

test('the console hydrates and works under its CSP with no violation', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const response = await page.goto(`${server.url}/registries/contoso`);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'/);
  assert.doesNotMatch(csp.split(';').find((d) => d.trim().startsWith('script-src')), /unsafe-inline/);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  // Interactive: open a replica's panel by clicking its hexagon.
  await page.locator('svg.worldmap g.region[data-region="eastus"]').click();
  await page.locator('.side-panel h2', { hasText: 'East US' }).waitFor();
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  await page.close();
});

test('a cross-site form, no-CORS fetches and framing change nothing', async () => {
  await server.url; // started
  const before = await westus();
  assert.ok(before, 'westus replica exists');
  const page = await browser.newPage();
  // The form posts and lands on the refusal.
  await page.goto(`${evilUrl}/form`);
  await page.waitForURL(`${server.url}/api/sfn/delete_replica`);
  const body = await page.locator('body').textContent();
  assert.match(body, /CrossOriginRequest/);
  await page.goto(`${evilUrl}/fetch`);
  await page.waitForFunction(() => document.title === 'sent');
  await page.waitForTimeout(500);
  // Framing is refused by the browser (frame-ancestors / X-Frame-Options).
  const framed = await browser.newPage();
  const errors = watchErrors(framed);
  await framed.goto(`${evilUrl}/frame`);
  await framed.waitForTimeout(1000);
  const frame = framed.frames().find((f) => f.url().startsWith(server.url));
  const rendered = frame ? await frame.locator('h1').count().catch(() => 0) : 0;
  assert.equal(rendered, 0, 'the console rendered inside a frame on another origin');
  await framed.screenshot({ path: `${OUTPUT_DIR}/framing-refused.png` });
  void errors;
  // Nothing happened.
  const after = await westus();
  assert.ok(after, 'westus replica still there');
  assert.equal(after.routing, before.routing);
  const ops = await (await server.fetch(`/api/v1/operations`)).json();
  assert.equal(ops.length, 0, JSON.stringify(ops));
  const migrations = await (await server.fetch(`/api/v1/migrations`)).json();
  assert.equal(migrations.length, 0);
  await page.close();
  await framed.close();
});

test('the new-migration form names credential sets, never secrets, and shows refusals with their codes', async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/migrations`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('input[type="password"]').count(), 0, 'no secret is typed into the console');
  await page.selectOption('#m-target', 'contoso');
  await page.fill('#m-source-url', 'http://127.0.0.1:5999');
  await page.fill('#m-credential-set', 'nosuch');
  await page.click('#m-create');
  await page.locator('.new-migration .error-code', { hasText: 'UnknownCredentialSet' }).waitFor();
  await page.fill('#m-credential-set', '');
  await page.fill('#m-source-url', 'http://169.254.169.254');
  await page.click('#m-create');
  await page.locator('.new-migration .error-code', { hasText: 'SourceNotAllowed' }).waitFor();
  assert.match(await page.locator('.new-migration .error').textContent(), /link-local/);
  // A refusal is a 4xx the page handles: the only console noise is the browser's own line for it.
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], `console errors: ${errors.join('\n')}`);
  await page.close();
});
