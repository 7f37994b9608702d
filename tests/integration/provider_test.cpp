// Drop-in providers: every refusal reported with its reason while the server serves the good
// ones; provider failures in each operation; busy workspaces; secrets; the manifest.
#include "api_client.hpp"
#include "codec.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::drop_in_provider;
using berth::test::provider_manifest;
using berth::test::Result;
using berth::test::ServerHome;
using berth::test::test_provider;
using Json = nlohmann::json;

namespace {

const Json* find_provider(const Json& list, const std::string& name, const std::string& location_part = "") {
  for (const auto& entry : list) {
    if (entry["name"] == name && entry["location"].get<std::string>().find(location_part) != std::string::npos) return &entry;
  }
  return nullptr;
}

void add_target(const ServerHome& server, const std::string& yaml) {
  Result result = server.add_target(yaml);
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

Json info(const ServerHome& server, const std::string& name) {
  Result result = server.berth({"info", name, "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

TEST(Providers, EveryRefusalIsReportedAndTheGoodOnesServe) {
  ServerHome server(ServerHome::Start::later);
  fs::path home = server.home();
  fs::path flaky = test_provider("flaky_provider");
  drop_in_provider(home, flaky, "flaky", provider_manifest("flaky"));
  drop_in_provider(home, flaky, "noman", "");
  drop_in_provider(home, flaky, "liar", provider_manifest("liar", "9.9.9"));
  drop_in_provider(home, flaky, "major", provider_manifest("major", "0.1.0", "2.0"));
  drop_in_provider(home, flaky, "minor", provider_manifest("minor", "0.1.0", "1.7"));
  drop_in_provider(home, test_provider("newer_api_provider"), "newer", provider_manifest("newer"));
  drop_in_provider(home, test_provider("no_entry_provider"), "noentry", provider_manifest("noentry"));
  drop_in_provider(home, test_provider("throwing_provider"), "throws", provider_manifest("throws"));
  drop_in_provider(home, flaky, "host", provider_manifest("host"));
  drop_in_provider(home, flaky, "open", provider_manifest("open"));
  fs::permissions(home / "providers" / "open.so", fs::perms::others_write, fs::perm_options::add);
  std::ofstream(home / "providers" / "notlib.so") << "this is not an ELF file\n";
  std::ofstream(home / "providers" / "notlib.yaml") << provider_manifest("notlib");
  bool can_chown = ::geteuid() == 0;
  if (can_chown) {
    drop_in_provider(home, flaky, "stranger", provider_manifest("stranger"));
    ASSERT_EQ(::chown((home / "providers" / "stranger.so").c_str(), 65534, 65534), 0);
  }
  server.start();

  Result listed = server.berth({"provider", "list", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  Json list = Json::parse(listed.out);
  auto expect_broken = [&](const std::string& name, const std::string& reason, const std::string& location = "") {
    const Json* entry = find_provider(list, name, location);
    ASSERT_NE(entry, nullptr) << name << " missing from " << list.dump(1);
    EXPECT_EQ((*entry)["status"], "broken") << name;
    EXPECT_NE((*entry)["reason"].get<std::string>().find(reason), std::string::npos)
        << name << ": " << (*entry)["reason"] << " (expected: " << reason << ")";
  };
  expect_broken("noman", "no manifest: noman.yaml must lie beside noman.so");
  expect_broken("liar", "the library says it is liar 0.1.0 but its manifest says liar 9.9.9");
  expect_broken("major", "a different major version");
  expect_broken("minor", "newer than this berth's 1.5");
  expect_broken("newer", "the library was built for SDK API 1.9 but its manifest says 1.5");
  expect_broken("noentry", "missing entry symbol berth_provider_api_version");
  expect_broken("notlib", "not a loadable shared library");
  expect_broken("throws", "its factory threw: cannot reach the license server");
  expect_broken("host", "a drop-in may not replace the built-in provider 'host'", "providers/host.so");
  expect_broken("open", "is writable by every user");
  if (can_chown) expect_broken("stranger", "is owned by another user (uid 65534)");

  const Json* builtin_host = find_provider(list, "host", "built-in");
  ASSERT_NE(builtin_host, nullptr);
  EXPECT_EQ((*builtin_host)["status"], "loaded");
  const Json* good = find_provider(list, "flaky");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ((*good)["status"], "loaded");
  EXPECT_EQ((*good)["location"], (home / "providers" / "flaky.so").string());

  // The table shows the same, and the good drop-in serves a whole lifecycle.
  Result table = server.berth({"provider", "list"});
  EXPECT_NE(table.out.find("broken"), std::string::npos);
  add_target(server, "name: flaky-target\nprovider: flaky\n");
  ASSERT_EQ(server.berth({"create", "w1", "--target", "flaky-target"}).exit_code, 0);
  Result exec = server.berth({"exec", "w1", "--", "echo", "hi"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(exec.out, "flaky ran: echo hi\n");
  EXPECT_EQ(server.berth({"stop", "w1"}).exit_code, 0);
  EXPECT_EQ(server.berth({"delete", "w1"}).exit_code, 0);

  // A target naming a broken provider is refused with the reason.
  berth::test::RunOptions options;
  options.stdin_data = "name: t2\nprovider: throws\n";
  Result refused = server.berth({"target", "add", "-f", "-"}, options);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("provider 'throws' is broken: its factory threw"), std::string::npos) << refused.err;
}

class ProviderFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    drop_in_provider(server.home(), test_provider("flaky_provider"), "flaky", provider_manifest("flaky"));
    server.start();
  }
  void target(const std::string& name, const std::string& properties) {
    add_target(server, "name: " + name + "\nprovider: flaky\nproperties:\n" + properties);
  }
  ServerHome server{ServerHome::Start::later};
  berth::test::TempDir scratch;
};

TEST_F(ProviderFailures, ThrowInCreateLeavesErrorWithMessage) {
  target("fails-create", "  fail_on: create\n");
  Result create = server.berth({"create", "w", "--target", "fails-create"});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_NE(create.err.find("create failed: flaky was told to fail in create"), std::string::npos) << create.err;
  Json w = info(server, "w");
  EXPECT_EQ(w["state"], "error");
  EXPECT_NE(w["last_error"].get<std::string>().find("berth delete w"), std::string::npos) << "says what to do next";
  EXPECT_EQ(server.berth({"delete", "w"}).exit_code, 0) << "delete is allowed from error";
}

TEST_F(ProviderFailures, ThrowInStopThenStartFromError) {
  target("fails-stop", "  fail_on: stop\n");
  ASSERT_EQ(server.berth({"create", "w", "--target", "fails-stop"}).exit_code, 0);
  Result stop = server.berth({"stop", "w"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_EQ(info(server, "w")["state"], "error");
  Result start = server.berth({"start", "w"});
  EXPECT_EQ(start.exit_code, 0) << "start is allowed from error: " << start.err;
  EXPECT_EQ(info(server, "w")["state"], "started");
}

TEST_F(ProviderFailures, ThrowInStartAndExec) {
  target("fails-start", "  fail_on: start\n");
  ASSERT_EQ(server.berth({"create", "w", "--target", "fails-start"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "w"}).exit_code, 0);
  Result start = server.berth({"start", "w"});
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(info(server, "w")["last_error"].get<std::string>().find("start failed: flaky was told to fail in start"), std::string::npos);

  target("fails-exec", "  fail_on: exec\n");
  ASSERT_EQ(server.berth({"create", "e", "--target", "fails-exec"}).exit_code, 0);
  Result exec = server.berth({"exec", "e", "--", "true"});
  EXPECT_EQ(exec.exit_code, 1);
  EXPECT_NE(exec.err.find("flaky was told to fail in exec"), std::string::npos) << exec.err;
  EXPECT_EQ(info(server, "e")["state"], "started") << "a failed exec does not change the workspace";
}

TEST_F(ProviderFailures, ThrowInDestroyThenForce) {
  target("fails-destroy", "  fail_on: destroy\n");
  ASSERT_EQ(server.berth({"create", "w", "--target", "fails-destroy"}).exit_code, 0);
  Result del = server.berth({"delete", "w"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_EQ(info(server, "w")["state"], "error");
  Result forced = server.berth({"delete", "w", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.err.find("may be left behind"), std::string::npos) << forced.err;
  EXPECT_EQ(server.berth({"info", "w"}).exit_code, 1);
  EXPECT_FALSE(fs::exists(server.home() / "workspaces" / "w.yaml"));
}

TEST_F(ProviderFailures, BusyWorkspaceAnswers409AndCrashDuringCreateIsReconciled) {
  fs::path gate = scratch.path() / "gate";
  target("gated", "  gate: " + gate.string() + "\n  fail_on: status\n");
  ASSERT_EQ(server.berth({"create", "w", "--target", "gated", "--detach"}).exit_code, 0);
  Result stop = server.berth({"stop", "w"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_NE(stop.err.find("workspace 'w' is busy: create in progress"), std::string::npos) << stop.err;
  Result del = server.berth({"delete", "w"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_NE(del.err.find("busy"), std::string::npos);

  // kill -9 while create waits; at restart the provider cannot tell (status throws): error, with the reason.
  server.kill_hard();
  fs::path record = server.home() / "workspaces" / "w.yaml";
  EXPECT_EQ(berth::workspace_from_yaml(berth::test::read_text(record), record.string()).state, berth::WorkspaceState::creating);
  server.start();  // answers at once; reconcile settles the record behind it
  Json w;
  EXPECT_TRUE(berth::test::wait_until([&] { return (w = info(server, "w")).value("operation", "x").empty(); }, std::chrono::seconds(20)));
  EXPECT_EQ(w["state"], "error");
  EXPECT_NE(w["last_error"].get<std::string>().find("the server stopped during create"), std::string::npos) << w.dump();
  EXPECT_NE(w["last_error"].get<std::string>().find("flaky was told to fail in status"), std::string::npos) << w.dump();
  std::ofstream(gate) << "open";
  EXPECT_EQ(server.berth({"delete", "w"}).exit_code, 0);
}

TEST_F(ProviderFailures, SecretsAreMaskedAndStoredOwnerOnly) {
  target("secret", "  token: hunter2\n");
  Result shown = server.berth({"target", "show", "secret", "-o", "json"});
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(Json::parse(shown.out)["properties"]["token"], "********");
  for (const auto& args : std::vector<std::vector<std::string>>{{"target", "list"}, {"target", "list", "-o", "yaml"}}) {
    EXPECT_EQ(server.berth(args).out.find("hunter2"), std::string::npos);
  }
  fs::path file = server.home() / "targets" / "secret.yaml";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(berth::test::read_text(file).find("hunter2"), std::string::npos) << "the provider needs the real value";
}

TEST_F(ProviderFailures, ProviderInfoShowsTheManifest) {
  Result shown = server.berth({"provider", "info", "flaky", "-o", "json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  Json provider = Json::parse(shown.out);
  EXPECT_EQ(provider["version"], "0.1.0");
  EXPECT_EQ(provider["api_version"], "1.5");
  bool found = false;
  for (const auto& property : provider["target_manifest"]) {
    if (property["name"] == "fail_on") {
      found = true;
      EXPECT_EQ(property["type"], "enum");
      EXPECT_EQ(property["default"], "none");
      EXPECT_EQ(property["choices"].size(), 7u);
    }
  }
  EXPECT_TRUE(found);
  Result table = server.berth({"provider", "info", "flaky"});
  EXPECT_NE(table.out.find("fail_on"), std::string::npos);
  EXPECT_NE(table.out.find("PROPERTY"), std::string::npos);
  EXPECT_EQ(server.berth({"provider", "info", "nosuch"}).exit_code, 1);
}

}  // namespace
