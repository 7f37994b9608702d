// YAML a user or a file hands us, read into JSON (scalars as strings) within YamlLimits;
// the writer is yaml_writer.cpp.
#include "canonical_yaml.hpp"
#include "codec.hpp"
#include "errors.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace berth {
namespace {

class YamlConverter {
 public:
  YamlConverter(const std::string& source, const YamlLimits& limits) : source_(source), limits_(limits) {}

  Json convert(const YAML::Node& node, int depth) {
    if (++nodes_ > limits_.max_nodes) {
      throw invalid(source_ + ": too many YAML nodes (more than " + std::to_string(limits_.max_nodes) + ", aliases included)");
    }
    if (depth > limits_.max_depth) {
      throw invalid(source_ + ":" + std::to_string(node.Mark().line + 1) + ": YAML nested deeper than " +
                    std::to_string(limits_.max_depth) + " levels");
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return nullptr;
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

}  // namespace berth
