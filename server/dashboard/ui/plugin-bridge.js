// berth's bridge, loaded by a plugin's page in its sandboxed frame (a classic script:
// <script src="/plugin-bridge.js"></script>). It defines window.berth, whose calls go to the
// dashboard page by postMessage; the page makes them with the plugin's own credential and the
// server holds them to the permissions the plugin was granted. Nothing else reaches berth: the
// frame has an opaque origin, no cookie and a CSP that allows no connection.
(function () {
  'use strict';
  var next = 1;
  var waiting = new Map();
  window.addEventListener('message', function (event) {
    if (event.source !== window.parent) return;
    var data = event.data || {};
    if (data.berth !== 1 || !waiting.has(data.id)) return;
    var entry = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.ok) {
      entry.resolve(data.result);
    } else {
      var error = new Error((data.error && data.error.message) || 'the call failed');
      error.code = data.error && data.error.code;
      error.status = data.error && data.error.status;
      entry.reject(error);
    }
  });
  function call(method) {
    var args = Array.prototype.slice.call(arguments, 1);
    return new Promise(function (resolve, reject) {
      var id = next++;
      waiting.set(id, { resolve: resolve, reject: reject });
      window.parent.postMessage({ berth: 1, id: id, method: method, args: args }, '*');
    });
  }
  var params = new URLSearchParams(location.search);
  window.berth = Object.freeze({
    context: Object.freeze({ view: params.get('view') || 'tab', workspace: params.get('workspace') || '' }),
    workspaces: Object.freeze({
      list: function () { return call('workspaces.list'); },
      get: function (name) { return call('workspaces.get', name); },
      start: function (name) { return call('workspaces.start', name); },
      stop: function (name) { return call('workspaces.stop', name); },
    }),
    exec: function (workspace, command, options) { return call('exec', workspace, command, options || {}); },
    targets: Object.freeze({ list: function () { return call('targets.list'); } }),
    providers: Object.freeze({ list: function () { return call('providers.list'); } }),
    api: Object.freeze({ get: function (path) { return call('api.get', path); } }),
    service: Object.freeze({
      get: function (path) { return call('service.get', path); },
      post: function (path, body) { return call('service.post', path, body || {}); },
    }),
    host: Object.freeze({ exec: function (binary, args, options) { return call('host.exec', binary, args || [], options || {}); } }),
    toast: function (message) { return call('toast', String(message)); },
    navigate: function (hash) { return call('navigate', hash); },
    openExternal: function (url) { return call('openExternal', url); },
  });
})();
