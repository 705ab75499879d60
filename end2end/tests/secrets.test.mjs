// The settings page in a real browser against the real server and Docker (local mode, where
// people at this machine are admins): reach it from the repository page, add a secret, replace
// it, see who changed it and the audit trail, change a build setting, delete the secret. A build
// that prints the secret plainly, split across two writes and base64-encoded shows *** in the
// browser's log viewer, the SSE stream and the download; the value is in no page, not in the
// data directory in clear, and not in the server's own output (run at debug level).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startSicuro, launchBrowser, tempDir, localRepo, api, readLog, stop, SCREENSHOTS } from '../lib/harness.mjs';

let dir, sicuro, browser;

before(async () => {
  dir = tempDir('secrets');
  mkdirSync(SCREENSHOTS, { recursive: true });
  sicuro = await startSicuro(dir, null, { env: { SICURO_LOG: 'debug,sqlx=debug,tower_http=trace' } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stop(sicuro?.child);
});

const VALUE = `e2e-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const JOB = {
  test: {
    custom: [
      'echo "plain=$DEPLOY_TOKEN"',
      `printf 'split=%s' "\${DEPLOY_TOKEN:0:6}"; sleep 0.3; printf '%s\\n' "\${DEPLOY_TOKEN:6}"`,
      'printf "%s" "$DEPLOY_TOKEN" | base64 -w0; echo',
    ],
  },
};

/** Every file under `root` whose bytes contain `needle`. */
function filesContaining(root, needle) {
  const found = [];
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) found.push(...filesContaining(path, needle));
    else if (readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

test('admins manage secrets on the settings page; a build that prints one shows ***', async () => {
  const path = await localRepo(dir, 'deploy', { 'sicuro.json': JSON.stringify(JOB) });
  const added = await api(sicuro.url, 'POST', '/api/repos', { url: path });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const slug = added.body.slug;

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => { throw e; });
  await page.goto(`${sicuro.url}/repos/${slug}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.locator('h1', { hasText: `${slug} · settings` }).waitFor();
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.getByText('No secrets yet.').waitFor();

  // Add a secret.
  await page.fill('#secret-name', 'DEPLOY_TOKEN');
  await page.fill('#secret-value', VALUE);
  await page.getByRole('button', { name: 'Save secret' }).click();
  const row = page.locator('tr[data-secret=DEPLOY_TOKEN]');
  await row.waitFor();
  assert.match(await row.innerText(), /DEPLOY_TOKEN\s+no\s+a local user/);
  assert.equal(await page.inputValue('#secret-value'), '', 'the value left the form');
  await page.locator('[data-testid=audit]').getByText(/a local user created DEPLOY_TOKEN$/).waitFor();

  // A bad value is refused with the reason.
  await page.fill('#secret-name', 'SHORT');
  await page.fill('#secret-value', 'abc');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('alert').getByText(/shorter than 4 characters/).waitFor();

  // Replace it, for forks too.
  await page.fill('#secret-name', 'DEPLOY_TOKEN');
  await page.fill('#secret-value', VALUE);
  await page.check('#secret-forks');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.locator('[data-testid=audit]').getByText(/updated DEPLOY_TOKEN \(for forks too\)$/).waitFor();
  assert.match(await row.innerText(), /DEPLOY_TOKEN\s+yes/);

  // A build setting.
  await page.fill('#max-concurrent', '2');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').getByText('Saved.').waitFor();
  // A schedule: a broken expression is refused with what is expected, a good one is kept.
  await page.fill('#schedule', 'every night');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('alert').getByText(/five fields/).waitFor();
  await page.fill('#schedule', '0 3 * * *');
  await page.fill('#schedule-branch', 'main');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').getByText('Saved.').waitFor();
  const settings = await api(sicuro.url, 'GET', `/api/repos/${slug}/settings`);
  assert.equal(settings.body.max_concurrent, 2);
  assert.equal(settings.body.schedule, '0 3 * * *');
  assert.equal(settings.body.schedule_branch, 'main');
  await page.screenshot({ path: join(SCREENSHOTS, 'settings.png'), fullPage: true });

  // The value is in neither the live page nor a fresh server rendering of it.
  assert.ok(!(await page.content()).includes(VALUE), 'not in the page');
  const html = await (await fetch(`${sicuro.url}/repos/${slug}/settings`)).text();
  assert.ok(html.includes('DEPLOY_TOKEN') && !html.includes(VALUE), 'names only in the server-rendered page');

  // A build prints it three ways.
  const built = await api(sicuro.url, 'POST', `/api/repos/${slug}/builds`, {});
  assert.ok(built.status === 201 || built.status === 200, JSON.stringify(built.body));
  const lines = (await readLog(sicuro.url, built.body.id)).map((l) => l[3]);
  const sse = JSON.stringify(lines);
  const base64 = Buffer.from(VALUE).toString('base64');
  for (const want of ['plain=***', 'split=***']) assert.ok(sse.includes(want), `${want} in ${sse}`);
  for (const leak of [VALUE, base64, VALUE.slice(6)]) assert.ok(!sse.includes(leak), `${leak} in the SSE stream`);
  const text = await (await fetch(`${sicuro.url}/api/builds/${built.body.id}/log.txt`)).text();
  assert.ok(text.includes('plain=***') && !text.includes(VALUE) && !text.includes(base64), text);

  await page.goto(`${sicuro.url}/repos/${slug}/builds/${built.body.number}`);
  await page.locator('body[data-hydrated=true]').waitFor();
  const log = page.locator('[data-testid=log]');
  await log.getByText('plain=***', { exact: true }).waitFor();
  await log.getByText('split=***', { exact: true }).waitFor();
  assert.ok(!(await page.content()).includes(VALUE), 'not on the build page');
  await page.screenshot({ path: join(SCREENSHOTS, 'build-masked.png') });

  // Delete it.
  await page.goto(`${sicuro.url}/repos/${slug}/settings`);
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.getByRole('button', { name: 'Delete DEPLOY_TOKEN' }).click();
  await row.waitFor({ state: 'detached' });
  await page.locator('[data-testid=audit]').getByText(/deleted DEPLOY_TOKEN$/).waitFor();
  await page.close();

  // Not in the data directory in clear (database, its WAL, logs), nor in the server's output.
  for (const form of [VALUE, base64]) {
    assert.deepEqual(filesContaining(sicuro.data, form), [], `${form} in clear in the data directory`);
    assert.ok(!readFileSync(sicuro.log, 'utf8').includes(form), `${form} in the server's output`);
  }
  assert.match(readFileSync(sicuro.log, 'utf8'), /secret set/, 'the server log was captured');
});
