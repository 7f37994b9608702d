// 3. Create from the UI with the host provider; the log streams on the page; a reload in the
// middle of the create shows each line once. The create is held in the middle by its repository:
// a git server in this test that answers only when the test lets it, so the reload surely falls
// while the operation runs (the server still says 'creating', no outcome yet).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BerthServer, launchBrowser, signIn, screenshot } from './lib/harness.mjs';

let server;
let browser;
let gitRoot;
let gitServer;
let release;
const held = new Promise((resolve) => { release = resolve; });
let firstRequest;
const requested = new Promise((resolve) => { firstRequest = resolve; });

before(async () => {
  // A bare repository served over git's "dumb" HTTP protocol (plain files).
  gitRoot = mkdtempSync(path.join(tmpdir(), 'berth-dash-git-'));
  const work = path.join(gitRoot, 'work');
  const git = (args, cwd) => execFileSync('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  git(['init', '-q', '-b', 'main', work]);
  execFileSync('sh', ['-c', 'echo hello > README && mkdir src && echo x > src/a'], { cwd: work });
  git(['add', '.'], work);
  git(['commit', '-qm', 'first'], work);
  git(['clone', '-q', '--bare', work, path.join(gitRoot, 'repo.git')]);
  git(['update-server-info'], path.join(gitRoot, 'repo.git'));
  gitServer = http.createServer(async (request, response) => {
    firstRequest();
    await held;
    const file = path.join(gitRoot, decodeURIComponent(new URL(request.url, 'http://x').pathname));
    if (!file.startsWith(gitRoot) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  await new Promise((resolve) => gitServer.listen(0, '127.0.0.1', resolve));
  server = await BerthServer.start('create');
  browser = await launchBrowser();
});
after(async () => {
  release();
  await browser?.close();
  await server?.stop();
  gitServer?.close();
  if (gitRoot) rmSync(gitRoot, { recursive: true, force: true });
});

const logText = (page) => page.$eval('#create-log pre.log', (pre) => pre.textContent);

test('create from the page; the log streams; a reload mid-create shows each line once', async () => {
  const repository = `http://127.0.0.1:${gitServer.address().port}/repo.git`;
  const { page, link } = await signIn(browser, server, '#/create');
  await page.waitForSelector('#create-target option');
  await page.type('#create-name', 'made-in-ui');
  await page.type('#create-repository', repository);
  await page.type('#create-env', 'API_TOKEN=s3cret\nMODE=dev');
  await page.type('#create-labels', 'team=web');
  await page.click('input[name=devcontainer][value=none]');
  await screenshot(page, 'create-form');
  await page.click('#create-submit');

  // The log streams while the clone is held.
  await page.waitForFunction((repo) => document.querySelector('#create-log pre.log')?.textContent.includes(`cloning ${repo}`), { timeout: 10000 }, repository)
    .catch(async (error) => { await screenshot(page, 'create-failed'); throw new Error(`no 'cloning' line in the page's log: ${await logText(page).catch(() => '(none)')}; alerts: ${await page.$eval('#alerts', (a) => a.innerText)}`); });
  await requested;
  const before = await logText(page);
  assert.equal((await server.workspace('made-in-ui')).state, 'creating', 'the create is not running at the reload');
  assert.equal(await page.$eval('#create-outcome', (box) => box.textContent.includes('is started')), false);
  await screenshot(page, 'create-streaming');

  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForFunction((text) => document.querySelector('#create-log pre.log')?.textContent.startsWith(text), { timeout: 10000 }, before);
  assert.equal((await server.workspace('made-in-ui')).state, 'creating', 'the create ended before the page came back');

  release();
  await page.waitForFunction(() => /is started/.test(document.querySelector('#create-outcome')?.textContent || ''), { timeout: 30000 });
  const shown = (await logText(page)).split('\n').filter(Boolean);
  const onServer = (await server.api('GET', '/v1/workspaces/made-in-ui/logs')).body.split('\n').filter(Boolean);
  assert.deepEqual(shown, onServer, 'the page\'s log is not the server\'s log line for line (a line repeated or lost)');
  assert.equal(shown.filter((line) => line.includes(`cloning ${repository}`)).length, 1, 'the line before the reload shows twice');
  assert.ok(shown.length > 2, `too few lines to say anything: ${shown.join(' | ')}`);
  await screenshot(page, 'create-done');

  const record = await server.workspace('made-in-ui');
  assert.equal(record.state, 'started');
  assert.equal(record.repository, repository);
  assert.deepEqual(record.labels, { team: 'web' });
  assert.equal(record.env.API_TOKEN, 's3cret');
  assert.equal(record.options.no_devcontainer, 'true');

  // The workspace page masks the env values until asked.
  await page.goto(`${link.origin}/#/w/made-in-ui`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#record table.kv');
  const masked = await page.$eval('#record', (box) => box.innerText);
  assert.ok(!masked.includes('s3cret'), 'an env value is shown unmasked');
  await page.click('button[aria-label="Reveal API_TOKEN"]');
  assert.ok((await page.$eval('#record', (box) => box.innerText)).includes('s3cret'), 'reveal does not show the value');
  assert.deepEqual(page.problems, []);
});
