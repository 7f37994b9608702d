#include "idle_stop.hpp"

#include "duration.hpp"

#include <algorithm>
#include <set>

namespace berth {

Activity::Hold Activity::hold(const std::string& name) {
  std::lock_guard lock(mutex_);
  Seen& seen = seen_[name];
  ++seen.open;
  seen.last = Clock::now();
  return Hold(*this, name);
}

Activity::Seen Activity::seen(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = seen_.find(name);
  return it == seen_.end() ? Seen{} : it->second;
}

void Activity::release(const std::string& name) {
  std::lock_guard lock(mutex_);
  Seen& seen = seen_[name];
  --seen.open;
  seen.last = Clock::now();
}

void IdleStop::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      wake_.wait_for(lock, interval(), [&] { return stopping_; });
    }
  });
}

void IdleStop::stop() {
  std::thread ticker;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    ticker = std::move(thread_);
  }
  wake_.notify_all();
  if (ticker.joinable()) ticker.join();
}

std::chrono::milliseconds IdleStop::interval() const {
  // A tenth of the shortest auto_stop watched, between 1 s and 60 s; 2 s while none is, so a
  // workspace created meanwhile is seen soon (a pass without candidates reads records only).
  std::chrono::milliseconds shortest = std::chrono::seconds(20);
  for (const auto& [name, watched] : watched_) shortest = std::min<std::chrono::milliseconds>(shortest, watched.stop_after);
  return std::clamp<std::chrono::milliseconds>(shortest / 10, std::chrono::seconds(1), std::chrono::seconds(60));
}

void IdleStop::tick() {
  std::vector<Candidate> candidates;
  try {
    candidates = hooks_.candidates();
  } catch (const std::exception&) {
    return;
  }
  std::set<std::string> present;
  for (const auto& candidate : candidates) {
    const std::string& name = candidate.name;
    if (candidate.stopped && candidate.delete_after.count() > 0 && candidate.stopped_for >= candidate.delete_after) {
      try {
        hooks_.remove(name, "auto-delete: stopped for " + format_duration(candidate.stopped_for) + " (the target's auto_delete is " +
                                format_duration(candidate.delete_after) + ")");
      } catch (const std::exception&) {
        // Busy or gone: the next tick looks again.
      }
      continue;
    }
    if (!candidate.started || candidate.stop_after.count() == 0) continue;
    present.insert(name);
    // The provider is asked without the lock: a slow one delays this pass only.
    double cpu = -1;
    try {
      cpu = hooks_.cpu_seconds(name);
    } catch (const std::exception&) {
    }
    Activity::Seen seen = hooks_.activity(name);
    auto now = Clock::now();
    std::chrono::seconds idle{0};
    {
      std::lock_guard lock(mutex_);
      auto [it, first] = watched_.try_emplace(name);
      Watched& watched = it->second;
      if (first) watched.idle_since = now;  // first seen (created, started, or the server started): the clock starts
      watched.stop_after = candidate.stop_after;
      bool active = seen.open > 0;
      // A reading that failed after good ones (an engine slowed by the work itself) is not
      // idleness: the clock waits for the next good one.
      if (cpu < 0 && watched.cpu >= 0) active = true;
      if (cpu >= 0) {
        if (watched.cpu >= 0) {
          double elapsed = std::max(0.001, std::chrono::duration<double>(now - watched.cpu_at).count());
          // A counter that went back (processes ended, a restart) is a change too.
          if (cpu < watched.cpu || cpu - watched.cpu > kBusyShare * elapsed) active = true;
        }
        watched.cpu = cpu;
        watched.cpu_at = now;
      }
      if (active) watched.idle_since = now;
      watched.idle_since = std::max(watched.idle_since, seen.last);
      idle = std::chrono::duration_cast<std::chrono::seconds>(now - watched.idle_since);
      if (idle < candidate.stop_after) continue;
      watched_.erase(it);
    }
    try {
      hooks_.stop(name, "auto-stop: idle for " + format_duration(idle) + " (no session, exec or port connection, and under " +
                            std::to_string(static_cast<int>(kBusyShare * 100)) + "% of a CPU; auto_stop is " + format_duration(candidate.stop_after) +
                            ")");
    } catch (const std::exception&) {
      // Busy with another operation, or gone: looked at again next time.
    }
  }
  std::lock_guard lock(mutex_);
  std::erase_if(watched_, [&](const auto& entry) { return !present.count(entry.first); });
}

nlohmann::json IdleStop::report(const std::string& name) {
  nlohmann::json out = nlohmann::json::object();
  std::lock_guard lock(mutex_);
  auto it = watched_.find(name);
  if (it == watched_.end()) return out;
  const Watched& watched = it->second;
  auto now = Clock::now();
  auto idle = std::chrono::duration_cast<std::chrono::seconds>(now - watched.idle_since);
  out["auto_stop_seconds"] = watched.stop_after.count();
  out["idle_seconds"] = idle.count();
  out["stops_in_seconds"] = std::max<long long>(0, (watched.stop_after - idle).count());
  out["cpu_seconds"] = watched.cpu >= 0 ? nlohmann::json(watched.cpu) : nlohmann::json();
  return out;
}

}  // namespace berth
