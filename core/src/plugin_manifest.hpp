#pragma once
// The extension sections of a plugin's manifest (beyond its commands): what it shows on the
// dashboard, the host binaries its UI may run, its error codes and the permissions it asks for.
// Read without loading the library; every mistake names the manifest, the line and the field.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace berth {

// What a plugin may do through berth's API; anything else (API keys, the server, other plugins'
// settings) is never a plugin's.
const std::vector<std::string>& plugin_permission_names();

struct PluginTab {
  std::string title;
  std::string root;  // a folder in the plugin's folder
  std::string src;   // a page in root
  std::string icon;  // optional, a file in root
};

struct PluginWidget {
  std::string location;  // home or workspace
  std::string title;
  std::string src;  // a page in ui's root
  int height = 160;  // pixels
};

struct PluginRowAction {
  std::string title;
  std::string binary;             // one of host.binaries, by name
  std::vector<std::string> args;  // "{workspace}" is the row's name
};

struct PluginMenuEntry {
  std::string title;
  std::string url;  // http(s), opened in a new tab
};

struct PluginHostBinary {
  std::string name;                // the file's name: what the UI and row actions call it by
  std::filesystem::path path;      // in the plugin's folder
};

struct PluginErrorCode {
  std::string code;  // shown as PLUGIN:code
  int status = 500;
  std::string message;
};

// A backend process shipped with the plugin, started by the server on first use, listening on
// the Unix socket the server names in BERTH_PLUGIN_SOCKET.
struct PluginService {
  std::filesystem::path path;  // in the plugin's folder
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
};

// A REST route the service answers, mounted at /v1/plugins/NAME/PATH.
struct PluginRoute {
  std::string method;  // GET, POST, PUT, DELETE or PATCH
  std::string path;    // starts with '/', no '..'
};

// Minute-granular cron: minute hour day-of-month month day-of-week, each a set of allowed values.
struct CronSchedule {
  std::string text;
  std::vector<bool> minutes, hours, days, months, weekdays;
  // Whether the schedule fires at this local broken-down time.
  bool matches(int minute, int hour, int day, int month, int weekday) const;
};
// Parses "*/5 * * * *" and the like (numbers, ranges, lists, steps, '*'); nullopt with why in error.
std::optional<CronSchedule> parse_cron(const std::string& text, std::string& error);

struct PluginJob {
  std::string id;
  CronSchedule schedule;
  std::vector<std::string> command;  // its first word: one of the plugin's CLI commands or host binaries
  int timeout_seconds = 600;
  bool enabled = true;  // as the manifest says; the user's choice in plugins.yaml wins
};

struct PluginExtensions {
  bool scoped = false;  // the manifest has a 'permissions' list (without one: a 1.x plugin, unscoped)
  std::set<std::string> permissions;
  std::filesystem::path folder;  // <plugins>/NAME: the plugin's own files (UI, binaries)
  std::string ui_root;           // the folder (in folder) the pages are served from; "" without a ui
  std::vector<PluginTab> dashboard_tabs;
  std::vector<PluginTab> workspace_tabs;
  std::vector<PluginWidget> widgets;
  std::vector<PluginRowAction> row_actions;
  std::vector<PluginMenuEntry> menu;
  std::vector<PluginHostBinary> binaries;
  std::vector<PluginErrorCode> error_codes;
  std::optional<PluginService> service;
  std::vector<PluginRoute> routes;
  std::vector<PluginJob> jobs;
  bool has_ui() const { return !ui_root.empty(); }
};

// Reads the sections of document (the manifest at path, whose text is manifest_text for line
// numbers) for the plugin named name. Throws invalid naming the file, line and field; unknown
// top-level keys are refused.
// command_names: the plugin's own CLI commands (a job may run one).
PluginExtensions read_plugin_extensions(const nlohmann::json& document, const std::filesystem::path& path, const std::string& name,
                                        const std::vector<std::string>& command_names = {});

// The dashboard's view of the sections (also what GET /v1/plugins shows).
nlohmann::json extensions_json(const PluginExtensions& extensions);

}  // namespace berth
