#include "session.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

extern char** environ;

namespace snapshot {
namespace {

using berth::SessionEvent;

constexpr int kTickMs = 100;  // how often a waiting loop looks at the cancellation
// Input taken from the channel but not yet written. Past this no more events are taken until the
// command (or the port) reads, so the channel's window holds the client back: memory stays bounded.
constexpr size_t kMaxPending = 256 * 1024;

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

// A descriptor, closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

void set_non_blocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes what fd takes now (it is non-blocking) and keeps the rest; false once nobody reads fd.
bool flush(int fd, std::string& pending) {
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, pending.data(), pending.size());  // a pipe or a terminal
    if (n > 0) {
      pending.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  return true;
}

int signal_number(const std::string& name) {
  for (auto [known, number] : {std::pair{"INT", SIGINT}, std::pair{"TERM", SIGTERM}, std::pair{"HUP", SIGHUP},
                               std::pair{"QUIT", SIGQUIT}, std::pair{"KILL", SIGKILL}, std::pair{"USR1", SIGUSR1},
                               std::pair{"USR2", SIGUSR2}, std::pair{"WINCH", SIGWINCH}}) {
    if (name == known) return number;
  }
  return 0;
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

// NAME=VALUE strings: this process's environment with `added` on top.
std::vector<std::string> environment_with(const berth::StringMap& added) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    std::string text = *entry;
    if (!added.count(text.substr(0, text.find('=')))) env.push_back(text);
  }
  for (const auto& [key, value] : added) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

int run_session(const std::string& folder, const berth::StringMap& env, const berth::SessionRequest& request,
                berth::SessionChannel& channel, const berth::Cancellation& cancellation) {
  // Everything the child needs is made before fork: this process has other threads, so the
  // child may only make async-signal-safe calls until exec.
  std::vector<std::string> args = request.command;
  if (args.empty()) {
    const char* shell = std::getenv("SHELL");
    args = {shell && *shell ? shell : "/bin/sh", "-l"};
  }
  berth::StringMap all_env = env;
  for (const auto& [key, value] : request.env) all_env[key] = value;
  std::vector<std::string> env_strings = environment_with(all_env);
  std::vector<char*> argv = pointers_to(args);
  std::vector<char*> envp = pointers_to(env_strings);
  std::string workdir = request.workdir.empty() ? folder : request.workdir;
  std::string cannot_run = "cannot run '" + args[0] + "'\n";

  // With a terminal: one pseudo-terminal for stdin, stdout and stderr. Without: three pipes.
  Fd terminal, stdin_write, stdout_read, stderr_read;  // this process's ends
  Fd child_terminal, stdin_read, stdout_write, stderr_write;
  if (request.tty) {
    winsize size{};
    size.ws_row = static_cast<unsigned short>(request.rows);
    size.ws_col = static_cast<unsigned short>(request.cols);
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) throw failed(std::string("no pseudo-terminal: ") + std::strerror(errno));
    terminal.reset(master);
    child_terminal.reset(slave);
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  } else {
    for (auto [read_end, write_end] : {std::pair{&stdin_read, &stdin_write}, std::pair{&stdout_read, &stdout_write},
                                       std::pair{&stderr_read, &stderr_write}}) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw failed(std::string("pipe: ") + std::strerror(errno));
      read_end->reset(fds[0]);
      write_end->reset(fds[1]);
    }
  }

  pid_t pid = ::fork();
  if (pid < 0) throw failed(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // A process group of its own (a session, with a terminal), so signals and the end of the
    // session reach everything the command starts.
    ::signal(SIGPIPE, SIG_DFL);
    if (request.tty) {
      ::setsid();
      ::ioctl(child_terminal.get(), TIOCSCTTY, 0);
      for (int fd : {0, 1, 2}) ::dup2(child_terminal.get(), fd);
    } else {
      ::setpgid(0, 0);
      ::dup2(stdin_read.get(), 0);
      ::dup2(stdout_write.get(), 1);
      ::dup2(stderr_write.get(), 2);
    }
    if (::chdir(workdir.c_str()) != 0) ::_exit(126);
    ::execvpe(argv[0], argv.data(), envp.data());
    [[maybe_unused]] ssize_t n = ::write(2, cannot_run.data(), cannot_run.size());
    ::_exit(127);
  }
  if (!request.tty) ::setpgid(pid, pid);  // as the child does: whichever runs first
  child_terminal.reset();
  stdin_read.reset();
  stdout_write.reset();
  stderr_write.reset();

  set_non_blocking(request.tty ? terminal.get() : stdin_write.get());
  auto kill_everything = [&] {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  };

  std::string pending;           // input for the command, not written yet
  bool end_of_input = false;     // close stdin once pending is written
  std::optional<int> status;     // the command's, once it ended
  char buffer[65536];
  try {
    // Until the command has ended and its output has been read to the end. A terminal's
    // output ends (EIO) only when every process holding it is gone, so with a terminal the
    // session ends when the command does.
    while (true) {
      int input = request.tty ? terminal.get() : stdin_write.get();  // -1 once closed
      Fd* outputs[2] = {request.tty ? &terminal : &stdout_read, &stderr_read};
      bool outputs_open = outputs[0]->get() >= 0 || outputs[1]->get() >= 0;
      if (status && request.tty && terminal.get() >= 0) {
        // What the command wrote just before it ended is still to be read.
        set_non_blocking(terminal.get());
        for (ssize_t n; (n = ::read(terminal.get(), buffer, sizeof buffer)) > 0;) {
          channel.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
        }
        break;
      }
      if (status && !outputs_open) break;
      pollfd polled[4] = {{outputs[0]->get(), POLLIN, 0},
                          {outputs[1]->get(), POLLIN, 0},
                          {pending.size() < kMaxPending ? channel.event_fd() : -1, POLLIN, 0},
                          {pending.empty() ? -1 : input, POLLOUT, 0}};
      if (::poll(polled, 4, kTickMs) < 0 && errno != EINTR) throw failed(std::string("poll: ") + std::strerror(errno));
      if (cancellation.requested()) throw failed("the session was cancelled");

      for (int i = 0; i < 2; ++i) {
        if (polled[i].fd < 0 || !(polled[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(polled[i].fd, buffer, sizeof buffer);
        if (n > 0) {
          channel.write(i == 0 ? berth::OutputStream::stdout_stream : berth::OutputStream::stderr_stream,
                        std::string_view(buffer, static_cast<size_t>(n)));
        } else if (n == 0 || errno != EINTR) {
          outputs[i]->reset();  // end of output (a terminal says EIO)
        }
      }

      if (polled[2].fd >= 0 && (polled[2].revents & POLLIN)) {
        while (auto event = channel.next(std::chrono::milliseconds(0))) {
          switch (event->kind) {
            case SessionEvent::Kind::input:
              pending += event->data;
              break;
            case SessionEvent::Kind::end_of_input:
              if (request.tty) {
                pending += '\x04';  // what Ctrl-D at a terminal sends
              } else {
                end_of_input = true;
              }
              break;
            case SessionEvent::Kind::resize:
              if (request.tty) {
                winsize size{};
                size.ws_row = static_cast<unsigned short>(event->rows);
                size.ws_col = static_cast<unsigned short>(event->cols);
                ::ioctl(terminal.get(), TIOCSWINSZ, &size);  // the kernel sends SIGWINCH to the foreground
              }
              break;
            case SessionEvent::Kind::signal:
              if (int number = signal_number(event->data)) {
                pid_t group = request.tty ? ::tcgetpgrp(terminal.get()) : pid;  // with a terminal: its foreground job
                ::kill(-(group > 0 ? group : pid), number);
              }
              break;
            case SessionEvent::Kind::closed:
              throw failed("the client went away");
          }
          if (pending.size() >= kMaxPending) break;
        }
      }

      if (input < 0 || !flush(input, pending)) {
        pending.clear();  // the command closed its stdin: what it did not read is dropped
        if (!request.tty) stdin_write.reset();
      }
      if (end_of_input && pending.empty()) stdin_write.reset();
      if (!status) {
        int raw = 0;
        if (::waitpid(pid, &raw, WNOHANG) == pid) status = raw;
      }
    }
  } catch (...) {
    kill_everything();
    throw;
  }
  // What the command left running in its group ends with the session.
  ::kill(-pid, SIGHUP);
  return exit_code_of(*status);
}

void connect_to_port(int port, berth::SessionChannel& channel, const berth::Cancellation& cancellation) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ECONNREFUSED) throw berth::Error("unavailable", "nothing listens on port " + std::to_string(port) + " in the workspace");
    throw failed("cannot connect to port " + std::to_string(port) + ": " + std::strerror(errno));
  }
  set_non_blocking(sock.get());
  std::string pending;  // bytes for the port, not sent yet
  bool end_of_input = false;
  char buffer[65536];
  while (!cancellation.requested()) {
    pollfd polled[2] = {{sock.get(), static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                        {pending.size() < kMaxPending ? channel.event_fd() : -1, POLLIN, 0}};
    if (::poll(polled, 2, kTickMs) < 0 && errno != EINTR) return;
    if (polled[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(sock.get(), buffer, sizeof buffer, 0);
      if (n > 0) {
        channel.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        return;  // the port's side closed: the connection is over
      }
    }
    if (polled[1].fd >= 0 && (polled[1].revents & POLLIN)) {
      while (auto event = channel.next(std::chrono::milliseconds(0))) {
        if (event->kind == SessionEvent::Kind::input) pending += event->data;
        if (event->kind == SessionEvent::Kind::end_of_input) end_of_input = true;
        if (event->kind == SessionEvent::Kind::closed) return;
        if (pending.size() >= kMaxPending) break;
      }
    }
    if (!flush(sock.get(), pending)) return;
    if (end_of_input && pending.empty()) {
      ::shutdown(sock.get(), SHUT_WR);  // the client sent all it will: say so to the port
      end_of_input = false;
    }
  }
}

}  // namespace snapshot
