#pragma once
/// Plain records shared by the host, providers and plugins.
#include <map>
#include <string>
#include <vector>

namespace berth {

using StringMap = std::map<std::string, std::string>;

/// The life of a workspace: creating -> started <-> stopped, with starting, stopping and
/// deleting in between, and error (with a message) from which start, stop and delete are allowed.
enum class WorkspaceState { creating, started, starting, stopping, stopped, deleting, error };

/// One dev environment, as the server records it.
struct Workspace {
  std::string name;
  std::string target;
  std::string provider;
  std::string repository;  ///< URL or absolute local path; empty for none
  std::string image;       ///< optional image override; empty for the target's default
  StringMap env;
  WorkspaceState state = WorkspaceState::creating;
  StringMap provider_data;  ///< opaque to berth; whatever the provider returned
  std::string created_at;   ///< RFC 3339, UTC
  std::string updated_at;
  std::string last_error;   ///< the message and what to do next, when state is error
  std::string operation;    ///< the operation in progress, empty when idle
  StringMap options;  ///< create options for the provider, e.g. devcontainer=PATH, no_devcontainer=true
  StringMap labels;   ///< the user's KEY=VALUE labels (berth create --label), for filtering and on the infrastructure
};

/// The type of one target property, as a provider's target manifest declares it.
enum class PropertyType { string, integer, boolean, enumeration, path, secret };

/// One property of a provider's target manifest.
struct PropertySpec {
  std::string name;
  PropertyType type = PropertyType::string;
  bool required = false;
  std::string default_value;         ///< used when the target leaves it out; empty for none
  std::vector<std::string> choices;  ///< the allowed values of an enumeration
  std::string description;
  long long minimum = 0;             ///< an integer's smallest allowed value (checked at target add)
  long long maximum = 2147483647;    ///< an integer's largest allowed value
};

/// A property every target may set whatever its provider: the seconds a lifecycle operation
/// may take before berth fails it (default 600). Providers see it but need not declare it.
inline constexpr const char* target_timeout_property = "timeout";
/// Another: the seconds one exec may run (default none; 0 is none). Past it the command is
/// cancelled, and its provider process killed if it does not end within a grace period.
inline constexpr const char* target_exec_timeout_property = "exec_timeout";

/// A named configuration of a provider. Property values are kept as text, checked against
/// the provider's manifest (an integer is decimal digits, a boolean "true" or "false").
struct Target {
  std::string name;
  std::string provider;
  StringMap properties;
  bool is_default = false;
};

/// What a provider says of itself.
struct ProviderInfo {
  std::string name;
  std::string version;
  std::string description;
  std::vector<PropertySpec> target_manifest;
};

/// A provider as the host found it: loaded and usable, or broken with the reason.
struct ProviderStatus {
  ProviderInfo info;
  std::string api_version;  ///< "major.minor" from its manifest
  std::string location;     ///< "built-in", or the drop-in file's path
  std::string path;         ///< the .so file
  bool broken = false;
  std::string reason;       ///< why it is broken
};

/// The -o format of the CLI.
enum class OutputFormat { table, json, yaml };

/// What a provider found when asked whether a target's infrastructure is reachable.
struct TargetCheck {
  bool ok = true;
  std::string message;
};

std::string to_string(WorkspaceState state);
std::string to_string(PropertyType type);

inline std::string to_string(WorkspaceState state) {
  switch (state) {
    case WorkspaceState::creating: return "creating";
    case WorkspaceState::started: return "started";
    case WorkspaceState::starting: return "starting";
    case WorkspaceState::stopping: return "stopping";
    case WorkspaceState::stopped: return "stopped";
    case WorkspaceState::deleting: return "deleting";
    case WorkspaceState::error: return "error";
  }
  return "error";
}

inline std::string to_string(PropertyType type) {
  switch (type) {
    case PropertyType::string: return "string";
    case PropertyType::integer: return "int";
    case PropertyType::boolean: return "bool";
    case PropertyType::enumeration: return "enum";
    case PropertyType::path: return "path";
    case PropertyType::secret: return "secret";
  }
  return "string";
}

}  // namespace berth
