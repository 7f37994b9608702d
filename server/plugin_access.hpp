#pragma once
// What a plugin may do through the API, enforced here and not by the plugin's page or process:
// each plugin acts with a credential of its own (X-Berth-Plugin-Token), minted for it by the
// server on the owner's request (the CLI before it runs a plugin command, the dashboard before
// it shows a plugin's frame), and every request carrying one is held to the permissions the
// plugin asked for in its manifest and the user granted. A refusal names the permission and is
// written to the plugin's own log.
#include "plugin_catalog.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth {

inline constexpr const char* kPluginTokenHeader = "X-Berth-Plugin-Token";

// The permission a request needs when a plugin makes it: "" when no plugin may make it (API
// keys, the server's settings, other plugins), "-" when any plugin may (health, version).
// self: the plugin asking, for its own routes (/v1/plugins/SELF/...).
std::string plugin_permission_for(const std::string& method, const std::string& path, const std::string& self);

class PluginAccess {
 public:
  // data_root: <home>/plugin-data, where each plugin's own folder is.
  PluginAccess(PluginFolders folders, std::filesystem::path data_root);

  // A credential for plugin, which must be installed, enabled and declare its permissions.
  // Each plugin keeps its newest kTokensPerPlugin unpinned ones (the CLI's and the dashboard's);
  // a pinned one (its service's) lives until revoked.
  std::string mint(const std::string& plugin, bool pinned = false);
  void revoke(const std::string& token);
  static constexpr size_t kTokensPerPlugin = 256;
  // Throws forbidden (naming what is missing) when the request, made with token, is outside
  // what its plugin was granted; unauthorized when the token is not one of this server's.
  // Returns the plugin's name.
  std::string check(const std::string& method, const std::string& path, const std::string& token);
  // The plugin the token was minted for ("" for none).
  std::string plugin_of(const std::string& token);

  // The plugin's log ring (its refusals, its host binaries' runs), newest last.
  void log(const std::string& plugin, const std::string& line);
  std::vector<std::string> log_lines(const std::string& plugin);

  // The catalog entry of plugin as it is now (throws not_found).
  PluginEntry entry(const std::string& plugin);
  const PluginFolders& folders() const { return folders_; }
  const std::filesystem::path& data_root() const { return data_root_; }

 private:
  PluginFolders folders_;
  std::filesystem::path data_root_;
  std::mutex mutex_;
  std::map<std::string, std::string> tokens_;  // token -> plugin
  std::map<std::string, std::deque<std::string>> unpinned_;  // plugin -> its unpinned tokens, oldest first
  std::map<std::string, std::deque<std::string>> logs_;
};

}  // namespace berth
