#include "unix_http.hpp"

#include "errors.hpp"
#include "tls_loader.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace berth {
namespace {

struct Location {
  bool unix_socket = true;
  bool tls = false;
  std::string path;
  std::string host;
  int port = 80;
};

Location parse(const std::string& address) {
  Location location;
  for (const char* scheme : {"unix://", "http://", "https://", "tcp://"}) {
    std::string prefix = scheme;
    if (address.rfind(prefix, 0) != 0) continue;
    std::string rest = address.substr(prefix.size());
    if (prefix == "unix://") {
      location.path = rest;
      return location;
    }
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos) throw invalid("address '" + address + "' needs a port: " + prefix + "HOST:PORT");
    location.unix_socket = false;
    location.tls = prefix == "https://";
    location.host = rest.substr(0, colon);
    // [::1]:7420
    if (location.host.size() > 2 && location.host.front() == '[' && location.host.back() == ']') {
      location.host = location.host.substr(1, location.host.size() - 2);
    }
    try {
      location.port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      throw invalid("address '" + address + "' has a bad port");
    }
    return location;
  }
  throw invalid("address '" + address + "' must start with unix://, http://, https:// or tcp://");
}

// A server whose backlog is full (a storm of clients) answers a connect with EAGAIN, and one
// that is restarting refuses it for a moment: both are tried again, within these bounds,
// before the client says the server cannot be reached.
constexpr auto kBusyRetry = std::chrono::seconds(5);
constexpr auto kRefusedRetry = std::chrono::seconds(1);

int connect_unix(const std::string& path, std::string& error, bool* absent) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    error = "socket path " + path + " is too long (" + std::to_string(path.size()) + " bytes; at most " +
            std::to_string(sizeof address.sun_path - 1) + ")";
    return -1;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::milliseconds(5);
  while (true) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      return -1;
    }
    // A full backlog makes a blocking connect wait: bounded, it fails with EAGAIN instead.
    timeval bound{static_cast<time_t>(kBusyRetry.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    int failure = errno;
    if (rc == 0) {
      timeval none{0, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
      return fd;
    }
    ::close(fd);
    auto waited = std::chrono::steady_clock::now() - start;
    bool again = failure == EINTR || ((failure == EAGAIN || failure == EWOULDBLOCK) && waited < kBusyRetry) ||
                 (failure == ECONNREFUSED && waited < kRefusedRetry);
    if (!again) {
      error = std::strerror(failure);
      if (absent) *absent = failure == ENOENT || failure == ECONNREFUSED;
      return -1;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

int connect_tcp(const std::string& host, int port, std::string& error) {
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
    if (fd >= 0 && ::connect(fd, it->ai_addr, it->ai_addrlen) == 0) {
      int on = 1;  // requests are small and answered at once: no Nagle delay
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      break;
    }
    error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

int connect_socket(const std::string& address, std::string& error, bool* absent_server, const TlsClientOptions* tls) {
  Location location = parse(address);
  if (location.unix_socket) return connect_unix(location.path, error, absent_server);
  int fd = connect_tcp(location.host, location.port, error);
  if (fd < 0 || !location.tls) return fd;
  TlsClientOptions options = tls ? *tls : TlsClientOptions{};
  if (options.server_name.empty()) options.server_name = location.host;
  fd = tls_connect(fd, options, error);
  if (fd < 0) error = "TLS: " + error;
  return fd;
}

TlsProbe probe_tls(const std::string& address, const TlsClientOptions& tls) {
  TlsProbe probe;
  Location location = parse(address);
  if (!location.tls) throw invalid("address '" + address + "' is not https://HOST:PORT");
  int fd = connect_tcp(location.host, location.port, probe.error);
  if (fd < 0) {
    probe.error = "cannot reach " + address + ": " + probe.error;
    return probe;
  }
  TlsClientOptions options = tls;
  if (options.server_name.empty()) options.server_name = location.host;
  fd = tls_connect(fd, options, probe.error, &probe.fingerprint);
  probe.accepted = fd >= 0;
  if (fd >= 0) ::close(fd);
  return probe;
}

int open_raw_stream(const std::string& address, const std::string& request, int& status, std::string& head, const TlsClientOptions* tls) {
  std::string error;
  int fd = connect_socket(address, error, nullptr, tls);
  if (fd < 0) throw unavailable("cannot reach " + address + ": " + error);
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw unavailable("lost the connection to " + address);
    }
    sent += static_cast<size_t>(n);
  }
  head.clear();
  char c;
  while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) head.push_back(c);
  status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  return fd;
}

}  // namespace berth
