// Browser-side benchmarks (run by scripts/bench.sh against the release build):
// - latency from a line printed in the container to the same line in the page's DOM, over 1,000
//   lines (each line carries the time it was printed: bash's $EPOCHREALTIME);
// - time to show the end of finished logs of 1,000,000 and 10,000,000 lines (against a 100-line
//   one), and the tab's memory then.
import { readFileSync } from 'node:fs';
import { startSicuro, launchBrowser, tempDir, localRepo, api, readLog, waitLogEnd, stop } from '../lib/harness.mjs';

const quick = process.argv.includes('--quick');
const dir = tempDir('bench');
// Logs of ten million lines are over the default 64 MiB limit.
const sicuro = await startSicuro(dir, null, { release: true, env: { SICURO_LOG_LIMIT: '1GiB' } });
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

// Finished logs of 100, 1,000,000 and 10,000,000 lines: page load → last line shown, and the
// tab's memory then (the renderer process, and the JS heap), median of 3 loads each.
{
  const sizes = quick ? [100, 200000, 1000000] : [100, 1000000, 10000000];
  const results = [];
  for (const lines of sizes) {
    const slug = await repo(`tail-${lines}`, `seq -f 'line %.0f' 1 ${lines}`);
    const b = await build(slug);
    const end = await waitLogEnd(sicuro.url, b.id);
    const times = [], rss = [], heap = [], wasm = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // Keep a handle on the page's WASM memory (wasm-bindgen does not expose it).
      await page.addInitScript(() => {
        const keep = (r) => { const i = r.instance || r; window.__wasmMemory = i.exports && i.exports.memory; return r; };
        const s = WebAssembly.instantiateStreaming, p = WebAssembly.instantiate;
        WebAssembly.instantiateStreaming = (...a) => s(...a).then(keep);
        WebAssembly.instantiate = (...a) => p(...a).then(keep);
      });
      const t0 = Date.now();
      await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
      await page.locator(`[data-testid=log] .row[data-line="${end.lines}"]`).waitFor({ timeout: 300000 });
      await page.locator('[data-testid=log]').getByText(`line ${lines}`, { exact: true }).waitFor({ timeout: 300000 });
      times.push(Date.now() - t0);
      rss.push(await rendererRssMiB());
      wasm.push(await page.evaluate(() => (window.__wasmMemory ? window.__wasmMemory.buffer.byteLength : 0) / 1048576));
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Performance.enable');
      const m = (await cdp.send('Performance.getMetrics')).metrics.find((x) => x.name === 'JSHeapUsedSize');
      heap.push((m?.value || 0) / 1048576);
      await page.close();
    }
    results.push({ lines, shown: pct(times, 50), rss: pct(rss, 50), heap: pct(heap, 50), wasm: pct(wasm, 50) });
  }
  const small = results[0];
  for (const r of results.slice(1)) {
    out.push({ what: `finished ${r.lines.toLocaleString('en')}-line log: page load → last line shown (median of 3)`, figure: `${r.shown} ms`, reference: `${small.lines}-line log: ${small.shown} ms; goal ≤ 300 ms` });
    out.push({ what: `finished ${r.lines.toLocaleString('en')}-line log: the tab's memory with its end shown (WASM memory + JS heap / the page's renderer process)`, figure: `${(r.wasm + r.heap).toFixed(1)} MiB / ${r.rss.toFixed(0)} MiB`, reference: `${small.lines}-line log: ${(small.wasm + small.heap).toFixed(1)} MiB / ${small.rss.toFixed(0)} MiB; goal ≤ 100 MB` });
  }
}

/** Resident memory of the largest renderer process (the one page open; others are spares), MiB. */
async function rendererRssMiB() {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  let kb = 0;
  for (const p of processInfo.filter((p) => p.type === 'renderer')) {
    try {
      const status = readFileSync(`/proc/${p.id}/status`, 'utf8');
      kb = Math.max(kb, Number((status.match(/VmRSS:\s+(\d+)/) || [0, 0])[1]));
    } catch { /* gone */ }
  }
  return kb / 1024;
}

await browser.close();
stop(sicuro.child);
console.log(JSON.stringify(out));
