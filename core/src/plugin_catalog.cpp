#include "plugin_catalog.hpp"

#include "atomic_file.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "module_files.hpp"
#include "names.hpp"
#include "version.hpp"

#include <map>

#include <sys/stat.h>
#include <sstream>

namespace fs = std::filesystem;

namespace berth {
namespace {

std::vector<long> version_numbers(const std::string& text) {
  std::vector<long> numbers;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, '.')) {
    try {
      numbers.push_back(std::stol(part));
    } catch (const std::exception&) {
      numbers.push_back(0);
    }
  }
  return numbers;
}

std::string text_of(const Json& json, const char* key) {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : "";
}

void read_commands(PluginEntry& entry, const Json& document) {
  auto commands = document.find("commands");
  bool extends = document.contains("ui") || document.contains("host");
  if (extends && (commands == document.end() || commands->is_null())) return;
  if (commands == document.end() || !commands->is_array() || (commands->empty() && !extends)) {
    throw invalid("its manifest lists no commands (a 'commands' list of name and summary) and has no ui or host section");
  }
  for (const auto& command : *commands) {
    if (!command.is_object()) throw invalid("each entry of 'commands' must be a map with name and summary");
    PluginCommandSpec spec{text_of(command, "name"), text_of(command, "summary"), {}};
    if (!is_valid_name(spec.name)) throw invalid("command name '" + spec.name + "' must be lowercase letters, digits and '-'");
    if (auto arguments = command.find("arguments"); arguments != command.end() && arguments->is_array()) {
      for (const auto& argument : *arguments) {
        if (argument.is_object()) spec.arguments.emplace_back(text_of(argument, "name"), text_of(argument, "description"));
      }
    }
    entry.commands.push_back(std::move(spec));
  }
}

PluginEntry read_entry(const ModuleFile& file, ManifestCache& cache) {
  PluginEntry entry;
  entry.name = file.name;
  entry.location = file.builtin ? "built-in" : file.library.empty() ? file.manifest.string() : file.library.string();
  entry.library = file.library;
  auto refuse = [&](const std::string& reason) {
    entry.state = PluginState::broken;
    entry.reason = reason;
    return entry;
  };
  if (auto problem = module_file_problem(file); !problem.empty()) return refuse(problem);
  try {
    ModuleManifest manifest = cache.read(file.manifest, file.name);
    entry.version = manifest.version;
    entry.api_version = manifest.api_version;
    entry.description = manifest.description;
    entry.min_berth_version = text_of(manifest.document, "min_berth_version");
    read_commands(entry, manifest.document);
    std::vector<std::string> command_names;
    for (const auto& command : entry.commands) command_names.push_back(command.name);
    entry.extensions = read_plugin_extensions(manifest.document, file.manifest, file.name, command_names);
    std::vector<std::pair<std::string, fs::path>> executables;
    for (const auto& binary : entry.extensions.binaries) executables.emplace_back("host binary", binary.path);
    if (entry.extensions.service) executables.emplace_back("service", entry.extensions.service->path);
    for (const auto& [what, path] : executables) {
      struct stat info {};
      if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || !(info.st_mode & S_IXUSR)) {
        return refuse("its " + what + " " + path.string() + " is missing or not an executable file");
      }
      if (!file.builtin) {
        if (auto reason = unsafe_file_reason(path); !reason.empty()) return refuse(reason);
      }
    }
    if (auto reason = api_version_mismatch(*parse_api_version(manifest.api_version), sdk_api_version); !reason.empty()) {
      return refuse(reason);
    }
    if (!entry.min_berth_version.empty() && compare_versions(entry.min_berth_version, BERTH_VERSION) > 0) {
      return refuse("needs berth " + entry.min_berth_version + " or newer; this is berth " + BERTH_VERSION);
    }
  } catch (const std::exception& error) {
    return refuse(error.what());
  }
  return entry;
}

}  // namespace

std::string to_string(PluginState state) {
  switch (state) {
    case PluginState::enabled: return "enabled";
    case PluginState::disabled: return "disabled";
    case PluginState::broken: return "broken";
  }
  return "broken";
}

int compare_versions(const std::string& a, const std::string& b) {
  auto x = version_numbers(a);
  auto y = version_numbers(b);
  x.resize(std::max(x.size(), y.size()), 0);
  y.resize(x.size(), 0);
  return x < y ? -1 : x > y ? 1 : 0;
}

PluginSettings read_plugin_settings(const fs::path& settings) {
  PluginSettings values;
  auto text = read_file(settings);
  if (!text) return values;
  try {
    Json json = yaml_to_json(*text, settings.string());
    if (json.is_object() && json.contains("disabled") && json["disabled"].is_array()) {
      for (const auto& name : json["disabled"]) {
        if (name.is_string()) values.disabled.insert(name.get<std::string>());
      }
    }
    if (json.is_object() && json.contains("jobs") && json["jobs"].is_object()) {
      for (const auto& [name, jobs] : json["jobs"].items()) {
        if (!jobs.is_object()) continue;
        for (const auto& [id, enabled] : jobs.items()) {
          if (enabled.is_boolean()) values.jobs[name][id] = enabled.get<bool>();
          if (enabled.is_string()) values.jobs[name][id] = enabled == "true";
        }
      }
    }
    if (json.is_object() && json.contains("granted") && json["granted"].is_object()) {
      for (const auto& [name, permissions] : json["granted"].items()) {
        auto& granted = values.granted[name];
        if (!permissions.is_array()) continue;
        for (const auto& permission : permissions) {
          if (permission.is_string()) granted.insert(permission.get<std::string>());
        }
      }
    }
  } catch (const std::exception&) {
    // A damaged settings file disables nothing and grants nothing; `berth plugin enable` rewrites it whole.
  }
  return values;
}

void write_plugin_settings(const fs::path& settings, const PluginSettings& values) {
  create_private_folders(settings.parent_path());
  Json granted = Json::object();
  for (const auto& [name, permissions] : values.granted) granted[name] = Json(permissions);
  Json jobs = Json::object();
  for (const auto& [name, choices] : values.jobs) {
    for (const auto& [id, enabled] : choices) jobs[name][id] = enabled;
  }
  write_file_atomically(settings, json_to_yaml(Json{{"disabled", Json(values.disabled)}, {"granted", granted}, {"jobs", jobs}}));
}

std::set<std::string> read_disabled_plugins(const fs::path& settings) { return read_plugin_settings(settings).disabled; }

void set_plugin_job_enabled(const fs::path& settings, const PluginEntry& plugin, const std::string& job, bool enable) {
  bool known = std::any_of(plugin.extensions.jobs.begin(), plugin.extensions.jobs.end(), [&](const PluginJob& j) { return j.id == job; });
  if (!known) throw not_found("plugin '" + plugin.name + "' has no job '" + job + "' (berth plugin jobs " + plugin.name + ")");
  PluginSettings values = read_plugin_settings(settings);
  values.jobs[plugin.name][job] = enable;
  write_plugin_settings(settings, values);
}

void set_plugin_enabled(const fs::path& settings, const PluginEntry& plugin, bool enable) {
  PluginSettings values = read_plugin_settings(settings);
  if (enable) {
    values.disabled.erase(plugin.name);
    values.granted[plugin.name] = plugin.extensions.permissions;
  } else {
    values.disabled.insert(plugin.name);
  }
  write_plugin_settings(settings, values);
}

std::vector<PluginEntry> discover_plugins(const PluginFolders& folders, const std::set<std::string>& reserved) {
  PluginSettings settings = read_plugin_settings(folders.settings);
  const std::set<std::string>& disabled = settings.disabled;
  std::vector<PluginEntry> entries;
  std::map<std::string, std::string> command_owner;
  std::set<std::string> builtin_names;
  ManifestCache cache(folders.cache);
  for (bool builtin : {true, false}) {
    for (const auto& file : find_modules(builtin ? folders.builtin : folders.dropin, builtin)) {
      PluginEntry entry = read_entry(file, cache);
      if (!builtin && builtin_names.count(file.name)) {
        entry.state = PluginState::broken;
        entry.reason = "a drop-in may not replace the built-in plugin '" + file.name + "'; rename it";
      }
      if (builtin) builtin_names.insert(file.name);
      if (entry.state != PluginState::broken) {
        for (const auto& command : entry.commands) {
          if (reserved.count(command.name)) {
            entry.state = PluginState::broken;
            entry.reason = "its command '" + command.name + "' collides with berth's built-in command '" + command.name + "'";
            break;
          }
          if (auto owner = command_owner.find(command.name); owner != command_owner.end()) {
            entry.state = PluginState::broken;
            entry.reason = "its command '" + command.name + "' collides with the command '" + command.name +
                           "' of plugin '" + owner->second + "'";
            break;
          }
        }
      }
      if (entry.state != PluginState::broken) {
        for (const auto& command : entry.commands) command_owner[command.name] = entry.name;
        if (disabled.count(entry.name)) entry.state = PluginState::disabled;
      }
      for (auto& job : entry.extensions.jobs) {
        auto choices = settings.jobs.find(entry.name);
        if (choices == settings.jobs.end()) continue;
        if (auto choice = choices->second.find(job.id); choice != choices->second.end()) job.enabled = choice->second;
      }
      entry.consented = builtin || settings.granted.count(entry.name) > 0;
      const auto& granted = settings.granted[entry.name];
      for (const auto& permission : entry.extensions.permissions) {
        (builtin || granted.count(permission) ? entry.granted : entry.not_granted).insert(permission);
      }
      entries.push_back(std::move(entry));
    }
  }
  if (!folders.cache.empty()) cache.save();
  return entries;
}

}  // namespace berth
