// Live state on the private engine: containers killed, paused, removed behind berth's back with
// the engine's own docker CLI show in `berth list` (which reads berth's records only) within a
// second, through the docker provider's watch of the engine's /events.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>

using berth::test::docker;
using berth::test::Result;
using berth::test::ServerHome;
using berth::test::wait_until;
using Json = nlohmann::json;

namespace {

constexpr auto kWithinASecond = std::chrono::seconds(1);

void add_docker_target(const ServerHome& server, const std::string& address) {
  Result added = server.add_target("name: dock\nprovider: docker\nproperties:\n  host: " + address +
                                   "\n  image: berth-test:busybox\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
}

Json listed(const ServerHome& server, const std::string& name) {
  Result list = server.berth({"list", "-o", "json"});
  if (list.exit_code != 0) return Json{{"state", "list failed: " + list.err}};
  for (const auto& workspace : Json::parse(list.out)) {
    if (workspace.value("name", "") == name) return workspace;
  }
  return Json{{"state", "missing"}};
}

std::string state_in_list(const ServerHome& server, const std::string& name) { return listed(server, name).value("state", ""); }

std::string container_of(const ServerHome& server, const std::string& name) {
  Result info = server.berth({"info", name, "-o", "json"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  return Json::parse(info.out)["provider_data"].value("container_id", "");
}

// Waits for `state` in berth list; says how long it took, and fails past the deadline.
void expect_listed_within(const ServerHome& server, const std::string& name, const std::string& state,
                          std::chrono::milliseconds deadline, const std::string& after) {
  auto began = std::chrono::steady_clock::now();
  bool seen = wait_until([&] { return state_in_list(server, name) == state; }, deadline);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
  EXPECT_TRUE(seen) << after << ": berth list says " << state_in_list(server, name) << " after " << took.count() << " ms, not "
                    << state << "; " << server.server_log();
  std::cout << after << ": berth list showed " << state << " after " << took.count() << " ms" << std::endl;
}

}  // namespace

TEST(LiveState, AContainerKilledBehindBerthsBackShowsStoppedWithinASecond) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_docker_target(server, address);
  ASSERT_EQ(server.berth({"create", "live", "--target", "dock"}).exit_code, 0);
  std::string id = container_of(server, "live");
  ASSERT_FALSE(id.empty());

  ASSERT_EQ(docker(address, {"kill", id}).exit_code, 0);
  expect_listed_within(server, "live", "stopped", kWithinASecond, "docker kill");
  std::string log = server.berth({"logs", "live"}).out;
  EXPECT_NE(log.find("found stopped outside berth: container died (exit code 137)"), std::string::npos) << log;

  // berth's own stop and start are never undone by the events they cause.
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(server.berth({"start", "live"}).exit_code, 0);
    ASSERT_EQ(server.berth({"stop", "live"}).exit_code, 0);
  }
  ASSERT_EQ(server.berth({"start", "live"}).exit_code, 0);
  EXPECT_FALSE(wait_until([&] { return state_in_list(server, "live") != "started"; }, kWithinASecond))
      << "berth's own operations were taken for changes outside berth: " << state_in_list(server, "live");
  Result ran = server.berth({"exec", "live", "--", "true"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(server.berth({"delete", "live"}).exit_code, 0);
}

TEST(LiveState, PausedAndUnpausedBehindBerthsBack) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_docker_target(server, address);
  ASSERT_EQ(server.berth({"create", "frozen", "--target", "dock"}).exit_code, 0);
  std::string id = container_of(server, "frozen");

  ASSERT_EQ(docker(address, {"pause", id}).exit_code, 0);
  expect_listed_within(server, "frozen", "paused", kWithinASecond, "docker pause");
  Result refused = server.berth({"exec", "frozen", "--", "true"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("workspace 'frozen' is paused (outside berth); resume it: berth start frozen"), std::string::npos) << refused.err;

  ASSERT_EQ(docker(address, {"unpause", id}).exit_code, 0);
  expect_listed_within(server, "frozen", "started", kWithinASecond, "docker unpause");

  // Paused again, berth start resumes it, and berth stop stops a paused one.
  ASSERT_EQ(docker(address, {"pause", id}).exit_code, 0);
  expect_listed_within(server, "frozen", "paused", kWithinASecond, "docker pause again");
  Result started = server.berth({"start", "frozen"});
  EXPECT_EQ(started.exit_code, 0) << started.err;
  EXPECT_EQ(server.berth({"exec", "frozen", "--", "true"}).exit_code, 0);
  ASSERT_EQ(docker(address, {"pause", id}).exit_code, 0);
  expect_listed_within(server, "frozen", "paused", kWithinASecond, "docker pause a third time");
  Result stopped = server.berth({"stop", "frozen"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(state_in_list(server, "frozen"), "stopped");
  EXPECT_EQ(server.berth({"delete", "frozen"}).exit_code, 0);
}

TEST(LiveState, AContainerRemovedBehindBerthsBackShowsErrorAndDeletes) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_docker_target(server, address);
  ASSERT_EQ(server.berth({"create", "vanished", "--target", "dock"}).exit_code, 0);
  std::string id = container_of(server, "vanished");

  ASSERT_EQ(docker(address, {"rm", "-f", id}).exit_code, 0);
  expect_listed_within(server, "vanished", "error", kWithinASecond, "docker rm -f");
  Json record = listed(server, "vanished");
  EXPECT_NE(record.value("last_error", "").find("container gone: it was removed outside berth (changed outside berth); delete the workspace: berth delete vanished"),
            std::string::npos)
      << record.dump();
  Result deleted = server.berth({"delete", "vanished"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(state_in_list(server, "vanished"), "missing");
}

TEST(LiveState, WhatChangedWhileTheServerWasDownIsCaughtUpOnAtStart) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_docker_target(server, address);
  ASSERT_EQ(server.berth({"create", "asleep", "--target", "dock"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "removed", "--target", "dock"}).exit_code, 0);
  std::string asleep = container_of(server, "asleep");
  std::string removed = container_of(server, "removed");
  server.stop();
  ASSERT_EQ(docker(address, {"stop", "-t", "1", asleep}).exit_code, 0);
  ASSERT_EQ(docker(address, {"rm", "-f", removed}).exit_code, 0);
  server.start();
  // The watch starts after the server listens, and reports each container's state at connect.
  expect_listed_within(server, "asleep", "stopped", std::chrono::seconds(5), "docker stop while the server was down");
  expect_listed_within(server, "removed", "error", std::chrono::seconds(5), "docker rm while the server was down");
  EXPECT_EQ(server.berth({"delete", "asleep"}).exit_code, 0);
  EXPECT_EQ(server.berth({"delete", "removed"}).exit_code, 0);
}
