// berth-agent: a docker workspace's main process (PID 1). Like an init it reaps every process
// that ends in the container and passes SIGTERM and SIGINT (and HUP, QUIT, USR1, USR2) on to
// its child, ending with it; with a command it runs that as its child (the image's own
// entrypoint and command), without one it waits until told to stop. With --listen it serves
// berth's exec and session requests on a Unix socket in that folder (bind-mounted from the
// berth server's machine), so a command is a fork here, not a runtime exec.
//   berth-agent [--listen FOLDER] [--user USER] [--] [COMMAND ARG...]
// Static, single-threaded, a poll loop; it needs nothing of the image but /etc/passwd and
// /etc/group for user names. The frames are in wire.hpp; docs/agent.md tells the whole story.
#include "command.hpp"
#include "users.hpp"
#include "wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>
#include <vector>

extern char** environ;

namespace berth_agent {
namespace {

constexpr size_t kChunk = 64 << 10;
constexpr size_t kMaxBuffered = 1 << 20;  // per direction and session: beyond it, stop reading

void log_line(const std::string& text) {
  std::string line = "berth-agent: " + text + "\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1; }

int signal_number(const std::string& name) {
  static const struct { const char* name; int number; } known[] = {
      {"INT", SIGINT},   {"TERM", SIGTERM}, {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}};
  for (const auto& entry : known) {
    if (name == entry.name) return entry.number;
  }
  return 0;
}

struct Session {
  int client = -1;
  std::string from_client;  // bytes not yet taken as frames
  std::string to_client;    // frames not yet sent
  bool requested = false;
  bool tty = false;
  Spawned command;
  std::string to_stdin;
  bool close_stdin = false;
  bool exited = false;
  int status = 0;
  bool finished = false;  // the last frame is queued: close once it is sent
  bool gone = false;      // to be removed
};

class Agent {
 public:
  Agent(std::string default_user, std::vector<std::string> main_command)
      : default_user_(std::move(default_user)), main_command_(std::move(main_command)) {
    for (char** e = environ; e && *e; ++e) base_env_.emplace_back(*e);
    // HOME as runc set it for the container's user (or unset) is replaced by each command's
    // user's own, as runc does for an exec; a HOME the container's configuration set stays.
    const char* home = std::getenv("HOME");
    Identity self;
    std::string ignored;
    home_from_runtime_ = !home || (resolve_identity(std::to_string(::geteuid()), self, ignored) && self.home == home);
  }

  int run(const std::string& listen_folder) {
    if (!setup_signals()) return 1;
    if (::getpid() != 1) ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphans come here, not to an init that may not reap
    if (!main_command_.empty() && !start_main()) return 127;
    if (!listen_folder.empty()) listen_on(listen_folder);
    while (true) {
      std::vector<pollfd> polled;
      polled.push_back({signals_, POLLIN, 0});
      polled.push_back({listener_, POLLIN, 0});
      for (auto& s : sessions_) add_polls(s, polled);
      if (::poll(polled.data(), polled.size(), -1) < 0 && errno != EINTR) {
        log_line(std::string("poll failed: ") + std::strerror(errno));
        return 1;
      }
      if (polled[0].revents & POLLIN) {
        int code = 0;
        if (handle_signals(code)) return code;
      }
      if (polled[1].revents & POLLIN) accept_client();
      for (auto& s : sessions_) step(s);
      sessions_.remove_if([](const Session& s) { return s.gone; });
    }
  }

 private:
  bool setup_signals() {
    // A handler, not SIG_DFL: the kernel drops signals PID 1 leaves at SIG_DFL. Blocked, and
    // read from a signalfd in the loop.
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) {
      ::sigaction(sig, &action, nullptr);
      sigaddset(&set, sig);
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signals_ < 0) log_line(std::string("signalfd failed: ") + std::strerror(errno));
    return signals_ >= 0;
  }

  bool start_main() {
    CommandSpec spec;
    spec.argv = main_command_;
    spec.own_stdio = true;
    std::string error;
    if (!resolve_identity(default_user_, spec.identity, error)) {
      log_line(error);
      return false;
    }
    spec.env = environment_for(spec.identity, {}, false);
    Spawned spawned;
    if (!spawn_command(spec, spawned, error)) {
      log_line(error);
      return false;
    }
    main_pid_ = spawned.pid;
    return true;
  }

  void listen_on(const std::string& folder) {
    std::string path = folder + "/" + kSocketName;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
      log_line("socket path too long: " + path);
      return;
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::unlink(path.c_str());  // left by this container's last run
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 128) != 0) {
      log_line("cannot listen on " + path + ": " + std::strerror(errno) + "; berth uses the engine's exec");
      if (fd >= 0) ::close(fd);
      return;
    }
    // Who may connect is decided at accept (only processes outside this container); the
    // folder on the server's machine is berth's own (0700).
    ::chmod(path.c_str(), 0666);
    listener_ = fd;
  }

  bool handle_signals(int& code) {
    signalfd_siginfo info;
    bool reap = false;
    while (::read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGCHLD) {
        reap = true;
      } else if (main_pid_ > 0) {
        ::kill(main_pid_, sig);
      } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
        code = 0;  // nothing of ours to wait for: the container stops now
        return true;
      }
    }
    if (!reap) return false;
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == main_pid_) {
        code = exit_code_of(status);
        return true;
      }
      for (auto& s : sessions_) {
        if (s.command.pid == pid) {
          s.exited = true;
          s.status = status;
        }
      }
    }
    return false;
  }

  void accept_client() {
    while (true) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      // Only a process outside this container's PID namespace (berth's provider) sees no pid
      // here: a process in the container, whatever its user, is refused.
      ucred peer{};
      socklen_t size = sizeof peer;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || peer.pid != 0) {
        ::close(fd);
        continue;
      }
      Session& s = sessions_.emplace_back();
      s.client = fd;
      append_frame(s.to_client, hello, kGreeting);
    }
  }

  void add_polls(Session& s, std::vector<pollfd>& polled) {
    short client_events = 0;
    if (!s.finished && s.to_stdin.size() < kMaxBuffered) client_events |= POLLIN;
    if (!s.to_client.empty()) client_events |= POLLOUT;
    polled.push_back({s.client, client_events, 0});
    bool room = s.to_client.size() < kMaxBuffered;
    if (s.command.stdout_fd >= 0 && room) polled.push_back({s.command.stdout_fd, POLLIN, 0});
    if (s.command.stderr_fd >= 0 && room) polled.push_back({s.command.stderr_fd, POLLIN, 0});
    if (s.command.stdin_fd >= 0 && !s.to_stdin.empty()) polled.push_back({s.command.stdin_fd, POLLOUT, 0});
  }

  // Output of the command's stream `fd` as frames; false at its end.
  bool read_output(Session& s, int& fd, char type, size_t budget) {
    char buffer[kChunk];
    while (budget > 0) {
      ssize_t n = ::read(fd, buffer, budget < sizeof buffer ? budget : sizeof buffer);
      if (n > 0) {
        append_frame(s.to_client, type, std::string_view(buffer, static_cast<size_t>(n)));
        budget -= static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      // End of file, or EIO from a terminal whose every user is gone.
      if (s.tty && s.command.stdin_fd >= 0) {
        ::close(s.command.stdin_fd);
        s.command.stdin_fd = -1;
      }
      ::close(fd);
      fd = -1;
      return false;
    }
    return true;
  }

  void step(Session& s) {
    if (s.gone) return;
    // From the client.
    if (!s.finished && s.to_stdin.size() < kMaxBuffered) {
      char buffer[kChunk];
      ssize_t n = ::recv(s.client, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        end_abandoned(s);
        return;
      }
      if (n > 0) {
        s.from_client.append(buffer, static_cast<size_t>(n));
        if (!take_frames(s)) return;
      }
    }
    // The command's output, then its input.
    if (s.to_client.size() < kMaxBuffered) {
      if (s.command.stdout_fd >= 0) read_output(s, s.command.stdout_fd, stdout_data, kChunk);
      if (s.command.stderr_fd >= 0) read_output(s, s.command.stderr_fd, stderr_data, kChunk);
    }
    write_stdin(s);
    if (s.exited && !s.finished) {
      // Whatever the command wrote before it ended is in its pipes: take it, then the exit
      // code. Output of what it left running goes nowhere after that.
      if (s.command.stdout_fd >= 0) read_output(s, s.command.stdout_fd, stdout_data, 4 * kMaxBuffered);
      if (s.command.stderr_fd >= 0) read_output(s, s.command.stderr_fd, stderr_data, 4 * kMaxBuffered);
      close_command(s);
      append_frame(s.to_client, exit_code, std::to_string(exit_code_of(s.status)));
      s.finished = true;
    }
    // To the client.
    while (!s.to_client.empty()) {
      ssize_t n = ::send(s.client, s.to_client.data(), s.to_client.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        s.to_client.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      end_abandoned(s);
      return;
    }
    if (s.finished && s.to_client.empty()) {
      ::close(s.client);
      s.gone = true;
    }
  }

  void write_stdin(Session& s) {
    while (s.command.stdin_fd >= 0 && !s.to_stdin.empty()) {
      ssize_t n = ::write(s.command.stdin_fd, s.to_stdin.data(), s.to_stdin.size());
      if (n > 0) {
        s.to_stdin.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        s.to_stdin.clear();  // the command closed its stdin: what it did not take is dropped
        break;
      }
    }
    if (s.close_stdin && s.to_stdin.empty() && !s.tty && s.command.stdin_fd >= 0) {
      ::close(s.command.stdin_fd);
      s.command.stdin_fd = -1;
    }
  }

  // The client is gone before the command ended: the command and its process group end.
  void end_abandoned(Session& s) {
    if (s.command.pid > 0 && !s.exited) {
      ::kill(-s.command.pid, SIGKILL);
      ::kill(s.command.pid, SIGKILL);
    }
    close_command(s);
    ::close(s.client);
    s.gone = true;
  }

  void close_command(Session& s) {
    for (int* fd : {&s.command.stdin_fd, &s.command.stdout_fd, &s.command.stderr_fd}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  // False when the session ended (a bad frame).
  bool take_frames(Session& s) {
    char type = 0;
    std::string payload;
    bool bad = false;
    while (!s.finished && take_frame(s.from_client, type, payload, bad)) {
      if (type == request && !s.requested) {
        s.requested = true;
        start_command(s, payload);
      } else if (type == input) {
        if (s.command.stdin_fd >= 0) s.to_stdin += payload;
      } else if (type == end_of_input) {
        if (s.tty) s.to_stdin.push_back('\x04');
        else s.close_stdin = true;
      } else if (type == resize && payload.size() == 4 && s.tty && s.command.stdout_fd >= 0) {
        auto byte = [&](size_t i) { return static_cast<int>(static_cast<unsigned char>(payload[i])); };
        resize_terminal(s.command.stdout_fd, byte(0) << 8 | byte(1), byte(2) << 8 | byte(3));
      } else if (type == signal && s.command.pid > 0 && !s.exited) {
        if (int sig = signal_number(payload); sig > 0 && ::kill(-s.command.pid, sig) != 0) ::kill(s.command.pid, sig);
      } else if (type == request) {
        refuse(s, "a second request on one connection");
      }
    }
    if (bad) {
      refuse(s, "a frame longer than the protocol allows");
      return false;
    }
    return true;
  }

  void refuse(Session& s, const std::string& message) {
    if (s.command.pid > 0 && !s.exited) ::kill(-s.command.pid, SIGKILL);
    close_command(s);
    append_frame(s.to_client, error, message);
    s.finished = true;
  }

  // The request: NUL-separated key=value items.
  void start_command(Session& s, const std::string& payload) {
    CommandSpec spec;
    std::string user = default_user_;
    std::vector<std::string> env;
    size_t from = 0;
    while (from < payload.size()) {
      size_t end = payload.find('\0', from);
      if (end == std::string::npos) end = payload.size();
      std::string item = payload.substr(from, end - from);
      from = end + 1;
      size_t equals = item.find('=');
      if (equals == std::string::npos) continue;
      std::string key = item.substr(0, equals), value = item.substr(equals + 1);
      if (key == "arg") spec.argv.push_back(value);
      else if (key == "env") env.push_back(value);
      else if (key == "user" && !value.empty()) user = value;
      else if (key == "workdir") spec.workdir = value;
      else if (key == "tty") spec.tty = value == "1";
      else if (key == "rows") spec.rows = std::atoi(value.c_str());
      else if (key == "cols") spec.cols = std::atoi(value.c_str());
    }
    s.tty = spec.tty;
    std::string error;
    if (!resolve_identity(user, spec.identity, error)) {
      // As the engine answers an exec as an unknown user: the message, exit code 126.
      append_frame(s.to_client, stderr_data, error + "\n");
      append_frame(s.to_client, exit_code, "126");
      s.finished = true;
      return;
    }
    spec.env = environment_for(spec.identity, env, spec.tty);
    if (!spawn_command(spec, s.command, error)) {
      refuse(s, error);
      return;
    }
    append_frame(s.to_client, started, std::to_string(s.command.pid));
  }

  // The container's environment (the agent's own), HOME for the user, then the request's.
  std::vector<std::string> environment_for(const Identity& identity, const std::vector<std::string>& extra, bool tty) {
    std::vector<std::string> env = base_env_;
    auto set = [&](const std::string& item) {
      std::string key = item.substr(0, item.find('=') + 1);
      for (auto& existing : env) {
        if (existing.compare(0, key.size(), key) == 0) {
          existing = item;
          return;
        }
      }
      env.push_back(item);
    };
    if (home_from_runtime_) set("HOME=" + identity.home);
    if (tty) set("TERM=xterm");
    for (const auto& item : extra) {
      if (item.find('=') != std::string::npos) set(item);
    }
    return env;
  }

  std::string default_user_;
  std::vector<std::string> main_command_;
  std::vector<std::string> base_env_;
  bool home_from_runtime_ = true;
  int signals_ = -1;
  int listener_ = -1;
  pid_t main_pid_ = -1;
  std::list<Session> sessions_;
};

}  // namespace
}  // namespace berth_agent

int main(int argc, char** argv) {
  std::string listen_folder, user;
  std::vector<std::string> command;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      listen_folder = argv[++i];
    } else if (arg == "--user" && i + 1 < argc) {
      user = argv[++i];
    } else if (arg == "--") {
      ++i;
      break;
    } else if (arg == "--version") {
      std::string line = std::string(berth_agent::kGreeting) + "\n";
      return ::write(1, line.data(), line.size()) < 0;
    } else if (!arg.empty() && arg[0] == '-') {
      berth_agent::log_line("unknown option " + arg + " (usage: berth-agent [--listen FOLDER] [--user USER] [--] [COMMAND ARG...])");
      return 2;
    } else {
      break;
    }
  }
  for (; i < argc; ++i) command.emplace_back(argv[i]);
  return berth_agent::Agent(user, command).run(listen_folder);
}
