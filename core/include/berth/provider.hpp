#pragma once
/// berth provider SDK.
///
/// A provider is a shared library that knows one kind of infrastructure. It implements
/// berth::Provider and registers it with BERTH_PROVIDER(ClassName) in exactly one source file.
/// Beside the library lies its manifest, NAME.yaml, which the host reads without running the
/// library's code:
///
///     name: folder                 # must equal info().name and the file's base name
///     version: 1.2.0               # must equal info().version
///     api_version: "1.5"           # the SDK API version the library was built against
///     description: Workspaces as plain folders
///
/// The library runs in its own process (berth-provider-host), never in the server's. That
/// process loads it with RTLD_NOW | RTLD_LOCAL, checks the API version and the ABI facts the
/// library was compiled with before calling anything else, and catches every exception at the
/// boundary; a crash or a hang ends only that process. Walkthrough: docs/providers.md.
#include <berth/io.hpp>
#include <berth/sdk.hpp>
#include <berth/types.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

/// An operation's deadline, and the host's request that it end. A long operation polls
/// requested() or waits with wait_for() between its steps and gives up (throws) once it is set.
/// Past the deadline berth requests cancellation; if the operation has not returned after a
/// grace period, its provider process is killed.
class Cancellation {
 public:
  using Clock = std::chrono::system_clock;
  explicit Cancellation(Clock::time_point deadline = Clock::time_point::max()) : deadline_(deadline) {}
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  /// When the operation must have ended; time_point::max() when it has no deadline.
  Clock::time_point deadline() const { return deadline_; }
  /// True once berth asked the operation to end (deadline passed, client gone, shutdown).
  bool requested() const {
    std::lock_guard lock(mutex_);
    return requested_;
  }
  /// Waits up to timeout; true when cancellation was requested meanwhile (or before).
  bool wait_for(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return requested_; });
  }
  /// Called by the host, not by providers.
  void request() {
    {
      std::lock_guard lock(mutex_);
      requested_ = true;
    }
    changed_.notify_all();
  }

 private:
  Clock::time_point deadline_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool requested_ = false;
};

/// A cancellation that is never requested and has no deadline (for code that makes an
/// OperationContext itself, such as a provider's own tests).
inline const Cancellation& never_cancelled() {
  static const Cancellation none;
  return none;
}

/// Everything a lifecycle operation receives.
struct OperationContext {
  const Workspace& workspace;     ///< the record (name, repository, image, env, ...)
  const StringMap& properties;    ///< the target's properties, validated, defaults filled in
  StringMap& provider_data;       ///< the provider's own data on the record; changes are saved
  ProgressSink& progress;         ///< progress lines for the workspace log
  const std::string& data_dir;    ///< a folder the host gives this provider for its own files
  const Cancellation& cancellation = never_cancelled();  ///< the deadline, and whether berth asked to stop (SDK 1.1)
};

/// The real state of a workspace's infrastructure, as the provider finds it. New states only
/// ever go at the end (the numbers cross the boundary).
enum class InfraState {
  started,
  stopped,
  gone,
  unknown,
  paused  ///< frozen where it stood (docker pause): not running commands until resumed (SDK 1.3)
};

struct Status {
  InfraState state = InfraState::unknown;
  std::string detail;  ///< e.g. "container gone" or the engine's own words
};

/// What a session runs (SDK 1.2): a command, or the user's shell, with or without a terminal.
struct SessionRequest {
  std::vector<std::string> command;  ///< argv; empty: the workspace user's login shell
  StringMap env;                     ///< added to the workspace's env (TERM comes here with a terminal)
  std::string workdir;               ///< empty: the workspace's own folder
  std::string user;                  ///< empty: the provider's default
  bool tty = false;                  ///< with a terminal: one output stream, stdout; stderr is unused
  int rows = 24;                     ///< the terminal's size at the start
  int cols = 80;
  bool attach = false;               ///< a person or an editor attaches (berth ssh, also --stdio), not a
                                     ///< command run (berth exec): run what runs at attach (postAttachCommand)
};

/// One thing the client of a session (or of a port connection) did.
struct SessionEvent {
  enum class Kind {
    input,         ///< bytes for the command's standard input (or for the port); `data`
    end_of_input,  ///< no more input: close the command's stdin (or shut down writing to the port)
    resize,        ///< the terminal's new size: `rows`, `cols`
    signal,        ///< a signal for the command: `data` is its name without SIG ("INT", "TERM", "HUP")
    closed         ///< the client is gone or berth asked the session to end: end the command, return
  };
  Kind kind = Kind::input;
  std::string data;
  int rows = 0;
  int cols = 0;
};

/// The client's end of a session, as the host hands it to a provider: output goes out with
/// write() (it waits while the client is behind, so memory stays bounded), events come in
/// with next(). A provider that polls its own descriptors adds event_fd() to its poll set.
class SessionChannel : public OutputSink {
 public:
  /// Readable while an event is waiting for next().
  virtual int event_fd() const = 0;
  /// The next event, waiting up to `timeout` for one; nullopt when none came in that time.
  /// After `closed` it returns `closed` again.
  virtual std::optional<SessionEvent> next(std::chrono::milliseconds timeout) = 0;
};

/// One workspace the server asks a provider to watch (SDK 1.3): as berth recorded it.
struct WatchedWorkspace {
  std::string name;
  StringMap properties;     ///< its target's properties, defaults filled in (empty when the target was removed)
  StringMap provider_data;  ///< what the provider recorded for it (a container id, an engine address)
};

/// A change to a workspace's infrastructure the provider saw happen (SDK 1.3): a container
/// stopped, paused or removed by someone else. The server takes it as a hint: it asks the
/// provider's status() for the workspace before it changes the record, and leaves a workspace
/// alone while one of berth's own operations runs on it (it looks again when that ends).
struct InfraChange {
  std::string workspace;  ///< the workspace's name; empty when only `match` identifies it
  StringMap match;        ///< provider_data entries the record must hold, e.g. {"container_id": ID}:
                          ///< a change of a removed workspace's old container never hits its successor
  InfraState state = InfraState::unknown;  ///< the state the provider saw
  std::string detail;     ///< what happened, in the infrastructure's words ("container died, exit code 137")
};

/// What a provider's watch() receives (SDK 1.3): the workspaces to watch, kept current by the
/// server while the watch runs, and where changes go.
class WatchContext {
 public:
  virtual ~WatchContext() = default;
  /// A folder the host gives this provider for its own files (as OperationContext::data_dir).
  virtual const std::string& data_dir() const = 0;
  /// Requested when the server shuts down, or the watch is to be restarted: return soon.
  virtual const Cancellation& cancellation() const = 0;
  /// Every workspace of this provider as berth records it now (also those busy with an
  /// operation). Calling it marks the set as seen, for changed().
  virtual std::vector<WatchedWorkspace> workspaces() = 0;
  /// Waits up to `timeout` until the set differs from the one workspaces() last returned (a
  /// workspace was created, removed or re-recorded), or cancellation was requested; true then.
  virtual bool changed(std::chrono::milliseconds timeout) = 0;
  /// Tells the server what happened; may be called from any thread while watch() runs.
  /// Throws when the server is gone (the watch should then return).
  virtual void report(const InfraChange& change) = 0;
};

/// A provider. The host makes one per process and calls it from several threads at once, for
/// different workspaces; an implementation guards any state it shares between calls.
class Provider {
 public:
  virtual ~Provider() = default;

  /// Name, version, description and the target manifest (the properties a target may set).
  virtual ProviderInfo info() const = 0;

  /// Makes the workspace's infrastructure, clones the repository if any, and leaves it started.
  virtual void create(OperationContext& context) = 0;
  virtual void start(OperationContext& context) = 0;
  virtual void stop(OperationContext& context) = 0;
  /// Removes everything create made. Succeeds when it is already gone.
  virtual void destroy(OperationContext& context) = 0;
  /// Asks the infrastructure, never a cache.
  virtual Status status(OperationContext& context) = 0;
  /// Runs a command in the workspace, streams its output, returns its exit code.
  virtual int exec(OperationContext& context, const ExecRequest& request, OutputSink& output) = 0;
  /// Runs request.command (or the user's shell) in the workspace as an interactive session
  /// (SDK 1.2): events from the channel feed its stdin, terminal size and signals, its output
  /// goes to the channel as it comes; returns its exit code. On a `closed` event (or when
  /// context.cancellation is requested) end the command and everything it started, then return.
  /// `berth exec` and `berth ssh` both come here. The default serves sessions without a
  /// terminal through exec() (stdin collected first, up to 64 MiB) and refuses terminals.
  virtual int session(OperationContext& context, const SessionRequest& request, SessionChannel& channel) {
    if (request.tty) throw Error("unsupported", "this provider has no terminal sessions (it does not implement Provider::session)");
    ExecRequest command{request.command, request.env, request.workdir, request.user, {}};
    if (command.command.empty()) command.command = {"/bin/sh"};
    for (bool open = true; open;) {
      auto event = channel.next(std::chrono::milliseconds(200));
      if (context.cancellation.requested()) throw Error("provider_failed", "the session was cancelled");
      if (!event) continue;
      if (event->kind == SessionEvent::Kind::closed) throw Error("provider_failed", "the client went away");
      if (event->kind == SessionEvent::Kind::end_of_input) open = false;
      if (event->kind == SessionEvent::Kind::input) command.stdin_data += event->data;
      if (command.stdin_data.size() > (64u << 20)) {
        throw Error("too_large", "this provider takes at most 64 MiB of standard input (it does not implement Provider::session)");
      }
    }
    return exec(context, command, channel);
  }
  /// Connects to TCP port `port` inside the workspace and relays bytes both ways until either
  /// side closes (SDK 1.2): `input` events go to the port, `end_of_input` shuts down writing to
  /// it, what the port sends goes to channel.write(stdout_stream). Throw when nothing listens.
  /// The default refuses.
  virtual void connect(OperationContext& context, int port, SessionChannel& channel) {
    (void)context;
    (void)port;
    (void)channel;
    throw Error("unsupported", "this provider cannot connect to ports in its workspaces (it does not implement Provider::connect)");
  }
  /// Says whether a target's infrastructure is reachable and usable (berth doctor asks).
  /// Throwing counts as "not reachable", with the message.
  virtual TargetCheck check_target(const StringMap& properties, const std::string& data_dir) {
    (void)properties;
    (void)data_dir;
    return {true, "not checked by this provider"};
  }

  // Virtuals added by later SDK minors go here, below every older one, so the vtable slots of
  // a library built against an older minor stay where the host expects them; the host calls
  // one only when the library reported that minor or newer (it has no slot for it otherwise).

  /// Makes the workspace's infrastructure again from its definition (SDK 1.3): a new image and
  /// machine or container from a changed configuration, while the user's work (the working
  /// tree, uncommitted changes included) survives; leaves it started. `berth rebuild` comes
  /// here. The default refuses; berth never calls it on a library built against SDK < 1.3.
  virtual void rebuild(OperationContext& context) {
    (void)context;
    throw Error("unsupported", "this provider cannot rebuild its workspaces (it does not implement Provider::rebuild)");
  }
  /// The target with these properties is being removed (SDK 1.3): release what you keep for
  /// it apart from workspaces, such as a warm pool. The default does nothing.
  virtual void release_target(const StringMap& properties, const std::string& data_dir) {
    (void)properties;
    (void)data_dir;
  }
  /// Follows the infrastructure for changes berth did not make (SDK 1.3, optional), and
  /// reports each with context.report(), until context.cancellation() is requested; then
  /// returns. The server starts it once per provider process while the provider has
  /// workspaces, restarts it (with back-off) when it throws or the process dies, and cancels
  /// it at shutdown. Events lost while no watch ran are the provider's to recover: report the
  /// state of every watched workspace when (re)connecting; the server ignores reports that
  /// match its records. The default says the provider has no watch, and the server does not
  /// ask again while it runs: records then change only through berth's own operations and
  /// `berth info`.
  virtual void watch(WatchContext& context) {
    (void)context;
    throw Error("unsupported", "this provider does not watch its infrastructure (it does not implement Provider::watch)");
  }
  /// Checks a target's properties before `berth target add` saves it (SDK 1.4, optional): what
  /// the manifest cannot say, such as the form of an address. Throw berth::Error("invalid", ...)
  /// whose message starts with "property 'NAME': " and says what is expected; berth refuses the
  /// target with it (naming the file and line) and saves nothing. Look, do not connect: a target
  /// whose machine is down today is still a good target. The default accepts everything.
  virtual void validate_target(const StringMap& properties) { (void)properties; }
  /// The CPU time, in seconds, that the workspace's processes have used so far (SDK 1.5,
  /// optional): a counter that only grows while they run (a container's cgroup usage, the sum
  /// over the processes a provider started). berth's idle auto-stop (a target's `auto_stop`)
  /// compares two readings to tell long background work from an idle workspace. Asked only of
  /// a started workspace, with a short deadline: read a counter, do not measure. Negative: not
  /// known (the default), and then only sessions, execs and port connections count as activity.
  virtual double cpu_seconds(OperationContext& context) {
    (void)context;
    return -1;
  }
};

}  // namespace berth

namespace berth {

/// What the library was compiled with, as this header sees it: the host compares it with its
/// own before it calls anything else, so a library built with another standard library ABI or
/// against headers whose structs differ is refused instead of corrupting memory. Plain C
/// layout; new fields only ever go at the end (`size` says how many there are). A library of
/// an older minor has fewer: the host compares the ones it has, and never hands it the newer
/// structs (it calls no method of a newer minor).
struct AbiFacts {
  std::uint32_t size;             ///< sizeof(AbiFacts) as the library saw it
  std::int32_t sdk_major;
  std::int32_t sdk_minor;
  std::int32_t compiler_family;   ///< 1 GCC, 2 Clang, 0 other
  std::int32_t compiler_major;
  std::int32_t standard_library;  ///< 1 libstdc++, 2 libc++, 0 other
  std::int32_t cxx11_abi;         ///< _GLIBCXX_USE_CXX11_ABI, -1 without libstdc++
  std::uint32_t size_of_string;
  std::uint32_t size_of_string_map;
  std::uint32_t size_of_workspace;
  std::uint32_t size_of_operation_context;
  std::uint32_t size_of_provider_info;
  std::uint32_t size_of_property_spec;
  std::uint32_t size_of_exec_request;
  std::uint32_t size_of_status;
  std::uint32_t size_of_target_check;
  std::uint32_t size_of_cancellation;
  std::uint32_t size_of_session_request;  ///< SDK 1.2
  std::uint32_t size_of_session_event;    ///< SDK 1.2
  std::uint32_t size_of_watched_workspace;  ///< SDK 1.3
  std::uint32_t size_of_infra_change;       ///< SDK 1.3
};

/// The facts of whoever compiles this line: the library through BERTH_PROVIDER, the host itself.
inline constexpr AbiFacts compiled_abi_facts() {
  return AbiFacts{
      sizeof(AbiFacts), sdk_api_version.major, sdk_api_version.minor,
#if defined(__clang__)
      2, __clang_major__,
#elif defined(__GNUC__)
      1, __GNUC__,
#else
      0, 0,
#endif
#if defined(_LIBCPP_VERSION)
      2, -1,
#elif defined(__GLIBCXX__)
      1, _GLIBCXX_USE_CXX11_ABI,
#else
      0, -1,
#endif
      sizeof(std::string), sizeof(StringMap), sizeof(Workspace), sizeof(OperationContext), sizeof(ProviderInfo),
      sizeof(PropertySpec), sizeof(ExecRequest), sizeof(Status), sizeof(TargetCheck), sizeof(Cancellation),
      sizeof(SessionRequest), sizeof(SessionEvent), sizeof(WatchedWorkspace), sizeof(InfraChange)};
}

}  // namespace berth

/// Registers ProviderClass as this library's provider. The host calls
/// berth_provider_api_version() and berth_provider_abi() first, and berth_provider_create()
/// only if both match its own.
#define BERTH_PROVIDER(ProviderClass)                                                   \
  extern "C" BERTH_EXPORT const berth::ApiVersion* berth_provider_api_version() noexcept { \
    static constexpr berth::ApiVersion version = berth::sdk_api_version;                \
    return &version;                                                                    \
  }                                                                                     \
  extern "C" BERTH_EXPORT const berth::AbiFacts* berth_provider_abi() noexcept {         \
    static constexpr berth::AbiFacts facts = berth::compiled_abi_facts();               \
    return &facts;                                                                      \
  }                                                                                     \
  extern "C" BERTH_EXPORT berth::Provider* berth_provider_create() { return new ProviderClass(); }
