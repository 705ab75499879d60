// The browser tests' world: the real `sicuro` binary (built by `cargo leptos build`), the fake
// GitHub binary, the real Docker engine and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, createServer as createNetServer, connect as connectTcp } from 'node:net';
import { chromium } from 'playwright-core';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const SCREENSHOTS = join(ROOT, 'end2end', 'screenshots');
const BIN = (name, release = false) => join(ROOT, 'target', release ? 'release' : 'debug', name);

export const CLIENT_ID = 'e2e-client';
export const CLIENT_SECRET = 'e2e-client-secret';
export const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
    s.on('error', fail);
  });
}

/** Starts a process and resolves once a line of its output matches `ready`. */
function startProcess(cmd, args, env, ready, logFile) {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    let done = false;
    const onData = (chunk) => {
      log.write(chunk);
      const m = chunk.toString().match(ready);
      if (m && !done) { done = true; ok({ child, match: m }); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { if (!done) fail(new Error(`${cmd} exited with ${code}; see ${logFile}`)); });
  });
}

export async function startFakeGithub(dir) {
  const { child, match } = await startProcess(
    BIN('fake-github'),
    ['--port', '0', '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET, '--state-dir', join(dir, 'github')],
    {}, /listening on (http:\/\/127\.0\.0\.1:\d+)/, join(dir, 'fake-github.log'));
  const url = match[1];
  const admin = async (method, path, body) => {
    const r = await fetch(url + path, {
      method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return { child, url, admin };
}

/** Starts Sicuro; with `github`, configured for the fake GitHub like a GitHub Enterprise install.
 *  `env` adds or overrides settings (e.g. SICURO_LOG). */
export async function startSicuro(dir, github, { release = false, env: extra = {} } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const data = join(dir, 'sicuro');
  mkdirSync(data, { recursive: true });
  const env = {
    SICURO_LISTEN: `127.0.0.1:${port}`,
    SICURO_PUBLIC_URL: url,
    SICURO_DATA_DIR: data,
    SICURO_SITE_ROOT: join(ROOT, 'target', 'site'),
    SICURO_MAX_CONCURRENT_BUILDS: '3',
    SICURO_LOG: 'info',
    ...extra,
  };
  if (github) {
    Object.assign(env, {
      SICURO_GITHUB_URL: github.url,
      SICURO_GITHUB_API_URL: `${github.url}/api/v3`,
      SICURO_GITHUB_CLIENT_ID: CLIENT_ID,
      SICURO_GITHUB_CLIENT_SECRET: CLIENT_SECRET,
      SICURO_GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // The browser tests sign in as several made-up people.
      SICURO_OPEN: 'true',
    });
  }
  Object.assign(env, extra);
  const log = join(dir, 'sicuro.log');
  const { child } = await startProcess(BIN('sicuro', release), ['serve'], env, /is listening on/, log);
  return { child, url, data, log };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** A temporary directory, removed when the test file's process ends (by then the servers it
 *  started have exited: their output pipes keep the process alive until they do), unless
 *  SICURO_E2E_KEEP=1 keeps it for a look. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `sicuro-e2e-${prefix}-`));
  if (process.env.SICURO_E2E_KEEP !== '1') {
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

/** A git repository on disk with one commit of `files`, for local mode. */
export async function localRepo(dir, name, files) {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
  const git = (...args) => new Promise((ok, fail) => {
    const c = spawn('git', args, { cwd: path, env: { ...process.env, GIT_AUTHOR_NAME: 'Ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'Ada', GIT_COMMITTER_EMAIL: 'ada@example.com' } });
    c.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`git ${args.join(' ')} failed`))));
  });
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-q', '-m', `Add ${name}`);
  return path;
}

/** JSON API calls as a script would make them (no browser cookie, so no CSRF token needed). */
export async function api(base, method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Reads a build's SSE log stream to its end; returns every line. */
export async function readLog(base, buildId) {
  const r = await fetch(`${base}/api/builds/${buildId}/log/stream`);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const lines = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      const event = (block.match(/^event: ?(.*)$/m) || [])[1];
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.replace(/^data: ?/, '')).join('\n');
      if (event === 'lines') lines.push(...JSON.parse(data));
      if (event === 'end') { reader.cancel(); return lines; }
    }
  }
  return lines;
}

/** Waits for a build's log to end without reading its lines (the stream from past its end
 * sends only `end`); returns the end: `{ status, lines }`. */
export async function waitLogEnd(base, buildId) {
  const r = await fetch(`${base}/api/builds/${buildId}/log/stream?after=1000000000000`);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the log of build ${buildId} ended without an end event`);
    buf += dec.decode(value, { stream: true });
    const m = buf.match(/event: ?end\ndata: ?(.*)\n\n/);
    if (m) { reader.cancel(); return JSON.parse(m[1]); }
  }
}

/** Stops the processes the way an operator would (SIGTERM: Sicuro cancels what still runs). */
export function stop(...children) {
  for (const c of children) if (c && c.exitCode === null) c.kill('SIGTERM');
}

/** A TCP proxy in front of `target` whose connections the test can cut, as a flaky network would. */
export function startProxy(targetUrl) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const server = createNetServer((client) => {
    const upstream = connectTcp(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}`,
    /** Cuts every open connection; new ones go through. Returns how many were cut. */
    cutAll() { const n = sockets.size; for (const s of sockets) s.destroy(); return n; },
    close() { for (const s of sockets) s.destroy(); server.close(); },
  })));
}
