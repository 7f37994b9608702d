#include "provider_process.hpp"

#include "errors.hpp"
#include "exec_frames.hpp"
#include "module_files.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr auto kGreetingDeadline = std::chrono::seconds(5);
constexpr auto kCrashWindow = std::chrono::seconds(60);
constexpr size_t kCrashesToQuarantine = 3;
constexpr size_t kStdinChunk = 64 << 10;
// Output a client has not taken yet, per exec: past it the exec is cancelled.
constexpr size_t kMaxQueuedOutput = 16 << 20;
// How long berth waits for a host whose socket failed to end by itself before it blames the
// protocol and kills it: a crashing host closes its socket as it dies, and on a busy machine
// berth may see the closed socket (a failed send, the end of its frames) first.
constexpr auto kExitBound = std::chrono::milliseconds(2000);

// Whether the process behind `pidfd` ended within `bound`; never reaps it.
bool ended_within(int pidfd, std::chrono::milliseconds bound) {
  if (pidfd < 0) return false;
  pollfd fd{pidfd, POLLIN, 0};
  auto until = std::chrono::steady_clock::now() + bound;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    int ready = ::poll(&fd, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready >= 0 || errno != EINTR) return ready > 0;
  }
}

// Whether a call is over (answered, or berth asked it to end): nothing more goes to its host.
template <typename Pending>
bool relay_finished(Pending& pending) {
  std::lock_guard lock(pending.mutex);
  return pending.done || !pending.cancel_reason.empty();
}

long long epoch_ms(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

std::string seconds_text(std::chrono::milliseconds duration) {
  auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

// A call waiting for its reply. The reader thread completes it; the caller waits on it.
struct ProviderProcess::Pending {
  std::string method;
  ProgressSink* progress = nullptr;
  OutputSink* output = nullptr;
  WatchFeed* watch = nullptr;
  std::mutex mutex;
  std::condition_variable changed;
  bool done = false;
  Json reply;                 // result or error
  std::string cancel_reason;  // set when berth asked it to end (client gone, shutdown)
  // exec output read from the host, written to the client by the caller's thread (a slow
  // client never holds up the reader, and so the provider's other calls)
  std::deque<std::pair<OutputStream, std::string>> output_queue;
  size_t queued_bytes = 0;
  uint32_t output_consumed = 0;   // written to the client since the last window update
  uint64_t input_unacknowledged = 0;  // stdin bytes sent that the host has not consumed yet
  std::optional<StringMap> provider_data;  // the last the provider sent with a progress line
};

// One running host process.
struct ProviderProcess::Instance {
  pid_t pid = -1;
  int socket = -1;
  int output = -1;  // the read end of the host's stdout/stderr
  std::unique_ptr<FrameWriter> writer;
  std::mutex mutex;
  std::condition_variable changed;
  enum class Greeting { waiting, greeted, refused } greeting = Greeting::waiting;
  bool ended = false;
  Json hello;
  std::string refusal;
  std::map<uint32_t, std::shared_ptr<Pending>> calls;
  std::string kill_reason;  // why berth killed it; empty when it ended by itself
  std::atomic<bool> retiring{false};  // berth is killing it: new calls wait for the next host
  // Calls that did not return when asked to end, left to end by themselves because the host
  // served other calls too; it is killed once it serves only these (id: why).
  std::map<uint32_t, std::string> abandoned;
  bool kill_is_crash = false;  // killed for breaking the protocol: counts as a crash
  bool reaping = false;     // from here its pid may be reaped: never signal it again
  std::string death;        // how it ended, for messages

  // A descriptor that becomes readable when the host ends (-1 once it is being reaped, or
  // when the kernel has no pidfd). Under mutex: the pid is not reaped before `reaping`.
  int open_pidfd() const { return reaping ? -1 : static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
};

ProviderProcess::ProviderProcess(ProviderModule module, fs::path host_binary, fs::path log_file,
                                 std::shared_ptr<const Redactor> redactor)
    : module_(std::move(module)), host_binary_(std::move(host_binary)), log_(std::move(log_file), std::move(redactor)) {}

ProviderProcess::~ProviderProcess() {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard lock(mutex_);
    instance = current_;
  }
  if (instance) kill_instance(*instance, "berth-server is shutting down");
  for (auto& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
}

std::chrono::milliseconds ProviderProcess::grace_for(std::chrono::seconds timeout) {
  auto tenth = std::chrono::duration_cast<std::chrono::milliseconds>(timeout) / 10;
  return std::clamp(tenth, std::chrono::milliseconds(1000), std::chrono::milliseconds(10000));
}

ProviderProcess::State ProviderProcess::state() const {
  std::lock_guard lock(mutex_);
  State state;
  if (disabled_) {
    state.health = Health::disabled;
    state.reason = "disabled (berth provider enable " + module_.name + ")";
  } else if (!quarantine_.empty()) {
    state.health = Health::quarantined;
    state.reason = "quarantined: " + quarantine_ + " (berth provider enable " + module_.name + " lifts it)";
  } else if (!refusal_.empty()) {
    state.health = Health::broken;
    state.reason = refusal_;
  }
  if (current_) {
    state.running = true;
    state.pid = current_->pid;
  }
  return state;
}

void ProviderProcess::enable() {
  std::lock_guard lock(mutex_);
  disabled_ = false;
  quarantine_.clear();
  refusal_.clear();
  crashes_.clear();
  not_before_ = {};
  log_.note("enabled");
}

void ProviderProcess::disable() {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard lock(mutex_);
    disabled_ = true;
    instance = current_;
  }
  log_.note("disabled");
  if (instance) kill_instance(*instance, failure_prefix() + " was disabled");
}

void ProviderProcess::stop(const std::string& why) {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard lock(mutex_);
    instance = current_;
  }
  if (instance) kill_instance(*instance, why);
}

void ProviderProcess::close(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    closed_ = why;
  }
  stop(why);
}

void ProviderProcess::cancel_calls(const std::string& method, const std::string& why) {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard lock(mutex_);
    instance = current_;
  }
  if (!instance) return;
  std::vector<std::shared_ptr<Pending>> calls;
  {
    std::lock_guard lock(instance->mutex);
    for (auto& [id, pending] : instance->calls) {
      if (method.empty() || pending->method == method) calls.push_back(pending);
    }
  }
  for (auto& pending : calls) {
    {
      std::lock_guard lock(pending->mutex);
      if (pending->cancel_reason.empty()) pending->cancel_reason = why;
    }
    pending->changed.notify_all();
  }
}

Json ProviderProcess::greeting() {
  auto instance = running_instance();
  std::lock_guard lock(instance->mutex);
  return instance->hello;
}

std::shared_ptr<ProviderProcess::Instance> ProviderProcess::running_instance() {
  std::unique_lock lock(mutex_);
  auto refuse_now = [&] {
    if (!closed_.empty()) throw provider_failed(failure_prefix() + " is not available: " + closed_);
    if (disabled_) throw provider_failed(failure_prefix() + " is disabled (berth provider enable " + module_.name + ")");
    if (!quarantine_.empty()) {
      throw provider_failed(failure_prefix() + " is quarantined: " + quarantine_ + " (berth provider enable " + module_.name +
                            " lifts it)");
    }
    if (!refusal_.empty()) throw provider_failed(failure_prefix() + " is broken: " + refusal_);
  };
  while (true) {
    refuse_now();
    if (current_ && current_->retiring) {
      changed_.wait(lock);  // it is ending: the next call gets a new host
      continue;
    }
    if (current_) return current_;
    if (starting_) {
      changed_.wait(lock);
      continue;
    }
    // Back-off after a crash, so a provider that dies at once is not restarted in a loop.
    if (auto now = std::chrono::steady_clock::now(); now < not_before_) {
      auto wait = not_before_ - now;
      lock.unlock();
      std::this_thread::sleep_for(wait);
      lock.lock();
      continue;
    }
    starting_ = true;
    lock.unlock();
    std::shared_ptr<Instance> instance;
    std::string refusal;    // the library's: kept until enable
    std::string transient;  // the machine's (no fork, no greeting in time): tried again later
    try {
      instance = spawn();
    } catch (const std::exception& error) {
      transient = error.what();
    }
    if (instance) {
      std::unique_lock instance_lock(instance->mutex);
      bool answered = instance->changed.wait_for(instance_lock, kGreetingDeadline,
                                                 [&] { return instance->greeting != Instance::Greeting::waiting || instance->ended; });
      int protocol = instance->hello.is_object() ? instance->hello.value("protocol", 0) : 0;
      if (!answered) {
        transient = "its library did not finish loading within " + seconds_text(kGreetingDeadline) + " (a hang in a constructor or in info())";
      } else if (instance->greeting == Instance::Greeting::refused) {
        refusal = instance->refusal.empty() ? "its host refused it without a reason" : instance->refusal;
      } else if (instance->greeting == Instance::Greeting::waiting) {
        refusal = "its host " + instance->death + " while loading the library";
      } else if (protocol != kProviderProtocolVersion) {
        refusal = "its host speaks provider protocol " + std::to_string(protocol) + ", berth speaks " +
                  std::to_string(kProviderProtocolVersion);
      } else if (instance->ended) {
        transient = "its host " + instance->death + " right after loading the library";
      }
      instance_lock.unlock();
      // Whatever did not greet as it should is ended, so nothing waits on it later.
      if (!refusal.empty() || !transient.empty()) kill_instance(*instance, "not started: " + refusal + transient);
    }
    lock.lock();
    starting_ = false;
    changed_.notify_all();
    if (!refusal.empty()) {
      refusal_ = refusal;
      log_.note("refused: " + refusal);
      continue;  // throws the refusal above
    }
    if (!transient.empty()) {
      not_before_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      log_.note("could not start: " + transient);
      throw provider_failed(failure_prefix() + " could not start: " + transient);
    }
    // Closed or disabled while it started: it never serves.
    if (!closed_.empty() || disabled_) {
      lock.unlock();
      kill_instance(*instance, closed_.empty() ? "disabled" : closed_);
      lock.lock();
      refuse_now();
    }
    current_ = instance;
    return instance;
  }
}

std::shared_ptr<ProviderProcess::Instance> ProviderProcess::spawn() {
  // Readers of hosts that ended are finishing or done: join them (without the lock, which
  // their last step takes) before starting another.
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(mutex_);
    if (current_ == nullptr) finished.swap(readers_);
  }
  for (auto& reader : finished) reader.join();
  if (::access(host_binary_.c_str(), X_OK) != 0) {
    throw provider_failed("cannot run " + host_binary_.string() + " (" + std::strerror(errno) +
                          "): berth-provider-host must lie beside berth-server; reinstall berth");
  }
  std::string api = to_string(module_.manifest_api);
  std::vector<std::string> args = {host_binary_.string(), "--library", module_.library.string(), "--api", api};
  if (module_.dropin) args.push_back("--dropin");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw provider_failed("cannot make a socket for " + failure_prefix() + ": " + std::strerror(errno));
  }
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) {
    ::close(sockets[0]);
    ::close(sockets[1]);
    throw provider_failed("cannot make a pipe for " + failure_prefix() + ": " + std::strerror(errno));
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    for (int fd : {sockets[0], sockets[1], output[0], output[1]}) ::close(fd);
    throw provider_failed("cannot open /dev/null for " + failure_prefix() + ": " + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec: this process is a copy of a threaded server.
    // A session of its own: whatever the provider starts stays findable by it (kill_session).
    ::setsid();
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGXFSZ, SIG_DFL);
    ::dup2(null_fd, 0);
    ::dup2(output[1], 1);
    ::dup2(output[1], 2);
    ::dup2(sockets[1], 3);
    ::close_range(4, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int fork_error = errno;
  ::close(null_fd);
  ::close(sockets[1]);
  ::close(output[1]);
  if (pid < 0) {
    ::close(sockets[0]);
    ::close(output[0]);
    throw provider_failed("cannot start " + host_binary_.string() + ": " + std::strerror(fork_error));
  }
  // A host that stops reading (stopped, frozen) fails berth's sends within this, never blocks them.
  timeval send_timeout{10, 0};
  ::setsockopt(sockets[0], SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  auto instance = std::make_shared<Instance>();
  instance->pid = pid;
  instance->socket = sockets[0];
  instance->output = output[0];
  instance->writer = std::make_unique<FrameWriter>(sockets[0]);
  log_.note("started host pid " + std::to_string(pid) + " for " + module_.library.string());
  std::lock_guard lock(mutex_);
  readers_.emplace_back(&ProviderProcess::read_frames, this, instance);
  return instance;
}

void ProviderProcess::read_frames(std::shared_ptr<Instance> instance) {
  FrameDecoder decoder([&](char type, std::string_view payload) { on_frame(*instance, type, payload); }, kMaxProviderFrame);
  char buffer[65536];
  bool output_open = true;
  while (true) {
    pollfd fds[2] = {{instance->socket, POLLIN, 0}, {instance->output, POLLIN, 0}};
    int ready = ::poll(fds, output_open ? 2 : 1, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    if (output_open && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(instance->output, buffer, sizeof buffer);
      if (n > 0) {
        log_.write(instance->pid, std::string_view(buffer, static_cast<size_t>(n)));
      } else {
        output_open = false;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(instance->socket, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      try {
        decoder.feed(buffer, static_cast<size_t>(n));
      } catch (const std::exception& error) {
        {
          std::lock_guard lock(instance->mutex);
          instance->kill_is_crash = true;
        }
        kill_instance(*instance, "broke the provider protocol (" + std::string(error.what()) + ")");
        break;
      }
    }
  }
  // A host that closed its socket without berth killing it is ending, or broken: it gets a
  // short while to end by itself, so its exit status (a crash's signal) names what happened.
  int pidfd = -1;
  {
    std::lock_guard lock(instance->mutex);
    if (instance->kill_reason.empty()) pidfd = instance->open_pidfd();
  }
  if (pidfd >= 0) {
    ended_within(pidfd, kExitBound);
    ::close(pidfd);
  }
  // Whatever ended the connection, the host and everything in its process group end with it.
  int wait_status = 0;
  {
    std::lock_guard lock(instance->mutex);
    kill_session(instance->pid);
    instance->reaping = true;  // a zombie until reaped below: its pid cannot be reused before
  }
  while (::waitpid(instance->pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  // What is left in the output pipe, without waiting for writers that outlived the host.
  ::fcntl(instance->output, F_SETFL, O_NONBLOCK);
  for (ssize_t n; output_open && (n = ::read(instance->output, buffer, sizeof buffer)) > 0;) {
    log_.write(instance->pid, std::string_view(buffer, static_cast<size_t>(n)));
  }
  log_.flush(instance->pid);
  ended(*instance, wait_status);
}

void ProviderProcess::on_frame(Instance& instance, char type, std::string_view payload) {
  auto find = [&](uint32_t id) -> std::shared_ptr<Pending> {
    std::lock_guard lock(instance.mutex);
    auto it = instance.calls.find(id);
    return it == instance.calls.end() ? nullptr : it->second;
  };
  if (type == 'o' || type == 'e') {
    uint32_t id = frame_call_id(payload);
    auto pending = find(id);
    if (!pending) return;
    {
      std::lock_guard lock(pending->mutex);
      if (!pending->output || !pending->cancel_reason.empty()) return;
      if (pending->queued_bytes > kMaxQueuedOutput) {
        pending->cancel_reason = "the client is not reading the command's output";
      } else {
        std::string_view bytes = frame_bytes(payload);
        pending->queued_bytes += bytes.size();
        pending->output_queue.emplace_back(type == 'o' ? OutputStream::stdout_stream : OutputStream::stderr_stream, std::string(bytes));
      }
    }
    pending->changed.notify_all();
    return;
  }
  if (type == 'w') {
    auto pending = find(frame_call_id(payload));
    if (!pending || frame_bytes(payload).size() != 4) return;
    {
      std::lock_guard lock(pending->mutex);
      pending->input_unacknowledged -= std::min<uint64_t>(frame_call_id(frame_bytes(payload)), pending->input_unacknowledged);
    }
    pending->changed.notify_all();
    return;
  }
  if (type != 'J') return;
  Json message = Json::parse(payload);
  std::string kind = message.value("type", "");
  if (kind == "hello" || kind == "refused") {
    std::lock_guard lock(instance.mutex);
    if (instance.greeting != Instance::Greeting::waiting) return;
    instance.hello = message;
    instance.greeting = kind == "hello" ? Instance::Greeting::greeted : Instance::Greeting::refused;
    instance.refusal = message.value("reason", "");
    instance.changed.notify_all();
    return;
  }
  auto pending = find(message.value("id", 0u));
  if (!pending) return;
  if (kind == "change") {
    if (pending->watch) pending->watch->changed(infra_change_from_json(message));
  } else if (kind == "progress") {
    if (auto data = message.find("provider_data"); data != message.end() && data->is_object()) {
      StringMap snapshot = data->get<StringMap>();
      std::lock_guard lock(pending->mutex);
      pending->provider_data = std::move(snapshot);
    }
    // Under the call's lock: a call berth left (abandon_call) no longer has a sink.
    std::lock_guard lock(pending->mutex);
    if (pending->progress) {
      try {
        pending->progress->line(message.value("line", ""));
      } catch (const std::exception&) {
      }
    }
  } else if (kind == "result" || kind == "error") {
    {
      std::lock_guard lock(instance.mutex);
      uint32_t id = message.value("id", 0u);
      instance.calls.erase(id);
      instance.abandoned.erase(id);
      // Left serving only calls berth gave up on: nobody else is hurt by ending it now.
      if (!instance.abandoned.empty() && serving_others(instance, 0) == 0) kill_locked(instance, instance.abandoned.begin()->second);
    }
    {
      std::lock_guard lock(pending->mutex);
      pending->reply = std::move(message);
      pending->done = true;
    }
    pending->changed.notify_all();
  }
}

void ProviderProcess::ended(Instance& instance, int wait_status) {
  std::map<uint32_t, std::shared_ptr<Pending>> calls;
  std::string killed;
  bool was_serving = false;
  {
    std::lock_guard lock(instance.mutex);
    // A host that ended by itself before berth's SIGKILL landed (a crash that closed its socket
    // as berth was sending) is named by how it ended, not by why berth was about to kill it.
    bool by_itself = !WIFSIGNALED(wait_status) || WTERMSIG(wait_status) != SIGKILL;
    if (by_itself && !instance.kill_is_crash) instance.kill_reason.clear();
    killed = instance.kill_is_crash ? "" : instance.kill_reason;
    instance.death = instance.kill_is_crash ? "was killed by berth (" + instance.kill_reason + ")"
                     : killed.empty()       ? (WIFSIGNALED(wait_status) ? "crashed (" : "exited (") + describe_wait_status(wait_status) + ")"
                                            : "was killed by berth (" + killed + ")";
    was_serving = instance.greeting == Instance::Greeting::greeted;
    instance.ended = true;
    calls.swap(instance.calls);
    ::close(instance.socket);
    ::close(instance.output);
    instance.changed.notify_all();
  }
  std::string in_flight;
  for (const auto& [id, pending] : calls) in_flight += (in_flight.empty() ? "" : ", ") + pending->method;
  log_.note("host pid " + std::to_string(instance.pid) + " " + instance.death +
            (in_flight.empty() ? "" : " during " + in_flight));
  {
    std::lock_guard lock(mutex_);
    if (current_.get() == &instance) current_.reset();
    bool crashed = killed.empty() && was_serving;
    if (crashed) {
      auto now = std::chrono::steady_clock::now();
      crashes_.push_back(now);
      while (!crashes_.empty() && now - crashes_.front() > kCrashWindow) crashes_.pop_front();
      not_before_ = now + std::chrono::milliseconds(100) * (1 << std::min<size_t>(crashes_.size() - 1, 5) * 2);
      if (crashes_.size() >= kCrashesToQuarantine) {
        quarantine_ = "it crashed " + std::to_string(crashes_.size()) + " times within a minute; the last time its host " +
                      instance.death + (in_flight.empty() ? "" : " during " + in_flight);
        log_.note("quarantined: " + quarantine_);
      }
    }
    changed_.notify_all();
  }
  for (const auto& [id, pending] : calls) {
    std::string message = killed.empty() ? failure_prefix() + " " + instance.death + " during " + pending->method
                                         : failure_prefix() + " was stopped during " + pending->method + ": " + killed;
    {
      std::lock_guard lock(pending->mutex);
      pending->reply = Json{{"type", "error"}, {"code", "provider_failed"}, {"message", message}};
      pending->done = true;
    }
    pending->changed.notify_all();
  }
}

void ProviderProcess::kill_instance(Instance& instance, const std::string& reason) {
  std::lock_guard lock(instance.mutex);
  kill_locked(instance, reason);
}

bool ProviderProcess::abandon_call(Instance& instance, uint32_t id, Pending& pending, const std::string& why) {
  {
    std::lock_guard lock(instance.mutex);
    if (instance.retiring || !instance.calls.count(id) || pending.method == "watch") return false;
    size_t others = serving_others(instance, id);
    if (others == 0) return false;  // nobody else to spare: kill it
    instance.abandoned[id] = why;
    log_.note("host pid " + std::to_string(instance.pid) + ": " + pending.method + " " + why + "; left to end by itself, since the host serves " +
              std::to_string(others) + " other call" + (others == 1 ? "" : "s") + " (it is ended once it serves only calls left like this one)");
  }
  // The caller's sinks go with the caller: what the call still sends is dropped.
  std::lock_guard lock(pending.mutex);
  pending.progress = nullptr;
  pending.output = nullptr;
  pending.output_queue.clear();
  pending.queued_bytes = 0;
  return true;
}

size_t ProviderProcess::serving_others(const Instance& instance, uint32_t except) {
  // A watch does not count: it runs as long as the host, and comes back with the next one.
  return static_cast<size_t>(std::count_if(instance.calls.begin(), instance.calls.end(), [&](const auto& call) {
    return call.first != except && !instance.abandoned.count(call.first) && call.second->method != "watch";
  }));
}

void ProviderProcess::kill_locked(Instance& instance, const std::string& reason) {
  if (instance.reaping) return;  // it is ending already, and its pid may soon be another's
  if (instance.kill_reason.empty()) instance.kill_reason = reason;
  instance.retiring = true;
  kill_session(instance.pid);
  // Wakes the reader even when a grandchild still holds the host's end of the socket.
  ::shutdown(instance.socket, SHUT_RDWR);
}

void ProviderProcess::send_failed(Instance& instance) {
  int pidfd = -1;
  {
    std::lock_guard lock(instance.mutex);
    if (instance.reaping) return;  // the reader has seen it end and names how
    pidfd = instance.open_pidfd();
  }
  bool ended = ended_within(pidfd, kExitBound);
  if (pidfd >= 0) ::close(pidfd);
  if (ended) {
    // It died: the reader reaps it and fails its calls with the exit status.
    std::lock_guard lock(instance.mutex);
    if (!instance.ended) ::shutdown(instance.socket, SHUT_RDWR);
    return;
  }
  kill_instance(instance, "it stopped reading berth's requests");
}

ProviderReply ProviderProcess::call(const ProviderCall& call) {
  auto instance = running_instance();
  auto pending = std::make_shared<Pending>();
  const std::string& what = call.label.empty() ? call.method : call.label;
  pending->method = what;
  pending->progress = call.progress;
  pending->output = call.output;
  pending->watch = call.watch;
  uint32_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = ++next_call_id_;
  }
  auto now = std::chrono::system_clock::now();
  bool has_deadline = call.timeout.count() > 0;
  Json request{{"type", "call"},
               {"id", id},
               {"method", call.method},
               {"data_dir", call.data_dir},
               {"deadline_ms", has_deadline ? epoch_ms(now + call.timeout) : 0LL}};
  if (call.workspace) request["workspace"] = *call.workspace;
  if (call.properties) request["properties"] = *call.properties;
  if (call.exec) request["exec"] = exec_request_to_json(*call.exec);
  if (call.session) request["session"] = session_request_to_json(*call.session);
  if (call.method == "connect") request["port"] = call.port;
  if (what != call.method) request["label"] = what;
  {
    std::lock_guard lock(instance->mutex);
    if (instance->ended) {
      throw provider_failed(failure_prefix() + " " + instance->death + " before " + what + " could start");
    }
    instance->calls[id] = pending;
  }
  // A send that fails or times out means the host is gone or stopped reading: it is ended,
  // and the reader fails this call like every other in flight.
  bool sent = instance->writer->json(request);
  if (sent && call.exec) {
    const std::string& input = call.exec->stdin_data;
    for (size_t at = 0; sent && at < input.size(); at += kStdinChunk) {
      sent = instance->writer->data('i', id, std::string_view(input).substr(at, kStdinChunk));
    }
    sent = sent && instance->writer->data('c', id, {});
  }
  if (!sent) send_failed(*instance);

  // A session's client input goes to the host on a thread of its own while this one relays
  // the output; it is stopped and joined however the call ends.
  class Relay : public StreamRelay {
   public:
    Relay(Instance& instance, Pending& pending, uint32_t id) : instance_(instance), pending_(pending), id_(id) {}
    bool input(std::string_view bytes) override {
      {
        std::unique_lock lock(pending_.mutex);
        pending_.changed.wait(lock, [&] { return pending_.input_unacknowledged < kStreamWindow || over(); });
        if (over()) return false;
        pending_.input_unacknowledged += bytes.size();
      }
      return instance_.writer->data('i', id_, bytes);
    }
    bool end_of_input() override { return !finished() && instance_.writer->data('c', id_, {}); }
    bool resize(int rows, int cols) override { return !finished() && instance_.writer->data('r', id_, encode_size(rows, cols)); }
    bool signal(const std::string& name) override { return !finished() && instance_.writer->data('s', id_, name); }
    void client_gone() override {
      {
        std::lock_guard lock(pending_.mutex);
        if (pending_.cancel_reason.empty()) pending_.cancel_reason = "the client went away";
      }
      pending_.changed.notify_all();
    }

   private:
    bool over() const { return pending_.done || !pending_.cancel_reason.empty(); }
    bool finished() {
      std::lock_guard lock(pending_.mutex);
      return over();
    }
    Instance& instance_;
    Pending& pending_;
    uint32_t id_;
  };
  Relay relay(*instance, *pending, id);
  std::thread input_thread;
  if (call.input && sent) input_thread = std::thread([&] { call.input->run(relay); });
  struct InputJoin {
    StreamInput* input;
    std::thread& thread;
    Pending& pending;
    ~InputJoin() {
      if (!thread.joinable()) return;
      pending.changed.notify_all();
      input->stop();
      thread.join();
    }
  } input_join{call.input, input_thread, *pending};

  // A watch's set of workspaces goes to the host on a thread of its own, the same way.
  std::thread feed_thread;
  if (call.watch && sent) {
    feed_thread = std::thread([&] {
      call.watch->run([&](const Json& update) {
        if (relay_finished(*pending)) return false;
        Json frame = update;
        frame["type"] = "watched";
        frame["id"] = id;
        return instance->writer->json(frame);
      });
    });
  }
  struct FeedJoin {
    WatchFeed* watch;
    std::thread& thread;
    ~FeedJoin() {
      if (!thread.joinable()) return;
      watch->stop();
      thread.join();
    }
  } feed_join{call.watch, feed_thread};

  std::unique_lock lock(pending->mutex);
  // Waits until `until` or `stop` holds, writing queued output to the client meanwhile (on
  // this thread: a slow client holds up only its own call).
  auto pump = [&](std::chrono::steady_clock::time_point until, auto stop) {
    while (true) {
      pending->changed.wait_until(lock, until, [&] { return stop() || !pending->output_queue.empty(); });
      while (!pending->output_queue.empty()) {
        auto chunk = std::move(pending->output_queue.front());
        pending->output_queue.pop_front();
        pending->queued_bytes -= chunk.second.size();
        OutputSink* output = pending->output;
        if (!output) continue;
        lock.unlock();
        bool written = true;
        try {
          output->write(chunk.first, chunk.second);
        } catch (const std::exception&) {
          written = false;
        }
        lock.lock();
        if (!written) {
          pending->output = nullptr;
          if (pending->cancel_reason.empty()) pending->cancel_reason = "the client went away";
        } else if ((pending->output_consumed += static_cast<uint32_t>(chunk.second.size())) >= kWindowUpdate) {
          // The host sends a stream's output only within the window this reopens.
          std::string count = encode_u32(std::exchange(pending->output_consumed, 0));
          lock.unlock();
          instance->writer->data('w', id, count);
          lock.lock();
        }
      }
      if (stop() || std::chrono::steady_clock::now() >= until) return stop();
    }
  };
  auto deadline = has_deadline ? std::chrono::steady_clock::now() + call.timeout : std::chrono::steady_clock::time_point::max();
  pump(deadline, [&] { return pending->done || !pending->cancel_reason.empty(); });
  std::string ended_because;
  if (!pending->done) {
    ended_because = !pending->cancel_reason.empty()
                        ? pending->cancel_reason
                        : what + " timed out after " + seconds_text(call.timeout) + " (" + call.timeout_source + ")";
    auto grace = grace_for(call.timeout);
    lock.unlock();
    Json cancel{{"type", "cancel"}, {"id", id}};
    if (!instance->writer->json(cancel)) send_failed(*instance);
    lock.lock();
    if (!pump(std::chrono::steady_clock::now() + grace, [&] { return pending->done; })) {
      // A slow end of one call never ends the process that serves everyone else's: the call
      // is left to end by itself while others run, and the host is killed when none does.
      std::string late = ended_because + "; it did not return within " + seconds_text(grace) + " of being asked to end";
      lock.unlock();
      bool left = abandon_call(*instance, id, *pending, late);
      if (!left) kill_instance(*instance, late);
      lock.lock();
      if (left) throw provider_failed(late);
      pending->changed.wait(lock, [&] { return pending->done; });
    }
  }
  // What the provider recorded reaches the record also when the call crashed or was killed.
  if (call.provider_data && pending->provider_data) *call.provider_data = *pending->provider_data;
  const Json& reply = pending->reply;
  if (call.provider_data && reply.contains("provider_data") && reply["provider_data"].is_object()) {
    *call.provider_data = reply["provider_data"].get<StringMap>();
  }
  if (reply.value("type", "") == "error") {
    std::string message = reply.value("message", "");
    if (!ended_because.empty() && message.find(ended_because) == std::string::npos) {
      message = ended_because + " (" + failure_prefix() + ": " + message + ")";
    }
    throw Error(reply.value("code", "provider_failed"), message.empty() ? failure_prefix() + " failed without a message" : message);
  }
  if (!ended_because.empty()) throw provider_failed(ended_because);
  ProviderReply result;
  if (reply.contains("status")) result.status = status_from_json(reply["status"]);
  result.exit_code = reply.value("exit_code", 0);
  if (auto cpu = reply.find("cpu_seconds"); cpu != reply.end() && cpu->is_number()) result.cpu_seconds = cpu->get<double>();
  if (reply.contains("check")) result.check = TargetCheck{reply["check"].value("ok", false), reply["check"].value("message", "")};
  return result;
}

}  // namespace berth
