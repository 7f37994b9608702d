#include <devcontainer/jsonc.hpp>

#include <berth/sdk.hpp>

#include "codec.hpp"  // first_invalid_utf8 (core/src/utf8.cpp, compiled into this library too)

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace devcontainer {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(std::string_view text, Document& document) : text_(text), document_(document) {}

  void parse() {
    // Text that is not UTF-8 is refused here, with its place, not later by a JSON library.
    if (size_t bad = berth::first_invalid_utf8(text_); bad != std::string::npos) {
      at_ = bad;
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text_[bad])));
      fail(std::string("invalid UTF-8 byte ") + hex + " (a devcontainer.json must be UTF-8)");
    }
    skip_space();
    document_.value = value("", 0);
    skip_space();
    if (at_ < text_.size()) fail("unexpected text after the end of the document");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    int line = 1, column = 1;
    for (size_t i = 0; i < at_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw berth::Error("invalid", document_.file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": malformed JSON: " + what);
  }

  int line_here() {
    for (; line_from_ < at_; ++line_from_) line_ += text_[line_from_] == '\n';
    return line_;
  }

  void skip_space() {
    while (at_ < text_.size()) {
      char c = text_[at_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++at_;
      } else if (c == '/' && at_ + 1 < text_.size() && text_[at_ + 1] == '/') {
        while (at_ < text_.size() && text_[at_] != '\n') ++at_;
      } else if (c == '/' && at_ + 1 < text_.size() && text_[at_ + 1] == '*') {
        size_t end = text_.find("*/", at_ + 2);
        if (end == std::string_view::npos) fail("a /* comment is not closed");
        at_ = end + 2;
      } else {
        break;
      }
    }
  }

  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  static std::string escape_pointer(const std::string& key) {
    std::string out;
    for (char c : key) {
      if (c == '~') out += "~0";
      else if (c == '/') out += "~1";
      else out.push_back(c);
    }
    return out;
  }

  Json value(const std::string& pointer, int depth) {
    if (depth > kMaxDepth) fail("nested more than " + std::to_string(kMaxDepth) + " levels deep");
    skip_space();
    if (at_ >= text_.size()) fail("the document ends where a value was expected");
    document_.lines[pointer] = line_here();
    char c = text_[at_];
    if (c == '{') {
      ++at_;
      Json object = Json::object();
      while (true) {
        if (take('}')) return object;
        skip_space();
        if (at_ >= text_.size() || text_[at_] != '"') fail("expected a property name in double quotes or '}'");
        std::string key = string();
        if (!take(':')) fail("expected ':' after property name \"" + key + "\"");
        object[key] = value(pointer + "/" + escape_pointer(key), depth + 1);
        if (take('}')) return object;
        if (!take(',')) fail("expected ',' or '}' after the value of \"" + key + "\"");
      }
    }
    if (c == '[') {
      ++at_;
      Json array = Json::array();
      while (true) {
        if (take(']')) return array;
        array.push_back(value(pointer + "/" + std::to_string(array.size()), depth + 1));
        if (take(']')) return array;
        if (!take(',')) fail("expected ',' or ']' in a list");
      }
    }
    if (c == '"') return string();
    if (text_.substr(at_, 4) == "true") return at_ += 4, Json(true);
    if (text_.substr(at_, 5) == "false") return at_ += 5, Json(false);
    if (text_.substr(at_, 4) == "null") return at_ += 4, Json(nullptr);
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(std::string("unexpected character '") + c + "'");
  }

  Json number() {
    size_t start = at_;
    if (text_[at_] == '-') ++at_;
    bool fraction = false;
    while (at_ < text_.size()) {
      char c = text_[at_];
      if (c >= '0' && c <= '9') {
        ++at_;
      } else if (c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && (text_[at_ - 1] == 'e' || text_[at_ - 1] == 'E'))) {
        fraction = true;
        ++at_;
      } else {
        break;
      }
    }
    std::string digits(text_.substr(start, at_ - start));
    if (digits == "-" || digits.back() == '.' || digits.back() == 'e' || digits.back() == 'E') fail("malformed number " + digits);
    if (!fraction) {
      errno = 0;
      char* end = nullptr;
      long long integer = std::strtoll(digits.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') return Json(integer);
    }
    return Json(std::strtod(digits.c_str(), nullptr));
  }

  unsigned hex4() {
    if (at_ + 4 > text_.size()) fail("a \\u escape needs four hex digits");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[at_++];
      code <<= 4;
      if (c >= '0' && c <= '9') code |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') code |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') code |= static_cast<unsigned>(c - 'A' + 10);
      else fail("a \\u escape needs four hex digits");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
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

  std::string string() {
    ++at_;  // the opening quote
    std::string out;
    while (true) {
      if (at_ >= text_.size()) fail("a string is not closed");
      char c = text_[at_++];
      if (c == '"') break;
      if (c == '\n') fail("a string is not closed on its line");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_ >= text_.size()) fail("a string is not closed");
      char e = text_[at_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned code = hex4();
          if (code >= 0xD800 && code < 0xDC00 && text_.substr(at_, 2) == "\\u") {
            at_ += 2;
            unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("a \\u surrogate pair is incomplete");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail(std::string("unknown escape \\") + e);
      }
    }
    return out;
  }

  std::string_view text_;
  Document& document_;
  size_t at_ = 0;
  size_t line_from_ = 0;
  int line_ = 1;
};

}  // namespace

int Document::line_of(const std::string& pointer) const {
  std::string at = pointer;
  while (true) {
    if (auto it = lines.find(at); it != lines.end()) return it->second;
    if (at.empty()) return 1;
    at = at.substr(0, at.rfind('/'));
  }
}

std::string Document::where(const std::string& pointer) const {
  // The pointer as a dotted property path: /build/args/X -> build.args.X, /mounts/0 -> mounts[0].
  std::string name;
  size_t at = 0;
  while (at < pointer.size()) {
    size_t next = pointer.find('/', at + 1);
    std::string part = pointer.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    for (size_t tilde; (tilde = part.find("~1")) != std::string::npos;) part.replace(tilde, 2, "/");
    for (size_t tilde; (tilde = part.find("~0")) != std::string::npos;) part.replace(tilde, 2, "~");
    bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    name += index ? "[" + part + "]" : (name.empty() ? "" : ".") + part;
    at = next == std::string::npos ? pointer.size() : next;
  }
  return file + ":" + std::to_string(line_of(pointer)) + ": property '" + name + "' ";
}

Document parse_jsonc(std::string_view text, const std::string& file) {
  Document document;
  document.file = file;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a byte-order mark
  Parser(text, document).parse();
  return document;
}

void check_json_limits(std::string_view text, const std::string& what, size_t max_bytes, int max_depth) {
  if (text.size() > max_bytes) throw berth::Error("invalid", what + " is larger than " + std::to_string(max_bytes >> 10) + " KiB");
  if (size_t bad = berth::first_invalid_utf8(text); bad != std::string::npos) {
    throw berth::Error("invalid", what + " is not UTF-8 (an invalid byte at offset " + std::to_string(bad) + ")");
  }
  // Nesting counted in one pass, outside strings: nothing deeper reaches a parser.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) throw berth::Error("invalid", what + " is nested more than " + std::to_string(max_depth) + " levels deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

Document read_jsonc(const std::string& path, const std::string& shown_as) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw berth::Error("invalid", shown_as + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) throw berth::Error("invalid", shown_as + ": larger than 1 MiB");
  return parse_jsonc(text.str(), shown_as);
}

}  // namespace devcontainer
