// 6. Hostile requests, straight over HTTP (no browser): a foreign Host (DNS rebinding), a
// WebSocket from a foreign Origin, a POST without the CSRF header, no cookie at all. Each is
// paired with the same request made correctly, so a refusal for another reason would show.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BerthServer, tcpRequest } from './lib/harness.mjs';

let server;
let link;
let csrf;
before(async () => {
  server = await BerthServer.start('hostile');
  await server.cli(['create', 'victim']);
  link = await server.cookie();
  const session = await tcpRequest(link.port, { path: '/v1/dashboard/session', headers: { Cookie: link.cookie } });
  assert.equal(session.status, 200, `GET /v1/dashboard/session gave ${session.status}: ${session.body}`);
  csrf = JSON.parse(session.body).csrf;
  assert.ok(csrf, 'the session has no csrf token');
});
after(async () => {
  await server?.stop();
});

const CSP = ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"];

test('a foreign Host header is refused (DNS rebinding), even with a valid cookie', async () => {
  const good = await tcpRequest(link.port, { path: '/v1/workspaces', headers: { Cookie: link.cookie } });
  assert.equal(good.status, 200);
  for (const host of ['evil.example', `evil.example:${link.port}`, `127.0.0.1.evil.example:${link.port}`]) {
    const bad = await tcpRequest(link.port, { path: '/v1/workspaces', headers: { Host: host, Cookie: link.cookie } });
    assert.equal(bad.status, 403, `Host: ${host} gave ${bad.status}`);
    assert.ok(!bad.body.includes('victim'), 'the refused answer carries workspace data');
  }
  const page = await tcpRequest(link.port, { path: '/', headers: { Host: 'evil.example', Cookie: link.cookie } });
  assert.equal(page.status, 403);
  const localhost = await tcpRequest(link.port, { path: '/v1/workspaces', headers: { Host: `localhost:${link.port}`, Cookie: link.cookie } });
  assert.equal(localhost.status, 200, 'localhost:PORT is the listener\'s own name');
});

test('no cookie: 401 on the API and on the page, which says how to sign in', async () => {
  const api = await tcpRequest(link.port, { path: '/v1/workspaces' });
  assert.equal(api.status, 401);
  const page = await tcpRequest(link.port, { path: '/' });
  assert.equal(page.status, 401);
  assert.match(page.body, /berth dashboard/);
  const forged = await tcpRequest(link.port, { path: '/v1/workspaces', headers: { Cookie: 'berth_dashboard=0123456789abcdef' } });
  assert.equal(forged.status, 401, 'a made-up cookie is accepted');
  for (const answer of [api, page]) {
    for (const directive of CSP) assert.ok((answer.headers['content-security-policy'] || '').includes(directive), `CSP lacks ${directive}`);
  }
});

test('a POST without the CSRF header is refused and changes nothing', async () => {
  const path = '/v1/workspaces/victim/stop';
  const none = await tcpRequest(link.port, { method: 'POST', path, headers: { Cookie: link.cookie } });
  assert.equal(none.status, 403, `no CSRF header gave ${none.status}`);
  const wrong = await tcpRequest(link.port, { method: 'POST', path, headers: { Cookie: link.cookie, 'X-Berth-CSRF': 'not-the-token' } });
  assert.equal(wrong.status, 403, `a wrong CSRF header gave ${wrong.status}`);
  const simple = await tcpRequest(link.port, { method: 'POST', path, headers: { Cookie: link.cookie, 'Content-Type': 'text/plain' }, body: '{}' });
  assert.equal(simple.status, 403, 'a "simple" cross-site form POST got through');
  assert.equal((await server.workspace('victim')).state, 'started', 'a refused POST stopped the workspace');
  const right = await tcpRequest(link.port, { method: 'POST', path, headers: { Cookie: link.cookie, 'X-Berth-CSRF': csrf } });
  assert.ok([200, 202].includes(right.status), `the same POST with the CSRF header gave ${right.status}: ${right.body}`);
});

function upgrade(port, origin) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1', port, agent: false, path: '/v1/workspaces/victim/terminal?rows=24&cols=80',
      headers: {
        Host: `127.0.0.1:${port}`, Cookie: link.cookie, Origin: origin, Connection: 'Upgrade', Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode);
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', reject);
    request.end();
  });
}

test('a WebSocket from a foreign Origin is refused before the upgrade', async () => {
  assert.equal(await upgrade(link.port, 'http://evil.example'), 403);
  // A page on another port of 127.0.0.1 (a forwarded web app) is the same site, not the same origin.
  assert.equal(await upgrade(link.port, 'http://127.0.0.1:1'), 403);
  assert.equal(await upgrade(link.port, link.origin), 101, 'the dashboard\'s own origin is not upgraded');
});
