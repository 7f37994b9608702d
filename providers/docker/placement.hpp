#pragma once
// Which engine a new workspace goes to when a docker target lists several (`hosts:
// unix:///a.sock, tcp://b:2375`): the one with the most free capacity as the engines report it
// (fewest running containers, then most memory; ties at random). Unreachable engines are
// skipped and named. The same seam would place workspaces across Kubernetes nodes or Nomad
// clients: ask each candidate for its load, choose, record the choice (docs/scaling.md).
#include "engine.hpp"

#include <berth/provider.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace docker {

// The engines a target names: `hosts` (comma-separated) when set, else `host`.
std::vector<std::string> engine_addresses(const berth::StringMap& properties);

struct EngineLoad {
  std::string address;
  bool reachable = false;
  std::string problem;  // why not, when unreachable
  long long running = 0, memory = 0, cpus = 0;
};

using EngineFactory = std::function<std::shared_ptr<Engine>(const std::string& address)>;

// Asks every engine for its load, all at once (each within the factory's deadline).
std::vector<EngineLoad> engine_loads(const std::vector<std::string>& addresses, const EngineFactory& engines);

// The reachable engine with the most free capacity; throws naming every engine's problem when
// none answers.
std::string choose_engine(const std::vector<EngineLoad>& loads);

}  // namespace docker
