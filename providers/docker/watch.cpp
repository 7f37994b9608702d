#include "watch.hpp"

#include "engine.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace docker {
namespace {

// An idle /events stream is reopened after this (the engine sends nothing between events); a
// frozen engine holds a follower no longer either.
constexpr std::chrono::seconds kStreamDeadline{30};
constexpr std::chrono::seconds kListDeadline{10};
// Between attempts to reach an engine that is down.
constexpr auto kRetry = std::chrono::seconds(1);
constexpr auto kLastRetry = std::chrono::seconds(15);
// How long an engine with no workspace left keeps its follower, and how often the list of
// engines is looked at again without a change.
constexpr auto kIdleFollower = std::chrono::minutes(5);
constexpr auto kIdleRecheck = std::chrono::seconds(60);

// The engine a workspace's container lives on: as create recorded it, else the target's.
std::string engine_of(const berth::WatchedWorkspace& workspace) {
  auto recorded = workspace.provider_data.find("docker_host");
  if (recorded != workspace.provider_data.end() && !recorded->second.empty()) return recorded->second;
  auto host = workspace.properties.find("host");
  return host != workspace.properties.end() && !host->second.empty() ? host->second : "unix:///var/run/docker.sock";
}

std::string attribute(const Json& event, const char* name) {
  const Json& attributes = event["Actor"]["Attributes"];
  return attributes.is_object() && attributes.contains(name) && attributes[name].is_string() ? attributes[name].get<std::string>() : "";
}

// What an event says of its container; false for events that change nothing berth records.
bool change_of(const Json& event, berth::InfraChange& change) {
  if (!event.is_object() || event.value("Type", "") != "container" || !event.contains("Actor")) return false;
  std::string action = event.value("Action", "");
  std::string id = event["Actor"].value("ID", "");
  if (id.empty()) return false;
  if (action == "die") {
    change.state = berth::InfraState::stopped;
    std::string code = attribute(event, "exitCode");
    change.detail = "container died" + (code.empty() ? std::string() : " (exit code " + code + ")");
  } else if (action == "stop") {
    change.state = berth::InfraState::stopped;
    change.detail = "container stopped";
  } else if (action == "pause") {
    change.state = berth::InfraState::paused;
    change.detail = "container paused";
  } else if (action == "unpause" || action == "start") {
    change.state = berth::InfraState::started;
    change.detail = action == "start" ? "container started" : "container unpaused";
  } else if (action == "destroy") {
    change.state = berth::InfraState::gone;
    change.detail = "container gone: it was removed outside berth";
  } else {
    return false;  // kill: a signal; when it ends the container, die follows
  }
  change.workspace = attribute(event, kWorkspaceLabel);
  change.match = {{"container_id", id}};
  return true;
}

// One engine, followed on a thread of its own until stop().
class Follower {
 public:
  // `workspaces`: those on this engine, for its first catch-up.
  Follower(berth::WatchContext& context, std::string address, std::string identity, std::vector<berth::WatchedWorkspace> workspaces)
      : context_(context),
        link_(engine_link(workspaces.empty() ? berth::StringMap{} : workspaces.front().properties, address)),
        address_(std::move(address)),
        identity_(std::move(identity)),
        workspaces_(std::move(workspaces)),
        thread_([this] { run(); }) {}
  ~Follower() {
    stop();
    thread_.join();
  }
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  void stop() {
    std::shared_ptr<Engine> streaming;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      streaming = streaming_;
    }
    changed_.notify_all();
    if (streaming) streaming->abort();
  }

  // The workspaces on this engine, for the catch-up at each (re)connect.
  void set_workspaces(std::vector<berth::WatchedWorkspace> workspaces) {
    std::lock_guard lock(mutex_);
    workspaces_ = std::move(workspaces);
  }

 private:
  void run() {
    auto retry = std::chrono::duration_cast<std::chrono::milliseconds>(kRetry);
    while (!stopped()) {
      bool streamed = false;
      try {
        streamed = follow();
      } catch (const std::exception& error) {
        // Engine down or unreachable: tried again after a pause that grows.
        (void)error;
      }
      if (streamed) retry = kRetry;
      std::unique_lock lock(mutex_);
      streaming_.reset();
      if (changed_.wait_for(lock, streamed ? std::chrono::milliseconds(0) : retry, [&] { return stopping_; })) return;
      if (!streamed) retry = std::min<std::chrono::milliseconds>(retry * 2, kLastRetry);
    }
  }

  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // One connection to /events: true when the stream opened (so it is worth reopening at once).
  bool follow() {
    auto engine = std::make_shared<Engine>(link_, "", kStreamDeadline);
    engine->api_version();  // connects: from here abort() can end it
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      streaming_ = engine;
    }
    Json filters{{"type", {"container"}},
                 {"label", {std::string(kIdentityLabel) + "=" + identity_}},
                 {"event", {"die", "stop", "kill", "pause", "unpause", "start", "destroy"}}};
    std::string path = "/events?filters=" + url_escape(filters.dump());
    if (!since_.empty()) path += "&since=" + url_escape(since_);
    bool opened = false;
    EventLines lines;
    Reply reply = engine->get_streaming(
        path,
        [&](std::string_view data) {
          lines.feed(data, [&](const Json& event) {
            if (event.contains("timeNano") && event["timeNano"].is_number()) {
              long long nanos = event["timeNano"].get<long long>();
              since_ = std::to_string(nanos / 1000000000) + "." + std::to_string(1000000000 + nanos % 1000000000).substr(1);
            }
            berth::InfraChange change;
            if (change_of(event, change)) context_.report(change);
          });
          return !stopped();
        },
        [&] {
          opened = true;
          catch_up();
        });
    if (reply.status >= 400) throw std::runtime_error("the engine at " + address_ + " refused /events: " + reply.message());
    return opened;
  }

  // What happened while no one followed this engine: the state of each watched workspace's
  // container now (the server ignores what its records say already).
  void catch_up() {
    std::vector<berth::WatchedWorkspace> workspaces;
    {
      std::lock_guard lock(mutex_);
      workspaces = workspaces_;
    }
    Engine engine(link_, "", kListDeadline);
    Json filters{{"label", {std::string(kIdentityLabel) + "=" + identity_}}};
    Reply listed = engine.get("/containers/json?all=1&filters=" + url_escape(filters.dump()));
    if (listed.status != 200) return;
    std::map<std::string, std::string> states;  // container id -> the engine's State
    for (const auto& container : listed.json()) {
      if (container.is_object()) states[container.value("Id", "")] = container.value("State", "");
    }
    // Watched after the list began: not caught up on, but its events come from now on.
    for (const auto& workspace : workspaces) {
      auto id = workspace.provider_data.find("container_id");
      if (id == workspace.provider_data.end() || id->second.empty()) continue;  // not made yet
      berth::InfraChange change;
      change.workspace = workspace.name;
      change.match = {{"container_id", id->second}};
      auto found = states.find(id->second);
      if (found == states.end()) {
        change.state = berth::InfraState::gone;
        change.detail = "container gone: it was removed outside berth";
      } else if (found->second == "running") {
        change.state = berth::InfraState::started;
      } else if (found->second == "paused") {
        change.state = berth::InfraState::paused;
        change.detail = "container paused";
      } else if (found->second == "exited" || found->second == "dead" || found->second == "created") {
        change.state = berth::InfraState::stopped;
        change.detail = "container " + found->second;
      } else {
        continue;  // restarting, removing: its next event says where it ends
      }
      context_.report(change);
    }
  }

  berth::WatchContext& context_;
  EngineLink link_;  // how to reach it (TLS as the workspaces' target says)
  std::string address_;
  std::string identity_;
  std::string since_;  // the last event's time: a reopened stream starts there
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::shared_ptr<Engine> streaming_;
  std::vector<berth::WatchedWorkspace> workspaces_;
  std::thread thread_;  // last: starts once everything above is made
};

}  // namespace

void watch_engines(berth::WatchContext& context, const std::string& identity) {
  std::map<std::string, std::unique_ptr<Follower>> followers;  // by engine address
  // An engine whose last workspace went keeps its follower a while: a create there soon after
  // (delete, then create again) would otherwise reopen the stream and list the engine's
  // containers while the engine makes the new one.
  using Clock = std::chrono::steady_clock;
  std::map<std::string, Clock::time_point> idle_since;
  while (!context.cancellation().requested()) {
    std::map<std::string, std::vector<berth::WatchedWorkspace>> by_engine;
    for (auto& workspace : context.workspaces()) by_engine[engine_of(workspace)].push_back(std::move(workspace));
    auto now = Clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kIdleRecheck);
    for (auto it = followers.begin(); it != followers.end();) {
      if (by_engine.count(it->first)) {
        idle_since.erase(it->first);
        ++it;
        continue;
      }
      auto since = idle_since.emplace(it->first, now).first->second;
      if (now - since >= kIdleFollower) {  // no workspace there for a while
        idle_since.erase(it->first);
        it = followers.erase(it);
        continue;
      }
      it->second->set_workspaces({});
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(since + kIdleFollower - now) + std::chrono::milliseconds(1));
      ++it;
    }
    for (auto& [address, workspaces] : by_engine) {
      auto& follower = followers[address];
      if (!follower) {
        follower = std::make_unique<Follower>(context, address, identity, std::move(workspaces));
      } else {
        follower->set_workspaces(std::move(workspaces));
      }
    }
    context.changed(wait);
  }
  for (auto& [address, follower] : followers) follower->stop();
  followers.clear();
}

}  // namespace docker
