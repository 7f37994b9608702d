// berth forward NAME [LOCAL:]REMOTE ...: listens on 127.0.0.1:LOCAL and carries each
// connection to port REMOTE in the workspace through the server's port stream, many at once,
// until Ctrl-C.
#include "api_client.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "exec_frames.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

namespace berth::cli {
namespace {

struct Forward {
  int local = 0;
  int remote = 0;
  int listener = -1;
};

int parse_port(const std::string& text, const std::string& spec, bool zero_ok) {
  int port = -1;
  if (!text.empty() && text.size() <= 5 && text.find_first_not_of("0123456789") == std::string::npos) port = std::stoi(text);
  if (port < (zero_ok ? 0 : 1) || port > 65535) {
    throw invalid("'" + spec + "' is not [LOCAL:]REMOTE with TCP ports (1-65535; LOCAL 0 picks a free one), e.g. 8080:80");
  }
  return port;
}

Forward parse_forward(const std::string& spec) {
  Forward forward;
  size_t colon = spec.find(':');
  if (colon == std::string::npos) {
    forward.remote = parse_port(spec, spec, false);
    forward.local = forward.remote;
  } else {
    forward.local = parse_port(spec.substr(0, colon), spec, true);
    forward.remote = parse_port(spec.substr(colon + 1), spec, false);
  }
  return forward;
}

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Whether nothing listens on 127.0.0.1:port now (a bind succeeds).
bool port_is_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address = loopback(port);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// A local port to suggest in place of a taken one: the next free one above it (checked, and
// never past 65535), else 0, which picks a free one.
int free_port_after(int taken) {
  for (int port = taken + 1; port <= std::min(taken + 100, 65535); ++port) {
    if (port_is_free(port)) return port;
  }
  return 0;
}

void listen_on(Forward& forward, const std::string& name) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address = loopback(forward.local);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    int error = errno;
    ::close(fd);
    if (error == EADDRINUSE) {
      throw conflict("port " + std::to_string(forward.local) + " is already in use on this machine; forward to another local port: berth forward " +
                     name + " " + std::to_string(free_port_after(forward.local)) + ":" + std::to_string(forward.remote));
    }
    throw unavailable("cannot listen on 127.0.0.1:" + std::to_string(forward.local) + ": " + std::strerror(error));
  }
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  forward.local = ntohs(address.sin_port);
  forward.listener = fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// One forwarded connection: local bytes go out as 'i' frames (end of input as 'c'), 'o'
// frames come back; ends when the workspace's side ends ('x') or either side is gone.
void carry(int local, int stream, const std::string& what, std::mutex& report) {
  bool done = false;
  bool local_open = true;
  FrameDecoder decoder([&](char type, std::string_view payload) {
    if (type == 'o') {
      if (!send_all(local, payload)) done = true;
    } else if (type == 'x') {
      done = true;
    } else if (type == '!') {
      Json body = Json::parse(payload, nullptr, false);
      std::string message = body.is_object() ? body["error"].value("message", "failed") : "failed";
      std::lock_guard lock(report);
      std::cerr << "berth: " << what << ": " << message << std::endl;
      done = true;
    }
  });
  char buffer[65536];
  while (!done) {
    pollfd fds[2] = {{stream, POLLIN, 0}, {local_open ? local : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(local, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        if (!send_all(stream, encode_frame('i', std::string_view(buffer, static_cast<size_t>(n))))) break;
      } else {
        local_open = false;
        if (!send_all(stream, encode_frame('c', {}))) break;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(stream, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      decoder.feed(buffer, static_cast<size_t>(n));
    }
  }
  ::close(stream);
  ::shutdown(local, SHUT_RDWR);
  ::close(local);
}

}  // namespace

void define_forward(CLI::App& app, Invocation& run) {
  auto name = std::make_shared<std::string>();
  auto specs = std::make_shared<std::vector<std::string>>();
  app.add_option("name", *name, "Workspace name")->required();
  app.add_option("ports", *specs,
                 "[LOCAL:]REMOTE: listen on 127.0.0.1:LOCAL (default REMOTE) for port REMOTE in the workspace "
                 "(default: the ports the workspace declares, e.g. devcontainer.json's forwardPorts)");
  app.footer("Examples:\n  berth forward api 8080\n  berth forward api 3000:80 5433:5432\n\n"
             "Each connection to the local port reaches the workspace's port through the berth server (also a remote one),\n"
             "many at once, until Ctrl-C.");
  app.callback([&run, name, specs] {
    require_name_argument("workspace", *name);
    std::vector<Forward> forwards;
    for (const auto& spec : *specs) forwards.push_back(parse_forward(spec));
    auto& api = run.session.api();
    Workspace workspace = api.get_workspace(*name);  // unknown workspace: said before listening
    if (forwards.empty()) {
      // What the workspace declares: any provider may record "forward_ports", a JSON list of
      // ports (devcontainer.json's forwardPorts, which the docker provider records).
      auto declared = workspace.provider_data.find("forward_ports");
      Json ports = declared == workspace.provider_data.end() ? Json::array() : Json::parse(declared->second, nullptr, false);
      for (const auto& port : ports.is_array() ? ports : Json::array()) {
        if (port.is_number_integer()) {
          forwards.push_back(parse_forward(std::to_string(port.get<int>())));
        } else if (port.is_string()) {
          std::cerr << "berth: not forwarding '" << port.get<std::string>() << "': a port of another service, not of the workspace" << std::endl;
        }
      }
      if (forwards.empty()) {
        throw invalid("workspace '" + *name + "' declares no ports to forward; name them: berth forward " + *name + " [LOCAL:]REMOTE ...");
      }
    }
    if (workspace.state != WorkspaceState::started) {
      throw conflict("workspace '" + *name + "' is " + to_string(workspace.state) + "; start it first: berth start " + *name);
    }
    for (auto& forward : forwards) listen_on(forward, *name);

    // Ctrl-C (or SIGTERM) ends the wait below; connections in flight end with the process.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    int stop_pipe[2];
    if (::pipe2(stop_pipe, O_CLOEXEC) != 0) throw unavailable("out of descriptors");
    std::thread([stop, fd = stop_pipe[1]]() mutable {
      int received = 0;
      sigwait(&stop, &received);
      [[maybe_unused]] ssize_t n = ::write(fd, "s", 1);
    }).detach();

    static std::mutex report;  // connection threads outlive this call until the process ends
    for (const auto& forward : forwards) {
      std::cerr << "berth: forwarding 127.0.0.1:" << forward.local << " -> port " << forward.remote << " in " << *name << std::endl;
    }
    std::cerr << "berth: press Ctrl-C to stop" << std::endl;
    std::vector<pollfd> fds;
    for (const auto& forward : forwards) fds.push_back({forward.listener, POLLIN, 0});
    fds.push_back({stop_pipe[0], POLLIN, 0});
    const Endpoint endpoint = api.endpoint();
    // The server is asked now and then whether it still runs: a forward whose server stopped
    // would take connections it can never carry (and outlive a test's or a user's session).
    constexpr int kHealthEveryMs = 1000;
    int failed_checks = 0;
    bool server_gone = false;
    while (true) {
      int ready = ::poll(fds.data(), fds.size(), kHealthEveryMs);
      if (ready < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (ready == 0) {
        failed_checks = ApiClient(endpoint).healthy() ? 0 : failed_checks + 1;
        if (failed_checks >= 2) {
          server_gone = true;
          break;
        }
        continue;
      }
      if (fds.back().revents) break;
      for (size_t i = 0; i < forwards.size(); ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        int local = ::accept4(forwards[i].listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (local < 0) continue;
        int remote = forwards[i].remote;
        std::thread([endpoint, local, remote, workspace = *name] {
          std::string what = "port " + std::to_string(remote) + " in " + workspace;
          int stream = -1;
          try {
            ApiClient client(endpoint);  // one per connection: they run at once
            stream = client.open_stream("/v1/workspaces/" + workspace + "/ports/" + std::to_string(remote), "{}");
          } catch (const Error& error) {
            std::lock_guard lock(report);
            std::cerr << "berth: " << what << ": " << error.what() << std::endl;
            ::close(local);
            return;
          }
          carry(local, stream, what, report);
        }).detach();
      }
    }
    if (server_gone) {
      for (const auto& forward : forwards) ::close(forward.listener);
      throw unavailable("the berth server at " + endpoint.address + " stopped; stopped forwarding (start it, then berth forward " + *name +
                        " again)");
    }
    std::cerr << "berth: stopped forwarding" << std::endl;
    run.exit_code = 0;
  });
}

}  // namespace berth::cli
