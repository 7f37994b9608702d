// glance's pages. Everything goes through window.berth (berth's bridge): this frame has an
// opaque origin and may connect nowhere; berth's page makes each call with glance's credential.
'use strict';

function countByState(list) {
  const counts = {};
  for (const w of list) counts[w.state] = (counts[w.state] || 0) + 1;
  return counts;
}

function show(id, text, error) {
  const element = document.getElementById(id);
  element.textContent = text;
  element.className = error ? 'error' : '';
}

async function tab() {
  const list = await berth.workspaces.list();
  const states = document.getElementById('states');
  states.replaceChildren();
  const counts = countByState(list);
  for (const [state, count] of Object.entries(counts)) {
    const item = document.createElement('li');
    item.textContent = `${state}: ${count}`;
    item.dataset.state = state;
    states.append(item);
  }
  if (!list.length) states.append(Object.assign(document.createElement('li'), { textContent: 'no workspaces' }));
  try {
    const machine = await berth.service.get('/load');
    show('load', `load ${machine.load.join(' ')}, up ${Math.round(machine.uptime_seconds / 3600)} h`);
  } catch (error) {
    show('load', error.message, true);
  }
  try {
    const run = await berth.host.exec('disk-use', []);
    show('disk', run.stdout.trim() || run.stderr.trim(), run.exit_code !== 0);
  } catch (error) {
    show('disk', error.message, true);
  }
}

async function workspace(name) {
  const w = await berth.workspaces.get(name);
  const record = document.getElementById('record');
  record.replaceChildren();
  for (const [key, value] of [['name', w.name], ['state', w.state], ['provider', w.provider], ['target', w.target], ['created', w.created_at]]) {
    record.append(Object.assign(document.createElement('dt'), { textContent: key }), Object.assign(document.createElement('dd'), { textContent: value || '-' }));
  }
  // Disk use where the workspace lives, by a command run in it (workspaces:exec).
  try {
    const run = await berth.exec(name, ['df', '-hP', '.']);
    const fields = run.stdout.trim().split('\n').pop().split(/\s+/);
    show('workspace-disk', run.exit_code === 0 ? `workspace disk: ${fields[2]} used of ${fields[1]} (${fields[4]})` : run.stderr.trim(), run.exit_code !== 0);
  } catch (error) {
    show('workspace-disk', error.message, true);
  }
}

async function widget() {
  const list = await berth.workspaces.list();
  const counts = countByState(list);
  show('summary', list.length ? Object.entries(counts).map(([s, c]) => `${c} ${s}`).join(', ') : 'no workspaces');
}

async function main() {
  try {
    if (berth.context.view === 'workspace') await workspace(berth.context.workspace);
    else if (berth.context.view === 'widget') await widget();
    else await tab();
  } catch (error) {
    document.body.append(Object.assign(document.createElement('p'), { className: 'error', textContent: error.message }));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const refresh = document.getElementById('refresh');
  if (refresh) refresh.addEventListener('click', main);
  const tryWrite = document.getElementById('try-write');
  // Shows a refusal: glance may read workspaces, not stop them (the server answers 403 and
  // berth's page shows it as a notice).
  if (tryWrite) tryWrite.addEventListener('click', async () => {
    const list = await berth.workspaces.list();
    try {
      await berth.workspaces.stop(list.length ? list[0].name : 'none');
      show('write-result', 'stopped (this should not happen)', true);
    } catch (error) {
      show('write-result', `refused as it should be: ${error.message}`, false);
    }
  });
  main();
});
