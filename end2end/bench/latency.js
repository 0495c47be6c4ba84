// Event-to-screen latency: how long after the server records a state change
// the open map shows it. The server's event timestamp (`at`, stored before
// publishing) is compared with the moment a MutationObserver in the page
// sees the hexagon's class change; both clocks are this machine's.
// Run by scripts/bench.sh (needs REGATLAS_BIN and REGATLAS_SITE_ROOT).
import { startServer, launchBrowser } from '../tests/helpers.js';

const ROUNDS = Number(process.env.ROUNDS || 10);
const server = await startServer(['--poll-fast-secs', '1', '--poll-slow-secs', '2']);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/registries/contoso`);
  await page.locator('#live-indicator[data-link="connected"]').waitFor({ timeout: 20_000 });
  // Record replica.changed events (server time) and class changes (page time).
  await page.evaluate(() => {
    window.__events = [];
    window.__changes = [];
    const es = new EventSource('/api/v1/events');
    es.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (e.kind === 'replica.changed' && e.summary.startsWith('contoso/eastus')) window.__events.push(Date.parse(e.at));
    };
    const g = document.querySelector('g.region[data-region="eastus"]');
    new MutationObserver(() => {
      const off = g.getAttribute('class').includes('routing-off');
      const last = window.__changes[window.__changes.length - 1];
      if (!last || last.off !== off) window.__changes.push({ off, t: Date.now() });
    }).observe(g, { attributes: true, attributeFilter: ['class'] });
  });
  const latencies = [];
  for (let i = 0; i < ROUNDS; i++) {
    const enabled = i % 2 === 1;
    const before = await page.evaluate(() => window.__changes.length);
    const r = await server.fetch(`/api/v1/registries/contoso/replicas/eastus/routing`, {
      method: 'PUT', headers: { 'content-type': 'application/json', 'x-regatlas-actor': 'bench' },
      body: JSON.stringify({ enabled }),
    });
    if (!r.ok) throw new Error(`routing ${enabled}: ${r.status} ${await r.text()}`);
    await page.waitForFunction((n) => window.__changes.length > n, before, { timeout: 30_000 });
    const { events, changes } = await page.evaluate(() => ({ events: window.__events, changes: window.__changes }));
    const shown = changes[changes.length - 1].t;
    const at = events.filter((t) => t <= shown).pop();
    latencies.push(shown - at);
    // Let the operation finish before the next toggle.
    for (;;) {
      const ops = await (await server.fetch(`/api/v1/operations?registry=contoso&state=running`)).json();
      if (ops.length === 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  latencies.sort((a, b) => a - b);
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.round((latencies.length - 1) * q))];
  console.log(`event-to-screen latency     ${ROUNDS} state changes: p50 ${p(0.5)} ms, max ${latencies[latencies.length - 1]} ms (${latencies.join(', ')})`);
} finally {
  await browser.close();
  await server.stop();
}
