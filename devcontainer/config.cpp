// Finding and checking devcontainer.json.
#include <devcontainer/config.hpp>

#include <berth/sdk.hpp>

#include <algorithm>
#include <set>

namespace devcontainer {
namespace {

berth::Error invalid(const std::string& message) { return berth::Error("invalid", message); }

// The shapes a property may take.
enum class Shape {
  string,
  boolean,
  number,
  string_list,       // ["a", "b"]
  string_or_list,    // "a" or ["a", "b"]
  string_map,        // {"A": "1"}
  env_map,           // {"A": "1", "B": null}
  object,            // any object
  lifecycle,         // "cmd", ["argv"], {"name": "cmd" | ["argv"]}
  mounts,            // ["type=volume,...", {"type": ..., "source": ..., "target": ...}]
  ports,             // [3000, "db:5432"]
  port_or_ports,     // 3000, "3000:3000" or a list of them
  build,
  host_requirements,
  refused,           // known, and refused with a reason
};

struct Property {
  Shape shape;
  std::vector<std::string> choices = {};  // for an enumeration given as a string
  const char* reason = "";                // for refused
};

const std::map<std::string, Property>& properties() {
  static const std::map<std::string, Property> table{
      {"$schema", {Shape::string}},
      {"name", {Shape::string}},
      {"image", {Shape::string}},
      {"build", {Shape::build}},
      {"dockerFile", {Shape::string}},  // the older spelling of build.dockerfile
      {"context", {Shape::string}},     // the older spelling of build.context
      {"workspaceFolder", {Shape::string}},
      {"workspaceMount", {Shape::string}},
      {"containerEnv", {Shape::string_map}},
      {"remoteEnv", {Shape::env_map}},
      {"containerUser", {Shape::string}},
      {"remoteUser", {Shape::string}},
      {"updateRemoteUserUID", {Shape::boolean}},
      {"userEnvProbe", {Shape::string, {"none", "loginShell", "loginInteractiveShell", "interactiveShell"}}},
      {"overrideCommand", {Shape::boolean}},
      {"init", {Shape::boolean}},
      {"privileged", {Shape::boolean}},
      {"capAdd", {Shape::string_list}},
      {"securityOpt", {Shape::string_list}},
      {"runArgs", {Shape::string_list}},
      {"mounts", {Shape::mounts}},
      {"forwardPorts", {Shape::ports}},
      {"appPort", {Shape::port_or_ports}},
      {"portsAttributes", {Shape::object}},
      {"otherPortsAttributes", {Shape::object}},
      {"features", {Shape::object}},
      {"overrideFeatureInstallOrder", {Shape::string_list}},
      {"hostRequirements", {Shape::host_requirements}},
      {"initializeCommand", {Shape::lifecycle}},
      {"onCreateCommand", {Shape::lifecycle}},
      {"updateContentCommand", {Shape::lifecycle}},
      {"postCreateCommand", {Shape::lifecycle}},
      {"postStartCommand", {Shape::lifecycle}},
      {"postAttachCommand", {Shape::lifecycle}},
      {"waitFor", {Shape::string, {"initializeCommand", "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand"}}},
      {"shutdownAction", {Shape::string, {"none", "stopContainer", "stopCompose"}}},
      {"customizations", {Shape::object}},
      {"dockerComposeFile", {Shape::refused, {}, "Docker Compose configurations are not supported by berth yet; use image or build"}},
      {"service", {Shape::refused, {}, "Docker Compose configurations are not supported by berth yet; use image or build"}},
      {"runServices", {Shape::refused, {}, "Docker Compose configurations are not supported by berth yet; use image or build"}},
  };
  return table;
}

class Checker {
 public:
  explicit Checker(const Document& document) : document_(document) {}

  [[noreturn]] void wrong(const std::string& pointer, const std::string& expected) const {
    throw invalid(document_.where(pointer) + "must be " + expected);
  }

  const Json& at(const std::string& pointer) const { return document_.value.at(Json::json_pointer(pointer)); }

  static std::string key_pointer(const std::string& parent, const std::string& key) {
    std::string escaped;
    for (char c : key) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return parent + "/" + escaped;
  }

  void string_list(const std::string& pointer) const {
    const Json& value = at(pointer);
    if (!value.is_array()) wrong(pointer, "a list of strings");
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) wrong(pointer + "/" + std::to_string(i), "a string");
    }
  }

  void string_map(const std::string& pointer, bool nulls) const {
    const Json& value = at(pointer);
    if (!value.is_object()) wrong(pointer, "an object of strings");
    for (const auto& [key, item] : value.items()) {
      if (!item.is_string() && !(nulls && item.is_null())) wrong(key_pointer(pointer, key), nulls ? "a string or null" : "a string");
    }
  }

  void lifecycle(const std::string& pointer) const {
    const Json& value = at(pointer);
    if (value.is_string()) return;
    if (value.is_array()) return string_list(pointer);
    if (!value.is_object()) wrong(pointer, "a command: a string, a list of strings, or an object of them");
    for (const auto& [key, item] : value.items()) {
      std::string inner = key_pointer(pointer, key);
      if (item.is_array()) string_list(inner);
      else if (!item.is_string()) wrong(inner, "a string or a list of strings");
    }
  }

  void port(const std::string& pointer) const {
    const Json& value = at(pointer);
    if (value.is_number_integer()) {
      long long port = value.get<long long>();
      if (port < 1 || port > 65535) wrong(pointer, "a port from 1 to 65535");
      return;
    }
    if (!value.is_string()) wrong(pointer, "a port number or a \"host:port\" string");
  }

  void check(const std::string& name, const Property& property) const {
    std::string pointer = key_pointer("", name);
    const Json& value = at(pointer);
    switch (property.shape) {
      case Shape::string:
        if (!value.is_string()) wrong(pointer, "a string");
        if (!property.choices.empty() && std::find(property.choices.begin(), property.choices.end(), value.get<std::string>()) == property.choices.end()) {
          std::string list;
          for (const auto& choice : property.choices) list += (list.empty() ? "" : ", ") + choice;
          wrong(pointer, "one of " + list + " (not '" + value.get<std::string>() + "')");
        }
        return;
      case Shape::boolean:
        if (!value.is_boolean()) wrong(pointer, "true or false");
        return;
      case Shape::number:
        if (!value.is_number()) wrong(pointer, "a number");
        return;
      case Shape::string_list: return string_list(pointer);
      case Shape::string_or_list:
        if (!value.is_string()) string_list(pointer);
        return;
      case Shape::string_map: return string_map(pointer, false);
      case Shape::env_map: return string_map(pointer, true);
      case Shape::object:
        if (!value.is_object()) wrong(pointer, "an object");
        return;
      case Shape::lifecycle: return lifecycle(pointer);
      case Shape::mounts:
        if (!value.is_array()) wrong(pointer, "a list of mounts");
        for (size_t i = 0; i < value.size(); ++i) {
          std::string inner = pointer + "/" + std::to_string(i);
          if (value[i].is_string()) continue;
          if (!value[i].is_object()) wrong(inner, "a mount: \"type=...,source=...,target=...\" or an object");
          if (!value[i].contains("target") || !value[i]["target"].is_string()) wrong(inner, "a mount with a string 'target'");
          if (value[i].contains("type") && value[i]["type"] != "bind" && value[i]["type"] != "volume") wrong(inner + "/type", "bind or volume");
        }
        return;
      case Shape::ports:
        if (!value.is_array()) wrong(pointer, "a list of ports");
        for (size_t i = 0; i < value.size(); ++i) port(pointer + "/" + std::to_string(i));
        return;
      case Shape::port_or_ports:
        if (value.is_array()) {
          for (size_t i = 0; i < value.size(); ++i) port(pointer + "/" + std::to_string(i));
        } else {
          port(pointer);
        }
        return;
      case Shape::build: {
        if (!value.is_object()) wrong(pointer, "an object (dockerfile, context, args, target, cacheFrom, options)");
        static const std::set<std::string> known{"dockerfile", "context", "args", "target", "cacheFrom", "options"};
        for (const auto& [key, item] : value.items()) {
          std::string inner = key_pointer(pointer, key);
          if (!known.count(key)) wrong(inner, "one of dockerfile, context, args, target, cacheFrom, options (unknown build property)");
          if ((key == "dockerfile" || key == "context" || key == "target") && !item.is_string()) wrong(inner, "a string");
          if (key == "args") string_map(inner, false);
          if (key == "options") string_list(inner);
          if (key == "cacheFrom" && !item.is_string()) string_list(inner);
        }
        return;
      }
      case Shape::host_requirements: {
        if (!value.is_object()) wrong(pointer, "an object (cpus, memory, storage, gpu)");
        for (const auto& [key, item] : value.items()) {
          std::string inner = key_pointer(pointer, key);
          if (key == "cpus" && (!item.is_number_integer() || item.get<long long>() < 1)) wrong(inner, "a whole number of at least 1");
          if ((key == "memory" || key == "storage") && (!item.is_string() || parse_size(item) <= 0)) wrong(inner, "a size such as \"4gb\" or \"512mb\"");
        }
        return;
      }
      case Shape::refused: throw invalid(document_.where(pointer) + "is not supported: " + property.reason);
    }
  }

 private:
  const Document& document_;
};

}  // namespace

std::string find_config(const Repository& repository, const std::string& chosen) {
  // Each candidate is looked up inside the repository: one that is a symbolic link leading out
  // of it is refused, naming it, never read.
  const std::string where = "the repository ";
  if (!chosen.empty()) {
    fs::path path = fs::path(chosen).lexically_normal();
    if (path.is_absolute() || (!path.empty() && *path.begin() == "..")) {
      throw invalid("--devcontainer '" + chosen + "' must be a path inside the repository, relative to its root");
    }
    if (!repository.resolve("", path.string(), Repository::Kind::file, "--devcontainer ", false).exists) {
      throw invalid("--devcontainer '" + chosen + "': no such file in the repository");
    }
    return path.string();
  }
  for (const char* fixed : {".devcontainer/devcontainer.json", ".devcontainer.json"}) {
    if (repository.resolve("", fixed, Repository::Kind::file, where, false).exists) return fixed;
  }
  std::vector<std::string> found;
  auto folder = repository.resolve("", ".devcontainer", Repository::Kind::folder, where, false);
  std::error_code error;
  if (folder.exists) {
    for (fs::directory_iterator it(folder.path, error), end; !error && it != end; it.increment(error)) {
      if (!it->is_directory(error) || it->is_symlink(error)) continue;
      std::string candidate = ".devcontainer/" + it->path().filename().string() + "/devcontainer.json";
      if (repository.resolve("", candidate, Repository::Kind::file, where, false).exists) found.push_back(candidate);
    }
  }
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return found.front();
  if (found.size() > 1) {
    std::string list;
    for (const auto& path : found) list += "\n  " + path;
    throw invalid("the repository has " + std::to_string(found.size()) + " devcontainer.json files; choose one with --devcontainer PATH:" + list);
  }
  return "";
}

Config load_config(const Repository& repository, const std::string& relative) {
  auto file = repository.resolve("", relative, Repository::Kind::file, "the repository ");
  Config config{parse_jsonc(repository.read(file, kMaxDefinitionBytes, relative + ": "), relative), file.path, {}, {},
                repository.root(), Repository::parent_of(file.relative)};
  const Json& root = config.document.value;
  if (!root.is_object()) throw invalid(relative + ":" + std::to_string(config.document.line_of("")) + ": a devcontainer.json must be an object");
  Checker checker(config.document);
  for (const auto& [key, value] : root.items()) {
    auto known = properties().find(key);
    if (known == properties().end()) {
      config.warnings.push_back(relative + ":" + std::to_string(config.document.line_of(Checker::key_pointer("", key))) +
                                ": unknown property '" + key + "' is ignored");
      continue;
    }
    checker.check(key, known->second);
  }
  bool has_build = root.contains("build") && root["build"].contains("dockerfile");
  bool has_image = root.contains("image");
  if (root.contains("dockerFile")) has_build = true;
  if (!has_image && !has_build) {
    throw invalid(relative + ":" + std::to_string(config.document.line_of("")) +
                  ": needs 'image' or 'build.dockerfile' (berth supports image and Dockerfile configurations)");
  }
  if (has_build) {
    std::string pointer = root.contains("dockerFile") ? "/dockerFile" : "/build/dockerfile";
    std::string dockerfile = root.at(Json::json_pointer(pointer)).get<std::string>();
    if (!repository.resolve(config.folder, dockerfile, Repository::Kind::file, config.document.where(pointer), false).exists) {
      throw invalid(config.document.where(pointer) + "names '" + dockerfile + "', which does not exist next to the devcontainer.json");
    }
  }
  for (const char* key : {"/build/context", "/context"}) {
    Json::json_pointer pointer(key);
    if (root.contains(pointer)) {
      repository.resolve(config.folder, root.at(pointer).get<std::string>(), Repository::Kind::folder, config.document.where(key));
    }
  }
  return config;
}

}  // namespace devcontainer
