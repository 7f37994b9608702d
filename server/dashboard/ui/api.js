// The dashboard's client of berth's /v1 API: the same routes the CLI uses, with the CSRF header
// on every state-changing request and errors kept as the API gives them ({error: {code, message}}).

let session = null;

/// An error of the API (or of reaching it), with the API's stable code.
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/// What to do next for each error code, as the CLI's hints say (the message often names a
/// command already; this is the general advice).
const NEXT = {
  not_found: 'Check the name; the list shows what exists.',
  conflict: 'Wait for the operation in progress to end, or look at the workspace\'s log.',
  invalid: 'Correct the value named above and try again.',
  forbidden: 'Ask an administrator, or use an admin key.',
  unauthorized: 'Run `berth dashboard` for a new link.',
  provider_failed: 'Read the workspace\'s log and the provider\'s log (Providers page), fix the cause, then try again.',
  unsupported: 'This provider does not offer that; see the provider\'s documentation.',
  unavailable: 'Check that the berth server runs (`berth server status`), then reload.',
  timeout: 'Try again; raise the target\'s timeout if it keeps happening.',
  network: 'Check that the berth server runs (`berth server status`), then reload the page.',
  internal: 'This is a bug in berth: the server log (Server page) has details.',
};

export function nextStep(code, message = '') {
  if (/no such API path/.test(message)) return 'This server is older than its dashboard: update berth and restart the server (berth server stop).';
  return NEXT[code] || 'See the server log (Server page) for details.';
}

/// Reads the dashboard session (the CSRF token, whether the viewer is an admin).
export async function loadSession() {
  session = await request('GET', '/v1/dashboard/session');
  return session;
}

export function currentSession() {
  return session;
}

async function errorOf(response) {
  let code = response.status === 401 ? 'unauthorized' : response.status === 403 ? 'forbidden' : `http_${response.status}`;
  let message = `the server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    if (response.status === 401) message = 'this dashboard session is not signed in (the link was used or has expired)';
  }
  return new ApiError(code, message, response.status);
}

/// fetch() with the session's CSRF header on anything but GET; throws ApiError for a failure.
export async function raw(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (method !== 'GET' && method !== 'HEAD') {
    if (session && session.csrf) headers['X-Berth-CSRF'] = session.csrf;
  }
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch (error) {
    throw new ApiError('network', `the berth server cannot be reached (${error.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/// A JSON request: the parsed body (or null for an empty one).
export async function request(method, path, body) {
  const response = await raw(method, path, body);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export async function text(path) {
  return (await raw('GET', path, undefined, { Accept: 'text/plain' })).text();
}

export const encodeName = (name) => encodeURIComponent(name);

/// Starts an operation (POST/DELETE answering 202 with a log ticket): {status, ticket, offset, body}.
export async function operation(method, path, body) {
  const response = await raw(method, path, body);
  const text = await response.text();
  return {
    status: response.status,
    ticket: response.headers.get('X-Berth-Log-Ticket'),
    offset: response.headers.get('X-Berth-Log-Offset'),
    body: text ? JSON.parse(text) : null,
  };
}

/// Follows a workspace's log from a byte offset. onLine(text) gets each complete line (with no
/// newline) and the byte offset just past it; onOutcome gets the typed outcome (RFC 7464 record
/// separator line) when `until` is given. Resolves when the stream ends; abort with signal.
export async function followLog(name, { offset = 0, until = null, onLine, onOutcome, signal }) {
  let path = `/v1/workspaces/${encodeName(name)}/logs?follow=true&offset=${offset}`;
  if (until) path += `&until=${encodeURIComponent(until)}&outcome=true`;
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'text/plain' }, credentials: 'same-origin', signal, cache: 'no-store' });
  } catch (error) {
    if (error.name === 'AbortError') return offset;
    throw new ApiError('network', `the log of '${name}' cannot be read (${error.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  let position = offset;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(pending.length + value.length);
      joined.set(pending);
      joined.set(value, pending.length);
      let start = 0;
      for (let index = joined.indexOf(10); index !== -1; index = joined.indexOf(10, start)) {
        const line = joined.subarray(start, index);
        start = index + 1;
        if (line[0] === 0x1e) {
          // The outcome is not part of the log file: it moves no offset.
          try {
            onOutcome && onOutcome(JSON.parse(decoder.decode(line.subarray(1))));
          } catch {
            onOutcome && onOutcome({ ok: false, code: 'internal', message: 'the outcome could not be read' });
          }
          continue;
        }
        position += line.length + 1;
        onLine && onLine(decoder.decode(line), position);
      }
      pending = joined.slice(start);
    }
  } catch (error) {
    if (error.name !== 'AbortError') throw new ApiError('network', `following the log of '${name}' stopped (${error.message})`);
  }
  return position;
}
