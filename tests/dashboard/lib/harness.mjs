// What every dashboard test needs: a real berth server on a throw-away home, the CLI against it,
// the dashboard's one-time link, Debian's chromium through puppeteer-core, screenshots.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..', '..');
export const build = process.env.BERTH_BUILD || path.join(repo, 'build');
export const berth = path.join(build, 'bin', 'berth');
export const output = path.resolve(here, '..', 'output');
mkdirSync(output, { recursive: true });

/// Waits for check() to return a truthy value, polling every `every` ms until the deadline.
export async function until(check, { timeout = 10000, every = 50, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/// One request on the server's Unix socket (the CLI's API): {status, headers, body}.
export function socketRequest(home, method, route, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request({ socketPath: path.join(home, 'berth.sock'), path: route, method,
      headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    if (payload) request.write(payload);
    request.end();
  });
}

/// A TCP request to the dashboard's listener with exactly the headers given.
export function tcpRequest(port, { method = 'GET', path: route = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const length = method === 'GET' ? {} : { 'Content-Length': Buffer.byteLength(body || '') };
    const request = http.request({ host: '127.0.0.1', port, agent: false, path: route, method, headers: { Host: `127.0.0.1:${port}`, ...length, ...headers } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

export class BerthServer {
  static async start(name) {
    const server = new BerthServer();
    server.home = mkdtempSync(path.join(tmpdir(), `berth-dash-${name}-`));
    server.env = { ...process.env, BERTH_HOME: server.home };
    if (!existsSync(berth)) throw new Error(`${berth} does not exist: build berth first (BERTH_BUILD names another build folder)`);
    server.process = spawn(berth, ['serve'], { env: server.env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.log = '';
    server.process.stdout.on('data', (chunk) => { server.log += chunk; });
    server.process.stderr.on('data', (chunk) => { server.log += chunk; });
    server.exited = new Promise((resolve) => server.process.on('exit', resolve));
    await until(async () => (await socketRequest(server.home, 'GET', '/v1/health')).status === 200, { timeout: 20000, what: `berth serve on ${server.home}` })
      .catch((error) => { throw new Error(`${error.message}\nserver output:\n${server.log}`); });
    return server;
  }

  /// Runs the CLI against this server: {code, stdout, stderr}; throws when check and it fails.
  cli(args, { check = true } = {}) {
    return new Promise((resolve, reject) => {
      execFile(berth, args, { env: this.env, timeout: 120000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        if (check && code !== 0) reject(new Error(`berth ${args.join(' ')} failed (${code}): ${stderr}`));
        else resolve({ code, stdout, stderr });
      });
    });
  }

  api(method, route, body) {
    return socketRequest(this.home, method, route, body);
  }

  async workspace(name) {
    const answer = await this.api('GET', `/v1/workspaces/${name}?refresh=false`);
    return answer.status === 200 ? JSON.parse(answer.body) : null;
  }

  /// The one-time link from `berth dashboard --print`: {url, port, token}.
  async dashboardLink() {
    const { stdout } = await this.cli(['dashboard', '--print']);
    const line = stdout.trim().split('\n').pop();
    const url = new URL(line);
    if (url.hostname !== '127.0.0.1' || !url.searchParams.get('token')) throw new Error(`berth dashboard --print printed '${line}', not http://127.0.0.1:PORT/?token=…`);
    return { url: line, port: Number(url.port), token: url.searchParams.get('token'), origin: url.origin };
  }

  /// Signs in over plain HTTP: the cookie header value for later requests.
  async cookie() {
    const link = await this.dashboardLink();
    const answer = await tcpRequest(link.port, { path: `/?token=${link.token}` });
    const setCookie = [].concat(answer.headers['set-cookie'] || []);
    const cookie = setCookie.map((line) => line.split(';')[0]).find((pair) => pair.startsWith('berth_dashboard='));
    if (!cookie) throw new Error(`signing in with the token gave ${answer.status} and no berth_dashboard cookie`);
    return { ...link, cookie };
  }

  async stop() {
    if (this.process.exitCode === null) {
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return puppeteer.launch({
    executablePath: process.env.BERTH_CHROMIUM || '/usr/bin/chromium',
    // --disable-dev-shm-usage: a small /dev/shm (containers) must not crash the renderer. The
    // network flags keep Chromium from reaching for Google's hosts, which this closed network
    // refuses (or lets time out) at every start.
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'],
    defaultViewport: { width: 1280, height: 900 },
  });
}

/// A page signed in through the one-time link, on the workspace list. Collects page errors
/// (CSP violations included) in page.problems.
export async function signIn(browser, server, hash = '#/workspaces') {
  const link = await server.dashboardLink();
  const page = await browser.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused/.test(message.text())) page.problems.push(`csp: ${message.text()}`);
  });
  await page.goto(link.url, { waitUntil: 'domcontentloaded' });
  if (hash !== '#/workspaces') await page.goto(`${link.origin}/${hash}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#main[data-page]', { timeout: 10000 });
  return { page, link };
}

export async function screenshot(page, name) {
  const file = path.join(output, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/// The list page's row state of a workspace ('' when there is no row).
export function rowState(page, name) {
  return page.evaluate((n) => document.querySelector(`#workspaces .row[data-name="${CSS.escape(n)}"]`)?.dataset.state || '', name);
}
