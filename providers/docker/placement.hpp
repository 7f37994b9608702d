#pragma once
// Where a new workspace goes when a docker target lists several engines (`hosts: A, B`): the
// engine with the most free capacity as the engines themselves report it (GET /info: memory
// per running container), ties at random; engines that do not answer are skipped and named.
// The same seam would place across Kubernetes nodes or Nomad clients: a list of candidates, a
// probe of each one's load, a choice (docs/scaling.md).
#include <functional>
#include <string>
#include <vector>

namespace docker {

// What an engine says of its load.
struct EngineLoad {
  long long memory_total = 0;  // bytes (MemTotal)
  long long running = 0;       // containers running (ContainersRunning)
};

// The target's engines: `hosts` (comma-separated) when set, otherwise `host`.
std::vector<std::string> engines_of(const std::string& host, const std::string& hosts);

struct Placement {
  std::string chosen;                                        // "" when none answered
  std::vector<std::pair<std::string, std::string>> skipped;  // engine, why
};

// Probes each candidate (probe throws when the engine does not answer) and chooses.
Placement place(const std::vector<std::string>& candidates, const std::function<EngineLoad(const std::string&)>& probe);

}  // namespace docker
