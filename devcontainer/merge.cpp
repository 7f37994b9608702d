// Image metadata (the devcontainer.metadata label) merged with devcontainer.json, as the
// spec's merge table says; and the three forms of a lifecycle command.
#include <devcontainer/config.hpp>

#include <berth/sdk.hpp>

#include <set>

namespace devcontainer {
namespace {

// The properties an image's metadata may carry (the spec's "image metadata" list).
const char* const kMetadataProperties[] = {
    "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand", "postAttachCommand", "waitFor",
    "customizations", "mounts", "containerEnv", "containerUser", "init", "privileged", "capAdd", "securityOpt", "remoteUser",
    "userEnvProbe", "remoteEnv", "overrideCommand", "portsAttributes", "otherPortsAttributes", "forwardPorts", "shutdownAction",
    "updateRemoteUserUID", "hostRequirements", "entrypoint", "id"};

std::string mount_target(const Json& mount) {
  if (mount.is_object()) return mount.value("target", "");
  if (!mount.is_string()) return "";
  std::string text = mount.get<std::string>();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t equals = part.find('=');
    std::string key = part.substr(0, equals);
    if (equals != std::string::npos && (key == "target" || key == "destination" || key == "dst")) return part.substr(equals + 1);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return "";
}

// "4gb", "512mb", "8g", "1024" -> bytes; -1 when it is not a size.
double size_in_bytes(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return -1;
  std::string text = value.get<std::string>();
  char* end = nullptr;
  double amount = std::strtod(text.c_str(), &end);
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  double scale = unit.empty() ? 1 : unit == "k" ? 1024.0 : unit == "m" ? 1024.0 * 1024 : unit == "g" ? 1024.0 * 1024 * 1024 : unit == "t" ? 1024.0 * 1024 * 1024 * 1024 : -1;
  return scale < 0 || end == text.c_str() ? -1 : amount * scale;
}

}  // namespace

double parse_size(const Json& value) { return size_in_bytes(value); }

Json metadata_entry(const Json& config) {
  Json entry = Json::object();
  for (const char* key : kMetadataProperties) {
    if (config.contains(key)) entry[key] = config[key];
  }
  return entry;
}

Json parse_metadata_label(const std::string& label) {
  if (label.empty()) return Json::array();
  check_json_limits(label, "the image's devcontainer.metadata label");
  Json value = Json::parse(label, nullptr, false);
  if (value.is_discarded() || (!value.is_array() && !value.is_object())) {
    throw berth::Error("invalid", "the image's devcontainer.metadata label is not a JSON array or object");
  }
  if (value.is_object()) return Json::array({value});
  for (const auto& entry : value) {
    if (!entry.is_object()) throw berth::Error("invalid", "an entry of the image's devcontainer.metadata label is not an object");
  }
  return value;
}

Json merge(const Json& config, const Json& entries) {
  Json merged = config;
  auto collect = [&](const char* key) {
    Json all = Json::array();
    for (const auto& entry : entries) {
      if (entry.contains(key) && !entry[key].is_null()) all.push_back(entry[key]);
    }
    return all;
  };
  auto last = [&](const char* key) {
    Json found;
    for (const auto& entry : entries) {
      if (entry.contains(key) && !entry[key].is_null()) found = entry[key];
    }
    return found;
  };
  auto set_or_erase = [&](const char* key, const Json& value, bool keep_empty = false) {
    if (value.is_null() || (!keep_empty && value.empty())) merged.erase(key);
    else merged[key] = value;
  };
  // Booleans or'd.
  for (const char* key : {"init", "privileged"}) {
    bool any = false;
    for (const auto& value : collect(key)) any = any || (value.is_boolean() && value.get<bool>());
    merged[key] = any;
  }
  // Lists united, first occurrence kept.
  for (const char* key : {"capAdd", "securityOpt", "forwardPorts"}) {
    Json united = Json::array();
    for (const auto& list : collect(key)) {
      for (const auto& item : list) {
        if (std::find(united.begin(), united.end(), item) == united.end()) united.push_back(item);
      }
    }
    set_or_erase(key, united);
  }
  // Mounts collected; for one target the last one wins.
  {
    Json all = Json::array();
    for (const auto& list : collect("mounts")) {
      for (const auto& mount : list) all.push_back(mount);
    }
    Json kept = Json::array();
    std::set<std::string> seen;
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (seen.insert(mount_target(*it)).second) kept.insert(kept.begin(), *it);
    }
    set_or_erase("mounts", kept);
  }
  // Lifecycle commands collected in order (always there, as the reference implementation
  // has them), entrypoints likewise (only when some).
  for (const auto& [single, plural] : std::vector<std::pair<const char*, const char*>>{
           {"onCreateCommand", "onCreateCommands"},
           {"updateContentCommand", "updateContentCommands"},
           {"postCreateCommand", "postCreateCommands"},
           {"postStartCommand", "postStartCommands"},
           {"postAttachCommand", "postAttachCommands"}}) {
    merged.erase(single);
    merged[plural] = collect(single);
  }
  set_or_erase("entrypoints", collect("entrypoint"));
  // Customizations collected per tool.
  {
    Json by_tool = Json::object();
    for (const auto& customizations : collect("customizations")) {
      if (!customizations.is_object()) continue;
      for (const auto& [tool, value] : customizations.items()) by_tool[tool].push_back(value);
    }
    set_or_erase("customizations", by_tool);
  }
  // Maps merged, later entries winning.
  for (const char* key : {"containerEnv", "remoteEnv", "portsAttributes"}) {
    Json map = Json::object();
    for (const auto& value : collect(key)) {
      if (value.is_object()) map.update(value);
    }
    merged[key] = map;
  }
  // Single values: the last entry that sets one.
  for (const char* key : {"waitFor", "remoteUser", "containerUser", "userEnvProbe", "overrideCommand", "otherPortsAttributes",
                          "shutdownAction", "updateRemoteUserUID"}) {
    set_or_erase(key, last(key), true);
  }
  // Host requirements: the largest of each.
  {
    Json requirements = Json::object();
    for (const auto& value : collect("hostRequirements")) {
      for (const auto& [key, item] : value.items()) {
        if (!requirements.contains(key)) {
          requirements[key] = item;
        } else if (key == "cpus" && item.is_number() && item.get<double>() > requirements[key].get<double>()) {
          requirements[key] = item;
        } else if ((key == "memory" || key == "storage") && size_in_bytes(item) > size_in_bytes(requirements[key])) {
          requirements[key] = item;
        } else if (key == "gpu" && item != false) {
          requirements[key] = item;
        }
      }
    }
    set_or_erase("hostRequirements", requirements);
  }
  return merged;
}

std::vector<std::pair<std::string, std::vector<std::string>>> command_steps(const Json& command) {
  auto argv = [](const Json& value) -> std::vector<std::string> {
    if (value.is_string()) return {"/bin/sh", "-c", value.get<std::string>()};
    std::vector<std::string> out;
    for (const auto& part : value) out.push_back(part.get<std::string>());
    return out;
  };
  std::vector<std::pair<std::string, std::vector<std::string>>> steps;
  if (command.is_object()) {
    for (const auto& [name, value] : command.items()) {
      if (!(value.is_string() && value.get<std::string>().empty()) && !(value.is_array() && value.empty())) steps.emplace_back(name, argv(value));
    }
  } else if ((command.is_string() && !command.get<std::string>().empty()) || (command.is_array() && !command.empty())) {
    steps.emplace_back("", argv(command));
  }
  return steps;
}

}  // namespace devcontainer
