#include "codec.hpp"
#include "names.hpp"
#include "target_document.hpp"

#include <berth/sdk.hpp>

#include <gtest/gtest.h>

using namespace berth;

namespace {

#define EXPECT_THROW_MESSAGE(statement, code_expected, fragment)                                   \
  try {                                                                                           \
    statement;                                                                                    \
    ADD_FAILURE() << "expected an error containing: " << fragment;                                \
  } catch (const Error& error) {                                                                  \
    EXPECT_EQ(error.code(), code_expected);                                                       \
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();       \
  }

TEST(Names, AcceptsDnsLabels) {
  for (const char* name : {"a", "api", "api-2", "0", "a1b2", "x-y-z"}) EXPECT_TRUE(is_valid_name(name)) << name;
  EXPECT_TRUE(is_valid_name(std::string(63, 'a')));
}

TEST(Names, RefusesEverythingElse) {
  for (const char* name : {"", "../x", "UPPER", "-a", "a-", "a_b", "a.b", "a/b", "a b", ".", ".."}) {
    EXPECT_FALSE(is_valid_name(name)) << name;
  }
  EXPECT_FALSE(is_valid_name(std::string(64, 'a')));
  EXPECT_THROW_MESSAGE(require_valid_name("workspace", "../x"), "invalid", "invalid workspace name '../x'");
}

ProviderInfo sample_provider() {
  return {"sample", "1.0", "", {
      {"host", PropertyType::string, true, "", {}, "where"},
      {"port", PropertyType::integer, false, "22", {}, ""},
      {"tls", PropertyType::boolean, false, "false", {}, ""},
      {"pull", PropertyType::enumeration, false, "missing", {"missing", "always", "never"}, ""},
      {"token", PropertyType::secret, false, "", {}, ""},
  }};
}

TargetDocument parse(const std::string& yaml) { return parse_target_document(yaml, "t.yaml"); }

TEST(TargetValidation, FillsDefaultsAndKeepsGivenValues) {
  auto document = parse("name: box\nprovider: sample\nproperties:\n  host: h1\n  pull: never\n");
  validate_target_properties(document, sample_provider());
  const auto& p = document.target.properties;
  EXPECT_EQ(p.at("host"), "h1");
  EXPECT_EQ(p.at("port"), "22");
  EXPECT_EQ(p.at("tls"), "false");
  EXPECT_EQ(p.at("pull"), "never");
  EXPECT_FALSE(p.count("token"));
}

TEST(TargetValidation, NamesPropertyFileAndLine) {
  auto unknown = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  colour: red\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(unknown, sample_provider()), "invalid",
                       "t.yaml:5: property 'colour' is not known to provider 'sample'");
  auto missing = parse("name: box\nprovider: sample\nproperties:\n  port: 1\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(missing, sample_provider()), "invalid", "property 'host' is required");
  auto wrong_int = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  port: twenty\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(wrong_int, sample_provider()), "invalid",
                       "t.yaml:5: property 'port' must be a whole number");
  auto wrong_bool = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  tls: maybe\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(wrong_bool, sample_provider()), "invalid", "must be true or false");
  auto wrong_enum = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  pull: sometimes\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(wrong_enum, sample_provider()), "invalid",
                       "must be one of missing, always, never");
}

TEST(TargetValidation, IntegersOutsideTheirRangeAreRefusedNamingTheRange) {
  ProviderInfo provider = sample_provider();
  provider.target_manifest.push_back({"wait", PropertyType::integer, false, "10", {}, "", 0, 3600});
  auto huge = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  wait: 99999999999\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(huge, provider), "invalid",
                       "t.yaml:5: property 'wait' must be a whole number from 0 to 3600 (got '99999999999')");
  auto negative = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  wait: -1\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(negative, provider), "invalid", "from 0 to 3600");
  auto past_int = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  port: 99999999999\n");
  EXPECT_THROW_MESSAGE(validate_target_properties(past_int, provider), "invalid",
                       "property 'port' must be a whole number from 0 to 2147483647");
  auto fine = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  wait: 3600\n");
  EXPECT_NO_THROW(validate_target_properties(fine, provider));
}

TEST(TargetValidation, SecretsNeverShowInErrorsOrOutput) {
  auto document = parse("name: box\nprovider: sample\nproperties:\n  host: h\n  token: hunter2\n");
  validate_target_properties(document, sample_provider());
  auto masked = masked_properties(document.target.properties, sample_provider());
  EXPECT_EQ(masked.at("token"), "********");
  EXPECT_EQ(masked.at("host"), "h");
}

TEST(TargetDocument, RefusesMalformedYamlBadNamesAndUnknownFields) {
  EXPECT_THROW_MESSAGE(parse("name: [unclosed\n"), "invalid", "t.yaml:");
  EXPECT_THROW_MESSAGE(parse("name: Bad_Name\nprovider: sample\n"), "invalid", "t.yaml:1: invalid target name 'Bad_Name'");
  EXPECT_THROW_MESSAGE(parse("name: ok\nprovider: sample\nflavour: x\n"), "invalid", "t.yaml:3: unknown field 'flavour'");
  EXPECT_THROW_MESSAGE(parse("provider: sample\n"), "invalid", "field 'name' is missing");
  EXPECT_THROW_MESSAGE(parse("- a\n- b\n"), "invalid", "must be a YAML map");
}

TEST(Yaml, AliasBombIsRefusedQuickly) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char previous = 'a';
  for (char level = 'b'; level <= 'k'; ++level, ++previous) {
    bomb += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", " : "") + "*" + previous;
    bomb += "]\n";
  }
  EXPECT_THROW_MESSAGE(yaml_to_json(bomb, "bomb.yaml"), "invalid", "too many YAML nodes");
}

TEST(Codec, WorkspaceRoundTripsThroughYaml) {
  Workspace w;
  w.name = "api";
  w.target = "local";
  w.provider = "host";
  w.repository = "https://example.org/a.git";
  w.env = {{"A", "1"}, {"QUOTE", "it's: \"odd\"\nline"}};
  w.state = WorkspaceState::stopped;
  w.provider_data = {{"path", "/tmp/x"}};
  w.created_at = "2026-01-01T00:00:00Z";
  w.last_error = "";
  Workspace back = workspace_from_yaml(workspace_to_yaml(w), "api.yaml");
  EXPECT_EQ(back.name, w.name);
  EXPECT_EQ(back.repository, w.repository);
  EXPECT_EQ(back.env, w.env);
  EXPECT_EQ(back.state, WorkspaceState::stopped);
  EXPECT_EQ(back.provider_data, w.provider_data);
  EXPECT_EQ(back.created_at, w.created_at);
}

TEST(States, TransitionalStatesAreKnown) {
  EXPECT_TRUE(is_transitional(WorkspaceState::creating));
  EXPECT_TRUE(is_transitional(WorkspaceState::starting));
  EXPECT_TRUE(is_transitional(WorkspaceState::stopping));
  EXPECT_TRUE(is_transitional(WorkspaceState::deleting));
  EXPECT_FALSE(is_transitional(WorkspaceState::started));
  EXPECT_FALSE(is_transitional(WorkspaceState::stopped));
  EXPECT_FALSE(is_transitional(WorkspaceState::error));
  EXPECT_THROW_MESSAGE(parse_workspace_state("flying"), "invalid", "unknown workspace state 'flying'");
}

}  // namespace
