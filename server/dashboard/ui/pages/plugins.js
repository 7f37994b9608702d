// Plugins: name, version, where it was found, state and reason, its commands, the permissions it
// asks for and those granted, its extension sections, its service's state, its jobs' last runs
// and its log's last lines; enable (granting what it asks, after a confirmation), disable.

import { h, clear, listTable, onRowAction } from '../dom.js';
import { request, encodeName } from '../api.js';

function permissionsCell(plugin) {
  if (!plugin.scoped) return h('td', null, h('span.muted', { text: 'acts as you (declares none)' }));
  const asked = plugin.permissions || [];
  if (!asked.length) return h('td', { text: 'none' });
  const missing = new Set(plugin.not_granted || []);
  return h('td', null, h('ul.permissions', null, asked.map((permission) =>
    h('li', { dataset: { permission, granted: String(!missing.has(permission)) } }, h('code', { text: permission }), missing.has(permission) ? ' (not granted)' : ''))));
}

function extensionCell(plugin) {
  const parts = [];
  const ui = plugin.ui || {};
  const sections = ['dashboard-tab', 'workspace-tab', 'widgets', 'row-actions', 'menu'].filter((key) => ui[key]);
  if (sections.length) parts.push(h('div', null, 'ui: ', sections.join(', ')));
  if ((plugin.host_binaries || []).length) parts.push(h('div', null, 'host binaries: ', plugin.host_binaries.join(', ')));
  if (plugin.service && plugin.service.state) {
    const service = plugin.service;
    parts.push(h('div.service', { dataset: { state: service.state } }, 'service: ',
      h('span', { className: `state state-${service.state}`, text: service.state }),
      service.crashes ? ` (${service.crashes} crash${service.crashes === 1 ? '' : 'es'} in the last minute${service.last_exit ? `; it ${service.last_exit}` : ''})` : ''));
  }
  for (const job of plugin.jobs || []) {
    const last = (job.runs || [])[0];
    const result = job.running ? 'running' : !last ? 'not run yet' : last.timed_out ? `timed out ${last.started_at}` : `exit ${last.exit_code} at ${last.started_at}`;
    parts.push(h('div.job', { dataset: { job: job.id } }, 'job ', h('code', { text: job.id }), ` (${job.schedule}${job.enabled ? '' : ', off'}): ${result}`));
  }
  if ((plugin.log_tail || []).length) {
    parts.push(h('details.plugin-log', null, h('summary', { text: 'Log (last lines)' }), h('pre', { text: plugin.log_tail.join('\n') })));
  }
  return h('td.extension', null, parts.length ? parts : '—');
}

export async function render(main, _params, context) {
  const { showError, status, confirm } = context;
  main.append(h('h1', { text: 'Plugins' }));
  const list = h('div#plugin-list');
  main.append(list);
  const asked = new Map(); // plugin -> the permissions it asks for

  async function load() {
    let plugins;
    try {
      plugins = await request('GET', '/v1/plugins');
    } catch (error) {
      showError('Reading the plugins', error);
      return;
    }
    clear(list);
    asked.clear();
    if (!plugins.length) {
      list.append(h('p.empty', null, 'No plugin is installed. Plugins go in ', h('code', { text: '$BERTH_HOME/plugins' }), ' (see docs/plugins.md).'));
      return;
    }
    const { body, box } = listTable('plugins', 'Plugins', ['Name', 'Version', 'State', 'Reason', 'Commands', 'Permissions', 'Extension', 'Location', 'Actions']);
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
        permissionsCell(plugin),
        extensionCell(plugin),
        h('td', { text: plugin.location || '' }),
        h('td.actions', null,
          state === 'disabled' || (plugin.not_granted || []).length
            ? h('button.small', { type: 'button', dataset: { action: 'enable', name: plugin.name }, text: (plugin.not_granted || []).length ? 'Grant and enable' : 'Enable' })
            : null,
          state !== 'disabled' ? h('button.small', { type: 'button', dataset: { action: 'disable', name: plugin.name }, text: 'Disable' }) : null)));
      asked.set(plugin.name, plugin.permissions || []);
    }
    list.append(box);
  }

  onRowAction(list, async (action, name) => {
    const permissions = asked.get(name) || [];
    if (action === 'enable' && permissions.length) {
      const granted = await confirm({
        title: `Enable plugin '${name}'?`,
        body: [`It asks to act through berth with: ${permissions.join(', ')}.`, 'The server holds everything it does to these.'],
        action: 'Grant and enable',
      });
      if (!granted) return;
    }
    await request('POST', `/v1/plugins/${encodeName(name)}/${action}`);
    status(`Plugin '${name}' ${action}d.`);
    await load();
  }, (action, name, error) => showError(`${action === 'enable' ? 'Enabling' : 'Disabling'} plugin '${name}'`, error));

  await load();
  return undefined;
}
