// The log viewer as a person meets it, reached by clicking from the dashboard: the panel full of
// rows after a client-side navigation; a million-line log that opens on its end without being
// downloaded, finds a line far above, follows a #L link into the middle and shows times; a failed
// build that opens on its failing command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSicuro, launchBrowser, tempDir, localRepo, api, waitLogEnd, stop, SCREENSHOTS } from '../lib/harness.mjs';

let dir, sicuro, browser;

before(async () => {
  dir = tempDir('logs');
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

async function newPage(viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.on('dialog', (d) => { throw new Error(`a dialog opened: ${d.message()}`); });
  page.on('pageerror', (e) => { throw e; });
  return page;
}

/** Dashboard → repository → build, by clicking (client-side navigation, as people do). */
async function clickToBuild(page, slug, number) {
  await page.goto(sicuro.url + '/');
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.locator(`li[data-repo="${slug}"] a.slug`).click();
  await page.locator(`tr[data-build="${number}"]`).waitFor();
  await page.locator(`tr[data-build="${number}"] td a`).first().click();
  await page.waitForURL(`**/repos/${slug}/builds/${number}`);
  await page.locator('[data-testid=log]').waitFor();
}

/** Rows whose box lies inside the log panel, and how many rows its height holds. */
async function rowsOnScreen(page) {
  return page.locator('[data-testid=log]').evaluate((log) => {
    const box = log.getBoundingClientRect();
    const rows = [...log.querySelectorAll('.row')].filter((r) => {
      const b = r.getBoundingClientRect();
      return b.height > 0 && b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
    });
    return { visible: rows.length, holds: Math.floor(log.clientHeight / 20), numbers: rows.map((r) => Number(r.dataset.line)) };
  });
}

/** Counts the bytes the page receives (every request, streams included), through the browser. */
async function countBytes(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const counter = { bytes: 0, byUrl: new Map() };
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.dataReceived', (e) => {
    counter.bytes += e.encodedDataLength || e.dataLength;
    const u = (urls.get(e.requestId) || '').replace(/\?.*/, '');
    counter.byUrl.set(u, (counter.byUrl.get(u) || 0) + (e.encodedDataLength || e.dataLength));
  });
  return counter;
}

test('reached by clicking, the log panel is full of rows while lines stream in', async () => {
  const slug = await addRepo('streaming', { test: { custom: ['for i in $(seq 1 300); do echo "tick $i"; sleep 0.02; done'] } });
  const b = await buildNow(slug);
  const page = await newPage();
  await clickToBuild(page, slug, b.number);
  // Lines stream in while the page is open.
  await page.locator('[data-testid=log]').getByText('tick 120', { exact: true }).waitFor({ timeout: 120000 });
  const during = await rowsOnScreen(page);
  assert.ok(during.holds > 20, `the panel holds ${during.holds} rows`);
  assert.ok(during.visible >= during.holds - 1, `${during.visible} rows on screen in a panel that holds ${during.holds}`);
  await page.locator('.title-row .status-success').waitFor({ timeout: 120000 });
  await page.locator('[data-testid=log]').getByText('tick 300', { exact: true }).waitFor();
  const end = await rowsOnScreen(page);
  assert.ok(end.visible >= end.holds - 1, `${end.visible} rows on screen at the end, the panel holds ${end.holds}`);
  // The first lines of the log are there when the reader scrolls to the top.
  await page.locator('[data-testid=log]').evaluate((el) => { el.scrollTop = 0; });
  await page.locator('[data-testid=log] .row[data-line="1"]').getByText('checkout').waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'log-after-click.png') });
  await page.close();
});

test('a million-line log opens on its end without being downloaded, and finds, links and times', async () => {
  const slug = await addRepo('million', { test: { custom: ["seq -f 'line %.0f' 1 1000000"] } });
  const b = await buildNow(slug);
  const end = await waitLogEnd(sicuro.url, b.id);
  const page = await newPage();
  const counter = await countBytes(page);
  await clickToBuild(page, slug, b.number);
  const log = page.locator('[data-testid=log]');
  const lastRow = log.locator(`.row[data-line="${end.lines}"]`);
  await lastRow.waitFor();
  await log.getByText('line 1000000', { exact: true }).waitFor();
  assert.ok(await log.getByText('line 1000000', { exact: true }).isVisible());
  const shown = await rowsOnScreen(page);
  assert.ok(shown.numbers.includes(end.lines), `the last line is on screen: ${shown.numbers.slice(-3)}`);
  const logBytes = [...counter.byUrl].filter(([u]) => u.includes('/log')).reduce((s, [, n]) => s + n, 0);
  assert.ok(logBytes < 200_000, `${logBytes} bytes of log fetched to show the end of a ${end.lines}-line log`);
  await page.getByTestId('log-count').getByText(`${end.lines} lines`).waitFor();

  // Search finds a line far above the loaded window (the server searches the whole log).
  await page.fill('#log-search', 'line 1234');
  await page.press('#log-search', 'Enter');
  await page.getByTestId('match-count').getByText('1 of 111').waitFor({ timeout: 60000 });
  const hit = log.locator('.row.hl', { hasText: 'line 1234' });
  await hit.waitFor();
  assert.equal(await hit.locator('.txt').textContent(), 'line 1234');
  assert.ok(await hit.isVisible());
  // Next jumps to the next hit.
  await page.getByRole('button', { name: 'Next match' }).click();
  await log.locator('.row.hl', { hasText: 'line 12340' }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'log-million-search.png') });

  // A #L link into the middle loads that window and shows the line.
  await page.evaluate(() => { window.location.hash = '#L500000'; });
  const middle = log.locator('.row.hl[data-line="500000"]');
  await middle.waitFor();
  assert.ok(await middle.isVisible());
  assert.match(await middle.locator('.txt').textContent(), /^line 4999\d\d$/);

  // Times on: each row shows when it arrived.
  await page.getByTestId('show-times').check();
  const ts = middle.locator('.ts');
  await ts.waitFor();
  assert.match(await ts.textContent(), /^\d\d:\d\d\.\d{3}$/);
  assert.ok(await ts.isVisible());
  await page.screenshot({ path: join(SCREENSHOTS, 'log-million-middle-times.png') });
  const total = [...counter.byUrl].filter(([u]) => u.includes('/log')).reduce((s, [, n]) => s + n, 0);
  assert.ok(total < 1_000_000, `${total} bytes of log fetched in all, for a log of ${end.lines} lines`);
  await page.close();
});

test('a failed build opens on its failing command', async () => {
  const slug = await addRepo('failing', {
    test: {
      custom: [
        'echo preparing',
        "for i in $(seq 1 200); do echo \"noise $i\"; done; echo 'assertion failed: expected 2, got 3'; exit 3",
        'echo never',
      ],
    },
  });
  const b = await buildNow(slug);
  await waitLogEnd(sicuro.url, b.id);
  const page = await newPage();
  await clickToBuild(page, slug, b.number);
  const failure = page.getByTestId('failure');
  await failure.waitFor();
  assert.ok(await failure.isVisible());
  assert.match(await failure.locator('h2').textContent(), /Failed in test: for i in \$\(seq 1 200\)/);
  assert.match(await failure.textContent(), /exit code 3/);
  const culprit = failure.getByText('assertion failed: expected 2, got 3', { exact: true });
  assert.ok(await culprit.isVisible(), 'the error is on screen');
  assert.ok(await failure.getByText('noise 200', { exact: true }).isVisible());
  // The failure comes first: above the log.
  const [fTop, logTop] = await Promise.all([failure.boundingBox(), page.locator('[data-testid=log]').boundingBox()]);
  assert.ok(fTop.y < logTop.y);
  await page.screenshot({ path: join(SCREENSHOTS, 'build-failed-first.png') });
  // Its link goes to the command in the full log.
  await failure.getByRole('link', { name: 'Show it in the full log' }).click();
  const row = page.locator('[data-testid=log] .row.command.hl');
  await row.waitFor();
  assert.match(await row.textContent(), /\$ for i in/);
  await page.close();
});
