// The workspace list on the wire: written field by field without a document (GET /v1/workspaces,
// ?fields=), read back by a fast scanner of exactly that shape or, failing that, a SAX reader.
#include "codec.hpp"
#include "errors.hpp"

namespace berth {
namespace {

// A text (or state) field of the table, by name; unknown names are skipped.
void set_text_field(Workspace& w, std::string_view name, const std::string& text) {
  const WorkspaceField* field = find_workspace_field(name);
  if (!field) return;
  if (field->kind == WorkspaceField::Kind::text) w.*field->text = text;
  if (field->kind == WorkspaceField::Kind::state) w.state = parse_workspace_state(text);
}

void append_json_string(std::string& out, const std::string& text) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_map(std::string& out, const StringMap& map) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : map) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, key);
    out.push_back(':');
    append_json_string(out, value);
  }
  out.push_back('}');
}

// Fills records from SAX events of [ {field: "text" | {key: "text"}}, ... ].
class WorkspaceListReader : public nlohmann::json_sax<Json> {
 public:
  std::vector<Workspace> records;

  bool null() override { return value(""); }
  bool boolean(bool v) override { return value(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return value(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(std::to_string(v)); }
  bool number_float(number_float_t v, const string_t& text) override {
    (void)v;
    return value(text);
  }
  bool string(string_t& v) override { return value(v); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2) records.emplace_back();
    if (depth_ == 3) {
      const WorkspaceField* field = find_workspace_field(field_);
      map_ = field && field->kind == WorkspaceField::Kind::map ? &(records.back().*field->map) : nullptr;
    }
    return depth_ <= 3;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return ++depth_ == 1; }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& v) override {
    (depth_ == 2 ? field_ : key_) = v;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) override {
    throw internal_error(std::string("the server sent malformed JSON: ") + error.what());
  }

 private:
  bool value(const std::string& text) {
    if (depth_ == 3) {
      if (map_) (*map_)[key_] = text;
      return true;
    }
    if (depth_ != 2) return false;
    set_text_field(records.back(), field_, text);
    return true;
  }

  int depth_ = 0;
  std::string field_;
  std::string key_;
  StringMap* map_ = nullptr;
};

}  // namespace

void append_workspace_json(std::string& out, const Workspace& w, unsigned mask) {
  out.push_back('{');
  bool first = true;
  auto field = [&](int index) {
    if (!(mask & (1u << index))) return false;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += kWorkspaceFieldTable[index].name;
    out += "\":";
    return true;
  };
  for (unsigned i = 0; i < kWorkspaceFieldCount; ++i) {
    if (!field(static_cast<int>(i))) continue;
    const WorkspaceField& entry = kWorkspaceFieldTable[i];
    switch (entry.kind) {
      case WorkspaceField::Kind::text: append_json_string(out, w.*entry.text); break;
      case WorkspaceField::Kind::map: append_map(out, w.*entry.map); break;
      case WorkspaceField::Kind::state: append_json_string(out, to_string(w.state)); break;
    }
  }
  out.push_back('}');
}

unsigned workspace_field_mask(const std::string& comma_separated) {
  unsigned mask = 0;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t comma = comma_separated.find(',', start);
    std::string name = comma_separated.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const WorkspaceField* field = find_workspace_field(name);
    if (!field) {
      std::string known;
      for (const auto& entry : kWorkspaceFieldTable) known += std::string(known.empty() ? "" : ", ") + entry.name;
      throw invalid("unknown workspace field '" + name + "' in fields (known: " + known + ")");
    }
    mask |= 1u << static_cast<unsigned>(field - kWorkspaceFieldTable);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return mask;
}

namespace {

// Reads exactly what append_workspace_json writes (objects of strings and maps of strings),
// copying each run of plain characters at once; anything else returns false.
class WorkspaceListScanner {
 public:
  explicit WorkspaceListScanner(std::string_view text) : text_(text) {}

  bool scan(std::vector<Workspace>& out) {
    if (!take('[')) return false;
    if (take(']')) return at_end();
    do {
      Workspace w;
      if (!object(w)) return false;
      out.push_back(std::move(w));
    } while (take(','));
    return take(']') && at_end();
  }

 private:
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

  bool string(std::string& out) {
    if (!take('"')) return false;
    out.clear();
    while (true) {
      size_t stop = text_.find_first_of("\"\\", at_);
      if (stop == std::string_view::npos) return false;
      out.append(text_.data() + at_, stop - at_);
      at_ = stop + 1;
      if (text_[stop] == '"') return true;
      if (at_ >= text_.size()) return false;
      char escape = text_[at_++];
      switch (escape) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        default: return false;  // \u (rare: control characters, surrogates): the full parser handles it
      }
    }
  }

  bool map(StringMap& out) {
    if (!take('{')) return false;
    if (take('}')) return true;
    std::string key, value;
    do {
      if (!string(key) || !take(':') || !string(value)) return false;
      out[key] = value;
    } while (take(','));
    return take('}');
  }

  bool object(Workspace& w) {
    if (!take('{')) return false;
    if (take('}')) return true;
    std::string key, value;
    do {
      if (!string(key) || !take(':')) return false;
      const WorkspaceField* field = find_workspace_field(key);
      if (field && field->kind == WorkspaceField::Kind::map) {
        if (!map(w.*field->map)) return false;
        continue;
      }
      if (!string(value)) return false;
      set_text_field(w, key, value);
      value = std::string();
    } while (take(','));
    return take('}');
  }

  std::string_view text_;
  size_t at_ = 0;
};

}  // namespace

std::vector<Workspace> parse_workspace_list(const std::string& json_text) {
  std::vector<Workspace> fast;
  if (WorkspaceListScanner(json_text).scan(fast)) return fast;
  WorkspaceListReader reader;
  if (!Json::sax_parse(json_text, &reader)) throw internal_error("the server sent a workspace list berth cannot read");
  return std::move(reader.records);
}

}  // namespace berth
