// Provider watches (SDK 1.3) over the provider protocol, with real .so providers in real hosts:
// one that watches (tests/providers/watching_provider.cpp), one that does not implement it, and
// one built against SDK 1.2's headers, whose vtable has no slot for it.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <fstream>
#include <regex>

namespace fs = std::filesystem;
using berth::test::drop_in_provider;
using berth::test::provider_manifest;
using berth::test::read_text;
using berth::test::Result;
using berth::test::ServerHome;
using berth::test::test_provider;
using berth::test::wait_until;
using Json = nlohmann::json;

namespace {

std::string state_of(const ServerHome& server, const std::string& name) {
  Result listed = server.berth({"list", "-o", "json"});
  if (listed.exit_code != 0) return "list failed: " + listed.err;
  for (const auto& workspace : Json::parse(listed.out)) {
    if (workspace.value("name", "") == name) return workspace.value("state", "");
  }
  return "missing";
}

// The pids of the hosts the provider log says were started, in order.
std::vector<int> host_pids(const ServerHome& server, const std::string& provider) {
  std::string log = read_text(server.home() / "logs" / "providers" / (provider + ".log"));
  std::vector<int> pids;
  std::regex started("started host pid ([0-9]+)");
  for (std::sregex_iterator it(log.begin(), log.end(), started), end; it != end; ++it) pids.push_back(std::stoi((*it)[1]));
  return pids;
}

void write_word(const fs::path& file, const std::string& word) {
  std::ofstream(file.string() + ".tmp") << word << "\n";
  fs::rename(file.string() + ".tmp", file);
}

// Creates `names` on a fresh target of `provider`, and waits until the server noted what the
// provider's watch said of itself.
void expect_no_watch_and_nothing_broken(ServerHome& server, const std::string& provider, const std::string& note) {
  ASSERT_EQ(server.add_target("name: t\nprovider: " + provider + "\n").exit_code, 0);
  ASSERT_EQ(server.berth({"create", "w1", "--target", "t"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return server.server_log().find(note) != std::string::npos; }, std::chrono::seconds(10)))
      << "the server never noted that " << provider << " does not watch: " << server.server_log();
  // Everything else works as before, on the same host process: the watch crashed nothing and
  // is not retried in a loop.
  EXPECT_EQ(server.berth({"stop", "w1"}).exit_code, 0);
  EXPECT_EQ(server.berth({"start", "w1"}).exit_code, 0);
  Result ran = server.berth({"exec", "w1", "--", "echo", "hi"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(state_of(server, "w1"), "started");
  ASSERT_EQ(server.berth({"create", "w2", "--target", "t"}).exit_code, 0);
  EXPECT_EQ(host_pids(server, provider).size(), 1u) << read_text(server.home() / "logs" / "providers" / (provider + ".log"));
  std::string provider_log = read_text(server.home() / "logs" / "providers" / (provider + ".log"));
  EXPECT_EQ(provider_log.find("crashed"), std::string::npos) << provider_log;
  EXPECT_EQ(server.berth({"delete", "w1"}).exit_code, 0);
  EXPECT_EQ(server.berth({"delete", "w2"}).exit_code, 0);
  EXPECT_EQ(server.server_log().find("watch of provider " + provider + " ended"), std::string::npos) << server.server_log();
}

}  // namespace

TEST(Watch, AProviderWithoutAWatchChangesNothingAndBreaksNothing) {
  ServerHome server(ServerHome::Start::later);
  drop_in_provider(server.home(), test_provider("flaky_provider"), "flaky", provider_manifest("flaky"));
  server.start();
  expect_no_watch_and_nothing_broken(server, "flaky",
                                     "provider flaky does not watch its infrastructure: this provider does not watch its infrastructure "
                                     "(it does not implement Provider::watch)");
}

TEST(Watch, AProviderBuiltAgainstSdk12IsNeverCalledForAWatch) {
  ServerHome server(ServerHome::Start::later);
  drop_in_provider(server.home(), test_provider("old_sdk_provider"), "oldsdk", provider_manifest("oldsdk", "0.1.0", "1.2"));
  server.start();
  Result listed = server.berth({"provider", "info", "oldsdk", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"loaded\""), std::string::npos) << "a 1.2 library loads in a 1.3 host: " << listed.out;
  expect_no_watch_and_nothing_broken(server, "oldsdk", "this provider was built against SDK 1.2, which has no Provider::watch (SDK 1.3)");
}

// Issue 22: a call left to end by itself needs other calls to spare; a watch, which runs as
// long as its host, is not one: an exec deaf to its deadline still ends its host.
TEST(Watch, ADeafCallIsKilledWithItsHostEvenWhileAWatchRuns) {
  ServerHome server(ServerHome::Start::later);
  drop_in_provider(server.home(), test_provider("watching_provider"), "watching", provider_manifest("watching"));
  server.start();
  berth::test::TempDir states;
  ASSERT_EQ(server.add_target("name: t\nprovider: watching\nproperties:\n  state_dir: " + states.path().string() + "\n  exec_timeout: \"1\"\n").exit_code,
            0);
  ASSERT_EQ(server.berth({"create", "w", "--target", "t"}).exit_code, 0);
  fs::path watched = states.path() / ".watched";
  ASSERT_TRUE(wait_until([&] { return read_text(watched).find("w") != std::string::npos; }, std::chrono::seconds(30)));
  std::ofstream(states.path() / "w") << "deaf\n";
  Result exec = server.berth({"exec", "w", "--", "true"});
  EXPECT_NE(exec.exit_code, 0);
  EXPECT_NE(exec.err.find("exec timed out after 1 s (the target's exec_timeout); it did not return within 1 s of being asked to end"),
            std::string::npos)
      << exec.err;
  std::string log = read_text(server.home() / "logs" / "providers" / "watching.log");
  EXPECT_NE(log.find("was killed by berth (exec timed out after 1 s"), std::string::npos) << log;
  EXPECT_EQ(log.find("left to end by itself"), std::string::npos) << log;
}

TEST(Watch, ReportedChangesReachTheRecordsOverTheProtocol) {
  ServerHome server(ServerHome::Start::later);
  berth::test::TempDir states;
  drop_in_provider(server.home(), test_provider("watching_provider"), "watching", provider_manifest("watching"));
  server.start();
  ASSERT_EQ(server.add_target("name: t\nprovider: watching\nproperties:\n  state_dir: " + states.path().string() + "\n").exit_code, 0);
  for (const char* name : {"a", "b", "c"}) ASSERT_EQ(server.berth({"create", name, "--target", "t"}).exit_code, 0);
  fs::path watched = states.path() / ".watched";
  ASSERT_TRUE(wait_until([&] { return read_text(watched) == "a\nb\nc\n"; }, std::chrono::seconds(5)))
      << "the watch was given: " << read_text(watched);

  // Behind berth's back: each change shows in berth list, from the records, within a second.
  for (const char* word : {"stopped", "paused", "started", "gone"}) {
    std::string expected = std::string(word) == "gone" ? "error" : word;
    write_word(states.path() / "a", word);
    EXPECT_TRUE(wait_until([&] { return state_of(server, "a") == expected; }, std::chrono::seconds(1)))
        << word << ": a is " << state_of(server, "a");
  }
  EXPECT_EQ(state_of(server, "b"), "started") << "a change of one workspace touches no other";
  Json a = Json::parse(server.berth({"info", "a", "-o", "json"}).out);
  EXPECT_NE(a.value("last_error", "").find("the watch saw gone (changed outside berth)"), std::string::npos) << a.dump();

  // A deleted workspace leaves the watched set; the record on disk says what the list says.
  ASSERT_EQ(server.berth({"delete", "c"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return read_text(watched) == "a\nb\n"; }, std::chrono::seconds(5))) << read_text(watched);
  write_word(states.path() / "b", "stopped");
  ASSERT_TRUE(wait_until([&] { return state_of(server, "b") == "stopped"; }, std::chrono::seconds(1)));
  EXPECT_NE(read_text(server.home() / "workspaces" / "b.yaml").find("state: stopped"), std::string::npos);

  // The provider's host dies: the watch comes back with a new host, and catches up on what
  // changed meanwhile.
  std::vector<int> hosts = host_pids(server, "watching");
  ASSERT_FALSE(hosts.empty());
  ASSERT_EQ(::kill(hosts.back(), SIGKILL), 0);
  write_word(states.path() / "b", "paused");
  EXPECT_TRUE(wait_until([&] { return state_of(server, "b") == "paused"; }, std::chrono::seconds(10)))
      << "b is " << state_of(server, "b") << "; " << server.server_log();
  EXPECT_GE(host_pids(server, "watching").size(), 2u);
  Result resumed = server.berth({"start", "b"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(state_of(server, "b"), "started");
}
