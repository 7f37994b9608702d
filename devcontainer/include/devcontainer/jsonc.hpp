#pragma once
// JSON with comments and trailing commas (the dialect of devcontainer.json), read into
// nlohmann::json with the line of every value kept, so a later check can name the line.
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

namespace devcontainer {

using Json = nlohmann::json;

// A parsed file: its value, and the line (1-based) where each value starts, by JSON pointer
// ("" is the root, "/build/dockerfile" a member).
struct Document {
  std::string file;  // as shown in messages
  Json value;
  std::map<std::string, int> lines;

  // The line of the value at pointer, or of its nearest parent that has one.
  int line_of(const std::string& pointer) const;
  // "FILE:LINE: property 'NAME' " for messages; NAME is the pointer without its leading '/'.
  std::string where(const std::string& pointer) const;
};

// Parses text as JSONC. Throws berth::Error("invalid") naming file, line and column.
Document parse_jsonc(std::string_view text, const std::string& file);

// For JSON from an untrusted author read by another parser (an image's metadata label): refused,
// naming what, when larger than max_bytes, not UTF-8, or nested deeper than max_depth.
void check_json_limits(std::string_view text, const std::string& what, size_t max_bytes = 1u << 20, int max_depth = 64);

// Reads and parses a file (at most 1 MiB).
Document read_jsonc(const std::string& path, const std::string& shown_as);

}  // namespace devcontainer
