// Create a workspace: name, target (with the properties its provider's manifest describes),
// repository, devcontainer choice, env and labels; then the operation's log on the same page.

import { h, clear, looksSecret, MASK, parsePairs } from '../dom.js';
import { request, operation, encodeName, ApiError } from '../api.js';
import { LogPanel, outcomeError } from '../logview.js';

const FOLLOW_KEY = 'berth.create.following';

function field(label, input, hint) {
  const id = input.id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div.field', null, h('label', { for: id, text: label }), input, hint ? h('p.hint', { id: hintId, text: hint }) : null);
}

export async function render(main, _params, context) {
  const { showError, status } = context;
  main.append(h('h1', { text: 'Create a workspace' }));

  const name = h('input#create-name', { name: 'name', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', spellcheck: 'false' });
  const target = h('select#create-target', { name: 'target' });
  const targetDetails = h('div#target-details.target-details', { 'aria-live': 'polite' });
  const repository = h('input#create-repository', { name: 'repository', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://… or /absolute/path' });
  const image = h('input#create-image', { name: 'image', autocomplete: 'off', spellcheck: 'false' });
  const devcontainerChoice = h('fieldset.devcontainer', null, h('legend', { text: 'Devcontainer' }),
    h('label.check', null, h('input', { type: 'radio', name: 'devcontainer', value: 'auto', checked: true }), ' Use the repository\'s devcontainer.json if it has one'),
    h('label.check', null, h('input', { type: 'radio', name: 'devcontainer', value: 'path' }), ' Use this devcontainer.json: '),
    h('input#create-devcontainer-path', { 'aria-label': 'devcontainer.json path, relative to the repository', placeholder: '.devcontainer/other/devcontainer.json', spellcheck: 'false' }),
    h('label.check', null, h('input', { type: 'radio', name: 'devcontainer', value: 'none' }), ' Ignore devcontainer.json (the target\'s image)'),
    h('label.check', null, h('input#create-trust', { type: 'checkbox', name: 'trust' }), ' Trust the repository: let its initializeCommand run on the server\'s machine'));
  const env = h('textarea#create-env', { name: 'env', rows: 3, spellcheck: 'false', placeholder: 'KEY=VALUE, one a line' });
  const labels = h('textarea#create-labels', { name: 'labels', rows: 2, spellcheck: 'false', placeholder: 'team=api, one a line' });
  const submit = h('button#create-submit.primary', { type: 'submit', text: 'Create' });
  const form = h('form#create-form.form', { novalidate: true },
    field('Name', name, 'Letters, digits, dot, dash and underscore; it names the workspace in every command.'),
    field('Target', target, 'Where it runs; the target\'s properties are shown below.'),
    targetDetails,
    field('Repository', repository, 'A git URL or an absolute path on the server\'s machine; leave empty for none.'),
    field('Image', image, 'Optional: an image instead of the target\'s default.'),
    devcontainerChoice,
    field('Environment', env, 'Variables for the workspace; values are kept as secrets in the record view.'),
    field('Labels', labels, 'For filtering the list and on what the provider makes.'),
    h('div.buttons', null, submit));

  const outcomeBox = h('div#create-outcome', { 'aria-live': 'polite' });
  const panel = new LogPanel('create', 'Create log');
  const logSection = h('section#create-log.log-section', { hidden: true, 'aria-labelledby': 'create-log-title' },
    h('h2#create-log-title', { text: 'Log' }), panel.element, outcomeBox);
  main.append(form, logSection);

  // Targets and the manifests of their providers.
  let targets = [];
  let providers = [];
  try {
    [targets, providers] = await Promise.all([request('GET', '/v1/targets'), request('GET', '/v1/providers').catch(() => [])]);
  } catch (error) {
    showError('Reading the targets', error);
  }
  for (const t of targets) target.append(h('option', { value: t.name, text: t.default ? `${t.name} (default)` : t.name, selected: !!t.default }));
  if (!targets.length) target.append(h('option', { value: '', text: 'no target (berth target add)' }));

  function showTarget() {
    clear(targetDetails);
    const chosen = targets.find((t) => t.name === target.value);
    if (!chosen) return;
    const provider = providers.find((p) => p.name === chosen.provider);
    const manifest = provider?.target_manifest || [];
    const rows = [];
    const names = new Set([...manifest.map((spec) => spec.name), ...Object.keys(chosen.properties || {})]);
    for (const property of names) {
      const spec = manifest.find((entry) => entry.name === property) || {};
      const set = chosen.properties && property in chosen.properties;
      const secret = spec.type === 'secret' || looksSecret(property);
      const value = set ? (secret ? MASK : chosen.properties[property]) : spec.default ? `${spec.default} (default)` : '—';
      rows.push(h('tr', null, h('th', { scope: 'row', text: property }), h('td', { text: value }), h('td.muted', { text: spec.description || '' })));
    }
    targetDetails.append(h('table.kv', null,
      h('caption', { text: `Target ${chosen.name}: provider ${chosen.provider}${provider && provider.status === 'broken' ? ' (broken: ' + provider.reason + ')' : ''}` }),
      h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Property' }), h('th', { scope: 'col', text: 'Value' }), h('th', { scope: 'col', text: 'Meaning' }))),
      h('tbody', null, rows)));
  }
  target.addEventListener('change', showTarget);
  showTarget();

  function showOutcome(workspaceName, outcome) {
    clear(outcomeBox);
    if (!outcome) {
      outcomeBox.append(h('p.muted', null, 'The log stream ended. ', h('a', { href: `#/w/${encodeName(workspaceName)}`, text: `Open ${workspaceName}` })));
      return;
    }
    if (outcome.ok) {
      const state = outcome.workspace?.state || 'created';
      outcomeBox.append(h('p.ok', { role: 'status' }, `Workspace '${workspaceName}' is ${state}. `, h('a', { href: `#/w/${encodeName(workspaceName)}`, text: `Open ${workspaceName}` })));
      status(`Workspace '${workspaceName}' is ${state}.`);
    } else {
      outcomeBox.append(h('p.bad', { text: `Creating '${workspaceName}' failed.` }));
      showError(`Creating '${workspaceName}'`, outcomeError(outcome));
    }
  }

  async function follow(workspaceName, until) {
    logSection.hidden = false;
    clear(outcomeBox).append(h('p.muted.running', { text: `Creating '${workspaceName}'…` }));
    try {
      const result = await panel.follow(workspaceName, { until });
      if (!result.aborted) showOutcome(workspaceName, result.outcome);
    } catch (error) {
      showError(`Following the log of '${workspaceName}'`, error);
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let body;
    try {
      if (!name.value.trim()) throw new Error('the workspace needs a name');
      if (!name.checkValidity()) throw new Error(`name '${name.value}' may hold only letters, digits, '.', '-' and '_', and must start with a letter or digit`);
      const choice = form.querySelector('input[name=devcontainer]:checked').value;
      const options = {};
      const path = document.getElementById('create-devcontainer-path').value.trim();
      if (choice === 'path') {
        if (!path) throw new Error('give the devcontainer.json path, or choose another devcontainer option');
        options.devcontainer = path;
      }
      if (choice === 'none') options.no_devcontainer = 'true';
      if (document.getElementById('create-trust').checked) options.trust = 'true';
      body = {
        name: name.value.trim(),
        target: target.value,
        repository: repository.value.trim(),
        image: image.value.trim(),
        env: parsePairs(env.value, 'environment'),
        labels: parsePairs(labels.value, 'labels'),
        options,
      };
    } catch (error) {
      showError('Checking the form', new ApiError('invalid', error.message));
      return;
    }
    submit.disabled = true;
    try {
      const started = await operation('POST', '/v1/workspaces', body);
      panel.reset(Number(started.offset || 0));
      panel.save({ name: body.name, until: started.ticket, start: Number(started.offset || 0), outcome: null });
      sessionStorage.setItem(FOLLOW_KEY, body.name);
      status(`Creating '${body.name}'…`);
      await follow(body.name, started.ticket);
    } catch (error) {
      submit.disabled = false;
      showError(`Creating '${body.name}'`, error);
    }
  });

  // After a reload: the create that was being followed goes on where the page left it.
  const following = sessionStorage.getItem(FOLLOW_KEY);
  const saved = following ? panel.restore() : null;
  if (saved && saved.name === following) {
    logSection.hidden = false;
    name.value = following;
    if (saved.following) {
      submit.disabled = true;
      follow(following, saved.until);
    } else {
      showOutcome(following, saved.outcome);
    }
  }
  return () => panel.stop();
}
