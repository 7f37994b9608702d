#pragma once
// What the CLI knows of plugins before running any: their manifests, where they are, whether
// they are enabled, and why one is refused. No plugin library is loaded here.
#include "plugin_manifest.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace berth {

struct PluginCommandSpec {
  std::string name;
  std::string summary;
  std::vector<std::pair<std::string, std::string>> arguments;  // name, description
};

enum class PluginState { enabled, disabled, broken };

struct PluginEntry {
  std::string name;
  std::string version;
  std::string api_version;
  std::string description;
  std::string min_berth_version;
  std::string location;  // "built-in" or the drop-in path
  std::filesystem::path library;
  std::vector<PluginCommandSpec> commands;
  PluginState state = PluginState::enabled;
  std::string reason;  // why it is broken
  PluginExtensions extensions;
  // Of the permissions it asks for, those the user granted (all of them for a built-in), and
  // those not granted yet: an upgrade that asks for more is held to what was granted.
  std::set<std::string> granted;
  std::set<std::string> not_granted;
  // The user enabled it with its permissions shown (always for a built-in): until then the server
  // starts none of its native code itself (its service, its jobs).
  bool consented = false;
};

std::string to_string(PluginState state);

struct PluginFolders {
  std::filesystem::path builtin;
  std::filesystem::path dropin;
  std::filesystem::path settings;  // plugins.yaml: which are disabled
  std::filesystem::path cache;     // parsed manifests (empty: no cache)
};

// Reads every manifest, checks versions, files and command names (against reserved, the
// built-in commands, and against each other). Never throws for a bad plugin.
std::vector<PluginEntry> discover_plugins(const PluginFolders& folders, const std::set<std::string>& reserved);

// <config>/plugins.yaml: which plugins are disabled, and what each was granted.
struct PluginSettings {
  std::set<std::string> disabled;
  std::map<std::string, std::set<std::string>> granted;
  std::map<std::string, std::map<std::string, bool>> jobs;  // plugin -> job id -> enabled (the user's choice)
};
PluginSettings read_plugin_settings(const std::filesystem::path& settings);
void write_plugin_settings(const std::filesystem::path& settings, const PluginSettings& values);
std::set<std::string> read_disabled_plugins(const std::filesystem::path& settings);
// Enabling grants what the plugin asks for now (the caller showed it and had it agreed to);
// disabling keeps the grants, so enabling again asks only when it asks for more.
void set_plugin_enabled(const std::filesystem::path& settings, const PluginEntry& plugin, bool enable);
// The user's choice for one of the plugin's jobs (throws not_found for a job it does not have).
void set_plugin_job_enabled(const std::filesystem::path& settings, const PluginEntry& plugin, const std::string& job, bool enable);

// -1, 0 or 1 as a is older than, equal to or newer than b ("1.2.3" numbers; missing parts are 0).
int compare_versions(const std::string& a, const std::string& b);

}  // namespace berth
