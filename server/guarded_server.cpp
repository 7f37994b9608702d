#include "guarded_server.hpp"

#include "stream_routes.hpp"
#include "tls_link.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;

// What the worker serving a connection knows of it, for the API-key check on the same thread.
struct ConnectionState {
  bool authenticated = false;
  bool close = false;  // the answer was a refusal sent before the request's body was read
};
thread_local ConnectionState* current_connection = nullptr;

std::string address_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text, sizeof text);
  }
  return text;
}

int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return 0;
}

// A socket stream like httplib's own, except that while a request's head is being read every
// read waits only until the head's deadline, however the bytes trickle in.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(int sock, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  // The next bytes are a request's head, due by deadline.
  void begin_head(Clock::time_point deadline) {
    in_head_ = true;
    head_deadline_ = deadline;
    line_end_ = 0;
  }

  bool is_readable() const override { return start_ < end_ || wait(POLLIN, read_wait()); }
  bool is_writable() const override { return wait(POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (start_ == end_) {
      if (!wait(POLLIN, read_wait())) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      start_ = 0;
      end_ = static_cast<size_t>(n);
    }
    size_t count = std::min(size, end_ - start_);
    std::memcpy(ptr, buffer_ + start_, count);
    start_ += count;
    if (in_head_) note_head_bytes(ptr, count);
    return static_cast<ssize_t>(count);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!wait(POLLOUT, write_timeout_)) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &size) != 0) return;
    ip = address_of(address);
    port = port_of(address);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &size) != 0) return;
    ip = address_of(address);
    port = port_of(address);
  }

  socket_t socket() const override { return sock_; }

 private:
  std::chrono::milliseconds read_wait() const {
    if (!in_head_) return read_timeout_;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(head_deadline_ - Clock::now());
    return std::max(std::min(left, read_timeout_), std::chrono::milliseconds(0));
  }

  bool wait(short events, std::chrono::milliseconds timeout) const {
    pollfd ready{sock_, events, 0};
    int result;
    do {
      result = ::poll(&ready, 1, static_cast<int>(timeout.count()));
    } while (result < 0 && errno == EINTR);
    return result > 0;
  }

  // The head ends at the first empty line ("\r\n\r\n", or "\n\n").
  void note_head_bytes(const char* data, size_t size) {
    for (size_t i = 0; i < size && in_head_; ++i) {
      char c = data[i];
      if (c == '\n') {
        if (line_end_ > 0 && line_length_ == 0) in_head_ = false;
        ++line_end_;
        line_length_ = 0;
      } else if (c != '\r') {
        ++line_length_;
      }
    }
  }

  int sock_;
  std::chrono::milliseconds read_timeout_;
  std::chrono::milliseconds write_timeout_;
  bool in_head_ = false;
  Clock::time_point head_deadline_;
  size_t line_end_ = 0;     // newlines seen in this head
  size_t line_length_ = 0;  // characters on the current line
  char buffer_[4096];
  size_t start_ = 0, end_ = 0;
};

}  // namespace

GuardedServer::GuardedServer(bool keyed, std::chrono::milliseconds head_deadline, size_t unauthenticated_per_address,
                             StreamRoutes* streams, const tls::ServerContext* tls)
    : keyed_(keyed),
      head_deadline_(head_deadline), per_address_(unauthenticated_per_address), streams_(streams), tls_(tls) {
  set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listener_ = sock;
  });
}

bool GuardedServer::bind_with_full_backlog(const std::string& host, int port) {
  if (!bind_to_port(host, port)) return false;
  // listen() again on a listening socket changes only its backlog.
  return listener_ < 0 || ::listen(listener_, SOMAXCONN) == 0;
}

int GuardedServer::bind_any_with_full_backlog(const std::string& host) {
  int port = bind_to_any_port(host);
  if (port <= 0) return -1;
  return listener_ < 0 || ::listen(listener_, SOMAXCONN) == 0 ? port : -1;
}

void GuardedServer::close_after_answer() {
  if (current_connection) current_connection->close = true;
}

void GuardedServer::mark_authenticated() {
  if (current_connection) current_connection->authenticated = true;
}

uint64_t GuardedServer::admit(const std::string& address, int sock) {
  std::lock_guard lock(mutex_);
  auto& waiting = pending_[address];
  while (waiting.size() >= per_address_) {
    // Its worker sees the end of the stream at once and lets the connection go.
    ::shutdown(waiting.front().sock, SHUT_RDWR);
    waiting.pop_front();
  }
  waiting.push_back({++next_id_, sock});
  return next_id_;
}

void GuardedServer::release(const std::string& address, uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(address);
  if (it == pending_.end()) return;
  auto& waiting = it->second;
  waiting.erase(std::remove_if(waiting.begin(), waiting.end(), [&](const Pending& p) { return p.id == id; }), waiting.end());
  if (waiting.empty()) pending_.erase(it);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  sockaddr_storage peer{};
  socklen_t size = sizeof peer;
  ::getpeername(sock, reinterpret_cast<sockaddr*>(&peer), &size);
  std::string address = address_of(peer);
  if (tls_) {
    // The handshake has the head's deadline; a failed one (a plain-HTTP client, an untrusted
    // or missing client certificate) just ends the connection.
    std::string error;
    sock = tls_->accept(sock, head_deadline_, error);
    if (sock == INVALID_SOCKET) return true;
  }
  bool pending = keyed_;
  uint64_t id = pending ? admit(address, sock) : 0;
  // A stream's first request carries its key like any other; its connection is then its own.
  if (streams_ && streams_->take(sock, [&] {
        release(address, id);
        pending = false;
      })) {
    if (pending) release(address, id);
    return true;
  }

  auto milliseconds = [](time_t seconds, time_t microseconds) {
    return std::chrono::milliseconds(seconds * 1000 + microseconds / 1000);
  };
  DeadlineStream stream(sock, milliseconds(read_timeout_sec_, read_timeout_usec_), milliseconds(write_timeout_sec_, write_timeout_usec_));
  ConnectionState state;
  current_connection = &state;
  for (size_t served = 0; served < keep_alive_max_count_ && svr_sock_ != INVALID_SOCKET; ++served) {
    if (served > 0) {
      // Kept alive: wait for the next request as httplib does, ending early at shutdown.
      auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
      bool ready = false;
      while (!ready && Clock::now() < until && svr_sock_ != INVALID_SOCKET) {
        pollfd readable{sock, POLLIN, 0};
        ready = ::poll(&readable, 1, 100) > 0;
      }
      if (!ready) break;
    }
    stream.begin_head(Clock::now() + head_deadline_);
    state.authenticated = false;
    state.close = false;
    bool closed = false;
    bool ok = process_request(stream, served + 1 == keep_alive_max_count_, closed, nullptr);
    if (state.close) {
      // The unread body must not be taken for the next request; what the client still sends is
      // read and dropped for a moment, so the close does not reset the answer away.
      ::shutdown(sock, SHUT_WR);
      char drain[4096];
      auto until = Clock::now() + std::chrono::milliseconds(500);
      for (pollfd readable{sock, POLLIN, 0}; Clock::now() < until && ::poll(&readable, 1, 100) > 0;) {
        if (::recv(sock, drain, sizeof drain, 0) <= 0) break;
      }
      break;
    }
    if (!ok || closed || (keyed_ && !state.authenticated)) break;  // a refused request ends its connection
    if (pending) {
      release(address, id);
      pending = false;
    }
  }
  current_connection = nullptr;
  if (pending) release(address, id);  // before close: the number must not be ended as someone else's
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

}  // namespace berth
