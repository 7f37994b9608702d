// Small DOM helpers: elements from data (never from HTML strings), time and secret formatting.

/// h('tag.class#id', {attr: value, onclick: fn}, ...children): an element. Children may be
/// strings, nodes, arrays or null. Attributes named data* go to dataset; `text` sets textContent.
export function h(spec, attributes, ...children) {
  const [, tag, rest] = /^([a-z0-9-]+)(.*)$/i.exec(spec);
  const element = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') element.classList.add(part.slice(1));
    else element.id = part.slice(1);
  }
  if (attributes) {
    for (const [key, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
      else if (key === 'text') element.textContent = value;
      else if (key === 'dataset') Object.assign(element.dataset, value);
      else if (key === 'className') element.className = value;
      else if (key in element && typeof value !== 'string') element[key] = value;
      else element.setAttribute(key, value === true ? '' : value);
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

/// A name that suggests its value is a secret (an env variable, a target property).
export function looksSecret(name) {
  return /key|token|secret|passw|credential|auth|private/i.test(name);
}

export const MASK = '••••••';

/// "3 min ago" style age of an RFC 3339 time; '' when there is none.
export function age(rfc3339, now = Date.now()) {
  if (!rfc3339) return '';
  const then = Date.parse(rfc3339);
  if (Number.isNaN(then)) return rfc3339;
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/// A table of key/value pairs; values masked when mask(key) says so, with a reveal button when
/// revealable. Used for env, labels, options, provider data and target properties.
export function keyValueTable(map, { caption, mask = () => false, revealable = false, empty = 'none' } = {}) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h('p.muted', { text: `${caption ? caption + ': ' : ''}${empty}` });
  const table = h('table.kv', null, caption ? h('caption', { text: caption }) : null);
  const body = h('tbody');
  for (const [key, value] of entries) {
    const cell = h('td');
    if (mask(key)) {
      const shown = h('span.secret', { text: MASK, dataset: { masked: 'true' } });
      cell.append(shown);
      if (revealable) {
        const button = h('button.small', { type: 'button', 'aria-pressed': 'false', text: 'Reveal' });
        button.setAttribute('aria-label', `Reveal ${key}`);
        button.addEventListener('click', () => {
          const hidden = shown.dataset.masked === 'true';
          shown.textContent = hidden ? value : MASK;
          shown.dataset.masked = hidden ? 'false' : 'true';
          button.textContent = hidden ? 'Hide' : 'Reveal';
          button.setAttribute('aria-label', `${hidden ? 'Hide' : 'Reveal'} ${key}`);
          button.setAttribute('aria-pressed', String(hidden));
        });
        cell.append(' ', button);
      }
    } else {
      cell.textContent = value;
    }
    body.append(h('tr', null, h('th', { scope: 'row', text: key }), cell));
  }
  table.append(body);
  return table;
}

/// Parses KEY=VALUE lines (blank lines and # comments skipped); throws naming the bad line.
export function parsePairs(text, what) {
  const result = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const equals = line.indexOf('=');
    if (equals <= 0) throw new Error(`${what} line ${index + 1} ("${line}") must be KEY=VALUE`);
    result[line.slice(0, equals).trim()] = line.slice(equals + 1);
  });
  return result;
}

/// A list page's table: `table.list#ID` with a hidden caption and a header row of `columns`,
/// inside its scrolling box. Rows go in `body`; `box` is what the page appends.
export function listTable(id, caption, columns) {
  const body = h('tbody');
  const table = h(`table.list#${id}`, null, h('caption.visually-hidden', { text: caption }),
    h('thead', null, h('tr', null, columns.map((title) => h('th', { scope: 'col', text: title })))), body);
  return { body, box: h('div.table-scroll', null, table) };
}

/// One listener for every row's buttons (`button[data-action][data-name]`) under container:
/// handler(action, name, button) runs for a click on one, and what it throws goes to onError.
export function onRowAction(container, handler, onError) {
  container.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button || !container.contains(button)) return;
    const { action, name } = button.dataset;
    try {
      await handler(action, name, button);
    } catch (error) {
      onError(action, name, error);
    }
  });
}
