// Plugins through the real CLI: dispatch, every bad plugin, enable/disable, doctor, prune.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

fs::path test_plugin(const std::string& stem) { return berth::test::build_dir() / "tests" / "plugins" / (stem + ".so"); }

void drop_in_plugin(const fs::path& home, const fs::path& library, const std::string& name, const std::vector<std::string>& commands,
                    const std::string& api_version = "1.5", const std::string& min_berth = "", bool manifest = true) {
  fs::create_directories(home / "plugins");
  fs::copy_file(library, home / "plugins" / (name + ".so"), fs::copy_options::overwrite_existing);
  if (!manifest) return;
  std::ofstream yaml(home / "plugins" / (name + ".yaml"));
  yaml << "name: " << name << "\nversion: 0.2.0\napi_version: \"" << api_version << "\"\ndescription: test plugin\n";
  if (!min_berth.empty()) yaml << "min_berth_version: " << min_berth << "\n";
  yaml << "commands:\n";
  for (const auto& command : commands) yaml << "  - name: " << command << "\n    summary: test command " << command << "\n";
}

const Json* entry(const Json& list, const std::string& kind, const std::string& name) {
  for (const auto& row : list) {
    if (row["kind"] == kind && row["name"] == name) return &row;
  }
  return nullptr;
}

void expect_failure(const Result& result, int code, const std::string& fragment) {
  EXPECT_EQ(result.exit_code, code) << result.err;
  EXPECT_NE(result.err.find(fragment), std::string::npos) << "stderr: " << result.err << "\nexpected: " << fragment;
}

class Plugins : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path home = server.home();
    drop_in_plugin(home, test_plugin("test_plugin"), "tp", {"echo-args", "throw-now", "garbage", "segv", "exit-7"});
    drop_in_plugin(home, test_plugin("crash_on_load_plugin"), "crashy", {"crash-load"});
    drop_in_plugin(home, test_plugin("test_plugin"), "newapi", {"new-api-cmd"}, "1.6");
    drop_in_plugin(home, test_plugin("test_plugin"), "newberth", {"needs-new"}, "1.5", "99.0.0");
    drop_in_plugin(home, test_plugin("test_plugin"), "noman", {}, "1.5", "", false);
    drop_in_plugin(home, test_plugin("test_plugin"), "clash", {"list"});
    drop_in_plugin(home, test_plugin("test_plugin"), "zdup", {"echo-args"});
  }
  ServerHome server;
};

TEST_F(Plugins, CommandsRunThroughTheContext) {
  ASSERT_EQ(server.berth({"create", "one", "-q"}).exit_code, 0);
  Result echo = server.berth({"echo-args", "a", "--b", "c"});
  EXPECT_EQ(echo.exit_code, 0) << echo.err;
  EXPECT_NE(echo.out.find("args: [a] [--b] [c]"), std::string::npos) << echo.out;
  EXPECT_NE(echo.out.find("workspaces: 1"), std::string::npos) << "the Context's API client reached the server: " << echo.out;
  EXPECT_NE(echo.out.find("data_dir: " + (server.home() / "plugin-data" / "tp").string()), std::string::npos) << echo.out;
  EXPECT_TRUE(fs::is_directory(server.home() / "plugin-data" / "tp"));
  EXPECT_EQ(server.berth({"exit-7"}).exit_code, 7);

  Result help = server.berth({"--help"});
  EXPECT_NE(help.out.find("Plugin tp"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("echo-args"), std::string::npos);
  EXPECT_EQ(help.out.find("new-api-cmd"), std::string::npos) << "a broken plugin's commands are not offered";
}

TEST_F(Plugins, BadPluginsFailWithTheirNameAndOthersKeepWorking) {
  expect_failure(server.berth({"throw-now"}), 1, "plugin 'tp' failed in 'throw-now': the plugin gave up on purpose");
  expect_failure(server.berth({"garbage"}), 1, "plugin 'tp' returned an invalid exit code 1000");
  expect_failure(server.berth({"segv"}), 1, "plugin 'tp' crashed with signal 11");
  expect_failure(server.berth({"crash-load"}), 1, "plugin 'crashy' crashed with signal 11");
  expect_failure(server.berth({"new-api-cmd"}), 1, "plugin 'newapi' is broken: built for SDK API 1.6, newer than this berth's 1.5");
  expect_failure(server.berth({"needs-new"}), 1, "plugin 'newberth' is broken: needs berth 99.0.0 or newer");

  Result listed = server.berth({"plugin", "list", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  Json list = Json::parse(listed.out);
  auto reason = [&](const std::string& name) {
    const Json* row = entry(list, "plugin", name);
    return row ? (*row)["status"].get<std::string>() + ": " + (*row)["reason"].get<std::string>() : std::string("missing");
  };
  EXPECT_NE(reason("noman").find("broken: no manifest"), std::string::npos) << reason("noman");
  EXPECT_NE(reason("clash").find("broken: its command 'list' collides with berth's built-in command 'list'"), std::string::npos);
  EXPECT_NE(reason("zdup").find("broken: its command 'echo-args' collides with the command 'echo-args' of plugin 'tp'"), std::string::npos)
      << reason("zdup");
  EXPECT_EQ(reason("tp"), "enabled: ");
  EXPECT_EQ(reason("doctor"), "enabled: ");
  const Json* doctor = entry(list, "plugin", "doctor");
  ASSERT_NE(doctor, nullptr);
  EXPECT_EQ((*doctor)["location"], "built-in");
  EXPECT_EQ((*entry(list, "plugin", "tp"))["location"], (server.home() / "plugins" / "tp.so").string());
  const Json* host = entry(list, "provider", "host");
  ASSERT_NE(host, nullptr) << "plugin list shows providers too";
  EXPECT_EQ((*host)["status"], "loaded");

  // The built-in `list` is not hijacked and everything else still works.
  Result builtin_list = server.berth({"list", "-o", "json"});
  EXPECT_EQ(builtin_list.exit_code, 0);
  EXPECT_NO_THROW(Json::parse(builtin_list.out));
  EXPECT_EQ(server.berth({"echo-args"}).exit_code, 0);
}

TEST_F(Plugins, DisableHidesCommandsAndEnableBringsThemBack) {
  Result disable = server.berth({"plugin", "disable", "tp"});
  ASSERT_EQ(disable.exit_code, 0) << disable.err;
  EXPECT_EQ(server.berth({"--help"}).out.find("echo-args"), std::string::npos);
  expect_failure(server.berth({"echo-args"}), 1, "plugin 'tp' is disabled; enable it with: berth plugin enable tp");
  EXPECT_EQ((*entry(Json::parse(server.berth({"plugin", "list", "-o", "json"}).out), "plugin", "tp"))["status"], "disabled");
  ASSERT_EQ(server.berth({"plugin", "enable", "tp"}).exit_code, 0);
  EXPECT_EQ(server.berth({"echo-args"}).exit_code, 0);
  expect_failure(server.berth({"plugin", "disable", "nosuch"}), 1, "plugin 'nosuch' is not installed");
}

TEST(Doctor, SaysWhatIsWrongAndWhatIsFine) {
  ServerHome server;
  Result fine = server.berth({"doctor", "-o", "json"});
  EXPECT_EQ(fine.exit_code, 0) << fine.out << fine.err;
  Json report = Json::parse(fine.out);
  EXPECT_TRUE(report["ok"].get<bool>());
  bool saw_server = false, saw_target = false;
  for (const auto& check : report["checks"]) {
    saw_server |= check["kind"] == "server" && check["message"].get<std::string>().find("version 0.") != std::string::npos;
    saw_target |= check["kind"] == "target" && check["name"] == "local" && check["ok"].get<bool>();
  }
  EXPECT_TRUE(saw_server && saw_target) << fine.out;

  // An unreachable target root, a broken provider and a home that others can read.
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: nowhere\nprovider: host\nproperties:\n  root: /etc/hostname/cannot\n";
  ASSERT_EQ(server.berth({"target", "add", "-f", "-"}, yaml).exit_code, 0);
  fs::permissions(server.home(), fs::perms::group_read | fs::perms::group_exec, fs::perm_options::add);
  Result bad = server.berth({"doctor"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("[FAIL] target    nowhere: cannot create /etc/hostname/cannot"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("[FAIL] home"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("chmod 700"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("[ok]   target    local"), std::string::npos) << bad.out;
  fs::permissions(server.home(), fs::perms::owner_all, fs::perm_options::replace);

  server.stop();
  Result down = server.berth({"doctor"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.out.find("[FAIL] server"), std::string::npos) << down.out;
}

TEST(Prune, DeletesOnlyIdleOldWorkspacesAfterConfirmation) {
  ServerHome server;
  for (const char* name : {"a", "b", "c"}) ASSERT_EQ(server.berth({"create", name, "-q"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "a", "-q"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "c", "-q"}).exit_code, 0);

  Result young = server.berth({"prune", "--older-than", "1h"});
  EXPECT_EQ(young.exit_code, 0);
  EXPECT_NE(young.out.find("nothing to prune"), std::string::npos) << young.out;

  Result dry = server.berth({"prune", "--older-than", "0s", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0);
  EXPECT_NE(dry.out.find("would delete 2 workspace(s): a (stopped), c (stopped)"), std::string::npos) << dry.out;

  berth::test::RunOptions no;
  no.stdin_data = "n\n";
  Result declined = server.berth({"prune", "--older-than", "0s"}, no);
  EXPECT_EQ(declined.exit_code, 1);
  EXPECT_NE(declined.err.find("nothing deleted"), std::string::npos);
  EXPECT_EQ(Json::parse(server.berth({"list", "-o", "json"}).out).size(), 3u);

  berth::test::RunOptions yes;
  yes.stdin_data = "y\n";
  Result confirmed = server.berth({"prune", "--older-than=0"}, yes);
  EXPECT_EQ(confirmed.exit_code, 0) << confirmed.err;
  Json left = Json::parse(server.berth({"list", "-o", "json"}).out);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["name"], "b") << "a started workspace is never pruned";

  ASSERT_EQ(server.berth({"stop", "b", "-q"}).exit_code, 0);
  EXPECT_EQ(server.berth({"prune", "--older-than", "0", "--yes"}).exit_code, 0);
  EXPECT_EQ(Json::parse(server.berth({"list", "-o", "json"}).out).size(), 0u);
  expect_failure(server.berth({"prune", "--older-than", "3x"}), 2, "unknown unit 'x'");
}

}  // namespace
