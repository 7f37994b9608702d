// Issue 25: plugins that declare permissions act with a credential of their own, and the server
// holds every request made with it to what the user granted: CLI commands, host binaries.
#include "http_client.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <csignal>
#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

fs::path test_plugin_library() { return berth::test::build_dir() / "tests" / "plugins" / "test_plugin.so"; }

void write_file(const fs::path& path, const std::string& text, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
  fs::permissions(path, mode);
}

// A scoped plugin named name: its commands, its permissions and what else its manifest says.
void drop_in_scoped(const fs::path& home, const std::string& name, const std::string& permissions, const std::string& more = "") {
  fs::create_directories(home / "plugins");
  fs::copy_file(test_plugin_library(), home / "plugins" / (name + ".so"), fs::copy_options::overwrite_existing);
  write_file(home / "plugins" / (name + ".yaml"), "name: " + name + "\nversion: 1.0.0\napi_version: \"1.5\"\ndescription: scoped test plugin\n" +
                                                      "commands:\n  - name: " + name + "-echo\n    summary: list\n  - name: " + name +
                                                      "-stop\n    summary: stop\npermissions: " + permissions + "\n" + more);
}

std::string read_plugins_settings(const fs::path& home) { return berth::test::read_text(home / "plugins.yaml"); }

Json plugin_row(const ServerHome& server, const std::string& name) {
  Result listed = server.berth({"plugin", "list", "-o", "json"});
  for (const auto& row : Json::parse(listed.out)) {
    if (row["kind"] == "plugin" && row["name"] == name) return row;
  }
  return Json();
}

}  // namespace

class Extensions : public ::testing::Test {
 protected:
  berth::HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "", const std::string& token = "") {
    berth::HttpClient client("unix://" + (server.home() / "berth.sock").string());
    if (!body.empty()) client.set_header("Content-Type", "application/json");
    if (!token.empty()) client.set_header("X-Berth-Plugin-Token", token);
    return client.request(method, path, body);
  }
  std::string mint(const std::string& plugin) {
    auto minted = request("POST", "/v1/plugins/" + plugin + "/token", "{}");
    EXPECT_EQ(minted.status, 200) << minted.body;
    return Json::parse(minted.body).value("token", "");
  }
  ServerHome server;
};

TEST_F(Extensions, ManifestMistakesNameTheFileLineAndField) {
  drop_in_scoped(server.home(), "badui", "[workspaces:read]", "ui:\n  dashboard-tab:\n    title: Ports\n    root: ui\n    srcx: index.html\n");
  drop_in_scoped(server.home(), "badperm", "[workspaces:read, everything]");
  drop_in_scoped(server.home(), "jobby", "[]", "jobs:\n  - {id: nightly, schedule: \"61 * * * *\", command: [jobby-echo]}\n");
  drop_in_scoped(server.home(), "nobin", "[host-binaries]", "host:\n  binaries: [bin/missing]\n");
  Json badui = plugin_row(server, "badui");
  EXPECT_EQ(badui.value("status", ""), "broken") << badui.dump();
  EXPECT_NE(badui.value("reason", "").find("badui.yaml:15: ui.dashboard-tab.srcx: unknown key"), std::string::npos) << badui.dump();
  Json badperm = plugin_row(server, "badperm");
  EXPECT_NE(badperm.value("reason", "").find("permissions[1]: 'everything' is not a permission"), std::string::npos) << badperm.dump();
  Json jobby = plugin_row(server, "jobby");
  EXPECT_NE(jobby.value("reason", "").find("jobs[0].schedule: its minute (0-59) field '61'"), std::string::npos) << jobby.dump();
  Json nobin = plugin_row(server, "nobin");
  EXPECT_NE(nobin.value("reason", "").find("its host binary"), std::string::npos) << nobin.dump();
  EXPECT_NE(nobin.value("reason", "").find("missing"), std::string::npos) << nobin.dump();
}

TEST_F(Extensions, APluginCommandIsHeldToWhatWasGranted) {
  drop_in_scoped(server.home(), "sp", "[workspaces:read]");
  // Not granted yet: even reading is refused, naming the permission and what to do.
  Result before = server.berth({"sp-echo"});
  EXPECT_NE(before.exit_code, 0);
  EXPECT_NE(before.err.find("needs the permission 'workspaces:read'"), std::string::npos) << before.err;
  EXPECT_NE(before.err.find("berth plugin enable sp"), std::string::npos) << before.err;
  Json row = plugin_row(server, "sp");
  EXPECT_EQ(row["not_granted"], Json::array({"workspaces:read"})) << row.dump();

  // Enabling shows what it asks for; without a terminal it needs --yes.
  Result refused = server.berth({"plugin", "enable", "sp"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("workspaces:read"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--yes"), std::string::npos) << refused.err;
  Result granted = server.berth({"plugin", "enable", "sp", "--yes"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;

  Result echo = server.berth({"sp-echo"});
  EXPECT_EQ(echo.exit_code, 0) << echo.err;
  EXPECT_NE(echo.out.find("workspaces: 0"), std::string::npos) << echo.out;
  // A write it never asked for: 403 naming the permission, and the plugin's log says so.
  Result stop = server.berth({"sp-stop", "ghost"});
  EXPECT_NE(stop.exit_code, 0);
  EXPECT_NE(stop.err.find("plugin 'sp' needs the permission 'workspaces:write'"), std::string::npos) << stop.err;
  EXPECT_NE(stop.err.find("its manifest does not ask for"), std::string::npos) << stop.err;
  auto log = request("GET", "/v1/plugins/sp/log");
  EXPECT_NE(log.body.find("refused POST /v1/workspaces/ghost/stop: needs permission workspaces:write"), std::string::npos) << log.body;

  // An upgrade that asks for more is held to the old grant until it is granted.
  drop_in_scoped(server.home(), "sp", "[workspaces:read, workspaces:write]");
  Result upgraded = server.berth({"sp-stop", "ghost"});
  EXPECT_NE(upgraded.err.find("it asks for 'workspaces:write' but it was not granted yet"), std::string::npos) << upgraded.err;
  EXPECT_EQ(plugin_row(server, "sp")["not_granted"], Json::array({"workspaces:write"}));
  ASSERT_EQ(server.berth({"plugin", "enable", "sp", "--yes"}).exit_code, 0);
  Result allowed = server.berth({"sp-stop", "ghost"});
  EXPECT_EQ(allowed.err.find("permission"), std::string::npos) << "past the gate, the route itself answers: " << allowed.err;
  EXPECT_NE(allowed.err.find("workspace 'ghost' does not exist"), std::string::npos) << allowed.err;

  // A plugin's credential cannot mint another, nor reach what no plugin may (API keys).
  std::string token = mint("sp");
  EXPECT_EQ(request("POST", "/v1/plugins/sp/token", "{}", token).status, 403);
  EXPECT_EQ(request("GET", "/v1/apikeys", "", token).status, 403);
  EXPECT_EQ(request("GET", "/v1/workspaces", "", "made-up").status, 401);
  // Revoked (as the CLI does once a plugin command ends), it is refused.
  EXPECT_EQ(request("GET", "/v1/workspaces", "", token).status, 200);
  EXPECT_EQ(request("POST", "/v1/plugins/sp/token/revoke", Json{{"token", token}}.dump(), token).status, 403) << "not by the plugin";
  EXPECT_EQ(request("POST", "/v1/plugins/sp/token/revoke", Json{{"token", token}}.dump()).status, 200);
  EXPECT_EQ(request("GET", "/v1/workspaces", "", token).status, 401);
}

TEST_F(Extensions, HostBinariesRunOnlyAsListedWithTheirArgumentsUntouched) {
  fs::path folder = server.home() / "plugins" / "hb";
  write_file(folder / "bin" / "show-args", "#!/bin/sh\nfor a in \"$@\"; do printf '<%s>\\n' \"$a\"; done\npwd\n", fs::perms::owner_all);
  write_file(folder / "bin" / "sleeper", "#!/bin/sh\nexec sleep 30\n", fs::perms::owner_all);
  write_file(folder / "bin" / "unlisted", "#!/bin/sh\necho ran\n", fs::perms::owner_all);
  drop_in_scoped(server.home(), "hb", "[host-binaries]", "host:\n  binaries: [bin/show-args, bin/sleeper]\n");
  ASSERT_EQ(server.berth({"plugin", "enable", "hb", "--yes"}).exit_code, 0);
  std::string token = mint("hb");

  auto ran = request("POST", "/v1/plugins/hb/exec", Json{{"binary", "show-args"}, {"args", {"a b", "$(id)", ";ls"}}}.dump(), token);
  ASSERT_EQ(ran.status, 200) << ran.body;
  Json result = Json::parse(ran.body);
  EXPECT_EQ(result["exit_code"], 0);
  EXPECT_EQ(result["stdout"], "<a b>\n<$(id)>\n<;ls>\n" + (server.home() / "plugin-data" / "hb").string() + "\n") << "no shell saw them";

  auto unlisted = request("POST", "/v1/plugins/hb/exec", Json{{"binary", "unlisted"}}.dump(), token);
  EXPECT_EQ(unlisted.status, 403) << unlisted.body;
  EXPECT_NE(unlisted.body.find("not one of plugin 'hb''s host binaries"), std::string::npos) << unlisted.body;
  auto escape = request("POST", "/v1/plugins/hb/exec", Json{{"binary", "../../../bin/sh"}}.dump(), token);
  EXPECT_EQ(escape.status, 403) << escape.body;

  auto slow = request("POST", "/v1/plugins/hb/exec", Json{{"binary", "sleeper"}, {"timeout", 1}}.dump(), token);
  ASSERT_EQ(slow.status, 200) << slow.body;
  EXPECT_EQ(Json::parse(slow.body)["timed_out"], true) << slow.body;
  EXPECT_EQ(Json::parse(slow.body)["exit_code"], 128 + 9) << slow.body;

  // Another plugin's credential may not run them.
  drop_in_scoped(server.home(), "other", "[host-binaries]");
  ASSERT_EQ(server.berth({"plugin", "enable", "other", "--yes"}).exit_code, 0);
  auto foreign = request("POST", "/v1/plugins/hb/exec", Json{{"binary", "show-args"}}.dump(), mint("other"));
  EXPECT_EQ(foreign.status, 403) << foreign.body;
}

namespace {

Json plugin_api_row(const berth::HttpResponse& listed, const std::string& name) {
  for (const auto& row : Json::parse(listed.body)) {
    if (row["name"] == name) return row;
  }
  return Json();
}

}  // namespace

TEST_F(Extensions, AServiceStartsOnFirstUseIsNamedWhenItCrashesAndIsQuarantinedAfterThree) {
  fs::path folder = server.home() / "plugins" / "svc";
  fs::create_directories(folder / "bin");
  fs::copy_file(berth::test::build_dir() / "tests" / "plugins" / "glance-service", folder / "bin" / "glance-service");
  drop_in_scoped(server.home(), "svc", "[workspaces:read]",
                 "service:\n  path: bin/glance-service\nroutes:\n  - {method: GET, path: /summary}\n"
                 "error_codes:\n  - {code: not-here, status: 410, message: gone}\n");
  // Dropped in but never enabled with its permissions shown: berth runs none of its programs.
  auto unconsented = request("GET", "/v1/plugins/svc/service/load");
  EXPECT_EQ(unconsented.status, 403) << unconsented.body;
  EXPECT_NE(unconsented.body.find("berth plugin enable svc"), std::string::npos) << unconsented.body;
  ASSERT_EQ(server.berth({"plugin", "enable", "svc", "--yes"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "one", "-q"}).exit_code, 0);
  EXPECT_EQ(plugin_api_row(request("GET", "/v1/plugins"), "svc")["service"]["state"], "stopped") << "not before its first use";

  auto load = request("GET", "/v1/plugins/svc/service/load");
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_NE(load.body.find("\"uptime_seconds\""), std::string::npos) << load.body;
  // Served at berth's origin, a service's answer is never run by a browser as berth's page.
  EXPECT_EQ(load.header("content-security-policy"), "sandbox; default-src 'none'; frame-ancestors 'none'");
  // A manifest route, answered by the service, which asks berth with the plugin's credential.
  auto summary = request("GET", "/v1/plugins/svc/summary");
  EXPECT_EQ(summary.status, 200) << summary.body;
  EXPECT_EQ(summary.body, "{\"started\": 1}");
  EXPECT_EQ(request("GET", "/v1/plugins/svc/undeclared").status, 404);
  // An error code the manifest declares is shown as PLUGIN:code with its status.
  auto unknown = request("GET", "/v1/plugins/svc/service/nothing-here");
  EXPECT_EQ(unknown.status, 410) << unknown.body;
  EXPECT_EQ(Json::parse(unknown.body)["error"]["code"], "svc:not-here") << unknown.body;
  // Another plugin's credential does not reach it.
  drop_in_scoped(server.home(), "other", "[workspaces:read]");
  ASSERT_EQ(server.berth({"plugin", "enable", "other", "--yes"}).exit_code, 0);
  EXPECT_EQ(request("GET", "/v1/plugins/svc/service/load", "", mint("other")).status, 403);

  // Three crashes in a minute: each named by its signal, the next start after a back-off, then quarantine.
  for (int crash = 1; crash <= 3; ++crash) {
    int pid = 0;
    ASSERT_TRUE(berth::test::wait_until(
        [&] {
          if (request("GET", "/v1/plugins/svc/service/load").status != 200) return false;
          pid = plugin_api_row(request("GET", "/v1/plugins"), "svc")["service"].value("pid", 0);
          return pid > 0;
        },
        std::chrono::seconds(20)))
        << "crash " << crash << ": the service did not come back";
    ::kill(pid, SIGSEGV);
    std::string expected = crash < 3 ? "crashed" : "quarantined";
    ASSERT_TRUE(berth::test::wait_until([&] { return plugin_api_row(request("GET", "/v1/plugins"), "svc")["service"]["state"] == expected; },
                                        std::chrono::seconds(10)))
        << plugin_api_row(request("GET", "/v1/plugins"), "svc").dump();
  }
  Json row = plugin_api_row(request("GET", "/v1/plugins"), "svc");
  EXPECT_EQ(row["service"]["last_exit"], "was killed by signal 11 (Segmentation fault)") << row.dump();
  EXPECT_EQ(row["service"]["crashes"], 3);
  auto refused = request("GET", "/v1/plugins/svc/service/load");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("quarantined"), std::string::npos) << refused.body;
  Result logs = server.berth({"plugin", "logs", "svc"});
  EXPECT_NE(logs.out.find("quarantined after 3 crashes in a minute"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("service: glance-service listening on"), std::string::npos) << "its own output: " << logs.out;

  // Enabling again lifts the quarantine.
  ASSERT_EQ(server.berth({"plugin", "enable", "svc", "--yes"}).exit_code, 0);
  EXPECT_EQ(request("GET", "/v1/plugins/svc/service/load").status, 200);
}

TEST_F(Extensions, JobsRunOnTheirScheduleKeepTheirOutputAndEndAtTheirTimeout) {
  fs::path folder = server.home() / "plugins" / "jb";
  write_file(folder / "bin" / "say", "#!/bin/sh\necho \"said: $*\"\n", fs::perms::owner_all);
  write_file(folder / "bin" / "sleeper", "#!/bin/sh\nexec sleep 30\n", fs::perms::owner_all);
  drop_in_scoped(server.home(), "jb", "[workspaces:read, host-binaries]",
                 "host:\n  binaries: [bin/say, bin/sleeper]\njobs:\n"
                 "  - {id: tick, schedule: \"* * * * *\", command: [say, hello], timeout: 5}\n"
                 "  - {id: slow, schedule: \"* * * * *\", command: [sleeper], timeout: 1}\n"
                 "  - {id: cli, schedule: \"* * * * *\", command: [jb-echo, from-a-job]}\n"
                 "  - {id: off, schedule: \"* * * * *\", command: [say, never], enabled: false}\n");
  ASSERT_EQ(server.berth({"plugin", "enable", "jb", "--yes"}).exit_code, 0);
  auto runs_of = [&](const std::string& id) {
    for (const auto& job : Json::parse(request("GET", "/v1/plugins/jb/jobs").body)) {
      if (job["id"] == id) return job["runs"];
    }
    return Json::array();
  };
  // The next minute's start runs every enabled job (a minute and a bit at most).
  ASSERT_TRUE(berth::test::wait_until([&] { return !runs_of("tick").empty() && !runs_of("slow").empty() && !runs_of("cli").empty(); },
                                      std::chrono::seconds(75)))
      << request("GET", "/v1/plugins/jb/jobs").body;
  Json tick = runs_of("tick")[0];
  EXPECT_EQ(tick["exit_code"], 0);
  EXPECT_EQ(tick["output"], "said: hello\n");
  EXPECT_EQ(tick["trigger"], "schedule");
  Json slow = runs_of("slow")[0];
  EXPECT_EQ(slow["timed_out"], true) << slow.dump();
  // A job that runs one of the plugin's commands does so through berth, with the plugin's credential.
  Json cli = runs_of("cli")[0];
  EXPECT_EQ(cli["exit_code"], 0) << cli.dump();
  EXPECT_NE(cli["output"].get<std::string>().find("args: [from-a-job]\nworkspaces: 0"), std::string::npos) << cli.dump();
  EXPECT_TRUE(runs_of("off").empty()) << "a disabled job does not run";

  Result table = server.berth({"plugin", "jobs", "jb"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("timed out"), std::string::npos) << table.out;
  // Run by hand, and turned on for the schedule.
  ASSERT_EQ(server.berth({"plugin", "jobs", "jb", "--run", "off"}).exit_code, 0);
  ASSERT_TRUE(berth::test::wait_until([&] { return !runs_of("off").empty(); }, std::chrono::seconds(10)));
  EXPECT_EQ(runs_of("off")[0]["output"], "said: never\n");
  EXPECT_EQ(runs_of("off")[0]["trigger"], "request");
  ASSERT_EQ(server.berth({"plugin", "jobs", "jb", "--enable", "off"}).exit_code, 0);
  Json listed = Json::parse(server.berth({"plugin", "jobs", "jb", "-o", "json"}).out);
  EXPECT_EQ(listed[3]["id"], "off");
  EXPECT_EQ(listed[3]["enabled"], true) << "the user's choice, kept in plugins.yaml: " << read_plugins_settings(server.home());
  Result missing = server.berth({"plugin", "jobs", "jb", "--enable", "nope"});
  EXPECT_NE(missing.err.find("plugin 'jb' has no job 'nope'"), std::string::npos) << missing.err;
}
