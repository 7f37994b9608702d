#include "canonical_yaml.hpp"

#include <cstdint>

namespace berth {
namespace {

using Json = nlohmann::json;

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

bool hex_value(std::string_view digits, uint32_t& value) {
  value = 0;
  for (char c : digits) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') value |= static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') value |= static_cast<uint32_t>(c - 'A' + 10);
    else return false;
  }
  return true;
}

// The body of a double-quoted scalar that fills the rest of the line.
std::optional<std::string> unquote(std::string_view quoted) {
  if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') return std::nullopt;
  std::string_view body = quoted.substr(1, quoted.size() - 2);
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '"') return std::nullopt;  // a quote inside: not one scalar
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= body.size()) return std::nullopt;
    uint32_t code = 0;
    switch (body[i]) {
      case '0': out.push_back('\0'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'v': out.push_back('\v'); break;
      case 'f': out.push_back('\f'); break;
      case 'r': out.push_back('\r'); break;
      case 'e': out.push_back('\x1b'); break;
      case ' ': out.push_back(' '); break;
      case '"': out.push_back('"'); break;
      case '/': out.push_back('/'); break;
      case '\\': out.push_back('\\'); break;
      // \N \_ \L \P: berth never writes them, and yaml-cpp reads them its own way.
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = body[i] == 'x' ? 2 : body[i] == 'u' ? 4 : 8;
        if (i + digits >= body.size()) return std::nullopt;
        if (!hex_value(body.substr(i + 1, digits), code)) return std::nullopt;
        if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) || code == 0) return std::nullopt;  // yaml-cpp's call
        append_utf8(out, code);
        i += digits;
        break;
      }
      default: return std::nullopt;
    }
  }
  return out;
}

// A plain scalar yaml-cpp would read back as this same text (else nullopt).
std::optional<Json> plain(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") return std::nullopt;
  if (text == "{}") return Json::object();
  static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kIndicators.find(text.front()) != std::string_view::npos) return std::nullopt;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;  // yaml-cpp's rules for those are its own
  }
  if (text.back() == ' ' || text.find(" #") != std::string_view::npos || text.find(": ") != std::string_view::npos ||
      text.find('\t') != std::string_view::npos || text.back() == ':') {
    return std::nullopt;
  }
  return Json(std::string(text));
}

std::optional<Json> value_of(std::string_view text) {
  if (!text.empty() && text.front() == '"') {
    auto unquoted = unquote(text);
    if (!unquoted) return std::nullopt;
    return Json(std::move(*unquoted));
  }
  return plain(text);
}

// "key: value" or "key:"; false when the line is not of that shape.
bool split(std::string_view line, std::string_view& key, std::string_view& value) {
  size_t colon = 0;
  while (colon < line.size() && is_key_char(line[colon])) ++colon;
  if (colon == 0 || colon >= line.size() || line[colon] != ':') return false;
  key = line.substr(0, colon);
  if (key == "null" || key == "Null" || key == "NULL") return false;  // a null key, to yaml-cpp
  if (colon + 1 == line.size()) {
    value = {};
    return true;
  }
  if (line[colon + 1] != ' ' || colon + 2 >= line.size()) return false;
  value = line.substr(colon + 2);
  if (value.front() == ' ' || value.front() == '\t') return false;  // extra indentation: not our shape
  return true;
}

}  // namespace

std::optional<Json> parse_canonical_yaml(std::string_view text) {
  Json root = Json::object();
  Json* open_map = nullptr;  // the map whose entries are the indented lines that follow
  std::string open_key;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    if (line.empty()) continue;
    std::string_view key, value;
    if (line.size() > 2 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ') {
      if (!open_map || !split(line.substr(2), key, value) || value.empty()) return std::nullopt;
      auto parsed = value_of(value);
      if (!parsed || parsed->is_object()) return std::nullopt;
      if (open_map->contains(key)) return std::nullopt;
      (*open_map)[std::string(key)] = std::move(*parsed);
      continue;
    }
    if (line[0] == ' ' || !split(line, key, value)) return std::nullopt;
    if (root.contains(key)) return std::nullopt;
    if (open_map && open_map->empty()) *open_map = nullptr;  // "key:" with nothing below is null
    open_map = nullptr;
    if (value.empty()) {
      root[std::string(key)] = Json::object();
      open_map = &root[std::string(key)];
      continue;
    }
    auto parsed = value_of(value);
    if (!parsed) return std::nullopt;
    root[std::string(key)] = std::move(*parsed);
  }
  if (open_map && open_map->empty()) *open_map = nullptr;
  if (root.empty()) return std::nullopt;
  return root;
}

}  // namespace berth
