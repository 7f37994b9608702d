#include "exec_defaults.hpp"

#include <nlohmann/json.hpp>

namespace docker {
namespace {

std::string value_of(const berth::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

}  // namespace

std::string workspace_folder(const berth::OperationContext& c) {
  if (auto recorded = value_of(c.provider_data, "workdir"); !recorded.empty()) return recorded;
  std::string workdir = value_of(c.properties, "workdir");
  if (size_t at = workdir.find("{name}"); at != std::string::npos) workdir.replace(at, 6, c.workspace.name);
  return workdir.empty() ? "/workspaces/" + c.workspace.name : workdir;
}

ExecDefaults exec_defaults(const berth::OperationContext& c, const berth::ExecRequest& request) {
  ExecDefaults defaults;
  defaults.workdir = request.workdir.empty() ? workspace_folder(c) : request.workdir;
  defaults.user = request.user;
  if (defaults.user.empty()) defaults.user = value_of(c.provider_data, "remote_user");
  if (defaults.user.empty()) defaults.user = value_of(c.properties, "user");
  berth::StringMap env;
  // A container from the warm pool was made before its workspace: create --env lives on the record.
  if (value_of(c.provider_data, "pooled") == "true") env.insert(c.workspace.env.begin(), c.workspace.env.end());
  if (auto remote = value_of(c.provider_data, "remote_env"); !remote.empty()) {
    auto parsed = nlohmann::json::parse(remote, nullptr, false);
    if (parsed.is_object()) {
      for (const auto& [key, value] : parsed.items()) {
        if (value.is_string()) env[key] = value.get<std::string>();
      }
    }
  }
  for (const auto& [key, value] : request.env) env[key] = value;
  for (const auto& [key, value] : env) defaults.env.push_back(key + "=" + value);
  return defaults;
}

}  // namespace docker
