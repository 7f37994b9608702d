// The server: version, uptime, home, listeners; API keys (create, revoke) for an admin; the log tail.

import { h, clear } from '../dom.js';
import { request, text, encodeName, currentSession } from '../api.js';

function uptime(seconds) {
  const s = Math.floor(seconds || 0);
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return [days && `${days} d`, (days || hours) && `${hours} h`, `${minutes} min`, `${s % 60} s`].filter(Boolean).join(' ');
}

function listenerText(listener) {
  if (typeof listener === 'string') return listener;
  return Object.entries(listener).map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`).join(', ');
}

export async function render(main, _params, context) {
  const { showError, status, confirm } = context;
  const admin = !!currentSession()?.admin;
  main.append(h('h1', { text: 'Server' }));
  const facts = h('section#server-facts.card', { 'aria-labelledby': 'server-facts-title' }, h('h2#server-facts-title', { text: 'This server' }));
  const keys = h('section#api-keys.card', { 'aria-labelledby': 'api-keys-title' });
  const logPre = h('pre.log#server-log', { tabindex: '0', 'aria-label': 'Server log' });
  const refresh = h('button.small', { type: 'button', text: 'Refresh' });
  main.append(h('div.cards', null, facts, keys),
    h('section.log-section', { 'aria-labelledby': 'server-log-title' }, h('div.section-head', null, h('h2#server-log-title', { text: 'Server log (tail)' }), refresh), logPre));

  try {
    const server = await request('GET', '/v1/server');
    facts.append(h('dl.facts', null,
      h('dt', { text: 'Version' }), h('dd', { text: server.version }),
      h('dt', { text: 'Uptime' }), h('dd', { text: uptime(server.uptime_seconds) }),
      h('dt', { text: 'Home' }), h('dd', null, h('code', { text: server.home })),
      h('dt', { text: 'Process' }), h('dd', { text: String(server.pid ?? '') }),
      h('dt', { text: 'Listeners' }), h('dd', null, h('ul', null, (server.listeners || []).map((listener) => h('li', { text: listenerText(listener) }))))));
  } catch (error) {
    showError('Reading the server\'s facts', error);
  }

  async function loadKeys() {
    clear(keys).append(h('h2#api-keys-title', { text: 'API keys' }));
    if (!admin) {
      keys.append(h('p.muted', { text: 'Only an admin manages API keys.' }));
      return;
    }
    let list = [];
    try {
      list = await request('GET', '/v1/apikeys');
    } catch (error) {
      showError('Reading the API keys', error);
    }
    if (list.length) {
      keys.append(h('table.list#apikey-list', null, h('caption.visually-hidden', { text: 'API keys' }),
        h('thead', null, h('tr', null, ['Name', 'Scope', 'Created', 'Actions'].map((title) => h('th', { scope: 'col', text: title })))),
        h('tbody', null, list.map((key) => h('tr', { dataset: { name: key.name } },
          h('td', { text: key.name }), h('td', { text: key.scope || '' }), h('td', { text: key.created_at || '' }),
          h('td', null, h('button.small.danger', { type: 'button', dataset: { revoke: key.name }, text: 'Revoke' })))))));
    } else {
      keys.append(h('p.muted', { text: 'No API key yet.' }));
    }
    const name = h('input#apikey-name', { required: true, autocomplete: 'off', spellcheck: 'false' });
    const isAdmin = h('input#apikey-admin', { type: 'checkbox' });
    const shown = h('div#apikey-created', { 'aria-live': 'polite' });
    const form = h('form.form.inline', null,
      h('div.field', null, h('label', { for: 'apikey-name', text: 'New key name' }), name),
      h('label.check', null, isAdmin, ' Admin (may manage keys, targets and providers)'),
      h('div.buttons', null, h('button.primary', { type: 'submit', text: 'Create key' })));
    keys.append(form, shown);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const created = await request('POST', '/v1/apikeys', { name: name.value.trim(), admin: isAdmin.checked });
        await loadKeys();
        const box = document.getElementById('apikey-created');
        box.append(h('div.once', null, h('p', null, h('strong', { text: `Key '${created.name}': ` }), 'copy it now, it is not shown again.'),
          h('code.key', { text: created.key })));
        status(`API key '${created.name}' created.`);
      } catch (error) {
        showError('Creating the API key', error);
      }
    });
  }
  keys.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-revoke]');
    if (!button) return;
    const name = button.dataset.revoke;
    if (!(await confirm({ title: `Revoke API key '${name}'?`, body: ['Clients using this key are refused from now on.'], action: `Revoke ${name}` }))) return;
    try {
      await request('DELETE', `/v1/apikeys/${encodeName(name)}`);
      status(`API key '${name}' revoked.`);
      await loadKeys();
    } catch (error) {
      showError(`Revoking API key '${name}'`, error);
    }
  });

  async function loadLog() {
    try {
      logPre.textContent = (await text('/v1/server/log')) || '(the log is empty)';
      logPre.scrollTop = logPre.scrollHeight;
    } catch (error) {
      showError('Reading the server log', error);
    }
  }
  refresh.addEventListener('click', loadLog);
  await Promise.all([loadKeys(), loadLog()]);
  return undefined;
}
