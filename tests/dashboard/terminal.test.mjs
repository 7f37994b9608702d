// 4. A terminal in the browser: xterm.js over the WebSocket bridge. Type a command and read its
// answer from xterm's buffer; resize and read `stty size`; close the page (the socket closes
// without 'q', so the shell is kept a minute) and open the terminal's id again: the output is
// replayed and the shell is the same one (a variable set before is still set).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BerthServer, launchBrowser, signIn, screenshot } from './lib/harness.mjs';

let server;
let browser;
before(async () => {
  server = await BerthServer.start('terminal');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const bufferText = (page) => page.evaluate(() => [...window.berthTerminals.values()][0]?.text() || '');

async function waitForLine(page, pattern, what, timeout = 10000) {
  try {
    await page.waitForFunction((source, flags) => {
      const terminal = [...(window.berthTerminals?.values() || [])][0];
      return terminal && terminal.text().split('\n').some((line) => new RegExp(source, flags).test(line.trim()));
    }, { timeout }, pattern.source, pattern.flags);
  } catch (error) {
    throw new Error(`${what}: no line matching ${pattern} in the terminal within ${timeout} ms; it shows:\n${await bufferText(page).catch(() => '?')}`);
  }
}

async function typeInto(page, text) {
  await page.click('.terminal-panel:not([hidden]) .terminal');
  await page.keyboard.type(text);
}

test('a terminal answers, follows a resize, and re-attaches with a replay after its page closes', async () => {
  await server.cli(['create', 'term-w']);
  const { page, link } = await signIn(browser, server, '#/w/term-w');
  await page.waitForSelector('#terminal-new');
  await page.click('#terminal-new');
  try {
    await page.waitForFunction(() => window.berthTerminals && window.berthTerminals.size === 1, { timeout: 10000 });
  } catch {
    throw new Error(`no terminal came up; alerts: ${await page.$eval('#alerts', (box) => box.innerText)}; problems: ${page.problems.join('; ')}`);
  }
  const id = await page.evaluate(() => [...window.berthTerminals.keys()][0]);
  assert.ok(id, 'the server sent no terminal id');

  await typeInto(page, 'echo $((6*7))\n');
  await waitForLine(page, /^42$/, 'echo $((6*7))');
  await screenshot(page, 'terminal-42');

  // Resize the window: xterm fits, the server is told, the shell sees it.
  const before = await page.evaluate(() => { const t = [...window.berthTerminals.values()][0].term; return [t.rows, t.cols]; });
  await page.setViewport({ width: 760, height: 700 });
  await page.waitForFunction((rows, cols) => { const t = [...window.berthTerminals.values()][0].term; return t.cols !== cols; }, { timeout: 5000 }, ...before);
  const [rows, cols] = await page.evaluate(() => { const t = [...window.berthTerminals.values()][0].term; return [t.rows, t.cols]; });
  assert.notDeepEqual([rows, cols], before, 'the terminal did not change size with the window');
  await typeInto(page, 'stty size\n');
  await waitForLine(page, new RegExp(`^${rows} ${cols}$`), `stty size after the resize to ${rows}x${cols}`);
  await screenshot(page, 'terminal-resized');

  // A variable in this shell, then the page goes away without ending the terminal.
  await typeInto(page, 'MARK=berth$((40+2)); echo set-$MARK\n');
  await waitForLine(page, /^set-berth42$/, 'setting a variable');
  await page.close();

  const again = await browser.newPage();
  again.problems = [];
  again.on('pageerror', (error) => again.problems.push(error.message));
  await again.goto(`${link.origin}/#/w/term-w?terminal=${encodeURIComponent(id)}`, { waitUntil: 'domcontentloaded' });
  await again.waitForFunction((wanted) => window.berthTerminals && window.berthTerminals.has(wanted), { timeout: 10000 }, id);
  const replayed = await again.$eval('.terminal-panel', (panel) => Number(panel.dataset.replayed || 0));
  assert.ok(replayed > 0, `the re-attach replayed ${replayed} bytes`);
  await waitForLine(again, /^42$/, 'the replay of the earlier output');
  await typeInto(again, 'echo again-$MARK\n');
  await waitForLine(again, /^again-berth42$/, 'the same shell after re-attaching');
  await screenshot(again, 'terminal-reattached');

  // Closing its tab ends it: the id no longer re-attaches.
  await again.click('.tab-close');
  await again.waitForFunction(() => window.berthTerminals.size === 0, { timeout: 5000 });
  const third = await browser.newPage();
  await third.goto(`${link.origin}/#/w/term-w?terminal=${encodeURIComponent(id)}`, { waitUntil: 'domcontentloaded' });
  await third.waitForFunction(() => document.querySelector('.terminal-panel')?.dataset.error || document.querySelector('.terminal-panel')?.dataset.exit,
    { timeout: 10000 }).catch(() => { throw new Error('re-attaching to a terminal closed with its tab neither failed nor ended'); });
  assert.deepEqual(again.problems, []);
});
