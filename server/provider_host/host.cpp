// berth-provider-host: loads one provider library and serves it to berth-server over the
// socket it was given (fd 3), in the provider protocol (core/src/provider_protocol.hpp). The
// provider's code runs only here: if it crashes, hangs or corrupts memory, this process ends
// and the server carries on. stdout and stderr (the provider's stray output) go to the pipe
// the server reads into logs/providers/NAME.log.
#include "host.hpp"

#include "exec_frames.hpp"
#include "module_files.hpp"
#include "provider_protocol.hpp"

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr int kSocketFd = 3;
// How long sessions may take to end what they started once the server is gone.
constexpr auto kEndGrace = std::chrono::seconds(3);

// A session's or port connection's client, as the provider sees it: events the server sent
// for the call, queued; output sent within the window the server grants.
class HostChannel : public SessionChannel {
 public:
  HostChannel(FrameWriter& writer, uint32_t id) : writer_(writer), id_(id) {
    if (::pipe2(signal_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe: out of descriptors");
  }
  ~HostChannel() override {
    ::close(signal_[0]);
    ::close(signal_[1]);
  }
  int event_fd() const override { return signal_[0]; }

  std::optional<SessionEvent> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !events_.empty() || closed_; })) return std::nullopt;
    if (events_.empty()) return SessionEvent{SessionEvent::Kind::closed, {}, 0, 0};
    SessionEvent event = std::move(events_.front());
    events_.pop_front();
    if (events_.empty()) {
      char byte;
      [[maybe_unused]] ssize_t n = ::read(signal_[0], &byte, 1);  // readable again at the next push
    }
    if (event.kind == SessionEvent::Kind::input) {
      consumed_ += static_cast<uint32_t>(event.data.size());
      if (consumed_ >= kWindowUpdate) {
        std::string count = encode_u32(consumed_);
        consumed_ = 0;
        lock.unlock();
        writer_.data('w', id_, count);
      }
    }
    return event;
  }

  void write(OutputStream stream, std::string_view data) override {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return unacknowledged_ < kStreamWindow || closed_; });
      if (closed_) throw Error("provider_failed", "the client went away");
      unacknowledged_ += data.size();
    }
    if (!writer_.data(stream == OutputStream::stdout_stream ? 'o' : 'e', id_, data)) {
      throw Error("provider_failed", "berth-server went away");
    }
  }

  // From the reader: an event for the provider, a window update, the end.
  void push(SessionEvent event) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      if (events_.empty()) [[maybe_unused]] ssize_t n = ::write(signal_[1], "e", 1);
      events_.push_back(std::move(event));
    }
    changed_.notify_all();
  }
  void acknowledged(uint32_t bytes) {
    {
      std::lock_guard lock(mutex_);
      unacknowledged_ -= std::min<uint64_t>(bytes, unacknowledged_);
    }
    changed_.notify_all();
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      if (!closed_ && events_.empty()) [[maybe_unused]] ssize_t n = ::write(signal_[1], "e", 1);
      closed_ = true;
    }
    changed_.notify_all();
  }

 private:
  FrameWriter& writer_;
  uint32_t id_;
  int signal_[2] = {-1, -1};  // one byte in it while events_ is not empty (or once closed)
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<SessionEvent> events_;
  bool closed_ = false;
  uint64_t unacknowledged_ = 0;  // output bytes sent that the server has not consumed yet
  uint32_t consumed_ = 0;        // input bytes taken since the last window update
};

// A watch call's side of the provider (SDK 1.3): the workspaces the server sent ("watched"
// frames, applied by the reader), and the changes the provider reports, sent at once.
class HostWatch : public WatchContext {
 public:
  HostWatch(FrameWriter& writer, uint32_t id, std::string data_dir, const Cancellation& cancellation)
      : writer_(writer), id_(id), data_dir_(std::move(data_dir)), cancellation_(cancellation) {}
  const std::string& data_dir() const override { return data_dir_; }
  const Cancellation& cancellation() const override { return cancellation_; }
  std::vector<WatchedWorkspace> workspaces() override {
    std::lock_guard lock(mutex_);
    seen_ = generation_;
    std::vector<WatchedWorkspace> all;
    all.reserve(workspaces_.size());
    for (const auto& [name, workspace] : workspaces_) all.push_back(workspace);
    return all;
  }
  bool changed(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return generation_ != seen_ || woken_; });
  }
  void report(const InfraChange& change) override {
    Json message = infra_change_to_json(change);
    message["type"] = "change";
    message["id"] = id_;
    if (!writer_.json(message)) throw Error("provider_failed", "berth-server went away");
  }

  // From the reader: {"put": [workspace...], "drop": [name...]}.
  void apply(const Json& message) {
    {
      std::lock_guard lock(mutex_);
      if (auto put = message.find("put"); put != message.end() && put->is_array()) {
        for (const auto& item : *put) {
          WatchedWorkspace workspace = watched_workspace_from_json(item);
          if (!workspace.name.empty()) workspaces_[workspace.name] = std::move(workspace);
        }
      }
      if (auto drop = message.find("drop"); drop != message.end() && drop->is_array()) {
        for (const auto& name : *drop) {
          if (name.is_string()) workspaces_.erase(name.get<std::string>());
        }
      }
      ++generation_;
    }
    changed_.notify_all();
  }
  // Cancelled: a provider waiting in changed() returns now.
  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    changed_.notify_all();
  }

 private:
  FrameWriter& writer_;
  uint32_t id_;
  std::string data_dir_;
  const Cancellation& cancellation_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, WatchedWorkspace> workspaces_;
  uint64_t generation_ = 0;
  uint64_t seen_ = 0;
  bool woken_ = false;
};

// One call in progress, as the host tracks it.
struct Call {
  explicit Call(Cancellation::Clock::time_point deadline) : cancellation(deadline) {}
  Cancellation cancellation;
  Json request;
  std::string stdin_data;
  std::unique_ptr<HostChannel> channel;  // session and connect
  std::unique_ptr<HostWatch> watch;      // watch
};

// Progress lines, and with each the provider's data when it changed since the last line: what
// a provider records as soon as it made something reaches the server even if the call then
// crashes or is killed, so a delete can still find it.
class ProgressFrames : public ProgressSink {
 public:
  static constexpr size_t kMaxLine = 64 << 10;
  ProgressFrames(FrameWriter& writer, uint32_t id, const Cancellation& cancellation, const StringMap& provider_data)
      : writer_(writer), id_(id), cancellation_(cancellation), provider_data_(provider_data), sent_(provider_data) {}
  void line(std::string_view text) override {
    if (cancellation_.requested()) throw Error("provider_failed", "the operation was cancelled");
    Json message{{"type", "progress"}, {"id", id_}, {"line", std::string(text.substr(0, kMaxLine))}};
    if (provider_data_ != sent_) {
      sent_ = provider_data_;
      message["provider_data"] = sent_;
    }
    writer_.json(message);
  }

 private:
  FrameWriter& writer_;
  uint32_t id_;
  const Cancellation& cancellation_;
  const StringMap& provider_data_;
  StringMap sent_;
};

class OutputFrames : public OutputSink {
 public:
  OutputFrames(FrameWriter& writer, uint32_t id, const Cancellation& cancellation)
      : writer_(writer), id_(id), cancellation_(cancellation) {}
  void write(OutputStream stream, std::string_view data) override {
    if (cancellation_.requested()) throw Error("provider_failed", "the command was cancelled");
    if (!writer_.data(stream == OutputStream::stdout_stream ? 'o' : 'e', id_, data)) {
      throw Error("provider_failed", "berth-server went away");
    }
  }

 private:
  FrameWriter& writer_;
  uint32_t id_;
  const Cancellation& cancellation_;
};

class Host {
 public:
  // `library_api`: the SDK version the library was built against (checked against its manifest).
  Host(std::string name, std::shared_ptr<Provider> provider, ApiVersion library_api, FrameWriter& writer)
      : name_(std::move(name)), provider_(std::move(provider)), library_api_(library_api), writer_(writer) {}

  // Serves until the server closes the socket, then ends the process. Leader and followers:
  // one thread reads the socket; when a call arrives, it hands the reading to a follower and
  // runs the call itself, so a quick call (status) costs no thread switch in the host. Each
  // call in flight has a thread, since a provider may block in any call.
  [[noreturn]] void serve() {
    available_.fetch_add(1);  // this thread
    serve_calls(Leave::never);
    std::abort();  // unreachable: serve_calls never returns with Leave::never
  }

 private:
  // Whether a thread may end once its call is done: the main thread never does (the process
  // would end with it); the others do when another thread is already available to read, so a
  // burst of calls leaves no parked thread behind.
  enum class Leave { never, when_spare };

  // The calling thread is counted in available_ (by whoever made it available) on entry.
  void serve_calls(Leave leave) {
    while (true) {
      Ready task;
      {
        std::unique_lock read(read_mutex_);
        while (ready_.empty()) read_some();
        task = std::move(ready_.front());
        ready_.pop_front();
      }
      // This thread now runs a call; when it was the last one available, another reads on.
      if (available_.fetch_sub(1) == 1) {
        available_.fetch_add(1);
        std::thread([this] { serve_calls(Leave::when_spare); }).detach();
      }
      Json reply = run(task.id, *task.call);
      {
        std::lock_guard lock(mutex_);
        calls_.erase(task.id);
      }
      writer_.json(reply);
      if (leave == Leave::never) {
        available_.fetch_add(1);
        continue;
      }
      // Stay only as the one available thread: of many calls ending at once, exactly one finds
      // none available and stays; the rest end (a check-then-add would let several stay).
      int none = 0;
      if (!available_.compare_exchange_strong(none, 1)) return;
    }
  }

  struct Ready {
    uint32_t id = 0;
    std::shared_ptr<Call> call;
  };

  // Under read_mutex_: reads what the socket has and turns it into frames.
  void read_some() {
    char buffer[65536];
    ssize_t n = ::read(kSocketFd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    // The server closed the socket (or died): calls still running have nobody to answer, and
    // what they started goes with them. The provider's destructor is not run, since its calls
    // may still be inside it.
    if (n <= 0) {
      end_calls_in_flight();
      kill_session(::getpid(), ::getpid());
      ::_exit(0);
    }
    decoder_.feed(buffer, static_cast<size_t>(n));
  }

  // Under read_mutex_, from the decoder.
  void on_frame(char type, std::string_view payload) {
    if (type == 'J') {
      Json message = Json::parse(payload);
      uint32_t id = message.value("id", 0u);
      std::string kind = message.value("type", "");
      if (kind == "call") {
        long long deadline_ms = message.value("deadline_ms", 0LL);
        auto deadline = deadline_ms > 0 ? Cancellation::Clock::time_point(std::chrono::milliseconds(deadline_ms))
                                        : Cancellation::Clock::time_point::max();
        auto call = std::make_shared<Call>(deadline);
        call->request = std::move(message);
        std::string method = call->request.value("method", "");
        if (method == "session" || method == "connect") call->channel = std::make_unique<HostChannel>(writer_, id);
        if (method == "watch") call->watch = std::make_unique<HostWatch>(writer_, id, call->request.value("data_dir", ""), call->cancellation);
        {
          std::lock_guard lock(mutex_);
          calls_[id] = call;
        }
        // exec waits for its stdin ('c'); everything else starts now.
        if (method != "exec") start(id, call);
      } else if (kind == "cancel") {
        if (auto call = find(id)) {
          call->cancellation.request();
          if (call->channel) call->channel->close();
          if (call->watch) call->watch->wake();
        }
      } else if (kind == "watched") {
        if (auto call = find(id); call && call->watch) call->watch->apply(message);
      }
      return;
    }
    auto call = find(frame_call_id(payload));
    if (!call) return;
    std::string_view bytes = frame_bytes(payload);
    if (!call->channel) {
      if (type == 'i') call->stdin_data.append(bytes);
      if (type == 'c') start(frame_call_id(payload), call);
      return;
    }
    using Kind = SessionEvent::Kind;
    if (type == 'i') {
      call->channel->push(SessionEvent{Kind::input, std::string(bytes), 0, 0});
    } else if (type == 'c') {
      call->channel->push(SessionEvent{Kind::end_of_input, {}, 0, 0});
    } else if (type == 'r') {
      SessionEvent event{Kind::resize, {}, 0, 0};
      if (decode_size(bytes, event.rows, event.cols)) call->channel->push(std::move(event));
    } else if (type == 's') {
      call->channel->push(SessionEvent{Kind::signal, std::string(bytes), 0, 0});
    } else if (type == 'w' && bytes.size() == 4) {
      call->channel->acknowledged(frame_call_id(bytes));
    }
  }

  // Under read_mutex_, before the host ends with its server: every call in flight is cancelled
  // (a session hears `closed`), and sessions and port connections are given a moment to return,
  // since what they started may live outside this process's session, where killing the session
  // cannot reach it (a command in a container). Bounded: a provider may never return.
  void end_calls_in_flight() {
    std::vector<uint32_t> streams;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, call] : calls_) {
        call->cancellation.request();
        if (call->watch) call->watch->wake();
        if (!call->channel) continue;
        call->channel->close();
        bool queued = false;  // never started: nothing to wait for
        for (const auto& ready : ready_) queued |= ready.id == id;
        if (!queued) streams.push_back(id);
      }
    }
    auto until = std::chrono::steady_clock::now() + kEndGrace;
    while (!streams.empty() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::lock_guard lock(mutex_);
      std::erase_if(streams, [&](uint32_t id) { return calls_.count(id) == 0; });
    }
  }

  void start(uint32_t id, std::shared_ptr<Call> call) { ready_.push_back(Ready{id, std::move(call)}); }

  std::shared_ptr<Call> find(uint32_t id) {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second;
  }

  // Every call into the provider goes through here, and nothing it throws gets past.
  Json run(uint32_t id, Call& call) {
    const Json& request = call.request;
    std::string method = request.value("method", "");
    Workspace workspace;
    // What the provider recorded before it failed is kept too: it may be what delete needs.
    auto failed = [&](const std::string& code, const std::string& message) {
      return Json{{"type", "error"}, {"id", id}, {"code", code}, {"message", message}, {"provider_data", workspace.provider_data}};
    };
    try {
      if (request.contains("workspace")) workspace = request["workspace"].get<Workspace>();
      StringMap properties = request.value("properties", StringMap{});
      std::string data_dir = request.value("data_dir", "");
      ProgressFrames progress(writer_, id, call.cancellation, workspace.provider_data);
      OperationContext context{workspace, properties, workspace.provider_data, progress, data_dir, call.cancellation};
      Json reply{{"type", "result"}, {"id", id}};
      if (method == "create") {
        provider_->create(context);
      } else if (method == "start") {
        provider_->start(context);
      } else if (method == "stop") {
        provider_->stop(context);
      } else if (method == "destroy") {
        provider_->destroy(context);
      } else if (method == "status") {
        reply["status"] = status_to_json(provider_->status(context));
      } else if (method == "exec") {
        ExecRequest exec = exec_request_from_json(request.value("exec", Json::object()));
        exec.stdin_data = std::move(call.stdin_data);
        OutputFrames output(writer_, id, call.cancellation);
        reply["exit_code"] = provider_->exec(context, exec, output);
      } else if (method == "session") {
        SessionRequest session = session_request_from_json(request.value("session", Json::object()));
        reply["exit_code"] = provider_->session(context, session, *call.channel);
      } else if (method == "connect") {
        provider_->connect(context, request.value("port", 0), *call.channel);
      } else if (method == "rebuild") {
        require_sdk(ApiVersion{1, 3}, "Provider::rebuild");
        provider_->rebuild(context);
      } else if (method == "release_target") {
        if (library_api_.minor >= 3) provider_->release_target(properties, data_dir);  // nothing to release before 1.3
      } else if (method == "watch") {
        require_sdk(ApiVersion{1, 3}, "Provider::watch");
        provider_->watch(*call.watch);
      } else if (method == "validate_target") {
        if (library_api_.minor >= 4) provider_->validate_target(properties);  // nothing to say before 1.4
      } else if (method == "cpu_seconds") {
        reply["cpu_seconds"] = library_api_.minor >= 5 ? provider_->cpu_seconds(context) : -1.0;  // not known before 1.5
      } else if (method == "check_target") {
        TargetCheck check = provider_->check_target(properties, data_dir);
        reply["check"] = Json{{"ok", check.ok}, {"message", check.message}};
      } else {
        return failed("internal", "unknown method '" + method + "'");
      }
      reply["provider_data"] = workspace.provider_data;
      return reply;
    } catch (const Error& error) {
      return failed(error.code(), error.what());
    } catch (const std::exception& error) {
      return failed("provider_failed", error.what());
    } catch (...) {
      return failed("provider_failed",
                    "provider " + name_ + " threw something that is not a std::exception during " + request.value("label", method));
    }
  }

  // Refuses a method that came with SDK `since` when the library was built against an older
  // minor: its vtable has no slot for it, and calling through one would jump past the table.
  void require_sdk(ApiVersion since, const char* method) const {
    if (library_api_.major == since.major && library_api_.minor >= since.minor) return;
    throw Error("unsupported", "this provider was built against SDK " + to_string(library_api_) + ", which has no " + method +
                                   " (SDK " + to_string(since) + "); rebuild it against this berth's SDK to use it");
  }

  std::string name_;  // the provider's, for messages
  std::shared_ptr<Provider> provider_;
  ApiVersion library_api_;  // what the library reported (berth_provider_api_version)
  FrameWriter& writer_;
  std::mutex mutex_;
  std::map<uint32_t, std::shared_ptr<Call>> calls_;
  std::mutex read_mutex_;  // held by the thread that reads the socket (the leader)
  FrameDecoder decoder_{[this](char type, std::string_view payload) { this->on_frame(type, payload); }, kMaxProviderFrame};
  std::deque<Ready> ready_;  // calls ready to run, under read_mutex_
  std::atomic<int> available_{0};  // threads waiting for, or reading, the next call
};

using Library = boost::dll::shared_library;

// Loads the library and makes its provider, or says why not. Nothing of the library runs
// before the open descriptor is checked; only its constructors run before the handshake.
std::shared_ptr<Provider> load(const HostOptions& options, Json& hello, std::string& refusal, ApiVersion& library_api) {
  int fd = -1;
  try {
    fd = open_module_library(options.library, options.dropin);
  } catch (const std::exception& error) {
    refusal = error.what();
    return nullptr;
  }
  // Loaded from its descriptor, the library's own path (dladdr) reads /proc/self/fd/N: these
  // say which file and which provider it is.
  ::setenv("BERTH_PROVIDER_LIBRARY", options.library.c_str(), 1);
  ::setenv("BERTH_PROVIDER_NAME", options.library.stem().c_str(), 1);
  std::shared_ptr<Library> library;
  try {
    library = std::make_shared<Library>(fs::path("/proc/self/fd/" + std::to_string(fd)),
                                        boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    ::close(fd);
    refusal = "not a loadable shared library: " + std::string(error.what());
    return nullptr;
  }
  ::close(fd);
  auto missing = [&](const char* symbol) {
    if (library->has(symbol)) return false;
    refusal = "missing entry symbol " + std::string(symbol) + " (build it with BERTH_PROVIDER from SDK " + to_string(sdk_api_version) + ")";
    return true;
  };
  if (missing("berth_provider_api_version")) return nullptr;
  const ApiVersion* reported = library->get<const ApiVersion*() noexcept>("berth_provider_api_version")();
  if (reported == nullptr) {
    refusal = "the library reports no API version";
    return nullptr;
  }
  if (reported->major != options.manifest_api.major || reported->minor != options.manifest_api.minor) {
    refusal = "the library was built for SDK API " + to_string(*reported) + " but its manifest says " + to_string(options.manifest_api);
    return nullptr;
  }
  if (auto reason = api_version_mismatch(*reported, sdk_api_version); !reason.empty()) {
    refusal = reason;
    return nullptr;
  }
  library_api = *reported;
  if (missing("berth_provider_abi") || missing("berth_provider_create")) return nullptr;
  const AbiFacts* reported_facts = library->get<const AbiFacts*() noexcept>("berth_provider_abi")();
  constexpr AbiFacts own = compiled_abi_facts();
  if (reported_facts == nullptr) {
    refusal = "the library reports no ABI facts";
    return nullptr;
  }
  const AbiFacts facts = read_abi_facts(*reported_facts);  // an older SDK's are shorter than ours
  hello["abi"] = abi_facts_to_json(facts);
  if (auto reason = abi_mismatch(facts, own); !reason.empty()) {
    refusal = reason;
    return nullptr;
  }
  Provider* raw = nullptr;
  try {
    raw = library->get<Provider*()>("berth_provider_create")();
  } catch (const std::exception& error) {
    refusal = "its factory threw: " + std::string(error.what());
    return nullptr;
  } catch (...) {
    refusal = "its factory threw an unknown exception";
    return nullptr;
  }
  if (raw == nullptr) {
    refusal = "its factory returned no provider";
    return nullptr;
  }
  std::shared_ptr<Provider> provider(raw, [library](Provider* p) { delete p; });
  try {
    hello["info"] = provider->info();
  } catch (const std::exception& error) {
    refusal = "info() threw: " + std::string(error.what());
    return nullptr;
  } catch (...) {
    refusal = "info() threw an unknown exception";
    return nullptr;
  }
  return provider;
}

}  // namespace

int provider_host_main(const HostOptions& options) {
  // A command that closes its stdin while a session still has input for it (berth exec -i …
  // -- head -c1) makes the provider's write fail with EPIPE; by default SIGPIPE would kill the
  // host and every call in flight on it. Providers restore the default in what they start.
  ::signal(SIGPIPE, SIG_IGN);
  // The socket is the host's alone: nothing a provider runs may inherit it (and read other
  // calls' frames, or keep it open after the host died).
  ::fcntl(kSocketFd, F_SETFD, FD_CLOEXEC);
  FrameWriter writer(kSocketFd);
  Json hello{{"type", "hello"}, {"protocol", kProviderProtocolVersion}, {"sdk", to_string(sdk_api_version)},
             {"host_abi", abi_facts_to_json(compiled_abi_facts())}, {"pid", ::getpid()}};
  std::string refusal;
  ApiVersion library_api{0, 0};
  auto provider = load(options, hello, refusal, library_api);
  if (!provider) {
    writer.json(Json{{"type", "refused"}, {"reason", refusal}, {"abi", hello.value("abi", Json())}});
    ::_exit(0);  // no destructors: the library's could hang or crash
  }
  if (!writer.json(hello)) return 0;
  try {
    // Never destroyed: detached threads serve from it until the process ends, also when a
    // provider calls exit() from one of them (a static's destructor would run under them).
    auto* host = new Host(options.library.stem().string(), provider, library_api, writer);
    host->serve();
  } catch (const std::exception& error) {
    std::cerr << "berth-provider-host: " << error.what() << std::endl;
    ::_exit(3);
  }
}

}  // namespace berth
