#include "target_document.hpp"

#include "codec.hpp"
#include "duration.hpp"
#include "errors.hpp"
#include "names.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace berth {
namespace {

std::string where(const TargetDocument& document, const std::string& key) {
  auto it = document.line_of.find(key);
  return document.source + (it == document.line_of.end() ? "" : ":" + std::to_string(it->second));
}

bool is_integer(const std::string& text) {
  size_t start = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  return text.size() > start && text.size() < 19 &&
         std::all_of(text.begin() + static_cast<long>(start), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string known_list(const ProviderInfo& provider) {
  std::string list;
  for (const auto& spec : provider.target_manifest) list += (list.empty() ? "" : ", ") + spec.name;
  return list.empty() ? "none" : list;
}

}  // namespace

TargetDocument parse_target_document(const std::string& yaml_text, const std::string& source) {
  TargetDocument document;
  document.source = source.empty() ? "<input>" : source;
  // The size, depth and alias limits apply before anything else.
  Json checked = yaml_to_json(yaml_text, document.source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    throw invalid(document.source + ":" + std::to_string(error.mark.line + 1) + ": malformed YAML: " + error.msg);
  }
  if (!root.IsMap()) throw invalid(document.source + ": a target must be a YAML map with name, provider and properties");
  for (const auto& item : root) {
    std::string key = item.first.Scalar();
    document.line_of[key] = item.first.Mark().line + 1;
    if (key == "name" || key == "provider") {
      if (!item.second.IsScalar()) throw invalid(where(document, key) + ": '" + key + "' must be text");
      (key == "name" ? document.target.name : document.target.provider) = item.second.Scalar();
    } else if (key == "properties") {
      if (item.second.IsNull()) continue;
      if (!item.second.IsMap()) throw invalid(where(document, key) + ": 'properties' must be a map");
      for (const auto& property : item.second) {
        std::string name = property.first.Scalar();
        document.line_of[name] = property.first.Mark().line + 1;
        if (!property.second.IsScalar()) {
          throw invalid(where(document, name) + ": property '" + name + "' must be a single value, not a list or map");
        }
        document.target.properties[name] = property.second.Scalar();
      }
    } else {
      throw invalid(where(document, key) + ": unknown field '" + key + "' (a target has name, provider and properties)");
    }
  }
  if (document.target.name.empty()) throw invalid(document.source + ": field 'name' is missing");
  if (document.target.provider.empty()) throw invalid(document.source + ": field 'provider' is missing");
  try {
    require_valid_name("target", document.target.name);
  } catch (const Error& error) {
    throw invalid(where(document, "name") + ": " + error.what());
  }
  return document;
}

void validate_target_properties(TargetDocument& document, const ProviderInfo& provider) {
  auto& properties = document.target.properties;
  // `timeout` belongs to berth, not to the provider: every target may set it.
  if (auto timeout = properties.find(kTimeoutProperty); timeout != properties.end()) {
    const std::string& value = timeout->second;
    if (!is_integer(value) || value[0] == '-' || std::stol(value) < 1 || std::stol(value) > 86400) {
      throw invalid(where(document, kTimeoutProperty) + ": property 'timeout' must be whole seconds from 1 to 86400 (got '" + value + "')");
    }
  } else {
    properties[kTimeoutProperty] = "600";
  }
  // So does `exec_timeout`: seconds an exec may run, none when absent or 0.
  if (auto timeout = properties.find(kExecTimeoutProperty); timeout != properties.end()) {
    const std::string& value = timeout->second;
    if (!is_integer(value) || value[0] == '-' || value.size() > 6 || std::stol(value) > 86400) {
      throw invalid(where(document, kExecTimeoutProperty) + ": property 'exec_timeout' must be whole seconds from 0 (none) to 86400 (got '" +
                    value + "')");
    }
  }
  for (const char* key : {kAutoStopProperty, kAutoDeleteProperty}) {
    auto it = properties.find(key);
    if (it != properties.end() && !parse_duration(it->second)) {
      throw invalid(where(document, key) + ": property '" + key + "' must be a duration such as 90s, 30m, 2h or 7d (at most 365d), or off (got '" +
                    it->second.substr(0, 40) + "')");
    }
  }
  for (const auto& property : properties) {
    const std::string& name = property.first;  // named, not a structured binding: lambdas capture it
    const std::string& value = property.second;
    if (name == kTimeoutProperty || name == kExecTimeoutProperty || name == kAutoStopProperty || name == kAutoDeleteProperty) continue;
    auto spec = std::find_if(provider.target_manifest.begin(), provider.target_manifest.end(),
                             [&](const PropertySpec& s) { return s.name == name; });
    if (spec == provider.target_manifest.end()) {
      throw invalid(where(document, name) + ": property '" + name + "' is not known to provider '" +
                    provider.name + "' (known: " + known_list(provider) + ")");
    }
    std::string problem;
    switch (spec->type) {
      case PropertyType::integer:
        // A number past the range (or past what a long long holds) is refused here, naming
        // the range, rather than failing every later create with a bare conversion error.
        if (!is_integer(value) || std::stoll(value) < spec->minimum || std::stoll(value) > spec->maximum) {
          problem = "must be a whole number from " + std::to_string(spec->minimum) + " to " + std::to_string(spec->maximum);
        }
        break;
      case PropertyType::boolean:
        if (value != "true" && value != "false") problem = "must be true or false";
        break;
      case PropertyType::enumeration:
        if (std::find(spec->choices.begin(), spec->choices.end(), value) == spec->choices.end()) {
          std::string choices;
          for (const auto& choice : spec->choices) choices += (choices.empty() ? "" : ", ") + choice;
          problem = "must be one of " + choices;
        }
        break;
      case PropertyType::path:
        if (value.find('\0') != std::string::npos) problem = "must be a path";
        break;
      case PropertyType::string:
      case PropertyType::secret:
        break;
    }
    if (!problem.empty()) {
      std::string shown = spec->type == PropertyType::secret ? "********" : value;
      throw invalid(where(document, name) + ": property '" + name + "' " + problem + " (got '" + shown + "')");
    }
  }
  for (const auto& spec : provider.target_manifest) {
    if (properties.count(spec.name)) continue;
    if (spec.required) {
      throw invalid(document.source + ": property '" + spec.name + "' is required by provider '" + provider.name +
                    "'" + (spec.description.empty() ? "" : " (" + spec.description + ")"));
    }
    if (!spec.default_value.empty()) properties[spec.name] = spec.default_value;
  }
}

StringMap masked_properties(const StringMap& properties, const ProviderInfo& provider) {
  StringMap masked = properties;
  for (const auto& spec : provider.target_manifest) {
    if (spec.type == PropertyType::secret && masked.count(spec.name)) masked[spec.name] = "********";
  }
  return masked;
}

}  // namespace berth
