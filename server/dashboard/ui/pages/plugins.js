// Plugins: name, version, where it was found, state and reason, its commands; enable, disable.

import { h, clear, listTable, onRowAction } from '../dom.js';
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
    const { body, box } = listTable('plugins', 'Plugins', ['Name', 'Version', 'State', 'Reason', 'Commands', 'Location', 'Actions']);
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
    list.append(box);
  }

  onRowAction(list, async (action, name) => {
    await request('POST', `/v1/plugins/${encodeName(name)}/${action}`);
    status(`Plugin '${name}' ${action}d.`);
    await load();
  }, (action, name, error) => showError(`${action === 'enable' ? 'Enabling' : 'Disabling'} plugin '${name}'`, error));

  await load();
  return undefined;
}
