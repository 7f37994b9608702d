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
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace host {
namespace {

using berth::SessionEvent;
constexpr auto kTick = std::chrono::milliseconds(200);
// Input taken from the channel but not yet written: past this, no more is taken until the
// program reads (the channel's window then holds the client back).
constexpr size_t kMaxPendingInput = 256 << 10;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int value) : fd(value) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset(int value = -1) {
    if (fd >= 0) ::close(fd);
    fd = value;
  }
};

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Writes what it can of pending to fd (non-blocking); false when fd is broken.
bool flush_some(int fd, std::string& pending) {
  while (!pending.empty()) {
    ssize_t n = ::write(fd, pending.data(), pending.size());
    if (n > 0) {
      pending.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

}  // namespace

int run_session(const SessionSpec& spec, berth::SessionChannel& channel, const berth::Cancellation& cancellation,
                const PidObserver& observer) {
  if (spec.process.argv.empty()) throw std::runtime_error("no command given");
  std::vector<std::string> env = build_environment(spec.process.extra_env);
  std::vector<std::string> args = spec.process.argv;
  auto argv = pointers(args);
  auto envp = pointers(env);

  Fd master, in_write, out_read, err_read;
  Fd slave, in_read, out_write, err_write, startup_read, startup_write;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  startup_read.reset(fds[0]);
  startup_write.reset(fds[1]);
  if (spec.tty) {
    winsize size{};
    size.ws_row = static_cast<unsigned short>(spec.rows);
    size.ws_col = static_cast<unsigned short>(spec.cols);
    int m = -1, s = -1;
    if (::openpty(&m, &s, nullptr, nullptr, &size) != 0) throw std::runtime_error(std::string("no terminal: ") + std::strerror(errno));
    master.reset(m);
    slave.reset(s);
    ::fcntl(m, F_SETFD, FD_CLOEXEC);
    ::fcntl(s, F_SETFD, FD_CLOEXEC);
  } else {
    for (auto [read_end, write_end] : {std::pair{&in_read, &in_write}, std::pair{&out_read, &out_write}, std::pair{&err_read, &err_write}}) {
      if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
      read_end->reset(fds[0]);
      write_end->reset(fds[1]);
    }
  }

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int number : {SIGPIPE, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP}) ::signal(number, SIG_DFL);
    if (spec.tty) {
      ::setsid();
      ::ioctl(slave.fd, TIOCSCTTY, 0);
      ::dup2(slave.fd, 0);
      ::dup2(slave.fd, 1);
      ::dup2(slave.fd, 2);
    } else {
      ::setpgid(0, 0);
      ::dup2(in_read.fd, 0);
      ::dup2(out_write.fd, 1);
      ::dup2(err_write.fd, 2);
    }
    // Nothing the provider host holds open reaches the command (the start-up error pipe stays
    // usable until exec, which closes it).
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (!spec.process.workdir.empty() && ::chdir(spec.process.workdir.c_str()) != 0) {
      std::string message = "cannot enter " + spec.process.workdir + ": " + std::strerror(errno);
      [[maybe_unused]] auto n = ::write(startup_write.fd, message.data(), message.size());
      ::_exit(127);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    std::string message = "cannot run '" + spec.process.argv[0] + "': " + std::strerror(errno);
    [[maybe_unused]] auto n = ::write(startup_write.fd, message.data(), message.size());
    ::_exit(127);
  }
  if (!spec.tty) ::setpgid(pid, pid);
  if (observer) observer(pid);
  slave.reset();
  in_read.reset();
  out_write.reset();
  err_write.reset();
  startup_write.reset();

  std::string startup_error;
  char buffer[65536];
  for (ssize_t n; (n = ::read(startup_read.fd, buffer, sizeof buffer)) > 0;) startup_error.append(buffer, static_cast<size_t>(n));
  auto reap = [&](int how) {
    int status = 0;
    pid_t done;
    while ((done = ::waitpid(pid, &status, how)) < 0 && errno == EINTR) {
    }
    return done == pid ? std::optional<int>(status) : std::nullopt;
  };
  auto end_everything = [&] {
    ::kill(-pid, SIGHUP);
    ::kill(-pid, SIGKILL);
    reap(0);
    if (observer) observer(-pid);
  };
  if (!startup_error.empty()) {
    reap(0);
    if (observer) observer(-pid);
    throw std::runtime_error(startup_error);
  }

  int input_fd = spec.tty ? master.fd : in_write.fd;
  ::fcntl(input_fd, F_SETFL, ::fcntl(input_fd, F_GETFL) | O_NONBLOCK);
  std::string pending;          // input for the program, not written yet
  bool close_input = false;     // end of input came: close stdin once pending is written
  std::optional<int> status;    // the program's, once it ended
  int open_outputs = spec.tty ? 1 : 2;
  try {
    while (open_outputs > 0) {
      bool want_events = pending.size() < kMaxPendingInput;
      pollfd polled[4] = {{spec.tty ? master.fd : out_read.fd, POLLIN, 0},
                          {spec.tty ? -1 : err_read.fd, POLLIN, 0},
                          {want_events ? channel.event_fd() : -1, POLLIN, 0},
                          {!pending.empty() && (spec.tty || in_write.fd >= 0) ? input_fd : -1, POLLOUT, 0}};
      if (::poll(polled, 4, static_cast<int>(kTick.count())) < 0 && errno != EINTR) break;
      if (cancellation.requested()) throw berth::Error("provider_failed", "the session was ended: the client went away");
      for (int i = 0; i < 2; ++i) {
        if (polled[i].fd < 0 || !(polled[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(polled[i].fd, buffer, sizeof buffer);
        if (n > 0) {
          channel.write(i == 0 ? berth::OutputStream::stdout_stream : berth::OutputStream::stderr_stream,
                        std::string_view(buffer, static_cast<size_t>(n)));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          // A terminal's master reads EIO once no process holds the terminal any more.
          (i == 0 ? (spec.tty ? master : out_read) : err_read).reset();
          --open_outputs;
        }
      }
      if (polled[2].fd >= 0 && (polled[2].revents & POLLIN)) {
        while (auto event = channel.next(std::chrono::milliseconds(0))) {
          if (event->kind == SessionEvent::Kind::input) {
            pending += event->data;
          } else if (event->kind == SessionEvent::Kind::end_of_input) {
            if (spec.tty) {
              pending.push_back('\x04');  // what Ctrl-D at a terminal sends
            } else {
              close_input = true;
            }
          } else if (event->kind == SessionEvent::Kind::resize && spec.tty) {
            winsize size{};
            size.ws_row = static_cast<unsigned short>(event->rows);
            size.ws_col = static_cast<unsigned short>(event->cols);
            ::ioctl(master.fd, TIOCSWINSZ, &size);
          } else if (event->kind == SessionEvent::Kind::signal) {
            int number = 0;
            for (auto [name, value] : {std::pair{"INT", SIGINT}, std::pair{"TERM", SIGTERM}, std::pair{"HUP", SIGHUP},
                                       std::pair{"QUIT", SIGQUIT}, std::pair{"KILL", SIGKILL}, std::pair{"USR1", SIGUSR1},
                                       std::pair{"USR2", SIGUSR2}}) {
              if (event->data == name) number = value;
            }
            pid_t group = spec.tty ? ::tcgetpgrp(master.fd) : pid;
            if (number != 0) ::kill(-(group > 0 ? group : pid), number);
          } else if (event->kind == SessionEvent::Kind::closed) {
            throw berth::Error("provider_failed", "the session was ended: the client went away");
          }
          if (pending.size() >= kMaxPendingInput) break;
        }
      }
      if (!pending.empty() && (spec.tty || in_write.fd >= 0) && !flush_some(input_fd, pending)) {
        pending.clear();  // the program closed its stdin: what it did not read is dropped
        if (!spec.tty) in_write.reset();
      }
      if (close_input && pending.empty() && in_write.fd >= 0) in_write.reset();
      // A program that ended while something it started still holds the terminal: its session
      // is over all the same.
      if (spec.tty && !status) status = reap(WNOHANG);
      if (spec.tty && status) {
        ::fcntl(master.fd, F_SETFL, O_NONBLOCK);
        for (ssize_t n; master.fd >= 0 && (n = ::read(master.fd, buffer, sizeof buffer)) > 0;) {
          channel.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
        }
        break;
      }
    }
  } catch (...) {
    end_everything();
    throw;
  }
  if (!status) status = reap(0);
  ::kill(-pid, SIGHUP);  // what it left behind in its session or group goes with it
  if (observer) observer(-pid);
  return exit_code_of(*status);
}

void connect_port(int port, berth::SessionChannel& channel, const berth::Cancellation& cancellation) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ECONNREFUSED) throw berth::Error("unavailable", "nothing listens on port " + std::to_string(port) + " in the workspace");
    throw berth::Error("unavailable", "cannot connect to port " + std::to_string(port) + ": " + std::strerror(errno));
  }
  ::fcntl(sock.fd, F_SETFL, O_NONBLOCK);
  std::string pending;
  bool shut_after_pending = false;
  bool write_shut = false;
  char buffer[65536];
  while (true) {
    pollfd polled[2] = {{sock.fd, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                        {pending.size() < kMaxPendingInput ? channel.event_fd() : -1, POLLIN, 0}};
    if (::poll(polled, 2, static_cast<int>(kTick.count())) < 0 && errno != EINTR) break;
    if (cancellation.requested()) return;
    if (polled[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(sock.fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        channel.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        return;  // the workspace's side closed: the connection is over
      }
    }
    if (polled[1].fd >= 0 && (polled[1].revents & POLLIN)) {
      while (auto event = channel.next(std::chrono::milliseconds(0))) {
        if (event->kind == SessionEvent::Kind::input) pending += event->data;
        if (event->kind == SessionEvent::Kind::end_of_input) shut_after_pending = true;
        if (event->kind == SessionEvent::Kind::closed) return;
        if (pending.size() >= kMaxPendingInput) break;
      }
    }
    while (!pending.empty()) {
      ssize_t n = ::send(sock.fd, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n > 0) {
        pending.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return;
      }
    }
    if (shut_after_pending && pending.empty() && !write_shut) {
      ::shutdown(sock.fd, SHUT_WR);
      write_shut = true;
    }
  }
}

}  // namespace host
