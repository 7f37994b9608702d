#pragma once
// The dashboard's terminals. Each is a session with a terminal (the workspace user's login
// shell) that runs on a thread of its own, apart from the browser connection that shows it: a
// viewer (one WebSocket) attaches, and when it goes the terminal waits a minute for it to come
// back (a reload, a dropped network) and replays the last 64 KiB of output to whoever attaches;
// after that minute it ends, unless it was started as a persistent one. docs/dashboard.md.
#include "workspace_service.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace berth {

// Where a terminal's output goes while someone watches it. Called with the terminal's lock held:
// an implementation only queues (it must not wait for its client).
class TerminalViewer {
 public:
  virtual ~TerminalViewer() = default;
  // First, before any output: which terminal this is and how much earlier output follows.
  virtual void attached(const std::string& id, size_t replayed, bool persistent) = 0;
  virtual void output(std::string_view bytes) = 0;
  // The terminal is over: `frame` is 'x' and the exit code, or '!' and a JSON error.
  virtual void ended(const std::string& frame) = 0;
};

class Terminal;

class TerminalHub {
 public:
  static constexpr size_t kReplayBytes = 64 << 10;
  static constexpr std::chrono::seconds kDetachedGrace{60};
  static constexpr size_t kMaxPerWorkspace = 16;

  explicit TerminalHub(WorkspaceService& service);
  ~TerminalHub();  // ends every terminal and waits for them

  struct Attached {
    std::shared_ptr<Terminal> terminal;
    std::string id;
    size_t replayed = 0;  // bytes of earlier output the viewer was sent first
    bool persistent = false;
  };
  // Attaches viewer to terminal `id` of workspace `name` (replaying its last output first), or
  // with no id starts a new one of rows x cols. Throws Error (a terminal that has ended, a
  // workspace that is not started, too many terminals).
  Attached attach(const std::string& name, const std::string& id, int rows, int cols, bool persistent, TerminalViewer* viewer);
  // The viewer is gone: the terminal waits for another (or ends after the grace, unless persistent).
  void detach(const std::shared_ptr<Terminal>& terminal, TerminalViewer* viewer);

  struct Listed {
    std::string id;
    bool persistent = false;
    bool attached = false;
  };
  std::vector<Listed> list(const std::string& name);

  // Ends every terminal now (the server is stopping) and waits for them, within the deadline.
  void end_all(std::chrono::milliseconds deadline);

 private:
  void reap();
  WorkspaceService& service_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Terminal>> terminals_;  // by id
  std::vector<std::shared_ptr<Terminal>> finished_;              // ended, their threads to join
  bool stopping_ = false;
  std::thread reaper_;
};

// One terminal: the session's output sink and input, fed by whichever viewer is attached.
class Terminal : public OutputSink, public StreamInput {
 public:
  Terminal(std::string id, std::string workspace, bool persistent) : id_(std::move(id)), workspace_(std::move(workspace)), persistent_(persistent) {}
  ~Terminal() override;

  // From the viewer: keys, a new size, a signal, or the end (the person closed its tab).
  void input(std::string bytes);
  void resize(int rows, int cols);
  void signal(std::string name);
  void quit();

  const std::string& id() const { return id_; }
  const std::string& workspace() const { return workspace_; }

  // OutputSink: what the shell wrote, kept for a replay and passed to the viewer.
  void write(OutputStream stream, std::string_view data) override;
  // StreamInput: runs on the session's input thread.
  void run(StreamRelay& to) override;
  void stop() override;

 private:
  friend class TerminalHub;
  struct Event {
    enum class Kind { input, resize, signal, quit } kind;
    std::string data;
    int rows = 0, cols = 0;
  };
  void push(Event event);
  void finish(const std::string& frame);  // the session returned

  const std::string id_;
  const std::string workspace_;
  const bool persistent_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> events_;
  bool stopped_ = false;  // the session's input ended
  bool ended_ = false;    // the session returned
  std::string replay_;    // the last kReplayBytes of output
  TerminalViewer* viewer_ = nullptr;
  std::chrono::steady_clock::time_point detached_at_ = std::chrono::steady_clock::now();
  std::thread thread_;
};

}  // namespace berth
