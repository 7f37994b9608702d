// Every workspace record the dashboard knows, kept current by the server's event stream
// (GET /v1/events, server-sent events): no polling. Pages subscribe and get each change.

import { request } from './api.js';

// The list page shows these; the events bring whole records (which replace these). index.html
// preloads this same URL: change both together.
const LIST_FIELDS = 'name,target,provider,state,operation,labels,created_at,last_error';

export const workspaces = new Map();
const listeners = new Set();
let source = null;
let buffered = null; // events that arrived while the list was being read
let loading = null;
let connectionListener = () => {};

function notify(change) {
  for (const listener of listeners) {
    try {
      listener(change);
    } catch (error) {
      console.error(error);
    }
  }
}

function apply(event) {
  if (event.type === 'workspace') {
    const record = JSON.parse(event.data);
    workspaces.set(record.name, record);
    notify({ type: 'upsert', record });
  } else if (event.type === 'deleted') {
    const { name } = JSON.parse(event.data);
    if (workspaces.delete(name)) notify({ type: 'delete', name });
  } else if (event.type === 'reset') {
    load();
  }
}

function onEvent(event) {
  connectionListener('live');
  if (buffered) buffered.push(event);
  else apply(event);
}

/// Reads the whole list again (at start and after a reset); events that come meanwhile are
/// applied after it, in order, so none is lost and the newest wins.
export function load() {
  buffered = buffered || [];
  loading = request('GET', `/v1/workspaces?fields=${LIST_FIELDS}`).then(
    (list) => {
      workspaces.clear();
      for (const record of list) workspaces.set(record.name, record);
      const pending = buffered;
      buffered = null;
      notify({ type: 'reset' });
      for (const event of pending) apply(event);
      return workspaces;
    },
    (error) => {
      buffered = null;
      throw error;
    },
  );
  return loading;
}

/// Opens the event stream, then reads the list (the stream first, so nothing between is missed).
export function start(onConnection) {
  connectionListener = onConnection || connectionListener;
  if (source) return loading;
  buffered = [];
  source = new EventSource('/v1/events');
  for (const type of ['workspace', 'deleted', 'reset']) source.addEventListener(type, onEvent);
  source.addEventListener('open', () => connectionListener('live'));
  source.addEventListener('error', () => connectionListener(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  return load();
}

export function ready() {
  return loading || start();
}

/// listener({type: 'reset'|'upsert'|'delete', record?, name?}); returns the unsubscribe function.
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
