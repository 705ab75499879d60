// Browser-side benchmarks (run by scripts/bench.sh against the release build):
// - latency from a line printed in the container to the same line in the page's DOM, over 1,000
//   lines (each line carries the time it was printed: bash's $EPOCHREALTIME);
// - time to show the end of a finished 1,000,000-line log.
import { startSicuro, launchBrowser, tempDir, localRepo, api, readLog, stop } from '../lib/harness.mjs';

const quick = process.argv.includes('--quick');
const dir = tempDir('bench');
const sicuro = await startSicuro(dir, null, { release: true });
const browser = await launchBrowser();
const out = [];
const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.round((p / 100) * (s.length - 1)))]; };

async function repo(name, cmd) {
  const path = await localRepo(dir, name, { 'sicuro.json': JSON.stringify({ test: { custom: [cmd] } }) });
  const r = await api(sicuro.url, 'POST', '/api/repos', { url: path });
  return r.body.slug;
}
async function build(slug) {
  return (await api(sicuro.url, 'POST', `/api/repos/${slug}/builds`, {})).body;
}

// Warm the image and the mirror first.
const warm = await repo('warm', 'true');
await readLog(sicuro.url, (await build(warm)).id);

{
  const n = quick ? 200 : 1000;
  const slug = await repo('dom-latency', `sleep 2; for i in $(seq 1 ${n}); do echo "t $EPOCHREALTIME"; sleep 0.01; done`);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const b = await build(slug);
  await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.evaluate(() => {
    window.__seen = new Map();
    const log = document.querySelector('[data-testid=log]');
    new MutationObserver(() => {
      const now = (performance.timeOrigin + performance.now()) / 1000;
      for (const el of log.querySelectorAll('.row .txt')) {
        const t = el.textContent;
        if (t.startsWith('t ') && !window.__seen.has(t)) window.__seen.set(t, now);
      }
    }).observe(log, { childList: true, subtree: true, characterData: true });
  });
  await page.locator('.title-row .status-success').waitFor({ timeout: 300000 });
  const lat = await page.evaluate(() => [...window.__seen].map(([t, seen]) => seen - Number(t.slice(2))));
  out.push({ what: `log latency, container line → page DOM, p50 / p99 of ${lat.length}`, figure: `${(pct(lat, 50) * 1000).toFixed(1)} ms / ${(pct(lat, 99) * 1000).toFixed(1)} ms`, reference: 'goal p50 ≤ 50 ms, p99 ≤ 250 ms; Woodpecker ≈ 1–1.5 s' });
  await page.close();
}

{
  const lines = quick ? 200000 : 1000000;
  const slug = await repo('million', `seq -f 'line %.0f' 1 ${lines}`);
  const b = await build(slug);
  const all = await readLog(sicuro.url, b.id);
  const last = all[all.length - 1][0];
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const t0 = Date.now();
  await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
  await page.locator(`#L${last}`).waitFor({ timeout: 300000 });
  const shown = Date.now() - t0;
  const rows = await page.locator('[data-testid=log] .row').count();
  out.push({ what: `finished ${lines.toLocaleString('en')}-line log: page load → last line shown`, figure: `${(shown / 1000).toFixed(2)} s`, reference: `${rows} rows in the DOM` });
  await page.close();
}

await browser.close();
stop(sicuro.child);
console.log(JSON.stringify(out));
