// A docker target with several engines (`hosts:`): creates go to the engine with the most free
// capacity, an unreachable engine is skipped at create and named by berth doctor. Two private
// engines of the test's own (scripts/docker-engine), checked by asking each engine itself.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

using berth::test::docker;

// A private engine with only the busybox image, stopped at the end of the test.
class OwnEngine {
 public:
  OwnEngine() {
    berth::test::RunOptions options;
    options.env = {{"BERTH_TEST_IMAGES", "busybox"}};
    Result started = berth::test::run_program({(berth::test::source_dir() / "scripts/docker-engine").string(), "start", dir_.path().string()}, options);
    address_ = started.exit_code == 0 ? started.out.substr(0, started.out.find('\n')) : "";
    problem_ = started.err;
  }
  ~OwnEngine() { stop(); }
  void stop() {
    if (stopped_) return;
    berth::test::run_program({(berth::test::source_dir() / "scripts/docker-engine").string(), "stop", dir_.path().string()});
    stopped_ = true;
  }
  const std::string& address() const { return address_; }
  const std::string& problem() const { return problem_; }

 private:
  berth::test::TempDir dir_;
  std::string address_, problem_;
  bool stopped_ = false;
};

TEST(PlacementDocker, CreatesGoToTheFreerEngineAndSkipAStoppedOne) {
  REQUIRE_ENGINE(fixture);  // the suite's own engine says whether Docker works here
  OwnEngine a, b;
  ASSERT_FALSE(a.address().empty()) << a.problem();
  ASSERT_FALSE(b.address().empty()) << b.problem();
  ServerHome server;
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: multi\nprovider: docker\nproperties:\n  hosts: " + a.address() + ", " + b.address() +
                    "\n  image: berth-test:busybox\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n";
  Result added = server.berth({"target", "add", "-f", "-"}, yaml);
  ASSERT_EQ(added.exit_code, 0) << added.err;

  // Fill engine a: two running containers of someone else's. The next create goes to b.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(docker(a.address(), {"run", "-d", "--network", "none", "berth-test:busybox", "sleep", "600"}).exit_code, 0);
  }
  Result first = server.berth({"create", "m1", "--target", "multi"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  Result info = server.berth({"info", "m1", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(Json::parse(info.out)["provider_data"]["docker_host"], b.address()) << "the engine with fewer running containers";
  EXPECT_EQ(docker(b.address(), {"ps", "-q", "--filter", "label=dev.berth.workspace=m1"}).out.empty(), false) << "made on b, as recorded";
  EXPECT_EQ(server.berth({"exec", "m1", "--", "true"}).exit_code, 0) << "later operations go to the recorded engine";
  Result doctor_ok = server.berth({"doctor"});
  EXPECT_NE(doctor_ok.out.find("2 engines answer"), std::string::npos) << doctor_ok.out;

  // b stops: creates still succeed, on a, and doctor names b.
  b.stop();
  Result second = server.berth({"create", "m2", "--target", "multi"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(server.berth({"logs", "m2"}).out.find("engine " + b.address() + " skipped"), std::string::npos) << server.berth({"logs", "m2"}).out;
  Result placed = server.berth({"info", "m2", "-o", "json"});
  EXPECT_EQ(Json::parse(placed.out)["provider_data"]["docker_host"], a.address());
  Result doctor = server.berth({"doctor"});
  EXPECT_NE(doctor.exit_code, 0);
  EXPECT_NE(doctor.out.find("unreachable engine(s): " + b.address()), std::string::npos) << doctor.out;

  EXPECT_EQ(server.berth({"delete", "m2"}).exit_code, 0);
  server.berth({"delete", "--force", "m1"});
}

}  // namespace
