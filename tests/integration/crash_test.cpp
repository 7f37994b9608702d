// kill -9 of the server in the middle of a burst of creates, then a restart: every record
// parses, none that was acknowledged is lost, no transitional state survives reconciliation.
#include "api_client.hpp"
#include "codec.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using berth::test::ServerHome;

namespace {

TEST(Crash, KillDuringCreateBurstLosesNothingAcknowledged) {
  ServerHome server;
  std::string socket = "unix://" + (server.home() / "berth.sock").string();
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      berth::ApiClient client(berth::Endpoint{socket, ""});
      for (int i = 0; i < 500 && !stop; ++i) {
        std::string name = "w" + std::to_string(c) + "-" + std::to_string(i);
        try {
          auto reply = client.call("POST", "/v1/workspaces", berth::Json{{"name", name}}.dump());
          if (reply.status == 202) {
            std::lock_guard lock(mutex);
            acknowledged.insert(name);
          }
        } catch (const berth::Error&) {
          return;  // the server is gone
        }
      }
    });
  }
  ASSERT_TRUE(berth::test::wait_until([&] {
    std::lock_guard lock(mutex);
    return acknowledged.size() >= 40;
  }, std::chrono::seconds(60)));
  server.kill_hard();
  stop = true;
  for (auto& client : clients) client.join();

  // Every file on disk is a whole record, before the restart touches anything.
  size_t records = 0;
  for (const auto& entry : fs::directory_iterator(server.home() / "workspaces")) {
    std::string name = entry.path().filename().string();
    if (name[0] == '.') continue;  // a leftover temp file of an interrupted write
    EXPECT_NO_THROW(berth::workspace_from_yaml(berth::test::read_text(entry.path()), entry.path().string())) << name;
    ++records;
  }
  EXPECT_GE(records, acknowledged.size());

  server.start();
  // The server answers at once; reconcile settles the interrupted creates behind it.
  std::vector<berth::Workspace> list;
  EXPECT_TRUE(berth::test::wait_until(
      [&] {
        list = berth::ApiClient(berth::Endpoint{socket, ""}).list_workspaces();
        return std::all_of(list.begin(), list.end(), [](const auto& w) { return w.operation.empty(); });
      },
      std::chrono::seconds(30)));
  std::set<std::string> present;
  for (const auto& workspace : list) {
    present.insert(workspace.name);
    EXPECT_FALSE(berth::is_transitional(workspace.state)) << workspace.name << " is " << berth::to_string(workspace.state);
    EXPECT_TRUE(workspace.operation.empty()) << workspace.name;
  }
  for (const auto& name : acknowledged) EXPECT_TRUE(present.count(name)) << "acknowledged workspace " << name << " was lost";
  for (const auto& entry : fs::directory_iterator(server.home() / "workspaces")) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << "leftover temp files are cleaned at start-up";
  }
}

// SIGTERM while creates are still inside their provider (held at a gate that never opens):
// the server ends them within its grace period and records each as an error that says why,
// never leaving a record in a transitional state.
TEST(Crash, GracefulStopLeavesNoTransitionalState) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  berth::test::TempDir scratch;
  ASSERT_EQ(server.add_target("name: held\nprovider: flaky\nproperties:\n  gate: " + (scratch.path() / "never").string() +
                              "\n  gate_on: create\n")
                .exit_code,
            0);
  std::string socket = "unix://" + (server.home() / "berth.sock").string();
  berth::ApiClient client(berth::Endpoint{socket, ""});
  for (int i = 0; i < 5; ++i) {
    client.call("POST", "/v1/workspaces", berth::Json{{"name", "g" + std::to_string(i)}, {"target", "held"}}.dump());
  }
  ASSERT_TRUE(berth::test::wait_until(
      [&] {
        for (int i = 0; i < 5; ++i) {
          std::string log = berth::test::read_text(server.home() / "logs" / "workspaces" / ("g" + std::to_string(i) + ".log"));
          if (log.find("waiting for gate") == std::string::npos) return false;
        }
        return true;
      },
      std::chrono::seconds(20)));
  server.stop();  // SIGTERM while every create waits inside the provider
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(server.home() / "workspaces")) {
    auto workspace = berth::workspace_from_yaml(berth::test::read_text(entry.path()), entry.path().string());
    ++seen;
    EXPECT_EQ(workspace.state, berth::WorkspaceState::error) << workspace.name << " is " << berth::to_string(workspace.state);
    EXPECT_TRUE(workspace.operation.empty()) << workspace.name;
    EXPECT_NE(workspace.last_error.find("was stopped during create: berth-server is shutting down"), std::string::npos) << workspace.last_error;
  }
  EXPECT_EQ(seen, 5);
}

}  // namespace
