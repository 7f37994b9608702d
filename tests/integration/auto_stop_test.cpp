// Idle auto-stop and auto-delete (issue 27) on the host provider, through the real server: an
// idle workspace is stopped with the reason in its log; one running a CPU-busy loop in the
// background, one with an open exec, one created --keep-alive and one labelled berth.keep-alive
// are not; auto_delete removes one stopped long enough. The waits are on conditions: the
// server's own activity report says when it has looked at a workspace again.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

std::string state_of(const ServerHome& server, const std::string& name) {
  Result info = server.berth({"info", name, "-o", "json"});
  if (info.exit_code != 0) return "gone";
  return Json::parse(info.out).value("state", "");
}

Json activity_of(const ServerHome& server, const std::string& name) {
  std::string answer = berth::test::send_raw(server.home() / "berth.sock",
                                             "GET /v1/workspaces/" + name + "/activity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                             std::chrono::seconds(10));
  size_t body = answer.find("\r\n\r\n");
  if (body == std::string::npos) return Json::object();
  try {
    return Json::parse(answer.substr(body + 4));
  } catch (const std::exception&) {
    return Json::object();
  }
}

TEST(AutoStop, AnIdleWorkspaceStopsAndBusyOrHeldOrKeptOnesDoNot) {
  ServerHome server;
  // 6 s on the target, so the busy and held ones are busy and held well before theirs runs out
  // on a loaded machine; 2 s for the idle one (--auto-stop overrides the target's).
  ASSERT_EQ(server.add_target("name: quick\nprovider: host\nproperties:\n  auto_stop: 6s\n").exit_code, 0);
  // Background work that outlives its exec: a CPU-busy loop (HUP ignored before it is forked:
  // the host provider hangs up on what an ended exec left in its group).
  ASSERT_EQ(server.berth({"create", "busy", "--target", "quick"}).exit_code, 0);
  Result loop = server.berth({"exec", "busy", "--", "sh", "-c", "trap '' HUP; sh -c 'while :; do :; done' >/dev/null 2>&1 &"});
  ASSERT_EQ(loop.exit_code, 0) << loop.err;
  // An exec that stays open (as a session or an editor would).
  ASSERT_EQ(server.berth({"create", "held", "--target", "quick"}).exit_code, 0);
  berth::test::RunOptions with_home;
  with_home.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
  int held = berth::test::spawn_program({berth::test::berth_binary().string(), "exec", "held", "--", "sleep", "600"}, with_home);
  ASSERT_TRUE(berth::test::wait_until([&] { return activity_of(server, "held").value("open_streams", 0) == 1; }, std::chrono::seconds(20)));
  ASSERT_EQ(server.berth({"create", "kept", "--target", "quick", "--keep-alive"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "labelled", "--target", "quick", "--label", "berth.keep-alive=true"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "idle", "--target", "quick", "--auto-stop", "2s"}).exit_code, 0);

  // (The busy one is shown: the idle one may already be stopping.)
  Result shown = server.berth({"info", "busy"});
  EXPECT_NE(shown.out.find("auto-stop:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(" 6s ("), std::string::npos) << "the target's auto_stop: " << shown.out;
  EXPECT_EQ(activity_of(server, "idle").value("auto_stop", ""), "2s") << "the workspace's own --auto-stop";

  ASSERT_TRUE(berth::test::wait_until([&] { return state_of(server, "idle") == "stopped"; }, std::chrono::seconds(60)))
      << "the idle one stops: " << state_of(server, "idle");
  Result log = server.berth({"logs", "idle"});
  EXPECT_NE(log.out.find("auto-stop: idle for"), std::string::npos) << log.out;
  // The busy one has been looked at since with its CPU rising, for longer than its auto_stop.
  double first = -1;
  ASSERT_TRUE(berth::test::wait_until(
      [&] {
        Json seen = activity_of(server, "busy");
        if (!seen.contains("cpu_seconds") || !seen["cpu_seconds"].is_number()) return false;
        if (first < 0) first = seen["cpu_seconds"].get<double>();
        return seen["cpu_seconds"].get<double>() > first + 7.0;  // seven seconds of CPU: past 6 s of auto_stop
      },
      std::chrono::seconds(120)))
      << activity_of(server, "busy").dump();
  EXPECT_EQ(state_of(server, "busy"), "started") << "long background work is activity";
  EXPECT_EQ(state_of(server, "held"), "started") << "an open exec is activity";
  EXPECT_EQ(state_of(server, "kept"), "started") << "--keep-alive";
  EXPECT_EQ(state_of(server, "labelled"), "started") << "berth.keep-alive";
  EXPECT_LT(activity_of(server, "busy").value("idle_seconds", 99), 6) << activity_of(server, "busy").dump();

  // The exec ends: that one is idle now, and stops.
  ::kill(held, SIGTERM);
  EXPECT_TRUE(berth::test::wait_until([&] { return ::waitpid(held, nullptr, WNOHANG) == held; }, std::chrono::seconds(20)));
  EXPECT_TRUE(berth::test::wait_until([&] { return state_of(server, "held") == "stopped"; }, std::chrono::seconds(60)));
  // Stopping the busy one ends the loop its exec left running.
  ASSERT_EQ(server.berth({"stop", "busy"}).exit_code, 0);
  EXPECT_NE(server.berth({"logs", "busy"}).out.find("process(es) that commands left running"), std::string::npos);
}

TEST(AutoStop, AutoDeleteRemovesAWorkspaceStoppedLongEnoughAndBadValuesAreRefused) {
  ServerHome server;
  ASSERT_EQ(server.add_target("name: brief\nprovider: host\nproperties:\n  auto_stop: 1s\n  auto_delete: 2s\n").exit_code, 0);
  ASSERT_EQ(server.berth({"create", "brief-one", "--target", "brief"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "brief-kept", "--target", "brief", "--keep-alive"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "brief-kept"}).exit_code, 0);
  ASSERT_TRUE(berth::test::wait_until([&] { return state_of(server, "brief-one") == "gone"; }, std::chrono::seconds(60)))
      << "stopped when idle, then deleted: " << state_of(server, "brief-one");
  EXPECT_EQ(state_of(server, "brief-kept"), "stopped") << "--keep-alive keeps it from auto-delete too";
  EXPECT_NE(server.server_log().find("brief-one: auto-delete: stopped for"), std::string::npos) << server.server_log();

  Result bad = server.add_target("name: odd\nprovider: host\nproperties:\n  auto_stop: soon\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("<stdin>:4: property 'auto_stop' must be a duration"), std::string::npos) << bad.err;
  Result flag = server.berth({"create", "odd", "--auto-stop", "5y"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("--auto-stop '5y' must be a duration"), std::string::npos) << flag.err;
  std::string body = Json{{"name", "odd"}, {"options", {{"auto_stop", "forever"}}}}.dump();
  std::string raw = berth::test::send_raw(server.home() / "berth.sock",
                                          "POST /v1/workspaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                                          std::chrono::seconds(10));
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw.substr(0, 300);
  EXPECT_NE(raw.find("option auto_stop 'forever' must be a duration"), std::string::npos) << raw;
}

}  // namespace
