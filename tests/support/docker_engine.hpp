#pragma once
// The private Docker engine the Docker tests share (tests/docker_fixture.sh starts it and writes
// its status to BERTH_DOCKER_STATUS, which each test target defines): its address, the docker
// CLI against it, and REQUIRE_ENGINE, which skips a test without an engine (fails it in CI).
#include "test_support.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace berth::test {

// The engine's address, or "unavailable: why".
inline std::string engine_address() {
  std::string status = read_text(BERTH_DOCKER_STATUS);
  if (status.rfind("ok ", 0) == 0) {
    std::string address = status.substr(3);
    while (!address.empty() && (address.back() == '\n' || address.back() == ' ')) address.pop_back();
    return address;
  }
  return "unavailable: " + (status.empty() ? std::string("the docker_engine_start fixture did not run") : status);
}

// The docker CLI against that engine.
inline Result docker(const std::string& address, std::vector<std::string> args) {
  args.insert(args.begin(), {"docker", "-H", address});
  return run_program(args);
}

}  // namespace berth::test

#define REQUIRE_ENGINE(address)                                 \
  std::string address = berth::test::engine_address();          \
  if (address.rfind("unavailable", 0) == 0) {                   \
    const char* ci = std::getenv("CI");                         \
    if (ci && std::string(ci) == "true") FAIL() << address;     \
    GTEST_SKIP() << address;                                    \
  }
