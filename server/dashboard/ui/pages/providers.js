// Providers: state (loaded, broken, quarantined, disabled) with its reason; enable, disable, logs.

import { h, clear, listTable, onRowAction } from '../dom.js';
import { request, text, encodeName } from '../api.js';

/// The provider's state: the server's field when it gives one, else read from status and reason.
export function providerState(provider) {
  if (provider.state) return provider.state;
  if (provider.status !== 'broken') return provider.status || 'loaded';
  if (/disabled/i.test(provider.reason || '')) return 'disabled';
  if (/quarantin/i.test(provider.reason || '')) return 'quarantined';
  return 'broken';
}

export async function render(main, _params, context) {
  const { showError, status } = context;
  main.append(h('h1', { text: 'Providers' }));
  const list = h('div#provider-list');
  main.append(list);

  async function load() {
    let providers;
    try {
      providers = await request('GET', '/v1/providers');
    } catch (error) {
      showError('Reading the providers', error);
      return;
    }
    clear(list);
    const { body, box } = listTable('providers', 'Providers', ['Name', 'Version', 'State', 'Reason', 'Location', 'Actions']);
    for (const provider of providers) {
      const state = providerState(provider);
      const logs = h('pre.log.provider-log', { hidden: true, tabindex: '0', 'aria-label': `Log of provider ${provider.name}` });
      body.append(h('tr', { dataset: { name: provider.name, state } },
        h('td.name', null, h('strong', { text: provider.name }), provider.description ? h('div.muted', { text: provider.description }) : null),
        h('td', { text: `${provider.version || ''} (API ${provider.api_version || '?'})` }),
        h('td', null, h('span', { className: `state state-${state}`, text: state })),
        h('td', { text: provider.reason || '—' }),
        h('td', { text: provider.location || '' }),
        h('td.actions', null,
          state === 'disabled'
            ? h('button.small', { type: 'button', dataset: { action: 'enable', name: provider.name }, text: 'Enable' })
            : h('button.small', { type: 'button', dataset: { action: 'disable', name: provider.name }, text: 'Disable' }),
          h('button.small', { type: 'button', 'aria-expanded': 'false', dataset: { action: 'logs', name: provider.name }, text: 'Logs' }))),
      h('tr.log-row', null, h('td', { colSpan: 6 }, logs)));
    }
    list.append(box);
  }

  onRowAction(list, async (action, name, button) => {
    if (action === 'logs') {
      const pre = button.closest('tr').nextElementSibling.querySelector('pre');
      const open = pre.hidden;
      if (open) pre.textContent = (await text(`/v1/providers/${encodeName(name)}/logs`)) || '(the log is empty)';
      pre.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      return;
    }
    await request('POST', `/v1/providers/${encodeName(name)}/${action}`);
    status(`Provider '${name}' ${action}d.`);
    await load();
  }, (action, name, error) => showError(action === 'logs' ? `Reading the log of provider '${name}'` : `${action === 'enable' ? 'Enabling' : 'Disabling'} provider '${name}'`, error));

  await load();
  return undefined;
}
