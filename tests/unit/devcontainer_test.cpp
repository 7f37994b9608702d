// The provider-neutral devcontainer.json library: JSONC, checks with file/line/property,
// discovery, variables, the spec's merge of image metadata, lifecycle command forms.
#include <devcontainer/config.hpp>
#include <devcontainer/features.hpp>
#include "api_keys.hpp"

#include <berth/sdk.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"

using devcontainer::Json;
namespace fs = std::filesystem;

namespace {

#define EXPECT_INVALID(statement, fragment)                                                   \
  try {                                                                                      \
    statement;                                                                               \
    ADD_FAILURE() << "expected an error containing: " << fragment;                           \
  } catch (const berth::Error& error) {                                                      \
    EXPECT_EQ(error.code(), "invalid");                                                      \
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();  \
  }

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

devcontainer::Config load_text(const berth::test::TempDir& dir, const std::string& text) {
  write(dir.path() / ".devcontainer/devcontainer.json", text);
  return devcontainer::load_config(devcontainer::Repository(dir.path()), ".devcontainer/devcontainer.json");
}

TEST(Jsonc, ReadsCommentsAndTrailingCommasAndKeepsLines) {
  auto document = devcontainer::parse_jsonc("// top\n{\n  \"a\": 1, /* inline */\n  \"b\": [\"x\", \"y\",],\n  \"c\": {\"d\": \"\\u00e9\\n\",},\n}\n", "f.json");
  EXPECT_EQ(document.value["a"], 1);
  EXPECT_EQ(document.value["b"], Json::array({"x", "y"}));
  EXPECT_EQ(document.value["c"]["d"], "\xc3\xa9\n");
  EXPECT_EQ(document.line_of("/a"), 3);
  EXPECT_EQ(document.line_of("/b/1"), 4);
  EXPECT_EQ(document.line_of("/c/d"), 5);
  EXPECT_EQ(document.where("/b/1"), "f.json:4: property 'b[1]' ");
}

TEST(Jsonc, MalformedTextNamesFileLineAndColumn) {
  EXPECT_INVALID(devcontainer::parse_jsonc("{\n  \"a\": 1\n  \"b\": 2\n}", "f.json"), "f.json:3:3: malformed JSON: expected ',' or '}'");
  EXPECT_INVALID(devcontainer::parse_jsonc("{\"a\": /* open", "f.json"), "f.json:1:7: malformed JSON: a /* comment is not closed");
  EXPECT_INVALID(devcontainer::parse_jsonc("{\"a\": tru}", "f.json"), "unexpected character 't'");
  EXPECT_INVALID(devcontainer::parse_jsonc("{} x", "f.json"), "unexpected text after the end");
  EXPECT_INVALID(devcontainer::parse_jsonc(std::string(100, '['), "f.json"), "nested more than 64 levels");
}

TEST(Config, WrongTypesAreRefusedNamingFileLineAndProperty) {
  berth::test::TempDir dir;
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"containerEnv\": {\"A\": 1}\n}"),
                 ".devcontainer/devcontainer.json:3: property 'containerEnv.A' must be a string");
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"init\": \"yes\"\n}"), ":3: property 'init' must be true or false");
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"postCreateCommand\": 3\n}"), ":3: property 'postCreateCommand' must be a command");
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"forwardPorts\": [3000, 70000]\n}"), ":3: property 'forwardPorts[1]' must be a port");
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"waitFor\": \"never\"\n}"), "property 'waitFor' must be one of initializeCommand");
  EXPECT_INVALID(load_text(dir, "{\n \"build\": {\"dockerfile\": \"Missing\"}\n}"), ":2: property 'build.dockerfile' names 'Missing', which does not exist");
  EXPECT_INVALID(load_text(dir, "{\n \"dockerComposeFile\": \"c.yml\"\n}"), "property 'dockerComposeFile' is not supported: Docker Compose");
  EXPECT_INVALID(load_text(dir, "{\n \"name\": \"x\"\n}"), "needs 'image' or 'build.dockerfile'");
  EXPECT_INVALID(load_text(dir, "[1]"), "must be an object");
  EXPECT_INVALID(load_text(dir, "{\n \"image\": \"x\",\n \"hostRequirements\": {\"memory\": \"lots\"}\n}"),
                 ":3: property 'hostRequirements.memory' must be a size such as \"4gb\"");
}

TEST(Config, UnknownPropertiesAreWarnedAboutNotFatal) {
  berth::test::TempDir dir;
  auto config = load_text(dir, "{\n \"image\": \"x\",\n \"colour\": \"blue\"\n}");
  ASSERT_EQ(config.warnings.size(), 1u);
  EXPECT_EQ(config.warnings[0], ".devcontainer/devcontainer.json:3: unknown property 'colour' is ignored");
}

TEST(Discovery, FollowsTheSpecsOrderAndNamesTheChoices) {
  berth::test::TempDir dir;
  EXPECT_EQ(devcontainer::find_config(devcontainer::Repository(dir.path()), ""), "");
  write(dir.path() / ".devcontainer/python/devcontainer.json", "{}");
  EXPECT_EQ(devcontainer::find_config(devcontainer::Repository(dir.path()), ""), ".devcontainer/python/devcontainer.json");
  write(dir.path() / ".devcontainer/go/devcontainer.json", "{}");
  EXPECT_INVALID(devcontainer::find_config(devcontainer::Repository(dir.path()), ""), "has 2 devcontainer.json files; choose one with --devcontainer PATH:\n  .devcontainer/go/devcontainer.json\n  .devcontainer/python/devcontainer.json");
  EXPECT_EQ(devcontainer::find_config(devcontainer::Repository(dir.path()), ".devcontainer/go/devcontainer.json"), ".devcontainer/go/devcontainer.json");
  write(dir.path() / ".devcontainer.json", "{}");
  EXPECT_EQ(devcontainer::find_config(devcontainer::Repository(dir.path()), ""), ".devcontainer.json");
  write(dir.path() / ".devcontainer/devcontainer.json", "{}");
  EXPECT_EQ(devcontainer::find_config(devcontainer::Repository(dir.path()), ""), ".devcontainer/devcontainer.json");
  EXPECT_INVALID(devcontainer::find_config(devcontainer::Repository(dir.path()), "../etc/passwd"), "must be a path inside the repository");
  EXPECT_INVALID(devcontainer::find_config(devcontainer::Repository(dir.path()), "nope.json"), "no such file in the repository");
}

TEST(Variables, LocalOnesAreSubstitutedEverywhereAndContainerEnvLater) {
  berth::test::TempDir dir;
  auto config = load_text(dir, R"({
    "image": "x",
    "workspaceFolder": "/src/${localWorkspaceFolderBasename}",
    "containerEnv": {"HOME_OF": "${localEnv:WHO}", "MISSING": "${localEnv:NOPE:fallback:with:colons}",
                     "FOLDER": "${containerWorkspaceFolder}", "BASE": "${containerWorkspaceFolderBasename}",
                     "LOCAL": "${localWorkspaceFolder}", "ID": "${devcontainerId}"},
    "remoteEnv": {"P": "${containerEnv:PATH}:/x", "Q": "${containerEnv:NONE:dflt}"},
    "postCreateCommand": "echo ${HOME} ${1}"
  })");
  devcontainer::LocalContext context;
  context.local_workspace_folder = "/home/me/api";
  context.config_file = "/home/me/api/.devcontainer/devcontainer.json";
  context.local_env = [](const std::string& name) -> std::optional<std::string> {
    return name == "WHO" ? std::optional<std::string>("me") : std::nullopt;
  };
  devcontainer::resolve(config, context);
  const Json& v = config.document.value;
  EXPECT_EQ(v["workspaceFolder"], "/src/api");
  EXPECT_EQ(config.workspace_folder, "/src/api");
  EXPECT_EQ(v["containerEnv"]["HOME_OF"], "me");
  EXPECT_EQ(v["containerEnv"]["MISSING"], "fallback:with:colons");
  EXPECT_EQ(v["containerEnv"]["FOLDER"], "/src/api");
  EXPECT_EQ(v["containerEnv"]["BASE"], "api");
  EXPECT_EQ(v["containerEnv"]["LOCAL"], "/home/me/api");
  EXPECT_EQ(v["containerEnv"]["ID"].get<std::string>().size(), 52u);
  EXPECT_EQ(v["postCreateCommand"], "echo ${HOME} ${1}") << "a shell's own variables are left alone";
  EXPECT_EQ(v["remoteEnv"]["P"], "${containerEnv:PATH}:/x");
  Json remote = v["remoteEnv"];
  devcontainer::substitute_container_env(remote, {{"PATH", "/bin"}});
  EXPECT_EQ(remote["P"], "/bin:/x");
  EXPECT_EQ(remote["Q"], "dflt");
}

TEST(Variables, TheDefaultFolderIsUsedWhenWorkspaceFolderIsUnset) {
  berth::test::TempDir dir;
  auto config = load_text(dir, R"({"image": "x", "containerEnv": {"F": "${containerWorkspaceFolder}"}})");
  devcontainer::LocalContext context;
  context.local_workspace_folder = "/l/w";
  context.default_workspace_folder = "/workspaces/w";
  devcontainer::resolve(config, context);
  EXPECT_EQ(config.workspace_folder, "/workspaces/w");
  EXPECT_FALSE(config.document.value.contains("workspaceFolder")) << "the configuration stays as written";
  EXPECT_EQ(config.document.value["containerEnv"]["F"], "/workspaces/w");
}

TEST(Variables, AnUnknownVariableIsRefusedNamingLineAndProperty) {
  berth::test::TempDir dir;
  auto config = load_text(dir, "{\n \"image\": \"x\",\n \"remoteEnv\": {\n  \"A\": \"${localEnvironment:USER}\"\n }\n}");
  EXPECT_INVALID(devcontainer::resolve(config, {}), ".devcontainer/devcontainer.json:4: property 'remoteEnv.A' uses the unknown variable ${localEnvironment:USER}");
  auto camel = load_text(dir, "{\n \"image\": \"x\",\n \"name\": \"${workspaceFolder}\"\n}");
  EXPECT_INVALID(devcontainer::resolve(camel, {}), ":3: property 'name' uses the unknown variable ${workspaceFolder}");
}

TEST(DevcontainerId, IsStableAndDependsOnFolderAndFile) {
  std::string a = devcontainer::devcontainer_id("/a", "/a/.devcontainer/devcontainer.json");
  EXPECT_EQ(a, devcontainer::devcontainer_id("/a", "/a/.devcontainer/devcontainer.json"));
  EXPECT_NE(a, devcontainer::devcontainer_id("/b", "/a/.devcontainer/devcontainer.json"));
  EXPECT_EQ(a.find_first_not_of("0123456789abcdefghijklmnopqrstuv"), std::string::npos);
}

// devcontainer/sha256.cpp is our own SHA-256 (the library goes into the CLI, which must stay free
// of libcrypto at start-up): FIPS 180-4's examples, the NIST million-'a' vector, and the padding
// edges against OpenSSL's (which the server links).
TEST(Sha256, MatchesKnownVectors) {
  EXPECT_EQ(devcontainer::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(devcontainer::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(devcontainer::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(devcontainer::sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  EXPECT_EQ(devcontainer::sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  for (size_t length : {55, 56, 57, 63, 64, 65, 119, 120, 128}) {
    std::string data(length, 'x');
    EXPECT_EQ(devcontainer::sha256_hex(data), berth::sha256_hex(data)) << length << " bytes";
  }
}

TEST(Merge, FollowsTheSpecsMergeTable) {
  Json base = Json::parse(R"({"init": true, "capAdd": ["SYS_PTRACE"], "containerEnv": {"A": "base", "B": "base"},
    "remoteUser": "base", "postCreateCommand": "base-post", "mounts": ["type=volume,source=v1,target=/data", {"type": "volume", "source": "k", "target": "/keep"}],
    "forwardPorts": [3000], "hostRequirements": {"cpus": 4, "memory": "8gb"}, "customizations": {"vscode": {"x": 1}}})");
  Json config = Json::parse(R"({"image": "i", "capAdd": ["SYS_PTRACE", "NET_ADMIN"], "containerEnv": {"A": "json"}, "privileged": false,
    "remoteUser": "dev", "postCreateCommand": ["json", "post"], "onCreateCommand": "json-on", "mounts": [{"type": "volume", "source": "v2", "target": "/data"}],
    "forwardPorts": [3000, 8080], "hostRequirements": {"cpus": 2, "memory": "16gb"}, "customizations": {"vscode": {"y": 2}}})");
  Json entries = Json::array({base, devcontainer::metadata_entry(config)});
  Json merged = devcontainer::merge(config, entries);
  EXPECT_EQ(merged["init"], true) << "booleans are or'd";
  EXPECT_EQ(merged["privileged"], false);
  EXPECT_EQ(merged["capAdd"], Json::parse(R"(["SYS_PTRACE", "NET_ADMIN"])")) << "lists are united";
  EXPECT_EQ(merged["containerEnv"], Json::parse(R"({"A": "json", "B": "base"})")) << "env merged, the json winning";
  EXPECT_EQ(merged["remoteUser"], "dev");
  EXPECT_EQ(merged["postCreateCommands"], Json::parse(R"(["base-post", ["json", "post"]])")) << "commands collected in order";
  EXPECT_EQ(merged["onCreateCommands"], Json::parse(R"(["json-on"])"));
  EXPECT_EQ(merged["postAttachCommands"], Json::array()) << "every stage is there, as the reference implementation has it";
  EXPECT_FALSE(merged.contains("postCreateCommand")) << "the single forms give way to the collected ones";
  EXPECT_EQ(merged["mounts"], Json::parse(R"([{"type": "volume", "source": "k", "target": "/keep"}, {"type": "volume", "source": "v2", "target": "/data"}])"))
      << "for one target the last mount wins";
  EXPECT_EQ(merged["forwardPorts"], Json::parse("[3000, 8080]"));
  EXPECT_EQ(merged["hostRequirements"], Json::parse(R"({"cpus": 4, "memory": "16gb"})")) << "the largest of each";
  EXPECT_EQ(merged["customizations"]["vscode"], Json::parse(R"([{"x": 1}, {"y": 2}])"));
}

TEST(Merge, MetadataLabelIsAnArrayOrAnObject) {
  EXPECT_EQ(devcontainer::parse_metadata_label(""), Json::array());
  EXPECT_EQ(devcontainer::parse_metadata_label(R"({"remoteUser": "a"})").size(), 1u);
  EXPECT_EQ(devcontainer::parse_metadata_label(R"([{"remoteUser": "a"}, {"init": true}])").size(), 2u);
  EXPECT_INVALID(devcontainer::parse_metadata_label("\"text\""), "not a JSON array or object");
  EXPECT_INVALID(devcontainer::parse_metadata_label("[1]"), "is not an object");
}

TEST(Lifecycle, CommandsInTheirThreeForms) {
  using Steps = std::vector<std::pair<std::string, std::vector<std::string>>>;
  EXPECT_EQ(devcontainer::command_steps(Json("make")), (Steps{{"", {"/bin/sh", "-c", "make"}}}));
  EXPECT_EQ(devcontainer::command_steps(Json::parse(R"(["make", "all"])")), (Steps{{"", {"make", "all"}}}));
  EXPECT_EQ(devcontainer::command_steps(Json::parse(R"({"a": "x", "b": ["y", "z"]})")),
            (Steps{{"a", {"/bin/sh", "-c", "x"}}, {"b", {"y", "z"}}}));
  EXPECT_TRUE(devcontainer::command_steps(Json("")).empty());
}

}  // namespace

namespace {

void feature(const fs::path& folder, const std::string& manifest) {
  write(folder / "devcontainer-feature.json", manifest);
  write(folder / "install.sh", "#!/bin/sh\n");
}

TEST(Features, OptionsAreCheckedAndDefaultedAndTheOrderFollowsDependencies) {
  berth::test::TempDir dir;
  fs::path dc = dir.path() / ".devcontainer";
  feature(dc / "a", R"({"id": "a", "dependsOn": {"b": {}}, "options": {"version": {"type": "string", "default": "1"}, "on": {"type": "boolean", "default": false}}})");
  feature(dc / "b", R"({"id": "b", "installsAfter": ["c"]})");
  feature(dc / "c", R"({"id": "c"})");
  auto config = load_text(dir, R"({"image": "x", "features": {"./a": "2", "./b": {}, "./c": true}})");
  auto features = devcontainer::load_features(config);
  ASSERT_EQ(features.size(), 3u);
  EXPECT_EQ(features[0].id, "c");
  EXPECT_EQ(features[1].id, "b");
  EXPECT_EQ(features[2].id, "a");
  EXPECT_EQ(features[2].options["version"], "2") << "a string is the version option";
  EXPECT_EQ(features[2].options["on"], "false") << "defaults filled in";
  EXPECT_EQ(devcontainer::option_variable("nodeVersion"), "NODEVERSION");
  EXPECT_EQ(devcontainer::option_variable("my-opt.x"), "MY_OPT_X");
  EXPECT_EQ(devcontainer::option_variable("1st"), "_ST");
}

TEST(Features, BadOnesAreRefusedNamingTheProperty) {
  berth::test::TempDir dir;
  fs::path dc = dir.path() / ".devcontainer";
  feature(dc / "a", R"({"id": "a", "options": {"on": {"type": "boolean", "default": false}}})");
  EXPECT_INVALID(devcontainer::load_features(load_text(dir, "{\"image\": \"x\",\n \"features\": {\"./a\": {\"off\": true}}}")),
                 ":2: property 'features../a.off' is not an option of this feature (its options: on)");
  EXPECT_INVALID(devcontainer::load_features(load_text(dir, "{\"image\": \"x\",\n \"features\": {\"./a\": {\"on\": \"yes\"}}}")), "must be true or false");
  EXPECT_INVALID(devcontainer::load_features(load_text(dir, "{\"image\": \"x\",\n \"features\": {\"./none\": {}}}")), "names './none', which does not exist in the repository");
  EXPECT_INVALID(devcontainer::load_features(load_text(dir, "{\"image\": \"x\",\n \"features\": {\"ghcr.io/x/y:1\": {}}}")), "is a feature from a registry, which berth cannot fetch yet");
  feature(dc / "d", R"({"id": "d", "dependsOn": {"missing": {}}})");
  EXPECT_INVALID(devcontainer::load_features(load_text(dir, "{\"image\": \"x\",\n \"features\": {\"./d\": {}}}")), "depends on 'missing', which is not among the features");
}

}  // namespace

// Paths a repository names resolve inside it (issue 21; docs/security.md).
namespace {

TEST(Repository, ResolvesInsideAndFollowsLinksThatStayInside) {
  berth::test::TempDir dir;
  fs::path root = dir.path() / "repo";
  write(root / "a/b/file.txt", "x");
  fs::create_directory_symlink("a/b", root / "inside");        // stays in
  fs::create_symlink("../b/file.txt", root / "a/b/again.txt");  // stays in, through ..
  devcontainer::Repository repository(root);
  using Kind = devcontainer::Repository::Kind;
  auto found = repository.resolve("", "inside/file.txt", Kind::file, "w ");
  EXPECT_TRUE(found.exists);
  EXPECT_EQ(found.relative, "a/b/file.txt");
  EXPECT_EQ(repository.resolve("a", "./b/../b/again.txt", Kind::file, "w ").relative, "a/b/file.txt");
  EXPECT_EQ(repository.resolve("a/b", "..", Kind::folder, "w ").relative, "a");
  EXPECT_EQ(repository.resolve("a/b", "../..", Kind::folder, "w ").relative, "");
  EXPECT_FALSE(repository.resolve("", "missing/x", Kind::file, "w ", false).exists);
  EXPECT_EQ(repository.read(found, 10, "w "), "x");
}

TEST(Repository, RefusesWhatLeavesTheRepositoryNamingIt) {
  berth::test::TempDir dir;
  fs::path root = dir.path() / "repo";
  write(root / "a/file.txt", "x");
  write(dir.path() / "secret", "s");
  fs::create_symlink(dir.path() / "secret", root / "absolute");
  fs::create_symlink("../secret", root / "climbs");
  fs::create_directory_symlink("..", root / "a/up");
  fs::create_symlink("loop", root / "loop");
  devcontainer::Repository repository(root);
  using Kind = devcontainer::Repository::Kind;
  EXPECT_INVALID(repository.resolve("a", "../../secret", Kind::file, "f:1: property 'x' "),
                 "f:1: property 'x' names '../../secret', which leads outside the repository");
  EXPECT_INVALID(repository.resolve("", "absolute", Kind::file, "w "), "goes through the symbolic link 'absolute' to " + (dir.path() / "secret").string());
  EXPECT_INVALID(repository.resolve("", "climbs", Kind::file, "w "), "leads outside the repository through the symbolic link 'climbs'");
  EXPECT_INVALID(repository.resolve("", "a/up/../secret", Kind::file, "w "), "leads outside the repository");
  EXPECT_INVALID(repository.resolve("", "/etc/passwd", Kind::file, "w "), "is an absolute path on the server");
  EXPECT_INVALID(repository.resolve("", "loop", Kind::file, "w "), "more than 40 symbolic links");
  EXPECT_INVALID(repository.resolve("", "a", Kind::file, "w "), "is not a regular file");
  EXPECT_INVALID(repository.resolve("", "absolute", Kind::file, "w ", false), "outside the repository");  // even when it may be missing
}

TEST(Config, ADefinitionLinkedOutOfTheRepositoryIsRefusedUnread) {
  berth::test::TempDir dir;
  fs::path root = dir.path() / "repo";
  write(dir.path() / "outside.json", "{\"image\": \"SECRET-CONTENT\"}");
  fs::create_directories(root / ".devcontainer");
  fs::create_symlink(dir.path() / "outside.json", root / ".devcontainer/devcontainer.json");
  devcontainer::Repository repository(root);
  try {
    devcontainer::find_config(repository, "");
    ADD_FAILURE() << "followed the link";
  } catch (const berth::Error& error) {
    EXPECT_NE(std::string(error.what()).find("'.devcontainer/devcontainer.json' to "), std::string::npos) << error.what();
    EXPECT_EQ(std::string(error.what()).find("SECRET-CONTENT"), std::string::npos) << error.what();
  }
}

TEST(ContainerPath, IsAbsoluteWithoutDotsOrControlCharacters) {
  EXPECT_NO_THROW(devcontainer::check_container_path("/workspaces/api", "w "));
  EXPECT_INVALID(devcontainer::check_container_path("/workspaces/../../x", "w "), "a '..' component");
  EXPECT_INVALID(devcontainer::check_container_path("/a/./b", "w "), "a '.' component");
  EXPECT_INVALID(devcontainer::check_container_path("relative", "w "), "not absolute");
  EXPECT_INVALID(devcontainer::check_container_path("/a\nb", "w "), "a control character");
}

TEST(Jsonc, InvalidUtf8IsNamedWithItsPlace) {
  EXPECT_INVALID(devcontainer::parse_jsonc("{\n  \"a\": \"ok\",\n  \"b\": \"\xff\"\n}", "f.json"),
                 "f.json:3:9: malformed JSON: invalid UTF-8 byte 0xFF");
  EXPECT_INVALID(devcontainer::parse_jsonc("{\"a\": \"\xc0\xaf\"}", "f.json"), "invalid UTF-8 byte 0xC0");  // an overlong form
}

TEST(Metadata, LabelsNestedTooDeepOrTooLargeOrNotUtf8AreRefusedBeforeAnyParser) {
  std::string deep = std::string(32000, '[') + std::string(32000, ']');
  EXPECT_INVALID(devcontainer::parse_metadata_label(deep), "nested more than 64 levels deep");
  EXPECT_INVALID(devcontainer::parse_metadata_label(std::string(2u << 20, ' ')), "larger than 1024 KiB");
  EXPECT_INVALID(devcontainer::parse_metadata_label("[{\"a\": \"\xff\"}]"), "is not UTF-8");
  // Brackets inside strings are text, not nesting.
  EXPECT_EQ(devcontainer::parse_metadata_label("[{\"a\": \"" + std::string(100, '[') + "\"}]").size(), 1u);
}

}  // namespace

