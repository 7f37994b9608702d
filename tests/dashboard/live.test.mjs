// 2. The list is pushed: a `berth stop` from the CLI changes the row within 2 s, with no reload
// and no polling (the page makes no request to /v1/workspaces after its first load).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BerthServer, launchBrowser, signIn, screenshot, rowState } from './lib/harness.mjs';

let server;
let browser;
before(async () => {
  server = await BerthServer.start('live');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/// Stamps (in the page) the time a row's state first becomes `state` (or, for '!S', leaves S).
function watchRow(page, name, state) {
  return page.evaluate((n, s) => {
    window.__seen = window.__seen || {};
    const check = () => {
      const row = document.querySelector(`#workspaces .row[data-name="${CSS.escape(n)}"]`);
      const hit = row && (s.startsWith('!') ? row.dataset.state !== s.slice(1) : row.dataset.state === s);
      if (hit && !window.__seen[n + s]) window.__seen[n + s] = Date.now();
    };
    new MutationObserver(check).observe(document.querySelector('#workspace-rows'), { subtree: true, attributes: true, childList: true });
    check();
  }, name, state);
}

test('berth stop in a terminal shows in the open list within 2 s, without a reload', async () => {
  await server.cli(['create', 'live-w']);
  await server.cli(['create', 'live-other', '-l', 'team=api']);
  const { page } = await signIn(browser, server);
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });
  assert.equal(await rowState(page, 'live-w'), 'started');
  await page.evaluate(() => { window.__notReloaded = true; });
  const listReads = [];
  page.on('request', (request) => { if (new URL(request.url()).pathname === '/v1/workspaces') listReads.push(request.url()); });
  await watchRow(page, 'live-w', 'stopped');

  const started = Date.now();
  await server.cli(['stop', 'live-w']);
  await page.waitForFunction(() => window.__seen && window.__seen['live-wstopped'], { timeout: 2000 });
  const shown = await page.evaluate(() => window.__seen['live-wstopped']);
  assert.ok(shown - started <= 2000, `the row changed ${shown - started} ms after the CLI started`);
  assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page was reloaded');
  assert.deepEqual(listReads, [], 'the page read the list again instead of being pushed the change');
  assert.equal(await rowState(page, 'live-other'), 'started', 'another row changed too');

  // A workspace made and deleted elsewhere appears and disappears.
  await server.cli(['create', 'live-new']);
  await page.waitForSelector('#workspaces .row[data-name="live-new"]', { timeout: 2000 });
  await server.cli(['delete', 'live-new']);
  await page.waitForFunction(() => !document.querySelector('#workspaces .row[data-name="live-new"]'), { timeout: 2000 });
  assert.deepEqual(page.problems, []);
  await screenshot(page, 'live-list-after-cli-stop');
});

// The private engine ctest starts (tests/docker_fixture.sh) writes "ok unix://…" or why it did
// not start into BERTH_DOCKER_STATUS; BERTH_DOCKER_HOST names another engine. In CI (CI=true) a
// missing engine fails the test; elsewhere it skips, saying why.
function dockerEngine() {
  if (process.env.BERTH_DOCKER_HOST) return { host: process.env.BERTH_DOCKER_HOST };
  const statusFile = process.env.BERTH_DOCKER_STATUS;
  if (!statusFile) return { why: 'no Docker engine for this test: run it from ctest (the private engine) or set BERTH_DOCKER_HOST' };
  let status = '';
  try {
    status = readFileSync(statusFile, 'utf8').trim();
  } catch (error) {
    return { why: `the private Docker engine's status (${statusFile}) cannot be read: ${error.message}` };
  }
  return status.startsWith('ok ') ? { host: status.slice(3) } : { why: status };
}
const engine = dockerEngine();
const inCi = process.env.CI === 'true';

test('a docker kill behind berth\'s back shows in the list', { skip: !engine.host && !inCi && engine.why }, async () => {
  assert.ok(engine.host, `CI needs the Docker engine: ${engine.why}`);
  const host = engine.host;
  const image = process.env.BERTH_DOCKER_IMAGE || 'berth-test:busybox';
  await server.api('POST', '/v1/targets', { yaml: `name: dash-docker\nprovider: docker\nproperties:\n  host: ${host}\n  image: ${image}\n  pull: never\n  network: none\n  stop_timeout: "1"\n`, source: 'test' });
  await server.cli(['create', 'live-docker', '-t', 'dash-docker', '--no-devcontainer']);
  const record = await server.workspace('live-docker');
  const container = record.provider_data.container_id || record.provider_data.container || record.provider_data.id;
  assert.ok(container, `no container id in provider_data: ${JSON.stringify(record.provider_data)}`);
  const { page } = await signIn(browser, server);
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });
  await watchRow(page, 'live-docker', '!started'); // stopped, or error: whatever the provider's watch saw
  const started = Date.now();
  await new Promise((resolve, reject) => execFile('docker', ['-H', host, 'kill', container], (error) => (error ? reject(error) : resolve())));
  await page.waitForFunction(() => window.__seen && window.__seen['live-docker!started'], { timeout: 5000 });
  const shown = await page.evaluate(() => window.__seen['live-docker!started']);
  assert.ok(shown - started <= 2000, `the row changed ${shown - started} ms after docker kill`);
  await screenshot(page, 'live-list-after-docker-kill');
  await server.cli(['delete', 'live-docker', '--force'], { check: false });
});
