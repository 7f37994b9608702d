#pragma once
// Idle auto-stop and auto-delete (a target's `auto_stop` / `auto_delete`, docs/workflow.md).
//
// A started workspace is active while it has a stream open (an exec, a session — berth ssh, a
// dashboard terminal, an editor over ssh --stdio — or a port connection) and while its processes
// use CPU: each tick the provider's counter (Provider::cpu_seconds, SDK 1.5) is read, and a
// rise of more than kBusyShare of a core over the tick is activity, so long background work
// (a build, a test run, a training job) keeps it running. One idle for its auto_stop is stopped
// through the normal stop operation, with the reason in its log. A workspace stopped for its
// target's auto_delete is deleted the same way. A workspace created with --keep-alive (option
// auto_stop=off) or labelled berth.keep-alive never is.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth {

// Streams open per workspace, and when the last one ended.
class Activity {
 public:
  using Clock = std::chrono::steady_clock;
  class Hold {
   public:
    Hold(Activity& activity, std::string name) : activity_(&activity), name_(std::move(name)) {}
    Hold(Hold&& other) noexcept : activity_(other.activity_), name_(std::move(other.name_)) { other.activity_ = nullptr; }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    Hold& operator=(Hold&&) = delete;
    ~Hold() {
      if (activity_) activity_->release(name_);
    }

   private:
    Activity* activity_;
    std::string name_;
  };
  // Counts a stream of the workspace as open until the Hold goes.
  Hold hold(const std::string& name);
  struct Seen {
    int open = 0;
    Clock::time_point last{};  // when a stream last opened or closed; epoch for never
  };
  Seen seen(const std::string& name) const;

 private:
  void release(const std::string& name);
  mutable std::mutex mutex_;
  std::map<std::string, Seen> seen_;
};

class IdleStop {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kBusyShare = 0.02;  // of one core, over a tick: more is activity

  // What the server tells the idle stop about one workspace.
  struct Candidate {
    std::string name;
    bool started = false;
    bool stopped = false;
    std::chrono::seconds stop_after{0};    // 0: never (auto_stop off, --keep-alive, berth.keep-alive)
    std::chrono::seconds delete_after{0};  // 0: never
    std::chrono::seconds stopped_for{0};   // how long a stopped one has been stopped (from its record)
  };
  struct Hooks {
    std::function<std::vector<Candidate>()> candidates;
    std::function<double(const std::string& name)> cpu_seconds;  // negative: not known
    std::function<Activity::Seen(const std::string& name)> activity;
    // Begin the operation; the reason goes to the workspace's log. May throw (busy, gone).
    std::function<void(const std::string& name, const std::string& reason)> stop;
    std::function<void(const std::string& name, const std::string& reason)> remove;
  };

  explicit IdleStop(Hooks hooks) : hooks_(std::move(hooks)) {}
  ~IdleStop() { stop(); }
  IdleStop(const IdleStop&) = delete;
  IdleStop& operator=(const IdleStop&) = delete;

  void start();
  void stop();
  // One pass over every candidate (the ticker's body; tests and start call it too).
  void tick();
  // For GET /v1/workspaces/NAME/activity: auto_stop, idle_seconds, stops_in_seconds,
  // open_streams, cpu_seconds (null when not known).
  nlohmann::json report(const std::string& name);

 private:
  struct Watched {
    Clock::time_point idle_since{};
    double cpu = -1;
    Clock::time_point cpu_at{};
    std::chrono::seconds stop_after{0};
  };
  std::chrono::milliseconds interval() const;  // under mutex_

  Hooks hooks_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, Watched> watched_;
  std::thread thread_;
};

}  // namespace berth
