#include "codec.hpp"

#include "canonical_yaml.hpp"
#include "errors.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

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
        // yaml-cpp turns some escapes (\N, \L) into bytes that are not UTF-8.
        if (first_invalid_utf8(node.Scalar()) != std::string::npos) {
          throw invalid(source_ + ":" + std::to_string(node.Mark().line + 1) + ": a value is not valid UTF-8 once unescaped");
        }
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

}  // namespace

WorkspaceState parse_workspace_state(const std::string& text) {
  for (auto state : {WorkspaceState::creating, WorkspaceState::started, WorkspaceState::starting,
                     WorkspaceState::stopping, WorkspaceState::stopped, WorkspaceState::deleting,
                     WorkspaceState::error, WorkspaceState::paused}) {
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
  if (s.type == PropertyType::integer) {
    json["minimum"] = s.minimum;
    json["maximum"] = s.maximum;
  }
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
  if (auto it = json.find("minimum"); it != json.end() && it->is_number_integer()) s.minimum = it->get<long long>();
  if (auto it = json.find("maximum"); it != json.end() && it->is_number_integer()) s.maximum = it->get<long long>();
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

namespace {

// A text (or state) field of the table, by name; unknown names are skipped.
void set_text_field(Workspace& w, std::string_view name, const std::string& text) {
  const WorkspaceField* field = find_workspace_field(name);
  if (!field) return;
  if (field->kind == WorkspaceField::Kind::text) w.*field->text = text;
  if (field->kind == WorkspaceField::Kind::state) w.state = parse_workspace_state(text);
}

}  // namespace

namespace {

void append_json_string(std::string& out, const std::string& text) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_map(std::string& out, const StringMap& map) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : map) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, key);
    out.push_back(':');
    append_json_string(out, value);
  }
  out.push_back('}');
}

// Fills records from SAX events of [ {field: "text" | {key: "text"}}, ... ].
class WorkspaceListReader : public nlohmann::json_sax<Json> {
 public:
  std::vector<Workspace> records;

  bool null() override { return value(""); }
  bool boolean(bool v) override { return value(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return value(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(std::to_string(v)); }
  bool number_float(number_float_t v, const string_t& text) override { (void)v; return value(text); }
  bool string(string_t& v) override { return value(v); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2) records.emplace_back();
    if (depth_ == 3) {
      const WorkspaceField* field = find_workspace_field(field_);
      map_ = field && field->kind == WorkspaceField::Kind::map ? &(records.back().*field->map) : nullptr;
    }
    return depth_ <= 3;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return ++depth_ == 1; }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& v) override {
    (depth_ == 2 ? field_ : key_) = v;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) override {
    throw internal_error(std::string("the server sent malformed JSON: ") + error.what());
  }

 private:
  bool value(const std::string& text) {
    if (depth_ == 3) {
      if (map_) (*map_)[key_] = text;
      return true;
    }
    if (depth_ != 2) return false;
    set_text_field(records.back(), field_, text);
    return true;
  }

  int depth_ = 0;
  std::string field_;
  std::string key_;
  StringMap* map_ = nullptr;
};

}  // namespace

void append_workspace_json(std::string& out, const Workspace& w, unsigned mask) {
  out.push_back('{');
  bool first = true;
  auto field = [&](int index) {
    if (!(mask & (1u << index))) return false;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += kWorkspaceFieldTable[index].name;
    out += "\":";
    return true;
  };
  for (unsigned i = 0; i < kWorkspaceFieldCount; ++i) {
    if (!field(static_cast<int>(i))) continue;
    const WorkspaceField& entry = kWorkspaceFieldTable[i];
    switch (entry.kind) {
      case WorkspaceField::Kind::text: append_json_string(out, w.*entry.text); break;
      case WorkspaceField::Kind::map: append_map(out, w.*entry.map); break;
      case WorkspaceField::Kind::state: append_json_string(out, to_string(w.state)); break;
    }
  }
  out.push_back('}');
}

unsigned workspace_field_mask(const std::string& comma_separated) {
  unsigned mask = 0;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t comma = comma_separated.find(',', start);
    std::string name = comma_separated.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const WorkspaceField* field = find_workspace_field(name);
    if (!field) {
      std::string known;
      for (const auto& entry : kWorkspaceFieldTable) known += std::string(known.empty() ? "" : ", ") + entry.name;
      throw invalid("unknown workspace field '" + name + "' in fields (known: " + known + ")");
    }
    mask |= 1u << static_cast<unsigned>(field - kWorkspaceFieldTable);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return mask;
}

namespace {

// Reads exactly what append_workspace_json writes (objects of strings and maps of strings),
// copying each run of plain characters at once; anything else returns false.
class WorkspaceListScanner {
 public:
  explicit WorkspaceListScanner(std::string_view text) : text_(text) {}

  bool scan(std::vector<Workspace>& out) {
    if (!take('[')) return false;
    if (take(']')) return at_end();
    do {
      Workspace w;
      if (!object(w)) return false;
      out.push_back(std::move(w));
    } while (take(','));
    return take(']') && at_end();
  }

 private:
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

  bool string(std::string& out) {
    if (!take('"')) return false;
    out.clear();
    while (true) {
      size_t stop = text_.find_first_of("\"\\", at_);
      if (stop == std::string_view::npos) return false;
      out.append(text_.data() + at_, stop - at_);
      at_ = stop + 1;
      if (text_[stop] == '"') return true;
      if (at_ >= text_.size()) return false;
      char escape = text_[at_++];
      switch (escape) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        default: return false;  // \u (rare: control characters, surrogates): the full parser handles it
      }
    }
  }

  bool map(StringMap& out) {
    if (!take('{')) return false;
    if (take('}')) return true;
    std::string key, value;
    do {
      if (!string(key) || !take(':') || !string(value)) return false;
      out[key] = value;
    } while (take(','));
    return take('}');
  }

  bool object(Workspace& w) {
    if (!take('{')) return false;
    if (take('}')) return true;
    std::string key, value;
    do {
      if (!string(key) || !take(':')) return false;
      const WorkspaceField* field = find_workspace_field(key);
      if (field && field->kind == WorkspaceField::Kind::map) {
        if (!map(w.*field->map)) return false;
        continue;
      }
      if (!string(value)) return false;
      set_text_field(w, key, value);
      value = std::string();
    } while (take(','));
    return take('}');
  }

  std::string_view text_;
  size_t at_ = 0;
};

}  // namespace

std::vector<Workspace> parse_workspace_list(const std::string& json_text) {
  std::vector<Workspace> fast;
  if (WorkspaceListScanner(json_text).scan(fast)) return fast;
  WorkspaceListReader reader;
  if (!Json::sax_parse(json_text, &reader)) throw internal_error("the server sent a workspace list berth cannot read");
  return std::move(reader.records);
}

size_t first_invalid_utf8(std::string_view text) {
  // RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return i;
    for (size_t k = 2; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
    }
    i += length;
  }
  return std::string::npos;
}

Json parse_request_object(const std::string& body) {
  if (body.empty()) return Json::object();
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded()) throw invalid("the request body is not valid JSON");
  if (!parsed.is_object()) throw invalid("the request body must be a JSON object");
  return parsed;
}

std::string request_string(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) throw invalid(std::string("field '") + key + "' must be a string");
  return it->get<std::string>();
}

StringMap request_map(const Json& body, const char* key) {
  StringMap result;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return result;
  if (!it->is_object()) throw invalid(std::string("field '") + key + "' must be an object of strings");
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) throw invalid(std::string("field '") + key + "." + name + "' must be a string");
    result[name] = value.get<std::string>();
  }
  return result;
}

WorkspaceRequest parse_create_request(const std::string& text) {
  Json body = parse_request_object(text);
  return WorkspaceRequest{request_string(body, "name"), request_string(body, "target"), request_string(body, "repository"),
                          request_string(body, "image"), request_map(body, "env"), request_map(body, "options"),
                          request_map(body, "labels")};
}

ExecRequest parse_exec_request(const std::string& text) {
  Json body = parse_request_object(text);
  ExecRequest exec;
  auto command = body.find("command");
  if (command == body.end() || !command->is_array() || command->empty()) {
    throw invalid("field 'command' must be a non-empty list of strings");
  }
  for (const auto& part : *command) {
    if (!part.is_string()) throw invalid("field 'command' must be a list of strings");
    exec.command.push_back(part.get<std::string>());
  }
  exec.env = request_map(body, "env");
  exec.workdir = request_string(body, "workdir");
  exec.user = request_string(body, "user");
  exec.stdin_data = request_string(body, "stdin");
  return exec;
}

SessionRequest parse_session_request(const std::string& text) {
  Json body = parse_request_object(text);
  SessionRequest session;
  if (auto command = body.find("command"); command != body.end() && !command->is_null()) {
    if (!command->is_array()) throw invalid("field 'command' must be a list of strings (leave it out for the user's shell)");
    for (const auto& part : *command) {
      if (!part.is_string()) throw invalid("field 'command' must be a list of strings");
      session.command.push_back(part.get<std::string>());
    }
  }
  session.env = request_map(body, "env");
  session.workdir = request_string(body, "workdir");
  session.user = request_string(body, "user");
  for (auto [field, value] : {std::pair{"tty", &session.tty}, std::pair{"attach", &session.attach}}) {
    auto it = body.find(field);
    if (it == body.end()) continue;
    if (!it->is_boolean()) throw invalid(std::string("field '") + field + "' must be true or false");
    *value = it->get<bool>();
  }
  for (auto [field, value] : {std::pair{"rows", &session.rows}, std::pair{"cols", &session.cols}}) {
    auto it = body.find(field);
    if (it == body.end()) continue;
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 65535) {
      throw invalid(std::string("field '") + field + "' must be a whole number from 1 to 65535");
    }
    *value = it->get<int>();
  }
  return session;
}

Json yaml_to_json(const std::string& text, const std::string& source, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw invalid(source + ": YAML is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                  std::to_string(limits.max_bytes));
  }
  // Every string berth keeps must be valid UTF-8: JSON answers cannot carry anything else, so
  // one hand-edited record with a stray byte would break every listing.
  if (size_t bad = first_invalid_utf8(text); bad != std::string::npos) {
    size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n'));
    throw invalid(source + ":" + std::to_string(line) + ": not valid UTF-8 text (byte " + std::to_string(bad) + ")");
  }
  // YAML streams may not hold other control characters (yaml-cpp's handling of them varies).
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(i), '\n'));
      throw invalid(source + ":" + std::to_string(line) + ": control character " + std::to_string(c) + " is not allowed in YAML");
    }
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

namespace {

// A record is read back with the default YAML limits, so no more may be written: escaping can
// make the text up to six times longer than what came in under the request body limit.
Error record_too_large(const std::string& what, size_t size) {
  return invalid(what + " would need a record of " + std::to_string(size) + " bytes, more than the " +
                 std::to_string(YamlLimits{}.max_bytes) + " a record may have to be read back; use shorter values");
}

// text cut to at most size bytes, not inside a UTF-8 sequence.
std::string utf8_prefix(const std::string& text, size_t size) {
  if (size >= text.size()) return text;
  while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) --size;
  return text.substr(0, size);
}

}  // namespace

std::string workspace_to_yaml(const Workspace& workspace) {
  std::string text = json_to_yaml(Json(workspace));
  const size_t limit = YamlLimits{}.max_bytes;
  if (text.size() <= limit) return text;
  // Only the error message may give way (a failed create copies the repository into it);
  // what the user asked for is never changed behind their back.
  Workspace shorter = workspace;
  size_t keep = workspace.last_error.size();
  while (keep > 0) {
    size_t excess = text.size() - limit + 256;  // room for the note added below
    keep = keep > excess ? keep - excess : keep / 2;
    shorter.last_error = utf8_prefix(workspace.last_error, keep) + " ... (cut to fit the record; the whole message is in berth logs " +
                         workspace.name + ")";
    text = json_to_yaml(Json(shorter));
    if (text.size() <= limit) return text;
  }
  throw record_too_large("workspace '" + workspace.name + "'", text.size());
}

Workspace workspace_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Workspace>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

std::string target_to_yaml(const Target& target) {
  std::string text = json_to_yaml(Json(target));
  if (text.size() > YamlLimits{}.max_bytes) throw record_too_large("target '" + target.name + "'", text.size());
  return text;
}

Target target_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Target>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

}  // namespace berth
