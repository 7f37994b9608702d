#pragma once
// A target as a user writes it in YAML, checked against its provider's target manifest.
#include <berth/types.hpp>

#include <map>
#include <string>

namespace berth {

inline constexpr const char* kTimeoutProperty = target_timeout_property;
inline constexpr const char* kExecTimeoutProperty = target_exec_timeout_property;
// berth's too, on every target: stop a workspace idle this long (docs/workflow.md), delete one
// stopped this long; a duration (30m, 2h), absent or "off" for never.
inline constexpr const char* kAutoStopProperty = "auto_stop";
inline constexpr const char* kAutoDeleteProperty = "auto_delete";

struct TargetDocument {
  Target target;
  std::string source;                     // the file name, for messages
  std::map<std::string, int> line_of;     // property name (or "name", "provider") -> line
};

// Parses YAML of the form {name, provider, properties}. Throws invalid naming source and line.
TargetDocument parse_target_document(const std::string& yaml_text, const std::string& source);

// Checks target.properties against the manifest: no unknown property, every required one
// present, each value of its type and enum choices; fills in defaults. Throws invalid naming
// the property, the source and its line.
void validate_target_properties(TargetDocument& document, const ProviderInfo& provider);

// The properties with every secret replaced by ********.
StringMap masked_properties(const StringMap& properties, const ProviderInfo& provider);

}  // namespace berth
