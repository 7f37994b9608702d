// Fuzz target: a workspace record file. Reading it either gives a record or a berth::Error,
// and the fast reader of berth's own YAML must agree with yaml-cpp whenever it answers.
#include "canonical_yaml.hpp"
#include "codec.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
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
  try {
    berth::Workspace w = berth::workspace_from_yaml(text, "fuzz.yaml");
    // A record berth wrote (its own shape) reads back unchanged after it writes it again.
    // Hand-edited YAML keeps yaml-cpp's own folding of line breaks and escapes, so that
    // promise is only "parses or is refused with a berth::Error".
    if (berth::parse_canonical_yaml(text)) {
      berth::Workspace again = berth::workspace_from_yaml(berth::workspace_to_yaml(w), "again.yaml");
      if (again.name != w.name || again.env != w.env || again.provider_data != w.provider_data ||
          again.last_error != w.last_error || again.repository != w.repository) {
        std::abort();
      }
    }
  } catch (const berth::Error&) {
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
