#include "terminal_hub.hpp"

#include "api_keys.hpp"
#include "errors.hpp"


namespace berth {
namespace {

std::string error_frame(const std::string& code, const std::string& message) {
  std::string json = Json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  return "!" + json;
}

}  // namespace

// ---- Terminal ----

Terminal::~Terminal() {
  if (thread_.joinable()) thread_.join();
}

void Terminal::push(Event event) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  events_.push_back(std::move(event));
  wake_.notify_all();
}

void Terminal::input(std::string bytes) { push({Event::Kind::input, std::move(bytes)}); }
void Terminal::resize(int rows, int cols) { push({Event::Kind::resize, "", rows, cols}); }
void Terminal::signal(std::string name) { push({Event::Kind::signal, std::move(name)}); }
void Terminal::quit() { push({Event::Kind::quit, ""}); }

void Terminal::write(OutputStream, std::string_view data) {
  std::lock_guard lock(mutex_);
  replay_.append(data);
  if (replay_.size() > TerminalHub::kReplayBytes) replay_.erase(0, replay_.size() - TerminalHub::kReplayBytes);
  if (viewer_) viewer_->output(data);
}

void Terminal::run(StreamRelay& to) {
  while (true) {
    Event event;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopped_ || !events_.empty(); });
      if (stopped_) return;
      event = std::move(events_.front());
      events_.pop_front();
    }
    bool ok = true;
    switch (event.kind) {
      case Event::Kind::input: ok = to.input(event.data); break;
      case Event::Kind::resize: ok = to.resize(event.rows, event.cols); break;
      case Event::Kind::signal: ok = to.signal(event.data); break;
      case Event::Kind::quit: to.client_gone(); return;
    }
    if (!ok) return;
  }
}

void Terminal::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  wake_.notify_all();
}

void Terminal::finish(const std::string& frame) {
  std::lock_guard lock(mutex_);
  ended_ = true;
  stopped_ = true;
  if (viewer_) viewer_->ended(frame);
  viewer_ = nullptr;
}

// ---- TerminalHub ----

TerminalHub::TerminalHub(WorkspaceService& service) : service_(service), reaper_([this] { reap(); }) {}

TerminalHub::~TerminalHub() {
  end_all(std::chrono::seconds(5));
  // A session thread still running uses the hub: its provider call ends it (berth kills a host
  // whose calls ignore their end), and only then may the hub go.
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return terminals_.empty(); });
  std::vector<std::shared_ptr<Terminal>> done = std::move(finished_);
  lock.unlock();
}

TerminalHub::Attached TerminalHub::attach(const std::string& name, const std::string& id, int rows, int cols, bool persistent,
                                          TerminalViewer* viewer) {
  std::shared_ptr<Terminal> terminal;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw unavailable("the server is shutting down; try again when it is back");
    if (auto it = terminals_.find(id); !id.empty() && it != terminals_.end() && it->second->workspace() == name) terminal = it->second;
  }
  if (terminal) {
    std::lock_guard lock(terminal->mutex_);
    if (!terminal->ended_) {
      // A second viewer takes the terminal over; the first is told and let go.
      if (terminal->viewer_) terminal->viewer_->ended(error_frame("conflict", "this terminal was opened in another window"));
      Attached attached{terminal, terminal->id(), terminal->replay_.size(), terminal->persistent_};
      viewer->attached(attached.id, attached.replayed, attached.persistent);
      if (!terminal->replay_.empty()) viewer->output(terminal->replay_);
      terminal->viewer_ = viewer;
      return attached;
    }
  }
  // An id names a terminal to re-attach to: when it is over, the person is told so (and opens a
  // new one), rather than handed another shell as if it were the same.
  if (!id.empty()) throw not_found("terminal " + id + " of workspace '" + name + "' has ended (or was closed); open a new one");

  service_.check_started(name);
  {
    std::lock_guard lock(mutex_);
    size_t open = 0;
    for (const auto& [_, each] : terminals_) open += each->workspace() == name;
    if (open >= kMaxPerWorkspace) {
      throw Error("conflict", "workspace '" + name + "' has " + std::to_string(open) + " terminals open already; close one first");
    }
    terminal = std::make_shared<Terminal>(random_hex(12), name, persistent);
    terminal->viewer_ = viewer;
    viewer->attached(terminal->id(), 0, persistent);
    terminals_[terminal->id()] = terminal;
  }
  SessionRequest request;
  request.tty = true;
  request.attach = true;
  request.rows = rows;
  request.cols = cols;
  request.env["TERM"] = "xterm-256color";
  Terminal* raw = terminal.get();
  terminal->thread_ = std::thread([this, name, request, raw, id = terminal->id()] {
    std::string frame;
    try {
      frame = "x" + std::to_string(service_.session(name, request, *raw, *raw));
    } catch (const Error& error) {
      frame = error_frame(error.code(), error.what());
    } catch (const std::exception& error) {
      frame = error_frame("internal", error.what());
    }
    raw->finish(frame);
    std::lock_guard lock(mutex_);
    // The hub lets go of it; whoever holds the last reference joins this thread (not itself).
    if (auto it = terminals_.find(id); it != terminals_.end()) {
      finished_.push_back(std::move(it->second));
      terminals_.erase(it);
      changed_.notify_all();
    }
  });
  return Attached{terminal, terminal->id(), 0, persistent};
}

void TerminalHub::detach(const std::shared_ptr<Terminal>& terminal, TerminalViewer* viewer) {
  std::lock_guard lock(terminal->mutex_);
  if (terminal->viewer_ != viewer) return;
  terminal->viewer_ = nullptr;
  terminal->detached_at_ = std::chrono::steady_clock::now();
}

std::vector<TerminalHub::Listed> TerminalHub::list(const std::string& name) {
  std::lock_guard lock(mutex_);
  std::vector<Listed> listed;
  for (const auto& [id, terminal] : terminals_) {
    if (terminal->workspace() != name) continue;
    std::lock_guard each(terminal->mutex_);
    listed.push_back({id, terminal->persistent_, terminal->viewer_ != nullptr});
  }
  return listed;
}

// Ends the terminals nobody came back to, and joins the threads of those that ended.
void TerminalHub::reap() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_.wait_for(lock, std::chrono::seconds(1));
    std::vector<std::shared_ptr<Terminal>> done = std::move(finished_);
    finished_.clear();
    auto now = std::chrono::steady_clock::now();
    for (const auto& [_, terminal] : terminals_) {
      std::lock_guard each(terminal->mutex_);
      if (!terminal->persistent_ && !terminal->viewer_ && !terminal->stopped_ && now - terminal->detached_at_ > kDetachedGrace) {
        terminal->events_.push_back({Terminal::Event::Kind::quit, ""});
        terminal->wake_.notify_all();
      }
    }
    lock.unlock();
    done.clear();  // joins their threads, which are past their last use of the hub
    lock.lock();
  }
}

void TerminalHub::end_all(std::chrono::milliseconds deadline) {
  std::vector<std::shared_ptr<Terminal>> all;
  {
    std::lock_guard lock(mutex_);
    if (!reaper_.joinable() && terminals_.empty() && finished_.empty()) return;
    stopping_ = true;
    changed_.notify_all();
    for (const auto& [_, terminal] : terminals_) terminal->quit();
  }
  if (reaper_.joinable()) reaper_.join();
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, deadline, [&] { return terminals_.empty(); });
  all = std::move(finished_);
  finished_.clear();
  lock.unlock();
  all.clear();
}

}  // namespace berth
