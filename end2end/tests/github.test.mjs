// The whole flow in a real browser against the real server, the fake GitHub and Docker:
// sign in → subscribe → the fake GitHub sends a signed push webhook → the build appears on the
// repository page without reload → its page shows log lines while it is still running →
// success → the status on the fake GitHub.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeGithub, startSicuro, launchBrowser, tempDir, stop, SCREENSHOTS } from '../lib/harness.mjs';

let dir, github, sicuro, browser;

before(async () => {
  dir = tempDir('github');
  mkdirSync(SCREENSHOTS, { recursive: true });
  github = await startFakeGithub(dir);
  sicuro = await startSicuro(dir, github);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stop(sicuro?.child, github?.child);
});

const JOB = {
  test: {
    custom: [
      'echo "first line printed at $(date +%s%N)"',
      // The job goes on long after its first line: the page must show the line before the end.
      'sleep 6',
      'echo "last line"',
    ],
  },
};

test('sign in, subscribe, push, watch the log live, see the status on GitHub', async () => {
  await github.admin('POST', '/_admin/users', { login: 'alice' });
  await github.admin('POST', '/_admin/repos', { full_name: 'alice/app', collaborators: { alice: 'admin' }, description: 'An app' });
  await github.admin('POST', '/_admin/repos/alice/app/commits', {
    branch: 'main', message: 'Initial commit', files: { 'sicuro.json': JSON.stringify(JOB) }, deliver: false,
  });

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => { throw e; });
  await page.goto(sicuro.url + '/');
  await page.locator('body[data-hydrated=true]').waitFor();

  // Sign in with GitHub (the fake's authorize page).
  await page.getByRole('link', { name: 'Sign in with GitHub' }).first().click();
  await page.getByRole('button', { name: 'Sign in as alice' }).click();
  await page.locator('.account').getByText('alice').waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  await page.locator('body[data-hydrated=true]').waitFor();

  // Subscribe: the button shows progress, then the repository is watched and has a hook.
  const repo = page.locator('li[data-repo="alice/app"]');
  await repo.getByRole('button', { name: 'Subscribe' }).click();
  await repo.getByRole('button', { name: 'Unsubscribe' }).waitFor();
  const hooks = await github.admin('GET', '/_admin/repos/alice/app/hooks');
  assert.equal(hooks.length, 1);
  assert.equal(hooks[0].config.url, `${sicuro.url}/hooks/github`);
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png'), fullPage: true });

  // The repository page, left open: builds must appear on it without a reload.
  await repo.getByRole('link', { name: 'alice/app' }).click();
  await page.locator('h1', { hasText: 'alice/app' }).waitFor();
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.evaluate(() => { window.__noReload = true; });
  const push = await github.admin('POST', '/_admin/repos/alice/app/commits', {
    branch: 'main', message: 'Make it faster', files: { 'speed.txt': 'fast' },
  });
  assert.equal(push.deliveries[0].status, 202, 'the signed push webhook was accepted');
  const row = page.locator('table.builds tr', { hasText: 'Make it faster' });
  await row.waitFor({ timeout: 120000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'no reload happened');

  // The build's page shows the first line while the build is still running.
  await row.getByRole('link').first().click();
  await page.locator('body[data-hydrated=true]').waitFor();
  const log = page.locator('[data-testid=log]');
  await log.getByText(/^first line printed at \d+$/).waitFor({ timeout: 120000 });
  const badge = await page.locator('.title-row .status').getAttribute('class');
  assert.match(badge, /status-running/, 'the line is visible before the build finished');
  const api = await (await fetch(`${sicuro.url}/api/repos/alice/app/builds`, { headers: { accept: 'application/json' } })).json();
  const running = api.builds.find((b) => b.commit_sha === push.after);
  assert.equal(running.status, 'running', 'the container is still running');
  await page.screenshot({ path: join(SCREENSHOTS, 'build-running.png') });

  // Success, then the commit status on GitHub.
  await page.locator('.title-row .status-success').waitFor({ timeout: 120000 });
  await log.getByText('last line', { exact: true }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'build.png') });
  // The fake answers once the commit has a success status (it waits on its own state).
  const statuses = await github.admin('GET', `/_admin/repos/alice/app/statuses?sha=${push.after}&until=success`);
  const final = statuses[statuses.length - 1];
  assert.equal(final.state, 'success');
  assert.equal(final.context, 'sicuro/push');
  assert.match(final.target_url, new RegExp(`^${sicuro.url}/repos/alice/app/builds/\\d+$`));
  // Pending (queued, then running — the outbox may replace one still waiting), then success.
  const states = statuses.map((s) => s.state);
  assert.equal(states.at(-1), 'success', states.join());
  assert.ok(states.length >= 2 && states.slice(0, -1).every((s) => s === 'pending'), states.join());
  await page.close();
});

// Follows the first test (alice is a user, alice/app is subscribed and has a sicuro.json).
test('a pull request from a fork waits for approval; the maintainer approves it from the repository page', async () => {
  await github.admin('POST', '/_admin/users', { login: 'bob' });
  await github.admin('POST', '/_admin/repos', { full_name: 'bob/app', fork_of: 'alice/app', collaborators: { bob: 'admin' } });
  const fork = await github.admin('POST', '/_admin/repos/bob/app/commits', {
    branch: 'feature', from: 'main', author: 'bob', message: 'A stranger\'s change', files: { 'feature.txt': 'new' }, deliver: false,
  });
  const opened = await github.admin('POST', '/_admin/repos/alice/app/pulls', {
    base: 'main', head_repo: 'bob/app', head: 'feature', title: 'Add a feature', user: 'bob',
  });
  assert.equal(opened.deliveries[0].status, 202, 'the pull_request webhook was accepted');

  // Alice reaches the build the way people do: dashboard → repository → the build's row.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => { throw e; });
  await page.goto(sicuro.url + '/');
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.getByRole('link', { name: 'Sign in with GitHub' }).first().click();
  await page.getByRole('button', { name: 'Sign in as alice' }).click();
  await page.locator('.account').getByText('alice').waitFor();
  await page.locator('body[data-hydrated=true]').waitFor();
  await page.locator('li[data-repo="alice/app"]').getByRole('link', { name: 'alice/app' }).click();
  await page.locator('h1', { hasText: 'alice/app' }).waitFor();
  await page.locator('body[data-hydrated=true]').waitFor();
  const row = page.locator('table.builds tr[data-status=waiting]');
  await row.waitFor({ timeout: 60000 });
  assert.match(await row.innerText(), /waiting for approval/, 'the history says it waits');
  await row.getByRole('link').first().click();
  await page.locator('body[data-hydrated=true]').waitFor();

  // On screen: the waiting badge, why it waits, and the two buttons; no job has run.
  const badge = page.locator('.title-row .status');
  await page.locator('.title-row .status-waiting').waitFor();
  assert.equal((await badge.innerText()).trim(), 'waiting for approval');
  const why = page.getByTestId('approval');
  assert.ok(await why.isVisible(), 'the reason is on screen');
  assert.match(await why.innerText(), /comes from a fork/);
  const approve = page.getByRole('button', { name: 'Approve and run' });
  assert.ok(await approve.isVisible() && await page.getByRole('button', { name: 'Decline' }).isVisible());
  const pending = await github.admin('GET', `/_admin/repos/alice/app/statuses?sha=${fork.after}&until=pending`);
  assert.deepEqual(pending.map((s) => [s.state, s.context]), [['pending', 'sicuro/pr']]);
  assert.match(pending[0].description, /waiting for approval/);
  await page.screenshot({ path: join(SCREENSHOTS, 'build-waiting.png') });

  // Approved, it runs and passes; the page says who approved it; GitHub gets the final status.
  await approve.click();
  await page.locator('.title-row .status-success').waitFor({ timeout: 120000 });
  await page.getByText('Approved by alice.').waitFor();
  assert.ok(!(await approve.isVisible()), 'the buttons are gone');
  await page.locator('[data-testid=log]').getByText('last line', { exact: true }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'build-approved.png') });
  const statuses = await github.admin('GET', `/_admin/repos/alice/app/statuses?sha=${fork.after}&until=success`);
  assert.equal(statuses[statuses.length - 1].state, 'success');
  assert.equal(statuses[statuses.length - 1].context, 'sicuro/pr');
  await page.close();
});
