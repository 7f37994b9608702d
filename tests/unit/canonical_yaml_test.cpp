// The fast reader of berth's own YAML must give exactly what yaml-cpp gives, and must be
// used for every record berth writes.
#include "canonical_yaml.hpp"
#include "codec.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

using berth::Json;

namespace {

// yaml-cpp's reading, converted the way yaml_to_json converts it.
Json reference(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return node.Scalar();
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& item : node) object[item.first.Scalar()] = reference(item.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) array.push_back(reference(item));
      return array;
    }
    default: return nullptr;
  }
}

const std::vector<std::string> kTricky = {
    "", " ", "plain", "with space", " leading", "trailing ", "a: b", "a:b", "x #y", "#hash", "- dash", "-", "?", ":",
    "\"quoted\"", "'single'", "back\\slash", "tab\there", "new\nline", "cr\rhere", "null", "~", "true", "false", "123", "1.5e3",
    "0x1F", "{}", "[]", "{a: b}", "&anchor", "*alias", "!tag", "|", ">", "%", "@", "`", "ünïcödé ✓", "emoji 😀", "\x01\x02",
    "bell\a", "esc\x1b[0m", "https://example.org/repo.git", "/abs/path with spaces", "C:\\windows", std::string(3000, 'y'),
    "key: value # comment", "a,b", "[x", "x]", "=", "a=b,c=d", "--flag", "...", "---"};

TEST(CanonicalYaml, AgreesWithYamlCppOnEveryRecordBerthWrites) {
  size_t fast = 0;
  for (size_t i = 0; i < kTricky.size(); ++i) {
    berth::Workspace w;
    w.name = "w" + std::to_string(i);
    w.repository = kTricky[i];
    w.last_error = kTricky[(i + 7) % kTricky.size()];
    w.env = {{"VALUE", kTricky[i]}, {"OTHER", kTricky[(i + 3) % kTricky.size()]}};
    w.provider_data = {{"path", kTricky[(i + 11) % kTricky.size()]}};
    std::string text = berth::workspace_to_yaml(w);
    Json expected = reference(YAML::Load(text));
    auto parsed = berth::parse_canonical_yaml(text);
    if (parsed) {
      ++fast;
      EXPECT_EQ(*parsed, expected) << "value #" << i << " '" << kTricky[i] << "' in:\n" << text;
    }
    // Whatever path it takes, the record comes back whole.
    berth::Workspace back = berth::workspace_from_yaml(text, "w.yaml");
    EXPECT_EQ(back.repository, w.repository) << i;
    EXPECT_EQ(back.env, w.env) << i;
    EXPECT_EQ(back.provider_data, w.provider_data) << i;
    EXPECT_EQ(back.last_error, w.last_error) << i;
  }
  // Odd values (raw tabs, say) may go to yaml-cpp; correctness above holds for all of them.
  EXPECT_GE(fast, kTricky.size() * 8 / 10) << "most records take the fast path";
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// The writer, the fast reader and yaml-cpp agree on `text` as a value and as a key.
void expect_exact(const std::string& text, const std::string& what) {
  for (const Json& document : {Json{{"name", "w"}, {"value", text}}, Json{{"env", {{"K", text}, {"L", "x"}}}},
                               Json{{"env", {{text, "v"}}}}}) {
    std::string yaml = berth::json_to_yaml(document);
    Json expected;
    try {
      expected = reference(YAML::Load(yaml));
    } catch (const YAML::Exception& error) {
      ADD_FAILURE() << what << ": yaml-cpp refuses what berth wrote: " << error.what() << "\n" << yaml;
      continue;
    }
    EXPECT_EQ(expected, document) << what << ": yaml-cpp reads back something else from\n" << yaml;
    if (auto fast = berth::parse_canonical_yaml(yaml)) {
      EXPECT_EQ(*fast, document) << what << " in\n" << yaml;
    }
  }
}

TEST(CanonicalYaml, EveryCodePointReadsBackExactlyWherever) {
  // Found by fuzzing: yaml-cpp's emitter wrote "q \r" plain (read back as "q") and turned U+FFFF
  // into U+FFFD. Every code point, in blocks of 64, at the start, middle and end of a value.
  for (uint32_t block = 1; block <= 0x10FFFF; block += 64) {
    if (block >= 0x3000 && block < 0xFD00 && (block & 0xFFF) != 0) continue;  // CJK and the like: spot-checked
    if (block >= 0x10000 && (block & 0xFFFF) < 0xFF00 && (block & 0xFFFF) != 0) continue;  // plane ends and starts
    std::string chars;
    for (uint32_t code = block; code < block + 64 && code <= 0x10FFFF; ++code) {
      if (code < 0xD800 || code > 0xDFFF) append_utf8(chars, code);
    }
    if (chars.empty()) continue;
    expect_exact("a " + chars + " z", "block U+" + std::to_string(block));
  }
  for (uint32_t code : {0x01u, 0x09u, 0x0Au, 0x0Du, 0x1Bu, 0x20u, 0x22u, 0x23u, 0x27u, 0x3Au, 0x5Cu, 0x7Fu, 0x85u, 0xA0u,
                        0x2028u, 0x2029u, 0xFEFFu, 0xFDD0u, 0xFFFEu, 0xFFFFu, 0x10FFFFu}) {
    std::string c;
    append_utf8(c, code);
    for (const std::string& text : {c, "q " + c, c + " q", "q" + c, c + c, " " + c + " "}) {
      expect_exact(text, "code point " + std::to_string(code));
    }
  }
  for (const auto& text : kTricky) expect_exact(text, "'" + text + "'");
}

TEST(CanonicalYaml, OrdinaryRecordsTakeTheFastPath) {
  berth::Workspace w;
  w.name = "api";
  w.target = "local";
  w.provider = "docker";
  w.repository = "https://example.org/team/api.git";
  w.env = {{"EDITOR", "vi"}, {"GREETING", "hello, world: it's \"fine\""}};
  w.provider_data = {{"container_id", "5e3ffcaa36e6"}, {"workdir", "/workspaces/api"}};
  w.state = berth::WorkspaceState::error;
  w.last_error = "create failed: image 'x' is not on the engine (next: berth delete api)";
  w.created_at = w.updated_at = "2026-11-21T18:00:00Z";
  EXPECT_TRUE(berth::parse_canonical_yaml(berth::workspace_to_yaml(w)).has_value()) << berth::workspace_to_yaml(w);
  berth::Workspace fresh;  // empty env and provider_data, as most records have
  fresh.name = "web";
  fresh.target = "local";
  EXPECT_TRUE(berth::parse_canonical_yaml(berth::workspace_to_yaml(fresh)).has_value()) << berth::workspace_to_yaml(fresh);
}

TEST(CanonicalYaml, LeavesEverythingElseToYamlCpp) {
  for (const char* text : {"# a comment\nname: x\n", "name: x\nlist:\n  - a\n", "name: 'single'\n", "a:\n  b:\n    c: d\n",
                           "a: &x 1\nb: *x\n", "---\nname: x\n", "name: x # trailing comment\n", "a: [1, 2]\n", "   \n"}) {
    EXPECT_FALSE(berth::parse_canonical_yaml(text).has_value()) << text;
  }
  auto empty_map = berth::parse_canonical_yaml("env:\nname: x\n");
  ASSERT_TRUE(empty_map.has_value());
  EXPECT_TRUE((*empty_map)["env"].is_null()) << "'key:' with nothing below is null, as in yaml-cpp";
}

}  // namespace
