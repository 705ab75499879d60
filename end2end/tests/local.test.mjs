// Local mode (no GitHub settings, on 127.0.0.1): hydration, the log viewer on real builds —
// safe rendering of hostile output, a 100,000-line log, cancel, and reconnecting mid-log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSicuro, startProxy, launchBrowser, tempDir, localRepo, api, readLog, stop, SCREENSHOTS } from '../lib/harness.mjs';

let dir, sicuro, browser;

before(async () => {
  dir = tempDir('local');
  mkdirSync(SCREENSHOTS, { recursive: true });
  sicuro = await startSicuro(dir, null);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stop(sicuro?.child);
});

async function addRepo(name, sicuroJson) {
  const path = await localRepo(dir, name, { 'sicuro.json': JSON.stringify(sicuroJson) });
  const r = await api(sicuro.url, 'POST', '/api/repos', { url: path });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.slug;
}

async function buildNow(slug) {
  const r = await api(sicuro.url, 'POST', `/api/repos/${slug}/builds`, {});
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
  return r.body;
}

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', (d) => { throw new Error(`a dialog opened: ${d.message()}`); });
  page.on('pageerror', (e) => { throw e; });
  return page;
}

test('the dashboard is rendered on the server and hydrated in the browser', async () => {
  await addRepo('alpha', { test: { custom: ['true'] } });
  await addRepo('beta', { test: { custom: ['true'] } });
  const page = await newPage();
  await page.goto(sicuro.url + '/');
  // Server-rendered: the list and the #[server] round trip (server and Docker versions) are there.
  await page.locator('[data-testid=server-info]').getByText(/Docker \d+/).waitFor();
  await page.locator('li[data-repo="local/alpha"]').waitFor();
  // Hydrated: filtering only works once the WASM is live.
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.fill('#repo-filter', 'bet');
  await page.locator('li[data-repo="local/alpha"]').waitFor({ state: 'detached' });
  assert.equal(await page.locator('li[data-repo="local/beta"]').count(), 1);
  await page.fill('#repo-filter', '');
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-local.png'), fullPage: true });
  await page.close();
});

test('hostile output renders as text, with colours', async () => {
  const slug = await addRepo('hostile', {
    test: {
      custom: [
        "echo '<script>alert(1)</script>'",
        "echo '<img src=x onerror=alert(2)>'",
        "printf '\\033[31mred\\033[0m \\033[1;38;5;208mbold orange\\033[0m \\033[48;2;0;0;255mtrue blue\\033[0m\\n'",
        "printf 'progress 10%%\\rprogress 55%%\\rprogress 100%%\\n'",
      ],
    },
  });
  const b = await buildNow(slug);
  await readLog(sicuro.url, b.id);
  const page = await newPage();
  await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  const log = page.locator('[data-testid=log]');
  await log.getByText('<script>alert(1)</script>', { exact: true }).waitFor();
  await log.getByText('<img src=x onerror=alert(2)>', { exact: true }).waitFor();
  assert.deepEqual(await log.evaluate((el) => [...el.querySelectorAll('script, img')].map((e) => e.outerHTML)), [], 'no markup from the build');
  assert.equal(await log.locator('span.fg1', { hasText: 'red' }).count(), 1);
  assert.match(await log.locator('span[style]', { hasText: 'bold orange' }).getAttribute('style'), /color:rgb\(255,135,0\)/);
  assert.match(await log.locator('span[style]', { hasText: 'true blue' }).getAttribute('style'), /background:rgb\(0,0,255\)/);
  // The carriage-return progress bar collapsed into its last state.
  await log.getByText('progress 100%', { exact: true }).waitFor();
  assert.equal(await log.locator('.row:not(.command)').getByText('progress 10%').count(), 0);
  await page.close();
});

test('a 100,000-line log opens, scrolls to the end and finds a line', async () => {
  const slug = await addRepo('huge', { test: { custom: ['seq -f "line %.0f" 1 100000'] } });
  const b = await buildNow(slug);
  const all = await readLog(sicuro.url, b.id);
  const page = await newPage();
  await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.getByTestId('log-count').getByText(`${all.length} lines`).waitFor({ timeout: 60000 });
  // Only the rows on screen are in the DOM: what the panel's height holds (20 px rows), plus
  // the viewer's overscan of 10 rows on each side — not 100,000, and not fewer than fill it.
  const { rows, holds } = await page.locator('[data-testid=log]').evaluate((log) => ({
    rows: log.querySelectorAll('.row').length,
    holds: Math.floor(log.clientHeight / 20),
  }));
  assert.ok(holds > 10, `the panel holds ${holds} rows`);
  assert.ok(rows >= holds && rows <= holds + 2 * 10 + 2, `${rows} rows in the DOM for a panel that holds ${holds}`);
  // Following: the end is shown.
  const last = all[all.length - 1][0];
  await page.locator(`#L${last}`).waitFor();
  await page.getByText('line 100000', { exact: true }).waitFor();
  // Search jumps to a line far up and highlights it.
  await page.fill('#log-search', 'line 77777');
  await page.press('#log-search', 'Enter');
  const hit = page.locator('.row.hl', { hasText: 'line 77777' });
  await hit.waitFor();
  assert.ok(await hit.isVisible());
  await page.close();
});

test('cancel from the build page stops the build', async () => {
  const slug = await addRepo('endless', { test: { custom: ['echo started', 'sleep 600'] } });
  const b = await buildNow(slug);
  const page = await newPage();
  await page.goto(`${sicuro.url}/repos/${slug}/builds/${b.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.locator('[data-testid=log]').getByText('started', { exact: true }).waitFor({ timeout: 120000 });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.title-row .status-canceled').waitFor();
  const r = await api(sicuro.url, 'GET', `/api/builds/${b.id}`);
  assert.equal(r.body.summary.status, 'canceled');
  assert.match(r.body.error, /canceled by/);
  await page.close();
});

test('a reconnect in the middle of a log loses and repeats nothing', async () => {
  const slug = await addRepo('slow', { test: { custom: ['for i in $(seq 1 150); do echo "tick $i"; sleep 0.05; done'] } });
  const b = await buildNow(slug);
  // The browser reaches the server through a proxy whose connections the test cuts.
  const proxy = await startProxy(sicuro.url);
  const context = await browser.newContext();
  // Closed whatever happens: an open proxy would keep this test file's process alive.
  try {
  const page = await context.newPage();
  await page.goto(`${proxy.url}/repos/${slug}/builds/${b.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.locator('[data-testid=log]').getByText('tick 20', { exact: true }).waitFor({ timeout: 120000 });
  assert.ok(proxy.cutAll() > 0, 'the log stream was open');
  // The browser reconnects by itself, with Last-Event-ID, and the log goes on.
  await page.locator('[data-testid=log]').getByText('tick 60', { exact: true }).waitFor({ timeout: 120000 });
  proxy.cutAll();
  const stored = await readLog(sicuro.url, b.id);
  await page.locator('.title-row .status-success').waitFor({ timeout: 120000 });
  await page.getByTestId('log-count').getByText(`${stored.length} lines`).waitFor();
  // Every tick appears once, in order: with a viewport tall enough for the whole log, every
  // line is on screen at once.
  await page.setViewportSize({ width: 1280, height: 6000 });
  const rows = page.locator('[data-testid=log] .row');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=log] .row').length >= n, stored.length);
  const numbers = (await rows.evaluateAll((els) => els.map((e) => Number(e.dataset.line))));
  assert.deepEqual(numbers, stored.map((l) => l[0]), 'the page holds exactly the stored lines, in order');
  const ticks = (await rows.locator('.txt').allTextContents()).filter((t) => t.startsWith('tick '));
  const seen = new Set(ticks);
  assert.equal(ticks.length, 150);
  assert.equal(seen.size, 150);
  const log = readFileSync(join(dir, 'sicuro.log'), 'utf8');
  assert.match(log, new RegExp(`log stream of build ${b.id} resumed after line \\d+`), 'the browser resumed the stream');
  } finally {
    await context.close();
    proxy.close();
  }
});
