#!/usr/bin/env node
// The dashboard's numbers (issue 24), against a real berth server on a throw-away home with the
// host provider, in Debian's headless chromium:
//   1. first paint of the workspace list with 1,000 workspaces (p50/p99 over --runs cold loads),
//      and the bytes the list page transfers, xterm.js excluded;
//   2. change-to-screen: CLI `berth stop`/`start` started -> the row shows the new state (p50);
//   3. terminal keystroke echo: a key sent on the dashboard's WebSocket -> its echo back, beside
//      the same through `berth ssh` (under script(1) for a pty);
//   4. server RSS idle, then with the list open on 1,000 workspaces and a terminal (measured
//      first, before the other phases' operations), and after all phases.
// Usage: node bench/dashboard/bench.mjs [--workspaces 1000] [--runs 20] [--changes 20] [--keys 50]
// Needs: a build (BERTH_BUILD, default <repo>/build) and `npm ci` in tests/dashboard.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { BerthServer, launchBrowser, until } from '../../tests/dashboard/lib/harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const WORKSPACES = option('workspaces', 1000);
const RUNS = option('runs', 20);
const CHANGES = option('changes', 20);
const KEYS = option('keys', 50);

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
const fmt = (value) => `${value.toFixed(1)} ms`;
const range = (values) => `range ${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function makeWorkspaces(server) {
  const names = Array.from({ length: WORKSPACES }, (_, index) => `bench-${String(index).padStart(4, '0')}`);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++];
      const answer = await server.api('POST', '/v1/workspaces', { name, labels: { team: ['api', 'web', 'data'][next % 3] } });
      if (answer.status >= 300) throw new Error(`create ${name}: ${answer.status} ${answer.body}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await until(async () => {
    const list = JSON.parse((await server.api('GET', '/v1/workspaces?fields=name,state')).body);
    return list.length === WORKSPACES && list.every((w) => w.state === 'started');
  }, { timeout: 600000, every: 500, what: `${WORKSPACES} started workspaces` });
  return names;
}

async function firstPaint(browser, origin) {
  const paints = [];
  const fcps = [];
  let bytes = 0;
  let byteList = '';
  for (let run = 0; run < RUNS; run++) {
    const page = await browser.newPage();
    await page.setCacheEnabled(false);
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    const sizes = new Map();
    const urls = new Map();
    cdp.on('Network.requestWillBeSent', (event) => urls.set(event.requestId, event.request.url));
    cdp.on('Network.dataReceived', (event) => sizes.set(event.requestId, (sizes.get(event.requestId) || 0) + event.encodedDataLength));
    cdp.on('Network.loadingFinished', (event) => sizes.set(event.requestId, Math.max(sizes.get(event.requestId) || 0, event.encodedDataLength)));
    await page.goto(`${origin}/#/workspaces`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction((count) => document.querySelector('#main')?.dataset.ready === 'true' && document.querySelectorAll('#workspaces .row[data-name]').length === count,
      { timeout: 30000 }, WORKSPACES);
    const [painted, fcp] = await page.evaluate(() => [
      performance.getEntriesByName('berth:list-painted')[0].startTime,
      performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    ]);
    paints.push(painted);
    fcps.push(fcp);
    if (run === RUNS - 1) {
      const parts = [];
      for (const [id, size] of sizes) {
        const url = urls.get(id) || '';
        if (url.includes('/vendor/xterm/')) continue;
        bytes += size;
        parts.push(`${new URL(url).pathname}${new URL(url).search ? '?…' : ''} ${size}`);
      }
      byteList = parts.join(', ');
    }
    await page.close();
  }
  return { paints, fcps, bytes, byteList };
}

async function changeToScreen(browser, origin, server, name) {
  const page = await browser.newPage();
  await page.goto(`${origin}/#/workspaces`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 30000 });
  await page.evaluate((n) => {
    window.__changes = [];
    const row = document.querySelector(`#workspaces .row[data-name="${n}"]`);
    new MutationObserver(() => window.__changes.push([row.dataset.state, Date.now()])).observe(row, { attributes: true, attributeFilter: ['data-state'] });
  }, name);
  const latencies = [];
  const cliTimes = [];
  for (let run = 0; run < CHANGES; run++) {
    const action = run % 2 === 0 ? 'stop' : 'start';
    const wanted = action === 'stop' ? 'stopped' : 'started';
    await page.evaluate(() => { window.__changes.length = 0; });
    const started = Date.now();
    await server.cli([action, name]);
    cliTimes.push(Date.now() - started);
    await page.waitForFunction((state) => window.__changes.some(([s]) => s === state), { timeout: 5000 }, wanted);
    const shown = await page.evaluate((state) => window.__changes.find(([s]) => s === state)[1], wanted);
    latencies.push(shown - started);
  }
  await page.close();
  return { latencies, cliTimes };
}

async function dashboardEcho(browser, origin, name) {
  const page = await browser.newPage();
  await page.goto(`${origin}/#/w/${name}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#terminal-new');
  await page.click('#terminal-new');
  await page.waitForFunction(() => window.berthTerminals && window.berthTerminals.size === 1, { timeout: 15000 });
  await page.waitForFunction(() => [...window.berthTerminals.values()][0].received.o > 0, { timeout: 15000 }); // the prompt
  const times = await page.evaluate(async (count) => {
    const session = [...window.berthTerminals.values()][0];
    const original = session.receive.bind(session);
    let waiting = null;
    session.receive = (bytes) => {
      original(bytes);
      if (waiting && bytes[0] === 0x6f && new TextDecoder().decode(bytes.subarray(1)).includes(waiting.char)) {
        const done = waiting;
        waiting = null;
        done.resolve(performance.now());
      }
    };
    const results = [];
    for (let index = 0; index < count; index++) {
      const char = String.fromCharCode(97 + (index % 26));
      const echoed = new Promise((resolve) => { waiting = { char, resolve }; });
      const sent = performance.now();
      session.send('i', char);
      results.push((await echoed) - sent);
    }
    session.send('i', '\u0015'); // clear the line
    return results;
  }, KEYS);
  return { times, page };
}

// The same keystroke echo over the dashboard's WebSocket from a plain client (node's net, RFC
// 6455 framing by hand): the server's share of the echo, without the browser's own hops
// (renderer -> network process -> socket and back, then xterm's parse).
function rawWebSocketEcho(origin, cookie, name) {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(origin);
    const socket = net.connect(Number(port), hostname);
    socket.setNoDelay(true);
    const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('base64');
    socket.write(`GET /v1/workspaces/${name}/terminal?rows=24&cols=80 HTTP/1.1\r\nHost: ${hostname}:${port}\r\nOrigin: ${origin}\r\n` +
      `Cookie: ${cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let waiting = null;
    let prompt = false;
    const frame = (payload) => {
      const mask = Buffer.from([1, 2, 3, 4]);
      const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]));
      return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]);
    };
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buffer.subarray(0, 12).toString().includes('101')) return reject(new Error(buffer.subarray(0, end).toString()));
        upgraded = true;
        buffer = buffer.subarray(end + 4);
      }
      while (buffer.length >= 2) {
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) { if (buffer.length < 4) return; length = buffer.readUInt16BE(2); offset = 4; }
        else if (length === 127) { if (buffer.length < 10) return; length = Number(buffer.readBigUInt64BE(2)); offset = 10; }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (payload[0] === 0x6f) prompt = true;
        if (waiting && payload[0] === 0x6f && payload.subarray(1).toString().includes(waiting.char)) {
          const done = waiting;
          waiting = null;
          done.resolve(performance.now());
        }
      }
    });
    socket.on('error', reject);
    (async () => {
      await until(() => prompt, { timeout: 15000, what: 'the terminal\'s prompt' });
      const times = [];
      for (let index = 0; index < KEYS; index++) {
        const char = String.fromCharCode(97 + (index % 26));
        const echoed = new Promise((done) => { waiting = { char, resolve: done }; });
        const sent = performance.now();
        socket.write(frame([0x69, char.charCodeAt(0)]));
        times.push((await echoed) - sent);
      }
      socket.write(frame([0x71])); // 'q': end it
      socket.end();
      resolve(times);
    })().catch(reject);
  });
}

function sshEcho(server, name) {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `${process.env.BERTH_SSH_COMMAND || 'berth'} ssh ${name}`, '/dev/null'], {
      env: { ...server.env, PATH: `${process.env.BERTH_BUILD ? `${process.env.BERTH_BUILD}/bin` : new URL('../../build/bin', import.meta.url).pathname}:${process.env.PATH}`, TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let waiting = null;
    child.stdout.on('data', (chunk) => {
      output += chunk.toString();
      if (waiting && chunk.toString().includes(waiting.char)) {
        const done = waiting;
        waiting = null;
        done.resolve(performance.now());
      }
    });
    child.on('error', reject);
    (async () => {
      await until(() => output.length > 0, { timeout: 15000, what: 'the berth ssh prompt' });
      const times = [];
      for (let index = 0; index < KEYS; index++) {
        const char = String.fromCharCode(97 + (index % 26));
        const echoed = new Promise((done) => { waiting = { char, resolve: done }; });
        const sent = performance.now();
        child.stdin.write(char);
        times.push((await echoed) - sent);
      }
      child.stdin.write('\u0015exit\n');
      child.kill('SIGTERM');
      resolve(times);
    })().catch(reject);
  });
}

const server = await BerthServer.start('bench');
const browser = await launchBrowser();
try {
  console.log(`berth dashboard bench: ${WORKSPACES} workspaces (host provider), ${RUNS} cold loads, ${CHANGES} changes, ${KEYS} keys`);
  const started = Date.now();
  const names = await makeWorkspaces(server);
  console.log(`  made ${names.length} workspaces in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const idle = rss(server.process.pid);

  const link = await server.dashboardLink();
  const signIn = await browser.newPage();
  await signIn.goto(link.url, { waitUntil: 'domcontentloaded' });
  await signIn.waitForFunction(() => document.querySelector('#main')?.dataset.ready === 'true', { timeout: 30000 });

  // Memory first, before the other phases' operations and page loads add their own: the list
  // open (the sign-in page) and a terminal open on another page, settled.
  const terminalPage = await browser.newPage();
  await terminalPage.goto(`${link.origin}/#/w/${names[3]}`, { waitUntil: 'domcontentloaded' });
  await terminalPage.waitForSelector('#terminal-new');
  await terminalPage.click('#terminal-new');
  await terminalPage.waitForFunction(() => window.berthTerminals && window.berthTerminals.size === 1 && [...window.berthTerminals.values()][0].received.o > 0, { timeout: 15000 });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // settling before a reading, not a synchronisation
  const open = rss(server.process.pid);
  console.log(`server RSS: idle ${idle.toFixed(1)} MiB with ${WORKSPACES} workspaces; with the list open and a terminal ${open.toFixed(1)} MiB (+${(open - idle).toFixed(1)} MiB)`);
  await terminalPage.close();

  const paint = await firstPaint(browser, link.origin);
  console.log(`first paint of the list (${WORKSPACES} rows, 'berth:list-painted' after navigation start): p50 ${fmt(percentile(paint.paints, 50))}, p99 ${fmt(percentile(paint.paints, 99))}, ${range(paint.paints)}`);
  console.log(`  first contentful paint: p50 ${fmt(percentile(paint.fcps, 50))}, p99 ${fmt(percentile(paint.fcps, 99))}, ${range(paint.fcps)}`);
  console.log(`list page bytes transferred (xterm excluded, headers included): ${paint.bytes} B (${(paint.bytes / 1024).toFixed(1)} KiB)`);
  console.log(`  ${paint.byteList}`);

  const change = await changeToScreen(browser, link.origin, server, names[0]);
  console.log(`change to screen (CLI stop/start spawned -> row shows it): p50 ${fmt(percentile(change.latencies, 50))}, p99 ${fmt(percentile(change.latencies, 99))}, ${range(change.latencies)}; the CLI itself took p50 ${fmt(percentile(change.cliTimes, 50))}`);

  let echo;
  try {
    echo = await dashboardEcho(browser, link.origin, names[1]);
    console.log(`terminal echo through the dashboard's WebSocket: p50 ${fmt(percentile(echo.times, 50))}, p99 ${fmt(percentile(echo.times, 99))}, ${range(echo.times)}`);
  } catch (error) {
    console.log(`terminal echo through the dashboard: not measured (${error.message.split('\n')[0]})`);
  }
  let plain;
  try {
    const cookies = await signIn.cookies();
    const cookie = cookies.filter((c) => c.name === 'berth_dashboard').map((c) => `${c.name}=${c.value}`).join('; ');
    plain = await rawWebSocketEcho(link.origin, cookie, names[4]);
    console.log(`terminal echo through the same WebSocket from a plain client (no browser): p50 ${fmt(percentile(plain, 50))}, p99 ${fmt(percentile(plain, 99))}, ${range(plain)}`);
  } catch (error) {
    console.log(`terminal echo from a plain WebSocket client: not measured (${error.message.split('\n')[0]})`);
  }
  try {
    const ssh = await sshEcho(server, names[2]);
    console.log(`terminal echo through berth ssh (script(1) pty): p50 ${fmt(percentile(ssh, 50))}, p99 ${fmt(percentile(ssh, 99))}, ${range(ssh)}`);
    if (echo) console.log(`  dashboard in Chromium / ssh p50 ratio: ${(percentile(echo.times, 50) / percentile(ssh, 50)).toFixed(2)}`);
    if (plain) console.log(`  plain WebSocket client / ssh p50 ratio: ${(percentile(plain, 50) / percentile(ssh, 50)).toFixed(2)}`);
  } catch (error) {
    console.log(`terminal echo through berth ssh: not measured (${error.message.split('\n')[0]})`);
  }

  const after = rss(server.process.pid);
  console.log(`server RSS after all phases (${RUNS} page loads, ${CHANGES} operations, two terminals): ${after.toFixed(1)} MiB`);
} finally {
  await browser.close();
  await server.stop();
}
