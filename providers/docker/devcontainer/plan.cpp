// Reading a repository's devcontainer.json, and setting it on a container.
#include "plan.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace docker::dc {
namespace {

berth::Error invalid(const std::string& message) { return berth::Error("invalid", message); }

std::string option(const berth::StringMap& options, const std::string& key) {
  auto it = options.find(key);
  return it == options.end() ? "" : it->second;
}

// The runArgs subset: each flag as --flag VALUE or --flag=VALUE.
RunArgs parse_run_args(const devcontainer::Document& document) {
  RunArgs args;
  if (!document.value.contains("runArgs")) return args;
  const Json& list = document.value["runArgs"];
  for (size_t i = 0; i < list.size(); ++i) {
    std::string pointer = "/runArgs/" + std::to_string(i);
    std::string arg = list[i].get<std::string>();
    std::string flag = arg, value;
    bool has_value = false;
    if (size_t equals = arg.find('='); arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      flag = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      has_value = true;
    }
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= list.size()) throw invalid(document.where(pointer) + "'" + flag + "' needs a value");
      return list[++i].get<std::string>();
    };
    if (flag == "--cap-add") args.cap_add.push_back(take());
    else if (flag == "--cap-drop") args.cap_drop.push_back(take());
    else if (flag == "--security-opt") args.security_opt.push_back(take());
    else if (flag == "--add-host") args.add_host.push_back(take());
    else if (flag == "-e" || flag == "--env") args.env.push_back(take());
    else if (flag == "-h" || flag == "--hostname") args.hostname = take();
    else if (flag == "--network" || flag == "--net") args.network = take();
    else if (flag == "--shm-size") args.shm_size = take();
    else if (flag == "-l" || flag == "--label") {
      std::string label = take();
      size_t equals = label.find('=');
      args.labels[label.substr(0, equals)] = equals == std::string::npos ? "" : label.substr(equals + 1);
    } else if (flag == "--privileged" && !has_value) args.privileged = true;
    else if (flag == "--init" && !has_value) args.init = true;
    else {
      throw invalid(document.where(pointer) + "has '" + flag +
                    "', which berth does not support in runArgs (supported: --cap-add, --cap-drop, --security-opt, --add-host, "
                    "-e/--env, -h/--hostname, --network, --shm-size, -l/--label, --privileged, --init; see docs/devcontainer.md)");
    }
  }
  return args;
}

// "512m", "1g" -> bytes, as docker run's --shm-size; -1 when malformed.
long long docker_size(const std::string& text) {
  char* end = nullptr;
  double amount = std::strtod(text.c_str(), &end);
  std::string unit = end;
  if (!unit.empty() && (unit.back() == 'b' || unit.back() == 'B') && unit.size() == 2) unit.pop_back();
  double scale = unit.empty() || unit == "b" ? 1 : unit == "k" ? 1024.0 : unit == "m" ? 1024.0 * 1024 : unit == "g" ? 1024.0 * 1024 * 1024 : -1;
  return scale < 0 || end == text.c_str() ? -1 : static_cast<long long>(amount * scale);
}

// berth-IDENTITY12-NAME: a workspace's working tree (docker_provider.cpp's container_name).
bool is_working_tree_volume(const std::string& name) {
  if (name.size() < 19 || name.rfind("berth-", 0) != 0 || name[18] != '-') return false;
  return std::all_of(name.begin() + 6, name.begin() + 18, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// A mount as devcontainer.json writes it ("type=volume,source=x,target=/y" or an object), as
// the engine's HostConfig.Mounts wants it. What a repository or an image may mount: a bind
// only of a path inside the repository (checkout), never a volume in berth's own namespace
// (another workspace's working tree); the target is a container path.
Json engine_mount(const Json& mount, const std::string& where, const fs::path& checkout) {
  Json out{{"Type", "volume"}};
  auto set = [&](const std::string& key, const std::string& value) {
    if (key == "type") out["Type"] = value;
    else if (key == "source" || key == "src") out["Source"] = value;
    else if (key == "target" || key == "destination" || key == "dst") out["Target"] = value;
    else if (key == "readonly" || key == "ro") out["ReadOnly"] = value.empty() || value == "true" || value == "1";
    else if (key == "consistency") {}  // macOS only; the engine ignores it
    else throw invalid(where + "has the unknown mount option '" + key + "'");
  };
  if (mount.is_object()) {
    for (const auto& [key, value] : mount.items()) set(key, value.is_string() ? value.get<std::string>() : value.dump());
  } else {
    std::string text = mount.get<std::string>();
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) {
        size_t equals = part.find('=');
        set(part.substr(0, equals), equals == std::string::npos ? "" : part.substr(equals + 1));
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (!out.contains("Target")) throw invalid(where + "needs a target");
  if (out["Type"] != "bind" && out["Type"] != "volume" && out["Type"] != "tmpfs") throw invalid(where + "must be of type bind, volume or tmpfs");
  if (out["Type"] == "bind" && !out.contains("Source")) throw invalid(where + "is a bind mount without a source");
  devcontainer::check_container_path(out["Target"].get<std::string>(), where + "target ");
  std::string source = out.value("Source", "");
  if (out["Type"] == "bind") {
    fs::path inside = fs::path(source).lexically_normal().lexically_relative(checkout);
    if (!fs::path(source).is_absolute() || inside.empty() || *inside.begin() == "..") {
      throw invalid(where + "binds '" + source + "', a folder of the server outside the repository; a bind mount from a repository or "
                    "an image may only bind the repository's own files (${localWorkspaceFolder}/...) (docs/security.md)");
    }
    devcontainer::Repository(checkout).resolve("", inside == "." ? "" : inside.string(), devcontainer::Repository::Kind::any, where);
  } else if (out["Type"] == "volume" && is_working_tree_volume(source)) {
    throw invalid(where + "names the volume '" + source + "'; volumes named berth-IDENTITY-NAME are berth's own (workspaces' "
                  "working trees) and cannot be mounted by a repository or an image");
  }
  return out;
}

// Reads and checks the checkout's definition (no output: it also runs in a child).
std::optional<Plan> read_plan(const berth::OperationContext& c, const fs::path& checkout, const std::string& default_folder) {
  std::string chosen = option(c.workspace.options, "devcontainer");
  devcontainer::Repository repository(checkout);
  std::string relative = devcontainer::find_config(repository, chosen);
  if (relative.empty()) return std::nullopt;
  Plan plan{devcontainer::load_config(repository, relative), relative, checkout, {}, {}, Json::array(), nullptr, ""};
  devcontainer::LocalContext context;
  context.local_workspace_folder = checkout.string();
  context.config_file = (checkout / relative).string();
  context.default_workspace_folder = default_folder;
  // ${localEnv:X} is the environment of the person who asked (the CLI sends the variables the
  // definition names), never the server's own.
  Json local_env = Json::parse(option(c.workspace.options, "local_env"), nullptr, false);
  context.local_env = [local_env](const std::string& name) -> std::optional<std::string> {
    if (!local_env.is_object() || !local_env.contains(name) || !local_env[name].is_string()) return std::nullopt;
    return local_env[name].get<std::string>();
  };
  devcontainer::resolve(plan.config, context);
  plan.run_args = parse_run_args(plan.config.document);
  const Json& root = plan.config.document.value;
  plan.features = devcontainer::load_features(plan.config);
  if (root.contains("mounts")) {
    for (size_t i = 0; i < root["mounts"].size(); ++i) {
      std::string pointer = "/mounts/" + std::to_string(i);
      engine_mount(root["mounts"][i], plan.config.document.where(pointer), checkout);
    }
  }
  if (root.contains("workspaceMount") && !root["workspaceMount"].get<std::string>().empty()) {
    engine_mount(root["workspaceMount"], plan.config.document.where("/workspaceMount"), checkout);
  }
  if (!plan.run_args.shm_size.empty() && docker_size(plan.run_args.shm_size) <= 0) {
    throw invalid(plan.config.document.where("/runArgs") + "has --shm-size '" + plan.run_args.shm_size + "', which is not a size such as 64m");
  }
  // A container path, never a path of the server (copy_repository builds the archive from it).
  devcontainer::check_container_path(plan.workspace_folder(), plan.config.document.where("/workspaceFolder"));
  return plan;
}

}  // namespace

std::optional<Plan> load_plan(const berth::OperationContext& c, const fs::path& checkout, const std::string& default_folder) {
  if (option(c.workspace.options, "no_devcontainer") == "true") return std::nullopt;
  std::string chosen = option(c.workspace.options, "devcontainer");
  if (c.workspace.repository.empty()) {
    if (!chosen.empty()) throw invalid("--devcontainer needs a repository (--repo)");
    return std::nullopt;
  }
  // Everything the repository's files say is read in a child first (untrusted.cpp): input that
  // crashes the reader fails this create, not the provider; then read here, knowing it does not.
  read_untrusted("the repository's devcontainer.json", [&] {
    read_plan(c, checkout, default_folder);
    return std::string();
  });
  auto plan = read_plan(c, checkout, default_folder);
  if (plan) {
    for (const auto& warning : plan->config.warnings) c.progress.line("warning: " + warning);
  }
  return plan;
}


void check_host_requirements(const Plan& plan, Engine& engine) {
  const Json& requirements = plan.merged.value("hostRequirements", Json::object());
  if (requirements.empty()) return;
  Reply info = engine.get("/info");
  if (info.status != 200) throw berth::Error("provider_failed", "cannot ask the engine for its CPUs and memory: " + info.message());
  Json facts = info.json();
  long long cpus = facts.value("NCPU", 0LL);
  long long memory = facts.value("MemTotal", 0LL);
  if (requirements.contains("cpus") && requirements["cpus"].is_number() && requirements["cpus"].get<double>() > static_cast<double>(cpus)) {
    throw invalid(plan.shown_as + ": hostRequirements.cpus asks for " + requirements["cpus"].dump() + " CPUs; the engine at " +
                  engine.address() + " has " + std::to_string(cpus));
  }
  if (requirements.contains("memory")) {
    double wanted = devcontainer::parse_size(requirements["memory"]);
    if (wanted > static_cast<double>(memory)) {
      throw invalid(plan.shown_as + ": hostRequirements.memory asks for " + requirements["memory"].get<std::string>() + "; the engine at " +
                    engine.address() + " has " + std::to_string(memory / (1024 * 1024)) + " MiB");
    }
  }
}

void shape_container(const Plan& plan, const berth::OperationContext& c, Json& body) {
  const Json& merged = plan.merged;
  // The target's env, then containerEnv, then runArgs' -e, then berth create --env: the later
  // wins, so the repository's word beats the target's default and the user's beats both.
  Json env = Json::array();
  std::string target_env = option(c.properties, "env");
  for (size_t start = 0; start < target_env.size();) {
    size_t comma = target_env.find(',', start);
    std::string item = target_env.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) env.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (merged.contains("containerEnv")) {
    for (const auto& [key, value] : merged["containerEnv"].items()) env.push_back(key + "=" + value.get<std::string>());
  }
  for (const auto& item : plan.run_args.env) env.push_back(item);
  for (const auto& [key, value] : c.workspace.env) env.push_back(key + "=" + value);
  body["Env"] = env;
  if (merged.contains("containerUser")) body["User"] = merged["containerUser"];
  body["WorkingDir"] = plan.workspace_folder();
  if (!merged.value("overrideCommand", true)) {
    body.erase("Cmd");
    body.erase("Entrypoint");
  } else if (merged.contains("entrypoints")) {
    // Features' entrypoints run first, then berth's own sleep loop (as the reference CLI does).
    std::string script;
    for (const auto& entrypoint : merged["entrypoints"]) script += entrypoint.get<std::string>() + "\n";
    body["Cmd"] = Json::array({"/bin/sh", "-c", script + body["Cmd"].back().get<std::string>()});
  }
  Json& host = body["HostConfig"];
  if (merged.value("init", false) || plan.run_args.init) host["Init"] = true;
  if (merged.value("privileged", false) || plan.run_args.privileged) host["Privileged"] = true;
  Json cap_add = merged.value("capAdd", Json::array());
  for (const auto& cap : plan.run_args.cap_add) cap_add.push_back(cap);
  if (!cap_add.empty()) host["CapAdd"] = cap_add;
  if (!plan.run_args.cap_drop.empty()) host["CapDrop"] = plan.run_args.cap_drop;
  Json security = merged.value("securityOpt", Json::array());
  for (const auto& option : plan.run_args.security_opt) security.push_back(option);
  if (!security.empty()) host["SecurityOpt"] = security;
  if (!plan.run_args.add_host.empty()) host["ExtraHosts"] = plan.run_args.add_host;
  if (!plan.run_args.network.empty()) host["NetworkMode"] = plan.run_args.network;
  if (!plan.run_args.shm_size.empty()) host["ShmSize"] = docker_size(plan.run_args.shm_size);
  if (!plan.run_args.hostname.empty()) body["Hostname"] = plan.run_args.hostname;
  Json mounts = Json::array();
  for (const auto& mount : merged.value("mounts", Json::array())) {
    mounts.push_back(engine_mount(mount, plan.shown_as + " (with the image's metadata): a mount ", plan.checkout));
  }
  const Json& root = plan.config.document.value;
  if (root.contains("workspaceMount") && !root["workspaceMount"].get<std::string>().empty()) {
    mounts.push_back(engine_mount(root["workspaceMount"], plan.shown_as + ": workspaceMount ", plan.checkout));
  }
  if (!mounts.empty()) host["Mounts"] = mounts;
  Json& labels = body["Labels"];
  for (const auto& [key, value] : plan.run_args.labels) labels[key] = value;
  labels["devcontainer.metadata"] = plan.entries.dump();
  labels["devcontainer.local_folder"] = plan.checkout.string();
  labels["devcontainer.config_file"] = (plan.checkout / plan.shown_as).string();
  labels["dev.berth.devcontainer.merged"] = plan.merged.dump();
}

void record_plan(const Plan& plan, berth::StringMap& data) {
  const Json& merged = plan.merged;
  data["devcontainer.config"] = plan.shown_as;
  data["devcontainer.merged"] = merged.dump();
  data["workdir"] = plan.workspace_folder();
  std::string user = merged.value("remoteUser", merged.value("containerUser", std::string()));
  if (!user.empty()) data["remote_user"] = user;
  data["remote_env"] = merged.value("remoteEnv", Json::object()).dump();
  Json commands = Json::object();
  for (const char* key : {"onCreateCommands", "updateContentCommands", "postCreateCommands", "postStartCommands", "postAttachCommands"}) {
    if (merged.contains(key)) commands[key] = merged[key];
  }
  data["devcontainer.commands"] = commands.dump();
  data["devcontainer.next_command"] = "0";
  data["devcontainer.wait_for"] = merged.value("waitFor", std::string("updateContentCommand"));
  Json ports = merged.value("forwardPorts", Json::array());
  if (plan.config.document.value.contains("appPort")) {
    const Json& app = plan.config.document.value["appPort"];
    data["app_ports"] = (app.is_array() ? app : Json::array({app})).dump();
  }
  if (!ports.empty()) data["forward_ports"] = ports.dump();
  if (merged.contains("portsAttributes")) data["ports_attributes"] = merged["portsAttributes"].dump();
}

}  // namespace docker::dc
