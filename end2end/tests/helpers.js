// Shared helpers for the browser tests: start the real `regatlas` binary on a
// free loopback port with a temporary SQLite file, and launch Debian's
// Chromium through playwright-core (never a downloaded browser).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const OUTPUT_DIR = new URL('../test-output/', import.meta.url).pathname;
mkdirSync(OUTPUT_DIR, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The session of the server started last, signed in as the demo Admin:
// every context and page a test opens starts signed in (tests that want
// someone else, or nobody, ask for it). Cookies do not tell ports apart,
// so a second server's session replaces the first's.
const signedIn = { cookies: [], origins: [] };

/// Signs `page` in through the console's own flow and the emulator's
/// sign-in page, as the demo person with `username`.
export async function signIn(page, url, username = 'ada@contoso.example') {
  await page.goto(`${url}/auth/sign-in`);
  await page.locator(`button[data-username="${username}"]`).click();
  await page.waitForURL((u) => u.origin === new URL(url).origin && !u.pathname.startsWith('/auth/'), { timeout: 15_000 });
}

/// `regatlas emulator` in its own process with `args`; its info line parsed.
export async function startEmulator(args = []) {
  const child = spawn(process.env.REGATLAS_BIN, ['emulator', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill('SIGKILL'));
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (c) => reject(new Error(`emulator exited (${c})`)));
  });
  return { child, info: JSON.parse(line) };
}

/// A new, empty PostgreSQL database on the test cluster (REGATLAS_TEST_POSTGRES); its URL.
export function newPostgresDatabase(prefix = 'e2e') {
  const admin = process.env.REGATLAS_TEST_POSTGRES;
  if (!admin) throw new Error('REGATLAS_TEST_POSTGRES is not set');
  const name = `${prefix}_${Date.now()}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  execFileSync('psql', [admin, '-qAtc', `CREATE DATABASE ${name}`]);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

// REGATLAS_E2E_STORE=postgres: every server a test starts gets a database
// of its own on the test cluster (the test command runs the browser tests
// on both stores).
const onPostgres = process.env.REGATLAS_E2E_STORE === 'postgres';

export async function startServer(extraArgs = [], { env = {}, port: wanted, signIn: signInFirst = true, database: given } = {}) {
  const database = given || (onPostgres ? newPostgresDatabase() : null);
  const bin = process.env.REGATLAS_BIN;
  const siteRoot = process.env.REGATLAS_SITE_ROOT;
  if (!bin || !siteRoot) throw new Error('REGATLAS_BIN and REGATLAS_SITE_ROOT must be set (scripts/test.sh does)');
  const dir = mkdtempSync(join(tmpdir(), 'regatlas-e2e-'));
  const port = wanted || await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--database', database || join(dir, 'regatlas.db'),
    '--site-root', siteRoot, '--emulator-time-scale', '20', ...extraArgs], { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const stop = () => { if (child.exitCode === null) child.kill('SIGTERM'); };
  process.on('exit', stop);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${stderr}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { stop(); throw new Error(`server not ready in 30 s:\n${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  let apiToken = null;
  if (signInFirst) {
    const b = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
    try {
      const ctx = await b.newContext();
      await signIn(await ctx.newPage(), url);
      const state = await ctx.storageState();
      signedIn.cookies = state.cookies;
      // An Admin API token for the test's own calls to /api/v1 (which takes
      // bearer tokens only), made through the page's server function.
      const r = await ctx.request.post(`${url}/api/sfn/create_api_token`, { form: { 'request[name]': 'browser tests', 'request[role]': 'admin' } });
      if (!r.ok()) throw new Error(`cannot create an API token: ${r.status()} ${await r.text()}`);
      apiToken = (await r.json()).secret;
    } finally {
      await b.close();
    }
  }
  // Ready is not discovered: on PostgreSQL the poller starts once this
  // instance leads (about 4 s after start). Tests open registry pages at
  // once, so wait (at most 20 s) for the first discovery to land.
  if (apiToken) {
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      const r = await fetch(`${url}/api/v1/registries`, { headers: { authorization: `Bearer ${apiToken}` } });
      if (r.ok && (await r.json()).length > 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return {
    url,
    stderr: () => stderr,
    /// fetch() on this server with its Admin API token.
    fetch: (path, init = {}) => fetch(`${url}${path}`, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${apiToken}` } }),
    // SIGTERM, then the graceful shutdown must finish within 15 s (open
    // event streams included); otherwise SIGKILL and fail loudly.
    async stop() {
      stop();
      const exited = await new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r(true);
        const t = setTimeout(() => r(false), 15_000);
        child.once('exit', () => { clearTimeout(t); r(true); });
      });
      if (!exited) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (!exited) throw new Error(`the server did not shut down within 15 s of SIGTERM:\n${stderr.slice(-2000)}`);
    },
  };
}

export async function launchBrowser(options = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  // Contexts and pages start signed in as the demo Admin unless the test
  // gives its own storageState (`{ cookies: [], origins: [] }` for nobody).
  const newContext = browser.newContext.bind(browser);
  const newPage = browser.newPage.bind(browser);
  browser.newContext = (o = {}) => newContext({ storageState: signedIn, ...o });
  browser.newPage = (o = {}) => newPage({ storageState: signedIn, ...o });
  return browser;
}

/// Collects console errors and page errors of a page.
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}
