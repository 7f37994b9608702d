// 1. Sign-in: the one-time token becomes an HttpOnly, SameSite=Strict cookie, the address bar
// loses the token, a reload stays signed in, and the same token a second time is refused.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BerthServer, launchBrowser, screenshot, tcpRequest } from './lib/harness.mjs';

let server;
let browser;
before(async () => {
  server = await BerthServer.start('login');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the token signs in once, leaves the address bar, and a reload keeps the session', async () => {
  await server.cli(['create', 'login-one']);
  const link = await server.dashboardLink();
  const page = await browser.newPage();
  await page.goto(link.url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });

  const address = new URL(page.url());
  assert.equal(address.searchParams.get('token'), null, `the token is still in the address: ${page.url()}`);
  assert.ok(!page.url().includes(link.token), 'the token appears in the address');
  assert.equal(address.origin, link.origin);

  const cookies = await page.cookies();
  const session = cookies.find((cookie) => cookie.name === 'berth_dashboard');
  assert.ok(session, `no berth_dashboard cookie; cookies: ${cookies.map((c) => c.name).join(', ')}`);
  assert.equal(session.httpOnly, true, 'the session cookie must be HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie must be SameSite=Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('berth_dashboard')), false, 'scripts can read the session cookie');
  assert.match(await page.$eval('#workspaces', (table) => table.textContent), /login-one/);
  await screenshot(page, 'login-after-sign-in');

  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 10000 });
  assert.match(await page.$eval('#workspaces', (table) => table.textContent), /login-one/, 'after a reload the list is shown');

  const again = await tcpRequest(link.port, { path: `/?token=${link.token}` });
  assert.equal(again.status, 401, `the used token gave ${again.status}, not 401`);
  assert.equal([].concat(again.headers['set-cookie'] || []).length, 0, 'a used token still sets a cookie');

  // The same refusal in a browser that has no cookie: the page says how to get a link.
  const context = await browser.createBrowserContext();
  const stranger = await context.newPage();
  const response = await stranger.goto(link.url, { waitUntil: 'domcontentloaded' });
  assert.equal(response.status(), 401);
  assert.match(await stranger.evaluate(() => document.body.innerText), /berth dashboard/);
  await screenshot(stranger, 'login-token-used-401');
  await context.close();
});
