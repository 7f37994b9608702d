// The dashboard's entry: reads the session, builds the navigation from the route table, routes
// on the address's hash and gives each page a small context (status line, errors, confirmation).

import { h, clear } from './dom.js';
import { loadSession, nextStep, ApiError } from './api.js';
import { routes, findRoute } from './routes.js';
import * as store from './store.js';
import { loadExtensions, menuEntries } from './extensions.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const alerts = document.getElementById('alerts');
const statusLine = document.getElementById('status');
const connection = document.getElementById('connection');
let leave = null;
let generation = 0;

/// A polite announcement (screen readers read it; it also shows at the bottom).
function status(message) {
  statusLine.textContent = message;
}

/// Shows a failure as the CLI does: what failed, the server's reason, and what to do next.
function showError(what, error) {
  const code = error instanceof ApiError ? error.code : 'error';
  const box = h('section.alert', { role: 'alert', dataset: { code } },
    h('h2', { text: `${what} failed` }),
    h('p.message', null, 'berth: ', error.message),
    h('p.next', null, h('strong', { text: 'What next: ' }), error instanceof ApiError ? nextStep(code, error.message) : 'Correct it and try again.'),
    h('p.code', { text: `code: ${code}` }),
    h('button.small', { type: 'button', text: 'Dismiss', onclick: () => box.remove() }));
  alerts.prepend(box);
  while (alerts.children.length > 4) alerts.lastElementChild.remove();
  return box;
}

/// A modal confirmation; resolves true only for the confirm button. body: nodes or text.
function confirm({ title, body, action = 'Confirm' }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  const holder = clear(document.getElementById('confirm-body'));
  holder.append(...[].concat(body).map((part) => (part instanceof Node ? part : h('p', { text: part }))));
  document.getElementById('confirm-ok').textContent = action;
  dialog.returnValue = 'cancel';
  dialog.showModal();
  document.getElementById('confirm-cancel').focus();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

const context = { status, showError, confirm, store, navigate: (hash) => { location.hash = hash; } };

function buildNav() {
  clear(nav);
  for (const route of routes.filter((entry) => entry.nav)) {
    const link = h('a', { href: route.hash, dataset: { route: route.id } });
    if (route.icon) link.append(h('img.nav-icon', { src: route.icon, alt: '', width: 16, height: 16 }));
    link.append(route.title);
    nav.append(h('li', null, link));
  }
  // Plugins' menu entries: outside links, in a new browser tab that cannot reach this one.
  for (const { plugin, entry } of menuEntries()) {
    nav.append(h('li', null, h('a.external', { href: entry.url, target: '_blank', rel: 'noopener noreferrer', title: `from plugin ${plugin.name}`, text: `${entry.title} ↗` })));
  }
}

async function route() {
  const found = findRoute(location.hash);
  const mine = ++generation;
  if (leave) {
    try {
      leave();
    } catch (error) {
      console.error(error);
    }
    leave = null;
  }
  for (const link of nav.querySelectorAll('a')) {
    if (found && link.dataset.route === found.route.id) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  clear(alerts); // a failure belongs to the page it happened on
  if (!found) {
    clear(main).append(h('h1', { text: 'Not found' }), h('p', null, 'No page at this address. ', h('a', { href: '#/workspaces', text: 'Workspaces' })));
    return;
  }
  document.title = `${found.route.title} · berth`;
  try {
    const page = await found.route.load();
    if (mine !== generation) return;
    clear(main);
    main.dataset.page = found.route.id;
    leave = (await page.render(main, found.params, context)) || null;
  } catch (error) {
    if (mine !== generation) return;
    clear(main).append(h('h1', { text: found.route.title }));
    showError(`Opening the ${found.route.title} page`, error);
  }
}

function signedOut(error) {
  clear(main).append(
    h('h1', { text: 'Not signed in' }),
    h('p', null, 'berth: ', error.message),
    h('p', null, 'Run ', h('code', { text: 'berth dashboard' }), ' in a terminal for a new one-time link.'));
  connection.textContent = 'signed out';
}

async function boot() {
  buildNav();
  // The list and the session are read at once (the list needs no CSRF value).
  const listed = store.start((state) => {
    if (connection.dataset.state === state) return;
    connection.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'disconnected';
    connection.dataset.state = state;
  }).catch(() => {});
  // Plugins' tabs are read beside the session, so an address of one works on the first load.
  const extensions = loadExtensions();
  try {
    const session = await loadSession();
    document.body.dataset.admin = String(!!session.admin);
  } catch (error) {
    if (error.code === 'unauthorized') return signedOut(error);
    showError('Reading the dashboard session', error);
  }
  await extensions;
  buildNav();
  void listed;
  window.addEventListener('hashchange', route);
  if (!location.hash) history.replaceState(null, '', '#/workspaces');
  route();
}

boot();
