// Fuzz target: a workspace record file. Reading it either gives a record or a berth::Error, a
// record read back after berth writes it is unchanged, and the fast reader of berth's own YAML
// agrees with yaml-cpp whenever it answers.
#include "canonical_yaml.hpp"
#include "codec.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace {
berth::Json reference(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return node.Scalar();
    case YAML::NodeType::Map: {
      berth::Json object = berth::Json::object();
      for (const auto& item : node) object[item.first.Scalar()] = reference(item.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      berth::Json array = berth::Json::array();
      for (const auto& item : node) array.push_back(reference(item));
      return array;
    }
    default: return nullptr;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<berth::Workspace> read;
  try {
    read = berth::workspace_from_yaml(text, "fuzz.yaml");
  } catch (const berth::Error&) {
  }
  if (read) {
    // Whatever was read, writing it and reading that back gives the same record (and never an
    // error): berth's writer is exact, where yaml-cpp's emitter wrote "q \r" as plain "q \r" (read
    // back as "q") and U+FFFF as U+FFFD.
    berth::Workspace again = berth::workspace_from_yaml(berth::workspace_to_yaml(*read), "again.yaml");
    if (berth::Json(again) != berth::Json(*read)) std::abort();
  }
  // As in yaml_to_json: text that is not UTF-8, or holds control characters, reaches neither reader.
  if (berth::first_invalid_utf8(text) != std::string::npos) return 0;
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return 0;
  }
  if (auto fast = berth::parse_canonical_yaml(text)) {
    YAML::Node node;
    try {
      node = YAML::Load(text);
    } catch (const YAML::Exception&) {
      std::abort();  // the fast reader accepted what yaml-cpp refuses
    }
    if (*fast != reference(node)) std::abort();
  }
  return 0;
}
