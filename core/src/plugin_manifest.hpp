#pragma once
// The extension sections of a plugin's manifest (beyond its commands): what it shows on the
// dashboard, the host binaries its UI may run, its error codes and the permissions it asks for.
// Read without loading the library; every mistake names the manifest, the line and the field.
#include <nlohmann/json.hpp>

#include <filesystem>
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
  bool has_ui() const { return !ui_root.empty(); }
};

// Reads the sections of document (the manifest at path, whose text is manifest_text for line
// numbers) for the plugin named name. Throws invalid naming the file, line and field; unknown
// top-level keys are refused.
PluginExtensions read_plugin_extensions(const nlohmann::json& document, const std::filesystem::path& path, const std::string& name);

// The dashboard's view of the sections (also what GET /v1/plugins shows).
nlohmann::json extensions_json(const PluginExtensions& extensions);

}  // namespace berth
