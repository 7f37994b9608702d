#include "agent_client.hpp"

#include "agent/wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace docker::agent {
namespace {

using berth::SessionEvent;
namespace wire = berth_agent;
constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kGreetingDeadline = std::chrono::milliseconds(1000);
constexpr size_t kMaxPending = 1 << 20;

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

std::string value_of(const berth::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

// Connects to FOLDER/agent.sock through /proc/self/fd (a socket path may have only 107
// bytes; the data folder's path can be longer).
int connect_socket(const std::string& folder) {
  int directory = ::open(folder.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory < 0) return -1;
  std::string path = "/proc/self/fd/" + std::to_string(directory) + "/" + wire::kSocketName;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool connected = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(directory);
  if (!connected && fd >= 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

// Waits for one whole frame in `buffer` (reading fd) until the deadline.
bool read_frame(int fd, std::string& buffer, char& type, std::string& payload, std::chrono::steady_clock::time_point deadline) {
  bool bad = false;
  while (!wire::take_frame(buffer, type, payload, bad)) {
    if (bad) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd polled{fd, POLLIN, 0};
    if (::poll(&polled, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

std::string request_payload(const CommandPlace& place, const std::vector<std::string>& command, const berth::StringMap& extra_env,
                            bool tty, int rows, int cols) {
  std::string payload;
  auto item = [&](const std::string& key, const std::string& value) {
    if (value.find('\0') != std::string::npos) throw berth::Error("invalid", "the command's " + key + " holds a NUL byte");
    if (!payload.empty()) payload.push_back('\0');
    payload += key + "=" + value;
  };
  for (const auto& arg : command) item("arg", arg);
  berth::StringMap env = place.env;
  for (const auto& [key, value] : extra_env) env[key] = value;
  for (const auto& [key, value] : env) item("env", key + "=" + value);
  if (!place.user.empty()) item("user", place.user);
  if (!place.workdir.empty()) item("workdir", place.workdir);
  if (tty) {
    item("tty", "1");
    item("rows", std::to_string(rows));
    item("cols", std::to_string(cols));
  }
  return payload;
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

// Frames both ways until the exit frame. `more_input` refills `pending` (frames for the
// agent) when there is room and says false once it will add nothing more; `input_fd` is
// polled for readability before it is asked (-1: ask whenever there is room).
template <typename MoreInput>
int relay(Connection& agent, std::string pending, int input_fd, MoreInput more_input, berth::OutputSink& output,
          const berth::Cancellation& cancellation) {
  std::string received;
  bool input_open = true;
  char buffer[65536];
  while (true) {
    if (input_open && input_fd < 0 && pending.size() < kMaxPending) input_open = more_input(pending);
    pollfd polled[2] = {{agent.fd(), static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                        {input_open && input_fd >= 0 && pending.size() < kMaxPending ? input_fd : -1, POLLIN, 0}};
    if (::poll(polled, 2, static_cast<int>(kTick.count())) < 0 && errno != EINTR) throw failed(std::string("poll: ") + std::strerror(errno));
    if (cancellation.requested()) throw failed("the session was ended: the client went away");
    if (polled[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(agent.fd(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw failed("the workspace's agent went away before the command ended (did the container stop?)");
      received.append(buffer, static_cast<size_t>(n));
      char type = 0;
      std::string payload;
      bool bad = false;
      while (wire::take_frame(received, type, payload, bad)) {
        if (type == wire::stdout_data) output.write(berth::OutputStream::stdout_stream, payload);
        else if (type == wire::stderr_data) output.write(berth::OutputStream::stderr_stream, payload);
        else if (type == wire::exit_code) return std::atoi(payload.c_str());
        else if (type == wire::error) throw failed("the workspace's agent: " + payload);
      }
      if (bad) throw failed("the workspace's agent sent a frame longer than the protocol allows");
    }
    if (polled[1].fd >= 0 && (polled[1].revents & POLLIN)) input_open = more_input(pending);
    if (!pending.empty() && !send_some(agent.fd(), pending)) pending.clear();  // the agent stopped reading: it is ending
  }
}

}  // namespace

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<Connection> connect_folder(const std::string& socket_folder) {
  if (socket_folder.empty()) return std::nullopt;
  int fd = connect_socket(socket_folder);
  if (fd < 0) return std::nullopt;
  Connection connection(fd);
  std::string buffer, payload;
  char type = 0;
  if (!read_frame(fd, buffer, type, payload, std::chrono::steady_clock::now() + kGreetingDeadline) || type != wire::hello ||
      payload != wire::kGreeting) {
    return std::nullopt;  // refused (not a process outside the container?), or another protocol
  }
  return connection;
}

std::optional<Connection> connect(const berth::StringMap& provider_data, const berth::StringMap& properties) {
  if (value_of(properties, "exec_via") == "engine") return std::nullopt;
  return connect_folder(value_of(provider_data, "agent_socket_folder"));
}

int run_exec(Connection& agent, const CommandPlace& place, const berth::ExecRequest& request, berth::OutputSink& output) {
  std::string pending;
  wire::append_frame(pending, wire::request, request_payload(place, request.command, {}, false, 0, 0));
  size_t offset = 0;
  auto more_input = [&](std::string& frames) {
    while (offset < request.stdin_data.size() && frames.size() < kMaxPending) {
      size_t size = std::min<size_t>(request.stdin_data.size() - offset, 64 << 10);
      wire::append_frame(frames, wire::input, std::string_view(request.stdin_data).substr(offset, size));
      offset += size;
    }
    if (offset < request.stdin_data.size()) return true;
    wire::append_frame(frames, wire::end_of_input, "");
    return false;
  };
  return relay(agent, std::move(pending), -1, more_input, output, berth::never_cancelled());
}

int run_session(Connection& agent, const CommandPlace& place, const berth::SessionRequest& request, berth::SessionChannel& channel,
                const berth::Cancellation& cancellation) {
  std::string pending;
  wire::append_frame(pending, wire::request, request_payload(place, request.command, request.env, request.tty, request.rows, request.cols));
  auto more_input = [&](std::string& frames) {
    while (frames.size() < kMaxPending) {
      auto event = channel.next(std::chrono::milliseconds(0));
      if (!event) break;
      switch (event->kind) {
        case SessionEvent::Kind::input:
          wire::append_frame(frames, wire::input, event->data);
          break;
        case SessionEvent::Kind::end_of_input:
          wire::append_frame(frames, wire::end_of_input, "");
          break;
        case SessionEvent::Kind::resize: {
          char size[4] = {static_cast<char>(event->rows >> 8), static_cast<char>(event->rows), static_cast<char>(event->cols >> 8),
                          static_cast<char>(event->cols)};
          if (request.tty) wire::append_frame(frames, wire::resize, std::string_view(size, 4));
          break;
        }
        case SessionEvent::Kind::signal:
          if (event->data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string::npos) {
            wire::append_frame(frames, wire::signal, event->data);
          }
          break;
        case SessionEvent::Kind::closed:
          throw failed("the session was ended: the client went away");
      }
    }
    return true;  // events keep coming until the command ends
  };
  return relay(agent, std::move(pending), channel.event_fd(), more_input, channel, cancellation);
}

}  // namespace docker::agent
