#include "placement.hpp"

#include <sys/random.h>

#include <future>

namespace docker {

std::vector<std::string> engine_addresses(const berth::StringMap& properties) {
  auto hosts = properties.find("hosts");
  std::vector<std::string> out;
  if (hosts != properties.end()) {
    size_t start = 0;
    const std::string& text = hosts->second;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
      if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (out.empty()) {
    auto host = properties.find("host");
    out.push_back(host == properties.end() || host->second.empty() ? "unix:///var/run/docker.sock" : host->second);
  }
  return out;
}

std::vector<EngineLoad> engine_loads(const std::vector<std::string>& addresses, const EngineFactory& engines) {
  std::vector<std::future<EngineLoad>> asked;
  for (const auto& address : addresses) {
    asked.push_back(std::async(std::launch::async, [&engines, address] {
      EngineLoad load;
      load.address = address;
      try {
        Reply info = engines(address)->get("/info");
        if (info.status != 200) {
          load.problem = "answered " + info.message();
          return load;
        }
        Json facts = info.json();
        load.running = facts.value("ContainersRunning", 0LL);
        load.memory = facts.value("MemTotal", 0LL);
        load.cpus = facts.value("NCPU", 0LL);
        load.reachable = true;
      } catch (const std::exception& error) {
        load.problem = error.what();
      }
      return load;
    }));
  }
  std::vector<EngineLoad> loads;
  for (auto& answer : asked) loads.push_back(answer.get());
  return loads;
}

std::string choose_engine(const std::vector<EngineLoad>& loads) {
  const EngineLoad* best = nullptr;
  int ties = 0;
  for (const auto& load : loads) {
    if (!load.reachable) continue;
    bool better = !best || load.running < best->running || (load.running == best->running && load.memory > best->memory);
    bool tied = best && load.running == best->running && load.memory == best->memory;
    if (better) {
      best = &load;
      ties = 1;
    } else if (tied) {
      // Reservoir choice among equals: each tied engine equally likely.
      unsigned int draw = 0;
      if (::getrandom(&draw, sizeof draw, 0) == static_cast<ssize_t>(sizeof draw) && draw % static_cast<unsigned>(++ties) == 0) best = &load;
    }
  }
  if (best) return best->address;
  std::string problems;
  for (const auto& load : loads) problems += (problems.empty() ? "" : "; ") + load.address + ": " + load.problem;
  throw berth::Error("provider_failed", "none of the target's engines answers (" + problems + ")");
}

}  // namespace docker
