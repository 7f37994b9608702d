// Targets: each with its provider and properties (secret-looking values masked); add one from
// YAML (the server's errors name the line), remove one, make one the default.

import { h, clear, keyValueTable, looksSecret, listTable, onRowAction } from '../dom.js';
import { request, encodeName } from '../api.js';

const EXAMPLE = `name: my-docker
provider: docker
properties:
  image: debian:bookworm
`;

export async function render(main, _params, context) {
  const { showError, status, confirm } = context;
  main.append(h('h1', { text: 'Targets' }));
  const list = h('div#target-list');
  const yaml = h('textarea#target-yaml', { rows: 8, spellcheck: 'false', placeholder: EXAMPLE, 'aria-describedby': 'target-yaml-hint' });
  const addError = h('div#target-add-error', { 'aria-live': 'polite' });
  const form = h('form#target-add.form', null,
    h('h2', { text: 'Add a target' }),
    h('div.field', null, h('label', { for: 'target-yaml', text: 'Target YAML' }), yaml,
      h('p.hint#target-yaml-hint', null, 'The same document as a file for ', h('code', { text: 'berth target add FILE' }), ': name, provider, properties.')),
    addError,
    h('div.buttons', null, h('button.primary', { type: 'submit', text: 'Add target' })));
  main.append(list, form);

  async function load() {
    let targets;
    let providers = [];
    try {
      [targets, providers] = await Promise.all([request('GET', '/v1/targets'), request('GET', '/v1/providers').catch(() => [])]);
    } catch (error) {
      showError('Reading the targets', error);
      return;
    }
    clear(list);
    if (!targets.length) list.append(h('p.empty', { text: 'No target yet: add one below.' }));
    const { body, box } = listTable('targets', 'Targets', ['Name', 'Provider', 'Properties', 'Actions']);
    for (const target of targets) {
      const provider = providers.find((p) => p.name === target.provider);
      const secretNames = new Set((provider?.target_manifest || []).filter((spec) => spec.type === 'secret').map((spec) => spec.name));
      body.append(h('tr', { dataset: { name: target.name } },
        h('td.name', null, target.name, target.default ? h('span.badge', { text: 'default' }) : null),
        h('td', { text: target.provider }),
        h('td', null, keyValueTable(target.properties, { mask: (key) => secretNames.has(key) || looksSecret(key) })),
        h('td.actions', null,
          target.default ? null : h('button.small', { type: 'button', dataset: { action: 'default', name: target.name }, text: 'Make default' }),
          h('button.small.danger', { type: 'button', dataset: { action: 'remove', name: target.name }, text: 'Remove' }))));
    }
    list.append(box);
  }

  onRowAction(list, async (action, name) => {
    if (action === 'default') {
      await request('POST', `/v1/targets/${encodeName(name)}/default`);
      status(`Target '${name}' is the default.`);
    } else {
      if (!(await confirm({ title: `Remove target '${name}'?`, body: [`Workspaces on '${name}' keep running, but berth can no longer start, stop or delete them until a target of that name exists again.`], action: `Remove ${name}` }))) return;
      const answer = await request('DELETE', `/v1/targets/${encodeName(name)}`);
      status(`Target '${name}' removed.${answer?.warning ? ' ' + answer.warning : ''}`);
    }
    await load();
  }, (action, name, error) => showError(action === 'default' ? `Making '${name}' the default target` : `Removing target '${name}'`, error));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(addError);
    try {
      const added = await request('POST', '/v1/targets', { yaml: yaml.value, source: 'dashboard' });
      status(`Target '${added.name}' added.`);
      yaml.value = '';
      await load();
    } catch (error) {
      addError.append(h('p.bad', null, h('strong', { text: 'Not added: ' }), error.message));
      showError('Adding the target', error);
    }
  });

  await load();
  return undefined;
}
