#include "provider_watch.hpp"

#include "errors.hpp"

#include <algorithm>

namespace berth {
namespace {

// Back-off between watch calls that ended by themselves: doubling from the first to the last,
// and back to the first after a call that ran for kSettled.
constexpr auto kFirstBackOff = std::chrono::seconds(1);
constexpr auto kLastBackOff = std::chrono::seconds(30);
constexpr auto kSettled = std::chrono::seconds(60);
// Workspaces per "watched" frame when a call starts (a frame stays far below the protocol's limit).
constexpr size_t kPutChunk = 256;
// Reported changes waiting for the handler; past it new ones are dropped (and said so).
constexpr size_t kMaxQueuedChanges = 65536;

bool same_workspace(const InfraChange& a, const InfraChange& b) {
  return a.workspace == b.workspace && (!a.workspace.empty() || a.match == b.match);
}

}  // namespace

// One watch call's feed: forwards to the watch, with a stop flag of the call's own.
class ProviderWatch::Feed : public WatchFeed {
 public:
  explicit Feed(ProviderWatch& watch) : watch_(watch) {}
  void run(const std::function<bool(const Json&)>& send) override { watch_.feed(send, stopped_); }
  void stop() override {
    {
      std::lock_guard lock(watch_.mutex_);
      stopped_ = true;
    }
    watch_.changed_.notify_all();
  }
  void changed(InfraChange change) override { watch_.queue_change(std::move(change)); }

 private:
  ProviderWatch& watch_;
  bool stopped_ = false;  // under watch_.mutex_
};

ProviderWatch::ProviderWatch(Options options) : options_(std::move(options)) {}

ProviderWatch::~ProviderWatch() { stop(); }

void ProviderWatch::start() {
  std::lock_guard lock(mutex_);
  if (stopping_ || loop_thread_.joinable()) return;
  loop_thread_ = std::thread([this] { loop(); });
  handler_thread_ = std::thread([this] { handle(); });
}

void ProviderWatch::cancel() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  try {
    options_.process().cancel_calls("watch", "berth-server is shutting down");
  } catch (const std::exception&) {
    // No process to cancel in: the loop sees stopping_ before it starts another call.
  }
}

void ProviderWatch::stop() {
  cancel();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (handler_thread_.joinable()) handler_thread_.join();
}

bool ProviderWatch::unsupported() const {
  std::lock_guard lock(mutex_);
  return unsupported_;
}

void ProviderWatch::put(const WatchedWorkspace& workspace) {
  {
    std::lock_guard lock(mutex_);
    if (!feeding_) return;
    outbox_.push_back(Json{{"put", Json::array({watched_workspace_to_json(workspace)})}});
  }
  changed_.notify_all();
}

void ProviderWatch::drop(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    if (!feeding_) return;
    outbox_.push_back(Json{{"drop", Json::array({name})}});
  }
  changed_.notify_all();
}

void ProviderWatch::recheck(const std::string& name) {
  InfraChange change;
  change.workspace = name;
  change.detail = "looked at again after berth's own operation";
  queue_change(std::move(change));
}

void ProviderWatch::queue_change(InfraChange change) {
  bool said_dropping = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    // Only the newest change of a workspace waits: the handler asks the provider anyway.
    auto queued = std::find_if(changes_.begin(), changes_.end(), [&](const InfraChange& other) { return same_workspace(other, change); });
    if (queued != changes_.end()) {
      *queued = std::move(change);
    } else if (changes_.size() < kMaxQueuedChanges) {
      changes_.push_back(std::move(change));
    } else {
      said_dropping = !dropping_;
      dropping_ = true;
    }
    if (!said_dropping) dropping_ = false;
  }
  changed_.notify_all();
  // Notes go out without the lock: the handler of a note may take locks of its own.
  if (said_dropping && options_.note) options_.note("provider " + options_.provider + " reports changes faster than berth takes them; some are dropped");
}

void ProviderWatch::feed(const std::function<bool(const Json&)>& send, const bool& stopped) {
  std::unique_lock lock(mutex_);
  feeding_ = true;
  struct Done {
    ProviderWatch& watch;
    std::unique_lock<std::mutex>& lock;
    ~Done() {
      if (!lock.owns_lock()) lock.lock();
      watch.feeding_ = false;
      watch.outbox_.clear();
    }
  } done{*this, lock};
  // The whole set first, a page at a time (an empty put when there is none, so the provider
  // knows it has it). What changes meanwhile waits in outbox_ and goes after it: a record put
  // twice is harmless. Pages are asked without the lock (the service takes its own first).
  outbox_.clear();
  lock.unlock();
  std::string after;
  for (bool first = true;; first = false) {
    std::vector<WatchedWorkspace> page = options_.workspaces(after, kPutChunk);
    if (page.empty() && !first) break;
    Json put = Json::array();
    for (const auto& workspace : page) put.push_back(watched_workspace_to_json(workspace));
    if (!send(Json{{"put", std::move(put)}})) return;
    if (page.size() < kPutChunk) break;
    after = page.back().name;
  }
  lock.lock();
  while (true) {
    changed_.wait(lock, [&] { return stopped || stopping_ || !outbox_.empty(); });
    if (stopped || stopping_) return;
    Json update = std::move(outbox_.front());
    outbox_.pop_front();
    lock.unlock();
    if (!send(update)) return;
    lock.lock();
  }
}

void ProviderWatch::loop() {
  auto back_off = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstBackOff);
  std::string last_ended;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    auto began = std::chrono::steady_clock::now();
    std::string ended;
    bool no_watch = false;
    try {
      Feed feed(*this);
      ProviderCall call;
      call.method = "watch";
      call.data_dir = options_.data_dir;
      call.watch = &feed;
      options_.process().call(call);
      ended = "the provider's watch returned";
    } catch (const Error& error) {
      no_watch = error.code() == "unsupported";
      ended = error.what();
    } catch (const std::exception& error) {
      ended = error.what();
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      unsupported_ = no_watch;
    }
    // Notes go out without the lock (the handler of a note may take locks of its own), and a
    // note the same as the last is not repeated (a provider that is missing or disabled).
    if (no_watch) {
      if (options_.note) options_.note("provider " + options_.provider + " does not watch its infrastructure: " + ended);
      return;
    }
    if (std::chrono::steady_clock::now() - began >= kSettled) back_off = kFirstBackOff;
    if (options_.note && ended != last_ended) options_.note("watch of provider " + options_.provider + " ended: " + ended + "; it is started again");
    last_ended = ended;
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, back_off, [&] { return stopping_; });
    back_off = std::min<std::chrono::milliseconds>(back_off * 2, kLastBackOff);
  }
}

void ProviderWatch::handle() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !changes_.empty(); });
    if (stopping_) return;
    InfraChange change = std::move(changes_.front());
    changes_.pop_front();
    lock.unlock();
    try {
      options_.on_change(change);
    } catch (const std::exception& error) {
      if (options_.note) options_.note("a change provider " + options_.provider + " reported was not applied: " + error.what());
    }
    lock.lock();
  }
}

}  // namespace berth
