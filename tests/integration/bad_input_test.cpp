// Every bad input gets a clear error naming the thing, and nothing saved changes.
#include "api_client.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

// Every file under the home's record folders, with its content.
std::map<std::string, std::string> snapshot(const fs::path& home) {
  std::map<std::string, std::string> files;
  for (const char* folder : {"targets", "workspaces"}) {
    for (const auto& entry : fs::directory_iterator(home / folder)) {
      files[entry.path().string()] = berth::test::read_text(entry.path());
    }
  }
  files["settings"] = berth::test::read_text(home / "settings.yaml");
  return files;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(server.berth({"create", "keep"}).exit_code, 0);
    before = snapshot(server.home());
  }
  void TearDown() override { EXPECT_EQ(snapshot(server.home()), before) << "a refused request changed saved records"; }

  void expect_refused(const std::vector<std::string>& args, int exit_code, const std::string& fragment,
                      const berth::test::RunOptions& options = {}) {
    Result result = server.berth(args, options);
    EXPECT_EQ(result.exit_code, exit_code) << "berth " << testing::PrintToString(args) << ": " << result.err;
    EXPECT_NE(result.err.find(fragment), std::string::npos)
        << "berth " << testing::PrintToString(args) << " said: " << result.err << " (expected: " << fragment << ")";
  }

  fs::path write_file(const std::string& name, const std::string& text) {
    fs::path path = scratch.path() / name;
    std::ofstream(path) << text;
    return path;
  }

  ServerHome server;
  berth::test::TempDir scratch;
  std::map<std::string, std::string> before;
};

TEST_F(BadInput, InvalidNames) {
  for (const std::string& name : std::vector<std::string>{"../x", "UPPER", "", std::string(64, 'a'), "a_b"}) {
    expect_refused({"create", name}, 2, "invalid workspace name");
    expect_refused({"info", name}, 2, "invalid workspace name");
  }
  expect_refused({"create", "ok", "--target", "Bad"}, 2, "invalid target name 'Bad'");
}

TEST_F(BadInput, TargetFiles) {
  auto malformed = write_file("malformed.yaml", "name: x\nprovider: [host\n");
  expect_refused({"target", "add", "-f", malformed.string()}, 2, malformed.string() + ":");
  auto unknown_provider = write_file("p.yaml", "name: x\nprovider: nosuch\n");
  expect_refused({"target", "add", "-f", unknown_provider.string()}, 2,
                 unknown_provider.string() + ":2: provider 'nosuch' is not installed (installed: docker, host)");
  auto unknown_property = write_file("u.yaml", "name: x\nprovider: host\nproperties:\n  shell: /bin/sh\n  colour: red\n");
  expect_refused({"target", "add", "-f", unknown_property.string()}, 2,
                 unknown_property.string() + ":5: property 'colour' is not known to provider 'host'");
  auto bad_name = write_file("n.yaml", "name: ../evil\nprovider: host\n");
  expect_refused({"target", "add", "-f", bad_name.string()}, 2, "invalid target name '../evil'");
  expect_refused({"target", "add", "-f", (scratch.path() / "missing.yaml").string()}, 2, "cannot read target file");
  berth::test::RunOptions stdin_yaml;
  stdin_yaml.stdin_data = "name: x\nprovider: host\nproperties:\n  root: [1, 2]\n";
  expect_refused({"target", "add", "-f", "-"}, 2, "<stdin>:4: property 'root' must be a single value", stdin_yaml);
}

// What only the provider knows (the form of an engine address, SDK 1.4's validate_target) is
// refused at add time, with the file and the property's line, and nothing is saved; a good
// address of a machine that is not there is still a good target (doctor says it is down).
TEST_F(BadInput, TargetPropertiesTheProviderRefusesAtAdd) {
  struct Case {
    std::string properties;
    int line;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"  host: ssh://root@127.0.0.1:99999\n", 4, "property 'host': Docker host 'ssh://root@127.0.0.1:99999'"},
      {"  host: ftp://x\n", 4, "property 'host': Docker host 'ftp://x' must be unix:///PATH"},
      {"  host: tcp://:2375\n", 4, "property 'host': Docker host 'tcp://:2375'"},
      {"  host: ssh://-oProxyCommand=x\n", 4, "property 'host': Docker host 'ssh://-oProxyCommand=x' must not start its user or host with '-'"},
      {"  image: busybox\n  hosts: unix:///run/a.sock, tcp://b:notaport\n", 5, "property 'hosts': Docker host 'tcp://b:notaport'"},
      {"  host: tcp://127.0.0.1:2376\n  tls_ca: certs/ca.pem\n", 5, "property 'tls_ca' must be an absolute path (got 'certs/ca.pem')"},
      {"  memory: 1k\n", 4, "property 'memory' is '1k'"},
  };
  for (const auto& bad : cases) {
    auto file = write_file("docker.yaml", "name: remote\nprovider: docker\nproperties:\n" + bad.properties);
    expect_refused({"target", "add", "-f", file.string()}, 2, file.string() + ":" + std::to_string(bad.line) + ": " + bad.expected);
  }
  auto good = write_file("good.yaml", "name: remote\nprovider: docker\nproperties:\n  host: ssh://dev@build-7.example:2222\n");
  Result added = server.berth({"target", "add", "-f", good.string()});
  EXPECT_EQ(added.exit_code, 0) << added.err;
  ASSERT_EQ(server.berth({"target", "remove", "remote"}).exit_code, 0);
}

TEST_F(BadInput, ConflictsAndMissingThings) {
  expect_refused({"create", "keep"}, 1, "workspace 'keep' already exists");
  expect_refused({"info", "nosuch"}, 1, "workspace 'nosuch' does not exist");
  expect_refused({"start", "nosuch"}, 1, "workspace 'nosuch' does not exist");
  expect_refused({"delete", "nosuch"}, 1, "workspace 'nosuch' does not exist");
  expect_refused({"exec", "nosuch", "--", "true"}, 1, "workspace 'nosuch' does not exist");
  expect_refused({"create", "other", "--target", "nosuch"}, 1, "target 'nosuch' does not exist");
  expect_refused({"target", "remove", "local"}, 1, "target 'local' is used by 1 workspace(s) (keep)");
  expect_refused({"create", "x", "--repo", "./no/such/path"}, 2, "--repo './no/such/path' is neither a URL nor an existing local path");
  expect_refused({"create", "x", "--env", "NOEQUALS"}, 2, "--env 'NOEQUALS' must be KEY=VALUE");
}

TEST_F(BadInput, SecondServerOnTheSameHome) {
  Result second = berth::test::run_program({berth::test::berth_binary().string(), "--home", server.home().string(), "serve"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another berth server (pid " + std::to_string(server.pid()) + ") already owns"), std::string::npos)
      << second.err;
  EXPECT_EQ(server.berth({"list"}).exit_code, 0) << "the first server still serves";
}

TEST_F(BadInput, RawApiRequests) {
  berth::ApiClient client(berth::Endpoint{"unix://" + (server.home() / "berth.sock").string(), ""});
  auto expect_error = [&](const std::string& method, const std::string& path, const std::string& body,
                          const std::string& code, const std::string& fragment) {
    try {
      client.call(method, path, body);
      ADD_FAILURE() << method << " " << path << " should fail";
    } catch (const berth::Error& error) {
      EXPECT_EQ(error.code(), code) << error.what();
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };
  expect_error("POST", "/v1/workspaces", "{not json", "invalid", "not valid JSON");
  expect_error("POST", "/v1/workspaces", "[1,2]", "invalid", "must be a JSON object");
  expect_error("POST", "/v1/workspaces", R"({"name": 42})", "invalid", "field 'name' must be a string");
  expect_error("POST", "/v1/workspaces", R"({"name": "x", "env": {"1BAD": "v"}})", "invalid", "env name '1BAD'");
  expect_error("POST", "/v1/workspaces", R"({"name": "x", "repository": "relative/path"})", "invalid",
               "must be a URL or an absolute path");
  expect_error("POST", "/v1/workspaces", std::string(2 << 20, ' '), "too_large", "larger than the limit");
  expect_error("GET", "/v1/nothing-here", "", "not_found", "no such API path");
  expect_error("POST", "/v1/workspaces/keep/exec", R"({"command": []})", "invalid", "non-empty list");
  EXPECT_EQ(client.call("GET", "/v1/health").status, 200) << "the server is still up";
}

}  // namespace
