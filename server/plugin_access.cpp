#include "plugin_access.hpp"

#include "api_keys.hpp"
#include "clock.hpp"
#include "errors.hpp"
#include "names.hpp"

#include <algorithm>

namespace berth {
namespace {

constexpr size_t kLogLines = 200;

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

std::string plugin_permission_for(const std::string& method, const std::string& raw_path, const std::string& self) {
  std::string path = raw_path.substr(0, raw_path.find('?'));
  bool read = method == "GET" || method == "HEAD";
  if (path == "/v1/health" || path == "/v1/version") return "-";
  if (path == "/v1/workspaces" || path == "/v1/events") return read ? "workspaces:read" : "workspaces:write";
  if (starts_with(path, "/v1/bulk/")) return "workspaces:write";
  if (starts_with(path, "/v1/workspaces/")) {
    std::string rest = path.substr(std::string("/v1/workspaces/").size());
    size_t slash = rest.find('/');
    std::string tail = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (tail.empty()) return read ? "workspaces:read" : "workspaces:write";
    if (tail == "logs") return "logs:read";
    if (tail == "start" || tail == "stop" || tail == "rebuild") return "workspaces:write";
    if (tail == "exec" || tail == "session" || tail == "terminal" || starts_with(tail, "ports/")) return "workspaces:exec";
    if (tail == "terminals" || tail == "activity") return "workspaces:read";
    if (tail == "forwards" || starts_with(tail, "forwards/")) return read ? "workspaces:read" : "workspaces:exec";
    return "";
  }
  if (path == "/v1/targets" || starts_with(path, "/v1/targets/")) return read ? "targets:read" : "targets:write";
  if (path == "/v1/providers" || (starts_with(path, "/v1/providers/") && path.find("/enable") == std::string::npos &&
                                  path.find("/disable") == std::string::npos)) {
    return read ? "providers:read" : "";
  }
  if (!self.empty()) {
    // Its own: its log, its jobs' state, its service and routes; never its credential, its
    // enabling, or starting its jobs by hand (the owner's).
    std::string own = "/v1/plugins/" + self + "/";
    if (path == own + "exec") return "host-binaries";
    if (starts_with(path, own)) {
      std::string rest = path.substr(own.size());
      if (starts_with(rest, "token") || rest == "enable" || rest == "disable" || starts_with(rest, "jobs/")) return "";
      if (rest == "log" || rest == "jobs") return read ? "-" : "";
      return "-";
    }
  }
  return "";
}

PluginAccess::PluginAccess(PluginFolders folders, std::filesystem::path data_root)
    : folders_(std::move(folders)), data_root_(std::move(data_root)) {}

PluginEntry PluginAccess::entry(const std::string& plugin) {
  for (auto& entry : discover_plugins(folders_, {})) {
    if (entry.name == plugin) return entry;
  }
  throw not_found("plugin '" + plugin + "' is not installed (berth plugin list)");
}

std::string PluginAccess::mint(const std::string& plugin, bool pinned) {
  require_valid_name("plugin", plugin);
  PluginEntry found = entry(plugin);
  if (found.state == PluginState::broken) throw unavailable("plugin '" + plugin + "' is broken: " + found.reason);
  if (found.state == PluginState::disabled) throw unavailable("plugin '" + plugin + "' is disabled; enable it with: berth plugin enable " + plugin);
  if (!found.extensions.scoped) {
    throw invalid("plugin '" + plugin + "' declares no permissions (a plugin of SDK 1.4 or older acts as you do, with no credential of its own)");
  }
  std::string token = random_hex(24);
  std::lock_guard lock(mutex_);
  tokens_[token] = plugin;
  if (!pinned) {
    auto& order = unpinned_[plugin];
    order.push_back(token);
    while (order.size() > kTokensPerPlugin) {
      tokens_.erase(order.front());
      order.pop_front();
    }
  }
  return token;
}

void PluginAccess::revoke(const std::string& token) {
  std::lock_guard lock(mutex_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return;
  auto& order = unpinned_[it->second];
  order.erase(std::remove(order.begin(), order.end(), token), order.end());
  tokens_.erase(it);
}

std::string PluginAccess::plugin_of(const std::string& token) {
  std::lock_guard lock(mutex_);
  auto it = tokens_.find(token);
  return it == tokens_.end() ? "" : it->second;
}

std::string PluginAccess::check(const std::string& method, const std::string& path, const std::string& token) {
  std::string plugin = plugin_of(token);
  if (plugin.empty()) throw Error("unauthorized", "the plugin credential is not one this server made (it restarted since, or it was never made here)");
  std::string needed = plugin_permission_for(method, path, plugin);
  if (needed == "-") return plugin;
  std::string shown = method + " " + path.substr(0, path.find('?')).substr(0, 200);
  if (needed.empty()) {
    log(plugin, "refused " + shown + ": no plugin may do this");
    throw Error("forbidden", "plugin '" + plugin + "' may not call " + shown + ": it is not open to plugins");
  }
  PluginEntry found = entry(plugin);
  if (found.state != PluginState::enabled) {
    log(plugin, "refused " + shown + ": the plugin is " + to_string(found.state));
    throw Error("forbidden", "plugin '" + plugin + "' is " + to_string(found.state));
  }
  if (found.granted.count(needed)) return plugin;
  bool asked = found.extensions.permissions.count(needed) > 0;
  std::string why = asked ? "it asks for '" + needed + "' but it was not granted yet (berth plugin enable " + plugin + ")"
                          : "its manifest does not ask for '" + needed + "'";
  log(plugin, "refused " + shown + ": needs permission " + needed + "; " + why);
  throw Error("forbidden", "plugin '" + plugin + "' needs the permission '" + needed + "' for " + shown + ": " + why);
}

void PluginAccess::log(const std::string& plugin, const std::string& line) {
  std::lock_guard lock(mutex_);
  auto& ring = logs_[plugin];
  ring.push_back(now_rfc3339() + " " + line);
  while (ring.size() > kLogLines) ring.pop_front();
}

std::vector<std::string> PluginAccess::log_lines(const std::string& plugin) {
  std::lock_guard lock(mutex_);
  auto it = logs_.find(plugin);
  return it == logs_.end() ? std::vector<std::string>{} : std::vector<std::string>(it->second.begin(), it->second.end());
}

}  // namespace berth
