// Sign-in through an independent, OpenID Certified provider (npm
// `oidc-provider`), started here on loopback with app roles in its ID
// tokens: the console's sign-in code proven against an implementation this
// project did not write. Also: what each role sees, and sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Provider from 'oidc-provider';
import { startServer, launchBrowser, freePort, signIn } from './helpers.js';

let server, browser, provider, providerServer;
const people = {
  olga: { name: 'Olga Operator', roles: ['Regatlas.Operator'] },
  victor: { name: 'Victor Viewer', roles: ['Regatlas.Viewer'] },
  nemo: { name: 'Nemo Norole', roles: [] },
};

before(async () => {
  const [idpPort, consolePort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${idpPort}`;
  provider = new Provider(issuer, {
    clients: [{
      client_id: 'regatlas', client_secret: 'oidc-provider-test-secret',
      redirect_uris: [`http://127.0.0.1:${consolePort}/auth/callback`],
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: { openid: ['sub'], profile: ['name', 'roles'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: { keys: ['regatlas-e2e-cookie-key'] },
    async findAccount(_ctx, id) {
      const p = people[id];
      if (!p) return undefined;
      return { accountId: id, async claims() { return { sub: id, name: p.name, roles: p.roles }; } };
    },
    // No consent screen: the grant exists already.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
  });
  providerServer = provider.listen(idpPort, '127.0.0.1');
  server = await startServer(['--oidc-issuer', issuer, '--oidc-client-id', 'regatlas'], {
    env: { REGATLAS_OIDC_CLIENT_SECRET: 'oidc-provider-test-secret' }, port: consolePort, signIn: false,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  providerServer?.close();
});

/// Signs in at oidc-provider's development login form as `login`.
async function signInAt(page, login) {
  await page.goto(`${server.url}/registries/contoso`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
}

const nobody = { storageState: { cookies: [], origins: [] } };

test('an Operator signs in at oidc-provider, sees their name and role, may act but not delete; sign-out ends it', async () => {
  const context = await browser.newContext(nobody);
  const page = await context.newPage();
  await signInAt(page, 'olga');
  await page.waitForURL(`${server.url}/registries/contoso`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#me .me-name').textContent(), 'Olga Operator');
  assert.equal(await page.locator('#me').getAttribute('data-role'), 'operator');
  // A replica's panel: routing is offered, delete is not (Admin only), and the page says why.
  await page.locator('svg.worldmap g.region[data-region="canadacentral"]').click();
  await page.locator('#routing-toggle').waitFor();
  assert.equal(await page.locator('#routing-toggle').isDisabled(), false);
  assert.match(await page.locator('#delete-role-note').textContent(), /Needs the Admin role/);
  assert.equal(await page.locator('#delete-replica').count(), 0);
  // Sign out: the session ends on the server.
  await page.locator('#sign-out').click();
  await page.waitForURL(`${server.url}/auth/signed-out`);
  const r = await page.request.post(`${server.url}/api/sfn/registries`);
  assert.equal(r.status(), 401);
  await context.close();
});

test('a Viewer sees no actions; someone with no role is refused with a reason', async () => {
  const context = await browser.newContext(nobody);
  const page = await context.newPage();
  await signInAt(page, 'victor');
  await page.waitForURL(`${server.url}/registries/contoso`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#me').getAttribute('data-role'), 'viewer');
  await page.goto(`${server.url}/migrations`);
  await page.locator('#m-role-note').waitFor();
  assert.equal(await page.locator('#m-create').count(), 0);
  await context.close();

  const other = await browser.newContext(nobody);
  const p2 = await other.newPage();
  await signInAt(p2, 'nemo');
  await p2.waitForURL(/\/auth\/refused/);
  assert.match(await p2.locator('#refusal').textContent(), /no Regatlas role/);
  await other.close();
});

test('the emulator\'s Entra ID signs in through the same code path', async () => {
  const own = await startServer([], { signIn: false });
  try {
    const context = await browser.newContext(nobody);
    const page = await context.newPage();
    await signIn(page, own.url, 'vera@contoso.example');
    await page.goto(`${own.url}/activity`);
    assert.equal(await page.locator('#me .me-name').textContent(), 'Vera Viewer');
    await context.close();
  } finally {
    await own.stop();
  }
});
