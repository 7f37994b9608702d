#pragma once
// One provider, served by its own berth-provider-host process: started on first use, its
// crashes contained and named, restarted with back-off, quarantined after repeated crashes,
// killed when a call outlives its deadline and grace period. Provider code never runs in the
// server; the server only speaks the provider protocol (core/src/provider_protocol.hpp).
#include "provider_log.hpp"
#include "provider_protocol.hpp"

#include <berth/provider.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace berth {

// Where a session's or port connection's client input goes: to the provider's host, within
// the window it grants. Each returns false once the call is over.
class StreamRelay {
 public:
  virtual ~StreamRelay() = default;
  virtual bool input(std::string_view bytes) = 0;  // waits while the host is a window behind
  virtual bool end_of_input() = 0;
  virtual bool resize(int rows, int cols) = 0;
  virtual bool signal(const std::string& name) = 0;
  virtual void client_gone() = 0;  // ends the call: the provider ends the command
};

// The client of a session or port connection, as the server reads it.
class StreamInput {
 public:
  virtual ~StreamInput() = default;
  // Runs on its own thread for the life of the call: reads the client and passes on what it
  // says until the client is done or gone, or stop() was called.
  virtual void run(StreamRelay& to) = 0;
  // Makes run() return soon: the call ended.
  virtual void stop() = 0;
};

// The server's side of a watch call (SDK 1.3): the workspaces to watch go out, the changes the
// provider saw come in.
class WatchFeed {
 public:
  virtual ~WatchFeed() = default;
  // Runs on its own thread for the life of the call: sends the workspaces to watch with `send`
  // ({"put": [...], "drop": [...]}), all of them first, then each change of the set, until
  // stop() is called or send returns false (the call is over).
  virtual void run(const std::function<bool(const Json&)>& send) = 0;
  virtual void stop() = 0;
  // A change the provider reported; called on the thread that reads the provider's socket, so
  // it must not wait for that provider.
  virtual void changed(InfraChange change) = 0;
};

// One call into a provider, as the server makes it.
struct ProviderCall {
  std::string method;  // create, start, stop, destroy, status, exec, session, connect, check_target, watch, cpu_seconds
  std::string label;   // what messages call it ("exec" for a session without a terminal); default: method
  const Workspace* workspace = nullptr;
  const StringMap* properties = nullptr;
  StringMap* provider_data = nullptr;  // updated from the reply, also when the call failed
  std::string data_dir;
  ProgressSink* progress = nullptr;
  OutputSink* output = nullptr;  // exec
  const ExecRequest* exec = nullptr;
  const SessionRequest* session = nullptr;  // session
  int port = 0;                             // connect
  StreamInput* input = nullptr;             // session, connect: the client's side
  WatchFeed* watch = nullptr;               // watch
  std::chrono::seconds timeout{0};  // 0: no deadline
  std::string timeout_source;       // what set it, for the message: "the target's timeout"
};

// What a call returned.
struct ProviderReply {
  Status status;
  int exit_code = 0;
  TargetCheck check;
  double cpu_seconds = -1;  // cpu_seconds: negative when the provider cannot tell
};

// Where the host comes from and what it loads.
struct ProviderModule {
  std::string name;
  std::filesystem::path library;
  bool dropin = false;
  ApiVersion manifest_api{0, 0};
};

class ProviderProcess {
 public:
  ProviderProcess(ProviderModule module, std::filesystem::path host_binary, std::filesystem::path log_file,
                  std::shared_ptr<const Redactor> redactor);
  ~ProviderProcess();
  ProviderProcess(const ProviderProcess&) = delete;
  ProviderProcess& operator=(const ProviderProcess&) = delete;

  // Starts the host if it is not running and returns its greeting; throws provider_failed
  // (broken, quarantined, disabled) with the reason.
  Json greeting();
  // Runs one call. Throws Error: the provider's own error, or provider_failed naming the
  // provider and what happened (crash with its signal, deadline, quarantine).
  ProviderReply call(const ProviderCall& call);

  enum class Health { ready, broken, quarantined, disabled };
  struct State {
    Health health = Health::ready;
    std::string reason;
    bool running = false;
    int pid = 0;
  };
  State state() const;
  // Lifts a refusal, quarantine or disable; the host starts again on next use.
  void enable();
  // Kills the host and refuses every call until enable().
  void disable();
  // Ends the host: in-flight calls fail with `why`. Calls after it start a new host.
  void stop(const std::string& why);
  // Ends the host for good (shutdown): in-flight and later calls fail with `why`.
  void close(const std::string& why);
  // Asks every in-flight call of `method` (every call when empty) to end now; past the grace
  // period the host is killed.
  void cancel_calls(const std::string& method, const std::string& why);

  std::string log_text() const { return log_.text(); }

  // How long a call may go on after berth asked it to end, for a given deadline.
  static std::chrono::milliseconds grace_for(std::chrono::seconds timeout);

 private:
  struct Pending;
  struct Instance;
  std::shared_ptr<Instance> running_instance();
  std::shared_ptr<Instance> spawn();
  void read_frames(std::shared_ptr<Instance> instance);
  void on_frame(Instance& instance, char type, std::string_view payload);
  void ended(Instance& instance, int wait_status);
  void kill_instance(Instance& instance, const std::string& reason);
  void kill_locked(Instance& instance, const std::string& reason);  // under instance.mutex
  // A call that did not end when asked: left to end by itself when the host serves other
  // calls too (true), else false (the caller kills the host).
  bool abandon_call(Instance& instance, uint32_t id, Pending& pending, const std::string& why);
  // Under instance.mutex: the calls in flight other than `except` that berth has not left, and
  // that are not a watch.
  static size_t serving_others(const Instance& instance, uint32_t except);
  // A send to the host failed: names its end by its exit status when it died (waiting a short
  // bound for that), else kills it for no longer reading.
  void send_failed(Instance& instance);
  std::string failure_prefix() const { return "provider " + module_.name; }

  ProviderModule module_;
  std::filesystem::path host_binary_;
  ProviderLog log_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<Instance> current_;
  bool starting_ = false;
  std::vector<std::thread> readers_;
  uint32_t next_call_id_ = 0;
  std::string refusal_;  // broken: set by a failed start, cleared by enable()
  bool disabled_ = false;
  std::string quarantine_;
  std::string closed_;
  std::deque<std::chrono::steady_clock::time_point> crashes_;
  std::chrono::steady_clock::time_point not_before_{};
};

}  // namespace berth
