#include "codec.hpp"

#include "canonical_yaml.hpp"
#include "errors.hpp"

#include <yaml-cpp/yaml.h>

namespace berth {
namespace {

std::string string_field(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  if (it->is_number()) return it->dump();
  throw invalid(std::string("field '") + key + "' must be a string");
}

StringMap map_field(const Json& json, const char* key) {
  StringMap result;
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return result;
  if (!it->is_object()) throw invalid(std::string("field '") + key + "' must be a map of strings");
  for (const auto& [name, value] : it->items()) {
    if (value.is_string()) {
      result[name] = value.get<std::string>();
    } else if (value.is_boolean()) {
      result[name] = value.get<bool>() ? "true" : "false";
    } else if (value.is_number()) {
      result[name] = value.dump();
    } else {
      throw invalid(std::string("field '") + key + "." + name + "' must be a string");
    }
  }
  return result;
}

bool bool_field(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return it->is_string() && it->get<std::string>() == "true";
}

class YamlConverter {
 public:
  YamlConverter(const std::string& source, const YamlLimits& limits) : source_(source), limits_(limits) {}

  Json convert(const YAML::Node& node, int depth) {
    if (++nodes_ > limits_.max_nodes) {
      throw invalid(source_ + ": too many YAML nodes (more than " + std::to_string(limits_.max_nodes) +
                    ", aliases included)");
    }
    if (depth > limits_.max_depth) {
      throw invalid(source_ + ":" + std::to_string(node.Mark().line + 1) + ": YAML nested deeper than " +
                    std::to_string(limits_.max_depth) + " levels");
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return node.Scalar();
      case YAML::NodeType::Sequence: {
        Json array = Json::array();
        for (const auto& item : node) array.push_back(convert(item, depth + 1));
        return array;
      }
      case YAML::NodeType::Map: {
        Json object = Json::object();
        for (const auto& item : node) {
          if (!item.first.IsScalar()) {
            throw invalid(source_ + ":" + std::to_string(item.first.Mark().line + 1) + ": map keys must be plain text");
          }
          object[item.first.Scalar()] = convert(item.second, depth + 1);
        }
        return object;
      }
    }
    return nullptr;
  }

 private:
  const std::string& source_;
  const YamlLimits& limits_;
  size_t nodes_ = 0;
};

void emit(YAML::Emitter& out, const Json& json) {
  if (json.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, value] : json.items()) {
      out << YAML::Key << key << YAML::Value;
      emit(out, value);
    }
    out << YAML::EndMap;
  } else if (json.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& value : json) emit(out, value);
    out << YAML::EndSeq;
  } else if (json.is_string()) {
    const auto& text = json.get_ref<const std::string&>();
    // Quote anything YAML would read back as another type or mangle.
    bool plain = !text.empty() && text != "true" && text != "false" && text != "null" && text != "~" &&
                 text.find_first_of(":#{}[],&*!|>'\"%@`\n\t") == std::string::npos &&
                 text.front() != ' ' && text.back() != ' ' && text.front() != '-' &&
                 !(text.front() >= '0' && text.front() <= '9');
    if (!plain) out << YAML::DoubleQuoted;
    out << text;
  } else if (json.is_boolean()) {
    out << (json.get<bool>() ? "true" : "false");
  } else if (json.is_null()) {
    out << YAML::Null;
  } else {
    out << json.dump();
  }
}

}  // namespace

WorkspaceState parse_workspace_state(const std::string& text) {
  for (auto state : {WorkspaceState::creating, WorkspaceState::started, WorkspaceState::starting,
                     WorkspaceState::stopping, WorkspaceState::stopped, WorkspaceState::deleting,
                     WorkspaceState::error}) {
    if (to_string(state) == text) return state;
  }
  throw invalid("unknown workspace state '" + text + "'");
}

bool is_transitional(WorkspaceState state) {
  return state == WorkspaceState::creating || state == WorkspaceState::starting ||
         state == WorkspaceState::stopping || state == WorkspaceState::deleting;
}

PropertyType parse_property_type(const std::string& text) {
  for (auto type : {PropertyType::string, PropertyType::integer, PropertyType::boolean,
                    PropertyType::enumeration, PropertyType::path, PropertyType::secret}) {
    if (to_string(type) == text) return type;
  }
  throw invalid("unknown property type '" + text + "' (expected string, int, bool, enum, path or secret)");
}

void to_json(Json& json, const Workspace& w) {
  json = Json{{"name", w.name},         {"target", w.target},
              {"provider", w.provider}, {"repository", w.repository},
              {"image", w.image},       {"env", w.env},
              {"state", to_string(w.state)}, {"provider_data", w.provider_data},
              {"created_at", w.created_at},  {"updated_at", w.updated_at},
              {"last_error", w.last_error},  {"operation", w.operation}};
}

void from_json(const Json& json, Workspace& w) {
  if (!json.is_object()) throw invalid("a workspace must be an object");
  w.name = string_field(json, "name");
  w.target = string_field(json, "target");
  w.provider = string_field(json, "provider");
  w.repository = string_field(json, "repository");
  w.image = string_field(json, "image");
  w.env = map_field(json, "env");
  std::string state = string_field(json, "state");
  w.state = state.empty() ? WorkspaceState::creating : parse_workspace_state(state);
  w.provider_data = map_field(json, "provider_data");
  w.created_at = string_field(json, "created_at");
  w.updated_at = string_field(json, "updated_at");
  w.last_error = string_field(json, "last_error");
  w.operation = string_field(json, "operation");
}

void to_json(Json& json, const Target& t) {
  json = Json{{"name", t.name}, {"provider", t.provider}, {"properties", t.properties}, {"default", t.is_default}};
}

void from_json(const Json& json, Target& t) {
  if (!json.is_object()) throw invalid("a target must be an object");
  t.name = string_field(json, "name");
  t.provider = string_field(json, "provider");
  t.properties = map_field(json, "properties");
  t.is_default = bool_field(json, "default");
}

void to_json(Json& json, const PropertySpec& s) {
  json = Json{{"name", s.name},
              {"type", to_string(s.type)},
              {"required", s.required},
              {"default", s.default_value},
              {"description", s.description}};
  if (!s.choices.empty()) json["choices"] = s.choices;
}

void from_json(const Json& json, PropertySpec& s) {
  s.name = string_field(json, "name");
  s.type = parse_property_type(string_field(json, "type"));
  s.required = bool_field(json, "required");
  s.default_value = string_field(json, "default");
  s.description = string_field(json, "description");
  s.choices.clear();
  if (auto it = json.find("choices"); it != json.end() && it->is_array()) {
    for (const auto& choice : *it) s.choices.push_back(choice.get<std::string>());
  }
}

void to_json(Json& json, const ProviderInfo& i) {
  json = Json{{"name", i.name}, {"version", i.version}, {"description", i.description},
              {"target_manifest", i.target_manifest}};
}

void from_json(const Json& json, ProviderInfo& i) {
  i.name = string_field(json, "name");
  i.version = string_field(json, "version");
  i.description = string_field(json, "description");
  i.target_manifest.clear();
  if (auto it = json.find("target_manifest"); it != json.end() && it->is_array()) {
    i.target_manifest = it->get<std::vector<PropertySpec>>();
  }
}

void to_json(Json& json, const ProviderStatus& s) {
  json = s.info;
  json["api_version"] = s.api_version;
  json["location"] = s.location;
  json["path"] = s.path;
  json["status"] = s.broken ? "broken" : "loaded";
  json["reason"] = s.reason;
}

void from_json(const Json& json, ProviderStatus& s) {
  s.info = json.get<ProviderInfo>();
  s.api_version = string_field(json, "api_version");
  s.location = string_field(json, "location");
  s.path = string_field(json, "path");
  s.broken = string_field(json, "status") == "broken";
  s.reason = string_field(json, "reason");
}

Json yaml_to_json(const std::string& text, const std::string& source, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw invalid(source + ": YAML is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                  std::to_string(limits.max_bytes));
  }
  if (auto fast = parse_canonical_yaml(text)) return std::move(*fast);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw invalid(source + ":" + std::to_string(error.mark.line + 1) + ": malformed YAML: " + error.msg);
  }
  return YamlConverter(source, limits).convert(root, 0);
}

std::string json_to_yaml(const Json& json) {
  YAML::Emitter out;
  emit(out, json);
  return std::string(out.c_str()) + "\n";
}

std::string workspace_to_yaml(const Workspace& workspace) { return json_to_yaml(Json(workspace)); }

Workspace workspace_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Workspace>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

std::string target_to_yaml(const Target& target) { return json_to_yaml(Json(target)); }

Target target_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Target>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

}  // namespace berth
