#include "record_fields.hpp"

#include "errors.hpp"

namespace berth {

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

}  // namespace berth
