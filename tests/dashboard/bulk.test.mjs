// 5. Several at once: stop three workspaces from the list; delete asks first, naming them, and a
// cancel sends nothing and keeps them; a confirmed delete removes them.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BerthServer, launchBrowser, signIn, screenshot, rowState, until } from './lib/harness.mjs';

let server;
let browser;
before(async () => {
  server = await BerthServer.start('bulk');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const NAMES = ['bulk-a', 'bulk-b', 'bulk-c'];

async function select(page, names) {
  for (const name of names) {
    const box = await page.$(`#workspaces .row[data-name="${name}"] input.pick`);
    if (!(await box.evaluate((input) => input.checked))) await box.click();
  }
  await page.waitForFunction((count) => document.querySelector('#selection-count').textContent === `${count} selected`, { timeout: 2000 }, names.length);
}

test('bulk stop of three workspaces; delete asks first and cancel keeps them', async () => {
  for (const name of [...NAMES, 'bulk-keep']) await server.cli(['create', name]);
  const { page } = await signIn(browser, server);
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });
  const bulkRequests = [];
  page.on('request', (request) => { if (request.url().includes('/v1/bulk/')) bulkRequests.push(`${request.method()} ${new URL(request.url()).pathname} ${request.postData()}`); });

  await select(page, NAMES);
  await page.click('button.bulk[data-action="stop"]');
  await page.waitForFunction((names) => names.every((name) => document.querySelector(`#workspaces .row[data-name="${name}"]`)?.dataset.state === 'stopped'),
    { timeout: 10000 }, NAMES);
  for (const name of NAMES) assert.equal((await server.workspace(name)).state, 'stopped', `${name} is not stopped on the server`);
  assert.equal((await server.workspace('bulk-keep')).state, 'started', 'an unselected workspace was stopped');
  assert.equal(bulkRequests.length, 1, `expected one bulk request, saw ${bulkRequests.join('; ')}`);
  assert.match(bulkRequests[0], /^POST \/v1\/bulk\/stop /);
  assert.deepEqual(JSON.parse(bulkRequests[0].split(' ').slice(2).join(' ')).workspaces.sort(), NAMES);
  await screenshot(page, 'bulk-after-stop');

  // Delete: the dialog names each workspace; cancel sends nothing.
  await page.click('button.bulk[data-action="delete"]');
  await page.waitForSelector('dialog#confirm[open]', { timeout: 2000 });
  const question = await page.$eval('dialog#confirm', (dialog) => dialog.innerText);
  for (const name of NAMES) assert.ok(question.includes(name), `the confirmation does not name ${name}: ${question}`);
  assert.ok(!question.includes('bulk-keep'), 'the confirmation names an unselected workspace');
  assert.match(question, /removes/i, 'the confirmation does not say what is removed');
  await screenshot(page, 'bulk-delete-confirmation');
  await page.click('#confirm-cancel');
  await page.waitForFunction(() => !document.querySelector('dialog#confirm').open, { timeout: 2000 });
  assert.equal(bulkRequests.length, 1, `cancel sent a request: ${bulkRequests.join('; ')}`);
  for (const name of NAMES) {
    assert.ok(await server.workspace(name), `${name} was deleted after a cancel`);
    assert.equal(await rowState(page, name), 'stopped');
  }

  // Confirmed: the rows go as the deletes end.
  await page.click('button.bulk[data-action="delete"]');
  await page.waitForSelector('dialog#confirm[open]', { timeout: 2000 });
  await page.click('#confirm-ok');
  await page.waitForFunction((names) => names.every((name) => !document.querySelector(`#workspaces .row[data-name="${name}"]`)), { timeout: 15000 }, NAMES);
  await until(async () => {
    for (const name of NAMES) if (await server.workspace(name)) return false;
    return true;
  }, { timeout: 15000, what: 'the deletes on the server' });
  assert.ok(await server.workspace('bulk-keep'), 'an unselected workspace was deleted');
  assert.deepEqual(page.problems, []);
  await screenshot(page, 'bulk-after-delete');
});
