// What a provider reports of itself as JSON: its info, the properties its targets take, its status.
#include "codec.hpp"
#include "errors.hpp"
#include "record_fields.hpp"

namespace berth {

PropertyType parse_property_type(const std::string& text) {
  for (auto type : {PropertyType::string, PropertyType::integer, PropertyType::boolean, PropertyType::enumeration, PropertyType::path,
                    PropertyType::secret}) {
    if (to_string(type) == text) return type;
  }
  throw invalid("unknown property type '" + text + "' (expected string, int, bool, enum, path or secret)");
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
  json = Json{{"name", i.name}, {"version", i.version}, {"description", i.description}, {"target_manifest", i.target_manifest}};
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

}  // namespace berth
