// The dashboard's pages: one table that builds the navigation and drives the router. A tab that
// a plugin adds later is one more entry here (addRoute), with the same shape as the built-ins:
//   id, title, hash (what the nav links to), match (a RegExp on location.hash; its groups are the
//   page's parameters), nav (shown in the navigation), load (returns a module with render()).
// render(main, params, context) draws the page into main and may return a function that undoes
// what it started (streams, timers) when the page is left.

export const routes = [
  { id: 'workspaces', title: 'Workspaces', hash: '#/workspaces', match: /^#\/(?:workspaces)?$/, nav: true, load: () => import('./pages/workspaces.js') },
  { id: 'create', title: 'Create', hash: '#/create', match: /^#\/create$/, nav: true, load: () => import('./pages/create.js') },
  { id: 'workspace', title: 'Workspace', match: /^#\/w\/([^/?]+)(?:\?(.*))?$/, nav: false, load: () => import('./pages/workspace.js') },
  { id: 'targets', title: 'Targets', hash: '#/targets', match: /^#\/targets$/, nav: true, load: () => import('./pages/targets.js') },
  { id: 'providers', title: 'Providers', hash: '#/providers', match: /^#\/providers$/, nav: true, load: () => import('./pages/providers.js') },
  { id: 'plugins', title: 'Plugins', hash: '#/plugins', match: /^#\/plugins$/, nav: true, load: () => import('./pages/plugins.js') },
  { id: 'server', title: 'Server', hash: '#/server', match: /^#\/server$/, nav: true, load: () => import('./pages/server.js') },
];

/// Adds a page (an extension's tab) before the Server page; its id must be new.
export function addRoute(route) {
  if (routes.some((existing) => existing.id === route.id)) throw new Error(`a page '${route.id}' exists already`);
  const server = routes.findIndex((existing) => existing.id === 'server');
  routes.splice(server < 0 ? routes.length : server, 0, { nav: true, ...route });
}

export function findRoute(hash) {
  for (const route of routes) {
    const match = route.match.exec(hash || '#/');
    if (match) return { route, params: match.slice(1).map((part) => (part === undefined ? undefined : decodeURIComponent(part))) };
  }
  return null;
}
