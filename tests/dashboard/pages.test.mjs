// 7. Every page drawn in the browser against a real server, saved under output/ for a person to
// look at; each page must show what it is for and break no CSP rule.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BerthServer, launchBrowser, signIn, screenshot } from './lib/harness.mjs';

let server;
let browser;
let page;
let link;
before(async () => {
  server = await BerthServer.start('pages');
  await server.cli(['create', 'api', '-l', 'team=api', '-e', 'API_TOKEN=s3cret']);
  await server.cli(['create', 'web', '-l', 'team=web']);
  await server.cli(['create', 'batch']);
  await server.cli(['stop', 'batch']);
  browser = await launchBrowser();
  ({ page, link } = await signIn(browser, server));
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(hash, ready) {
  await page.goto(`${link.origin}/${hash}`, { waitUntil: 'domcontentloaded' });
  try {
    await page.waitForFunction(ready, { timeout: 10000 });
  } catch (error) {
    const shown = await page.evaluate(() => `${location.hash} page=${document.querySelector("#main").dataset.page}: ${document.querySelector("#main").innerHTML.slice(0, 400)} alerts: ${document.querySelector("#alerts").innerText}`);
    throw new Error(`${hash} did not become ready: ${error.message}; the page shows ${shown}`);
  }
}

const alerts = () => page.$eval('#alerts', (box) => box.innerText.trim());

test('workspaces page (light, dark, narrow)', async () => {
  await open('#/workspaces', () => document.querySelector('#main')?.dataset.ready === 'true');
  assert.equal(await page.$$eval('#workspaces .row[data-name]', (rows) => rows.length), 3);
  assert.equal(await alerts(), '');
  // Filters, favourites (kept in the browser across a reload), sort.
  await page.type('#filter-label', 'team=api');
  const shown = () => page.$$eval('#workspaces .row[data-name]:not([hidden])', (rows) => rows.map((row) => row.dataset.name));
  assert.deepEqual(await shown(), ['api']);
  await page.click('#filter-label', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.select('#filter-state', 'stopped');
  assert.deepEqual(await shown(), ['batch']);
  await page.select('#filter-state', '');
  await page.click('#workspaces .row[data-name="web"] button.star');
  assert.deepEqual(await shown(), ['web', 'api', 'batch'], 'a favourite is not listed first');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });
  assert.deepEqual(await shown(), ['web', 'api', 'batch'], 'the favourite is forgotten after a reload');
  assert.equal(await page.$eval('#workspaces .row[data-name="web"] button.star', (star) => star.getAttribute('aria-pressed')), 'true');
  await page.click('#workspaces [data-key="state"] button.sort');
  assert.deepEqual(await shown(), ['web', 'api', 'batch'], 'sorting by state (favourite first, then started before stopped)');
  await screenshot(page, 'page-workspaces');
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(background, 'rgb(255, 255, 255)', 'dark mode leaves a white page');
  await screenshot(page, 'page-workspaces-dark');
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  await page.setViewport({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the narrow page scrolls sideways by ${overflow} px`);
  await screenshot(page, 'page-workspaces-narrow');
  await page.setViewport({ width: 1280, height: 900 });
});

test('create page', async () => {
  await open('#/create', () => document.querySelector('#target-details table'));
  assert.match(await page.$eval('#target-details', (box) => box.innerText), /shell/);
  await screenshot(page, 'page-create');
});

test('workspace page', async () => {
  await open('#/w/api', () => document.querySelector('#record dl') && document.querySelector('#log pre').textContent.includes('create done'));
  assert.ok(!(await page.$eval('#record', (box) => box.innerText)).includes('s3cret'), 'an env value shows unmasked');
  await screenshot(page, 'page-workspace');
});

test('targets page, with an add that fails on a line', async () => {
  await open('#/targets', () => document.querySelector('#targets tbody tr'));
  await page.type('#target-yaml', 'name: broken\nprovider: docker\nproperties:\n  pull: sometimes\n');
  await page.click('#target-add button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#target-add-error').textContent.length > 0, { timeout: 5000 });
  const error = await page.$eval('#target-add-error', (box) => box.innerText);
  assert.match(error, /pull|sometimes/, `the error does not name the bad property: ${error}`);
  await screenshot(page, 'page-targets');
});

test('providers page', async () => {
  await open('#/providers', () => document.querySelector('#providers tbody tr'));
  assert.match(await page.$eval('#providers', (table) => table.innerText), /host/);
  await page.click('#providers tr[data-name="host"] button[data-action="logs"]');
  await page.waitForFunction(() => !document.querySelector('#providers tr[data-name="host"]').nextElementSibling.querySelector('pre').hidden, { timeout: 5000 });
  await screenshot(page, 'page-providers');
});

test('plugins page', async () => {
  await open('#/plugins', () => document.querySelector('#plugin-list')?.childElementCount > 0 || document.querySelector('#alerts')?.childElementCount > 0);
  assert.equal(await alerts(), '', 'the plugins page shows an error');
  await screenshot(page, 'page-plugins');
  // Disable a plugin and enable it again: the row follows, and the server's list says so.
  const stateOf = () => page.$eval('#plugins tr[data-name="doctor"]', (row) => row.dataset.state);
  assert.equal(await stateOf(), 'enabled');
  await page.click('#plugins tr[data-name="doctor"] button[data-action="disable"]');
  await page.waitForFunction(() => document.querySelector('#plugins tr[data-name="doctor"]')?.dataset.state === 'disabled', { timeout: 5000 });
  const listed = JSON.parse((await server.api('GET', '/v1/plugins')).body).find((plugin) => plugin.name === 'doctor');
  assert.equal(listed.state, 'disabled');
  await page.click('#plugins tr[data-name="doctor"] button[data-action="enable"]');
  await page.waitForFunction(() => document.querySelector('#plugins tr[data-name="doctor"]')?.dataset.state === 'enabled', { timeout: 5000 });
});

test('server page', async () => {
  await open('#/server', () => document.querySelector('#server-facts dl') || document.querySelector('#alerts')?.childElementCount > 0);
  assert.equal(await alerts(), '', 'the server page shows an error');
  const facts = await page.$eval('#server-facts', (box) => box.innerText);
  assert.ok(facts.includes(server.home), `the server page does not show the home ${server.home}: ${facts}`);
  await page.waitForSelector('#apikey-name', { timeout: 5000 });
  await page.type('#apikey-name', 'ci');
  await page.click('#api-keys button[type=submit]');
  await page.waitForSelector('#apikey-created code.key', { timeout: 5000 });
  assert.ok((await page.$eval('#apikey-created code.key', (code) => code.textContent)).length >= 16, 'no key shown');
  await screenshot(page, 'page-server');
  assert.deepEqual(page.problems, [], 'a page broke the CSP or threw');
});
