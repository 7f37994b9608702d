// berth's own YAML writer. yaml-cpp's emitter is not exact: it writes a string ending in a
// carriage return as a plain scalar (read back without it), and replaces noncharacters such as
// U+FFFF with U+FFFD inside double quotes. Records must read back byte for byte, so berth
// writes its YAML itself, in the one shape parse_canonical_yaml reads fast: block maps, two
// spaces per level, `{}` and `[]` for empty ones, and every string either plain (when it is
// unmistakably text) or double-quoted on one line with escapes.
#include "codec.hpp"

#include <cstdint>
#include <string_view>

namespace berth {
namespace {

bool is_ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_reserved_word(std::string_view text) {
  // Words a YAML reader (1.1 or 1.2) could take for null, a boolean or a number.
  static constexpr std::string_view kWords[] = {"null", "Null", "NULL", "true",  "True", "TRUE", "false", "False",
                                                "FALSE", "yes", "Yes", "YES",  "no",   "No",   "NO",    "on",
                                                "On",    "ON",  "off", "Off",  "OFF",  "y",    "Y",     "n",
                                                "N",     ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
  for (auto word : kWords) {
    if (text == word) return true;
  }
  return false;
}

// A plain scalar only where no YAML reader could see anything but this text: it starts with a
// letter, '/' or '_', and holds letters, digits, single inner spaces and "_-./@+=,;()".
bool can_be_plain(std::string_view text) {
  if (text.empty() || text.size() > 1024 || is_reserved_word(text)) return false;
  char first = text.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '/' || first == '_')) {
    return false;
  }
  if (text.back() == ' ') return false;
  char previous = 0;
  for (char c : text) {
    if (c == ' ' && previous == ' ') return false;
    if (!is_ascii_alnum(c) && std::string_view(" _-./@+=,;()").find(c) == std::string_view::npos) return false;
    previous = c;
  }
  return true;
}

void append_hex(std::string& out, char kind, uint32_t code, int digits) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '\\';
  out += kind;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(code >> shift) & 0xF];
}

// The code point of the UTF-8 sequence at text[i] (the text is valid UTF-8), advancing i past it.
uint32_t next_code_point(std::string_view text, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(text[k])); };
  uint32_t first = byte(i);
  size_t length = first < 0x80 ? 1 : first < 0xE0 ? 2 : first < 0xF0 ? 3 : 4;
  if (i + length > text.size()) length = 1;  // not UTF-8 after all: take the byte as it is
  uint32_t code = length == 1 ? first : length == 2 ? first & 0x1F : length == 3 ? first & 0x0F : first & 0x07;
  for (size_t k = 1; k < length; ++k) code = (code << 6) | (byte(i + k) & 0x3F);
  i += length;
  return code;
}

bool must_escape(uint32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F) ||  // C0 and C1 controls, DEL
         code == 0x2028 || code == 0x2029 || code == 0xFEFF ||  // line breaks to YAML 1.1, byte order mark
         (code >= 0xFDD0 && code <= 0xFDEF) || (code & 0xFFFE) == 0xFFFE;  // noncharacters
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    uint32_t code = next_code_point(text, i);
    switch (code) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (!must_escape(code)) {
      out.append(text.substr(start, i - start));
    } else if (code <= 0xFF) {
      append_hex(out, 'x', code, 2);
    } else if (code <= 0xFFFF) {
      append_hex(out, 'u', code, 4);
    } else {
      append_hex(out, 'U', code, 8);
    }
  }
  out += '"';
}

void append_scalar(std::string& out, const Json& json) {
  if (json.is_string()) {
    const auto& text = json.get_ref<const std::string&>();
    if (can_be_plain(text)) {
      out += text;
    } else {
      append_quoted(out, text);
    }
  } else if (json.is_boolean()) {
    out += json.get<bool>() ? "true" : "false";
  } else if (json.is_null()) {
    out += "null";
  } else {
    out += json.dump();  // a number
  }
}

bool is_block(const Json& json) { return (json.is_object() || json.is_array()) && !json.empty(); }

void append_value(std::string& out, const Json& json, size_t indent);

// The entries of a non-empty map; the first line's indentation is already written when
// first_indented is true (a map that is an item of a list, after "- ").
void append_map(std::string& out, const Json& json, size_t indent, bool first_indented) {
  bool first = true;
  for (const auto& [key, value] : json.items()) {
    if (!(first && first_indented)) out.append(indent, ' ');
    first = false;
    std::string rendered;
    append_scalar(rendered, Json(key));
    if (rendered.size() > 1000) {  // YAML caps implicit keys at 1024 characters: use "? key"
      out += "? ";
      out += rendered;
      out += '\n';
      out.append(indent, ' ');
    } else {
      out += rendered;
    }
    out += ':';
    if (is_block(value)) {
      out += '\n';
      append_value(out, value, indent + 2);
    } else {
      out += ' ';
      append_value(out, value, indent);
    }
  }
}

void append_value(std::string& out, const Json& json, size_t indent) {
  if (json.is_object() && !json.empty()) {
    append_map(out, json, indent, false);
  } else if (json.is_array() && !json.empty()) {
    for (const auto& item : json) {
      out.append(indent, ' ');
      out += '-';
      if (item.is_object() && !item.empty()) {
        out += ' ';
        append_map(out, item, indent + 2, true);
      } else if (is_block(item)) {
        out += '\n';
        append_value(out, item, indent + 2);
      } else {
        out += ' ';
        append_value(out, item, indent);
      }
    }
  } else {
    if (json.is_object()) {
      out += "{}";
    } else if (json.is_array()) {
      out += "[]";
    } else {
      append_scalar(out, json);
    }
    out += '\n';
  }
}

}  // namespace

std::string json_to_yaml(const Json& json) {
  std::string out;
  out.reserve(512);
  append_value(out, json, 0);
  return out;
}

}  // namespace berth
