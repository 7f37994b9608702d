#include "session.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

namespace docker {
namespace {

using berth::SessionEvent;
constexpr auto kTick = std::chrono::milliseconds(200);
constexpr size_t kMaxPendingInput = 256 << 10;
constexpr std::string_view kPidMarker = "berth-pid ";

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

// The engine's multiplexed output of an exec without a terminal: 8-byte headers (stream,
// 0, 0, 0, 4-byte big-endian length), then the bytes.
class Demultiplexer {
 public:
  template <typename OnData>
  void feed(std::string_view data, OnData on_data) {
    buffer_.append(data);
    size_t at = 0;
    while (buffer_.size() - at >= 8) {
      auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buffer_[at + i])); };
      uint32_t size = byte(4) << 24 | byte(5) << 16 | byte(6) << 8 | byte(7);
      if (buffer_.size() - at - 8 < size) break;
      on_data(byte(0) == 2 ? berth::OutputStream::stderr_stream : berth::OutputStream::stdout_stream,
              std::string_view(buffer_).substr(at + 8, size));
      at += 8 + size;
    }
    buffer_.erase(0, at);
  }

 private:
  std::string buffer_;
};

Json exec_body(const CommandPlace& place, const std::vector<std::string>& command, const berth::StringMap& extra_env, bool tty,
               bool attach_stdin) {
  Json env = Json::array();
  for (const auto& [key, value] : place.env) env.push_back(key + "=" + value);
  for (const auto& [key, value] : extra_env) env.push_back(key + "=" + value);
  Json body{{"Cmd", command},      {"Env", env},       {"AttachStdin", attach_stdin}, {"AttachStdout", true},
            {"AttachStderr", true}, {"Tty", tty},      {"WorkingDir", place.workdir}};
  if (!place.user.empty()) body["User"] = place.user;
  return body;
}

std::string create_exec(Engine& engine, const CommandPlace& place, const Json& body) {
  Reply created = engine.post("/containers/" + place.container_id + "/exec", body);
  if (created.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + place.workspace + ")");
  if (created.status == 409) throw berth::Error("conflict", "the container is not running (berth start " + place.workspace + ")");
  if (created.status != 201) throw failed("cannot run the command: " + created.message());
  return created.json().value("Id", "");
}

// Ends the command's process group (and the command itself, if it leads none), from a second
// exec as root. Fire and forget: the session is over either way.
void kill_in_container(Engine& engine, const CommandPlace& place, const std::string& pid, const std::string& signal) {
  if (pid.empty()) return;
  try {
    Json body{{"Cmd", {"/bin/sh", "-c", "kill -" + signal + " -- -" + pid + " 2>/dev/null || kill -" + signal + " " + pid}},
              {"User", "0"},
              {"AttachStdout", false},
              {"AttachStderr", false}};
    Reply created = engine.post("/containers/" + place.container_id + "/exec", body);
    if (created.status != 201) return;
    engine.post("/exec/" + created.json().value("Id", "") + "/start", Json{{"Detach", true}, {"Tty", false}});
  } catch (const std::exception&) {
    // An engine that went away took the command with it, or will.
  }
}

int exit_code_of(Engine& engine, const std::string& exec_id) {
  // The stream can end a moment before the engine records the exit.
  for (int attempt = 0; attempt < 200; ++attempt) {
    Json state = engine.get("/exec/" + exec_id + "/json").json();
    if (!state.value("Running", false) && state["ExitCode"].is_number()) return state["ExitCode"].get<int>();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw failed("the engine did not report the command's exit code");
}

bool send_some(int fd, std::string& pending) {
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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

struct Outcome {
  bool started = false;  // the wrapper's pid line came: the command ran
  int exit_code = 0;
};

// One exec, relayed until it ends. With `wrapped`, its first output line is the pid marker.
Outcome relay(Engine& engine, const CommandPlace& place, const berth::SessionRequest& request, const std::vector<std::string>& command,
              bool wrapped, berth::SessionChannel& channel, const berth::Cancellation& cancellation) {
  std::string exec_id = create_exec(engine, place, exec_body(place, command, request.env, request.tty, true));
  Socket stream{engine.hijack("/exec/" + exec_id + "/start", Json{{"Detach", false}, {"Tty", request.tty}})};
  auto resize = [&](int rows, int cols) {
    try {
      engine.post("/exec/" + exec_id + "/resize?h=" + std::to_string(rows) + "&w=" + std::to_string(cols));
    } catch (const std::exception&) {
    }
  };
  if (request.tty) resize(request.rows, request.cols);

  Outcome outcome;
  outcome.started = !wrapped;
  std::string pid;
  // Until the wrapper's pid line has come, output is held: stdout to find that line in, stderr
  // because it may be the engine's complaint that there is no /bin/sh. The engine reads the
  // two streams apart, so the command's stderr can come before the pid line on stdout: each is
  // held on its own and goes to its own stream.
  std::string head;          // stdout before the pid line ended
  std::string early_errors;  // stderr before it
  auto release = [&](std::string& held, berth::OutputStream which) {
    std::string bytes = std::move(held);
    held.clear();
    if (!bytes.empty()) channel.write(which, bytes);
  };
  auto deliver = [&](berth::OutputStream which, std::string_view data) {
    if (outcome.started) {
      channel.write(which, data);
      return;
    }
    if (which == berth::OutputStream::stderr_stream) {
      early_errors.append(data);
      return;
    }
    head.append(data);
    size_t newline = head.find('\n');
    if (newline == std::string::npos && head.size() < 64) return;
    outcome.started = true;
    if (head.rfind(kPidMarker, 0) == 0 && newline != std::string::npos) {
      pid = head.substr(kPidMarker.size(), newline - kPidMarker.size());
      while (!pid.empty() && (pid.back() == '\r' || pid.back() == ' ')) pid.pop_back();
      head.erase(0, newline + 1);
    }  // else not our wrapper's line after all: all of it is the command's
    release(early_errors, berth::OutputStream::stderr_stream);
    release(head, berth::OutputStream::stdout_stream);
  };

  Demultiplexer demultiplexer;
  std::string pending;
  bool shut_after_pending = false;
  bool write_shut = false;
  char buffer[65536];
  try {
    while (true) {
      pollfd polled[2] = {{stream.fd, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                          {pending.size() < kMaxPendingInput ? channel.event_fd() : -1, POLLIN, 0}};
      if (::poll(polled, 2, static_cast<int>(kTick.count())) < 0 && errno != EINTR) break;
      if (cancellation.requested()) throw failed("the session was ended: the client went away");
      if (polled[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(stream.fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        std::string_view data(buffer, static_cast<size_t>(n));
        if (request.tty) {
          deliver(berth::OutputStream::stdout_stream, data);
        } else {
          demultiplexer.feed(data, deliver);
        }
      }
      if (polled[1].fd >= 0 && (polled[1].revents & POLLIN)) {
        while (auto event = channel.next(std::chrono::milliseconds(0))) {
          if (event->kind == SessionEvent::Kind::input) {
            pending += event->data;
          } else if (event->kind == SessionEvent::Kind::end_of_input) {
            if (request.tty) {
              pending.push_back('\x04');
            } else {
              shut_after_pending = true;
            }
          } else if (event->kind == SessionEvent::Kind::resize && request.tty) {
            resize(event->rows, event->cols);
          } else if (event->kind == SessionEvent::Kind::signal) {
            if (event->data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string::npos) {
              kill_in_container(engine, place, pid, event->data);
            }
          } else if (event->kind == SessionEvent::Kind::closed) {
            throw failed("the session was ended: the client went away");
          }
          if (pending.size() >= kMaxPendingInput) break;
        }
      }
      if (!pending.empty() && !send_some(stream.fd, pending)) pending.clear();
      if (shut_after_pending && pending.empty() && !write_shut) {
        ::shutdown(stream.fd, SHUT_WR);
        write_shut = true;
      }
    }
  } catch (...) {
    kill_in_container(engine, place, pid, "KILL");
    throw;
  }
  outcome.exit_code = exit_code_of(engine, exec_id);
  if (!outcome.started && !(wrapped && (outcome.exit_code == 126 || outcome.exit_code == 127))) {
    release(early_errors, berth::OutputStream::stderr_stream);
    release(head, berth::OutputStream::stdout_stream);
  }
  return outcome;
}

}  // namespace

int run_session(Engine& engine, const CommandPlace& place, const berth::SessionRequest& request, berth::SessionChannel& channel,
                const berth::Cancellation& cancellation) {
  // The command, behind a wrapper that says its pid first (so signals and the end of the
  // session reach it) — or the user's login shell, as /etc/passwd names it.
  std::vector<std::string> wrapped = {"/bin/sh", "-c"};
  if (request.command.empty()) {
    wrapped.push_back("printf 'berth-pid %s\\n' $$; s=$(awk -F: -v u=\"$(id -un 2>/dev/null)\" '$1==u{print $7}' /etc/passwd 2>/dev/null); "
                      "[ -x \"$s\" ] || s=/bin/sh; exec \"$s\" -l");
  } else {
    wrapped.push_back("printf 'berth-pid %s\\n' $$; exec \"$@\"");
    wrapped.push_back("berth-session");
    wrapped.insert(wrapped.end(), request.command.begin(), request.command.end());
  }
  Outcome outcome = relay(engine, place, request, wrapped, true, channel, cancellation);
  if (outcome.started || request.command.empty()) return outcome.exit_code;
  // No /bin/sh in the image: the command itself, without the pid (signals cannot reach it).
  return relay(engine, place, request, request.command, false, channel, cancellation).exit_code;
}

void connect_port(Engine& engine, const CommandPlace& place, int port, berth::SessionChannel& channel,
                  const berth::Cancellation& cancellation) {
  // Straight to the container's address when this machine reaches it (a local engine's bridge).
  Json inspected = engine.get("/containers/" + place.container_id + "/json").json();
  std::string address;
  if (inspected.contains("NetworkSettings") && inspected["NetworkSettings"].contains("Networks")) {
    for (const auto& [name, network] : inspected["NetworkSettings"]["Networks"].items()) {
      if (network.is_object() && !network.value("IPAddress", "").empty()) address = network.value("IPAddress", "");
    }
  }
  if (!address.empty()) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(static_cast<uint16_t>(port));
    bool connected = false;
    if (::inet_pton(AF_INET, address.c_str(), &target.sin_addr) == 1) {
      int result = ::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target);
      if (result != 0 && errno == EINPROGRESS) {
        pollfd ready{fd, POLLOUT, 0};
        int error = 0;
        socklen_t size = sizeof error;
        if (::poll(&ready, 1, 1000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0) {
          if (error == ECONNREFUSED) {
            ::close(fd);
            throw berth::Error("unavailable", "nothing listens on port " + std::to_string(port) + " in the workspace");
          }
          connected = error == 0;
        }
      } else {
        connected = result == 0;
      }
    }
    if (connected) {
      Socket sock{fd};
      std::string pending;
      bool shut_after_pending = false;
      char buffer[65536];
      while (!cancellation.requested()) {
        pollfd polled[2] = {{sock.fd, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                            {pending.size() < kMaxPendingInput ? channel.event_fd() : -1, POLLIN, 0}};
        if (::poll(polled, 2, static_cast<int>(kTick.count())) < 0 && errno != EINTR) return;
        if (polled[0].revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = ::recv(sock.fd, buffer, sizeof buffer, 0);
          if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
          if (n > 0) channel.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
        }
        if (polled[1].fd >= 0 && (polled[1].revents & POLLIN)) {
          while (auto event = channel.next(std::chrono::milliseconds(0))) {
            if (event->kind == SessionEvent::Kind::input) pending += event->data;
            if (event->kind == SessionEvent::Kind::end_of_input) shut_after_pending = true;
            if (event->kind == SessionEvent::Kind::closed) return;
            if (pending.size() >= kMaxPendingInput) break;
          }
        }
        if (!pending.empty() && !send_some(sock.fd, pending)) return;
        if (shut_after_pending && pending.empty()) {
          ::shutdown(sock.fd, SHUT_WR);
          shut_after_pending = false;
        }
      }
      return;
    }
    ::close(fd);
  }
  // Else from inside the container, where the port is on 127.0.0.1: nc (or busybox's).
  std::string target = "127.0.0.1 " + std::to_string(port);
  berth::SessionRequest request;
  request.command = {"/bin/sh", "-c",
                     "if command -v nc >/dev/null 2>&1; then exec nc " + target + "; fi; "
                     "if command -v busybox >/dev/null 2>&1; then exec busybox nc " + target + "; fi; "
                     "echo 'berth: the container has no nc to reach its ports with, and this machine cannot reach its network; "
                     "install netcat (or busybox) in its image' >&2; exit 127"};
  CommandPlace as_root = place;
  as_root.user = "0";
  // What nc says on stderr ("connection refused") is the answer when nothing listens.
  struct Watch : berth::SessionChannel {
    explicit Watch(berth::SessionChannel& inner) : inner_(inner) {}
    int event_fd() const override { return inner_.event_fd(); }
    std::optional<SessionEvent> next(std::chrono::milliseconds timeout) override { return inner_.next(timeout); }
    void write(berth::OutputStream stream, std::string_view data) override {
      if (stream == berth::OutputStream::stderr_stream) {
        errors.append(data.substr(0, 4096));
      } else {
        sent_any = true;
        inner_.write(stream, data);
      }
    }
    berth::SessionChannel& inner_;
    std::string errors;
    bool sent_any = false;
  } watch(channel);
  int code = relay(engine, as_root, request, request.command, false, watch, cancellation).exit_code;
  if (code == 127) throw berth::Error("unavailable", watch.errors.empty() ? "the container has no /bin/sh to reach its ports with" : watch.errors);
  if (code != 0 && !watch.sent_any) {
    throw berth::Error("unavailable", "nothing listens on port " + std::to_string(port) + " in the workspace" +
                                          (watch.errors.empty() ? "" : " (" + watch.errors.substr(0, watch.errors.find('\n')) + ")"));
  }
}

}  // namespace docker
