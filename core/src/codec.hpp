#pragma once
// The one schema of every record: JSON for the API, the same shape as YAML on disk. Declared
// here, defined one file per thing encoded (named beside each group below).
#include <berth/api.hpp>
#include <berth/provider.hpp>
#include <berth/types.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace berth {

using Json = nlohmann::json;

// workspace_json.cpp
void to_json(Json& json, const Workspace& workspace);
void from_json(const Json& json, Workspace& workspace);
WorkspaceState parse_workspace_state(const std::string& text);
bool is_transitional(WorkspaceState state);

// target_json.cpp
void to_json(Json& json, const Target& target);
void from_json(const Json& json, Target& target);

// provider_json.cpp
void to_json(Json& json, const PropertySpec& spec);
void from_json(const Json& json, PropertySpec& spec);
void to_json(Json& json, const ProviderInfo& info);
void from_json(const Json& json, ProviderInfo& info);
void to_json(Json& json, const ProviderStatus& status);
void from_json(const Json& json, ProviderStatus& status);
PropertyType parse_property_type(const std::string& text);

// The fields of a workspace, in their order on the wire: the one table every workspace codec
// reads (JSON document, the streamed list writer, the SAX and the fast list readers, YAML
// through JSON). A new field is one line here.
struct WorkspaceField {
  const char* name;
  enum class Kind { text, map, state } kind;
  std::string Workspace::*text = nullptr;
  StringMap Workspace::*map = nullptr;
};
inline const WorkspaceField kWorkspaceFieldTable[] = {
    {"name", WorkspaceField::Kind::text, &Workspace::name},
    {"target", WorkspaceField::Kind::text, &Workspace::target},
    {"provider", WorkspaceField::Kind::text, &Workspace::provider},
    {"repository", WorkspaceField::Kind::text, &Workspace::repository},
    {"image", WorkspaceField::Kind::text, &Workspace::image},
    {"env", WorkspaceField::Kind::map, nullptr, &Workspace::env},
    {"state", WorkspaceField::Kind::state},
    {"provider_data", WorkspaceField::Kind::map, nullptr, &Workspace::provider_data},
    {"created_at", WorkspaceField::Kind::text, &Workspace::created_at},
    {"updated_at", WorkspaceField::Kind::text, &Workspace::updated_at},
    {"last_error", WorkspaceField::Kind::text, &Workspace::last_error},
    {"operation", WorkspaceField::Kind::text, &Workspace::operation},
    {"options", WorkspaceField::Kind::map, nullptr, &Workspace::options},
    {"labels", WorkspaceField::Kind::map, nullptr, &Workspace::labels},
};
inline constexpr unsigned kWorkspaceFieldCount = sizeof kWorkspaceFieldTable / sizeof kWorkspaceFieldTable[0];
// The table's entry of that name; nullptr for none (workspace_json.cpp).
const WorkspaceField* find_workspace_field(std::string_view name);
// workspace_list_json.cpp
// Appends the workspace as a JSON object with the fields whose bit is set in mask (bit i is
// kWorkspaceFieldTable[i]); written directly, without building a document.
void append_workspace_json(std::string& out, const Workspace& workspace, unsigned mask);
unsigned workspace_field_mask(const std::string& comma_separated);  // throws invalid for an unknown field
inline constexpr unsigned kAllWorkspaceFields = (1u << kWorkspaceFieldCount) - 1;
// Reads a JSON array of workspaces straight into records (SAX, no document).
std::vector<Workspace> parse_workspace_list(const std::string& json_text);

// request_json.cpp
// The body of POST /v1/workspaces: {name, target, repository, image, env, options}. Throws invalid
// naming the field for anything else.
WorkspaceRequest parse_create_request(const std::string& body);
// The body of POST /v1/workspaces/NAME/exec: {command: [...], env, workdir, user, stdin}.
ExecRequest parse_exec_request(const std::string& body);
// The body of POST /v1/workspaces/NAME/session: command (leave out for the shell), env,
// workdir, user, tty, rows, cols.
SessionRequest parse_session_request(const std::string& body);
// A JSON object from a request body, or invalid.
Json parse_request_object(const std::string& body);
// A string or a map-of-strings member of a request body ("" / {} when absent), or invalid
// naming the field.
std::string request_string(const Json& body, const char* key);
StringMap request_map(const Json& body, const char* key);

// utf8.cpp: the offset of the first byte that is not valid UTF-8, or npos.
size_t first_invalid_utf8(std::string_view text);

// Limits on YAML a user or a file hands us: size, nesting depth and total nodes (aliases
// count each time they are used, so an alias bomb is refused quickly).
struct YamlLimits {
  size_t max_bytes = 1 << 20;
  int max_depth = 32;
  size_t max_nodes = 100000;
};

// yaml_reader.cpp: YAML text to JSON, scalars as strings. Throws invalid naming source and line on bad YAML.
Json yaml_to_json(const std::string& text, const std::string& source, const YamlLimits& limits = {});
// JSON to YAML that reads back exactly, in the shape parse_canonical_yaml reads (yaml_writer.cpp).
std::string json_to_yaml(const Json& json);

// record_yaml.cpp: records as stored on disk.
std::string workspace_to_yaml(const Workspace& workspace);
Workspace workspace_from_yaml(const std::string& text, const std::string& source);
std::string target_to_yaml(const Target& target);
Target target_from_yaml(const std::string& text, const std::string& source);

}  // namespace berth
