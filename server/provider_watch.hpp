#pragma once
// One provider's watch (SDK 1.3, Provider::watch): a long-lived call into its host that follows
// the infrastructure for changes berth did not make. This keeps the call running (restarted
// with back-off when the host dies or the provider throws), feeds it the workspaces to watch as
// they come and go, and hands what the provider reports, one change at a time and in order, to
// the handler (the workspace service), on a thread of its own.
#include "provider_process.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <vector>
#include <mutex>
#include <string>
#include <thread>

namespace berth {

class ProviderWatch {
 public:
  struct Options {
    std::string provider;  // its name, for messages
    std::string data_dir;  // the provider's data folder, as every call gets it
    // The provider's process, looked up at each (re)start: throws while it is broken,
    // quarantined, disabled or closed.
    std::function<ProviderProcess&()> process;
    // The provider's workspaces in name order after `after`, at most `limit`: what a call is
    // sent when it starts (no copy of them is kept here). Called without this watch's lock.
    std::function<std::vector<WatchedWorkspace>(const std::string& after, size_t limit)> workspaces;
    // A change the provider reported (or a recheck()); runs on the watch's handler thread.
    std::function<void(const InfraChange&)> on_change;
    // One line for the server's log.
    std::function<void(const std::string&)> note;
  };
  explicit ProviderWatch(Options options);
  // Ends the watch (stop()).
  ~ProviderWatch();
  ProviderWatch(const ProviderWatch&) = delete;
  ProviderWatch& operator=(const ProviderWatch&) = delete;

  // Starts the call on a thread of its own; returns at once.
  void start();
  // Asks the running call to end and the loop not to start another; returns at once.
  void cancel();
  // cancel(), then waits for the loop and the handler to end. The handler's current change may
  // be inside a provider call: stop the provider's host first for a quick end.
  void stop();

  // The workspace is to be watched with these properties and provider data (again, when they
  // changed): sent to the running call, if any (a call that starts later gets the whole set).
  void put(const WatchedWorkspace& workspace);
  void drop(const std::string& name);
  // Queues a change with unknown state for the workspace, so the handler looks again (after
  // one of berth's own operations ended while the provider reported something).
  void recheck(const std::string& name);

  // Whether the provider said it has no watch (it does not implement Provider::watch).
  bool unsupported() const;

 private:
  class Feed;
  void loop();
  void handle();
  void queue_change(InfraChange change);
  // The running call's feed: sends the whole set, then each change, until stopped.
  void feed(const std::function<bool(const Json&)>& send, const bool& stopped);

  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Json> outbox_;  // set changes the running call has not been sent yet
  bool feeding_ = false;     // a call's feed runs: set changes go to outbox_
  std::deque<InfraChange> changes_;  // reported, not yet handled; at most one per workspace
  bool dropping_ = false;    // the last change was dropped (said once per run of drops)
  bool stopping_ = false;
  bool unsupported_ = false;
  std::thread loop_thread_;
  std::thread handler_thread_;
};

}  // namespace berth
