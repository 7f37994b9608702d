// Plugins' pages on the dashboard: dashboard tabs, workspace tabs and widgets, each in an
// <iframe sandbox="allow-scripts"> at an opaque origin of its own (no allow-same-origin), so a
// plugin's code can read neither this page, nor its cookie, nor its storage, and cannot call
// berth's API itself (its CSP allows no connection). It reaches berth only through this page:
// a postMessage bridge (plugin-bridge.js in the frame) whose every call this page makes with
// the plugin's own credential, which the server holds to what the plugin was granted.

import { h } from './dom.js';
import { request, raw, encodeName, ApiError } from './api.js';
import { addRoute } from './routes.js';

const tokens = new Map(); // plugin -> Promise<token>
let plugins = [];
let toastHolder = null;

/// A short notice in the corner (also what a plugin's berth.toast() shows).
export function toast(message, kind = 'info') {
  if (!toastHolder) {
    toastHolder = h('div#toasts.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(toastHolder);
  }
  const item = h(`div.toast.${kind === 'error' ? 'error' : 'info'}`, { text: String(message).slice(0, 500), title: 'Click to dismiss', onclick: () => item.remove() });
  toastHolder.append(item);
  setTimeout(() => item.remove(), 8000);
  while (toastHolder.children.length > 4) toastHolder.firstElementChild.remove();
}

function tokenFor(plugin) {
  if (!tokens.has(plugin)) {
    const minted = request('POST', `/v1/plugins/${encodeName(plugin)}/token`, {}).then((answer) => answer.token);
    minted.catch(() => tokens.delete(plugin));
    tokens.set(plugin, minted);
  }
  return tokens.get(plugin);
}

async function asPlugin(plugin, method, path, body) {
  const token = await tokenFor(plugin);
  const response = await raw(method, path, body, { 'X-Berth-Plugin-Token': token });
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const name = (value) => {
  if (typeof value !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(value)) throw new ApiError('invalid', 'a workspace name is lowercase letters, digits and "-"');
  return encodeName(value);
};

// A command in a workspace, to its end (the exec route's frames: a type byte, a 4-byte big-endian
// length, the bytes; 'o' stdout, 'e' stderr, 'x' the exit code, '!' an error).
async function execIn(plugin, workspace, command, options = {}) {
  if (!Array.isArray(command) || !command.length || command.some((part) => typeof part !== 'string')) {
    throw new ApiError('invalid', 'exec takes a command as a non-empty list of strings');
  }
  const token = await tokenFor(plugin);
  const body = { command, ...(typeof options.workdir === 'string' ? { workdir: options.workdir } : {}) };
  const response = await raw('POST', `/v1/workspaces/${name(workspace)}/exec`, body, { 'X-Berth-Plugin-Token': token });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const decoder = new TextDecoder();
  const result = { exit_code: null, stdout: '', stderr: '' };
  for (let at = 0; at + 5 <= bytes.length;) {
    const type = String.fromCharCode(bytes[at]);
    const length = ((bytes[at + 1] << 24) >>> 0) + (bytes[at + 2] << 16) + (bytes[at + 3] << 8) + bytes[at + 4];
    const payload = decoder.decode(bytes.subarray(at + 5, at + 5 + length));
    at += 5 + length;
    if (type === 'o') result.stdout += payload;
    else if (type === 'e') result.stderr += payload;
    else if (type === 'x') result.exit_code = Number(payload);
    else if (type === '!') {
      const error = JSON.parse(payload).error || {};
      throw new ApiError(error.code || 'error', error.message || 'the command failed to run');
    }
  }
  return result;
}

const servicePath = (plugin, route) => {
  if (typeof route !== 'string' || !route.startsWith('/') || route.includes('..')) throw new ApiError('invalid', 'a service path starts with "/" and holds no ".."');
  return `/v1/plugins/${encodeName(plugin)}/service${route}`;
};

// What a frame may ask for. Each entry gets the plugin's name and the call's arguments.
const METHODS = {
  'workspaces.list': (plugin) => asPlugin(plugin, 'GET', '/v1/workspaces'),
  'workspaces.get': (plugin, workspace) => asPlugin(plugin, 'GET', `/v1/workspaces/${name(workspace)}`),
  'workspaces.start': (plugin, workspace) => asPlugin(plugin, 'POST', `/v1/workspaces/${name(workspace)}/start`, {}),
  'workspaces.stop': (plugin, workspace) => asPlugin(plugin, 'POST', `/v1/workspaces/${name(workspace)}/stop`, {}),
  exec: (plugin, workspace, command, options) => execIn(plugin, workspace, command, options),
  'targets.list': (plugin) => asPlugin(plugin, 'GET', '/v1/targets'),
  'providers.list': (plugin) => asPlugin(plugin, 'GET', '/v1/providers'),
  'api.get': (plugin, path) => {
    if (typeof path !== 'string' || !path.startsWith('/v1/') || path.includes('..')) throw new ApiError('invalid', 'api.get takes a /v1/ path');
    return asPlugin(plugin, 'GET', path);
  },
  'service.get': (plugin, route) => asPlugin(plugin, 'GET', servicePath(plugin, route)),
  'service.post': (plugin, route, body = {}) => asPlugin(plugin, 'POST', servicePath(plugin, route), body),
  'host.exec': (plugin, binary, args = [], options = {}) =>
    asPlugin(plugin, 'POST', `/v1/plugins/${encodeName(plugin)}/exec`, { binary, args, ...(options && options.timeout ? { timeout: options.timeout } : {}) }),
  toast: (plugin, message) => toast(`${plugin}: ${message}`),
  navigate: (plugin, hash) => {
    if (typeof hash !== 'string' || !/^#\/[A-Za-z0-9/_.?=&-]*$/.test(hash)) throw new ApiError('invalid', 'navigate takes a dashboard address such as #/workspaces');
    location.hash = hash;
  },
  openExternal: (plugin, url) => {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      throw new ApiError('invalid', 'openExternal takes an http(s) address');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ApiError('invalid', 'openExternal takes an http(s) address');
    window.open(parsed.href, '_blank', 'noopener,noreferrer');
  },
};

window.addEventListener('message', async (event) => {
  // The sender is one of the plugin frames on the page now (looked up at each message: a frame's
  // first call can come before its load event), and it speaks for that frame's plugin only.
  const frame = [...document.querySelectorAll('iframe.plugin-frame')].find((candidate) => candidate.contentWindow === event.source);
  const known = frame && { plugin: frame.dataset.plugin };
  const data = event.data;
  if (!known || !data || data.berth !== 1 || typeof data.id !== 'number') return; // only our frames, only the bridge's shape
  const reply = (answer) => event.source.postMessage({ berth: 1, id: data.id, ...answer }, '*'); // an opaque origin has no other name
  const method = METHODS[data.method];
  if (!method) return reply({ ok: false, error: { code: 'invalid', message: `the bridge has no '${String(data.method).slice(0, 40)}'` } });
  try {
    const result = await method(known.plugin, ...(Array.isArray(data.args) ? data.args : []));
    reply({ ok: true, result: result === undefined ? null : result });
  } catch (error) {
    const code = error instanceof ApiError ? error.code : 'error';
    toast(`${known.plugin}: ${error.message}`, 'error');
    reply({ ok: false, error: { code, status: error.status || 0, message: error.message } });
  }
});

/// A plugin's page in its sandboxed frame. view: tab, workspace or widget.
export function pluginFrame(plugin, src, { view, workspace = '', height = 480, title = plugin.name }) {
  const query = new URLSearchParams({ view });
  if (workspace) query.set('workspace', workspace);
  const frame = h('iframe.plugin-frame', {
    sandbox: 'allow-scripts',
    referrerPolicy: 'no-referrer',
    title: `${title} (plugin ${plugin.name})`,
    src: `/plugins/${encodeName(plugin.name)}/ui/${src.split('/').map(encodeURIComponent).join('/')}?${query}`,
    dataset: { plugin: plugin.name, view },
  });
  frame.style.height = `${height}px`;
  return frame;
}

const enabledWithUi = () => plugins.filter((plugin) => plugin.state === 'enabled' && plugin.ui && Object.keys(plugin.ui).length);

export const workspaceTabs = () => enabledWithUi().filter((plugin) => plugin.ui['workspace-tab']);
export const widgets = (location) =>
  enabledWithUi().flatMap((plugin) => (plugin.ui.widgets || []).filter((widget) => widget.location === location).map((widget) => ({ plugin, widget })));
/// Plugins' menu entries: links to http(s) addresses, opened in a new browser tab.
export const menuEntries = () =>
  enabledWithUi().flatMap((plugin) => (plugin.ui.menu || []).filter((entry) => /^https?:\/\//.test(entry.url)).map((entry) => ({ plugin, entry })));
export const rowActions = () => enabledWithUi().flatMap((plugin) => (plugin.ui['row-actions'] || []).map((action) => ({ plugin, action })));

/// Runs a row action (a host binary of its plugin, with {workspace} replaced) and shows its result.
export async function runRowAction(plugin, action, workspace) {
  const args = (action.args || []).map((arg) => arg.split('{workspace}').join(workspace));
  try {
    const result = await asPlugin(plugin.name, 'POST', `/v1/plugins/${encodeName(plugin.name)}/exec`, { binary: action.binary, args });
    const first = (result.stdout || result.stderr || '').trim().split('\n')[0] || `exit ${result.exit_code}`;
    toast(`${action.title} (${workspace}): ${first}`, result.exit_code === 0 ? 'info' : 'error');
  } catch (error) {
    toast(`${plugin.name}: ${error.message}`, 'error');
  }
}

/// Reads the plugins and adds a page for each dashboard tab. Never fails the dashboard.
export async function loadExtensions() {
  try {
    plugins = (await request('GET', '/v1/plugins')) || [];
  } catch {
    plugins = [];
    return;
  }
  for (const plugin of enabledWithUi()) {
    const tab = plugin.ui['dashboard-tab'];
    if (!tab) continue;
    const id = `ext-${plugin.name}`;
    try {
      addRoute({
        id,
        title: tab.title,
        icon: tab.icon ? `/plugins/${encodeName(plugin.name)}/ui/${tab.icon.split('/').map(encodeURIComponent).join('/')}` : undefined,
        hash: `#/ext/${plugin.name}`,
        match: new RegExp(`^#/ext/${plugin.name}$`),
        load: async () => ({
          render(main) {
            main.append(h('h1', { text: tab.title }), h('p.muted', { text: `From plugin ${plugin.name} ${plugin.version}, in a sandboxed frame.` }),
              pluginFrame(plugin, tab.src, { view: 'tab', height: 560, title: tab.title }));
          },
        }),
      });
    } catch (error) {
      console.error(error);
    }
  }
}
