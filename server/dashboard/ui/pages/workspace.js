// One workspace: its record (secrets masked), actions, the ports it declares with a forward
// button, its log (live, resumed after a reload without repeats, downloadable) and terminals in tabs.

import { h, clear, keyValueTable, looksSecret, age } from '../dom.js';
import { rowActions, runRowAction, workspaceTabs, widgets, pluginFrame } from '../extensions.js';
import { request, operation, encodeName, ApiError } from '../api.js';
import { LogPanel, outcomeError } from '../logview.js';
import { TerminalSession } from '../terminal.js';

const DETACHED_KEY = 'berth.detached';
const REATTACH_MS = 60000;

function readJson(storage, key, fallback) {
  try {
    return JSON.parse(storage.getItem(key) || 'null') ?? fallback;
  } catch {
    return fallback;
  }
}

function declaredPorts(record) {
  const text = record.provider_data?.forward_ports;
  if (!text) return [];
  try {
    const list = JSON.parse(text);
    return Array.isArray(list) ? list.map(String) : [];
  } catch {
    return [];
  }
}

export async function render(main, params, context) {
  const { showError, status, confirm, store } = context;
  const name = params[0];
  const query = new URLSearchParams(params[1] || '');
  const cleanups = [];
  let record;
  try {
    record = await request('GET', `/v1/workspaces/${encodeName(name)}?refresh=false`);
  } catch (error) {
    main.append(h('h1', { text: name }));
    showError(`Reading workspace '${name}'`, error);
    return undefined;
  }

  // --- head and actions
  const stateBadge = h('span#workspace-state.state');
  const actions = ['start', 'stop', 'rebuild', 'delete'].map((action) =>
    h(`button.action${action === 'delete' ? '.danger' : ''}`, { type: 'button', dataset: { action }, text: action[0].toUpperCase() + action.slice(1) }));
  const extensionActions = rowActions().map(({ plugin, action }) =>
    h('button.action.extension-action', { type: 'button', dataset: { plugin: plugin.name }, text: action.title, title: `plugin ${plugin.name}`,
      onclick: () => runRowAction(plugin, action, name) }));
  main.append(h('div.page-head', null, h('h1', null, h('span.visually-hidden', { text: 'Workspace ' }), name, ' ', stateBadge),
    h('div.buttons', { role: 'toolbar', 'aria-label': `Actions on ${name}` }, actions, extensionActions)));
  const deletedNote = h('p#deleted-note.bad', { hidden: true, text: `Workspace '${name}' was deleted.` });
  main.append(deletedNote);

  // --- record
  const recordBox = h('section#record.card', { 'aria-labelledby': 'record-title' });
  const portsBox = h('section#ports.card', { 'aria-labelledby': 'ports-title' });
  const summary = h('div.cards', null, recordBox, portsBox);
  main.append(summary);

  // --- plugins' workspace tabs and widgets, each in its sandboxed frame
  const extensionParts = [
    ...workspaceTabs().map((plugin) => ({ plugin, title: plugin.ui['workspace-tab'].title, src: plugin.ui['workspace-tab'].src, height: 360 })),
    ...widgets('workspace').map(({ plugin, widget }) => ({ plugin, title: widget.title, src: widget.src, height: widget.height })),
  ];
  if (extensionParts.length) {
    main.append(h('section#extensions.extensions', { 'aria-label': 'From plugins' }, extensionParts.map((part) =>
      h('div.card.extension', null, h('h2', { text: part.title }),
        pluginFrame(part.plugin, part.src, { view: 'workspace', workspace: name, height: part.height, title: part.title })))));
  }

  function showRecord(w) {
    record = w;
    stateBadge.textContent = w.operation ? `${w.state} (${w.operation})` : w.state;
    stateBadge.className = `state state-${w.state}`;
    clear(recordBox).append(h('h2#record-title', { text: 'Record' }));
    const facts = [
      ['Target', w.target], ['Provider', w.provider], ['Repository', w.repository || '—'], ['Image', w.image || '(target default)'],
      ['Created', w.created_at ? `${w.created_at} (${age(w.created_at)} ago)` : '—'], ['Updated', w.updated_at || '—'],
      ['Operation', w.operation || 'none'],
    ];
    if (w.last_error) facts.push(['Last error', w.last_error]);
    recordBox.append(h('dl.facts', null, facts.map(([key, value]) => [h('dt', { text: key }), h('dd', { text: value })])));
    recordBox.append(
      keyValueTable(w.env, { caption: 'Environment', mask: () => true, revealable: true }),
      keyValueTable(w.labels, { caption: 'Labels' }),
      keyValueTable(w.options, { caption: 'Options' }),
      keyValueTable(Object.fromEntries(Object.entries(w.provider_data || {}).filter(([key]) => key !== 'forward_ports')),
        { caption: 'Provider data', mask: looksSecret }));
    showPorts(w);
  }

  function showPorts(w) {
    clear(portsBox).append(h('h2#ports-title', { text: 'Ports' }));
    const ports = declaredPorts(w);
    if (!ports.length) {
      portsBox.append(h('p.muted', null, 'The workspace declares no ports (devcontainer.json forwardPorts). Forward any port with ', h('code', { text: `berth forward ${name} PORT` }), '.'));
      return;
    }
    portsBox.append(h('ul.ports', null, ports.map((port) => h('li', { dataset: { port } },
      h('span.port', { text: port }), ' ',
      h('button.small.forward', { type: 'button', dataset: { port }, text: `Open forward to ${port}` }),
      h('span.forward-result')))));
  }

  portsBox.addEventListener('click', async (event) => {
    const button = event.target.closest('button.forward');
    if (!button) return;
    const port = button.dataset.port;
    const result = button.nextElementSibling;
    const numeric = Number(String(port).split(':').pop());
    button.disabled = true;
    try {
      const answer = await request('POST', `/v1/workspaces/${encodeName(name)}/forwards`, { port: numeric });
      clear(result).append(' ', h('a', { href: answer.url, target: '_blank', rel: 'noopener noreferrer', text: answer.url }));
      window.open(answer.url, '_blank', 'noopener,noreferrer');
    } catch (error) {
      if (error.status === 404 && error.code !== 'not_found') {
        clear(result).append(' This server cannot open forwards from the dashboard; run ', h('code', { text: `berth forward ${name} ${numeric}` }), '.');
      } else if (error.status === 404 || error.status === 405) {
        clear(result).append(' Run ', h('code', { text: `berth forward ${name} ${numeric}` }), ' in a terminal.');
        if (error.code === 'not_found') showError(`Forwarding port ${numeric} of '${name}'`, error);
      } else {
        showError(`Forwarding port ${numeric} of '${name}'`, error);
      }
    } finally {
      button.disabled = false;
    }
  });

  // --- log
  const panel = new LogPanel(`w.${name}`, `Log of ${name}`);
  const download = h('a.button.small', { href: `/v1/workspaces/${encodeName(name)}/logs`, download: `${name}.log`, text: 'Download the log' });
  main.append(h('section#log.log-section', { 'aria-labelledby': 'log-title' },
    h('div.section-head', null, h('h2#log-title', { text: 'Log' }), download), panel.element));
  const saved = panel.restore();
  if (!saved) panel.reset(0);
  let following = false;
  async function followLog() {
    if (following) return;
    following = true;
    try {
      await panel.follow(name);
    } catch (error) {
      showError(`Following the log of '${name}'`, error);
    } finally {
      following = false;
    }
  }
  followLog();
  cleanups.push(() => panel.stop());

  // --- live record
  showRecord(record);
  cleanups.push(store.subscribe((change) => {
    if (change.type === 'delete' && change.name === name) {
      deletedNote.hidden = false;
      stateBadge.textContent = 'deleted';
      stateBadge.className = 'state state-deleted';
    } else if (change.type === 'upsert' && change.record.name === name && change.record.env !== undefined) {
      deletedNote.hidden = true;
      showRecord(change.record);
      if (change.record.operation) followLog();
    }
  }));

  main.querySelector('.page-head .buttons').addEventListener('click', async (event) => {
    const button = event.target.closest('button.action');
    if (!button) return;
    const action = button.dataset.action;
    if (action === 'delete') {
      const agreed = await confirm({
        title: `Delete workspace '${name}'?`,
        body: [`This removes what provider ${record.provider} made for '${name}' (its container and volumes, or its host folder with everything in it) and berth's record of it. It cannot be undone.`],
        action: `Delete ${name}`,
      });
      if (!agreed) return status('Delete cancelled.');
    }
    button.disabled = true;
    try {
      const started = action === 'delete'
        ? await operation('DELETE', `/v1/workspaces/${encodeName(name)}`)
        : await operation('POST', `/v1/workspaces/${encodeName(name)}/${action}`, action === 'rebuild' ? {} : undefined);
      status(started.status === 200 ? `${action}: nothing to do.` : `${action} of '${name}' under way.`);
      if (started.status === 202) {
        panel.stop();
        following = false;
        const result = await panel.follow(name, { until: started.ticket });
        if (!result.aborted && result.outcome && !result.outcome.ok) showError(`${action[0].toUpperCase() + action.slice(1)} of '${name}'`, outcomeError(result.outcome));
        else if (!result.aborted) status(`${action} of '${name}' done.`);
      }
    } catch (error) {
      showError(`${action[0].toUpperCase() + action.slice(1)} of '${name}'`, error);
    } finally {
      button.disabled = false;
    }
  });

  // --- terminals
  const termKey = `berth.terminals.${name}`;
  const tabs = h('div#terminal-tabs.tabs', { role: 'tablist', 'aria-label': 'Terminals' });
  const panels = h('div.terminal-panels');
  const persistentBox = h('input#terminal-persistent', { type: 'checkbox' });
  const newButton = h('button#terminal-new', { type: 'button', text: 'New terminal' });
  const detachedBox = h('div#terminal-detached');
  const readerBox = h('input#terminal-reader', { type: 'checkbox', checked: localStorage.getItem('berth.terminal.screenReader') === 'true' });
  readerBox.addEventListener('change', () => localStorage.setItem('berth.terminal.screenReader', String(readerBox.checked)));
  main.append(h('section#terminals.terminals', { 'aria-labelledby': 'terminals-title' },
    h('div.section-head', null, h('h2#terminals-title', { text: 'Terminals' }), newButton,
      h('label.check', null, persistentBox, ' Persistent (keeps running when its tab is closed)'),
      h('label.check', null, readerBox, ' Screen reader mode (new terminals)')),
    detachedBox, tabs, panels));

  const sessions = []; // {session, tab, closeButton, panel}
  let counter = 0;

  function saveTerminals() {
    sessionStorage.setItem(termKey, JSON.stringify(sessions.filter((entry) => entry.session.id && !entry.session.ended)
      .map((entry) => ({ id: entry.session.id, persistent: entry.session.persistent }))));
  }

  function select(entry) {
    for (const other of sessions) {
      const chosen = other === entry;
      other.tab.setAttribute('aria-selected', String(chosen));
      other.tab.tabIndex = chosen ? 0 : -1;
      other.panel.hidden = !chosen;
    }
    entry.session.fit();
    entry.session.focus();
  }

  function removeEntry(entry) {
    const index = sessions.indexOf(entry);
    if (index >= 0) sessions.splice(index, 1);
    entry.tab.parentElement.remove();
    entry.panel.remove();
    saveTerminals();
    if (sessions.length) select(sessions[Math.max(0, index - 1)]);
  }

  async function openTerminal({ id = null, persistent = false } = {}) {
    const number = ++counter;
    const panelId = `terminal-panel-${number}`;
    const tab = h('button.tab', { type: 'button', role: 'tab', id: `terminal-tab-${number}`, 'aria-controls': panelId, text: `Terminal ${number}` });
    const closeButton = h('button.small.tab-close', { type: 'button', 'aria-label': `Close terminal ${number}`, text: '×' });
    const holder = h('div.terminal');
    const interrupt = h('button.small', { type: 'button', text: 'Send Ctrl-C (INT)' });
    const terminalPanel = h('div.terminal-panel', { role: 'tabpanel', id: panelId, 'aria-labelledby': tab.id }, h('div.terminal-tools', null, interrupt), holder);
    tabs.append(h('span.tab-item', null, tab, closeButton));
    panels.append(terminalPanel);
    const entry = { tab, closeButton, panel: terminalPanel };
    entry.session = new TerminalSession(holder, name, {
      id,
      persistent,
      onHello: (hello) => {
        tab.textContent = `Terminal ${number}${hello.persistent ? ' (persistent)' : ''}`;
        terminalPanel.dataset.terminal = hello.terminal;
        terminalPanel.dataset.replayed = String(hello.replayed || 0);
        saveTerminals();
        forgetDetached(hello.terminal);
      },
      onExit: (code) => {
        terminalPanel.dataset.exit = String(code);
        saveTerminals();
      },
      onError: (error) => {
        terminalPanel.dataset.error = error.code || 'error';
        saveTerminals();
        showError(`Terminal ${number} of '${name}'`, new ApiError(error.code || 'error', error.message || 'the terminal failed'));
      },
      onClose: () => {
        terminalPanel.dataset.closed = 'true';
      },
    });
    sessions.push(entry);
    tab.addEventListener('click', () => select(entry));
    closeButton.addEventListener('click', () => {
      entry.session.close();
      removeEntry(entry);
    });
    interrupt.addEventListener('click', () => entry.session.signal('INT'));
    select(entry);
    try {
      await entry.session.open();
      select(entry);
    } catch (error) {
      showError(`Opening a terminal in '${name}'`, new ApiError('unavailable', error.message));
      removeEntry(entry);
    }
    return entry;
  }

  tabs.addEventListener('keydown', (event) => {
    const index = sessions.findIndex((entry) => entry.tab === document.activeElement);
    if (index < 0 || !['ArrowLeft', 'ArrowRight'].includes(event.key)) return;
    const next = sessions[(index + (event.key === 'ArrowRight' ? 1 : sessions.length - 1)) % sessions.length];
    select(next);
    next.tab.focus();
  });
  newButton.addEventListener('click', () => openTerminal({ persistent: persistentBox.checked }));

  function forgetDetached(id) {
    const list = readJson(localStorage, DETACHED_KEY, []).filter((entry) => entry.id !== id);
    localStorage.setItem(DETACHED_KEY, JSON.stringify(list));
  }

  function showDetached() {
    const open = new Set(sessions.map((entry) => entry.session.id));
    const now = Date.now();
    const list = readJson(localStorage, DETACHED_KEY, []).filter((entry) => now - entry.at < REATTACH_MS || entry.persistent);
    localStorage.setItem(DETACHED_KEY, JSON.stringify(list));
    const mine = list.filter((entry) => entry.workspace === name && !open.has(entry.id));
    clear(detachedBox);
    if (!mine.length) return;
    detachedBox.append(h('p.muted', { text: 'Terminals left running when a page closed:' }), h('ul', null, mine.map((entry) =>
      h('li', null, h('button.small.reattach', { type: 'button', dataset: { id: entry.id }, text: `Re-attach ${entry.id}` })))));
  }
  detachedBox.addEventListener('click', (event) => {
    const button = event.target.closest('button.reattach');
    if (!button) return;
    const entry = readJson(localStorage, DETACHED_KEY, []).find((item) => item.id === button.dataset.id);
    button.closest('li').remove();
    openTerminal({ id: button.dataset.id, persistent: entry?.persistent });
  });

  function detachAll() {
    const list = readJson(localStorage, DETACHED_KEY, []);
    for (const entry of sessions) {
      if (!entry.session.id || entry.session.ended) continue;
      if (!list.some((item) => item.id === entry.session.id)) list.push({ workspace: name, id: entry.session.id, persistent: entry.session.persistent, at: Date.now() });
      entry.session.detach();
    }
    localStorage.setItem(DETACHED_KEY, JSON.stringify(list.slice(-20)));
  }
  window.addEventListener('pagehide', detachAll);
  cleanups.push(() => {
    window.removeEventListener('pagehide', detachAll);
    saveTerminals();
    detachAll();
  });

  // Re-attach what this tab had open (a reload), and an id named in the address.
  const reopen = readJson(sessionStorage, termKey, []);
  const named = query.get('terminal');
  if (named && !reopen.some((entry) => entry.id === named)) reopen.push({ id: named, persistent: query.get('persistent') === 'true' });
  for (const entry of reopen) openTerminal(entry);
  showDetached();

  return () => {
    for (const cleanup of cleanups) cleanup();
  };
}
