// The docker provider's warm pool (`pool: N`) on the private engine: containers made in the
// background, handed out by create, refilled, adopted after a server kill -9 without leaks,
// drained by target remove. Checked by asking the engine itself.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

using berth::test::docker;
using berth::test::engine_address;

// Lines of output, empty ones left out.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

class PoolDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = engine_address();
    if (address_.rfind("unavailable", 0) == 0) return;
    berth::test::RunOptions yaml;
    yaml.stdin_data = "name: warm\nprovider: docker\nproperties:\n  host: " + address_ +
                      "\n  image: berth-test:busybox\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n  pool: \"2\"\n";
    Result added = server_.berth({"target", "add", "-f", "-"}, yaml);
    ASSERT_EQ(added.exit_code, 0) << added.err;
  }
  // This home's containers on the engine (other tests share it): pool ones or all.
  std::vector<std::string> containers(bool pool_only, bool running_only = true) {
    std::string identity = berth::test::read_text(server_.home() / "provider-data/docker/identity");
    while (!identity.empty() && identity.back() == '\n') identity.pop_back();
    std::vector<std::string> args{"ps", "-q", "--filter", "label=dev.berth.identity=" + identity};
    if (!running_only) args.insert(args.begin() + 1, "-a");
    // Still the pool's: named berth-ID-pool_X (a handed-out one is renamed, its labels stay).
    if (pool_only) args.insert(args.end(), {"--filter", "name=-pool_"});
    return lines_of(docker(address_, args).out);
  }
  std::vector<std::string> pool_volumes() {
    std::string identity = berth::test::read_text(server_.home() / "provider-data/docker/identity");
    while (!identity.empty() && identity.back() == '\n') identity.pop_back();
    return lines_of(docker(address_, {"volume", "ls", "-q", "--filter", "label=dev.berth.identity=" + identity, "--filter",
                                      "name=-pool_"}).out);
  }
  bool pool_holds(size_t count) {
    return berth::test::wait_until([&] { return containers(true).size() == count; }, std::chrono::seconds(30));
  }
  std::string in(const std::string& name, const std::string& line) {
    Result result = server_.berth({"exec", name, "--", "/bin/sh", "-c", line});
    EXPECT_EQ(result.exit_code, 0) << line << ": " << result.err;
    std::string out = result.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  ServerHome server_;
  std::string address_;
};

TEST_F(PoolDocker, CreateTakesAWarmContainerAndThePoolRefillsAndDrains) {
  REQUIRE_ENGINE(address);
  // berth doctor asks the target, which starts filling the pool, and says how full it is.
  Result doctor = server_.berth({"doctor"});
  EXPECT_NE(doctor.out.find("pool: "), std::string::npos) << doctor.out << doctor.err;
  ASSERT_TRUE(pool_holds(2)) << "the pool fills to 2 in the background";

  berth::test::TempDir scratch;
  auto repo = berth::test::make_git_repo(scratch.path() / "repo", "pooled");
  Result created = server_.berth({"create", "w1", "--target", "warm", "--repo", repo.string(), "--env", "FAVOURITE=blue"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(server_.berth({"logs", "w1"}).out.find("from the warm pool"), std::string::npos) << server_.berth({"logs", "w1"}).out;
  EXPECT_EQ(in("w1", "pwd"), "/workspaces/w1");
  EXPECT_EQ(in("w1", "cat README.md"), "hello from the repo") << "the repository is in the workspace folder";
  EXPECT_EQ(in("w1", "echo $FAVOURITE"), "blue") << "create --env reaches a container made before the workspace";
  ASSERT_TRUE(pool_holds(2)) << "the pool refills after a hand-out: " << containers(true).size() << server_.berth({"doctor"}).out;

  // A server killed mid-life: its pool's containers are adopted by the next server's first
  // use, never left behind: after a create and the refill, 2 pool containers and 2 workspaces.
  server_.kill_hard();
  server_.start();
  Result again = server_.berth({"create", "w2", "--target", "warm"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(server_.berth({"logs", "w2"}).out.find("from the warm pool"), std::string::npos) << "adopted after the restart";
  ASSERT_TRUE(pool_holds(2));
  EXPECT_TRUE(berth::test::wait_until([&] { return containers(false, false).size() == 4; }, std::chrono::seconds(10)))
      << containers(false, false).size() << " containers of this home: 2 pool + w1 + w2 expected";

  // Delete removes a pooled workspace's volume; target remove drains the pool.
  ASSERT_EQ(server_.berth({"delete", "w1", "w2"}).exit_code, 0);
  Result removed = server_.berth({"target", "remove", "warm"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_TRUE(containers(true, false).empty()) << "target remove drains the pool";
  EXPECT_TRUE(pool_volumes().empty()) << "and its volumes";
  EXPECT_TRUE(containers(false, false).empty());
}

}  // namespace
