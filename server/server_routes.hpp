#pragma once
// What the dashboard's Server and Plugins pages read, as API routes any client may use:
//   GET  /v1/server                        version, uptime, home, pid, listeners
//   GET  /v1/server/log                    the tail of the server's log (text)
//   GET  /v1/plugins                       the plugins the CLI would load, as `berth plugin list`
//   POST /v1/plugins/NAME/enable|disable   as `berth plugin enable|disable NAME`
//   GET  /v1/workspaces/NAME/terminals     the dashboard's terminals of a workspace
//   GET  /v1/workspaces/NAME/activity      its auto-stop: the setting, idle time, when it stops
// and, on the Unix socket only, POST /v1/dashboard: starts the dashboard, a one-time link.
#include "home.hpp"
#include "plugin_catalog.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace httplib {
class Server;
}

namespace berth {

class Dashboard;
class TerminalHub;

struct ServerFacts {
  const Home* home = nullptr;
  std::chrono::steady_clock::time_point started;
  PluginFolders plugins;
  std::function<std::vector<std::string>()> listeners;  // as URLs
  TerminalHub* terminals = nullptr;
  // GET /v1/workspaces/NAME/activity: idle auto-stop's view of it (throws not_found).
  std::function<std::string(const std::string& name)> activity;
};

// facts must outlive the server (its listeners are read at each request).
void register_server_routes(httplib::Server& server, const ServerFacts& facts);
void register_dashboard_route(httplib::Server& server, Dashboard& dashboard);

}  // namespace berth
