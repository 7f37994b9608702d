// A target as JSON (the API's answers, and records through YAML).
#include "codec.hpp"
#include "errors.hpp"
#include "record_fields.hpp"

namespace berth {

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

}  // namespace berth
