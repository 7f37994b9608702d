#include "engine_link.hpp"

#include "tls_link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace docker {
namespace {

constexpr const char* kForms = "unix:///PATH, tcp://HOST[:PORT] or ssh://[USER@]HOST[:PORT]";

int parse_port(const std::string& address, const std::string& text) {
  char* end = nullptr;
  long number = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || number < 1 || number > 65535) {
    throw std::invalid_argument("Docker host '" + address + "' has a bad port '" + text + "': expected a number from 1 to 65535");
  }
  return static_cast<int>(number);
}

// "HOST[:PORT]" or "[V6]:PORT" into host and port (0 when absent).
void split_host_port(const std::string& address, std::string rest, std::string& host, int& port) {
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) throw std::invalid_argument("Docker host '" + address + "' has a path; expected " + kForms);
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) throw std::invalid_argument("Docker host '" + address + "' has an unclosed '['");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw std::invalid_argument("Docker host '" + address + "': expected ':PORT' after ']'");
      port = parse_port(address, rest.substr(close + 2));
    }
  } else {
    size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port = parse_port(address, rest.substr(colon + 1));
  }
  if (host.empty()) throw std::invalid_argument("Docker host '" + address + "' names no host; expected " + kForms);
}

void set_socket_deadline(int fd, int option, std::chrono::seconds deadline) {
  timeval value{static_cast<time_t>(deadline.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
}

// Connecting waits at most deadline (SO_SNDTIMEO bounds connect on Unix and TCP sockets alike:
// a frozen engine's full backlog, or a host that drops packets).
int connect_unix(const std::string& path, std::chrono::seconds deadline, std::string& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    error = "socket path too long";
    return -1;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) set_socket_deadline(fd, SO_SNDTIMEO, deadline);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

int connect_tcp(const std::string& host, int port, std::chrono::seconds deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* it = found; it; it = it->ai_next) {
    fd = ::socket(it->ai_family, it->ai_socktype | SOCK_CLOEXEC, it->ai_protocol);
    if (fd >= 0) set_socket_deadline(fd, SO_SNDTIMEO, deadline);
    if (fd >= 0 && ::connect(fd, it->ai_addr, it->ai_addrlen) == 0) break;
    error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  // Requests go out as headers, then body (and over TLS, a record each): with Nagle's algorithm
  // the second small segment waited for the engine's delayed ACK, 40 ms a POST.
  if (fd >= 0) {
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  return fd;
}

// ssh [-l USER] [-p PORT] HOST docker system dial-stdio, speaking on one end of a socket pair.
// The user's ~/.ssh/config, keys and agent (SSH_AUTH_SOCK) apply; BatchMode, since nobody
// can answer a password prompt here.
int connect_ssh(const Location& location, std::chrono::seconds deadline, std::string& error, std::shared_ptr<SshReport>* report) {
  int pair[2];
  int errors[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("cannot make a socket pair: ") + std::strerror(errno);
    return -1;
  }
  if (::pipe2(errors, O_CLOEXEC) != 0) {
    error = std::string("cannot make a pipe: ") + std::strerror(errno);
    ::close(pair[0]);
    ::close(pair[1]);
    return -1;
  }
  std::vector<std::string> args{"ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=" + std::to_string(std::max<long>(1, deadline.count()))};
  if (!location.user.empty()) args.insert(args.end(), {"-l", location.user});
  if (location.port) args.insert(args.end(), {"-p", std::to_string(location.port)});
  args.insert(args.end(), {"--", location.host, "docker", "system", "dial-stdio"});
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pair[1], 0);
  posix_spawn_file_actions_adddup2(&actions, pair[1], 1);
  posix_spawn_file_actions_adddup2(&actions, errors[1], 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);  // a Ctrl-C or signal to the host's group is not ssh's
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "ssh", &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(pair[1]);
  ::close(errors[1]);
  if (rc != 0) {
    error = std::string("cannot run ssh: ") + std::strerror(rc) + " (an OpenSSH client is needed for ssh:// engines)";
    ::close(pair[0]);
    ::close(errors[0]);
    return -1;
  }
  auto shared = std::make_shared<SshReport>();
  if (report) *report = shared;
  // Collects what ssh says and its end; the child is reaped here, never left a zombie.
  std::thread([pid, fd = errors[0], shared] {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      text.append(buffer, static_cast<size_t>(n));
      if (text.size() > 16384) text.erase(0, text.size() - 8192);
    }
    ::close(fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    shared->finish(status, text);
  }).detach();
  return pair[0];
}

}  // namespace

Location parse_engine_address(const std::string& address) {
  Location location;
  if (address.rfind("unix://", 0) == 0) {
    location.path = address.substr(7);
    if (location.path.empty() || location.path.front() != '/') {
      throw std::invalid_argument("Docker host '" + address + "' must name an absolute socket path: unix:///PATH");
    }
    return location;
  }
  if (address.rfind("tcp://", 0) == 0) {
    location.kind = Location::Kind::tcp;
    split_host_port(address, address.substr(6), location.host, location.port);
    return location;
  }
  if (address.rfind("ssh://", 0) == 0) {
    location.kind = Location::Kind::ssh;
    std::string rest = address.substr(6);
    if (size_t at = rest.find('@'); at != std::string::npos) {
      location.user = rest.substr(0, at);
      rest = rest.substr(at + 1);
      if (location.user.empty()) throw std::invalid_argument("Docker host '" + address + "' has an empty user before '@'");
    }
    split_host_port(address, rest, location.host, location.port);
    if (location.host.front() == '-' || location.user.find_first_of(" -") == 0) {
      throw std::invalid_argument("Docker host '" + address + "' must not start its user or host with '-'");
    }
    return location;
  }
  throw std::invalid_argument("Docker host '" + address + "' must be " + kForms);
}

void SshReport::finish(int status, std::string error_text) {
  std::lock_guard lock(mutex_);
  finished_ = true;
  status_ = status;
  error_ = std::move(error_text);
}

std::string SshReport::failure(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (finished_) break;
    }
    if (std::chrono::steady_clock::now() >= until) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the reaper thread sets it
  }
  std::lock_guard lock(mutex_);
  if (WIFEXITED(status_) && WEXITSTATUS(status_) == 0) return "";
  // Its last few lines say why (ssh's own errors, or the remote shell's).
  std::string said;
  size_t end = error_.size();
  for (int lines = 0; lines < 3 && end > 0;) {
    while (end > 0 && (error_[end - 1] == '\n' || error_[end - 1] == '\r')) --end;
    if (end == 0) break;
    size_t start = error_.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    said = error_.substr(start, end - start) + (said.empty() ? "" : " / " + said);
    end = start;
    ++lines;
  }
  int code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  if (code == 127 || said.find("docker: command not found") != std::string::npos || said.find("docker: not found") != std::string::npos) {
    return "the remote machine has no docker CLI (ssh:// runs 'docker system dial-stdio' there): install it (e.g. apt-get install docker.io) or use tcp://; ssh said: " + said;
  }
  return "ssh ended with " + (code >= 0 ? "status " + std::to_string(code) : std::string("a signal")) + (said.empty() ? "" : ": " + said);
}

int connect_engine(const EngineLink& link, std::chrono::seconds deadline, std::string& error, std::shared_ptr<SshReport>* report) {
  Location location;
  try {
    location = parse_engine_address(link.address);
  } catch (const std::invalid_argument& bad) {
    error = bad.what();
    return -1;
  }
  switch (location.kind) {
    case Location::Kind::unix_socket:
      return connect_unix(location.path, deadline, error);
    case Location::Kind::ssh:
      return connect_ssh(location, deadline, error, report);
    case Location::Kind::tcp:
      break;
  }
  int fd = connect_tcp(location.host, location.port ? location.port : (link.tls ? 2376 : 2375), deadline, error);
  if (fd < 0 || !link.tls) return fd;
  berth::TlsClientOptions options = link.tls_options;
  options.server_name = location.host;
  options.deadline = deadline;
  std::string why;
  fd = berth::tls::connect(fd, options, why);
  if (fd < 0) error = "TLS: " + why;
  return fd;
}

EngineLink engine_link(const berth::StringMap& properties, const std::string& address) {
  auto property = [&](const char* key) {
    auto it = properties.find(key);
    return it == properties.end() ? std::string() : it->second;
  };
  EngineLink link{address, false, {}};
  link.tls_options.ca_file = property("tls_ca");
  link.tls_options.cert_file = property("tls_cert");
  link.tls_options.key_file = property("tls_key");
  link.tls_options.verify = property("tls_verify") != "false";
  bool any = !link.tls_options.ca_file.empty() || !link.tls_options.cert_file.empty() || !link.tls_options.key_file.empty();
  link.tls = any && address.rfind("tcp://", 0) == 0;
  for (const auto& [name, path] : {std::pair{"tls_ca", link.tls_options.ca_file}, {"tls_cert", link.tls_options.cert_file}, {"tls_key", link.tls_options.key_file}}) {
    if (!path.empty() && path.front() != '/') {
      throw berth::Error("provider_failed", std::string("property '") + name + "' must be an absolute path (got '" + path + "')");
    }
  }
  return link;
}

}  // namespace docker
