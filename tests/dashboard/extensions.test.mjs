// Issue 25: plugins' pages on the dashboard — the example extension (examples/plugin-glance)
// renders real data in its tab, workspace tab, widget and row action, within its permissions;
// a call outside them is refused by the server (403 naming the permission), shown as a notice
// and written to the plugin's log; a hostile frame reaches nothing of the dashboard.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BerthServer, launchBrowser, signIn, screenshot, until, repo, build, tcpRequest } from './lib/harness.mjs';

let server;
let browser;
let page;
let link;

function install(name, manifest, folder) {
  const plugins = path.join(server.home, 'plugins');
  mkdirSync(plugins, { recursive: true, mode: 0o700 });
  // The CLI side is not what these tests look at: berth's test plugin stands in for the library.
  copyFileSync(path.join(build, 'tests', 'plugins', 'test_plugin.so'), path.join(plugins, `${name}.so`));
  copyFileSync(manifest, path.join(plugins, `${name}.yaml`));
  cpSync(folder, path.join(plugins, name), { recursive: true });
}

before(async () => {
  server = await BerthServer.start('extensions');
  await server.cli(['create', 'api']);
  const example = path.join(repo, 'examples', 'plugin-glance');
  install('glance', path.join(example, 'glance.yaml'), path.join(example, 'glance'));
  copyFileSync(path.join(build, 'tests', 'plugins', 'glance-service'), path.join(server.home, 'plugins', 'glance', 'bin', 'glance-service'));
  const fixtures = path.join(repo, 'tests', 'dashboard', 'fixtures');
  install('evil', path.join(fixtures, 'evil.yaml'), path.join(fixtures, 'evil'));
  await server.cli(['plugin', 'enable', 'glance', '--yes']);
  await server.cli(['plugin', 'enable', 'evil', '--yes']);
  browser = await launchBrowser();
  ({ page, link } = await signIn(browser, server));
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function frameOf(plugin, view) {
  const handle = await page.waitForSelector(`iframe.plugin-frame[data-plugin="${plugin}"][data-view="${view}"]`, { timeout: 20000 });
  const frame = await handle.contentFrame();
  assert.ok(frame, `the ${view} frame of ${plugin} has content`);
  return frame;
}

// Waits for fn to hold in the plugin's frame as it is now: the page may render its frames again
// (the plugin list arriving, a route settling), and a wait on a frame it replaced never ends.
async function waitInFrame(plugin, view, fn, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const frame = await frameOf(plugin, view);
    try {
      await frame.waitForFunction(fn, { timeout: Math.max(100, Math.min(2000, deadline - Date.now())) });
      return frame;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
  }
}

const toasts = () => page.$$eval('#toasts .toast', (items) => items.map((item) => item.textContent));

test('the example extension: its tab, widget, workspace tab and row action show real data', async () => {
  // The tab is in the navigation and renders the server's data through the bridge.
  await page.goto(`${link.origin}/#/ext/glance`, { waitUntil: 'domcontentloaded' });
  assert.equal(await page.$eval('#nav a[data-route="ext-glance"]', (a) => a.textContent), 'Glance');
  await page.waitForFunction(() => document.querySelector('#nav a[data-route="ext-glance"] img.nav-icon')?.naturalWidth > 0, { timeout: 20000 });
  // Its menu entry: an outside link, in a tab of its own that cannot reach the dashboard.
  const menu = await page.$eval('#nav a.external', (a) => ({ href: a.href, target: a.target, rel: a.rel, text: a.textContent }));
  assert.deepEqual(menu, { href: 'https://www.kernel.org/doc/html/latest/filesystems/proc.html', target: '_blank', rel: 'noopener noreferrer', text: 'About load averages ↗' });
  const tab = await waitInFrame('glance', 'tab', () => document.querySelector('#states li[data-state]'));
  assert.equal(await tab.$eval('#states', (list) => list.textContent.trim()), 'started: 1');
  await tab.waitForFunction(() => /used of/.test(document.querySelector('#disk').textContent), { timeout: 20000 });
  // The machine's load comes from glance's service, which berth started on this first use.
  await tab.waitForFunction(() => /^load [0-9.]+ [0-9.]+ [0-9.]+, up /.test(document.querySelector('#load').textContent), { timeout: 20000 });
  await screenshot(page, 'extension-tab');

  // The home widget.
  await page.goto(`${link.origin}/#/workspaces`, { waitUntil: 'domcontentloaded' });
  await waitInFrame('glance', 'widget', () => document.querySelector('#summary').textContent === '1 started');
  await screenshot(page, 'extension-widget');

  // The workspace tab gets the workspace's name; the row action runs the host binary for it.
  await page.goto(`${link.origin}/#/w/api`, { waitUntil: 'domcontentloaded' });
  const workspaceTab = await waitInFrame('glance', 'workspace', () => document.querySelectorAll('#record dd').length >= 3);
  const record = await workspaceTab.$$eval('#record dd', (cells) => cells.map((cell) => cell.textContent));
  assert.equal(record[0], 'api');
  assert.equal(record[2], 'host');
  // A command in the workspace, through the bridge (glance asks for workspaces:exec).
  await workspaceTab.waitForFunction(() => /^workspace disk: .+ used of /.test(document.querySelector('#workspace-disk')?.textContent || ''), { timeout: 20000 });
  await page.click('button.extension-action[data-plugin="glance"]');
  await until(async () => (await toasts()).some((text) => /^Disk use \(api\): api: host disk .* used of /.test(text)), { what: 'the row action\'s notice' });
  await screenshot(page, 'extension-workspace-tab');
});

test('a call outside the plugin\'s permissions: 403 naming it, a notice, and the plugin\'s log', async () => {
  await page.goto(`${link.origin}/#/ext/glance`, { waitUntil: 'domcontentloaded' });
  const tab = await frameOf('glance', 'tab');
  await tab.waitForSelector('#try-write');
  await tab.click('#try-write');
  await tab.waitForFunction(() => /refused as it should be/.test(document.querySelector('#write-result').textContent), { timeout: 20000 });
  assert.match(await tab.$eval('#write-result', (p) => p.textContent), /plugin 'glance' needs the permission 'workspaces:write'/);
  await until(async () => (await toasts()).some((text) => /glance: .*needs the permission 'workspaces:write'/.test(text)), { what: 'the refusal\'s notice' });
  await screenshot(page, 'extension-refused');
  const log = JSON.parse((await server.api('GET', '/v1/plugins/glance/log')).body);
  assert.ok(log.lines.some((line) => /refused POST \/v1\/workspaces\/api\/stop: needs permission workspaces:write/.test(line)), log.lines.join('\n'));
  assert.equal((await server.workspace('api')).state, 'started');
});

test('a hostile frame reaches neither the dashboard\'s page, cookie, storage nor API', async () => {
  await page.evaluate(() => localStorage.setItem('berth.favourites', '["api"]'));
  await page.goto(`${link.origin}/#/ext/evil`, { waitUntil: 'domcontentloaded' });
  const frame = await frameOf('evil', 'tab');
  await frame.waitForFunction(() => document.body.dataset.done === 'true', { timeout: 15000 });
  const results = JSON.parse(await frame.$eval('#results', (pre) => pre.textContent));
  console.log('what the hostile frame got:', JSON.stringify(results, null, 1));
  assert.equal(results.parentDocument.ok, false, 'parent.document');
  assert.match(results.parentDocument.error, /SecurityError/);
  assert.equal(results.topLocation.ok, false, 'top.location.href');
  assert.equal(results.cookie.ok, false, 'document.cookie');
  assert.equal(results.localStorage.ok, false, 'localStorage');
  assert.equal(results.origin.value, 'null', 'an opaque origin');
  assert.equal(results.fetchWorkspaces.ok, false, 'fetch(/v1/workspaces)');
  assert.equal(results.fetchAbsolute.ok, false, 'fetch(origin/v1/workspaces)');
  assert.equal(results.bridgeList.ok, true, 'within its permissions');
  assert.equal(results.bridgeList.value, '1');
  assert.equal(results.bridgeStop.ok, false);
  assert.match(results.bridgeStop.error, /needs the permission 'workspaces:write'/);
  assert.equal(results.bridgeExec.ok, false);
  assert.match(results.bridgeExec.error, /needs the permission 'workspaces:exec'/);
  assert.equal(results.bridgeKeys.ok, false);
  assert.match(results.bridgeKeys.error, /not open to plugins/);
  assert.equal(results.bridgeUnknown.ok, false);
  assert.match(results.bridgeUnknown.error, /the bridge has no 'apikeys.create'/);
  assert.equal((await server.workspace('api')).state, 'started');
  await screenshot(page, 'extension-hostile');

  // Opened directly, a plugin's page is still sandboxed by its own CSP, and loads no secret.
  const direct = await tcpRequest(link.port, { path: '/plugins/evil/ui/index.html', headers: { Host: `127.0.0.1:${link.port}` } });
  assert.equal(direct.status, 200);
  assert.match(direct.headers['content-security-policy'], /^sandbox allow-scripts; default-src 'none';.*connect-src 'none'/);
  const escape = await tcpRequest(link.port, { path: '/plugins/evil/ui/..%2F..%2Fevil.yaml', headers: { Host: `127.0.0.1:${link.port}` } });
  assert.equal(escape.status, 404);
});

test('the Plugins page shows what each plugin asks for, its grant, its service and its log', async () => {
  await page.goto(`${link.origin}/#/plugins`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#plugins tr[data-name="glance"]', { timeout: 20000 });
  const permissions = await page.$$eval('#plugins tr[data-name="glance"] ul.permissions li', (items) =>
    items.map((item) => `${item.dataset.permission}=${item.dataset.granted}`));
  assert.deepEqual(permissions.sort(), ['host-binaries=true', 'workspaces:exec=true', 'workspaces:read=true']);
  // The tab's first use started glance's service.
  assert.equal(await page.$eval('#plugins tr[data-name="glance"] .service', (div) => div.dataset.state), 'running');
  assert.match(await page.$eval('#plugins tr[data-name="glance"] .job[data-job="disk-report"]', (div) => div.textContent), /0 \* \* \* \*, off/);
  assert.match(await page.$eval('#plugins tr[data-name="glance"] .plugin-log pre', (pre) => pre.textContent), /service listening on/);
  await screenshot(page, 'extension-plugins-page');
});
