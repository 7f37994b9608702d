#include "placement.hpp"

#include <random>
#include <stdexcept>

namespace docker {

std::vector<std::string> engines_of(const std::string& host, const std::string& hosts) {
  std::vector<std::string> engines;
  size_t start = 0;
  while (start <= hosts.size() && !hosts.empty()) {
    size_t comma = hosts.find(',', start);
    std::string item = hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t first = item.find_first_not_of(" \t");
    size_t last = item.find_last_not_of(" \t");
    if (first != std::string::npos) engines.push_back(item.substr(first, last - first + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (engines.empty()) engines.push_back(host);
  return engines;
}

Placement place(const std::vector<std::string>& candidates, const std::function<EngineLoad(const std::string&)>& probe) {
  Placement placement;
  std::vector<std::string> best;
  double best_free = -1;
  for (const auto& engine : candidates) {
    EngineLoad load;
    try {
      load = probe(engine);
    } catch (const std::exception& error) {
      placement.skipped.emplace_back(engine, error.what());
      continue;
    }
    // Memory per container once this one runs too: more is freer. An engine that reports no
    // memory counts as 1 byte, so the number of running containers still decides.
    double free = static_cast<double>(std::max<long long>(load.memory_total, 1)) / static_cast<double>(load.running + 1);
    if (free > best_free) {
      best_free = free;
      best = {engine};
    } else if (free == best_free) {
      best.push_back(engine);
    }
  }
  if (!best.empty()) {
    static thread_local std::mt19937 random{std::random_device{}()};
    placement.chosen = best[std::uniform_int_distribution<size_t>(0, best.size() - 1)(random)];
  }
  return placement;
}

}  // namespace docker
