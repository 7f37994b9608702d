// Plugins: name, version, where it was found, state and reason, its commands; enable, disable.

import { h, clear } from '../dom.js';
import { request, encodeName } from '../api.js';

export async function render(main, _params, context) {
  const { showError, status } = context;
  main.append(h('h1', { text: 'Plugins' }));
  const list = h('div#plugin-list');
  main.append(list);

  async function load() {
    let plugins;
    try {
      plugins = await request('GET', '/v1/plugins');
    } catch (error) {
      showError('Reading the plugins', error);
      return;
    }
    clear(list);
    if (!plugins.length) {
      list.append(h('p.empty', null, 'No plugin is installed. Plugins go in ', h('code', { text: '$BERTH_HOME/plugins' }), ' (see docs/plugins.md).'));
      return;
    }
    const table = h('table.list#plugins', null, h('caption.visually-hidden', { text: 'Plugins' }),
      h('thead', null, h('tr', null, ['Name', 'Version', 'State', 'Reason', 'Commands', 'Location', 'Actions'].map((title) => h('th', { scope: 'col', text: title })))));
    const body = h('tbody');
    for (const plugin of plugins) {
      const state = plugin.state || 'loaded';
      body.append(h('tr', { dataset: { name: plugin.name, state } },
        h('td.name', null, h('strong', { text: plugin.name }), plugin.description ? h('div.muted', { text: plugin.description }) : null),
        h('td', { text: plugin.version || '' }),
        h('td', null, h('span', { className: `state state-${state}`, text: state })),
        h('td', { text: plugin.reason || '—' }),
        h('td', null, (plugin.commands || []).length
          ? h('ul.commands', null, plugin.commands.map((command) => h('li', null, h('code', { text: command.name }), command.summary ? ` — ${command.summary}` : '')))
          : '—'),
        h('td', { text: plugin.location || '' }),
        h('td.actions', null, state === 'disabled'
          ? h('button.small', { type: 'button', dataset: { action: 'enable', name: plugin.name }, text: 'Enable' })
          : h('button.small', { type: 'button', dataset: { action: 'disable', name: plugin.name }, text: 'Disable' }))));
    }
    table.append(body);
    list.append(h('div.table-scroll', null, table));
  }

  list.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const { action, name } = button.dataset;
    try {
      await request('POST', `/v1/plugins/${encodeName(name)}/${action}`);
      status(`Plugin '${name}' ${action}d.`);
      await load();
    } catch (error) {
      showError(`${action === 'enable' ? 'Enabling' : 'Disabling'} plugin '${name}'`, error);
    }
  });

  await load();
  return undefined;
}
