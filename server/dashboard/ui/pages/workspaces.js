// The workspace list: pushed by the event stream, built once with one fragment, then updated
// row by row (keyed by name). One listener per kind of event on the table (delegation).

import { h, clear, age } from '../dom.js';
import { rowActions, runRowAction, widgets, pluginFrame } from '../extensions.js';
import { request, encodeName, ApiError } from '../api.js';

const FAVOURITES_KEY = 'berth.favourites';
const COLUMNS = [
  { key: 'name', title: 'Name' },
  { key: 'state', title: 'State' },
  { key: 'target', title: 'Target' },
  { key: 'provider', title: 'Provider' },
  { key: 'labels', title: 'Labels', sortable: false },
  { key: 'created_at', title: 'Age' },
];
const STATES = ['creating', 'started', 'starting', 'stopping', 'stopped', 'deleting', 'error', 'paused'];

function loadFavourites() {
  try {
    return new Set(JSON.parse(localStorage.getItem(FAVOURITES_KEY) || '[]'));
  } catch {
    return new Set();
  }
}

function labelText(labels) {
  return Object.entries(labels || {}).map(([key, value]) => `${key}=${value}`).join(' ');
}

export async function render(main, _params, context) {
  const { store, status, showError, confirm } = context;
  const favourites = loadFavourites();
  const selected = new Set();
  const rows = new Map(); // name -> <tr>
  const view = { text: '', state: '', target: '', label: '', favouritesOnly: false, sort: 'name', descending: false };

  // --- controls
  const textFilter = h('input#filter-text', { type: 'search', placeholder: 'name, repository…', autocomplete: 'off' });
  const stateFilter = h('select#filter-state', null, h('option', { value: '', text: 'any' }), STATES.map((s) => h('option', { value: s, text: s })));
  const targetFilter = h('select#filter-target', null, h('option', { value: '', text: 'any' }));
  const labelFilter = h('input#filter-label', { type: 'text', placeholder: 'KEY or KEY=VALUE', autocomplete: 'off' });
  const favouriteFilter = h('input#filter-favourites', { type: 'checkbox' });
  const filters = h('form.filters', { role: 'search', 'aria-label': 'Filter workspaces', onsubmit: (event) => event.preventDefault() },
    h('label', null, 'Search ', textFilter),
    h('label', null, 'State ', stateFilter),
    h('label', null, 'Target ', targetFilter),
    h('label', null, 'Label ', labelFilter),
    h('label.check', null, favouriteFilter, ' Favourites only'));

  const selectionCount = h('span#selection-count', { text: 'none selected' });
  const bulkButtons = ['start', 'stop', 'rebuild', 'delete'].map((action) =>
    h(`button.bulk${action === 'delete' ? '.danger' : ''}`, { type: 'button', dataset: { action }, disabled: true, text: action[0].toUpperCase() + action.slice(1) }));
  const bulkBar = h('div.bulk-bar', { role: 'toolbar', 'aria-label': 'Actions on the selected workspaces' }, selectionCount, bulkButtons);

  // A grid of divs with the table roles: each row skips layout and paint while off screen
  // (content-visibility), which a <table> cannot do; 1,000 rows paint as fast as a screenful.
  const allBox = h('input#select-all', { type: 'checkbox', 'aria-label': 'Select every shown workspace' });
  const headRow = h('div.row', { role: 'row' }, h('div.select', { role: 'columnheader' }, allBox),
    h('div.fav', { role: 'columnheader' }, h('span.visually-hidden', { text: 'Favourite' })));
  for (const column of COLUMNS) {
    const th = h('div', { role: 'columnheader', dataset: { key: column.key } });
    if (column.sortable === false) th.textContent = column.title;
    else th.append(h('button.sort', { type: 'button', dataset: { sort: column.key }, text: column.title }));
    headRow.append(th);
  }
  const tbody = h('div#workspace-rows.body', { role: 'rowgroup' });
  const table = h('div#workspaces.grid-list', { role: 'table', 'aria-label': 'Workspaces' }, h('div.head', { role: 'rowgroup' }, headRow), tbody);
  const shownCount = h('p#shown-count.muted', { 'aria-live': 'polite' });
  const empty = h('p#empty.empty', { hidden: true }, 'No workspace yet. ', h('a', { href: '#/create', text: 'Create one' }), ' or run ', h('code', { text: 'berth create NAME' }), '.');

  // Plugins' row actions act on the selected rows, beside the bulk actions.
  const extensionButtons = rowActions().map(({ plugin, action }) =>
    h('button.bulk.extension-action', { type: 'button', disabled: true, dataset: { plugin: plugin.name, binary: action.binary }, text: action.title,
      title: `plugin ${plugin.name}`, onclick: () => { for (const workspace of selected) runRowAction(plugin, action, workspace); } }));
  bulkBar.append(...extensionButtons);
  const homeWidgets = widgets('home');
  const widgetBox = homeWidgets.length
    ? h('section#widgets.widgets', { 'aria-label': 'Plugin widgets' }, homeWidgets.map(({ plugin, widget }) =>
      h('div.card.widget', null, h('h2', { text: widget.title }), pluginFrame(plugin, widget.src, { view: 'widget', height: widget.height, title: widget.title }))))
    : '';
  main.append(h('div.page-head', null, h('h1', { text: 'Workspaces' }), h('a.button', { href: '#/create', text: 'Create workspace' })),
    filters, bulkBar, h('div.table-scroll', null, table), empty, shownCount, widgetBox);

  // --- rows
  function fillRow(tr, w) {
    const cells = tr.children;
    const favourite = favourites.has(w.name);
    const fav = cells[1].firstChild;
    fav.textContent = favourite ? '★' : '☆';
    fav.setAttribute('aria-pressed', String(favourite));
    const state = cells[3].firstChild;
    state.textContent = w.operation ? `${w.state} (${w.operation})` : w.state;
    state.className = `state state-${w.state}`;
    if (w.last_error) state.title = w.last_error;
    else state.removeAttribute('title');
    cells[4].textContent = w.target;
    cells[5].textContent = w.provider;
    cells[6].textContent = labelText(w.labels);
    cells[7].textContent = age(w.created_at);
    cells[7].title = w.created_at || '';
    tr.dataset.state = w.state;
  }

  // One row made by hand, then cloned for each workspace (cheaper than building each).
  const template = (() => {
    const tr = document.createElement('div');
    tr.className = 'row';
    tr.setAttribute('role', 'row');
    const classes = ['select', 'fav', 'name', 'state-cell', '', '', '', ''];
    for (const name of classes) {
      const td = document.createElement('div');
      td.setAttribute('role', 'cell');
      if (name) td.className = name;
      tr.append(td);
    }
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'pick';
    tr.children[0].append(box);
    const star = document.createElement('button');
    star.type = 'button';
    star.className = 'star';
    tr.children[1].append(star);
    tr.children[2].append(document.createElement('a'));
    tr.children[3].append(document.createElement('span'));
    return tr;
  })();

  function makeRow(w) {
    const tr = template.cloneNode(true);
    tr.dataset.name = w.name;
    const box = tr.children[0].firstChild;
    box.setAttribute('aria-label', `Select ${w.name}`);
    box.checked = selected.has(w.name);
    tr.children[1].firstChild.setAttribute('aria-label', `Favourite ${w.name}`);
    const link = tr.children[2].firstChild;
    link.href = `#/w/${encodeName(w.name)}`;
    link.textContent = w.name;
    fillRow(tr, w);
    return tr;
  }

  function matches(w) {
    if (view.state && w.state !== view.state) return false;
    if (view.target && w.target !== view.target) return false;
    if (view.favouritesOnly && !favourites.has(w.name)) return false;
    if (view.label) {
      const [key, value] = view.label.split('=', 2);
      const labels = w.labels || {};
      if (!(key in labels)) return false;
      if (value !== undefined && labels[key] !== value) return false;
    }
    if (view.text) {
      const hay = `${w.name} ${w.repository || ''} ${w.target} ${w.provider} ${labelText(w.labels)}`.toLowerCase();
      if (!hay.includes(view.text)) return false;
    }
    return true;
  }

  function compare(a, b) {
    const key = view.sort;
    // Favourites first, then the chosen column.
    const favouriteOrder = Number(favourites.has(b.name)) - Number(favourites.has(a.name));
    if (favouriteOrder) return favouriteOrder;
    const left = String(a[key] || '');
    const right = String(b[key] || '');
    const order = left < right ? -1 : left > right ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    return view.descending ? -order : order;
  }

  function refreshCounts() {
    let shown = 0;
    for (const tr of rows.values()) if (!tr.hidden) shown++;
    shownCount.textContent = `${shown} of ${rows.size} workspaces shown`;
    empty.hidden = rows.size !== 0;
    for (const name of [...selected]) if (!rows.has(name)) selected.delete(name);
    selectionCount.textContent = selected.size ? `${selected.size} selected` : 'none selected';
    for (const button of [...bulkButtons, ...extensionButtons]) button.disabled = selected.size === 0;
    allBox.checked = shown > 0 && [...rows.values()].every((tr) => tr.hidden || selected.has(tr.dataset.name));
  }

  function fillTargets() {
    const targets = new Set();
    for (const w of store.workspaces.values()) targets.add(w.target);
    const current = targetFilter.value;
    const known = new Set([...targetFilter.options].map((option) => option.value));
    for (const target of [...targets].sort()) if (!known.has(target)) targetFilter.append(h('option', { value: target, text: target }));
    targetFilter.value = current;
  }

  /// Builds the rows: the first screenful in one fragment and one insertion, painted at once;
  /// the rest in a second fragment just after that paint (onDone then).
  const FIRST = 60;  // more than a tall window shows
  let pendingBuild = null;
  function rebuild({ onFirstPaint, onDone } = {}) {
    rows.clear();
    if (pendingBuild) clearTimeout(pendingBuild);
    pendingBuild = null;
    const list = [...store.workspaces.values()].sort(compare);
    const build = (part) => {
      const fragment = document.createDocumentFragment();
      for (const listed of part) {
        if (rows.has(listed.name) || !store.workspaces.has(listed.name)) continue; // came or went by an event meanwhile
        const w = store.workspaces.get(listed.name);
        const tr = makeRow(w);
        tr.hidden = !matches(w);
        rows.set(w.name, tr);
        fragment.append(tr);
      }
      return fragment;
    };
    tbody.replaceChildren(build(list.slice(0, FIRST)));
    fillTargets();
    refreshCounts();
    const finish = () => {
      pendingBuild = null;
      if (list.length > FIRST) {
        tbody.append(build(list.slice(FIRST)));
        reorder();
        fillTargets();
        refreshCounts();
      }
      if (onDone) onDone();
    };
    // After the frame that paints the first rows.
    requestAnimationFrame(() => {
      pendingBuild = setTimeout(() => {
        if (onFirstPaint) onFirstPaint();
        finish();
      }, 0);
    });
  }

  /// Reorders the existing rows (after a sort or favourite change) without rebuilding them.
  function reorder() {
    const fragment = document.createDocumentFragment();
    for (const w of [...store.workspaces.values()].sort(compare)) {
      const tr = rows.get(w.name);
      if (tr) fragment.append(tr);
    }
    tbody.append(fragment);
  }

  function refilter() {
    for (const [name, tr] of rows) tr.hidden = !matches(store.workspaces.get(name));
    refreshCounts();
  }

  function sortIndicators() {
    for (const th of headRow.querySelectorAll('[data-key]')) {
      if (th.dataset.key === view.sort) th.setAttribute('aria-sort', view.descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    }
  }

  // --- delegated events
  tbody.addEventListener('click', (event) => {
    const star = event.target.closest('button.star');
    if (!star) return;
    const name = star.closest('.row').dataset.name;
    if (favourites.has(name)) favourites.delete(name);
    else favourites.add(name);
    localStorage.setItem(FAVOURITES_KEY, JSON.stringify([...favourites]));
    fillRow(rows.get(name), store.workspaces.get(name));
    reorder();
    star.focus();
  });
  tbody.addEventListener('change', (event) => {
    if (!event.target.classList.contains('pick')) return;
    const name = event.target.closest('.row').dataset.name;
    if (event.target.checked) selected.add(name);
    else selected.delete(name);
    refreshCounts();
  });
  allBox.addEventListener('change', () => {
    for (const [name, tr] of rows) {
      if (tr.hidden) continue;
      if (allBox.checked) selected.add(name);
      else selected.delete(name);
      tr.children[0].firstChild.checked = allBox.checked;
    }
    refreshCounts();
  });
  headRow.addEventListener('click', (event) => {
    const button = event.target.closest('button.sort');
    if (!button) return;
    if (view.sort === button.dataset.sort) view.descending = !view.descending;
    else Object.assign(view, { sort: button.dataset.sort, descending: false });
    sortIndicators();
    reorder();
  });
  textFilter.addEventListener('input', () => { view.text = textFilter.value.trim().toLowerCase(); refilter(); });
  stateFilter.addEventListener('change', () => { view.state = stateFilter.value; refilter(); });
  targetFilter.addEventListener('change', () => { view.target = targetFilter.value; refilter(); });
  labelFilter.addEventListener('input', () => { view.label = labelFilter.value.trim(); refilter(); });
  favouriteFilter.addEventListener('change', () => { view.favouritesOnly = favouriteFilter.checked; refilter(); });

  bulkBar.addEventListener('click', async (event) => {
    const button = event.target.closest('button.bulk');
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    const names = [...selected].sort();
    if (!names.length) return;
    if (action === 'delete') {
      const list = h('ul.confirm-names', null, names.map((name) => {
        const w = store.workspaces.get(name);
        return h('li', null, h('strong', { text: name }), w ? ` (${w.provider} on target ${w.target})` : '');
      }));
      const agreed = await confirm({
        title: `Delete ${names.length} workspace${names.length > 1 ? 's' : ''}?`,
        body: [
          h('p', { text: 'This removes, for each workspace below, what its provider made (the container and its volumes, or the host folder with everything in it) and berth\'s record of it. It cannot be undone.' }),
          list,
        ],
        action: `Delete ${names.length}`,
      });
      if (!agreed) {
        status('Delete cancelled: nothing was removed.');
        return;
      }
    }
    for (const b of bulkButtons) b.disabled = true;
    status(`${action}: asking for ${names.join(', ')}…`);
    try {
      const answer = await request('POST', `/v1/bulk/${action}`, { workspaces: names });
      const failed = (answer.results || []).filter((result) => !result.ok);
      for (const failure of failed) {
        const error = new ApiError(failure.error?.code || 'error', failure.error?.message || 'failed');
        showError(`${action[0].toUpperCase() + action.slice(1)} of '${failure.workspace}'`, error);
      }
      const started = (answer.results || []).length - failed.length;
      status(`${action}: ${started} under way${failed.length ? `, ${failed.length} refused` : ''}. The list follows them.`);
    } catch (error) {
      showError(`${action[0].toUpperCase() + action.slice(1)} of ${names.join(', ')}`, error);
    } finally {
      refreshCounts();
    }
  });

  // --- live updates
  const unsubscribe = store.subscribe((change) => {
    if (change.type === 'reset') return rebuild();
    if (change.type === 'delete') {
      rows.get(change.name)?.remove();
      rows.delete(change.name);
      selected.delete(change.name);
      return refreshCounts();
    }
    const w = change.record;
    const tr = rows.get(w.name);
    if (tr) {
      fillRow(tr, w);
      tr.hidden = !matches(w);
      if (view.sort !== 'name' && view.sort !== 'created_at') reorder();
    } else {
      const fresh = makeRow(w);
      fresh.hidden = !matches(w);
      rows.set(w.name, fresh);
      tbody.append(fresh);
      reorder();
      fillTargets();
    }
    refreshCounts();
  });
  const ageTimer = setInterval(() => {
    const now = Date.now();
    for (const [name, tr] of rows) tr.children[7].textContent = age(store.workspaces.get(name)?.created_at, now);
  }, 30000);

  sortIndicators();
  try {
    await store.ready();
    // For the benchmark and tests: 'berth:list-painted' is the first screenful painted (the
    // frame after its rows went in); data-ready and 'berth:list-complete' are every row in.
    rebuild({
      onFirstPaint: () => performance.mark('berth:list-painted'),
      onDone: () => {
        performance.mark('berth:list-complete');
        requestAnimationFrame(() => setTimeout(() => { main.dataset.ready = 'true'; }, 0));
      },
    });
    performance.mark('berth:list-rendered');
  } catch (error) {
    showError('Reading the workspace list', error);
  }
  return () => {
    unsubscribe();
    clearInterval(ageTimer);
  };
}
