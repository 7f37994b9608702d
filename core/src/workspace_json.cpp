// A workspace as one JSON document (the API's answers, and records through YAML), driven by
// kWorkspaceFieldTable; and its states.
#include "codec.hpp"
#include "errors.hpp"
#include "record_fields.hpp"

namespace berth {

WorkspaceState parse_workspace_state(const std::string& text) {
  for (auto state : {WorkspaceState::creating, WorkspaceState::started, WorkspaceState::starting, WorkspaceState::stopping,
                     WorkspaceState::stopped, WorkspaceState::deleting, WorkspaceState::error, WorkspaceState::paused}) {
    if (to_string(state) == text) return state;
  }
  throw invalid("unknown workspace state '" + text + "'");
}

bool is_transitional(WorkspaceState state) {
  return state == WorkspaceState::creating || state == WorkspaceState::starting || state == WorkspaceState::stopping ||
         state == WorkspaceState::deleting;
}

const WorkspaceField* find_workspace_field(std::string_view name) {
  for (const auto& field : kWorkspaceFieldTable) {
    if (name == field.name) return &field;
  }
  return nullptr;
}

void to_json(Json& json, const Workspace& w) {
  json = Json::object();
  for (const auto& field : kWorkspaceFieldTable) {
    switch (field.kind) {
      case WorkspaceField::Kind::text: json[field.name] = w.*field.text; break;
      case WorkspaceField::Kind::map: json[field.name] = w.*field.map; break;
      case WorkspaceField::Kind::state: json[field.name] = to_string(w.state); break;
    }
  }
}

void from_json(const Json& json, Workspace& w) {
  if (!json.is_object()) throw invalid("a workspace must be an object");
  for (const auto& field : kWorkspaceFieldTable) {
    switch (field.kind) {
      case WorkspaceField::Kind::text: w.*field.text = string_field(json, field.name); break;
      case WorkspaceField::Kind::map: w.*field.map = map_field(json, field.name); break;
      case WorkspaceField::Kind::state: {
        std::string state = string_field(json, field.name);
        w.state = state.empty() ? WorkspaceState::creating : parse_workspace_state(state);
        break;
      }
    }
  }
}

}  // namespace berth
