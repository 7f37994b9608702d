// The spec's variables: ${localEnv:X}, ${localWorkspaceFolder}, ${containerWorkspaceFolder},
// ${devcontainerId}, ... and ${containerEnv:X} once the container runs.
#include <devcontainer/config.hpp>

#include <berth/sdk.hpp>

#include <algorithm>
#include <cctype>

namespace devcontainer {
namespace {

std::string basename_of(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  return slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
}

// Calls replace(name, argument, argument2) for each ${name[:a[:b]]} in text; it returns the
// replacement or nullopt to leave the text as it is.
using Replacer = std::function<std::optional<std::string>(const std::string& whole, const std::string& name,
                                                          const std::vector<std::string>& arguments)>;

std::string substitute(const std::string& text, const Replacer& replace) {
  std::string out;
  size_t at = 0;
  while (true) {
    size_t open = text.find("${", at);
    if (open == std::string::npos) break;
    size_t close = text.find('}', open + 2);
    if (close == std::string::npos) break;
    out.append(text, at, open - at);
    std::string whole = text.substr(open + 2, close - open - 2);
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t colon = whole.find(':', start);
      // The default of ${localEnv:X:default} may itself hold colons.
      if (colon == std::string::npos || parts.size() == 2) {
        parts.push_back(whole.substr(start));
        break;
      }
      parts.push_back(whole.substr(start, colon - start));
      start = colon + 1;
    }
    std::string name = parts.front();
    parts.erase(parts.begin());
    auto replacement = replace(whole, name, parts);
    out += replacement ? *replacement : text.substr(open, close - open + 1);
    at = close + 1;
  }
  out.append(text, at);
  return out;
}

void walk(Json& value, const std::string& pointer, const std::function<void(std::string&, const std::string&)>& visit) {
  if (value.is_string()) {
    visit(value.get_ref<std::string&>(), pointer);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) walk(value[i], pointer + "/" + std::to_string(i), visit);
  } else if (value.is_object()) {
    for (auto& [key, item] : value.items()) {
      std::string escaped;
      for (char c : key) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      walk(item, pointer + "/" + escaped, visit);
    }
  }
}

// A shell's ${HOME} or ${1} is not the spec's: only camelCase names are taken for variables.
bool looks_like_spec_variable(const std::string& name) {
  return !name.empty() && std::islower(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

}  // namespace

std::string devcontainer_id(const std::string& local_folder, const std::string& config_file) {
  // As the reference implementation: JSON of the id labels, sorted by name, hashed.
  Json labels = Json::object();
  labels["devcontainer.config_file"] = config_file;
  labels["devcontainer.local_folder"] = local_folder;
  std::string hex = sha256_hex(labels.dump());
  // The 256-bit number in base 32, 52 digits (0-9a-v), most significant first.
  std::vector<int> bits;
  for (char c : hex) {
    int nibble = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10;
    for (int b = 3; b >= 0; --b) bits.push_back((nibble >> b) & 1);
  }
  std::string out;
  static const char* digits = "0123456789abcdefghijklmnopqrstuv";
  // 260 bits: four leading zero bits pad 256 to a multiple of five.
  bits.insert(bits.begin(), 4, 0);
  for (size_t i = 0; i < bits.size(); i += 5) {
    int digit = 0;
    for (size_t j = 0; j < 5; ++j) digit = digit * 2 + bits[i + j];
    out.push_back(digits[digit]);
  }
  return out;
}

void resolve(Config& config, const LocalContext& context) {
  Json& root = config.document.value;
  const std::string id = devcontainer_id(context.local_workspace_folder, context.config_file);
  std::string container_folder;
  auto replace = [&](const std::string& pointer) -> Replacer {
    return [&, pointer](const std::string& whole, const std::string& name, const std::vector<std::string>& arguments) -> std::optional<std::string> {
      if (name == "localEnv" || name == "env") {
        if (arguments.empty() || arguments[0].empty()) {
          throw berth::Error("invalid", config.document.where(pointer) + "uses ${" + whole + "}: localEnv needs a variable name, ${localEnv:NAME}");
        }
        auto found = context.local_env ? context.local_env(arguments[0]) : std::nullopt;
        return found ? *found : arguments.size() > 1 ? arguments[1] : "";
      }
      if (name == "localWorkspaceFolder" && arguments.empty()) return context.local_workspace_folder;
      if (name == "localWorkspaceFolderBasename" && arguments.empty()) return basename_of(context.local_workspace_folder);
      if (name == "devcontainerId" && arguments.empty()) return id;
      if (name == "containerWorkspaceFolder" && arguments.empty()) {
        if (pointer == "/workspaceFolder") throw berth::Error("invalid", config.document.where(pointer) + "cannot use ${containerWorkspaceFolder}: it is what this sets");
        return container_folder;
      }
      if (name == "containerWorkspaceFolderBasename" && arguments.empty()) return basename_of(container_folder);
      if (name == "containerEnv") return std::nullopt;  // once the container runs
      if (looks_like_spec_variable(name) || !arguments.empty()) {
        throw berth::Error("invalid", config.document.where(pointer) + "uses the unknown variable ${" + whole +
                                          "} (known: localEnv, localWorkspaceFolder, localWorkspaceFolderBasename, containerEnv, "
                                          "containerWorkspaceFolder, containerWorkspaceFolderBasename, devcontainerId)");
      }
      return std::nullopt;  // a shell's own ${VAR}
    };
  };
  if (root.contains("workspaceFolder")) {
    std::string& folder = root["workspaceFolder"].get_ref<std::string&>();
    folder = substitute(folder, replace("/workspaceFolder"));
    container_folder = folder;
  } else {
    container_folder = context.default_workspace_folder;
  }
  walk(root, "", [&](std::string& text, const std::string& pointer) {
    if (pointer != "/workspaceFolder") text = substitute(text, replace(pointer));
  });
  config.workspace_folder = container_folder;
}

void substitute_container_env(Json& value, const std::map<std::string, std::string>& container_env) {
  walk(value, "", [&](std::string& text, const std::string&) {
    text = substitute(text, [&](const std::string&, const std::string& name, const std::vector<std::string>& arguments) -> std::optional<std::string> {
      if (name != "containerEnv" || arguments.empty()) return std::nullopt;
      auto it = container_env.find(arguments[0]);
      return it != container_env.end() ? it->second : arguments.size() > 1 ? arguments[1] : "";
    });
  });
}

}  // namespace devcontainer
